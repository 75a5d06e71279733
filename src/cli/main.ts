// The `tsbpf` command, with bpftool's verb syntax: `tsbpf [--json] OBJECT VERB ...`.
// Each object lives in its own module beside this one (gen.ts, build.ts, btf.ts, prog.ts, map.ts, link.ts, feature.ts),
// exporting `run(args, opts): Promise<number>`, so that adding a verb touches no shared file.

import { writeSync } from 'node:fs';
import { BpfError } from '../errors.js';
import { tsbpfVersion } from '../version.js';
import type { CliCommand, CliOptions } from './options.js';

export type { CliCommand, CliOptions } from './options.js';

// Static importers, not `import(\`./${name}.js\`)`: bundlers (Electron tooling) can follow them, and a
// missing module is a packaging bug to report, not an object to call unimplemented.
const OBJECTS: Record<string, () => Promise<{ run: CliCommand }>> = {
  gen: () => import('./gen.js'),
  build: () => import('./build.js'),
  btf: () => import('./btf.js'),
  prog: () => import('./prog.js'),
  map: () => import('./map.js'),
  link: () => import('./link.js'),
  feature: () => import('./feature.js'),
};
const OBJECT_NAMES = Object.keys(OBJECTS);

const USAGE = `Usage: tsbpf [--json|-j] [--pretty|-p] OBJECT COMMAND ...
       tsbpf build FILE.bpf.c ... [--out-dir DIR] [--cflags "..."] [--watch]
       tsbpf --version
  OBJECT := { ${OBJECT_NAMES.join(' | ')} }
  e.g.    tsbpf gen skeleton FILE.bpf.o [name NAME]
          tsbpf btf dump file /sys/kernel/btf/vmlinux format c
          tsbpf prog list
  Each OBJECT has its own help: tsbpf OBJECT help`;

export async function main(argv: string[], io: Pick<CliOptions, 'out' | 'err' | 'outBytes'> = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  outBytes: writeStdout,
}): Promise<number> {
  const opts: CliOptions = { json: false, pretty: false, ...io };
  const args: string[] = [];
  for (const a of argv) {
    // Like bpftool, the output flags may stand anywhere; help and version only before the object,
    // after it `help` belongs to the object (`tsbpf prog help`).
    if (a === '--json' || a === '-j') opts.json = true;
    else if (a === '--pretty' || a === '-p') opts.json = opts.pretty = true;
    else if (args.length === 0 && (a === '--help' || a === '-h' || a === 'help')) return usage(io, 0);
    else if (args.length === 0 && (a === '--version' || a === '-V' || a === 'version')) {
      io.out(opts.json ? `${JSON.stringify({ version: tsbpfVersion() })}\n` : `tsbpf v${tsbpfVersion()}\n`);
      return 0;
    } else args.push(a);
  }
  const object = args.shift();
  if (!object) return usage(io, 1);
  // bpftool accepts any unique prefix of an object name ('p' for prog is ambiguous, 'pr' is not).
  const matches = OBJECT_NAMES.filter((o) => o.startsWith(object));
  const name = OBJECT_NAMES.includes(object) ? object : matches.length === 1 ? matches[0] : undefined;
  if (!name) {
    io.err(matches.length > 1
      ? `tsbpf: '${object}' is ambiguous: ${matches.join(', ')}\n`
      : `tsbpf: unknown object '${object}'\n`);
    return usage(io, 1);
  }
  const mod = await OBJECTS[name]!();
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
