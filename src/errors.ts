// The error hierarchy. This module is a leaf (it imports only node:util) so that the pure layers
// (elf/, btf/) and the FFI layer (syscalls/) can all throw the same classes.

import { getSystemErrorName } from 'node:util';

/** Kernel-internal errnos that Node's util.getSystemErrorName() does not know. */
const KERNEL_ERRNO_NAMES: Record<number, string> = {
  512: 'ERESTARTSYS', 513: 'ERESTARTNOINTR', 514: 'ERESTARTNOHAND', 515: 'ENOIOCTLCMD',
  516: 'ERESTART_RESTARTBLOCK', 517: 'EPROBE_DEFER', 518: 'EOPENSTALE', 519: 'ENOPARAM',
  521: 'EBADHANDLE', 522: 'ENOTSYNC', 523: 'EBADCOOKIE', 524: 'ENOTSUPP', 525: 'ETOOSMALL',
  526: 'ESERVERFAULT', 527: 'EBADTYPE', 528: 'EJUKEBOX', 529: 'EIOCBQUEUED', 530: 'ERECALLCONFLICT',
};

/** Linux errnos that libuv's table lacks but the bpf(2) family returns. */
const LINUX_ERRNO_NAMES: Record<number, string> = {
  10: 'ECHILD', 18: 'EXDEV', 39: 'ENOTEMPTY', 42: 'ENOMSG', 61: 'ENODATA', 62: 'ETIME', 67: 'ENOLINK', 74: 'EBADMSG',
  75: 'EOVERFLOW', 77: 'EBADFD', 95: 'EOPNOTSUPP', 116: 'ESTALE', 125: 'ECANCELED', 132: 'ERFKILL', 133: 'EHWPOISON',
};

/** errno number → symbolic name ('EPERM'), or 'E<n>' when unknown. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno);
  const kernel = KERNEL_ERRNO_NAMES[n];
  if (kernel) return kernel;
  try {
    const name = getSystemErrorName(-n);
    // libuv names only the errnos it knows and says "Unknown system error -116" for the rest.
    if (!name.startsWith('Unknown')) return name;
  } catch {
    // not a valid errno for libuv
  }
  return LINUX_ERRNO_NAMES[n] ?? `E${n}`;
}

export interface BpfErrorOptions {
  /** Positive errno, when a system call failed. */
  errno?: number;
  /** The system call, e.g. 'bpf', 'mmap', 'perf_event_open'. */
  syscall?: string;
  /** The bpf(2) command or the loader step, e.g. 'BPF_PROG_LOAD', 'open', 'relocate'. */
  cmd?: string;
  /** What the user can do about it. */
  advice?: string;
  /** The BPF object name, when known. */
  object?: string;
  /** The program name, when the failure is about one program. */
  program?: string;
  /** The map name, when the failure is about one map. */
  map?: string;
  /** The full verifier log of a failed program load. */
  log?: string;
  cause?: unknown;
}

/** Every error tsbpf throws is a BpfError. */
export class BpfError extends Error {
  /** Positive errno (0 when no system call was involved). */
  readonly errno: number;
  /** Symbolic errno, e.g. 'EPERM' (undefined when no system call was involved). */
  readonly code: string | undefined;
  readonly syscall: string | undefined;
  readonly cmd: string | undefined;
  readonly advice: string | undefined;
  /** The object, program and map names are filled in by the layer that knows them (see withContext). */
  object: string | undefined;
  program: string | undefined;
  map: string | undefined;
  readonly log: string | undefined;

  constructor(message: string, opts: BpfErrorOptions = {}) {
    const parts = [message];
    if (opts.advice) parts.push(`(${opts.advice})`);
    super(parts.join(' '), opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.errno = opts.errno ? Math.abs(opts.errno) : 0;
    this.code = opts.errno ? errnoName(opts.errno) : undefined;
    this.syscall = opts.syscall;
    this.cmd = opts.cmd;
    this.advice = opts.advice;
    this.object = opts.object;
    this.program = opts.program;
    this.map = opts.map;
    this.log = opts.log;
  }
}

/**
 * Adds the object/program/map names to an error thrown by a lower layer, and prefixes its message with
 * them, so that a kernel refusal reads "object 'x': prog 'y': BPF_PROG_LOAD failed: ...".
 * Non-BpfErrors are wrapped, keeping the original as `cause`.
 */
export function withContext(err: unknown, ctx: { object?: string; program?: string; map?: string; cmd?: string }): BpfError {
  const e = err instanceof BpfError ? err : new BpfError(err instanceof Error ? err.message : String(err), { cmd: ctx.cmd, cause: err });
  const prefix: string[] = [];
  if (ctx.object && !e.object) {
    e.object = ctx.object;
    prefix.push(`object '${ctx.object}'`);
  }
  if (ctx.program && !e.program) {
    e.program = ctx.program;
    // Lower layers often name the program already ("prog foo: ..."); say it once.
    if (!e.message.startsWith(`prog ${ctx.program}:`)) prefix.push(`prog '${ctx.program}'`);
  }
  if (ctx.map && !e.map) {
    e.map = ctx.map;
    prefix.push(`map '${ctx.map}'`);
  }
  if (prefix.length) e.message = `${prefix.join(': ')}: ${e.message}`;
  return e;
}

/** A malformed ELF, BTF or BTF.ext input. Names where in the input the problem is. */
export class ParseError extends BpfError {
  /** The ELF section (or BTF part) being read, when known. */
  readonly section: string | undefined;
  /** Byte offset of the problem within the file (or within the section when `section` is set). */
  readonly offset: number | undefined;
  constructor(message: string, where: { section?: string; offset?: number } = {}, opts: BpfErrorOptions = {}) {
    const loc = [
      where.section !== undefined ? `section ${where.section}` : undefined,
      where.offset !== undefined ? `offset ${where.offset}` : undefined,
    ].filter(Boolean).join(', ');
    super(loc ? `${message} (${loc})` : message, { cmd: 'open', ...opts });
    this.section = where.section;
    this.offset = where.offset;
  }
}

/** A system call failed. */
export class SyscallError extends BpfError {}

/** The kernel lacks something tsbpf needs (a program type, map type, attach mechanism, config). */
export class NotSupportedError extends BpfError {}

/** A map operation found no element for the key (ENOENT). */
export class KeyNotFoundError extends BpfError {}

/** The verifier refused a program; `log` holds the verifier log. */
export class VerifierError extends BpfError {}

/** A use of an object after close(), or before load() where it needs the kernel. */
export class StateError extends BpfError {}

/** `tsbpf build` could not compile: a tool is missing, or clang failed (its diagnostics were printed). */
export class BuildError extends BpfError {}
