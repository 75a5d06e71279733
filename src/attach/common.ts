// Helpers shared by the attach modules: what they need from a Program, attach type names, and
// turning kernel refusals into errors that say what to do.

import { type Fd, BPF_ATTACH_TYPE_NAMES } from '../../syscalls/index.js';
import { BpfError, NotSupportedError, StateError } from '../errors.js';
import { ATTACH_TYPE } from '../kernel-enums.js';
import type { Program } from '../program.js';

/** The Program as the attach modules see it. */
export type AttachableProgram = Program;

/** The program fd, with an error that names the program when it is not loaded. */
export function progFd(prog: AttachableProgram): number {
  return prog.fd;
}

/**
 * An independently owned copy of the program fd, for attachments that must be undone with the
 * program fd later (netlink, PROG_DETACH): the Program may be closed before the Link.
 */
export function dupProgFd(prog: AttachableProgram): Fd {
  if (!prog.fdOwner) void prog.fd; // throws the right StateError
  return prog.fdOwner!.dup(`prog ${prog.name} (held by its link)`);
}

/** The section name without libbpf's '?' (no autoload) marker. */
export function sectionOf(prog: AttachableProgram): string {
  return prog.sectionName.replace(/^\?/, '');
}

/**
 * A bpf_attach_type from a number or a name ('BPF_CGROUP_INET_EGRESS', 'CGROUP_INET_EGRESS',
 * 'cgroup_inet_egress').
 */
export function attachTypeOf(t: number | string): number {
  if (typeof t === 'number') return t;
  const name = t.toUpperCase().startsWith('BPF_') ? t.toUpperCase() : `BPF_${t.toUpperCase()}`;
  const n = ATTACH_TYPE[name];
  if (n === undefined) throw new BpfError(`unknown attach type '${t}'`, { errno: 22, cmd: 'attach', advice: 'use a bpf_attach_type name such as BPF_CGROUP_INET_EGRESS' });
  return n;
}

export function attachTypeName(t: number): string {
  return BPF_ATTACH_TYPE_NAMES[t] ?? `attach type ${t}`;
}

export function isErrno(e: unknown, ...errnos: number[]): e is BpfError {
  return e instanceof BpfError && errnos.includes(e.errno);
}

/** The attach type the program was loaded with, or an error naming the option to pass. */
export function expectedAttachTypeOf(prog: AttachableProgram, what: string): number {
  const t = prog.expectedAttachType;
  if (!t) {
    throw new StateError(`prog '${prog.name}' (SEC("${prog.sectionName}")) has no expected attach type, so ${what} needs one`, {
      errno: 22, cmd: 'attach', advice: 'pass the attach type explicitly, or use a section name that implies it',
    });
  }
  return t;
}

/** Rethrows kernel refusals of an attach call with advice when the errno alone says little. */
export function explainAttach(e: unknown, what: string, prog: AttachableProgram): never {
  if (e instanceof BpfError && !e.advice) {
    const type = prog.typeName ?? 'this program type';
    if (e.errno === 22) {
      throw new BpfError(`${what}: ${e.message}`, {
        errno: e.errno, syscall: e.syscall, cmd: e.cmd, cause: e,
        advice: `the kernel refused the combination: ${type} (SEC("${prog.sectionName}")) cannot attach here, or an option is invalid for this attach point`,
      });
    }
    if (e.errno === 95 || e.errno === 524) {
      throw new NotSupportedError(`${what}: ${e.message}`, {
        errno: e.errno, syscall: e.syscall, cmd: e.cmd, cause: e,
        advice: 'this kernel does not support this attachment (too old, or built without the needed option)',
      });
    }
  }
  throw e;
}

/** Runs fn; on failure closes the given fds before rethrowing. */
export function closingOnError<T>(fds: (Fd | undefined)[], fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    for (const f of fds) f?.close();
    throw e;
  }
}
