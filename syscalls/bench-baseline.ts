// A raw koffi baseline for bench/syscalls-lookup.ts: the cheapest possible MAP_LOOKUP_ELEM
// through koffi — one prebuilt attr with the key/value addresses written once, a fixed-arity
// prototype, nothing else per call. It lives here because only syscalls/ may import koffi.
// Not part of the public API (not exported from index.ts).

import koffi from 'koffi';
import { NR_BPF } from './libc.js';

const lib = koffi.load('libc.so.6');
const sysBpfPtr = lib.func('long syscall(long nr, long cmd, void *attr, uint size)') as
  (nr: number, cmd: number, attr: Uint8Array, size: number) => number;
const sysGetpid = lib.func('long syscall(long nr)') as (nr: number) => number;
const NR_GETPID = process.arch === 'arm64' ? 172 : 39;

/** Returns a closure doing one raw lookup (cmd 1) or update (cmd 2) of a fixed key/value. */
export function rawElemOp(mapFd: number, cmd: 1 | 2, key: Uint8Array, value: Uint8Array): () => number {
  const attr = Buffer.alloc(32);
  attr.writeUInt32LE(mapFd, 0);
  attr.writeBigUInt64LE(koffi.address(key), 8);
  attr.writeBigUInt64LE(koffi.address(value), 16);
  return () => sysBpfPtr(NR_BPF, cmd, attr, 32);
}

/** One getpid() syscall through koffi: the floor for any syscall in this environment. */
export function rawGetpid(): number {
  return sysGetpid(NR_GETPID);
}
