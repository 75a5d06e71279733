// sanitizeBtf (libbpf bpf_object__sanitize_btf) and featureProbeBtf (libbpf features.c blobs).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, BTF_KIND, dumpRaw, featureProbeBtf, fixupDatasecs, sanitizeBtf } from '../btf/index.js';
import type { BtfFeatures, BtfType } from '../btf/index.js';
import { BUILD_DIR, bpftoolRaw, compileFixture, firstDiff, haveCommand, loadElf, sectionBytes } from './btf-fixtures/support.js';

const ALL: BtfFeatures = { btf: true, func: true, globalFunc: true, datasec: true, qmarkDatasec: true, float: true, declTag: true, typeTag: true, enum64: true };
const without = (...keys: (keyof BtfFeatures)[]): BtfFeatures => {
  const f = { ...ALL };
  for (const k of keys) f[k] = false;
  return f;
};

/** The kinds fixture after the loader's DATASEC fixup (what gets sanitized in practice). */
function objectBtf(): Btf {
  const elf = loadElf(compileFixture('kinds'));
  const btf = Btf.parse(sectionBytes(elf, '.BTF'));
  fixupDatasecs(btf, (s) => elf.section(s)?.size, (_s, n) => {
    const sym = elf.symbols.find((x) => x.name === n && x.type === 1 && (x.bind === 1 || x.bind === 2));
    return sym ? { offset: sym.value, hidden: sym.visibility === 2 || sym.visibility === 1 } : undefined;
  });
  return btf;
}

function types(b: Btf): BtfType[] {
  const out: BtfType[] = [];
  for (let id = 1; id <= b.typeCount; id++) out.push(b.type(id));
  return out;
}

/** Sanitize, check the input is untouched and the output survives encode → parse. */
function sanitized(b: Btf, f: BtfFeatures): Btf {
  const before = dumpRaw(b);
  const out = sanitizeBtf(b, f);
  assert.is(dumpRaw(b), before, 'input was modified');
  const re = Btf.parse(out.encode());
  assert.equal(types(re), types(out));
  return re;
}

const kindsOf = (b: Btf) => new Set(types(b).map((t) => t.kind));

test('all features present: nothing changes', () => {
  const b = objectBtf();
  const s = sanitizeBtf(b, ALL);
  assert.ok(Buffer.from(s.encode()).equals(Buffer.from(b.encode())));
  assert.is.not(s, b);
});

test('no datasec: VAR → INT (size 1), DATASEC → STRUCT with sanitized name and member per var', () => {
  const b = objectBtf();
  const s = sanitized(b, without('datasec'));
  assert.not.ok(kindsOf(s).has(BTF_KIND.VAR));
  assert.not.ok(kindsOf(s).has(BTF_KIND.DATASEC));
  const dv = b.findOne('data_var', BTF_KIND.VAR)!;
  assert.equal(s.type(dv), { kind: BTF_KIND.INT, name: 'data_var', size: 1, encoding: { signed: false, char: false, bool: false }, bitOffset: 0, bits: 8 });
  const data = b.type(b.findOne('.data', BTF_KIND.DATASEC)!);
  const id = b.findOne('.data', BTF_KIND.DATASEC)!;
  const st = s.type(id);
  assert.is(st.kind, BTF_KIND.STRUCT);
  if (st.kind !== BTF_KIND.STRUCT || data.kind !== BTF_KIND.DATASEC) return;
  assert.is(st.name, '_data');
  assert.is(st.size, data.size);
  assert.equal(st.members, data.vars.map((v) => ({ name: b.name(v.type), type: v.type, bitOffset: v.offset * 8, bitfieldSize: 0 })));
  assert.is(s.type(b.findOne('.rodata.custom', BTF_KIND.DATASEC)!).name, '_rodata_custom');
  // The unrelated kinds stay.
  assert.ok(kindsOf(s).has(BTF_KIND.FUNC));
});

test('no qmarkDatasec: a leading ? in DATASEC names becomes _', () => {
  const b = Btf.parse(featureProbeBtf('qmarkDatasec'));
  const s = sanitized(b, without('qmarkDatasec'));
  assert.is(s.type(3).name, '_.data');
  assert.is(s.kind(3), BTF_KIND.DATASEC);
  // without datasec support the STRUCT path renames all of it
  assert.is(sanitized(b, without('qmarkDatasec', 'datasec')).type(3).name, '__data');
});

test('no declTag: DECL_TAG → INT size 1', () => {
  const b = objectBtf();
  const s = sanitized(b, without('declTag'));
  assert.not.ok(kindsOf(s).has(BTF_KIND.DECL_TAG));
  const id = b.findOne('func_tag', BTF_KIND.DECL_TAG)!;
  const t = s.type(id);
  assert.equal(t, { kind: BTF_KIND.INT, name: 'func_tag', size: 1, encoding: { signed: false, char: false, bool: false }, bitOffset: 0, bits: 8 });
});

test('no func: FUNC_PROTO → ENUM (size 4, params as enumerators), FUNC → TYPEDEF', () => {
  const b = objectBtf();
  const s = sanitized(b, without('func'));
  assert.not.ok(kindsOf(s).has(BTF_KIND.FUNC));
  assert.not.ok(kindsOf(s).has(BTF_KIND.FUNC_PROTO));
  const fid = b.findOne('helper', BTF_KIND.FUNC)!;
  const f = b.type(fid);
  if (f.kind !== BTF_KIND.FUNC) throw new Error();
  assert.equal(s.type(fid), { kind: BTF_KIND.TYPEDEF, name: 'helper', type: f.type });
  const proto = b.type(f.type);
  if (proto.kind !== BTF_KIND.FUNC_PROTO) throw new Error();
  assert.equal(s.type(f.type), { kind: BTF_KIND.ENUM, name: '', size: 4, signed: false, values: proto.params.map((p) => ({ name: p.name, value: p.type })) });
  // FUNC→TYPEDEF takes precedence over the global→static rewrite
  assert.is(s.kind(b.findOne('global_func', BTF_KIND.FUNC)!), BTF_KIND.TYPEDEF);
});

test('no globalFunc: FUNC linkage global/extern → static', () => {
  const b = objectBtf();
  const s = sanitized(b, without('globalFunc'));
  for (let id = 1; id <= s.typeCount; id++) {
    const t = s.type(id);
    if (t.kind === BTF_KIND.FUNC) assert.is(t.linkage, 0, t.name);
  }
  const g = b.type(b.findOne('global_func', BTF_KIND.FUNC)!);
  assert.is(g.kind === BTF_KIND.FUNC && g.linkage, 1);
});

test('no float: FLOAT → anonymous empty STRUCT of the same size', () => {
  const b = objectBtf();
  const s = sanitized(b, without('float'));
  assert.not.ok(kindsOf(s).has(BTF_KIND.FLOAT));
  for (const id of b.findByName('double', BTF_KIND.FLOAT)) {
    assert.equal(s.type(id), { kind: BTF_KIND.STRUCT, name: '', size: 8, kflag: false, members: [] });
  }
  assert.ok(b.findByName('long double', BTF_KIND.FLOAT).length === 1);
  const ld = b.findOne('long double', BTF_KIND.FLOAT)!;
  assert.is(s.resolveSize(ld), b.resolveSize(ld));
});

test('no typeTag: TYPE_TAG → anonymous CONST', () => {
  const b = objectBtf();
  const s = sanitized(b, without('typeTag'));
  const id = b.findOne('user', BTF_KIND.TYPE_TAG)!;
  const t = b.type(id);
  assert.equal(s.type(id), { kind: BTF_KIND.CONST, name: '', type: t.kind === BTF_KIND.TYPE_TAG ? t.type : -1 });
});

test('no enum64: ENUM signedness cleared, ENUM64 → UNION of an added enum64_placeholder INT', () => {
  const b = objectBtf();
  const s = sanitized(b, without('enum64'));
  assert.is(s.typeCount, b.typeCount + 1);
  const ph = s.typeCount;
  assert.equal(s.type(ph), { kind: BTF_KIND.INT, name: 'enum64_placeholder', size: 1, encoding: { signed: false, char: false, bool: false }, bitOffset: 0, bits: 8 });
  for (const name of ['big_enum', 'big_signed']) {
    const id = b.findOne(name, BTF_KIND.ENUM64)!;
    const e = b.type(id);
    if (e.kind !== BTF_KIND.ENUM64) throw new Error();
    assert.equal(s.type(id), { kind: BTF_KIND.UNION, name, size: 8, kflag: false, members: e.values.map((v) => ({ name: v.name, type: ph, bitOffset: 0, bitfieldSize: 0 })) });
  }
  const sn = s.type(b.findOne('signed_enum', BTF_KIND.ENUM)!);
  assert.is(sn.kind === BTF_KIND.ENUM && sn.signed, false);
  assert.not.ok(kindsOf(s).has(BTF_KIND.ENUM64));
});

test('everything missing: only pre-5.0 kinds remain, sizes are preserved', () => {
  const b = objectBtf();
  const s = sanitized(b, { ...without('func', 'globalFunc', 'datasec', 'qmarkDatasec', 'float', 'declTag', 'typeTag', 'enum64') });
  for (const k of kindsOf(s)) assert.ok(k >= 1 && k <= 11, `kind ${k} left`);
  for (const name of ['kitchen', 'bits']) {
    const id = b.findOne(name, BTF_KIND.STRUCT)!;
    assert.is(s.resolveSize(id), b.resolveSize(id));
  }
  assert.is(s.pointerSize, 8);
});

const PROBES: Record<keyof BtfFeatures, string> = {
  btf: "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n",
  func: "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n[2] FUNC_PROTO '(anon)' ret_type_id=0 vlen=1\n\t'a' type_id=1\n[3] FUNC 'x' type_id=2 linkage=static\n",
  globalFunc: "[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n[2] FUNC_PROTO '(anon)' ret_type_id=0 vlen=1\n\t'a' type_id=1\n[3] FUNC 'x' type_id=2 linkage=global\n",
  datasec: "[1] INT '(anon)' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n[2] VAR 'x' type_id=1, linkage=static\n[3] DATASEC '.data' size=4 vlen=1\n\ttype_id=2 offset=0 size=4 (VAR 'x')\n",
  qmarkDatasec: "[1] INT '(anon)' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n[2] VAR 'x' type_id=1, linkage=static\n[3] DATASEC '?.data' size=4 vlen=1\n\ttype_id=2 offset=0 size=4 (VAR 'x')\n",
  float: "[1] FLOAT 'float' size=4\n",
  declTag: "[1] INT '(anon)' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n[2] VAR 'tag' type_id=1, linkage=static\n[3] DECL_TAG 'tag' type_id=2 component_idx=-1\n",
  typeTag: "[1] INT '(anon)' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n[2] TYPE_TAG 'tag' type_id=1\n[3] PTR '(anon)' type_id=2\n",
  enum64: "[1] ENUM64 'enum64' encoding=UNSIGNED size=8 vlen=0\n",
};

test('featureProbeBtf: one blob per feature, the shapes libbpf probes with (also parsed by bpftool)', () => {
  const bpftool = haveCommand('bpftool');
  mkdirSync(BUILD_DIR, { recursive: true });
  for (const [feature, expected] of Object.entries(PROBES) as [keyof BtfFeatures, string][]) {
    const bytes = featureProbeBtf(feature);
    const b = Btf.parse(bytes);
    assert.is(dumpRaw(b), expected, feature);
    if (!bpftool) continue;
    const file = join(BUILD_DIR, `btf-probe-${feature}.bin`);
    writeFileSync(file, bytes);
    const d = firstDiff(dumpRaw(b), bpftoolRaw(file));
    assert.is(d, undefined, `${feature}: ${d}`);
  }
});

test.run();
