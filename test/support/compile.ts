// Builds the C test programs in test/bpf/ with clang-16 into test/.build/, cached by content hash.
//
//   const path = compileBpf('maps');              // test/.build/maps.bpf.o
//   const path = compileBpf('globals', { defines: { FOO: '1' } });  // a separate, hashed output
//
// The cache key covers the source, every header under test/bpf/ (they are few and small), the
// compiler flags and, for programs that include "vmlinux.h", the generated vmlinux.h.

import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BPF_SRC_DIR = join(REPO_ROOT, 'test', 'bpf');
export const BUILD_DIR = join(REPO_ROOT, 'test', '.build');

const CLANG = process.env.BPF_CLANG ?? 'clang-16';

export interface CompileOptions {
  /** -D definitions: { NAME: 'value' } (an empty string defines NAME with no value). */
  defines?: Record<string, string>;
  /** Force vmlinux.h generation and its include path (automatic when the source includes it). */
  vmlinux?: boolean;
  /** Extra clang flags. */
  flags?: string[];
}

/** True if `cmd` can be run (looked up in PATH). */
export function haveCommand(cmd: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
  return r.status === 0;
}

function sha(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    h.update(p);
    h.update('\0');
  }
  return h.digest('hex');
}

/** Writes `data` to `path` atomically (two test processes may build the same file at once). */
function writeAtomic(path: string, data: string | Buffer): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function headerFiles(dir: string, out: string[] = []): string[] {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) headerFiles(p, out);
    else if (ent.name.endsWith('.h')) out.push(p);
  }
  return out.sort();
}

/**
 * test/.build/vmlinux.h from the running kernel's BTF (`bpftool btf dump file … format c`), generated
 * once and regenerated only when /sys/kernel/btf/vmlinux changes size.
 */
export function ensureVmlinuxH(): string {
  mkdirSync(BUILD_DIR, { recursive: true });
  const out = join(BUILD_DIR, 'vmlinux.h');
  const stamp = join(BUILD_DIR, 'vmlinux.h.stamp');
  const btfPath = '/sys/kernel/btf/vmlinux';
  if (!existsSync(btfPath)) throw new Error(`${btfPath} is missing: the kernel has no BTF (CONFIG_DEBUG_INFO_BTF)`);
  const key = sha(readFileSync(btfPath));
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return out;
  if (!haveCommand('bpftool')) throw new Error('bpftool is not installed (apt-get install bpftool); needed for vmlinux.h');
  const text = execFileSync('bpftool', ['btf', 'dump', 'file', btfPath, 'format', 'c'], {
    maxBuffer: 256 * 1024 * 1024,
  });
  writeAtomic(out, text);
  writeAtomic(stamp, key);
  return out;
}

/** Compiles test/bpf/<name>.bpf.c and returns the object's path. */
export function compileBpf(name: string, opts: CompileOptions = {}): string {
  const src = join(BPF_SRC_DIR, `${name}.bpf.c`);
  if (!existsSync(src)) throw new Error(`no such test program: ${src}`);
  mkdirSync(BUILD_DIR, { recursive: true });
  const source = readFileSync(src);
  const useVmlinux = opts.vmlinux === true || /^\s*#\s*include\s*[<"]vmlinux\.h[>"]/m.test(source.toString());

  const defs = Object.entries(opts.defines ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => (v === '' ? `-D${k}` : `-D${k}=${v}`));
  const args = [
    '-target', 'bpf', '-g', '-O2', '-D__TARGET_ARCH_x86',
    '-I', join(BPF_SRC_DIR, 'include'),
    '-I', '/usr/include/x86_64-linux-gnu',
    ...(useVmlinux ? ['-I', BUILD_DIR] : []),
    ...defs,
    ...(opts.flags ?? []),
    '-c', src,
  ];

  const parts: (string | Buffer)[] = [CLANG, args.join(' '), source];
  for (const h of headerFiles(BPF_SRC_DIR)) parts.push(h, readFileSync(h));
  if (useVmlinux) parts.push(readFileSync(ensureVmlinuxH()));
  const key = sha(...parts);

  const variant = defs.length > 0 || (opts.flags?.length ?? 0) > 0 ? `-${key.slice(0, 12)}` : '';
  const out = join(BUILD_DIR, `${name}${variant}.bpf.o`);
  const stamp = `${out}.hash`;
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, 'utf8') === key) return out;

  if (!haveCommand(CLANG)) {
    throw new Error(`${CLANG} is not installed: run test/run.sh as root (it apt-get installs clang-16) or install it`);
  }
  const tmp = `${out}.${process.pid}.tmp.o`;
  const r = spawnSync(CLANG, [...args, '-o', tmp], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`compiling ${name}.bpf.c failed (${CLANG} ${args.join(' ')}):\n${r.stderr}${r.error ?? ''}`);
  }
  renameSync(tmp, out);
  writeAtomic(stamp, key);
  return out;
}
