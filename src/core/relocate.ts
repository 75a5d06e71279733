// Applying CO-RE relocations to program instructions: libbpf's bpf_core_calc_relo_insn (candidate
// matching, ambiguity check, candidate pruning) and bpf_object__relocate_core (iteration over the
// .BTF.ext records), with an outcome record per relocation for diagnostics.

import type { Btf, BtfExtCoreRelo } from '../../btf/index.js';
import { BpfError } from '../errors.js';
import { INSN_SIZE, Insns, POISON_CORE } from '../insn.js';
import { EINVAL, kindStr, typeById, typeLabel } from './btf-util.js';
import { calcRelo, newReloRes, type CoreReloRes } from './calc.js';
import { CORE_RELO_KIND, coreReloKindName } from './kinds.js';
import { essentialName } from './names.js';
import { emptySpec, formatPath, formatSpec, parseSpec, specMatch, type CoreSpec, type Why } from './spec.js';
import { patchInsn } from './patch.js';
import type { CoreCandidate, CoreTargets } from './targets.js';

/** What one CO-RE relocation did. */
export interface CoreReloOutcome {
  /** Index of the record in its section's core_relo list (libbpf's "relo #N"). */
  reloIdx: number;
  /** Instruction index within the instructions passed in (index 0 = the program's first instruction). */
  insnIdx: number;
  /** enum bpf_core_relo_kind (CORE_RELO_KIND). */
  kind: number;
  /** libbpf's name of the kind: 'byte_off', 'field_exists', 'enumval_value', … */
  kindName: string;
  /** Local (object BTF) type id of the relocation. */
  typeId: number;
  /** 'struct task_struct' */
  typeName: string;
  accessStr: string;
  /** Human-readable access: 'struct task_struct.real_parent', 'struct foo.arr[3]', 'enum e::E_ONE'. */
  fieldPath: string;
  /** libbpf's format of the local spec: '<byte_off> [5] struct task_struct.pid (0:92 @ offset 1264)'. */
  spec: string;
  /** The instruction was replaced by `call 0xbad2310` (both halves for ld_imm64). */
  poisoned: boolean;
  /** The value the compiler put in the instruction (from the local BTF). */
  localValue: bigint;
  /** The value patched in (0 when poisoned). */
  newValue: bigint;
  /** The matched target, when one matched. */
  target?: { source: string; typeId: number; path: string };
  /** Number of candidate target types searched (after earlier pruning). */
  candidates: number;
  /** How the instruction changed: 'off 24 -> 2144', 'imm 1 -> 0', 'imm64 3 -> 9', 'poisoned'. */
  change: string;
  /** Why the relocation was poisoned, or why an existence check is 0. */
  reason?: string;
}

export class CoreRelocationError extends BpfError {}

export interface ApplyCoreRelosOptions {
  /** Program name for messages. */
  progName?: string;
  /** libbpf-style debug lines ("relo #3: patched insn #12 (LDX/ST/STX) off 24 -> 2144"). */
  debug?: (line: string) => void;
}

interface Resolution {
  res: CoreReloRes;
  local: CoreSpec;
  targ: CoreSpec | undefined;
  cand: CoreCandidate | undefined;
  ncands: number;
  reason: string | undefined;
}

function ownerOf(targets: CoreTargets, source: string): string {
  if (targets.kind === 'custom') return 'the target BTF\'s';
  return source === 'vmlinux' ? 'the kernel\'s' : `module ${source}'s`;
}

/**
 * bpf_core_calc_relo_insn: resolves one relocation against the candidates. Throws on the errors
 * libbpf fails the load for (bad record, anonymous type, ambiguity, unsatisfiable bitfield).
 */
function resolveRelo(local: Btf, relo: BtfExtCoreRelo, reloIdx: number, targets: CoreTargets, fail: (m: string, errno: number) => never,
  debug: ((line: string) => void) | undefined): Resolution {
  const localType = typeById(local, relo.typeId);
  if (!localType) fail(`relo #${reloIdx}: invalid local type id ${relo.typeId}`, EINVAL);
  const localName = localType.name;
  // libbpf looks up (and caches) the candidates before parsing the access string; a type without a
  // name has none to look for.
  let cands: CoreCandidate[] = [];
  if (relo.kind !== CORE_RELO_KIND.TYPE_ID_LOCAL) {
    if (localName === '') {
      fail(`relo #${reloIdx}: target candidate search failed for [${relo.typeId}] ${kindStr(localType.kind)} <anon>: CO-RE doesn't support anonymous types`, EINVAL);
    }
    cands = targets.candidates(local, relo.typeId);
  }
  const parsed = parseSpec(local, relo.typeId, relo.accessStr, relo.kind);
  if (typeof parsed === 'number') {
    fail(`relo #${reloIdx}: parsing [${relo.typeId}] ${kindStr(localType.kind)} ${localName || '<anon>'} + ${relo.accessStr} failed: ${parsed}`, EINVAL);
  }
  const localSpec = parsed;
  debug?.(`relo #${reloIdx}: ${formatSpec(localSpec)}`);
  const res = newReloRes();

  // TYPE_ID_LOCAL needs no target; the id may change while linking, so it is not validated.
  if (relo.kind === CORE_RELO_KIND.TYPE_ID_LOCAL) {
    res.validate = false;
    res.origVal = BigInt(localSpec.rootTypeId);
    res.newVal = BigInt(localSpec.rootTypeId);
    return { res, local: localSpec, targ: undefined, cand: undefined, ncands: 0, reason: undefined };
  }

  const ncands = cands.length;
  const matched: CoreCandidate[] = [];
  const reasons: string[] = [];
  let targ: CoreSpec | undefined;
  let targCand: CoreCandidate | undefined;
  let targRes: CoreReloRes | undefined;
  for (let i = 0; i < cands.length; i++) {
    const c = cands[i]!;
    const candSpec = emptySpec(c.btf, c.id, relo.kind);
    const why: Why = { owner: ownerOf(targets, c.source) };
    const err = specMatch(localSpec, c.btf, c.id, candSpec, why);
    if (err < 0) fail(`relo #${reloIdx}: error matching candidate #${i} ${formatSpec(candSpec)}: ${err}`, -err);
    debug?.(`relo #${reloIdx}: ${err === 0 ? 'non-matching' : 'matching'} candidate #${i} ${formatSpec(candSpec)}`);
    if (err === 0) {
      if (why.reason && !reasons.includes(why.reason)) reasons.push(why.reason);
      continue;
    }
    const candRes = newReloRes();
    const cerr = calcRelo(relo.kind, localSpec, candSpec, candRes);
    if (cerr) fail(`relo #${reloIdx}: ${candRes.error ?? `can't calculate the ${coreReloKindName(relo.kind)} relocation`} (${formatPath(candSpec)})`, -cerr);
    if (!targRes) {
      targRes = candRes;
      targ = candSpec;
      targCand = c;
    } else if (candSpec.bitOffset !== targ!.bitOffset) {
      fail(`relo #${reloIdx}: field offset ambiguity: ${candSpec.bitOffset} != ${targ!.bitOffset} (${c.source} [${c.id}] vs ${targCand!.source} [${targCand!.id}])`, EINVAL);
    } else if (candRes.poison !== targRes.poison || candRes.newVal !== targRes.newVal) {
      fail(`relo #${reloIdx}: relocation decision ambiguity: ${candRes.poison ? 'failure' : 'success'} ${candRes.newVal} != ${targRes.poison ? 'failure' : 'success'} ${targRes.newVal} (${c.source} [${c.id}] vs ${targCand!.source} [${targCand!.id}])`, EINVAL);
    }
    matched.push(c);
  }
  // Later relocations of this type only consider the candidates that matched (if any did).
  if (matched.length > 0) cands.splice(0, cands.length, ...matched);

  if (targRes) return { res: targRes, local: localSpec, targ, cand: targCand, ncands, reason: undefined };

  debug?.(`relo #${reloIdx}: no matching targets found`);
  const cerr = calcRelo(relo.kind, localSpec, undefined, res);
  if (cerr) fail(`relo #${reloIdx}: ${res.error ?? `can't calculate the ${coreReloKindName(relo.kind)} relocation`} (${formatPath(localSpec)})`, -cerr);
  let reason: string;
  if (ncands === 0) {
    const ess = essentialName(localName);
    reason = `no ${kindStr(localType.kind)} named '${ess}' in ${targets.describe()}`;
  } else {
    reason = reasons.length ? reasons.join('; ') : `none of the ${ncands} candidate types in ${targets.describe()} matched`;
  }
  return { res, local: localSpec, targ: undefined, cand: undefined, ncands, reason };
}

/** Applies one record to `insns` at `insnIdx` and returns its outcome. */
function applyOne(local: Btf, relo: BtfExtCoreRelo, reloIdx: number, insns: Insns, insnIdx: number, targets: CoreTargets,
  opts: ApplyCoreRelosOptions): CoreReloOutcome {
  const prog = opts.progName;
  const prefix = prog !== undefined ? `prog '${prog}': ` : '';
  const fail = (m: string, errno: number): never => {
    throw new CoreRelocationError(`${prefix}CO-RE ${m}`, { cmd: 'relocate', program: prog, errno });
  };
  const debug = opts.debug ? (l: string): void => opts.debug!(`${prefix}${l}`) : undefined;
  const r = resolveRelo(local, relo, reloIdx, targets, fail, debug);
  const p = patchInsn(insns, insnIdx, r.res);
  if (p.err < 0) fail(`relo #${reloIdx}: failed to patch insn #${insnIdx}: ${p.message ?? p.err}`, -p.err);
  if (p.poisoned) debug?.(`relo #${reloIdx}: substituting insn #${insnIdx} w/ invalid insn`);
  else debug?.(`relo #${reloIdx}: patched insn #${insnIdx} ${p.change}`);

  // r.reason is set when no candidate matched (a 0 from an existence or type relocation, or poison).
  const reason = p.poisoned && p.message ? p.message : r.reason;
  const out: CoreReloOutcome = {
    reloIdx, insnIdx, kind: relo.kind, kindName: coreReloKindName(relo.kind), typeId: relo.typeId,
    typeName: typeLabel(local, relo.typeId), accessStr: relo.accessStr, fieldPath: formatPath(r.local), spec: formatSpec(r.local),
    poisoned: p.poisoned, localValue: r.res.origVal, newValue: p.poisoned ? 0n : r.res.newVal,
    candidates: r.ncands, change: p.change,
  };
  if (r.targ && r.cand) out.target = { source: r.cand.source, typeId: r.cand.id, path: formatPath(r.targ) };
  if (reason !== undefined) out.reason = reason;
  return out;
}

/**
 * Applies the CO-RE relocations of one program: the records of its ELF section (`relos`, the
 * section's full list as parsed from .BTF.ext, so that record indices match libbpf's "relo #N")
 * whose instruction falls in [secInsnOff, secInsnOff + insns.count). `insns` is that program's own
 * instructions (index 0 = section instruction `secInsnOff`), patched in place.
 *
 * Unresolvable relocations are poisoned (never an error): existence checks become 0, type-based
 * values 0, everything else `call 0xbad2310`. Throws CoreRelocationError for what libbpf refuses:
 * malformed records, anonymous local types, ambiguous candidates, instructions that don't hold the
 * expected value or can't be patched.
 */
export function applyCoreRelos(local: Btf, relos: readonly BtfExtCoreRelo[], insns: Insns, secInsnOff: number,
  targets: CoreTargets, opts: ApplyCoreRelosOptions = {}): CoreReloOutcome[] {
  const out: CoreReloOutcome[] = [];
  const count = insns.count;
  for (let i = 0; i < relos.length; i++) {
    const relo = relos[i]!;
    const secInsn = relo.insnOff / INSN_SIZE;
    if (secInsn < secInsnOff || secInsn >= secInsnOff + count) continue;
    if (relo.insnOff % INSN_SIZE) {
      throw new CoreRelocationError(`${opts.progName !== undefined ? `prog '${opts.progName}': ` : ''}CO-RE relo #${i}: insn_off ${relo.insnOff} is not a multiple of ${INSN_SIZE}`, { cmd: 'relocate', program: opts.progName, errno: EINVAL });
    }
    out.push(applyOne(local, relo, i, insns, secInsn - secInsnOff, targets, opts));
  }
  return out;
}

/** A (sub)program as relocateObjectCore needs it; ProgramSpec fits. */
export interface CoreProgram {
  readonly name: string;
  /** ELF section name (the .BTF.ext key). */
  readonly sectionName: string;
  /** First instruction within the section. */
  readonly secInsnOff: number;
  readonly insns: Uint8Array;
  /** Entry programs with autoload off are not relocated (libbpf skips them). Default true. */
  readonly autoload?: boolean;
  /** Subprograms (.text functions) are always relocated, whatever `autoload` says. */
  readonly isSubprog?: boolean;
}

export interface CoreProgramResult {
  /** The program's instructions with its relocations applied (a copy). */
  insns: Uint8Array;
  outcomes: CoreReloOutcome[];
}

/**
 * libbpf's bpf_object__relocate_core: applies every CO-RE record of the object once, in .BTF.ext
 * order, to a copy of the instructions of the (sub)program it falls in. Records of no program
 * (a __weak subprogram that the linker eliminated) and of entry programs with autoload off are
 * skipped; subprograms are always relocated (libbpf's subprograms have autoload on).
 * Returns the relocated copies by program (programs without records are absent).
 */
export function relocateObjectCore<P extends CoreProgram>(local: Btf, coreRelos: ReadonlyMap<string, readonly BtfExtCoreRelo[]>,
  programs: readonly P[], targets: CoreTargets, opts: Omit<ApplyCoreRelosOptions, 'progName'> = {}): Map<P, CoreProgramResult> {
  const out = new Map<P, CoreProgramResult>();
  for (const [sec, relos] of coreRelos) {
    const inSec = programs.filter((p) => p.sectionName === sec);
    for (let i = 0; i < relos.length; i++) {
      const relo = relos[i]!;
      if (relo.insnOff % INSN_SIZE) {
        throw new CoreRelocationError(`CO-RE relo #${i} in section '${sec}': insn_off ${relo.insnOff} is not a multiple of ${INSN_SIZE}`, { cmd: 'relocate', errno: EINVAL });
      }
      const secInsn = relo.insnOff / INSN_SIZE;
      const prog = inSec.find((p) => secInsn >= p.secInsnOff && secInsn < p.secInsnOff + p.insns.length / INSN_SIZE);
      if (!prog || (prog.autoload === false && !prog.isSubprog)) continue;
      let r = out.get(prog);
      // new Uint8Array(x) copies; Buffer#slice (ProgramSpec.insns may be a Buffer) would not.
      if (!r) out.set(prog, (r = { insns: new Uint8Array(prog.insns), outcomes: [] }));
      r.outcomes.push(applyOne(local, relo, i, new Insns(r.insns), secInsn - prog.secInsnOff, targets, { ...opts, progName: prog.name }));
    }
  }
  return out;
}

/**
 * "CO-RE relocation #3 (byte_off) for struct task_struct.pid at insn 12 could not be resolved: no
 * field 'pid' in the kernel's struct task_struct". `insnIdx` overrides the outcome's index (e.g. its
 * position in the final, linked program).
 */
export function describeCoreOutcome(o: CoreReloOutcome, insnIdx = o.insnIdx): string {
  const head = `CO-RE relocation #${o.reloIdx} (${o.kindName}) for ${o.fieldPath} at insn ${insnIdx}`;
  if (o.poisoned) return `${head} could not be resolved${o.reason ? `: ${o.reason}` : ''}`;
  const tgt = o.target ? ` (${o.target.source} [${o.target.typeId}] ${o.target.path})` : '';
  return `${head}: ${o.change || `${o.localValue} -> ${o.newValue}`}${tgt}${o.reason ? `; ${o.reason}` : ''}`;
}

/**
 * libbpf's fixup_log_failed_core_relo: in a verifier log, replaces the last
 *   "123: (85) call unknown#195896080" + "invalid func unknown#195896080"
 * with libbpf's "123: <invalid CO-RE relocation>" + "failed to resolve CO-RE relocation <spec>",
 * to which tsbpf appends ": <reason>". `lookup` maps an instruction index of the loaded program to
 * the poisoned relocation's outcome.
 */
export function fixupCoreVerifierLog(log: string, lookup: (insnIdx: number) => CoreReloOutcome | undefined): string {
  const lines = log.split('\n');
  const poisonCall = new RegExp(`^(\\d+): \\(\\d+\\) call unknown#${POISON_CORE}$`);
  for (let i = lines.length - 2; i >= 0; i--) {
    const m = poisonCall.exec(lines[i]!);
    if (!m || lines[i + 1] !== `invalid func unknown#${POISON_CORE}`) continue;
    const idx = Number(m[1]);
    const o = lookup(idx);
    if (!o) continue;
    lines.splice(i, 2, `${idx}: <invalid CO-RE relocation>`,
      `failed to resolve CO-RE relocation ${o.spec}${o.reason ? `: ${o.reason}` : ''}`);
    break;
  }
  return lines.join('\n');
}

