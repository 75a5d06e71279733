// Map creation for the loader: BTF-typed creation with libbpf's retry without BTF, pinning by name
// (reuse or pin), global data images, inner maps and prog-array slots, and load()'s overlap of big
// map creation with CO-RE relocation.

import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  Fd, mapCreate, mapCreateAsync, mapFreeze, mapInfo, mapUpdateElem, objGet, objPin, possibleCpus, isBpffs, type MapCreateOptions,
} from '../syscalls/index.js';
import { BpfError, withContext } from './errors.js';
import { mapTypeName } from './kernel-enums.js';
import type { BpfMap } from './map.js';
import type { BpfObject } from './object.js';
import { isMapInMap } from './spec/map-defs.js';
import { MAP_FLAG, MAP_TYPE, mapTypeTakesNoBtf } from './spec/map-types.js';
import type { MapSpec } from './spec/types.js';
import { createStructOpsMap } from './struct-ops.js';

const DEFAULT_PIN_ROOT = '/sys/fs/bpf';

export function createMap(obj: BpfObject, map: BpfMap, btfFd: number | undefined): void {
  const s = map.spec;
  try {
    if (map.structOps) {
      if (map.structOps.autocreate) map.fdOwner = createStructOpsMap(map, btfFd);
      return;
    }
    fixupMaxEntries(s);
    if (s.pinning === 1) {
      const path = `${obj.options.pinRootPath ?? DEFAULT_PIN_ROOT}/${s.name}`;
      const reused = reusePinned(map, path);
      if (reused) return;
      map.fdOwner = create(s, btfFd);
      populate(map);
      pinNew(map, path);
      return;
    }
    map.fdOwner = create(s, btfFd);
    populate(map);
  } catch (e) {
    throw withContext(e, { map: map.name });
  }
}

function fixupMaxEntries(s: MapSpec): void {
  if (s.type === MAP_TYPE.PERF_EVENT_ARRAY && s.maxEntries === 0) s.maxEntries = possibleCpus();
}

/** Maps that need nothing but BPF_MAP_CREATE: no pin to look up, no inner map, no struct_ops value. */
function createsAlone(map: BpfMap): boolean {
  return !map.structOps && map.spec.pinning !== 1 && !isMapInMap(map.spec.type);
}

/**
 * Roughly how many bytes the kernel allocates and clears in BPF_MAP_CREATE: preallocated hash
 * elements (about 48 bytes of overhead each), array values, ring buffer pages. Creating a small map
 * takes ~30 µs, less than handing the call to a threadpool thread and back, so only big ones go there.
 */
function createBytes(s: MapSpec): number {
  const perCpu = s.type === MAP_TYPE.PERCPU_HASH || s.type === MAP_TYPE.LRU_PERCPU_HASH || s.type === MAP_TYPE.PERCPU_ARRAY ? possibleCpus() : 1;
  switch (s.type) {
    case MAP_TYPE.HASH:
    case MAP_TYPE.PERCPU_HASH:
      if (s.mapFlags & MAP_FLAG.NO_PREALLOC) return 0;
      return s.maxEntries * (s.keySize + 48 + s.valueSize * perCpu);
    case MAP_TYPE.LRU_HASH:
    case MAP_TYPE.LRU_PERCPU_HASH:
    case MAP_TYPE.STACK_TRACE:
    case MAP_TYPE.QUEUE:
    case MAP_TYPE.STACK:
      return s.maxEntries * (s.keySize + 48 + s.valueSize * perCpu);
    case MAP_TYPE.ARRAY:
    case MAP_TYPE.PERCPU_ARRAY:
      return s.maxEntries * s.valueSize * perCpu;
    case MAP_TYPE.RINGBUF:
    case MAP_TYPE.USER_RINGBUF:
    case MAP_TYPE.BLOOM_FILTER:
      return s.maxEntries;
    default:
      return s.maxEntries * 8;
  }
}

const ASYNC_CREATE_BYTES = 256 * 1024;

/**
 * createMap for every map, with the big plain ones created on the threadpool while the rest are
 * created, and `meanwhile` runs, here. (Two big maps created at once take about as long as one after
 * the other on Linux 6.18, which serializes much of map allocation: the gain is the overlap with
 * `meanwhile`.) The error is the sequential load's: that of the first failing map in object order,
 * and only then one thrown by `meanwhile` (which runs after the maps in the sequential load).
 */
export async function createMapsConcurrently(obj: BpfObject, btfFd: number | undefined, meanwhile: () => void): Promise<void> {
  const pending: { map: BpfMap; index: number; done: Promise<Fd> }[] = [];
  const errors: { index: number; error: unknown }[] = [];
  let index = 0;
  for (const map of obj.maps.values()) {
    const i = index++;
    try {
      // A perf event array whose size is still to be set (0) counts as small: createMap sets it.
      if (createsAlone(map) && createBytes(map.spec) >= ASYNC_CREATE_BYTES) {
        pending.push({ map, index: i, done: createAsync(map.spec, btfFd) });
      } else {
        createMap(obj, map, btfFd);
      }
    } catch (e) {
      errors.push({ index: i, error: e });
      break;
    }
  }
  if (!errors.length) {
    try {
      meanwhile();
    } catch (e) {
      errors.push({ index: Infinity, error: e });
    }
  }
  const results = await Promise.allSettled(pending.map((p) => p.done));
  results.forEach((r, k) => {
    const { map, index: i } = pending[k]!;
    try {
      if (r.status === 'rejected') throw r.reason;
      map.fdOwner = r.value;
      populate(map);
    } catch (e) {
      errors.push({ index: i, error: withContext(e, { map: map.name }) });
    }
  });
  if (errors.length) throw errors.reduce((a, b) => (b.index < a.index ? b : a)).error;
}

type CreateAttempt = Fd | { failed: unknown };

/**
 * The BPF_MAP_CREATE calls of one map, for a sync or an async driver: with BTF first, and if the
 * kernel refuses that, without it, as libbpf does (old kernels reject BTF for some map types).
 */
function* createAttempts(s: MapSpec, btfFd: number | undefined, innerMapFd: number | undefined): Generator<MapCreateOptions, Fd, CreateAttempt> {
  const base: MapCreateOptions = {
    mapType: s.type, keySize: s.keySize, valueSize: s.valueSize, maxEntries: s.maxEntries, mapFlags: s.mapFlags,
    numaNode: s.numaNode, mapExtra: s.mapExtra, name: s.kernelName, innerMapFd,
  };
  const withBtf = btfFd !== undefined && !mapTypeTakesNoBtf(s.type) && (s.btfKeyTypeId || s.btfValueTypeId);
  if (withBtf) {
    const first = yield { ...base, btfFd, btfKeyTypeId: s.btfKeyTypeId, btfValueTypeId: s.btfValueTypeId };
    if (first instanceof Fd) return first;
    const second = yield base;
    if (!(second instanceof Fd)) throw explainMapCreate(first.failed, s);
    s.btfKeyTypeId = 0;
    s.btfValueTypeId = 0;
    return second;
  }
  const only = yield base;
  if (only instanceof Fd) return only;
  throw explainMapCreate(only.failed, s);
}

function create(s: MapSpec, btfFd: number | undefined): Fd {
  let innerFd: Fd | undefined;
  try {
    if (isMapInMap(s.type)) {
      if (!s.inner) throw new BpfError('map-in-map needs an inner map definition (__array(values, ...))', { cmd: 'BPF_MAP_CREATE', errno: 22 });
      fixupMaxEntries(s.inner);
      innerFd = create(s.inner, btfFd);
    }
    const attempts = createAttempts(s, btfFd, innerFd?.fd);
    let step = attempts.next();
    while (!step.done) {
      let r: CreateAttempt;
      try {
        r = mapCreate(step.value, `map ${s.name}`);
      } catch (e) {
        r = { failed: e };
      }
      step = attempts.next(r);
    }
    return step.value;
  } catch (e) {
    throw explainMapCreate(e, s);
  } finally {
    innerFd?.close();
  }
}

async function createAsync(s: MapSpec, btfFd: number | undefined): Promise<Fd> {
  const attempts = createAttempts(s, btfFd, undefined);
  let step = attempts.next();
  while (!step.done) {
    let r: CreateAttempt;
    try {
      r = await mapCreateAsync(step.value, `map ${s.name}`);
    } catch (e) {
      r = { failed: e };
    }
    step = attempts.next(r);
  }
  return step.value;
}

function explainMapCreate(e: unknown, s: MapSpec): unknown {
  if (!(e instanceof BpfError) || e.advice || e.errno !== 22) return e;
  return new BpfError(`${e.message}`, {
    errno: e.errno, syscall: e.syscall, cmd: e.cmd,
    advice: `check the attributes of this ${mapTypeName(s.type)} map (key ${s.keySize} B, value ${s.valueSize} B, max_entries ${s.maxEntries}, flags 0x${s.mapFlags.toString(16)}); the kernel may also not support this map type`,
    cause: e,
  });
}

/** Global data: write the image, then freeze read-only sections (the kernel then forbids user writes). */
function populate(map: BpfMap): void {
  const gd = map.globalData;
  if (!gd) return;
  mapUpdateElem(map.fd, new Uint8Array(4), gd.snapshot(), 0);
  if (map.spec.mapFlags & MAP_FLAG.RDONLY_PROG) mapFreeze(map.fd);
}

function reusePinned(map: BpfMap, path: string): boolean {
  if (!existsSync(path)) return false;
  let fd: Fd;
  try {
    fd = objGet(path);
  } catch (e) {
    if (e instanceof BpfError && e.errno === 2) return false;
    throw e;
  }
  const info = mapInfo(fd.fd);
  const s = map.spec;
  const same = info.type === s.type && info.keySize === s.keySize && info.valueSize === s.valueSize && info.maxEntries === s.maxEntries
    && maskFlags(info.mapFlags, s.type) === maskFlags(s.mapFlags, s.type) && BigInt(info.mapExtra ?? 0) === s.mapExtra;
  if (!same) {
    fd.close();
    throw new BpfError(`the map pinned at ${path} is incompatible with this object's definition`, {
      cmd: 'reuse pinned map', errno: 22,
      advice: `pinned: ${mapTypeName(info.type)} key ${info.keySize} value ${info.valueSize} max_entries ${info.maxEntries} flags 0x${info.mapFlags.toString(16)}; `
        + `wanted: ${mapTypeName(s.type)} key ${s.keySize} value ${s.valueSize} max_entries ${s.maxEntries} flags 0x${s.mapFlags.toString(16)}. Remove the pin (rm ${path}) or align the definitions`,
    });
  }
  map.fdOwner = fd;
  map.setPinnedAt(path);
  return true;
}

/** Devmaps get BPF_F_RDONLY_PROG added by the kernel, which must not make a pinned one incompatible. */
function maskFlags(flags: number, type: number): number {
  return type === MAP_TYPE.DEVMAP || type === MAP_TYPE.DEVMAP_HASH ? flags & ~MAP_FLAG.RDONLY_PROG : flags;
}

function pinNew(map: BpfMap, path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!isBpffs(dir)) {
    throw new BpfError(`cannot pin map at ${path}: ${dir} is not on a BPF filesystem`, {
      cmd: 'BPF_OBJ_PIN', errno: 22, advice: 'mount bpffs first: mount -t bpf bpf /sys/fs/bpf (or set pinRootPath to a bpffs directory)',
    });
  }
  try {
    objPin(map.fd, path);
    map.setPinnedAt(path, true);
    return;
  } catch (e) {
    // Another process pinned it between our check and our pin: use theirs, as libbpf does.
    if (e instanceof BpfError && e.errno === 17) {
      map.fdOwner?.close();
      map.fdOwner = undefined;
      if (reusePinned(map, path)) return;
    }
    throw e;
  }
}

export function fillSlots(map: BpfMap, fdOf: (name: string) => number | undefined, what: string): void {
  const key = new Uint8Array(4);
  const value = new Uint8Array(4);
  const kv = new DataView(key.buffer);
  const vv = new DataView(value.buffer);
  map.spec.initSlots.forEach((name, i) => {
    if (!name) return;
    const fd = fdOf(name);
    if (fd === undefined) {
      if (what === 'program') return; // not autoloaded: libbpf leaves the slot empty
      throw new BpfError(`map '${map.name}': slot ${i} refers to ${what} '${name}', which does not exist`, { map: map.name, errno: 3 });
    }
    kv.setUint32(0, i, true);
    vv.setUint32(0, fd, true);
    try {
      mapUpdateElem(map.fd, key, value, 0);
    } catch (e) {
      throw withContext(e, { map: map.name, cmd: `initialize slot [${i}] to ${what} '${name}'` });
    }
  });
}
