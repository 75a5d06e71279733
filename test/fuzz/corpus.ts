// The seed corpus, generated at run time from the project's own test objects (test/bpf/*.bpf.c and the
// BTF fixtures, compiled with clang-16 and cached under test/.build/), and the deterministic
// construction of input #i of a campaign from its seed.

import { readdirSync, readFileSync } from 'node:fs';
import { ElfFile } from '../../elf/index.js';
import { compileFixture } from '../btf-fixtures/support.js';
import { BPF_SRC_DIR, compileBpf } from '../support/compile.js';
import { btfLayout, elfLayout, extLayout, type BtfLayout, type ElfLayout, type ExtLayout } from './layout.js';
import { mutateBtf, mutateExt, mutateObject } from './mutate.js';
import { Rng } from './rng.js';

export interface Seed {
  /** 'maps.bpf.o', 'maps.bpf.o:.BTF', ... */
  name: string;
  kind: 'object' | 'btf';
  bytes: Uint8Array;
  /** For BTF seeds: the .BTF.ext of the same object. */
  ext?: Uint8Array;
}

export interface SeedLayout {
  seed: Seed;
  elf?: ElfLayout;
  btf?: BtfLayout;
  ext?: ExtLayout;
}

export interface Input {
  index: number;
  seed: Seed;
  kind: 'object' | 'btf';
  bytes: Uint8Array;
  ext?: Uint8Array;
  labels: string[];
}

/**
 * The default seeds: a fixed list, so that a campaign seed means the same inputs as other test programs
 * come and go. Between them they have every kind of map definition, global data section, extern,
 * subprogram call, CO-RE relocation and BTF kind the loader handles.
 */
export const DEFAULT_SEEDS = ['maps', 'globals', 'calls', 'externs', 'lifecycle', 'rejected', 'core-read'];
const FIXTURES = ['kinds', 'core'];

/**
 * Compiles the seeds (all of test/bpf/*.bpf.c with `all`). Objects that fail to build (a source being
 * edited) are skipped with a note.
 */
export function buildCorpus(log: (line: string) => void = () => {}, all = false): Seed[] {
  const seeds: Seed[] = [];
  const add = (name: string, path: string): void => {
    const bytes = new Uint8Array(readFileSync(path));
    seeds.push({ name, kind: 'object', bytes });
    const elf = ElfFile.parse(bytes);
    const btf = elf.section('.BTF');
    if (btf) seeds.push({ name: `${name}:.BTF`, kind: 'btf', bytes: btf.data.slice(), ext: elf.section('.BTF.ext')?.data.slice() });
  };
  const sources = all
    ? readdirSync(BPF_SRC_DIR).filter((f) => f.endsWith('.bpf.c')).sort()
    : DEFAULT_SEEDS.map((n) => `${n}.bpf.c`);
  for (const f of sources) {
    const name = f.replace(/\.bpf\.c$/, '');
    try {
      add(`${name}.bpf.o`, compileBpf(name));
    } catch (e) {
      log(`fuzz: seed ${f} skipped: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  for (const name of FIXTURES) {
    try {
      add(`btf-${name}.bpf.o`, compileFixture(name));
    } catch (e) {
      log(`fuzz: fixture ${name} skipped: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return seeds;
}

export function layoutSeeds(seeds: Seed[]): SeedLayout[] {
  return seeds.map((seed) => {
    if (seed.kind === 'object') return { seed, elf: elfLayout(seed.bytes) };
    return { seed, btf: btfLayout(seed.bytes), ext: seed.ext ? extLayout(seed.ext) : undefined };
  });
}

/** Input #index of the campaign `campaignSeed`: depends on nothing else, so it can be regenerated alone. */
export function makeInput(layouts: SeedLayout[], campaignSeed: number, index: number): Input {
  const r = new Rng(campaignSeed, index);
  const objects = layouts.filter((l) => l.seed.kind === 'object');
  const blobs = layouts.filter((l) => l.seed.kind === 'btf');
  const L = blobs.length && (r.chance(0.3) || !objects.length) ? r.pick(blobs) : r.pick(objects);
  const labels: string[] = [];
  const rounds = r.weighted([[6, 1], [3, 2], [1, 3]] as const);
  if (L.seed.kind === 'object') {
    let bytes: Uint8Array = L.seed.bytes.slice();
    for (let k = 0; k < rounds; k++) {
      const m = mutateObject(bytes, L.elf!, r);
      bytes = m.bytes;
      labels.push(m.label);
    }
    return { index, seed: L.seed, kind: 'object', bytes, labels };
  }
  let bytes: Uint8Array = L.seed.bytes.slice();
  let ext: Uint8Array | undefined = L.seed.ext?.slice();
  for (let k = 0; k < rounds; k++) {
    if (ext && L.ext && r.chance(0.35)) {
      const m = mutateExt(ext, L.ext, L.btf, r);
      ext = m.bytes;
      labels.push(m.label);
    } else {
      const m = mutateBtf(bytes, L.btf!, r);
      bytes = m.bytes;
      labels.push(m.label);
    }
  }
  return { index, seed: L.seed, kind: 'btf', bytes, ext, labels };
}
