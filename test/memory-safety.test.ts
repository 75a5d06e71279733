// No JS view outlives the memory behind it, and read-only global data cannot be written after load.
// Every check runs in a child process, so a SIGSEGV from a bad view shows up as a failed test (with
// the signal), not as a dead test runner.
//
// Covered elsewhere, not repeated: a .bss view after close (global-data.test.ts), MappedRegion itself
// (syscalls-mmap.test.ts), ring buffer and user ring buffer views after close (ringbuf*.test.ts).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, compileBpf, REPO_ROOT } from './support/compile.js';

const OBJ = {
  globals: compileBpf('globals'),
  lifecycle: compileBpf('lifecycle'),
  externs: compileBpf('externs'),
  perf: compileBpf('events-perf'),
};

/**
 * Runs `body` in `node --expose-gc` with BpfObject, StateError, S (syscalls) and gc() in scope;
 * `out` is printed as JSON at the end. Fails the test if the child dies from a signal.
 */
function child(body: string, env: Record<string, string> = {}): Record<string, unknown> {
  mkdirSync(BUILD_DIR, { recursive: true });
  const file = join(BUILD_DIR, `memsafety-${process.pid}-${Math.random().toString(36).slice(2)}.mts`);
  writeFileSync(file, `
    import { BpfObject, StateError, PerfBuffer } from ${JSON.stringify(join(REPO_ROOT, 'src/index.ts'))};
    import * as S from ${JSON.stringify(join(REPO_ROOT, 'syscalls/index.ts'))};
    const OBJ = ${JSON.stringify(OBJ)};
    const out: Record<string, unknown> = {};
    const gc = async (rounds = 10) => { for (let i = 0; i < rounds; i++) { (globalThis as any).gc(); await new Promise((r) => setTimeout(r, 10)); } };
    const throwsState = (f: () => unknown) => { try { f(); return false; } catch (e) { return e instanceof StateError; } };
    const u32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b; };
    ${body}
    console.log(JSON.stringify(out));
  `);
  try {
    const env2: Record<string, string | undefined> = { ...process.env, ...env };
    if (!('TSBPF_FORCE_COPY' in env)) delete env2.TSBPF_FORCE_COPY;
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], { cwd: REPO_ROOT, env: env2, encoding: 'utf8', timeout: 120_000 });
    assert.is(r.signal, null, `the child died from ${r.signal}:\n${r.stderr}`);
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  } finally {
    rmSync(file, { force: true });
  }
}

test('global data views taken before a load that fails in the verifier stay usable; after close the API throws, views read zeros', () => {
  const pin = `/sys/fs/bpf/tsbpf-memsafety-${process.pid}`;
  const out = child(`
    const obj = BpfObject.open(OBJ.lifecycle, { pinRootPath: ${JSON.stringify(pin)} });
    obj.programs.get('refused')!.autoload = true;
    const bss = obj.maps.get('.bss')!;
    const view = new DataView(bss.initialValue.buffer, bss.initialValue.byteOffset, 8);
    view.setBigUint64(0, 41n, true);
    try { await obj.load(); } catch (e) { out.loadFailed = (e as Error).name; }
    out.afterFailedLoad = String(view.getBigUint64(0, true));
    view.setBigUint64(0, 42n, true);
    out.apiAfterFailedLoad = String(new DataView(bss.globalData!.read(0, 8).buffer).getBigUint64(0, true));
    obj.close();
    out.readThrows = throwsState(() => bss.globalData!.read(0, 8));
    out.initialValueThrows = throwsState(() => bss.initialValue);
    out.staleRead = String(view.getBigUint64(0, true));
    view.setBigUint64(0, 7n, true);
    (await import('node:fs')).rmSync(${JSON.stringify(pin)}, { recursive: true, force: true });
  `);
  assert.equal(out, {
    loadFailed: 'VerifierError', afterFailedLoad: '41', apiAfterFailedLoad: '42', readThrows: true, initialValueThrows: true, staleRead: '0',
  });
});

test('.rodata after load: API writes throw, the kernel refuses updates, and a stale pre-load view changes nothing the program sees', () => {
  const out = child(`
    const obj = BpfObject.open(OBJ.globals);
    const ro = obj.maps.get('.rodata')!;
    const preload = ro.initialValue;           // a view of the image, taken before load
    await obj.load();
    out.frozen = ro.globalData!.frozen;
    out.writeThrows = throwsState(() => ro.globalData!.write(0, new Uint8Array(4)));
    out.setInitialThrows = throwsState(() => ro.setInitialValue(new Uint8Array(ro.valueSize)));
    try { ro.update(u32(0), new Uint8Array(ro.valueSize)); out.update = 'ok'; } catch (e) { out.update = (e as any).code; }
    const before = ro.lookup(u32(0))!.slice();
    preload.fill(0xee);                        // no crash: the image is private memory, not the frozen map
    const after = ro.lookup(u32(0))!;
    out.kernelUnchanged = before.every((b, i) => b === after[i]);
    const pkt = new Uint8Array(64); new DataView(pkt.buffer).setBigUint64(8, 2n, true);
    out.retval = (await obj.programs.get('compute')!.testRun({ data: pkt })).retval;
    obj.close();
  `);
  assert.equal(out, { frozen: true, writeThrows: true, setInitialThrows: true, update: 'EPERM', kernelUnchanged: true, retval: 2 * 3 + 100 });
});

test('.kconfig: never writable by the user, before or after load', () => {
  const out = child(`
    const obj = BpfObject.open(OBJ.externs);
    const k = obj.maps.get('.kconfig')!;
    out.setBeforeLoadThrows = (() => { try { k.setInitialValue(new Uint8Array(k.valueSize)); return false; } catch { return true; } })();
    await obj.load();
    out.frozen = k.globalData!.frozen;
    out.writeThrows = throwsState(() => k.globalData!.write(0, new Uint8Array(1)));
    try { k.update(u32(0), new Uint8Array(k.valueSize)); out.update = 'ok'; } catch (e) { out.update = (e as any).code; }
    obj.close();
  `);
  assert.equal(out, { setBeforeLoadThrows: true, frozen: true, writeThrows: true, update: 'EPERM' });
});

test('copy mode (TSBPF_FORCE_COPY=1, as under Electron): no view is handed out, frozen data throws, closed data throws', () => {
  const out = child(`
    const obj = BpfObject.open(OBJ.globals);
    const ro = obj.maps.get('.rodata')!.globalData!;
    out.zeroCopy = ro.zeroCopy;
    out.bytesThrows = throwsState(() => ro.bytes);
    await obj.load();
    out.frozenWriteThrows = throwsState(() => ro.write(0, new Uint8Array(4)));
    const bss = obj.maps.get('.bss')!.globalData!;
    bss.write(0, new Uint8Array(8).fill(1));
    out.liveRead = bss.read(0, 1)[0];
    obj.close();
    out.closedReadThrows = throwsState(() => bss.read(0, 1));
  `, { TSBPF_FORCE_COPY: '1' });
  assert.equal(out, { zeroCopy: false, bytesThrows: true, frozenWriteThrows: true, liveRead: 1, closedReadThrows: true });
});

test('a forgotten object (GC fallback): a .bss view the user still holds keeps working; nothing crashes once all is collected', () => {
  const out = child(`
    let warnings = 0;
    process.on('warning', (w) => { if ((w as any).code === 'TSBPF_UNCLOSED_OBJECT') warnings++; });
    let view: DataView | undefined;
    let off = 0;
    await (async () => {
      const obj = BpfObject.open(OBJ.globals);
      await obj.load();
      const b = obj.maps.get('.bss')!.initialValue;
      view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const pkt = new Uint8Array(64); new DataView(pkt.buffer).setBigUint64(8, 1234n, true);
      await obj.programs.get('compute')!.testRun({ data: pkt });
      // last_input is the first u64 the program writes into .bss; find it by value.
      for (off = 0; off + 8 <= b.byteLength && view.getBigUint64(off, true) !== 1234n; off += 8);
    })();
    for (let i = 0; i < 50 && S.liveFds().length; i++) await gc(1);
    out.fdsClosedByGc = S.liveFds().length === 0;
    out.warnings = warnings;
    out.viewStillReads = String(view!.getBigUint64(off, true));
    view!.setBigUint64(off, 5n, true);
    out.viewStillWrites = String(view!.getBigUint64(off, true));
    view = undefined;
    await gc(20);
    out.done = true;
  `);
  assert.equal(out, { fdsClosedByGc: true, warnings: 1, viewStillReads: '1234', viewStillWrites: '5', done: true });
});

test('many open/load/close cycles keeping every view: after GC, all the stale views read zeros and none crashes', () => {
  const out = child(`
    const views: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) {
      using obj = BpfObject.open(OBJ.globals);
      views.push(obj.maps.get('.data')!.initialValue);
      await obj.load();
      views.push(obj.maps.get('.bss')!.initialValue, obj.maps.get('.rodata')!.initialValue);
    }
    await gc(10);
    let nonZero = 0;
    for (const v of views) { for (const b of v) if (b) nonZero++; v.fill(0x5a); }
    out.views = views.length;
    out.nonZero = nonZero;
    out.liveFds = S.liveFds().length;
  `);
  assert.equal(out, { views: 120, nonZero: 0, liveFds: 0 });
});

test('close() frees the BPF map behind a .bss view the user still holds, without waiting for the GC', () => {
  const out = child(`
    const obj = BpfObject.open(OBJ.globals);
    await obj.load();
    const bss = obj.maps.get('.bss')!;
    const id = S.mapInfo(bss.fd).id;
    const view = bss.initialValue;             // held until the end: the GC cannot collect it
    view[0] = 9;
    const listed = () => { for (let i = S.getNextId('map', 0); i; i = S.getNextId('map', i)) if (i === id) return true; return false; };
    out.listedBefore = listed();
    obj.close();
    out.apiThrows = throwsState(() => bss.globalData!.read(0, 1));
    // Freed maps leave the id list after an RCU grace period.
    let gone = false;
    for (let i = 0; i < 100 && !(gone = !listed()); i++) await new Promise((r) => setTimeout(r, 50));
    out.mapFreed = gone;
    out.staleRead = view[0];
    view[0] = 1;                               // no crash: an anonymous placeholder, not the map
    out.viewStillHeld = view.length > 0;
  `);
  assert.equal(out, { listedBefore: true, apiThrows: true, mapFreed: true, staleRead: 0, viewStillHeld: true });
});

test('perf buffer: record bytes kept past close() read zeros and can be written without a crash; the record API throws', () => {
  const out = child(`
    const obj = BpfObject.open(OBJ.perf);
    obj.loadSync();
    const cpu = S.onlineCpus()[0]!;
    const ctx = new Uint8Array(24); const dv = new DataView(ctx.buffer);
    dv.setBigUint64(0, 4n, true); dv.setBigUint64(8, 64n, true);
    let kept: Uint8Array | undefined;
    let rec: any;
    const pb = new PerfBuffer(obj.map('events'), (r) => { kept ??= r.bytes; rec = r; }, { cpus: [cpu] });
    obj.program('perf_emit').testRunSync({ ctx, flags: 1, cpu });
    out.consumed = pb.consume();
    out.zeroCopy = pb.zeroCopy ?? true;
    out.firstWordBefore = new DataView(kept!.buffer, kept!.byteOffset).getUint32(4, true);
    pb.close();
    out.recordThrows = throwsState(() => rec.getUint32(0, true));
    out.staleSum = kept!.reduce((a, b) => a + b, 0);
    kept!.fill(1);
    obj.close();
    await gc(5);
  `);
  assert.is(out.consumed, 4);
  assert.is(out.firstWordBefore, 64, 'the kept bytes were the record');
  assert.is(out.recordThrows, true);
  assert.is(out.staleSum, 0, 'after close the stale bytes are zeros, not another record or a crash');
});

test.run();
