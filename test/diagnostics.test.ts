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
