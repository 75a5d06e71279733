// Differential test: calls.bpf.c (subprograms, callbacks, tail calls) through tsbpf and libbpf.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { differential } from './support/differential.js';
import { packet } from './support/diff.js';
import { fdOf } from './support/tsbpf-side.js';
import { callsScenario } from './support/scenarios.js';
import { compiled } from './support/skeleton.js';
import * as calls from './skel/calls.skel.js';

differential(test, callsScenario);
const { open } = compiled(calls);

test('calls: a program stays usable when the others in its section are not loaded', async () => {
  using skel = open();
  for (const [name, p] of Object.entries(skel.progs)) p.autoload = name === 'calc_nested' || name === 'calc_xdp';
  await skel.load();
  assert.is((await skel.progs.calc_nested.testRun({ data: packet(0, 0, 4) })).retval, 16 + 13);
  assert.ok(fdOf(skel.progs.calc_square) < 0, 'a program with autoload off has no fd');
});

test.run();
