// EventStream: what RingBuffer and PerfBuffer share above their per-ring drains. Both consume a set of
// mmap'ed rings (BPF ring buffers, or one perf ring per CPU) that wake one epoll fd, hand records out
// through one reused RecordView, and offer the same consume / poll / async iteration / close surface
// with the same reentrancy rules. The per-record loops stay in the ring classes (Ring._drain,
// PerfCpuBuffer._drain); this class only runs the outer loop over the rings, once per ring per drain,
// and the subclasses fill in what differs through the small protected hooks below.

import { Epoll, type WaitMode } from '../../syscalls/index.js';
import { StateError } from '../errors.js';
import type { RecordView } from './record.js';
import { checkTimeout, onAbort, remaining, yieldToEventLoop } from './shared.js';
import { roundRobin, type PeekableRing } from './round-robin.js';
import { Waiter } from './waiter.js';

/** Perf's lost-sample handler, passed through to every ring's _drain and _peek (BPF rings ignore it). */
type LostHandler = (cpu: number, count: number) => void;

/** A ring of an EventStream: drained in one call, iterable one record at a time, unmapped by _close. */
export interface StreamRing<C> extends PeekableRing {
  // The members the implementations mark @internal are @internal here too: stripped from the .d.ts
  // on both sides, the public Ring and PerfCpuBuffer still satisfy this interface there.
  /** @internal */
  readonly zeroCopy: boolean;
  /** @internal RingBuffer: the ring's own callback (add()); PerfCpuBuffer has none. */
  readonly callback?: C | undefined;
  /** @internal */
  _drain(callback: C, view: RecordView, max: number, onLost?: LostHandler): number;
  /** @internal */
  _peek(view: RecordView, onLost?: LostHandler): boolean;
  /** @internal */
  _close(): void;
}

export abstract class EventStream<R extends StreamRing<C>, C> {
  /** The rings, in index order (RingBuffer.rings, PerfBuffer.buffers). */
  protected readonly parts: R[] = [];
  protected readonly view: RecordView;
  /** The constructor's callback, if any. */
  protected readonly callback: C | undefined;
  /**
   * True when one callback serves every ring (PerfBuffer): consume() then resolves it once, before
   * anything else. Otherwise each ring's is resolved in the drain loop: consume()'s, the ring's own,
   * then the constructor's.
   */
  protected readonly singleCallback: boolean;
  /** Set by openWait(); absent only while a failed constructor closes what it opened. */
  protected epoll!: Epoll;
  protected waiter!: Waiter;
  /** The class name, for error messages and commands ('RingBuffer', 'PerfBuffer'). */
  protected readonly kind: string;
  /** What "… is closed" errors name. */
  protected label: string;
  /** PerfBuffer's onLost option. */
  protected onLost: LostHandler | undefined = undefined;
  protected isClosed = false;
  /** The ring holding the record the iterator handed out, if any. */
  protected held: R | null = null;
  #unabort: (() => void) | undefined;
  #draining = false;
  #iterating = false;
  /** Records delivered by #drainWhenReady during the current poll() wait. */
  #readyCount = 0;
  /**
   * Set when a poll() settled without the event loop having run (a drain before waiting, a pending
   * wake-up, a zero timeout); cleared in the loop's next check phase. While set, the next poll()
   * first yields to the event loop: otherwise `while (!done) await buf.poll()` under a steady flood
   * would run drain after drain in promise continuations, and a SIGINT handler that sets `done`
   * would never run.
   */
  #settledInTurn = false;
  readonly #endTurn = (): void => {
    this.#settledInTurn = false;
  };
  /** poll()'s onReady: drain in the readiness callback; true (settle the wait) once records came. */
  readonly #drainWhenReady = (): boolean => {
    this.#readyCount = this.consume();
    return this.#readyCount > 0;
  };

  protected constructor(kind: string, view: RecordView, callback: C | undefined, singleCallback: boolean) {
    this.kind = kind;
    this.singleCallback = singleCallback;
    this.label = kind;
    this.view = view;
    this.callback = callback;
  }

  /** Creates the shared epoll fd and its waiter (the subclass constructor calls it inside its try). */
  protected openWait(rings: number, wait: WaitMode | undefined): void {
    this.epoll = new Epoll(Math.max(8, rings), `${this.kind} epoll`);
    this.waiter = new Waiter(this.epoll.fd, wait, this.kind);
  }

  /** Makes `signal` close the stream (the last step of a subclass constructor). */
  protected watchAbort(signal: AbortSignal | undefined): void {
    this.#unabort = onAbort(signal, () => this.close(), this.kind);
  }

  /** The error for a consume() with no callback for `part` (undefined: for any ring). */
  protected abstract noCallback(part: R | undefined): Error;
  /**
   * poll()'s drain before each wait. `waited`: a wait has just ended 'ready' without the readiness
   * callback having delivered anything (a readiness remembered from before that wait).
   */
  protected abstract drainBeforeWait(waited: boolean): number;

  /**
   * Checked when a wait's watch has started (Waiter.wait's readyNow): whether the rings already hold
   * records that a wake-up has announced, which the watch may not report (perf events; see Waiter).
   */
  protected readonly readyNow: (() => boolean) | undefined = undefined;

  /** poll(0) without waiting at all: a record count, or undefined to go through the wait loop. */
  protected pollNow(): number | undefined {
    return undefined;
  }

  /** close(): releases one ring. */
  protected closePart(part: R): void {
    part._close();
  }

  /** The epoll fd that becomes readable when a ring has data (ring_buffer__epoll_fd, perf_buffer__epoll_fd). */
  get epollFd(): number {
    this.check();
    return this.epoll.fd.fd;
  }

  /** False when records are copied (Electron, TSBPF_FORCE_COPY=1, setZeroCopy(false)). */
  get zeroCopy(): boolean {
    return this.parts.every((p) => p.zeroCopy);
  }

  /** How poll() and iteration wait ('uv-poll' or 'threadpool'). */
  get waitMode(): WaitMode {
    return this.waiter.mode;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Drains every ring now, synchronously (ring_buffer__consume / __consume_n, perf_buffer__consume).
   * Returns the number of records delivered (discarded records are skipped and not counted; perf
   * lost-sample records go to onLost). Stops early after `maxRecords`, when the callback returns false
   * (that record counts), or when it throws (that record is consumed and the error is rethrown).
   * `callback` overrides the per-ring and constructor callbacks.
   *
   * One call is bounded, so that it returns even while the producer keeps pace with the callbacks:
   * each ring is read up to the producer position seen when its turn comes. For perf rings that is
   * libbpf's perf_buffer__consume; libbpf's ring_buffer__consume also takes BPF ring records
   * committed during the drain, which here wait for the next call or poll().
   */
  consume(callback?: C, maxRecords = Infinity): number {
    return this.consumeParts(this.parts, callback, maxRecords);
  }

  /** consume() over some of the rings. */
  protected consumeParts(parts: readonly R[], callback: C | undefined, maxRecords: number): number {
    this.check();
    if (this.#draining) throw new StateError(`${this.kind}: consume() called from inside a record callback`, { cmd: 'consume', errno: 16 });
    if (this.held) throw new StateError(`${this.kind}: consume() called while an iteration holds a record`, { cmd: 'consume', errno: 16 });
    let cb = callback;
    if (this.singleCallback) {
      cb ??= this.callback;
      if (cb === undefined) throw this.noCallback(undefined);
    }
    if (!(maxRecords > 0)) return 0;
    this.#draining = true;
    let total = 0;
    try {
      for (const p of parts) {
        // No method hook here: a call to one (even a trivial one) made an empty consume() 5 ns slower.
        const c = cb ?? p.callback ?? this.callback;
        if (c === undefined) throw this.noCallback(p);
        total += p._drain(c, this.view, maxRecords - total, this.onLost);
        if (total >= maxRecords || this.isClosed) break;
      }
    } finally {
      this.#draining = false;
    }
    return total;
  }

  /**
   * Waits until a ring has data (at most `timeoutMs`; -1 forever, 0 not at all), then drains every
   * ring. Resolves with the number of records delivered: 0 on timeout or when the stream is closed
   * meanwhile. Never blocks the event loop. Rejects if a callback throws.
   */
  async poll(timeoutMs = -1): Promise<number> {
    this.check();
    checkTimeout(timeoutMs, `${this.kind}.poll`);
    if (this.#settledInTurn) {
      await yieldToEventLoop();
      if (this.isClosed) return 0;
    }
    const deadline = performance.now() + Math.max(0, timeoutMs);
    if (timeoutMs === 0) {
      const now = this.pollNow();
      if (now !== undefined) return this.#withoutTurn(now);
    }
    let waited = false;
    for (;;) {
      if (this.isClosed) return 0;
      const n = this.drainBeforeWait(waited);
      if (n > 0) return this.#withoutTurn(n);
      const left = remaining(timeoutMs, deadline);
      if (left === 0 && timeoutMs !== -1) return this.#withoutTurn(0);
      // The rings are drained inside the readiness callback (#drainWhenReady): records reach the
      // callbacks one libuv callback after the wake-up, with no promise hop in between.
      this.#readyCount = 0;
      const r = await this.waiter.wait(left, this.#drainWhenReady, this.readyNow);
      if (this.#readyCount > 0) return this.#readyCount;
      if (r !== 'ready') return 0;
      // A readiness remembered from before this wait: drainBeforeWait takes what is there; with
      // nothing (consumed meanwhile, or only discarded/busy records) the loop waits again.
      waited = true;
    }
  }

  /** poll()'s result when it settles without the event loop having run (see #settledInTurn). */
  #withoutTurn(n: number): number {
    if (!this.#settledInTurn) {
      this.#settledInTurn = true;
      setImmediate(this.#endTurn);
    }
    return n;
  }

  /**
   * Iterates over records as they come, waiting (without blocking) when the rings are empty. Each
   * record is valid until the next step; breaking out of the loop keeps the stream open. Ends when
   * it is closed (or its signal aborts).
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<RecordView, void, undefined> {
    this.check();
    if (this.#iterating) throw new StateError(`${this.kind}: already being iterated`, { cmd: 'iterate', errno: 16 });
    this.#iterating = true;
    try {
      yield* roundRobin<R>({
        rings: this.parts, view: this.view, waiter: this.waiter,
        peek: (p) => p._peek(this.view, this.onLost),
        hold: (p) => { this.held = p; },
        closed: () => this.isClosed,
        readyNow: this.readyNow,
      });
    } finally {
      this.#iterating = false;
    }
  }

  /** Releases the rings and closes the epoll fd; a pending poll resolves with 0. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.#unabort?.();
    this.view._len = -1;
    this.view._closed = true;
    // The poll handle goes first: libuv must forget the epoll fd before it is closed.
    this.waiter?.close();
    for (const p of this.parts) this.closePart(p);
    this.epoll?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  protected check(): void {
    if (this.isClosed) throw new StateError(`${this.label} is closed`, { cmd: this.kind });
  }
}
