// tracefs and the dynamic perf PMUs: tracepoint ids, the kprobe/uprobe PMU types and their
// retprobe bit, and the legacy kprobe_events/uprobe_events interface used when a kernel has no
// PMU for probes. File-based; mount(2) is the only system call, for mounting tracefs.

import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { BpfError, NotSupportedError } from '../src/errors.js';
import { errno } from './libc.js';
import { mount } from './libc-attach.js';
import { syscallError } from './errors.js';

const TRACEFS = '/sys/kernel/tracing';
const DEBUGFS_TRACING = '/sys/kernel/debug/tracing';

let root: string | undefined;

function isTracefs(dir: string): boolean {
  return existsSync(`${dir}/events`);
}

/**
 * The tracefs mount (/sys/kernel/tracing, or the debugfs automount). When neither is mounted and
 * the process is root, mounts tracefs at /sys/kernel/tracing first (libbpf expects it mounted; we
 * do what `mount -t tracefs nodev /sys/kernel/tracing` would).
 */
export function tracefsRoot(opts: { mount?: boolean } = {}): string {
  if (root && isTracefs(root)) return root;
  for (const dir of [TRACEFS, DEBUGFS_TRACING]) {
    if (isTracefs(dir)) return (root = dir);
  }
  if ((opts.mount ?? true) && process.geteuid?.() === 0 && existsSync(TRACEFS)) {
    if (mount('nodev', TRACEFS, 'tracefs', 0, null) < 0) {
      const e = errno();
      throw syscallError('mount', 'mount', e, {
        what: `tracefs at ${TRACEFS}`,
        advice: e === 19 ? 'this kernel has no tracefs (CONFIG_TRACING off): tracepoints and probes cannot be used' : undefined,
      });
    }
    if (isTracefs(TRACEFS)) return (root = TRACEFS);
  }
  throw new NotSupportedError(`tracefs is not mounted (neither ${TRACEFS} nor ${DEBUGFS_TRACING} has an events/ directory)`, {
    errno: 2, cmd: 'tracefs',
    advice: `mount it as root: mount -t tracefs nodev ${TRACEFS} (tsbpf mounts it itself when running as root)`,
  });
}

function checkName(kind: string, s: string): void {
  if (!s || s.includes('/') || s === '.' || s === '..') {
    throw new BpfError(`invalid ${kind} '${s}'`, { errno: 22, cmd: 'tracefs', advice: 'tracepoints are named category/name, e.g. sched/sched_switch' });
  }
}

function readId(file: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const n = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(n) || n < 0) throw new BpfError(`unexpected content in ${file}: '${text.trim()}'`, { errno: 22, cmd: 'tracefs' });
  return n;
}

/** The id of tracepoint category/name (the perf_event config of a PERF_TYPE_TRACEPOINT event). */
export function tracepointId(category: string, name: string): number {
  checkName('tracepoint category', category);
  checkName('tracepoint name', name);
  const dir = tracefsRoot();
  const file = `${dir}/events/${category}/${name}/id`;
  const id = readId(file);
  if (id === undefined) {
    const hasCategory = existsSync(`${dir}/events/${category}`);
    throw new BpfError(`no tracepoint '${category}/${name}' (${file} does not exist)`, {
      errno: 2, cmd: 'tracepoint',
      advice: hasCategory ? `category '${category}' exists; list its events with ls ${dir}/events/${category}` : `no category '${category}'; see ${dir}/available_events`,
    });
  }
  return id;
}

/** The perf PMU type of 'kprobe' or 'uprobe' (/sys/bus/event_source/devices/<pmu>/type), undefined without one. */
export function probePmuType(pmu: 'kprobe' | 'uprobe'): number | undefined {
  return readId(`/sys/bus/event_source/devices/${pmu}/type`);
}

/** The config bit that turns the PMU's probes into return probes ('config:0' in format/retprobe). */
export function probeRetprobeBit(pmu: 'kprobe' | 'uprobe'): number {
  const file = `/sys/bus/event_source/devices/${pmu}/format/retprobe`;
  const m = /^config:(\d+)\s*$/.exec(readFileSync(file, 'latin1'));
  if (!m) throw new BpfError(`unexpected format in ${file}`, { errno: 22, cmd: 'perf_event_open' });
  return Number(m[1]);
}

// --- legacy probe events ------------------------------------------------------------------------

let legacyIndex = 0;

/** A unique, tracefs-safe event name: tsbpf_<pid>_<n>_<target>_0x<offset>, non-alphanumerics as '_'. */
export function legacyProbeEventName(target: string, offset: number | bigint): string {
  const raw = `tsbpf_${process.pid}_${legacyIndex++}_${target}_0x${BigInt(offset).toString(16)}`;
  return raw.replace(/[^A-Za-z0-9]/g, '_').slice(0, 64);
}

export type LegacyProbeKind = 'kprobe' | 'uprobe';

function group(kind: LegacyProbeKind, retprobe: boolean): string {
  return kind === 'kprobe' ? (retprobe ? 'kretprobes' : 'kprobes') : (retprobe ? 'uretprobes' : 'uprobes');
}

/** The line written to kprobe_events / uprobe_events to create a probe event. */
export function legacyProbeCommand(kind: LegacyProbeKind, eventName: string, retprobe: boolean, target: string, offset: number | bigint): string {
  const off = `0x${BigInt(offset).toString(16)}`;
  const where = kind === 'kprobe' ? `${target}+${off}` : `${target}:${off}`;
  return `${retprobe ? 'r' : 'p'}:${group(kind, retprobe)}/${eventName} ${where}`;
}

/** The control file of legacy probes (kprobe_events / uprobe_events), undefined when the kernel has none. */
export function legacyProbeControlFile(kind: LegacyProbeKind): string | undefined {
  const file = `${tracefsRoot()}/${kind}_events`;
  return existsSync(file) ? file : undefined;
}

/** Creates a legacy probe event and returns its tracepoint id. */
export function addLegacyProbeEvent(kind: LegacyProbeKind, eventName: string, retprobe: boolean, target: string, offset: number | bigint): number {
  const file = legacyProbeControlFile(kind);
  if (!file) {
    throw new NotSupportedError(`this kernel has no ${kind}_events in tracefs`, {
      errno: 95, cmd: `${kind}_events`,
      advice: kind === 'kprobe' ? 'the kernel was built without CONFIG_KPROBE_EVENTS (or CONFIG_KPROBES)' : 'the kernel was built without CONFIG_UPROBE_EVENTS',
    });
  }
  const cmd = legacyProbeCommand(kind, eventName, retprobe, target, offset);
  try {
    appendFileSync(file, `${cmd}\n`);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw syscallError('write', `${kind}_events`, Math.abs(err.errno ?? 22), {
      what: `'${cmd}'`,
      advice: err.code === 'ENOENT' ? `no such function or file: ${target}` : undefined,
    });
  }
  const id = readId(`${tracefsRoot()}/events/${group(kind, retprobe)}/${eventName}/id`);
  if (id === undefined) {
    removeLegacyProbeEvent(kind, eventName, retprobe);
    throw new BpfError(`the legacy ${kind} event ${eventName} was not created`, { errno: 2, cmd: `${kind}_events` });
  }
  return id;
}

/** Removes a legacy probe event; a missing event is not an error. */
export function removeLegacyProbeEvent(kind: LegacyProbeKind, eventName: string, retprobe: boolean): void {
  const file = legacyProbeControlFile(kind);
  if (!file) return;
  try {
    appendFileSync(file, `-:${group(kind, retprobe)}/${eventName}\n`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
