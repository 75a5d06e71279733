// One-at-a-time waits for an epoll fd to become readable, shared by RingBuffer, PerfBuffer and
// UserRingBuffer. Built on a syscalls Poller (a libuv poll handle, or epoll_wait on the threadpool).
//
// Policy, chosen so that a buffer nobody waits on costs nothing and never keeps the process alive:
// - the poller runs only while someone waits, or (uv-poll) stays started but unreferenced between
//   back-to-back waits, because stopping and restarting a uv poll handle costs two epoll_ctl calls;
// - a readiness event that arrives while nobody waits is remembered (`pending`) and the poller is
//   stopped. Remembering matters for perf buffers: perf_poll() clears the event's wakeup flag when it
//   reports it, so a dropped notification would leave data sitting unseen until the next wakeup;
// - close() resolves the pending wait with 'closed' and closes the poller before the owner closes fds.

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
   */
  wait(timeoutMs: number): Promise<WaitResult> {
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
      this.#startPoller();
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
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#resolve = null;
    this.#reject = null;
    this.#idle();
    resolve?.(r);
  }

  #onReadable(): void {
    if (this.#resolve) {
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
    if (this.#started) {
      this.#poller.stop();
      this.#started = false;
    }
    if (reject) reject(e);
    else this.#error = e;
  }
}
