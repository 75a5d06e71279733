// Networking attachments: XDP (a link, or netlink with its flags), tcx (a link with ordering),
// legacy tc (cls_bpf on clsact through netlink), socket filters (SO_ATTACH_BPF), network
// namespace hooks (sk_lookup, flow dissector), sockmaps and netfilter.
//
// Netlink attachments belong to the network namespace that was current when they were made,
// and interface indexes are per namespace: the Link keeps that namespace open and undoes the
// attachment inside it, wherever the thread is when close() runs.

import {
  type Fd, ATTACH_FLAGS, BPF_ATTACH_TYPE, linkCreate, progAttach, progDetach,
} from '../../syscalls/index.js';
import {
  ifIndex, tcFilterAttach, tcFilterDetach, tcFilterList, tcHookCreate, tcHookDestroy, xdpFlagsAreModesOnly, xdpSetProgram,
  XDP_FLAGS, type TcDirection,
} from '../../syscalls/netlink.js';
import { dupRawFd, openNetns, socketAttachBpf, socketDetachBpf, withNetnsFd } from '../../syscalls/sockets.js';
import { BpfError } from '../errors.js';
import { kernelHasLink, missingLinkError } from '../features.js';
import { Link, type ProgramRef } from '../link.js';
import {
  type AttachableProgram, attachTypeOf, attachTypeName, closingOnError, dupProgFd, expectedAttachTypeOf, explainAttach, isErrno, progFd,
} from './common.js';

/** An interface: its index in the current network namespace, or its name. */
export type Interface = number | string;

function ifindexOf(i: Interface): number {
  return typeof i === 'number' ? i : ifIndex(i);
}

// --- mprog ordering (tcx, netkit, cgroup links on recent kernels) ------------------------------------

/**
 * Where to insert a program among the ones already on a multi-program hook: `true` for the very
 * front (before) or end (after), or relative to a Program, a Link, or an id.
 */
export type MprogAnchor = true | Link | { readonly fd: number } | { progId: number } | { linkId: number };

export interface MprogOptions {
  before?: MprogAnchor;
  after?: MprogAnchor;
  /** Fail with ESTALE unless the hook is at this revision (from progQuery). */
  expectedRevision?: bigint;
}

const BPF_F_LINK = 1 << 13;

/** Rethrows ESTALE from an mprog attach with what it means. */
export function explainMprog(e: unknown, what: string): void {
  if (isErrno(e, 116)) {
    throw new BpfError(`${what}: the hook changed since the expected revision (ESTALE)`, {
      errno: 116, cmd: 'BPF_LINK_CREATE', cause: e, advice: 'query the hook again (progQuery) and retry with its current revision',
    });
  }
}

/** The flags and relative fd/id of BPF_LINK_CREATE/PROG_ATTACH for an mprog position. */
export function mprogPosition(o: MprogOptions): { flags: number; relativeFd?: number; relativeId?: number; expectedRevision?: bigint } {
  if (o.before !== undefined && o.after !== undefined) throw new BpfError('give before or after, not both', { errno: 22, cmd: 'attach' });
  const anchor = o.before ?? o.after;
  const out: { flags: number; relativeFd?: number; relativeId?: number; expectedRevision?: bigint } = { flags: 0 };
  if (o.expectedRevision !== undefined) out.expectedRevision = o.expectedRevision;
  if (anchor === undefined) return out;
  out.flags |= o.before !== undefined ? ATTACH_FLAGS.BEFORE : ATTACH_FLAGS.AFTER;
  if (anchor === true) return out;
  if (anchor instanceof Link) {
    out.flags |= BPF_F_LINK;
    out.relativeFd = anchor.fd;
  } else if ('progId' in anchor) {
    out.flags |= ATTACH_FLAGS.ID;
    out.relativeId = anchor.progId;
  } else if ('linkId' in anchor) {
    out.flags |= ATTACH_FLAGS.ID | BPF_F_LINK;
    out.relativeId = anchor.linkId;
  } else {
    out.relativeFd = anchor.fd;
  }
  return out;
}

// --- XDP ---------------------------------------------------------------------------------------------

export interface XdpOptions {
  /** Generic (skb), native driver (drv) or offloaded (hw); default: the driver's best. */
  mode?: 'skb' | 'drv' | 'hw';
  /** Raw XDP_FLAGS_* (see XDP_FLAGS); UPDATE_IF_NOEXIST and REPLACE imply netlink. */
  flags?: number;
  /** Attach through netlink (IFLA_XDP, like `ip link set dev X xdp`) instead of a BPF link. */
  netlink?: boolean;
  /** With netlink: replace this program, which must be the one attached (XDP_FLAGS_REPLACE). */
  replace?: ProgramRef;
}

const XDP_MODE_FLAG = { skb: XDP_FLAGS.SKB_MODE, drv: XDP_FLAGS.DRV_MODE, hw: XDP_FLAGS.HW_MODE } as const;
const XDP_MODES = XDP_FLAGS.SKB_MODE | XDP_FLAGS.DRV_MODE | XDP_FLAGS.HW_MODE;

/** SEC("xdp") programs on an interface: a BPF link (Linux 5.9), or netlink when asked or needed by the flags. */
export function attachXdp(prog: AttachableProgram, iface: Interface, opts: XdpOptions = {}): Link {
  const ifindex = ifindexOf(iface);
  const flags = (opts.flags ?? 0) | (opts.mode ? XDP_MODE_FLAG[opts.mode] : 0) | (opts.replace !== undefined ? XDP_FLAGS.REPLACE : 0);
  const target = `xdp ifindex ${ifindex}${typeof iface === 'string' ? ` (${iface})` : ''}${opts.mode ? ` ${opts.mode} mode` : ''}`;
  const what = `attaching prog '${prog.name}' to ${target}`;
  if (!opts.netlink && xdpFlagsAreModesOnly(flags)) {
    let fd: Fd;
    try {
      fd = linkCreate(progFd(prog), ifindex, BPF_ATTACH_TYPE.XDP, { flags }, `link ${target}`);
    } catch (e) {
      if (isErrno(e, 16, 17)) {
        throw new BpfError(`${what}: ${(e as Error).message}`, {
          errno: (e as BpfError).errno, cmd: 'BPF_LINK_CREATE', cause: e,
          advice: 'the interface already has an XDP program (ip link show shows it), attached by netlink or by another link, possibly in another mode; ' +
            'a link cannot take over: detach it first, or use { netlink: true, replace }',
        });
      }
      explainAttach(e, what, prog);
    }
    return new Link({ kind: 'xdp', mechanism: 'bpf_link', target, program: prog.name, fd });
  }
  return attachXdpNetlink(prog, ifindex, flags, target, opts.replace);
}

function attachXdpNetlink(prog: AttachableProgram, ifindex: number, flags: number, target: string, replace: ProgramRef | undefined): Link {
  const ns = openNetns();
  const owned: Fd[] = [ns];
  return closingOnError(owned, () => {
    owned.push(dupProgFd(prog));
    const expected = replace === undefined ? undefined : typeof replace === 'number' ? replace : replace.fd;
    xdpSetProgram(ifindex, owned[1]!.fd, flags, expected);
    const modes = flags & XDP_MODES;
    const detach = (): void => withNetnsFd(ns.fd, () => {
      try {
        // REPLACE with our own program as the expected one: never remove someone else's.
        xdpSetProgram(ifindex, -1, modes | XDP_FLAGS.REPLACE, owned[1]!.fd);
      } catch (e) {
        // ENODEV: the interface is gone; EEXIST: our program is no longer the attached one.
        if (!isErrno(e, 19, 17)) throw e;
      }
    });
    const update = (newFd: number, oldFd: number | undefined): void => {
      const dup = dupRawFd(newFd, `prog fd ${newFd} (held by its link)`);
      try {
        withNetnsFd(ns.fd, () => xdpSetProgram(ifindex, dup.fd, modes | XDP_FLAGS.REPLACE, oldFd ?? owned[1]!.fd));
      } catch (e) {
        dup.close();
        throw e;
      }
      owned[1]!.close();
      owned[1] = dup;
    };
    return new Link({ kind: 'xdp', mechanism: 'netlink', target, program: prog.name, owned, detach, update, outlivesProcess: true });
  });
}

// --- tcx and legacy tc --------------------------------------------------------------------------------

export type TcxOptions = MprogOptions;

/** SEC("tcx/ingress"), SEC("tcx/egress") programs: a tcx link (Linux 6.6), ordered by before/after. */
export function attachTcx(prog: AttachableProgram, iface: Interface, direction: TcDirection, opts: TcxOptions = {}): Link {
  const ifindex = ifindexOf(iface);
  const target = `tcx ${direction} ifindex ${ifindex}${typeof iface === 'string' ? ` (${iface})` : ''}`;
  const pos = mprogPosition(opts);
  // Without tcx the kernel refuses the attach type with a bare EINVAL, indistinguishable from a bad
  // option; a probe tells them apart, so that callers can catch NotSupportedError and use attachTc.
  if (!kernelHasLink('tcx')) {
    throw missingLinkError('tcx', `attaching prog '${prog.name}' to ${target}`,
      `attach it the pre-6.6 way: prog.attachTc(iface, '${direction}') puts it in a cls_bpf filter on a clsact qdisc (examples/tc.ts falls back so)`);
  }
  let fd: Fd;
  try {
    fd = linkCreate(progFd(prog), ifindex, direction === 'ingress' ? BPF_ATTACH_TYPE.TCX_INGRESS : BPF_ATTACH_TYPE.TCX_EGRESS, pos, `link ${target}`);
  } catch (e) {
    explainMprog(e, `attaching prog '${prog.name}' to ${target}`);
    explainAttach(e, `attaching prog '${prog.name}' to ${target}`, prog);
  }
  return new Link({ kind: 'tcx', mechanism: 'bpf_link', target, program: prog.name, fd });
}

export interface TcOptions {
  /** Filter priority 1..65535 (default: the kernel picks one). */
  priority?: number;
  /** Filter handle (default: the kernel picks one). */
  handle?: number;
  /** direct-action (default true): the program's return value is the verdict (TC_ACT_*). */
  directAction?: boolean;
}

/**
 * SEC("tc")/SEC("classifier") programs the pre-tcx way: a cls_bpf filter on the clsact qdisc,
 * which is created if missing (and removed again on close when we created it and it is empty).
 */
export function attachTc(prog: AttachableProgram, iface: Interface, direction: TcDirection, opts: TcOptions = {}): Link {
  const ifindex = ifindexOf(iface);
  const ns = openNetns();
  const owned: Fd[] = [ns];
  return closingOnError(owned, () => {
    owned.push(dupProgFd(prog));
    const createdHook = tcHookCreate(ifindex);
    let where: { handle: number; priority: number };
    try {
      where = tcFilterAttach(ifindex, direction, owned[1]!.fd, { ...opts, name: `${prog.name}` });
    } catch (e) {
      if (createdHook) tcHookDestroy(ifindex);
      explainAttach(e, `attaching prog '${prog.name}' to tc ${direction} of ifindex ${ifindex}`, prog);
    }
    const target = `tc ${direction} ifindex ${ifindex}${typeof iface === 'string' ? ` (${iface})` : ''} prio ${where.priority} handle 0x${where.handle.toString(16)}`;
    const detach = (): void => withNetnsFd(ns.fd, () => {
      try {
        tcFilterDetach(ifindex, direction, where.handle, where.priority);
        if (createdHook && tcFilterList(ifindex, 'ingress').length === 0 && tcFilterList(ifindex, 'egress').length === 0) tcHookDestroy(ifindex);
      } catch (e) {
        // ENODEV: the interface is gone; ENOENT: the filter was removed behind our back.
        if (!isErrno(e, 19, 2)) throw e;
      }
    });
    const update = (newFd: number): void => {
      const dup = dupRawFd(newFd, `prog fd ${newFd} (held by its link)`);
      try {
        withNetnsFd(ns.fd, () => tcFilterAttach(ifindex, direction, dup.fd, { ...opts, ...where, replace: true }));
      } catch (e) {
        dup.close();
        throw e;
      }
      owned[1]!.close();
      owned[1] = dup;
    };
    return new Link({ kind: 'tc', mechanism: 'netlink', target, program: prog.name, owned, detach, update, outlivesProcess: true });
  });
}

// --- sockets -------------------------------------------------------------------------------------------

/** A socket: an fd number, or an object with one (an Fd, or a Node net/dgram socket through its handle). */
export type SocketRef = number | { readonly fd: number } | { _handle?: { fd?: number } | null };

function socketFdOf(s: SocketRef): number {
  if (typeof s === 'number') return s;
  if ('fd' in s && typeof s.fd === 'number') return s.fd;
  const h = (s as { _handle?: { fd?: number } | null })._handle;
  if (h && typeof h.fd === 'number' && h.fd >= 0) return h.fd;
  throw new BpfError('cannot find the fd of this socket (a Node socket must be bound or connected first)', { errno: 9, cmd: 'SO_ATTACH_BPF' });
}

/**
 * SEC("socket") programs on a socket (SO_ATTACH_BPF): the program sees every packet the socket
 * receives and its return value is how many bytes to keep (0 drops). The Link keeps its own dup of
 * the socket fd, so close() can detach even after the caller closed theirs.
 */
export function attachSocket(prog: AttachableProgram, sock: SocketRef): Link {
  const raw = socketFdOf(sock);
  const dup = dupRawFd(raw, `socket fd ${raw} (held by its filter link)`);
  return closingOnError([dup], () => {
    try {
      socketAttachBpf(dup.fd, progFd(prog));
    } catch (e) {
      explainAttach(e, `attaching prog '${prog.name}' to socket fd ${raw}`, prog);
    }
    return new Link({
      kind: 'socket_filter', mechanism: 'setsockopt', target: `socket fd ${raw}`, program: prog.name, owned: [dup],
      detach: () => socketDetachBpf(dup.fd),
    });
  });
}

/**
 * SEC("sk_lookup") and SEC("flow_dissector") programs on a network namespace: a netns link.
 * `netns` is a name under /run/netns, a path (/proc/<pid>/ns/net) or an open fd; default: the
 * calling thread's namespace.
 */
export function attachNetns(prog: AttachableProgram, netns?: string | number, attachType?: number | string): Link {
  const type = attachType === undefined ? expectedAttachTypeOf(prog, 'a netns attachment') : attachTypeOf(attachType);
  const nsFd = typeof netns === 'number' ? dupRawFd(netns, `netns fd ${netns}`) : openNetns(netns);
  const target = `netns ${netns ?? '(current)'} ${attachTypeName(type)}`;
  let fd: Fd;
  try {
    fd = linkCreate(progFd(prog), nsFd.fd, type, {}, `link ${target}`);
  } catch (e) {
    explainAttach(e, `attaching prog '${prog.name}' to ${target}`, prog);
  } finally {
    nsFd.close();
  }
  return new Link({ kind: 'netns', mechanism: 'bpf_link', target, program: prog.name, fd });
}

export interface SockmapOptions {
  /** Use BPF_PROG_ATTACH on the map instead of a sockmap link (kernels before 6.10 only have this). */
  legacy?: boolean;
}

/**
 * SEC("sk_msg"), SEC("sk_skb/...") programs on a sockmap/sockhash: a sockmap link (Linux 6.10),
 * or BPF_PROG_ATTACH on older kernels or when asked.
 */
export function attachSockmap(prog: AttachableProgram, map: number | { readonly fd: number }, attachType?: number | string, opts: SockmapOptions = {}): Link {
  const type = attachType === undefined ? expectedAttachTypeOf(prog, 'a sockmap attachment') : attachTypeOf(attachType);
  const mapFd = typeof map === 'number' ? map : map.fd;
  const target = `sockmap fd ${mapFd} ${attachTypeName(type)}`;
  const what = `attaching prog '${prog.name}' to ${target}`;
  if (!opts.legacy) {
    try {
      const fd = linkCreate(progFd(prog), mapFd, type, {}, `link ${target}`);
      return new Link({ kind: 'sockmap', mechanism: 'bpf_link', target, program: prog.name, fd });
    } catch (e) {
      // Before sockmap links, BPF_LINK_CREATE rejects these attach types with EINVAL.
      if (!isErrno(e, 22, 95)) explainAttach(e, what, prog);
    }
  }
  const owned = [dupProgFd(prog)];
  return closingOnError(owned, () => {
    owned.push(dupRawFd(mapFd, `map fd ${mapFd} (held by its link)`));
    try {
      progAttach(owned[0]!.fd, owned[1]!.fd, type);
    } catch (e) {
      explainAttach(e, what, prog);
    }
    return new Link({
      kind: 'sockmap', mechanism: 'prog_attach', target, program: prog.name, owned,
      detach: () => progDetach(owned[0]!.fd, owned[1]!.fd, type),
      outlivesProcess: true,
    });
  });
}

// --- netfilter ---------------------------------------------------------------------------------------

const NF_PROTO = { ipv4: 2, ipv6: 10 } as const;
const NF_HOOK = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 } as const;

export interface NetfilterOptions {
  /** Protocol family (default ipv4). */
  pf?: keyof typeof NF_PROTO | number;
  hook: keyof typeof NF_HOOK | number;
  /** Position among the hook's functions (lower runs first; conntrack is at -200). */
  priority: number;
  /** Defragment packets before the program sees them (BPF_F_NETFILTER_IP_DEFRAG; priority must be above -400). */
  defrag?: boolean;
}

/** SEC("netfilter") programs on a netfilter hook of the current network namespace (Linux 6.4). */
export function attachNetfilter(prog: AttachableProgram, o: NetfilterOptions): Link {
  const pf = typeof o.pf === 'number' ? o.pf : NF_PROTO[o.pf ?? 'ipv4'];
  const hooknum = typeof o.hook === 'number' ? o.hook : NF_HOOK[o.hook];
  const target = `netfilter pf ${pf} hook ${o.hook} priority ${o.priority}`;
  let fd: Fd;
  try {
    fd = linkCreate(progFd(prog), 0, BPF_ATTACH_TYPE.NETFILTER, { netfilter: { pf, hooknum, priority: o.priority, flags: o.defrag ? 1 : 0 } }, `link ${target}`);
  } catch (e) {
    explainAttach(e, `attaching prog '${prog.name}' to ${target}`, prog);
  }
  return new Link({ kind: 'netfilter', mechanism: 'bpf_link', target, program: prog.name, fd });
}
