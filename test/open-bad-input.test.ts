// Bad input never crashes: every corrupted object gives a BpfError (or opens fine), never a TypeError,
// RangeError, hang or runaway allocation. Open is pure parsing, so no kernel is needed here.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { BpfObject, BpfError, ParseError } from '../src/index.js';
import { compileBpf } from './support/compile.js';

const objects = ['maps', 'globals', 'calls', 'externs'].map((n) => ({ name: n, bytes: new Uint8Array(readFileSync(compileBpf(n))) }));

/** A small deterministic PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function tryOpen(bytes: Uint8Array, what: string): 'ok' | 'error' {
  const before = process.memoryUsage().rss;
  try {
    const obj = BpfObject.open(bytes, { objectName: 'fuzz' });
    obj.close();
    return 'ok';
  } catch (e) {
    if (!(e instanceof BpfError)) {
      throw new Error(`${what}: threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.stack ?? e}`);
    }
    assert.ok(e.message.length > 0, `${what}: empty message`);
    return 'error';
  } finally {
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < 256 * 1024 * 1024, `${what}: RSS grew by ${grown} bytes`);
  }
}

test('the test objects open', () => {
  for (const o of objects) assert.is(tryOpen(o.bytes, o.name), 'ok');
});

test('truncation at every 1/64 of the file gives a BpfError naming where', () => {
  for (const o of objects) {
    for (let i = 0; i < 64; i++) {
      const len = Math.floor((o.bytes.length * i) / 64);
      tryOpen(o.bytes.slice(0, len), `${o.name} truncated to ${len}`);
    }
  }
  try {
    BpfObject.open(objects[0]!.bytes.slice(0, 40));
    assert.unreachable('a 40-byte file opened');
  } catch (e) {
    assert.instance(e, ParseError);
  }
});

test('random bit flips and byte smashes never escape as non-BpfErrors', () => {
  const rand = rng(0x7b9f);
  let errors = 0;
  let oks = 0;
  for (const o of objects) {
    for (let round = 0; round < 400; round++) {
      const b = o.bytes.slice();
      const n = 1 + Math.floor(rand() * 8);
      for (let k = 0; k < n; k++) {
        const at = Math.floor(rand() * b.length);
        if (rand() < 0.5) b[at] ^= 1 << Math.floor(rand() * 8);
        else b[at] = Math.floor(rand() * 256);
      }
      if (tryOpen(b, `${o.name} round ${round}`) === 'ok') oks++;
      else errors++;
    }
  }
  assert.ok(errors > 0 && oks > 0, `expected a mix of outcomes, got ${oks} ok / ${errors} errors`);
});

test('headers with huge counts and offsets are refused quickly', () => {
  const o = objects[0]!;
  const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
  const cases: [string, (b: Uint8Array) => void][] = [
    ['e_shoff past the end', (b) => dv(b).setBigUint64(0x28, 0xffffffffn, true)],
    ['e_shnum huge', (b) => dv(b).setUint16(0x3c, 0xffff, true)],
    ['e_shstrndx out of range', (b) => dv(b).setUint16(0x3e, 0xfff0, true)],
    ['big-endian', (b) => { b[5] = 2; }],
    ['32-bit', (b) => { b[4] = 1; }],
    ['not ELF', (b) => { b[0] = 0; }],
  ];
  for (const [what, mutate] of cases) {
    const b = o.bytes.slice();
    mutate(b);
    const t0 = performance.now();
    assert.is(tryOpen(b, what), 'error', what);
    assert.ok(performance.now() - t0 < 2000, `${what} took too long`);
  }
});

test('a non-BPF ELF (the node binary) is refused with a clear message', () => {
  const head = new Uint8Array(readFileSync(process.execPath).subarray(0, 4 * 1024 * 1024));
  try {
    BpfObject.open(head);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, BpfError);
  }
});

test('a missing file gives ENOENT with the path', () => {
  try {
    BpfObject.open('/nonexistent/x.bpf.o');
    assert.unreachable();
  } catch (e) {
    assert.instance(e, BpfError);
    assert.is((e as BpfError).code, 'ENOENT');
    assert.match((e as Error).message, '/nonexistent/x.bpf.o');
  }
});

test.run();
