// UserRingBuffer: the producer side of BPF_MAP_TYPE_USER_RINGBUF (libbpf's user_ring_buffer__*).
// User space writes records, a BPF program drains them with bpf_user_ringbuf_drain().
//
// Memory: the consumer position page is mapped read-only (the kernel consumes); the producer page and
// the data pages (mapped twice, so a record that wraps stays contiguous) are mapped read-write.
// Protocol: reserve writes the header (length | BUSY) and publishes the producer position; submit
// clears BUSY (or sets DISCARD) with an atomic exchange, which is the release the kernel's acquire
// load pairs with. The kernel stops draining at a BUSY record, so records are consumed in reservation
// order even when submitted out of order.
//
// Waiting for space: the map fd reports EPOLLOUT while the ring is not full, which says nothing about
// whether *our* record fits, so it is registered edge-triggered: every drain that frees space wakes us
// once, we retry, and otherwise wait for the next drain instead of spinning.

import { Epoll, EPOLLOUT, MappedRegion, pageSize, type WaitMode } from '../../syscalls/index.js';
import { BpfError, StateError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MAP_TYPE } from '../spec/map-types.js';
import { checkTimeout, loadPos, onAbort, remaining, resolveMap, storePos } from './shared.js';
import { Waiter } from './waiter.js';

const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;
const EPOLLET = 0x80000000;

export interface UserRingBufferOptions {
  /** Aborting closes the buffer: a pending reserveBlocking() resolves with null. */
  signal?: AbortSignal;
  /** How reserveBlocking() waits: 'uv-poll' (libuv poll handle, default) or 'threadpool'. */
  wait?: WaitMode;
}

/**
 * Producer for a user ring buffer map.
 *
 * ```ts
 * using urb = new UserRingBuffer(obj.map('requests'));
 * const s = urb.reserve(16);                 // null when the ring is full
 * if (s) { new DataView(s.buffer, s.byteOffset).setUint32(0, 42, true); urb.submit(s); }
 * const t = await urb.reserveBlocking(16, 1000);   // waits (without blocking) for the BPF side to drain
 * ```
 *
 * A reserved sample is a zero-copy view of the ring: write it, then submit() or discard() it exactly
 * once, and do not touch it afterwards (the kernel may be reading or reusing that memory). In copy mode
 * (Electron, TSBPF_FORCE_COPY=1) it is a plain buffer copied into the ring by submit().
 */
export class UserRingBuffer {
  /** Data size in bytes (the map's max_entries). */
  readonly size: number;
  readonly name: string;
  readonly zeroCopy: boolean;
  readonly #pageSize: number;
  readonly #consRegion: MappedRegion;
  readonly #prodRegion: MappedRegion;
  readonly #epoll: Epoll;
  readonly #waiter: Waiter;
  readonly #c32: Uint32Array | null = null;
  readonly #p32: Uint32Array | null = null;
  readonly #p64: BigUint64Array | null = null;
  readonly #h32: Int32Array | null = null;
  readonly #data: Uint8Array | null = null;
  /** Reserved, not yet submitted samples → header offset in the data area. */
  readonly #outstanding = new Map<Uint8Array, number>();
  /** reserveBlocking calls queue behind each other (one waiter at a time, FIFO). */
  #blockingTail: Promise<void> = Promise.resolve();
  #unabort: (() => void) | undefined;
  #closed = false;

  constructor(map: BpfMap | number, opts: UserRingBufferOptions = {}) {
    const m = resolveMap(map, MAP_TYPE.USER_RINGBUF, 'UserRingBuffer');
    const ps = pageSize();
    this.size = m.maxEntries;
    this.name = m.name;
    this.#pageSize = ps;
    if (2 * m.maxEntries + ps > 2 ** 32) {
      throw new BpfError(`UserRingBuffer: ring ${m.name} of ${m.maxEntries} bytes is too big to map twice in one view`, { errno: 7, cmd: 'UserRingBuffer' });
    }
    const opened: { close(): void }[] = [];
    try {
      this.#consRegion = MappedRegion.mapFd(m.fd, ps, 'r');
      opened.push(this.#consRegion);
      this.#prodRegion = MappedRegion.mapFd(m.fd, ps + 2 * m.maxEntries, 'rw', ps);
      opened.push(this.#prodRegion);
      this.#epoll = new Epoll(1, 'UserRingBuffer epoll');
      opened.push(this.#epoll);
      this.#epoll.add(m.fd, EPOLLOUT | EPOLLET, 0);
      this.#waiter = new Waiter(this.#epoll.fd, opts.wait, 'UserRingBuffer');
      opened.unshift(this.#waiter);
      this.#unabort = onAbort(opts.signal, () => this.close(), 'UserRingBuffer');
    } catch (e) {
      for (const o of opened) o.close();
      throw e;
    }
    this.zeroCopy = this.#consRegion.zeroCopy && this.#prodRegion.zeroCopy;
    if (this.zeroCopy) {
      const pb = this.#prodRegion.bytes.buffer;
      this.#c32 = new Uint32Array(this.#consRegion.bytes.buffer, 0, 2);
      this.#p32 = new Uint32Array(pb, 0, 2);
      this.#p64 = new BigUint64Array(pb, 0, 1);
      this.#h32 = new Int32Array(pb, ps, (2 * m.maxEntries) / 4);
      this.#data = new Uint8Array(pb, ps, 2 * m.maxEntries);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  #cons(): number {
    return this.zeroCopy ? loadPos(this.#c32!, 0) : Number(this.#consRegion.readU64(0));
  }
  #prod(): number {
    return this.zeroCopy ? loadPos(this.#p32!, 0) : Number(this.#prodRegion.readU64(0));
  }

  /** Free bytes in the ring (a record takes its size + 8, rounded up to 8). */
  get freeBytes(): number {
    this.#check();
    return this.size - (this.#prod() - this.#cons());
  }

  /** Samples reserved and not yet submitted or discarded. */
  get pending(): number {
    return this.#outstanding.size;
  }

  /**
   * Reserves `size` bytes (user_ring_buffer__reserve). Returns the sample to fill, or null when the
   * ring has no room now (ENOSPC). Throws E2BIG for a size that can never fit.
   */
  reserve(size: number): Uint8Array | null {
    this.#check();
    if (!Number.isInteger(size) || size < 0 || size > 0x3fffffff || ((size + HDR + 7) & ~7) > this.size) {
      throw new BpfError(`UserRingBuffer ${this.name}: a ${size}-byte sample can never fit in a ${this.size}-byte ring (E2BIG)`, {
        errno: 7, cmd: 'reserve', advice: 'samples take their size + 8 bytes of header, rounded up to 8',
      });
    }
    const total = (size + HDR + 7) & ~7;
    const cons = this.#cons();
    const prod = this.#prod();
    if (this.size - (prod - cons) < total) return null;
    const hdrOff = prod % this.size;
    let sample: Uint8Array;
    if (this.zeroCopy) {
      const h32 = this.#h32!;
      Atomics.store(h32, hdrOff >> 2, (size | BUSY) | 0);
      Atomics.store(h32, (hdrOff >> 2) + 1, 0);
      // The header is in place before the kernel can see the new producer position.
      storePos(this.#p32!, this.#p64!, 0, prod + total, prod);
      sample = this.#data!.subarray(hdrOff + HDR, hdrOff + HDR + size);
    } else {
      this.#prodRegion.writeU32(this.#pageSize + hdrOff, (size | BUSY) >>> 0);
      this.#prodRegion.writeU32(this.#pageSize + hdrOff + 4, 0);
      this.#prodRegion.writeU64(0, prod + total);
      sample = new Uint8Array(size);
    }
    this.#outstanding.set(sample, hdrOff);
    return sample;
  }

  /**
   * Like reserve(), but waits (without blocking the event loop) until the BPF side drains enough
   * (user_ring_buffer__reserve_blocking). `timeoutMs` -1 waits forever. Resolves with null on timeout
   * or when the buffer is closed meanwhile. Concurrent calls are served in order.
   */
  async reserveBlocking(size: number, timeoutMs = -1): Promise<Uint8Array | null> {
    this.#check();
    checkTimeout(timeoutMs, 'UserRingBuffer.reserveBlocking');
    const deadline = performance.now() + Math.max(0, timeoutMs);
    const before = this.#blockingTail;
    let release!: () => void;
    this.#blockingTail = new Promise<void>((r) => (release = r));
    try {
      await before;
      for (;;) {
        if (this.#closed) return null;
        const s = this.reserve(size);
        if (s) return s;
        const left = remaining(timeoutMs, deadline);
        if (left === 0 && timeoutMs !== -1) return null;
        const r = await this.#waiter.wait(left);
        if (r === 'closed') return null;
        if (r === 'timeout') return this.#closed ? null : this.reserve(size);
        // Consume the edge-triggered notification before retrying, so a drain that happens after
        // this point is a new notification and is not lost.
        this.#epoll.wait(0);
      }
    } finally {
      release();
    }
  }

  /** Publishes a reserved sample to the BPF side (user_ring_buffer__submit). */
  submit(sample: Uint8Array): void {
    this.#commit(sample, false);
  }

  /** Gives a reserved sample back unread (user_ring_buffer__discard); the kernel skips it. */
  discard(sample: Uint8Array): void {
    this.#commit(sample, true);
  }

  #commit(sample: Uint8Array, discard: boolean): void {
    this.#check();
    const hdrOff = this.#outstanding.get(sample);
    if (hdrOff === undefined) {
      throw new StateError(`UserRingBuffer ${this.name}: not a sample reserved from this buffer, or already submitted/discarded`, {
        cmd: discard ? 'discard' : 'submit', errno: 22,
      });
    }
    this.#outstanding.delete(sample);
    const len = (sample.byteLength | (discard ? DISCARD : 0)) >>> 0;
    if (this.zeroCopy) {
      Atomics.exchange(this.#h32!, hdrOff >> 2, len | 0);
    } else {
      if (!discard && sample.byteLength > 0) this.#prodRegion.write(this.#pageSize + hdrOff + HDR, sample);
      this.#prodRegion.writeU32(this.#pageSize + hdrOff, len);
    }
  }

  /**
   * Unmaps the ring and closes the epoll fd. Samples still reserved stay BUSY, so the BPF side stops at
   * them (as with libbpf). A pending reserveBlocking() resolves with null. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unabort?.();
    this.#outstanding.clear();
    this.#waiter?.close();
    this.#consRegion?.close();
    this.#prodRegion?.close();
    this.#epoll?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(): void {
    if (this.#closed) throw new StateError(`UserRingBuffer ${this.name} is closed`, { cmd: 'UserRingBuffer' });
  }
}
