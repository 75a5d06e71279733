// Typed views over raw bytes, driven by small layout descriptors that `tsbpf gen skeleton` writes from
// BTF: the accessors behind skeleton data sections (global variables) and map key/value codecs.
//
// One accessor object is built per struct instance and reused: reading `skel.bss.ev` twice gives the
// same object, and array fields are typed-array views created once. That is what keeps a view taken
// before load valid after it (the memory underneath is remapped in place, see global-data.ts).
//
// Memory comes from a Backing: a plain buffer (map keys and values, which are copies anyway) or a
// global data image. Every access asks the backing first (`check`), which is where a destroyed
// skeleton, a frozen .rodata or an unmapped section throws instead of reading stale memory. In copy
// mode (Electron, TSBPF_FORCE_COPY=1) there is no DataView: scalars go through read()/write(), and
// array fields return copies (assign the field to write them back).

import { inspect } from 'node:util';
import { BpfError } from '../errors.js';

// -------------------------------------------------------------------------------------------------
// Descriptors

export interface IntType { readonly k: 'int'; readonly size: 1 | 2 | 4 | 8 | 16; readonly signed: boolean }
export interface BoolType { readonly k: 'bool'; readonly size: 1 }
export interface FloatType { readonly k: 'float'; readonly size: 4 | 8 }
/** Pointers (and function pointers): the address as a bigint. */
export interface PtrType { readonly k: 'ptr'; readonly size: 8 }
/** char[N]: a CharArray (bytes plus string helpers). */
export interface CharsType { readonly k: 'chars'; readonly size: number }
/** Arrays of scalars are flattened over all dimensions; arrays of structs keep their element type. */
export interface ArrayType { readonly k: 'array'; readonly size: number; readonly n: number; readonly elem: TypeDesc }
/** Bytes without a better type (zero-sized arrays, unknown kinds): a Uint8Array. */
export interface BytesType { readonly k: 'bytes'; readonly size: number }
/** [name, byte offset, type] or, for bitfields, [name, 0, type, bit offset in the struct, bit count]. */
export type FieldDesc = readonly [name: string, offset: number, type: TypeDesc, bitOffset?: number, bits?: number];
export interface StructType {
  readonly k: 'struct';
  /** The C name, for messages ('' when anonymous). */
  readonly name: string;
  readonly size: number;
  readonly fields: readonly FieldDesc[];
}

export type ScalarType = IntType | BoolType | FloatType | PtrType;
export type TypeDesc = ScalarType | CharsType | ArrayType | BytesType | StructType;

const int = (size: IntType['size'], signed: boolean): IntType => Object.freeze({ k: 'int', size, signed });

/** Descriptor constructors used by generated skeletons. */
export const t = Object.freeze({
  u8: int(1, false), i8: int(1, true), u16: int(2, false), i16: int(2, true),
  u32: int(4, false), i32: int(4, true), u64: int(8, false), i64: int(8, true),
  u128: int(16, false), i128: int(16, true),
  bool: Object.freeze({ k: 'bool', size: 1 }) as BoolType,
  f32: Object.freeze({ k: 'float', size: 4 }) as FloatType,
  f64: Object.freeze({ k: 'float', size: 8 }) as FloatType,
  ptr: Object.freeze({ k: 'ptr', size: 8 }) as PtrType,
  chars: (n: number): CharsType => Object.freeze({ k: 'chars', size: n }),
  bytes: (n: number): BytesType => Object.freeze({ k: 'bytes', size: n }),
  array: (elem: TypeDesc, n: number): ArrayType => Object.freeze({ k: 'array', size: elem.size * n, n, elem }),
  struct: (name: string, size: number, fields: readonly FieldDesc[]): StructType => Object.freeze({ k: 'struct', name, size, fields: Object.freeze(fields) }),
});

// -------------------------------------------------------------------------------------------------
// Values

/** A char array: a byte view (zero-copy where the memory allows) with string helpers. */
export class CharArray extends Uint8Array {
  /** The bytes up to the first NUL, decoded as UTF-8. */
  override toString(): string {
    const nul = this.indexOf(0);
    return decoder.decode(nul < 0 ? this : this.subarray(0, nul));
  }
  /** Same as toString(). */
  get str(): string {
    return this.toString();
  }
  /** Writes `s` as UTF-8, NUL-terminated and NUL-padded; throws if it does not fit with its NUL. */
  set str(s: string) {
    this.set(encodeCString(s, this.length));
  }
  toJSON(): string {
    return this.toString();
  }
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

function encodeCString(s: string, size: number): Uint8Array {
  const b = encoder.encode(s);
  if (b.length >= size) throw new BpfError(`string of ${b.length} bytes does not fit a char[${size}] with its NUL terminator`, { errno: 34 });
  const out = new Uint8Array(size);
  out.set(b);
  return out;
}

/** What a field or value of a descriptor reads as. */
export type TypedArrayValue =
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array
  | BigInt64Array | BigUint64Array;

/** What a generated setter or codec accepts for a value read as T. */
export type Init<T> =
  T extends CharArray ? string | ArrayLike<number> :
  T extends BigInt64Array | BigUint64Array ? ArrayLike<bigint> :
  T extends TypedArrayValue ? ArrayLike<number> :
  T extends readonly (infer E)[] ? readonly Init<E>[] :
  T extends number | bigint | boolean | string ? T :
  { [K in keyof T]?: Init<T[K]> };

// -------------------------------------------------------------------------------------------------
// Backings

/** Memory that accessors read and write. */
export interface Backing {
  /** Throws when the memory may not be read (or, with write, written) now. */
  check(write: boolean): void;
  /** Zero-copy DataView over the whole backing, or undefined in copy mode. Call check() first. */
  view(): DataView | undefined;
  /** Copy mode: bytes [off, off+len). */
  read(off: number, len: number, into?: Uint8Array): Uint8Array;
  /** Copy mode: writes bytes at off. */
  write(off: number, src: Uint8Array): void;
}

/** A private buffer: map keys and values. */
export class BufferBacking implements Backing {
  readonly bytes: Uint8Array;
  private readonly dv: DataView;
  constructor(bytesOrSize: Uint8Array | number) {
    // Own, 8-aligned storage, so typed-array views of fields are always possible.
    const size = typeof bytesOrSize === 'number' ? bytesOrSize : bytesOrSize.length;
    this.bytes = new Uint8Array(new ArrayBuffer(Math.max(8, (size + 7) & ~7)), 0, size);
    if (typeof bytesOrSize !== 'number') this.bytes.set(bytesOrSize);
    this.dv = new DataView(this.bytes.buffer, 0, size);
  }
  check(): void {}
  view(): DataView {
    return this.dv;
  }
  read(off: number, len: number, into?: Uint8Array): Uint8Array {
    const out = into ?? new Uint8Array(len);
    out.set(this.bytes.subarray(off, off + len));
    return out;
  }
  write(off: number, src: Uint8Array): void {
    this.bytes.set(src, off);
  }
}

// -------------------------------------------------------------------------------------------------
// Scalars

const scratch = new DataView(new ArrayBuffer(16));
const scratchBytes = new Uint8Array(scratch.buffer);

function getScalar(dv: DataView, off: number, d: ScalarType): number | bigint | boolean {
  switch (d.k) {
    case 'int':
      switch (d.size) {
        case 1: return d.signed ? dv.getInt8(off) : dv.getUint8(off);
        case 2: return d.signed ? dv.getInt16(off, true) : dv.getUint16(off, true);
        case 4: return d.signed ? dv.getInt32(off, true) : dv.getUint32(off, true);
        case 8: return d.signed ? dv.getBigInt64(off, true) : dv.getBigUint64(off, true);
        default: {
          const v = (dv.getBigUint64(off + 8, true) << 64n) | dv.getBigUint64(off, true);
          return d.signed ? BigInt.asIntN(128, v) : v;
        }
      }
    case 'bool':
      return dv.getUint8(off) !== 0;
    case 'float':
      return d.size === 4 ? dv.getFloat32(off, true) : dv.getFloat64(off, true);
    case 'ptr':
      return dv.getBigUint64(off, true);
  }
}

function setScalar(dv: DataView, off: number, d: ScalarType, v: unknown, what: string): void {
  switch (d.k) {
    case 'int':
      if (d.size >= 8) {
        const b = toBigInt(v, what);
        if (d.size === 8) {
          if (d.signed) dv.setBigInt64(off, b, true);
          else dv.setBigUint64(off, b, true);
        } else {
          const u = BigInt.asUintN(128, b);
          dv.setBigUint64(off, u & 0xffffffffffffffffn, true);
          dv.setBigUint64(off + 8, u >> 64n, true);
        }
        return;
      }
      {
        const n = toInt(v, d, what);
        if (d.size === 1) dv.setUint8(off, n & 0xff);
        else if (d.size === 2) dv.setUint16(off, n & 0xffff, true);
        else dv.setUint32(off, n >>> 0, true);
      }
      return;
    case 'bool':
      if (typeof v !== 'boolean' && typeof v !== 'number') throw typeError(what, 'a boolean', v);
      dv.setUint8(off, v ? 1 : 0);
      return;
    case 'float':
      if (typeof v !== 'number') throw typeError(what, 'a number', v);
      if (d.size === 4) dv.setFloat32(off, v, true);
      else dv.setFloat64(off, v, true);
      return;
    case 'ptr':
      dv.setBigUint64(off, BigInt.asUintN(64, toBigInt(v, what)), true);
      return;
  }
}

function toBigInt(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  throw typeError(what, 'a bigint', v);
}

function toInt(v: unknown, d: IntType, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(what, 'an integer', v);
  const bits = d.size * 8;
  const min = d.signed ? -(2 ** (bits - 1)) : -(2 ** (bits - 1));
  const max = d.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  // Negative values are accepted for unsigned fields (two's complement), as C does for assignments.
  if (v < min || v > max) throw new BpfError(`${what}: ${v} does not fit ${d.signed ? 'a signed' : 'an unsigned'} ${bits}-bit integer`, { errno: 34 });
  return v;
}

function typeError(what: string, want: string, v: unknown): BpfError {
  return new BpfError(`${what}: expected ${want}, got ${typeof v === 'object' ? (v === null ? 'null' : 'an object') : typeof v}`, { errno: 22 });
}

function readScalarAt(b: Backing, off: number, d: ScalarType): number | bigint | boolean {
  b.check(false);
  const dv = b.view();
  if (dv) return getScalar(dv, off, d);
  b.read(off, d.size, scratchBytes);
  return getScalar(scratch, 0, d);
}

function writeScalarAt(b: Backing, off: number, d: ScalarType, v: unknown, what: string): void {
  b.check(true);
  const dv = b.view();
  if (dv) {
    setScalar(dv, off, d, v, what);
    return;
  }
  setScalar(scratch, 0, d, v, what);
  b.write(off, scratchBytes.slice(0, d.size));
}

// -------------------------------------------------------------------------------------------------
// Bitfields: little-endian bit numbering, as clang lays them out for BPF.

function readBits(b: Backing, base: number, bitOff: number, bits: number, d: ScalarType): number | bigint | boolean {
  b.check(false);
  const first = base + (bitOff >>> 3);
  const shift = bitOff & 7;
  const nbytes = (shift + bits + 7) >>> 3;
  const bytes = b.read(first, nbytes);
  let v = 0n;
  for (let i = nbytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]!);
  v = (v >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n);
  if (d.k === 'bool') return v !== 0n;
  if (d.k === 'int' && d.signed) v = BigInt.asIntN(bits, v);
  return d.size >= 8 ? v : Number(v);
}

function writeBits(b: Backing, base: number, bitOff: number, bits: number, d: ScalarType, value: unknown, what: string): void {
  b.check(true);
  let v: bigint;
  if (d.k === 'bool') v = value ? 1n : 0n;
  else if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isInteger(value)) v = BigInt(value);
  else throw typeError(what, 'an integer', value);
  const signed = d.k === 'int' && d.signed;
  const lo = signed ? -(1n << BigInt(bits - 1)) : -(1n << BigInt(bits - 1));
  const hi = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  if (v < lo || v > hi) throw new BpfError(`${what}: ${value} does not fit a ${bits}-bit bitfield`, { errno: 34 });
  const mask = (1n << BigInt(bits)) - 1n;
  v = BigInt.asUintN(bits, v);
  const first = base + (bitOff >>> 3);
  const shift = BigInt(bitOff & 7);
  const nbytes = (Number(shift) + bits + 7) >>> 3;
  const bytes = b.read(first, nbytes);
  let cur = 0n;
  for (let i = nbytes - 1; i >= 0; i--) cur = (cur << 8n) | BigInt(bytes[i]!);
  cur = (cur & ~(mask << shift)) | (v << shift);
  for (let i = 0; i < nbytes; i++) {
    bytes[i] = Number(cur & 0xffn);
    cur >>= 8n;
  }
  const dv = b.view();
  if (dv) new Uint8Array(dv.buffer, dv.byteOffset + first, nbytes).set(bytes);
  else b.write(first, bytes);
}

// -------------------------------------------------------------------------------------------------
// Arrays

type TypedArrayCtor = { new (buffer: ArrayBuffer, byteOffset: number, length: number): TypedArrayValue; BYTES_PER_ELEMENT: number };

/** The typed array class for a scalar element, or undefined when there is none (bool, __int128). */
function typedArrayFor(d: TypeDesc): TypedArrayCtor | undefined {
  switch (d.k) {
    case 'int':
      switch (d.size) {
        case 1: return d.signed ? Int8Array : Uint8Array;
        case 2: return d.signed ? Int16Array : Uint16Array;
        case 4: return d.signed ? Int32Array : Uint32Array;
        case 8: return (d.signed ? BigInt64Array : BigUint64Array) as unknown as TypedArrayCtor;
        default: return undefined;
      }
    case 'float': return d.size === 4 ? Float32Array : Float64Array;
    case 'ptr': return BigUint64Array as unknown as TypedArrayCtor;
    case 'bool': return Uint8Array;
    default: return undefined;
  }
}

/** Reads an array field: a zero-copy view where alignment allows, else a copy. */
function arrayValue(b: Backing, off: number, d: ArrayType | CharsType | BytesType, cache: Map<number, unknown>, cacheKey: number): unknown {
  b.check(false);
  const dv = b.view();
  if (d.k === 'array' && !isScalar(d.elem)) {
    // Arrays of structs, of char arrays, of arrays: a frozen JS array of element values, made once.
    const hit = cache.get(cacheKey);
    if (hit) return hit;
    const elem = d.elem;
    const arr = Object.freeze(Array.from({ length: d.n }, (_, i) => readValue(elem, b, off + i * elem.size)));
    cache.set(cacheKey, arr);
    return arr;
  }
  const ctor = d.k === 'chars' ? CharArray : d.k === 'bytes' ? Uint8Array : typedArrayFor(d.elem);
  const n = d.k === 'array' ? d.n : d.size;
  if (dv && ctor) {
    const abs = dv.byteOffset + off;
    if (abs % ctor.BYTES_PER_ELEMENT === 0) {
      const hit = cache.get(cacheKey);
      if (hit) return hit;
      const view = new ctor(dv.buffer as ArrayBuffer, abs, n);
      cache.set(cacheKey, view);
      return view;
    }
  }
  // Copy mode, or a misaligned array (packed structs): a fresh copy each time.
  const bytes = b.read(off, d.size);
  if (ctor) {
    const aligned = new Uint8Array(new ArrayBuffer((d.size + 7) & ~7 || 8));
    aligned.set(bytes);
    return new ctor(aligned.buffer, 0, n);
  }
  // Arrays of __int128: plain arrays of bigints.
  const bb = new BufferBacking(bytes);
  const elem = (d as ArrayType).elem as ScalarType;
  return Array.from({ length: n }, (_, i) => getScalar(bb.view(), i * elem.size, elem));
}

function writeArray(b: Backing, off: number, d: ArrayType | CharsType | BytesType, v: unknown, what: string): void {
  b.check(true);
  if (d.k === 'chars' && typeof v === 'string') {
    writeBytes(b, off, encodeCString(v, d.size));
    return;
  }
  if (d.k === 'array' && !isScalar(d.elem)) {
    if (!isArrayLike(v) || v.length > d.n) throw new BpfError(`${what}: expected at most ${d.n} elements`, { errno: 22 });
    for (let i = 0; i < v.length; i++) writeValue(d.elem, b, off + i * d.elem.size, v[i], `${what}[${i}]`);
    return;
  }
  if (!isArrayLike(v)) throw typeError(what, 'an array', v);
  const n = d.k === 'array' ? d.n : d.size;
  if (v.length > n) throw new BpfError(`${what}: ${v.length} elements do not fit ${n}`, { errno: 34 });
  if (d.k !== 'array') {
    const bytes = new Uint8Array(v.length);
    for (let i = 0; i < v.length; i++) bytes[i] = Number(v[i]) & 0xff;
    writeBytes(b, off, bytes);
    return;
  }
  // Like TypedArray.set: the elements given are written, the rest is left as it is.
  const elem = d.elem as ScalarType;
  const buf = new BufferBacking(v.length * elem.size);
  for (let i = 0; i < v.length; i++) setScalar(buf.view(), i * elem.size, elem, v[i], `${what}[${i}]`);
  writeBytes(b, off, buf.bytes);
}

function isScalar(d: TypeDesc): d is ScalarType {
  return d.k === 'int' || d.k === 'bool' || d.k === 'float' || d.k === 'ptr';
}

function writeBytes(b: Backing, off: number, bytes: Uint8Array): void {
  const dv = b.view();
  if (dv) new Uint8Array(dv.buffer, dv.byteOffset + off, bytes.length).set(bytes);
  else b.write(off, bytes);
}

function isArrayLike(v: unknown): v is ArrayLike<unknown> {
  return typeof v === 'object' && v !== null && typeof (v as { length?: unknown }).length === 'number';
}

// -------------------------------------------------------------------------------------------------
// Structs: one prototype per descriptor with a getter/setter per field; instances hold the backing,
// their offset and a cache of nested accessors and views.

const BACKING = Symbol('tsbpf.backing');
const OFFSET = Symbol('tsbpf.offset');
const CACHE = Symbol('tsbpf.cache');
const DESC = Symbol('tsbpf.desc');

interface AccessorSlots {
  [BACKING]: Backing;
  [OFFSET]: number;
  [CACHE]: Map<number, unknown>;
  [DESC]: StructType;
}

const prototypes = new WeakMap<StructType, object>();

function protoFor(d: StructType): object {
  let proto = prototypes.get(d);
  if (proto) return proto;
  proto = Object.create(accessorBase) as object;
  d.fields.forEach((f, idx) => {
    const [name, off, type, bitOff, bits] = f;
    if (name === '') return; // anonymous members: reached through their own fields (below)
    const what = d.name ? `${d.name}.${name}` : name;
    let get: (this: AccessorSlots) => unknown;
    let set: (this: AccessorSlots, v: unknown) => void;
    if (bits !== undefined && bitOff !== undefined) {
      const st = type as ScalarType;
      get = function () { return readBits(this[BACKING], this[OFFSET], bitOff, bits, st); };
      set = function (v) { writeBits(this[BACKING], this[OFFSET], bitOff, bits, st, v, what); };
    } else if (type.k === 'struct') {
      get = function () { return nested(this, idx, off, type); };
      set = function (v) { assignStruct(type, this[BACKING], this[OFFSET] + off, v, what); };
    } else if (type.k === 'array' || type.k === 'chars' || type.k === 'bytes') {
      get = function () { return arrayValue(this[BACKING], this[OFFSET] + off, type, this[CACHE], idx); };
      set = function (v) { writeArray(this[BACKING], this[OFFSET] + off, type, v, what); };
    } else {
      get = function () { return readScalarAt(this[BACKING], this[OFFSET] + off, type); };
      set = function (v) { writeScalarAt(this[BACKING], this[OFFSET] + off, type, v, what); };
    }
    Object.defineProperty(proto, name, { get, set, enumerable: true, configurable: false });
  });
  // Members of anonymous struct/union members are reachable directly, as in C (at any depth: the
  // inner prototype already lists its own anonymous members' fields).
  d.fields.forEach(([name, off, type], idx) => {
    if (name !== '' || type.k !== 'struct') return;
    for (const innerName of Object.keys(Object.getOwnPropertyDescriptors(protoFor(type)))) {
      if (Object.prototype.hasOwnProperty.call(proto, innerName)) continue;
      Object.defineProperty(proto, innerName, {
        get(this: AccessorSlots) { return (nested(this, idx, off, type) as Record<string, unknown>)[innerName]; },
        set(this: AccessorSlots, v: unknown) { (nested(this, idx, off, type) as Record<string, unknown>)[innerName] = v; },
        enumerable: true, configurable: false,
      });
    }
  });
  prototypes.set(d, proto);
  return proto;
}

function nested(self: AccessorSlots, idx: number, off: number, type: StructType): unknown {
  const cache = self[CACHE];
  let acc = cache.get(idx);
  if (!acc) {
    acc = structAccessor(type, self[BACKING], self[OFFSET] + off);
    cache.set(idx, acc);
  }
  return acc;
}

/** Plain-object snapshot of an accessor (for console output; for JSON, bigints become strings). */
function toPlain(v: unknown, json: boolean): unknown {
  if (typeof v === 'bigint') return json ? v.toString() : v;
  if (typeof v !== 'object' || v === null) return v;
  if (v instanceof CharArray) return v.toString();
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<unknown>, (x) => toPlain(x, json));
  if (Array.isArray(v)) return v.map((x) => toPlain(x, json));
  const out: Record<string, unknown> = {};
  for (const k in v) out[k] = toPlain((v as Record<string, unknown>)[k], json);
  return out;
}

const accessorBase: object = Object.create(Object.prototype, {
  toJSON: { value(this: object) { return toPlain(this, true); }, enumerable: false },
  [inspect.custom]: {
    value(this: object, depth: number, opts: object) { return inspect(toPlain(this, false), { ...opts, depth }); },
    enumerable: false,
  },
});

/** An accessor object for struct `d` at `off` in `b`. */
export function structAccessor(d: StructType, b: Backing, off: number): object {
  const o = Object.create(protoFor(d)) as AccessorSlots;
  Object.defineProperty(o, BACKING, { value: b });
  Object.defineProperty(o, OFFSET, { value: off });
  Object.defineProperty(o, CACHE, { value: new Map() });
  Object.defineProperty(o, DESC, { value: d });
  return o;
}

/** Assigns the fields present in `v` (a plain object or another accessor) to the struct at `off`. */
function assignStruct(d: StructType, b: Backing, off: number, v: unknown, what: string): void {
  if (typeof v !== 'object' || v === null) throw typeError(what, 'an object', v);
  const acc = structAccessor(d, b, off) as Record<string, unknown>;
  const src = v as Record<string, unknown>;
  for (const k in src) {
    if (!(k in acc)) throw new BpfError(`${what}: no field '${k}'${d.name ? ` in '${d.name}'` : ''}`, { errno: 22 });
    acc[k] = src[k];
  }
}

// -------------------------------------------------------------------------------------------------
// Codecs: map keys and values as decoded JS values over their own bytes.

export interface Codec<T, I = Init<T>> {
  readonly size: number;
  /** Decodes `bytes` (copied): scalars as numbers/bigints/booleans, arrays as typed arrays, structs as accessor objects. */
  decode(bytes: Uint8Array): T;
  /** Encodes a value (or an accessor obtained from decode) into exactly `size` bytes. */
  encode(value: I): Uint8Array;
}

export function codecFor<T, I = Init<T>>(d: TypeDesc): Codec<T, I> {
  return {
    size: d.size,
    decode(bytes: Uint8Array): T {
      const b = new BufferBacking(bytes);
      return readValue(d, b, 0) as T;
    },
    encode(value: I): Uint8Array {
      // A decoded struct carries its own bytes: reuse them.
      if (d.k === 'struct' && typeof value === 'object' && value !== null && DESC in value && (value as unknown as AccessorSlots)[DESC] === d) {
        const slots = value as unknown as AccessorSlots;
        return slots[BACKING].read(slots[OFFSET], d.size);
      }
      const b = new BufferBacking(d.size);
      writeValue(d, b, 0, value, d.k === 'struct' ? d.name || 'value' : 'value');
      return b.bytes;
    },
  };
}

function readValue(d: TypeDesc, b: Backing, off: number): unknown {
  switch (d.k) {
    case 'struct': return structAccessor(d, b, off);
    case 'array': case 'chars': case 'bytes': return arrayValue(b, off, d, new Map(), 0);
    default: return readScalarAt(b, off, d);
  }
}

function writeValue(d: TypeDesc, b: Backing, off: number, v: unknown, what: string): void {
  switch (d.k) {
    case 'struct': assignStruct(d, b, off, v, what); return;
    case 'array': case 'chars': case 'bytes': writeArray(b, off, d, v, what); return;
    default: writeScalarAt(b, off, d, v, what);
  }
}
