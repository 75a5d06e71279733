// The tsbpf side of the differential tests: runs a Scenario through tsbpf's public API and returns
// an Outcome in the same shape as the libbpf side (diff.ts runLibbpf), with the kernel's view of
// each map and program taken from /proc/self/fdinfo.

import { readFileSync } from 'node:fs';
import { BpfError, BpfObject } from '../../src/index.js';
import {
  fdinfo, hex, ITERABLE_TYPES, MAP_TYPE, PERCPU_TYPES, POP_TYPES, possibleCpus,
  type DumpEntry, type MapDump, type Outcome, type Scenario, type StepResult,
} from './diff.js';

type Obj = ReturnType<typeof BpfObject.open>;
type AnyMap = Obj['maps'] extends ReadonlyMap<string, infer M> ? M : never;
type AnyProg = Obj['programs'] extends ReadonlyMap<string, infer P> ? P : never;

/** -errno for a BpfError, rethrowing anything else (a TypeError in the loader is a bug, not a result). */
export function errOf(e: unknown): number {
  if (e instanceof BpfError) return e.errno ? -e.errno : -1;
  throw e;
}

function bytesOf(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  throw new Error(`expected a Uint8Array, got ${Object.prototype.toString.call(v)}`);
}

/** An fd, or -1 where the API throws (a program with autoload off, a closed object). */
export function fdOf(x: { readonly fd: number }): number {
  try {
    return x.fd;
  } catch {
    return -1;
  }
}

/**
 * A lookup result as hex: one value, or for per-CPU maps one value per CPU. The contract says
 * per-CPU lookups return an array; a flat libbpf-style buffer (roundup(value_size, 8) per CPU) is
 * split here too, so that the differential comparison doesn't depend on that choice (the API test
 * in loader-maps.test.ts checks the contract itself).
 */
function valueHex(v: unknown, type: number, valueSize: number): string | string[] {
  if (Array.isArray(v)) return v.map((x) => hex(bytesOf(x)));
  const b = bytesOf(v);
  if (PERCPU_TYPES.has(type)) {
    const stride = Math.ceil(valueSize / 8) * 8;
    const out: string[] = [];
    for (let off = 0; off + valueSize <= b.length; off += stride) out.push(hex(b.subarray(off, off + valueSize)));
    return out;
  }
  return hex(b);
}

/** Writes bytes into a global data map's initial image (before load). */
export function patchInitialValue(map: AnyMap, offset: number, bytes: Uint8Array): void {
  const img = map.initialValue;
  if (offset + bytes.length > img.length) {
    throw new Error(`patch at ${offset}+${bytes.length} is outside the ${img.length}-byte image`);
  }
  img.set(bytes, offset);
  // If initialValue hands out a copy, store it back; a getter-only property just ignores this.
  Reflect.set(map as object, 'initialValue', img);
}

function kernelIds(obj: Obj): { maps: Map<number, string>; progs: Map<number, string> } {
  const maps = new Map<number, string>();
  const progs = new Map<number, string>();
  for (const [name, m] of obj.maps) {
    const fd = fdOf(m);
    if (fd >= 0) maps.set(Number(fdinfo(fd).map_id), name);
  }
  for (const [name, p] of obj.programs) {
    const fd = fdOf(p);
    if (fd >= 0) progs.set(Number(fdinfo(fd).prog_id), name);
  }
  return { maps, progs };
}

function dumpMap(name: string, m: AnyMap, ids: ReturnType<typeof kernelIds>): MapDump | undefined {
  const fd = fdOf(m);
  if (fd < 0) return undefined;
  const info = fdinfo(fd);
  const type = Number(info.map_type);
  const d: MapDump = {
    name,
    type,
    keySize: Number(info.key_size),
    valueSize: Number(info.value_size),
    maxEntries: Number(info.max_entries),
    flags: Number.parseInt(info.map_flags ?? '0', 16),
    mapExtra: Number.parseInt(info.map_extra ?? '0', 16),
    frozen: info.frozen === '1',
    entries: null,
  };
  if (POP_TYPES.has(type)) {
    d.entries = [];
    for (let n = 0; n < 100000; n++) {
      const v = m.lookupAndDelete(undefined);
      if (v === undefined) break;
      d.entries.push({ value: hex(bytesOf(v)) });
    }
  } else if (ITERABLE_TYPES.has(type)) {
    d.entries = [];
    const keys = [...m.keys()].map((k) => new Uint8Array(k));
    for (const key of keys) {
      const e: DumpEntry = { key: hex(key) };
      let v: unknown;
      try {
        v = m.lookup(key);
      } catch (err) {
        e.err = errOf(err);
        d.entries.push(e);
        continue;
      }
      if (v === undefined) continue;
      if (type === MAP_TYPE.ARRAY_OF_MAPS || type === MAP_TYPE.HASH_OF_MAPS || type === MAP_TYPE.PROG_ARRAY) {
        const id = new DataView(bytesOf(v).buffer, bytesOf(v).byteOffset).getUint32(0, true);
        const known = type === MAP_TYPE.PROG_ARRAY ? ids.progs.get(id) : ids.maps.get(id);
        const kind = type === MAP_TYPE.PROG_ARRAY ? 'prog' : 'map';
        e.value = known !== undefined ? `${kind}:${known}` : `${kind}-id:${id}`;
      } else {
        const h = valueHex(v, type, d.valueSize);
        if (Array.isArray(h)) e.values = h;
        else e.value = h;
      }
      d.entries.push(e);
    }
  }
  return d;
}

export interface TsbpfRun {
  outcome: Outcome;
  /** The thrown load error, if any (a VerifierError for rejected programs). */
  loadError?: unknown;
}

/** Runs a scenario through tsbpf: open, setup, load, steps, dump; always closes the object. */
export async function runTsbpf(s: Scenario, objPath: string, openFrom: 'path' | 'bytes' = 'path'): Promise<TsbpfRun> {
  const o: Outcome = { side: 'tsbpf', loadErr: 0, progs: new Map(), steps: [], maps: new Map(), ncpus: possibleCpus() };
  const obj = BpfObject.open(openFrom === 'path' ? objPath : new Uint8Array(readFileSync(objPath)));
  let loadError: unknown;
  try {
    for (const i of s.setup?.init ?? []) {
      const m = obj.maps.get(i.section);
      if (!m) throw new Error(`tsbpf: no map ${i.section} to patch`);
      patchInitialValue(m, i.offset, i.bytes);
    }
    for (const [p, on] of Object.entries(s.setup?.autoload ?? {})) {
      const prog = obj.programs.get(p);
      if (!prog) throw new Error(`tsbpf: no program ${p}`);
      prog.autoload = on;
    }
    try {
      await obj.load();
    } catch (e) {
      o.loadErr = errOf(e);
      o.loadLog = e instanceof BpfError ? (e.log ?? e.message) : String(e);
      loadError = e;
    }
    for (const [name, p] of obj.programs) {
      const info: { name: string; type: number; autoload: boolean; tag?: string } = {
        name,
        type: p.type,
        autoload: p.autoload,
      };
      const fd = o.loadErr ? -1 : fdOf(p);
      if (fd >= 0) info.tag = fdinfo(fd).prog_tag;
      o.progs.set(name, info);
    }
    for (const st of s.steps) o.steps.push(await runStep(obj, st, o.loadErr !== 0));
    if (!o.loadErr) {
      const ids = kernelIds(obj);
      for (const [name, m] of obj.maps) {
        const d = dumpMap(name, m, ids);
        if (d) o.maps.set(name, d);
      }
    }
  } finally {
    obj.close();
  }
  return loadError === undefined ? { outcome: o } : { outcome: o, loadError };
}

async function runStep(obj: Obj, st: Scenario['steps'][number], notLoaded: boolean): Promise<StepResult> {
  const res: StepResult = { op: st.op, err: 0 };
  if (st.label !== undefined) res.label = st.label;
  if (notLoaded) {
    res.err = -22; // ref-run: "object not loaded"
    return res;
  }
  if (st.op === 'run') {
    const p: AnyProg | undefined = obj.programs.get(st.prog);
    if (!p) throw new Error(`tsbpf: no program ${st.prog}`);
    try {
      const opts: { data?: Uint8Array; ctx?: Uint8Array; repeat?: number } = {};
      if (st.data) opts.data = st.data;
      if (st.ctx) opts.ctx = st.ctx;
      if (st.repeat) opts.repeat = st.repeat;
      const r = await p.testRun(opts);
      res.retval = r.retval | 0;
      if (st.data) res.data = r.data ? hex(r.data) : '<none>';
      if (st.ctx && r.ctx) res.ctx = hex(r.ctx);
    } catch (e) {
      res.err = errOf(e);
    }
    return res;
  }
  const m = obj.maps.get(st.map);
  if (!m) throw new Error(`tsbpf: no map ${st.map}`);
  const vhex = (v: unknown): string | string[] => valueHex(v, m.type, m.valueSize);
  try {
    switch (st.op) {
      case 'update':
        m.update(st.key, st.value, st.flags);
        break;
      case 'delete': {
        // delete() may return false or throw KeyNotFoundError for a missing key
        const r: unknown = m.delete(st.key);
        if (r === false) res.err = -2;
        break;
      }
      case 'lookup': {
        const v = m.lookup(st.key);
        if (v === undefined) res.err = -2;
        else res.value = vhex(v);
        break;
      }
      case 'pop': {
        const v = m.lookupAndDelete(undefined);
        if (v === undefined) res.err = -2;
        else res.value = vhex(v);
        break;
      }
    }
  } catch (e) {
    res.err = errOf(e);
  }
  return res;
}
