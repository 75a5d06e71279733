// Waiting for an fd to become readable without blocking the event loop. Two mechanisms, one interface
// (`Poller`): the consumers in src/events/ only ever poll an epoll fd they own, so that is all this
// module has to support well.
//
// 1. 'uv-poll' (default): koffi.node.poll, a libuv uv_poll_t on Node's own loop. No thread; measured
//    wake-up about 4–6 µs. The API is undocumented in koffi 3.3.4 and has sharp edges (node-koffi.md §3),
//    each handled here:
//    - any uv_poll_init failure (fd already polled, regular file, bad fd) aborts the process instead of
//      throwing, so the fd is checked first: not already polled by us, and accepted by epoll_ctl on a
//      probe epoll instance (exactly the check libuv makes);
//    - the callback really receives (status, events), not the (events) the .d.ts declares;
//    - closing the fd while the handle is active aborts, and a reused fd number would be watched by
//      mistake: owners close the poller before the fd (uv_close removes it from libuv's epoll at once);
//    - an unreferenced handle is garbage collected and silently closed: we keep it in a field;
//    - exceptions must not escape into the native callback: the user callback is wrapped.
// 2. 'threadpool': epoll_wait on the libuv threadpool (koffi `.async`) over a private epoll holding the
//    target fd and an eventfd; stop()/close() write the eventfd so the blocked pool thread returns at
//    once. It holds one pool thread while waiting (4 by default; see UV_THREADPOOL_SIZE) and wakes in
//    about 15 µs, but relies only on koffi's documented API. Chosen with `wait: 'threadpool'` or
//    TSBPF_EVENT_WAIT=threadpool, and automatically when koffi.node.poll is missing.

import koffi, { type LibraryHandle } from 'koffi';
import { NotSupportedError, StateError } from '../src/errors.js';
import { EAGAIN, EINTR, syscallError } from './errors.js';
import { Fd } from './fd.js';
import { addressOf, close as sysClose, epollCreate1, epollCtl, errno, eventfd, fcntl, read, write } from './libc.js';

export type WaitMode = 'uv-poll' | 'threadpool';

/** A readiness watcher on one fd. `onReadable` runs on the JS thread, never reentrantly. */
export interface Poller {
  readonly mode: WaitMode;
  /** Watch (again). Idempotent. */
  start(): void;
  /** Stop watching; a later start() resumes. Idempotent. */
  stop(): void;
  /** Whether an active watch keeps the process alive (default true). */
  ref(): void;
  unref(): void;
  /**
   * Whether a started-but-unreferenced watch is free (uv-poll: yes, it is a flag in the loop;
   * threadpool: no, it holds a pool thread and keeps the process alive, so idle watches are stopped).
   */
  readonly cheapIdle: boolean;
  /** Stops for good. The watched fd may be closed right after. Idempotent. */
  close(): void;
}

const EPOLLIN = 0x001;
const EPOLL_CLOEXEC = 0x80000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EFD_CLOEXEC = 0x80000;
const EFD_NONBLOCK = 0x800;
const F_GETFD = 1;
const F_DUPFD_CLOEXEC = 1030;
// struct epoll_event is packed on x86_64 (12 bytes) and naturally aligned elsewhere (16 bytes).
const EV_SIZE = process.arch === 'x64' ? 12 : 16;
const EV_DATA = process.arch === 'x64' ? 4 : 8;

// --- uv-poll -----------------------------------------------------------------------------------------

/** The runtime shape of koffi's PollHandle (its .d.ts has the wrong callback signature). */
interface UvPollHandle {
  start(opts: { readable?: boolean; writable?: boolean }, cb: (status: number, ev: unknown) => void): void;
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}
type UvPollFn = (fd: number, opts: { readable?: boolean; writable?: boolean }, cb: (status: number, ev: unknown) => void) => UvPollHandle | null;

function uvPollFn(): UvPollFn | undefined {
  const node = (koffi as unknown as { node?: { poll?: unknown } }).node;
  return typeof node?.poll === 'function' ? (node.poll as UvPollFn) : undefined;
}

/** Whether koffi.node.poll exists in this koffi (it is undocumented and could change). */
export function uvPollSupported(): boolean {
  return uvPollFn() !== undefined;
}

/** fds with a live uv poll handle created here: polling one twice aborts the process. */
const uvPolled = new Set<number>();

const probeEv = Buffer.alloc(16);

/**
 * Checks what uv_poll_init would reject (and abort on): the fd must be open and epoll-able. Uses a
 * throwaway epoll instance, as libuv's own uv__io_check_fd does.
 */
function checkPollable(fd: number): void {
  if (!Number.isInteger(fd) || fd < 0 || fcntl(fd, F_GETFD, 0) < 0) {
    throw new StateError(`cannot poll fd ${fd}: it is not open`, { cmd: 'poll', errno: 9 });
  }
  const ep = epollCreate1(EPOLL_CLOEXEC);
  if (ep < 0) throw syscallError('epoll_create1', 'epoll_create1', errno());
  try {
    probeEv.fill(0);
    probeEv.writeUInt32LE(EPOLLIN, 0);
    if (epollCtl(ep, EPOLL_CTL_ADD, fd, probeEv) < 0) {
      const e = errno();
      throw syscallError('epoll_ctl', 'EPOLL_CTL_ADD', e, { what: `fd ${fd} cannot be polled` });
    }
    epollCtl(ep, EPOLL_CTL_DEL, fd, null);
  } finally {
    sysClose(ep);
  }
}

class UvPoller implements Poller {
  readonly mode = 'uv-poll' as const;
  readonly cheapIdle = true;
  /** Strong reference: a collected PollHandle is closed behind our back. */
  #handle: UvPollHandle | null;
  readonly #fd: number;
  #started = true;
  #refed = true;
  readonly #cb = (status: number) => this.#fire(status);
  readonly #onReadable: () => void;
  readonly #onError: (err: unknown) => void;
  /** The watched fd's owner, kept reachable while the handle exists. */
  readonly #keep: unknown;

  constructor(fd: number, keep: unknown, onReadable: () => void, onError: (err: unknown) => void) {
    const poll = uvPollFn();
    if (!poll) throw new NotSupportedError('koffi.node.poll is not available in this koffi version; use wait: \'threadpool\'');
    if (uvPolled.has(fd)) throw new StateError(`fd ${fd} already has a poll handle`, { cmd: 'poll', errno: 17 });
    checkPollable(fd);
    this.#onReadable = onReadable;
    this.#onError = onError;
    const h = poll(fd, { readable: true }, this.#cb);
    if (!h) throw new StateError(`koffi.node.poll refused fd ${fd}`, { cmd: 'poll' });
    this.#handle = h;
    this.#fd = fd;
    this.#keep = keep;
    uvPolled.add(fd);
    // Created started (koffi starts it); the owner decides when it should run.
    this.stop();
  }

  #fire(status: number): void {
    // Never let an exception reach the native caller.
    try {
      if (status < 0) {
        this.#onError(new StateError(`poll on fd ${this.#fd} failed: libuv status ${status}`, { cmd: 'poll', errno: -status }));
        return;
      }
      this.#onReadable();
    } catch (e) {
      try {
        this.#onError(e);
      } catch {
        // nothing left to report to
      }
    }
  }

  start(): void {
    if (!this.#handle || this.#started) return;
    this.#handle.start({ readable: true }, this.#cb);
    this.#started = true;
  }

  stop(): void {
    if (!this.#handle || !this.#started) return;
    this.#handle.stop();
    this.#started = false;
  }

  ref(): void {
    if (!this.#handle || this.#refed) return;
    this.#handle.ref();
    this.#refed = true;
  }

  unref(): void {
    if (!this.#handle || !this.#refed) return;
    this.#handle.unref();
    this.#refed = false;
  }

  close(): void {
    const h = this.#handle;
    if (!h) return;
    this.#handle = null;
    // uv_close stops the handle and removes the fd from libuv's epoll synchronously, so the fd can be
    // closed by the owner right after this returns.
    h.close();
    uvPolled.delete(this.#fd);
  }
}

// --- threadpool -----------------------------------------------------------------------------------------

let asyncLib: LibraryHandle | undefined;
type AsyncFn = { async: (...args: unknown[]) => void };
let epollWaitAddr: AsyncFn | undefined;

/** epoll_wait with the events array as an address, so the async call never copies or moves it. */
function epollWaitAsyncFn(): AsyncFn {
  if (!epollWaitAddr) {
    for (const name of ['libc.so.6', `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`, 'libc.so', null]) {
      try {
        asyncLib = koffi.load(name as string);
        break;
      } catch {
        // next candidate
      }
    }
    if (!asyncLib) throw new NotSupportedError('cannot load libc for epoll_wait');
    epollWaitAddr = asyncLib.func('int epoll_wait(int epfd, intptr_t events, int maxevents, int timeout)') as unknown as AsyncFn;
  }
  return epollWaitAddr;
}

class ThreadpoolPoller implements Poller {
  readonly mode = 'threadpool' as const;
  readonly cheapIdle = false;
  readonly #fd: number;
  #ep = -1;
  #efd = -1;
  /** Written by the pool thread: kept referenced and never touched while a wait is in flight. */
  readonly #events = Buffer.alloc(EV_SIZE * 2);
  readonly #eventsAddr: number;
  readonly #u64 = Buffer.alloc(8);
  #started = false;
  #inflight = false;
  #closed = false;
  readonly #onReadable: () => void;
  readonly #onError: (err: unknown) => void;
  /** The watched fd's owner, kept reachable while this poller exists. */
  readonly #keep: unknown;

  constructor(fd: number, keep: unknown, onReadable: () => void, onError: (err: unknown) => void) {
    checkPollable(fd);
    this.#fd = fd;
    this.#keep = keep;
    this.#onReadable = onReadable;
    this.#onError = onError;
    this.#eventsAddr = addressOf(this.#events);
    const ep = epollCreate1(EPOLL_CLOEXEC);
    if (ep < 0) throw syscallError('epoll_create1', 'epoll_create1', errno());
    const efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) {
      const e = errno();
      sysClose(ep);
      throw syscallError('eventfd', 'eventfd', e);
    }
    this.#ep = ep;
    this.#efd = efd;
    try {
      this.#add(fd, 0);
      this.#add(efd, 1);
    } catch (e) {
      this.#free();
      throw e;
    }
  }

  #add(fd: number, data: number): void {
    const ev = Buffer.alloc(16);
    ev.writeUInt32LE(EPOLLIN, 0);
    ev.writeUInt32LE(data, EV_DATA);
    if (epollCtl(this.#ep, EPOLL_CTL_ADD, fd, ev) < 0) throw syscallError('epoll_ctl', 'EPOLL_CTL_ADD', errno());
  }

  #launch(): void {
    this.#inflight = true;
    epollWaitAsyncFn().async(this.#ep, this.#eventsAddr, 2, -1, (err: unknown, n: number) => {
      const e = n < 0 ? errno() : 0;
      this.#inflight = false;
      // The buffer stays referenced by `this` until here, which is all the pool thread needs.
      if (this.#closed) {
        this.#free();
        return;
      }
      let readable = false;
      try {
        if (err) throw err;
        if (n < 0 && e !== EINTR) throw syscallError('epoll_wait', 'epoll_wait', e);
        for (let i = 0; i < n; i++) {
          if (this.#events.readUInt32LE(i * EV_SIZE + EV_DATA) === 1) this.#drainEventfd();
          else readable = true;
        }
      } catch (ex) {
        this.#started = false;
        this.#onError(ex);
        return;
      }
      if (readable && this.#started) {
        try {
          this.#onReadable();
        } catch (ex) {
          this.#onError(ex);
        }
      }
      if (this.#started && !this.#closed && !this.#inflight) this.#launch();
    });
  }

  #drainEventfd(): void {
    if (read(this.#efd, this.#u64, 8) < 0 && errno() !== EAGAIN) {
      // A failed read leaves the counter set: the next wait returns at once, which is harmless.
    }
  }

  #kick(): void {
    this.#u64.writeBigUInt64LE(1n, 0);
    write(this.#efd, this.#u64, 8);
  }

  start(): void {
    if (this.#closed) return;
    this.#started = true;
    if (!this.#inflight) this.#launch();
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    // Cut the blocked epoll_wait short so the pool thread (and the process) is released.
    if (this.#inflight) this.#kick();
  }

  ref(): void {
    // Async work cannot be unreferenced; idle watches are stopped instead (cheapIdle = false).
  }
  unref(): void {}

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#started = false;
    // The private epoll and eventfd are closed when the in-flight wait returns (now, thanks to the
    // eventfd); closing them under a blocked pool thread would let a reused fd number be waited on.
    if (this.#inflight) this.#kick();
    else this.#free();
  }

  #free(): void {
    if (this.#ep >= 0) sysClose(this.#ep);
    if (this.#efd >= 0) sysClose(this.#efd);
    this.#ep = -1;
    this.#efd = -1;
  }

  /** @internal for tests: whether the private fds are still open. */
  get pendingClose(): boolean {
    return this.#ep >= 0;
  }
}

// --- selection --------------------------------------------------------------------------------------------

/** The wait mode used when none is given: TSBPF_EVENT_WAIT, else uv-poll when koffi has it. */
export function defaultWaitMode(): WaitMode {
  const env = process.env.TSBPF_EVENT_WAIT;
  if (env === 'threadpool' || env === 'uv-poll') return env;
  return uvPollSupported() ? 'uv-poll' : 'threadpool';
}

/**
 * Watches `fd` (an epoll fd or any pollable fd owned by the caller) for readability. The poller starts
 * stopped. The caller must close() it before closing `fd`.
 */
export function createPoller(fd: Fd | number, onReadable: () => void, onError: (err: unknown) => void, mode: WaitMode = defaultWaitMode()): Poller {
  // Holding the Fd object keeps it from being closed by the GC safety net while the handle watches it
  // (closing a watched fd aborts the process): a leaked, never-closed buffer leaks its epoll fd instead.
  const n = typeof fd === 'number' ? fd : fd.fd;
  if (mode === 'uv-poll') return new UvPoller(n, fd, onReadable, onError);
  if (mode === 'threadpool') return new ThreadpoolPoller(n, fd, onReadable, onError);
  throw new StateError(`unknown wait mode '${String(mode)}' (expected 'uv-poll' or 'threadpool')`, { cmd: 'poll', errno: 22 });
}

/** A new, independently owned fd for the same file (F_DUPFD_CLOEXEC), for fds we are only given. */
export function dupFd(fd: number, what: string): Fd {
  const r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (r < 0) throw syscallError('fcntl', 'F_DUPFD_CLOEXEC', errno(), { what });
  return new Fd(r, what);
}
