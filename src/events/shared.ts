// Helpers shared by the ring buffer, perf buffer and user ring buffer: 64-bit positions in shared
// memory as Numbers, map resolution, option checks.
//
// Positions are u64 byte counters that only grow. Numbers hold them exactly up to 2^53 (8 PiB of
// records), which avoids a BigInt allocation per read. A u64 cannot be read in one access from JS
// without BigInt, so it is read as two u32 halves with a retry when the high half changed in between.
// Writes (our consumer/producer positions) store only the low half, with Atomics (seq_cst, so also a
// release), as long as the high half is unchanged, which is 4 GiB of records at a time; when it
// changes, the whole u64 is written at once through a BigUint64Array so the kernel never sees a torn
// value (a torn consumer position would make the producer see a full or overfull ring).
//
// Memory ordering: on x86-64 (TSO) plain loads are never reordered with other loads, so headers and
// positions are read with plain typed-array loads, which V8 compiles to a mov (Atomics.load costs ~4 ns
// more per record here because it is not inlined). Elsewhere (arm64) Atomics.load gives the acquire
// the record protocol needs.

import { mapInfo } from '../../syscalls/index.js';
import { BpfError, StateError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MAP_TYPE } from '../spec/map-types.js';

export const PLAIN_LOADS = process.arch === 'x64';
const TWO32 = 4294967296;

/**
 * Reads the u64 at u32 index `i` (low half) and `i + 1` (high half) as a Number, without tearing.
 * The retry (the high half changed between the reads, once per 4 GiB) is a separate function so
 * that what the drains inline stays small and loop-free. The result is a double-valued Number:
 * callers derive int32 ring offsets from it with `& mask`, never with `%` (see ringbuf.ts).
 */
export function loadPos(u32: Uint32Array, i: number): number {
  if (PLAIN_LOADS) {
    const hi = u32[i + 1]!;
    const lo = u32[i]!;
    if (u32[i + 1] === hi) return hi * TWO32 + lo;
  } else {
    const hi = Atomics.load(u32, i + 1);
    const lo = Atomics.load(u32, i);
    if (Atomics.load(u32, i + 1) === hi) return hi * TWO32 + lo;
  }
  return loadPosRetry(u32, i);
}

/** The high half changed between the two reads (the low half wrapped): read again until stable. */
function loadPosRetry(u32: Uint32Array, i: number): number {
  for (;;) {
    const hi = Atomics.load(u32, i + 1);
    const lo = Atomics.load(u32, i);
    if (Atomics.load(u32, i + 1) === hi) return hi * TWO32 + lo;
  }
}

/**
 * Stores `pos` at u32 index `i` with release semantics, given that the stored value was `prev`.
 * `u64` views the same memory (index i / 2) for the rare store that changes the high half.
 */
export function storePos(u32: Uint32Array, u64: BigUint64Array, i: number, pos: number, prev: number): void {
  if (Math.floor(pos / TWO32) === Math.floor(prev / TWO32)) Atomics.store(u32, i, pos >>> 0);
  else Atomics.store(u64, i >> 1, BigInt(pos));
}

/**
 * A record limit as the int32 count at which a drain stops (compared with ===: an int compare in the
 * per-record loop, where `n >= Infinity` was a measurable float compare). Limits of 2^31 - 1 or more
 * (Infinity by default) stop a drain after 2^31 - 1 records, which only ends that consume() call.
 */
export function stopCount(max: number): number {
  return max < 0x7fffffff ? Math.ceil(max) : 0x7fffffff;
}

/** Round up to a multiple of 8. */
export function roundUp8(n: number): number {
  return (n + 7) & ~7;
}

export interface ResolvedMap {
  fd: number;
  name: string;
  maxEntries: number;
}

const TYPE_NAMES: Record<number, string> = {
  [MAP_TYPE.RINGBUF]: 'BPF_MAP_TYPE_RINGBUF',
  [MAP_TYPE.USER_RINGBUF]: 'BPF_MAP_TYPE_USER_RINGBUF',
  [MAP_TYPE.PERF_EVENT_ARRAY]: 'BPF_MAP_TYPE_PERF_EVENT_ARRAY',
};

/** The fd, name and size of a BpfMap or map fd, checked to be of type `want` (by asking the kernel). */
export function resolveMap(source: BpfMap | number, want: number, what: string): ResolvedMap {
  let fd: number;
  let name: string;
  if (typeof source === 'number') {
    if (!Number.isInteger(source) || source < 0) throw new BpfError(`${what}: ${source} is not a map fd`, { errno: 9, cmd: what });
    fd = source;
    name = `fd ${source}`;
  } else if (source && typeof source === 'object' && 'fd' in source) {
    fd = source.fd; // throws a StateError before load / after close
    name = `'${source.name}'`;
  } else {
    throw new BpfError(`${what} takes a BpfMap or a map fd`, { errno: 22, cmd: what });
  }
  const info = mapInfo(fd);
  if (info.type !== want) {
    throw new BpfError(`${what}: map ${name} is not a ${TYPE_NAMES[want]} (its type is ${info.type})`, {
      errno: 22, cmd: what, map: typeof source === 'number' ? undefined : source.name,
      advice: want === MAP_TYPE.PERF_EVENT_ARRAY ? 'use RingBuffer for BPF_MAP_TYPE_RINGBUF maps'
        : want === MAP_TYPE.RINGBUF ? 'use PerfBuffer for BPF_MAP_TYPE_PERF_EVENT_ARRAY maps, UserRingBuffer for user ring buffers'
          : undefined,
    });
  }
  return { fd, name, maxEntries: info.maxEntries };
}

/** Checks a poll timeout: an integer ≥ -1 (ms; -1 waits forever). */
export function checkTimeout(timeoutMs: number, what: string): void {
  if (!Number.isInteger(timeoutMs) || timeoutMs < -1) {
    throw new BpfError(`${what}: timeout must be an integer number of milliseconds >= -1, got ${timeoutMs}`, { errno: 22, cmd: what });
  }
}

/** Remaining ms until `deadline` (performance.now() based) for a timeout given as `timeoutMs`. */
export function remaining(timeoutMs: number, deadline: number): number {
  if (timeoutMs < 0) return -1;
  if (timeoutMs === 0) return 0;
  return Math.max(0, Math.ceil(deadline - performance.now()));
}

/** Wires an AbortSignal to close(); returns the function that unwires it. */
export function onAbort(signal: AbortSignal | undefined, close: () => void, what: string): (() => void) | undefined {
  if (!signal) return undefined;
  if (signal.aborted) throw new StateError(`${what}: the AbortSignal is already aborted`, { cmd: what });
  const listener = (): void => close();
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/**
 * Resolves in the check phase of the event loop (setImmediate), after pending I/O callbacks: signal
 * handlers, timers and sockets get their turn. Promise continuations alone never give them one.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
