// The FFI core: the only place (with the rest of syscalls/) that touches koffi.
//
// Design notes (measured on this machine, see /work/shared/reference/node-koffi.md):
// - Every C function is declared with a *fixed* arity. koffi parses the extra types of a variadic
//   call on every call (+0.5–0.8 µs) and variadic functions cannot be called with `.async`.
//   glibc's syscall() is assembly that just moves registers, so declaring it with a fixed list of
//   integer/pointer parameters is ABI-safe on x86_64 SysV and AAPCS64.
// - Pointers that we computed ourselves (attr buffers, mmap addresses) are passed as `intptr_t`
//   Numbers: user-space addresses are < 2^47 on x86_64 and < 2^48 on aarch64, so a Number holds
//   them exactly and we avoid BigInt conversions on the hot path.
// - errno: koffi does not clear errno on success (a stale ENOTTY was seen after a successful
//   BPF_MAP_CREATE), so callers check the return value first and only then read `errno()`,
//   before any other JS (which could run other FFI calls) executes.

import koffi, { type LibraryHandle } from 'koffi';

/** Per-architecture system call numbers (asm/unistd_64.h and asm-generic/unistd.h). */
const SYSCALL_NR: Record<string, { bpf: number; perfEventOpen: number }> = {
  x64: { bpf: 321, perfEventOpen: 298 },
  arm64: { bpf: 280, perfEventOpen: 241 },
};

function loadLibc(): LibraryHandle {
  // glibc first; musl ships a single libc.so (its dynamic loader), and dlopen(NULL) gives the
  // global namespace of the running node binary, which always links a libc.
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

const nr = SYSCALL_NR[process.arch];
if (!nr) {
  // Fail at import time with a clear message rather than issuing a wrong syscall number later.
  throw new Error(`tsbpf: unsupported architecture ${process.arch} (supported: x64, arm64)`);
}
export const NR_BPF = nr.bpf;
export const NR_PERF_EVENT_OPEN = nr.perfEventOpen;

const lib = loadLibc();

// --- system calls ---------------------------------------------------------------------------------

/** bpf(cmd, attr, size) with attr given as an address (Number). Returns fd/0 or -1. */
export const sysBpf = lib.func('long syscall(long nr, long cmd, intptr_t attr, uint size)') as
  (nr: number, cmd: number, attr: number, size: number) => number;

/** perf_event_open(attr, pid, cpu, group_fd, flags). */
export const sysPerfEventOpen = lib.func(
  'long syscall(long nr, intptr_t attr, int pid, int cpu, int group_fd, ulong flags)',
) as (nr: number, attr: number, pid: number, cpu: number, groupFd: number, flags: number) => number;

// --- libc -------------------------------------------------------------------------------------------

export const close = lib.func('int close(int fd)') as (fd: number) => number;
export const fcntl = lib.func('int fcntl(int fd, int cmd, int arg)') as (fd: number, cmd: number, arg: number) => number;
export const mmap = lib.func('intptr_t mmap(intptr_t addr, size_t length, int prot, int flags, int fd, intptr_t offset)') as
  (addr: number, length: number, prot: number, flags: number, fd: number, offset: number) => number;
export const munmap = lib.func('int munmap(intptr_t addr, size_t length)') as (addr: number, length: number) => number;
export const ioctl = lib.func('int ioctl(int fd, ulong request, ulong arg)') as (fd: number, request: number, arg: number) => number;
export const getrlimit = lib.func('int getrlimit(int resource, void *rlim)') as (resource: number, rlim: Uint8Array) => number;
export const setrlimit = lib.func('int setrlimit(int resource, void *rlim)') as (resource: number, rlim: Uint8Array) => number;
export const statfs = lib.func('int statfs(const char *path, void *buf)') as (path: string, buf: Uint8Array) => number;
export const uname = lib.func('int uname(void *buf)') as (buf: Uint8Array) => number;
/** memcpy from a JS buffer into native memory (copy-fallback write path). */
export const memcpyIn = lib.func('void *memcpy(intptr_t dst, void *src, size_t n)') as
  (dst: number, src: Uint8Array, n: number) => unknown;
/** memcpy from native memory into a JS buffer (copy-fallback read path). */
export const memcpyOut = lib.func('void *memcpy(void *dst, intptr_t src, size_t n)') as
  (dst: Uint8Array, src: number, n: number) => unknown;
export const epollCreate1 = lib.func('int epoll_create1(int flags)') as (flags: number) => number;
export const epollCtl = lib.func('int epoll_ctl(int epfd, int op, int fd, void *event)') as
  (epfd: number, op: number, fd: number, event: Uint8Array | null) => number;
export const epollWait = lib.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)') as
  (epfd: number, events: Uint8Array, maxevents: number, timeout: number) => number;
export const eventfd = lib.func('int eventfd(uint initval, int flags)') as (initval: number, flags: number) => number;
export const read = lib.func('long read(int fd, void *buf, size_t count)') as (fd: number, buf: Uint8Array, count: number) => number;
export const write = lib.func('long write(int fd, void *buf, size_t count)') as (fd: number, buf: Uint8Array, count: number) => number;
export const getpagesize = lib.func('int getpagesize()') as () => number;

/** The calling thread's errno. Read it right after a failing call, before any other FFI call. */
export function errno(): number {
  return koffi.errno();
}

/**
 * Address of a JS buffer's bytes as a Number. The address includes byteOffset. V8 moves a small
 * on-heap typed array off-heap on the first call, after which the address is stable for the
 * buffer's lifetime, so callers may cache it per buffer object.
 */
export function addressOf(buf: ArrayBufferView): number {
  return Number(koffi.address(buf));
}

/**
 * A zero-copy ArrayBuffer over native memory (koffi.view). It aborts the process under
 * Electron's V8 memory cage, so only mmap.ts calls it, after checking the zero-copy policy.
 */
export function viewOf(address: number, length: number): ArrayBuffer {
  return koffi.view(BigInt(address), length);
}

type AsyncCapable = { async: (...args: unknown[]) => void };

/**
 * bpf() on the libuv threadpool (koffi `.async`) — for slow calls such as BPF_PROG_LOAD of big
 * programs. The caller keeps the attr and every buffer it points to referenced until the promise
 * settles. koffi sets errno to the worker thread's value while the callback runs.
 */
export function sysBpfAsync(cmd: number, attr: number, size: number): Promise<{ ret: number; errno: number }> {
  return new Promise((resolve, reject) => {
    (sysBpf as unknown as AsyncCapable).async(NR_BPF, cmd, attr, size, (err: unknown, ret: number) => {
      // koffi sets errno to the worker thread's value for the duration of this callback.
      if (err) reject(err);
      else resolve({ ret, errno: ret < 0 ? koffi.errno() : 0 });
    });
  });
}
