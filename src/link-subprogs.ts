// bpf-to-bpf linking: every subprogram an entry program reaches (by call or by callback address) is
// appended to that entry program's instructions, and its func_info/line_info records are moved with it.
// Each entry program gets its own layout, so the same subprogram may sit at different offsets in each.

import type { BtfExt } from '../btf/index.js';
import { BpfError } from './errors.js';
import { BPF_PSEUDO, CALL, INSN_SIZE, Insns, LD_IMM64 } from './insn.js';
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
    // This scan runs for every instruction of every loaded program, often before the JIT has
    // optimized it: plain byte reads and a sparse array (last relocation per instruction wins).
    const bytes = prog.insns;
    const reloAt: (RelocDesc | undefined)[] = [];
    for (const r of prog.relocs) reloAt[r.insnIdx] = r;
    const count = bytes.length / INSN_SIZE;
    for (let i = 0; i < count; i++) {
      const code = bytes[i * INSN_SIZE]!;
      const relo = reloAt[i];
      if (relo !== undefined && relo.kind !== 'call' && relo.kind !== 'subprogAddr') {
        relocs.push({ ...relo, insnIdx: base + i });
        if (code === LD_IMM64) i++;
        continue;
      }
      const isCall = code === CALL && bytes[i * INSN_SIZE + 1]! >> 4 === BPF_PSEUDO.CALL;
      const isFuncAddr = relo?.kind === 'subprogAddr';
      if (!isCall && !isFuncAddr) {
        if (code === LD_IMM64) i++;
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
  // Two passes (count, then write into the final array): no per-record arrays on this per-load path.
  let count = 0;
  for (const seg of segments) {
    const n = countRecords(spec, ext, seg, which);
    if (n === 0) {
      if (seg.prog === main) return undefined;
      throw new BpfError(`prog '${main.name}': missing .BTF.ext ${which} info for subprogram '${seg.prog.name}'`, {
        cmd: 'relocate', program: main.name, object: spec.name, errno: 2,
      });
    }
    count += n;
  }
  const out = new Uint8Array(count * recSize);
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const seg of segments) {
    const first = seg.prog.secInsnOff;
    const end = first + seg.prog.insns.length / INSN_SIZE;
    const secName = spec.elf.sections[seg.prog.sectionIndex]!.name;
    if (which === 'func') {
      for (const r of ext.funcInfo.get(secName) ?? []) {
        const insn = r.insnOff / INSN_SIZE;
        if (insn < first || insn >= end) continue;
        dv.setUint32(at, (insn - first + seg.start) >>> 0, true);
        dv.setUint32(at + 4, r.typeId >>> 0, true);
        at += recSize;
      }
    } else {
      for (const r of ext.lineInfo.get(secName) ?? []) {
        const insn = r.insnOff / INSN_SIZE;
        if (insn < first || insn >= end) continue;
        dv.setUint32(at, (insn - first + seg.start) >>> 0, true);
        dv.setUint32(at + 4, r.fileNameOff >>> 0, true);
        dv.setUint32(at + 8, r.lineOff >>> 0, true);
        dv.setUint32(at + 12, r.lineCol >>> 0, true);
        at += recSize;
      }
    }
  }
  return out;
}

/** How many func_info or line_info records fall inside the segment's (sub)program. */
function countRecords(spec: ObjectSpec, ext: BtfExt, seg: Segment, which: 'func' | 'line'): number {
  const first = seg.prog.secInsnOff;
  const end = first + seg.prog.insns.length / INSN_SIZE;
  const secName = spec.elf.sections[seg.prog.sectionIndex]!.name;
  const recs: readonly { insnOff: number }[] = (which === 'func' ? ext.funcInfo.get(secName) : ext.lineInfo.get(secName)) ?? [];
  let n = 0;
  for (const r of recs) {
    const insn = r.insnOff / INSN_SIZE;
    if (insn >= first && insn < end) n++;
  }
  return n;
}
