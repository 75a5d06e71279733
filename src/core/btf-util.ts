// Small BTF helpers with libbpf's failure conventions: lookups return undefined (libbpf: NULL) or a
// negative errno instead of throwing, so that the CO-RE code can follow relo_core.c's control flow.

import type { Btf, BtfType } from '../../btf/index.js';
import { BTF_KIND, isModKind } from '../../btf/index.js';

export const EINVAL = 22;
export const E2BIG = 7;
export const ERANGE = 34;
export const EOPNOTSUPP = 95;
export const ESRCH = 3;

/** libbpf's BPF_CORE_SPEC_MAX_LEN: the deepest access string it accepts. */
export const CORE_SPEC_MAX_LEN = 64;

/** The type, or undefined for an invalid id (btf__type_by_id returning NULL). */
export function typeById(btf: Btf, id: number): BtfType | undefined {
  if (!Number.isInteger(id) || id < 0 || id > btf.typeCount) return undefined;
  return btf.type(id);
}

export interface Resolved {
  id: number;
  t: BtfType;
}

/** skip_mods_and_typedefs: follows CONST/VOLATILE/RESTRICT/TYPE_TAG and typedefs. */
export function skipModsAndTypedefs(btf: Btf, id: number): Resolved | undefined {
  let t = typeById(btf, id);
  // A loop of modifiers is invalid BTF; bound it like libbpf's parsers (which reject loops earlier).
  for (let steps = 0; t !== undefined; steps++) {
    if (!(isModKind(t.kind) || t.kind === BTF_KIND.TYPEDEF)) return { id, t };
    if (steps > btf.typeCount) return undefined;
    id = (t as { type: number }).type;
    t = typeById(btf, id);
  }
  return undefined;
}

/** btf__resolve_size, or -EINVAL when the type has no size. */
export function resolveSize(btf: Btf, id: number): number {
  try {
    return btf.resolveSize(id);
  } catch {
    return -EINVAL;
  }
}

export function isComposite(t: BtfType): t is Extract<BtfType, { members: unknown }> {
  return t.kind === BTF_KIND.STRUCT || t.kind === BTF_KIND.UNION;
}

export function isAnyEnum(t: BtfType): t is Extract<BtfType, { values: unknown }> {
  return t.kind === BTF_KIND.ENUM || t.kind === BTF_KIND.ENUM64;
}

/** btf_kind_core_compat: same kind, or both enums (ENUM and ENUM64 are interchangeable). */
export function kindCoreCompat(a: number, b: number): boolean {
  return a === b || ((a === BTF_KIND.ENUM || a === BTF_KIND.ENUM64) && (b === BTF_KIND.ENUM || b === BTF_KIND.ENUM64));
}

/** libbpf's btf_kind_str. */
const KIND_STR: readonly string[] = [
  'void', 'int', 'ptr', 'array', 'struct', 'union', 'enum', 'fwd', 'typedef', 'volatile', 'const', 'restrict',
  'func', 'func_proto', 'var', 'datasec', 'float', 'decl_tag', 'type_tag', 'enum64',
];

export function kindStr(kind: number): string {
  return KIND_STR[kind] ?? 'unknown';
}

/** 'struct task_struct', 'enum <anon>', 'int unsigned int' — libbpf's "%s %s" of kind and name. */
export function typeLabel(btf: Btf, id: number): string {
  const t = typeById(btf, id);
  if (!t) return `[${id}]`;
  return `${kindStr(t.kind)} ${t.name || '<anon>'}`;
}

/** Unsigned 32-bit wrap, as libbpf's __u32 bit offsets do. */
export function u32(x: number): number {
  return x >>> 0;
}
