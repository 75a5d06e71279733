// Where the interesting fields of a clean seed are: section headers, symbols, relocations, string
// tables, instructions, and inside .BTF / .BTF.ext every header field, type record, member, string
// and ext record. Structure-aware mutators use this map to hit the fields a parser trusts (counts,
// offsets, type ids, string offsets) instead of spending most inputs on bytes nobody reads.
//
// The map is computed once per seed from the *unmutated* bytes, with independent little walkers (not
// the parsers under test), so a parser bug cannot hide the fields it mishandles.

import { ElfFile, SHT } from '../../elf/index.js';

export interface BtfTypeLoc {
  /** Byte offset of the record within the BTF blob. */
  at: number;
  id: number;
  kind: number;
  vlen: number;
  /** Record length in 32-bit words. */
  words: number;
}

export interface BtfLayout {
  size: number;
  hdrLen: number;
  /** Absolute (within the blob) start and length of the type and string sections. */
  typeAt: number;
  typeLen: number;
  strAt: number;
  strLen: number;
  types: BtfTypeLoc[];
  /** Offsets (relative to the string section) where a string starts. */
  strStarts: number[];
}

export interface ExtSubLayout {
  name: 'func_info' | 'line_info' | 'core_relo';
  /** Offset of the record-size word. */
  recSizeAt: number;
  recSize: number;
  /** Per ELF section: where its header is and where its records are. */
  secs: { at: number; num: number; recs: number[] }[];
}

export interface ExtLayout {
  size: number;
  hdrLen: number;
  subs: ExtSubLayout[];
}

export interface SectionLoc {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  /** File offset of this section's header. */
  hdrAt: number;
}

export interface ElfLayout {
  size: number;
  shoff: number;
  sections: SectionLoc[];
  symtab: { offset: number; count: number } | undefined;
  rels: { offset: number; count: number; target: number }[];
  strtabs: { offset: number; size: number }[];
  exec: { offset: number; size: number }[];
  btf: { index: number; offset: number; layout: BtfLayout } | undefined;
  ext: { index: number; offset: number; layout: ExtLayout } | undefined;
}

const FIXED = [-1, 1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0];
const PER_VLEN = [0, 0, 0, 0, 3, 3, 2, 0, 0, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 3];

/** Walks a clean little-endian BTF blob. */
export function btfLayout(b: Uint8Array): BtfLayout {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hdrLen = dv.getUint32(4, true);
  const typeAt = hdrLen + dv.getUint32(8, true);
  const typeLen = dv.getUint32(12, true);
  const strAt = hdrLen + dv.getUint32(16, true);
  const strLen = dv.getUint32(20, true);
  const types: BtfTypeLoc[] = [];
  let p = typeAt;
  let id = 1;
  while (p + 12 <= typeAt + typeLen) {
    const info = dv.getUint32(p + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const fixed = FIXED[kind] ?? -1;
    if (fixed < 0) break;
    const words = 3 + fixed + vlen * PER_VLEN[kind]!;
    types.push({ at: p, id: id++, kind, vlen, words });
    p += words * 4;
  }
  const strStarts: number[] = [0];
  for (let i = 0; i + 1 < strLen; i++) if (b[strAt + i] === 0) strStarts.push(i + 1);
  return { size: b.length, hdrLen, typeAt, typeLen, strAt, strLen, types, strStarts };
}

/** Walks a clean little-endian .BTF.ext blob. */
export function extLayout(b: Uint8Array): ExtLayout {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hdrLen = dv.getUint32(4, true);
  const subs: ExtSubLayout[] = [];
  const names = ['func_info', 'line_info', 'core_relo'] as const;
  for (let k = 0; k < 3; k++) {
    const field = 8 + k * 8;
    if (field + 8 > hdrLen) break;
    const off = dv.getUint32(field, true);
    const len = dv.getUint32(field + 4, true);
    if (!len) continue;
    const start = hdrLen + off;
    const recSize = dv.getUint32(start, true);
    const secs: ExtSubLayout['secs'] = [];
    let p = start + 4;
    while (p + 8 <= start + len && recSize > 0) {
      const num = dv.getUint32(p + 4, true);
      const recs: number[] = [];
      for (let i = 0; i < num; i++) recs.push(p + 8 + i * recSize);
      secs.push({ at: p, num, recs });
      p += 8 + num * recSize;
    }
    subs.push({ name: names[k]!, recSizeAt: start, recSize, secs });
  }
  return { size: b.length, hdrLen, subs };
}

export function elfLayout(bytes: Uint8Array): ElfLayout {
  const elf = ElfFile.parse(bytes);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(dv.getBigUint64(40, true));
  const sections: SectionLoc[] = elf.sections.map((s) => ({
    index: s.index, name: s.name, type: s.type, flags: s.flags, offset: s.offset, size: s.size, hdrAt: shoff + s.index * 64,
  }));
  const symtab = elf.symtabSection ? { offset: elf.symtabSection.offset, count: elf.symtabSection.size / 24 } : undefined;
  const rels = elf.sections.filter((s) => s.type === SHT.REL).map((s) => ({ offset: s.offset, count: s.size / 16, target: s.info }));
  const strtabs = elf.sections.filter((s) => s.type === SHT.STRTAB).map((s) => ({ offset: s.offset, size: s.size }));
  const exec = elf.sections.filter((s) => s.type === SHT.PROGBITS && (s.flags & 4) !== 0).map((s) => ({ offset: s.offset, size: s.size }));
  const btfSec = elf.section('.BTF');
  const extSec = elf.section('.BTF.ext');
  return {
    size: bytes.length, shoff, sections, symtab, rels, strtabs, exec,
    btf: btfSec ? { index: btfSec.index, offset: btfSec.offset, layout: btfLayout(btfSec.data) } : undefined,
    ext: extSec ? { index: extSec.index, offset: extSec.offset, layout: extLayout(extSec.data) } : undefined,
  };
}

/** Fields of a BTF type record that hold type ids, as word indices within the record. */
export function typeRefWords(t: BtfTypeLoc): number[] {
  switch (t.kind) {
    case 2: case 8: case 9: case 10: case 11: case 12: case 14: case 17: case 18:
      return [2];
    case 3:
      return [3, 4];
    case 4: case 5:
      return Array.from({ length: t.vlen }, (_, i) => 3 + i * 3 + 1);
    case 13:
      return [2, ...Array.from({ length: t.vlen }, (_, i) => 3 + i * 2 + 1)];
    case 15:
      return Array.from({ length: t.vlen }, (_, i) => 3 + i * 3);
    default:
      return [];
  }
}

/** Fields of a BTF type record that hold string offsets, as word indices within the record. */
export function nameWords(t: BtfTypeLoc): number[] {
  const out = [0];
  switch (t.kind) {
    case 4: case 5: case 19:
      for (let i = 0; i < t.vlen; i++) out.push(3 + i * 3);
      break;
    case 6: case 13:
      for (let i = 0; i < t.vlen; i++) out.push(3 + i * 2);
      break;
  }
  return out;
}
