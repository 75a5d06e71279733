// `btf dump … format c|raw`: byte-identical to Debian's bpftool 7.1 for /sys/kernel/btf/vmlinux and for
// the test objects (layouts, bitfields, packed structs, padding, anonymous types, enums of every size,
// function pointers, type tags, varargs), the BtfDumper building blocks, and a BPF program compiled
// with clang-16 against our vmlinux.h.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Btf, BtfDumper, BTF_KIND, dumpC, dumpCTo, RawTypes, VMLINUX_H_FOOTER, VMLINUX_H_HEADER, type BtfType } from '../btf/index.js';
import { ElfFile } from '../elf/index.js';
import { ParseError } from '../src/errors.js';
import { main } from '../src/cli/main.js';
import { BUILD_DIR, compileBpf, haveCommand } from './support/compile.js';
import { compileFixture, firstDiff } from './btf-fixtures/support.js';
import { testIf } from './support/skip.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const VMLINUX = '/sys/kernel/btf/vmlinux';
const haveVmlinux = existsSync(VMLINUX);
const haveBpftool = haveCommand('bpftool');
const haveClang = haveCommand('clang-16');

/** Runs the tsbpf CLI in-process; returns [exit code, stdout, stderr]. */
async function cli(...argv: string[]): Promise<[number, string, string]> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; } });
  return [code, out, err];
}

function bpftool(...args: string[]): string {
  return execFileSync('bpftool', args, { maxBuffer: 512 * 1024 * 1024, encoding: 'utf8' });
}

function objectBtf(path: string): Btf {
  const elf = ElfFile.parse(new Uint8Array(readFileSync(path)));
  return Btf.parse(elf.section('.BTF')!.data);
}

testIf(haveVmlinux && haveBpftool, 'needs /sys/kernel/btf/vmlinux and bpftool')('vmlinux: format c is byte-identical to bpftool 7.1', async () => {
  const [code, ours, err] = await cli('btf', 'dump', 'file', VMLINUX, 'format', 'c');
  assert.is(code, 0, err);
  const ref = bpftool('btf', 'dump', 'file', VMLINUX, 'format', 'c');
  const diff = firstDiff(ours, ref);
  assert.ok(diff === undefined, diff);
  assert.ok(ours.length > 1_000_000);
});

testIf(haveVmlinux, 'needs /sys/kernel/btf/vmlinux')('vmlinux: the read fallback (copy mode, TSBPF_FORCE_COPY=1: no mapping) prints the same bytes as the mapped file', async () => {
  const [code, mapped, err] = await cli('btf', 'dump', 'file', VMLINUX, 'format', 'c');
  assert.is(code, 0, err);
  const child = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'btf', 'dump', 'file', VMLINUX, 'format', 'c'], {
    cwd: ROOT, env: { ...process.env, TSBPF_FORCE_COPY: '1' }, encoding: 'utf8', maxBuffer: 512 * 1024 * 1024,
  });
  assert.is(child.status, 0, child.stderr);
  const diff = firstDiff(child.stdout, mapped);
  assert.ok(diff === undefined, diff);
});

test('dumpCTo: the same bytes as dumpC, in chunks of about 64 KiB that the dumper reuses', () => {
  const sources: (Btf | RawTypes)[] = [build(INT, { kind: BTF_KIND.TYPEDEF, name: 'i32', type: 1 })];
  if (haveVmlinux) sources.push(RawTypes.fromBytes(readFileSync(VMLINUX))!);
  for (const src of sources) {
    const chunks: Buffer[] = [];
    let reused = false;
    let last: Uint8Array | undefined;
    dumpCTo(src, (chunk) => {
      assert.ok(chunk.length > 0 && chunk.length <= 256 * 1024, `chunk of ${chunk.length} bytes`);
      if (last && last.buffer === chunk.buffer) reused = true;
      last = chunk;
      chunks.push(Buffer.from(chunk));
    });
    assert.is(Buffer.concat(chunks).toString('utf8'), dumpC(src));
    if (src instanceof RawTypes) assert.ok(chunks.length > 10 && reused, `${chunks.length} chunks, buffer reused: ${reused}`);
  }
});

const OBJECTS = ['skel-types', 'globals', 'maps', 'externs', 'calls', 'core-read'];

testIf(haveBpftool && haveClang, 'needs bpftool and clang-16')('test objects: format c and raw are byte-identical to bpftool', async () => {
  const paths = [...OBJECTS.map((n) => compileBpf(n)), compileFixture('kinds'), compileFixture('core')];
  for (const p of paths) {
    for (const format of ['c', 'raw']) {
      const [code, ours, err] = await cli('btf', 'dump', 'file', p, 'format', format);
      assert.is(code, 0, `${p}: ${err}`);
      const diff = firstDiff(ours, bpftool('btf', 'dump', 'file', p, 'format', format));
      assert.ok(diff === undefined, `${p} format ${format}: ${diff}`);
    }
    for (const flag of ['-j', '-p']) {
      const [code, ours, err] = await cli(flag, 'btf', 'dump', 'file', p);
      assert.is(code, 0, `${p}: ${err}`);
      const diff = firstDiff(ours, bpftool(flag, 'btf', 'dump', 'file', p));
      assert.ok(diff === undefined, `${p} ${flag}: ${diff}`);
    }
  }
});

testIf(haveVmlinux && haveBpftool, 'needs /sys/kernel/btf/vmlinux and bpftool')('vmlinux: -j (JSON) is byte-identical to bpftool 7.1 (format raw text: btf.test.ts; -p: the objects above)', async () => {
  for (const flags of [['-j']]) {
    const [code, ours, err] = await cli(...flags, 'btf', 'dump', 'file', VMLINUX, 'format', 'raw');
    assert.is(code, 0, err);
    const diff = firstDiff(ours, bpftool(...flags, 'btf', 'dump', 'file', VMLINUX, 'format', 'raw'));
    assert.ok(diff === undefined, `${flags.join(' ')}: ${diff}`);
  }
});

/** A kernel module's BTF, if any module with BTF is loaded. */
const moduleBtf = haveVmlinux ? spawnSync('sh', ['-c', 'ls /sys/kernel/btf | grep -v vmlinux | head -1'], { encoding: 'utf8' }).stdout.trim() : '';

testIf(haveBpftool && moduleBtf !== '', 'needs bpftool and a loaded module with BTF')('module BTF (split over vmlinux): format c matches bpftool', async () => {
  const mods = moduleBtf;
  const path = `/sys/kernel/btf/${mods}`;
  for (const format of ['raw', 'c']) {
    const [code, ours, err] = await cli('btf', 'dump', 'file', path, 'format', format);
    assert.is(code, 0, err);
    const diff = firstDiff(ours, bpftool('btf', 'dump', 'file', path, 'format', format));
    assert.ok(diff === undefined, `${path} format ${format}: ${diff}`);
  }
});

testIf(haveClang, 'needs clang-16')('layouts: packed, padding, empty struct, bitfields, function pointers, no mode() attributes', () => {
  const c = dumpC(objectBtf(compileBpf('skel-types')));
  assert.match(c, 'struct packed_s {\n\t__u8 a;\n\t__u32 b;\n\t__u16 c;\n} __attribute__((packed));');
  assert.match(c, 'struct padded {\n\t__u8 a;\n\tlong: 0;\n\t__u8 b;\n\t__u64 c;\n\tlong: 64;\n};');
  assert.match(c, 'struct empty {};');
  assert.match(c, '\tunsigned int bf_a: 3;\n\tint bf_b: 5;\n');
  assert.match(c, 'typedef int (*cb_t)(const char * restrict, ...);');
  assert.match(c, '\tint (*arr_of_fn[2])(void);\n\tchar * (*fn_ret_ptr)(int);');
  // Debian's bpftool 7.1 (Linux 6.1-stable libbpf) prints 1-byte enums without mode(byte).
  assert.match(c, 'enum tiny {\n\tTINY_A = 1,\n\tTINY_B = 200,\n};');
  assert.match(dumpC(objectBtf(compileBpf('skel-types')), { enumModes: true }), '} __attribute__((mode(byte)));');
});

test('BtfDumper: emitTypeDecl, incremental dumpType, name dedup', () => {
  const b = Btf.create();
  const int = b.addType({ kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 });
  const ptr = b.addType({ kind: BTF_KIND.PTR, name: '', type: int });
  const cnst = b.addType({ kind: BTF_KIND.CONST, name: '', type: ptr });
  const arr = b.addType({ kind: BTF_KIND.ARRAY, name: '', type: cnst, indexType: int, nelems: 4 });
  const s1 = b.addType({ kind: BTF_KIND.STRUCT, name: 'dup', size: 4, kflag: false, members: [{ name: 'x', type: int, bitOffset: 0, bitfieldSize: 0 }] });
  const s2 = b.addType({ kind: BTF_KIND.STRUCT, name: 'dup', size: 8, kflag: false, members: [{ name: 'a', type: s1, bitOffset: 0, bitfieldSize: 0 }, { name: 'b', type: int, bitOffset: 32, bitfieldSize: 0 }] });
  const btf = Btf.parse(b.encode());
  const d = new BtfDumper(btf);
  assert.is(d.emitTypeDecl(arr, { fieldName: 'v' }), 'int * const v[4]');
  assert.is(d.emitTypeDecl(arr, { fieldName: 'v', stripMods: true }), 'int *v[4]');
  assert.is(d.emitTypeDecl(ptr), 'int *');
  assert.is(d.dumpType(s2), 'struct dup {\n\tint x;\n};\n\nstruct dup___2 {\n\tstruct dup a;\n\tint b;\n};\n\n');
  assert.is(d.dumpType(s1), '', 'already emitted');
  assert.is(btf.alignOf(s2), 4);
  assert.is(btf.resolveSize(arr), 32);
});

testIf(haveVmlinux && haveClang, 'needs /sys/kernel/btf/vmlinux and clang-16')('the generated vmlinux.h compiles a CO-RE program with clang-16', () => {
  const dir = join(BUILD_DIR, 'tsbpf-vmlinux');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'vmlinux.h'), dumpC(Btf.parse(readFileSync(VMLINUX))));
  const src = join(dir, 'prog.bpf.c');
  writeFileSync(src, `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct { pid_t pid; char comm[TASK_COMM_LEN]; } *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return 0;
	e->pid = BPF_CORE_READ(next, pid);
	bpf_core_read_str(e->comm, sizeof(e->comm), &next->comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`);
  const r = spawnSync('clang-16', ['-target', 'bpf', '-g', '-O2', '-D__TARGET_ARCH_x86', '-I', dir, '-c', src, '-o', join(dir, 'prog.bpf.o')], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
});

testIf(haveVmlinux && haveCommand('python3'), 'needs /sys/kernel/btf/vmlinux and python3')('CLI stdout: a non-blocking pipe that fills up (EAGAIN) still gets every byte in order; a reader that leaves (EPIPE) ends it quietly', () => {
  // python3 holds fd 1 of the CLI: a pipe set O_NONBLOCK and not read for a while, then read to the end;
  // then pipes whose reader closes after 1 KiB.
  const script = `
import fcntl, os, subprocess, sys, time
cmd = [sys.argv[1], '--import', 'tsx', 'src/cli.ts', 'btf', 'dump', 'file', sys.argv[2], 'format', 'c']
r, w = os.pipe()
fcntl.fcntl(w, fcntl.F_SETFL, fcntl.fcntl(w, fcntl.F_GETFL) | os.O_NONBLOCK)
p = subprocess.Popen(cmd, stdout=w)
os.close(w)
time.sleep(3)
out = bytearray()
while True:
    b = os.read(r, 1 << 20)
    if not b:
        break
    out += b
sys.stdout.buffer.write(b'%d %d\\n' % (p.wait(), len(out)))
sys.stdout.buffer.write(out)
for i in range(3):
    q = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    q.stdout.read(1024)
    q.stdout.close()
    sys.stderr.write('epipe exit %d\\n' % q.wait())
`;
  const r = spawnSync('python3', ['-c', script, process.execPath, VMLINUX], { cwd: ROOT, maxBuffer: 512 * 1024 * 1024 });
  assert.is(r.status, 0, String(r.stderr));
  const nl = r.stdout.indexOf(10);
  const [code, len] = r.stdout.subarray(0, nl).toString().split(' ').map(Number);
  assert.is(code, 0);
  const ours = r.stdout.subarray(nl + 1);
  assert.is(ours.length, len);
  const ref = dumpC(RawTypes.fromBytes(readFileSync(VMLINUX))!);
  const diff = firstDiff(ours.toString('utf8'), ref);
  assert.ok(diff === undefined, diff);
  // Three readers that leave early: with fd 1 non-blocking (tsx sets it so) the CLI may meet EAGAIN
  // first and carry on through process.stdout, whose EPIPE must end the output quietly too.
  assert.equal(String(r.stderr).match(/epipe exit \d+/g), ['epipe exit 0', 'epipe exit 0', 'epipe exit 0'], String(r.stderr));
});

test('CLI errors: bad source, bad format, missing file, JSON for C', async () => {
  let [code, , err] = await cli('btf', 'dump', 'file', '/nonexistent/x.o', 'format', 'c');
  assert.is(code, 1);
  assert.match(err, 'failed to load BTF from /nonexistent/x.o');
  [code, , err] = await cli('btf', 'dump', 'file', VMLINUX, 'format', 'json');
  assert.is(code, 1);
  assert.match(err, "unrecognized format specifier: 'json'");
  [code, , err] = await cli('btf', 'dump', 'nope', 'x');
  assert.is(code, 1);
  assert.match(err, "unrecognized BTF source specifier: 'nope'");
  [code] = await cli('--json', 'btf', 'dump', 'file', VMLINUX, 'format', 'c');
  assert.is(code, 1);
});

// ---- malformed BTF (fuzz findings, issue #8): an error naming the type, in bounded time and memory --

const INT = { kind: BTF_KIND.INT, name: 'int', size: 4, encoding: { signed: true, char: false, bool: false }, bitOffset: 0, bits: 32 } as const;

/** BTF made of `types`, ids from 1 in order (a type may refer to a later id, to build loops). */
function build(...types: BtfType[]): Btf {
  const b = Btf.create();
  for (const t of types) b.addType(t);
  return Btf.parse(b.encode());
}

function member(name: string, type: number, bitOffset = 0, bitfieldSize = 0) {
  return { name, type, bitOffset, bitfieldSize };
}

/** dumpC must throw a ParseError whose message matches `re`. */
function dumpFails(btf: Btf, re: RegExp): void {
  for (const dump of [() => dumpC(btf), () => dumpCTo(btf, () => {})]) {
    try {
      dump();
    } catch (e) {
      assert.instance(e, ParseError, String(e));
      assert.match((e as Error).message, re);
      continue;
    }
    assert.unreachable('the dump returned');
  }
}

test('type loops: libbpf\'s "unsatisfiable type cycle" error naming the type, never a stack overflow', () => {
  // 1 int, 2 typedef a → 3 typedef b → 2, used by struct s (4).
  dumpFails(build(INT, { kind: BTF_KIND.TYPEDEF, name: 'a', type: 3 }, { kind: BTF_KIND.TYPEDEF, name: 'b', type: 2 },
    { kind: BTF_KIND.STRUCT, name: 's', size: 4, kflag: false, members: [member('x', 2)] }), /unsatisfiable type cycle, id:\[2\]/);
  // A struct embedding itself through an array of a typedef: libbpf's -ELOOP at the struct (3).
  dumpFails(build(INT, { kind: BTF_KIND.TYPEDEF, name: 't', type: 3 },
    { kind: BTF_KIND.STRUCT, name: 's', size: 8, kflag: false, members: [member('arr', 4)] },
    { kind: BTF_KIND.ARRAY, name: '', type: 2, indexType: 1, nelems: 2 }), /unsatisfiable type cycle, id:\[3\]/);
  // Pointers only (2 → 3 → 2), modifiers only (2 → 3 → 2), an array of itself, a prototype taking itself.
  dumpFails(build(INT, { kind: BTF_KIND.PTR, name: '', type: 3 }, { kind: BTF_KIND.PTR, name: '', type: 2 },
    { kind: BTF_KIND.STRUCT, name: 's', size: 8, kflag: false, members: [member('p', 2)] }), /unsatisfiable type cycle, id:\[2\]/);
  dumpFails(build(INT, { kind: BTF_KIND.CONST, name: '', type: 3 }, { kind: BTF_KIND.VOLATILE, name: '', type: 2 },
    { kind: BTF_KIND.TYPEDEF, name: 'cv', type: 2 }), /unsatisfiable type cycle, id:\[2\]/);
  dumpFails(build(INT, { kind: BTF_KIND.ARRAY, name: '', type: 2, indexType: 1, nelems: 1 },
    { kind: BTF_KIND.TYPEDEF, name: 'arr', type: 2 }), /unsatisfiable type cycle, id:\[2\]/);
  dumpFails(build(INT, { kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 1, params: [member('f', 2)] },
    { kind: BTF_KIND.TYPEDEF, name: 'fn', type: 2 }), /unsatisfiable type cycle, id:\[2\]/);
  // emitTypeDecl does not order first: the declaration chain itself is bounded.
  const ptrLoop = build(INT, { kind: BTF_KIND.PTR, name: '', type: 3 }, { kind: BTF_KIND.PTR, name: '', type: 2 });
  assert.throws(() => new BtfDumper(ptrLoop).emitTypeDecl(2, { fieldName: 'p' }), (e: unknown) => e instanceof ParseError && /loops/.test((e as Error).message));
  // A loop through a pointer to a named struct is C's ordinary self-reference.
  assert.is(dumpC(build(INT, { kind: BTF_KIND.PTR, name: '', type: 3 },
    { kind: BTF_KIND.STRUCT, name: 'node', size: 16, kflag: false, members: [member('next', 2), member('v', 1, 64)] })),
  `${VMLINUX_H_HEADER}struct node {\n\tstruct node *next;\n\tint v;\n};\n\n${VMLINUX_H_FOOTER}`);
});

test('deep type chains: an error past the depth limit instead of a stack overflow; ordinary depths dump', () => {
  // Typedef t0 (id 2) → t1 → … → int: ordering t0 first recurses through the whole chain.
  const chain = (n: number): BtfType[] => [INT, ...Array.from({ length: n }, (_, i): BtfType => ({ kind: BTF_KIND.TYPEDEF, name: `t${i}`, type: i === n - 1 ? 1 : i + 3 }))];
  dumpFails(build(...chain(20000)), /BTF type \[\d+\]: type chain deeper than/);
  const ok = dumpC(build(...chain(200)));
  assert.match(ok, '\n\ntypedef int t199;\n\ntypedef t199 t198;\n\n');
  assert.match(ok, 'typedef t1 t0;\n\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX');
});

test('huge member offsets, struct sizes and array sizes: bounded (an error naming the struct, or the output)', () => {
  // A struct of 4 GiB without members, a member 512 MiB in, a bitfield at the 24-bit offset limit.
  dumpFails(build(INT, { kind: BTF_KIND.STRUCT, name: 'huge', size: 0xffffffff, kflag: false, members: [] }), /BTF type \[2\].*gap of 34359738360 bits/);
  dumpFails(build(INT, { kind: BTF_KIND.STRUCT, name: 'far', size: 4, kflag: false, members: [member('x', 1, 0xfffffff0)] }), /BTF type \[2\].*gap/);
  dumpFails(build(INT, { kind: BTF_KIND.STRUCT, name: 'bf', size: 4, kflag: true, members: [member('x', 1, 0xfffff0, 3)] }), /BTF type \[2\].*gap/);
  // An array too big to size prints as declared and counts as 0 bytes, so `b` gets padding, as in libbpf.
  const arr = dumpC(build(INT, { kind: BTF_KIND.ARRAY, name: '', type: 1, indexType: 1, nelems: 0xffffffff },
    { kind: BTF_KIND.STRUCT, name: 'big', size: 8, kflag: false, members: [member('a', 2), member('b', 1, 32)] }));
  assert.match(arr, 'struct big {\n\tint a[4294967295];\n\tint: 32;\n\tint b;\n};');
  // A page-aligned member (vmlinux has them) still gets its padding: 511 `long: 64;` lines.
  const page = dumpC(build(INT, { kind: BTF_KIND.STRUCT, name: 'pg', size: 4100, kflag: false, members: [member('a', 1), member('b', 1, 4096 * 8)] }));
  assert.is(page.split('\tlong: 64;\n').length - 1, 511);
});

test('exponential type graphs: a bounded error, not minutes of work or gigabytes of output', () => {
  // Prototypes 2..41, each taking the next one twice (2^40 paths), behind a typedef.
  const protos = Array.from({ length: 40 }, (_, i): BtfType => ({ kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 1, params: [member('a', i + 3), member('b', i + 3)] }));
  protos.push({ kind: BTF_KIND.FUNC_PROTO, name: '', returnType: 1, params: [] });
  dumpFails(build(INT, ...protos, { kind: BTF_KIND.TYPEDEF, name: 'fn', type: 2 }), /expands past|outgrows/);
  // Anonymous structs 3..42, each embedding the next one twice, inside a named struct: printed inline.
  const anon = Array.from({ length: 40 }, (_, i): BtfType => ({ kind: BTF_KIND.STRUCT, name: '', size: 4, kflag: false, members: [member('a', i + 4), member('b', i + 4)] }));
  anon.push({ kind: BTF_KIND.STRUCT, name: '', size: 4, kflag: false, members: [member('x', 1)] });
  dumpFails(build(INT, { kind: BTF_KIND.STRUCT, name: 'outer', size: 4, kflag: false, members: [member('in', 3)] }, ...anon), /expands past|outgrows/);
});

test.run();
