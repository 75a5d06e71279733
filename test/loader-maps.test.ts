// Differential test: maps.bpf.c (BTF-defined maps of every kind) through tsbpf and through libbpf.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfError, BpfObject } from '../src/index.js';
import { differential } from './support/differential.js';
import { fdinfo, hex, MAP_TYPE, packet, possibleCpus, u32, u64 } from './support/diff.js';
import { mapsScenario } from './support/scenarios.js';
import { fdOf } from './support/tsbpf-side.js';

const { objPath } = differential(test, mapsScenario);

test('maps: attributes from BTF are visible before load, kernel fds after', async () => {
  const obj = BpfObject.open(objPath);
  try {
    const hash = obj.maps.get('hash_map')!;
    assert.ok(hash, 'hash_map');
    assert.is(hash.type, MAP_TYPE.HASH);
    assert.is(hash.keySize, 4);
    assert.is(hash.valueSize, 8);
    assert.is(hash.maxEntries, 16);
    assert.is(obj.maps.get('bloom')!.type, MAP_TYPE.BLOOM_FILTER);
    assert.is(obj.maps.get('lpm_trie')!.keySize, 8);
    assert.ok(!obj.maps.has('outer_template.inner'), 'inner map templates are not user maps');
    assert.ok(obj.programs.has('hash_add'));
    await obj.load();
    for (const [name, m] of obj.maps) {
      assert.ok(fdOf(m) >= 0, `${name} has an fd`);
      const info = fdinfo(m.fd);
      assert.is(Number(info.map_type), m.type, `${name}: type matches the kernel's`);
      assert.is(Number(info.key_size), m.keySize, `${name}: key size matches the kernel's`);
      assert.is(Number(info.value_size), m.valueSize, `${name}: value size matches the kernel's`);
      assert.is(Number(info.max_entries), m.maxEntries, `${name}: max_entries matches the kernel's`);
    }
    assert.is(obj.maps.get('perf_events')!.maxEntries, possibleCpus());
  } finally {
    obj.close();
  }
});

test('maps: user-space map operations', async () => {
  const obj = BpfObject.open(objPath);
  try {
    await obj.load();
    const hash = obj.maps.get('hash_map')!;
    hash.update(u32(1), u64(10));
    hash.update(u32(2), u64(20));
    assert.is(hex(hash.lookup(u32(1)) as Uint8Array), hex(u64(10)));
    assert.is(hash.lookup(u32(3)), undefined);
    assert.equal([...hash.keys()].map((k) => hex(k)).sort(), [hex(u32(1)), hex(u32(2))]);
    const r = await obj.programs.get('hash_add')!.testRun({ data: packet(2, 0, 5) });
    assert.is(r.retval, 25);
    assert.is(hex(hash.lookupAndDelete(u32(2)) as Uint8Array), hex(u64(25)));
    assert.is(hash.lookup(u32(2)), undefined);
    hash.delete(u32(1));
    assert.equal([...hash.keys()], []);

    const pc = obj.maps.get('percpu_array')!;
    // lookup gives libbpf's flat layout (possible CPUs × roundup(value_size, 8)); lookupPerCpu splits it.
    const flat = pc.lookup(u32(0))!;
    assert.is(flat.length, possibleCpus() * ((pc.valueSize + 7) & ~7));
    const vals = pc.lookupPerCpu(u32(0))!;
    assert.is(vals.length, possibleCpus(), 'per-CPU lookup returns one value per CPU');
    assert.ok(vals.every((v) => v.length === pc.valueSize));

    const q = obj.maps.get('queue')!;
    assert.is(q.lookupAndDelete(undefined), undefined, 'empty queue pops nothing');
    await obj.programs.get('push_both')!.testRun({ data: packet(0, 0, 9) });
    assert.is(hex(q.lookupAndDelete(undefined) as Uint8Array), hex(u64(9)));

    let threw: unknown;
    try {
      obj.maps.get('array_map')!.update(u32(100), u64(1));
    } catch (e) {
      threw = e;
    }
    assert.ok(threw instanceof BpfError, 'out-of-range array update throws a BpfError');
    assert.is((threw as BpfError).errno, 7 /* E2BIG */);
  } finally {
    obj.close();
  }
});

test.run();
