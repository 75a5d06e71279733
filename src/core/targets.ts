// Where CO-RE looks for target types: libbpf's bpf_core_find_cands / bpf_core_add_cands.
//
// A candidate for a local type is a target type of a compatible kind (the same kind, or ENUM/ENUM64
// for either) whose essential name (without `___flavor`) equals the local type's. vmlinux (or the
// btfCustomPath override) is searched first; kernel modules only when vmlinux has no candidate and
// there is no override.
//
// libbpf scans all target types for every new local type, comparing essential names. Here each
// target BTF gets a CandidateIndex that asks Btf.findByNamePrefix for the types of the kind whose
// name starts with the essential name (one scan of that kind's name offsets, comparing raw bytes),
// then keeps those whose own essential name is exactly it: `task_struct` and `task_struct___v2`,
// not `task_struct_ext`. Only the prefix matches are decoded, and nothing is hashed, which matters
// in a fresh process where a hash index of vmlinux names costs more than the whole load.

import type { Btf } from '../../btf/index.js';
import { BTF_KIND } from '../../btf/index.js';
import { essentialName, essentialNameLen } from './names.js';

export interface CoreCandidate {
  readonly btf: Btf;
  readonly id: number;
  /** 'vmlinux', a module name, or the custom BTF's path. */
  readonly source: string;
}

/** A target BTF that can be searched for candidates. */
export interface CoreTargetBtf {
  readonly btf: Btf;
  /** 'vmlinux', the module name, or a path. */
  readonly name: string;
  /** Ids of own types (split BTF: not the base's) of a kind compatible with `localKind`, named `essential` or a flavor of it, ascending. */
  candidates(localKind: number, essential: string): readonly number[];
}

/**
 * Candidate lookup for one object load (libbpf keeps its candidate cache per bpf_object__relocate
 * call, and prunes a cached list to the candidates that matched). Build one with
 * kernelCoreTargets() (src/kernel-btf.ts) or createCoreTargets(), and use it for every program of
 * one object load.
 */
export interface CoreTargets {
  /** Candidate list for a named local type, cached per (local Btf, type id); the engine prunes it in place. */
  candidates(local: Btf, localTypeId: number): CoreCandidate[];
  /** Where candidates come from, for messages: 'vmlinux', 'vmlinux and kernel modules', 'custom BTF /path'. */
  describe(): string;
  /** 'kernel' for vmlinux and modules, 'custom' for an override BTF (wording of messages). */
  readonly kind: 'kernel' | 'custom';
}

function kindsFor(localKind: number): number[] {
  return localKind === BTF_KIND.ENUM || localKind === BTF_KIND.ENUM64 ? [BTF_KIND.ENUM, BTF_KIND.ENUM64] : [localKind];
}

/**
 * Candidate search over one target BTF (vmlinux, a module's split BTF, or a custom BTF). Answers are
 * remembered per (kind, essential name): the kernel's index lives as long as the process, so repeated
 * loads search nothing. The target BTF must not be modified once indexed.
 */
export class CandidateIndex implements CoreTargetBtf {
  readonly btf: Btf;
  readonly name: string;
  private readonly found = new Map<string, readonly number[]>();

  constructor(btf: Btf, name: string) {
    this.btf = btf;
    this.name = name;
  }

  /**
   * libbpf's bpf_core_add_cands: own types of a compatible kind whose essential name is `essential`
   * (same length, same bytes), ascending ids. Shared: do not modify the array.
   */
  candidates(localKind: number, essential: string): readonly number[] {
    // ENUM and ENUM64 search the same kinds.
    const key = `${localKind === BTF_KIND.ENUM64 ? BTF_KIND.ENUM : localKind}:${essential}`;
    let ids = this.found.get(key);
    if (!ids) {
      ids = this.search(localKind, essential);
      this.found.set(key, ids);
    }
    return ids;
  }

  private search(localKind: number, essential: string): number[] {
    const btf = this.btf;
    const len = essential.length;
    const out: number[] = [];
    for (const kind of kindsFor(localKind)) {
      for (const id of btf.findByNamePrefix(essential, kind)) {
        if (id < btf.startId) continue;
        const n = btf.name(id);
        if (essentialNameLen(n) === len) out.push(id);
      }
    }
    // Ascending ids, as libbpf's linear scan finds them (one id per kind scan, so no duplicates).
    return out.sort((a, b) => a - b);
  }
}

export interface CreateCoreTargetsOptions {
  /** vmlinux, or the override (then modules are never searched). */
  main: CoreTargetBtf;
  /** Module BTFs, loaded on first need (when the main BTF has no candidate for a type). */
  modules?: () => readonly CoreTargetBtf[];
  /** True when `main` is a btfCustomPath override (modules are then not searched, as in libbpf). */
  custom?: boolean;
}

/** A CoreTargets with a fresh candidate cache. */
export function createCoreTargets(opts: CreateCoreTargetsOptions): CoreTargets {
  const cache = new WeakMap<Btf, Map<number, CoreCandidate[]>>();
  let modules: readonly CoreTargetBtf[] | undefined;
  let searchedModules = false;
  return {
    kind: opts.custom ? 'custom' : 'kernel',
    describe(): string {
      if (opts.custom) return `custom BTF ${opts.main.name}`;
      return searchedModules && modules && modules.length > 0 ? `${opts.main.name} and ${modules.length} kernel module(s)` : opts.main.name;
    },
    candidates(local: Btf, localTypeId: number): CoreCandidate[] {
      let perBtf = cache.get(local);
      if (!perBtf) cache.set(local, (perBtf = new Map()));
      const hit = perBtf.get(localTypeId);
      if (hit) return hit;
      const localName = local.name(localTypeId);
      const localKind = local.kind(localTypeId);
      const ess = essentialName(localName);
      const out: CoreCandidate[] = [];
      if (ess !== '') {
        for (const id of opts.main.candidates(localKind, ess)) out.push({ btf: opts.main.btf, id, source: opts.main.name });
        if (out.length === 0 && !opts.custom && opts.modules) {
          if (!modules) modules = opts.modules();
          searchedModules = true;
          for (const m of modules) {
            for (const id of m.candidates(localKind, ess)) out.push({ btf: m.btf, id, source: m.name });
          }
        }
      }
      perBtf.set(localTypeId, out);
      return out;
    },
  };
}
