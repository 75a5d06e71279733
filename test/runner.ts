// Runs test files, each in its own Node process (`node --import tsx FILE`), and adds up uvu's summaries.
//
//   npx tsx test/runner.ts                 every test/**/*.test.ts
//   npx tsx test/runner.ts test/a.test.ts  only these files (directories are searched for *.test.ts)
//
// Environment: TEST_JOBS (files at once, 1 or 2; default 2), TEST_TIMEOUT (seconds per file; default 180).
// A file that exits non-zero, dies from a signal or times out counts as at least one failure.
// The last line is always `N passed, N failed, N skipped`; the exit status is 1 if anything failed.
//
// Leak tracing (test/support/leak-tracer.ts; TSBPF_LEAK_CHECK=0 turns it off): a file that ends with
// tsbpf fds open, or whose BPF programs, maps or links outlive it, counts as one more failure.
// TSBPF_LEAK_STRICT=1 also fails on leftover objects that cannot be attributed to the file (use it on
// a machine where nothing else creates BPF objects).

import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  FAIL_MARK, findKernelLeaks, formatLeaks, HeldSampler, IDS_ENV, kernelIds, mergeRecordedIds, STRICT_ENV, TRACER_ENV, type IdSets, type KernelLeaks,
} from './support/leak-tracer.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const JOBS = Math.min(2, Math.max(1, Number(process.env.TEST_JOBS ?? 2) || 1));
const TIMEOUT_MS = (Number(process.env.TEST_TIMEOUT ?? 180) || 180) * 1000;
const SKIP_DIRS = new Set(['node_modules', '.build', 'dist', '.git']);
const LEAK_CHECK = process.env.TSBPF_LEAK_CHECK !== '0';
const LEAK_STRICT = process.env[STRICT_ENV] === '1';
/**
 * Compiled to JavaScript (the precompiled mirror test/kernel/ runs in guests), the runner runs the
 * compiled test files with plain node; from the sources, through tsx.
 */
const EXT = import.meta.url.endsWith('.js') ? '.js' : '.ts';
const LOADER = EXT === '.ts' ? ['--import', 'tsx'] : [];
const TRACER_URL = pathToFileURL(join(ROOT, 'test', 'support', `leak-tracer${EXT}`)).href;

interface FileResult {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  note: string;
  ms: number;
}

function findTests(dir: string, out: string[]): void {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) {
      if (!SKIP_DIRS.has(ent.name)) findTests(p, out);
    } else if (ent.isFile() && ent.name.endsWith(`.test${EXT}`)) {
      out.push(p);
    }
  }
}

function collect(args: string[]): string[] {
  const files: string[] = [];
  if (args.length === 0) {
    findTests(join(ROOT, 'test'), files);
  } else {
    for (const a of args) {
      const p = resolve(a);
      if (statSync(p).isDirectory()) findTests(p, files);
      else files.push(p);
    }
  }
  return [...new Set(files)].sort();
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*[A-Za-z]/g;

/** uvu prints `Total: N` (tests run, skipped excluded), `Passed: N`, `Skipped: N` once per process. */
export function parseSummary(output: string): { total: number; passed: number; skipped: number } | undefined {
  const text = output.replace(ANSI, '');
  const last = (re: RegExp): number | undefined => {
    let v: number | undefined;
    for (const m of text.matchAll(re)) v = Number(m[1]);
    return v;
  };
  const total = last(/^\s*Total:\s+(\d+)\s*$/gm);
  const passed = last(/^\s*Passed:\s+(\d+)\s*$/gm);
  if (total === undefined || passed === undefined) return undefined;
  return { total, passed, skipped: last(/^\s*Skipped:\s+(\d+)\s*$/gm) ?? 0 };
}

async function runFile(file: string, stream: boolean): Promise<FileResult> {
  const rel = relative(ROOT, file);
  const started = Date.now();
  const before: IdSets | undefined = LEAK_CHECK ? await kernelIds() : undefined;
  const idsFile = join(tmpdir(), `tsbpf-leak-ids-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  return new Promise((done) => {
    const child = spawn(process.execPath, [...LOADER, ...(LEAK_CHECK ? ['--import', TRACER_URL] : []), file], {
      cwd: ROOT,
      env: LEAK_CHECK ? { ...process.env, [TRACER_ENV]: 'child', [IDS_ENV]: idsFile } : process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group, so a timeout kills grandchildren too
    });
    const sampler = before && child.pid ? new HeldSampler(child.pid) : undefined;
    let output = '';
    const onData = (chunk: Buffer): void => {
      const s = chunk.toString();
      output += s;
      if (stream) process.stdout.write(s);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, TIMEOUT_MS);
    child.on('error', (err) => {
      output += `\nrunner: could not start: ${err.message}\n`;
    });
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      sampler?.stop();
      let leaks: KernelLeaks | undefined;
      if (before && sampler) {
        mergeRecordedIds(idsFile, sampler.seen);
        try {
          leaks = await findKernelLeaks(before, sampler.seen);
        } catch (e) {
          output += `\nrunner: leak check failed: ${(e as Error).message}\n`;
        }
      }
      const ms = Date.now() - started;
      let extra = '';
      if (leaks?.attributed.length) extra += `${FAIL_MARK}: BPF objects outlived the test file: ${formatLeaks(leaks.attributed)}\n`;
      if (leaks?.unattributed.length) {
        extra += `${LEAK_STRICT ? FAIL_MARK : 'leak-tracer: warning'}: new BPF objects alive and unheld after the file (not seen in its hands; ` +
          `maybe another process's): ${formatLeaks(leaks.unattributed)}\n`;
      }
      output += extra;
      if (!stream) process.stdout.write(`\n━━━ ${rel}\n${output}`);
      else if (extra) process.stdout.write(extra);
      const sum = parseSummary(output);
      const passed = sum?.passed ?? 0;
      let failed = sum ? Math.max(0, sum.total - sum.passed) : 0;
      const skipped = sum?.skipped ?? 0;
      let note = '';
      if (timedOut) {
        note = `timed out after ${TIMEOUT_MS / 1000} s`;
        failed += 1;
      } else if (signal) {
        note = `killed by ${signal}`;
        failed = Math.max(failed, 1);
      } else if (code !== 0) {
        note = sum ? `exit ${code}` : `exit ${code}, no uvu summary`;
        failed = Math.max(failed, 1);
      } else if (!sum) {
        note = 'no uvu summary (no tests?)';
      }
      // fd leaks make the test process exit 1 (counted above); kernel object leaks are found here.
      const kernelLeak = !!leaks?.attributed.length || (LEAK_STRICT && !!leaks?.unattributed.length);
      if (kernelLeak) failed += 1;
      if (kernelLeak || output.includes(FAIL_MARK)) note = note ? `${note}, leaked` : 'leaked';
      const status = failed > 0 ? 'FAIL' : 'ok';
      process.stdout.write(
        `─── ${status} ${rel}: ${passed} passed, ${failed} failed, ${skipped} skipped` +
          `${note ? ` (${note})` : ''} [${(ms / 1000).toFixed(1)} s]\n`,
      );
      done({ file: rel, passed, failed, skipped, note, ms });
    });
  });
}

async function main(): Promise<void> {
  const files = collect(process.argv.slice(2));
  if (files.length === 0) {
    console.log('runner: no test files found');
    console.log('0 passed, 0 failed, 0 skipped');
    process.exitCode = 1;
    return;
  }
  const stream = JOBS === 1;
  const results: FileResult[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const f = files[next++]!;
      results.push(await runFile(f, stream));
    }
  };
  await Promise.all(Array.from({ length: Math.min(JOBS, files.length) }, worker));

  const sum = (k: 'passed' | 'failed' | 'skipped'): number => results.reduce((a, r) => a + r[k], 0);
  const failedFiles = results.filter((r) => r.failed > 0).sort((a, b) => a.file.localeCompare(b.file));
  console.log(`\n${results.length} file(s) run`);
  for (const r of failedFiles) console.log(`  FAIL ${r.file} (${r.failed} failed${r.note ? `, ${r.note}` : ''})`);
  console.log(`${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`);
  if (sum('failed') > 0) process.exitCode = 1;
}

await main();
