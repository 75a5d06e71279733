// vmlinux.h for `tsbpf build`: the C dump of a kernel's BTF, written once per distinct BTF and kept in
// a cache, so that rebuilding (or --watch) costs no dump. The cache key is the BTF's hash plus tsbpf's
// version, since a newer dumper may print the same BTF differently.

import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Btf } from '../../btf/btf.js';
import { dumpCBytes } from '../../btf/dump-c.js';
import { BuildError } from '../errors.js';
import { readBtfBytes } from '../kernel-btf.js';
import { tsbpfVersion } from '../version.js';
import { makeDir, writeAtomically } from './files.js';

export const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

/**
 * Where cached headers go: $TSBPF_CACHE_DIR; else node_modules/.cache/tsbpf of the nearest project
 * with a node_modules (the convention of babel, eslint and webpack, so `rm -rf node_modules` clears it);
 * else $XDG_CACHE_HOME/tsbpf or ~/.cache/tsbpf.
 */
export function cacheDir(from: string = process.cwd()): string {
  if (process.env.TSBPF_CACHE_DIR) return resolve(process.env.TSBPF_CACHE_DIR);
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'tsbpf');
    if (dirname(dir) === dir) break;
  }
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tsbpf');
}

/** The raw BTF in `path` (raw BTF, or a vmlinux ELF image's .BTF). */
function btfForHeader(path: string): Uint8Array {
  if (!existsSync(path)) {
    throw new BuildError(`no kernel BTF at ${path}`, {
      errno: 2,
      advice: path === KERNEL_BTF
        ? 'this kernel was built without CONFIG_DEBUG_INFO_BTF; pass --btf FILE with the BTF of the kernel you target'
        : 'pass --btf with a raw BTF file or a vmlinux ELF image',
    });
  }
  return readBtfBytes(path);
}

/**
 * The directory holding a vmlinux.h for the BTF in `btfPath`, made on first use. Writers race safely:
 * each writes its own temporary file and renames it into place.
 */
export function vmlinuxHeaderDir(btfPath: string = KERNEL_BTF, cache: string = cacheDir()): string {
  const raw = btfForHeader(btfPath);
  const key = createHash('sha256').update(raw).update(`\0tsbpf ${tsbpfVersion()}`).digest('hex').slice(0, 16);
  const dir = join(cache, `vmlinux-${key}`);
  const header = join(dir, 'vmlinux.h');
  if (existsSync(header)) return dir;
  let text: Uint8Array;
  try {
    text = dumpCBytes(Btf.parse(raw));
  } catch (e) {
    throw new BuildError(`cannot make vmlinux.h from ${btfPath}: ${(e as Error).message}`, { cause: e });
  }
  try {
    makeDir(dir);
    writeAtomically(header, text);
  } catch (e) {
    throw new BuildError(`cannot write ${header}: ${(e as Error).message}`, {
      cause: e,
      advice: 'set TSBPF_CACHE_DIR to a writable directory',
    });
  }
  return dir;
}
