// File descriptor ownership. Every fd tsbpf creates (maps, programs, links, BTF, perf events,
// epoll) is wrapped in exactly one Fd, which is its only owner: closing twice is a no-op, and an
// Fd that becomes garbage while still open is closed by a FinalizationRegistry (with a warning,
// because relying on GC for fds is a bug: a pinned-less map lives exactly as long as its fds).

import { StateError } from '../src/errors.js';
import { close as sysClose, fcntl, errno } from './libc.js';
import { syscallError } from './errors.js';

const F_DUPFD_CLOEXEC = 1030;

/** fd number → creation label, for every open Fd. Holds no Fd objects, so GC still sees leaks. */
const live = new Map<number, string>();

let warnedLeak = false;
let leakedCount = 0;

const finalizer = new FinalizationRegistry<{ fd: number; what: string }>(({ fd, what }) => {
  live.delete(fd);
  sysClose(fd);
  leakedCount++;
  if (!warnedLeak) {
    warnedLeak = true;
    process.stderr.write(`tsbpf: fd ${fd} (${what}) was not closed (closed by GC; further leaks are not reported)\n`);
  }
});

export class Fd {
  #fd: number;
  /** What the fd is, e.g. 'map counts', 'prog handle_exec', 'btf' (for leak reports). */
  readonly what: string;

  /** Takes ownership of `fd` (which must be open and owned by nobody else). */
  constructor(fd: number, what: string) {
    if (!Number.isInteger(fd) || fd < 0) throw new StateError(`invalid fd ${fd} for ${what}`);
    this.#fd = fd;
    this.what = what;
    live.set(fd, what);
    finalizer.register(this, { fd, what }, this);
  }

  /** The fd number. Throws StateError after close(), so a stale number is never reused by mistake. */
  get fd(): number {
    if (this.#fd < 0) throw new StateError(`${this.what}: fd is closed`, { cmd: 'fd' });
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Closes the fd; idempotent. */
  close(): void {
    const fd = this.#fd;
    if (fd < 0) return;
    this.#fd = -1;
    finalizer.unregister(this);
    live.delete(fd);
    // Linux always releases the descriptor, even when close() reports EINTR/EIO, so there is
    // nothing useful to retry or throw here.
    sysClose(fd);
  }

  /**
   * close() on behalf of a higher-level garbage-collection fallback (an object nobody closed): counted
   * with the fds the GC closed itself, so leak checks see the forgotten close().
   */
  closeForgotten(): void {
    if (this.closed) return;
    this.close();
    leakedCount++;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** A new, independently owned fd for the same kernel object (F_DUPFD_CLOEXEC). */
  dup(what: string = this.what): Fd {
    const r = fcntl(this.fd, F_DUPFD_CLOEXEC, 0);
    if (r < 0) throw syscallError('fcntl', 'F_DUPFD_CLOEXEC', errno());
    return new Fd(r, what);
  }

  /**
   * Gives up ownership without closing: returns the number and forgets it (the caller now owns
   * it). Used when handing an fd to code that will close it itself.
   */
  release(): number {
    const fd = this.fd;
    this.#fd = -1;
    finalizer.unregister(this);
    live.delete(fd);
    return fd;
  }

  toString(): string {
    return `Fd(${this.#fd < 0 ? 'closed' : this.#fd}, ${this.what})`;
  }
}

/** Every open Fd with its creation label, sorted by fd (for leak checks in tests). */
export function liveFds(): { fd: number; what: string }[] {
  return [...live].map(([fd, what]) => ({ fd, what })).sort((a, b) => a.fd - b.fd);
}

/** How many Fds the GC had to close so far. */
export function leakedFdCount(): number {
  return leakedCount;
}
