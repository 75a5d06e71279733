// The committed skeletons of the test programs (test/skel/, made and checked by test/support/skeleton.ts)
// are what `tsbpf gen skeleton` makes of the current objects, so no test reads a variable at an offset
// of an older build; a stale or missing one is refused with the command that regenerates it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_SRC_DIR } from './support/compile.js';
import { committedSkeletons, compiled, SKEL_DIR, staleness } from './support/skeleton.js';
import * as lifecycle from './skel/lifecycle.skel.js';

test('every committed test skeleton has its program and matches the object', () => {
  const names = committedSkeletons();
  assert.ok(names.includes('lifecycle') && names.length >= 6, `skeletons: ${names.join(', ')}`);
  for (const name of names) {
    assert.ok(existsSync(join(BPF_SRC_DIR, `${name}.bpf.c`)), `test/skel/${name}.skel.ts has no test/bpf/${name}.bpf.c`);
    assert.is(staleness(name), undefined);
  }
});

test('a stale or missing skeleton is refused, naming the command that regenerates it', () => {
  assert.is(compiled(lifecycle), lifecycle);
  const text = readFileSync(join(SKEL_DIR, 'lifecycle.skel.ts'), 'utf8');
  // The same skeleton after `runs` moved: the layout check must see it.
  const moved = text.replace("['runs', 0, t.u64]", "['runs', 8, t.u64]");
  assert.is.not(moved, text);
  assert.match(staleness('lifecycle', moved) ?? '', 'test/skel/lifecycle.skel.ts is stale; run: npx tsx test/support/skeleton.ts');
  assert.throws(() => compiled({ SKELETON: { ...lifecycle.SKELETON, name: 'no_such_program' } }),
    /test\/skel\/no-such-program\.skel\.ts is missing; run: npx tsx test\/support\/skeleton\.ts no-such-program/);
});

test.run();
