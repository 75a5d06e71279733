// Where a uprobe goes: a function name in an ELF binary or shared library becomes the file offset
// the kernel wants, with libbpf's rules (elf_find_func_offset in libbpf's elf.c): .dynsym first,
// then .symtab; STT_FUNC only; 'name@VER' and 'name@@VER' pick a symbol version; several
// symbols at one offset are fine, two strong ones at different offsets are ambiguous, a weak one
// loses to a strong one. A name without '/' is searched the way libbpf does (resolve_full_path).

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { ElfFile, type ElfSymbol } from '../../elf/index.js';
import { BpfError } from '../errors.js';

const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_WEAK = 2;
const SHN_UNDEF = 0;
const PT_LOAD = 1;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERSYM = 0x6fffffff;
const VERSYM_VERSION = 0x7fff;

const ARCH_LIB_DIRS: Record<string, string> = {
  x64: '/lib/x86_64-linux-gnu',
  arm64: '/lib/aarch64-linux-gnu',
  ia32: '/lib/i386-linux-gnu',
  s390x: '/lib/s390x-linux-gnu',
  ppc64: '/lib/powerpc64le-linux-gnu',
  riscv64: '/lib/riscv64-linux-gnu',
};

/**
 * An absolute path for a uprobe target. Paths with a '/' are used as given. A shared library
 * name ('libc.so.6', anything ending in .so or containing .so.) is searched in LD_LIBRARY_PATH,
 * /usr/lib64:/usr/lib and the architecture's /lib/<triplet>; anything else in PATH and
 * /usr/bin:/usr/sbin (and must be executable).
 */
export function resolveBinaryPath(file: string, env: NodeJS.ProcessEnv = process.env): string {
  if (file.includes('/')) return file;
  const isLib = file.endsWith('.so') || file.includes('.so.');
  const lists = isLib
    ? [env.LD_LIBRARY_PATH, '/usr/lib64:/usr/lib', ARCH_LIB_DIRS[process.arch]]
    : [env.PATH, '/usr/bin:/usr/sbin'];
  const mode = isLib ? constants.R_OK : constants.R_OK | constants.X_OK;
  const tried: string[] = [];
  for (const list of lists) {
    if (!list) continue;
    for (const dir of list.split(':')) {
      if (!dir) continue;
      const p = `${dir}/${file}`;
      tried.push(dir);
      try {
        accessSync(p, mode);
        if (statSync(p).isFile()) return p;
      } catch {
        // not here
      }
    }
  }
  throw new BpfError(`cannot find '${file}' for a uprobe`, {
    errno: 2, cmd: 'uprobe',
    advice: `searched ${isLib ? 'LD_LIBRARY_PATH, /usr/lib64, /usr/lib and the arch lib dir' : 'PATH, /usr/bin and /usr/sbin'} (${[...new Set(tried)].join(', ') || 'nothing'}); pass an absolute path`,
  });
}

/** perf's glob: '*' any run, '?' any one character (libbpf's glob_match). */
export function globMatch(str: string, pat: string): boolean {
  let s = 0;
  let p = 0;
  let star = -1;
  let mark = 0;
  while (s < str.length) {
    if (p < pat.length && (pat[p] === '?' || pat[p] === str[s])) {
      s++;
      p++;
    } else if (p < pat.length && pat[p] === '*') {
      star = p++;
      mark = s;
    } else if (star >= 0) {
      p = star + 1;
      s = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.length && pat[p] === '*') p++;
  return p === pat.length;
}

interface SymbolTableView {
  kind: 'dynsym' | 'symtab';
  syms: readonly ElfSymbol[];
  /** Version name per symbol index (dynsym with .gnu.version/.gnu.version_d). */
  version?: (index: number) => string | undefined;
}

function versionReader(elf: ElfFile): ((index: number) => string | undefined) | undefined {
  const versym = elf.sections.find((s) => s.type === SHT_GNU_VERSYM);
  const verdef = elf.sections.find((s) => s.type === SHT_GNU_VERDEF);
  if (!versym || !verdef) return undefined;
  const names = new Map<number, string>();
  const strings = elf.stringTable(verdef.link);
  const d = new DataView(verdef.data.buffer, verdef.data.byteOffset, verdef.data.byteLength);
  // struct Elf64_Verdef (20 bytes) chained by vd_next; its first Verdaux (vda_name, vda_next) names it.
  let off = 0;
  for (let i = 0; i < 4096 && off + 20 <= d.byteLength; i++) {
    const ndx = d.getUint16(off + 4, true);
    const aux = d.getUint32(off + 12, true);
    const next = d.getUint32(off + 16, true);
    if (off + aux + 8 <= d.byteLength) names.set(ndx, strings.get(d.getUint32(off + aux, true), 'verdaux name', i));
    if (next === 0) break;
    off += next;
  }
  const v = new DataView(versym.data.buffer, versym.data.byteOffset, versym.data.byteLength);
  return (index: number) => {
    if ((index + 1) * 2 > v.byteLength) return undefined;
    const ver = v.getUint16(index * 2, true) & VERSYM_VERSION;
    return names.get(ver);
  };
}

function tables(elf: ElfFile): SymbolTableView[] {
  const out: SymbolTableView[] = [];
  if (elf.dynsymSection) out.push({ kind: 'dynsym', syms: elf.dynamicSymbols, version: versionReader(elf) });
  if (elf.symtabSection) out.push({ kind: 'symtab', syms: elf.symbols });
  return out;
}

/** File offset of a virtual address: through the PT_LOAD segment that maps it, else its section. */
export function vaddrToFileOffset(elf: ElfFile, vaddr: number, shndx?: number): number {
  const v = BigInt(vaddr);
  for (const ph of elf.programHeaders) {
    if (ph.type !== PT_LOAD) continue;
    if (v >= ph.vaddr && v < ph.vaddr + BigInt(ph.filesz)) return Number(v - ph.vaddr) + ph.offset;
  }
  const sec = shndx !== undefined ? elf.sections[shndx] : undefined;
  if (sec && sec.addr <= v) return Number(v - sec.addr) + sec.offset;
  throw new BpfError(`address 0x${vaddr.toString(16)} is not in any loaded segment`, { errno: 22, cmd: 'uprobe' });
}

/** A parsed binary, cached per path, size and mtime (resolving many symbols reads the file once). */
const cache = new Map<string, { key: string; elf: ElfFile }>();

export function openElf(path: string): ElfFile {
  let key: string;
  try {
    const st = statSync(path);
    key = `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch (e) {
    throw new BpfError(`cannot open '${path}' for a uprobe: ${(e as Error).message}`, { errno: Math.abs((e as NodeJS.ErrnoException).errno ?? 2), cmd: 'uprobe', cause: e });
  }
  const hit = cache.get(path);
  if (hit && hit.key === key) return hit.elf;
  const elf = ElfFile.parse(readFileSync(path));
  cache.clear(); // keep one: binaries can be large
  cache.set(path, { key, elf });
  return elf;
}

interface Match {
  offset: number;
  bind: number;
  name: string;
}

/** Splits 'name@VER' / 'name@@VER' into the name and the version. */
function splitVersion(name: string): { base: string; version: string | undefined } {
  const at = name.indexOf('@');
  if (at < 0) return { base: name, version: undefined };
  return { base: name.slice(0, at), version: name.slice(name[at + 1] === '@' ? at + 2 : at + 1) };
}

function symbolMatches(t: SymbolTableView, sym: ElfSymbol, base: string, version: string | undefined, full: string): boolean {
  // symtab names may carry the version themselves ('func@@LIB_1.0'): the part before '@' must match exactly.
  if (!sym.name.startsWith(base)) return false;
  const rest = sym.name.slice(base.length);
  if (rest !== '' && rest[0] !== '@') return false;
  if (version === undefined) return true;
  if (t.kind === 'dynsym') return t.version?.(sym.index) === version;
  return sym.name === full;
}

/**
 * The file offset of function `name` in the ELF file at `path` (libbpf's elf_find_func_offset).
 * `name` may carry a symbol version ('malloc@GLIBC_2.2.5', 'memcpy@@GLIBC_2.14').
 */
export function findFuncOffset(path: string, name: string): number {
  const elf = openElf(path);
  const { base, version } = splitVersion(name);
  let sawIfunc = false;
  let sawUndef = false;
  for (const t of tables(elf)) {
    let best: Match | undefined;
    for (const sym of t.syms) {
      if (sym.index === 0) continue;
      if (!symbolMatches(t, sym, base, version, name)) continue;
      if (sym.type !== STT_FUNC) {
        if (sym.type === STT_GNU_IFUNC) sawIfunc = true;
        continue;
      }
      if (sym.shndx === SHN_UNDEF || sym.value === 0) {
        sawUndef = true;
        continue;
      }
      const offset = vaddrToFileOffset(elf, sym.value, sym.shndx);
      if (!best) {
        best = { offset, bind: sym.bind, name: sym.name };
        continue;
      }
      if (best.offset === offset) continue;
      if (best.bind !== STB_WEAK && sym.bind !== STB_WEAK) {
        throw new BpfError(`'${name}' is ambiguous in ${path}: '${best.name}' at 0x${best.offset.toString(16)} and '${sym.name}' at 0x${offset.toString(16)}`, {
          errno: 22, cmd: 'uprobe', advice: 'pick one with a symbol version (name@VERSION) or attach by offset',
        });
      }
      if (sym.bind === STB_WEAK) continue; // a strong symbol already won
      best = { offset, bind: sym.bind, name: sym.name };
    }
    if (best) return best.offset;
  }
  const why = sawIfunc
    ? `'${base}' is an IFUNC (its address is chosen at run time); attach to the implementation it resolves to, or by offset`
    : sawUndef
      ? `'${base}' is only imported by ${path}; attach to the shared library that defines it (e.g. binary 'libc.so.6')`
      : `no function symbol '${name}' in .dynsym or .symtab of ${path}${elf.symtabSection ? '' : ' (the file is stripped: only exported functions can be found)'}`;
  throw new BpfError(`cannot resolve uprobe target '${name}' in ${path}`, { errno: 2, cmd: 'uprobe', advice: why });
}

/** Every function whose name matches a glob, with its offset (libbpf's elf_resolve_pattern_offsets). */
export function findFuncsByPattern(path: string, pattern: string): { name: string; offset: number }[] {
  const elf = openElf(path);
  const seen = new Map<string, number>();
  for (const t of tables(elf)) {
    for (const sym of t.syms) {
      if (sym.index === 0 || sym.type !== STT_FUNC || sym.shndx === SHN_UNDEF || sym.value === 0) continue;
      const base = sym.name.split('@')[0]!;
      if (seen.has(base) || !globMatch(base, pattern)) continue;
      seen.set(base, vaddrToFileOffset(elf, sym.value, sym.shndx));
    }
    if (seen.size) break;
  }
  return [...seen].map(([name, offset]) => ({ name, offset })).sort((a, b) => a.offset - b.offset);
}
