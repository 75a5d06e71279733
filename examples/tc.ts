// tc: an ingress packet counter. The example makes two network namespaces joined by a veth pair,
// attaches tc.bpf.c's program to the ingress of one end (tcx on Linux 6.6+, a clsact qdisc
// before), sends UDP datagrams from the other end, and prints the counters from .bss.
// Namespaces, link and traffic are all removed at exit.
//
//   npx tsx examples/tc.ts [-i SECONDS] [-n]

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { NotSupportedError, withNetns, type Link } from 'tsbpf';
import { open } from './tc.skel.js';
import { Stopper, UsageError, checkRoot, clock, intArg, runMain, splitFlag } from './common.js';

const USAGE = `Usage: tc [-h] [-i SECONDS] [-n]
Count the packets arriving on a veth interface, by protocol, with a tc ingress program.
Creates the network namespaces tsbpf-tc-<pid>-a and -b, joined by veth va (10.254.0.1) and vb (10.254.0.2).

  -i, --interval    seconds between reports (default 1)
  -n, --no-traffic  do not send traffic yourself (send your own: ip netns exec <ns a> ping 10.254.0.2)
  -h, --help        show this help`;

function parseArgs(argv: string[]): { interval: number; traffic: boolean } | 'help' {
  const o = { interval: 1, traffic: true };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = splitFlag(argv[i]!);
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '-n': case '--no-traffic': o.traffic = false; break;
      case '-i': case '--interval': o.interval = intArg('interval', inline ?? argv[++i], 1, 3600); break;
      default: throw new UsageError(argv[i]!.startsWith('-') ? `unknown option: ${argv[i]}` : `unexpected argument: ${argv[i]}`);
    }
  }
  return o;
}

const PROTOS = ['IPv4', 'IPv6', 'ARP', 'other'];

/** Two namespaces and a veth pair between them; remove() deletes them (and so the veth). */
function makeVeth(): { nsA: string; nsB: string; remove(): void } {
  const nsA = `tsbpf-tc-${process.pid}-a`;
  const nsB = `tsbpf-tc-${process.pid}-b`;
  const remove = (): void => {
    spawnSync('ip', ['netns', 'del', nsA], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', nsB], { stdio: 'ignore' });
  };
  const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    ip('netns', 'add', nsA);
    ip('netns', 'add', nsB);
    ip('-n', nsA, 'link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb', 'netns', nsB);
    ip('-n', nsA, 'addr', 'add', '10.254.0.1/24', 'dev', 'va');
    ip('-n', nsB, 'addr', 'add', '10.254.0.2/24', 'dev', 'vb');
    ip('-n', nsA, 'link', 'set', 'va', 'up');
    ip('-n', nsB, 'link', 'set', 'vb', 'up');
  } catch (e) {
    remove();
    const err = e as { stderr?: Buffer; message: string };
    throw new Error(`cannot create the veth pair: ${String(err.stderr ?? '').trim() || err.message}`);
  }
  return { nsA, nsB, remove };
}

/** A node child in namespace `ns` that sends a UDP datagram to 10.254.0.2:9 every 100 ms. */
function sendTraffic(ns: string): ChildProcess {
  const script = `const s = require('dgram').createSocket('udp4');
    setInterval(() => s.send('tsbpf tc example', 9, '10.254.0.2', () => {}), 100);`;
  return spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: 'ignore' });
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!checkRoot('tc', 'npx tsx examples/tc.ts')) return 1;

  const stopper = new Stopper();
  const skel = open();
  let veth: ReturnType<typeof makeVeth> | undefined;
  let traffic: ChildProcess | undefined;
  try {
    await skel.load();
    veth = makeVeth();
    const nsB = veth.nsB;
    // Interface names and indexes are per namespace: attach from inside it.
    const link: Link = withNetns(nsB, () => {
      try {
        return skel.progs.tc_count_ingress.attachTcx('vb', 'ingress');
      } catch (e) {
        if (!(e instanceof NotSupportedError)) throw e;
        return skel.progs.tc_count_ingress.attachTc('vb', 'ingress'); // no tcx: clsact + cls_bpf
      }
    });
    skel.links.tc_count_ingress = link;
    process.stdout.write(`Counting ingress packets on vb in netns ${nsB} (${link.kind}); Ctrl-C to end.\n`);
    if (opts.traffic) traffic = sendTraffic(veth.nsA);
    else process.stdout.write(`Send traffic with: ip netns exec ${veth.nsA} ping 10.254.0.2\n`);

    while (await stopper.sleep(opts.interval * 1000)) {
      const packets = skel.bss.packets;
      const bytes = skel.bss.bytes;
      let out = `\n${clock()}\n${'PROTO'.padEnd(8)} ${'PACKETS'.padStart(10)} ${'BYTES'.padStart(12)}\n`;
      PROTOS.forEach((p, i) => {
        out += `${p.padEnd(8)} ${String(packets[i]).padStart(10)} ${String(bytes[i]).padStart(12)}\n`;
      });
      process.stdout.write(out);
    }
    return 0;
  } finally {
    traffic?.kill('SIGKILL');
    skel.destroy();
    veth?.remove();
    stopper.dispose();
  }
}

runMain({ tool: 'tc', usage: USAGE }, main);
