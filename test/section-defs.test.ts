import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SECTION_DEFS, findSectionDef, sectionDefMatches, sectionTarget } from '../src/section-defs.js';
import { testIf } from './support/skip.js';

/** Entries in libbpf HEAD's section_defs[] (see libbpf-inventory.md: 116 at HEAD, 81 at v1.1). */
const HEAD_COUNT = 116;

/** Entries added to libbpf after v1.1 (the version Debian ships, used as the oracle below). */
const NEW_SINCE_1_1 = new Set([
  'uprobe.multi+', 'uretprobe.multi+', 'uprobe.session+', 'uprobe.multi.s+', 'uretprobe.multi.s+',
  'uprobe.session.s+', 'kprobe.session+', 'usdt.s+', 'tc/ingress', 'tc/egress', 'tcx/ingress',
  'tcx/egress', 'netkit/primary', 'netkit/peer', 'tracepoint.s+', 'tp.s+', 'raw_tracepoint.s+',
  'raw_tp.s+', 'tp_btf.s+', 'fsession+', 'fsession.s+', 'fsession.multi+', 'fsession.multi.s+',
  'fentry.multi+', 'fexit.multi+', 'fentry.multi.s+', 'fexit.multi.s+', 'sk_skb/verdict',
  'cgroup/connect_unix', 'cgroup/sendmsg_unix', 'cgroup/recvmsg_unix', 'cgroup/getpeername_unix',
  'cgroup/getsockname_unix', 'struct_ops.s+', 'netfilter',
]);

type Expect = [name: string, progType: string | undefined, attach?: string, auto?: string];

const CASES: Expect[] = [
  ['socket', 'SOCKET_FILTER'],
  ['socket/foo', undefined], // exact entries take no extras
  ['sk_reuseport/migrate', 'SK_REUSEPORT', 'SK_REUSEPORT_SELECT_OR_MIGRATE'],
  ['sk_reuseport', 'SK_REUSEPORT', 'SK_REUSEPORT_SELECT'],
  ['kprobe', 'KPROBE', undefined, 'kprobe'],
  ['kprobe/do_sys_open', 'KPROBE', undefined, 'kprobe'],
  ['kprobe/do_sys_open+0x10', 'KPROBE', undefined, 'kprobe'],
  ['kprobex', undefined],
  ['kretprobe/x', 'KPROBE', undefined, 'kprobe'],
  ['uprobe/usr/bin/bash:readline', 'KPROBE', undefined, 'uprobe'],
  ['uprobe.s/x', 'KPROBE', undefined, 'uprobe'],
  ['uretprobe.s', 'KPROBE', undefined, 'uprobe'],
  ['kprobe.multi/foo*', 'KPROBE', 'TRACE_KPROBE_MULTI', 'kprobe.multi'],
  ['kretprobe.multi/b?r', 'KPROBE', 'TRACE_KPROBE_MULTI', 'kprobe.multi'],
  ['kprobe.session/x', 'KPROBE', 'TRACE_KPROBE_SESSION', 'kprobe.session'],
  ['kprobe.multix', undefined],
  ['uprobe.multi/lib.so:f*', 'KPROBE', 'TRACE_UPROBE_MULTI', 'uprobe.multi'],
  ['uprobe.session.s/x:y', 'KPROBE', 'TRACE_UPROBE_SESSION', 'uprobe.multi'],
  ['ksyscall/openat', 'KPROBE', undefined, 'ksyscall'],
  ['kretsyscall', 'KPROBE', undefined, 'ksyscall'],
  ['usdt/path:provider:name', 'KPROBE', undefined, 'usdt'],
  ['usdt.s/p:q:r', 'KPROBE', undefined, 'usdt'],
  ['tc', 'SCHED_CLS'],
  ['tc/ingress', 'SCHED_CLS', 'TCX_INGRESS'],
  ['tc/egress', 'SCHED_CLS', 'TCX_EGRESS'],
  ['tc/other', undefined],
  ['tcx/ingress', 'SCHED_CLS', 'TCX_INGRESS'],
  ['classifier', 'SCHED_CLS'],
  ['action', 'SCHED_ACT'],
  ['netkit/peer', 'SCHED_CLS', 'NETKIT_PEER'],
  ['tp/sched/sched_switch', 'TRACEPOINT', undefined, 'tracepoint'],
  ['tp', 'TRACEPOINT', undefined, 'tracepoint'],
  ['tracepoint/syscalls/sys_enter_openat', 'TRACEPOINT', undefined, 'tracepoint'],
  ['tp.s/syscalls/sys_enter_openat', 'TRACEPOINT', undefined, 'tracepoint'],
  ['tp_btf/sched_switch', 'TRACING', 'TRACE_RAW_TP', 'trace'],
  ['tp_btf', 'TRACING', 'TRACE_RAW_TP', 'trace'],
  ['tp_btf.s/x', 'TRACING', 'TRACE_RAW_TP', 'trace'],
  ['tpx', undefined],
  ['raw_tp/sched_switch', 'RAW_TRACEPOINT', undefined, 'raw_tp'],
  ['raw_tracepoint.s/x', 'RAW_TRACEPOINT', undefined, 'raw_tp'],
  ['raw_tp.w/x', 'RAW_TRACEPOINT_WRITABLE', undefined, 'raw_tp'],
  ['raw_tracepoint.w', 'RAW_TRACEPOINT_WRITABLE', undefined, 'raw_tp'],
  ['fentry/do_unlinkat', 'TRACING', 'TRACE_FENTRY', 'trace'],
  ['fentry/bpf_testmod:bpf_testmod_test_read', 'TRACING', 'TRACE_FENTRY', 'trace'],
  ['fexit.s/x', 'TRACING', 'TRACE_FEXIT', 'trace'],
  ['fmod_ret/x', 'TRACING', 'MODIFY_RETURN', 'trace'],
  ['fsession/x', 'TRACING', 'TRACE_FSESSION', 'trace'],
  ['fentry.multi/bpf_fentry_test*', 'TRACING', 'TRACE_FENTRY_MULTI', 'tracing.multi'],
  ['fsession.multi.s/x', 'TRACING', 'TRACE_FSESSION_MULTI', 'tracing.multi'],
  ['freplace/handler', 'EXT', undefined, 'trace'],
  ['lsm/file_open', 'LSM', 'LSM_MAC', 'lsm'],
  ['lsm.s/bprm_committed_creds', 'LSM', 'LSM_MAC', 'lsm'],
  ['lsm_cgroup/socket_bind', 'LSM', 'LSM_CGROUP', undefined],
  ['iter/task', 'TRACING', 'TRACE_ITER', 'iter'],
  ['iter.s/task_vma', 'TRACING', 'TRACE_ITER', 'iter'],
  ['syscall', 'SYSCALL'],
  ['xdp', 'XDP', 'XDP'],
  ['xdp.frags', 'XDP', 'XDP'],
  ['xdp/devmap', 'XDP', 'XDP_DEVMAP'],
  ['xdp.frags/devmap', 'XDP', 'XDP_DEVMAP'],
  ['xdp.frags/cpumap', 'XDP', 'XDP_CPUMAP'],
  ['xdp/foo', undefined],
  ['xdp_foo', undefined],
  ['perf_event', 'PERF_EVENT'],
  ['lwt_seg6local', 'LWT_SEG6LOCAL'],
  ['sockops', 'SOCK_OPS', 'CGROUP_SOCK_OPS'],
  ['sk_skb', 'SK_SKB'],
  ['sk_skb/stream_parser', 'SK_SKB', 'SK_SKB_STREAM_PARSER'],
  ['sk_skb/stream_verdict', 'SK_SKB', 'SK_SKB_STREAM_VERDICT'],
  ['sk_skb/verdict', 'SK_SKB', 'SK_SKB_VERDICT'],
  ['sk_skb/other', undefined],
  ['sk_msg', 'SK_MSG', 'SK_MSG_VERDICT'],
  ['lirc_mode2', 'LIRC_MODE2', 'LIRC_MODE2'],
  ['flow_dissector', 'FLOW_DISSECTOR', 'FLOW_DISSECTOR'],
  ['cgroup_skb/ingress', 'CGROUP_SKB', 'CGROUP_INET_INGRESS'],
  ['cgroup/skb', 'CGROUP_SKB'],
  ['cgroup/sock', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_CREATE'],
  ['cgroup/sock_create', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_CREATE'],
  ['cgroup/sock_release', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_RELEASE'],
  ['cgroup/post_bind6', 'CGROUP_SOCK', 'CGROUP_INET6_POST_BIND'],
  ['cgroup/connect4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_CONNECT'],
  ['cgroup/connect_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_CONNECT'],
  ['cgroup/sendmsg6', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP6_SENDMSG'],
  ['cgroup/getsockname_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_GETSOCKNAME'],
  ['cgroup/sysctl', 'CGROUP_SYSCTL', 'CGROUP_SYSCTL'],
  ['cgroup/getsockopt', 'CGROUP_SOCKOPT', 'CGROUP_GETSOCKOPT'],
  ['cgroup/dev', 'CGROUP_DEVICE', 'CGROUP_DEVICE'],
  ['cgroup/unknown', undefined],
  ['struct_ops/tcp_init', 'STRUCT_OPS'],
  ['struct_ops.s/x', 'STRUCT_OPS'],
  ['struct_ops', 'STRUCT_OPS'],
  ['sk_lookup', 'SK_LOOKUP', 'SK_LOOKUP'],
  ['netfilter', 'NETFILTER', 'NETFILTER'],
  // Not program sections at all.
  ['.text', undefined],
  ['.maps', undefined],
  ['license', undefined],
  ['', undefined],
  ['?kprobe/x', undefined], // callers strip the '?' first
  ['KPROBE/x', undefined],
];

test(`the table has libbpf HEAD's ${HEAD_COUNT} entries, each unique`, () => {
  assert.is(SECTION_DEFS.length, HEAD_COUNT);
  assert.is(new Set(SECTION_DEFS.map((d) => d.sec)).size, HEAD_COUNT);
  assert.is(NEW_SINCE_1_1.size, HEAD_COUNT - 81);
  for (const sec of NEW_SINCE_1_1) assert.ok(SECTION_DEFS.some((d) => d.sec === sec), sec);
  for (const d of SECTION_DEFS) {
    assert.match(d.progType, /^BPF_PROG_TYPE_[A-Z0-9_]+$/);
    if (d.expectedAttachType !== undefined) assert.match(d.expectedAttachType, /^BPF_[A-Z0-9_]+$/);
    assert.ok(Object.isFrozen(d) && Object.isFrozen(d.flags), d.sec);
  }
});

test('names resolve to the expected program type, attach type and auto-attach', () => {
  for (const [name, progType, attach, auto] of CASES) {
    const def = findSectionDef(name);
    if (progType === undefined) {
      assert.is(def, undefined, `${name} should not match, got ${def?.sec}`);
      continue;
    }
    assert.ok(def, `${name} should match`);
    assert.is(def.progType, `BPF_PROG_TYPE_${progType}`, name);
    assert.is(def.expectedAttachType, attach === undefined ? undefined : `BPF_${attach}`, name);
    if (auto !== undefined || def.sec.endsWith('+')) assert.is(def.autoAttach, auto, name);
  }
});

test('flags', () => {
  const flags = (name: string) => findSectionDef(name)!.flags;
  assert.equal(flags('socket'), {});
  assert.equal(flags('xdp'), { attachable: true, expAttachOpt: true });
  assert.equal(flags('xdp/devmap'), { attachable: true });
  assert.equal(flags('xdp.frags/devmap'), { xdpFrags: true });
  assert.equal(flags('fentry/x'), { attachBtf: true });
  assert.equal(flags('fentry.s/x'), { attachBtf: true, sleepable: true });
  assert.equal(flags('fentry.multi/x'), {});
  assert.equal(flags('lsm_cgroup/x'), { attachBtf: true });
  assert.equal(flags('usdt/x'), { usdt: true });
  assert.equal(flags('usdt.s/x'), { usdt: true, sleepable: true });
  assert.equal(flags('syscall'), { sleepable: true });
  assert.equal(flags('cgroup/sock'), { attachable: true, expAttachOpt: true });
  assert.equal(flags('cgroup/sock_create'), { attachable: true });
  assert.equal(flags('tp.s/a/b'), { sleepable: true });
  // Every '.s' entry, and only those plus 'syscall', is sleepable.
  for (const d of SECTION_DEFS) {
    assert.is(!!d.flags.sleepable, /\.s\+$/.test(d.sec) || d.sec === 'syscall', d.sec);
  }
});

test('sectionTarget', () => {
  const target = (name: string) => sectionTarget(findSectionDef(name)!, name);
  assert.is(target('tp/sched/sched_switch'), 'sched/sched_switch');
  assert.is(target('tp'), undefined);
  assert.is(target('kprobe/'), '');
  assert.is(target('uprobe.s//usr/lib/libc.so.6:malloc'), '/usr/lib/libc.so.6:malloc');
  assert.is(target('fentry/bpf_testmod:fn'), 'bpf_testmod:fn');
  assert.is(target('kprobe.multi/foo*'), 'foo*');
  assert.is(target('xdp.frags/devmap'), undefined);
  assert.is(target('sk_skb/stream_parser'), undefined);
  assert.is(target('socket'), undefined);
  // A def that does not match the name yields nothing.
  assert.is(sectionTarget(findSectionDef('kprobe/x')!, 'uprobe/x'), undefined);
  // Trailing-'/' definitions (none in the table today, but libbpf supports them) are prefix matches.
  const prefixDef = { ...findSectionDef('socket')!, sec: 'custom/' };
  assert.ok(sectionDefMatches(prefixDef, 'custom/a/b'));
  assert.not.ok(sectionDefMatches(prefixDef, 'custom'));
  assert.is(sectionTarget(prefixDef, 'custom/a/b'), 'a/b');
});

// --- differential check against the system libbpf -------------------------------------------

/** Enumerator name → value of `enum <name>` in a C header (sequential with optional `= N`). */
function parseEnum(header: string, name: string): Map<string, number> {
  const body = new RegExp(`enum ${name} \\{([\\s\\S]*?)\\};`).exec(header)?.[1];
  if (!body) throw new Error(`enum ${name} not found`);
  const values = new Map<string, number>();
  let next = 0;
  for (const item of body.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '').split(',')) {
    const m = /^\s*(\w+)\s*(?:=\s*(\w+))?\s*$/.exec(item);
    if (!m) continue;
    const v = m[2] === undefined ? next : /^\d/.test(m[2]) ? Number(m[2]) : values.get(m[2])!;
    values.set(m[1]!, v);
    next = v + 1;
  }
  return values;
}

/** Section names exercising every entry: exact, with extras, and near misses. */
function probeNames(): string[] {
  const names = new Set(CASES.map(([n]) => n).filter((n) => n !== ''));
  for (const d of SECTION_DEFS) {
    const base = d.sec.replace(/[+/]$/, '');
    for (const n of [base, `${base}/x`, `${base}/a/b:c`, `${base}x`, `${base}.s`, `${base}_`, `${base}/`]) names.add(n);
  }
  return [...names];
}

/** The libbpf oracle's executable, or why there is none (the test is then skipped with that reason). */
function setupOracle(): { exe?: string; why: string } {
  const why = (reason: string) => ({ why: `needs the libbpf oracle: ${reason}` });
  if (!existsSync('/usr/include/bpf/libbpf.h')) return why('/usr/include/bpf/libbpf.h not installed');
  if (!existsSync('/usr/include/linux/bpf.h')) return why('/usr/include/linux/bpf.h not installed');
  const build = fileURLToPath(new URL('./.build/', import.meta.url));
  mkdirSync(build, { recursive: true });
  const exe = `${build}sec-types`;
  try {
    execFileSync('gcc', ['-O1', '-o', exe, fileURLToPath(new URL('./ref/sec-types.c', import.meta.url)), '-lbpf'], {
      stdio: 'pipe',
    });
  } catch (err) {
    return why(`cannot build test/ref/sec-types.c with gcc -lbpf (${(err as Error).message.split('\n')[0]})`);
  }
  return { exe, why: '' };
}
const oracle = setupOracle();

testIf(oracle.exe !== undefined, oracle.why)('differential: agrees with the system libbpf (1.1) on every name it knows', () => {
  const exe = oracle.exe!;
  const header = readFileSync('/usr/include/linux/bpf.h', 'utf8');
  const progTypes = parseEnum(header, 'bpf_prog_type');
  const attachTypes = parseEnum(header, 'bpf_attach_type');
  const names = probeNames();
  const lines = execFileSync(exe, names).toString().trim().split('\n');
  assert.is(lines.length, names.length);
  let compared = 0;
  let newer = 0;
  names.forEach((name, i) => {
    const ref = lines[i]!;
    const def = findSectionDef(name);
    if (def && NEW_SINCE_1_1.has(def.sec)) {
      // 1.1 lacks this entry, and no older entry may claim the name instead.
      assert.is(ref, 'none', `${name}: libbpf 1.1 matched it, we chose the post-1.1 '${def.sec}'`);
      newer++;
      return;
    }
    if (!def) {
      assert.is(ref, 'none', `${name}: libbpf 1.1 matched it, we did not`);
      return;
    }
    const prog = progTypes.get(def.progType);
    const attach = def.expectedAttachType === undefined ? 0 : attachTypes.get(def.expectedAttachType);
    assert.ok(prog !== undefined && attach !== undefined, `${name}: ${def.progType}/${def.expectedAttachType} not in linux/bpf.h`);
    assert.is(ref, `${prog} ${attach}`, `${name} (matched '${def.sec}')`);
    compared++;
  });
  console.log(`  libbpf 1.1 oracle: ${names.length} names, ${compared} matched entries compared, ${newer} post-1.1`);
  assert.ok(compared > 150);
});

test.run();
