// Full kernel enumerator names ('BPF_PROG_TYPE_XDP') ↔ numbers, from the enums generated out of kernel BTF.

import {
  BPF_ATTACH_TYPE_NAMES, BPF_MAP_TYPE_NAMES, BPF_PROG_TYPE_NAMES,
} from '../syscalls/generated/bpf-enums.js';

function invert(names: Readonly<Record<number, string>>): Readonly<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [num, name] of Object.entries(names)) out[name] = Number(num);
  return out;
}

export const PROG_TYPE = invert(BPF_PROG_TYPE_NAMES);
export const ATTACH_TYPE = invert(BPF_ATTACH_TYPE_NAMES);
export const MAP_TYPE_BY_NAME = invert(BPF_MAP_TYPE_NAMES);

/** The enumerator name for a number, or a synthetic `<prefix>#<n>` for numbers newer than our tables. */
export function enumName(table: Readonly<Record<string, number>>, value: number, prefix: string): string {
  for (const [name, v] of Object.entries(table)) if (v === value && name.startsWith(prefix)) return name;
  return `${prefix}#${value}`;
}

export function mapTypeName(type: number): string {
  return BPF_MAP_TYPE_NAMES[type] ?? `BPF_MAP_TYPE_#${type}`;
}
