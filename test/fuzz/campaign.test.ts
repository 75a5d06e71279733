// The CI fuzz campaign: a fixed seed and a fixed number of inputs mutated from the test objects, run
// through open (ELF, BTF, .BTF.ext, spec), subprogram linking, CO-RE planning and a full BTF workout.
// Every input must give a valid result or a BpfError; none may hang or make memory balloon. Bounded by
// time as well, so a slow machine runs fewer inputs instead of timing out (at least MIN_INPUTS).
//
// The long campaigns are run by hand (`npm run fuzz`) and documented in docs/fuzzing.md.
//
// Known findings in code owned by the skeleton work (see docs/fuzzing.md, reported to its owner):
// - btf.dumpC (the C header dumper) overflows the stack on type loops and runs for minutes (and out of
//   memory) on huge member offsets: skipped here, since each hang costs seconds. Remove once fixed.
// - skeleton generation overflows the stack on type loops: still run, and that one finding tolerated
//   (KNOWN), so that anything new in it fails the test. Remove once fixed.

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
const SKIP = ['btf.dumpC'];
const KNOWN = [/^skeleton \| RangeError \| Maximum call stack size exceeded \|/];

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

test('the harness catches a crash, a hang and a memory spike (each injected on purpose) and goes on', async () => {
  for (const what of ['throw', 'hang', 'memory'] as const) {
    const r = await runCampaign({
      // Filling 384 MiB can take seconds on a loaded machine: only the hang case gets a short budget.
      seed: SEED, count: 5, timeMs: 60_000, workers: 1, perInputMs: what === 'hang' ? 1500 : 30_000, skip: SKIP, seeds, memBaseMb: 64, memPerByte: 16,
      inject: { index: 2, what },
    });
    const kinds = r.findings.map((f) => `${f.kind}@${f.first.index}:${f.stage}`);
    const want = what === 'throw' ? 'crash@2:selftest' : what === 'hang' ? 'hang@2:selftest' : 'memory@2:selftest';
    assert.equal(kinds, [want], `${what}: ${kinds.join(', ')}`);
    assert.is(r.inputs, what === 'hang' ? 4 : 5, 'the other inputs still ran');
  }
});

test(`fixed-seed campaign (${COUNT} inputs, at most ${TIME_MS / 1000} s): no crash, no hang, no memory blow-up`, async () => {
  const r = await runCampaign({ seed: SEED, count: COUNT, timeMs: TIME_MS, workers: 1, perInputMs: 10_000, skip: SKIP, seeds, heapMb: 512 });
  console.log(formatReport(r));
  const known = r.findings.filter((f) => f.kind === 'crash' && KNOWN.some((k) => k.test(f.signature)));
  if (known.length) console.log(`known findings tolerated (reported to their owners): ${known.map((f) => `${f.signature} ×${f.count}`).join('; ')}`);
  const fresh = r.findings.filter((f) => !known.includes(f));
  assert.equal(fresh.map((f) => `[${f.kind}] ${f.signature} (input ${f.first.index}: ${f.first.message.split('\n')[0]})`), []);
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
