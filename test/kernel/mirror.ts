// The repository as plain JavaScript, for guests where on-the-fly transpiling is the biggest fixed cost
// (`node --import tsx -e 0` takes 6-7 s under TCG, plain node ~1.5 s). The mirror has the repository's
// layout: every .ts file is compiled to a .js file beside a symlink to the .ts (a test that starts
// `tsx src/cli.ts` still finds it), every other file is a symlink, and node_modules and dist are links
// to the real ones. test/.build is walked like the rest, so that what tests generate there (skeletons
// that import the library relatively) stays in the mirror and uses its compiled library, while the
// objects already built on the host are found. Modules that find their files from import.meta.url
// find them in the mirror, so the tests run there unchanged.

import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Linked whole, not walked. */
const LINKED_DIRS = new Set(['node_modules', 'dist']);
/** Left out: git's store, and the top-level .build where the mirror itself lives. */
const SKIPPED = new Set(['.git', '.build']);

/**
 * `generated`: inside test/.build, where TypeScript files are copies, not links: tests rewrite them
 * (skeletons) and import them, and a link would lead the import to the real tree, whose relative
 * imports reach the TypeScript library: a second copy of every class.
 */
function linkTree(src: string, dst: string, top: boolean, generated = false): void {
  mkdirSync(dst, { recursive: true });
  for (const e of readdirSync(src, { withFileTypes: true })) {
    if (top && SKIPPED.has(e.name)) continue;
    const from = join(src, e.name);
    const to = join(dst, e.name);
    if (e.isDirectory() && !LINKED_DIRS.has(e.name)) linkTree(from, to, false, generated || e.name === '.build');
    else if (generated && e.name.endsWith('.ts')) copyFileSync(from, to);
    else symlinkSync(from, to);
  }
}

/** Rebuilds the mirror of `repo` in `out` (about 2 s: tsc 7 compiles the whole tree). */
export function buildMirror(repo: string, out: string): void {
  rmSync(out, { recursive: true, force: true });
  linkTree(repo, out, true);
  // Compiled with the project's own settings; type errors do not stop the emit (the typecheck is
  // npm test's business, not the guest's).
  try {
    execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.json'),
      '--noEmit', 'false', '--declaration', 'false', '--outDir', out], { stdio: 'pipe' });
  } catch (e) {
    const out2 = (e as { stdout?: Buffer }).stdout?.toString() ?? '';
    if (!/error TS/.test(out2)) throw e;
  }
}

/** A test path given on the command line (test/x.test.ts, or a directory) as the mirror's path. */
export function mirrorPath(repo: string, path: string): string {
  return relative(repo, path).replace(/\.ts$/, '.js');
}
