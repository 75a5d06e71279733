// The memory behind a global-data map (.data, .bss, .rodata, .kconfig, ...).
//
// At open it is an anonymous mapping holding the initial image, writable by the user. At load the map
// is created from that image, and for mmapable writable maps the map is mapped over the *same address*
// (MAP_FIXED), so every view taken on the image before load now reads and writes kernel memory.
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
  private region: MappedRegion | undefined;
  private copyImage: Uint8Array | undefined;
  private liveFrozen = false;
  private closedReason: string | undefined;
  /** Whether the image is now the kernel map's memory (false for maps that are not mmapable). */
  private live = false;

  constructor(size: number, initial: Uint8Array | undefined) {
    this.size = size;
    const mapped = roundUp(Math.max(roundUp(size, 8), 1), pageSize());
    if (zeroCopyEnabled()) {
      this.region = MappedRegion.anonymous(mapped);
      if (initial) this.region.write(0, initial.subarray(0, size));
    } else {
      this.copyImage = new Uint8Array(size);
      if (initial) this.copyImage.set(initial.subarray(0, size));
    }
  }

  /** True when `bytes` is a zero-copy view (false under Electron or TSBPF_FORCE_COPY). */
  get zeroCopy(): boolean {
    return this.copyImage === undefined;
  }

  /** True once the map is loaded and frozen (.rodata, .kconfig): writes throw from then on. */
  get frozen(): boolean {
    return this.liveFrozen;
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
    if (!this.region) throw new StateError('zero-copy views are unavailable here (Electron, or TSBPF_FORCE_COPY=1); use read() and write()', { cmd: 'global data' });
    return this.region.bytes.subarray(0, this.size);
  }

  read(offset = 0, length = this.size - offset, into?: Uint8Array): Uint8Array {
    this.check();
    this.bounds(offset, length);
    if (this.copyImage) {
      const out = into ?? new Uint8Array(length);
      out.set(this.copyImage.subarray(offset, offset + length));
      return out;
    }
    return this.region!.read(offset, length, into);
  }

  write(offset: number, src: Uint8Array): void {
    this.check();
    if (this.liveFrozen) throw new StateError('read-only global data (.rodata, .kconfig) cannot be written after load', { cmd: 'global data' });
    this.bounds(offset, src.length);
    if (this.copyImage) this.copyImage.set(src, offset);
    else this.region!.write(offset, src);
  }

  /** The current image, copied: what load writes into the map. */
  snapshot(): Uint8Array {
    return this.read(0, this.size);
  }

  /**
   * Called by the loader once the map exists and holds the image. `mmapable` maps that are writable are
   * mapped over the image; frozen ones keep the image and become read-only through this API.
   */
  goLive(fd: number, mmapable: boolean, frozen: boolean): void {
    this.check();
    if (frozen) {
      this.liveFrozen = true;
      this.live = true;
      return;
    }
    if (!mmapable) return;
    if (this.region) {
      this.region.remapFd(fd, 0, this.region.length, 'rw');
    } else {
      this.region = MappedRegion.mapFd(fd, roundUp(Math.max(roundUp(this.size, 8), 1), pageSize()), 'rw');
      this.copyImage = undefined;
    }
    this.live = true;
  }

  close(reason = 'the object was closed'): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    this.region?.close();
    this.region = undefined;
    this.copyImage = undefined;
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
