// BTF-defined maps (SEC(".maps")): each map is a VAR in the .maps DATASEC whose struct type encodes the
// attributes. `__uint(name, N)` is `int (*name)[N]` (the value is the array length) and `__type(name, T)`
// is `T *name`. Follows libbpf's parse_btf_map_def.

import { BTF_KIND, type Btf, type BtfType } from '../../btf/index.js';
import { BpfError } from '../errors.js';
import { MAP_TYPE } from './map-types.js';

export interface BtfMapDef {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  numaNode: number;
  mapExtra: bigint;
  keyTypeId: number;
  valueTypeId: number;
  pinning: number;
  /** Whether a `values` member is present. */
  hasValues: boolean;
  inner: BtfMapDef | undefined;
}

const emptyDef = (): BtfMapDef => ({
  mapType: 0, keySize: 0, valueSize: 0, maxEntries: 0, mapFlags: 0, numaNode: 0, mapExtra: 0n,
  keyTypeId: 0, valueTypeId: 0, pinning: 0, hasValues: false, inner: undefined,
});

function fail(mapName: string, message: string): never {
  throw new BpfError(`map '${mapName}': ${message}`, { cmd: 'open', map: mapName, errno: 22 });
}

/** `int (*name)[N]` → N */
function fieldInt(btf: Btf, mapName: string, memberName: string, typeId: number): number {
  const ptr = btf.type(btf.skipModsAndTypedefs(typeId));
  if (ptr.kind !== BTF_KIND.PTR) fail(mapName, `attr '${memberName}': expected PTR, got kind ${ptr.kind}`);
  const arr = btf.type(btf.skipModsAndTypedefs(ptr.type));
  if (arr.kind !== BTF_KIND.ARRAY) fail(mapName, `attr '${memberName}': expected ARRAY, got kind ${arr.kind}`);
  return arr.nelems;
}

/** map_extra accepts the `int (*)[N]` form or an enum with exactly one value (`__ulong`). */
function fieldLong(btf: Btf, mapName: string, memberName: string, typeId: number): bigint {
  const t = btf.type(btf.skipModsAndTypedefs(typeId));
  if (t.kind === BTF_KIND.PTR) return BigInt(fieldInt(btf, mapName, memberName, typeId));
  if (t.kind === BTF_KIND.ENUM || t.kind === BTF_KIND.ENUM64) {
    if (t.values.length !== 1) fail(mapName, `attr '${memberName}': enum must have exactly one value`);
    const v = t.values[0]!.value;
    return BigInt.asUintN(64, BigInt(v));
  }
  fail(mapName, `attr '${memberName}': expected PTR or ENUM, got kind ${t.kind}`);
}

function pointee(btf: Btf, mapName: string, what: string, typeId: number): number {
  const t = btf.type(typeId);
  if (t.kind !== BTF_KIND.PTR) fail(mapName, `${what} spec is not PTR (kind ${t.kind})`);
  return t.type;
}

function resolveSize(btf: Btf, mapName: string, what: string, typeId: number): number {
  try {
    return btf.resolveSize(typeId);
  } catch (e) {
    fail(mapName, `can't determine ${what} size for type [${typeId}]: ${(e as Error).message}`);
  }
}

export function isMapInMap(mapType: number): boolean {
  return mapType === MAP_TYPE.ARRAY_OF_MAPS || mapType === MAP_TYPE.HASH_OF_MAPS;
}

/** Parse the struct `def` of the map named mapName. `isInner` parses the inner map of a map-in-map. */
export function parseBtfMapDef(btf: Btf, mapName: string, def: BtfType, strict: boolean, isInner = false): BtfMapDef {
  if (def.kind !== BTF_KIND.STRUCT) fail(mapName, `unexpected def kind ${def.kind}`);
  const out = emptyDef();
  def.members.forEach((m, i) => {
    switch (m.name) {
      case 'type':
        out.mapType = fieldInt(btf, mapName, m.name, m.type);
        break;
      case 'max_entries':
        out.maxEntries = fieldInt(btf, mapName, m.name, m.type);
        break;
      case 'map_flags':
        out.mapFlags = fieldInt(btf, mapName, m.name, m.type);
        break;
      case 'numa_node':
        out.numaNode = fieldInt(btf, mapName, m.name, m.type);
        break;
      case 'key_size':
      case 'value_size': {
        const sz = fieldInt(btf, mapName, m.name, m.type);
        setSize(out, mapName, m.name === 'key_size' ? 'key' : 'value', sz);
        break;
      }
      case 'key':
      case 'value': {
        const target = pointee(btf, mapName, m.name, m.type);
        setSize(out, mapName, m.name, resolveSize(btf, mapName, m.name, target));
        if (m.name === 'key') out.keyTypeId = target;
        else out.valueTypeId = target;
        break;
      }
      case 'values': {
        const mim = isMapInMap(out.mapType);
        const progArray = out.mapType === MAP_TYPE.PROG_ARRAY;
        if (isInner) throw new BpfError(`map '${mapName}': multi-level inner maps not supported`, { cmd: 'open', map: mapName, errno: 95 });
        if (i !== def.members.length - 1) fail(mapName, `'values' member should be last`);
        if (!mim && !progArray) throw new BpfError(`map '${mapName}': 'values' is only allowed for map-in-map or prog-array maps`, { cmd: 'open', map: mapName, errno: 95 });
        setSize(out, mapName, 'value', 4);
        const arr = btf.type(m.type);
        if (arr.kind !== BTF_KIND.ARRAY || arr.nelems !== 0) fail(mapName, `'values' spec is not a zero-sized array`);
        const ptr = btf.type(btf.skipModsAndTypedefs(arr.type));
        if (ptr.kind !== BTF_KIND.PTR) fail(mapName, `'values' element is of unexpected kind ${ptr.kind}`);
        const target = btf.type(btf.skipModsAndTypedefs(ptr.type));
        out.hasValues = true;
        if (progArray) {
          if (target.kind !== BTF_KIND.FUNC_PROTO) fail(mapName, `prog-array value def is of unexpected kind ${target.kind}`);
          break;
        }
        if (target.kind !== BTF_KIND.STRUCT) fail(mapName, `map-in-map inner def is of unexpected kind ${target.kind}`);
        out.inner = parseBtfMapDef(btf, `${mapName}.inner`, target, strict, true);
        break;
      }
      case 'pinning': {
        if (isInner) fail(mapName, `inner def can't be pinned`);
        const v = fieldInt(btf, mapName, m.name, m.type);
        if (v !== 0 && v !== 1) fail(mapName, `invalid pinning value ${v}`);
        out.pinning = v;
        break;
      }
      case 'map_extra':
        out.mapExtra = fieldLong(btf, mapName, m.name, m.type);
        break;
      default:
        if (strict) {
          throw new BpfError(`map '${mapName}': unknown field '${m.name}'`, {
            cmd: 'open', map: mapName, errno: 95,
            advice: 'this object was built for a newer loader; open it with relaxedMaps: true to ignore unknown map attributes',
          });
        }
    }
  });
  if (out.mapType === 0) fail(mapName, `map type isn't specified`);
  return out;
}

function setSize(def: BtfMapDef, mapName: string, which: 'key' | 'value', size: number): void {
  const cur = which === 'key' ? def.keySize : def.valueSize;
  if (cur && cur !== size) fail(mapName, `conflicting ${which} size ${cur} != ${size}`);
  if (which === 'key') def.keySize = size;
  else def.valueSize = size;
}
