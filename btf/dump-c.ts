// BTF → C declarations, with the exact output of libbpf 1.1's btf_dump (what Debian's bpftool 7.1 prints
// for `btf dump file X format c`): type ordering, forward declarations, `___N` name dedup, packed and
// padding detection, anonymous types inlined, enum mode attributes, function prototypes, type tags.
//
// Byte-identical output is the contract (vmlinux.h generated here or by bpftool must be
// interchangeable, and tests diff them), so the structure follows libbpf's two passes closely:
//   1. order: a DFS that queues the named definitions a type needs, post-order, telling "strong"
//      dependencies (embedded: must be defined first) from "weak" ones (behind a pointer: a forward
//      declaration is enough);
//   2. emit: each queued type is printed after the types it needs, with forward declarations where
//      a struct is reached while its own definition is being printed.
// Several quirks are deliberate because they change the output: a type reached a second time
// returns "strong" from the order pass; names get their `___N` suffix the first time they are
// *printed*, so numbering follows emission order; enumerators of inlined anonymous enums are counted
// each time they are printed. Data dumping (btf_dump__dump_type_data) is not implemented.

import { ParseError } from '../src/errors.js';
import type { Btf } from './btf.js';
import { BTF_KIND, isModKind } from './types.js';
import { RawTypes } from './raw-types.js';

const ORDERING = 1;
const ORDERED = 2;
const NOT_EMITTED = 0;
const EMITTING = 1;
const EMITTED = 2;

const F_FWD_EMITTED = 1;
const F_NAME_RESOLVED = 2;
const F_REFERENCED = 4;

/** Indentation is tabs, capped at 13 levels like libbpf. */
const TABS = ['', '\t', '\t\t', '\t\t\t', '\t\t\t\t', '\t\t\t\t\t', '\t\t\t\t\t\t', '\t\t\t\t\t\t\t', '\t\t\t\t\t\t\t\t',
  '\t\t\t\t\t\t\t\t\t', '\t\t\t\t\t\t\t\t\t\t', '\t\t\t\t\t\t\t\t\t\t\t', '\t\t\t\t\t\t\t\t\t\t\t\t', '\t\t\t\t\t\t\t\t\t\t\t\t\t'];
function pfx(lvl: number): string {
  return lvl >= 13 ? TABS[13]! : TABS[lvl]!;
}

/** GCC's Arm SIMD __PolyN_t base types have no C spelling: they are aliased when their INT is emitted. */
const MISSING_BASE_TYPES: Record<string, string> = {
  __Poly8_t: 'unsigned char',
  __Poly16_t: 'unsigned short',
  __Poly64_t: 'unsigned long long',
  __Poly128_t: 'unsigned __int128',
};

export interface EmitTypeDeclOptions {
  /** The declared name ('' for an abstract declarator, e.g. a cast). */
  fieldName?: string;
  /** Indentation level of nested (inlined anonymous) definitions. */
  indentLevel?: number;
  /** Drop const/volatile/restrict/type tags (bpftool does this for skeleton data sections). */
  stripMods?: boolean;
}

export interface BtfDumperOptions {
  /**
   * Add `__attribute__((mode(byte)))` / `mode(word)` to 1- and 8-byte enums, as upstream libbpf ≥1.1.0
   * does. Off by default, matching Debian's bpftool 7.1 (built from Linux 6.1-stable's libbpf).
   */
  enumModes?: boolean;
}

export interface DumpCOptions extends BtfDumperOptions {
  /** Dump only these types and what they need (bpftool's `root_id`), instead of every type. */
  rootIds?: readonly number[];
}

/** Something libbpf reports with pr_warn and skips; collected so the CLI can print them like libbpf. */
export interface BtfDumpWarning {
  id: number;
  message: string;
}

/**
 * The output, as UTF-8 bytes in a growing buffer: appending to a JS string makes millions of
 * cons-strings (vmlinux.h is 2.8 MB in ~3 M pieces) that only a full GC frees. Names are copied
 * straight from the BTF string section, without becoming JS strings at all.
 */
class Out {
  private buf: Uint8Array;
  private pos = 0;

  constructor(capacity = 1 << 16) {
    this.buf = new Uint8Array(capacity);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }

  add(s: string): void {
    const n = s.length;
    this.ensure(n * 3);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x80) {
        buf[pos++] = c;
      } else {
        pos += encoder.encodeInto(s.slice(i), buf.subarray(pos)).written;
        break;
      }
    }
    this.pos = pos;
  }

  /** Makes room for `n` more bytes up front (the bulk dump knows roughly how much it will write). */
  reserve(n: number): void {
    this.ensure(n);
  }

  /** Appends a number in decimal. */
  num(n: number): void {
    this.add(String(n));
  }

  /** Appends the NUL-terminated string at `off` of `strs`. */
  str(strs: Uint8Array, off: number): void {
    // Names are short: a byte loop beats creating a subarray view per name.
    const n = strs.length;
    let end = off;
    while (end < n && strs[end] !== 0) end++;
    this.ensure(end - off);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = off; i < end; i++) buf[pos++] = strs[i]!;
    this.pos = pos;
  }

  take(): string {
    const s = decoder.decode(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return s;
  }

  /** The bytes so far (a view: valid until the next write), and a reset. */
  takeBytes(): Uint8Array {
    const b = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return b;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A declared name: a JS string (typedef names, possibly `___N`), or a name offset in the string section. */
type Name = string | number;

/**
 * One btf_dump session: state (what was ordered, emitted, forward-declared, and the name tables)
 * persists across calls, so dumping several types never repeats a definition.
 * It reads a snapshot of the BTF's types taken at construction.
 */
export class BtfDumper {
  /** The BTF dumped (undefined when built from raw bytes). */
  readonly btf: Btf | undefined;
  /** Non-fatal problems met so far (malformed chains), as libbpf's warnings. */
  readonly warnings: BtfDumpWarning[] = [];
  private readonly r: RawTypes;
  private readonly ptrSize: number;
  private out = new Out();
  private readonly orderState: Uint8Array;
  private readonly emitState: Uint8Array;
  private readonly flags: Uint8Array;
  private cachedNames = new Map<number, string>();
  /** struct/union/enum names → occurrences. */
  private typeNames = new Map<string, number>();
  /** typedef names and enumerators → occurrences. */
  private identNames = new Map<string, number>();
  private queue: number[] = [];
  private stripMods = false;
  private readonly enumModes: boolean;
  private loopId = 0;
  /** libbpf's decl_stack: the type chains of declarations being printed, innermost on top. */
  private stack = new Int32Array(256);
  private sp = 0;
  private readonly pads: readonly (readonly [string, number])[];
  // Memoized libbpf btf__align_of (0 = error) and btf__resolve_size (-1 = error), offset so 0 means "not yet".
  private readonly alignMemo: Uint8Array;
  private readonly sizeMemo: Float64Array;

  constructor(btf: Btf | RawTypes, opts: BtfDumperOptions = {}) {
    this.btf = btf instanceof RawTypes ? undefined : btf;
    this.r = btf instanceof RawTypes ? btf : RawTypes.of(btf);
    this.enumModes = opts.enumModes ?? false;
    this.ptrSize = btf instanceof RawTypes ? btf.pointerSize() : btf.pointerSize || 8;
    this.pads = [['long', this.ptrSize * 8], ['int', 32], ['short', 16], ['char', 8]];
    const n = this.r.count + 1;
    this.orderState = new Uint8Array(n);
    this.emitState = new Uint8Array(n);
    this.flags = new Uint8Array(n);
    this.alignMemo = new Uint8Array(n);
    this.sizeMemo = new Float64Array(n);
    this.orderState[0] = ORDERED;
    this.emitState[0] = EMITTED;
    this.markReferenced();
  }

  /**
   * btf_dump__dump_type: the C definitions of type `id` and of every type it needs that was not dumped
   * yet. Returns the text (empty when everything was already emitted, or for kinds without a definition).
   * Throws ParseError on an unsatisfiable type cycle (with the text emitted so far in `partialOutput`).
   */
  dumpType(id: number): string {
    this.dumpOne(id);
    return this.out.take();
  }

  /**
   * btf_dump__emit_type_decl: the declaration of `id` named `fieldName` (no trailing ';'), e.g.
   * `int (*cb)(void *)` or `char name[16]`. Anonymous struct/union/enum types are inlined.
   */
  emitTypeDecl(id: number, opts: EmitTypeDeclOptions = {}): string {
    this.checkId(id);
    this.sp = 0;
    this.stripMods = opts.stripMods ?? false;
    try {
      this.emitDecl(id, opts.fieldName ?? '', opts.indentLevel ?? 0);
    } finally {
      this.stripMods = false;
    }
    return this.out.take();
  }

  /** @internal Dumps types `from`..`to` (or the given ids) in order into one string (the bulk path of dumpC). */
  dumpMany(ids: readonly number[] | { from: number; to: number }): string {
    this.dumpManyInto(ids);
    return this.out.take();
  }

  /**
   * @internal The bulk path of dumpC/dumpCBytes: `header`, the types, `footer`, as UTF-8 bytes (a view
   * of the dumper's buffer, valid until its next call).
   */
  dumpManyBytes(ids: readonly number[] | { from: number; to: number }, header: string, footer: string): Uint8Array {
    // vmlinux.h is about 0.55× the BTF's type words in bytes: one allocation instead of doubling copies.
    if (!Array.isArray(ids)) this.out.reserve(this.r.w.length * 3);
    this.out.add(header);
    this.dumpManyInto(ids);
    this.out.add(footer);
    return this.out.takeBytes();
  }

  private dumpManyInto(ids: readonly number[] | { from: number; to: number }): void {
    if (Array.isArray(ids)) for (const id of ids) this.dumpOne(id);
    else {
      const { from, to } = ids as { from: number; to: number };
      for (let id = from; id <= to; id++) this.dumpOne(id);
    }
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id > this.r.count) {
      throw new ParseError(`invalid BTF type id ${id} (type count ${this.r.count})`, { section: '.BTF' });
    }
  }

  private dumpOne(id: number): void {
    this.checkId(id);
    this.sp = 0; // a previous call may have thrown mid-declaration
    this.queue.length = 0;
    const err = this.orderType(id, false);
    if (err < 0) {
      const e = new ParseError(`unsatisfiable type cycle, id:[${this.loopId}]`, { section: '.BTF' });
      (e as ParseError & { partialOutput?: string }).partialOutput = this.out.take();
      throw e;
    }
    const q = this.queue;
    for (let i = 0; i < q.length; i++) this.emitType(q[i]!, 0);
  }

  // -----------------------------------------------------------------------------------------------
  // Referenced marking: a top-level anonymous enum (global constants) is never referenced, while an
  // anonymous enum embedded in a field is; only the first kind is emitted on its own.

  private markReferenced(): void {
    const r = this.r;
    const w = r.w;
    const f = this.flags;
    const n = r.count;
    const bad = (id: number, ref: number): never => {
      throw new ParseError(`BTF type [${id}] references invalid type id ${ref}`, { section: '.BTF' });
    };
    for (let id = 1; id <= n; id++) {
      const kind = r.kind(id);
      const vlen = r.vlen(id);
      const q = r.data(id);
      switch (kind) {
        case BTF_KIND.INT: case BTF_KIND.ENUM: case BTF_KIND.ENUM64: case BTF_KIND.FWD: case BTF_KIND.FLOAT:
          break;
        case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT: case BTF_KIND.PTR:
        case BTF_KIND.TYPEDEF: case BTF_KIND.FUNC: case BTF_KIND.VAR: case BTF_KIND.DECL_TAG: case BTF_KIND.TYPE_TAG: {
          const t = r.sizeOrType(id);
          if (t > n) bad(id, t);
          f[t] |= F_REFERENCED;
          break;
        }
        case BTF_KIND.ARRAY:
          if (w[q + 1]! > n) bad(id, w[q + 1]!);
          if (w[q]! > n) bad(id, w[q]!);
          f[w[q + 1]!] |= F_REFERENCED;
          f[w[q]!] |= F_REFERENCED;
          break;
        case BTF_KIND.STRUCT: case BTF_KIND.UNION:
          for (let i = 0; i < vlen; i++) {
            const t = w[q + i * 3 + 1]!;
            if (t > n) bad(id, t);
            f[t] |= F_REFERENCED;
          }
          break;
        case BTF_KIND.FUNC_PROTO:
          // libbpf marks the parameters only, not the return type.
          if (r.sizeOrType(id) > n) bad(id, r.sizeOrType(id));
          for (let i = 0; i < vlen; i++) {
            const t = w[q + i * 2 + 1]!;
            if (t > n) bad(id, t);
            f[t] |= F_REFERENCED;
          }
          break;
        case BTF_KIND.DATASEC:
          for (let i = 0; i < vlen; i++) {
            const t = w[q + i * 3]!;
            if (t > n) bad(id, t);
            f[t] |= F_REFERENCED;
          }
          break;
        default:
          throw new ParseError(`cannot dump BTF type [${id}] of kind ${kind}`, { section: '.BTF' });
      }
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Pass 1: ordering. Returns 1 (strong link), 0 (weak: a forward declaration suffices) or -1 (loop).

  private orderType(id: number, throughPtr: boolean): number {
    const st = this.orderState[id]!;
    // Already ordered: "strong", so that a typedef seen again through a pointer is still emitted.
    if (st === ORDERED) return 1;
    const r = this.r;
    const kind = r.kind(id);
    if (st === ORDERING) {
      // A loop is fine through a pointer to a named struct/union: it gets a forward declaration.
      if ((kind === BTF_KIND.STRUCT || kind === BTF_KIND.UNION) && throughPtr && r.named(id)) return 0;
      this.loopId = id;
      return -1;
    }
    switch (kind) {
      case BTF_KIND.INT: case BTF_KIND.FLOAT:
        this.orderState[id] = ORDERED;
        return 0;
      case BTF_KIND.PTR: {
        const res = this.orderType(r.sizeOrType(id), true);
        this.orderState[id] = ORDERED;
        return res;
      }
      case BTF_KIND.ARRAY:
        return this.orderType(r.ref(id), false);
      case BTF_KIND.STRUCT: case BTF_KIND.UNION: {
        // Only embedded (no pointer on the way) or anonymous (defined inline) composites are strong.
        const named = r.named(id);
        if (throughPtr && named) return 0;
        this.orderState[id] = ORDERING;
        const vlen = r.vlen(id);
        const q = r.data(id);
        for (let i = 0; i < vlen; i++) {
          if (this.orderType(r.w[q + i * 3 + 1]!, false) < 0) return -1;
        }
        if (named) this.queue.push(id);
        this.orderState[id] = ORDERED;
        return 1;
      }
      case BTF_KIND.ENUM: case BTF_KIND.ENUM64: case BTF_KIND.FWD:
        // Named or top-level (unreferenced) enums are declarations of their own.
        if (r.named(id) || !(this.flags[id]! & F_REFERENCED)) this.queue.push(id);
        this.orderState[id] = ORDERED;
        return 1;
      case BTF_KIND.TYPEDEF: {
        const strong = this.orderType(r.sizeOrType(id), throughPtr);
        if (strong < 0) return strong;
        // Like a struct: behind a pointer and only weakly needed, it can wait.
        if (throughPtr && !strong) return 0;
        this.queue.push(id);
        this.orderState[id] = ORDERED;
        return 1;
      }
      case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT: case BTF_KIND.TYPE_TAG:
        return this.orderType(r.sizeOrType(id), throughPtr);
      case BTF_KIND.FUNC_PROTO: {
        let res = this.orderType(r.sizeOrType(id), throughPtr);
        if (res < 0) return res;
        let strong = res > 0;
        const vlen = r.vlen(id);
        const q = r.data(id);
        for (let i = 0; i < vlen; i++) {
          res = this.orderType(r.w[q + i * 2 + 1]!, throughPtr);
          if (res < 0) return res;
          if (res > 0) strong = true;
        }
        return strong ? 1 : 0;
      }
      case BTF_KIND.FUNC: case BTF_KIND.VAR: case BTF_KIND.DATASEC: case BTF_KIND.DECL_TAG:
        this.orderState[id] = ORDERED;
        return 0;
      default:
        this.loopId = id;
        return -1;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Pass 2: emission. `contId` is the named struct/union whose definition is being printed (0 at top
  // level): referring to it from inside needs no forward declaration.

  private emitType(id: number, contId: number): void {
    const es = this.emitState[id]!;
    if (es === EMITTED) return;
    const r = this.r;
    const kind = r.kind(id);
    const topLevel = contId === 0;

    if (es === EMITTING) {
      if (this.flags[id]! & F_FWD_EMITTED) return;
      switch (kind) {
        case BTF_KIND.STRUCT: case BTF_KIND.UNION:
          if (id === contId) return;
          if (!r.named(id)) {
            this.warnings.push({ id, message: `anonymous struct/union loop, id:[${id}]` });
            return;
          }
          this.emitStructFwd(id);
          this.out.add(';\n\n');
          this.flags[id] |= F_FWD_EMITTED;
          break;
        case BTF_KIND.TYPEDEF:
          // The typedef is printed early; it can only serve references through pointers.
          if (!this.isBlacklisted(id)) {
            this.emitTypedefDef(id, 0);
            this.out.add(';\n\n');
          }
          this.flags[id] |= F_FWD_EMITTED;
          break;
        default:
          break;
      }
      return;
    }

    switch (kind) {
      case BTF_KIND.INT: {
        // libbpf resolves (and so counts) every INT's name here, which can shift `___N` numbering.
        const name = this.typeName(id);
        if (Object.hasOwn(MISSING_BASE_TYPES, name)) this.out.add(`typedef ${MISSING_BASE_TYPES[name]} ${name};\n\n`);
        this.emitState[id] = EMITTED;
        break;
      }
      case BTF_KIND.ENUM: case BTF_KIND.ENUM64:
        if (topLevel) {
          this.emitEnumDef(id, 0);
          this.out.add(';\n\n');
        }
        this.emitState[id] = EMITTED;
        break;
      case BTF_KIND.PTR: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT: case BTF_KIND.TYPE_TAG:
      case BTF_KIND.ARRAY:
        this.emitType(r.ref(id), contId);
        break;
      case BTF_KIND.FWD:
        this.out.add(`${r.kflag(id) ? 'union' : 'struct'} ${this.typeName(id)};\n\n`);
        this.emitState[id] = EMITTED;
        break;
      case BTF_KIND.TYPEDEF:
        this.emitState[id] = EMITTING;
        this.emitType(r.sizeOrType(id), id);
        // A typedef is its own forward declaration: print it unless it was printed early.
        if (!(this.flags[id]! & F_FWD_EMITTED) && !this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0);
          this.out.add(';\n\n');
        }
        this.emitState[id] = EMITTED;
        break;
      case BTF_KIND.STRUCT: case BTF_KIND.UNION: {
        this.emitState[id] = EMITTING;
        const named = r.named(id);
        // A full definition (top level, or anonymous and so inline) prints every member: their types
        // need their own definitions or forward declarations first.
        if (topLevel || !named) {
          const newCont = named ? id : contId;
          const vlen = r.vlen(id);
          const q = r.data(id);
          for (let i = 0; i < vlen; i++) this.emitType(r.w[q + i * 3 + 1]!, newCont);
        } else if (!(this.flags[id]! & F_FWD_EMITTED) && id !== contId) {
          this.emitStructFwd(id);
          this.out.add(';\n\n');
          this.flags[id] |= F_FWD_EMITTED;
        }
        if (topLevel) {
          this.emitStructDef(id, 0);
          this.out.add(';\n\n');
          this.emitState[id] = EMITTED;
        } else {
          this.emitState[id] = NOT_EMITTED;
        }
        break;
      }
      case BTF_KIND.FUNC_PROTO: {
        this.emitType(r.sizeOrType(id), contId);
        const vlen = r.vlen(id);
        const q = r.data(id);
        for (let i = 0; i < vlen; i++) this.emitType(r.w[q + i * 2 + 1]!, contId);
        break;
      }
      default:
        break;
    }
  }

  private isBlacklisted(id: number): boolean {
    // A compiler built-in: redefining it breaks compilation with another compiler than the kernel's.
    return this.r.named(id) && this.r.name(id) === '__builtin_va_list';
  }

  // -----------------------------------------------------------------------------------------------
  // Definitions

  private emitStructFwd(id: number): void {
    const kw = this.r.kind(id) === BTF_KIND.STRUCT ? 'struct' : 'union';
    this.out.add(this.r.named(id) ? `${kw} ${this.typeName(id)}` : kw);
  }

  private emitStructDef(id: number, lvl: number): void {
    const r = this.r;
    const w = r.w;
    const isStruct = r.kind(id) === BTF_KIND.STRUCT;
    const kflag = r.kflag(id);
    const size = r.sizeOrType(id);
    const vlen = r.vlen(id);
    const q = r.data(id);
    const align = this.alignOf(id);
    const packed = isStruct ? this.isStructPacked(id) : false;
    const name = this.typeName(id);
    this.out.add(isStruct ? 'struct' : 'union');
    if (r.named(id)) this.out.add(' ');
    this.out.add(name);
    this.out.add(' {');
    let off = 0;
    let prevBitfield = false;
    const inner = lvl + 1;
    const ind = pfx(inner);
    for (let i = 0; i < vlen; i++) {
      const mName = w[q + i * 3]!;
      const mType = w[q + i * 3 + 1]!;
      const rawOff = w[q + i * 3 + 2]!;
      let mSz = kflag ? rawOff >>> 24 : 0;
      const mOff = kflag ? rawOff & 0xffffff : rawOff;
      const mAlign = packed ? 1 : this.alignOf(mType);
      const inBitfield = prevBitfield && mSz !== 0;
      this.emitBitPadding(off, mOff, mAlign, inBitfield, inner);
      this.out.add('\n');
      this.out.add(ind);
      this.emitDecl(mType, mName, inner);
      if (mSz) {
        this.out.add(': ');
        this.out.num(mSz);
        off = mOff + mSz;
        prevBitfield = true;
      } else {
        mSz = Math.max(0, this.resolveSize(mType));
        off = mOff + mSz * 8;
        prevBitfield = false;
      }
      this.out.add(';');
    }
    if (isStruct) this.emitBitPadding(off, size * 8, align, false, inner);
    // `struct empty {}` stays on one line.
    if (vlen || size) {
      this.out.add('\n');
      this.out.add(pfx(lvl));
      this.out.add('}');
    }
    else this.out.add('}');
    if (packed) this.out.add(' __attribute__((packed))');
  }

  private isStructPacked(id: number): boolean {
    const r = this.r;
    const kflag = r.kflag(id);
    const vlen = r.vlen(id);
    const q = r.data(id);
    let maxAlign = 1;
    for (let i = 0; i < vlen; i++) {
      const align = this.alignOf(r.w[q + i * 3 + 1]!);
      const rawOff = r.w[q + i * 3 + 2]!;
      const bitSz = kflag ? rawOff >>> 24 : 0;
      const mOff = kflag ? rawOff & 0xffffff : rawOff;
      // Every non-bitfield member of a naturally laid out struct sits at a multiple of its alignment.
      if (align && bitSz === 0 && mOff % (8 * align) !== 0) return true;
      if (align > maxAlign) maxAlign = align;
    }
    // And its size is a multiple of its alignment.
    return r.sizeOrType(id) % maxAlign !== 0;
  }

  /**
   * Fills the gap [curOff, nextOff) bits with anonymous bitfields, relying on natural alignment where
   * the compiler would pad anyway: the largest of long/int/short/char that aligns within the gap,
   * `<type>: 0` where natural alignment alone would land elsewhere, explicit bit counts in bitfield runs.
   */
  private emitBitPadding(curOff: number, nextOff: number, nextAlign: number, inBitfield: boolean, lvl: number): void {
    if (curOff >= nextOff) return;
    const pads = this.pads;
    let padType = '';
    let padBits = 0;
    let newOff = 0;
    for (const [name, bits] of pads) {
      padBits = bits;
      padType = name;
      newOff = roundUp(curOff, bits);
      if (newOff <= nextOff) break;
    }
    const ind = pfx(lvl);
    if (newOff > curOff && newOff <= nextOff) {
      if (inBitfield ||
        (newOff === nextOff && roundUp(curOff, nextAlign * 8) !== newOff) ||
        (newOff !== nextOff && nextOff - newOff <= newOff - curOff)) {
        this.pad(ind, padType, inBitfield ? newOff - curOff : 0);
      }
      curOff = newOff;
    }
    while (curOff !== nextOff) {
      const bits = Math.min(nextOff - curOff, padBits);
      if (bits === padBits) {
        this.pad(ind, padType, padBits);
        curOff += bits;
        continue;
      }
      // The remainder gets the smallest type that holds it (only aesthetics).
      for (let i = pads.length - 1; i >= 0; i--) {
        padType = pads[i]![0];
        padBits = pads[i]![1];
        if (padBits < bits) continue;
        this.pad(ind, padType, bits);
        curOff += bits;
        break;
      }
    }
  }

  private pad(ind: string, type: string, bits: number): void {
    this.out.add('\n');
    this.out.add(ind);
    this.out.add(type);
    this.out.add(': ');
    this.out.num(bits);
    this.out.add(';');
  }

  private emitEnumDef(id: number, lvl: number): void {
    const r = this.r;
    const w = r.w;
    this.out.add('enum' + (r.named(id) ? ' ' : '') + this.typeName(id));
    const vlen = r.vlen(id);
    if (!vlen) return;
    this.out.add(' {');
    const ind = pfx(lvl + 1);
    const signed = r.kflag(id);
    const q = r.data(id);
    const is64 = r.kind(id) === BTF_KIND.ENUM64;
    for (let i = 0; i < vlen; i++) {
      let name: string;
      let val: string;
      if (!is64) {
        name = r.str(w[q + i * 2]!);
        const v = w[q + i * 2 + 1]!;
        val = String(signed ? v | 0 : v);
      } else {
        name = r.str(w[q + i * 3]!);
        const u = (BigInt(w[q + i * 3 + 2]!) << 32n) | BigInt(w[q + i * 3 + 1]!);
        val = signed ? `${BigInt.asIntN(64, u)}LL` : `${u}ULL`;
      }
      // Enumerators share the typedef namespace.
      const dups = this.nameDups(this.identNames, name);
      this.out.add(dups > 1 ? `\n${ind}${name}___${dups} = ${val},` : `\n${ind}${name} = ${val},`);
    }
    this.out.add('\n' + pfx(lvl) + '}');
    // libbpf ≥1.1.0 adds mode(byte)/mode(word) for 1- and 8-byte enums; the Linux 6.1-stable libbpf
    // that Debian's bpftool 7.1 is built from does not (verified against its vmlinux.h).
    if (this.enumModes) {
      const size = r.sizeOrType(id);
      if (size === 1) {
        this.out.add(' __attribute__((mode(byte)))');
      } else if (size === 8 && this.ptrSize === 8) {
        // An 8-byte enum needs mode(word) unless a value already forces 64 bits on the compiler.
        let word = true;
        if (is64) {
          for (let i = 0; i < vlen; i++) {
            if (w[q + i * 3 + 2] !== 0) {
              word = false;
              break;
            }
          }
        }
        if (word) this.out.add(' __attribute__((mode(word)))');
      }
    }
  }

  private emitTypedefDef(id: number, lvl: number): void {
    const name = this.identName(id);
    const target = this.r.sizeOrType(id);
    // Old GCC emits __gnuc_va_list as a typedef of void, which does not compile.
    if (target === 0 && name === '__gnuc_va_list') {
      this.out.add('typedef __builtin_va_list __gnuc_va_list');
      return;
    }
    this.out.add('typedef ');
    this.emitDecl(target, name, lvl);
  }

  // -----------------------------------------------------------------------------------------------
  // Declarations: the chain from the declared name to its base type is pushed on a stack and printed
  // from the base type back out, since C writes pointer qualifiers right of '*' and the rest left of
  // the base type, and arrays and function pointers wrap the declarator.

  private emitDecl(id: number, fname: Name, lvl: number): void {
    const r = this.r;
    // This declaration's frame on the shared stack (nested declarations push above it and pop back).
    const start = this.sp;
    for (;;) {
      const kind = r.kind(id);
      if (!(this.stripMods && isModKind(kind))) this.push(id);
      if (id === 0) break;
      let next = -1;
      switch (kind) {
        case BTF_KIND.PTR: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT: case BTF_KIND.TYPE_TAG:
        case BTF_KIND.FUNC_PROTO:
          next = r.sizeOrType(id);
          break;
        case BTF_KIND.ARRAY:
          next = r.ref(id);
          break;
        case BTF_KIND.INT: case BTF_KIND.ENUM: case BTF_KIND.ENUM64: case BTF_KIND.FWD: case BTF_KIND.STRUCT:
        case BTF_KIND.UNION: case BTF_KIND.TYPEDEF: case BTF_KIND.FLOAT:
          break;
        default:
          this.warnings.push({ id, message: `unexpected type in decl chain, kind:${kind}, id:[${id}]` });
          break;
      }
      if (next < 0) break;
      id = next;
    }
    this.emitChain(start, fname, lvl);
    this.sp = start;
  }

  private push(id: number): void {
    if (this.sp === this.stack.length) {
      const s = new Int32Array(this.stack.length * 2);
      s.set(this.stack);
      this.stack = s;
    }
    this.stack[this.sp++] = id;
  }

  private emitMods(start: number): void {
    const r = this.r;
    while (this.sp > start) {
      const k = r.kind(this.stack[this.sp - 1]!);
      if (k === BTF_KIND.VOLATILE) this.out.add('volatile ');
      else if (k === BTF_KIND.CONST) this.out.add('const ');
      else if (k === BTF_KIND.RESTRICT) this.out.add('restrict ');
      else return;
      this.sp--;
    }
  }

  private dropMods(start: number): void {
    while (this.sp > start && isModKind(this.r.kind(this.stack[this.sp - 1]!))) this.sp--;
  }

  private nameEmpty(name: Name): boolean {
    return typeof name === 'string' ? name === '' : name === 0 || this.r.strs[name] === 0;
  }

  private emitName(name: Name, lastWasPtr: boolean): void {
    if (!this.nameEmpty(name) && !lastWasPtr) this.out.add(' ');
    if (typeof name === 'string') this.out.add(name);
    else if (name !== 0) this.out.str(this.r.strs, name);
  }

  private emitChain(start: number, fname: Name, lvl: number): void {
    const r = this.r;
    // '*' right after another '*' gets no space: `int ***`. True at the start for ptr → func_proto,
    // whose nested chain prints `(*name)`.
    let lastWasPtr = true;
    while (this.sp > start) {
      const id = this.stack[--this.sp]!;
      if (id === 0) {
        this.emitMods(start);
        this.out.add('void');
        lastWasPtr = false;
        continue;
      }
      const kind = r.kind(id);
      switch (kind) {
        case BTF_KIND.INT: case BTF_KIND.FLOAT:
          this.emitMods(start);
          this.out.str(r.strs, r.w[r.off[id]!]!);
          break;
        case BTF_KIND.STRUCT: case BTF_KIND.UNION:
          this.emitMods(start);
          if (!r.named(id)) this.emitStructDef(id, lvl);
          else this.emitStructFwd(id);
          break;
        case BTF_KIND.ENUM: case BTF_KIND.ENUM64:
          this.emitMods(start);
          if (!r.named(id)) this.emitEnumDef(id, lvl);
          else this.out.add('enum ' + this.typeName(id));
          break;
        case BTF_KIND.FWD:
          this.emitMods(start);
          this.out.add((r.kflag(id) ? 'union ' : 'struct ') + this.typeName(id));
          break;
        case BTF_KIND.TYPEDEF:
          this.emitMods(start);
          this.out.add(this.identName(id));
          break;
        case BTF_KIND.PTR:
          this.out.add(lastWasPtr ? '*' : ' *');
          break;
        case BTF_KIND.VOLATILE:
          this.out.add(' volatile');
          break;
        case BTF_KIND.CONST:
          this.out.add(' const');
          break;
        case BTF_KIND.RESTRICT:
          this.out.add(' restrict');
          break;
        case BTF_KIND.TYPE_TAG:
          this.emitMods(start);
          this.out.add(` __attribute__((btf_type_tag("${r.name(id)}")))`);
          break;
        case BTF_KIND.ARRAY: {
          // GCC adds the element's const/volatile to the array type too; they mean nothing there.
          this.dropMods(start);
          const nelems = r.w[r.data(id) + 2]!;
          if (this.sp === start) {
            this.emitName(fname, lastWasPtr);
            this.out.add('[');
            this.out.num(nelems);
            this.out.add(']');
            return;
          }
          const multidim = r.kind(this.stack[this.sp - 1]!) === BTF_KIND.ARRAY;
          if (!this.nameEmpty(fname) && !lastWasPtr) this.out.add(' ');
          if (!multidim) this.out.add('(');
          this.emitChain(start, fname, lvl);
          if (!multidim) this.out.add(')');
          this.out.add('[');
          this.out.num(nelems);
          this.out.add(']');
          return;
        }
        case BTF_KIND.FUNC_PROTO: {
          // GCC marks noreturn function pointers volatile; dropped like array qualifiers.
          this.dropMods(start);
          if (this.sp > start) {
            this.out.add(' (');
            this.emitChain(start, fname, lvl);
            this.out.add(')');
          } else {
            this.emitName(fname, lastWasPtr);
          }
          this.out.add('(');
          const vlen = r.vlen(id);
          const q = r.data(id);
          const w = r.w;
          // No parameters (kernel BTF: vlen 0; clang: one void parameter) print as `(void)`: Debian's
          // bpftool 7.1 is built from Linux 6.1-stable, whose libbpf has this fix (libbpf 1.1.0 printed `()`).
          if (vlen === 0 || (vlen === 1 && w[q + 1] === 0)) {
            this.out.add('void)');
            return;
          }
          for (let i = 0; i < vlen; i++) {
            const pType = w[q + i * 2 + 1]!;
            if (i > 0) this.out.add(', ');
            // A trailing void parameter means varargs.
            if (i === vlen - 1 && pType === 0) {
              this.out.add('...');
              break;
            }
            this.emitDecl(pType, w[q + i * 2]!, lvl);
          }
          this.out.add(')');
          return;
        }
        default:
          this.warnings.push({ id, message: `unexpected type in decl chain, kind:${kind}, id:[${id}]` });
          return;
      }
      lastWasPtr = kind === BTF_KIND.PTR;
    }
    this.emitName(fname, lastWasPtr);
  }

  // -----------------------------------------------------------------------------------------------
  // Names

  private nameDups(map: Map<string, number>, name: string): number {
    const n = (map.get(name) ?? 0) + 1;
    map.set(name, n);
    return n;
  }

  private resolveName(id: number, map: Map<string, number>): string {
    const r = this.r;
    if (!r.named(id)) return '';
    const orig = r.name(id);
    if (this.flags[id]! & F_NAME_RESOLVED) return this.cachedNames.get(id) ?? orig;
    this.flags[id] |= F_NAME_RESOLVED;
    // Forward declarations and empty (forward) enums may repeat a name freely.
    const kind = r.kind(id);
    if (kind === BTF_KIND.FWD || (kind === BTF_KIND.ENUM && r.vlen(id) === 0)) return orig;
    const dups = this.nameDups(map, orig);
    if (dups > 1) {
      const name = `${orig}___${dups}`;
      this.cachedNames.set(id, name);
      return name;
    }
    return orig;
  }

  private typeName(id: number): string {
    return this.resolveName(id, this.typeNames);
  }

  private identName(id: number): string {
    return this.resolveName(id, this.identNames);
  }

  // -----------------------------------------------------------------------------------------------
  // libbpf's btf__align_of and btf__resolve_size, with their error values (0 and -1) instead of throws:
  // the dump goes on through types it cannot size, as libbpf's does.

  private alignOf(id: number): number {
    const memo = this.alignMemo[id]!;
    if (memo) return memo - 1;
    this.alignMemo[id] = 1; // a loop resolves to 0 (error) instead of recursing forever
    const r = this.r;
    let align: number;
    switch (r.kind(id)) {
      case BTF_KIND.INT: case BTF_KIND.ENUM: case BTF_KIND.ENUM64: case BTF_KIND.FLOAT:
        align = Math.min(this.ptrSize, r.sizeOrType(id));
        break;
      case BTF_KIND.PTR:
        align = this.ptrSize;
        break;
      case BTF_KIND.TYPEDEF: case BTF_KIND.VOLATILE: case BTF_KIND.CONST: case BTF_KIND.RESTRICT:
      case BTF_KIND.TYPE_TAG: case BTF_KIND.ARRAY:
        align = this.alignOf(r.ref(id));
        break;
      case BTF_KIND.STRUCT: case BTF_KIND.UNION: {
        const kflag = r.kflag(id);
        const vlen = r.vlen(id);
        const q = r.data(id);
        let max = 1;
        align = -1;
        for (let i = 0; i < vlen; i++) {
          const a = this.alignOf(r.w[q + i * 3 + 1]!);
          if (a <= 0) {
            align = 0;
            break;
          }
          if (a > max) max = a;
          const rawOff = r.w[q + i * 3 + 2]!;
          const bitSz = kflag ? rawOff >>> 24 : 0;
          const mOff = kflag ? rawOff & 0xffffff : rawOff;
          if (bitSz === 0 && mOff % (8 * a) !== 0) {
            align = 1;
            break;
          }
        }
        if (align < 0) align = r.sizeOrType(id) % max !== 0 ? 1 : max;
        break;
      }
      default:
        align = 0;
        break;
    }
    if (align > 254) align = 254;
    this.alignMemo[id] = align + 1;
    return align;
  }

  /** btf__resolve_size: through typedefs, modifiers, VARs and arrays; -1 when it has no size. */
  private resolveSize(id: number): number {
    const memo = this.sizeMemo[id]!;
    if (memo) return memo - 2;
    const r = this.r;
    let nelems = 1;
    let size = -1;
    let cur = id;
    for (let depth = 0; depth < 32; depth++) {
      const kind = r.kind(cur);
      if (kind === BTF_KIND.INT || kind === BTF_KIND.STRUCT || kind === BTF_KIND.UNION || kind === BTF_KIND.ENUM ||
        kind === BTF_KIND.ENUM64 || kind === BTF_KIND.DATASEC || kind === BTF_KIND.FLOAT) {
        size = r.sizeOrType(cur);
        break;
      } else if (kind === BTF_KIND.PTR) {
        size = this.ptrSize;
        break;
      } else if (kind === BTF_KIND.TYPEDEF || kind === BTF_KIND.VOLATILE || kind === BTF_KIND.CONST ||
        kind === BTF_KIND.RESTRICT || kind === BTF_KIND.VAR || kind === BTF_KIND.DECL_TAG || kind === BTF_KIND.TYPE_TAG) {
        cur = r.sizeOrType(cur);
        continue;
      } else if (kind === BTF_KIND.ARRAY) {
        const n = r.w[r.data(cur) + 2]!;
        if (nelems && n > Math.floor(0xffffffff / nelems)) break;
        nelems *= n;
        cur = r.ref(cur);
        continue;
      }
      break;
    }
    const res = size < 0 || (nelems && size > Math.floor(0xffffffff / nelems)) ? -1 : nelems * size;
    this.sizeMemo[id] = res + 2;
    return res;
  }
}

function roundUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

/** The header bpftool 7.1 prints before the types of `btf dump … format c`. */
export const VMLINUX_H_HEADER = '#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n' +
  '#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n';
/** The footer bpftool 7.1 prints after the types. */
export const VMLINUX_H_FOOTER = '#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n#endif /* __VMLINUX_H__ */\n';

/**
 * The whole `bpftool btf dump file X format c` text (bpftool 7.1): the header, every type from id 1 in
 * id order (base types included for split BTF, as bpftool does) or only `rootIds` and their
 * dependencies, then the footer.
 */
export function dumpC(btf: Btf | RawTypes, opts: DumpCOptions = {}): string {
  return decoder.decode(dumpCBytes(btf, opts));
}

/** dumpC's text as UTF-8 bytes (what a CLI writes out: no string is built). */
export function dumpCBytes(btf: Btf | RawTypes, opts: DumpCOptions = {}): Uint8Array {
  const d = new BtfDumper(btf, opts);
  const ids = opts.rootIds && opts.rootIds.length ? opts.rootIds : { from: 1, to: btf instanceof RawTypes ? btf.count : btf.typeCount };
  return d.dumpManyBytes(ids, VMLINUX_H_HEADER, VMLINUX_H_FOOTER);
}
