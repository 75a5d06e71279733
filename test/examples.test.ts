// The examples as a user meets them: the committed skeletons match their committed objects, and
// runqslower traces, filters, handles its flags and exits cleanly, on the real kernel.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exampleNames, skeletonFor } from '../examples/build.js';
import { progGetFdById } from '../syscalls/index.js';
import { REPO_ROOT } from './support/compile.js';

const RQ = join(REPO_ROOT, 'examples', 'runqslower.ts');

test('committed skeletons are what gen skeleton makes from the committed objects', () => {
  const names = exampleNames();
  assert.ok(names.includes('runqslower'));
  for (const name of names) {
    const committed = readFileSync(join(REPO_ROOT, 'examples', `${name}.skel.ts`), 'utf8');
    assert.ok(committed === skeletonFor(name), `examples/${name}.skel.ts is stale; run npx tsx examples/build.ts`);
  }
});

/** The BPF program ids a process holds fds of (/proc/PID/fdinfo), so that other test files' programs don't count. */
function programIdsOf(pid: number): number[] {
  const ids: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.push(Number(m[1]));
    } catch {
      // closed meanwhile
    }
  }
  return ids;
}

function programExists(id: number): boolean {
  try {
    progGetFdById(id).close();
    return true;
  } catch {
    return false;
  }
}

/** Whether every program of `ids` is gone, waiting for the kernel to free them (it does so after exit, deferred). */
async function programsGone(ids: number[]): Promise<boolean> {
  for (let i = 0; i < 100 && ids.some(programExists); i++) await new Promise((r) => setTimeout(r, 50));
  return !ids.some(programExists);
}

/**
 * Runs runqslower for `ms` once it traces, then sends `signal`; returns exit code and output. `load`
 * starts once tracing has begun (so that it does not slow the start) and returns its stopper.
 */
function runFor(args: string[], ms: number, signal: NodeJS.Signals, load?: () => () => void): Promise<{ code: number | null; out: string; err: string; progIds: number[]; stopMs: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', RQ, ...args], { cwd: REPO_ROOT });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    // Once tracing has started (the header is out), let it run for `ms` with some wake-ups, then stop it.
    let timer: NodeJS.Timeout | undefined;
    let busy: NodeJS.Timeout | undefined;
    let progIds: number[] = [];
    let killedAt = NaN;
    let stopLoad: (() => void) | undefined;
    child.stdout.on('data', () => {
      if (timer || !out.includes('LAT(us)')) return;
      busy = setInterval(() => { spawn('true'); }, 20);
      stopLoad = load?.();
      timer = setTimeout(() => {
        progIds = programIdsOf(child.pid!);
        killedAt = performance.now();
        child.kill(signal);
      }, ms);
    });
    // Startup included: node with tsx takes several seconds under an emulated kernel.
    const deadline = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('exit', (code) => {
      stopLoad?.();
      clearInterval(busy);
      clearTimeout(timer);
      clearTimeout(deadline);
      resolve({ code, out, err, progIds, stopMs: performance.now() - killedAt });
    });
  });
}

test('runqslower 0 prints the header and one line per wake-up, and SIGINT exits 0 leaving nothing attached', async () => {
  const r = await runFor(['0'], 2500, 'SIGINT');
  assert.is(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.is(lines[0], 'Tracing run queue latency higher than 0 us');
  assert.is(lines[1], 'TIME     COMM             TID           LAT(us)');
  assert.ok(lines.length > 3, `expected events, got:\n${r.out}\n${r.err}`);
  for (const l of lines.slice(2)) assert.match(l, /^\d\d:\d\d:\d\d \S.{0,15}\s+\d+\s+\d+$/, l);
  assert.ok(r.progIds.length >= 3, `runqslower held its programs while tracing (${r.progIds.join(', ')})`);
  assert.ok(await programsGone(r.progIds), 'programs are gone after exit');
});

test('runqslower -P shows the previous task; SIGTERM exits 0', async () => {
  const r = await runFor(['-P', '0'], 2000, 'SIGTERM');
  assert.is(r.code, 0, r.err);
  const lines = r.out.trim().split('\n');
  assert.is(lines[1], 'TIME     COMM             TID    PREV COMM        PREV TID        LAT(us)');
  assert.ok(lines.length > 2);
});

test('runqslower 0 under a flood of context switches exits promptly on SIGINT', async () => {
  // Two pipelines that pass one byte at a time: every byte is a wake-up and a context switch, more
  // than runqslower prints (issue 15: on 6.1 it took 23 s to exit, on 6.12 it had to be killed).
  // Each load runs in its own process group, ended by that group's id.
  const flood = (): (() => void) => {
    const load = [0, 1].map(() => spawn('sh', ['-c', 'dd if=/dev/zero bs=1 2>/dev/null | dd of=/dev/null bs=1 2>/dev/null'], { detached: true, stdio: 'ignore' }));
    return () => { for (const p of load) process.kill(-p.pid!, 'SIGKILL'); };
  };
  const r = await runFor(['0'], 2000, 'SIGINT', flood);
  assert.ok(r.out.includes('LAT(us)'), `runqslower did not start tracing:\n${r.out}\n${r.err}`);
  assert.ok(!Number.isNaN(r.stopMs), 'SIGINT was sent');
  assert.is(r.code, 0, `exit ${r.code} ${Math.round(r.stopMs)} ms after SIGINT\n${r.err}`);
  assert.ok(r.out.split('\n').length > 100, 'the load made events');
  // Promptly: a few ms here; the limit leaves room for emulated kernels (10-30x slower).
  assert.ok(r.stopMs < 10_000, `exited ${Math.round(r.stopMs)} ms after SIGINT`);
  console.log(`  runqslower 0 under the flood: exited ${Math.round(r.stopMs)} ms after SIGINT (${r.out.split('\n').length} lines)`);
});

test('runqslower -p filters by process (its own wake-ups only)', async () => {
  // Filtering on a PID that does not exist must print nothing but the header.
  const r = await runFor(['-p', '999999', '0'], 1500, 'SIGINT');
  assert.is(r.code, 0, r.err);
  assert.is(r.out.trim().split('\n').length, 2, r.out);
});

test('bad flags print the usage and exit non-zero without a stack trace', () => {
  for (const args of [['-x'], ['-p'], ['-p', 'abc'], ['12', '13'], ['-p', '1', '-t', '2']]) {
    let code = 0;
    let stderr = '';
    try {
      execFileSync(process.execPath, ['--import', 'tsx', RQ, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      code = (e as { status: number }).status;
      stderr = String((e as { stderr: Buffer }).stderr);
    }
    assert.ok(code !== 0, `${args.join(' ')} succeeded`);
    assert.match(stderr, /Usage: runqslower/);
    assert.not.match(stderr, /\n\s+at /, 'no stack trace');
  }
  const help = execFileSync(process.execPath, ['--import', 'tsx', RQ, '-h'], { cwd: REPO_ROOT, encoding: 'utf8' });
  assert.match(help, /Usage: runqslower/);
});

test('without root, runqslower says so in one line', () => {
  let out = '';
  let code = 0;
  try {
    execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', RQ],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    code = (e as { status: number }).status;
    out = String((e as { stderr: Buffer }).stderr);
  }
  assert.ok(code !== 0);
  const lines = out.trim().split('\n');
  assert.is(lines.length, 1, out);
  assert.match(lines[0]!, /root/);
});

test.run();
