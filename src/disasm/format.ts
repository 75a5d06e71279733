// Instruction text in the kernel verifier's and bpftool's notation ("(85) call bpf_map_lookup_elem#1",
// "(79) r0 = *(u64 *)(r1 +8)"), so that our output can be compared line by line with
// `bpftool prog dump xlated` and with verifier logs. Formats follow kernel/bpf/disasm.c's output,
// including its quirks (e.g. "(null)" where the kernel's string tables have holes).

import { BPF_FUNC_ID_NAMES } from '../../syscalls/generated/bpf-enums.js';
import { imm64, type Instruction } from './decode.js';
import {
  ADDR_PERCPU, ADDR_SPACE_CAST, ALU, ATOMIC, CLASS, END, JMP, MAY_GOTO, MODE, PSEUDO, SIZE, SRC, classOf, modeOf, opOf,
  sizeOf, srcOf,
} from './opcodes.js';

export interface FormatOptions {
  /**
   * The name printed for a call target ("call NAME#imm", "call pcNAME"). Called for calls that are not
   * known helpers (src_reg 0 with a helper id); return undefined for the default (helper name,
   * "+N" for bpf-to-bpf calls, "kernel-function" for kfuncs, "unknown" otherwise).
   */
  callName?: (insn: Instruction) => string | undefined;
  /** The text of a ld_imm64's value (e.g. "map[id:5]"); undefined for the default "0x…". */
  immName?: (insn: Instruction, value: bigint) => string | undefined;
  /** Print the "(code) " prefix (default true, as the kernel and bpftool do). */
  opcode?: boolean;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');
/** printf's "%+d". */
const signed = (n: number): string => (n < 0 ? `${n}` : `+${n}`);
/** glibc prints a NULL "%s" argument as "(null)"; the kernel's tables have holes that show up this way. */
const orNull = (s: string | undefined): string => s ?? '(null)';

const ALU_OPS: Readonly<Record<number, string>> = {
  [ALU.ADD]: '+=', [ALU.SUB]: '-=', [ALU.MUL]: '*=', [ALU.DIV]: '/=', [ALU.OR]: '|=', [ALU.AND]: '&=',
  [ALU.LSH]: '<<=', [ALU.RSH]: '>>=', [ALU.NEG]: 'neg', [ALU.MOD]: '%=', [ALU.XOR]: '^=', [ALU.MOV]: '=',
  [ALU.ARSH]: 's>>=', [ALU.END]: 'endian',
};
const ALU_SIGNED_OPS: Readonly<Record<number, string>> = { [ALU.DIV]: 's/=', [ALU.MOD]: 's%=' };
const MOVSX_CAST: Readonly<Record<number, string>> = { 8: '(s8)', 16: '(s16)', 32: '(s32)' };
const ATOMIC_OPS: Readonly<Record<number, string>> = { [ATOMIC.ADD]: 'add', [ATOMIC.AND]: 'and', [ATOMIC.OR]: 'or', [ATOMIC.XOR]: 'xor' };
const LDST_TYPE: Readonly<Record<number, string>> = { [SIZE.W]: 'u32', [SIZE.H]: 'u16', [SIZE.B]: 'u8', [SIZE.DW]: 'u64' };
const LDSX_TYPE: Readonly<Record<number, string>> = { [SIZE.W]: 's32', [SIZE.H]: 's16', [SIZE.B]: 's8' };
const JMP_OPS: Readonly<Record<number, string>> = {
  [JMP.JA]: 'jmp', [JMP.JEQ]: '==', [JMP.JGT]: '>', [JMP.JLT]: '<', [JMP.JGE]: '>=', [JMP.JLE]: '<=', [JMP.JSET]: '&',
  [JMP.JNE]: '!=', [JMP.JSGT]: 's>', [JMP.JSLT]: 's<', [JMP.JSGE]: 's>=', [JMP.JSLE]: 's<=', [JMP.CALL]: 'call',
  [JMP.EXIT]: 'exit',
};

/** Helper id → "bpf_map_lookup_elem", from the kernel's enum bpf_func_id. */
export function helperName(id: number): string | undefined {
  const full = BPF_FUNC_ID_NAMES[id];
  return full && id > 0 ? `bpf_${full.slice('BPF_FUNC_'.length)}` : undefined;
}

let helperIds: Map<string, number> | undefined;
/** "bpf_map_lookup_elem" or "map_lookup_elem" → helper id. */
export function helperId(name: string): number | undefined {
  if (!helperIds) {
    helperIds = new Map();
    for (const [id, full] of Object.entries(BPF_FUNC_ID_NAMES)) {
      if (Number(id) > 0) helperIds.set(full.slice('BPF_FUNC_'.length), Number(id));
    }
  }
  return helperIds.get(name.startsWith('bpf_') ? name.slice(4) : name);
}

function callTarget(insn: Instruction, opts: FormatOptions): string {
  if (insn.src === 0) {
    const h = helperName(insn.imm);
    if (h) return h;
  }
  const custom = opts.callName?.(insn);
  if (custom !== undefined) return custom;
  if (insn.src === PSEUDO.CALL) return signed(insn.imm);
  if (insn.src === PSEUDO.KFUNC_CALL) return 'kernel-function';
  return 'unknown';
}

function formatAlu(insn: Instruction): string {
  const cls = classOf(insn.code);
  const op = opOf(insn.code);
  const r = cls === CLASS.ALU ? 'w' : 'r';
  const { dst, src, off, imm } = insn;
  if (op === ALU.END) {
    if (cls === CLASS.ALU64) return `r${dst} = bswap${imm} r${dst}`;
    return `r${dst} = ${srcOf(insn.code) === END.TO_BE ? 'be' : 'le'}${imm} r${dst}`;
  }
  if (op === ALU.NEG) return `${r}${dst} = -${r}${dst}`;
  if (insn.code === (CLASS.ALU64 | ALU.MOV | SRC.X) && off === ADDR_SPACE_CAST) {
    return `r${dst} = addr_space_cast(r${src}, ${imm >>> 16}, ${imm & 0xffff})`;
  }
  if (insn.code === (CLASS.ALU64 | ALU.MOV | SRC.X) && off === ADDR_PERCPU) return `r${dst} = &(void __percpu *)(r${src})`;
  const sdivSmod = (op === ALU.DIV || op === ALU.MOD) && off === 1;
  const opText = orNull(sdivSmod ? ALU_SIGNED_OPS[op] : ALU_OPS[op]);
  if (srcOf(insn.code) === SRC.X) {
    const cast = op === ALU.MOV ? (MOVSX_CAST[off] ?? '') : '';
    return `${r}${dst} ${opText} ${cast}${r}${src}`;
  }
  return `${r}${dst} ${opText} ${imm}`;
}

function formatStx(insn: Instruction): string {
  const size = sizeOf(insn.code);
  const type = orNull(LDST_TYPE[size]);
  const w = size === SIZE.DW ? '64' : '';
  const { dst, src, off, imm } = insn;
  const mem = `(${type} *)(r${dst} ${signed(off)})`;
  const mode = modeOf(insn.code);
  if (mode === MODE.MEM) return `*${mem} = r${src}`;
  if (mode === MODE.ATOMIC) {
    if (imm === ATOMIC.ADD || imm === ATOMIC.AND || imm === ATOMIC.OR || imm === ATOMIC.XOR) {
      return `lock *${mem} ${orNull(ALU_OPS[imm])} r${src}`;
    }
    const base = imm & ~ATOMIC.FETCH;
    if ((imm & ATOMIC.FETCH) && (base === ATOMIC.ADD || base === ATOMIC.AND || base === ATOMIC.OR || base === ATOMIC.XOR)) {
      return `r${src} = atomic${w}_fetch_${ATOMIC_OPS[base]}(${mem}, r${src})`;
    }
    if (imm === ATOMIC.CMPXCHG) return `r0 = atomic${w}_cmpxchg(${mem}, r0, r${src})`;
    if (imm === ATOMIC.XCHG) return `r${src} = atomic${w}_xchg(${mem}, r${src})`;
    // load-acquire reads through src_reg into dst_reg; store-release writes src_reg through dst_reg.
    if (imm === ATOMIC.LOAD_ACQ) return `r${dst} = load_acquire((${type} *)(r${src} ${signed(off)}))`;
    if (imm === ATOMIC.STORE_REL) return `store_release(${mem}, r${src})`;
  }
  return `BUG_${hex2(insn.code)}`;
}

function formatJmp(insn: Instruction, opts: FormatOptions): string {
  const cls = classOf(insn.code);
  const op = opOf(insn.code);
  const { code, dst, src, off, imm } = insn;
  if (op === JMP.CALL) {
    if (src === PSEUDO.CALL) return `call pc${callTarget(insn, opts)}`;
    return `call ${callTarget(insn, opts)}#${imm}`;
  }
  if (code === (CLASS.JMP | JMP.JA)) return `goto pc${signed(off)}`;
  if (code === (CLASS.JMP | JMP.JA | SRC.X)) return `gotox r${dst}`;
  if (code === (CLASS.JMP | JMP.JCOND) && src === MAY_GOTO) return `may_goto pc${signed(off)}`;
  if (code === (CLASS.JMP32 | JMP.JA)) return `gotol pc${signed(imm)}`;
  if (code === (CLASS.JMP | JMP.EXIT)) return 'exit';
  const r = cls === CLASS.JMP32 ? 'w' : 'r';
  const opText = orNull(JMP_OPS[op]);
  if (srcOf(code) === SRC.X) return `if ${r}${dst} ${opText} ${r}${src} goto pc${signed(off)}`;
  return `if ${r}${dst} ${opText} 0x${(imm >>> 0).toString(16)} goto pc${signed(off)}`;
}

/** The text of one instruction, as the kernel's print_bpf_insn writes it (without the trailing newline). */
export function formatInstruction(insn: Instruction, opts: FormatOptions = {}): string {
  const body = formatBody(insn, opts);
  // The kernel prints malformed instructions as "BUG_..." without the opcode prefix.
  return opts.opcode === false || body.startsWith('BUG_') ? body : `(${hex2(insn.code)}) ${body}`;
}

function formatBody(insn: Instruction, opts: FormatOptions): string {
  const { code, dst, src, off, imm } = insn;
  switch (classOf(code)) {
    case CLASS.ALU:
    case CLASS.ALU64:
      return formatAlu(insn);
    case CLASS.STX:
      return formatStx(insn);
    case CLASS.ST: {
      const mode = modeOf(code);
      if (mode === MODE.MEM) return `*(${orNull(LDST_TYPE[sizeOf(code)])} *)(r${dst} ${signed(off)}) = ${imm}`;
      if (mode === 0xc0) return 'nospec';
      return `BUG_st_${hex2(code)}`;
    }
    case CLASS.LDX: {
      const mode = modeOf(code);
      if (mode !== MODE.MEM && mode !== MODE.MEMSX) return `BUG_ldx_${hex2(code)}`;
      const type = mode === MODE.MEM ? LDST_TYPE[sizeOf(code)] : LDSX_TYPE[sizeOf(code)];
      return `r${dst} = *(${orNull(type)} *)(r${src} ${signed(off)})`;
    }
    case CLASS.LD: {
      const mode = modeOf(code);
      const type = orNull(LDST_TYPE[sizeOf(code)]);
      if (mode === MODE.ABS) return `r0 = *(${type} *)skb[${imm}]`;
      if (mode === MODE.IND) return `r0 = *(${type} *)skb[r${src} + ${imm}]`;
      if (mode === MODE.IMM && sizeOf(code) === SIZE.DW) {
        const v = imm64(insn);
        return `r${dst} = ${opts.immName?.(insn, v) ?? `0x${v.toString(16)}`}`;
      }
      return `BUG_ld_${hex2(code)}`;
    }
    default:
      return formatJmp(insn, opts);
  }
}
