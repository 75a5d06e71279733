// Tracing attachments on the real kernel: tracepoints (link and ioctl), raw tracepoints, tp_btf,
// perf_event sampling on every CPU, a task iterator read to the end, and the clear refusals of
// this kernel (no kprobes, no trampolines). Each test triggers the event and reads the program's
// counter in .bss; the leak check at the end finds no link, program or map of ours.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { BTF_KIND } from '../btf/index.js';
import {
  BpfObject, IterLink, Link, LinkGroup, NotSupportedError, PERF_COUNT_SW, PERF_TYPE,
} from '../src/index.js';
import { kernelBtf } from '../src/kernel-btf.js';
import { onlineCpus } from '../syscalls/index.js';
import { compileBpf } from './support/compile.js';
import { globals, markIds, settledLeftovers, track, waitFor } from './attach-support.js';

const OBJ = compileBpf('attach-trace');
const marks = markIds();

function open(): BpfObject {
  return BpfObject.open(OBJ);
}

/** Loads the object and points the pid filter at this process. */
async function loaded(): Promise<{ obj: BpfObject; g: ReturnType<typeof globals> }> {
  const obj = open();
  await obj.load();
  track(obj);
  const g = globals(obj);
  g.set('target_tgid', process.pid);
  return { obj, g };
}

/** A few system calls from this process. */
function syscalls(n = 5): void {
  for (let i = 0; i < n; i++) statSync('/');
}

test('tracepoint: sched_process_exec counts spawned processes, and stops counting after close', async () => {
  const { obj, g } = await loaded();
  try {
    using link = obj.program('on_exec').attachTracepoint('sched', 'sched_process_exec');
    assert.is(link.kind, 'tracepoint');
    assert.is(link.mechanism, 'perf_link', 'this kernel has BPF perf links');
    assert.ok(link.perfEventFd !== undefined, 'the link owns the perf event fd too');
    const info = link.info();
    assert.is(info.typeName, 'BPF_LINK_TYPE_PERF_EVENT');
    assert.is(info.tpName, 'sched_process_exec');
    assert.is(info.perfEvent?.type, 'tracepoint');
    const before = g.get('tp_exec_hits');
    for (let i = 0; i < 3; i++) execFileSync('/bin/true');
    assert.ok(g.get('tp_exec_hits') - before >= 3n, `3 execs seen (got ${g.get('tp_exec_hits') - before})`);
    link.close();
    assert.ok(link.closed);
    link.close(); // idempotent
    const after = g.get('tp_exec_hits');
    execFileSync('/bin/true');
    assert.is(g.get('tp_exec_hits'), after, 'no hits after close');
  } finally {
    obj.close();
  }
});

test('tracepoint: auto-attach from SEC("tracepoint/raw_syscalls/sys_enter"), with a BPF cookie', async () => {
  const { obj, g } = await loaded();
  try {
    const prog = obj.program('on_enter_tp');
    {
      using link = await prog.attach();
      assert.is(link.target, 'tracepoint raw_syscalls/sys_enter');
      syscalls();
      assert.ok(g.get('tp_enter_hits') > 0n);
    }
    using link = prog.attachTracepoint('raw_syscalls', 'sys_enter', { cookie: 0xc0ffeen });
    syscalls();
    assert.is(g.get('last_cookie'), 0xc0ffeen, 'bpf_get_attach_cookie() sees the cookie');
    assert.is(link.info().cookie, 0xc0ffeen);
  } finally {
    obj.close();
  }
});

test('tracepoint: PERF_EVENT_IOC_SET_BPF (forceIoctl) works and cannot be pinned', async () => {
  const { obj, g } = await loaded();
  try {
    using link = obj.program('on_enter_tp').attachTracepoint('raw_syscalls', 'sys_enter', { forceIoctl: true });
    assert.is(link.mechanism, 'perf_ioctl');
    assert.not.ok(link.isBpfLink);
    syscalls();
    assert.ok(g.get('tp_enter_hits') > 0n);
    assert.throws(() => link.pin('/sys/fs/bpf/nope'), (e: unknown) => e instanceof NotSupportedError && /cannot be pinned/.test((e as Error).message));
    assert.throws(() => link.info(), (e: unknown) => e instanceof NotSupportedError);
    link.close();
    const n = g.get('tp_enter_hits');
    syscalls();
    assert.is(g.get('tp_enter_hits'), n);
  } finally {
    obj.close();
  }
});

test('tracepoint: unknown tracepoints and bad names are clear errors', async () => {
  const { obj } = await loaded();
  try {
    const prog = obj.program('on_exec');
    assert.throws(() => prog.attachTracepoint('sched', 'no_such_event'), /no tracepoint 'sched\/no_such_event'.*category 'sched' exists/s);
    assert.throws(() => prog.attachTracepoint('nosuchcat', 'x'), /no category 'nosuchcat'/);
    assert.throws(() => prog.attachTracepoint('..', 'x'), /invalid tracepoint category/);
  } finally {
    obj.close();
  }
});

test('raw_tp: auto-attach from SEC("raw_tp/sys_enter"), link info, no hits after close', async () => {
  const { obj, g } = await loaded();
  try {
    using link = await obj.program('on_enter_raw').attach();
    assert.is(link.kind, 'raw_tracepoint');
    assert.is(link.mechanism, 'bpf_link');
    assert.is(link.info().tpName, 'sys_enter');
    syscalls();
    assert.ok(g.get('raw_tp_hits') > 0n);
    link.close();
    const n = g.get('raw_tp_hits');
    syscalls();
    assert.is(g.get('raw_tp_hits'), n);
    assert.throws(() => obj.program('on_enter_raw').attachRawTracepoint('no_such_raw_tp'), /ENOENT|no raw tracepoint/);
  } finally {
    obj.close();
  }
});

test('tp_btf: a tracing link on sys_enter counts this process', async () => {
  const { obj, g } = await loaded();
  try {
    using link = await obj.program('on_enter_btf').attach();
    assert.is(link.kind, 'tracing');
    syscalls();
    assert.ok(g.get('tp_btf_hits') > 0n);
  } finally {
    obj.close();
  }
});

test('perf_event: cpu-clock sampling on every online CPU through links', async () => {
  const { obj, g } = await loaded();
  try {
    using group = obj.program('on_sample').attachPerfEvent({ type: PERF_TYPE.SOFTWARE, config: PERF_COUNT_SW.CPU_CLOCK, sampleFreq: 1000 });
    assert.ok(group instanceof LinkGroup);
    assert.is(group.links.length, onlineCpus().length);
    for (const l of group) {
      assert.is(l.mechanism, 'perf_link');
      assert.is(l.info().perfEvent?.type, 'event');
    }
    const end = Date.now() + 200;
    while (Date.now() < end) { /* burn CPU so the clock samples */ }
    assert.ok(await waitFor(() => g.get('perf_hits') > 10n), `samples seen: ${g.get('perf_hits')}`);
    group.close();
    assert.ok(group.closed);
    const n = g.get('perf_hits');
    const end2 = Date.now() + 50;
    while (Date.now() < end2) { /* burn */ }
    assert.is(g.get('perf_hits'), n, 'no samples after close');
    // One CPU: a single Link.
    using one = obj.program('on_sample').attachPerfEvent({ type: PERF_TYPE.SOFTWARE, config: PERF_COUNT_SW.CPU_CLOCK, samplePeriod: 100_000, cpu: 0 });
    assert.ok(one instanceof Link);
    one.close();
  } finally {
    obj.close();
  }
});

test('iter: a task iterator read to the end lists this process, twice', async () => {
  const obj = open();
  try {
    // Field offsets from kernel BTF (the program reads them with probe reads: no CO-RE needed).
    const btf = kernelBtf();
    const ts = btf.type(btf.findOne('task_struct', BTF_KIND.STRUCT)!);
    if (ts.kind !== BTF_KIND.STRUCT) throw new Error('no task_struct');
    const off = (name: string): number => ts.members.find((m) => m.name === name)!.bitOffset / 8;
    const g = globals(obj);
    g.set('task_tgid_off', off('tgid'));
    g.set('task_comm_off', off('comm'));
    await obj.load();
    track(obj);
    using link = await obj.program('dump_task').attach();
    assert.ok(link instanceof IterLink);
    assert.is(link.kind, 'iter');
    assert.is(link.info().iterTarget, 'task');
    const text = await link.read();
    const lines = text.trim().split('\n');
    assert.ok(lines.length > 5, `${lines.length} tasks`);
    assert.ok(lines.some((l) => l.startsWith(`${process.pid} `)), `our pid ${process.pid} is listed`);
    assert.ok(lines.some((l) => l === '2 kthreadd'), 'kernel threads are listed');
    // A second pass over a new reader, as a stream of chunks.
    let chunks = 0;
    let bytes = 0;
    for await (const c of link.stream(256)) {
      chunks++;
      bytes += c.length;
    }
    assert.ok(chunks > 1 && bytes > 0, `streamed ${bytes} bytes in ${chunks} chunks`);
    link.close();
  } finally {
    obj.close();
  }
});

test('kprobes: this kernel has none, and every kprobe flavour says CONFIG_KPROBES', async () => {
  const { obj } = await loaded();
  try {
    const isKprobeError = (e: unknown): boolean => e instanceof NotSupportedError && /CONFIG_KPROBES/.test((e as Error).message);
    assert.throws(() => obj.program('on_kprobe').attachKprobe('do_nanosleep'), isKprobeError);
    await obj.program('on_kprobe').attach().then(() => assert.unreachable('attached'), (e) => assert.ok(isKprobeError(e), String(e)));
    assert.throws(() => obj.program('on_kretprobe').attachSync(), isKprobeError);
    assert.throws(() => obj.program('on_ksyscall').attachSync(), isKprobeError);
    assert.throws(() => obj.program('on_kprobe').attachKprobe('do_nanosleep', { mode: 'legacy' }), isKprobeError);
    // kprobe.multi links need fprobe, which this kernel lacks as well.
    assert.throws(() => obj.program('on_kprobe_multi').attachSync(),
      (e: unknown) => e instanceof NotSupportedError && /kprobe\.multi/.test((e as Error).message) && /CONFIG_FPROBE/.test((e as Error).message));
    assert.throws(() => obj.program('on_kprobe_multi').attachKprobeMulti('do_nanosleep'), /CONFIG_FPROBE/);
    // Errors carry the object and program names.
    try {
      obj.program('on_kprobe').attachKprobe('do_nanosleep');
    } catch (e) {
      assert.is((e as NotSupportedError).program, 'on_kprobe');
      assert.match((e as Error).message, /prog 'on_kprobe'/);
      assert.ok((e as NotSupportedError).advice);
    }
  } finally {
    obj.close();
  }
});

test('fentry: the kernel refuses trampolines, and the load error says so', async () => {
  const obj = open();
  try {
    obj.program('on_fentry').autoload = true;
    await obj.load().then(() => assert.unreachable('loaded'), (e) => {
      assert.instance(e, NotSupportedError);
      assert.match((e as Error).message, /TRACE_FENTRY|fentry/);
      assert.match((e as Error).message, /on_fentry/);
    });
  } finally {
    obj.close();
  }
});

test('leak check: no link, program or map of this file is left', async () => {
  const left = await settledLeftovers(marks);
  assert.equal(left, []);
});

test.run();
