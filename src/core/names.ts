// Type "flavors": `task_struct___old` is a local variant of `task_struct`. CO-RE matches types (and
// enumerators) on their essential name, the part before the last `___` separator.

const US = 0x5f; // '_'

/**
 * libbpf's bpf_core_essential_name_len: the length of `name` up to its last flavor separator, where a
 * separator is `___` with a non-underscore character on both sides (`a___b`); the whole length if none.
 */
export function essentialNameLen(name: string): number {
  const n = name.length;
  for (let i = n - 5; i >= 0; i--) {
    if (name.charCodeAt(i) !== US && name.charCodeAt(i + 1) === US && name.charCodeAt(i + 2) === US &&
      name.charCodeAt(i + 3) === US && name.charCodeAt(i + 4) !== US) return i + 1;
  }
  return n;
}

/** `name` without its `___flavor` suffix. */
export function essentialName(name: string): string {
  const len = essentialNameLen(name);
  return len === name.length ? name : name.slice(0, len);
}

/** True when both names have the same essential name (libbpf compares `len` bytes and the lengths). */
export function sameEssentialName(a: string, b: string): boolean {
  const la = essentialNameLen(a);
  return la === essentialNameLen(b) && a.slice(0, la) === b.slice(0, la);
}

/**
 * Every distinct name in a raw BTF string section that has a flavor separator, grouped by essential
 * name. Scans bytes (no string decoding except for the hits): a separator is a run of exactly three
 * underscores between two other non-NUL characters, and stepping 3 bytes at a time can't jump over
 * such a run.
 */
export function flavoredNamesOf(strs: Uint8Array, into = new Map<string, Set<string>>()): Map<string, Set<string>> {
  const n = strs.length;
  const dec = new TextDecoder();
  let i = 0;
  while (i < n) {
    if (strs[i] !== US) { i += 3; continue; }
    let s = i;
    while (s > 0 && strs[s - 1] === US) s--;
    let e = i + 1;
    while (e < n && strs[e] === US) e++;
    if (e - s === 3 && s > 0 && strs[s - 1] !== 0 && e < n && strs[e] !== 0) {
      let a = s - 1;
      while (a > 0 && strs[a - 1] !== 0) a--;
      let z = e;
      while (z < n && strs[z] !== 0) z++;
      const name = dec.decode(strs.subarray(a, z));
      const ess = essentialName(name);
      if (ess !== name) {
        let set = into.get(ess);
        if (!set) into.set(ess, (set = new Set()));
        set.add(name);
      }
      i = z + 1;
      continue;
    }
    i = e + 1;
  }
  return into;
}
