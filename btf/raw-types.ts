// A flat, allocation-free view of a BTF's types for whole-BTF passes (the C dumper): every type as
// words in one Uint32Array (base types and split types together, indexed by id), names decoded once
// per string offset. Decoding all of vmlinux into BtfType objects costs ~0.7 s and keeps ~100 MB
// alive; reading the words costs nothing.
//
// It is a snapshot of the Btf's encoding at construction: later mutations are not seen.

import { ParseError } from '../src/errors.js';
import type { Btf } from './btf.js';
import { BTF_KIND } from './types.js';

/** Words after the 3-word header, fixed part, per kind (-1: unknown). */
const FIXED = [-1, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0];
/** Words per vlen element, per kind. */
const PER_ELEM = [0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3];

const decoder = new TextDecoder();

function fail(message: string): never {
  throw new ParseError(message, { section: '.BTF' });
}

export class RawTypes {
  /** Type words of every type, base first. */
  readonly w: Uint32Array;
  /** Word offset of type `id` in `w` (index 0 unused: void). */
  readonly off: Uint32Array;
  /** Highest type id. */
  readonly count: number;
  /** The string section (base strings first); names are NUL-terminated at their offsets. */
  readonly strs: Uint8Array;
  // Decoded strings: slot[offset] - 1 indexes `decoded` (a Map or a sparse array is several times
  // slower for the millions of lookups of a vmlinux dump). Allocated on first use.
  private slot: Int32Array | undefined;
  private readonly decoded: string[] = [];

  /** A snapshot of `btf`'s current types (its base's too, for split BTF). */
  static of(btf: Btf): RawTypes {
    const chain: Btf[] = [];
    for (let b: Btf | undefined = btf; b; b = b.base) chain.unshift(b);
    return new RawTypes(chain.map((b) => sections(b.encode(), true)!), btf.typeCount);
  }

  /**
   * Straight from raw BTF bytes in host byte order (a .BTF section or /sys/kernel/btf/*), without
   * decoding anything: the fast path of `btf dump format c`. Returns undefined for other byte orders.
   * `base`: the raw bytes of the base BTF, for split BTF.
   */
  static fromBytes(bytes: Uint8Array, base?: Uint8Array): RawTypes | undefined {
    const parts = [...(base ? [base] : []), bytes].map((b) => sections(b, false));
    if (parts.some((p) => p === undefined)) return undefined;
    return new RawTypes(parts as { types: Uint32Array; strs: Uint8Array }[], undefined);
  }

  private constructor(parts: { types: Uint32Array; strs: Uint8Array }[], count: number | undefined) {
    const nWords = parts.reduce((n, p) => n + p.types.length, 0);
    const nStrs = parts.reduce((n, p) => n + p.strs.length, 0);
    if (parts.length === 1) {
      this.w = parts[0]!.types;
      this.strs = parts[0]!.strs;
    } else {
      this.w = new Uint32Array(nWords);
      this.strs = new Uint8Array(nStrs);
      let wp = 0;
      let sp = 0;
      for (const p of parts) {
        this.w.set(p.types, wp);
        this.strs.set(p.strs, sp);
        wp += p.types.length;
        sp += p.strs.length;
      }
    }
    if (this.strs.length && this.strs[this.strs.length - 1] !== 0) fail('BTF string section is not NUL-terminated');
    // Type offsets: one pass over the words (at most nWords/3 types).
    const w = this.w;
    const offs = new Uint32Array(Math.floor(nWords / 3) + 1);
    let id = 1;
    let q = 0;
    while (q < nWords) {
      if (q + 3 > nWords) fail('BTF type section is truncated');
      offs[id++] = q;
      const info = w[q + 1]!;
      const kind = (info >>> 24) & 0x1f;
      const fixed = FIXED[kind];
      if (fixed === undefined || fixed < 0) fail(`unsupported BTF kind ${kind} in type [${id - 1}]`);
      q += 3 + fixed + (info & 0xffff) * PER_ELEM[kind]!;
    }
    if (q !== nWords) fail('BTF type section is truncated');
    this.count = id - 1;
    if (count !== undefined && count !== this.count) fail(`BTF type count mismatch (${this.count} != ${count})`);
    this.off = offs.subarray(0, id);
  }

  /** Pointer size as libbpf determines it: the size of an INT named like `long`, else 8. */
  pointerSize(): number {
    for (let id = 1; id <= this.count; id++) {
      if (this.kind(id) !== BTF_KIND.INT) continue;
      const size = this.sizeOrType(id);
      if ((size === 4 || size === 8) && LONG_NAMES.has(this.name(id))) return size;
    }
    return 8;
  }

  kind(id: number): number {
    return id === 0 ? 0 : (this.w[this.off[id]! + 1]! >>> 24) & 0x1f;
  }
  vlen(id: number): number {
    return id === 0 ? 0 : this.w[this.off[id]! + 1]! & 0xffff;
  }
  kflag(id: number): boolean {
    return id !== 0 && this.w[this.off[id]! + 1]! >>> 31 === 1;
  }
  /** size (INT, STRUCT, UNION, ENUM, DATASEC, FLOAT) or referenced type (the others). */
  sizeOrType(id: number): number {
    return id === 0 ? 0 : this.w[this.off[id]! + 2]!;
  }
  /** Whether the type has a name (name_off != 0). */
  named(id: number): boolean {
    return id !== 0 && this.w[this.off[id]!]! !== 0;
  }
  name(id: number): string {
    return id === 0 ? '' : this.str(this.w[this.off[id]!]!);
  }
  /** Word offset of the first word after the 3-word header (INT data, ARRAY data, members...). */
  data(id: number): number {
    return this.off[id]! + 3;
  }

  str(off: number): string {
    if (off === 0) return '';
    const slot = (this.slot ??= new Int32Array(this.strs.length));
    const k = slot[off];
    if (k) return this.decoded[k - 1]!;
    let s: string;
    const b = this.strs;
    if (off >= b.length) fail(`invalid string offset ${off}`);
    let end = off;
    let ascii = true;
    while (b[end] !== 0) {
      if (b[end]! >= 0x80) ascii = false;
      end++;
    }
    if (ascii) {
      // One flat string, not a chain of one-character concatenations (which Map lookups must flatten).
      s = String.fromCharCode.apply(null, b.subarray(off, end) as unknown as number[]);
    } else {
      s = decoder.decode(b.subarray(off, end));
    }
    this.decoded.push(s);
    slot[off] = this.decoded.length;
    return s;
  }

  /** The type a PTR/TYPEDEF/modifier/VAR/FUNC/ARRAY refers to. */
  ref(id: number): number {
    return this.kind(id) === BTF_KIND.ARRAY ? this.w[this.off[id]! + 3]! : this.w[this.off[id]! + 2]!;
  }
}

const LONG_NAMES = new Set(['long', 'long int', 'int long', 'unsigned long', 'long unsigned', 'unsigned long int',
  'unsigned int long', 'long unsigned int', 'long int unsigned', 'int unsigned long', 'int long unsigned']);

const HOST_LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The type words and strings of raw BTF in host byte order (undefined: other order, unless `trusted`). */
function sections(bytes: Uint8Array, trusted: boolean): { types: Uint32Array; strs: Uint8Array } | undefined {
  if (bytes.length < 24) fail('BTF header not found');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint16(0, HOST_LE) !== 0xeb9f) {
    if (trusted) fail('invalid BTF magic');
    return undefined;
  }
  const hdrLen = dv.getUint32(4, HOST_LE);
  const typeOff = dv.getUint32(8, HOST_LE);
  const typeLen = dv.getUint32(12, HOST_LE);
  const strOff = dv.getUint32(16, HOST_LE);
  const strLen = dv.getUint32(20, HOST_LE);
  if (hdrLen < 24 || hdrLen + strOff + strLen > bytes.length || typeOff + typeLen > strOff || typeOff % 4 || typeLen % 4) {
    fail('BTF header describes sections outside the data');
  }
  const tStart = bytes.byteOffset + hdrLen + typeOff;
  const types = tStart % 4 === 0
    ? new Uint32Array(bytes.buffer, tStart, typeLen / 4)
    : new Uint32Array(bytes.slice(hdrLen + typeOff, hdrLen + typeOff + typeLen).buffer);
  return { types, strs: bytes.subarray(hdrLen + strOff, hdrLen + strOff + strLen) };
}
