// BPF instruction encoding (struct bpf_insn: u8 code; u8 dst:4, src:4; s16 off; s32 imm), little-endian.

export const INSN_SIZE = 8;

export const BPF_CLASS = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, JMP32: 0x06, ALU64: 0x07 } as const;
export const BPF_CALL = 0x80;
export const BPF_EXIT = 0x90;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_IMM = 0x00;
export const BPF_DW = 0x18;
export const BPF_W = 0x00;
export const BPF_MOV = 0xb0;

/** ld_imm64: BPF_LD | BPF_IMM | BPF_DW */
export const LD_IMM64 = BPF_CLASS.LD | BPF_IMM | BPF_DW;
/** call: BPF_JMP | BPF_CALL */
export const CALL = BPF_CLASS.JMP | BPF_CALL;

export const BPF_PSEUDO = {
  MAP_FD: 1,
  MAP_VALUE: 2,
  BTF_ID: 3,
  FUNC: 4,
  MAP_IDX: 5,
  MAP_IDX_VALUE: 6,
  /** src_reg of a call to a bpf-to-bpf subprogram */
  CALL: 1,
  /** src_reg of a kfunc call */
  KFUNC_CALL: 2,
} as const;

/** libbpf's poison for CO-RE relocations that can't be resolved: "call 0xbad2310". */
export const POISON_CORE = 0xbad2310;
/** libbpf's poison base for ld_imm64 to maps that are not created (imm = base + map index). */
export const POISON_MAP_BASE = 2001000000;
/** libbpf's poison base for calls to unresolved weak kfuncs (imm = base + extern index). */
export const POISON_KFUNC_BASE = 2002000000;

/** Whether a helper call's imm is one of the poisons above rather than a helper id (helper ids are small). */
export function isPoisonedCall(imm: number): boolean {
  return imm === POISON_CORE || imm >= POISON_MAP_BASE;
}

/** A mutable view over an instruction array. Reads and writes individual fields in place. */
export class Insns {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get count(): number {
    return this.bytes.byteLength / INSN_SIZE;
  }
  code(i: number): number {
    return this.bytes[i * INSN_SIZE]!;
  }
  dst(i: number): number {
    return this.bytes[i * INSN_SIZE + 1]! & 0x0f;
  }
  src(i: number): number {
    return this.bytes[i * INSN_SIZE + 1]! >> 4;
  }
  setSrc(i: number, src: number): void {
    const b = i * INSN_SIZE + 1;
    this.bytes[b] = (this.bytes[b]! & 0x0f) | ((src & 0x0f) << 4);
  }
  off(i: number): number {
    return this.view.getInt16(i * INSN_SIZE + 2, true);
  }
  setOff(i: number, off: number): void {
    this.view.setInt16(i * INSN_SIZE + 2, off, true);
  }
  imm(i: number): number {
    return this.view.getInt32(i * INSN_SIZE + 4, true);
  }
  setImm(i: number, imm: number): void {
    this.view.setInt32(i * INSN_SIZE + 4, imm | 0, true);
  }
  isLdImm64(i: number): boolean {
    return this.code(i) === LD_IMM64;
  }
  isCall(i: number): boolean {
    return this.code(i) === CALL;
  }
  isSubprogCall(i: number): boolean {
    return this.code(i) === CALL && this.src(i) === BPF_PSEUDO.CALL;
  }
  isPseudoFunc(i: number): boolean {
    return this.code(i) === LD_IMM64 && this.src(i) === BPF_PSEUDO.FUNC;
  }
}
