// BTF type model: the kind numbers of include/uapi/linux/btf.h and one decoded shape per kind.
// Decoded types are plain objects so that callers can build new ones for Btf.setType/addType.

export const BTF_KIND = {
  UNKN: 0, INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16, DECL_TAG: 17,
  TYPE_TAG: 18, ENUM64: 19,
} as const;
export type BtfKind = (typeof BTF_KIND)[keyof typeof BTF_KIND];

/** Kind names as bpftool prints them (index = kind number). */
export const BTF_KIND_NAMES: readonly string[] = [
  'UNKNOWN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST',
  'RESTRICT', 'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64',
];

/** Highest kind number this implementation decodes. */
export const BTF_KIND_MAX = 19;

/** VAR linkage (struct btf_var.linkage). */
export const BTF_VAR_LINKAGE = { STATIC: 0, GLOBAL: 1, EXTERN: 2 } as const;
/** FUNC linkage (stored in the FUNC's vlen). */
export const BTF_FUNC_LINKAGE = { STATIC: 0, GLOBAL: 1, EXTERN: 2 } as const;

/** BTF_INT_* encoding bits. */
export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;

/** Type id 0: `void`. Only returned by `type(0)`; never stored. */
export interface BtfVoid { kind: typeof BTF_KIND.UNKN; name: string }
export interface BtfInt {
  kind: typeof BTF_KIND.INT; name: string; size: number;
  encoding: { signed: boolean; char: boolean; bool: boolean };
  bitOffset: number; bits: number;
}
export interface BtfPtr { kind: typeof BTF_KIND.PTR; name: string; type: number }
export interface BtfTypedef { kind: typeof BTF_KIND.TYPEDEF; name: string; type: number }
export interface BtfVolatile { kind: typeof BTF_KIND.VOLATILE; name: string; type: number }
export interface BtfConst { kind: typeof BTF_KIND.CONST; name: string; type: number }
export interface BtfRestrict { kind: typeof BTF_KIND.RESTRICT; name: string; type: number }
export interface BtfTypeTag { kind: typeof BTF_KIND.TYPE_TAG; name: string; type: number; kflag: boolean }
export interface BtfArray { kind: typeof BTF_KIND.ARRAY; name: string; type: number; indexType: number; nelems: number }
export interface BtfMember { name: string; type: number; bitOffset: number; bitfieldSize: number }
export interface BtfStruct { kind: typeof BTF_KIND.STRUCT; name: string; size: number; kflag: boolean; members: BtfMember[] }
export interface BtfUnion { kind: typeof BTF_KIND.UNION; name: string; size: number; kflag: boolean; members: BtfMember[] }
export interface BtfEnumValue { name: string; value: number }
export interface BtfEnum { kind: typeof BTF_KIND.ENUM; name: string; size: number; signed: boolean; values: BtfEnumValue[] }
export interface BtfEnum64Value { name: string; value: bigint }
export interface BtfEnum64 { kind: typeof BTF_KIND.ENUM64; name: string; size: number; signed: boolean; values: BtfEnum64Value[] }
export interface BtfFwd { kind: typeof BTF_KIND.FWD; name: string; isUnion: boolean }
export interface BtfFunc { kind: typeof BTF_KIND.FUNC; name: string; type: number; linkage: number }
export interface BtfParam { name: string; type: number }
export interface BtfFuncProto { kind: typeof BTF_KIND.FUNC_PROTO; name: string; returnType: number; params: BtfParam[] }
export interface BtfVar { kind: typeof BTF_KIND.VAR; name: string; type: number; linkage: number }
export interface BtfVarSecinfo { type: number; offset: number; size: number }
export interface BtfDatasec { kind: typeof BTF_KIND.DATASEC; name: string; size: number; vars: BtfVarSecinfo[] }
export interface BtfFloat { kind: typeof BTF_KIND.FLOAT; name: string; size: number }
/** `kflag` set means the tag came from `__attribute__((btf_decl_tag))` emitted as a plain attribute (kernel ≥6.13). */
export interface BtfDeclTag { kind: typeof BTF_KIND.DECL_TAG; name: string; type: number; componentIdx: number; kflag?: boolean }

export type BtfType =
  | BtfVoid | BtfInt | BtfPtr | BtfArray | BtfStruct | BtfUnion | BtfEnum | BtfFwd | BtfTypedef | BtfVolatile
  | BtfConst | BtfRestrict | BtfFunc | BtfFuncProto | BtfVar | BtfDatasec | BtfFloat | BtfDeclTag | BtfTypeTag
  | BtfEnum64;

/** Kinds whose only payload is a referenced type (type modifiers, typedef). */
export type BtfRefType = BtfPtr | BtfTypedef | BtfVolatile | BtfConst | BtfRestrict | BtfTypeTag;

/** True for CONST/VOLATILE/RESTRICT/TYPE_TAG (libbpf's btf_is_mod). */
export function isModKind(kind: number): boolean {
  return kind === BTF_KIND.VOLATILE || kind === BTF_KIND.CONST || kind === BTF_KIND.RESTRICT ||
    kind === BTF_KIND.TYPE_TAG;
}
