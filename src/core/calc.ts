// Relocation values from a (local or target) spec: libbpf's bpf_core_calc_field_relo,
// bpf_core_calc_type_relo, bpf_core_calc_enumval_relo and bpf_core_calc_relo.

import { BTF_KIND } from '../../btf/index.js';
import {
  E2BIG, EINVAL, EOPNOTSUPP, isAnyEnum, isComposite, resolveSize, skipModsAndTypedefs, typeById,
} from './btf-util.js';
import { CORE_RELO_KIND, isEnumvalBased, isFieldBased, isTypeBased } from './kinds.js';
import type { CoreSpec } from './spec.js';

/** -EUCLEAN: libbpf's internal "poison this instruction" signal. */
const EUCLEAN = 117;

/** bpf_core_relo_res. */
export interface CoreReloRes {
  /** Expected value in the instruction, from the local spec. */
  origVal: bigint;
  /** Value to patch in, from the target spec. */
  newVal: bigint;
  /** Turn the instruction into an invalid call. */
  poison: boolean;
  /** Check the instruction's current value against origVal. */
  validate: boolean;
  /** The load/store size can't be adjusted to the target field's size (poisoned for LDX/ST/STX). */
  failMemszAdjust: boolean;
  origSz: number;
  newSz: number;
  origTypeId: number;
  newTypeId: number;
  /** Set when a field-based calculation fails with -E2BIG or -EINVAL (for messages). */
  error?: string;
}

interface FieldCalc {
  err: number;
  val: bigint;
  fieldSz: number;
  typeId: number;
  validate: boolean | undefined;
  error?: string;
}

/** Size of one element, through any nesting of arrays (what a load/store of the field moves). */
function elemSize(spec: CoreSpec, id: number): number {
  let r = skipModsAndTypedefs(spec.btf, id);
  while (r && r.t.kind === BTF_KIND.ARRAY) r = skipModsAndTypedefs(spec.btf, r.t.type);
  if (!r) return -EINVAL;
  return resolveSize(spec.btf, r.id);
}

function calcField(kind: number, spec: CoreSpec | undefined, wantValidate: boolean): FieldCalc {
  const out: FieldCalc = { err: 0, val: 0n, fieldSz: 0, typeId: 0, validate: undefined };
  if (kind === CORE_RELO_KIND.FIELD_EXISTS) {
    out.val = spec ? 1n : 0n;
    return out;
  }
  if (!spec) {
    out.err = -EUCLEAN;
    return out;
  }
  const acc = spec.spec[spec.spec.length - 1]!;

  // An array element accessor (a[n]).
  if (acc.name === undefined) {
    if (kind === CORE_RELO_KIND.FIELD_BYTE_OFFSET) {
      out.val = BigInt(Math.floor(spec.bitOffset / 8));
      const sz = elemSize(spec, acc.typeId);
      if (sz < 0) { out.err = -EINVAL; return out; }
      out.fieldSz = sz;
      out.typeId = acc.typeId;
    } else if (kind === CORE_RELO_KIND.FIELD_BYTE_SIZE) {
      const sz = resolveSize(spec.btf, acc.typeId);
      if (sz < 0) { out.err = -EINVAL; return out; }
      out.val = BigInt(sz);
    } else {
      out.err = -EINVAL;
      out.error = 'this relocation kind can\'t be applied to an array element access';
      return out;
    }
    if (wantValidate) out.validate = true;
    return out;
  }

  const t = spec.btf.type(acc.typeId);
  if (!isComposite(t)) { out.err = -EINVAL; return out; }
  const m = t.members[acc.idx]!;
  const mr = skipModsAndTypedefs(spec.btf, m.type);
  if (!mr) { out.err = -EINVAL; return out; }
  const mt = mr.t;
  const fieldTypeId = mr.id;
  const bitOff = spec.bitOffset;
  let bitSz = m.bitfieldSize;
  const bitfield = bitSz > 0;
  let byteSz: number;
  let byteOff: number;
  if (bitfield) {
    byteSz = (mt as { size?: number }).size ?? 0;
    if (!(byteSz > 0)) { out.err = -EINVAL; return out; }
    byteOff = Math.floor(Math.floor(bitOff / 8) / byteSz) * byteSz;
    // The smallest load that covers the whole bitfield.
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) {
        out.err = -E2BIG;
        out.error = 'the bitfield can\'t be read with a single 64-bit load';
        return out;
      }
      byteSz *= 2;
      byteOff = Math.floor(Math.floor(bitOff / 8) / byteSz) * byteSz;
    }
  } else {
    const sz = resolveSize(spec.btf, fieldTypeId);
    if (sz < 0) { out.err = -EINVAL; return out; }
    byteSz = sz;
    byteOff = Math.floor(spec.bitOffset / 8);
    bitSz = byteSz * 8;
  }

  // For bitfields the compiler's choices may legitimately differ from ours: validate only what is
  // unambiguous (signedness, right shift).
  if (wantValidate) out.validate = !bitfield;

  switch (kind) {
    case CORE_RELO_KIND.FIELD_BYTE_OFFSET:
      out.val = BigInt(byteOff);
      if (!bitfield) {
        const sz = elemSize(spec, fieldTypeId);
        if (sz < 0) { out.err = -EINVAL; return out; }
        out.fieldSz = sz;
        out.typeId = fieldTypeId;
      }
      break;
    case CORE_RELO_KIND.FIELD_BYTE_SIZE:
      out.val = BigInt(byteSz);
      break;
    case CORE_RELO_KIND.FIELD_SIGNED:
      out.val = (isAnyEnum(mt) && mt.signed) || (mt.kind === BTF_KIND.INT && mt.encoding.signed) ? 1n : 0n;
      if (wantValidate) out.validate = true;
      break;
    case CORE_RELO_KIND.FIELD_LSHIFT_U64:
      // Little-endian (the only byte order tsbpf loads).
      out.val = BigInt((64 - (bitOff + bitSz - byteOff * 8)) >>> 0); // __u32 arithmetic
      break;
    case CORE_RELO_KIND.FIELD_RSHIFT_U64:
      out.val = BigInt((64 - bitSz) >>> 0);
      if (wantValidate) out.validate = true;
      break;
    default:
      out.err = -EOPNOTSUPP;
  }
  return out;
}

function calcType(kind: number, spec: CoreSpec | undefined): { err: number; val: bigint } {
  // Type-based relocations give 0 when the target type is not found.
  if (!spec) return { err: 0, val: 0n };
  switch (kind) {
    case CORE_RELO_KIND.TYPE_ID_TARGET:
      return { err: 0, val: BigInt(spec.rootTypeId) };
    case CORE_RELO_KIND.TYPE_EXISTS: case CORE_RELO_KIND.TYPE_MATCHES:
      return { err: 0, val: 1n };
    case CORE_RELO_KIND.TYPE_SIZE: {
      const sz = resolveSize(spec.btf, spec.rootTypeId);
      return sz < 0 ? { err: -EINVAL, val: 0n } : { err: 0, val: BigInt(sz) };
    }
    default:
      return { err: -EOPNOTSUPP, val: 0n };
  }
}

function calcEnumval(kind: number, spec: CoreSpec | undefined): { err: number; val: bigint } {
  switch (kind) {
    case CORE_RELO_KIND.ENUMVAL_EXISTS:
      return { err: 0, val: spec ? 1n : 0n };
    case CORE_RELO_KIND.ENUMVAL_VALUE: {
      if (!spec) return { err: -EUCLEAN, val: 0n };
      const acc = spec.spec[0]!;
      const t = typeById(spec.btf, acc.typeId);
      if (!t || !isAnyEnum(t)) return { err: -EINVAL, val: 0n };
      const v = t.values[acc.idx]!.value;
      // libbpf reads a 32-bit enumerator as __s32 (sign-extended to u64) whatever its signedness.
      const val = t.kind === BTF_KIND.ENUM ? BigInt.asUintN(64, BigInt((v as number) | 0)) : BigInt.asUintN(64, BigInt(v));
      return { err: 0, val };
    }
    default:
      return { err: -EOPNOTSUPP, val: 0n };
  }
}

/**
 * bpf_core_calc_relo: original (local) and new (target) values for one candidate, or with `targ`
 * undefined when nothing matched. Returns 0 or -errno; poisoning is reported in `res.poison`.
 */
export function calcRelo(kind: number, local: CoreSpec, targ: CoreSpec | undefined, res: CoreReloRes): number {
  res.origVal = 0n;
  res.newVal = 0n;
  res.poison = false;
  res.validate = true;
  res.failMemszAdjust = false;
  res.origSz = 0;
  res.newSz = 0;
  res.origTypeId = 0;
  res.newTypeId = 0;
  res.error = undefined;
  let err = -EOPNOTSUPP;

  if (isFieldBased(kind)) {
    const o = calcField(kind, local, true);
    res.origVal = o.val;
    res.origSz = o.fieldSz;
    res.origTypeId = o.typeId;
    if (o.validate !== undefined) res.validate = o.validate;
    err = o.err;
    if (err) res.error = o.error;
    if (!err) {
      const n = calcField(kind, targ, false);
      res.newVal = n.val;
      res.newSz = n.fieldSz;
      res.newTypeId = n.typeId;
      err = n.err;
      if (err) res.error = n.error;
    }
    if (!err && res.origSz !== res.newSz) {
      // Resizing a load/store is safe only for pointers (32-bit kernel pointers) and unsigned integers.
      const ot = typeById(local.btf, res.origTypeId);
      const nt = typeById(targ!.btf, res.newTypeId);
      const okPtr = ot?.kind === BTF_KIND.PTR && nt?.kind === BTF_KIND.PTR;
      // libbpf compares the whole INT encoding with BTF_INT_SIGNED (so `signed char` counts as unsigned).
      const enc = (t: typeof ot): number => t?.kind === BTF_KIND.INT
        ? (t.encoding.signed ? 1 : 0) | (t.encoding.char ? 2 : 0) | (t.encoding.bool ? 4 : 0) : 0;
      const okInt = ot?.kind === BTF_KIND.INT && nt?.kind === BTF_KIND.INT && enc(ot) !== 1 && enc(nt) !== 1;
      if (!okPtr && !okInt) res.failMemszAdjust = true;
    }
  } else if (isTypeBased(kind)) {
    const o = calcType(kind, local);
    res.origVal = o.val;
    err = o.err;
    if (!err) {
      const n = calcType(kind, targ);
      res.newVal = n.val;
      err = n.err;
    }
    // A type id may change while linking objects: not worth validating.
    if (kind === CORE_RELO_KIND.TYPE_ID_TARGET) res.validate = false;
  } else if (isEnumvalBased(kind)) {
    const o = calcEnumval(kind, local);
    res.origVal = o.val;
    err = o.err;
    if (!err) {
      const n = calcEnumval(kind, targ);
      res.newVal = n.val;
      err = n.err;
    }
  }

  if (err === -EUCLEAN) {
    res.poison = true;
    return 0;
  }
  return err;
}

export function newReloRes(): CoreReloRes {
  return {
    origVal: 0n, newVal: 0n, poison: false, validate: true, failMemszAdjust: false, origSz: 0, newSz: 0,
    origTypeId: 0, newTypeId: 0,
  };
}
