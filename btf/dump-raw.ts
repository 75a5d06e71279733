// Text dump in the format of `bpftool btf dump file X format raw` (bpftool v7.1), used for
// differential tests against bpftool and for debugging.

import type { Btf } from './btf.js';
import { BTF_KIND, BTF_KIND_NAMES, BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED } from './types.js';
import type { BtfType } from './types.js';

function q(name: string): string {
  return name === '' ? '(anon)' : name;
}

function linkageStr(l: number): string {
  return l === 0 ? 'static' : l === 1 ? 'global' : l === 2 ? 'extern' : '(unknown)';
}

/** One type as bpftool prints it (may span several lines; no trailing newline). */
export function dumpRawType(btf: Btf, id: number, t: BtfType = btf.type(id)): string {
  let s = `[${id}] ${BTF_KIND_NAMES[t.kind] ?? 'UNKNOWN'} '${q(t.name)}'`;
  switch (t.kind) {
    case BTF_KIND.INT: {
      const e = (t.encoding.signed ? BTF_INT_SIGNED : 0) | (t.encoding.char ? BTF_INT_CHAR : 0) | (t.encoding.bool ? BTF_INT_BOOL : 0);
      const enc = e === 0 ? '(none)' : e === BTF_INT_SIGNED ? 'SIGNED' : e === BTF_INT_CHAR ? 'CHAR' : e === BTF_INT_BOOL ? 'BOOL' : 'UNKN';
      s += ` size=${t.size} bits_offset=${t.bitOffset} nr_bits=${t.bits} encoding=${enc}`;
      break;
    }
    case BTF_KIND.PTR: case BTF_KIND.CONST: case BTF_KIND.VOLATILE: case BTF_KIND.RESTRICT: case BTF_KIND.TYPEDEF:
    case BTF_KIND.TYPE_TAG:
      s += ` type_id=${t.type}`;
      break;
    case BTF_KIND.ARRAY:
      s += ` type_id=${t.type} index_type_id=${t.indexType} nr_elems=${t.nelems}`;
      break;
    case BTF_KIND.STRUCT: case BTF_KIND.UNION:
      s += ` size=${t.size} vlen=${t.members.length}`;
      for (const m of t.members) {
        s += `\n\t'${q(m.name)}' type_id=${m.type} bits_offset=${m.bitOffset}`;
        if (m.bitfieldSize) s += ` bitfield_size=${m.bitfieldSize}`;
      }
      break;
    case BTF_KIND.ENUM:
      s += ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`;
      for (const v of t.values) s += `\n\t'${q(v.name)}' val=${t.signed ? v.value | 0 : v.value >>> 0}`;
      break;
    case BTF_KIND.ENUM64:
      s += ` encoding=${t.signed ? 'SIGNED' : 'UNSIGNED'} size=${t.size} vlen=${t.values.length}`;
      for (const v of t.values) {
        s += t.signed ? `\n\t'${q(v.name)}' val=${BigInt.asIntN(64, v.value)}LL` : `\n\t'${q(v.name)}' val=${BigInt.asUintN(64, v.value)}ULL`;
      }
      break;
    case BTF_KIND.FWD:
      s += ` fwd_kind=${t.isUnion ? 'union' : 'struct'}`;
      break;
    case BTF_KIND.FUNC:
      s += ` type_id=${t.type} linkage=${linkageStr(t.linkage)}`;
      break;
    case BTF_KIND.FUNC_PROTO:
      s += ` ret_type_id=${t.returnType} vlen=${t.params.length}`;
      for (const p of t.params) s += `\n\t'${q(p.name)}' type_id=${p.type}`;
      break;
    case BTF_KIND.VAR:
      s += ` type_id=${t.type}, linkage=${linkageStr(t.linkage)}`;
      break;
    case BTF_KIND.DATASEC:
      s += ` size=${t.size} vlen=${t.vars.length}`;
      for (const v of t.vars) {
        s += `\n\ttype_id=${v.type} offset=${v.offset} size=${v.size}`;
        if (v.type <= btf.typeCount) s += ` (${BTF_KIND_NAMES[btf.kind(v.type)] ?? 'UNKNOWN'} '${q(btf.name(v.type))}')`;
      }
      break;
    case BTF_KIND.FLOAT:
      s += ` size=${t.size}`;
      break;
    case BTF_KIND.DECL_TAG:
      s += ` type_id=${t.type} component_idx=${t.componentIdx}`;
      break;
    default:
      break;
  }
  return s;
}

/** The whole `format raw` dump (own types only for split BTF, like bpftool), newline-terminated. */
export function dumpRaw(btf: Btf): string {
  const lines: string[] = [];
  for (let id = btf.startId; id <= btf.typeCount; id++) lines.push(dumpRawType(btf, id));
  return lines.length ? lines.join('\n') + '\n' : '';
}
