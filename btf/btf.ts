// Raw BTF: parse, lazy decode, name lookup, size/alignment queries, mutation and re-encoding.
//
// Layout of the work: Btf.parse makes one pass over the type section recording each type's word
// offset and kind (typed arrays, no objects), so parsing vmlinux (~126k types) costs a few ms.
// Full decoding happens per type on first `type(id)` and is cached. Names are decoded only when
// asked for; `findByName` compares raw name bytes rather than decoded JS strings, scanning one
// kind's names for the first lookups and hashing them only when many lookups follow.

import { ParseError } from '../src/errors.js';
import {
  BTF_KIND, BTF_KIND_MAX, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, isModKind,
} from './types.js';
import type { BtfType, BtfMember, BtfEnumValue, BtfEnum64Value, BtfParam, BtfVarSecinfo } from './types.js';

const BTF_MAGIC = 0xeb9f;
const BTF_HDR_MIN = 24; // up to and including str_len
const BTF_HDR_LAYOUT = 32; // with layout_off/layout_len (libbpf ≥1.8 header)
const SECTION = '.BTF';
/** libbpf's MAX_RESOLVE_DEPTH: bounds typedef/modifier chains in resolveSize. */
const MAX_RESOLVE_DEPTH = 32;

/** Words after the 3-word btf_type header, fixed part, per known kind (-1: unknown kind). */
const FIXED_WORDS = Int8Array.from([-1, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0]);
/** Words per vlen element, per known kind. */
const VLEN_WORDS = Int8Array.from([0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3]);

const HOST_LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

/** Decode bytes [start, end) as UTF-8; a plain loop for short ASCII names avoids TextDecoder call overhead. */
function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 48) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = bytes[i]!;
      if (c >= 0x80) return utf8Decoder.decode(bytes.subarray(start, end));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8Decoder.decode(bytes.subarray(start, end));
}

function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h;
}

function utf8Bytes(s: string): Uint8Array {
  // Names are nearly always ASCII; skip TextEncoder for them.
  const n = s.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return utf8Encoder.encode(s);
    out[i] = c;
  }
  return out;
}

function fail(message: string, offset?: number): never {
  throw new ParseError(message, offset === undefined ? { section: SECTION } : { section: SECTION, offset });
}

interface NameIndex { mask: number; head: Int32Array; next: Int32Array }
/**
 * One kind's raw types, ascending: raw indices, name offsets, and the first byte of each name (0 for
 * anonymous types and for names in a split BTF's base strings, which `inBase` then counts).
 */
interface KindColumn { idx: Int32Array; nameOffs: Uint32Array; first: Uint8Array; inBase: number }

/** Name lookups by column scan before the hash indexes take over (see findByName). */
const NAME_SCANS = 64;
/** Strings looked up by string search before findStr builds a map of all strings. */
const STR_SEARCHES = 64;

interface BtfInit {
  base: Btf | undefined;
  startId: number;
  words: Uint32Array;
  offs: Uint32Array;
  kinds: Uint8Array;
  rawCount: number;
  strs: Uint8Array;
  strStart: number;
  typeBase: number;
  layout: Uint8Array | undefined;
  flags: number;
  swapped: boolean;
}

export interface BtfParseOptions {
  /** Base BTF for split BTF (e.g. vmlinux under a module's BTF). */
  base?: Btf;
}

export class Btf {
  /** First type id owned by this BTF: 1 for base BTF, base.typeCount + 1 for split BTF. */
  readonly startId: number;
  /** The base BTF of a split BTF. */
  readonly base: Btf | undefined;
  /** True when the input was of the non-native byte order (it is kept native in memory). */
  readonly swappedEndian: boolean;

  // Raw, immutable after parse (shared between clones).
  private readonly words: Uint32Array;
  private readonly offs: Uint32Array;
  private readonly rawCount: number;
  private readonly strs: Uint8Array;
  private readonly strStart: number;
  private readonly typeBase: number;
  private layout: Uint8Array | undefined;
  private readonly hdrFlags: number;

  // Per-instance state.
  private kinds: Uint8Array; // kinds of raw types; updated by setType
  // Decoded types by raw index, in chunks of 1024 allocated on first use: one 126k-slot array
  // would cost ~4 ms at parse, and a Map is slow to fill when everything gets decoded.
  private cache: (BtfType | undefined)[][] = [];
  private dirty = new Set<number>(); // raw indices replaced by setType
  private added: BtfType[] = [];
  private addedStrs: string[] = [];
  private addedStrOffs = new Map<number, string>();
  private addedStrLen = 0;
  private strMap: Map<string, number> | undefined;
  // Name hash indexes over raw types, built once NAME_SCANS lookups have been made: one per kind
  // asked for (a STRUCT lookup then hashes only the ~10k struct names of vmlinux, not all 126k), and
  // one over all kinds. Before that, lookups scan per-kind name columns (findByName).
  private nameIndexes = new Map<number, NameIndex>();
  private nameScans = 0;
  private kindCols = new Map<number, KindColumn>();
  private strBuf: Buffer | undefined;
  private strSearches = 0;
  private ptrSize = 0;

  private constructor(init: BtfInit) {
    this.base = init.base;
    this.startId = init.startId;
    this.words = init.words;
    this.offs = init.offs;
    this.kinds = init.kinds;
    this.rawCount = init.rawCount;
    this.strs = init.strs;
    this.strStart = init.strStart;
    this.typeBase = init.typeBase;
    this.layout = init.layout;
    this.hdrFlags = init.flags;
    this.swappedEndian = init.swapped;
  }

  /**
   * Parse raw BTF (the .BTF section, a file like /sys/kernel/btf/vmlinux, or split BTF with `base`).
   * Validates the header, section bounds and every type's extent; names, string offsets and type
   * references are checked when a type is decoded. `bytes` is referenced, not copied (when aligned
   * and in host byte order), so it must not be modified afterwards.
   */
  static parse(bytes: Uint8Array, opts: BtfParseOptions = {}): Btf {
    const base = opts.base;
    const size = bytes.length;
    if (size < BTF_HDR_MIN) fail('BTF header not found', 0);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, size);
    const magicLe = dv.getUint16(0, true);
    let le: boolean;
    if (magicLe === BTF_MAGIC) le = true;
    else if (dv.getUint16(0, false) === BTF_MAGIC) le = false;
    else fail(`invalid BTF magic 0x${magicLe.toString(16)}`, 0);
    const swapped = le !== HOST_LE;
    const version = bytes[2]!;
    if (version !== 1) fail(`unsupported BTF version ${version}`, 2);
    const flags = bytes[3]!;
    const hdrLen = dv.getUint32(4, le);
    if (hdrLen < BTF_HDR_MIN) fail(`BTF header length ${hdrLen} is too small`, 4);
    if (hdrLen > size) fail(`BTF header length ${hdrLen} is larger than the data (${size} bytes)`, 4);
    const typeOff = dv.getUint32(8, le);
    const typeLen = dv.getUint32(12, le);
    const strOff = dv.getUint32(16, le);
    const strLen = dv.getUint32(20, le);
    let layoutOff = 0;
    let layoutLen = 0;
    if (hdrLen >= BTF_HDR_LAYOUT) {
      layoutOff = dv.getUint32(24, le);
      layoutLen = dv.getUint32(28, le);
    }
    const metaLeft = size - hdrLen;
    if (strOff + strLen > metaLeft) fail(`BTF string section (off ${strOff}, len ${strLen}) exceeds the data`, 16);
    if (typeOff + typeLen > strOff) fail(`BTF type section (off ${typeOff}, len ${typeLen}) overlaps the string section at ${strOff}`, 8);
    if (typeOff % 4) fail('BTF type section is not aligned to 4 bytes', 8);
    if (typeLen % 4) fail(`BTF type section length ${typeLen} is not a multiple of 4`, 12);
    let layout: Uint8Array | undefined;
    if (layoutLen) {
      if (layoutOff % 4) fail('BTF layout section is not aligned to 4 bytes', 24);
      if (layoutOff < typeOff + typeLen || layoutOff + layoutLen > strOff) fail('BTF layout section overlaps the type or string section', 24);
      if (layoutLen % 4) fail(`BTF layout section length ${layoutLen} is not a multiple of 4`, 28);
      layout = bytes.slice(hdrLen + layoutOff, hdrLen + layoutOff + layoutLen);
      // Layout entries are {u8 info_sz, u8 elem_sz, u16 flags}: only flags need swapping.
      if (swapped) for (let i = 0; i < layout.length; i += 4) { const a = layout[i + 2]!; layout[i + 2] = layout[i + 3]!; layout[i + 3] = a; }
    }

    // Strings and (native-order, aligned) types are views on `bytes`, not copies: copying vmlinux
    // BTF costs more than parsing it (fresh pages fault in at ~3 ms/MB). Callers must not modify
    // `bytes` afterwards.
    const strAbs = hdrLen + strOff;
    const strs = bytes.subarray(strAbs, strAbs + strLen);
    if (!(base && strLen === 0)) {
      if (strLen === 0) fail('BTF string section is empty', strAbs);
      if (strs[strLen - 1] !== 0) fail('BTF string section is not NUL-terminated', strAbs + strLen - 1);
      if (!base && strs[0] !== 0) fail('BTF string section does not start with an empty string (split BTF without base?)', strAbs);
    }

    // Types as host-order u32 words; copied only when misaligned or of the other byte order.
    const typeAbs = hdrLen + typeOff;
    const nWords = typeLen >>> 2;
    let words: Uint32Array;
    if (!swapped && (bytes.byteOffset + typeAbs) % 4 === 0) {
      words = new Uint32Array(bytes.buffer, bytes.byteOffset + typeAbs, nWords);
    } else if (!swapped) {
      words = new Uint32Array(nWords);
      new Uint8Array(words.buffer).set(bytes.subarray(typeAbs, typeAbs + typeLen));
    } else {
      words = new Uint32Array(nWords);
      for (let i = 0; i < nWords; i++) words[i] = dv.getUint32(typeAbs + i * 4, le);
    }

    const maxTypes = Math.floor(nWords / 3);
    const offs = new Uint32Array(maxTypes);
    const kinds = new Uint8Array(maxTypes);
    const baseLayout = layout ?? base?.layout;
    const startId = base ? base.typeCount + 1 : 1;
    let n = 0;
    let p = 0;
    while (p + 3 <= nWords) {
      const info = words[p + 1]!;
      const kind = (info >>> 24) & 0x7f;
      const vlen = info & 0xffffff;
      let sz: number;
      if (kind <= BTF_KIND_MAX && FIXED_WORDS[kind]! >= 0) {
        sz = 3 + FIXED_WORDS[kind]! + vlen * VLEN_WORDS[kind]!;
      } else {
        // A kind newer than this code: size it from the layout section if there is one.
        if (!baseLayout || kind * 4 + 4 > baseLayout.length) fail(`unsupported BTF kind ${kind} in type [${startId + n}]`, typeAbs + p * 4);
        const infoSz = baseLayout[kind * 4]!;
        const elemSz = baseLayout[kind * 4 + 1]!;
        if (infoSz % 4 || elemSz % 4) fail(`unsupported layout for BTF kind ${kind}`, typeAbs + p * 4);
        sz = 3 + infoSz / 4 + vlen * (elemSz / 4);
      }
      if (p + sz > nWords) fail(`BTF type [${startId + n}] is truncated (vlen ${vlen})`, typeAbs + p * 4);
      offs[n] = p;
      kinds[n] = kind;
      n++;
      p += sz;
    }
    if (p !== nWords) fail('BTF type section has trailing bytes', typeAbs + p * 4);

    return new Btf({
      base, startId, words, offs: offs.subarray(0, n), kinds: kinds.subarray(0, n), rawCount: n, strs,
      strStart: base ? base.strEnd : 0, typeBase: typeAbs, layout, flags, swapped,
    });
  }

  /** An empty BTF to build with addType (base BTF, or split BTF on top of `base`). */
  static create(opts: BtfParseOptions = {}): Btf {
    const base = opts.base;
    return new Btf({
      base, startId: base ? base.typeCount + 1 : 1, words: new Uint32Array(0), offs: new Uint32Array(0),
      kinds: new Uint8Array(0), rawCount: 0, strs: base ? new Uint8Array(0) : new Uint8Array(1),
      strStart: base ? base.strEnd : 0, typeBase: BTF_HDR_MIN, layout: undefined, flags: 0, swapped: false,
    });
  }

  /** A deep copy whose mutations do not affect this Btf (the raw input is shared, it is never written). */
  clone(): Btf {
    const c = new Btf({
      base: this.base, startId: this.startId, words: this.words, offs: this.offs, kinds: this.kinds.slice(),
      rawCount: this.rawCount, strs: this.strs, strStart: this.strStart, typeBase: this.typeBase,
      layout: this.layout, flags: this.hdrFlags, swapped: this.swappedEndian,
    });
    for (const idx of this.dirty) {
      c.cacheSet(idx, structuredClone(this.cacheGet(idx)!));
      c.dirty.add(idx);
    }
    c.added = structuredClone(this.added);
    c.addedStrs = this.addedStrs.slice();
    c.addedStrOffs = new Map(this.addedStrOffs);
    c.addedStrLen = this.addedStrLen;
    c.ptrSize = this.ptrSize;
    return c;
  }

  /** Forget the BTF layout section (kind sizes for newer kinds), for kernels that reject it. */
  dropLayout(): void {
    this.layout = undefined;
  }

  /** Highest valid type id (ids 1..typeCount; 0 is void). */
  get typeCount(): number {
    return this.startId - 1 + this.rawCount + this.added.length;
  }

  /** End of this BTF's string space (where a split BTF on top of it starts its strings). */
  private get strEnd(): number {
    return this.strStart + this.strs.length + this.addedStrLen;
  }

  /** Pointer size in bytes: from the BTF's `long` INT type like libbpf, else 8 (BPF target). */
  get pointerSize(): number {
    if (!this.ptrSize) this.ptrSize = this.determinePtrSize();
    return this.ptrSize;
  }
  set pointerSize(sz: number) {
    if (sz !== 4 && sz !== 8) throw new ParseError(`unsupported pointer size ${sz}`, { section: SECTION });
    this.ptrSize = sz;
  }

  private determinePtrSize(): number {
    const aliases = new Set(['long', 'long int', 'int long', 'unsigned long', 'long unsigned', 'unsigned long int',
      'unsigned int long', 'long unsigned int', 'long int unsigned', 'int unsigned long', 'int long unsigned']);
    for (let id = 1; id <= this.typeCount; id++) {
      if (this.kind(id) !== BTF_KIND.INT) continue;
      let name: string;
      try { name = this.name(id); } catch { continue; }
      if (!aliases.has(name)) continue;
      const t = this.type(id);
      if (t.kind === BTF_KIND.INT && (t.size === 4 || t.size === 8)) return t.size;
    }
    return 8;
  }

  // ---------------------------------------------------------------------------------------------
  // Strings

  /** The string at `off` in the (combined base + own) string section. */
  strAt(off: number): string {
    if (off < this.strStart) {
      if (this.base) return this.base.strAt(off);
      fail(`invalid string offset ${off}`);
    }
    const rel = off - this.strStart;
    const strs = this.strs;
    if (rel < strs.length) {
      let end = strs.indexOf(0, rel);
      if (end < 0) end = strs.length; // cannot happen: the section ends with NUL
      return decodeUtf8(strs, rel, end);
    }
    const s = this.addedStrOffs.get(off);
    if (s !== undefined) return s;
    if (!Number.isInteger(off) || off < 0 || off >= this.strEnd) fail(`invalid string offset ${off}`);
    // An offset into the middle of an added string: find it the slow way.
    for (const [o, str] of this.addedStrOffs) {
      const b = utf8Bytes(str);
      if (off > o && off <= o + b.length) return utf8Decoder.decode(b.subarray(off - o));
    }
    fail(`invalid string offset ${off}`);
  }

  /** Offset of `s` in the string section, or undefined (searches base strings first, like libbpf). */
  findStr(s: string): number | undefined {
    if (s === '') return 0;
    const b = this.base?.findStr(s);
    if (b !== undefined) return b;
    if (this.strMap || this.strSearches >= STR_SEARCHES) return this.ownStrMap().get(s);
    // A few strings (re-encoding an object's fixed-up types): a native search of the raw section
    // beats decoding every string into a map.
    this.strSearches++;
    const raw = s.includes('\0') || this.strs.length <= 1 ? undefined : this.firstStringAt(s);
    if (raw !== undefined) return raw;
    for (const [off, str] of this.addedStrOffs) if (str === s) return off;
    return undefined;
  }

  /** Offset of the first whole raw string (one that starts after a NUL) equal to `s`, as ownStrMap finds it. */
  private firstStringAt(s: string): number | undefined {
    const q = utf8Bytes(s);
    const needle = new Uint8Array(q.length + 1);
    needle.set(q);
    const buf = this.strBuffer();
    for (let at = buf.indexOf(needle); at >= 0; at = buf.indexOf(needle, at + 1)) {
      if (at === 0 || buf[at - 1] === 0) return this.strStart + at;
    }
    return undefined;
  }

  /** Intern a string, returning its offset (existing strings are reused). */
  addString(s: string): number {
    if (s === '') return 0;
    const found = this.findStr(s);
    if (found !== undefined) return found;
    const off = this.strEnd;
    this.addedStrs.push(s);
    this.addedStrOffs.set(off, s);
    this.addedStrLen += utf8Bytes(s).length + 1;
    this.strMap?.set(s, off);
    return off;
  }

  /** The raw string section as a Buffer (a view, for its native indexOf). */
  private strBuffer(): Buffer {
    if (!this.strBuf) this.strBuf = Buffer.from(this.strs.buffer, this.strs.byteOffset, this.strs.byteLength);
    return this.strBuf;
  }

  private ownStrMap(): Map<string, number> {
    if (this.strMap) return this.strMap;
    const m = new Map<string, number>();
    const strs = this.strs;
    let i = 0;
    while (i < strs.length) {
      let end = strs.indexOf(0, i);
      if (end < 0) end = strs.length;
      if (end > i) {
        const s = decodeUtf8(strs, i, end);
        if (!m.has(s)) m.set(s, this.strStart + i);
      }
      i = end + 1;
    }
    for (const [off, s] of this.addedStrOffs) if (!m.has(s)) m.set(s, off);
    this.strMap = m;
    return m;
  }

  // ---------------------------------------------------------------------------------------------
  // Type access

  private badId(id: number): never {
    fail(`invalid BTF type id ${id} (type count ${this.typeCount})`);
  }

  /** Kind of type `id` (0 for void), without decoding it. */
  kind(id: number): number {
    if (id === 0) return BTF_KIND.UNKN;
    if (!(id >= 1 && id <= this.typeCount) || !Number.isInteger(id)) this.badId(id);
    if (id < this.startId) return this.base!.kind(id);
    const idx = id - this.startId;
    if (idx < this.rawCount) return this.kinds[idx]!;
    return this.added[idx - this.rawCount]!.kind;
  }

  /** Name of type `id` ('' for void and anonymous types), without decoding the type. */
  name(id: number): string {
    if (id === 0) return '';
    if (!(id >= 1 && id <= this.typeCount) || !Number.isInteger(id)) this.badId(id);
    if (id < this.startId) return this.base!.name(id);
    const idx = id - this.startId;
    if (idx < this.rawCount) {
      if (this.dirty.has(idx)) return this.cacheGet(idx)!.name;
      return this.strAt(this.words[this.offs[idx]!]!);
    }
    return this.added[idx - this.rawCount]!.name;
  }

  /** The decoded type `id` (type 0 is void). Decoded on first use and cached: treat it as read-only. */
  type(id: number): BtfType {
    if (id === 0) return { kind: BTF_KIND.UNKN, name: '' };
    if (!(id >= 1 && id <= this.typeCount) || !Number.isInteger(id)) this.badId(id);
    if (id < this.startId) return this.base!.type(id);
    const idx = id - this.startId;
    if (idx < this.rawCount) {
      const chunk = this.cache[idx >>> 10];
      let t = chunk?.[idx & 1023];
      if (t === undefined) {
        t = this.decodeRaw(idx);
        this.cacheSet(idx, t);
      }
      return t;
    }
    return this.added[idx - this.rawCount]!;
  }

  /** All type ids of this BTF (own types only for split BTF). */
  *ids(): IterableIterator<number> {
    for (let id = this.startId; id <= this.typeCount; id++) yield id;
  }

  private cacheGet(idx: number): BtfType | undefined {
    return this.cache[idx >>> 10]?.[idx & 1023];
  }

  private cacheSet(idx: number, t: BtfType): void {
    let chunk = this.cache[idx >>> 10];
    if (!chunk) {
      chunk = new Array<BtfType | undefined>(1024).fill(undefined);
      this.cache[idx >>> 10] = chunk;
    }
    chunk[idx & 1023] = t;
  }

  /** A referenced type id of type [id] at byte `where`, checked against the type count. */
  private refId(t: number, id: number, where: number): number {
    if (t > this.typeCount) fail(`BTF type [${id}] references invalid type id ${t}`, where);
    return t;
  }

  /** A name referenced by type [id]; offset 0 is the empty name. */
  private refStr(off: number, id: number, where: number): string {
    if (off === 0) return '';
    const rel = off - this.strStart;
    if (rel >= 0 && rel < this.strs.length) {
      const strs = this.strs;
      let end = rel;
      while (strs[end] !== 0) end++; // the section ends with NUL
      return decodeUtf8(strs, rel, end);
    }
    if (rel < 0 && this.base) return this.base.strAt(off);
    return fail(`BTF type [${id}] has invalid string offset ${off}`, where);
  }

  private decodeRaw(idx: number): BtfType {
    const w = this.words;
    const p = this.offs[idx]!;
    const id = this.startId + idx;
    const where = this.typeBase + p * 4;
    const info = w[p + 1]!;
    const kind = (info >>> 24) & 0x7f;
    const vlen = info & 0xffffff;
    const kflag = info >>> 31 === 1;
    const name = this.refStr(w[p]!, id, where);
    const sizeType = w[p + 2]!;
    let q = p + 3;
    switch (kind) {
      case BTF_KIND.INT: {
        const v = w[q]!;
        const enc = (v >>> 24) & 0x0f;
        return {
          kind, name, size: sizeType,
          encoding: { signed: (enc & BTF_INT_SIGNED) !== 0, char: (enc & BTF_INT_CHAR) !== 0, bool: (enc & BTF_INT_BOOL) !== 0 },
          bitOffset: (v >>> 16) & 0xff, bits: v & 0xff,
        };
      }
      case BTF_KIND.PTR: case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT:
        return { kind, name, type: this.refId(sizeType, id, where) };
      case BTF_KIND.TYPE_TAG:
        return { kind, name, type: this.refId(sizeType, id, where), kflag };
      case BTF_KIND.ARRAY:
        return { kind, name, type: this.refId(w[q]!, id, where), indexType: this.refId(w[q + 1]!, id, where), nelems: w[q + 2]! };
      case BTF_KIND.STRUCT: case BTF_KIND.UNION: {
        const members: BtfMember[] = [];
        for (let i = 0; i < vlen; i++, q += 3) {
          const off = w[q + 2]!;
          members.push({
            name: this.refStr(w[q]!, id, where), type: this.refId(w[q + 1]!, id, where),
            bitOffset: kflag ? off & 0xffffff : off, bitfieldSize: kflag ? off >>> 24 : 0,
          });
        }
        return { kind, name, size: sizeType, kflag, members };
      }
      case BTF_KIND.ENUM: {
        const values: BtfEnumValue[] = [];
        for (let i = 0; i < vlen; i++, q += 2) values.push({ name: this.refStr(w[q]!, id, where), value: kflag ? w[q + 1]! | 0 : w[q + 1]! });
        return { kind, name, size: sizeType, signed: kflag, values };
      }
      case BTF_KIND.ENUM64: {
        const values: BtfEnum64Value[] = [];
        for (let i = 0; i < vlen; i++, q += 3) {
          const u = (BigInt(w[q + 2]!) << 32n) | BigInt(w[q + 1]!);
          values.push({ name: this.refStr(w[q]!, id, where), value: kflag ? BigInt.asIntN(64, u) : u });
        }
        return { kind, name, size: sizeType, signed: kflag, values };
      }
      case BTF_KIND.FWD:
        return { kind, name, isUnion: kflag };
      case BTF_KIND.FUNC:
        return { kind, name, type: this.refId(sizeType, id, where), linkage: vlen };
      case BTF_KIND.FUNC_PROTO: {
        const params: BtfParam[] = [];
        for (let i = 0; i < vlen; i++, q += 2) params.push({ name: this.refStr(w[q]!, id, where), type: this.refId(w[q + 1]!, id, where) });
        return { kind, name, returnType: this.refId(sizeType, id, where), params };
      }
      case BTF_KIND.VAR:
        return { kind, name, type: this.refId(sizeType, id, where), linkage: w[q]! };
      case BTF_KIND.DATASEC: {
        const vars: BtfVarSecinfo[] = [];
        for (let i = 0; i < vlen; i++, q += 3) vars.push({ type: this.refId(w[q]!, id, where), offset: w[q + 1]!, size: w[q + 2]! });
        return { kind, name, size: sizeType, vars };
      }
      case BTF_KIND.FLOAT:
        return { kind, name, size: sizeType };
      case BTF_KIND.DECL_TAG:
        return { kind, name, type: this.refId(sizeType, id, where), componentIdx: w[q]! | 0, kflag };
      default:
        return fail(`BTF type [${id}] has unsupported kind ${kind}`, where);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Name lookup
  //
  // The first lookups of a BTF (a CO-RE load asks vmlinux for a dozen names) hash nothing: each scans
  // the names of the kind asked for (vmlinux has ~10k structs among ~126k types, gathered once with
  // native searches of the kind bytes), comparing the raw bytes of those whose first byte matches
  // (found by a native search too). Hashing the struct names of vmlinux in a fresh process costs
  // 10-20 ms, as much as the rest of a CO-RE load's user-space work.
  // Past NAME_SCANS lookups (BTF dumps, generators, many loads in one process), hash indexes over the
  // raw name bytes take over, built per kind on first use.

  /** Ids of all types named `name` (optionally of one kind), ascending; base types first for split BTF. */
  findByName(name: string, kind?: number): number[] {
    const out = this.base ? this.base.findByName(name, kind) : [];
    if (name === '') return out;
    const own = this.ownIdsByName(name, kind);
    for (const id of own) out.push(id);
    return out;
  }

  /** The first (lowest) id of a type with this name and kind. */
  findOne(name: string, kind: number): number | undefined {
    if (this.base) {
      const b = this.base.findOne(name, kind);
      if (b !== undefined) return b;
    }
    if (name === '') return undefined;
    return this.ownIdsByName(name, kind)[0];
  }

  /**
   * Ids of the types of `kind` whose name starts with `prefix` (the name itself included), ascending;
   * base types first for split BTF. A scan of the kind's name offsets, as no index serves prefixes:
   * CO-RE's candidate search finds `task_struct` and its flavors (`task_struct___v2`) in one pass.
   * An empty prefix matches nothing.
   */
  findByNamePrefix(prefix: string, kind: number): number[] {
    const out = this.base ? this.base.findByNamePrefix(prefix, kind) : [];
    if (prefix === '' || prefix.includes('\0')) return out;
    const own: number[] = [];
    this.scanColumn(utf8Bytes(prefix), kind, own, true);
    this.editedMatches(own, (t) => t.kind === kind && t.name.startsWith(prefix));
    for (const id of own) out.push(id);
    return out;
  }

  /** Own types (not the base's) named `name`, of `kind` if given, ascending. */
  private ownIdsByName(name: string, kind: number | undefined): number[] {
    const own: number[] = [];
    // BTF names end at the first NUL: none contains one.
    if (name.includes('\0')) return own;
    const q = utf8Bytes(name);
    if (this.nameScans < NAME_SCANS && !this.nameIndexes.has(kind ?? -1) && !this.nameIndexes.has(-1)) {
      this.nameScans++;
      this.scanColumn(q, kind, own);
    } else {
      this.hashLookup(q, kind, own);
    }
    this.editedMatches(own, (t) => t.name === name && (kind === undefined || t.kind === kind));
    return own;
  }

  /**
   * Adds to `own` (ids of raw matches, ascending) the replaced and added types that `match`, keeping
   * it ascending. They are few, so they are checked directly rather than indexed.
   */
  private editedMatches(own: number[], match: (t: BtfType) => boolean): void {
    let unsorted = false;
    for (const i of this.dirty) {
      if (match(this.cacheGet(i)!)) { own.push(this.startId + i); unsorted = true; }
    }
    if (unsorted) own.sort((a, b) => a - b);
    for (let i = 0; i < this.added.length; i++) {
      if (match(this.added[i]!)) own.push(this.startId + this.rawCount + i);
    }
  }

  /**
   * Own raw types (not replaced) of `kind` whose raw name is the bytes `q` (or starts with them, for
   * `prefix`), by a scan of the kind's name offsets. `q` is not empty and has no NUL.
   */
  private scanColumn(q: Uint8Array, kind: number | undefined, own: number[], prefix = false): void {
    const col = this.kindColumn(kind ?? -1);
    const { idx, nameOffs, first } = col;
    const qlen = q.length;
    const strs = this.strs;
    const strStart = this.strStart;
    const dirty = this.dirty;
    const check = (j: number, bytes: Uint8Array, pos: number): void => {
      if (bytes[pos + qlen] !== 0 && !prefix) return;
      let k = 1;
      while (k < qlen && bytes[pos + k] === q[k]) k++;
      if (k === qlen && !dirty.has(idx[j]!)) own.push(this.startId + idx[j]!);
    };
    // Only names starting with the right byte are compared: a native search of the first bytes
    // skips the others (about 95% of them).
    const q0 = q[0]!;
    if (col.inBase === 0) {
      for (let j = first.indexOf(q0); j >= 0; j = first.indexOf(q0, j + 1)) check(j, strs, nameOffs[j]! - strStart);
      return;
    }
    // Split BTF with names in the base's strings: those are compared through the base.
    const hits: number[] = [];
    for (let j = first.indexOf(q0); j >= 0; j = first.indexOf(q0, j + 1)) hits.push(j);
    for (let j = first.indexOf(0); j >= 0; j = first.indexOf(0, j + 1)) if (nameOffs[j]! !== 0 && nameOffs[j]! < strStart) hits.push(j);
    hits.sort((a, b) => a - b);
    for (const j of hits) {
      const off = nameOffs[j]!;
      if (off >= strStart) { check(j, strs, off - strStart); continue; }
      const loc = this.base?.strLoc(off);
      if (loc && loc.bytes[loc.pos] === q0) check(j, loc.bytes, loc.pos);
    }
  }

  /** The name column of the raw types of one kind (-1: all). */
  private kindColumn(kind: number): KindColumn {
    let col = this.kindCols.get(kind);
    if (col) return col;
    const kinds = this.kinds;
    const words = this.words;
    const offs = this.offs;
    let idx: Int32Array;
    if (kind < 0) {
      idx = new Int32Array(this.rawCount);
      for (let i = 0; i < idx.length; i++) idx[i] = i;
    } else {
      // Native searches of the kind bytes: no JS loop over all types. (Untouched pages of the
      // scratch array cost nothing.)
      const all = new Int32Array(this.rawCount);
      let j = 0;
      for (let i = kinds.indexOf(kind); i >= 0; i = kinds.indexOf(kind, i + 1)) all[j++] = i;
      idx = all.slice(0, j);
    }
    const n = idx.length;
    const nameOffs = new Uint32Array(n);
    const first = new Uint8Array(n);
    const strs = this.strs;
    const strStart = this.strStart;
    const slen = strs.length;
    let inBase = 0;
    for (let j = 0; j < n; j++) {
      const off = words[offs[idx[j]!]!]!;
      nameOffs[j] = off;
      const pos = off - strStart;
      if (pos >= 0) {
        // Invalid offsets (past the end) get 0 and never match.
        if (pos < slen) first[j] = strs[pos]!;
      } else if (off !== 0) {
        inBase++;
      }
    }
    col = { idx, nameOffs, first, inBase };
    this.kindCols.set(kind, col);
    return col;
  }

  /** The hash-index lookup (many distinct names asked for): own raw types named `name` into `own`. */
  private hashLookup(q: Uint8Array, kind: number | undefined, own: number[]): void {
    const idx = this.nameIndexFor(kind);
    const qlen = q.length;
    const h = fnv1a(q, 0, qlen);
    const words = this.words;
    const offs = this.offs;
    const kinds = this.kinds;
    const strStart = this.strStart;
    const dirty = this.dirty;
    for (let i = idx.head[h & idx.mask]!; i >= 0; i = idx.next[i]!) {
      if (kind !== undefined && kinds[i] !== kind) continue;
      const off = words[offs[i]!]!;
      let bytes: Uint8Array;
      let pos: number;
      if (off >= strStart) { bytes = this.strs; pos = off - strStart; } else {
        const loc = this.base!.strLoc(off);
        if (!loc) continue;
        bytes = loc.bytes; pos = loc.pos;
      }
      if (pos + qlen >= bytes.length || bytes[pos + qlen] !== 0) continue;
      let j = 0;
      while (j < qlen && bytes[pos + j] === q[j]) j++;
      if (j !== qlen || dirty.has(i)) continue;
      own.push(this.startId + i);
    }
  }

  /** Where the raw string at `off` lives (bytes + position), for byte-wise comparison; undefined if invalid. */
  private strLoc(off: number): { bytes: Uint8Array; pos: number } | undefined {
    if (off >= this.strStart) {
      const rel = off - this.strStart;
      return rel < this.strs.length ? { bytes: this.strs, pos: rel } : undefined;
    }
    return this.base?.strLoc(off);
  }

  private nameIndexFor(kind: number | undefined): NameIndex {
    const all = this.nameIndexes.get(-1);
    if (all) return all;
    const key = kind ?? -1;
    let idx = this.nameIndexes.get(key);
    if (!idx) {
      idx = this.buildNameIndex(key);
      this.nameIndexes.set(key, idx);
    }
    return idx;
  }

  /** Hash index of raw type names, of one kind (or all kinds for -1); chains list ids ascending. */
  private buildNameIndex(kind: number): NameIndex {
    const n = this.rawCount;
    const kinds = this.kinds;
    let count = n;
    if (kind >= 0) {
      count = 0;
      for (let i = 0; i < n; i++) if (kinds[i] === kind) count++;
    }
    let nb = 16;
    while (nb < count) nb <<= 1;
    const head = new Int32Array(nb).fill(-1);
    const next = new Int32Array(n);
    const mask = nb - 1;
    const words = this.words;
    const offs = this.offs;
    const strs = this.strs;
    const strStart = this.strStart;
    const slen = strs.length;
    // Walk ids downwards so that each chain lists ids in ascending order.
    for (let i = n - 1; i >= 0; i--) {
      if (kind >= 0 && kinds[i] !== kind) continue;
      const off = words[offs[i]!]!;
      if (off === 0) continue;
      let bytes: Uint8Array;
      let pos: number;
      if (off >= strStart) {
        pos = off - strStart;
        if (pos >= slen) continue; // invalid offset: name() reports it; the index just skips it
        bytes = strs;
      } else {
        const loc = this.base?.strLoc(off);
        if (!loc) continue;
        bytes = loc.bytes; pos = loc.pos;
      }
      // String sections end with NUL (checked by parse), so this stops inside `bytes`.
      let h = 0x811c9dc5;
      for (let c = bytes[pos]!; c !== 0; c = bytes[++pos]!) h = Math.imul(h ^ c, 0x01000193);
      const b = h & mask;
      next[i] = head[b]!;
      head[b] = i;
    }
    return { mask, head, next };
  }

  // ---------------------------------------------------------------------------------------------
  // Size, alignment, chains

  /** Like btf__resolve_size: byte size through typedefs, modifiers, VARs and arrays. */
  resolveSize(id: number): number {
    let nelems = 1;
    let size = -1;
    let cur = id;
    for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
      const t = this.type(cur);
      switch (t.kind) {
        case BTF_KIND.INT: case BTF_KIND.STRUCT: case BTF_KIND.UNION: case BTF_KIND.ENUM: case BTF_KIND.ENUM64:
        case BTF_KIND.DATASEC: case BTF_KIND.FLOAT:
          size = t.size;
          break;
        case BTF_KIND.PTR:
          size = this.pointerSize;
          break;
        case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT:
        case BTF_KIND.VAR: case BTF_KIND.DECL_TAG: case BTF_KIND.TYPE_TAG:
          cur = t.type;
          continue;
        case BTF_KIND.ARRAY:
          if (nelems && t.nelems > Math.floor(0xffffffff / nelems)) fail(`size of type [${id}] overflows u32`);
          nelems *= t.nelems;
          cur = t.type;
          continue;
        case BTF_KIND.UNKN:
          fail(`cannot resolve size of type [${id}]: it resolves to void`);
        // falls through (fail never returns)
        default:
          fail(`cannot resolve size of type [${id}]: ${kindLabel(t.kind)} has no size`);
      }
      if (nelems && size > Math.floor(0xffffffff / nelems)) fail(`size of type [${id}] overflows u32`);
      return nelems * size;
    }
    return fail(`cannot resolve size of type [${id}]: type chain deeper than ${MAX_RESOLVE_DEPTH} (loop?)`);
  }

  /** Like btf__align_of: natural alignment in bytes (1 for packed structs/unions). */
  alignOf(id: number): number {
    return this.alignOfInner(id, new Map(), new Set());
  }

  private alignOfInner(id: number, memo: Map<number, number>, visiting: Set<number>): number {
    const known = memo.get(id);
    if (known !== undefined) return known;
    if (visiting.has(id)) fail(`cannot compute alignment of type [${id}]: type loop`);
    visiting.add(id);
    const t = this.type(id);
    let align: number;
    switch (t.kind) {
      case BTF_KIND.INT: case BTF_KIND.ENUM: case BTF_KIND.ENUM64: case BTF_KIND.FLOAT:
        align = Math.min(this.pointerSize, t.size);
        break;
      case BTF_KIND.PTR:
        align = this.pointerSize;
        break;
      case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT:
      case BTF_KIND.TYPE_TAG: case BTF_KIND.ARRAY:
        align = this.alignOfInner(t.type, memo, visiting);
        break;
      case BTF_KIND.STRUCT: case BTF_KIND.UNION: {
        let max = 1;
        let packed = false;
        for (const m of t.members) {
          const a = this.alignOfInner(m.type, memo, visiting);
          if (a > max) max = a;
          // A non-bitfield member off its natural alignment means the struct is packed.
          if (m.bitfieldSize === 0 && m.bitOffset % (8 * a) !== 0) { packed = true; break; }
        }
        align = packed || t.size % max !== 0 ? 1 : max;
        break;
      }
      default:
        fail(`cannot compute alignment of type [${id}] (${kindLabel(t.kind)})`);
    }
    if (!(align > 0)) fail(`cannot compute alignment of type [${id}]: zero-sized type`);
    visiting.delete(id);
    memo.set(id, align);
    return align;
  }

  /** Follow typedefs and CONST/VOLATILE/RESTRICT/TYPE_TAG modifiers to the underlying type id. */
  skipModsAndTypedefs(id: number): number {
    let cur = id;
    const limit = this.typeCount + 1;
    for (let steps = 0; steps <= limit; steps++) {
      const k = this.kind(cur);
      if (k !== BTF_KIND.TYPEDEF && !isModKind(k)) return cur;
      cur = (this.type(cur) as { type: number }).type;
    }
    return fail(`type [${id}]: typedef/modifier loop`);
  }

  // ---------------------------------------------------------------------------------------------
  // Mutation (object BTF only)

  /** Replace type `id` (an own type; base types of split BTF cannot be replaced). */
  setType(id: number, t: BtfType): void {
    if (!(id >= this.startId && id <= this.typeCount) || !Number.isInteger(id)) this.badId(id);
    if (t.kind === BTF_KIND.UNKN) fail('cannot store a void type');
    const idx = id - this.startId;
    if (idx >= this.rawCount) {
      this.added[idx - this.rawCount] = t;
      return;
    }
    this.cacheSet(idx, t);
    this.kinds[idx] = t.kind;
    this.dirty.add(idx);
  }

  /** Append a type; returns its id. */
  addType(t: BtfType): number {
    if (t.kind === BTF_KIND.UNKN) fail('cannot store a void type');
    this.added.push(t);
    return this.typeCount;
  }

  // ---------------------------------------------------------------------------------------------
  // Encoding

  /** Serialize to raw BTF (header + types + strings) in host byte order, as BPF_BTF_LOAD takes it. */
  encode(): Uint8Array {
    let types: Uint32Array;
    if (this.dirty.size === 0 && this.added.length === 0) {
      types = this.words;
    } else {
      const out: number[] = [];
      const w = this.words;
      for (let i = 0; i < this.rawCount; i++) {
        if (this.dirty.has(i)) {
          this.encodeType(this.cacheGet(i)!, out);
        } else {
          const start = this.offs[i]!;
          const end = i + 1 < this.rawCount ? this.offs[i + 1]! : w.length;
          for (let j = start; j < end; j++) out.push(w[j]!);
        }
      }
      for (const t of this.added) this.encodeType(t, out);
      types = Uint32Array.from(out);
    }
    // Strings after types, since encoding may have interned new strings.
    const added = this.addedStrs.map(utf8Bytes);
    const strLen = this.strs.length + this.addedStrLen;
    const layoutLen = this.layout?.length ?? 0;
    const hdrLen = layoutLen ? BTF_HDR_LAYOUT : BTF_HDR_MIN;
    const typeLen = types.length * 4;
    const total = hdrLen + typeLen + layoutLen + strLen;
    const out = new Uint8Array(total);
    const dv = new DataView(out.buffer);
    dv.setUint16(0, BTF_MAGIC, HOST_LE);
    out[2] = 1;
    out[3] = this.hdrFlags;
    dv.setUint32(4, hdrLen, HOST_LE);
    dv.setUint32(8, 0, HOST_LE);
    dv.setUint32(12, typeLen, HOST_LE);
    dv.setUint32(16, typeLen + layoutLen, HOST_LE);
    dv.setUint32(20, strLen, HOST_LE);
    if (layoutLen) {
      dv.setUint32(24, typeLen, HOST_LE);
      dv.setUint32(28, layoutLen, HOST_LE);
    }
    out.set(new Uint8Array(types.buffer, types.byteOffset, typeLen), hdrLen);
    if (layoutLen) {
      const l = this.layout!.slice();
      if (!HOST_LE) for (let i = 0; i < l.length; i += 4) { const a = l[i + 2]!; l[i + 2] = l[i + 3]!; l[i + 3] = a; }
      out.set(l, hdrLen + typeLen);
    }
    let p = hdrLen + typeLen + layoutLen;
    out.set(this.strs, p);
    p += this.strs.length;
    for (const b of added) { out.set(b, p); p += b.length + 1; }
    return out;
  }

  private encodeType(t: BtfType, out: number[]): void {
    const u32 = (v: number, what: string): number => {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail(`cannot encode ${kindLabel(t.kind)} '${t.name}': ${what} ${v} is not a u32`);
      return v;
    };
    const info = (vlen: number, kflag: boolean): number => {
      if (vlen > 0xffff) fail(`cannot encode ${kindLabel(t.kind)} '${t.name}': too many members (${vlen})`);
      return ((kflag ? 0x80000000 : 0) | (t.kind << 24) | vlen) >>> 0;
    };
    const name = this.addString(t.name);
    switch (t.kind) {
      case BTF_KIND.INT: {
        const enc = (t.encoding.signed ? BTF_INT_SIGNED : 0) | (t.encoding.char ? BTF_INT_CHAR : 0) | (t.encoding.bool ? BTF_INT_BOOL : 0);
        if (t.bitOffset > 0xff || t.bits > 0xff || t.bitOffset < 0 || t.bits < 0) fail(`cannot encode INT '${t.name}': bad bit layout`);
        out.push(name, info(0, false), u32(t.size, 'size'), ((enc << 24) | (t.bitOffset << 16) | t.bits) >>> 0);
        return;
      }
      case BTF_KIND.PTR: case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT:
        out.push(name, info(0, false), u32(t.type, 'type'));
        return;
      case BTF_KIND.TYPE_TAG:
        out.push(name, info(0, t.kflag), u32(t.type, 'type'));
        return;
      case BTF_KIND.ARRAY:
        out.push(name, info(0, false), 0, u32(t.type, 'type'), u32(t.indexType, 'index type'), u32(t.nelems, 'nelems'));
        return;
      case BTF_KIND.STRUCT: case BTF_KIND.UNION:
        out.push(name, info(t.members.length, t.kflag), u32(t.size, 'size'));
        for (const m of t.members) {
          let off: number;
          if (t.kflag) {
            if (m.bitOffset > 0xffffff || m.bitfieldSize > 0xff) fail(`cannot encode member '${m.name}' of '${t.name}': offset/bitfield too large`);
            off = ((m.bitfieldSize << 24) | m.bitOffset) >>> 0;
          } else {
            if (m.bitfieldSize) fail(`cannot encode bitfield member '${m.name}' of '${t.name}' without kflag`);
            off = u32(m.bitOffset, 'member offset');
          }
          out.push(this.addString(m.name), u32(m.type, 'member type'), off);
        }
        return;
      case BTF_KIND.ENUM:
        out.push(name, info(t.values.length, t.signed), u32(t.size, 'size'));
        for (const v of t.values) {
          if (!Number.isInteger(v.value) || v.value < -0x80000000 || v.value > 0xffffffff) fail(`cannot encode enumerator '${v.name}': ${v.value} does not fit 32 bits`);
          out.push(this.addString(v.name), v.value >>> 0);
        }
        return;
      case BTF_KIND.ENUM64:
        out.push(name, info(t.values.length, t.signed), u32(t.size, 'size'));
        for (const v of t.values) {
          const u = BigInt.asUintN(64, v.value);
          out.push(this.addString(v.name), Number(u & 0xffffffffn), Number(u >> 32n));
        }
        return;
      case BTF_KIND.FWD:
        out.push(name, info(0, t.isUnion), 0);
        return;
      case BTF_KIND.FUNC:
        out.push(name, info(t.linkage, false), u32(t.type, 'type'));
        return;
      case BTF_KIND.FUNC_PROTO:
        out.push(name, info(t.params.length, false), u32(t.returnType, 'return type'));
        for (const prm of t.params) out.push(this.addString(prm.name), u32(prm.type, 'param type'));
        return;
      case BTF_KIND.VAR:
        out.push(name, info(0, false), u32(t.type, 'type'), u32(t.linkage, 'linkage'));
        return;
      case BTF_KIND.DATASEC:
        out.push(name, info(t.vars.length, false), u32(t.size, 'size'));
        for (const v of t.vars) out.push(u32(v.type, 'var type'), u32(v.offset, 'var offset'), u32(v.size, 'var size'));
        return;
      case BTF_KIND.FLOAT:
        out.push(name, info(0, false), u32(t.size, 'size'));
        return;
      case BTF_KIND.DECL_TAG:
        out.push(name, info(0, t.kflag ?? false), u32(t.type, 'type'), t.componentIdx >>> 0);
        return;
      default:
        fail(`cannot encode BTF kind ${(t as BtfType).kind}`);
    }
  }
}

function kindLabel(kind: number): string {
  const names = ['void', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST',
    'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64'];
  return names[kind] ?? `kind ${kind}`;
}
