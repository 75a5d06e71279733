// BTF-driven text: function signatures for disassembly listings ("int f(struct __sk_buff * skb)",
// bpftool's btf_dumper_type_only spelling, spaces included) and typed values for map dumps (bpftool's
// btf_dumper: structs as objects, arrays as lists, char arrays as strings, enums by name).

import { BTF_KIND, BTF_VAR_LINKAGE, type Btf, type BtfFuncProto, type BtfType } from '../../btf/index.js';
import { JsonEntries, RawJson, type JsonValue } from './json-writer.js';

/**
 * A type as bpftool prints it in listings: `FUNC` ids give the full signature. Returns '' for types
 * bpftool cannot spell (it then prints no signature line), as for type tags.
 */
export function btfTypeOnly(btf: Btf, id: number): string {
  try {
    return typeOnly(btf, id, 0);
  } catch {
    return '';
  }
}

const MAX_DEPTH = 64;

function typeOnly(btf: Btf, id: number, depth: number): string {
  if (depth > MAX_DEPTH) throw new Error('type chain too deep');
  if (id === 0) return 'void ';
  const t = btf.type(id);
  const sub = (ref: number): string => typeOnly(btf, ref, depth + 1);
  switch (t.kind) {
    case BTF_KIND.INT: case BTF_KIND.TYPEDEF: case BTF_KIND.FLOAT:
      return `${t.name} `;
    case BTF_KIND.STRUCT: return `struct ${t.name} `;
    case BTF_KIND.UNION: return `union ${t.name} `;
    case BTF_KIND.ENUM: case BTF_KIND.ENUM64: return `enum ${t.name} `;
    case BTF_KIND.ARRAY: return `${sub(t.type)}[${t.nelems}]`;
    case BTF_KIND.PTR: return `${sub(t.type)}* `;
    case BTF_KIND.FWD: return `${t.isUnion ? 'union' : 'struct'} ${t.name} `;
    case BTF_KIND.VOLATILE: return `volatile ${sub(t.type)}`;
    case BTF_KIND.CONST: return `const ${sub(t.type)}`;
    case BTF_KIND.RESTRICT: return `restrict ${sub(t.type)}`;
    case BTF_KIND.FUNC_PROTO: return funcSig(btf, t, undefined, depth);
    case BTF_KIND.FUNC: {
      const proto = btf.type(t.type);
      if (proto.kind !== BTF_KIND.FUNC_PROTO) throw new Error('FUNC without FUNC_PROTO');
      return funcSig(btf, proto, t.name, depth);
    }
    case BTF_KIND.VAR: return `${t.linkage === BTF_VAR_LINKAGE.STATIC ? 'static ' : ''}${sub(t.type)} ${t.name}`;
    case BTF_KIND.DATASEC: return `section ("${t.name}") `;
    default:
      throw new Error(`cannot spell kind ${t.kind}`);
  }
}

function funcSig(btf: Btf, proto: BtfFuncProto, name: string | undefined, depth: number): string {
  let s = typeOnly(btf, proto.returnType, depth + 1) + (name !== undefined ? `${name}(` : '(');
  proto.params.forEach((p, i) => {
    if (i) s += ', ';
    if (p.type) {
      s += typeOnly(btf, p.type, depth + 1);
      // An unnamed parameter drops the type's trailing space ("int (int, char *)").
      if (p.name) s += p.name;
      else if (s.endsWith(' ')) s = s.slice(0, -1);
    } else {
      s += '...';
    }
  });
  return `${s})`;
}

// ------------------------------------------------------------------------------------------------
// Typed values
// ------------------------------------------------------------------------------------------------

export interface BtfValueOptions {
  /**
   * true: bpftool's human dump (pointers as %p, non-printable chars as 0x..); false: its --json
   * flavour (pointers as decimal, int128 and bitfields as quoted hex).
   */
  plain: boolean;
}

/**
 * The value of type `id` stored at `data[off...]`, as a tree for writeJson. Kinds bpftool cannot dump
 * come out as bpftool's markers ("(unknown)"); floats, which bpftool 7.1 refuses, are printed as numbers.
 */
export function btfValue(btf: Btf, id: number, data: Uint8Array, off = 0, opts: BtfValueOptions = { plain: false }): JsonValue {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return valueOf(btf, id, dv, data, off, 0, opts, 0);
}

function valueOf(btf: Btf, id: number, dv: DataView, bytes: Uint8Array, off: number, bitOff: number, opts: BtfValueOptions, depth: number): JsonValue {
  if (depth > MAX_DEPTH) return new RawJson('"(too deep)"');
  if (id === 0) return new RawJson('(unknown)');
  const t = btf.type(id);
  switch (t.kind) {
    case BTF_KIND.INT: return intValue(t, dv, off, bitOff, opts);
    case BTF_KIND.STRUCT: case BTF_KIND.UNION: {
      const out = new JsonEntries();
      for (const m of t.members) {
        const at = off + (m.bitOffset >>> 3);
        if (m.bitfieldSize) out.entries.push([m.name, bitfield(dv, at, m.bitOffset & 7, m.bitfieldSize, opts)]);
        else out.entries.push([m.name, valueOf(btf, m.type, dv, bytes, at, m.bitOffset & 7, opts, depth + 1)]);
      }
      return out;
    }
    case BTF_KIND.ARRAY: {
      const s = cString(btf, t.type, t.nelems, bytes, off);
      if (s !== undefined) return s;
      const elemSize = btf.resolveSize(t.type);
      const out: JsonValue[] = [];
      for (let i = 0; i < t.nelems; i++) out.push(valueOf(btf, t.type, dv, bytes, off + i * elemSize, 0, opts, depth + 1));
      return out;
    }
    case BTF_KIND.ENUM: {
      const v = t.size === 8 ? dv.getBigInt64(off, true) : BigInt(t.size === 4 ? dv.getInt32(off, true) : t.size === 2 ? dv.getInt16(off, true) : dv.getInt8(off));
      for (const e of t.values) if (BigInt(e.value | 0) === v || BigInt(e.value) === v) return e.name;
      return v;
    }
    case BTF_KIND.ENUM64: {
      const v = dv.getBigUint64(off, true);
      for (const e of t.values) if (BigInt.asUintN(64, e.value) === v) return e.name;
      return BigInt.asIntN(64, v);
    }
    case BTF_KIND.PTR: {
      const v = btf.pointerSize === 4 ? BigInt(dv.getUint32(off, true)) : dv.getBigUint64(off, true);
      if (!opts.plain) return v;
      return new RawJson(v === 0n ? '(nil)' : `0x${v.toString(16)}`);
    }
    case BTF_KIND.FWD: return new RawJson('(fwd-kind-invalid)');
    case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT: case BTF_KIND.TYPE_TAG:
      return valueOf(btf, btf.skipModsAndTypedefs(id), dv, bytes, off, bitOff, opts, depth + 1);
    case BTF_KIND.VAR:
      return new JsonEntries([[t.name, valueOf(btf, t.type, dv, bytes, off, bitOff, opts, depth + 1)]]);
    case BTF_KIND.DATASEC:
      return new JsonEntries([[t.name, t.vars.map((v) => valueOf(btf, v.type, dv, bytes, off + v.offset, 0, opts, depth + 1))]]);
    case BTF_KIND.FLOAT:
      return t.size === 4 ? dv.getFloat32(off, true) : t.size === 8 ? dv.getFloat64(off, true) : new RawJson('(unsupported-kind)');
    default:
      return new RawJson('(unsupported-kind)');
  }
}

/** A char array that holds a printable NUL-terminated string is shown as that string (bpftool's is_str_array). */
function cString(btf: Btf, elemId: number, nelems: number, bytes: Uint8Array, off: number): string | undefined {
  if (!nelems) return undefined;
  let elem: BtfType = btf.type(elemId);
  // Modifiers are skipped, typedefs are not: a typedef to char is not a string for bpftool.
  while (elem.kind === BTF_KIND.CONST || elem.kind === BTF_KIND.VOLATILE || elem.kind === BTF_KIND.RESTRICT || elem.kind === BTF_KIND.TYPE_TAG) {
    elem = btf.type(elem.type);
  }
  if (elem.kind !== BTF_KIND.INT || elem.size !== 1) return undefined;
  const enc = elem.encoding;
  if (!(enc.char && !enc.signed && !enc.bool) && elem.name !== 'char') return undefined;
  for (let i = 0; i < nelems; i++) {
    // C's `char` is signed here: bytes >= 0x80 are negative, hence "not printable" like control bytes.
    const c = bytes[off + i]!;
    if (c === 0) return String.fromCharCode(...bytes.subarray(off, off + i));
    if (c <= 0x1f || c >= 0x7f) return undefined;
  }
  return undefined;
}

function intValue(t: Extract<BtfType, { kind: typeof BTF_KIND.INT }>, dv: DataView, off: number, bitOff: number, opts: BtfValueOptions): JsonValue {
  const bits = t.bits;
  if (bitOff || t.bitOffset || bits % 8) {
    const total = bitOff + t.bitOffset;
    return bitfield(dv, off + (total >>> 3), total & 7, bits, opts);
  }
  if (bits === 128) return int128(dv.getBigUint64(off, true), dv.getBigUint64(off + 8, true), opts);
  const enc = t.encoding;
  if (enc.bool && !enc.signed && !enc.char) return dv.getUint8(off) !== 0;
  if (enc.char && !enc.signed && !enc.bool) {
    const c = dv.getUint8(off);
    if (c >= 0x20 && c < 0x7f) return String.fromCharCode(c);
    return new RawJson(opts.plain ? `0x${c.toString(16)}` : `"\\u00${c.toString(16).padStart(2, '0')}"`);
  }
  if (enc.char || enc.bool) return new RawJson('(invalid-int-encoding)');
  if (enc.signed) {
    switch (bits) {
      case 64: return dv.getBigInt64(off, true);
      case 32: return dv.getInt32(off, true);
      case 16: return dv.getInt16(off, true);
      case 8: return dv.getInt8(off);
    }
  } else {
    switch (bits) {
      case 64: return dv.getBigUint64(off, true);
      case 32: return dv.getUint32(off, true);
      case 16: return dv.getUint16(off, true);
      case 8: return dv.getUint8(off);
    }
  }
  return bitfield(dv, off, 0, bits, opts);
}

/** `nbits` bits starting `bitOff` bits into the byte at `off` (little-endian), printed in hex like bpftool. */
function bitfield(dv: DataView, off: number, bitOff: number, nbits: number, opts: BtfValueOptions): JsonValue {
  const nbytes = Math.ceil((bitOff + nbits) / 8);
  let v = 0n;
  for (let i = nbytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(dv.getUint8(off + i));
  v = (v >> BigInt(bitOff)) & ((1n << BigInt(nbits)) - 1n);
  return int128(v & 0xffffffffffffffffn, v >> 64n, opts);
}

function int128(lo: bigint, hi: bigint, opts: BtfValueOptions): JsonValue {
  const text = hi === 0n ? `0x${lo.toString(16)}` : `0x${hi.toString(16)}${lo.toString(16).padStart(16, '0')}`;
  return new RawJson(opts.plain ? text : `"${text}"`);
}
