import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ParseError } from '../src/errors.js';
import {
  ElfFile,
  EM_BPF,
  ET,
  PT,
  R_BPF_64_32,
  R_BPF_64_64,
  SHN_ABS,
  SHN_UNDEF,
  SHN_XINDEX,
  SHT,
  STB,
  STT,
  STV,
  parseNotes,
} from '../elf/index.js';

const BUILD = fileURLToPath(new URL('./.build/', import.meta.url));
mkdirSync(BUILD, { recursive: true });

// A program with the ELF features libbpf cares about: several program sections (one '?'-prefixed),
// static and global subprograms, BTF maps, .data/.rodata/.bss and a custom .data.* section,
// hidden/weak/local globals, __kconfig externs (undefined symbols) and bpf_printk strings.
const BPF_SOURCE = String.raw`
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

int global_counter = 1;
const volatile __u32 filter_pid = 0;
__u64 zeroed;
static __u64 local_state;
__hidden int hidden_var = 5;
int weak_var __weak = 6;
int custom_data SEC(".data.custom") = 7;
extern int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig __weak;

static __noinline int add(int a, int b) { return a + b + global_counter; }
__noinline int global_sub(int v) { return v * 3 + hidden_var; }

SEC("tp/sched/sched_switch")
int on_switch(void *ctx)
{
	__u32 key = bpf_get_current_pid_tgid() >> 32;
	__u64 *val, one = 1;
	if (filter_pid && key != filter_pid)
		return 0;
	val = bpf_map_lookup_elem(&counts, &key);
	if (val)
		*val += add(key, weak_var);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
	local_state += LINUX_KERNEL_VERSION + CONFIG_HZ;
	zeroed++;
	bpf_printk("switch %d", key);
	return 0;
}

SEC("?kprobe/do_sys_open")
int probe_open(void *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	*e = global_sub(custom_data) + local_state;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("xdp.frags")
int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }

char LICENSE[] SEC("license") = "GPL";
`;

function compileBpf(): string {
  const src = `${BUILD}elf-test.bpf.c`;
  const obj = `${BUILD}elf-test.bpf.o`;
  writeFileSync(src, BPF_SOURCE);
  execFileSync('clang-16', ['-target', 'bpf', '-g', '-O2', '-I/usr/include/x86_64-linux-gnu', '-c', src, '-o', obj]);
  return obj;
}

const BPF_OBJ = compileBpf();
const HOST_BIN = '/bin/ls';

// --- llvm-readelf reference data -------------------------------------------------------------

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function readelfJson(file: string, ...args: string[]): Json {
  const out = execFileSync('llvm-readelf-16', [...args, '--elf-output-style=JSON', file], { maxBuffer: 1 << 28 });
  return JSON.parse(out.toString())[0];
}

interface RefReloc {
  section: string;
  offset: number;
  symbol: number;
  type: number;
  addend: bigint;
}

/** GNU-style `llvm-readelf -r` (its JSON relocation output is not valid JSON in LLVM 16). */
function readelfRelocs(file: string): RefReloc[] {
  const out = execFileSync('llvm-readelf-16', ['-r', file], { maxBuffer: 1 << 28 }).toString();
  const relocs: RefReloc[] = [];
  let section = '';
  for (const line of out.split('\n')) {
    const head = /^Relocation section '(.*)' at offset/.exec(line);
    if (head) {
      section = head[1]!;
      continue;
    }
    const m = /^([0-9a-f]{16})\s+([0-9a-f]{16})\s+\S+(.*)$/.exec(line);
    if (!m) continue;
    const info = BigInt(`0x${m[2]}`);
    // With a symbol: '<value> <name> + <hex>'; without one (RELATIVE): just '[-]<hex>'.
    const add = /([+-]) ([0-9a-f]+)\s*$/.exec(m[3]!) ?? /^\s+(-?)([0-9a-f]+)\s*$/.exec(m[3]!);
    relocs.push({
      section,
      offset: Number.parseInt(m[1]!, 16),
      symbol: Number(info >> 32n),
      type: Number(info & 0xffffffffn),
      addend: add ? (add[1] === '-' ? -1n : 1n) * BigInt(`0x${add[2]}`) : 0n,
    });
  }
  return relocs;
}

function compareSections(elf: ElfFile, ref: Json): void {
  const secs = ref.Sections.map((s: Json) => s.Section);
  assert.is(elf.sections.length, secs.length, 'section count');
  for (const r of secs) {
    const s = elf.sections[r.Index]!;
    const ctx = `section ${r.Index} ${r.Name.Value}`;
    assert.is(s.index, r.Index, ctx);
    assert.is(s.name, r.Name.Value, ctx);
    assert.is(s.type, r.Type.RawValue, ctx);
    assert.is(s.flags, r.Flags.RawFlags, ctx);
    assert.is(s.addr, BigInt(r.Address), ctx);
    assert.is(s.offset, r.Offset, ctx);
    assert.is(s.size, r.Size, ctx);
    assert.is(s.link, r.Link, ctx);
    assert.is(s.info, r.Info, ctx);
    assert.is(s.addralign, r.AddressAlignment, ctx);
    assert.is(s.entsize, r.EntrySize, ctx);
    assert.is(s.data.length, s.type === SHT.NOBITS || s.type === SHT.NULL ? 0 : r.Size, ctx);
    if (r.Name.Value !== '' && elf.sections.findIndex((x) => x.name === r.Name.Value) === r.Index) {
      assert.is(elf.section(r.Name.Value), s, ctx);
    }
  }
}

function compareSymbols(syms: readonly { name: string; value: number; size: number; type: number; bind: number; visibility: number; shndx: number; index: number }[], ref: Json[], stripVersion: boolean): void {
  assert.is(syms.length, ref.length, 'symbol count');
  ref.forEach((entry, i) => {
    const r = entry.Symbol;
    const s = syms[i]!;
    let name: string = r.Name.RawValue === 0 ? '' : r.Name.Value;
    if (stripVersion) name = name.replace(/@.*$/, '');
    const ctx = `symbol ${i} ${name}`;
    assert.is(s.index, i, ctx);
    assert.is(s.name, name, ctx);
    assert.is(s.value, r.Value, ctx);
    assert.is(s.size, r.Size, ctx);
    assert.is(s.type, r.Type.RawValue, ctx);
    assert.is(s.bind, r.Binding.RawValue, ctx);
    assert.is(s.visibility, typeof r.Other === 'number' ? r.Other & 3 : r.Other.RawFlags & 3, ctx);
    assert.is(s.shndx, r.Section.RawValue, ctx);
  });
}

function compareRelocs(elf: ElfFile, file: string): number {
  const ref = readelfRelocs(file);
  const ours = elf.sections
    .filter((s) => s.type === SHT.REL || s.type === SHT.RELA)
    .flatMap((s) => elf.relocations(s).map((r) => ({ section: s.name, ...r })));
  assert.is(ours.length, ref.length, 'relocation count');
  ref.forEach((r, i) => assert.equal(ours[i], r, `relocation ${i} in ${r.section}`));
  return ours.length;
}

// --- BPF object ------------------------------------------------------------------------------

test('BPF object: header and sections match llvm-readelf', () => {
  const elf = ElfFile.parse(readFileSync(BPF_OBJ));
  assert.is(elf.machine, EM_BPF);
  assert.is(elf.type, ET.REL);
  assert.is(elf.programHeaders.length, 0);
  compareSections(elf, readelfJson(BPF_OBJ, '-S'));
  assert.is(elf.sections[0]!.type, SHT.NULL);
  assert.ok(elf.section('.BTF'));
  assert.ok(elf.section('?kprobe/do_sys_open'));
  assert.is(elf.section('.bss')!.type, SHT.NOBITS);
  assert.is(elf.section('.bss')!.data.length, 0);
  assert.is(elf.section('no such section'), undefined);
});

test('BPF object: symbols match llvm-readelf', () => {
  const elf = ElfFile.parse(readFileSync(BPF_OBJ));
  compareSymbols(elf.symbols, readelfJson(BPF_OBJ, '-s').Symbols, false);
  assert.is(elf.dynamicSymbols.length, 0);
  const byName = new Map(elf.symbols.map((s) => [s.name, s]));
  assert.is(byName.get('hidden_var')!.visibility, STV.HIDDEN);
  assert.is(byName.get('weak_var')!.bind, STB.WEAK);
  assert.is(byName.get('local_state')!.bind, STB.LOCAL);
  assert.is(byName.get('LINUX_KERNEL_VERSION')!.shndx, SHN_UNDEF);
  assert.is(byName.get('on_switch')!.type, STT.FUNC);
  assert.is(elf.sections[byName.get('on_switch')!.shndx]!.name, 'tp/sched/sched_switch');
  assert.is(elf.symbols.find((s) => s.type === STT.FILE)!.shndx, SHN_ABS);
  assert.is(byName.get('on_switch')!.value64, 0n);
});

test('BPF object: relocations match llvm-readelf', () => {
  const bytes = readFileSync(BPF_OBJ);
  const elf = ElfFile.parse(bytes);
  assert.ok(compareRelocs(elf, BPF_OBJ) > 20);
  const rel = elf.section('.reltp/sched/sched_switch')!;
  assert.is(elf.relocationTarget(rel), elf.section('tp/sched/sched_switch'));
  const relocs = elf.relocations(rel);
  assert.ok(relocs.some((r) => r.type === R_BPF_64_64 && elf.symbols[r.symbol]!.name === 'counts'));
  assert.ok(relocs.some((r) => r.type === R_BPF_64_32));
  assert.is(elf.relocationTarget(elf.sections[0]!), undefined);
});

test('section data is a zero-copy view of the input', () => {
  const bytes = readFileSync(BPF_OBJ);
  const elf = ElfFile.parse(bytes);
  const lic = elf.section('license')!;
  assert.is(lic.data.buffer, bytes.buffer);
  assert.is(new TextDecoder().decode(lic.data), 'GPL\0');
});

test('misuse (a section of another file, wrong section type) is a BpfError, not a crash', () => {
  const a = ElfFile.parse(readFileSync(BPF_OBJ));
  const b = ElfFile.parse(readFileSync(BPF_OBJ));
  assert.throws(() => a.relocations(b.section('.rel.text')!), /does not belong/);
  assert.throws(() => a.relocations(a.section('.text')!), /not a relocation section/);
  assert.throws(() => a.symbolsOf(a.section('.text')!), /not a symbol table/);
});

// --- host binaries -----------------------------------------------------------------------------

test('host binary: sections, dynamic symbols and program headers match llvm-readelf', () => {
  const elf = ElfFile.parse(readFileSync(HOST_BIN));
  const ref = readelfJson(HOST_BIN, '-S', '--dyn-syms', '-l');
  compareSections(elf, ref);
  compareSymbols(elf.dynamicSymbols, ref.DynamicSymbols, true);
  const phs = ref.ProgramHeaders.map((p: Json) => p.ProgramHeader);
  assert.is(elf.programHeaders.length, phs.length);
  phs.forEach((r: Json, i: number) => {
    const p = elf.programHeaders[i]!;
    assert.is(p.type, r.Type.RawValue);
    assert.is(p.flags, r.Flags.RawFlags);
    assert.is(p.offset, r.Offset);
    assert.is(p.vaddr, BigInt(r.VirtualAddress));
    assert.is(p.paddr, BigInt(r.PhysicalAddress));
    assert.is(p.filesz, r.FileSize);
    assert.is(p.memsz, r.MemSize);
    assert.is(p.align, r.Alignment);
    assert.is(p.data.length, r.FileSize);
  });
  assert.ok(elf.programHeaders.some((p) => p.type === PT.LOAD));
});

test('host binary: relocations (with addends) match llvm-readelf', () => {
  const elf = ElfFile.parse(readFileSync(HOST_BIN));
  assert.ok(compareRelocs(elf, HOST_BIN) > 10);
  assert.ok(elf.relocations(elf.section('.rela.dyn')!).some((r) => r.addend !== 0n));
});

test('host binary: notes (build id) match llvm-readelf', () => {
  const elf = ElfFile.parse(readFileSync(HOST_BIN));
  const text = execFileSync('llvm-readelf-16', ['-n', HOST_BIN]).toString();
  const buildId = /Build ID: ([0-9a-f]+)/.exec(text)![1]!;
  const notes = elf.notes(elf.section('.note.gnu.build-id')!);
  assert.is(notes.length, 1);
  assert.is(notes[0]!.name, 'GNU');
  assert.is(notes[0]!.type, 3);
  assert.is(Buffer.from(notes[0]!.desc).toString('hex'), buildId);
  const prop = elf.section('.note.gnu.property');
  if (prop) assert.is(elf.notes(prop)[0]!.type, 5); // 8-byte-aligned note layout
  const ptNote = elf.programHeaders.find((p) => p.type === PT.NOTE);
  if (ptNote) assert.ok(elf.segmentNotes(ptNote).length >= 1);
});

test('large binary (node): full symbol table decodes quickly', () => {
  const bytes = readFileSync(process.execPath);
  const t0 = performance.now();
  const elf = ElfFile.parse(bytes);
  const syms = elf.symbols;
  const dyn = elf.dynamicSymbols;
  const ms = performance.now() - t0;
  const ref = readelfJson(process.execPath, '-S');
  const sizeOf = (t: number) => ref.Sections.find((s: Json) => s.Section.Type.RawValue === t)?.Section.Size ?? 0;
  assert.is(syms.length, sizeOf(SHT.SYMTAB) / 24);
  assert.is(dyn.length, sizeOf(SHT.DYNSYM) / 24);
  console.log(`  node: ${syms.length} + ${dyn.length} symbols in ${ms.toFixed(0)} ms`);
  assert.ok(ms < 5000, `took ${ms} ms`);
});

// --- synthetic files ---------------------------------------------------------------------------

interface SecSpec {
  name: string;
  type: number;
  data?: Uint8Array;
  size?: number;
  link?: number;
  info?: number;
  entsize?: number;
  flags?: number;
}

/** Lays out a minimal ELF64 LE relocatable file: header, contents, .shstrtab, section headers. */
function buildElf(specs: SecSpec[]): Uint8Array {
  const all = [...specs, { name: '.shstrtab', type: SHT.STRTAB } as SecSpec];
  const names: number[] = [];
  let strtab = '\0';
  for (const s of all) {
    names.push(strtab.length);
    strtab += `${s.name}\0`;
  }
  all[all.length - 1]!.data = new TextEncoder().encode(strtab);
  let off = 64;
  const offsets = all.map((s) => {
    off = Math.ceil(off / 8) * 8;
    const at = off;
    if (s.type !== SHT.NOBITS) off += s.data?.length ?? 0;
    return at;
  });
  const shoff = Math.ceil(off / 8) * 8;
  const out = new Uint8Array(shoff + 64 * (all.length + 1));
  const v = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(16, ET.REL, true);
  v.setUint16(18, EM_BPF, true);
  v.setUint32(20, 1, true);
  v.setBigUint64(40, BigInt(shoff), true);
  v.setUint16(52, 64, true);
  v.setUint16(58, 64, true);
  v.setUint16(60, all.length + 1, true);
  v.setUint16(62, all.length, true);
  all.forEach((s, i) => {
    if (s.data && s.type !== SHT.NOBITS) out.set(s.data, offsets[i]!);
    const h = shoff + 64 * (i + 1);
    v.setUint32(h, names[i]!, true);
    v.setUint32(h + 4, s.type, true);
    v.setBigUint64(h + 8, BigInt(s.flags ?? 0), true);
    v.setBigUint64(h + 24, BigInt(offsets[i]!), true);
    v.setBigUint64(h + 32, BigInt(s.size ?? s.data?.length ?? 0), true);
    v.setUint32(h + 40, s.link ?? 0, true);
    v.setUint32(h + 44, s.info ?? 0, true);
    v.setBigUint64(h + 48, 1n, true);
    v.setBigUint64(h + 56, BigInt(s.entsize ?? 0), true);
  });
  return out;
}

function symbols(list: { name: number; info?: number; shndx?: number; value?: bigint }[]): Uint8Array {
  const out = new Uint8Array(24 * list.length);
  const v = new DataView(out.buffer);
  list.forEach((s, i) => {
    v.setUint32(24 * i, s.name, true);
    out[24 * i + 4] = s.info ?? 0;
    v.setUint16(24 * i + 6, s.shndx ?? 0, true);
    v.setBigUint64(24 * i + 8, s.value ?? 0n, true);
  });
  return out;
}

test('synthetic: SHN_XINDEX symbols resolve through SHT_SYMTAB_SHNDX', () => {
  const syms = symbols([{ name: 0 }, { name: 1, shndx: SHN_XINDEX, info: STT.OBJECT }, { name: 3, shndx: 1 }]);
  const shndx = new Uint8Array(12);
  new DataView(shndx.buffer).setUint32(4, 1, true);
  // sections: 1 .text, 2 .strtab, 3 .symtab, 4 .symtab_shndx, 5 .shstrtab
  const bytes = buildElf([
    { name: '.text', type: SHT.PROGBITS, data: new Uint8Array(16) },
    { name: '.strtab', type: SHT.STRTAB, data: new TextEncoder().encode('\0a\0b\0') },
    { name: '.symtab', type: SHT.SYMTAB, data: syms, link: 2, entsize: 24 },
    { name: '.symtab_shndx', type: SHT.SYMTAB_SHNDX, data: shndx, link: 3, entsize: 4 },
  ]);
  const elf = ElfFile.parse(bytes);
  assert.equal(elf.symbols.map((s) => [s.name, s.shndx]), [['', 0], ['a', 1], ['b', 1]]);
  // Without the SHNDX table the same symbol is an error, not a silent 0xffff.
  const noTable = ElfFile.parse(buildElf([
    { name: '.text', type: SHT.PROGBITS, data: new Uint8Array(16) },
    { name: '.strtab', type: SHT.STRTAB, data: new TextEncoder().encode('\0a\0b\0') },
    { name: '.symtab', type: SHT.SYMTAB, data: syms, link: 2, entsize: 24 },
  ]));
  assert.throws(() => noTable.symbols, (e: unknown) => e instanceof ParseError && /SHN_XINDEX/.test(e.message));
});

test('synthetic: kernel addresses keep full precision in value64', () => {
  const bytes = buildElf([
    { name: '.strtab', type: SHT.STRTAB, data: new TextEncoder().encode('\0k\0') },
    { name: '.symtab', type: SHT.SYMTAB, data: symbols([{ name: 0 }, { name: 1, shndx: SHN_ABS, value: 0xffffffff81000123n }]), link: 1, entsize: 24 },
  ]);
  assert.is(ElfFile.parse(bytes).symbols[1]!.value64, 0xffffffff81000123n);
});

test('synthetic: non-ASCII (UTF-8) names decode', () => {
  const enc = new TextEncoder();
  const bytes = buildElf([
    { name: '.strtab', type: SHT.STRTAB, data: enc.encode('\0héllo\0wörld\0') },
    { name: '.symtab', type: SHT.SYMTAB, data: symbols([{ name: 0 }, { name: 1 }, { name: 8 }, { name: 4 }, { name: 3 }]), link: 1, entsize: 24 },
  ]);
  // Offset 3 starts inside 'é': like any UTF-8 decoder we yield U+FFFD rather than fail.
  assert.equal(ElfFile.parse(bytes).symbols.map((s) => s.name), ['', 'héllo', 'wörld', 'llo', '\ufffdllo']);
});

test('synthetic: extended numbering (e_shnum = 0, e_shstrndx = SHN_XINDEX) parses identically', () => {
  const bytes = new Uint8Array(readFileSync(BPF_OBJ));
  const v = new DataView(bytes.buffer);
  const shoff = Number(v.getBigUint64(40, true));
  const shnum = v.getUint16(60, true);
  const shstrndx = v.getUint16(62, true);
  v.setUint16(60, 0, true);
  v.setUint16(62, SHN_XINDEX, true);
  v.setBigUint64(shoff + 32, BigInt(shnum), true);
  v.setUint32(shoff + 40, shstrndx, true);
  const a = ElfFile.parse(readFileSync(BPF_OBJ));
  const b = ElfFile.parse(bytes);
  assert.equal(b.sections.slice(1).map((s) => s.name), a.sections.slice(1).map((s) => s.name));
  assert.equal(b.symbols, a.symbols);
});

test('hostile: a string table of names running into one huge NUL-free run stays linear', () => {
  const strtab = new Uint8Array(1 << 21).fill(0x41);
  strtab[0] = 0;
  strtab[strtab.length - 1] = 0;
  const count = 60000;
  const list = Array.from({ length: count }, (_, i) => ({ name: i === 0 ? 0 : 1 + i }));
  const bytes = buildElf([
    { name: '.strtab', type: SHT.STRTAB, data: strtab },
    { name: '.symtab', type: SHT.SYMTAB, data: symbols(list), link: 1, entsize: 24 },
  ]);
  const t0 = performance.now();
  const syms = ElfFile.parse(bytes).symbols;
  const ms = performance.now() - t0;
  assert.is(syms.length, count);
  assert.is(syms[5]!.name.length, strtab.length - 1 - 6);
  assert.ok(ms < 3000, `took ${ms} ms`);
});

test('notes: malformed note data is a ParseError', () => {
  const d = new Uint8Array(16);
  new DataView(d.buffer).setUint32(0, 100, true); // namesz beyond the data
  assert.throws(() => parseNotes(d, 4, '.note.x'), (e: unknown) => e instanceof ParseError && e.section === '.note.x');
  const e = new Uint8Array(16);
  new DataView(e.buffer).setUint32(4, 0xffffffff, true); // descsz beyond the data
  assert.throws(() => parseNotes(e, 4, '.note.x'), (x: unknown) => x instanceof ParseError);
  assert.equal(parseNotes(new Uint8Array(0), 4, '.note.x'), []);
});

// --- corruption --------------------------------------------------------------------------------

/** Parses and touches everything; returns the ParseError or undefined. Any other error fails. */
function exercise(bytes: Uint8Array, what: string): ParseError | undefined {
  try {
    const elf = ElfFile.parse(bytes);
    for (const s of elf.sections) {
      elf.section(s.name);
      if (s.type === SHT.REL || s.type === SHT.RELA) {
        elf.relocations(s);
        elf.relocationTarget(s);
      }
      if (s.type === SHT.NOTE) elf.notes(s);
      if (s.type === SHT.SYMTAB || s.type === SHT.DYNSYM) elf.symbolsOf(s);
    }
    void elf.symbols;
    void elf.dynamicSymbols;
    for (const p of elf.programHeaders) if (p.type === PT.NOTE) elf.segmentNotes(p);
    return undefined;
  } catch (err) {
    if (!(err instanceof ParseError)) {
      throw new Error(`${what}: expected ParseError, got ${(err as Error)?.stack ?? String(err)}`);
    }
    assert.ok(err.section !== undefined && err.offset !== undefined, `${what}: ParseError without location: ${err.message}`);
    return err;
  }
}

function expectParseError(bytes: Uint8Array, what: string, pattern?: RegExp, section?: string): ParseError {
  const err = exercise(bytes, what);
  assert.ok(err, `${what}: expected a ParseError, parsed fine`);
  if (pattern) assert.match(err.message, pattern, what);
  if (section !== undefined) assert.is(err.section, section, what);
  return err;
}

function mutate(file: string, edit: (v: DataView, bytes: Uint8Array, shoff: number) => void): Uint8Array {
  const bytes = new Uint8Array(readFileSync(file));
  const v = new DataView(bytes.buffer);
  edit(v, bytes, Number(v.getBigUint64(40, true)));
  return bytes;
}

/** Offset of section header `name` in BPF_OBJ. */
function shdrOf(name: string): number {
  const elf = ElfFile.parse(readFileSync(BPF_OBJ));
  const bytes = readFileSync(BPF_OBJ);
  const shoff = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(40, true));
  return shoff + 64 * elf.section(name)!.index;
}

test('unsupported: not ELF, 32-bit, big-endian', () => {
  expectParseError(new Uint8Array(0), 'empty', /not an ELF file/, 'ELF header');
  expectParseError(new TextEncoder().encode('#!/bin/sh\n'), 'script', /not an ELF file/);
  expectParseError(mutate(BPF_OBJ, (_, b) => (b[4] = 1)), '32-bit', /32-bit ELF files are not supported/, 'ELF header');
  expectParseError(mutate(BPF_OBJ, (_, b) => (b[5] = 2)), 'big-endian', /big-endian/, 'ELF header');
  expectParseError(mutate(BPF_OBJ, (_, b) => (b[4] = 9)), 'bad class', /invalid ELF class/);
});

test('corrupt: truncation at every length', () => {
  for (const file of [BPF_OBJ, HOST_BIN]) {
    const bytes = new Uint8Array(readFileSync(file));
    const step = Math.max(1, Math.floor(bytes.length / 4000));
    let errors = 0;
    for (let len = 0; len < bytes.length; len += step) if (exercise(bytes.subarray(0, len), `${file} truncated to ${len}`)) errors++;
    // Section headers sit at the end, so every truncation must be detected.
    assert.is(errors, Math.ceil(bytes.length / step), file);
  }
});

test('corrupt: specific header fields', () => {
  const fileSize = readFileSync(BPF_OBJ).length;
  expectParseError(mutate(BPF_OBJ, (v) => v.setBigUint64(40, BigInt(fileSize), true)), 'e_shoff = size', /e_shoff/, 'ELF header');
  expectParseError(mutate(BPF_OBJ, (v) => v.setBigUint64(40, 1n << 63n, true)), 'e_shoff = 2^63', /too large/, 'ELF header');
  expectParseError(mutate(BPF_OBJ, (v, _, shoff) => v.setBigUint64(40, BigInt(shoff + 8), true)), 'e_shoff + 8');
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint16(58, 40, true)), 'e_shentsize', /e_shentsize/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint16(60, 5000, true)), 'e_shnum', /do not fit/, 'section headers');
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint16(62, 500, true)), 'e_shstrndx', /e_shstrndx/, 'ELF header');
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint16(56, 3, true)), 'e_phnum without phdrs', /e_phentsize|program headers/);
  expectParseError(mutate(BPF_OBJ, (v) => { v.setUint16(54, 56, true); v.setUint16(56, 3, true); v.setBigUint64(32, BigInt(fileSize - 10), true); }), 'e_phoff', /program headers/, 'program headers');
  // e_shnum = 0 with a huge count in section 0 (extended numbering) must not allocate it.
  expectParseError(mutate(BPF_OBJ, (v, _, shoff) => { v.setUint16(60, 0, true); v.setBigUint64(shoff + 32, 1n << 40n, true); }), 'xnum', /do not fit/);
});

test('corrupt: specific section header fields', () => {
  const text = shdrOf('.text');
  const symtab = shdrOf('.symtab');
  const relText = shdrOf('.rel.text');
  const size = readFileSync(BPF_OBJ).length;
  expectParseError(mutate(BPF_OBJ, (v) => v.setBigUint64(text + 24, BigInt(size), true)), 'sh_offset', /past the end/, 'section headers');
  expectParseError(mutate(BPF_OBJ, (v) => v.setBigUint64(text + 32, 1n << 40n, true)), 'huge sh_size', /past the end/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setBigUint64(text + 32, 1n << 62n, true)), 'sh_size 2^62', /too large/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint32(text, 0xfffffff0, true)), 'sh_name', /sh_name of section header \d+: string offset .* is outside/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setBigUint64(symtab + 32, 24n << 32n, true)), 'symtab of 2^32 entries', /past the end/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setBigUint64(symtab + 56, 16n, true)), 'symtab entsize', /sh_entsize/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setBigUint64(symtab + 32, 25n, true)), 'symtab size % 24', /multiple/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint32(symtab + 40, 999, true)), 'symtab link', /sh_link/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint32(symtab + 40, 2, true)), 'symtab link to PROGBITS', /not a string table/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint32(relText + 40, 2, true)), 'rel link', /not a symbol table/);
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint32(relText + 44, 999, true)), 'rel info', /sh_info/);
});

test('corrupt: bad symbol index in a relocation, bad symbol fields', () => {
  const elf = ElfFile.parse(readFileSync(BPF_OBJ));
  const rel = elf.section('.rel.text')!;
  const err = expectParseError(
    mutate(BPF_OBJ, (v) => v.setUint32(rel.offset + 12, 5000, true)),
    'relocation symbol',
    /refers to symbol 5000/,
    '.rel.text',
  );
  assert.is(err.offset, 12);
  const sym = elf.symtabSection!;
  const i = elf.symbols.findIndex((s) => s.name === 'counts');
  const e2 = expectParseError(mutate(BPF_OBJ, (v) => v.setUint32(sym.offset + 24 * i, 0x7fffffff, true)), 'st_name', /string offset/);
  assert.is(e2.section, '.strtab');
  expectParseError(mutate(BPF_OBJ, (v) => v.setUint16(sym.offset + 24 * i + 6, 900, true)), 'st_shndx', /section index 900/, '.symtab');
  // A string table without a terminating NUL.
  const strtab = elf.section('.strtab')!;
  expectParseError(mutate(BPF_OBJ, (_, b) => b.fill(0x41, strtab.offset, strtab.offset + strtab.size)), 'unterminated strtab');
});

/** Deterministic PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('corrupt: every bit flip in the ELF header', () => {
  for (const file of [BPF_OBJ, HOST_BIN]) {
    const orig = new Uint8Array(readFileSync(file));
    for (let bit = 0; bit < 64 * 8; bit++) {
      const bytes = orig.slice();
      bytes[bit >> 3]! ^= 1 << (bit & 7);
      exercise(bytes, `${file} header bit ${bit}`);
    }
  }
});

test('corrupt: bit flips in section headers, program headers and symbol/relocation tables', () => {
  const rand = prng(1);
  for (const file of [BPF_OBJ, HOST_BIN]) {
    const orig = new Uint8Array(readFileSync(file));
    const elf = ElfFile.parse(orig);
    const v = new DataView(orig.buffer);
    const shoff = Number(v.getBigUint64(40, true));
    const regions: [number, number][] = [[shoff, elf.sections.length * 64]];
    if (elf.programHeaders.length) regions.push([Number(v.getBigUint64(32, true)), elf.programHeaders.length * 56]);
    for (const s of elf.sections) {
      if ([SHT.SYMTAB, SHT.DYNSYM, SHT.REL, SHT.RELA, SHT.NOTE, SHT.STRTAB].includes(s.type as 2)) regions.push([s.offset, s.size]);
    }
    for (const [start, len] of regions) {
      const flips = Math.min(len * 8, 1500);
      for (let k = 0; k < flips; k++) {
        const bit = flips === len * 8 ? k : Math.floor(rand() * len * 8);
        const bytes = orig.slice();
        bytes[start + (bit >> 3)]! ^= 1 << (bit & 7);
        exercise(bytes, `${file} bit ${start * 8 + bit}`);
      }
    }
  }
});

test('corrupt: random multi-byte damage anywhere', () => {
  const rand = prng(2);
  for (const file of [BPF_OBJ, HOST_BIN]) {
    const orig = new Uint8Array(readFileSync(file));
    for (let k = 0; k < 1500; k++) {
      const bytes = orig.slice();
      const n = 1 + Math.floor(rand() * 8);
      for (let j = 0; j < n; j++) {
        const at = Math.floor(rand() * bytes.length);
        bytes[at] = rand() < 0.5 ? 0xff : Math.floor(rand() * 256);
      }
      exercise(bytes, `${file} random damage #${k}`);
    }
  }
});

test.run();
