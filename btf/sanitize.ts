// libbpf's bpf_object__sanitize_btf (rewrite kinds an older kernel rejects) and the tiny BTF blobs
// of libbpf's features.c that probe which kinds the kernel accepts.

import { ParseError } from '../src/errors.js';
import { Btf } from './btf.js';
import { BTF_KIND, BTF_FUNC_LINKAGE, BTF_VAR_LINKAGE } from './types.js';
import type { BtfType, BtfMember, BtfInt } from './types.js';

/** What the kernel's BTF loader accepts (one feature probe each). */
export interface BtfFeatures {
  /** BTF at all (BPF_BTF_LOAD). Without it the loader skips BTF; sanitizing does not change that. */
  btf: boolean;
  /** FUNC and FUNC_PROTO kinds (4.20/5.0). */
  func: boolean;
  /** FUNC with global linkage (5.6). */
  globalFunc: boolean;
  /** VAR and DATASEC kinds (5.2). */
  datasec: boolean;
  /** DATASEC names starting with '?' (6.5?; libbpf probes it). */
  qmarkDatasec: boolean;
  /** FLOAT kind (5.13). */
  float: boolean;
  /** DECL_TAG kind (5.16). */
  declTag: boolean;
  /** TYPE_TAG kind (5.17). */
  typeTag: boolean;
  /** ENUM64 kind and signed ENUM kflag (6.0). */
  enum64: boolean;
}

function int(name: string, size: number, signed: boolean, bits = size * 8): BtfInt {
  return { kind: BTF_KIND.INT, name, size, encoding: { signed, char: false, bool: false }, bitOffset: 0, bits };
}

/**
 * A sanitized clone of object BTF for a kernel with `features` (the input is never changed).
 * Rewrites, in libbpf's order of precedence:
 * - no datasec: VAR → INT (size 1, 8 bits, same name); DATASEC → STRUCT of its vars ('.'/'?' → '_')
 * - no declTag: DECL_TAG → INT (size 1, 8 bits)
 * - no qmarkDatasec: a leading '?' of a DATASEC name → '_'
 * - no func: FUNC_PROTO → ENUM (size 4, one enumerator per param, value = param type); FUNC → TYPEDEF
 * - no globalFunc: FUNC linkage → static
 * - no float: FLOAT → anonymous empty STRUCT of the same size
 * - no typeTag: TYPE_TAG → anonymous CONST
 * - no enum64: ENUM signedness cleared; ENUM64 → UNION whose members (named after the enumerators)
 *   all have an added INT 'enum64_placeholder' (size 1) type
 * The pointer size is forced to 8 and any BTF layout section is dropped (no kernel needs it).
 */
export function sanitizeBtf(btf: Btf, features: BtfFeatures): Btf {
  const out = btf.clone();
  out.pointerSize = 8;
  out.dropLayout();
  const f = features;
  let placeholder = 0;
  const last = out.typeCount; // the placeholder INT appended below needs no sanitizing
  for (let id = out.startId; id <= last; id++) {
    const t = out.type(id);
    let nt: BtfType | undefined;
    if ((!f.datasec && t.kind === BTF_KIND.VAR) || (!f.declTag && t.kind === BTF_KIND.DECL_TAG)) {
      // Size 1 is the safest choice: the kernel checks it against what uses it.
      nt = int(t.name, 1, false);
    } else if (!f.datasec && t.kind === BTF_KIND.DATASEC) {
      const members: BtfMember[] = t.vars.map((v) => ({
        name: out.name(v.type), type: v.type, bitOffset: v.offset * 8, bitfieldSize: 0,
      }));
      nt = { kind: BTF_KIND.STRUCT, name: t.name.replace(/[.?]/g, '_'), size: t.size, kflag: false, members };
    } else if (!f.qmarkDatasec && t.kind === BTF_KIND.DATASEC && t.name.startsWith('?')) {
      nt = { ...t, name: '_' + t.name.slice(1) };
    } else if (!f.func && t.kind === BTF_KIND.FUNC_PROTO) {
      // Same record layout (name_off + u32 per param), so libbpf just flips the kind in place.
      nt = { kind: BTF_KIND.ENUM, name: t.name, size: 4, signed: false, values: t.params.map((p) => ({ name: p.name, value: p.type })) };
    } else if (!f.func && t.kind === BTF_KIND.FUNC) {
      nt = { kind: BTF_KIND.TYPEDEF, name: t.name, type: t.type };
    } else if (!f.globalFunc && t.kind === BTF_KIND.FUNC) {
      if (t.linkage !== BTF_FUNC_LINKAGE.STATIC) nt = { ...t, linkage: BTF_FUNC_LINKAGE.STATIC };
    } else if (!f.float && t.kind === BTF_KIND.FLOAT) {
      // Anonymous: a struct named 'float' would not even be valid C.
      nt = { kind: BTF_KIND.STRUCT, name: '', size: t.size, kflag: false, members: [] };
    } else if (!f.typeTag && t.kind === BTF_KIND.TYPE_TAG) {
      nt = { kind: BTF_KIND.CONST, name: '', type: t.type };
    } else if (!f.enum64 && t.kind === BTF_KIND.ENUM) {
      // Same bits, now read as unsigned.
      if (t.signed) nt = { ...t, signed: false, values: t.values.map((v) => ({ name: v.name, value: v.value >>> 0 })) };
    } else if (!f.enum64 && t.kind === BTF_KIND.ENUM64) {
      if (!placeholder) placeholder = out.addType(int('enum64_placeholder', 1, false));
      nt = {
        kind: BTF_KIND.UNION, name: t.name, size: t.size, kflag: false,
        members: t.values.map((v) => ({ name: v.name, type: placeholder, bitOffset: 0, bitfieldSize: 0 })),
      };
    }
    if (nt) out.setType(id, nt);
  }
  return out;
}

/** Raw BTF for the kernel probe of one feature (the same shapes libbpf's features.c loads). */
export function featureProbeBtf(feature: keyof BtfFeatures): Uint8Array {
  const b = Btf.create();
  switch (feature) {
    case 'btf':
      b.addType(int('int', 4, true));
      break;
    case 'func':
    case 'globalFunc': {
      // void x(int a)
      const i = b.addType(int('int', 4, true));
      const proto = b.addType({ kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 0, params: [{ name: 'a', type: i }] });
      const linkage = feature === 'func' ? BTF_FUNC_LINKAGE.STATIC : BTF_FUNC_LINKAGE.GLOBAL;
      b.addType({ kind: BTF_KIND.FUNC, name: 'x', type: proto, linkage });
      break;
    }
    case 'datasec':
    case 'qmarkDatasec': {
      // static int x; in section .data (or ?.data)
      const i = b.addType(int('', 4, true));
      const v = b.addType({ kind: BTF_KIND.VAR, name: 'x', type: i, linkage: BTF_VAR_LINKAGE.STATIC });
      b.addType({
        kind: BTF_KIND.DATASEC, name: feature === 'datasec' ? '.data' : '?.data', size: 4,
        vars: [{ type: v, offset: 0, size: 4 }],
      });
      break;
    }
    case 'float':
      b.addType({ kind: BTF_KIND.FLOAT, name: 'float', size: 4 });
      break;
    case 'declTag': {
      const i = b.addType(int('', 4, true));
      const v = b.addType({ kind: BTF_KIND.VAR, name: 'tag', type: i, linkage: BTF_VAR_LINKAGE.STATIC });
      b.addType({ kind: BTF_KIND.DECL_TAG, name: 'tag', type: v, componentIdx: -1 });
      break;
    }
    case 'typeTag': {
      const i = b.addType(int('', 4, true));
      const tag = b.addType({ kind: BTF_KIND.TYPE_TAG, name: 'tag', type: i, kflag: false });
      b.addType({ kind: BTF_KIND.PTR, name: '', type: tag });
      break;
    }
    case 'enum64':
      b.addType({ kind: BTF_KIND.ENUM64, name: 'enum64', size: 8, signed: false, values: [] });
      break;
    default: {
      const never: never = feature;
      throw new ParseError(`unknown BTF feature ${String(never)}`);
    }
  }
  return b.encode();
}
