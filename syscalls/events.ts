// Event plumbing for perf buffers, ring buffers and perf-event-based attachment: perf_event_open,
// its ioctls, epoll and eventfd. Thin wrappers; the consumers live in higher layers.

import { StructWriter } from './attr.js';
import { PERF_EVENT_ATTR, PERF_EVENT_ATTR_SIZE } from './generated/bpf-attr.js';
import { Fd } from './fd.js';
import { NR_PERF_EVENT_OPEN, addressOf, epollCreate1, epollCtl, epollWait, errno, eventfd, ioctl, read, sysPerfEventOpen, write } from './libc.js';
import { EAGAIN, EINTR, syscallError } from './errors.js';

export type PerfEventAttrField = keyof typeof PERF_EVENT_ATTR;

/**
 * Encodes a struct perf_event_attr from field values (bitfields such as `disabled`, `inherit`,
 * `watermark` included). `size` is filled in: older kernels accept a larger struct as long as the
 * fields they do not know are zero.
 */
export function perfEventAttr(fields: Partial<Record<PerfEventAttrField, number | bigint>>): Buffer {
  const w = new StructWriter(PERF_EVENT_ATTR, PERF_EVENT_ATTR_SIZE);
  w.set('size', PERF_EVENT_ATTR_SIZE);
  for (const [k, v] of Object.entries(fields)) {
    if (v !== undefined) w.set(k as PerfEventAttrField, v);
  }
  return w.buf;
}

export const PERF_FLAG_FD_CLOEXEC = 1 << 3;

/** perf_event_open(2). The fd is opened close-on-exec. */
export function perfEventOpen(attr: Uint8Array, pid: number, cpu: number, groupFd = -1, flags = PERF_FLAG_FD_CLOEXEC,
  what = 'perf event'): Fd {
  const ret = sysPerfEventOpen(NR_PERF_EVENT_OPEN, addressOf(attr), pid, cpu, groupFd, flags);
  if (ret < 0) throw syscallError('perf_event_open', 'perf_event_open', errno(), { what });
  // attr is read during the call only; this reference keeps it reachable until here.
  void attr.length;
  return new Fd(ret, what);
}

const PERF_EVENT_IOC_ENABLE = 0x2400;
const PERF_EVENT_IOC_DISABLE = 0x2401;
const PERF_EVENT_IOC_SET_BPF = 0x40042408;

function ioctlOrThrow(fd: number, req: number, arg: number, name: string): void {
  if (ioctl(fd, req, arg) < 0) throw syscallError('ioctl', name, errno());
}

export function perfEventEnable(fd: number): void {
  ioctlOrThrow(fd, PERF_EVENT_IOC_ENABLE, 0, 'PERF_EVENT_IOC_ENABLE');
}
export function perfEventDisable(fd: number): void {
  ioctlOrThrow(fd, PERF_EVENT_IOC_DISABLE, 0, 'PERF_EVENT_IOC_DISABLE');
}
/** Legacy (pre-BPF-link) attachment of a program to a perf event. */
export function perfEventSetBpf(fd: number, progFd: number): void {
  ioctlOrThrow(fd, PERF_EVENT_IOC_SET_BPF, progFd, 'PERF_EVENT_IOC_SET_BPF');
}

// --- epoll -------------------------------------------------------------------------------------------

export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
const EPOLL_CLOEXEC = 0x80000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
// struct epoll_event is packed on x86_64 (12 bytes) and naturally aligned elsewhere (16 bytes).
const EV_SIZE = process.arch === 'x64' ? 12 : 16;
const EV_DATA = process.arch === 'x64' ? 4 : 8;

/** An epoll instance with a preallocated event array (no allocation per wait()). */
export class Epoll {
  readonly fd: Fd;
  readonly #events: Buffer;
  readonly #max: number;
  readonly #ctl = Buffer.alloc(16);
  #count = 0;

  constructor(maxEvents = 64, what = 'epoll') {
    const r = epollCreate1(EPOLL_CLOEXEC);
    if (r < 0) throw syscallError('epoll_create1', 'epoll_create1', errno());
    this.fd = new Fd(r, what);
    this.#max = maxEvents;
    this.#events = Buffer.alloc(EV_SIZE * maxEvents);
  }

  #control(op: number, fd: number, events: number, data: number, name: string): void {
    this.#ctl.fill(0);
    this.#ctl.writeUInt32LE(events >>> 0, 0);
    this.#ctl.writeUInt32LE(data >>> 0, EV_DATA);
    if (epollCtl(this.fd.fd, op, fd, this.#ctl) < 0) throw syscallError('epoll_ctl', name, errno());
  }

  /** Watches `fd` for `events`; `data` (a u32) identifies it in wait() results. */
  add(fd: number, events: number, data: number): void {
    this.#control(EPOLL_CTL_ADD, fd, events, data, 'EPOLL_CTL_ADD');
  }
  modify(fd: number, events: number, data: number): void {
    this.#control(EPOLL_CTL_MOD, fd, events, data, 'EPOLL_CTL_MOD');
  }
  delete(fd: number): void {
    if (epollCtl(this.fd.fd, EPOLL_CTL_DEL, fd, null) < 0) throw syscallError('epoll_ctl', 'EPOLL_CTL_DEL', errno());
  }

  /** epoll_wait (timeout in ms; 0 polls, -1 blocks the thread). Returns the ready count (0 on EINTR). */
  wait(timeoutMs = 0): number {
    const r = epollWait(this.fd.fd, this.#events, this.#max, timeoutMs);
    if (r < 0) {
      const e = errno();
      if (e === EINTR) return (this.#count = 0);
      throw syscallError('epoll_wait', 'epoll_wait', e);
    }
    return (this.#count = r);
  }

  /** Event mask of the i-th result of the last wait(). */
  events(i: number): number {
    if (i >= this.#count) throw new RangeError(`event ${i} of ${this.#count}`);
    return this.#events.readUInt32LE(i * EV_SIZE);
  }

  /** `data` of the i-th result of the last wait(). */
  data(i: number): number {
    if (i >= this.#count) throw new RangeError(`event ${i} of ${this.#count}`);
    return this.#events.readUInt32LE(i * EV_SIZE + EV_DATA);
  }

  close(): void {
    this.fd.close();
  }
  [Symbol.dispose](): void {
    this.close();
  }
}

// --- eventfd -----------------------------------------------------------------------------------------

export const EFD_NONBLOCK = 0x800;
const EFD_CLOEXEC = 0x80000;

/** eventfd(2), close-on-exec (flags may add EFD_NONBLOCK). */
export function eventFd(initval = 0, flags = 0, what = 'eventfd'): Fd {
  const r = eventfd(initval, flags | EFD_CLOEXEC);
  if (r < 0) throw syscallError('eventfd', 'eventfd', errno());
  return new Fd(r, what);
}

const efdBuf = Buffer.alloc(8);

/** Adds `value` to the eventfd counter. */
export function eventFdWrite(fd: number, value: bigint | number = 1): void {
  efdBuf.writeBigUInt64LE(BigInt(value), 0);
  if (write(fd, efdBuf, 8) < 0) throw syscallError('write', 'eventfd', errno());
}

/** Reads and resets the counter; returns 0n when it is zero and the fd is non-blocking. */
export function eventFdRead(fd: number): bigint {
  if (read(fd, efdBuf, 8) < 0) {
    const e = errno();
    if (e === EAGAIN) return 0n;
    throw syscallError('read', 'eventfd', e);
  }
  return efdBuf.readBigUInt64LE(0);
}
