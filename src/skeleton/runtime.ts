// The runtime behind generated skeletons (`tsbpf gen skeleton`): the object's lifecycle (open, load,
// attach, detach, destroy), maps with typed keys and values, and data sections whose fields are the
// object's global variables.
//
// Semantics, as libbpf's skeleton:
// - Before load, section fields read and write the initialization image (.rodata included).
// - After load, the same accessor objects (and the typed-array views they handed out) read and
//   write the live map: global-data.ts maps the map over the image's address, nothing is re-fetched.
// - .rodata/.kconfig are frozen at load: field writes throw from then on. Typed-array views of them
//   taken earlier still point at the image, which the kernel no longer reads.
// - A section whose map could not be memory-mapped throws on access after load instead of showing
//   the stale image. After destroy(), every field access throws; views handed out earlier read
//   zeros (the memory is replaced, never unmapped under them), so nothing can crash the process.

import { readFileSync } from 'node:fs';
import type { AttachSummary } from '../attach/index.js';
import { BpfError, StateError } from '../errors.js';
import type { GlobalData } from '../global-data.js';
import type { Link } from '../link.js';
import { BpfMap } from '../map.js';
import { BpfObject, type OpenOptions } from '../object.js';
import type { Program } from '../program.js';
import { isKeylessMapType } from '../spec/map-types.js';
import { type Backing, type Codec, codecFor, type Init, structAccessor, type StructType, type TypeDesc } from './layout.js';

/** A data section of the skeleton: `bss`, `data`, `rodata`, `kconfig`, `data_foo`... */
export interface SectionDesc {
  /** The skeleton field name (bpftool's identifier). */
  readonly ident: string;
  /** The ELF section, which is the map's name in BpfObject.maps. */
  readonly section: string;
  /** Its non-static variables as fields at their offsets. */
  readonly type: StructType;
}

export interface MapDesc {
  /** The skeleton field name. */
  readonly ident: string;
  /** The map's name in BpfObject.maps. */
  readonly name: string;
  /** Key and value layouts; a map with a value layout gets a TypedMap, others stay a BpfMap. */
  readonly key?: TypeDesc;
  readonly value?: TypeDesc;
}

export interface SkeletonDesc {
  /** The object name (bpftool's: file name without `.o`, sanitized); also the BpfObject's name. */
  readonly name: string;
  readonly maps: readonly MapDesc[];
  readonly progs: readonly string[];
  readonly sections: readonly SectionDesc[];
}

export interface SkeletonOpenOptions extends OpenOptions {
  /** Load this object file instead of the bytes embedded in the skeleton (it must be the same object). */
  objectPath?: string;
}

/** What generated skeleton types extend (maps, progs and links get precise types there). */
export type SkeletonBase = Omit<Skeleton, 'maps' | 'progs' | 'links'>;

/** `links.<prog>` of a skeleton: filled by attach(), emptied by detach(). */
export type SkeletonLinks<P extends string> = { [K in P]: Link | undefined };

// -------------------------------------------------------------------------------------------------
// Typed maps

/** A map whose keys and values are encoded and decoded from their BTF types. `map` is the raw map. */
export class TypedMap<K, V, KI = Init<K>, VI = Init<V>> {
  readonly map: BpfMap;
  /** @internal */ readonly keyCodec: Codec<K, KI> | undefined;
  /** @internal */ readonly valueCodec: Codec<V, VI>;

  constructor(map: BpfMap, key: Codec<K, KI> | undefined, value: Codec<V, VI>) {
    this.map = map;
    this.keyCodec = key;
    this.valueCodec = value;
  }

  get name(): string {
    return this.map.name;
  }
  get fd(): number {
    return this.map.fd;
  }
  get maxEntries(): number {
    return this.map.maxEntries;
  }
  set maxEntries(n: number) {
    this.map.maxEntries = n;
  }

  /** The decoded value for `key`, or undefined when absent. */
  lookup(key: KI, flags = 0): V | undefined {
    const v = this.map.lookup(this.encodeKey(key), flags);
    return v && this.valueCodec.decode(v);
  }

  has(key: KI): boolean {
    return this.map.lookup(this.encodeKey(key)) !== undefined;
  }

  update(key: KI, value: VI, flags = 0): void {
    this.map.update(this.encodeKey(key), this.valueCodec.encode(value), flags);
  }

  /** Deletes `key`; false when it was absent. */
  delete(key: KI): boolean {
    return this.map.delete(this.encodeKey(key));
  }

  *keys(): IterableIterator<K> {
    const kc = this.needKeyCodec();
    for (const k of this.map.keys()) yield kc.decode(k);
  }

  *values(): IterableIterator<V> {
    for (const [, v] of this.map.entries()) yield this.valueCodec.decode(v);
  }

  *entries(): IterableIterator<[K, V]> {
    const kc = this.needKeyCodec();
    for (const [k, v] of this.map.entries()) yield [kc.decode(k), this.valueCodec.decode(v)];
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  /** Looks up and deletes `key` (for queues and stacks: pops). */
  lookupAndDelete(key?: KI): V | undefined {
    const v = this.map.lookupAndDelete(key === undefined ? undefined : this.encodeKey(key));
    return v && this.valueCodec.decode(v);
  }

  /** Queue/stack: pushes a value. */
  push(value: VI, flags = 0): void {
    this.map.push(this.valueCodec.encode(value), flags);
  }

  /** Queue/stack: removes and returns the head. */
  pop(): V | undefined {
    const v = this.map.pop();
    return v && this.valueCodec.decode(v);
  }

  /** Queue/stack/bloom filter: the head without removing it. */
  peek(): V | undefined {
    const v = this.map.peek();
    return v && this.valueCodec.decode(v);
  }

  private encodeKey(key: KI): Uint8Array {
    if (!this.keyCodec) {
      if (key instanceof Uint8Array) return key;
      throw new BpfError(`map '${this.map.name}': its key has no BTF type; pass the key as a Uint8Array`, { map: this.map.name, errno: 22 });
    }
    return this.keyCodec.encode(key);
  }

  private needKeyCodec(): Codec<K, KI> {
    if (!this.keyCodec) throw new BpfError(`map '${this.map.name}': its key has no BTF type to decode`, { map: this.map.name, errno: 22 });
    return this.keyCodec;
  }
}

/** A per-CPU map: one decoded value per possible CPU. */
export class PerCpuTypedMap<K, V, KI = Init<K>, VI = Init<V>> {
  readonly map: BpfMap;
  private readonly keyCodec: Codec<K, KI>;
  private readonly valueCodec: Codec<V, VI>;

  constructor(map: BpfMap, key: Codec<K, KI>, value: Codec<V, VI>) {
    this.map = map;
    this.keyCodec = key;
    this.valueCodec = value;
  }

  get name(): string {
    return this.map.name;
  }
  get fd(): number {
    return this.map.fd;
  }

  /** The values of `key` on each possible CPU, or undefined when absent. */
  lookup(key: KI, flags = 0): V[] | undefined {
    const v = this.map.lookupPerCpu(this.keyCodec.encode(key), flags);
    return v?.map((b) => this.valueCodec.decode(b));
  }

  /** Sets `key` to the same value on every possible CPU. */
  update(key: KI, value: VI, flags = 0): void {
    const n = this.map.valueBufferSize / ((this.map.valueSize + 7) & ~7);
    const bytes = this.valueCodec.encode(value);
    this.map.update(this.keyCodec.encode(key), Array.from({ length: n }, () => bytes), flags);
  }

  /** Sets `key` to one value per possible CPU. */
  updatePerCpu(key: KI, values: readonly VI[], flags = 0): void {
    this.map.update(this.keyCodec.encode(key), values.map((v) => this.valueCodec.encode(v)), flags);
  }

  delete(key: KI): boolean {
    return this.map.delete(this.keyCodec.encode(key));
  }

  *keys(): IterableIterator<K> {
    for (const k of this.map.keys()) yield this.keyCodec.decode(k);
  }

  *entries(): IterableIterator<[K, V[]]> {
    for (const k of this.map.keys()) {
      const v = this.map.lookupPerCpu(k);
      if (v) yield [this.keyCodec.decode(k), v.map((b) => this.valueCodec.decode(b))];
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V[]]> {
    return this.entries();
  }
}

// -------------------------------------------------------------------------------------------------
// Data sections

class GlobalDataBacking implements Backing {
  private readonly map: BpfMap;
  private readonly gd: GlobalData;
  private readonly label: string;
  private readonly zeroCopy: boolean;
  private dv: DataView | undefined;

  constructor(map: BpfMap, gd: GlobalData, label: string) {
    this.map = map;
    this.gd = gd;
    this.label = label;
    // Decided at open, like the image itself: copy mode never gets a view, even after load.
    this.zeroCopy = gd.zeroCopy;
  }

  check(write: boolean): void {
    if (this.gd.closed) throw new StateError(`${this.label}: the skeleton is destroyed (or its object closed)`, { map: this.map.name });
    if (this.map.loaded && !this.gd.isLive) {
      throw new StateError(`${this.label}: the map could not be memory-mapped, so its variables are not accessible after load ` +
        `(the map lacks BPF_F_MMAPABLE; use skel.maps.${this.label.split('.').pop()} lookups)`, { map: this.map.name });
    }
    if (write && this.gd.frozen) throw new StateError(`${this.label}: read-only after load (the kernel froze the map)`, { map: this.map.name, errno: 1 });
  }

  view(): DataView | undefined {
    if (!this.zeroCopy) return undefined;
    if (!this.dv) {
      const b = this.gd.bytes;
      this.dv = new DataView(b.buffer, b.byteOffset, b.length);
    }
    return this.dv;
  }

  read(off: number, len: number, into?: Uint8Array): Uint8Array {
    return this.gd.read(off, len, into);
  }

  write(off: number, src: Uint8Array): void {
    this.gd.write(off, src);
  }
}

// -------------------------------------------------------------------------------------------------
// The skeleton

export class Skeleton {
  /** The underlying object: everything the skeleton does not wrap. */
  readonly obj: BpfObject;
  readonly maps: Record<string, BpfMap | TypedMap<unknown, unknown> | PerCpuTypedMap<unknown, unknown>>;
  readonly progs: Record<string, Program>;
  readonly links: Record<string, Link | undefined>;
  private readonly desc: SkeletonDesc;
  private destroyed = false;

  /** @internal Use the generated module's open()/openAndLoad(). */
  constructor(desc: SkeletonDesc, obj: BpfObject) {
    this.desc = desc;
    this.obj = obj;
    const maps: Skeleton['maps'] = {};
    for (const m of desc.maps) {
      const map = obj.map(m.name);
      if (!m.value) {
        maps[m.ident] = map;
      } else if (map.isPerCpu && m.key) {
        maps[m.ident] = new PerCpuTypedMap(map, codecFor(m.key), codecFor(m.value));
      } else {
        checkSizes(map, m, isKeylessMapType(map.type));
        maps[m.ident] = new TypedMap(map, m.key && codecFor(m.key), codecFor(m.value));
      }
    }
    this.maps = Object.freeze(maps);
    const progs: Record<string, Program> = {};
    for (const p of desc.progs) progs[p] = obj.program(p);
    this.progs = Object.freeze(progs);
    const links: Record<string, Link | undefined> = {};
    for (const p of desc.progs) links[p] = undefined;
    for (const m of obj.maps.values()) if (m.structOps && !(m.name in links)) links[m.name] = undefined;
    this.links = Object.seal(links);
    for (const s of desc.sections) {
      const map = obj.map(s.section);
      const gd = map.globalData;
      if (!gd) throw new BpfError(`skeleton '${desc.name}': map '${s.section}' is not a global data map`, { object: desc.name, errno: 22 });
      if (s.type.size > gd.size) {
        throw new BpfError(`skeleton '${desc.name}': section '${s.section}' is ${gd.size} bytes, the skeleton expects ${s.type.size}; regenerate it`, { object: desc.name, errno: 22 });
      }
      const accessor = structAccessor(s.type, new GlobalDataBacking(map, gd, `${desc.name}.${s.ident}`), 0);
      Object.defineProperty(this, s.ident, { value: accessor, enumerable: true });
    }
  }

  /** Creates the maps, loads the programs; section fields then read and write the live maps. */
  async load(): Promise<void> {
    this.loadSync();
  }

  loadSync(): void {
    this.checkAlive();
    this.obj.loadSync();
  }

  /**
   * Attaches every loaded program whose section says how (kprobe/..., tracepoint/..., fentry/..., ...),
   * as libbpf's skeleton attach, and fills `links`. Programs already in `links` (attached by hand),
   * without auto-attach, or with autoload off are skipped; `skipped` says why. If one attachment fails,
   * those made by this call are undone (BpfObject.attach).
   */
  attach(): AttachSummary {
    this.checkAlive();
    // Links set by hand count as attached, as a non-NULL link does for libbpf.
    for (const name of this.desc.progs) {
      const l = this.links[name];
      if (l && !this.obj.links.has(name)) this.obj.links.set(name, l);
    }
    const summary = this.obj.attachSync();
    for (const [name, link] of this.obj.links) if (name in this.links) this.links[name] = link;
    return summary;
  }

  /** Destroys every link in `links` (made by attach() or set by hand). */
  detach(): void {
    const errors: unknown[] = [];
    try {
      this.obj.detach();
    } catch (e) {
      errors.push(e);
    }
    for (const name of Object.keys(this.links)) {
      const link = this.links[name];
      this.links[name] = undefined;
      if (!link || link.closed) continue;
      try {
        link.close();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }

  /** Detaches, then closes the object: maps, programs and section memory. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      this.detach();
    } finally {
      this.obj.close();
    }
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  private checkAlive(): void {
    if (this.destroyed) throw new StateError(`skeleton '${this.desc.name}' is destroyed`, { object: this.desc.name });
  }
}

function checkSizes(map: BpfMap, m: MapDesc, keyless: boolean): void {
  const v = m.value!;
  if (v.size !== map.valueSize) {
    throw new BpfError(`map '${map.name}': value size ${map.valueSize} != ${v.size} in the skeleton; regenerate it`, { map: map.name, errno: 22 });
  }
  if (!keyless && m.key && m.key.size !== map.keySize) {
    throw new BpfError(`map '${map.name}': key size ${map.keySize} != ${m.key.size} in the skeleton; regenerate it`, { map: map.name, errno: 22 });
  }
}

/**
 * Opens the object of a generated skeleton (its embedded bytes, a path, or `opts.objectPath`) and wraps
 * it. Nothing is loaded yet: set .rodata fields, map sizes and autoload flags, then load().
 */
export function openSkeleton<S extends Skeleton>(desc: SkeletonDesc, object: Uint8Array | string | (() => Uint8Array), opts: SkeletonOpenOptions = {}): S {
  const { objectPath, ...openOpts } = opts;
  let source: Uint8Array | string;
  if (objectPath !== undefined) source = objectPath;
  else if (typeof object === 'function') source = object();
  else source = object;
  const obj = BpfObject.open(typeof source === 'string' ? readFile(source) : source, { objectName: desc.name, ...openOpts });
  try {
    return new Skeleton(desc, obj) as S;
  } catch (e) {
    obj.close();
    throw e;
  }
}

function readFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new BpfError(`failed to read BPF object '${path}': ${err.message}`, { cmd: 'open', errno: err.errno ? Math.abs(err.errno) : 2, cause: e });
  }
}

/** open() + load(), destroying the skeleton if the load fails. */
export async function openAndLoadSkeleton<S extends Skeleton>(desc: SkeletonDesc, object: Uint8Array | string | (() => Uint8Array), opts: SkeletonOpenOptions = {}): Promise<S> {
  const skel = openSkeleton<S>(desc, object, opts);
  try {
    await skel.load();
  } catch (e) {
    skel.destroy();
    throw e;
  }
  return skel;
}
