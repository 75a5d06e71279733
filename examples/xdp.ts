// xdp: packets and bytes per source address, counted by an XDP program (xdp.bpf.c) in an LRU hash
// and printed as a table, busiest sources first.
//
//   npx tsx examples/xdp.ts [-n NETNS] [-i SECONDS] [-m skb|drv] IFACE

import { withNetns, type Link } from 'tsbpf';
import { open, type struct_src_key } from './xdp.skel.js';
import { Stopper, UsageError, checkRoot, clock, intArg, runMain, splitFlag } from './common.js';

const USAGE = `Usage: xdp [-h] [-n NETNS] [-i SECONDS] [-m skb|drv] [-v] IFACE
Count the packets arriving on an interface by source address (IPv4 and IPv6), with XDP.

  IFACE           the interface, e.g. eth0
  -n, --netns     the interface is in this network namespace (a name under /run/netns)
  -i, --interval  seconds between tables (default 1)
  -m, --mode      XDP mode: skb (generic) or drv (native); default: the driver's best
  -v, --verbose   verbose output: what the loader did
  -h, --help      show this help`;

interface Options {
  iface: string;
  netns?: string;
  interval: number;
  mode?: 'skb' | 'drv';
  verbose: boolean;
}

function parseArgs(argv: string[]): Options | 'help' {
  let iface: string | undefined;
  const o: Omit<Options, 'iface'> = { interval: 1, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '-v': case '--verbose': o.verbose = true; break;
      case '-i': case '--interval': o.interval = intArg('interval', inline ?? argv[++i], 1, 3600); break;
      case '-n': case '--netns': {
        const v = inline ?? argv[++i];
        if (!v || v.startsWith('-')) throw new UsageError(`invalid netns: ${v ?? '(missing)'}`);
        o.netns = v;
        break;
      }
      case '-m': case '--mode': {
        const v = inline ?? argv[++i];
        if (v !== 'skb' && v !== 'drv') throw new UsageError(`invalid mode: ${v ?? '(missing)'}`);
        o.mode = v;
        break;
      }
      default:
        if (argv[i]!.startsWith('-')) throw new UsageError(`unknown option: ${argv[i]}`);
        if (iface !== undefined) throw new UsageError(`unexpected argument: ${argv[i]}`);
        iface = argv[i]!;
    }
  }
  if (iface === undefined) throw new UsageError('missing IFACE');
  return { iface, ...o };
}

/** An address key: IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). */
function addrString(a: Uint8Array): string {
  const mapped = a.subarray(0, 10).every((b) => b === 0) && a[10] === 0xff && a[11] === 0xff;
  if (mapped) return `${a[12]}.${a[13]}.${a[14]}.${a[15]}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((a[i]! << 8) | a[i + 1]!).toString(16));
  // Compress the longest run of zero groups, as inet_ntop does.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

let verbose = false;

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  verbose = opts.verbose;
  if (!checkRoot('xdp', 'npx tsx examples/xdp.ts IFACE')) return 1;

  const stopper = new Stopper();
  const skel = open();
  try {
    await skel.load();
    const attach = (): Link => skel.progs.xdp_count_src.attachXdp(opts.iface, { mode: opts.mode });
    skel.links.xdp_count_src = opts.netns ? withNetns(opts.netns, attach) : attach();
    if (opts.verbose) process.stderr.write(`xdp: ${skel.links.xdp_count_src.kind} attachment made\n`);
    process.stdout.write(`Counting packets on ${opts.iface}${opts.netns ? ` in netns ${opts.netns}` : ''} by source address; Ctrl-C to end.\n`);

    while (await stopper.sleep(opts.interval * 1000)) {
      const rows: { key: struct_src_key; addr: string; packets: bigint; bytes: bigint }[] = [];
      for (const [key, v] of skel.maps.sources.entries()) rows.push({ key, addr: addrString(key.addr), packets: v.packets, bytes: v.bytes });
      rows.sort((a, b) => (b.packets > a.packets ? 1 : b.packets < a.packets ? -1 : a.addr.localeCompare(b.addr)));
      let out = `\n${clock()}\n${'SOURCE'.padEnd(39)} ${'PACKETS'.padStart(10)} ${'BYTES'.padStart(12)}\n`;
      for (const r of rows) out += `${r.addr.padEnd(39)} ${String(r.packets).padStart(10)} ${String(r.bytes).padStart(12)}\n`;
      process.stdout.write(out);
    }
    return 0;
  } finally {
    skel.destroy();
    stopper.dispose();
  }
}

runMain({ tool: 'xdp', usage: USAGE }, main, () => verbose);
