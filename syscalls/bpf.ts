// bpf(2) commands. Every failure throws a SyscallError (VerifierError for a refused program)
// with errno, syscall 'bpf', cmd 'BPF_…' and advice. This is the raw layer: buffers passed for
// keys and values must be at least as large as the kernel will read or write (key_size,
// value_size, value_size rounded up to 8 × possibleCpus() for per-CPU maps) — higher layers that
// know the map's sizes check that.

import { BpfError, VerifierError, errnoName } from '../src/errors.js';
import { Attr, cString } from './attr.js';
import { BPF_ATTR, BPF_ATTR_SIZEOF } from './generated/bpf-attr.js';
import { BPF_CMD, BPF_CMD_NAMES, BPF_MAP_TYPE_NAMES, BPF_PROG_TYPE, BPF_PROG_TYPE_NAMES } from './generated/bpf-enums.js';
import { Fd } from './fd.js';
import { addressOf, errno, NR_BPF, sysBpf } from './libc.js';
import { EAGAIN, ENOENT, ENOSPC, errnoDescription, syscallError } from './errors.js';

const PROG_LOAD_EAGAIN_RETRIES = 5;
import { kernelVersionCode } from './system.js';
import { BPF_INSN_SIZE } from './constants.js';

const TWO32 = 0x1_0000_0000;

/** bpf_cmd number → 'BPF_…' name for error messages. */
function cmdName(cmd: number): string {
  return BPF_CMD_NAMES[cmd] ?? `bpf cmd ${cmd}`;
}

function fail(cmd: number, err: number, what?: string, typeName?: string): never {
  throw syscallError('bpf', cmdName(cmd), err, { what, typeName });
}

// ------------------------------------------------------------------------------------------------
// Hot path: MAP_*_ELEM. One preallocated attr, its address computed once; key/value addresses
// cached per buffer object. The only per-call work besides the syscall is a few DataView stores.
// ------------------------------------------------------------------------------------------------

const ELEM = BPF_ATTR.MAP_ELEM;
const ELEM_SIZE = BPF_ATTR_SIZEOF.MAP_ELEM;
const elemBuf = Buffer.alloc(ELEM_SIZE);
const elemView = new DataView(elemBuf.buffer, elemBuf.byteOffset, ELEM_SIZE);
const elemAddr = addressOf(elemBuf);
const O_MAP_FD = ELEM.map_fd.off;
const O_KEY = ELEM.key.off;
const O_VALUE = ELEM.value.off;
const O_FLAGS = ELEM.flags.off;

const addrCache = new WeakMap<ArrayBufferView, number>();
/** Address of a buffer's bytes, cached per buffer object (stable for the buffer's lifetime). */
function addr(b: ArrayBufferView | null): number {
  // A detached buffer (transferred to a worker) has byteLength 0: never hand the kernel its old,
  // cached address — NULL makes the call fail with EFAULT instead of corrupting memory.
  if (b === null || b.byteLength === 0) return 0;
  let a = addrCache.get(b);
  if (a === undefined) {
    a = addressOf(b);
    addrCache.set(b, a);
  }
  return a;
}

// Module-level references keep the caller's buffers reachable while the kernel uses them (a
// temporary passed straight into a call could otherwise be dead to V8 during the syscall).
let pinA: ArrayBufferView | null = null;
let pinB: ArrayBufferView | null = null;

function setU64(view: DataView, off: number, v: number): void {
  view.setUint32(off, v % TWO32, true);
  view.setUint32(off + 4, Math.floor(v / TWO32), true);
}

function elemCall(cmd: number, fd: number, key: ArrayBufferView | null, value: ArrayBufferView | null, flags: number): number {
  elemView.setUint32(O_MAP_FD, fd, true);
  setU64(elemView, O_KEY, addr(key));
  setU64(elemView, O_VALUE, addr(value));
  setU64(elemView, O_FLAGS, flags);
  pinA = key;
  pinB = value;
  const ret = sysBpf(NR_BPF, cmd, elemAddr, ELEM_SIZE);
  const r = ret < 0 ? -errno() : ret;
  pinA = pinB = null;
  return r;
}

const CMD_LOOKUP = BPF_CMD.MAP_LOOKUP_ELEM;
const CMD_UPDATE = BPF_CMD.MAP_UPDATE_ELEM;
const CMD_DELETE = BPF_CMD.MAP_DELETE_ELEM;
const CMD_NEXT_KEY = BPF_CMD.MAP_GET_NEXT_KEY;
const CMD_LOOKUP_AND_DELETE = BPF_CMD.MAP_LOOKUP_AND_DELETE_ELEM;

/** BPF_MAP_LOOKUP_ELEM into `value`; false when the key is absent (ENOENT). */
export function mapLookupElem(fd: number, key: Uint8Array | null, value: Uint8Array, flags = 0): boolean {
  const r = elemCall(CMD_LOOKUP, fd, key, value, flags);
  if (r >= 0) return true;
  if (r === -ENOENT) return false;
  return fail(CMD_LOOKUP, -r);
}

/** BPF_MAP_UPDATE_ELEM (flags: BPF_ANY, BPF_NOEXIST, BPF_EXIST, | BPF_F_LOCK). */
export function mapUpdateElem(fd: number, key: Uint8Array | null, value: Uint8Array, flags = 0): void {
  const r = elemCall(CMD_UPDATE, fd, key, value, flags);
  if (r < 0) fail(CMD_UPDATE, -r);
}

/** BPF_MAP_DELETE_ELEM; false when the key was absent. */
export function mapDeleteElem(fd: number, key: Uint8Array | null): boolean {
  const r = elemCall(CMD_DELETE, fd, key, null, 0);
  if (r >= 0) return true;
  if (r === -ENOENT) return false;
  return fail(CMD_DELETE, -r);
}

/** BPF_MAP_GET_NEXT_KEY: the key after `key` (the first key for null); false at the end. */
export function mapGetNextKey(fd: number, key: Uint8Array | null, nextKey: Uint8Array): boolean {
  const r = elemCall(CMD_NEXT_KEY, fd, key, nextKey, 0);
  if (r >= 0) return true;
  if (r === -ENOENT) return false;
  return fail(CMD_NEXT_KEY, -r);
}

/** BPF_MAP_LOOKUP_AND_DELETE_ELEM (key null for queue/stack pops); false when empty/absent. */
export function mapLookupAndDeleteElem(fd: number, key: Uint8Array | null, value: Uint8Array, flags = 0): boolean {
  const r = elemCall(CMD_LOOKUP_AND_DELETE, fd, key, value, flags);
  if (r >= 0) return true;
  if (r === -ENOENT) return false;
  return fail(CMD_LOOKUP_AND_DELETE, -r);
}

/** BPF_MAP_FREEZE: user space can no longer write the map (BPF programs still can). */
export function mapFreeze(fd: number): void {
  const r = elemCall(BPF_CMD.MAP_FREEZE, fd, null, null, 0);
  if (r < 0) fail(BPF_CMD.MAP_FREEZE, -r);
}

// ------------------------------------------------------------------------------------------------
// Batch operations (one preallocated attr as well: they are used in loops over big maps).
// ------------------------------------------------------------------------------------------------

const BATCH = BPF_ATTR.MAP_BATCH;
const BATCH_SIZE = BPF_ATTR_SIZEOF.MAP_BATCH;
const batchBuf = Buffer.alloc(BATCH_SIZE);
const batchView = new DataView(batchBuf.buffer, batchBuf.byteOffset, BATCH_SIZE);
const batchAddr = addressOf(batchBuf);
// Keep the four buffers reachable during the call (see pinA/pinB).
let pinC: ArrayBufferView | null = null;
let pinD: ArrayBufferView | null = null;
/** The kernel's count (elements processed) after the last batch call. */
let batchCount = 0;

export interface BatchOptions {
  /** Per-element flags (BPF_F_LOCK, or BPF_ANY/NOEXIST/EXIST for updates). */
  elemFlags?: number;
  flags?: number;
}

function batchCall(cmd: number, fd: number, inBatch: ArrayBufferView | null, outBatch: ArrayBufferView | null,
  keys: ArrayBufferView | null, values: ArrayBufferView | null, count: number, opts: BatchOptions | undefined): number {
  batchView.setUint32(BATCH.map_fd.off, fd, true);
  setU64(batchView, BATCH.in_batch.off, addr(inBatch));
  setU64(batchView, BATCH.out_batch.off, addr(outBatch));
  setU64(batchView, BATCH.keys.off, addr(keys));
  setU64(batchView, BATCH.values.off, addr(values));
  batchView.setUint32(BATCH.count.off, count, true);
  setU64(batchView, BATCH.elem_flags.off, opts?.elemFlags ?? 0);
  setU64(batchView, BATCH.flags.off, opts?.flags ?? 0);
  pinA = inBatch;
  pinB = outBatch;
  pinC = keys;
  pinD = values;
  const ret = sysBpf(NR_BPF, cmd, batchAddr, BATCH_SIZE);
  const r = ret < 0 ? -errno() : ret;
  pinA = pinB = pinC = pinD = null;
  batchCount = batchView.getUint32(BATCH.count.off, true);
  return r;
}

function lookupBatchCmd(cmd: number, fd: number, inBatch: Uint8Array | null, outBatch: Uint8Array, keys: Uint8Array,
  values: Uint8Array, count: number, opts?: BatchOptions): { count: number; done: boolean } {
  const r = batchCall(cmd, fd, inBatch, outBatch, keys, values, count, opts);
  if (r >= 0) return { count: batchCount, done: false };
  // ENOENT means "no more elements"; the kernel still reports how many it copied this time.
  if (r === -ENOENT) return { count: batchCount, done: true };
  return fail(cmd, -r);
}

/**
 * BPF_MAP_LOOKUP_BATCH: copies up to `count` elements starting at the cursor `inBatch` (null =
 * from the beginning) into `keys`/`values` and writes the next cursor into `outBatch` (4 bytes for
 * arrays, key_size for hashes is enough; pass it back as `inBatch` next time). `done` is true when
 * the kernel reported the end (ENOENT), with `count` the elements copied in this last call.
 */
export function mapLookupBatch(fd: number, inBatch: Uint8Array | null, outBatch: Uint8Array, keys: Uint8Array,
  values: Uint8Array, count: number, opts?: BatchOptions): { count: number; done: boolean } {
  return lookupBatchCmd(BPF_CMD.MAP_LOOKUP_BATCH, fd, inBatch, outBatch, keys, values, count, opts);
}

/** BPF_MAP_LOOKUP_AND_DELETE_BATCH: like mapLookupBatch, deleting what it returns. */
export function mapLookupAndDeleteBatch(fd: number, inBatch: Uint8Array | null, outBatch: Uint8Array, keys: Uint8Array,
  values: Uint8Array, count: number, opts?: BatchOptions): { count: number; done: boolean } {
  return lookupBatchCmd(BPF_CMD.MAP_LOOKUP_AND_DELETE_BATCH, fd, inBatch, outBatch, keys, values, count, opts);
}

/** BPF_MAP_UPDATE_BATCH of `count` packed keys/values; returns the number of elements written. */
export function mapUpdateBatch(fd: number, keys: Uint8Array, values: Uint8Array, count: number, opts?: BatchOptions): number {
  const r = batchCall(BPF_CMD.MAP_UPDATE_BATCH, fd, null, null, keys, values, count, opts);
  if (r < 0) throw syscallError('bpf', 'BPF_MAP_UPDATE_BATCH', -r, { detail: `after ${batchCount} of ${count} elements` });
  return batchCount;
}

/** BPF_MAP_DELETE_BATCH of `count` packed keys; returns the number deleted. */
export function mapDeleteBatch(fd: number, keys: Uint8Array, count: number, opts?: BatchOptions): number {
  const r = batchCall(BPF_CMD.MAP_DELETE_BATCH, fd, null, null, keys, null, count, opts);
  if (r < 0) throw syscallError('bpf', 'BPF_MAP_DELETE_BATCH', -r, { detail: `after ${batchCount} of ${count} elements` });
  return batchCount;
}

// ------------------------------------------------------------------------------------------------
// Map creation
// ------------------------------------------------------------------------------------------------

export interface MapCreateOptions {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags?: number;
  innerMapFd?: number;
  numaNode?: number;
  /** Truncated to 15 bytes (BPF_OBJ_NAME_LEN - 1); the kernel accepts [A-Za-z0-9_.]. */
  name?: string;
  ifindex?: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  btfVmlinuxValueTypeId?: number;
  mapExtra?: bigint;
  valueTypeBtfObjFd?: number;
  tokenFd?: number;
}

function mapCreateAttr(opts: MapCreateOptions): Attr<'MAP_CREATE'> {
  const a = new Attr('MAP_CREATE');
  a.set('map_type', opts.mapType)
    .set('key_size', opts.keySize)
    .set('value_size', opts.valueSize)
    .set('max_entries', opts.maxEntries)
    .set('map_flags', opts.mapFlags ?? 0)
    .set('inner_map_fd', opts.innerMapFd ?? 0)
    .set('numa_node', opts.numaNode ?? 0)
    .chars('map_name', opts.name)
    .set('map_ifindex', opts.ifindex ?? 0)
    .set('btf_fd', opts.btfFd ?? 0)
    .set('btf_key_type_id', opts.btfKeyTypeId ?? 0)
    .set('btf_value_type_id', opts.btfValueTypeId ?? 0)
    .set('btf_vmlinux_value_type_id', opts.btfVmlinuxValueTypeId ?? 0)
    .set('map_extra', opts.mapExtra ?? 0n)
    .set('value_type_btf_obj_fd', opts.valueTypeBtfObjFd ?? 0)
    .set('map_token_fd', opts.tokenFd ?? 0);
  return a;
}

function mapCreateResult(opts: MapCreateOptions, what: string | undefined, r: number): Fd {
  const label = what ?? `map ${opts.name ?? ''}`.trim();
  if (r < 0) {
    const typeName = BPF_MAP_TYPE_NAMES[opts.mapType] ?? `${opts.mapType} (unknown to tsbpf's tables)`;
    throw syscallError('bpf', 'BPF_MAP_CREATE', -r, { what: label, typeName, map: opts.name });
  }
  return new Fd(r, label);
}

/** BPF_MAP_CREATE. `what` labels the Fd (default 'map <name>'). */
export function mapCreate(opts: MapCreateOptions, what?: string): Fd {
  return mapCreateResult(opts, what, mapCreateAttr(opts).call(BPF_CMD.MAP_CREATE));
}

/**
 * mapCreate on the libuv threadpool: the kernel allocates and clears a preallocated map's memory in
 * the call (milliseconds for a big hash), so a loader can create several maps at once, and do its own
 * work meanwhile.
 */
export async function mapCreateAsync(opts: MapCreateOptions, what?: string): Promise<Fd> {
  return mapCreateResult(opts, what, await mapCreateAttr(opts).callAsync(BPF_CMD.MAP_CREATE));
}

// ------------------------------------------------------------------------------------------------
// Program load and the verifier log
// ------------------------------------------------------------------------------------------------

export interface ProgLoadOptions {
  progType: number;
  /** Raw struct bpf_insn array (8 bytes per instruction). */
  insns: Uint8Array;
  license: string;
  /** Defaults to the running kernel's version for kprobe programs (needed before 5.0), else 0. */
  kernVersion?: number;
  progFlags?: number;
  /** Truncated to 15 bytes. */
  name?: string;
  ifindex?: number;
  expectedAttachType?: number;
  btfFd?: number;
  funcInfo?: Uint8Array;
  /** Default 8 (sizeof(struct bpf_func_info)). */
  funcInfoRecSize?: number;
  lineInfo?: Uint8Array;
  /** Default 16 (sizeof(struct bpf_line_info)). */
  lineInfoRecSize?: number;
  attachBtfId?: number;
  attachBtfObjFd?: number;
  attachProgFd?: number;
  coreRelos?: Uint8Array;
  coreReloRecSize?: number;
  fdArray?: Int32Array;
  /** Set to bind every map in fdArray to the program (kernel ≥ 6.14). */
  fdArrayCnt?: number;
  tokenFd?: number;
  /**
   * 0 (default): load without a log; on failure retry with level 1 to explain it.
   * 1/2 (| 4 for stats): always load with a log, returned by progLoadWithLog.
   */
  logLevel?: number;
  /** Initial log buffer size (default 64 KiB); grown on ENOSPC up to LOG_GROWTH_LIMIT (see logPolicy). */
  logSize?: number;
}

/** Initial verifier log buffer (libbpf's BPF_LOG_BUF_SIZE is 16 MiB; we start small and grow). */
export const INITIAL_LOG_SIZE = 64 * 1024;
/** The most of a log that is kept (its end, where the verifier's reason is) and returned. */
export const MAX_LOG_SIZE = 16 * 1024 * 1024;
/**
 * How far the buffer grows when the log does not fit. Only a log that fits whole gets the verifier's
 * own errno (a truncated one turns any verdict into ENOSPC), and before Linux 6.4 the kernel keeps the
 * log's beginning, so only a log that fits has the verifier's reason at all. libbpf grows its buffer
 * without a bound (up to the kernel's 1 GiB limit); this bounds the memory a failure can take.
 */
export const LOG_GROWTH_LIMIT = 256 * 1024 * 1024;
// The kernel rejects log_size < 128 (and > UINT_MAX >> 2).
const MIN_LOG_SIZE = 128;
/** log_level bit that asks a 6.4+ kernel for the pre-6.4 fixed log (its beginning is kept, not its end). */
export const BPF_LOG_FIXED = 8;
const BPF_LOG_LEVEL2 = 2;

/** The log in `buf`, at most its last MAX_LOG_SIZE bytes (from a line start), as a string. */
function decodeLog(buf: Buffer): string {
  const nul = buf.indexOf(0);
  const end = nul < 0 ? buf.length : nul;
  if (end <= MAX_LOG_SIZE) return buf.toString('utf8', 0, end);
  const from = buf.indexOf(10, end - MAX_LOG_SIZE) + 1;
  return `[the first ${from} bytes of the log are left out]\n${buf.toString('utf8', from, end)}`;
}

/** The last `n` non-empty lines of a log, indented for quoting in an error message. */
export function logTail(log: string, n = 10): string {
  const lines = log.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-n).map((l) => `  | ${l}`).join('\n');
}

/** One load attempt's outcome: the syscall's result and log_true_size (0 where the kernel has none: before 6.4). */
export type Attempt = { r: number; trueSize: number };

/** What the log policy ends with. `lostEnd`: the log is truncated and holds its beginning, so the verifier's reason is missing. */
export interface LogOutcome { r: number; log: string; truncated: boolean; lostEnd: boolean; logLevel: number }

/**
 * libbpf's policy: without a requested log, try once without one (fast, no buffer); on failure
 * retry with level 1 to learn why. With a log, grow the buffer on ENOSPC (the kernel also fails
 * a successful load with ENOSPC when the log was truncated): to log_true_size where the kernel reports
 * it (6.4+), else 4× at a time, up to LOG_GROWTH_LIMIT. If the log still does not fit, a kernel that
 * keeps the log's end (6.4+ by default) has the reason in it; one that keeps its beginning (before 6.4,
 * or BPF_LOG_FIXED) does not, so a level-2 log is retried at level 1 (only the failing path, far
 * shorter), and otherwise the outcome says the end is lost. Written as a generator so the sync and
 * async loaders share it: it yields the (logBuf, logLevel) to try and receives the attempt's result.
 */
export function* logPolicy(logLevel: number, logSize: number, limit = LOG_GROWTH_LIMIT): Generator<{ logBuf: Buffer | null; logLevel: number }, LogOutcome, Attempt> {
  if (logLevel === 0) {
    const first = yield { logBuf: null, logLevel: 0 };
    if (first.r >= 0) return { r: first.r, log: '', truncated: false, lostEnd: false, logLevel: 0 };
    logLevel = 1;
  }
  let size = Math.min(Math.max(logSize, MIN_LOG_SIZE), limit);
  for (;;) {
    const logBuf = Buffer.alloc(size);
    const { r, trueSize } = yield { logBuf, logLevel };
    if (r !== -ENOSPC) return { r, log: decodeLog(logBuf), truncated: false, lostEnd: false, logLevel };
    const keepsBeginning = trueSize === 0 || (logLevel & BPF_LOG_FIXED) !== 0;
    // log_true_size (with its NUL) says what fits; a kernel that keeps the end and needs more than the
    // limit is not asked again: a bigger buffer would hold the same end.
    if (size < limit && (keepsBeginning || trueSize <= limit)) {
      size = Math.min(limit, trueSize > size ? trueSize : size * 4);
      continue;
    }
    if (keepsBeginning && (logLevel & BPF_LOG_LEVEL2) !== 0) {
      logLevel = (logLevel & ~BPF_LOG_LEVEL2) | 1;
      continue;
    }
    return { r, log: decodeLog(logBuf), truncated: true, lostEnd: keepsBeginning, logLevel };
  }
}

function loadWithLog(attempt: (logBuf: Buffer | null, logLevel: number) => Attempt, logLevel: number, logSize: number) {
  const g = logPolicy(logLevel, logSize);
  let step = g.next();
  while (!step.done) step = g.next(attempt(step.value.logBuf, step.value.logLevel));
  return step.value;
}

async function loadWithLogAsync(attempt: (logBuf: Buffer | null, logLevel: number) => Promise<Attempt>, logLevel: number,
  logSize: number) {
  const g = logPolicy(logLevel, logSize);
  let step = g.next();
  while (!step.done) step = g.next(await attempt(step.value.logBuf, step.value.logLevel));
  return step.value;
}

function progLabel(opts: ProgLoadOptions, what?: string): string {
  return what ?? `prog ${opts.name ?? ''}`.trim();
}

/** Validates opts and returns a function building the attr for one attempt. */
function progAttrBuilder(opts: ProgLoadOptions, label: string): (logBuf: Buffer | null, logLevel: number) => Attr<'PROG_LOAD'> {
  if (opts.insns.length === 0 || opts.insns.length % BPF_INSN_SIZE !== 0) {
    throw new BpfError(`${label}: insns must be a non-empty multiple of ${BPF_INSN_SIZE} bytes (got ${opts.insns.length})`,
      { cmd: 'BPF_PROG_LOAD', program: opts.name });
  }
  const license = cString(opts.license);
  const funcRec = opts.funcInfoRecSize ?? 8;
  const lineRec = opts.lineInfoRecSize ?? 16;
  const kernVersion = opts.kernVersion ?? (opts.progType === BPF_PROG_TYPE.KPROBE ? kernelVersionCode() : 0);
  return (logBuf, logLevel) => {
    const a = new Attr('PROG_LOAD');
    a.set('prog_type', opts.progType)
      .set('insn_cnt', opts.insns.length / BPF_INSN_SIZE)
      .ptr('insns', opts.insns)
      .ptr('license', license)
      .set('log_level', logLevel)
      .set('log_size', logBuf ? logBuf.length : 0)
      .ptr('log_buf', logBuf)
      .set('kern_version', kernVersion)
      .set('prog_flags', opts.progFlags ?? 0)
      .chars('prog_name', opts.name)
      .set('prog_ifindex', opts.ifindex ?? 0)
      .set('expected_attach_type', opts.expectedAttachType ?? 0)
      .set('prog_btf_fd', opts.btfFd ?? 0)
      .set('attach_btf_id', opts.attachBtfId ?? 0)
      .set('prog_token_fd', opts.tokenFd ?? 0);
    if (opts.funcInfo?.length) {
      a.set('func_info_rec_size', funcRec).ptr('func_info', opts.funcInfo).set('func_info_cnt', opts.funcInfo.length / funcRec);
    }
    if (opts.lineInfo?.length) {
      a.set('line_info_rec_size', lineRec).ptr('line_info', opts.lineInfo).set('line_info_cnt', opts.lineInfo.length / lineRec);
    }
    if (opts.coreRelos?.length) {
      const rec = opts.coreReloRecSize ?? 16;
      a.set('core_relo_rec_size', rec).ptr('core_relos', opts.coreRelos).set('core_relo_cnt', opts.coreRelos.length / rec);
    }
    // attach_prog_fd and attach_btf_obj_fd share storage (a union); only one may be given.
    if (opts.attachProgFd) a.set('attach_prog_fd', opts.attachProgFd);
    else if (opts.attachBtfObjFd) a.set('attach_btf_obj_fd', opts.attachBtfObjFd);
    if (opts.fdArray?.length) a.ptr('fd_array', opts.fdArray);
    if (opts.fdArrayCnt) a.set('fd_array_cnt', opts.fdArrayCnt);
    return a;
  };
}

function progLoadResult(opts: ProgLoadOptions, label: string, res: LogOutcome): { fd: Fd; log: string } {
  const { r, log, truncated, lostEnd } = res;
  if (r >= 0) return { fd: new Fd(r, label), log };
  const err = -r;
  // EAGAIN is no verdict: the verifier gave up on a pending signal (the log stops wherever it was).
  if (log.trim() === '' || err === EAGAIN) {
    const typeName = BPF_PROG_TYPE_NAMES[opts.progType] ?? `${opts.progType} (unknown to tsbpf's tables)`;
    throw syscallError('bpf', 'BPF_PROG_LOAD', err, { what: label, typeName, program: opts.name, log: log || undefined,
      detail: err === EAGAIN ? `the verifier was interrupted by signals on ${1 + PROG_LOAD_EAGAIN_RETRIES} attempts in a row` : undefined });
  }
  const code = errnoName(err);
  const desc = errnoDescription(err);
  const msg = `${label}: the verifier rejected the program (bpf(BPF_PROG_LOAD) failed: ${code}${desc ? ` (${desc})` : ''})` +
    `${truncated ? `; the log did not fit in ${LOG_GROWTH_LIMIT} bytes, and the kernel's ENOSPC replaced the verifier's own errno` : ''}` +
    `${lostEnd ? "; this kernel keeps the log's beginning (as every kernel before Linux 6.4 does), so the verifier's reason, at the end, is lost" : ''}` +
    `. Last lines of the verifier log:\n${logTail(log)}`;
  throw new VerifierError(msg, { errno: err, syscall: 'bpf', cmd: 'BPF_PROG_LOAD', log, program: opts.name });
}

/**
 * BPF_PROG_LOAD returning the fd and the verifier log (empty unless logLevel > 0). Throws
 * VerifierError (with `log`) when the verifier refused the program, or SyscallError when the
 * kernel refused before verification (no log: EPERM, EINVAL for an unknown type, …).
 */
export function progLoadWithLog(opts: ProgLoadOptions, what?: string): { fd: Fd; log: string } {
  const label = progLabel(opts, what);
  const build = progAttrBuilder(opts, label);
  const attempt = (logBuf: Buffer | null, logLevel: number): Attempt => {
    const a = build(logBuf, logLevel);
    // A signal arriving during verification makes the kernel give up with EAGAIN; libbpf retries 5 times.
    let r = a.call(BPF_CMD.PROG_LOAD);
    for (let i = 0; r === -EAGAIN && i < PROG_LOAD_EAGAIN_RETRIES; i++) r = a.call(BPF_CMD.PROG_LOAD);
    return { r, trueSize: a.get('log_true_size') };
  };
  return progLoadResult(opts, label, loadWithLog(attempt, opts.logLevel ?? 0, opts.logSize ?? INITIAL_LOG_SIZE));
}

/**
 * progLoadWithLog on the libuv threadpool: the verifier can take seconds on big programs, and
 * this keeps the event loop running meanwhile. Same results and errors.
 */
export async function progLoadWithLogAsync(opts: ProgLoadOptions, what?: string): Promise<{ fd: Fd; log: string }> {
  const label = progLabel(opts, what);
  const build = progAttrBuilder(opts, label);
  const attempt = async (logBuf: Buffer | null, logLevel: number): Promise<Attempt> => {
    const a = build(logBuf, logLevel);
    let r = await a.callAsync(BPF_CMD.PROG_LOAD);
    for (let i = 0; r === -EAGAIN && i < PROG_LOAD_EAGAIN_RETRIES; i++) r = await a.callAsync(BPF_CMD.PROG_LOAD);
    return { r, trueSize: a.get('log_true_size') };
  };
  return progLoadResult(opts, label, await loadWithLogAsync(attempt, opts.logLevel ?? 0, opts.logSize ?? INITIAL_LOG_SIZE));
}

/** BPF_PROG_LOAD; see progLoadWithLog for the log policy and errors. */
export function progLoad(opts: ProgLoadOptions, what?: string): Fd {
  return progLoadWithLog(opts, what).fd;
}

// ------------------------------------------------------------------------------------------------
// BTF
// ------------------------------------------------------------------------------------------------

export interface BtfLoadOptions {
  /** 0 (default): log only on failure. >0: always, returned by btfLoadWithLog. */
  logLevel?: number;
  logSize?: number;
  tokenFd?: number;
  btfFlags?: number;
}

/** BPF_BTF_LOAD returning the fd and the log (empty unless logLevel > 0). */
export function btfLoadWithLog(data: Uint8Array, opts: BtfLoadOptions = {}, what = 'btf'): { fd: Fd; log: string } {
  const attempt = (logBuf: Buffer | null, logLevel: number): Attempt => {
    const a = new Attr('BTF_LOAD');
    a.ptr('btf', data)
      .set('btf_size', data.length)
      .ptr('btf_log_buf', logBuf)
      .set('btf_log_size', logBuf ? logBuf.length : 0)
      .set('btf_log_level', logLevel)
      .set('btf_flags', opts.btfFlags ?? 0)
      .set('btf_token_fd', opts.tokenFd ?? 0);
    const r = a.call(BPF_CMD.BTF_LOAD);
    return { r, trueSize: a.get('btf_log_true_size') };
  };
  const { r, log, truncated } = loadWithLog(attempt, opts.logLevel ?? 0, opts.logSize ?? INITIAL_LOG_SIZE);
  if (r >= 0) return { fd: new Fd(r, what), log };
  if (log.trim() === '') throw syscallError('bpf', 'BPF_BTF_LOAD', -r, { what });
  const err = -r;
  const desc = errnoDescription(err);
  const msg = `${what}: the kernel rejected the BTF (bpf(BPF_BTF_LOAD) failed: ${errnoName(err)}${desc ? ` (${desc})` : ''})` +
    `${truncated ? '; the log was truncated' : ''}. Last lines of the BTF log:\n${logTail(log)}`;
  throw new BpfError(msg, { errno: err, syscall: 'bpf', cmd: 'BPF_BTF_LOAD', log });
}

/** BPF_BTF_LOAD; throws BpfError with `log` when the kernel rejects the blob. */
export function btfLoad(data: Uint8Array, opts: BtfLoadOptions = {}, what = 'btf'): Fd {
  return btfLoadWithLog(data, opts, what).fd;
}

// ------------------------------------------------------------------------------------------------
// Pinning
// ------------------------------------------------------------------------------------------------

/** BPF_OBJ_PIN: pins `fd` at `path` (inside a bpffs mount). */
export function objPin(fd: number, path: string): void {
  const a = new Attr('OBJ');
  a.ptr('pathname', cString(path)).set('bpf_fd', fd);
  const r = a.call(BPF_CMD.OBJ_PIN);
  if (r < 0) throw syscallError('bpf', 'BPF_OBJ_PIN', -r, { what: path });
}

/** BPF_OBJ_GET: opens the object pinned at `path` (flags: BPF_F_RDONLY / BPF_F_WRONLY). */
export function objGet(path: string, flags = 0, what = `pinned ${path}`): Fd {
  const a = new Attr('OBJ');
  a.ptr('pathname', cString(path)).set('file_flags', flags);
  const r = a.call(BPF_CMD.OBJ_GET);
  if (r < 0) throw syscallError('bpf', 'BPF_OBJ_GET', -r, { what: path });
  return new Fd(r, what);
}

// ------------------------------------------------------------------------------------------------
// Test run
// ------------------------------------------------------------------------------------------------

export interface ProgTestRunOptions {
  dataIn?: Uint8Array;
  /** Size of the data_out buffer; defaults to dataIn's length (0 = no data_out). */
  dataSizeOut?: number;
  ctxIn?: Uint8Array;
  /** Size of the ctx_out buffer; default 0 (not all program types accept ctx_out). */
  ctxSizeOut?: number;
  repeat?: number;
  flags?: number;
  cpu?: number;
  batchSize?: number;
}

export interface ProgTestRunResult {
  retval: number;
  /** Average run time in ns. */
  duration: number;
  dataOut?: Uint8Array;
  ctxOut?: Uint8Array;
}

/**
 * BPF_PROG_TEST_RUN. When data_out was too small (ENOSPC) the kernel reports the size it needed;
 * the run is repeated once with a buffer of that size (the program runs again).
 */
export function progTestRun(fd: number, opts: ProgTestRunOptions = {}): ProgTestRunResult {
  let dataOutSize = opts.dataSizeOut ?? opts.dataIn?.length ?? 0;
  let ctxOutSize = opts.ctxSizeOut ?? 0;
  for (let attempt = 0; ; attempt++) {
    const dataOut = dataOutSize > 0 ? Buffer.alloc(dataOutSize) : null;
    const ctxOut = ctxOutSize > 0 ? Buffer.alloc(ctxOutSize) : null;
    const a = new Attr('PROG_TEST_RUN');
    a.set('prog_fd', fd)
      .ptr('data_in', opts.dataIn)
      .set('data_size_in', opts.dataIn?.length ?? 0)
      .ptr('data_out', dataOut)
      .set('data_size_out', dataOutSize)
      .ptr('ctx_in', opts.ctxIn)
      .set('ctx_size_in', opts.ctxIn?.length ?? 0)
      .ptr('ctx_out', ctxOut)
      .set('ctx_size_out', ctxOutSize)
      .set('repeat', opts.repeat ?? 0)
      .set('flags', opts.flags ?? 0)
      .set('cpu', opts.cpu ?? 0)
      .set('batch_size', opts.batchSize ?? 0);
    const r = a.call(BPF_CMD.PROG_TEST_RUN);
    const gotData = a.get('data_size_out');
    const gotCtx = a.get('ctx_size_out');
    if (r === -ENOSPC && attempt === 0 && (gotData > dataOutSize || gotCtx > ctxOutSize)) {
      dataOutSize = Math.max(dataOutSize, gotData);
      ctxOutSize = Math.max(ctxOutSize, gotCtx);
      continue;
    }
    if (r < 0) throw syscallError('bpf', 'BPF_PROG_TEST_RUN', -r);
    const res: ProgTestRunResult = { retval: a.get('retval'), duration: a.get('duration') };
    if (dataOut) res.dataOut = dataOut.subarray(0, Math.min(gotData, dataOut.length));
    if (ctxOut) res.ctxOut = ctxOut.subarray(0, Math.min(gotCtx, ctxOut.length));
    return res;
  }
}

// ------------------------------------------------------------------------------------------------
// Ids
// ------------------------------------------------------------------------------------------------

export type ObjKind = 'prog' | 'map' | 'btf' | 'link';

const NEXT_ID_CMD: Record<ObjKind, number> = {
  prog: BPF_CMD.PROG_GET_NEXT_ID,
  map: BPF_CMD.MAP_GET_NEXT_ID,
  btf: BPF_CMD.BTF_GET_NEXT_ID,
  link: BPF_CMD.LINK_GET_NEXT_ID,
};
const FD_BY_ID_CMD: Record<ObjKind, number> = {
  prog: BPF_CMD.PROG_GET_FD_BY_ID,
  map: BPF_CMD.MAP_GET_FD_BY_ID,
  btf: BPF_CMD.BTF_GET_FD_BY_ID,
  link: BPF_CMD.LINK_GET_FD_BY_ID,
};

/** BPF_*_GET_NEXT_ID: the smallest id > startId, or 0 when there is none. */
export function getNextId(kind: ObjKind, startId: number): number {
  const a = new Attr('GET_ID');
  a.set('start_id', startId);
  const r = a.call(NEXT_ID_CMD[kind]);
  if (r === -ENOENT) return 0;
  if (r < 0) fail(NEXT_ID_CMD[kind], -r);
  return a.get('next_id');
}

function fdById(kind: ObjKind, id: number, openFlags: number, what?: string): Fd {
  const a = new Attr('GET_ID');
  a.set('start_id', id).set('open_flags', openFlags);
  const r = a.call(FD_BY_ID_CMD[kind]);
  if (r < 0) fail(FD_BY_ID_CMD[kind], -r, `${kind} id ${id}`);
  return new Fd(r, what ?? `${kind} id ${id}`);
}

export function progGetFdById(id: number, what?: string): Fd {
  return fdById('prog', id, 0, what);
}
/** openFlags: BPF_F_RDONLY / BPF_F_WRONLY. */
export function mapGetFdById(id: number, openFlags = 0, what?: string): Fd {
  return fdById('map', id, openFlags, what);
}
export function btfGetFdById(id: number, what?: string): Fd {
  return fdById('btf', id, 0, what);
}
export function linkGetFdById(id: number, what?: string): Fd {
  return fdById('link', id, 0, what);
}

// ------------------------------------------------------------------------------------------------
// Attachment
// ------------------------------------------------------------------------------------------------

export interface LinkCreateOptions {
  flags?: number;
  /** BTF id of the target (freplace, fentry with attach to another program). */
  targetBtfId?: number;
  /** struct bpf_iter_link_info bytes (BPF_TRACE_ITER). */
  iterInfo?: Uint8Array;
  /** bpf_cookie for BPF_PERF_EVENT links. */
  perfEventCookie?: bigint;
  /** cookie for tracing (fentry/fexit/…) links. */
  tracingCookie?: bigint;
  kprobeMulti?: {
    flags?: number;
    /** Function names (mutually exclusive with addrs). */
    syms?: string[];
    addrs?: BigUint64Array;
    cookies?: BigUint64Array;
  };
  uprobeMulti?: {
    path: string;
    offsets: BigUint64Array;
    refCtrOffsets?: BigUint64Array;
    cookies?: BigUint64Array;
    flags?: number;
    pid?: number;
  };
  netfilter?: { pf: number; hooknum: number; priority: number; flags?: number };
  /** tcx / netkit / cgroup (mprog) ordering. */
  relativeFd?: number;
  relativeId?: number;
  expectedRevision?: bigint;
  /** Which union member relativeFd/relativeId/expectedRevision go to (same offsets; informational). */
}

/** BPF_LINK_CREATE: attaches progFd (or a struct_ops map fd) to a target fd or ifindex. */
export function linkCreate(progFd: number, targetFdOrIfindex: number, attachType: number, opts: LinkCreateOptions = {},
  what = 'link'): Fd {
  const a = new Attr('LINK_CREATE');
  a.set('prog_fd', progFd).set('target_fd', targetFdOrIfindex).set('attach_type', attachType).set('flags', opts.flags ?? 0);
  if (opts.targetBtfId) a.set('target_btf_id', opts.targetBtfId);
  if (opts.iterInfo) a.ptr('iter_info', opts.iterInfo).set('iter_info_len', opts.iterInfo.length);
  if (opts.perfEventCookie !== undefined) a.set('perf_event_bpf_cookie', opts.perfEventCookie);
  if (opts.tracingCookie !== undefined) a.set('tracing_cookie', opts.tracingCookie);
  const keep: Buffer[] = [];
  if (opts.kprobeMulti) {
    const k = opts.kprobeMulti;
    const cnt = k.syms?.length ?? k.addrs?.length ?? 0;
    a.set('kprobe_multi_flags', k.flags ?? 0).set('kprobe_multi_cnt', cnt);
    if (k.syms) {
      // An array of char* pointing at NUL-terminated names.
      const ptrs = new BigUint64Array(k.syms.length);
      k.syms.forEach((s, i) => {
        const c = cString(s);
        keep.push(c);
        ptrs[i] = BigInt(addressOf(c));
      });
      a.ptr('kprobe_multi_syms', ptrs);
    }
    if (k.addrs) a.ptr('kprobe_multi_addrs', k.addrs);
    if (k.cookies) a.ptr('kprobe_multi_cookies', k.cookies);
  }
  if (opts.uprobeMulti) {
    const u = opts.uprobeMulti;
    a.ptr('uprobe_multi_path', cString(u.path))
      .ptr('uprobe_multi_offsets', u.offsets)
      .ptr('uprobe_multi_ref_ctr_offsets', u.refCtrOffsets)
      .ptr('uprobe_multi_cookies', u.cookies)
      .set('uprobe_multi_cnt', u.offsets.length)
      .set('uprobe_multi_flags', u.flags ?? 0)
      .set('uprobe_multi_pid', u.pid ?? 0);
  }
  if (opts.netfilter) {
    const n = opts.netfilter;
    a.set('netfilter_pf', n.pf).set('netfilter_hooknum', n.hooknum).set('netfilter_priority', n.priority)
      .set('netfilter_flags', n.flags ?? 0);
  }
  // tcx, netkit and cgroup share the same layout at the same offsets.
  if (opts.relativeFd) a.set('tcx_relative_fd', opts.relativeFd);
  else if (opts.relativeId) a.set('tcx_relative_id', opts.relativeId);
  if (opts.expectedRevision !== undefined) a.set('tcx_expected_revision', opts.expectedRevision);
  const r = a.call(BPF_CMD.LINK_CREATE);
  keep.length = 0;
  if (r < 0) throw syscallError('bpf', 'BPF_LINK_CREATE', -r, { what });
  return new Fd(r, what);
}

/** BPF_RAW_TRACEPOINT_OPEN: attaches a raw_tp (by name) or tracing/LSM program (name null). */
export function rawTracepointOpen(name: string | null, progFd: number, cookie?: bigint, what?: string): Fd {
  const a = new Attr('RAW_TRACEPOINT_OPEN');
  a.ptr('name', name === null ? null : cString(name)).set('prog_fd', progFd);
  if (cookie !== undefined) a.set('cookie', cookie);
  const label = what ?? `link raw_tp ${name ?? '(btf target)'}`;
  const r = a.call(BPF_CMD.RAW_TRACEPOINT_OPEN);
  if (r < 0) throw syscallError('bpf', 'BPF_RAW_TRACEPOINT_OPEN', -r, { what: label });
  return new Fd(r, label);
}

export interface ProgAttachOptions {
  flags?: number;
  replaceProgFd?: number;
  relativeFd?: number;
  relativeId?: number;
  expectedRevision?: bigint;
}

/** BPF_PROG_ATTACH (legacy, non-link attachment: cgroups, sockmaps, flow dissector, …). */
export function progAttach(progFd: number, targetFd: number, attachType: number, opts: ProgAttachOptions = {}): void {
  const a = new Attr('PROG_ATTACH');
  a.set('target_fd', targetFd).set('attach_bpf_fd', progFd).set('attach_type', attachType)
    .set('attach_flags', opts.flags ?? 0).set('replace_bpf_fd', opts.replaceProgFd ?? 0);
  if (opts.relativeFd) a.set('relative_fd', opts.relativeFd);
  else if (opts.relativeId) a.set('relative_id', opts.relativeId);
  if (opts.expectedRevision !== undefined) a.set('expected_revision', opts.expectedRevision);
  const r = a.call(BPF_CMD.PROG_ATTACH);
  if (r < 0) throw syscallError('bpf', 'BPF_PROG_ATTACH', -r);
}

/** BPF_PROG_DETACH (progFd 0 detaches whatever is attached, for single-program hooks). */
export function progDetach(progFd: number, targetFd: number, attachType: number, opts: ProgAttachOptions = {}): void {
  const a = new Attr('PROG_ATTACH');
  a.set('target_fd', targetFd).set('attach_bpf_fd', progFd).set('attach_type', attachType)
    .set('attach_flags', opts.flags ?? 0);
  if (opts.relativeFd) a.set('relative_fd', opts.relativeFd);
  else if (opts.relativeId) a.set('relative_id', opts.relativeId);
  if (opts.expectedRevision !== undefined) a.set('expected_revision', opts.expectedRevision);
  const r = a.call(BPF_CMD.PROG_DETACH);
  if (r < 0) throw syscallError('bpf', 'BPF_PROG_DETACH', -r);
}

/** BPF_LINK_DETACH: detaches the link (its fd stays open but defunct). */
export function linkDetach(linkFd: number): void {
  const a = new Attr('LINK_DETACH');
  a.set('link_fd', linkFd);
  const r = a.call(BPF_CMD.LINK_DETACH);
  if (r < 0) throw syscallError('bpf', 'BPF_LINK_DETACH', -r);
}

/** BPF_LINK_UPDATE: replaces the link's program (oldProgFd with BPF_F_REPLACE to make it conditional). */
export function linkUpdate(linkFd: number, newProgFd: number, opts: { flags?: number; oldProgFd?: number } = {}): void {
  const a = new Attr('LINK_UPDATE');
  a.set('link_fd', linkFd).set('new_prog_fd', newProgFd).set('flags', opts.flags ?? 0).set('old_prog_fd', opts.oldProgFd ?? 0);
  const r = a.call(BPF_CMD.LINK_UPDATE);
  if (r < 0) throw syscallError('bpf', 'BPF_LINK_UPDATE', -r);
}

/** BPF_PROG_BIND_MAP: keeps mapFd alive as long as progFd (libbpf binds .rodata this way). */
export function progBindMap(progFd: number, mapFd: number, flags = 0): void {
  const a = new Attr('PROG_BIND_MAP');
  a.set('prog_fd', progFd).set('map_fd', mapFd).set('flags', flags);
  const r = a.call(BPF_CMD.PROG_BIND_MAP);
  if (r < 0) throw syscallError('bpf', 'BPF_PROG_BIND_MAP', -r);
}

/** BPF_ITER_CREATE: an fd to read() the output of an iterator link. */
export function iterCreate(linkFd: number, what = 'iter'): Fd {
  const a = new Attr('ITER_CREATE');
  a.set('link_fd', linkFd);
  const r = a.call(BPF_CMD.ITER_CREATE);
  if (r < 0) throw syscallError('bpf', 'BPF_ITER_CREATE', -r);
  return new Fd(r, what);
}

/** BPF_ENABLE_STATS (type 0 = BPF_STATS_RUN_TIME): run_time_ns/run_cnt are counted while the fd is open. */
export function enableStats(type = 0): Fd {
  const a = new Attr('ENABLE_STATS');
  a.set('type', type);
  const r = a.call(BPF_CMD.ENABLE_STATS);
  if (r < 0) throw syscallError('bpf', 'BPF_ENABLE_STATS', -r);
  return new Fd(r, 'stats');
}

/**
 * Raw bpf(cmd, attr) for commands not wrapped here. Returns the result or -errno. `attr` must
 * be zeroed beyond the fields set.
 */
export function bpfRaw(cmd: number, attr: Uint8Array): number {
  pinA = attr;
  const ret = sysBpf(NR_BPF, cmd, addressOf(attr), attr.length);
  const r = ret < 0 ? -errno() : ret;
  pinA = null;
  return r;
}
