// RingBuffer against the real kernel: records produced by raw_tp programs run with BPF_PROG_TEST_RUN
// (test/bpf/events-ringbuf.bpf.c) and by a real tracepoint. The record tests run twice: zero-copy, and in
// copy mode (setZeroCopy(false), what Electron and TSBPF_FORCE_COPY=1 get). Crash-prone checks (stale
// views after close, process exit) run in child processes.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { BTF_KIND } from '../btf/index.js';
import { BpfError, BpfObject, RingBuffer, StateError, type RecordView } from '../src/index.js';
import { liveFds, rawTracepointOpen, setZeroCopy } from '../syscalls/index.js';
import { scaled } from './support/time.js';
import { compileBpf, REPO_ROOT } from './support/compile.js';

const OBJ = compileBpf('events-ringbuf');
const RB_A = 0;
const RB_B = 1;
const RB_BIG = 2;

// ---- helpers -------------------------------------------------------------------------------------

function u64args(...vals: number[]): Uint8Array {
  const b = new Uint8Array(8 * vals.length);
  const dv = new DataView(b.buffer);
  vals.forEach((v, i) => dv.setBigUint64(8 * i, BigInt(v), true));
  return b;
}

/** bpf_ringbuf_output of `count` records; size 0 makes sizes vary (8..307) with the sequence number. */
function emitVar(obj: BpfObject, ring: number, count: number, size = 0, seq0 = 0): void {
  obj.program('emit_var').testRunSync({ ctx: u64args(ring, count, size, seq0) });
}

/** reserve + submit of 24-byte records; every `discardEvery`-th seq is reserved then discarded. */
function emitFixed(obj: BpfObject, ring: number, count: number, discardEvery = 0, seq0 = 0): void {
  obj.program('emit_fixed').testRunSync({ ctx: u64args(ring, count, discardEvery, seq0) });
}

function bss(obj: BpfObject, name: string): number {
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne('.bss', BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error('no .bss');
  for (const v of ds.vars) {
    if (btf.type(v.type).name === name) {
      const val = obj.map('.bss').lookup(new Uint8Array(4))!;
      const dv = new DataView(val.buffer, val.byteOffset);
      return v.size === 4 ? dv.getUint32(v.offset, true) : Number(dv.getBigUint64(v.offset, true));
    }
  }
  throw new Error(`no ${name} in .bss`);
}

/** Checks a variable-size record against the pattern emit_var writes; returns its seq. */
function checkVar(rec: RecordView): number {
  const seq = rec.getUint32(0, true);
  const size = rec.getUint32(4, true);
  if (rec.byteLength !== size) throw new Error(`seq ${seq}: length ${rec.byteLength} != ${size}`);
  for (let i = 8; i < size; i++) {
    if (rec.getUint8(i) !== ((seq + i) & 0xff)) throw new Error(`seq ${seq}: byte ${i} is ${rec.getUint8(i)}`);
  }
  return seq;
}

function openLoaded(): BpfObject {
  const obj = BpfObject.open(OBJ);
  obj.loadSync();
  return obj;
}

function procFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ---- the record tests, in both modes ----------------------------------------------------------------

function recordSuite(name: string, zeroCopy: boolean): void {
  const s = suite(name);
  s.before.each(() => setZeroCopy(zeroCopy));
  s.after.each(() => setZeroCopy(true));

  s('records arrive in order with their exact lengths and contents', () => {
    using obj = openLoaded();
    const seqs: number[] = [];
    using rb = new RingBuffer(obj.map('rb_a'), (rec) => { seqs.push(checkVar(rec)); });
    assert.is(rb.zeroCopy, zeroCopy);
    emitVar(obj, RB_A, 40);
    assert.is(rb.consume(), 40);
    assert.equal(seqs, [...Array(40).keys()]);
    assert.is(rb.consume(), 0, 'nothing left');
    assert.is(rb.rings[0]!.availableBytes, 0);
  });

  s('wraparound: records that straddle the end of the ring arrive contiguous and intact', () => {
    using obj = openLoaded();
    const ring = new RingBuffer(obj.map('rb_a'));
    let next = 0;
    let straddled = 0;
    const size = ring.rings[0]!.size;
    for (let round = 0; round < 60; round++) {
      emitVar(obj, RB_A, 25, 0, next);
      ring.consume((rec) => {
        if (zeroCopy && rec._off - 8 + rec.byteLength + 8 > size) straddled++;
        assert.is(checkVar(rec), next++);
      });
    }
    assert.is(next, 60 * 25);
    assert.ok(ring.rings[0]!.consumerPosition > 10 * size, 'went around the ring many times');
    if (zeroCopy) assert.ok(straddled > 0, 'some record straddled the end of the ring');
    assert.is(bss(obj, 'dropped'), 0);
    ring.close();
  });

  s('discarded records are skipped and not counted', () => {
    using obj = openLoaded();
    const seqs: number[] = [];
    using rb = new RingBuffer(obj.map('rb_a'), (rec) => {
      assert.is(rec.byteLength, 24);
      assert.is(rec.getBigUint64(16, true), 0x5a5a5a5a5a5a5a5an);
      seqs.push(rec.getU64Number(0));
    });
    emitFixed(obj, RB_A, 30, 3);
    assert.is(rb.consume(), 20);
    assert.equal(seqs, [...Array(30).keys()].filter((i) => i % 3 !== 0));
    // Only discarded records: the ring has data, but no record is delivered.
    emitFixed(obj, RB_A, 1, 1, 33);
    assert.ok(rb.rings[0]!.availableBytes > 0);
    assert.is(rb.consume(), 0);
    assert.is(rb.rings[0]!.availableBytes, 0, 'a discarded record is consumed');
  });

  s('several maps in one RingBuffer: per-ring callbacks, sources, order within each ring', () => {
    using obj = openLoaded();
    const a: number[] = [];
    const b: number[] = [];
    const mapA = obj.map('rb_a');
    const mapB = obj.map('rb_b');
    using rb = new RingBuffer(mapA, (rec, src) => { assert.is(src, mapA); assert.is(rec.source, mapA); a.push(rec.getU64Number(0)); });
    const ringB = rb.add(mapB, (rec, src) => { assert.is(src, mapB); b.push(rec.getU64Number(0)); });
    assert.is(rb.rings.length, 2);
    assert.is(ringB.index, 1);
    assert.is(ringB.size, 4096);
    emitFixed(obj, RB_A, 10, 0, 100);
    emitFixed(obj, RB_B, 7, 0, 200);
    emitFixed(obj, RB_A, 5, 0, 110);
    assert.is(rb.consume(), 22);
    assert.equal(a, [...Array(15).keys()].map((i) => 100 + i));
    assert.equal(b, [...Array(7).keys()].map((i) => 200 + i));
    // A consume() callback overrides the per-ring ones and gets the source.
    emitFixed(obj, RB_B, 2, 0, 300);
    const seen: [unknown, number][] = [];
    assert.is(rb.consume((rec, src) => { seen.push([src, rec.getU64Number(0)]); }), 2);
    assert.equal(seen, [[mapB, 300], [mapB, 301]]);
    // One ring only.
    emitFixed(obj, RB_A, 3, 0, 400);
    emitFixed(obj, RB_B, 3, 0, 500);
    assert.is(ringB.consume(), 3);
    assert.is(rb.rings[0]!.consume(), 3);
  });

  s('burst within capacity: 120k records, in order, none lost', () => {
    using obj = openLoaded();
    let next = 0;
    let bad = 0;
    using rb = new RingBuffer(obj.map('rb_big'), (rec) => { if (rec.getU64Number(0) !== next++) bad++; });
    emitFixed(obj, RB_BIG, 120_000);
    assert.is(bss(obj, 'dropped'), 0, 'fits: 120k × 32 bytes < 4 MiB');
    assert.is(rb.consume(), 120_000);
    assert.is(bad, 0);
  });

  s('overflow: what does not fit is dropped and counted by the kernel side, nothing else is lost', () => {
    using obj = openLoaded();
    const seqs: number[] = [];
    using rb = new RingBuffer(obj.map('rb_big'), (rec) => { seqs.push(rec.getU64Number(0)); });
    emitFixed(obj, RB_BIG, 200_000);
    const dropped = bss(obj, 'dropped');
    const emitted = bss(obj, 'emitted');
    assert.is(emitted + dropped, 200_000);
    assert.ok(dropped > 0, 'the ring overflowed');
    assert.is(rb.consume(), emitted);
    // Records that fitted are exactly the first `emitted` sequence numbers, in order.
    assert.is(seqs.length, emitted);
    assert.ok(seqs.every((s, i) => s === i));
    // After draining, there is room again.
    emitFixed(obj, RB_BIG, 10, 0, 1_000_000);
    assert.is(rb.consume(), 10);
    assert.is(bss(obj, 'dropped'), dropped);
  });

  s('a callback returning false stops after its record; the rest stays for the next consume', () => {
    using obj = openLoaded();
    using rb = new RingBuffer(obj.map('rb_a'));
    emitFixed(obj, RB_A, 10);
    const got: number[] = [];
    assert.is(rb.consume((rec) => { got.push(rec.getU64Number(0)); return got.length < 4; }), 4);
    assert.equal(got, [0, 1, 2, 3]);
    assert.is(rb.consume((rec) => { got.push(rec.getU64Number(0)); }), 6);
    assert.equal(got, [...Array(10).keys()]);
  });

  s('a throwing callback ends the drain cleanly: its record is consumed, the error propagates', () => {
    using obj = openLoaded();
    using rb = new RingBuffer(obj.map('rb_a'));
    emitFixed(obj, RB_A, 10);
    const got: number[] = [];
    assert.throws(() => rb.consume((rec) => {
      got.push(rec.getU64Number(0));
      if (got.length === 3) throw new Error('boom');
    }), /boom/);
    assert.is(rb.consume((rec) => { got.push(rec.getU64Number(0)); }), 7);
    assert.equal(got, [...Array(10).keys()], 'record 2 delivered once, the others after it intact');
  });

  s('close() from inside a callback ends the drain at once', () => {
    using obj = openLoaded();
    const rb = new RingBuffer(obj.map('rb_a'));
    emitFixed(obj, RB_A, 10);
    let calls = 0;
    assert.is(rb.consume(() => { calls++; if (calls === 3) rb.close(); }), 3);
    assert.is(calls, 3);
    assert.ok(rb.closed);
  });

  s('maxRecords limits a drain (ring_buffer__consume_n)', () => {
    using obj = openLoaded();
    using rb = new RingBuffer(obj.map('rb_a'), () => {});
    emitFixed(obj, RB_A, 10);
    assert.is(rb.consume(undefined, 3), 3);
    assert.is(rb.consume(undefined, 2.5), 3, 'a fractional limit rounds up, as n >= max would');
    assert.is(rb.consume(undefined, 100), 4);
  });

  s('a long drain publishes the consumer position in batches, not only at its end', () => {
    using obj = openLoaded();
    const pos0 = new RingBuffer(obj.map('rb_big'), () => {});
    const start = pos0.rings[0]!.consumerPosition;
    pos0.close();
    let mid = -1;
    let n = 0;
    using rb = new RingBuffer(obj.map('rb_big'), () => {
      if (++n === 60_000) mid = rb.rings[0]!.consumerPosition;
    });
    emitFixed(obj, RB_BIG, 100_000); // 32-byte records: 3.2 MB of a 4 MiB ring
    assert.is(rb.consume(), 100_000);
    const end = rb.rings[0]!.consumerPosition;
    assert.is(end - start, 100_000 * 32);
    if (zeroCopy) {
      // Published every ring/8 (512 KiB) in place; never past the record being delivered.
      assert.ok(mid - start >= 1024 * 1024 && mid - start < 60_000 * 32, `published mid-drain (${mid - start})`);
    } else {
      // Copy mode publishes after each copied span; here the whole burst is one span.
      assert.ok(mid >= start && mid <= end);
    }
  });

  s('poll drains inside the wake-up: a callback error rejects it, false and close() resolve it with the count', async () => {
    using obj = openLoaded();
    const got: number[] = [];
    let mode: 'throw' | 'stop' | 'close' | 'all' = 'throw';
    const rb = new RingBuffer(obj.map('rb_a'), (rec) => {
      got.push(rec.getU64Number(0));
      if (mode === 'throw' && got.length === 2) throw new Error('boom');
      if (mode === 'stop') return false;
      if (mode === 'close' && got.length === 2) rb.close();
      return undefined;
    });
    setTimeout(() => emitFixed(obj, RB_A, 5), 20);
    let err: unknown;
    await rb.poll(5000).catch((e: unknown) => { err = e; });
    assert.ok(err instanceof Error && err.message === 'boom', `poll rejected with the callback's error (${String(err)})`);
    mode = 'all';
    assert.is(rb.consume(), 3, 'the throwing record was consumed, the rest is intact');
    assert.equal(got, [0, 1, 2, 3, 4]);
    // The buffer keeps working after the rejection; the timeout still applies.
    setTimeout(() => emitFixed(obj, RB_A, 3, 0, 10), 20);
    assert.is(await rb.poll(5000), 3);
    assert.is(await rb.poll(20), 0);
    // A callback returning false: poll resolves with the one record, the others wait.
    got.length = 0;
    mode = 'stop';
    setTimeout(() => emitFixed(obj, RB_A, 4, 0, 20), 20);
    assert.is(await rb.poll(5000), 1);
    mode = 'all';
    assert.is(rb.consume(), 3);
    assert.equal(got, [20, 21, 22, 23]);
    // close() from a callback: poll resolves with the records delivered before it.
    got.length = 0;
    mode = 'close';
    setTimeout(() => emitFixed(obj, RB_A, 4, 0, 30), 20);
    assert.is(await rb.poll(5000), 2);
    assert.ok(rb.closed);
    assert.equal(got, [30, 31]);
  });

  s('poll resolves when records arrive later, 0 on timeout, immediately when data waits', async () => {
    using obj = openLoaded();
    let n = 0;
    using rb = new RingBuffer(obj.map('rb_a'), () => { n++; });
    let t = performance.now();
    assert.is(await rb.poll(30), 0);
    assert.ok(performance.now() - t >= 25, 'waited for the timeout');
    setTimeout(() => emitFixed(obj, RB_A, 5), 40);
    t = performance.now();
    assert.is(await rb.poll(5000), 5);
    const waited = performance.now() - t;
    assert.ok(waited >= 30 && waited < 2000, `woke when the records came (${waited.toFixed(1)} ms)`);
    emitFixed(obj, RB_A, 2);
    assert.is(await rb.poll(0), 2);
    assert.is(await rb.poll(0), 0);
    assert.is(n, 7);
    // The event loop kept running while poll waited: a timer due before poll's timeout has run when
    // poll resolves, however loaded the machine is (timers fire in due order).
    let earlier = false;
    setTimeout(() => { earlier = true; }, 5);
    assert.is(await rb.poll(60), 0);
    assert.ok(earlier, 'timers ran during poll');
  });

  s('async iteration: records in order, valid until the next step; break keeps the buffer usable', async () => {
    using obj = openLoaded();
    using rb = new RingBuffer([obj.map('rb_a'), obj.map('rb_b')]);
    emitVar(obj, RB_A, 6);
    setTimeout(() => emitVar(obj, RB_B, 4, 0, 100), 20);
    const got: number[] = [];
    let held: RecordView | undefined;
    for await (const rec of rb) {
      if (held) assert.is(held, rec, 'one reused view');
      held = rec;
      got.push(checkVar(rec));
      if (got.length === 10) break;
    }
    assert.equal(got, [0, 1, 2, 3, 4, 5, 100, 101, 102, 103]);
    assert.throws(() => held!.getUint32(0, true), (e: unknown) => e instanceof StateError, 'stale after the loop');
    // The record at the break was consumed; the buffer still works.
    emitVar(obj, RB_A, 1, 0, 7);
    assert.is(rb.consume((r) => { assert.is(checkVar(r), 7); }), 1);
  });

  s('close during a pending poll resolves it with 0; close ends an iteration; AbortSignal closes', async () => {
    using obj = openLoaded();
    const rb = new RingBuffer(obj.map('rb_a'), () => {});
    const p = rb.poll(-1);
    setTimeout(() => rb.close(), 20);
    assert.is(await p, 0);
    assert.ok(rb.closed);
    assert.throws(() => rb.consume(), (e: unknown) => e instanceof StateError);

    const rb2 = new RingBuffer(obj.map('rb_a'));
    setTimeout(() => rb2.close(), 20);
    let n = 0;
    for await (const _ of rb2) n++;
    assert.is(n, 0);

    const ac = new AbortController();
    const rb3 = new RingBuffer(obj.map('rb_a'), () => {}, { signal: ac.signal });
    const p3 = rb3.poll(-1);
    setTimeout(() => ac.abort(), 20);
    assert.is(await p3, 0);
    assert.ok(rb3.closed);
    assert.throws(() => new RingBuffer(obj.map('rb_a'), { signal: ac.signal }), (e: unknown) => e instanceof StateError);
  });

  s('record views: stale after the callback (StateError), bounds-checked, copy() keeps the data', () => {
    using obj = openLoaded();
    using rb = new RingBuffer(obj.map('rb_a'));
    emitVar(obj, RB_A, 2, 40);
    let saved: RecordView | undefined;
    let copy: Uint8Array | undefined;
    rb.consume((rec) => {
      if (!saved) {
        saved = rec;
        copy = rec.copy();
        assert.throws(() => rec.getUint32(38, true), RangeError);
        assert.throws(() => rec.getUint8(-1), RangeError);
        assert.is(rec.bytes.length, 40);
        assert.is(rec.getString(40), '');
      }
    });
    assert.throws(() => saved!.getUint32(0, true), (e: unknown) => e instanceof StateError && /only during its callback/.test((e as Error).message));
    assert.throws(() => saved!.byteLength, (e: unknown) => e instanceof StateError);
    assert.is(new DataView(copy!.buffer).getUint32(0, true), 0);
    assert.is(copy!.length, 40);
    assert.is(copy![39], 39);
    rb.close();
    assert.throws(() => saved!.getUint32(0, true), (e: unknown) => e instanceof StateError && /closed/.test((e as Error).message));
  });

  s('misuse is refused: consume inside a callback, two waits at once, no callback', async () => {
    using obj = openLoaded();
    using rb = new RingBuffer(obj.map('rb_a'));
    emitFixed(obj, RB_A, 1);
    assert.throws(() => rb.consume(), (e: unknown) => e instanceof BpfError && /no callback/.test((e as Error).message));
    assert.throws(() => rb.consume(() => { rb.consume(() => {}); }), (e: unknown) => e instanceof StateError);
    const p = rb.poll(50);
    await assert_rejects(rb.poll(50), StateError);
    await p;
  });

  s.run();
}

async function assert_rejects(p: Promise<unknown>, cls: new (...a: never[]) => Error): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.instance(e, cls);
    return;
  }
  assert.unreachable('expected a rejection');
}

recordSuite('zero-copy', true);
recordSuite('copy mode', false);

// ---- mode-independent tests ------------------------------------------------------------------------

test('wrong map types and unloaded maps are refused with clear errors', () => {
  const unloaded = BpfObject.open(OBJ);
  assert.throws(() => new RingBuffer(unloaded.map('rb_a')), (e: unknown) => e instanceof StateError && /not loaded/.test((e as Error).message));
  unloaded.close();
  using obj = openLoaded();
  assert.throws(() => new RingBuffer(obj.map('not_a_ring')), (e: unknown) =>
    e instanceof BpfError && e.errno === 22 && /not a BPF_MAP_TYPE_RINGBUF/.test((e as Error).message));
  assert.throws(() => new RingBuffer([]), (e: unknown) => e instanceof BpfError);
  assert.throws(() => new RingBuffer(99999), (e: unknown) => e instanceof BpfError);
});

test('a map fd number works as a source, and is passed back to the callback', () => {
  using obj = openLoaded();
  const fd = obj.map('rb_a').fd;
  const srcs: unknown[] = [];
  using rb = new RingBuffer(fd, (_rec, src) => { srcs.push(src); });
  emitFixed(obj, RB_A, 2);
  assert.is(rb.consume(), 2);
  assert.equal(srcs, [fd, fd]);
  assert.ok(rb.epollFd > 0);
});

test('real events: a raw tracepoint on sys_enter wakes a pending poll', async () => {
  using obj = openLoaded();
  const bssMap = obj.map('.bss');
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne('.bss', BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error('no .bss');
  const off = ds.vars.find((v) => btf.type(v.type).name === 'target_pid')!.offset;
  const val = bssMap.lookup(new Uint8Array(4))!;
  new DataView(val.buffer, val.byteOffset).setUint32(off, process.pid, true);
  bssMap.update(new Uint8Array(4), val);
  using link = rawTracepointOpen('sys_enter', obj.program('on_sys_enter').fd);
  const ids = new Set<number>();
  using rb = new RingBuffer(obj.map('rb_a'), (rec) => {
    assert.is(rec.getU64Number(8), process.pid);
    ids.add(rec.getU64Number(0));
  });
  rb.consume(); // whatever this process did since attach
  ids.clear();
  const pending = rb.poll(5000);
  setTimeout(() => statSync('/'), 10); // newfstatat (or statx): a system call from this process
  assert.ok((await pending) > 0);
  assert.ok(ids.size > 0);
  void link;
});

test('threadpool wait mode: poll wakes, close during a pending poll resolves and frees everything', async () => {
  using obj = openLoaded();
  await sleep(50); // let earlier threadpool waits (TSBPF_EVENT_WAIT) release their fds
  const before = liveFds().length;
  const fdsBefore = procFdCount();
  let n = 0;
  const rb = new RingBuffer(obj.map('rb_a'), () => { n++; }, { wait: 'threadpool' });
  assert.is(rb.waitMode, 'threadpool');
  setTimeout(() => emitFixed(obj, RB_A, 3), 20);
  assert.is(await rb.poll(5000), 3);
  assert.is(await rb.poll(20), 0);
  const p = rb.poll(-1);
  setTimeout(() => rb.close(), 20);
  assert.is(await p, 0);
  assert.is(n, 3);
  await sleep(50); // the pool thread returns from epoll_wait and the private epoll/eventfd close
  assert.is(liveFds().length, before);
  assert.is(procFdCount(), fdsBefore);
});

test('no fd or mapping leaks: everything is closed after close()', async () => {
  using obj = openLoaded();
  await sleep(50); // let earlier threadpool waits (TSBPF_EVENT_WAIT) release their fds
  const fdsBefore = procFdCount();
  const liveBefore = liveFds().length;
  const mapsBefore = readMaps();
  for (let i = 0; i < 20; i++) {
    const rb = new RingBuffer([obj.map('rb_a'), obj.map('rb_b')], () => {});
    emitFixed(obj, RB_A, 2);
    await rb.poll(100);
    const p = rb.poll(-1);
    rb.close();
    await p;
  }
  await sleep(50); // with TSBPF_EVENT_WAIT=threadpool the pool thread's private fds close when it returns
  assert.is(liveFds().length, liveBefore);
  assert.is(procFdCount(), fdsBefore);
  // Closed rings leave private anonymous placeholders until their views are collected; none may still
  // map the ring buffer.
  assert.is(readMaps().filter((l) => l.includes('bpf-ringbuf') || l.includes('anon_inode:bpf-map')).length,
    mapsBefore.filter((l) => l.includes('bpf-ringbuf') || l.includes('anon_inode:bpf-map')).length);
});

function readMaps(): string[] {
  return execFileSync('cat', [`/proc/${process.pid}/maps`], { encoding: 'utf8' }).split('\n');
}

function child(script: string, env: Record<string, string> = {}, flags: string[] = []): { status: number | null; out: string; ms: number } {
  const t = Date.now();
  try {
    const out = execFileSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: scaled(30_000),
    });
    return { status: 0, out, ms: Date.now() - t };
  } catch (e) {
    const err = e as { status: number | null; signal?: string; stdout?: string; stderr?: string };
    return { status: err.status ?? 128, out: `${err.stdout ?? ''}${err.stderr ?? ''} signal=${err.signal}`, ms: Date.now() - t };
  }
}

test('child: the process exits by itself once buffers are closed (both wait modes), and stale views do not crash', () => {
  for (const wait of ['uv-poll', 'threadpool']) {
    const r = child(`
      import { BpfObject, RingBuffer } from './src/index.ts';
      const obj = BpfObject.open(${JSON.stringify(OBJ)});
      await obj.load();
      const ctx = new Uint8Array(32); new DataView(ctx.buffer).setBigUint64(8, 3n, true);
      const rb = new RingBuffer(obj.map('rb_a'), { wait: '${wait}' });
      obj.program('emit_fixed').testRunSync({ ctx });
      let bytes;
      for await (const rec of rb) { bytes = rec.bytes; break; }
      const before = bytes[16];
      rb.consume(() => {});
      const pending = rb.poll(-1);   // left pending: close must settle it and release the loop
      setTimeout(() => { rb.close(); obj.close(); }, 10);
      console.log(JSON.stringify({ resolved: await pending, before, after: bytes[16] }));
    `, { TSBPF_FORCE_COPY: '0' });
    assert.is(r.status, 0, r.out);
    const res = JSON.parse(r.out.trim().split('\n').pop()!);
    assert.equal(res, { resolved: 0, before: 0x5a, after: 0 }, 'a stale zero-copy view reads zeros after close');
    assert.ok(r.ms < scaled(15_000), `${wait}: exited by itself`);
  }
});

test('child: a buffer dropped without close() after polling is collected without crashing, and the process exits', () => {
  const r = child(`
    import { BpfObject, RingBuffer } from './src/index.ts';
    const obj = BpfObject.open(${JSON.stringify(OBJ)});
    await obj.load();
    const ctx = new Uint8Array(32); new DataView(ctx.buffer).setBigUint64(8, 2n, true);
    for (let i = 0; i < 5; i++) {
      let rb = new RingBuffer(obj.map('rb_a'), () => {});
      setTimeout(() => obj.program('emit_fixed').testRunSync({ ctx }), 5);
      await rb.poll(1000);
      rb = undefined;            // leaked: never closed
      globalThis.gc();
      await new Promise((res) => setTimeout(res, 10));
      globalThis.gc();
    }
    console.log('done');
  `, {}, ['--expose-gc']);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /done/);
  assert.ok(r.ms < scaled(15_000));
});

test('child: TSBPF_FORCE_COPY=1 selects copy mode', () => {
  const r = child(`
    import { BpfObject, RingBuffer } from './src/index.ts';
    const obj = BpfObject.open(${JSON.stringify(OBJ)});
    await obj.load();
    const rb = new RingBuffer(obj.map('rb_a'), () => {});
    const ctx = new Uint8Array(32); new DataView(ctx.buffer).setBigUint64(8, 4n, true);
    obj.program('emit_fixed').testRunSync({ ctx });
    console.log(JSON.stringify({ zeroCopy: rb.zeroCopy, n: rb.consume() }));
    rb.close(); obj.close();
  `, { TSBPF_FORCE_COPY: '1' });
  assert.is(r.status, 0, r.out);
  assert.equal(JSON.parse(r.out.trim().split('\n').pop()!), { zeroCopy: false, n: 4 });
});

test.run();
