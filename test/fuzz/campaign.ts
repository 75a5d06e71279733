// A fuzz campaign: builds the seed corpus, runs inputs [0, count) of a seeded campaign in worker
// processes until the count or the time budget is reached, and collects statistics and findings.
//
// The watchdog: each worker publishes the index, stage and start time of the input it is running. An
// input that runs longer than `perInputMs`, or makes the worker's resident memory pass `rssMb`, gets
// the worker killed and a new one continues after it. On a shared, loaded machine a slow moment is not
// a hang, so every timeout is re-run alone at the end with three times the budget: only one that times
// out again is reported as a hang. A worker that dies by itself (a crash, its heap cap) is reported
// with the input and stage it was in. Workers are processes, so killing one frees all it had mapped.

import { fork } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCorpus, layoutSeeds, makeInput, type Seed } from './corpus.js';
import { STAGES } from './targets.js';
import { PROGRESS, type StatsDelta, type WorkerConfig, type WorkerMessage } from './protocol.js';

const WORKER_PATH = fileURLToPath(new URL('./worker.ts', import.meta.url));

export interface CampaignOptions {
  seed: number;
  /** Inputs to run (indices from..count-1); Infinity for time-bound runs. */
  count: number;
  /** First input index (default 0): to resume a campaign, or to re-run a stretch of it. */
  from?: number;
  /** Wall-clock budget in ms for starting new inputs. */
  timeMs: number;
  workers: number;
  /** An input running longer than this is a hang (confirmed with 3× this when re-run alone). */
  perInputMs: number;
  /** Peak RSS growth allowed for one stage: memBaseMb + memPerByte × input size. */
  memBaseMb?: number;
  memPerByte?: number;
  /** Old-generation heap cap per worker, in MB (default 1024). */
  heapMb?: number;
  /** Resident memory at which a worker is killed and its input reported, in MB (default 3072). */
  rssMb?: number;
  /** Also use vmlinux BTF as a CO-RE target. */
  useVmlinux?: boolean;
  /** Stages not to run. */
  skip?: string[];
  /** Seed from every test/bpf/*.bpf.c, not just the fixed default list. */
  allSeeds?: boolean;
  /** Harness self-test (see WorkerConfig.inject). */
  inject?: WorkerConfig['inject'];
  /** Where to write the inputs of findings (one file per distinct finding). */
  outDir?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Called with the report so far about once a minute (so that a killed campaign leaves its figures). */
  snapshot?: (r: CampaignReport) => void;
  seeds?: Seed[];
}

export interface FindingReport {
  kind: 'crash' | 'hang' | 'memory' | 'worker-died';
  stage: string;
  signature: string;
  count: number;
  first: { index: number; seed: string; labels: string[]; size: number; message: string; stack?: string; file?: string };
}

export interface CampaignReport {
  seed: number;
  inputs: number;
  bytes: number;
  elapsedMs: number;
  seeds: string[];
  byKind: Record<string, number>;
  stages: Record<string, { ok: number; error: number; crash: number }>;
  times: Record<string, number>;
  labels: Record<string, number>;
  errors: Record<string, number>;
  findings: FindingReport[];
  /** Timeouts that completed when re-run alone (a loaded machine, not a hang): [index, stage]. */
  slowNotHang: [number, string][];
  /** The slowest input that completed: [ms, index]. */
  slowest: [number, number];
  /** The largest peak-RSS growth of one stage: [MiB, index, stage]. */
  peak: [number, number, string];
  /** Index of the first input not run (the next campaign can continue there). */
  stoppedAt: number;
}

function merge(into: CampaignReport, d: StatsDelta): void {
  into.inputs += d.inputs;
  into.bytes += d.bytes;
  if (d.slowest[0] > into.slowest[0]) into.slowest = d.slowest;
  if (d.peak[0] > into.peak[0]) into.peak = d.peak;
  for (const [k, v] of Object.entries(d.byKind)) into.byKind[k] = (into.byKind[k] ?? 0) + v;
  for (const [k, v] of Object.entries(d.labels)) into.labels[k] = (into.labels[k] ?? 0) + v;
  for (const [k, v] of Object.entries(d.errors)) into.errors[k] = (into.errors[k] ?? 0) + v;
  for (const [k, v] of Object.entries(d.times)) into.times[k] = (into.times[k] ?? 0) + v;
  for (const [k, v] of Object.entries(d.stages)) {
    const s = (into.stages[k] ??= { ok: 0, error: 0, crash: 0 });
    s.ok += v.ok;
    s.error += v.error;
    s.crash += v.crash;
  }
}

interface Timeout { index: number; stage: string }
interface Died { index: number; stage: string; error: Error }
interface Overrun { index: number; stage: string; rssMb: number }

interface RangeHandlers {
  onMessage(m: WorkerMessage): void;
  onTimeout(t: Timeout): void;
  onMemory(o: Overrun): void;
  onDied(d: Died): void;
}

interface Limits {
  perInputMs: number;
  /** Old-generation heap cap of a worker (--max-old-space-size). */
  heapMb: number;
  /** A worker whose resident memory passes this is killed and its input reported (protects the machine). */
  rssMb: number;
}

/** Runs positions start, start+step, ... < end (inputs of those indices, or cfg.indices[position]) in a
 * worker process, restarting it after a timeout, a memory overrun or a crash. Resolves with the first
 * position not run. */
function runRange(cfg: Omit<WorkerConfig, 'progressFile' | 'start'>, start: number, limits: Limits, h: RangeHandlers): Promise<number> {
  return new Promise((resolveRange) => {
    let next = start;
    const launch = (): void => {
      if (next >= cfg.end || Date.now() >= cfg.deadline) {
        resolveRange(next);
        return;
      }
      const progressFile = join(tmpdir(), `tsbpf-fuzz-${process.pid}-${randomUUID()}.progress`);
      writeFileSync(progressFile, new Uint8Array(new Int32Array(PROGRESS.SLOTS).fill(-1).buffer));
      const child = fork(WORKER_PATH, [], {
        execArgv: ['--import', 'tsx', `--max-old-space-size=${limits.heapMb}`],
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
      child.send({ ...cfg, start: next, progressFile } satisfies WorkerConfig);
      let finished: number | undefined;
      let killed = false;
      const progress = (): Int32Array => {
        try {
          const b = readFileSync(progressFile);
          return new Int32Array(b.buffer, b.byteOffset, PROGRESS.SLOTS);
        } catch {
          return new Int32Array(PROGRESS.SLOTS).fill(-1);
        }
      };
      const stageName = (p: Int32Array): string => STAGES[p[PROGRESS.STAGE]!] ?? 'setup';
      const kill = (): void => {
        killed = true;
        child.kill('SIGKILL');
      };
      const watchdog = setInterval(() => {
        if (killed) return;
        const p = progress();
        const cur = p[PROGRESS.INDEX]!;
        if (cur < 0) return;
        const rssMb = processRssMb(child.pid!);
        if (rssMb > limits.rssMb) {
          h.onMemory({ index: cur, stage: stageName(p), rssMb });
          next = p[PROGRESS.POS]! + cfg.step;
          kill();
        } else if (Date.now() - cfg.t0 - p[PROGRESS.INPUT_START]! > limits.perInputMs) {
          h.onTimeout({ index: cur, stage: stageName(p) });
          next = p[PROGRESS.POS]! + cfg.step;
          kill();
        }
      }, Math.max(20, Math.min(100, limits.perInputMs / 4)));
      child.on('message', (m: WorkerMessage) => {
        if (m.type === 'done') finished = m.next;
        else h.onMessage(m);
      });
      child.on('exit', (code, signal) => {
        clearInterval(watchdog);
        const p = progress();
        rmSync(progressFile, { force: true });
        if (finished !== undefined) {
          resolveRange(finished);
          return;
        }
        if (!killed) {
          // It died by itself: a crash (SIGSEGV, SIGABRT), the heap cap, or an error outside any input.
          const cur = p[PROGRESS.INDEX]!;
          const why = signal ? `killed by ${signal}` : `exit ${code}`;
          h.onDied({ index: cur, stage: stageName(p), error: new Error(`${why}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-6).join(' | ')}` : ''}`) });
          next = cur >= 0 ? p[PROGRESS.POS]! + cfg.step : cfg.end;
        }
        launch();
      });
    };
    launch();
  });
}

/** Resident memory of a process (including shared memory it touched), in MiB; 0 if it is gone. */
function processRssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

export async function runCampaign(opts: CampaignOptions): Promise<CampaignReport> {
  const log = opts.log ?? (() => {});
  const seeds = opts.seeds ?? buildCorpus(log, opts.allSeeds);
  if (!seeds.length) throw new Error('fuzz: no seeds (is clang-16 installed?)');
  const t0 = Date.now();
  const report: CampaignReport = {
    seed: opts.seed, inputs: 0, bytes: 0, elapsedMs: 0, seeds: seeds.map((s) => s.name), byKind: {}, stages: {}, times: {}, labels: {},
    errors: {}, findings: [], slowNotHang: [], slowest: [0, -1], peak: [0, -1, ''], stoppedAt: 0,
  };
  const bySig = new Map<string, FindingReport>();
  const layouts = layoutSeeds(seeds);
  const describe = (index: number): { seed: string; labels: string[]; size: number } => {
    try {
      const input = makeInput(layouts, opts.seed, index);
      return { seed: input.seed.name, labels: input.labels, size: input.bytes.length + (input.ext?.length ?? 0) };
    } catch {
      return { seed: '(harness)', labels: [], size: 0 };
    }
  };

  const record = (kind: FindingReport['kind'], stage: string, signature: string, first: FindingReport['first']): void => {
    const known = bySig.get(signature);
    if (known) {
      known.count++;
      return;
    }
    if (opts.outDir && first.index >= 0 && first.seed !== '(harness)') {
      // The input itself, for `npm run fuzz -- --repro FILE`; it can also be regenerated from seed:index.
      try {
        const input = makeInput(layouts, opts.seed, first.index);
        mkdirSync(opts.outDir, { recursive: true });
        const id = createHash('sha1').update(signature).digest('hex').slice(0, 10);
        const file = join(opts.outDir, `${kind}-${id}.${input.kind === 'object' ? 'o' : 'btf'}`);
        writeFileSync(file, input.bytes);
        if (input.ext) writeFileSync(`${file}.ext`, input.ext);
        writeFileSync(`${file}.txt`, `${kind}: ${signature}\nseed ${opts.seed} index ${first.index} (${first.seed}; ${first.labels.join(', ')})\n${first.message}\n${first.stack ?? ''}\n`);
        first.file = file;
      } catch (e) {
        log(`fuzz: could not save input ${first.index}: ${(e as Error).message}`);
      }
    }
    const f: FindingReport = { kind, stage, signature, count: 1, first };
    bySig.set(signature, f);
    report.findings.push(f);
    log(`fuzz: ${kind} in ${stage} at input ${first.index} (${first.seed}; ${first.labels.join(', ')}): ${first.message.split('\n')[0]}`);
  };

  const n = Math.max(1, opts.workers);
  const limits: Limits = { perInputMs: opts.perInputMs, heapMb: opts.heapMb ?? 1024, rssMb: opts.rssMb ?? 3072 };
  const base = {
    seeds, campaignSeed: opts.seed, step: n, end: opts.count, deadline: t0 + opts.timeMs, t0,
    memBaseMb: opts.memBaseMb ?? 128, memPerByte: opts.memPerByte ?? 64, useVmlinux: opts.useVmlinux ?? false, skip: opts.skip ?? [], inject: opts.inject,
  };
  let lastLog = Date.now();
  let lastSnapshot = Date.now();
  const timeouts: Timeout[] = [];
  const handlers: RangeHandlers = {
    onMessage(m) {
      if (m.type === 'stats') {
        merge(report, m.delta);
        if (opts.snapshot && Date.now() - lastSnapshot > 60_000) {
          lastSnapshot = Date.now();
          report.elapsedMs = Date.now() - t0;
          opts.snapshot(report);
        }
        if (Date.now() - lastLog > 10_000) {
          lastLog = Date.now();
          log(`fuzz: ${report.inputs} inputs, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${report.findings.length} finding(s)`);
        }
      } else if (m.type === 'finding') {
        record('crash', m.finding.stage, m.finding.signature, { index: m.index, seed: m.seed, labels: m.labels, size: m.size, message: m.finding.message, stack: m.finding.stack });
      } else if (m.type === 'memory') {
        record('memory', m.stage, `memory | ${m.stage}`, {
          index: m.index, seed: m.seed, labels: m.labels, size: m.size, message: `peak RSS grew by ${m.grewMb.toFixed(0)} MB in ${m.stage} for a ${m.size}-byte input`,
        });
      }
    },
    onTimeout(t) {
      timeouts.push(t);
    },
    onMemory(o) {
      record('memory', o.stage, `memory | ${o.stage}`, {
        index: o.index, ...describe(o.index), message: `the worker's resident memory reached ${o.rssMb.toFixed(0)} MB in ${o.stage} (limit ${limits.rssMb} MB): killed`,
      });
    },
    onDied(d) {
      const where = d.index >= 0 ? describe(d.index) : { seed: '', labels: [], size: 0 };
      record('worker-died', d.stage, `worker died | ${d.stage} | ${d.error.message.replace(/\d+/g, 'N')}`, {
        index: d.index, ...where, message: `the worker died in ${d.stage}: ${d.error.message}`, stack: d.error.stack,
      });
    },
  };
  const from = opts.from ?? 0;
  const ends = await Promise.all(Array.from({ length: n }, (_, lane) => runRange(base, from + lane, limits, handlers)));
  report.stoppedAt = Math.min(...ends);

  // Confirm timeouts: re-run them one after the other on a single worker (nothing else running), each
  // with three times the budget. Only one that times out again is a hang.
  if (timeouts.length) {
    log(`fuzz: re-running ${timeouts.length} timed-out input(s) alone`);
    const again = new Map<number, string>();
    const indices = timeouts.map((t) => t.index);
    await runRange({ ...base, step: 1, end: indices.length, indices, deadline: Infinity }, 0, { ...limits, perInputMs: limits.perInputMs * 3 }, {
      onMessage() {},
      onTimeout(x) { again.set(x.index, x.stage); },
      onMemory: handlers.onMemory,
      onDied: handlers.onDied,
    });
    for (const t of timeouts) {
      const stage = again.get(t.index);
      if (stage === undefined) {
        report.slowNotHang.push([t.index, t.stage]);
        continue;
      }
      record('hang', stage, `hang | ${stage}`, {
        index: t.index, ...describe(t.index), message: `input ran for more than ${opts.perInputMs * 3} ms (in ${stage}) when re-run alone`,
      });
    }
  }
  report.elapsedMs = Date.now() - t0;
  return report;
}

/** A human summary of a report. */
export function formatReport(r: CampaignReport): string {
  const lines: string[] = [];
  const rate = r.inputs / Math.max(0.001, r.elapsedMs / 1000);
  lines.push(`seed ${r.seed}: ${r.inputs} inputs (${Object.entries(r.byKind).map(([k, v]) => `${v} ${k}`).join(', ')}), ` +
    `${(r.bytes / 2 ** 20).toFixed(0)} MiB, ${(r.elapsedMs / 1000).toFixed(1)} s, ${rate.toFixed(0)}/s, ${r.seeds.length} seeds; ` +
    `slowest completed input ${r.slowest[1]} (${r.slowest[0]} ms); largest memory growth ${r.peak[0].toFixed(0)} MiB (input ${r.peak[1]}, ${r.peak[2]})`);
  lines.push('stage                   ok    error  finding   time (s)');
  for (const [k, v] of Object.entries(r.stages).sort()) {
    lines.push(`${k.padEnd(18)} ${String(v.ok).padStart(8)} ${String(v.error).padStart(8)} ${String(v.crash).padStart(8)} ${((r.times[k] ?? 0) / 1000).toFixed(1).padStart(10)}`);
  }
  const top = Object.entries(r.errors).sort((a, b) => b[1] - a[1]).slice(0, 12);
  lines.push(`errors (expected BpfErrors, top ${top.length}): ${top.map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (r.slowNotHang.length) lines.push(`timeouts that completed when re-run alone (load, not hangs): ${r.slowNotHang.map(([i, s]) => `${i} (${s})`).join(', ')}`);
  lines.push(`findings: ${r.findings.length}`);
  for (const f of r.findings) {
    lines.push(`  [${f.kind}] ×${f.count} ${f.signature}`);
    lines.push(`      first: input ${f.first.index} (${f.first.seed}; ${f.first.labels.join(', ')}): ${f.first.message.split('\n')[0]}`);
    if (f.first.file) lines.push(`      saved: ${f.first.file}`);
  }
  return lines.join('\n');
}
