// ELF object → ObjectSpec, following libbpf's open sequence: collect sections, externs, fix up BTF,
// then maps (user, global data, kconfig), programs and relocations.

import { BTF_KIND, Btf, fixupDatasecs, parseBtfExt, type BtfExt } from '../../btf/index.js';
import { ElfFile, EM_BPF, SHF, SHN_UNDEF, SHT, STB, STT, STV, type ElfSection, type ElfSymbol } from '../../elf/index.js';
import { BpfError, ParseError } from '../errors.js';
import { INSN_SIZE, Insns } from '../insn.js';
import { findSectionDef } from '../section-defs.js';
import { collectExterns } from './externs.js';
import { isMapInMap, parseBtfMapDef } from './map-defs.js';
import { MAP_FLAG, MAP_TYPE, PROG_FLAG } from './map-types.js';
import { collectStructOpsRelos, isStructOpsSection, structOpsMaps } from './struct-ops.js';
import type { ExternSpec, MapOrigin, MapSpec, ObjectSpec, ProgramSpec, RelocDesc } from './types.js';

export interface ParseOptions {
  /** The object name (libbpf: the file's basename up to its first '.'). */
  name: string;
  /** Ignore unknown attributes in BTF map definitions instead of failing (libbpf's relaxed_maps). */
  relaxedMaps?: boolean;
}

type SecKind = 'data' | 'rodata' | 'bss' | 'reloc' | 'struct_ops';

/** libbpf's internal_map_name: the object name's prefix + the section name, at most 15 characters. */
export function internalMapName(objName: string, secName: string): string {
  const sfxLen = Math.min(Math.max(7, secName.length), 15);
  const custom = secName.indexOf('.', 1) !== -1;
  const pfxLen = custom ? 0 : Math.min(15 - sfxLen, objName.length);
  return (objName.slice(0, pfxLen) + secName.slice(0, sfxLen)).replace(/[^A-Za-z0-9_.]/g, '_');
}

export function parseObject(bytes: Uint8Array, opts: ParseOptions): ObjectSpec {
  const elf = ElfFile.parse(bytes);
  if (elf.type !== 1 /* ET_REL */ || (elf.machine !== 0 && elf.machine !== EM_BPF)) {
    throw new ParseError(`not a BPF object file (e_type ${elf.type}, e_machine ${elf.machine}); compile with clang -target bpf -c`, { section: 'ELF header' });
  }
  if (!elf.symbols.length) {
    throw new ParseError('no symbol table; was the object stripped? BPF objects need their .symtab', { section: '.symtab' });
  }

  let license = '';
  let kernVersion = 0;
  let btfSection: ElfSection | undefined;
  let btfExtSection: ElfSection | undefined;
  let mapsShndx = -1;
  let textShndx = -1;
  const secKind = new Map<number, SecKind>();
  const execSections: ElfSection[] = [];

  for (const sec of elf.sections) {
    if (sec.index === 0) continue;
    const name = sec.name;
    if (name === 'license') {
      const nul = sec.data.indexOf(0);
      license = new TextDecoder().decode(sec.data.subarray(0, nul < 0 ? sec.data.length : nul));
    } else if (name === 'version') {
      if (sec.size !== 4) throw new ParseError(`invalid kernel version section size ${sec.size}, expected 4`, { section: name, offset: sec.offset });
      kernVersion = new DataView(sec.data.buffer, sec.data.byteOffset, 4).getUint32(0, true);
    } else if (name === 'maps') {
      throw new BpfError("legacy map definitions in the 'maps' section are not supported", {
        cmd: 'open', errno: 95, advice: 'declare maps in SEC(".maps") with __uint/__type (BTF-defined maps), as libbpf 1.0+ requires',
      });
    } else if (name === '.maps') {
      mapsShndx = sec.index;
    } else if (name === '.BTF') {
      btfSection = sec;
    } else if (name === '.BTF.ext') {
      btfExtSection = sec;
    } else if (sec.type === SHT.PROGBITS && sec.size > 0) {
      if (sec.flags & SHF.EXECINSTR) {
        if (name === '.text') textShndx = sec.index;
        execSections.push(sec);
      } else if (name === '.data' || name.startsWith('.data.')) {
        secKind.set(sec.index, 'data');
      } else if (name === '.rodata' || name.startsWith('.rodata.')) {
        secKind.set(sec.index, 'rodata');
      } else if (isStructOpsSection(name)) {
        secKind.set(sec.index, 'struct_ops');
      }
    } else if (sec.type === SHT.NOBITS && (name === '.bss' || name.startsWith('.bss.'))) {
      secKind.set(sec.index, 'bss');
    } else if (sec.type === SHT.REL) {
      secKind.set(sec.index, 'reloc');
    }
  }

  let btf: Btf | undefined;
  let btfExt: BtfExt | undefined;
  if (btfSection) {
    btf = Btf.parse(btfSection.data);
    if (btfExtSection) btfExt = parseBtfExt(btfExtSection.data, btf);
  }

  const externs = collectExterns(elf, btf);

  if (btf) {
    const symByName = new Map<string, ElfSymbol>();
    for (const s of elf.symbols) {
      if (s.type === STT.OBJECT && s.shndx !== SHN_UNDEF && s.name) symByName.set(s.name, s);
    }
    fixupDatasecs(
      btf,
      (name) => elf.section(name)?.size,
      (_sec, varName) => {
        const s = symByName.get(varName);
        if (!s) return undefined;
        return { offset: s.value, hidden: s.visibility === STV.HIDDEN || s.visibility === STV.INTERNAL };
      },
    );
  }

  const programs = collectPrograms(elf, execSections, textShndx);
  const maps: MapSpec[] = [];
  if (mapsShndx >= 0) maps.push(...userMaps(elf, btf, mapsShndx, !opts.relaxedMaps));
  for (const [index, kind] of [...secKind].sort((a, b) => a[0] - b[0])) {
    if (kind === 'reloc' || kind === 'struct_ops') continue;
    const sec = elf.sections[index]!;
    maps.push(globalDataMap(opts.name, btf, sec, kind));
  }
  const kcfg = kconfigMap(opts.name, btf, externs);
  if (kcfg) maps.push(kcfg);
  // Struct_ops maps come last, in section order, as libbpf's init_maps creates them.
  for (const [index, kind] of [...secKind].sort((a, b) => a[0] - b[0])) {
    if (kind === 'struct_ops') maps.push(...structOpsMaps(btf, elf.sections[index]!));
  }

  for (const [index, kind] of secKind) {
    if (kind !== 'reloc') continue;
    const rel = elf.sections[index]!;
    const target = elf.sections[rel.info];
    if (!target) throw new ParseError(`relocation section targets section ${rel.info}, which does not exist`, { section: rel.name, offset: rel.offset });
    if (target.index === mapsShndx) {
      collectMapRelos(elf, btf, rel, maps, programs, mapsShndx, textShndx);
    } else if (secKind.get(target.index) === 'struct_ops') {
      collectStructOpsRelos(elf, btf!, rel, target, maps, programs);
    } else if (target.flags & SHF.EXECINSTR) {
      collectProgRelos(elf, rel, target, programs, maps, externs, { textShndx, mapsShndx, secKind });
    }
  }
  for (const p of programs) p.relocs.sort((a, b) => a.insnIdx - b.insnIdx);

  return { name: opts.name, elf, license, kernVersion, programs, maps, externs, btf, btfExt, textSectionIndex: textShndx };
}

function collectPrograms(elf: ElfFile, execSections: ElfSection[], textShndx: number): ProgramSpec[] {
  const progs: ProgramSpec[] = [];
  for (const sec of execSections) {
    const found: ElfSymbol[] = elf.symbols.filter((s) => s.shndx === sec.index && s.type === STT.FUNC);
    found.sort((a, b) => a.value - b.value);
    for (const sym of found) {
      if (sym.value % INSN_SIZE || sym.size % INSN_SIZE || sym.value + sym.size > sec.size) {
        throw new ParseError(`program '${sym.name}' at offset ${sym.value} (size ${sym.size}) crosses the section boundary or is misaligned`, { section: sec.name, offset: sec.offset + sym.value });
      }
      const isSubprog = sec.index === textShndx;
      if (!isSubprog && sym.bind === STB.LOCAL) {
        throw new BpfError(`sec '${sec.name}': program '${sym.name}' is static, which is not supported`, {
          cmd: 'open', errno: 95, program: sym.name, advice: 'remove "static" from the program function, or move it to .text as a subprogram',
        });
      }
      const global = sym.bind !== STB.LOCAL;
      const secName = sec.name.startsWith('?') ? sec.name.slice(1) : sec.name;
      const def = isSubprog ? undefined : findSectionDef(secName);
      let progFlags = 0;
      if (def?.flags.sleepable) progFlags |= PROG_FLAG.SLEEPABLE;
      if (def?.flags.xdpFrags) progFlags |= PROG_FLAG.XDP_HAS_FRAGS;
      progs.push({
        name: sym.name,
        sectionName: sec.name,
        sectionIndex: sec.index,
        secInsnOff: sym.value / INSN_SIZE,
        // A real copy: sec.data may be a Buffer, whose slice() is a view into the caller's bytes.
        insns: Uint8Array.prototype.slice.call(sec.data, sym.value, sym.value + sym.size),
        isSubprog,
        markBtfStatic: global && (sym.visibility === STV.HIDDEN || sym.visibility === STV.INTERNAL),
        sectionDef: def,
        relocs: [],
        progType: def?.progType,
        expectedAttachType: def?.expectedAttachType,
        progFlags,
        autoload: !isSubprog && !sec.name.startsWith('?'),
      });
    }
  }
  return progs;
}

function userMaps(elf: ElfFile, btf: Btf | undefined, shndx: number, strict: boolean): MapSpec[] {
  const sec = elf.sections[shndx]!;
  if (!btf) throw new ParseError('.maps section present but the object has no .BTF; compile with -g', { section: '.maps' });
  const secId = btf.findOne('.maps', BTF_KIND.DATASEC);
  if (secId === undefined) throw new ParseError("DATASEC '.maps' not found in BTF", { section: '.BTF' });
  const ds = btf.type(secId);
  if (ds.kind !== BTF_KIND.DATASEC) return [];
  return ds.vars.map((vi, varIndex) => {
    const v = btf.type(vi.type);
    if (v.kind !== BTF_KIND.VAR) throw new ParseError(`map #${varIndex}: unexpected BTF kind ${v.kind} in .maps`, { section: '.BTF' });
    const name = v.name;
    if (!name) throw new ParseError(`map #${varIndex}: empty name`, { section: '.maps' });
    if (vi.offset + vi.size > sec.size) throw new ParseError(`map '${name}': BTF data is corrupted (offset ${vi.offset} + size ${vi.size} beyond .maps)`, { section: '.maps' });
    if (v.linkage !== 1) throw new BpfError(`map '${name}': unsupported map linkage ${v.linkage === 0 ? 'static' : 'extern'}`, { cmd: 'open', map: name, errno: 95 });
    const def = btf.type(btf.skipModsAndTypedefs(v.type));
    const md = parseBtfMapDef(btf, name, def, strict);
    const toSpec = (d: typeof md, mapName: string, inner: MapSpec | undefined): MapSpec => ({
      name: mapName, kernelName: mapName.slice(0, 15), origin: 'user', sectionIndex: shndx, sectionOffset: vi.offset, btfVarIndex: varIndex,
      type: d.mapType, keySize: d.keySize, valueSize: d.valueSize,
      maxEntries: d.mapType === MAP_TYPE.RINGBUF || d.mapType === MAP_TYPE.USER_RINGBUF ? roundRingbufSize(d.maxEntries) : d.maxEntries,
      mapFlags: d.mapFlags, numaNode: d.numaNode, mapExtra: d.mapExtra, btfKeyTypeId: d.keyTypeId, btfValueTypeId: d.valueTypeId,
      pinning: d.pinning, inner, initSlots: [], initialData: undefined,
    });
    const inner = md.inner ? toSpec(md.inner, `${name}.inner`, undefined) : undefined;
    return toSpec(md, name, inner);
  });
}

/** The kernel wants ringbuf sizes to be a power-of-2 multiple of the page size; libbpf rounds up. */
export function roundRingbufSize(size: number, pageSize = 4096): number {
  if (size === 0) return 0;
  let pages = 1;
  while (pages * pageSize < size) pages *= 2;
  return pages * pageSize;
}

/** The kernel refuses array map values above INT_MAX bytes (E2BIG); a larger section is corrupt. */
const MAX_VALUE_SIZE = 0x7fffffff;

function globalDataMap(objName: string, btf: Btf | undefined, sec: ElfSection, kind: 'data' | 'rodata' | 'bss'): MapSpec {
  // A NOBITS section's size is not backed by file bytes, so a corrupt header can claim anything.
  if (sec.size > MAX_VALUE_SIZE) {
    throw new ParseError(`section '${sec.name}' is ${sec.size} bytes, more than a map value can hold (${MAX_VALUE_SIZE})`, { section: sec.name });
  }
  let flags = kind === 'rodata' ? MAP_FLAG.RDONLY_PROG : 0;
  // Failures are fine here: '.rodata.str1.1' has no DATASEC.
  const datasecId = btf?.findOne(sec.name, BTF_KIND.DATASEC) ?? 0;
  if (btf && datasecId && hasNonStaticVar(btf, datasecId)) flags |= MAP_FLAG.MMAPABLE;
  const origin: MapOrigin = kind;
  return {
    name: sec.name, kernelName: internalMapName(objName, sec.name), origin, sectionIndex: sec.index, sectionOffset: 0, btfVarIndex: -1,
    type: MAP_TYPE.ARRAY, keySize: 4, valueSize: sec.size, maxEntries: 1, mapFlags: flags, numaNode: 0, mapExtra: 0n,
    btfKeyTypeId: 0, btfValueTypeId: datasecId, pinning: 0, inner: undefined, initSlots: [],
    // .bss is zeros: left implicit, so that a large .bss costs no memory until it is used (the image
    // is a fresh anonymous mapping), as in libbpf.
    initialData: kind === 'bss' ? undefined : sec.data.slice(),
  };
}

function hasNonStaticVar(btf: Btf, datasecId: number): boolean {
  const ds = btf.type(datasecId);
  if (ds.kind !== BTF_KIND.DATASEC) return false;
  return ds.vars.some((v) => {
    const t = btf.type(v.type);
    return t.kind === BTF_KIND.VAR && t.linkage !== 0;
  });
}

function kconfigMap(objName: string, btf: Btf | undefined, externs: ExternSpec[]): MapSpec | undefined {
  const kcfg = externs.filter((e) => e.kconfig);
  if (!kcfg.length) return undefined;
  const last = kcfg[kcfg.length - 1]!.kconfig!;
  const size = kcfg.reduce((end, e) => Math.max(end, e.kconfig!.dataOff + e.kconfig!.size), last.dataOff + last.size);
  if (size > MAX_VALUE_SIZE) throw new ParseError(`the .kconfig externs need ${size} bytes, more than a map value can hold (${MAX_VALUE_SIZE})`, { section: '.kconfig' });
  const datasecId = btf?.findOne('.kconfig', BTF_KIND.DATASEC) ?? 0;
  let flags = MAP_FLAG.RDONLY_PROG;
  if (btf && datasecId && hasNonStaticVar(btf, datasecId)) flags |= MAP_FLAG.MMAPABLE;
  return {
    name: '.kconfig', kernelName: internalMapName(objName, '.kconfig'), origin: 'kconfig', sectionIndex: -1, sectionOffset: 0, btfVarIndex: -1,
    type: MAP_TYPE.ARRAY, keySize: 4, valueSize: size, maxEntries: 1, mapFlags: flags, numaNode: 0, mapExtra: 0n,
    btfKeyTypeId: 0, btfValueTypeId: datasecId, pinning: 0, inner: undefined, initSlots: [], initialData: undefined,
  };
}

interface RelocContext {
  textShndx: number;
  mapsShndx: number;
  secKind: Map<number, SecKind>;
}

function collectProgRelos(
  elf: ElfFile, rel: ElfSection, target: ElfSection, programs: ProgramSpec[], maps: MapSpec[], externs: ExternSpec[], ctx: RelocContext,
): void {
  const progsInSec = programs.filter((p) => p.sectionIndex === target.index);
  // One instruction view per program, not one per relocation.
  const views = new Map<ProgramSpec, Insns>();
  for (const r of elf.relocations(rel)) {
    const where = { section: rel.name, offset: rel.offset };
    if (r.offset % INSN_SIZE || r.offset >= target.size) throw new ParseError(`relocation at offset ${r.offset} is outside section '${target.name}' or misaligned`, where);
    const secInsn = r.offset / INSN_SIZE;
    const prog = progsInSec.find((p) => secInsn >= p.secInsnOff && secInsn < p.secInsnOff + p.insns.length / INSN_SIZE);
    // Relocations against instructions outside any function (e.g. in stripped code) are skipped, as libbpf does.
    if (!prog) continue;
    const insnIdx = secInsn - prog.secInsnOff;
    let insns = views.get(prog);
    if (!insns) views.set(prog, (insns = new Insns(prog.insns)));
    const sym = elf.symbols[r.symbol];
    if (!sym) throw new ParseError(`relocation refers to symbol ${r.symbol}, which does not exist`, where);
    const what = `prog '${prog.name}': relocation against '${sym.name || `section ${sym.shndx}`}' at insn ${insnIdx}`;
    const isCall = insns.isCall(insnIdx);
    const isLd = insns.isLdImm64(insnIdx);
    if (!isCall && !isLd) throw new ParseError(`${what}: instruction code 0x${insns.code(insnIdx).toString(16)} can't be relocated`, where);
    if (isLd && insnIdx + 1 >= insns.count) throw new ParseError(`${what}: ld_imm64 is truncated`, where);

    let desc: RelocDesc;
    if (sym.shndx === SHN_UNDEF && (sym.bind === STB.GLOBAL || sym.bind === STB.WEAK) && sym.name) {
      const externIndex = externs.findIndex((e) => e.symIndex === r.symbol);
      if (externIndex < 0) throw new ParseError(`${what}: no extern declaration found`, where);
      desc = isCall ? { kind: 'externCall', insnIdx, externIndex } : { kind: 'externLd64', insnIdx, externIndex };
    } else if (isCall) {
      if (insns.src(insnIdx) !== 1) throw new ParseError(`${what}: call relocation on a call that is not a bpf-to-bpf call`, where);
      if (sym.shndx !== ctx.textShndx) throw new ParseError(`${what}: calls must target .text functions`, where);
      if (sym.value % INSN_SIZE) throw new ParseError(`${what}: misaligned call target`, where);
      desc = { kind: 'call', insnIdx, symOff: sym.value };
    } else if (sym.shndx === 0 || sym.shndx >= 0xff00) {
      throw new ParseError(`${what}: symbol in special section 0x${sym.shndx.toString(16)}; forgot to initialize a global variable?`, where);
    } else if (sym.shndx === ctx.textShndx && (sym.type === STT.FUNC || sym.type === STT.SECTION)) {
      if (sym.value % INSN_SIZE || insns.imm(insnIdx) % INSN_SIZE) throw new ParseError(`${what}: misaligned subprogram address`, where);
      desc = { kind: 'subprogAddr', insnIdx, symOff: sym.value };
    } else if (sym.shndx === ctx.mapsShndx) {
      const mapIndex = maps.findIndex((m) => m.origin === 'user' && m.sectionOffset === sym.value);
      if (mapIndex < 0) throw new ParseError(`${what}: no map at .maps offset ${sym.value}`, where);
      desc = { kind: 'map', insnIdx, mapIndex };
    } else {
      const kind = ctx.secKind.get(sym.shndx);
      if (kind !== 'data' && kind !== 'rodata' && kind !== 'bss') {
        const name = elf.sections[sym.shndx]?.name ?? `#${sym.shndx}`;
        throw new BpfError(`${what}: bad data relocation against section '${name}'`, { cmd: 'open', program: prog.name, errno: 22 });
      }
      const mapIndex = maps.findIndex((m) => m.origin !== 'user' && m.sectionIndex === sym.shndx);
      if (mapIndex < 0) throw new ParseError(`${what}: no global data map for section ${sym.shndx}`, where);
      desc = { kind: 'data', insnIdx, mapIndex, symOff: sym.value };
    }
    prog.relocs.push(desc);
  }
}

/** `.rel.maps`: pointers inside `values` of prog arrays and map-in-maps name their initial slots. */
function collectMapRelos(
  elf: ElfFile, btf: Btf | undefined, rel: ElfSection, maps: MapSpec[], programs: ProgramSpec[], mapsShndx: number, textShndx: number,
): void {
  if (!btf) return;
  const secId = btf.findOne('.maps', BTF_KIND.DATASEC);
  const ds = secId === undefined ? undefined : btf.type(secId);
  if (!ds || ds.kind !== BTF_KIND.DATASEC) return;
  for (const r of elf.relocations(rel)) {
    const where = { section: rel.name, offset: rel.offset };
    const sym = elf.symbols[r.symbol];
    if (!sym) throw new ParseError(`.maps relocation refers to symbol ${r.symbol}, which does not exist`, where);
    const map = maps.find((m) => {
      if (m.origin !== 'user') return false;
      const vi = ds.vars[m.btfVarIndex]!;
      return vi.offset <= r.offset && r.offset + 8 <= vi.offset + vi.size;
    });
    if (!map) throw new ParseError(`.maps relocation for '${sym.name}' at offset ${r.offset} is not inside any map`, where);
    const vi = ds.vars[map.btfVarIndex]!;
    const v = btf.type(vi.type);
    const def = v.kind === BTF_KIND.VAR ? btf.type(btf.skipModsAndTypedefs(v.type)) : undefined;
    const last = def?.kind === BTF_KIND.STRUCT ? def.members[def.members.length - 1] : undefined;
    if (!last || last.name !== 'values') throw new ParseError(`map '${map.name}': .maps relocation outside 'values'`, where);
    const base = last.bitOffset / 8;
    const rel0 = r.offset - vi.offset - base;
    if (rel0 < 0 || rel0 % 8) throw new ParseError(`map '${map.name}': misaligned 'values' relocation`, where);
    const slot = rel0 / 8;
    if (isMapInMap(map.type)) {
      if (sym.shndx !== mapsShndx) throw new BpfError(`map '${map.name}': '${sym.name}' in 'values' isn't a BTF-defined map`, { cmd: 'open', map: map.name, errno: 22 });
      if (map.type === MAP_TYPE.HASH_OF_MAPS && map.keySize !== 4) throw new BpfError(`map '${map.name}': hash-of-maps with 'values' must have a 4-byte key`, { cmd: 'open', map: map.name, errno: 22 });
      if (!maps.some((m) => m.name === sym.name)) throw new BpfError(`map '${map.name}': '${sym.name}' isn't a valid map reference`, { cmd: 'open', map: map.name, errno: 3 });
    } else if (map.type === MAP_TYPE.PROG_ARRAY) {
      const prog = programs.find((p) => p.name === sym.name && !p.isSubprog);
      if (!prog || prog.sectionIndex !== sym.shndx || prog.secInsnOff * 8 !== sym.value || sym.shndx === textShndx) {
        throw new BpfError(`map '${map.name}': '${sym.name}' isn't an entry-point program`, { cmd: 'open', map: map.name, errno: 22 });
      }
    } else {
      throw new BpfError(`map '${map.name}': 'values' relocations are only valid for prog arrays and map-in-maps`, { cmd: 'open', map: map.name, errno: 22 });
    }
    while (map.initSlots.length <= slot) map.initSlots.push(undefined);
    map.initSlots[slot] = sym.name;
  }
}
