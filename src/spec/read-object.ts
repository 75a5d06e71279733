// Reading a BPF object file for BpfObject.open(path) without its DWARF.
//
// A clang -g object is mostly DWARF (.debug_info, .debug_str, their relocations: ~90% of a typical
// 600 KB object) that open never looks at: BTF carries the types and line info. Reading the whole
// file into a fresh buffer costs a page fault per 4 KB (about 15 µs each in a VM), most of a repeated
// open. So the usual case builds a compact image: the ELF header, the section headers and the other
// sections, each at a new offset (same alignment mod 8), with the DWARF sections turned into
// SHT_NOBITS headers of the same name and size, which parseObject skips exactly like the originals.
// The image is only used when it parses: on any error the caller re-reads the whole file and
// parses that, so errors (and their offsets) are the file's own. Anything unusual (not a plain
// ELF64 LE layout, a skipped relocation section the parser would have rejected, a short read) gets
// the whole file at once.

import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { REL_SIZE, RELA_SIZE, SHDR_SIZE, SHF, SHT } from '../../elf/index.js';

const EHDR_SIZE = 64;
/** ".debug" */
const DEBUG = [0x2e, 0x64, 0x65, 0x62, 0x75, 0x67];

export interface ObjectFileBytes {
  bytes: Uint8Array;
  /** True when `bytes` is the compact image: a parse error must be reproduced on readWholeFile(). */
  compact: boolean;
}

export function readObjectFile(path: string): ObjectFileBytes {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    const bytes = st.isFile() ? readCompact(fd, st.size) : undefined;
    return bytes ? { bytes, compact: true } : { bytes: readFileSync(fd), compact: false };
  } finally {
    closeSync(fd);
  }
}

/** Every byte of the file. */
export function readWholeFile(path: string): Uint8Array {
  return readFileSync(path);
}

/** pread of `len` bytes at file offset `pos` into bytes[off..]; false on a short file. */
function readAt(fd: number, bytes: Uint8Array, off: number, len: number, pos: number): boolean {
  let done = 0;
  while (done < len) {
    const n = readSync(fd, bytes, off + done, len - done, pos + done);
    if (n === 0) return false;
    done += n;
  }
  return true;
}

/** The compact image, or undefined when the file needs reading whole. */
function readCompact(fd: number, size: number): Uint8Array | undefined {
  const ehdr = new Uint8Array(EHDR_SIZE);
  if (size < EHDR_SIZE || !readAt(fd, ehdr, 0, EHDR_SIZE, 0)) return undefined;
  const ev = new DataView(ehdr.buffer);
  // "\x7fELF", ELFCLASS64, little-endian; anything else goes to the parser whole for its error.
  if (ev.getUint32(0, true) !== 0x464c457f || ehdr[4] !== 2 || ehdr[5] !== 1) return undefined;
  const shoff = ev.getUint32(40, true);
  const phnum = ev.getUint16(56, true);
  const shnum = ev.getUint16(60, true);
  const shstrndx = ev.getUint16(62, true);
  // Program headers (not in BPF objects), extended numbering and odd header tables: read everything.
  if (ev.getUint32(44, true) !== 0 || phnum !== 0 || ev.getUint16(58, true) !== SHDR_SIZE || shnum === 0) return undefined;
  if (shstrndx === 0 || shstrndx >= shnum || shoff < EHDR_SIZE || shoff + shnum * SHDR_SIZE > size) return undefined;
  const shdrs = new Uint8Array(shnum * SHDR_SIZE);
  if (!readAt(fd, shdrs, 0, shdrs.length, shoff)) return undefined;
  const sv = new DataView(shdrs.buffer);

  const type = new Uint32Array(shnum);
  for (let i = 0; i < shnum; i++) {
    const at = i * SHDR_SIZE;
    type[i] = sv.getUint32(at + 4, true);
    // 4 GB offsets or sizes, or contents past the end: the parser reports them, from the whole file.
    if (sv.getUint32(at + 28, true) !== 0 || sv.getUint32(at + 36, true) !== 0) return undefined;
    if (type[i] !== SHT.NOBITS && type[i] !== SHT.NULL && sv.getUint32(at + 24, true) + sv.getUint32(at + 32, true) > size) return undefined;
  }
  if (type[shstrndx] === SHT.NOBITS) return undefined;
  const strOff = sv.getUint32(shstrndx * SHDR_SIZE + 24, true);
  const names = new Uint8Array(sv.getUint32(shstrndx * SHDR_SIZE + 32, true));
  if (!readAt(fd, names, 0, names.length, strOff)) return undefined;

  // DWARF: a PROGBITS section named .debug*, neither allocated nor executable (parseObject skips
  // such a section whatever its name), and the REL/RELA sections that apply to one.
  const isDebug = (i: number): boolean => {
    if (type[i] !== SHT.PROGBITS) return false;
    const at = i * SHDR_SIZE;
    if (sv.getUint32(at + 8, true) & (SHF.ALLOC | SHF.EXECINSTR) || sv.getUint32(at + 12, true) !== 0) return false;
    const name = sv.getUint32(at, true);
    if (name + DEBUG.length > names.length) return false;
    for (let k = 0; k < DEBUG.length; k++) if (names[name + k] !== DEBUG[k]) return false;
    return true;
  };
  const skip = new Uint8Array(shnum);
  for (let i = 1; i < shnum; i++) {
    const t = type[i]!;
    if (isDebug(i)) skip[i] = 1;
    else if ((t === SHT.REL || t === SHT.RELA) && isDebug(sv.getUint32(i * SHDR_SIZE + 44, true))) {
      const at = i * SHDR_SIZE;
      // What ElfFile checks on every relocation section, so that dropping one cannot hide an error.
      const entsize = t === SHT.RELA ? RELA_SIZE : REL_SIZE;
      const link = sv.getUint32(at + 40, true);
      if (sv.getUint32(at + 56, true) !== entsize || sv.getUint32(at + 60, true) !== 0) return undefined;
      if (sv.getUint32(at + 32, true) % entsize) return undefined;
      if (link !== 0 && (link >= shnum || (type[link] !== SHT.SYMTAB && type[link] !== SHT.DYNSYM))) return undefined;
      skip[i] = 1;
    }
  }

  // Layout: header, section headers, then each kept section at its file alignment mod 8.
  const newOff = new Float64Array(shnum);
  let end = EHDR_SIZE + shdrs.length;
  for (let i = 1; i < shnum; i++) {
    const t = type[i]!;
    if (t === SHT.NULL || t === SHT.NOBITS || skip[i]) continue;
    const off = sv.getUint32(i * SHDR_SIZE + 24, true);
    end += (off - end) & 7;
    newOff[i] = end;
    end += sv.getUint32(i * SHDR_SIZE + 32, true);
  }
  // Every byte below is written (copied, read or zeroed), so the unzeroed allocation is safe.
  const buf = Buffer.allocUnsafeSlow(end);
  const out = new Uint8Array(buf.buffer, buf.byteOffset, end);
  out.set(ehdr, 0);
  const ov = new DataView(out.buffer, out.byteOffset, end);
  ov.setUint32(40, EHDR_SIZE, true);
  out.set(shdrs, EHDR_SIZE);
  let filled = EHDR_SIZE + shdrs.length;
  for (let i = 1; i < shnum; i++) {
    const at = EHDR_SIZE + i * SHDR_SIZE;
    if (skip[i]) {
      ov.setUint32(at + 4, SHT.NOBITS, true);
      ov.setUint32(at + 24, 0, true);
      continue;
    }
    const t = type[i]!;
    if (t === SHT.NULL || t === SHT.NOBITS) continue;
    const pos = newOff[i]!;
    const len = sv.getUint32(i * SHDR_SIZE + 32, true);
    out.fill(0, filled, pos);
    ov.setUint32(at + 24, pos, true);
    if (i === shstrndx) out.set(names, pos);
    else if (!readAt(fd, out, pos, len, sv.getUint32(i * SHDR_SIZE + 24, true))) return undefined;
    filled = pos + len;
  }
  return out;
}
