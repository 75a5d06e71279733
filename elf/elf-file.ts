import { BpfError, ParseError } from '../src/errors.js';
import {
  EHDR_SIZE,
  PHDR_SIZE,
  PN_XNUM,
  REL_SIZE,
  RELA_SIZE,
  SHDR_SIZE,
  SHN_LORESERVE,
  SHN_XINDEX,
  SHT,
  SYM_SIZE,
} from './constants.js';
import { parseNotes, type ElfNote } from './notes.js';
import { StringTable } from './string-table.js';

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  addr: bigint;
  /** File offset of the contents. */
  offset: number;
  /** Size in bytes; for NOBITS the in-memory size (no file bytes back it). */
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** zero-copy subarray of the file; empty for NOBITS */
  data: Uint8Array;
}

export interface ElfSymbol {
  index: number;
  name: string;
  /** st_value; exact below 2^53 (all BPF objects and user-space binaries), rounded above. */
  value: number;
  /** st_value exactly, for kernel addresses (0xffffffff8…) that do not fit a double. */
  value64: bigint;
  /** st_size; not validated against anything (consumers check it against the section). */
  size: number;
  type: number;
  bind: number;
  visibility: number;
  /** The section index, with SHN_XINDEX already resolved through SHT_SYMTAB_SHNDX. */
  shndx: number;
}

export interface ElfRelocation {
  /** r_offset: section-relative in relocatable objects, a virtual address in executables. */
  offset: number;
  type: number;
  /** Index into the symbol table the relocation section links to (validated). */
  symbol: number;
  /** r_addend for SHT_RELA; 0n for SHT_REL (the addend is then in the relocated bytes). */
  addend: bigint;
}

export interface ElfProgramHeader {
  index: number;
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: number;
  memsz: number;
  align: number;
  /** zero-copy subarray of the file (p_filesz bytes at p_offset) */
  data: Uint8Array;
}

const ELF_MAGIC = 0x464c457f; // "\x7fELF" read little-endian
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const EHDR = 'ELF header';
const SHDRS = 'section headers';
const PHDRS = 'program headers';

/**
 * An ELF64 little-endian file, parsed from memory. Everything the constructor exposes is validated
 * against the file size; symbol tables are decoded on first use, so a caller that only wants
 * .BTF out of a vmlinux does not pay for its 200k symbols. Offsets in ParseErrors are file offsets
 * for the 'ELF header', 'section headers' and 'program headers' pseudo-sections and
 * section-relative otherwise.
 */
export class ElfFile {
  readonly bytes: Uint8Array;
  readonly type: number;
  readonly machine: number;
  readonly osabi: number;
  readonly entry: bigint;
  readonly flags: number;
  /** Index 0 is the null section (the array is empty only for files without section headers). */
  readonly sections: readonly ElfSection[];
  readonly programHeaders: readonly ElfProgramHeader[];
  /** The SHT_SYMTAB section, if any. */
  readonly symtabSection: ElfSection | undefined;
  /** The SHT_DYNSYM section, if any. */
  readonly dynsymSection: ElfSection | undefined;

  private readonly view: DataView;
  private readonly byName: Map<string, ElfSection>;
  private readonly symbolCache = new Map<number, readonly ElfSymbol[]>();
  private readonly stringCache = new Map<number, StringTable>();

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.checkIdent();
    const v = this.view;
    this.type = v.getUint16(16, true);
    this.machine = v.getUint16(18, true);
    this.osabi = bytes[7]!;
    this.entry = v.getBigUint64(24, true);
    this.flags = v.getUint32(48, true);

    this.sections = this.readSections();
    this.byName = new Map();
    for (const s of this.sections) if (!this.byName.has(s.name)) this.byName.set(s.name, s);
    this.validateLinks();
    this.symtabSection = this.sections.find((s) => s.type === SHT.SYMTAB);
    this.dynsymSection = this.sections.find((s) => s.type === SHT.DYNSYM);
    this.programHeaders = this.readProgramHeaders();
  }

  static parse(bytes: Uint8Array): ElfFile {
    return new ElfFile(bytes);
  }

  /** The first section with this name. */
  section(name: string): ElfSection | undefined {
    return this.byName.get(name);
  }

  /** Symbols of SHT_SYMTAB (empty if none); index 0 is the null symbol. */
  get symbols(): readonly ElfSymbol[] {
    return this.symtabSection ? this.symbolsOf(this.symtabSection) : [];
  }

  /** Symbols of SHT_DYNSYM (empty if none); index 0 is the null symbol. */
  get dynamicSymbols(): readonly ElfSymbol[] {
    return this.dynsymSection ? this.symbolsOf(this.dynsymSection) : [];
  }

  /** Decodes a SHT_SYMTAB or SHT_DYNSYM section (cached). */
  symbolsOf(section: ElfSection): readonly ElfSymbol[] {
    const sec = this.own(section);
    if (sec.type !== SHT.SYMTAB && sec.type !== SHT.DYNSYM) {
      throw new BpfError(`section ${sec.name} is not a symbol table`, { cmd: 'open' });
    }
    let syms = this.symbolCache.get(sec.index);
    if (!syms) {
      syms = this.readSymbols(sec);
      this.symbolCache.set(sec.index, syms);
    }
    return syms;
  }

  /** Decodes a SHT_REL or SHT_RELA section, checking each symbol index against its symbol table. */
  relocations(relSection: ElfSection): ElfRelocation[] {
    const sec = this.own(relSection);
    const isRela = sec.type === SHT.RELA;
    if (!isRela && sec.type !== SHT.REL) {
      throw new BpfError(`section ${sec.name} is not a relocation section`, { cmd: 'open' });
    }
    const entsize = isRela ? RELA_SIZE : REL_SIZE;
    const symCount = sec.link === 0 ? 1 : this.sections[sec.link]!.size / SYM_SIZE;
    const v = this.view;
    const count = sec.size / entsize;
    const out: ElfRelocation[] = [];
    for (let i = 0; i < count; i++) {
      const at = sec.offset + i * entsize;
      const rel = i * entsize;
      const offset = this.u64(at, 'r_offset', sec.name, rel, 'relocation', i);
      const type = v.getUint32(at + 8, true);
      const symbol = v.getUint32(at + 12, true);
      if (symbol >= symCount) {
        const table = sec.link === 0 ? 'no symbol table' : `${this.sections[sec.link]!.name} has ${symCount} symbols`;
        throw new ParseError(`relocation ${i} refers to symbol ${symbol}, but ${table}`, {
          section: sec.name,
          offset: rel + 12,
        });
      }
      out.push({ offset, type, symbol, addend: isRela ? v.getBigInt64(at + 16, true) : 0n });
    }
    return out;
  }

  /** For a SHT_REL/RELA section, the section it applies to (sh_info); undefined when sh_info is 0. */
  relocationTarget(relSection: ElfSection): ElfSection | undefined {
    const sec = this.own(relSection);
    return sec.info === 0 ? undefined : this.sections[sec.info];
  }

  /** Decodes the entries of a SHT_NOTE section. */
  notes(section: ElfSection): ElfNote[] {
    const sec = this.own(section);
    return parseNotes(sec.data, sec.addralign, sec.name);
  }

  /** Decodes the entries of a PT_NOTE segment. */
  segmentNotes(ph: ElfProgramHeader): ElfNote[] {
    return parseNotes(ph.data, ph.align, `program header ${ph.index}`);
  }

  /** The string table in section `index` (sh_link of a symbol table, e_shstrndx, ...). */
  stringTable(index: number): StringTable {
    let table = this.stringCache.get(index);
    if (!table) {
      const sec = this.sections[index];
      if (!sec) throw new BpfError(`section index ${index} is out of range`, { cmd: 'open' });
      table = new StringTable(sec.data, sec.name || `#${index}`);
      this.stringCache.set(index, table);
    }
    return table;
  }

  private own(section: ElfSection): ElfSection {
    const sec = this.sections[section.index];
    if (sec !== section) throw new BpfError(`section ${section.name} does not belong to this ELF file`, { cmd: 'open' });
    return sec;
  }

  private checkIdent(): void {
    const b = this.bytes;
    if (b.length < 4 || this.view.getUint32(0, true) !== ELF_MAGIC) {
      throw new ParseError('not an ELF file (bad magic)', { section: EHDR, offset: 0 });
    }
    if (b.length < 6) throw new ParseError('truncated ELF header', { section: EHDR, offset: b.length });
    if (b[4] !== ELFCLASS64) {
      throw new ParseError(
        b[4] === 1 ? '32-bit ELF files are not supported' : `invalid ELF class ${b[4]}`,
        { section: EHDR, offset: 4 },
      );
    }
    if (b[5] !== ELFDATA2LSB) {
      throw new ParseError(
        b[5] === 2 ? 'big-endian ELF files (and BPF objects) are not supported' : `invalid ELF data encoding ${b[5]}`,
        { section: EHDR, offset: 5 },
      );
    }
    if (b.length < EHDR_SIZE) {
      throw new ParseError(`truncated ELF header (${b.length} of ${EHDR_SIZE} bytes)`, { section: EHDR, offset: b.length });
    }
  }

  private readSections(): ElfSection[] {
    const v = this.view;
    const fileSize = this.bytes.length;
    const shoff = this.u64(40, 'e_shoff', EHDR, 40);
    const shentsize = v.getUint16(58, true);
    let shnum = v.getUint16(60, true);
    let shstrndx = v.getUint16(62, true);
    if (shoff === 0) {
      if (shnum !== 0) throw new ParseError(`e_shnum is ${shnum} but e_shoff is 0`, { section: EHDR, offset: 60 });
      return [];
    }
    if (shentsize !== SHDR_SIZE) {
      throw new ParseError(`e_shentsize is ${shentsize}, expected ${SHDR_SIZE}`, { section: EHDR, offset: 58 });
    }
    if (shoff > fileSize - SHDR_SIZE) {
      throw new ParseError(`e_shoff ${shoff} is past the end of the file (${fileSize} bytes)`, { section: EHDR, offset: 40 });
    }
    // Extended numbering: files with ≥ SHN_LORESERVE sections keep the real values in section 0.
    if (shnum === 0) shnum = this.u64(shoff + 32, 'section 0 sh_size (section count)', SHDRS, shoff + 32);
    if (shstrndx === SHN_XINDEX) shstrndx = v.getUint32(shoff + 40, true);
    if (shnum === 0 || shnum > Math.floor((fileSize - shoff) / SHDR_SIZE)) {
      throw new ParseError(`${shnum} section headers at offset ${shoff} do not fit in the file (${fileSize} bytes)`, {
        section: SHDRS,
        offset: shoff,
      });
    }
    if (shstrndx >= shnum) {
      throw new ParseError(`e_shstrndx ${shstrndx} is out of range (${shnum} sections)`, { section: EHDR, offset: 62 });
    }

    const nameOffsets = new Uint32Array(shnum);
    const sections: ElfSection[] = [];
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * SHDR_SIZE;
      nameOffsets[i] = v.getUint32(at, true);
      const type = v.getUint32(at + 4, true);
      const offset = this.u64(at + 24, 'sh_offset', SHDRS, at + 24, 'section header', i);
      const size = this.u64(at + 32, 'sh_size', SHDRS, at + 32, 'section header', i);
      const hasBytes = type !== SHT.NOBITS && type !== SHT.NULL;
      if (hasBytes && (offset > fileSize || size > fileSize - offset)) {
        throw new ParseError(`section header ${i}: contents [${offset}, +${size}) extend past the end of the file (${fileSize} bytes)`, {
          section: SHDRS,
          offset: at + 24,
        });
      }
      sections.push({
        index: i,
        name: '',
        type,
        flags: this.u64(at + 8, 'sh_flags', SHDRS, at + 8, 'section header', i),
        addr: v.getBigUint64(at + 16, true),
        offset,
        size,
        link: v.getUint32(at + 40, true),
        info: v.getUint32(at + 44, true),
        addralign: this.u64(at + 48, 'sh_addralign', SHDRS, at + 48, 'section header', i),
        entsize: this.u64(at + 56, 'sh_entsize', SHDRS, at + 56, 'section header', i),
        data: hasBytes ? this.bytes.subarray(offset, offset + size) : this.bytes.subarray(0, 0),
      });
    }

    if (shstrndx !== 0) {
      const strtab = new StringTable(sections[shstrndx]!.data, sections[shstrndx]!.name || '.shstrtab');
      for (let i = 0; i < shnum; i++) sections[i]!.name = strtab.get(nameOffsets[i]!, 'sh_name of section header', i);
    }
    return sections;
  }

  /** Checks the cross-references between sections that the decoders below rely on. */
  private validateLinks(): void {
    const secs = this.sections;
    const fail = (s: ElfSection, msg: string, field: number): never => {
      const shoff = Number(this.view.getBigUint64(40, true));
      throw new ParseError(`section header ${s.index} (${s.name}): ${msg}`, {
        section: SHDRS,
        offset: shoff + s.index * SHDR_SIZE + field,
      });
    };
    const linked = (s: ElfSection, types: readonly number[], what: string): void => {
      const t = secs[s.link];
      if (!t || !types.includes(t.type)) fail(s, `sh_link ${s.link} is not a ${what}`, 40);
    };
    const table = (s: ElfSection, entsize: number): void => {
      if (s.entsize !== entsize) fail(s, `sh_entsize is ${s.entsize}, expected ${entsize}`, 56);
      if (s.size % entsize !== 0) fail(s, `sh_size ${s.size} is not a multiple of ${entsize}`, 32);
    };
    for (const s of secs) {
      switch (s.type) {
        case SHT.SYMTAB:
        case SHT.DYNSYM:
          table(s, SYM_SIZE);
          linked(s, [SHT.STRTAB], 'string table');
          break;
        case SHT.REL:
        case SHT.RELA:
          table(s, s.type === SHT.RELA ? RELA_SIZE : REL_SIZE);
          if (s.link !== 0) linked(s, [SHT.SYMTAB, SHT.DYNSYM], 'symbol table');
          if (s.info >= secs.length) fail(s, `sh_info ${s.info} is out of range (${secs.length} sections)`, 44);
          break;
        case SHT.SYMTAB_SHNDX:
          if (s.size % 4 !== 0) fail(s, `sh_size ${s.size} is not a multiple of 4`, 32);
          linked(s, [SHT.SYMTAB], 'symbol table');
          break;
      }
    }
  }

  private readSymbols(sec: ElfSection): ElfSymbol[] {
    const v = this.view;
    const strings = this.stringTable(sec.link);
    const count = sec.size / SYM_SIZE;
    const shnum = this.sections.length;
    const xindex = sec.type === SHT.SYMTAB
      ? this.sections.find((s) => s.type === SHT.SYMTAB_SHNDX && s.link === sec.index)
      : undefined;
    const referrer = `${sec.name}: symbol`;
    const syms: ElfSymbol[] = [];
    for (let i = 0; i < count; i++) {
      const at = sec.offset + i * SYM_SIZE;
      const info = this.bytes[at + 4]!;
      let shndx = v.getUint16(at + 6, true);
      if (shndx === SHN_XINDEX) {
        if (!xindex || (i + 1) * 4 > xindex.size) {
          throw new ParseError(`symbol ${i} uses SHN_XINDEX but has no SHT_SYMTAB_SHNDX entry`, {
            section: sec.name,
            offset: i * SYM_SIZE + 6,
          });
        }
        shndx = v.getUint32(xindex.offset + i * 4, true);
        if (shndx >= shnum) {
          throw new ParseError(`symbol ${i}: extended section index ${shndx} is out of range (${shnum} sections)`, {
            section: xindex.name,
            offset: i * 4,
          });
        }
      } else if (shndx < SHN_LORESERVE && shndx >= shnum) {
        throw new ParseError(`symbol ${i}: section index ${shndx} is out of range (${shnum} sections)`, {
          section: sec.name,
          offset: i * SYM_SIZE + 6,
        });
      }
      const lo = v.getUint32(at + 8, true);
      const hi = v.getUint32(at + 12, true);
      syms.push({
        index: i,
        name: strings.get(v.getUint32(at, true), referrer, i),
        value: hi * 0x100000000 + lo,
        value64: (BigInt(hi) << 32n) | BigInt(lo),
        size: v.getUint32(at + 20, true) * 0x100000000 + v.getUint32(at + 16, true),
        type: info & 0xf,
        bind: info >> 4,
        visibility: this.bytes[at + 5]! & 0x3,
        shndx,
      });
    }
    return syms;
  }

  private readProgramHeaders(): ElfProgramHeader[] {
    const v = this.view;
    const fileSize = this.bytes.length;
    const phoff = this.u64(32, 'e_phoff', EHDR, 32);
    const phentsize = v.getUint16(54, true);
    let phnum = v.getUint16(56, true);
    if (phnum === PN_XNUM && this.sections.length > 0) phnum = this.sections[0]!.info;
    if (phnum === 0) return [];
    if (phentsize !== PHDR_SIZE) {
      throw new ParseError(`e_phentsize is ${phentsize}, expected ${PHDR_SIZE}`, { section: EHDR, offset: 54 });
    }
    if (phoff > fileSize || phnum > Math.floor((fileSize - phoff) / PHDR_SIZE)) {
      throw new ParseError(`${phnum} program headers at offset ${phoff} do not fit in the file (${fileSize} bytes)`, {
        section: PHDRS,
        offset: phoff,
      });
    }
    const out: ElfProgramHeader[] = [];
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * PHDR_SIZE;
      const offset = this.u64(at + 8, 'p_offset', PHDRS, at + 8, 'program header', i);
      const filesz = this.u64(at + 32, 'p_filesz', PHDRS, at + 32, 'program header', i);
      if (offset > fileSize || filesz > fileSize - offset) {
        throw new ParseError(`program header ${i}: contents [${offset}, +${filesz}) extend past the end of the file (${fileSize} bytes)`, {
          section: PHDRS,
          offset: at + 8,
        });
      }
      out.push({
        index: i,
        type: v.getUint32(at, true),
        flags: v.getUint32(at + 4, true),
        offset,
        vaddr: v.getBigUint64(at + 16, true),
        paddr: v.getBigUint64(at + 24, true),
        filesz,
        memsz: this.u64(at + 40, 'p_memsz', PHDRS, at + 40, 'program header', i),
        align: this.u64(at + 48, 'p_align', PHDRS, at + 48, 'program header', i),
        data: this.bytes.subarray(offset, offset + filesz),
      });
    }
    return out;
  }

  /**
   * A u64 field that must be an exact JS number (every offset and size of a sane file is). The
   * record kind and index only go into the message, built on failure.
   */
  private u64(at: number, field: string, section: string, offset: number, kind?: string, index?: number): number {
    const lo = this.view.getUint32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    if (hi > 0x1fffff) {
      const what = kind === undefined ? field : `${kind} ${index}: ${field}`;
      const hex = `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}`;
      throw new ParseError(`${what} ${hex} is too large`, { section, offset });
    }
    return hi * 0x100000000 + lo;
  }
}
