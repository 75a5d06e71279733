// The BPF instruction set's opcode fields (include/uapi/linux/bpf_common.h, bpf.h), v1 through v4.
// An opcode byte is class (3 bits) | source or size (1–2 bits) | operation or mode (3–4 bits).

/** Instruction classes: code & 0x07. */
export const CLASS = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, JMP32: 0x06, ALU64: 0x07 } as const;

/** ALU operations: code & 0xf0 (ALU and ALU64 classes). */
export const ALU = {
  ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70,
  NEG: 0x80, MOD: 0x90, XOR: 0xa0, MOV: 0xb0, ARSH: 0xc0, END: 0xd0,
} as const;

/** Jump operations: code & 0xf0 (JMP and JMP32 classes). */
export const JMP = {
  JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40, JNE: 0x50, JSGT: 0x60, JSGE: 0x70,
  CALL: 0x80, EXIT: 0x90, JLT: 0xa0, JLE: 0xb0, JSLT: 0xc0, JSLE: 0xd0, JCOND: 0xe0,
} as const;

/** Operand source: code & 0x08. K = 32-bit immediate, X = source register. */
export const SRC = { K: 0x00, X: 0x08 } as const;
/** BPF_END direction (ALU class): the same bit as SRC. */
export const END = { TO_LE: 0x00, TO_BE: 0x08 } as const;

/** Load/store sizes: code & 0x18. */
export const SIZE = { W: 0x00, H: 0x08, B: 0x10, DW: 0x18 } as const;
/** Load/store modes: code & 0xe0. MEMSX is v4's sign-extending load; 0xc0 in the ST class is the kernel-internal nospec. */
export const MODE = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, MEMSX: 0x80, ATOMIC: 0xc0 } as const;

/** Atomic operations (imm of a BPF_ATOMIC store). FETCH is or'ed into add/and/or/xor; xchg and cmpxchg always fetch. */
export const ATOMIC = {
  ADD: 0x00, OR: 0x40, AND: 0x50, XOR: 0xa0, FETCH: 0x01, XCHG: 0xe1, CMPXCHG: 0xf1,
  LOAD_ACQ: 0x100, STORE_REL: 0x110,
} as const;

/** src_reg values that give an instruction a special meaning (BPF_PSEUDO_*). */
export const PSEUDO = {
  /** ld_imm64: imm is a map fd (before load) or map id (xlated). */
  MAP_FD: 1,
  /** ld_imm64: address of a map value: imm = map fd/id, second imm = offset. */
  MAP_VALUE: 2,
  /** ld_imm64: a kernel variable by BTF id. */
  BTF_ID: 3,
  /** ld_imm64: address of a subprogram (callbacks): imm = relative insn offset. */
  FUNC: 4,
  /** ld_imm64: imm is an index into fd_array. */
  MAP_IDX: 5,
  MAP_IDX_VALUE: 6,
  /** call: bpf-to-bpf call, imm = relative insn offset. */
  CALL: 1,
  /** call: kfunc by BTF id, off = index of the module BTF fd in fd_array. */
  KFUNC_CALL: 2,
} as const;

/** src_reg of JMP|JCOND: the may_goto instruction. */
export const MAY_GOTO = 0;
/** off of ALU64|MOV|X: cast between address spaces (arena pointers). */
export const ADDR_SPACE_CAST = 1;
/** off of ALU64|MOV|X: the kernel-internal per-CPU address computation. */
export const ADDR_PERCPU = -1;

export const INSN_SIZE = 8;
export const LD_IMM64 = CLASS.LD | MODE.IMM | SIZE.DW;

export const classOf = (code: number): number => code & 0x07;
export const opOf = (code: number): number => code & 0xf0;
export const srcOf = (code: number): number => code & 0x08;
export const sizeOf = (code: number): number => code & 0x18;
export const modeOf = (code: number): number => code & 0xe0;

/** Bytes accessed by a load/store of this size field. */
export function sizeBytes(size: number): number {
  return size === SIZE.DW ? 8 : size === SIZE.W ? 4 : size === SIZE.H ? 2 : 1;
}
