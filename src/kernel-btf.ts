// The running kernel's BTF, parsed once per process and shared by every object (libbpf re-parses it on
// every load). Parsing is lazy in btf/, so a lookup of a few names doesn't decode the whole graph.

import { readFileSync } from 'node:fs';
import { Btf } from '../btf/index.js';
import { BpfError } from './errors.js';

const VMLINUX_PATH = '/sys/kernel/btf/vmlinux';

let vmlinux: Btf | undefined;
const custom = new Map<string, Btf>();

/** vmlinux BTF, or the BTF at `customPath` (BTFHub-style files for other kernels). */
export function kernelBtf(customPath?: string): Btf {
  if (customPath) {
    let b = custom.get(customPath);
    if (!b) {
      b = Btf.parse(readBtfFile(customPath));
      custom.set(customPath, b);
    }
    return b;
  }
  if (!vmlinux) vmlinux = Btf.parse(readBtfFile(VMLINUX_PATH));
  return vmlinux;
}

function readBtfFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new BpfError(`failed to read kernel BTF from ${path}: ${(e as Error).message}`, {
      cmd: 'load kernel BTF', errno: (e as NodeJS.ErrnoException).errno ? Math.abs((e as NodeJS.ErrnoException).errno!) : 2,
      advice: 'the kernel needs CONFIG_DEBUG_INFO_BTF=y for typed ksyms, kfuncs and CO-RE; or pass btfCustomPath',
      cause: e,
    });
  }
}
