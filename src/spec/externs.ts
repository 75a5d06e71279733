// Extern symbols (`__kconfig` and `__ksym`): found in the ELF symtab as undefined symbols and in BTF as
// extern VARs/FUNCs inside the .kconfig or .ksyms DATASEC. The kernel refuses extern linkage, so the
// object BTF is rewritten here the way libbpf does it: .kconfig vars get offsets inside the .kconfig map,
// .ksyms vars become 4-byte ints and kfunc entries point at a dummy var.

import { BTF_FUNC_LINKAGE, BTF_KIND, BTF_VAR_LINKAGE, layoutExterns, type Btf } from '../../btf/index.js';
import type { ElfFile } from '../../elf/index.js';
import { SHN_UNDEF, STB, STT } from '../../elf/index.js';
import { BpfError } from '../errors.js';
import { essentialName } from '../core/names.js';

export { essentialName };
import type { ExternSpec, KconfigType } from './types.js';

const VAR_GLOBAL_EXTERN = BTF_VAR_LINKAGE.EXTERN;
const FUNC_EXTERN = BTF_FUNC_LINKAGE.EXTERN;

function fail(message: string, errno = 22): never {
  throw new BpfError(message, { cmd: 'open', errno });
}

function findExternBtfId(btf: Btf, name: string): number {
  for (const id of btf.findByName(name)) {
    const t = btf.type(id);
    if (t.kind === BTF_KIND.VAR) {
      if (t.linkage !== VAR_GLOBAL_EXTERN) fail(`extern '${name}': BTF VAR is not extern (linkage ${t.linkage})`);
      return id;
    }
    if (t.kind === BTF_KIND.FUNC) {
      if (t.linkage !== FUNC_EXTERN) fail(`extern '${name}': BTF FUNC is not extern (linkage ${t.linkage})`);
      return id;
    }
  }
  fail(`failed to find BTF for extern '${name}'`, 2);
}

function kconfigType(btf: Btf, typeId: number): { type: KconfigType; isSigned: boolean } | undefined {
  const t = btf.type(btf.skipModsAndTypedefs(typeId));
  switch (t.kind) {
    case BTF_KIND.INT:
      if (t.encoding.bool) return t.size === 1 ? { type: 'bool', isSigned: false } : undefined;
      if (t.size === 1) return { type: 'char', isSigned: t.encoding.signed };
      if (t.size < 1 || t.size > 8 || (t.size & (t.size - 1)) !== 0) return undefined;
      return { type: 'int', isSigned: t.encoding.signed };
    case BTF_KIND.ENUM:
    case BTF_KIND.ENUM64:
      if (t.name !== 'libbpf_tristate' || (t.kind === BTF_KIND.ENUM && t.size !== 4)) return undefined;
      return { type: 'tristate', isSigned: false };
    case BTF_KIND.ARRAY:
      if (t.nelems === 0) return undefined;
      return kconfigType(btf, t.type)?.type === 'char' ? { type: 'char_array', isSigned: false } : undefined;
    default:
      return undefined;
  }
}

/**
 * Collects externs from the symbol table and rewrites the object BTF so the kernel accepts it (the BTF
 * half is btf/'s layoutExterns). Returns externs in libbpf's order: kconfig ones by descending alignment,
 * ascending size, then name; then ksyms by name.
 */
export function collectExterns(elf: ElfFile, btf: Btf | undefined): ExternSpec[] {
  const raw: { sym: number; name: string; weak: boolean; btfId: number }[] = [];
  for (const sym of elf.symbols) {
    if (sym.shndx !== SHN_UNDEF || !sym.name) continue;
    if (sym.bind !== STB.GLOBAL && sym.bind !== STB.WEAK) continue;
    if (sym.type !== STT.NOTYPE && sym.type !== STT.OBJECT && sym.type !== STT.FUNC) continue;
    if (!btf) fail(`extern '${sym.name}' needs BTF, but the object has no .BTF section`, 3);
    raw.push({ sym: sym.index, name: sym.name, weak: sym.bind === STB.WEAK, btfId: findExternBtfId(btf, sym.name) });
  }
  if (raw.length === 0 || !btf) return [];

  const layout = layoutExterns(btf);
  const found: ExternSpec[] = raw.map((r) => {
    const base = { name: r.name, essentialName: essentialName(r.name), symIndex: r.sym, isWeak: r.weak, btfId: r.btfId };
    const kcfg = layout.kconfig.find((k) => k.varId === r.btfId);
    if (kcfg) {
      const kt = kconfigType(btf, kcfg.typeId);
      if (!kt) fail(`extern (kcfg) '${r.name}': type is unsupported`, 95);
      return { ...base, kind: 'kconfig' as const, kconfig: { size: kcfg.size, align: kcfg.align, type: kt.type, isSigned: kt.isSigned, dataOff: kcfg.offset } };
    }
    const ksym = layout.ksyms.find((k) => k.id === r.btfId);
    if (ksym) return { ...base, kind: 'ksym' as const, ksym: { typeId: ksym.typeId, isFunc: ksym.isFunc } };
    fail(`extern '${r.name}' is neither in .kconfig nor in .ksyms; only __kconfig and __ksym externs are supported`, 95);
  });
  found.sort((a, b) => {
    if (a.kind !== b.kind) return a.kind === 'kconfig' ? -1 : 1;
    if (a.kconfig && b.kconfig) {
      if (a.kconfig.align !== b.kconfig.align) return b.kconfig.align - a.kconfig.align;
      if (a.kconfig.size !== b.kconfig.size) return a.kconfig.size - b.kconfig.size;
    }
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });
  return found;
}
