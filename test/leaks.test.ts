// Leaks: the GC fallback for objects users forget to close, and the leak tracer that test/runner.ts
// applies to every test file (test/support/leak-tracer.ts), checked against fixture test files that
// leak on purpose. Checks that depend on garbage collection run in child processes (--expose-gc).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject } from '../src/index.js';
import { liveFds } from '../syscalls/index.js';
import { BUILD_DIR, compileBpf, REPO_ROOT } from './support/compile.js';

const GLOBALS = compileBpf('globals');
const MAPS = compileBpf('maps');

function child(body: string): { out: Record<string, unknown>; stderr: string } {
  mkdirSync(BUILD_DIR, { recursive: true });
  const file = join(BUILD_DIR, `leaks-${process.pid}-${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(file, `
    import { BpfObject } from ${JSON.stringify(join(REPO_ROOT, 'src/index.ts'))};
    import * as S from ${JSON.stringify(join(REPO_ROOT, 'syscalls/index.ts'))};
    import { recordFdCreation } from ${JSON.stringify(join(REPO_ROOT, 'test/support/leak-tracer.ts'))};
    const created = recordFdCreation();
    const out: Record<string, unknown> = {};
    const gc = async (rounds = 10) => { for (let i = 0; i < rounds; i++) { (globalThis as any).gc(); await new Promise((r) => setTimeout(r, 10)); } };
    const alive = (kind: 'prog' | 'map', ids: number[]) => { const want = new Set(ids); let n = 0; for (let id = S.getNextId(kind, 0); id; id = S.getNextId(kind, id)) if (want.has(id)) n++; return n; };
    const settle = async () => { for (let i = 0; i < 100 && (alive('prog', created.prog) || alive('map', created.map)); i++) await new Promise((r) => setTimeout(r, 50)); };
    ${body}
    console.log(JSON.stringify(out));
  `);
  try {
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
    assert.is(r.signal, null, `the child died from ${r.signal}:\n${r.stderr}`);
    assert.is(r.status, 0, r.stderr);
    return { out: JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>, stderr: r.stderr };
  } finally {
    rmSync(file, { force: true });
  }
}

test('forgotten objects are closed by the GC with one warning naming the first; their kernel objects are freed', () => {
  const { out, stderr } = child(`
    // In a function: a suspended top-level await may keep its last local alive.
    const forget = async () => { const obj = BpfObject.open(${JSON.stringify(GLOBALS)}); await obj.load(); };
    await forget();
    await forget();
    out.openBefore = S.liveFds().length > 0;
    for (let i = 0; i < 50 && S.liveFds().length; i++) await gc(1);
    out.openAfter = S.liveFds().length;
    await settle();
    out.progsAlive = alive('prog', created.prog);
    out.mapsAlive = alive('map', created.map);
    out.made = created.prog.length > 0 && created.map.length > 0;
  `);
  assert.equal(out, { openBefore: true, openAfter: 0, progsAlive: 0, mapsAlive: 0, made: true });
  const warnings = stderr.split('\n').filter((l) => l.includes('TsbpfWarning'));
  assert.is(warnings.length, 1, stderr);
  assert.match(warnings[0]!, /BpfObject 'globals' was garbage-collected without close\(\)/);
  assert.match(stderr, /close\(\) or declare it with `using`/);
});

test('a map the user still holds outlives its forgotten object and keeps working; closing it frees it', () => {
  const { out } = child(`
    let counts: any;
    await (async () => {
      const obj = BpfObject.open(${JSON.stringify(MAPS)});
      await obj.load();
      counts = obj.maps.get('hash_map');
    })();
    const key = new Uint8Array(counts.keySize);
    for (let i = 0; i < 30; i++) await gc(1);
    out.open = S.liveFds().map((f) => f.what);
    counts.update(key, new Uint8Array(counts.valueSize).fill(9));
    out.value = counts.lookup(key)[0];
    counts.close();
    out.openAfterClose = S.liveFds().length;
    await settle();
    out.mapsAlive = alive('map', created.map);
  `);
  assert.equal(out, { open: ['map hash_map'], value: 9, openAfterClose: 0, mapsAlive: 0 });
});

test('an object that was only opened (nothing in the kernel) and forgotten: no warning', () => {
  const { out, stderr } = child(`
    (() => { BpfObject.open(${JSON.stringify(GLOBALS)}); })();
    await gc(20);
    out.ok = true;
  `);
  assert.equal(out, { ok: true });
  assert.not.match(stderr, /TsbpfWarning/);
});

test('close is idempotent, `using` closes, and a closed object leaves no fd', async () => {
  const before = liveFds().length;
  {
    using obj = BpfObject.open(GLOBALS);
    await obj.load();
    obj.close();
    obj.close();
  }
  assert.is(liveFds().length, before);
});

// ---------------------------------------------------------------------------------------------
// The leak tracer, through the runner, on test files that leak on purpose

const FIXTURES: Record<string, string> = {
  'clean.test.ts': `
    test('loads and closes', async () => { using obj = BpfObject.open(${JSON.stringify(GLOBALS)}); await obj.load(); });`,
  'fd-leak.test.ts': `
    const keep: unknown[] = [];
    test('leaves an object open', async () => { const obj = BpfObject.open(${JSON.stringify(GLOBALS)}); await obj.load(); keep.push(obj); });`,
  'pin-leak.test.ts': `
    test('pins a map, closes its fd, forgets the pin', () => {
      const m = S.mapCreate({ mapType: S.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'tracer_pin' });
      S.objPin(m.fd, PIN);
      m.close();
    });`,
  'gc-leak.test.ts': `
    test('drops a loaded object and lets the GC close it', async () => {
      await (async () => { const obj = BpfObject.open(${JSON.stringify(GLOBALS)}); await obj.load(); })();
      for (let i = 0; i < 50 && S.liveFds().length; i++) { (globalThis as any).gc?.(); await new Promise((r) => setTimeout(r, 10)); }
    });`,
};

test('the leak tracer: a clean file passes; an open fd, a pinned map and a GC-closed object each fail their file', () => {
  const dir = join(BUILD_DIR, `leak-fixtures-${process.pid}`);
  const pin = `/sys/fs/bpf/tsbpf-tracer-fixture-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  try {
    for (const [name, body] of Object.entries(FIXTURES)) {
      writeFileSync(join(dir, name), `import { test } from 'uvu';
import { BpfObject } from ${JSON.stringify(join(REPO_ROOT, 'src/index.ts'))};
import * as S from ${JSON.stringify(join(REPO_ROOT, 'syscalls/index.ts'))};
const PIN = ${JSON.stringify(pin)};
${body}
test.run();
`);
    }
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(REPO_ROOT, 'test/runner.ts'), dir], {
      cwd: REPO_ROOT, encoding: 'utf8', timeout: 170_000, env: { ...process.env, TEST_JOBS: '2', NODE_OPTIONS: '--expose-gc' },
    });
    const line = (f: string): string => r.stdout.split('\n').find((l) => l.startsWith('───') && l.includes(f)) ?? `(no result line for ${f})\n${r.stdout}`;
    assert.match(line('clean.test.ts'), /─── ok .*1 passed, 0 failed/);
    assert.match(line('fd-leak.test.ts'), /─── FAIL .*leaked/);
    assert.match(r.stdout, /leak-tracer: FAIL: \d+ tsbpf fd\(s\) still open when the test file ended: fd \d+ \(/);
    assert.match(line('pin-leak.test.ts'), /─── FAIL .*leaked/);
    assert.match(r.stdout, /leak-tracer: FAIL: BPF objects outlived the test file: map id \d+: map 'tracer_pin'/);
    assert.match(line('gc-leak.test.ts'), /─── FAIL .*leaked/);
    assert.match(r.stdout, /had to be closed by the garbage collector/);
    assert.is(r.status, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(pin, { force: true });
  }
});

test.run();
