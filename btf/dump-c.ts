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
//
// Speed: `tsbpf btf dump … format c` is timed as a whole process against bpftool, so most of this
// code runs before V8 has optimized it. It works on the raw type words, never builds a JS string per
// name: output is bytes in one growing buffer, names are copied from the string section, and the
// `___N` name counts are kept per distinct name (a hash of the name bytes) in typed arrays.
//
// Robustness (any BTF, e.g. fuzzed): where libbpf would recurse forever or print without bound, this
// throws a ParseError naming the type instead: a type loop not broken by a pointer to a named struct
// ("unsatisfiable type cycle", as libbpf's -ELOOP), chains deeper than MAX_DEPTH, a padding gap of more
// than MAX_PAD_FIELDS fields, and a dump whose work or output outgrows a budget linear in the BTF's
// size (type graphs whose expansion is exponential, e.g. function prototypes taking themselves).

import { ParseError } from '../src/errors.js';
import type { Btf } from './btf.js';
import { RawTypes } from './raw-types.js';

// Numbers in the dumper's methods are literals with their name in a comment, e.g. `4 /* STRUCT */`: a
// module-level `const` costs each use a context load and a TDZ check in V8 (interpreted, baseline and
// optimized code alike), and a switch over literal cases becomes a jump table. The names:
//   BTF kinds: INT 1, PTR 2, ARRAY 3, STRUCT 4, UNION 5, ENUM 6, FWD 7, TYPEDEF 8, VOLATILE 9, CONST 10,
//     RESTRICT 11, FUNC 12, FUNC_PROTO 13, VAR 14, DATASEC 15, FLOAT 16, DECL_TAG 17, TYPE_TAG 18, ENUM64 19;
//   order states: 0, ORDERING 1, ORDERED 2; emit states: NOT_EMITTED 0, EMITTING 1, EMITTED 2;
//   flags: F_FWD_EMITTED 1 (its forward declaration is printed), F_REFERENCED 4 (another type refers to it);
//   JS_NAME -1: a declared-name argument meaning the JS string in `jsName` (emitTypeDecl's fieldName).

/**
 * Deepest recursion (type chain / nesting) followed: real BTF stays below ~30; this keeps a malformed
 * chain from overflowing the JS stack (one level is about one stack frame).
 */
const MAX_DEPTH = 1000;
/** Most anonymous padding fields for one gap: vmlinux's largest gap needs 511 (a page-aligned member). */
const MAX_PAD_FIELDS = 1 << 16;

/**
 * dumpCTo's chunk size: the output is handed over at the first type boundary past it, and the buffer
 * reused. (Reusing 256 KiB, rather than growing a buffer to the output's size, spares a page fault per
 * 4 KiB of output: vmlinux.h is 2.8 MB.)
 */
const FLUSH_AT = 64 * 1024;

/** The types of padding fields, largest first: `long` (the pointer size), int, short, char. */
const PAD_NAMES = ['long', 'int', 'short', 'char'];
/**
 * The smallest PAD_NAMES type that holds a remainder of n bits (n < the padding type's size, so at
 * most 63 and never `long`: with 4-byte pointers `long` and `int` are both 32 bits, and libbpf then
 * picks `int`, the first it finds from `char` up).
 */
const SMALLEST_PAD = Int8Array.from({ length: 65 }, (_, n) => (n <= 8 ? 3 : n <= 16 ? 2 : n <= 32 ? 1 : 0));

/** The suffix spelling of VOLATILE, CONST and RESTRICT in a declaration chain. */
const QUALIFIERS = [' volatile', ' const', ' restrict'];

/** The spellings of `long` that libbpf recognizes to tell the pointer size. */
const LONG_NAMES = ['long', 'long int', 'int long', 'unsigned long', 'long unsigned', 'unsigned long int',
  'unsigned int long', 'long unsigned int', 'long int unsigned', 'int unsigned long', 'int long unsigned'];

/** GCC's Arm SIMD __PolyN_t base types have no C spelling: they are aliased when their INT is emitted. */
const MISSING_BASE_TYPES: readonly (readonly [string, string])[] = [
  ['__Poly8_t', 'unsigned char'],
  ['__Poly16_t', 'unsigned short'],
  ['__Poly64_t', 'unsigned long long'],
  ['__Poly128_t', 'unsigned __int128'],
];

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

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * One btf_dump session: state (what was ordered, emitted, forward-declared, and the name tables)
 * persists across calls, so dumping several types never repeats a definition.
 * It reads a snapshot of the BTF's types taken at construction. After a call threw, the session is
 * in an undefined state: make a new one.
 */
export class BtfDumper {
  /** The BTF dumped (undefined when built from raw bytes). */
  readonly btf: Btf | undefined;
  /** Non-fatal problems met so far (malformed chains), as libbpf's warnings. */
  readonly warnings: BtfDumpWarning[] = [];
  // The raw types: words, word offset per id, string section, kind per id.
  private readonly w: Uint32Array;
  private readonly off: Uint32Array;
  private readonly strs: Uint8Array;
  private readonly strsView: DataView;
  private readonly kinds: Uint8Array;
  private readonly count: number;
  private ptrSize = 8;
  private readonly enumModes: boolean;

  // Output: UTF-8 bytes in one growing buffer (appending to a JS string makes millions of cons-strings).
  private buf = new Uint8Array(1 << 16);
  /** `buf` seen 4 bytes at a time (names are copied by words, see nameAt). */
  private bufView = new DataView(this.buf.buffer);
  private pos = 0;
  /** Output size past which the dump is deemed runaway (see maxWork). */
  private readonly maxOut: number;
  /**
   * Where dumpManyTo hands the output as the buffer fills (undefined: the buffer grows instead), and
   * how many bytes it was handed so far.
   */
  private sink: ((chunk: Uint8Array) => void) | undefined;
  private flushed = 0;

  private readonly orderState: Uint8Array;
  private readonly emitState: Uint8Array;
  private readonly flags: Uint8Array;
  /** Entries of a pass-through type (pointer, array, modifier, typedef, prototype) on the order DFS stack. */
  private readonly visits: Uint8Array;
  /** The `___N` number of each type's name once resolved (1: printed as is; 0: not yet). */
  private readonly dups: Uint32Array;
  // Name dedup: every distinct name (by bytes) gets a dense index through an open-addressing hash of
  // its string offset; counts per namespace (struct/union/enum names; typedefs and enumerators).
  private nameTab: Int32Array;
  private readonly nameRep: Int32Array;
  /** The hash of each name index (to rehash when the table grows). */
  private readonly nameHash: Int32Array;
  private nNames = 0;
  private readonly typeCounts: Int32Array;
  private readonly identCounts: Int32Array;

  /** The order pass's output: ids to emit, in order (each id is queued at most once per session). */
  private readonly queue: Int32Array;
  private qn = 0;
  private stripMods = false;
  /** emitTypeDecl's declared name (see JS_NAME). */
  private jsName = '';
  private loopId = 0;
  /** Recursive steps taken, against maxWork. */
  private work = 0;
  private readonly maxWork: number;
  /** libbpf's decl_stack: the type chains of declarations being printed, innermost on top. */
  private stack = new Int32Array(256);
  private sp = 0;
  /** Bits of each PAD_NAMES type (`long` is the pointer size). */
  private readonly padBits: Int32Array;
  // Memoized libbpf btf__align_of (0 = error) and btf__resolve_size (-1 = error), offset so 0 means "not yet".
  private readonly alignMemo: Uint8Array;
  private readonly sizeMemo: Uint32Array;

  constructor(btf: Btf | RawTypes, opts: BtfDumperOptions = {}) {
    this.btf = btf instanceof RawTypes ? undefined : btf;
    const r = btf instanceof RawTypes ? btf : RawTypes.of(btf);
    this.w = r.w;
    this.off = r.off;
    // Offset 0 reads as the empty name even in a BTF without strings.
    this.strs = r.strs.length ? r.strs : new Uint8Array(1);
    this.strsView = new DataView(this.strs.buffer, this.strs.byteOffset, this.strs.byteLength);
    this.count = r.count;
    this.enumModes = opts.enumModes ?? false;
    const n = this.count + 1;
    this.kinds = new Uint8Array(n);
    this.orderState = new Uint8Array(n);
    this.emitState = new Uint8Array(n);
    this.flags = new Uint8Array(n);
    this.visits = new Uint8Array(n);
    this.dups = new Uint32Array(n);
    this.alignMemo = new Uint8Array(n);
    this.sizeMemo = new Uint32Array(n);
    this.queue = new Int32Array(n);
    this.orderState[0] = 2 /* ORDERED */;
    this.emitState[0] = 2 /* EMITTED */;
    const names = this.scan();
    // libbpf takes the pointer size from the BTF's `long` (scan found it), a Btf its own setting.
    if (!(btf instanceof RawTypes)) this.ptrSize = btf.pointerSize || 8;
    this.padBits = Int32Array.of(this.ptrSize * 8, 32, 16, 8);
    // Slots for half the names at most (vmlinux: ~33k distinct of ~180k), growing if need be: the table
    // is touched at random, and every page first touched is a page fault. (Growing deoptimizes canon.)
    let tab = 1024;
    while (tab < names / 2) tab *= 2;
    this.nameTab = new Int32Array(tab);
    this.nameRep = new Int32Array(names + 1);
    this.nameHash = new Int32Array(names + 1);
    this.typeCounts = new Int32Array(names + 1);
    this.identCounts = new Int32Array(names + 1);
    // Linear budgets: libbpf's walk is linear for sane BTF (vmlinux: ~3 steps and ~0.5 output bytes per
    // type word), exponential for some malformed graphs.
    const size = this.w.length + (this.strs.length >> 2);
    this.maxWork = 64 * size + (1 << 20);
    this.maxOut = 64 * size + (1 << 24);
  }

  /**
   * btf_dump__dump_type: the C definitions of type `id` and of every type it needs that was not dumped
   * yet. Returns the text (empty when everything was already emitted, or for kinds without a definition).
   * Throws ParseError on an unsatisfiable type cycle (with the text emitted so far in `partialOutput`).
   */
  dumpType(id: number): string {
    this.dumpOne(id);
    return this.take();
  }

  /**
   * btf_dump__emit_type_decl: the declaration of `id` named `fieldName` (no trailing ';'), e.g.
   * `int (*cb)(void *)` or `char name[16]`. Anonymous struct/union/enum types are inlined.
   */
  emitTypeDecl(id: number, opts: EmitTypeDeclOptions = {}): string {
    this.checkId(id);
    this.sp = 0;
    this.stripMods = opts.stripMods ?? false;
    this.jsName = opts.fieldName ?? '';
    try {
      this.emitDecl(id, -1 /* JS_NAME */, 0, opts.indentLevel ?? 0, 0);
    } finally {
      this.stripMods = false;
      this.jsName = '';
    }
    return this.take();
  }

  /** @internal Dumps types `from`..`to` (or the given ids) in order into one string (the bulk path of dumpC). */
  dumpMany(ids: readonly number[] | { from: number; to: number }): string {
    this.dumpManyInto(ids);
    return this.take();
  }

  /**
   * @internal The bulk path of dumpC/dumpCBytes: `header`, the types, `footer`, as UTF-8 bytes (a view
   * of the dumper's buffer, valid until its next call).
   */
  dumpManyBytes(ids: readonly number[] | { from: number; to: number }, header: string, footer: string): Uint8Array {
    // vmlinux.h is about 0.55× the BTF's type section in bytes: one allocation instead of doubling copies.
    if (!Array.isArray(ids)) this.reserve(this.w.length * 3);
    this.add(header);
    this.dumpManyInto(ids);
    this.add(footer);
    const b = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return b;
  }

  /**
   * @internal The streaming bulk path (dumpCTo): `header`, the types and `footer` handed to `write` in
   * chunks of about FLUSH_AT bytes, each valid only during the call (the buffer is reused). An error
   * thrown midway leaves what was written.
   */
  dumpManyTo(ids: readonly number[] | { from: number; to: number }, header: string, footer: string, write: (chunk: Uint8Array) => void): void {
    this.sink = write;
    this.flushed = 0;
    // Room for a type's definitions and all they pull in (vmlinux: 20 KiB at most) past FLUSH_AT.
    this.reserve(4 * FLUSH_AT);
    try {
      this.add(header);
      this.dumpManyInto(ids);
      this.add(footer);
      this.flush();
    } finally {
      this.sink = undefined;
      this.pos = 0;
    }
  }

  /** Hands the output so far to the sink and starts the buffer over (between types, see FLUSH_AT). */
  private flush(): void {
    if (this.pos === 0) return;
    this.sink!(this.buf.subarray(0, this.pos));
    this.flushed += this.pos;
    this.pos = 0;
  }

  private dumpManyInto(ids: readonly number[] | { from: number; to: number }): void {
    // With a sink, the buffer is handed over between types once past FLUSH_AT: the output helpers
    // never see it happen (a branch they first took after being optimized would deoptimize them).
    const flushAt = this.sink ? FLUSH_AT : Infinity;
    if (Array.isArray(ids)) {
      for (const id of ids) {
        this.dumpOne(id);
        if (this.pos >= flushAt) this.flush();
      }
    } else {
      const { from, to } = ids as { from: number; to: number };
      this.checkId(from);
      this.checkId(to);
      // An ordered type has nothing left to emit (dumpOne would find that out too, slower), nor has
      // one that declares nothing by itself (vmlinux: ~60k FUNCs): orderType only marks those ordered.
      const os = this.orderState;
      const kinds = this.kinds;
      for (let id = from; id <= to; id++) {
        if (os[id] === 2 /* ORDERED */) continue;
        const k = kinds[id];
        if (k === 12 /* FUNC */ || k === 14 /* VAR */ || k === 15 /* DATASEC */ || k === 17 /* DECL_TAG */ ||
          k === 1 /* INT */ || k === 16 /* FLOAT */) {
          os[id] = 2 /* ORDERED */;
          continue;
        }
        this.dumpOne(id);
        if (this.pos >= flushAt) this.flush();
      }
    }
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id > this.count) {
      throw new ParseError(`invalid BTF type id ${id} (type count ${this.count})`, { section: '.BTF' });
    }
  }

  private dumpOne(id: number): void {
    this.checkId(id);
    this.sp = 0; // a previous call may have thrown mid-declaration
    this.qn = 0;
    if (this.orderType(id, false, 0) < 0) {
      const e = new ParseError(`unsatisfiable type cycle, id:[${this.loopId}]`, { section: '.BTF' });
      (e as ParseError & { partialOutput?: string }).partialOutput = this.take();
      throw e;
    }
    const q = this.queue;
    for (let i = 0; i < this.qn; i++) this.emitType(q[i]!, 0, 0);
  }

  private fail(id: number, what: string): never {
    throw new ParseError(`cannot dump BTF type [${id}]: ${what}`, { section: '.BTF' });
  }

  /** Called (by a check inlined for speed) when a recursive step passes maxWork or MAX_DEPTH. */
  private overLimit(id: number, depth: number): never {
    if (depth > 1000 /* MAX_DEPTH */) this.fail(id, `type chain deeper than ${MAX_DEPTH} (a loop?)`);
    this.fail(id, `its type graph expands past ${this.maxWork} steps (exponential fan-out?)`);
  }

  // -----------------------------------------------------------------------------------------------
  // One pass over the types: kinds, type ids and name offsets checked, and libbpf's "referenced"
  // marks (a top-level anonymous enum, i.e. global constants, is never referenced, while an anonymous
  // enum embedded in a field is; only the first kind is emitted on its own). Returns how many names
  // (types and enumerators) there are at most.

  private scan(): number {
    const w = this.w;
    const off = this.off;
    const f = this.flags;
    const kinds = this.kinds;
    const n = this.count;
    const nStr = this.strs.length;
    let names = n;
    let longSize = 0;
    for (let id = 1; id <= n; id++) {
      const b = off[id]!;
      const info = w[b + 1]!;
      const kind = (info >>> 24) & 0x1f;
      kinds[id] = kind;
      const vlen = info & 0xffff;
      if (w[b]! >= nStr) this.badName(id, w[b]!);
      // The members, parameters and enumerators go through one small function: V8 optimizes it early,
      // while this loop's body runs as baseline code for a good part of the pass.
      switch (kind) {
        case 1 /* INT */:
          // libbpf's pointer size: that of the first INT named like `long` (8 if none).
          if (!longSize && (w[b + 2] === 4 || w[b + 2] === 8) && w[b] !== 0 && this.isLongName(w[b]!)) longSize = w[b + 2]!;
          break;
        case 7 /* FWD */: case 16 /* FLOAT */:
          break;
        case 6 /* ENUM */: case 19 /* ENUM64 */:
          names += vlen;
          this.scanElems(id, b + 3, vlen, kind === 6 /* ENUM */ ? 2 : 3, -1);
          break;
        case 9 /* VOLATILE */: case 10 /* CONST */: case 11 /* RESTRICT */: case 2 /* PTR */:
        case 8 /* TYPEDEF */: case 12 /* FUNC */: case 14 /* VAR */: case 17 /* DECL_TAG */: case 18 /* TYPE_TAG */: {
          const t = w[b + 2]!;
          if (t > n) this.badRef(id, t);
          f[t] |= 4 /* F_REFERENCED */;
          break;
        }
        case 3 /* ARRAY */:
          if (w[b + 4]! > n) this.badRef(id, w[b + 4]!);
          if (w[b + 3]! > n) this.badRef(id, w[b + 3]!);
          f[w[b + 4]!] |= 4 /* F_REFERENCED */;
          f[w[b + 3]!] |= 4 /* F_REFERENCED */;
          break;
        case 4 /* STRUCT */: case 5 /* UNION */:
          this.scanElems(id, b + 3, vlen, 3, 1);
          break;
        case 13 /* FUNC_PROTO */:
          // libbpf marks the parameters only, not the return type.
          if (w[b + 2]! > n) this.badRef(id, w[b + 2]!);
          this.scanElems(id, b + 3, vlen, 2, 1);
          break;
        case 15 /* DATASEC */:
          // (Its variables' "names" are type ids: checked as such.)
          for (let i = 0, q = b + 3; i < vlen; i++, q += 3) {
            if (w[q]! > n) this.badRef(id, w[q]!);
            f[w[q]!] |= 4 /* F_REFERENCED */;
          }
          break;
        default:
          throw new ParseError(`cannot dump BTF type [${id}] of kind ${kind}`, { section: '.BTF' });
      }
    }
    if (longSize) this.ptrSize = longSize;
    return names;
  }

  /** Checks `vlen` elements of `stride` words from `q`: the name (word 0) and the type at word `typeAt` (-1: none), marked referenced. */
  private scanElems(id: number, q: number, vlen: number, stride: number, typeAt: number): void {
    const w = this.w;
    const nStr = this.strs.length;
    const n = this.count;
    const f = this.flags;
    for (let i = 0; i < vlen; i++, q += stride) {
      if (w[q]! >= nStr) this.badName(id, w[q]!);
      if (typeAt < 0) continue;
      const t = w[q + typeAt]!;
      if (t > n) this.badRef(id, t);
      f[t] |= 4 /* F_REFERENCED */;
    }
  }

  private badRef(id: number, ref: number): never {
    throw new ParseError(`BTF type [${id}] references invalid type id ${ref}`, { section: '.BTF' });
  }

  private badName(id: number, off: number): never {
    throw new ParseError(`BTF type [${id}] has invalid name offset ${off}`, { section: '.BTF' });
  }

  private isLongName(off: number): boolean {
    if (this.strs[off] !== 108 && this.strs[off] !== 117 && this.strs[off] !== 105) return false; // l, u, i
    for (const name of LONG_NAMES) if (this.strIs(off, name)) return true;
    return false;
  }

  // -----------------------------------------------------------------------------------------------
  // Pass 1: ordering. Returns 1 (strong link), 0 (weak: a forward declaration suffices) or -1 (loop).
  //
  // libbpf marks only structs/unions while they are being ordered, so a loop through them ends with
  // -ELOOP, and one through pointers, arrays, modifiers, typedefs and prototypes only never ends (it
  // overflows the stack). Such a loop makes the walk enter one of its types a third time while it is
  // still being ordered (every later lap repeats the second): that is reported as the same error.

  private orderType(id: number, throughPtr: boolean, depth: number): number {
    const st = this.orderState[id]!;
    // Already ordered: "strong", so that a typedef seen again through a pointer is still emitted.
    if (st === 2 /* ORDERED */) return 1;
    if (++this.work > this.maxWork || depth > 1000 /* MAX_DEPTH */) this.overLimit(id, depth);
    const w = this.w;
    const b = this.off[id]!;
    const kind = this.kinds[id]!;
    if (st === 1 /* ORDERING */) {
      // A loop is fine through a pointer to a named struct/union: it gets a forward declaration.
      // (A range test: both compares run for structs, so a union's first loop does not deoptimize.)
      if (kind >= 4 /* STRUCT */ && kind <= 5 /* UNION */ && throughPtr && w[b] !== 0) return 0;
      this.loopId = id;
      return -1;
    }
    switch (kind) {
      // (One case for all the kinds that need nothing: a store only reached by kinds met late, e.g.
      // vmlinux's FUNCs, would have no type feedback when orderType is optimized and deoptimize it.)
      case 1 /* INT */: case 16 /* FLOAT */:
      case 12 /* FUNC */: case 14 /* VAR */: case 15 /* DATASEC */: case 17 /* DECL_TAG */:
        this.orderState[id] = 2 /* ORDERED */;
        return 0;
      case 2 /* PTR */: {
        if (++this.visits[id]! > 2) return this.loop(id);
        const res = this.orderType(w[b + 2]!, true, depth + 1);
        this.visits[id]--;
        this.orderState[id] = 2 /* ORDERED */;
        return res;
      }
      case 3 /* ARRAY */: {
        if (++this.visits[id]! > 2) return this.loop(id);
        const res = this.orderType(w[b + 3]!, false, depth + 1);
        this.visits[id]--;
        return res;
      }
      case 4 /* STRUCT */: case 5 /* UNION */: {
        // Only embedded (no pointer on the way) or anonymous (defined inline) composites are strong.
        const named = w[b] !== 0;
        if (throughPtr && named) return 0;
        this.orderState[id] = 1 /* ORDERING */;
        const vlen = w[b + 1]! & 0xffff;
        const os = this.orderState;
        for (let i = 0, m = b + 4; i < vlen; i++, m += 3) {
          // (The ORDERED test is orderType's own, saving most calls.)
          if (os[w[m]!] !== 2 /* ORDERED */ && this.orderType(w[m]!, false, depth + 1) < 0) return -1;
        }
        if (named) this.queue[this.qn++] = id;
        this.orderState[id] = 2 /* ORDERED */;
        return 1;
      }
      case 6 /* ENUM */: case 19 /* ENUM64 */: case 7 /* FWD */:
        // Named or top-level (unreferenced) enums are declarations of their own.
        if (w[b] !== 0 || !(this.flags[id]! & 4 /* F_REFERENCED */)) this.queue[this.qn++] = id;
        this.orderState[id] = 2 /* ORDERED */;
        return 1;
      case 8 /* TYPEDEF */: {
        if (++this.visits[id]! > 2) return this.loop(id);
        const strong = this.orderType(w[b + 2]!, throughPtr, depth + 1);
        this.visits[id]--;
        if (strong < 0) return strong;
        // Like a struct: behind a pointer and only weakly needed, it can wait.
        if (throughPtr && !strong) return 0;
        this.queue[this.qn++] = id;
        this.orderState[id] = 2 /* ORDERED */;
        return 1;
      }
      case 9 /* VOLATILE */: case 10 /* CONST */: case 11 /* RESTRICT */: case 18 /* TYPE_TAG */: {
        if (++this.visits[id]! > 2) return this.loop(id);
        const res = this.orderType(w[b + 2]!, throughPtr, depth + 1);
        this.visits[id]--;
        return res;
      }
      case 13 /* FUNC_PROTO */: {
        if (++this.visits[id]! > 2) return this.loop(id);
        let res = this.orderType(w[b + 2]!, throughPtr, depth + 1);
        if (res < 0) return res;
        let strong = res > 0;
        const vlen = w[b + 1]! & 0xffff;
        for (let i = 0, p = b + 4; i < vlen; i++, p += 2) {
          res = this.orderType(w[p]!, throughPtr, depth + 1);
          if (res < 0) return res;
          if (res > 0) strong = true;
        }
        this.visits[id]--;
        return strong ? 1 : 0;
      }
      default:
        this.loopId = id;
        return -1;
    }
  }

  private loop(id: number): number {
    this.loopId = id;
    return -1;
  }

  // -----------------------------------------------------------------------------------------------
  // Pass 2: emission. `contId` is the named struct/union whose definition is being printed (0 at top
  // level): referring to it from inside needs no forward declaration.

  private emitType(id: number, contId: number, depth: number): void {
    const es = this.emitState[id]!;
    if (es === 2 /* EMITTED */) return;
    if (++this.work > this.maxWork || depth > 1000 /* MAX_DEPTH */) this.overLimit(id, depth);
    const w = this.w;
    const b = this.off[id]!;
    const kind = this.kinds[id]!;
    const topLevel = contId === 0;

    if (es === 1 /* EMITTING */) {
      // (Its own method: the kinds met here first come after emitType is optimized, and a branch
      // without type feedback in emitType would deoptimize it.)
      this.emitReentered(id, kind, contId, depth);
      return;
    }

    switch (kind) {
      case 1 /* INT */: {
        // libbpf resolves (and so counts) every INT's name here, which can shift `___N` numbering.
        if (w[b] !== 0 && this.resolve(id, this.typeCounts) === 1) this.emitMissingBaseType(w[b]!);
        this.emitState[id] = 2 /* EMITTED */;
        break;
      }
      case 6 /* ENUM */: case 19 /* ENUM64 */:
        if (topLevel) {
          this.emitEnumDef(id, 0);
          this.add(';\n\n');
        }
        this.emitState[id] = 2 /* EMITTED */;
        break;
      case 2 /* PTR */: case 9 /* VOLATILE */: case 10 /* CONST */: case 11 /* RESTRICT */: case 18 /* TYPE_TAG */:
        this.emitType(w[b + 2]!, contId, depth + 1);
        break;
      case 3 /* ARRAY */:
        this.emitType(w[b + 3]!, contId, depth + 1);
        break;
      case 7 /* FWD */:
        this.add(w[b + 1]! >>> 31 ? 'union' : 'struct');
        this.add(' ');
        this.typeName(id);
        this.add(';\n\n');
        this.emitState[id] = 2 /* EMITTED */;
        break;
      case 8 /* TYPEDEF */:
        this.emitState[id] = 1 /* EMITTING */;
        this.emitType(w[b + 2]!, id, depth + 1);
        // A typedef is its own forward declaration: print it unless it was printed early.
        if (!(this.flags[id]! & 1 /* F_FWD_EMITTED */) && !this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0, depth);
          this.add(';\n\n');
        }
        this.emitState[id] = 2 /* EMITTED */;
        break;
      case 4 /* STRUCT */: case 5 /* UNION */: {
        this.emitState[id] = 1 /* EMITTING */;
        const named = w[b] !== 0;
        // A full definition (top level, or anonymous and so inline) prints every member: their types
        // need their own definitions or forward declarations first.
        if (topLevel || !named) {
          const newCont = named ? id : contId;
          const vlen = w[b + 1]! & 0xffff;
          const es = this.emitState;
          for (let i = 0, m = b + 4; i < vlen; i++, m += 3) if (es[w[m]!] !== 2 /* EMITTED */) this.emitType(w[m]!, newCont, depth + 1);
        } else if (!(this.flags[id]! & 1 /* F_FWD_EMITTED */) && id !== contId) {
          this.emitStructFwd(id);
          this.add(';\n\n');
          this.flags[id] |= 1 /* F_FWD_EMITTED */;
        }
        if (topLevel) {
          this.emitStructDef(id, 0, depth);
          this.add(';\n\n');
          this.emitState[id] = 2 /* EMITTED */;
        } else {
          this.emitState[id] = 0 /* NOT_EMITTED */;
        }
        break;
      }
      case 13 /* FUNC_PROTO */: {
        this.emitType(w[b + 2]!, contId, depth + 1);
        const vlen = w[b + 1]! & 0xffff;
        for (let i = 0, p = b + 4; i < vlen; i++, p += 2) this.emitType(w[p]!, contId, depth + 1);
        break;
      }
      default:
        break;
    }
  }

  /** emitType of a type whose emission is under way (a loop): a forward declaration if one can serve. */
  private emitReentered(id: number, kind: number, contId: number, depth: number): void {
    if (this.flags[id]! & 1 /* F_FWD_EMITTED */) return;
    switch (kind) {
      case 4 /* STRUCT */: case 5 /* UNION */:
        if (id === contId) return;
        if (this.w[this.off[id]!] === 0) {
          this.warnings.push({ id, message: `anonymous struct/union loop, id:[${id}]` });
          return;
        }
        this.emitStructFwd(id);
        this.add(';\n\n');
        this.flags[id] |= 1 /* F_FWD_EMITTED */;
        break;
      case 8 /* TYPEDEF */:
        // The typedef is printed early; it can only serve references through pointers.
        if (!this.isBlacklisted(id)) {
          this.emitTypedefDef(id, 0, depth);
          this.add(';\n\n');
        }
        this.flags[id] |= 1 /* F_FWD_EMITTED */;
        break;
      default:
        break;
    }
  }

  private isBlacklisted(id: number): boolean {
    // A compiler built-in: redefining it breaks compilation with another compiler than the kernel's.
    const o = this.w[this.off[id]!]!;
    return o !== 0 && this.strIs(o, '__builtin_va_list');
  }

  private emitMissingBaseType(nameOff: number): void {
    // Cheap reject first: every INT goes through here.
    const s = this.strs;
    if (s[nameOff] !== 95 || s[nameOff + 2] !== 80) return; // "__P"
    for (const [name, alias] of MISSING_BASE_TYPES) {
      if (!this.strIs(nameOff, name)) continue;
      this.add(`typedef ${alias} ${name};\n\n`);
      return;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Definitions

  private emitStructFwd(id: number): void {
    const isStruct = this.kinds[id] === 4 /* STRUCT */;
    const named = this.w[this.off[id]!] !== 0;
    // The keyword and the space before the name in one piece (a call per piece, not inlined).
    this.add(named ? (isStruct ? 'struct ' : 'union ') : (isStruct ? 'struct' : 'union'));
    if (named) this.typeName(id);
  }

  private emitStructDef(id: number, lvl: number, depth: number): void {
    const w = this.w;
    const b = this.off[id]!;
    const isStruct = this.kinds[id] === 4 /* STRUCT */;
    const kflag = w[b + 1]! >>> 31 === 1;
    const size = w[b + 2]!;
    const vlen = w[b + 1]! & 0xffff;
    const align = this.alignOf(id, depth);
    const packed = isStruct ? this.isStructPacked(id, depth) : false;
    const named = w[b] !== 0;
    this.add(named ? (isStruct ? 'struct ' : 'union ') : (isStruct ? 'struct' : 'union'));
    if (named) this.typeName(id);
    this.add(' {');
    let off = 0;
    let prevBitfield = false;
    const inner = lvl + 1;
    for (let i = 0, m = b + 3; i < vlen; i++, m += 3) {
      const mName = w[m]!;
      const mType = w[m + 1]!;
      const rawOff = w[m + 2]!;
      let mSz = kflag ? rawOff >>> 24 : 0;
      const mOff = kflag ? rawOff & 0xffffff : rawOff;
      const am = this.alignMemo[mType]!;
      const mAlign = packed ? 1 : am ? am - 1 : this.alignOf(mType, depth);
      const inBitfield = prevBitfield && mSz !== 0;
      if (off < mOff) this.emitBitPadding(id, off, mOff, mAlign, inBitfield, inner);
      this.newline(inner);
      this.emitDecl(mType, mName, 0, inner, depth + 1);
      if (mSz) {
        this.add(': ');
        this.num(mSz);
        off = mOff + mSz;
        prevBitfield = true;
      } else {
        mSz = this.resolveSize(mType);
        if (mSz < 0) mSz = 0;
        off = mOff + mSz * 8;
        prevBitfield = false;
      }
      this.byte(59); // ';'
    }
    if (isStruct && off < size * 8) this.emitBitPadding(id, off, size * 8, align, false, inner);
    // `struct empty {}` stays on one line.
    if (vlen || size) this.newline(lvl);
    this.byte(125); // '}'
    if (packed) this.add(' __attribute__((packed))');
  }

  private isStructPacked(id: number, depth: number): boolean {
    const w = this.w;
    const b = this.off[id]!;
    const kflag = w[b + 1]! >>> 31 === 1;
    const vlen = w[b + 1]! & 0xffff;
    let maxAlign = 1;
    for (let i = 0, m = b + 3; i < vlen; i++, m += 3) {
      const am = this.alignMemo[w[m + 1]!]!;
      const align = am ? am - 1 : this.alignOf(w[m + 1]!, depth);
      const rawOff = w[m + 2]!;
      const bitSz = kflag ? rawOff >>> 24 : 0;
      const mOff = kflag ? rawOff & 0xffffff : rawOff;
      // Every non-bitfield member of a naturally laid out struct sits at a multiple of its alignment.
      if (align && bitSz === 0 && mOff % (8 * align) !== 0) return true;
      if (align > maxAlign) maxAlign = align;
    }
    // And its size is a multiple of its alignment.
    return w[b + 2]! % maxAlign !== 0;
  }

  /**
   * Fills the gap [curOff, nextOff) bits with anonymous bitfields, relying on natural alignment where
   * the compiler would pad anyway: the largest of long/int/short/char that aligns within the gap,
   * `<type>: 0` where natural alignment alone would land elsewhere, explicit bit counts in bitfield runs.
   */
  private emitBitPadding(id: number, curOff: number, nextOff: number, nextAlign: number, inBitfield: boolean, lvl: number): void {
    const padBits = this.padBits;
    // libbpf prints a field per `long` of the gap, whatever its size: a bogus offset would print gigabytes.
    if ((nextOff - curOff) / padBits[0]! > MAX_PAD_FIELDS) {
      this.fail(id, `a member or the size leaves a gap of ${nextOff - curOff} bits (after bit ${curOff}) to pad`);
    }
    // The largest type whose alignment lands within the gap (else char).
    let k = 0;
    let newOff = roundUp(curOff, padBits[0]!);
    while (newOff > nextOff && k < 3) newOff = roundUp(curOff, padBits[++k]!);
    const bits = padBits[k]!;
    if (newOff > curOff && newOff <= nextOff) {
      if (inBitfield ||
        (newOff === nextOff && roundUp(curOff, nextAlign * 8) !== newOff) ||
        (newOff !== nextOff && nextOff - newOff <= newOff - curOff)) {
        this.pad(lvl, PAD_NAMES[k]!, inBitfield ? newOff - curOff : 0);
      }
      curOff = newOff;
    }
    while (curOff !== nextOff) {
      // Whole fields of that type, then the remainder (it ends the gap) as the smallest type that holds
      // it (only aesthetics). Both choices are worked out every time and one is picked, rather than
      // branching to a path that vmlinux first takes after this code is optimized (a deoptimization).
      const gap = nextOff - curOff;
      const whole = gap >= bits;
      const t = whole ? k : SMALLEST_PAD[gap < 64 ? gap : 64]!;
      const n = whole ? bits : gap;
      this.pad(lvl, PAD_NAMES[t]!, n);
      curOff += n;
    }
  }

  private pad(lvl: number, type: string, bits: number): void {
    this.newline(lvl);
    this.add(type);
    this.add(': ');
    this.num(bits);
    this.byte(59);
  }

  private emitEnumDef(id: number, lvl: number): void {
    const w = this.w;
    const b = this.off[id]!;
    this.add('enum');
    if (w[b] !== 0) {
      this.add(' ');
      this.typeName(id);
    }
    const vlen = w[b + 1]! & 0xffff;
    if (!vlen) return;
    this.add(' {');
    const signed = w[b + 1]! >>> 31 === 1;
    const is64 = this.kinds[id] === 19 /* ENUM64 */;
    const step = is64 ? 3 : 2;
    const counts = this.identCounts;
    for (let i = 0, e = b + 3; i < vlen; i++, e += step) {
      const nameOff = w[e]!;
      // Enumerators share the typedef namespace.
      const dups = ++counts[this.canon(nameOff)]!;
      this.newline(lvl + 1);
      this.nameAt(nameOff);
      this.dupSuffix(dups);
      this.add(' = ');
      this.enumValue(e, signed, is64);
      this.byte(44); // ','
    }
    this.newline(lvl);
    this.byte(125);
    // libbpf ≥1.1.0 adds mode(byte)/mode(word) for 1- and 8-byte enums; the Linux 6.1-stable libbpf
    // that Debian's bpftool 7.1 is built from does not (verified against its vmlinux.h).
    if (this.enumModes) {
      const size = w[b + 2]!;
      if (size === 1) {
        this.add(' __attribute__((mode(byte)))');
      } else if (size === 8 && this.ptrSize === 8) {
        // An 8-byte enum needs mode(word) unless a value already forces 64 bits on the compiler.
        let word = true;
        if (is64) {
          for (let i = 0; i < vlen; i++) {
            if (w[b + 3 + i * 3 + 2] !== 0) {
              word = false;
              break;
            }
          }
        }
        if (word) this.add(' __attribute__((mode(word)))');
      }
    }
  }

  /**
   * The value of the enumerator at word `e`. (Apart from emitEnumDef: the 64-bit and the signed
   * values come late in vmlinux, and a first use in emitEnumDef's optimized code would deoptimize it.)
   */
  private enumValue(e: number, signed: boolean, is64: boolean): void {
    const w = this.w;
    if (!is64) {
      const v = w[e + 1]!;
      this.num(signed ? v | 0 : v);
      return;
    }
    const u = (BigInt(w[e + 2]!) << 32n) | BigInt(w[e + 1]!);
    this.add(signed ? `${BigInt.asIntN(64, u)}LL` : `${u}ULL`);
  }

  private emitTypedefDef(id: number, lvl: number, depth: number): void {
    const b = this.off[id]!;
    const nameOff = this.w[b]!;
    const dups = nameOff === 0 ? 0 : this.resolve(id, this.identCounts);
    const target = this.w[b + 2]!;
    // Old GCC emits __gnuc_va_list as a typedef of void, which does not compile.
    if (target === 0 && dups === 1 && this.strIs(nameOff, '__gnuc_va_list')) {
      this.add('typedef __builtin_va_list __gnuc_va_list');
      return;
    }
    this.add('typedef ');
    this.emitDecl(target, nameOff, dups, lvl, depth + 1);
  }

  // -----------------------------------------------------------------------------------------------
  // Declarations: the chain from the declared name to its base type is pushed on a stack and printed
  // from the base type back out, since C writes pointer qualifiers right of '*' and the rest left of
  // the base type, and arrays and function pointers wrap the declarator.
  // The declared name is a string offset (JS_NAME: `jsName`) and its `___N` number (0 or 1: none).

  private emitDecl(id: number, fname: number, fdup: number, lvl: number, depth: number): void {
    // Most members and parameters are `T name` or `T *name` with T void or a named type: the same
    // bytes as the general path below prints for them, without the stack.
    if (!this.stripMods) {
      if (this.kinds[id] === 2 /* PTR */) {
        if (this.emitNamedBase(this.w[this.off[id]! + 2]!)) {
          this.add(' *');
          this.emitName(fname, fdup, true);
          return;
        }
      } else if (this.emitNamedBase(id)) {
        this.emitName(fname, fdup, false);
        return;
      }
    }
    const w = this.w;
    const off = this.off;
    const kinds = this.kinds;
    const strip = this.stripMods;
    // This declaration's frame on the shared stack (nested declarations push above it and pop back).
    const start = this.sp;
    for (;;) {
      const kind = kinds[id]!;
      if (!(strip && (kind === 9 /* VOLATILE */ || kind === 10 /* CONST */ || kind === 11 /* RESTRICT */ || kind === 18 /* TYPE_TAG */))) {
        if (this.sp === this.stack.length) this.growStack(id, start);
        this.stack[this.sp++] = id;
      }
      if (id === 0) break;
      switch (kind) {
        case 2 /* PTR */: case 9 /* VOLATILE */: case 10 /* CONST */: case 11 /* RESTRICT */: case 18 /* TYPE_TAG */: case 13 /* FUNC_PROTO */:
          id = w[off[id]! + 2]!;
          continue;
        case 3 /* ARRAY */:
          id = w[off[id]! + 3]!;
          continue;
        case 1 /* INT */: case 6 /* ENUM */: case 19 /* ENUM64 */: case 7 /* FWD */: case 4 /* STRUCT */: case 5 /* UNION */: case 8 /* TYPEDEF */: case 16 /* FLOAT */:
          break;
        default:
          this.warnings.push({ id, message: `unexpected type in decl chain, kind:${kind}, id:[${id}]` });
          break;
      }
      break;
    }
    this.emitChain(start, fname, fdup, lvl, depth);
    this.sp = start;
  }

  /** Prints `id` if it is void or a named type that prints as just its name; false (nothing printed) if not. */
  private emitNamedBase(id: number): boolean {
    if (id === 0) {
      this.add('void');
      return true;
    }
    const b = this.off[id]!;
    const w = this.w;
    switch (this.kinds[id]) {
      case 1 /* INT */: case 16 /* FLOAT */:
        this.nameAt(w[b]!);
        return true;
      case 8 /* TYPEDEF */:
        this.identName(id);
        return true;
      case 4 /* STRUCT */: case 5 /* UNION */:
        if (w[b] === 0) return false;
        this.emitStructFwd(id);
        return true;
      case 6 /* ENUM */: case 19 /* ENUM64 */:
        if (w[b] === 0) return false;
        this.add('enum ');
        this.typeName(id);
        return true;
      case 7 /* FWD */:
        this.add(w[b + 1]! >>> 31 ? 'union ' : 'struct ');
        this.typeName(id);
        return true;
      default:
        return false;
    }
  }

  private growStack(id: number, start: number): void {
    // An acyclic chain holds each type at most once.
    if (this.sp - start > this.count + 1) this.fail(id, 'its declaration chain loops');
    const s = new Int32Array(this.stack.length * 2);
    s.set(this.stack);
    this.stack = s;
  }

  private emitMods(start: number): void {
    const kinds = this.kinds;
    while (this.sp > start) {
      const k = kinds[this.stack[this.sp - 1]!];
      if (k === 9 /* VOLATILE */) this.add('volatile ');
      else if (k === 10 /* CONST */) this.add('const ');
      else if (k === 11 /* RESTRICT */) this.add('restrict ');
      else return;
      this.sp--;
    }
  }

  private dropMods(start: number): void {
    const kinds = this.kinds;
    while (this.sp > start) {
      const k = kinds[this.stack[this.sp - 1]!];
      if (k !== 9 /* VOLATILE */ && k !== 10 /* CONST */ && k !== 11 /* RESTRICT */ && k !== 18 /* TYPE_TAG */) return;
      this.sp--;
    }
  }

  private nameEmpty(name: number, dup: number): boolean {
    if (name === -1 /* JS_NAME */) return this.jsName === '';
    return (name === 0 || this.strs[name] === 0) && dup <= 1;
  }

  private emitName(name: number, dup: number, lastWasPtr: boolean): void {
    if (!lastWasPtr && !this.nameEmpty(name, dup)) this.byte(32);
    if (name === -1 /* JS_NAME */) this.add(this.jsName);
    else {
      this.nameAt(name);
      this.dupSuffix(dup);
    }
  }

  private emitChain(start: number, fname: number, fdup: number, lvl: number, depth: number): void {
    if (depth > 1000 /* MAX_DEPTH */) this.fail(this.stack[this.sp - 1]!, `declaration nested deeper than ${MAX_DEPTH}`);
    const w = this.w;
    const off = this.off;
    const kinds = this.kinds;
    // '*' right after another '*' gets no space: `int ***`. True at the start for ptr → func_proto,
    // whose nested chain prints `(*name)`.
    let lastWasPtr = true;
    while (this.sp > start) {
      const id = this.stack[--this.sp]!;
      if (id === 0) {
        this.emitMods(start);
        this.add('void');
        lastWasPtr = false;
        continue;
      }
      const kind = kinds[id]!;
      const b = off[id]!;
      switch (kind) {
        case 1 /* INT */: case 16 /* FLOAT */: case 4 /* STRUCT */: case 5 /* UNION */:
        case 6 /* ENUM */: case 19 /* ENUM64 */: case 7 /* FWD */: case 8 /* TYPEDEF */:
          // The base type: its name, or an anonymous definition inline. (Shared with emitDecl's
          // shortcut, so that kinds first met here late, e.g. a named enum behind a const, find
          // the calls already warm and don't deoptimize emitChain.)
          this.emitMods(start);
          if (!this.emitNamedBase(id)) this.emitAnonDef(id, lvl, depth + 1);
          break;
        case 2 /* PTR */:
          this.add(lastWasPtr ? '*' : ' *');
          break;
        case 9 /* VOLATILE */: case 10 /* CONST */: case 11 /* RESTRICT */:
          // One path for the three (a table, not three cases): `restrict` is rare, and a case first
          // reached after emitChain was optimized would deoptimize it.
          this.add(QUALIFIERS[kind - 9 /* VOLATILE */]!);
          break;
        case 18 /* TYPE_TAG */:
          this.emitMods(start);
          this.add(' __attribute__((btf_type_tag("');
          this.nameAt(w[b]!);
          this.add('")))');
          break;
        case 3 /* ARRAY */:
          this.emitArray(w[b + 5]!, start, fname, fdup, lastWasPtr, lvl, depth);
          return;
        case 13 /* FUNC_PROTO */: {
          // GCC marks noreturn function pointers volatile; dropped like array qualifiers.
          this.dropMods(start);
          if (this.sp > start) {
            this.add(' (');
            this.emitChain(start, fname, fdup, lvl, depth + 1);
            this.byte(41);
          } else {
            this.emitName(fname, fdup, lastWasPtr);
          }
          this.byte(40);
          const vlen = w[b + 1]! & 0xffff;
          // No parameters (kernel BTF: vlen 0; clang: one void parameter) print as `(void)`: Debian's
          // bpftool 7.1 is built from Linux 6.1-stable, whose libbpf has this fix (libbpf 1.1.0 printed `()`).
          if (vlen === 0 || (vlen === 1 && w[b + 4] === 0)) {
            this.add('void)');
            return;
          }
          this.emitParams(id, vlen, lvl, depth);
          this.byte(41);
          return;
        }
        default:
          this.warnings.push({ id, message: `unexpected type in decl chain, kind:${kind}, id:[${id}]` });
          return;
      }
      lastWasPtr = kind === 2 /* PTR */;
    }
    this.emitName(fname, fdup, lastWasPtr);
  }

  /**
   * An array in a declaration chain: `name[n]`, or the rest of the chain wrapped, `(*name)[n]`.
   * (Apart from emitChain: vmlinux's first arrays of pointers come after emitChain is optimized.)
   */
  private emitArray(nelems: number, start: number, fname: number, fdup: number, lastWasPtr: boolean, lvl: number, depth: number): void {
    // GCC adds the element's const/volatile to the array type too; they mean nothing there.
    this.dropMods(start);
    if (this.sp === start) {
      this.emitName(fname, fdup, lastWasPtr);
    } else {
      const multidim = this.kinds[this.stack[this.sp - 1]!] === 3 /* ARRAY */;
      if (!lastWasPtr && !this.nameEmpty(fname, fdup)) this.byte(32);
      if (!multidim) this.byte(40); // '('
      this.emitChain(start, fname, fdup, lvl, depth + 1);
      if (!multidim) this.byte(41); // ')'
    }
    this.byte(91); // '['
    this.num(nelems);
    this.byte(93); // ']'
  }

  /** An anonymous struct, union or enum, defined where it is used. */
  private emitAnonDef(id: number, lvl: number, depth: number): void {
    const kind = this.kinds[id];
    if (kind === 4 /* STRUCT */ || kind === 5 /* UNION */) this.emitStructDef(id, lvl, depth);
    else this.emitEnumDef(id, lvl);
  }

  /**
   * A prototype's parameters, comma-separated; a trailing void one means varargs. (The caller printed
   * `(void)` for a lone void parameter, so varargs follow at least one parameter.)
   */
  private emitParams(id: number, vlen: number, lvl: number, depth: number): void {
    const w = this.w;
    const first = this.off[id]! + 3;
    // Decided up front, not when the loop gets there: vmlinux's first varargs come late.
    const varargs = w[first + 2 * (vlen - 1) + 1] === 0;
    const n = vlen - (varargs ? 1 : 0);
    for (let i = 0, p = first; i < n; i++, p += 2) {
      if (i > 0) this.add(', ');
      if (++this.work > this.maxWork) this.overLimit(id, depth);
      this.emitDecl(w[p + 1]!, w[p]!, 0, lvl, depth + 1);
    }
    this.add(varargs ? ', ...' : '');
  }

  // -----------------------------------------------------------------------------------------------
  // Names

  /** The dense index of the name at string offset `off`: equal bytes, equal index (FNV-1a hash). */
  private canon(off: number): number {
    const s = this.strs;
    const rep = this.nameRep;
    // Offset 0 is the empty name whatever the section holds there (libbpf's btf__str_by_offset(0)).
    if (off === 0) off = s.length - 1;
    // Hashed a word at a time (see nameAt), the bytes from the NUL on masked out.
    const sv = this.strsView;
    const lastWord = s.length - 4;
    let h = 0x811c9dc5 | 0;
    for (let i = off; ; i += 4) {
      const v = i <= lastWord ? sv.getInt32(i, true) : this.tailWord(i);
      const zeros = ((v - 0x01010101) | 0) & ~v & 0x80808080;
      if (zeros !== 0) {
        const lowest = zeros & ((~zeros + 1) | 0);
        h = Math.imul(h ^ (v & ((lowest >>> 7) - 1)), 0x01000193);
        break;
      }
      h = Math.imul(h ^ v, 0x01000193);
    }
    // The slot is the hash's low bits, which a multiply fills from the operands' low bits only: the
    // upper bytes of each word must be mixed down (murmur3's finalizer), or names that differ there
    // all land in one probe run.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const tab = this.nameTab;
    const mask = tab.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const e = tab[slot]!;
      if (e === 0) {
        const idx = ++this.nNames;
        rep[idx] = off;
        this.nameHash[idx] = h;
        tab[slot] = idx;
        // At most half full, so that probe runs stay short.
        if (idx * 2 > tab.length) this.growNames();
        return idx;
      }
      const r = rep[e]!;
      if (r === off || this.sameName(r, off)) return e;
    }
  }

  private growNames(): void {
    const tab = new Int32Array(this.nameTab.length * 2);
    const mask = tab.length - 1;
    const hashes = this.nameHash;
    for (let idx = 1; idx <= this.nNames; idx++) {
      let slot = hashes[idx]! & mask;
      while (tab[slot] !== 0) slot = (slot + 1) & mask;
      tab[slot] = idx;
    }
    this.nameTab = tab;
  }

  /** The last 1-3 bytes of the string section as a word, zeros past the end (the section ends with a NUL). */
  private tailWord(i: number): number {
    const s = this.strs;
    let v = 0;
    for (let k = 0; k < 4 && i + k < s.length; k++) v |= s[i + k]! << (8 * k);
    return v;
  }

  /** Whether the names at string offsets `a` and `b` are the same bytes. */
  private sameName(a: number, b: number): boolean {
    const s = this.strs;
    let i = 0;
    while (s[a + i] === s[b + i] && s[b + i] !== 0) i++;
    return s[a + i] === s[b + i];
  }

  /** libbpf's btf_dump_resolve_name for a named type: its `___N` number, fixed the first time. */
  private resolve(id: number, counts: Int32Array): number {
    let d = this.dups[id]!;
    if (d !== 0) return d;
    const kind = this.kinds[id];
    const b = this.off[id]!;
    // Forward declarations and empty (forward) enums may repeat a name freely.
    if (kind === 7 /* FWD */ || (kind === 6 /* ENUM */ && (this.w[b + 1]! & 0xffff) === 0)) d = 1;
    else d = ++counts[this.canon(this.w[b]!)]!;
    this.dups[id] = d;
    return d;
  }

  /** Writes the struct/union/enum/fwd name of `id`, deduplicated. */
  private typeName(id: number): void {
    const o = this.w[this.off[id]!]!;
    if (o === 0) return;
    const d = this.resolve(id, this.typeCounts);
    this.nameAt(o);
    this.dupSuffix(d);
  }

  /** Writes the typedef name of `id`, deduplicated. */
  private identName(id: number): void {
    const o = this.w[this.off[id]!]!;
    if (o === 0) return;
    const d = this.resolve(id, this.identCounts);
    this.nameAt(o);
    this.dupSuffix(d);
  }

  /**
   * The `___N` of a name printed the N-th time (N > 1). Called for every name, duplicate or not: the
   * first duplicates come late, and a call made only for them would deoptimize the callers then.
   */
  private dupSuffix(d: number): void {
    if (d <= 1) return;
    this.add('___');
    this.num(d);
  }

  /** Whether the string at `off` is `s` (ASCII). */
  private strIs(off: number, s: string): boolean {
    const b = this.strs;
    const n = s.length;
    if (off + n >= b.length) return false;
    for (let i = 0; i < n; i++) if (b[off + i] !== s.charCodeAt(i)) return false;
    return b[off + n] === 0;
  }

  // -----------------------------------------------------------------------------------------------
  // Output

  private grow(n: number): void {
    if (this.flushed + this.pos + n > this.maxOut) {
      throw new ParseError(`cannot dump BTF: the C output outgrows ${this.maxOut} bytes (exponential type graph?)`, { section: '.BTF' });
    }
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const b = new Uint8Array(cap);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
    this.bufView = new DataView(b.buffer);
  }

  private reserve(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private add(s: string): void {
    const n = s.length;
    if (this.pos + n * 3 > this.buf.length) this.grow(n * 3);
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

  /** A newline and the indentation of level `lvl`: tabs, at most 13 like libbpf. */
  private newline(lvl: number): void {
    const n = lvl < 13 ? lvl : 13;
    if (this.pos + n + 1 > this.buf.length) this.grow(n + 1);
    const buf = this.buf;
    let pos = this.pos;
    buf[pos++] = 10;
    for (let i = 0; i < n; i++) buf[pos++] = 9;
    this.pos = pos;
  }

  private byte(c: number): void {
    if (this.pos === this.buf.length) this.grow(1);
    this.buf[this.pos++] = c;
  }

  /** Appends an integer (|n| < 2^53) in decimal. */
  private num(n: number): void {
    if (this.pos + 24 > this.buf.length) this.grow(24);
    const buf = this.buf;
    let pos = this.pos;
    if (n < 0) {
      buf[pos++] = 45;
      n = -n;
    }
    if (n < 10) {
      buf[pos] = 48 + n;
      this.pos = pos + 1;
      return;
    }
    let end = pos;
    for (let t = n; t >= 1; t = Math.floor(t / 10)) end++;
    this.pos = end;
    while (end > pos) {
      buf[--end] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
  }

  /**
   * Appends the NUL-terminated name at `off` of the string section (nothing for offset 0). Names are
   * most of the output: they go 4 bytes at a time, the word's first NUL found with the zero-byte bit
   * trick (a byte loop costs ~40 instructions a byte in V8). The bytes written past the name's end
   * lie beyond `pos`, where the next write lands.
   */
  private nameAt(off: number): void {
    if (off === 0) return;
    const sv = this.strsView;
    const lastWord = this.strs.length - 4;
    let bv = this.bufView;
    let room = this.buf.length - 4;
    let pos = this.pos;
    for (;;) {
      if (off > lastWord) {
        // The section's last bytes: no whole word to read (the section ends with a NUL).
        this.pos = pos;
        this.nameTail(off);
        return;
      }
      if (pos > room) {
        this.pos = pos;
        this.grow(4);
        pos = this.pos;
        bv = this.bufView;
        room = this.buf.length - 4;
      }
      const v = sv.getInt32(off, true);
      bv.setInt32(pos, v, true);
      // High bit of each byte that is 0 (and possibly of bytes after it, never before it).
      const zeros = ((v - 0x01010101) | 0) & ~v & 0x80808080;
      if (zeros !== 0) {
        const lowest = zeros & ((~zeros + 1) | 0);
        this.pos = pos + ((31 - Math.clz32(lowest)) >> 3);
        return;
      }
      off += 4;
      pos += 4;
    }
  }

  private nameTail(off: number): void {
    const s = this.strs;
    for (; off < s.length && s[off] !== 0; off++) this.byte(s[off]!);
  }

  private take(): string {
    const s = decoder.decode(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return s;
  }

  // -----------------------------------------------------------------------------------------------
  // libbpf's btf__align_of and btf__resolve_size, with their error values (0 and -1) instead of throws:
  // the dump goes on through types it cannot size, as libbpf's does.

  private alignOf(id: number, depth: number): number {
    const memo = this.alignMemo[id]!;
    if (memo) return memo - 1;
    if (depth > 1000 /* MAX_DEPTH */) this.fail(id, `type chain deeper than ${MAX_DEPTH}`);
    this.alignMemo[id] = 1; // a loop resolves to 0 (error) instead of recursing forever
    const w = this.w;
    const b = this.off[id]!;
    let align: number;
    switch (this.kinds[id]) {
      case 1 /* INT */: case 6 /* ENUM */: case 19 /* ENUM64 */: case 16 /* FLOAT */:
        align = Math.min(this.ptrSize, w[b + 2]!);
        break;
      case 2 /* PTR */:
        align = this.ptrSize;
        break;
      case 8 /* TYPEDEF */: case 9 /* VOLATILE */: case 10 /* CONST */: case 11 /* RESTRICT */: case 18 /* TYPE_TAG */:
        align = this.alignOf(w[b + 2]!, depth + 1);
        break;
      case 3 /* ARRAY */:
        align = this.alignOf(w[b + 3]!, depth + 1);
        break;
      case 4 /* STRUCT */: case 5 /* UNION */: {
        const kflag = w[b + 1]! >>> 31 === 1;
        const vlen = w[b + 1]! & 0xffff;
        let max = 1;
        align = -1;
        for (let i = 0, m = b + 3; i < vlen; i++, m += 3) {
          const am = this.alignMemo[w[m + 1]!]!;
          const a = am ? am - 1 : this.alignOf(w[m + 1]!, depth + 1);
          if (a <= 0) {
            align = 0;
            break;
          }
          if (a > max) max = a;
          const rawOff = w[m + 2]!;
          const bitSz = kflag ? rawOff >>> 24 : 0;
          const mOff = kflag ? rawOff & 0xffffff : rawOff;
          if (bitSz === 0 && mOff % (8 * a) !== 0) {
            align = 1;
            break;
          }
        }
        if (align < 0) align = w[b + 2]! % max !== 0 ? 1 : max;
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
    const w = this.w;
    const off = this.off;
    const kinds = this.kinds;
    let nelems = 1;
    let size = -1;
    let cur = id;
    for (let depth = 0; depth < 32; depth++) {
      const kind = kinds[cur];
      if (kind === 1 /* INT */ || kind === 4 /* STRUCT */ || kind === 5 /* UNION */ || kind === 6 /* ENUM */ ||
        kind === 19 /* ENUM64 */ || kind === 15 /* DATASEC */ || kind === 16 /* FLOAT */) {
        size = w[off[cur]! + 2]!;
        break;
      } else if (kind === 2 /* PTR */) {
        size = this.ptrSize;
        break;
      } else if (kind === 8 /* TYPEDEF */ || kind === 9 /* VOLATILE */ || kind === 10 /* CONST */ ||
        kind === 11 /* RESTRICT */ || kind === 14 /* VAR */ || kind === 17 /* DECL_TAG */ || kind === 18 /* TYPE_TAG */) {
        cur = w[off[cur]! + 2]!;
        continue;
      } else if (kind === 3 /* ARRAY */) {
        const n = w[off[cur]! + 5]!;
        if (nelems && n > Math.floor(0xffffffff / nelems)) break;
        nelems *= n;
        cur = w[off[cur]! + 3]!;
        continue;
      }
      break;
    }
    const res = size < 0 || (nelems && size > Math.floor(0xffffffff / nelems)) ? -1 : nelems * size;
    // (Sizes of 4 GiB - 2 and up are not kept: a Uint32Array touches half the pages of a Float64Array.)
    if (res <= 0xfffffffd) this.sizeMemo[id] = res + 2;
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

/**
 * dumpC's text as UTF-8 bytes handed to `write` in chunks of about 64 KiB, each valid only during the
 * call (what a CLI writes out: no string is built, and no buffer the size of the output).
 */
export function dumpCTo(btf: Btf | RawTypes, write: (chunk: Uint8Array) => void, opts: DumpCOptions = {}): void {
  const d = new BtfDumper(btf, opts);
  const ids = opts.rootIds && opts.rootIds.length ? opts.rootIds : { from: 1, to: btf instanceof RawTypes ? btf.count : btf.typeCount };
  d.dumpManyTo(ids, VMLINUX_H_HEADER, VMLINUX_H_FOOTER, write);
}

/** dumpC's text as UTF-8 bytes (what a CLI writes out: no string is built). */
export function dumpCBytes(btf: Btf | RawTypes, opts: DumpCOptions = {}): Uint8Array {
  const d = new BtfDumper(btf, opts);
  const ids = opts.rootIds && opts.rootIds.length ? opts.rootIds : { from: 1, to: btf instanceof RawTypes ? btf.count : btf.typeCount };
  return d.dumpManyBytes(ids, VMLINUX_H_HEADER, VMLINUX_H_FOOTER);
}
