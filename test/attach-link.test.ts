// Link lifecycles on the real kernel: pin, open and unpin; disconnect; a leaked Link closed by
// the garbage collector; attachments that outlive the process (netlink XDP and tc, PROG_ATTACH)
// removed when the process exits normally, on an uncaught exception or on SIGTERM/SIGINT; and
// obj.attach()/detach() with the reasons for the programs it skips.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  BpfError, BpfObject, Link, NotSupportedError, ATTACH_TYPE, progQuery, tcFilterList, withNetns, xdpQuery, ifIndex,
} from '../src/index.js';
import { openCgroup } from '../src/attach/cgroup.js';
import { linkGetFdById, xdpSetProgram } from '../syscalls/index.js';
import { outlivingLinkCount } from '../src/link.js';
import { BUILD_DIR, REPO_ROOT, compileBpf } from './support/compile.js';
import { kprobes, testIf } from './support/skip.js';
import { globals, markIds, settledLeftovers, tempCgroup, track, vethPair, waitFor, type VethPair } from './attach-support.js';

const TRACE = compileBpf('attach-trace');
const AUTO = compileBpf('attach-auto');
const NET = compileBpf('attach-net');
const CGROUP = compileBpf('attach-cgroup');
const UPROBE = compileBpf('attach-uprobe');
const marks = markIds();
const PIN_DIR = '/sys/fs/bpf';
const pinPath = (name: string): string => `${PIN_DIR}/tsbpf-test-${process.pid}-${name}`;
let net: VethPair;
let cg: { path: string; remove(): void };

test.before(() => {
  net = vethPair('link', 73);
  cg = tempCgroup('link');
});

test.after(() => {
  cg.remove();
  net.remove();
});

async function load(path: string): Promise<{ obj: BpfObject; g: ReturnType<typeof globals> }> {
  const obj = BpfObject.open(path);
  await obj.load();
  track(obj);
  const g = globals(obj);
  if (path !== NET && path !== CGROUP) g.set('target_tgid', process.pid);
  return { obj, g };
}

const linkExists = (id: number): boolean => {
  try {
    linkGetFdById(id).close();
    return true;
  } catch {
    return false;
  }
};

function syscalls(): void {
  for (let i = 0; i < 5; i++) existsSync('/');
}

test('pin, Link.open, unpin: a pinned link outlives its Link and is removed after unpin', async () => {
  const { obj, g } = await load(TRACE);
  const path = pinPath('rawtp');
  try {
    const link = obj.program('on_enter_raw').attachRawTracepoint('sys_enter');
    const id = link.id;
    link.pin(path);
    assert.is(link.pinnedPath, path);
    assert.throws(() => link.pin(`${path}-2`), /already pinned/);
    link.close();
    assert.ok(linkExists(id), 'the pin keeps it');
    const before = g.get('raw_tp_hits');
    syscalls();
    assert.ok(g.get('raw_tp_hits') > before, 'still attached after close()');
    const opened = Link.open(path);
    assert.is(opened.id, id);
    assert.is(opened.kind, 'raw_tracepoint');
    assert.is(opened.pinnedPath, path);
    opened.close();
    assert.ok(linkExists(id), 'closing an opened pinned link keeps it too');
    const again = Link.open(path);
    again.unpin();
    assert.not.ok(existsSync(path));
    again.close();
    assert.ok(await waitFor(() => !linkExists(id)), 'gone after unpin + close');
    const n = g.get('raw_tp_hits');
    syscalls();
    assert.is(g.get('raw_tp_hits'), n);
  } finally {
    if (existsSync(path)) Link.open(path).unpin();
    obj.close();
  }
});

test('pinning a perf link keeps the tracepoint attached; Link.open refuses maps', async () => {
  const { obj, g } = await load(TRACE);
  const path = pinPath('tp');
  const mapPath = pinPath('map');
  try {
    const link = obj.program('on_enter_tp').attachTracepoint('raw_syscalls', 'sys_enter');
    link.pin(path);
    link.close();
    const before = g.get('tp_enter_hits');
    syscalls();
    assert.ok(g.get('tp_enter_hits') > before, 'the pinned perf link still fires');
    obj.map('.bss').pin(mapPath);
    assert.throws(() => Link.open(mapPath), (e: unknown) => e instanceof BpfError && /is a map, not a link/.test((e as Error).message));
    assert.throws(() => Link.open(pinPath('nothing')), /ENOENT/);
    const opened = Link.open(path);
    assert.is(opened.kind, 'perf_event');
    opened.unpin();
    opened.close();
  } finally {
    for (const p of [path]) if (existsSync(p)) Link.open(p).unpin();
    obj.map('.bss').unpin();
    obj.close();
  }
});

test('disconnect: close() leaves the attachment (fd links until the fd is closed, netlink until removed)', async () => {
  const { obj, g } = await load(TRACE);
  try {
    const link = obj.program('on_enter_raw').attachRawTracepoint('sys_enter');
    const fd = link.fd;
    const id = link.id;
    link.disconnect();
    link.close();
    const before = g.get('raw_tp_hits');
    syscalls();
    assert.ok(g.get('raw_tp_hits') > before, 'still attached');
    assert.ok(linkExists(id));
    closeSync(fd); // the fd the kernel kept for us
    assert.ok(await waitFor(() => !linkExists(id)));
  } finally {
    obj.close();
  }
  const n = await load(NET);
  try {
    const ifindex = withNetns(net.nsA, () => ifIndex('va'));
    const link = withNetns(net.nsA, () => n.obj.program('xdp_count').attachXdp('va', { netlink: true }));
    assert.is(outlivingLinkCount(), 1);
    link.disconnect();
    assert.is(outlivingLinkCount(), 0, 'no longer detached at exit');
    link.close();
    assert.is(withNetns(net.nsA, () => xdpQuery(ifindex)).attached, 'drv', 'netlink attachment left in place');
    withNetns(net.nsA, () => xdpSetProgram(ifindex, -1));
  } finally {
    n.obj.close();
  }
});

test('a Link dropped without close() is detached by the garbage collector, with a warning', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const { obj } = await load(TRACE);
  const n = await load(NET);
  const writes: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    writes.push(String(chunk));
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  try {
    const ifindex = withNetns(net.nsA, () => ifIndex('va'));
    // Made in a function so nothing keeps the Links reachable.
    const leak = (): number => {
      withNetns(net.nsA, () => n.obj.program('xdp_count').attachXdp('va', { netlink: true }));
      return obj.program('on_enter_raw').attachRawTracepoint('sys_enter').id;
    };
    const id = leak();
    assert.ok(linkExists(id));
    const gone = await waitFor(() => {
      gc();
      return !linkExists(id) && withNetns(net.nsA, () => xdpQuery(ifindex)).attached === 'none';
    }, 5000, 50);
    assert.ok(gone, 'both the BPF link and the netlink XDP attachment were undone');
    assert.ok(writes.some((w) => /garbage-collected without close\(\)/.test(w)), 'a warning was printed');
  } finally {
    process.stderr.write = write;
    obj.close();
    n.obj.close();
  }
});

// --- attachments that outlive the process ------------------------------------------------------

const CHILD = join(BUILD_DIR, 'attach-exit-child.ts');
writeFileSync(CHILD, `
import { ATTACH_FLAGS } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'syscalls/index.ts')).href)};
import { BpfObject, withNetns } from ${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'src/index.ts')).href)};
const [netPath, cgObjPath, upObjPath, ns, cgPath, mode] = process.argv.slice(2);
const n = BpfObject.open(netPath); await n.load();
const c = BpfObject.open(cgObjPath); await c.load();
const u = BpfObject.open(upObjPath); await u.load();
const keep = withNetns(ns, () => [
  n.program('xdp_count').attachXdp('va', { netlink: true, mode: 'skb' }),
  n.program('tc_count').attachTc('va', 'ingress'),
]);
keep.push(c.program('skb_egress').attachCgroup(cgPath, undefined, { flags: ATTACH_FLAGS.ALLOW_MULTI }));
keep.push(u.program('on_any').attachUprobe({ binary: 'libc.so.6', symbol: 'getppid', mode: 'legacy' }));
(globalThis as { keep?: unknown }).keep = keep;
if (mode === 'handled') process.on('SIGTERM', () => { console.log('still'); setTimeout(() => process.exit(0), 700); });
console.log('attached');
if (mode === 'throw') setTimeout(() => { throw new Error('uncaught on purpose'); }, 10);
else if (mode === 'exit') process.exit(0);
else setInterval(() => {}, 1000);
`);

interface AttachedState {
  xdp: string;
  tc: number;
  cgroup: number;
  uprobeEvents: number;
}

function attachedState(childPid: number): AttachedState {
  const ifindex = withNetns(net.nsA, () => ifIndex('va'));
  const cgfd = openCgroup(cg.path);
  try {
    return {
      xdp: withNetns(net.nsA, () => xdpQuery(ifindex)).attached,
      tc: withNetns(net.nsA, () => tcFilterList(ifindex, 'ingress')).length,
      cgroup: progQuery(cgfd.fd, ATTACH_TYPE.BPF_CGROUP_INET_EGRESS!).progIds.length,
      uprobeEvents: readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8').split('\n').filter((l) => l.includes(`tsbpf_${childPid}_`)).length,
    };
  } finally {
    cgfd.close();
  }
}

async function runChild(mode: 'throw' | 'exit' | 'SIGTERM' | 'SIGINT' | 'handled'): Promise<{ code: number | null; signal: string | null; stderr: string; pid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, NET, CGROUP, UPROBE, net.nsA, cg.path, mode === 'SIGTERM' || mode === 'SIGINT' ? 'wait' : mode], {
    cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const lines = createInterface({ input: child.stdout });
  const seen: string[] = [];
  const waitLine = (want: string): Promise<void> => new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`child never printed '${want}': ${stderr}`)), 20000);
    const check = (): void => {
      if (seen.includes(want)) {
        clearTimeout(t);
        resolve();
      }
    };
    lines.on('line', (l) => {
      seen.push(l);
      check();
    });
    check();
  });
  await waitLine('attached');
  if (mode === 'SIGTERM' || mode === 'SIGINT' || mode === 'handled') {
    assert.equal(attachedState(child.pid!), { xdp: 'skb', tc: 1, cgroup: 1, uprobeEvents: 1 }, 'attached while the child runs');
    child.kill(mode === 'SIGINT' ? 'SIGINT' : 'SIGTERM');
  }
  if (mode === 'handled') {
    await waitLine('still');
    assert.equal(attachedState(child.pid!), { xdp: 'skb', tc: 1, cgroup: 1, uprobeEvents: 1 }, 'a handled SIGTERM does not detach: the process goes on');
  }
  return { ...(await exited), stderr, pid: child.pid! };
}

for (const mode of ['exit', 'throw', 'SIGTERM', 'SIGINT', 'handled'] as const) {
  test(`process ${mode === 'exit' ? 'exit without close()' : mode === 'throw' ? 'dying of an uncaught exception' : mode === 'handled' ? 'with its own SIGTERM handler' : `killed by ${mode}`}: netlink XDP, tc, PROG_ATTACH and a tracefs uprobe are removed`, async () => {
    const r = await runChild(mode);
    if (mode === 'throw') assert.match(r.stderr, /uncaught on purpose/);
    if (mode === 'SIGTERM' || mode === 'SIGINT') assert.is(r.signal, mode, 'the child still dies of the signal');
    if (mode === 'exit' || mode === 'handled') assert.is(r.code, 0, r.stderr);
    assert.equal(attachedState(r.pid), { xdp: 'none', tc: 0, cgroup: 0, uprobeEvents: 0 }, `left behind after ${mode}`);
  });
}

// --- obj.attach() ----------------------------------------------------------------------------------

test('obj.attach(): attaches the auto-attachable programs, says why it skips the others; detach() and close() undo it', async () => {
  const { obj, g } = await load(AUTO);
  try {
    const r = await obj.attach();
    assert.equal([...r.links.keys()].sort(), ['auto_btf', 'auto_iter', 'auto_raw', 'auto_tp']);
    assert.equal([...obj.links.keys()].sort(), ['auto_btf', 'auto_iter', 'auto_raw', 'auto_tp']);
    const why = Object.fromEntries(r.skipped.map((s) => [s.program, s.reason]));
    assert.equal(Object.keys(why).sort(), ['bare_kprobe', 'bare_raw_tp', 'needs_iface', 'needs_socket', 'not_loaded']);
    assert.match(why.bare_kprobe!, /SEC\("kprobe"\) names no function, so libbpf does not auto-attach it either: call prog\.attachKprobe/);
    assert.match(why.bare_raw_tp!, /names no tracepoint/);
    assert.match(why.needs_iface!, /needs an interface: prog\.attachXdp/);
    assert.match(why.needs_socket!, /needs a socket: prog\.attachSocket/);
    assert.match(why.not_loaded!, /autoload is off/);
    syscalls();
    assert.ok(g.get('raw_hits') > 0n && g.get('btf_hits') > 0n);
    // A second attach() leaves the attached ones alone.
    assert.is((await obj.attach()).links.size, 0);
    const ids = [...obj.links.values()].map((l) => l.id);
    obj.detach();
    assert.is(obj.links.size, 0);
    assert.ok(await waitFor(() => ids.every((id) => !linkExists(id))));
    await obj.attach();
    const ids2 = [...obj.links.values()].map((l) => l.id);
    obj.close();
    assert.ok(await waitFor(() => ids2.every((id) => !linkExists(id))), 'close() detached them');
  } finally {
    obj.close();
  }
});

// The failing program is attach-trace's kprobe, so this needs a kernel where kprobes fail to attach.
testIf(!kprobes().present, 'needs a kernel without kprobes (its failing program is a kprobe)')('obj.attach() is all or nothing: a failing program (a kprobe, without kprobes) names itself and leaves no link', async () => {
  const { obj } = await load(TRACE);
  try {
    const before = markIds().link;
    await obj.attach().then(() => assert.unreachable('attached'), (e) => {
      assert.instance(e, NotSupportedError);
      assert.is((e as NotSupportedError).program, 'on_kprobe');
      assert.match((e as Error).message, /object 'attach-trace': prog 'on_kprobe'.*CONFIG_KPROBES/);
    });
    assert.is(obj.links.size, 0);
    assert.ok(await waitFor(() => markIds().link <= before || !linkExists(markIds().link)), 'the links made before the failure were closed');
    using unloaded = BpfObject.open(TRACE);
    assert.throws(() => unloaded.attachSync(), /must be loaded/);
  } finally {
    obj.close();
  }
});

test('leak check: no link, program or map of this file is left', async () => {
  await sleep(10);
  assert.equal(await settledLeftovers(marks), []);
});

test.run();
