// Memory mappings shared with the kernel: BPF_F_MMAPABLE arrays (global data), ring buffers,
// perf buffers, arenas.
//
// Two hazards shape this module (node-koffi.md §2):
// 1. Touching a koffi.view ArrayBuffer after munmap() is a SIGSEGV, and Node 20 cannot detach
//    an external ArrayBuffer (no ArrayBuffer.prototype.transfer; structuredClone copies). So what
//    close() does depends on whether a view ever left this class:
//    - never handed out (`bytes` not called: most global data, which is reached through read/write
//      and the scalar accessors): the only view is private and dropped here, so close() unmaps at
//      once. Deterministic: the address range, the VMA and the kernel memory are all gone.
//    - handed out (global data `initialValue`, skeleton fields, ring/perf buffer records): user
//      code may still hold it, so the range cannot be unmapped. close() replaces it in place with
//      a private anonymous read-write mapping (MAP_FIXED). That drops the mapping's reference on
//      the BPF map or shm object at once, so the kernel memory (and shmem RSS) is freed by close,
//      not by the GC; what remains is an address range with no pages (a stale view reads zeros;
//      a stale write dirties at most that range), and the kernel usually merges it into a
//      neighbouring anonymous VMA. It must stay writable: a read-only or PROT_NONE range would turn a
//      stale write or read into SIGSEGV. The range itself is unmapped once the ArrayBuffer is
//      garbage collected (FinalizationRegistry), when no JS can reach it any more.
//    mappingCounts() tells how many regions are live and how many are retired awaiting the GC.
// 2. Electron's V8 memory cage forbids external ArrayBuffers and koffi.view aborts the process
//    there. In copy mode (Electron, TSBPF_FORCE_COPY=1, or setZeroCopy(false)) no view is ever
//    created: `bytes` is unavailable and read/write/readU32/… copy through memcpy instead.
//    Higher layers build their accessors on read/write so they work in both modes.
//
// remapFd() is the libbpf skeleton trick: map anonymous memory first (so JS can hold views
// before the BPF map exists), then mmap the map fd over the same address with MAP_FIXED. Views
// taken before keep working and now see kernel memory.

import { closeSync, fstatSync, openSync } from 'node:fs';
import { NotSupportedError, StateError } from '../src/errors.js';
import { errno, memcpyIn, memcpyOut, mmap, munmap, viewOf } from './libc.js';
import { syscallError } from './errors.js';

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_ANONYMOUS = 0x20;

export type Prot = 'r' | 'rw';

function protBits(p: Prot): number {
  return p === 'rw' ? PROT_READ | PROT_WRITE : PROT_READ;
}

// --- zero-copy policy -------------------------------------------------------------------------------

const inElectron = typeof process.versions.electron === 'string';
let zeroCopy = !inElectron && process.env.TSBPF_FORCE_COPY !== '1';

/** Whether new regions get zero-copy views (false under Electron or TSBPF_FORCE_COPY=1). */
export function zeroCopyEnabled(): boolean {
  return zeroCopy;
}

/**
 * Chooses zero-copy views (true) or the memcpy path (false) for regions created from now on.
 * Enabling is refused under Electron, where koffi.view would abort the process.
 */
export function setZeroCopy(enabled: boolean): void {
  if (enabled && inElectron) {
    throw new NotSupportedError('zero-copy views are impossible under Electron (V8 memory cage forbids external ArrayBuffers)');
  }
  zeroCopy = enabled;
}

/**
 * A sysfs file mapped read-only and private (a view on the kernel's own copy of the data, for the sysfs
 * files that support mmap, e.g. vmlinux BTF since Linux 6.16), or undefined when that is not possible:
 * copy mode, a path outside /sys, an empty file, a file that refuses mmap. Never unmapped: for data
 * that lives as long as the process. Regular files are refused: one truncated by someone else would
 * turn a touch of a mapped page past its new end into SIGBUS.
 */
export function mapFileReadOnly(path: string): Uint8Array | undefined {
  if (!zeroCopy || !path.startsWith('/sys/')) return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    if (size <= 0) return undefined;
    const addr = mmap(0, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr === -1 || addr <= 0) return undefined;
    return new Uint8Array(viewOf(addr, size));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

// --- cleanup ---------------------------------------------------------------------------------------

/** One mapping's address range and what state it is in, shared with its finalizer. */
interface RangeCell {
  addr: number;
  length: number;
  state: 'live' | 'retired' | 'unmapped';
}

const counts = { live: 0, retired: 0 };

/**
 * Regions of this process: `live` (mapped and open), `retired` (closed while a view was handed out:
 * an anonymous placeholder range, unmapped when the view is garbage collected). Exact, unlike
 * /proc/self/maps, where the kernel merges neighbouring anonymous ranges.
 */
export function mappingCounts(): { live: number; retired: number } {
  return { ...counts };
}

function release(cell: RangeCell): void {
  if (cell.state === 'unmapped') return;
  counts[cell.state]--;
  cell.state = 'unmapped';
  munmap(cell.addr, cell.length);
}

/**
 * Unmaps once the region's view ArrayBuffer (zero-copy) or the region itself (copy mode: no view
 * exists) is unreachable: then no JS can touch the range. Covers both retired ranges and regions
 * never closed; close() unregisters the ones it unmaps itself.
 */
const finalizer = new FinalizationRegistry<RangeCell>(release);

function doMmap(addr: number, length: number, prot: number, flags: number, fd: number, offset: number, what: string): number {
  const p = mmap(addr, length, prot, flags, fd, offset);
  if (p === -1 || p < 0) throw syscallError('mmap', what, errno());
  return p;
}

export class MappedRegion {
  /** Start address of the mapping. */
  readonly address: bigint;
  /** Length in bytes as requested (the kernel rounds the mapping up to whole pages). */
  readonly length: number;
  /** True when `bytes` is available (views alias the mapping); false in copy mode. */
  readonly zeroCopy: boolean;

  #addr: number;
  #closed = false;
  #writable: boolean;
  /** Whether `bytes` handed the view out: then close() cannot unmap (see the top of the file). */
  #exposed = false;
  #cell: RangeCell;
  #ab: ArrayBuffer | null = null;
  #bytes: Uint8Array | null = null;
  #dv: DataView | null = null;
  /** 8-byte bounce buffer for the copy-mode scalar accessors. */
  #scratch: Buffer | null = null;

  private constructor(addr: number, length: number, writable: boolean) {
    this.#addr = addr;
    this.address = BigInt(addr);
    this.length = length;
    this.#writable = writable;
    this.zeroCopy = zeroCopy;
    this.#cell = { addr, length, state: 'live' };
    counts.live++;
    if (this.zeroCopy) {
      // One view per mapping: creating a view costs ~3 µs, so it is made once and cached.
      this.#ab = viewOf(addr, length);
      this.#bytes = new Uint8Array(this.#ab);
      this.#dv = new DataView(this.#ab);
      finalizer.register(this.#ab, this.#cell, this.#cell);
    } else {
      this.#scratch = Buffer.alloc(8);
      finalizer.register(this, this.#cell, this.#cell);
    }
  }

  /** A new shared anonymous read-write mapping (zero-filled). */
  static anonymous(length: number): MappedRegion {
    checkLength(length);
    const p = doMmap(0, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0, 'anonymous');
    return new MappedRegion(p, length, true);
  }

  /** Maps `length` bytes of `fd` (e.g. a BPF_F_MMAPABLE map) shared, at `offset`. */
  static mapFd(fd: number, length: number, prot: Prot, offset = 0): MappedRegion {
    checkLength(length);
    const p = doMmap(0, length, protBits(prot), MAP_SHARED, fd, offset, `fd ${fd}`);
    return new MappedRegion(p, length, prot === 'rw');
  }

  /**
   * Maps `length` bytes of `fd` at `offset` over the start of this region (MAP_FIXED|MAP_SHARED).
   * Existing views stay valid and now show the fd's memory. With prot 'r', writing through a view
   * crashes the process (SIGSEGV): write() checks this, raw `bytes` writes cannot be checked.
   */
  remapFd(fd: number, offset: number, length: number, prot: Prot): void {
    this.#check();
    checkLength(length);
    if (length > this.length) throw new StateError(`remapFd: ${length} bytes do not fit in a ${this.length}-byte region`);
    doMmap(this.#addr, length, protBits(prot), MAP_SHARED | MAP_FIXED, fd, offset, `fd ${fd} (MAP_FIXED)`);
    this.#writable = prot === 'rw';
  }

  /**
   * Zero-copy view of the whole region. Throws StateError after close() or in copy mode. Once it
   * has been asked for, close() can no longer unmap at once (the view may outlive the region).
   */
  get bytes(): Uint8Array {
    this.#check();
    if (!this.#bytes) {
      throw new StateError('this region has no zero-copy view (copy mode: Electron, TSBPF_FORCE_COPY=1 or setZeroCopy(false)); ' +
        'use read()/write()');
    }
    this.#exposed = true;
    return this.#bytes;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the current mapping allows writes. */
  get writable(): boolean {
    return this.#writable;
  }

  /** Copies `length` bytes at `offset` out of the region (into `into` when given). */
  read(offset: number, length: number, into?: Uint8Array): Uint8Array {
    this.#check();
    this.#range(offset, length);
    const dst = into ?? new Uint8Array(length);
    if (dst.length < length) throw new RangeError(`read: destination holds ${dst.length} bytes, ${length} needed`);
    if (length === 0) return dst;
    if (this.#bytes) dst.set(this.#bytes.subarray(offset, offset + length));
    else memcpyOut(dst, this.#addr + offset, length);
    return dst;
  }

  /** Copies `src` into the region at `offset`. */
  write(offset: number, src: Uint8Array): void {
    this.#checkWrite();
    this.#range(offset, src.length);
    if (src.length === 0) return;
    if (this.#bytes) this.#bytes.set(src, offset);
    else memcpyIn(this.#addr + offset, src, src.length);
  }

  readU8(offset: number): number {
    return this.#readScalar(offset, 1).readUInt8(0);
  }

  readU32(offset: number): number {
    if (this.#dv) {
      this.#check();
      this.#range(offset, 4);
      return this.#dv.getUint32(offset, true);
    }
    return this.#readScalar(offset, 4).readUInt32LE(0);
  }

  readU64(offset: number): bigint {
    if (this.#dv) {
      this.#check();
      this.#range(offset, 8);
      return this.#dv.getBigUint64(offset, true);
    }
    return this.#readScalar(offset, 8).readBigUInt64LE(0);
  }

  writeU8(offset: number, value: number): void {
    const s = this.#scratchFor();
    s.writeUInt8(value & 0xff, 0);
    this.write(offset, s.subarray(0, 1));
  }

  writeU32(offset: number, value: number): void {
    if (this.#dv) {
      this.#checkWrite();
      this.#range(offset, 4);
      this.#dv.setUint32(offset, value >>> 0, true);
      return;
    }
    const s = this.#scratchFor();
    s.writeUInt32LE(value >>> 0, 0);
    this.write(offset, s.subarray(0, 4));
  }

  writeU64(offset: number, value: bigint | number): void {
    const v = BigInt.asUintN(64, BigInt(value));
    if (this.#dv) {
      this.#checkWrite();
      this.#range(offset, 8);
      this.#dv.setBigUint64(offset, v, true);
      return;
    }
    const s = this.#scratchFor();
    s.writeBigUInt64LE(v, 0);
    this.write(offset, s.subarray(0, 8));
  }

  /**
   * Releases the mapping and the kernel memory behind it. Unmapped now unless `bytes` handed a view
   * out; then the range becomes private anonymous zero pages (stale views read zeros instead of
   * crashing) and is unmapped when the view is collected. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Drop our references first: from here on no JS reaches the view through this object.
    this.#ab = null;
    this.#bytes = null;
    this.#dv = null;
    const cell = this.#cell;
    if (this.#exposed) {
      counts.live--;
      counts.retired++;
      cell.state = 'retired';
      doMmap(this.#addr, this.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0, 'close (anonymous over)');
    } else {
      finalizer.unregister(cell);
      release(cell);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #check(): void {
    if (this.#closed) throw new StateError('mapped region is closed', { cmd: 'mmap' });
  }

  #checkWrite(): void {
    this.#check();
    if (!this.#writable) throw new StateError('mapped region is read-only', { cmd: 'mmap' });
  }

  #range(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.length) {
      throw new RangeError(`range [${offset}, ${offset + length}) is outside the ${this.length}-byte region`);
    }
  }

  #scratchFor(): Buffer {
    this.#scratch ??= Buffer.alloc(8);
    return this.#scratch;
  }

  #readScalar(offset: number, size: number): Buffer {
    const s = this.#scratchFor();
    this.read(offset, size, s);
    return s;
  }
}

function checkLength(length: number): void {
  if (!Number.isInteger(length) || length <= 0) throw new RangeError(`invalid mapping length ${length}`);
}
