// Pure parts of the object spec, no kernel: names and sizes computed the way libbpf computes them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { essentialName } from '../src/spec/externs.js';
import { internalMapName, roundRingbufSize } from '../src/spec/parse-object.js';

test('essential names drop a ___flavor suffix only when it is one', () => {
  assert.is(essentialName('task_struct___old'), 'task_struct');
  assert.is(essentialName('a___b'), 'a');
  assert.is(essentialName('bpf_task_acquire___x'), 'bpf_task_acquire');
  assert.is(essentialName('x____y'), 'x____y', 'four underscores are no separator');
  assert.is(essentialName('___x'), '___x');
  assert.is(essentialName('plain_name'), 'plain_name');
  assert.is(essentialName('s___'), 's___');
});

test('internal map names follow libbpf (object prefix, 7-char suffix room, custom sections as is)', () => {
  assert.is(internalMapName('my_object_name', '.rodata'), 'my_objec.rodata');
  assert.is(internalMapName('my_object_name', '.bss'), 'my_objec.bss');
  assert.is(internalMapName('my_object_name', '.kconfig'), 'my_obje.kconfig');
  assert.is(internalMapName('obj', '.rodata.abracadabra'), '.rodata.abracad');
  assert.is(internalMapName('a-b', '.data'), 'a_b.data');
});

test('ringbuf sizes round up to a power-of-2 number of pages', () => {
  assert.is(roundRingbufSize(0), 0);
  assert.is(roundRingbufSize(1), 4096);
  assert.is(roundRingbufSize(4096), 4096);
  assert.is(roundRingbufSize(4097), 8192);
  assert.is(roundRingbufSize(3 * 4096), 4 * 4096);
  assert.is(roundRingbufSize(256 * 1024), 256 * 1024);
});

test.run();
