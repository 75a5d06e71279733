// Program: one entry-point program of an object (its spec before load, its fd after).

import { type Fd, objPin, progTestRun } from '../syscalls/index.js';
import { BpfError, StateError, withContext } from './errors.js';
import type { LinkedProgram } from './link-subprogs.js';
import { PROG_TYPE, ATTACH_TYPE, enumName } from './kernel-enums.js';
import type { ProgramSpec } from './spec/types.js';
import { unlinkSync } from 'node:fs';

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
