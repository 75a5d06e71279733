// BpfMap: one map of an object (its spec before load, its fd after), with the raw-bytes map API.

import {
  type Fd, mapDeleteBatch, mapDeleteElem, mapFreeze, mapGetNextKey, mapLookupAndDeleteBatch, mapLookupAndDeleteElem,
  mapLookupBatch, mapLookupElem, mapUpdateBatch, mapUpdateElem, objPin, possibleCpus,
} from '../syscalls/index.js';
import { BpfError, StateError, withContext } from './errors.js';
import type { GlobalData } from './global-data.js';
import type { Link } from './link.js';
import { attachStructOps, type StructOps } from './struct-ops.js';
import { isKeylessMapType, isPerCpuMapType, MAP_TYPE } from './spec/map-types.js';
import type { MapSpec } from './spec/types.js';
import { unlinkSync } from 'node:fs';

/** BPF_MAP_UPDATE_ELEM flags. */
export const UPDATE = { ANY: 0, NOEXIST: 1, EXIST: 2, F_LOCK: 4 } as const;

export interface BatchOptions {
  /** BPF_F_LOCK for maps with a bpf_spin_lock. */
  elemFlags?: number;
  flags?: number;
}

export interface BatchResult {
  /** Keys, `count` of them, packed back to back. */
  keys: Uint8Array;
  /** Values, `count` of them, packed back to back (per-CPU maps: possible CPUs × roundup(valueSize, 8) each). */
  values: Uint8Array;
  count: number;
}

export class BpfMap {
  readonly name: string;
  /** @internal */ readonly spec: MapSpec;
  /** @internal */ fdOwner: Fd | undefined;
  /** @internal */ readonly globalData: GlobalData | undefined;
  /**
   * Struct_ops maps (SEC(".struct_ops"), SEC(".struct_ops.link")): the object's struct, which program
   * each function pointer names, autocreate and autoattach. Undefined for other maps.
   */
  readonly structOps: StructOps | undefined;
  private readonly objectName: string;
  private closed = false;
  private pinnedAt: string | undefined;
  private pinnedByLoad = false;
  /** Scratch buffer for lookups that return a copy. */
  private scratch: Uint8Array | undefined;

  /** @internal */
  constructor(spec: MapSpec, objectName: string, globalData: GlobalData | undefined, structOps?: StructOps) {
    this.spec = spec;
    this.name = spec.name;
    this.objectName = objectName;
    this.globalData = globalData;
    this.structOps = structOps;
  }

  /** The map fd; throws before load. */
  get fd(): number {
    if (!this.fdOwner) {
      const notCreated = this.structOps && !this.structOps.autocreate && this.structOps.kernel === undefined && !this.closed;
      throw this.stateError(this.closed ? 'the map is closed' : notCreated ? 'the map is not created: autocreate is off (SEC("?.struct_ops"))' : 'the object is not loaded yet');
    }
    return this.fdOwner.fd;
  }

  /**
   * Struct_ops maps: registers the struct_ops with the kernel (libbpf's bpf_map__attach_struct_ops).
   * Closing the Link unregisters it. obj.attach() does this for every struct_ops map with autoattach.
   */
  attachStructOps(): Link {
    try {
      return attachStructOps(this);
    } catch (e) {
      throw withContext(e, { object: this.objectName, map: this.name });
    }
  }

  get loaded(): boolean {
    return this.fdOwner !== undefined;
  }

  /** The kernel's numeric bpf_map_type. */
  get type(): number {
    return this.spec.type;
  }
  get keySize(): number {
    return this.spec.keySize;
  }
  get valueSize(): number {
    return this.spec.valueSize;
  }
  get maxEntries(): number {
    return this.spec.maxEntries;
  }
  get mapFlags(): number {
    return this.spec.mapFlags;
  }
  /** The name the kernel knows the map by (libbpf's rules for global data: 'objname.rodata'). */
  get kernelName(): string {
    return this.spec.kernelName;
  }
  /** The pin path, when pinned. */
  get pinPath(): string | undefined {
    return this.pinnedAt;
  }
  get isPerCpu(): boolean {
    return isPerCpuMapType(this.spec.type);
  }
  /** True for maps backing global data (.data, .rodata, .bss, .kconfig, and their .foo variants). */
  get isGlobalData(): boolean {
    return this.spec.origin !== 'user' && this.spec.origin !== 'struct_ops';
  }

  set maxEntries(n: number) {
    this.beforeLoad('max_entries');
    checkU32(n, 'max_entries');
    this.spec.maxEntries = n;
  }
  setMaxEntries(n: number): void {
    this.maxEntries = n;
  }
  /** Changes the value size before load. For global data the image is not resized; use the skeleton for that. */
  setValueSize(n: number): void {
    this.beforeLoad('value_size');
    checkU32(n, 'value_size');
    if (this.globalData) throw this.error('the value size of a global data map is its section size and cannot be changed here');
    this.spec.valueSize = n;
  }
  setMapFlags(flags: number): void {
    this.beforeLoad('map_flags');
    this.spec.mapFlags = flags >>> 0;
  }

  /**
   * Global data: the image that load() writes. It is a zero-copy view: writable before load, and after load
   * the same memory is the live map for .data/.bss. Copy mode (Electron): a copy; use setInitialValue.
   */
  get initialValue(): Uint8Array {
    // Struct_ops: the object's struct (libbpf's shadow data), read at load to build the kernel value.
    if (this.structOps) return this.structOps.data;
    const gd = this.globalData;
    if (!gd) throw this.error('only global data maps (.data, .rodata, .bss, .kconfig) and struct_ops maps have an initial value');
    return gd.zeroCopy ? gd.bytes : gd.snapshot();
  }

  setInitialValue(value: Uint8Array): void {
    if (this.structOps) {
      this.beforeLoad('initial value');
      if (value.length !== this.structOps.data.length) throw this.error(`initial value size ${value.length} != struct ${this.structOps.typeName} size ${this.structOps.data.length}`);
      this.structOps.data.set(value);
      return;
    }
    const gd = this.globalData;
    if (!gd) throw this.error('only global data maps and struct_ops maps have an initial value');
    if (this.spec.origin === 'kconfig') throw this.error('.kconfig is filled by the loader and cannot be set');
    this.beforeLoad('initial value');
    if (value.length !== gd.size) throw this.error(`initial value size ${value.length} != map value size ${gd.size}`);
    gd.write(0, value);
  }

  /** Size of the user buffer for one value: per-CPU maps hold one 8-byte-aligned slot per possible CPU. */
  get valueBufferSize(): number {
    return this.isPerCpu ? possibleCpus() * roundUp8(this.spec.valueSize) : this.spec.valueSize;
  }

  /**
   * The value for `key`, or undefined if absent. Per-CPU maps return libbpf's flat layout (one
   * 8-byte-aligned slot per possible CPU); lookupPerCpu splits it. Queues and stacks take no key: use
   * lookupAndDelete/pop or peek.
   */
  lookup(key: Uint8Array, flags = 0): Uint8Array | undefined {
    const out = new Uint8Array(this.valueBufferSize);
    return this.lookupInto(key, out, flags) ? out : undefined;
  }

  /** Per-CPU lookup split by CPU. */
  lookupPerCpu(key: Uint8Array, flags = 0): Uint8Array[] | undefined {
    const flat = this.lookup(key, flags);
    return flat && this.splitPerCpu(flat);
  }

  /** Reads the value into `out` (valueBufferSize bytes) without allocating. Returns false if absent. */
  lookupInto(key: Uint8Array, out: Uint8Array, flags = 0): boolean {
    this.checkKey(key);
    this.checkValue(out);
    return mapLookupElem(this.fd, key, out, flags);
  }

  /** Queue/stack/bloom: the head element without removing it. */
  peek(): Uint8Array | undefined {
    const out = new Uint8Array(this.spec.valueSize);
    return mapLookupElem(this.fd, null, out, 0) ? out : undefined;
  }

  update(key: Uint8Array | null, value: Uint8Array | readonly Uint8Array[], flags = 0): void {
    const flat = Array.isArray(value) ? this.joinPerCpu(value as readonly Uint8Array[]) : (value as Uint8Array);
    if (isKeylessMapType(this.spec.type)) {
      if (key && key.length) throw this.error(`${this.typeLabel()} maps take no key`);
    } else this.checkKey(key);
    this.checkValue(flat);
    try {
      mapUpdateElem(this.fd, isKeylessMapType(this.spec.type) ? null : key, flat, flags);
    } catch (e) {
      throw withContext(e, { object: this.objectName, map: this.name });
    }
  }

  /** Queue/stack: push a value. */
  push(value: Uint8Array, flags = 0): void {
    this.update(null, value, flags);
  }

  /** Deletes `key`; returns false if it was absent. */
  delete(key: Uint8Array): boolean {
    this.checkKey(key);
    try {
      return mapDeleteElem(this.fd, key);
    } catch (e) {
      throw withContext(e, { object: this.objectName, map: this.name });
    }
  }

  /** The key after `key` (the first key when undefined), or undefined at the end. */
  nextKey(key?: Uint8Array): Uint8Array | undefined {
    if (key) this.checkKey(key);
    const out = new Uint8Array(this.spec.keySize);
    return mapGetNextKey(this.fd, key ?? null, out) ? out : undefined;
  }

  /** Iterates over the keys (BPF_MAP_GET_NEXT_KEY). Deleting the current key while iterating is allowed. */
  *keys(): IterableIterator<Uint8Array> {
    if (isKeylessMapType(this.spec.type)) return;
    let key = this.nextKey();
    while (key) {
      yield key;
      key = this.nextKey(key);
    }
  }

  /** Iterates over [key, value] pairs; entries deleted concurrently are skipped. */
  *entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    for (const key of this.keys()) {
      const v = this.lookup(key);
      if (v) yield [key, v];
    }
  }

  /** Looks up and deletes. Queues and stacks take no key (pop). Returns undefined if absent/empty. */
  lookupAndDelete(key?: Uint8Array, flags = 0): Uint8Array | undefined {
    const keyless = isKeylessMapType(this.spec.type);
    if (!keyless && key === undefined) throw this.error('lookupAndDelete needs a key for this map type');
    if (!keyless) this.checkKey(key!);
    const out = new Uint8Array(this.valueBufferSize);
    try {
      return mapLookupAndDeleteElem(this.fd, keyless ? null : key!, out, flags) ? out : undefined;
    } catch (e) {
      throw withContext(e, { object: this.objectName, map: this.name });
    }
  }

  /** Queue/stack: pop the head element. */
  pop(): Uint8Array | undefined {
    return this.lookupAndDelete();
  }

  /** Makes the map read-only for user space (BPF_MAP_FREEZE). */
  freeze(): void {
    mapFreeze(this.fd);
  }

  /**
   * One BPF_MAP_LOOKUP_BATCH step: up to `count` entries after `cursor` (undefined to start). Returns the
   * entries and the cursor for the next call, or done when the map is exhausted.
   */
  lookupBatch(count: number, cursor?: Uint8Array, opts: BatchOptions = {}): BatchResult & { cursor: Uint8Array; done: boolean } {
    return this.batchStep(false, count, cursor, opts);
  }

  lookupAndDeleteBatch(count: number, cursor?: Uint8Array, opts: BatchOptions = {}): BatchResult & { cursor: Uint8Array; done: boolean } {
    return this.batchStep(true, count, cursor, opts);
  }

  /**
   * The allocation-free form of lookupBatch for hot loops: fills caller-owned `keys`/`values` (room for
   * `count` entries) and writes the next cursor into `outCursor` (max(keySize, 4) bytes).
   */
  lookupBatchInto(keys: Uint8Array, values: Uint8Array, count: number, cursor: Uint8Array | null, outCursor: Uint8Array, opts: BatchOptions = {}): { count: number; done: boolean } {
    this.checkBatch(keys, count, this.spec.keySize, 'keys');
    this.checkBatch(values, count, this.valueBufferSize, 'values');
    if (outCursor.length < Math.max(this.spec.keySize, 4)) throw this.error(`batch cursor needs ${Math.max(this.spec.keySize, 4)} bytes`);
    return mapLookupBatch(this.fd, cursor, outCursor, keys, values, count, opts);
  }

  /** Updates `count` entries from packed keys and values. Returns how many the kernel processed. */
  updateBatch(keys: Uint8Array, values: Uint8Array, count: number, opts: BatchOptions = {}): number {
    this.checkBatch(keys, count, this.spec.keySize, 'keys');
    this.checkBatch(values, count, this.valueBufferSize, 'values');
    return mapUpdateBatch(this.fd, keys, values, count, opts);
  }

  deleteBatch(keys: Uint8Array, count: number, opts: BatchOptions = {}): number {
    this.checkBatch(keys, count, this.spec.keySize, 'keys');
    return mapDeleteBatch(this.fd, keys, count, opts);
  }

  /** Pins the map at `path` on bpffs. */
  pin(path: string): void {
    try {
      objPin(this.fd, path);
    } catch (e) {
      throw withContext(e, { object: this.objectName, map: this.name });
    }
    this.pinnedAt = path;
  }

  unpin(): void {
    if (!this.pinnedAt) return;
    try {
      unlinkSync(this.pinnedAt);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw withContext(e, { object: this.objectName, map: this.name, cmd: 'unpin' });
    }
    this.pinnedAt = undefined;
  }

  /** @internal */ setPinnedAt(path: string | undefined, byLoad = false): void {
    this.pinnedAt = path;
    this.pinnedByLoad = byLoad;
  }

  /** @internal Undoes a pin made by a load that then failed (a reused pin stays: it was not ours). */
  unpinIfPinnedByLoad(): void {
    if (this.pinnedByLoad) this.unpin();
    this.pinnedByLoad = false;
  }

  /** Closes the map fd (the kernel map lives on while programs or pins hold it). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.globalData?.close();
    this.fdOwner?.close();
    this.fdOwner = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  splitPerCpu(flat: Uint8Array): Uint8Array[] {
    const stride = roundUp8(this.spec.valueSize);
    const out: Uint8Array[] = [];
    for (let off = 0; off + stride <= flat.length; off += stride) out.push(flat.subarray(off, off + this.spec.valueSize));
    return out;
  }

  joinPerCpu(values: readonly Uint8Array[]): Uint8Array {
    const n = possibleCpus();
    if (values.length !== n) throw this.error(`per-CPU value needs ${n} entries (one per possible CPU), got ${values.length}`);
    const stride = roundUp8(this.spec.valueSize);
    const flat = new Uint8Array(n * stride);
    values.forEach((v, i) => {
      if (v.length !== this.spec.valueSize) throw this.error(`per-CPU value for CPU ${i} has ${v.length} bytes, expected ${this.spec.valueSize}`);
      flat.set(v, i * stride);
    });
    return flat;
  }

  private batchStep(del: boolean, count: number, cursor: Uint8Array | undefined, opts: BatchOptions) {
    if (!Number.isInteger(count) || count <= 0) throw this.error(`batch count must be a positive integer, got ${count}`);
    const keys = new Uint8Array(count * this.spec.keySize);
    const values = new Uint8Array(count * this.valueBufferSize);
    // The kernel's batch cursor is opaque; hash maps use a u32 bucket index, arrays the key itself.
    const cursorSize = Math.max(this.spec.keySize, 4);
    const outBatch = new Uint8Array(cursorSize);
    const fn = del ? mapLookupAndDeleteBatch : mapLookupBatch;
    const r = fn(this.fd, cursor ?? null, outBatch, keys, values, count, opts);
    return {
      keys: keys.subarray(0, r.count * this.spec.keySize),
      values: values.subarray(0, r.count * this.valueBufferSize),
      count: r.count, cursor: outBatch, done: r.done,
    };
  }

  private checkKey(key: Uint8Array | null): void {
    if (!key || key.length !== this.spec.keySize) {
      throw this.error(`key size ${key ? key.length : 'null'} != map key size ${this.spec.keySize}`);
    }
  }

  private checkValue(value: Uint8Array): void {
    const want = this.valueBufferSize;
    if (value.length !== want) {
      const perCpu = this.isPerCpu ? ` (${possibleCpus()} possible CPUs × ${roundUp8(this.spec.valueSize)} bytes)` : '';
      throw this.error(`value size ${value.length} != ${want}${perCpu}`);
    }
  }

  private checkBatch(buf: Uint8Array, count: number, each: number, what: string): void {
    if (!Number.isInteger(count) || count <= 0 || buf.length < count * each) {
      throw this.error(`batch ${what} buffer of ${buf.length} bytes is too small for ${count} × ${each} bytes`);
    }
  }

  private beforeLoad(what: string): void {
    if (this.fdOwner || this.closed) throw this.stateError(`${what} can only be changed before load`);
  }

  private typeLabel(): string {
    return this.spec.type === MAP_TYPE.QUEUE ? 'queue' : this.spec.type === MAP_TYPE.STACK ? 'stack' : 'bloom filter';
  }

  private error(message: string): BpfError {
    return new BpfError(`map '${this.name}': ${message}`, { object: this.objectName, map: this.name, errno: 22 });
  }

  private stateError(message: string): StateError {
    return new StateError(`map '${this.name}': ${message}`, { object: this.objectName, map: this.name });
  }
}

function roundUp8(n: number): number {
  return (n + 7) & ~7;
}

function checkU32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new BpfError(`${what} must be a 32-bit unsigned integer, got ${n}`, { errno: 22 });
}
