// uprobes on the real kernel: a small C program compiled at test time (PIE, non-PIE, stripped
// with only .dynsym), a libc function, versioned symbols, the pid filter, a USDT-style semaphore
// through ref_ctr_offset, uprobe.multi, and the offsets compared with libbpf's own resolution
// (libbpf attaches, then BPF_TASK_FD_QUERY reports the offset the kernel got).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { BpfError, BpfObject, NotSupportedError, findFuncOffset, resolveBinaryPath, uprobeOffset } from '../src/index.js';
import { openElf, vaddrToFileOffset } from '../src/attach/elf-symbols.js';
import { BUILD_DIR, compileBpf } from './support/compile.js';
import { globals, markIds, settledLeftovers, track, waitFor } from './attach-support.js';
import { perfLinkInfo, testIf } from './support/skip.js';
import { kernelHasLink, setPretendMissing } from '../src/features.js';
import { BPF_ATTACH_TYPE, linkCreate } from '../syscalls/index.js';

const marks = markIds();
mkdirSync(BUILD_DIR, { recursive: true });

// --- the target program -------------------------------------------------------------------------

const TARGET_SRC = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A USDT-style semaphore: the kernel increments it while a probe with ref_ctr_offset is attached. */
volatile unsigned short tsbpf_sema __attribute__((section(".probes"), used));

__attribute__((noinline)) int tsbpf_target(int x) { __asm__ volatile(""); return x * 2 + 1; }
__attribute__((noinline)) int tsbpf_other(int x) { __asm__ volatile(""); return x + 7; }

int main(void) {
  char line[64];
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\\n");
  while (fgets(line, sizeof line, stdin)) {
    if (strncmp(line, "run ", 4) == 0) {
      int n = atoi(line + 4);
      long sum = 0;
      for (int i = 0; i < n; i++) { sum += tsbpf_target(i) + tsbpf_other(i); sum += getppid() > 0; }
      printf("done %ld\\n", sum);
    } else if (strncmp(line, "sema", 4) == 0) {
      printf("sema %u\\n", (unsigned)tsbpf_sema);
    } else {
      break;
    }
  }
  return 0;
}
`;

function build(name: string, flags: string[], strip = false): string {
  const src = join(BUILD_DIR, 'attach-target.c');
  writeFileSync(src, TARGET_SRC);
  const out = join(BUILD_DIR, name);
  const r = spawnSync('gcc', ['-O1', '-g', ...flags, src, '-o', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gcc failed: ${r.stderr}`);
  if (strip) {
    const s = spawnSync('strip', ['--strip-all', out], { encoding: 'utf8' });
    if (s.status !== 0) throw new Error(`strip failed: ${s.stderr}`);
  }
  return out;
}

const PIE = build('attach-target-pie', ['-fPIE', '-pie']);
const NOPIE = build('attach-target-nopie', ['-fno-pie', '-no-pie']);
// Stripped: only .dynsym is left, which holds the functions because of -rdynamic.
const STRIPPED = build('attach-target-stripped', ['-rdynamic'], true);
const OBJ = compileBpf('attach-uprobe', { defines: { TARGET_BIN: JSON.stringify(PIE) } });

/** A running target: `run(n)` calls tsbpf_target/tsbpf_other/getppid n times each. */
class Target {
  readonly proc: ChildProcessWithoutNullStreams;
  private readonly lines: string[] = [];
  private waiting: ((l: string) => void) | undefined;

  constructor(bin: string) {
    this.proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      if (this.waiting) {
        const w = this.waiting;
        this.waiting = undefined;
        w(l);
      } else {
        this.lines.push(l);
      }
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('target did not answer')), 5000);
      this.waiting = (line) => {
        clearTimeout(t);
        resolve(line);
      };
    });
  }

  async ready(): Promise<this> {
    assert.is(await this.next(), 'ready');
    return this;
  }

  async run(n: number): Promise<void> {
    this.proc.stdin.write(`run ${n}\n`);
    assert.match(await this.next(), /^done /);
  }

  async sema(): Promise<number> {
    this.proc.stdin.write('sema\n');
    return Number((await this.next()).split(' ')[1]);
  }

  [Symbol.dispose](): void {
    this.proc.kill('SIGKILL');
  }
}

async function loaded(): Promise<{ obj: BpfObject; g: ReturnType<typeof globals> }> {
  const obj = BpfObject.open(OBJ);
  await obj.load();
  track(obj);
  return { obj, g: globals(obj) };
}

// --- libbpf as the reference for offsets -------------------------------------------------------

const REF_SRC = `
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int quiet(enum libbpf_print_level l, const char *f, va_list a) { return 0; }

/* argv: object, program, binary, function. Prints the uprobe offset the kernel got. */
int main(int argc, char **argv) {
  struct bpf_program *p;
  libbpf_set_print(quiet);
  struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
  if (!obj) { printf("open-error\\n"); return 1; }
  bpf_object__for_each_program(p, obj) bpf_program__set_autoload(p, strcmp(bpf_program__name(p), argv[2]) == 0);
  if (bpf_object__load(obj)) { printf("load-error\\n"); return 1; }
  LIBBPF_OPTS(bpf_uprobe_opts, opts, .func_name = argv[4]);
  struct bpf_link *link = bpf_program__attach_uprobe_opts(bpf_object__find_program_by_name(obj, argv[2]), -1, argv[3], 0, &opts);
  if (!link) { printf("attach-error %d\\n", errno); return 0; }
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  while ((e = readdir(d))) {
    char buf[512]; __u32 len = sizeof(buf), prog_id, type; __u64 off, addr;
    int fd = atoi(e->d_name);
    if (bpf_task_fd_query(getpid(), fd, 0, buf, &len, &prog_id, &type, &off, &addr) == 0 && type == BPF_FD_TYPE_UPROBE)
      printf("%s 0x%llx\\n", buf, (unsigned long long)off);
  }
  bpf_link__destroy(link);
  bpf_object__close(obj);
  return 0;
}
`;

function libbpfOffset(binary: string, func: string): { path: string; offset: number } | string {
  const src = join(BUILD_DIR, 'attach-uprobe-ref.c');
  const bin = join(BUILD_DIR, 'attach-uprobe-ref');
  if (!existsSync(bin) || readFileSync(src, 'utf8') !== REF_SRC) {
    writeFileSync(src, REF_SRC);
    const r = spawnSync('gcc', ['-O1', src, '-lbpf', '-lelf', '-lz', '-o', bin], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`building the libbpf reference failed: ${r.stderr}`);
  }
  const r = spawnSync(bin, [OBJ, 'on_any', binary, func], { encoding: 'utf8' });
  const line = r.stdout.trim();
  const m = /^(\S+) 0x([0-9a-f]+)$/.exec(line);
  if (!m) return line || r.stderr;
  return { path: m[1]!, offset: parseInt(m[2]!, 16) };
}

// --- tests ----------------------------------------------------------------------------------------

test('offsets: PIE, non-PIE, stripped (.dynsym) and libc agree with libbpf', () => {
  for (const [bin, fn] of [[PIE, 'tsbpf_target'], [NOPIE, 'tsbpf_target'], [STRIPPED, 'tsbpf_target'], ['libc.so.6', 'getppid'], ['libc.so.6', 'usleep']] as const) {
    const ours = uprobeOffset(bin, fn);
    const ref = libbpfOffset(bin, fn);
    if (typeof ref === 'string') throw new Error(`libbpf could not attach to ${bin}:${fn}: ${ref}`);
    assert.is(ours.path, ref.path, `path of ${bin}`);
    assert.is(Number(ours.offset), ref.offset, `${bin}:${fn} offset`);
  }
  // Non-PIE: the symbol is a high virtual address, the offset a small file offset.
  const sym = openElf(NOPIE).symbols.find((s) => s.name === 'tsbpf_target')!;
  assert.ok(sym.value >= 0x400000 && findFuncOffset(NOPIE, 'tsbpf_target') < 0x100000);
  assert.is(resolveBinaryPath('libc.so.6'), '/lib/x86_64-linux-gnu/libc.so.6');
  assert.ok(resolveBinaryPath('bash').endsWith('/bash'));
});

test('offsets: versioned symbols, ambiguity, IFUNCs and missing symbols', () => {
  const libc = resolveBinaryPath('libc.so.6');
  const elf = openElf(libc);
  // Reference values: the st_value of each version, converted through the segment by the same formula as readelf -l shows.
  const versions = elf.dynamicSymbols.filter((s) => s.name === 'realpath');
  assert.is(versions.length, 2, 'libc has two realpath versions');
  const offsets = versions.map((s) => vaddrToFileOffset(elf, s.value));
  const v23 = findFuncOffset(libc, 'realpath@@GLIBC_2.3');
  const v225 = findFuncOffset(libc, 'realpath@GLIBC_2.2.5');
  assert.ok(v23 !== v225);
  assert.equal(new Set([v23, v225]), new Set(offsets));
  assert.throws(() => findFuncOffset(libc, 'realpath'), (e: unknown) => e instanceof BpfError && /ambiguous/.test((e as Error).message));
  assert.throws(() => findFuncOffset(libc, 'strlen'), (e: unknown) => e instanceof BpfError && /IFUNC/.test((e as BpfError).advice ?? ''));
  assert.throws(() => findFuncOffset(PIE, 'no_such_function'), /cannot resolve uprobe target 'no_such_function'/);
  assert.throws(() => findFuncOffset(PIE, 'getppid'), (e: unknown) => /only imported/.test((e as BpfError).advice ?? ''));
  assert.throws(() => resolveBinaryPath('libnosuch.so.9'), /cannot find 'libnosuch\.so\.9'/);
  // A weak symbol is accepted (getppid is WEAK in libc).
  assert.ok(findFuncOffset(libc, 'getppid') > 0);
});

test('uprobe + uretprobe: auto-attach from SEC("uprobe/<path>:tsbpf_target"), arguments and return values', async () => {
  const { obj, g } = await loaded();
  using t = await new Target(PIE).ready();
  try {
    g.set('target_tgid', t.pid);
    using entry = await obj.program('on_target').attach();
    using ret = await obj.program('on_target_ret').attach();
    assert.is(entry.kind, 'uprobe');
    assert.is(ret.kind, 'uretprobe');
    // Link info describes the probe from Linux 6.6 on; before, a perf link's info stops at its type.
    if (perfLinkInfo().present) {
      const info = entry.info();
      assert.is(info.perfEvent?.type, 'uprobe');
      assert.is(info.perfEvent?.name, PIE);
      assert.is(info.perfEvent?.offset, findFuncOffset(PIE, 'tsbpf_target'));
      assert.is(ret.info().perfEvent?.type, 'uretprobe');
    }
    await t.run(5);
    assert.is(g.get('entry_hits'), 5n);
    assert.is(g.get('return_hits'), 5n);
    assert.is(g.get('last_arg'), 4n);
    assert.is(g.get('last_ret'), 9n);
    entry.close();
    ret.close();
    await t.run(3);
    assert.is(g.get('entry_hits'), 5n, 'no hits after close');
  } finally {
    obj.close();
  }
});

test('uprobe: non-PIE and stripped binaries, by symbol and by raw offset', async () => {
  const { obj, g } = await loaded();
  try {
    for (const bin of [NOPIE, STRIPPED]) {
      using t = await new Target(bin).ready();
      g.set('target_tgid', t.pid);
      const before = g.get('entry_hits');
      {
        using l = obj.program('on_target').attachUprobe({ binary: bin, symbol: 'tsbpf_target' });
        await t.run(4);
        assert.is(g.get('entry_hits') - before, 4n, `${bin} by symbol`);
      }
      {
        using l = obj.program('on_target').attachUprobe({ binary: bin, offset: findFuncOffset(bin, 'tsbpf_target') });
        await t.run(2);
        assert.is(g.get('entry_hits') - before, 6n, `${bin} by offset`);
      }
    }
  } finally {
    obj.close();
  }
});

test('uprobe on a libc function: SEC("uprobe/libc.so.6:getppid")', async () => {
  const { obj, g } = await loaded();
  using t = await new Target(PIE).ready();
  try {
    g.set('target_tgid', t.pid);
    using l = await obj.program('on_libc').attach();
    assert.match(l.target, /\/libc\.so\.6:getppid/);
    await t.run(7);
    assert.is(g.get('libc_hits'), 7n);
  } finally {
    obj.close();
  }
});

test('uprobe: legacy mode through tracefs uprobe_events (the fallback of kernels without the uprobe PMU)', async () => {
  const { obj, g } = await loaded();
  using t = await new Target(PIE).ready();
  const events = (): string => readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8');
  try {
    g.set('target_tgid', t.pid);
    {
      using l = obj.program('on_target').attachUprobe({ binary: PIE, symbol: 'tsbpf_target', mode: 'legacy' });
      assert.is(l.mechanism, 'perf_ioctl');
      assert.match(events(), new RegExp(`p:uprobes/tsbpf_${process.pid}_\\d+_attach_target_pie_0x[0-9a-f]+ ${PIE}:0x`));
      await t.run(4);
      assert.is(g.get('entry_hits'), 4n);
      using r = obj.program('on_target_ret').attachUprobe({ binary: PIE, symbol: 'tsbpf_target', retprobe: true, mode: 'legacy' });
      await t.run(1);
      assert.is(g.get('return_hits'), 1n);
    }
    assert.not.match(events(), new RegExp(`tsbpf_${process.pid}_`), 'the tracefs events are removed on close');
  } finally {
    obj.close();
  }
});

test('uprobe: the pid filter limits the probe to one process', async () => {
  const { obj, g } = await loaded();
  using a = await new Target(PIE).ready();
  using b = await new Target(PIE).ready();
  try {
    using l = obj.program('on_any').attachUprobe({ binary: PIE, symbol: 'tsbpf_target', pid: a.pid });
    assert.match(l.target, new RegExp(`pid ${a.pid}$`));
    await b.run(5);
    await a.run(3);
    assert.is(g.get('any_hits'), 3n, 'only the filtered process is counted');
  } finally {
    obj.close();
  }
});

test('uprobe: ref_ctr_offset increments the semaphore while attached', async () => {
  const { obj } = await loaded();
  using t = await new Target(PIE).ready();
  try {
    const elf = openElf(PIE);
    const sema = elf.symbols.find((s) => s.name === 'tsbpf_sema')!;
    const refCtrOffset = vaddrToFileOffset(elf, sema.value);
    assert.is(await t.sema(), 0);
    {
      using l = obj.program('on_any').attachUprobe({ binary: PIE, symbol: 'tsbpf_target', refCtrOffset });
      assert.is(await t.sema(), 1, 'the kernel bumped the semaphore');
      if (perfLinkInfo().present) assert.is(l.info().perfEvent?.refCtrOffset, BigInt(refCtrOffset));
    }
    assert.is(await t.sema(), 0, 'and dropped it on close');
  } finally {
    obj.close();
  }
});

test('uprobe.multi probe: it says the kernel has uprobe.multi links exactly when attaching one works', async () => {
  const { obj } = await loaded();
  try {
    // The raw syscall, not attachUprobeMulti, which consults the probe first.
    let created: boolean;
    try {
      const offsets = BigUint64Array.of(BigInt(findFuncOffset(PIE, 'tsbpf_target')));
      linkCreate(obj.program('on_multi').fd, 0, BPF_ATTACH_TYPE.TRACE_UPROBE_MULTI, { uprobeMulti: { path: PIE, offsets } }).close();
      created = true;
    } catch (e) {
      assert.ok([22, 95].includes((e as BpfError).errno ?? 0), String(e));
      created = false;
    }
    assert.is(kernelHasLink('uprobe_multi'), created);
  } finally {
    obj.close();
  }
});

test('uprobe.multi missing (simulated: only the probe answers "no"): a NotSupportedError naming uprobe.multi and Linux 6.6, with the way out', async () => {
  const { obj } = await loaded();
  setPretendMissing('uprobe_multi', true);
  try {
    await obj.program('on_multi').attach().then(() => assert.unreachable('attached'), (e: unknown) => {
      assert.instance(e, NotSupportedError);
      const err = e as NotSupportedError;
      assert.match(err.message, /prog 'on_multi'.*this kernel has no uprobe\.multi links.*Linux 6\.6/);
      assert.is(err.errno, 22, 'EINVAL, what such a kernel (and so libbpf) reports');
      assert.match(err.advice ?? '', /attachUprobe/);
    });
  } finally {
    setPretendMissing('uprobe_multi', false);
    obj.close();
  }
});

testIf(kernelHasLink('uprobe_multi'), 'needs uprobe.multi links (Linux 6.6)')('uprobe.multi: SEC("uprobe.multi/<path>:tsbpf_*") covers both functions with one link', async () => {
  const { obj, g } = await loaded();
  using t = await new Target(PIE).ready();
  try {
    g.set('target_tgid', t.pid);
    using l = await obj.program('on_multi').attach();
    assert.is(l.kind, 'uprobe_multi');
    const info = l.info();
    assert.is(info.uprobeMulti?.count, 2);
    assert.is(info.uprobeMulti?.path, PIE);
    await t.run(5);
    assert.is(g.get('multi_hits'), 10n);
  } finally {
    obj.close();
  }
});

test('uprobe: clear errors for bare sections and bad targets', async () => {
  const { obj } = await loaded();
  try {
    await obj.program('on_any').attach().then(() => assert.unreachable(), (e) => {
      assert.instance(e, NotSupportedError);
      assert.match((e as Error).message, /names no binary and function/);
    });
    assert.throws(() => obj.program('on_any').attachUprobe({ binary: '/nonexistent/bin', symbol: 'x' }), /cannot open '\/nonexistent\/bin'/);
    assert.throws(() => obj.program('on_any').attachUprobe({ binary: PIE, symbol: 'nope' }), /prog 'on_any'.*cannot resolve uprobe target 'nope'/);
    assert.throws(() => obj.program('on_any').attachUprobe({ binary: PIE }), /give a symbol or an offset/);
  } finally {
    obj.close();
  }
});

test('leak check: no link, program or map of this file is left', async () => {
  assert.ok(await waitFor(() => true));
  assert.equal(await settledLeftovers(marks), []);
});

test.run();
