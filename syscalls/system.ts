// Facts about the running system that the loader needs: CPU counts (per-CPU map value sizing,
// perf buffers), page size (mmap), kernel version (kern_version, feature heuristics), memlock
// limits, bpffs detection and capabilities (error advice).

import { readFileSync } from 'node:fs';
import { errno, getpagesize, getrlimit, setrlimit, statfs, uname } from './libc.js';
import { setAdviceProbes, syscallError } from './errors.js';

/**
 * Parses a kernel CPU list such as "0-3,5,7-8\n" into sorted CPU numbers (the format of
 * /sys/devices/system/cpu/{possible,online}); throws on malformed input like libbpf's
 * parse_cpu_mask_str.
 */
export function parseCpuList(s: string): number[] {
  const cpus: number[] = [];
  for (const part of s.split(/[,\n]/)) {
    const t = part.trim();
    if (t === '') continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(t);
    if (!m) throw new Error(`invalid CPU range '${t}' in '${s.trim()}'`);
    const start = Number(m[1]);
    const end = m[2] === undefined ? start : Number(m[2]);
    if (start > end) throw new Error(`invalid CPU range [${start},${end}] in '${s.trim()}'`);
    for (let c = start; c <= end; c++) cpus.push(c);
  }
  if (cpus.length === 0) throw new Error('empty CPU range');
  return [...new Set(cpus)].sort((a, b) => a - b);
}

let possibleCache: number | undefined;

/**
 * Number of possible CPUs (libbpf_num_possible_cpus). Per-CPU maps hold one value slot per
 * possible CPU, so lookups need valueSize(rounded to 8) × possibleCpus() bytes. Cached: the
 * possible mask cannot change while the system runs.
 */
export function possibleCpus(): number {
  possibleCache ??= parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'latin1')).length;
  return possibleCache;
}

/** The CPUs online now (not cached: CPUs can be hot-plugged). */
export function onlineCpus(): number[] {
  return parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'latin1'));
}

let pageSizeCache: number | undefined;
export function pageSize(): number {
  pageSizeCache ??= getpagesize();
  return pageSizeCache;
}

// struct utsname: six char[65] fields (sysname, nodename, release, version, machine, domainname).
const UTS_LEN = 65;
function unameFields(): { release: string; version: string; machine: string } {
  const buf = Buffer.alloc(UTS_LEN * 6);
  if (uname(buf) < 0) throw syscallError('uname', 'uname', errno());
  const field = (i: number): string => {
    const f = buf.subarray(i * UTS_LEN, (i + 1) * UTS_LEN);
    const nul = f.indexOf(0);
    return f.toString('latin1', 0, nul < 0 ? UTS_LEN : nul);
  };
  return { release: field(2), version: field(3), machine: field(4) };
}

/** uname -r, e.g. '6.18.44-fc-v782'. */
export function kernelRelease(): string {
  return unameFields().release;
}

/** KERNEL_VERSION(a,b,c) as in bpf_helpers.h: the patch level saturates at 255. */
export function kernelVersion(major: number, minor: number, patch: number): number {
  return ((major << 16) + (minor << 8) + (patch > 255 ? 255 : patch)) >>> 0;
}

/**
 * LINUX_VERSION_CODE of the running kernel, computed like libbpf's get_kernel_version():
 * Ubuntu's /proc/version_signature first, then Debian's "Debian x.y.z" in uname -v, then
 * "x.y.z" from uname -r; 0 when none parses (as libbpf).
 */
let versionCode: number | undefined;

/** LINUX_VERSION_CODE of the running kernel, computed once per process (the kernel doesn't change under us). */
export function kernelVersionCode(): number {
  versionCode ??= computeKernelVersionCode();
  return versionCode;
}

function computeKernelVersionCode(): number {
  try {
    const sig = readFileSync('/proc/version_signature', 'latin1');
    const m = /^\S+\s+\S+\s+(\d+)\.(\d+)\.(\d+)/.exec(sig);
    if (m) return kernelVersion(Number(m[1]), Number(m[2]), Number(m[3]));
  } catch {
    // not Ubuntu
  }
  const u = unameFields();
  const deb = /Debian (\d+)\.(\d+)\.(\d+)/.exec(u.version);
  if (deb) return kernelVersion(Number(deb[1]), Number(deb[2]), Number(deb[3]));
  const rel = /^(\d+)\.(\d+)\.(\d+)/.exec(u.release);
  if (!rel) return 0;
  return kernelVersion(Number(rel[1]), Number(rel[2]), Number(rel[3]));
}

const RLIMIT_MEMLOCK = 8;
/** RLIM_INFINITY as the u64 the kernel reports. */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

/** The current RLIMIT_MEMLOCK (soft `cur`, hard `max`); RLIM_INFINITY means unlimited. */
export function memlockRlimit(): { cur: bigint; max: bigint } {
  const buf = Buffer.alloc(16);
  if (getrlimit(RLIMIT_MEMLOCK, buf) < 0) throw syscallError('getrlimit', 'RLIMIT_MEMLOCK', errno());
  return { cur: buf.readBigUInt64LE(0), max: buf.readBigUInt64LE(8) };
}

/**
 * Sets RLIMIT_MEMLOCK (soft and hard) to `limit` bytes, unlimited by default. Kernels before 5.11
 * charge BPF maps and programs to this limit; later ones use memory cgroups instead. libbpf does
 * this bump itself only when the kernel lacks memcg accounting — this is just the primitive (use
 * `needsMemlockRlimit()` to decide). Raising the hard limit needs CAP_SYS_RESOURCE.
 */
export function raiseMemlockRlimit(limit: bigint = RLIM_INFINITY): void {
  const buf = Buffer.alloc(16);
  buf.writeBigUInt64LE(limit, 0);
  buf.writeBigUInt64LE(limit, 8);
  if (setrlimit(RLIMIT_MEMLOCK, buf) < 0) {
    const e = errno();
    throw syscallError('setrlimit', 'RLIMIT_MEMLOCK', e, {
      advice: e === 1 ? `raising the hard limit (now ${memlockRlimit().max}) needs CAP_SYS_RESOURCE` : undefined,
    });
  }
}

/**
 * Whether BPF memory is charged to RLIMIT_MEMLOCK here: a version heuristic (memcg accounting
 * arrived in 5.11). libbpf probes for the bpf_ktime_get_coarse_ns helper instead, which landed in
 * the same release; distribution backports are the only case where the two disagree.
 */
export function needsMemlockRlimit(): boolean {
  const v = kernelVersionCode();
  return v !== 0 && v < kernelVersion(5, 11, 0);
}

const BPF_FS_MAGIC = 0xcafe4a11;

/** Whether `path` is on a bpffs mount (statfs f_type == BPF_FS_MAGIC). False if it does not exist. */
export function isBpffs(path: string): boolean {
  // struct statfs is 120 bytes on x86_64/aarch64; f_type is the first (long) field.
  const buf = Buffer.alloc(256);
  if (statfs(path, buf) < 0) return false;
  return buf.readUInt32LE(0) === BPF_FS_MAGIC && buf.readUInt32LE(4) === 0;
}

/** Capability numbers (linux/capability.h) that matter for BPF. */
export const CAP = {
  NET_ADMIN: 12,
  SYS_ADMIN: 21,
  SYS_RESOURCE: 24,
  PERFMON: 38,
  BPF: 39,
} as const;

function effectiveCaps(): bigint {
  try {
    const status = readFileSync('/proc/self/status', 'latin1');
    const m = /^CapEff:\s*([0-9a-fA-F]+)/m.exec(status);
    return m ? BigInt(`0x${m[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

/** Whether the process has `cap` (a number or a CAP name such as 'BPF') in its effective set. */
export function hasCapability(cap: number | keyof typeof CAP): boolean {
  const bit = typeof cap === 'number' ? cap : CAP[cap];
  return ((effectiveCaps() >> BigInt(bit)) & 1n) === 1n;
}

// The kernel asks for more than CAP_BPF for these program and map types (kernel/bpf/syscall.c:
// is_net_admin_prog_type, is_perfmon_prog_type, and map_create's switch); CAP_SYS_ADMIN covers both.
const NET_ADMIN_TYPES = new Set([
  ...['SCHED_CLS', 'SCHED_ACT', 'XDP', 'LWT_IN', 'LWT_OUT', 'LWT_XMIT', 'LWT_SEG6LOCAL', 'SK_SKB', 'SK_MSG', 'FLOW_DISSECTOR',
    'CGROUP_DEVICE', 'CGROUP_SOCK', 'CGROUP_SOCK_ADDR', 'CGROUP_SOCKOPT', 'CGROUP_SYSCTL', 'SOCK_OPS', 'EXT', 'NETFILTER'].map((t) => `BPF_PROG_TYPE_${t}`),
  ...['SOCKMAP', 'SOCKHASH', 'DEVMAP', 'DEVMAP_HASH', 'XSKMAP'].map((t) => `BPF_MAP_TYPE_${t}`),
]);
const PERFMON_TYPES = new Set([
  'KPROBE', 'TRACEPOINT', 'PERF_EVENT', 'RAW_TRACEPOINT', 'RAW_TRACEPOINT_WRITABLE', 'TRACING', 'LSM', 'STRUCT_OPS', 'EXT',
].map((t) => `BPF_PROG_TYPE_${t}`));

function capsDetail(): string {
  return `this process (euid ${process.geteuid?.() ?? -1}) has effective capabilities 0x${effectiveCaps().toString(16)} (/proc/self/status CapEff)`;
}

// Advice for EPERM/ENOMEM, evaluated only when a call failed.
setAdviceProbes({
  missingTypeCaps(typeName) {
    if (hasCapability('SYS_ADMIN')) return undefined;
    const lacking = [
      ...(NET_ADMIN_TYPES.has(typeName) && !hasCapability('NET_ADMIN') ? ['CAP_NET_ADMIN'] : []),
      ...(PERFMON_TYPES.has(typeName) && !hasCapability('PERFMON') ? ['CAP_PERFMON'] : []),
    ];
    if (!lacking.length) return undefined;
    return `${typeName}${typeName.startsWith('BPF_MAP_TYPE_') ? ' maps' : ' programs'} need ${lacking.join(' and ')} as well as CAP_BPF (or CAP_SYS_ADMIN), and ${capsDetail()}: ` +
      `grant ${lacking.join(' and ')} (e.g. setcap cap_bpf,${lacking.map((c) => c.slice(4).toLowerCase()).join(',')}+ep, or the container's capability list)`;
  },
  perfEventAdvice() {
    if (hasCapability('PERFMON') || hasCapability('SYS_ADMIN')) {
      return 'the process has CAP_PERFMON, so something else refused: a seccomp or LSM policy, or an event this kernel does not allow';
    }
    let paranoid = Number.NaN;
    try {
      paranoid = Number(readFileSync('/proc/sys/kernel/perf_event_paranoid', 'latin1').trim());
    } catch {
      // no perf_event_paranoid: the kernel has no perf events, which the errno does not say
    }
    return 'perf events of other processes or of every process (perf buffers, tracepoints, kprobes, uprobes, sampling) need CAP_PERFMON ' +
      `(or CAP_SYS_ADMIN)${paranoid > 0 ? ` when /proc/sys/kernel/perf_event_paranoid is above 0 (it is ${paranoid})` : ''}, and ${capsDetail()}: ` +
      'grant CAP_PERFMON, or lower perf_event_paranoid';
  },
  privileged() {
    const euid = process.geteuid?.() ?? -1;
    if (hasCapability('BPF') || hasCapability('SYS_ADMIN')) return { privileged: true, detail: '' };
    return {
      privileged: false,
      detail: `this process (euid ${euid}) has neither CAP_BPF nor CAP_SYS_ADMIN in its effective set (/proc/self/status CapEff)`,
    };
  },
  memlockAdvice() {
    if (!needsMemlockRlimit()) return undefined;
    const { cur } = memlockRlimit();
    if (cur === RLIM_INFINITY) return undefined;
    return `kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK, which is only ${cur} bytes here: call raiseMemlockRlimit()`;
  },
});
