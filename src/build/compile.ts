// One BPF C source → its object (clang -target bpf, DWARF stripped) → its typed skeleton: what
// libbpf-bootstrap's Makefile, bpf2go and libbpf-cargo's SkeletonBuilder do for C, Go and Rust.

import { spawnSync } from 'node:child_process';
import { readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { BpfError, BuildError } from '../errors.js';
import { generateSkeleton, skeletonName } from '../skeleton/generate.js';
import { makeDir, writeAtomically } from './files.js';
import { INSTALL_CLANG, INSTALL_LIBBPF_HEADERS, targetArch, toolchain } from './toolchain.js';
import { cacheDir } from './files.js';
import { KERNEL_BTF, vmlinuxHeaderDir } from './vmlinux-header.js';

export interface BuildOptions {
  /** Where the .bpf.o and .skel.ts go (default: beside the source). */
  outDir?: string;
  /** More clang arguments, after tsbpf's own (so they can override -O2 or add -I). */
  cflags?: readonly string[];
  /** The kernel BTF that vmlinux.h is made from: a raw BTF file or a vmlinux image (default: the running kernel's). */
  btf?: string;
  /** Drop DWARF from the object with llvm-strip, when there is one (default true): BTF is all loaders read. */
  strip?: boolean;
  /** Where the skeleton imports the runtime from (default 'tsbpf'). */
  runtimeImport?: string;
  /** Receives clang's diagnostics as clang printed them (default: process.stderr). */
  diagnostics?: (text: string) => void;
}

export interface BuildResult {
  source: string;
  /** The skeleton's name: the source's file name without `.bpf.c` (probe.bpf.c → probe). */
  name: string;
  object: string;
  skeleton: string;
  /** Every file the compile read (from clang's dependency output), for --watch. */
  dependencies: string[];
}

/** probe.bpf.c → probe; probe.c → probe. */
export function sourceStem(source: string): string {
  const base = basename(source);
  if (base.endsWith('.bpf.c')) return base.slice(0, -'.bpf.c'.length);
  return base.slice(0, base.length - extname(base).length) || base;
}

/** The files of a Makefile rule as `clang -MD` writes it (`out: a.c b.h \` with `\ ` for spaces). */
export function parseDepfile(text: string): string[] {
  const body = text.replace(/\\\r?\n/g, ' ');
  const colon = body.search(/:(\s|$)/);
  const deps = colon < 0 ? '' : body.slice(colon + 1);
  const out: string[] = [];
  for (const m of deps.matchAll(/(?:\\ |[^\s])+/g)) out.push(m[0].replace(/\\ /g, ' '));
  return out;
}

/** What to tell the user after clang failed, from what clang said. */
function adviceFor(stderr: string): string | undefined {
  if (/'bpf\/[^']+' file not found/.test(stderr)) return INSTALL_LIBBPF_HEADERS;
  if (/'(asm|linux)\/[^']+' file not found/.test(stderr)) {
    return "the kernel's UAPI headers are missing: install them with 'apt install linux-libc-dev' (Debian/Ubuntu) " +
      "or 'dnf install kernel-headers' (Fedora), or include \"vmlinux.h\" instead";
  }
  if (/unknown target triple 'bpf'|No available targets are compatible/.test(stderr)) {
    return `this clang was built without the BPF target; ${INSTALL_CLANG}`;
  }
  return undefined;
}

/** Compiles `source`, strips it, and writes its skeleton. Throws a BuildError when any step fails. */
export async function buildBpf(source: string, opts: BuildOptions = {}): Promise<BuildResult> {
  const src = resolve(source);
  const tools = toolchain();
  const outDir = resolve(opts.outDir ?? dirname(src));
  const name = skeletonName(sourceStem(src));
  const object = join(outDir, `${sourceStem(src)}.bpf.o`);
  const skeleton = join(outDir, `${sourceStem(src)}.skel.ts`);
  const tmpObject = `${object}.${process.pid}.tmp`;
  const depfile = `${tmpObject}.d`;

  const arch = targetArch();
  const args = [
    '-target', 'bpf', '-g', '-O2',
    ...(arch ? [`-D__TARGET_ARCH_${arch}`] : []),
    // Quoted includes look beside the source first anyway; a vmlinux.h of the user's own there wins.
    '-I', dirname(src),
    '-I', await vmlinuxHeaderDir(opts.btf ?? KERNEL_BTF, cacheDir()),
    ...(process.stderr.isTTY ? ['-fcolor-diagnostics'] : []),
    ...(opts.cflags ?? []),
    ...tools.systemIncludeDirs.flatMap((d) => ['-idirafter', d]),
    '-MD', '-MF', depfile,
    '-c', src, '-o', tmpObject,
  ];
  const printDiagnostics = opts.diagnostics ?? ((t: string) => process.stderr.write(t));
  try {
    makeDir(outDir);
    const r = spawnSync(tools.clang, args, { encoding: 'utf8', stdio: ['ignore', 'inherit', 'pipe'] });
    if (r.error) throw new BuildError(`could not run ${tools.clang}: ${r.error.message}`, { advice: INSTALL_CLANG, cause: r.error });
    // clang's own words first, unchanged: they point at the user's lines.
    if (r.stderr) printDiagnostics(r.stderr);
    if (r.status !== 0) {
      throw new BuildError(`clang could not compile ${source}${r.signal ? ` (killed by ${r.signal})` : ''}`, {
        cmd: 'build', advice: adviceFor(r.stderr ?? ''),
      });
    }
    const dependencies = parseDepfile(readFileSync(depfile, 'utf8')).map((d) => resolve(d));
    if (opts.strip !== false && tools.strip) {
      const s = spawnSync(tools.strip, ['-g', tmpObject], { encoding: 'utf8' });
      if (s.status !== 0) {
        throw new BuildError(`${tools.strip} -g ${tmpObject} failed: ${s.error?.message ?? s.stderr.trim()}`, {
          cmd: 'build', advice: 'pass --no-strip to keep the DWARF',
        });
      }
    }
    renameSync(tmpObject, object);
    writeAtomically(skeleton, generateSkeleton(object, { name, sourceName: basename(object), runtimeImport: opts.runtimeImport }));
    return { source: src, name, object, skeleton, dependencies };
  } catch (e) {
    if (e instanceof BpfError) throw e;
    // A file system failure (an output directory that cannot be made or written): say which build.
    const err = e as NodeJS.ErrnoException;
    throw new BuildError(`cannot build ${source}: ${err.message}`, { errno: err.errno ? Math.abs(err.errno) : 0, cmd: 'build', cause: e });
  } finally {
    for (const f of [tmpObject, depfile]) {
      try {
        rmSync(f, { force: true });
      } catch { /* it was never made: its directory is not one */ }
    }
  }
}
