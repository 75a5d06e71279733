// A fuzz worker process (forked by campaign.ts): runs inputs start, start+step, ... through the targets
// and reports statistics and findings over IPC. Before each input and each stage it writes the input's
// index, the stage and the start time to its progress file, so the campaign's watchdog can tell which
// input and stage hung or ballooned, and kill and restart us. A process, not a thread: killing it
// releases everything it held (a thread's mappings would outlive it), and a crash (SIGSEGV) or an
// out-of-memory abort in it is a finding, not the end of the campaign.
//
// Memory: the kernel's peak-RSS counter (VmHWM) is reset before each stage (/proc/self/clear_refs
// "5") and read after it, so a stage that made the process balloon for a moment is caught even if
// its allocations were freed before we looked.

import { openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
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

async function main(cfg: WorkerConfig): Promise<void> {
  const send = (m: WorkerMessage): void => {
    process.send!(m);
  };
  const progressFd = openSync(cfg.progressFile, 'r+');
  const slots = new Int32Array(PROGRESS.SLOTS).fill(-1);
  const slotBytes = new Uint8Array(slots.buffer);
  const publish = (): void => {
    writeSync(progressFd, slotBytes, 0, slotBytes.length, 0);
  };
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
    send({ type: 'stats', delta });
    delta = emptyDelta();
  };

  // Per-stage peak memory: the worst stage of the current input.
  let rssBefore = 0;
  let worst: { stage: string; grew: number } = { stage: '', grew: 0 };
  const hooks: StageHooks = {
    start(stage) {
      slots[PROGRESS.STAGE] = STAGES.indexOf(stage as (typeof STAGES)[number]);
      publish();
      if (canTrackMemory) {
        rssBefore = process.memoryUsage.rss();
        resetHwm();
      }
    },
    end(stage) {
      slots[PROGRESS.STAGE] = -1;
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
    const started = Date.now();
    slots[PROGRESS.INPUT_START] = started - cfg.t0;
    slots[PROGRESS.POS] = k;
    slots[PROGRESS.INDEX] = i;
    slots[PROGRESS.STAGE] = -1;
    publish();
    // A bug in a mutator is the harness's, not the parsers': report it and go on with the next input.
    let input: ReturnType<typeof makeInput>;
    try {
      input = makeInput(layouts, cfg.campaignSeed, i);
    } catch (e) {
      send({
        type: 'finding', index: i, seed: '(harness)', labels: [], size: 0,
        finding: { stage: 'mutate', signature: `harness | ${(e as Error).message}`, message: `mutator failed: ${(e as Error).message}`, stack: String((e as Error).stack) },
      });
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
    slots[PROGRESS.INDEX] = -1;
    publish();
    const ms = Date.now() - started;
    if (ms > delta.slowest[0]) delta.slowest = [ms, i];
    const size = input.bytes.length + (input.ext?.length ?? 0);
    if (worst.grew / 2 ** 20 > delta.peak[0]) delta.peak = [worst.grew / 2 ** 20, i, worst.stage];
    if (canTrackMemory && worst.grew > (cfg.memBaseMb * 2 ** 20) + cfg.memPerByte * size) {
      send({ type: 'memory', index: i, stage: worst.stage, seed: input.seed.name, labels: input.labels, size, grewMb: worst.grew / 2 ** 20 });
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
      send({ type: 'finding', index: i, seed: input.seed.name, labels: input.labels, size, finding: f });
    }
    // After every input, and let the event loop run so that IPC messages leave: a worker killed by the
    // watchdog then loses nothing but its current input.
    flush();
    await new Promise((r) => setImmediate(r));
  }
  flush();
  // Disconnect once the last message is out; the process then exits by itself.
  process.send!({ type: 'done', next: k } satisfies WorkerMessage, () => process.disconnect());
}

process.once('message', (cfg: WorkerConfig) => {
  void main(cfg);
});
