// UserRingBuffer against the real kernel: user space produces, a syscall program run with
// BPF_PROG_TEST_RUN drains with bpf_user_ringbuf_drain (test/bpf/events-user-ringbuf.bpf.c). Record tests
// run zero-copy and in copy mode.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { BTF_KIND } from '../btf/index.js';
import { BpfError, BpfObject, StateError, UserRingBuffer } from '../src/index.js';
import { liveFds, setZeroCopy } from '../syscalls/index.js';
import { compileBpf, REPO_ROOT } from './support/compile.js';

const OBJ = compileBpf('events-user-ringbuf');

function openLoaded(): BpfObject {
  const obj = BpfObject.open(OBJ);
  obj.loadSync();
  return obj;
}

function bssVar(obj: BpfObject, name: string): { offset: number; size: number } {
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne('.bss', BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error('no .bss');
  const v = ds.vars.find((x) => btf.type(x.type).name === name)!;
  return { offset: v.offset, size: v.size };
}

interface DrainState { drained: number; sum: number; sizeMismatch: number; readErrors: number; lastRet: number; order: number[] }

/** Runs the drain program and returns the cumulative counters it keeps in .bss. */
function drain(obj: BpfObject): DrainState {
  obj.program('drain').testRunSync({});
  const val = obj.map('.bss').lookup(new Uint8Array(4))!;
  const dv = new DataView(val.buffer, val.byteOffset);
  const u64 = (n: string): number => Number(dv.getBigUint64(bssVar(obj, n).offset, true));
  const order: number[] = [];
  const o = bssVar(obj, 'order').offset;
  const drained = u64('drained');
  for (let i = 0; i < Math.min(64, drained); i++) order.push(Number(dv.getBigUint64(o + 8 * i, true)));
  return {
    drained, sum: u64('sum'), sizeMismatch: u64('size_mismatch'), readErrors: u64('read_errors'),
    lastRet: Number(dv.getBigInt64(bssVar(obj, 'last_ret').offset, true)), order,
  };
}

/** struct sample {u64 value; u32 size; u32 tag}, and the last byte = tag (checked by the program). */
function fill(s: Uint8Array, value: number, tag = value & 0xff): void {
  const dv = new DataView(s.buffer, s.byteOffset, s.byteLength);
  dv.setBigUint64(0, BigInt(value), true);
  dv.setUint32(8, s.byteLength, true);
  dv.setUint32(12, tag, true);
  s[s.byteLength - 1] = tag & 0xff;
}

function recordSuite(name: string, zeroCopy: boolean): void {
  const s = suite(name);
  s.before.each(() => setZeroCopy(zeroCopy));
  s.after.each(() => setZeroCopy(true));

  s('reserve + submit: the BPF program drains every sample, whole and in order', () => {
    using obj = openLoaded();
    using urb = new UserRingBuffer(obj.map('urb'));
    assert.is(urb.zeroCopy, zeroCopy);
    assert.is(urb.size, 8192);
    let total = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 10; i++) {
        const v = round * 10 + i;
        const sample = urb.reserve(16 + ((v * 29) % 300))!;
        assert.ok(sample, `room for sample ${v}`);
        fill(sample, v);
        urb.submit(sample);
        total += v;
      }
      const st = drain(obj);
      assert.is(st.drained, (round + 1) * 10);
      assert.is(st.sum, total);
    }
    const st = drain(obj);
    assert.equal(st.order, [...Array(64).keys()]);
    assert.is(st.sizeMismatch, 0);
    assert.is(st.readErrors, 0);
    assert.is(urb.freeBytes, 8192, 'everything consumed (positions wrapped around the ring)');
    assert.is(urb.pending, 0);
  });

  s('discard: discarded samples are skipped by the kernel', () => {
    using obj = openLoaded();
    using urb = new UserRingBuffer(obj.map('urb'));
    for (let i = 0; i < 10; i++) {
      const sample = urb.reserve(16)!;
      fill(sample, i);
      if (i % 2) urb.discard(sample);
      else urb.submit(sample);
    }
    const st = drain(obj);
    assert.is(st.drained, 5);
    assert.equal(st.order, [0, 2, 4, 6, 8]);
  });

  s('a sample reserved but not submitted holds back the ones after it', () => {
    using obj = openLoaded();
    using urb = new UserRingBuffer(obj.map('urb'));
    const a = urb.reserve(16)!;
    const b = urb.reserve(16)!;
    fill(a, 1);
    fill(b, 2);
    urb.submit(b);
    let st = drain(obj);
    assert.is(st.drained, 0, 'the kernel stops at the busy sample');
    urb.submit(a);
    st = drain(obj);
    assert.equal(st.order, [1, 2]);
  });

  s('ENOSPC gives null, E2BIG throws, the exact fit works', () => {
    using obj = openLoaded();
    using urb = new UserRingBuffer(obj.map('urb'));
    const samples: Uint8Array[] = [];
    for (let i = 0; i < 8; i++) samples.push(urb.reserve(1000)!); // 1008 bytes each: 8064 of 8192
    assert.ok(samples.every(Boolean));
    assert.is(urb.reserve(1000), null);
    assert.is(urb.freeBytes, 128);
    assert.ok(urb.reserve(120), 'an exactly fitting sample (120 + 8 = 128)');
    assert.is(urb.reserve(0), null);
    assert.throws(() => urb.reserve(8192), (e: unknown) => e instanceof BpfError && e.code === 'E2BIG');
    assert.throws(() => urb.reserve(-1), (e: unknown) => e instanceof BpfError);
    for (const s of samples) urb.discard(s);
  });

  s.run();
}

recordSuite('user ringbuf zero-copy', true);
recordSuite('user ringbuf copy mode', false);

test('reserveBlocking waits (without blocking) for the BPF side to drain; null on timeout and on close', async () => {
  using obj = openLoaded();
  using urb = new UserRingBuffer(obj.map('urb'));
  while (true) {
    const s = urb.reserve(500);
    if (!s) break;
    fill(s, 7);
    urb.submit(s);
  }
  assert.ok(urb.freeBytes < 508);
  let t = performance.now();
  assert.is(await urb.reserveBlocking(500, 50), null);
  assert.ok(performance.now() - t >= 45, 'waited for the timeout');

  let ticks = 0;
  const iv = setInterval(() => ticks++, 2);
  setTimeout(() => drain(obj), 40);
  t = performance.now();
  const s = await urb.reserveBlocking(500, 5000);
  const waited = performance.now() - t;
  clearInterval(iv);
  assert.ok(s, 'space after the drain');
  assert.ok(waited >= 30 && waited < 2000, `woke at the drain (${waited.toFixed(1)} ms)`);
  assert.ok(ticks >= 2, `the event loop kept running (${ticks} ticks)`);
  fill(s!, 8);
  urb.submit(s!);

  // Fill again; two queued blocking reservations are served in order after one drain.
  while (true) {
    const x = urb.reserve(500);
    if (!x) break;
    fill(x, 9);
    urb.submit(x);
  }
  const p1 = urb.reserveBlocking(500, 5000);
  const p2 = urb.reserveBlocking(500, 5000);
  setTimeout(() => drain(obj), 20);
  const [s1, s2] = await Promise.all([p1, p2]);
  assert.ok(s1 && s2);
  assert.ok(s2!.byteOffset > s1!.byteOffset || !urb.zeroCopy);
  urb.discard(s1!);
  urb.discard(s2!);

  while (urb.reserve(500)) { /* fill with busy samples */ }
  const p = urb.reserveBlocking(500, -1);
  setTimeout(() => urb.close(), 20);
  assert.is(await p, null);
});

test('misuse: foreign or already submitted samples, use after close', () => {
  using obj = openLoaded();
  const urb = new UserRingBuffer(obj.map('urb'));
  assert.throws(() => urb.submit(new Uint8Array(16)), (e: unknown) => e instanceof StateError);
  const s = urb.reserve(16)!;
  urb.submit(s);
  assert.throws(() => urb.submit(s), (e: unknown) => e instanceof StateError);
  assert.throws(() => urb.discard(s), (e: unknown) => e instanceof StateError);
  urb.close();
  assert.throws(() => urb.reserve(16), (e: unknown) => e instanceof StateError);
  const rb = BpfObject.open(compileBpf('events-ringbuf'));
  rb.loadSync();
  assert.throws(() => new UserRingBuffer(rb.map('rb_a')), (e: unknown) => e instanceof BpfError && /USER_RINGBUF/.test((e as Error).message));
  rb.close();
});

test('no fd leaks after close (both wait modes)', async () => {
  using obj = openLoaded();
  await new Promise((r) => setTimeout(r, 50)); // let earlier threadpool waits (TSBPF_EVENT_WAIT) release their fds
  const fds = readdirSync('/proc/self/fd').length;
  const live = liveFds().length;
  for (const wait of ['uv-poll', 'threadpool'] as const) {
    for (let i = 0; i < 10; i++) {
      const urb = new UserRingBuffer(obj.map('urb'), { wait });
      const s = urb.reserve(16)!;
      urb.discard(s);
      urb.close();
    }
  }
  drain(obj);
  await new Promise((r) => setTimeout(r, 50));
  assert.is(liveFds().length, live);
  assert.is(readdirSync('/proc/self/fd').length, fds);
});

test('child: writing a sample after close does not crash; the process exits by itself', () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', `
    import { BpfObject, UserRingBuffer } from './src/index.ts';
    const obj = BpfObject.open(${JSON.stringify(OBJ)});
    await obj.load();
    const urb = new UserRingBuffer(obj.map('urb'));
    const s = urb.reserve(64);
    const p = urb.reserveBlocking(8000, -1);
    urb.close();
    s.fill(7);
    console.log(JSON.stringify({ resolved: await p, byte: s[3] }));
    obj.close();
  `], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 30_000 });
  assert.equal(JSON.parse(out.trim().split('\n').pop()!), { resolved: null, byte: 7 });
});

test.run();
