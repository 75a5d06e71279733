// vmlinux.h for `tsbpf build`: the C dump of a kernel's BTF, written once per distinct BTF and kept in
// a cache, so that rebuilding (or --watch) costs no dump. The cache key is the BTF's hash plus tsbpf's
// version, since a newer dumper may print the same BTF differently.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BuildError } from '../errors.js';
import { tsbpfVersion } from '../version.js';
import { cacheDir, makeDir, writeAtomically } from './files.js';

export const KERNEL_BTF = '/sys/kernel/btf/vmlinux';

/** The raw BTF in `path` (raw BTF, or a vmlinux ELF image's .BTF). */
async function btfForHeader(path: string): Promise<Uint8Array> {
  if (!existsSync(path)) {
    throw new BuildError(`no kernel BTF at ${path}`, {
      errno: 2,
      advice: path === KERNEL_BTF
        ? 'this kernel was built without CONFIG_DEBUG_INFO_BTF; pass --btf FILE with the BTF of the kernel you target'
        : 'pass --btf with a raw BTF file or a vmlinux ELF image',
    });
  }
  // Loaded only on a cache miss: kernel-btf brings the syscall layer and koffi with it.
  return (await import('../kernel-btf.js')).readBtfBytes(path);
}

/**
 * The running kernel's BTF cannot change before the next boot, so the cache remembers, per boot id,
 * which entry is this boot's: a rebuild then neither reads nor hashes the 5+ MB of sysfs BTF. The
 * version is in the name, as it is in the entries' key: an upgraded tsbpf makes its own entry.
 */
function bootMemo(cache: string): string | undefined {
  try {
    return join(cache, `boot-${readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()}-${tsbpfVersion()}`);
  } catch {
    return undefined;
  }
}

/**
 * The directory holding a vmlinux.h for the BTF in `btfPath`, made on first use. Writers race safely:
 * each writes its own temporary file and renames it into place.
 */
export async function vmlinuxHeaderDir(btfPath: string = KERNEL_BTF, cache: string = cacheDir()): Promise<string> {
  const memo = btfPath === KERNEL_BTF ? bootMemo(cache) : undefined;
  if (memo) {
    try {
      const dir = join(cache, readFileSync(memo, 'utf8').trim());
      if (existsSync(join(dir, 'vmlinux.h'))) return dir;
    } catch { /* not built yet this boot */ }
  }
  const raw = await btfForHeader(btfPath);
  const key = `vmlinux-${createHash('sha256').update(raw).update(`\0tsbpf ${tsbpfVersion()}`).digest('hex').slice(0, 16)}`;
  const dir = join(cache, key);
  const header = join(dir, 'vmlinux.h');
  try {
    if (!existsSync(header)) {
      let text: Uint8Array;
      try {
        const [{ Btf }, { dumpCBytes }] = await Promise.all([import('../../btf/btf.js'), import('../../btf/dump-c.js')]);
        text = dumpCBytes(Btf.parse(raw));
      } catch (e) {
        throw new BuildError(`cannot make vmlinux.h from ${btfPath}: ${(e as Error).message}`, { cause: e });
      }
      makeDir(dir);
      writeAtomically(header, text);
    }
    if (memo) writeAtomically(memo, key);
  } catch (e) {
    if (e instanceof BuildError) throw e;
    throw new BuildError(`cannot write ${header}: ${(e as Error).message}`, {
      cause: e,
      advice: 'set TSBPF_CACHE_DIR to a writable directory',
    });
  }
  return dir;
}
