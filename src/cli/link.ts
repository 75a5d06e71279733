// `tsbpf link show|list [LINK]`, with bpftool's output (plain and --json). LINK := id N | pinned PATH.

import { BPF_LINK_INFO } from '../../syscalls/generated/bpf-attr.js';
import { BPF_LINK_TYPE, linkInfo, progGetFdById, progInfo, type Fd, type LinkInfo } from '../../syscalls/index.js';
import type { CliOptions } from './options.js';
import type { JsonValue } from '../disasm/json-writer.js';
import { BpfError } from '../errors.js';
import {
  attachTypeStr, isPrefix, linkTypeStr, progTypeStr, 
 showObjects } from './kernel-objects.js';

const USAGE = `Usage: tsbpf [--json] link { show | list } [LINK]
       LINK := { id LINK_ID | pinned FILE }`;

type LinkField = keyof typeof BPF_LINK_INFO;

/** A type-specific field of struct bpf_link_info (the union after prog_id). */
function field(info: LinkInfo, name: LinkField): number {
  const f = BPF_LINK_INFO[name];
  const dv = new DataView(info.raw.buffer, info.raw.byteOffset, info.raw.byteLength);
  return f.size === 8 ? Number(dv.getBigUint64(f.off, true)) : dv.getUint32(f.off, true);
}

function bigField(info: LinkInfo, name: LinkField): bigint {
  const f = BPF_LINK_INFO[name];
  return new DataView(info.raw.buffer, info.raw.byteOffset, info.raw.byteLength).getBigUint64(f.off, true);
}

function progTypeOf(progId: number): number | undefined {
  try {
    const fd = progGetFdById(progId);
    try {
      return progInfo(fd.fd, { mapIds: false }).type;
    } finally {
      fd.close();
    }
  } catch {
    return undefined;
  }
}

/** The type-specific details bpftool 7.1 prints, as ordered [name, value] pairs. */
function details(info: LinkInfo): [string, JsonValue][] {
  const attach = (name: LinkField): [string, JsonValue] => {
    const t = field(info, name);
    return ['attach_type', attachTypeStr(t) ?? t];
  };
  switch (info.type) {
    case BPF_LINK_TYPE.RAW_TRACEPOINT:
      return [['tp_name', info.tpName ?? '']];
    case BPF_LINK_TYPE.TRACING: {
      const t = progTypeOf(info.progId);
      return [['prog_type', t === undefined ? null : progTypeStr(t) ?? t], attach('tracing_attach_type')];
    }
    case BPF_LINK_TYPE.CGROUP:
      return [['cgroup_id', bigField(info, 'cgroup_cgroup_id')], attach('cgroup_attach_type')];
    case BPF_LINK_TYPE.NETNS:
      return [['netns_ino', field(info, 'netns_netns_ino')], attach('netns_attach_type')];
    case BPF_LINK_TYPE.XDP:
      return [['ifindex', field(info, 'xdp_ifindex')]];
    case BPF_LINK_TYPE.TCX:
      return [['ifindex', field(info, 'tcx_ifindex')], attach('tcx_attach_type')];
    case BPF_LINK_TYPE.NETKIT:
      return [['ifindex', field(info, 'netkit_ifindex')], attach('netkit_attach_type')];
    case BPF_LINK_TYPE.STRUCT_OPS:
      return [['map_id', field(info, 'struct_ops_map_id')]];
    case BPF_LINK_TYPE.SOCKMAP:
      return [['map_id', field(info, 'sockmap_map_id')], attach('sockmap_attach_type')];
    case BPF_LINK_TYPE.NETFILTER:
      return [['pf', field(info, 'netfilter_pf')], ['hook', field(info, 'netfilter_hooknum')], ['prio', field(info, 'netfilter_priority') | 0], ['flags', field(info, 'netfilter_flags')]];
    case BPF_LINK_TYPE.KPROBE_MULTI:
      return [['func_cnt', field(info, 'kprobe_multi_count')], ['retprobe', (field(info, 'kprobe_multi_flags') & 1) !== 0]];
    case BPF_LINK_TYPE.UPROBE_MULTI:
      return [['func_cnt', field(info, 'uprobe_multi_count')], ['pid', field(info, 'uprobe_multi_pid')], ['retprobe', (field(info, 'uprobe_multi_flags') & 1) !== 0]];
    default:
      return [];
  }
}

function showJson(fd: Fd, pins: Map<number, string[]> | undefined): JsonValue {
  const info = linkInfo(fd.fd);
  const o: Record<string, JsonValue> = { id: info.id, type: linkTypeStr(info.type) ?? info.type, prog_id: info.progId };
  for (const [k, v] of details(info)) o[k] = v;
  if (pins) o.pinned = pins.get(info.id) ?? [];
  return o;
}

function showPlain(fd: Fd, pins: Map<number, string[]> | undefined): string {
  const info = linkInfo(fd.fd);
  let s = `${info.id}: ${linkTypeStr(info.type) ?? `type ${info.type}`}  prog ${info.progId}  `;
  const d = details(info);
  if (info.type === BPF_LINK_TYPE.RAW_TRACEPOINT) s += `\n\ttp '${info.tpName ?? ''}'  `;
  else if (d.length) s += `\n\t${d.map(([k, v]) => `${k} ${typeof v === 'bigint' ? v.toString() : String(v)}  `).join('')}`;
  for (const p of pins?.get(info.id) ?? []) s += `\n\tpinned ${p}`;
  return `${s}\n`;
}

function show(args: string[], opts: CliOptions): number {
  return showObjects('link', args, opts, USAGE, showJson, showPlain);
}

export async function run(args: string[], opts: CliOptions): Promise<number> {
  const verb = args.shift();
  if (!verb || isPrefix(verb, 'show') || isPrefix(verb, 'list')) return show(args, opts);
  if (isPrefix(verb, 'help')) {
    opts.out(`${USAGE}\n`);
    return 0;
  }
  throw new BpfError(`unknown command '${verb}'\n${USAGE}`, { errno: 22 });
}
