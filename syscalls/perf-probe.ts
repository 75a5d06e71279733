// perf_event_attr encodings for the attachments built on perf events: tracepoints, kprobes and
// uprobes through their PMUs, and software/hardware sampling events. Probes pass the function
// name or binary path as a pointer in config1, so the string buffer must outlive the syscall:
// probePerfAttr returns it next to the attr and perfEventOpenProbe keeps both referenced.

import { Fd } from './fd.js';
import { perfEventAttr, perfEventOpen } from './events.js';
import { addressOf } from './libc.js';

export const PERF_TYPE = {
  HARDWARE: 0,
  SOFTWARE: 1,
  TRACEPOINT: 2,
  HW_CACHE: 3,
  RAW: 4,
  BREAKPOINT: 5,
} as const;

export const PERF_COUNT_SW = {
  CPU_CLOCK: 0,
  TASK_CLOCK: 1,
  PAGE_FAULTS: 2,
  CONTEXT_SWITCHES: 3,
  CPU_MIGRATIONS: 4,
  PAGE_FAULTS_MIN: 5,
  PAGE_FAULTS_MAJ: 6,
  ALIGNMENT_FAULTS: 7,
  EMULATION_FAULTS: 8,
  DUMMY: 9,
  BPF_OUTPUT: 10,
  CGROUP_SWITCHES: 11,
} as const;

export const PERF_COUNT_HW = {
  CPU_CYCLES: 0,
  INSTRUCTIONS: 1,
  CACHE_REFERENCES: 2,
  CACHE_MISSES: 3,
  BRANCH_INSTRUCTIONS: 4,
  BRANCH_MISSES: 5,
  BUS_CYCLES: 6,
  STALLED_CYCLES_FRONTEND: 7,
  STALLED_CYCLES_BACKEND: 8,
  REF_CPU_CYCLES: 9,
} as const;

/** The uprobe PMU takes ref_ctr_offset (USDT semaphores) in the upper 32 bits of config. */
const REF_CTR_OFFSET_SHIFT = 32n;

export interface ProbeAttrOptions {
  /** The PMU type from /sys/bus/event_source/devices/{kprobe,uprobe}/type. */
  pmuType: number;
  retprobe?: boolean;
  /** The PMU's retprobe config bit (format/retprobe); required when retprobe is set. */
  retprobeBit?: number;
  /** Kernel function name (kprobe) or binary path (uprobe). */
  target: string;
  /** Offset from the function (kprobe) or file offset (uprobe). */
  offset: number | bigint;
  /** uprobe only: file offset of the reference counter (semaphore) the kernel increments while attached. */
  refCtrOffset?: number | bigint;
}

/** The attr for a kprobe/uprobe PMU event and the NUL-terminated target its config1 points at. */
export function probePerfAttr(o: ProbeAttrOptions): { attr: Buffer; target: Buffer } {
  const refCtr = BigInt(o.refCtrOffset ?? 0);
  if (refCtr < 0n || refCtr >= 1n << 32n) throw new RangeError(`ref_ctr_offset ${refCtr} does not fit in 32 bits`);
  let config = refCtr << REF_CTR_OFFSET_SHIFT;
  if (o.retprobe) {
    if (o.retprobeBit === undefined) throw new RangeError('retprobe needs the PMU retprobe bit');
    config |= 1n << BigInt(o.retprobeBit);
  }
  const target = Buffer.from(`${o.target}\0`, 'utf8');
  const attr = perfEventAttr({
    type: o.pmuType,
    config,
    config1: BigInt(addressOf(target)),
    config2: BigInt(o.offset),
  });
  return { attr, target };
}

/**
 * Opens a kprobe/uprobe PMU event. pid -1 means every process; like libbpf, a probe for every
 * process is opened on CPU 0 only (BPF programs on trace events run on whichever CPU hits the
 * probe), and a per-process probe on any CPU.
 */
export function perfEventOpenProbe(o: ProbeAttrOptions & { pid?: number }, what: string): Fd {
  const { attr, target } = probePerfAttr(o);
  const pid = o.pid === undefined || o.pid < 0 ? -1 : o.pid;
  const fd = perfEventOpen(attr, pid, pid === -1 ? 0 : -1, -1, undefined, what);
  // The kernel read the string during the call; this keeps `target` reachable until then.
  void target.length;
  return fd;
}

/** The attr of a tracepoint event (config = the id from tracefs). */
export function tracepointPerfAttr(id: number): Buffer {
  return perfEventAttr({ type: PERF_TYPE.TRACEPOINT, config: id });
}
