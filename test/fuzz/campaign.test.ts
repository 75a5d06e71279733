// The CI fuzz campaign: a fixed seed and a fixed number of inputs mutated from the test objects, run
// through open (ELF, BTF, .BTF.ext, spec), subprogram linking, CO-RE planning and a full BTF workout.
// Every input must give a valid result or a BpfError; none may hang, crash the process or make memory
// balloon. Bounded by
// time as well, so a slow machine runs fewer inputs instead of timing out (at least MIN_INPUTS).
//
// The long campaigns are run by hand (`npm run fuzz`) and documented in docs/fuzzing.md.
//
// Every stage runs, with no finding tolerated: the C dumper (btf.dumpC) and skeleton generation used to
// overflow the stack on BTF type loops; both now throw a ParseError naming the type (docs/fuzzing.md).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfError, ParseError } from '../../src/index.js';
import { formatReport, runCampaign } from './campaign.js';
import { buildCorpus, makeInput, layoutSeeds } from './corpus.js';
import { invariantViolation } from './targets.js';

const SEED = 0x75b9f;
const COUNT = Number(process.env.TSBPF_FUZZ_COUNT ?? 2000);
const TIME_MS = Number(process.env.TSBPF_FUZZ_SECONDS ?? 60) * 1000;
const MIN_INPUTS = Math.min(COUNT, 300);
const SKIP: string[] = [];

const seeds = buildCorpus((l) => console.log(l));

test('the seeds are the fixed default list, and inputs are reproducible from (seed, index)', () => {
  assert.ok(seeds.filter((s) => s.kind === 'object').length >= 9, seeds.map((s) => s.name).join(', '));
  const layouts = layoutSeeds(seeds);
  const a = makeInput(layouts, SEED, 1234);
  const b = makeInput(layouts, SEED, 1234);
  assert.equal(a.labels, b.labels);
  assert.equal(a.bytes, b.bytes);
});

test('the invariant: BpfErrors pass; anything else, or a BpfError hiding a TypeError, is a finding', () => {
  assert.is(invariantViolation(new ParseError('bad', { section: '.BTF' })), undefined);
  assert.ok(invariantViolation(new TypeError('x is undefined')));
  assert.ok(invariantViolation(new RangeError('Invalid typed array length')));
  assert.ok(invariantViolation(new BpfError('wrapped', { cause: new TypeError('oops') })));
  assert.ok(invariantViolation(new ParseError('internal error while processing the object: x')));
  assert.ok(invariantViolation(new BpfError('  ')));
});

test('the harness catches a TypeError, a hang, a memory spike and a SIGSEGV (each injected on purpose) and goes on', async () => {
  for (const what of ['throw', 'hang', 'memory', 'segv'] as const) {
    const r = await runCampaign({
      // Filling 384 MiB can take seconds on a loaded machine: only the hang case gets a short budget.
      seed: SEED, count: 5, timeMs: 60_000, workers: 1, perInputMs: what === 'hang' ? 1500 : 30_000, skip: SKIP, seeds, memBaseMb: 64, memPerByte: 16,
      inject: { index: 2, what },
    });
    const kinds = r.findings.map((f) => `${f.kind}@${f.first.index}:${f.stage}`);
    const want = { throw: 'crash', hang: 'hang', memory: 'memory', segv: 'worker-died' }[what];
    assert.equal(kinds, [`${want}@2:selftest`], `${what}: ${kinds.join(', ')}`);
    assert.is(r.inputs, what === 'hang' || what === 'segv' ? 4 : 5, 'the other inputs still ran');
  }
});

test(`fixed-seed campaign (${COUNT} inputs, at most ${TIME_MS / 1000} s): no crash, no hang, no memory blow-up`, async () => {
  const r = await runCampaign({ seed: SEED, count: COUNT, timeMs: TIME_MS, workers: 1, perInputMs: 10_000, skip: SKIP, seeds, heapMb: 512 });
  console.log(formatReport(r));
  assert.equal(r.findings.map((f) => `[${f.kind}] ${f.signature} (input ${f.first.index}: ${f.first.message.split('\n')[0]})`), []);
  assert.ok(r.inputs >= MIN_INPUTS, `only ${r.inputs} inputs ran`);
  // The mutations must reach deep, not just break the ELF header: each stage saw successes and errors.
  for (const stage of ['open', 'link', 'btf.parse', 'btf.decode', 'btf.ext']) {
    const s = r.stages[stage];
    assert.ok(s && s.ok > 0 && s.error > 0, `${stage}: ${JSON.stringify(s)}`);
  }
  // Per-type stages count an input as 'error' when any type has no size (every FUNC): they just must run.
  assert.ok((r.stages['btf.resolveSize']?.error ?? 0) > 0);
  assert.ok((r.stages.core?.ok ?? 0) > 0, `CO-RE planning ran: ${JSON.stringify(r.stages.core)}`);
});

test.run();
