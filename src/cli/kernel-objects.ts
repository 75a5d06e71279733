// What the `prog`, `map`, `link` and `btf list` verbs share: walking the kernel's objects by id,
// bpftool's ways of naming them on the command line (id N, pinned PATH, name NAME, tag TAG), its short
// type names, fdinfo fields, load times, pinned-path tables and output helpers.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  BPF_ATTACH_TYPE_NAMES, BPF_LINK_TYPE_NAMES, BPF_MAP_TYPE_NAMES, BPF_PROG_TYPE_NAMES, btfGetFdById, btfInfo, getNextId,
  linkGetFdById, linkInfo, mapGetFdById, mapInfo, objGet, progGetFdById, progInfo, type Fd, type ObjKind,
} from '../../syscalls/index.js';
import type { CliOptions } from './options.js';
import { writeJson, type JsonValue } from '../disasm/json-writer.js';
import { progFullName } from '../disasm/kernel-prog.js';
import { BpfError } from '../errors.js';

/** bpftool's is_prefix: any non-empty prefix of `word` selects it. */
export function isPrefix(arg: string | undefined, word: string): boolean {
  return !!arg && word.startsWith(arg);
}

const shortName = (names: Readonly<Record<number, string>>, prefix: string, v: number): string | undefined => {
  const n = names[v];
  return n?.startsWith(prefix) ? n.slice(prefix.length).replace(/_DEPRECATED$/, '').toLowerCase() : undefined;
};
/** 'sched_cls' for BPF_PROG_TYPE_SCHED_CLS (libbpf_bpf_prog_type_str); undefined for numbers we do not know. */
export const progTypeStr = (t: number): string | undefined => shortName(BPF_PROG_TYPE_NAMES, 'BPF_PROG_TYPE_', t);
export const mapTypeStr = (t: number): string | undefined => shortName(BPF_MAP_TYPE_NAMES, 'BPF_MAP_TYPE_', t);
export const linkTypeStr = (t: number): string | undefined => shortName(BPF_LINK_TYPE_NAMES, 'BPF_LINK_TYPE_', t);
export const attachTypeStr = (t: number): string | undefined => shortName(BPF_ATTACH_TYPE_NAMES, 'BPF_', t);

/** A field of /proc/self/fdinfo/<fd> ("memlock", "frozen", "owner_prog_type", …). */
export function fdinfo(fd: number, field: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  } catch {
    return undefined;
  }
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text);
  return m ? m[1]!.trim() : undefined;
}

/** Nanoseconds since boot (CLOCK_BOOTTIME), as precisely as Node can tell. */
function bootTimeNs(): bigint {
  // CLOCK_MONOTONIC (process.hrtime) equals CLOCK_BOOTTIME unless the machine was suspended; /proc/uptime
  // is CLOCK_BOOTTIME truncated to centiseconds. Use the precise clock when the two agree.
  const mono = process.hrtime.bigint();
  let uptime: number | undefined;
  try {
    uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return mono;
  }
  return Math.abs(Number(mono) / 1e9 - uptime) < 0.05 ? mono : BigInt(Math.round(uptime * 1e9));
}

/**
 * The wall-clock time of `ns` since boot: seconds since the epoch (bpftool's JSON "loaded_at") and
 * ISO 8601 with the local offset ("%FT%T%z", its human form).
 */
export function bootTimeToWall(ns: bigint): { epoch: number; text: string } {
  const nowNs = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
  const epoch = Number((nowNs - bootTimeNs() + ns) / 1_000_000_000n);
  const d = new Date(epoch * 1000);
  const p = (n: number): string => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const tz = `${off >= 0 ? '+' : '-'}${p(Math.floor(Math.abs(off) / 60))}${p(Math.abs(off) % 60)}`;
  const text = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}${tz}`;
  return { epoch, text };
}

/** All ids of a kind, in order. Objects that vanish while we walk are the caller's concern (ENOENT on open). */
export function allIds(kind: ObjKind): number[] {
  const ids: number[] = [];
  for (let id = getNextId(kind, 0); id; id = getNextId(kind, id)) ids.push(id);
  return ids;
}

const FD_BY_ID: Record<ObjKind, (id: number) => Fd> = {
  prog: (id) => progGetFdById(id),
  map: (id) => mapGetFdById(id),
  btf: (id) => btfGetFdById(id),
  link: (id) => linkGetFdById(id),
};

/** Opens object `id`, or returns undefined when it disappeared since it was listed (ENOENT). */
export function openById(kind: ObjKind, id: number): Fd | undefined {
  try {
    return FD_BY_ID[kind](id);
  } catch (e) {
    if (e instanceof BpfError && e.errno === 2) return undefined;
    throw e;
  }
}

function parseId(s: string | undefined): number {
  const id = s !== undefined && /^(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i.test(s) ? Number(s.startsWith('0') && !s.startsWith('0x') && s.length > 1 ? parseInt(s, 8) : s) : NaN;
  if (!Number.isInteger(id)) throw new BpfError(`can't parse ${s ?? '(nothing)'} as ID`, { errno: 22 });
  return id;
}

/**
 * Opens the objects an argument pair names: `id N`, `pinned PATH`, and for programs `tag TAG` and
 * `name NAME`, for maps `name NAME` (names and tags may match several). Consumes the arguments.
 */
export function parseObjectRef(kind: 'prog' | 'map' | 'link', args: string[]): Fd[] {
  const what = args.shift();
  if (isPrefix(what, 'id')) {
    const id = parseId(args.shift());
    try {
      return [FD_BY_ID[kind](id)];
    } catch (e) {
      // bpftool's wording: "get by id" for programs, "get map by id", "failed to get link with ID".
      const head = kind === 'prog' ? `get by id (${id})` : kind === 'map' ? `get map by id (${id})` : `failed to get link with ID ${id}`;
      if (e instanceof BpfError) throw new BpfError(`${head}: ${errnoText(e.errno)}`, { errno: e.errno, cause: e });
      throw e;
    }
  }
  if (isPrefix(what, 'pinned')) {
    const path = args.shift();
    if (!path) throw new BpfError('expected a path after \'pinned\'', { errno: 22 });
    const fd = objGet(path);
    const actual = pinnedKind(fd);
    if (actual !== kind) {
      fd.close();
      throw new BpfError(`incorrect object type: ${actual ?? 'unknown'}`, { errno: 22 });
    }
    return [fd];
  }
  if (kind !== 'link' && (isPrefix(what, 'name') || (kind === 'prog' && isPrefix(what, 'tag')))) {
    const byTag = kind === 'prog' && isPrefix(what, 'tag') && !isPrefix(what, 'name');
    const wanted = args.shift();
    if (!wanted) throw new BpfError(`expected a ${byTag ? 'tag' : 'name'}`, { errno: 22 });
    if (byTag && !/^[0-9a-f]{16}$/i.test(wanted)) throw new BpfError("can't parse tag", { errno: 22 });
    const out: Fd[] = [];
    for (const id of allIds(kind)) {
      const fd = openById(kind, id);
      if (!fd) continue;
      let match: boolean;
      if (kind === 'prog') {
        const info = progInfo(fd.fd, { mapIds: false });
        match = byTag ? info.tag === wanted.toLowerCase() : progFullName(fd.fd, info) === wanted;
      } else {
        match = mapInfo(fd.fd).name === wanted;
      }
      if (match) out.push(fd);
      else fd.close();
    }
    if (!out.length) throw new BpfError(`no ${kind === 'prog' ? 'program' : 'map'} with ${byTag ? 'tag' : 'name'} ${wanted} found`, { errno: 2 });
    return out;
  }
  const expected = kind === 'prog' ? "'id', 'tag', 'name' or 'pinned'" : kind === 'map' ? "'id', 'name' or 'pinned'" : "'id' or 'pinned'";
  throw new BpfError(`expected ${expected}, got: '${what ?? ''}'?`, { errno: 22 });
}

function errnoText(errno: number): string {
  return errno === 2 ? 'No such file or directory' : errno === 1 ? 'Operation not permitted' : errno === 13 ? 'Permission denied' : `errno ${errno}`;
}

/** What kind of BPF object an fd refers to (from the anon-inode name in /proc/self/fd). */
function pinnedKind(fd: Fd): string | undefined {
  try {
    const target = readFileSync(`/proc/self/fdinfo/${fd.fd}`, 'utf8');
    if (/^prog_type:/m.test(target)) return 'prog';
    if (/^map_type:/m.test(target)) return 'map';
    if (/^link_type:/m.test(target)) return 'link';
  } catch {
    // fall through
  }
  return undefined;
}

/** Pinned paths under the bpffs mounts, by object id, for `-f/--bpffs` (bpftool's build_pinned_obj_table). */
export function pinnedPaths(kind: 'prog' | 'map' | 'link'): Map<number, string[]> {
  const out = new Map<number, string[]>();
  let mounts: string[] = [];
  try {
    mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')).filter((f) => f[2] === 'bpf').map((f) => f[1]!);
  } catch {
    return out;
  }
  const walk = (dir: string, depth: number): void => {
    if (depth > 16) return;
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) {
        walk(p, depth + 1);
        continue;
      }
      let fd: Fd | undefined;
      try {
        fd = objGet(p);
        if (pinnedKind(fd) !== kind) continue;
        const id = kind === 'prog' ? progInfo(fd.fd, { mapIds: false }).id : kind === 'map' ? mapInfo(fd.fd).id : linkInfo(fd.fd).id;
        const list = out.get(id);
        if (list) list.push(p);
        else out.set(id, [p]);
      } catch {
        // Not a BPF object we may open: skip, as bpftool does.
      } finally {
        fd?.close();
      }
    }
  };
  for (const m of mounts) walk(m, 0);
  return out;
}

/** Prints a JSON document (compact, or bpftool's pretty layout with --pretty) followed by a newline. */
export function printJson(opts: CliOptions, v: JsonValue): void {
  opts.out(`${writeJson(v, opts.pretty)}\n`);
}

/** `-f`/`--bpffs` (show pinned paths) and the remaining arguments. */
export function takeFlags(args: string[]): { bpffs: boolean; rest: string[] } {
  let bpffs = false;
  const rest: string[] = [];
  for (const a of args) {
    if (a === '-f' || a === '--bpffs') bpffs = true;
    else rest.push(a);
  }
  return { bpffs, rest };
}

/** Runs `show` for each fd (closing them), printing one JSON value, or an array when there are several. */
export function showEach(opts: CliOptions, fds: Fd[], json: (fd: Fd) => JsonValue, plain: (fd: Fd) => string): void {
  const values: JsonValue[] = [];
  try {
    for (const fd of fds) {
      if (opts.json) values.push(json(fd));
      else opts.out(plain(fd));
    }
  } finally {
    for (const fd of fds) fd.close();
  }
  if (opts.json) printJson(opts, values.length === 1 ? values[0]! : values);
}

// ------------------------------------------------------------------------------------------------
// btf list (exported for src/cli/btf.ts: `tsbpf btf list|show [id N]`)
// ------------------------------------------------------------------------------------------------

const BTF_USAGE = 'Usage: tsbpf btf { show | list } [id BTF_ID]';

/**
 * `btf list|show [id N]`: BTF objects with the programs and maps that use them, in bpftool's
 * format. `args` are the words after `list`/`show`.
 */
export async function btfList(args: string[], opts: CliOptions): Promise<number> {
  let ids: number[];
  if (args.length) {
    if (!isPrefix(args[0], 'id') || args.length !== 2) throw new BpfError(`${BTF_USAGE}`, { errno: 22 });
    ids = [parseId(args[1])];
  } else {
    ids = allIds('btf');
  }
  // Which programs and maps use each BTF object (bpftool's btf_prog_table/btf_map_table).
  const progsOf = new Map<number, number[]>();
  const mapsOf = new Map<number, number[]>();
  const add = (m: Map<number, number[]>, k: number, v: number): void => {
    const l = m.get(k);
    if (l) l.push(v);
    else m.set(k, [v]);
  };
  for (const id of allIds('prog')) {
    const fd = openById('prog', id);
    if (!fd) continue;
    try {
      const i = progInfo(fd.fd, { mapIds: false });
      if (i.btfId) add(progsOf, i.btfId, i.id);
    } finally {
      fd.close();
    }
  }
  for (const id of allIds('map')) {
    const fd = openById('map', id);
    if (!fd) continue;
    try {
      const i = mapInfo(fd.fd);
      if (i.btfId) add(mapsOf, i.btfId, i.id);
      if (i.btfVmlinuxId) add(mapsOf, i.btfVmlinuxId, i.id);
    } finally {
      fd.close();
    }
  }
  const values: JsonValue[] = [];
  for (const id of ids) {
    const fd = args.length ? btfGetFdById(id) : openById('btf', id);
    if (!fd) continue;
    let info;
    try {
      info = btfInfo(fd.fd);
    } finally {
      fd.close();
    }
    const progs = progsOf.get(info.id) ?? [];
    const maps = mapsOf.get(info.id) ?? [];
    if (opts.json) {
      const o: Record<string, JsonValue> = { id: info.id, size: info.btfSize, prog_ids: progs, map_ids: maps, kernel: info.kernelBtf };
      if (info.name) o.name = info.name;
      values.push(o);
    } else {
      const name = info.kernelBtf ? `name [${info.name}]  ` : info.name ? `name ${info.name}  ` : 'name <anon>  ';
      opts.out(`${info.id}: ${name}size ${info.btfSize}B${progs.length ? `  prog_ids ${progs.join(',')}` : ''}${maps.length ? `  map_ids ${maps.join(',')}` : ''}\n`);
    }
  }
  if (opts.json) printJson(opts, args.length && values.length === 1 ? values[0]! : values);
  return 0;
}

/**
 * `prog|map|link show|list [REF] [-f]`: the named objects, or every one the kernel has, in bpftool's plain
 * or JSON layout. `pins` (with -f) maps ids to their bpffs paths.
 */
export function showObjects(
  kind: 'prog' | 'map' | 'link', args: string[], opts: CliOptions, usage: string,
  json: (fd: Fd, pins: Map<number, string[]> | undefined) => JsonValue,
  plain: (fd: Fd, pins: Map<number, string[]> | undefined) => string,
): number {
  const { bpffs, rest } = takeFlags(args);
  const pins = bpffs ? pinnedPaths(kind) : undefined;
  if (rest.length) {
    const fds = parseObjectRef(kind, rest);
    if (rest.length) throw new BpfError(`unexpected argument '${rest[0]}'\n${usage}`, { errno: 22 });
    showEach(opts, fds, (fd) => json(fd, pins), (fd) => plain(fd, pins));
    return 0;
  }
  const values: JsonValue[] = [];
  for (const id of allIds(kind)) {
    const fd = openById(kind, id);
    if (!fd) continue;
    try {
      if (opts.json) values.push(json(fd, pins));
      else opts.out(plain(fd, pins));
    } finally {
      fd.close();
    }
  }
  if (opts.json) printJson(opts, values);
  return 0;
}
