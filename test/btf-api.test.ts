// The BTF building blocks in tsbpf's public API (issue #6): emit one type declaration
// (btf_dump__emit_type_decl), and the size and alignment of a type (btf__resolve_size, btf__align_of).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Btf, BtfDumper, BTF_KIND, dumpC } from '../src/index.js';

/** struct s { char c; int a[3]; long *p; } and a packed struct, a typedef'd function pointer, a const. */
function sample(): { btf: Btf; ids: Record<string, number> } {
  const btf = Btf.create();
  const int = btf.addType({ kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 });
  const char = btf.addType({ kind: BTF_KIND.INT, name: 'char', size: 1, encoding: { signed: false, char: true, bool: false }, bitOffset: 0, bits: 8 });
  const long = btf.addType({ kind: BTF_KIND.INT, name: 'long', size: 8, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 64 });
  const arr = btf.addType({ kind: BTF_KIND.ARRAY, name: '', type: int, indexType: int, nelems: 3 });
  const ptr = btf.addType({ kind: BTF_KIND.PTR, name: '', type: long });
  const s = btf.addType({
    kind: BTF_KIND.STRUCT, name: 's', size: 24, kflag: false, members: [
      { name: 'c', type: char, bitOffset: 0, bitfieldSize: 0 },
      { name: 'a', type: arr, bitOffset: 32, bitfieldSize: 0 },
      { name: 'p', type: ptr, bitOffset: 128, bitfieldSize: 0 },
    ],
  });
  const packed = btf.addType({
    kind: BTF_KIND.STRUCT, name: 'pk', size: 5, kflag: false, members: [
      { name: 'c', type: char, bitOffset: 0, bitfieldSize: 0 },
      { name: 'i', type: int, bitOffset: 8, bitfieldSize: 0 },
    ],
  });
  const proto = btf.addType({ kind: BTF_KIND.FUNC_PROTO, name: '', returnType: int, params: [{ name: 'x', type: ptr }] });
  const fptr = btf.addType({ kind: BTF_KIND.PTR, name: '', type: proto });
  const cint = btf.addType({ kind: BTF_KIND.CONST, name: '', type: int });
  return { btf, ids: { int, char, arr, ptr, s, packed, fptr, cint } };
}

test('size and alignment of a type', () => {
  const { btf, ids } = sample();
  assert.is(btf.resolveSize(ids.s!), 24);
  assert.is(btf.alignOf(ids.s!), 8);
  assert.is(btf.resolveSize(ids.arr!), 12);
  assert.is(btf.alignOf(ids.arr!), 4);
  assert.is(btf.resolveSize(ids.cint!), 4);
  assert.is(btf.resolveSize(ids.packed!), 5);
  assert.is(btf.alignOf(ids.packed!), 1);
  assert.is(btf.alignOf(ids.char!), 1);
});

test('emit one type declaration', () => {
  const { btf, ids } = sample();
  const d = new BtfDumper(btf);
  assert.is(d.emitTypeDecl(ids.arr!, { fieldName: 'vals' }), 'int vals[3]');
  assert.is(d.emitTypeDecl(ids.fptr!, { fieldName: 'cb' }), 'int (*cb)(long *x)');
  assert.is(d.emitTypeDecl(ids.cint!, { fieldName: 'k' }), 'const int k');
  assert.is(d.emitTypeDecl(ids.cint!, { fieldName: 'k', stripMods: true }), 'int k');
  assert.is(d.emitTypeDecl(ids.ptr!), 'long *');
  assert.is(d.emitTypeDecl(ids.s!, { fieldName: 'v' }), 'struct s v');
});

test('dump one type with what it needs, and the whole header', () => {
  const { btf, ids } = sample();
  const d = new BtfDumper(btf);
  assert.is(d.dumpType(ids.s!), 'struct s {\n\tchar c;\n\tint a[3];\n\tlong *p;\n};\n\n');
  assert.is(d.dumpType(ids.s!), '', 'a type is defined once per dumper');
  assert.is(d.dumpType(ids.packed!), 'struct pk {\n\tchar c;\n\tint i;\n} __attribute__((packed));\n\n');
  const h = dumpC(btf);
  assert.ok(h.startsWith('#ifndef __VMLINUX_H__\n'));
  assert.ok(h.includes('struct s {\n'));
  assert.ok(h.endsWith('#endif /* __VMLINUX_H__ */\n'));
});

test.run();
