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
 * Every name in a raw BTF string section that has a flavor separator, by essential name. One
 * native search for "___" over the section (kernel BTF has a few dozen hits in 2+ MB); only the hit
 * strings are decoded.
 */
export function flavoredNamesIn(strs: Uint8Array, into = new Map<string, string[]>()): Map<string, string[]> {
  const buf = Buffer.from(strs.buffer, strs.byteOffset, strs.byteLength);
  const n = buf.length;
  let at = buf.indexOf('___');
  while (at >= 0) {
    // The whole run of underscores; a separator is exactly three between two other characters.
    let s = at;
    while (s > 0 && buf[s - 1] === US) s--;
    let e = at + 3;
    while (e < n && buf[e] === US) e++;
    if (e - s === 3 && s > 0 && buf[s - 1] !== 0 && e < n && buf[e] !== 0) {
      let a = s - 1;
      while (a > 0 && buf[a - 1] !== 0) a--;
      let z = buf.indexOf(0, e);
      if (z < 0) z = n;
      const name = buf.toString('utf8', a, z);
      const ess = essentialName(name);
      if (ess !== name) {
        const list = into.get(ess);
        if (!list) into.set(ess, [name]);
        else if (!list.includes(name)) list.push(name);
      }
      at = z >= n ? -1 : buf.indexOf('___', z + 1);
    } else {
      at = e >= n ? -1 : buf.indexOf('___', e);
    }
  }
  return into;
}
