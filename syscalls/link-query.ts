// What is attached where: BPF_OBJ_GET_INFO_BY_FD for links with their type-specific fields and
// names (info.ts's linkInfo returns only the common part), and BPF_PROG_QUERY for the programs
// and links on a cgroup, interface or namespace hook, in execution order.

import { Attr, StructWriter } from './attr.js';
import { BPF_LINK_INFO, BPF_LINK_INFO_SIZE } from './generated/bpf-attr.js';
import { BPF_ATTACH_TYPE_NAMES, BPF_CMD, BPF_LINK_TYPE, BPF_LINK_TYPE_NAMES } from './generated/bpf-enums.js';
import { syscallError } from './errors.js';

type W = StructWriter<typeof BPF_LINK_INFO>;

function getInfo(fd: number, w: W): void {
  const a = new Attr('OBJ_GET_INFO_BY_FD');
  a.set('bpf_fd', fd).set('info_len', w.buf.length).ptr('info', w.buf);
  const r = a.call(BPF_CMD.OBJ_GET_INFO_BY_FD);
  w.done();
  if (r < 0) throw syscallError('bpf', 'BPF_OBJ_GET_INFO_BY_FD', -r, { what: `link fd ${fd}` });
}

function cstr(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

/** enum bpf_perf_event_type, lower-case. */
const PERF_EVENT_TYPES = ['unspec', 'uprobe', 'uretprobe', 'kprobe', 'kretprobe', 'tracepoint', 'event'] as const;
export type PerfEventLinkType = (typeof PERF_EVENT_TYPES)[number];

export interface LinkDetails {
  id: number;
  /** enum bpf_link_type. */
  type: number;
  /** e.g. 'BPF_LINK_TYPE_XDP'. */
  typeName: string;
  progId: number;
  /** The attach type of cgroup, netns, tcx, tracing, netkit and sockmap links. */
  attachType?: number;
  attachTypeName?: string;
  /** raw tracepoint name, tracepoint of a perf_event link. */
  tpName?: string;
  ifindex?: number;
  cgroupId?: bigint;
  netnsIno?: number;
  mapId?: number;
  targetObjId?: number;
  targetBtfId?: number;
  iterTarget?: string;
  cookie?: bigint;
  netfilter?: { pf: number; hooknum: number; priority: number; flags: number };
  perfEvent?: {
    type: PerfEventLinkType;
    /** uprobe binary or kprobe function. */
    name?: string;
    offset?: number;
    addr?: bigint;
    refCtrOffset?: bigint;
    /** perf event type/config of a generic ('event') perf link. */
    eventType?: number;
    config?: bigint;
  };
  kprobeMulti?: { count: number; flags: number; missed: bigint };
  uprobeMulti?: { path?: string; count: number; flags: number; pid: number };
  /** The whole struct bpf_link_info. */
  raw: Uint8Array;
}

/** BPF_OBJ_GET_INFO_BY_FD on a link, decoding the fields of its type (names fetched with a second call). */
export function linkDetails(fd: number): LinkDetails {
  let w: W = new StructWriter(BPF_LINK_INFO, BPF_LINK_INFO_SIZE);
  getInfo(fd, w);
  const type = w.get('type');
  const T = BPF_LINK_TYPE;
  // Types whose names come back only through a buffer we supply.
  let nameBuf: Buffer | undefined;
  if (type === T.RAW_TRACEPOINT && w.get('raw_tracepoint_tp_name_len') > 0) {
    nameBuf = Buffer.alloc(w.get('raw_tracepoint_tp_name_len'));
    w = new StructWriter(BPF_LINK_INFO, BPF_LINK_INFO_SIZE);
    w.ptr('raw_tracepoint_tp_name', nameBuf).set('raw_tracepoint_tp_name_len', nameBuf.length);
    getInfo(fd, w);
  } else if (type === T.ITER && w.get('iter_target_name_len') > 0) {
    nameBuf = Buffer.alloc(w.get('iter_target_name_len'));
    w = new StructWriter(BPF_LINK_INFO, BPF_LINK_INFO_SIZE);
    w.ptr('iter_target_name', nameBuf).set('iter_target_name_len', nameBuf.length);
    getInfo(fd, w);
  } else if (type === T.PERF_EVENT) {
    const pt = w.get('perf_event_type');
    nameBuf = Buffer.alloc(4096);
    w = new StructWriter(BPF_LINK_INFO, BPF_LINK_INFO_SIZE);
    if (pt === 1 || pt === 2) w.ptr('perf_event_uprobe_file_name', nameBuf).set('perf_event_uprobe_name_len', nameBuf.length);
    else if (pt === 3 || pt === 4) w.ptr('perf_event_kprobe_func_name', nameBuf).set('perf_event_kprobe_name_len', nameBuf.length);
    else if (pt === 5) w.ptr('perf_event_tracepoint_tp_name', nameBuf).set('perf_event_tracepoint_name_len', nameBuf.length);
    else nameBuf = undefined;
    getInfo(fd, w);
  } else if (type === T.UPROBE_MULTI && w.get('uprobe_multi_path_size') > 0) {
    nameBuf = Buffer.alloc(w.get('uprobe_multi_path_size'));
    w = new StructWriter(BPF_LINK_INFO, BPF_LINK_INFO_SIZE);
    w.ptr('uprobe_multi_path', nameBuf).set('uprobe_multi_path_size', nameBuf.length);
    getInfo(fd, w);
  }
  const d: LinkDetails = {
    id: w.get('id'), type, typeName: BPF_LINK_TYPE_NAMES[type] ?? `BPF_LINK_TYPE_#${type}`, progId: w.get('prog_id'), raw: w.buf,
  };
  const setAttach = (n: number): void => {
    d.attachType = n;
    d.attachTypeName = BPF_ATTACH_TYPE_NAMES[n] ?? `BPF_#${n}`;
  };
  switch (type) {
    case T.RAW_TRACEPOINT:
      if (nameBuf) d.tpName = cstr(nameBuf);
      d.cookie = w.getBig('raw_tracepoint_cookie');
      break;
    case T.TRACING:
      setAttach(w.get('tracing_attach_type'));
      d.targetObjId = w.get('tracing_target_obj_id');
      d.targetBtfId = w.get('tracing_target_btf_id');
      d.cookie = w.getBig('tracing_cookie');
      break;
    case T.CGROUP:
      d.cgroupId = w.getBig('cgroup_cgroup_id');
      setAttach(w.get('cgroup_attach_type'));
      break;
    case T.ITER:
      if (nameBuf) d.iterTarget = cstr(nameBuf);
      if (w.get('iter_map_map_id')) d.mapId = w.get('iter_map_map_id');
      break;
    case T.NETNS:
      d.netnsIno = w.get('netns_netns_ino');
      setAttach(w.get('netns_attach_type'));
      break;
    case T.XDP:
      d.ifindex = w.get('xdp_ifindex');
      break;
    case T.STRUCT_OPS:
      d.mapId = w.get('struct_ops_map_id');
      break;
    case T.NETFILTER:
      d.netfilter = {
        pf: w.get('netfilter_pf'), hooknum: w.get('netfilter_hooknum'),
        priority: Number(BigInt.asIntN(32, BigInt(w.get('netfilter_priority')))), flags: w.get('netfilter_flags'),
      };
      break;
    case T.TCX:
      d.ifindex = w.get('tcx_ifindex');
      setAttach(w.get('tcx_attach_type'));
      break;
    case T.NETKIT:
      d.ifindex = w.get('netkit_ifindex');
      setAttach(w.get('netkit_attach_type'));
      break;
    case T.SOCKMAP:
      d.mapId = w.get('sockmap_map_id');
      setAttach(w.get('sockmap_attach_type'));
      break;
    case T.KPROBE_MULTI:
      d.kprobeMulti = { count: w.get('kprobe_multi_count'), flags: w.get('kprobe_multi_flags'), missed: w.getBig('kprobe_multi_missed') };
      break;
    case T.UPROBE_MULTI:
      d.uprobeMulti = {
        path: nameBuf ? cstr(nameBuf) : undefined, count: w.get('uprobe_multi_count'), flags: w.get('uprobe_multi_flags'),
        pid: w.get('uprobe_multi_pid'),
      };
      break;
    case T.PERF_EVENT: {
      const pt = w.get('perf_event_type');
      const pe: NonNullable<LinkDetails['perfEvent']> = { type: PERF_EVENT_TYPES[pt] ?? 'unspec' };
      if (pt === 1 || pt === 2) {
        if (nameBuf) pe.name = cstr(nameBuf);
        pe.offset = w.get('perf_event_uprobe_offset');
        pe.refCtrOffset = w.getBig('perf_event_uprobe_ref_ctr_offset');
        d.cookie = w.getBig('perf_event_uprobe_cookie');
      } else if (pt === 3 || pt === 4) {
        if (nameBuf) pe.name = cstr(nameBuf);
        pe.offset = w.get('perf_event_kprobe_offset');
        pe.addr = w.getBig('perf_event_kprobe_addr');
        d.cookie = w.getBig('perf_event_kprobe_cookie');
      } else if (pt === 5) {
        if (nameBuf) d.tpName = cstr(nameBuf);
        d.cookie = w.getBig('perf_event_tracepoint_cookie');
      } else if (pt === 6) {
        pe.config = w.getBig('perf_event_event_config');
        pe.eventType = w.get('perf_event_event_type');
        d.cookie = w.getBig('perf_event_event_cookie');
      }
      d.perfEvent = pe;
      break;
    }
    default:
      break;
  }
  return d;
}

export interface ProgQueryResult {
  /** Program ids in execution order. */
  progIds: number[];
  /** For mprog hooks (tcx, netkit, cgroup on 6.11+): the link id of each program (0 when attached without a link). */
  linkIds: number[];
  /** Flags of the hook (BPF_F_ALLOW_MULTI, …) for cgroups attached with PROG_ATTACH. */
  attachFlags: number;
  /** mprog revision, to pass as expectedRevision. */
  revision: bigint;
}

/** BPF_PROG_QUERY on a cgroup fd, netns fd, sockmap fd or ifindex (tcx/netkit), for one attach type. */
export function progQuery(targetFdOrIfindex: number, attachType: number, opts: { queryFlags?: number; max?: number } = {}): ProgQueryResult {
  const max = opts.max ?? 64;
  const progIds = new Uint32Array(max);
  const linkIds = new Uint32Array(max);
  const a = new Attr('PROG_QUERY');
  a.set('target_fd', targetFdOrIfindex).set('attach_type', attachType).set('query_flags', opts.queryFlags ?? 0)
    .ptr('prog_ids', progIds).set('count', max).ptr('link_ids', linkIds);
  let r = a.call(BPF_CMD.PROG_QUERY);
  if (r === -22) {
    // Kernels before mprog (6.6) reject link_ids: ask again without it.
    const b = new Attr('PROG_QUERY');
    b.set('target_fd', targetFdOrIfindex).set('attach_type', attachType).set('query_flags', opts.queryFlags ?? 0)
      .ptr('prog_ids', progIds).set('count', max);
    r = b.call(BPF_CMD.PROG_QUERY);
    if (r < 0) throw syscallError('bpf', 'BPF_PROG_QUERY', -r);
    const n = Math.min(b.get('count'), max);
    return { progIds: [...progIds.subarray(0, n)], linkIds: [], attachFlags: b.get('attach_flags'), revision: 0n };
  }
  if (r < 0) throw syscallError('bpf', 'BPF_PROG_QUERY', -r);
  const n = Math.min(a.get('count'), max);
  return {
    progIds: [...progIds.subarray(0, n)], linkIds: [...linkIds.subarray(0, n)], attachFlags: a.get('attach_flags'),
    revision: a.getBig('revision'),
  };
}
