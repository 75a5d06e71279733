// `npm run fuzz` — fuzz the parsers with inputs mutated from the project's test objects.
//
//   npm run fuzz                                   60 s, random seed (printed), 2 workers
//   npm run fuzz -- --seed 42 --count 200000       a fixed, reproducible campaign
//   npm run fuzz -- --time 3600 --vmlinux          an hour, also planning CO-RE against vmlinux
//   npm run fuzz -- --repro 42:1234                rerun one input in this process, with stacks
//   npm run fuzz -- --repro test/fuzz/.crashes/crash-ab12.o
//
// Options: --seed N, --count N (inputs; default unbounded), --from N (first input index), --time S (default 60), --workers N
// (default 2), --per-input-ms N (hang threshold, default 2000), --rss-mb N (a worker process using more
// is killed and its input reported; default 3072), --out DIR (finding inputs; default
// test/.build/fuzz-findings), --json FILE (the full report), --vmlinux (also plan CO-RE against the
// kernel's BTF), --skip STAGE,STAGE (e.g. btf.dumpC), --all-seeds (every test/bpf object, not the
// fixed default list; campaign seeds then mean other inputs as test programs are added).
// Exit status 1 when anything was found.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { buildCorpus, layoutSeeds, makeInput } from './corpus.js';
import { formatReport, runCampaign } from './campaign.js';
import { loadExtras, newRecorder, runBtf, runObject } from './targets.js';
import { ElfFile } from '../../elf/index.js';
import { Btf } from '../../btf/index.js';

function args(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) m.set(key, 'true');
    else { m.set(key, v); i++; }
  }
  return m;
}

async function repro(what: string, useVmlinux: boolean, skip: string[], allSeeds: boolean): Promise<number> {
  const extras = await loadExtras(useVmlinux, skip);
  let kind: 'object' | 'btf';
  let bytes: Uint8Array;
  let ext: Uint8Array | undefined;
  let seedBtf: Btf | undefined;
  const m = /^(\d+):(\d+)$/.exec(what);
  if (m) {
    const seeds = buildCorpus((l) => console.error(l), allSeeds);
    const input = makeInput(layoutSeeds(seeds), Number(m[1]), Number(m[2]));
    console.log(`input ${m[2]} of seed ${m[1]}: ${input.seed.name}; ${input.labels.join(', ')}; ${input.bytes.length} bytes`);
    kind = input.kind;
    bytes = input.bytes;
    ext = input.ext;
    if (input.kind === 'object') {
      const sec = ElfFile.parse(input.seed.bytes).section('.BTF');
      seedBtf = sec ? Btf.parse(sec.data.slice()) : undefined;
    }
  } else {
    bytes = new Uint8Array(readFileSync(what));
    kind = what.endsWith('.btf') ? 'btf' : 'object';
    if (existsSync(`${what}.ext`)) ext = new Uint8Array(readFileSync(`${what}.ext`));
  }
  const rec = newRecorder(undefined, extras.skip);
  const t = performance.now();
  if (kind === 'object') runObject(rec, bytes, seedBtf, extras);
  else runBtf(rec, bytes, ext, extras);
  console.log(`ran in ${(performance.now() - t).toFixed(1)} ms`);
  console.log(JSON.stringify(rec.result.stages));
  console.log(Object.entries(rec.result.times).filter(([, v]) => v >= 1).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', '));
  for (const f of rec.result.findings) console.log(`\nFINDING in ${f.stage}: ${f.message}\n${f.stack}`);
  if (!rec.result.findings.length) console.log('no finding: every stage succeeded or threw a BpfError');
  return rec.result.findings.length ? 1 : 0;
}

async function main(): Promise<void> {
  const a = args(process.argv.slice(2));
  const useVmlinux = a.has('vmlinux');
  if (a.has('repro')) {
    process.exitCode = await repro(a.get('repro')!, useVmlinux, a.get('skip')?.split(',').filter(Boolean) ?? [], a.has('all-seeds'));
    return;
  }
  const seed = a.has('seed') ? Number(a.get('seed')) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  const count = a.has('count') ? Number(a.get('count')) : Infinity;
  const timeMs = Number(a.get('time') ?? (a.has('count') ? 3600 * 24 : 60)) * 1000;
  const report = await runCampaign({
    seed, count, timeMs, from: Number(a.get('from') ?? 0),
    workers: Number(a.get('workers') ?? 2),
    perInputMs: Number(a.get('per-input-ms') ?? 2000),
    rssMb: a.has('rss-mb') ? Number(a.get('rss-mb')) : undefined,
    useVmlinux,
    skip: a.get('skip')?.split(',').filter(Boolean),
    allSeeds: a.has('all-seeds'),
    outDir: a.get('out') ?? 'test/.build/fuzz-findings',
    log: (l) => console.error(l),
    snapshot: a.has('json') ? (r) => writeFileSync(a.get('json')!, JSON.stringify(r, null, 1)) : undefined,
  });
  console.log(formatReport(report));
  if (a.has('json')) writeFileSync(a.get('json')!, JSON.stringify(report, null, 1));
  console.log(`rerun this campaign: npm run fuzz -- --seed ${seed} --count ${report.stoppedAt}`);
  if (report.findings.length) process.exitCode = 1;
}

await main();
