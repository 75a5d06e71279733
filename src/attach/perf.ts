// Programs on perf events: the common step of tracepoint, kprobe and uprobe attachment
// (libbpf's bpf_program__attach_perf_event_opts), and sampling events per CPU.

import {
  type Fd, type PerfEventAttrField, BPF_ATTACH_TYPE, linkCreate, onlineCpus, perfEventAttr, perfEventEnable, perfEventOpen,
  perfEventSetBpf,
} from '../../syscalls/index.js';
import { dupRawFd } from '../../syscalls/sockets.js';
import { NotSupportedError } from '../errors.js';
import { Link, LinkGroup, type LinkKind } from '../link.js';
import { type AttachableProgram, explainAttach, isErrno, progFd } from './common.js';

export interface PerfAttachOptions {
  /** A value the program reads with bpf_get_attach_cookie() (needs BPF perf links, Linux 5.15). */
  cookie?: bigint;
  /** Attach with PERF_EVENT_IOC_SET_BPF even when the kernel has BPF perf links. */
  forceIoctl?: boolean;
  /** Do not PERF_EVENT_IOC_ENABLE the event (it is enabled already unless opened disabled). */
  dontEnable?: boolean;
}

/** Extra state of a perf attachment: e.g. the removal of a legacy tracefs event. */
export interface PerfExtras {
  cleanup?: () => void;
  outlivesProcess?: boolean;
}

/**
 * Attaches a program to an open perf event, taking ownership of `perfFd` (closed on failure).
 * A BPF link on the event when the kernel has them (the link and the perf fd are both owned by
 * the Link), PERF_EVENT_IOC_SET_BPF otherwise.
 */
export function attachPerfFd(prog: AttachableProgram, perfFd: Fd, kind: LinkKind, target: string, opts: PerfAttachOptions = {},
  extras: PerfExtras = {}): Link {
  let linkFd: Fd | undefined;
  try {
    const pfd = progFd(prog);
    if (!opts.forceIoctl) {
      try {
        linkFd = linkCreate(pfd, perfFd.fd, BPF_ATTACH_TYPE.PERF_EVENT, opts.cookie === undefined ? {} : { perfEventCookie: opts.cookie },
          `link ${target}`);
      } catch (e) {
        // Kernels before 5.15 have no BPF_PERF_EVENT links and answer EINVAL: use the ioctl.
        if (!isErrno(e, 22)) throw e;
      }
    }
    if (!linkFd) {
      if (opts.cookie !== undefined) {
        throw new NotSupportedError(`${target}: a BPF cookie needs a BPF perf link, which this kernel refused`, {
          errno: 95, cmd: 'BPF_LINK_CREATE', advice: 'BPF perf links and cookies arrived in Linux 5.15; drop the cookie on older kernels',
        });
      }
      perfEventSetBpf(perfFd.fd, pfd);
    }
    if (!opts.dontEnable) perfEventEnable(perfFd.fd);
  } catch (e) {
    linkFd?.close();
    perfFd.close();
    try {
      extras.cleanup?.();
    } catch {
      // the original error matters more
    }
    explainAttach(e, `attaching prog '${prog.name}' to ${target}`, prog);
  }
  return new Link({
    kind, mechanism: linkFd ? 'perf_link' : 'perf_ioctl', target, program: prog.name, fd: linkFd, perfFd,
    cleanup: extras.cleanup, outlivesProcess: extras.outlivesProcess,
  });
}

/** A perf event to open and sample: software, hardware or raw, like `perf record -e`. */
export interface PerfEventSpec {
  /** PERF_TYPE_* (see PERF_TYPE). */
  type: number;
  /** The event within the type, e.g. PERF_COUNT_SW.CPU_CLOCK. */
  config: number | bigint;
  /** Run the program every `samplePeriod` events (for cpu-clock: nanoseconds). */
  samplePeriod?: number | bigint;
  /** Or about `sampleFreq` times per second (the kernel adapts the period). */
  sampleFreq?: number;
  /**
   * One CPU only; default every online CPU (one perf event and link each). -1 with a pid: follow
   * that process on whichever CPU it runs (one link).
   */
  cpu?: number;
  /** A process to follow (-1/undefined: every process on the CPU). */
  pid?: number;
  /** Extra perf_event_attr fields, by name (e.g. { exclude_kernel: 1 }). */
  attr?: Partial<Record<PerfEventAttrField, number | bigint>>;
}

function specAttr(spec: PerfEventSpec): Buffer {
  const fields: Parameters<typeof perfEventAttr>[0] = { type: spec.type, config: spec.config, ...spec.attr };
  if (spec.sampleFreq !== undefined) {
    fields.sample_freq = spec.sampleFreq;
    fields.freq = 1;
  } else {
    fields.sample_period = spec.samplePeriod ?? 1;
  }
  return perfEventAttr(fields);
}

/** Opens `spec` on one CPU (or for one process) and attaches the program to it. */
export function attachPerfEventSpec(prog: AttachableProgram, spec: PerfEventSpec, opts: PerfAttachOptions = {}): Link {
  const cpu = spec.cpu ?? -1;
  const pid = spec.pid ?? -1;
  const target = `perf_event type ${spec.type} config ${spec.config}${cpu >= 0 ? ` cpu ${cpu}` : ''}${pid >= 0 ? ` pid ${pid}` : ''}`;
  const fd = perfEventOpen(specAttr(spec), pid, cpu, -1, undefined, `perf ${target}`);
  return attachPerfFd(prog, fd, 'perf_event', target, opts);
}

/** Opens `spec` on every online CPU (it must not set cpu) and attaches the program to each. */
export function attachPerfEventPerCpu(prog: AttachableProgram, spec: PerfEventSpec, opts: PerfAttachOptions = {}): LinkGroup {
  const links: Link[] = [];
  try {
    for (const cpu of onlineCpus()) links.push(attachPerfEventSpec(prog, { ...spec, cpu }, opts));
  } catch (e) {
    for (const l of links) l.close();
    throw e;
  }
  return new LinkGroup(links);
}

/** Attaches to a perf event fd the caller opened. A number is dup'ed (the caller keeps its fd); an Fd is taken over. */
export function attachPerfEventFd(prog: AttachableProgram, event: number | Fd, opts: PerfAttachOptions = {}): Link {
  const fd = typeof event === 'number' ? dupRawFd(event, `perf event (dup of fd ${event})`) : event;
  return attachPerfFd(prog, fd, 'perf_event', `perf event fd ${typeof event === 'number' ? event : event.fd}`, opts);
}
