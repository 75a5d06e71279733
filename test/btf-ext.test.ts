// .BTF.ext parsing: func_info / line_info / CO-RE relocations of clang-built fixtures, checked
// against the C source, plus synthetic blobs for record sizes, byte order and malformed input.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, BTF_KIND, parseBtfExt } from '../btf/index.js';
import type { BtfExt } from '../btf/index.js';
import { ParseError } from '../src/errors.js';
import { FIXTURE_DIR, compileFixture, loadElf, rng, sectionBytes } from './btf-fixtures/support.js';

function load(name: string): { btf: Btf; ext: Uint8Array } {
  const elf = loadElf(compileFixture(name));
  return { btf: Btf.parse(sectionBytes(elf, '.BTF')), ext: sectionBytes(elf, '.BTF.ext') };
}

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

/** Rebuild a .BTF.ext blob from records (to vary record sizes, header length and byte order). */
interface Sub { recSize: number; secs: { nameOff: number; recs: number[][] }[] }
function buildExt(o: { func?: Sub; line?: Sub; core?: Sub; hdrLen?: number; le?: boolean }): Uint8Array {
  const le = o.le ?? true;
  const hdrLen = o.hdrLen ?? 32;
  const subs = [o.func, o.line, o.core];
  const parts: number[][] = subs.map((s) => {
    if (!s) return [];
    const w: number[] = [s.recSize];
    for (const sec of s.secs) {
      w.push(sec.nameOff, sec.recs.length);
      for (const r of sec.recs) { for (let i = 0; i < s.recSize / 4; i++) w.push(r[i] ?? 0); }
    }
    return w;
  });
  const total = hdrLen + parts.reduce((a, p) => a + p.length * 4, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, 0xeb9f, le);
  out[2] = 1;
  dv.setUint32(4, hdrLen, le);
  let off = 0;
  parts.forEach((p, i) => {
    const field = 8 + i * 8;
    if (field + 8 <= hdrLen) {
      dv.setUint32(field, off, le);
      dv.setUint32(field + 4, p.length * 4, le);
    }
    p.forEach((w, j) => dv.setUint32(hdrLen + off + j * 4, w >>> 0, le));
    off += p.length * 4;
  });
  return out;
}

/** The records of a parsed BtfExt, as raw word arrays (the inverse of buildExt). */
function subsOf(btf: Btf, e: BtfExt): { func: Sub; line: Sub; core: Sub } {
  const off = (name: string) => btf.findStr(name)!;
  return {
    func: { recSize: e.funcInfoRecSize, secs: [...e.funcInfo].map(([n, rs]) => ({ nameOff: off(n), recs: rs.map((r) => [r.insnOff, r.typeId]) })) },
    line: { recSize: e.lineInfoRecSize, secs: [...e.lineInfo].map(([n, rs]) => ({ nameOff: off(n), recs: rs.map((r) => [r.insnOff, r.fileNameOff, r.lineOff, r.lineCol]) })) },
    core: { recSize: e.coreReloRecSize, secs: [...e.coreRelos].map(([n, rs]) => ({ nameOff: off(n), recs: rs.map((r) => [r.insnOff, r.typeId, r.accessStrOff, r.kind]) })) },
  };
}

test('func_info: one FUNC per program/subprogram, keyed by ELF section', () => {
  const { btf, ext } = load('core');
  const e = parseBtfExt(ext, btf);
  assert.is(e.funcInfoRecSize, 8);
  assert.is(e.lineInfoRecSize, 16);
  assert.is(e.coreReloRecSize, 16);
  const names = [...e.funcInfo].map(([sec, fs]) => [sec, fs.map((f) => [f.insnOff, btf.kind(f.typeId), btf.name(f.typeId)])]);
  assert.equal(names.sort(), [
    ['.text', [[0, BTF_KIND.FUNC, 'sub']]],
    ['kprobe/do_nanosleep', [[0, BTF_KIND.FUNC, 'probe_one']]],
    ['tracepoint/syscalls/sys_enter_openat', [[0, BTF_KIND.FUNC, 'probe_two']]],
  ]);
});

test('line_info: file names, line/column and line text agree with the C source', () => {
  for (const name of ['core', 'kinds']) {
    const { btf, ext } = load(name);
    const e = parseBtfExt(ext, btf);
    const src = readFileSync(join(FIXTURE_DIR, `${name}.bpf.c`), 'utf8').split('\n');
    let n = 0;
    for (const [sec, lines] of e.lineInfo) {
      assert.ok(e.funcInfo.has(sec), sec);
      let prev = -1;
      for (const l of lines) {
        assert.ok(l.insnOff % 8 === 0 && l.insnOff > prev, `${sec} insn ${l.insnOff}`);
        prev = l.insnOff;
        assert.ok(l.fileName.endsWith(`${name}.bpf.c`), l.fileName);
        assert.is(l.line, l.lineCol >>> 10);
        assert.is(l.col, l.lineCol & 0x3ff);
        if (l.line === 0) continue; // compiler-generated code has no line
        assert.is(l.lineText, src[l.line - 1], `${sec}: line ${l.line}`);
        assert.ok(l.col <= l.lineText.length + 1);
        n++;
      }
    }
    assert.ok(n > 5);
  }
});

test('core_relo: kinds, types and access strings of the CO-RE fixture', () => {
  const { btf, ext } = load('core');
  const e = parseBtfExt(ext, btf);
  const all = [...e.coreRelos].flatMap(([sec, rs]) => rs.map((r) => ({ sec, ...r })));
  const kinds = new Set(all.map((r) => r.kind));
  // byte_off, byte_sz, field_exists, signed, lshift, rshift, type_exists, type_size, enumval_value
  for (const k of [0, 1, 2, 3, 4, 5, 8, 9, 11]) assert.ok(kinds.has(k), `relo kind ${k}`);
  for (const r of all) {
    assert.match(r.accessStr, /^\d+(:\d+)*$/);
    assert.ok(r.insnOff % 8 === 0);
    const n = btf.name(r.typeId);
    assert.ok(n === 'task_like' || n === 'state_like', n);
  }
  const ev = all.find((r) => r.kind === 11)!;
  assert.is(btf.name(ev.typeId), 'state_like');
  assert.is(ev.accessStr, '1'); // ST_SLEEPING is enumerator #1
  assert.ok(all.some((r) => r.sec === '.text' && r.accessStr === '0:2' && r.kind === 0)); // t->parent
  const tl = btf.type(btf.findOne('task_like', BTF_KIND.STRUCT)!);
  assert.ok(tl.kind === BTF_KIND.STRUCT && tl.members[3]!.name === 'comm');
  assert.ok(all.some((r) => r.accessStr === '0:3' && r.kind === 2)); // field_exists(t->comm)
});

test('records larger than the known size are stepped over; a short header has no core_relo', () => {
  const { btf, ext } = load('core');
  const e = parseBtfExt(ext, btf);
  const s = subsOf(btf, e);
  const wide = buildExt({ func: { ...s.func, recSize: 16 }, line: { ...s.line, recSize: 24 }, core: { ...s.core, recSize: 20 } });
  const w = parseBtfExt(wide, btf);
  assert.equal([w.funcInfoRecSize, w.lineInfoRecSize, w.coreReloRecSize], [16, 24, 20]);
  assert.equal([...w.funcInfo], [...e.funcInfo]);
  assert.equal([...w.lineInfo], [...e.lineInfo]);
  assert.equal([...w.coreRelos], [...e.coreRelos]);
  // Exact rebuild gives the clang bytes back (sanity check of the builder itself).
  assert.ok(Buffer.from(buildExt(s)).equals(Buffer.from(ext)));
  const short = parseBtfExt(buildExt({ func: s.func, line: s.line, hdrLen: 24 }), btf);
  assert.is(short.coreReloRecSize, 0);
  assert.is(short.coreRelos.size, 0);
  assert.equal([...short.funcInfo], [...e.funcInfo]);
});

test('big-endian .BTF.ext parses to the same records (exact record sizes only)', () => {
  const { btf, ext } = load('core');
  const e = parseBtfExt(ext, btf);
  const s = subsOf(btf, e);
  const be = parseBtfExt(buildExt({ ...s, le: false }), btf);
  assert.equal([...be.funcInfo], [...e.funcInfo]);
  assert.equal([...be.lineInfo], [...e.lineInfo]);
  assert.equal([...be.coreRelos], [...e.coreRelos]);
  throwsParseError(() => parseBtfExt(buildExt({ ...s, func: { ...s.func, recSize: 12 }, le: false }), btf), /record size/);
});

test('malformed .BTF.ext is a ParseError', () => {
  const { btf, ext } = load('core');
  const mod = (f: (b: Uint8Array, dv: DataView) => void) => {
    const b = ext.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  throwsParseError(() => parseBtfExt(ext.subarray(0, 4), btf), /short/);
  throwsParseError(() => parseBtfExt(mod((b) => { b[0] = 1; }), btf), /magic/);
  throwsParseError(() => parseBtfExt(mod((b) => { b[2] = 2; }), btf), /version/);
  throwsParseError(() => parseBtfExt(mod((b) => { b[3] = 1; }), btf), /flags/);
  throwsParseError(() => parseBtfExt(mod((_b, dv) => dv.setUint32(4, 16, true)), btf), /func_info/);
  throwsParseError(() => parseBtfExt(mod((_b, dv) => dv.setUint32(4, 1 << 20, true)), btf), /exceeds/);
  throwsParseError(() => parseBtfExt(ext.subarray(0, 32), btf), /no data/);
  throwsParseError(() => parseBtfExt(mod((_b, dv) => dv.setUint32(8, 2, true)), btf), /aligned/);
  throwsParseError(() => parseBtfExt(mod((_b, dv) => dv.setUint32(12, 1 << 20, true)), btf), /beyond/);
  const s = subsOf(btf, parseBtfExt(ext, btf));
  throwsParseError(() => parseBtfExt(buildExt({ ...s, func: { ...s.func, recSize: 4 } }), btf), /record size/);
  throwsParseError(() => parseBtfExt(buildExt({ ...s, line: { ...s.line, recSize: 18 } }), btf), /record size/);
  throwsParseError(() => parseBtfExt(buildExt({ ...s, func: { recSize: 8, secs: [{ nameOff: s.func.secs[0]!.nameOff, recs: [] }] } }), btf), /no records/);
  throwsParseError(() => parseBtfExt(buildExt({ ...s, func: { recSize: 8, secs: [] } }), btf), /no records/);
  throwsParseError(() => parseBtfExt(buildExt({ ...s, func: { recSize: 8, secs: [{ nameOff: 999999, recs: [[0, 1]] }] } }), btf), /string offset/);
  throwsParseError(() => parseBtfExt(buildExt({ ...s, func: { recSize: 8, secs: [{ nameOff: s.func.secs[0]!.nameOff, recs: [[0, 99999]] }] } }), btf), /type id/);
  // num_info larger than the data
  const f = buildExt(s);
  new DataView(f.buffer).setUint32(32 + 8, 1000, true);
  throwsParseError(() => parseBtfExt(f, btf), /records/);
});

test('fuzz: truncated and bit-flipped .BTF.ext only ever gives ParseError', () => {
  for (const name of ['core', 'kinds']) {
    const { btf, ext } = load(name);
    const ok = (bytes: Uint8Array) => {
      try { parseBtfExt(bytes, btf); } catch (e) { if (!(e instanceof ParseError)) throw e; }
    };
    for (let len = 0; len < ext.length; len++) ok(ext.slice(0, len));
    const r = rng(3);
    for (let i = 0; i < 3000; i++) {
      const b = ext.slice();
      for (let j = 0; j < 1 + Math.floor(r() * 3); j++) b[Math.floor(r() * b.length)]! ^= 1 << Math.floor(r() * 8);
      ok(b);
    }
  }
});

test.run();
