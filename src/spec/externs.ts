// Extern symbols (`__kconfig` and `__ksym`): found in the ELF symtab as undefined symbols and in BTF as
// extern VARs/FUNCs inside the .kconfig or .ksyms DATASEC. The kernel refuses extern linkage, so the
// object BTF is rewritten here the way libbpf does it: .kconfig vars get offsets inside the .kconfig map,
// .ksyms vars become 4-byte ints and kfunc entries point at a dummy var.

import { BTF_FUNC_LINKAGE, BTF_KIND, BTF_VAR_LINKAGE, type Btf, type BtfType } from '../../btf/index.js';
import type { ElfFile } from '../../elf/index.js';
import { SHN_UNDEF, STB, STT } from '../../elf/index.js';
import { BpfError } from '../errors.js';
import type { ExternSpec, KconfigType } from './types.js';

const VAR_GLOBAL_ALLOCATED = BTF_VAR_LINKAGE.GLOBAL;
const VAR_GLOBAL_EXTERN = BTF_VAR_LINKAGE.EXTERN;
const FUNC_GLOBAL = BTF_FUNC_LINKAGE.GLOBAL;
const FUNC_EXTERN = BTF_FUNC_LINKAGE.EXTERN;

/** libbpf's bpf_core_essential_name_len: cut a trailing `___flavor` (the part before and after `___` must not end/start with '_'). */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i > 0; i--) {
    if (name[i] === '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i - 1] !== '_' && name[i + 3] !== '_') {
      return name.slice(0, i);
    }
  }
  return name;
}

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

function findDatasecOf(btf: Btf, typeId: number): { id: number; sec: Extract<BtfType, { kind: 15 }> } {
  for (let id = btf.startId; id <= btf.typeCount; id++) {
    if (btf.kind(id) !== BTF_KIND.DATASEC) continue;
    const sec = btf.type(id);
    if (sec.kind === BTF_KIND.DATASEC && sec.vars.some((v) => v.type === typeId)) return { id, sec };
  }
  fail(`failed to find the DATASEC of extern BTF type [${typeId}]`, 2);
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

/** Collects externs and rewrites the object BTF so the kernel accepts it. Returns externs sorted as libbpf does. */
export function collectExterns(elf: ElfFile, btf: Btf | undefined): ExternSpec[] {
  const found: ExternSpec[] = [];
  const raw: { sym: number; name: string; weak: boolean; btfId: number }[] = [];
  for (const sym of elf.symbols) {
    if (sym.shndx !== SHN_UNDEF || !sym.name) continue;
    if (sym.bind !== STB.GLOBAL && sym.bind !== STB.WEAK) continue;
    if (sym.type !== STT.NOTYPE && sym.type !== STT.OBJECT && sym.type !== STT.FUNC) continue;
    if (!btf) fail(`extern '${sym.name}' needs BTF, but the object has no .BTF section`, 3);
    raw.push({ sym: sym.index, name: sym.name, weak: sym.bind === STB.WEAK, btfId: findExternBtfId(btf, sym.name) });
  }
  if (raw.length === 0 || !btf) return [];

  let ksymSecId = 0;
  let kcfgSecId = 0;
  for (const r of raw) {
    const t = btf.type(r.btfId);
    const { id: secId, sec } = findDatasecOf(btf, r.btfId);
    const essential = essentialName(r.name);
    if (sec.name === '.kconfig') {
      if (t.kind === BTF_KIND.FUNC) fail(`extern function ${r.name} is not supported under .kconfig`, 95);
      if (t.kind !== BTF_KIND.VAR) fail(`extern '${r.name}': unexpected BTF kind ${t.kind}`);
      kcfgSecId = secId;
      const size = btf.resolveSize(t.type);
      const align = btf.alignOf(t.type);
      const kt = kconfigType(btf, t.type);
      if (!kt) fail(`extern (kcfg) '${r.name}': type is unsupported`, 95);
      found.push({ name: r.name, essentialName: essential, symIndex: r.sym, isWeak: r.weak, btfId: r.btfId, kind: 'kconfig',
        kconfig: { size, align, type: kt.type, isSigned: kt.isSigned, dataOff: 0 } });
    } else if (sec.name === '.ksyms') {
      ksymSecId = secId;
      const isFunc = t.kind === BTF_KIND.FUNC;
      const typeId = t.kind === BTF_KIND.VAR || t.kind === BTF_KIND.FUNC ? btf.skipModsAndTypedefs(t.type) : 0;
      found.push({ name: r.name, essentialName: essential, symIndex: r.sym, isWeak: r.weak, btfId: r.btfId, kind: 'ksym',
        ksym: { typeId: isFunc ? t.type : typeId, isFunc } });
    } else {
      fail(`unrecognized extern section '${sec.name}'`, 95);
    }
  }

  // libbpf's order: kconfig before ksym; kconfig by descending alignment, then ascending size; ties by name.
  found.sort((a, b) => {
    if (a.kind !== b.kind) return a.kind === 'kconfig' ? -1 : 1;
    if (a.kconfig && b.kconfig) {
      if (a.kconfig.align !== b.kconfig.align) return b.kconfig.align - a.kconfig.align;
      if (a.kconfig.size !== b.kconfig.size) return a.kconfig.size - b.kconfig.size;
    }
    return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  });

  if (ksymSecId) rewriteKsymsDatasec(btf, ksymSecId, found);
  if (kcfgSecId) layoutKconfig(btf, kcfgSecId, found);
  return found;
}

function findInt32(btf: Btf): number {
  for (let id = btf.startId; id <= btf.typeCount; id++) {
    if (btf.kind(id) !== BTF_KIND.INT) continue;
    const t = btf.type(id);
    if (t.kind === BTF_KIND.INT && t.bits === 32) return id;
  }
  return 0;
}

function rewriteKsymsDatasec(btf: Btf, secId: number, externs: ExternSpec[]): void {
  const sec = btf.type(secId);
  if (sec.kind !== BTF_KIND.DATASEC) return;
  const intId = findInt32(btf);
  let dummyVarId = 0;
  if (sec.vars.some((v) => btf.kind(v.type) === BTF_KIND.FUNC)) {
    dummyVarId = btf.addType({ kind: BTF_KIND.VAR, name: 'dummy_ksym', type: intId, linkage: VAR_GLOBAL_ALLOCATED });
  }
  let off = 0;
  const vars = sec.vars.map((vs) => {
    const vt = btf.type(vs.type);
    if (!externs.some((e) => e.name === vt.name)) fail(`failed to find extern definition for BTF '${vt.name}'`, 3);
    let type = vs.type;
    if (vt.kind === BTF_KIND.FUNC) {
      // The kernel wants named params in a FUNC_PROTO referenced from a DATASEC; reuse the dummy's name.
      const proto = btf.type(vt.type);
      if (proto.kind === BTF_KIND.FUNC_PROTO && proto.params.some((p) => p.type && !p.name)) {
        btf.setType(vt.type, { ...proto, params: proto.params.map((p) => (p.type && !p.name ? { ...p, name: 'dummy_ksym' } : p)) });
      }
      btf.setType(vs.type, { ...vt, linkage: FUNC_GLOBAL });
      type = dummyVarId;
    } else if (vt.kind === BTF_KIND.VAR) {
      btf.setType(vs.type, { ...vt, linkage: VAR_GLOBAL_ALLOCATED, type: intId });
    }
    const entry = { type, offset: off, size: 4 };
    off += 4;
    return entry;
  });
  btf.setType(secId, { ...sec, size: off, vars });
}

function layoutKconfig(btf: Btf, secId: number, externs: ExternSpec[]): void {
  let off = 0;
  for (const e of externs) {
    if (!e.kconfig) continue;
    e.kconfig.dataOff = Math.ceil(off / e.kconfig.align) * e.kconfig.align;
    off = e.kconfig.dataOff + e.kconfig.size;
  }
  const sec = btf.type(secId);
  if (sec.kind !== BTF_KIND.DATASEC) return;
  const vars = sec.vars.map((vs) => {
    const vt = btf.type(vs.type);
    const ext = externs.find((e) => e.name === vt.name);
    if (!ext?.kconfig) fail(`failed to find extern definition for BTF var '${vt.name}'`, 3);
    if (vt.kind === BTF_KIND.VAR) btf.setType(vs.type, { ...vt, linkage: VAR_GLOBAL_ALLOCATED });
    return { ...vs, offset: ext.kconfig.dataOff };
  });
  btf.setType(secId, { ...sec, size: off, vars });
}
