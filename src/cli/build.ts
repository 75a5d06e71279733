// `tsbpf build FILE.bpf.c ... [--out-dir DIR] [--cflags "..."] [--btf FILE] [--watch]`: compiles BPF C
// sources with clang against a vmlinux.h of the running kernel, and writes each object's typed
// skeleton beside it. bpf2go's and libbpf-cargo's job, for npm projects.

import { relative, resolve, sep } from 'node:path';
import { BuildWatcher, buildBpf, cacheDir, toolchain, type BuildOptions, type BuildResult } from '../build/index.js';
import { BpfError, NotSupportedError } from '../errors.js';
import type { CliOptions } from './options.js';

const USAGE = `Usage: tsbpf build FILE.bpf.c ... [OPTIONS]

  Compiles each FILE with clang (-target bpf -g -O2 -D__TARGET_ARCH_<arch>), with a vmlinux.h made from
  the running kernel's BTF on the include path, and writes FILE.bpf.o and its typed skeleton FILE.skel.ts.

  --out-dir DIR      write the outputs to DIR (default: beside each source)
  --cflags "..."     more clang arguments, after tsbpf's own (e.g. "-I include -DDEBUG")
  --btf FILE         make vmlinux.h from FILE (raw BTF or a vmlinux image) instead of this kernel's
  --import MODULE    the module skeletons import the runtime from (default: tsbpf)
  --no-strip         keep DWARF in the object (default: stripped with llvm-strip, BTF stays)
  --type NAME        export a named BTF type from the skeleton (not supported yet)
  --watch            rebuild when a source or a header it includes changes; Ctrl-C to stop

  Environment: CLANG picks the compiler (default: clang, else the newest clang-NN on PATH);
  TSBPF_CACHE_DIR moves the vmlinux.h cache (default: node_modules/.cache/tsbpf).`;

/** Splits --cflags like a shell would for plain words and quotes ('a b' "c d" e\ f); no expansions. */
export function splitFlags(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new BpfError(`--cflags: unterminated ${quote} quote in '${text}'`, { errno: 22 });
  if (inWord) out.push(cur);
  return out;
}

interface Parsed {
  sources: string[];
  opts: BuildOptions;
  types: string[];
  watch: boolean;
}

function parse(args: string[]): Parsed {
  const p: Parsed = { sources: [], opts: {}, types: [], watch: false };
  const cflags: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    // Both `--flag value` and `--flag=value`.
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = args[++i];
      if (v === undefined) throw new BpfError(`${a} needs a value`, { errno: 22, advice: 'see tsbpf build help' });
      return v;
    };
    switch (flag) {
      case '--out-dir': case '-o': p.opts.outDir = value(); break;
      case '--cflags': cflags.push(...splitFlags(value())); break;
      case '--btf': p.opts.btf = value(); break;
      case '--import': p.opts.runtimeImport = value(); break;
      case '--type': p.types.push(value()); break;
      case '--no-strip': p.opts.strip = false; break;
      case '--watch': case '-w': p.watch = true; break;
      default:
        if (a.startsWith('-')) throw new BpfError(`unknown option '${a}'`, { errno: 22, advice: 'see tsbpf build help' });
        p.sources.push(a);
    }
  }
  if (cflags.length) p.opts.cflags = cflags;
  return p;
}

export async function run(args: string[], opts: CliOptions): Promise<number> {
  if (args[0] === 'help' || args[0] === '--help' || args[0] === '-h') {
    opts.out(`${USAGE}\n`);
    return 0;
  }
  const p = parse(args);
  if (p.sources.length === 0) {
    opts.err(`${USAGE}\n`);
    return 1;
  }
  if (p.types.length) {
    throw new NotSupportedError(`--type ${p.types.join(', ')}: exporting named BTF types from skeletons is not supported yet`, {
      errno: 95, cmd: 'build',
      advice: 'drop --type; skeletons type globals, maps and programs, and records are read through their DataView until then',
    });
  }
  const show = (path: string): string => {
    const r = relative(process.cwd(), path);
    return r && !r.startsWith(`..${sep}`) ? r : path;
  };
  // --json: one array at the end; under --watch, which has no end, one line per build.
  const report: object[] = [];
  const record = (entry: object): void => {
    if (p.watch) opts.out(`${JSON.stringify(entry)}\n`);
    else report.push(entry);
  };
  const buildOne = async (source: string): Promise<BuildResult | undefined> => {
    try {
      const r = await buildBpf(source, { ...p.opts, diagnostics: opts.err });
      if (opts.json) record({ source: r.source, ok: true, name: r.name, object: r.object, skeleton: r.skeleton });
      else opts.out(`${show(source)} → ${show(r.object)}, ${show(r.skeleton)}\n`);
      return r;
    } catch (e) {
      if (!(e instanceof BpfError)) throw e;
      if (opts.json) record({ source: resolve(source), ok: false, error: e.message });
      else opts.err(`tsbpf build: ${e.message}\n`);
      return undefined;
    }
  };

  // Tool problems are the same for every source: report them once, before compiling anything.
  toolchain();

  if (!p.watch) {
    let failed = 0;
    for (const s of p.sources) if (!(await buildOne(s))) failed++;
    if (opts.json) opts.out(`${JSON.stringify(report, null, opts.pretty ? 2 : undefined)}\n`);
    return failed ? 1 : 0;
  }

  const ignoredDirs = [...toolchain().systemIncludeDirs, cacheDir(), '/usr/include'].map((d) => resolve(d) + sep);
  const watcher = new BuildWatcher(p.sources.map((s) => resolve(s)), {
    build: buildOne,
    ignore: (f) => ignoredDirs.some((d) => f.startsWith(d)),
  });
  await watcher.idle();
  opts.err(`tsbpf build: watching ${p.sources.length} source(s) and their headers; Ctrl-C to stop\n`);
  // Runs until a signal; the exit status says whether the last build of every source succeeded.
  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  watcher.close();
  await watcher.idle();
  return watcher.allOk ? 0 : 1;
}
