// Decoding and encoding of struct bpf_insn arrays (u8 code; u8 dst:4, src:4; s16 off; s32 imm, little
// endian). A ld_imm64 occupies two slots and decodes to one Instruction whose `hi` is the second slot,
// kept whole (not just its imm) so that decode → encode reproduces every byte, reserved fields included.

import { BpfError } from '../errors.js';
import { CLASS, INSN_SIZE, JMP, LD_IMM64, MODE, PSEUDO, classOf, modeOf, opOf } from './opcodes.js';

/** One 8-byte slot. */
export interface RawInsn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

export interface Instruction extends RawInsn {
  /** Slot index of this instruction in the array it was decoded from (the first slot of a ld_imm64). */
  index: number;
  /** The second slot of a ld_imm64 (its imm holds the upper 32 bits); absent when the array is truncated. */
  hi?: RawInsn;
}

function readSlot(dv: DataView, at: number): RawInsn {
  const regs = dv.getUint8(at + 1);
  return { code: dv.getUint8(at), dst: regs & 0x0f, src: regs >> 4, off: dv.getInt16(at + 2, true), imm: dv.getInt32(at + 4, true) };
}

function writeSlot(dv: DataView, at: number, s: RawInsn): void {
  dv.setUint8(at, s.code & 0xff);
  dv.setUint8(at + 1, (s.dst & 0x0f) | ((s.src & 0x0f) << 4));
  dv.setInt16(at + 2, s.off, true);
  dv.setInt32(at + 4, s.imm | 0, true);
}

/** Decodes an instruction array (a program, a section, xlated_prog_insns). */
export function decodeInstructions(bytes: Uint8Array): Instruction[] {
  if (bytes.byteLength % INSN_SIZE) {
    throw new BpfError(`instruction array of ${bytes.byteLength} bytes is not a multiple of ${INSN_SIZE}`, { cmd: 'disassemble', errno: 22 });
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.byteLength / INSN_SIZE;
  const out: Instruction[] = [];
  for (let i = 0; i < n; i++) {
    const insn = readSlot(dv, i * INSN_SIZE) as Instruction;
    insn.index = i;
    if (insn.code === LD_IMM64 && i + 1 < n) {
      insn.hi = readSlot(dv, ++i * INSN_SIZE);
    }
    out.push(insn);
  }
  return out;
}

/** Slots taken by an instruction (2 for a complete ld_imm64). */
export function slotCount(insn: RawInsn & { hi?: RawInsn }): number {
  return insn.hi ? 2 : 1;
}

/** Encodes instructions back to bytes. Inverse of decodeInstructions. */
export function encodeInstructions(insns: readonly (RawInsn & { hi?: RawInsn })[]): Uint8Array {
  let slots = 0;
  for (const insn of insns) slots += slotCount(insn);
  const out = new Uint8Array(slots * INSN_SIZE);
  const dv = new DataView(out.buffer);
  let at = 0;
  for (const insn of insns) {
    writeSlot(dv, at, insn);
    at += INSN_SIZE;
    if (insn.hi) {
      writeSlot(dv, at, insn.hi);
      at += INSN_SIZE;
    }
  }
  return out;
}

/** The 64-bit immediate of a ld_imm64 (lower half from imm, upper from the second slot), unsigned. */
export function imm64(insn: RawInsn & { hi?: RawInsn }): bigint {
  return (BigInt(insn.hi ? insn.hi.imm >>> 0 : 0) << 32n) | BigInt(insn.imm >>> 0);
}

export const isLdImm64 = (insn: RawInsn): boolean => insn.code === LD_IMM64;
export const isExit = (insn: RawInsn): boolean => insn.code === (CLASS.JMP | JMP.EXIT);
/** A call of any kind (helper, bpf-to-bpf, kfunc). JMP32|CALL is not a valid call but disassembles as one. */
export const isCall = (insn: RawInsn): boolean => (classOf(insn.code) === CLASS.JMP || classOf(insn.code) === CLASS.JMP32) && opOf(insn.code) === JMP.CALL;
export const isHelperCall = (insn: RawInsn): boolean => isCall(insn) && insn.src === 0;
export const isPseudoCall = (insn: RawInsn): boolean => isCall(insn) && insn.src === PSEUDO.CALL;
export const isKfuncCall = (insn: RawInsn): boolean => isCall(insn) && insn.src === PSEUDO.KFUNC_CALL;

/**
 * The slot a jump or pseudo call at `insn` goes to, or undefined for other instructions.
 * (gotol takes its offset from imm; bpf-to-bpf calls and ld_imm64 of a function from imm too.)
 */
export function branchTarget(insn: Instruction): number | undefined {
  const cls = classOf(insn.code);
  if (insn.code === LD_IMM64) return insn.src === PSEUDO.FUNC ? insn.index + insn.imm + 1 : undefined;
  if (cls !== CLASS.JMP && cls !== CLASS.JMP32) return undefined;
  const op = opOf(insn.code);
  if (op === JMP.CALL) return insn.src === PSEUDO.CALL ? insn.index + insn.imm + 1 : undefined;
  if (op === JMP.EXIT) return undefined;
  if (insn.code === (CLASS.JMP32 | JMP.JA)) return insn.index + insn.imm + 1;
  if (insn.code === (CLASS.JMP | JMP.JA | 0x08)) return undefined; // gotox: indirect
  return insn.index + insn.off + 1;
}

/** Load/store classes use MODE in bits 5-7; this tells a sign-extending load (v4) apart. */
export const isSignExtendingLoad = (insn: RawInsn): boolean => classOf(insn.code) === CLASS.LDX && modeOf(insn.code) === MODE.MEMSX;
