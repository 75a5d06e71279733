// Leak tracing for test files, in two halves.
//
// In the test process (loaded by test/runner.ts with `--import`, when TSBPF_LEAK_TRACER=child): at
// exit, every fd tsbpf opened must be closed again (syscalls' liveFds() is empty) and none may have
// been closed by the GC fallback (leakedFdCount() is 0, i.e. nothing was forgotten and collected).
// Otherwise the tracer prints what leaked and sets exit status 1, which the runner counts as a failure.
//
// In the runner: BPF programs, maps and links must not outlive the test file. The kernel's id lists
// (BPF_*_GET_NEXT_ID) are taken before the file starts and after it exits; a new id that is still
// there after the kernel's deferred (RCU) freeing has had time, and that no live process holds, is
// kept alive by a pin or an attachment — a leak. Other processes create BPF objects too (the other
// test file running at the same time, other users of a shared machine), so ids are attributed to the
// test: the tracer in the test process records the kernel id behind every Fd tsbpf creates, and the
// runner samples the fds of the test's process tree while it runs (for objects made by tools such as
// bpftool or the libbpf reference harness). Leftovers never attributed are reported, and only fail the
// file with TSBPF_LEAK_STRICT=1 (for a dedicated CI machine, where nothing else creates them).
//
// Recording Fd creation: syscalls/fd.ts registers every Fd with a FinalizationRegistry (its GC
// fallback), so the tracer wraps FinalizationRegistry.prototype.register and reads the new fd's
// /proc/self/fdinfo. A self-test at start-up checks that this still sees Fds, and says so if it does
// not (attribution then rests on sampling alone).

import { openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';

export const TRACER_ENV = 'TSBPF_LEAK_TRACER';
/** Where the test process writes the ids of the objects its Fds referred to (JSON IdLists). */
export const IDS_ENV = 'TSBPF_LEAK_TRACER_IDS';
export const STRICT_ENV = 'TSBPF_LEAK_STRICT';
/** The marker the runner looks for in a test's output. */
export const FAIL_MARK = 'leak-tracer: FAIL';

// ------------------------------------------------------------------------------------------------
// The test process

/** Registers the exit check (once). `liveFds`/`leakedFdCount` come from the test's own syscalls module. */
export function installExitCheck(fds: { liveFds(): { fd: number; what: string }[]; leakedFdCount(): number }): void {
  const key = Symbol.for('tsbpf.leakTracer.installed');
  const g = globalThis as Record<symbol, unknown>;
  if (g[key]) return;
  g[key] = true;
  process.on('exit', () => {
    const open = fds.liveFds();
    const gc = fds.leakedFdCount();
    if (!open.length && !gc) return;
    const lines: string[] = [];
    if (open.length) {
      const shown = open.slice(0, 20).map((f) => `fd ${f.fd} (${f.what})`).join(', ');
      lines.push(`${FAIL_MARK}: ${open.length} tsbpf fd(s) still open when the test file ended: ${shown}${open.length > 20 ? ', ...' : ''}`);
    }
    if (gc) lines.push(`${FAIL_MARK}: ${gc} tsbpf fd(s) were never closed and had to be closed by the garbage collector`);
    process.stderr.write(`${lines.join('\n')}\n`);
    process.exitCode = 1;
  });
}

export type IdLists = Record<'prog' | 'map' | 'link', number[]>;

/** Kernel object ids in /proc/self/fdinfo/<fd> (map_id, prog_id, link_id). */
function idsOfOwnFd(fd: number, into: IdLists): void {
  let info: string;
  try {
    info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  } catch {
    return;
  }
  for (const m of info.matchAll(/^(map|prog|link)_id:\s*(\d+)$/gm)) into[m[1] as 'map'].push(Number(m[2]));
}

/**
 * Wraps FinalizationRegistry.prototype.register to see every Fd created from now on; returns the list
 * the kernel ids are added to (also used by the stress test to know every object it made).
 */
export function recordFdCreation(): IdLists {
  const created: IdLists = { prog: [], map: [], link: [] };
  const orig = FinalizationRegistry.prototype.register;
  FinalizationRegistry.prototype.register = function (this: FinalizationRegistry<unknown>, target: WeakKey, held: unknown, token?: WeakKey) {
    const h = held as { fd?: unknown; what?: unknown } | null;
    if (h && typeof h.fd === 'number' && typeof h.what === 'string' && (target as object).constructor?.name === 'Fd') idsOfOwnFd(h.fd, created);
    return orig.call(this, target, held, token);
  } as typeof orig;
  return created;
}

// Only in the test process the runner started with `--import <this file>`: not in a runner or tool
// that merely imports this module (the environment variable is inherited by a test's own children).
if (process.env[TRACER_ENV] === 'child' && process.execArgv.some((a) => a.includes('leak-tracer'))) {
  const created = recordFdCreation();
  // The same module instance the test uses (tsx resolves both to syscalls/fd.ts), so liveFds() sees the
  // test's fds. Loaded eagerly: the exit handler must be synchronous.
  const fds = await import('../../syscalls/fd.js');
  // Self-test: an Fd over /dev/null must be seen by the hook (it has no kernel id, so it records nothing).
  let seen = false;
  const probe = FinalizationRegistry.prototype.register;
  FinalizationRegistry.prototype.register = function (this: FinalizationRegistry<unknown>, target: WeakKey, held: unknown, token?: WeakKey) {
    if ((target as object).constructor?.name === 'Fd') seen = true;
    return probe.call(this, target, held, token);
  } as typeof probe;
  new fds.Fd(openSync('/dev/null', 'r'), 'leak-tracer self-test').close();
  FinalizationRegistry.prototype.register = probe;
  if (!seen) process.stderr.write('leak-tracer: warning: cannot observe Fd creation (syscalls/fd.ts changed?); kernel leaks are attributed by sampling only\n');
  installExitCheck(fds);
  const idsFile = process.env[IDS_ENV];
  if (idsFile) process.on('exit', () => writeFileSync(idsFile, JSON.stringify(created)));
}

// ------------------------------------------------------------------------------------------------
// The runner: kernel objects

export type Kind = 'prog' | 'map' | 'link';
export const KINDS: readonly Kind[] = ['prog', 'map', 'link'];
export type IdSets = Record<Kind, Set<number>>;

export interface LeakedObject {
  kind: Kind;
  id: number;
  /** 'map counts (hash)', from the kernel's info; '' when it vanished while being described. */
  desc: string;
}

export interface KernelLeaks {
  /** Left by the test (it was seen holding them). */
  attributed: LeakedObject[];
  /** New, alive and unheld, but never seen in the test's hands. */
  unattributed: LeakedObject[];
}

type Sys = typeof import('../../syscalls/index.js');
let sys: Sys | undefined;
let sysFailed = false;

/** The syscall layer, loaded on first use; undefined when bpf() is not usable (not root). */
async function syscalls(): Promise<Sys | undefined> {
  if (sys || sysFailed) return sys;
  try {
    const s = await import('../../syscalls/index.js');
    s.getNextId('map', 0);
    sys = s;
  } catch {
    sysFailed = true;
  }
  return sys;
}

function emptySets(): IdSets {
  return { prog: new Set(), map: new Set(), link: new Set() };
}

/** Every prog, map and link id in the kernel, or undefined when they cannot be listed. */
export async function kernelIds(): Promise<IdSets | undefined> {
  const s = await syscalls();
  if (!s) return undefined;
  const out = emptySets();
  for (const kind of KINDS) {
    for (let id = s.getNextId(kind, 0); id; id = s.getNextId(kind, id)) out[kind].add(id);
  }
  return out;
}

const BPF_FD = /^anon_inode:(bpf-map|bpf-prog|bpf_link)$/;

/** Adds the BPF object ids held by the fds of `pid` to `into`. */
function addHeldBy(pid: string, into: IdSets): void {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return; // gone, or not ours to read
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (!BPF_FD.test(target)) continue;
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    // A link's fdinfo names its program too (prog_id), which the link keeps alive.
    for (const m of info.matchAll(/^(map|prog|link)_id:\s*(\d+)$/gm)) into[m[1] as Kind].add(Number(m[2]));
  }
}

/** Ids held by any process on the system. */
function heldByAnyone(): IdSets {
  const out = emptySets();
  for (const pid of readdirSync('/proc')) if (/^\d+$/.test(pid)) addHeldBy(pid, out);
  return out;
}

function descendants(pid: number, out: number[] = []): number[] {
  out.push(pid);
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    let kids: string;
    try {
      kids = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const k of kids.split(/\s+/)) if (k) descendants(Number(k), out);
  }
  return out;
}

/**
 * Samples, every few ms, which BPF objects a process and its descendants hold. Objects created and
 * dropped between two samples are missed; an object that a test leaks by pinning or attaching it is
 * in practice held across many samples (it is created, used, then pinned or left behind).
 */
export class HeldSampler {
  readonly seen: IdSets = emptySets();
  private timer: NodeJS.Timeout | undefined;
  private readonly pid: number;

  constructor(pid: number, intervalMs = 20) {
    this.pid = pid;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
    this.sample();
  }

  sample(): void {
    for (const p of descendants(this.pid)) addHeldBy(String(p), this.seen);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** Maps used by held programs, and programs of held links, are held too. */
async function closeOverReferences(held: IdSets): Promise<void> {
  const s = await syscalls();
  if (!s) return;
  for (const id of held.link) {
    try {
      using fd = s.linkGetFdById(id);
      const info = s.linkInfo(fd.fd);
      if (info.progId) held.prog.add(info.progId);
    } catch {
      // freed meanwhile
    }
  }
  for (const id of held.prog) {
    try {
      using fd = s.progGetFdById(id);
      for (const m of s.progInfo(fd.fd).mapIds) held.map.add(m);
    } catch {
      // freed meanwhile
    }
  }
}

async function describe(kind: Kind, id: number): Promise<string> {
  const s = (await syscalls())!;
  try {
    if (kind === 'map') {
      using fd = s.mapGetFdById(id);
      const i = s.mapInfo(fd.fd);
      return `map '${i.name}' (type ${i.type})`;
    }
    if (kind === 'prog') {
      using fd = s.progGetFdById(id);
      const i = s.progInfo(fd.fd, { mapIds: false });
      return `prog '${i.name}' (type ${i.type})`;
    }
    using fd = s.linkGetFdById(id);
    const i = s.linkInfo(fd.fd);
    return `link (type ${i.type}, prog ${i.progId})`;
  } catch {
    return '';
  }
}

/**
 * Objects created since `before` that are still alive and held by no process, waiting up to
 * `settleMs` for deferred frees. `seen` attributes them to the test.
 */
export async function findKernelLeaks(before: IdSets, seen: IdSets, settleMs = 3000): Promise<KernelLeaks> {
  const started = Date.now();
  let left: { kind: Kind; id: number }[] = [];
  for (;;) {
    const now = await kernelIds();
    if (!now) return { attributed: [], unattributed: [] };
    const held = heldByAnyone();
    await closeOverReferences(held);
    left = [];
    for (const kind of KINDS) for (const id of now[kind]) if (!before[kind].has(id) && !held[kind].has(id)) left.push({ kind, id });
    // Only the test's own leftovers are worth waiting for; others' are merely reported.
    const mine = left.filter((o) => seen[o.kind].has(o.id));
    if (!mine.length && (left.length === 0 || Date.now() - started > settleMs / 6)) break;
    if (Date.now() - started > settleMs) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const out: KernelLeaks = { attributed: [], unattributed: [] };
  for (const o of left) {
    const desc = await describe(o.kind, o.id);
    if (!desc) continue; // freed while we looked
    (seen[o.kind].has(o.id) ? out.attributed : out.unattributed).push({ ...o, desc });
  }
  return out;
}

/** Adds the ids a test process recorded (see IDS_ENV) to `seen`, and removes the file. */
export function mergeRecordedIds(file: string, seen: IdSets): void {
  try {
    const ids = JSON.parse(readFileSync(file, 'utf8')) as IdLists;
    for (const kind of KINDS) for (const id of ids[kind] ?? []) seen[kind].add(id);
  } catch {
    // the process died before writing it: sampling is all there is
  }
  rmSync(file, { force: true });
}

export function formatLeaks(objs: LeakedObject[]): string {
  return objs.map((o) => `${o.kind} id ${o.id}: ${o.desc}`).join(', ');
}
