// Registers the standard differential tests for one scenario on a uvu suite:
//   1. libbpf meets the scenario's absolute expectations (guards the test itself)
//   2. tsbpf meets them
//   3. tsbpf's outcome equals libbpf's: run results, data/ctx out, map attributes and contents
//   4. (optional) tsbpf's programs have libbpf's kernel tags: identical instructions after relocation

import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { compileBpf } from './compile.js';
import { differences, runLibbpf, type Outcome, type Scenario } from './diff.js';
import { runTsbpf, type TsbpfRun } from './tsbpf-side.js';

export interface DifferentialOptions {
  /** Compare program tags too (default true when the load succeeds). */
  tags?: boolean;
  /** Maps whose layout is the loader's choice (see differences()). */
  layoutFree?: string[];
  /** Open the object from its bytes instead of its path. */
  openFrom?: 'path' | 'bytes';
  /** Programs left out of the tag comparison, with the reason (a documented libbpf version difference). */
  tagExclude?: Record<string, string>;
  /** Name prefix for the tests. */
  title?: string;
}

export interface Differential {
  objPath: string;
  libbpf: () => Outcome;
  tsbpf: () => Promise<TsbpfRun>;
}

export function differential(test: Test, s: Scenario, opts: DifferentialOptions = {}): Differential {
  const objPath = compileBpf(s.object);
  const title = opts.title ?? s.name;
  let ref: Outcome | undefined;
  let ts: Promise<TsbpfRun> | undefined;
  const libbpf = (): Outcome => (ref ??= runLibbpf(s, objPath));
  const tsbpf = (): Promise<TsbpfRun> => (ts ??= runTsbpf(s, objPath, opts.openFrom ?? 'path'));

  test(`${title}: libbpf meets the expectations`, () => {
    s.expect?.(libbpf());
  });

  test(`${title}: tsbpf meets the expectations`, async () => {
    s.expect?.((await tsbpf()).outcome);
  });

  test(`${title}: tsbpf agrees with libbpf (runs, data out, maps)`, async () => {
    const diffOpts = opts.layoutFree ? { layoutFree: opts.layoutFree } : {};
    const d = differences(s, libbpf(), (await tsbpf()).outcome, diffOpts);
    assert.ok(d.length === 0, `${d.length} difference(s) from libbpf:\n${d.join('\n')}`);
  });

  if (opts.tags !== false) {
    test(`${title}: tsbpf loads the same instructions as libbpf (program tags)`, async () => {
      const a = libbpf();
      const b = (await tsbpf()).outcome;
      const diffs: string[] = [];
      for (const [name, p] of a.progs) {
        if (!p.tag || opts.tagExclude?.[name] !== undefined) continue;
        const q = b.progs.get(name);
        if (q?.tag !== p.tag) diffs.push(`${name}: libbpf ${p.tag}, tsbpf ${q?.tag ?? '(not loaded)'}`);
      }
      assert.ok(diffs.length === 0, `programs whose instructions differ from libbpf's:\n${diffs.join('\n')}`);
    });
  }

  return { objPath, libbpf, tsbpf };
}
