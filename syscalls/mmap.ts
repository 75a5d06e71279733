// Memory mappings shared with the kernel: BPF_F_MMAPABLE arrays (global data), ring buffers,
// perf buffers, arenas.
//
// Two hazards shape this module (node-koffi.md §2):
// 1. Touching a koffi.view ArrayBuffer after munmap() is a SIGSEGV, and Node 20 cannot detach
//    an external ArrayBuffer. So close() never unmaps a range a view may still point to: it
//    replaces it in place with a private anonymous RW mapping (MAP_FIXED), which drops the
//    reference on the BPF map while stale views read zeros. The real munmap() runs when the view's
//    ArrayBuffer is garbage collected (FinalizationRegistry).
// 2. Electron's V8 memory cage forbids external ArrayBuffers and koffi.view aborts the process
//    there. In copy mode (Electron, TSBPF_FORCE_COPY=1, or setZeroCopy(false)) no view is ever
//    created: `bytes` is unavailable and read/write/readU32/… copy through memcpy instead.
//    Higher layers build their accessors on read/write so they work in both modes.
//
// remapFd() is the libbpf skeleton trick: map anonymous memory first (so JS can hold views
// before the BPF map exists), then mmap the map fd over the same address with MAP_FIXED. Views
// taken before keep working and now see kernel memory.

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

// --- cleanup ---------------------------------------------------------------------------------------

/** Zero-copy: unmap once the view's ArrayBuffer is unreachable (then no JS can touch it). */
const viewFinalizer = new FinalizationRegistry<{ addr: number; length: number }>(({ addr, length }) => {
  munmap(addr, length);
});
/** Copy mode: no views exist, so a leaked region can be unmapped as soon as it is unreachable. */
const regionFinalizer = new FinalizationRegistry<{ addr: number; length: number }>(({ addr, length }) => {
  munmap(addr, length);
});

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
    if (this.zeroCopy) {
      // One view per mapping: creating a view costs ~3 µs, so it is made once and cached.
      this.#ab = viewOf(addr, length);
      this.#bytes = new Uint8Array(this.#ab);
      this.#dv = new DataView(this.#ab);
      viewFinalizer.register(this.#ab, { addr, length });
    } else {
      this.#scratch = Buffer.alloc(8);
      regionFinalizer.register(this, { addr, length }, this);
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

  /** Zero-copy view of the whole region. Throws StateError after close() or in copy mode. */
  get bytes(): Uint8Array {
    this.#check();
    if (!this.#bytes) {
      throw new StateError('this region has no zero-copy view (copy mode: Electron, TSBPF_FORCE_COPY=1 or setZeroCopy(false)); ' +
        'use read()/write()');
    }
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
   * Releases the mapping. Zero-copy: the range becomes private anonymous zero pages (stale
   * views read zeros instead of crashing) and is unmapped when the view is collected. Copy mode:
   * unmapped now. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ab) {
      doMmap(this.#addr, this.length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0, 'close (anonymous over)');
      // Drop our references so the finalizer can run once user code drops its views too.
      this.#ab = null;
      this.#bytes = null;
      this.#dv = null;
    } else {
      regionFinalizer.unregister(this);
      munmap(this.#addr, this.length);
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
