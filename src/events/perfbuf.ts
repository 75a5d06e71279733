// PerfBuffer: the consumer of BPF_MAP_TYPE_PERF_EVENT_ARRAY maps (libbpf's perf_buffer__*).
//
// One perf event (PERF_TYPE_SOFTWARE / PERF_COUNT_SW_BPF_OUTPUT, sample_type RAW) per CPU, each with
// an mmap'ed ring (one metadata page + a power-of-2 number of data pages) stored in the map at the
// CPU's key, where bpf_perf_event_output(..., BPF_F_CURRENT_CPU, ...) finds it. All events share one
// epoll fd, watched without blocking the event loop (waiter.ts).
//
// Reading a ring: data_head (written by the kernel after complete records) is read with acquire
// semantics, records are walked from data_tail, and data_tail is published (release) afterwards so the
// kernel can reuse the space. Records are perf_event_header {u32 type; u16 misc; u16 size} followed by
// PERF_RECORD_SAMPLE {u32 raw_size; u8 raw[raw_size]} or PERF_RECORD_LOST {u64 id; u64 lost}. The
// data pages are mapped once (unlike BPF ring buffers), so a record that wraps past the end is copied
// into a reused buffer; the others are handed out zero-copy. The kernel pads raw samples so that
// raw_size + 4 is a multiple of 8, so a record can be up to 7 bytes longer than what the program wrote
// (libbpf reports the same padded size).

import {
  EPOLLIN, type Fd, MappedRegion, mapDeleteElem, mapUpdateElem, onlineCpus, pageSize, perfEventAttr,
  perfEventEnable, perfEventOpen, dupFd, type WaitMode,
} from '../../syscalls/index.js';
import { BpfError, StateError } from '../errors.js';
import type { BpfMap } from '../map.js';
import { MAP_TYPE } from '../spec/map-types.js';
import { RecordView } from './record.js';
import { loadPos, resolveMap, stopCount, storePos } from './shared.js';
import { EventStream } from './stream.js';

const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_BPF_OUTPUT = 10;
const PERF_SAMPLE_RAW = 1 << 10;
const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;
// struct perf_event_mmap_page offsets.
const DATA_HEAD = 1024;
const DATA_TAIL = 1032;
const DATA_OFFSET = 1040;
const DATA_SIZE = 1048;
const HEAD_IDX = DATA_HEAD / 4;
const TAIL_IDX = DATA_TAIL / 4;

/**
 * Called for each sample with the CPU it was written on. `record` is valid only until the callback
 * returns (copy() it to keep it). Return `false` to stop the drain after this record.
 */
export type PerfCallback = (record: RecordView, cpu: number) => unknown;
/** Called with the number of samples the kernel dropped on `cpu` because its buffer was full. */
export type LostCallback = (cpu: number, count: number) => void;

export interface PerfBufferOptions {
  /** Data pages per CPU, a power of 2 (default 16: 64 KiB with 4 KiB pages). */
  pageCount?: number;
  /** Wake up the consumer after this many samples (default 1). Exclusive with `watermark`. */
  wakeupEvents?: number;
  /** Wake up the consumer once this many bytes are waiting instead. Exclusive with `wakeupEvents`. */
  watermark?: number;
  /** The CPUs to open buffers on (default: the online CPUs below the map's max_entries). */
  cpus?: readonly number[];
  /** Map keys for `cpus` (default: the CPU numbers), like libbpf's perf_buffer_raw_opts.map_keys. */
  mapKeys?: readonly number[];
  /** PERF_RECORD_LOST handler (libbpf's lost_cb). The counts are also summed in `lost`. */
  onLost?: LostCallback;
  /** Aborting closes the buffer: a pending poll() resolves with 0 and iterations end. */
  signal?: AbortSignal;
  /** How poll() and iteration wait: 'uv-poll' (libuv poll handle, default) or 'threadpool'. */
  wait?: WaitMode;
}

/** One CPU's perf ring. */
export class PerfCpuBuffer {
  readonly index: number;
  readonly cpu: number;
  /** The key in the perf event array that points to this buffer. */
  readonly mapKey: number;
  /** Data bytes in the ring. */
  readonly size: number;
  /** @internal */ readonly zeroCopy: boolean;
  /** @internal */ readonly eventFd: Fd;
  readonly #region: MappedRegion;
  readonly #dataOff: number;
  readonly #mask: number;
  /** Publish data_tail at least every this many bytes during a long drain. */
  readonly #stride: number;
  readonly #m32: Uint32Array | null = null;
  readonly #m64: BigUint64Array | null = null;
  /** Int32, not Uint32: an int32 element needs no range check where a uint32 one becomes a Number. */
  readonly #d32: Int32Array | null = null;
  readonly #d8: Uint8Array | null = null;
  readonly #dv: DataView | null = null;
  /** Wrapped records (zero-copy) or every span (copy mode) are copied here. */
  #scratch: Uint8Array | null = null;
  #sdv: DataView | null = null;
  readonly #hdr = new Uint8Array(16);
  readonly #hdv = new DataView(this.#hdr.buffer);
  #heldEnd = -1;
  #closed = false;
  /** @internal */ lostTotal = 0;

  /** @internal */
  constructor(index: number, cpu: number, mapKey: number, pageCount: number, attr: Uint8Array) {
    const ps = pageSize();
    this.index = index;
    this.cpu = cpu;
    this.mapKey = mapKey;
    this.eventFd = perfEventOpen(attr, -1, cpu, -1, undefined, `perf buffer cpu ${cpu}`);
    try {
      this.#region = MappedRegion.mapFd(this.eventFd.fd, (pageCount + 1) * ps, 'rw');
    } catch (e) {
      this.eventFd.close();
      throw e;
    }
    // data_offset/data_size exist since Linux 4.1; before that the data starts at page 1.
    const off = Number(this.#region.readU64(DATA_OFFSET));
    const size = Number(this.#region.readU64(DATA_SIZE));
    this.#dataOff = (off || ps) | 0;
    this.size = (size || pageCount * ps) | 0;
    this.#mask = this.size - 1;
    this.#stride = Math.max(ps, this.size / 8);
    this.zeroCopy = this.#region.zeroCopy;
    if (this.zeroCopy) {
      const buf = this.#region.bytes.buffer;
      this.#m32 = new Uint32Array(buf, 0, ps / 4);
      this.#m64 = new BigUint64Array(buf, 0, ps / 8);
      this.#d32 = new Int32Array(buf, this.#dataOff, this.size / 4);
      this.#d8 = new Uint8Array(buf, this.#dataOff, this.size);
      this.#dv = new DataView(buf, this.#dataOff, this.size);
    }
  }

  /** @internal */
  _enable(): void {
    perfEventEnable(this.eventFd.fd);
  }

  #head(): number {
    return this.zeroCopy ? loadPos(this.#m32!, HEAD_IDX) : Number(this.#region.readU64(DATA_HEAD));
  }
  #tail(): number {
    return this.zeroCopy ? loadPos(this.#m32!, TAIL_IDX) : Number(this.#region.readU64(DATA_TAIL));
  }
  #publish(pos: number, prev: number): void {
    if (this.#closed) return;
    if (this.zeroCopy) storePos(this.#m32!, this.#m64!, TAIL_IDX, pos, prev);
    else this.#region.writeU64(DATA_TAIL, pos);
  }

  /** Bytes waiting to be read. */
  get availableBytes(): number {
    if (this.#closed) throw new StateError(`perf buffer cpu ${this.cpu}: the PerfBuffer is closed`, { cmd: 'PerfBuffer' });
    return this.#head() - this.#tail();
  }

  #ensureScratch(n: number): void {
    if (this.#scratch && this.#scratch.length >= n) return;
    let cap = Math.max(4096, this.#scratch ? this.#scratch.length * 2 : 0);
    while (cap < n) cap *= 2;
    const buf = new ArrayBuffer(cap);
    this.#scratch = new Uint8Array(buf);
    this.#sdv = new DataView(buf);
  }

  /** Copies `len` bytes of the ring starting at data offset `off` (wrapping) to scratch[at...]. */
  #copyOut(off: number, len: number, at: number): void {
    const first = Math.min(len, this.size - off);
    const s = this.#scratch!;
    if (this.zeroCopy) {
      s.set(this.#d8!.subarray(off, off + first), at);
      if (len > first) s.set(this.#d8!.subarray(0, len - first), at + first);
    } else {
      this.#region.read(this.#dataOff + off, first, s.subarray(at));
      if (len > first) this.#region.read(this.#dataOff, len - first, s.subarray(at + first));
    }
  }

  /** @internal */
  _drain(cb: PerfCallback, view: RecordView, max: number, onLost: LostCallback | undefined): number {
    return this.zeroCopy ? this.#drainZeroCopy(cb, view, stopCount(max), onLost) : this.#drainCopy(cb, view, max, onLost);
  }

  /**
   * Zero-copy drain. As in RingBuffer's, the per-record loop keeps to int32 arithmetic: `adv` counts
   * the bytes taken since `base` (the tail last published), the ring offset is derived from the low
   * 32 bits of the position (the ring size divides 2^32), and data_tail is published every `stride`
   * bytes so the kernel can refill a long burst while it is being read.
   */
  #drainZeroCopy(cb: PerfCallback, view: RecordView, stop: number, onLost: LostCallback | undefined): number {
    const d32 = this.#d32!;
    const dv = this.#dv!;
    const m32 = this.#m32!;
    // `| 0`: int32 locals whatever the fields hold. The size comes from a u64 read through BigInt,
    // and a double-valued size made every per-record compare a float one: 10 ns per record, not 6.
    const size = this.size | 0;
    const mask = this.#mask | 0;
    const cpu = this.cpu;
    const stride = this.#stride;
    // A parameter arrives tagged, and TurboFan checked and untagged it on every record for the
    // `n === stop` test (about 0.3 ns of a 6 ns record); a local `| 0` is an int32 register.
    const stopAt = stop | 0;
    let base = loadPos(m32, TAIL_IDX);
    let adv = 0;
    let n = 0;
    let off = base & mask;
    view._dv = dv;
    view.cpu = cpu;
    view.source = undefined;
    let stopped = false;
    // data_head is read once, with acquire semantics (loadPos): every record before it is complete.
    // Records written during the drain wait for the next call, as in libbpf's perf_buffer__consume:
    // a producer that keeps pace with the callbacks (a tracer whose own output makes events) would
    // otherwise keep this loop going forever, and the event loop (SIGINT handlers, timers) with it.
    const head = loadPos(m32, HEAD_IDX);
    try {
      for (;;) {
        const avail = head - base;
        if (avail <= 0) break; // everything before `base` is published already
        // An int32 (avail never exceeds the ring size), so the loop test is an int compare.
        const lim = (avail < stride ? avail : stride) | 0;
        // Hot loop: record types are literals (9 = PERF_RECORD_SAMPLE, 2 = PERF_RECORD_LOST). It only
        // takes records that are contiguous in the ring; one that wraps past the end ends it and is
        // handled below, so that nothing in this loop changes `view._dv` (measured 1.5 ns per record).
        let wraps = false;
        do {
          const i = off >> 2;
          const type = d32[i]!;
          const recSize = d32[i + 1]! >>> 16;
          if (recSize < 8) throw this.#corrupt(recSize);
          if (off + recSize > size) {
            wraps = true;
            break;
          }
          // `| 0` sums: none can overflow (adv < 2^30 + 2^16, n <= stopAt), and without it each is an
          // add plus an overflow check.
          adv = (adv + recSize) | 0;
          if (type === 9) {
            view._off = (off + 12) | 0;
            // A sample with only PERF_SAMPLE_RAW is its header, the u32 raw size and the padded raw
            // data, so the raw size is the record's size minus 12: one load fewer per record than
            // reading the u32 (0.3 ns of 5).
            view._len = recSize - 12;
            off = (off + recSize) & mask;
            n = (n + 1) | 0;
            if (cb(view, cpu) === false || n === stopAt || view._closed) {
              stopped = true;
              break;
            }
            continue;
          }
          if (type === 2) this.#lost((d32[i + 4]! >>> 0) + (d32[i + 5]! >>> 0) * 4294967296, onLost);
          off = (off + recSize) & mask;
        } while (adv < lim);
        if (wraps && !stopped) {
          // The record wraps past the end of the ring (once per lap at most): hand out a contiguous copy.
          const type = d32[off >> 2]!;
          const recSize = d32[(off >> 2) + 1]! >>> 16;
          adv += recSize;
          this.#ensureScratch(recSize);
          // `| 0` wherever a loop variable leaves int32 arithmetic (a call, the return value): a use
          // that needs a tagged value made TurboFan keep the variable tagged through the hot loop.
          this.#copyOut(off | 0, recSize, 0);
          const sdv = this.#sdv!;
          off = (off + recSize) & mask;
          if (type === 9) {
            view._dv = sdv;
            view._off = 12;
            view._len = sdv.getUint32(8, true);
            n++;
            const r = cb(view, cpu);
            view._dv = dv;
            if (r === false || n === stopAt || view._closed) stopped = true;
          } else if (type === 2) {
            this.#lost(sdv.getUint32(16, true) + sdv.getUint32(20, true) * 4294967296, onLost);
          }
          // Other record types (none are expected for BPF output events) are skipped.
        }
        // Published before the next batch (the loop above needs adv === 0 and data ahead to start),
        // and on a stop: every way out goes through here, see RingBuffer's drain for why.
        this.#publish(base + adv, base);
        base += adv;
        adv = 0;
        if (stopped) break;
      }
    } catch (e) {
      // A throwing callback: its record counts as consumed (adv includes it).
      view._len = -1;
      this.#publish(base + adv, base);
      throw e;
    }
    view._len = -1;
    return n | 0;
  }

  /** Copy mode: every record before data_head is complete, so one copy of the span is enough. */
  #drainCopy(cb: PerfCallback, view: RecordView, max: number, onLost: LostCallback | undefined): number {
    const cpu = this.cpu;
    let tail = this.#tail();
    let published = tail;
    let n = 0;
    view.cpu = cpu;
    view.source = undefined;
    // data_head read once: what the kernel writes meanwhile waits for the next call (see the zero-copy drain).
    const head = this.#head();
    try {
      for (;;) {
        if (tail >= head) return n;
        const span = head - tail;
        this.#ensureScratch(span);
        this.#copyOut(tail % this.size, span, 0);
        const sdv = this.#sdv!;
        let q = 0;
        while (q < span) {
          const type = sdv.getUint32(q, true);
          const recSize = sdv.getUint16(q + 6, true);
          if (recSize < 8) throw this.#corrupt(recSize);
          tail += recSize;
          if (type === PERF_RECORD_SAMPLE) {
            view._dv = sdv;
            view._off = q + 12;
            view._len = sdv.getUint32(q + 8, true);
            n++;
            q += recSize;
            if (cb(view, cpu) === false || n >= max || view._closed) return n;
            continue;
          }
          if (type === PERF_RECORD_LOST) this.#lost(sdv.getUint32(q + 16, true) + sdv.getUint32(q + 20, true) * 4294967296, onLost);
          q += recSize;
        }
        this.#publish(tail, published);
        published = tail;
      }
    } finally {
      view._len = -1;
      if (tail !== published) this.#publish(tail, published);
    }
  }

  #lost(count: number, onLost: LostCallback | undefined): void {
    this.lostTotal += count;
    onLost?.(this.cpu, count);
  }

  #corrupt(recSize: number): BpfError {
    return new BpfError(`perf buffer cpu ${this.cpu}: corrupt record header (size ${recSize})`, { cmd: 'PerfBuffer', errno: 74 });
  }

  /** @internal Iteration: the next sample into `view`, not consumed until _release. */
  _peek(view: RecordView, onLost: LostCallback | undefined): boolean {
    if (this.#closed) return false;
    for (;;) {
      const tail = this.#tail();
      const head = this.#head();
      if (tail >= head) return false;
      const off = tail % this.size;
      // The 8-byte header never wraps: records are 8-byte aligned and the size is a multiple of 8.
      let type: number;
      let recSize: number;
      if (this.zeroCopy) {
        type = this.#d32![off >> 2]!;
        recSize = this.#d32![(off >> 2) + 1]! >>> 16;
      } else {
        this.#region.read(this.#dataOff + off, 8, this.#hdr);
        type = this.#hdv.getUint32(0, true);
        recSize = this.#hdv.getUint16(6, true);
      }
      if (recSize < 8) throw this.#corrupt(recSize);
      const end = tail + recSize;
      if (type !== PERF_RECORD_SAMPLE) {
        if (type === PERF_RECORD_LOST) {
          this.#ensureScratch(recSize);
          this.#copyOut(off, recSize, 0);
          this.#lost(this.#sdv!.getUint32(16, true) + this.#sdv!.getUint32(20, true) * 4294967296, onLost);
        }
        this.#publish(end, tail);
        continue;
      }
      view.cpu = this.cpu;
      view.source = undefined;
      if (this.zeroCopy && off + recSize <= this.size) {
        view._dv = this.#dv!;
        view._off = off + 12;
        view._len = this.#d32![(off >> 2) + 2]!;
      } else {
        this.#ensureScratch(recSize);
        this.#copyOut(off, recSize, 0);
        view._dv = this.#sdv!;
        view._off = 12;
        view._len = this.#sdv!.getUint32(8, true);
      }
      this.#heldEnd = end;
      return true;
    }
  }

  /** @internal */
  _release(): void {
    if (this.#heldEnd < 0) return;
    this.#publish(this.#heldEnd, this.#tail());
    this.#heldEnd = -1;
  }

  /** @internal */
  _close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#region.close();
    this.eventFd.close();
  }
}

/**
 * Consumer of a perf event array (libbpf's `struct perf_buffer`).
 *
 * ```ts
 * using pb = new PerfBuffer(obj.map('events'), (rec, cpu) => { ... }, { onLost: (cpu, n) => ... });
 * await pb.poll(100);
 * for await (const rec of pb) console.log(rec.cpu, rec.getUint32(0, true));
 * ```
 *
 * Records are zero-copy views valid only during the callback or iteration step (records that wrap
 * around the end of a per-CPU ring, and all records in copy mode, are views of a reused copy).
 */
export class PerfBuffer extends EventStream<PerfCpuBuffer, PerfCallback> {
  readonly #mapFd: Fd;

  constructor(map: BpfMap | number, callback?: PerfCallback, opts?: PerfBufferOptions);
  constructor(map: BpfMap | number, opts?: PerfBufferOptions);
  constructor(map: BpfMap | number, callbackOrOpts?: PerfCallback | PerfBufferOptions, maybeOpts?: PerfBufferOptions) {
    const callback = typeof callbackOrOpts === 'function' ? callbackOrOpts : undefined;
    const opts = (typeof callbackOrOpts === 'function' ? maybeOpts : callbackOrOpts) ?? {};
    const m = resolveMap(map, MAP_TYPE.PERF_EVENT_ARRAY, 'PerfBuffer');
    const pageCount = opts.pageCount ?? 16;
    if (!Number.isInteger(pageCount) || pageCount < 1 || (pageCount & (pageCount - 1)) !== 0) {
      throw new BpfError(`PerfBuffer: pageCount must be a power of 2, got ${pageCount}`, { errno: 22, cmd: 'PerfBuffer' });
    }
    if (opts.watermark !== undefined && opts.wakeupEvents !== undefined) {
      throw new BpfError('PerfBuffer: wakeupEvents and watermark are exclusive', { errno: 22, cmd: 'PerfBuffer' });
    }
    const dataBytes = pageCount * pageSize();
    if (dataBytes > 2 ** 30) {
      // Positions within a drain are int32 byte counts (perfbuf hot loop); 1 GiB per CPU is plenty.
      throw new BpfError(`PerfBuffer: ${pageCount} pages (${dataBytes} bytes) per CPU is more than the 1 GiB supported`, { errno: 7, cmd: 'PerfBuffer' });
    }
    if (opts.watermark !== undefined && (!Number.isInteger(opts.watermark) || opts.watermark < 1 || opts.watermark >= dataBytes)) {
      throw new BpfError(`PerfBuffer: watermark must be between 1 and ${dataBytes - 1} bytes, got ${opts.watermark}`, { errno: 22, cmd: 'PerfBuffer' });
    }
    const wakeupEvents = opts.wakeupEvents ?? 1;
    if (!Number.isInteger(wakeupEvents) || wakeupEvents < 1) {
      throw new BpfError(`PerfBuffer: wakeupEvents must be a positive integer, got ${wakeupEvents}`, { errno: 22, cmd: 'PerfBuffer' });
    }
    const cpus = opts.cpus ? [...opts.cpus] : onlineCpus().filter((c) => c < m.maxEntries);
    const keys = opts.mapKeys ? [...opts.mapKeys] : cpus;
    if (keys.length !== cpus.length) throw new BpfError('PerfBuffer: mapKeys must have one key per CPU', { errno: 22, cmd: 'PerfBuffer' });
    if (cpus.length === 0) throw new BpfError(`PerfBuffer: no CPU to open a buffer on (map ${m.name} has ${m.maxEntries} entries)`, { errno: 22, cmd: 'PerfBuffer' });
    for (const k of keys) {
      if (!Number.isInteger(k) || k < 0 || k >= m.maxEntries) {
        throw new BpfError(`PerfBuffer: key ${k} is outside map ${m.name} (max_entries ${m.maxEntries})`, { errno: 7, cmd: 'PerfBuffer' });
      }
    }


    super('PerfBuffer', new RecordView(new DataView(new ArrayBuffer(0)), 'PerfBuffer'), callback, true);
    this.label = `PerfBuffer (map ${m.name})`;
    this.readyNow = opts.watermark === undefined && wakeupEvents === 1
      ? () => !this.isClosed && this.parts.some((b) => b.availableBytes > 0)
      : undefined;
    this.onLost = opts.onLost;
    // Our own reference to the map file, so close() can clear the entries even if the caller has
    // closed its map by then.
    this.#mapFd = dupFd(m.fd, `PerfBuffer map ${m.name}`);
    try {
      this.openWait(cpus.length, opts.wait);
      const attr = perfEventAttr(opts.watermark !== undefined
        ? { type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_BPF_OUTPUT, sample_type: PERF_SAMPLE_RAW, sample_period: 1, watermark: 1, wakeup_watermark: opts.watermark }
        : { type: PERF_TYPE_SOFTWARE, config: PERF_COUNT_SW_BPF_OUTPUT, sample_type: PERF_SAMPLE_RAW, sample_period: 1, wakeup_events: wakeupEvents });
      const key = new Uint8Array(4);
      const value = new Uint8Array(4);
      const kdv = new DataView(key.buffer);
      const vdv = new DataView(value.buffer);
      cpus.forEach((cpu, i) => {
        const b = new PerfCpuBuffer(i, cpu, keys[i]!, pageCount, attr);
        this.parts.push(b);
        b._enable();
        kdv.setUint32(0, b.mapKey, true);
        vdv.setUint32(0, b.eventFd.fd, true);
        mapUpdateElem(this.#mapFd.fd, key, value, 0);
        this.epoll.add(b.eventFd.fd, EPOLLIN, i);
      });
      this.watchAbort(opts.signal);
    } catch (e) {
      this.close();
      throw e;
    }
  }

  /**
   * With a wake-up for every sample (the default), a sample in a ring means a wake-up was signalled:
   * a wait whose watch starts just after that wake-up would miss it (see Waiter), so it looks at the
   * rings. With `wakeupEvents` > 1 or `watermark`, samples below the threshold wait, as in libbpf.
   */
  protected override readonly readyNow: (() => boolean) | undefined;

  /** The per-CPU buffers (perf_buffer__buffer_cnt / __buffer_fd). */
  get buffers(): readonly PerfCpuBuffer[] {
    return this.parts;
  }

  /** Samples the kernel reported lost (PERF_RECORD_LOST) so far, over all CPUs. */
  get lost(): number {
    let n = 0;
    for (const b of this.parts) n += b.lostTotal;
    return n;
  }

  /** Drains one CPU's buffer by index in `buffers` (perf_buffer__consume_buffer). */
  consumeBuffer(index: number, callback?: PerfCallback, maxRecords = Infinity): number {
    const b = this.parts[index];
    if (!b) throw new BpfError(`PerfBuffer: no buffer ${index} (there are ${this.parts.length})`, { errno: 2, cmd: 'consume' });
    return this.consumeParts([b], callback, maxRecords);
  }

  /**
   * Waits until the kernel signals a buffer (after `wakeupEvents` samples or `watermark` bytes; at
   * most `timeoutMs`, -1 forever, 0 not at all), then drains every buffer (perf_buffer__poll).
   * Resolves with the number of samples delivered: 0 on timeout or when closed meanwhile. As in
   * libbpf, samples below the wake-up threshold stay in the buffers until a wake-up or a consume().
   */
  override poll(timeoutMs = -1): Promise<number> {
    return super.poll(timeoutMs);
  }

  /** Removes the buffers from the map, unmaps them and closes every fd. Idempotent. */
  override close(): void {
    if (this.isClosed) return;
    super.close();
    this.#mapFd?.close();
  }

  protected override noCallback(): BpfError {
    return new BpfError('PerfBuffer: no callback (pass one to the constructor or to consume())', { errno: 22, cmd: 'consume' });
  }


  /**
   * Like perf_buffer__poll(pb, 0): a non-blocking look at the wake-up state (epoll_wait(0)), so samples
   * below the wake-up threshold stay where they are.
   */
  protected override pollNow(): number {
    const woken = this.waiter.takePending() || this.epoll.wait(0) > 0;
    return woken ? this.consume() : 0;
  }

  /**
   * A wake-up that has already happened drains now; samples below the wake-up threshold wait.
   * Besides the one remembered from before the last wait, that is one the kernel signalled before
   * poll() was called, found with epoll_wait(0) on our epoll fd. Waiting would not see it: starting
   * the libuv watch adds our epoll fd to libuv's, and the kernel then polls the perf events twice
   * (once when the fd is added, once when libuv's epoll_wait collects it), while perf_poll() reports
   * a wake-up only to the first poll after it. So samples written before the first poll() (or
   * before a restart of the watch) sat unseen until the next wake-up.
   */
  protected override drainBeforeWait(waited: boolean): number {
    return waited || this.epoll.wait(0) > 0 ? this.consume() : 0;
  }

  /** Clears the buffer's map entry (the map fd is ours, so it is still open), then unmaps it. */
  protected override closePart(b: PerfCpuBuffer): void {
    if (this.#mapFd && !this.#mapFd.closed) {
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, b.mapKey, true);
      try {
        mapDeleteElem(this.#mapFd.fd, key);
      } catch {
        // Best effort, as libbpf: the entry dies with the map anyway.
      }
    }
    b._close();
  }
}
