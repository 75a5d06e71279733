// libc functions the attach layer needs beyond libc.ts: sockets (netlink, SO_ATTACH_BPF, test
// traffic), setns (network namespaces), mount (tracefs) and if_nametoindex. Same rules as
// libc.ts: fixed arity, check the return value first and only then read errno().
//
// libc.ts keeps its library handle private, so this module opens libc itself; dlopen() of an
// already loaded library only bumps a reference count, so both handles name the same code.

import koffi, { type LibraryHandle } from 'koffi';

function loadLibc(): LibraryHandle {
  const candidates = ['libc.so.6', `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`, 'libc.so'];
  for (const name of candidates) {
    try {
      return koffi.load(name);
    } catch {
      // try the next name
    }
  }
  return koffi.load(null);
}

const lib = loadLibc();

type Ptr = Uint8Array | null;

export const socket = lib.func('int socket(int domain, int type, int protocol)') as
  (domain: number, type: number, protocol: number) => number;
export const bind = lib.func('int bind(int fd, void *addr, uint len)') as (fd: number, addr: Ptr, len: number) => number;
export const connect = lib.func('int connect(int fd, void *addr, uint len)') as (fd: number, addr: Ptr, len: number) => number;
export const listen = lib.func('int listen(int fd, int backlog)') as (fd: number, backlog: number) => number;
export const accept4 = lib.func('int accept4(int fd, void *addr, void *len, int flags)') as
  (fd: number, addr: Ptr, len: Ptr, flags: number) => number;
export const sendto = lib.func('long sendto(int fd, void *buf, size_t len, int flags, void *addr, uint addrlen)') as
  (fd: number, buf: Ptr, len: number, flags: number, addr: Ptr, addrlen: number) => number;
export const recvfrom = lib.func('long recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *addrlen)') as
  (fd: number, buf: Ptr, len: number, flags: number, addr: Ptr, addrlen: Ptr) => number;
export const setsockopt = lib.func('int setsockopt(int fd, int level, int name, void *val, uint len)') as
  (fd: number, level: number, name: number, val: Ptr, len: number) => number;
export const getsockopt = lib.func('int getsockopt(int fd, int level, int name, void *val, void *len)') as
  (fd: number, level: number, name: number, val: Ptr, len: Ptr) => number;
export const getsockname = lib.func('int getsockname(int fd, void *addr, void *len)') as
  (fd: number, addr: Ptr, len: Ptr) => number;
export const setns = lib.func('int setns(int fd, int nstype)') as (fd: number, nstype: number) => number;
export const mount = lib.func('int mount(const char *src, const char *target, const char *fstype, ulong flags, void *data)') as
  (src: string, target: string, fstype: string, flags: number, data: Ptr) => number;
export const ifNametoindex = lib.func('uint if_nametoindex(const char *name)') as (name: string) => number;
