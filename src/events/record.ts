// The record handed to ring buffer and perf buffer callbacks and iterators: one object per buffer,
// reused for every record, so that consuming allocates nothing. It reads like a DataView whose offsets
// are relative to the record (same methods, same big-endian default: pass `true` for the host's
// little-endian data), bounds-checked against the record, not against the whole ring.
//
// In zero-copy mode its DataView aliases the kernel's ring memory. It is valid only while the callback
// runs (or until the iterator's next step): after that the consumer position moves on and the kernel
// may overwrite the bytes. Reads after that point throw a StateError instead of returning someone
// else's data; `copy()` keeps a record. `bytes` is a zero-copy Uint8Array of the record, with the same
// lifetime rule; ring buffer data is mapped read-only, so writing to it kills the process (SIGSEGV).
// After close() the memory behind stale `bytes` arrays reads as zeros (never a crash), see
// syscalls/mmap.ts.

import { StateError } from '../errors.js';
import type { BpfMap } from '../map.js';

const decoder = new TextDecoder();

export class RecordView {
  /** @internal The memory the record lives in: the ring's data view, or a scratch copy. */
  _dv: DataView;
  /** @internal Offset of the record's first byte in `_dv`. */
  _off = 0;
  /** @internal Record length; -1 when no record is current (outside a callback or iteration step). */
  _len = -1;
  /** @internal Set when the owning buffer is closed. */
  _closed = false;
  /** Perf buffers: the CPU the record was written on. Ring buffers: -1. */
  cpu = -1;
  /** Ring buffers: the map (or fd) given for the ring the record came from. */
  source: BpfMap | number | undefined = undefined;
  /** @internal Name for error messages. */
  readonly _owner: string;

  /** @internal */
  constructor(dv: DataView, owner: string) {
    this._dv = dv;
    this._owner = owner;
  }

  /** Length of the record in bytes. */
  get byteLength(): number {
    if (this._len < 0) throw this._stale();
    return this._len;
  }

  getInt8(offset: number): number {
    if (!(offset >= 0 && offset + 1 <= this._len)) this._oob(offset, 1);
    return this._dv.getInt8(this._off + offset);
  }
  getUint8(offset: number): number {
    if (!(offset >= 0 && offset + 1 <= this._len)) this._oob(offset, 1);
    return this._dv.getUint8(this._off + offset);
  }
  getInt16(offset: number, littleEndian?: boolean): number {
    if (!(offset >= 0 && offset + 2 <= this._len)) this._oob(offset, 2);
    return this._dv.getInt16(this._off + offset, littleEndian);
  }
  getUint16(offset: number, littleEndian?: boolean): number {
    if (!(offset >= 0 && offset + 2 <= this._len)) this._oob(offset, 2);
    return this._dv.getUint16(this._off + offset, littleEndian);
  }
  getInt32(offset: number, littleEndian?: boolean): number {
    if (!(offset >= 0 && offset + 4 <= this._len)) this._oob(offset, 4);
    return this._dv.getInt32(this._off + offset, littleEndian);
  }
  getUint32(offset: number, littleEndian?: boolean): number {
    if (!(offset >= 0 && offset + 4 <= this._len)) this._oob(offset, 4);
    return this._dv.getUint32(this._off + offset, littleEndian);
  }
  getBigInt64(offset: number, littleEndian?: boolean): bigint {
    if (!(offset >= 0 && offset + 8 <= this._len)) this._oob(offset, 8);
    return this._dv.getBigInt64(this._off + offset, littleEndian);
  }
  getBigUint64(offset: number, littleEndian?: boolean): bigint {
    if (!(offset >= 0 && offset + 8 <= this._len)) this._oob(offset, 8);
    return this._dv.getBigUint64(this._off + offset, littleEndian);
  }
  getFloat32(offset: number, littleEndian?: boolean): number {
    if (!(offset >= 0 && offset + 4 <= this._len)) this._oob(offset, 4);
    return this._dv.getFloat32(this._off + offset, littleEndian);
  }
  getFloat64(offset: number, littleEndian?: boolean): number {
    if (!(offset >= 0 && offset + 8 <= this._len)) this._oob(offset, 8);
    return this._dv.getFloat64(this._off + offset, littleEndian);
  }

  /**
   * A u64 as a Number (exact up to 2^53): no BigInt allocation, for sequence numbers, timestamps and
   * counters. Little-endian unless told otherwise (this one is not a DataView method).
   */
  getU64Number(offset: number, littleEndian = true): number {
    if (!(offset >= 0 && offset + 8 <= this._len)) this._oob(offset, 8);
    const dv = this._dv;
    const o = this._off + offset;
    return littleEndian
      ? dv.getUint32(o + 4, true) * 4294967296 + dv.getUint32(o, true)
      : dv.getUint32(o, false) * 4294967296 + dv.getUint32(o + 4, false);
  }

  /** A NUL-terminated UTF-8 string of at most `maxLength` bytes at `offset` (e.g. a `char comm[16]`). */
  getString(offset: number, maxLength: number = this.byteLength - offset): string {
    const len = this.byteLength;
    if (!(offset >= 0 && offset <= len && maxLength >= 0)) this._oob(offset, maxLength);
    const end = Math.min(len, offset + maxLength);
    const u8 = new Uint8Array(this._dv.buffer, this._dv.byteOffset + this._off, len);
    let i = offset;
    while (i < end && u8[i] !== 0) i++;
    return decoder.decode(u8.subarray(offset, i));
  }

  /**
   * The record's bytes without copying (allocates the Uint8Array object only). Same lifetime as the
   * record; read-only memory for ring buffers (writing kills the process).
   */
  get bytes(): Uint8Array {
    const len = this.byteLength;
    return new Uint8Array(this._dv.buffer, this._dv.byteOffset + this._off, len);
  }

  /** A copy of the record that stays valid forever. */
  copy(): Uint8Array {
    return this.bytes.slice();
  }

  /** Copies the record into `target` at `targetOffset`; returns the number of bytes copied. */
  copyTo(target: Uint8Array, targetOffset = 0): number {
    const b = this.bytes;
    if (targetOffset < 0 || targetOffset + b.length > target.length) {
      throw new RangeError(`copyTo: ${b.length} bytes do not fit at offset ${targetOffset} of a ${target.length}-byte array`);
    }
    target.set(b, targetOffset);
    return b.length;
  }

  /** @internal */
  _oob(offset: number, size: number): never {
    if (this._len < 0) throw this._stale();
    throw new RangeError(`offset ${offset} (+${size}) is outside the ${this._len}-byte record`);
  }

  /** @internal */
  _stale(): StateError {
    if (this._closed) return new StateError(`${this._owner} is closed: its records are gone (copy() a record to keep it)`, { cmd: 'consume' });
    return new StateError(`${this._owner}: a record view is valid only during its callback or iteration step ` +
      '(the consumer position has moved on and the kernel may reuse the memory); copy() it to keep it', { cmd: 'consume' });
  }
}
