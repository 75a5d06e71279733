// A fuzz worker thread: runs inputs start, start+step, ... through the targets and reports statistics
// and findings to the campaign. Before each input and each stage it publishes the input's index, the
// stage and their start times in shared memory, so the campaign's watchdog can tell which input and
// stage hung (and kill and restart us).
//
// Memory: the kernel's peak-RSS counter (VmHWM) is reset before each stage (/proc/self/clear_refs
// "5") and read after it, so a stage that made the process balloon for a moment is caught even if
// its allocations were freed before we looked.

import { readFileSync, writeFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { Btf } from '../../btf/index.js';
import { ElfFile } from '../../elf/index.js';
import { layoutSeeds, makeInput, type Seed } from './corpus.js';
import { PROGRESS, type StatsDelta, type WorkerConfig, type WorkerMessage } from './protocol.js';
import { loadExtras, newRecorder, runBtf, runObject, runSelfTest, STAGES, type StageHooks } from './targets.js';

function emptyDelta(): StatsDelta {
  return { inputs: 0, byKind: {}, stages: {}, labels: {}, errors: {}, bytes: 0, slowest: [0, -1], times: {}, peak: [0, -1, ''] };
}

function checksum(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

function readHwm(): number {
  const m = /VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function resetHwm(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

async function main(): Promise<void> {
  const cfg = workerData as WorkerConfig;
  const port = parentPort!;
  const progress = new Int32Array(cfg.progress);
  const layouts = layoutSeeds(cfg.seeds);
  const extras = await loadExtras(cfg.useVmlinux, cfg.skip);
  const seedBtf = new Map<Seed, Btf | undefined>();
  const cleanBtf = (seed: Seed): Btf | undefined => {
    if (!seedBtf.has(seed)) {
      const sec = ElfFile.parse(seed.bytes).section('.BTF');
      seedBtf.set(seed, sec ? Btf.parse(sec.data.slice()) : undefined);
    }
    return seedBtf.get(seed);
  };
  const canTrackMemory = resetHwm();

  let delta = emptyDelta();
  const flush = (): void => {
    port.postMessage({ type: 'stats', delta } satisfies WorkerMessage);
    delta = emptyDelta();
  };

  // Per-stage peak memory: the worst stage of the current input.
  let rssBefore = 0;
  let worst: { stage: string; grew: number } = { stage: '', grew: 0 };
  const hooks: StageHooks = {
    start(stage) {
      Atomics.store(progress, PROGRESS.STAGE, STAGES.indexOf(stage as (typeof STAGES)[number]));
      if (canTrackMemory) {
        rssBefore = process.memoryUsage.rss();
        resetHwm();
      }
    },
    end(stage) {
      Atomics.store(progress, PROGRESS.STAGE, -1);
      if (canTrackMemory) {
        const grew = readHwm() - rssBefore;
        if (grew > worst.grew) worst = { stage, grew };
      }
    },
  };

  let k = cfg.start;
  for (; k < cfg.end && Date.now() < cfg.deadline; k += cfg.step) {
    const i = cfg.indices ? cfg.indices[k]! : k;
    worst = { stage: '', grew: 0 };
    Atomics.store(progress, PROGRESS.INPUT_START, Date.now() - cfg.t0);
    Atomics.store(progress, PROGRESS.POS, k);
    Atomics.store(progress, PROGRESS.INDEX, i);
    // A bug in a mutator is the harness's, not the parsers': report it and go on with the next input.
    let input: ReturnType<typeof makeInput>;
    try {
      input = makeInput(layouts, cfg.campaignSeed, i);
    } catch (e) {
      port.postMessage({
        type: 'finding', index: i, seed: '(harness)', labels: [], size: 0,
        finding: { stage: 'mutate', signature: `harness | ${(e as Error).message}`, message: `mutator failed: ${(e as Error).message}`, stack: String((e as Error).stack) },
      } satisfies WorkerMessage);
      continue;
    }

    // The parsers must never write to their input (Btf.parse even keeps views on it), and nothing else
    // may write to memory they hold: a checksum before and after catches both.
    const sumBefore = checksum(input.bytes);
    const rec = newRecorder(hooks, extras.skip);
    if (cfg.inject?.index === i) runSelfTest(rec, cfg.inject.what);
    if (input.kind === 'object') {
      runObject(rec, input.bytes, cleanBtf(input.seed), extras);
      // When the BTF itself was mutated, also run it through everything (open stops at its first problem).
      if (input.labels.some((l) => l.startsWith('btf.') || l.startsWith('ext.'))) {
        let btfBytes: Uint8Array | undefined;
        let extBytes: Uint8Array | undefined;
        try {
          const elf = ElfFile.parse(input.bytes);
          btfBytes = elf.section('.BTF')?.data.slice();
          extBytes = elf.section('.BTF.ext')?.data.slice();
        } catch {
          // The ELF around it broke; open already covered that.
        }
        if (btfBytes) runBtf(rec, btfBytes, extBytes, extras);
      }
    } else {
      runBtf(rec, input.bytes, input.ext, extras);
    }

    if (checksum(input.bytes) !== sumBefore) {
      rec.result.findings.push({
        stage: 'input', signature: 'input | the input bytes changed while being processed',
        message: 'the input bytes changed while being processed (a parser wrote to its input, or memory was corrupted)', stack: '',
      });
    }
    Atomics.store(progress, PROGRESS.INDEX, -1);
    const ms = Date.now() - cfg.t0 - Atomics.load(progress, PROGRESS.INPUT_START);
    if (ms > delta.slowest[0]) delta.slowest = [ms, i];
    const size = input.bytes.length + (input.ext?.length ?? 0);
    if (worst.grew / 2 ** 20 > delta.peak[0]) delta.peak = [worst.grew / 2 ** 20, i, worst.stage];
    if (canTrackMemory && worst.grew > (cfg.memBaseMb * 2 ** 20) + cfg.memPerByte * size) {
      port.postMessage({
        type: 'memory', index: i, stage: worst.stage, seed: input.seed.name, labels: input.labels, size, grewMb: worst.grew / 2 ** 20,
      } satisfies WorkerMessage);
    }

    const r = rec.result;
    delta.inputs++;
    delta.bytes += size;
    delta.byKind[input.kind] = (delta.byKind[input.kind] ?? 0) + 1;
    for (const l of input.labels) delta.labels[l] = (delta.labels[l] ?? 0) + 1;
    for (const [stage, status] of Object.entries(r.stages)) {
      const s = (delta.stages[stage] ??= { ok: 0, error: 0, crash: 0 });
      s[status]++;
    }
    for (const [stage, t] of Object.entries(r.times)) delta.times[stage] = (delta.times[stage] ?? 0) + t;
    for (const e of r.errors) delta.errors[e] = (delta.errors[e] ?? 0) + 1;
    for (const f of r.findings) {
      port.postMessage({ type: 'finding', index: i, seed: input.seed.name, labels: input.labels, size, finding: f } satisfies WorkerMessage);
    }
    // After every input, so that a worker killed by the watchdog loses nothing (a message costs microseconds).
    flush();
  }
  flush();
  port.postMessage({ type: 'done', next: k } satisfies WorkerMessage);
}

await main();
