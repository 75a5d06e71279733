// Program: one entry-point program of an object (its spec before load, its fd after).

import { type Fd, objPin, progTestRun } from '../syscalls/index.js';
import { BpfError, StateError, withContext } from './errors.js';
import type { LinkedProgram } from './link-subprogs.js';
import { PROG_TYPE, ATTACH_TYPE, enumName } from './kernel-enums.js';
import type { ProgramSpec } from './spec/types.js';
import { unlinkSync } from 'node:fs';
import type { Fd as OwnedFd } from '../syscalls/index.js';
import * as A from './attach/index.js';
import type { IterLink, Link, LinkGroup } from './link.js';

export interface TestRunOptions {
  /** Packet data (data_in). */
  data?: Uint8Array;
  /** Context (ctx_in), e.g. a struct __sk_buff or the raw_tp arguments. */
  ctx?: Uint8Array;
  repeat?: number;
  /** Size of the data_out buffer; defaults to the input size plus headroom for programs that grow packets. */
  dataSizeOut?: number;
  /** Size of the ctx_out buffer; defaults to the ctx size. */
  ctxSizeOut?: number;
  flags?: number;
  cpu?: number;
  batchSize?: number;
}

export interface TestRunResult {
  retval: number;
  /** The packet after the run (data_out), when data was given. */
  data?: Uint8Array;
  ctx?: Uint8Array;
  /** Average run time in nanoseconds, as reported by the kernel. */
  duration: number;
}

export class Program {
  readonly name: string;
  /** @internal */ readonly spec: ProgramSpec;
  /** @internal */ fdOwner: Fd | undefined;
  /** @internal */ linked: LinkedProgram | undefined;
  /** @internal The owning object's maps and BTF (USDT spec maps, freplace targets). */
  objectContext: A.UsdtObjectContext | undefined;
  /** @internal freplace: the program and function to load against (setAttachTarget). */
  attachTargetSpec: A.AttachTargetSpec | undefined;
  /** Verifier log of the last load when a log level was requested. */
  verifierLog: string | undefined;
  /** Verifier log level for this program (0: only on failure; 1, 2: always). */
  logLevel = 0;
  private readonly objectName: string;
  private loadedOnce = false;
  private closed = false;
  private pinnedAt: string | undefined;

  /** @internal */
  constructor(spec: ProgramSpec, objectName: string) {
    this.spec = spec;
    this.name = spec.name;
    this.objectName = objectName;
  }

  get sectionName(): string {
    return this.spec.sectionName;
  }

  /** The kernel's numeric bpf_prog_type (0 when the section name gave none). */
  get type(): number {
    return this.spec.progType ? (PROG_TYPE[this.spec.progType] ?? 0) : 0;
  }
  /** The kernel's numeric bpf_attach_type expected at load (0 when none). */
  get expectedAttachType(): number {
    return this.spec.expectedAttachType ? (ATTACH_TYPE[this.spec.expectedAttachType] ?? 0) : 0;
  }
  /** Program type by kernel name, e.g. 'BPF_PROG_TYPE_XDP'. */
  get typeName(): string | undefined {
    return this.spec.progType;
  }

  setType(type: number | string): void {
    this.beforeLoad('the program type');
    this.spec.progType = typeof type === 'string' ? type : enumName(PROG_TYPE, type, 'BPF_PROG_TYPE_');
  }
  setExpectedAttachType(type: number | string): void {
    this.beforeLoad('the expected attach type');
    this.spec.expectedAttachType = typeof type === 'string' ? type : enumName(ATTACH_TYPE, type, 'BPF_');
  }
  get flags(): number {
    return this.spec.progFlags;
  }
  setFlags(flags: number): void {
    this.beforeLoad('program flags');
    this.spec.progFlags = flags >>> 0;
  }

  /** Whether load() loads this program (false for SEC("?...") programs). Settable before load. */
  get autoload(): boolean {
    return this.spec.autoload;
  }
  set autoload(v: boolean) {
    this.beforeLoad('autoload');
    this.spec.autoload = v;
  }

  /** The program fd; throws if the program isn't loaded. */
  get fd(): number {
    if (!this.fdOwner) {
      throw new StateError(`prog '${this.name}': ${this.closed ? 'the program is closed' : this.loadedOnce ? 'the program was not loaded (autoload is off)' : 'the object is not loaded yet'}`, { object: this.objectName, program: this.name });
    }
    return this.fdOwner.fd;
  }

  get loaded(): boolean {
    return this.fdOwner !== undefined;
  }

  /** Instructions as sent to the kernel after relocation (undefined before load); the original ones otherwise via `originalInsns`. */
  get insns(): Uint8Array | undefined {
    return this.linked?.insns;
  }
  get originalInsns(): Uint8Array {
    return this.spec.insns;
  }

  /** Runs the program once or `repeat` times with BPF_PROG_TEST_RUN. */
  async testRun(opts: TestRunOptions = {}): Promise<TestRunResult> {
    return this.testRunSync(opts);
  }

  testRunSync(opts: TestRunOptions = {}): TestRunResult {
    // SYSCALL programs write their ctx back into ctx_in, and they and raw tracepoints refuse ctx_out.
    const t = this.spec.progType;
    const ctxInPlace = t === 'BPF_PROG_TYPE_SYSCALL';
    const noCtxOut = ctxInPlace || t === 'BPF_PROG_TYPE_RAW_TRACEPOINT' || t === 'BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE'
      || t === 'BPF_PROG_TYPE_TRACING';
    const ctxIn = ctxInPlace && opts.ctx ? opts.ctx.slice() : opts.ctx;
    try {
      const r = progTestRun(this.fd, {
        dataIn: opts.data,
        dataSizeOut: opts.data ? (opts.dataSizeOut ?? opts.data.length + 256) : opts.dataSizeOut,
        ctxIn,
        ctxSizeOut: opts.ctx && !noCtxOut ? (opts.ctxSizeOut ?? opts.ctx.length) : noCtxOut ? undefined : opts.ctxSizeOut,
        repeat: opts.repeat,
        flags: opts.flags,
        cpu: opts.cpu,
        batchSize: opts.batchSize,
      });
      const out: TestRunResult = { retval: r.retval, duration: r.duration };
      if (r.dataOut) out.data = r.dataOut;
      if (r.ctxOut) out.ctx = r.ctxOut;
      else if (ctxInPlace && ctxIn) out.ctx = ctxIn;
      return out;
    } catch (e) {
      throw withContext(e, { object: this.objectName, program: this.name });
    }
  }

  pin(path: string): void {
    try {
      objPin(this.fd, path);
    } catch (e) {
      throw withContext(e, { object: this.objectName, program: this.name });
    }
    this.pinnedAt = path;
  }

  unpin(): void {
    if (!this.pinnedAt) return;
    try {
      unlinkSync(this.pinnedAt);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw withContext(e, { object: this.objectName, program: this.name, cmd: 'unpin' });
    }
    this.pinnedAt = undefined;
  }

  // --- attach (src/attach/): each returns a Link that detaches on close() ---------------------

  /** Attaches as the section name says (libbpf's bpf_program__attach); throws with the reason when it cannot. */
  async attach(): Promise<Link> {
    return this.attachSync();
  }
  attachSync(): Link {
    return this.attachCtx(() => A.autoAttach(this));
  }
  /** SEC("tp/category/name"): a tracepoint through a perf event. */
  attachTracepoint(category: string, name: string, opts?: A.TracepointOptions): Link {
    return this.attachCtx(() => A.attachTracepoint(this, category, name, opts));
  }
  /** SEC("raw_tp/name"), raw_tp.w: BPF_RAW_TRACEPOINT_OPEN. */
  attachRawTracepoint(name: string, opts?: A.RawTracepointOptions): Link {
    return this.attachCtx(() => A.attachRawTracepoint(this, name, opts));
  }
  /** tp_btf, fentry/fexit/fmod_ret, lsm: the target was fixed at load. */
  attachTrace(opts?: A.TraceOptions): Link {
    return this.attachCtx(() => A.attachTrace(this, opts));
  }
  attachKprobe(fn: string, opts?: A.KprobeOptions): Link {
    return this.attachCtx(() => A.attachKprobe(this, fn, opts));
  }
  attachKsyscall(syscall: string, opts?: Omit<A.KprobeOptions, 'offset'>): Link {
    return this.attachCtx(() => A.attachKsyscall(this, syscall, opts));
  }
  /** A glob (or opts.syms/addrs with pattern undefined) over kernel functions. */
  attachKprobeMulti(pattern: string | undefined, opts?: A.KprobeMultiOptions): Link {
    return this.attachCtx(() => A.attachKprobeMulti(this, pattern, opts));
  }
  attachUprobe(opts: A.UprobeOptions): Link {
    return this.attachCtx(() => A.attachUprobe(this, opts));
  }
  attachUprobeMulti(opts: A.UprobeMultiOptions): Link {
    return this.attachCtx(() => A.attachUprobeMulti(this, opts));
  }
  /**
   * freplace (EXT) programs: the loaded program, and its global function, that this one replaces
   * (libbpf's bpf_program__set_attach_target). The function defaults to SEC("freplace/<func>").
   */
  setAttachTarget(target: A.FreplaceTarget, funcName?: string): void {
    this.beforeLoad('the attach target');
    this.attachTargetSpec = { target, funcName };
  }
  /** freplace: link to the load-time target, or to another program with a function of the same signature. */
  attachFreplace(target?: A.FreplaceTarget, funcName?: string): Link {
    return this.attachCtx(() => A.attachFreplace(this, target, funcName));
  }
  /** SEC("usdt/..."): a uprobe on every site of provider:name, arguments for <bpf/usdt.bpf.h>. */
  attachUsdt(opts: A.UsdtOptions): Link {
    return this.attachCtx(() => A.attachUsdt(this, this.objectContext, opts));
  }
  /**
   * SEC("perf_event"): a perf event fd (a number is dup'ed; an Fd is taken over), a spec with a
   * cpu (one link), or a spec without one (a link on every online CPU).
   */
  attachPerfEvent(event: number | OwnedFd, opts?: A.PerfAttachOptions): Link;
  attachPerfEvent(spec: A.PerfEventSpec & { cpu: number }, opts?: A.PerfAttachOptions): Link;
  attachPerfEvent(spec: A.PerfEventSpec, opts?: A.PerfAttachOptions): LinkGroup;
  attachPerfEvent(event: number | OwnedFd | A.PerfEventSpec, opts?: A.PerfAttachOptions): Link | LinkGroup {
    return this.attachCtx(() => {
      if (typeof event === 'number' || !('type' in event)) return A.attachPerfEventFd(this, event, opts);
      return event.cpu !== undefined ? A.attachPerfEventSpec(this, event, opts) : A.attachPerfEventPerCpu(this, event, opts);
    });
  }
  attachXdp(iface: A.Interface, opts?: A.XdpOptions): Link {
    return this.attachCtx(() => A.attachXdp(this, iface, opts));
  }
  attachTcx(iface: A.Interface, direction: 'ingress' | 'egress', opts?: A.TcxOptions): Link {
    return this.attachCtx(() => A.attachTcx(this, iface, direction, opts));
  }
  /** Legacy tc: a cls_bpf filter on the clsact qdisc, through netlink. */
  attachTc(iface: A.Interface, direction: 'ingress' | 'egress', opts?: A.TcOptions): Link {
    return this.attachCtx(() => A.attachTc(this, iface, direction, opts));
  }
  attachCgroup(cgroup: string | number, attachType?: number | string, opts?: A.CgroupOptions): Link {
    return this.attachCtx(() => A.attachCgroup(this, cgroup, attachType, opts));
  }
  /** SEC("socket"): SO_ATTACH_BPF on a socket. */
  attachSocket(sock: A.SocketRef): Link {
    return this.attachCtx(() => A.attachSocket(this, sock));
  }
  /** sk_lookup, flow_dissector: a network namespace (name, path or fd; default the current one). */
  attachNetns(netns?: string | number, attachType?: number | string): Link {
    return this.attachCtx(() => A.attachNetns(this, netns, attachType));
  }
  attachSockmap(map: number | { readonly fd: number }, attachType?: number | string, opts?: A.SockmapOptions): Link {
    return this.attachCtx(() => A.attachSockmap(this, map, attachType, opts));
  }
  attachNetfilter(opts: A.NetfilterOptions): Link {
    return this.attachCtx(() => A.attachNetfilter(this, opts));
  }
  /** SEC("iter/..."): an iterator link; read it with link.read() or link.stream(). */
  attachIter(opts?: A.IterOptions): IterLink {
    return this.attachCtx(() => A.attachIter(this, opts));
  }

  private attachCtx<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw withContext(e, { object: this.objectName, program: this.name });
    }
  }

  /** @internal */ markLoadAttempted(): void {
    this.loadedOnce = true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fdOwner?.close();
    this.fdOwner = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private beforeLoad(what: string): void {
    if (this.loadedOnce || this.closed) {
      throw new BpfError(`prog '${this.name}': ${what} can only be changed before load`, { object: this.objectName, program: this.name, errno: 16 });
    }
  }
}
