// A Debian kernel ready to boot under qemu, kept in test/.build/kernels/<package>/:
//   root/           the package's files (boot/, lib/modules/VER/ with depmod's index)
//   vmlinux         the uncompressed kernel ELF, taken out of the bzImage (booted through PVH, which
//                   skips seconds of in-guest decompression under TCG)
//   initramfs.cpio  busybox plus the modules that mount the host's root over virtio-9p
// Everything comes from Debian's archive through apt, nothing else.

import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { haveCommand } from '../support/compile.js';

export interface KernelImage {
  /** The Debian package, e.g. linux-image-6.1.0-57-amd64. */
  pkg: string;
  /** The kernel release, e.g. 6.1.0-57-amd64 (uname -r in the guest). */
  release: string;
  dir: string;
  vmlinux: string;
  initramfs: string;
  /** lib/modules/RELEASE of the package, bound over the guest's /lib/modules/RELEASE. */
  modules: string;
  config: string;
}

/** The kernel series this runner knows, and the package names that carry them (plain amd64: -cloud lacks 9p). */
const SERIES: Record<string, RegExp> = {
  '6.1': /^linux-image-6\.1\.0-(\d+)-amd64$/,
  '6.12': /^linux-image-(6\.12\.\d+)\+deb\d+-amd64$/,
};

export const KNOWN_SERIES = Object.keys(SERIES);

/** The modules the initramfs loads to reach the root: virtio over PCI, 9p on virtio, and overlayfs. */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'inherit'] });
}

/** Installs the host tools the runner needs from Debian when they are missing (as npm test does for clang). */
export function ensureHostTools(log: (m: string) => void): void {
  const need: string[] = [];
  if (!haveCommand('qemu-system-x86_64')) need.push('qemu-system-x86');
  if (!existsSync('/bin/busybox') && !existsSync('/usr/bin/busybox')) need.push('busybox-static');
  if (!haveCommand('depmod') && !existsSync('/sbin/depmod') && !existsSync('/usr/sbin/depmod')) need.push('kmod');
  if (!haveCommand('cpio')) need.push('cpio');
  if (!haveCommand('xz')) need.push('xz-utils');
  if (!haveCommand('zstd')) need.push('zstd');
  if (!need.length) return;
  if (process.getuid?.() !== 0) throw new Error(`missing ${need.join(', ')}: install them (apt-get install ${need.join(' ')})`);
  log(`installing ${need.join(' ')} with apt-get`);
  run('apt-get', ['update', '-q']);
  run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...need]);
}

/** The newest package of a series in the apt lists (apt-get update first if they know none). */
export function newestPackage(series: string): string {
  const re = SERIES[series];
  if (!re) throw new Error(`unknown kernel series '${series}' (known: ${KNOWN_SERIES.join(', ')})`);
  const search = (): string[] => spawnSync('apt-cache', ['search', '--names-only', '^linux-image-6'], { encoding: 'utf8' })
    .stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => re.test(n));
  let names = search();
  if (!names.length) {
    run('apt-get', ['update', '-q']);
    names = search();
  }
  if (!names.length) throw new Error(`no ${series} kernel package in the apt lists`);
  // Debian's ABI number (6.1.0-NN) or the upstream patch level (6.12.NN): compare numerically.
  const rank = (n: string): number[] => re.exec(n)![1]!.split('.').map(Number);
  names.sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    for (let i = 0; i < Math.max(ra.length, rb.length); i++) if ((ra[i] ?? 0) !== (rb[i] ?? 0)) return (ra[i] ?? 0) - (rb[i] ?? 0);
    return 0;
  });
  return names[names.length - 1]!;
}

/** How Debian compresses the kernel inside the bzImage: 6.1 with xz, 6.12 with zstd. */
const PAYLOADS = [
  { magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], cmd: 'xz', args: ['-dc', '--single-stream'] },
  { magic: [0x28, 0xb5, 0x2f, 0xfd], cmd: 'zstd', args: ['-dc'] },
  { magic: [0x1f, 0x8b, 0x08], cmd: 'gzip', args: ['-dc'] },
];

/**
 * The uncompressed kernel: the compressed stream inside the bzImage, found by its magic. The
 * decompressors may complain about the bytes after the stream; the output counts if it is an ELF.
 */
function extractVmlinux(bzImage: string, out: string): void {
  const img = readFileSync(bzImage);
  for (const p of PAYLOADS) {
    const magic = Buffer.from(p.magic);
    for (let off = img.indexOf(magic); off >= 0; off = img.indexOf(magic, off + 1)) {
      const elf = spawnSync(p.cmd, p.args, { input: img.subarray(off), maxBuffer: 1 << 30 }).stdout;
      if (elf && elf.length > 4 && elf.readUInt32BE(0) === 0x7f454c46) {
        writeFileSync(out, elf);
        return;
      }
    }
  }
  throw new Error(`${bzImage}: no xz-, zstd- or gzip-compressed ELF kernel inside (is it a Debian amd64 bzImage?)`);
}

/** Modules in load order (dependencies first) for `names`, from depmod's modules.dep. */
function moduleClosure(modDir: string, names: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(join(modDir, 'modules.dep'), 'utf8').split('\n')) {
    const [mod, rest] = line.split(':');
    if (mod) deps.set(mod, (rest ?? '').trim().split(/\s+/).filter(Boolean));
  }
  const byName = new Map([...deps.keys()].map((p) => [moduleName(p), p]));
  // Built into the kernel (virtio_pci is, in 6.12): nothing to load.
  const builtin = new Set(readFileSync(join(modDir, 'modules.builtin'), 'utf8').split('\n').filter(Boolean).map(moduleName));
  const order: string[] = [];
  const visit = (path: string): void => {
    if (order.includes(path)) return;
    // modules.dep lists every dependency, transitively; visiting each first orders them.
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const n of names) {
    if (builtin.has(n)) continue;
    const p = byName.get(n);
    if (!p) throw new Error(`module ${n} is neither in ${modDir} nor built in`);
    visit(p);
  }
  return order;
}

/** kernel/fs/9p/9p.ko.xz → 9p. */
function moduleName(path: string): string {
  return path.split('/').pop()!.replace(/\.ko(\.\w+)?$/, '');
}

/** Decompressors for modules (6.12's are .ko.xz): busybox's insmod takes plain .ko files only. */
const MODULE_DECOMPRESS: Record<string, string[]> = { '.xz': ['xz', '-dc'], '.zst': ['zstd', '-dc'], '.gz': ['gzip', '-dc'] };

/** Copies a module into the initramfs as a plain `NAME.ko`. */
function copyModule(from: string, dir: string): void {
  const to = join(dir, `${moduleName(from)}.ko`);
  const ext = /\.ko(\.\w+)$/.exec(from)?.[1];
  if (!ext) return copyFileSync(from, to);
  const d = MODULE_DECOMPRESS[ext];
  if (!d) throw new Error(`${from}: no decompressor known for ${ext} modules`);
  writeFileSync(to, run(d[0]!, [...d.slice(1), from]));
}

/** The initramfs's /init: mount the host's root read-only under a tmpfs overlay, then switch to it. */
function initScript(modules: readonly string[]): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
${modules.map((m) => `insmod /modules/${moduleName(m)}.ko`).join('\n')}
mkdir -p /lower /upper /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro root /lower || { echo "tsbpf-init: cannot mount the host root"; poweroff -f; }
mount -t tmpfs -o size=75% tmpfs /upper
mkdir -p /upper/data /upper/work
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay /newroot
mkdir -p /newroot/run/tsbpf
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /newroot/run/tsbpf || { echo "tsbpf-init: cannot mount the results share"; poweroff -f; }
umount /proc /sys /dev
exec switch_root /newroot /bin/bash /run/tsbpf/guest.sh
`;
}

/** Fetches, unpacks and prepares the newest kernel of `series` (cached: a second call costs nothing). */
export function prepareKernel(series: string, cacheRoot: string, log: (m: string) => void): KernelImage {
  const pkg = newestPackage(series);
  const dir = join(cacheRoot, pkg);
  const ready = join(dir, 'ready');
  const rootDir = join(dir, 'root');
  if (!existsSync(ready)) {
    log(`preparing ${pkg} in ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    run('apt-get', ['download', '-q', pkg], { cwd: dir });
    const deb = readdirSync(dir).find((f) => f.endsWith('.deb'))!;
    run('dpkg-deb', ['-x', deb, rootDir], { cwd: dir });
    rmSync(join(dir, deb));
    const release = readdirSync(join(rootDir, 'lib', 'modules'))[0]!;
    const depmod = ['depmod', '/sbin/depmod', '/usr/sbin/depmod'].find((c) => c.includes('/') ? existsSync(c) : haveCommand(c))!;
    run(depmod, ['-b', rootDir, release]);
    extractVmlinux(join(rootDir, 'boot', `vmlinuz-${release}`), join(dir, 'vmlinux'));

    const modDir = join(rootDir, 'lib', 'modules', release);
    const initDir = join(dir, 'initramfs');
    for (const d of ['bin', 'proc', 'sys', 'dev', 'modules']) mkdirSync(join(initDir, d), { recursive: true });
    copyFileSync(existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox', join(initDir, 'bin', 'busybox'));
    chmodSync(join(initDir, 'bin', 'busybox'), 0o755);
    const modules = moduleClosure(modDir, BOOT_MODULES);
    for (const m of modules) copyModule(join(modDir, m), join(initDir, 'modules'));
    writeFileSync(join(initDir, 'init'), initScript(modules), { mode: 0o755 });
    const list = spawnSync('find', ['.', '-print0'], { cwd: initDir }).stdout;
    writeFileSync(join(dir, 'initramfs.cpio.tmp'), run('cpio', ['--null', '-o', '-H', 'newc', '--quiet'], { cwd: initDir, input: list }));
    renameSync(join(dir, 'initramfs.cpio.tmp'), join(dir, 'initramfs.cpio'));
    writeFileSync(ready, `${pkg}\n${release}\n`);
  }
  const release = readFileSync(ready, 'utf8').split('\n')[1]!;
  return {
    pkg, release, dir,
    vmlinux: join(dir, 'vmlinux'),
    initramfs: join(dir, 'initramfs.cpio'),
    modules: join(rootDir, 'lib', 'modules', release),
    config: join(rootDir, 'boot', `config-${release}`),
  };
}
