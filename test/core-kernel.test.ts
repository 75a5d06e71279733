// CO-RE on the real kernel, against libbpf:
// - every relocation of test/bpf/core-read.bpf.c computed by src/core/ equals libbpf's (its debug log
//   prints each patched instruction), and the relocated programs load with libbpf's program tags;
// - the programs read what they should: the values are checked against /proc and against offsets and
//   sizes computed independently from vmlinux BTF;
// - unresolvable relocations that are reached (core-poison) and ambiguous ones (core-ambiguous)
//   fail as in libbpf, with the verifier log explained;
// - the lookups that make a fresh-process load fast (kernel name scans, candidate search, the
//   combined BTF feature probe) answer what a brute force and libbpf's single probes answer.
//
// The loader does not apply CO-RE itself yet, so the tests load a copy of the ELF whose program
// sections hold the relocated instructions and whose .BTF.ext has no CO-RE records left.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BTF_KIND, featureProbeBtf, type Btf, type BtfFeatures, type BtfType } from '../btf/index.js';
import { btfLoad } from '../syscalls/index.js';
import { allFeaturesProbeBtf, kernelBtfFeatures } from '../src/features.js';
import { BpfObject, VerifierError } from '../src/index.js';
import {
  CORE_RELO_KIND, describeCoreOutcome, fixupCoreVerifierLog, relocateObjectCore, CoreRelocationError,
  type CoreReloOutcome,
} from '../src/core/index.js';
import { findVmlinuxBtf, kernelBtf, kernelCoreTargets, vmlinuxEntry } from '../src/kernel-btf.js';
import { essentialName } from '../src/core/index.js';
import { BUILD_DIR, compileBpf, REPO_ROOT } from './support/compile.js';
import { fdinfo } from './support/diff.js';
import { refRun } from './support/ref.js';

const READ = compileBpf('core-read');
const POISON = compileBpf('core-poison');
const AMBIG = compileBpf('core-ambiguous');
const LOCAL = compileBpf('core-local');
const TARGET = compileBpf('core-target');
const vmlinux = kernelBtf();

// ---- helpers ---------------------------------------------------------------------------------

interface Relocated {
  /** The ELF with relocated program bytes and no CO-RE records. */
  bytes: Uint8Array;
  /** Outcomes by program name. */
  outcomes: Map<string, CoreReloOutcome[]>;
}

/** Relocates `path` with src/core (programs in `enable` get autoload on first) and writes the result into an ELF copy. */
function relocateElf(path: string, enable: string[] = [], btfCustomPath?: string): Relocated {
  const bytes = new Uint8Array(readFileSync(path));
  const obj = BpfObject.open(bytes);
  for (const n of enable) obj.programs.get(n)!.autoload = true;
  const spec = obj.spec;
  const res = relocateObjectCore(spec.btf!, spec.btfExt!.coreRelos, spec.programs, kernelCoreTargets({ btfCustomPath }));
  const out = bytes.slice();
  const outcomes = new Map<string, CoreReloOutcome[]>();
  for (const [p, r] of res) {
    out.set(r.insns, spec.elf.sections[p.sectionIndex]!.offset + p.secInsnOff * 8);
    outcomes.set(p.name, r.outcomes);
  }
  // core_relo_len (header offset 28) = 0: the copy has nothing left to relocate.
  const ext = spec.elf.section('.BTF.ext')!;
  new DataView(out.buffer, ext.offset).setUint32(28, 0, true);
  obj.close();
  return { bytes: out, outcomes };
}

type Patches = Map<string, { insn: number; change: string }>;

/** test/ref/core-ref.c, built against the system libbpf (cached by source hash). */
function coreRef(): string {
  const src = join(REPO_ROOT, 'test', 'ref', 'core-ref.c');
  const out = join(BUILD_DIR, 'core-ref');
  const key = createHash('sha256').update(readFileSync(src)).update(readFileSync('/usr/include/bpf/libbpf.h')).digest('hex');
  if (existsSync(out) && existsSync(`${out}.hash`) && readFileSync(`${out}.hash`, 'utf8') === key) return out;
  mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const r = spawnSync('gcc', ['-O2', '-Wall', src, '-lbpf', '-lelf', '-lz', '-o', tmp], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building core-ref failed:\n${r.stderr}`);
  renameSync(tmp, out);
  writeFileSync(`${out}.hash`, key);
  return out;
}

/** libbpf's patch decisions from its debug log: "prog#relo" → insn and change, in our wording. */
function libbpfPatches(path: string, args: string[]): { patches: Patches; stderr: string; lines: ReturnType<typeof refRun>['lines'] } {
  const r = refRun(path, [...args, 'load'], { env: { REF_RUN_DEBUG: '1' } });
  return { ...parsePatches(r.stderr), lines: r.lines };
}

function parsePatches(stderr: string): { patches: Patches; stderr: string } {
  const patches: Patches = new Map();
  for (const line of stderr.split('\n')) {
    let m = /^libbpf: prog '([^']+)': relo #(\d+): patched insn #(\d+) \((?:ALU\/ALU64|LDX\/ST\/STX|LDIMM64)\) (imm|off|imm64|mem_sz) (\d+) -> (\d+)$/.exec(line);
    if (m) {
      const key = `${m[1]}#${m[2]}`;
      const change = `${m[4]} ${m[5]} -> ${m[6]}`;
      const prev = patches.get(key);
      if (m[4] === 'mem_sz' && prev) prev.change += `, ${change}`;
      else patches.set(key, { insn: Number(m[3]), change });
      continue;
    }
    m = /^libbpf: prog '([^']+)': relo #(\d+): substituting insn #(\d+) w\/ invalid insn$/.exec(line);
    if (m) {
      const key = `${m[1]}#${m[2]}`;
      const insn = Number(m[3]);
      const prev = patches.get(key);
      // ld_imm64: libbpf poisons insn+1 first, then insn.
      if (!prev || insn < prev.insn) patches.set(key, { insn, change: 'poisoned' });
    }
  }
  return { patches, stderr };
}

function ourPatches(outcomes: Map<string, CoreReloOutcome[]>): Patches {
  const out: Patches = new Map();
  for (const [prog, list] of outcomes) for (const o of list) out.set(`${prog}#${o.reloIdx}`, { insn: o.insnIdx, change: o.change });
  return out;
}

function sorted(p: Patches): [string, { insn: number; change: string }][] {
  return [...p].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
}

/** Byte offset and size of each member of a struct in `btf`. */
function layout(btf: Btf, structName: string): Map<string, { off: number; size: number }> {
  const t = btf.type(btf.findOne(structName, BTF_KIND.STRUCT)!);
  if (t.kind !== BTF_KIND.STRUCT) throw new Error(structName);
  return new Map(t.members.map((m) => [m.name, { off: m.bitOffset / 8, size: btf.resolveSize(m.type) }]));
}

/** A field of a kernel struct, found through anonymous members: bit offset from the struct start, bitfield size, type. */
function kfield(structName: string, path: string): { bitOffset: number; bitSize: number; type: number } {
  let id = vmlinux.findOne(structName, BTF_KIND.STRUCT)!;
  let base = 0;
  let found: { bitOffset: number; bitSize: number; type: number } | undefined;
  for (const name of path.split('.')) {
    const search = (tid: number, at: number): typeof found => {
      const t = vmlinux.type(vmlinux.skipModsAndTypedefs(tid)) as BtfType;
      if (t.kind !== BTF_KIND.STRUCT && t.kind !== BTF_KIND.UNION) return undefined;
      for (const m of t.members) {
        if (m.name === name) return { bitOffset: at + m.bitOffset, bitSize: m.bitfieldSize, type: m.type };
        if (m.name === '') {
          const r = search(m.type, at + m.bitOffset);
          if (r) return r;
        }
      }
      return undefined;
    };
    found = search(id, base);
    if (!found) throw new Error(`no ${path} in ${structName}`);
    base = found.bitOffset;
    id = found.type;
  }
  return found!;
}

function setBits(buf: Uint8Array, bitOffset: number, bits: number, value: number): void {
  for (let i = 0; i < bits; i++) {
    const b = bitOffset + i;
    if ((value >> i) & 1) buf[b >> 3]! |= 1 << (b & 7);
    else buf[b >> 3]! &= ~(1 << (b & 7));
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** The struct sk_buff image the tests put in skb_buf, with the expected values. */
function skbImage(): { image: Uint8Array; expect: Record<string, number> } {
  const image = new Uint8Array(1024);
  const dv = new DataView(image.buffer);
  const expect = { len: 0x12345, pkt_type: 5, ip_summed: 2, cloned: 1, csum_level: 3, nf_trace: 1, protocol: 0x0008, mark: 0xdeadbeef };
  dv.setUint32(kfield('sk_buff', 'len').bitOffset / 8, expect.len, true);
  dv.setUint16(kfield('sk_buff', 'protocol').bitOffset / 8, expect.protocol, true);
  dv.setUint32(kfield('sk_buff', 'mark').bitOffset / 8, expect.mark, true);
  for (const f of ['pkt_type', 'ip_summed', 'cloned', 'csum_level', 'nf_trace'] as const) {
    const k = kfield('sk_buff', f);
    assert.ok(k.bitSize > 0, `${f} is a bitfield`);
    setBits(image, k.bitOffset, k.bitSize, expect[f]);
  }
  return { image, expect };
}

function procLimit(name: string): [bigint, bigint] {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith(name))!;
  const [soft, hard] = line.slice(name.length).trim().split(/\s+/);
  const v = (s: string): bigint => (s === 'unlimited' ? 0xffffffffffffffffn : BigInt(s));
  return [v(soft!), v(hard!)];
}

function enumValue(name: string, enumerator: string): bigint {
  for (const kind of [BTF_KIND.ENUM, BTF_KIND.ENUM64]) {
    for (const id of vmlinux.findByName(name, kind)) {
      const t = vmlinux.type(id);
      if (t.kind !== BTF_KIND.ENUM && t.kind !== BTF_KIND.ENUM64) continue;
      const v = t.values.find((e) => e.name === enumerator);
      if (v) return BigInt.asUintN(64, BigInt(v.value));
    }
  }
  throw new Error(`${name}::${enumerator}`);
}

// ---- relocation-by-relocation comparison with libbpf ------------------------------------------

test('core-read: every relocation equals libbpf\'s (patched instruction and value)', () => {
  const ours = relocateElf(READ);
  const theirs = libbpfPatches(READ, []);
  assert.ok(theirs.patches.size >= 80, `libbpf reported ${theirs.patches.size} relocations`);
  assert.equal(sorted(ourPatches(ours.outcomes)), sorted(theirs.patches));
  // The interesting cases are really there.
  const all = [...ours.outcomes.values()].flat();
  assert.ok(all.some((o) => o.poisoned && o.fieldPath === 'struct task_struct___old.state'), 'guarded ___old read poisoned');
  assert.ok(all.some((o) => o.poisoned && o.fieldPath === 'struct sk_buff___signed.len'), 'signed width change poisoned');
  assert.ok(all.some((o) => o.change.includes('mem_sz 2 -> 4')), 'unsigned load widened');
  assert.ok(all.some((o) => o.kind === CORE_RELO_KIND.ENUMVAL_VALUE && o.change.startsWith('imm64')), 'ld_imm64 enum value');
  assert.ok(ours.outcomes.has('sub_parent_pid') && ours.outcomes.has('sub_skb_len'), 'subprogram relocations');
});

test('core-read: relocated programs load with libbpf\'s program tags', () => {
  const { bytes } = relocateElf(READ);
  using obj = BpfObject.open(bytes, { objectName: 'core_read' });
  obj.loadSync();
  const ref = refRun(READ, ['progs']);
  const tags = new Map(ref.lines.filter((l) => l.cmd === 'prog').map((l) => [l.name as string, l.tag as string]));
  assert.is(tags.size, 3);
  for (const [name, p] of obj.programs) assert.is(fdinfo(p.fd).prog_tag, tags.get(name), name);
});

// ---- values --------------------------------------------------------------------------------

function loadRead(): { obj: BpfObject; out: (name: string) => bigint; outBytes: (name: string) => Uint8Array } {
  const { bytes } = relocateElf(READ);
  const obj = BpfObject.open(bytes, { objectName: 'core_read' });
  obj.loadSync();
  const bss = obj.maps.get('.bss')!;
  const lay = layout(obj.btf!, 'results');
  const outOff = (() => {
    const btf = obj.btf!;
    const ds = btf.type(btf.findOne('.bss', BTF_KIND.DATASEC)!);
    if (ds.kind !== BTF_KIND.DATASEC) throw new Error('.bss');
    return ds.vars.find((v) => btf.name(v.type) === 'out')!.offset;
  })();
  const view = (): DataView => {
    const v = bss.lookup(new Uint8Array(4))!;
    return new DataView(v.buffer, v.byteOffset, v.byteLength);
  };
  const out = (name: string): bigint => {
    const f = lay.get(name)!;
    const dv = view();
    const at = outOff + f.off;
    switch (f.size) {
      case 1: return BigInt(dv.getInt8(at));
      case 2: return BigInt(dv.getUint16(at, true));
      case 4: return BigInt(dv.getUint32(at, true));
      case 8: return dv.getBigUint64(at, true);
      default: throw new Error(`${name}: size ${f.size}`);
    }
  };
  const outBytes = (name: string): Uint8Array => {
    const f = lay.get(name)!;
    const v = bss.lookup(new Uint8Array(4))!;
    return v.slice(outOff + f.off, outOff + f.off + f.size);
  };
  return { obj, out, outBytes };
}

test('read_task: the current task through CO-RE chains, a local ___min flavor and a subprogram', () => {
  const { obj, out, outBytes } = loadRead();
  using _ = obj;
  const r = obj.programs.get('read_task')!.testRunSync();
  assert.is(r.retval, 0);
  const pid = BigInt(process.pid);
  const ppid = BigInt(process.ppid);
  assert.is(out('pid'), pid);
  assert.is(out('tgid'), pid);
  assert.is(out('parent_tgid'), ppid);
  assert.is(out('min_pid'), pid, 'task_struct___min.pid relocated');
  assert.is(out('min_tgid'), pid);
  assert.is(out('min_parent_tgid'), ppid);
  const comm = readFileSync(`/proc/self/task/${process.pid}/comm`, 'utf8').trim();
  assert.is(Buffer.from(outBytes('comm')).toString('latin1').replace(/\0.*$/s, ''), comm);
  assert.is(Buffer.from(outBytes('min_comm')).toString('latin1').replace(/\0.*$/s, ''), comm.slice(0, 8));
  assert.is(out('comm3'), BigInt(comm.charCodeAt(3) || 0));
  const [soft, hard] = procLimit('Max open files');
  assert.is(out('nofile_cur'), soft);
  assert.is(out('nofile_max'), hard);
  // The task runs the syscall: TASK_RUNNING. The ___old flavor's `state` doesn't exist.
  assert.is(out('state_exists_old'), 0n);
  assert.is(out('state_exists_new'), 1n);
  assert.is(out('state'), 0n);
  // Field and type relocations, against vmlinux BTF.
  assert.is(out('pid_offset'), BigInt(kfield('task_struct', 'pid').bitOffset / 8));
  assert.is(out('tgid_offset_min'), BigInt(kfield('task_struct', 'tgid').bitOffset / 8));
  assert.is(out('comm_size'), 16n);
  assert.is(out('min_comm_size'), 16n, 'the kernel\'s size, not the local 8');
  const taskId = vmlinux.findOne('task_struct', BTF_KIND.STRUCT)!;
  assert.is(out('task_size'), BigInt(vmlinux.resolveSize(taskId)));
  assert.is(out('min_task_size'), BigInt(vmlinux.resolveSize(taskId)));
  assert.is(out('task_exists'), 1n);
  assert.is(out('no_such_exists'), 0n);
  assert.is(out('no_such_size'), 0n);
  // task_struct___min.comm is char[8] (kernel: [16]); struct rlimit's members are `unsigned long` for
  // clang but `long unsigned int` in the kernel's (gcc) BTF, so even the identical struct doesn't
  // "match"; pid_t -> int does.
  assert.is(out('min_matches'), 0n);
  assert.is(out('rlimit_matches'), 0n);
  assert.is(out('rlimit_bad_matches'), 0n);
  assert.is(out('pid_t_matches'), 1n);
  assert.is(out('task_id_kernel'), BigInt(taskId));
  assert.is(out('min_id_kernel'), BigInt(taskId));
  assert.is(out('min_id_local'), BigInt(obj.btf!.findOne('task_struct___min', BTF_KIND.STRUCT)!));
  assert.is(out('no_such_id_kernel'), 0n);
  assert.is(out('ktime_id'), enumValue('bpf_func_id', 'BPF_FUNC_ktime_get_ns'));
  assert.is(out('ktime_exists'), 1n);
  assert.is(out('nonexistent_exists'), 0n);
  assert.is(out('perf_ctx_kernel'), enumValue('perf_callchain_context', 'PERF_CONTEXT_KERNEL'));
  const rlim = kfield('signal_struct', 'rlim');
  const rlimSize = vmlinux.resolveSize(vmlinux.findOne('rlimit', BTF_KIND.STRUCT)!);
  assert.is(out('rlim_array_offset'), BigInt(rlim.bitOffset / 8 + 7 * rlimSize + kfield('rlimit', 'rlim_max').bitOffset / 8));
  // Subprogram: real_parent->pid is a thread of the parent process.
  assert.is(out('sub_off'), BigInt(kfield('task_struct', 'real_parent').bitOffset / 8));
  assert.ok(existsSync(`/proc/${process.ppid}/task/${out('sub_parent_pid')}`), `parent thread ${out('sub_parent_pid')}`);
});

test('read_skb: bitfields in anonymous unions, a widened load, a poisoned load behind a dead branch', () => {
  const { obj, out } = loadRead();
  using _ = obj;
  const { image, expect } = skbImage();
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne('.bss', BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error('.bss');
  const bufOff = ds.vars.find((v) => btf.name(v.type) === 'skb_buf')!.offset;
  obj.maps.get('.bss')!.globalData!.write(bufOff, image);
  assert.is(obj.programs.get('read_skb')!.testRunSync().retval, 0);
  assert.is(out('skb_len'), BigInt(expect.len));
  assert.is(out('skb_len_narrow'), BigInt(expect.len), 'u16 load widened to the kernel\'s u32');
  assert.is(out('skb_len_signed'), 0xffffffffffffffffn, 'the poisoned load was not reached');
  for (const f of ['pkt_type', 'ip_summed', 'cloned', 'csum_level'] as const) assert.is(out(f), BigInt(expect[f]), f);
  assert.is(out('pkt_type_probed'), BigInt(expect.pkt_type));
  assert.is(out('ip_summed_probed'), BigInt(expect.ip_summed));
  assert.is(out('nf_trace_probed'), BigInt(expect.nf_trace));
  assert.is(out('pkt_type_size'), 1n);
  assert.is(out('pkt_type_signed'), 0n);
  assert.is(out('protocol'), BigInt(expect.protocol));
  assert.is(out('mark'), BigInt(expect.mark));
  assert.is(out('sub_skb_len'), BigInt(expect.len + 1));
  assert.is(obj.programs.get('skb_len_only')!.testRunSync().retval, expect.len + 1);
});

test('read_skb: libbpf computes the same results from the same sk_buff image', () => {
  const { obj } = loadRead();
  using _ = obj;
  const { image } = skbImage();
  const btf = obj.btf!;
  const ds = btf.type(btf.findOne('.bss', BTF_KIND.DATASEC)!);
  if (ds.kind !== BTF_KIND.DATASEC) throw new Error('.bss');
  const bufOff = ds.vars.find((v) => btf.name(v.type) === 'skb_buf')!.offset;
  const outVar = ds.vars.find((v) => btf.name(v.type) === 'out')!;
  obj.maps.get('.bss')!.globalData!.write(bufOff, image);
  obj.programs.get('read_skb')!.testRunSync();
  const ours = obj.maps.get('.bss')!.lookup(new Uint8Array(4))!;
  const ref = refRun(READ, ['set-init', '.bss', String(bufOff), hex(image), 'run', 'read_skb', 'dump']);
  const map = ref.lines.find((l) => l.cmd === 'map' && l.name === '.bss') as { entries: { value: string }[] } | undefined;
  assert.ok(map, 'libbpf dumped .bss');
  const theirs = Buffer.from(map!.entries[0]!.value, 'hex');
  // Only read_skb ran on both sides, so all of `out` (mostly zeros, plus the skb results) must agree.
  assert.is(hex(ours.subarray(outVar.offset, outVar.offset + outVar.size)), hex(theirs.subarray(outVar.offset, outVar.offset + outVar.size)));
});

// ---- a controlled target: btf_custom_path ----------------------------------------------------------

test('core-local vs core-target (btf_custom_path, an ELF with .BTF): every relocation equals libbpf\'s', () => {
  const ours = relocateElf(LOCAL, [], TARGET);
  const r = spawnSync(coreRef(), [LOCAL, '--btf', TARGET], { encoding: 'utf8', env: { ...process.env, CORE_REF_DEBUG: '1' } });
  assert.is(r.status, 0, r.stderr.slice(-2000));
  assert.match(r.stdout, '"err":0', 'libbpf loads it');
  const theirs = parsePatches(r.stderr).patches;
  assert.ok(theirs.size >= 70, `libbpf reported ${theirs.size} relocations`);
  assert.equal(sorted(ourPatches(ours.outcomes)), sorted(theirs));
  // The relocated object loads for us too, with libbpf's program tags (its programs never run).
  using obj = BpfObject.open(ours.bytes, { objectName: 'core_local' });
  obj.loadSync();
  const tags = new Map(r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { cmd: string; name?: string; tag?: string })
    .filter((l) => l.cmd === 'prog').map((l) => [l.name!, l.tag!]));
  assert.is(tags.size, 6);
  for (const [name, p] of obj.programs) assert.is(fdinfo(p.fd).prog_tag, tags.get(name), name);
  const all = [...ours.outcomes.values()].flat();
  assert.ok(all.some((o) => o.reason === 'index 3 is out of bounds of the target BTF\'s struct tsbpf_core_arr.pts (3 elements)'), 'array bounds reason');
  const pf = ours.outcomes.get('prune_f')![0]!;
  assert.is(pf.candidates, 1, 'prune_g left one candidate for prune_f');
});

// ---- failures --------------------------------------------------------------------------------

for (const prog of ['read_gone_field', 'read_gone_enum']) {
  test(`core-poison/${prog}: the reached poisoned instruction fails like libbpf, and the log says why`, () => {
    const ours = relocateElf(POISON, [prog]);
    const theirs = libbpfPatches(POISON, ['autoload', prog, '1']);
    assert.equal(sorted(ourPatches(ours.outcomes)), sorted(theirs.patches));
    assert.ok(theirs.lines.some((l) => l.cmd === 'load' && l.err === -22), 'libbpf fails to load');
    const outcome = ours.outcomes.get(prog)!.find((o) => o.poisoned)!;
    assert.ok(outcome, 'a poisoned relocation');
    using obj = BpfObject.open(ours.bytes, { objectName: 'core_poison' });
    obj.programs.get(prog)!.autoload = true;
    let err: unknown;
    try {
      obj.loadSync();
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof VerifierError, `verifier error, got ${err}`);
    assert.not.match((err as VerifierError).advice ?? '', /helper/, 'the poison call is not taken for a missing helper');
    const log = (err as VerifierError).log!;
    assert.match(log, `${outcome.insnIdx}: (85) call unknown#195896080`);
    const fixed = fixupCoreVerifierLog(log, (i) => (i === outcome.insnIdx ? outcome : undefined));
    // libbpf's rewrite (its stderr has the same two lines), plus our reason.
    assert.match(fixed, `${outcome.insnIdx}: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation ${outcome.spec}: `);
    assert.ok(theirs.stderr.includes(`${outcome.insnIdx}: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation ${outcome.spec}\n`), 'same wording as libbpf');
    const msg = describeCoreOutcome(outcome);
    if (prog === 'read_gone_field') {
      assert.is(msg, `CO-RE relocation #0 (byte_off) for struct task_struct___gone.tsbpf_no_such_field at insn ${outcome.insnIdx} could not be resolved: no field 'tsbpf_no_such_field' in the kernel's struct task_struct`);
    } else {
      assert.is(msg, `CO-RE relocation #1 (enumval_value) for enum64 bpf_func_id___gone::BPF_FUNC_tsbpf_gone___gone at insn ${outcome.insnIdx} could not be resolved: no enumerator 'BPF_FUNC_tsbpf_gone___gone' in the kernel's enum bpf_func_id`);
    }
  });
}

test('core-ambiguous: a flavored kernel type is a candidate; conflicting candidates fail like libbpf', () => {
  // status_offset: nf_conn and nf_conn___init are both candidates, only nf_conn has `status`.
  const ok = relocateElf(AMBIG, ['status_offset']);
  const theirs = libbpfPatches(AMBIG, ['autoload', 'status_offset', '1']);
  assert.equal(sorted(ourPatches(ok.outcomes)), sorted(theirs.patches));
  const o = ok.outcomes.get('status_offset')![0]!;
  assert.is(o.candidates, 2);
  assert.is(o.target!.typeId, vmlinux.findOne('nf_conn', BTF_KIND.STRUCT));
  // nf_conn_id: two type ids, one relocation.
  assert.throws(() => relocateElf(AMBIG, ['nf_conn_id']), (e: unknown) =>
    e instanceof CoreRelocationError && e.errno === 22 && /relocation decision ambiguity/.test(e.message));
  const r = refRun(AMBIG, ['autoload', 'nf_conn_id', '1', 'load']);
  assert.ok(r.lines.some((l) => l.cmd === 'load' && l.err === -22));
  assert.match(r.stderr, 'relocation decision ambiguity');
});

// ---- laziness and cost ------------------------------------------------------------------------

test('BTF feature probes: the one combined probe agrees with the nine single ones (libbpf\'s)', () => {
  const single = (f: keyof BtfFeatures): boolean => {
    try {
      btfLoad(featureProbeBtf(f)).close();
      return true;
    } catch {
      return false;
    }
  };
  const features = kernelBtfFeatures();
  for (const f of Object.keys(features) as (keyof BtfFeatures)[]) assert.is(features[f], single(f), f);
  // The combined blob loads exactly when every single feature does (else the fast path would hide a
  // missing one, or be dead code). Linux 6.1, for one, refuses '?.data' DATASEC names.
  if (Object.values(features).every(Boolean)) btfLoad(allFeaturesProbeBtf()).close();
  else assert.throws(() => btfLoad(allFeaturesProbeBtf()).close());
  // One construct the kernel does not know makes it refuse the whole blob (then the single probes run):
  // the enum64 turned into an unknown kind.
  const blob = allFeaturesProbeBtf();
  const bad = blob.slice();
  const dv = new DataView(bad.buffer);
  const hdr = dv.getUint32(4, true);
  const typeLen = dv.getUint32(12, true);
  const lastInfo = hdr + typeLen - 12 + 4; // enum64 with no values is the last type: 3 words
  assert.is((dv.getUint32(lastInfo, true) >>> 24) & 0x1f, BTF_KIND.ENUM64);
  dv.setUint32(lastInfo, (31 << 24) >>> 0, true);
  assert.throws(() => btfLoad(bad).close());
});

test('vmlinux name lookups: column scans (the first lookups) and hash indexes (later ones) find what a brute force finds', () => {
  // A fresh parse, so that the first lookups below are scans; the shared entry may have hash indexes by now.
  const fresh = findVmlinuxBtf().btf;
  const want = new Map<string, number[]>();
  const kinds = [BTF_KIND.STRUCT, BTF_KIND.UNION, BTF_KIND.TYPEDEF, BTF_KIND.ENUM, BTF_KIND.FUNC, BTF_KIND.INT];
  // About 300 types' names and kinds, whatever the kernel's size, plus names that also exist under
  // another kind or not at all.
  const queries: [string, number | undefined][] = [['task_struct', BTF_KIND.STRUCT], ['task_struct', BTF_KIND.FWD], ['pid', undefined], ['no_such_type_xyz', BTF_KIND.STRUCT]];
  for (let id = 1; id <= fresh.typeCount; id += Math.max(1, Math.floor(fresh.typeCount / 300))) {
    const n = fresh.name(id);
    if (n) queries.push([n, fresh.kind(id)], [n, kinds[id % kinds.length]]);
  }
  for (let id = 1; id <= fresh.typeCount; id++) {
    const n = fresh.name(id);
    if (!n) continue;
    for (const k of [fresh.kind(id), -1]) {
      const key = `${k}:${n}`;
      const l = want.get(key);
      if (l) l.push(id);
      else want.set(key, [id]);
    }
  }
  const brute = (n: string, k: number | undefined): number[] => want.get(`${k ?? -1}:${n}`) ?? [];
  assert.ok(queries.length > 2 * 64, 'enough queries to pass from scans to hash indexes');
  for (const [n, k] of [...queries, ...queries]) assert.equal(fresh.findByName(n, k), brute(n, k), `${n} kind ${k}`);
  for (const [n, k] of queries) if (k !== undefined) assert.is(fresh.findOne(n, k), brute(n, k)[0], `findOne ${n} kind ${k}`);
});

test('kernel candidates: every flavored type name of vmlinux is a candidate for its essential name', () => {
  const e = vmlinuxEntry();
  // Brute force over all type names (decodes ~100k names, test only).
  const byEss = new Map<string, number[]>();
  for (let id = 1; id <= vmlinux.typeCount; id++) {
    const n = vmlinux.name(id);
    if (!n.includes('___')) continue;
    const ess = essentialName(n);
    if (ess !== n) byEss.set(`${vmlinux.kind(id)}:${ess}`, [...(byEss.get(`${vmlinux.kind(id)}:${ess}`) ?? []), id]);
  }
  assert.ok(byEss.has(`${BTF_KIND.STRUCT}:nf_conn`), 'vmlinux has nf_conn___init');
  for (const [key, ids] of byEss) {
    const [kind, ess] = [Number(key.slice(0, key.indexOf(':'))), key.slice(key.indexOf(':') + 1)];
    const cands = e.index.candidates(kind, ess);
    for (const id of ids) assert.ok(cands.includes(id), `${vmlinux.name(id)} [${id}] for ${ess}`);
    const plain = vmlinux.findByName(ess, kind);
    for (const id of plain) assert.ok(cands.includes(id), `${ess} [${id}]`);
  }
});

test('a cold relocation of core-read (vmlinux parse included) decodes only the types it needs', () => {
  // Run twice in fresh processes: once timed, once counting the vmlinux types decoded (a wrapper
  // around Btf.type, which would skew the time).
  const script = (count: boolean): string => `
    import { BpfObject } from './src/index.ts';
    import { relocateObjectCore } from './src/core/index.ts';
    import { kernelCoreTargets, vmlinuxEntry } from './src/kernel-btf.ts';
    const spec = BpfObject.open(${JSON.stringify(READ)}).spec;
    const t0 = performance.now();
    const e = vmlinuxEntry();
    const t1 = performance.now();
    const seen = new Set();
    if (${count}) {
      const orig = e.btf.type;
      e.btf.type = function (id) { seen.add(id); return orig.call(this, id); };
    }
    const res = relocateObjectCore(spec.btf, spec.btfExt.coreRelos, spec.programs, kernelCoreTargets());
    const t2 = performance.now();
    let relos = 0;
    for (const r of res.values()) relos += r.outcomes.length;
    console.log(JSON.stringify({ parse: t1 - t0, relocate: t2 - t1, relos, decoded: seen.size, types: e.btf.typeCount }));
  `;
  const run = (count: boolean): { parse: number; relocate: number; relos: number; decoded: number; types: number } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(count)], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  const timed = run(false);
  const counted = run(true);
  assert.is(timed.relos, 92);
  assert.ok(counted.decoded < 200, `decoded ${counted.decoded} of ${counted.types} vmlinux types`);
  console.log(`  cold CO-RE of core-read: vmlinux ${timed.parse.toFixed(1)} ms + ${timed.relos} relocations ${timed.relocate.toFixed(1)} ms; ${counted.decoded} of ${counted.types} vmlinux types decoded`);
});

test.run();
