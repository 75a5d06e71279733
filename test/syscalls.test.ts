// The syscall layer against the real kernel (root, BPF available): fds, every map command, batch
// operations, program load and the verifier log, test runs, BTF load, pinning, ids and info,
// raw tracepoint links, system facts, events and error advice.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, unlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as S from '../syscalls/index.js';
import { BpfError, SyscallError, StateError, VerifierError } from '../src/errors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// --- helpers --------------------------------------------------------------------------------------

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}
function u64(n: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}
function rdU32(b: Uint8Array, off = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}
function rdU64(b: Uint8Array, off = 0): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
}

/** Encodes one struct bpf_insn. */
function insn(code: number, dst: number, src: number, off: number, imm: number): Uint8Array {
  const b = Buffer.alloc(8);
  b[0] = code;
  b[1] = (src << 4) | dst;
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm, 4);
  return b;
}
const MOV64_IMM = 0xb7;
const ADD64_IMM = 0x07;
const MOV64_REG = 0xbf;
const EXIT = 0x95;
const RET0 = Buffer.concat([insn(MOV64_IMM, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)]);

function expectThrow<T extends Error>(fn: () => unknown, cls: new (...a: never[]) => T): T {
  try {
    fn();
  } catch (e) {
    assert.instance(e, cls, `expected ${cls.name}, got ${String(e)}`);
    return e as T;
  }
  return assert.unreachable(`expected ${cls.name} to be thrown`) as never;
}

/** Runs a TypeScript snippet in a child process with `S` = syscalls/index.ts. */
function runChild(code: string, env: Record<string, string> = {}, argv: string[] = []) {
  const file = join(tmpdir(), `tsbpf-child-${process.pid}-${Math.random().toString(36).slice(2)}.mts`);
  const idx = pathToFileURL(join(ROOT, 'syscalls/index.ts')).href;
  writeFileSync(file, `import * as S from '${idx}';\n${code}\n`);
  try {
    return spawnSync(process.execPath, ['--import', 'tsx', ...argv, file], {
      cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000,
    });
  } finally {
    rmSync(file, { force: true });
  }
}

const T = S.BPF_MAP_TYPE;

// --- fds ------------------------------------------------------------------------------------------

test('Fd: ownership, idempotent close, dup, liveFds, StateError after close', () => {
  const before = S.liveFds().length;
  const m = S.mapCreate({ mapType: T.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'fdtest' });
  assert.is(m.what, 'map fdtest');
  assert.ok(S.liveFds().some((l) => l.fd === m.fd && l.what === 'map fdtest'));
  const d = m.dup('map fdtest (dup)');
  assert.is.not(d.fd, m.fd);
  assert.is(S.mapInfo(d.fd).id, S.mapInfo(m.fd).id);
  assert.is(S.liveFds().length, before + 2);
  m.close();
  m.close();
  assert.ok(m.closed);
  expectThrow(() => m.fd, StateError);
  assert.is(String(m), 'Fd(closed, map fdtest)');
  {
    using scoped = d;
    assert.ok(!scoped.closed);
  }
  assert.ok(d.closed);
  assert.is(S.liveFds().length, before);
});

test('Fd: a leaked fd is closed by GC with a one-time warning', () => {
  const r = runChild(`
    function leak() { S.mapCreate({ mapType: S.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'leaky' }); }
    leak(); leak();
    const n0 = S.liveFds().length;
    for (let i = 0; i < 20 && S.leakedFdCount() < 2; i++) { (globalThis as any).gc(); await new Promise((r) => setTimeout(r, 10)); }
    console.log(JSON.stringify({ n0, leaked: S.leakedFdCount(), live: S.liveFds().length }));
  `, {}, ['--expose-gc']);
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out, { n0: 2, leaked: 2, live: 0 });
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('tsbpf: fd '));
  assert.is(warnings.length, 1, r.stderr);
  assert.match(warnings[0]!, /^tsbpf: fd \d+ \(map leaky\) was not closed/);
});

// --- maps -----------------------------------------------------------------------------------------

test('hash map: update/lookup/delete/next-key and flag errors', () => {
  using m = S.mapCreate({ mapType: T.HASH, keySize: 4, valueSize: 8, maxEntries: 8, name: 'h' });
  const v = new Uint8Array(8);
  assert.not.ok(S.mapLookupElem(m.fd, u32(1), v));
  for (let i = 1; i <= 5; i++) S.mapUpdateElem(m.fd, u32(i), u64(i * 100));
  assert.ok(S.mapLookupElem(m.fd, u32(3), v));
  assert.is(rdU64(v), 300n);

  const e1 = expectThrow(() => S.mapUpdateElem(m.fd, u32(3), u64(1), S.BPF_NOEXIST), SyscallError);
  assert.is(e1.code, 'EEXIST');
  assert.is(e1.cmd, 'BPF_MAP_UPDATE_ELEM');
  assert.is(e1.syscall, 'bpf');
  const e2 = expectThrow(() => S.mapUpdateElem(m.fd, u32(42), u64(1), S.BPF_EXIST), SyscallError);
  assert.is(e2.code, 'ENOENT');
  S.mapUpdateElem(m.fd, u32(3), u64(333), S.BPF_EXIST);
  S.mapLookupElem(m.fd, u32(3), v);
  assert.is(rdU64(v), 333n);

  // next-key walk visits every key once
  const seen: number[] = [];
  const cur = new Uint8Array(4);
  const next = new Uint8Array(4);
  let key: Uint8Array | null = null;
  while (S.mapGetNextKey(m.fd, key, next)) {
    seen.push(rdU32(next));
    cur.set(next);
    key = cur;
  }
  assert.equal(seen.sort((a, b) => a - b), [1, 2, 3, 4, 5]);

  assert.ok(S.mapDeleteElem(m.fd, u32(2)));
  assert.not.ok(S.mapDeleteElem(m.fd, u32(2)));
  assert.not.ok(S.mapLookupElem(m.fd, u32(2), v));

  // full map: E2BIG with advice
  for (let i = 10; i < 14; i++) S.mapUpdateElem(m.fd, u32(i), u64(i));
  const e3 = expectThrow(() => S.mapUpdateElem(m.fd, u32(99), u64(1)), SyscallError);
  assert.is(e3.code, 'E2BIG');
  assert.match(e3.message, /map is full/);
});

test('hot path: pooled/offset/subarray buffers and reused buffers give right addresses', () => {
  using m = S.mapCreate({ mapType: T.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4, name: 'addr' });
  const pool = Buffer.allocUnsafe(64); // from Node's shared pool: byteOffset is usually non-zero
  const key = pool.subarray(12, 16);
  const val = pool.subarray(24, 32);
  for (let i = 0; i < 4; i++) {
    key.writeUInt32LE(i, 0);
    val.writeBigUInt64LE(BigInt(i) * 7n, 0);
    S.mapUpdateElem(m.fd, key, val);
  }
  const out = new Uint8Array(16).subarray(8);
  for (let i = 0; i < 4; i++) {
    key.writeUInt32LE(i, 0);
    assert.ok(S.mapLookupElem(m.fd, key, out));
    assert.is(rdU64(out), BigInt(i) * 7n);
  }
  // a fresh temporary each time (the address cache must not confuse objects)
  for (let i = 0; i < 4; i++) {
    const o = new Uint8Array(8);
    S.mapLookupElem(m.fd, u32(i), o);
    assert.is(rdU64(o), BigInt(i) * 7n);
  }
});

test('per-CPU array: value buffer is round_up(value_size, 8) × possibleCpus', () => {
  const ncpu = S.possibleCpus();
  using m = S.mapCreate({ mapType: T.PERCPU_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2, name: 'pcpu' });
  const stride = 8; // 4 rounded up to 8
  const vals = new Uint8Array(stride * ncpu);
  for (let c = 0; c < ncpu; c++) new DataView(vals.buffer).setUint32(c * stride, 1000 + c, true);
  S.mapUpdateElem(m.fd, u32(1), vals);
  const out = new Uint8Array(stride * ncpu);
  assert.ok(S.mapLookupElem(m.fd, u32(1), out));
  for (let c = 0; c < ncpu; c++) assert.is(rdU32(out, c * stride), 1000 + c);
  assert.is(S.mapInfo(m.fd).valueSize, 4);
});

test('queue and stack: push, peek, pop (lookup-and-delete with a null key)', () => {
  using q = S.mapCreate({ mapType: T.QUEUE, keySize: 0, valueSize: 4, maxEntries: 3, name: 'q' });
  for (const n of [10, 20, 30]) S.mapUpdateElem(q.fd, null, u32(n));
  const e = expectThrow(() => S.mapUpdateElem(q.fd, null, u32(40)), SyscallError);
  assert.is(e.code, 'E2BIG');
  const v = new Uint8Array(4);
  assert.ok(S.mapLookupElem(q.fd, null, v));
  assert.is(rdU32(v), 10); // peek
  const popped: number[] = [];
  while (S.mapLookupAndDeleteElem(q.fd, null, v)) popped.push(rdU32(v));
  assert.equal(popped, [10, 20, 30]);
  assert.not.ok(S.mapLookupElem(q.fd, null, v));

  using st = S.mapCreate({ mapType: T.STACK, keySize: 0, valueSize: 4, maxEntries: 3, name: 'st' });
  for (const n of [1, 2, 3]) S.mapUpdateElem(st.fd, null, u32(n));
  const out: number[] = [];
  while (S.mapLookupAndDeleteElem(st.fd, null, v)) out.push(rdU32(v));
  assert.equal(out, [3, 2, 1]);
});

test('LRU hash evicts instead of failing', () => {
  using m = S.mapCreate({ mapType: T.LRU_HASH, keySize: 4, valueSize: 4, maxEntries: 16, name: 'lru' });
  for (let i = 0; i < 200; i++) S.mapUpdateElem(m.fd, u32(i), u32(i));
  let n = 0;
  const k = new Uint8Array(4);
  let cur: Uint8Array | null = null;
  while (S.mapGetNextKey(m.fd, cur, k)) {
    n++;
    cur = Uint8Array.from(k);
  }
  assert.ok(n > 0 && n <= 200, `LRU holds ${n}`);
  assert.ok(S.mapLookupElem(m.fd, u32(199), k));
});

test('batch: update, lookup (cursor until done), lookup-and-delete, delete', () => {
  using m = S.mapCreate({ mapType: T.HASH, keySize: 4, valueSize: 8, maxEntries: 64, name: 'batch' });
  const N = 40;
  const keys = new Uint8Array(4 * N);
  const vals = new Uint8Array(8 * N);
  for (let i = 0; i < N; i++) {
    new DataView(keys.buffer).setUint32(i * 4, i + 1, true);
    new DataView(vals.buffer).setBigUint64(i * 8, BigInt(i + 1) * 3n, true);
  }
  assert.is(S.mapUpdateBatch(m.fd, keys, vals, N), N);

  const got = new Map<number, bigint>();
  const chunk = 16;
  const kb = new Uint8Array(4 * chunk);
  const vb = new Uint8Array(8 * chunk);
  const cursorIn = new Uint8Array(4);
  const cursorOut = new Uint8Array(4);
  let first = true;
  let calls = 0;
  for (;;) {
    const r = S.mapLookupBatch(m.fd, first ? null : cursorIn, cursorOut, kb, vb, chunk);
    calls++;
    for (let i = 0; i < r.count; i++) got.set(rdU32(kb, i * 4), rdU64(vb, i * 8));
    if (r.done) break;
    cursorIn.set(cursorOut);
    first = false;
    assert.ok(calls < 20);
  }
  assert.is(got.size, N);
  for (let i = 1; i <= N; i++) assert.is(got.get(i), BigInt(i) * 3n);

  // delete a few by batch
  const del = new Uint8Array(4 * 5);
  for (let i = 0; i < 5; i++) new DataView(del.buffer).setUint32(i * 4, i + 1, true);
  assert.is(S.mapDeleteBatch(m.fd, del, 5), 5);
  assert.not.ok(S.mapLookupElem(m.fd, u32(1), new Uint8Array(8)));

  // drain the rest with lookup-and-delete
  let drained = 0;
  first = true;
  for (;;) {
    const r = S.mapLookupAndDeleteBatch(m.fd, first ? null : cursorIn, cursorOut, kb, vb, chunk);
    drained += r.count;
    if (r.done) break;
    cursorIn.set(cursorOut);
    first = false;
  }
  assert.is(drained, N - 5);
  assert.not.ok(S.mapGetNextKey(m.fd, null, new Uint8Array(4)));
});

test('batch on an array: partial last batch reports done with its count', () => {
  using m = S.mapCreate({ mapType: T.ARRAY, keySize: 4, valueSize: 4, maxEntries: 10, name: 'abatch' });
  const kb = new Uint8Array(4 * 4);
  const vb = new Uint8Array(4 * 4);
  const cin = new Uint8Array(4);
  const cout = new Uint8Array(4);
  const counts: [number, boolean][] = [];
  let first = true;
  for (;;) {
    const r = S.mapLookupBatch(m.fd, first ? null : cin, cout, kb, vb, 4);
    counts.push([r.count, r.done]);
    if (r.done) break;
    cin.set(cout);
    first = false;
  }
  assert.equal(counts, [[4, false], [4, false], [2, true]]);

  // a failing update batch reports how far it got
  const keys = new Uint8Array(12);
  new DataView(keys.buffer).setUint32(4, 1, true);
  new DataView(keys.buffer).setUint32(8, 99, true); // beyond max_entries
  const e = expectThrow(() => S.mapUpdateBatch(m.fd, keys, new Uint8Array(12), 3), SyscallError);
  assert.is(e.cmd, 'BPF_MAP_UPDATE_BATCH');
  assert.match(e.message, /after 2 of 3 elements/);
});

test('freeze: user-space updates fail with EPERM and a message that says why', () => {
  using m = S.mapCreate({ mapType: T.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'frozen' });
  S.mapUpdateElem(m.fd, u32(0), u32(7));
  S.mapFreeze(m.fd);
  const e = expectThrow(() => S.mapUpdateElem(m.fd, u32(0), u32(8)), SyscallError);
  assert.is(e.errno, 1);
  assert.is(e.code, 'EPERM');
  assert.match(e.message, /frozen/);
  assert.match(e.advice ?? '', /BPF_MAP_FREEZE/);
  const v = new Uint8Array(4);
  assert.ok(S.mapLookupElem(m.fd, u32(0), v));
  assert.is(rdU32(v), 7);
});

test('map create: unknown type → EINVAL with advice; bad fd → EBADF', () => {
  const e = expectThrow(() => S.mapCreate({ mapType: 4242, keySize: 4, valueSize: 4, maxEntries: 1, name: 'nope' }), SyscallError);
  assert.is(e.code, 'EINVAL');
  assert.is(e.cmd, 'BPF_MAP_CREATE');
  assert.match(e.message, /probably unsupported/);
  assert.match(e.message, /4242/);
  const e2 = expectThrow(() => S.mapLookupElem(9999, u32(0), new Uint8Array(4)), SyscallError);
  assert.is(e2.code, 'EBADF');
  assert.is(e2.cmd, 'BPF_MAP_LOOKUP_ELEM');
});

test('map create: all attributes are encoded (name truncation, flags, numa, map_extra)', () => {
  using m = S.mapCreate({
    mapType: T.HASH, keySize: 8, valueSize: 16, maxEntries: 32, name: 'a_very_long_map_name_here',
    mapFlags: S.MAP_FLAGS.NO_PREALLOC | S.MAP_FLAGS.NUMA_NODE, numaNode: 0,
  });
  const info = S.mapInfo(m.fd);
  assert.is(info.name, 'a_very_long_map');
  assert.is(info.mapFlags & S.MAP_FLAGS.NO_PREALLOC, S.MAP_FLAGS.NO_PREALLOC);
  assert.is(info.keySize, 8);
  assert.is(info.valueSize, 16);
  using bloom = S.mapCreate({ mapType: T.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 100, mapExtra: 3n, name: 'bloom' });
  assert.is(S.mapInfo(bloom.fd).mapExtra, 3n);
});

// --- programs -------------------------------------------------------------------------------------

test('prog load + test run: retval, data in/out, repeat, ENOSPC growth', () => {
  using p = S.progLoad({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns: RET0, license: 'GPL', name: 'ret0' });
  assert.is(p.what, 'prog ret0');
  const data = Buffer.alloc(64);
  for (let i = 0; i < 64; i++) data[i] = i;
  const r = S.progTestRun(p.fd, { dataIn: data, repeat: 100 });
  assert.is(r.retval, 0);
  assert.type(r.duration, 'number');
  assert.ok(r.dataOut);
  assert.is(r.dataOut!.length, 64);
  // the payload after the 14-byte Ethernet header comes back unchanged
  assert.equal([...r.dataOut!.subarray(14)], [...data.subarray(14)]);
  // data_out too small: the kernel reports ENOSPC + the size it needed; we retry once
  const r2 = S.progTestRun(p.fd, { dataIn: data, dataSizeOut: 16 });
  assert.is(r2.dataOut!.length, 64);
  const r3 = S.progTestRun(p.fd, { dataIn: data, dataSizeOut: 0 });
  assert.is(r3.dataOut, undefined);

  using p42 = S.progLoad({
    progType: S.BPF_PROG_TYPE.SOCKET_FILTER,
    insns: Buffer.concat([insn(MOV64_IMM, 0, 0, 0, 42), insn(EXIT, 0, 0, 0, 0)]), license: 'GPL',
  });
  assert.is(S.progTestRun(p42.fd, { dataIn: data }).retval, 42);
  const info = S.progInfo(p42.fd, { xlatedInsns: true });
  assert.is(info.type, S.BPF_PROG_TYPE.SOCKET_FILTER);
  assert.match(info.tag, /^[0-9a-f]{16}$/);
  assert.is(info.xlatedProgLen, 16);
  assert.is(info.xlatedInsns?.length, 16);
  assert.is(info.verifiedInsns, 2);
  assert.ok(info.gplCompatible);
});

test('verifier rejection: VerifierError with errno, cmd and the log quoted at the end of the message', () => {
  // r0 = r2; exit — r2 is not initialized at entry.
  const bad = Buffer.concat([insn(MOV64_REG, 0, 2, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
  const e = expectThrow(() => S.progLoad({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns: bad, license: 'GPL', name: 'bad' }), VerifierError);
  assert.is(e.errno, 13);
  assert.is(e.code, 'EACCES');
  assert.is(e.cmd, 'BPF_PROG_LOAD');
  assert.is(e.syscall, 'bpf');
  assert.is(e.program, 'bad');
  assert.ok(e.log && e.log.length > 0);
  assert.match(e.log!, /R2 !read_ok/);
  const lastLines = e.message.split('\n').slice(-3).join('\n');
  assert.match(lastLines, /R2 !read_ok/);
  assert.match(e.message, /^prog bad: the verifier rejected the program/);
});

test('prog load failures without a log are SyscallErrors with advice', () => {
  const e = expectThrow(() => S.progLoad({ progType: 9999, insns: RET0, license: 'GPL' }), SyscallError);
  assert.is(e.code, 'EINVAL');
  assert.match(e.message, /program type 9999/);
  expectThrow(() => S.progLoad({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns: new Uint8Array(5), license: 'GPL' }), BpfError);
});

test('verifier log: returned on success at logLevel>0 and grown past the initial buffer', () => {
  const r = S.progLoadWithLog({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns: RET0, license: 'GPL', logLevel: 1 });
  r.fd.close();
  assert.match(r.log, /processed 2 insns/);

  // A long straight-line program: at level 2 every instruction logs the register state.
  const n = 3000;
  const parts = [insn(MOV64_IMM, 0, 0, 0, 0)];
  for (let i = 0; i < n; i++) parts.push(insn(ADD64_IMM, 0, 0, 0, 1));
  parts.push(insn(EXIT, 0, 0, 0, 0));
  const insns = Buffer.concat(parts);
  // tiny start: several ENOSPC → grow rounds
  const small = S.progLoadWithLog({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL', logLevel: 2, logSize: 256 });
  assert.ok(small.log.length > 256);
  assert.match(small.log, new RegExp(`processed ${n + 2} insns`));
  // default start (64 KiB) is exceeded by this log too
  const big = S.progLoadWithLog({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns, license: 'GPL', logLevel: 2 });
  assert.ok(big.log.length > S.INITIAL_LOG_SIZE, `log is ${big.log.length} bytes`);
  assert.match(big.log, new RegExp(`processed ${n + 2} insns`));
  assert.is(S.progTestRun(big.fd.fd, { dataIn: Buffer.alloc(14) }).retval, n);
  small.fd.close();
  big.fd.close();
});

test('async prog load: same log policy off the event loop; verifier errors reject', async () => {
  const parts = [insn(MOV64_IMM, 0, 0, 0, 0)];
  for (let i = 0; i < 2000; i++) parts.push(insn(ADD64_IMM, 0, 0, 0, 1));
  parts.push(insn(EXIT, 0, 0, 0, 0));
  const pending = S.progLoadWithLogAsync({
    progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns: Buffer.concat(parts), license: 'GPL', logLevel: 2, logSize: 1024, name: 'async',
  });
  const r = await pending;
  assert.match(r.log, /processed 2002 insns/);
  assert.is(S.progTestRun(r.fd.fd, { dataIn: Buffer.alloc(14) }).retval, 2000);
  r.fd.close();
  const bad = Buffer.concat([insn(MOV64_REG, 0, 2, 0, 0), insn(EXIT, 0, 0, 0, 0)]);
  try {
    await S.progLoadWithLogAsync({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns: bad, license: 'GPL' });
    assert.unreachable('should reject');
  } catch (e) {
    assert.instance(e, VerifierError);
    assert.match((e as VerifierError).log ?? '', /R2 !read_ok/);
    assert.is((e as VerifierError).errno, 13);
  }
});

test('hot path: a detached buffer is never passed by its stale cached address', () => {
  using m = S.mapCreate({ mapType: T.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'detach' });
  const key = new Uint8Array(4);
  const val = new Uint8Array(4);
  assert.ok(S.mapLookupElem(m.fd, key, val)); // caches val's address
  structuredClone(val.buffer, { transfer: [val.buffer] });
  assert.is(val.byteLength, 0);
  const e = expectThrow(() => S.mapLookupElem(m.fd, key, val), SyscallError);
  assert.is(e.code, 'EFAULT');
});

test('prog load with fd_array / maps referenced by the program', () => {
  // r1 = map (ld_imm64 with BPF_PSEUDO_MAP_FD) ; r0 = 0 ; exit — binds the map to the program.
  using m = S.mapCreate({ mapType: T.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'used' });
  const ld = Buffer.concat([insn(0x18, 1, 1, 0, m.fd), insn(0, 0, 0, 0, 0)]);
  using p = S.progLoad({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns: Buffer.concat([ld, RET0]), license: 'GPL', name: 'usesmap' });
  const info = S.progInfo(p.fd);
  assert.is(info.nrMapIds, 1);
  assert.equal(info.mapIds, [S.mapInfo(m.fd).id]);
});

// --- BTF ------------------------------------------------------------------------------------------

/** A minimal raw BTF blob: one `int` (32-bit, signed). */
function minimalBtf(kindOverride?: number): Buffer {
  const strs = Buffer.from('\0int\0', 'latin1');
  const types = Buffer.alloc(16);
  types.writeUInt32LE(1, 0); // name_off
  types.writeUInt32LE((kindOverride ?? 1) << 24, 4); // kind INT
  types.writeUInt32LE(4, 8); // size
  types.writeUInt32LE((1 << 24) | 32, 12); // signed, 32 bits
  const hdr = Buffer.alloc(24);
  hdr.writeUInt16LE(0xeb9f, 0);
  hdr[2] = 1;
  hdr[3] = 0;
  hdr.writeUInt32LE(24, 4);
  hdr.writeUInt32LE(0, 8);
  hdr.writeUInt32LE(types.length, 12);
  hdr.writeUInt32LE(types.length, 16);
  hdr.writeUInt32LE(strs.length, 20);
  return Buffer.concat([hdr, types, strs]);
}

test('BTF: load a minimal blob, read it back; a bad blob gives a BpfError with the log', () => {
  const blob = minimalBtf();
  using b = S.btfLoad(blob);
  const info = S.btfInfo(b.fd, { data: true });
  assert.ok(info.id > 0);
  assert.is(info.kernelBtf, false);
  assert.is(info.btfSize, blob.length);
  assert.equal([...info.data!], [...blob]);
  using again = S.btfGetFdById(info.id);
  assert.is(S.btfInfo(again.fd).id, info.id);

  const withLog = S.btfLoadWithLog(blob, { logLevel: 1 });
  withLog.fd.close();
  assert.type(withLog.log, 'string');

  const e = expectThrow(() => S.btfLoad(minimalBtf(31)), BpfError);
  assert.is(e.cmd, 'BPF_BTF_LOAD');
  assert.is(e.code, 'EINVAL');
  assert.ok(e.log && e.log.length > 0, 'log present');
  assert.match(e.message, /Last lines of the BTF log/);
});

test('kernel BTF: vmlinux shows up by id with kernelBtf and name', () => {
  let id = 0;
  let found: S.BtfInfo | undefined;
  while ((id = S.getNextId('btf', id)) !== 0) {
    using f = S.btfGetFdById(id);
    const info = S.btfInfo(f.fd);
    if (info.kernelBtf && info.name === 'vmlinux') {
      found = info;
      break;
    }
  }
  assert.ok(found, 'vmlinux BTF object found');
  assert.ok(found!.btfSize > 1000);
});

// --- pinning, ids, info ---------------------------------------------------------------------------

function ensureBpffs(): string {
  if (!S.isBpffs('/sys/fs/bpf')) {
    mkdirSync('/sys/fs/bpf', { recursive: true });
    execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  }
  assert.ok(S.isBpffs('/sys/fs/bpf'));
  return '/sys/fs/bpf';
}

test('pin / get on bpffs, with EEXIST and ENOENT advice', () => {
  const dir = ensureBpffs();
  assert.not.ok(S.isBpffs('/tmp'));
  assert.not.ok(S.isBpffs('/does/not/exist'));
  const path = join(dir, `tsbpf-test-${process.pid}`);
  using m = S.mapCreate({ mapType: T.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, name: 'pinned' });
  S.mapUpdateElem(m.fd, u32(0), u32(1234));
  S.objPin(m.fd, path);
  try {
    assert.ok(existsSync(path));
    const e = expectThrow(() => S.objPin(m.fd, path), SyscallError);
    assert.is(e.code, 'EEXIST');
    assert.match(e.message, /already exists/);
    using g = S.objGet(path);
    assert.is(g.what, `pinned ${path}`);
    assert.is(S.mapInfo(g.fd).id, S.mapInfo(m.fd).id);
    const v = new Uint8Array(4);
    S.mapLookupElem(g.fd, u32(0), v);
    assert.is(rdU32(v), 1234);
    using ro = S.objGet(path, S.BPF_F_RDONLY);
    const e2 = expectThrow(() => S.mapUpdateElem(ro.fd, u32(0), u32(1)), SyscallError);
    assert.is(e2.code, 'EPERM');
  } finally {
    unlinkSync(path);
  }
  const e3 = expectThrow(() => S.objGet(path), SyscallError);
  assert.is(e3.code, 'ENOENT');
  assert.match(e3.message, /nothing is pinned/);
  const e4 = expectThrow(() => S.objPin(m.fd, `/tmp/tsbpf-not-bpffs-${process.pid}`), SyscallError);
  assert.is(e4.code, 'EPERM');
  assert.match(e4.message, /bpffs/);
});

test('get-next-id finds our map and program; fd-by-id + info agree', () => {
  using m = S.mapCreate({ mapType: T.HASH, keySize: 4, valueSize: 12, maxEntries: 7, name: 'idtest' });
  using p = S.progLoad({ progType: S.BPF_PROG_TYPE.SOCKET_FILTER, insns: RET0, license: 'GPL', name: 'idprog' });
  const mi = S.mapInfo(m.fd);
  let id = 0;
  let seen = false;
  while ((id = S.getNextId('map', id)) !== 0) if (id === mi.id) seen = true;
  assert.ok(seen, 'map id enumerated');
  using m2 = S.mapGetFdById(mi.id);
  const mi2 = S.mapInfo(m2.fd);
  assert.equal(
    { type: mi2.type, name: mi2.name, keySize: mi2.keySize, valueSize: mi2.valueSize, maxEntries: mi2.maxEntries },
    { type: T.HASH, name: 'idtest', keySize: 4, valueSize: 12, maxEntries: 7 },
  );
  const pi = S.progInfo(p.fd);
  assert.is(pi.name, 'idprog');
  let pid = 0;
  let pseen = false;
  while ((pid = S.getNextId('prog', pid)) !== 0) if (pid === pi.id) pseen = true;
  assert.ok(pseen);
  using p2 = S.progGetFdById(pi.id);
  assert.is(S.progInfo(p2.fd).tag, pi.tag);
  assert.is(S.getNextId('map', 0x7ffffffe), 0);
  const e = expectThrow(() => S.mapGetFdById(0x7ffffff0), SyscallError);
  assert.is(e.code, 'ENOENT');
  assert.match(e.message, /no object has this id/);
});

test('raw tracepoint open: link fd, link info, link id, cookie encoding', () => {
  using p = S.progLoad({ progType: S.BPF_PROG_TYPE.RAW_TRACEPOINT, insns: RET0, license: 'GPL', name: 'rawtp' });
  using l = S.rawTracepointOpen('sys_enter', p.fd);
  assert.is(l.what, 'link raw_tp sys_enter');
  const li = S.linkInfo(l.fd);
  assert.is(li.type, S.BPF_LINK_TYPE.RAW_TRACEPOINT);
  assert.is(li.progId, S.progInfo(p.fd).id);
  assert.is(li.tpName, 'sys_enter');
  let id = 0;
  let seen = false;
  while ((id = S.getNextId('link', id)) !== 0) if (id === li.id) seen = true;
  assert.ok(seen);
  using l2 = S.linkGetFdById(li.id);
  assert.is(S.linkInfo(l2.fd).id, li.id);
  using l3 = S.rawTracepointOpen('sys_exit', p.fd, 0x1234n);
  assert.is(S.linkInfo(l3.fd).tpName, 'sys_exit');
  const e = expectThrow(() => S.rawTracepointOpen('no_such_tracepoint_xyz', p.fd), SyscallError);
  assert.is(e.cmd, 'BPF_RAW_TRACEPOINT_OPEN');
  assert.is(e.code, 'ENOENT');
});

test('link create: attr encoding reaches the kernel (perf_event link on a software event)', () => {
  // A perf_event program attached with BPF_LINK_CREATE(BPF_PERF_EVENT) to a cpu-clock event.
  using p = S.progLoad({ progType: S.BPF_PROG_TYPE.PERF_EVENT, insns: RET0, license: 'GPL', name: 'pe' });
  const attr = S.perfEventAttr({ type: 1 /* PERF_TYPE_SOFTWARE */, config: 0 /* CPU_CLOCK */, sample_period: 1_000_000, disabled: 1 });
  assert.is(attr.readUInt32LE(S.PERF_EVENT_ATTR.size.off), S.PERF_EVENT_ATTR_SIZE);
  assert.is(attr[S.PERF_EVENT_ATTR.disabled.off]! & 1, 1);
  using pe = S.perfEventOpen(attr, -1, 0);
  using l = S.linkCreate(p.fd, pe.fd, S.BPF_ATTACH_TYPE.PERF_EVENT, { perfEventCookie: 99n }, 'link perf');
  const li = S.linkInfo(l.fd);
  assert.is(li.type, S.BPF_LINK_TYPE.PERF_EVENT);
  assert.is(li.progId, S.progInfo(p.fd).id);
  S.perfEventEnable(pe.fd);
  S.perfEventDisable(pe.fd);
  // wrong attach type: EINVAL from LINK_CREATE
  const e = expectThrow(() => S.linkCreate(p.fd, pe.fd, S.BPF_ATTACH_TYPE.CGROUP_INET_INGRESS), SyscallError);
  assert.is(e.cmd, 'BPF_LINK_CREATE');
});

// --- system ---------------------------------------------------------------------------------------

test('system facts', () => {
  assert.equal(S.parseCpuList('0-3,5,7-8\n'), [0, 1, 2, 3, 5, 7, 8]);
  assert.equal(S.parseCpuList('0\n'), [0]);
  assert.throws(() => S.parseCpuList('3-1'));
  assert.throws(() => S.parseCpuList('\n'));
  assert.is(S.possibleCpus(), S.parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'latin1')).length);
  assert.ok(S.onlineCpus().length >= 1);
  assert.is(S.pageSize(), 4096);
  const rel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  assert.is(S.kernelRelease(), rel);
  const [a, b, c] = rel.split(/[.-]/).map(Number) as [number, number, number];
  assert.is(S.kernelVersionCode(), (a << 16) + (b << 8) + Math.min(c, 255));
  assert.is(S.kernelVersion(4, 19, 300), (4 << 16) + (19 << 8) + 255);
  const lim = S.memlockRlimit();
  assert.ok(typeof lim.cur === 'bigint' && lim.cur > 0n);
  assert.ok(S.hasCapability('BPF'));
  assert.ok(S.hasCapability(S.CAP.SYS_ADMIN));
});

test('raiseMemlockRlimit (in a child, not to change this process)', () => {
  const r = runChild(`
    // Lowering is always allowed; raising the hard limit needs CAP_SYS_RESOURCE.
    S.raiseMemlockRlimit(4n << 20n);
    const a = S.memlockRlimit();
    let b: string;
    try { S.raiseMemlockRlimit(); b = S.memlockRlimit().cur === S.RLIM_INFINITY ? 'unlimited' : 'other'; }
    catch (e: any) { b = e.code + ' ' + e.advice; }
    console.log(JSON.stringify({ a: String(a.cur), amax: String(a.max), b }));
  `);
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim());
  assert.is(out.a, String(4 << 20));
  assert.is(out.amax, String(4 << 20));
  if (S.hasCapability('SYS_RESOURCE')) assert.is(out.b, 'unlimited');
  else assert.match(out.b, /^EPERM .*CAP_SYS_RESOURCE/);
});

test('EPERM advice for an unprivileged process names the missing capability', () => {
  // Drop to nobody with no capabilities (unprivileged BPF is disabled on this machine).
  const file = join(tmpdir(), `tsbpf-eperm-${process.pid}.mts`);
  const idx = pathToFileURL(join(ROOT, 'syscalls/index.ts')).href;
  writeFileSync(file, `import * as S from '${idx}';
    try { S.mapCreate({ mapType: S.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 }); console.log('created'); }
    catch (e: any) { console.log(JSON.stringify({ code: e.code, advice: e.advice, message: e.message })); }\n`);
  try {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
      process.execPath, '--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.is(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.is(out.code, 'EPERM');
    assert.match(out.advice, /CAP_BPF/);
    assert.match(out.advice, /euid 65534/);
  } finally {
    rmSync(file, { force: true });
  }
});

// --- events ---------------------------------------------------------------------------------------

test('eventfd + epoll', () => {
  using efd = S.eventFd(0, S.EFD_NONBLOCK);
  using ep = new S.Epoll(4);
  ep.add(efd.fd, S.EPOLLIN, 7);
  assert.is(ep.wait(0), 0);
  assert.is(S.eventFdRead(efd.fd), 0n);
  S.eventFdWrite(efd.fd, 3);
  S.eventFdWrite(efd.fd, 2);
  assert.is(ep.wait(100), 1);
  assert.is(ep.data(0), 7);
  assert.is(ep.events(0) & S.EPOLLIN, S.EPOLLIN);
  assert.is(S.eventFdRead(efd.fd), 5n);
  assert.is(ep.wait(0), 0);
  ep.delete(efd.fd);
});

test('no fds leaked by this file', () => {
  assert.equal(S.liveFds(), []);
});

test.run();
