// Kernel feature probes, usable from the library and behind `tsbpf feature probe`: which program types,
// map types, helpers per program type, instruction-set extensions and BTF kinds the running kernel
// accepts. Each answer comes from loading a tiny program, creating a tiny map or loading a tiny BTF blob
// (libbpf's method), and is cached for the life of the process.

import { BTF_KIND, Btf, type BtfFeatures } from '../../btf/index.js';
import {
  BPF_ATTACH_TYPE, BPF_MAP_TYPE, BPF_MAP_TYPE_NAMES, BPF_PROG_TYPE, BPF_PROG_TYPE_NAMES, MAP_FLAGS, PROG_FLAGS, btfLoad,
  kernelVersionCode, mapCreate, pageSize, progLoadWithLog, type Fd, type ProgLoadOptions, type MapCreateOptions,
} from '../../syscalls/index.js';
import { Assembler, R0, call, exit, mov64 } from '../disasm/builder.js';
import { encodeInstructions } from '../disasm/decode.js';
import { helperName } from '../disasm/format.js';
import { BpfError } from '../errors.js';
import { kernelBtfFeatures } from '../features.js';
import { BPF_FUNC_ID_NAMES } from '../../syscalls/generated/bpf-enums.js';

/** The kernel's "not supported" errno (ENOTSUPP, kernel-internal). */
const ENOTSUPP = 524;
const EINVAL = 22;

function progType(t: number | string): number {
  if (typeof t === 'number') return t;
  const key = t.toUpperCase().replace(/^BPF_PROG_TYPE_/, '') as keyof typeof BPF_PROG_TYPE;
  const v = BPF_PROG_TYPE[key];
  if (v === undefined) throw new BpfError(`unknown program type '${t}'`, { cmd: 'probe', errno: EINVAL });
  return v;
}

function mapType(t: number | string): number {
  if (typeof t === 'number') return t;
  const key = t.toUpperCase().replace(/^BPF_MAP_TYPE_/, '') as keyof typeof BPF_MAP_TYPE;
  const v = BPF_MAP_TYPE[key];
  if (v === undefined) throw new BpfError(`unknown map type '${t}'`, { cmd: 'probe', errno: EINVAL });
  return v;
}

interface LoadResult {
  ok: boolean;
  errno: number;
  log: string;
}

/**
 * Loads `insns` as a program of `type` with what that type needs to load at all (expected attach type,
 * flags), and returns what happened. Never throws for a refusal.
 */
function tryLoad(type: number, insns: Uint8Array, withLog: boolean): LoadResult {
  const opts: ProgLoadOptions = { progType: type, insns, license: 'GPL', logLevel: withLog ? 1 : 0, logSize: 4096 };
  switch (type) {
    case BPF_PROG_TYPE.CGROUP_SOCK_ADDR: opts.expectedAttachType = BPF_ATTACH_TYPE.CGROUP_INET4_CONNECT; break;
    case BPF_PROG_TYPE.CGROUP_SOCKOPT: opts.expectedAttachType = BPF_ATTACH_TYPE.CGROUP_GETSOCKOPT; break;
    case BPF_PROG_TYPE.SK_LOOKUP: opts.expectedAttachType = BPF_ATTACH_TYPE.SK_LOOKUP; break;
    case BPF_PROG_TYPE.KPROBE: opts.kernVersion = kernelVersionCode(); break;
    case BPF_PROG_TYPE.LIRC_MODE2: opts.expectedAttachType = BPF_ATTACH_TYPE.LIRC_MODE2; break;
    case BPF_PROG_TYPE.NETFILTER: opts.expectedAttachType = BPF_ATTACH_TYPE.NETFILTER; break;
    case BPF_PROG_TYPE.SYSCALL: opts.progFlags = PROG_FLAGS.SLEEPABLE; break;
    // These cannot load without a real attach target; type id 1 (never a function) makes the kernel
    // get far enough to say so, which proves it knows the type.
    case BPF_PROG_TYPE.TRACING: opts.expectedAttachType = BPF_ATTACH_TYPE.TRACE_FENTRY; opts.attachBtfId = 1; opts.logLevel = 1; break;
    case BPF_PROG_TYPE.LSM: opts.expectedAttachType = BPF_ATTACH_TYPE.MODIFY_RETURN; opts.attachBtfId = 1; opts.logLevel = 1; break;
    case BPF_PROG_TYPE.EXT: opts.attachBtfId = 1; opts.logLevel = 1; break;
    default: break;
  }
  try {
    const r = progLoadWithLog(opts, 'probe');
    r.fd.close();
    return { ok: true, errno: 0, log: r.log };
  } catch (e) {
    if (!(e instanceof BpfError)) throw e;
    return { ok: false, errno: e.errno, log: e.log ?? '' };
  }
}

const RETURN_0 = encodeInstructions([mov64(R0, 0), exit()]);

const progTypeCache = new Map<number, boolean>();

/** Whether the kernel supports programs of this type (libbpf_probe_bpf_prog_type). */
export function probeProgType(type: number | string): boolean {
  const t = progType(type);
  const known = progTypeCache.get(t);
  if (known !== undefined) return known;
  let ok: boolean;
  const r = tryLoad(t, RETURN_0, false);
  switch (t) {
    case BPF_PROG_TYPE.UNSPEC: ok = false; break;
    case BPF_PROG_TYPE.TRACING: case BPF_PROG_TYPE.LSM:
      ok = !r.ok && r.errno === EINVAL && r.log.includes('attach_btf_id 1 is not a function');
      break;
    case BPF_PROG_TYPE.EXT:
      ok = !r.ok && r.errno === EINVAL && r.log.includes('Cannot replace kernel functions');
      break;
    case BPF_PROG_TYPE.STRUCT_OPS:
      ok = !r.ok && r.errno === ENOTSUPP;
      break;
    default:
      ok = r.ok;
  }
  progTypeCache.set(t, ok);
  return ok;
}

/** struct val { int cnt; struct bpf_spin_lock l; } for local-storage maps, which need BTF. */
function localStorageBtf(): Fd {
  const b = Btf.create();
  const int = b.addType({ kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 });
  const lock = b.addType({ kind: BTF_KIND.STRUCT, name: 'bpf_spin_lock', size: 4, kflag: false, members: [{ name: 'val', type: int, bitOffset: 0, bitfieldSize: 0 }] });
  b.addType({
    kind: BTF_KIND.STRUCT, name: 'val', size: 8, kflag: false,
    members: [{ name: 'cnt', type: int, bitOffset: 0, bitfieldSize: 0 }, { name: 'l', type: lock, bitOffset: 32, bitfieldSize: 0 }],
  });
  return btfLoad(b.encode());
}

const mapTypeCache = new Map<number, boolean>();

/** Whether the kernel supports maps of this type (libbpf_probe_bpf_map_type). */
export function probeMapType(type: number | string): boolean {
  const t = mapType(type);
  const known = mapTypeCache.get(t);
  if (known !== undefined) return known;
  const opts: MapCreateOptions = { mapType: t, keySize: 4, valueSize: 4, maxEntries: 1 };
  let expectErrno = 0;
  const owned: Fd[] = [];
  let ok = false;
  try {
    switch (t) {
      case BPF_MAP_TYPE.UNSPEC:
        mapTypeCache.set(t, false);
        return false;
      case BPF_MAP_TYPE.STACK_TRACE: opts.valueSize = 8; break;
      case BPF_MAP_TYPE.LPM_TRIE: opts.keySize = 8; opts.valueSize = 8; opts.mapFlags = MAP_FLAGS.NO_PREALLOC; break;
      case BPF_MAP_TYPE.CGROUP_STORAGE: case BPF_MAP_TYPE.PERCPU_CGROUP_STORAGE:
        // struct bpf_cgroup_storage_key { __u64 cgroup_inode_id; __u32 attach_type; } (padded to 16).
        opts.keySize = 16; opts.valueSize = 8; opts.maxEntries = 0; break;
      case BPF_MAP_TYPE.QUEUE: case BPF_MAP_TYPE.STACK: opts.keySize = 0; break;
      case BPF_MAP_TYPE.SK_STORAGE: case BPF_MAP_TYPE.INODE_STORAGE: case BPF_MAP_TYPE.TASK_STORAGE: case BPF_MAP_TYPE.CGRP_STORAGE: {
        const btf = localStorageBtf();
        owned.push(btf);
        Object.assign(opts, { btfFd: btf.fd, btfKeyTypeId: 1, btfValueTypeId: 3, valueSize: 8, maxEntries: 0, mapFlags: MAP_FLAGS.NO_PREALLOC });
        break;
      }
      case BPF_MAP_TYPE.RINGBUF: case BPF_MAP_TYPE.USER_RINGBUF:
        opts.keySize = 0; opts.valueSize = 0; opts.maxEntries = pageSize(); break;
      case BPF_MAP_TYPE.STRUCT_OPS:
        // An invalid vmlinux type id: a kernel that knows struct_ops maps says ENOTSUPP.
        opts.btfVmlinuxValueTypeId = 1; expectErrno = ENOTSUPP; break;
      case BPF_MAP_TYPE.BLOOM_FILTER: opts.keySize = 0; break;
      case BPF_MAP_TYPE.ARENA: opts.keySize = 0; opts.valueSize = 0; opts.mapFlags = MAP_FLAGS.MMAPABLE; break;
      case BPF_MAP_TYPE.ARRAY_OF_MAPS: case BPF_MAP_TYPE.HASH_OF_MAPS: {
        const inner = mapCreate({ mapType: BPF_MAP_TYPE.HASH, keySize: 4, valueSize: 4, maxEntries: 1 }, 'probe inner map');
        owned.push(inner);
        opts.innerMapFd = inner.fd;
        break;
      }
      default: break;
    }
    try {
      mapCreate(opts, 'probe').close();
      ok = !expectErrno;
    } catch (e) {
      if (!(e instanceof BpfError)) throw e;
      ok = expectErrno !== 0 && e.errno === expectErrno;
    }
  } catch (e) {
    if (!(e instanceof BpfError)) throw e;
    ok = false;
  } finally {
    for (const f of owned) f.close();
  }
  mapTypeCache.set(t, ok);
  return ok;
}

const helperCache = new Map<string, boolean | undefined>();

/**
 * Whether programs of `type` may call helper `helper` (id or name). undefined when that cannot be
 * tested by loading a stub (tracing, extension, LSM and struct_ops programs need real targets).
 */
export function probeHelper(type: number | string, helper: number | string): boolean | undefined {
  const t = progType(type);
  const id = typeof helper === 'number' ? helper : helperIdOf(helper);
  const key = `${t}:${id}`;
  if (helperCache.has(key)) return helperCache.get(key);
  let res: boolean | undefined;
  if (t === BPF_PROG_TYPE.TRACING || t === BPF_PROG_TYPE.EXT || t === BPF_PROG_TYPE.LSM || t === BPF_PROG_TYPE.STRUCT_OPS) {
    res = undefined;
  } else {
    const r = tryLoad(t, encodeInstructions([call(id), exit()]), true);
    // The verifier names unknown helpers ("invalid func unknown#N") and helpers this program type may
    // not use ("unknown func bpf_x#N", or "program of this type cannot use helper bpf_x#N" since 6.x);
    // any other outcome, including rejections over the stub's arguments, means the call itself is fine.
    res = r.ok || !(r.log.includes('invalid func ') || r.log.includes('unknown func ') || r.log.includes('program of this type cannot use helper '));
  }
  helperCache.set(key, res);
  return res;
}

/**
 * Why a program of `type` may not call helper `id`, from probes: the program types (among those a stub
 * can test) that may call it on this kernel, or that none can, which means the kernel lacks it.
 */
export function explainHelperRefusal(type: number | string, id: number): { name: string | undefined; usableBy: string[]; confirmed: boolean | undefined } {
  const t = progType(type);
  const usableBy: string[] = [];
  for (const [num, typeName] of Object.entries(BPF_PROG_TYPE_NAMES)) {
    const other = Number(num);
    if (other === BPF_PROG_TYPE.UNSPEC || other === t || typeName.startsWith('__')) continue;
    // probeHelper reads any refusal but an unknown-helper one as "callable": ask only types the kernel has.
    if (probeProgType(other) && probeHelper(other, id) === true) usableBy.push(typeName);
  }
  return { name: helperName(id), usableBy, confirmed: probeHelper(t, id) === false };
}

function helperIdOf(name: string): number {
  const bare = name.replace(/^bpf_/, '');
  for (const [id, full] of Object.entries(BPF_FUNC_ID_NAMES)) if (full === `BPF_FUNC_${bare}`) return Number(id);
  throw new BpfError(`unknown helper '${name}'`, { cmd: 'probe', errno: EINVAL });
}

export type MiscFeature = 'largeInsnLimit' | 'boundedLoops' | 'v2Isa' | 'v3Isa' | 'v4Isa';

const miscCache = new Map<MiscFeature, boolean>();

function miscProgram(f: MiscFeature): Uint8Array {
  const a = new Assembler();
  switch (f) {
    case 'largeInsnLimit':
      // One instruction past the old 4096-instruction limit (raised in 5.2).
      for (let i = 0; i < 4096; i++) a.mov64(R0, 1);
      return a.exit().assemble();
    case 'boundedLoops':
      return a.mov64(R0, 10).label('loop').alu64('sub', R0, 1).jmp('jne', R0, 0, 'loop').exit().assemble();
    case 'v2Isa':
      return a.mov64(R0, 0).jmp('jlt', R0, 0, 'out').mov64(R0, 1).label('out').exit().assemble();
    case 'v3Isa':
      return a.mov64(R0, 0).jmp32('jlt', R0, 0, 'out').mov64(R0, 1).label('out').exit().assemble();
    case 'v4Isa':
      return a.mov64(R0, 0).jmp32('jeq', R0, 1, 'out').gotol('out').label('out').mov64(R0, 1).exit().assemble();
  }
}

/** Instruction-set extensions and verifier limits, probed with socket filters as bpftool does. */
export function probeMisc(f: MiscFeature): boolean {
  const known = miscCache.get(f);
  if (known !== undefined) return known;
  const ok = tryLoad(BPF_PROG_TYPE.SOCKET_FILTER, miscProgram(f), false).ok;
  miscCache.set(f, ok);
  return ok;
}

/** BTF kinds and flavours the kernel accepts (shared with the loader's BTF sanitizer). */
export function probeBtfKinds(): BtfFeatures {
  return kernelBtfFeatures();
}

export interface FeatureReport {
  progTypes: Record<string, boolean>;
  mapTypes: Record<string, boolean>;
  /** Helper names available per program type; undefined where that cannot be probed. */
  helpers: Record<string, string[] | undefined>;
  misc: Record<MiscFeature, boolean>;
  btf: BtfFeatures;
}

/** bpftool's short names ('sched_cls', 'lru_hash'): the kernel enumerator without its prefix, lowercased. */
export const progTypeShortName = (t: number): string | undefined =>
  BPF_PROG_TYPE_NAMES[t]?.replace(/^BPF_PROG_TYPE_/, '').toLowerCase();
export const mapTypeShortName = (t: number): string | undefined =>
  BPF_MAP_TYPE_NAMES[t]?.replace(/^BPF_MAP_TYPE_/, '').replace(/_DEPRECATED$/, '').toLowerCase();

/** Helpers that print to the kernel log or write user memory when probed; bpftool skips them unless asked ("full"). */
export const NOISY_HELPERS = new Set(['bpf_trace_printk', 'bpf_trace_vprintk', 'bpf_probe_write_user']);

export interface ProbeAllOptions {
  /** Also probe helpers that leave messages in the kernel log (bpftool's `full`). */
  full?: boolean;
  /** Skip the helper matrix (thousands of loads). */
  helpers?: boolean;
}

/** Every probe, keyed by bpftool's short names. Numbers past the last enumerator are not probed. */
export function probeAll(opts: ProbeAllOptions = {}): FeatureReport {
  const progTypes: Record<string, boolean> = {};
  const progIds: number[] = [];
  for (const k of Object.keys(BPF_PROG_TYPE_NAMES).map(Number).sort((a, b) => a - b)) {
    const name = progTypeShortName(k);
    if (k === 0 || !name || name.startsWith('__max')) continue;
    progTypes[name] = probeProgType(k);
    progIds.push(k);
  }
  const mapTypes: Record<string, boolean> = {};
  for (const k of Object.keys(BPF_MAP_TYPE_NAMES).map(Number).sort((a, b) => a - b)) {
    const name = mapTypeShortName(k);
    if (k === 0 || !name || name.startsWith('__max')) continue;
    mapTypes[name] = probeMapType(k);
  }
  const helpers: Record<string, string[] | undefined> = {};
  if (opts.helpers !== false) {
    const ids = Object.keys(BPF_FUNC_ID_NAMES).map(Number).filter((id) => id > 0 && !BPF_FUNC_ID_NAMES[id]!.startsWith('__')).sort((a, b) => a - b);
    for (const t of progIds) {
      const name = progTypeShortName(t)!;
      if (!progTypes[name]) {
        helpers[name] = [];
        continue;
      }
      const list: string[] = [];
      let unknown = false;
      for (const id of ids) {
        const h = helperName(id)!;
        if (!opts.full && NOISY_HELPERS.has(h)) continue;
        const r = probeHelper(t, id);
        if (r === undefined) {
          unknown = true;
          break;
        }
        if (r) list.push(h);
      }
      helpers[name] = unknown ? undefined : list;
    }
  }
  const misc = {} as Record<MiscFeature, boolean>;
  for (const f of ['largeInsnLimit', 'boundedLoops', 'v2Isa', 'v3Isa', 'v4Isa'] as const) misc[f] = probeMisc(f);
  return { progTypes, mapTypes, helpers, misc, btf: probeBtfKinds() };
}
