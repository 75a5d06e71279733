// bpf-to-bpf linking: every subprogram an entry program reaches (by call or by callback address) is
// appended to that entry program's instructions, and its func_info/line_info records are moved with it.
// Each entry program gets its own layout, so the same subprogram may sit at different offsets in each.

import type { BtfExt } from '../btf/index.js';
import { BpfError } from './errors.js';
import { BPF_PSEUDO, INSN_SIZE, Insns } from './insn.js';
import type { ObjectSpec, ProgramSpec, RelocDesc } from './spec/types.js';

/** A run of the final instructions that came from one (sub)program. */
export interface Segment {
  readonly prog: ProgramSpec;
  /** First final instruction index of this segment. */
  readonly start: number;
}

export interface LinkedProgram {
  readonly main: ProgramSpec;
  /** Final instructions (a private copy). */
  readonly insns: Uint8Array;
  /** Relocations still to apply at load (maps, data, externs), with final instruction indices. */
  readonly relocs: RelocDesc[];
  readonly segments: Segment[];
  /** Kernel-format func_info records (insn_off in instructions), or undefined when unavailable. */
  readonly funcInfo: Uint8Array | undefined;
  readonly lineInfo: Uint8Array | undefined;
  readonly funcInfoRecSize: number;
  readonly lineInfoRecSize: number;
}

const FUNC_INFO_SIZE = 8;
const LINE_INFO_SIZE = 16;

/**
 * `core` holds each (sub)program's instructions after CO-RE relocation; calls and map references are
 * never touched by CO-RE, so the call graph is still read from the original instructions.
 */
export function linkProgram(spec: ObjectSpec, main: ProgramSpec, withBtfExt: boolean,
  core?: ReadonlyMap<ProgramSpec, { insns: Uint8Array }>): LinkedProgram {
  const text = spec.programs.filter((p) => p.isSubprog);
  const chunks: Uint8Array[] = [];
  const segments: Segment[] = [];
  const placed = new Map<ProgramSpec, number>();
  const relocs: RelocDesc[] = [];
  let total = 0;

  const append = (prog: ProgramSpec): number => {
    const start = total;
    placed.set(prog, start);
    segments.push({ prog, start });
    chunks.push(core?.get(prog)?.insns ?? prog.insns);
    total += prog.insns.length / INSN_SIZE;
    return start;
  };

  const fail = (prog: ProgramSpec, message: string): never => {
    throw new BpfError(`prog '${main.name}': ${message} (in '${prog.name}')`, { cmd: 'relocate', program: main.name, object: spec.name, errno: 22 });
  };

  // Patches are collected per (sub)program and applied once the final array exists.
  const patches: { at: number; imm: number; pseudoFunc: boolean }[] = [];

  const process = (prog: ProgramSpec): void => {
    const base = placed.get(prog)!;
    const insns = new Insns(prog.insns);
    const byInsn = new Map<number, RelocDesc>();
    for (const r of prog.relocs) byInsn.set(r.insnIdx, r);
    for (let i = 0; i < insns.count; i++) {
      const relo = byInsn.get(i);
      if (relo && relo.kind !== 'call' && relo.kind !== 'subprogAddr') {
        relocs.push({ ...relo, insnIdx: base + i });
        if (insns.isLdImm64(i)) i++;
        continue;
      }
      const isCall = insns.isSubprogCall(i);
      const isFuncAddr = relo?.kind === 'subprogAddr';
      if (!isCall && !isFuncAddr) {
        if (insns.isLdImm64(i)) i++;
        continue;
      }
      let targetSecInsn: number;
      if (relo?.kind === 'call') targetSecInsn = relo.symOff / INSN_SIZE + insns.imm(i) + 1;
      else if (relo?.kind === 'subprogAddr') targetSecInsn = (relo.symOff + insns.imm(i)) / INSN_SIZE;
      else {
        // A static call within the same section has no relocation: imm is relative to the section.
        if (prog.sectionIndex !== spec.textSectionIndex) fail(prog, `call at insn ${i} into the same non-.text section; subprograms must be in .text`);
        targetSecInsn = prog.secInsnOff + i + insns.imm(i) + 1;
      }
      const sub = text.find((p) => targetSecInsn >= p.secInsnOff && targetSecInsn < p.secInsnOff + p.insns.length / INSN_SIZE);
      if (!sub || sub.secInsnOff !== targetSecInsn) fail(prog, `call at insn ${i} targets .text insn ${targetSecInsn}, which is not the start of a function`);
      if (!placed.has(sub!)) {
        append(sub!);
        process(sub!);
      }
      const at = base + i;
      // Both forms take the target relative to the next instruction, in instructions.
      patches.push({ at, imm: placed.get(sub!)! - at - 1, pseudoFunc: isFuncAddr });
      if (isFuncAddr) i++;
    }
  };

  append(main);
  process(main);

  const out = new Uint8Array(total * INSN_SIZE);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  const final = new Insns(out);
  for (const p of patches) {
    final.setImm(p.at, p.imm);
    if (p.pseudoFunc) final.setSrc(p.at, BPF_PSEUDO.FUNC);
  }
  relocs.sort((a, b) => a.insnIdx - b.insnIdx);

  const ext = withBtfExt ? spec.btfExt : undefined;
  const funcInfo = ext ? gatherInfo(spec, ext, segments, 'func', main) : undefined;
  const lineInfo = ext ? gatherInfo(spec, ext, segments, 'line', main) : undefined;
  return {
    main, insns: out, relocs, segments, funcInfo, lineInfo,
    funcInfoRecSize: FUNC_INFO_SIZE, lineInfoRecSize: LINE_INFO_SIZE,
  };
}

/**
 * Copies the records covering each segment, converting insn_off from section bytes to final instruction
 * indices. Missing info for the main program drops that kind of info entirely (libbpf warns and does the same);
 * missing info for a subprogram after the main had some is an error the kernel would reject anyway.
 */
function gatherInfo(spec: ObjectSpec, ext: BtfExt, segments: Segment[], which: 'func' | 'line', main: ProgramSpec): Uint8Array | undefined {
  const recSize = which === 'func' ? FUNC_INFO_SIZE : LINE_INFO_SIZE;
  const records: number[][] = [];
  for (const seg of segments) {
    const secName = spec.elf.sections[seg.prog.sectionIndex]!.name;
    const count = seg.prog.insns.length / INSN_SIZE;
    const start = records.length;
    if (which === 'func') {
      for (const r of ext.funcInfo.get(secName) ?? []) {
        const insn = r.insnOff / INSN_SIZE;
        if (insn < seg.prog.secInsnOff || insn >= seg.prog.secInsnOff + count) continue;
        records.push([insn - seg.prog.secInsnOff + seg.start, r.typeId]);
      }
    } else {
      for (const r of ext.lineInfo.get(secName) ?? []) {
        const insn = r.insnOff / INSN_SIZE;
        if (insn < seg.prog.secInsnOff || insn >= seg.prog.secInsnOff + count) continue;
        records.push([insn - seg.prog.secInsnOff + seg.start, r.fileNameOff, r.lineOff, r.lineCol]);
      }
    }
    if (records.length === start) {
      if (seg.prog === main) return undefined;
      throw new BpfError(`prog '${main.name}': missing .BTF.ext ${which} info for subprogram '${seg.prog.name}'`, {
        cmd: 'relocate', program: main.name, object: spec.name, errno: 2,
      });
    }
  }
  const out = new Uint8Array(records.length * recSize);
  const dv = new DataView(out.buffer);
  records.forEach((rec, i) => rec.forEach((v, j) => dv.setUint32(i * recSize + j * 4, v >>> 0, true)));
  return out;
}
