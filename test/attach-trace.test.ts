// Tracing attachments on the real kernel: tracepoints (link and ioctl), raw tracepoints, tp_btf,
// perf_event sampling on every CPU, a task iterator read to the end, and kprobes, kprobe.multi and
// fentry: where the kernel has them they fire, where it lacks them the error says what is missing
// (each test probes the feature and is skipped where it does not apply). Each test triggers the
// event and reads the program's counter in .bss; the leak check at the end finds no link, program or
// map of ours.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { BTF_KIND } from '../btf/index.js';
import { IterLink, Link, LinkGroup, NotSupportedError, PERF_COUNT_SW, PERF_TYPE } from '../src/index.js';
import { kernelBtf } from '../src/kernel-btf.js';
import { onlineCpus } from '../syscalls/index.js';
import { markIds, settledLeftovers, track, waitFor } from './attach-support.js';
import * as attachTrace from './skel/attach-trace.skel.js';
import { compiled } from './support/skeleton.js';
import { kprobeMulti, kprobes, perfLinkInfo, testIf, trampolines } from './support/skip.js';

const { open, openAndLoad } = compiled(attachTrace);
const marks = markIds();

/** Loads the object and points the pid filter at this process. */
async function loaded(): Promise<attachTrace.attach_trace> {
  const skel = await openAndLoad();
  track(skel.obj);
  skel.bss.target_tgid = process.pid;
  return skel;
}

/** A few system calls from this process. */
function syscalls(n = 5): void {
  for (let i = 0; i < n; i++) statSync('/');
}

test('tracepoint: sched_process_exec counts spawned processes, and stops counting after close', async () => {
  using skel = await loaded();
  using link = skel.progs.on_exec.attachTracepoint('sched', 'sched_process_exec');
  assert.is(link.kind, 'tracepoint');
  assert.is(link.mechanism, 'perf_link', 'this kernel has BPF perf links');
  assert.ok(link.perfEventFd !== undefined, 'the link owns the perf event fd too');
  const info = link.info();
  assert.is(info.typeName, 'BPF_LINK_TYPE_PERF_EVENT');
  // What the kernel reports, no more: before Linux 6.6 a perf link's info has no event details.
  if (perfLinkInfo().present) {
    assert.is(info.tpName, 'sched_process_exec');
    assert.is(info.perfEvent?.type, 'tracepoint');
  } else {
    assert.is(info.tpName, undefined);
  }
  const before = skel.bss.tp_exec_hits;
  for (let i = 0; i < 3; i++) execFileSync('/bin/true');
  assert.ok(skel.bss.tp_exec_hits - before >= 3n, `3 execs seen (got ${skel.bss.tp_exec_hits - before})`);
  link.close();
  assert.ok(link.closed);
  link.close(); // idempotent
  const after = skel.bss.tp_exec_hits;
  execFileSync('/bin/true');
  assert.is(skel.bss.tp_exec_hits, after, 'no hits after close');
});

test('tracepoint: auto-attach from SEC("tracepoint/raw_syscalls/sys_enter"), with a BPF cookie', async () => {
  using skel = await loaded();
  const prog = skel.progs.on_enter_tp;
  {
    using link = await prog.attach();
    assert.is(link.target, 'tracepoint raw_syscalls/sys_enter');
    syscalls();
    assert.ok(skel.bss.tp_enter_hits > 0n);
  }
  using link = prog.attachTracepoint('raw_syscalls', 'sys_enter', { cookie: 0xc0ffeen });
  syscalls();
  assert.is(skel.bss.last_cookie, 0xc0ffeen, 'bpf_get_attach_cookie() sees the cookie');
  // Link info reports the cookie from Linux 6.6 on; the program sees it either way.
  assert.is(link.info().cookie, perfLinkInfo().present ? 0xc0ffeen : undefined);
});

test('tracepoint: PERF_EVENT_IOC_SET_BPF (forceIoctl) works and cannot be pinned', async () => {
  using skel = await loaded();
  using link = skel.progs.on_enter_tp.attachTracepoint('raw_syscalls', 'sys_enter', { forceIoctl: true });
  assert.is(link.mechanism, 'perf_ioctl');
  assert.not.ok(link.isBpfLink);
  syscalls();
  assert.ok(skel.bss.tp_enter_hits > 0n);
  assert.throws(() => link.pin('/sys/fs/bpf/nope'), (e: unknown) => e instanceof NotSupportedError && /cannot be pinned/.test((e as Error).message));
  assert.throws(() => link.info(), (e: unknown) => e instanceof NotSupportedError);
  link.close();
  const n = skel.bss.tp_enter_hits;
  syscalls();
  assert.is(skel.bss.tp_enter_hits, n);
});

test('tracepoint: unknown tracepoints and bad names are clear errors', async () => {
  using skel = await loaded();
  const prog = skel.progs.on_exec;
  assert.throws(() => prog.attachTracepoint('sched', 'no_such_event'), /no tracepoint 'sched\/no_such_event'.*category 'sched' exists/s);
  assert.throws(() => prog.attachTracepoint('nosuchcat', 'x'), /no category 'nosuchcat'/);
  assert.throws(() => prog.attachTracepoint('..', 'x'), /invalid tracepoint category/);
});

test('raw_tp: auto-attach from SEC("raw_tp/sys_enter"), link info, no hits after close', async () => {
  using skel = await loaded();
  using link = await skel.progs.on_enter_raw.attach();
  assert.is(link.kind, 'raw_tracepoint');
  assert.is(link.mechanism, 'bpf_link');
  assert.is(link.info().tpName, 'sys_enter');
  syscalls();
  assert.ok(skel.bss.raw_tp_hits > 0n);
  link.close();
  const n = skel.bss.raw_tp_hits;
  syscalls();
  assert.is(skel.bss.raw_tp_hits, n);
  assert.throws(() => skel.progs.on_enter_raw.attachRawTracepoint('no_such_raw_tp'), /ENOENT|no raw tracepoint/);
});

test('tp_btf: a tracing link on sys_enter counts this process', async () => {
  using skel = await loaded();
  using link = await skel.progs.on_enter_btf.attach();
  assert.is(link.kind, 'tracing');
  syscalls();
  assert.ok(skel.bss.tp_btf_hits > 0n);
});

test('perf_event: cpu-clock sampling on every online CPU through links', async () => {
  using skel = await loaded();
  using group = skel.progs.on_sample.attachPerfEvent({ type: PERF_TYPE.SOFTWARE, config: PERF_COUNT_SW.CPU_CLOCK, sampleFreq: 1000 });
  assert.ok(group instanceof LinkGroup);
  assert.is(group.links.length, onlineCpus().length);
  for (const l of group) {
    assert.is(l.mechanism, 'perf_link');
    if (perfLinkInfo().present) assert.is(l.info().perfEvent?.type, 'event');
  }
  const end = Date.now() + 200;
  while (Date.now() < end) { /* burn CPU so the clock samples */ }
  assert.ok(await waitFor(() => skel.bss.perf_hits > 10n), `samples seen: ${skel.bss.perf_hits}`);
  group.close();
  assert.ok(group.closed);
  const n = skel.bss.perf_hits;
  const end2 = Date.now() + 50;
  while (Date.now() < end2) { /* burn */ }
  assert.is(skel.bss.perf_hits, n, 'no samples after close');
  // One CPU: a single Link.
  using one = skel.progs.on_sample.attachPerfEvent({ type: PERF_TYPE.SOFTWARE, config: PERF_COUNT_SW.CPU_CLOCK, samplePeriod: 100_000, cpu: 0 });
  assert.ok(one instanceof Link);
  one.close();
});

test('iter: a task iterator read to the end lists this process, twice', async () => {
  using skel = open();
  // Field offsets from kernel BTF (the program reads them with probe reads: no CO-RE needed).
  const btf = kernelBtf();
  const ts = btf.type(btf.findOne('task_struct', BTF_KIND.STRUCT)!);
  if (ts.kind !== BTF_KIND.STRUCT) throw new Error('no task_struct');
  const off = (name: string): number => ts.members.find((m) => m.name === name)!.bitOffset / 8;
  skel.bss.task_tgid_off = off('tgid');
  skel.bss.task_comm_off = off('comm');
  await skel.load();
  track(skel.obj);
  using link = await skel.progs.dump_task.attach();
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
});

/** Calls nanosleep(2) itself (not clock_nanosleep, which sleep(1) uses) in a child: do_nanosleep runs for both. */
function nanosleepSyscall(): void {
  const nr = process.arch === 'x64' ? 35 : 101;
  // The timespec must be a variable: perl's syscall() may write through a string argument.
  execFileSync('perl', ['-e', `my $ts = pack("qq", 0, 1000000); syscall(${nr}, $ts, 0) == 0 or die "nanosleep: $!"`]);
}

const isKprobeError = (e: unknown): boolean => e instanceof NotSupportedError && /CONFIG_KPROBES/.test((e as Error).message);

testIf(!kprobes().present, 'needs a kernel without kprobes')('when kprobes are absent, every kprobe flavour says CONFIG_KPROBES', async () => {
  using skel = await loaded();
  assert.throws(() => skel.progs.on_kprobe.attachKprobe('do_nanosleep'), isKprobeError);
  await skel.progs.on_kprobe.attach().then(() => assert.unreachable('attached'), (e) => assert.ok(isKprobeError(e), String(e)));
  assert.throws(() => skel.progs.on_kretprobe.attachSync(), isKprobeError);
  assert.throws(() => skel.progs.on_ksyscall.attachSync(), isKprobeError);
  assert.throws(() => skel.progs.on_kprobe.attachKprobe('do_nanosleep', { mode: 'legacy' }), isKprobeError);
  // Errors carry the object and program names.
  try {
    skel.progs.on_kprobe.attachKprobe('do_nanosleep');
  } catch (e) {
    assert.is((e as NotSupportedError).program, 'on_kprobe');
    assert.match((e as Error).message, /prog 'on_kprobe'/);
    assert.ok((e as NotSupportedError).advice);
  }
});

testIf(kprobes().present, kprobes().why)('when kprobes are present, kprobe, kretprobe (PMU and legacy) and ksyscall attach and fire', async () => {
  using skel = await loaded();
  const fires = async (what: string, attach: () => Link): Promise<void> => {
    using link = attach();
    assert.match(link.kind, /probe|ksyscall/, what);
    const before = skel.bss.probe_hits;
    nanosleepSyscall();
    assert.ok(await waitFor(() => skel.bss.probe_hits > before), `${what}: no hit`);
  };
  await fires('kprobe', () => skel.progs.on_kprobe.attachKprobe('do_nanosleep'));
  await fires('kprobe, legacy kprobe_events', () => skel.progs.on_kprobe.attachKprobe('do_nanosleep', { mode: 'legacy' }));
  await fires('kretprobe from its SEC()', () => skel.progs.on_kretprobe.attachSync());
  await fires('ksyscall from its SEC()', () => skel.progs.on_ksyscall.attachSync());
});

testIf(!kprobeMulti().present, 'needs a kernel without kprobe.multi links')('when kprobe.multi links are absent, attaching one says CONFIG_FPROBE', async () => {
  using skel = await loaded();
  assert.throws(() => skel.progs.on_kprobe_multi.attachSync(),
    (e: unknown) => e instanceof NotSupportedError && /kprobe\.multi/.test((e as Error).message) && /CONFIG_FPROBE/.test((e as Error).message));
  assert.throws(() => skel.progs.on_kprobe_multi.attachKprobeMulti('do_nanosleep'), /CONFIG_FPROBE/);
});

testIf(kprobeMulti().present, kprobeMulti().why)('when kprobe.multi links are present, SEC("kprobe.multi/do_nanosl*") attaches and fires', async () => {
  using skel = await loaded();
  using link = skel.progs.on_kprobe_multi.attachSync();
  assert.is(link.kind, 'kprobe_multi');
  const before = skel.bss.probe_hits;
  nanosleepSyscall();
  assert.ok(await waitFor(() => skel.bss.probe_hits > before), 'no hit');
});

testIf(!trampolines().present, 'needs a kernel that refuses BPF trampolines')('when the kernel refuses trampolines, the fentry load error says so', async () => {
  using skel = open();
  skel.progs.on_fentry.autoload = true;
  await skel.load().then(() => assert.unreachable('loaded'), (e) => {
    assert.instance(e, NotSupportedError);
    assert.match((e as Error).message, /TRACE_FENTRY|fentry/);
    assert.match((e as Error).message, /on_fentry/);
  });
});

testIf(trampolines().present, trampolines().why)('when the kernel has trampolines, fentry loads, attaches from its SEC() and fires', async () => {
  using skel = open();
  skel.progs.on_fentry.autoload = true;
  await skel.load();
  track(skel.obj);
  using link = skel.progs.on_fentry.attachSync();
  const before = skel.bss.probe_hits;
  nanosleepSyscall();
  assert.ok(await waitFor(() => skel.bss.probe_hits > before), 'no hit');
  link.close();
});

test('leak check: no link, program or map of this file is left', async () => {
  const left = await settledLeftovers(marks);
  assert.equal(left, []);
});

test.run();
