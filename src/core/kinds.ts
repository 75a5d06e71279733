// CO-RE relocation kinds (enum bpf_core_relo_kind in include/uapi/linux/bpf.h) and their classes.

export const CORE_RELO_KIND = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;
export type CoreReloKind = (typeof CORE_RELO_KIND)[keyof typeof CORE_RELO_KIND];

/** libbpf's core_relo_kind_str names (as its debug output prints them), by kind number. */
const KIND_NAMES: readonly string[] = [
  'byte_off', 'byte_sz', 'field_exists', 'signed', 'lshift_u64', 'rshift_u64', 'local_type_id',
  'target_type_id', 'type_exists', 'type_size', 'enumval_exists', 'enumval_value', 'type_matches',
];

export function coreReloKindName(kind: number): string {
  return KIND_NAMES[kind] ?? 'unknown';
}

export function isFieldBased(kind: number): boolean {
  return kind >= CORE_RELO_KIND.FIELD_BYTE_OFFSET && kind <= CORE_RELO_KIND.FIELD_RSHIFT_U64;
}

export function isTypeBased(kind: number): boolean {
  return kind === CORE_RELO_KIND.TYPE_ID_LOCAL || kind === CORE_RELO_KIND.TYPE_ID_TARGET ||
    kind === CORE_RELO_KIND.TYPE_EXISTS || kind === CORE_RELO_KIND.TYPE_MATCHES || kind === CORE_RELO_KIND.TYPE_SIZE;
}

export function isEnumvalBased(kind: number): boolean {
  return kind === CORE_RELO_KIND.ENUMVAL_EXISTS || kind === CORE_RELO_KIND.ENUMVAL_VALUE;
}

/** Kinds whose unresolved result is a 0 value rather than a poisoned instruction. */
export function isExistenceKind(kind: number): boolean {
  return kind === CORE_RELO_KIND.FIELD_EXISTS || kind === CORE_RELO_KIND.TYPE_EXISTS ||
    kind === CORE_RELO_KIND.TYPE_MATCHES || kind === CORE_RELO_KIND.ENUMVAL_EXISTS;
}
