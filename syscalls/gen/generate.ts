// `npm run gen:syscalls`: regenerates syscalls/generated/{bpf-attr,bpf-enums}.ts from the running
// kernel's BTF (/sys/kernel/btf/vmlinux, or the file given as the first argument), parsed with
// our own BTF reader. The rendering lives in emit.ts; test/syscalls-gen.test.ts calls
// generateFiles() to check that the committed files are what the generator produces.

import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Btf } from '../../btf/index.js';
import { emitAttr, emitEnums, type BtfSource } from './emit.js';

export const VMLINUX = '/sys/kernel/btf/vmlinux';
export const OUT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'generated');

/** The generated files (name → contents) for the BTF at `path`. */
export function generateFiles(path = VMLINUX): Record<string, string> {
  const btf = Btf.parse(readFileSync(path));
  const src: BtfSource = {
    type: (id) => btf.type(id),
    find(name, kind) {
      const ids = btf.findByName(name, kind);
      if (ids.length === 0) throw new Error(`${path}: no BTF type '${name}' of kind ${kind}`);
      if (ids.length > 1) throw new Error(`${path}: ${ids.length} BTF types named '${name}' of kind ${kind}`);
      return ids[0]!;
    },
  };
  return {
    'bpf-attr.ts': emitAttr(src),
    'bpf-enums.ts': emitEnums(src),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const files = generateFiles(process.argv[2] ?? VMLINUX);
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(OUT_DIR, name), text);
    console.log(`wrote ${join(OUT_DIR, name)} (${text.length} bytes)`);
  }
}
