// `tsbpf build`: C source → object → skeleton, its vmlinux.h cache, what it says when a tool is missing,
// and --watch. The CLI runs as a child process, as users run it (the packaged install test runs it
// through `npx tsbpf` too).
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ElfFile } from '../elf/index.js';
import { parseDepfile, sourceStem } from '../src/build/index.js';
import { splitFlags } from '../src/cli/build.js';
import { BpfObject, generateSkeleton } from '../src/index.js';
import { REPO_ROOT } from './support/compile.js';
import { testIf } from './support/skip.js';

const CLI = join(REPO_ROOT, 'src', 'cli.ts');
// By URL: the children run in temporary directories, where a bare 'tsx' would not resolve.
const TSX = import.meta.resolve('tsx');
const findClang = spawnSync('sh', ['-c', 'command -v clang || ls /usr/bin/clang-[0-9]* 2>/dev/null'], { encoding: 'utf8' });
const CLANG = findClang.stdout.trim().split('\n')[0] ?? '';
const HAVE_CLANG = CLANG !== '';
const HAVE_BTF = (() => {
  try {
    return statSync('/sys/kernel/btf/vmlinux').size > 0;
  } catch {
    return false;
  }
})();
const needsToolchain = testIf(HAVE_CLANG && HAVE_BTF, !HAVE_CLANG ? 'needs clang on PATH' : 'needs kernel BTF (/sys/kernel/btf/vmlinux)');

const work = mkdtempSync(join(tmpdir(), 'tsbpf-build-'));
const cache = join(work, 'cache');

function tsbpf(args: string[], env: Record<string, string | undefined> = {}, cwd = work): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', TSX, CLI, ...args], {
    cwd, encoding: 'utf8', env: { ...process.env, TSBPF_CACHE_DIR: cache, ...env },
  });
}

const PROBE = `#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "limits.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

u64 calls = 0;

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	u32 *e;

	__sync_fetch_and_add(&calls, LIMIT);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		*e = bpf_get_current_pid_tgid() >> 32;
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
`;

function writeProbe(dir: string, limit = 1): string {
  writeFileSync(join(dir, 'limits.h'), `#define LIMIT ${limit}\n`);
  const src = join(dir, 'probe.bpf.c');
  writeFileSync(src, PROBE);
  return src;
}

test('parseDepfile: continuation lines and escaped spaces, as clang -MD writes them', () => {
  const text = 'x.o.tmp: /a/probe.bpf.c /a/my\\ dir/vmlinux.h \\\n  /usr/include/bpf/bpf_helpers.h\n';
  assert.equal(parseDepfile(text), ['/a/probe.bpf.c', '/a/my dir/vmlinux.h', '/usr/include/bpf/bpf_helpers.h']);
});

test('splitFlags: words and quotes like a shell; an open quote is an error', () => {
  assert.equal(splitFlags(`-I inc  -DNAME='"x y"' "-DZ=a b" a\\ b`), ['-I', 'inc', '-DNAME="x y"', '-DZ=a b', 'a b']);
  assert.equal(splitFlags(''), []);
  assert.throws(() => splitFlags('-I "inc'), /unterminated " quote/);
});

test('sourceStem: probe.bpf.c and probe.c both name the skeleton probe', () => {
  assert.is(sourceStem('/x/probe.bpf.c'), 'probe');
  assert.is(sourceStem('probe.c'), 'probe');
  assert.is(sourceStem('my-tool.bpf.c'), 'my-tool');
});

needsToolchain('build: writes a stripped object with BTF and its skeleton beside the source; the object loads', async () => {
  const dir = mkdtempSync(join(work, 'beside-'));
  const src = writeProbe(dir);
  const r = tsbpf(['build', src]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /probe\.bpf\.c → .*probe\.bpf\.o, .*probe\.skel\.ts/);
  const objPath = join(dir, 'probe.bpf.o');
  const elf = ElfFile.parse(readFileSync(objPath));
  assert.ok(elf.section('.BTF'), 'BTF kept');
  assert.ok(elf.section('.BTF.ext'), 'BTF.ext kept');
  assert.not.ok(elf.section('.debug_info'), 'DWARF stripped');
  // The skeleton is gen skeleton's, named after the source.
  assert.is(readFileSync(join(dir, 'probe.skel.ts'), 'utf8'), generateSkeleton(objPath, { name: 'probe', sourceName: 'probe.bpf.o' }));
  using obj = BpfObject.open(objPath);
  await obj.load();
  assert.ok(obj.programs.get('on_getppid'));
  assert.ok(obj.maps.get('events'));
  assert.ok(obj.maps.get('.bss'));
  // No temporary files are left behind.
  assert.equal(readdirSync(dir).sort(), ['limits.h', 'probe.bpf.c', 'probe.bpf.o', 'probe.skel.ts']);
});

needsToolchain('build: --out-dir, --cflags (after ours, so they override), --no-strip, --json', () => {
  const dir = mkdtempSync(join(work, 'out-'));
  const src = writeProbe(dir);
  const out = join(dir, 'gen');
  const r = tsbpf(['build', src, '--out-dir', out, '--cflags', '-Wall -g', '--no-strip', '--json']);
  assert.is(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { ok: boolean; object: string; skeleton: string; name: string }[];
  assert.is(report.length, 1);
  assert.ok(report[0]!.ok);
  assert.is(report[0]!.object, join(out, 'probe.bpf.o'));
  assert.is(report[0]!.name, 'probe');
  const elf = ElfFile.parse(readFileSync(join(out, 'probe.bpf.o')));
  assert.ok(elf.section('.debug_info'), '--no-strip keeps DWARF');
  // Flags reach the compile after tsbpf's own: -O0 makes more code than our -O2.
  const r2 = tsbpf(['build', src, '--out-dir', out, '--cflags=-O0']);
  assert.is(r2.status, 0, r2.stderr);
  const o0 = ElfFile.parse(readFileSync(join(out, 'probe.bpf.o'))).section('tp/syscalls/sys_enter_getppid')!.data.length;
  const r3 = tsbpf(['build', src, '--out-dir', out]);
  assert.is(r3.status, 0, r3.stderr);
  const o2 = ElfFile.parse(readFileSync(join(out, 'probe.bpf.o'))).section('tp/syscalls/sys_enter_getppid')!.data.length;
  assert.ok(o0 > o2, `-O0 from --cflags wins over our -O2 (${o0} vs ${o2} bytes of code)`);
  // An output directory that cannot be made is a clear error, not a crash.
  const r4 = tsbpf(['build', src, '--out-dir', join(src, 'sub')]);
  assert.is(r4.status, 1);
  assert.match(r4.stderr, /tsbpf build: cannot build .*probe\.bpf\.c: ENOTDIR/);
  assert.not.match(r4.stderr, /internal error/);
});

needsToolchain('build: vmlinux.h is made once per distinct BTF and reused', () => {
  const dir = mkdtempSync(join(work, 'cache-'));
  const src = writeProbe(dir);
  rmSync(cache, { recursive: true, force: true });
  assert.is(tsbpf(['build', src]).status, 0);
  const entries = (): string[] => readdirSync(cache).filter((e) => e.startsWith('vmlinux-'));
  const dirs = entries();
  assert.is(dirs.length, 1);
  assert.match(dirs[0]!, /^vmlinux-[0-9a-f]{16}$/);
  // This boot's entry is remembered, so that rebuilds need not read the kernel's BTF again.
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  assert.is(readFileSync(join(cache, `boot-${bootId}-${version}`), 'utf8'), dirs[0]);
  const header = join(cache, dirs[0]!, 'vmlinux.h');
  assert.match(readFileSync(header, 'utf8'), /^#ifndef __VMLINUX_H__/);
  const mtime = statSync(header).mtimeMs;
  assert.is(tsbpf(['build', src]).status, 0);
  assert.is(statSync(header).mtimeMs, mtime, 'not rewritten');
  // The same BTF from another path is the same entry: the key is the content.
  const copy = join(dir, 'vmlinux.btf');
  copyFileSync('/sys/kernel/btf/vmlinux', copy);
  assert.is(tsbpf(['build', src, '--btf', copy]).status, 0);
  assert.equal(entries(), dirs);
  assert.is(statSync(header).mtimeMs, mtime, 'not rewritten');
  // A remembered entry whose header is gone is made again.
  rmSync(header);
  assert.is(tsbpf(['build', src]).status, 0);
  assert.match(readFileSync(header, 'utf8'), /^#ifndef __VMLINUX_H__/);
});

needsToolchain('build: without clang it says what to install, not a spawn error', () => {
  const src = writeProbe(mkdtempSync(join(work, 'noclang-')));
  const empty = mkdtempSync(join(work, 'emptybin-'));
  const r = tsbpf(['build', src], { PATH: empty, CLANG: undefined, BPF_CLANG: undefined });
  assert.is(r.status, 1);
  assert.match(r.stderr, /clang was not found on PATH/);
  assert.match(r.stderr, /apt install clang/);
  assert.match(r.stderr, /dnf install clang/);
  assert.not.match(r.stderr, /ENOENT|spawn|at .*\.ts:\d+/);
  const bad = tsbpf(['build', src], { CLANG: join(empty, 'clang-99') });
  assert.is(bad.status, 1);
  assert.match(bad.stderr, /clang '.*clang-99' \(from the environment\) was not found/);
});

needsToolchain("build: without libbpf's headers clang's error passes through, then what to install", () => {
  const src = writeProbe(mkdtempSync(join(work, 'noheaders-')));
  // A clang that searches no system directory: what a machine without libbpf-dev looks like to it.
  const wrapper = join(work, 'clang-nostdinc');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${CLANG} -nostdinc "$@"\n`);
  chmodSync(wrapper, 0o755);
  const r = tsbpf(['build', src], { CLANG: wrapper });
  assert.is(r.status, 1);
  assert.match(r.stderr, /probe\.bpf\.c:2:10: fatal error: 'bpf\/bpf_helpers\.h' file not found/);
  assert.match(r.stderr, /apt install libbpf-dev/);
  assert.match(r.stderr, /dnf install libbpf-devel/);
});

needsToolchain("build: clang's diagnostics reach the user unchanged; the other sources still build; exit 1", () => {
  const dir = mkdtempSync(join(work, 'diag-'));
  const good = writeProbe(dir);
  const bad = join(dir, 'bad.bpf.c');
  writeFileSync(bad, 'int f(void) { return undeclared_thing; }\n');
  const direct = spawnSync(CLANG, ['-target', 'bpf', '-fsyntax-only', bad], { encoding: 'utf8' });
  const firstLine = direct.stderr.split('\n')[0]!;
  assert.match(firstLine, /bad\.bpf\.c:1:22: error: use of undeclared identifier 'undeclared_thing'/);
  const r = tsbpf(['build', bad, good]);
  assert.is(r.status, 1);
  assert.ok(r.stderr.includes(firstLine), r.stderr);
  assert.match(r.stderr, /tsbpf build: clang could not compile .*bad\.bpf\.c/);
  assert.match(r.stdout, /probe\.bpf\.c → /);
  assert.not.ok(readdirSync(dir).includes('bad.bpf.o'));
});

test('build: --type is accepted and reported as not supported yet; no sources is a usage error', () => {
  const r = tsbpf(['build', 'x.bpf.c', '--type', 'event']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /--type event: exporting named BTF types from skeletons is not supported yet/);
  const u = tsbpf(['build']);
  assert.is(u.status, 1);
  assert.match(u.stderr, /Usage: tsbpf build FILE\.bpf\.c/);
  const h = tsbpf(['build', 'help']);
  assert.is(h.status, 0);
  assert.match(h.stdout, /--watch/);
  const o = tsbpf(['build', 'x.bpf.c', '--bogus']);
  assert.is(o.status, 1);
  assert.match(o.stderr, /unknown option '--bogus'/);
});

/** Resolves when `pred` holds for the text so far, or rejects after `ms`. */
function waitFor(get: () => string, pred: (s: string) => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = (): void => {
      if (pred(get())) resolve();
      else if (Date.now() - start > ms) reject(new Error(`timed out waiting for ${what}; output so far:\n${get()}`));
      else setTimeout(tick, 50);
    };
    tick();
  });
}

needsToolchain('build --watch: a header edit rebuilds, a broken source is reported, SIGINT exits 1 after a failed build', async () => {
  const dir = mkdtempSync(join(work, 'watch-'));
  const src = writeProbe(dir, 1);
  const child = spawn(process.execPath, ['--import', TSX, CLI, 'build', '--watch', src], {
    cwd: dir, env: { ...process.env, TSBPF_CACHE_DIR: cache }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const builds = (): number => out.split('→').length - 1;
  try {
    await waitFor(() => err, (s) => s.includes('watching'), 60_000, 'the first build');
    assert.is(builds(), 1);
    const first = readFileSync(join(dir, 'probe.bpf.o'));
    // An editor's save: a new file renamed over the header.
    writeFileSync(join(dir, 'limits.h.new'), '#define LIMIT 12345\n');
    renameSync(join(dir, 'limits.h.new'), join(dir, 'limits.h'));
    await waitFor(() => out, () => builds() === 2, 60_000, 'a rebuild after the header changed');
    assert.not.ok(readFileSync(join(dir, 'probe.bpf.o')).equals(first), 'the object changed');
    writeFileSync(src, `${PROBE}\nint broken = ;\n`);
    await waitFor(() => err, (s) => /error: expected expression/.test(s), 60_000, 'the compile error');
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    assert.is(await exited, 1, 'the last build failed');
  } finally {
    child.kill('SIGKILL');
  }
});

test.after(() => rmSync(work, { recursive: true, force: true }));

test.run();
