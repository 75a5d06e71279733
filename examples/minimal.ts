// minimal: the smallest useful tsbpf program. A tracepoint on write(2) counts calls in .bss, and
// this program reads the counters live through the skeleton (no map lookups: .bss is mmap'ed).
// The BPF side is minimal.bpf.c; minimal.skel.ts is generated from its object (examples/build.ts).
//
//   npx tsx examples/minimal.ts [-i SECONDS]

import { open } from './minimal.skel.js';
import { Stopper, UsageError, checkRoot, clock, intArg, runMain, splitFlag } from './common.js';

const USAGE = `Usage: minimal [-h] [-i SECONDS]
Count write(2) system calls: all of them, and those of this process (one per line it prints).

  -i, --interval  seconds between lines (default 1)
  -h, --help      show this help`;

function parseArgs(argv: string[]): { interval: number } | 'help' {
  let interval = 1;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '-i': case '--interval': interval = intArg('interval', inline ?? argv[++i], 1, 3600); break;
      default: throw new UsageError(argv[i]!.startsWith('-') ? `unknown option: ${argv[i]}` : `unexpected argument: ${argv[i]}`);
    }
  }
  return { interval };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!checkRoot('minimal', 'npx tsx examples/minimal.ts')) return 1;

  const stopper = new Stopper();
  const skel = open();
  try {
    // .rodata is fixed at load: the program compares against a constant.
    skel.rodata.target_pid = process.pid;
    await skel.load();
    skel.attach();
    process.stdout.write(`Counting write(2) calls (this process is ${process.pid}); Ctrl-C to end.\n`);
    let lastTotal = 0n;
    let lastMine = 0n;
    while (await stopper.sleep(opts.interval * 1000)) {
      // Live reads of the kernel's counters.
      const total = skel.bss.total;
      const mine = skel.bss.mine;
      process.stdout.write(`${clock()} write() calls: ${total} in total (+${total - lastTotal}), ${mine} by this process (+${mine - lastMine})\n`);
      lastTotal = total;
      lastMine = mine;
    }
    return 0;
  } finally {
    skel.destroy();
    stopper.dispose();
  }
}

runMain({ tool: 'minimal', usage: USAGE }, main);
