// Differential test: externs.bpf.c (kconfig, ksyms, kfuncs) through tsbpf and libbpf.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { differential } from './support/differential.js';
import { differences, mapDump } from './support/diff.js';
import { externsScenario } from './support/scenarios.js';

const s = externsScenario();
// The .kconfig layout is the loader's own business (programs reach it through relocations), so the
// main comparison checks its attributes only; the test below asks for libbpf's exact layout.
const d = differential(test, s, {
  layoutFree: ['.kconfig'],
  tagExclude: {
    // libbpf 1.1 leaves a call to an unresolved weak kfunc as a kfunc call with imm 0; libbpf >= 1.2
    // poisons it into an invalid helper call (imm 2002000000 + extern index). Either is dead code.
    weak_kfunc: 'unresolved weak kfunc encoding differs between libbpf versions',
  },
});

test('externs: .kconfig has the same layout and contents as libbpf\'s', async () => {
  const a = d.libbpf();
  const b = (await d.tsbpf()).outcome;
  assert.equal(mapDump(b, '.kconfig'), mapDump(a, '.kconfig'));
  assert.equal(differences(s, a, b), []);
});

test.run();
