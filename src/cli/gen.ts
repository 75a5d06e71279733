// `tsbpf gen skeleton FILE [name NAME]`: a typed TypeScript skeleton on stdout, bpftool's syntax.
//
//   tsbpf gen skeleton minimal.bpf.o > minimal.skel.ts
//   tsbpf gen skeleton minimal.bpf.o name minimal --object-path ./minimal.bpf.o   (reference, don't embed)
//   tsbpf gen skeleton minimal.bpf.o --import ../src/index.js                     (runtime module)

import { generateSkeleton } from '../skeleton/generate.js';
import type { CliOptions } from './options.js';
import { BpfError, NotSupportedError } from '../errors.js';

const USAGE = `Usage: tsbpf gen skeleton FILE [name NAME] [--object-path PATH] [--import MODULE]
       tsbpf gen help

  name NAME            the skeleton's name (default: FILE's name without .o, like bpftool)
  --object-path PATH   load PATH at run time instead of embedding the object (relative to the module)
  --import MODULE      the runtime module the skeleton imports (default: tsbpf)`;

function isPrefix(arg: string, word: string): boolean {
  return arg.length > 0 && word.startsWith(arg);
}

export async function run(args: string[], opts: CliOptions): Promise<number> {
  const verb = args[0];
  if (!verb || verb === 'help' || verb === '--help') {
    (verb ? opts.out : opts.err)(`${USAGE}\n`);
    return verb ? 0 : 1;
  }
  if (!isPrefix(verb, 'skeleton')) {
    if (['subskeleton', 'object', 'min_core_btf'].some((w) => isPrefix(verb, w))) {
      throw new NotSupportedError(`gen ${verb} is not supported by tsbpf`, { errno: 95 });
    }
    opts.err(`Error: unknown gen command '${verb}'\n${USAGE}\n`);
    return 1;
  }
  const file = args[1];
  if (!file) {
    opts.err(`${USAGE}\n`);
    return 1;
  }
  let name: string | undefined;
  let objectPath: string | undefined;
  let runtimeImport: string | undefined;
  for (let i = 2; i < args.length; i++) {
    const a = args[i]!;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new BpfError(`'${a}' needs a value`, { errno: 22 });
      return v;
    };
    if (a === '--object-path') objectPath = value();
    else if (a === '--import') runtimeImport = value();
    else if (isPrefix(a, 'name')) {
      if (name !== undefined) throw new BpfError('object name already specified', { errno: 22 });
      name = value();
    } else throw new BpfError(`unknown arg ${a}`, { errno: 22 });
  }
  if (opts.json) throw new NotSupportedError('gen skeleton prints TypeScript; --json does not apply', { errno: 95 });
  opts.out(generateSkeleton(file, { name, objectPath, runtimeImport }));
  return 0;
}
