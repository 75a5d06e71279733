// Program listings in `bpftool prog dump xlated` layout: function signatures from func_info, source
// lines from line_info interleaved the way bpftool does it (including its repeats), optional opcode
// bytes, and the JSON variant. Works for kernel (xlated) programs and for objects before load.

import type { Btf } from '../../btf/index.js';
import { decodeInstructions, type Instruction } from './decode.js';
import { btfTypeOnly } from './btf-text.js';
import { formatInstruction, type FormatOptions } from './format.js';
import { INSN_SIZE } from './opcodes.js';
import type { JsonValue } from './json-writer.js';

export interface FuncInfoRecord {
  /** Instruction index of the function's first instruction. */
  insnOff: number;
  typeId: number;
}

export interface LineInfoRecord {
  /** Instruction index. */
  insnOff: number;
  file: string;
  line: number;
  col: number;
  /** The source line as the compiler recorded it (leading whitespace included). */
  text: string;
}

export interface ListingOptions extends FormatOptions {
  /** BTF for func_info signatures. */
  btf?: Btf;
  funcInfo?: readonly FuncInfoRecord[];
  lineInfo?: readonly LineInfoRecord[];
  /** Append "[file:F line_num:N line_col:C]" to source lines (bpftool's `linum`). */
  linum?: boolean;
  /** Print each instruction's bytes (bpftool's `opcodes`). */
  opcodes?: boolean;
}

/** One listed instruction with what bpftool prints before it. */
export interface ListingEntry {
  insn: Instruction;
  /** "int f(struct __sk_buff * skb)" when a function starts here. */
  proto?: string;
  /** The line_info shown before the instruction. */
  source?: LineInfoRecord;
  text: string;
}

const ltrim = (s: string): string => s.replace(/^\s+/, '');
const hexBytes = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/**
 * The instructions with their signatures and source lines. Source lines follow libbpf's
 * bpf_prog_linfo__lfind as bpftool calls it: the k-th printed line is the last record at or before
 * the instruction, searching from record k, which repeats a line when records share an instruction.
 */
export function listing(bytes: Uint8Array | readonly Instruction[], opts: ListingOptions = {}): ListingEntry[] {
  const insns = bytes instanceof Uint8Array ? decodeInstructions(bytes) : bytes;
  const funcs = opts.funcInfo ?? [];
  const lines = opts.lineInfo ?? [];
  let fi = 0;
  let nrSkip = 0;
  const out: ListingEntry[] = [];
  for (const insn of insns) {
    const e: ListingEntry = { insn, text: formatInstruction(insn, opts) };
    const i = insn.index;
    if (opts.btf && fi < funcs.length && funcs[fi]!.insnOff === i) {
      const sig = btfTypeOnly(opts.btf, funcs[fi]!.typeId);
      if (sig) e.proto = sig;
      fi++;
    }
    if (nrSkip < lines.length && lines[nrSkip]!.insnOff <= i) {
      let k = nrSkip;
      while (k + 1 < lines.length && lines[k + 1]!.insnOff <= i) k++;
      e.source = lines[k];
      nrSkip++;
    }
    out.push(e);
  }
  return out;
}

function sourceText(src: LineInfoRecord, linum: boolean | undefined): string {
  const text = ltrim(src.text);
  return linum ? `${text} [file:${src.file} line_num:${src.line} line_col:${src.col}]` : text;
}

/** The listing as bpftool prints it (plain text, one line per array element, no trailing newlines). */
export function listingText(bytes: Uint8Array | readonly Instruction[], opts: ListingOptions = {}): string[] {
  const raw = bytes instanceof Uint8Array ? bytes : undefined;
  const out: string[] = [];
  for (const e of listing(bytes, opts)) {
    if (e.proto) out.push(`${e.proto}:`);
    if (e.source) out.push(`; ${sourceText(e.source, opts.linum)}`);
    out.push(`${String(e.insn.index).padStart(4)}: ${e.text}`);
    if (opts.opcodes) {
      const slots = e.insn.hi ? 2 : 1;
      const b = raw ? raw.subarray(e.insn.index * INSN_SIZE, (e.insn.index + slots) * INSN_SIZE) : encodeSlots(e.insn);
      out.push(`       ${hexBytes(b.subarray(0, INSN_SIZE))}${slots === 2 ? ` ${hexBytes(b.subarray(INSN_SIZE))}` : ''}`);
    }
  }
  return out;
}

function encodeSlots(insn: Instruction): Uint8Array {
  const b = new Uint8Array((insn.hi ? 2 : 1) * INSN_SIZE);
  const dv = new DataView(b.buffer);
  const put = (at: number, s: { code: number; dst: number; src: number; off: number; imm: number }): void => {
    dv.setUint8(at, s.code);
    dv.setUint8(at + 1, (s.dst & 15) | ((s.src & 15) << 4));
    dv.setInt16(at + 2, s.off, true);
    dv.setInt32(at + 4, s.imm, true);
  };
  put(0, insn);
  if (insn.hi) put(INSN_SIZE, insn.hi);
  return b;
}

/** The listing as bpftool's --json prints it: one object per instruction. */
export function listingJson(bytes: Uint8Array | readonly Instruction[], opts: ListingOptions = {}): JsonValue[] {
  return listing(bytes, opts).map((e) => {
    const o: Record<string, JsonValue> = {};
    if (e.proto) o.proto = e.proto;
    if (e.source) {
      o.src = ltrim(e.source.text);
      if (opts.linum) {
        o.file = e.source.file;
        if (e.source.line) o.line_num = e.source.line;
        if (e.source.col) o.line_col = e.source.col;
      }
    }
    o.disasm = e.text;
    if (opts.opcodes) {
      const b = encodeSlots(e.insn);
      const hex = (x: Uint8Array): JsonValue[] => [...x].map((v) => `0x${v.toString(16).padStart(2, '0')}`);
      o.opcodes = {
        code: `0x${e.insn.code.toString(16).padStart(2, '0')}`,
        src_reg: `0x${e.insn.src.toString(16)}`,
        dst_reg: `0x${e.insn.dst.toString(16)}`,
        off: hex(b.subarray(2, 4)),
        imm: hex(e.insn.hi ? b.subarray(4, 16) : b.subarray(4, 8)),
      };
    }
    return o;
  });
}
