// Differential-test plumbing shared by the libbpf side (ref-run) and the tsbpf side: the scenario
// format, the normalised outcome of running a scenario, and the comparison of two outcomes.
// This module does not import tsbpf (see tsbpf-side.ts), so the libbpf side works without it.

import { readFileSync } from 'node:fs';
import { refRun, tail } from './ref.js';

// ---- bytes ---------------------------------------------------------------------------------

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function fromHex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

export function u64(v: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads a little-endian unsigned integer of `size` bytes at `off` of a hex string, as a bigint. */
export function readLE(hexStr: string, off: number, size: number): bigint {
  const b = Buffer.from(hexStr, 'hex');
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[off + i] ?? 0);
  return v;
}

/** The 64-byte test packet: struct test_input {u32 key; u32 aux; u64 val} then zeroes. */
export function packet(key: number, aux = 0, val: number | bigint = 0): Uint8Array {
  const p = new Uint8Array(64);
  p.set(concat(u32(key), u32(aux), u64(val)), 0);
  return p;
}

/** Number of possible CPUs (the per-CPU value count). */
export function possibleCpus(): number {
  const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  let n = 0;
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a! + 1;
  }
  return n;
}

/** /proc/self/fdinfo/FD as key → value strings (prog_type, prog_tag, map_type, frozen, …). */
export function fdinfo(fd: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

// ---- scenarios -----------------------------------------------------------------------------

export type Step =
  | { op: 'run'; label?: string; prog: string; data?: Uint8Array; ctx?: Uint8Array; repeat?: number }
  | { op: 'update'; label?: string; map: string; key: Uint8Array; value: Uint8Array; flags?: number }
  | { op: 'lookup'; label?: string; map: string; key: Uint8Array }
  | { op: 'delete'; label?: string; map: string; key: Uint8Array }
  /** Pop from a queue/stack (lookup-and-delete without a key). */
  | { op: 'pop'; label?: string; map: string };

export interface Setup {
  /** Bytes to write into global data images before load ('.rodata', '.data', '.bss', …). */
  init?: { section: string; offset: number; bytes: Uint8Array }[];
  autoload?: Record<string, boolean>;
}

export interface Scenario {
  name: string;
  /** test/bpf/<object>.bpf.c */
  object: string;
  setup?: Setup;
  steps: Step[];
  /** Absolute expectations, checked against both libbpf's and tsbpf's outcome. */
  expect?: (o: Outcome) => void;
}

export interface StepResult {
  op: Step['op'];
  label?: string;
  /** 0, or -errno */
  err: number;
  retval?: number;
  data?: string;
  ctx?: string;
  /** lookup/pop: hex value; per-CPU lookups: one hex value per CPU. */
  value?: string | string[];
}

export interface DumpEntry {
  key?: string;
  value?: string;
  values?: string[];
  err?: number;
}

export interface MapDump {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  mapExtra: number;
  frozen: boolean;
  /** null for maps whose contents can't be listed from user space (ringbuf, storage, …). */
  entries: DumpEntry[] | null;
}

export interface ProgInfo {
  name: string;
  type: number;
  autoload: boolean;
  /** Kernel prog tag (hash of the instructions with map references blanked), when loaded. */
  tag?: string;
}

export interface Outcome {
  side: 'libbpf' | 'tsbpf';
  /** 0, or -errno of the failed load. */
  loadErr: number;
  /** Verifier log / libbpf messages when the load failed. */
  loadLog?: string;
  progs: Map<string, ProgInfo>;
  steps: StepResult[];
  maps: Map<string, MapDump>;
  ncpus: number;
}

/** The result of the step with this label (throws if there is none). */
export function step(o: Outcome, label: string): StepResult {
  const r = o.steps.find((s) => s.label === label);
  if (!r) throw new Error(`${o.side}: no step labelled ${label}`);
  return r;
}

export function mapDump(o: Outcome, name: string): MapDump {
  const m = o.maps.get(name);
  if (!m) throw new Error(`${o.side}: no map ${name} (have ${[...o.maps.keys()].join(', ')})`);
  return m;
}

/** The value of key `keyHex` in a dumped map, or undefined. */
export function entry(o: Outcome, map: string, keyHex: string): DumpEntry | undefined {
  return mapDump(o, map).entries?.find((e) => e.key === keyHex);
}

/** The single value of a global data map (key 0). */
export function globalData(o: Outcome, section: string): string {
  const e = entry(o, section, '00000000');
  if (!e?.value) throw new Error(`${o.side}: global data map ${section} has no value`);
  return e.value;
}

/** Map types whose contents ref-run lists by key, with the same rules on the tsbpf side. */
export const MAP_TYPE = {
  HASH: 1, ARRAY: 2, PROG_ARRAY: 3, PERF_EVENT_ARRAY: 4, PERCPU_HASH: 5, PERCPU_ARRAY: 6,
  STACK_TRACE: 7, CGROUP_ARRAY: 8, LRU_HASH: 9, LRU_PERCPU_HASH: 10, LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12, HASH_OF_MAPS: 13, DEVMAP: 14, SOCKMAP: 15, CPUMAP: 16, XSKMAP: 17,
  SOCKHASH: 18, CGROUP_STORAGE: 19, REUSEPORT_SOCKARRAY: 20, PERCPU_CGROUP_STORAGE: 21,
  QUEUE: 22, STACK: 23, SK_STORAGE: 24, DEVMAP_HASH: 25, STRUCT_OPS: 26, RINGBUF: 27,
  INODE_STORAGE: 28, TASK_STORAGE: 29, BLOOM_FILTER: 30, USER_RINGBUF: 31, CGRP_STORAGE: 32,
  ARENA: 33,
} as const;

export const ITERABLE_TYPES: ReadonlySet<number> = new Set([
  MAP_TYPE.HASH, MAP_TYPE.ARRAY, MAP_TYPE.PERCPU_HASH, MAP_TYPE.PERCPU_ARRAY, MAP_TYPE.LRU_HASH,
  MAP_TYPE.LRU_PERCPU_HASH, MAP_TYPE.LPM_TRIE, MAP_TYPE.ARRAY_OF_MAPS, MAP_TYPE.HASH_OF_MAPS,
  MAP_TYPE.PROG_ARRAY, MAP_TYPE.DEVMAP, MAP_TYPE.DEVMAP_HASH,
]);
export const POP_TYPES: ReadonlySet<number> = new Set([MAP_TYPE.QUEUE, MAP_TYPE.STACK]);
export const PERCPU_TYPES: ReadonlySet<number> = new Set([
  MAP_TYPE.PERCPU_HASH, MAP_TYPE.PERCPU_ARRAY, MAP_TYPE.LRU_PERCPU_HASH, MAP_TYPE.PERCPU_CGROUP_STORAGE,
]);

// ---- the libbpf side -----------------------------------------------------------------------

/** ref-run arguments for a scenario: setup, `progs` (loads), the steps, `progs` again, `dump`. */
export function refArgs(s: Scenario): string[] {
  const args: string[] = [];
  for (const i of s.setup?.init ?? []) args.push('set-init', i.section, String(i.offset), hex(i.bytes));
  for (const [p, on] of Object.entries(s.setup?.autoload ?? {})) args.push('autoload', p, on ? '1' : '0');
  args.push('progs');
  for (const st of s.steps) {
    switch (st.op) {
      case 'run':
        args.push('run', st.prog);
        if (st.data) args.push(`data=${hex(st.data)}`);
        if (st.ctx) args.push(`ctx=${hex(st.ctx)}`);
        if (st.repeat) args.push(`repeat=${st.repeat}`);
        break;
      case 'update':
        args.push('update', st.map, hex(st.key), hex(st.value));
        if (st.flags) args.push(`flags=${st.flags}`);
        break;
      case 'lookup':
      case 'delete':
        args.push(st.op, st.map, hex(st.key));
        break;
      case 'pop':
        args.push('pop', st.map);
        break;
    }
  }
  args.push('dump');
  return args;
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}

/** Runs a scenario through libbpf (ref-run) and returns its outcome. */
export function runLibbpf(s: Scenario, objPath: string): Outcome {
  const r = refRun(objPath, refArgs(s));
  const o: Outcome = { side: 'libbpf', loadErr: 0, progs: new Map(), steps: [], maps: new Map(), ncpus: 0 };
  const stepLines: Record<string, unknown>[] = [];
  for (const l of r.lines) {
    switch (l.cmd) {
      case 'open':
        o.ncpus = num(l.ncpus);
        break;
      case 'load':
        o.loadErr = num(l.err);
        if (o.loadErr) o.loadLog = r.stderr;
        break;
      case 'prog':
        o.progs.set(String(l.name), {
          name: String(l.name),
          type: num(l.type),
          autoload: l.autoload === true,
          ...(typeof l.tag === 'string' ? { tag: l.tag } : {}),
        });
        break;
      case 'map':
        o.maps.set(String(l.name), {
          name: String(l.name),
          type: num(l.type),
          keySize: num(l.key_size),
          valueSize: num(l.value_size),
          maxEntries: num(l.max_entries),
          flags: num(l.map_flags),
          mapExtra: num(l.map_extra),
          frozen: l.frozen === true,
          entries: (l.entries as DumpEntry[] | null) ?? null,
        });
        break;
      case 'dump':
        break; // "object not loaded"
      default:
        stepLines.push(l);
    }
  }
  if (stepLines.length !== s.steps.length) {
    throw new Error(
      `ref-run printed ${stepLines.length} step results for ${s.steps.length} steps\n${r.lines
        .map((l) => JSON.stringify(l))
        .join('\n')}\n${tail(r.stderr)}`,
    );
  }
  s.steps.forEach((st, i) => {
    const l = stepLines[i]!;
    const res: StepResult = { op: st.op, err: num(l.err) };
    if (st.label !== undefined) res.label = st.label;
    if (typeof l.retval === 'number') res.retval = l.retval;
    if (typeof l.data === 'string') res.data = l.data;
    if (typeof l.ctx === 'string') res.ctx = l.ctx;
    if (typeof l.value === 'string') res.value = l.value;
    if (Array.isArray(l.values)) res.value = l.values as string[];
    o.steps.push(res);
  });
  return o;
}

// ---- comparison ----------------------------------------------------------------------------

/** Sum of per-CPU values, 8-byte word by word (4-byte if the size isn't a multiple of 8): the
 * CPU a test_run lands on is not under the test's control, so only totals are comparable. */
export function sumPerCpu(values: string[], valueSize: number): string {
  const w = valueSize % 8 === 0 ? 8 : valueSize % 4 === 0 ? 4 : 0;
  if (w === 0) return [...values].sort().join('|');
  const out = Buffer.alloc(valueSize);
  for (let off = 0; off < valueSize; off += w) {
    let total = 0n;
    for (const v of values) total += readLE(v, off, w);
    total = BigInt.asUintN(w * 8, total);
    for (let i = 0; i < w; i++) out[off + i] = Number((total >> BigInt(8 * i)) & 0xffn);
  }
  return out.toString('hex');
}

/** A map dump in a form that two loaders must agree on exactly. */
export function normalizeMap(m: MapDump, ncpus: number): unknown {
  let entries: unknown = null;
  if (m.entries) {
    const keyed = m.entries.map((e) => ({
      key: e.key,
      err: e.err,
      value: e.values ? `sum:${sumPerCpu(e.values, m.valueSize)}/${e.values.length === ncpus ? 'ncpus' : e.values.length}` : e.value,
    }));
    // queues and stacks keep their pop order; keyed maps are sorted (hash order is per map)
    entries = POP_TYPES.has(m.type) ? keyed : keyed.sort((a, b) => String(a.key).localeCompare(String(b.key)));
  }
  return {
    type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries,
    flags: m.flags, mapExtra: m.mapExtra, frozen: m.frozen, entries,
  };
}

function normalizeStep(s: StepResult, ncpus: number, valueSize: number | undefined): unknown {
  let value: unknown = s.value;
  if (Array.isArray(s.value)) value = `sum:${sumPerCpu(s.value, valueSize ?? 8)}/${s.value.length === ncpus ? 'ncpus' : s.value.length}`;
  return { op: s.op, err: s.err, retval: s.retval, data: s.data, ctx: s.ctx, value };
}

/** Every difference between two outcomes, as readable lines (empty when they agree). */
export function differences(
  s: Scenario,
  a: Outcome,
  b: Outcome,
  opts: {
    /** Also compare program tags (identical instructions after relocation). */
    tags?: boolean;
    /** Maps whose layout is the loader's choice (.kconfig): compare type, key size, flags only. */
    layoutFree?: string[];
  } = {},
): string[] {
  const out: string[] = [];
  const j = (v: unknown): string => JSON.stringify(v);
  if (a.ncpus !== b.ncpus) out.push(`ncpus: ${a.side} ${a.ncpus}, ${b.side} ${b.ncpus}`);
  if (a.loadErr !== b.loadErr) out.push(`load: ${a.side} ${a.loadErr}, ${b.side} ${b.loadErr}`);
  const progNames = new Set([...a.progs.keys(), ...b.progs.keys()]);
  for (const n of [...progNames].sort()) {
    const pa = a.progs.get(n);
    const pb = b.progs.get(n);
    if (!pa || !pb) {
      out.push(`program ${n}: only in ${pa ? a.side : b.side}`);
      continue;
    }
    if (pa.type !== pb.type) out.push(`program ${n} type: ${a.side} ${pa.type}, ${b.side} ${pb.type}`);
    if (pa.autoload !== pb.autoload) out.push(`program ${n} autoload: ${a.side} ${pa.autoload}, ${b.side} ${pb.autoload}`);
    if (opts.tags && pa.tag !== pb.tag) out.push(`program ${n} tag: ${a.side} ${pa.tag}, ${b.side} ${pb.tag}`);
  }
  s.steps.forEach((st, i) => {
    const what = `step ${i} (${st.op} ${'prog' in st ? st.prog : st.map}${st.label ? ` "${st.label}"` : ''})`;
    const ra = a.steps[i];
    const rb = b.steps[i];
    if (!ra || !rb) {
      out.push(`${what}: missing on ${ra ? b.side : a.side}`);
      return;
    }
    const vs = 'map' in st ? a.maps.get(st.map)?.valueSize : undefined;
    const na = j(normalizeStep(ra, a.ncpus, vs));
    const nb = j(normalizeStep(rb, b.ncpus, vs));
    if (na !== nb) out.push(`${what}:\n    ${a.side} ${na}\n    ${b.side} ${nb}`);
  });
  const mapNames = new Set([...a.maps.keys(), ...b.maps.keys()]);
  for (const n of [...mapNames].sort()) {
    const ma = a.maps.get(n);
    const mb = b.maps.get(n);
    if (!ma || !mb) {
      out.push(`map ${n}: only in ${ma ? a.side : b.side}`);
      continue;
    }
    const free = opts.layoutFree?.includes(n);
    const pick = (m: MapDump): unknown => ({ type: m.type, keySize: m.keySize, flags: m.flags, frozen: m.frozen });
    const na = j(free ? pick(ma) : normalizeMap(ma, a.ncpus));
    const nb = j(free ? pick(mb) : normalizeMap(mb, b.ncpus));
    if (na !== nb) out.push(`map ${n}:\n    ${a.side} ${na}\n    ${b.side} ${nb}`);
  }
  return out;
}
