// Struct_ops at open time, as libbpf's init_struct_ops_maps and collect_st_ops_relos: every variable of
// SEC(".struct_ops") / SEC(".struct_ops.link") (and their '?' forms, which are not created by default)
// becomes a BPF_MAP_TYPE_STRUCT_OPS map named after the variable, and the section's relocations say
// which struct_ops program each function pointer member points to. Nothing here needs the kernel:
// matching the struct against the kernel's happens at load (src/struct-ops.ts).

import { BTF_KIND, type Btf } from '../../btf/index.js';
import { SHN_LORESERVE, type ElfFile, type ElfSection } from '../../elf/index.js';
import { BpfError, ParseError } from '../errors.js';
import { INSN_SIZE } from '../insn.js';
import { MAP_TYPE } from './map-types.js';
import type { MapSpec, ProgramSpec } from './types.js';

const F_LINK = 1 << 13; // BPF_F_LINK

/** The section names libbpf reads struct_ops maps from. */
export function isStructOpsSection(name: string): boolean {
  return name === '.struct_ops' || name === '.struct_ops.link' || name === '?.struct_ops' || name === '?.struct_ops.link';
}

function open(message: string, errno: number, map?: string): BpfError {
  return new BpfError(message, { cmd: 'open', errno, map });
}

/** One map per variable of a struct_ops section, in BTF (DATASEC) order. */
export function structOpsMaps(btf: Btf | undefined, sec: ElfSection): MapSpec[] {
  const secName = sec.name;
  if (!btf) throw new ParseError(`struct_ops section '${secName}' present but the object has no .BTF; compile with -g`, { section: secName });
  const dsId = btf.findOne(secName, BTF_KIND.DATASEC);
  if (dsId === undefined) throw open(`struct_ops init: DATASEC '${secName}' not found in the object's BTF`, 22);
  const ds = btf.type(dsId);
  if (ds.kind !== BTF_KIND.DATASEC) return [];
  const autocreate = !secName.startsWith('?');
  const isLink = secName.replace(/^\?/, '') === '.struct_ops.link';
  return ds.vars.map((vi, varIndex) => {
    const v = btf.type(vi.type);
    const varName = v.kind === BTF_KIND.VAR ? v.name : '';
    // btf__resolve_type: through the VAR, typedefs and modifiers.
    const typeId = btf.skipModsAndTypedefs(v.kind === BTF_KIND.VAR ? v.type : vi.type);
    const t = btf.type(typeId);
    const tname = 'name' in t ? t.name : '';
    if (!tname) throw open(`struct_ops init: variable '${varName}' in '${secName}' has an anonymous type, which is not supported`, 95, varName);
    if (t.kind !== BTF_KIND.STRUCT) throw open(`struct_ops init: '${tname}' (variable '${varName}' in '${secName}') is not a struct`, 22, varName);
    if (!varName) throw new ParseError(`struct_ops variable #${varIndex} of '${secName}' has no name`, { section: secName });
    if (vi.offset + t.size > sec.data.length) {
      throw open(`struct_ops init: variable '${varName}' is beyond the end of DATASEC '${secName}'`, 22, varName);
    }
    const data = Uint8Array.prototype.slice.call(sec.data, vi.offset, vi.offset + t.size);
    return {
      name: varName, kernelName: varName.slice(0, 15), origin: 'struct_ops', sectionIndex: sec.index, sectionOffset: vi.offset,
      btfVarIndex: varIndex, type: MAP_TYPE.STRUCT_OPS, keySize: 4, valueSize: t.size, maxEntries: 1, mapFlags: isLink ? F_LINK : 0,
      numaNode: 0, mapExtra: 0n, btfKeyTypeId: 0, btfValueTypeId: typeId, pinning: 0, inner: undefined, initSlots: [],
      initialData: undefined,
      structOps: { typeId, typeName: tname, sectionName: secName, isLink, autocreate, data, programs: t.members.map(() => undefined) },
    } satisfies MapSpec;
  });
}

/** `func_proto` behind a member type that is a function pointer (typedefs and modifiers allowed on both levels). */
export function isFuncPtr(btf: Btf, typeId: number): boolean {
  const p = btf.type(btf.skipModsAndTypedefs(typeId));
  if (p.kind !== BTF_KIND.PTR) return false;
  return btf.type(btf.skipModsAndTypedefs(p.type)).kind === BTF_KIND.FUNC_PROTO;
}

/**
 * `.rel.struct_ops`: each relocation sets one function pointer member of one map to a program. The
 * checks are libbpf's, with its errnos: the target must be the start of a SEC("struct_ops...") program
 * and the member a function pointer.
 */
export function collectStructOpsRelos(elf: ElfFile, btf: Btf, rel: ElfSection, target: ElfSection, maps: MapSpec[], programs: ProgramSpec[]): void {
  for (const r of elf.relocations(rel)) {
    const sym = elf.symbols[r.symbol];
    if (!sym) throw new ParseError(`struct_ops relocation refers to symbol ${r.symbol}, which does not exist`, { section: rel.name, offset: rel.offset });
    const map = maps.find((m) => m.structOps && m.sectionIndex === target.index && m.sectionOffset <= r.offset && r.offset - m.sectionOffset < m.valueSize);
    if (!map) throw open(`struct_ops reloc: no struct_ops variable of '${target.name}' at offset ${r.offset} (for '${sym.name}')`, 22);
    const so = map.structOps!;
    const moff = r.offset - map.sectionOffset;
    const where = `struct_ops reloc ${map.name}`;
    if (sym.shndx >= SHN_LORESERVE) throw open(`${where}: offset ${moff} refers to '${sym.name}' in special section 0x${sym.shndx.toString(16)}, not a program`, 22, map.name);
    if (sym.value % INSN_SIZE) throw new ParseError(`${where}: '${sym.name}' is at offset ${sym.value}, not at an instruction`, { section: rel.name, offset: rel.offset });
    const t = btf.type(so.typeId);
    if (t.kind !== BTF_KIND.STRUCT) continue;
    const memberIdx = t.members.findIndex((m) => m.bitOffset === moff * 8);
    if (memberIdx < 0) throw open(`${where}: no member of struct ${so.typeName} starts at offset ${moff}`, 22, map.name);
    const member = t.members[memberIdx]!;
    if (!isFuncPtr(btf, member.type)) throw open(`${where}: member '${member.name}' is not a function pointer, so it cannot point to '${sym.name}'`, 22, map.name);
    const insn = sym.value / INSN_SIZE;
    const prog = programs.find((p) => p.sectionIndex === sym.shndx && insn >= p.secInsnOff && insn < p.secInsnOff + p.insns.length / INSN_SIZE);
    if (!prog) throw open(`${where}: member '${member.name}' points to '${sym.name}', which is not a program`, 22, map.name);
    if (prog.isSubprog || prog.progType !== 'BPF_PROG_TYPE_STRUCT_OPS') {
      throw new BpfError(`${where}: member '${member.name}' points to '${prog.name}', which is not a struct_ops program (SEC("${prog.sectionName}"))`, {
        cmd: 'open', errno: 22, map: map.name, program: prog.name, advice: 'put the function in SEC("struct_ops/<name>") or SEC("struct_ops.s/<name>")',
      });
    }
    so.programs[memberIdx] = prog.name;
  }
}
