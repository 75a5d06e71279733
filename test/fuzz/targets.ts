// What each fuzz input is run through, and the invariant checked at every stage: the stage either
// succeeds or throws a BpfError that says what was wrong. Anything else is a finding:
//   - a non-BpfError (TypeError, RangeError, ...) escaping;
//   - a BpfError that only wraps such an error (BpfObject.open turns internal bugs into
//     "internal error while processing the object", which hides them from callers but is still a bug);
//   - an empty message.
// Hangs and memory blow-ups are caught by the worker and the watchdog (see worker.ts, campaign.ts).
//
// No kernel is needed: open only parses, mmaps anonymous memory for global data and closes it again.

import { existsSync, readFileSync } from 'node:fs';
import { Btf, dumpRaw, parseBtfExt, sanitizeBtf, type BtfFeatures } from '../../btf/index.js';
import { CandidateIndex, createCoreTargets, relocateObjectCore, type CoreTargets } from '../../src/core/index.js';
import { BpfError, BpfObject } from '../../src/index.js';
import { linkProgram } from '../../src/link-subprogs.js';

export type Status = 'ok' | 'error' | 'crash';

export interface Finding {
  stage: string;
  /** Dedup key: stage, error class, message with numbers blanked, first repo stack frame. */
  signature: string;
  message: string;
  stack: string;
}

/** Per-input result: the status of each stage reached, and findings. */
export interface RunResult {
  stages: Record<string, Status>;
  /** Error class names of the BpfErrors seen, per stage ('open:ParseError'). */
  errors: string[];
  findings: Finding[];
  /** Milliseconds spent per stage. */
  times: Record<string, number>;
}

/** Optional pipeline steps owned by other modules; present when their files exist. */
export interface Extras {
  /** Stages not to run (e.g. one with a known, reported problem, to find others faster). */
  skip?: ReadonlySet<string>;
  dumpC?: (btf: Btf) => string;
  /** src/skeleton's generator (tsbpf gen skeleton), when present. */
  generateSkeleton?: (object: Uint8Array, opts: { name: string }) => string;
  /** CO-RE target BTFs: the clean seed's own BTF, and vmlinux when available. */
  coreTargets: (seedBtf: Btf) => CoreTargets[];
}

const ALL_OFF: BtfFeatures = {
  btf: true, func: false, globalFunc: false, datasec: false, qmarkDatasec: false, float: false, declTag: false, typeTag: false, enum64: false,
};

const BUG_CLASSES = new Set(['TypeError', 'RangeError', 'ReferenceError', 'SyntaxError', 'EvalError', 'URIError', 'InternalError', 'AggregateError']);

/** Why `e` violates the invariant, or undefined if it is an acceptable BpfError. */
export function invariantViolation(e: unknown): string | undefined {
  if (!(e instanceof BpfError)) return `threw ${(e as Error)?.constructor?.name ?? typeof e}, not a BpfError`;
  if (!e.message.trim()) return 'BpfError with an empty message';
  if (/internal error while processing/.test(e.message)) return 'an internal error wrapped as a BpfError';
  for (let c: unknown = e.cause, depth = 0; c && depth < 8; c = (c as Error).cause, depth++) {
    if (c instanceof BpfError) continue;
    const name = (c as Error)?.constructor?.name ?? '';
    if (BUG_CLASSES.has(name)) return `a BpfError caused by a ${name}`;
  }
  return undefined;
}

function rootCause(e: unknown): unknown {
  let c = e;
  for (let d = 0; d < 8 && c instanceof BpfError && c.cause; d++) c = c.cause;
  return c;
}

function signatureOf(stage: string, e: unknown): Finding {
  const root = rootCause(e) as Error;
  const stack = String(root?.stack ?? root);
  const frame = stack.split('\n').find((l) => /\/(elf|btf|src|syscalls)\//.test(l))?.trim().replace(/^at /, '').replace(/:\d+\)?$/, ')') ?? '';
  const msg = String(root?.message ?? root).replace(/\d+/g, 'N').slice(0, 160);
  return {
    stage,
    signature: `${stage} | ${root?.constructor?.name ?? typeof root} | ${msg} | ${frame}`,
    message: String((e as Error)?.message ?? e).slice(0, 2000),
    stack: stack.split('\n').slice(0, 14).join('\n'),
  };
}

/** Every stage name, in a fixed order (the worker publishes the running stage's index for the watchdog). */
export const STAGES = [
  'open', 'inspect', 'link', 'core', 'btf.parse', 'btf.decode', 'btf.resolveSize', 'btf.alignOf', 'btf.skipMods', 'btf.pointerSize',
  'btf.findByName', 'btf.encode', 'btf.dumpRaw', 'btf.sanitize', 'btf.dumpC', 'btf.ext', 'skeleton', 'selftest',
] as const;

/** Called around every stage (the worker tracks the running stage and its peak memory). */
export interface StageHooks {
  start(stage: string): void;
  end(stage: string): void;
}

class Recorder {
  readonly result: RunResult = { stages: {}, errors: [], findings: [], times: {} };
  private readonly hooks: StageHooks | undefined;
  private readonly skip: ReadonlySet<string> | undefined;
  constructor(hooks?: StageHooks, skip?: ReadonlySet<string>) {
    this.hooks = hooks;
    this.skip = skip;
  }

  /** Runs one stage; returns its value, or undefined when it threw. */
  stage<T>(name: string, fn: () => T): T | undefined {
    if (this.skip?.has(name)) return undefined;
    this.hooks?.start(name);
    const t = performance.now();
    try {
      const v = fn();
      this.result.stages[name] ??= 'ok';
      return v;
    } catch (e) {
      this.fail(name, e);
      return undefined;
    } finally {
      this.result.times[name] = (this.result.times[name] ?? 0) + performance.now() - t;
      this.hooks?.end(name);
    }
  }

  /** Runs many independent calls as one stage (one per type id, say): errors are expected per call. */
  each(name: string, n: number, fn: (i: number) => void): void {
    if (this.skip?.has(name)) return;
    let status: Status = 'ok';
    this.hooks?.start(name);
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      try {
        fn(i);
      } catch (e) {
        if (this.fail(name, e, true)) {
          status = 'crash';
          break; // one finding per stage is enough; the rest would mostly repeat it
        }
        status = 'error';
      }
    }
    if (this.result.stages[name] !== 'crash') this.result.stages[name] = status;
    this.result.times[name] = (this.result.times[name] ?? 0) + performance.now() - t;
    this.hooks?.end(name);
  }

  /** Records an error; returns true when it is a finding. */
  private fail(name: string, e: unknown, quiet = false): boolean {
    const why = invariantViolation(e);
    if (why) {
      const f = signatureOf(name, e);
      f.message = `${why}: ${f.message}`;
      this.result.findings.push(f);
      this.result.stages[name] = 'crash';
      return true;
    }
    if (!quiet || this.result.stages[name] === undefined) this.result.errors.push(`${name}:${(e as Error).constructor.name}`);
    if (this.result.stages[name] !== 'crash') this.result.stages[name] = 'error';
    return false;
  }
}

/** BTF parse, decode of every type, size/alignment/chain queries, name lookups, encode round trip,
 * sanitizing, raw and C dumps, and .BTF.ext against it. */
export function runBtf(rec: Recorder, btfBytes: Uint8Array, extBytes: Uint8Array | undefined, extras: Extras): Btf | undefined {
  const btf = rec.stage('btf.parse', () => Btf.parse(btfBytes));
  if (!btf) return undefined;
  const n = btf.typeCount;
  const names: [number, string][] = [];
  rec.each('btf.decode', n, (i) => {
    const id = i + 1;
    btf.kind(id);
    const t = btf.type(id);
    const nm = btf.name(id);
    if (nm !== t.name) throw new Error(`name(${id}) '${nm}' != type(${id}).name '${t.name}'`);
    // Names that are not valid UTF-8 decode lossily (U+FFFD) and cannot be looked up by their decoding.
    if (nm && names.length < 64 && (i & 7) === 0 && !nm.includes('\uFFFD')) names.push([id, nm]);
  });
  rec.each('btf.resolveSize', n, (i) => { btf.resolveSize(i + 1); });
  rec.each('btf.alignOf', n, (i) => { btf.alignOf(i + 1); });
  rec.each('btf.skipMods', n, (i) => { btf.skipModsAndTypedefs(i + 1); });
  rec.stage('btf.pointerSize', () => btf.pointerSize);
  rec.each('btf.findByName', names.length, (i) => {
    const [id, nm] = names[i]!;
    const ids = btf.findByName(nm);
    if (!ids.includes(id)) {
      let now: string;
      try { now = btf.name(id); } catch (e) { now = `(throws ${(e as Error).message})`; }
      throw new Error(`findByName('${nm}') missed [${id}] (found [${ids.join(', ')}]); name([${id}]) is now '${now}'`);
    }
  });
  rec.stage('btf.encode', () => {
    const again = Btf.parse(btf.encode());
    if (again.typeCount !== btf.typeCount) throw new Error(`encode round trip: ${again.typeCount} types, had ${btf.typeCount}`);
  });
  rec.stage('btf.dumpRaw', () => dumpRaw(btf));
  rec.stage('btf.sanitize', () => sanitizeBtf(btf, ALL_OFF).encode());
  if (extras.dumpC) rec.stage('btf.dumpC', () => extras.dumpC!(btf));
  if (extBytes) rec.stage('btf.ext', () => parseBtfExt(extBytes, btf));
  return btf;
}

/** Open (ELF, BTF, .BTF.ext, spec: maps, programs, externs, relocations), then what load would do
 * before the first syscall: subprogram linking and CO-RE planning. */
export function runObject(rec: Recorder, bytes: Uint8Array, seedBtf: Btf | undefined, extras: Extras): void {
  const obj = rec.stage('open', () => BpfObject.open(bytes, { objectName: 'fuzz' }));
  if (!obj) return;
  try {
    rec.stage('inspect', () => {
      for (const m of obj.maps.values()) {
        void [m.type, m.keySize, m.valueSize, m.maxEntries, m.mapFlags, m.kernelName];
        if (m.isGlobalData && m.globalData?.zeroCopy) void m.initialValue.length;
      }
      for (const p of obj.programs.values()) void [p.type, p.sectionName, p.expectedAttachType];
      void [obj.license, obj.kernVersion, obj.btf?.typeCount];
    });
    if (extras.generateSkeleton) rec.stage('skeleton', () => extras.generateSkeleton!(bytes, { name: 'fuzz' }));
    const entries = [...obj.programs.values()];
    rec.each('link', entries.length, (i) => { linkProgram(obj.spec, entries[i]!.spec, true); });
    const spec = obj.spec;
    if (spec.btf && spec.btfExt && spec.btfExt.coreRelos.size && seedBtf) {
      for (const targets of extras.coreTargets(seedBtf)) {
        rec.stage('core', () => relocateObjectCore(spec.btf!, spec.btfExt!.coreRelos, spec.programs, targets));
      }
    }
  } finally {
    obj.close();
  }
}

/** The harness's own self-test: a stage that misbehaves on purpose, to prove each kind of finding is caught. */
export function runSelfTest(rec: Recorder, what: 'hang' | 'throw' | 'memory' | 'segv'): void {
  rec.stage('selftest', () => {
    if (what === 'throw') return (undefined as unknown as { x: number }).x;
    if (what === 'segv') return process.kill(process.pid, 'SIGSEGV');
    if (what === 'memory') return Buffer.alloc(384 * 2 ** 20, 1).length;
    for (;;) { /* hang */ }
  });
}

export function newRecorder(hooks?: StageHooks, skip?: ReadonlySet<string>): Recorder {
  return new Recorder(hooks, skip);
}
export type { Recorder };

let vmlinux: CandidateIndex | null | undefined;
const seedIndex = new WeakMap<Btf, CandidateIndex>();

/** The optional extras, looked up once per worker. */
export async function loadExtras(useVmlinux: boolean, skip: readonly string[] = []): Promise<Extras> {
  const extras: Extras = {
    skip: new Set(skip),
    // A fresh CoreTargets per object: the engine prunes its candidate lists in place.
    coreTargets: (seed) => {
      let idx = seedIndex.get(seed);
      if (!idx) seedIndex.set(seed, (idx = new CandidateIndex(seed, 'seed')));
      const out = [createCoreTargets({ main: idx, custom: true })];
      if (useVmlinux) {
        if (vmlinux === undefined) {
          try {
            vmlinux = new CandidateIndex(Btf.parse(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux'))), 'vmlinux');
          } catch {
            vmlinux = null;
          }
        }
        if (vmlinux) out.push(createCoreTargets({ main: vmlinux }));
      }
      return out;
    },
  };
  // btf/dump-c.ts belongs to the skeleton work; use it when it is there. The specifier is a variable
  // so that type checking does not depend on the file existing.
  const dumpCPath = new URL('../../btf/dump-c.ts', import.meta.url);
  if (existsSync(dumpCPath)) {
    try {
      const spec: string = '../../btf/dump-c.js';
      const mod = (await import(spec)) as { dumpC?: (btf: Btf) => string };
      if (typeof mod.dumpC === 'function') extras.dumpC = mod.dumpC;
    } catch {
      // Not loadable (being edited): skip it.
    }
  }
  const skelPath = new URL('../../src/skeleton/generate.ts', import.meta.url);
  if (existsSync(skelPath)) {
    try {
      const spec: string = '../../src/skeleton/generate.js';
      const mod = (await import(spec)) as { generateSkeleton?: Extras['generateSkeleton'] };
      if (typeof mod.generateSkeleton === 'function') extras.generateSkeleton = mod.generateSkeleton;
    } catch {
      // Not loadable (being edited): skip it.
    }
  }
  return extras;
}
