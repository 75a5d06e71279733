// Builds what the benchmark runs into bench/.build/: the BPF objects (clang-16 -target bpf) and the
// libbpf benchmark binary (gcc -O2 … -lbpf -lelf -lz). A target is rebuilt when it is missing or older
// than one of its inputs, so repeated runs start at once.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BUILD_DIR = join(BENCH_DIR, '.build');

const CLANG = process.env.BPF_CLANG ?? 'clang-16';
const CC = process.env.CC ?? 'gcc';

export interface Built {
  /** bench/.build/realistic.bpf.o: the open+load object. */
  realistic: string;
  /** bench/.build/mapbench.bpf.o: the map-operation object. */
  mapbench: string;
  /** bench/.build/bench-libbpf: the libbpf side. */
  libbpfBench: string;
}

function stale(out: string, inputs: readonly string[]): boolean {
  if (!existsSync(out)) return true;
  const t = statSync(out).mtimeMs;
  return inputs.some((i) => statSync(i).mtimeMs > t);
}

function run(cmd: string, args: readonly string[], out: string, what: string): void {
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync(cmd, [...args, '-o', tmp], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? String(r.error) : r.stderr;
    throw new Error(`building ${what} failed: ${cmd} ${args.join(' ')} -o ${tmp}\n${why}`);
  }
  renameSync(tmp, out);
}

export function bpfObject(name: string): string {
  const src = join(BENCH_DIR, 'bpf', `${name}.bpf.c`);
  const out = join(BUILD_DIR, `${name}.bpf.o`);
  if (stale(out, [src])) {
    run(CLANG, ['-target', 'bpf', '-g', '-O2', '-I/usr/include/x86_64-linux-gnu', '-c', src], out, `${name}.bpf.o`);
  }
  return out;
}

export function buildAll(): Built {
  mkdirSync(BUILD_DIR, { recursive: true });
  const csrc = join(BENCH_DIR, 'c', 'bench-libbpf.c');
  const cbin = join(BUILD_DIR, 'bench-libbpf');
  if (stale(cbin, [csrc])) run(CC, ['-O2', '-Wall', csrc, '-lbpf', '-lelf', '-lz'], cbin, 'bench-libbpf');
  return { realistic: bpfObject('realistic'), mapbench: bpfObject('mapbench'), libbpfBench: cbin };
}
