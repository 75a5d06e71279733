// The object lifecycle on the real kernel: failed loads leave nothing behind, pinning by name reuses or
// refuses pinned maps, sizes can change before load, and the errors users hit first explain themselves.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BTF_KIND, sanitizeBtf } from '../btf/index.js';
import { BpfError, BpfObject, StateError, VerifierError } from '../src/index.js';
import { btfLoad, getNextId, liveFds, mapGetFdById, mapInfo, progGetFdById, progInfo } from '../syscalls/index.js';
import { compileBpf, REPO_ROOT } from './support/compile.js';
import { compiled } from './support/skeleton.js';
import * as lifecycle from './skel/lifecycle.skel.js';

const OBJ = compileBpf('lifecycle');
const { open, openAndLoad } = compiled(lifecycle);
const PIN_ROOT = '/sys/fs/bpf/tsbpf-test-lifecycle';

/**
 * Kernel ids of this object's maps and programs (by name: other test files run in parallel and create
 * their own objects meanwhile).
 */
const OWN_NAMES = new Set(['shared_counts', 'sized', 'lifecycl.bss', 'count_run', 'refused']);
function kernelIds(kind: 'map' | 'prog'): Set<number> {
  const ids = new Set<number>();
  for (let id = getNextId(kind, 0); id; id = getNextId(kind, id)) {
    try {
      const fd = kind === 'map' ? mapGetFdById(id) : progGetFdById(id);
      const name = kind === 'map' ? mapInfo(fd.fd).name : progInfo(fd.fd).name;
      fd.close();
      if (OWN_NAMES.has(name)) ids.add(id);
    } catch {
      // freed meanwhile
    }
  }
  return ids;
}

function cleanPins(): void {
  for (const name of ['shared_counts']) {
    const p = join(PIN_ROOT, name);
    if (existsSync(p)) unlinkSync(p);
  }
}

test.before(cleanPins);
test.after(() => {
  cleanPins();
  try { rmSync(PIN_ROOT, { recursive: true }); } catch { /* not there */ }
});

test('a load that fails in the verifier after maps were created leaves no fd and no kernel object', async () => {
  // Let the kernel finish freeing objects from earlier tests, then take a baseline.
  const fds0 = liveFds().length;
  const maps0 = kernelIds('map');
  const progs0 = kernelIds('prog');
  const skel = open({ pinRootPath: PIN_ROOT });
  skel.progs.refused.autoload = true;
  let err: unknown;
  try {
    await skel.load();
  } catch (e) {
    err = e;
  }
  assert.instance(err, VerifierError);
  const ve = err as VerifierError;
  assert.is(ve.program, 'refused', 'the C function name, not the kernel name');
  assert.is(ve.object, 'lifecycle');
  assert.match(ve.log ?? '', /map_value_or_null|invalid mem access/);
  assert.match(ve.message, /refused/);
  assert.is(liveFds().length, fds0, 'every fd tsbpf opened is closed again');
  // Maps are freed by the kernel asynchronously (RCU); give it a moment.
  for (let i = 0; i < 50; i++) {
    const leftover = [...kernelIds('map')].filter((id) => !maps0.has(id));
    if (!leftover.length) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal([...kernelIds('map')].filter((id) => !maps0.has(id)), [], 'no map outlives the failed load (the pinned one was unpinned or never pinned)');
  assert.equal([...kernelIds('prog')].filter((id) => !progs0.has(id)), [], 'no program outlives the failed load');
  // A failed object can be closed, but not loaded again.
  await assert.not.throws(() => skel.destroy());
  cleanPins();
});

test('a second load is refused, and use after close throws StateError', async () => {
  const skel = await openAndLoad({ pinRootPath: PIN_ROOT });
  try {
    await skel.load();
    assert.unreachable();
  } catch (e) {
    assert.instance(e, StateError);
  }
  const prog = skel.progs.count_run;
  skel.destroy();
  assert.throws(() => prog.fd, (e: unknown) => e instanceof StateError);
  assert.throws(() => skel.maps.sized.lookup(0), (e: unknown) => e instanceof StateError);
  cleanPins();
});

test('pinning by name: the second object reuses the pinned map; an incompatible pin is refused', async () => {
  const a = await openAndLoad({ pinRootPath: PIN_ROOT });
  const pinned = join(PIN_ROOT, 'shared_counts');
  assert.ok(existsSync(pinned), 'pinned at <root>/<name>');
  assert.is(a.maps.shared_counts.map.pinPath, pinned);
  assert.is((await a.progs.count_run.testRun({ data: new Uint8Array(64) })).retval, 1);

  const b = await openAndLoad({ pinRootPath: PIN_ROOT });
  assert.is(mapInfo(b.maps.shared_counts.fd).id, mapInfo(a.maps.shared_counts.fd).id, 'same kernel map');
  assert.is((await b.progs.count_run.testRun({ data: new Uint8Array(64) })).retval, 2, 'state is shared');
  assert.is(a.maps.shared_counts.lookup(1), 2n, "a sees b's update");
  assert.equal([a.bss.runs, b.bss.runs], [1n, 1n], 'each object has its own .bss');
  a.destroy();
  b.destroy();
  assert.ok(existsSync(pinned), 'pins outlive the objects');

  const c = open({ pinRootPath: PIN_ROOT });
  c.maps.shared_counts.maxEntries = 32;
  try {
    await c.load();
    assert.unreachable('an incompatible pinned map was reused');
  } catch (e) {
    assert.instance(e, BpfError);
    assert.match((e as Error).message, /incompatible/);
    assert.match((e as BpfError).advice ?? '', /max_entries 16/);
  } finally {
    c.destroy();
  }
  cleanPins();
});

test('two processes sharing a pinned map see the same data, both ways', async () => {
  const a = await openAndLoad({ pinRootPath: PIN_ROOT });
  try {
    assert.is((await a.progs.count_run.testRun({ data: new Uint8Array(64) })).retval, 1);
    a.maps.shared_counts.update(8, 88n);
    // Another process opens the same object with the same pin root: it reuses the pinned map.
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
      import { BpfObject } from ${JSON.stringify(join(REPO_ROOT, 'src/index.ts'))};
      const o = BpfObject.open(${JSON.stringify(OBJ)}, { pinRootPath: ${JSON.stringify(PIN_ROOT)} });
      await o.load();
      const m = o.map('shared_counts');
      const k = (n) => new Uint8Array(new Uint32Array([n]).buffer);
      const seen = new DataView(m.lookup(k(8)).buffer).getBigUint64(0, true);
      const run = await o.program('count_run').testRun({ data: new Uint8Array(64) });
      m.update(k(7), new Uint8Array(new BigUint64Array([77n]).buffer));
      console.log(JSON.stringify({ seen: String(seen), retval: run.retval }));
      o.close();
    `], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.is(child.status, 0, child.stderr);
    assert.equal(JSON.parse(child.stdout.trim().split('\n').pop()!), { seen: '88', retval: 2 }, "the child sees the parent's write and run");
    assert.is(a.maps.shared_counts.lookup(1), 2n, "the parent sees the child's program run");
    assert.is(a.maps.shared_counts.lookup(7), 77n, "the parent sees the child's write");
  } finally {
    a.destroy();
    cleanPins();
  }
});

test('max_entries and value_size can be changed before load, not after', async () => {
  using skel = open({ pinRootPath: PIN_ROOT });
  const sized = skel.maps.sized.map;
  sized.maxEntries = 64;
  sized.setValueSize(16);
  await skel.load();
  const info = mapInfo(sized.fd);
  assert.is(info.maxEntries, 64);
  assert.is(info.valueSize, 16);
  assert.throws(() => { sized.maxEntries = 8; }, (e: unknown) => e instanceof StateError);
  cleanPins();
});

test('pinning outside bpffs explains how to mount it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-notbpffs-'));
  const obj = BpfObject.open(OBJ, { pinRootPath: dir });
  try {
    await obj.load();
    assert.unreachable();
  } catch (e) {
    assert.instance(e, BpfError);
    assert.match((e as BpfError).advice ?? '', /mount -t bpf/);
  } finally {
    obj.close();
    rmSync(dir, { recursive: true });
  }
});

test('an unknown map type says the kernel may not support it', async () => {
  const obj = BpfObject.open(OBJ, { pinRootPath: PIN_ROOT });
  (obj.maps.get('sized')!.spec as { type: number }).type = 250;
  try {
    await obj.load();
    assert.unreachable();
  } catch (e) {
    assert.instance(e, BpfError);
    assert.is((e as BpfError).map, 'sized');
    assert.match(`${(e as Error).message} ${(e as BpfError).advice}`, /not support|unsupported|unknown/i);
  } finally {
    obj.close();
    cleanPins();
  }
});

test('without privileges, load fails with an explanation, not a bare EPERM', () => {
  const script = `
    import { BpfObject } from './src/index.ts';
    const obj = BpfObject.open(${JSON.stringify(OBJ)}, { pinRootPath: ${JSON.stringify(PIN_ROOT)} });
    try { await obj.load(); console.log(JSON.stringify({ ok: true })); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, advice: e.advice })); }
  `;
  let out: string;
  try {
    out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
      process.execPath, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, encoding: 'utf8' });
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '';
  }
  const r = JSON.parse(out.trim().split('\n').pop()!);
  assert.is(r.ok, undefined, 'an unprivileged load must fail');
  assert.is(r.code, 'EPERM');
  assert.match(`${r.message} ${r.advice}`, /root|CAP_BPF/);
});

test('object BTF sanitized for a kernel without newer kinds is still accepted by the kernel', () => {
  const obj = BpfObject.open(compileBpf('externs'));
  const btf = obj.btf!;
  assert.ok(btf.findOne('.kconfig', BTF_KIND.DATASEC) !== undefined);
  const old = sanitizeBtf(btf, {
    btf: true, func: false, globalFunc: false, datasec: false, qmarkDatasec: false, float: false, declTag: false, typeTag: false, enum64: false,
  });
  for (let id = 1; id <= old.typeCount; id++) {
    const k = old.kind(id);
    assert.ok(k !== BTF_KIND.DATASEC && k !== BTF_KIND.FUNC && k !== BTF_KIND.VAR && k !== BTF_KIND.DECL_TAG && k !== BTF_KIND.TYPE_TAG && k !== BTF_KIND.ENUM64 && k !== BTF_KIND.FLOAT, `kind ${k} left at [${id}]`);
  }
  btfLoad(old.encode()).close();
  btfLoad(btf.encode()).close();
  obj.close();
});

test('kernel map ids of a loaded object can be reopened by id', async () => {
  using skel = await openAndLoad({ pinRootPath: PIN_ROOT });
  using fd = mapGetFdById(mapInfo(skel.maps.sized.fd).id);
  assert.is(mapInfo(fd.fd).name, 'sized');
  cleanPins();
});

test.run();
