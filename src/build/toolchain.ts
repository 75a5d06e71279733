// Finding the tools `tsbpf build` runs: clang (for -target bpf), llvm-strip beside it, and the
// directories clang searches for system headers. A missing tool is reported with the packages that
// bring it, never as a raw spawn error.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, delimiter, dirname, join } from 'node:path';
import { BuildError } from '../errors.js';
import { cacheDir, makeDir, writeAtomically } from './files.js';

export interface Toolchain {
  /** The clang executable (a path or a name on PATH). */
  clang: string;
  /** llvm-strip of the same LLVM version, when there is one: it drops DWARF, which BTF does not need. */
  strip: string | undefined;
  /** Where the host's clang looks for <...> headers; given to the BPF compile with -idirafter. */
  systemIncludeDirs: string[];
}

export const INSTALL_CLANG =
  "install it with 'apt install clang' (Debian/Ubuntu; a versioned clang-NN works too) or 'dnf install clang' " +
  '(Fedora), or set CLANG to the path of one';

export const INSTALL_LIBBPF_HEADERS =
  "<bpf/*.h> are libbpf's headers: install them with 'apt install libbpf-dev' (Debian/Ubuntu) or " +
  "'dnf install libbpf-devel' (Fedora), or add their directory with --cflags \"-I DIR\"";

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter(Boolean);
}

/** `name` as a path on PATH, or undefined. */
function onPath(name: string): string | undefined {
  for (const dir of pathDirs()) {
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** The highest-versioned `prefix-NN` on PATH (clang-16, clang-18...), as distributions install them. */
function newestVersioned(prefix: string): string | undefined {
  let best: { path: string; version: number } | undefined;
  const re = new RegExp(`^${prefix}-(\\d+)$`);
  for (const dir of pathDirs()) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      const m = re.exec(n);
      if (!m) continue;
      const version = Number(m[1]);
      const path = join(dir, n);
      if ((!best || version > best.version) && isExecutable(path)) best = { path, version };
    }
  }
  return best?.path;
}

/** clang: $CLANG (or bpf2go's $BPF_CLANG) when set, else `clang`, else the newest `clang-NN`. */
export function findClang(): string {
  const fromEnv = process.env.CLANG || process.env.BPF_CLANG;
  if (fromEnv) {
    const path = fromEnv.includes('/') ? fromEnv : onPath(fromEnv);
    if (!path || !isExecutable(path)) {
      throw new BuildError(`clang '${fromEnv}' (from the environment) was not found or is not executable`, {
        advice: INSTALL_CLANG,
      });
    }
    return path;
  }
  const clang = onPath('clang') ?? newestVersioned('clang');
  if (!clang) throw new BuildError('clang was not found on PATH', { advice: INSTALL_CLANG });
  return clang;
}

/** llvm-strip matching clang's version suffix (clang-16 → llvm-strip-16), else plain llvm-strip. */
export function findStrip(clang: string): string | undefined {
  const suffix = /-(\d+)$/.exec(basename(clang))?.[1];
  const candidates = suffix ? [`llvm-strip-${suffix}`, 'llvm-strip'] : ['llvm-strip'];
  for (const name of candidates) {
    const sibling = join(dirname(clang), name);
    if (isExecutable(sibling)) return sibling;
    const found = onPath(name);
    if (found) return found;
  }
  return undefined;
}

/**
 * The host clang's <...> search list, from `clang -v -E -`. A -target bpf compile does not search the
 * host's multiarch directories (asm/types.h lives in /usr/include/x86_64-linux-gnu on Debian), so
 * they are added after the user's own, as libbpf-bootstrap's Makefile does.
 */
export function systemIncludeDirs(clang: string): string[] {
  // Asking clang costs a process (~25 ms of a ~300 ms rebuild): the answer is kept per clang binary.
  let memo: string | undefined;
  try {
    const st = statSync(clang);
    const id = createHash('sha256').update(`${realpathSync(clang)}\0${st.size}\0${st.mtimeMs}`).digest('hex').slice(0, 16);
    memo = join(cacheDir(), `clang-${id}.json`);
    return JSON.parse(readFileSync(memo, 'utf8')) as string[];
  } catch { /* not asked yet */ }
  const dirs = askClang(clang);
  if (memo) {
    try {
      makeDir(dirname(memo));
      writeAtomically(memo, JSON.stringify(dirs));
    } catch { /* an unwritable cache costs only the time */ }
  }
  return dirs;
}

function askClang(clang: string): string[] {
  const r = spawnSync(clang, ['-v', '-E', '-x', 'c', '-'], { input: '', encoding: 'utf8' });
  if (r.error) throw new BuildError(`could not run ${clang}: ${r.error.message}`, { advice: INSTALL_CLANG, cause: r.error });
  const lines = (r.stderr ?? '').split('\n');
  const start = lines.findIndex((l) => l.startsWith('#include <...> search starts here:'));
  if (start < 0) return [];
  const dirs: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (l.startsWith('End of search list.')) break;
    const dir = l.trim().replace(/ \(framework directory\)$/, '');
    if (dir) dirs.push(dir);
  }
  return dirs;
}

let cached: Toolchain | undefined;

/** The toolchain, found once per process (a --watch session rebuilds with the same one). */
export function toolchain(): Toolchain {
  if (!cached) {
    const clang = findClang();
    cached = { clang, strip: findStrip(clang), systemIncludeDirs: systemIncludeDirs(clang) };
  }
  return cached;
}

/**
 * What `-D__TARGET_ARCH_<arch>` libbpf's bpf_tracing.h expects for this machine (its PT_REGS macros);
 * undefined for a machine it has no name for, where the user passes the define in --cflags.
 */
export function targetArch(arch: string = process.arch): string | undefined {
  const map: Record<string, string> = {
    x64: 'x86', ia32: 'x86', arm64: 'arm64', arm: 'arm', ppc64: 'powerpc', s390x: 's390',
    riscv64: 'riscv', loong64: 'loongarch', mips: 'mips', mipsel: 'mips', mips64el: 'mips',
  };
  return map[arch];
}
