// Writing a relocation's result into the instruction: libbpf's bpf_core_patch_insn and
// bpf_core_poison_insn.

import { BPF_CLASS, CALL, INSN_SIZE, type Insns, LD_IMM64, POISON_CORE } from '../insn.js';
import { EINVAL, ERANGE } from './btf-util.js';
import type { CoreReloRes } from './calc.js';

const BPF_SRC_X = 0x08;
const SHRT_MAX = 0x7fff;

/** BPF_SIZE field → bytes (BPF_W=0x00, BPF_H=0x08, BPF_B=0x10, BPF_DW=0x18). */
const SIZE_BYTES: Record<number, number> = { 0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8 };
const BYTES_SIZE: Record<number, number> = { 4: 0x00, 2: 0x08, 1: 0x10, 8: 0x18 };

export interface PatchResult {
  /** 0 or -errno. */
  err: number;
  /** What changed, libbpf's debug wording: 'off 24 -> 2144', 'imm 1 -> 0', 'imm64 3 -> 9', 'poisoned'. */
  change: string;
  /** The instruction was poisoned (res.poison, or a load/store whose size can't be adjusted). */
  poisoned: boolean;
  /** Set when the load/store width was changed: [old bytes, new bytes]. */
  memSz?: [number, number];
  /** Why the patch failed (err < 0) or was turned into poisoning. */
  message?: string;
}

/** Turns instruction `i` into `call 0xbad2310` ("invalid func unknown#195896080" if reached). */
export function poisonInsn(insns: Insns, i: number): void {
  const b = i * INSN_SIZE;
  insns.bytes[b] = CALL;
  insns.bytes[b + 1] = 0; // dst_reg = src_reg = 0
  insns.setOff(i, 0);
  insns.setImm(i, POISON_CORE);
}

function setCode(insns: Insns, i: number, code: number): void {
  insns.bytes[i * INSN_SIZE] = code;
}

/** bpf_core_patch_insn: patches instruction `i` with `res`, validating its current value first. */
export function patchInsn(insns: Insns, i: number, res: CoreReloRes): PatchResult {
  const code = insns.code(i);
  const cls = code & 0x07;

  const poison = (message?: string): PatchResult => {
    // Poison both halves of an ld_imm64 so the verifier doesn't complain about "unknown opcode 00".
    if (code === LD_IMM64 && i + 1 < insns.count) poisonInsn(insns, i + 1);
    poisonInsn(insns, i);
    return { err: 0, change: 'poisoned', poisoned: true, message };
  };
  if (res.poison) return poison();

  const orig = res.origVal;
  const next = res.newVal;
  switch (cls) {
    case BPF_CLASS.ALU: case BPF_CLASS.ALU64: {
      if ((code & BPF_SRC_X) !== 0) return { err: -EINVAL, change: '', poisoned: false, message: 'ALU instruction with a register operand can\'t be relocated' };
      const imm = insns.imm(i);
      if (res.validate && BigInt.asUintN(64, BigInt(imm)) !== orig) {
        return { err: -EINVAL, change: '', poisoned: false, message: `unexpected insn #${i} (ALU/ALU64) value: got ${imm}, exp ${orig} -> ${next}` };
      }
      insns.setImm(i, Number(BigInt.asIntN(32, next)));
      return { err: 0, change: `imm ${BigInt.asUintN(64, BigInt(imm))} -> ${next}`, poisoned: false };
    }
    case BPF_CLASS.LDX: case BPF_CLASS.ST: case BPF_CLASS.STX: {
      const off = insns.off(i);
      if (res.validate && BigInt.asUintN(64, BigInt(off)) !== orig) {
        return { err: -EINVAL, change: '', poisoned: false, message: `unexpected insn #${i} (LDX/ST/STX) value: got ${off}, exp ${orig} -> ${next}` };
      }
      if (next > BigInt(SHRT_MAX)) {
        return { err: -ERANGE, change: '', poisoned: false, message: `insn #${i} (LDX/ST/STX) value too big: ${next}` };
      }
      if (res.failMemszAdjust) {
        return poison(`insn #${i} (LDX/ST/STX) accesses field incorrectly: the field is ${res.newSz} bytes in the target but ${res.origSz} bytes locally, and only pointers and unsigned integers can be loaded with a different width`);
      }
      insns.setOff(i, Number(next));
      let change = `off ${BigInt.asUintN(64, BigInt(off))} -> ${next}`;
      let memSz: [number, number] | undefined;
      if (res.newSz !== res.origSz) {
        const insnBytes = SIZE_BYTES[code & 0x18]!;
        if (insnBytes !== res.origSz) {
          return { err: -EINVAL, change: '', poisoned: false, message: `insn #${i} (LDX/ST/STX) unexpected mem size: got ${insnBytes}, exp ${res.origSz}` };
        }
        const newSize = BYTES_SIZE[res.newSz];
        if (newSize === undefined) {
          return { err: -EINVAL, change: '', poisoned: false, message: `insn #${i} (LDX/ST/STX) invalid new mem size: ${res.newSz}` };
        }
        setCode(insns, i, (code & 0xe0) | newSize | cls);
        memSz = [res.origSz, res.newSz];
        change += `, mem_sz ${res.origSz} -> ${res.newSz}`;
      }
      return { err: 0, change, poisoned: false, memSz };
    }
    case BPF_CLASS.LD: {
      if (code !== LD_IMM64 || i + 1 >= insns.count || insns.src(i) !== 0 || insns.off(i) !== 0 ||
        insns.code(i + 1) !== 0 || insns.dst(i + 1) !== 0 || insns.src(i + 1) !== 0 || insns.off(i + 1) !== 0) {
        return { err: -EINVAL, change: '', poisoned: false, message: `insn #${i} (LDIMM64) has unexpected form` };
      }
      const imm = (BigInt(insns.imm(i) >>> 0)) | (BigInt(insns.imm(i + 1) >>> 0) << 32n);
      if (res.validate && imm !== orig) {
        return { err: -EINVAL, change: '', poisoned: false, message: `unexpected insn #${i} (LDIMM64) value: got ${imm}, exp ${orig} -> ${next}` };
      }
      insns.setImm(i, Number(BigInt.asIntN(32, next)));
      insns.setImm(i + 1, Number(BigInt.asIntN(32, next >> 32n)));
      return { err: 0, change: `imm64 ${imm} -> ${next}`, poisoned: false };
    }
    default:
      return {
        err: -EINVAL, change: '', poisoned: false,
        message: `trying to relocate unrecognized insn #${i}, code:0x${code.toString(16)}, src:0x${insns.src(i).toString(16)}, dst:0x${insns.dst(i).toString(16)}, off:0x${(insns.off(i) & 0xffff).toString(16)}, imm:0x${(insns.imm(i) >>> 0).toString(16)}`,
      };
  }
}
