// USDT probes as the binary describes them: the SystemTap SDT notes (.note.stapsdt, one note of
// type 3 owned by "stapsdt" per probe site), turned into what a uprobe needs (the file offset of
// the site and of its semaphore) and into the argument specs that <bpf/usdt.bpf.h> reads from the
// `__bpf_usdt_specs` map (libbpf's usdt.c is the reference for the semantics; this is x86-64).
//
// Note descriptor (ELF64): pc, base (link-time address of .stapsdt.base), semaphore address, then
// "provider\0name\0args\0". The args are space-separated "[-]size@location" in GNU as syntax:
//   -4@%edi          a register                 (BPF_USDT_ARG_REG)
//   8@-16(%rbp)      memory at register+offset  (BPF_USDT_ARG_REG_DEREF)
//   -4@$42           a constant                 (BPF_USDT_ARG_CONST)
//   8@-8(%rbp,%rax,8) base+index*scale+offset   (BPF_USDT_ARG_SIB, libbpf 1.7+ headers only)
// A negative size means signed.

import type { ElfFile } from '../../elf/index.js';
import { BpfError, NotSupportedError } from '../errors.js';
import { openElf, resolveBinaryPath } from './elf-symbols.js';

const NT_STAPSDT = 3;
const PT_LOAD = 1;
const PF_X = 1;
const EM_X86_64 = 62;

/** Maximum number of arguments (BPF_USDT_MAX_ARG_CNT in usdt.bpf.h). */
export const USDT_MAX_ARG_CNT = 12;
/** sizeof(struct __bpf_usdt_arg_spec) and sizeof(struct __bpf_usdt_spec) in usdt.bpf.h. */
export const USDT_ARG_SPEC_SIZE = 16;
export const USDT_SPEC_SIZE = USDT_MAX_ARG_CNT * USDT_ARG_SPEC_SIZE + 16;

export const USDT_ARG = { CONST: 0, REG: 1, REG_DEREF: 2, SIB: 3 } as const;

export interface UsdtArgSpec {
  type: 'const' | 'reg' | 'reg_deref' | 'sib';
  /** The constant (const), or the memory offset (reg_deref, sib). */
  valOff: bigint;
  /** Offset of the (base) register within struct pt_regs. */
  regOff: number;
  /** sib: offset of the index register within struct pt_regs, and log2 of the scale. */
  idxRegOff?: number;
  scaleShift?: number;
  signed: boolean;
  /** 64 - size*8: the bits bpf_usdt_arg() shifts out to truncate (and sign-extend). */
  bitshift: number;
  /** The note's text for this argument. */
  text: string;
}

/** One probe site, as its note says and resolved for the uprobe. */
export interface UsdtNote {
  provider: string;
  name: string;
  /** The note's argument string. */
  args: string;
  /** The note's addresses, as recorded at link time. */
  pc: bigint;
  base: bigint;
  semaphore: bigint;
}

export interface UsdtTarget extends UsdtNote {
  /** The site's virtual address after the .stapsdt.base (prelink) adjustment. */
  absIp: bigint;
  /** The file offset the uprobe goes to. */
  offset: bigint;
  /** The file offset of the semaphore (ref_ctr_offset), 0 when the probe has none. */
  semaphoreOffset: bigint;
  argSpecs: UsdtArgSpec[];
}

// struct pt_regs (arch/x86/include/asm/ptrace.h) field offsets: what bpf_usdt_arg() indexes.
const X86_PT_REGS: [names: string[], off: number][] = [
  [['r15', 'r15d', 'r15w', 'r15b'], 0],
  [['r14', 'r14d', 'r14w', 'r14b'], 8],
  [['r13', 'r13d', 'r13w', 'r13b'], 16],
  [['r12', 'r12d', 'r12w', 'r12b'], 24],
  [['rbp', 'ebp', 'bp', 'bpl'], 32],
  [['rbx', 'ebx', 'bx', 'bl'], 40],
  [['r11', 'r11d', 'r11w', 'r11b'], 48],
  [['r10', 'r10d', 'r10w', 'r10b'], 56],
  [['r9', 'r9d', 'r9w', 'r9b'], 64],
  [['r8', 'r8d', 'r8w', 'r8b'], 72],
  [['rax', 'eax', 'ax', 'al'], 80],
  [['rcx', 'ecx', 'cx', 'cl'], 88],
  [['rdx', 'edx', 'dx', 'dl'], 96],
  [['rsi', 'esi', 'si', 'sil'], 104],
  [['rdi', 'edi', 'di', 'dil'], 112],
  [['rip', 'eip'], 128],
  [['rsp', 'esp', 'sp', 'spl'], 152],
];
const X86_REG_OFF = new Map<string, number>(X86_PT_REGS.flatMap(([names, off]) => names.map((n) => [n, off] as const)));

function badArg(text: string, why: string, advice?: string): never {
  throw new BpfError(`usdt: cannot use argument '${text}': ${why}`, { errno: 22, cmd: 'usdt', advice });
}

function regOff(reg: string, text: string): number {
  const off = X86_REG_OFF.get(reg);
  if (off === undefined) badArg(text, `unknown register '%${reg}'`);
  return off;
}

/** Parses one x86-64 argument ("-4@%edi", "8@-16(%rbp)", "-4@$42", "8@(%rbx,%rax,8)"). */
export function parseUsdtArg(text: string): UsdtArgSpec {
  const at = /^(-?\d+)@(.+)$/.exec(text);
  if (!at) badArg(text, 'not of the form size@location');
  let size = Number(at[1]);
  const loc = at[2]!;
  const signed = size < 0;
  size = Math.abs(size);
  if (![1, 2, 4, 8].includes(size)) badArg(text, `unsupported size ${size} (1, 2, 4 or 8)`);
  const common = { signed, bitshift: 64 - size * 8, text };
  let m: RegExpExecArray | null;
  if ((m = /^\$(-?(?:0x[0-9a-fA-F]+|\d+))$/.exec(loc))) {
    const v = m[1]!.startsWith('-') ? -BigInt(m[1]!.slice(1)) : BigInt(m[1]!);
    return { type: 'const', valOff: BigInt.asUintN(64, v), regOff: 0, ...common };
  }
  if ((m = /^%(\w+)$/.exec(loc))) return { type: 'reg', valOff: 0n, regOff: regOff(m[1]!, text), ...common };
  if ((m = /^(-?\d+)?\(%(\w+)\)$/.exec(loc))) {
    return { type: 'reg_deref', valOff: BigInt.asUintN(64, BigInt(m[1] ?? 0)), regOff: regOff(m[2]!, text), ...common };
  }
  if ((m = /^(-?\d+)?\(%(\w+),%(\w+)(?:,(\d+))?\)$/.exec(loc))) {
    const scale = Number(m[4] ?? 1);
    const scaleShift = [1, 2, 4, 8].indexOf(scale);
    if (scaleShift < 0) badArg(text, `invalid scale ${scale} (1, 2, 4 or 8)`);
    return {
      type: 'sib', valOff: BigInt.asUintN(64, BigInt(m[1] ?? 0)), regOff: regOff(m[2]!, text), idxRegOff: regOff(m[3]!, text),
      scaleShift, ...common,
    };
  }
  if (/^[A-Za-z_.$][\w.$]*([+-]\d+)?\(%rip\)$/.test(loc)) {
    badArg(text, 'a symbol relative to %rip (a global variable) has no fixed location before the process runs', 'libbpf refuses these too; pass the value through a local variable, e.g. STAP_PROBE1(p, n, (long)global_var)');
  }
  badArg(text, 'unrecognized location');
}

/** Parses a note's whole argument string. */
export function parseUsdtArgs(args: string): UsdtArgSpec[] {
  const parts = args.trim().split(/\s+/).filter(Boolean);
  if (parts.length > USDT_MAX_ARG_CNT) {
    throw new BpfError(`usdt: ${parts.length} arguments in '${args}', at most ${USDT_MAX_ARG_CNT} are supported`, { errno: 7, cmd: 'usdt' });
  }
  return parts.map(parseUsdtArg);
}

/** Every SDT note of a binary (empty when it has no .note.stapsdt). */
export function usdtNotes(elf: ElfFile): UsdtNote[] {
  const sec = elf.section('.note.stapsdt');
  if (!sec) return [];
  const out: UsdtNote[] = [];
  const dec = new TextDecoder('latin1');
  for (const n of elf.notes(sec)) {
    if (n.name !== 'stapsdt' || n.type !== NT_STAPSDT || n.desc.length < 24) continue;
    const dv = new DataView(n.desc.buffer, n.desc.byteOffset, n.desc.byteLength);
    const strs = dec.decode(n.desc.subarray(24)).split('\0');
    if (strs.length < 3) continue;
    out.push({ pc: dv.getBigUint64(0, true), base: dv.getBigUint64(8, true), semaphore: dv.getBigUint64(16, true), provider: strs[0]!, name: strs[1]!, args: strs[2]! });
  }
  return out;
}

/**
 * The probe sites of provider:name in a binary or library, with file offsets, semaphore offsets
 * and parsed arguments (libbpf's collect_usdt_targets).
 */
export function findUsdtTargets(binary: string, provider: string, name: string): { path: string; targets: UsdtTarget[] } {
  const path = resolveBinaryPath(binary);
  const elf = openElf(path);
  const what = `usdt ${provider}:${name} in '${path}'`;
  if (elf.machine !== EM_X86_64) {
    throw new NotSupportedError(`${what}: USDT argument specs are only implemented for x86-64 (ELF machine ${elf.machine})`, { errno: 95, cmd: 'usdt' });
  }
  const notes = usdtNotes(elf);
  if (!elf.section('.note.stapsdt')) {
    throw new BpfError(`${what}: the binary has no USDT notes (.note.stapsdt)`, { errno: 2, cmd: 'usdt', advice: 'check the path; probes come from <sys/sdt.h> (DTRACE_PROBE/STAP_PROBE macros)' });
  }
  const baseSec = elf.section('.stapsdt.base');
  const baseAddr = baseSec ? baseSec.addr : 0n;
  const segs = elf.programHeaders.filter((p) => p.type === PT_LOAD);
  const segOf = (addr: bigint) => segs.find((s) => addr >= s.vaddr && addr < s.vaddr + BigInt(s.memsz));
  const targets: UsdtTarget[] = [];
  for (const note of notes) {
    if (note.provider !== provider || note.name !== name) continue;
    // Prelink moves the code but not the (non-allocated) note: .stapsdt.base tells by how much.
    let absIp = note.pc;
    if (baseAddr && note.base) absIp += baseAddr - note.base;
    const seg = segOf(absIp);
    if (!seg) throw new BpfError(`${what}: probe address 0x${absIp.toString(16)} is in no loadable segment`, { errno: 3, cmd: 'usdt' });
    if (!(seg.flags & PF_X)) throw new BpfError(`${what}: probe address 0x${absIp.toString(16)} is in a non-executable segment`, { errno: 3, cmd: 'usdt' });
    const offset = absIp - seg.vaddr + BigInt(seg.offset);
    let semaphoreOffset = 0n;
    if (note.semaphore) {
      const s = segOf(note.semaphore);
      if (!s) throw new BpfError(`${what}: semaphore address 0x${note.semaphore.toString(16)} is in no loadable segment`, { errno: 3, cmd: 'usdt' });
      if (s.flags & PF_X) throw new BpfError(`${what}: semaphore address 0x${note.semaphore.toString(16)} is in an executable segment`, { errno: 3, cmd: 'usdt' });
      semaphoreOffset = note.semaphore - s.vaddr + BigInt(s.offset);
    }
    let argSpecs: UsdtArgSpec[];
    try {
      argSpecs = parseUsdtArgs(note.args);
    } catch (e) {
      throw new BpfError(`${what}: probe at 0x${absIp.toString(16)} (args '${note.args}'): ${(e as Error).message}`, {
        errno: (e as BpfError).errno ?? 22, cmd: 'usdt', advice: (e as BpfError).advice, cause: e,
      });
    }
    targets.push({ ...note, absIp, offset, semaphoreOffset, argSpecs });
  }
  if (targets.length === 0) {
    const known = [...new Set(notes.map((n) => `${n.provider}:${n.name}`))];
    throw new BpfError(`${what}: no such probe`, {
      errno: 2, cmd: 'usdt', advice: `the binary has ${known.length ? known.slice(0, 20).join(', ') + (known.length > 20 ? ', ...' : '') : 'no probes'}`,
    });
  }
  return { path, targets };
}

/** The bytes of a struct __bpf_usdt_spec (usdt.bpf.h, little-endian). */
export function encodeUsdtSpec(args: readonly UsdtArgSpec[], cookie: bigint, opts: { sib?: boolean } = {}): Uint8Array {
  const out = new Uint8Array(USDT_SPEC_SIZE);
  const dv = new DataView(out.buffer);
  args.forEach((a, i) => {
    const o = i * USDT_ARG_SPEC_SIZE;
    dv.setBigUint64(o, a.valOff, true);
    const type = a.type === 'const' ? USDT_ARG.CONST : a.type === 'reg' ? USDT_ARG.REG : a.type === 'reg_deref' ? USDT_ARG.REG_DEREF : USDT_ARG.SIB;
    if (type === USDT_ARG.SIB && !opts.sib) {
      badArg(a.text, 'a scale-index-base address needs BPF_USDT_ARG_SIB, which the usdt.bpf.h this object was built with lacks', 'rebuild the BPF program with libbpf 1.7+ headers');
    }
    // arg_type is an enum (4 bytes) in older headers and an 8-bit field followed by idx_reg_off:12
    // and scale_bitshift:4 in newer ones: the same first byte either way.
    dv.setUint8(o + 8, type);
    if (type === USDT_ARG.SIB) dv.setUint16(o + 9, (a.idxRegOff! & 0xfff) | (a.scaleShift! << 12), true);
    dv.setInt16(o + 12, a.regOff, true);
    dv.setUint8(o + 14, a.signed ? 1 : 0);
    dv.setInt8(o + 15, a.bitshift);
  });
  dv.setBigUint64(USDT_MAX_ARG_CNT * USDT_ARG_SPEC_SIZE, BigInt.asUintN(64, cookie), true);
  dv.setInt16(USDT_MAX_ARG_CNT * USDT_ARG_SPEC_SIZE + 8, args.length, true);
  return out;
}
