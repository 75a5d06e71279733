// Verifier errors that point at the source. The verifier names instruction indices of the program as
// submitted, i.e. after subprograms were appended; this maps such an index back to the (sub)program and
// ELF section it came from, then through the object's line_info to file:line and the source text, and
// to the CO-RE relocation recorded for that instruction, if any.
//
// The loader calls enrichVerifierError() when BPF_PROG_LOAD fails; it adds a VerifierDiagnostic to
// the VerifierError and the essentials (complaint, instruction, source line) to its message.

import { formatPath, parseSpec, coreReloKindName, describeCoreOutcome, type CoreReloOutcome } from './core/index.js';
import { decodeInstructions } from './disasm/decode.js';
import { formatInstruction } from './disasm/format.js';
import { objectFormatOptions } from './disasm/object.js';
import { INSN_SIZE } from './disasm/opcodes.js';
import { logTail } from '../syscalls/index.js';
import { VerifierError } from './errors.js';
import { POISON_CORE, POISON_KFUNC_BASE, POISON_MAP_BASE } from './insn.js';
import type { LinkedProgram } from './link-subprogs.js';
import type { ObjectSpec, ProgramSpec } from './spec/types.js';

export interface SourceLocation {
  /** The file name as the compiler recorded it. */
  file: string;
  line: number;
  col: number;
  /** The source line (as recorded: leading whitespace kept). */
  text: string;
}

export interface CoreReloInfo {
  /** libbpf's kind name: 'byte_off', 'field_exists', … */
  kind: string;
  /** The access in C terms: 'struct task_struct.real_parent'. */
  access: string;
  /** The CO-RE engine's account of what happened to it, when the loader recorded one. */
  outcome?: string;
}

export interface VerifierLogSummary {
  /** The instruction the verifier stopped at (an index into the submitted program), when the log names one. */
  insnIdx?: number;
  /** The verifier's complaint: the lines after the last instruction it printed, without the statistics. */
  message: string;
  /** "processed N insns", when present. */
  processed?: number;
}

export interface VerifierDiagnostic extends VerifierLogSummary {
  /** The instruction as submitted, disassembled with names ("(85) call bpf_map_lookup_elem#1"). */
  instruction?: string;
  /** The C function the instruction belongs to (the entry program or an appended subprogram). */
  function?: string;
  /** The ELF section of that function and the instruction's index within the section. */
  section?: string;
  sectionInsn?: number;
  source?: SourceLocation;
  core?: CoreReloInfo;
  /** What the instruction's poisoned immediate means (libbpf's markers for unresolved CO-RE, maps, kfuncs). */
  poison?: string;
}

declare module './errors.js' {
  interface VerifierError {
    /** Where in the object and source the verifier stopped (set by the loader when it can tell). */
    diagnostic?: VerifierDiagnostic;
  }
}

/** An instruction line of the log; libbpf-style fix-ups replace a poisoned one with "<invalid CO-RE relocation>". */
const INSN_LINE = /^(\d+): (?:\([0-9a-f]{2}\)|<invalid CO-RE relocation>)/;
const STATS_LINE = /^processed (\d+) insns/;
/** Complaints that name the instruction themselves; the number is the first capture. */
const NAMED_INSN = [
  /infinite loop detected at insn (\d+)/,
  /back-edge from insn (\d+) to \d+/,
  /jump out of range from insn (\d+) to/,
  /unreachable insn (\d+)/,
];

/** Finds the failing instruction and the complaint in a verifier log (level 1 or 2). */
export function parseVerifierLog(log: string): VerifierLogSummary {
  const lines = log.split('\n');
  while (lines.length && lines[lines.length - 1]!.trim() === '') lines.pop();
  let end = lines.length;
  let processed: number | undefined;
  for (let i = lines.length - 1; i >= 0 && i >= lines.length - 4; i--) {
    const m = STATS_LINE.exec(lines[i]!);
    if (m) {
      processed = Number(m[1]);
      end = i;
      break;
    }
  }
  let insnLine = -1;
  for (let i = end - 1; i >= 0; i--) {
    if (INSN_LINE.test(lines[i]!)) {
      insnLine = i;
      break;
    }
  }
  const complaint = lines.slice(insnLine + 1, end).filter((l) => l.trim() !== '' && !l.startsWith(';'));
  // Keep the complaint short: the register state dumps that follow some messages are in the full log.
  const essential = complaint.filter((l) => !/^(cur|old) state:/.test(l));
  const message = (essential.length ? essential : lines.slice(Math.max(0, end - 2), end)).slice(0, 3).join('\n');
  const out: VerifierLogSummary = { message };
  if (processed !== undefined) out.processed = processed;
  if (insnLine >= 0) out.insnIdx = Number(INSN_LINE.exec(lines[insnLine]!)![1]);
  for (const re of NAMED_INSN) {
    const m = re.exec(complaint.join('\n'));
    if (m) {
      out.insnIdx = Number(m[1]);
      break;
    }
  }
  return out;
}

/** The (sub)program holding final instruction `insnIdx` of a linked program, and the index within it. */
export function segmentOf(linked: LinkedProgram, insnIdx: number): { prog: ProgramSpec; localInsn: number } | undefined {
  let found: { prog: ProgramSpec; start: number } | undefined;
  for (const s of linked.segments) {
    if (s.start <= insnIdx && (!found || s.start >= found.start)) found = s;
  }
  if (!found) return undefined;
  const localInsn = insnIdx - found.start;
  if (localInsn >= found.prog.insns.length / INSN_SIZE) return undefined;
  return { prog: found.prog, localInsn };
}

/**
 * The source line of instruction `localInsn` of (sub)program `prog`: the last line_info record at or
 * before it within the function. Records for line 0 (code the compiler could not attribute) are
 * skipped in favour of the nearest attributed line before them.
 *
 * `followingStatement`: clang emits no line record for the offset load of a CO-RE access, so such an
 * instruction inherits the previous statement's line; the access is in the next recorded statement.
 */
export function sourceLocation(spec: ObjectSpec, prog: ProgramSpec, localInsn: number, opts: { followingStatement?: boolean } = {}): SourceLocation | undefined {
  const secName = spec.elf.sections[prog.sectionIndex]?.name;
  const records = secName !== undefined ? spec.btfExt?.lineInfo.get(secName) : undefined;
  if (!records) return undefined;
  const first = prog.secInsnOff * INSN_SIZE;
  const last = (prog.secInsnOff + prog.insns.length / INSN_SIZE) * INSN_SIZE;
  const target = (prog.secInsnOff + localInsn) * INSN_SIZE;
  let best: (typeof records)[number] | undefined;
  let bestAttributed: (typeof records)[number] | undefined;
  let next: (typeof records)[number] | undefined;
  for (const r of records) {
    if (r.insnOff < first || r.insnOff >= last) continue;
    if (r.insnOff > target) {
      if (r.line && (!next || r.insnOff < next.insnOff)) next = r;
      continue;
    }
    if (!best || r.insnOff >= best.insnOff) best = r;
    if (r.line && (!bestAttributed || r.insnOff >= bestAttributed.insnOff)) bestAttributed = r;
  }
  let r = bestAttributed ?? best;
  if (opts.followingStatement && next && (!r || r.insnOff < target)) r = next;
  return r ? { file: r.fileName, line: r.line, col: r.col, text: r.lineText } : undefined;
}

/** The CO-RE relocation recorded for an instruction, described in C terms. */
function coreReloAt(spec: ObjectSpec, prog: ProgramSpec, localInsn: number, outcomes: readonly CoreReloOutcome[] | undefined, insnIdx: number): CoreReloInfo | undefined {
  const secName = spec.elf.sections[prog.sectionIndex]?.name;
  const relos = secName !== undefined ? spec.btfExt?.coreRelos.get(secName) : undefined;
  const off = (prog.secInsnOff + localInsn) * INSN_SIZE;
  const relo = relos?.find((r) => r.insnOff === off);
  const outcome = outcomes?.find((o) => o.insnIdx === localInsn);
  if (!relo && !outcome) return undefined;
  let access = outcome?.fieldPath ?? '';
  if (!access && relo && spec.btf) {
    const parsed = parseSpec(spec.btf, relo.typeId, relo.accessStr, relo.kind);
    access = typeof parsed === 'number' ? `[${relo.typeId}] ${relo.accessStr}` : formatPath(parsed);
  }
  const info: CoreReloInfo = { kind: outcome?.kindName ?? coreReloKindName(relo!.kind), access };
  if (outcome) info.outcome = describeCoreOutcome(outcome, insnIdx);
  return info;
}

function poisonMeaning(spec: ObjectSpec, code: number, src: number, imm: number): string | undefined {
  const isCall = (code & 0x07) === 0x05 && (code & 0xf0) === 0x80;
  if (isCall && src === 0 && imm === POISON_CORE) {
    return 'this instruction stands for a CO-RE relocation that could not be resolved against the kernel\'s BTF (libbpf\'s poison call 0xbad2310)';
  }
  if (isCall && src === 0 && imm >= POISON_KFUNC_BASE && imm < POISON_KFUNC_BASE + spec.externs.length) {
    return `this is a call to the weak kfunc '${spec.externs[imm - POISON_KFUNC_BASE]!.name}', which this kernel does not have; guard it with bpf_ksym_exists()`;
  }
  if (code === 0x18 && src === 0 && imm >= POISON_MAP_BASE && imm < POISON_MAP_BASE + spec.maps.length) {
    return `this refers to map '${spec.maps[imm - POISON_MAP_BASE]!.name}', which was not created (autocreate off)`;
  }
  return undefined;
}

export interface DiagnoseOptions {
  /** CO-RE outcomes by (sub)program, indices relative to the (sub)program's first instruction. */
  coreOutcomes?: ReadonlyMap<ProgramSpec, readonly CoreReloOutcome[]>;
}

/** Maps the failure described by `log` back to the object: function, section, source line, CO-RE relocation. */
export function diagnoseVerifierLog(log: string, linked: LinkedProgram, spec: ObjectSpec, opts: DiagnoseOptions = {}): VerifierDiagnostic {
  const d: VerifierDiagnostic = parseVerifierLog(log);
  const idx = d.insnIdx;
  const count = linked.insns.byteLength / INSN_SIZE;
  if (idx === undefined || idx < 0 || idx >= count) return d;
  // Decoding from idx alone would misread the second half of a ld_imm64; decode the whole program.
  const insn = decodeInstructions(linked.insns).find((i) => i.index === idx);
  if (insn) {
    d.instruction = formatInstruction(insn, objectFormatOptions(spec, linked));
    const poison = poisonMeaning(spec, insn.code, insn.src, insn.imm);
    if (poison) d.poison = poison;
  }
  const seg = segmentOf(linked, idx);
  if (!seg) return d;
  d.function = seg.prog.name;
  d.section = spec.elf.sections[seg.prog.sectionIndex]?.name;
  d.sectionInsn = seg.prog.secInsnOff + seg.localInsn;
  const core = coreReloAt(spec, seg.prog, seg.localInsn, opts.coreOutcomes?.get(seg.prog), idx);
  if (core) d.core = core;
  const src = sourceLocation(spec, seg.prog, seg.localInsn, { followingStatement: !!core });
  if (src) d.source = src;
  return d;
}

/** The diagnostic as message lines (indented for inclusion in an error message). */
export function formatDiagnostic(d: VerifierDiagnostic): string[] {
  const out: string[] = [];
  for (const l of d.message.split('\n')) if (l) out.push(`  ${l}`);
  if (d.insnIdx !== undefined) {
    const where = d.function !== undefined
      ? ` in ${d.function}()${d.section !== undefined ? ` (section ${d.section}, insn ${d.sectionInsn})` : ''}`
      : '';
    out.push(`  at insn ${d.insnIdx}${d.instruction ? `: ${d.instruction}` : ''}${where}`);
  }
  if (d.source) {
    const loc = `${d.source.file}:${d.source.line}${d.source.col ? `:${d.source.col}` : ''}`;
    out.push(`  ${loc}:`, `    ${d.source.text.trim()}`);
    if (d.source.col && d.source.col <= d.source.text.length) {
      // A caret under the column, on the line as printed (leading whitespace removed).
      const lead = d.source.text.length - d.source.text.trimStart().length;
      const caretAt = Math.max(0, d.source.col - 1 - lead);
      out.push(`    ${' '.repeat(caretAt)}^`);
    }
  }
  if (d.core) out.push(`  ${d.core.outcome ?? `CO-RE relocation (${d.core.kind}) for ${d.core.access}`}`);
  if (d.poison) out.push(`  note: ${d.poison}`);
  return out;
}

const TAIL_MARKER = '. Last lines of the verifier log:\n';

/**
 * The loader's hook: for a VerifierError with a log, attaches `diagnostic` and puts the complaint, the
 * instruction and the source line into the message (before the log tail). Other errors pass through.
 * Never throws: a diagnostic that cannot be built leaves the error as it was.
 */
export function enrichVerifierError(err: unknown, linked: LinkedProgram | undefined, spec: ObjectSpec, opts: DiagnoseOptions = {}): unknown {
  if (!(err instanceof VerifierError) || !err.log || !linked) return err;
  try {
    const d = diagnoseVerifierLog(err.log, linked, spec, opts);
    err.diagnostic = d;
    const block = formatDiagnostic(d).join('\n');
    if (!block) return err;
    const at = err.message.indexOf(TAIL_MARKER);
    // The tail is re-cut from err.log, which may have been fixed up (CO-RE) after the message was made.
    err.message = at >= 0
      ? `${err.message.slice(0, at)}:\n${block}\nLast lines of the verifier log:\n${logTail(err.log)}`
      : `${err.message}\n${block}`;
  } catch {
    // Diagnostics are a courtesy: the verifier's own error must reach the caller unchanged.
  }
  return err;
}

/** The diagnostic attached to an error by the loader, if any. */
export function verifierDiagnostic(err: unknown): VerifierDiagnostic | undefined {
  return err instanceof VerifierError ? err.diagnostic : undefined;
}

