// Building SyscallErrors with advice for the causes users hit first. The advice is computed only
// on the failure path, so the checks it does (/proc/self/status, getrlimit, uname) cost nothing
// on success.

import { getSystemErrorMap } from 'node:util';
import { SyscallError, errnoName } from '../src/errors.js';
import type { BpfErrorOptions } from '../src/errors.js';

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EOPNOTSUPP = 95;
export const ENOTSUPP = 524;

let systemErrors: Map<number, [string, string]> | undefined;

/** 'operation not permitted' for EPERM, or '' when Node does not know the errno. */
export function errnoDescription(errno: number): string {
  if (errno === ENOTSUPP) return 'operation not supported (kernel-internal ENOTSUPP)';
  systemErrors ??= getSystemErrorMap();
  return systemErrors.get(-Math.abs(errno))?.[1] ?? '';
}

/** A hook set by system.ts so that this module stays free of an import cycle. */
export interface AdviceProbes {
  privileged(): { privileged: boolean; detail: string };
  memlockAdvice(): string | undefined;
  /** What a process with CAP_BPF still lacks for this program or map type, in words; undefined if nothing. */
  missingTypeCaps(typeName: string): string | undefined;
  /** Why perf_event_open may have been refused (capabilities, perf_event_paranoid), in words. */
  perfEventAdvice(): string;
}
let probes: AdviceProbes | undefined;
export function setAdviceProbes(p: AdviceProbes): void {
  probes = p;
}

export interface ErrorContext {
  /** The object concerned, e.g. 'map counts'. Prefixed to the message. */
  what?: string;
  /** Appended to the message, e.g. 'after 3 of 10 elements'. */
  detail?: string;
  /** Extra advice (replaces the generic advice). */
  advice?: string;
  /** The map type / program type number, for EINVAL advice. */
  typeName?: string;
  log?: string;
  map?: string;
  program?: string;
}

/** Generic advice for an errno returned by bpf(cmd); undefined when there is nothing useful to say. */
export function bpfAdvice(cmd: string, errno: number, ctx: ErrorContext = {}): string | undefined {
  const c = cmd.replace(/^BPF_/, '');
  switch (errno) {
    case EPERM: {
      const p = probes?.privileged();
      if (p && !p.privileged) {
        return `bpf() needs root or CAP_BPF (plus CAP_PERFMON for tracing and CAP_NET_ADMIN for networking programs); ${p.detail}`;
      }
      if (c === 'MAP_UPDATE_ELEM' || c === 'MAP_DELETE_ELEM' || c === 'MAP_UPDATE_BATCH' || c === 'MAP_DELETE_BATCH' ||
          c === 'MAP_LOOKUP_AND_DELETE_ELEM' || c === 'MAP_LOOKUP_AND_DELETE_BATCH') {
        return 'the map is frozen (BPF_MAP_FREEZE) or was created with BPF_F_RDONLY, so user space may not modify it';
      }
      if (c === 'OBJ_PIN') return 'the pin path must be inside a bpffs mount (mount -t bpf bpf /sys/fs/bpf)';
      if ((c === 'PROG_LOAD' || c === 'MAP_CREATE') && ctx.typeName) {
        const missing = probes?.missingTypeCaps(ctx.typeName);
        if (missing) return missing;
      }
      const memlock = probes?.memlockAdvice();
      if (memlock) return memlock;
      return 'the process is privileged, so something else refused: kernel lockdown (/sys/kernel/security/lockdown), ' +
        'a seccomp or LSM policy, or a program type that needs a capability this process lacks';
    }
    case EINVAL:
      if (c === 'MAP_CREATE') {
        return `the kernel rejected the map attributes: ${ctx.typeName ? `map type ${ctx.typeName} is ` : 'the map type is '}` +
          'probably unsupported by this kernel, or the key/value size, max_entries or map_flags are invalid for this type';
      }
      if (c === 'PROG_LOAD') {
        return `the kernel rejected the program attributes: ${ctx.typeName ? `program type ${ctx.typeName}` : 'the program type'} ` +
          'or expected_attach_type may be unsupported by this kernel, or the flags/BTF info are invalid';
      }
      if (c === 'BTF_LOAD') return 'the kernel rejected the BTF blob (malformed, or uses a BTF kind this kernel does not know)';
      if (c === 'MAP_LOOKUP_ELEM' || c === 'MAP_UPDATE_ELEM') return 'invalid flags for this map type (e.g. BPF_F_LOCK without a bpf_spin_lock)';
      return 'invalid argument: an attribute this kernel does not accept for this command';
    case E2BIG:
      if (c === 'MAP_UPDATE_ELEM' || c === 'MAP_UPDATE_BATCH') return 'the map is full (max_entries reached)';
      return 'the attribute block has non-zero fields this kernel does not know: the kernel is too old for an option used ' +
        '(or the program/BTF is too large)';
    case ENOSPC:
      if (c === 'PROG_TEST_RUN') return 'data_out or ctx_out is too small for what the program produced';
      if (c === 'PROG_LOAD' || c === 'BTF_LOAD') return 'the verifier log buffer is too small';
      return 'no space left (e.g. too many entries or a buffer too small)';
    case ENOMEM:
      return 'the kernel could not allocate memory; on kernels before 5.11 this also means RLIMIT_MEMLOCK is too low ' +
        '(call raiseMemlockRlimit())';
    case EBADF:
      return 'the fd is not open, or is not a BPF object of the kind this command expects';
    case ENOENT:
      if (c === 'OBJ_GET') return 'nothing is pinned at this path';
      if (c.endsWith('GET_FD_BY_ID')) return 'no object has this id (it was freed)';
      if (c === 'RAW_TRACEPOINT_OPEN') return 'no raw tracepoint with this name';
      return undefined;
    case EEXIST:
      if (c === 'OBJ_PIN') return 'the path already exists (unlink it first)';
      if (c === 'MAP_UPDATE_ELEM' || c === 'MAP_UPDATE_BATCH') return 'the key already exists (BPF_NOEXIST)';
      return undefined;
    case EOPNOTSUPP:
    case ENOTSUPP:
      return 'not supported by this kernel, or not for this map/program/attach type';
    case EACCES:
      if (c === 'PROG_LOAD') return 'the verifier rejected the program';
      return 'permission denied (file mode of a pinned object, or a read-only map)';
    case EFAULT:
      return 'the kernel could not read or write a user buffer: a buffer is smaller than the size the kernel expects ' +
        '(key_size, value_size × possible CPUs for per-CPU maps) or an address is invalid';
    case EBUSY:
      return 'the object is busy (already attached, or a conflicting attachment exists)';
    case EAGAIN:
      if (c === 'PROG_LOAD') {
        return 'the kernel stops verifying when a signal is pending for the calling thread: something sends this thread signals faster than ' +
          'the program verifies, such as a sampling profiler (node --cpu-prof) or an interval timer. load() verifies on the libuv threadpool, ' +
          'out of their way; otherwise pause the profiler or timer while loading';
      }
      return undefined;
    default:
      return undefined;
  }
}

/** A SyscallError for `syscall`/`cmd` failing with `errno`, with advice. */
export function syscallError(syscall: string, cmd: string, errno: number, ctx: ErrorContext = {}): SyscallError {
  const code = errnoName(errno);
  const desc = errnoDescription(errno);
  const call = syscall === 'bpf' ? `bpf(${cmd})` : cmd && cmd !== syscall ? `${syscall}(${cmd})` : syscall;
  const msg = `${ctx.what ? `${ctx.what}: ` : ''}${call} failed: ${code}${desc ? ` (${desc})` : ''}` +
    `${ctx.detail ? `, ${ctx.detail}` : ''}`;
  const advice = ctx.advice ?? (syscall === 'bpf' ? bpfAdvice(cmd, errno, ctx)
    : syscall === 'perf_event_open' && (errno === EACCES || errno === EPERM) ? probes?.perfEventAdvice() : undefined);
  const opts: BpfErrorOptions = { errno, syscall, cmd, advice, log: ctx.log, map: ctx.map, program: ctx.program };
  return new SyscallError(msg, opts);
}
