// Files of builds: outputs appear whole or not at all, since a watcher, a bundler or a concurrent
// build may read them at any moment; and where the build cache lives.

import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync spins forever on some paths
 * (`/proc/x` on Node 20), where this fails with the first level's errno.
 */
export function makeDir(dir: string): void {
  if (existsSync(dir)) return;
  makeDir(dirname(dir));
  mkdirSync(dir);
}

/** Writes a temporary file beside `path` and renames it into place. */
export function writeAtomically(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Where the build cache goes (vmlinux.h files, clang's search list): $TSBPF_CACHE_DIR; else
 * node_modules/.cache/tsbpf of the nearest project with a node_modules, from the working directory up
 * (the convention of babel, eslint and webpack, so `rm -rf node_modules` clears it); else
 * $XDG_CACHE_HOME/tsbpf or ~/.cache/tsbpf.
 */
export function cacheDir(from: string = process.cwd()): string {
  if (process.env.TSBPF_CACHE_DIR) return resolve(process.env.TSBPF_CACHE_DIR);
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules', '.cache', 'tsbpf');
    if (dirname(dir) === dir) break;
  }
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tsbpf');
}
