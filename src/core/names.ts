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
