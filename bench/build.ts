// `tsbpf build` against the pipeline C projects run for the same result (libbpf-bootstrap's Makefile):
//   bpftool btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h
//   clang -target bpf -g -O2 -D__TARGET_ARCH_x86 ... -c probe.bpf.c -o probe.bpf.o
//   llvm-strip -g probe.bpf.o
//   bpftool gen skeleton probe.bpf.o > probe.skel.h
// Whole processes, as a user waits for them, with the same clang, flags and source on both sides; the
// sides alternate. Two rows: cold (vmlinux.h made first: an empty cache for tsbpf, a fresh dump for
// the Makefile) and warm (vmlinux.h already there: what an edit-rebuild cycle costs).
//
//   npx tsx bench/build.ts [--iters 9]
//
// tsbpf runs as its bin from dist/ (npm run build first). clang dominates both sides.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { targetArch, toolchain } from '../src/build/toolchain.js';
import { summarize, type Summary } from './lib/stats.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const SOURCE = join(ROOT, 'examples', 'bootstrap.bpf.c');

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; stdout?: string }): void {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'buffer', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr?.toString()}`);
  if (opts.stdout) writeFileSync(opts.stdout, r.stdout);
}

function timed(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { iters: { type: 'string', default: '9' } } });
  const iters = Number(values.iters);
  if (!existsSync(CLI)) throw new Error('dist/ is missing: npm run build');
  const tools = toolchain();
  if (!tools.strip) throw new Error('llvm-strip is needed for a like-for-like pipeline');
  const arch = targetArch();
  const work = mkdtempSync(join(tmpdir(), 'tsbpf-bench-build-'));
  try {
    // The example includes its own header beside it.
    copyFileSync(SOURCE, join(work, 'bootstrap.bpf.c'));
    copyFileSync(join(ROOT, 'examples', 'bootstrap.h'), join(work, 'bootstrap.h'));
    const cache = join(work, 'cache');
    const env = { ...process.env, TSBPF_CACHE_DIR: cache, CLANG: tools.clang };
    const tsbpf = (cold: boolean): number => {
      if (cold) rmSync(cache, { recursive: true, force: true });
      return timed(() => run(process.execPath, [CLI, 'build', 'bootstrap.bpf.c'], { cwd: work, env }));
    };
    const inc = join(work, 'make');
    const makefile = (cold: boolean): number => {
      if (cold) rmSync(inc, { recursive: true, force: true });
      return timed(() => {
        if (cold) {
          run('mkdir', ['-p', inc], { cwd: work });
          run('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { cwd: work, stdout: join(inc, 'vmlinux.h') });
        }
        run(tools.clang, ['-g', '-O2', '-target', 'bpf', ...(arch ? [`-D__TARGET_ARCH_${arch}`] : []), '-I', work, '-I', inc,
          ...tools.systemIncludeDirs.flatMap((d) => ['-idirafter', d]),
          '-c', 'bootstrap.bpf.c', '-o', 'make.bpf.o'], { cwd: work });
        run(tools.strip!, ['-g', 'make.bpf.o'], { cwd: work });
        run('bpftool', ['gen', 'skeleton', 'make.bpf.o', 'name', 'bootstrap'], { cwd: work, stdout: join(work, 'make.skel.h') });
      });
    };
    // Warm-up: page cache, and both pipelines checked to work.
    tsbpf(true);
    makefile(true);
    process.stderr.write(`bench/build: ${iters} runs per side and row, load average ${loadavg()[0]!.toFixed(2)}\n`);
    const rows: { name: string; make: Summary; ts: Summary }[] = [];
    for (const cold of [true, false]) {
      const a: number[] = [];
      const b: number[] = [];
      for (let i = 0; i < iters; i++) {
        if (i % 2) {
          a.push(makefile(cold));
          b.push(tsbpf(cold));
        } else {
          b.push(tsbpf(cold));
          a.push(makefile(cold));
        }
      }
      rows.push({ name: cold ? 'cold: vmlinux.h made, compile, strip, skeleton' : 'warm: vmlinux.h there, compile, strip, skeleton', make: summarize(a), ts: summarize(b) });
    }
    // The skeleton step alone, from the same object: `tsbpf gen skeleton` against `bpftool gen skeleton`.
    {
      const a: number[] = [];
      const b: number[] = [];
      const gen = (): number => timed(() => run(process.execPath, [CLI, 'gen', 'skeleton', 'make.bpf.o', 'name', 'bootstrap'], { cwd: work, stdout: join(work, 'gen.skel.ts') }));
      const tool = (): number => timed(() => run('bpftool', ['gen', 'skeleton', 'make.bpf.o', 'name', 'bootstrap'], { cwd: work, stdout: join(work, 'make.skel.h') }));
      for (let i = 0; i < iters; i++) {
        if (i % 2) {
          a.push(tool());
          b.push(gen());
        } else {
          b.push(gen());
          a.push(tool());
        }
      }
      rows.push({ name: 'gen skeleton alone (whole process)', make: summarize(a), ts: summarize(b) });
    }
    const f = (s: Summary): string => `${s.median.toFixed(0)} ms (p10 ${s.p10.toFixed(0)}, p90 ${s.p90.toFixed(0)})`;
    process.stdout.write(`\n| examples/bootstrap.bpf.c | bpftool (+ clang + llvm-strip) | tsbpf | time ratio |\n|---|---|---|---|\n`);
    for (const r of rows) process.stdout.write(`| ${r.name} | ${f(r.make)} | ${f(r.ts)} | ${(r.ts.median / r.make.median).toFixed(2)}× |\n`);
    process.stdout.write(`load average at the end: ${loadavg().map((x) => x.toFixed(2)).join(' ')}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
