// runqslower: traces scheduler run-queue latency and prints every wake-up that waited longer than a
// threshold. The BPF side is runqslower.bpf.c; runqslower.skel.ts is generated from its object by
// `tsbpf gen skeleton` (see examples/build.ts).
//
//   npx tsx examples/runqslower.ts [-p PID | -t TID] [-P] [-v] [min_us]

import { existsSync } from 'node:fs';
import { BpfError, PerfBuffer, type RecordView } from 'tsbpf';
import { open, type runqslower } from './runqslower.skel.js';

const USAGE = `Usage: runqslower [-h] [-p PID | -t TID] [-P] [-v] [min_us]
Trace high run queue latency.

  min_us        minimum run queue latency to trace, in microseconds (default 10000; 0 traces every wake-up)
  -p, --pid     trace this PID only
  -t, --tid     trace this TID only
  -P, --previous also show the previous task's name and TID
  -v, --verbose  verbose output: what the loader did
  -h, --help    show this help

Examples:
  runqslower          # trace latency higher than 10000 us (default)
  runqslower 1000     # trace latency higher than 1000 us
  runqslower -p 123   # trace pid 123
  runqslower -t 123   # trace tid 123 (use for threads only)
  runqslower -P       # also show previous task name and TID`;

interface Options {
  minUs: number;
  pid: number;
  tid: number;
  previous: boolean;
  verbose: boolean;
}

class UsageError extends Error {}

function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = { minUs: 10000, pid: 0, tid: 0, previous: false, verbose: false };
  let sawMin = false;
  const int = (flag: string, v: string | undefined, max = 0x7fffffff): number => {
    if (v === undefined || !/^\d+$/.test(v) || Number(v) <= 0 || Number(v) > max) throw new UsageError(`invalid ${flag}: ${v ?? '(missing)'}`);
    return Number(v);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    switch (flag) {
      case '-h': case '--help': return 'help';
      case '-v': case '--verbose': o.verbose = true; break;
      case '-P': case '--previous': o.previous = true; break;
      case '-p': case '--pid': o.pid = int('PID', inline ?? argv[++i]); break;
      case '-t': case '--tid': o.tid = int('TID', inline ?? argv[++i]); break;
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option: ${a}`);
        if (sawMin) throw new UsageError(`unexpected argument: ${a}`);
        if (!/^\d+$/.test(a) || Number(a) > Number.MAX_SAFE_INTEGER) throw new UsageError(`invalid min_us: ${a}`);
        o.minUs = Number(a);
        sawMin = true;
    }
  }
  if (o.pid && o.tid) throw new UsageError('-p and -t are mutually exclusive');
  return o;
}

const decoder = new TextDecoder();

/** struct runq_event (runqslower.h): task[16], prev_task[16], u64 delta_us, u32 pid, u32 prev_pid. */
function comm(rec: RecordView, offset: number): string {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = rec.getUint8(offset + i);
  const nul = bytes.indexOf(0);
  return decoder.decode(bytes.subarray(0, nul < 0 ? 16 : nul));
}

function clock(): string {
  const d = new Date();
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

async function main(): Promise<number> {
  let opts: Options | 'help';
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`runqslower: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (opts === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const verbose = opts.verbose ? (msg: string) => process.stderr.write(`runqslower: ${msg}\n`) : () => {};

  if (process.geteuid?.() !== 0) {
    process.stderr.write('runqslower: needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs; try: sudo npx tsx examples/runqslower.ts\n');
    return 1;
  }

  const skel: runqslower = open();
  // Options are .rodata: the verifier sees them as constants and prunes the filters that are off.
  skel.rodata.min_us = BigInt(opts.minUs);
  skel.rodata.targ_tgid = opts.pid;
  skel.rodata.targ_pid = opts.tid;

  // tp_btf programs read task_struct directly; kernels without BTF tracing get the raw_tp twins.
  const btfTracing = existsSync('/sys/kernel/btf/vmlinux');
  const [use, skip] = btfTracing
    ? [['sched_wakeup', 'sched_wakeup_new', 'sched_switch'], ['raw_sched_wakeup', 'raw_sched_wakeup_new', 'raw_sched_switch']]
    : [['raw_sched_wakeup', 'raw_sched_wakeup_new', 'raw_sched_switch'], ['sched_wakeup', 'sched_wakeup_new', 'sched_switch']];
  for (const name of skip) skel.progs[name as keyof runqslower['progs']].autoload = false;
  verbose(`using ${btfTracing ? 'tp_btf' : 'raw_tp'} programs: ${use.join(', ')}`);

  let events: PerfBuffer | undefined;
  // Installed before load, so that Ctrl-C at any moment detaches everything and exits 0.
  let done = false;
  const onSignal = (): void => {
    done = true;
    events?.close();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const stop = (): void => {
    events?.close();
    skel.destroy();
  };
  try {
    await skel.load();
    for (const name of use) {
      const p = skel.progs[name as keyof runqslower['progs']];
      verbose(`loaded ${name} (${p.sectionName}), ${p.insns ? p.insns.length / 8 : 0} instructions`);
    }
    skel.attach();
    verbose(`attached ${Object.values(skel.links).filter(Boolean).length} programs`);

    const header = opts.previous
      ? `${'TIME'.padEnd(8)} ${'COMM'.padEnd(16)} ${'TID'.padEnd(6)} ${'PREV COMM'.padEnd(16)} ${'PREV TID'.padEnd(6)} ${'LAT(us)'.padStart(14)}`
      : `${'TIME'.padEnd(8)} ${'COMM'.padEnd(16)} ${'TID'.padEnd(6)} ${'LAT(us)'.padStart(14)}`;
    process.stdout.write(`Tracing run queue latency higher than ${opts.minUs} us\n${header}\n`);

    const previous = opts.previous;
    events = new PerfBuffer(skel.maps.events, (rec: RecordView) => {
      const delta = rec.getBigUint64(32, true);
      const pid = rec.getUint32(40, true);
      const line = previous
        ? `${clock().padEnd(8)} ${comm(rec, 0).padEnd(16)} ${String(pid).padEnd(6)} ${comm(rec, 16).padEnd(16)} ${String(rec.getUint32(44, true)).padEnd(6)} ${String(delta).padStart(14)}`
        : `${clock().padEnd(8)} ${comm(rec, 0).padEnd(16)} ${String(pid).padEnd(6)} ${String(delta).padStart(14)}`;
      process.stdout.write(`${line}\n`);
    }, {
      onLost: (cpu: number, count: number) => void process.stderr.write(`runqslower: lost ${count} events on CPU #${cpu}\n`),
    });

    while (!done) {
      try {
        await events.poll(100);
      } catch (e) {
        if (done) break;
        throw e;
      }
    }
    stop();
    return 0;
  } catch (e) {
    stop();
    if (e instanceof BpfError) {
      process.stderr.write(`runqslower: ${e.message}\n`);
      if (opts.verbose && e.log) process.stderr.write(`${e.log}\n`);
      return 1;
    }
    throw e;
  }
}

main().then((code) => {
  process.exitCode = code;
}, (e: unknown) => {
  process.stderr.write(`runqslower: ${(e as Error)?.message ?? e}\n`);
  process.exitCode = 1;
});
