// Tests that need something this machine may lack (a kernel feature, a tool) are registered with uvu's
// test.skip when it is missing, so that the runner counts them as skipped rather than passed, and the
// reason is printed once. Decide at registration time (top-level await where the probe is async):
//
//   testIf(kprobes().present, kprobes().why)('when present, a kprobe fires', async () => { ... });
//   testIf(!kprobes().present, 'needs a kernel without kprobes')('when absent, the error names CONFIG_KPROBES', ...);
//
// The probes below try the feature itself, the way a user's program would meet it, never the kernel
// version string: distribution kernels backport features and configure them out.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { test as uvuTest } from 'uvu';
import { BTF_KIND } from '../../btf/index.js';
import { kernelBtf } from '../../src/kernel-btf.js';
import { BPF_ATTACH_TYPE, BPF_PROG_TYPE, linkCreate, progLoad } from '../../syscalls/index.js';

type Handler = Parameters<typeof uvuTest>[1];
/** uvu's `test`, or a suite made with suite(). */
interface Registrar {
  (name: string, fn: Handler): void;
  skip(name: string, fn?: Handler): void;
}
export type Register = (name: string, fn: Handler) => void;

const printed = new Set<string>();

/**
 * `t` itself when `condition` holds; otherwise a function that registers each test with `t.skip`,
 * printing `reason` ("needs ...") once per file.
 */
export function testIf(condition: boolean, reason: string, t: Registrar = uvuTest): Register {
  if (condition) return t;
  return (name, fn) => {
    if (!printed.has(reason)) {
      printed.add(reason);
      console.log(`  (skipped: ${reason})`);
    }
    t.skip(name, fn);
  };
}

/** A probe's answer: whether the feature is there, and if not, why (for the skip message). */
export interface Feature {
  present: boolean;
  why: string;
}

function memo(probe: () => Feature): () => Feature {
  let f: Feature | undefined;
  return () => (f ??= probe());
}

/** A command on PATH. */
export function command(cmd: string): Feature {
  const ok = spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  return { present: ok, why: `needs ${cmd} (not installed)` };
}

export const isRoot: () => Feature = memo(() => ({ present: process.getuid?.() === 0, why: 'needs root' }));

export const vmlinuxBtf: () => Feature = memo(() => ({
  present: existsSync('/sys/kernel/btf/vmlinux'), why: 'needs kernel BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)',
}));

/** kprobes: a kprobe PMU, or the legacy kprobe_events file in tracefs (what libbpf and tsbpf use). */
export const kprobes: () => Feature = memo(() => {
  const present = existsSync('/sys/bus/event_source/devices/kprobe/type')
    || ['/sys/kernel/tracing/kprobe_events', '/sys/kernel/debug/tracing/kprobe_events'].some((p) => existsSync(p));
  return { present, why: 'needs kprobes (CONFIG_KPROBES)' };
});

/** BPF_PROG_TYPE_KPROBE programs: `r0 = 0; exit`. */
const RET0 = Uint8Array.from([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);

function errnoOf(e: unknown): number | undefined {
  const n = (e as { errno?: number } | null)?.errno;
  return typeof n === 'number' ? Math.abs(n) : undefined;
}

/**
 * kprobe.multi links (fprobe): a BPF_TRACE_KPROBE_MULTI link on one function, as libbpf probes it
 * (EOPNOTSUPP without CONFIG_FPROBE; the program type itself exists either way).
 */
export const kprobeMulti: () => Feature = memo(() => {
  const why = 'needs kprobe.multi links (CONFIG_FPROBE)';
  let prog;
  try {
    prog = progLoad({ progType: BPF_PROG_TYPE.KPROBE, insns: RET0, license: 'GPL', expectedAttachType: BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI });
  } catch {
    return { present: false, why };
  }
  try {
    linkCreate(prog.fd, 0, BPF_ATTACH_TYPE.TRACE_KPROBE_MULTI, { kprobeMulti: { flags: 0, syms: ['do_nanosleep'] } }).close();
    return { present: true, why };
  } catch (e) {
    // Anything but "not supported" means the kernel has the link type (a symbol problem, say).
    return { present: ![95, 524].includes(errnoOf(e) ?? 0), why };
  } finally {
    prog.close();
  }
});

/**
 * BPF trampolines (fentry/fexit/fmod_ret, freplace): a fentry program on do_nanosleep loads. Kernels
 * that cannot build trampolines refuse it (EPERM on this project's 6.18 host, ENOTSUPP elsewhere).
 */
export const trampolines: () => Feature = memo(() => {
  const why = 'needs BPF trampolines (fentry/fexit/freplace), which this kernel refuses';
  if (!vmlinuxBtf().present) return { present: false, why };
  const id = kernelBtf().findOne('do_nanosleep', BTF_KIND.FUNC);
  if (id === undefined) return { present: false, why: `${why} (no do_nanosleep in its BTF to probe with)` };
  try {
    progLoad({ progType: BPF_PROG_TYPE.TRACING, insns: RET0, license: 'GPL', expectedAttachType: BPF_ATTACH_TYPE.TRACE_FENTRY, attachBtfId: id }).close();
    return { present: true, why };
  } catch {
    return { present: false, why };
  }
});

/** Data symbols in /proc/kallsyms (CONFIG_KALLSYMS_ALL), which typed data ksyms need: `name` is listed. */
export function kallsymsData(name = 'runqueues'): Feature {
  let present = false;
  try {
    present = new RegExp(`^[0-9a-f]+ [a-zA-Z] ${name}$`, 'm').test(readFileSync('/proc/kallsyms', 'utf8'));
  } catch {
    // no /proc/kallsyms
  }
  return { present, why: `needs data symbols in /proc/kallsyms ('${name}', CONFIG_KALLSYMS_ALL)` };
}

/**
 * Link info for perf event links (Linux 6.6): the tracepoint name, the perf event's kind and the BPF
 * cookie that `bpf_link_info.perf_event` reports. Probed in the kernel's own BTF: the member is in
 * its struct bpf_link_info or it is not.
 */
export const perfLinkInfo: () => Feature = memo(() => {
  const why = 'needs perf event link info (bpf_link_info.perf_event, Linux 6.6)';
  if (!vmlinuxBtf().present) return { present: false, why };
  const btf = kernelBtf();
  const id = btf.findOne('bpf_link_info', BTF_KIND.STRUCT);
  if (id === undefined) return { present: false, why };
  const has = (typeId: number, depth: number): boolean => {
    const t = btf.type(typeId);
    if (t.kind !== BTF_KIND.STRUCT && t.kind !== BTF_KIND.UNION) return false;
    return t.members.some((m) => m.name === 'perf_event' || (m.name === '' && depth < 2 && has(m.type, depth + 1)));
  };
  return { present: has(id, 0), why };
});
