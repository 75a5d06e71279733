// Skeleton generation on malformed BTF: a type that contains itself (a named struct, an anonymous
// struct, an array) or nesting deeper than the generator follows ends in a ParseError that names the
// type, never in a stack overflow. The inputs are skel-types.bpf.o with its .BTF rebuilt by the BTF
// encoder, so everything but the loop is a real object.

import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BTF_KIND, Btf, type BtfArray, type BtfStruct, type BtfType } from '../btf/index.js';
import { ElfFile } from '../elf/index.js';
import { ParseError, generateSkeleton } from '../src/index.js';
import { compileBpf } from './support/compile.js';
import { elfLayout } from './fuzz/layout.js';
import { replaceSection } from './fuzz/mutate.js';

const OBJ = new Uint8Array(readFileSync(compileBpf('skel-types')));

/** skel-types.bpf.o with its .BTF replaced by `edit` applied to the parsed BTF. */
function withBtf(edit: (btf: Btf, kitchen: number, k: BtfStruct) => void): Uint8Array {
  const L = elfLayout(OBJ);
  const sec = ElfFile.parse(OBJ).section('.BTF')!;
  const btf = Btf.parse(sec.data.slice());
  const kitchen = btf.findOne('kitchen', BTF_KIND.STRUCT)!;
  edit(btf, kitchen, btf.type(kitchen) as BtfStruct);
  return replaceSection(OBJ, L, L.btf!.index, btf.encode());
}

function member(btf: Btf, k: BtfStruct, name: string): { m: BtfStruct['members'][number]; t: BtfType } {
  const m = k.members.find((x) => x.name === name)!;
  return { m, t: btf.type(m.type) };
}

function generationError(obj: Uint8Array): unknown {
  try {
    generateSkeleton(obj, { name: 'loop' });
  } catch (e) {
    return e;
  }
  return undefined;
}

test('the unmodified object generates (the edits below are what breaks it)', () => {
  assert.ok(generateSkeleton(withBtf(() => {}), { name: 'loop' }).includes('struct_kitchen'));
});

test('a named struct containing itself: ParseError naming the struct', () => {
  const obj = withBtf((btf, kitchen, k) => {
    member(btf, k, 'in').m.type = kitchen;
    btf.setType(kitchen, k);
  });
  const e = generationError(obj);
  assert.instance(e, ParseError, String(e));
  assert.match((e as Error).message, /struct 'kitchen' contains itself/);
});

test('an array whose element is itself: ParseError naming the array type', () => {
  let arrId = 0;
  const obj = withBtf((btf, _kitchen, k) => {
    const { m, t } = member(btf, k, 'arr');
    assert.is(t.kind, BTF_KIND.ARRAY);
    arrId = m.type;
    btf.setType(arrId, { ...(t as BtfArray), type: arrId });
  });
  const e = generationError(obj);
  assert.instance(e, ParseError, String(e));
  assert.match((e as Error).message, new RegExp(`BTF type \\[${arrId}\\] array contains itself`));
});

test('an anonymous struct containing itself: ParseError naming its type id', () => {
  let anonId = 0;
  const obj = withBtf((btf, _kitchen, k) => {
    const { m, t } = member(btf, k, 'pt');
    anonId = m.type;
    const s = t as BtfStruct;
    btf.setType(anonId, { ...s, members: s.members.map((x, i) => (i === 0 ? { ...x, type: anonId } : x)) });
  });
  const e = generationError(obj);
  assert.instance(e, ParseError, String(e));
  assert.match((e as Error).message, new RegExp(`BTF type \\[${anonId}\\] \\(anonymous struct\\) contains itself`));
});

/** `in` becomes `depth` nested one-member structs named wrap_N around struct inner (same size). */
function nested(depth: number): Uint8Array {
  return withBtf((btf, kitchen, k) => {
    const inner = member(btf, k, 'in');
    const size = btf.resolveSize(inner.m.type);
    let id = inner.m.type;
    for (let i = 0; i < depth; i++) {
      id = btf.addType({ kind: BTF_KIND.STRUCT, name: `wrap_${i}`, size, kflag: false, members: [{ name: 'w', type: id, bitOffset: 0, bitfieldSize: 0 }] });
    }
    inner.m.type = id;
    btf.setType(kitchen, k);
  });
}

test('nesting is bounded: 40 levels generate, 200 levels are a ParseError (no stack overflow)', () => {
  const ok = generateSkeleton(nested(40), { name: 'deep' });
  assert.ok(ok.includes('struct_wrap_39'));
  const e = generationError(nested(200));
  assert.instance(e, ParseError, String(e));
  assert.match((e as Error).message, /nested more than 64 types deep/);
});

test.run();
