// Real-world CO-RE objects, libbpf against tsbpf: three tools of the libbpf-tools kind
// (test/bpf/tools-{execsnoop,runqlat,opensnoop}.bpf.c: syscall tracepoints, tp_btf and raw_tp sched
// events, hash/array/percpu/ringbuf/perf/cgroup maps, rodata filters, flavored local types). Every
// program libbpf loads, tsbpf loads too, with the same tag (the same relocated instructions) and the
// same kernel-translated instructions (xlated, map ids replaced by map names).
//
// And the kernel quirks of test/bpf/tools-quirks.bpf.c behave as under libbpf: a typed data ksym
// (without data symbols in kallsyms: ENOENT), fentry (where trampolines are refused: EPERM), kprobe
// attach (without CONFIG_KPROBES) fail with a message that says what is missing, and load (attach)
// under both where the kernel has the feature; each test probes for the feature.
//
// The libbpf side is bench/c/bench-core.c (its one-shot --xlated and --attach-kprobe modes) and
// test/ref/ref-run.c.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Btf, BTF_KIND, type BtfType } from '../btf/index.js';
import { BpfObject, NotSupportedError, VerifierError } from '../src/index.js';
import { moduleBtfObjFd } from '../src/kernel-btf.js';
import { resolveKsyms } from '../src/ksyms.js';
import type { ExternSpec } from '../src/spec/types.js';
import { mapInfo, progInfo } from '../syscalls/index.js';
import { BUILD_DIR, compileBpf, REPO_ROOT } from './support/compile.js';
import { refRun } from './support/ref.js';
import { compiled } from './support/skeleton.js';
import { kallsymsData, kprobes, testIf, trampolines } from './support/skip.js';
import * as toolsQuirks from './skel/tools-quirks.skel.js';

const TOOLS = ['tools-execsnoop', 'tools-runqlat', 'tools-opensnoop'];

function benchCore(): string {
  const src = join(REPO_ROOT, 'bench', 'c', 'bench-core.c');
  const out = join(BUILD_DIR, 'bench-core');
  mkdirSync(BUILD_DIR, { recursive: true });
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    const tmp = `${out}.${process.pid}.tmp`;
    const r = spawnSync('gcc', ['-O2', '-Wall', src, '-lbpf', '-lelf', '-lz', '-o', tmp], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building bench-core failed:\n${r.stderr}${r.error ?? ''}`);
    renameSync(tmp, out);
  }
  return out;
}

function benchCoreJson(args: string[]): Record<string, unknown>[] {
  const r = spawnSync(benchCore(), args, { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, BENCH_CORE_QUIET: '1' } });
  if (r.error || r.status !== 0) throw new Error(`bench-core ${args.join(' ')}: status ${r.status}\n${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Internal maps are named '<object prefix>.rodata' etc.; the prefix is not part of what we compare. */
const mapKey = (name: string): string => (name.includes('.') ? name.slice(name.indexOf('.')) : name);

/** xlated instructions with every map reference (ld_imm64, src 1 or 2: the kernel writes the map id) replaced by the map's name. */
function normalizeXlated(bytes: Uint8Array, idToName: ReadonlyMap<number, string>): string[] {
  const out: string[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let off = 0; off + 8 <= bytes.length; off += 8) {
    const code = bytes[off]!;
    const src = bytes[off + 1]! >> 4;
    const hex = Buffer.from(bytes.subarray(off, off + 8)).toString('hex');
    if (code === 0x18 && (src === 1 || src === 2) && off + 16 <= bytes.length) {
      const id = dv.getUint32(off + 4, true);
      out.push(`${hex.slice(0, 8)} map:${idToName.get(id) ?? `?${id}`}`);
      out.push(Buffer.from(bytes.subarray(off + 8, off + 16)).toString('hex'));
      off += 8;
      continue;
    }
    out.push(hex);
  }
  return out;
}

interface Loaded { tag: string; xlated: string[] }

async function tsbpfLoad(path: string): Promise<Map<string, Loaded>> {
  const obj = BpfObject.open(path);
  try {
    await obj.load();
    const ids = new Map<number, string>();
    for (const m of obj.maps.values()) ids.set(mapInfo(m.fd).id, mapKey(m.name));
    const out = new Map<string, Loaded>();
    for (const [name, p] of obj.programs) {
      if (!p.loaded) continue;
      const info = progInfo(p.fd, { xlatedInsns: true });
      out.set(name, { tag: info.tag, xlated: normalizeXlated(info.xlatedInsns!, ids) });
    }
    return out;
  } finally {
    obj.close();
  }
}

function libbpfLoad(path: string): Map<string, Loaded> {
  const out = new Map<string, Loaded>();
  for (const l of benchCoreJson(['--xlated', path])) {
    if (typeof l.err === 'number') throw new Error(`libbpf failed to load ${path}: ${l.err}`);
    const ids = new Map(Object.entries(l.maps as Record<string, string>).map(([id, n]) => [Number(id), mapKey(n)] as const));
    out.set(String(l.prog), { tag: String(l.tag), xlated: normalizeXlated(Buffer.from(String(l.xlated), 'hex'), ids) });
  }
  return out;
}

for (const tool of TOOLS) {
  test(`${tool}: every program libbpf loads, tsbpf loads with the same tag and xlated instructions`, async () => {
    const path = compileBpf(tool);
    const theirs = libbpfLoad(path);
    assert.ok(theirs.size >= 2, `libbpf loaded ${theirs.size} programs`);
    const ours = await tsbpfLoad(path);
    for (const [prog, ref] of theirs) {
      const mine = ours.get(prog);
      assert.ok(mine, `tsbpf loaded ${prog}`);
      assert.is(mine!.tag, ref.tag, `${prog}: tag`);
      assert.ok(ref.xlated.length > 8, `${prog}: libbpf's xlated instructions`);
      assert.equal(mine!.xlated, ref.xlated, `${prog}: xlated instructions`);
    }
    assert.equal([...ours.keys()].sort(), [...theirs.keys()].sort());
  });
}

test('the tools use CO-RE, tp_btf and several maps (what the differential covers)', () => {
  const kinds = new Set<string>();
  let relos = 0;
  for (const tool of TOOLS) {
    const obj = BpfObject.open(compileBpf(tool));
    try {
      for (const r of obj.spec.btfExt?.coreRelos.values() ?? []) relos += r.length;
      for (const p of obj.programs.values()) kinds.add(p.sectionName.split('/')[0]!);
      assert.ok(obj.maps.size >= 3, `${tool} has ${obj.maps.size} maps`);
    } finally {
      obj.close();
    }
  }
  assert.ok(relos >= 30, `${relos} CO-RE relocations`);
  for (const k of ['tracepoint', 'tp_btf', 'raw_tp']) assert.ok(kinds.has(k), `a ${k} program`);
});

// ---- quirks --------------------------------------------------------------------------------------

function libbpfLoadErr(path: string, prog: string): number {
  const r = refRun(path, ['autoload', prog, '1', 'load']);
  const load = r.lines.find((l) => l.cmd === 'load');
  return load?.err ?? NaN;
}

const quirks = compiled(toolsQuirks);
const QUIRKS = quirks.objectPath();

async function tsbpfLoadErr(prog: keyof toolsQuirks.tools_quirks['progs']): Promise<unknown> {
  using skel = quirks.open();
  skel.progs[prog].autoload = true;
  return await skel.load().then(() => undefined, (e: unknown) => e);
}

const noDataSyms = 'needs a kernel without data symbols in /proc/kallsyms';
testIf(!kallsymsData().present, noDataSyms)('typed data ksym, without data symbols in kallsyms: the same errno as libbpf, and a message that says the address is unavailable', async () => {
  const theirs = libbpfLoadErr(QUIRKS, 'data_ksym');
  const e = await tsbpfLoadErr('data_ksym');
  assert.instance(e, VerifierError);
  const err = e as VerifierError;
  assert.is(-(err.errno ?? 0), theirs, `libbpf ${theirs}, tsbpf -${err.errno}`);
  assert.match(err.message, /address of kernel symbol 'runqueues'.*unavailable/);
  assert.match(err.message, /data_ksym/);
  assert.match(err.message, /CONFIG_KALLSYMS_ALL/);
});

testIf(kallsymsData().present, kallsymsData().why)('typed data ksym, with data symbols in kallsyms: loads under both', async () => {
  assert.is(libbpfLoadErr(QUIRKS, 'data_ksym'), 0, 'libbpf loads it');
  assert.is(await tsbpfLoadErr('data_ksym'), undefined);
});

testIf(!trampolines().present, 'needs a kernel that refuses BPF trampolines')('fentry, where trampolines are refused: the same errno as libbpf, as a NotSupportedError that says why', async () => {
  const theirs = libbpfLoadErr(QUIRKS, 'on_fentry');
  const e = await tsbpfLoadErr('on_fentry');
  assert.instance(e, NotSupportedError);
  assert.is(-((e as NotSupportedError).errno ?? 0), theirs);
  assert.match((e as Error).message, /on_fentry/);
  assert.match((e as Error).message, /trampolines/);
});

testIf(trampolines().present, trampolines().why)('fentry, where the kernel has trampolines: loads under both', async () => {
  assert.is(libbpfLoadErr(QUIRKS, 'on_fentry'), 0, 'libbpf loads it');
  assert.is(await tsbpfLoadErr('on_fentry'), undefined);
});

testIf(!kprobes().present, 'needs a kernel without kprobes')('kprobe, without kprobes: loads under both; attaching fails under both, tsbpf naming CONFIG_KPROBES', async () => {
  const [ref] = benchCoreJson(['--attach-kprobe', QUIRKS, 'on_kprobe', 'do_nanosleep']);
  assert.is(ref!.load, 0, 'libbpf loads the kprobe program');
  assert.ok(typeof ref!.attach === 'number' && ref!.attach < 0, 'libbpf fails to attach it');
  using skel = quirks.open();
  skel.progs.on_kprobe.autoload = true;
  await skel.load();
  assert.throws(() => skel.progs.on_kprobe.attachKprobe('do_nanosleep'), (e: unknown) => {
    if (!(e instanceof NotSupportedError) || !/CONFIG_KPROBES/.test(e.message)) return false;
    // The same errno as libbpf (ENOENT: no kprobe PMU and no legacy kprobe_events file).
    return e.errno === -(ref!.attach as number);
  });
});

testIf(kprobes().present, kprobes().why)('kprobe, with kprobes: loads and attaches under both', async () => {
  const [ref] = benchCoreJson(['--attach-kprobe', QUIRKS, 'on_kprobe', 'do_nanosleep']);
  assert.is(ref!.load, 0, 'libbpf loads the kprobe program');
  assert.is(ref!.attach, 0, 'libbpf attaches it');
  using skel = quirks.open();
  skel.progs.on_kprobe.autoload = true;
  await skel.load();
  skel.progs.on_kprobe.attachKprobe('do_nanosleep').close();
});

// ---- ksyms and kfuncs in kernel modules (unit: this kernel has no module BTF) -----------------------

function build(types: BtfType[], base?: Btf): Btf {
  const b = Btf.create(base ? { base } : {});
  for (const t of types) b.addType(t);
  return Btf.parse(b.encode(), base ? { base } : {});
}

/** vmlinux: int [1], long [2], func_proto int(int) [3], FUNC vm_kfunc [4], VAR vm_var int [5]. */
const VMLINUX = build([
  { kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 },
  { kind: BTF_KIND.INT, name: 'long', size: 8, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 64 },
  { kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 1, params: [{ name: 'a', type: 1 }] },
  { kind: BTF_KIND.FUNC, name: 'vm_kfunc', type: 3, linkage: 1 },
  { kind: BTF_KIND.VAR, name: 'vm_var', type: 1, linkage: 1 },
] as BtfType[]);
/** A module over it: func_proto long(long, int) [6], FUNC mod_kfunc [7], VAR mod_var long [8], FUNC mod_kfunc2 [9]. */
const MODULE = build([
  { kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 2, params: [{ name: 'a', type: 2 }, { name: 'b', type: 1 }] },
  { kind: BTF_KIND.FUNC, name: 'mod_kfunc', type: 6, linkage: 1 },
  { kind: BTF_KIND.VAR, name: 'mod_var', type: 2, linkage: 1 },
  { kind: BTF_KIND.FUNC, name: 'mod_kfunc2', type: 6, linkage: 1 },
] as BtfType[], VMLINUX);
/** The program's BTF: int [1], long [2], proto int(int) [3], proto long(long,int) [4], proto long(long) [5]. */
const LOCAL = build([
  { kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 },
  { kind: BTF_KIND.INT, name: 'long', size: 8, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 64 },
  { kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 1, params: [{ name: 'a', type: 1 }] },
  { kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 2, params: [{ name: 'a', type: 2 }, { name: 'b', type: 1 }] },
  { kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 2, params: [{ name: 'a', type: 2 }] },
] as BtfType[]);

function ksym(name: string, typeId: number, isFunc: boolean, isWeak = false): ExternSpec {
  return { name, essentialName: name, symIndex: 0, isWeak, btfId: 0, kind: 'ksym', ksym: { typeId, isFunc } } as ExternSpec;
}

const modOpts = { modules: () => [{ btf: MODULE, name: 'bpf_testmod' }], moduleBtfFd: (n: string) => (n === 'bpf_testmod' ? 42 : undefined) };

test('module ksyms: vmlinux first, then modules; kfuncs get fd_array slots, variables the module BTF fd', () => {
  const ext = [ksym('vm_kfunc', 3, true), ksym('mod_kfunc', 4, true), ksym('mod_var', 2, false), ksym('mod_kfunc2', 4, true), ksym('vm_var', 1, false)];
  const r = resolveKsyms(ext, LOCAL, () => VMLINUX, modOpts);
  assert.equal(r.get(0), { kernelBtfId: 4, btfObjFd: 0, btfFdIdx: 0 });
  assert.equal(r.get(1), { kernelBtfId: 7, btfObjFd: 42, btfFdIdx: 1 });
  assert.equal(r.get(2), { kernelBtfId: 8, btfObjFd: 42, btfFdIdx: 0 });
  assert.equal(r.get(3), { kernelBtfId: 9, btfObjFd: 42, btfFdIdx: 1 }, 'one fd_array slot per module');
  assert.equal(r.get(4), { kernelBtfId: 5, btfObjFd: 0, btfFdIdx: 0 });
  assert.equal(r.fdArray, [0, 42], 'index 0 is reserved for vmlinux, as in libbpf');
  assert.is(resolveKsyms([ext[0]!], LOCAL, () => VMLINUX, modOpts).fdArray, undefined, 'no fd_array without module kfuncs');
});

test('typed ksym compatibility (bpf_core_types_are_compat): kfunc prototypes and variable types', () => {
  // A strong kfunc with a different prototype: an error that says both.
  assert.throws(() => resolveKsyms([ksym('mod_kfunc', 5, true)], LOCAL, () => VMLINUX, modOpts),
    (e: unknown) => /func ksym\) 'mod_kfunc': incompatible types/.test((e as Error).message) && (e as { errno?: number }).errno === 22);
  // Same count, different return/param types: int(int) vs the kernel's long(long, int) fails too.
  assert.throws(() => resolveKsyms([ksym('mod_kfunc', 3, true)], LOCAL, () => VMLINUX, modOpts), /incompatible types/);
  // A weak incompatible kfunc stays unresolved (its calls are poisoned), as in libbpf.
  const weak = resolveKsyms([ksym('mod_kfunc', 5, true, true)], LOCAL, () => VMLINUX, modOpts);
  assert.is(weak.get(0), undefined);
  // Variables: integers are compatible whatever their size (as in libbpf); another kind is an error, even when weak.
  assert.not.throws(() => resolveKsyms([ksym('mod_var', 2, false), ksym('vm_var', 2, false)], LOCAL, () => VMLINUX, modOpts));
  assert.throws(() => resolveKsyms([ksym('vm_var', 3, false, true)], LOCAL, () => VMLINUX, modOpts), /var ksym\) 'vm_var': incompatible types/);
});

test('module ksyms: a module whose BTF object is gone is an error that names it', () => {
  assert.throws(() => resolveKsyms([ksym('mod_kfunc', 4, true)], LOCAL, () => VMLINUX, { ...modOpts, moduleBtfFd: () => undefined }),
    /in kernel module 'bpf_testmod'/);
});

test('module BTF objects: found by name among the kernel BTF objects (none here but vmlinux)', () => {
  assert.is(moduleBtfObjFd('vmlinux'), undefined, 'vmlinux is not a module');
  assert.is(moduleBtfObjFd('tsbpf_no_such_module'), undefined);
});

test('module:func attach targets: an unknown module is a clear error', async () => {
  using skel = quirks.open();
  skel.progs.on_fentry.autoload = false;
  // Point the tp_btf program at a module target.
  const p = skel.progs.data_ksym;
  const spec = p.spec as { sectionName: string };
  Object.defineProperty(spec, 'sectionName', { value: 'tp_btf/tsbpf_nomod:sched_switch' });
  p.autoload = true;
  await skel.load().then(() => assert.unreachable('loaded'), (e: unknown) => {
    assert.match((e as Error).message, /kernel module 'tsbpf_nomod' has no BTF/);
  });
});

test.run();
