// runqlat: a log2 histogram of how long tasks wait on a CPU run queue, drawn like the bcc and
// libbpf-tools runqlat do (with tsbpf's printLog2Hist). The BPF side is runqlat.bpf.c.
//
//   npx tsx examples/runqlat.ts [-T] [-m] [-P | -L] [-p PID] [interval [count]]

import { existsSync } from 'node:fs';
import { printLog2Hist } from 'tsbpf';
import { open, type runqlat } from './runqlat.skel.js';
import { Stopper, UsageError, checkRoot, clock, intArg, runMain, splitFlag } from './common.js';

const USAGE = `Usage: runqlat [-h] [-T] [-m] [-P | -L] [-p PID] [-v] [interval [count]]
Summarize run queue (scheduler) latency as a histogram.

  interval        seconds between histograms (default: one histogram at Ctrl-C)
  count           number of histograms, then exit (default: until Ctrl-C)
  -T, --timestamp include a timestamp with each histogram
  -m, --milliseconds  millisecond histogram (default: microseconds)
  -P, --pids      one histogram per process
  -L, --tids      one histogram per thread
  -p, --pid       trace this PID only
  -v, --verbose   verbose output: what the loader did
  -h, --help      show this help

Examples:
  runqlat         # summarize run queue latency as a histogram
  runqlat 1 10    # print 1 second summaries, 10 times
  runqlat -mT 1   # 1s summaries, milliseconds, and timestamps
  runqlat -P      # show each PID separately
  runqlat -p 185  # trace PID 185 only`;

interface Options {
  interval: number;
  count: number;
  timestamp: boolean;
  ms: boolean;
  perProcess: boolean;
  perThread: boolean;
  pid: number;
  verbose: boolean;
}

function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = { interval: 0, count: Infinity, timestamp: false, ms: false, perProcess: false, perThread: false, pid: 0, verbose: false };
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '-T': case '--timestamp': o.timestamp = true; break;
      case '-m': case '--milliseconds': o.ms = true; break;
      case '-P': case '--pids': o.perProcess = true; break;
      case '-L': case '--tids': o.perThread = true; break;
      case '-v': case '--verbose': o.verbose = true; break;
      case '-p': case '--pid': o.pid = intArg('PID', inline ?? argv[++i]); break;
      default: {
        const a = argv[i]!;
        // Bundled short flags, as in '-mT'.
        if (/^-[TmPLv]{2,}$/.test(a)) {
          argv.splice(i + 1, 0, ...[...a.slice(1)].map((c) => `-${c}`));
          break;
        }
        if (a.startsWith('-')) throw new UsageError(`unknown option: ${a}`);
        positional.push(a);
      }
    }
  }
  if (positional.length > 2) throw new UsageError(`unexpected argument: ${positional[2]}`);
  if (positional[0] !== undefined) o.interval = intArg('interval', positional[0], 1, 86400);
  if (positional[1] !== undefined) o.count = intArg('count', positional[1], 1);
  if (o.perProcess && o.perThread) throw new UsageError('-P and -L are mutually exclusive');
  return o;
}

/** Prints every histogram in the map, then clears it (each interval shows only its own wake-ups). */
function printHists(skel: runqlat, opts: Options): void {
  const unit = opts.ms ? 'msecs' : 'usecs';
  const keys = [...skel.maps.hists.keys()].sort((a, b) => a - b);
  for (const key of keys) {
    const h = skel.maps.hists.lookup(key);
    if (!h) continue;
    if (opts.perProcess) process.stdout.write(`\npid = ${key} ${h.comm.str}\n`);
    else if (opts.perThread) process.stdout.write(`\ntid = ${key} ${h.comm.str}\n`);
    printLog2Hist(h.slots, unit);
    skel.maps.hists.delete(key);
  }
}

let verbose = false;

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  verbose = opts.verbose;
  const log = opts.verbose ? (m: string) => void process.stderr.write(`runqlat: ${m}\n`) : () => {};
  if (!checkRoot('runqlat', 'npx tsx examples/runqlat.ts')) return 1;

  const stopper = new Stopper();
  const skel = open();
  try {
    skel.rodata.targ_ms = opts.ms;
    skel.rodata.targ_per_process = opts.perProcess;
    skel.rodata.targ_per_thread = opts.perThread;
    skel.rodata.targ_tgid = opts.pid;
    // tp_btf where the kernel has BTF, raw_tp otherwise.
    const btf = existsSync('/sys/kernel/btf/vmlinux');
    const skip = btf ? ['rqlat_raw_wake', 'rqlat_raw_wnew', 'rqlat_raw_swtch'] : ['rqlat_wakeup', 'rqlat_wake_new', 'rqlat_switch'];
    for (const name of skip) skel.progs[name as keyof runqlat['progs']].autoload = false;
    log(`using ${btf ? 'tp_btf' : 'raw_tp'} programs`);
    await skel.load();
    skel.attach();

    process.stdout.write('Tracing run queue latency... Hit Ctrl-C to end.\n');
    // With no interval: one histogram, at Ctrl-C.
    for (let n = 0; n < opts.count; n++) {
      const full = await stopper.sleep(opts.interval ? opts.interval * 1000 : 0x7fffffff);
      process.stdout.write('\n');
      if (opts.timestamp) process.stdout.write(`${clock()}\n`);
      printHists(skel, opts);
      if (!full) break;
    }
    return 0;
  } finally {
    skel.destroy();
    stopper.dispose();
  }
}

runMain({ tool: 'runqlat', usage: USAGE }, main, () => verbose);
