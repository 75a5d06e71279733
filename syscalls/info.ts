// BPF_OBJ_GET_INFO_BY_FD decoders for programs, maps, BTF objects and links. 64-bit kernel
// fields are returned as bigint (times in ns, counters) so nothing is silently rounded.
//
// The info struct we pass is the size of the kernel we generated the layouts from. An older
// kernel fills the prefix it knows; a newer one fills up to our size (info_len) — either way the
// fields we read exist or read as zero.

import { Attr, StructWriter } from './attr.js';
import {
  BPF_BTF_INFO, BPF_BTF_INFO_SIZE, BPF_LINK_INFO, BPF_LINK_INFO_SIZE, BPF_MAP_INFO, BPF_MAP_INFO_SIZE, BPF_PROG_INFO,
  BPF_PROG_INFO_SIZE, type Field,
} from './generated/bpf-attr.js';
import { BPF_CMD, BPF_LINK_TYPE } from './generated/bpf-enums.js';
import { syscallError } from './errors.js';

function getInfo<F extends Record<string, Field>>(fd: number, w: StructWriter<F>, what: string): void {
  const a = new Attr('OBJ_GET_INFO_BY_FD');
  a.set('bpf_fd', fd).set('info_len', w.buf.length).ptr('info', w.buf);
  const r = a.call(BPF_CMD.OBJ_GET_INFO_BY_FD);
  w.done();
  if (r < 0) throw syscallError('bpf', 'BPF_OBJ_GET_INFO_BY_FD', -r, { what });
}

function cstr<F extends Record<string, Field>>(w: StructWriter<F>, name: keyof F & string): string {
  const f = w.fields[name] as Field;
  const b = w.buf.subarray(f.off, f.off + f.size);
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  name: string;
  ifindex: number;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  btfVmlinuxValueTypeId: number;
  btfVmlinuxId: number;
  mapExtra: bigint;
  netnsDev: bigint;
  netnsIno: bigint;
}

export function mapInfo(fd: number): MapInfo {
  const w = new StructWriter(BPF_MAP_INFO, BPF_MAP_INFO_SIZE);
  getInfo(fd, w, `map fd ${fd}`);
  return {
    type: w.get('type'),
    id: w.get('id'),
    keySize: w.get('key_size'),
    valueSize: w.get('value_size'),
    maxEntries: w.get('max_entries'),
    mapFlags: w.get('map_flags'),
    name: cstr(w, 'name'),
    ifindex: w.get('ifindex'),
    btfId: w.get('btf_id'),
    btfKeyTypeId: w.get('btf_key_type_id'),
    btfValueTypeId: w.get('btf_value_type_id'),
    btfVmlinuxValueTypeId: w.get('btf_vmlinux_value_type_id'),
    btfVmlinuxId: w.get('btf_vmlinux_id'),
    mapExtra: w.getBig('map_extra'),
    netnsDev: w.getBig('netns_dev'),
    netnsIno: w.getBig('netns_ino'),
  };
}

export interface ProgInfo {
  type: number;
  id: number;
  /** The 8-byte program tag as 16 hex digits (as bpftool prints it). */
  tag: string;
  name: string;
  btfId: number;
  /** ns since boot. */
  loadTime: bigint;
  createdByUid: number;
  nrMapIds: number;
  mapIds: number[];
  jitedProgLen: number;
  xlatedProgLen: number;
  verifiedInsns: number;
  /** Counted only while stats are enabled (enableStats() or sysctl kernel.bpf_stats_enabled). */
  runTimeNs: bigint;
  runCnt: bigint;
  recursionMisses: bigint;
  gplCompatible: boolean;
  ifindex: number;
  netnsDev: bigint;
  netnsIno: bigint;
  nrFuncInfo: number;
  nrLineInfo: number;
  attachBtfObjId: number;
  attachBtfId: number;
  /** The translated (post-verifier) instructions, when requested and permitted (needs CAP_SYS_ADMIN-like rights). */
  xlatedInsns?: Uint8Array;
  /** The JITed machine code, when requested. */
  jitedInsns?: Uint8Array;
}

export interface ProgInfoOptions {
  /** Fetch map ids (default true; costs a second syscall when the program uses maps). */
  mapIds?: boolean;
  xlatedInsns?: boolean;
  jitedInsns?: boolean;
}

export function progInfo(fd: number, opts: ProgInfoOptions = {}): ProgInfo {
  let w = new StructWriter(BPF_PROG_INFO, BPF_PROG_INFO_SIZE);
  getInfo(fd, w, `prog fd ${fd}`);
  const nrMapIds = w.get('nr_map_ids');
  const xlatedLen = w.get('xlated_prog_len');
  const jitedLen = w.get('jited_prog_len');
  const wantMaps = (opts.mapIds ?? true) && nrMapIds > 0;
  const wantXlated = !!opts.xlatedInsns && xlatedLen > 0;
  const wantJited = !!opts.jitedInsns && jitedLen > 0;
  let mapIds: Uint32Array | undefined;
  let xlated: Buffer | undefined;
  let jited: Buffer | undefined;
  if (wantMaps || wantXlated || wantJited) {
    // Second pass with buffers sized from the first: the kernel fills only what we ask for.
    w = new StructWriter(BPF_PROG_INFO, BPF_PROG_INFO_SIZE);
    if (wantMaps) {
      mapIds = new Uint32Array(nrMapIds);
      w.set('nr_map_ids', nrMapIds).ptr('map_ids', mapIds);
    }
    if (wantXlated) {
      xlated = Buffer.alloc(xlatedLen);
      w.set('xlated_prog_len', xlatedLen).ptr('xlated_prog_insns', xlated);
    }
    if (wantJited) {
      jited = Buffer.alloc(jitedLen);
      w.set('jited_prog_len', jitedLen).ptr('jited_prog_insns', jited);
    }
    getInfo(fd, w, `prog fd ${fd}`);
  }
  const tagF = BPF_PROG_INFO.tag;
  const info: ProgInfo = {
    type: w.get('type'),
    id: w.get('id'),
    tag: w.buf.toString('hex', tagF.off, tagF.off + tagF.size),
    name: cstr(w, 'name'),
    btfId: w.get('btf_id'),
    loadTime: w.getBig('load_time'),
    createdByUid: w.get('created_by_uid'),
    nrMapIds,
    mapIds: mapIds ? [...mapIds.subarray(0, Math.min(nrMapIds, w.get('nr_map_ids')))] : [],
    jitedProgLen: jitedLen,
    xlatedProgLen: xlatedLen,
    verifiedInsns: w.get('verified_insns'),
    runTimeNs: w.getBig('run_time_ns'),
    runCnt: w.getBig('run_cnt'),
    recursionMisses: w.getBig('recursion_misses'),
    gplCompatible: w.get('gpl_compatible') === 1,
    ifindex: w.get('ifindex'),
    netnsDev: w.getBig('netns_dev'),
    netnsIno: w.getBig('netns_ino'),
    nrFuncInfo: w.get('nr_func_info'),
    nrLineInfo: w.get('nr_line_info'),
    attachBtfObjId: w.get('attach_btf_obj_id'),
    attachBtfId: w.get('attach_btf_id'),
  };
  if (xlated) info.xlatedInsns = xlated.subarray(0, Math.min(xlated.length, w.get('xlated_prog_len')));
  if (jited) info.jitedInsns = jited.subarray(0, Math.min(jited.length, w.get('jited_prog_len')));
  return info;
}

export interface BtfInfo {
  id: number;
  /** 'vmlinux' or a module name for kernel BTF; '' for user-loaded BTF. */
  name: string;
  kernelBtf: boolean;
  btfSize: number;
  /** The raw BTF blob, when requested. */
  data?: Uint8Array;
}

export function btfInfo(fd: number, opts: { data?: boolean } = {}): BtfInfo {
  const nameBuf = Buffer.alloc(256);
  let w = new StructWriter(BPF_BTF_INFO, BPF_BTF_INFO_SIZE);
  w.ptr('name', nameBuf).set('name_len', nameBuf.length);
  getInfo(fd, w, `btf fd ${fd}`);
  const size = w.get('btf_size');
  let data: Buffer | undefined;
  if (opts.data && size > 0) {
    data = Buffer.alloc(size);
    w = new StructWriter(BPF_BTF_INFO, BPF_BTF_INFO_SIZE);
    w.ptr('btf', data).set('btf_size', size).ptr('name', nameBuf).set('name_len', nameBuf.length);
    getInfo(fd, w, `btf fd ${fd}`);
  }
  const nul = nameBuf.indexOf(0);
  const info: BtfInfo = {
    id: w.get('id'),
    name: nameBuf.toString('utf8', 0, nul < 0 ? nameBuf.length : nul),
    kernelBtf: w.get('kernel_btf') !== 0,
    btfSize: size,
  };
  if (data) info.data = data;
  return info;
}

export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
  /** For raw tracepoint links: the tracepoint name. */
  tpName?: string;
  /** The whole struct bpf_link_info, for type-specific fields (see BPF_LINK_INFO offsets). */
  raw: Uint8Array;
}

export function linkInfo(fd: number): LinkInfo {
  let w = new StructWriter(BPF_LINK_INFO, BPF_LINK_INFO_SIZE);
  getInfo(fd, w, `link fd ${fd}`);
  const type = w.get('type');
  let tpName: string | undefined;
  if (type === BPF_LINK_TYPE.RAW_TRACEPOINT) {
    const len = w.get('raw_tracepoint_tp_name_len');
    if (len > 0) {
      const nameBuf = Buffer.alloc(len);
      w = new StructWriter(BPF_LINK_INFO, BPF_LINK_INFO_SIZE);
      w.ptr('raw_tracepoint_tp_name', nameBuf).set('raw_tracepoint_tp_name_len', len);
      getInfo(fd, w, `link fd ${fd}`);
      const nul = nameBuf.indexOf(0);
      tpName = nameBuf.toString('utf8', 0, nul < 0 ? len : nul);
    }
  }
  const info: LinkInfo = { type, id: w.get('id'), progId: w.get('prog_id'), raw: w.buf };
  if (tpName !== undefined) info.tpName = tpName;
  return info;
}
