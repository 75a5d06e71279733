// Global data semantics on the real kernel: images writable before load, the same views live after load,
// .rodata frozen, copy mode (as under Electron) giving the same results, and no crash after close.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BTF_KIND } from '../btf/index.js';
import { BpfObject, StateError } from '../src/index.js';
import { GlobalData } from '../src/global-data.js';
import { compileBpf, REPO_ROOT } from './support/compile.js';

const OBJ = compileBpf('globals');

function input(key: number, val: bigint): Uint8Array {
  const b = new Uint8Array(64);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, key, true);
  dv.setBigUint64(8, val, true);
  return b;
}

/** Offset of a variable inside its section, from the object's BTF DATASEC (after open-time fixup). */
function varOffset(obj: BpfObject, sec: string, name: string): number {
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne(sec, BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error('not a datasec');
  for (const v of ds.vars) if (btf.type(v.type).name === name) return v.offset;
  throw new Error(`no ${name} in ${sec}`);
}

test('rodata set before load changes what the program computes', async () => {
  using obj = BpfObject.open(OBJ);
  const ro = obj.maps.get('.rodata')!;
  const dv = new DataView(ro.initialValue.buffer, ro.initialValue.byteOffset, ro.initialValue.byteLength);
  assert.is(dv.getUint32(varOffset(obj, '.rodata', 'cfg_mult'), true), 3, 'initial image comes from the ELF');
  dv.setUint32(varOffset(obj, '.rodata', 'cfg_mult'), 7, true);
  dv.setBigUint64(varOffset(obj, '.rodata', 'cfg_add'), 5n, true);
  await obj.load();
  const r = await obj.programs.get('compute')!.testRun({ data: input(1, 6n) });
  assert.is(r.retval, 6 * 7 + 5);
});

test('a view taken before load reads and writes the live .bss/.data after load', async () => {
  using obj = BpfObject.open(OBJ);
  const bss = obj.maps.get('.bss')!;
  const data = obj.maps.get('.data')!;
  const bssView = new DataView(bss.initialValue.buffer, bss.initialValue.byteOffset, bss.initialValue.byteLength);
  const dataView = new DataView(data.initialValue.buffer, data.initialValue.byteOffset, data.initialValue.byteLength);
  const lastInput = varOffset(obj, '.bss', 'last_input');
  const counter = varOffset(obj, '.data', 'counter');
  assert.is(dataView.getBigUint64(counter, true), 1000n);
  dataView.setBigUint64(counter, 5000n, true);
  await obj.load();
  assert.ok(bss.globalData!.isLive && data.globalData!.isLive, 'mmapable maps are live');
  await obj.programs.get('compute')!.testRun({ data: input(2, 77n) });
  assert.is(bssView.getBigUint64(lastInput, true), 77n, 'program write seen through the pre-load view');
  assert.is(dataView.getBigUint64(counter, true), 5001n, 'pre-load write reached the kernel, and the increment came back');
  // User-space write through the same view, read back by the kernel through the map syscall.
  dataView.setBigUint64(counter, 123n, true);
  const v = data.lookup(new Uint8Array(4))!;
  assert.is(new DataView(v.buffer).getBigUint64(counter, true), 123n);
});

test('.rodata is frozen after load: user-space updates fail, API writes throw, reads still work', async () => {
  using obj = BpfObject.open(OBJ);
  await obj.load();
  const ro = obj.maps.get('.rodata')!;
  assert.ok(ro.globalData!.frozen);
  assert.throws(() => ro.globalData!.write(0, new Uint8Array(4)), (e: unknown) => e instanceof StateError);
  assert.throws(() => ro.update(new Uint8Array(4), new Uint8Array(ro.valueSize)), /EPERM|frozen|Operation not permitted/i);
  assert.is(new DataView(ro.initialValue.buffer, ro.initialValue.byteOffset).getUint32(varOffset(obj, '.rodata', 'cfg_mult'), true), 3);
});

test('the map names the kernel sees follow libbpf (object prefix, custom sections as is)', async () => {
  using obj = BpfObject.open(OBJ);
  assert.is(obj.maps.get('.rodata')!.kernelName, 'globals.rodata');
  assert.is(obj.maps.get('.bss')!.kernelName, 'globals.bss');
  assert.is(obj.maps.get('.data.custom')!.kernelName, '.data.custom');
  assert.is(obj.maps.get('.rodata.str1.1')!.kernelName, '.rodata.str1.1');
  // .rodata.str1.1 has no variables, so it is not mmapable (BPF_F_MMAPABLE = 1 << 10).
  assert.is(obj.maps.get('.rodata.str1.1')!.mapFlags & (1 << 10), 0);
  assert.ok(obj.maps.get('.data')!.mapFlags & (1 << 10));
});

function child(script: string, env: Record<string, string> = {}): { status: number | null; out: string } {
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { status: 0, out };
  } catch (e) {
    const err = e as { status: number | null; signal?: string; stdout?: string; stderr?: string };
    return { status: err.status ?? 128, out: `${err.stdout ?? ''}${err.stderr ?? ''} signal=${err.signal}` };
  }
}

const COPY_MODE_SCRIPT = `
  import { BpfObject } from './src/index.ts';
  const obj = BpfObject.open(${JSON.stringify(OBJ)});
  const ro = obj.maps.get('.rodata').globalData;
  if (ro.zeroCopy) throw new Error('expected copy mode');
  const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, 9, true);
  ro.write(0, b);
  await obj.load();
  const pkt = new Uint8Array(64); new DataView(pkt.buffer).setBigUint64(8, 4n, true);
  const r = await obj.programs.get('compute').testRun({ data: pkt });
  const bss = obj.maps.get('.bss').globalData;
  const last = new DataView(bss.read(0, 8).buffer).getBigUint64(0, true);
  let threw = false; try { obj.maps.get('.bss').initialValue.length; bss.bytes; } catch { threw = true; }
  console.log(JSON.stringify({ retval: r.retval, last: String(last), live: bss.isLive, threw }));
  obj.close();
`;

test('copy mode (TSBPF_FORCE_COPY=1, as under Electron) gives the same results through read/write', () => {
  const r = child(COPY_MODE_SCRIPT, { TSBPF_FORCE_COPY: '1' });
  assert.is(r.status, 0, r.out);
  const res = JSON.parse(r.out.trim().split('\n').pop()!);
  assert.equal(res, { retval: 4 * 9 + 100, last: '4', live: true, threw: true });
});

test('after close, global data access throws and stale views do not crash the process', () => {
  const r = child(`
    import { BpfObject } from './src/index.ts';
    const obj = BpfObject.open(${JSON.stringify(OBJ)});
    await obj.load();
    const view = obj.maps.get('.bss').initialValue;
    const gd = obj.maps.get('.bss').globalData;
    obj.close();
    let threw = false; try { gd.read(0, 4); } catch (e) { threw = e.name === 'StateError'; }
    view[0] = 1; // touching a view of a closed object must not SIGSEGV
    console.log(JSON.stringify({ threw, v: view[0] }));
  `);
  assert.is(r.status, 0, r.out);
  const res = JSON.parse(r.out.trim().split('\n').pop()!);
  assert.is(res.threw, true);
});


test('a zero-filled image (.bss) is not copied into its mapping: a 256 MiB view commits no memory', () => {
  const shmemKb = (): number => Number(/RssShmem:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
  const before = shmemKb();
  const bss = new GlobalData(256 * 2 ** 20, undefined);
  try {
    const view = bss.bytes;
    assert.is(view.length, 256 * 2 ** 20);
    assert.is(view[view.length - 1], 0);
    // Only the page read above may be resident: the 256 MiB image of zeros was not copied in.
    assert.ok(shmemKb() - before < 16 * 1024, `RssShmem grew by ${shmemKb() - before} KiB`);
  } finally {
    bss.close();
  }
  // A non-zero image is copied, of course.
  const data = new GlobalData(8, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
  data.write(0, Uint8Array.of(9));
  assert.equal([...data.bytes], [9, 2, 3, 4, 5, 6, 7, 8]);
  data.close();
  // Written before the first view: copied too.
  const w = new GlobalData(8, undefined);
  w.write(4, Uint8Array.of(7));
  assert.equal([...w.bytes], [0, 0, 0, 0, 7, 0, 0, 0]);
  w.close();
});

test.run();
