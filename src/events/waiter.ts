// One-at-a-time waits for an epoll fd to become readable, shared by RingBuffer, PerfBuffer and
// UserRingBuffer. Built on a syscalls Poller (a libuv poll handle, or epoll_wait on the threadpool).
//
// Policy, chosen so that a buffer nobody waits on costs nothing and never keeps the process alive:
// - the poller runs only while someone waits, or (uv-poll) stays started but unreferenced between
//   back-to-back waits, because stopping and restarting a uv poll handle costs two epoll_ctl calls;
// - a readiness event that arrives while nobody waits is remembered (`pending`) and the poller is
//   stopped. Remembering matters for perf buffers: perf_poll() clears the event's wakeup flag when it
//   reports it, so a dropped notification would leave data sitting unseen until the next wakeup;
// - close() resolves the pending wait with 'closed' and closes the poller before the owner closes fds;
// - an owner can pass `onReady` to drain right inside the readiness callback: records reach their
//   callbacks before any promise is settled (a wake-up costs one libuv callback, not that plus
//   microtask hops), and a readiness with nothing to deliver keeps waiting without a round trip.

import { createPoller, type Fd, type Poller, type WaitMode } from '../../syscalls/index.js';
import { StateError } from '../errors.js';

export type WaitResult = 'ready' | 'timeout' | 'closed';

export class Waiter {
  readonly #poller: Poller;
  readonly #what: string;
  #pending = false;
  #closed = false;
  #resolve: ((r: WaitResult) => void) | null = null;
  #reject: ((e: unknown) => void) | null = null;
  #onReady: (() => boolean) | null = null;
  #timer: NodeJS.Timeout | undefined;
  #started = false;
  #error: unknown = undefined;

  constructor(epollFd: Fd, mode: WaitMode | undefined, what: string) {
    this.#what = what;
    this.#poller = createPoller(epollFd, () => this.#onReadable(), (e) => this.#onError(e), mode);
  }

  get mode(): WaitMode {
    return this.#poller.mode;
  }

  /** Whether a wait is in progress. */
  get busy(): boolean {
    return this.#resolve !== null;
  }

  /**
   * Resolves 'ready' once the fd is readable (or was since the last wait), 'timeout' after `timeoutMs`
   * (-1: never, 0: do not wait), 'closed' when close() is called. One wait at a time.
   *
   * `onReady` runs synchronously when the fd becomes readable during the wait (not for a readiness
   * remembered from before, which resolves 'ready' at once): true settles the wait as 'ready', false
   * keeps waiting, and an exception rejects the wait with it. It may close the owner (the wait then
   * resolves 'closed').
   *
   * `readyNow` runs once the watch has started: true settles the wait as 'ready' at once. It covers
   * what the watch cannot see: starting a libuv watch adds the epoll fd to libuv's, and the kernel
   * polls the fds inside twice (when it is added, and when libuv's epoll_wait collects it); perf events
   * report a wake-up only to the first poll after it, so a wake-up that lands just before the watch
   * starts is reported to nobody. The owner checks its rings instead.
   */
  wait(timeoutMs: number, onReady?: () => boolean, readyNow?: () => boolean): Promise<WaitResult> {
    if (this.#closed) return Promise.resolve('closed');
    if (this.#resolve) {
      return Promise.reject(new StateError(`${this.#what}: another poll() or iteration is already waiting`, { cmd: 'poll', errno: 16 }));
    }
    if (this.#error !== undefined) {
      const e = this.#error;
      this.#error = undefined;
      return Promise.reject(e);
    }
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve('ready');
    }
    if (timeoutMs === 0) return Promise.resolve('timeout');
    return new Promise<WaitResult>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      this.#onReady = onReady ?? null;
      this.#startPoller();
      if (readyNow?.()) {
        this.#settle('ready');
        return;
      }
      if (timeoutMs > 0) this.#timer = setTimeout(() => this.#settle('timeout'), timeoutMs);
    });
  }

  /** Forgets a remembered readiness (after a drain that saw everything). */
  clearPending(): void {
    this.#pending = false;
  }

  /** Returns and clears the remembered readiness. */
  takePending(): boolean {
    const p = this.#pending;
    this.#pending = false;
    return p;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.close();
    this.#settle('closed');
  }

  #startPoller(): void {
    if (!this.#started) {
      this.#poller.start();
      this.#started = true;
    }
    this.#poller.ref();
  }

  /** Between waits: keep a cheap watch (uv-poll) unreferenced, stop an expensive one. */
  #idle(): void {
    if (this.#closed) return;
    if (this.#poller.cheapIdle) {
      this.#poller.unref();
    } else if (this.#started) {
      this.#poller.stop();
      this.#started = false;
    }
  }

  #settle(r: WaitResult): void {
    const resolve = this.#resolve;
    this.#endWait();
    resolve?.(r);
  }

  /** The wait's onReady threw (a record callback's error): reject the wait; the watch stays usable. */
  #fail(e: unknown): void {
    const reject = this.#reject;
    this.#endWait();
    reject?.(e);
  }

  #endWait(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#resolve = null;
    this.#reject = null;
    this.#onReady = null;
    this.#idle();
  }

  #onReadable(): void {
    if (this.#resolve) {
      const onReady = this.#onReady;
      if (onReady) {
        let done: boolean;
        try {
          done = onReady();
        } catch (e) {
          this.#fail(e);
          return;
        }
        // Closed meanwhile (the wait is already settled), or nothing delivered: keep waiting.
        if (!done || !this.#resolve) return;
      }
      this.#settle('ready');
      return;
    }
    // Nobody waits: remember it and stop watching (a level-triggered watch would fire on every loop
    // iteration while data sits there).
    this.#pending = true;
    if (this.#started) {
      this.#poller.stop();
      this.#started = false;
    }
  }

  #onError(e: unknown): void {
    const reject = this.#reject;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#resolve = null;
    this.#reject = null;
    this.#onReady = null;
    if (this.#started) {
      this.#poller.stop();
      this.#started = false;
    }
    if (reject) reject(e);
    else this.#error = e;
  }
}
