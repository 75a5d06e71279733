// `tsbpf gen skeleton`: generated modules typecheck under strict tsc, are stable, expose the same maps,
// programs and data section variables as `bpftool gen skeleton`, and behave like libbpf skeletons on
// the real kernel: .rodata set before load reaches the program, section fields and views taken before
// load read and write the live maps after it (seen by BPF_PROG_TEST_RUN), .rodata writes throw after
// load, everything throws after destroy(), typed map codecs, copy mode, and referencing the object file.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { BpfError, StateError } from '../src/errors.js';
import { MAP_FLAG, generateSkeleton, skeletonName, type Skeleton, type SkeletonDesc } from '../src/index.js';
import { ElfFile, STT } from '../elf/index.js';
import { main } from '../src/cli/main.js';
import { importTs } from './support/ts-import.js';
import { BUILD_DIR, REPO_ROOT, compileBpf, haveCommand } from './support/compile.js';
import { testIf } from './support/skip.js';

const GEN_DIR = join(BUILD_DIR, 'skel-gen');
const RUNTIME = relative(GEN_DIR, join(REPO_ROOT, 'src', 'index.js')).replace(/\\/g, '/');
const OBJECTS = ['skel-types', 'globals', 'maps', 'externs', 'calls'];
const isRoot = process.getuid?.() === 0;
const haveBpftool = haveCommand('bpftool');

rmSync(GEN_DIR, { recursive: true, force: true });
mkdirSync(GEN_DIR, { recursive: true });

/** Generates the skeleton of test/bpf/<name>.bpf.c into GEN_DIR; returns its path. */
function gen(name: string, opts: { objectPath?: string; file?: string } = {}): string {
  const obj = compileBpf(name);
  const out = join(GEN_DIR, opts.file ?? `${name}.skel.ts`);
  writeFileSync(out, generateSkeleton(obj, { runtimeImport: RUNTIME.startsWith('.') ? RUNTIME : `./${RUNTIME}`, objectPath: opts.objectPath }));
  return out;
}

interface GeneratedModule<S> {
  open(opts?: object): S;
  openAndLoad(opts?: object): Promise<S>;
  SKELETON: SkeletonDesc;
}

// The generated types, as the test uses them (the real ones are checked by tsc below).
type TypesSkel = Skeleton & {
  rodata: Record<string, any>; data: Record<string, any>; bss: Record<string, any>; data_foo: Record<string, any>;
  rodata_bar: Record<string, any>; kconfig: Record<string, any>; maps: Record<string, any>;
};

async function load<S>(path: string): Promise<GeneratedModule<S>> {
  return importTs<GeneratedModule<S>>(path);
}

const pkt = new Uint8Array(64);
const pdv = new DataView(pkt.buffer);
function run(skel: TypesSkel, key: number, val: bigint, aux = 0): number {
  pdv.setUint32(0, key, true);
  pdv.setUint32(4, aux, true);
  pdv.setBigUint64(8, val, true);
  return skel.progs.handle!.testRunSync({ data: pkt }).retval;
}

function throwsState(fn: () => unknown, re: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, StateError, String(e));
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a StateError matching ${re}`);
}

test('generated skeletons typecheck under strict tsc (erasableSyntaxOnly, verbatimModuleSyntax)', () => {
  for (const n of OBJECTS) gen(n);
  gen('skel-types', { file: 'skel-types-ref.skel.ts', objectPath: './skel-types.bpf.o' });
  writeFileSync(join(GEN_DIR, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: ['node'],
      typeRoots: [relative(GEN_DIR, join(REPO_ROOT, 'node_modules', '@types'))],
      strict: true, erasableSyntaxOnly: true, verbatimModuleSyntax: true, skipLibCheck: true, noEmit: true,
    },
    include: ['*.ts'],
  }));
  // A user of the skeleton: the generated types must allow natural code and reject misuse.
  writeFileSync(join(GEN_DIR, 'use.ts'), `import { open, enum_mode, type struct_stats } from './skel-types.skel.js';
export async function use(): Promise<number> {
  using skel = open();
  skel.rodata.cfg_mult = 5;
  skel.rodata.cfg_name = 'x';
  skel.rodata.cfg_table = [1, 2, 3, 4];
  const m: number = skel.rodata.cfg_mode + enum_mode.MODE_AUTO;
  await skel.load();
  const v: struct_stats | undefined = skel.maps.counts.lookup(1);
  skel.maps.counts.update(2, { packets: 1n, comm: 'a' });
  const big: bigint = skel.data.counter + (v?.bytes ?? 0n);
  skel.bss.k.in.c = -1;
  skel.bss.k.grid[0] = 3;
  const s: string = skel.bss.out_name.str;
  // @ts-expect-error: 64-bit values are bigints
  skel.data.counter = 1;
  // @ts-expect-error: no such map
  skel.maps.nope;
  // @ts-expect-error: kconfig is read-only
  skel.kconfig.LINUX_KERNEL_VERSION = 1;
  return m + Number(big) + s.length + (skel.links.handle ? 1 : 0);
}
`);
  const tsc = join(REPO_ROOT, 'node_modules', '.bin', 'tsc');
  const r = spawnSync(tsc, ['-p', GEN_DIR], { encoding: 'utf8' });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
});

test('output is stable, and the name is derived like bpftool', () => {
  const obj = compileBpf('skel-types');
  const a = generateSkeleton(obj);
  assert.is(generateSkeleton(obj), a);
  assert.is(skeletonName('/x/skel-types.bpf.o'), 'skel_types_bpf');
  assert.is(skeletonName('a.b-c'), 'a_b_c');
  assert.match(a, 'export interface skel_types_bpf extends SkeletonBase');
  assert.match(generateSkeleton(obj, { name: 'custom' }), 'export interface custom extends SkeletonBase');
  assert.throws(() => generateSkeleton(obj, { name: 'not-an-ident' }), /not an identifier/);
});

/** bpftool's struct NAME: map, program and link fields, and each data section's variables. */
function bpftoolLayout(obj: string, name: string): { maps: string[]; progs: string[]; links: string[]; sections: Map<string, string[]> } {
  const h = execFileSync('bpftool', ['gen', 'skeleton', obj, 'name', name], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const body = h.slice(h.indexOf(`struct ${name} {`), h.indexOf('#ifdef __cplusplus'));
  const block = (label: string): string[] => {
    const m = new RegExp(`struct \\{\\n([^}]*)\\} ${label};`).exec(body);
    return m ? m[1]!.split('\n').map((l) => /(\w+);$/.exec(l.trim())?.[1]).filter((x): x is string => !!x) : [];
  };
  const sections = new Map<string, string[]>();
  for (const m of body.matchAll(new RegExp(`struct ${name}__(\\w+) \\{\\n([^]*?)\\n?\\t\\} \\*(\\w+);`, 'g'))) {
    const vars = m[2]!.split('\n').map((l) => l.trim()).filter((l) => l && !/^char __pad\d+\[/.test(l))
      .map((l) => /(\w+)(\[[^\]]*\])*;$/.exec(l)?.[1]).filter((x): x is string => !!x);
    sections.set(m[3]!, vars);
  }
  return { maps: block('maps'), progs: block('progs'), links: block('links'), sections };
}

testIf(haveBpftool, 'no bpftool')('same maps, programs, links and data section variables as bpftool gen skeleton', () => {
  for (const n of OBJECTS) {
    const obj = compileBpf(n);
    const name = skeletonName(obj);
    // bpftool 7.1 (Linux 6.1 libbpf) still exposes __hidden globals; libbpf ≥1.2 and tsbpf treat them as static.
    const elf = ElfFile.parse(new Uint8Array(readFileSync(obj)));
    const hidden = new Set(elf.symbols.filter((s) => s.type === STT.OBJECT && s.visibility === 2).map((s) => s.name));
    const ref = bpftoolLayout(obj, name);
    const src = generateSkeleton(obj);
    const desc = /export const SKELETON: SkeletonDesc = (\{[^]*?\n\});/.exec(src)![1]!;
    const maps = [...desc.matchAll(/\{ ident: '(\w+)', name: /g)].map((m) => m[1]);
    assert.equal(maps, ref.maps, `${n}: maps`);
    const progs = /progs: \[([^\]]*)\]/.exec(desc)![1]!.split(', ').filter(Boolean).map((s) => s.slice(1, -1));
    assert.equal(progs, ref.progs, `${n}: progs`);
    assert.equal(progs, ref.links, `${n}: links`);
    const ours = new Map<string, string[]>();
    for (const m of src.matchAll(/\nconst \w+__(\w+) = t\.struct\('[^']*', \d+, \[([^]*?)\]\);\n/g)) {
      ours.set(m[1]!, [...m[2]!.matchAll(/^ {2}\['(\w+)'/gm)].map((x) => x[1]!));
    }
    assert.equal([...ours.keys()], [...ref.sections.keys()], `${n}: sections`);
    for (const [sec, vars] of ref.sections) assert.equal(ours.get(sec), vars.filter((v) => !hidden.has(v)), `${n}: ${sec} variables`);
  }
});

testIf(isRoot, 'needs root')('lifecycle: .rodata before load, live views after load, frozen .rodata, destroy', async () => {
  const mod = await load<TypesSkel>(gen('skel-types'));
  const skel = mod.open();
  try {
    // Before load: the initialization image, .rodata included.
    assert.is(skel.rodata.cfg_mult, 3);
    assert.is(skel.rodata.cfg_big, 0x1122334455667788n);
    assert.is(skel.rodata.cfg_name.str, 'default');
    assert.equal([...skel.rodata.cfg_table], [1, 2, 3, 4]);
    assert.is(skel.rodata.cfg_flag, true);
    assert.is(skel.data.counter, 1000n);
    assert.equal([...skel.data.data_arr], [-1, 2, -3, 4]);
    assert.equal(skel.data.data_inner.toJSON(), { a: 1, b: 2, c: -3 });
    assert.is(skel.data_foo.foo_val, 0xf00);
    assert.is(skel.rodata_bar.bar_val, 0xba5n);
    skel.rodata.cfg_mult = 7;
    skel.rodata.cfg_name = 'tsbpf';
    skel.rodata.cfg_table = [9, 8];
    skel.rodata_bar.bar_val = 0xabcn;
    assert.throws(() => { skel.rodata.cfg_name = 'x'.repeat(16); }, /does not fit a char\[16\]/);
    assert.throws(() => { skel.rodata.cfg_mult = 2 ** 32; }, (e: unknown) => e instanceof BpfError);
    assert.throws(() => { skel.rodata.cfg_big = 1.5; }, /expected a bigint/);

    const arrView = skel.data.data_arr as Int32Array;
    const bss = skel.bss;
    const kitchen = skel.bss.k;
    await skel.load();
    // The very same objects after load.
    assert.is(skel.data.data_arr, arrView);
    assert.is(skel.bss, bss);
    assert.is(skel.bss.k, kitchen);

    // .rodata and .kconfig reached the program.
    assert.is(run(skel, 0, 0n), 0);
    assert.is(skel.bss.out_mult, 7n);
    assert.is(skel.bss.out_big, 0x1122334455667788n);
    assert.is(skel.bss.out_name.str, 'tsbpf');
    assert.equal([...skel.bss.out_table], [9, 8, 3, 4]);
    assert.is(skel.bss.out_mode, 1);
    assert.is(skel.bss.out_tiny, 200);
    assert.is(skel.bss.out_flag, 1);
    assert.is(skel.bss.out_data, 0xabcn);
    assert.is(skel.bss.out_syscall, 1);
    assert.is(skel.kconfig.CONFIG_BPF_SYSCALL, true);
    assert.ok(skel.kconfig.LINUX_KERNEL_VERSION > 0);
    assert.is(BigInt(skel.kconfig.LINUX_KERNEL_VERSION), skel.bss.out_kver);

    // Live: user writes are seen by the program, program writes by the user, through views too.
    skel.data.counter = 5n;
    assert.is(run(skel, 1, 10n), 15);
    assert.is(skel.data.counter, 15n);
    assert.is(kitchen.u32v, 1);
    assert.is(kitchen.in.c, -10);
    assert.is(kitchen.bf_b, -3);
    assert.equal([...kitchen.grid], [0, 0, 0, 0, 0, 77]);
    arrView[3] = 100;
    skel.data_foo.foo_val = 1;
    assert.is(run(skel, 3, 3n), 101);
    // Bitfields, unions and nested structs write in place.
    kitchen.bf_a = 5;
    kitchen.bf_c = (1n << 39n) + 1n;
    assert.is(kitchen.bf_a, 5);
    assert.is(kitchen.bf_b, -3);
    assert.is(kitchen.bf_c, (1n << 39n) + 1n);
    kitchen.as_u32 = 0x04030201;
    assert.equal([...kitchen.as_bytes], [1, 2, 3, 4]);
    kitchen.ins = [{ a: 1 }, { c: -2 }];
    assert.is(kitchen.ins[1].c, -2);
    assert.throws(() => { kitchen.bf_a = 8; }, /does not fit a 3-bit bitfield/);
    assert.throws(() => { kitchen.in = { nope: 1 }; }, /no field 'nope'/);
    assert.match(JSON.stringify(kitchen), '"bf_c":"549755813889"');

    // .rodata is frozen: writes throw, reads still work.
    throwsState(() => { skel.rodata.cfg_mult = 1; }, /read-only after load/);
    throwsState(() => { skel.rodata.cfg_table = [1]; }, /read-only after load/);
    assert.is(skel.rodata.cfg_mult, 7);
  } finally {
    skel.destroy();
  }
  // After destroy everything throws, and old views read zeros instead of crashing.
  throwsState(() => skel.data.counter, /destroyed/);
  throwsState(() => { skel.bss.k.u8v = 1; }, /destroyed/);
  throwsState(() => skel.rodata.cfg_mult, /destroyed/);
  assert.throws(() => skel.maps.counts.lookup(1), (e: unknown) => e instanceof StateError);
  await assert.throws(() => skel.loadSync(), /destroyed/);
  skel.destroy();
});

testIf(isRoot, 'needs root')('a section whose map is not memory-mapped throws after load instead of showing stale data', async () => {
  const mod = await load<TypesSkel>(join(GEN_DIR, 'skel-types.skel.ts'));
  {
    using skel = mod.open();
    const map = skel.maps.data;
    map.setMapFlags(map.mapFlags & ~MAP_FLAG.MMAPABLE);
    skel.data.counter = 7n;
    await skel.load();
    throwsState(() => skel.data.counter, /could not be memory-mapped/);
    // The map itself still works, and holds what was written before load.
    const v = map.lookup(new Uint8Array(4))!;
    assert.is(new DataView(v.buffer).getBigUint64(0, true), 7n);
    assert.is(skel.bss.out_mult, 0n, 'other sections are unaffected');
  }
});

testIf(isRoot, 'needs root')('typed maps: struct values, scalar arrays, queues, per-CPU values', async () => {
  const mod = await load<TypesSkel>(join(GEN_DIR, 'skel-types.skel.ts'));
  const skel = await mod.openAndLoad();
  try {
    const counts = skel.maps.counts;
    assert.is(run(skel, 2, 9n, 5), 0);
    assert.is(run(skel, 2, 1n, 5), 0);
    const v = counts.lookup(5);
    assert.equal(v.toJSON(), { packets: '2', bytes: '10', comm: 'bpf' });
    assert.is(counts.lookup(6), undefined);
    v.packets = 100n;
    counts.update(5, v);
    counts.update(6, { bytes: 7n, comm: 'user' });
    assert.is(counts.lookup(5).packets, 100n);
    assert.is(counts.lookup(6).comm.str, 'user');
    assert.equal([...counts.keys()].sort(), [5, 6]);
    assert.ok(counts.delete(6));
    assert.not.ok(counts.delete(6));
    assert.is(skel.maps.arr.lookup(1), 1n * 3n, 'arr[aux & 3] = val * cfg_mult (the last run)');
    skel.maps.arr.update(2, 42n);
    assert.equal([...skel.maps.arr.entries()].map(([k, x]: [number, bigint]) => [k, x]), [[0, 0n], [1, 3n], [2, 42n], [3, 0n]]);
    assert.is(run(skel, 3, 11n), 4 + 0xf00, 'data_arr[11 & 3] + foo_val');
    assert.is(skel.maps.q.pop(), 11);
    skel.maps.q.push(12);
    assert.is(skel.maps.q.peek(), 12);
    const pcpu = skel.maps.pcpu;
    pcpu.update(0, { a: 1, c: 5 });
    const per = pcpu.lookup(0);
    assert.ok(per.length >= 1);
    assert.ok(per.every((x: { a: number; c: number }) => x.a === 1 && x.c === 5));
    assert.is(skel.maps.rb.name, 'rb');
    assert.throws(() => counts.update(1, { packets: 'x' }), /expected a bigint/);
  } finally {
    skel.destroy();
  }
});

testIf(isRoot, 'needs root')('attach(): fills links for auto-attachable programs, detach() empties them', async () => {
  const mod = await load<TypesSkel>(join(GEN_DIR, 'skel-types.skel.ts'));
  const skel = mod.open();
  try {
    skel.progs.on_getppid!.autoload = true;
    await skel.load();
    const summary = skel.attach();
    assert.is(skel.links.handle, undefined, 'tc programs are not auto-attached');
    assert.ok(summary.skipped.some((s) => s.program === 'handle'));
    const link = skel.links.on_getppid;
    assert.ok(link, 'the tracepoint program is attached');
    assert.is(skel.attach().links.size, 0, 'attached programs are skipped');
    // getppid() from a child: the tracepoint fires and the program bumps pcpu[0].c on some CPU.
    for (let i = 0; i < 5; i++) spawnSync('sh', ['-c', 'echo $PPID'], { stdio: 'ignore' });
    const hits = skel.maps.pcpu.lookup(0).reduce((n: number, x: { c: number }) => n + x.c, 0);
    assert.ok(hits >= 1, `tracepoint hits: ${hits}`);
    skel.detach();
    assert.is(skel.links.on_getppid, undefined);
    assert.ok(link.closed);
  } finally {
    skel.destroy();
  }
});

testIf(isRoot, 'needs root')('copy mode (TSBPF_FORCE_COPY=1): fields work through read()/write()', () => {
  const script = join(GEN_DIR, 'copy-mode.ts');
  writeFileSync(script, `import { open } from './skel-types.skel.js';
const skel = open();
skel.rodata.cfg_mult = 6;
const before = skel.data.counter;
await skel.load();
skel.data.counter = 40n;
const pkt = new Uint8Array(64);
const dv = new DataView(pkt.buffer);
dv.setUint32(0, 1, true); dv.setBigUint64(8, 2n, true);
const r = skel.progs.handle.testRunSync({ data: pkt }).retval;
dv.setUint32(0, 0, true);
skel.progs.handle.testRunSync({ data: pkt });
skel.data.data_arr = [1, 2, 3, 4];
let frozen = '';
try { skel.rodata.cfg_mult = 1; } catch (e) { frozen = (e as Error).message; }
console.log(JSON.stringify({ before: String(before), r, counter: String(skel.data.counter), mult: String(skel.bss.out_mult),
  arr: [...skel.data.data_arr], name: skel.bss.out_name.str, frozen, isView: skel.data.data_arr === skel.data.data_arr }));
skel.destroy();
`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', env: { ...process.env, TSBPF_FORCE_COPY: '1' }, cwd: REPO_ROOT });
  assert.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(out, { before: '1000', r: 42, counter: '42', mult: '6', arr: [1, 2, 3, 4], name: 'default', frozen: out.frozen, isView: false });
  assert.match(out.frozen, /read-only/);
});

testIf(isRoot, 'needs root')('--object-path: the skeleton loads the object file at run time', async () => {
  copyFileSync(compileBpf('skel-types'), join(GEN_DIR, 'skel-types.bpf.o'));
  const mod = await load<TypesSkel>(join(GEN_DIR, 'skel-types-ref.skel.ts'));
  const src = readFileSync(join(GEN_DIR, 'skel-types-ref.skel.ts'), 'utf8');
  assert.not.match(src, 'elfBytes');
  const skel = await mod.openAndLoad();
  try {
    assert.is(run(skel, 1, 1n), 1001);
  } finally {
    skel.destroy();
  }
  assert.throws(() => mod.open({ objectPath: '/nonexistent.bpf.o' }), /failed to read BPF object/);
});

testIf(isRoot, 'needs root')('other objects load through their skeletons', async () => {
  for (const n of ['globals', 'maps', 'calls']) {
    const mod = await load<Skeleton>(join(GEN_DIR, `${n}.skel.ts`));
    const skel = await mod.openAndLoad();
    assert.equal(Object.keys(skel.progs).length, mod.SKELETON.progs.length);
    skel.destroy();
  }
});

test('CLI: tsbpf gen skeleton FILE [name NAME]', async () => {
  const obj = compileBpf('skel-types');
  let out = '';
  let err = '';
  const io = { out: (s: string) => { out += s; }, err: (s: string) => { err += s; } };
  assert.is(await main(['gen', 'skeleton', obj, 'name', 'my_skel'], io), 0, err);
  assert.match(out, 'export interface my_skel extends SkeletonBase');
  assert.match(out, "} from 'tsbpf';");
  out = '';
  assert.is(await main(['gen', 'skeleton', obj, 'bogus'], io), 1);
  assert.is(await main(['gen', 'skeleton', join(GEN_DIR, 'missing.o')], io), 1);
  assert.match(err, 'failed to open()');
  void basename;
});

test.run();
