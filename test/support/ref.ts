// The libbpf side of the differential tests: builds test/ref/ref-run.c against the system libbpf
// (cached in test/.build/) and runs it, returning its JSON lines.
//
//   const r = refRun(compileBpf('maps'), ['run', 'hash_add', 'data=01…', 'dump']);
//   r.lines  // [{cmd:'open',…}, {cmd:'load',err:0}, {cmd:'run',…}, {cmd:'map',…}, …]

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR, haveCommand, REPO_ROOT } from './compile.js';

const REF_SRC = join(REPO_ROOT, 'test', 'ref', 'ref-run.c');
const LIBBPF_HEADER = '/usr/include/bpf/libbpf.h';

/** One JSON line printed by ref-run. */
export interface RefLine {
  cmd: string;
  err?: number;
  [k: string]: unknown;
}

export interface RefResult {
  lines: RefLine[];
  status: number;
  /** libbpf's messages, verifier logs included (can be megabytes). */
  stderr: string;
}

/** Compiles ref-run (cached by the hash of its source and of libbpf's headers) and returns its path. */
export function buildRefRun(): string {
  mkdirSync(BUILD_DIR, { recursive: true });
  const out = join(BUILD_DIR, 'ref-run');
  const stamp = `${out}.hash`;
  if (!existsSync(LIBBPF_HEADER)) {
    throw new Error(`${LIBBPF_HEADER} is missing: install libbpf-dev (test/run.sh does it when run as root)`);
  }
  const h = createHash('sha256');
  h.update(readFileSync(REF_SRC));
  h.update(readFileSync(LIBBPF_HEADER));
  h.update(readFileSync('/usr/include/bpf/bpf.h'));
  const key = h.digest('hex');
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return out;
  if (!haveCommand('gcc')) throw new Error('gcc is not installed: needed to build test/ref/ref-run.c');
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync('gcc', ['-O2', '-Wall', REF_SRC, '-lbpf', '-lelf', '-lz', '-o', tmp], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building ref-run failed:\n${r.stderr}${r.error ?? ''}`);
  renameSync(tmp, out);
  const stmp = `${stamp}.${process.pid}.tmp`;
  writeFileSync(stmp, key);
  renameSync(stmp, stamp);
  return out;
}

/** The last `n` lines of a (possibly huge) text, for error messages. */
export function tail(text: string, n = 40): string {
  const lines = text.trimEnd().split('\n');
  return lines.length <= n ? lines.join('\n') : `… (${lines.length - n} lines cut)\n${lines.slice(-n).join('\n')}`;
}

/** Runs `ref-run OBJ ARGS…`. Throws only if ref-run could not run or printed something unparsable. */
export function refRun(objPath: string, args: string[], opts: { name?: string; env?: Record<string, string> } = {}): RefResult {
  const bin = buildRefRun();
  const argv = [objPath, ...(opts.name !== undefined ? ['--name', opts.name] : []), ...args];
  const r = spawnSync(bin, argv, {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    env: { ...process.env, ...(opts.env ?? {}) },
  });
  if (r.error) throw new Error(`ref-run failed to run: ${r.error.message}`);
  if (r.signal) throw new Error(`ref-run killed by ${r.signal}\n${tail(r.stderr)}`);
  const lines: RefLine[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.trim()) continue;
    try {
      lines.push(JSON.parse(line) as RefLine);
    } catch {
      throw new Error(`ref-run printed a non-JSON line: ${line}\nstderr:\n${tail(r.stderr)}`);
    }
  }
  if (r.status === 2) throw new Error(`ref-run usage/open error (status 2):\n${tail(r.stderr)}\n${r.stdout}`);
  return { lines, status: r.status ?? -1, stderr: r.stderr };
}
