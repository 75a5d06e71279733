// libbpf's bpf_object__fixup_btf / btf_fixup_datasec: clang leaves DATASEC sizes and VAR offsets
// at zero (only the ELF knows them), so the loader fills them in before the BTF goes to the kernel.

import { ParseError } from '../src/errors.js';
import type { Btf } from './btf.js';
import { BTF_KIND, BTF_VAR_LINKAGE } from './types.js';
import type { BtfDatasec } from './types.js';

/** DATASECs backing externs: libbpf lays them out itself (collect_externs), they have no ELF section. */
const EXTERN_SECTIONS = new Set(['.kconfig', '.ksyms']);

function fail(message: string): never {
  throw new ParseError(message, { section: '.BTF' });
}

/**
 * Fill DATASEC sizes and VAR offsets from the ELF (through the callbacks, which keep btf/ free of
 * ELF types), make global VARs whose symbol has STV_HIDDEN/STV_INTERNAL visibility static, and
 * sort each DATASEC's vars by offset.
 *
 * - `sectionSize(name)`: size of the ELF section with that name, or undefined if there is none.
 * - `varOffset(secName, varName)`: the global/weak STT_OBJECT symbol named `varName`: its value
 *   (offset in its section) and whether its visibility is hidden/internal; undefined if none.
 *
 * Sizes already set (objects from the BPF static linker) are kept, along with their offsets.
 * `.kconfig` / `.ksyms` are only sorted: the loader assigns their layout when resolving externs.
 * Throws ParseError where libbpf fails the open (-ENOENT/-EINVAL).
 */
export function fixupDatasecs(
  btf: Btf,
  sectionSize: (secName: string) => number | undefined,
  varOffset: (secName: string, varName: string) => { offset: number; hidden: boolean } | undefined,
): void {
  for (let id = btf.startId; id <= btf.typeCount; id++) {
    if (btf.kind(id) !== BTF_KIND.DATASEC) continue;
    const orig = btf.type(id) as BtfDatasec;
    const secName = orig.name;
    const t: BtfDatasec = { ...orig, vars: orig.vars.map((v) => ({ ...v })) };
    let changed = false;

    if (!EXTERN_SECTIONS.has(secName)) {
      let fixupOffsets = false;
      if (t.size === 0) {
        const size = sectionSize(secName);
        if (!size) fail(`DATASEC '${secName}' [${id}]: failed to determine its size from the ELF section`);
        t.size = size;
        fixupOffsets = true;
        changed = true;
      }
      for (const v of t.vars) {
        const vt = btf.type(v.type);
        if (vt.kind !== BTF_KIND.VAR) fail(`DATASEC '${secName}' [${id}]: member type [${v.type}] is not a VAR`);
        if (vt.linkage === BTF_VAR_LINKAGE.STATIC || vt.linkage === BTF_VAR_LINKAGE.EXTERN) continue;
        const sym = varOffset(secName, vt.name);
        if (!sym) fail(`DATASEC '${secName}' [${id}]: no ELF symbol for VAR '${vt.name}'`);
        if (fixupOffsets && v.offset !== sym.offset) {
          v.offset = sym.offset;
          changed = true;
        }
        // Global but hidden/internal: not visible outside the object, so libbpf treats it as
        // static (which, e.g., keeps it out of the skeleton and off BPF_F_MMAPABLE decisions).
        if (sym.hidden) btf.setType(v.type, { ...vt, linkage: BTF_VAR_LINKAGE.STATIC });
      }
    }

    // Stable sort; libbpf's qsort is not stable, but equal offsets only occur for zero-sized vars.
    const sorted = t.vars.slice().sort((a, b) => a.offset - b.offset);
    if (sorted.some((v, i) => v !== t.vars[i])) {
      t.vars = sorted;
      changed = true;
    }
    if (changed) btf.setType(id, t);
  }
}

/** A `__kconfig` extern: its place in the `.kconfig` map value. */
export interface KconfigExtern {
  name: string;
  /** The VAR's type id. */
  varId: number;
  /** The VAR's declared type. */
  typeId: number;
  size: number;
  align: number;
  /** Offset within the .kconfig map value. */
  offset: number;
}
/** A `__ksym` extern: a variable (typed or typeless) or a kfunc. */
export interface KsymExtern {
  name: string;
  /** The VAR or FUNC type id. */
  id: number;
  isFunc: boolean;
  /** VAR: its declared type past modifiers/typedefs (0 = typeless `extern const void x`); FUNC: its FUNC_PROTO. */
  typeId: number;
}
export interface ExternLayout {
  /** In libbpf's order: alignment descending, then size ascending, then name. */
  kconfig: KconfigExtern[];
  /** Size of the .kconfig map value (0 without kconfig externs). */
  kconfigSize: number;
  /** In .ksyms DATASEC order. */
  ksyms: KsymExtern[];
  /** The VAR 'dummy_ksym' added when .ksyms has kfuncs (0 if none). */
  dummyKsymVar: number;
}

/**
 * The BTF half of libbpf's collect_externs, to run before fixupDatasecs: lays out the `.kconfig`
 * and `.ksyms` DATASECs the way the kernel will see them and returns what the loader needs to
 * resolve and relocate the externs.
 * - `.kconfig`: vars sorted by (alignment desc, size asc, name), packed at their alignment; each
 *   VAR becomes global-allocated; the DATASEC gets the total size.
 * - `.ksyms`: every entry becomes a 4-byte slot at offset 4*i; VARs become global-allocated `int`s
 *   (the first 32-bit INT; their real types are returned); kfunc entries are replaced by an added
 *   VAR 'dummy_ksym', their FUNC becomes global and their unnamed params are named 'dummy_ksym'.
 * Throws ParseError for a non-extern VAR/FUNC in these sections or a kconfig extern without size.
 */
export function layoutExterns(btf: Btf): ExternLayout {
  const layout: ExternLayout = { kconfig: [], kconfigSize: 0, ksyms: [], dummyKsymVar: 0 };
  let intId = 0;
  for (let id = 1; id <= btf.typeCount && !intId; id++) {
    if (btf.kind(id) !== BTF_KIND.INT) continue;
    const t = btf.type(id);
    if (t.kind === BTF_KIND.INT && t.bits === 32) intId = id;
  }

  const ksymSecId = btf.findOne('.ksyms', BTF_KIND.DATASEC);
  if (ksymSecId !== undefined) {
    const sec = btf.type(ksymSecId) as BtfDatasec;
    if (sec.vars.some((v) => btf.kind(v.type) === BTF_KIND.FUNC)) {
      layout.dummyKsymVar = btf.addType({ kind: BTF_KIND.VAR, name: 'dummy_ksym', type: intId, linkage: BTF_VAR_LINKAGE.GLOBAL });
    }
    const vars = sec.vars.map((v, i) => {
      const vt = btf.type(v.type);
      if (vt.kind === BTF_KIND.FUNC) {
        if (vt.linkage !== 2 /* BTF_FUNC_EXTERN */) fail(`.ksyms: FUNC '${vt.name}' is not extern`);
        layout.ksyms.push({ name: vt.name, id: v.type, isFunc: true, typeId: vt.type });
        const proto = btf.type(vt.type);
        if (proto.kind === BTF_KIND.FUNC_PROTO && proto.params.some((p) => p.type && !p.name)) {
          btf.setType(vt.type, { ...proto, params: proto.params.map((p) => (p.type && !p.name ? { ...p, name: 'dummy_ksym' } : p)) });
        }
        btf.setType(v.type, { ...vt, linkage: 1 /* BTF_FUNC_GLOBAL */ });
        return { type: layout.dummyKsymVar, offset: 4 * i, size: 4 };
      }
      if (vt.kind !== BTF_KIND.VAR) fail(`.ksyms: entry [${v.type}] is neither VAR nor FUNC`);
      if (vt.linkage !== BTF_VAR_LINKAGE.EXTERN) fail(`.ksyms: VAR '${vt.name}' is not extern`);
      layout.ksyms.push({ name: vt.name, id: v.type, isFunc: false, typeId: btf.skipModsAndTypedefs(vt.type) });
      btf.setType(v.type, { ...vt, linkage: BTF_VAR_LINKAGE.GLOBAL, type: intId });
      return { type: v.type, offset: 4 * i, size: 4 };
    });
    btf.setType(ksymSecId, { ...sec, size: 4 * vars.length, vars });
  }

  const kcfgSecId = btf.findOne('.kconfig', BTF_KIND.DATASEC);
  if (kcfgSecId !== undefined) {
    const sec = btf.type(kcfgSecId) as BtfDatasec;
    for (const v of sec.vars) {
      const vt = btf.type(v.type);
      if (vt.kind === BTF_KIND.FUNC) fail(`extern function ${vt.name} is unsupported under .kconfig`);
      if (vt.kind !== BTF_KIND.VAR) fail(`.kconfig: entry [${v.type}] is not a VAR`);
      if (vt.linkage !== BTF_VAR_LINKAGE.EXTERN) fail(`.kconfig: VAR '${vt.name}' is not extern`);
      const size = btf.resolveSize(vt.type);
      if (size <= 0) fail(`.kconfig: extern '${vt.name}' has no size`);
      layout.kconfig.push({ name: vt.name, varId: v.type, typeId: vt.type, size, align: btf.alignOf(vt.type), offset: 0 });
    }
    // strcmp order for ties, not localeCompare.
    layout.kconfig.sort((a, b) => b.align - a.align || a.size - b.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    let off = 0;
    for (const k of layout.kconfig) {
      k.offset = Math.ceil(off / k.align) * k.align;
      off = k.offset + k.size;
    }
    layout.kconfigSize = off;
    const byVar = new Map(layout.kconfig.map((k) => [k.varId, k]));
    for (const k of layout.kconfig) {
      const vt = btf.type(k.varId);
      if (vt.kind === BTF_KIND.VAR) btf.setType(k.varId, { ...vt, linkage: BTF_VAR_LINKAGE.GLOBAL });
    }
    btf.setType(kcfgSecId, { ...sec, size: off, vars: sec.vars.map((v) => ({ ...v, offset: byVar.get(v.type)!.offset })) });
  }
  return layout;
}
