// A cold-path builder for one bpf_attr (or info struct) using the generated layouts. Field names
// are checked by the type system against syscalls/generated/bpf-attr.ts, so a typo or a field
// the generator did not see is a compile error rather than a silently wrong offset.
//
// Pointers: put(field, buffer) stores the buffer's address and keeps the buffer in `pins` so it
// stays reachable until the syscall has returned (call done() after the call; the reference from
// this object is what keeps V8 from collecting a temporary buffer while the kernel uses it).

import { BPF_ATTR, BPF_ATTR_SIZEOF, type BpfAttrLayout, type Field } from './generated/bpf-attr.js';
import { addressOf, sysBpf, sysBpfAsync, errno, NR_BPF } from './libc.js';

export type FieldName<L extends BpfAttrLayout> = keyof (typeof BPF_ATTR)[L] & string;

const TWO32 = 0x1_0000_0000;

export class StructWriter<F extends Record<string, Field>> {
  readonly buf: Buffer;
  readonly fields: F;
  readonly pins: ArrayBufferView[] = [];

  constructor(fields: F, size: number) {
    this.fields = fields;
    this.buf = Buffer.alloc(size);
  }

  get address(): number {
    return addressOf(this.buf);
  }

  /** Writes an integer field (4 or 8 bytes, or a bitfield). bigint for 64-bit values above 2^53. */
  set(name: keyof F & string, value: number | bigint): this {
    const f = this.fields[name] as Field;
    if (f.bits !== undefined) {
      const unit = readUnsigned(this.buf, f.off, f.size);
      const mask = ((1n << BigInt(f.bits)) - 1n) << BigInt(f.bit ?? 0);
      const v = (unit & ~mask) | ((BigInt(value) << BigInt(f.bit ?? 0)) & mask);
      writeUnsigned(this.buf, f.off, f.size, v);
      return this;
    }
    writeUnsigned(this.buf, f.off, f.size, value);
    return this;
  }

  get(name: keyof F & string): number {
    const f = this.fields[name] as Field;
    const v = readUnsigned(this.buf, f.off, f.size);
    if (f.bits !== undefined) return Number((v >> BigInt(f.bit ?? 0)) & ((1n << BigInt(f.bits)) - 1n));
    return Number(v);
  }

  getBig(name: keyof F & string): bigint {
    const f = this.fields[name] as Field;
    return readUnsigned(this.buf, f.off, f.size);
  }

  /** Stores the address of `data` (or 0 for null) in a pointer field and pins `data`. */
  ptr(name: keyof F & string, data: ArrayBufferView | null | undefined): this {
    if (!data || data.byteLength === 0) return this.set(name, 0);
    this.pins.push(data);
    return this.set(name, addressOf(data));
  }

  /** Copies a string into a char[N] field, truncated to N-1 bytes so it stays NUL-terminated. */
  chars(name: keyof F & string, s: string | undefined): this {
    if (!s) return this;
    const f = this.fields[name] as Field;
    const bytes = Buffer.from(s, 'utf8');
    bytes.copy(this.buf, f.off, 0, Math.min(bytes.length, f.size - 1));
    return this;
  }

  /** Drops the pinned buffers; call after the syscall returned. */
  done(): void {
    this.pins.length = 0;
  }
}

function writeUnsigned(buf: Buffer, off: number, size: number, value: number | bigint): void {
  switch (size) {
    case 1: buf.writeUInt8(Number(value) & 0xff, off); return;
    case 2: buf.writeUInt16LE(Number(value) & 0xffff, off); return;
    case 4: buf.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(value))), off); return;
    case 8:
      if (typeof value === 'number' && value >= 0 && value < Number.MAX_SAFE_INTEGER) {
        buf.writeUInt32LE(value % TWO32, off);
        buf.writeUInt32LE(Math.floor(value / TWO32), off + 4);
      } else {
        buf.writeBigUInt64LE(BigInt.asUintN(64, BigInt(value)), off);
      }
      return;
    default:
      throw new Error(`cannot write a ${size}-byte integer field`);
  }
}

function readUnsigned(buf: Buffer, off: number, size: number): bigint {
  switch (size) {
    case 1: return BigInt(buf.readUInt8(off));
    case 2: return BigInt(buf.readUInt16LE(off));
    case 4: return BigInt(buf.readUInt32LE(off));
    case 8: return buf.readBigUInt64LE(off);
    default: throw new Error(`cannot read a ${size}-byte integer field`);
  }
}

/** A bpf_attr for one command layout. */
export class Attr<L extends BpfAttrLayout> extends StructWriter<(typeof BPF_ATTR)[L]> {
  readonly layout: L;
  constructor(layout: L) {
    super(BPF_ATTR[layout], BPF_ATTR_SIZEOF[layout]);
    this.layout = layout;
  }

  /**
   * Issues bpf(cmd) with this attr. Returns the result (≥ 0) or -errno; errno is read
   * immediately after the call. Pins are released afterwards.
   */
  call(cmd: number): number {
    const ret = sysBpf(NR_BPF, cmd, this.address, this.buf.length);
    const r = ret < 0 ? -errno() : ret;
    this.done();
    return r;
  }

  /** call() on the libuv threadpool; the pins stay referenced until the promise settles. */
  async callAsync(cmd: number): Promise<number> {
    const { ret, errno: e } = await sysBpfAsync(cmd, this.address, this.buf.length);
    this.done();
    return ret < 0 ? -e : ret;
  }
}

/** NUL-terminated copy of a string for a `const char *` field. */
export function cString(s: string): Buffer {
  const b = Buffer.alloc(Buffer.byteLength(s, 'utf8') + 1);
  b.write(s, 0, 'utf8');
  return b;
}
