// Access specs: parsing a relocation's access string against the local BTF, and matching the result
// against a candidate target type. This follows libbpf's relo_core.c (bpf_core_parse_spec,
// bpf_core_spec_match, bpf_core_match_member, bpf_core_fields_are_compat, the types_are_compat /
// types_match relations), with its return convention: 1 = match, 0 = no match, < 0 = -errno.
// When a candidate does not match, a `Why` collects a human-readable reason for diagnostics.

import type { Btf, BtfType } from '../../btf/index.js';
import { BTF_KIND } from '../../btf/index.js';
import {
  CORE_SPEC_MAX_LEN, E2BIG, EINVAL, isAnyEnum, isComposite, kindCoreCompat, kindStr, resolveSize,
  skipModsAndTypedefs, typeById, typeLabel, u32,
} from './btf-util.js';
import { CORE_RELO_KIND, coreReloKindName, isEnumvalBased, isFieldBased, isTypeBased } from './kinds.js';
import { essentialNameLen, sameEssentialName } from './names.js';

/** One high-level step: a named field of a struct/union, or an array index (name undefined). */
export interface CoreAccessor {
  /** The struct/union holding the field, or the array element type (modifiers skipped). */
  typeId: number;
  idx: number;
  name: string | undefined;
}

export interface CoreSpec {
  btf: Btf;
  rootTypeId: number;
  kind: number;
  /** High-level accessors: named fields and array indices (anonymous members are not steps). */
  spec: CoreAccessor[];
  /** The raw access string as numbers (every member index, anonymous ones included). */
  raw: number[];
  /** Bit offset of the accessed field from the start of the root type (u32, like libbpf). */
  bitOffset: number;
}

/** Collects why a candidate did not match (first reason wins). */
export interface Why {
  reason?: string;
  /** How to name the candidate's owner in reasons: "the kernel's", "module nf_conntrack's", … */
  owner?: string;
}

/** `the kernel's struct task_struct` (a target type named for a reason). */
function tl(why: Why | undefined, btf: Btf, id: number): string {
  return why?.owner ? `${why.owner} ${typeLabel(btf, id)}` : typeLabel(btf, id);
}

function because(why: Why | undefined, reason: string): 0 {
  if (why && why.reason === undefined) why.reason = reason;
  return 0;
}

export function emptySpec(btf: Btf, rootTypeId: number, kind: number): CoreSpec {
  return { btf, rootTypeId, kind, spec: [], raw: [], bitOffset: 0 };
}

/** is_flex_arr: a zero-length array that is the last member of the struct named by `acc`. */
function isFlexArr(btf: Btf, acc: CoreAccessor | undefined, nelems: number): boolean {
  if (!acc || acc.name === undefined || nelems > 0) return false;
  const t = typeById(btf, acc.typeId);
  return t !== undefined && isComposite(t) && acc.idx === t.members.length - 1;
}

/**
 * Parses the access string ("0:1:2") into raw indices, sscanf("%d")-style: an optional ':' then an
 * integer (leading blanks and a sign allowed); negative indices are refused as in libbpf ≥ 1.7.
 */
function parseAccessString(s: string): number[] | number {
  const out: number[] = [];
  let p = 0;
  const n = s.length;
  while (p < n) {
    if (s[p] === ':') p++;
    while (p < n && /\s/.test(s[p]!)) p++;
    let sign = 1;
    if (s[p] === '+' || s[p] === '-') { if (s[p] === '-') sign = -1; p++; }
    const start = p;
    let v = 0;
    while (p < n && s.charCodeAt(p) >= 48 && s.charCodeAt(p) <= 57) { v = v * 10 + (s.charCodeAt(p) - 48); p++; }
    if (p === start) return -EINVAL;
    v *= sign;
    if (v < 0 || v > 0x7fffffff) return -EINVAL;
    if (out.length === CORE_SPEC_MAX_LEN) return -E2BIG;
    out.push(v);
  }
  return out;
}

/**
 * bpf_core_parse_spec: the local spec of a relocation. Returns the spec or -errno.
 */
export function parseSpec(btf: Btf, typeId: number, accessStr: string, kind: number): CoreSpec | number {
  if (accessStr === '' || accessStr[0] === ':') return -EINVAL;
  const spec = emptySpec(btf, typeId, kind);

  // Type-based relocations have no field access: the string must be exactly "0".
  if (isTypeBased(kind)) return accessStr === '0' ? spec : -EINVAL;

  const raw = parseAccessString(accessStr);
  if (typeof raw === 'number') return raw;
  if (raw.length === 0) return -EINVAL;
  spec.raw = raw;

  const root = skipModsAndTypedefs(btf, typeId);
  if (!root) return -EINVAL;
  let id = root.id;
  let t: BtfType = root.t;
  let accessIdx = raw[0]!;
  spec.spec.push({ typeId: id, idx: accessIdx, name: undefined });

  if (isEnumvalBased(kind)) {
    if (!isAnyEnum(t) || raw.length > 1 || accessIdx >= t.values.length) return -EINVAL;
    // The enumerator's name is recorded in the first accessor.
    spec.spec[0]!.name = t.values[accessIdx]!.name;
    return spec;
  }

  if (!isFieldBased(kind)) return -EINVAL;

  let sz = resolveSize(btf, id);
  if (sz < 0) return sz;
  spec.bitOffset = u32(accessIdx * sz * 8);

  for (let i = 1; i < raw.length; i++) {
    const r = skipModsAndTypedefs(btf, id);
    if (!r) return -EINVAL;
    id = r.id;
    t = r.t;
    accessIdx = raw[i]!;
    if (isComposite(t)) {
      if (accessIdx >= t.members.length) return -EINVAL;
      const m = t.members[accessIdx]!;
      spec.bitOffset = u32(spec.bitOffset + m.bitOffset);
      if (m.name !== '') spec.spec.push({ typeId: id, idx: accessIdx, name: m.name });
      id = m.type;
    } else if (t.kind === BTF_KIND.ARRAY) {
      const nelems = t.nelems;
      const e = skipModsAndTypedefs(btf, t.type);
      if (!e) return -EINVAL;
      id = e.id;
      const flex = isFlexArr(btf, spec.spec[spec.spec.length - 1], nelems);
      if (!flex && accessIdx >= nelems) return -EINVAL;
      spec.spec.push({ typeId: id, idx: accessIdx, name: undefined });
      sz = resolveSize(btf, id);
      if (sz < 0) return sz;
      spec.bitOffset = u32(spec.bitOffset + accessIdx * sz * 8);
    } else {
      return -EINVAL;
    }
  }
  return spec;
}

/**
 * bpf_core_fields_are_compat: whether a local field's type can be relocated to the target field's.
 * Structs/unions mix freely; pointers and floats always match; enums and fwds need equal essential
 * names unless one is anonymous; ints match unless they are bitfield-like (non-zero INT offset);
 * arrays compare their element types.
 */
export function fieldsAreCompat(localBtf: Btf, localId: number, targBtf: Btf, targId: number, why?: Why): number {
  for (;;) {
    const l = skipModsAndTypedefs(localBtf, localId);
    const r = skipModsAndTypedefs(targBtf, targId);
    if (!l || !r) return -EINVAL;
    const lt = l.t;
    const tt = r.t;
    if (isComposite(lt) && isComposite(tt)) return 1;
    if (!kindCoreCompat(lt.kind, tt.kind)) {
      return because(why, `local ${kindStr(lt.kind)} vs ${kindStr(tt.kind)} in the target`);
    }
    switch (lt.kind) {
      case BTF_KIND.PTR: case BTF_KIND.FLOAT:
        return 1;
      case BTF_KIND.FWD: case BTF_KIND.ENUM: case BTF_KIND.ENUM64: {
        const ll = essentialNameLen(lt.name);
        const tl = essentialNameLen(tt.name);
        if (ll === 0 || tl === 0 || (ll === tl && lt.name.slice(0, ll) === tt.name.slice(0, tl))) return 1;
        return because(why, `local ${kindStr(lt.kind)} ${lt.name} vs ${kindStr(tt.kind)} ${tt.name} in the target`);
      }
      case BTF_KIND.INT:
        if (lt.kind === BTF_KIND.INT && tt.kind === BTF_KIND.INT && lt.bitOffset === 0 && tt.bitOffset === 0) return 1;
        return because(why, 'bitfield-like INT types are not relocatable');
      case BTF_KIND.ARRAY:
        localId = lt.type;
        targId = (tt as { type: number }).type;
        continue;
      default:
        return because(why, `${kindStr(lt.kind)} fields are not relocatable`);
    }
  }
}

/**
 * bpf_core_match_member: finds the local accessor's field by name in the target struct/union `targId`,
 * descending into anonymous members, and extends `spec` (raw indices, bit offset, accessor) on success.
 */
function matchMember(localBtf: Btf, localAcc: CoreAccessor, targBtf: Btf, targId: number, spec: CoreSpec,
  next: { id: number }, why: Why | undefined, depth: number): number {
  const r = skipModsAndTypedefs(targBtf, targId);
  if (!r) return -EINVAL;
  targId = r.id;
  const tt = r.t;
  if (!isComposite(tt)) {
    return depth === 0 ? because(why, `${tl(why, targBtf, targId)} is not a struct or union`) : 0;
  }
  const lt = localBtf.type(localAcc.typeId);
  const localMember = (lt as { members: { name: string; type: number }[] }).members[localAcc.idx]!;
  const localName = localMember.name;

  const members = tt.members;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    if (spec.raw.length === CORE_SPEC_MAX_LEN) return -E2BIG;
    // Speculate that this member is the one.
    spec.bitOffset = u32(spec.bitOffset + m.bitOffset);
    spec.raw.push(i);
    if (m.name === '') {
      // An embedded anonymous struct/union: look inside.
      const found = matchMember(localBtf, localAcc, targBtf, m.type, spec, next, why, depth + 1);
      if (found) return found;
    } else if (m.name === localName) {
      spec.spec.push({ typeId: targId, idx: i, name: m.name });
      next.id = m.type;
      const sub: Why = {};
      const found = fieldsAreCompat(localBtf, localMember.type, targBtf, m.type, sub);
      if (!found) {
        spec.spec.pop();
        because(why, `field '${localName}' of ${tl(why, targBtf, targId)} has an incompatible type (${sub.reason ?? 'kinds differ'})`);
      }
      return found;
    }
    spec.bitOffset = u32(spec.bitOffset - m.bitOffset);
    spec.raw.pop();
  }
  return depth === 0 ? because(why, `no field '${localName}' in ${tl(why, targBtf, targId)}`) : 0;
}

/**
 * bpf_core_spec_match: matches the local spec against candidate `targId`, filling `targ`.
 */
export function specMatch(local: CoreSpec, targBtf: Btf, targId: number, targ: CoreSpec, why?: Why): number {
  targ.btf = targBtf;
  targ.rootTypeId = targId;
  targ.kind = local.kind;
  targ.spec = [];
  targ.raw = [];
  targ.bitOffset = 0;

  if (isTypeBased(local.kind)) {
    if (local.kind === CORE_RELO_KIND.TYPE_MATCHES) {
      const r = typesMatch(local.btf, local.rootTypeId, targBtf, targId);
      return r === 0 ? because(why, `${tl(why, targBtf, targId)} does not match the local definition`) : r;
    }
    const r = typesAreCompat(local.btf, local.rootTypeId, targBtf, targId);
    return r === 0 ? because(why, `${tl(why, targBtf, targId)} is not compatible with the local definition`) : r;
  }

  const localAcc0 = local.spec[0]!;
  if (isEnumvalBased(local.kind)) {
    const r = skipModsAndTypedefs(targBtf, targId);
    if (!r || !isAnyEnum(r.t)) return because(why, `${tl(why, targBtf, targId)} is not an enum`);
    const values = r.t.values;
    const want = localAcc0.name!;
    for (let i = 0; i < values.length; i++) {
      if (sameEssentialName(want, values[i]!.name)) {
        targ.spec.push({ typeId: r.id, idx: i, name: values[i]!.name });
        targ.raw.push(i);
        return 1;
      }
    }
    return because(why, `no enumerator '${want}' in ${tl(why, targBtf, r.id)}`);
  }

  if (!isFieldBased(local.kind)) return -EINVAL;

  const next = { id: targId };
  for (let i = 0; i < local.spec.length; i++) {
    const localAcc = local.spec[i]!;
    const r = skipModsAndTypedefs(targBtf, next.id);
    if (!r) return -EINVAL;
    next.id = r.id;
    if (localAcc.name !== undefined) {
      const matched = matchMember(local.btf, localAcc, targBtf, next.id, targ, next, why, 0);
      if (matched <= 0) return matched;
    } else {
      // For i = 0 the root is the "array element" already; deeper, the target must be an array.
      if (i > 0) {
        const path = formatPath(targ);
        if (r.t.kind !== BTF_KIND.ARRAY) return because(why, `${why?.owner ? why.owner + ' ' : ''}${path} is a ${kindStr(r.t.kind)}, not an array`);
        const flex = isFlexArr(targBtf, targ.spec[targ.spec.length - 1], r.t.nelems);
        if (!flex && localAcc.idx >= r.t.nelems) {
          return because(why, `index ${localAcc.idx} is out of bounds of ${why?.owner ? why.owner + ' ' : ''}${path} (${r.t.nelems} elements)`);
        }
        const e = skipModsAndTypedefs(targBtf, r.t.type);
        if (!e) return -EINVAL;
        next.id = e.id;
      }
      if (targ.raw.length === CORE_SPEC_MAX_LEN) return -E2BIG;
      targ.spec.push({ typeId: next.id, idx: localAcc.idx, name: undefined });
      targ.raw.push(localAcc.idx);
      const sz = resolveSize(targBtf, next.id);
      if (sz < 0) return sz;
      targ.bitOffset = u32(targ.bitOffset + localAcc.idx * sz * 8);
    }
  }
  return 1;
}

/**
 * bpf_core_types_are_compat (__bpf_core_types_are_compat): the relation used by TYPE_EXISTS,
 * TYPE_SIZE and TYPE_ID_TARGET. Names are compared only at the root (by the candidate search).
 */
export function typesAreCompat(localBtf: Btf, localId: number, targBtf: Btf, targId: number, level = 32): number {
  const lt0 = typeById(localBtf, localId);
  const tt0 = typeById(targBtf, targId);
  if (!lt0 || !tt0) return -EINVAL;
  if (!kindCoreCompat(lt0.kind, tt0.kind)) return 0;
  let depth = 32;
  for (;;) {
    if (--depth < 0) return -EINVAL;
    const l = skipModsAndTypedefs(localBtf, localId);
    const r = skipModsAndTypedefs(targBtf, targId);
    if (!l || !r) return -EINVAL;
    const lt = l.t;
    const tt = r.t;
    if (!kindCoreCompat(lt.kind, tt.kind)) return 0;
    switch (lt.kind) {
      case BTF_KIND.UNKN: case BTF_KIND.STRUCT: case BTF_KIND.UNION: case BTF_KIND.ENUM: case BTF_KIND.FWD:
      case BTF_KIND.ENUM64:
        return 1;
      case BTF_KIND.INT:
        return lt.bitOffset === 0 && (tt as typeof lt).bitOffset === 0 ? 1 : 0;
      case BTF_KIND.PTR:
        localId = lt.type;
        targId = (tt as typeof lt).type;
        continue;
      case BTF_KIND.ARRAY:
        localId = lt.type;
        targId = (tt as typeof lt).type;
        continue;
      case BTF_KIND.FUNC_PROTO: {
        const tp = tt as typeof lt;
        if (lt.params.length !== tp.params.length) return 0;
        for (let i = 0; i < lt.params.length; i++) {
          if (level <= 0) return -EINVAL;
          const a = skipModsAndTypedefs(localBtf, lt.params[i]!.type);
          const b = skipModsAndTypedefs(targBtf, tp.params[i]!.type);
          if (!a || !b) return -EINVAL;
          const err = typesAreCompat(localBtf, a.id, targBtf, b.id, level - 1);
          if (err <= 0) return err;
        }
        const a = skipModsAndTypedefs(localBtf, lt.returnType);
        const b = skipModsAndTypedefs(targBtf, tp.returnType);
        if (!a || !b) return -EINVAL;
        localId = a.id;
        targId = b.id;
        continue;
      }
      default:
        return 0;
    }
  }
}

/** bpf_core_names_match: essential names equal; an anonymous target matches only an anonymous local. */
function namesMatch(local: string, targ: string): boolean {
  if (targ === '') return local === '';
  return sameEssentialName(local, targ);
}

function enumsMatch(lt: Extract<BtfType, { values: unknown }>, tt: Extract<BtfType, { values: unknown }>): number {
  if (lt.size !== tt.size) return 0;
  if (lt.values.length > tt.values.length) return 0;
  for (const lv of lt.values) {
    if (!tt.values.some((tv) => namesMatch(lv.name, tv.name))) return 0;
  }
  return 1;
}

function compositesMatch(localBtf: Btf, lt: Extract<BtfType, { members: unknown }>, targBtf: Btf,
  tt: Extract<BtfType, { members: unknown }>, behindPtr: boolean, level: number): number {
  if (lt.members.length > tt.members.length) return 0;
  for (const lm of lt.members) {
    let matched = false;
    for (const tm of tt.members) {
      if (!namesMatch(lm.name, tm.name)) continue;
      const err = typesMatchInner(localBtf, lm.type, targBtf, tm.type, behindPtr, level - 1);
      if (err < 0) return err;
      if (err > 0) { matched = true; break; }
    }
    if (!matched) return 0;
  }
  return 1;
}

/** bpf_core_types_match: the stricter relation of TYPE_MATCHES (bpf_core_type_matches()). */
export function typesMatch(localBtf: Btf, localId: number, targBtf: Btf, targId: number): number {
  return typesMatchInner(localBtf, localId, targBtf, targId, false, 32);
}

function typesMatchInner(localBtf: Btf, localId: number, targBtf: Btf, targId: number, behindPtr: boolean, level: number): number {
  if (level <= 0) return -EINVAL;
  let depth = 32;
  for (;;) {
    if (--depth < 0) return -EINVAL;
    const l = skipModsAndTypedefs(localBtf, localId);
    const r = skipModsAndTypedefs(targBtf, targId);
    if (!l || !r) return -EINVAL;
    const lt = l.t;
    const tt = r.t;
    if (!namesMatch(lt.name, tt.name)) return 0;
    const lk = lt.kind;
    const tk = tt.kind;
    switch (lt.kind) {
      case BTF_KIND.UNKN:
        return lk === tk ? 1 : 0;
      case BTF_KIND.FWD: {
        const lf = lt.isUnion;
        if (behindPtr) {
          if (tt.kind === BTF_KIND.FWD) return lf === tt.isUnion ? 1 : 0;
          return (tk === BTF_KIND.STRUCT && !lf) || (tk === BTF_KIND.UNION && lf) ? 1 : 0;
        }
        if (tt.kind !== BTF_KIND.FWD) return 0;
        return lf === tt.isUnion ? 1 : 0;
      }
      case BTF_KIND.ENUM: case BTF_KIND.ENUM64:
        if (!isAnyEnum(tt)) return 0;
        return enumsMatch(lt, tt);
      case BTF_KIND.STRUCT: case BTF_KIND.UNION:
        if (behindPtr) {
          if (lk === tk) return 1;
          if (tt.kind !== BTF_KIND.FWD) return 0;
          return (lk === BTF_KIND.UNION) === tt.isUnion ? 1 : 0;
        }
        if (lk !== tk) return 0;
        return compositesMatch(localBtf, lt, targBtf, tt as typeof lt, behindPtr, level);
      case BTF_KIND.INT: {
        if (tt.kind !== BTF_KIND.INT) return 0;
        return lt.size === tt.size && lt.encoding.signed === tt.encoding.signed ? 1 : 0;
      }
      case BTF_KIND.PTR:
        if (tt.kind !== BTF_KIND.PTR) return 0;
        behindPtr = true;
        localId = lt.type;
        targId = tt.type;
        continue;
      case BTF_KIND.ARRAY:
        if (tt.kind !== BTF_KIND.ARRAY) return 0;
        if (lt.nelems !== tt.nelems) return 0;
        localId = lt.type;
        targId = tt.type;
        continue;
      case BTF_KIND.FUNC_PROTO: {
        if (tt.kind !== BTF_KIND.FUNC_PROTO) return 0;
        if (lt.params.length !== tt.params.length) return 0;
        for (let i = 0; i < lt.params.length; i++) {
          const err = typesMatchInner(localBtf, lt.params[i]!.type, targBtf, tt.params[i]!.type, behindPtr, level - 1);
          if (err <= 0) return err;
        }
        localId = lt.returnType;
        targId = tt.returnType;
        continue;
      }
      default:
        return 0;
    }
  }
}

/** The C-like path of a spec: `struct task_struct.real_parent`, `struct foo[1].a[3]`, `enum e::E_X`. */
export function formatPath(spec: CoreSpec): string {
  let s = typeLabel(spec.btf, spec.rootTypeId);
  if (isTypeBased(spec.kind)) return s;
  if (isEnumvalBased(spec.kind)) {
    const acc = spec.spec[0];
    return acc ? `${s}::${acc.name}` : s;
  }
  spec.spec.forEach((acc, i) => {
    if (acc.name !== undefined) s += `.${acc.name}`;
    else if (i > 0 || acc.idx > 0) s += `[${acc.idx}]`;
  });
  return s;
}

/** libbpf's bpf_core_format_spec: `<byte_off> [114] struct task_struct.pid (0:81 @ offset 2396)`. */
export function formatSpec(spec: CoreSpec): string {
  const t = typeById(spec.btf, spec.rootTypeId);
  let s = `<${coreReloKindName(spec.kind)}> [${spec.rootTypeId}] ${t ? kindStr(t.kind) : 'unknown'} ${t?.name || '<anon>'}`;
  if (isTypeBased(spec.kind)) return s;
  if (isEnumvalBased(spec.kind)) {
    const r = skipModsAndTypedefs(spec.btf, spec.rootTypeId);
    if (r && isAnyEnum(r.t) && spec.raw.length > 0) {
      const e = r.t.values[spec.raw[0]!];
      if (e) {
        const v = r.t.kind === BTF_KIND.ENUM
          ? (r.t.signed ? (e.value as number) | 0 : (e.value as number) >>> 0)
          : (r.t.signed ? BigInt.asIntN(64, BigInt(e.value)) : BigInt.asUintN(64, BigInt(e.value)));
        s += `::${e.name} = ${v}`;
      }
    }
    return s;
  }
  spec.spec.forEach((acc, i) => {
    if (acc.name !== undefined) s += `.${acc.name}`;
    else if (i > 0 || acc.idx > 0) s += `[${acc.idx}]`;
  });
  s += ` (${spec.raw.join(':')}`;
  s += spec.bitOffset % 8 ? ` @ offset ${Math.floor(spec.bitOffset / 8)}.${spec.bitOffset % 8})` : ` @ offset ${spec.bitOffset / 8})`;
  return s;
}
