// Verifier errors that point at the source: programs the kernel rejects for common reasons, through the
// real loader, must name the failing instruction, its function and section, and the C line (file, line,
// text) from line_info — also when the instruction sits in an appended subprogram — and for a poisoned
// CO-RE read, the relocation.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  diagnoseVerifierLog, enrichVerifierError, formatDiagnostic, parseVerifierLog, segmentOf, verifierDiagnostic,
  type VerifierDiagnostic,
} from '../src/verifier-diagnostics.js';
import { BpfError, BpfObject, VerifierError } from '../src/index.js';
import { BPF_LOG_FIXED, LOG_GROWTH_LIMIT, MAX_LOG_SIZE, logPolicy, progLoadWithLog, type LogOutcome } from '../syscalls/bpf.js';
import { BPF_PROG_TYPE } from '../syscalls/index.js';
import { testIf } from './support/skip.js';
import { ENOSPC } from '../syscalls/errors.js';
import { linkProgram } from '../src/link-subprogs.js';
import { BPF_SRC_DIR, compileBpf } from './support/compile.js';

const SRC = `${BPF_SRC_DIR}/diag-rejected.bpf.c`;
const objPath = compileBpf('diag-rejected');

/** The line carrying `/* DIAG: tag *\/` in a test source. */
function markerLine(file: string, tag: string): number {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(`DIAG: ${tag} `));
  assert.ok(i >= 0, `marker ${tag} in ${file}`);
  return i + 1;
}

/** Loads `prog` (autoload on) and returns the load error. */
async function rejection(path: string, prog: string): Promise<BpfError> {
  const obj = BpfObject.open(path);
  try {
    obj.programs.get(prog)!.autoload = true;
    await obj.load();
  } catch (e) {
    assert.ok(e instanceof BpfError, `a BpfError (got ${String(e)})`);
    return e as BpfError;
  } finally {
    obj.close();
  }
  throw new Error(`${prog} loaded, but the test expects the verifier to refuse it`);
}

function expectDiagnostic(err: BpfError, want: { fn: string; section: string; line: number | number[]; insn: RegExp; complaint: RegExp; file?: string }): VerifierDiagnostic {
  assert.ok(err instanceof VerifierError, `VerifierError (got ${err.name}: ${err.message})`);
  const d = verifierDiagnostic(err);
  assert.ok(d, 'the error carries a diagnostic');
  assert.is(d!.function, want.fn);
  assert.is(d!.section, want.section);
  assert.match(d!.instruction ?? '', want.insn);
  assert.match(d!.message, want.complaint);
  assert.ok(d!.source, 'a source location');
  assert.ok(d!.source!.file.endsWith(want.file ?? 'diag-rejected.bpf.c'), d!.source!.file);
  const lines = Array.isArray(want.line) ? want.line : [want.line];
  assert.ok(lines.includes(d!.source!.line), `line ${d!.source!.line}, want ${lines.join(' or ')}`);
  // The message shows the complaint, the instruction and the C line, before the log tail.
  const msg = err.message;
  assert.ok(msg.includes(`${d!.source!.file}:${d!.source!.line}`), `message names file:line\n${msg}`);
  assert.ok(msg.includes(d!.source!.text.trim()), 'message quotes the source line');
  assert.ok(msg.includes(d!.instruction!), 'message shows the instruction');
  assert.ok(msg.indexOf(d!.source!.text.trim()) < msg.indexOf('Last lines of the verifier log:'), 'source before the log tail');
  return d!;
}

test('unchecked map lookup in the entry program', async () => {
  const err = await rejection(objPath, 'unchecked_lookup');
  const d = expectDiagnostic(err, {
    fn: 'unchecked_lookup', section: '?socket', line: markerLine(SRC, 'unchecked_lookup'),
    insn: /^\(79\) r0 = \*\(u64 \*\)\(r0 \+0\)$/, complaint: /invalid mem access 'map_value_or_null'/,
  });
  assert.ok(d.source!.text.includes('return *v;'));
  assert.is(err.errno, 13);
  assert.is(err.program, 'unchecked_lookup');
});

test('unchecked map lookup in a subprogram appended after another one', async () => {
  const err = await rejection(objPath, 'unchecked_in_subprog');
  const d = expectDiagnostic(err, {
    fn: 'read_count', section: '.text', line: markerLine(SRC, 'read_count'),
    insn: /^\(79\) r0 = \*\(u64 \*\)\(r0 \+0\)$/, complaint: /invalid mem access 'map_value_or_null'/,
  });
  // The verifier's index is in the linked program; the section index is where the compiler put it.
  const obj = BpfObject.open(objPath);
  try {
    const spec = obj.spec;
    const linked = linkProgram(spec, spec.programs.find((p) => p.name === 'unchecked_in_subprog')!, true);
    const seg = segmentOf(linked, d.insnIdx!)!;
    assert.is(seg.prog.name, 'read_count');
    assert.is(d.sectionInsn, seg.prog.secInsnOff + seg.localInsn);
    assert.ok(linked.segments.findIndex((s) => s.prog.name === 'read_count') > linked.segments.findIndex((s) => s.prog.name === 'twice'), 'read_count comes after twice');
    assert.ok(seg.prog.secInsnOff > 0, 'read_count is not at the start of .text');
  } finally {
    obj.close();
  }
});

test('out-of-bounds packet access', async () => {
  const err = await rejection(objPath, 'packet_oob');
  expectDiagnostic(err, {
    fn: 'packet_oob', section: '?xdp', line: markerLine(SRC, 'packet_oob'),
    insn: /^\(71\) r\d = \*\(u8 \*\)\(r\d \+20\)$/, complaint: /invalid access to packet, off=20 size=1/,
  });
});

test('infinite loop: the insn named by the verifier, not the last one it printed', async () => {
  const err = await rejection(objPath, 'endless_loop');
  const d = expectDiagnostic(err, {
    fn: 'endless_loop', section: '?socket', line: markerLine(SRC, 'endless_loop'),
    insn: /^\(55\) if r\d != 0x0 goto pc-\d+$/, complaint: /infinite loop detected at insn \d+/,
  });
  assert.is(d.insnIdx, Number(/infinite loop detected at insn (\d+)/.exec(d.message)![1]));
  assert.not.match(d.message, /cur state:/, 'state dumps stay in the log');
});

test('unbounded loop: the verifier gives up inside the loop', async () => {
  const err = await rejection(objPath, 'unbounded_loop');
  const line = markerLine(SRC, 'unbounded_loop');
  const d = expectDiagnostic(err, {
    fn: 'unbounded_loop', section: '?socket', line: [line, line + 1],
    insn: /^\([0-9a-f]{2}\) /, complaint: /BPF program is too large|too complex/,
  });
  assert.ok((d.processed ?? 0) > 100000, `processed ${d.processed}`);
});

// Logs that do not fit. unbounded_loop's level-1 log is over 16 MiB (a million processed instructions).
// Before Linux 6.4 the kernel keeps a log's beginning and the verifier's reason, at its end, was lost;
// there the default is that fixed log. On 6.4+ BPF_LOG_FIXED asks for it (older kernels refuse the
// flag, and their default mode is the same test), so the pre-6.4 behaviour is the real one on both.
const RET0 = Uint8Array.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
function acceptsFixedLog(): boolean {
  try {
    progLoadWithLog({ progType: BPF_PROG_TYPE.SOCKET_FILTER, insns: RET0, license: 'GPL', logLevel: 1 | BPF_LOG_FIXED }).fd.close();
    return true;
  } catch {
    return false;
  }
}
const LOG_MODES = [
  { mode: 'the kernel\'s default (the end kept on 6.4+, the beginning before)', logLevel: 1, ok: true },
  { mode: 'BPF_LOG_FIXED (the beginning kept, as before 6.4)', logLevel: 1 | BPF_LOG_FIXED, ok: acceptsFixedLog() },
];
for (const { mode, logLevel, ok } of LOG_MODES) {
  testIf(ok, 'needs BPF_LOG_FIXED (Linux 6.4; before it, the default log is the fixed one)')(`a verifier log over 16 MiB, ${mode}: the error has the verifier's reason and errno, and at most 16 MiB of the log's end`, async () => {
    const obj = BpfObject.open(objPath);
    let err: unknown;
    try {
      const p = obj.programs.get('unbounded_loop')!;
      p.autoload = true;
      p.logLevel = logLevel;
      await obj.load();
    } catch (e) {
      err = e;
    } finally {
      obj.close();
    }
    assert.instance(err, VerifierError);
    const e = err as VerifierError;
    assert.match(e.message, /BPF program is too large/);
    assert.match(e.log ?? '', /BPF program is too large\. Processed \d+ insn\n[^\n]*\n?$/, 'the log ends with the reason');
    assert.is(e.code, 'E2BIG', 'the verifier\'s errno, not the ENOSPC of a truncated log');
    assert.ok((e.log ?? '').length <= MAX_LOG_SIZE + 100, `log of ${(e.log ?? '').length} chars`);
    assert.match(e.log ?? '', /^\[the first \d+ bytes of the log are left out\]\n/);
  });
}

// A kernel before 6.4 also has no log_true_size, so the buffer must grow blindly. Simulated at the only
// point that differs, one BPF_PROG_LOAD: a fake kernel that writes the beginning of its log into the
// buffer, and answers ENOSPC (in place of its verdict) when the log does not fit, as such kernels do.
function preV64Kernel(logs: Record<number, string>, verdict: number): { attempts: { size: number; level: number }[]; run: (limit: number, level: number, size: number) => LogOutcome } {
  const attempts: { size: number; level: number }[] = [];
  const run = (limit: number, level: number, size: number): LogOutcome => {
    const g = logPolicy(level, size, limit);
    let step = g.next();
    while (!step.done) {
      const { logBuf, logLevel } = step.value;
      attempts.push({ size: logBuf?.length ?? 0, level: logLevel });
      let r = verdict;
      if (logBuf) {
        const text = Buffer.from(logs[logLevel & 3]!);
        const n = Math.min(text.length, logBuf.length - 1);
        text.copy(logBuf, 0, 0, n);
        logBuf[n] = 0;
        if (text.length > logBuf.length - 1) r = -ENOSPC;
      }
      step = g.next({ r, trueSize: 0 });
    }
    return step.value;
  };
  return { attempts, run };
}

const longLog = (lines: number, reason: string): string =>
  `${Array.from({ length: lines }, (_, i) => `${i}: (07) r1 += 1                      ; R1_w=scalar()`).join('\n')}\n${reason}\n`;

test('before 6.4 (simulated: no log_true_size, the beginning kept): the buffer grows until the reason fits', () => {
  const k = preV64Kernel({ 1: longLog(20_000, 'BPF program is too large. Processed 1000001 insn') }, -7);
  const out = k.run(LOG_GROWTH_LIMIT, 0, 64 * 1024);
  assert.is(out.r, -7, 'the verdict, once the log fits');
  assert.not.ok(out.truncated);
  assert.match(out.log, /BPF program is too large\. Processed 1000001 insn\n$/);
  const sizes = k.attempts.map((a) => a.size);
  assert.equal(sizes, [0, 64 * 1024, 256 * 1024, 1024 * 1024, 4096 * 1024], 'no log first, then 4x steps until the 1.1 MB log fits');
});

test('before 6.4 (simulated), a log past the growth limit: a level-2 log is retried at level 1; otherwise the error says the reason is lost', () => {
  const reason = 'R1 invalid mem access \'scalar\'';
  const k = preV64Kernel({ 1: longLog(50, reason), 3: longLog(5_000, reason) }, -13);
  const l2 = k.run(64 * 1024, 3, 4096);
  assert.is(l2.r, -13);
  assert.is(l2.logLevel, 1, 'retried at level 1');
  assert.match(l2.log, /invalid mem access 'scalar'\n$/);
  const k1 = preV64Kernel({ 1: longLog(5_000, reason) }, -13);
  const l1 = k1.run(64 * 1024, 1, 4096);
  assert.is(l1.r, -ENOSPC);
  assert.ok(l1.truncated && l1.lostEnd);
  assert.not.match(l1.log, /invalid mem access/);
});

test('invalid CO-RE read: the poisoned instruction, the relocation and its C line', async () => {
  const path = compileBpf('diag-core');
  const err = await rejection(path, 'read_missing_field');
  const d = expectDiagnostic(err, {
    fn: 'read_missing_field', section: '?raw_tp', line: markerLine(`${BPF_SRC_DIR}/diag-core.bpf.c`, 'core'),
    insn: /call unknown#195896080$/, complaint: /CO-RE relocation/, file: 'diag-core.bpf.c',
  });
  assert.ok(d.core, 'the CO-RE relocation is named');
  assert.is(d.core!.kind, 'byte_off');
  assert.is(d.core!.access, 'struct task_struct___diag.tsbpf_diag_missing');
  assert.match(d.core!.outcome ?? '', /could not be resolved/);
  assert.match(d.poison ?? '', /CO-RE relocation/);
  assert.match(err.message, /tsbpf_diag_missing/);
});

test('a good program loads; other errors pass through unchanged', async () => {
  const obj = BpfObject.open(objPath);
  try {
    await obj.load();
    assert.ok(obj.programs.get('good')!.loaded);
  } finally {
    obj.close();
  }
  const plain = new BpfError('not a verifier error', { errno: 1 });
  assert.is(enrichVerifierError(plain, undefined, BpfObject.open(objPath).spec), plain);
  assert.is(plain.message, 'not a verifier error');
});

test('parseVerifierLog: failing insn, complaint and statistics', () => {
  const log = [
    '0: R1=ctx() R10=fp0',
    '; return *v; @ x.bpf.c:9',
    '7: (85) call bpf_map_lookup_elem#1    ; R0=map_value_or_null(id=1)',
    '8: (79) r0 = *(u64 *)(r0 +0)',
    'R0 invalid mem access \'map_value_or_null\'',
    'processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
    '',
  ].join('\n');
  assert.equal(parseVerifierLog(log), { insnIdx: 8, message: 'R0 invalid mem access \'map_value_or_null\'', processed: 8 });
  assert.is(parseVerifierLog('back-edge from insn 12 to 5\nprocessed 3 insns (limit 1000000)').insnIdx, 12);
  assert.is(parseVerifierLog('func#0 @0\nunreachable insn 4\nprocessed 0 insns (limit 1000000)').insnIdx, 4);
  const noInsn = parseVerifierLog('program of this type cannot use helper bpf_x#1\n');
  assert.is(noInsn.insnIdx, undefined);
  assert.is(noInsn.message, 'program of this type cannot use helper bpf_x#1');
});

test('diagnoseVerifierLog works on any log for a linked program (no kernel needed)', () => {
  const obj = BpfObject.open(objPath);
  try {
    const spec = obj.spec;
    const linked = linkProgram(spec, spec.programs.find((p) => p.name === 'unchecked_lookup')!, true);
    const d = diagnoseVerifierLog('8: (79) r0 = *(u64 *)(r0 +0)\nR0 invalid mem access \'map_value_or_null\'\n', linked, spec);
    assert.is(d.function, 'unchecked_lookup');
    assert.is(d.source?.line, markerLine(SRC, 'unchecked_lookup'));
    const text = formatDiagnostic(d).join('\n');
    assert.match(text, /at insn 8: \(79\) r0 = \*\(u64 \*\)\(r0 \+0\) in unchecked_lookup\(\) \(section \?socket, insn \d+\)/);
    assert.match(text, /diag-rejected\.bpf\.c:\d+:\d+:\n {4}return \*v;/);
    // A log naming an instruction past the program's end yields the complaint alone.
    const far = diagnoseVerifierLog('9999: (95) exit\nsomething\n', linked, spec);
    assert.is(far.function, undefined);
    assert.is(far.message, 'something');
  } finally {
    obj.close();
  }
});

test.run();
