// `tsbpf prog show|list [PROG]` and `tsbpf prog dump xlated PROG [linum|opcodes]`, with bpftool's output
// (plain and --json). PROG := id N | pinned PATH | tag TAG | name NAME.
// Also `tsbpf prog dump xlated object FILE.bpf.o [name PROG]`: an object's programs before load.

import { BTF_KIND } from '../../btf/index.js';
import { mapGetFdById, mapInfo, mapLookupElem, progInfo, type Fd, type ProgInfo } from '../../syscalls/index.js';
import type { CliOptions } from './options.js';
import { btfValue } from '../disasm/btf-text.js';
import { writeJson, type JsonValue } from '../disasm/json-writer.js';
import { kernelBtfById, progFullName, xlatedFormatOptions, xlatedProgram } from '../disasm/kernel-prog.js';
import { listingJson, listingText } from '../disasm/listing.js';
import { objectListingOptions } from '../disasm/object.js';
import { BpfError } from '../errors.js';
import { linkProgram } from '../link-subprogs.js';
import { BpfObject } from '../object.js';
import {
  bootTimeToWall, fdinfo, isPrefix, parseObjectRef, printJson, progTypeStr, 
 showObjects } from './kernel-objects.js';

const USAGE = `Usage: tsbpf [--json] prog { show | list } [PROG]
       tsbpf [--json] prog dump xlated PROG [{ opcodes | linum }]
       tsbpf [--json] prog dump xlated object FILE [name NAME] [{ opcodes | linum }]
       PROG := { id PROG_ID | pinned FILE | tag PROG_TAG | name PROG_NAME }`;

const METADATA_PREFIX = 'bpf_metadata_';

/** bpftool's program metadata: `bpf_metadata_*` variables of the program's .rodata map. */
function metadata(info: ProgInfo, plain: boolean): [string, JsonValue][] {
  const out: [string, JsonValue][] = [];
  for (const mapId of info.mapIds) {
    let fd: Fd;
    try {
      fd = mapGetFdById(mapId);
    } catch {
      return out;
    }
    try {
      const m = mapInfo(fd.fd);
      if (m.type !== 2 /* ARRAY */ || m.keySize !== 4 || m.maxEntries !== 1 || !m.btfValueTypeId || !m.name.includes('.rodata')) continue;
      const value = new Uint8Array(m.valueSize);
      if (!mapLookupElem(fd.fd, new Uint8Array(4), value)) return out;
      const btf = kernelBtfById(m.btfId);
      const sec = btf.type(m.btfValueTypeId);
      if (sec.kind !== BTF_KIND.DATASEC) return out;
      for (const v of sec.vars) {
        const name = btf.name(v.type);
        if (!name.startsWith(METADATA_PREFIX)) continue;
        const t = btf.type(v.type);
        if (t.kind !== BTF_KIND.VAR) continue;
        out.push([name.slice(METADATA_PREFIX.length), btfValue(btf, t.type, value, v.offset, { plain })]);
      }
      return out;
    } catch {
      return out;
    } finally {
      fd.close();
    }
  }
  return out;
}

function showJson(fd: Fd, pins: Map<number, string[]> | undefined): JsonValue {
  const info = progInfo(fd.fd);
  const o: Record<string, JsonValue> = { id: info.id, type: progTypeStr(info.type) ?? info.type };
  if (info.name) o.name = progFullName(fd.fd, info);
  o.tag = info.tag;
  o.gpl_compatible = info.gplCompatible;
  if (info.runTimeNs) {
    o.run_time_ns = info.runTimeNs;
    o.run_cnt = info.runCnt;
  }
  if (info.recursionMisses) o.recursion_misses = info.recursionMisses;
  if (info.ifindex) o.dev = { ifindex: info.ifindex, ns_dev: info.netnsDev, ns_inode: info.netnsIno };
  if (info.loadTime) {
    o.loaded_at = bootTimeToWall(info.loadTime).epoch;
    o.uid = info.createdByUid;
  }
  o.bytes_xlated = info.xlatedProgLen;
  o.jited = info.jitedProgLen > 0;
  if (info.jitedProgLen) o.bytes_jited = info.jitedProgLen;
  const memlock = fdinfo(fd.fd, 'memlock');
  if (memlock !== undefined) o.bytes_memlock = Number(memlock);
  if (info.mapIds.length) o.map_ids = info.mapIds;
  if (info.btfId) o.btf_id = info.btfId;
  if (pins) o.pinned = pins.get(info.id) ?? [];
  const md = metadata(info, false);
  if (md.length) o.metadata = Object.fromEntries(md);
  return o;
}

function showPlain(fd: Fd, pins: Map<number, string[]> | undefined): string {
  const info = progInfo(fd.fd);
  let s = `${info.id}: ${progTypeStr(info.type) ?? `type ${info.type}`}  `;
  if (info.name) s += `name ${progFullName(fd.fd, info)}  `;
  s += `tag ${info.tag}`;
  if (info.ifindex) s += `  offloaded_to ifindex ${info.ifindex} ns_dev ${info.netnsDev} ns_ino ${info.netnsIno}`;
  if (info.gplCompatible) s += '  gpl';
  if (info.runTimeNs) s += ` run_time_ns ${info.runTimeNs} run_cnt ${info.runCnt}`;
  if (info.recursionMisses) s += ` recursion_misses ${info.recursionMisses}`;
  s += '\n';
  if (info.loadTime) s += `\tloaded_at ${bootTimeToWall(info.loadTime).text}  uid ${info.createdByUid}\n`;
  s += `\txlated ${info.xlatedProgLen}B`;
  s += info.jitedProgLen ? `  jited ${info.jitedProgLen}B` : '  not jited';
  const memlock = fdinfo(fd.fd, 'memlock');
  if (memlock !== undefined) s += `  memlock ${memlock}B`;
  if (info.mapIds.length) s += `  map_ids ${info.mapIds.join(',')}`;
  for (const p of pins?.get(info.id) ?? []) s += `\n\tpinned ${p}`;
  if (info.btfId) s += `\n\tbtf_id ${info.btfId}`;
  s += '\n';
  const md = metadata(info, true);
  if (md.length) s += `\tmetadata:${md.map(([k, v]) => `\n\t\t${k} = ${writeJson(v)}`).join('')}\n`;
  return s;
}

function show(args: string[], opts: CliOptions): number {
  return showObjects('prog', args, opts, USAGE, showJson, showPlain);
}

function dumpOptions(args: string[]): { linum: boolean; opcodes: boolean } {
  const o = { linum: false, opcodes: false };
  while (args.length) {
    const a = args.shift()!;
    if (isPrefix(a, 'linum')) o.linum = true;
    else if (isPrefix(a, 'opcodes')) o.opcodes = true;
    else throw new BpfError(`unexpected argument '${a}'\n${USAGE}`, { errno: 22 });
  }
  return o;
}

function dumpObject(args: string[], opts: CliOptions): number {
  const path = args.shift();
  if (!path) throw new BpfError(`expected an object file\n${USAGE}`, { errno: 22 });
  let only: string | undefined;
  if (isPrefix(args[0], 'name')) {
    args.shift();
    only = args.shift();
  }
  const dopts = dumpOptions(args);
  using obj = BpfObject.open(path);
  const spec = obj.spec;
  const progs = [...obj.programs.keys()].filter((n) => !only || n === only);
  if (only && !progs.length) throw new BpfError(`object '${obj.name}' has no program '${only}'`, { errno: 2 });
  const values: JsonValue[] = [];
  progs.forEach((name, i) => {
    const linked = linkProgram(spec, obj.programs.get(name)!.spec, !!spec.btfExt);
    const lopts = { ...objectListingOptions(spec, linked), ...dopts };
    if (opts.json) values.push({ name, insns: listingJson(linked.insns, lopts) });
    else opts.out(`${i ? '\n' : ''}${progs.length > 1 ? `${name}:\n` : ''}${listingText(linked.insns, lopts).join('\n')}\n`);
  });
  if (opts.json) printJson(opts, progs.length === 1 && only ? (values[0] as { insns: JsonValue }).insns : values);
  return 0;
}

function dump(args: string[], opts: CliOptions): number {
  const mode = args.shift();
  if (isPrefix(mode, 'jited')) throw new BpfError('dumping JITed code needs a native disassembler; tsbpf dumps xlated code only', { errno: 95 });
  if (!isPrefix(mode, 'xlated')) throw new BpfError(`expected 'xlated' or 'jited', got: ${mode ?? ''}`, { errno: 22 });
  if (isPrefix(args[0], 'object')) {
    args.shift();
    return dumpObject(args, opts);
  }
  const fds = parseObjectRef('prog', args);
  const dopts = dumpOptions(args);
  const values: JsonValue[] = [];
  try {
    for (const fd of fds) {
      const x = xlatedProgram(fd.fd);
      if (!x.insns.length) throw new BpfError('error retrieving insn dump: kernel.kptr_restrict set?', { errno: 1 });
      const lopts = { ...xlatedFormatOptions(x), btf: x.btf, funcInfo: x.funcInfo, lineInfo: x.lineInfo, ...dopts };
      if (opts.json) values.push(listingJson(x.insns, lopts));
      else opts.out(`${listingText(x.insns, lopts).join('\n')}\n`);
    }
  } finally {
    for (const fd of fds) fd.close();
  }
  if (opts.json) printJson(opts, values.length === 1 ? values[0]! : values);
  return 0;
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

