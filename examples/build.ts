// Rebuilds the examples: each examples/<name>.bpf.c → <name>.bpf.o (with clang, when it is installed)
// → <name>.skel.ts (tsbpf gen skeleton). The vmlinux.h the programs include is tsbpf's own
// `btf dump file /sys/kernel/btf/vmlinux format c`, written to examples/.build/ (not committed).
//
//   npx tsx examples/build.ts           # rebuild objects (if clang-16 exists) and skeletons
//   npx tsx examples/build.ts --check   # only check that the committed skeletons match the objects

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Btf, dumpC } from '../btf/index.js';
import { generateSkeleton } from '../src/skeleton/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUILD = join(HERE, '.build');

export function exampleNames(): string[] {
  return readdirSync(HERE).filter((f) => f.endsWith('.bpf.c')).map((f) => f.slice(0, -'.bpf.c'.length)).sort();
}

/** The skeleton text for examples/<name>.bpf.o, exactly as committed. */
export function skeletonFor(name: string): string {
  return generateSkeleton(join(HERE, `${name}.bpf.o`), { name, sourceName: `${name}.bpf.o` });
}

function haveClang(): boolean {
  return spawnSync('sh', ['-c', 'command -v clang-16 && command -v llvm-strip-16'], { stdio: 'ignore' }).status === 0;
}

function vmlinuxH(): string {
  mkdirSync(BUILD, { recursive: true });
  const out = join(BUILD, 'vmlinux.h');
  if (!existsSync(out)) writeFileSync(out, dumpC(Btf.parse(readFileSync('/sys/kernel/btf/vmlinux'))));
  return BUILD;
}

function compile(name: string): void {
  const inc = vmlinuxH();
  execFileSync('clang-16', [
    '-target', 'bpf', '-g', '-O2', '-D__TARGET_ARCH_x86', '-I', inc, '-I', HERE, '-I/usr/include/x86_64-linux-gnu',
    '-c', join(HERE, `${name}.bpf.c`), '-o', join(HERE, `${name}.bpf.o`),
  ], { stdio: 'inherit' });
  // DWARF is only for the compiler's own debugging here; BTF (kept) is what loaders read.
  execFileSync('llvm-strip-16', ['-g', join(HERE, `${name}.bpf.o`)], { stdio: 'inherit' });
}

function main(): number {
  const check = process.argv.includes('--check');
  let stale = 0;
  for (const name of exampleNames()) {
    if (!check) {
      if (haveClang()) compile(name);
      else if (!existsSync(join(HERE, `${name}.bpf.o`))) throw new Error(`clang-16 is needed to build examples/${name}.bpf.o`);
    }
    const skel = skeletonFor(name);
    const path = join(HERE, `${name}.skel.ts`);
    if (check) {
      const same = existsSync(path) && readFileSync(path, 'utf8') === skel;
      if (!same) {
        process.stderr.write(`examples/${name}.skel.ts does not match its object; run: npx tsx examples/build.ts\n`);
        stale++;
      }
    } else {
      writeFileSync(path, skel);
      process.stdout.write(`examples/${name}.bpf.o → examples/${name}.skel.ts\n`);
    }
  }
  return stale ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main();
