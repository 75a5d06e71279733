// Kernel probes: kprobe/kretprobe through the kprobe PMU (legacy tracefs kprobe_events as the
// fallback), ksyscall on the arch syscall wrapper, and kprobe.multi links. A kernel without
// CONFIG_KPROBES has none of these; the errors say so rather than failing on a missing file.

import { existsSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import {
  type Fd, BPF_ATTACH_TYPE, BPF_F_KPROBE_MULTI_RETURN, linkCreate, perfEventOpen,
} from '../../syscalls/index.js';
import { perfEventOpenProbe, tracepointPerfAttr } from '../../syscalls/perf-probe.js';
import {
  addLegacyProbeEvent, legacyProbeControlFile, legacyProbeEventName, probePmuType, probeRetprobeBit, removeLegacyProbeEvent,
  tracefsRoot,
} from '../../syscalls/tracefs.js';
import { BpfError, NotSupportedError } from '../errors.js';
import { kallsymsLookup } from '../ksyms.js';
import { Link } from '../link.js';
import { type AttachableProgram, explainAttach, isErrno, progFd } from './common.js';
import { attachPerfFd, type PerfAttachOptions } from './perf.js';
import { globMatch } from './elf-symbols.js';

/**
 * 'default': the PMU when the kernel has one, else tracefs; 'perf': the PMU with the ioctl attach;
 * 'link': the PMU with a BPF link only; 'legacy': a tracefs event (libbpf's probe_attach_mode).
 */
export type ProbeAttachMode = 'default' | 'legacy' | 'perf' | 'link';

export interface KprobeOptions extends Omit<PerfAttachOptions, 'forceIoctl'> {
  retprobe?: boolean;
  /** Offset into the function (kprobes only). */
  offset?: number;
  mode?: ProbeAttachMode;
}

/** What /proc/config.gz says about an option: true/false, or undefined when it cannot tell. */
function kernelConfig(option: string): boolean | undefined {
  try {
    const text = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
    if (new RegExp(`^${option}=[ym]$`, 'm').test(text)) return true;
    if (new RegExp(`^# ${option} is not set$`, 'm').test(text)) return false;
  } catch {
    // no /proc/config.gz (CONFIG_IKCONFIG_PROC off): fall through
  }
  return undefined;
}

/** The error for a kernel that cannot probe kernel functions at all. */
export function kprobesUnavailable(what: string): NotSupportedError {
  const cfg = kernelConfig('CONFIG_KPROBES');
  const confirm = cfg === false ? " (/proc/config.gz confirms: '# CONFIG_KPROBES is not set')" : '';
  let events = 'kprobe_events';
  try {
    events = `${tracefsRoot()}/kprobe_events`;
  } catch {
    // tracefs missing too; the generic name is enough
  }
  return new NotSupportedError(
    `${what}: this kernel has no kprobes: it was built without CONFIG_KPROBES${confirm}, so there is neither a kprobe PMU ` +
    `(/sys/bus/event_source/devices/kprobe) nor ${events}`,
    {
      // ENOENT, as libbpf reports it: its legacy fallback finds no kprobe_events file.
      errno: 2, cmd: 'perf_event_open',
      advice: 'use a tracepoint (SEC("tp/...")), raw tracepoint or tp_btf program for this event, or run a kernel with CONFIG_KPROBES=y and CONFIG_KPROBE_EVENTS=y',
    },
  );
}

/** SEC("kprobe/fn") and SEC("kretprobe/fn") programs. */
export function attachKprobe(prog: AttachableProgram, fn: string, opts: KprobeOptions = {}): Link {
  const retprobe = opts.retprobe ?? false;
  const offset = opts.offset ?? 0;
  const kind = retprobe ? 'kretprobe' : 'kprobe';
  const target = `${kind} ${fn}${offset ? `+0x${offset.toString(16)}` : ''}`;
  const what = `attaching prog '${prog.name}' to ${target}`;
  if (retprobe && offset) throw new BpfError(`${what}: kretprobes take no offset`, { errno: 22, cmd: 'attach' });
  progFd(prog);
  const mode = opts.mode ?? 'default';
  const pmu = probePmuType('kprobe');
  const legacy = mode === 'legacy' || pmu === undefined;
  if (legacy && mode !== 'default' && mode !== 'legacy') throw kprobesUnavailable(what);
  if (!legacy) {
    let fd: Fd;
    try {
      fd = perfEventOpenProbe({ pmuType: pmu!, retprobe, retprobeBit: retprobe ? probeRetprobeBit('kprobe') : undefined, target: fn, offset }, `perf ${target}`);
    } catch (e) {
      if (isErrno(e, 2, 22)) {
        throw new BpfError(`${what}: the kernel cannot probe '${fn}' (${(e as BpfError).code})`, {
          errno: (e as BpfError).errno, cmd: 'perf_event_open', cause: e,
          advice: 'the function must exist in /proc/kallsyms and be probe-able (not inlined, not on the kprobe blacklist)',
        });
      }
      throw e;
    }
    return attachPerfFd(prog, fd, kind, target, { ...opts, forceIoctl: mode === 'perf' });
  }
  if (!legacyProbeControlFile('kprobe')) throw kprobesUnavailable(what);
  const event = legacyProbeEventName(fn, offset);
  const id = addLegacyProbeEvent('kprobe', event, retprobe, fn, offset);
  const cleanup = (): void => removeLegacyProbeEvent('kprobe', event, retprobe);
  let fd: Fd;
  try {
    fd = perfEventOpen(tracepointPerfAttr(id), -1, 0, -1, undefined, `perf ${target} (tracefs ${event})`);
  } catch (e) {
    cleanup();
    throw e;
  }
  return attachPerfFd(prog, fd, kind, target, { ...opts, forceIoctl: true }, { cleanup, outlivesProcess: true });
}

const SYSCALL_PREFIX: Record<string, string> = { x64: 'x64', arm64: 'arm64', ia32: 'ia32', s390x: 's390x', riscv64: 'riscv', ppc64: 'powerpc' };
let hasWrapper: boolean | undefined;

/** The kernel function of a syscall: __<arch>_sys_<name> with syscall wrappers (4.17+ on x86), else __se_sys_<name>. */
export function ksyscallFunction(name: string, wrapper = kernelHasSyscallWrapper()): string {
  const pfx = SYSCALL_PREFIX[process.arch];
  return wrapper && pfx ? `__${pfx}_sys_${name}` : `__se_sys_${name}`;
}

function kernelHasSyscallWrapper(): boolean {
  if (hasWrapper === undefined) {
    const pfx = SYSCALL_PREFIX[process.arch];
    hasWrapper = pfx !== undefined && kallsymsLookup(new Set([`__${pfx}_sys_bpf`])).size > 0;
  }
  return hasWrapper;
}

/** SEC("ksyscall/name") programs: a kprobe on the syscall's kernel entry point (libbpf's attach_ksyscall). */
export function attachKsyscall(prog: AttachableProgram, syscall: string, opts: Omit<KprobeOptions, 'offset'> = {}): Link {
  if (probePmuType('kprobe') === undefined && !existsSyncSafe(() => legacyProbeControlFile('kprobe'))) {
    throw kprobesUnavailable(`attaching prog '${prog.name}' to syscall ${syscall}`);
  }
  return attachKprobe(prog, ksyscallFunction(syscall), opts);
}

function existsSyncSafe(f: () => string | undefined): boolean {
  try {
    const p = f();
    return p !== undefined && existsSync(p);
  } catch {
    return false;
  }
}

export interface KprobeMultiOptions {
  /** Exact function names (instead of a pattern). */
  syms?: string[];
  /** Function addresses (instead of names). */
  addrs?: bigint[];
  /** One cookie per function, read by bpf_get_attach_cookie(). */
  cookies?: bigint[];
  retprobe?: boolean;
  /** kprobe.session: one program on entry and exit. */
  session?: boolean;
}

/**
 * The functions a glob matches among the ones kprobe.multi can attach to: available_filter_functions
 * in tracefs, or the text symbols of /proc/kallsyms when that is unreadable (lockdown, no ftrace).
 */
export function kprobeMultiResolve(pattern: string): string[] {
  const names = new Set<string>();
  let text: string | undefined;
  try {
    text = readFileSync(`${tracefsRoot()}/available_filter_functions`, 'latin1');
  } catch {
    text = undefined;
  }
  if (text !== undefined) {
    for (const line of text.split('\n')) {
      // "name" or "name [module]"
      const name = line.split(' ')[0];
      if (name && globMatch(name, pattern)) names.add(name);
    }
  } else {
    let syms: string;
    try {
      syms = readFileSync('/proc/kallsyms', 'latin1');
    } catch (e) {
      throw new NotSupportedError(`cannot list kernel functions: ${(e as Error).message}`, { errno: 2, cmd: 'kprobe.multi' });
    }
    for (const line of syms.split('\n')) {
      // "ffffffff81000000 T name\t[module]"
      const [, type, name] = line.split(/\s+/);
      if (name && (type === 't' || type === 'T') && globMatch(name, pattern)) names.add(name);
    }
  }
  return [...names].sort();
}

/** SEC("kprobe.multi/pattern"): one BPF_TRACE_KPROBE_MULTI link over every matching function. */
export function attachKprobeMulti(prog: AttachableProgram, pattern: string | undefined, opts: KprobeMultiOptions = {}): Link {
  const what = `attaching prog '${prog.name}' to kprobe.multi ${pattern ?? ''}`.trimEnd();
  let syms = opts.syms;
  const addrs = opts.addrs;
  if (pattern !== undefined) {
    if (syms || addrs) throw new BpfError(`${what}: give a pattern or syms/addrs, not both`, { errno: 22, cmd: 'attach' });
    syms = /[*?]/.test(pattern) ? kprobeMultiResolve(pattern) : [pattern];
    if (syms.length === 0) throw new BpfError(`${what}: no function matches '${pattern}'`, { errno: 2, cmd: 'kprobe.multi', advice: 'patterns match available_filter_functions in tracefs' });
  }
  const cnt = syms?.length ?? addrs?.length ?? 0;
  if (cnt === 0) throw new BpfError(`${what}: no functions given`, { errno: 22, cmd: 'attach' });
  if (opts.cookies && opts.cookies.length !== cnt) throw new BpfError(`${what}: ${opts.cookies.length} cookies for ${cnt} functions`, { errno: 22, cmd: 'attach' });
  const attachType = opts.session ? BPF_ATTACH_TYPE.TRACE_KPROBE_SESSION : BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI;
  const target = `kprobe.multi ${pattern ?? `${cnt} functions`}`;
  let fd: Fd;
  try {
    fd = linkCreate(progFd(prog), 0, attachType, {
      kprobeMulti: {
        flags: opts.retprobe ? BPF_F_KPROBE_MULTI_RETURN : 0,
        syms,
        addrs: addrs ? BigUint64Array.from(addrs) : undefined,
        cookies: opts.cookies ? BigUint64Array.from(opts.cookies) : undefined,
      },
    }, `link ${target}`);
  } catch (e) {
    if (isErrno(e, 95, 524)) {
      const fprobe = kernelConfig('CONFIG_FPROBE');
      throw new NotSupportedError(`${what}: this kernel has no kprobe.multi links (BPF_LINK_CREATE: ${(e as BpfError).code}): ` +
        `they need CONFIG_FPROBE${fprobe === false ? " ('# CONFIG_FPROBE is not set' in /proc/config.gz)" : ''}` +
        `${probePmuType('kprobe') === undefined ? ', and this kernel has no kprobes either (CONFIG_KPROBES is off)' : ''}`, {
        errno: (e as BpfError).errno, cmd: 'BPF_LINK_CREATE', cause: e,
        advice: 'use tracepoints or tp_btf programs, or a kernel with CONFIG_FPROBE=y',
      });
    }
    explainAttach(e, what, prog);
  }
  return new Link({ kind: 'kprobe_multi', mechanism: 'bpf_link', target, program: prog.name, fd });
}
