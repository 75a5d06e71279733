// `__ksym` externs: typeless ones get their address from /proc/kallsyms; typed variables and kfuncs are
// found by name in kernel BTF and referenced by BTF id (BPF_PSEUDO_BTF_ID / BPF_PSEUDO_KFUNC_CALL).

import { closeSync, openSync, readSync } from 'node:fs';
import { BTF_KIND, type Btf } from '../btf/index.js';
import { BpfError } from './errors.js';
import { typesAreCompat } from './core/index.js';
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

/** A kernel BTF that ksyms and kfuncs can come from: a module's split BTF (its own types only are searched). */
export interface KsymModuleBtf {
  readonly btf: Btf;
  readonly name: string;
}

export interface ResolveKsymsOptions {
  /** Kernel module BTFs, searched in order after vmlinux (libbpf's find_ksym_btf_id); read on first need. */
  modules?: () => readonly KsymModuleBtf[];
  /** The fd of a module's kernel BTF object (BPF_BTF_GET_FD_BY_ID), for ld_imm64 and fd_array. */
  moduleBtfFd?: (name: string) => number | undefined;
}

/** Resolved ksyms, and the fd_array their kfunc calls index (empty when every kfunc is in vmlinux). */
export interface ResolvedKsyms extends Map<number, ResolvedKsym> {
  /** libbpf's obj->fd_array: index 0 is reserved (vmlinux), then one module BTF fd per module used. */
  fdArray?: number[];
}

/** The first VAR/FUNC named `name` in vmlinux, else in a module (its own types), as libbpf searches. */
function findKernelSym(name: string, kind: number, kernel: () => Btf, modules: (() => readonly KsymModuleBtf[]) | undefined): { btf: Btf; id: number; module?: string } | undefined {
  const kbtf = kernel();
  const id = kbtf.findOne(name, kind);
  if (id !== undefined) return { btf: kbtf, id };
  for (const m of modules?.() ?? []) {
    const own = m.btf.findByName(name, kind).find((i) => i >= m.btf.startId);
    if (own !== undefined) return { btf: m.btf, id: own, module: m.name };
  }
  return undefined;
}

/**
 * Resolves every ksym extern. Unresolved weak ones stay unset (0 for variables, poisoned calls for kfuncs);
 * an unresolved strong one is an error that says which. Typed ones are found in vmlinux BTF, then in
 * module BTFs (referenced through the module BTF object's fd: in ld_imm64 for variables, through the
 * fd_array index for kfunc calls), and their local type must be compatible with the kernel's
 * (bpf_core_types_are_compat), as in libbpf.
 */
export function resolveKsyms(externs: ExternSpec[], localBtf: Btf | undefined, kernel: () => Btf, opts: ResolveKsymsOptions = {}): ResolvedKsyms {
  const resolved: ResolvedKsyms = new Map<number, ResolvedKsym>();
  const typeless = externs.filter((e) => e.kind === 'ksym' && !e.ksym!.typeId && !e.ksym!.isFunc);
  if (typeless.length) {
    const addrs = kallsymsLookup(new Set(typeless.map((e) => e.name)));
    for (const e of typeless) {
      const addr = addrs.get(e.name);
      if (addr !== undefined) resolved.set(externs.indexOf(e), { addr });
    }
  }
  const fdIdx = new Map<string, number>();
  for (const [i, e] of externs.entries()) {
    if (e.kind !== 'ksym' || (!e.ksym!.typeId && !e.ksym!.isFunc)) continue;
    const want = e.ksym!.isFunc ? BTF_KIND.FUNC : BTF_KIND.VAR;
    const found = findKernelSym(e.essentialName, want, kernel, opts.modules);
    if (!found) continue;
    if (localBtf && !ksymTypeCompatible(e, localBtf, found.btf, found.id)) {
      // libbpf: an incompatible weak kfunc is left unresolved; anything else is an error.
      if (e.ksym!.isFunc && e.isWeak) continue;
      throw incompatible(e, localBtf, found.btf, found.id);
    }
    if (found.module === undefined) {
      resolved.set(i, { kernelBtfId: found.id, btfObjFd: 0, btfFdIdx: 0 });
      continue;
    }
    const fd = opts.moduleBtfFd?.(found.module);
    if (fd === undefined) {
      throw new BpfError(`extern '${e.name}' is in kernel module '${found.module}', but its BTF object could not be opened`, {
        cmd: 'resolve externs', errno: 3, advice: 'the module may have been unloaded; load it (modprobe) and retry',
      });
    }
    let idx = 0;
    if (e.ksym!.isFunc) {
      idx = fdIdx.get(found.module) ?? 0;
      if (!idx) {
        resolved.fdArray ??= [0];
        idx = resolved.fdArray.length;
        if (idx > 0x7fff) throw new BpfError('too many kernel module BTFs in fd_array', { cmd: 'resolve externs', errno: 7 });
        resolved.fdArray.push(fd);
        fdIdx.set(found.module, idx);
      }
    }
    resolved.set(i, { kernelBtfId: found.id, btfObjFd: fd, btfFdIdx: idx });
  }
  for (const e of externs) {
    if (e.kind !== 'ksym' || resolved.has(externs.indexOf(e)) || e.isWeak) continue;
    const typed = e.ksym!.typeId || e.ksym!.isFunc;
    throw new BpfError(`extern '${e.name}' (strong) not resolved`, {
      // libbpf's errnos: a typed ksym or kfunc that kernel BTF lacks fails its BTF resolution step,
      // which libbpf reports as EINVAL; a typeless one missing from kallsyms is ESRCH.
      cmd: 'resolve externs', errno: typed ? 22 : 3,
      advice: typed
        ? `no ${e.ksym!.isFunc ? 'FUNC' : 'VAR'} named '${e.essentialName}' in the kernel's BTF or its modules' (typed data ksyms also need the symbol in /proc/kallsyms); mark it __weak to make it optional`
        : `'${e.name}' is not in /proc/kallsyms (this kernel may hide data symbols, or kptr_restrict may hide addresses); mark it __weak to make it optional`,
    });
  }
  return resolved;
}

/**
 * libbpf's checks: a typed variable's declared type against the kernel VAR's type, a kfunc's local
 * FUNC_PROTO against the kernel FUNC's, both with bpf_core_types_are_compat.
 */
export function ksymTypeCompatible(e: ExternSpec, local: Btf, kernel: Btf, kernelId: number): boolean {
  const kt = kernel.type(kernelId);
  if (kt.kind !== BTF_KIND.VAR && kt.kind !== BTF_KIND.FUNC) return false;
  return typesAreCompat(local, e.ksym!.typeId, kernel, kt.type) > 0;
}

function incompatible(e: ExternSpec, local: Btf, kernel: Btf, kernelId: number): BpfError {
  const kt = kernel.type(kernelId);
  const describe = (btf: Btf, id: number): string => {
    const t = btf.type(id);
    return `[${id}] ${t.kind === BTF_KIND.FUNC_PROTO ? describeProto(btf, id) : (t.name || kindName(t.kind))}`;
  };
  const kType = kt.kind === BTF_KIND.VAR || kt.kind === BTF_KIND.FUNC ? kt.type : kernelId;
  const what = e.ksym!.isFunc ? 'func ksym' : 'var ksym';
  return new BpfError(`extern (${what}) '${e.name}': incompatible types: local ${describe(local, e.ksym!.typeId)}, but the kernel has ${describe(kernel, kType)} (kernel ${e.ksym!.isFunc ? 'FUNC' : 'VAR'} [${kernelId}])`, {
    cmd: 'resolve externs', errno: 22,
    advice: e.ksym!.isFunc ? 'fix the extern declaration to match the kernel\'s prototype (see bpftool btf dump file /sys/kernel/btf/vmlinux format c)' : 'declare the extern with the kernel\'s type',
  });
}

function describeProto(btf: Btf, id: number): string {
  const t = btf.type(id);
  if (t.kind !== BTF_KIND.FUNC_PROTO) return t.name;
  return `func_proto with ${t.params.length} parameter${t.params.length === 1 ? '' : 's'}`;
}

function kindName(kind: number): string {
  return Object.entries(BTF_KIND).find(([, v]) => v === kind)?.[0]?.toLowerCase() ?? `kind ${kind}`;
}
