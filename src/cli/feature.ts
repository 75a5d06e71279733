// `tsbpf feature probe [kernel] [full] [macros [prefix PREFIX]]` and `tsbpf feature list_builtins
// {prog_types|map_types|attach_types|link_types|helpers}`, in bpftool's layout (plain, --json, or C
// macros). The probes themselves are src/probes/ (cached, usable from the library); this adds the
// system configuration section and a BTF kinds section bpftool does not have.

import { readFileSync } from 'node:fs';
import {
  BPF_ATTACH_TYPE_NAMES, BPF_FUNC_ID_NAMES, BPF_LINK_TYPE_NAMES, BPF_MAP_TYPE_NAMES, BPF_PROG_TYPE_NAMES, kernelRelease,
} from '../../syscalls/index.js';
import type { CliOptions } from './options.js';
import type { JsonValue } from '../disasm/json-writer.js';
import { helperName } from '../disasm/format.js';
import { BpfError } from '../errors.js';
import { readSystemKconfig } from '../kconfig.js';
import {
  NOISY_HELPERS, mapTypeShortName, probeBtfKinds, probeHelper, probeMapType, probeMisc, probeProgType, progTypeShortName,
  type MiscFeature,
} from '../probes/index.js';
import { attachTypeStr, isPrefix, linkTypeStr, printJson } from './kernel-objects.js';

const USAGE = `Usage: tsbpf [--json] feature probe [kernel] [full] [macros [prefix PREFIX]]
       tsbpf [--json] feature list_builtins { prog_types | map_types | attach_types | link_types | helpers }`;

/** The kernel config options bpftool reports (only CONFIG_HZ also as a macro). */
const KCONFIG_OPTIONS = [
  'CONFIG_BPF', 'CONFIG_BPF_SYSCALL', 'CONFIG_HAVE_EBPF_JIT', 'CONFIG_BPF_JIT', 'CONFIG_BPF_JIT_ALWAYS_ON',
  'CONFIG_DEBUG_INFO_BTF', 'CONFIG_DEBUG_INFO_BTF_MODULES', 'CONFIG_CGROUPS', 'CONFIG_CGROUP_BPF',
  'CONFIG_CGROUP_NET_CLASSID', 'CONFIG_SOCK_CGROUP_DATA', 'CONFIG_BPF_EVENTS', 'CONFIG_KPROBE_EVENTS',
  'CONFIG_UPROBE_EVENTS', 'CONFIG_TRACING', 'CONFIG_FTRACE_SYSCALLS', 'CONFIG_FUNCTION_ERROR_INJECTION',
  'CONFIG_BPF_KPROBE_OVERRIDE', 'CONFIG_NET', 'CONFIG_XDP_SOCKETS', 'CONFIG_LWTUNNEL_BPF', 'CONFIG_NET_ACT_BPF',
  'CONFIG_NET_CLS_BPF', 'CONFIG_NET_CLS_ACT', 'CONFIG_NET_SCH_INGRESS', 'CONFIG_XFRM', 'CONFIG_IP_ROUTE_CLASSID',
  'CONFIG_IPV6_SEG6_BPF', 'CONFIG_BPF_LIRC_MODE2', 'CONFIG_BPF_STREAM_PARSER', 'CONFIG_NETFILTER_XT_MATCH_BPF',
  'CONFIG_BPFILTER', 'CONFIG_BPFILTER_UMH', 'CONFIG_TEST_BPF', 'CONFIG_HZ',
];
const KCONFIG_MACROS = new Set(['CONFIG_HZ']);

const MISC: { key: MiscFeature; json: string; plain: string; define: string }[] = [
  { key: 'largeInsnLimit', json: 'have_large_insn_limit', plain: 'Large program size limit', define: 'LARGE_INSN_LIMIT' },
  { key: 'boundedLoops', json: 'have_bounded_loops', plain: 'Bounded loop support', define: 'BOUNDED_LOOPS' },
  { key: 'v2Isa', json: 'have_v2_isa_extension', plain: 'ISA extension v2', define: 'V2_ISA_EXTENSION' },
  { key: 'v3Isa', json: 'have_v3_isa_extension', plain: 'ISA extension v3', define: 'V3_ISA_EXTENSION' },
  { key: 'v4Isa', json: 'have_v4_isa_extension', plain: 'ISA extension v4', define: 'V4_ISA_EXTENSION' },
];

const BTF_KINDS: { key: keyof ReturnType<typeof probeBtfKinds>; name: string; plain: string }[] = [
  { key: 'btf', name: 'btf', plain: 'BTF' },
  { key: 'func', name: 'btf_func', plain: 'BTF kinds FUNC and FUNC_PROTO' },
  { key: 'globalFunc', name: 'btf_global_func', plain: 'BTF global functions' },
  { key: 'datasec', name: 'btf_datasec', plain: 'BTF kinds VAR and DATASEC' },
  { key: 'qmarkDatasec', name: 'btf_qmark_datasec', plain: "BTF DATASEC names starting with '?'" },
  { key: 'float', name: 'btf_float', plain: 'BTF kind FLOAT' },
  { key: 'declTag', name: 'btf_decl_tag', plain: 'BTF kind DECL_TAG' },
  { key: 'typeTag', name: 'btf_type_tag', plain: 'BTF kind TYPE_TAG' },
  { key: 'enum64', name: 'btf_enum64', plain: 'BTF kind ENUM64' },
];

/** Output in one of bpftool's three forms: JSON object sections, plain sentences, or C macros. */
class Report {
  readonly root: Record<string, JsonValue> = {};
  private section: Record<string, JsonValue> | undefined;
  readonly lines: string[] = [];
  readonly json: boolean;
  readonly prefix: string | undefined;
  constructor(json: boolean, prefix: string | undefined) {
    this.json = json;
    this.prefix = json ? undefined : prefix;
  }
  start(json: string, plain: string, macro: string): void {
    if (this.json) this.root[json] = this.section = {};
    else this.lines.push(this.prefix !== undefined ? macro : plain);
  }
  end(): void {
    if (!this.json) this.lines.push('');
  }
  bool(json: string, plain: string, define: string, res: boolean): void {
    if (this.json) this.section![json] = res;
    else if (this.prefix !== undefined) this.lines.push(`#define ${this.prefix}${res ? '' : 'NO_'}HAVE_${define}`);
    else this.lines.push(`${plain} is ${res ? '' : 'NOT '}available`);
  }
  set(json: string, v: JsonValue): void {
    this.section![json] = v;
  }
}

function readProcInt(path: string): number {
  try {
    const t = readFileSync(path, 'utf8');
    return /^-?\d+\n$/.test(t) ? Number(t.trim()) : -1;
  } catch {
    return -1;
  }
}

const PROCFS: { path: string; json: string; plain: (v: number) => string }[] = [
  {
    path: '/proc/sys/kernel/unprivileged_bpf_disabled', json: 'unprivileged_bpf_disabled', plain: (v) =>
      v === 0 ? 'bpf() syscall for unprivileged users is enabled'
        : v === 1 ? 'bpf() syscall restricted to privileged users (without recovery)'
        : v === 2 ? 'bpf() syscall restricted to privileged users (admin can change)'
        : v === -1 ? 'Unable to retrieve required privileges for bpf() syscall' : `bpf() syscall restriction has unknown value ${v}`,
  },
  {
    path: '/proc/sys/net/core/bpf_jit_enable', json: 'bpf_jit_enable', plain: (v) =>
      v === 0 ? 'JIT compiler is disabled' : v === 1 ? 'JIT compiler is enabled'
        : v === 2 ? 'JIT compiler is enabled with debugging traces in kernel logs'
        : v === -1 ? 'Unable to retrieve JIT-compiler status' : `JIT-compiler status has unknown value ${v}`,
  },
  {
    path: '/proc/sys/net/core/bpf_jit_harden', json: 'bpf_jit_harden', plain: (v) =>
      v === 0 ? 'JIT compiler hardening is disabled' : v === 1 ? 'JIT compiler hardening is enabled for unprivileged users'
        : v === 2 ? 'JIT compiler hardening is enabled for all users'
        : v === -1 ? 'Unable to retrieve JIT hardening status' : `JIT hardening status has unknown value ${v}`,
  },
  {
    path: '/proc/sys/net/core/bpf_jit_kallsyms', json: 'bpf_jit_kallsyms', plain: (v) =>
      v === 0 ? 'JIT compiler kallsyms exports are disabled' : v === 1 ? 'JIT compiler kallsyms exports are enabled for root'
        : v === -1 ? 'Unable to retrieve JIT kallsyms export status' : `JIT kallsyms exports status has unknown value ${v}`,
  },
  {
    path: '/proc/sys/net/core/bpf_jit_limit', json: 'bpf_jit_limit', plain: (v) =>
      v === -1 ? 'Unable to retrieve global memory limit for JIT compiler for unprivileged users'
        : `Global memory limit for JIT compiler for unprivileged users is ${v} bytes`,
  },
];

function systemConfig(r: Report, errOut: (t: string) => void): void {
  r.start('system_config', 'Scanning system configuration...', '/*** Misc kernel config items ***/');
  if (r.prefix === undefined) {
    for (const p of PROCFS) {
      const v = readProcInt(p.path);
      if (r.json) r.set(p.json, v);
      else r.lines.push(p.plain(v));
    }
  }
  let text: string | undefined;
  try {
    text = readSystemKconfig(kernelRelease());
  } catch {
    text = undefined;
  }
  const values = new Map<string, string>();
  if (text === undefined) errOut('skipping kernel config, can\'t open file\n');
  else {
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (!line.startsWith('CONFIG_') || eq < 0 || eq === line.length - 1) continue;
      const name = line.slice(0, eq);
      if (!values.has(name)) values.set(name, line.slice(eq + 1));
    }
  }
  for (const name of KCONFIG_OPTIONS) {
    if (r.prefix !== undefined && !KCONFIG_MACROS.has(name)) continue;
    const v = values.get(name);
    if (r.json) r.set(name, v ?? null);
    else if (r.prefix !== undefined) r.lines.push(v !== undefined ? `#define ${r.prefix}${name} ${v}` : `/* ${r.prefix}${name} is not set */`);
    else r.lines.push(v !== undefined ? `${name} is set to ${v}` : `${name} is not set`);
  }
  r.end();
}

const sortedIds = (names: Readonly<Record<number, string>>): number[] =>
  Object.keys(names).map(Number).filter((k) => k > 0 && !names[k]!.startsWith('__')).sort((a, b) => a - b);

function probe(args: string[], opts: CliOptions): number {
  let full = false;
  let prefix: string | undefined;
  let target = false;
  while (args.length) {
    const a = args.shift()!;
    if (isPrefix(a, 'kernel')) {
      if (target) throw new BpfError('component to probe already specified', { errno: 22 });
      target = true;
    } else if (isPrefix(a, 'dev')) {
      throw new BpfError('probing offload devices (dev NAME) is not supported', { errno: 95 });
    } else if (isPrefix(a, 'full')) {
      full = true;
    } else if (isPrefix(a, 'macros') && prefix === undefined) {
      prefix = '';
    } else if (isPrefix(a, 'prefix')) {
      if (prefix === undefined) throw new BpfError("'prefix' argument can only be use after 'macros'", { errno: 22 });
      if (prefix !== '') throw new BpfError("'prefix' already defined", { errno: 22 });
      prefix = args.shift();
      if (!prefix) throw new BpfError("'prefix' needs an argument", { errno: 22 });
    } else {
      throw new BpfError(`expected no more arguments, 'kernel', 'dev', 'macros' or 'prefix', got: '${a}'?`, { errno: 22 });
    }
  }
  if (process.geteuid?.() !== 0) throw new BpfError('full feature probing requires root privileges', { errno: 1 });
  const r = new Report(opts.json, prefix);

  systemConfig(r, opts.err);

  r.start('syscall_config', 'Scanning system call availability...', '/*** System call availability ***/');
  r.bool('have_bpf_syscall', 'bpf() syscall', 'BPF_SYSCALL', true);
  r.end();

  const progIds = sortedIds(BPF_PROG_TYPE_NAMES);
  const supported = new Map<number, boolean>();
  r.start('program_types', 'Scanning eBPF program types...', '/*** eBPF program types ***/');
  for (const t of progIds) {
    const name = progTypeShortName(t)!;
    const ok = probeProgType(t);
    supported.set(t, ok);
    r.bool(`have_${name}_prog_type`, `eBPF program_type ${name}`, `${name.toUpperCase()}_PROG_TYPE`, ok);
  }
  r.end();

  r.start('map_types', 'Scanning eBPF map types...', '/*** eBPF map types ***/');
  for (const t of sortedIds(BPF_MAP_TYPE_NAMES)) {
    const name = mapTypeShortName(t)!;
    r.bool(`have_${name}_map_type`, `eBPF map_type ${name}`, `${name.toUpperCase()}_MAP_TYPE`, probeMapType(t));
  }
  r.end();

  r.start('helpers', 'Scanning eBPF helper functions...', '/*** eBPF helper functions ***/');
  if (prefix !== undefined && !opts.json) {
    r.lines.push('/*', ` * Use ${prefix}HAVE_PROG_TYPE_HELPER(prog_type_name, helper_name)`,
      ' * to determine if <helper_name> is available for <prog_type_name>,', ' * e.g.',
      ` *	#if ${prefix}HAVE_PROG_TYPE_HELPER(xdp, bpf_redirect)`, ' *		// do stuff with this helper', ' *	#elif',
      ' *		// use a workaround', ' *	#endif', ' */',
      `#define ${prefix}HAVE_PROG_TYPE_HELPER(prog_type, helper)	\\`,
      `	${prefix}BPF__PROG_TYPE_ ## prog_type ## __HELPER_ ## helper`);
  }
  const helperIds = sortedIds(BPF_FUNC_ID_NAMES);
  for (const t of progIds) {
    const name = progTypeShortName(t)!;
    const ok = supported.get(t)!;
    const list: string[] = [];
    let any = false;
    if (!opts.json && prefix === undefined) r.lines.push(`eBPF helpers supported for program type ${name}:`);
    for (const id of helperIds) {
      const h = helperName(id)!;
      if (!full && NOISY_HELPERS.has(h)) continue;
      const res = ok ? probeHelper(t, id) === true : false;
      any ||= res;
      if (res) list.push(h);
      if (prefix !== undefined && !opts.json) r.lines.push(`#define ${prefix}BPF__PROG_TYPE_${name}__HELPER_${h} ${res ? 1 : 0}`);
      else if (res && !opts.json) r.lines.push(`\t- ${h}`);
    }
    if (opts.json) r.set(`${name}_available_helpers`, list);
    else if (prefix === undefined && !any) r.lines.push(ok ? '\tCould not determine which helpers are available' : '\tProgram type not supported');
  }
  r.end();

  r.start('misc', 'Scanning miscellaneous eBPF features...', '/*** eBPF misc features ***/');
  for (const m of MISC) r.bool(m.json, m.plain, m.define, probeMisc(m.key));
  r.end();

  // Not in bpftool: the BTF kinds the kernel accepts (what the loader sanitizes away when it does not).
  const btf = probeBtfKinds();
  r.start('btf_kinds', 'Scanning BTF kinds...', '/*** BTF kinds ***/');
  for (const k of BTF_KINDS) r.bool(`have_${k.name}`, k.plain, k.name.toUpperCase(), btf[k.key]);
  r.end();

  if (opts.json) printJson(opts, r.root);
  else opts.out(`${r.lines.join('\n')}\n`);
  return 0;
}

function listBuiltins(args: string[], opts: CliOptions): number {
  const what = args.shift();
  let names: string[];
  const all = (table: Readonly<Record<number, string>>, f: (n: number) => string | undefined): string[] =>
    Object.keys(table).map(Number).sort((a, b) => a - b).map(f).filter((n): n is string => !!n && !n.startsWith('__'));
  if (isPrefix(what, 'prog_types')) names = all(BPF_PROG_TYPE_NAMES, progTypeShortName);
  else if (isPrefix(what, 'map_types')) names = all(BPF_MAP_TYPE_NAMES, mapTypeShortName);
  else if (isPrefix(what, 'attach_types')) names = all(BPF_ATTACH_TYPE_NAMES, attachTypeStr);
  else if (isPrefix(what, 'link_types')) names = all(BPF_LINK_TYPE_NAMES, linkTypeStr);
  else if (isPrefix(what, 'helpers')) names = ['bpf_unspec', ...all(BPF_FUNC_ID_NAMES, (id) => helperName(id))];
  else throw new BpfError(`expected 'prog_types', 'map_types', 'attach_types', 'link_types' or 'helpers', got: ${what ?? ''}`, { errno: 22 });
  if (opts.json) printJson(opts, names);
  else opts.out(`${names.join('\n')}\n`);
  return 0;
}

export async function run(args: string[], opts: CliOptions): Promise<number> {
  const verb = args.shift();
  if (isPrefix(verb, 'probe')) return probe(args, opts);
  if (isPrefix(verb, 'list_builtins')) return listBuiltins(args, opts);
  if (!verb || isPrefix(verb, 'help')) {
    opts.out(`${USAGE}\n`);
    return verb ? 0 : 1;
  }
  throw new BpfError(`unknown command '${verb}'\n${USAGE}`, { errno: 22 });
}
