// A minimal rtnetlink client for the attachments that predate BPF links: XDP through IFLA_XDP
// (RTM_SETLINK) and tc's cls_bpf on a clsact qdisc (RTM_{NEW,DEL,GET}{QDISC,TFILTER}). One socket
// per request: these are cold paths and a private socket can never see another request's replies.
// Netlink sockets belong to the network namespace of the thread that opens them (see withNetns).

import { Fd } from './fd.js';
import { errno } from './libc.js';
import { EINTR, syscallError } from './errors.js';
import { ifNametoindex } from './libc-attach.js';
import { AF_NETLINK, SOCK_RAW, socketOpen, setSockOpt, sockBind, sockSend, sockRecv } from './sockets.js';
import { SyscallError } from '../src/errors.js';

const NETLINK_ROUTE = 0;
const SOL_NETLINK = 270;
const NETLINK_EXT_ACK = 11;

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_ECHO = 0x8;
const NLM_F_DUMP = 0x300;
const NLM_F_REPLACE = 0x100;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
// Flags of an NLMSG_ERROR (acknowledgement) message.
const NLM_F_CAPPED = 0x100;
const NLM_F_ACK_TLVS = 0x200;
const NLMSGERR_ATTR_MSG = 1;

const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLMSG_HDRLEN = 16;
const NLA_F_NESTED = 1 << 15;
const NLA_TYPE_MASK = ~(NLA_F_NESTED | (1 << 14)) & 0xffff;

export const RTM = {
  NEWLINK: 16, GETLINK: 18, SETLINK: 19,
  NEWQDISC: 36, DELQDISC: 37, GETQDISC: 38,
  NEWTFILTER: 44, DELTFILTER: 45, GETTFILTER: 46,
} as const;
const RTM_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RTM).map(([k, v]) => [v, `RTM_${k}`]));

// --- attributes ---------------------------------------------------------------------------------

const align4 = (n: number): number => (n + 3) & ~3;

/** One netlink attribute (struct nlattr + payload, padded to 4 bytes). */
export function nlAttr(type: number, payload: Uint8Array): Buffer {
  const len = 4 + payload.length;
  const b = Buffer.alloc(align4(len));
  b.writeUInt16LE(len, 0);
  b.writeUInt16LE(type, 2);
  b.set(payload, 4);
  return b;
}
export function nlU32(type: number, v: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32LE(v >>> 0, 0);
  return nlAttr(type, p);
}
export function nlS32(type: number, v: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeInt32LE(v, 0);
  return nlAttr(type, p);
}
export function nlStr(type: number, s: string): Buffer {
  return nlAttr(type, Buffer.from(`${s}\0`, 'utf8'));
}
export function nlNested(type: number, children: Buffer[]): Buffer {
  return nlAttr(type | NLA_F_NESTED, Buffer.concat(children));
}

/** Attributes by type (the last one wins for duplicates). */
export function nlParseAttrs(buf: Buffer, start = 0, end = buf.length): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = start;
  while (off + 4 <= end) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export interface NlMessage {
  type: number;
  flags: number;
  /** The payload after the netlink header (family header + attributes). */
  data: Buffer;
}

// --- the socket ----------------------------------------------------------------------------------

let seqCounter = Math.floor(Date.now() / 1000) & 0xffffff;

/**
 * Sends one rtnetlink request and collects the answer: for a dump, every message up to
 * NLMSG_DONE; otherwise the messages before the acknowledgement (echoes, replies). A negative
 * acknowledgement throws a SyscallError carrying the kernel's extended-ack text, if any.
 */
export function rtnlRequest(type: number, flags: number, body: Buffer, attrs: Buffer[] = [], what?: string): NlMessage[] {
  const sock = socketOpen(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE, 'netlink');
  try {
    const one = Buffer.alloc(4);
    one.writeUInt32LE(1, 0);
    try {
      setSockOpt(sock.fd, SOL_NETLINK, NETLINK_EXT_ACK, one);
    } catch {
      // Kernels before 4.12 have no extended acks; the errno alone still reports the failure.
    }
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(AF_NETLINK, 0);
    sockBind(sock.fd, sa);
    const seq = ++seqCounter;
    const payload = Buffer.concat([body, ...attrs]);
    const msg = Buffer.alloc(NLMSG_HDRLEN + payload.length);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags | NLM_F_REQUEST, 6);
    msg.writeUInt32LE(seq, 8);
    payload.copy(msg, NLMSG_HDRLEN);
    const kernel = Buffer.alloc(12);
    kernel.writeUInt16LE(AF_NETLINK, 0);
    sockSend(sock.fd, msg, kernel);
    return receive(sock, seq, type, (flags & NLM_F_DUMP) === NLM_F_DUMP, what);
  } finally {
    sock.close();
  }
}

function receive(sock: Fd, seq: number, reqType: number, dump: boolean, what?: string): NlMessage[] {
  const out: NlMessage[] = [];
  const buf = Buffer.alloc(128 * 1024);
  const cmd = RTM_NAMES[reqType] ?? `netlink type ${reqType}`;
  for (;;) {
    let n: number;
    try {
      n = sockRecv(sock.fd, buf, 0);
    } catch (e) {
      if (e instanceof SyscallError && e.errno === EINTR) continue;
      throw e;
    }
    if (n <= 0) throw syscallError('netlink', cmd, errno() || 5, { what, detail: 'the kernel closed the netlink socket' });
    let off = 0;
    while (off + NLMSG_HDRLEN <= n) {
      const len = buf.readUInt32LE(off);
      if (len < NLMSG_HDRLEN || off + len > n) break;
      const mtype = buf.readUInt16LE(off + 4);
      const mflags = buf.readUInt16LE(off + 6);
      const mseq = buf.readUInt32LE(off + 8);
      const data = Buffer.from(buf.subarray(off + NLMSG_HDRLEN, off + len));
      off += align4(len);
      if (mseq !== seq) continue;
      if (mtype === NLMSG_DONE) return out;
      if (mtype === NLMSG_ERROR) {
        const err = -data.readInt32LE(0);
        if (err === 0) {
          if (!dump) return out;
          continue;
        }
        throw syscallError('netlink', cmd, err, { what, detail: extAckMessage(data, mflags) });
      }
      out.push({ type: mtype, flags: mflags, data });
    }
  }
}

/** The NLMSGERR_ATTR_MSG text of a negative acknowledgement, if the kernel sent one. */
function extAckMessage(data: Buffer, flags: number): string | undefined {
  if (!(flags & NLM_F_ACK_TLVS)) return undefined;
  // struct nlmsgerr: int error + the original header, plus its payload unless capped.
  let off = 4 + NLMSG_HDRLEN;
  if (!(flags & NLM_F_CAPPED)) off = 4 + data.readUInt32LE(4);
  const attrs = nlParseAttrs(data, align4(off));
  const m = attrs.get(NLMSGERR_ATTR_MSG);
  if (!m) return undefined;
  const nul = m.indexOf(0);
  return `kernel says: ${m.toString('utf8', 0, nul < 0 ? m.length : nul)}`;
}

/** if_nametoindex(3) in the calling thread's network namespace; throws when there is no such interface. */
export function ifIndex(name: string): number {
  const r = ifNametoindex(name);
  if (r === 0) throw syscallError('if_nametoindex', 'if_nametoindex', errno() || 19, { what: `interface ${name}` });
  return r;
}

// --- XDP (IFLA_XDP) -------------------------------------------------------------------------------

/** XDP attach flags (linux/if_link.h). */
export const XDP_FLAGS = {
  UPDATE_IF_NOEXIST: 1 << 0,
  SKB_MODE: 1 << 1,
  DRV_MODE: 1 << 2,
  HW_MODE: 1 << 3,
  REPLACE: 1 << 4,
} as const;
const XDP_FLAGS_MODES = XDP_FLAGS.SKB_MODE | XDP_FLAGS.DRV_MODE | XDP_FLAGS.HW_MODE;

const IFLA_XDP = 43;
const IFLA_XDP_FD = 1;
const IFLA_XDP_ATTACHED = 2;
const IFLA_XDP_FLAGS = 3;
const IFLA_XDP_PROG_ID = 4;
const IFLA_XDP_DRV_PROG_ID = 5;
const IFLA_XDP_SKB_PROG_ID = 6;
const IFLA_XDP_HW_PROG_ID = 7;
const IFLA_XDP_EXPECTED_FD = 8;

function ifinfomsg(ifindex: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(ifindex, 4);
  return b;
}

/**
 * Sets (progFd ≥ 0) or removes (progFd -1) the XDP program of an interface through netlink, as
 * `ip link set dev X xdp` does. With XDP_FLAGS.REPLACE, `expectedFd` names the program that must
 * currently be attached (-1: none), so a detach never removes someone else's program.
 */
export function xdpSetProgram(ifindex: number, progFd: number, flags = 0, expectedFd?: number): void {
  const xdp = [nlS32(IFLA_XDP_FD, progFd)];
  if (flags) xdp.push(nlU32(IFLA_XDP_FLAGS, flags));
  if (flags & XDP_FLAGS.REPLACE) xdp.push(nlS32(IFLA_XDP_EXPECTED_FD, expectedFd ?? -1));
  try {
    rtnlRequest(RTM.SETLINK, NLM_F_ACK, ifinfomsg(ifindex), [nlNested(IFLA_XDP, xdp)], `XDP on ifindex ${ifindex}`);
  } catch (e) {
    if (e instanceof SyscallError && e.errno === 16 /* EBUSY */) {
      throw syscallError('netlink', 'RTM_SETLINK', 16, {
        what: `XDP on ifindex ${ifindex}`, detail: e.message.replace(/^.*failed: EBUSY \([^)]*\),? ?/, ''),
        advice: 'another XDP program is attached (with a BPF link, or in another mode); detach it first or use the REPLACE flag',
      });
    }
    throw e;
  }
}

export interface XdpState {
  /** How the program is attached: none, driver (native), generic (skb), offloaded (hw) or several modes. */
  attached: 'none' | 'drv' | 'skb' | 'hw' | 'multi';
  /** The program id when exactly one mode is used (0 otherwise). */
  progId: number;
  drvProgId: number;
  skbProgId: number;
  hwProgId: number;
}

const XDP_ATTACHED = ['none', 'drv', 'skb', 'hw', 'multi'] as const;

/** The XDP programs of an interface (IFLA_XDP of RTM_GETLINK), whether attached by link or netlink. */
export function xdpQuery(ifindex: number): XdpState {
  const msgs = rtnlRequest(RTM.GETLINK, NLM_F_ACK, ifinfomsg(ifindex), [], `ifindex ${ifindex}`);
  const state: XdpState = { attached: 'none', progId: 0, drvProgId: 0, skbProgId: 0, hwProgId: 0 };
  for (const m of msgs) {
    if (m.type !== RTM.NEWLINK) continue;
    const xdp = nlParseAttrs(m.data, 16).get(IFLA_XDP);
    if (!xdp) continue;
    const a = nlParseAttrs(xdp);
    const u32 = (t: number): number => a.get(t)?.readUInt32LE(0) ?? 0;
    state.attached = XDP_ATTACHED[a.get(IFLA_XDP_ATTACHED)?.[0] ?? 0] ?? 'multi';
    state.progId = u32(IFLA_XDP_PROG_ID);
    state.drvProgId = u32(IFLA_XDP_DRV_PROG_ID);
    state.skbProgId = u32(IFLA_XDP_SKB_PROG_ID);
    state.hwProgId = u32(IFLA_XDP_HW_PROG_ID);
    if (state.attached === 'drv' && !state.drvProgId) state.drvProgId = state.progId;
    if (state.attached === 'skb' && !state.skbProgId) state.skbProgId = state.progId;
    if (state.attached === 'hw' && !state.hwProgId) state.hwProgId = state.progId;
  }
  return state;
}

/** Whether only mode flags are set (what a BPF_LINK_CREATE for XDP accepts). */
export function xdpFlagsAreModesOnly(flags: number): boolean {
  return (flags & ~XDP_FLAGS_MODES) === 0;
}

// --- tc: clsact qdisc and cls_bpf filters ---------------------------------------------------------

const TCA_KIND = 1;
const TCA_OPTIONS = 2;
const TCA_BPF_FD = 6;
const TCA_BPF_NAME = 7;
const TCA_BPF_FLAGS = 8;
const TCA_BPF_FLAG_ACT_DIRECT = 1;
const TCA_BPF_ID = 11;
const TC_H_CLSACT = 0xfffffff1;
const TC_H_MIN_INGRESS = 0xfff2;
const TC_H_MIN_EGRESS = 0xfff3;
const ETH_P_ALL_BE = 0x0300; // htons(ETH_P_ALL)

export type TcDirection = 'ingress' | 'egress';

function tcmsg(ifindex: number, handle: number, parent: number, info: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt32LE(handle >>> 0, 8);
  b.writeUInt32LE(parent >>> 0, 12);
  b.writeUInt32LE(info >>> 0, 16);
  return b;
}

function tcParent(dir: TcDirection): number {
  // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_{INGRESS,EGRESS})
  return ((TC_H_CLSACT & 0xffff0000) | (dir === 'ingress' ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS)) >>> 0;
}

/** Adds a clsact qdisc (the tc hook). Returns false when the interface already has one. */
export function tcHookCreate(ifindex: number): boolean {
  try {
    rtnlRequest(RTM.NEWQDISC, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, tcmsg(ifindex, 0xffff0000, TC_H_CLSACT, 0),
      [nlStr(TCA_KIND, 'clsact')], `clsact qdisc on ifindex ${ifindex}`);
    return true;
  } catch (e) {
    if (e instanceof SyscallError && e.errno === 17 /* EEXIST */) return false;
    throw e;
  }
}

/** Removes the clsact qdisc, and with it every tc filter on the interface. */
export function tcHookDestroy(ifindex: number): void {
  rtnlRequest(RTM.DELQDISC, NLM_F_ACK, tcmsg(ifindex, 0xffff0000, TC_H_CLSACT, 0), [nlStr(TCA_KIND, 'clsact')],
    `clsact qdisc on ifindex ${ifindex}`);
}

export interface TcFilterOptions {
  /** Filter handle (0: let the kernel choose). */
  handle?: number;
  /** Filter priority 1..65535 (0: let the kernel choose). */
  priority?: number;
  /** Name shown by `tc filter show` (default 'tsbpf'). */
  name?: string;
  /** direct-action mode: the program's return value is the tc verdict (default true, as libbpf). */
  directAction?: boolean;
  /** Replace an existing filter with the same handle and priority instead of failing with EEXIST. */
  replace?: boolean;
}

export interface TcFilter {
  handle: number;
  priority: number;
  /** The BPF program id (0 for non-BPF filters). */
  progId: number;
  kind: string;
}

/** Adds a cls_bpf filter running `progFd` on the clsact hook; returns the handle and priority the kernel used. */
export function tcFilterAttach(ifindex: number, dir: TcDirection, progFd: number, opts: TcFilterOptions = {}): { handle: number; priority: number } {
  const prio = opts.priority ?? 0;
  if (prio < 0 || prio > 0xffff) throw new RangeError(`tc priority ${prio} is outside 0..65535`);
  const options = [nlU32(TCA_BPF_FD, progFd), nlStr(TCA_BPF_NAME, opts.name ?? 'tsbpf')];
  if (opts.directAction ?? true) options.push(nlU32(TCA_BPF_FLAGS, TCA_BPF_FLAG_ACT_DIRECT));
  const flags = NLM_F_ACK | NLM_F_ECHO | NLM_F_CREATE | (opts.replace ? NLM_F_REPLACE : NLM_F_EXCL);
  const msgs = rtnlRequest(RTM.NEWTFILTER, flags, tcmsg(ifindex, opts.handle ?? 0, tcParent(dir), (prio << 16) | ETH_P_ALL_BE),
    [nlStr(TCA_KIND, 'bpf'), nlNested(TCA_OPTIONS, options)], `tc ${dir} filter on ifindex ${ifindex}`);
  // The echo of our RTM_NEWTFILTER carries the handle and priority the kernel filled in.
  for (const m of msgs) {
    if (m.type !== RTM.NEWTFILTER) continue;
    return { handle: m.data.readUInt32LE(8), priority: m.data.readUInt32LE(16) >>> 16 };
  }
  if (opts.handle && prio) return { handle: opts.handle, priority: prio };
  throw syscallError('netlink', 'RTM_NEWTFILTER', 71 /* EPROTO */, { what: `tc ${dir} filter on ifindex ${ifindex}`, detail: 'the kernel did not echo the new filter' });
}

/** Deletes the cls_bpf filter with this handle and priority. */
export function tcFilterDetach(ifindex: number, dir: TcDirection, handle: number, priority: number): void {
  rtnlRequest(RTM.DELTFILTER, NLM_F_ACK, tcmsg(ifindex, handle, tcParent(dir), (priority << 16) | ETH_P_ALL_BE),
    [nlStr(TCA_KIND, 'bpf')], `tc ${dir} filter ${priority}:${handle} on ifindex ${ifindex}`);
}

/** The filters on one side of the clsact hook (empty when there is no clsact qdisc). */
export function tcFilterList(ifindex: number, dir: TcDirection): TcFilter[] {
  let msgs: NlMessage[];
  try {
    msgs = rtnlRequest(RTM.GETTFILTER, NLM_F_DUMP, tcmsg(ifindex, 0, tcParent(dir), 0), [], `tc ${dir} filters on ifindex ${ifindex}`);
  } catch (e) {
    if (e instanceof SyscallError && (e.errno === 22 || e.errno === 2)) return [];
    throw e;
  }
  const out: TcFilter[] = [];
  for (const m of msgs) {
    if (m.type !== RTM.NEWTFILTER) continue;
    const handle = m.data.readUInt32LE(8);
    // A dump also lists each priority's (handle 0) chain head; only real filters have a handle.
    if (handle === 0) continue;
    const attrs = nlParseAttrs(m.data, 20);
    const kindBuf = attrs.get(TCA_KIND);
    const nul = kindBuf ? kindBuf.indexOf(0) : -1;
    const kind = kindBuf ? kindBuf.toString('utf8', 0, nul < 0 ? kindBuf.length : nul) : '';
    const opts = attrs.get(TCA_OPTIONS);
    const progId = kind === 'bpf' && opts ? nlParseAttrs(opts).get(TCA_BPF_ID)?.readUInt32LE(0) ?? 0 : 0;
    out.push({ handle, priority: m.data.readUInt32LE(16) >>> 16, progId, kind });
  }
  return out;
}
