// Micro-benchmark (not a test): ns/op of tsbpf's hot-path map commands on an 8-byte-value array
// map, against a raw koffi baseline (prebuilt attr, fixed-arity prototype) and a bare getpid()
// syscall through koffi. Run: npx tsx bench/syscalls-lookup.ts [ops]
//
// The difference between "tsbpf" and "raw koffi" rows is what the wrapper costs (attr fill,
// address cache, errno check); the getpid row is the syscall floor of the machine.

import * as S from '../syscalls/index.js';
import { rawElemOp, rawGetpid } from '../syscalls/bench-baseline.js';

const OPS = Number(process.argv[2] ?? 200_000);
const ROUNDS = 7;

interface Case { name: string; fn: () => unknown; samples: number[] }
const cases: Case[] = [];
function add(name: string, fn: () => unknown): Case {
  const c = { name, fn, samples: [] };
  cases.push(c);
  return c;
}

/**
 * The machine is noisy (a small VM, other work running), so the cases run interleaved in
 * rounds — a slow phase hits all of them — and each reports its median and its minimum.
 */
function runAll(): void {
  for (const c of cases) for (let i = 0; i < Math.min(OPS, 20_000); i++) c.fn(); // warm up: JIT, address cache
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 ? [...cases].reverse() : cases) {
      const fn = c.fn;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < OPS; i++) fn();
      c.samples.push(Number(process.hrtime.bigint() - t0) / OPS);
    }
  }
}
const med = (c: Case): number => [...c.samples].sort((a, b) => a - b)[Math.floor(c.samples.length / 2)]!;
const min = (c: Case): number => Math.min(...c.samples);

using m = S.mapCreate({ mapType: S.BPF_MAP_TYPE.ARRAY, keySize: 4, valueSize: 8, maxEntries: 16, name: 'bench' });
const key = new Uint8Array(4);
new DataView(key.buffer).setUint32(0, 3, true);
const value = new Uint8Array(8);
value[0] = 1;
S.mapUpdateElem(m.fd, key, value);
const fd = m.fd;

const miss = new Uint8Array(4);
new DataView(miss.buffer).setUint32(0, 999, true);
const floor = add('getpid() via koffi (floor)', rawGetpid);
const rawL = add('raw koffi MAP_LOOKUP_ELEM', rawElemOp(fd, 1, key, value));
const tsL = add('tsbpf mapLookupElem', () => S.mapLookupElem(fd, key, value));
const rawU = add('raw koffi MAP_UPDATE_ELEM', rawElemOp(fd, 2, key, value));
const tsU = add('tsbpf mapUpdateElem', () => S.mapUpdateElem(fd, key, value));
add('tsbpf mapLookupElem (ENOENT)', () => S.mapLookupElem(fd, miss, value));
runAll();
console.log(`tsbpf syscall micro-benchmark: ${OPS} ops × ${ROUNDS} interleaved rounds; node ${process.version}, ${process.arch}`);
console.log(`${''.padEnd(32)} ${'median'.padStart(8)} ${'min'.padStart(8)}  ns/op`);
for (const c of cases) console.log(`${c.name.padEnd(32)} ${med(c).toFixed(0).padStart(8)} ${min(c).toFixed(0).padStart(8)}`);
console.log(`wrapper overhead vs raw koffi (min): lookup ${(min(tsL) - min(rawL)).toFixed(0)} ns, ` +
  `update ${(min(tsU) - min(rawU)).toFixed(0)} ns; syscall floor ${min(floor).toFixed(0)} ns`);
