// Tracepoints (perf events by tracefs id), raw tracepoints, BTF-attached tracing programs
// (tp_btf, fentry/fexit/fmod_ret, lsm, freplace) and iterators.

import { type Fd, BPF_ATTACH_TYPE, linkCreate, perfEventOpen, rawTracepointOpen } from '../../syscalls/index.js';
import { tracepointPerfAttr } from '../../syscalls/perf-probe.js';
import { tracepointId } from '../../syscalls/tracefs.js';
import { IterLink, Link, type LinkKind } from '../link.js';
import { type AttachableProgram, explainAttach, isErrno, progFd, sectionOf } from './common.js';
import { attachPerfFd, type PerfAttachOptions } from './perf.js';

/** Options of attachTracepoint (libbpf's bpf_tracepoint_opts plus the perf attach choices). */
export type TracepointOptions = PerfAttachOptions;

/**
 * SEC("tp/category/name") programs: the tracepoint's id from tracefs (mounted if needed), a
 * PERF_TYPE_TRACEPOINT event for all processes, then the program on it.
 */
export function attachTracepoint(prog: AttachableProgram, category: string, name: string, opts: TracepointOptions = {}): Link {
  const id = tracepointId(category, name);
  const target = `tracepoint ${category}/${name}`;
  const fd = perfEventOpen(tracepointPerfAttr(id), -1, 0, -1, undefined, `perf ${target}`);
  return attachPerfFd(prog, fd, 'tracepoint', target, opts);
}

export interface RawTracepointOptions {
  /** Read by bpf_get_attach_cookie() (Linux 6.10). */
  cookie?: bigint;
}

/** SEC("raw_tp/name") and raw_tp.w programs: BPF_RAW_TRACEPOINT_OPEN. */
export function attachRawTracepoint(prog: AttachableProgram, name: string, opts: RawTracepointOptions = {}): Link {
  const target = `raw_tracepoint ${name}`;
  let fd: Fd;
  try {
    fd = rawTracepointOpen(name, progFd(prog), opts.cookie, `link ${target}`);
  } catch (e) {
    explainAttach(e, `attaching prog '${prog.name}' to ${target}`, prog);
  }
  return new Link({ kind: 'raw_tracepoint', mechanism: 'bpf_link', target, program: prog.name, fd });
}

export interface TraceOptions {
  /** Read by bpf_get_attach_cookie(). */
  cookie?: bigint;
}

// The attach types that BPF_RAW_TRACEPOINT_OPEN(name NULL) can attach on kernels without tracing links.
const RAW_TP_FALLBACK = new Set<number>([
  BPF_ATTACH_TYPE.TRACE_RAW_TP, BPF_ATTACH_TYPE.LSM_MAC, BPF_ATTACH_TYPE.TRACE_FENTRY, BPF_ATTACH_TYPE.TRACE_FEXIT,
  BPF_ATTACH_TYPE.MODIFY_RETURN,
]);

/**
 * Programs whose target was resolved to a BTF id at load: tp_btf, fentry, fexit, fmod_ret, lsm
 * (and freplace loaded with a target). A tracing link, or BPF_RAW_TRACEPOINT_OPEN on kernels
 * that have no tracing links (5.5–5.9), as libbpf does.
 */
export function attachTrace(prog: AttachableProgram, opts: TraceOptions = {}): Link {
  const attachType = prog.expectedAttachType;
  const kind: LinkKind = prog.typeName === 'BPF_PROG_TYPE_LSM' ? 'lsm' : prog.typeName === 'BPF_PROG_TYPE_EXT' ? 'freplace' : 'tracing';
  const target = `${kind} ${sectionOf(prog)}`;
  let fd: Fd;
  try {
    try {
      fd = linkCreate(progFd(prog), 0, attachType, opts.cookie === undefined ? {} : { tracingCookie: opts.cookie }, `link ${target}`);
    } catch (e) {
      if (!isErrno(e, 22) || opts.cookie !== undefined || !RAW_TP_FALLBACK.has(attachType)) throw e;
      fd = rawTracepointOpen(null, progFd(prog), undefined, `link ${target}`);
    }
  } catch (e) {
    explainAttach(e, `attaching prog '${prog.name}' (${target})`, prog);
  }
  return new Link({ kind, mechanism: 'bpf_link', target, program: prog.name, fd });
}

export interface IterOptions {
  /** Iterate over the elements of this map (bpf_map_elem, sockmap iterators): a map fd or anything with an fd. */
  map?: number | { readonly fd: number };
  /** cgroup iterators: the cgroup (fd) and the walk order. */
  cgroup?: { fd: number; order?: 'self' | 'descendants_pre' | 'descendants_post' | 'ancestors_up' };
  /** task, task_file, task_vma iterators: limit to one thread, one process, or a pidfd's process. */
  task?: { tid?: number; pid?: number; pidFd?: number };
}

const CGROUP_ITER_ORDER = { self: 1, descendants_pre: 2, descendants_post: 3, ancestors_up: 4 } as const;

/** struct bpf_iter_link_info (a 16-byte union) for the given parameters, or undefined for none. */
export function iterLinkInfo(opts: IterOptions): Uint8Array | undefined {
  const b = Buffer.alloc(16);
  if (opts.map !== undefined) {
    b.writeUInt32LE(typeof opts.map === 'number' ? opts.map : opts.map.fd, 0);
  } else if (opts.cgroup) {
    b.writeUInt32LE(CGROUP_ITER_ORDER[opts.cgroup.order ?? 'self'], 0);
    b.writeUInt32LE(opts.cgroup.fd, 4);
  } else if (opts.task) {
    b.writeUInt32LE(opts.task.tid ?? 0, 0);
    b.writeUInt32LE(opts.task.pid ?? 0, 4);
    b.writeUInt32LE(opts.task.pidFd ?? 0, 8);
  } else {
    return undefined;
  }
  return b;
}

/** SEC("iter/...") programs: an iterator link; read it with link.read() or link.stream(). */
export function attachIter(prog: AttachableProgram, opts: IterOptions = {}): IterLink {
  const target = `iter ${sectionOf(prog).replace(/^iter(\.s)?\//, '')}`;
  let fd: Fd;
  try {
    const info = iterLinkInfo(opts);
    fd = linkCreate(progFd(prog), 0, BPF_ATTACH_TYPE.TRACE_ITER, info ? { iterInfo: info } : {}, `link ${target}`);
  } catch (e) {
    explainAttach(e, `attaching prog '${prog.name}' (${target})`, prog);
  }
  return new IterLink({ kind: 'iter', mechanism: 'bpf_link', target, program: prog.name, fd });
}
