#!/usr/bin/env node
// The `tsbpf` command, with bpftool's verb syntax: `tsbpf [--json] OBJECT VERB ...`.
// Each object lives in its own module under cli/ (gen.ts, btf.ts, prog.ts, map.ts, link.ts, feature.ts),
// exporting `run(args, opts): Promise<number>`, so that adding a verb touches no shared file.

import { writeSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { BpfError } from './errors.js';

export interface CliOptions {
  json: boolean;
  pretty: boolean;
  out: (text: string) => void;
  err: (text: string) => void;
  /**
   * Writes raw bytes to stdout (big outputs skip the string round trip); `out` is used when absent.
   * May be called several times; the bytes may be reused once it returns.
   */
  outBytes?: (bytes: Uint8Array) => void;
}

export type CliCommand = (args: string[], opts: CliOptions) => Promise<number>;

const OBJECTS = ['gen', 'btf', 'prog', 'map', 'link', 'feature'] as const;

const USAGE = `Usage: tsbpf [--json|-j] [--pretty|-p] OBJECT COMMAND ...
  OBJECT := { ${OBJECTS.join(' | ')} }
  e.g.    tsbpf gen skeleton FILE.bpf.o [name NAME]
          tsbpf btf dump file /sys/kernel/btf/vmlinux format c`;

export async function main(argv: string[], io: Pick<CliOptions, 'out' | 'err' | 'outBytes'> = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  outBytes: writeStdout,
}): Promise<number> {
  const opts: CliOptions = { json: false, pretty: false, ...io };
  const args: string[] = [];
  for (const a of argv) {
    if (a === '--json' || a === '-j') opts.json = true;
    else if (a === '--pretty' || a === '-p') opts.json = opts.pretty = true;
    else if (a === '--help' || a === '-h' || a === 'help') return usage(io, 0);
    else args.push(a);
  }
  const object = args.shift();
  if (!object) return usage(io, 1);
  // bpftool accepts any unique prefix of an object name ('p' for prog is ambiguous, 'pr' is not).
  const matches = OBJECTS.filter((o) => o.startsWith(object));
  const name = matches.length === 1 ? matches[0] : OBJECTS.find((o) => o === object);
  if (!name) {
    io.err(`tsbpf: unknown object '${object}'\n`);
    return usage(io, 1);
  }
  let mod: { run?: CliCommand };
  try {
    mod = (await import(`./cli/${name}.js`)) as { run?: CliCommand };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      io.err(`tsbpf: '${name}' is not implemented yet\n`);
      return 2;
    }
    throw e;
  }
  if (!mod.run) throw new Error(`cli/${name} exports no run()`);
  try {
    return await mod.run(args, opts);
  } catch (e) {
    if (e instanceof BpfError) {
      if (opts.json) io.out(`${JSON.stringify({ error: e.message, errno: e.errno || undefined, code: e.code })}\n`);
      else io.err(`Error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** Where writeStdout's bytes go: fd 1 directly, process.stdout once fd 1 filled up, nowhere once closed. */
let stdoutMode: 'fd' | 'stream' | 'closed' = 'fd';

/**
 * Writes to fd 1 directly with write(2), without initializing process.stdout (a stream, loaded on first
 * use): `btf dump` writes megabytes. A non-blocking stdout that fills up hands the rest, and every later
 * write, to process.stdout, which waits for it (copies: the caller may reuse its bytes); a closed reader
 * (EPIPE, e.g. `| head`) ends the output quietly.
 */
function writeStdout(bytes: Uint8Array): void {
  if (stdoutMode === 'closed') return;
  if (stdoutMode === 'stream') {
    if (!process.stdout.destroyed) process.stdout.write(Buffer.from(bytes));
    return;
  }
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(1, bytes, off, bytes.length - off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        stdoutMode = 'stream';
        // The stream reports a reader that leaves as an 'error' event, which would kill the process.
        process.stdout.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EPIPE') throw err;
          stdoutMode = 'closed';
          process.stdout.destroy();
        });
        process.stdout.write(Buffer.from(bytes.subarray(off)));
        return;
      }
      if (code === 'EPIPE') {
        stdoutMode = 'closed';
        return;
      }
      throw e;
    }
  }
}

function usage(io: Pick<CliOptions, 'out' | 'err'>, code: number): number {
  (code ? io.err : io.out)(`${USAGE}\n`);
  return code;
}

// Run when executed directly (node dist/src/cli.js, or tsx src/cli.ts), not when imported by tests.
const invoked = process.argv[1] ?? '';
if (/[\\/]cli\.(ts|js)$/.test(invoked)) {
  // A short-lived process: TurboFan's inlining costs more compile time than it saves here (vmlinux's
  // `btf dump format c` uses ~15% less CPU without it, and no more wall time; bench/btf-dump.ts).
  // Compiles run on a second thread, which a busy machine may not have spare.
  setFlagsFromString('--no-turbo-inlining');
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  }, (e: unknown) => {
    process.stderr.write(`tsbpf: internal error: ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 70;
  });
}
