// Compiles a small BPF C program written inside a test (rather than a shared one in test/bpf/) into
// test/.build/inline/, cached by the source's hash. Used by tests that need a program shaped for one
// check only (a typed ksym the kernel lacks, a raw tracepoint to attach in a loop).

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_DIR } from './compile.js';

const CLANG = process.env.BPF_CLANG ?? 'clang-16';

export function compileInline(name: string, source: string): string {
  const dir = join(BUILD_DIR, 'inline');
  mkdirSync(dir, { recursive: true });
  const key = createHash('sha256').update(CLANG).update(source).digest('hex').slice(0, 12);
  const out = join(dir, `${name}-${key}.bpf.o`);
  if (existsSync(out)) return out;
  const src = join(dir, `${name}-${key}.bpf.c`);
  writeFileSync(src, source);
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync(CLANG, ['-target', 'bpf', '-g', '-O2', '-I', '/usr/include/x86_64-linux-gnu', '-c', src, '-o', tmp], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${CLANG} failed on ${name}: ${r.stderr}${r.error ?? ''}`);
  renameSync(tmp, out);
  return out;
}
