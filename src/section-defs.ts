// libbpf's SEC() table: which program type, expected attach type, load flags and auto-attach
// mechanism a section name selects. Mirrors libbpf HEAD (1.8 development) entry for entry and in
// the same order, because lookup is "first match wins" and users rely on libbpf's exact behaviour.

/**
 * The auto-attach mechanism a section gets (libbpf's prog_attach_fn), named after libbpf's
 * attach_<name>() functions:
 * - 'kprobe': kprobe/kretprobe through a perf_event (tracefs on old kernels) ('kprobe/func[+off]')
 * - 'uprobe': uprobe/uretprobe ('uprobe/path:func[+off]'), also the .s variants
 * - 'kprobe.multi': BPF_TRACE_KPROBE_MULTI link over a glob ('kprobe.multi/pattern')
 * - 'kprobe.session': kprobe.multi link in session mode
 * - 'uprobe.multi': BPF_TRACE_UPROBE_MULTI link ('uprobe.multi/path:pattern'); uprobe.session
 *   uses it too, with session mode chosen by its expected attach type
 * - 'ksyscall': kprobe on the arch syscall wrapper ('ksyscall/name')
 * - 'usdt': USDT probes ('usdt/path:provider:name')
 * - 'tracepoint': perf_event tracepoint ('tp/category/name')
 * - 'raw_tp': BPF_RAW_TRACEPOINT_OPEN ('raw_tp/name')
 * - 'trace': BPF link for BTF-attached tracing (fentry/fexit/fmod_ret/fsession/tp_btf/freplace)
 * - 'lsm': BPF link for LSM programs
 * - 'iter': BPF iterator link
 * - 'tracing.multi': BPF_TRACE_{FENTRY,FEXIT,FSESSION}_MULTI link over a glob
 */
export type AutoAttach =
  | 'kprobe'
  | 'uprobe'
  | 'kprobe.multi'
  | 'kprobe.session'
  | 'uprobe.multi'
  | 'ksyscall'
  | 'usdt'
  | 'tracepoint'
  | 'raw_tp'
  | 'trace'
  | 'lsm'
  | 'iter'
  | 'tracing.multi';

export interface SectionFlags {
  /** Drop expected_attach_type when the kernel predates it (libbpf SEC_EXP_ATTACH_OPT). */
  expAttachOpt?: boolean;
  /** Legacy marker used only by libbpf_attach_type_by_name() (SEC_ATTACHABLE). */
  attachable?: boolean;
  /** The '/target' part names a BTF function/type resolved to attach_btf_id at load (SEC_ATTACH_BTF). */
  attachBtf?: boolean;
  /** Load with BPF_F_SLEEPABLE (SEC_SLEEPABLE). */
  sleepable?: boolean;
  /** Load with BPF_F_XDP_HAS_FRAGS (SEC_XDP_FRAGS). */
  xdpFrags?: boolean;
  /** Switch to BPF_TRACE_UPROBE_MULTI when the kernel has uprobe_multi links (SEC_USDT). */
  usdt?: boolean;
}

export interface SectionDef {
  /** as written in the libbpf table, e.g. 'kprobe+', 'tc/ingress', 'xdp.frags/devmap', 'socket' */
  sec: string;
  /** kernel enum name, e.g. 'BPF_PROG_TYPE_KPROBE' */
  progType: string;
  /** e.g. 'BPF_TRACE_FENTRY'; undefined = 0 */
  expectedAttachType: string | undefined;
  flags: Readonly<SectionFlags>;
  /** which auto-attach mechanism libbpf uses, or undefined if none (see AutoAttach) */
  autoAttach: AutoAttach | undefined;
}

const NONE: SectionFlags = Object.freeze({});
const ATTACHABLE: SectionFlags = Object.freeze({ attachable: true });
const ATTACHABLE_OPT: SectionFlags = Object.freeze({ attachable: true, expAttachOpt: true });
const BTF: SectionFlags = Object.freeze({ attachBtf: true });
const SLEEPABLE: SectionFlags = Object.freeze({ sleepable: true });
const BTF_SLEEPABLE: SectionFlags = Object.freeze({ attachBtf: true, sleepable: true });
const XDP_FRAGS: SectionFlags = Object.freeze({ xdpFrags: true });
const USDT: SectionFlags = Object.freeze({ usdt: true });
const USDT_SLEEPABLE: SectionFlags = Object.freeze({ usdt: true, sleepable: true });

/** Program type and attach type are given without their BPF_PROG_TYPE_ / BPF_ prefixes. */
function d(sec: string, progType: string, attachType: string | undefined, flags: SectionFlags, autoAttach?: AutoAttach): SectionDef {
  return Object.freeze({
    sec,
    progType: `BPF_PROG_TYPE_${progType}`,
    expectedAttachType: attachType === undefined ? undefined : `BPF_${attachType}`,
    flags,
    autoAttach,
  });
}

export const SECTION_DEFS: readonly SectionDef[] = Object.freeze([
  d('socket', 'SOCKET_FILTER', undefined, NONE),
  d('sk_reuseport/migrate', 'SK_REUSEPORT', 'SK_REUSEPORT_SELECT_OR_MIGRATE', ATTACHABLE),
  d('sk_reuseport', 'SK_REUSEPORT', 'SK_REUSEPORT_SELECT', ATTACHABLE),
  // Probes. All are BPF_PROG_TYPE_KPROBE; the attach mechanism and the '/extras' syntax differ.
  d('kprobe+', 'KPROBE', undefined, NONE, 'kprobe'),
  d('uprobe+', 'KPROBE', undefined, NONE, 'uprobe'),
  d('uprobe.s+', 'KPROBE', undefined, SLEEPABLE, 'uprobe'),
  d('kretprobe+', 'KPROBE', undefined, NONE, 'kprobe'),
  d('uretprobe+', 'KPROBE', undefined, NONE, 'uprobe'),
  d('uretprobe.s+', 'KPROBE', undefined, SLEEPABLE, 'uprobe'),
  d('kprobe.multi+', 'KPROBE', 'TRACE_KPROBE_MULTI', NONE, 'kprobe.multi'),
  d('kretprobe.multi+', 'KPROBE', 'TRACE_KPROBE_MULTI', NONE, 'kprobe.multi'),
  d('kprobe.session+', 'KPROBE', 'TRACE_KPROBE_SESSION', NONE, 'kprobe.session'),
  d('uprobe.multi+', 'KPROBE', 'TRACE_UPROBE_MULTI', NONE, 'uprobe.multi'),
  d('uretprobe.multi+', 'KPROBE', 'TRACE_UPROBE_MULTI', NONE, 'uprobe.multi'),
  d('uprobe.session+', 'KPROBE', 'TRACE_UPROBE_SESSION', NONE, 'uprobe.multi'),
  d('uprobe.multi.s+', 'KPROBE', 'TRACE_UPROBE_MULTI', SLEEPABLE, 'uprobe.multi'),
  d('uretprobe.multi.s+', 'KPROBE', 'TRACE_UPROBE_MULTI', SLEEPABLE, 'uprobe.multi'),
  d('uprobe.session.s+', 'KPROBE', 'TRACE_UPROBE_SESSION', SLEEPABLE, 'uprobe.multi'),
  d('ksyscall+', 'KPROBE', undefined, NONE, 'ksyscall'),
  d('kretsyscall+', 'KPROBE', undefined, NONE, 'ksyscall'),
  d('usdt+', 'KPROBE', undefined, USDT, 'usdt'),
  d('usdt.s+', 'KPROBE', undefined, USDT_SLEEPABLE, 'usdt'),
  // tc/ingress and tc/egress are aliases of tcx; bare tc, classifier and action are the legacy
  // netlink-attached (cls_bpf/act_bpf) forms.
  d('tc/ingress', 'SCHED_CLS', 'TCX_INGRESS', NONE),
  d('tc/egress', 'SCHED_CLS', 'TCX_EGRESS', NONE),
  d('tcx/ingress', 'SCHED_CLS', 'TCX_INGRESS', NONE),
  d('tcx/egress', 'SCHED_CLS', 'TCX_EGRESS', NONE),
  d('tc', 'SCHED_CLS', undefined, NONE),
  d('classifier', 'SCHED_CLS', undefined, NONE),
  d('action', 'SCHED_ACT', undefined, NONE),
  d('netkit/primary', 'SCHED_CLS', 'NETKIT_PRIMARY', NONE),
  d('netkit/peer', 'SCHED_CLS', 'NETKIT_PEER', NONE),
  // Tracepoints and raw tracepoints; '.w' is the writable-context variant.
  d('tracepoint+', 'TRACEPOINT', undefined, NONE, 'tracepoint'),
  d('tp+', 'TRACEPOINT', undefined, NONE, 'tracepoint'),
  d('tracepoint.s+', 'TRACEPOINT', undefined, SLEEPABLE, 'tracepoint'),
  d('tp.s+', 'TRACEPOINT', undefined, SLEEPABLE, 'tracepoint'),
  d('raw_tracepoint+', 'RAW_TRACEPOINT', undefined, NONE, 'raw_tp'),
  d('raw_tp+', 'RAW_TRACEPOINT', undefined, NONE, 'raw_tp'),
  d('raw_tracepoint.s+', 'RAW_TRACEPOINT', undefined, SLEEPABLE, 'raw_tp'),
  d('raw_tp.s+', 'RAW_TRACEPOINT', undefined, SLEEPABLE, 'raw_tp'),
  d('raw_tracepoint.w+', 'RAW_TRACEPOINT_WRITABLE', undefined, NONE, 'raw_tp'),
  d('raw_tp.w+', 'RAW_TRACEPOINT_WRITABLE', undefined, NONE, 'raw_tp'),
  // BTF-attached tracing: the '/target' is resolved to attach_btf_id when the program is loaded.
  d('tp_btf+', 'TRACING', 'TRACE_RAW_TP', BTF, 'trace'),
  d('tp_btf.s+', 'TRACING', 'TRACE_RAW_TP', BTF_SLEEPABLE, 'trace'),
  d('fentry+', 'TRACING', 'TRACE_FENTRY', BTF, 'trace'),
  d('fmod_ret+', 'TRACING', 'MODIFY_RETURN', BTF, 'trace'),
  d('fexit+', 'TRACING', 'TRACE_FEXIT', BTF, 'trace'),
  d('fentry.s+', 'TRACING', 'TRACE_FENTRY', BTF_SLEEPABLE, 'trace'),
  d('fmod_ret.s+', 'TRACING', 'MODIFY_RETURN', BTF_SLEEPABLE, 'trace'),
  d('fexit.s+', 'TRACING', 'TRACE_FEXIT', BTF_SLEEPABLE, 'trace'),
  d('fsession+', 'TRACING', 'TRACE_FSESSION', BTF, 'trace'),
  d('fsession.s+', 'TRACING', 'TRACE_FSESSION', BTF_SLEEPABLE, 'trace'),
  // The multi-function variants take a glob, so they are not SEC_ATTACH_BTF.
  d('fsession.multi+', 'TRACING', 'TRACE_FSESSION_MULTI', NONE, 'tracing.multi'),
  d('fsession.multi.s+', 'TRACING', 'TRACE_FSESSION_MULTI', SLEEPABLE, 'tracing.multi'),
  d('fentry.multi+', 'TRACING', 'TRACE_FENTRY_MULTI', NONE, 'tracing.multi'),
  d('fexit.multi+', 'TRACING', 'TRACE_FEXIT_MULTI', NONE, 'tracing.multi'),
  d('fentry.multi.s+', 'TRACING', 'TRACE_FENTRY_MULTI', SLEEPABLE, 'tracing.multi'),
  d('fexit.multi.s+', 'TRACING', 'TRACE_FEXIT_MULTI', SLEEPABLE, 'tracing.multi'),
  d('freplace+', 'EXT', undefined, BTF, 'trace'),
  d('lsm+', 'LSM', 'LSM_MAC', BTF, 'lsm'),
  d('lsm.s+', 'LSM', 'LSM_MAC', BTF_SLEEPABLE, 'lsm'),
  d('lsm_cgroup+', 'LSM', 'LSM_CGROUP', BTF),
  d('iter+', 'TRACING', 'TRACE_ITER', BTF, 'iter'),
  d('iter.s+', 'TRACING', 'TRACE_ITER', BTF_SLEEPABLE, 'iter'),
  d('syscall', 'SYSCALL', undefined, SLEEPABLE),
  // XDP: 'xdp/devmap' etc. are exact names (programs run from a devmap/cpumap entry), not
  // 'xdp' plus a target.
  d('xdp.frags/devmap', 'XDP', 'XDP_DEVMAP', XDP_FRAGS),
  d('xdp/devmap', 'XDP', 'XDP_DEVMAP', ATTACHABLE),
  d('xdp.frags/cpumap', 'XDP', 'XDP_CPUMAP', XDP_FRAGS),
  d('xdp/cpumap', 'XDP', 'XDP_CPUMAP', ATTACHABLE),
  d('xdp.frags', 'XDP', 'XDP', XDP_FRAGS),
  d('xdp', 'XDP', 'XDP', ATTACHABLE_OPT),
  // Networking and cgroup hooks: exact names only, no '/extras'.
  d('perf_event', 'PERF_EVENT', undefined, NONE),
  d('lwt_in', 'LWT_IN', undefined, NONE),
  d('lwt_out', 'LWT_OUT', undefined, NONE),
  d('lwt_xmit', 'LWT_XMIT', undefined, NONE),
  d('lwt_seg6local', 'LWT_SEG6LOCAL', undefined, NONE),
  d('sockops', 'SOCK_OPS', 'CGROUP_SOCK_OPS', ATTACHABLE_OPT),
  d('sk_skb/stream_parser', 'SK_SKB', 'SK_SKB_STREAM_PARSER', ATTACHABLE_OPT),
  d('sk_skb/stream_verdict', 'SK_SKB', 'SK_SKB_STREAM_VERDICT', ATTACHABLE_OPT),
  d('sk_skb/verdict', 'SK_SKB', 'SK_SKB_VERDICT', ATTACHABLE_OPT),
  d('sk_skb', 'SK_SKB', undefined, NONE),
  d('sk_msg', 'SK_MSG', 'SK_MSG_VERDICT', ATTACHABLE_OPT),
  d('lirc_mode2', 'LIRC_MODE2', 'LIRC_MODE2', ATTACHABLE_OPT),
  d('flow_dissector', 'FLOW_DISSECTOR', 'FLOW_DISSECTOR', ATTACHABLE_OPT),
  d('cgroup_skb/ingress', 'CGROUP_SKB', 'CGROUP_INET_INGRESS', ATTACHABLE_OPT),
  d('cgroup_skb/egress', 'CGROUP_SKB', 'CGROUP_INET_EGRESS', ATTACHABLE_OPT),
  d('cgroup/skb', 'CGROUP_SKB', undefined, NONE),
  d('cgroup/sock_create', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_CREATE', ATTACHABLE),
  d('cgroup/sock_release', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_RELEASE', ATTACHABLE),
  d('cgroup/sock', 'CGROUP_SOCK', 'CGROUP_INET_SOCK_CREATE', ATTACHABLE_OPT),
  d('cgroup/post_bind4', 'CGROUP_SOCK', 'CGROUP_INET4_POST_BIND', ATTACHABLE),
  d('cgroup/post_bind6', 'CGROUP_SOCK', 'CGROUP_INET6_POST_BIND', ATTACHABLE),
  d('cgroup/bind4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_BIND', ATTACHABLE),
  d('cgroup/bind6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_BIND', ATTACHABLE),
  d('cgroup/connect4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_CONNECT', ATTACHABLE),
  d('cgroup/connect6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_CONNECT', ATTACHABLE),
  d('cgroup/connect_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_CONNECT', ATTACHABLE),
  d('cgroup/sendmsg4', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP4_SENDMSG', ATTACHABLE),
  d('cgroup/sendmsg6', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP6_SENDMSG', ATTACHABLE),
  d('cgroup/sendmsg_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_SENDMSG', ATTACHABLE),
  d('cgroup/recvmsg4', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP4_RECVMSG', ATTACHABLE),
  d('cgroup/recvmsg6', 'CGROUP_SOCK_ADDR', 'CGROUP_UDP6_RECVMSG', ATTACHABLE),
  d('cgroup/recvmsg_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_RECVMSG', ATTACHABLE),
  d('cgroup/getpeername4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_GETPEERNAME', ATTACHABLE),
  d('cgroup/getpeername6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_GETPEERNAME', ATTACHABLE),
  d('cgroup/getpeername_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_GETPEERNAME', ATTACHABLE),
  d('cgroup/getsockname4', 'CGROUP_SOCK_ADDR', 'CGROUP_INET4_GETSOCKNAME', ATTACHABLE),
  d('cgroup/getsockname6', 'CGROUP_SOCK_ADDR', 'CGROUP_INET6_GETSOCKNAME', ATTACHABLE),
  d('cgroup/getsockname_unix', 'CGROUP_SOCK_ADDR', 'CGROUP_UNIX_GETSOCKNAME', ATTACHABLE),
  d('cgroup/sysctl', 'CGROUP_SYSCTL', 'CGROUP_SYSCTL', ATTACHABLE),
  d('cgroup/getsockopt', 'CGROUP_SOCKOPT', 'CGROUP_GETSOCKOPT', ATTACHABLE),
  d('cgroup/setsockopt', 'CGROUP_SOCKOPT', 'CGROUP_SETSOCKOPT', ATTACHABLE),
  d('cgroup/dev', 'CGROUP_DEVICE', 'CGROUP_DEVICE', ATTACHABLE_OPT),
  // The expected attach type of struct_ops programs is the struct member index, set at load.
  d('struct_ops+', 'STRUCT_OPS', undefined, NONE),
  d('struct_ops.s+', 'STRUCT_OPS', undefined, SLEEPABLE),
  d('sk_lookup', 'SK_LOOKUP', 'SK_LOOKUP', ATTACHABLE),
  d('netfilter', 'NETFILTER', 'NETFILTER', NONE),
]);

/**
 * libbpf's matching rules: 'x+' matches 'x' exactly or 'x/<anything>'; a trailing '/' matches any
 * name with that prefix; anything else must match exactly.
 */
export function sectionDefMatches(def: SectionDef, secName: string): boolean {
  const pattern = def.sec;
  if (pattern.endsWith('/')) return secName.startsWith(pattern);
  if (pattern.endsWith('+')) {
    const prefix = pattern.slice(0, -1);
    return secName === prefix || (secName.startsWith(prefix) && secName[prefix.length] === '/');
  }
  return secName === pattern;
}

/** First match in table order, with libbpf's rules ('x' exact, 'x+' exact or 'x/...', trailing '/' prefix). Input is the section name without a leading '?'. */
export function findSectionDef(secName: string): SectionDef | undefined {
  for (const def of SECTION_DEFS) if (sectionDefMatches(def, secName)) return def;
  return undefined;
}

/**
 * The part after the prefix, e.g. 'sched/sched_switch' for 'tp/sched/sched_switch' (undefined if
 * none). An empty string means the name ended in '/' ('kprobe/'), which the attach step rejects.
 * Also undefined when `secName` does not match `def`.
 */
export function sectionTarget(def: SectionDef, secName: string): string | undefined {
  if (!sectionDefMatches(def, secName)) return undefined;
  const pattern = def.sec;
  if (pattern.endsWith('/')) return secName.slice(pattern.length);
  if (pattern.endsWith('+')) {
    const prefix = pattern.slice(0, -1);
    return secName.length > prefix.length ? secName.slice(prefix.length + 1) : undefined;
  }
  return undefined;
}
