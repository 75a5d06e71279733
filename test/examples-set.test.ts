// The libbpf-bootstrap set of examples, run as a user runs them: each one for a few seconds on the
// real kernel, with its events triggered (processes exec'ed, the uprobed function called, packets
// sent over a veth, CPU burnt), its output checked, then SIGINT: exit code 0, and none of its
// programs left in the kernel (looked up by name, the names being unique to each example).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { getNextId, progGetFdById, progInfo, sockSend, sockaddrIn } from '../syscalls/index.js';
import { REPO_ROOT } from './support/compile.js';
import { udpSocket, vethPair } from './attach-support.js';

const EXAMPLES = ['minimal', 'bootstrap', 'runqlat', 'uprobe', 'tc', 'xdp', 'profile'];

/** Program names each example loads (kernel names are cut to 15 characters). */
const PROGS: Record<string, RegExp> = {
  minimal: /^minimal_write$/,
  bootstrap: /^bootstrap_ex(ec|it)$/,
  runqlat: /^rqlat_/,
  uprobe: /^uprobe_(entry|return|malloc)$/,
  tc: /^tc_count_ingres/,
  xdp: /^xdp_count_src$/,
  profile: /^profile_sample$/,
};

function programsNamed(re: RegExp): number {
  let n = 0;
  for (let id = getNextId('prog', 0); id; id = getNextId('prog', id)) {
    try {
      const fd = progGetFdById(id);
      try {
        if (re.test(progInfo(fd.fd, { mapIds: false }).name)) n++;
      } finally {
        fd.close();
      }
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/** The example's programs are gone (the kernel may free the last ones a moment after exit). */
async function noneLeft(name: string): Promise<void> {
  const end = Date.now() + 5000;
  let n = programsNamed(PROGS[name]!);
  while (n && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    n = programsNamed(PROGS[name]!);
  }
  assert.is(n, 0, `${name}: ${n} program(s) still loaded after exit`);
}

interface Run {
  child: ChildProcess;
  out(): string;
  err(): string;
  /** Resolves when stdout matches (true), or false after the timeout. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<boolean>;
  /** SIGINT, then the exit code (SIGKILL after 20 s). */
  stop(): Promise<number | null>;
}

function start(name: string, args: string[] = [], wrap: string[] = [], env: Record<string, string> = {}): Run {
  const cmd = [...wrap, process.execPath, '--import', 'tsx', join(REPO_ROOT, 'examples', `${name}.ts`), ...args];
  const child = spawn(cmd[0]!, cmd.slice(1), { cwd: REPO_ROOT, env: { ...process.env, ...env } });
  let out = '';
  let err = '';
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { exitCode = code; resolve(code); }));
  const watchers = new Set<() => void>();
  child.stdout!.on('data', (d) => { out += d; for (const w of [...watchers]) w(); });
  child.stderr!.on('data', (d) => { err += d; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  void exited.then(() => { clearTimeout(killer); for (const w of [...watchers]) w(); });
  return {
    child,
    out: () => out,
    err: () => err,
    waitFor(re, timeoutMs = 30_000) {
      return new Promise((resolve) => {
        const check = (): void => {
          if (re.test(out)) finish(true);
          else if (exitCode !== undefined) finish(false);
        };
        const finish = (v: boolean): void => {
          clearTimeout(timer);
          watchers.delete(check);
          resolve(v);
        };
        const timer = setTimeout(() => finish(false), timeoutMs);
        watchers.add(check);
        check();
      });
    },
    async stop() {
      if (exitCode === undefined) child.kill('SIGINT');
      const hard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(hard);
      return code;
    },
  };
}

const show = (r: Run): string => `\n--- stdout ---\n${r.out()}\n--- stderr ---\n${r.err()}`;

async function ready(r: Run, re: RegExp): Promise<void> {
  if (!(await r.waitFor(re, 45_000))) {
    await r.stop();
    assert.unreachable(`the example did not start${show(r)}`);
  }
}

async function finish(r: Run, name: string): Promise<void> {
  const code = await r.stop();
  assert.is(code, 0, `exit code${show(r)}`);
  assert.not.match(r.err(), /\n\s+at /, 'no stack trace');
  await noneLeft(name);
}

test('minimal: the .bss counters are read live and grow', async () => {
  const r = start('minimal');
  await ready(r, /^Counting write\(2\) calls/m);
  const ok = await r.waitFor(/(^\d\d:\d\d:\d\d write\(\) calls: .*\n){2}/m, 15_000);
  await finish(r, 'minimal');
  assert.ok(ok, `expected two counter lines${show(r)}`);
  const mine = [...r.out().matchAll(/(\d+) by this process \(\+(\d+)\)/g)].map((m) => Number(m[1]));
  assert.ok(mine.length >= 2 && mine[1]! > mine[0]!, `its own writes are counted: ${mine}`);
});

test('bootstrap: exec and exit events, with exit codes and durations', async () => {
  const r = start('bootstrap');
  await ready(r, /^TIME\s+EVENT COMM\s+PID\s+PPID\s+FILENAME\/EXIT CODE$/m);
  const child = spawnSync('sh', ['-c', 'sleep 0.1; exit 7']);
  const ok = await r.waitFor(new RegExp(`EXIT  sh\\s+${child.pid}\\s+${process.pid}\\s+\\[7\\] \\(\\d+ms\\)`), 15_000);
  await finish(r, 'bootstrap');
  assert.ok(ok, `the exit of sh (pid ${child.pid}) with code 7${show(r)}`);
  assert.match(r.out(), new RegExp(`EXEC  sh\\s+${child.pid}\\s+${process.pid}\\s+/\\S*sh$`, 'm'));
  assert.match(r.out(), /EXEC  sleep\s+\d+\s+\d+\s+\/\S*sleep$/m);
});

test('bootstrap -d: only exits of processes that ran long enough', async () => {
  const r = start('bootstrap', ['-d', '300']);
  await ready(r, /FILENAME\/EXIT CODE$/m);
  const quick = spawnSync('sh', ['-c', 'exit 3']);
  const slow = spawnSync('sh', ['-c', 'sleep 0.5; exit 4']);
  const ok = await r.waitFor(new RegExp(`EXIT  sh\\s+${slow.pid}\\s+\\d+\\s+\\[4\\] \\((\\d+)ms\\)`), 15_000);
  await finish(r, 'bootstrap');
  assert.ok(ok, `the slow process's exit${show(r)}`);
  assert.not.match(r.out(), new RegExp(`\\s${quick.pid}\\s`), 'the quick one is filtered out');
  assert.not.match(r.out(), /EXEC /, 'no exec events with a duration filter');
});

test('runqlat: a log2 histogram of run-queue latency every interval', async () => {
  const r = start('runqlat', ['-T', '1']);
  await ready(r, /^Tracing run queue latency\.\.\. Hit Ctrl-C to end\.$/m);
  const busy = setInterval(() => spawn('true'), 20);
  const ok = await r.waitFor(/^\d\d:\d\d:\d\d\n {5}usecs {14} : count    distribution\n(\s+\d+ -> \d+\s+: \d+\s+\|[* ]{40}\|\n)+/m, 15_000);
  clearInterval(busy);
  await finish(r, 'runqlat');
  assert.ok(ok, `expected a histogram${show(r)}`);
  assert.match(r.out(), /\|\*{40}\|/, 'the fullest slot has the full bar');
});

test('uprobe: entry and return of the probed function, and libc malloc counts', async () => {
  const r = start('uprobe');
  await ready(r, /^TIME\s+PID\s+COMM\s+CALL$/m);
  const ok = await r.waitFor(/EXIT  uv_os_gethostname = 0 \([\d.]+ us\)\n[^]*malloc: \d+ calls, \d+ bytes/, 15_000);
  await finish(r, 'uprobe');
  assert.ok(ok, `expected calls and malloc counts${show(r)}`);
  const pid = r.child.pid;
  assert.match(r.out(), new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${pid}\\s+\\S+\\s+ENTER uv_os_gethostname\\(0x[0-9a-f]+, 0x[0-9a-f]+\\)$`, 'm'));
  assert.match(r.out(), /malloc: [1-9]\d* calls, [1-9]\d* bytes/);
});

for (const noTcx of [false, true]) {
  // With TSBPF_PRETEND_MISSING=tcx the library's tcx probe answers "no", as on kernels before 6.6:
  // the example must fall back to a clsact qdisc (issue 15: on 6.1 it stopped at a bare EINVAL).
  const title = noTcx
    ? 'tc, on a kernel without tcx (simulated with TSBPF_PRETEND_MISSING=tcx): falls back to a cls_bpf filter and counts the same'
    : 'tc: the ingress counter on the veth pair the example makes, removed at exit';
test(title, async () => {
  const r = start('tc', [], [], noTcx ? { TSBPF_PRETEND_MISSING: 'tcx' } : {});
  try {
    await ready(r, noTcx ? /^Counting ingress packets on vb in netns tsbpf-tc-\d+-b \(tc\)/m
      : /^Counting ingress packets on vb in netns tsbpf-tc-\d+-b \((tcx|tc)\)/m);
    // Its own traffic (a datagram every 100 ms) shows in the IPv4 row.
    const ok = await r.waitFor(/^IPv4\s+([1-9]\d*)\s+[1-9]\d*$/m, 15_000);
    await finish(r, 'tc');
    assert.ok(ok, `expected IPv4 packets${show(r)}`);
    const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    assert.not.match(left, new RegExp(`tsbpf-tc-${r.child.pid}-`), 'its namespaces are gone');
  } finally {
    if (r.child.exitCode === null) r.child.kill('SIGKILL');
    for (const s of ['a', 'b']) spawnSync('ip', ['netns', 'del', `tsbpf-tc-${r.child.pid}-${s}`], { stdio: 'ignore' });
  }
});
}

test('xdp: packets per source address over a veth pair', async () => {
  const veth = vethPair('exxdp', 77);
  try {
    execFileSync('ip', ['-n', veth.nsA, 'addr', 'add', '10.77.0.3/24', 'dev', veth.devA]);
    const r = start('xdp', ['-n', veth.nsB, veth.devB]);
    await ready(r, /^Counting packets on vb in netns \S+ by source address/m);
    // 5 datagrams from .1 and 3 from .3 (XDP sees them on vb, as they arrive from va).
    const send = (from: string, count: number): void => {
      const s = udpSocket(veth.nsA, from);
      try {
        for (let i = 0; i < count; i++) sockSend(s.fd.fd, Buffer.from(`xdp ${i}`), sockaddrIn(veth.ipB, 9));
      } finally {
        s.fd.close();
      }
    };
    send('10.77.0.1', 5);
    send('10.77.0.3', 3);
    const ok = await r.waitFor(/^10\.77\.0\.1\s+([5-9]|\d\d+)\s+\d+\n[^]*^10\.77\.0\.3\s+[3-9]\s+\d+$/m, 15_000);
    await finish(r, 'xdp');
    assert.ok(ok, `expected both sources in the table${show(r)}`);
    assert.match(r.out(), /^SOURCE\s+PACKETS\s+BYTES$/m);
  } finally {
    veth.remove();
  }
});

test('profile: samples with kernel frames from kallsyms and user frames from the ELF symbols', async () => {
  // dd spends its time in read(2) of /dev/zero: kernel frames, and libc's read wrapper in user space.
  const dd = spawn('dd', ['if=/dev/zero', 'of=/dev/null', 'bs=64k'], { stdio: 'ignore' });
  try {
    const r = start('profile', ['-p', String(dd.pid), '-F', '49']);
    await ready(r, /^Sampling pid \d+ at 49 Hz per CPU/m);
    const ok = await r.waitFor(new RegExp(`COMM: dd \\(pid=${dd.pid}\\) @ CPU \\d+\\nKernel:\\n(\\s+\\d+ \\[<[0-9a-f]{16}>\\] \\w+\\+0x[0-9a-f]+\\n)+Userspace:\\n\\s+0 \\[<[0-9a-f]{16}>\\] \\w+\\+0x[0-9a-f]+ \\(/\\S+libc\\S*\\)`), 20_000);
    await finish(r, 'profile');
    assert.ok(ok, `expected a symbolized dd sample${show(r)}`);
    assert.not.match(r.out(), /COMM: (?!dd)/, 'only the process asked for');
  } finally {
    dd.kill('SIGKILL');
  }
});

test('every example: -h prints the usage; a bad flag prints it and exits 2, with no stack trace', async () => {
  const run = (args: string[]): Promise<{ code: number; out: string; err: string }> => new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', ...args], { cwd: REPO_ROOT }, (e, out, err) => {
      resolve({ code: e ? (e as { code?: number }).code ?? 1 : 0, out: String(out), err: String(err) });
    });
  });
  const results = await Promise.all(EXAMPLES.flatMap((name) => {
    const file = join(REPO_ROOT, 'examples', `${name}.ts`);
    return [run([file, '-h']).then((r) => ({ name, what: '-h', r })), run([file, '--bogus']).then((r) => ({ name, what: '--bogus', r }))];
  }));
  for (const { name, what, r } of results) {
    if (what === '-h') {
      assert.is(r.code, 0, `${name} -h`);
      assert.match(r.out, new RegExp(`^Usage: ${name} `), `${name} -h`);
    } else {
      assert.is(r.code, 2, `${name} --bogus: ${r.err}`);
      assert.match(r.err, new RegExp(`^${name}: unknown option: --bogus\\nUsage: ${name} `), `${name} --bogus`);
      assert.not.match(r.err, /\n\s+at /, `${name}: no stack trace`);
    }
  }
});

test('every example: without root, one line that says so', () => {
  for (const name of EXAMPLES) {
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx',
      join(REPO_ROOT, 'examples', `${name}.ts`), ...(name === 'xdp' ? ['lo'] : [])], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.is(r.status, 1, `${name}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, `${name}: ${r.stderr}`);
    assert.match(lines[0]!, new RegExp(`^${name}: needs root`));
  }
});

test.run();
