// Event streams: tsbpf's RingBuffer / PerfBuffer against libbpf's ring_buffer / perf_buffer, in one run.
//
//   npx tsx bench/events.ts                 # everything (about a minute, as root)
//   npx tsx bench/events.ts --quick         # fewer rounds: a smoke test, not numbers to quote
//   npx tsx bench/events.ts --only rb-consume,latency   # rb-consume, rb-e2e, pb-consume, pb-e2e, latency, copy
//
// Producers are raw_tp programs run with BPF_PROG_TEST_RUN that emit 64-byte records with bpf_loop
// (test/bpf/events-bench.bpf.c). The libbpf side is bench/c/events-libbpf.c (gcc -O2, built into
// bench/.build/), one child process per measurement; the tsbpf side runs here, with its producer in a
// worker thread where one is needed. Rounds alternate between the two sides so that a slow phase of the
// VM hits both. Rows:
// - consumer-only: fill the ring with N records (not timed), then time one drain (consume()).
// - end-to-end: a producer thread emits `total` records in test_run calls of `chunk` while the main
//   thread polls and drains; records/s = received / (last record consumed − production start).
//   Drops are what the BPF side reported (failed reserve/output); "unexplained" must be 0. Chunks are
//   small (about 1.4 ms of records, a tenth of the ring) because a test_run runs its whole bpf_loop
//   with preemption off: with 200k-record chunks (14 ms, 90% of the ring) consumers were seen waking
//   about once per chunk, and whether the ring overflowed depended on where the scheduler put them,
//   on either side, which made the row swing between runs.
// - wake-up latency: one record every 1 ms carrying bpf_ktime_get_ns() (CLOCK_MONOTONIC); the consumer
//   subtracts it from CLOCK_MONOTONIC in its callback: commit → epoll wake-up → callback.
// Throughput ratios are paired: the median over rounds of tsbpf/libbpf within a round (rateRow).
// Raw samples go to bench/.build/events-results.json.

import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { BTF_KIND } from '../btf/index.js';
import { BpfObject, PerfBuffer, RingBuffer, type WaitMode } from '../src/index.js';
import { BPF_ATTR, BPF_ATTR_SIZEOF, BPF_CMD, setZeroCopy } from '../syscalls/index.js';
import { compileBpf } from '../test/support/compile.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const BUILD_DIR = join(BENCH_DIR, '.build');
const BPF_F_TEST_RUN_ON_CPU = 1;

// ---- the producer worker ------------------------------------------------------------------------------

interface ProducerJob {
  progFd: number;
  /** Records in all. */
  total: number;
  /** Records per test_run call (one bpf_loop, run with preemption off: keep it short). */
  chunk: number;
  withTs: boolean;
  /** Sleep between test_run calls (µs). */
  gapUs: number;
  /** Pin the program to this CPU (-1: wherever the thread runs). */
  cpu: number;
}

function hrnow(): number {
  return Number(process.hrtime.bigint());
}

function u64args(...vals: number[]): Uint8Array {
  const b = new Uint8Array(8 * vals.length);
  const dv = new DataView(b.buffer);
  vals.forEach((v, i) => dv.setBigUint64(8 * i, BigInt(v), true));
  return b;
}

// The producer thread is plain JavaScript over koffi (bpf(BPF_PROG_TEST_RUN) with a prebuilt attr), so
// that it starts fast and depends on no TypeScript loader in the worker. Field offsets come from the
// generated bpf_attr layout. One thread serves every measurement: starting a worker costs tens of
// milliseconds of CPU, which on a small machine starved the consumer at the start of each run (the
// ring overflowed before its first drain), so it is started once and given jobs by message.
const PRODUCER_JS = `
const { parentPort, workerData: d } = require('node:worker_threads');
const koffi = require(d.koffiPath);
let lib;
for (const n of ['libc.so.6', null]) { try { lib = koffi.load(n); break; } catch {} }
const sys = lib.func('long syscall(long nr, long cmd, intptr_t attr, uint size)');
const attr = Buffer.alloc(d.attrSize);
const ctx = Buffer.alloc(16);
const addr = Number(koffi.address(attr));
const sleeper = new Int32Array(new SharedArrayBuffer(4));
parentPort.on('message', (job) => {
  attr.fill(0);
  attr.writeUInt32LE(job.progFd, d.off.prog_fd);
  attr.writeBigUInt64LE(koffi.address(ctx), d.off.ctx_in);
  attr.writeUInt32LE(16, d.off.ctx_size_in);
  if (job.cpu >= 0) { attr.writeUInt32LE(1, d.off.flags); attr.writeUInt32LE(job.cpu, d.off.cpu); }
  const tStart = Number(process.hrtime.bigint());
  for (let sent = 0; sent < job.total; sent += job.chunk) {
    ctx.writeBigUInt64LE(BigInt(Math.min(job.chunk, job.total - sent)), 0);
    ctx.writeBigUInt64LE(job.withTs ? 1n : 0n, 8);
    if (sys(d.nrBpf, d.cmd, addr, d.attrSize) < 0) throw new Error('BPF_PROG_TEST_RUN failed: errno ' + koffi.errno());
    if (job.gapUs > 0) Atomics.wait(sleeper, 0, 0, job.gapUs / 1000);
  }
  parentPort.postMessage({ tStart, tEnd: Number(process.hrtime.bigint()) });
});
parentPort.postMessage('ready');
`;

/** The producer thread: runs one job at a time, resolving with its start/end times. */
class Producer {
  readonly #w: Worker;
  readonly #ready: Promise<void>;
  #pending: { res: (t: { tStart: number; tEnd: number }) => void; rej: (e: unknown) => void } | null = null;

  constructor() {
    this.#w = new Worker(PRODUCER_JS, {
      eval: true,
      workerData: {
        koffiPath: createRequire(import.meta.url).resolve('koffi'), nrBpf: process.arch === 'arm64' ? 280 : 321,
        cmd: BPF_CMD.PROG_TEST_RUN, attrSize: BPF_ATTR_SIZEOF.PROG_TEST_RUN,
        off: Object.fromEntries(Object.entries(BPF_ATTR.PROG_TEST_RUN).map(([k, v]) => [k, v.off])),
      },
    });
    this.#ready = new Promise((res, rej) => {
      this.#w.once('message', () => res());
      this.#w.once('error', rej);
    });
    this.#w.on('message', (m) => {
      if (m === 'ready') return;
      const p = this.#pending;
      this.#pending = null;
      p?.res(m as { tStart: number; tEnd: number });
    });
    this.#w.on('error', (e) => { this.#pending?.rej(e); this.#pending = null; });
    this.#w.on('exit', (code) => { this.#pending?.rej(new Error(`producer thread exited (${code})`)); this.#pending = null; });
  }

  /** Starts a job once the thread is up; resolves when it is done. */
  async run(job: ProducerJob): Promise<{ tStart: number; tEnd: number }> {
    await this.#ready;
    if (this.#pending) throw new Error('producer busy');
    return new Promise((res, rej) => {
      this.#pending = { res, rej };
      this.#w.postMessage(job);
    });
  }

  close(): Promise<number> {
    return this.#w.terminate();
  }
}

// ---- statistics --------------------------------------------------------------------------------------------

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo);
}

function fmtRate(r: number): string {
  return r >= 1e6 ? `${(r / 1e6).toFixed(1)}M` : r >= 1e3 ? `${(r / 1e3).toFixed(1)}k` : r.toFixed(0);
}

interface Row { name: string; unit: string; libbpf: string; tsbpf: string; ratio: string; target: string }
const rows: Row[] = [];
const raw: Record<string, unknown> = {};

/**
 * A throughput row from per-round samples (`c[r]`, `t[r]`: round r's samples on each side; the two
 * sides of a round ran back to back). The ratio judged against the target is the median over rounds
 * of the per-round ratio of medians: a slow phase of a shared machine hits both sides of a round, so
 * pairing cancels most of it, where a ratio of pooled medians does not. The pooled ratio is shown too.
 */
function rateRow(name: string, c: number[][], t: number[][], target?: number): void {
  const cAll = c.flat();
  const tAll = t.flat();
  const paired = quantile(c.map((cr, r) => quantile(t[r]!, 0.5) / quantile(cr, 0.5)), 0.5);
  const pooled = quantile(tAll, 0.5) / quantile(cAll, 0.5);
  const band = (xs: number[]): string => `${fmtRate(quantile(xs, 0.5))} [${fmtRate(quantile(xs, 0.1))}–${fmtRate(quantile(xs, 0.9))}]`;
  rows.push({
    name, unit: 'rec/s', libbpf: band(cAll), tsbpf: band(tAll), ratio: `${paired.toFixed(2)}× (pooled ${pooled.toFixed(2)}×)`,
    target: target === undefined ? '' : `${paired >= target ? 'ok' : 'MISS'} ≥${target}`,
  });
}

function latRow(name: string, c: number[], t: number[]): void {
  const f = (xs: number[]): string => `${(quantile(xs, 0.5) / 1e3).toFixed(1)} / ${(quantile(xs, 0.9) / 1e3).toFixed(1)} / ${(quantile(xs, 0.99) / 1e3).toFixed(0)}`;
  rows.push({ name, unit: 'µs p50/p90/p99', libbpf: c.length ? f(c) : '', tsbpf: f(t), ratio: c.length ? `${(quantile(c, 0.5) / quantile(t, 0.5)).toFixed(2)}×` : '', target: '' });
}

function infoRow(name: string, unit: string, libbpf: string, tsbpf: string, target = ''): void {
  rows.push({ name, unit, libbpf, tsbpf, ratio: '', target });
}

// ---- the libbpf side ------------------------------------------------------------------------------------

function buildC(): string {
  mkdirSync(BUILD_DIR, { recursive: true });
  const src = join(BENCH_DIR, 'c', 'events-libbpf.c');
  const bin = join(BUILD_DIR, 'events-libbpf');
  if (!existsSync(bin) || statSync(src).mtimeMs > statSync(bin).mtimeMs) {
    const r = spawnSync(process.env.CC ?? 'gcc', ['-O2', '-Wall', '-o', bin, src, '-lbpf', '-lelf', '-lz', '-lpthread'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building events-libbpf failed:\n${r.stderr}${r.error ?? ''}`);
  }
  return bin;
}

function libbpf<T>(bin: string, obj: string, ...args: (string | number)[]): T {
  const r = spawnSync(bin, [obj, ...args.map(String)], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`events-libbpf ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

// ---- the tsbpf side -------------------------------------------------------------------------------------

function bss(obj: BpfObject, name: string): number {
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne('.bss', BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error('no .bss');
  const v = ds.vars.find((x) => btf.type(x.type).name === name)!;
  const val = obj.map('.bss').lookup(new Uint8Array(4))!;
  return Number(new DataView(val.buffer, val.byteOffset).getBigUint64(v.offset, true));
}

/** Consumer-only: fill with n records, time one drain; `reps` samples (ns per drain). */
function tsConsume(obj: BpfObject, kind: 'rb' | 'pb', n: number, reps: number, pages: number): { ns: number[]; bad: number } {
  let expected = 0;
  let bad = 0;
  let received = 0;
  const cb = (rec: { getU64Number(o: number): number }): void => {
    const s = rec.getU64Number(0);
    if (s !== expected) bad++;
    expected = s + 1;
    received++;
  };
  const buf = kind === 'rb' ? new RingBuffer(obj.map('rb'), cb) : new PerfBuffer(obj.map('pb'), cb, { pageCount: pages });
  const prog = obj.program(kind === 'rb' ? 'rb_produce' : 'pb_produce');
  const ns: number[] = [];
  try {
    // JIT warm-up (libbpf's side is compiled ahead of time): full drains that are not timed.
    expected = bss(obj, kind === 'rb' ? 'rb_seq' : 'pb_seq');
    for (let r = 0; r < 4; r++) {
      prog.testRunSync({ ctx: u64args(n, 0), flags: BPF_F_TEST_RUN_ON_CPU, cpu: 0 });
      buf.consume();
    }
    bad = 0;
    for (let r = 0; r < reps; r++) {
      expected = bss(obj, kind === 'rb' ? 'rb_seq' : 'pb_seq');
      received = 0;
      prog.testRunSync({ ctx: u64args(n, 0), flags: BPF_F_TEST_RUN_ON_CPU, cpu: 0 });
      const t0 = hrnow();
      buf.consume();
      const t1 = hrnow();
      ns.push(t1 - t0);
      if (received !== n) bad++;
    }
  } finally {
    buf.close();
  }
  return { ns, bad };
}

interface E2e { total: number; received: number; drops: number; lost: number; bad: number; wakes: number; t_start: number; t_prod_end: number; t_last: number }

/**
 * The end-to-end callback: one function for every run, as an application has, with its counters
 * reset per run. A new closure per run made each run start with the drain deoptimized ("wrong call
 * target") and interpreted until recompiled, tens of milliseconds on a busy machine, which a 20M
 * rec/s producer turned into ring overflows that measured the JIT rather than the consumer.
 */
const e2eState = { expected: 0, bad: 0, received: 0 };
function e2eCallback(rec: { getU64Number(o: number): number }): void {
  const s = rec.getU64Number(0);
  if (s !== e2eState.expected) e2eState.bad++;
  e2eState.expected = s + 1;
  e2eState.received++;
}

async function tsE2e(producer: Producer, obj: BpfObject, kind: 'rb' | 'pb', total: number, chunk: number, pages: number): Promise<E2e> {
  e2eState.expected = bss(obj, kind === 'rb' ? 'rb_seq' : 'pb_seq');
  e2eState.bad = 0;
  e2eState.received = 0;
  const drops0 = bss(obj, kind === 'rb' ? 'rb_drops' : 'pb_drops');
  let lost = 0;
  const cb = e2eCallback;
  const buf = kind === 'rb' ? new RingBuffer(obj.map('rb'), cb)
    : new PerfBuffer(obj.map('pb'), cb, { pageCount: pages, onLost: (_c, k) => { lost += k; } });
  let finished = false;
  const done = producer.run({ progFd: obj.program(kind === 'rb' ? 'rb_produce' : 'pb_produce').fd, total, chunk, withTs: false, gapUs: 0, cpu: kind === 'pb' ? 1 : -1 });
  void done.then(() => { finished = true; });
  let tLast = 0;
  let wakes = 0;
  // The libbpf side's loop: poll with a 100 ms timeout, stop once the producer is done. (This was
  // `await Promise.race([poll(-1), done])`, which left one reaction on `done` per poll: tens of
  // thousands of live promises by the end, scavenges of 6-15 ms, and ring overflows during them.)
  while (!finished) {
    const n = await buf.poll(100);
    if (n > 0) {
      tLast = hrnow();
      wakes++;
    }
  }
  if (buf.consume() > 0) tLast = hrnow();
  buf.close();
  const times = await done;
  return {
    total, received: e2eState.received, drops: bss(obj, kind === 'rb' ? 'rb_drops' : 'pb_drops') - drops0, lost, bad: e2eState.bad, wakes,
    t_start: times.tStart, t_prod_end: times.tEnd, t_last: tLast,
  };
}

async function tsLatency(producer: Producer, obj: BpfObject, kind: 'rb' | 'pb', count: number, gapUs: number, wait: WaitMode): Promise<number[]> {
  const lat: number[] = [];
  const cb = (rec: { getU64Number(o: number): number }): void => {
    lat.push(hrnow() - rec.getU64Number(8));
  };
  const buf = kind === 'rb' ? new RingBuffer(obj.map('rb'), cb, { wait }) : new PerfBuffer(obj.map('pb'), cb, { wait, pageCount: 64 });
  buf.consume();
  lat.length = 0;
  let finished = false;
  const done = producer.run({ progFd: obj.program(kind === 'rb' ? 'rb_produce' : 'pb_produce').fd, total: count, chunk: 1, withTs: true, gapUs, cpu: -1 });
  void done.then(() => { finished = true; });
  while (!finished && lat.length < count) await buf.poll(100);
  buf.consume();
  buf.close();
  await done;
  return lat;
}

// ---- main -------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: argv } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const only = argv.only ? new Set(argv.only.split(',')) : undefined;
  const want = (s: string): boolean => !only || only.has(s);
  const rounds = argv.rounds ? Number(argv.rounds) : argv.quick ? 2 : 5;
  const N = 200_000;
  const reps = argv.quick ? 4 : 10;

  const objPath = compileBpf('events-bench');
  const bin = buildC();
  const obj = BpfObject.open(objPath);
  obj.loadSync();
  // Started after the consumer-only rows: a worker booting beside them took CPU from their rounds.
  let producerThread: Producer | undefined;
  const producerFor = (): Producer => (producerThread ??= new Producer());
  const load0 = loadavg()[0]!;
  console.log(`node ${process.version}, ${rounds} rounds, ${cpus().length} CPUs, load average ${load0.toFixed(2)}; object ${objPath}`);
  if (load0 > cpus().length / 2) {
    console.log('note: the machine is busy; the end-to-end and latency rows depend on scheduling and will be noisy');
  }

  for (const kind of ['rb', 'pb'] as const) {
    if (!want(`${kind}-consume`)) continue;
    const pages = 4096; // perf: 16 MiB per CPU, room for the whole burst
    const c: number[][] = [];
    const t: number[][] = [];
    let cbad = 0;
    let tbad = 0;
    for (let r = 0; r < rounds; r++) {
      const first = r % 2 === 0;
      const runC = (): void => {
        const res = libbpf<{ ns: number[]; bad: number; drops: number }>(bin, objPath, `${kind}-consume`, N, reps, pages);
        c.push(res.ns.slice(1).map((ns) => N / (ns / 1e9)));
        cbad += res.bad + res.drops;
      };
      const runT = (): void => {
        const res = tsConsume(obj, kind, N, reps, pages);
        t.push(res.ns.slice(1).map((ns) => N / (ns / 1e9)));
        tbad += res.bad;
      };
      if (first) { runC(); runT(); } else { runT(); runC(); }
    }
    raw[`${kind}-consume`] = { libbpf: c, tsbpf: t };
    rateRow(`${kind === 'rb' ? 'ringbuf' : 'perfbuf'} consumer-only (${N / 1000}k × 64 B)`, c, t, 0.5);
    if (cbad || tbad) infoRow('  ordering/count errors', '', String(cbad), String(tbad));
  }

  for (const kind of ['rb', 'pb'] as const) {
    if (!want(`${kind}-e2e`)) continue;
    const total = kind === 'rb' ? (argv.quick ? 2_000_000 : 4_000_000) : (argv.quick ? 400_000 : 1_000_000);
    const chunk = kind === 'rb' ? 20_000 : 50_000;
    const pages = 64;
    const c: E2e[] = [];
    const t: E2e[] = [];
    for (let r = -1; r < rounds; r++) {
      // Round -1 warms up both sides and is not counted.
      const runC = (): void => { const e = libbpf<E2e>(bin, objPath, `${kind}-e2e`, total, chunk, pages); if (r >= 0) c.push(e); };
      const runT = async (): Promise<void> => { const e = await tsE2e(producerFor(), obj, kind, total, chunk, pages); if (r >= 0) t.push(e); };
      if (r % 2 === 0) { runC(); await runT(); } else { await runT(); runC(); }
    }
    raw[`${kind}-e2e`] = { libbpf: c, tsbpf: t };
    const rate = (e: E2e): number => e.received / ((e.t_last - e.t_start) / 1e9);
    const prodRate = (e: E2e): number => e.total / ((e.t_prod_end - e.t_start) / 1e9);
    const label = kind === 'rb' ? 'ringbuf' : 'perfbuf';
    rateRow(`${label} end-to-end (${total / 1e6}M, chunks of ${chunk / 1000}k)`, c.map((e) => [rate(e)]), t.map((e) => [rate(e)]), kind === 'rb' ? 0.85 : undefined);
    rateRow(`  producer alone during it (info)`, c.map((e) => [prodRate(e)]), t.map((e) => [prodRate(e)]));
    const sum = (xs: E2e[], f: (e: E2e) => number): number => xs.reduce((a, e) => a + f(e), 0);
    infoRow(`  dropped, reported by the BPF side`, 'records', String(sum(c, (e) => e.drops)), String(sum(t, (e) => e.drops)));
    // Why this row is bimodal: a consumer that keeps pace with the producer is caught up whenever a
    // record commits, and each such commit sends a wake-up (irq_work, an IPI: a VM exit here) that
    // slows the producer. libbpf publishes its position per record and falls into that regime when
    // it has a CPU to itself (hundreds of thousands of wake-ups, ~1M rec/s); tsbpf publishes per
    // batch (ring/8) and rarely does. The wake-up counts show which regime each side was in.
    infoRow('  wake-ups with records (median per run)', 'polls', fmtRate(quantile(c.map((e) => e.wakes), 0.5)), fmtRate(quantile(t.map((e) => e.wakes), 0.5)));
    if (kind === 'pb') infoRow('  PERF_RECORD_LOST counted', 'records', String(sum(c, (e) => e.lost)), String(sum(t, (e) => e.lost)));
    const unexplained = (xs: E2e[]): number => sum(xs, (e) => e.total - e.received - e.drops);
    const badOrder = (xs: E2e[]): number => sum(xs, (e) => (kind === 'rb' ? e.bad : 0));
    infoRow('  unexplained losses / ordering errors', 'records', `${unexplained(c)} / ${badOrder(c)}`, `${unexplained(t)} / ${badOrder(t)}`,
      unexplained(t) === 0 && badOrder(t) === 0 ? 'ok = 0' : 'MISS = 0');
  }

  if (want('latency')) {
    const count = argv.quick ? 200 : 1000;
    for (const kind of ['rb', 'pb'] as const) {
      const c: number[] = [];
      const tu: number[] = [];
      const tt: number[] = [];
      for (let r = 0; r < Math.min(rounds, 3); r++) {
        c.push(...libbpf<{ lat: number[] }>(bin, objPath, `${kind}-latency`, count, 1000, 64).lat.slice(5));
        tu.push(...(await tsLatency(producerFor(), obj, kind, count, 1000, 'uv-poll')).slice(5));
        tt.push(...(await tsLatency(producerFor(), obj, kind, count, 1000, 'threadpool')).slice(5));
      }
      raw[`${kind}-latency`] = { libbpf: c, tsbpfUvPoll: tu, tsbpfThreadpool: tt };
      const label = kind === 'rb' ? 'ringbuf' : 'perfbuf';
      latRow(`${label} wake-up latency, uv-poll (default)`, c, tu);
      latRow(`${label} wake-up latency, threadpool`, c, tt);
    }
  }

  if (want('copy')) {
    setZeroCopy(false);
    const t = tsConsume(obj, 'rb', N, reps, 0);
    const p = tsConsume(obj, 'pb', N, reps, 4096);
    setZeroCopy(true);
    const rate = (ns: number[]): string => fmtRate(quantile(ns.slice(1).map((x) => N / (x / 1e9)), 0.5));
    infoRow('copy mode consumer-only, ringbuf / perfbuf (info)', 'rec/s', '', `${rate(t.ns)} / ${rate(p.ns)}`);
  }

  obj.close();
  await producerThread?.close();

  const w = (s: string, n: number): string => s.padEnd(n);
  const widths = [58, 15, 28, 28, 22, 10];
  console.log(['benchmark', 'unit', 'libbpf', 'tsbpf', 'tsbpf/libbpf', 'target'].map((h, i) => w(h, widths[i]!)).join(''));
  for (const r of rows) console.log([r.name, r.unit, r.libbpf, r.tsbpf, r.ratio, r.target].map((v, i) => w(v, widths[i]!)).join(''));
  const out = argv.json ?? join(BUILD_DIR, 'events-results.json');
  mkdirSync(dirname(resolve(out)), { recursive: true });
  writeFileSync(out, JSON.stringify({ rows, raw, loadavg: [load0, loadavg()[0]] }, null, 1));
}

await main();
