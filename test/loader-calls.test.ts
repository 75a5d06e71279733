// Differential test: calls.bpf.c (subprograms, callbacks, tail calls) through tsbpf and libbpf.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfObject } from '../src/index.js';
import { differential } from './support/differential.js';
import { packet } from './support/diff.js';
import { fdOf } from './support/tsbpf-side.js';
import { callsScenario } from './support/scenarios.js';

const { objPath } = differential(test, callsScenario);

test('calls: a program stays usable when the others in its section are not loaded', async () => {
  const obj = BpfObject.open(objPath);
  try {
    for (const [name, p] of obj.programs) p.autoload = name === 'calc_nested' || name === 'calc_xdp';
    await obj.load();
    assert.is((await obj.programs.get('calc_nested')!.testRun({ data: packet(0, 0, 4) })).retval, 16 + 13);
    assert.ok(fdOf(obj.programs.get('calc_square')!) < 0, 'a program with autoload off has no fd');
  } finally {
    obj.close();
  }
});

test.run();
