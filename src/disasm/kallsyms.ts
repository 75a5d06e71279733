// Kernel symbol names by address, for naming helper and kfunc calls in translated programs: the kernel
// rewrites a call's imm to the callee's address minus __bpf_call_base, and JITed subprograms appear
// in /proc/kallsyms as bpf_prog_<tag>_<name>.

import { readFileSync } from 'node:fs';

export interface KernelSymbols {
  /** Address of __bpf_call_base (0n when unknown, e.g. kptr_restrict hides addresses). */
  readonly callBase: bigint;
  /** The symbol at exactly this address (the first one listed when several share it). */
  nameAt(addr: bigint): string | undefined;
}

const EMPTY: KernelSymbols = { callBase: 0n, nameAt: () => undefined };

let cached: KernelSymbols | undefined;

/** Parses /proc/kallsyms once per process. Without readable addresses, resolves nothing. */
export function kernelSymbols(path = '/proc/kallsyms'): KernelSymbols {
  if (cached && path === '/proc/kallsyms') return cached;
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return EMPTY;
  }
  const byAddr = new Map<string, string>();
  let callBase = 0n;
  let pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    // "ffffffff81000000 T name\t[module]"
    const sp1 = text.indexOf(' ', pos);
    if (sp1 > pos && sp1 < eol) {
      const addr = text.slice(pos, sp1);
      const nameStart = sp1 + 3;
      let nameEnd = text.indexOf('\t', nameStart);
      if (nameEnd < 0 || nameEnd > eol) nameEnd = eol;
      const name = text.slice(nameStart, nameEnd);
      if (!/^0+$/.test(addr) && !byAddr.has(addr)) byAddr.set(addr, name);
      if (name === '__bpf_call_base') callBase = BigInt(`0x${addr}`);
    }
    pos = eol + 1;
  }
  // As bpftool: a zero __bpf_call_base means addresses are hidden, and nothing can be resolved.
  const syms: KernelSymbols = callBase === 0n ? EMPTY : {
    callBase,
    nameAt: (a) => byAddr.get(BigInt.asUintN(64, a).toString(16).padStart(16, '0')),
  };
  if (path === '/proc/kallsyms') cached = syms;
  return syms;
}
