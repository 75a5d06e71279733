// BpfObject: open (parse only) and load (create maps, relocate and load programs), libbpf's lifecycle.

import { basename } from 'node:path';
import type { Btf } from '../btf/index.js';
import { BpfError, ParseError, StateError, withContext } from './errors.js';
import { GlobalData } from './global-data.js';
import { BpfMap } from './map.js';
import { Program } from './program.js';
import { loadObject, loadObjectAsync } from './loader.js';
import { attachObject, detachObject, type AttachSummary } from './attach/auto.js';
import type { Link } from './link.js';
import { parseObject } from './spec/parse-object.js';
import { readObjectFile, readWholeFile } from './spec/read-object.js';
import { StructOps } from './struct-ops.js';
import type { ObjectSpec } from './spec/types.js';
import type { Fd } from '../syscalls/index.js';

/**
 * What the GC fallback needs to close a forgotten object. It must not reference the object itself (that
 * would keep it alive forever), so it holds the kernel objects' Fds and weak references to the Program
 * or BpfMap owning each: one the user still holds stays open (the object is gone, the map in hand still
 * works); the others are closed with the object. Links have their own fallback (src/link.ts).
 */
interface Forgotten {
  name: string;
  owned: { owner: WeakRef<object>; fd: Fd }[];
  btfClose: (() => void) | undefined;
}

let warnedForgotten = false;
const forgottenObjects = new FinalizationRegistry<Forgotten>((f) => {
  let closed = 0;
  for (const o of f.owned) {
    if (o.fd.closed || o.owner.deref() !== undefined) continue;
    o.fd.closeForgotten();
    closed++;
  }
  if (f.btfClose) {
    f.btfClose();
    closed++;
  }
  if (closed && !warnedForgotten) {
    warnedForgotten = true;
    process.emitWarning(`BpfObject '${f.name}' was garbage-collected without close(); its programs and maps were closed by the GC. ` +
      'Call close() or declare it with `using` (further unclosed objects are not reported)', { type: 'TsbpfWarning', code: 'TSBPF_UNCLOSED_OBJECT' });
  }
});

export interface OpenOptions {
  /** Overrides the object name (default: the file's basename up to its first '.'). */
  objectName?: string;
  /** Ignore unknown attributes in BTF map definitions (libbpf's relaxed_maps). */
  relaxedMaps?: boolean;
  /** Where maps with pinning = LIBBPF_PIN_BY_NAME are pinned (default /sys/fs/bpf). */
  pinRootPath?: string;
  /** Extra Kconfig text (`CONFIG_FOO=y` lines) for `__kconfig` externs, taking precedence over the kernel's. */
  kconfig?: string;
  /** A BTF file describing the target kernel, used instead of /sys/kernel/btf/vmlinux. */
  btfCustomPath?: string;
  /** Verifier log level for every program (0: log only on failure; 1 or 2: always). */
  kernelLogLevel?: number;
}

export class BpfObject {
  readonly name: string;
  /** Entry-point programs by C function name, in section and offset order. */
  readonly programs: Map<string, Program>;
  /** Maps by name: user maps by variable name, global data maps by ELF section name ('.bss', '.rodata', ...). */
  readonly maps: Map<string, BpfMap>;
  /** Links made by attach(), by program name (struct_ops maps: by map name); detach() and close() close them. */
  readonly links = new Map<string, Link>();
  /** @internal */ readonly spec: ObjectSpec;
  /** @internal */ readonly options: OpenOptions;
  /** @internal */ btfFdClose: (() => void) | undefined;
  private state: 'opened' | 'loading' | 'loaded' | 'failed' | 'closed' = 'opened';
  private readonly forgotten: Forgotten;
  private closeRequested = false;

  private constructor(spec: ObjectSpec, options: OpenOptions) {
    this.spec = spec;
    this.options = options;
    this.name = spec.name;
    this.programs = new Map();
    for (const p of spec.programs) {
      if (!p.isSubprog) this.programs.set(p.name, new Program(p, spec.name));
    }
    this.maps = new Map();
    try {
      for (const m of spec.maps) {
        const gd = m.origin === 'user' || m.origin === 'struct_ops' ? undefined : new GlobalData(m.valueSize, m.initialData);
        this.maps.set(m.name, new BpfMap(m, spec.name, gd, m.structOps && new StructOps(m, spec)));
      }
    } catch (e) {
      for (const m of this.maps.values()) m.close();
      throw e;
    }
    for (const p of this.programs.values()) p.objectContext = this;
    this.forgotten = { name: this.name, owned: [], btfClose: undefined };
    forgottenObjects.register(this, this.forgotten, this);
  }

  /**
   * Parses a BPF object (a path or its bytes). Nothing is created in the kernel yet; global data images
   * are allocated and writable, programs and maps can be adjusted until load().
   */
  static open(pathOrBytes: string | Uint8Array, opts: OpenOptions = {}): BpfObject {
    let bytes: Uint8Array;
    let name: string;
    let compact = false;
    if (typeof pathOrBytes === 'string') {
      try {
        // Without its DWARF sections, which open never uses (src/spec/read-object.ts).
        ({ bytes, compact } = readObjectFile(pathOrBytes));
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        throw new BpfError(`failed to read BPF object '${pathOrBytes}': ${err.message}`, { cmd: 'open', errno: err.errno ? Math.abs(err.errno) : 2, cause: e });
      }
      name = opts.objectName ?? basename(pathOrBytes).split('.')[0]!;
    } else if (pathOrBytes instanceof Uint8Array) {
      bytes = pathOrBytes;
      name = opts.objectName ?? `obj-${bytes.length.toString(16)}`;
    } else {
      throw new BpfError('BpfObject.open takes a file path or the bytes of a BPF object', { cmd: 'open', errno: 22 });
    }
    let spec: ObjectSpec;
    try {
      try {
        spec = parseObject(bytes, { name, relaxedMaps: opts.relaxedMaps });
      } catch (e) {
        if (!compact) throw e;
        // The error (and its offsets) must be the file's own: parse every byte of it.
        let whole: Uint8Array;
        try {
          whole = readWholeFile(pathOrBytes as string);
        } catch {
          throw e; // the file went away meanwhile: the image's error is the best there is
        }
        spec = parseObject(whole, { name, relaxedMaps: opts.relaxedMaps });
      }
    } catch (e) {
      throw withContext(asBpfError(e), { object: name });
    }
    return new BpfObject(spec, opts);
  }

  /** The object's BTF (after open-time fixups), if it has any. */
  get btf(): Btf | undefined {
    return this.spec.btf;
  }
  get license(): string {
    return this.spec.license;
  }
  get kernVersion(): number {
    return this.spec.kernVersion;
  }
  get loaded(): boolean {
    return this.state === 'loaded';
  }

  program(name: string): Program {
    const p = this.programs.get(name);
    if (!p) throw new BpfError(`object '${this.name}' has no program '${name}' (it has: ${[...this.programs.keys()].join(', ') || 'none'})`, { object: this.name, errno: 2 });
    return p;
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new BpfError(`object '${this.name}' has no map '${name}' (it has: ${[...this.maps.keys()].join(', ') || 'none'})`, { object: this.name, errno: 2 });
    return m;
  }

  /**
   * Creates the maps, relocates and loads the programs, and makes global data live. On failure
   * everything created so far is closed and the error says which step, map or program failed.
   * The kernel's share of the work runs on the libuv threadpool: big maps are created there while CO-RE
   * relocation runs, and each program goes to the verifier as soon as it is relocated (loadSync() does
   * the same steps one at a time, on this thread). close() while this runs takes effect when the calls
   * under way return.
   */
  async load(): Promise<void> {
    this.beginLoad();
    try {
      await loadObjectAsync(this);
    } catch (e) {
      throw this.loadFailed(e);
    }
    this.loadDone();
  }

  loadSync(): void {
    this.beginLoad();
    try {
      loadObject(this);
    } catch (e) {
      throw this.loadFailed(e);
    }
    this.loadDone();
  }

  private beginLoad(): void {
    if (this.state === 'closed') throw new StateError(`object '${this.name}' is closed`, { object: this.name });
    if (this.state !== 'opened') throw new StateError(`object '${this.name}' can be loaded only once (it is ${this.state})`, { object: this.name, errno: 22 });
    this.state = 'loading';
  }

  private loadDone(): void {
    if (this.closeRequested) throw this.loadFailed(new StateError(`object '${this.name}' was closed while it was loading`, { object: this.name }));
    this.state = 'loaded';
    const owned: Forgotten['owned'] = [];
    for (const x of [...this.programs.values(), ...this.maps.values()]) if (x.fdOwner) owned.push({ owner: new WeakRef(x), fd: x.fdOwner });
    this.forgotten.owned = owned;
    this.forgotten.btfClose = this.btfFdClose;
  }

  private loadFailed(e: unknown): BpfError {
    this.state = 'failed';
    for (const m of this.maps.values()) m.unpinIfPinnedByLoad();
    this.releaseKernelObjects();
    if (this.closeRequested) this.close();
    return withContext(asBpfError(e), { object: this.name });
  }

  /**
   * Attaches every loaded program whose section says how (libbpf's skeleton attach), then every
   * created struct_ops map with autoattach (map.attachStructOps()), and keeps the links in `links`.
   * Programs that cannot be auto-attached are listed in `skipped` with the reason; if one attachment
   * fails, the ones made by this call are closed again.
   */
  async attach(): Promise<AttachSummary> {
    return this.attachSync();
  }

  attachSync(): AttachSummary {
    return attachObject(this);
  }

  /** Closes (detaches) the links made by attach(). */
  detach(): void {
    detachObject(this);
  }

  /** Detaches what attach() attached and closes every program, map and the BTF object. Pinned objects stay in bpffs. */
  close(): void {
    if (this.state === 'closed') return;
    // An async load has calls under way that use the fds: load() closes when they have returned.
    if (this.state === 'loading') {
      this.closeRequested = true;
      return;
    }
    forgottenObjects.unregister(this);
    try {
      this.detach();
    } catch (e) {
      // Closing must release everything else anyway; say what could not be undone.
      process.emitWarning(`tsbpf: object '${this.name}': detaching on close failed: ${(e as Error).message}`);
    }
    this.state = 'closed';
    this.releaseKernelObjects();
    for (const m of this.maps.values()) m.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private releaseKernelObjects(): void {
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) {
      m.fdOwner?.close();
      m.fdOwner = undefined;
    }
    this.btfFdClose?.();
    this.btfFdClose = undefined;
  }
}

function asBpfError(e: unknown): BpfError {
  if (e instanceof BpfError) return e;
  // A bug in a parser must still surface as a BpfError that says where, never as a bare TypeError.
  return new ParseError(`internal error while processing the object: ${(e as Error)?.message ?? String(e)}`, {}, { cause: e });
}
