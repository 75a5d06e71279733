// bootstrap: process exec and exit events through a ring buffer, with a minimum-duration filter
// set in .rodata before load. The BPF side is bootstrap.bpf.c (event layout: bootstrap.h).
//
//   npx tsx examples/bootstrap.ts [-d MS] [-v]

import { RingBuffer, type RecordView } from 'tsbpf';
import { open } from './bootstrap.skel.js';
import { Stopper, UsageError, checkRoot, clock, intArg, runMain, splitFlag } from './common.js';

const USAGE = `Usage: bootstrap [-h] [-v] [-d MS]
Trace process exec and exit events.

  -d, --duration  only report exits of processes that ran at least MS milliseconds (no exec events then)
  -v, --verbose   verbose output: what the loader did
  -h, --help      show this help`;

interface Options {
  minDurationMs: number;
  verbose: boolean;
}

function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = { minDurationMs: 0, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '-v': case '--verbose': o.verbose = true; break;
      case '-d': case '--duration': o.minDurationMs = intArg('duration', inline ?? argv[++i], 0); break;
      default: throw new UsageError(argv[i]!.startsWith('-') ? `unknown option: ${argv[i]}` : `unexpected argument: ${argv[i]}`);
    }
  }
  return o;
}

// struct bootstrap_event (bootstrap.h)
const PID = 0;
const PPID = 4;
const EXIT_CODE = 8;
const EXIT_EVENT = 12;
const DURATION_NS = 16;
const COMM = 24;
const FILENAME = 40;

function format(rec: RecordView): string {
  const exit = rec.getUint32(EXIT_EVENT, true) !== 0;
  const head = `${clock().padEnd(8)} ${(exit ? 'EXIT' : 'EXEC').padEnd(5)} ${rec.getString(COMM, 16).padEnd(16)} ${String(rec.getUint32(PID, true)).padEnd(7)} ${String(rec.getUint32(PPID, true)).padEnd(7)}`;
  if (!exit) return `${head} ${rec.getString(FILENAME, 128)}`;
  const ns = rec.getBigUint64(DURATION_NS, true);
  return `${head} [${rec.getUint32(EXIT_CODE, true)}]${ns ? ` (${ns / 1_000_000n}ms)` : ''}`;
}

let verbose = false;

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  verbose = opts.verbose;
  const log = opts.verbose ? (m: string) => void process.stderr.write(`bootstrap: ${m}\n`) : () => {};
  if (!checkRoot('bootstrap', 'npx tsx examples/bootstrap.ts')) return 1;

  const stopper = new Stopper();
  const skel = open();
  let events: RingBuffer | undefined;
  stopper.onStop(() => events?.close());
  try {
    skel.rodata.min_duration_ns = BigInt(opts.minDurationMs) * 1_000_000n;
    await skel.load();
    log(`loaded ${Object.keys(skel.progs).join(', ')}`);
    const summary = skel.attach();
    log(`attached: ${JSON.stringify(summary)}`);
    events = new RingBuffer(skel.maps.rb, (rec) => void process.stdout.write(`${format(rec)}\n`));
    process.stdout.write(`${'TIME'.padEnd(8)} ${'EVENT'.padEnd(5)} ${'COMM'.padEnd(16)} ${'PID'.padEnd(7)} ${'PPID'.padEnd(7)} FILENAME/EXIT CODE\n`);
    while (!stopper.stopped) {
      try {
        await events.poll(100);
      } catch (e) {
        if (stopper.stopped) break; // closed by Ctrl-C mid-poll
        throw e;
      }
    }
    return 0;
  } finally {
    events?.close();
    skel.destroy();
    stopper.dispose();
  }
}

runMain({ tool: 'bootstrap', usage: USAGE }, main, () => verbose);
