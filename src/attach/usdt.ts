// USDT attachment (libbpf's bpf_program__attach_usdt): find the probe sites of provider:name in the
// binary (usdt-spec.ts), write one struct __bpf_usdt_spec per distinct argument layout into the
// object's `__bpf_usdt_specs` array, and put a uprobe on every site with the spec id as its BPF
// cookie, which is how usdt.bpf.h's bpf_usdt_arg() finds the spec (the loader sets
// LINUX_HAS_BPF_COOKIE, so the `__bpf_usdt_ip_to_spec_id` map of cookie-less kernels is not used).
// Probes guarded by a semaphore get it through the uprobe's ref_ctr_offset: the kernel increments
// it in every process mapping the binary while the probe is attached.

import type { Btf } from '../../btf/index.js';
import { BTF_KIND } from '../../btf/index.js';
import { type Fd, BPF_ATTACH_TYPE, linkCreate, perfEventEnable } from '../../syscalls/index.js';
import { perfEventOpenProbe } from '../../syscalls/perf-probe.js';
import { probePmuType } from '../../syscalls/tracefs.js';
import { BpfError, NotSupportedError } from '../errors.js';
import { Link } from '../link.js';
import type { BpfMap } from '../map.js';
import { type AttachableProgram, explainAttach, isErrno, progFd } from './common.js';
import { USDT_SPEC_SIZE, encodeUsdtSpec, findUsdtTargets, type UsdtTarget } from './usdt-spec.js';

export interface UsdtOptions {
  /** The executable or library (a path, or a name searched like uprobe binaries). */
  binary: string;
  provider: string;
  name: string;
  /** Only this process (default: every process that maps the binary). */
  pid?: number;
  /** A value the program reads with bpf_usdt_cookie(). */
  cookie?: bigint;
}

/** What attachUsdt needs from the program's object. */
export interface UsdtObjectContext {
  readonly maps: ReadonlyMap<string, BpfMap>;
  readonly btf: Btf | undefined;
}

const SPECS_MAP = '__bpf_usdt_specs';

/** Spec ids in use, per `__bpf_usdt_specs` map. */
const usedIds = new WeakMap<BpfMap, Set<number>>();

function allocId(map: BpfMap, what: string): number {
  let used = usedIds.get(map);
  if (!used) usedIds.set(map, (used = new Set()));
  for (let id = 0; id < map.maxEntries; id++) {
    if (!used.has(id)) {
      used.add(id);
      return id;
    }
  }
  throw new BpfError(`${what}: all ${map.maxEntries} USDT spec slots of ${SPECS_MAP} are in use`, {
    errno: 7, cmd: 'usdt', advice: 'close other USDT links, or #define BPF_USDT_MAX_SPEC_CNT higher before including <bpf/usdt.bpf.h>',
  });
}

function hasSibSupport(btf: Btf | undefined): boolean {
  if (!btf) return false;
  const id = btf.findOne('__bpf_usdt_arg_type', BTF_KIND.ENUM);
  if (id === undefined) return false;
  const t = btf.type(id);
  return t.kind === BTF_KIND.ENUM && t.values.some((v) => v.name === 'BPF_USDT_ARG_SIB');
}

/** The spec id, file offset and semaphore of every site, as attachUsdt would use them (for tools and tests). */
export function usdtPlan(o: Pick<UsdtOptions, 'binary' | 'provider' | 'name'>): { path: string; targets: UsdtTarget[] } {
  return findUsdtTargets(o.binary, o.provider, o.name);
}

/** SEC("usdt/...") programs: one uprobe per probe site, sharing the argument specs in __bpf_usdt_specs. */
export function attachUsdt(prog: AttachableProgram, obj: UsdtObjectContext | undefined, o: UsdtOptions): Link {
  const label = `usdt ${o.provider}:${o.name}`;
  const whatFor = (path: string): string => `attaching prog '${prog.name}' to ${label} in ${path}${o.pid !== undefined && o.pid >= 0 ? ` pid ${o.pid}` : ''}`;
  const pfd = progFd(prog);
  const specs = obj?.maps.get(SPECS_MAP);
  if (!specs) {
    throw new BpfError(`${whatFor(o.binary)}: the object has no ${SPECS_MAP} map`, {
      errno: 22, cmd: 'usdt', advice: 'USDT programs read their arguments through <bpf/usdt.bpf.h>: include it and use BPF_USDT() or bpf_usdt_arg()',
    });
  }
  if (specs.valueSize !== USDT_SPEC_SIZE) {
    throw new BpfError(`${whatFor(o.binary)}: ${SPECS_MAP} has ${specs.valueSize}-byte values, not the ${USDT_SPEC_SIZE} of struct __bpf_usdt_spec`, { errno: 22, cmd: 'usdt' });
  }
  const { path, targets } = findUsdtTargets(o.binary, o.provider, o.name);
  const what = whatFor(path);
  const pmu = probePmuType('uprobe');
  if (pmu === undefined) {
    throw new NotSupportedError(`${what}: this kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe)`, { errno: 95, cmd: 'perf_event_open', advice: 'USDT needs perf uprobes with BPF cookies (Linux 5.15+)' });
  }
  const sib = hasSibSupport(obj?.btf);
  const cookie = o.cookie ?? 0n;
  const ids: number[] = [];
  const fds: Fd[] = [];
  const freeIds = (): void => {
    const used = usedIds.get(specs);
    for (const id of ids) used?.delete(id);
  };
  try {
    // One spec per distinct argument string (sites of one probe usually share it).
    const idByArgs = new Map<string, number>();
    const key = new Uint8Array(4);
    for (const t of targets) {
      if (idByArgs.has(t.args)) continue;
      const value = encodeUsdtSpec(t.argSpecs, cookie, { sib });
      const id = allocId(specs, what);
      ids.push(id);
      new DataView(key.buffer).setUint32(0, id, true);
      specs.update(key, value);
      idByArgs.set(t.args, id);
    }
    for (const t of targets) {
      const at = `${label} at ${path}:0x${t.offset.toString(16)}${t.semaphoreOffset ? ` (semaphore 0x${t.semaphoreOffset.toString(16)})` : ''}`;
      let perfFd: Fd;
      try {
        perfFd = perfEventOpenProbe({ pmuType: pmu, retprobe: false, target: path, offset: t.offset, refCtrOffset: t.semaphoreOffset || undefined, pid: o.pid }, `perf ${at}`);
      } catch (e) {
        if (isErrno(e, 22) && t.semaphoreOffset) {
          throw new BpfError(`${what}: the kernel refused the semaphore at file offset 0x${t.semaphoreOffset.toString(16)} (EINVAL)`, {
            errno: 22, cmd: 'perf_event_open', cause: e,
            advice: 'another uprobe on this binary may use a different ref_ctr_offset at the same place',
          });
        }
        throw e;
      }
      fds.push(perfFd);
      let linkFd: Fd;
      try {
        linkFd = linkCreate(pfd, perfFd.fd, BPF_ATTACH_TYPE.PERF_EVENT, { perfEventCookie: BigInt(idByArgs.get(t.args)!) }, `link ${at}`);
      } catch (e) {
        if (isErrno(e, 22)) {
          throw new NotSupportedError(`${what}: the kernel refused a BPF perf link with a cookie (EINVAL)`, {
            errno: 22, cmd: 'BPF_LINK_CREATE', cause: e,
            advice: 'USDT spec lookup uses BPF cookies (Linux 5.15+); the program must be a kprobe-type program (SEC("usdt/..."))',
          });
        }
        throw e;
      }
      fds.push(linkFd);
      perfEventEnable(perfFd.fd);
    }
  } catch (e) {
    for (const f of fds.reverse()) f.close();
    freeIds();
    explainAttach(e, what, prog);
  }
  const target = `${label} ${path} (${targets.length} site${targets.length === 1 ? '' : 's'})${o.pid !== undefined && o.pid >= 0 ? ` pid ${o.pid}` : ''}`;
  // One site: the Link is that site's BPF link (pinnable, queryable). Several: it owns them all.
  if (targets.length === 1) {
    return new Link({ kind: 'usdt', mechanism: 'perf_link', target, program: prog.name, perfFd: fds[0], fd: fds[1], cleanup: freeIds });
  }
  return new Link({ kind: 'usdt', mechanism: 'perf_link', target, program: prog.name, owned: fds, cleanup: freeIds });
}

/** Parses 'path:provider:name' of SEC("usdt/path:provider:name") (the path may itself contain ':'). */
export function parseUsdtSection(rest: string): { binary: string; provider: string; name: string } | undefined {
  const m = /^(.+):([^:]+):([^:]+)$/.exec(rest);
  if (!m) return undefined;
  return { binary: m[1]!, provider: m[2]!, name: m[3]! };
}
