// `tsbpf btf dump file PATH [format c|raw]`, with bpftool 7.1's syntax and output.
//
//   tsbpf btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h
//   tsbpf btf dump file prog.bpf.o                        (format raw is the default, as in bpftool)
//   tsbpf btf dump file /sys/kernel/btf/nf_tables format raw   (module BTF: vmlinux is its base)
//   tsbpf btf -B base.btf dump file split.btf
//
// Like bpftool, a file under /sys/kernel/btf/ other than vmlinux is split BTF over vmlinux, and
// `format c` dumps every type from id 1, base types included. Only `file` sources are handled here
// (`id`, `map`, `prog` need the kernel's BTF objects).

import { readFileSync } from 'node:fs';
import { release } from 'node:os';
// Only what `format c` of raw BTF needs is imported up front: this command is timed as a whole process
// against bpftool, and the rest (the Btf parser, the ELF reader, the syscall layer and koffi for
// `list`) is loaded on demand.
import type { Btf } from '../../btf/btf.js';
import { dumpCBytes, dumpCTo } from '../../btf/dump-c.js';
import { RawTypes } from '../../btf/raw-types.js';
import type { CliOptions } from './options.js';
import { BpfError, NotSupportedError } from '../errors.js';

const SYSFS_PREFIX = '/sys/kernel/btf/';
const SYSFS_VMLINUX = '/sys/kernel/btf/vmlinux';

const USAGE = `Usage: tsbpf btf [-B|--base-btf FILE] dump file FILE [format c|raw]
       tsbpf btf help`;

/** bpftool's is_prefix: `f`, `fo`, `form`... all mean `format`. */
function isPrefix(arg: string, word: string): boolean {
  return arg.length > 0 && word.startsWith(arg);
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new BpfError(`failed to load BTF from ${path}: ${err.message}`, { errno: err.errno ? Math.abs(err.errno) : 2, cause: e });
  }
}

/**
 * The bytes of a BTF file: sysfs files mapped when the kernel allows it (vmlinux BTF, Linux ≥6.16), the
 * rest read. A sysfs BTF file can only be read a page per read(2): vmlinux's 5 MB take ~25 ms of
 * system time plus page faults, while loading koffi and mapping it take ~17 ms and no copy.
 */
async function fileBytes(path: string): Promise<Uint8Array> {
  // (mapFileReadOnly maps sysfs files only; asked here first, so that other paths never load koffi.)
  if (path.startsWith(SYSFS_PREFIX) && sysfsMmapLikely()) {
    let mapped: Uint8Array | undefined;
    try {
      // Straight to the module rather than syscalls/index.js, which would load the whole bpf(2) layer.
      mapped = (await import('../../syscalls/mmap.js')).mapFileReadOnly(path);
    } catch {
      // koffi can't load here: read instead.
    }
    if (mapped) return mapped;
  }
  return readBytes(path);
}

/** Whether the running kernel may map sysfs BTF (6.16+): on older ones loading koffi would be wasted. */
function sysfsMmapLikely(): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return !!m && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 16));
}

/** The raw BTF in a file: the file itself, or an ELF file's .BTF section (libbpf's btf__parse). */
async function btfBytes(path: string, bytes: Uint8Array): Promise<{ btf: Uint8Array; elf: boolean }> {
  const magicLe = bytes.length >= 2 ? bytes[0]! | (bytes[1]! << 8) : 0;
  if (magicLe === 0xeb9f || magicLe === 0x9feb) return { btf: bytes, elf: false };
  if (bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46) {
    const { ElfFile } = await import('../../elf/index.js');
    const sec = ElfFile.parse(bytes).section('.BTF');
    if (!sec) throw new BpfError(`failed to load BTF from ${path}: no .BTF section`, { errno: 2 });
    return { btf: sec.data, elf: true };
  }
  throw new BpfError(`failed to load BTF from ${path}: not raw BTF nor an ELF file`, { errno: 71 /* EPROTO */ });
}

/** Reads BTF from a raw BTF file or from an ELF file's .BTF section, as libbpf's btf__parse does. */
export async function readBtfFile(path: string, base?: Btf): Promise<Btf> {
  const { btf: raw, elf } = await btfBytes(path, await fileBytes(path));
  const { Btf } = await import('../../btf/btf.js');
  const btf = Btf.parse(raw, { base });
  // libbpf takes an ELF file's pointer size from its class, not from the BTF's `long` (our reader is ELF64-only).
  if (elf) btf.pointerSize = 8;
  return btf;
}

export async function run(args: string[], opts: CliOptions): Promise<number> {
  let basePath: string | undefined;
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-B' || a === '--base-btf') {
      basePath = args[++i];
      if (!basePath) throw new BpfError(`${a} needs a file`, { errno: 22 });
    } else rest.push(a);
  }
  const verb = rest.shift();
  if (!verb || verb === 'help' || verb === '--help') {
    (verb ? opts.out : opts.err)(`${USAGE}\n`);
    return verb ? 0 : 1;
  }
  // Listing kernel BTF objects lives with the other kernel-object verbs.
  if (isPrefix(verb, 'list') || isPrefix(verb, 'show')) return (await import('./kernel-objects.js')).btfList(rest, opts);
  if (!isPrefix(verb, 'dump')) {
    opts.err(`Error: unknown btf command '${verb}'\n${USAGE}\n`);
    return 1;
  }
  const src = rest.shift();
  const path = rest.shift();
  if (!src || !path) {
    opts.err(`${USAGE}\n`);
    return 1;
  }
  if (!isPrefix(src, 'file')) {
    if (['id', 'map', 'prog'].some((w) => isPrefix(src, w))) {
      throw new NotSupportedError(`btf dump ${src}: only 'file' sources are supported by tsbpf`, { errno: 95 });
    }
    throw new BpfError(`unrecognized BTF source specifier: '${src}'`, { errno: 22 });
  }
  let format: 'c' | 'raw' = 'raw';
  while (rest.length) {
    const a = rest.shift()!;
    if (!isPrefix(a, 'format')) throw new BpfError(`unrecognized option: '${a}'`, { errno: 22 });
    const f = rest.shift();
    if (f === undefined) throw new BpfError("expecting value for 'format' option", { errno: 22 });
    if (f !== 'c' && f !== 'raw') throw new BpfError(`unrecognized format specifier: '${f}', possible values: raw, c`, { errno: 22 });
    format = f;
  }

  const baseFile = basePath ?? (path.startsWith(SYSFS_PREFIX) && path !== SYSFS_VMLINUX ? SYSFS_VMLINUX : undefined);
  if (format === 'c') {
    if (opts.json) throw new NotSupportedError('JSON output for C-syntax dump is not supported', { errno: 95 });
    // Fast path: the dumper reads the raw words, nothing is decoded into objects.
    // (ELF objects have 8-byte pointers, which is also what the raw reader assumes without a `long`.)
    const raw = (await btfBytes(path, await fileBytes(path))).btf;
    const baseRaw = baseFile === undefined ? undefined : (await btfBytes(baseFile, await fileBytes(baseFile))).btf;
    // The other byte order: the Btf parser swaps it.
    const types = RawTypes.fromBytes(raw, baseRaw) ??
      await readBtfFile(path, baseFile === undefined ? undefined : await readBtfFile(baseFile));
    // Bytes written out as they are: in chunks as the dump goes (one buffer reused), or at the end.
    if (opts.outBytes) dumpCTo(types, opts.outBytes);
    else opts.out(new TextDecoder().decode(dumpCBytes(types)));
    return 0;
  }
  const btf = await readBtfFile(path, baseFile === undefined ? undefined : await readBtfFile(baseFile));
  const { dumpRaw } = await import('../../btf/dump-raw.js');
  const { dumpRawJson } = await import('../../btf/dump-raw-json.js');
  opts.out(opts.json ? dumpRawJson(btf, opts.pretty) : dumpRaw(btf));
  return 0;
}
