// CO-RE engine on hand-made BTF (no kernel needed): local vs target differences — renamed flavors,
// moved fields, fields moved into anonymous unions, missing fields, arrays (bounds, flexible),
// bitfields, enum values (32/64-bit, signed), type relocations, ambiguity and candidate pruning,
// instruction validation and patching (ALU, LDX/ST/STX with width changes, ld_imm64), module and
// custom BTF candidate sources, and the messages for poisoned relocations.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf, BTF_KIND, type BtfExtCoreRelo, type BtfMember, type BtfType } from '../btf/index.js';
import { Insns, POISON_CORE } from '../src/insn.js';
import {
  applyCoreRelos, CandidateIndex, CORE_RELO_KIND as K, CoreRelocationError, createCoreTargets, describeCoreOutcome,
  essentialName, essentialNameLen, fixupCoreVerifierLog, parseSpec, relocateObjectCore, type CoreTargets,
} from '../src/core/index.js';
import { findVmlinuxBtf, kernelCoreTargets, loadModuleBtfs, type KernelBtfEntry } from '../src/kernel-btf.js';
import { BpfError } from '../src/errors.js';
import { compileBpf } from './support/compile.js';

// ---- builders ------------------------------------------------------------------------------

/** Builds BTF type by type; ids are returned in order (starting after the base's for split BTF). */
class B {
  readonly types: BtfType[] = [];
  readonly base: Btf | undefined;
  constructor(base?: Btf) {
    this.base = base;
  }
  private next(): number {
    return (this.base ? this.base.typeCount : 0) + this.types.length + 1;
  }
  add(t: BtfType): number {
    const id = this.next();
    this.types.push(t);
    return id;
  }
  int(name = 'int', size = 4, signed = true): number {
    return this.add({ kind: BTF_KIND.INT, name, size, encoding: { signed, char: false, bool: false }, bitOffset: 0, bits: size * 8 });
  }
  ptr(type: number): number {
    return this.add({ kind: BTF_KIND.PTR, name: '', type });
  }
  arr(type: number, nelems: number, index: number): number {
    return this.add({ kind: BTF_KIND.ARRAY, name: '', type, indexType: index, nelems });
  }
  typedef(name: string, type: number): number {
    return this.add({ kind: BTF_KIND.TYPEDEF, name, type });
  }
  composite(kind: 'struct' | 'union', name: string, size: number, members: [string, number, number, number?][]): number {
    const ms: BtfMember[] = members.map(([n, type, bitOffset, bitfieldSize]) => ({ name: n, type, bitOffset, bitfieldSize: bitfieldSize ?? 0 }));
    const kflag = ms.some((m) => m.bitfieldSize > 0);
    return this.add({ kind: kind === 'struct' ? BTF_KIND.STRUCT : BTF_KIND.UNION, name, size, kflag, members: ms });
  }
  struct(name: string, size: number, members: [string, number, number, number?][]): number {
    return this.composite('struct', name, size, members);
  }
  union(name: string, size: number, members: [string, number, number, number?][]): number {
    return this.composite('union', name, size, members);
  }
  enum(name: string, values: [string, number][], signed = false): number {
    return this.add({ kind: BTF_KIND.ENUM, name, size: 4, signed, values: values.map(([n, value]) => ({ name: n, value })) });
  }
  enum64(name: string, values: [string, bigint][]): number {
    return this.add({ kind: BTF_KIND.ENUM64, name, size: 8, signed: false, values: values.map(([n, value]) => ({ name: n, value })) });
  }
  build(): Btf {
    const b = Btf.create(this.base ? { base: this.base } : {});
    for (const t of this.types) b.addType(t);
    return Btf.parse(b.encode(), this.base ? { base: this.base } : {});
  }
}

const MOV64 = 0xb7; // ALU64 | MOV | K
const ADD64 = 0x07; // ALU64 | ADD | K
const ADD64X = 0x0f; // ALU64 | ADD | X
const LDXW = 0x61;
const LDXH = 0x69;
const LDXDW = 0x79;
const STW = 0x62; // ST | MEM | W
const LDIMM64 = 0x18;
const JA = 0x05;
const EXIT = 0x95;

type I = [code: number, dst: number, src: number, off: number, imm: number];

function prog(...insns: I[]): Insns {
  const bytes = new Uint8Array(insns.length * 8);
  const dv = new DataView(bytes.buffer);
  insns.forEach(([code, dst, src, off, imm], i) => {
    bytes[i * 8] = code;
    bytes[i * 8 + 1] = (src << 4) | dst;
    dv.setInt16(i * 8 + 2, off, true);
    dv.setInt32(i * 8 + 4, imm, true);
  });
  return new Insns(bytes);
}

function ldimm64(dst: number, v: bigint): I[] {
  const u = BigInt.asUintN(64, v);
  return [[LDIMM64, dst, 0, 0, Number(BigInt.asIntN(32, u & 0xffffffffn))], [0, 0, 0, 0, Number(BigInt.asIntN(32, u >> 32n))]];
}

function relo(insn: number, typeId: number, accessStr: string, kind: number): BtfExtCoreRelo {
  return { insnOff: insn * 8, typeId, accessStrOff: 0, accessStr, kind };
}

function targetsOf(main: Btf, opts: { modules?: Btf[]; custom?: boolean; onModules?: () => void } = {}): CoreTargets {
  const mainIdx = new CandidateIndex(main, opts.custom ? '/tmp/custom.btf' : 'vmlinux');
  return createCoreTargets({
    main: mainIdx,
    custom: opts.custom,
    modules: opts.modules ? () => {
      opts.onModules?.();
      return opts.modules!.map((m, i) => new CandidateIndex(m, `mod${i}`));
    } : undefined,
  });
}

function imm64(insns: Insns, i: number): bigint {
  return BigInt(insns.imm(i) >>> 0) | (BigInt(insns.imm(i + 1) >>> 0) << 32n);
}

function isPoison(insns: Insns, i: number): boolean {
  return insns.code(i) === 0x85 && insns.imm(i) === POISON_CORE && insns.src(i) === 0 && insns.dst(i) === 0 && insns.off(i) === 0;
}

function throwsCore(fn: () => unknown, re: RegExp, errno = 22): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, CoreRelocationError, `expected CoreRelocationError, got ${String(e)}`);
    assert.match((e as Error).message, re);
    assert.is((e as CoreRelocationError).errno, errno);
    return;
  }
  assert.unreachable(`expected an error matching ${re}`);
}

// A local struct and a kernel struct that differ: `pid` moved, `ptr` moved into an anonymous union,
// `gone` missing in the kernel, `extra` only in the kernel.
function taskPair(): { local: Btf; target: Btf; L: Record<string, number>; T: Record<string, number> } {
  const l = new B();
  const lint = l.int();
  const lu16 = l.int('unsigned short', 2, false);
  const lu32 = l.int('unsigned int', 4, false);
  const lvoid = l.ptr(0);
  const larr = l.arr(lint, 4, lint);
  const lstruct = l.struct('task___local', 40, [['pid', lint, 0], ['ptr', lvoid, 64], ['gone', lint, 128], ['arr', larr, 160], ['len', lu16, 288], ['ulen', lu32, 288]]);
  const local = l.build();
  const t = new B();
  const tint = t.int();
  const tlong = t.int('long', 8);
  const tvoid = t.ptr(0);
  const tarr = t.arr(tint, 8, tint);
  const anon = t.union('', 8, [['ptr', tvoid, 0], ['other', tlong, 0]]);
  const tu32 = t.int('unsigned int', 4, false);
  const tu64 = t.int('long unsigned int', 8, false);
  const tstruct = t.struct('task', 128, [['extra', tlong, 0], ['pid', tint, 96], ['', anon, 128], ['arr', tarr, 256], ['len', tu32, 512], ['ulen', tu64, 576]]);
  const target = t.build();
  return { local, target, L: { lint, lstruct, larr }, T: { tstruct, tarr, anon } };
}

// ---- names -----------------------------------------------------------------------------------

test('essential names: the last `X___Y` separator', () => {
  const cases: [string, number][] = [
    ['task_struct', 11], ['task_struct___old', 11], ['a___b', 1], ['a___b___c', 5], ['x____y', 6],
    ['___y', 4], ['y___', 4], ['a___', 4], ['ab___c_', 2], ['s___2', 1], ['', 0], ['a__b', 4],
  ];
  for (const [name, len] of cases) assert.is(essentialNameLen(name), len, name);
  assert.is(essentialName('nf_conn___init'), 'nf_conn');
});

test('candidates: a type and its flavors by essential name, of compatible kinds only (libbpf\'s bpf_core_add_cands)', () => {
  const t = new B();
  const tint = t.int();
  const ids: Record<string, number> = {};
  for (const n of ['foo', 'foo___bar', 'foo___a___b', 'foo____x', 'foox___y', 'foo_ext', 'foo___', 'afoo___z', 'foo___q', 'fo']) ids[n] = t.struct(n, 4, [['a', tint, 0]]);
  const fooUnion = t.union('foo___u', 4, [['a', tint, 0]]);
  const fooTypedef = t.typedef('foo', tint);
  const e32 = t.enum('mode', [['A', 1]]);
  const e64 = t.enum64('mode___v2', [['A', 1n]]);
  t.enum('mode___a___b', [['A', 1]]);
  const target = t.build();
  const idx = new CandidateIndex(target, 'target');
  // foo___a___b's essential name is foo___a; foo____x and foo___ have no separator (whole names).
  assert.equal(idx.candidates(BTF_KIND.STRUCT, 'foo'), [ids.foo!, ids.foo___bar!, ids.foo___q!]);
  assert.equal(idx.candidates(BTF_KIND.STRUCT, 'foo___a'), [ids.foo___a___b!]);
  assert.equal(idx.candidates(BTF_KIND.STRUCT, 'foox'), [ids.foox___y!]);
  assert.equal(idx.candidates(BTF_KIND.UNION, 'foo'), [fooUnion]);
  assert.equal(idx.candidates(BTF_KIND.TYPEDEF, 'foo'), [fooTypedef]);
  assert.equal(idx.candidates(BTF_KIND.STRUCT, 'nope'), []);
  // ENUM and ENUM64 are candidates for each other.
  assert.equal(idx.candidates(BTF_KIND.ENUM, 'mode'), [e32, e64]);
  assert.equal(idx.candidates(BTF_KIND.ENUM64, 'mode'), [e32, e64]);
  // Brute force, libbpf's way: every type, essential lengths equal and the essential bytes equal.
  for (const ess of ['foo', 'foo___a', 'foox', 'afoo', 'fo', 'foo_ext', 'foo____x', 'mode']) {
    for (const kind of [BTF_KIND.STRUCT, BTF_KIND.UNION, BTF_KIND.ENUM]) {
      const want: number[] = [];
      for (let id = 1; id <= target.typeCount; id++) {
        const k = target.kind(id);
        const compat = k === kind || (kind === BTF_KIND.ENUM && k === BTF_KIND.ENUM64);
        const n = target.name(id);
        if (compat && n !== '' && essentialNameLen(n) === ess.length && n.startsWith(ess)) want.push(id);
      }
      assert.equal(idx.candidates(kind, ess), want, `${ess} kind ${kind}`);
    }
  }
});

/** A BTF whose struct 'zzz' is renamed by pointing its name into the middle of the string 'xfoo' ('foo'). */
function tailSharedBtf(): { btf: Btf; xfoo: number; tail: number; foo: number } {
  const b = Btf.create();
  b.addType({ kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 });
  const xfoo = b.addType({ kind: BTF_KIND.STRUCT, name: 'xfoo', size: 0, kflag: false, members: [] });
  const tail = b.addType({ kind: BTF_KIND.STRUCT, name: 'zzz', size: 0, kflag: false, members: [] });
  const foo = b.addType({ kind: BTF_KIND.STRUCT, name: 'foo', size: 0, kflag: false, members: [] });
  const bytes = b.encode();
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const hdr = dv.getUint32(4, true);
  // Words: int (4), xfoo (3), zzz (3), foo (3).
  dv.setUint32(hdr + 7 * 4, dv.getUint32(hdr + 4 * 4, true) + 1, true);
  return { btf: Btf.parse(bytes), xfoo, tail, foo };
}

test('name lookups: names inside other strings, split BTF naming types with base strings, scans and hash indexes agree', () => {
  const { btf, xfoo, tail, foo } = tailSharedBtf();
  assert.is(btf.name(tail), 'foo');
  assert.equal(btf.findByName('foo', BTF_KIND.STRUCT), [tail, foo]);
  assert.equal(btf.findByName('xfoo', BTF_KIND.STRUCT), [xfoo]);
  assert.equal(btf.findByName('oo', BTF_KIND.STRUCT), []);
  assert.equal(btf.findByName('foo', BTF_KIND.INT), []);
  assert.equal(btf.findByName('foo'), [tail, foo]);
  assert.equal(btf.findByName('fo\0o', BTF_KIND.STRUCT), []);
  assert.equal(btf.findByNamePrefix('fo', BTF_KIND.STRUCT), [tail, foo]);
  assert.equal(btf.findByNamePrefix('x', BTF_KIND.STRUCT), [xfoo]);
  assert.equal(btf.findByNamePrefix('', BTF_KIND.STRUCT), []);
  // findStr gives the first whole string, never a tail of a longer one.
  const foo2 = Btf.parse(btf.encode());
  assert.is(foo2.strAt(foo2.findStr('foo')!), 'foo');
  assert.is.not(foo2.findStr('foo'), foo2.findStr('xfoo')! + 1);
  assert.is(foo2.findStr('oo'), undefined);

  // Split BTF: a module type named with vmlinux's string, and one with its own.
  const v = new B();
  const vint = v.int();
  v.struct('shared', 4, [['a', vint, 0]]);
  const base = v.build();
  const m = Btf.create({ base });
  const modShared = m.addType({ kind: BTF_KIND.STRUCT, name: 'shared', size: 8, kflag: false, members: [] });
  const modOwn = m.addType({ kind: BTF_KIND.STRUCT, name: 'shared___mod', size: 8, kflag: false, members: [] });
  const mod = Btf.parse(m.encode(), { base });
  assert.is(mod.findStr('shared'), base.findStr('shared'), 'named by the base string');
  assert.equal(mod.findByName('shared', BTF_KIND.STRUCT), [2, modShared]);
  assert.is(mod.findOne('shared', BTF_KIND.STRUCT), 2);
  assert.equal(mod.findByNamePrefix('shared', BTF_KIND.STRUCT), [2, modShared, modOwn]);
  assert.equal(new CandidateIndex(mod, 'mod').candidates(BTF_KIND.STRUCT, 'shared'), [modShared, modOwn]);

  // Past the scan budget the hash indexes answer: same results, replaced and added types included.
  const t = new B();
  const tint = t.int();
  const names = Array.from({ length: 40 }, (_, i) => `n${i % 13}_${i % 3}`);
  for (const n of names) t.struct(n, 4, [['a', tint, 0]]);
  for (const n of names.slice(0, 10)) t.typedef(n, tint);
  const big = t.build();
  big.setType(5, { kind: BTF_KIND.UNION, name: 'n0_0', size: 4, kflag: false, members: [] });
  big.addType({ kind: BTF_KIND.STRUCT, name: 'n1_1', size: 4, kflag: false, members: [] });
  const queries: [string, number | undefined][] = [];
  for (const n of [...new Set(names), 'nope', 'n0', 'int']) for (const k of [BTF_KIND.STRUCT, BTF_KIND.TYPEDEF, BTF_KIND.UNION, undefined]) queries.push([n, k]);
  const brute = (n: string, k: number | undefined): number[] => {
    const out: number[] = [];
    for (let id = 1; id <= big.typeCount; id++) if (big.name(id) === n && (k === undefined || big.kind(id) === k)) out.push(id);
    return out;
  };
  const first = queries.map(([n, k]) => big.findByName(n, k));
  assert.ok(queries.length > 64, 'enough lookups to reach the hash indexes');
  const second = queries.map(([n, k]) => big.findByName(n, k));
  queries.forEach(([n, k], i) => {
    assert.equal(first[i], brute(n, k), `${n} kind ${k} (scan)`);
    assert.equal(second[i], brute(n, k), `${n} kind ${k} (hash)`);
  });
});

// ---- spec parsing --------------------------------------------------------------------------------

test('access strings: malformed ones are refused like libbpf', () => {
  const { local, L } = taskPair();
  const bad: [string, number][] = [['', K.FIELD_BYTE_OFFSET], [':0', K.FIELD_BYTE_OFFSET], ['0::1', K.FIELD_BYTE_OFFSET],
    ['0:-1', K.FIELD_BYTE_OFFSET], ['0:9', K.FIELD_BYTE_OFFSET], ['0:x', K.FIELD_BYTE_OFFSET], ['0:1', K.TYPE_EXISTS],
    ['1', K.ENUMVAL_VALUE], [Array(70).fill('0').join(':'), K.FIELD_BYTE_OFFSET], ['0:3:4', K.FIELD_BYTE_OFFSET]];
  for (const [s, kind] of bad) assert.type(parseSpec(local, L.lstruct!, s, kind), 'number', `'${s.slice(0, 20)}' kind ${kind}`);
  const ok = parseSpec(local, L.lstruct!, '0:3:2', K.FIELD_BYTE_OFFSET);
  assert.type(ok, 'object');
  if (typeof ok === 'object') {
    assert.is(ok.bitOffset, 160 + 64);
    assert.equal(ok.spec.map((a) => [a.name, a.idx]), [[undefined, 0], ['arr', 3], [undefined, 2]]);
  }
  // sscanf("%d") skips blanks and takes a '+'.
  assert.type(parseSpec(local, L.lstruct!, '0: +1', K.FIELD_BYTE_OFFSET), 'object');
});

// ---- fields ----------------------------------------------------------------------------------

test('field offsets: moved fields, anonymous unions, arrays; ALU, LDX and ST patched', () => {
  const { local, target, L, T } = taskPair();
  const insns = prog(
    [MOV64, 1, 0, 0, 0], // pid: local 0 -> 12
    [LDXDW, 2, 1, 8, 0], // ptr: 8 -> 16 (inside the anonymous union)
    [ADD64, 1, 0, 0, 28], // arr[2]: 20 + 8 -> 32 + 8
    [STW, 1, 0, 0, 7], // *(u32 *)(r1 + pid) = 7
    [EXIT, 0, 0, 0, 0],
  );
  const out = applyCoreRelos(local, [
    relo(0, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET),
    relo(1, L.lstruct!, '0:1', K.FIELD_BYTE_OFFSET),
    relo(2, L.lstruct!, '0:3:2', K.FIELD_BYTE_OFFSET),
    relo(3, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET),
  ], insns, 0, targetsOf(target));
  assert.is(insns.imm(0), 12);
  assert.is(insns.off(1), 16);
  assert.is(insns.imm(2), 40);
  assert.is(insns.off(3), 12);
  assert.equal(out.map((o) => o.fieldPath), ['struct task___local.pid', 'struct task___local.ptr', 'struct task___local.arr[2]', 'struct task___local.pid']);
  assert.equal(out.map((o) => o.change), ['imm 0 -> 12', 'off 8 -> 16', 'imm 28 -> 40', 'off 0 -> 12']);
  assert.is(out[1]!.target!.path, 'struct task.ptr');
  assert.is(out[1]!.target!.typeId, T.tstruct);
  assert.is(out[0]!.spec, '<byte_off> [6] struct task___local.pid (0:0 @ offset 0)');
});

test('missing fields: existence 0, offsets poisoned (ld_imm64: both halves), with the reason', () => {
  const { local, target, L } = taskPair();
  const insns = prog([MOV64, 1, 0, 0, 1], [ADD64, 1, 0, 0, 16], ...ldimm64(2, 16n), [EXIT, 0, 0, 0, 0]);
  const out = applyCoreRelos(local, [
    relo(0, L.lstruct!, '0:2', K.FIELD_EXISTS),
    relo(1, L.lstruct!, '0:2', K.FIELD_BYTE_OFFSET),
    relo(2, L.lstruct!, '0:2', K.FIELD_BYTE_OFFSET),
  ], insns, 0, targetsOf(target));
  assert.is(insns.imm(0), 0);
  assert.ok(isPoison(insns, 1));
  assert.ok(isPoison(insns, 2) && isPoison(insns, 3), 'both halves');
  assert.is(insns.code(4), EXIT);
  assert.equal(out.map((o) => o.poisoned), [false, true, true]);
  assert.is(out[0]!.reason, 'no field \'gone\' in the kernel\'s struct task');
  assert.is(describeCoreOutcome(out[1]!), 'CO-RE relocation #1 (byte_off) for struct task___local.gone at insn 1 could not be resolved: no field \'gone\' in the kernel\'s struct task');
  assert.is(describeCoreOutcome(out[1]!, 41), 'CO-RE relocation #1 (byte_off) for struct task___local.gone at insn 41 could not be resolved: no field \'gone\' in the kernel\'s struct task');
  const log = 'x\n40: (07) r1 += 1\n41: (85) call unknown#195896080\ninvalid func unknown#195896080\nprocessed 3 insns';
  assert.is(fixupCoreVerifierLog(log, (i) => (i === 41 ? out[1] : undefined)),
    'x\n40: (07) r1 += 1\n41: <invalid CO-RE relocation>\nfailed to resolve CO-RE relocation <byte_off> [6] struct task___local.gone (0:2 @ offset 16): no field \'gone\' in the kernel\'s struct task\nprocessed 3 insns');
  assert.is(fixupCoreVerifierLog(log, () => undefined), log);
});

test('arrays: out-of-bounds index poisons; flexible arrays take any index; arrays of structs', () => {
  const l = new B();
  const lint = l.int();
  const lpt = l.struct('pt', 8, [['x', lint, 0], ['y', lint, 32]]);
  const larr = l.arr(lpt, 4, lint);
  const lflex = l.arr(lint, 0, lint);
  const lpoly = l.struct('poly', 40, [['n', lint, 0], ['pts', larr, 32], ['tail', lflex, 288]]);
  const local = l.build();
  const t = new B();
  const tint = t.int();
  const tpt = t.struct('pt', 12, [['z', tint, 0], ['y', tint, 32], ['x', tint, 64]]);
  const tarr = t.arr(tpt, 3, tint);
  const tflex = t.arr(tint, 0, tint);
  t.struct('poly', 48, [['pts', tarr, 0], ['n', tint, 288], ['tail', tflex, 320]]);
  const target = t.build();
  const insns = prog([MOV64, 1, 0, 0, 4 + 2 * 8], [MOV64, 1, 0, 0, 4 + 3 * 8 + 4], [MOV64, 1, 0, 0, 36 + 5 * 4], [MOV64, 1, 0, 0, 32], [EXIT, 0, 0, 0, 0]);
  const out = applyCoreRelos(local, [
    relo(0, lpoly, '0:1:2:0', K.FIELD_BYTE_OFFSET), // pts[2].x: 2*12 + 8
    relo(1, lpoly, '0:1:3:1', K.FIELD_BYTE_OFFSET), // pts[3].y: out of the kernel's 3 elements
    relo(2, lpoly, '0:2:5', K.FIELD_BYTE_OFFSET), // tail[5]: flexible array
    relo(3, lpoly, '0:1', K.FIELD_BYTE_SIZE), // sizeof pts: 3 * 12
  ], insns, 0, targetsOf(target));
  assert.is(insns.imm(0), 32);
  assert.ok(isPoison(insns, 1));
  assert.is(out[1]!.reason, 'index 3 is out of bounds of the kernel\'s struct poly.pts (3 elements)');
  assert.is(insns.imm(2), 40 + 20);
  assert.is(insns.imm(3), 36);
  assert.is(out[0]!.fieldPath, 'struct poly.pts[2].x');
  assert.is(out[0]!.target!.path, 'struct poly.pts[2].x');
});

test('bitfields: offset, size, shifts and signedness follow the target layout', () => {
  const l = new B();
  const lu32 = l.int('unsigned int', 4, false);
  const lflags = l.struct('flags', 4, [['a', lu32, 0, 3], ['b', lu32, 3, 5]]);
  const local = l.build();
  const t = new B();
  const tu32 = t.int('unsigned int', 4, false);
  const ts8 = t.int('signed char', 1, true);
  const tu64 = t.int('long long unsigned int', 8, false);
  // b: 5 signed bits at bit 13 of a u8-typed storage (crosses a byte: the load grows until an aligned
  // load covers it: 2 bytes at offset 0 would end at bit 16 < 18, so 4 bytes at offset 0);
  // w: 8 bits at bit 60 of a u64 can't be read with one 8-byte load.
  t.struct('flags', 16, [['a', tu32, 40, 3], ['b', ts8, 13, 5], ['w', tu64, 60, 8]]);
  t.struct('flags___wide', 16, [['a', tu32, 40, 3], ['b', ts8, 13, 5], ['w', tu64, 60, 8]]);
  const target = t.build();
  const lw = new B();
  const lwu64 = lw.int('long long unsigned int', 8, false);
  const lwide = lw.struct('flags___wide', 16, [['w', lwu64, 60, 8]]);
  const localWide = lw.build();
  const kinds = [K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64, K.FIELD_SIGNED];
  // Local values are what the compiler would emit for the local layout; bitfields aren't validated
  // (except signedness and right shift, which the compiler can't get "wrong").
  const b = prog([MOV64, 1, 0, 0, 0], [MOV64, 1, 0, 0, 4], [MOV64, 1, 0, 0, 56], [MOV64, 1, 0, 0, 59], [MOV64, 1, 0, 0, 0], [EXIT, 0, 0, 0, 0]);
  const out = applyCoreRelos(local, kinds.map((k, i) => relo(i, lflags, '0:1', k)), b, 0, targetsOf(target));
  // Bit 13, 5 bits: a u32 load at offset 0: lshift = 64 - (13 + 5), rshift = 64 - 5.
  assert.equal([0, 1, 2, 3, 4].map((i) => b.imm(i)), [0, 4, 64 - 18, 59, 1]);
  assert.is(out[4]!.localValue, 0n);
  const a = prog([MOV64, 1, 0, 0, 0], [MOV64, 1, 0, 0, 4], [MOV64, 1, 0, 0, 61], [MOV64, 1, 0, 0, 61], [EXIT, 0, 0, 0, 0]);
  applyCoreRelos(local, [K.FIELD_BYTE_OFFSET, K.FIELD_BYTE_SIZE, K.FIELD_LSHIFT_U64, K.FIELD_RSHIFT_U64].map((k, i) => relo(i, lflags, '0:0', k)), a, 0, targetsOf(target));
  assert.equal([0, 1, 2, 3].map((i) => a.imm(i)), [4, 4, 64 - (40 + 3 - 32), 61]);
  throwsCore(() => applyCoreRelos(localWide, [relo(0, lwide, '0:0', K.FIELD_BYTE_OFFSET)], prog([MOV64, 1, 0, 0, 0], [EXIT, 0, 0, 0, 0]), 0, targetsOf(target)),
    /bitfield can't be read with a single 64-bit load/, 7);
});

test('load/store width: unsigned and pointer fields are resized, signed ones poisoned; bad values refused', () => {
  const { local, target, L } = taskPair();
  const insns = prog([LDXH, 2, 1, 36, 0], [LDXW, 2, 1, 36, 0], [EXIT, 0, 0, 0, 0]);
  const out = applyCoreRelos(local, [relo(0, L.lstruct!, '0:4', K.FIELD_BYTE_OFFSET), relo(1, L.lstruct!, '0:5', K.FIELD_BYTE_OFFSET)], insns, 0, targetsOf(target));
  assert.is(insns.code(0), LDXW, 'u16 -> u32');
  assert.is(insns.off(0), 64);
  assert.is(insns.code(1), LDXDW, 'u32 -> u64');
  assert.is(insns.off(1), 72);
  assert.is(out[0]!.change, 'off 36 -> 64, mem_sz 2 -> 4');
  // A signed local field of another size: poisoned.
  const s = new B();
  const sint = s.int('short', 2, true);
  const sst = s.struct('task', 2, [['pid', sint, 0]]);
  const sl = s.build();
  const p = prog([LDXH, 2, 1, 0, 0], [EXIT, 0, 0, 0, 0]);
  const o = applyCoreRelos(sl, [relo(0, sst, '0:0', K.FIELD_BYTE_OFFSET)], p, 0, targetsOf(target));
  assert.ok(isPoison(p, 0));
  assert.match(o[0]!.reason!, /4 bytes in the target but 2 bytes locally/);
  // The instruction's load size must be the local field's size.
  throwsCore(() => applyCoreRelos(local, [relo(0, L.lstruct!, '0:4', K.FIELD_BYTE_OFFSET)], prog([LDXW, 2, 1, 36, 0]), 0, targetsOf(target)), /unexpected mem size: got 4, exp 2/);
  // Pointers: a 32-bit kernel's 4-byte pointer is read with a 4-byte load.
  const t32 = new B();
  const i32 = t32.int('long', 4);
  const p32 = t32.ptr(i32);
  t32.struct('task', 8, [['ptr', p32, 32]]);
  const target32 = t32.build();
  target32.pointerSize = 4;
  const q = prog([LDXDW, 2, 1, 8, 0]);
  applyCoreRelos(local, [relo(0, L.lstruct!, '0:1', K.FIELD_BYTE_OFFSET)], q, 0, targetsOf(target32));
  assert.is(q.code(0), LDXW);
  assert.is(q.off(0), 4);
  // Offsets beyond s16 can't be encoded.
  const big = new B();
  const bint = big.int();
  big.struct('task', 40000, [['pid', bint, 8 * 33000]]);
  throwsCore(() => applyCoreRelos(local, [relo(0, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET)], prog([LDXW, 2, 1, 0, 0]), 0, targetsOf(big.build())), /value too big: 33000/, 34);
});

test('instructions must hold the local value, and be of a patchable kind', () => {
  const { local, target, L } = taskPair();
  const t = targetsOf(target);
  throwsCore(() => applyCoreRelos(local, [relo(0, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET)], prog([MOV64, 1, 0, 0, 3]), 0, t), /unexpected insn #0 \(ALU\/ALU64\) value: got 3, exp 0 -> 12/);
  throwsCore(() => applyCoreRelos(local, [relo(0, L.lstruct!, '0:1', K.FIELD_BYTE_OFFSET)], prog([LDXDW, 2, 1, 0, 0]), 0, t), /unexpected insn #0 \(LDX\/ST\/STX\) value: got 0, exp 8 -> 16/);
  throwsCore(() => applyCoreRelos(local, [relo(0, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET)], prog([ADD64X, 1, 2, 0, 0]), 0, t), /register operand/);
  throwsCore(() => applyCoreRelos(local, [relo(0, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET)], prog([JA, 0, 0, 0, 0]), 0, t), /unrecognized insn #0, code:0x5/);
  throwsCore(() => applyCoreRelos(local, [relo(0, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET)], prog([LDIMM64, 1, 1, 0, 0], [0, 0, 0, 0, 0]), 0, t), /LDIMM64\) has unexpected form/);
  throwsCore(() => applyCoreRelos(local, [{ ...relo(0, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET), insnOff: 4 }], prog([MOV64, 1, 0, 0, 0]), 0, t), /not a multiple of 8/);
  throwsCore(() => applyCoreRelos(local, [relo(0, L.lstruct!, '0:9', K.FIELD_BYTE_OFFSET)], prog([MOV64, 1, 0, 0, 0]), 0, t, { progName: 'p' }), /prog 'p': CO-RE relo #0: parsing \[6\] struct task___local \+ 0:9 failed: -22/);
  // ld_imm64 values are validated as 64-bit numbers.
  const ins = prog(...ldimm64(1, 0n));
  applyCoreRelos(local, [relo(0, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET)], ins, 0, t);
  assert.is(imm64(ins, 0), 12n);
});

// ---- candidates ------------------------------------------------------------------------------

test('flavors: local ___x matches the plain kernel type; kernel flavors are candidates too; ambiguity fails', () => {
  const l = new B();
  const lint = l.int();
  const a = l.struct('obj___x', 8, [['f', lint, 0], ['g', lint, 32]]);
  const local = l.build();
  const t = new B();
  const tint = t.int();
  t.struct('obj', 8, [['f', tint, 32], ['g', tint, 0]]);
  t.struct('obj___v2', 12, [['f', tint, 64], ['h', tint, 0]]);
  t.struct('objx', 8, [['f', tint, 0]]);
  const target = t.build();
  const targets = targetsOf(target);
  // f is in both candidates, at different offsets: ambiguous.
  throwsCore(() => applyCoreRelos(local, [relo(0, a, '0:0', K.FIELD_BYTE_OFFSET)], prog([MOV64, 1, 0, 0, 0]), 0, targets), /field offset ambiguity: 64 != 32/);
  // With a fresh cache: g only matches obj, and the candidate list is pruned to obj, so f is then fine.
  const fresh = targetsOf(target);
  const insns = prog([MOV64, 1, 0, 0, 4], [MOV64, 1, 0, 0, 0]);
  const out = applyCoreRelos(local, [relo(0, a, '0:1', K.FIELD_BYTE_OFFSET), relo(1, a, '0:0', K.FIELD_BYTE_OFFSET)], insns, 0, fresh);
  assert.equal([insns.imm(0), insns.imm(1)], [0, 4]);
  assert.equal(out.map((o) => o.candidates), [2, 1]);
  // Type-based: both exist with different sizes.
  throwsCore(() => applyCoreRelos(local, [relo(0, a, '0', K.TYPE_SIZE)], prog([MOV64, 1, 0, 0, 8]), 0, targetsOf(target)), /relocation decision ambiguity: success 12 != success 8/);
});

test('type relocations: exists, size, ids, matches; anonymous types are refused', () => {
  const l = new B();
  const lint = l.int();
  const lu = l.int('unsigned int', 4, false);
  const st = l.struct('thing', 4, [['a', lint, 0]]);
  const none = l.struct('nothing', 4, [['a', lint, 0]]);
  const anon = l.struct('', 4, [['a', lint, 0]]);
  const td = l.typedef('u32', lu);
  const tdBad = l.typedef('s32___x', lu);
  const local = l.build();
  const t = new B();
  const tint = t.int();
  const tu = t.int('unsigned int', 4, false);
  const tthing = t.struct('thing', 16, [['b', tint, 0], ['a', tint, 64]]);
  t.typedef('u32', tu);
  t.typedef('s32', tint);
  const target = t.build();
  const tg = targetsOf(target);
  const insns = prog(
    [MOV64, 1, 0, 0, 1], [MOV64, 1, 0, 0, 1], [MOV64, 1, 0, 0, 4], [MOV64, 1, 0, 0, 4], ...ldimm64(1, BigInt(st)), ...ldimm64(1, 999n),
    ...ldimm64(1, BigInt(none)), [MOV64, 1, 0, 0, 1], [MOV64, 1, 0, 0, 1], [MOV64, 1, 0, 0, 1], ...ldimm64(1, BigInt(anon)), [EXIT, 0, 0, 0, 0],
  );
  const out = applyCoreRelos(local, [
    relo(0, st, '0', K.TYPE_EXISTS), relo(1, none, '0', K.TYPE_EXISTS), relo(2, st, '0', K.TYPE_SIZE), relo(3, none, '0', K.TYPE_SIZE),
    relo(4, st, '0', K.TYPE_ID_TARGET), relo(6, st, '0', K.TYPE_ID_TARGET), relo(8, none, '0', K.TYPE_ID_LOCAL),
    relo(10, td, '0', K.TYPE_MATCHES), relo(11, st, '0', K.TYPE_MATCHES), relo(12, tdBad, '0', K.TYPE_MATCHES), relo(13, anon, '0', K.TYPE_ID_LOCAL),
  ], insns, 0, tg);
  assert.equal([insns.imm(0), insns.imm(1), insns.imm(2), insns.imm(3)], [1, 0, 16, 0]);
  assert.is(imm64(insns, 4), BigInt(tthing));
  assert.is(imm64(insns, 6), BigInt(tthing), 'target ids are not validated');
  assert.is(imm64(insns, 8), BigInt(none));
  assert.equal([insns.imm(10), insns.imm(11), insns.imm(12)], [1, 1, 0]);
  assert.is(imm64(insns, 13), BigInt(anon));
  assert.is(out[1]!.reason, 'no struct named \'nothing\' in vmlinux');
  assert.is(out[3]!.reason, 'no struct named \'nothing\' in vmlinux');
  assert.is(out[9]!.reason, 'the kernel\'s typedef s32 does not match the local definition');
  throwsCore(() => applyCoreRelos(local, [relo(0, anon, '0', K.TYPE_EXISTS)], prog([MOV64, 1, 0, 0, 1]), 0, tg), /target candidate search failed for \[\d+\] struct <anon>/);
});

test('enum values: 32/64-bit, signed (sign-extended like libbpf), ENUM vs ENUM64, missing enumerators', () => {
  const l = new B();
  const le = l.enum('mode___x', [['MODE_A___x', 1], ['MODE_GONE___x', 2], ['MODE_NEG', 3]]);
  const le64 = l.enum64('big', [['BIG_A', 0x100000000n]]);
  const local = l.build();
  const t = new B();
  t.enum('mode', [['MODE_NEG', -2], ['MODE_A', 5]], true);
  t.enum('big', [['BIG_A', 7]]);
  const target = t.build();
  const insns = prog([MOV64, 1, 0, 0, 1], ...ldimm64(1, 3n), [MOV64, 1, 0, 0, 1], [MOV64, 1, 0, 0, 2], ...ldimm64(1, 0x100000000n), [EXIT, 0, 0, 0, 0]);
  const out = applyCoreRelos(local, [
    relo(0, le, '0', K.ENUMVAL_VALUE), relo(1, le, '2', K.ENUMVAL_VALUE), relo(3, le, '1', K.ENUMVAL_EXISTS), relo(4, le, '1', K.ENUMVAL_VALUE),
    relo(5, le64, '0', K.ENUMVAL_VALUE),
  ], insns, 0, targetsOf(target));
  assert.is(insns.imm(0), 5);
  assert.is(imm64(insns, 1), 0xfffffffffffffffen);
  assert.is(insns.imm(3), 0);
  assert.ok(isPoison(insns, 4));
  assert.is(imm64(insns, 5), 7n, 'a local ENUM64 matches a kernel ENUM');
  assert.is(out[0]!.fieldPath, 'enum mode___x::MODE_A___x');
  assert.is(out[0]!.target!.path, 'enum mode::MODE_A');
  assert.is(out[3]!.reason, 'no enumerator \'MODE_GONE___x\' in the kernel\'s enum mode');
  assert.is(out[1]!.spec, '<enumval_value> [1] enum mode___x::MODE_NEG = 3');
});

test('candidate sources: vmlinux first, modules only without a vmlinux candidate, never with a custom BTF', () => {
  const v = new B();
  const vint = v.int();
  v.struct('core_thing', 8, [['a', vint, 32]]);
  const vmlinux = v.build();
  const m = new B(vmlinux);
  const mint = m.int();
  const mthing = m.struct('mod_thing', 16, [['a', mint, 64]]);
  const mod = m.build();
  const l = new B();
  const lint = l.int();
  const lcore = l.struct('core_thing', 4, [['a', lint, 0]]);
  const lmod = l.struct('mod_thing___y', 4, [['a', lint, 0]]);
  const local = l.build();
  let loaded = 0;
  const tg = targetsOf(vmlinux, { modules: [mod], onModules: () => loaded++ });
  const insns = prog([MOV64, 1, 0, 0, 0], [MOV64, 1, 0, 0, 0], ...ldimm64(1, BigInt(lmod)));
  const first = applyCoreRelos(local, [relo(0, lcore, '0:0', K.FIELD_BYTE_OFFSET)], insns, 0, tg);
  assert.is(loaded, 0, 'modules not needed');
  assert.is(first[0]!.target!.source, 'vmlinux');
  const out = applyCoreRelos(local, [relo(1, lmod, '0:0', K.FIELD_BYTE_OFFSET), relo(2, lmod, '0', K.TYPE_ID_TARGET)], insns, 0, tg);
  assert.is(loaded, 1);
  assert.equal([insns.imm(0), insns.imm(1)], [4, 8]);
  assert.is(imm64(insns, 2), BigInt(mthing));
  assert.equal(out[0]!.target, { source: 'mod0', typeId: mthing, path: 'struct mod_thing.a' });
  // A custom BTF replaces vmlinux, and modules are not searched.
  const custom = targetsOf(vmlinux, { custom: true, modules: [mod], onModules: () => loaded++ });
  const c = prog([MOV64, 1, 0, 0, 1]);
  const co = applyCoreRelos(local, [relo(0, lmod, '0:0', K.FIELD_EXISTS)], c, 0, custom);
  assert.is(c.imm(0), 0);
  assert.is(loaded, 1);
  assert.is(co[0]!.reason, 'no struct named \'mod_thing\' in custom BTF /tmp/custom.btf');
});

test('module BTF files: split BTF over vmlinux is loaded; a corrupt one is skipped with a warning', async () => {
  const v = new B();
  const vint = v.int();
  v.struct('core_thing', 8, [['a', vint, 32]]);
  const vmlinux = v.build();
  const m = new B(vmlinux);
  m.struct('mod_thing', 16, [['a', vint, 64]]);
  const modBytes = (() => {
    const b = Btf.create({ base: vmlinux });
    for (const t of m.types) b.addType(t);
    return b.encode();
  })();
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-core-'));
  try {
    writeFileSync(join(dir, 'vmlinux'), new Uint8Array(4));
    writeFileSync(join(dir, 'good_mod'), modBytes);
    writeFileSync(join(dir, 'sha1_ssse3'), new Uint8Array(24)); // cilium/ebpf#1902: a 24-byte corrupt file
    const warnings: string[] = [];
    const onWarn = (w: Error): void => { warnings.push(w.message); };
    process.on('warning', onWarn);
    const base: KernelBtfEntry = { btf: vmlinux, name: 'vmlinux', path: '-', index: new CandidateIndex(vmlinux, 'vmlinux') };
    const mods = loadModuleBtfs(dir, base);
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarn);
    assert.equal(mods.map((x) => x.name), ['good_mod']);
    assert.is(mods[0]!.btf.findOne('mod_thing', BTF_KIND.STRUCT), vmlinux.typeCount + 1);
    assert.is(warnings.length, 1);
    assert.match(warnings[0]!, /skipping BTF of kernel module 'sha1_ssse3'/);
    assert.equal(loadModuleBtfs(join(dir, 'missing'), base), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('relocateObjectCore: .BTF.ext order, subprograms always, autoload-off programs and orphan records skipped', () => {
  const { local, target, L } = taskPair();
  const mk = (n: number): Uint8Array => prog(...Array.from({ length: n }, (): I => [MOV64, 1, 0, 0, 0])).bytes;
  const progs = [
    { name: 'main', sectionName: 'xdp', secInsnOff: 0, insns: mk(2), autoload: true },
    { name: 'off', sectionName: 'xdp', secInsnOff: 2, insns: mk(2), autoload: false },
    { name: 'sub', sectionName: '.text', secInsnOff: 0, insns: mk(2), autoload: false, isSubprog: true },
  ];
  const relos = new Map([
    ['xdp', [relo(1, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET), relo(3, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET), relo(9, L.lstruct!, '0:0', K.FIELD_BYTE_OFFSET)]],
    ['.text', [relo(0, L.lstruct!, '0:0', K.FIELD_EXISTS)]],
  ]);
  relos.get('.text')![0]!.insnOff = 0;
  const sub = prog([MOV64, 1, 0, 0, 1], [MOV64, 1, 0, 0, 0]);
  progs[2]!.insns = sub.bytes;
  const res = relocateObjectCore(local, relos, progs, targetsOf(target));
  assert.equal([...res.keys()].map((p) => p.name), ['main', 'sub']);
  assert.is(new Insns(res.get(progs[0]!)!.insns).imm(1), 12);
  assert.is(new Insns(progs[0]!.insns).imm(1), 0, 'the original is untouched');
  assert.is(res.get(progs[0]!)!.outcomes[0]!.insnIdx, 1);
  assert.is(new Insns(res.get(progs[2]!)!.insns).imm(0), 1);
  // The same records through applyCoreRelos for one program, with its section offset.
  const off = new Insns(mk(2));
  const o = applyCoreRelos(local, relos.get('xdp')!, off, 2, targetsOf(target));
  assert.equal(o.map((x) => [x.reloIdx, x.insnIdx]), [[1, 1]]);
  assert.is(off.imm(1), 12);
});

test('vmlinux BTF search: sysfs first, else libbpf\'s fallback paths (ELF .BTF or raw), else ESRCH', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-core-'));
  try {
    const elf = compileBpf('core-target'); // an ELF file with a .BTF section stands in for a vmlinux image
    copyFileSync(elf, join(dir, 'vmlinux-9.9.9-elf'));
    writeFileSync(join(dir, 'vmlinux-9.9.9-junk'), new Uint8Array(64));
    const fallbackPaths = [join(dir, 'missing-%r'), join(dir, 'vmlinux-%r-junk'), join(dir, 'vmlinux-%r-elf')];
    const e = findVmlinuxBtf({ sysfsPath: join(dir, 'no-sysfs'), fallbackPaths, release: '9.9.9' });
    assert.is(e.path, join(dir, 'vmlinux-9.9.9-elf'));
    assert.ok(e.btf.findOne('tsbpf_core_a', BTF_KIND.STRUCT));
    // Raw BTF works too.
    const raw = new B();
    raw.struct('raw_thing', 4, [['a', raw.int(), 0]]);
    writeFileSync(join(dir, 'raw-9.9.9'), (() => { const b = Btf.create(); for (const t of raw.types) b.addType(t); return b.encode(); })());
    assert.ok(findVmlinuxBtf({ sysfsPath: join(dir, 'no-sysfs'), fallbackPaths: [join(dir, 'raw-%r')], release: '9.9.9' }).btf.findOne('raw_thing', BTF_KIND.STRUCT));
    // A present but corrupt sysfs file is an error, not a reason to look elsewhere (libbpf).
    assert.throws(() => findVmlinuxBtf({ sysfsPath: join(dir, 'vmlinux-9.9.9-junk'), fallbackPaths, release: '9.9.9' }), /failed to parse kernel BTF/);
    assert.throws(() => findVmlinuxBtf({ sysfsPath: join(dir, 'no-sysfs'), fallbackPaths: [join(dir, 'vmlinux-%r-junk')], release: '9.9.9' }),
      (err: unknown) => err instanceof BpfError && err.errno === 3 && /failed to find valid kernel BTF/.test(err.message));
    // btfCustomPath: a raw BTF file replaces vmlinux for CO-RE.
    const l = new B();
    const lst = l.struct('raw_thing___mine', 4, [['a', l.int(), 0]]);
    const insns = prog([MOV64, 1, 0, 0, 1]);
    const out = applyCoreRelos(l.build(), [relo(0, lst, '0:0', K.FIELD_EXISTS)], insns, 0, kernelCoreTargets({ btfCustomPath: join(dir, 'raw-9.9.9') }));
    assert.is(insns.imm(0), 1);
    assert.is(out[0]!.target!.source, join(dir, 'raw-9.9.9'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
