// Link: the single owner of one attachment. Closing it detaches the program; pinned BPF links
// outlive it. Three kinds of attachment hide behind the same object:
// - kernel BPF links (an fd; the kernel detaches when the last reference goes, so a crash
//   cleans up by itself),
// - perf-event attachments (the perf fd, plus a BPF link fd on kernels that have them),
// - older mechanisms that are not tied to any fd of ours (netlink XDP/tc, PROG_ATTACH, legacy
//   tracefs probe events). These survive the process, so they are also detached on process
//   exit, on an uncaught exception and on SIGINT/SIGTERM/SIGHUP, unless disconnect()ed.
// A Link that is garbage collected while open is closed by a FinalizationRegistry, with a
// warning: relying on GC for attachments is a bug (the program keeps running until then).

import { read as fsRead, readFileSync, unlinkSync } from 'node:fs';
import { type Fd, iterCreate, linkDetach, linkUpdate, objGet, objPin, perfEventDisable, syscallError } from '../syscalls/index.js';
import { BPF_LINK_TYPE } from '../syscalls/generated/bpf-enums.js';
import { linkDetails, type LinkDetails } from '../syscalls/link-query.js';
import { BpfError, NotSupportedError, StateError } from './errors.js';

export type LinkKind =
  | 'tracepoint' | 'raw_tracepoint' | 'tracing' | 'lsm' | 'freplace'
  | 'kprobe' | 'kretprobe' | 'uprobe' | 'uretprobe' | 'usdt' | 'kprobe_multi' | 'uprobe_multi' | 'perf_event'
  | 'xdp' | 'tcx' | 'tc' | 'netkit' | 'cgroup' | 'socket_filter' | 'netns' | 'sockmap' | 'netfilter'
  | 'iter' | 'struct_ops';

/**
 * How the attachment was made:
 * - 'bpf_link': a kernel BPF link (BPF_LINK_CREATE, BPF_RAW_TRACEPOINT_OPEN)
 * - 'perf_link': a BPF link on a perf event (both fds owned)
 * - 'perf_ioctl': PERF_EVENT_IOC_SET_BPF on a perf event (kernels before 5.15)
 * - 'netlink': XDP or tc attached through rtnetlink
 * - 'prog_attach': BPF_PROG_ATTACH (cgroups, sockmaps, flow dissector without links)
 * - 'setsockopt': SO_ATTACH_BPF on a socket
 * - 'map_update': a struct_ops map without BPF_F_LINK, registered by writing its value (undone by
 *   deleting it)
 */
export type LinkMechanism = 'bpf_link' | 'perf_link' | 'perf_ioctl' | 'netlink' | 'prog_attach' | 'setsockopt' | 'map_update';

/** @internal What an attach function hands over to a Link. */
export interface LinkParts {
  kind: LinkKind;
  mechanism: LinkMechanism;
  /** What the program is attached to, for messages: 'tracepoint sched/sched_switch'. */
  target: string;
  /** The program's name. */
  program?: string;
  /** The BPF link fd. */
  fd?: Fd;
  /** The perf event fd of perf-event attachments. */
  perfFd?: Fd;
  /** Fds the attachment needs until it is undone (a dup of the program fd, a cgroup directory, a socket). */
  owned?: Fd[];
  /** Undoes an attachment that no fd of ours holds (netlink, PROG_DETACH, SO_DETACH_BPF). */
  detach?: () => void;
  /** Runs after the fds are closed: e.g. removing a legacy tracefs probe event. */
  cleanup?: () => void;
  /** Replaces the program of an attachment that is not a BPF link. */
  update?: (newProgFd: number, oldProgFd: number | undefined) => void;
  /** Struct_ops links: switches the link to another struct_ops map (bpf_link__update_map). */
  updateMap?: (map: unknown) => void;
  /** The attachment outlives the process unless undone (netlink, PROG_ATTACH, tracefs events). */
  outlivesProcess?: boolean;
}

/** The mutable state of a Link, kept apart from it so the GC and exit hooks can undo it. */
class LinkState {
  readonly parts: LinkParts;
  closed = false;
  detached = false;
  disconnected = false;
  pinnedPath: string | undefined;

  constructor(parts: LinkParts) {
    this.parts = parts;
  }

  describe(): string {
    return `${this.parts.kind} link${this.parts.program ? ` of prog '${this.parts.program}'` : ''} (${this.parts.target})`;
  }

  /** Undoes the attachment now (unless disconnected), keeping the fds for close(). */
  undo(errors: unknown[]): void {
    if (this.detached || this.disconnected) return;
    this.detached = true;
    const p = this.parts;
    const run = (f: () => void): void => {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    };
    if (p.mechanism === 'perf_ioctl' && p.perfFd && !p.perfFd.closed) run(() => perfEventDisable(p.perfFd!.fd));
    if (p.detach) run(p.detach);
  }

  release(): unknown[] {
    const errors: unknown[] = [];
    if (this.closed) return errors;
    this.closed = true;
    untrack(this);
    const p = this.parts;
    const run = (f: () => void): void => {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    };
    if (this.disconnected) {
      // Closing these would detach: hand them to the kernel, which closes them at process exit.
      p.fd?.release();
      p.perfFd?.release();
      for (const f of p.owned ?? []) run(() => f.close());
      return errors;
    }
    this.undo(errors);
    run(() => p.fd?.close());
    run(() => p.perfFd?.close());
    for (const f of p.owned ?? []) run(() => f.close());
    // A pinned perf link still references its legacy probe event, which must then stay.
    if (p.cleanup && !this.pinnedPath) run(p.cleanup);
    return errors;
  }
}

// --- process-exit safety net for attachments that outlive the process ------------------------------

const outliving = new Set<LinkState>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
let exitHooked = false;
let signalsHooked = false;

function releaseAll(): void {
  for (const s of [...outliving]) s.release();
}

function onSignal(sig: NodeJS.Signals): void {
  // Someone else handles this signal: the process may go on, so the attachments must stay. If it
  // exits later, the 'exit' hook detaches them.
  if (process.listenerCount(sig) > 1) return;
  releaseAll();
  unhookSignals();
  // Die of the same signal, as the process would have without our handler.
  process.kill(process.pid, sig);
}

function unhookSignals(): void {
  if (!signalsHooked) return;
  signalsHooked = false;
  for (const sig of SIGNALS) process.removeListener(sig, onSignal);
}

function track(s: LinkState): void {
  outliving.add(s);
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', releaseAll);
  }
  if (!signalsHooked) {
    signalsHooked = true;
    for (const sig of SIGNALS) process.on(sig, onSignal);
  }
}

function untrack(s: LinkState): void {
  if (!outliving.delete(s)) return;
  if (outliving.size === 0) unhookSignals();
}

let warnedLeak = false;
const finalizer = new FinalizationRegistry<LinkState>((s) => {
  if (s.closed) return;
  if (!warnedLeak) {
    warnedLeak = true;
    process.stderr.write(`tsbpf: ${s.describe()} was garbage-collected without close(); it was detached now (further leaks are not reported)\n`);
  }
  s.release();
});

/** Statistics for tests: how many attachments that outlive the process are currently tracked. */
export function outlivingLinkCount(): number {
  return outliving.size;
}

const KIND_BY_LINK_TYPE: Record<number, LinkKind> = {
  [BPF_LINK_TYPE.RAW_TRACEPOINT]: 'raw_tracepoint',
  [BPF_LINK_TYPE.TRACING]: 'tracing',
  [BPF_LINK_TYPE.CGROUP]: 'cgroup',
  [BPF_LINK_TYPE.ITER]: 'iter',
  [BPF_LINK_TYPE.NETNS]: 'netns',
  [BPF_LINK_TYPE.XDP]: 'xdp',
  [BPF_LINK_TYPE.PERF_EVENT]: 'perf_event',
  [BPF_LINK_TYPE.KPROBE_MULTI]: 'kprobe_multi',
  [BPF_LINK_TYPE.STRUCT_OPS]: 'struct_ops',
  [BPF_LINK_TYPE.NETFILTER]: 'netfilter',
  [BPF_LINK_TYPE.TCX]: 'tcx',
  [BPF_LINK_TYPE.UPROBE_MULTI]: 'uprobe_multi',
  [BPF_LINK_TYPE.NETKIT]: 'netkit',
  [BPF_LINK_TYPE.SOCKMAP]: 'sockmap',
};

/** A program fd, from a Program (anything with an `fd`) or a number. */
export type ProgramRef = number | { readonly fd: number };

function progFdOf(p: ProgramRef): number {
  return typeof p === 'number' ? p : p.fd;
}

export class Link {
  readonly kind: LinkKind;
  readonly mechanism: LinkMechanism;
  /** What the program is attached to, e.g. 'tracepoint sched/sched_switch', 'xdp ifindex 3'. */
  readonly target: string;
  /** The program's name ('' for links opened from a pin). */
  readonly programName: string;
  readonly #s: LinkState;

  /** @internal Use the attach methods of Program, or Link.open() for a pinned link. */
  constructor(parts: LinkParts) {
    this.kind = parts.kind;
    this.mechanism = parts.mechanism;
    this.target = parts.target;
    this.programName = parts.program ?? '';
    this.#s = new LinkState(parts);
    finalizer.register(this, this.#s, this);
    if (parts.outlivesProcess) track(this.#s);
  }

  /**
   * Opens a BPF link pinned in bpffs. Closing the returned Link only drops this reference: the pin
   * keeps the attachment. unpin() and then close() (or detach()) remove it.
   */
  static open(path: string): Link {
    const fd = objGet(path, 0, `link pinned at ${path}`);
    try {
      const fdinfo = readFileSync(`/proc/self/fdinfo/${fd.fd}`, 'latin1');
      if (!/^link_type:/m.test(fdinfo)) {
        const what = /^map_type:/m.test(fdinfo) ? 'a map' : /^prog_type:/m.test(fdinfo) ? 'a program' : 'not a BPF link';
        throw new BpfError(`the object pinned at ${path} is ${what}, not a link`, { errno: 22, cmd: 'BPF_OBJ_GET', advice: 'open pinned maps and programs through their own APIs' });
      }
      const d = linkDetails(fd.fd);
      const link = new Link({
        kind: KIND_BY_LINK_TYPE[d.type] ?? 'perf_event', mechanism: 'bpf_link', target: `pinned at ${path}`, fd,
      });
      link.#s.pinnedPath = path;
      return link;
    } catch (e) {
      fd.close();
      throw e;
    }
  }

  /** True for kernel BPF links (the ones that can be pinned, updated and queried). */
  get isBpfLink(): boolean {
    return this.#s.parts.fd !== undefined;
  }

  /** The BPF link fd, or the perf event fd of a perf attachment without a link. */
  get fd(): number {
    const p = this.#s.parts;
    if (this.#s.closed) throw new StateError(`${this.#s.describe()} is closed`, { cmd: 'link' });
    const f = p.fd ?? p.perfFd;
    if (!f) throw new NotSupportedError(`${this.#s.describe()} has no fd: it is attached with ${p.mechanism}`, { cmd: 'link' });
    return f.fd;
  }

  /** The perf event fd of perf-event-based attachments (tracepoints, probes, perf_event). */
  get perfEventFd(): number | undefined {
    return this.#s.parts.perfFd && !this.#s.parts.perfFd.closed ? this.#s.parts.perfFd.fd : undefined;
  }

  get closed(): boolean {
    return this.#s.closed;
  }
  /** Whether detach() (or close()) already undid the attachment. */
  get detached(): boolean {
    return this.#s.detached;
  }
  get pinnedPath(): string | undefined {
    return this.#s.pinnedPath;
  }
  /** The kernel's link id (BPF links only). */
  get id(): number {
    return this.info().id;
  }

  /**
   * Detaches the program (unless disconnect()ed) and releases every fd. Idempotent. A pinned BPF
   * link stays attached through its pin.
   */
  close(): void {
    if (this.#s.closed) return;
    finalizer.unregister(this);
    const errors = this.#s.release();
    if (errors.length) throw errors[0];
  }

  /** libbpf's name for close(). */
  destroy(): void {
    this.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Detaches now, even when pinned (BPF_LINK_DETACH for BPF links: the link becomes defunct but
   * its fd stays open until close()). Other attachments are undone the same way close() would.
   */
  detach(): void {
    const s = this.#s;
    if (s.closed) throw new StateError(`${s.describe()} is closed`, { cmd: 'link detach' });
    const p = s.parts;
    if (p.fd) {
      if (s.detached) return;
      try {
        linkDetach(p.fd.fd);
      } catch (e) {
        if (e instanceof BpfError && (e.errno === 95 || e.errno === 22)) {
          throw new NotSupportedError(`${s.describe()}: this kernel cannot detach this link type explicitly (BPF_LINK_DETACH ${e.code}); close() it and remove its pin instead`, { errno: e.errno, cmd: 'BPF_LINK_DETACH', cause: e });
        }
        throw e;
      }
      s.detached = true;
      return;
    }
    if (p.mechanism === 'perf_ioctl') {
      // A perf event without a link is detached by closing it.
      this.close();
      return;
    }
    const errors: unknown[] = [];
    s.undo(errors);
    untrack(s);
    if (errors.length) throw errors[0];
  }

  /**
   * Gives the attachment up: close() and GC no longer detach it and process exit does not
   * either for attachments that outlive the process (XDP/tc by netlink, PROG_ATTACH, tracefs
   * probes). For fd-based attachments the fds are handed to the kernel, which keeps the program
   * attached until the process exits (pin() to keep it longer).
   */
  disconnect(): void {
    this.#s.disconnected = true;
    untrack(this.#s);
  }

  /** Pins the BPF link in bpffs, so it outlives this process. */
  pin(path: string): void {
    const s = this.#s;
    if (!s.parts.fd) {
      throw new NotSupportedError(`${s.describe()} is not a BPF link (attached with ${s.parts.mechanism}), so it cannot be pinned`, {
        errno: 95, cmd: 'BPF_OBJ_PIN', advice: 'only kernel BPF links can be pinned; this kernel or attach mode did not give one',
      });
    }
    if (s.pinnedPath) throw new BpfError(`${s.describe()} is already pinned at ${s.pinnedPath}`, { errno: 16, cmd: 'BPF_OBJ_PIN' });
    objPin(this.fd, path);
    s.pinnedPath = path;
  }

  /** Removes the pin (the attachment then lasts only as long as this Link). */
  unpin(): void {
    const s = this.#s;
    if (!s.pinnedPath) return;
    try {
      unlinkSync(s.pinnedPath);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new BpfError(`unpinning ${s.pinnedPath} failed: ${(e as Error).message}`, { errno: Math.abs((e as NodeJS.ErrnoException).errno ?? 5), cmd: 'unpin', cause: e });
      }
    }
    s.pinnedPath = undefined;
  }

  /**
   * Replaces the attached program atomically (BPF_LINK_UPDATE). With `oldProgram`, only if that
   * program is the one attached (BPF_F_REPLACE).
   */
  update(program: ProgramRef, opts: { oldProgram?: ProgramRef } = {}): void {
    const s = this.#s;
    if (s.closed) throw new StateError(`${s.describe()} is closed`, { cmd: 'link update' });
    const newFd = progFdOf(program);
    const oldFd = opts.oldProgram === undefined ? undefined : progFdOf(opts.oldProgram);
    if (s.parts.fd) {
      linkUpdate(s.parts.fd.fd, newFd, oldFd === undefined ? {} : { flags: 4 /* BPF_F_REPLACE */, oldProgFd: oldFd });
      return;
    }
    if (s.parts.update) {
      s.parts.update(newFd, oldFd);
      return;
    }
    throw new NotSupportedError(`${s.describe()} cannot be updated in place (attached with ${s.parts.mechanism}); attach the new program and close this link`, {
      errno: 95, cmd: 'BPF_LINK_UPDATE',
    });
  }

  /**
   * Struct_ops links (from map.attachStructOps() on a .struct_ops.link map): switches the link to
   * another loaded struct_ops map of the same struct type, atomically (libbpf's bpf_link__update_map).
   */
  updateMap(map: object): void {
    const s = this.#s;
    if (s.closed) throw new StateError(`${s.describe()} is closed`, { cmd: 'link update' });
    if (!s.parts.updateMap) {
      throw new NotSupportedError(`${s.describe()} is not a struct_ops BPF link, so it has no map to update`, {
        errno: 22, cmd: 'BPF_LINK_UPDATE', advice: 'only links of struct_ops maps declared in SEC(".struct_ops.link") can switch maps',
      });
    }
    s.parts.updateMap(map);
  }

  /** What the kernel reports about this BPF link (BPF_OBJ_GET_INFO_BY_FD). */
  info(): LinkDetails {
    const s = this.#s;
    if (!s.parts.fd) {
      throw new NotSupportedError(`${s.describe()} is not a BPF link (attached with ${s.parts.mechanism}); the kernel has no link info for it`, { errno: 95, cmd: 'BPF_OBJ_GET_INFO_BY_FD' });
    }
    return linkDetails(this.fd);
  }

  toString(): string {
    return `Link(${this.#s.describe()}${this.#s.closed ? ', closed' : ''})`;
  }
}

/**
 * An iterator link (SEC("iter/...")): each open() starts a new pass over the kernel objects and
 * reading it runs the program, which writes the output with bpf_seq_printf().
 */
export class IterLink extends Link {
  /** A new reader fd for one pass (BPF_ITER_CREATE). Close it when done. */
  open(): Fd {
    return iterCreate(this.fd, `iter reader (${this.target})`);
  }

  /** One pass as a stream of chunks; the reader fd is closed at the end or when the loop breaks. */
  async *stream(chunkSize = 64 * 1024): AsyncGenerator<Buffer, void, undefined> {
    const fd = this.open();
    try {
      for (;;) {
        const buf = Buffer.alloc(chunkSize);
        // fs.read runs the read() on the libuv threadpool: a long iteration does not block the loop.
        const n = await new Promise<number>((resolve, reject) => {
          fsRead(fd.fd, buf, 0, chunkSize, null, (err, bytes) => (err
            ? reject(syscallError('read', 'read', Math.abs(err.errno ?? 5), { what: `iterator ${this.target}` }))
            : resolve(bytes)));
        });
        if (n === 0) return;
        yield buf.subarray(0, n);
      }
    } finally {
      fd.close();
    }
  }

  /** One whole pass, decoded as UTF-8. */
  async read(): Promise<string> {
    const parts: Buffer[] = [];
    for await (const chunk of this.stream()) parts.push(chunk);
    return Buffer.concat(parts).toString('utf8');
  }
}

/** Several links made by one call (a perf event on every CPU): closed, detached and disposed together. */
export class LinkGroup implements Iterable<Link> {
  readonly links: readonly Link[];

  /** @internal */
  constructor(links: Link[]) {
    this.links = links;
  }

  get closed(): boolean {
    return this.links.every((l) => l.closed);
  }

  [Symbol.iterator](): Iterator<Link> {
    return this.links[Symbol.iterator]();
  }

  /** Closes every link (all of them, even when one fails; the first error is rethrown). */
  close(): void {
    let first: unknown;
    for (const l of this.links) {
      try {
        l.close();
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }

  destroy(): void {
    this.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  detach(): void {
    for (const l of this.links) l.detach();
  }

  disconnect(): void {
    for (const l of this.links) l.disconnect();
  }
}
