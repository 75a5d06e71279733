// The memory behind a global-data map (.data, .bss, .rodata, .kconfig, ...).
//
// At open it holds the initial image, writable by the user. The first zero-copy view moves the image into
// an anonymous shared mapping; at load, mmapable writable maps are mapped over the *same address*
// (MAP_FIXED), so every view taken on the image before load now reads and writes kernel memory. Objects
// that never ask for a view before load skip the anonymous mapping (mmap is slow in VMs).
//
// Frozen maps (.rodata, .kconfig) keep their anonymous image instead of a PROT_READ mapping of the map:
// the kernel content can never change again and equals the image, and a JS write into a PROT_READ
// mapping would kill the process with SIGSEGV rather than throw.
//
// Where views over foreign memory are forbidden (Electron, or forced with TSBPF_FORCE_COPY=1), the image
// is a JS buffer before load and every access after load is a copy through the FFI; read() and write()
// work the same in both modes.

import { MappedRegion, pageSize, zeroCopyEnabled } from '../syscalls/index.js';
import { StateError } from './errors.js';

export class GlobalData {
  /** Size of the map value in bytes. */
  readonly size: number;
  /** The mapping: created when a zero-copy view is first asked for, or at load for mmapable maps. */
  private region: MappedRegion | undefined;
  /** The image while no mapping exists (plain memory: most objects never need a view before load). */
  private image: Uint8Array | undefined;
  /**
   * Whether the image may hold a non-zero byte. A .bss image is all zeros and its size is not backed by
   * file bytes (SHT_NOBITS), so copying it into fresh (already zero) memory would only commit pages.
   */
  private imageDirty: boolean;
  private liveFrozen = false;
  private closedReason: string | undefined;
  /** Whether the image is now the kernel map's memory (false for maps that are not mmapable). */
  private live = false;

  constructor(size: number, initial: Uint8Array | undefined) {
    this.size = size;
    this.image = new Uint8Array(size);
    this.imageDirty = initial !== undefined && initial.length > 0;
    if (this.imageDirty) this.image.set(initial!.subarray(0, size));
  }

  /** True when `bytes` can give zero-copy views (false under Electron or TSBPF_FORCE_COPY). */
  get zeroCopy(): boolean {
    return zeroCopyEnabled();
  }

  /** True once the map is loaded and frozen (.rodata, .kconfig): writes throw from then on. */
  get frozen(): boolean {
    return this.liveFrozen;
  }

  /** True after close(): every access throws from then on. */
  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  /** True once loaded and backed by the kernel map's own memory. */
  get isLive(): boolean {
    return this.live;
  }

  /**
   * A zero-copy view of the image: before load, the initial value; after load, the map itself.
   * Throws in copy mode, where `read`/`write` must be used.
   */
  get bytes(): Uint8Array {
    this.check();
    if (!this.region) {
      if (!zeroCopyEnabled()) {
        throw new StateError('zero-copy views are unavailable here (Electron, or TSBPF_FORCE_COPY=1); use read() and write()', { cmd: 'global data' });
      }
      // The first view: move the image into anonymous shared memory that load can map the map over.
      this.region = MappedRegion.anonymous(this.mappedSize());
      if (this.imageDirty) this.region.write(0, this.image!);
      this.image = undefined;
    }
    return this.region.bytes.subarray(0, this.size);
  }

  read(offset = 0, length = this.size - offset, into?: Uint8Array): Uint8Array {
    this.check();
    this.bounds(offset, length);
    if (this.region) return this.region.read(offset, length, into);
    const out = into ?? new Uint8Array(length);
    out.set(this.image!.subarray(offset, offset + length));
    return out;
  }

  write(offset: number, src: Uint8Array): void {
    this.check();
    if (this.liveFrozen) throw new StateError('read-only global data (.rodata, .kconfig) cannot be written after load', { cmd: 'global data' });
    this.bounds(offset, src.length);
    if (this.region) this.region.write(offset, src);
    else {
      this.image!.set(src, offset);
      this.imageDirty = true;
    }
  }

  /** The current image, copied: what load writes into the map. */
  snapshot(): Uint8Array {
    return this.read(0, this.size);
  }

  /**
   * Called by the loader once the map exists and holds the image. `mmapable` maps that are writable are
   * mapped over the image (or freshly, when no view was ever taken); frozen ones keep the image and
   * become read-only through this API.
   */
  goLive(fd: number, mmapable: boolean, frozen: boolean): void {
    this.check();
    if (frozen) {
      this.liveFrozen = true;
      this.live = true;
      return;
    }
    if (!mmapable) return;
    if (this.region) this.region.remapFd(fd, 0, this.region.length, 'rw');
    else this.region = MappedRegion.mapFd(fd, this.mappedSize(), 'rw');
    this.image = undefined;
    this.live = true;
  }

  /**
   * Ends access: every method throws from now on. The mapping and the kernel memory behind it are
   * released now; only when a zero-copy view was handed out does an empty placeholder range stay until
   * that view is garbage collected (syscalls/mmap.ts explains why).
   */
  close(reason = 'the object was closed'): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    this.region?.close();
    this.region = undefined;
    this.image = undefined;
  }

  private mappedSize(): number {
    return roundUp(Math.max(roundUp(this.size, 8), 1), pageSize());
  }

  private check(): void {
    if (this.closedReason) throw new StateError(`global data is no longer accessible: ${this.closedReason}`, { cmd: 'global data' });
  }

  private bounds(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeErrorLike(`access [${offset}, ${offset + length}) is outside the ${this.size}-byte global data`);
    }
  }
}

class RangeErrorLike extends StateError {
  constructor(message: string) {
    super(message, { cmd: 'global data', errno: 34 });
  }
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}
