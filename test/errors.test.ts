// Errors a user can act on: each failure a user meets first (privileges, memlock, missing filesystems,
// kernel BTF, unsupported types, corrupt objects, the verifier) gives a BpfError whose message says what
// is wrong and what to do. Conditions that need another process state (dropped capabilities, a mount
// namespace without bpffs or tracefs, a faked old kernel, a memlock limit) run in child processes.
//
// Covered elsewhere, not repeated here: a process running as nobody (loader-lifecycle), pin paths
// outside bpffs and incompatible pinned maps (loader-lifecycle), an unknown map type (loader-lifecycle),
// the verifier log of a refused program (loader-rejected, loader-lifecycle), bad input at open
// (open-bad-input, and the fuzz campaign).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfError, BpfObject, ParseError, VerifierError } from '../src/index.js';
import { BUILD_DIR, compileBpf, REPO_ROOT } from './support/compile.js';
import { compileInline } from './support/inline-bpf.js';
import { command, testIf } from './support/skip.js';
import { probeHelper } from '../src/probes/index.js';

const GLOBALS = compileBpf('globals');
const LIFECYCLE = compileBpf('lifecycle');
const REJECTED = compileBpf('rejected');

interface ChildError { ok?: true; name?: string; code?: string; message?: string; advice?: string; program?: string; map?: string; extra?: unknown }

/**
 * Runs `script` (an ES module; `BpfObject` and `report(e)` are in scope) under `prefix` (setpriv,
 * unshare, prlimit, setarch ...) and returns the last JSON line it printed.
 */
function runChild(script: string, prefix: string[] = [], nodeFlags: string[] = []): ChildError & { stderr: string } {
  const file = join(BUILD_DIR, `errors-child-${process.pid}-${Math.random().toString(36).slice(2)}.mts`);
  mkdirSync(BUILD_DIR, { recursive: true });
  writeFileSync(file, `import { BpfObject } from ${JSON.stringify(join(REPO_ROOT, 'src/index.ts'))};
const report = (e: any, extra?: unknown) => console.log(JSON.stringify(e ? { name: e.name, code: e.code, message: e.message, advice: e.advice, program: e.program, map: e.map, extra } : { ok: true, extra }));
${script}
`);
  try {
    const argv = [...prefix, process.execPath, ...nodeFlags, '--import', 'tsx', file];
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
    if (!line) throw new Error(`child printed no result (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
    return { ...(JSON.parse(line) as ChildError), stderr: r.stderr };
  } finally {
    spawnSync('rm', ['-f', file]);
  }
}

const loadScript = (path: string, opts: object = {}): string => `
  const obj = BpfObject.open(${JSON.stringify(path)}, ${JSON.stringify(opts)});
  try { await obj.load(); report(undefined); } catch (e) { report(e); } finally { obj.close(); }
`;

// ---------------------------------------------------------------------------------------------
// Privileges

test('root without capabilities (a locked-down container): EPERM that names CAP_BPF and what the process has', () => {
  const r = runChild(loadScript(GLOBALS), ['setpriv', '--bounding-set=-all', '--inh-caps=-all']);
  assert.is(r.ok, undefined, 'the load must fail');
  assert.is(r.name, 'SyscallError');
  assert.is(r.code, 'EPERM');
  assert.match(r.advice ?? '', /CAP_BPF/);
  assert.match(r.advice ?? '', /euid 0/, 'says that being root is not enough here');
  assert.match(r.message ?? '', /BPF_MAP_CREATE/, 'names the step that failed');
});

test('CAP_BPF alone: maps and socket filters load; a tc program is refused with EPERM naming the program', () => {
  const caps = ['setpriv', '--bounding-set=-all,+bpf', '--inh-caps=-all'];
  const pin = join('/sys/fs/bpf', `tsbpf-errors-${process.pid}`);
  const ok = runChild(`${loadScript(LIFECYCLE, { pinRootPath: pin })}
    (await import('node:fs')).rmSync(${JSON.stringify(pin)}, { recursive: true, force: true });`, caps);
  assert.is(ok.ok, true, `CAP_BPF suffices for socket filters: ${ok.message}`);
  const r = runChild(loadScript(GLOBALS), caps);
  assert.is(r.code, 'EPERM');
  assert.is(r.program, 'compute');
  assert.match(r.advice ?? '', /BPF_PROG_TYPE_SCHED_CLS programs need CAP_NET_ADMIN as well as CAP_BPF/);
  assert.match(r.advice ?? '', /effective capabilities 0x8000000000 /, 'says what the process has (CAP_BPF only)');
});

test('CAP_BPF alone: a tracing program is refused naming CAP_PERFMON; with CAP_PERFMON it loads', () => {
  const trace = compileBpf('attach-trace');
  const r = runChild(loadScript(trace), ['setpriv', '--bounding-set=-all,+bpf', '--inh-caps=-all']);
  assert.is(r.code, 'EPERM');
  assert.match(r.advice ?? '', /BPF_PROG_TYPE_[A-Z_]+ programs need CAP_PERFMON as well as CAP_BPF/);
  const ok = runChild(loadScript(trace), ['setpriv', '--bounding-set=-all,+bpf,+perfmon', '--inh-caps=-all']);
  assert.is(ok.ok, true, `CAP_BPF and CAP_PERFMON suffice for tracing programs: ${ok.message}`);
});

test('CAP_BPF alone: a perf buffer needs CAP_PERFMON for its per-CPU events, and the error says so', () => {
  const r = runChild(`
    const { PerfBuffer } = await import(${JSON.stringify(join(REPO_ROOT, 'src/index.ts'))});
    const obj = BpfObject.open(${JSON.stringify(compileBpf('events-perf'))});
    for (const p of obj.programs.values()) p.autoload = false;
    try { await obj.load(); new PerfBuffer(obj.map('events'), () => {}).close(); report(undefined); } catch (e) { report(e); } finally { obj.close(); }
  `, ['setpriv', '--bounding-set=-all,+bpf', '--inh-caps=-all']);
  assert.is(r.ok, undefined, 'opening the per-CPU events must fail without CAP_PERFMON (perf_event_paranoid > 0)');
  assert.match(r.code ?? '', /EACCES|EPERM/);
  assert.match(r.message ?? '', /perf_event_open/);
  assert.match(r.advice ?? '', /CAP_PERFMON/);
  assert.match(r.advice ?? '', /perf_event_paranoid/);
});

test('CAP_BPF alone: a devmap is refused naming CAP_NET_ADMIN', () => {
  const r = runChild(loadScript(compileBpf('maps')), ['setpriv', '--bounding-set=-all,+bpf', '--inh-caps=-all']);
  assert.is(r.code, 'EPERM');
  assert.match(r.map ?? '', /^devmap/);
  assert.match(r.advice ?? '', /BPF_MAP_TYPE_DEVMAP(_HASH)? maps need CAP_NET_ADMIN as well as CAP_BPF/);
});

// ---------------------------------------------------------------------------------------------
// RLIMIT_MEMLOCK

// Kernels since 5.11 charge BPF memory to the memory cgroup, not RLIMIT_MEMLOCK; libbpf tells them by
// the helper that came in the same release (bpf_ktime_get_coarse_ns), and so does this probe.
const memcgAccounting = probeHelper('socket_filter', 'bpf_ktime_get_coarse_ns') === true;
testIf(memcgAccounting, 'needs a kernel that charges BPF memory to the memory cgroup (5.11+)')('RLIMIT_MEMLOCK: where BPF memory is charged to the memory cgroup, a zero limit does not matter and is left alone, as in libbpf', () => {
  const r = runChild(`
    const { memlockRlimit } = await import(${JSON.stringify(join(REPO_ROOT, 'syscalls/index.ts'))});
    const obj = BpfObject.open(${JSON.stringify(GLOBALS)});
    try { await obj.load(); report(undefined, String(memlockRlimit().cur)); } catch (e) { report(e); } finally { obj.close(); }
  `, ['prlimit', '--memlock=0:0']);
  assert.is(r.ok, true, r.message);
  assert.is(r.extra, '0');
});

testIf(command('setarch').present, command('setarch').why)('RLIMIT_MEMLOCK on a kernel that charges it (faked with setarch --uname-2.6) and no CAP_SYS_RESOURCE: says how to get out', () => {
  const r = runChild(loadScript(GLOBALS), ['prlimit', '--memlock=65536:65536', 'setarch', 'x86_64', '--uname-2.6', 'setpriv', '--bounding-set=-sys_resource', '--inh-caps=-all']);
  if (r.ok) {
    // libbpf only warns when it cannot raise the limit; a loader that does the same must say so.
    assert.match(r.stderr, /RLIMIT_MEMLOCK/);
    return;
  }
  assert.match(`${r.message} ${r.advice}`, /RLIMIT_MEMLOCK/);
  assert.match(`${r.message} ${r.advice}`, /CAP_SYS_RESOURCE|raiseMemlockRlimit|ulimit -l/);
});

// ---------------------------------------------------------------------------------------------
// Filesystems

testIf(command('unshare').present, command('unshare').why)('bpffs not mounted: pinning by name explains how to mount it', () => {
  // A private mount namespace in which /sys/fs/bpf is just the empty sysfs directory.
  const r = runChild(loadScript(LIFECYCLE), ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount /sys/fs/bpf 2>/dev/null; exec "$@"', 'sh']);
  assert.is(r.ok, undefined);
  assert.is(r.map, 'shared_counts');
  assert.match(r.message ?? '', /not on a BPF filesystem/);
  assert.match(r.advice ?? '', /mount -t bpf bpf \/sys\/fs\/bpf/);
});

testIf(command('unshare').present, command('unshare').why)('tracefs not mounted and not mountable: NotSupportedError with the mount command; as root tsbpf mounts it itself', () => {
  const script = (mount: boolean): string => `
    const { tracefsRoot } = await import(${JSON.stringify(join(REPO_ROOT, 'syscalls/tracefs.ts'))});
    try { report(undefined, tracefsRoot({ mount: ${mount} })); } catch (e) { report(e); }
  `;
  const ns = ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; exec "$@"', 'sh'];
  const r = runChild(script(false), ns);
  assert.is(r.name, 'NotSupportedError');
  assert.match(r.message ?? '', /tracefs is not mounted/);
  assert.match(r.advice ?? '', /mount -t tracefs nodev \/sys\/kernel\/tracing/);
  const mounted = runChild(script(true), ns);
  assert.is(mounted.ok, true, mounted.message);
  assert.is(mounted.extra, '/sys/kernel/tracing');
});

// ---------------------------------------------------------------------------------------------
// Kernel BTF for typed ksyms

const TYPED_KSYM = `#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern const int tsbpf_no_such_var __ksym;
SEC("syscall")
int use_ksym(void *ctx)
{
	return *(volatile const int *)&tsbpf_no_such_var;
}
char LICENSE[] SEC("license") = "GPL";
`;

test('a typed ksym the kernel BTF lacks: names the extern, where it was looked for, and __weak', async () => {
  const obj = BpfObject.open(compileInline('typed-ksym', TYPED_KSYM));
  try {
    await obj.load();
    assert.unreachable('loaded');
  } catch (e) {
    assert.instance(e, BpfError);
    const err = e as BpfError;
    assert.match(err.message, /extern 'tsbpf_no_such_var'/);
    assert.match(err.advice ?? '', /kernel's BTF/);
    assert.match(err.advice ?? '', /__weak/);
  } finally {
    obj.close();
  }
});

testIf(command('unshare').present, command('unshare').why)('no kernel BTF at all (sysfs BTF hidden): typed ksyms fail saying CONFIG_DEBUG_INFO_BTF is needed', () => {
  const obj = compileInline('typed-ksym', TYPED_KSYM);
  const r = runChild(loadScript(obj), ['unshare', '-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs none /sys/kernel/btf && exec "$@"', 'sh']);
  assert.is(r.ok, undefined);
  assert.match(r.message ?? '', /\/sys\/kernel\/btf\/vmlinux is missing/);
  assert.match(r.advice ?? '', /CONFIG_DEBUG_INFO_BTF/);
});

// ---------------------------------------------------------------------------------------------
// Unsupported types

test('a program type the kernel does not know: EINVAL naming the program and saying the type may be unsupported', async () => {
  const obj = BpfObject.open(GLOBALS);
  obj.programs.get('compute')!.setType('BPF_PROG_TYPE_UNSPEC');
  try {
    await obj.load();
    assert.unreachable();
  } catch (e) {
    const err = e as BpfError;
    assert.instance(err, BpfError);
    assert.is(err.code, 'EINVAL');
    assert.is(err.program, 'compute');
    assert.match(err.advice ?? '', /program type .* may be unsupported/);
  } finally {
    obj.close();
  }
});

const HELPERS = `
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
/* A helper id no kernel has (yet): what a program built for a newer kernel calls. */
static long (* const bpf_from_the_future)(void) = (void *) 999;
SEC("?socket")
int wrong_type(struct __sk_buff *skb)
{
	return bpf_redirect(1, 0);
}
SEC("?socket")
int too_new(struct __sk_buff *skb)
{
	return bpf_from_the_future();
}
char LICENSE[] SEC("license") = "GPL";
`;

async function helperError(program: string): Promise<VerifierError> {
  const obj = BpfObject.open(compileInline('helpers', HELPERS));
  obj.program(program).autoload = true;
  try {
    await obj.load();
  } catch (e) {
    assert.instance(e, VerifierError);
    return e as VerifierError;
  } finally {
    obj.close();
  }
  throw new Error(`${program} loaded`);
}

test('a helper this program type may not call: the advice names the types that may, found by probing', async () => {
  const e = await helperError('wrong_type');
  assert.is(e.program, 'wrong_type');
  assert.match(e.message, /cannot use helper bpf_redirect#23/);
  assert.match(e.advice ?? '', /BPF_PROG_TYPE_SOCKET_FILTER programs may not call bpf_redirect \(#23\) on this kernel \(a probe confirms it\)/);
  assert.match(e.advice ?? '', /program types that may: .*BPF_PROG_TYPE_SCHED_CLS.*BPF_PROG_TYPE_XDP/);
  assert.not.match(e.advice ?? '', /SOCKET_FILTER,|LIRC|__MAX/, 'only types this kernel has, and not the refused one');
});

test('a helper the kernel lacks altogether: no program type may call it, so the kernel is older than the program', async () => {
  const e = await helperError('too_new');
  assert.match(e.message, /invalid func unknown#999/);
  assert.match(e.advice ?? '', /no program type may call helper #999 on this kernel/);
  assert.match(e.advice ?? '', /older than the helper/);
});

test('under a sampling profiler (node --cpu-prof): loadSync() is interrupted and says why; load() verifies off the signalled thread', () => {
  const profDir = join(BUILD_DIR, `cpu-prof-${process.pid}`);
  // Tens of ms of verification per program: with SIGPROF every 50 µs, each of loadSync()'s attempts is
  // interrupted unless the profiler's sampling thread gets no CPU for that long, six times in a row.
  const obj = compileBpf('verify-heavy');
  const script = (call: string): string => `
    const obj = BpfObject.open(${JSON.stringify(obj)});
    try { ${call}; report(undefined); } catch (e) { report(e); } finally { obj.close(); }
  `;
  try {
    const flags = ['--cpu-prof', '--cpu-prof-interval', '50', '--cpu-prof-dir', profDir];
    const sync = runChild(script('obj.loadSync()'), [], flags);
    assert.not.ok(sync.ok, 'loadSync() under the profiler was not interrupted');
    assert.is(sync.code, 'EAGAIN', `loadSync under the profiler: ${sync.message}`);
    assert.match(sync.message ?? '', /interrupted by signals on 6 attempts in a row/);
    assert.match(sync.advice ?? '', /--cpu-prof/);
    const async = runChild(script('await obj.load()'), [], flags);
    assert.is(async.ok, true, `load() under the profiler: ${async.message}`);
  } finally {
    rmSync(profDir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Corrupt objects: ParseErrors say where

function corrupt(path: string, mutate: (b: Uint8Array, dv: DataView) => void): Uint8Array {
  const b = new Uint8Array(readFileSync(path));
  mutate(b, new DataView(b.buffer));
  return b;
}

function openError(bytes: Uint8Array): ParseError | BpfError {
  try {
    BpfObject.open(bytes).close();
  } catch (e) {
    assert.instance(e, BpfError);
    return e as BpfError;
  }
  throw new Error('opened');
}

/** Section header fields of the section named `name` (ELF64: e_shoff at 0x28, 64-byte headers). */
function shdr(b: Uint8Array, name: string): number {
  const dv = new DataView(b.buffer, b.byteOffset);
  const shoff = Number(dv.getBigUint64(0x28, true));
  const shnum = dv.getUint16(0x3c, true);
  const strndx = dv.getUint16(0x3e, true);
  const strOff = Number(dv.getBigUint64(shoff + strndx * 64 + 24, true));
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * 64;
    let p = strOff + dv.getUint32(at, true);
    let s = '';
    while (b[p]) s += String.fromCharCode(b[p++]!);
    if (s === name) return at;
  }
  throw new Error(`no section ${name}`);
}

test('a truncated object: ParseError naming the section headers and how far the file goes', () => {
  const b = new Uint8Array(readFileSync(GLOBALS));
  const e = openError(b.slice(0, b.length - 200));
  assert.instance(e, ParseError);
  assert.match(e.message, /past the end of the file|do not fit in the file/);
  assert.ok((e as ParseError).section !== undefined && (e as ParseError).offset !== undefined, 'section and offset are set');
});

test('a .bss claiming 1 TiB: refused at open, naming the section, without allocating it', () => {
  const b = corrupt(GLOBALS, (x, dv) => dv.setBigUint64(shdr(x, '.bss') + 32, 1n << 40n, true));
  const before = process.memoryUsage().rss;
  const e = openError(b);
  assert.instance(e, ParseError);
  assert.is((e as ParseError).section, '.bss');
  assert.match(e.message, /more than a map value can hold/);
  assert.ok(process.memoryUsage().rss - before < 64 * 2 ** 20);
});

test('a large but possible .bss (256 MiB) opens without touching its memory', () => {
  const b = corrupt(GLOBALS, (x, dv) => dv.setBigUint64(shdr(x, '.bss') + 32, 256n << 20n, true));
  const before = process.memoryUsage().rss;
  const obj = BpfObject.open(b);
  try {
    assert.is(obj.maps.get('.bss')!.valueSize, 256 << 20);
    assert.ok(process.memoryUsage().rss - before < 64 * 2 ** 20, 'the zero image is not materialized');
  } finally {
    obj.close();
  }
});

test('a .BTF whose string section runs past its end: ParseError in .BTF naming the header field', () => {
  const b = corrupt(GLOBALS, (x, dv) => {
    const at = Number(dv.getBigUint64(shdr(x, '.BTF') + 24, true));
    dv.setUint32(at + 20, dv.getUint32(at + 20, true) + 4096, true); // str_len
  });
  const e = openError(b);
  assert.instance(e, ParseError);
  assert.is((e as ParseError).section, '.BTF');
  assert.is((e as ParseError).offset, 16, 'the str_off/str_len header field');
  assert.match(e.message, /string section .* exceeds the data/);
});

test('a relocation pointing outside its section: ParseError naming the relocation section', () => {
  const b = corrupt(GLOBALS, (x, dv) => {
    const rel = shdr(x, '.reltc');
    const off = Number(dv.getBigUint64(rel + 24, true));
    dv.setBigUint64(off, 0xfffff8n, true); // r_offset of the first relocation
  });
  const e = openError(b);
  assert.instance(e, ParseError);
  assert.is((e as ParseError).section, '.reltc');
  assert.match(e.message, /outside section 'tc'/);
});

// ---------------------------------------------------------------------------------------------
// The verifier

test('a refused program: the message itself carries the verifier\'s reason (no need to dig in .log)', async () => {
  const obj = BpfObject.open(REJECTED);
  obj.programs.get('unchecked_lookup')!.autoload = true;
  try {
    await obj.load();
    assert.unreachable();
  } catch (e) {
    assert.instance(e, VerifierError);
    const err = e as VerifierError;
    assert.match(err.message, /invalid mem access 'map_value_or_null'/, 'the reason is in the message');
    assert.match(err.message, /unchecked_lookup/, 'the C function name is in the message');
    assert.match(err.message, /rejected\.bpf\.c:\d+/, 'and the source line');
    assert.match(err.log ?? '', /^0: R1=ctx\(\)/, 'the full log, from its first line, is in .log');
  } finally {
    obj.close();
  }
});

test.run();
