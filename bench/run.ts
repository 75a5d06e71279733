// `npm run bench`: tsbpf against libbpf (C) on the same objects, in one run, side by side.
//
//   npm run bench                         # everything, default sizes (about a minute)
//   npm run bench -- --quick              # fewer iterations (a smoke test, about 15 s)
//   npm run bench -- --only load,btf      # a subset: load, btf, floor, maps
//   npm run bench -- --load-iters 50 --ops 200000 --batch 1000 --reps 9 --batch-reps 21
//
// The libbpf side is bench/c/bench-libbpf.c, built with gcc -O2 into bench/.build/ and driven as a child
// process over stdin/stdout; the tsbpf side runs in this process. The two sides alternate in rounds
// (which one goes first alternates too) so that slow phases of a noisy machine hit both. See
// bench/README.md for what each row measures and how to read the ratios. Both measuring threads (this
// process's main thread and the child) are pinned to one CPU (--cpu N, default the last; --cpu none to
// leave them free) and, as root, reniced to -10 (--nice 0 to keep the default priority).

import { readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, release, setPriority } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { buildAll, BUILD_DIR, type Built } from './lib/build.js';
import { LibbpfChild } from './lib/libbpf-child.js';
import { summarize, type Summary } from './lib/stats.js';
import {
  btfSamples, loadSamples, nullSyscallSamples, TsMapBench, type BtfModule, type MapOp, type RawMapOp, type SyscallsModule, type TsbpfApi,
} from './lib/tsbpf-side.js';

// ---- options -------------------------------------------------------------------------------------

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'load-iters': { type: 'string' },
    'btf-iters': { type: 'string' },
    ops: { type: 'string' },
    batch: { type: 'string' },
    reps: { type: 'string' },
    'batch-reps': { type: 'string' },
    json: { type: 'string' },
    cpu: { type: 'string' },
    nice: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (argv.help) {
  const src = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
  console.log(src.slice(0, src.findIndex((l) => !l.startsWith('//'))).join('\n'));
  process.exit(0);
}

function intOpt(v: string | undefined, def: number, quickDef: number): number {
  if (v === undefined) return argv.quick ? quickDef : def;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`expected a positive integer, got '${v}'`);
  return n;
}

const opts = {
  loadIters: intOpt(argv['load-iters'], 30, 10),
  btfIters: intOpt(argv['btf-iters'], 15, 6),
  ops: intOpt(argv.ops, 100_000, 20_000),
  batch: intOpt(argv.batch, 1000, 1000),
  reps: intOpt(argv.reps, 7, 3),
  batchReps: intOpt(argv['batch-reps'], 15, 6),
};
const pinCpu = argv.cpu === 'none' ? undefined : argv.cpu === undefined ? cpus().length - 1 : Number(argv.cpu);
if (pinCpu !== undefined && (!Number.isInteger(pinCpu) || pinCpu < 0)) throw new Error(`--cpu: expected a CPU number or 'none', got '${argv.cpu}'`);
const niceLevel = argv.nice === undefined ? (process.getuid?.() === 0 ? -10 : 0) : Number(argv.nice);
if (!Number.isInteger(niceLevel)) throw new Error(`--nice: expected an integer, got '${argv.nice}'`);
const only = new Set((argv.only ?? 'load,btf,floor,maps').split(',').map((s) => s.trim()).filter(Boolean));
for (const o of only) if (!['load', 'btf', 'floor', 'maps'].includes(o)) throw new Error(`--only: unknown benchmark '${o}' (load, btf, floor, maps)`);

// ---- helpers -------------------------------------------------------------------------------------

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Kind = 'time' | 'rate';
interface Row {
  group: string;
  name: string;
  kind: Kind;
  /** For rates: operations per sample. */
  opsPerSample?: number;
  /** Minimum acceptable ratio (tsbpf relative to libbpf, >1 is better), or undefined for info rows. */
  target?: number;
  targetText?: string;
  libbpf?: Summary;
  tsbpf?: Summary;
  libbpfError?: string;
  tsbpfError?: string;
  note?: string;
}
const rows: Row[] = [];

function errText(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!.slice(0, 300);
}

/** Nanosecond samples → per-sample rates (operations per second). */
function rates(ns: readonly number[], ops: number): number[] {
  return ns.map((t) => (ops * 1e9) / t);
}

function log(msg: string): void {
  process.stderr.write(`${msg}\n`);
}

/**
 * Runs `rounds` rounds of (libbpf, tsbpf), alternating which goes first, and collects their samples.
 * A side that fails stops being run; its error is kept.
 */
async function alternate(
  rounds: number,
  c: (round: number) => Promise<number[]>,
  ts: (round: number) => Promise<number[]> | number[],
): Promise<{ c: number[]; ts: number[]; cErr?: string; tsErr?: string }> {
  const out: { c: number[]; ts: number[]; cErr?: string; tsErr?: string } = { c: [], ts: [] };
  for (let r = 0; r < rounds; r++) {
    const runC = async () => {
      if (out.cErr !== undefined) return;
      try {
        out.c.push(...(await c(r)));
      } catch (e) {
        out.cErr = errText(e);
      }
    };
    const runTs = async () => {
      if (out.tsErr !== undefined) return;
      gc();
      try {
        out.ts.push(...(await ts(r)));
      } catch (e) {
        out.tsErr = errText(e);
      }
    };
    if (r % 2 === 0) {
      await runC();
      await runTs();
    } else {
      await runTs();
      await runC();
    }
  }
  return out;
}

/**
 * Pins one thread (a pid is its main thread's tid) to the benchmark CPU and renices it, so that both sides
 * measure on the same CPU with the same priority. Threads it creates later inherit both.
 */
function placeThread(tid: number, who: string): string[] {
  const notes: string[] = [];
  if (pinCpu !== undefined) {
    const r = spawnSync('taskset', ['-p', '-c', String(pinCpu), String(tid)], { encoding: 'utf8' });
    if (r.status !== 0) notes.push(`could not pin ${who} to CPU ${pinCpu}: ${(r.stderr || String(r.error)).trim()}`);
  }
  if (niceLevel !== 0) {
    try {
      setPriority(tid, niceLevel);
    } catch (e) {
      notes.push(`could not renice ${who} to ${niceLevel}: ${errText(e)}`);
    }
  }
  return notes;
}

function chunks(total: number, per: number): number[] {
  const out: number[] = [];
  for (let left = total; left > 0; left -= per) out.push(Math.min(per, left));
  return out;
}

// ---- benchmarks ----------------------------------------------------------------------------------

async function benchLoad(child: LibbpfChild, api: TsbpfApi | undefined, apiErr: string | undefined, built: Built): Promise<void> {
  const obj = built.realistic;
  const main: Row = { group: 'load', name: 'open+load+close realistic.bpf.o', kind: 'time', target: 1.0, targetText: '≥1.0 (≤1.0× time)' };
  const open: Row = { group: 'load', name: '  of which open (parse only)', kind: 'time', note: 'info' };
  const cold: Row = { group: 'load', name: '  first load in the process (1 sample)', kind: 'time', note: 'info: includes feature probes / JIT warm-up' };
  rows.push(main, open, cold);
  log(`load: ${opts.loadIters} iterations per side of ${obj}`);

  // Cold: the very first load on each side (libbpf probes kernel features once per process, tsbpf too).
  const first = await alternate(
    1,
    async () => LibbpfChild.samples(await child.cmd(`load ${obj} 1`)),
    async () => {
      if (!api) throw new Error(apiErr);
      return (await loadSamples(api, obj, 1)).total;
    },
  );
  // Warm-up (discarded).
  await alternate(1, async () => LibbpfChild.samples(await child.cmd(`load ${obj} 2`)), async () => (api ? (await loadSamples(api, obj, 2)).total : []));

  const cOpen: number[] = [];
  const tsOpen: number[] = [];
  const per = chunks(opts.loadIters, 3);
  const res = await alternate(
    per.length,
    async (r) => {
      const reply = await child.cmd(`load ${obj} ${per[r]}`);
      cOpen.push(...LibbpfChild.samples(reply, 'open'));
      return LibbpfChild.samples(reply);
    },
    async (r) => {
      if (!api) throw new Error(apiErr);
      const s = await loadSamples(api, obj, per[r]!);
      tsOpen.push(...s.open);
      return s.total;
    },
  );
  fill(main, res);
  fill(open, { c: cOpen, ts: tsOpen, cErr: res.cErr, tsErr: res.tsErr });
  fill(cold, first);
}

async function benchBtf(child: LibbpfChild, btfMod: BtfModule | undefined, btfErr: string | undefined): Promise<void> {
  for (const withLookups of [false, true]) {
    const row: Row = {
      group: 'btf',
      name: withLookups ? 'vmlinux BTF parse + 5 name lookups' : 'vmlinux BTF read+parse',
      kind: 'time',
      note: 'no target',
    };
    rows.push(row);
    log(`btf: ${opts.btfIters} iterations per side${withLookups ? ' (with lookups)' : ''}`);
    let cTypes = 0;
    let tsTypes = 0;
    const per = chunks(opts.btfIters, 1);
    // One warm-up iteration per side.
    await alternate(1, async () => LibbpfChild.samples(await child.cmd(`btf 1 ${withLookups ? 1 : 0}`)), () => (btfMod ? btfSamples(btfMod, 1, withLookups).total : []));
    const res = await alternate(
      per.length,
      async (r) => {
        const reply = await child.cmd(`btf ${per[r]} ${withLookups ? 1 : 0}`);
        cTypes = Number(reply.types);
        return LibbpfChild.samples(reply);
      },
      (r) => {
        if (!btfMod) throw new Error(btfErr);
        const s = btfSamples(btfMod, per[r]!, withLookups);
        tsTypes = s.types;
        return s.total;
      },
    );
    fill(row, res);
    if (cTypes && tsTypes && cTypes !== tsTypes) row.note = `type counts differ: libbpf ${cTypes}, tsbpf ${tsTypes}`;
  }
}

/** Info rows: the cost of a syscall that does nothing, from C and from this process, for scale. */
async function benchFloor(child: LibbpfChild): Promise<void> {
  const n = opts.ops;
  let rawGetpid: (() => number) | undefined;
  let rawErr: string | undefined;
  try {
    // A koffi getpid() kept by the syscalls/ owner for their micro-benchmark (only syscalls/ imports koffi).
    const mod = (await import('../syscalls/bench-baseline.js')) as { rawGetpid?: () => number };
    rawGetpid = mod.rawGetpid;
    if (!rawGetpid) rawErr = 'syscalls/bench-baseline.ts has no rawGetpid';
  } catch (e) {
    rawErr = `syscalls/bench-baseline.ts: ${errText(e)}`;
  }
  const steps: { c: string; label: string; ts: (() => number) | undefined; tsErr?: string }[] = [
    { c: 'getpid', label: 'getpid(): C syscall() vs koffi syscall()', ts: rawGetpid, tsErr: rawErr },
    { c: 'getuid', label: 'getuid(): C syscall() vs process.getuid()', ts: () => process.getuid!() },
  ];
  log(`floor: ${n} null syscalls per sample`);
  for (const st of steps) {
    const row: Row = { group: 'floor: a syscall doing nothing', name: st.label, kind: 'rate', opsPerSample: n, note: 'info: no BPF' };
    rows.push(row);
    const fn = st.ts;
    await alternate(1, async () => LibbpfChild.samples(await child.cmd(`nullsys ${st.c} ${n} 1`)), () => (fn ? nullSyscallSamples(fn, n, 1) : []));
    const res = await alternate(
      opts.reps,
      async () => LibbpfChild.samples(await child.cmd(`nullsys ${st.c} ${n} 1`)),
      () => {
        if (!fn) throw new Error(st.tsErr ?? 'unavailable');
        return nullSyscallSamples(fn, n, 1);
      },
    );
    fill(row, res);
  }
}

async function benchMaps(child: LibbpfChild, api: TsbpfApi | undefined, apiErr: string | undefined, sys: SyscallsModule | undefined, built: Built): Promise<void> {
  const n = opts.ops;
  log(`maps: ${n} elements, batches of ${opts.batch}, ${opts.reps} reps per-element / ${opts.batchReps} reps batched`);
  let cSetupErr: string | undefined;
  let tsSetupErr: string | undefined = apiErr;
  try {
    await child.cmd(`mapsetup ${built.mapbench} ${n}`);
  } catch (e) {
    cSetupErr = errText(e);
  }
  let ts: TsMapBench | undefined;
  if (api) {
    try {
      ts = await TsMapBench.setup(api, built.mapbench, n);
    } catch (e) {
      tsSetupErr = errText(e);
    }
  }
  const B = opts.batch;
  type Step = { which: 'hash' | 'array'; op: MapOp; tsOp?: RawMapOp; label: string };
  const plan: Step[] = [
    { which: 'hash', op: 'update', label: 'hash update, per element' },
    { which: 'hash', op: 'update', tsOp: 'raw_update', label: '  same, tsbpf syscalls/ layer directly' },
    { which: 'hash', op: 'lookup', label: 'hash lookup, per element' },
    { which: 'hash', op: 'lookup', tsOp: 'raw_lookup', label: '  same, tsbpf syscalls/ layer directly' },
    { which: 'array', op: 'update', label: 'array update, per element' },
    { which: 'array', op: 'lookup', label: 'array lookup, per element' },
    { which: 'hash', op: 'update_batch', label: `hash update, batches of ${B}` },
    { which: 'hash', op: 'lookup_batch', label: `hash lookup, batches of ${B}` },
    { which: 'hash', op: 'lookup_batch', tsOp: 'raw_lookup_batch', label: '  same, syscalls/ layer, reused buffers' },
    { which: 'array', op: 'update_batch', label: `array update, batches of ${B}` },
    { which: 'array', op: 'lookup_batch', label: `array lookup, batches of ${B}` },
    { which: 'array', op: 'lookup_batch', tsOp: 'raw_lookup_batch', label: '  same, syscalls/ layer, reused buffers' },
  ];
  try {
    for (const p of plan) {
      const batched = p.op.endsWith('_batch');
      const row: Row = {
        group: batched ? 'maps, batched' : 'maps, per element',
        name: p.label,
        kind: 'rate',
        opsPerSample: n,
        ...(p.tsOp
          ? { note: 'info: below BpfMap' }
          : { target: batched ? 0.9 : 0.8, targetText: batched ? '≥0.9' : '≥0.8' }),
      };
      rows.push(row);
      const tsOp = p.tsOp ?? p.op;
      const reps = batched ? opts.batchReps : opts.reps;
      const per = chunks(reps, 1);
      const cCmd = (k: number) => `mapop ${p.which} ${p.op} ${n} ${opts.batch} ${k}`;
      // One warm-up rep per side; for updates it also fills the hash map, so measured updates overwrite.
      const warm = await alternate(
        1,
        async () => (cSetupErr ? [] : LibbpfChild.samples(await child.cmd(cCmd(1)))),
        () => (ts ? ts.run(p.which, tsOp, n, opts.batch, 1, sys).total : []),
      );
      const res = await alternate(
        per.length,
        async (r) => {
          if (cSetupErr) throw new Error(cSetupErr);
          if (warm.cErr) throw new Error(warm.cErr);
          return LibbpfChild.samples(await child.cmd(cCmd(per[r]!)));
        },
        (r) => {
          if (!ts) throw new Error(tsSetupErr ?? 'tsbpf map setup failed');
          if (warm.tsErr) throw new Error(warm.tsErr);
          return ts.run(p.which, tsOp, n, opts.batch, per[r]!, sys).total;
        },
      );
      fill(row, res);
    }
  } finally {
    ts?.close();
  }
}

function fill(row: Row, res: { c: number[]; ts: number[]; cErr?: string; tsErr?: string }): void {
  const conv = (s: number[]) => (row.kind === 'rate' ? rates(s, row.opsPerSample!) : s);
  if (res.c.length) row.libbpf = summarize(conv(res.c));
  if (res.ts.length) row.tsbpf = summarize(conv(res.ts));
  row.libbpfError = res.cErr;
  row.tsbpfError = res.tsErr;
}

// ---- report --------------------------------------------------------------------------------------

function fmtTime(ns: number): string {
  const ms = ns / 1e6;
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

function fmtRate(r: number): string {
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)}M`;
  if (r >= 1e3) return `${(r / 1e3).toFixed(0)}k`;
  return r.toFixed(0);
}

function fmtSummary(row: Row, s: Summary | undefined, err: string | undefined): string {
  if (!s) return err ? 'error' : '—';
  const f = row.kind === 'time' ? fmtTime : fmtRate;
  return `${f(s.median)} [${f(s.p10)}–${f(s.p90)}]`;
}

/** tsbpf relative to libbpf, >1 meaning tsbpf is better: time ratio libbpf/tsbpf, rate ratio tsbpf/libbpf. */
function ratio(row: Row): number | undefined {
  if (!row.libbpf || !row.tsbpf) return undefined;
  return row.kind === 'time' ? row.libbpf.median / row.tsbpf.median : row.tsbpf.median / row.libbpf.median;
}

/** The same ratio on each side's best sample (least disturbed by other load on the machine). */
function bestRatio(row: Row): number | undefined {
  if (!row.libbpf || !row.tsbpf) return undefined;
  return row.kind === 'time' ? row.libbpf.min / row.tsbpf.min : row.tsbpf.max / row.libbpf.max;
}

function meets(r: number, target: number): boolean {
  return Math.round(r * 100) / 100 >= target;
}

/** p90/p10 (p10/p90 for rates): how much a side's samples vary. */
function spread(s: Summary): number {
  return Math.max(s.p90 / s.p10, s.p10 / s.p90);
}

function pad(s: string, w: number, right = false): string {
  const len = [...s].length;
  return len >= w ? s : right ? ' '.repeat(w - len) + s : s + ' '.repeat(w - len);
}

function report(libbpfVersion: string): string {
  const header = ['benchmark', 'unit', 'libbpf median [p10–p90]', 'tsbpf median [p10–p90]', 'ratio', 'best', 'target', ''];
  const table: string[][] = [];
  const errors: string[] = [];
  let group = '';
  for (const row of rows) {
    if (row.group !== group) {
      group = row.group;
      table.push([`[${group}]`, '', '', '', '', '', '', '']);
    }
    const r = ratio(row);
    let verdict = '';
    // Judged on the ratio as printed (2 decimals), so that a printed 0.90× never reads as a miss of ≥0.9.
    if (r !== undefined && row.target !== undefined) verdict = meets(r, row.target) ? 'ok' : 'MISS';
    if (row.target === undefined && row.note) verdict = row.note;
    table.push([
      row.name,
      row.kind === 'time' ? 'ms' : 'ops/s',
      fmtSummary(row, row.libbpf, row.libbpfError),
      fmtSummary(row, row.tsbpf, row.tsbpfError),
      r === undefined ? '—' : `${r.toFixed(2)}×`,
      ((b) => (b === undefined ? '—' : `${b.toFixed(2)}×`))(bestRatio(row)),
      row.targetText ?? '',
      verdict,
    ]);
    if (row.libbpfError) errors.push(`${row.name.trim()} (libbpf): ${row.libbpfError}`);
    if (row.tsbpfError) errors.push(`${row.name.trim()} (tsbpf): ${row.tsbpfError}`);
  }
  const widths = header.map((h, i) => Math.max([...h].length, ...table.map((t) => [...t[i]!].length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i >= 2 && i <= 5)).join('  ').trimEnd();
  const out: string[] = [];
  out.push(`tsbpf vs libbpf ${libbpfVersion} — kernel ${release()}, ${cpus().length} CPUs, node ${process.version}`);
  out.push(`measuring threads ${pinCpu === undefined ? 'not pinned' : `pinned to CPU ${pinCpu}`}, nice ${niceLevel}; ` +
    `load: ${opts.loadIters} iters/side; btf: ${opts.btfIters} iters/side; maps: ${opts.ops} elements (u32 key, 32-byte value), ` +
    `${opts.reps} reps per-element, ${opts.batchReps} reps batched, batch ${opts.batch}`);
  out.push('ratio = libbpf time / tsbpf time, or tsbpf ops/s / libbpf ops/s, on medians: >1 means tsbpf is faster.');
  out.push('best = the same ratio on each side\'s best sample. [p10–p90] across samples. Targets apply to the median ratio.');
  out.push('');
  out.push(line(header));
  out.push(line(widths.map((w) => '-'.repeat(w))));
  for (const t of table) out.push(line(t));
  const noisy = rows.filter((r) => r.libbpf && r.libbpf.p10 > 0 && spread(r.libbpf) > 1.5).map((r) => r.name.trim());
  const misses = rows.filter((r) => r.target !== undefined && !meets(ratio(r) ?? Infinity, r.target)).length;
  const checked = rows.filter((r) => r.target !== undefined && ratio(r) !== undefined).length;
  out.push('');
  out.push(`targets met: ${checked - misses}/${checked}`);
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(' ');
  out.push(`load average: ${la(loadStart)} at the start, ${la(loadavg())} at the end (${cpus().length} CPUs)`);
  if (noisy.length) {
    out.push(`warning: the machine was busy: libbpf's own p90/p10 spread exceeds 1.5× on ${noisy.length} of ${rows.length} rows ` +
      `(${noisy.slice(0, 4).join('; ')}${noisy.length > 4 ? '; …' : ''}); treat the ratios as rough and rerun when idle`);
  }
  if (errors.length) {
    out.push('');
    out.push('errors:');
    for (const e of [...new Set(errors)]) out.push(`  ${e}`);
  }
  return out.join('\n');
}

// ---- main ----------------------------------------------------------------------------------------

const loadStart = loadavg();

async function main(): Promise<void> {
  log('building bench/.build/ (clang-16, gcc) …');
  const built = buildAll();

  let api: TsbpfApi | undefined;
  let apiErr: string | undefined;
  try {
    api = await import('../src/index.js');
  } catch (e) {
    apiErr = `importing src/index.ts failed: ${errText(e)}`;
    log(`tsbpf: ${apiErr}`);
  }
  let btfMod: BtfModule | undefined;
  let btfErr: string | undefined;
  try {
    btfMod = await import('../btf/index.js');
  } catch (e) {
    btfErr = `importing btf/index.ts failed: ${errText(e)}`;
    log(`tsbpf: ${btfErr}`);
  }

  let sys: SyscallsModule | undefined;
  try {
    sys = await import('../syscalls/index.js');
  } catch (e) {
    log(`tsbpf: importing syscalls/index.ts failed (diagnostic rows only): ${errText(e)}`);
  }

  const child = await LibbpfChild.start(built.libbpfBench);
  for (const note of [...placeThread(process.pid, 'this process'), ...placeThread(child.pid, 'bench-libbpf')]) log(`warning: ${note}`);
  try {
    if (only.has('load')) await benchLoad(child, api, apiErr, built);
    if (only.has('btf')) await benchBtf(child, btfMod, btfErr);
    if (only.has('floor')) await benchFloor(child);
    if (only.has('maps')) await benchMaps(child, api, apiErr, sys, built);
  } finally {
    await child.close();
  }

  const text = report(child.version);
  console.log(text);
  const jsonPath = argv.json ?? join(BUILD_DIR, 'results.json');
  writeFileSync(jsonPath, JSON.stringify({ date: new Date().toISOString(), kernel: release(), node: process.version, libbpf: child.version, opts, rows }, null, 2));
  log(`\nraw results: ${jsonPath}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
