// Struct_ops (issue #4): SEC(".struct_ops") / SEC(".struct_ops.link") variables become struct_ops maps
// whose function pointers name SEC("struct_ops/...") programs. Checked here: parsing (maps, which
// program each member names, '?' sections), the kernel value built from the object's struct (data
// members at the kernel's offsets, libbpf's compatibility checks), the programs' attach target (the
// kernel struct's BTF id and the member index), registering tcp_congestion_ops live (with and without
// a BPF link, link update to another map, obj.attach()), and the same results as libbpf 1.1 through
// the reference harness for what it understands (.struct_ops only).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { BTF_KIND, Btf, BpfError, BpfObject, NotSupportedError, StateError, generateSkeleton, type Skeleton } from '../src/index.js';
import { kernelBtf } from '../src/kernel-btf.js';
import { buildKernelValue, findKernelStructOps, type KernelStructOpsTypes } from '../src/struct-ops.js';
import { isStructOpsSection } from '../src/spec/struct-ops.js';
import { mapInfo, mapLookupElem, progInfo } from '../syscalls/index.js';
import { BUILD_DIR, REPO_ROOT, compileBpf } from './support/compile.js';
import { refRun } from './support/ref.js';
import { importTs } from './support/ts-import.js';
import { markIds, settledLeftovers, track } from './attach-support.js';

const OBJ = compileBpf('struct_ops');
const REF_OBJ = compileBpf('struct_ops', { defines: { REF_ONLY: '' } });
const marks = markIds();
const BPF_F_LINK = 1 << 13;

const open: BpfObject[] = [];
function openObj(path = OBJ): BpfObject {
  const obj = BpfObject.open(path);
  open.push(obj);
  return obj;
}
test.after.each(() => {
  for (const o of open.splice(0)) o.close();
});

/** The congestion control algorithms the kernel knows now. */
function congestionControls(): string[] {
  return readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim().split(/\s+/);
}

function kernelStruct(name: string): { id: number; members: { name: string; offset: number }[] } {
  const btf = kernelBtf();
  const id = btf.findOne(name, BTF_KIND.STRUCT)!;
  const t = btf.type(id);
  if (t.kind !== BTF_KIND.STRUCT) throw new Error(`${name} is not a struct`);
  return { id, members: t.members.map((m) => ({ name: m.name, offset: m.bitOffset / 8 })) };
}

const memberIndex = (name: string): number => kernelStruct('tcp_congestion_ops').members.findIndex((m) => m.name === name);

// -------------------------------------------------------------------------------------------------
// Parsing

test('parse: struct_ops sections libbpf reads', () => {
  for (const s of ['.struct_ops', '.struct_ops.link', '?.struct_ops', '?.struct_ops.link']) assert.ok(isStructOpsSection(s), s);
  for (const s of ['.struct_ops.foo', 'struct_ops', '.struct_opsx', '?.struct_ops.link.x']) assert.not.ok(isStructOpsSection(s), s);
});

test('parse: one map per variable, named after it, with the program of each function pointer', () => {
  const obj = openObj();
  const so = [...obj.maps.values()].filter((m) => m.structOps);
  assert.equal(so.map((m) => m.name), ['cc_full', 'cc_noprog', 'dummy', 'cc_link', 'cc_link2', 'cc_link3', 'dummy2', 'cc_off']);
  for (const m of so) {
    assert.is(m.type, 26, m.name); // BPF_MAP_TYPE_STRUCT_OPS
    assert.is(m.keySize, 4);
    assert.is(m.maxEntries, 1);
    assert.not.ok(m.isGlobalData);
  }
  const by = (n: string) => obj.map(n).structOps!;
  assert.is(by('cc_full').typeName, 'tcp_congestion_ops');
  assert.is(by('dummy').typeName, 'bpf_dummy_ops');
  assert.equal([...by('cc_full').programsByMember], [['ssthresh', 'so_ssthresh'], ['cong_avoid', 'so_cong_avoid'], ['undo_cwnd', 'so_undo_cwnd']]);
  assert.equal([...by('cc_noprog').programsByMember], []);
  assert.is(by('cc_link2').program('undo_cwnd'), 'so_undo_cwnd2');
  assert.is(by('cc_link2').program('cong_control'), undefined);
  // .struct_ops.link: BPF_F_LINK; '?': not created unless asked.
  assert.is(obj.map('cc_full').mapFlags, 0);
  assert.is(obj.map('cc_link').mapFlags, BPF_F_LINK);
  assert.ok(by('cc_link').isLink);
  assert.not.ok(by('cc_full').isLink);
  assert.ok(by('cc_full').autocreate);
  assert.not.ok(by('cc_off').autocreate);
  // The object's struct as compiled: the initial value is the shadow data, name at its local offset.
  const nameOff = by('cc_full').members.find((m) => m.name === 'name')!.offset;
  const init = obj.map('cc_full').initialValue;
  assert.is(Buffer.from(init.subarray(nameOff, nameOff + 13)).toString(), 'tsbpf_so_full');
  // The value size is the object's struct until load (the kernel's wrapper struct from then on).
  assert.is(obj.map('cc_full').valueSize, obj.btf!.resolveSize(obj.btf!.findOne('tcp_congestion_ops', BTF_KIND.STRUCT)!));
});

test('parse: the same maps and programs as libbpf', () => {
  const r = refRun(REF_OBJ, []);
  const obj = openObj(REF_OBJ);
  assert.equal([...obj.maps.keys()], r.lines[0]!.maps);
  assert.equal([...obj.programs.keys()], r.lines[0]!.progs);
});

test('parse: a function pointer to a program that is not struct_ops is refused, as libbpf does', () => {
  const path = compileBpf('struct_ops', { defines: { BAD_PROG: '' } });
  try {
    BpfObject.open(path);
    assert.unreachable('opened');
  } catch (e) {
    assert.instance(e, BpfError);
    assert.is((e as BpfError).errno, 22);
    assert.match((e as Error).message, /member 'ssthresh' points to 'not_struct_ops', which is not a struct_ops program/);
  }
});

test('setProgram: only struct_ops programs, only function pointer members, only before load', async () => {
  const obj = openObj();
  const st = obj.map('cc_link2').structOps!;
  assert.throws(() => st.setProgram('name', 'so_ssthresh'), /not a function pointer/);
  assert.throws(() => st.setProgram('nope', 'so_ssthresh'), /has no member 'nope'/);
  assert.throws(() => st.setProgram('undo_cwnd', 'missing'), /not a program of it/);
  // so_undo_cwnd2 is then used by no map: it is not loaded, as in libbpf.
  st.setProgram('undo_cwnd', obj.program('so_undo_cwnd'));
  await obj.load();
  track(obj);
  assert.not.ok(obj.program('so_undo_cwnd2').loaded);
  assert.throws(() => st.setProgram('undo_cwnd', null), (e: unknown) => e instanceof StateError);
});

// -------------------------------------------------------------------------------------------------
// The kernel value

test('kernel value: data members at the kernel offsets, function pointers filled with program fds at load', async () => {
  const obj = openObj();
  await obj.load();
  track(obj);
  const map = obj.map('cc_full');
  const k = map.structOps!.kernel!;
  const wrapper = kernelStruct('bpf_struct_ops_tcp_congestion_ops');
  const ops = kernelStruct('tcp_congestion_ops');
  assert.is(k.types.typeId, ops.id);
  assert.is(k.types.valueTypeId, wrapper.id);
  assert.is(k.types.dataOffset, wrapper.members.find((m) => m.name === 'data')!.offset);
  assert.is(map.valueSize, kernelBtf().resolveSize(wrapper.id));
  const at = (member: string): number => k.types.dataOffset + ops.members.find((m) => m.name === member)!.offset;
  const v = k.value;
  const dv = new DataView(v.buffer, v.byteOffset, v.length);
  assert.is(Buffer.from(v.subarray(at('name'), at('name') + 16)).toString('latin1'), 'tsbpf_so_full\0\0\0');
  assert.is(dv.getUint32(at('flags'), true), 1);
  // The header (refcnt, state) is left to the kernel.
  assert.ok(v.subarray(0, k.types.dataOffset).every((b) => b === 0));
  for (const [member, prog] of [['ssthresh', 'so_ssthresh'], ['cong_avoid', 'so_cong_avoid'], ['undo_cwnd', 'so_undo_cwnd']] as const) {
    assert.is(dv.getBigUint64(at(member), true), BigInt(obj.program(prog).fd), member);
  }
  assert.is(dv.getBigUint64(at('cong_control'), true), 0n);
  // The map itself, as the kernel sees it.
  const info = mapInfo(map.fd);
  assert.is(info.type, 26);
  assert.is(info.valueSize, map.valueSize);
  assert.is(info.btfVmlinuxValueTypeId, wrapper.id);
  assert.is(info.btfKeyTypeId, 0);
  assert.is(info.btfValueTypeId, 0);
});

test('kernel value: libbpf\'s checks of the object\'s struct against the kernel\'s', () => {
  // A tiny "kernel" and "object" BTF: struct ops { int a; long b; void (*f)(void); } in the kernel.
  const mk = (members: { name: string; kind: 'int' | 'long' | 'fn' | 'char' | 'bits' }[], extra = false): { btf: Btf; id: number } => {
    const btf = Btf.create();
    const int = btf.addType({ kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 });
    const long = btf.addType({ kind: BTF_KIND.INT, name: 'long', size: 8, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 64 });
    const char = btf.addType({ kind: BTF_KIND.INT, name: 'char', size: 1, encoding: { signed: true, char: true, bool: false }, bitOffset: 0, bits: 8 });
    const proto = btf.addType({ kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 0, params: [] });
    const fptr = btf.addType({ kind: BTF_KIND.PTR, name: '', type: proto });
    const type = { int, long, fn: fptr, char, bits: int } as const;
    let off = 0;
    const ms = members.map((m) => {
      const o = { name: m.name, type: type[m.kind], bitOffset: off * 8, bitfieldSize: m.kind === 'bits' ? 3 : 0 };
      off += 8;
      return o;
    });
    const id = btf.addType({ kind: BTF_KIND.STRUCT, name: 'ops', size: off, kflag: members.some((m) => m.kind === 'bits'), members: ms });
    if (extra) {
      const w = btf.addType({ kind: BTF_KIND.STRUCT, name: 'bpf_struct_ops_ops', size: 16 + off, kflag: false, members: [
        { name: 'common', type: long, bitOffset: 0, bitfieldSize: 0 }, { name: 'pad', type: long, bitOffset: 64, bitfieldSize: 0 },
        { name: 'data', type: id, bitOffset: 128, bitfieldSize: 0 },
      ] });
      void w;
    }
    return { btf, id };
  };
  const kernel = mk([{ name: 'a', kind: 'int' }, { name: 'b', kind: 'long' }, { name: 'f', kind: 'fn' }], true);
  const kt: KernelStructOpsTypes = findKernelStructOps('ops___flavor', { vmlinux: () => kernel.btf, modules: () => [] });
  assert.is(kt.dataOffset, 16);
  assert.is(kt.valueSize, 40);
  const build = (local: ReturnType<typeof mk>, data: number[], programs: (string | undefined)[] = []) =>
    buildKernelValue('m', { btf: local.btf, typeId: local.id, data: Uint8Array.from(data), programs }, kt);
  const bytes = (n: number, fill = 0): number[] => new Array(n).fill(fill);

  // Members matched by name, in another order; the function pointer gets the program.
  const reordered = mk([{ name: 'f', kind: 'fn' }, { name: 'b', kind: 'long' }, { name: 'a', kind: 'int' }]);
  const r = build(reordered, [...bytes(8, 0xee), ...bytes(8, 2), 7, 0, 0, 0, 0, 0, 0, 0], ['prog_f']);
  assert.equal([...r.value.subarray(16, 20)], [7, 0, 0, 0]);
  assert.equal([...r.value.subarray(24, 32)], bytes(8, 2));
  // Pointer bytes of the object are never copied.
  assert.equal([...r.value.subarray(32, 40)], bytes(8));
  assert.equal(r.funcs, [{ member: 'f', program: 'prog_f', kernelMemberIndex: 2, valueOffset: 32 }]);

  // A member the kernel lacks: fine when zero, ENOTSUP when set (or pointing to a program).
  const newer = mk([{ name: 'a', kind: 'int' }, { name: 'z', kind: 'long' }]);
  assert.equal([...build(newer, [1, ...bytes(15)]).value.subarray(16, 20)], [1, 0, 0, 0]);
  assert.throws(() => build(newer, [1, ...bytes(7), 5, ...bytes(7)]), (e: unknown) => e instanceof BpfError && e.errno === 95 && /member 'z' is not in the kernel's struct ops/.test(e.message));
  const newerFn = mk([{ name: 'g', kind: 'fn' }]);
  assert.throws(() => build(newerFn, bytes(8), ['p']), /member 'g' \(set to program 'p'\) is not in the kernel/);
  // Size and kind must match; bitfields are refused.
  assert.throws(() => build(mk([{ name: 'a', kind: 'long' }]), bytes(8)), /member 'a' is 8 bytes here but 4 in the kernel/);
  assert.throws(() => build(mk([{ name: 'b', kind: 'fn' }]), bytes(8)), /member 'b' is of kind ptr here but int in the kernel/);
  assert.throws(() => build(mk([{ name: 'a', kind: 'bits' }]), bytes(8)), /bitfield 'a' is not supported/);
  // No wrapper struct: the kernel has no such struct_ops type.
  assert.throws(() => findKernelStructOps('nope', { vmlinux: () => kernel.btf, modules: () => [] }),
    (e: unknown) => e instanceof BpfError && e.errno === 3 && /bpf_struct_ops_nope is not in the kernel's BTF/.test(e.message));
});

// -------------------------------------------------------------------------------------------------
// Programs

test('programs: attach_btf_id is the kernel struct, expected_attach_type the member index; unused ones are not loaded', async () => {
  const obj = openObj();
  await obj.load();
  track(obj);
  const ops = kernelStruct('tcp_congestion_ops');
  for (const p of ['so_ssthresh', 'so_undo_cwnd', 'so_cong_avoid', 'so_undo_cwnd2']) {
    const info = progInfo(obj.program(p).fd, { mapIds: false });
    assert.is(info.type, 27, p); // BPF_PROG_TYPE_STRUCT_OPS
    assert.is(info.attachBtfId, ops.id, p);
  }
  // The member index each program was loaded with, from the maps that use it (the same in every map).
  const members = new Map<string, number>();
  for (const m of obj.maps.values()) for (const f of m.structOps?.kernel?.funcs ?? []) members.set(f.program, f.kernelMemberIndex);
  assert.equal(Object.fromEntries(members), {
    so_ssthresh: memberIndex('ssthresh'), so_cong_avoid: memberIndex('cong_avoid'), so_undo_cwnd: memberIndex('undo_cwnd'), so_undo_cwnd2: memberIndex('undo_cwnd'),
  });
  // so_off_only is used only by cc_off (SEC("?.struct_ops")), which is not created.
  assert.not.ok(obj.program('so_off_only').autoload);
  assert.not.ok(obj.program('so_off_only').loaded);
  assert.throws(() => obj.map('cc_off').fd, /not created: autocreate is off/);
  assert.throws(() => obj.map('cc_off').attachStructOps(), (e: unknown) => e instanceof StateError && /was not created/.test((e as Error).message));
});

test('programs: autocreate on a ? map loads the programs it uses', async () => {
  const obj = openObj();
  obj.map('cc_off').structOps!.autocreate = true;
  await obj.load();
  track(obj);
  assert.ok(obj.program('so_off_only').loaded);
  assert.ok(obj.map('cc_off').loaded);
});

test('programs: the same expected_attach_type, tag and kernel type as libbpf', async () => {
  const r = refRun(REF_OBJ, ['progs']);
  assert.equal(r.lines[1], { cmd: 'load', err: 0 });
  const obj = openObj(REF_OBJ);
  await obj.load();
  track(obj);
  const members = new Map<string, number>();
  for (const m of obj.maps.values()) for (const f of m.structOps?.kernel?.funcs ?? []) members.set(f.program, f.kernelMemberIndex);
  const ref = r.lines.filter((l) => l.cmd === 'prog');
  assert.is(ref.length, 3);
  for (const l of ref) {
    const p = obj.program(String(l.name));
    const info = progInfo(p.fd, { mapIds: false });
    assert.is(members.get(p.name), l.expected_attach_type, p.name);
    assert.is(info.type, l.kernel_type, p.name);
    assert.is(info.tag, l.tag, p.name);
  }
});

test('programs: a struct_ops program no map uses is refused before the kernel sees it (libbpf 1.1 gets ENOTSUPP from the kernel)', async () => {
  const path = compileBpf('struct_ops', { defines: { REF_ONLY: '', UNREFERENCED: '' } });
  const obj = openObj(path);
  try {
    await obj.load();
    assert.unreachable('loaded');
  } catch (e) {
    assert.instance(e, BpfError);
    assert.is((e as BpfError).errno, 22);
    assert.is((e as BpfError).program, 'so_unused');
    assert.match((e as Error).message, /SEC\("struct_ops\/so_unused"\) program isn't referenced by any struct_ops map/);
  }
  // libbpf 1.1 loads it without an attach target, and the kernel refuses that with ENOTSUPP (-524)
  // and an empty verifier log; current libbpf refuses it as above.
  const r = refRun(path, ['load']);
  assert.equal(r.lines[1], { cmd: 'load', err: -524 });
});

// -------------------------------------------------------------------------------------------------
// Registering

/** A struct_ops map value as the kernel returns it, with program ids replaced by names. */
function valueWithNames(value: Uint8Array, funcOffsets: number[], nameOfId: (id: number) => string): string {
  const v = Buffer.from(value);
  const names: string[] = [];
  for (const off of funcOffsets) {
    names.push(`${off}:${nameOfId(Number(v.readBigUInt64LE(off)))}`);
    v.fill(0, off, off + 8);
  }
  return `${v.toString('hex')} ${names.join(',')}`;
}

test('register: the kernel holds the same value as with libbpf; its refusals have the same errnos', async () => {
  const r = refRun(REF_OBJ, ['progs', 'attach-struct-ops', 'cc_full', 'lookup', 'cc_full', '00000000', 'attach-struct-ops', 'cc_noprog', 'attach-struct-ops', 'dummy']);
  const ref = r.lines;
  assert.equal(ref.find((l) => l.cmd === 'attach-struct-ops' && l.map === 'cc_full'), { cmd: 'attach-struct-ops', map: 'cc_full', err: 0 });
  const refErr = (m: string): number => ref.find((l) => l.cmd === 'attach-struct-ops' && l.map === m)!.err!;
  const refIds = new Map<number, string>();
  // ref-run prints tags, not ids: the ids are recovered from the value and mapped through the member order.

  const obj = openObj(REF_OBJ);
  await obj.load();
  track(obj);
  const map = obj.map('cc_full');
  const k = map.structOps!.kernel!;
  const link = map.attachStructOps();
  try {
    assert.ok(congestionControls().includes('tsbpf_so_full'));
    const ours = new Uint8Array(map.valueSize);
    assert.ok(mapLookupElem(map.fd, new Uint8Array(4), ours));
    const offs = k.funcs.map((f) => f.valueOffset);
    const progById = new Map<number, string>();
    for (const p of obj.programs.values()) progById.set(progInfo(p.fd, { mapIds: false }).id, p.name);
    const refValue = Buffer.from(String(ref.find((l) => l.cmd === 'lookup')!.value), 'hex');
    // libbpf's programs are gone with its process: name them by the member they sit in, as ours are.
    const memberProg = new Map(k.funcs.map((f) => [f.valueOffset, f.program] as const));
    for (const off of offs) refIds.set(Number(refValue.readBigUInt64LE(off)), memberProg.get(off)!);
    // The kernel reports program ids in the function pointers, refcnt 1 and state INUSE (1) in the header.
    assert.is(valueWithNames(ours, offs, (id) => progById.get(id) ?? `id${id}`), valueWithNames(refValue, offs, (id) => refIds.get(id) ?? `id${id}`));
    assert.equal([...ours.subarray(0, 8)], [1, 0, 0, 0, 1, 0, 0, 0]);
  } finally {
    link.close();
  }
  assert.not.ok(congestionControls().includes('tsbpf_so_full'));

  for (const m of ['cc_noprog', 'dummy']) {
    try {
      obj.map(m).attachStructOps();
      assert.unreachable(m);
    } catch (e) {
      assert.instance(e, BpfError);
      assert.is(-(e as BpfError).errno, refErr(m), m);
      assert.match((e as Error).message, new RegExp(`registering struct_ops map '${m}'`));
      assert.ok((e as BpfError).advice, m);
    }
  }
  assert.is(refErr('cc_noprog'), -22);
  assert.is(refErr('dummy'), -95);
});

test('register: a map without BPF_F_LINK registers once; closing the link unregisters it', async () => {
  const obj = openObj();
  // Data members can be changed before load, through the object's struct.
  const st = obj.map('cc_full').structOps!;
  const nameOff = st.members.find((m) => m.name === 'name')!.offset;
  obj.map('cc_full').initialValue.set(Buffer.from('tsbpf_so_renam\0'), nameOff);
  await obj.load();
  track(obj);
  const link = obj.map('cc_full').attachStructOps();
  assert.is(link.kind, 'struct_ops');
  assert.is(link.mechanism, 'map_update');
  assert.not.ok(link.isBpfLink);
  assert.ok(congestionControls().includes('tsbpf_so_renam'));
  // Registered already: the kernel says EBUSY, with advice.
  try {
    obj.map('cc_full').attachStructOps();
    assert.unreachable('registered twice');
  } catch (e) {
    assert.is((e as BpfError).errno, 16);
    assert.match(String((e as BpfError).advice), /registered only once/);
  }
  link.close();
  assert.not.ok(congestionControls().includes('tsbpf_so_renam'));
});

test('register: .struct_ops.link maps through a BPF link, which can switch to another map', async () => {
  const obj = openObj();
  await obj.load();
  track(obj);
  const a = obj.map('cc_link');
  const b = obj.map('cc_link2');
  const link = a.attachStructOps();
  try {
    assert.is(link.mechanism, 'bpf_link');
    assert.is(link.kind, 'struct_ops');
    assert.is(link.info().mapId, mapInfo(a.fd).id);
    assert.ok(congestionControls().includes('tsbpf_so_link'));
    // tcp_congestion_ops can be replaced only by one of the same name (cc_link2 is; its undo_cwnd differs).
    link.updateMap(b);
    assert.is(link.info().mapId, mapInfo(b.fd).id);
    assert.ok(congestionControls().includes('tsbpf_so_link'));
    // Only struct_ops maps with BPF_F_LINK; the kernel's refusals say what it checks.
    assert.throws(() => link.updateMap(obj.map('cc_noprog')), /has no BPF_F_LINK/);
    try {
      link.updateMap(obj.map('cc_link3'));
      assert.unreachable('switched to another name');
    } catch (e) {
      assert.is((e as BpfError).errno, 22);
      assert.match((e as Error).message, /switching a struct_ops link to map 'cc_link3'/);
      assert.match(String((e as BpfError).advice), /must keep its name/);
    }
    // bpf_dummy_ops cannot even be readied for a link.
    assert.throws(() => link.updateMap(obj.map('dummy2')), (e: unknown) => e instanceof NotSupportedError && e.errno === 95);
    assert.is(link.info().mapId, mapInfo(b.fd).id);
  } finally {
    link.close();
  }
  assert.not.ok(congestionControls().includes('tsbpf_so_link'));
  // A link map can be attached again (the kernel's EBUSY on the value is expected then, as in libbpf).
  const again = a.attachStructOps();
  assert.ok(congestionControls().includes('tsbpf_so_link'));
  again.close();
  assert.not.ok(congestionControls().includes('tsbpf_so_link'));
  // Links of other kinds have no map to switch.
  assert.throws(() => again.updateMap(b), (e: unknown) => e instanceof StateError);
});

test('obj.attach(): struct_ops maps with autoattach, by map name; programs skipped with the reason', async () => {
  const obj = openObj();
  await obj.load();
  track(obj);
  // Refused by the kernel (no programs, not registrable, a name cc_link already has): left alone.
  for (const m of ['cc_noprog', 'dummy', 'dummy2', 'cc_link2']) obj.map(m).structOps!.autoattach = false;
  const s = await obj.attach();
  try {
    assert.equal([...s.links.keys()].sort(), ['cc_full', 'cc_link', 'cc_link3']);
    assert.equal([...obj.links.keys()].sort(), ['cc_full', 'cc_link', 'cc_link3']);
    for (const n of ['tsbpf_so_full', 'tsbpf_so_link', 'tsbpf_so_other']) assert.ok(congestionControls().includes(n), n);
    const skipped = new Map(s.skipped.map((x) => [x.program, x.reason]));
    assert.match(skipped.get('so_ssthresh')!, /registered through the struct_ops map/);
    assert.match(skipped.get('so_off_only')!, /autoload is off/);
  } finally {
    obj.detach();
  }
  for (const n of ['tsbpf_so_full', 'tsbpf_so_link', 'tsbpf_so_other']) assert.not.ok(congestionControls().includes(n), n);
});

test('obj.attach(): all or nothing when a struct_ops map is refused', async () => {
  const obj = openObj();
  await obj.load();
  track(obj);
  try {
    await obj.attach();
    assert.unreachable('attached');
  } catch (e) {
    assert.instance(e, BpfError);
    assert.is((e as BpfError).map, 'cc_noprog');
  }
  assert.is(obj.links.size, 0);
  assert.not.ok(congestionControls().includes('tsbpf_so_full'));
});

test('attachStructOps on a map that is not struct_ops', async () => {
  const obj = openObj(compileBpf('maps'));
  const m = [...obj.maps.values()][0]!;
  assert.throws(() => m.attachStructOps(), /is not a struct_ops map/);
  assert.throws(() => m.structOps!.autoattach, TypeError);
  void NotSupportedError;
});

// -------------------------------------------------------------------------------------------------
// Skeleton

test('skeleton: struct_ops.<map> reads and writes the object\'s struct before load; attach() registers the maps', async () => {
  const dir = join(BUILD_DIR, 'skel-struct-ops');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const runtime = relative(dir, join(REPO_ROOT, 'src', 'index.js')).replace(/\\/g, '/');
  const file = join(dir, 'struct_ops.skel.ts');
  // The object by path (not embedded): a vmlinux.h object is large, and tsc below should stay quick.
  copyFileSync(OBJ, join(dir, 'struct_ops.bpf.o'));
  writeFileSync(file, generateSkeleton(OBJ, { runtimeImport: runtime.startsWith('.') ? runtime : `./${runtime}`, objectPath: './struct_ops.bpf.o' }));
  // The generated types under strict tsc, as a user would write against them.
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: ['node'],
      typeRoots: [relative(dir, join(REPO_ROOT, 'node_modules', '@types'))],
      strict: true, erasableSyntaxOnly: true, verbatimModuleSyntax: true, skipLibCheck: true, noEmit: true,
    },
    include: ['*.ts'],
  }));
  writeFileSync(join(dir, 'use.ts'), `import { open } from './struct_ops.skel.js';
export function use(): number {
  using skel = open();
  skel.struct_ops.cc_full.flags = 0;
  skel.struct_ops.cc_full.name = 'x';
  const n: string = skel.struct_ops.cc_link.name.str;
  const l = skel.links.cc_link;
  skel.maps.cc_full.structOps!.setProgram('ssthresh', skel.progs.so_ssthresh);
  // @ts-expect-error: no such struct_ops map
  skel.struct_ops.nope;
  return n.length + (l ? 1 : 0);
}
`);
  const r = spawnSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', dir], { encoding: 'utf8' });
  assert.is(r.status, 0, `${r.stdout}${r.stderr}`);

  type SoSkel = Skeleton & { struct_ops: Record<string, Record<string, any>>; maps: Record<string, any> };
  const mod = await importTs<{ open(): SoSkel; openAndLoad(): Promise<SoSkel> }>(file);
  const skel = mod.open();
  try {
    const cc = skel.struct_ops.cc_full!;
    assert.is(cc.name.str, 'tsbpf_so_full');
    assert.is(cc.flags, 1);
    cc.name = 'tsbpf_so_skel';
    // The same memory as the map's initial value.
    const nameOff = skel.obj.map('cc_full').structOps!.members.find((m) => m.name === 'name')!.offset;
    assert.is(Buffer.from(skel.obj.map('cc_full').initialValue.subarray(nameOff, nameOff + 13)).toString(), 'tsbpf_so_skel');
    assert.is(skel.maps.cc_full, skel.obj.map('cc_full'));
    for (const m of ['cc_noprog', 'dummy', 'dummy2', 'cc_link2', 'cc_link3']) skel.obj.map(m).structOps!.autoattach = false;
    await skel.load();
    track(skel.obj);
    assert.throws(() => {
      cc.flags = 0;
    }, (e: unknown) => e instanceof StateError);
    assert.is(cc.flags, 1);
    skel.attach();
    assert.ok(congestionControls().includes('tsbpf_so_skel'));
    assert.ok(skel.links.cc_link, 'a struct_ops map\'s link is kept under its name');
    assert.ok(skel.links.cc_full);
    assert.ok(congestionControls().includes('tsbpf_so_link'));
    skel.detach();
    assert.not.ok(congestionControls().includes('tsbpf_so_skel'));
    assert.is(skel.links.cc_link, undefined);
  } finally {
    skel.destroy();
  }
  assert.not.ok(congestionControls().includes('tsbpf_so_link'));
});

test('nothing left behind', async () => {
  for (const o of open.splice(0)) o.close();
  // An unregistered struct_ops map is freed after RCU grace periods, in a kernel worker.
  assert.equal(await settledLeftovers(marks, 10000), []);
  for (const n of congestionControls()) assert.not.ok(n.startsWith('tsbpf_so_'), n);
});

test.run();
