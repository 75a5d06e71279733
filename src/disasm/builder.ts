// A small assembler for hand-written programs (feature probes, tests): instruction constructors that
// return decoded Instructions, and an Assembler that resolves jump labels and encodes the result.
//
//   const insns = new Assembler()
//     .mov64(R0, 10)
//     .label('loop')
//     .alu64('sub', R0, 1)          // immediates: alu64, jmp; registers: alu64Reg, jmpReg
//     .jmp('jne', R0, 0, 'loop')
//     .exit()
//     .assemble();

import { BpfError } from '../errors.js';
import { encodeInstructions, type Instruction, type RawInsn } from './decode.js';
import { helperId } from './format.js';
import { ALU, ATOMIC, CLASS, END, JMP, LD_IMM64, MODE, PSEUDO, SIZE, SRC } from './opcodes.js';

export const R0 = 0, R1 = 1, R2 = 2, R3 = 3, R4 = 4, R5 = 5, R6 = 6, R7 = 7, R8 = 8, R9 = 9, R10 = 10;
/** The read-only frame pointer. */
export const FP = R10;

export type AluOp = 'add' | 'sub' | 'mul' | 'div' | 'sdiv' | 'or' | 'and' | 'lsh' | 'rsh' | 'mod' | 'smod' | 'xor' | 'mov' | 'arsh';
export type JmpOp = 'jeq' | 'jgt' | 'jge' | 'jset' | 'jne' | 'jsgt' | 'jsge' | 'jlt' | 'jle' | 'jslt' | 'jsle';
export type Size = 'u8' | 'u16' | 'u32' | 'u64';
export type AtomicOp = 'add' | 'and' | 'or' | 'xor';

const ALU_CODES: Record<AluOp, [number, number]> = {
  add: [ALU.ADD, 0], sub: [ALU.SUB, 0], mul: [ALU.MUL, 0], div: [ALU.DIV, 0], sdiv: [ALU.DIV, 1], or: [ALU.OR, 0],
  and: [ALU.AND, 0], lsh: [ALU.LSH, 0], rsh: [ALU.RSH, 0], mod: [ALU.MOD, 0], smod: [ALU.MOD, 1], xor: [ALU.XOR, 0],
  mov: [ALU.MOV, 0], arsh: [ALU.ARSH, 0],
};
const JMP_CODES: Record<JmpOp, number> = {
  jeq: JMP.JEQ, jgt: JMP.JGT, jge: JMP.JGE, jset: JMP.JSET, jne: JMP.JNE, jsgt: JMP.JSGT, jsge: JMP.JSGE, jlt: JMP.JLT,
  jle: JMP.JLE, jslt: JMP.JSLT, jsle: JMP.JSLE,
};
const SIZES: Record<Size, number> = { u8: SIZE.B, u16: SIZE.H, u32: SIZE.W, u64: SIZE.DW };
const ATOMIC_CODES: Record<AtomicOp, number> = { add: ATOMIC.ADD, and: ATOMIC.AND, or: ATOMIC.OR, xor: ATOMIC.XOR };

function reg(r: number, what: string): number {
  if (!Number.isInteger(r) || r < 0 || r > 10) throw new BpfError(`${what}: invalid register r${r}`, { cmd: 'assemble', errno: 22 });
  return r;
}

function s16(v: number, what: string): number {
  if (!Number.isInteger(v) || v < -32768 || v > 32767) throw new BpfError(`${what}: offset ${v} does not fit in 16 bits`, { cmd: 'assemble', errno: 22 });
  return v;
}

function s32(v: number, what: string): number {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) throw new BpfError(`${what}: immediate ${v} does not fit in 32 bits`, { cmd: 'assemble', errno: 22 });
  return v | 0;
}

const insn = (code: number, dst: number, src: number, off: number, immv: number): Instruction =>
  ({ index: 0, code, dst, src, off, imm: immv });

/** dst op= imm, on 64 bits (imm sign-extended). */
export const alu64 = (op: AluOp, dst: number, value: number): Instruction => alu(CLASS.ALU64, op, dst, { imm: value });
/** dst op= src, on 64 bits. */
export const alu64Reg = (op: AluOp, dst: number, src: number): Instruction => alu(CLASS.ALU64, op, dst, { reg: src });
/** dst op= imm on the lower 32 bits (the result is zero-extended). */
export const alu32 = (op: AluOp, dst: number, value: number): Instruction => alu(CLASS.ALU, op, dst, { imm: value });
export const alu32Reg = (op: AluOp, dst: number, src: number): Instruction => alu(CLASS.ALU, op, dst, { reg: src });
function alu(cls: number, op: AluOp, dst: number, src: { imm: number } | { reg: number }): Instruction {
  const [code, off] = ALU_CODES[op];
  if ('reg' in src) return insn(cls | code | SRC.X, reg(dst, op), reg(src.reg, op), off, 0);
  return insn(cls | code | SRC.K, reg(dst, op), 0, off, s32(src.imm, op));
}
/** dst = imm (64-bit, sign-extended from 32 bits). */
export const mov64 = (dst: number, value: number): Instruction => alu64('mov', dst, value);
/** dst = src. */
export const mov64Reg = (dst: number, src: number): Instruction => alu64Reg('mov', dst, src);
export const mov32 = (dst: number, value: number): Instruction => alu32('mov', dst, value);
/** v4 sign-extending move: dst = (s8|s16|s32) src. */
export function movsx64(dst: number, src: number, bits: 8 | 16 | 32): Instruction {
  return insn(CLASS.ALU64 | ALU.MOV | SRC.X, reg(dst, 'movsx'), reg(src, 'movsx'), bits, 0);
}
export const neg64 = (dst: number): Instruction => insn(CLASS.ALU64 | ALU.NEG, reg(dst, 'neg'), 0, 0, 0);
/** Byte swap: 'le'/'be' convert to that byte order (ALU class), 'swap' swaps unconditionally (v4, ALU64). */
export function endian(kind: 'le' | 'be' | 'swap', dst: number, bits: 16 | 32 | 64): Instruction {
  if (kind === 'swap') return insn(CLASS.ALU64 | ALU.END, reg(dst, 'bswap'), 0, 0, bits);
  return insn(CLASS.ALU | ALU.END | (kind === 'be' ? END.TO_BE : END.TO_LE), reg(dst, kind), 0, 0, bits);
}

/** dst = *(size *)(src + off). */
export function ldx(size: Size, dst: number, src: number, off: number): Instruction {
  return insn(CLASS.LDX | MODE.MEM | SIZES[size], reg(dst, 'ldx'), reg(src, 'ldx'), s16(off, 'ldx'), 0);
}
/** v4 sign-extending load. */
export function ldxs(size: Exclude<Size, 'u64'>, dst: number, src: number, off: number): Instruction {
  return insn(CLASS.LDX | MODE.MEMSX | SIZES[size], reg(dst, 'ldxs'), reg(src, 'ldxs'), s16(off, 'ldxs'), 0);
}
/** *(size *)(dst + off) = src. */
export function stx(size: Size, dst: number, off: number, src: number): Instruction {
  return insn(CLASS.STX | MODE.MEM | SIZES[size], reg(dst, 'stx'), reg(src, 'stx'), s16(off, 'stx'), 0);
}
/** *(size *)(dst + off) = imm. */
export function st(size: Size, dst: number, off: number, value: number): Instruction {
  return insn(CLASS.ST | MODE.MEM | SIZES[size], reg(dst, 'st'), 0, s16(off, 'st'), s32(value, 'st'));
}
/** lock *(size *)(dst + off) op= src; with fetch, src receives the old value. */
export function atomic(op: AtomicOp, size: 'u32' | 'u64', dst: number, off: number, src: number, opts: { fetch?: boolean } = {}): Instruction {
  return insn(CLASS.STX | MODE.ATOMIC | SIZES[size], reg(dst, 'atomic'), reg(src, 'atomic'), s16(off, 'atomic'), ATOMIC_CODES[op] | (opts.fetch ? ATOMIC.FETCH : 0));
}
/** src = xchg(*(size *)(dst + off), src). */
export function xchg(size: 'u32' | 'u64', dst: number, off: number, src: number): Instruction {
  return insn(CLASS.STX | MODE.ATOMIC | SIZES[size], reg(dst, 'xchg'), reg(src, 'xchg'), s16(off, 'xchg'), ATOMIC.XCHG);
}
/** r0 = cmpxchg(*(size *)(dst + off), r0, src). */
export function cmpxchg(size: 'u32' | 'u64', dst: number, off: number, src: number): Instruction {
  return insn(CLASS.STX | MODE.ATOMIC | SIZES[size], reg(dst, 'cmpxchg'), reg(src, 'cmpxchg'), s16(off, 'cmpxchg'), ATOMIC.CMPXCHG);
}

function ldImm64Raw(dst: number, src: number, lo: number, hi: number): Instruction {
  return { index: 0, code: LD_IMM64, dst: reg(dst, 'ld_imm64'), src, off: 0, imm: lo | 0, hi: { code: 0, dst: 0, src: 0, off: 0, imm: hi | 0 } };
}
/** dst = 64-bit constant. */
export function ldImm64(dst: number, value: bigint | number): Instruction {
  const v = BigInt.asUintN(64, BigInt(value));
  return ldImm64Raw(dst, 0, Number(v & 0xffffffffn), Number(v >> 32n));
}
/** dst = the map behind `fd` (BPF_PSEUDO_MAP_FD). */
export const ldMapFd = (dst: number, fd: number): Instruction => ldImm64Raw(dst, PSEUDO.MAP_FD, fd, 0);
/** dst = address of the map value at `offset` in the map behind `fd` (BPF_PSEUDO_MAP_VALUE). */
export const ldMapValue = (dst: number, fd: number, offset = 0): Instruction => ldImm64Raw(dst, PSEUDO.MAP_VALUE, fd, offset);

/** Calls a helper by id or name ('map_lookup_elem' or 'bpf_map_lookup_elem'). */
export function call(helper: number | string): Instruction {
  const id = typeof helper === 'number' ? helper : helperId(helper);
  if (id === undefined) throw new BpfError(`unknown helper '${String(helper)}'`, { cmd: 'assemble', errno: 22 });
  return insn(CLASS.JMP | JMP.CALL, 0, 0, 0, id);
}
/** Calls a kfunc by kernel BTF id (fdIdx: index of its module BTF in fd_array, 0 for vmlinux). */
export const callKfunc = (btfId: number, fdIdx = 0): Instruction => insn(CLASS.JMP | JMP.CALL, 0, PSEUDO.KFUNC_CALL, s16(fdIdx, 'kfunc'), btfId);
export const exit = (): Instruction => insn(CLASS.JMP | JMP.EXIT, 0, 0, 0, 0);

type Target = number | string;
interface Pending {
  at: number;
  label: string;
  /** Where the relative offset goes: `off` for jumps, `imm` for gotol and pseudo calls. */
  field: 'off' | 'imm';
}

/**
 * Builds a program instruction by instruction. Jump targets are labels (resolved at assemble()) or
 * relative offsets in instructions, as in C's BPF_JMP_IMM macros.
 */
export class Assembler {
  private readonly insns: Instruction[] = [];
  private readonly labels = new Map<string, number>();
  private readonly pending: Pending[] = [];
  private slots = 0;

  /** Appends instructions (from the constructors above or decoded ones). */
  emit(...insns: (RawInsn & { index?: number; hi?: RawInsn })[]): this {
    for (const i of insns) {
      const copy: Instruction = { ...i, index: this.slots };
      this.insns.push(copy);
      this.slots += copy.hi ? 2 : 1;
    }
    return this;
  }

  /** Names the position of the next instruction. */
  label(name: string): this {
    if (this.labels.has(name)) throw new BpfError(`label '${name}' defined twice`, { cmd: 'assemble', errno: 22 });
    this.labels.set(name, this.slots);
    return this;
  }

  /** The slot index the next instruction will get. */
  get length(): number {
    return this.slots;
  }

  private target(t: Target, field: 'off' | 'imm', build: (rel: number) => Instruction): this {
    if (typeof t === 'number') return this.emit(build(t));
    this.pending.push({ at: this.insns.length, label: t, field });
    return this.emit(build(0));
  }

  mov64(dst: number, value: number): this { return this.emit(mov64(dst, value)); }
  mov64Reg(dst: number, src: number): this { return this.emit(mov64Reg(dst, src)); }
  mov32(dst: number, value: number): this { return this.emit(mov32(dst, value)); }
  alu64(op: AluOp, dst: number, value: number): this { return this.emit(alu64(op, dst, value)); }
  alu64Reg(op: AluOp, dst: number, src: number): this { return this.emit(alu64Reg(op, dst, src)); }
  alu32(op: AluOp, dst: number, value: number): this { return this.emit(alu32(op, dst, value)); }
  alu32Reg(op: AluOp, dst: number, src: number): this { return this.emit(alu32Reg(op, dst, src)); }
  ldx(size: Size, dst: number, src: number, off: number): this { return this.emit(ldx(size, dst, src, off)); }
  stx(size: Size, dst: number, off: number, src: number): this { return this.emit(stx(size, dst, off, src)); }
  st(size: Size, dst: number, off: number, value: number): this { return this.emit(st(size, dst, off, value)); }
  ldImm64(dst: number, value: bigint | number): this { return this.emit(ldImm64(dst, value)); }
  ldMapFd(dst: number, fd: number): this { return this.emit(ldMapFd(dst, fd)); }
  call(helper: number | string): this { return this.emit(call(helper)); }
  exit(): this { return this.emit(exit()); }

  /** `if dst op imm goto target`. */
  jmp(op: JmpOp, dst: number, value: number, target: Target): this {
    return this.target(target, 'off', (rel) => jmpInsn(CLASS.JMP, op, dst, { imm: value }, rel));
  }
  /** `if dst op src goto target`. */
  jmpReg(op: JmpOp, dst: number, src: number, target: Target): this {
    return this.target(target, 'off', (rel) => jmpInsn(CLASS.JMP, op, dst, { reg: src }, rel));
  }
  /** `if wDst op imm goto target`: the comparison on the lower 32 bits (v3). */
  jmp32(op: JmpOp, dst: number, value: number, target: Target): this {
    return this.target(target, 'off', (rel) => jmpInsn(CLASS.JMP32, op, dst, { imm: value }, rel));
  }
  jmp32Reg(op: JmpOp, dst: number, src: number, target: Target): this {
    return this.target(target, 'off', (rel) => jmpInsn(CLASS.JMP32, op, dst, { reg: src }, rel));
  }
  /** goto (16-bit offset). */
  ja(target: Target): this {
    return this.target(target, 'off', (rel) => insn(CLASS.JMP | JMP.JA, 0, 0, s16(rel, 'ja'), 0));
  }
  /** gotol: goto with a 32-bit offset (v4). */
  gotol(target: Target): this {
    return this.target(target, 'imm', (rel) => insn(CLASS.JMP32 | JMP.JA, 0, 0, 0, s32(rel, 'gotol')));
  }
  /** bpf-to-bpf call of the code at `target`. */
  callLocal(target: Target): this {
    return this.target(target, 'imm', (rel) => insn(CLASS.JMP | JMP.CALL, 0, PSEUDO.CALL, 0, rel));
  }

  /** Resolves labels and returns the decoded instructions (with final indices). */
  instructions(): Instruction[] {
    const out = this.insns.map((i) => ({ ...i, hi: i.hi ? { ...i.hi } : undefined }));
    for (const p of this.pending) {
      const dest = this.labels.get(p.label);
      if (dest === undefined) throw new BpfError(`undefined label '${p.label}'`, { cmd: 'assemble', errno: 22 });
      const ins = out[p.at]!;
      const rel = dest - ins.index - 1;
      if (p.field === 'off') ins.off = s16(rel, `jump to '${p.label}'`);
      else ins.imm = rel;
    }
    for (const i of out) if (!i.hi) delete i.hi;
    return out;
  }

  /** The encoded program (struct bpf_insn array). */
  assemble(): Uint8Array {
    return encodeInstructions(this.instructions());
  }
}

function jmpInsn(cls: number, op: JmpOp, dst: number, src: { imm: number } | { reg: number }, rel: number): Instruction {
  const code = JMP_CODES[op];
  if ('reg' in src) return insn(cls | code | SRC.X, reg(dst, op), reg(src.reg, op), s16(rel, op), 0);
  return insn(cls | code | SRC.K, reg(dst, op), 0, s16(rel, op), s32(src.imm, op));
}
