// Where CO-RE looks for target types: libbpf's bpf_core_find_cands / bpf_core_add_cands.
//
// A candidate for a local type is a target type of a compatible kind (the same kind, or ENUM/ENUM64
// for either) whose essential name (without `___flavor`) equals the local type's. vmlinux (or the
// btfCustomPath override) is searched first; kernel modules only when vmlinux has no candidate and
// there is no override.
//
// libbpf scans all target types for every new local type. Here each target BTF gets a
// CandidateIndex: exact names go through Btf.findByName (a hash index over raw name bytes, built
// per kind on first use), and names with a flavor separator (vmlinux has a few, e.g.
// `nf_conn___init`) are found once by scanning the raw string section. Nothing decodes all types.

import type { Btf } from '../../btf/index.js';
import { BTF_KIND } from '../../btf/index.js';
import { essentialName, flavoredNamesIn } from './names.js';

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
  candidates(localKind: number, essential: string): number[];
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
 * Candidate index over one target BTF. With `strings` (the BTF's raw string section), flavored
 * names are found by one native search of the section for "___"; a split BTF's index adds its
 * base's (module type names may live in vmlinux's strings). Without `strings`, the names of all
 * own types are decoded once instead (fine for small BTF).
 */
export class CandidateIndex implements CoreTargetBtf {
  readonly btf: Btf;
  readonly name: string;
  private readonly strings: Uint8Array | undefined;
  private readonly base: CandidateIndex | undefined;
  private flavored: Map<string, string[]> | undefined;

  constructor(btf: Btf, name: string, strings?: Uint8Array, base?: CandidateIndex) {
    this.btf = btf;
    this.name = name;
    this.strings = strings;
    this.base = base;
  }

  /** Names of this BTF (and its base's strings) whose essential name is `essential`, other than itself. */
  flavorsOf(essential: string): readonly string[] {
    return this.flavoredNames().get(essential) ?? [];
  }

  /** All flavored names by essential name (computed on first use). */
  flavoredNames(): Map<string, string[]> {
    if (this.flavored) return this.flavored;
    let m: Map<string, string[]>;
    if (this.strings) {
      m = new Map();
      if (this.base) for (const [k, v] of this.base.flavoredNames()) m.set(k, [...v]);
      flavoredNamesIn(this.strings, m);
    } else {
      m = this.scanNames();
    }
    this.flavored = m;
    return m;
  }

  private scanNames(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    const btf = this.btf;
    for (let id = btf.startId; id <= btf.typeCount; id++) {
      const k = btf.kind(id);
      if (k === BTF_KIND.FUNC || k === BTF_KIND.VAR || k === BTF_KIND.DATASEC || k === BTF_KIND.DECL_TAG) continue;
      const n = btf.name(id);
      if (n.length < 5 || !n.includes('___')) continue;
      const e = essentialName(n);
      if (e === n) continue;
      const list = m.get(e);
      if (!list) m.set(e, [n]);
      else if (!list.includes(n)) list.push(n);
    }
    return m;
  }

  candidates(localKind: number, essential: string): number[] {
    const btf = this.btf;
    const names = [essential, ...this.flavorsOf(essential)];
    const out: number[] = [];
    for (const kind of kindsFor(localKind)) {
      for (const n of names) {
        for (const id of btf.findByName(n, kind)) if (id >= btf.startId) out.push(id);
      }
    }
    // Ascending ids, as libbpf's linear scan finds them (names are distinct, so no duplicates).
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
