// Encodings the kernel here cannot exercise (no kprobes) or that are easier to pin down without
// it: perf_event_attr for the kprobe/uprobe PMUs, legacy tracefs commands, ksyscall names,
// section-name parsing for auto-attach, globs, mprog positions, iterator info and netlink
// attributes.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { autoAttachPlan } from '../src/attach/auto.js';
import { globMatch } from '../src/attach/elf-symbols.js';
import { ksyscallFunction } from '../src/attach/kprobe.js';
import { mprogPosition } from '../src/attach/net.js';
import { iterLinkInfo } from '../src/attach/tracing.js';
import { findSectionDef, type Program } from '../src/index.js';
import { Link } from '../src/link.js';
import {
  ATTACH_FLAGS, PERF_EVENT_ATTR, legacyProbeCommand, legacyProbeEventName, nlAttr, nlNested, nlParseAttrs, nlStr, nlU32,
  probePerfAttr, tracepointPerfAttr,
} from '../syscalls/index.js';

function field(attr: Buffer, name: keyof typeof PERF_EVENT_ATTR): bigint {
  const f = PERF_EVENT_ATTR[name] as { off: number; size: number };
  return f.size === 8 ? attr.readBigUInt64LE(f.off) : BigInt(attr.readUInt32LE(f.off));
}

test('kprobe PMU attr: type, function name pointer, offset; kretprobe sets the retprobe bit', () => {
  const { attr, target } = probePerfAttr({ pmuType: 6, target: 'do_nanosleep', offset: 0x10 });
  assert.is(field(attr, 'type'), 6n);
  assert.is(field(attr, 'size'), BigInt(attr.length));
  assert.is(field(attr, 'config'), 0n);
  assert.ok(field(attr, 'config1') > 0x1000n, 'config1 holds the address of the name');
  assert.is(target.toString('latin1'), 'do_nanosleep\0');
  assert.is(field(attr, 'config2'), 0x10n);
  const ret = probePerfAttr({ pmuType: 6, retprobe: true, retprobeBit: 0, target: 'do_nanosleep', offset: 0 });
  assert.is(field(ret.attr, 'config'), 1n);
  assert.throws(() => probePerfAttr({ pmuType: 6, retprobe: true, target: 'x', offset: 0 }), /retprobe bit/);
});

test('uprobe PMU attr: path, file offset, ref_ctr_offset in config[63:32]', () => {
  const { attr, target } = probePerfAttr({ pmuType: 8, retprobe: true, retprobeBit: 0, target: '/bin/bash', offset: 0x1139n, refCtrOffset: 0x4010 });
  assert.is(field(attr, 'config'), (0x4010n << 32n) | 1n);
  assert.is(field(attr, 'config2'), 0x1139n);
  assert.is(target.toString('latin1'), '/bin/bash\0');
  assert.throws(() => probePerfAttr({ pmuType: 8, target: '/x', offset: 0, refCtrOffset: 1n << 32n }), /32 bits/);
});

test('tracepoint attr', () => {
  const a = tracepointPerfAttr(365);
  assert.is(field(a, 'type'), 2n);
  assert.is(field(a, 'config'), 365n);
});

test('legacy tracefs probe commands and event names', () => {
  assert.is(legacyProbeCommand('kprobe', 'ev1', false, 'do_nanosleep', 0), 'p:kprobes/ev1 do_nanosleep+0x0');
  assert.is(legacyProbeCommand('kprobe', 'ev1', true, 'do_nanosleep', 0), 'r:kretprobes/ev1 do_nanosleep+0x0');
  assert.is(legacyProbeCommand('kprobe', 'ev2', false, 'tcp_v4_connect', 0x1a), 'p:kprobes/ev2 tcp_v4_connect+0x1a');
  assert.is(legacyProbeCommand('uprobe', 'ev3', false, '/usr/bin/bash', 0x1139n), 'p:uprobes/ev3 /usr/bin/bash:0x1139');
  assert.is(legacyProbeCommand('uprobe', 'ev3', true, '/usr/bin/bash', 0x1139n), 'r:uretprobes/ev3 /usr/bin/bash:0x1139');
  const a = legacyProbeEventName('do_sys.open', 16);
  const b = legacyProbeEventName('do_sys.open', 16);
  assert.match(a, new RegExp(`^tsbpf_${process.pid}_\\d+_do_sys_open_0x10$`));
  assert.is.not(a, b, 'unique per call');
});

test('ksyscall: the arch wrapper name, or __se_sys_ without wrappers', () => {
  assert.is(ksyscallFunction('openat', true), process.arch === 'x64' ? '__x64_sys_openat' : '__arm64_sys_openat');
  assert.is(ksyscallFunction('openat', false), '__se_sys_openat');
});

/** A stand-in Program for section-name parsing: the plan is computed without touching the kernel. */
function fake(sec: string): Program {
  return { name: 'p', sectionName: sec, spec: { sectionDef: findSectionDef(sec.replace(/^\?/, '')) } } as unknown as Program;
}

test('auto-attach plans follow libbpf: bare sections are skipped with the reason, bad ones are errors', () => {
  const attaches = ['kprobe/do_nanosleep', 'kprobe/do_nanosleep+0x10', 'kretprobe/do_nanosleep', 'ksyscall/openat', 'kretsyscall/openat',
    'kprobe.multi/do_*', 'kretprobe.multi/tcp_v?_connect', 'kprobe.session/x', 'uprobe/libc.so.6:malloc', 'uprobe/libc.so.6:malloc+8',
    'uretprobe//usr/bin/bash:readline', 'uprobe/path:0x1234', 'uprobe.s/libc.so.6:free', 'uprobe.multi/libc.so.6:mall*',
    'tp/sched/sched_switch', 'tracepoint/syscalls/sys_enter_openat', 'tp.s/a/b', 'raw_tp/sys_enter', 'raw_tracepoint.w/bpf_test_finish',
    'tp_btf/sched_switch', 'fentry/do_nanosleep', 'lsm/file_open', 'iter/task', 'usdt/x:p:n'];
  for (const sec of attaches) assert.ok(autoAttachPlan(fake(sec)).attach, `${sec} auto-attaches`);
  const skipped: Record<string, RegExp> = {
    kprobe: /names no function/, kretprobe: /names no function/, ksyscall: /names no syscall/, 'kprobe.multi': /names no pattern/,
    uprobe: /names no binary/, uretprobe: /names no binary/, 'uprobe.multi': /names no binary/, tp: /names no tracepoint/,
    raw_tp: /names no tracepoint/, usdt: /names no probe/, xdp: /needs an interface/, 'tcx/ingress': /needs an interface/,
    tc: /needs an interface/, 'cgroup_skb/egress': /needs a cgroup/, 'cgroup/connect4': /needs a cgroup/, sockops: /needs a cgroup/,
    socket: /needs a socket/, sk_lookup: /network namespace/, flow_dissector: /network namespace/, sk_msg: /sockmap/,
    'sk_skb/stream_verdict': /sockmap/, netfilter: /hook and a priority/, perf_event: /perf event/, 'struct_ops/x': /struct_ops/,
    syscall: /testRun/, 'lsm_cgroup/x': /cgroup/, 'no_such_section': /explicitly/,
  };
  for (const [sec, why] of Object.entries(skipped)) {
    const plan = autoAttachPlan(fake(sec));
    assert.ok(plan.reason && why.test(plan.reason), `${sec}: ${plan.reason}`);
  }
  for (const bad of ['tp/onlycategory', 'kprobe/bad name', 'kretprobe/fn+8', 'uprobe/libc.so.6', 'uretprobe/libc.so.6:malloc+8', 'kprobe.multi/a b']) {
    assert.throws(() => autoAttachPlan(fake(bad)), /cannot auto-attach/, bad);
  }
});

test('globs match like libbpf (perf) globs', () => {
  assert.ok(globMatch('do_nanosleep', 'do_*'));
  assert.ok(globMatch('do_nanosleep', '*sleep'));
  assert.ok(globMatch('do_nanosleep', 'do_nano?leep'));
  assert.ok(globMatch('abc', '*'));
  assert.ok(globMatch('', '*'));
  assert.ok(globMatch('a.b.c', 'a*c'));
  assert.not.ok(globMatch('do_nanosleep', 'do_'));
  assert.not.ok(globMatch('ab', 'a?b'));
  assert.not.ok(globMatch('tsbpf_target', 'tsbpf_x*'));
});

test('mprog positions: before/after a program, a link, an id, or the ends', () => {
  assert.equal(mprogPosition({}), { flags: 0 });
  assert.equal(mprogPosition({ before: true }), { flags: ATTACH_FLAGS.BEFORE });
  assert.equal(mprogPosition({ after: { fd: 7 } }), { flags: ATTACH_FLAGS.AFTER, relativeFd: 7 });
  assert.equal(mprogPosition({ before: { progId: 42 }, expectedRevision: 3n }), { flags: ATTACH_FLAGS.BEFORE | ATTACH_FLAGS.ID, relativeId: 42, expectedRevision: 3n });
  assert.equal(mprogPosition({ after: { linkId: 9 } }), { flags: ATTACH_FLAGS.AFTER | ATTACH_FLAGS.ID | (1 << 13), relativeId: 9 });
  const l = Object.create(Link.prototype) as Link;
  Object.defineProperty(l, 'fd', { value: 11 });
  assert.equal(mprogPosition({ before: l }), { flags: ATTACH_FLAGS.BEFORE | (1 << 13), relativeFd: 11 });
  assert.throws(() => mprogPosition({ before: true, after: true }), /not both/);
});

test('iterator link info: map, cgroup order, task filters', () => {
  assert.is(iterLinkInfo({}), undefined);
  assert.equal([...iterLinkInfo({ map: 5 })!], [5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal([...iterLinkInfo({ cgroup: { fd: 9, order: 'descendants_post' } })!.subarray(0, 8)], [3, 0, 0, 0, 9, 0, 0, 0]);
  assert.equal([...iterLinkInfo({ task: { pid: 0x102 } })!.subarray(0, 8)], [0, 0, 0, 0, 2, 1, 0, 0]);
});

test('netlink attributes: lengths, padding, nesting and parsing', () => {
  const a = nlU32(3, 0x01020304);
  assert.equal([...a], [8, 0, 3, 0, 4, 3, 2, 1]);
  const s = nlStr(1, 'bpf');
  assert.equal([...s], [8, 0, 1, 0, 0x62, 0x70, 0x66, 0]);
  const odd = nlAttr(7, new Uint8Array([1]));
  assert.is(odd.length, 8, 'padded to 4');
  assert.is(odd.readUInt16LE(0), 5, 'nla_len excludes the padding');
  const nested = nlNested(2, [a, s]);
  assert.is(nested.readUInt16LE(2), 2 | 0x8000, 'NLA_F_NESTED');
  const outer = nlParseAttrs(Buffer.concat([nested, odd]));
  assert.equal([...outer.keys()], [2, 7], 'the nested flag is masked off the type');
  const inner = nlParseAttrs(outer.get(2)!);
  assert.is(inner.get(3)!.readUInt32LE(0), 0x01020304);
  assert.is(inner.get(1)!.toString(), 'bpf\0');
});

test.run();
