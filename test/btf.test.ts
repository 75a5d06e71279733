// Btf: parsing, lazy decoding and lookup, differential tests against bpftool's raw dump (clang
// fixtures covering every kind, and all of /sys/kernel/btf/vmlinux), size/alignment queries,
// DATASEC fixup, encoding round trips, split BTF and malformed input.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, BTF_KIND, BTF_VAR_LINKAGE, dumpRaw, fixupDatasecs, layoutExterns } from '../btf/index.js';
import type { BtfType } from '../btf/index.js';
import { ParseError } from '../src/errors.js';
import type { ElfFile } from '../elf/index.js';
import { BUILD_DIR, bpftoolRaw, compileFixture, firstDiff, haveCommand, loadElf, rng, sectionBytes } from './btf-fixtures/support.js';
import { testIf } from './support/skip.js';

const VMLINUX = '/sys/kernel/btf/vmlinux';
const haveVmlinux = existsSync(VMLINUX);
const haveBpftool = haveCommand('bpftool');

// ------------------------------------------------------------------------------------------------
// Small builders for hand-made BTF

function makeBtf(types: BtfType[]): Btf {
  const b = Btf.create();
  for (const t of types) b.addType(t);
  return Btf.parse(b.encode());
}
const INT = (name = 'int', size = 4): BtfType => ({ kind: BTF_KIND.INT, name, size, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: size * 8 });

function throwsParseError(fn: () => unknown, re?: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ParseError, `expected ParseError, got ${String(e)}`);
    if (re) assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable('expected a ParseError');
}

function allTypes(b: Btf): BtfType[] {
  const out: BtfType[] = [];
  for (let id = b.startId; id <= b.typeCount; id++) out.push(b.type(id));
  return out;
}

/** fixupDatasecs callbacks from an ELF file, as the loader does it (libbpf find_elf_var_sym). */
function elfCallbacks(elf: ElfFile) {
  return {
    size: (sec: string) => elf.section(sec)?.size,
    sym: (_sec: string, name: string) => {
      const s = elf.symbols.find((x) => x.name === name && x.type === 1 /* STT_OBJECT */ && (x.bind === 1 || x.bind === 2));
      return s ? { offset: s.value, hidden: s.visibility === 2 || s.visibility === 1 } : undefined;
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Fixtures

const fixtures = ['kinds', 'core'] as const;
const objPath = (n: string) => compileFixture(n);

test('fixtures: every BTF kind is present in kinds.bpf.o', () => {
  const btf = Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'));
  const kinds = new Set<number>();
  for (let id = 1; id <= btf.typeCount; id++) kinds.add(btf.kind(id));
  for (let k = 1; k <= 19; k++) assert.ok(kinds.has(k), `kind ${k} missing from fixture`);
});

for (const name of fixtures) {
  testIf(haveBpftool, 'needs bpftool (not installed)')(`differential: ${name}.bpf.o raw dump equals bpftool, line by line`, () => {
    const path = objPath(name);
    const btf = Btf.parse(sectionBytes(loadElf(path), '.BTF'));
    const d = firstDiff(dumpRaw(btf), bpftoolRaw(path));
    assert.is(d, undefined, d);
  });
}

testIf(haveVmlinux && haveBpftool, 'needs kernel BTF and bpftool')('differential: all of /sys/kernel/btf/vmlinux raw dump equals bpftool', () => {
  const btf = Btf.parse(readFileSync(VMLINUX));
  const d = firstDiff(dumpRaw(btf), bpftoolRaw(VMLINUX));
  assert.is(d, undefined, d);
});

// ------------------------------------------------------------------------------------------------
// Decoding details

test('decode: kinds.bpf.o types', () => {
  const btf = Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'));
  const bits = btf.type(btf.findOne('bits', BTF_KIND.STRUCT)!);
  assert.is(bits.kind, BTF_KIND.STRUCT);
  if (bits.kind !== BTF_KIND.STRUCT) return;
  assert.ok(bits.kflag);
  assert.equal(bits.members.slice(0, 3).map((m) => [m.name, m.bitOffset, m.bitfieldSize]), [['a', 0, 3], ['b', 3, 5], ['c', 8, 40]]);

  const be = btf.type(btf.findOne('big_enum', BTF_KIND.ENUM64)!);
  assert.equal(be.kind === BTF_KIND.ENUM64 && be.values.map((v) => v.value), [1n, 0x123456789abcdefn, 0xffffffffffffffffn]);
  const bs = btf.type(btf.findOne('big_signed', BTF_KIND.ENUM64)!);
  assert.equal(bs.kind === BTF_KIND.ENUM64 && [bs.signed, bs.values.map((v) => v.value)], [true, [-0x100000000n, 0x100000000n]]);
  const sn = btf.type(btf.findOne('signed_enum', BTF_KIND.ENUM)!);
  assert.equal(sn.kind === BTF_KIND.ENUM && [sn.signed, sn.values.map((v) => v.value)], [true, [-3, 7]]);
  const se = btf.type(btf.findOne('small_enum', BTF_KIND.ENUM)!);
  assert.equal(se.kind === BTF_KIND.ENUM && [se.signed, se.values.map((v) => v.value)], [false, [0, 5, 0xffffffff]]);

  assert.equal(btf.findByName('fwd_only').map((id) => btf.type(id)), [{ kind: BTF_KIND.FWD, name: 'fwd_only', isUnion: false }]);
  assert.equal(btf.findByName('fwd_union').map((id) => btf.type(id)), [{ kind: BTF_KIND.FWD, name: 'fwd_union', isUnion: true }]);
  const gf = btf.type(btf.findOne('global_func', BTF_KIND.FUNC)!);
  assert.equal(gf.kind === BTF_KIND.FUNC && gf.linkage, 1);
  const helper = btf.type(btf.findOne('helper', BTF_KIND.FUNC)!);
  assert.equal(helper.kind === BTF_KIND.FUNC && helper.linkage, 0);
  const kf = btf.type(btf.findOne('bpf_fake_kfunc', BTF_KIND.FUNC)!);
  assert.equal(kf.kind === BTF_KIND.FUNC && kf.linkage, 2);
  const tags = btf.findByName('param_tag', BTF_KIND.DECL_TAG).map((id) => btf.type(id));
  assert.equal(tags.length, 1);
  assert.equal(tags[0]!.kind === BTF_KIND.DECL_TAG && tags[0]!.componentIdx, 0);
  assert.equal(btf.findByName('bits_struct', BTF_KIND.DECL_TAG).map((id) => btf.type(id)).map((t) => t.kind === BTF_KIND.DECL_TAG && t.componentIdx), [-1]);
  const tt = btf.findByName('user', BTF_KIND.TYPE_TAG);
  assert.is(tt.length, 1);
  assert.is(btf.kind(tt[0]!), BTF_KIND.TYPE_TAG);
  assert.equal(btf.findByName('float', BTF_KIND.FLOAT).map((id) => btf.resolveSize(id)), [4]);
  assert.is(btf.name(0), '');
  assert.is(btf.kind(0), 0);
  assert.equal(btf.type(0), { kind: 0, name: '' });
});

test('lookup: findByName/findOne agree with a linear scan (vmlinux and fixture)', () => {
  const blobs: Btf[] = [Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'))];
  if (haveVmlinux) blobs.push(Btf.parse(readFileSync(VMLINUX)));
  for (const btf of blobs) {
    const byName = new Map<string, number[]>();
    for (let id = 1; id <= btf.typeCount; id++) {
      const n = btf.name(id);
      if (!n) continue;
      let a = byName.get(n);
      if (!a) byName.set(n, (a = []));
      a.push(id);
    }
    const r = rng(7);
    const names = [...byName.keys()];
    for (let i = 0; i < 3000 && names.length; i++) {
      const n = names[Math.floor(r() * names.length)]!;
      assert.equal(btf.findByName(n), byName.get(n), n);
      const ids = byName.get(n)!;
      const k = btf.kind(ids[0]!);
      assert.is(btf.findOne(n, k), ids.find((id) => btf.kind(id) === k));
    }
    assert.equal(btf.findByName('surely_no_such_type_name_xyz'), []);
    assert.equal(btf.findByName(''), []);
  }
});

test('lookup: per-kind name indexes (built before any kind-less lookup) agree with a linear scan', () => {
  const blobs: (() => Btf)[] = [() => Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'))];
  if (haveVmlinux) blobs.push(() => Btf.parse(readFileSync(VMLINUX)));
  for (const make of blobs) {
    const ref = make();
    const expected = new Map<string, number[]>();
    for (let id = 1; id <= ref.typeCount; id++) {
      const key = `${ref.kind(id)}:${ref.name(id)}`;
      let a = expected.get(key);
      if (!a) expected.set(key, (a = []));
      a.push(id);
    }
    const btf = make();
    const keys = [...expected.keys()].filter((k) => !k.endsWith(':'));
    const r = rng(11);
    for (let i = 0; i < 2000; i++) {
      const key = keys[Math.floor(r() * keys.length)]!;
      const colon = key.indexOf(':');
      const kind = Number(key.slice(0, colon));
      assert.equal(btf.findByName(key.slice(colon + 1), kind), expected.get(key), key);
    }
  }
});

test('ids: bad ids throw ParseError', () => {
  const btf = Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'));
  for (const id of [-1, btf.typeCount + 1, 1.5, NaN, 2 ** 32]) {
    throwsParseError(() => btf.type(id));
    throwsParseError(() => btf.kind(id));
    throwsParseError(() => btf.name(id));
  }
});

// ------------------------------------------------------------------------------------------------
// Sizes and alignment

test('resolveSize: every DATASEC var of the fixtures and vmlinux resolves to its recorded size', () => {
  const blobs: Btf[] = [];
  for (const n of fixtures) blobs.push(Btf.parse(sectionBytes(loadElf(objPath(n)), '.BTF')));
  if (haveVmlinux) blobs.push(Btf.parse(readFileSync(VMLINUX)));
  let checked = 0;
  for (const btf of blobs) {
    for (let id = 1; id <= btf.typeCount; id++) {
      const t = btf.type(id);
      if (t.kind === BTF_KIND.DATASEC) {
        for (const v of t.vars) {
          if (btf.kind(v.type) !== BTF_KIND.VAR) continue; // extern FUNCs in .ksyms
          if (t.name === '.ksyms' || t.name === '.kconfig' || v.size === 0) continue;
          assert.is(btf.resolveSize(v.type), v.size, `${t.name} var ${btf.name(v.type)}`);
          checked++;
        }
      } else if (t.kind === BTF_KIND.STRUCT || t.kind === BTF_KIND.UNION || t.kind === BTF_KIND.INT) {
        assert.is(btf.resolveSize(id), t.size);
      }
    }
  }
  assert.ok(checked > 20, `checked ${checked}`);
});

test('resolveSize/alignOf: specific values and errors', () => {
  const btf = Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'));
  const kitchen = btf.findOne('kitchen', BTF_KIND.STRUCT)!;
  assert.is(btf.resolveSize(kitchen), 176);
  assert.is(btf.alignOf(kitchen), 8);
  assert.is(btf.alignOf(btf.findOne('bits', BTF_KIND.STRUCT)!), 8);
  assert.is(btf.alignOf(btf.findOne('u', BTF_KIND.UNION)!), 8);
  assert.is(btf.alignOf(btf.findOne('int', BTF_KIND.INT)!), 4);
  assert.is(btf.alignOf(btf.findOne('char', BTF_KIND.INT)!), 1);
  // matrix: int[3][4]
  const km = btf.type(kitchen);
  const matrix = km.kind === BTF_KIND.STRUCT ? km.members.find((m) => m.name === 'matrix')! : undefined;
  assert.is(btf.resolveSize(matrix!.type), 48);
  assert.is(btf.alignOf(matrix!.type), 4);
  // errors: void, FWD, FUNC, FUNC_PROTO
  throwsParseError(() => btf.resolveSize(0), /void/);
  throwsParseError(() => btf.resolveSize(btf.findOne('fwd_only', BTF_KIND.FWD)!));
  throwsParseError(() => btf.resolveSize(btf.findOne('helper', BTF_KIND.FUNC)!));
  throwsParseError(() => btf.alignOf(btf.findOne('fwd_only', BTF_KIND.FWD)!));
  throwsParseError(() => btf.alignOf(0));
  // A pointer is 8 bytes on BPF and x86_64.
  assert.is(btf.pointerSize, 8);
  const ptr = btf.findByName('', BTF_KIND.PTR);
  assert.equal(ptr, []); // anonymous types are not indexed by name
});

test('alignOf: packed structs and vmlinux spot checks', () => {
  // struct __attribute__((packed)) { char c; int i; } size 5
  const b = makeBtf([
    INT('char', 1), INT('int', 4),
    { kind: BTF_KIND.STRUCT, name: 'p', size: 5, kflag: false, members: [{ name: 'c', type: 1, bitOffset: 0, bitfieldSize: 0 }, { name: 'i', type: 2, bitOffset: 8, bitfieldSize: 0 }] },
    { kind: BTF_KIND.STRUCT, name: 'q', size: 6, kflag: false, members: [{ name: 'i', type: 2, bitOffset: 0, bitfieldSize: 0 }] },
  ]);
  assert.is(b.alignOf(3), 1);
  assert.is(b.alignOf(4), 1); // size not a multiple of 4
  if (!haveVmlinux) return;
  const v = Btf.parse(readFileSync(VMLINUX));
  const cases: [string, number, number][] = [['list_head', 16, 8], ['bpf_insn', 8, 4], ['callback_head', 16, 8]];
  for (const [name, size, align] of cases) {
    const id = v.findOne(name, BTF_KIND.STRUCT)!;
    assert.is(v.resolveSize(id), size, name);
    assert.is(v.alignOf(id), align, name);
  }
  const attr = v.findOne('bpf_attr', BTF_KIND.UNION)!;
  assert.is(v.alignOf(attr), 8);
});

test('type loops: PTR cycles are fine, TYPEDEF/CONST loops are ParseErrors, never hangs', () => {
  // [1] int, [2] struct node { struct node *next; int v; }, [3] ptr -> 2,
  // [4] typedef A -> 5, [5] const -> 4 (loop), [6] struct S { S s } (loop through members)
  const b = makeBtf([
    INT(),
    { kind: BTF_KIND.STRUCT, name: 'node', size: 16, kflag: false, members: [{ name: 'next', type: 3, bitOffset: 0, bitfieldSize: 0 }, { name: 'v', type: 1, bitOffset: 64, bitfieldSize: 0 }] },
    { kind: BTF_KIND.PTR, name: '', type: 2 },
    { kind: BTF_KIND.TYPEDEF, name: 'A', type: 5 },
    { kind: BTF_KIND.CONST, name: '', type: 4 },
    { kind: BTF_KIND.STRUCT, name: 'S', size: 4, kflag: false, members: [{ name: 's', type: 6, bitOffset: 0, bitfieldSize: 0 }] },
    { kind: BTF_KIND.ARRAY, name: '', type: 7, indexType: 1, nelems: 1 },
  ]);
  assert.is(b.resolveSize(2), 16);
  assert.is(b.alignOf(2), 8);
  assert.is(b.resolveSize(3), 8);
  throwsParseError(() => b.resolveSize(4), /loop/);
  throwsParseError(() => b.skipModsAndTypedefs(4), /loop/);
  throwsParseError(() => b.alignOf(4), /loop/);
  throwsParseError(() => b.alignOf(6), /loop/);
  throwsParseError(() => b.resolveSize(7), /loop/); // array of itself
  assert.is(b.skipModsAndTypedefs(3), 3);
});

test('skipModsAndTypedefs: follows typedef/const/volatile/type_tag chains', () => {
  const btf = Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'));
  const kitchen = btf.type(btf.findOne('kitchen', BTF_KIND.STRUCT)!);
  if (kitchen.kind !== BTF_KIND.STRUCT) throw new Error('kitchen');
  const m = (n: string) => kitchen.members.find((x) => x.name === n)!.type;
  assert.is(btf.kind(btf.skipModsAndTypedefs(m('vol'))), BTF_KIND.INT);
  assert.is(btf.kind(btf.skipModsAndTypedefs(m('cst'))), BTF_KIND.INT);
  assert.is(btf.kind(btf.skipModsAndTypedefs(m('cb'))), BTF_KIND.PTR);
  assert.is(btf.kind(btf.skipModsAndTypedefs(m('rp'))), BTF_KIND.PTR);
  assert.is(btf.skipModsAndTypedefs(0), 0);
});

// ------------------------------------------------------------------------------------------------
// fixupDatasecs vs. the BPF static linker (bpftool gen object fills sizes/offsets the same way)

/** Split a raw dump into blocks keyed by "KIND 'name'", without the [id] prefix. */
function blocks(dump: string): Map<string, string> {
  const m = new Map<string, string>();
  let key = '';
  let cur: string[] = [];
  const flush = () => { if (key) m.set(key, cur.join('\n')); };
  for (const line of dump.split('\n')) {
    if (line.startsWith('[')) {
      flush();
      const rest = line.replace(/^\[\d+\] /, '');
      key = rest.split(' ').slice(0, 2).join(' ');
      cur = [rest];
    } else if (line) cur.push(line);
  }
  flush();
  return m;
}

testIf(haveBpftool, 'needs bpftool (not installed)')('fixupDatasecs: sizes/offsets match bpftool gen object (libbpf linker), hidden vars become static', () => {
  for (const name of fixtures) {
    const path = objPath(name);
    const elf = loadElf(path);
    const btf = Btf.parse(sectionBytes(elf, '.BTF'));
    const cb = elfCallbacks(elf);
    fixupDatasecs(btf, cb.size, cb.sym);
    mkdirSync(BUILD_DIR, { recursive: true });
    const linked = join(BUILD_DIR, `btf-${name}.linked.o`);
    execFileSync('bpftool', ['gen', 'object', linked, path], { stdio: 'pipe' });
    const ours = blocks(dumpRaw(btf));
    const theirs = blocks(bpftoolRaw(linked));
    let datasecs = 0;
    for (const [k, v] of ours) {
      if (!k.startsWith('DATASEC')) continue;
      datasecs++;
      assert.is(v, theirs.get(k), k);
      // libbpf sorts vars by offset
      const t = btf.type(btf.findOne(k.split("'")[1]!, BTF_KIND.DATASEC)!);
      if (t.kind === BTF_KIND.DATASEC) for (let i = 1; i < t.vars.length; i++) assert.ok(t.vars[i - 1]!.offset <= t.vars[i]!.offset);
    }
    assert.ok(datasecs >= 2);
    if (name === 'kinds') {
      const hv = btf.type(btf.findOne('hidden_var', BTF_KIND.VAR)!);
      assert.is(hv.kind === BTF_KIND.VAR && hv.linkage, BTF_VAR_LINKAGE.STATIC);
      const dv = btf.type(btf.findOne('data_var', BTF_KIND.VAR)!);
      assert.is(dv.kind === BTF_KIND.VAR && dv.linkage, BTF_VAR_LINKAGE.GLOBAL);
      // Everything else is untouched.
      for (const [k, v] of ours) if (!k.startsWith('DATASEC') && k !== "VAR 'hidden_var'") assert.is(v, theirs.get(k), k);
      // Extern sections keep zero sizes: the loader lays them out.
      const ks = btf.type(btf.findOne('.kconfig', BTF_KIND.DATASEC)!);
      assert.is(ks.kind === BTF_KIND.DATASEC && ks.size, 0);
    }
    // The result still encodes and re-parses to the same types.
    assert.equal(allTypes(Btf.parse(btf.encode())), allTypes(btf));
  }
});

test('fixupDatasecs: missing section or symbol is a ParseError; preset sizes are kept', () => {
  const elf = loadElf(objPath('kinds'));
  const cb = elfCallbacks(elf);
  throwsParseError(() => fixupDatasecs(Btf.parse(sectionBytes(elf, '.BTF')), () => undefined, cb.sym), /size/);
  throwsParseError(() => fixupDatasecs(Btf.parse(sectionBytes(elf, '.BTF')), cb.size, () => undefined), /symbol/);
  // A BTF whose DATASECs already have sizes (static linker output) keeps its offsets.
  const b = makeBtf([
    INT(),
    { kind: BTF_KIND.VAR, name: 'a', type: 1, linkage: 1 },
    { kind: BTF_KIND.VAR, name: 'b', type: 1, linkage: 1 },
    { kind: BTF_KIND.DATASEC, name: '.data', size: 8, vars: [{ type: 3, offset: 4, size: 4 }, { type: 2, offset: 0, size: 4 }] },
  ]);
  const before = b.encode();
  fixupDatasecs(b, () => 100, (_s, n) => ({ offset: n === 'a' ? 40 : 44, hidden: n === 'b' }));
  const ds = b.type(4);
  assert.equal(ds.kind === BTF_KIND.DATASEC && [ds.size, ds.vars], [8, [{ type: 2, offset: 0, size: 4 }, { type: 3, offset: 4, size: 4 }]]);
  const vb = b.type(3);
  assert.is(vb.kind === BTF_KIND.VAR && vb.linkage, 0);
  assert.not.equal(b.encode(), before);
});

test('layoutExterns: .kconfig/.ksyms laid out like libbpf collect_externs', () => {
  const btf = Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'));
  const n = btf.typeCount;
  const l = layoutExterns(btf);
  // libbpf debug log for this object: "extern (kcfg) #0: ... off 0, name CONFIG_NR_CPUS", "#1: off 8, name CONFIG_HZ"
  assert.equal(l.kconfig.map((k) => [k.name, k.offset, k.size, k.align]), [['CONFIG_NR_CPUS', 0, 8, 8], ['CONFIG_HZ', 8, 4, 4]]);
  assert.is(l.kconfigSize, 12);
  assert.equal(l.ksyms.map((k) => [k.name, k.isFunc, btf.kind(k.id)]), [['bpf_fake_kfunc', true, BTF_KIND.FUNC], ['bpf_prog_active', false, BTF_KIND.VAR]]);
  assert.is(l.ksyms[1]!.typeId, 0); // typeless: extern const void
  assert.is(l.dummyKsymVar, n + 1);
  assert.equal(btf.type(n + 1), { kind: BTF_KIND.VAR, name: 'dummy_ksym', type: btf.findOne('int', BTF_KIND.INT)!, linkage: 1 });
  const ks = btf.type(btf.findOne('.ksyms', BTF_KIND.DATASEC)!);
  assert.equal(ks.kind === BTF_KIND.DATASEC && [ks.size, ks.vars], [8, [{ type: n + 1, offset: 0, size: 4 }, { type: l.ksyms[1]!.id, offset: 4, size: 4 }]]);
});

/**
 * The raw dump of the BTF that libbpf (bpftool 7.1) loads into the kernel for kinds.bpf.o, or why
 * there is none to compare with: no bpftool, root or bpffs; a kernel that refuses the object; or a
 * kernel without ENUM64, for which libbpf sanitizes the BTF (the comparison is with unsanitized BTF).
 */
function btfLoadedByLibbpf(): { loaded?: string; why: string } {
  if (!haveBpftool || process.getuid?.() !== 0 || !existsSync('/sys/fs/bpf')) return { why: 'needs bpftool, root and /sys/fs/bpf' };
  const pin = `/sys/fs/bpf/tsbpf_btf_test_${process.pid}`;
  try {
    execFileSync('bpftool', ['prog', 'loadall', objPath('kinds'), pin], { stdio: 'pipe' });
    const info = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show', 'pinned', `${pin}/handle`], { encoding: 'utf8' })) as { btf_id: number };
    const loaded = execFileSync('bpftool', ['btf', 'dump', 'id', String(info.btf_id), 'format', 'raw'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (!/ENUM64/.test(loaded)) return { why: 'needs a kernel with ENUM64 (libbpf sanitized the BTF it loaded)' };
    return { loaded, why: '' };
  } catch (e) {
    return { why: `needs bpftool prog loadall to load kinds.bpf.o, which failed: ${String(e).split('\n')[0]}` };
  } finally {
    rmSync(pin, { recursive: true, force: true });
  }
}
const libbpfLoaded = btfLoadedByLibbpf();

testIf(libbpfLoaded.loaded !== undefined, libbpfLoaded.why)('externs + fixup: identical to the BTF libbpf loads into the kernel (bpftool prog loadall)', () => {
  const path = objPath('kinds');
  const loaded = libbpfLoaded.loaded!;
  const elf = loadElf(path);
  const btf = Btf.parse(sectionBytes(elf, '.BTF'));
  layoutExterns(btf);
  const cb = elfCallbacks(elf);
  fixupDatasecs(btf, cb.size, cb.sym);
  // bpftool 7.1 links libbpf 1.1, which predates turning hidden globals static.
  const ours = dumpRaw(btf).replace("[80] VAR 'hidden_var' type_id=2, linkage=static", "[80] VAR 'hidden_var' type_id=2, linkage=global");
  assert.match(dumpRaw(btf), "VAR 'hidden_var' type_id=2, linkage=static");
  const d = firstDiff(ours, loaded);
  assert.is(d, undefined, d);
  console.log(`  externs + fixup: identical to kernel-loaded BTF (${loaded.split('\n').length} lines)`);
});

// ------------------------------------------------------------------------------------------------
// Encoding

test('encode: unmodified object BTF and vmlinux encode to identical bytes', () => {
  for (const name of fixtures) {
    const raw = sectionBytes(loadElf(objPath(name)), '.BTF');
    assert.ok(Buffer.from(Btf.parse(raw).encode()).equals(Buffer.from(raw)), name);
  }
  if (haveVmlinux) {
    const raw = readFileSync(VMLINUX);
    assert.ok(Buffer.from(Btf.parse(raw).encode()).equals(raw));
  }
});

test('encode: modified BTF round-trips (setType/addType/addString)', () => {
  const raw = sectionBytes(loadElf(objPath('kinds')), '.BTF');
  const btf = Btf.parse(raw);
  const n = btf.typeCount;
  const kitchen = btf.findOne('kitchen', BTF_KIND.STRUCT)!;
  const k = btf.type(kitchen);
  if (k.kind !== BTF_KIND.STRUCT) throw new Error();
  btf.setType(kitchen, { ...k, name: 'kitchen_renamed', members: k.members.slice(0, 3) });
  const intId = btf.findOne('int', BTF_KIND.INT)!;
  const e64 = btf.addType({ kind: BTF_KIND.ENUM64, name: 'new_e64', size: 8, signed: true, values: [{ name: 'NEG', value: -5n }, { name: 'BIG', value: 1n << 62n }] });
  const fp = btf.addType({ kind: BTF_KIND.FUNC_PROTO, name: '', returnType: intId, params: [{ name: 'x', type: intId }, { name: '', type: 0 }] });
  btf.addType({ kind: BTF_KIND.FUNC, name: 'new_fn', type: fp, linkage: 1 });
  btf.addType({ kind: BTF_KIND.DECL_TAG, name: 'ünïcode_tag', type: kitchen, componentIdx: 1, kflag: false });
  const off = btf.addString('only_a_string');
  assert.is(btf.strAt(off), 'only_a_string');
  assert.is(btf.addString('only_a_string'), off);
  assert.is(btf.addString('int'), btf.findStr('int')); // existing strings are reused
  assert.is(btf.typeCount, n + 4);
  assert.is(e64, n + 1);
  assert.equal(btf.findByName('kitchen', BTF_KIND.STRUCT), []);
  assert.equal(btf.findByName('kitchen_renamed'), [kitchen]);
  assert.equal(btf.findByName('new_fn'), [n + 3]);

  const again = Btf.parse(btf.encode());
  assert.is(again.typeCount, btf.typeCount);
  assert.equal(allTypes(again), allTypes(btf));
  assert.is(dumpRaw(again), dumpRaw(btf));
  assert.equal(again.findByName('ünïcode_tag'), [n + 4]);
  assert.ok(again.findStr('only_a_string') !== undefined);
  // The original bytes are untouched.
  assert.ok(Buffer.from(Btf.parse(raw).encode()).equals(Buffer.from(raw)));
});

test('encode: clone is independent', () => {
  const btf = Btf.parse(sectionBytes(loadElf(objPath('kinds')), '.BTF'));
  const c = btf.clone();
  c.setType(1, INT('renamed'));
  c.addType(INT('extra'));
  assert.is.not(btf.name(1), 'renamed');
  assert.is(c.name(1), 'renamed');
  assert.is(c.typeCount, btf.typeCount + 1);
});

// ------------------------------------------------------------------------------------------------
// Split BTF

testIf(haveVmlinux, 'needs kernel BTF (/sys/kernel/btf/vmlinux)')('split BTF: synthetic module BTF on top of vmlinux (differential with bpftool -B)', () => {
  const base = Btf.parse(readFileSync(VMLINUX));
  const task = base.findOne('task_struct', BTF_KIND.STRUCT)!;
  const intId = base.findOne('int', BTF_KIND.INT)!;
  const s = Btf.create({ base });
  assert.is(s.startId, base.typeCount + 1);
  const p = s.addType({ kind: BTF_KIND.PTR, name: '', type: task });
  const st = s.addType({
    kind: BTF_KIND.STRUCT, name: 'my_mod_struct', size: 16, kflag: false,
    members: [{ name: 'task', type: p, bitOffset: 0, bitfieldSize: 0 }, { name: 'pid', type: intId, bitOffset: 64, bitfieldSize: 0 }],
  });
  // Reuses base strings ('task_struct', 'pid') and adds new ones.
  s.addType({ kind: BTF_KIND.TYPEDEF, name: 'task_struct', type: st });
  const bytes = s.encode();
  const split = Btf.parse(bytes, { base });
  assert.is(split.startId, base.typeCount + 1);
  assert.is(split.typeCount, base.typeCount + 3);
  assert.equal(split.type(st), s.type(st));
  assert.is(split.name(task), 'task_struct');
  assert.equal(split.findByName('task_struct'), [...base.findByName('task_struct'), st + 1]);
  assert.equal(split.findByName('my_mod_struct'), [st]);
  assert.is(split.findOne('task_struct', BTF_KIND.STRUCT), task);
  assert.is(split.resolveSize(st + 1), 16);
  assert.ok(Buffer.from(split.encode()).equals(Buffer.from(bytes)));
  // Strings: 'pid' comes from the base string section, 'my_mod_struct' from ours.
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  const strLen = dv.getUint32(20, true);
  assert.ok(strLen > 0 && strLen < 64, `split strings ${strLen}`);
  if (!haveBpftool) return;
  mkdirSync(BUILD_DIR, { recursive: true });
  const file = join(BUILD_DIR, 'btf-split.bin');
  writeFileSync(file, bytes);
  const d = firstDiff(dumpRaw(split), bpftoolRaw(file, VMLINUX));
  assert.is(d, undefined, d);
});

const moduleBtfs = haveVmlinux ? readdirSync('/sys/kernel/btf').filter((m) => m !== 'vmlinux').slice(0, 5) : [];
testIf(moduleBtfs.length > 0, 'needs kernel modules with BTF in /sys/kernel/btf')('split BTF: real module BTF from /sys/kernel/btf/*', () => {
  const mods = moduleBtfs;
  const base = Btf.parse(readFileSync(VMLINUX));
  for (const m of mods) {
    const path = `/sys/kernel/btf/${m}`;
    const split = Btf.parse(readFileSync(path), { base });
    if (haveBpftool) {
      const d = firstDiff(dumpRaw(split), bpftoolRaw(path, VMLINUX));
      assert.is(d, undefined, `${m}: ${d}`);
    }
  }
});

testIf(haveVmlinux, 'needs kernel BTF (/sys/kernel/btf/vmlinux)')('split BTF: missing base is detected', () => {
  const base = Btf.parse(readFileSync(VMLINUX));
  const s = Btf.create({ base });
  s.addType({ kind: BTF_KIND.STRUCT, name: 'zz_new_name', size: 0, kflag: false, members: [] });
  const bytes = s.encode();
  throwsParseError(() => Btf.parse(bytes)); // strings do not start with '\0' / types reference nothing
});

// ------------------------------------------------------------------------------------------------
// Malformed input

test('header validation', () => {
  const raw = sectionBytes(loadElf(objPath('kinds')), '.BTF');
  const mod = (f: (b: Uint8Array, dv: DataView) => void) => {
    const b = raw.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  throwsParseError(() => Btf.parse(raw.subarray(0, 10)), /header/);
  throwsParseError(() => Btf.parse(mod((b) => { b[0] = 0; })), /magic/);
  throwsParseError(() => Btf.parse(mod((b) => { b[2] = 2; })), /version/);
  throwsParseError(() => Btf.parse(mod((_b, dv) => dv.setUint32(4, 8, true))), /header length/);
  throwsParseError(() => Btf.parse(mod((_b, dv) => dv.setUint32(4, 1 << 30, true))), /header length/);
  throwsParseError(() => Btf.parse(mod((_b, dv) => dv.setUint32(20, dv.getUint32(20, true) + 1, true))), /string section/);
  throwsParseError(() => Btf.parse(mod((_b, dv) => dv.setUint32(12, dv.getUint32(12, true) + 4, true))), /overlaps/);
  throwsParseError(() => Btf.parse(mod((_b, dv) => dv.setUint32(8, 2, true))));
  throwsParseError(() => Btf.parse(mod((_b, dv) => dv.setUint32(12, dv.getUint32(12, true) - 2, true))), /multiple of 4/);
  throwsParseError(() => Btf.parse(mod((_b, dv) => dv.setUint32(12, dv.getUint32(12, true) - 4, true))));
  // Last string byte not NUL
  throwsParseError(() => Btf.parse(mod((b) => { b[b.length - 1] = 0x41; })), /NUL/);
  // vlen larger than what is left
  throwsParseError(() => Btf.parse(mod((_b, dv) => {
    // first STRUCT in the fixture: find it and set vlen to 0xffff
    let p = 24;
    for (;;) {
      const info = dv.getUint32(p + 4, true);
      const kind = (info >>> 24) & 0x1f;
      if (kind === 4) { dv.setUint32(p + 4, (info & ~0xffffff) | 0xffff, true); return; }
      p += 12 + [0, 4, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 4, 0, 0][kind]! + (info & 0xffff) * [0, 0, 0, 0, 12, 12, 8, 0, 0, 0, 0, 0, 0, 8, 0, 12, 0, 0, 0, 12][kind]!;
    }
  })), /truncated|trailing/);
  // unknown kind
  throwsParseError(() => Btf.parse(mod((_b, dv) => dv.setUint32(28, (25 << 24) >>> 0, true))), /kind/);
});

test('decode-time validation: bad type ids and string offsets', () => {
  const b = Btf.create();
  b.addType(INT());
  b.addType({ kind: BTF_KIND.PTR, name: '', type: 7 }); // beyond the count
  b.addType({ kind: BTF_KIND.TYPEDEF, name: 't', type: 1 });
  const bytes = b.encode();
  const btf = Btf.parse(bytes);
  throwsParseError(() => btf.type(2), /invalid type id 7/);
  assert.is(btf.type(3).kind, BTF_KIND.TYPEDEF);
  // Point type 3's name beyond the strings.
  const dv = new DataView(bytes.buffer, bytes.byteOffset);
  dv.setUint32(24 + 16 + 12, 9999, true);
  const bad = Btf.parse(bytes);
  throwsParseError(() => bad.type(3), /string offset/);
  throwsParseError(() => bad.name(3), /string offset/);
  assert.equal(bad.findByName('t'), []);
  throwsParseError(() => bad.strAt(123456));
});

test('big-endian BTF parses to the same types (and re-encodes in host order)', () => {
  const raws = fixtures.map((n) => sectionBytes(loadElf(objPath(n)), '.BTF'));
  if (haveVmlinux) raws.push(new Uint8Array(readFileSync(VMLINUX)));
  for (const raw of raws) {
    const dv = new DataView(raw.buffer, raw.byteOffset);
    const hdrLen = dv.getUint32(4, true);
    const typeOff = dv.getUint32(8, true);
    const typeLen = dv.getUint32(12, true);
    const be = raw.slice();
    const bv = new DataView(be.buffer);
    bv.setUint16(0, 0xeb9f, false);
    for (let o = 4; o < 24; o += 4) bv.setUint32(o, dv.getUint32(o, true), false);
    for (let o = hdrLen + typeOff; o < hdrLen + typeOff + typeLen; o += 4) bv.setUint32(o, dv.getUint32(o, true), false);
    const a = Btf.parse(raw);
    const b = Btf.parse(be);
    assert.ok(b.swappedEndian);
    assert.not.ok(a.swappedEndian);
    assert.is(dumpRaw(b), dumpRaw(a));
    assert.ok(Buffer.from(b.encode()).equals(Buffer.from(raw)));
  }
});

test('layout section: unknown kinds are sized from it, parsed around and kept by encode', () => {
  // Header with layout_off/len (libbpf >= 1.8): one {info_sz, elem_sz, flags} per kind 0..20.
  const sizes: [number, number][] = [[0, 0], [4, 0], [0, 0], [12, 0], [0, 12], [0, 12], [0, 8], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [0, 8], [4, 0], [0, 12], [0, 0], [4, 0], [0, 0], [0, 12], [4, 8]];
  const strs = new TextEncoder().encode('\0int\0future\0');
  const types = new Uint32Array([
    1, (1 << 24) >>> 0, 4, (1 << 24) | 32, // [1] INT int
    5, ((20 << 24) | 2) >>> 0, 1, 0xaaaa, 1, 2, 3, 4, // [2] kind 20 'future', vlen 2: 1 info word + 2*2 words
    0, (2 << 24) >>> 0, 2, // [3] PTR -> 2
  ]);
  const layout = new Uint8Array(sizes.length * 4);
  sizes.forEach(([i, e], k) => { layout[k * 4] = i; layout[k * 4 + 1] = e; });
  const typeLen = types.length * 4;
  const out = new Uint8Array(32 + typeLen + layout.length + strs.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, true); out[2] = 1; dv.setUint32(4, 32, true);
  dv.setUint32(8, 0, true); dv.setUint32(12, typeLen, true);
  dv.setUint32(16, typeLen + layout.length, true); dv.setUint32(20, strs.length, true);
  dv.setUint32(24, typeLen, true); dv.setUint32(28, layout.length, true);
  out.set(new Uint8Array(types.buffer), 32);
  out.set(layout, 32 + typeLen);
  out.set(strs, 32 + typeLen + layout.length);
  const b = Btf.parse(out);
  assert.is(b.typeCount, 3);
  assert.is(b.kind(2), 20);
  assert.is(b.name(2), 'future');
  assert.equal(b.findByName('future'), [2]);
  throwsParseError(() => b.type(2), /unsupported kind 20/);
  assert.equal(b.type(3), { kind: BTF_KIND.PTR, name: '', type: 2 });
  assert.ok(Buffer.from(b.encode()).equals(Buffer.from(out)));
  // Without the layout section the same types are unparseable.
  dv.setUint32(28, 0, true);
  throwsParseError(() => Btf.parse(out), /unsupported BTF kind 20/);
});

test('fuzz: truncations and bit flips give ParseError or a valid Btf, quickly', () => {
  const raws = fixtures.map((n) => sectionBytes(loadElf(objPath(n)), '.BTF'));
  const exercise = (b: Btf) => {
    for (let id = 1; id <= b.typeCount; id++) {
      try { b.type(id); b.name(id); } catch (e) { if (!(e instanceof ParseError)) throw e; }
      try { b.resolveSize(id); } catch (e) { if (!(e instanceof ParseError)) throw e; }
      try { b.alignOf(id); } catch (e) { if (!(e instanceof ParseError)) throw e; }
      try { b.skipModsAndTypedefs(id); } catch (e) { if (!(e instanceof ParseError)) throw e; }
    }
    b.findByName('int');
    b.findByName('kitchen', BTF_KIND.STRUCT);
    try { Btf.parse(b.encode()); } catch (e) { if (!(e instanceof ParseError)) throw e; }
  };
  const attempt = (bytes: Uint8Array) => {
    let b: Btf;
    try { b = Btf.parse(bytes); } catch (e) { if (e instanceof ParseError) return; throw e; }
    exercise(b);
  };
  const t0 = performance.now();
  for (const raw of raws) {
    for (let len = 0; len < raw.length; len += 1) attempt(raw.slice(0, len));
    const r = rng(raw.length);
    for (let i = 0; i < 1500; i++) {
      const b = raw.slice();
      const flips = 1 + Math.floor(r() * 4);
      for (let j = 0; j < flips; j++) {
        const pos = Math.floor(r() * b.length);
        b[pos]! ^= 1 << Math.floor(r() * 8);
      }
      attempt(b);
    }
    // Random word overwrites in the type section hit ids, vlens and kinds harder than bit flips.
    for (let i = 0; i < 1500; i++) {
      const b = raw.slice();
      const dv = new DataView(b.buffer);
      const typeLen = dv.getUint32(12, true);
      const pos = 24 + 4 * Math.floor(r() * (typeLen / 4));
      const choices = [0, 1, 0xffffffff, 0x80000000, Math.floor(r() * 2 ** 32), Math.floor(r() * 200), (Math.floor(r() * 32) << 24) | Math.floor(r() * 8)];
      dv.setUint32(pos, choices[Math.floor(r() * choices.length)]! >>> 0, true);
      attempt(b);
    }
  }
  const ms = performance.now() - t0;
  assert.ok(ms < 60_000, `fuzz took ${ms} ms`);
});

testIf(haveVmlinux, 'needs kernel BTF (/sys/kernel/btf/vmlinux)')('fuzz: vmlinux truncations', () => {
  const raw = new Uint8Array(readFileSync(VMLINUX));
  const r = rng(1);
  for (let i = 0; i < 20; i++) {
    const len = Math.floor(r() * raw.length);
    try { Btf.parse(raw.subarray(0, len)); } catch (e) { assert.instance(e, ParseError); }
  }
});

// ------------------------------------------------------------------------------------------------
// Performance

testIf(haveVmlinux, 'needs kernel BTF (/sys/kernel/btf/vmlinux)')('performance: vmlinux parse and parse + 20 struct lookups', () => {
  const raw = readFileSync(VMLINUX);
  const names = ['task_struct', 'sk_buff', 'file', 'inode', 'sock', 'net_device', 'mm_struct', 'cgroup', 'bpf_prog', 'bpf_map',
    'pt_regs', 'xdp_md', 'socket', 'dentry', 'super_block', 'page', 'vm_area_struct', 'bpf_insn', 'linux_binprm', 'cred'];
  const parseTimes: number[] = [];
  const lookupTimes: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const b = Btf.parse(raw);
    const t1 = performance.now();
    for (const n of names) assert.ok(b.findOne(n, BTF_KIND.STRUCT), n);
    const t2 = performance.now();
    parseTimes.push(t1 - t0);
    lookupTimes.push(t2 - t0);
  }
  const fmt = (a: number[]) => `first ${a[0]!.toFixed(1)} ms, best ${Math.min(...a).toFixed(1)} ms`;
  console.log(`  vmlinux (${raw.length} bytes): parse ${fmt(parseTimes)}; parse + 20 lookups ${fmt(lookupTimes)}`);
  assert.ok(Math.min(...lookupTimes) < 200);
});

test.run();
