// The instruction decoder and disassembler: byte-exact round trips over every instruction of the test
// objects, agreement with llvm-objdump-16 on those, with the kernel verifier's own disassembly for
// hand-assembled v1–v4 programs, and with `bpftool prog dump xlated` for loaded programs.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ElfFile, SHF } from '../elf/index.js';
import { BPF_PROG_TYPE, progGetFdById, progInfo, progLoadWithLog } from '../syscalls/index.js';
import {
  Assembler, R0, R1, R2, R3, R4, R5, R6, R10, alu32, alu64, alu64Reg, atomic, call, callKfunc, cmpxchg, decodeInstructions,
  disassembleObjectProgramText, encodeInstructions, endian, exit, formatInstruction, ldImm64, ldMapFd, ldMapValue, ldx, ldxs,
  listingJson, listingText, mov64, mov64Reg, movsx64, neg64, st, stx, xchg, xlatedFormatOptions, xlatedProgram,
  type Instruction,
} from '../src/disasm/index.js';
import { BpfObject } from '../src/index.js';
import { BPF_SRC_DIR, compileBpf } from './support/compile.js';
import { command, testIf } from './support/skip.js';

/** Every test object, compiled (diag-isa with -mcpu=v3 for atomics and 32-bit jumps). */
function testObjects(): { name: string; path: string }[] {
  const out: { name: string; path: string }[] = [];
  for (const f of readdirSync(BPF_SRC_DIR).filter((n) => n.endsWith('.bpf.c')).sort()) {
    const name = f.slice(0, -'.bpf.c'.length);
    try {
      out.push({ name, path: compileBpf(name, name === 'diag-isa' ? { flags: ['-mcpu=v3'] } : {}) });
    } catch (e) {
      // Other suites' programs may be work in progress; this test needs instructions, not any one file.
      console.log(`  (not covered: ${f} does not compile: ${(e as Error).message.split('\n')[0]})`);
    }
  }
  return out;
}

function execSections(path: string): { name: string; data: Uint8Array }[] {
  const elf = ElfFile.parse(readFileSync(path));
  return elf.sections.filter((s) => (s.flags & SHF.EXECINSTR) && s.size > 0).map((s) => ({ name: s.name, data: s.data }));
}

test('round trip: decode then encode gives back every instruction of every test object', () => {
  let insns = 0;
  let objects = 0;
  for (const { name, path } of testObjects()) {
    objects++;
    for (const sec of execSections(path)) {
      const decoded = decodeInstructions(sec.data);
      const encoded = encodeInstructions(decoded);
      assert.equal(Buffer.from(encoded).equals(Buffer.from(sec.data)), true, `${name} ${sec.name}: re-encoded bytes differ`);
      let slots = 0;
      for (const i of decoded) {
        assert.is(i.index, slots, `${name} ${sec.name}: index of insn at slot ${slots}`);
        slots += i.hi ? 2 : 1;
        const text = formatInstruction(i);
        assert.not.match(text, /BUG|\(null\)/, `${name} ${sec.name} insn ${i.index}: ${text}`);
      }
      insns += decoded.length;
    }
  }
  assert.ok(objects >= 8 && insns > 1000, `covered ${insns} instructions in ${objects} objects`);
});

/**
 * llvm-objdump's syntax differs from the kernel's in spacing, hex immediates, jump labels, "ll" on
 * ld_imm64 and the spelling of fetching atomics and calls; both sides are brought to one form.
 */
function normLlvm(s: string): string {
  // With alu32, LLVM names the registers of sub-64-bit loads, stores and atomics wN; the kernel prints rN.
  if (/\((u8|u16|u32) \*\)/.test(s)) s = s.replace(/\bw(\d+)/g, 'r$1');
  return s.replace(/\s*<[^<>\s]+>$/, '').replace(/ ll$/, '')
    .replace(/-?0x[0-9a-f]+/g, (h) => String(h.startsWith('-') ? -parseInt(h.slice(1), 16) : parseInt(h, 16) | 0))
    .replace(/\s+/g, '');
}
function normOurs(s: string): string {
  const t = s.replace(/^\([0-9a-f]{2}\) /, '')
    .replace(/^call pc\+?(-?\d+)$/, 'call $1')
    .replace(/\bpc(?=[+-])/g, '')
    .replace(/^call [a-z_0-9]+#(-?\d+)$/, 'call $1')
    .replace(/^(r\d+) = atomic(64)?_xchg\(\((u\d+) \*\)\((r\d+) ([+-]\d+)\), (r\d+)\)$/, (_m, d, w, _t, r, o, src) => `${d} = xchg${w ? '_64' : '32_32'}(${r} ${o}, ${src})`)
    .replace(/^r0 = atomic(64)?_cmpxchg\(\((u\d+) \*\)\((r\d+) ([+-]\d+)\), r0, (r\d+)\)$/, (_m, w, _t, r, o, src) => `r0 = cmpxchg${w ? '_64' : '32_32'}(${r} ${o}, r0, ${src})`)
    .replace(/atomic64_/, 'atomic_');
  return normLlvm(t);
}

testIf(command('llvm-objdump-16').present, command('llvm-objdump-16').why)('agrees with llvm-objdump-16 on every instruction of the test objects', () => {
  let compared = 0;
  for (const { name, path } of testObjects()) {
    const dump = execFileSync('llvm-objdump-16', ['-d', '--mcpu=v3', '--mattr=+alu32', '--no-show-raw-insn', path], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const bySection = new Map<string, Map<number, string>>();
    let cur: Map<number, string> | undefined;
    for (const line of dump.split('\n')) {
      const sec = /^Disassembly of section (.*):$/.exec(line);
      if (sec) bySection.set(sec[1]!, (cur = new Map()));
      const ins = /^\s+(\d+):\t(.*)$/.exec(line);
      if (ins && cur) cur.set(Number(ins[1]), ins[2]!);
    }
    for (const sec of execSections(path)) {
      for (const i of decodeInstructions(sec.data)) {
        const theirs = bySection.get(sec.name)?.get(i.index);
        assert.ok(theirs !== undefined, `${name} ${sec.name}: llvm-objdump has no instruction at ${i.index}`);
        assert.is(normOurs(formatInstruction(i)), normLlvm(theirs!), `${name} ${sec.name} insn ${i.index}: ours "${formatInstruction(i)}", llvm "${theirs}"`);
        compared++;
      }
    }
  }
  assert.ok(compared > 1000);
});

/** One expected string per instruction form, in the kernel's notation (kernel/bpf/disasm.c). */
const CASES: [Instruction, string][] = [
  [mov64(R0, -1), '(b7) r0 = -1'],
  [alu32('mov', R1, 7), '(b4) w1 = 7'],
  [alu64('add', R1, 4), '(07) r1 += 4'],
  [alu64Reg('sub', R1, R2), '(1f) r1 -= r2'],
  [alu64Reg('mul', R1, R2), '(2f) r1 *= r2'],
  [alu64('div', R1, 3), '(37) r1 /= 3'],
  [alu64('sdiv', R1, 3), '(37) r1 s/= 3'],
  [alu64Reg('smod', R1, R2), '(9f) r1 s%= r2'],
  [alu32('smod', R1, -2), '(94) w1 s%= -2'],
  [alu64('or', R1, 1), '(47) r1 |= 1'],
  [alu64('and', R1, 1), '(57) r1 &= 1'],
  [alu64('lsh', R1, 1), '(67) r1 <<= 1'],
  [alu64('rsh', R1, 1), '(77) r1 >>= 1'],
  [alu64('arsh', R1, 1), '(c7) r1 s>>= 1'],
  [alu64('xor', R1, 1), '(a7) r1 ^= 1'],
  [alu64('mod', R1, 5), '(97) r1 %= 5'],
  [neg64(R3), '(87) r3 = -r3'],
  [{ ...neg64(R3), code: 0x84 }, '(84) w3 = -w3'],
  [movsx64(R1, R2, 8), '(bf) r1 = (s8)r2'],
  [movsx64(R1, R2, 16), '(bf) r1 = (s16)r2'],
  [movsx64(R1, R2, 32), '(bf) r1 = (s32)r2'],
  [{ ...movsx64(R1, R2, 16), code: 0xbc }, '(bc) w1 = (s16)w2'],
  [endian('be', R4, 16), '(dc) r4 = be16 r4'],
  [endian('le', R4, 64), '(d4) r4 = le64 r4'],
  [endian('swap', R4, 32), '(d7) r4 = bswap32 r4'],
  [{ index: 0, code: 0xbf, dst: 1, src: 2, off: 1, imm: (1 << 16) | 0 }, '(bf) r1 = addr_space_cast(r2, 1, 0)'],
  [{ index: 0, code: 0xbf, dst: 0, src: 0, off: -1, imm: 0 }, '(bf) r0 = &(void __percpu *)(r0)'],
  [ldx('u8', R0, R1, 20), '(71) r0 = *(u8 *)(r1 +20)'],
  [ldx('u64', R0, R10, -8), '(79) r0 = *(u64 *)(r10 -8)'],
  [ldxs('u16', R0, R1, 2), '(89) r0 = *(s16 *)(r1 +2)'],
  [ldxs('u32', R0, R1, 0), '(81) r0 = *(s32 *)(r1 +0)'],
  [stx('u32', R10, -4, R1), '(63) *(u32 *)(r10 -4) = r1'],
  [st('u16', R10, -2, -7), '(6a) *(u16 *)(r10 -2) = -7'],
  [atomic('add', 'u64', R1, 0, R2), '(db) lock *(u64 *)(r1 +0) += r2'],
  [atomic('xor', 'u32', R1, 8, R2), '(c3) lock *(u32 *)(r1 +8) ^= r2'],
  [atomic('and', 'u64', R1, 0, R2, { fetch: true }), '(db) r2 = atomic64_fetch_and((u64 *)(r1 +0), r2)'],
  [atomic('or', 'u32', R1, -4, R2, { fetch: true }), '(c3) r2 = atomic_fetch_or((u32 *)(r1 -4), r2)'],
  [xchg('u64', R1, 0, R2), '(db) r2 = atomic64_xchg((u64 *)(r1 +0), r2)'],
  [cmpxchg('u32', R1, 0, R2), '(c3) r0 = atomic_cmpxchg((u32 *)(r1 +0), r0, r2)'],
  [{ index: 0, code: 0xdb, dst: 0, src: 1, off: 8, imm: 0x100 }, '(db) r0 = load_acquire((u64 *)(r1 +8))'],
  [{ index: 0, code: 0xd3, dst: 1, src: 2, off: 0, imm: 0x110 }, '(d3) store_release((u8 *)(r1 +0), r2)'],
  [{ index: 0, code: 0xdb, dst: 1, src: 2, off: 0, imm: 0x33 }, 'BUG_db'],
  [{ index: 0, code: 0x30, dst: 0, src: 0, off: 0, imm: 23 }, '(30) r0 = *(u8 *)skb[23]'],
  [{ index: 0, code: 0x48, dst: 0, src: 3, off: 0, imm: 4 }, '(48) r0 = *(u16 *)skb[r3 + 4]'],
  [{ index: 0, code: 0xc2, dst: 0, src: 0, off: 0, imm: 0 }, '(c2) nospec'],
  [ldImm64(R1, 0x1122334455667788n), '(18) r1 = 0x1122334455667788'],
  [ldMapFd(R1, 5), '(18) r1 = 0x5'],
  [ldMapValue(R1, 5, 16), '(18) r1 = 0x1000000005'],
  [call('map_lookup_elem'), '(85) call bpf_map_lookup_elem#1'],
  [call(0x7ffff), '(85) call unknown#524287'],
  [callKfunc(1234), '(85) call kernel-function#1234'],
  [{ index: 0, code: 0x85, dst: 0, src: 1, off: 0, imm: -5 }, '(85) call pc-5'],
  [exit(), '(95) exit'],
  [{ index: 0, code: 0x05, dst: 0, src: 0, off: -3, imm: 0 }, '(05) goto pc-3'],
  [{ index: 0, code: 0x06, dst: 0, src: 0, off: 0, imm: 70000 }, '(06) gotol pc+70000'],
  [{ index: 0, code: 0xe5, dst: 0, src: 0, off: 9, imm: 0 }, '(e5) may_goto pc+9'],
  [{ index: 0, code: 0x0d, dst: 3, src: 0, off: 0, imm: 0 }, '(0d) gotox r3'],
  [{ index: 0, code: 0x15, dst: 1, src: 0, off: 2, imm: -1 }, '(15) if r1 == 0xffffffff goto pc+2'],
  [{ index: 0, code: 0x2d, dst: 1, src: 2, off: 1, imm: 0 }, '(2d) if r1 > r2 goto pc+1'],
  [{ index: 0, code: 0xa6, dst: 1, src: 0, off: 1, imm: 8 }, '(a6) if w1 < 0x8 goto pc+1'],
  [{ index: 0, code: 0xde, dst: 1, src: 2, off: -1, imm: 0 }, '(de) if w1 s<= w2 goto pc-1'],
  [{ index: 0, code: 0x45, dst: 1, src: 0, off: 0, imm: 1 }, '(45) if r1 & 0x1 goto pc+0'],
  [{ index: 0, code: 0x7d, dst: 1, src: 2, off: 4, imm: 0 }, '(7d) if r1 s>= r2 goto pc+4'],
];

test('formats every instruction form as the kernel does', () => {
  for (const [insn, want] of CASES) assert.is(formatInstruction(insn), want);
  // Pseudo ld_imm64 forms with bpftool's names for translated code.
  const x = xlatedFormatOptions({ jitedKsyms: [] }, { callBase: 0n, nameAt: () => undefined });
  const ld = (src: number, imm: number, hi = 0): Instruction => ({ ...ldImm64(R1, 0), src, imm, hi: { code: 0, dst: 0, src: 0, off: 0, imm: hi } });
  assert.is(formatInstruction(ld(1, 12), x), '(18) r1 = map[id:12]');
  assert.is(formatInstruction(ld(2, 12, 8), x), '(18) r1 = map[id:12][0]+8');
  assert.is(formatInstruction(ld(6, 3, 4), x), '(18) r1 = map[idx:3]+4');
  assert.is(formatInstruction(ld(4, 7), x), '(18) r1 = subprog[+7]');
  assert.is(formatInstruction(ld(3, 99), x), '(18) r1 = 0x63');
  assert.is(formatInstruction(ld(5, 2), x), '(18) r1 = 0x2');
  assert.is(formatInstruction({ index: 0, code: 0x85, dst: 0, src: 1, off: 3, imm: 1 }, x), '(85) call pc+3', 'interpreted bpf-to-bpf call');
  assert.is(formatInstruction(exit(), { opcode: false }), 'exit');
});

/** The verifier's log (level 2) lists every instruction in the kernel's own notation. */
function verifierListing(insns: Uint8Array, type = BPF_PROG_TYPE.SOCKET_FILTER): Map<number, string> {
  const { fd, log } = progLoadWithLog({ progType: type, insns, license: 'GPL', logLevel: 2, logSize: 1 << 20 });
  fd.close();
  const out = new Map<number, string>();
  for (const line of log.split('\n')) {
    const m = /^(\d+): (\([0-9a-f]{2}\) .*?)(?:\s+;.*)?$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]!.replace(/\s+$/, ''));
  }
  return out;
}

test('the kernel verifier spells v1–v4 instructions exactly as we do', () => {
  const a = new Assembler()
    .mov64(R0, 0).mov64(R1, 100).mov64(R2, -3)
    .emit(alu64Reg('sdiv', R1, R2), alu32('smod', R1, 7), alu64('sdiv', R1, 3), alu64Reg('mod', R1, R2))
    .emit(movsx64(R3, R1, 8), movsx64(R3, R1, 16), movsx64(R3, R1, 32), { ...movsx64(R4, R1, 8), code: 0xbc })
    .emit(endian('swap', R3, 16), endian('swap', R3, 64), endian('be', R3, 32), endian('le', R3, 16), neg64(R3))
    .emit(stx('u64', R10, -8, R1), st('u32', R10, -16, 7), st('u32', R10, -12, 0))
    .emit(ldxs('u8', R5, R10, -8), ldxs('u16', R5, R10, -8), ldxs('u32', R5, R10, -8), ldx('u64', R5, R10, -16))
    .emit(atomic('add', 'u64', R10, -8, R1), atomic('or', 'u64', R10, -8, R1, { fetch: true }))
    .emit(atomic('xor', 'u32', R10, -16, R2), xchg('u64', R10, -8, R4))
    .mov64Reg(R0, R1).emit(cmpxchg('u64', R10, -8, R2))
    .emit({ index: 0, code: 0xdb, dst: 6, src: 10, off: -8, imm: 0x100 }) // load-acquire
    .emit({ index: 0, code: 0xdb, dst: 10, src: 6, off: -8, imm: 0x110 }) // store-release
    .ldImm64(R6, 0x1234567890n)
    .jmp32('jsgt', R1, 3, 'skip').mov64(R0, 1).label('skip')
    .jmp32Reg('jle', R1, R2, 'skip2').label('skip2')
    .jmp('jset', R1, 1, 'skip3').label('skip3')
    .jmp('jeq', R1, 999, 'far').gotol('end').label('far').mov64(R0, 2).label('end')
    .call('ktime_get_ns')
    .mov64(R0, 0).exit();
  const insns = a.instructions();
  const kernel = verifierListing(encodeInstructions(insns));
  let checked = 0;
  for (const i of insns) {
    const k = kernel.get(i.index);
    if (k === undefined) continue; // skipped over by a jump
    assert.is(formatInstruction(i), k, `insn ${i.index}`);
    checked++;
  }
  assert.ok(checked >= insns.length - 2, `checked ${checked} of ${insns.length}`);
});

test('builder: labels resolve, and an assembled loop runs in the kernel', async () => {
  // r0 = sum of 1..10 with a bounded loop.
  const prog = new Assembler()
    .mov64(R0, 0).mov64(R1, 10)
    .label('loop').alu64Reg('add', R0, R1).alu64('sub', R1, 1).jmp('jne', R1, 0, 'loop')
    .exit();
  const insns = prog.instructions();
  assert.is(insns[4]!.off, -3, 'backward jump offset');
  const { fd } = progLoadWithLog({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns: prog.assemble(), license: 'GPL' });
  try {
    const { progTestRun } = await import('../syscalls/index.js');
    assert.is(progTestRun(fd.fd, { dataIn: new Uint8Array(64) }).retval, 55);
  } finally {
    fd.close();
  }
  assert.throws(() => new Assembler().ja('nowhere').assemble(), /undefined label 'nowhere'/);
  assert.throws(() => new Assembler().label('x').label('x'), /defined twice/);
  assert.throws(() => ldx('u8', 11, R1, 0), /invalid register r11/);
  assert.throws(() => ldx('u8', R1, R1, 40000), /does not fit in 16 bits/);
  assert.throws(() => call('no_such_helper'), /unknown helper/);
  assert.is(call('bpf_map_lookup_elem').imm, 1);
});

// ------------------------------------------------------------------------------------------------
// Loaded programs against bpftool
// ------------------------------------------------------------------------------------------------

/** bpftool 7.1 predates the kernel's per-CPU address notation and prints the instruction as a plain move. */
const normBpftool = (s: string): string => s.replace(/r(\d+) = &\(void __percpu \*\)\(r(\d+)\)/g, 'r$1 = r$2');

testIf(command('bpftool').present, command('bpftool').why)('xlated listings of loaded programs equal `bpftool prog dump xlated` (plain, linum, opcodes, JSON)', async () => {
  const objs: BpfObject[] = [];
  try {
    for (const [name, flags] of [['calls', []], ['maps', []], ['globals', []], ['diag-isa', ['-mcpu=v3']]] as const) {
      const o = BpfObject.open(compileBpf(name, { flags: [...flags] }));
      objs.push(o);
      await o.load();
    }
    // bpftool takes most of a second per dump (it parses kallsyms each time): every program is compared
    // in plain text, the listings with subprograms, callbacks and inlined map lookups in every form.
    const everyForm = new Set(['calc_nested', 'walk_numbers', 'isa_mix', 'percpu_add', 'copy_in']);
    const skip = new Set(['hash_add', 'array_swap', 'lru_add', 'lpm_insert', 'push_both', 'pop_one', 'bloom_op', 'ringbuf_out', 'user_ringbuf_drain', 'perf_out', 'inner_add', 'redirect_empty']);
    let compared = 0;
    for (const o of objs) {
      for (const p of o.programs.values()) {
        if (!p.loaded || skip.has(p.name)) continue;
        const id = progInfo(p.fd, { mapIds: false }).id;
        const fd = progGetFdById(id);
        const x = xlatedProgram(fd.fd);
        fd.close();
        const base = { ...xlatedFormatOptions(x), btf: x.btf, funcInfo: x.funcInfo, lineInfo: x.lineInfo };
        const forms = everyForm.has(p.name) ? [[], ['linum'], ['opcodes']] as const : [[]] as const;
        for (const extra of forms) {
          const opts = { ...base, linum: extra[0] === 'linum', opcodes: extra[0] === 'opcodes' };
          const ours = `${listingText(x.insns, opts).join('\n')}\n`;
          const theirs = execFileSync('bpftool', ['prog', 'dump', 'xlated', 'id', String(id), ...extra], { encoding: 'utf8' });
          assert.fixture(normBpftool(ours), theirs);
          compared++;
        }
        if (!everyForm.has(p.name)) continue;
        const theirsJson = JSON.parse(execFileSync('bpftool', ['--json', 'prog', 'dump', 'xlated', 'id', String(id), 'linum'], { encoding: 'utf8' }));
        const oursJson = JSON.parse(normBpftool(JSON.stringify(listingJson(x.insns, { ...base, linum: true }))));
        assert.equal(oursJson, theirsJson, `${p.name}: JSON listing`);
      }
    }
    assert.ok(compared >= 25, `compared ${compared} listings`);
  } finally {
    for (const o of objs) o.close();
  }
});

test('objects disassemble before load, with signatures, source lines and relocation names', () => {
  const o = BpfObject.open(compileBpf('diag-isa', { flags: ['-mcpu=v3'] }));
  try {
    const text = disassembleObjectProgramText(o, 'isa_mix', { linum: true });
    assert.is(text[0], 'int isa_mix(struct __sk_buff * skb):');
    assert.ok(text.some((l) => l.includes('r1 = map[slots]')), 'map reference named');
    assert.ok(text.some((l) => /r\d = map\[\.bss\]\+8/.test(l)), 'global variable named with its offset');
    assert.ok(text.some((l) => /call pc\+\d+#mix$/.test(l)), 'subprogram call named');
    assert.ok(text.some((l) => /subprog\[\+\d+\]#visit/.test(l)), 'callback named');
    assert.ok(text.includes('__u32 mix(__u32 a, __u32 b):'), 'subprogram signature');
    assert.ok(text.some((l) => l.startsWith('; ') && l.includes('[file:') && l.includes('diag-isa.bpf.c line_num:')), 'source lines with linum');
    assert.throws(() => disassembleObjectProgramText(o, 'nope'), /has no program 'nope'/);
  } finally {
    o.close();
  }
});

test.run();
