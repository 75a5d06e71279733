// Helpers for the BTF tests: build the fixtures in this directory with clang-16 (cached by content
// hash under test/.build/) and pull sections out of the objects with the project's ELF reader.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ElfFile } from '../../elf/index.js';

export const FIXTURE_DIR = dirname(fileURLToPath(import.meta.url));
export const BUILD_DIR = resolve(FIXTURE_DIR, '..', '.build');
const CLANG = process.env.BPF_CLANG ?? 'clang-16';

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Compile test/btf-fixtures/<name>.bpf.c; returns the object path. */
export function compileFixture(name: string): string {
  const src = join(FIXTURE_DIR, `${name}.bpf.c`);
  const args = ['-target', 'bpf', '-g', '-O2', '-I', '/usr/include/x86_64-linux-gnu', '-c', src];
  const key = createHash('sha256').update(CLANG).update(args.join(' ')).update(readFileSync(src)).digest('hex');
  mkdirSync(BUILD_DIR, { recursive: true });
  const out = join(BUILD_DIR, `btf-${name}.bpf.o`);
  const stamp = `${out}.hash`;
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return out;
  const tmp = `${out}.${process.pid}.tmp.o`;
  const r = spawnSync(CLANG, [...args, '-o', tmp], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`compiling ${name}.bpf.c failed:\n${r.stderr}${r.error ?? ''}`);
  renameSync(tmp, out);
  const stmp = `${stamp}.${process.pid}`;
  writeFileSync(stmp, key);
  renameSync(stmp, stamp);
  return out;
}

/** A section's bytes, copied (so tests may mutate them). */
export function sectionBytes(elf: ElfFile, name: string): Uint8Array {
  const s = elf.section(name);
  if (!s) throw new Error(`no section ${name}`);
  return s.data.slice();
}

export function loadElf(path: string): ElfFile {
  return ElfFile.parse(new Uint8Array(readFileSync(path)));
}

/** `bpftool btf dump file PATH format raw` (optionally with -B base). */
export function bpftoolRaw(path: string, base?: string): string {
  const args = [...(base ? ['-B', base] : []), 'btf', 'dump', 'file', path, 'format', 'raw'];
  return execFileSync('bpftool', args, { maxBuffer: 512 * 1024 * 1024, encoding: 'utf8' });
}

/** Line-by-line comparison that reports the first difference (a plain string compare would print megabytes). */
export function firstDiff(actual: string, expected: string): string | undefined {
  if (actual === expected) return undefined;
  const a = actual.split('\n');
  const e = expected.split('\n');
  const n = Math.max(a.length, e.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== e[i]) return `line ${i + 1}:\n  ours:    ${JSON.stringify(a[i])}\n  bpftool: ${JSON.stringify(e[i])}\n  (ours ${a.length} lines, bpftool ${e.length})`;
  }
  return 'strings differ but no line does (line endings?)';
}

/** Deterministic PRNG (mulberry32) so fuzz failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
