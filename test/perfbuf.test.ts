// PerfBuffer against the real kernel: samples from bpf_perf_event_output in a raw_tp program run with
// BPF_PROG_TEST_RUN, pinned to a CPU with BPF_F_TEST_RUN_ON_CPU (test/bpf/events-perf.bpf.c). Record
// tests run zero-copy and in copy mode (what Electron and TSBPF_FORCE_COPY=1 get).
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync } from 'node:fs';
import { BTF_KIND } from '../btf/index.js';
import { BpfError, BpfObject, PerfBuffer, StateError, type RecordView } from '../src/index.js';
import { liveFds, onlineCpus, setZeroCopy } from '../syscalls/index.js';
import { compileBpf } from './support/compile.js';

const OBJ = compileBpf('events-perf');
const BPF_F_TEST_RUN_ON_CPU = 1;
const CPUS = onlineCpus();

function u64args(...vals: number[]): Uint8Array {
  const b = new Uint8Array(8 * vals.length);
  const dv = new DataView(b.buffer);
  vals.forEach((v, i) => dv.setBigUint64(8 * i, BigInt(v), true));
  return b;
}

/** `count` samples on `cpu`; size 0 makes sizes vary (12..711) with the sequence number. */
function emit(obj: BpfObject, count: number, opts: { size?: number; seq0?: number; cpu?: number } = {}): void {
  obj.program('perf_emit').testRunSync({
    ctx: u64args(count, opts.size ?? 0, opts.seq0 ?? 0), flags: BPF_F_TEST_RUN_ON_CPU, cpu: opts.cpu ?? CPUS[0]!,
  });
}

function bss(obj: BpfObject, name: string): number {
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne('.bss', BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error('no .bss');
  const v = ds.vars.find((x) => btf.type(x.type).name === name)!;
  const val = obj.map('.bss').lookup(new Uint8Array(4))!;
  return Number(new DataView(val.buffer, val.byteOffset).getBigUint64(v.offset, true));
}

/** Checks a sample against the pattern perf_emit writes; returns its seq. */
function check(rec: RecordView, cpu: number): number {
  const seq = rec.getUint32(0, true);
  const size = rec.getUint32(4, true);
  if (rec.getUint32(8, true) !== cpu || rec.cpu !== cpu) throw new Error(`seq ${seq}: cpu ${rec.getUint32(8, true)}/${rec.cpu} != ${cpu}`);
  // The kernel pads raw samples so that size + 4 is a multiple of 8.
  if (rec.byteLength < size || rec.byteLength > size + 7 || (rec.byteLength + 4) % 8 !== 0) {
    throw new Error(`seq ${seq}: length ${rec.byteLength} for a ${size}-byte sample`);
  }
  for (let i = 12; i < size; i++) {
    if (rec.getUint8(i) !== ((seq + i) & 0xff)) throw new Error(`seq ${seq}: byte ${i} is ${rec.getUint8(i)}`);
  }
  return seq;
}

function openLoaded(): BpfObject {
  const obj = BpfObject.open(OBJ);
  obj.loadSync();
  return obj;
}

function recordSuite(name: string, zeroCopy: boolean): void {
  const s = suite(name);
  s.before.each(() => setZeroCopy(zeroCopy));
  s.after.each(() => setZeroCopy(true));

  s('samples arrive in order with their contents, padded length and CPU, from every CPU', () => {
    using obj = openLoaded();
    const got = new Map<number, number[]>();
    using pb = new PerfBuffer(obj.map('events'), (rec, cpu) => {
      if (!got.has(cpu)) got.set(cpu, []);
      got.get(cpu)!.push(check(rec, cpu));
    });
    assert.is(pb.zeroCopy, zeroCopy);
    assert.equal(pb.buffers.map((b) => b.cpu), CPUS);
    for (const cpu of CPUS) emit(obj, 20, { cpu, seq0: cpu * 1000 });
    assert.is(pb.consume(), 20 * CPUS.length);
    for (const cpu of CPUS) assert.equal(got.get(cpu), [...Array(20).keys()].map((i) => cpu * 1000 + i));
    assert.is(pb.consume(), 0);
    assert.is(pb.lost, 0);
  });

  s('wraparound: samples that wrap past the end of a one-page ring arrive intact', () => {
    using obj = openLoaded();
    const cpu = CPUS[0]!;
    let next = 0;
    let pos = 0;
    let wrapped = 0;
    using pb = new PerfBuffer(obj.map('events'), (rec, c) => {
      assert.is(check(rec, c), next++);
      const recSize = 12 + rec.byteLength;
      if ((pos % 4096) + recSize > 4096) wrapped++;
      pos += recSize;
    }, { pageCount: 1, cpus: [cpu] });
    assert.is(pb.buffers[0]!.size, 4096);
    for (let round = 0; round < 80; round++) {
      emit(obj, 4, { cpu, seq0: next });
      pb.consume();
    }
    assert.is(next, 320);
    assert.ok(wrapped > 5, `some samples wrapped (${wrapped})`);
    assert.is(bss(obj, 'failed'), 0);
  });

  s('lost samples: a full buffer drops them, PERF_RECORD_LOST reports exactly the drops', () => {
    using obj = openLoaded();
    const cpu = CPUS[CPUS.length - 1]!;
    const lost: [number, number][] = [];
    let n = 0;
    using pb = new PerfBuffer(obj.map('events'), () => { n++; }, { pageCount: 1, cpus: [cpu], onLost: (c, k) => lost.push([c, k]) });
    emit(obj, 1000, { cpu, size: 64 });
    const failed = bss(obj, 'failed');
    const sent = bss(obj, 'sent');
    assert.is(sent + failed, 1000);
    assert.ok(failed > 800, `most samples did not fit (${failed})`);
    assert.is(pb.consume(), sent);
    // The kernel writes the lost record before the next sample that finds room.
    emit(obj, 1, { cpu, size: 64, seq0: 5000 });
    assert.is(pb.consume(), 1);
    assert.equal(lost, [[cpu, failed]]);
    assert.is(pb.lost, failed);
    assert.is(n, sent + 1);
  });

  s('callback returning false / throwing stops the drain cleanly; maxRecords', () => {
    using obj = openLoaded();
    const cpu = CPUS[0]!;
    using pb = new PerfBuffer(obj.map('events'), { cpus: [cpu] });
    emit(obj, 10, { cpu });
    const got: number[] = [];
    assert.is(pb.consume((r) => { got.push(r.getUint32(0, true)); return got.length < 3; }), 3);
    assert.throws(() => pb.consume((r) => { got.push(r.getUint32(0, true)); if (got.length === 5) throw new Error('boom'); }), /boom/);
    assert.is(pb.consume((r) => { got.push(r.getUint32(0, true)); }, 2), 2);
    assert.is(pb.consumeBuffer(0, (r) => { got.push(r.getUint32(0, true)); }), 3);
    assert.equal(got, [...Array(10).keys()]);
  });

  s('a long drain publishes data_tail in batches, not only at its end', () => {
    using obj = openLoaded();
    const cpu = CPUS[0]!;
    let n = 0;
    let mid = -1;
    using pb = new PerfBuffer(obj.map('events'), () => {
      if (++n === 500) mid = pb.buffers[0]!.availableBytes;
    }, { cpus: [cpu], pageCount: 16 });
    emit(obj, 700, { cpu, size: 64 }); // 80-byte records: 56 000 bytes of a 64 KiB ring
    const before = pb.buffers[0]!.availableBytes;
    assert.is(before, 700 * 80);
    assert.is(pb.consume(), 700);
    assert.is(pb.buffers[0]!.availableBytes, 0);
    if (zeroCopy) {
      // Published every ring/8 (8 KiB); never past the record being delivered.
      assert.ok(mid >= before - 500 * 80 && mid <= before - 8192, `published mid-drain (${before - mid} bytes)`);
    } else {
      assert.is(mid, before, 'copy mode publishes after the copied span');
    }
  });

  s('close() from inside a callback ends the drain at once and clears the map', () => {
    using obj = openLoaded();
    const cpu = CPUS[0]!;
    const pb = new PerfBuffer(obj.map('events'), { cpus: [cpu] });
    emit(obj, 10, { cpu });
    let calls = 0;
    assert.is(pb.consume(() => { calls++; if (calls === 2) pb.close(); }), 2);
    assert.is(calls, 2);
    const failed = bss(obj, 'failed');
    emit(obj, 1, { cpu });
    assert.is(bss(obj, 'failed'), failed + 1);
  });

  s.run();
}

recordSuite('perf zero-copy', true);
recordSuite('perf copy mode', false);

test('poll: wakes when samples arrive, 0 on timeout; the event loop keeps running', async () => {
  using obj = openLoaded();
  let n = 0;
  using pb = new PerfBuffer(obj.map('events'), () => { n++; });
  assert.is(await pb.poll(20), 0);
  // A timer due before the samples must have run by the time poll resolves, however loaded the
  // machine is (timers fire in due order, and the samples come from a later timer); a poll that held
  // the event loop would see no samples at all. (Counting interval ticks was load-sensitive: a
  // starved process runs an overdue interval only once before the later timer.)
  let earlier = false;
  setTimeout(() => { earlier = true; }, 5);
  setTimeout(() => emit(obj, 5), 30);
  const t = performance.now();
  assert.is(await pb.poll(5000), 5);
  assert.ok(performance.now() - t >= 20, 'waited for the samples');
  assert.ok(earlier, 'the event loop ran timers during poll');
  emit(obj, 2);
  assert.is(await pb.poll(0), 2, 'poll(0) sees a wake-up that already happened');
  assert.is(await pb.poll(0), 0);
});

test('poll: samples written before the first poll() are delivered by it, without waiting for another wake-up', async () => {
  using obj = openLoaded();
  let n = 0;
  using pb = new PerfBuffer(obj.map('events'), () => { n++; });
  // The wake-up happens before anything watches the epoll fd; the first watch must not lose it.
  emit(obj, 3);
  const t = performance.now();
  assert.is(await pb.poll(3000), 3);
  assert.is(n, 3);
  assert.ok(performance.now() - t < 2500, 'delivered without waiting out the timeout');
});

test('poll drains inside the wake-up: a callback error rejects it, the buffer keeps working', async () => {
  using obj = openLoaded();
  const cpu = CPUS[0]!;
  const got: number[] = [];
  let fail = true;
  using pb = new PerfBuffer(obj.map('events'), (rec) => {
    got.push(rec.getUint32(0, true));
    if (fail && got.length === 2) throw new Error('boom');
  }, { cpus: [cpu] });
  setTimeout(() => emit(obj, 5, { cpu }), 20);
  let err: unknown;
  await pb.poll(5000).catch((e: unknown) => { err = e; });
  assert.ok(err instanceof Error && err.message === 'boom', `poll rejected with the callback's error (${String(err)})`);
  fail = false;
  assert.is(pb.consume(), 3, 'the throwing sample was consumed, the rest is intact');
  assert.equal(got, [0, 1, 2, 3, 4]);
  setTimeout(() => emit(obj, 3, { cpu, seq0: 10 }), 20);
  assert.is(await pb.poll(5000), 3);
  assert.equal(got.slice(5), [10, 11, 12]);
});

test('wakeupEvents: no wake-up below the threshold (data stays for consume), a wake-up at it', async () => {
  using obj = openLoaded();
  const cpu = CPUS[0]!;
  let n = 0;
  using pb = new PerfBuffer(obj.map('events'), () => { n++; }, { cpus: [cpu], wakeupEvents: 4 });
  emit(obj, 3, { cpu });
  assert.is(await pb.poll(80), 0, 'three samples do not wake the consumer');
  assert.is(pb.consume(), 3, 'but they are there');
  emit(obj, 4, { cpu });
  const t = performance.now();
  assert.ok((await pb.poll(2000)) >= 1);
  assert.ok(performance.now() - t < 1000);
});

test('watermark: no wake-up below the byte threshold, a wake-up above it', async () => {
  using obj = openLoaded();
  const cpu = CPUS[0]!;
  using pb = new PerfBuffer(obj.map('events'), () => {}, { cpus: [cpu], watermark: 2048, pageCount: 2 });
  emit(obj, 4, { cpu, size: 100 }); // 4 × 120 bytes
  assert.is(await pb.poll(80), 0);
  emit(obj, 20, { cpu, size: 100, seq0: 4 });
  assert.is(await pb.poll(2000), 24);
  assert.throws(() => new PerfBuffer(obj.map('events'), { watermark: 100, wakeupEvents: 2 }), (e: unknown) => e instanceof BpfError);
  assert.throws(() => new PerfBuffer(obj.map('events'), { pageCount: 3 }), (e: unknown) => e instanceof BpfError);
  assert.throws(() => new PerfBuffer(obj.map('events'), { pageCount: 2 ** 19 }), (e: unknown) => e instanceof BpfError && /1 GiB/.test((e as Error).message));
});

test('async iteration: samples with their CPU, valid until the next step; close ends it', async () => {
  using obj = openLoaded();
  const pb = new PerfBuffer(obj.map('events'));
  for (const cpu of CPUS) emit(obj, 3, { cpu, seq0: cpu * 100 });
  setTimeout(() => emit(obj, 2, { seq0: 50, cpu: CPUS[0]! }), 20);
  const got: string[] = [];
  let stale: RecordView | undefined;
  for await (const rec of pb) {
    got.push(`${rec.cpu}:${check(rec, rec.cpu)}`);
    stale = rec;
    if (got.length === 3 * CPUS.length + 2) setTimeout(() => pb.close(), 10);
  }
  const want = [...CPUS.flatMap((c) => [0, 1, 2].map((i) => `${c}:${c * 100 + i}`)), `${CPUS[0]}:50`, `${CPUS[0]}:51`];
  assert.equal(got.sort(), want.sort());
  assert.throws(() => stale!.getUint32(0, true), (e: unknown) => e instanceof StateError);
});

test('close: a pending poll resolves 0, the map entries are removed, no fd leaks', async () => {
  using obj = openLoaded();
  await new Promise((r) => setTimeout(r, 50)); // let earlier threadpool waits (TSBPF_EVENT_WAIT) release their fds
  const fdsBefore = readdirSync('/proc/self/fd').length;
  const liveBefore = liveFds().length;
  for (const wait of ['uv-poll', 'threadpool'] as const) {
    const pb = new PerfBuffer(obj.map('events'), () => {}, { wait });
    assert.is(pb.waitMode, wait);
    const p = pb.poll(-1);
    setTimeout(() => pb.close(), 10);
    assert.is(await p, 0);
  }
  await new Promise((r) => setTimeout(r, 50));
  assert.is(liveFds().length, liveBefore);
  assert.is(readdirSync('/proc/self/fd').length, fdsBefore);
  const failedBefore = bss(obj, 'failed');
  emit(obj, 1);
  assert.is(bss(obj, 'failed'), failedBefore + 1, 'no perf event behind the map entry any more');
});

test('wrong map type is refused; an fd number works', () => {
  const rbObj = BpfObject.open(compileBpf('events-ringbuf'));
  rbObj.loadSync();
  assert.throws(() => new PerfBuffer(rbObj.map('rb_a')), (e: unknown) => e instanceof BpfError && /not a BPF_MAP_TYPE_PERF_EVENT_ARRAY/.test((e as Error).message));
  rbObj.close();
  using obj = openLoaded();
  let n = 0;
  using pb = new PerfBuffer(obj.map('events').fd, () => { n++; });
  emit(obj, 2);
  assert.is(pb.consume(), 2);
});

test.run();
