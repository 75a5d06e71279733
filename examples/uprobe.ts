// uprobe: user-space function tracing. An entry uprobe and a return uprobe go on a function of a
// target binary (by default uv_os_gethostname in the node binary running this example, which the
// example calls once a second, as libbpf-bootstrap's uprobe calls its own functions), and a
// uprobe on libc's malloc counts the calls and bytes of the traced process. The BPF side is
// uprobe.bpf.c (event layout: uprobe.h).
//
//   npx tsx examples/uprobe.ts [-p PID] [BINARY:FUNCTION]

import { hostname } from 'node:os';
import { RingBuffer, resolveBinaryPath, type Link, type RecordView } from 'tsbpf';
import { open } from './uprobe.skel.js';
import { Stopper, UsageError, checkRoot, clock, intArg, runMain, splitFlag } from './common.js';

const DEFAULT_TARGET = `${process.execPath}:uv_os_gethostname`;

const USAGE = `Usage: uprobe [-h] [-p PID] [-v] [BINARY:FUNCTION]
Trace calls and returns of a user-space function, and count libc malloc calls.

  BINARY:FUNCTION  the function to trace (default: ${DEFAULT_TARGET},
                   which this program calls itself once a second)
  -p, --pid        trace this process only (default: this process for the default target,
                   every process otherwise; malloc is counted only with a process)
  -v, --verbose    verbose output: what the loader did
  -h, --help       show this help

Examples:
  uprobe                                # node's uv_os_gethostname, called by this program
  uprobe /bin/bash:readline             # every bash's readline() (an interactive prompt)
  uprobe -p 1234 libc.so.6:getaddrinfo  # name lookups of process 1234`;

interface Options {
  binary: string;
  func: string;
  pid: number;
  verbose: boolean;
  selfTrigger: boolean;
}

function parseArgs(argv: string[]): Options | 'help' {
  let pid = 0;
  let verbose = false;
  let target: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '-v': case '--verbose': verbose = true; break;
      case '-p': case '--pid': pid = intArg('PID', inline ?? argv[++i]); break;
      default:
        if (argv[i]!.startsWith('-')) throw new UsageError(`unknown option: ${argv[i]}`);
        if (target !== undefined) throw new UsageError(`unexpected argument: ${argv[i]}`);
        target = argv[i]!;
    }
  }
  const t = target ?? DEFAULT_TARGET;
  const colon = t.lastIndexOf(':');
  if (colon <= 0 || colon === t.length - 1) throw new UsageError(`invalid target: ${t} (write BINARY:FUNCTION)`);
  // The default target is this process's own function: trace this process unless told otherwise.
  const selfTrigger = target === undefined && pid === 0;
  return { binary: t.slice(0, colon), func: t.slice(colon + 1), pid: selfTrigger ? process.pid : pid, verbose, selfTrigger };
}

// struct uprobe_event (uprobe.h)
const hex = (v: bigint): string => `0x${v.toString(16)}`;

function format(rec: RecordView, func: string): string {
  const pid = rec.getUint32(0, true);
  const head = `${clock().padEnd(8)} ${String(pid).padEnd(7)} ${rec.getString(48, 16).padEnd(16)}`;
  if (rec.getUint32(8, true) === 0) return `${head} ENTER ${func}(${hex(rec.getBigUint64(16, true))}, ${hex(rec.getBigUint64(24, true))})`;
  const us = Number(rec.getBigUint64(40, true)) / 1000;
  return `${head} EXIT  ${func} = ${rec.getBigInt64(32, true)} (${us.toFixed(1)} us)`;
}

let verbose = false;

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  verbose = opts.verbose;
  const log = opts.verbose ? (m: string) => void process.stderr.write(`uprobe: ${m}\n`) : () => {};
  if (!checkRoot('uprobe', 'npx tsx examples/uprobe.ts')) return 1;

  const stopper = new Stopper();
  const skel = open();
  let events: RingBuffer | undefined;
  let ticker: NodeJS.Timeout | undefined;
  stopper.onStop(() => events?.close());
  try {
    await skel.load();
    const pid = opts.pid || undefined;
    // SEC("uprobe") names no target: the attachments are explicit.
    const links: Link[] = [];
    links.push(skel.progs.uprobe_entry.attachUprobe({ binary: opts.binary, symbol: opts.func, pid }));
    links.push(skel.progs.uprobe_return.attachUprobe({ binary: opts.binary, symbol: opts.func, pid, retprobe: true }));
    const libc = resolveBinaryPath('libc.so.6');
    if (pid) links.push(skel.progs.uprobe_malloc.attachUprobe({ binary: libc, symbol: 'malloc', pid }));
    // Handing the links to the skeleton makes skel.destroy() close them.
    skel.links.uprobe_entry = links[0];
    skel.links.uprobe_return = links[1];
    skel.links.uprobe_malloc = links[2];
    log(`attached ${links.map((l) => l.kind).join(', ')}`);

    const binary = resolveBinaryPath(opts.binary);
    events = new RingBuffer(skel.maps.calls, (rec) => void process.stdout.write(`${format(rec, opts.func)}\n`));
    process.stdout.write(`Tracing ${opts.func} in ${binary}${pid ? ` and malloc in ${libc}, pid ${pid}` : ''}... Ctrl-C to end.\n`);
    process.stdout.write(`${'TIME'.padEnd(8)} ${'PID'.padEnd(7)} ${'COMM'.padEnd(16)} CALL\n`);

    if (opts.selfTrigger) {
      // os.hostname() is node's uv_os_gethostname(buf, size).
      ticker = setInterval(() => hostname(), 1000);
    }
    let lastCalls = 0n;
    let lastBytes = 0n;
    let nextReport = Date.now() + 1000;
    while (!stopper.stopped) {
      try {
        await events.poll(100);
      } catch (e) {
        if (stopper.stopped) break;
        throw e;
      }
      if (pid && Date.now() >= nextReport) {
        nextReport += 1000;
        const calls = skel.bss.malloc_calls;
        const bytes = skel.bss.malloc_bytes;
        process.stdout.write(`${clock().padEnd(8)} malloc: ${calls - lastCalls} calls, ${bytes - lastBytes} bytes in the last second (${calls} calls in total)\n`);
        lastCalls = calls;
        lastBytes = bytes;
      }
    }
    return 0;
  } finally {
    clearInterval(ticker);
    events?.close();
    skel.destroy();
    stopper.dispose();
  }
}

runMain({ tool: 'uprobe', usage: USAGE }, main, () => verbose);
