// load() creates plain maps at once and verifies programs concurrently on the libuv threadpool;
// loadSync() does the same steps one at a time. Both must give the same kernel objects and, when
// something fails, the same error: that of the first failing map or program in object order. And a
// close() while load() is under way must neither close fds the kernel is still reading nor leak.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BpfError, BpfObject, StateError, VerifierError } from '../src/index.js';
import { liveFds, mapInfo, progInfo } from '../syscalls/index.js';
import { compileBpf } from './support/compile.js';

/** Per program: kernel tag and type; per map: type and sizes. */
function shape(obj: BpfObject): { progs: Record<string, string>; maps: Record<string, string> } {
  const progs: Record<string, string> = {};
  for (const [name, p] of obj.programs) {
    if (!p.loaded) continue;
    const i = progInfo(p.fd, { mapIds: false });
    progs[name] = `${i.type} ${i.tag} ${i.xlatedProgLen}`;
  }
  const maps: Record<string, string> = {};
  for (const [name, m] of obj.maps) {
    const i = mapInfo(m.fd);
    maps[name] = `${i.type} ${i.keySize}/${i.valueSize}/${i.maxEntries} 0x${i.mapFlags.toString(16)} btf ${i.btfKeyTypeId}/${i.btfValueTypeId}`;
  }
  return { progs, maps };
}

for (const name of ['tools-runqlat', 'tools-execsnoop', 'calls', 'maps', 'globals', 'externs']) {
  test(`${name}: load() and loadSync() create the same maps and programs (same kernel tags)`, async () => {
    const path = compileBpf(name);
    const a = BpfObject.open(path);
    const b = BpfObject.open(path);
    try {
      await a.load();
      b.loadSync();
      const sa = shape(a);
      assert.ok(Object.keys(sa.progs).length > 0, 'programs were loaded');
      assert.equal(sa, shape(b));
    } finally {
      a.close();
      b.close();
    }
  });
}

/** What load() or loadSync() threw; the object is closed either way. */
async function loadError(obj: BpfObject, mode: 'async' | 'sync'): Promise<unknown> {
  try {
    if (mode === 'async') await obj.load();
    else obj.loadSync();
  } catch (e) {
    return e;
  } finally {
    obj.close();
  }
  return undefined;
}

test('two refused programs: both loads report the first one in object order', async () => {
  for (const mode of ['async', 'sync'] as const) {
    const fds0 = liveFds().length;
    const obj = BpfObject.open(compileBpf('rejected'));
    obj.program('unchecked_lookup').autoload = true;
    obj.program('endless_loop').autoload = true;
    const err = await loadError(obj, mode);
    assert.instance(err, VerifierError, mode);
    assert.is((err as BpfError).program, 'unchecked_lookup', `${mode}: the first refused program in object order`);
    assert.is(liveFds().length, fds0, `${mode}: every fd is closed again`);
  }
});

// load() creates big maps on the threadpool and small ones inline: refusals of both kinds, in both orders.
const REFUSALS: [string, (o: BpfObject) => void][] = [
  // max_entries 0 is refused (EINVAL): small maps, created inline.
  ['two small maps', (o) => { o.map('percpu_hash').setMaxEntries(0); o.map('lru_hash').setMaxEntries(0); }],
  // Values too big for the kernel (E2BIG): big maps, created on the threadpool by load().
  ['two big maps', (o) => { o.map('percpu_hash').setValueSize(1 << 20); o.map('lru_hash').setValueSize(1 << 30); }],
  ['a big map, then a small one', (o) => { o.map('percpu_hash').setValueSize(1 << 20); o.map('lru_hash').setMaxEntries(0); }],
  ['a small map, then a big one', (o) => { o.map('percpu_hash').setMaxEntries(0); o.map('lru_hash').setValueSize(1 << 30); }],
];

for (const [what, refuse] of REFUSALS) {
  test(`${what} the kernel refuses: the error names the first one in object order, and nothing stays open`, async () => {
    for (const mode of ['async', 'sync'] as const) {
      const fds0 = liveFds().length;
      const obj = BpfObject.open(compileBpf('maps'));
      refuse(obj);
      const err = await loadError(obj, mode);
      assert.instance(err, BpfError, mode);
      assert.is((err as BpfError).map, 'percpu_hash', `${mode}: the first refused map in object order`);
      assert.is((err as BpfError).cmd, 'BPF_MAP_CREATE');
      assert.is(liveFds().length, fds0, `${mode}: every fd is closed again`);
    }
  });
}

test('close() while load() is under way: load rejects, everything is released once the kernel calls return', async () => {
  const fds0 = liveFds().length;
  const obj = BpfObject.open(compileBpf('tools-runqlat'));
  const loading = obj.load();
  obj.close();
  let err: unknown;
  try {
    await loading;
  } catch (e) {
    err = e;
  }
  assert.instance(err, StateError);
  assert.match((err as Error).message, /closed while it was loading/);
  assert.is(liveFds().length, fds0, 'no fd stays open');
  assert.throws(() => obj.program('sched_switch').fd, (e: unknown) => e instanceof StateError);
  assert.not.throws(() => obj.close());
});

test.run();
