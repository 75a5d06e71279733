// Disassembly of an object's programs before load: the program is linked as the loader would link it
// (subprograms appended, calls patched) and listed with the object's own func_info and line_info, with
// the relocations that load would apply shown by name (maps, global variables, externs, callees).

import type { Btf } from '../../btf/index.js';
import { linkProgram, type LinkedProgram } from '../link-subprogs.js';
import type { ObjectSpec, RelocDesc } from '../spec/types.js';
import { BpfError } from '../errors.js';
import type { Instruction } from './decode.js';
import type { FormatOptions } from './format.js';
import { listing, listingText, type FuncInfoRecord, type LineInfoRecord, type ListingEntry, type ListingOptions } from './listing.js';
import { PSEUDO } from './opcodes.js';

const signed = (n: number): string => (n < 0 ? `${n}` : `+${n}`);

/** Names relocation targets of a linked (not yet loaded) program: "map[counts]", "map[.bss]+8", "ksym[jiffies]", "+5#helper_fn". */
export function objectFormatOptions(spec: ObjectSpec, linked: LinkedProgram): FormatOptions {
  const relocs = new Map<number, RelocDesc>();
  for (const r of linked.relocs) relocs.set(r.insnIdx, r);
  const segStarts = new Map<number, string>();
  for (const s of linked.segments) segStarts.set(s.start, s.prog.name);
  return {
    callName: (insn: Instruction) => {
      const r = relocs.get(insn.index);
      if (r?.kind === 'externCall') {
        // clang emits a kfunc call as a bpf-to-bpf call to -1 with a relocation; name the kfunc.
        const name = spec.externs[r.externIndex]?.name;
        return name && insn.src === PSEUDO.CALL ? `${signed(insn.imm)}#${name}` : name;
      }
      if (insn.src === PSEUDO.CALL) {
        const callee = segStarts.get(insn.index + insn.imm + 1);
        return callee ? `${signed(insn.imm)}#${callee}` : undefined;
      }
      return undefined;
    },
    immName: (insn: Instruction) => {
      const r = relocs.get(insn.index);
      if (r?.kind === 'map') return `map[${spec.maps[r.mapIndex]?.name ?? r.mapIndex}]`;
      if (r?.kind === 'data') return `map[${spec.maps[r.mapIndex]?.name ?? r.mapIndex}]+${r.symOff + insn.imm}`;
      if (r?.kind === 'externLd64') {
        const ext = spec.externs[r.externIndex];
        return ext ? `${ext.kind}[${ext.name}]` : undefined;
      }
      if (insn.src === PSEUDO.FUNC) {
        const callee = segStarts.get(insn.index + insn.imm + 1);
        return `subprog[${signed(insn.imm)}]${callee ? `#${callee}` : ''}`;
      }
      return undefined;
    },
  };
}

/** func_info records of a linked program (insn_off already in instructions). */
export function linkedFuncInfo(linked: LinkedProgram): FuncInfoRecord[] {
  const out: FuncInfoRecord[] = [];
  const fi = linked.funcInfo;
  if (!fi) return out;
  const dv = new DataView(fi.buffer, fi.byteOffset, fi.byteLength);
  for (let p = 0; p + linked.funcInfoRecSize <= fi.byteLength; p += linked.funcInfoRecSize) {
    out.push({ insnOff: dv.getUint32(p, true), typeId: dv.getUint32(p + 4, true) });
  }
  return out;
}

/** line_info records of a linked program, with their strings from the object's BTF. */
export function linkedLineInfo(linked: LinkedProgram, btf: Btf): LineInfoRecord[] {
  const out: LineInfoRecord[] = [];
  const li = linked.lineInfo;
  if (!li) return out;
  const dv = new DataView(li.buffer, li.byteOffset, li.byteLength);
  const str = (off: number): string => {
    try {
      return btf.strAt(off);
    } catch {
      return '';
    }
  };
  for (let p = 0; p + linked.lineInfoRecSize <= li.byteLength; p += linked.lineInfoRecSize) {
    const lineCol = dv.getUint32(p + 12, true);
    out.push({ insnOff: dv.getUint32(p, true), file: str(dv.getUint32(p + 4, true)), text: str(dv.getUint32(p + 8, true)), line: lineCol >>> 10, col: lineCol & 0x3ff });
  }
  return out;
}

/** Listing options for a linked program of `spec`: relocation names, signatures and source lines. */
export function objectListingOptions(spec: ObjectSpec, linked: LinkedProgram): ListingOptions {
  const opts: ListingOptions = { ...objectFormatOptions(spec, linked) };
  if (spec.btf) {
    opts.btf = spec.btf;
    opts.funcInfo = linkedFuncInfo(linked);
    opts.lineInfo = linkedLineInfo(linked, spec.btf);
  }
  return opts;
}

/** A parsed object: a BpfObject (its `spec`) or the ObjectSpec itself. */
export type ObjectLike = ObjectSpec | { readonly spec: ObjectSpec };
const specOf = (o: ObjectLike): ObjectSpec => ('spec' in o ? o.spec : o);

function linkByName(spec: ObjectSpec, name: string): LinkedProgram {
  const prog = spec.programs.find((p) => p.name === name && !p.isSubprog);
  if (!prog) {
    throw new BpfError(`object '${spec.name}' has no program '${name}' (it has: ${spec.programs.filter((p) => !p.isSubprog).map((p) => p.name).join(', ') || 'none'})`, { object: spec.name, errno: 2, cmd: 'disassemble' });
  }
  return linkProgram(spec, prog, !!spec.btfExt);
}

/**
 * The listing of entry program `name` of an opened (not necessarily loaded) object, as it would be
 * submitted to the kernel: `disassembleObjectProgram(BpfObject.open('x.bpf.o'), 'handle_pkt')`.
 */
export function disassembleObjectProgram(obj: ObjectLike, name: string, opts: Pick<ListingOptions, 'linum' | 'opcodes'> = {}): ListingEntry[] {
  const spec = specOf(obj);
  const linked = linkByName(spec, name);
  return listing(linked.insns, { ...objectListingOptions(spec, linked), ...opts });
}

/** disassembleObjectProgram as text lines (bpftool's `prog dump xlated` layout). */
export function disassembleObjectProgramText(obj: ObjectLike, name: string, opts: Pick<ListingOptions, 'linum' | 'opcodes'> = {}): string[] {
  const spec = specOf(obj);
  const linked = linkByName(spec, name);
  return listingText(linked.insns, { ...objectListingOptions(spec, linked), ...opts });
}

