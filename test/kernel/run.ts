// Runs test files on another kernel: Debian's newest 6.1 or 6.12, booted in qemu with this machine's
// root shared read-only over virtio-9p under a tmpfs overlay (the models are cilium's vimto and
// virtme-ng). The tests run from a precompiled JavaScript mirror of the repository (mirror.ts).
//
//   npm run test:kernel -- 6.1                         the whole suite on 6.1
//   npm run test:kernel -- 6.12 test/loader-core.test.ts test/ringbuf.test.ts
//   npm run test:kernel -- 6.1 --smoke                 the CI smoke set
//   npm run test:kernel -- 6.1 --shell 'uname -r; bpftool version'   any command, in the repo's mirror
//
// Options: --accel auto|kvm|tcg (auto: KVM when a probe boot works, else TCG), --cpus N (2), --mem SIZE
// (4G), --timeout MINUTES (whole run; default 90), --append "ARGS" (more kernel command line).
// The last line is the guest runner's `N passed, N failed, N skipped`; the exit status is the guest
// command's. Kernels and the mirror live in .build/ (not committed).

import { spawn } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureHostTools, KNOWN_SERIES, prepareKernel, type KernelImage } from './image.js';
import { buildMirror, mirrorPath } from './mirror.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD = join(REPO, '.build');

/**
 * What CI runs on 6.1: the loader, CO-RE, global data, maps, ring and perf buffers, skeletons, and the
 * attach kinds; runqslower comes through the examples test. Chosen to fit CI's time under TCG.
 */
export const SMOKE_SET = [
  'test/loader-core.test.ts',
  'test/core-kernel.test.ts',
  'test/global-data.test.ts',
  'test/loader-maps.test.ts',
  'test/ringbuf.test.ts',
  'test/perfbuf.test.ts',
  'test/skeleton.test.ts',
  'test/attach-trace.test.ts',
];

/** BPF LSM is off unless named at boot; the rest is Debian's default list. */
const LSM = 'lsm=lockdown,capability,landlock,yama,apparmor,bpf';

const log = (m: string): void => void process.stderr.write(`test:kernel: ${m}\n`);

interface BootOptions {
  accel: 'kvm' | 'tcg';
  cpus: number;
  mem: string;
  append: string;
  timeoutMs: number;
  /** Console output to the host's stdout (off for the KVM probe). */
  quiet?: boolean;
}

interface BootResult {
  status: number | undefined;
  output: string;
  timedOut: boolean;
}

/** Boots `kernel`, runs `cmd` in `cwd` in the guest, and returns its status and output. */
async function boot(kernel: KernelImage, cmd: string, cwd: string, opts: BootOptions): Promise<BootResult> {
  const share = mkdtempSync(join(tmpdir(), 'tsbpf-guest-'));
  try {
    copyFileSync(join(REPO, 'test', 'kernel', 'guest.sh'), join(share, 'guest.sh'));
    const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
    writeFileSync(join(share, 'guest.env'), [
      `TSBPF_MODULES=${q(kernel.modules)}`, `TSBPF_CONFIG=${q(kernel.config)}`, `TSBPF_CWD=${q(cwd)}`, `TSBPF_CMD=${q(cmd)}`,
      // Tests stretch their wall-clock limits by this (test/support/time.ts): TCG runs code 10-30x slower.
      `export TSBPF_TIME_SCALE=${opts.accel === 'tcg' ? 20 : 1}`,
    ].join('\n') + '\n');
    const args = [
      '-accel', opts.accel === 'kvm' ? 'kvm' : 'tcg,thread=single,tb-size=512',
      '-cpu', opts.accel === 'kvm' ? 'host' : 'max',
      '-smp', String(opts.cpus), '-m', opts.mem,
      '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
      '-kernel', kernel.vmlinux, '-initrd', kernel.initramfs,
      '-append', `console=ttyS0 panic=-1 quiet loglevel=4 ${LSM} ${opts.append}`.trim(),
      '-virtfs', 'local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap',
      '-virtfs', `local,path=${share},mount_tag=results,security_model=none,multidevs=remap`,
      '-device', 'virtio-rng-pci',
    ];
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', opts.quiet ? 'ignore' : 'inherit', opts.quiet ? 'ignore' : 'inherit'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    await new Promise<void>((done) => child.on('exit', () => done()));
    clearTimeout(timer);
    const read = (f: string): string => (existsSync(join(share, f)) ? readFileSync(join(share, f), 'utf8') : '');
    const statusText = read('status').trim();
    return { status: statusText === '' ? undefined : Number(statusText), output: read('output.log'), timedOut };
  } finally {
    rmSync(share, { recursive: true, force: true });
  }
}

/** Whether KVM runs this kernel here: a probe boot, remembered per host boot. */
async function kvmWorks(kernel: KernelImage): Promise<boolean> {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const memo = join(BUILD, 'kernels', `kvm-${kernel.release}-${bootId}`);
  if (existsSync(memo)) return readFileSync(memo, 'utf8') === 'yes';
  log('probing KVM (a PVM host cannot run stock kernels under it)');
  const r = await boot(kernel, 'true', '/', { accel: 'kvm', cpus: 1, mem: '1G', append: '', timeoutMs: 45_000, quiet: true });
  const works = r.status === 0;
  writeFileSync(memo, works ? 'yes' : 'no');
  log(works ? 'KVM works' : 'KVM does not run this kernel here: TCG');
  return works;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      smoke: { type: 'boolean', default: false },
      shell: { type: 'string' },
      accel: { type: 'string', default: 'auto' },
      cpus: { type: 'string', default: '2' },
      mem: { type: 'string', default: '4G' },
      timeout: { type: 'string', default: '90' },
      append: { type: 'string', default: '' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const series = positionals.shift();
  if (values.help || !series) {
    process.stdout.write(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n\n')[0]!.replace(/^\/\/ ?/gm, '') + '\n');
    return values.help ? 0 : 2;
  }
  if (!KNOWN_SERIES.includes(series)) throw new Error(`unknown kernel series '${series}' (known: ${KNOWN_SERIES.join(', ')})`);
  if (process.getuid?.() !== 0) throw new Error('run as root: qemu needs to read the whole root filesystem it shares');
  ensureHostTools(log);
  mkdirSync(join(BUILD, 'kernels'), { recursive: true });
  const kernel = prepareKernel(series, join(BUILD, 'kernels'), log);
  log(`kernel ${kernel.release} (${kernel.pkg})`);

  // A mirror of its own per run: the guest reads it through 9p while it runs, so another run that
  // rebuilt a shared one would pull files from under it.
  const mirror = join(BUILD, `kernel-js-${process.pid}`);
  try {
    return await runIn(kernel, mirror, values, positionals);
  } finally {
    rmSync(mirror, { recursive: true, force: true });
  }
}

async function runIn(kernel: KernelImage, mirror: string, values: { smoke: boolean; shell?: string; accel: string; cpus: string; mem: string; timeout: string; append: string },
  positionals: string[]): Promise<number> {
  let cmd: string;
  if (values.shell !== undefined) {
    cmd = values.shell;
  } else {
    // Tests run from the mirror, with the runner's per-file timeout sized for an emulated CPU.
    log('compiling the repository to JavaScript for the guest');
    buildMirror(REPO, mirror);
    const files = values.smoke ? SMOKE_SET : positionals;
    cmd = `TEST_TIMEOUT=\${TEST_TIMEOUT:-1500} node test/runner.js ${files.map((f) => mirrorPath(REPO, resolve(REPO, f))).join(' ')}`;
  }
  const accel = values.accel === 'auto' ? ((await kvmWorks(kernel)) ? 'kvm' : 'tcg') : values.accel;
  if (accel !== 'kvm' && accel !== 'tcg') throw new Error(`--accel takes auto, kvm or tcg, not '${accel}'`);
  const started = Date.now();
  const r = await boot(kernel, cmd, values.shell !== undefined ? REPO : mirror, {
    accel, cpus: Number(values.cpus), mem: values.mem, append: values.append, timeoutMs: Number(values.timeout) * 60_000,
  });
  log(`guest finished in ${((Date.now() - started) / 1000).toFixed(0)} s with status ${r.status ?? 'none'}${r.timedOut ? ' (timed out: killed)' : ''}`);
  if (r.status === undefined) {
    // Nothing ran to its end: say so in the summary form CI reads.
    process.stdout.write('0 passed, 1 failed\n');
    return 1;
  }
  if (values.shell === undefined) {
    const summary = [...r.output.matchAll(/^\d+ passed, \d+ failed(, \d+ skipped)?$/gm)].pop()?.[0];
    process.stdout.write(`${summary ?? '0 passed, 1 failed'}\n`);
    if (!summary) return 1;
  }
  return r.status;
}

main().then((code) => {
  process.exitCode = code;
}, (e: unknown) => {
  process.stderr.write(`test:kernel: ${(e as Error)?.message ?? e}\n`);
  process.exitCode = 1;
});
