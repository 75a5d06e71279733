// CO-RE and kernel BTF against libbpf (C), side by side in one run (issue #3's benchmark).
//
//   npx tsx bench/core.ts                  # default sizes (about a minute)
//   npx tsx bench/core.ts --quick          # fewer samples (a smoke test)
//   npx tsx bench/core.ts --fresh 15 --iters 30 --btf-iters 15
//
// Rows (the CO-RE object is test/bpf/tools-runqlat.bpf.c: 6 tp_btf/raw_tp programs, 5 maps, ~80 CO-RE
// relocations against task_struct, pid, upid, ...):
// - vmlinux BTF parse + first lookup: libbpf's btf__load_vmlinux_btf + btf__find_by_name_kind +
//   btf__free (every bpf_object__load of a CO-RE object pays it); tsbpf's findVmlinuxBtf (the
//   uncached search that the process-wide cache runs once) + findOne('task_struct').
// - kernel BTF heap: libbpf: malloc'd bytes (mallinfo2) held by one loaded vmlinux BTF; tsbpf, in a fresh
//   process: heap (V8 used + external + array buffers, less the read-only mapping of the sysfs file,
//   which is the kernel's page cache) retained by the shared kernel BTF after a first CO-RE load.
// - first load: open+load+close of the CO-RE object as the first load of a fresh process, timed inside
//   that process (feature probes, kernel BTF and cold JIT included); one process per sample.
// - repeat loads: the same open+load+close repeated in one process. libbpf's side twice: in a process
//   that only loads (the target row), and in one that keeps a vmlinux BTF on its heap (its best case,
//   where re-parsing vmlinux reuses freed memory instead of faulting in new pages).
// - verification-heavy object (test/bpf/verify-heavy.bpf.c, six programs of tens of ms of verification
//   each): libbpf and loadSync() verify one program after the other; load() verifies them concurrently
//   on the libuv threadpool, so on a machine with a spare core it takes less. Not pinned to a CPU.
// Targets (issue #3): first load ≤ 0.8× libbpf's time; repeat loads ≤ 0.5×; ≤ 8 MB heap for the kernel BTF.
//
// bench/run.ts can call run() and print the rows with its own table: they have the same shape.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BENCH_DIR, BUILD_DIR } from './lib/build.js';
import { LibbpfChild } from './lib/libbpf-child.js';
import { summarize, type Summary } from './lib/stats.js';
import { loadSamples, type TsbpfApi } from './lib/tsbpf-side.js';

export interface Row {
  group: string;
  name: string;
  kind: 'time' | 'rate';
  opsPerSample?: number;
  /** Minimum acceptable ratio (libbpf time / tsbpf time; >1 is better), or undefined for info rows. */
  target?: number;
  targetText?: string;
  libbpf?: Summary;
  tsbpf?: Summary;
  libbpfError?: string;
  tsbpfError?: string;
  note?: string;
  /** Rows measured in another unit than time (bytes), in the same Summary shape. */
  unit?: string;
}

export interface CoreBenchOptions {
  /** Fresh processes per side for the first-load row. */
  fresh?: number;
  /** Repeated loads per side. */
  iters?: number;
  /** vmlinux parses per side. */
  btfIters?: number;
  /** Loads of the verification-heavy object per side. */
  heavyIters?: number;
  log?: (msg: string) => void;
}

const HERE = fileURLToPath(import.meta.url);

function now(): number {
  return Number(process.hrtime.bigint());
}

function errText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 300);
}

/** bench/.build/bench-core (gcc), and the CO-RE and verification-heavy objects (clang, through the tests' cached builder). */
export async function buildCore(): Promise<{ bin: string; obj: string; heavyObj: string }> {
  mkdirSync(BUILD_DIR, { recursive: true });
  const src = join(BENCH_DIR, 'c', 'bench-core.c');
  const bin = join(BUILD_DIR, 'bench-core');
  if (!existsSync(bin) || statSync(bin).mtimeMs < statSync(src).mtimeMs) {
    const tmp = `${bin}.${process.pid}.tmp`;
    const r = spawnSync(process.env.CC ?? 'gcc', ['-O2', '-Wall', src, '-lbpf', '-lelf', '-lz', '-o', tmp], { encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`building bench-core failed:\n${r.stderr ?? r.error}`);
    renameSync(tmp, bin);
  }
  const { compileBpf } = await import('../test/support/compile.js');
  return { bin, obj: compileBpf('tools-runqlat'), heavyObj: compileBpf('verify-heavy') };
}

let gcFn: (() => void) | undefined;
function gc(): void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
}

// ---- child modes (fresh processes) ---------------------------------------------------------------

/** --first OBJ: this process's first open+load+close, in ns. */
async function childFirst(obj: string): Promise<void> {
  const api = (await import('../src/index.js')) as TsbpfApi;
  const t0 = now();
  const o = api.BpfObject.open(obj);
  try {
    await o.load();
  } finally {
    o.close();
  }
  process.stdout.write(`${JSON.stringify({ total: [now() - t0] })}\n`);
}

/** --heap OBJ: heap retained by the shared kernel BTF after a first CO-RE load (bytes). */
async function childHeap(obj: string): Promise<void> {
  const api = (await import('../src/index.js')) as TsbpfApi;
  const kb = await import('../src/kernel-btf.js');
  // Warm everything but the kernel BTF: a load of a CO-RE-free object (probes, JIT of the loader).
  const { compileBpf } = await import('../test/support/compile.js');
  const plain = api.BpfObject.open(compileBpf('maps'));
  try { await plain.load(); } finally { plain.close(); }
  const o = api.BpfObject.open(obj);
  gc(); gc();
  const m0 = process.memoryUsage();
  try { await o.load(); } finally { o.close(); }
  gc(); gc();
  const m1 = process.memoryUsage();
  const e = kb.vmlinuxEntry();
  const mapped = e.path.startsWith('/sys/') ? statSync(e.path).size : 0;
  const total = (m: NodeJS.MemoryUsage): number => m.heapUsed + m.external;
  // external includes array buffers; a mapping of the sysfs file shows up there (when zero-copy is on).
  const ext = m1.external - m0.external;
  const mappedCounted = ext >= mapped * 0.9 ? mapped : 0;
  process.stdout.write(`${JSON.stringify({ heap: total(m1) - total(m0) - mappedCounted, heapUsed: m1.heapUsed - m0.heapUsed, external: ext, mapped, rss: m1.rss - m0.rss })}\n`);
}

function spawnJson(cmd: string, args: string[]): Record<string, unknown> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, BENCH_CORE_QUIET: '1' } });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: status ${r.status}: ${(r.stderr || String(r.error)).slice(-500)}`);
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as Record<string, unknown>;
}

const tsChild = (mode: string, obj: string) => spawnJson(process.execPath, ['--import', 'tsx', HERE, mode, obj]);

// ---- the benchmark -------------------------------------------------------------------------------

export async function run(o: CoreBenchOptions = {}): Promise<Row[]> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  // A fresh process varies more than a repeated load (scheduling of its first threads, cold code).
  const fresh = o.fresh ?? 15;
  const iters = o.iters ?? 30;
  const btfIters = o.btfIters ?? 15;
  const heavyIters = o.heavyIters ?? 7;
  const { bin, obj, heavyObj } = await buildCore();
  const api = (await import('../src/index.js')) as TsbpfApi;
  const kb = await import('../src/kernel-btf.js');
  const { BTF_KIND } = await import('../btf/index.js');
  const rows: Row[] = [];
  const child = await LibbpfChild.start(bin);
  try {
    // vmlinux parse + first lookup.
    const parse: Row = { group: 'core', name: 'vmlinux BTF parse + first lookup', kind: 'time', note: 'info' };
    rows.push(parse);
    log(`core: vmlinux parse, ${btfIters} per side`);
    const cParse: number[] = [];
    const tsParse: number[] = [];
    let cTypes = 0;
    let tsTypes = 0;
    for (let i = -1; i < btfIters; i++) {
      const sides = [async () => {
        const r = await child.cmd('vmlinux 1');
        cTypes = Number(r.types);
        if (i >= 0) cParse.push(...LibbpfChild.samples(r));
      }, async () => {
        gc();
        const t0 = now();
        const e = kb.findVmlinuxBtf();
        if (e.btf.findOne('task_struct', BTF_KIND.STRUCT) === undefined) throw new Error('no task_struct');
        const t = now() - t0;
        tsTypes = e.btf.typeCount + 1;
        if (i >= 0) tsParse.push(t);
      }];
      if (i % 2) sides.reverse();
      for (const s of sides) await s();
    }
    parse.libbpf = summarize(cParse);
    parse.tsbpf = summarize(tsParse);
    if (cTypes !== tsTypes) parse.note = `type counts differ: libbpf ${cTypes}, tsbpf ${tsTypes}`;

    // Heap held by the kernel BTF.
    const heap: Row = { group: 'core', name: 'kernel BTF heap', kind: 'time', unit: 'MB', target: 0, targetText: 'tsbpf ≤ 8 MB' };
    rows.push(heap);
    log('core: kernel BTF heap (fresh processes)');
    const cHeap: number[] = [];
    const tsHeap: number[] = [];
    for (let i = 0; i < 3; i++) {
      cHeap.push(Number((await child.cmd('vmheap')).heap));
      try {
        tsHeap.push(Number(tsChild('--heap', obj).heap));
      } catch (e) {
        heap.tsbpfError = errText(e);
        break;
      }
    }
    heap.libbpf = summarize(cHeap.map((b) => b / 2 ** 20));
    if (tsHeap.length) heap.tsbpf = summarize(tsHeap.map((b) => b / 2 ** 20));

    // First load in a fresh process.
    const first: Row = { group: 'core', name: 'open+load+close CO-RE object, first in a fresh process', kind: 'time', target: 1.25, targetText: '≤0.8× time' };
    rows.push(first);
    log(`core: first load, ${fresh} fresh processes per side`);
    const cFirst: number[] = [];
    const tsFirst: number[] = [];
    for (let i = 0; i < fresh; i++) {
      const sides = [
        () => { if (!first.libbpfError) try { cFirst.push(...(spawnJson(bin, ['--first', obj]).total as number[])); } catch (e) { first.libbpfError = errText(e); } },
        () => { if (!first.tsbpfError) try { tsFirst.push(...(tsChild('--first', obj).total as number[])); } catch (e) { first.tsbpfError = errText(e); } },
      ];
      if (i % 2) sides.reverse();
      for (const s of sides) s();
    }
    if (cFirst.length) first.libbpf = summarize(cFirst);
    if (tsFirst.length) first.tsbpf = summarize(tsFirst);

    // Repeated loads in one process. libbpf re-reads vmlinux BTF on every load, and what that costs
    // depends on glibc's heap: in a process that only loads (`plain`), each parse maps fresh memory
    // and pays its page faults again. After a parse and free have raised glibc's mmap threshold, a
    // vmlinux BTF kept alive on top of the heap (`warm`: `vmlinux 4`, then `vmheap`) stops freed
    // memory from going back to the kernel, and the parse reuses it. Both are real libbpf processes:
    // the first is the target row, the second an info row.
    const rep: Row = { group: 'core', name: 'open+load+close CO-RE object, repeated in one process', kind: 'time', target: 2.0, targetText: '≤0.5× time' };
    const repWarm: Row = { group: 'core', name: '  same, libbpf with a vmlinux BTF kept on its heap', kind: 'time', note: 'info: libbpf\'s best case' };
    rows.push(rep, repWarm);
    log(`core: repeated loads, ${iters} per side`);
    const plain = await LibbpfChild.start(bin);
    const warm = await LibbpfChild.start(bin);
    try {
      await warm.cmd('vmlinux 4');
      await warm.cmd('vmheap');
      await plain.cmd(`load ${obj} 2`);
      await warm.cmd(`load ${obj} 2`);
      await loadSamples(api, obj, 2);
      const cRep: number[] = [];
      const cRepWarm: number[] = [];
      const tsRep: number[] = [];
      const per = 3;
      const libbpfSide = (c: LibbpfChild, row: Row, out: number[], n: number) => async () => {
        if (!row.libbpfError) try { out.push(...LibbpfChild.samples(await c.cmd(`load ${obj} ${n}`))); } catch (e) { row.libbpfError = errText(e); }
      };
      for (let r = 0; r * per < iters; r++) {
        const n = Math.min(per, iters - r * per);
        const sides = [
          libbpfSide(plain, rep, cRep, n),
          async () => { gc(); if (!rep.tsbpfError) try { tsRep.push(...(await loadSamples(api, obj, n)).total); } catch (e) { rep.tsbpfError = errText(e); } },
          libbpfSide(warm, repWarm, cRepWarm, n),
        ];
        if (r % 2) sides.reverse();
        for (const s of sides) await s();
      }
      if (cRep.length) rep.libbpf = summarize(cRep);
      if (cRepWarm.length) repWarm.libbpf = summarize(cRepWarm);
      if (tsRep.length) rep.tsbpf = repWarm.tsbpf = summarize(tsRep);
    } finally {
      await plain.close();
      await warm.close();
    }

    // Verification-heavy object: one program at a time (libbpf, loadSync) against load()'s concurrent verification.
    const heavy: Row = { group: 'core', name: 'open+load+close 6 verification-heavy programs, load()', kind: 'time', note: 'info: load() verifies concurrently' };
    const heavySync: Row = { group: 'core', name: '  same, tsbpf loadSync() (one at a time)', kind: 'time', note: 'info' };
    rows.push(heavy, heavySync);
    log(`core: verification-heavy object, ${heavyIters} per side`);
    await child.cmd(`load ${heavyObj} 1`);
    await loadSamples(api, heavyObj, 1);
    const cHeavy: number[] = [];
    const tsHeavy: number[] = [];
    const tsHeavySync: number[] = [];
    for (let r = 0; r < heavyIters; r++) {
      const sides = [
        async () => { if (!heavy.libbpfError) try { cHeavy.push(...LibbpfChild.samples(await child.cmd(`load ${heavyObj} 1`))); } catch (e) { heavy.libbpfError = errText(e); } },
        async () => {
          gc();
          try {
            tsHeavy.push(...(await loadSamples(api, heavyObj, 1)).total);
            tsHeavySync.push(...(await loadSamples(api, heavyObj, 1, true)).total);
          } catch (e) {
            heavy.tsbpfError = errText(e);
          }
        },
      ];
      if (r % 2) sides.reverse();
      for (const s of sides) await s();
    }
    if (cHeavy.length) heavy.libbpf = heavySync.libbpf = summarize(cHeavy);
    if (tsHeavy.length) heavy.tsbpf = summarize(tsHeavy);
    if (tsHeavySync.length) heavySync.tsbpf = summarize(tsHeavySync);
  } finally {
    await child.close();
  }
  return rows;
}

// ---- standalone ----------------------------------------------------------------------------------

function fmt(row: Row, s: Summary | undefined, err: string | undefined): string {
  if (!s) return err ? 'error' : '—';
  const f = (v: number) => (row.unit ? v.toFixed(2) : (v / 1e6).toFixed(2));
  return `${f(s.median)} [${f(s.p10)}–${f(s.p90)}]`;
}

export function formatRows(rows: readonly Row[]): string {
  const head = ['benchmark', 'unit', 'libbpf median [p10–p90]', 'tsbpf median [p10–p90]', 'tsbpf/libbpf', 'target', ''];
  const table = rows.map((r) => {
    const rel = r.libbpf && r.tsbpf ? r.tsbpf.median / r.libbpf.median : undefined;
    let verdict = r.note ?? '';
    if (r.unit === 'MB' && r.tsbpf) verdict = r.tsbpf.median <= 8 ? 'ok' : 'MISS';
    else if (rel !== undefined && r.target) verdict = Math.round((1 / rel) * 100) / 100 >= r.target ? 'ok' : 'MISS';
    return [r.name, r.unit ?? 'ms', fmt(r, r.libbpf, r.libbpfError), fmt(r, r.tsbpf, r.tsbpfError), rel === undefined ? '—' : `${rel.toFixed(2)}×`, r.targetText ?? '', verdict];
  });
  const w = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i >= 2 && i <= 4 ? x.padStart(w[i]!) : x.padEnd(w[i]!))).join('  ').trimEnd();
  const errs = rows.flatMap((r) => [r.libbpfError && `${r.name} (libbpf): ${r.libbpfError}`, r.tsbpfError && `${r.name} (tsbpf): ${r.tsbpfError}`].filter(Boolean));
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...table.map(line), ...(errs.length ? ['', 'errors:', ...errs.map((e) => `  ${e}`)] : [])].join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const mode = process.argv[2];
  if (mode === '--first') await childFirst(process.argv[3]!);
  else if (mode === '--heap') await childHeap(process.argv[3]!);
  else {
    const { values } = parseArgs({ options: { quick: { type: 'boolean' }, fresh: { type: 'string' }, iters: { type: 'string' }, 'btf-iters': { type: 'string' } } });
    const q = values.quick ?? false;
    const rows = await run({
      // Unset: run()'s defaults.
      fresh: values.fresh ? Number(values.fresh) : q ? 3 : undefined,
      iters: values.iters ? Number(values.iters) : q ? 6 : undefined,
      btfIters: values['btf-iters'] ? Number(values['btf-iters']) : q ? 4 : undefined,
      heavyIters: q ? 2 : undefined,
    });
    console.log(formatRows(rows));
  }
}
