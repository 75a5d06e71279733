// A loaded program as the kernel reports it: translated instructions, JITed function symbols,
// func_info and line_info (rebased by the kernel onto the translated program) and the program's BTF,
// plus the call and immediate naming bpftool uses for translated code.
//
// syscalls/info.ts's progInfo() does not ask for func_info, line_info or jited_ksyms; this module
// asks for them itself through the same generated layout (a candidate to move into progInfo()).

import { BTF_KIND, Btf } from '../../btf/index.js';
import { StructWriter, Attr } from '../../syscalls/attr.js';
import { BPF_PROG_INFO, BPF_PROG_INFO_SIZE } from '../../syscalls/generated/bpf-attr.js';
import { BPF_CMD } from '../../syscalls/generated/bpf-enums.js';
import { btfGetFdById, btfInfo, progInfo, syscallError, type ProgInfo } from '../../syscalls/index.js';
import type { Instruction } from './decode.js';
import type { FormatOptions } from './format.js';
import { kernelSymbols, type KernelSymbols } from './kallsyms.js';
import { listingJson, listingText, type FuncInfoRecord, type LineInfoRecord, type ListingOptions } from './listing.js';
import type { JsonValue } from './json-writer.js';
import { PSEUDO } from './opcodes.js';

export interface XlatedProgram {
  info: ProgInfo;
  /** Translated instructions (empty when the kernel withholds them). */
  insns: Uint8Array;
  /** Addresses of the JITed functions (main program first), empty when not JITed. */
  jitedKsyms: bigint[];
  funcInfo: FuncInfoRecord[];
  lineInfo: LineInfoRecord[];
  /** The program's BTF (for func_info signatures and line_info strings), when it has one. */
  btf?: Btf;
}

type ProgInfoFields = typeof BPF_PROG_INFO;

function getInfo(fd: number, w: StructWriter<ProgInfoFields>): void {
  const a = new Attr('OBJ_GET_INFO_BY_FD');
  a.set('bpf_fd', fd).set('info_len', w.buf.length).ptr('info', w.buf);
  // The info buffers are pinned by `w` until the call returns.
  const r = a.call(BPF_CMD.OBJ_GET_INFO_BY_FD);
  w.done();
  if (r < 0) throw syscallError('bpf', 'BPF_OBJ_GET_INFO_BY_FD', -r, { what: `prog fd ${fd}` });
}

/** Loads the BTF object `id` from the kernel and parses it. */
export function kernelBtfById(id: number): Btf {
  const fd = btfGetFdById(id);
  try {
    const data = btfInfo(fd.fd, { data: true }).data;
    return Btf.parse(data ?? new Uint8Array(0));
  } finally {
    fd.close();
  }
}

interface InfoArrays {
  insns: Buffer;
  ksyms: bigint[];
  funcs: FuncInfoRecord[];
  /** Raw line_info records (insn_off, file_name_off, line_off, line_col). */
  lines: Buffer;
  lineRec: number;
}

/** The variable-length parts of bpf_prog_info that progInfo() does not fetch. */
function infoArrays(fd: number, want: { insns?: boolean; ksyms?: boolean; funcs?: boolean | 1; lines?: boolean }): InfoArrays {
  const first = new StructWriter(BPF_PROG_INFO, BPF_PROG_INFO_SIZE);
  getInfo(fd, first);
  const xlatedLen = want.insns ? first.get('xlated_prog_len') : 0;
  const nrKsyms = want.ksyms ? first.get('nr_jited_ksyms') : 0;
  const nrFunc = want.funcs ? (want.funcs === 1 ? Math.min(1, first.get('nr_func_info')) : first.get('nr_func_info')) : 0;
  const funcRec = first.get('func_info_rec_size');
  const nrLine = want.lines ? first.get('nr_line_info') : 0;
  const lineRec = first.get('line_info_rec_size');

  const w = new StructWriter(BPF_PROG_INFO, BPF_PROG_INFO_SIZE);
  const insns = Buffer.alloc(xlatedLen);
  const ksyms = Buffer.alloc(nrKsyms * 8);
  const funcs = Buffer.alloc(nrFunc * funcRec);
  const lines = Buffer.alloc(nrLine * lineRec);
  if (xlatedLen) w.set('xlated_prog_len', xlatedLen).ptr('xlated_prog_insns', insns);
  if (nrKsyms) w.set('nr_jited_ksyms', nrKsyms).ptr('jited_ksyms', ksyms);
  if (nrFunc) w.set('nr_func_info', nrFunc).set('func_info_rec_size', funcRec).ptr('func_info', funcs);
  if (nrLine) w.set('nr_line_info', nrLine).set('line_info_rec_size', lineRec).ptr('line_info', lines);
  getInfo(fd, w);
  const out: InfoArrays = { insns: insns.subarray(0, Math.min(xlatedLen, w.get('xlated_prog_len'))), ksyms: [], funcs: [], lines, lineRec };
  for (let i = 0; i < Math.min(nrKsyms, w.get('nr_jited_ksyms')); i++) out.ksyms.push(ksyms.readBigUInt64LE(i * 8));
  for (let i = 0; i < nrFunc; i++) out.funcs.push({ insnOff: funcs.readUInt32LE(i * funcRec), typeId: funcs.readUInt32LE(i * funcRec + 4) });
  return out;
}

/**
 * The program's full name: the kernel keeps 15 characters, so for names that long (like bpftool) take
 * the function name from the BTF of the program's first func_info record.
 */
export function progFullName(fd: number, info: Pick<ProgInfo, 'name' | 'btfId' | 'nrFuncInfo'>): string {
  if (info.name.length < 15 || !info.btfId || !info.nrFuncInfo) return info.name;
  try {
    const f = infoArrays(fd, { funcs: 1 }).funcs[0];
    if (!f) return info.name;
    const btf = kernelBtfById(info.btfId);
    return btf.kind(f.typeId) === BTF_KIND.FUNC ? btf.name(f.typeId) : info.name;
  } catch {
    return info.name;
  }
}

/** Everything `prog dump xlated` needs about the program behind `fd`. */
export function xlatedProgram(fd: number): XlatedProgram {
  const info = progInfo(fd, { mapIds: false });
  const a = infoArrays(fd, { insns: true, ksyms: true, funcs: true, lines: true });
  const out: XlatedProgram = { info, insns: a.insns, jitedKsyms: a.ksyms, funcInfo: a.funcs, lineInfo: [] };
  if (info.btfId) {
    try {
      out.btf = kernelBtfById(info.btfId);
    } catch {
      // Without BTF there are no signatures or source lines; the instructions still list.
    }
  }
  const btf = out.btf;
  if (btf) {
    const str = (off: number): string => {
      try {
        return btf.strAt(off);
      } catch {
        return '';
      }
    };
    for (let p = 0; p + a.lineRec <= a.lines.length && a.lineRec >= 16; p += a.lineRec) {
      const lineCol = a.lines.readUInt32LE(p + 12);
      out.lineInfo.push({
        insnOff: a.lines.readUInt32LE(p), file: str(a.lines.readUInt32LE(p + 4)), text: str(a.lines.readUInt32LE(p + 8)),
        line: lineCol >>> 10, col: lineCol & 0x3ff,
      });
    }
  }
  return out;
}

const signed = (n: number): string => (n < 0 ? `${n}` : `+${n}`);

/**
 * bpftool's naming for translated code: helper and kfunc calls by kernel symbol (the imm is an
 * offset from __bpf_call_base), bpf-to-bpf calls by the callee's JIT symbol (after JIT the kernel
 * keeps the original relative offset in `off` and the subprogram index in `imm`), maps by id.
 */
export function xlatedFormatOptions(prog: Pick<XlatedProgram, 'jitedKsyms'>, syms: KernelSymbols = kernelSymbols()): FormatOptions {
  return {
    callName: (insn: Instruction) => {
      let addr = syms.callBase + BigInt(insn.imm);
      if (insn.src === PSEUDO.CALL && insn.imm >= 0 && insn.imm < prog.jitedKsyms.length) addr = prog.jitedKsyms[insn.imm]!;
      const sym = syms.nameAt(addr);
      if (insn.src === PSEUDO.CALL) {
        if (!prog.jitedKsyms.length) return signed(insn.off);
        return `${signed(insn.off)}#${sym ?? `0x${BigInt.asUintN(64, addr).toString(16)}`}`;
      }
      return sym ?? `0x${BigInt.asUintN(64, addr).toString(16)}`;
    },
    immName: (insn: Instruction) => {
      switch (insn.src) {
        case PSEUDO.MAP_FD: return `map[id:${insn.imm}]`;
        case PSEUDO.MAP_VALUE: return `map[id:${insn.imm}][0]+${insn.hi?.imm ?? 0}`;
        case PSEUDO.MAP_IDX_VALUE: return `map[idx:${insn.imm}]+${insn.hi?.imm ?? 0}`;
        case PSEUDO.FUNC: return `subprog[${signed(insn.imm)}]`;
        default: return undefined;
      }
    },
  };
}

/**
 * `bpftool prog dump xlated` for the loaded program behind `fd`: text lines, or with `json` the
 * entries of its --json output.
 */
export function dumpXlated(fd: number, opts: Pick<ListingOptions, 'linum' | 'opcodes'> = {}): string[] {
  const x = xlatedProgram(fd);
  return listingText(x.insns, { ...xlatedFormatOptions(x), btf: x.btf, funcInfo: x.funcInfo, lineInfo: x.lineInfo, ...opts });
}

export function dumpXlatedJson(fd: number, opts: Pick<ListingOptions, 'linum' | 'opcodes'> = {}): JsonValue[] {
  const x = xlatedProgram(fd);
  return listingJson(x.insns, { ...xlatedFormatOptions(x), btf: x.btf, funcInfo: x.funcInfo, lineInfo: x.lineInfo, ...opts });
}
