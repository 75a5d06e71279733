// File writing for builds: outputs appear whole or not at all, since a watcher, a bundler or a
// concurrent build may read them at any moment.

import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

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
