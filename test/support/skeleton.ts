// Skeletons of the test programs, so tests reach globals, programs and maps by typed field
// (skel.bss.hits, skel.progs.on_exec) instead of by name. test/skel/<name>.skel.ts is
// `tsbpf gen skeleton` of test/bpf/<name>.bpf.c, committed because tsc must see the generated types
// when it checks the tests; it references the object compileBpf() builds (test/.build/<name>.bpf.o)
// rather than embedding it, and imports the runtime from src/, so no dist/ build is involved.
//
//   import * as attachTrace from './skel/attach-trace.skel.js';
//   const { open, openAndLoad } = compiled(attachTrace);  // builds the object, refuses a stale skeleton
//
//   npx tsx test/support/skeleton.ts          # regenerate test/skel/ after editing a program or the generator
//   npx tsx test/support/skeleton.ts NAME...  # add (or regenerate) the skeletons of these programs

import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSkeleton, type SkeletonDesc } from '../../src/index.js';
import { compileBpf, REPO_ROOT } from './compile.js';

export const SKEL_DIR = join(REPO_ROOT, 'test', 'skel');
const REGENERATE = 'npx tsx test/support/skeleton.ts';

/** The skeleton name of test/bpf/<name>.bpf.c: '-' becomes '_' (test program names use no '_', so it maps back). */
export function skeletonIdent(name: string): string {
  if (name.includes('_')) throw new Error(`test program names use '-', not '_': ${name}`);
  return name.replace(/-/g, '_');
}

/** What test/skel/<name>.skel.ts must contain for the current object and generator. */
export function skeletonText(name: string): string {
  return generateSkeleton(compileBpf(name), {
    name: skeletonIdent(name),
    runtimeImport: '../../src/index.js',
    objectPath: `../.build/${name}.bpf.o`,
    sourceName: `${name}.bpf.o`,
  });
}

/** The programs that have a committed skeleton. */
export function committedSkeletons(): string[] {
  return readdirSync(SKEL_DIR).filter((f) => f.endsWith('.skel.ts')).map((f) => f.slice(0, -'.skel.ts'.length)).sort();
}

/**
 * Why test/skel/<name>.skel.ts (or `committed`, standing in for its text) is not what the generator makes
 * of the object now, or undefined if it is.
 */
export function staleness(name: string, committed?: string): string | undefined {
  const path = join(SKEL_DIR, `${name}.skel.ts`);
  if (committed === undefined) {
    if (!existsSync(path)) return `test/skel/${name}.skel.ts is missing; run: ${REGENERATE} ${name}`;
    committed = readFileSync(path, 'utf8');
  }
  if (committed !== skeletonText(name)) return `test/skel/${name}.skel.ts is stale; run: ${REGENERATE}`;
  return undefined;
}

/**
 * Builds the object of a committed skeleton module and checks that the module still matches it, so a
 * test never reads variables at offsets of an older build. Returns the module.
 */
export function compiled<M extends { readonly SKELETON: SkeletonDesc }>(mod: M): M {
  const stale = staleness(mod.SKELETON.name.replace(/_/g, '-'));
  if (stale) throw new Error(stale);
  return mod;
}

function main(args: string[]): void {
  for (const name of args.length ? args : committedSkeletons()) {
    writeFileSync(join(SKEL_DIR, `${name}.skel.ts`), skeletonText(name));
    process.stdout.write(`test/bpf/${name}.bpf.c → test/skel/${name}.skel.ts\n`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
