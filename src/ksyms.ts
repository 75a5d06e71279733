// `__ksym` externs: typeless ones get their address from /proc/kallsyms; typed variables and kfuncs are
// found by name in kernel BTF and referenced by BTF id (BPF_PSEUDO_BTF_ID / BPF_PSEUDO_KFUNC_CALL).

import { closeSync, openSync, readSync } from 'node:fs';
import { BTF_KIND, type Btf } from '../btf/index.js';
import { BpfError } from './errors.js';
import type { ExternSpec } from './spec/types.js';

export interface ResolvedKsym {
  /** Typeless ksym address. */
  addr?: bigint;
  /** BTF id of the VAR or FUNC in the kernel BTF that holds it. */
  kernelBtfId?: number;
  /** fd of the module BTF object (0 for vmlinux). */
  btfObjFd?: number;
  /** Index into the program's fd_array (0 for vmlinux). */
  btfFdIdx?: number;
}

/** Reads a procfs file whole: procfs reports size 0, so read in large chunks until EOF. */
function readProcFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    // One reused, pre-faulted buffer: fresh uninitialized buffers made these reads ~10x slower here.
    const buf = Buffer.alloc(1 << 20);
    let text = '';
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      text += buf.toString('latin1', 0, n);
    }
    return text;
  } finally {
    closeSync(fd);
  }
}

/**
 * Addresses for the requested names, from /proc/kallsyms ("ffffffff8151f8f0 T name\t[module]" lines).
 * A few names are wanted out of ~120k lines, so each is found with a native substring search.
 */
export function kallsymsLookup(names: Set<string>, path = '/proc/kallsyms'): Map<string, bigint> {
  const out = new Map<string, bigint>();
  let text: string;
  try {
    text = readProcFile(path);
  } catch (e) {
    throw new BpfError(`failed to read ${path}: ${(e as Error).message}`, { cmd: 'resolve externs', errno: 2, cause: e });
  }
  const record = (name: string, addr: bigint): void => {
    const prev = out.get(name);
    if (prev !== undefined && prev !== addr) {
      throw new BpfError(`extern (ksym) '${name}': resolution is ambiguous: 0x${prev.toString(16)} or 0x${addr.toString(16)}`, { cmd: 'resolve externs', errno: 22 });
    }
    out.set(name, addr);
  };
  for (const name of names) {
    let at = text.indexOf(` ${name}`);
    while (at >= 0) {
      const after = text.charCodeAt(at + 1 + name.length);
      const lineStart = text.lastIndexOf('\n', at) + 1;
      // The name must be the whole third field: followed by end of line, a tab, or LTO's '.llvm.N' on data symbols.
      const typeAt = at - 1;
      const isData = text[typeAt] === 'd';
      const exact = after === 10 || after === 9 || Number.isNaN(after);
      const llvm = isData && text.startsWith('.llvm.', at + 1 + name.length);
      if ((exact || llvm) && text[typeAt - 1] === ' ' && typeAt - 1 > lineStart) {
        record(name, BigInt(`0x${text.slice(lineStart, typeAt - 1)}`));
      }
      at = text.indexOf(` ${name}`, at + 1);
    }
  }
  return out;
}

/**
 * Resolves every ksym extern. Unresolved weak ones stay unset (0 for variables, poisoned calls for kfuncs);
 * an unresolved strong one is an error that says which.
 */
export function resolveKsyms(externs: ExternSpec[], localBtf: Btf | undefined, kernel: () => Btf): Map<number, ResolvedKsym> {
  const resolved = new Map<number, ResolvedKsym>();
  const typeless = externs.filter((e) => e.kind === 'ksym' && !e.ksym!.typeId && !e.ksym!.isFunc);
  if (typeless.length) {
    const addrs = kallsymsLookup(new Set(typeless.map((e) => e.name)));
    for (const e of typeless) {
      const addr = addrs.get(e.name);
      if (addr !== undefined) resolved.set(externs.indexOf(e), { addr });
    }
  }
  for (const e of externs) {
    if (e.kind !== 'ksym' || (!e.ksym!.typeId && !e.ksym!.isFunc)) continue;
    const kbtf = kernel();
    const want = e.ksym!.isFunc ? BTF_KIND.FUNC : BTF_KIND.VAR;
    const id = kbtf.findOne(e.essentialName, want);
    if (id === undefined) continue;
    if (e.ksym!.isFunc && localBtf) checkKfuncCompat(e, localBtf, kbtf, id);
    resolved.set(externs.indexOf(e), { kernelBtfId: id, btfObjFd: 0, btfFdIdx: 0 });
  }
  for (const e of externs) {
    if (e.kind !== 'ksym' || resolved.has(externs.indexOf(e)) || e.isWeak) continue;
    const typed = e.ksym!.typeId || e.ksym!.isFunc;
    throw new BpfError(`extern '${e.name}' (strong) not resolved`, {
      cmd: 'resolve externs', errno: 3,
      advice: typed
        ? `no ${e.ksym!.isFunc ? 'FUNC' : 'VAR'} named '${e.essentialName}' in the kernel's BTF (typed data ksyms also need the symbol in /proc/kallsyms); mark it __weak to make it optional`
        : `'${e.name}' is not in /proc/kallsyms (this kernel may hide data symbols, or kptr_restrict may hide addresses); mark it __weak to make it optional`,
    });
  }
  return resolved;
}

/** A kfunc's local prototype must have the kernel's number of parameters (libbpf checks full compatibility). */
function checkKfuncCompat(e: ExternSpec, local: Btf, kernel: Btf, kernelFuncId: number): void {
  const lp = local.type(e.ksym!.typeId);
  const kf = kernel.type(kernelFuncId);
  if (kf.kind !== BTF_KIND.FUNC || lp.kind !== BTF_KIND.FUNC_PROTO) return;
  const kp = kernel.type(kf.type);
  if (kp.kind !== BTF_KIND.FUNC_PROTO) return;
  if (kp.params.length !== lp.params.length) {
    throw new BpfError(`extern (func ksym) '${e.name}': func_proto [${e.ksym!.typeId}] is incompatible with the kernel's [${kernelFuncId}]: ${lp.params.length} vs ${kp.params.length} parameters`, {
      cmd: 'resolve externs', errno: 22,
    });
  }
}
