// The load sequence (libbpf's bpf_object__load): probe the kernel, resolve externs, load BTF, create maps,
// relocate and load programs, fill prog arrays, and make global data live. Callers close everything on error.
// Map creation and pinning are in load-maps.ts.

import { BTF_FUNC_LINKAGE, BTF_KIND, sanitizeBtf, type Btf } from '../btf/index.js';
import {
  btfLoad, type Fd, kernelRelease, kernelVersionCode, progLoadWithLog, progLoadWithLogAsync, raiseMemlockRlimit, type ProgLoadOptions,
} from '../syscalls/index.js';
import { BpfError, NotSupportedError, VerifierError, withContext } from './errors.js';
import { kernelBtfFeatures, kernelChargesMemlock, needsBtfSanitizing } from './features.js';
import { BPF_PSEUDO, Insns, POISON_KFUNC_BASE, isPoisonedCall } from './insn.js';
import { kernelBtf, kernelCoreTargets, kernelModuleBtf, kernelModuleBtfs, moduleBtfObjFd } from './kernel-btf.js';
import { fixupCoreVerifierLog, relocateObjectCore, type CoreProgramResult, type CoreReloOutcome } from './core/index.js';
import { ATTACH_TYPE, PROG_TYPE } from './kernel-enums.js';
import { resolveKconfig } from './kconfig.js';
import { resolveKsyms, type ResolvedKsyms } from './ksyms.js';
import { enrichVerifierError } from './verifier-diagnostics.js';
import { linkProgram, type LinkedProgram } from './link-subprogs.js';
import type { Program } from './program.js';
import type { BpfObject } from './object.js';
import { isMapInMap } from './spec/map-defs.js';
import { MAP_FLAG, MAP_TYPE } from './spec/map-types.js';
import type { MapSpec, ProgramSpec } from './spec/types.js';
import { sectionTarget } from './section-defs.js';
import { resolveFreplaceTarget } from './attach/freplace.js';
import { explainHelperRefusal } from './probes/index.js';
import { createMap, createMapsConcurrently, fillSlots } from './load-maps.js';
import { fillStructOpsProgramFds, prepareStructOps, unreferencedStructOpsProgram, type StructOpsTarget } from './struct-ops.js';

/** What the steps of one object load share. */
interface LoadRun {
  obj: BpfObject;
  ksyms: ResolvedKsyms;
  /** Kfuncs in kernel modules are called through fd_array indexes (libbpf's obj->fd_array, every program). */
  fdArray: Int32Array | undefined;
  structOps: Map<string, StructOpsTarget>;
  btfFd: number | undefined;
  core?: Map<ProgramSpec, CoreProgramResult>;
  coreOutcomes?: Map<ProgramSpec, readonly CoreReloOutcome[]>;
}

/** One program ready for BPF_PROG_LOAD. */
interface ProgramLoad {
  prog: Program;
  linked: LinkedProgram;
  opts: ProgLoadOptions;
}

/** The sequential load (loadSync): every step in libbpf's order, one system call at a time. */
export function loadObject(obj: BpfObject): void {
  const run = beginLoad(obj);
  for (const map of obj.maps.values()) createMap(obj, map, run.btfFd);
  fillInnerMaps(obj);
  relocateCore(run);
  for (const prog of obj.programs.values()) {
    const req = prepareProgram(run, prog);
    if (!req) continue;
    let r: { fd: Fd; log: string };
    try {
      r = progLoadWithLog(req.opts, `prog ${prog.name}`);
    } catch (e) {
      throw programLoadError(run, req, e);
    }
    programLoaded(prog, r);
  }
  finishLoad(run);
}

/**
 * The concurrent load (load()): the same steps and results, but the kernel's share runs on the libuv
 * threadpool. Big maps are created there while CO-RE relocation runs here (in a fresh process the
 * kernel BTF parse and cold CO-RE code take longer than preallocating the maps), and each program goes
 * to the verifier as soon as it is relocated, so verification uses every core and never blocks the
 * event loop (nor meets a sampling profiler's signals, which make the verifier give up). Errors are
 * the ones the sequential load would report: the first failing map or program in object order.
 * Nothing is released before every call under way has returned, so no fd is closed while the kernel
 * may still be reading it.
 */
export async function loadObjectAsync(obj: BpfObject): Promise<void> {
  const run = beginLoad(obj);
  await createMapsConcurrently(obj, run.btfFd, () => relocateCore(run));
  fillInnerMaps(obj);

  const inflight: { req: ProgramLoad; done: Promise<{ fd: Fd; log: string }> }[] = [];
  const settle = async (): Promise<unknown> => {
    const results = await Promise.allSettled(inflight.map((x) => x.done));
    let failure: unknown;
    results.forEach((res, i) => {
      const { req } = inflight[i]!;
      if (res.status === 'fulfilled') programLoaded(req.prog, res.value);
      else failure ??= programLoadError(run, req, res.reason);
    });
    inflight.length = 0;
    return failure;
  };
  let prepareError: unknown;
  try {
    for (const prog of obj.programs.values()) {
      // freplace targets may be earlier programs of this object: they must have their fds first.
      if (inflight.length && prog.spec.progType === 'BPF_PROG_TYPE_EXT') {
        const failure = await settle();
        if (failure) throw failure;
      }
      const req = prepareProgram(run, prog);
      if (req) inflight.push({ req, done: progLoadWithLogAsync(req.opts, `prog ${prog.name}`) });
    }
  } catch (e) {
    prepareError = e;
  }
  // A program that failed to load comes before the one whose preparation failed (it is earlier).
  const failure = await settle();
  if (failure) throw failure;
  if (prepareError) throw prepareError;
  finishLoad(run);
}

/** Probes, externs, struct_ops targets and the object's BTF: what every later step needs. */
function beginLoad(obj: BpfObject): LoadRun {
  const spec = obj.spec;
  if (kernelChargesMemlock()) raiseMemlockRlimit();

  // Externs: .kconfig values go into the image before the map is created; ksyms are patched into insns.
  const kcfgMap = [...obj.maps.values()].find((m) => m.spec.origin === 'kconfig');
  if (spec.externs.some((e) => e.kind === 'kconfig')) {
    const image = new Uint8Array(kcfgMap!.globalData!.size);
    resolveKconfig(spec.externs, image, {
      extra: obj.options.kconfig,
      kernelRelease: kernelRelease(),
      virtual: {
        LINUX_KERNEL_VERSION: BigInt(kernelVersionCode()),
        // Both exist on every kernel new enough to load CO-RE objects with BTF (5.15+ and 4.17+).
        LINUX_HAS_BPF_COOKIE: 1n,
        LINUX_HAS_SYSCALL_WRAPPER: 1n,
      },
    });
    kcfgMap!.globalData!.write(0, image);
  }
  const ksyms = spec.externs.some((e) => e.kind === 'ksym')
    ? resolveKsyms(spec.externs, spec.btf, () => kernelBtf(), { modules: kernelModuleBtfs, moduleBtfFd: moduleBtfObjFd })
    : new Map() as ResolvedKsyms;
  const fdArray = ksyms.fdArray && Int32Array.from(ksyms.fdArray);

  // Struct_ops maps: kernel types, values and which struct_ops programs load (src/struct-ops.ts).
  const structOps: Map<string, StructOpsTarget> = spec.maps.some((m) => m.structOps) ? prepareStructOps(obj) : new Map();

  return { obj, ksyms, fdArray, structOps, btfFd: loadObjectBtf(obj) };
}

function fillInnerMaps(obj: BpfObject): void {
  for (const map of obj.maps.values()) {
    if (isMapInMap(map.spec.type)) fillSlots(map, (name) => obj.maps.get(name)?.fd, 'map');
  }
}

/**
 * CO-RE: every (sub)program's field offsets, sizes and type facts rewritten for the running kernel,
 * once per object (libbpf's bpf_object__relocate_core), before subprograms are appended.
 */
function relocateCore(run: LoadRun): void {
  const spec = run.obj.spec;
  const coreRelos = spec.btfExt?.coreRelos;
  if (!spec.btf || !coreRelos || ![...coreRelos.values()].some((r) => r.length)) return;
  try {
    run.core = relocateObjectCore(spec.btf, coreRelos, spec.programs, kernelCoreTargets({ btfCustomPath: run.obj.options.btfCustomPath }));
  } catch (e) {
    throw withContext(e, { cmd: 'relocate' });
  }
  run.coreOutcomes = new Map([...run.core].map(([p, r]) => [p, r.outcomes] as const));
}

/** Links and relocates one program and builds its load request; undefined if it is not to be loaded. */
function prepareProgram(run: LoadRun, prog: Program): ProgramLoad | undefined {
  const { obj, structOps } = run;
  const spec = obj.spec;
  prog.markLoadAttempted();
  if (!prog.autoload) return undefined;
  const so = structOps.get(prog.name);
  if (!so && prog.spec.progType === 'BPF_PROG_TYPE_STRUCT_OPS') throw withContext(unreferencedStructOpsProgram(prog.spec), { program: prog.name });
  const withExt = run.btfFd !== undefined && kernelBtfFeatures().func;
  const linked = linkProgram(spec, prog.spec, withExt, run.core);
  applyRelocations(obj, linked, run.ksyms);
  prog.linked = linked;
  if (!prog.spec.progType) {
    throw new BpfError(`missing BPF program type for section '${prog.sectionName}'`, {
      cmd: 'BPF_PROG_LOAD', program: prog.name, errno: 22,
      advice: 'the section name matches no known SEC() prefix; rename the section (e.g. SEC("socket"), SEC("xdp"), SEC("tp/sched/sched_switch")) or call setType() before load',
    });
  }
  // freplace (EXT) programs are loaded against another program's BTF (src/attach/freplace.ts).
  const extTarget = prog.spec.progType === 'BPF_PROG_TYPE_EXT' ? resolveFreplaceTarget(prog, prog.attachTargetSpec) : undefined;
  const attachTarget: { id: number; objFd?: number } | undefined = extTarget ?? so
    ?? (prog.spec.sectionDef?.flags.attachBtf ? resolveAttachBtfId(obj, prog.spec) : undefined);
  const opts: ProgLoadOptions = {
    progType: PROG_TYPE[prog.spec.progType] ?? 0,
    // Struct_ops programs: the index of their member in the kernel struct.
    expectedAttachType: so ? so.memberIndex : prog.spec.expectedAttachType ? (ATTACH_TYPE[prog.spec.expectedAttachType] ?? 0) : 0,
    insns: linked.insns,
    license: spec.license,
    kernVersion: spec.kernVersion || kernelVersionCode(),
    progFlags: prog.spec.progFlags,
    name: prog.name.slice(0, 15),
    btfFd: run.btfFd,
    attachBtfId: attachTarget?.id,
    attachBtfObjFd: attachTarget?.objFd,
    attachProgFd: extTarget?.progFd,
    fdArray: run.fdArray,
    funcInfo: linked.funcInfo,
    funcInfoRecSize: linked.funcInfoRecSize,
    lineInfo: linked.lineInfo,
    lineInfoRecSize: linked.lineInfoRecSize,
    logLevel: prog.logLevel || obj.options.kernelLogLevel || 0,
  };
  return { prog, linked, opts };
}

function programLoaded(prog: Program, r: { fd: Fd; log: string }): void {
  prog.fdOwner = r.fd;
  prog.verifierLog = r.log || undefined;
}

/** A refused load as the user should see it: source-level diagnostics (the failing C line, its function and section). */
function programLoadError(run: LoadRun, req: ProgramLoad, e: unknown): unknown {
  const { prog, linked } = req;
  const err = enrichVerifierError(explainCoreFailure(explainProgLoad(e, prog.spec), linked, run.coreOutcomes), linked, run.obj.spec, { coreOutcomes: run.coreOutcomes });
  // The syscall layer only knows the kernel's 15-character name; the C function name is the useful one.
  if (err instanceof BpfError) err.program = undefined;
  return withContext(err, { program: prog.name });
}

/** Struct_ops values, prog arrays and live global data: the steps that need every program's fd. */
function finishLoad(run: LoadRun): void {
  const obj = run.obj;
  if (run.structOps.size) fillStructOpsProgramFds(obj, (name) => obj.programs.get(name)!.fd);
  for (const map of obj.maps.values()) {
    if (map.spec.type === MAP_TYPE.PROG_ARRAY) fillSlots(map, (name) => obj.programs.get(name)?.loaded ? obj.programs.get(name)!.fd : undefined, 'program');
  }

  for (const map of obj.maps.values()) {
    const gd = map.globalData;
    if (!gd) continue;
    const frozen = (map.spec.mapFlags & MAP_FLAG.RDONLY_PROG) !== 0;
    gd.goLive(map.fd, (map.spec.mapFlags & MAP_FLAG.MMAPABLE) !== 0, frozen);
  }
}

/** Loads the object's BTF (sanitized for this kernel). A failure is not fatal, as in libbpf. */
function loadObjectBtf(obj: BpfObject): number | undefined {
  const btf = obj.spec.btf;
  if (!btf) return undefined;
  const features = kernelBtfFeatures();
  if (!features.btf) return undefined;
  // Hidden global functions are verified as static ones, which gives the verifier more context.
  for (const p of obj.spec.programs) {
    if (!p.markBtfStatic) continue;
    const id = btf.findOne(p.name, BTF_KIND.FUNC);
    if (id === undefined) continue;
    const t = btf.type(id);
    if (t.kind === BTF_KIND.FUNC) btf.setType(id, { ...t, linkage: BTF_FUNC_LINKAGE.STATIC });
  }
  const toLoad: Btf = needsBtfSanitizing(features) ? sanitizeBtf(btf, features) : btf;
  let fd: Fd;
  try {
    fd = btfLoad(toLoad.encode());
  } catch (e) {
    process.emitWarning(`tsbpf: object '${obj.name}': loading BTF failed, continuing without it: ${(e as Error).message}`);
    return undefined;
  }
  obj.btfFdClose = () => fd.close();
  return fd.fd;
}

/** Patches map fds, global variable offsets and extern values into the linked instructions. */
function applyRelocations(obj: BpfObject, linked: LinkedProgram, ksyms: ResolvedKsyms): void {
  const insns = new Insns(linked.insns);
  const maps = obj.spec.maps;
  for (const r of linked.relocs) {
    const i = r.insnIdx;
    switch (r.kind) {
      case 'map': {
        insns.setSrc(i, BPF_PSEUDO.MAP_FD);
        insns.setImm(i, mapFd(obj, maps[r.mapIndex]!));
        break;
      }
      case 'data': {
        insns.setImm(i + 1, insns.imm(i) + r.symOff);
        insns.setSrc(i, BPF_PSEUDO.MAP_VALUE);
        insns.setImm(i, mapFd(obj, maps[r.mapIndex]!));
        break;
      }
      case 'externLd64': {
        const ext = obj.spec.externs[r.externIndex]!;
        if (ext.kind === 'kconfig') {
          const kcfg = maps.find((m) => m.origin === 'kconfig')!;
          insns.setSrc(i, BPF_PSEUDO.MAP_VALUE);
          insns.setImm(i, mapFd(obj, kcfg));
          insns.setImm(i + 1, ext.kconfig!.dataOff);
          break;
        }
        const res = ksyms.get(r.externIndex);
        if (ext.ksym!.typeId && res?.kernelBtfId !== undefined) {
          insns.setSrc(i, BPF_PSEUDO.BTF_ID);
          insns.setImm(i, res.kernelBtfId);
          insns.setImm(i + 1, res.btfObjFd ?? 0);
        } else {
          // Typeless ksyms, and unresolved weak typed ones, are plain 64-bit constants (0 when unresolved).
          const addr = res?.addr ?? 0n;
          insns.setImm(i, Number(BigInt.asIntN(32, addr & 0xffffffffn)));
          insns.setImm(i + 1, Number(BigInt.asIntN(32, addr >> 32n)));
        }
        break;
      }
      case 'externCall': {
        const res = ksyms.get(r.externIndex);
        if (res?.kernelBtfId !== undefined) {
          insns.setSrc(i, BPF_PSEUDO.KFUNC_CALL);
          insns.setImm(i, res.kernelBtfId);
          insns.setOff(i, res.btfFdIdx ?? 0);
        } else {
          // An unresolved weak kfunc becomes a call to an invalid helper id that names the extern, as in
          // libbpf: the verifier rejects it only if the call is reachable.
          insns.setSrc(i, 0);
          insns.setImm(i, POISON_KFUNC_BASE + r.externIndex);
          insns.setOff(i, 0);
        }
        break;
      }
      default:
        break;
    }
  }
}

/**
 * A verifier refusal at a poisoned CO-RE instruction says only "invalid func unknown#195896080"; rewrite
 * the log the way libbpf does and say which relocation failed and why.
 */
function explainCoreFailure(e: unknown, linked: LinkedProgram, outcomes: ReadonlyMap<ProgramSpec, readonly CoreReloOutcome[]> | undefined): unknown {
  if (!(e instanceof VerifierError) || !e.log || !outcomes) return e;
  const byInsn = new Map<number, CoreReloOutcome>();
  for (const seg of linked.segments) {
    for (const o of outcomes.get(seg.prog) ?? []) if (o.poisoned) byInsn.set(seg.start + o.insnIdx, o);
  }
  if (!byInsn.size) return e;
  const fixed = fixupCoreVerifierLog(e.log, (i) => byInsn.get(i));
  if (fixed === e.log) return e;
  // The message itself gets the relocation's description from the source diagnostics (enrichVerifierError).
  return new VerifierError(e.message, { errno: e.errno, syscall: e.syscall, cmd: e.cmd, log: fixed, advice: e.advice, cause: e });
}

/** Turns the refusals whose errno alone says little into errors that say what to do. */
function explainProgLoad(e: unknown, p: ProgramSpec): unknown {
  if (!(e instanceof BpfError)) return e;
  const emptyLog = !e.log || !e.log.trim();
  // A typed data ksym (extern const struct rq runqueues __ksym) resolves to a BTF VAR, but the kernel
  // must still find its address in kallsyms; kernels that list no data symbols there refuse it (ENOENT).
  const ksym = /ldimm64 failed to find the address for kernel symbol '([^']+)'/.exec(e.log ?? '');
  if (ksym && e instanceof VerifierError) {
    return new VerifierError(`the address of kernel symbol '${ksym[1]}' (a typed __ksym extern of program '${p.name}') is unavailable: ` +
      `the kernel's BTF has the variable, but the kernel found no address for it (ldimm64 failed to find the address for kernel symbol '${ksym[1]}')`, {
      errno: e.errno, syscall: e.syscall, cmd: e.cmd, log: e.log, cause: e,
      advice: 'kernels built without CONFIG_KALLSYMS_ALL keep no addresses for data symbols, so typed data ksyms cannot be used there; ' +
        'read the value another way (a helper, a kfunc, or a field reached from the current task)',
    });
  }
  const helper = /(?:invalid func unknown|unknown func [a-z_0-9]+|program of this type cannot use helper [a-z_0-9]+)#(\d+)\n/.exec(e.log ?? '');
  if (helper && e instanceof VerifierError && !e.advice && p.progType && !isPoisonedCall(Number(helper[1]))) {
    return new VerifierError(e.message, { errno: e.errno, syscall: e.syscall, cmd: e.cmd, log: e.log, cause: e, advice: helperAdvice(p.progType, Number(helper[1])) });
  }
  if (e.errno === 524 && p.progType === 'BPF_PROG_TYPE_STRUCT_OPS') {
    return new NotSupportedError(`the kernel refused to load struct_ops program '${p.name}' (ENOTSUPP, errno 524${emptyLog ? ', with an empty verifier log' : ''}): this kernel does not support it as a member of its struct_ops type`, {
      errno: 524, syscall: 'bpf', cmd: 'BPF_PROG_LOAD', log: e.log, cause: e,
      advice: 'the kernel gives ENOTSUPP when the attach target (attach_btf_id) is missing or is not a struct_ops type it supports; check that the struct is registrable on this kernel (bpftool struct_ops list shows registered ones)',
    });
  }
  if (e.errno === 1 && emptyLog && p.progType === 'BPF_PROG_TYPE_EXT' && process.geteuid?.() === 0) {
    return new NotSupportedError(`the kernel refused to load freplace program '${p.name}' (EPERM with an empty verifier log)`, {
      errno: 1, syscall: 'bpf', cmd: 'BPF_PROG_LOAD', log: e.log, cause: e,
      advice: 'this kernel does not allow BPF trampolines here, which freplace (like fentry/fexit) needs; libbpf is refused the same way',
    });
  }
  if (e.errno === 1 && emptyLog && p.progType === 'BPF_PROG_TYPE_TRACING' && process.geteuid?.() === 0) {
    return new NotSupportedError(`the kernel refused to load ${p.expectedAttachType ?? 'tracing'} program '${p.name}' (EPERM with an empty verifier log)`, {
      errno: 1, syscall: 'bpf', cmd: 'BPF_PROG_LOAD', log: e.log, cause: e,
      advice: 'this kernel does not allow BPF trampolines here (fentry/fexit/fmod_ret need CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS and an architecture that supports them); use a tp_btf, raw_tp or kprobe program instead',
    });
  }
  return e;
}

/** Which program types may call the helper on this kernel (probed), or that none may: the kernel lacks it. */
function helperAdvice(progType: string, id: number): string {
  const { name, usableBy, confirmed } = explainHelperRefusal(progType, id);
  const label = name ? `${name} (#${id})` : `#${id}`;
  if (!usableBy.length) {
    return `no program type may call helper ${label} on this kernel (${kernelRelease()}), probed with a stub program of each type: ` +
      'the kernel is older than the helper; guard the call with a feature check (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_...)) or build for this kernel';
  }
  const shown = usableBy.length > 8 ? [...usableBy.slice(0, 8), `and ${usableBy.length - 8} more`] : usableBy;
  return `${progType} programs may not call ${label} on this kernel${confirmed ? ' (a probe confirms it)' : ''}; ` +
    `program types that may: ${shown.join(', ')}. Move the call to a program of such a type, or use another helper`;
}

/**
 * tp_btf, fentry/fexit/fmod_ret, lsm and iter programs name their target in the section
 * (SEC("tp_btf/sched_switch")); the kernel wants the BTF id of the matching kernel type, and for a
 * target in a module the module's BTF object fd too. As in libbpf's find_kernel_btf_id, 'module:func'
 * searches that module only; a plain name searches vmlinux, then every module.
 */
function resolveAttachBtfId(obj: BpfObject, p: ProgramSpec): { id: number; objFd?: number } {
  const def = p.sectionDef!;
  const target = sectionTarget(def, p.sectionName.replace(/^\?/, ''));
  if (!target) {
    throw new BpfError(`section '${p.sectionName}' names no attach target`, {
      cmd: 'BPF_PROG_LOAD', program: p.name, errno: 22, advice: `write the target in the section name, e.g. SEC("${def.sec.replace(/[+/]+$/, '')}/<function>")`,
    });
  }
  const attach = p.expectedAttachType;
  const [prefix, kind] = attach === 'BPF_TRACE_RAW_TP' ? ['btf_trace_', BTF_KIND.TYPEDEF]
    : attach === 'BPF_LSM_MAC' || attach === 'BPF_LSM_CGROUP' ? ['bpf_lsm_', BTF_KIND.FUNC]
    : attach === 'BPF_TRACE_ITER' ? ['bpf_iter_', BTF_KIND.FUNC]
    : ['', BTF_KIND.FUNC];
  const colon = target.indexOf(':');
  const modName = colon >= 0 ? target.slice(0, colon) : undefined;
  const fn = colon >= 0 ? target.slice(colon + 1) : target;
  const name = prefix + fn;
  // The attach target is in the running kernel, so a custom (CO-RE only) BTF path does not apply.
  const inModule = (m: { btf: Btf; name: string }): { id: number; objFd?: number } | undefined => {
    const id = m.btf.findByName(name, kind).find((i) => i >= m.btf.startId);
    if (id === undefined) return undefined;
    const objFd = moduleBtfObjFd(m.name);
    if (objFd === undefined) {
      throw new BpfError(`attach target '${name}' is in kernel module '${m.name}', whose BTF object could not be opened`, {
        cmd: 'BPF_PROG_LOAD', program: p.name, errno: 3, advice: 'the module may have been unloaded; load it (modprobe) and retry',
      });
    }
    return { id, objFd };
  };
  let found: { id: number; objFd?: number } | undefined;
  if (modName !== undefined) {
    const m = kernelModuleBtf(modName);
    if (!m) {
      throw new BpfError(`attach target '${target}': kernel module '${modName}' has no BTF (it is not loaded, or has no /sys/kernel/btf/${modName})`, {
        cmd: 'BPF_PROG_LOAD', program: p.name, errno: 3, advice: `load the module (modprobe ${modName}) or check its name`,
      });
    }
    found = inModule(m);
  } else {
    const id = kernelBtf().findOne(name, kind);
    found = id !== undefined ? { id } : undefined;
    for (const m of found ? [] : kernelModuleBtfs()) {
      found = inModule(m);
      if (found) break;
    }
  }
  if (!found) {
    throw new BpfError(`attach target '${name}' not found in ${modName !== undefined ? `kernel module '${modName}'s BTF` : "the kernel's BTF (vmlinux and modules)"}`, {
      cmd: 'BPF_PROG_LOAD', program: p.name, errno: 3, advice: 'check the name in the section (it must be a kernel function or tracepoint this kernel has)',
    });
  }
  return found;
}

function mapFd(obj: BpfObject, spec: MapSpec): number {
  return obj.maps.get(spec.name)!.fd;
}
