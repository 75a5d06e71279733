// Sockets and network namespaces: what SO_ATTACH_BPF, netlink and the network attach tests need.
// Thin wrappers; every fd is returned as an owned Fd.

import { openSync } from 'node:fs';
import { Fd } from './fd.js';
import { errno, fcntl } from './libc.js';
import { EAGAIN, syscallError } from './errors.js';
import {
  accept4, bind, connect, getsockname, getsockopt, listen, recvfrom, sendto, setns, setsockopt, socket,
} from './libc-attach.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0x800;
export const SOCK_CLOEXEC = 0x80000;
export const SOL_SOCKET = 1;
export const MSG_DONTWAIT = 0x40;

const SO_ATTACH_BPF = 50;
// SO_DETACH_BPF is an alias of SO_DETACH_FILTER.
const SO_DETACH_BPF = 27;
const CLONE_NEWNET = 0x40000000;

const F_DUPFD_CLOEXEC = 1030;

/** A new, owned, close-on-exec duplicate of an fd number someone else owns (a socket, a perf event). */
export function dupRawFd(fd: number, what: string): Fd {
  const r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (r < 0) throw syscallError('fcntl', 'F_DUPFD_CLOEXEC', errno(), { what });
  return new Fd(r, what);
}

/** socket(2), always close-on-exec. */
export function socketOpen(domain: number, type: number, protocol = 0, what = 'socket'): Fd {
  const r = socket(domain, type | SOCK_CLOEXEC, protocol);
  if (r < 0) throw syscallError('socket', 'socket', errno(), { what });
  return new Fd(r, what);
}

/** A struct sockaddr_in for an IPv4 address ('127.0.0.1') and port. */
export function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new RangeError(`not an IPv4 address: ${ip}`);
  for (let i = 0; i < 4; i++) b[4 + i] = parts[i]!;
  return b;
}

export function parseSockaddrIn(b: Uint8Array): { ip: string; port: number } {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return { ip: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`, port: buf.readUInt16BE(2) };
}

function check(r: number, call: string, what?: string): void {
  if (r < 0) throw syscallError(call, call, errno(), { what });
}

export function sockBind(fd: number, addr: Buffer): void {
  check(bind(fd, addr, addr.length), 'bind');
}
export function sockConnect(fd: number, addr: Buffer): void {
  check(connect(fd, addr, addr.length), 'connect');
}
export function sockListen(fd: number, backlog = 16): void {
  check(listen(fd, backlog), 'listen');
}
export function sockAccept(fd: number, what = 'socket (accepted)'): Fd {
  const r = accept4(fd, null, null, SOCK_CLOEXEC);
  if (r < 0) throw syscallError('accept4', 'accept4', errno());
  return new Fd(r, what);
}

/** The local IPv4 address and port of a bound socket. */
export function sockName(fd: number): { ip: string; port: number } {
  const addr = Buffer.alloc(16);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(16, 0);
  check(getsockname(fd, addr, len), 'getsockname');
  return parseSockaddrIn(addr);
}

/** sendto(2); `addr` null for connected sockets. Returns the bytes sent. */
export function sockSend(fd: number, data: Uint8Array, addr: Buffer | null = null, flags = 0): number {
  const r = sendto(fd, data, data.length, flags, addr, addr ? addr.length : 0);
  if (r < 0) throw syscallError('sendto', 'sendto', errno());
  return r;
}

/** recvfrom(2) into `buf`; returns the length, or -1 when nothing is queued (EAGAIN with MSG_DONTWAIT). */
export function sockRecv(fd: number, buf: Uint8Array, flags = MSG_DONTWAIT): number {
  const r = recvfrom(fd, buf, buf.length, flags, null, null);
  if (r < 0) {
    const e = errno();
    if (e === EAGAIN) return -1;
    throw syscallError('recvfrom', 'recvfrom', e);
  }
  return r;
}

export function setSockOpt(fd: number, level: number, name: number, value: Uint8Array, what = 'setsockopt'): void {
  if (setsockopt(fd, level, name, value, value.length) < 0) throw syscallError('setsockopt', what, errno());
}

export function getSockOptInt(fd: number, level: number, name: number): number {
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4, 0);
  if (getsockopt(fd, level, name, v, len) < 0) throw syscallError('getsockopt', 'getsockopt', errno());
  return v.readInt32LE(0);
}

/** setsockopt(SO_ATTACH_BPF): runs a BPF_PROG_TYPE_SOCKET_FILTER program on every packet the socket receives. */
export function socketAttachBpf(sockFd: number, progFd: number): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(progFd, 0);
  if (setsockopt(sockFd, SOL_SOCKET, SO_ATTACH_BPF, v, 4) < 0) {
    const e = errno();
    throw syscallError('setsockopt', 'SO_ATTACH_BPF', e, {
      advice: e === 88 ? 'the fd is not a socket' : e === 22 ? 'the program must be a socket filter (SEC("socket"))' : undefined,
    });
  }
}

/** setsockopt(SO_DETACH_BPF). ENOENT (nothing attached) is not an error. */
export function socketDetachBpf(sockFd: number): void {
  const v = Buffer.alloc(4);
  if (setsockopt(sockFd, SOL_SOCKET, SO_DETACH_BPF, v, 4) < 0) {
    const e = errno();
    if (e !== 2) throw syscallError('setsockopt', 'SO_DETACH_BPF', e);
  }
}

// --- network namespaces --------------------------------------------------------------------------

/** The path of a named network namespace ('ns1' → /run/netns/ns1), or the path itself. */
export function netnsPath(nameOrPath: string): string {
  return nameOrPath.includes('/') ? nameOrPath : `/run/netns/${nameOrPath}`;
}

/** Opens a network namespace (a name under /run/netns or a path such as /proc/<pid>/ns/net). */
export function openNetns(nameOrPath: string = '/proc/thread-self/ns/net'): Fd {
  const path = netnsPath(nameOrPath);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw syscallError('open', 'open', Math.abs(err.errno ?? 2), {
      what: `network namespace ${path}`,
      advice: 'create named namespaces with `ip netns add NAME`, or pass a path such as /proc/<pid>/ns/net',
    });
  }
  return new Fd(fd, `netns ${path}`);
}

/**
 * Runs `fn` with the calling thread in another network namespace, then switches back (also when
 * fn throws). Only this thread moves — which is the one issuing bpf(), netlink and socket calls —
 * so fn must be synchronous: anything it leaves for later runs in the original namespace.
 * Sockets, netlink sockets and ifindexes resolved inside belong to that namespace for good.
 */
export function withNetns<T>(nameOrPath: string, fn: () => T): T {
  const target = openNetns(nameOrPath);
  try {
    return withNetnsFd(target.fd, fn, netnsPath(nameOrPath));
  } finally {
    target.close();
  }
}

/** withNetns for an open namespace fd (e.g. one saved when an attachment was made). */
export function withNetnsFd<T>(nsFd: number, fn: () => T, label = `netns fd ${nsFd}`): T {
  const orig = openNetns('/proc/thread-self/ns/net');
  try {
    if (setns(nsFd, CLONE_NEWNET) < 0) throw syscallError('setns', 'setns', errno(), { what: `network namespace ${label}` });
    try {
      return fn();
    } finally {
      if (setns(orig.fd, CLONE_NEWNET) < 0) {
        // Staying in the wrong namespace would silently misdirect every later call: fail loudly.
        throw syscallError('setns', 'setns', errno(), { what: 'returning to the original network namespace' });
      }
    }
  } finally {
    orig.close();
  }
}
