// Event streams: tsbpf's RingBuffer / PerfBuffer against libbpf's ring_buffer / perf_buffer, in one run.
//
//   npx tsx bench/events.ts                 # everything (a few minutes, as root)
//   npx tsx bench/events.ts --quick         # fewer rounds: a smoke test, not numbers to quote
//   npx tsx bench/events.ts --only rb-consume,latency   # rb-consume, rb-e2e, pb-consume, pb-e2e, latency, copy
//
// Producers are raw_tp programs run with BPF_PROG_TEST_RUN that emit 64-byte records with bpf_loop
// (test/bpf/events-bench.bpf.c). The libbpf side is bench/c/events-libbpf.c (gcc -O2, built into
// bench/.build/), one child process per measurement; the tsbpf side runs here, with its producer in a
// worker thread where one is needed, running the C side's producer loop call for call. Rounds
// alternate between the two sides so that a slow phase of the VM hits both. Rows:
// - consumer-only: fill the ring with N records (not timed), then time one drain (consume()).
// - producer alone (info): the end-to-end producer's calls, timed alone, the ring drained between them
//   untimed: the most any end-to-end row can reach.
// - end-to-end: a producer thread emits `total` records in test_run calls of 20k while the main thread
//   polls (100 ms timeout) and drains; records/s = delivered / (last record consumed − production
//   start). The producer thread is pinned to the last CPU and runs the program there; the consumer is
//   pinned to the first. (BPF_F_TEST_RUN_ON_CPU from another CPU runs the program inside an IPI with
//   interrupts off while the caller spins: on 2 CPUs the caller sat on the consumer's CPU and starved
//   it, and wake-ups waited for the end of each call. Unpinned, where the scheduler put the two threads
//   changed from run to run. Either way the old rows measured placement more than consumers.)
//   Each configuration is a row of its own, because what bounds the rate differs:
//   - "no drops": the program stops at a full ring and returns how many it emitted, and the producer
//     yields and runs it again for the rest, so both sides deliver every record and their rates are
//     rates of the same work; a consumer that stalls costs time ("producer waits"), not records.
//   - "kernel wake-ups": the ring buffer wakes the consumer when a record commits at the consumer's
//     published position, i.e. whenever the consumer had caught up. libbpf publishes per record, so a
//     consumer that keeps pace is woken every few records; each wake-up is an irq_work self-IPI on the
//     producer's CPU plus an IPI to the sleeping consumer, VM exits here, which slows the producer to a
//     few M/s when the consumer has its CPU to itself (hundreds of thousands of wake-ups). tsbpf
//     publishes per batch and is caught up far less often. That difference is real, but it is the
//     kernel's wake-up policy meeting a publishing policy, hence the next row:
//   - "wake-up every 1024": the producer decides (BPF_RB_NO_WAKEUP, and BPF_RB_FORCE_WAKEUP every
//     1024 records and at the end of each call), the batched notification high-rate producers use;
//     both consumers get the same wake-ups and the row compares their wake-up and drain paths.
//   - perf buffers wake per wakeup_events samples. 1 is what perf_buffer__new and PerfBuffer use by
//     default, and costs an irq_work self-IPI per sample whether or not anyone waits: the producer
//     alone manages about 0.2M/s that way here, so that row is bound by the kernel on both sides; the
//     1024 row (perf_buffer__new_raw on the C side) is the one that tells consumers apart.
//   - "free-running": the producer never waits; drops are what the BPF side reported (failed
//     reserve/output). A round compares rates only if both sides delivered everything; others show
//     in the rate bands and the drop counts, not in the ratio.
//   "unexplained" (records neither delivered nor reported dropped) must be 0 everywhere.
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
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { BTF_KIND } from '../btf/index.js';
import { BpfObject, PerfBuffer, RingBuffer, type WaitMode } from '../src/index.js';
import { BPF_ATTR, BPF_ATTR_SIZEOF, BPF_CMD, onlineCpus, setZeroCopy } from '../syscalls/index.js';
import { compileBpf } from '../test/support/compile.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const BUILD_DIR = join(BENCH_DIR, '.build');
const BPF_F_TEST_RUN_ON_CPU = 1;

// ---- the producer worker and CPU placement ------------------------------------------------------------

const requireHere = createRequire(import.meta.url);
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface ProducerJob {
  progFd: number;
  /** Records in all. */
  total: number;
  /** Records per test_run call (one bpf_loop, run without preemption: keep it short). */
  chunk: number;
  withTs: boolean;
  /** Stop at a full ring and run again for the rest (no drops) instead of dropping. */
  untilFull: boolean;
  /** Ring buffer: 0 for the kernel's wake-up policy, N to wake the consumer every N records. */
  wakeEvery: number;
  /** Sleep between test_run calls (µs). */
  gapUs: number;
  /** Pin the thread to this CPU and run the program there (-1: any CPU). */
  cpu: number;
}

interface ProducerTimes { tStart: number; tEnd: number; waits: number }

function hrnow(): number {
  return Number(process.hrtime.bigint());
}

/** The producer programs' context: count, timestamp flag, until_full, wake_every (events-bench.bpf.c). */
function u64args(count: number, withTs = 0, untilFull = 0, wakeEvery = 0): Uint8Array {
  const b = new Uint8Array(32);
  const dv = new DataView(b.buffer);
  [count, withTs, untilFull, wakeEvery].forEach((v, i) => dv.setBigUint64(8 * i, BigInt(v), true));
  return b;
}

// The producer thread is plain JavaScript over koffi (bpf(BPF_PROG_TEST_RUN) with a prebuilt attr), so
// that it starts fast and depends on no TypeScript loader in the worker. Field offsets come from the
// generated bpf_attr layout. One thread serves every measurement: starting a worker costs tens of
// milliseconds of CPU, which on a small machine starved the consumer at the start of each run (the
// ring overflowed before its first drain), so it is started once and given jobs by message. Its loop
// is the C side's producer() (bench/c/events-libbpf.c), call for call.
const PRODUCER_JS = `
const { parentPort, workerData: d } = require('node:worker_threads');
const koffi = require(d.koffiPath);
let lib;
for (const n of ['libc.so.6', null]) { try { lib = koffi.load(n); break; } catch {} }
const sys = lib.func('long syscall(long nr, long cmd, intptr_t attr, uint size)');
const setAffinity = lib.func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)');
const schedYield = lib.func('int sched_yield(void)');
const attr = Buffer.alloc(d.attrSize);
const ctx = Buffer.alloc(32);
const addr = Number(koffi.address(attr));
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const mask = Buffer.alloc(128);
parentPort.on('message', (job) => {
  mask.fill(0);
  for (const c of job.cpu >= 0 ? [job.cpu] : d.cpus) mask[c >> 3] |= 1 << (c & 7);
  if (setAffinity(0, mask.length, mask) !== 0) throw new Error('sched_setaffinity failed: errno ' + koffi.errno());
  attr.fill(0);
  attr.writeUInt32LE(job.progFd, d.off.prog_fd);
  attr.writeBigUInt64LE(koffi.address(ctx), d.off.ctx_in);
  attr.writeUInt32LE(ctx.length, d.off.ctx_size_in);
  ctx.writeBigUInt64LE(job.withTs ? 1n : 0n, 8);
  ctx.writeBigUInt64LE(job.untilFull ? 1n : 0n, 16);
  ctx.writeBigUInt64LE(BigInt(job.wakeEvery), 24);
  let waits = 0;
  const tStart = Number(process.hrtime.bigint());
  for (let sent = 0; sent < job.total;) {
    const n = Math.min(job.chunk, job.total - sent);
    ctx.writeBigUInt64LE(BigInt(n), 0);
    if (sys(d.nrBpf, d.cmd, addr, d.attrSize) < 0) throw new Error('BPF_PROG_TEST_RUN failed: errno ' + koffi.errno());
    // The program returns how many it emitted: fewer than asked only when it stopped at a full ring
    // (untilFull); a free-running producer has dropped the others, and moves on.
    const got = attr.readUInt32LE(d.off.retval);
    sent += job.untilFull ? got : n;
    if (job.untilFull && got < n) {
      waits++;
      schedYield();
    }
    if (job.gapUs > 0) Atomics.wait(sleeper, 0, 0, job.gapUs / 1000);
  }
  parentPort.postMessage({ tStart, tEnd: Number(process.hrtime.bigint()), waits });
});
parentPort.postMessage('ready');
`;

/** The producer thread: runs one job at a time, resolving with its start/end times. */
class Producer {
  readonly #w: Worker;
  readonly #ready: Promise<void>;
  #pending: { res: (t: ProducerTimes) => void; rej: (e: unknown) => void } | null = null;

  constructor() {
    this.#w = new Worker(PRODUCER_JS, {
      eval: true,
      workerData: {
        koffiPath: requireHere.resolve('koffi'), nrBpf: process.arch === 'arm64' ? 280 : 321,
        cmd: BPF_CMD.PROG_TEST_RUN, attrSize: BPF_ATTR_SIZEOF.PROG_TEST_RUN, cpus: onlineCpus(),
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
      p?.res(m as ProducerTimes);
    });
    this.#w.on('error', (e) => { this.#pending?.rej(e); this.#pending = null; });
    this.#w.on('exit', (code) => { this.#pending?.rej(new Error(`producer thread exited (${code})`)); this.#pending = null; });
  }

  /** Starts a job once the thread is up; resolves when it is done. */
  async run(job: ProducerJob): Promise<ProducerTimes> {
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

// The consumer (this main thread) is pinned for the end-to-end rows the way the C side pins its main
// thread: sched_setaffinity on the calling thread only, restored afterwards. Like the producer thread
// above, bench code that calls libc itself, outside the library.
const koffi = requireHere('koffi') as typeof import('koffi');
const libc = koffi.load('libc.so.6');
const schedSetAffinity = libc.func('int sched_setaffinity(int pid, size_t size, const uint8_t *mask)');
const schedGetAffinity = libc.func('int sched_getaffinity(int pid, size_t size, _Out_ uint8_t *mask)');

/** Pins the calling thread to `cpu` (-1: no change); returns what undoes it. */
function pinThisThread(cpu: number): () => void {
  if (cpu < 0) return () => {};
  const old = Buffer.alloc(128);
  if (schedGetAffinity(0, old.length, old) !== 0) throw new Error('sched_getaffinity failed');
  const mask = Buffer.alloc(128);
  mask[cpu >> 3]! |= 1 << (cpu & 7);
  if (schedSetAffinity(0, mask.length, mask) !== 0) throw new Error(`sched_setaffinity(${cpu}) failed`);
  return () => { schedSetAffinity(0, old.length, old); };
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
 * `valid[r]` false leaves round r out of the ratios (not of the rates).
 */
function rateRow(name: string, c: number[][], t: number[][], target?: number, valid?: boolean[]): void {
  const cAll = c.flat();
  const tAll = t.flat();
  const keep = c.map((_, r) => valid?.[r] ?? true);
  const cv = c.filter((_, r) => keep[r]);
  const tv = t.filter((_, r) => keep[r]);
  const band = (xs: number[]): string => `${fmtRate(quantile(xs, 0.5))} [${fmtRate(quantile(xs, 0.1))}–${fmtRate(quantile(xs, 0.9))}]`;
  let ratio = `n/a: ${c.length - cv.length} of ${c.length} rounds delivered different counts`;
  let verdict = target === undefined ? '' : 'n/a';
  if (cv.length > 0) {
    const paired = quantile(cv.map((cr, r) => quantile(tv[r]!, 0.5) / quantile(cr, 0.5)), 0.5);
    const pooled = quantile(tv.flat(), 0.5) / quantile(cv.flat(), 0.5);
    const left = cv.length < c.length ? `, ${cv.length}/${c.length} rounds` : '';
    ratio = `${paired.toFixed(2)}× (pooled ${pooled.toFixed(2)}×${left})`;
    if (target !== undefined) verdict = `${paired >= target ? 'ok' : 'MISS'} ≥${target}`;
  }
  rows.push({ name, unit: 'rec/s', libbpf: band(cAll), tsbpf: band(tAll), ratio, target: verdict });
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
  const st = seqState;
  const cb = seqCallback;
  const buf = kind === 'rb' ? new RingBuffer(obj.map('rb'), cb) : new PerfBuffer(obj.map('pb'), cb, { pageCount: pages });
  const prog = obj.program(kind === 'rb' ? 'rb_produce' : 'pb_produce');
  const ns: number[] = [];
  let bad = 0;
  try {
    // JIT warm-up (libbpf's side is compiled ahead of time): full drains that are not timed.
    st.expected = bss(obj, kind === 'rb' ? 'rb_seq' : 'pb_seq');
    for (let r = 0; r < 4; r++) {
      prog.testRunSync({ ctx: u64args(n), flags: BPF_F_TEST_RUN_ON_CPU, cpu: 0 });
      buf.consume();
    }
    gc(); // see tsE2e
    for (let r = 0; r < reps; r++) {
      st.expected = bss(obj, kind === 'rb' ? 'rb_seq' : 'pb_seq');
      st.received = 0;
      st.bad = 0;
      prog.testRunSync({ ctx: u64args(n), flags: BPF_F_TEST_RUN_ON_CPU, cpu: 0 });
      const t0 = hrnow();
      buf.consume();
      const t1 = hrnow();
      ns.push(t1 - t0);
      if (st.received !== n || st.bad !== 0) bad++;
    }
  } finally {
    buf.close();
  }
  return { ns, bad };
}

/**
 * The callback of every throughput row, consumer-only and end-to-end: the C side's rb_cb / pb_cb
 * (check the sequence number, count), written the way that costs JavaScript what it costs C. Its
 * state is an object's properties, as the C side's is static variables: `let` variables captured by
 * a closure cost a hole check and a context load per access, 0.4-1 ns per record measured, which
 * is the closure's price and not the library's. And it is one function for every run, as an
 * application has: a new closure per run made each run start with the drain deoptimized ("wrong
 * call target") and interpreted until recompiled, tens of milliseconds on a busy machine, which a
 * 20M rec/s producer turned into ring overflows that measured the JIT rather than the consumer.
 */
const seqState = { expected: 0, bad: 0, received: 0 };
function seqCallback(rec: { getU64Number(o: number): number }): void {
  const s = rec.getU64Number(0);
  if (s !== seqState.expected) seqState.bad++;
  seqState.expected = s + 1;
  seqState.received++;
}

/** One end-to-end run, on either side (the C side prints the same fields). */
interface E2e {
  total: number; received: number; drops: number; full: number; waits: number; lost: number; bad: number; wakes: number;
  t_start: number; t_prod_end: number; t_last: number;
}

/** An end-to-end configuration: the same on both sides. */
interface E2eCfg {
  total: number;
  chunk: number;
  /** The producer waits for room (no drops) rather than dropping. */
  untilFull: boolean;
  /** Ring buffer: wake the consumer every N records (0: the kernel's policy). Perf: wakeup_events. */
  wake: number;
  /** Perf: data pages per CPU. */
  pages: number;
  consumerCpu: number;
  producerCpu: number;
}

async function tsE2e(producer: Producer, obj: BpfObject, kind: 'rb' | 'pb', cfg: E2eCfg): Promise<E2e> {
  const seq0 = bss(obj, kind === 'rb' ? 'rb_seq' : 'pb_seq');
  seqState.expected = seq0;
  seqState.bad = 0;
  seqState.received = 0;
  const drops0 = bss(obj, kind === 'rb' ? 'rb_drops' : 'pb_drops');
  const full0 = bss(obj, kind === 'rb' ? 'rb_full' : 'pb_full');
  let lost = 0;
  const unpin = pinThisThread(cfg.consumerCpu);
  const cb = seqCallback;
  const buf = kind === 'rb' ? new RingBuffer(obj.map('rb'), cb)
    : new PerfBuffer(obj.map('pb'), cb, { pageCount: cfg.pages, wakeupEvents: Math.max(1, cfg.wake), onLost: (_c, k) => { lost += k; } });
  // A full GC before the producer starts, as bench/run.ts gives the tsbpf side before each round:
  // the buffer just mapped 32 MiB (16 MiB twice) of external memory, and V8 answered that pressure
  // with a mark-compact of 6-12 ms within the first milliseconds of the run, long enough for the
  // producer to fill the ring. An application maps its buffers once; this bench maps one per run.
  gc();
  let finished = false;
  const done = producer.run({
    progFd: obj.program(kind === 'rb' ? 'rb_produce' : 'pb_produce').fd, total: cfg.total, chunk: cfg.chunk, withTs: false,
    untilFull: cfg.untilFull, wakeEvery: kind === 'rb' ? cfg.wake : 0, gapUs: 0, cpu: cfg.producerCpu,
  });
  void done.then(() => { finished = true; });
  let tLast = 0;
  let wakes = 0;
  // The libbpf side's loop: poll with a 100 ms timeout, stop once the producer is done. (This was
  // `await Promise.race([poll(-1), done])`, which left one reaction on `done` per poll: tens of
  // thousands of live promises by the end, scavenges of 6-15 ms, and ring overflows during them.)
  try {
    while (!finished) {
      const n = await buf.poll(100);
      if (n > 0) {
        tLast = hrnow();
        wakes++;
      }
    }
    if (buf.consume() > 0) tLast = hrnow();
  } finally {
    buf.close();
    unpin();
  }
  const times = await done;
  return {
    total: cfg.total, received: seqState.received, drops: bss(obj, kind === 'rb' ? 'rb_drops' : 'pb_drops') - drops0,
    full: bss(obj, kind === 'rb' ? 'rb_full' : 'pb_full') - full0, waits: times.waits, lost, bad: seqState.bad, wakes,
    t_start: times.tStart, t_prod_end: times.tEnd, t_last: tLast,
  };
}

/** The producer alone: `total` records in calls of `chunk` on `cpu`, the ring drained between calls (untimed). */
function tsProducerAlone(obj: BpfObject, kind: 'rb' | 'pb', total: number, chunk: number, cpu: number, pages: number, wake: number): number {
  const unpin = pinThisThread(cpu);
  // The rows' one callback: a second function through the drains would make their call sites
  // polymorphic for the end-to-end runs that follow.
  seqState.expected = bss(obj, kind === 'rb' ? 'rb_seq' : 'pb_seq');
  const buf = kind === 'rb' ? new RingBuffer(obj.map('rb'), seqCallback)
    : new PerfBuffer(obj.map('pb'), seqCallback, { pageCount: pages, wakeupEvents: Math.max(1, wake) });
  const prog = obj.program(kind === 'rb' ? 'rb_produce' : 'pb_produce');
  let ns = 0;
  try {
    for (let sent = 0; sent < total; sent += chunk) {
      const ctx = u64args(Math.min(chunk, total - sent), 0, 0, kind === 'rb' ? wake : 0);
      const t0 = hrnow();
      prog.testRunSync({ ctx });
      ns += hrnow() - t0;
      buf.consume();
    }
  } finally {
    buf.close();
    unpin();
  }
  return total / (ns / 1e9);
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
  const done = producer.run({
    progFd: obj.program(kind === 'rb' ? 'rb_produce' : 'pb_produce').fd, total: count, chunk: 1, withTs: true,
    untilFull: false, wakeEvery: 0, gapUs, cpu: -1,
  });
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

  // End to end: the consumer on the first online CPU, the producer on the last (both sides alike).
  const online = onlineCpus();
  const consumerCpu = online.length > 1 ? online[0]! : -1;
  const producerCpu = online.length > 1 ? online[online.length - 1]! : -1;
  const chunk = 20_000;
  const pbPages = 4096; // 16 MiB per CPU: the ring buffer's size
  for (const kind of ['rb', 'pb'] as const) {
    if (!want(`${kind}-e2e`)) continue;
    const label = kind === 'rb' ? 'ringbuf' : 'perfbuf';
    // Powers of two: a multiple of wakeup_events, so that the last perf sample wakes the consumer (a
    // remainder below it would wait for the 100 ms poll timeout, on both sides, and count as time).
    const big = argv.quick ? 1 << 20 : 1 << 22;
    const configs: { name: string; cfg: E2eCfg; target?: number }[] = kind === 'rb' ? [
      { name: 'no drops, kernel wake-ups', cfg: { total: big, chunk, untilFull: true, wake: 0, pages: 0, consumerCpu, producerCpu }, target: 0.85 },
      { name: 'no drops, wake-up every 1024', cfg: { total: big, chunk, untilFull: true, wake: 1024, pages: 0, consumerCpu, producerCpu }, target: 0.85 },
      { name: 'free-running, kernel wake-ups', cfg: { total: big, chunk, untilFull: false, wake: 0, pages: 0, consumerCpu, producerCpu } },
    ] : [
      { name: 'no drops, wake-up per sample', cfg: { total: argv.quick ? 1 << 16 : 1 << 18, chunk, untilFull: true, wake: 1, pages: pbPages, consumerCpu, producerCpu }, target: 0.85 },
      { name: 'no drops, wakeup_events 1024', cfg: { total: big / 2, chunk, untilFull: true, wake: 1024, pages: pbPages, consumerCpu, producerCpu }, target: 0.85 },
      { name: 'free-running, wakeup_events 1024', cfg: { total: big / 2, chunk, untilFull: false, wake: 1024, pages: pbPages, consumerCpu, producerCpu } },
    ];

    // The producer alone, for scale: what the end-to-end rows could reach at best.
    const prodWake = kind === 'rb' ? 0 : 1024;
    const pc: number[][] = [];
    const pt: number[][] = [];
    for (let r = 0; r < rounds; r++) {
      const runC = (): void => {
        const e = libbpf<{ total: number; ns: number }>(bin, objPath, `${kind}-prod`, big, chunk, producerCpu, pbPages, prodWake);
        pc.push([e.total / (e.ns / 1e9)]);
      };
      const runT = (): void => { pt.push([tsProducerAlone(obj, kind, big, chunk, producerCpu, pbPages, prodWake)]); };
      if (r % 2 === 0) { runC(); runT(); } else { runT(); runC(); }
    }
    raw[`${kind}-prod`] = { libbpf: pc, tsbpf: pt };
    rateRow(`${label} producer alone${kind === 'pb' ? ', wakeup_events 1024' : ''} (info)`, pc, pt);

    for (const { name, cfg, target } of configs) {
      const c: E2e[] = [];
      const t: E2e[] = [];
      for (let r = -1; r < rounds; r++) {
        // Round -1 warms up both sides and is not counted.
        const runC = (): void => {
          const e = libbpf<E2e>(bin, objPath, `${kind}-e2e`, cfg.total, cfg.chunk, cfg.untilFull ? 1 : 0, cfg.consumerCpu, cfg.producerCpu, cfg.wake, cfg.pages);
          if (r >= 0) c.push(e);
        };
        const runT = async (): Promise<void> => { const e = await tsE2e(producerFor(), obj, kind, cfg); if (r >= 0) t.push(e); };
        if (r % 2 === 0) { runC(); await runT(); } else { await runT(); runC(); }
      }
      raw[`${kind}-e2e ${name}`] = { cfg, libbpf: c, tsbpf: t };
      const rate = (e: E2e): number => e.received / ((e.t_last - e.t_start) / 1e9);
      const prodRate = (e: E2e): number => e.total / ((e.t_prod_end - e.t_start) / 1e9);
      // A round whose two runs did not deliver the same records compares different work: its ratio
      // is left out (free-running rows; the no-drop rows deliver everything by construction).
      const same = c.map((e, r) => e.received === e.total && t[r]!.received === t[r]!.total);
      rateRow(`${label} e2e, ${name} (${(cfg.total / 1e6).toFixed(1)}M)`, c.map((e) => [rate(e)]), t.map((e) => [rate(e)]), target, same);
      rateRow('  producer rate during it (info)', c.map((e) => [prodRate(e)]), t.map((e) => [prodRate(e)]));
      const sum = (xs: E2e[], f: (e: E2e) => number): number => xs.reduce((a, e) => a + f(e), 0);
      if (cfg.untilFull) {
        infoRow('  producer waits for room (ring full)', 'calls', String(sum(c, (e) => e.waits)), String(sum(t, (e) => e.waits)));
      } else {
        infoRow('  dropped, reported by the BPF side', 'records', String(sum(c, (e) => e.drops)), String(sum(t, (e) => e.drops)));
      }
      infoRow('  wake-ups with records (median per run)', 'polls', fmtRate(quantile(c.map((e) => e.wakes), 0.5)), fmtRate(quantile(t.map((e) => e.wakes), 0.5)));
      if (kind === 'pb') {
        // Every failed output is counted lost by the kernel, including those the producer sends again.
        infoRow('  PERF_RECORD_LOST counted', 'records', String(sum(c, (e) => e.lost)), String(sum(t, (e) => e.lost)));
      }
      const unexplained = (xs: E2e[]): number => sum(xs, (e) => e.total - e.received - e.drops);
      // Perf sequence numbers skip dropped records, so order is only checked where nothing drops.
      const badOrder = (xs: E2e[]): number => sum(xs, (e) => (kind === 'rb' || cfg.untilFull ? e.bad : 0));
      infoRow('  unexplained losses / ordering errors', 'records', `${unexplained(c)} / ${badOrder(c)}`, `${unexplained(t)} / ${badOrder(t)}`,
        unexplained(t) === 0 && badOrder(t) === 0 ? 'ok = 0' : 'MISS = 0');
    }
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
