// User-space probes: uprobe/uretprobe through the uprobe PMU (legacy uprobe_events as the
// fallback) and uprobe.multi links. Targets are resolved to file offsets by elf-symbols.ts.

import { type Fd, BPF_ATTACH_TYPE, BPF_F_UPROBE_MULTI_RETURN, linkCreate, perfEventOpen } from '../../syscalls/index.js';
import { perfEventOpenProbe, tracepointPerfAttr } from '../../syscalls/perf-probe.js';
import {
  addLegacyProbeEvent, legacyProbeEventName, probePmuType, probeRetprobeBit, removeLegacyProbeEvent,
} from '../../syscalls/tracefs.js';
import { BpfError, NotSupportedError } from '../errors.js';
import { kernelHasLink, missingLinkError } from '../features.js';
import { Link } from '../link.js';
import { type AttachableProgram, explainAttach, isErrno, progFd } from './common.js';
import { findFuncOffset, findFuncsByPattern, resolveBinaryPath } from './elf-symbols.js';
import type { ProbeAttachMode } from './kprobe.js';
import { attachPerfFd, type PerfAttachOptions } from './perf.js';

export interface UprobeOptions extends Omit<PerfAttachOptions, 'forceIoctl'> {
  /** The executable or library: a path, or a name searched like libbpf does ('libc.so.6', 'bash'). */
  binary: string;
  /** Function to probe; its file offset is found in the binary's symbols ('malloc', 'malloc@GLIBC_2.2.5'). */
  symbol?: string;
  /** File offset, or the offset from `symbol` when both are given. */
  offset?: number | bigint;
  /** Only this process (default: every process that maps the binary). */
  pid?: number;
  retprobe?: boolean;
  /** File offset of a USDT-style semaphore the kernel increments while the probe is attached. */
  refCtrOffset?: number | bigint;
  mode?: ProbeAttachMode;
}

/** The file offset a uprobe goes to (exported for tests and tools). */
export function uprobeOffset(binary: string, symbol: string | undefined, offset: number | bigint = 0): { path: string; offset: bigint } {
  const path = resolveBinaryPath(binary);
  const base = symbol ? BigInt(findFuncOffset(path, symbol)) : 0n;
  return { path, offset: base + BigInt(offset) };
}

/** SEC("uprobe/...") and SEC("uretprobe/...") programs (libbpf's bpf_program__attach_uprobe_opts). */
export function attachUprobe(prog: AttachableProgram, o: UprobeOptions): Link {
  const retprobe = o.retprobe ?? false;
  const kind = retprobe ? 'uretprobe' : 'uprobe';
  const { path, offset } = uprobeOffset(o.binary, o.symbol, o.offset);
  const target = `${kind} ${path}:${o.symbol ?? ''}${o.symbol ? (o.offset ? `+${o.offset}` : '') : `0x${offset.toString(16)}`}${o.pid !== undefined && o.pid >= 0 ? ` pid ${o.pid}` : ''}`;
  const what = `attaching prog '${prog.name}' to ${target}`;
  if (!o.symbol && o.offset === undefined) throw new BpfError(`${what}: give a symbol or an offset`, { errno: 22, cmd: 'uprobe' });
  progFd(prog);
  const mode = o.mode ?? 'default';
  const pmu = probePmuType('uprobe');
  const legacy = mode === 'legacy' || pmu === undefined;
  if (legacy && (mode === 'perf' || mode === 'link')) {
    throw new NotSupportedError(`${what}: this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe)`, { errno: 95, cmd: 'perf_event_open', advice: "use mode 'legacy' or 'default'" });
  }
  if (!legacy) {
    let fd: Fd;
    try {
      fd = perfEventOpenProbe({
        pmuType: pmu!, retprobe, retprobeBit: retprobe ? probeRetprobeBit('uprobe') : undefined, target: path, offset,
        refCtrOffset: o.refCtrOffset, pid: o.pid,
      }, `perf ${target}`);
    } catch (e) {
      if (isErrno(e, 22) && o.refCtrOffset) {
        throw new BpfError(`${what}: the kernel refused ref_ctr_offset ${o.refCtrOffset} (EINVAL)`, {
          errno: 22, cmd: 'perf_event_open', cause: e,
          advice: 'the semaphore offset must be a file offset inside a writable mapping of the binary, and other probes on the same binary must use the same one',
        });
      }
      throw e;
    }
    return attachPerfFd(prog, fd, kind, target, { ...o, forceIoctl: mode === 'perf' });
  }
  if (o.refCtrOffset) throw new NotSupportedError(`${what}: legacy (tracefs) uprobes have no reference counters`, { errno: 95, cmd: 'uprobe_events' });
  const event = legacyProbeEventName(path.slice(path.lastIndexOf('/') + 1), offset);
  const id = addLegacyProbeEvent('uprobe', event, retprobe, path, offset);
  const cleanup = (): void => removeLegacyProbeEvent('uprobe', event, retprobe);
  let fd: Fd;
  try {
    const pid = o.pid === undefined || o.pid < 0 ? -1 : o.pid;
    fd = perfEventOpen(tracepointPerfAttr(id), pid, pid === -1 ? 0 : -1, -1, undefined, `perf ${target} (tracefs ${event})`);
  } catch (e) {
    cleanup();
    throw e;
  }
  return attachPerfFd(prog, fd, kind, target, { ...o, forceIoctl: true }, { cleanup, outlivesProcess: true });
}

export interface UprobeMultiOptions {
  binary: string;
  /** A glob over function names ('tsbpf_*'). */
  pattern?: string;
  /** Or exact function names. */
  symbols?: string[];
  /** Or file offsets. */
  offsets?: (number | bigint)[];
  refCtrOffsets?: (number | bigint)[];
  cookies?: bigint[];
  pid?: number;
  retprobe?: boolean;
  /** uprobe.session: one program on entry and return. */
  session?: boolean;
}

/** SEC("uprobe.multi/path:pattern"): one BPF_TRACE_UPROBE_MULTI link over several functions. */
export function attachUprobeMulti(prog: AttachableProgram, o: UprobeMultiOptions): Link {
  const path = resolveBinaryPath(o.binary);
  const what = `attaching prog '${prog.name}' to uprobe.multi ${path}:${o.pattern ?? o.symbols?.join(',') ?? `${o.offsets?.length ?? 0} offsets`}`;
  let offsets: bigint[];
  if (o.pattern !== undefined) {
    const found = findFuncsByPattern(path, o.pattern);
    if (found.length === 0) throw new BpfError(`${what}: no function matches '${o.pattern}'`, { errno: 2, cmd: 'uprobe.multi' });
    offsets = found.map((f) => BigInt(f.offset));
  } else if (o.symbols) {
    offsets = o.symbols.map((s) => BigInt(findFuncOffset(path, s)));
  } else if (o.offsets) {
    offsets = o.offsets.map((x) => BigInt(x));
  } else {
    throw new BpfError(`${what}: give a pattern, symbols or offsets`, { errno: 22, cmd: 'uprobe.multi' });
  }
  if (offsets.length === 0) throw new BpfError(`${what}: nothing to attach to`, { errno: 22, cmd: 'uprobe.multi' });
  for (const [name, arr] of [['refCtrOffsets', o.refCtrOffsets], ['cookies', o.cookies]] as const) {
    if (arr && arr.length !== offsets.length) throw new BpfError(`${what}: ${arr.length} ${name} for ${offsets.length} offsets`, { errno: 22, cmd: 'uprobe.multi' });
  }
  // As with tcx, the kernel's EINVAL would not say that the link type is what is missing. libbpf does
  // not fall back for uprobe.multi programs either (only its USDT support switches to single uprobes).
  if (!kernelHasLink('uprobe_multi')) {
    throw missingLinkError('uprobe_multi', what,
      'attach one uprobe per function instead: prog.attachUprobe({ binary, symbol }) for each (a SEC("uprobe") program)');
  }
  const attachType = o.session ? BPF_ATTACH_TYPE.TRACE_UPROBE_SESSION : BPF_ATTACH_TYPE.TRACE_UPROBE_MULTI;
  const target = `uprobe.multi ${path} (${offsets.length} functions)${o.pid ? ` pid ${o.pid}` : ''}`;
  let fd: Fd;
  try {
    fd = linkCreate(progFd(prog), 0, attachType, {
      uprobeMulti: {
        path, offsets: BigUint64Array.from(offsets),
        refCtrOffsets: o.refCtrOffsets ? BigUint64Array.from(o.refCtrOffsets.map((x) => BigInt(x))) : undefined,
        cookies: o.cookies ? BigUint64Array.from(o.cookies) : undefined,
        flags: o.retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0,
        pid: o.pid && o.pid > 0 ? o.pid : 0,
      },
    }, `link ${target}`);
  } catch (e) {
    explainAttach(e, what, prog);
  }
  return new Link({ kind: 'uprobe_multi', mechanism: 'bpf_link', target, program: prog.name, fd });
}
