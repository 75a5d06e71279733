// Mutators. Each takes the current bytes and the clean seed's layout and returns the mutated bytes
// (possibly resized) and a short label for statistics. Blind mutators (bit flips, truncation) find
// what nobody thought of; structure-aware ones aim at the fields parsers trust: section header
// offsets/sizes/links, symbol indices, relocation offsets, BTF counts (vlen), type ids (loops,
// out-of-range references), string offsets and .BTF.ext record counts and sizes.
//
// Writes are bounds-checked against the *current* bytes: a previous mutator may have truncated the
// input, and the layout describes the clean seed.

import { nameWords, typeRefWords, type BtfLayout, type ElfLayout, type ExtLayout } from './layout.js';
import type { Rng } from './rng.js';

export interface Mutated {
  bytes: Uint8Array;
  label: string;
}

const U32_INTERESTING = [
  0, 1, 2, 3, 4, 7, 8, 12, 16, 24, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x10000, 0xffffff, 0x1000000,
  0x7ffffffe, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
];
const U64_INTERESTING = [0n, 1n, 8n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 0x1fffffffffffffn, 0x20000000000000n, 0x7fffffffffffffffn, 0xffffffffffffffffn];

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function put32(b: Uint8Array, at: number, v: number): boolean {
  if (at < 0 || at + 4 > b.length) return false;
  dv(b).setUint32(at, v >>> 0, true);
  return true;
}

export function put64(b: Uint8Array, at: number, v: bigint): boolean {
  if (at < 0 || at + 8 > b.length) return false;
  dv(b).setBigUint64(at, BigInt.asUintN(64, v), true);
  return true;
}

export function put16(b: Uint8Array, at: number, v: number, le = true): boolean {
  if (at < 0 || at + 2 > b.length) return false;
  dv(b).setUint16(at, v & 0xffff, le);
  return true;
}

function get32(b: Uint8Array, at: number): number {
  return at >= 0 && at + 4 <= b.length ? dv(b).getUint32(at, true) : 0;
}

/** An interesting u32, sometimes relative to a size or value that matters for the field. */
function u32(r: Rng, rel: number[] = []): number {
  const x = r.int(10);
  if (x < 5) return r.pick(U32_INTERESTING);
  if (x < 8 && rel.length) {
    const base = r.pick(rel);
    return (base + r.pick([-8, -4, -1, 0, 1, 4, 8, 12, 4096])) >>> 0;
  }
  return r.u32() >>> (r.int(4) * 8);
}

function u64(r: Rng, rel: number[] = []): bigint {
  const x = r.int(10);
  if (x < 5) return r.pick(U64_INTERESTING);
  if (x < 8 && rel.length) return BigInt(Math.max(0, r.pick(rel) + r.pick([-8, -1, 0, 1, 8, 64, 4096])));
  return BigInt(r.u32()) << BigInt(r.int(40));
}

// ---------------------------------------------------------------------------------------------
// Blind

export function bitFlips(b: Uint8Array, r: Rng): Mutated {
  const n = 1 + r.int(8);
  for (let i = 0; i < n && b.length; i++) b[r.int(b.length)] ^= 1 << r.int(8);
  return { bytes: b, label: 'blind.bitflip' };
}

export function byteSmash(b: Uint8Array, r: Rng): Mutated {
  const n = 1 + r.int(4);
  for (let i = 0; i < n && b.length > 4; i++) {
    const at = r.int(b.length - 4) & ~3;
    if (r.chance(0.5)) put32(b, at, u32(r, [b.length]));
    else b[at] = r.pick([0, 0xff, 0x7f, 0x80, r.int(256)]);
  }
  return { bytes: b, label: 'blind.smash' };
}

export function truncate(b: Uint8Array, r: Rng, at?: number[]): Mutated {
  const cut = at && at.length && r.chance(0.5) ? Math.min(b.length, r.pick(at)) : r.int(b.length + 1);
  return { bytes: b.slice(0, cut), label: 'blind.truncate' };
}

/** Deletes or duplicates a chunk: everything after it moves. */
export function shift(b: Uint8Array, r: Rng): Mutated {
  if (!b.length) return { bytes: b, label: 'blind.delete' };
  const at = r.int(b.length);
  const len = 1 + r.int(Math.min(64, b.length - at));
  if (r.chance(0.5)) {
    const out = new Uint8Array(b.length - len);
    out.set(b.subarray(0, at));
    out.set(b.subarray(at + len), at);
    return { bytes: out, label: 'blind.delete' };
  }
  const out = new Uint8Array(b.length + len);
  out.set(b.subarray(0, at + len));
  out.set(b.subarray(at), at + len);
  return { bytes: out, label: 'blind.duplicate' };
}

// ---------------------------------------------------------------------------------------------
// ELF structure

const SHDR_FIELDS: [string, number, 4 | 8][] = [
  ['name', 0, 4], ['type', 4, 4], ['flags', 8, 8], ['addr', 16, 8], ['offset', 24, 8], ['size', 32, 8],
  ['link', 40, 4], ['info', 44, 4], ['addralign', 48, 8], ['entsize', 56, 8],
];

export function sectionHeader(b: Uint8Array, L: ElfLayout, r: Rng): Mutated {
  const s = r.pick(L.sections);
  const [name, off, width] = r.weighted<[string, number, 4 | 8]>([
    [1, SHDR_FIELDS[0]!], [1, SHDR_FIELDS[1]!], [0.5, SHDR_FIELDS[2]!], [2, SHDR_FIELDS[4]!], [3, SHDR_FIELDS[5]!],
    [2, SHDR_FIELDS[6]!], [2, SHDR_FIELDS[7]!], [0.5, SHDR_FIELDS[8]!], [1, SHDR_FIELDS[9]!],
  ]);
  const rel = [L.size, s.size, s.offset, L.sections.length, s.index];
  if (name === 'type') {
    put32(b, s.hdrAt + off, r.pick([0, 1, 2, 3, 4, 8, 9, 11, 14, 18, 0x6fffffff, 0x70000000, u32(r)]));
  } else if (name === 'link' || name === 'info') {
    put32(b, s.hdrAt + off, r.chance(0.6) ? r.int(L.sections.length + 2) : u32(r, rel));
  } else if (name === 'name') {
    // Point at another section's name (duplicate .BTF, .maps, ...) or somewhere odd.
    const other = r.pick(L.sections);
    put32(b, s.hdrAt + off, r.chance(0.5) ? get32(b, other.hdrAt) : u32(r, rel));
  } else if (width === 8) {
    put64(b, s.hdrAt + off, u64(r, rel));
  } else {
    put32(b, s.hdrAt + off, u32(r, rel));
  }
  return { bytes: b, label: `elf.shdr.${name}` };
}

export function elfHeader(b: Uint8Array, L: ElfLayout, r: Rng): Mutated {
  const f = r.pick([
    ['type', 16, 2], ['machine', 18, 2], ['shoff', 40, 8], ['shentsize', 58, 2], ['shnum', 60, 2], ['shstrndx', 62, 2],
    ['phoff', 32, 8], ['phnum', 56, 2], ['phentsize', 54, 2],
  ] as const);
  const [name, at, w] = f;
  if (w === 8) put64(b, at, u64(r, [L.size, L.shoff]));
  else put16(b, at, r.chance(0.5) ? r.pick([0, 1, 0xffff, 0xff00, L.sections.length, L.sections.length + 1]) : r.int(0x10000));
  return { bytes: b, label: `elf.ehdr.${name}` };
}

export function symbol(b: Uint8Array, L: ElfLayout, r: Rng): Mutated {
  if (!L.symtab || !L.symtab.count) return bitFlips(b, r);
  const at = L.symtab.offset + r.int(L.symtab.count) * 24;
  const field = r.pick(['name', 'info', 'other', 'shndx', 'value', 'size'] as const);
  switch (field) {
    case 'name': put32(b, at, u32(r)); break;
    case 'info': if (at + 4 < b.length) b[at + 4] = r.chance(0.5) ? r.int(256) : (r.pick([0, 1, 2]) << 4) | r.pick([0, 1, 2, 3, 4]); break;
    case 'other': if (at + 5 < b.length) b[at + 5] = r.int(256); break;
    case 'shndx': put16(b, at + 6, r.pick([0, 0xfff1, 0xfff2, 0xffff, L.sections.length, L.sections.length + 1, r.int(L.sections.length), r.int(0x10000)])); break;
    case 'value': put64(b, at + 8, u64(r, [8, 16, L.size])); break;
    case 'size': put64(b, at + 16, u64(r, [8, 16, L.size])); break;
  }
  return { bytes: b, label: `elf.sym.${field}` };
}

export function relocation(b: Uint8Array, L: ElfLayout, r: Rng): Mutated {
  const rels = L.rels.filter((x) => x.count > 0);
  if (!rels.length) return bitFlips(b, r);
  const rel = r.pick(rels);
  const at = rel.offset + r.int(rel.count) * 16;
  const target = L.sections[rel.target];
  const field = r.pick(['offset', 'offset', 'sym', 'sym', 'type'] as const);
  if (field === 'offset') {
    const sz = target?.size ?? 0;
    put64(b, at, r.pick([BigInt(sz), BigInt(sz + 8), BigInt(Math.max(0, sz - 8)), BigInt(sz + 4), 4n, 0xfffffff8n, u64(r, [sz])]));
  } else if (field === 'sym') {
    const count = L.symtab?.count ?? 0;
    put32(b, at + 12, r.pick([0, count, count + 1, 0xffffffff, r.int(count + 1)]));
  } else {
    put32(b, at + 8, r.int(16));
  }
  return { bytes: b, label: `elf.rel.${field}` };
}

export function stringTable(b: Uint8Array, L: ElfLayout, r: Rng): Mutated {
  const t = L.strtabs.length ? r.pick(L.strtabs) : undefined;
  if (!t || !t.size) return bitFlips(b, r);
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    const at = t.offset + r.int(t.size);
    if (at < b.length) b[at] = b[at] === 0 ? r.pick([0x41, 0xff, 0x2e]) : r.pick([0, 0xff, 0xc3]);
  }
  return { bytes: b, label: 'elf.strtab' };
}

/** Turns an instruction into a bpf-to-bpf call or ld_imm64 with a wild operand, or truncates an ld_imm64. */
export function instruction(b: Uint8Array, L: ElfLayout, r: Rng): Mutated {
  const secs = L.exec.filter((s) => s.size >= 8);
  if (!secs.length) return bitFlips(b, r);
  const s = r.pick(secs);
  const n = s.size / 8;
  const i = r.int(n);
  const at = s.offset + i * 8;
  if (at + 8 > b.length) return { bytes: b, label: 'elf.insn.skip' };
  const kind = r.pick(['call', 'ldimm', 'code', 'imm'] as const);
  if (kind === 'call') {
    b[at] = 0x85;
    b[at + 1] = (b[at + 1]! & 0x0f) | 0x10; // src_reg = BPF_PSEUDO_CALL
    put32(b, at + 4, r.pick([-1 >>> 0, -2 >>> 0, n - i, n - i - 1, 0x7fffffff, 0x80000000, r.u32()]));
  } else if (kind === 'ldimm') {
    b[at] = 0x18;
    b[at + 1] = (b[at + 1]! & 0x0f) | (r.pick([0, 1, 2, 4]) << 4);
    put32(b, at + 4, u32(r));
  } else if (kind === 'code') {
    b[at] = r.int(256);
  } else {
    put32(b, at + 4, u32(r, [n * 8]));
  }
  return { bytes: b, label: `elf.insn.${kind}` };
}

/** Replaces a section's contents with `data`, appended at the end of the file (header updated). */
export function replaceSection(b: Uint8Array, L: ElfLayout, index: number, data: Uint8Array): Uint8Array {
  const s = L.sections[index];
  if (!s || s.hdrAt + 64 > b.length) return b;
  const at = (b.length + 7) & ~7;
  const out = new Uint8Array(at + data.length);
  out.set(b);
  out.set(data, at);
  put64(out, s.hdrAt + 24, BigInt(at));
  put64(out, s.hdrAt + 32, BigInt(data.length));
  return out;
}

// ---------------------------------------------------------------------------------------------
// BTF (on a standalone blob; for objects, see inSection)

const REF_KINDS = new Set([2, 8, 9, 10, 11, 18]);

export function btfHeader(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  const f = r.pick([['magic', 0], ['version', 2], ['flags', 3], ['hdr_len', 4], ['type_off', 8], ['type_len', 12], ['str_off', 16], ['str_len', 20]] as const);
  const [name, at] = f;
  if (name === 'version' || name === 'flags') b[at] = r.pick([0, 1, 2, 0xff]);
  else if (name === 'magic') put16(b, 0, r.pick([0x9feb, 0xeb9f, 0, 0xffff]), false);
  else put32(b, at, u32(r, [L.size, L.hdrLen, L.typeLen, L.strLen, L.strAt - L.hdrLen, L.typeAt - L.hdrLen]));
  return { bytes: b, label: `btf.hdr.${name}` };
}

function pickType(L: BtfLayout, r: Rng, filter?: (k: number) => boolean) {
  const ts = filter ? L.types.filter((t) => filter(t.kind)) : L.types;
  return ts.length ? r.pick(ts) : undefined;
}

export function btfTypeRef(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  const t = pickType(L, r, (k) => k !== 1 && k !== 6 && k !== 7 && k !== 16 && k !== 19);
  if (!t) return bitFlips(b, r);
  const words = typeRefWords(t);
  if (!words.length) return bitFlips(b, r);
  const w = r.pick(words);
  const n = L.types.length;
  put32(b, t.at + w * 4, r.pick([t.id, t.id, t.id - 1, t.id + 1, 0, n, n + 1, 0xffffffff, 0x80000000, 1 + r.int(n)]));
  return { bytes: b, label: 'btf.type.ref' };
}

/** A cycle of 1 to 3 types through references that are not pointers: typedef/const/volatile loops,
 * a struct containing itself, an array of itself. */
export function btfLoop(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  const style = r.pick(['mods', 'struct', 'array', 'retype'] as const);
  if (style === 'mods') {
    const chain = L.types.filter((t) => REF_KINDS.has(t.kind) && t.kind !== 2);
    if (chain.length === 0) return btfTypeRef(b, L, r);
    const len = 1 + r.int(Math.min(3, chain.length));
    const picked = Array.from({ length: len }, () => r.pick(chain));
    for (let i = 0; i < len; i++) put32(b, picked[i]!.at + 8, picked[(i + 1) % len]!.id);
  } else if (style === 'struct') {
    const s = pickType(L, r, (k) => k === 4 || k === 5);
    if (!s || !s.vlen) return btfTypeRef(b, L, r);
    const m = r.int(s.vlen);
    // Directly, or through a typedef/const that now points back at the struct.
    const via = r.chance(0.5) ? pickType(L, r, (k) => k === 8 || k === 10) : undefined;
    if (via) {
      put32(b, via.at + 8, s.id);
      put32(b, s.at + (3 + m * 3 + 1) * 4, via.id);
    } else {
      put32(b, s.at + (3 + m * 3 + 1) * 4, s.id);
    }
  } else if (style === 'array') {
    const a = pickType(L, r, (k) => k === 3);
    if (!a) return btfTypeRef(b, L, r);
    put32(b, a.at + 12, r.chance(0.7) ? a.id : 0);
    if (r.chance(0.3)) put32(b, a.at + 16, a.id);
  } else {
    // Turn any 3-word type into a typedef of itself.
    const t = pickType(L, r, (k) => REF_KINDS.has(k) || k === 12 || k === 7);
    if (!t) return btfTypeRef(b, L, r);
    put32(b, t.at + 4, 8 << 24);
    put32(b, t.at + 8, t.id);
  }
  return { bytes: b, label: `btf.loop.${style}` };
}

export function btfInfo(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  const t = pickType(L, r);
  if (!t) return bitFlips(b, r);
  const info = get32(b, t.at + 4);
  const what = r.pick(['kind', 'vlen', 'vlen', 'kflag'] as const);
  let v = info;
  if (what === 'kind') v = (info & 0x80ffffff) | (r.int(32) << 24);
  else if (what === 'vlen') v = (info & 0xff000000) | r.pick([0, t.vlen + 1, Math.max(0, t.vlen - 1), 0xffff, 0xffffff, 0x8000, r.int(0x1000000)]);
  else v = info ^ 0x80000000;
  put32(b, t.at + 4, v);
  return { bytes: b, label: `btf.info.${what}` };
}

export function btfName(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  const t = pickType(L, r);
  if (!t) return bitFlips(b, r);
  const w = r.pick(nameWords(t));
  const start = r.pick(L.strStarts);
  put32(b, t.at + w * 4, r.pick([L.strLen, L.strLen - 1, L.strLen + 1, 0xffffffff, 0x80000000, start, start + 1, r.int(L.strLen)]));
  return { bytes: b, label: 'btf.name' };
}

/** Sizes, bit offsets, array lengths, datasec offsets, enum values, int encodings. */
export function btfValue(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  const t = pickType(L, r, (k) => [1, 3, 4, 5, 6, 14, 15, 16, 17, 19].includes(k));
  if (!t) return bitFlips(b, r);
  let w: number;
  switch (t.kind) {
    case 1: w = r.pick([2, 3]); break;
    case 3: w = 5; break;
    case 4: case 5: w = t.vlen && r.chance(0.7) ? 3 + r.int(t.vlen) * 3 + 2 : 2; break;
    case 15: w = t.vlen && r.chance(0.8) ? 3 + r.int(t.vlen) * 3 + r.pick([1, 2]) : 2; break;
    case 6: w = t.vlen && r.chance(0.5) ? 3 + r.int(t.vlen) * 2 + 1 : 2; break;
    case 14: case 17: w = 3; break;
    default: w = 2;
  }
  put32(b, t.at + w * 4, u32(r, [L.size, 8, 64]));
  return { bytes: b, label: `btf.value.k${t.kind}` };
}

export function btfStrings(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  if (!L.strLen) return bitFlips(b, r);
  const what = r.pick(['lastnul', 'bytes', 'firstnul'] as const);
  if (what === 'lastnul') b[L.strAt + L.strLen - 1] = 0x41;
  else if (what === 'firstnul') b[L.strAt] = 0x41;
  else for (let i = 0, n = 1 + r.int(8); i < n; i++) b[L.strAt + r.int(L.strLen)] = r.pick([0, 0xff, 0xc3, 0x80, 0x2e]);
  return { bytes: b, label: `btf.str.${what}` };
}

/** A huge vlen made consistent: the records are really there, so parsing succeeds and the decoder
 * and everything after it must cope with tens of thousands of members. */
export function btfGrow(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  const t = pickType(L, r, (k) => [4, 5, 6, 13, 15, 19].includes(k));
  if (!t) return bitFlips(b, r);
  const per = t.kind === 6 || t.kind === 13 ? 2 : 3;
  const extra = r.pick([1000, 20000, 0xffff - t.vlen]);
  if (extra <= 0) return bitFlips(b, r);
  const add = extra * per * 4;
  const recEnd = t.at + t.words * 4;
  if (recEnd > b.length) return bitFlips(b, r); // an earlier mutation cut the record off
  const out = new Uint8Array(b.length + add);
  out.set(b.subarray(0, recEnd));
  // Fill the new records with copies of the type's own records when it has some (valid names and
  // types), else with small values.
  // Every kind picked here has no fixed part: its vlen records start right after the 3-word header.
  const src = b.subarray(t.at + 12, recEnd);
  for (let i = 0; i < add; i += 4) {
    const v = src.length >= 4 ? get32(src, (i % src.length) & ~3) : r.int(4);
    put32(out, recEnd + i, v);
  }
  out.set(b.subarray(recEnd), recEnd + add);
  const info = get32(b, t.at + 4);
  put32(out, t.at + 4, (info & 0xffff0000) | Math.min(0xffff, t.vlen + extra));
  // The type section grew, and so did everything after it.
  put32(out, 12, L.typeLen + add);
  if (get32(b, 16) >= L.typeAt - L.hdrLen + L.typeLen) put32(out, 16, get32(b, 16) + add);
  return { bytes: out, label: 'btf.grow' };
}

export function mutateBtf(b: Uint8Array, L: BtfLayout, r: Rng): Mutated {
  const m = r.weighted<(b: Uint8Array, L: BtfLayout, r: Rng) => Mutated>([
    [2, btfHeader], [4, btfTypeRef], [4, btfLoop], [3, btfInfo], [3, btfName], [3, btfValue], [1, btfStrings], [1, btfGrow],
    [1, (x, _L, rr) => truncate(x, rr, [L.hdrLen, L.typeAt + L.typeLen, L.strAt, L.strAt + L.strLen - 1])],
    [1, (x, _L, rr) => bitFlips(x, rr)],
  ]);
  return m(b, L, r);
}

// ---------------------------------------------------------------------------------------------
// .BTF.ext

export function mutateExt(b: Uint8Array, L: ExtLayout, btf: BtfLayout | undefined, r: Rng): Mutated {
  const what = r.weighted<string>([[2, 'hdr'], [2, 'recsize'], [2, 'num'], [1, 'secname'], [6, 'record'], [1, 'truncate'], [1, 'flip']]);
  const sub = L.subs.length ? r.pick(L.subs) : undefined;
  const sec = sub && sub.secs.length ? r.pick(sub.secs) : undefined;
  switch (what) {
    case 'hdr': {
      const at = r.pick([4, 8, 12, 16, 20, 24, 28]);
      put32(b, at, u32(r, [L.size, L.hdrLen, 32, 24]));
      return { bytes: b, label: `ext.hdr.${at}` };
    }
    case 'recsize':
      if (!sub) break;
      put32(b, sub.recSizeAt, r.pick([0, 4, 8, 12, 16, 20, 24, 0xffffffff, 0x80000000, sub.recSize + 4, sub.recSize - 4]));
      return { bytes: b, label: `ext.${sub.name}.recsize` };
    case 'num':
      if (!sec) break;
      put32(b, sec.at + 4, r.pick([0, sec.num + 1, 0xffffffff, 0x10000000, 0x7fffffff, sec.num * 2]));
      return { bytes: b, label: `ext.${sub!.name}.num` };
    case 'secname':
      if (!sec) break;
      put32(b, sec.at, btf ? r.pick([btf.strLen, 0xffffffff, r.pick(btf.strStarts), r.int(btf.strLen)]) : r.u32());
      return { bytes: b, label: `ext.${sub!.name}.secname` };
    case 'record': {
      if (!sec || !sec.recs.length) break;
      const rec = r.pick(sec.recs);
      const strs = btf ? btf.strStarts : [0];
      const types = btf?.types.length ?? 0;
      if (sub!.name === 'core_relo') {
        const f = r.pick(['insn', 'type', 'access', 'access', 'kind'] as const);
        if (f === 'insn') put32(b, rec, r.pick([0xfffffff8, 4, 0x100000, get32(b, rec) + 8, get32(b, rec) + 4, u32(r)]));
        else if (f === 'type') put32(b, rec + 4, r.pick([0, types, types + 1, 0xffffffff, 1 + r.int(Math.max(1, types))]));
        else if (f === 'access') put32(b, rec + 8, r.chance(0.8) ? r.pick(strs) : u32(r));
        else put32(b, rec + 12, r.pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xffffffff]));
        return { bytes: b, label: `ext.core.${f}` };
      }
      const w = r.int(sub!.recSize / 4);
      put32(b, rec + w * 4, w === 0 ? r.pick([0xfffffff8, 4, get32(b, rec) + 8, u32(r)]) : r.chance(0.5) ? r.pick(strs) : u32(r, [types]));
      return { bytes: b, label: `ext.${sub!.name}.rec${w}` };
    }
    case 'truncate':
      return { bytes: truncate(b, r).bytes, label: 'ext.truncate' };
  }
  return { bytes: bitFlips(b, r).bytes, label: 'ext.flip' };
}

// ---------------------------------------------------------------------------------------------
// Objects

/** Applies a BTF or .BTF.ext mutation to the section inside an object, moving it to the end of the
 * file when its size changes. */
function inSection(b: Uint8Array, L: ElfLayout, which: 'btf' | 'ext', r: Rng): Mutated {
  const loc = which === 'btf' ? L.btf : L.ext;
  if (!loc) return sectionHeader(b, L, r);
  const size = which === 'btf' ? L.btf!.layout.size : L.ext!.layout.size;
  if (loc.offset + size > b.length) return { bytes: b, label: `${which}.gone` };
  const data = b.slice(loc.offset, loc.offset + size);
  const m = which === 'btf' ? mutateBtf(data, L.btf!.layout, r) : mutateExt(data, L.ext!.layout, L.btf?.layout, r);
  if (m.bytes.length === size) {
    b.set(m.bytes, loc.offset);
    return { bytes: b, label: m.label };
  }
  return { bytes: replaceSection(b, L, loc.index, m.bytes), label: m.label };
}

export function mutateObject(b: Uint8Array, L: ElfLayout, r: Rng): Mutated {
  const m = r.weighted<(b: Uint8Array, L: ElfLayout, r: Rng) => Mutated>([
    [2, (x, _L, rr) => bitFlips(x, rr)],
    [1, (x, _L, rr) => byteSmash(x, rr)],
    [1, (x, LL, rr) => truncate(x, rr, LL.sections.flatMap((s) => [s.offset, s.offset + s.size, s.hdrAt]))],
    [0.5, (x, _L, rr) => shift(x, rr)],
    [1, elfHeader],
    [4, sectionHeader],
    [3, symbol],
    [3, relocation],
    [1, stringTable],
    [2, instruction],
    [7, (x, LL, rr) => inSection(x, LL, 'btf', rr)],
    [4, (x, LL, rr) => inSection(x, LL, 'ext', rr)],
  ]);
  return m(b, L, r);
}
