// RingBuffer: the consumer of BPF_MAP_TYPE_RINGBUF maps (libbpf's ring_buffer__*), zero-copy and
// without ever blocking the event loop.
//
// Memory (per ring, as the kernel lays it out): page 0 is the consumer position, mapped read-write;
// from page 1 on come the producer position page and the data pages, mapped read-only, with the data
// mapped twice in a row so that a record that wraps past the end is still contiguous.
//
// Record protocol: each record has an 8-byte header whose u32 length carries BUSY (bit 31, still being
// written) and DISCARD (bit 30) flags; records are 8-byte aligned. The consumer stops at a BUSY record,
// skips DISCARD ones, and publishes its position (release) after the records it has read. Here the
// position is published once per batch (at most every ring/8 bytes and at the end of every drain),
// not per record as libbpf does: per-record Atomics stores would cost more than the rest of the loop.
// The kernel only wakes a consumer whose published position equals the committed record's, so the
// position is always published before control returns to the event loop.
//
// Waiting: the rings share one epoll fd, watched by a libuv poll handle (or the threadpool), see
// waiter.ts. Copy mode (Electron, TSBPF_FORCE_COPY=1, setZeroCopy(false)): no view ever aliases the
// ring; each drain copies the committed records into a reused buffer and delivers views of that copy.

import { EPOLLIN, MappedRegion, pageSize, type WaitMode } from '../../syscalls/index.js';
import { BpfError, StateError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MAP_TYPE } from '../spec/map-types.js';
import { RecordView } from './record.js';
import { loadPos, PLAIN_LOADS, resolveMap, stopCount, storePos } from './shared.js';
import { EventStream } from './stream.js';

const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const LEN_MASK = 0x3fffffff;
const HDR = 8;

/** A ring buffer map: a loaded BpfMap, or the fd of one. */
export type RingSource = BpfMap | number;

/**
 * Called for each record. `record` is valid only until the callback returns (copy() it to keep it).
 * Return `false` to stop the drain after this record; throwing also stops it (the record counts as
 * consumed) and the error propagates.
 */
export type RingCallback = (record: RecordView, source: RingSource) => unknown;

export interface RingBufferOptions {
  /** Aborting closes the buffer: a pending poll() resolves with 0 and iterations end. */
  signal?: AbortSignal;
  /** How poll() and iteration wait: 'uv-poll' (libuv poll handle, default) or 'threadpool'. */
  wait?: WaitMode;
}

/** One ring of a RingBuffer (libbpf's `struct ring`). */
export class Ring {
  readonly index: number;
  /** The map or fd this ring was added with. */
  readonly source: RingSource;
  /** The map's name for messages ('name' or 'fd N'). */
  readonly name: string;
  /** Data size in bytes (the map's max_entries). */
  readonly size: number;
  /** @internal */ callback: RingCallback | undefined;
  /** @internal */ readonly zeroCopy: boolean;
  readonly #owner: RingBuffer;
  readonly #mask: number;
  readonly #pageSize: number;
  readonly #consRegion: MappedRegion;
  readonly #dataRegion: MappedRegion;
  /** Publish the consumer position at least every this many bytes during a long drain. */
  readonly #stride: number;
  // Zero-copy views (null in copy mode).
  readonly #c32: Uint32Array | null = null;
  readonly #c64: BigUint64Array | null = null;
  readonly #p32: Uint32Array | null = null;
  readonly #h32: Int32Array | null = null;
  readonly #dv: DataView | null = null;
  // Copy mode: a reused buffer holding the last copied span.
  #scratch: Uint8Array | null = null;
  #s32: Int32Array | null = null;
  #sdv: DataView | null = null;
  /** Iteration: end position of the record handed out and not yet released. */
  #heldEnd = -1;
  #closed = false;

  /** @internal */
  constructor(owner: RingBuffer, index: number, source: RingSource, callback: RingCallback | undefined) {
    const m = resolveMap(source, MAP_TYPE.RINGBUF, 'RingBuffer');
    const ps = pageSize();
    this.#owner = owner;
    this.index = index;
    this.source = source;
    this.name = m.name;
    this.size = m.maxEntries;
    this.callback = callback;
    this.#mask = m.maxEntries - 1;
    this.#pageSize = ps;
    this.#stride = Math.max(ps, m.maxEntries / 8);
    if (2 * m.maxEntries + ps > 2 ** 32) {
      throw new BpfError(`RingBuffer: ring ${m.name} of ${m.maxEntries} bytes is too big to map twice in one view`, { errno: 7, cmd: 'RingBuffer' });
    }
    this.#consRegion = MappedRegion.mapFd(m.fd, ps, 'rw');
    try {
      this.#dataRegion = MappedRegion.mapFd(m.fd, ps + 2 * m.maxEntries, 'r', ps);
    } catch (e) {
      this.#consRegion.close();
      throw e;
    }
    this.zeroCopy = this.#consRegion.zeroCopy && this.#dataRegion.zeroCopy;
    if (this.zeroCopy) {
      const cb = this.#consRegion.bytes.buffer;
      const db = this.#dataRegion.bytes.buffer;
      this.#c32 = new Uint32Array(cb, 0, 2);
      this.#c64 = new BigUint64Array(cb, 0, 1);
      this.#p32 = new Uint32Array(db, 0, 2);
      this.#h32 = new Int32Array(db, ps, (2 * m.maxEntries) / 4);
      this.#dv = new DataView(db, ps, 2 * m.maxEntries);
    }
  }

  /** The consumer position (bytes consumed since creation). */
  get consumerPosition(): number {
    this.#check();
    return this.zeroCopy ? loadPos(this.#c32!, 0) : Number(this.#consRegion.readU64(0));
  }

  /** The producer position (bytes reserved since creation, committed or not). */
  get producerPosition(): number {
    this.#check();
    return this.zeroCopy ? loadPos(this.#p32!, 0) : Number(this.#dataRegion.readU64(0));
  }

  /** Bytes between the consumer and the producer (ring__avail_data_size). */
  get availableBytes(): number {
    return this.producerPosition - this.consumerPosition;
  }

  /** Drains this ring only (ring__consume_n); see RingBuffer.consume. */
  consume(callback?: RingCallback, maxRecords = Infinity): number {
    return this.#owner._consumeRings([this], callback, maxRecords);
  }

  /** @internal */
  _drain(cb: RingCallback, view: RecordView, max: number): number {
    return this.zeroCopy ? this.#drainZeroCopy(cb, view, stopCount(max)) : this.#drainCopy(cb, view, max);
  }

  /**
   * Zero-copy drain: records are read in place. Positions are Numbers (exact below 2^53), but the
   * per-record loop only does int32 arithmetic: `adv` counts the bytes taken since `base`, the
   * position last published, and a batch stops after `stride` bytes (a ring/8) to publish. Keeping
   * every loop variable an int32 matters: a double-valued ring offset (from `cons % size` on a
   * Number position) made TurboFan's loop twice as slow.
   */
  #drainZeroCopy(cb: RingCallback, view: RecordView, stop: number): number {
    const h32 = this.#h32!;
    const c32 = this.#c32!;
    const c64 = this.#c64!;
    const p32 = this.#p32!;
    const mask = this.#mask | 0;
    const src = this.source;
    const stride = this.#stride;
    const plain = PLAIN_LOADS;
    // An int32 local, not the tagged parameter, in the per-record `n === stop` test (see PerfBuffer).
    const stopAt = stop | 0;
    let base = loadPos(c32, 0);
    let adv = 0;
    let n = 0;
    // ToInt32 keeps the low 32 bits of an integral Number, and the ring size divides 2^32.
    let off = base & mask;
    view._dv = this.#dv!;
    view.source = src;
    let stopped = false;
    // The producer position is read once: records committed during the drain wait for the next
    // call. libbpf's ring_buffer__consume keeps reading while records arrive, which a C program can
    // afford (its signal handler runs anyway); here a producer that keeps pace with the callbacks
    // (a tracer whose own output makes events) would keep the loop going forever, and the event
    // loop (SIGINT handlers, timers) with it. Bounding it by bytes instead (a ring's size) was not
    // enough: a 16 MiB ring of small records with slow callbacks took seconds per call.
    const prod = loadPos(p32, 0);
    try {
      for (;;) {
        const avail = prod - base;
        if (avail <= 0) break; // everything before `base` is published already
        // An int32 (avail never exceeds the ring size), so the loop test is an int compare.
        const lim = (avail < stride ? avail : stride) | 0;
        // Hot loop. Flag values are literals (BUSY 0x80000000, length mask 0x3fffffff, DISCARD
        // 0x40000000, header 8 bytes). On x86-64 (TSO) a plain load of the header is an acquire;
        // elsewhere it takes Atomics.load. `plain` is a local because reading the imported binding
        // per record cost 0.6 ns (V8 does not fold it); a branch on a local costs about nothing.
        do {
          const len = plain ? h32[off >> 2]! : Atomics.load(h32, off >> 2);
          if (len & 0x80000000) {
            stopped = true;
            break;
          }
          const step = ((len & 0x3fffffff) + 15) & ~7;
          adv += step;
          if ((len & 0x40000000) === 0) {
            view._off = off + 8;
            view._len = len;
            n++;
            if (cb(view, src) === false || n === stopAt || view._closed) {
              stopped = true;
              break;
            }
          }
          off = (off + step) & mask;
        } while (adv < lim);
        // Release the batch (and, after a stop, the records up to it).
        storePos(c32, c64, 0, base + adv, base);
        base += adv;
        adv = 0;
        if (stopped) break;
      }
    } catch (e) {
      // A throwing callback: its record counts as consumed (adv includes it).
      view._len = -1;
      storePos(c32, c64, 0, base + adv, base);
      throw e;
    }
    // Every way out of the loop goes through the batch's publish above, so nothing here needs type
    // feedback: a large drain runs in on-stack-replacement code from its first call, code that only
    // that code reaches never gets feedback, and each such operation (an `if (adv !== 0)` publish in
    // a finally block, say) deoptimized at the end of every drain.
    view._len = -1;
    return n | 0;
  }

  #ensureScratch(n: number): void {
    if (this.#scratch && this.#scratch.length >= n) return;
    let cap = Math.max(65536, this.#scratch ? this.#scratch.length * 2 : 0);
    while (cap < n) cap *= 2;
    cap = Math.min(cap, this.size);
    const buf = new ArrayBuffer(cap);
    this.#scratch = new Uint8Array(buf);
    this.#s32 = new Int32Array(buf);
    this.#sdv = new DataView(buf);
  }

  /**
   * Copy mode. Copying [consumer, producer) and then trusting the headers in the copy would be wrong:
   * memcpy may load a record's bytes before its header, so a record committed during the copy could
   * show a committed header over stale data. So the committed prefix is found in a first copy and
   * copied again: everything in it was committed before the second copy started.
   */
  #drainCopy(cb: RingCallback, view: RecordView, max: number): number {
    const ps = this.#pageSize;
    const src = this.source;
    let cons = Number(this.#consRegion.readU64(0));
    let published = cons;
    let n = 0;
    view.source = src;
    // The producer position is read once per call, as in the zero-copy drain.
    const prod = Number(this.#dataRegion.readU64(0));
    try {
      for (;;) {
        if (cons >= prod) return n;
        const span = prod - cons;
        const off = cons % this.size;
        this.#ensureScratch(span);
        const s32 = this.#s32!;
        this.#dataRegion.read(ps + off, span, this.#scratch!);
        let committed = 0;
        while (committed < span) {
          const len = s32[committed >> 2]!;
          if (len & BUSY) break;
          committed += ((len & LEN_MASK) + HDR + 7) & ~7;
        }
        if (committed === 0) return n;
        this.#dataRegion.read(ps + off, committed, this.#scratch!);
        view._dv = this.#sdv!;
        let q = 0;
        while (q < committed) {
          const len = s32[q >> 2]!;
          const step = ((len & LEN_MASK) + HDR + 7) & ~7;
          cons += step;
          q += step;
          if ((len & DISCARD) === 0) {
            view._off = q - step + HDR;
            view._len = len & LEN_MASK;
            n++;
            if (cb(view, src) === false || n >= max || view._closed) return n;
          }
        }
        this.#consRegion.writeU64(0, cons);
        published = cons;
      }
    } finally {
      view._len = -1;
      if (!this.#closed && cons !== published) this.#consRegion.writeU64(0, cons);
    }
  }

  /**
   * @internal Iteration: makes `view` the next record, without consuming it (it stays valid until
   * _release). Discarded records on the way are consumed. Returns false when there is none.
   */
  _peek(view: RecordView): boolean {
    if (this.#closed) return false;
    const ps = this.#pageSize;
    for (;;) {
      const cons = this.zeroCopy ? loadPos(this.#c32!, 0) : Number(this.#consRegion.readU64(0));
      const prod = this.zeroCopy ? loadPos(this.#p32!, 0) : Number(this.#dataRegion.readU64(0));
      if (cons >= prod) return false;
      const off = cons % this.size;
      const len = this.zeroCopy ? (PLAIN_LOADS ? this.#h32![off >> 2]! : Atomics.load(this.#h32!, off >> 2)) : this.#dataRegion.readU32(ps + off) | 0;
      if (len & BUSY) return false;
      const size = len & LEN_MASK;
      const end = cons + (((size + HDR + 7) & ~7));
      if (len & DISCARD) {
        this.#publish(end, cons);
        continue;
      }
      view.source = this.source;
      if (this.zeroCopy) {
        view._dv = this.#dv!;
        view._off = off + HDR;
      } else {
        // The header was read (and seen committed) before this copy starts: the data is complete.
        this.#ensureScratch(size);
        if (size > 0) this.#dataRegion.read(ps + off + HDR, size, this.#scratch!);
        view._dv = this.#sdv!;
        view._off = 0;
      }
      view._len = size;
      this.#heldEnd = end;
      return true;
    }
  }

  /** @internal Iteration: consumes the record last returned by _peek. */
  _release(): void {
    if (this.#heldEnd < 0 || this.#closed) return;
    const cons = this.zeroCopy ? loadPos(this.#c32!, 0) : Number(this.#consRegion.readU64(0));
    this.#publish(this.#heldEnd, cons);
    this.#heldEnd = -1;
  }

  #publish(pos: number, prev: number): void {
    if (this.zeroCopy) storePos(this.#c32!, this.#c64!, 0, pos, prev);
    else this.#consRegion.writeU64(0, pos);
  }

  /** @internal Whether committed or in-flight records wait (a cheap check, no syscall). */
  _hasData(): boolean {
    if (this.#closed) return false;
    return this.zeroCopy ? loadPos(this.#p32!, 0) > loadPos(this.#c32!, 0)
      : this.#dataRegion.readU64(0) > this.#consRegion.readU64(0);
  }

  /** @internal */
  _close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#consRegion.close();
    this.#dataRegion.close();
  }

  #check(): void {
    if (this.#closed) throw new StateError(`ring ${this.name}: the RingBuffer is closed`, { cmd: 'RingBuffer' });
  }
}

/**
 * Consumer of one or more BPF ring buffers (libbpf's `struct ring_buffer`).
 *
 * ```ts
 * using rb = new RingBuffer(obj.map('events'), (rec) => { total += rec.getUint32(0, true); });
 * await rb.poll(100);                       // wait up to 100 ms, then drain: the record count
 * for await (const rec of rb) { ... }       // or iterate (one record per step)
 * ```
 *
 * Records are zero-copy views of the kernel's memory, valid only during the callback or iteration
 * step; `record.copy()` keeps one. Under copy mode (Electron, TSBPF_FORCE_COPY=1) records are copied
 * into a reused buffer first, with the same API and the same lifetime rule.
 */
export class RingBuffer extends EventStream<Ring, RingCallback> {
  constructor(source: RingSource | readonly RingSource[], callback?: RingCallback, opts?: RingBufferOptions);
  constructor(source: RingSource | readonly RingSource[], opts?: RingBufferOptions);
  constructor(source: RingSource | readonly RingSource[], callbackOrOpts?: RingCallback | RingBufferOptions, maybeOpts?: RingBufferOptions) {
    const callback = typeof callbackOrOpts === 'function' ? callbackOrOpts : undefined;
    const opts = (typeof callbackOrOpts === 'function' ? maybeOpts : callbackOrOpts) ?? {};
    const sources = Array.isArray(source) ? (source as readonly RingSource[]) : [source as RingSource];
    if (sources.length === 0) throw new BpfError('RingBuffer needs at least one ring buffer map', { errno: 22, cmd: 'RingBuffer' });
    super('RingBuffer', new RecordView(new DataView(new ArrayBuffer(0)), 'RingBuffer'), callback, false);
    try {
      this.openWait(sources.length, opts.wait);
      for (const s of sources) this.add(s);
      this.watchAbort(opts.signal);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * Adds a ring (ring_buffer__add). `callback` handles its records; without one, the callback given to
   * consume() or the constructor does.
   */
  add(source: RingSource, callback?: RingCallback): Ring {
    this.check();
    const ring = new Ring(this, this.parts.length, source, callback);
    try {
      this.epoll.add(typeof source === 'number' ? source : source.fd, EPOLLIN, ring.index);
    } catch (e) {
      ring._close();
      throw e;
    }
    this.parts.push(ring);
    return ring;
  }

  /** The rings, in the order they were added (ring_buffer__ring). */
  get rings(): readonly Ring[] {
    return this.parts;
  }

  /** @internal Ring.consume. */
  _consumeRings(rings: readonly Ring[], callback: RingCallback | undefined, maxRecords: number): number {
    return this.consumeParts(rings, callback, maxRecords);
  }

  protected override noCallback(ring: Ring): BpfError {
    return new BpfError(`RingBuffer: no callback for ring ${ring.name} (pass one to the constructor, add() or consume())`, { errno: 22, cmd: 'consume' });
  }

  /** Records already committed are drained without waiting (a cheap check of the positions first). */
  protected override drainBeforeWait(): number {
    if (!this.parts.some((r) => r._hasData())) return 0;
    this.waiter.clearPending();
    return this.consume();
  }
}
