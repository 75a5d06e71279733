// `tsbpf map show|list [MAP]` and `tsbpf map dump MAP`, with bpftool's output (plain and --json).
// MAP := id N | pinned PATH | name NAME. A map with BTF dumps typed: keys and values as numbers,
// structs, arrays and strings (bpftool's BTF-aware dump); without BTF, as hex bytes.

import type { Btf } from '../../btf/index.js';
import {
  BPF_MAP_TYPE, mapGetNextKey, mapInfo, mapLookupElem, possibleCpus, type Fd, type MapInfo,
} from '../../syscalls/index.js';
import type { CliOptions } from './options.js';
import { btfValue } from '../disasm/btf-text.js';
import { JsonEntries, writeJson, type JsonValue } from '../disasm/json-writer.js';
import { kernelBtfById } from '../disasm/kernel-prog.js';
import { BpfError } from '../errors.js';
import { kernelBtf } from '../kernel-btf.js';
import {
  fdinfo, isPrefix, mapTypeStr, parseObjectRef, printJson, progTypeStr, 
 showObjects } from './kernel-objects.js';

const USAGE = `Usage: tsbpf [--json] map { show | list } [MAP]
       tsbpf [--json] map dump MAP
       MAP := { id MAP_ID | pinned FILE | name MAP_NAME }`;

const PERCPU = new Set<number>([BPF_MAP_TYPE.PERCPU_HASH, BPF_MAP_TYPE.PERCPU_ARRAY, BPF_MAP_TYPE.LRU_PERCPU_HASH, BPF_MAP_TYPE.PERCPU_CGROUP_STORAGE]);
const OF_FDS = new Set<number>([BPF_MAP_TYPE.ARRAY_OF_MAPS, BPF_MAP_TYPE.HASH_OF_MAPS, BPF_MAP_TYPE.PROG_ARRAY]);

export const isPerCpuMap = (type: number): boolean => PERCPU.has(type);

function showJson(fd: Fd, pins: Map<number, string[]> | undefined): JsonValue {
  const info = mapInfo(fd.fd);
  const o: Record<string, JsonValue> = { id: info.id, type: mapTypeStr(info.type) ?? info.type };
  if (info.name) o.name = info.name;
  o.flags = info.mapFlags;
  if (info.ifindex) o.dev = { ifindex: info.ifindex, ns_dev: info.netnsDev, ns_inode: info.netnsIno };
  o.bytes_key = info.keySize;
  o.bytes_value = info.valueSize;
  o.max_entries = info.maxEntries;
  const memlock = fdinfo(fd.fd, 'memlock');
  if (memlock !== undefined) o.bytes_memlock = Number(memlock);
  if (info.type === BPF_MAP_TYPE.PROG_ARRAY) {
    const owner = fdinfo(fd.fd, 'owner_prog_type');
    const jited = fdinfo(fd.fd, 'owner_jited');
    if (owner !== undefined) o.owner_prog_type = progTypeStr(Number(owner)) ?? Number(owner);
    if (jited !== undefined) o.owner_jited = Number(jited) !== 0;
  }
  o.frozen = Number(fdinfo(fd.fd, 'frozen') ?? 0);
  if (info.btfId) o.btf_id = info.btfId;
  if (pins) o.pinned = pins.get(info.id) ?? [];
  return o;
}

function header(info: MapInfo): string {
  let s = `${info.id}: ${mapTypeStr(info.type) ?? `type ${info.type}`}  `;
  if (info.name) s += `name ${info.name}  `;
  s += `flags 0x${info.mapFlags.toString(16)}`;
  if (info.ifindex) s += `  offloaded_to ifindex ${info.ifindex} ns_dev ${info.netnsDev} ns_ino ${info.netnsIno}`;
  return `${s}\n`;
}

function showPlain(fd: Fd, pins: Map<number, string[]> | undefined): string {
  const info = mapInfo(fd.fd);
  let s = header(info);
  s += `\tkey ${info.keySize}B  value ${info.valueSize}B  max_entries ${info.maxEntries}`;
  const memlock = fdinfo(fd.fd, 'memlock');
  if (memlock !== undefined) s += `  memlock ${memlock}B`;
  if (info.type === BPF_MAP_TYPE.PROG_ARRAY) {
    const owner = fdinfo(fd.fd, 'owner_prog_type');
    const jited = fdinfo(fd.fd, 'owner_jited');
    if (owner !== undefined || jited !== undefined) s += '\n\t';
    if (owner !== undefined) s += `owner_prog_type ${progTypeStr(Number(owner)) ?? owner}  `;
    if (jited !== undefined) s += `owner${Number(jited) ? '' : ' not'} jited`;
  }
  for (const p of pins?.get(info.id) ?? []) s += `\n\tpinned ${p}`;
  const frozen = Number(fdinfo(fd.fd, 'frozen') ?? 0);
  if (info.btfId || frozen) s += '\n\t';
  if (info.btfId) s += `btf_id ${info.btfId}`;
  if (frozen) s += `${info.btfId ? '  ' : ''}frozen`;
  return `${s}\n`;
}

function show(args: string[], opts: CliOptions): number {
  return showObjects('map', args, opts, USAGE, showJson, showPlain);
}

// ------------------------------------------------------------------------------------------------
// dump
// ------------------------------------------------------------------------------------------------

const hexJson = (b: Uint8Array): JsonValue[] => [...b].map((x) => `0x${x.toString(16).padStart(2, '0')}`);
/** bpftool's fprint_hex: bytes separated by spaces, two spaces after every 8th, a new line after every 16th. */
function hexPlain(b: Uint8Array): string {
  let s = '';
  b.forEach((x, i) => {
    s += `${!i ? '' : i % 16 === 0 ? '\n' : i % 8 === 0 ? '  ' : ' '}${x.toString(16).padStart(2, '0')}`;
  });
  return s;
}

/** The BTF describing the map's key and value: the map's own, or vmlinux for struct_ops maps. */
function mapBtf(info: MapInfo): Btf | undefined {
  if (info.btfVmlinuxValueTypeId) return kernelBtf();
  if (info.btfValueTypeId) return kernelBtfById(info.btfId);
  return undefined;
}

/** bpftool's do_dump_btf: {key, value} or {key, values: [{cpu, value}]}, typed. */
function typedEntry(btf: Btf, info: MapInfo, key: Uint8Array, value: Uint8Array, plain: boolean): JsonValue {
  const e = new JsonEntries();
  if (info.btfKeyTypeId) e.entries.push(['key', btfValue(btf, info.btfKeyTypeId, key, 0, { plain })]);
  const valueId = info.btfVmlinuxValueTypeId || info.btfValueTypeId;
  if (!isPerCpuMap(info.type)) {
    e.entries.push(['value', btfValue(btf, valueId, value, 0, { plain })]);
  } else {
    const step = Math.ceil(info.valueSize / 8) * 8;
    const values: JsonValue[] = [];
    for (let cpu = 0; cpu * step < value.length; cpu++) {
      values.push({ cpu, value: btfValue(btf, valueId, value, cpu * step, { plain }) });
    }
    e.entries.push(['values', values]);
  }
  return e;
}

function rawEntryJson(info: MapInfo, key: Uint8Array, value: Uint8Array): Record<string, JsonValue> {
  if (!isPerCpuMap(info.type)) return { key: hexJson(key), value: hexJson(value.subarray(0, info.valueSize)) };
  const step = Math.ceil(info.valueSize / 8) * 8;
  const values: JsonValue[] = [];
  for (let cpu = 0; cpu * step < value.length; cpu++) values.push({ cpu, value: hexJson(value.subarray(cpu * step, cpu * step + info.valueSize)) });
  return { key: hexJson(key), values };
}

function rawEntryPlain(info: MapInfo, key: Uint8Array, value: Uint8Array): string {
  if (!isPerCpuMap(info.type)) {
    const breakNames = info.keySize > 16 || info.valueSize > 16;
    const singleLine = info.keySize + info.valueSize <= 24 && !breakNames;
    let s = '';
    if (info.keySize) s += `key:${breakNames ? '\n' : ' '}${hexPlain(key)}${singleLine ? '  ' : '\n'}`;
    if (info.valueSize) s += `value:${breakNames ? '\n' : ' '}${hexPlain(value.subarray(0, info.valueSize))}`;
    return `${s}\n`;
  }
  const step = Math.ceil(info.valueSize / 8) * 8;
  let s = '';
  if (info.keySize) s += `key:\n${hexPlain(key)}\n`;
  if (info.valueSize) {
    for (let cpu = 0; cpu * step < value.length; cpu++) {
      s += `value (CPU ${String(cpu).padStart(2, '0')}):${info.valueSize > 16 ? '\n' : ' '}${hexPlain(value.subarray(cpu * step, cpu * step + info.valueSize))}\n`;
    }
  }
  return s;
}

function errorEntryPlain(info: MapInfo, key: Uint8Array, msg: string): string {
  const breakNames = info.keySize > 16 || msg.length > 16;
  const singleLine = info.keySize + msg.length <= 24 && !breakNames;
  return `key:${breakNames ? '\n' : ' '}${hexPlain(key)}${singleLine ? '  ' : '\n'}value:${breakNames ? '\n' : ' '}${msg}\n`;
}

const STRERROR: Record<number, string> = { 2: 'No such file or directory', 1: 'Operation not permitted', 22: 'Invalid argument', 28: 'No space left on device', 524: 'Unknown error 524', 95: 'Operation not supported' };

export interface MapDumpEntry {
  key: Uint8Array;
  /** The value (all CPUs' values for per-CPU maps), or undefined when the lookup failed. */
  value?: Uint8Array;
  errno?: number;
}

/**
 * Every entry of the map behind `fd`, walked with BPF_MAP_GET_NEXT_KEY and read with lookups
 * (reusing one key and one value buffer per step is not possible: entries are returned).
 */
export function readMapEntries(fd: number, info: MapInfo): { entries: MapDumpEntry[]; errno: number } {
  const entries: MapDumpEntry[] = [];
  const valueLen = isPerCpuMap(info.type) ? Math.ceil(info.valueSize / 8) * 8 * possibleCpus() : info.valueSize;
  let prev: Uint8Array | null = null;
  for (let guard = 0; guard < 1 << 24; guard++) {
    const key = new Uint8Array(info.keySize);
    let more: boolean;
    try {
      more = mapGetNextKey(fd, prev, key);
    } catch (e) {
      if (e instanceof BpfError) return { entries, errno: e.errno };
      throw e;
    }
    if (!more) break;
    const value = new Uint8Array(valueLen);
    try {
      if (mapLookupElem(fd, key, value)) entries.push({ key, value });
      else entries.push({ key, errno: 2 });
    } catch (e) {
      if (!(e instanceof BpfError)) throw e;
      entries.push({ key, errno: e.errno });
    }
    prev = key;
  }
  return { entries, errno: 0 };
}

function dump(args: string[], opts: CliOptions): number {
  const fds = parseObjectRef('map', args);
  if (args.length) throw new BpfError(`unexpected argument '${args[0]}'\n${USAGE}`, { errno: 22 });
  const many = fds.length > 1;
  const jsonOut: JsonValue[] = [];
  let status = 0;
  try {
    const infos = fds.map((fd) => mapInfo(fd.fd));
    // Plain output is typed only when every map has BTF (bpftool's maps_have_btf).
    const typedPlain = !opts.json && infos.every((i) => i.btfId);
    const plainTyped: JsonValue[] = [];
    fds.forEach((fd, n) => {
      const info = infos[n]!;
      let btf: Btf | undefined;
      if (opts.json || typedPlain) btf = mapBtf(info);
      const { entries, errno } = readMapEntries(fd.fd, info);
      if (errno) status = 1;
      if (info.type === BPF_MAP_TYPE.REUSEPORT_SOCKARRAY && info.valueSize !== 8) {
        opts.err(`Warning: cannot read values from ${mapTypeStr(info.type)} map with value_size != 8\n`);
      }
      const elements: JsonValue[] = [];
      let found = 0;
      let plain = '';
      for (const e of entries) {
        if (!e.value) {
          // An empty slot of a prog array or map-in-map is not an error.
          if (OF_FDS.has(info.type) && e.errno === 2) continue;
          const text = STRERROR[e.errno!] ?? `Unknown error ${e.errno}`;
          if (opts.json || typedPlain) elements.push({ key: hexJson(e.key), value: { error: text } });
          else plain += errorEntryPlain(info, e.key, e.errno === 2 ? '<no entry>' : text);
          continue;
        }
        found++;
        if (opts.json) {
          const o = rawEntryJson(info, e.key, e.value);
          if (btf) o.formatted = typedEntry(btf, info, e.key, e.value, false);
          elements.push(o);
        } else if (typedPlain && btf) {
          elements.push(typedEntry(btf, info, e.key, e.value, true));
        } else {
          plain += rawEntryPlain(info, e.key, e.value);
        }
      }
      if (opts.json || typedPlain) {
        const value = many ? { id: info.id, type: mapTypeStr(info.type) ?? info.type, ...(info.name ? { name: info.name } : {}), flags: info.mapFlags, elements } : elements;
        if (opts.json) jsonOut.push(value);
        else plainTyped.push(value);
      } else {
        if (many) plain = header(info) + plain;
        opts.out(`${plain}Found ${found} element${found !== 1 ? 's' : ''}\n${many && n !== fds.length - 1 ? '\n' : ''}`);
      }
    });
    if (opts.json) printJson(opts, many ? jsonOut : jsonOut[0]!);
    // bpftool prints typed plain dumps with its pretty JSON writer.
    else if (typedPlain) opts.out(`${writeJson(many ? plainTyped : plainTyped[0]!, true)}\n`);
  } finally {
    for (const fd of fds) fd.close();
  }
  return status;
}

export async function run(args: string[], opts: CliOptions): Promise<number> {
  const verb = args.shift();
  if (!verb || isPrefix(verb, 'show') || isPrefix(verb, 'list')) return show(args, opts);
  if (isPrefix(verb, 'dump')) return dump(args, opts);
  if (isPrefix(verb, 'help')) {
    opts.out(`${USAGE}\n`);
    return 0;
  }
  throw new BpfError(`unknown command '${verb}'\n${USAGE}`, { errno: 22 });
}
