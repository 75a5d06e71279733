// `tsbpf gen skeleton`: a TypeScript module for one BPF object, with bpftool's naming.
//
// The module holds the object (embedded, or a path to it), a layout descriptor per struct type and per
// data section (from BTF), and TypeScript types that match what the runtime (runtime.ts, layout.ts)
// builds from those descriptors. Output is deterministic: BTF order, ELF order, no timestamps.
//
// bpftool's choices kept here: the object name (file name without `.o`, non-identifier characters
// as `_`), map identifiers (`.data.foo` → `data_foo`), one data section field per global data map,
// only non-static variables exposed, programs by C function name.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Btf } from '../../btf/index.js';
import { BTF_KIND, BTF_VAR_LINKAGE } from '../../btf/index.js';
import type { BtfType } from '../../btf/index.js';
import { BpfError, ParseError, withContext } from '../errors.js';
import { parseObject } from '../spec/parse-object.js';
import { MAP_TYPE } from '../spec/map-types.js';
import type { MapSpec, ObjectSpec } from '../spec/types.js';

export interface GenerateSkeletonOptions {
  /** The object name (bpftool's `name NAME`); default: derived from the file name like bpftool. */
  name?: string;
  /** Where the generated code imports the runtime from (default 'tsbpf'). */
  runtimeImport?: string;
  /**
   * Reference the object file at this path instead of embedding its bytes. A relative path is resolved
   * against the generated module's own location (import.meta.url).
   */
  objectPath?: string;
  /** The file name shown in the header comment (default: the input path's basename). */
  sourceName?: string;
}

/** bpftool's get_obj_name: basename, a trailing `.o` dropped, other characters than [A-Za-z0-9_] → `_`. */
export function skeletonName(file: string): string {
  let name = basename(file).slice(0, 63);
  if (name.endsWith('.o')) name = name.slice(0, -2);
  return sanitize(name);
}

function sanitize(s: string): string {
  return s.replace(/[^A-Za-z0-9_]/g, '_');
}

/** bpftool's identifier for a global data section: `.data.foo` → `data_foo`, `.rodata` → `rodata`. */
export function sectionIdent(secName: string): string | undefined {
  if (!['.data', '.rodata', '.bss', '.kconfig'].some((p) => secName.startsWith(p))) return undefined;
  return sanitize(secName.slice(1));
}

/** Map types whose values are fds, events or kernel objects: left as raw BpfMaps. */
const UNTYPED_MAPS = new Set<number>([
  MAP_TYPE.PROG_ARRAY, MAP_TYPE.PERF_EVENT_ARRAY, MAP_TYPE.ARRAY_OF_MAPS, MAP_TYPE.HASH_OF_MAPS, MAP_TYPE.RINGBUF,
  MAP_TYPE.USER_RINGBUF, MAP_TYPE.STRUCT_OPS, MAP_TYPE.DEVMAP, MAP_TYPE.DEVMAP_HASH, MAP_TYPE.CPUMAP, MAP_TYPE.XSKMAP,
  MAP_TYPE.SOCKMAP, MAP_TYPE.SOCKHASH, MAP_TYPE.REUSEPORT_SOCKARRAY, MAP_TYPE.CGROUP_ARRAY, MAP_TYPE.ARENA,
]);

const KEYLESS = new Set<number>([MAP_TYPE.QUEUE, MAP_TYPE.STACK, MAP_TYPE.BLOOM_FILTER]);

const PER_CPU = new Set<number>([MAP_TYPE.PERCPU_HASH, MAP_TYPE.PERCPU_ARRAY, MAP_TYPE.LRU_PERCPU_HASH, MAP_TYPE.PERCPU_CGROUP_STORAGE]);

// -------------------------------------------------------------------------------------------------
// BTF → descriptors and TypeScript types

interface Described {
  /** Descriptor expression in the generated code. */
  desc: string;
  /** TypeScript type of a read. */
  ts: string;
  /** Whether the field is written through a setter with a different type (arrays, structs). */
  compound: boolean;
  /** Anonymous structs/unions: their fields, merged into the parent for an unnamed member. */
  entries?: FieldEntry[];
}

/** One member of a generated type literal: `code` may span lines (unindented). */
interface FieldEntry {
  key: string;
  code: string;
}

interface StructEntry {
  /** Identifier of its descriptor const and interface. */
  ident: string;
  descCode: string;
  tsCode: string;
}

class TypeMapper {
  private readonly btf: Btf;
  private readonly structs = new Map<number, StructEntry>();
  private readonly structOrder: StructEntry[] = [];
  private readonly usedIdents = new Set<string>();
  private readonly enums = new Map<number, string>();
  private readonly enumOrder: { ident: string; code: string }[] = [];
  /** The types being described, outermost first (see describe). */
  private readonly path: number[] = [];
  /** Runtime value/type names the module imports. */
  readonly imports = new Set<string>();

  constructor(btf: Btf, reserved: Iterable<string>) {
    this.btf = btf;
    for (const r of reserved) this.usedIdents.add(r);
  }

  private unique(base: string): string {
    let name = base;
    for (let n = 2; this.usedIdents.has(name); n++) name = `${base}___${n}`;
    this.usedIdents.add(name);
    return name;
  }

  /** Skips typedefs and modifiers, remembering nothing: the layout is what matters. */
  private resolve(id: number): { id: number; t: BtfType } {
    const rid = this.btf.skipModsAndTypedefs(id);
    return { id: rid, t: this.btf.type(rid) };
  }

  /**
   * Describes type `id`. The types being described form a path: a type met again on it is a loop
   * (possible only in malformed BTF; an anonymous struct or an array can contain itself too), and a
   * path deeper than MAX_TYPE_NESTING is refused, so crafted BTF gets a ParseError, not a stack overflow.
   */
  describe(id: number): Described {
    const { id: rid, t } = this.resolve(id);
    if (this.path.includes(rid)) {
      throw new ParseError(`BTF type [${rid}] ${typeLabel(t)} contains itself (${[...this.path.slice(this.path.indexOf(rid)), rid].map((i) => `[${i}]`).join(' -> ')})`, { section: '.BTF' });
    }
    if (this.path.length >= MAX_TYPE_NESTING) {
      throw new ParseError(`BTF type [${rid}] ${typeLabel(t)} is nested more than ${MAX_TYPE_NESTING} types deep`, { section: '.BTF' });
    }
    this.path.push(rid);
    try {
      return this.describeResolved(rid, t);
    } finally {
      this.path.pop();
    }
  }

  private describeResolved(rid: number, t: BtfType): Described {
    switch (t.kind) {
      case BTF_KIND.INT: {
        if (t.encoding.bool && t.size === 1) return { desc: 't.bool', ts: 'boolean', compound: false };
        if (t.size === 1 || t.size === 2 || t.size === 4) return { desc: `t.${t.encoding.signed ? 'i' : 'u'}${t.size * 8}`, ts: 'number', compound: false };
        if (t.size === 8 || t.size === 16) return { desc: `t.${t.encoding.signed ? 'i' : 'u'}${t.size * 8}`, ts: 'bigint', compound: false };
        return this.bytes(t.size);
      }
      case BTF_KIND.ENUM: case BTF_KIND.ENUM64: {
        this.enumConstants(rid, t);
        if (t.size === 1 || t.size === 2 || t.size === 4) return { desc: `t.${t.signed ? 'i' : 'u'}${t.size * 8}`, ts: 'number', compound: false };
        if (t.size === 8) return { desc: `t.${t.signed ? 'i' : 'u'}64`, ts: 'bigint', compound: false };
        return this.bytes(t.size);
      }
      case BTF_KIND.FLOAT:
        if (t.size === 4 || t.size === 8) return { desc: `t.f${t.size * 8}`, ts: 'number', compound: false };
        return this.bytes(t.size);
      case BTF_KIND.PTR:
        return { desc: 't.ptr', ts: 'bigint', compound: false };
      case BTF_KIND.ARRAY:
        return this.describeArray(t.type, t.nelems);
      case BTF_KIND.STRUCT: case BTF_KIND.UNION:
        return this.describeStruct(rid, t);
      default:
        // void, forward declarations, functions: nothing to read but their bytes (usually none).
        return this.bytes(safeSize(this.btf, rid));
    }
  }

  private bytes(size: number): Described {
    return { desc: `t.bytes(${size})`, ts: 'Uint8Array', compound: true };
  }

  private describeArray(elemId: number, n: number): Described {
    const { t: et } = this.resolve(elemId);
    // Only `char` arrays are strings; `unsigned char`/__u8 arrays are bytes.
    if (et.kind === BTF_KIND.INT && et.size === 1 && !et.encoding.bool && (et.encoding.char || et.name === 'char')) {
      this.imports.add('CharArray');
      return { desc: `t.chars(${n})`, ts: 'CharArray', compound: true };
    }
    const elem = this.describe(elemId);
    // Multi-dimensional arrays of scalars are one flat typed array.
    const inner = /^t\.array\((t\.[a-z0-9]+), (\d+)\)$/.exec(elem.desc);
    if (inner && elem.ts !== 'bigint[]') {
      return { desc: `t.array(${inner[1]}, ${n * Number(inner[2])})`, ts: elem.ts, compound: true };
    }
    if (!elem.compound) {
      const ta = typedArrayName(elem.desc);
      return { desc: `t.array(${elem.desc}, ${n})`, ts: ta ?? 'bigint[]', compound: true };
    }
    return { desc: `t.array(${elem.desc}, ${n})`, ts: `readonly ${parenthesize(elem.ts)}[]`, compound: true };
  }

  private describeStruct(id: number, t: BtfType & { kind: 4 | 5 }): Described {
    if (t.name === '') {
      const { descCode, entries } = this.structBody(t, '');
      return { desc: descCode, ts: renderLiteral(entries), compound: true, entries };
    }
    let entry = this.structs.get(id);
    if (!entry) {
      const kw = t.kind === BTF_KIND.STRUCT ? 'struct' : 'union';
      const ident = this.unique(sanitize(`${kw}_${t.name}`));
      const { descCode, entries } = this.structBody(t, `${kw} ${t.name}`);
      entry = { ident, descCode, tsCode: renderLiteral(entries) };
      this.structs.set(id, entry);
      this.structOrder.push(entry); // after its members' types: definitions come out in dependency order
    }
    return { desc: entry.ident, ts: entry.ident, compound: true };
  }

  private structBody(t: BtfType & { kind: 4 | 5 }, cName: string): { descCode: string; entries: FieldEntry[] } {
    const fields: string[] = [];
    const entries: FieldEntry[] = [];
    const seen = new Set<string>();
    const add = (e: FieldEntry): void => {
      if (seen.has(e.key)) return;
      seen.add(e.key);
      entries.push(e);
    };
    for (const m of t.members) {
      const d = this.describe(m.type);
      const name = m.name;
      if (m.bitfieldSize || m.bitOffset % 8 !== 0) {
        const bits = m.bitfieldSize || safeSize(this.btf, m.type) * 8;
        fields.push(`[${q(name)}, 0, ${d.desc}, ${m.bitOffset}, ${bits}]`);
      } else {
        fields.push(`[${q(name)}, ${m.bitOffset / 8}, ${d.desc}]`);
      }
      // Anonymous struct/union members: their fields are reachable directly, as in C.
      if (name === '') for (const e of d.entries ?? []) add(e);
      else add(fieldEntry(name, d));
    }
    const descCode = `t.struct(${q(cName)}, ${t.size}, [${fields.length ? `\n  ${fields.map((f) => f.replace(/\n/g, '\n  ')).join(',\n  ')},\n` : ''}])`;
    return { descCode, entries };
  }

  private enumConstants(id: number, t: BtfType & { kind: 6 | 19 }): void {
    if (this.enums.has(id) || t.name === '' || !t.values.length) return;
    const ident = this.unique(sanitize(`enum_${t.name}`));
    this.enums.set(id, ident);
    const vals = t.values.map((v) => `  ${v.name}: ${typeof v.value === 'bigint' ? `${v.value}n` : v.value},`);
    this.enumOrder.push({
      ident,
      code: `/** enum ${t.name} */\nexport const ${ident} = {\n${vals.join('\n')}\n} as const;\nexport type ${ident} = (typeof ${ident})[keyof typeof ${ident}];\n`,
    });
  }

  /** Descriptor consts and interfaces of the named structs, in dependency order. */
  emitStructs(): string {
    let out = '';
    for (const e of this.structOrder) {
        out += `export interface ${e.ident} ${e.tsCode}\n`;
      out += `export const ${e.ident} = ${e.descCode};\n\n`;
    }
    return out;
  }

  emitEnums(): string {
    return this.enumOrder.map((e) => e.code).join('\n');
  }
}

/** A `{ ... }` type literal, one member per line group, indented by two spaces per level. */
function renderLiteral(entries: readonly FieldEntry[]): string {
  if (!entries.length) return '{}';
  return `{\n${entries.map((e) => `  ${e.code.replace(/\n/g, '\n  ')}`).join('\n')}\n}`;
}

function fieldEntry(name: string, d: Described): FieldEntry {
  const key = propKey(name);
  if (!d.compound) return { key, code: `${key}: ${d.ts};` };
  // Nested objects and views are read as objects, written from plain values.
  return { key, code: `get ${key}(): ${d.ts};\nset ${key}(v: Init<${d.ts}>);` };
}

function propKey(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

function parenthesize(ts: string): string {
  return /^[\w.]+$/.test(ts) ? ts : `(${ts})`;
}

function typedArrayName(desc: string): string | undefined {
  const m: Record<string, string> = {
    't.u8': 'Uint8Array', 't.i8': 'Int8Array', 't.u16': 'Uint16Array', 't.i16': 'Int16Array', 't.u32': 'Uint32Array',
    't.i32': 'Int32Array', 't.u64': 'BigUint64Array', 't.i64': 'BigInt64Array', 't.f32': 'Float32Array',
    't.f64': 'Float64Array', 't.ptr': 'BigUint64Array', 't.bool': 'Uint8Array',
  };
  return m[desc];
}

/**
 * Deepest nesting of struct/union/array types the generator follows. The kernel refuses BTF whose
 * resolution goes deeper than 32 (MAX_RESOLVE_DEPTH), so real objects stay far below this.
 */
const MAX_TYPE_NESTING = 64;

function typeLabel(t: BtfType): string {
  const kind = ({ [BTF_KIND.STRUCT]: 'struct', [BTF_KIND.UNION]: 'union', [BTF_KIND.ARRAY]: 'array' } as Record<number, string>)[t.kind] ?? `kind ${t.kind}`;
  if ('name' in t && t.name) return `${kind} '${t.name}'`;
  return t.kind === BTF_KIND.ARRAY ? kind : `(anonymous ${kind})`;
}

function safeSize(btf: Btf, id: number): number {
  try {
    return btf.resolveSize(id);
  } catch {
    return 0;
  }
}

function q(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

// -------------------------------------------------------------------------------------------------
// The module

interface SectionPlan {
  ident: string;
  section: string;
  typeIdent: string;
  fields: string[];
  entries: FieldEntry[];
  size: number;
}

/** Generates the skeleton module for a BPF object (a path, or its bytes plus `sourceName`). */
export function generateSkeleton(object: string | Uint8Array, opts: GenerateSkeletonOptions = {}): string {
  let bytes: Uint8Array;
  let file: string;
  if (typeof object === 'string') {
    try {
      bytes = readFileSync(object);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new BpfError(`failed to open() ${object}: ${err.message}`, { errno: err.errno ? Math.abs(err.errno) : 2, cause: e });
    }
    file = object;
  } else {
    bytes = object;
    file = opts.sourceName ?? 'object.bpf.o';
  }
  const name = opts.name ? opts.name.slice(0, 63) : skeletonName(file);
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
    throw new BpfError(`skeleton name '${name}' is not an identifier`, { errno: 22 });
  }
  const runtime = opts.runtimeImport ?? 'tsbpf';
  // The parsed spec is all a skeleton needs: no BpfObject, so generating one loads neither the loader
  // nor the FFI (tsbpf build and gen skeleton start faster).
  let spec: ObjectSpec;
  try {
    spec = parseObject(bytes, { name });
  } catch (e) {
    // As BpfObject.open reports it: a parser bug still surfaces as a ParseError.
    throw withContext(e instanceof BpfError ? e : new ParseError(`internal error while processing the object: ${(e as Error)?.message ?? String(e)}`, {}, { cause: e }), { object: name });
  }
  return emit(spec, bytes, name, runtime, opts.objectPath, opts.sourceName ?? basename(file));
}

function emit(spec: ObjectSpec, bytes: Uint8Array, name: string, runtime: string, objectPath: string | undefined, sourceName: string): string {
  const btf = spec.btf;
  const reserved = ['t', 'SKELETON', 'OBJECT', 'open', 'openAndLoad', 'elfBytes', 'objectPath', name];
  const mapper = btf ? new TypeMapper(btf, reserved) : undefined;
  const imports = new Set<string>(['openSkeleton', 'openAndLoadSkeleton', 'type SkeletonBase', 'type SkeletonDesc', 'type SkeletonOpenOptions', 'type SkeletonLinks', 'skeletonTypes']);

  // Maps in the object's order, with bpftool's identifiers; global data maps also get a section field.
  const mapEntries: FieldEntry[] = [];
  const mapDescs: string[] = [];
  const sections: SectionPlan[] = [];
  // Struct_ops maps: `struct_ops.<map>` gives typed access to the object's struct (bpftool's shadow type).
  const structOps: { ident: string; name: string; desc: string; ts: string }[] = [];
  for (const m of spec.maps) {
    if (m.structOps && mapper) {
      const d = mapper.describe(m.structOps.typeId);
      structOps.push({ ident: m.name, name: m.name, desc: d.desc, ts: d.ts });
    }
    const ident = m.origin === 'user' || m.origin === 'struct_ops' ? m.name : sectionIdent(m.name);
    if (ident === undefined) continue; // bpftool skips internal maps it cannot name
    const key = propKey(ident);
    const typed = m.origin === 'user' && mapper && btf ? mapTypes(mapper, btf, m) : undefined;
    if (typed) {
      const cls = typed.perCpu ? 'PerCpuTypedMap' : 'TypedMap';
      imports.add(`type ${cls}`);
      mapEntries.push({ key, code: `readonly ${key}: ${cls}<${typed.key?.ts ?? 'never'}, ${typed.value.ts}>;` });
      mapDescs.push(`{ ident: ${q(ident)}, name: ${q(m.name)}${typed.key ? `, key: ${typed.key.desc}` : ''}, value: ${typed.value.desc} }`);
    } else {
      imports.add('type BpfMap');
      mapEntries.push({ key, code: `readonly ${key}: BpfMap;` });
      mapDescs.push(`{ ident: ${q(ident)}, name: ${q(m.name)} }`);
    }
    if (m.origin !== 'user' && m.origin !== 'struct_ops') sections.push(planSection(spec, mapper, btf, m, ident, name));
  }
  // Entry points only, in the spec's order (BpfObject.programs' keys).
  const progs = spec.programs.filter((p) => !p.isSubprog).map((p) => p.name);
  if (progs.length) imports.add('type Program');

  let body = '';
  const enums = mapper?.emitEnums() ?? '';
  if (enums) body += `// ---- enums (BTF) ----\n\n${enums}\n`;
  const structs = mapper?.emitStructs() ?? '';
  if (structs) body += `// ---- types (BTF) ----\n\n${structs}`;

  if (sections.length) body += `// ---- data sections ----\n\n`;
  for (const s of sections) {
    body += `/** ${s.section}: its non-static variables. */\nexport interface ${s.typeIdent} ${renderLiteral(s.entries)}\n`;
    body += `const ${s.typeIdent} = t.struct(${q(s.section)}, ${s.size}, [${s.fields.length ? `\n  ${s.fields.map((f) => f.replace(/\n/g, '\n  ')).join(',\n  ')},\n` : ''}]);\n\n`;
  }

  body += `// ---- the skeleton ----\n\n`;
  // Struct_ops maps are attached by obj.attach() too, and their links are kept under the map's name (bpftool does the same).
  const linkNames = [...progs, ...structOps.map((so) => so.name).filter((n) => !progs.includes(n))];
  const skelEntries: FieldEntry[] = [
    { key: 'maps', code: `readonly maps: ${renderLiteral(mapEntries)};` },
    { key: 'progs', code: `readonly progs: ${renderLiteral(progs.map((p) => ({ key: propKey(p), code: `readonly ${propKey(p)}: Program;` })))};` },
    { key: 'links', code: `readonly links: SkeletonLinks<${linkNames.length ? linkNames.map(q).join(' | ') : 'never'}>;` },
    ...sections.map((s) => ({ key: s.ident, code: `readonly ${propKey(s.ident)}: ${s.typeIdent};` })),
  ];
  if (structOps.length) {
    const entries = structOps.map((so) => ({ key: propKey(so.ident), code: `readonly ${propKey(so.ident)}: ${so.ts};` }));
    skelEntries.push({ key: 'struct_ops', code: `/** The struct_ops maps' structs, writable before load (function pointers: maps.<map>.structOps.setProgram). */\nreadonly struct_ops: ${renderLiteral(entries)};` });
  }
  body += `export interface ${name} extends SkeletonBase ${renderLiteral(skelEntries)}\n\n`;

  body += `export const SKELETON: SkeletonDesc = {\n  name: ${q(name)},\n`;
  body += `  maps: [${mapDescs.length ? `\n    ${mapDescs.map((d) => d.replace(/\n/g, '\n    ')).join(',\n    ')},\n  ` : ''}],\n`;
  body += `  progs: [${progs.map(q).join(', ')}],\n`;
  body += `  sections: [${sections.length ? `\n    ${sections.map((s) => `{ ident: ${q(s.ident)}, section: ${q(s.section)}, type: ${s.typeIdent} }`).join(',\n    ')},\n  ` : ''}],\n`;
  body += `};\n\n`;

  if (objectPath === undefined) {
    body += `// The object file, ${bytes.length} bytes.\nconst OBJECT =\n${base64Lines(bytes)};\n\n`;
    body += `/** The embedded object's bytes (bpftool's elf_bytes). */\nexport function elfBytes(): Uint8Array {\n  return Buffer.from(OBJECT, 'base64');\n}\n\n`;
  } else {
    body += `const OBJECT = ${q(objectPath)};\n\n`;
    body += `/** The object's path: as generated when absolute, else relative to this module. */\nexport function objectPath(): string {\n` +
      `  return isAbsolute(OBJECT) ? OBJECT : fileURLToPath(new URL(OBJECT, import.meta.url));\n}\n\n`;
  }
  const src = objectPath === undefined ? 'elfBytes' : 'objectPath()';
  body += `/** Opens the object: nothing is in the kernel yet; set .rodata, map sizes and autoload, then load(). */\n`;
  if (!structOps.length) {
    body += `export function open(opts?: SkeletonOpenOptions): ${name} {\n  return openSkeleton<never>(SKELETON, ${src}, opts) as ${name};\n}\n\n`;
    body += `/** Opens and loads; the skeleton is destroyed if the load fails. */\n`;
    body += `export function openAndLoad(opts?: SkeletonOpenOptions): Promise<${name}> {\n  return openAndLoadSkeleton<never>(SKELETON, ${src}, opts) as Promise<${name}>;\n}\n`;
  } else {
    imports.delete('openAndLoadSkeleton');
    imports.add('structAccessor');
    body += `export function open(opts?: SkeletonOpenOptions): ${name} {\n  const skel = openSkeleton<never>(SKELETON, ${src}, opts) as ${name};\n`;
    body += `  const so = {\n${structOps.map((so) => `    ${propKey(so.ident)}: structAccessor(${so.desc}, skel.obj.map(${q(so.name)}).structOps!.backing(), 0),\n`).join('')}  };\n`;
    body += `  Object.defineProperty(skel, 'struct_ops', { value: Object.freeze(so), enumerable: true });\n  return skel;\n}\n\n`;
    body += `/** Opens and loads; the skeleton is destroyed if the load fails. */\n`;
    body += `export async function openAndLoad(opts?: SkeletonOpenOptions): Promise<${name}> {\n  const skel = open(opts);\n  try {\n    await skel.load();\n  } catch (e) {\n    skel.destroy();\n    throw e;\n  }\n  return skel;\n}\n`;
  }

  if (mapper) for (const i of mapper.imports) imports.add(`type ${i}`);
  if (body.includes('Init<')) imports.add('type Init');

  let out = '';
  out += `// THIS FILE IS AUTOGENERATED BY tsbpf gen skeleton from ${sourceName}. Do not edit.\n`;
  out += `// Object '${name}': ${mapDescs.length} map(s), ${progs.length} program(s), ${sections.length} data section(s).\n\n`;
  out += `import {\n  ${[...imports].sort(importOrder).join(',\n  ')},\n} from ${q(runtime)};\n`;
  if (objectPath !== undefined) out += `import { isAbsolute } from 'node:path';\nimport { fileURLToPath } from 'node:url';\n`;
  out += `\nconst t = skeletonTypes;\n\n`;
  return out + body;
}

function importOrder(a: string, b: string): number {
  const ka = a.replace(/^type /, '');
  const kb = b.replace(/^type /, '');
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

function mapTypes(mapper: TypeMapper, btf: Btf, m: MapSpec): { key?: Described; value: Described; perCpu: boolean } | undefined {
  if (UNTYPED_MAPS.has(m.type) || !m.btfValueTypeId) return undefined;
  const keyless = KEYLESS.has(m.type);
  if (!keyless && !m.btfKeyTypeId) return undefined;
  const value = mapper.describe(m.btfValueTypeId);
  if (safeSize(btf, m.btfValueTypeId) !== m.valueSize) return undefined;
  let key: Described | undefined;
  if (!keyless) {
    if (safeSize(btf, m.btfKeyTypeId) !== m.keySize) return undefined;
    key = mapper.describe(m.btfKeyTypeId);
  }
  const perCpu = PER_CPU.has(m.type);
  if (perCpu && !key) return undefined;
  return { key, value, perCpu };
}

function planSection(spec: ObjectSpec, mapper: TypeMapper | undefined, btf: Btf | undefined, m: MapSpec, ident: string, name: string): SectionPlan {
  const plan: SectionPlan = { ident, section: m.name, typeIdent: `${name}__${ident}`, fields: [], entries: [], size: m.valueSize };
  if (!btf || !mapper) return plan;
  const secId = btf.findOne(m.name, BTF_KIND.DATASEC);
  if (secId === undefined) return plan;
  const ds = btf.type(secId);
  if (ds.kind !== BTF_KIND.DATASEC) return plan;
  // .kconfig offsets are the loader's layout, not the (unset) BTF ones.
  const kconfigOff = new Map<string, number>();
  for (const e of spec.externs) if (e.kconfig) kconfigOff.set(e.name, e.kconfig.dataOff);
  for (const v of ds.vars) {
    const vt = btf.type(v.type);
    if (vt.kind !== BTF_KIND.VAR || vt.linkage === BTF_VAR_LINKAGE.STATIC) continue; // not exposed, as in bpftool
    const varName = sanitize(vt.name);
    const off = m.origin === 'kconfig' ? (kconfigOff.get(vt.name) ?? v.offset) : v.offset;
    const d = mapper.describe(vt.type);
    plan.fields.push(`[${q(varName)}, ${off}, ${d.desc}]`);
    const key = propKey(varName);
    // .kconfig is filled by the loader: its scalars are read-only.
    plan.entries.push(m.origin === 'kconfig' && !d.compound ? { key, code: `readonly ${key}: ${d.ts};` } : fieldEntry(varName, d));
  }
  return plan;
}

function base64Lines(bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 100) lines.push(`  '${b64.slice(i, i + 100)}'`);
  return lines.length ? lines.join(' +\n') : "  ''";
}
