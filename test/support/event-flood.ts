// A consumer under a flood that never lets its rings empty, run as a child process by
// test/events-flood.test.ts: every record it receives makes the producer emit one more (the
// producer is test/bpf/events-bench.bpf.c, run with BPF_PROG_TEST_RUN from the callback), the way a
// tracer's own output causes the very events it traces (runqslower's writes wake the reader of its
// stdout: one more sched_wakeup per line). It prints "flooding" once the flood runs, stops on SIGINT
// by closing the buffer, and exits 0 after printing how many records it took.
//
//   node --import tsx test/support/event-flood.ts OBJ perf|ring poll|iterate|consume

import { BpfObject, PerfBuffer, RingBuffer, type RecordView } from '../../src/index.js';
import { onlineCpus } from '../../syscalls/index.js';

const [objPath, kind, mode] = process.argv.slice(2);
if (!objPath || (kind !== 'perf' && kind !== 'ring') || !['poll', 'iterate', 'consume'].includes(mode ?? '')) {
  process.stderr.write('usage: event-flood.ts OBJ perf|ring poll|iterate|consume\n');
  process.exit(2);
}

const BPF_F_TEST_RUN_ON_CPU = 1;
const cpu = onlineCpus()[0]!;
const obj = BpfObject.open(objPath);
obj.loadSync();
const prog = obj.program(kind === 'perf' ? 'pb_produce' : 'rb_produce');
// args[0] = 1 record per run; the rest 0 (no timestamp, drop when full, the kernel's wake-up policy).
const ctx = new Uint8Array(32);
new DataView(ctx.buffer).setBigUint64(0, 1n, true);
const emit = (): void => {
  prog.testRunSync({ ctx, flags: BPF_F_TEST_RUN_ON_CPU, cpu });
};

const state = { taken: 0 };
const onRecord = (_rec: RecordView): void => {
  state.taken++;
  if (state.taken === 1000) process.stdout.write('flooding\n');
  emit();
};
const buf = kind === 'perf'
  ? new PerfBuffer(obj.map('pb'), onRecord, { cpus: [cpu] })
  : new RingBuffer(obj.map('rb'), onRecord);

let stopping = false;
process.once('SIGINT', () => {
  stopping = true;
  buf.close();
});

// Loaded and listening: the parent can tell a slow start from a flood that never began.
process.stderr.write('consumer ready\n');
// A few records to start with; from then on each record brings the next one.
for (let i = 0; i < 4; i++) emit();
if (mode === 'iterate') {
  for await (const rec of buf) onRecord(rec);
} else if (mode === 'poll') {
  while (!stopping) await buf.poll(100);
} else {
  // consume() between waits on a timer, as a program with its own schedule would.
  while (!stopping) {
    buf.consume();
    await new Promise((r) => setTimeout(r, 1));
  }
}
obj.close();
process.stdout.write(`stopped after ${state.taken} records\n`);
