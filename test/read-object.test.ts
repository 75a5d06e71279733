// BpfObject.open(path) reads a compact image without the DWARF sections (src/spec/read-object.ts):
// it must open to the same spec as the whole file's bytes, and fail with the same errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BpfObject } from '../src/index.js';
import { ElfFile, SHDR_SIZE, SHT } from '../elf/index.js';
import { readObjectFile } from '../src/spec/read-object.js';
import { compileBpf } from './support/compile.js';

const names = ['tools-runqlat', 'maps', 'globals', 'calls', 'externs', 'struct_ops'];
const dir = mkdtempSync(join(tmpdir(), 'tsbpf-read-object-'));

/** What open produced, comparable across the two inputs. */
function outcome(open: () => BpfObject): string {
  try {
    const o = open();
    try {
      const s = o.spec;
      return JSON.stringify({
        license: s.license,
        programs: s.programs.map((p) => [p.name, p.sectionName, Buffer.from(p.insns).toString('hex'), p.relocs]),
        maps: s.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries, m.mapFlags, m.btfKeyTypeId, m.btfValueTypeId, m.initialData && Buffer.from(m.initialData).toString('hex')]),
        externs: s.externs.map((e) => [e.name, e.kind]),
        btf: s.btf && Buffer.from(s.btf.encode()).toString('hex'),
        ext: s.btfExt && [[...s.btfExt.funcInfo], [...s.btfExt.lineInfo], [...s.btfExt.coreRelos]],
        sections: s.elf.sections.map((x) => [x.name, x.size, x.flags, x.link, x.info]),
      }, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
    } finally {
      o.close();
    }
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('the compact image leaves out the DWARF and opens to the same spec', () => {
  for (const n of names) {
    const path = compileBpf(n);
    const whole = readFileSync(path);
    const r = readObjectFile(path);
    assert.ok(r.compact, `${n}: compact image expected`);
    const elf = ElfFile.parse(whole);
    const dwarf = elf.sections.filter((s) => s.name.startsWith('.debug') || s.name.startsWith('.rel.debug')).reduce((a, s) => a + s.size, 0);
    assert.ok(dwarf > 0, `${n}: built with -g, it has DWARF`);
    assert.ok(r.bytes.length <= whole.length - dwarf + 8 * elf.sections.length, `${n}: ${r.bytes.length} bytes for a ${whole.length}-byte file with ${dwarf} bytes of DWARF`);
    const img = ElfFile.parse(r.bytes);
    for (const s of img.sections) if (s.name.startsWith('.debug') || s.name.startsWith('.rel.debug')) assert.is(s.type, SHT.NOBITS, `${n}: ${s.name}`);
    assert.is(outcome(() => BpfObject.open(path)), outcome(() => BpfObject.open(new Uint8Array(whole), { objectName: n.split('.')[0] })), n);
  }
});

test('errors are the whole file\'s, also for damage the compact image would not see', () => {
  const path = compileBpf('maps');
  const whole = new Uint8Array(readFileSync(path));
  const elf = ElfFile.parse(whole);
  const shoff = Number(new DataView(whole.buffer).getBigUint64(40, true));
  const file = join(dir, 'maps.bpf.o');
  const check = (bytes: Uint8Array, what: string, expectError: boolean): void => {
    writeFileSync(file, bytes);
    const a = outcome(() => BpfObject.open(file, { objectName: 'maps' }));
    const b = outcome(() => BpfObject.open(bytes, { objectName: 'maps' }));
    assert.is(a, b, what);
    assert.is(a.startsWith('ParseError') || a.startsWith('BpfError'), expectError, `${what}: ${a.slice(0, 200)}`);
  };
  const dbg = elf.sections.find((s) => s.name === '.debug_info')!;
  const relDbg = elf.sections.find((s) => s.name === '.rel.debug_info')!;
  // A DWARF relocation section with a bad entry size: ElfFile rejects the file, so open must too.
  let b = whole.slice();
  new DataView(b.buffer).setUint32(shoff + relDbg.index * SHDR_SIZE + 56, 7, true);
  check(b, 'bad sh_entsize on .rel.debug_info', true);
  // DWARF contents past the end of the file.
  b = whole.slice();
  new DataView(b.buffer).setUint32(shoff + dbg.index * SHDR_SIZE + 32, whole.length, true);
  check(b, '.debug_info past the end', true);
  // Garbage inside the DWARF itself is never read: the object opens either way.
  b = whole.slice();
  b.fill(0xa5, dbg.offset, dbg.offset + dbg.size);
  check(b, 'garbage DWARF', false);
  // Deterministic corruption of the headers and the rest, as in open-bad-input.
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1664525 + 1013904223) >>> 0) % n);
  for (let i = 0; i < 150; i++) {
    b = whole.slice();
    for (let k = 1 + rnd(3); k > 0; k--) {
      const at = rnd(2) ? shoff + rnd(elf.sections.length * SHDR_SIZE) : rnd(b.length);
      b[at] = rnd(256);
    }
    writeFileSync(file, b);
    assert.is(outcome(() => BpfObject.open(file, { objectName: 'maps' })), outcome(() => BpfObject.open(b, { objectName: 'maps' })), `mutation ${i}`);
  }
});

test.run();
