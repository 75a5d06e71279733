// The libbpf side of the differential tests, on its own: builds ref-run, runs every scenario through
// libbpf and checks the absolute expectations. This proves the test programs and the expectations
// are right, independently of tsbpf.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileBpf } from './support/compile.js';
import { runLibbpf, type Scenario } from './support/diff.js';
import { refRun } from './support/ref.js';
import {
  callsScenario, externsScenario, globalsDefaultsScenario, globalsSetupScenario, mapsScenario,
  rejectedDefaultScenario, rejectedDerefScenario, rejectedLoopScenario,
} from './support/scenarios.js';

const scenarios: Scenario[] = [
  mapsScenario, globalsDefaultsScenario, globalsSetupScenario, callsScenario, externsScenario(),
  rejectedDefaultScenario, rejectedDerefScenario, rejectedLoopScenario,
];

for (const s of scenarios) {
  test(`libbpf: ${s.name}`, () => {
    const o = runLibbpf(s, compileBpf(s.object));
    s.expect?.(o);
  });
}

test('ref-run: open lists maps and programs; a second run gives the same program tags', () => {
  const obj = compileBpf('calls');
  const a = refRun(obj, ['progs']);
  const b = refRun(obj, ['progs']);
  const open = a.lines[0]!;
  assert.is(open.cmd, 'open');
  assert.equal([...(open.maps as string[])].sort(), ['.bss', 'jump_table', 'numbers']);
  const tags = (r: typeof a): string[] => r.lines.filter((l) => l.cmd === 'prog').map((l) => String(l.tag));
  assert.is(tags(a).length, 9);
  assert.equal(tags(a), tags(b));
});

test('ref-run: exit status 1 when a command fails, and the verifier log on stderr', () => {
  const r = refRun(compileBpf('rejected'), ['autoload', 'unchecked_lookup', '1', 'load']);
  assert.is(r.status, 1);
  assert.equal(r.lines[1], { cmd: 'load', err: -13 });
  assert.match(r.stderr, 'BEGIN PROG LOAD LOG');
});

test.run();
