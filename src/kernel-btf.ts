// The running kernel's BTF, parsed once per process and shared by every object (libbpf re-parses it on
// every load). Parsing is lazy in btf/, so a lookup of a few names doesn't decode the whole graph.
//
// Sources, as in libbpf (btf__load_vmlinux_btf, load_module_btfs, btf_custom_path):
// - vmlinux: /sys/kernel/btf/vmlinux, else the first of libbpf's fallback paths that holds BTF
//   (/boot/vmlinux-$(uname -r) etc.: ELF images with a .BTF section, or raw BTF);
// - kernel modules: /sys/kernel/btf/<module>, split BTF over vmlinux, loaded on first need; a module
//   whose BTF can't be read or parsed is skipped with a warning (process 'warning' event);
// - btfCustomPath: a BTF file (raw or ELF) that replaces vmlinux for CO-RE; modules are then not used.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join, resolve } from 'node:path';
import { Btf } from '../btf/index.js';
import { ElfFile } from '../elf/index.js';
import { btfGetFdById, btfInfo, getNextId, type Fd } from '../syscalls/index.js';
import { mapFileReadOnly } from '../syscalls/mmap.js';
import { CandidateIndex, createCoreTargets, type CoreTargetBtf, type CoreTargets } from './core/index.js';
import { BpfError } from './errors.js';

export const SYSFS_BTF_DIR = '/sys/kernel/btf';
const VMLINUX_PATH = `${SYSFS_BTF_DIR}/vmlinux`;

/** libbpf's fallback locations for vmlinux BTF when sysfs has none (%r = kernel release). */
export const VMLINUX_FALLBACK_PATHS: readonly string[] = [
  '/boot/vmlinux-%r',
  '/lib/modules/%r/vmlinux-%r',
  '/lib/modules/%r/build/vmlinux',
  '/usr/lib/modules/%r/kernel/vmlinux',
  '/usr/lib/debug/boot/vmlinux-%r',
  '/usr/lib/debug/boot/vmlinux-%r.debug',
  '/usr/lib/debug/lib/modules/%r/vmlinux',
];

/** A parsed kernel (or custom) BTF with its CO-RE candidate index. */
export interface KernelBtfEntry {
  readonly btf: Btf;
  /** 'vmlinux', the module name, or the file path. */
  readonly name: string;
  /** Where it was read from. */
  readonly path: string;
  readonly index: CandidateIndex;
}

let vmlinux: KernelBtfEntry | undefined;
let modules: KernelBtfEntry[] | undefined;
const custom = new Map<string, KernelBtfEntry>();

/** vmlinux BTF, or the BTF at `customPath` (BTFHub-style files for other kernels). */
export function kernelBtf(customPath?: string): Btf {
  return customPath ? customBtfEntry(customPath).btf : vmlinuxEntry().btf;
}

/** The process-wide vmlinux entry (sysfs, else libbpf's fallback paths). */
export function vmlinuxEntry(): KernelBtfEntry {
  if (!vmlinux) vmlinux = loadVmlinux();
  return vmlinux;
}

/** A btfCustomPath BTF, parsed once per path. */
export function customBtfEntry(path: string): KernelBtfEntry {
  const key = resolve(path);
  let e = custom.get(key);
  if (!e) {
    const bytes = readBtfBytes(path);
    e = entryOf(parseOrThrow(bytes, path), path, path);
    custom.set(key, e);
  }
  return e;
}

/** Module BTFs of the running kernel (split over vmlinux), read on first call. */
export function kernelModuleBtfs(): readonly KernelBtfEntry[] {
  if (!modules) modules = loadModuleBtfs(SYSFS_BTF_DIR, vmlinuxEntry());
  return modules;
}

/**
 * Reads every module BTF in `dir` (all files but 'vmlinux', in name order) as split BTF over `base`.
 * A file that can't be read or parsed is skipped with a process warning, never an error.
 */
export function loadModuleBtfs(dir: string, base: KernelBtfEntry): KernelBtfEntry[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n !== 'vmlinux').sort();
  } catch {
    return [];
  }
  const out: KernelBtfEntry[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      const bytes = readFileSync(path);
      const btf = Btf.parse(bytes, { base: base.btf });
      // Btf.parse validated the layout of every type record; a mismatched base is caught here too.
      if (btf.startId !== base.btf.typeCount + 1) throw new Error('unexpected start id');
      out.push({ btf, name, path, index: new CandidateIndex(btf, name) });
    } catch (e) {
      process.emitWarning(`tsbpf: skipping BTF of kernel module '${name}' (${path}): ${(e as Error).message}`, { code: 'TSBPF_MODULE_BTF' });
    }
  }
  return out;
}

/** Kernel module BTF objects by module name, opened on first need and kept for the process. */
let moduleBtfFds: Map<string, Fd> | undefined;

/**
 * The fd of kernel module `name`'s BTF object, as libbpf's load_module_btfs finds it: walk the BTF ids
 * (BPF_BTF_GET_NEXT_ID), open each (BPF_BTF_GET_FD_BY_ID) and keep the kernel BTFs that are not vmlinux,
 * by name. The fds stay open for the life of the process, like the shared parsed BTFs (one per module);
 * ksym externs and `module:func` attach targets reference them (ld_imm64, fd_array, attach_btf_obj_fd).
 * Undefined when the module has no BTF object (unloaded since, or never had one).
 */
export function moduleBtfObjFd(name: string): number | undefined {
  let fd = moduleBtfFds?.get(name);
  if (!fd || fd.closed) {
    moduleBtfFds = scanModuleBtfObjects(moduleBtfFds);
    fd = moduleBtfFds.get(name);
  }
  return fd && !fd.closed ? fd.fd : undefined;
}

function scanModuleBtfObjects(prev: Map<string, Fd> | undefined): Map<string, Fd> {
  const out = new Map<string, Fd>();
  for (const [n, f] of prev ?? []) if (!f.closed) out.set(n, f);
  let id = 0;
  for (;;) {
    id = getNextId('btf', id);
    if (!id) break;
    let fd: Fd;
    try {
      fd = btfGetFdById(id);
    } catch {
      continue; // freed meanwhile
    }
    let keep = false;
    try {
      const info = btfInfo(fd.fd);
      if (info.kernelBtf && info.name && info.name !== 'vmlinux' && !out.has(info.name)) {
        out.set(info.name, fd);
        keep = true;
      }
    } catch {
      // not ours to judge: skip
    }
    if (!keep) fd.close();
  }
  return out;
}

/** The kernel BTF that a named target lives in: vmlinux, or a module ('module:name' syntax, or found by search). */
export function kernelModuleBtf(name: string): KernelBtfEntry | undefined {
  return kernelModuleBtfs().find((m) => m.name === name);
}

/**
 * The candidate sources for CO-RE relocations of one object load: vmlinux then modules, or the
 * custom BTF alone. Each call returns a fresh candidate cache over the shared, lazily parsed BTFs;
 * use one per object load, for all its programs.
 */
export function kernelCoreTargets(opts: { btfCustomPath?: string } = {}): CoreTargets {
  if (opts.btfCustomPath) {
    const path = opts.btfCustomPath;
    return createCoreTargets({ main: lazyTarget(() => customBtfEntry(path), path), custom: true });
  }
  return createCoreTargets({ main: lazyTarget(vmlinuxEntry, 'vmlinux'), modules: () => kernelModuleBtfs().map((m) => m.index) });
}

/** A CoreTargetBtf that parses its BTF only when first searched. */
function lazyTarget(get: () => KernelBtfEntry, name: string): CoreTargetBtf {
  return {
    name,
    get btf() { return get().btf; },
    candidates: (kind: number, ess: string) => get().index.candidates(kind, ess),
  };
}

function loadVmlinux(): KernelBtfEntry {
  return findVmlinuxBtf();
}

export interface FindVmlinuxOptions {
  /** Default /sys/kernel/btf/vmlinux. */
  sysfsPath?: string;
  /** Default VMLINUX_FALLBACK_PATHS. */
  fallbackPaths?: readonly string[];
  /** The kernel release substituted for %r (default: uname -r). */
  release?: string;
}

/**
 * libbpf's btf__load_vmlinux_btf: the sysfs BTF if the file exists (an error if it can't be parsed),
 * else the first fallback path that is readable and holds valid BTF (raw, or an ELF image's .BTF).
 * Not cached: vmlinuxEntry() caches the default search.
 */
export function findVmlinuxBtf(opts: FindVmlinuxOptions = {}): KernelBtfEntry {
  const sysfs = opts.sysfsPath ?? VMLINUX_PATH;
  if (existsSync(sysfs)) {
    // Mapped as libbpf's btf_parse_raw_mmap does: reading 5 MB into fresh memory costs more than
    // parsing it, and a mapping of the kernel's own copy costs nothing up front.
    const bytes = mapFileReadOnly(sysfs) ?? readRaw(sysfs);
    return entryOf(parseOrThrow(bytes, sysfs), 'vmlinux', sysfs);
  }
  const rel = opts.release ?? release();
  const tried: string[] = [];
  for (const pattern of opts.fallbackPaths ?? VMLINUX_FALLBACK_PATHS) {
    const path = pattern.replaceAll('%r', rel);
    if (!existsSync(path)) continue;
    tried.push(path);
    try {
      const bytes = readBtfBytes(path);
      return entryOf(Btf.parse(bytes), 'vmlinux', path);
    } catch {
      // libbpf moves on to the next location.
    }
  }
  throw new BpfError(`failed to find valid kernel BTF: ${sysfs} is missing${tried.length ? ` and ${tried.join(', ')} had none` : ''}`, {
    cmd: 'load kernel BTF', errno: 3,
    advice: 'the kernel needs CONFIG_DEBUG_INFO_BTF=y for typed ksyms, kfuncs and CO-RE; or pass btfCustomPath',
  });
}

function entryOf(btf: Btf, name: string, path: string): KernelBtfEntry {
  return { btf, name, path, index: new CandidateIndex(btf, name) };
}

function parseOrThrow(bytes: Uint8Array, path: string): Btf {
  try {
    return Btf.parse(bytes);
  } catch (e) {
    throw new BpfError(`failed to parse kernel BTF from ${path}: ${(e as Error).message}`, { cmd: 'load kernel BTF', errno: 22, cause: e });
  }
}

function readRaw(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new BpfError(`failed to read kernel BTF from ${path}: ${err.message}`, {
      cmd: 'load kernel BTF', errno: err.errno ? Math.abs(err.errno) : 2,
      advice: 'the kernel needs CONFIG_DEBUG_INFO_BTF=y for typed ksyms, kfuncs and CO-RE; or pass btfCustomPath',
      cause: e,
    });
  }
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** A BTF file's BTF bytes: the file itself (raw BTF) or its .BTF section (an ELF image), like btf__parse. */
export function readBtfBytes(path: string): Uint8Array {
  // Read, not mapped: a regular file truncated by someone else while mapped would crash us (SIGBUS).
  const bytes = readRaw(path);
  if (ELF_MAGIC.every((b, i) => bytes[i] === b)) {
    let sec;
    try {
      sec = ElfFile.parse(bytes).section('.BTF');
    } catch (e) {
      throw new BpfError(`failed to read ELF file ${path}: ${(e as Error).message}`, { cmd: 'load kernel BTF', errno: 22, cause: e });
    }
    if (!sec || sec.data.length === 0) throw new BpfError(`ELF file ${path} has no .BTF section`, { cmd: 'load kernel BTF', errno: 2 });
    return sec.data;
  }
  return bytes;
}
