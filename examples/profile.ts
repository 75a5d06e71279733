// profile: CPU sampling with stack traces. A cpu-clock perf event on every CPU runs profile.bpf.c's
// program, which sends the running task's kernel and user stacks through a ring buffer. Kernel
// addresses are named through /proc/kallsyms; user addresses through the process's memory map and
// the symbol tables of its binaries, read with tsbpf's ELF reader.
//
//   npx tsx examples/profile.ts [-p PID] [-F HZ]

import { readFileSync } from 'node:fs';
import { PERF_COUNT_SW, PERF_TYPE, RingBuffer, type RecordView } from 'tsbpf';
import { ElfFile, PT, STT } from '../elf/index.js';
import { open } from './profile.skel.js';
import { Stopper, UsageError, checkRoot, intArg, runMain, splitFlag } from './common.js';

const USAGE = `Usage: profile [-h] [-p PID] [-F HZ] [-v]
Sample what the CPUs run, with kernel and user stack traces.

  -p, --pid        sample this process only
  -F, --frequency  samples per second and CPU (default 1)
  -v, --verbose    verbose output: what the loader did
  -h, --help       show this help`;

interface Options {
  pid: number;
  freq: number;
  verbose: boolean;
}

function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = { pid: 0, freq: 1, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '-v': case '--verbose': o.verbose = true; break;
      case '-p': case '--pid': o.pid = intArg('PID', inline ?? argv[++i]); break;
      case '-F': case '--frequency': o.freq = intArg('frequency', inline ?? argv[++i], 1, 10000); break;
      default: throw new UsageError(argv[i]!.startsWith('-') ? `unknown option: ${argv[i]}` : `unexpected argument: ${argv[i]}`);
    }
  }
  return o;
}

// --- symbolization ------------------------------------------------------------------------------

interface Sym {
  addr: bigint;
  name: string;
}

/** The last symbol at or below `addr` in a sorted table. */
function below(syms: readonly Sym[], addr: bigint): Sym | undefined {
  let lo = 0;
  let hi = syms.length - 1;
  let found: Sym | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (syms[mid]!.addr <= addr) {
      found = syms[mid];
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

let kallsyms: Sym[] | undefined;

/** Kernel text symbols, sorted (empty when kptr_restrict hides the addresses). */
function kernelSyms(): Sym[] {
  if (kallsyms) return kallsyms;
  kallsyms = [];
  for (const line of readFileSync('/proc/kallsyms', 'latin1').split('\n')) {
    // "ffffffff81000000 T _stext\t[module]"
    const [addr, type, name] = line.split(/\s+/, 3);
    if (!addr || !name || !/^[tTwW]$/.test(type ?? '')) continue;
    const a = BigInt(`0x${addr}`);
    if (a) kallsyms.push({ addr: a, name });
  }
  kallsyms.sort((x, y) => (x.addr < y.addr ? -1 : x.addr > y.addr ? 1 : 0));
  return kallsyms;
}

function kernelName(addr: bigint): string {
  const s = below(kernelSyms(), addr);
  return s ? `${s.name}+0x${(addr - s.addr).toString(16)}` : '[unknown]';
}

interface Mapping {
  start: bigint;
  end: bigint;
  pgoff: bigint;
  path: string;
}

/** An executable's function symbols by virtual address, and how file offsets map to addresses. */
interface Binary {
  funcs: { start: bigint; end: bigint; name: string }[];
  loads: { offset: bigint; vaddr: bigint; filesz: bigint }[];
}

const binaries = new Map<string, Binary | undefined>();

function binary(path: string): Binary | undefined {
  if (binaries.has(path)) return binaries.get(path);
  let bin: Binary | undefined;
  try {
    const elf = ElfFile.parse(readFileSync(path));
    const funcs: Binary['funcs'] = [];
    for (const s of [...elf.symbols, ...elf.dynamicSymbols]) {
      if ((s.type === STT.FUNC || s.type === STT.GNU_IFUNC) && s.value64 && s.size) funcs.push({ start: s.value64, end: s.value64 + BigInt(s.size), name: s.name });
    }
    funcs.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const loads = elf.programHeaders.filter((p) => p.type === PT.LOAD)
      .map((p) => ({ offset: BigInt(p.offset), vaddr: p.vaddr, filesz: BigInt(p.filesz) }));
    bin = { funcs, loads };
  } catch {
    bin = undefined; // not readable or not ELF (e.g. a JIT map): addresses stay raw
  }
  binaries.set(path, bin);
  return bin;
}

function processMaps(pid: number): Mapping[] {
  const out: Mapping[] = [];
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return out; // the process is gone
  }
  for (const line of text.split('\n')) {
    // 7f0000000000-7f0000021000 r-xp 00002000 08:01 1234   /usr/lib/x86_64-linux-gnu/libc.so.6
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(line);
    if (m) out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), pgoff: BigInt(`0x${m[3]}`), path: m[4]! });
  }
  return out;
}

function userName(maps: Mapping[], addr: bigint): string {
  const m = maps.find((x) => addr >= x.start && addr < x.end);
  if (!m) return '[unknown]';
  const bin = binary(m.path);
  const fileOff = addr - m.start + m.pgoff;
  const load = bin?.loads.find((l) => fileOff >= l.offset && fileOff < l.offset + l.filesz);
  if (!bin || !load) return `[unknown] (${m.path})`;
  const vaddr = fileOff - load.offset + load.vaddr;
  let lo = 0;
  let hi = bin.funcs.length - 1;
  let hit: Binary['funcs'][number] | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (bin.funcs[mid]!.start <= vaddr) {
      hit = bin.funcs[mid];
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (!hit || vaddr >= hit.end) return `[unknown] (${m.path})`;
  return `${hit.name}+0x${(vaddr - hit.start).toString(16)} (${m.path})`;
}

// --- output ----------------------------------------------------------------------------------------

const MAX_DEPTH = 64; // profile.h MAX_STACK_DEPTH
const KSTACK = 32;
const USTACK = KSTACK + 8 * MAX_DEPTH;

function stack(rec: RecordView, off: number, size: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < Math.min(size / 8, MAX_DEPTH); i++) out.push(rec.getBigUint64(off + 8 * i, true));
  return out;
}

const hex16 = (a: bigint): string => a.toString(16).padStart(16, '0');

function format(rec: RecordView): string {
  const pid = rec.getUint32(0, true);
  const ksize = rec.getInt32(8, true);
  const usize = rec.getInt32(12, true);
  let out = `COMM: ${rec.getString(16, 16)} (pid=${pid}) @ CPU ${rec.getUint32(4, true)}\n`;
  if (ksize > 0) {
    out += 'Kernel:\n';
    stack(rec, KSTACK, ksize).forEach((a, i) => { out += `  ${String(i).padStart(2)} [<${hex16(a)}>] ${kernelName(a)}\n`; });
  } else {
    out += 'No Kernel Stack\n';
  }
  if (usize > 0) {
    out += 'Userspace:\n';
    const maps = processMaps(pid);
    stack(rec, USTACK, usize).forEach((a, i) => { out += `  ${String(i).padStart(2)} [<${hex16(a)}>] ${userName(maps, a)}\n`; });
  } else {
    out += 'No Userspace Stack\n';
  }
  return out;
}

let verbose = false;

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  verbose = opts.verbose;
  if (!checkRoot('profile', 'npx tsx examples/profile.ts')) return 1;

  const stopper = new Stopper();
  const skel = open();
  let events: RingBuffer | undefined;
  stopper.onStop(() => events?.close());
  let group: { close(): void } | undefined;
  try {
    skel.rodata.targ_pid = opts.pid;
    await skel.load();
    kernelSyms(); // read before sampling starts
    // One cpu-clock event and link per online CPU.
    group = skel.progs.profile_sample.attachPerfEvent({ type: PERF_TYPE.SOFTWARE, config: PERF_COUNT_SW.CPU_CLOCK, sampleFreq: opts.freq });
    if (opts.verbose) process.stderr.write('profile: attached to cpu-clock on every CPU\n');
    events = new RingBuffer(skel.maps.samples, (rec) => void process.stdout.write(`${format(rec)}\n`));
    process.stdout.write(`Sampling ${opts.pid ? `pid ${opts.pid}` : 'all processes'} at ${opts.freq} Hz per CPU; Ctrl-C to end.\n\n`);
    while (!stopper.stopped) {
      try {
        await events.poll(100);
      } catch (e) {
        if (stopper.stopped) break;
        throw e;
      }
    }
    return 0;
  } finally {
    events?.close();
    group?.close();
    skel.destroy();
    stopper.dispose();
  }
}

runMain({ tool: 'profile', usage: USAGE }, main, () => verbose);
