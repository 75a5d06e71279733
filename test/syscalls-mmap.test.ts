// MappedRegion against a real BPF_F_MMAPABLE array map. The checks that could crash the process
// (touching a view after close) run in child processes, so a SIGSEGV shows up as a failure
// instead of killing the test runner. The same scenario runs in zero-copy and in copy mode
// (TSBPF_FORCE_COPY=1) and must give identical results.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as S from '../syscalls/index.js';
import { StateError } from '../src/errors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function runChild(code: string, env: Record<string, string> = {}) {
  const file = join(tmpdir(), `tsbpf-mmap-${process.pid}-${Math.random().toString(36).slice(2)}.mts`);
  const idx = pathToFileURL(join(ROOT, 'syscalls/index.ts')).href;
  const errs = pathToFileURL(join(ROOT, 'src/errors.ts')).href;
  writeFileSync(file, `import * as S from '${idx}';\nimport { StateError } from '${errs}';\n` +
    `const u32 = (n: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b; };\n` +
    `const u64 = (n: bigint) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, n, true); return b; };\n` +
    `const rd64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);\n` +
    `const throwsState = (f: () => unknown) => { try { f(); return false; } catch (e) { return e instanceof StateError; } };\n` +
    `${code}\n`);
  try {
    const env2: Record<string, string | undefined> = { ...process.env, ...env };
    if (!('TSBPF_FORCE_COPY' in env)) delete env2.TSBPF_FORCE_COPY;
    const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file], {
      cwd: ROOT, env: env2, encoding: 'utf8', timeout: 60_000,
    });
    return r;
  } finally {
    rmSync(file, { force: true });
  }
}

function lastJson(r: ReturnType<typeof runChild>): Record<string, unknown> {
  assert.is(r.signal, null, `child died from ${r.signal}\n${r.stderr}`);
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

// A scenario that uses only the mode-independent API (read/write/readU*/writeU*).
const PORTABLE = `
  const len = 4096;
  const m = S.mapCreate({ mapType: S.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 512,
    mapFlags: S.MAP_FLAGS.MMAPABLE, name: 'mm' });
  const r = S.MappedRegion.anonymous(len);
  const out: Record<string, unknown> = { zeroCopy: r.zeroCopy, enabled: S.zeroCopyEnabled() };
  r.writeU64(8, 77n);                              // before the map exists
  out.anonBefore = String(r.readU64(8));
  r.remapFd(m.fd, 0, len, 'rw');
  out.afterRemap = String(r.readU64(8));           // now the map's (zeroed) memory
  S.mapUpdateElem(m.fd, u32(1), u64(0xdeadbeefn)); // kernel → region
  out.seenByRegion = String(r.readU64(8));
  r.writeU64(16, 555n);                            // region → kernel
  r.writeU32(24, 9);
  r.write(32, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
  const v = new Uint8Array(8);
  S.mapLookupElem(m.fd, u32(2), v); out.key2 = String(rd64(v));
  S.mapLookupElem(m.fd, u32(3), v); out.key3 = String(rd64(v));
  S.mapLookupElem(m.fd, u32(4), v); out.key4 = [...v];
  out.read = [...r.read(8, 8)];
  const into = new Uint8Array(16);
  r.read(32, 8, into.subarray(8));
  out.into = [...into.subarray(8)];
  out.u8 = r.readU8(32);
  out.u32 = r.readU32(24);
  out.range = (() => { try { r.read(4090, 8); return false; } catch (e) { return e instanceof RangeError; } })();
  // a read-only mapping of the same map
  const ro = S.MappedRegion.mapFd(m.fd, len, 'r');
  out.roRead = String(ro.readU64(16));
  out.roWriteRefused = throwsState(() => ro.writeU64(16, 1n));
  ro.close();
  r.close();
  out.closedRead = throwsState(() => r.read(0, 8));
  out.closedWrite = throwsState(() => r.writeU32(0, 1));
  out.closedRemap = throwsState(() => r.remapFd(m.fd, 0, len, 'rw'));
  r.close(); // idempotent
  // the map no longer sees writes from the closed region, and vice versa
  S.mapUpdateElem(m.fd, u32(5), u64(42n));
  S.mapLookupElem(m.fd, u32(2), v); out.key2After = String(rd64(v));
  // frozen map: a writable shared mapping is refused by the kernel
  const f = S.mapCreate({ mapType: S.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1,
    mapFlags: S.MAP_FLAGS.MMAPABLE, name: 'frz' });
  S.mapFreeze(f.fd);
  try { S.MappedRegion.mapFd(f.fd, len, 'rw'); out.frozenRw = 'mapped'; } catch (e: any) { out.frozenRw = e.code + ' ' + e.syscall; }
  const fro = S.MappedRegion.mapFd(f.fd, len, 'r'); out.frozenRo = String(fro.readU64(0)); fro.close();
  f.close(); m.close();
  out.live = S.liveFds().length;
  console.log(JSON.stringify(out));
`;

const EXPECTED_PORTABLE = {
  anonBefore: '77',
  afterRemap: '0',
  seenByRegion: String(0xdeadbeef),
  key2: '555',
  key3: '9',
  key4: [1, 2, 3, 4, 5, 6, 7, 8],
  read: [0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0],
  into: [1, 2, 3, 4, 5, 6, 7, 8],
  u8: 1,
  u32: 9,
  range: true,
  roRead: '555',
  roWriteRefused: true,
  closedRead: true,
  closedWrite: true,
  closedRemap: true,
  key2After: '555',
  frozenRw: 'EPERM mmap',
  frozenRo: '0',
  live: 0,
};

test('zero-copy mode: remap over the same address, both directions, close is safe', () => {
  const out = lastJson(runChild(PORTABLE));
  assert.equal(out, { zeroCopy: true, enabled: true, ...EXPECTED_PORTABLE });
});

test('copy mode (TSBPF_FORCE_COPY=1): same results through read/write', () => {
  const out = lastJson(runChild(PORTABLE, { TSBPF_FORCE_COPY: '1' }));
  assert.equal(out, { zeroCopy: false, enabled: false, ...EXPECTED_PORTABLE });
});

test('copy mode: no zero-copy view is ever handed out', () => {
  const out = lastJson(runChild(`
    const r = S.MappedRegion.anonymous(4096);
    console.log(JSON.stringify({ bytes: throwsState(() => r.bytes), zc: r.zeroCopy }));
    r.close();
  `, { TSBPF_FORCE_COPY: '1' }));
  assert.equal(out, { bytes: true, zc: false });
});

test('zero-copy: views taken before remap see kernel memory; stale views read zeros after close (no crash); munmap on GC', () => {
  const out = lastJson(runChild(`
    import { readFileSync } from 'node:fs';
    const len = 4096;
    const m = S.mapCreate({ mapType: S.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 512,
      mapFlags: S.MAP_FLAGS.MMAPABLE, name: 'mmv' });
    let r: S.MappedRegion | null = S.MappedRegion.anonymous(len);
    const addrHex = r.address.toString(16);
    let view: Uint8Array | null = r.bytes;
    let dv: DataView | null = new DataView(view.buffer, view.byteOffset, len);
    const out: Record<string, unknown> = { sameView: r.bytes === view };
    dv.setUint32(0, 5, true);
    r.remapFd(m.fd, 0, len, 'rw');
    out.viewAfterRemap = dv.getUint32(0, true);
    S.mapUpdateElem(m.fd, u32(1), u64(123n));
    out.viewSeesKernel = String(dv.getBigUint64(8, true));
    dv.setBigUint64(16, 456n, true);
    const v = new Uint8Array(8);
    S.mapLookupElem(m.fd, u32(2), v);
    out.kernelSeesView = String(rd64(v));
    out.bufferFromAliases = (() => { const b = Buffer.from(view.buffer, 16, 8); return String(b.readBigUInt64LE(0)); })();
    r.close();
    out.bytesAfterClose = throwsState(() => r!.bytes);
    out.staleRead = String(dv.getBigUint64(8, true));     // zeros, not SIGSEGV
    dv.setUint32(100, 7, true);                          // private RW pages: no crash
    out.staleWriteReadBack = dv.getUint32(100, true);
    S.mapLookupElem(m.fd, u32(2), v);
    out.kernelAfterClose = String(rd64(v));               // the map kept its data
    // The kernel may merge the replacement mapping with a neighbour, so look for a range containing it.
    const mapped = () => readFileSync('/proc/self/maps', 'utf8').split('\\n').some((l: string) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+)/.exec(l);
      return !!m && BigInt('0x' + m[1]) <= BigInt('0x' + addrHex) && BigInt('0x' + addrHex) < BigInt('0x' + m[2]);
    });
    out.mappedBeforeGc = mapped();
    view = null; dv = null; r = null;
    for (let i = 0; i < 30 && mapped(); i++) { (globalThis as any).gc(); await new Promise((res) => setTimeout(res, 20)); }
    out.mappedAfterGc = mapped();
    m.close();
    console.log(JSON.stringify(out));
  `));
  assert.equal(out, {
    sameView: true,
    viewAfterRemap: 0,
    viewSeesKernel: '123',
    kernelSeesView: '456',
    bufferFromAliases: '456',
    bytesAfterClose: true,
    staleRead: '0',
    staleWriteReadBack: 7,
    kernelAfterClose: '456',
    mappedBeforeGc: true,
    mappedAfterGc: false,
  });
});

test('close() unmaps at once when no view was handed out; otherwise it drops the map at once and unmaps the placeholder on GC', () => {
  const mmapUrl = pathToFileURL(join(ROOT, 'syscalls/mmap.ts')).href;
  const out = lastJson(runChild(`
    import { readFileSync } from 'node:fs';
    import { mappingCounts } from '${mmapUrl}';
    const len = 4096;
    const m = S.mapCreate({ mapType: S.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 512,
      mapFlags: S.MAP_FLAGS.MMAPABLE, name: 'mmc' });
    // The line of /proc/self/maps whose range holds addr (the kernel may merge a placeholder with a neighbour).
    const lineAt = (addr: bigint) => readFileSync('/proc/self/maps', 'utf8').split('\\n').find((l: string) => {
      const r = /^([0-9a-f]+)-([0-9a-f]+)/.exec(l);
      return !!r && BigInt('0x' + r[1]) <= addr && addr < BigInt('0x' + r[2]);
    });
    const out: Record<string, unknown> = { start: mappingCounts() };
    // Used only through read/write/readU64: no view leaves the region.
    const quiet = S.MappedRegion.mapFd(m.fd, len, 'rw');
    quiet.writeU64(8, 99n);
    out.quietRead = String(quiet.readU64(8));
    out.quietLine = lineAt(quiet.address)?.endsWith('anon_inode:bpf-map');
    out.withQuiet = mappingCounts();
    quiet.close();
    out.quietGone = lineAt(quiet.address) === undefined;
    out.afterQuiet = mappingCounts();
    // A view handed out: close() must leave a range behind, but not the map.
    let exposed: S.MappedRegion | null = S.MappedRegion.mapFd(m.fd, len, 'rw');
    const addr = exposed.address;
    let view: Uint8Array | null = exposed.bytes;
    out.viewBefore = String(new DataView(view.buffer).getBigUint64(8, true));
    exposed.close();
    out.afterExposed = mappingCounts();
    const line = lineAt(addr);
    out.placeholderIsAnonymous = !!line && !line.includes('bpf-map');
    out.staleRead = String(new DataView(view.buffer).getBigUint64(8, true));
    view = null; exposed = null;
    for (let i = 0; i < 30 && mappingCounts().retired; i++) { (globalThis as any).gc(); await new Promise((res) => setTimeout(res, 20)); }
    out.afterGc = mappingCounts();
    m.close();
    console.log(JSON.stringify(out));
  `));
  assert.equal(out, {
    start: { live: 0, retired: 0 },
    quietRead: '99',
    quietLine: true,
    withQuiet: { live: 1, retired: 0 },
    quietGone: true,
    afterQuiet: { live: 0, retired: 0 },
    viewBefore: '99',
    afterExposed: { live: 0, retired: 1 },
    placeholderIsAnonymous: true,
    staleRead: '0',
    afterGc: { live: 0, retired: 0 },
  });
});

test('in-process: setZeroCopy(false) switches new regions to copy mode', () => {
  const was = S.zeroCopyEnabled();
  try {
    S.setZeroCopy(false);
    using r = S.MappedRegion.anonymous(100);
    assert.is(r.zeroCopy, false);
    assert.throws(() => r.bytes, (e: unknown) => e instanceof StateError);
    r.writeU64(0, 0x1122334455667788n);
    assert.is(r.readU64(0), 0x1122334455667788n);
    assert.is(r.readU32(4), 0x11223344);
    S.setZeroCopy(true);
    using z = S.MappedRegion.anonymous(100);
    assert.is(z.zeroCopy, true);
    z.bytes[3] = 9;
    assert.is(z.readU8(3), 9);
  } finally {
    S.setZeroCopy(was);
  }
  assert.throws(() => S.MappedRegion.anonymous(0), RangeError);
});

test('mapFileReadOnly: sysfs vmlinux BTF mapped (6.16+), the same bytes as a read; undefined when mmap is refused or in copy mode', () => {
  const [major, minor] = release().split('.').map(Number) as [number, number];
  const vmlinux = '/sys/kernel/btf/vmlinux';
  if (existsSync(vmlinux) && (major > 6 || (major === 6 && minor >= 16))) {
    const mapped = S.mapFileReadOnly(vmlinux);
    assert.ok(mapped, 'vmlinux BTF is mmapable since 6.16');
    assert.is(Buffer.compare(Buffer.from(mapped.buffer, mapped.byteOffset, mapped.length), readFileSync(vmlinux)), 0);
  }
  // procfs refuses mmap; an empty file has nothing to map; a missing file can't be opened.
  assert.is(S.mapFileReadOnly('/proc/self/status'), undefined);
  const empty = join(tmpdir(), `tsbpf-empty-${process.pid}`);
  writeFileSync(empty, '');
  try {
    assert.is(S.mapFileReadOnly(empty), undefined);
  } finally {
    rmSync(empty, { force: true });
  }
  assert.is(S.mapFileReadOnly('/nonexistent/file'), undefined);
  // A regular file could be truncated under the mapping (SIGBUS): only sysfs files are mapped.
  const regular = join(tmpdir(), `tsbpf-regular-${process.pid}`);
  writeFileSync(regular, 'x'.repeat(8192));
  try {
    assert.is(S.mapFileReadOnly(regular), undefined);
  } finally {
    rmSync(regular, { force: true });
  }
  const was = S.zeroCopyEnabled();
  try {
    S.setZeroCopy(false);
    assert.is(S.mapFileReadOnly('/proc/self/cmdline'), undefined);
    if (existsSync(vmlinux)) assert.is(S.mapFileReadOnly(vmlinux), undefined);
  } finally {
    S.setZeroCopy(was);
  }
});

test.run();
