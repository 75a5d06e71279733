// What every example program shares: argument errors that print the usage (no stack traces), the
// root check, Ctrl-C/SIGTERM handling that is installed before anything is loaded, and the
// wall-clock prefix of output lines. Not part of tsbpf: a few lines each example would repeat.

import { BpfError } from 'tsbpf';

/** A bad flag or value: the example prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** A decimal integer flag value in [min, max]. */
export function intArg(name: string, v: string | undefined, min = 1, max = 0x7fffffff): number {
  if (v === undefined || !/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`invalid ${name}: ${v ?? '(missing)'}`);
  return Number(v);
}

/** Splits '--flag=value' into its flag and inline value. */
export function splitFlag(a: string): [string, string | undefined] {
  if (a.startsWith('--') && a.includes('=')) return [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)];
  return [a, undefined];
}

/** HH:MM:SS, local time. */
export function clock(): string {
  const d = new Date();
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/**
 * SIGINT and SIGTERM request a stop instead of killing the process, so that the example detaches
 * everything and exits 0. Install it before loading: a Ctrl-C during the load is then honoured too.
 */
export class Stopper {
  stopped = false;
  private readonly waiters = new Set<() => void>();
  private readonly hooks: (() => void)[] = [];

  constructor() {
    const on = (): void => this.stop();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, on);
      this.hooks.push(() => process.removeListener(sig, on));
    }
  }

  /** Stops: every sleep() returns at once, and `onStop` callbacks run. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const w of [...this.waiters]) w();
  }

  /** Runs `fn` when stop() is called (at once if stopped already). */
  onStop(fn: () => void): void {
    if (this.stopped) fn();
    else this.waiters.add(fn);
  }

  /** Waits `ms` or until stopped; true if it slept the whole time. */
  sleep(ms: number): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve(true);
      }, ms);
      this.waiters.add(done);
    });
  }

  /** Removes the signal handlers (signals kill the process again). */
  dispose(): void {
    for (const h of this.hooks.splice(0)) h();
  }
}

export interface MainOptions {
  /** Program name for messages. */
  tool: string;
  usage: string;
}

/**
 * Runs an example's main: usage errors print the usage and exit 2; without root, a one-line
 * message and exit 1; tsbpf errors are one line (plus the verifier log with `verbose`) and exit 1.
 */
export function runMain(o: MainOptions, main: () => Promise<number>, verbose: () => boolean = () => false): void {
  const fail = (e: unknown): number => {
    if (e instanceof UsageError) {
      process.stderr.write(`${o.tool}: ${e.message}\n${o.usage}\n`);
      return 2;
    }
    process.stderr.write(`${o.tool}: ${(e as Error)?.message ?? e}\n`);
    if (e instanceof BpfError && verbose() && e.log) process.stderr.write(`${e.log}\n`);
    return 1;
  };
  // A closed pipe (\`| head\`) ends the program quietly; the kernel detaches what its fds held.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  main().then((code) => {
    process.exitCode = code;
  }, (e: unknown) => {
    process.exitCode = fail(e);
  });
}

/** The root check every example makes before touching the kernel; false after printing why. */
export function checkRoot(tool: string, command: string): boolean {
  if (process.geteuid?.() === 0) return true;
  process.stderr.write(`${tool}: needs root (or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN) to load BPF programs; try: sudo ${command}\n`);
  return false;
}
