// A consumer must stop when asked, even under a flood of events that never lets its rings empty.
// Each case runs test/support/event-flood.ts in a child process (a consumer whose every record makes
// the producer emit one more), sends SIGINT once the flood runs and requires the child to exit 0
// within STOP_MS. A drain that keeps reading while records keep coming never returns to the event
// loop, so the SIGINT handler never runs and the child has to be killed (issue 15: runqslower 0 took
// 23 s to exit on 6.1 and never exited on 6.12).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { compileBpf, REPO_ROOT } from './support/compile.js';

const OBJ = compileBpf('events-bench');
const SCRIPT = join(REPO_ROOT, 'test', 'support', 'event-flood.ts');
// The requirement is "promptly": a consumer that yields exits in milliseconds here. The limit is
// generous because emulated kernels (TCG) run 10-30× slower and node starts slowly there.
const STOP_MS = 10_000;
// Time for the child to start, load and reach the flood (node with tsx, cold, under TCG: a minute or more).
const START_MS = 150_000;

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stopMs: number; out: string; err: string }

function floodThenInterrupt(kind: 'perf' | 'ring', mode: 'poll' | 'iterate' | 'consume'): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, OBJ, kind, mode], { cwd: REPO_ROOT });
    let out = '';
    let err = '';
    let sentAt = 0;
    let killer: NodeJS.Timeout | undefined;
    const startLimit = setTimeout(() => child.kill('SIGKILL'), START_MS);
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.on('data', (d) => {
      out += d;
      if (sentAt || !out.includes('flooding')) return;
      clearTimeout(startLimit);
      // Let the flood run a little, then ask the consumer to stop.
      setTimeout(() => {
        sentAt = performance.now();
        child.kill('SIGINT');
        killer = setTimeout(() => child.kill('SIGKILL'), STOP_MS);
      }, 300);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(startLimit);
      clearTimeout(killer);
      resolve({ code, signal, stopMs: sentAt ? performance.now() - sentAt : NaN, out, err });
    });
  });
}

for (const kind of ['perf', 'ring'] as const) {
  for (const mode of ['poll', 'iterate', 'consume'] as const) {
    test(`${kind} buffer, ${mode}: under a flood that never empties the ring, SIGINT stops the consumer within ${STOP_MS / 1000} s`, async () => {
      const r = await floodThenInterrupt(kind, mode);
      assert.ok(r.out.includes('flooding'), `the flood never started (${r.err.includes('consumer ready') ? 'the consumer was ready: the records stopped' : 'the consumer never got ready'}):\n${r.out}\n${r.err}`);
      assert.is(r.signal, null, `the consumer had to be killed ${Math.round(r.stopMs)} ms after SIGINT (${r.signal}): its drain never returned to the event loop`);
      assert.is(r.code, 0, r.err);
      assert.match(r.out, /stopped after \d+ records/);
      assert.ok(r.stopMs < STOP_MS, `stopped ${Math.round(r.stopMs)} ms after SIGINT`);
      console.log(`  ${kind} ${mode}: exited ${Math.round(r.stopMs)} ms after SIGINT (${/stopped after (\d+)/.exec(r.out)![1]} records)`);
    });
  }
}

test.run();
