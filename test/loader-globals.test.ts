// Differential test: globals.bpf.c (.data, .rodata, .bss, custom sections, strings) through tsbpf
// and through libbpf, with and without values written into the images before load.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfObject } from '../src/index.js';
import { differential } from './support/differential.js';
import { hex, packet } from './support/diff.js';
import { refRun } from './support/ref.js';
import { globalsDefaultsScenario, globalsSetupScenario } from './support/scenarios.js';

const { objPath } = differential(test, globalsDefaultsScenario);
differential(test, globalsSetupScenario);
differential(test, { ...globalsSetupScenario, name: 'globals-setup (opened from bytes)' }, { openFrom: 'bytes', tags: false });

test('globals: initial images before load equal libbpf\'s', () => {
  const ref = refRun(objPath, ['images']).lines.filter((l) => l.cmd === 'image');
  assert.ok(ref.length >= 6);
  const obj = BpfObject.open(objPath);
  try {
    for (const l of ref) {
      const m = obj.maps.get(String(l.name));
      assert.ok(m, `tsbpf has map ${String(l.name)}`);
      assert.is(hex(m.initialValue), l.value, `${String(l.name)} initial image`);
    }
  } finally {
    obj.close();
  }
});

test('globals: rodata written through initialValue changes the program result', async () => {
  const obj = BpfObject.open(new Uint8Array(readFileSync(objPath)));
  try {
    const ro = obj.maps.get('.rodata')!;
    const img = ro.initialValue;
    new DataView(img.buffer, img.byteOffset).setUint32(0, 11, true); // cfg_mult
    Reflect.set(ro, 'initialValue', img);
    await obj.load();
    const r = await obj.programs.get('compute')!.testRun({ data: packet(0, 0, 3) });
    assert.is(r.retval, 3 * 11 + 100);
    assert.ok(r.data instanceof Uint8Array && r.data.length === 64, 'data out has the packet size');
  } finally {
    obj.close();
  }
});

test.run();
