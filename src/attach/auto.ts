// Auto-attach: the mechanism and target come from the section name, as in libbpf's
// bpf_program__attach() (each SEC() definition's attach function) and the skeleton attach,
// which attaches every program that can be and skips the ones that cannot — here with the
// reason, since "why did nothing happen" is the usual question.

import { BpfError, NotSupportedError, StateError, withContext } from '../errors.js';
import type { Link } from '../link.js';
import { findSectionDef, type SectionDef } from '../section-defs.js';
import { type AttachableProgram, sectionOf } from './common.js';
import { attachKprobe, attachKprobeMulti, attachKsyscall } from './kprobe.js';
import { attachIter, attachRawTracepoint, attachTrace, attachTracepoint } from './tracing.js';
import { attachUprobe, attachUprobeMulti } from './uprobe.js';
import { attachUsdt, parseUsdtSection } from './usdt.js';

/** Either how to attach, or why it cannot be done automatically. */
export type AutoAttachPlan = { attach: () => Link; reason?: undefined } | { attach?: undefined; reason: string };

function skip(reason: string): AutoAttachPlan {
  return { reason };
}

function invalid(prog: AttachableProgram, sec: string, why: string): never {
  throw new BpfError(`prog '${prog.name}': cannot auto-attach SEC("${sec}"): ${why}`, { errno: 22, cmd: 'attach', program: prog.name });
}

/** The part after the first '/' of a section name ('' when none). */
function afterSlash(sec: string): string {
  const i = sec.indexOf('/');
  return i < 0 ? '' : sec.slice(i + 1);
}

/** Why a program type with no auto-attach needs an explicit call, and which one. */
function manualReason(def: SectionDef | undefined, sec: string): string {
  const t = def?.progType.replace('BPF_PROG_TYPE_', '') ?? 'unknown';
  const hint: Record<string, string> = {
    XDP: 'it needs an interface: prog.attachXdp(ifindex)',
    SCHED_CLS: 'it needs an interface: prog.attachTcx(ifindex, "ingress" | "egress") or prog.attachTc(...)',
    SCHED_ACT: 'tc actions are attached by tc itself, not by a loader',
    SOCKET_FILTER: 'it needs a socket: prog.attachSocket(fd)',
    CGROUP_SKB: 'it needs a cgroup: prog.attachCgroup(path)',
    CGROUP_SOCK: 'it needs a cgroup: prog.attachCgroup(path)',
    CGROUP_SOCK_ADDR: 'it needs a cgroup: prog.attachCgroup(path)',
    CGROUP_SOCKOPT: 'it needs a cgroup: prog.attachCgroup(path)',
    CGROUP_SYSCTL: 'it needs a cgroup: prog.attachCgroup(path)',
    CGROUP_DEVICE: 'it needs a cgroup: prog.attachCgroup(path)',
    SOCK_OPS: 'it needs a cgroup: prog.attachCgroup(path)',
    SK_LOOKUP: 'it needs a network namespace: prog.attachNetns()',
    FLOW_DISSECTOR: 'it needs a network namespace: prog.attachNetns()',
    SK_SKB: 'it needs a sockmap: prog.attachSockmap(map)',
    SK_MSG: 'it needs a sockmap: prog.attachSockmap(map)',
    NETFILTER: 'it needs a hook and a priority: prog.attachNetfilter({ hook, priority })',
    PERF_EVENT: 'it needs a perf event: prog.attachPerfEvent({ type, config, ... })',
    STRUCT_OPS: 'struct_ops programs are registered through the struct_ops map that points to them: obj.attach() attaches it, or map.attachStructOps()',
    SYSCALL: 'syscall programs are run with prog.testRun(), not attached',
    LSM: 'lsm_cgroup programs need a cgroup: prog.attachCgroup(path)',
    SK_REUSEPORT: 'it is installed on a socket with SO_ATTACH_REUSEPORT_EBPF or in a reuseport map',
    LIRC_MODE2: 'it needs a lirc device fd (BPF_PROG_ATTACH)',
  };
  return `libbpf has no auto-attach for SEC("${sec}"): ${hint[t] ?? `attach ${def ? t.toLowerCase() : 'it'} explicitly`}`;
}

/** The auto-attach plan for a loaded program, following libbpf's attach_* section parsers. */
export function autoAttachPlan(prog: AttachableProgram): AutoAttachPlan {
  const sec = sectionOf(prog);
  const def = prog.spec.sectionDef ?? findSectionDef(sec);
  if (!def || !def.autoAttach) return skip(manualReason(def, sec));
  const prefix = sec.split('/')[0]!;
  const rest = afterSlash(sec);
  switch (def.autoAttach) {
    case 'kprobe': {
      if (!rest) return skip(`SEC("${sec}") names no function, so libbpf does not auto-attach it either: call prog.attachKprobe(fn)`);
      const m = /^([A-Za-z0-9_.]+)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(rest);
      if (!m) invalid(prog, sec, `'${rest}' is not a function[+offset]`);
      const retprobe = prefix === 'kretprobe';
      const offset = m[2] ? Number(m[2]) : 0;
      if (retprobe && offset) invalid(prog, sec, 'kretprobes take no offset');
      return { attach: () => attachKprobe(prog, m[1]!, { retprobe, offset }) };
    }
    case 'ksyscall':
      if (!rest) return skip(`SEC("${sec}") names no syscall, so libbpf does not auto-attach it either: call prog.attachKsyscall(name)`);
      return { attach: () => attachKsyscall(prog, rest, { retprobe: prefix === 'kretsyscall' }) };
    case 'kprobe.multi':
    case 'kprobe.session': {
      if (!rest) return skip(`SEC("${sec}") names no pattern, so libbpf does not auto-attach it either: call prog.attachKprobeMulti(pattern)`);
      if (!/^[A-Za-z0-9_.*?]+$/.test(rest)) invalid(prog, sec, `'${rest}' is not a function pattern`);
      return { attach: () => attachKprobeMulti(prog, rest, { retprobe: prefix === 'kretprobe.multi', session: def.autoAttach === 'kprobe.session' }) };
    }
    case 'uprobe':
    case 'uprobe.multi': {
      if (!rest) return skip(`SEC("${sec}") names no binary and function, so libbpf does not auto-attach it either: call prog.attach${def.autoAttach === 'uprobe' ? 'Uprobe' : 'UprobeMulti'}({ binary, ... })`);
      const colon = rest.lastIndexOf(':');
      if (colon <= 0 || colon === rest.length - 1) invalid(prog, sec, `missing ':function' after the binary (write SEC("${prefix}/path:function[+offset]"))`);
      const binary = rest.slice(0, colon);
      let fn = rest.slice(colon + 1);
      if (def.autoAttach === 'uprobe.multi') {
        return {
          attach: () => attachUprobeMulti(prog, {
            binary, pattern: fn, retprobe: prefix.startsWith('uretprobe.multi'), session: prefix.startsWith('uprobe.session'),
          }),
        };
      }
      let offset = 0;
      const plus = /\+(0x[0-9a-fA-F]+|\d+)$/.exec(fn);
      if (plus) {
        offset = Number(plus[1]);
        fn = fn.slice(0, plus.index);
      }
      const retprobe = prefix === 'uretprobe' || prefix === 'uretprobe.s';
      if (retprobe && offset) invalid(prog, sec, 'uretprobes take no offset');
      // A bare number is an address/offset, as in 'uprobe/path:0x1234'.
      if (/^(0x[0-9a-fA-F]+|\d+)$/.test(fn)) return { attach: () => attachUprobe(prog, { binary, offset: Number(fn) + offset, retprobe }) };
      return { attach: () => attachUprobe(prog, { binary, symbol: fn, offset, retprobe }) };
    }
    case 'usdt': {
      if (!rest) return skip(`SEC("${sec}") names no probe, so libbpf does not auto-attach it either: call prog.attachUsdt({ binary, provider, name })`);
      const u = parseUsdtSection(rest);
      if (!u) invalid(prog, sec, `'${rest}' is not path:provider:name`);
      return { attach: () => attachUsdt(prog, prog.objectContext, u) };
    }
    case 'tracepoint': {
      if (!rest) return skip(`SEC("${sec}") names no tracepoint, so libbpf does not auto-attach it either: call prog.attachTracepoint(category, name)`);
      const slash = rest.indexOf('/');
      if (slash <= 0 || slash === rest.length - 1) invalid(prog, sec, `'${rest}' is not category/name`);
      return { attach: () => attachTracepoint(prog, rest.slice(0, slash), rest.slice(slash + 1)) };
    }
    case 'raw_tp':
      if (!rest) return skip(`SEC("${sec}") names no tracepoint, so libbpf does not auto-attach it either: call prog.attachRawTracepoint(name)`);
      return { attach: () => attachRawTracepoint(prog, rest) };
    case 'trace':
    case 'lsm':
      return { attach: () => attachTrace(prog) };
    case 'iter':
      return { attach: () => attachIter(prog) };
    case 'tracing.multi':
      return { attach: () => { throw new NotSupportedError(`prog '${prog.name}': SEC("${sec}") (tracing multi links) is not implemented in tsbpf yet`, { errno: 95, cmd: 'attach' }); } };
    default:
      return skip(manualReason(def, sec));
  }
}

/** prog.attach(): auto-attach, or an error that says why this program cannot be. */
export function autoAttach(prog: AttachableProgram): Link {
  const plan = autoAttachPlan(prog);
  if (plan.reason !== undefined) {
    throw new NotSupportedError(`prog '${prog.name}' cannot be auto-attached: ${plan.reason}`, { errno: 95, cmd: 'attach', program: prog.name });
  }
  return plan.attach();
}

export interface AttachSummary {
  /** The links made by this call, by program name (also kept in obj.links). */
  links: Map<string, Link>;
  /** The programs left alone, and why (autoload off, no auto-attach for the section, ...). */
  skipped: { program: string; reason: string }[];
}

/** What obj.attach() needs of a struct_ops map. */
export interface AttachableStructOpsMap {
  readonly name: string;
  readonly loaded: boolean;
  readonly structOps?: { readonly autoattach: boolean } | undefined;
  attachStructOps(): Link;
}

/** What obj.attach() needs from the object. */
export interface AttachableObject {
  readonly name: string;
  readonly loaded: boolean;
  readonly programs: Map<string, AttachableProgram>;
  readonly links: Map<string, Link>;
  /** Struct_ops maps are attached after the programs, as in libbpf's skeleton attach. */
  readonly maps?: ReadonlyMap<string, AttachableStructOpsMap>;
}

/**
 * Attaches every loaded, auto-attachable program of an object that is not attached yet. All or
 * nothing: when one fails, the links made by this call are closed and the error names the program.
 */
export function attachObject(obj: AttachableObject): AttachSummary {
  if (!obj.loaded) throw new StateError(`object '${obj.name}' must be loaded before attach()`, { object: obj.name, errno: 22 });
  const made = new Map<string, Link>();
  const skipped: AttachSummary['skipped'] = [];
  for (const prog of obj.programs.values()) {
    if (obj.links.has(prog.name)) continue;
    if (!prog.autoload) {
      skipped.push({ program: prog.name, reason: 'autoload is off (SEC("?...") or prog.autoload = false), so it was not loaded' });
      continue;
    }
    try {
      const plan = autoAttachPlan(prog);
      if (plan.reason !== undefined) {
        skipped.push({ program: prog.name, reason: plan.reason });
        continue;
      }
      made.set(prog.name, plan.attach());
    } catch (e) {
      closeAll(made);
      throw withContext(e, { object: obj.name, program: prog.name });
    }
  }
  // Struct_ops maps by map name (a C map variable and a function cannot share a name). Maps not
  // created (autocreate off) and maps with autoattach off are left alone, as libbpf does.
  for (const map of obj.maps?.values() ?? []) {
    if (!map.structOps || !map.structOps.autoattach || !map.loaded || obj.links.has(map.name)) continue;
    try {
      made.set(map.name, map.attachStructOps());
    } catch (e) {
      closeAll(made);
      throw withContext(e, { object: obj.name, map: map.name });
    }
  }
  for (const [name, l] of made) obj.links.set(name, l);
  return { links: made, skipped };
}

function closeAll(links: Map<string, Link>): void {
  for (const l of links.values()) {
    try {
      l.close();
    } catch {
      // the attach error is the one to report
    }
  }
}

/** Closes (detaches) every link obj.attach() made. Every link is closed even if one fails. */
export function detachObject(obj: AttachableObject): void {
  let first: unknown;
  for (const [name, l] of obj.links) {
    try {
      l.close();
    } catch (e) {
      first ??= withContext(e, { object: obj.name, program: name });
    }
  }
  obj.links.clear();
  if (first !== undefined) throw first;
}
