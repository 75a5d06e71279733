// tsbpf's own version, read from its package.json: this module runs from src/ under tsx and from
// dist/src/ once built and installed, so the file is found by walking up, not by a fixed path.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let version: string | undefined;

export function tsbpfVersion(): string {
  if (version !== undefined) return version;
  version = 'unknown';
  for (let dir = dirname(fileURLToPath(import.meta.url)); dirname(dir) !== dir; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsbpf') {
        version = pkg.version ?? 'unknown';
        break;
      }
    } catch { /* no package.json at this level */ }
  }
  return version;
}
