// Struct_ops maps at load and attach time (libbpf's init_kern_struct_ops, adjust_struct_ops_autoload,
// prepare_struct_ops and bpf_map__attach_struct_ops).
//
// The object declares `struct tcp_congestion_ops cc = { .ssthresh = (void *)prog, .name = "x" }` with
// its own (vmlinux.h) layout. The kernel wants the value of `struct bpf_struct_ops_tcp_congestion_ops`:
// a header, then the kernel's `struct tcp_congestion_ops` at the offset of its `data` member. So at
// load every member is matched by name against the kernel's struct: data members are copied to the
// kernel's offsets (same kind and size required), function pointers become program fds once the
// programs are loaded, and each program learns its attach target (the kernel struct's BTF id, and
// the member index as expected_attach_type). Attaching writes the value into the map (which
// registers it, or readies it for a BPF link with .struct_ops.link).

import { BTF_KIND, type Btf } from '../btf/index.js';
import { BPF_ATTACH_TYPE, MAP_FLAGS, type Fd, linkCreate, linkUpdate, mapCreate, mapDeleteElem, mapUpdateElem } from '../syscalls/index.js';
import { essentialName } from './core/names.js';
import { BpfError, NotSupportedError, StateError } from './errors.js';
import { kernelBtf, kernelModuleBtfs, moduleBtfObjFd } from './kernel-btf.js';
import { Link } from './link.js';
import type { BpfMap } from './map.js';
import { isFuncPtr } from './spec/struct-ops.js';
import type { MapSpec, ObjectSpec, ProgramSpec, StructOpsSpec } from './spec/types.js';
import type { Backing } from './skeleton/layout.js';

const VALUE_PREFIX = 'bpf_struct_ops_';
const STRUCT_OPS_PROG = 'BPF_PROG_TYPE_STRUCT_OPS';

/** The kernel types behind one struct_ops map. */
export interface KernelStructOpsTypes {
  readonly btf: Btf;
  /** The kernel module whose BTF has them; undefined for vmlinux. */
  readonly module: string | undefined;
  /** `struct tcp_congestion_ops` in that BTF: the programs' attach_btf_id. */
  readonly typeId: number;
  /** `struct bpf_struct_ops_tcp_congestion_ops`: the map's btf_vmlinux_value_type_id. */
  readonly valueTypeId: number;
  /** The map's value size: the size of the wrapper struct. */
  readonly valueSize: number;
  /** Where the ops struct sits inside the wrapper (its `data` member). */
  readonly dataOffset: number;
}

/** A BTF to search: vmlinux first, then every module, as libbpf's find_ksym_btf_id. */
export interface KernelBtfSource {
  vmlinux: () => Btf;
  modules: () => readonly { btf: Btf; name: string }[];
}

const RUNNING_KERNEL: KernelBtfSource = { vmlinux: () => kernelBtf(), modules: () => kernelModuleBtfs() };

/** Finds `struct bpf_struct_ops_<T>` and `struct <T>` (T without a ___flavor suffix) in the kernel's BTF. */
export function findKernelStructOps(typeName: string, source: KernelBtfSource = RUNNING_KERNEL, mapName?: string): KernelStructOpsTypes {
  const tname = essentialName(typeName);
  const wrapper = VALUE_PREFIX + tname;
  let btf = source.vmlinux();
  let module: string | undefined;
  let valueTypeId = btf.findOne(wrapper, BTF_KIND.STRUCT);
  if (valueTypeId === undefined) {
    for (const m of source.modules()) {
      valueTypeId = m.btf.findByName(wrapper, BTF_KIND.STRUCT).find((id) => id >= m.btf.startId);
      if (valueTypeId !== undefined) {
        btf = m.btf;
        module = m.name;
        break;
      }
    }
  }
  const ctx = { cmd: 'struct_ops init', map: mapName };
  if (valueTypeId === undefined) {
    throw new BpfError(`struct_ops map${mapName ? ` '${mapName}'` : ''}: struct ${wrapper} is not in the kernel's BTF (vmlinux and modules), so this kernel has no struct_ops type '${tname}'`, {
      ...ctx, errno: 3, advice: `check the struct name; if '${tname}' is defined by a kernel module, load the module first`,
    });
  }
  const typeId = btf.findOne(tname, BTF_KIND.STRUCT);
  if (typeId === undefined) throw new BpfError(`struct_ops: struct ${tname} is not in the kernel's BTF`, { ...ctx, errno: 2 });
  const vt = btf.type(valueTypeId);
  if (vt.kind !== BTF_KIND.STRUCT) throw new BpfError(`struct_ops: ${wrapper} is not a struct`, { ...ctx, errno: 22 });
  const dataMember = vt.members.find((m) => m.type === typeId);
  if (!dataMember) throw new BpfError(`struct_ops: struct ${tname} data is not found in struct ${wrapper}`, { ...ctx, errno: 22 });
  return { btf, module, typeId, valueTypeId, valueSize: vt.size, dataOffset: dataMember.bitOffset / 8 };
}

/** One function pointer of the kernel value, filled with a program fd once the program is loaded. */
export interface StructOpsFunc {
  /** The member name (the same in the object's struct and the kernel's). */
  readonly member: string;
  readonly program: string;
  /** Index of the member in the kernel's struct: the program's expected_attach_type. */
  readonly kernelMemberIndex: number;
  /** Byte offset of the pointer within the map value. */
  readonly valueOffset: number;
}

export interface KernelValue {
  /** The map value (kern_vdata): header zeros, data members at the kernel's offsets, function pointers 0. */
  readonly value: Uint8Array;
  readonly funcs: readonly StructOpsFunc[];
}

function notSup(map: string, message: string, advice?: string): BpfError {
  return new BpfError(`struct_ops init_kern ${map}: ${message}`, { cmd: 'struct_ops init', map, errno: 95, advice });
}

/**
 * Builds the kernel value of a struct_ops map from the object's struct (libbpf's
 * bpf_map__init_kern_struct_ops), matching members by name. `programs` gives, by member index of the
 * object's struct, the program each function pointer points to.
 */
export function buildKernelValue(
  mapName: string, local: { btf: Btf; typeId: number; data: Uint8Array; programs: readonly (string | undefined)[] }, kern: KernelStructOpsTypes,
): KernelValue {
  const { btf } = local;
  const t = btf.type(local.typeId);
  const kt = kern.btf.type(kern.typeId);
  if (t.kind !== BTF_KIND.STRUCT || kt.kind !== BTF_KIND.STRUCT) throw notSup(mapName, 'not a struct');
  const value = new Uint8Array(kern.valueSize);
  const funcs: StructOpsFunc[] = [];
  t.members.forEach((m, i) => {
    const moff = m.bitOffset / 8;
    let msize: number;
    try {
      msize = btf.resolveSize(m.type);
    } catch (e) {
      throw new BpfError(`struct_ops init_kern ${mapName}: failed to resolve the size of member '${m.name}'`, { cmd: 'struct_ops init', map: mapName, errno: 22, cause: e });
    }
    const prog = local.programs[i];
    const kIdx = kt.members.findIndex((km) => km.name === m.name);
    if (kIdx < 0) {
      // A member this kernel lacks is fine while it is unset (objects built against newer headers).
      if (prog !== undefined || local.data.subarray(moff, moff + msize).some((b) => b !== 0)) {
        throw notSup(mapName, `member '${m.name}'${prog !== undefined ? ` (set to program '${prog}')` : ''} is not in the kernel's struct ${kernName(kern)}`,
          'leave it unset for this kernel (setProgram(member, null) for a function), or use a kernel that has it');
      }
      return;
    }
    const km = kt.members[kIdx]!;
    if (m.bitfieldSize || km.bitfieldSize || m.bitOffset % 8 || km.bitOffset % 8) throw notSup(mapName, `bitfield '${m.name}' is not supported`);
    const kmoff = kern.dataOffset + km.bitOffset / 8;
    const lk = btf.type(btf.skipModsAndTypedefs(m.type)).kind;
    const kmTypeId = kern.btf.skipModsAndTypedefs(km.type);
    const kk = kern.btf.type(kmTypeId).kind;
    if (lk !== kk) throw notSup(mapName, `member '${m.name}' is of kind ${kindName(lk)} here but ${kindName(kk)} in the kernel`);
    if (lk === BTF_KIND.PTR) {
      // Pointer bytes in the object are never copied: only a program can go there.
      if (prog === undefined) return;
      if (!isFuncPtr(kern.btf, km.type)) throw notSup(mapName, `kernel member '${m.name}' is not a function pointer`);
      funcs.push({ member: m.name, program: prog, kernelMemberIndex: kIdx, valueOffset: kmoff });
      return;
    }
    let ksize: number;
    try {
      ksize = kern.btf.resolveSize(kmTypeId);
    } catch {
      ksize = -1;
    }
    if (ksize !== msize) throw notSup(mapName, `member '${m.name}' is ${msize} bytes here but ${ksize} in the kernel`, 'rebuild the object against this kernel\'s vmlinux.h');
    value.set(local.data.subarray(moff, moff + msize), kmoff);
  });
  return { value, funcs };
}

function kernName(k: KernelStructOpsTypes): string {
  const t = k.btf.type(k.typeId);
  return 'name' in t ? t.name : `[${k.typeId}]`;
}

function kindName(k: number): string {
  const e = Object.entries(BTF_KIND).find(([, v]) => v === k);
  return e ? e[0].toLowerCase() : `kind ${k}`;
}

/** What a struct_ops program is loaded against. */
export interface StructOpsTarget {
  /** attach_btf_id: the kernel struct. */
  readonly id: number;
  /** attach_btf_obj_fd when the struct is in a module. */
  readonly objFd?: number;
  /** expected_attach_type: the member index in the kernel struct. */
  readonly memberIndex: number;
}

/** The kernel side of a struct_ops map, known from load on. */
export interface StructOpsKernelInfo {
  readonly types: KernelStructOpsTypes;
  /** The BTF object fd of the module, for module types. */
  readonly btfObjFd: number | undefined;
  readonly funcs: readonly StructOpsFunc[];
  /** The value written at attach: program fds in place once the programs are loaded. */
  readonly value: Uint8Array;
}

/**
 * The struct_ops side of a BpfMap: the object's struct (libbpf's "shadow" data), which programs its
 * function pointers name, and whether the map is created and attached automatically. All of it can be
 * changed until load; the kernel value is built from it at load.
 */
export class StructOps {
  readonly typeName: string;
  /** Created with BPF_F_LINK (.struct_ops.link): attached through a BPF link. */
  readonly isLink: boolean;
  /** The object's struct as compiled, writable before load (function pointer bytes are ignored). */
  readonly data: Uint8Array;
  /** @internal */ readonly spec: StructOpsSpec;
  /** @internal */ readonly btf: Btf;
  /** @internal */ readonly programs: (string | undefined)[];
  /** @internal */ kernel: StructOpsKernelInfo | undefined;
  /** Whether load() creates the map (false for SEC("?.struct_ops")); settable before load. */
  #autocreate: boolean;
  /** Whether obj.attach() (and skeleton attach) attaches the map; libbpf's autoattach. */
  autoattach = true;
  readonly #mapName: string;
  readonly #objSpec: ObjectSpec;
  #locked = false;

  /** @internal */
  constructor(map: MapSpec, objSpec: ObjectSpec) {
    const so = map.structOps!;
    this.spec = so;
    this.typeName = so.typeName;
    this.isLink = so.isLink;
    this.data = so.data.slice();
    this.programs = so.programs.slice();
    this.btf = objSpec.btf!;
    this.#autocreate = so.autocreate;
    this.#mapName = map.name;
    this.#objSpec = objSpec;
  }

  get autocreate(): boolean {
    return this.#autocreate;
  }
  set autocreate(v: boolean) {
    this.beforeLoad('autocreate');
    this.#autocreate = v;
  }

  /** The members of the object's struct, in order, and which are function pointers. */
  get members(): readonly { name: string; offset: number; size: number; isFunc: boolean }[] {
    const t = this.btf.type(this.spec.typeId);
    if (t.kind !== BTF_KIND.STRUCT) return [];
    return t.members.map((m) => ({ name: m.name, offset: m.bitOffset / 8, size: safeSize(this.btf, m.type), isFunc: isFuncPtr(this.btf, m.type) }));
  }

  /** The program a function pointer member points to, or undefined. */
  program(member: string): string | undefined {
    return this.programs[this.memberIndex(member)];
  }

  /** Every function pointer member that points to a program, by member name. */
  get programsByMember(): Map<string, string> {
    const t = this.btf.type(this.spec.typeId);
    const out = new Map<string, string>();
    if (t.kind !== BTF_KIND.STRUCT) return out;
    t.members.forEach((m, i) => {
      const p = this.programs[i];
      if (p !== undefined) out.set(m.name, p);
    });
    return out;
  }

  /**
   * Points a function pointer member to another struct_ops program of the object (or to none with
   * null), before load. A program no member points to any more is not loaded, as in libbpf.
   */
  setProgram(member: string, program: string | { readonly name: string } | null): void {
    this.beforeLoad(`member '${member}'`);
    const i = this.memberIndex(member);
    const t = this.btf.type(this.spec.typeId);
    if (t.kind === BTF_KIND.STRUCT && !isFuncPtr(this.btf, t.members[i]!.type)) {
      throw new BpfError(`struct_ops map '${this.#mapName}': member '${member}' is not a function pointer`, { map: this.#mapName, errno: 22 });
    }
    if (program === null) {
      this.programs[i] = undefined;
      return;
    }
    const name = typeof program === 'string' ? program : program.name;
    const p = this.#objSpec.programs.find((x) => x.name === name && !x.isSubprog);
    if (!p || p.progType !== STRUCT_OPS_PROG) {
      throw new BpfError(`struct_ops map '${this.#mapName}': member '${member}' can only point to a struct_ops program of the object, and '${name}' is ${p ? `SEC("${p.sectionName}")` : 'not a program of it'}`, {
        map: this.#mapName, program: name, errno: 22,
      });
    }
    this.programs[i] = name;
  }

  /** @internal The loader takes over: no more changes. */
  lock(): void {
    this.#locked = true;
  }

  /**
   * The object's struct as skeleton memory (`skel.struct_ops.<map>`): read any time, written before
   * load only, since the kernel value is built from it at load.
   */
  backing(): Backing {
    const data = this.data;
    const dv = new DataView(data.buffer, data.byteOffset, data.length);
    return {
      check: (write: boolean): void => {
        if (write) this.beforeLoad('the struct');
      },
      view: () => dv,
      read: (off: number, len: number, into?: Uint8Array): Uint8Array => {
        const out = into ?? new Uint8Array(len);
        out.set(data.subarray(off, off + len));
        return out;
      },
      write: (off: number, src: Uint8Array): void => {
        data.set(src, off);
      },
    };
  }

  private memberIndex(member: string): number {
    const t = this.btf.type(this.spec.typeId);
    const i = t.kind === BTF_KIND.STRUCT ? t.members.findIndex((m) => m.name === member) : -1;
    if (i < 0) throw new BpfError(`struct_ops map '${this.#mapName}': struct ${this.typeName} has no member '${member}'`, { map: this.#mapName, errno: 2 });
    return i;
  }

  private beforeLoad(what: string): void {
    if (this.#locked) throw new StateError(`struct_ops map '${this.#mapName}': ${what} can only be changed before load`, { map: this.#mapName });
  }
}

function safeSize(btf: Btf, id: number): number {
  try {
    return btf.resolveSize(id);
  } catch {
    return 0;
  }
}

/** What the loader needs from the object. */
export interface StructOpsObject {
  readonly spec: ObjectSpec;
  readonly maps: ReadonlyMap<string, BpfMap>;
}

/**
 * Load step 1, before maps are created: find the kernel types of every map to create, build its
 * value, decide which struct_ops programs load (libbpf: a program is loaded when a map to be created
 * uses it; one used only by maps not created, or by none any more, is not), and return each used
 * program's attach target. A program used by several members must be the same member of the same
 * kernel struct everywhere, since that is what it is verified against.
 */
export function prepareStructOps(obj: StructOpsObject, source: KernelBtfSource = RUNNING_KERNEL): Map<string, StructOpsTarget> {
  const targets = new Map<string, StructOpsTarget & { where: string }>();
  const maps = [...obj.maps.values()].filter((m) => m.structOps);
  for (const map of maps) {
    const st = map.structOps!;
    st.lock();
    if (!st.autocreate) continue;
    const types = findKernelStructOps(st.typeName, source, map.name);
    let btfObjFd: number | undefined;
    if (types.module !== undefined) {
      btfObjFd = moduleBtfObjFd(types.module);
      if (btfObjFd === undefined) {
        throw new BpfError(`struct_ops map '${map.name}': struct ${st.typeName} is in kernel module '${types.module}', whose BTF object could not be opened`, {
          cmd: 'struct_ops init', map: map.name, errno: 3, advice: 'the module may have been unloaded; load it (modprobe) and retry',
        });
      }
    }
    const kv = buildKernelValue(map.name, { btf: st.btf, typeId: st.spec.typeId, data: st.data, programs: st.programs }, types);
    for (const f of kv.funcs) {
      const prev = targets.get(f.program);
      const where = `map '${map.name}' member '${f.member}'`;
      if (prev && (prev.id !== types.typeId || prev.memberIndex !== f.kernelMemberIndex || prev.objFd !== btfObjFd)) {
        throw new BpfError(`struct_ops init_kern ${map.name}: invalid reuse of prog '${f.program}' for member '${f.member}': it is already used by ${prev.where}, ` +
          'a different member or struct (a struct_ops program is verified against one member of one struct)', {
          cmd: 'struct_ops init', map: map.name, program: f.program, errno: 22, advice: 'write one program per member (they can call a shared __noinline function)',
        });
      }
      if (!prev) targets.set(f.program, { id: types.typeId, objFd: btfObjFd, memberIndex: f.kernelMemberIndex, where });
    }
    // The spec follows the kernel from here: the value is the wrapper struct.
    map.spec.valueSize = types.valueSize;
    st.kernel = { types, btfObjFd, funcs: kv.funcs, value: kv.value };
  }

  // libbpf's bpf_object_adjust_struct_ops_autoload, plus its rule that a program a map pointed to at
  // open but no longer does (the member was set to another program or to none) is not loaded.
  const declared = new Set<string>();
  for (const m of obj.spec.maps) for (const p of m.structOps?.programs ?? []) if (p !== undefined) declared.add(p);
  for (const p of obj.spec.programs) {
    if (p.isSubprog || p.progType !== STRUCT_OPS_PROG) continue;
    let uses = 0;
    let load = false;
    for (const map of maps) {
      const st = map.structOps!;
      for (const name of st.programs) {
        if (name !== p.name) continue;
        uses++;
        if (st.autocreate) load = true;
      }
    }
    if (uses) p.autoload = load;
    else if (declared.has(p.name)) p.autoload = false;
  }
  const out = new Map<string, StructOpsTarget>();
  for (const [name, t] of targets) out.set(name, { id: t.id, objFd: t.objFd, memberIndex: t.memberIndex });
  return out;
}

/**
 * BPF_MAP_CREATE for a struct_ops map: the value type is the kernel's wrapper struct (by id in vmlinux
 * or the module's BTF), and the object's BTF must come along (the kernel requires a btf_fd), with no
 * key or value type id of its own, as libbpf does.
 */
export function createStructOpsMap(map: BpfMap, btfFd: number | undefined): Fd {
  const s = map.spec;
  const k = map.structOps?.kernel;
  if (!k) throw new StateError(`struct_ops map '${map.name}' was not prepared`, { map: map.name });
  if (btfFd === undefined) {
    throw new NotSupportedError(`struct_ops map '${map.name}' needs the object's BTF in the kernel, and it could not be loaded`, {
      cmd: 'BPF_MAP_CREATE', map: map.name, errno: 95, advice: 'the kernel refused the object\'s BTF (see the warning), or has no BTF support',
    });
  }
  const mod = k.btfObjFd !== undefined;
  return mapCreate({
    mapType: s.type, keySize: s.keySize, valueSize: k.types.valueSize, maxEntries: s.maxEntries,
    mapFlags: s.mapFlags | (mod ? MAP_FLAGS.VTYPE_BTF_OBJ_FD : 0), name: s.kernelName, numaNode: s.numaNode,
    btfFd, btfVmlinuxValueTypeId: k.types.valueTypeId, valueTypeBtfObjFd: k.btfObjFd,
  }, `map ${map.name}`);
}

/** The error libbpf gives a struct_ops program that would be loaded but no struct_ops map uses. */
export function unreferencedStructOpsProgram(p: ProgramSpec): BpfError {
  return new BpfError(`prog '${p.name}': SEC("${p.sectionName}") program isn't referenced by any struct_ops map, so there is nothing to verify it against`, {
    cmd: 'BPF_PROG_LOAD', program: p.name, errno: 22,
    advice: 'point a member of a SEC(".struct_ops") or SEC(".struct_ops.link") variable at it (.member = (void *)prog), or set prog.autoload = false',
  });
}

/** Load step 2, after the programs are loaded: their fds go into the function pointers of the values. */
export function fillStructOpsProgramFds(obj: StructOpsObject, progFd: (name: string) => number): void {
  for (const map of obj.maps.values()) {
    const k = map.structOps?.kernel;
    if (!k) continue;
    const dv = new DataView(k.value.buffer, k.value.byteOffset, k.value.length);
    for (const f of k.funcs) dv.setBigUint64(f.valueOffset, BigInt(progFd(f.program)), true);
  }
}

const KEY0 = new Uint8Array(4);

function structOpsOf(map: BpfMap, what: string): { st: StructOps; kernel: StructOpsKernelInfo } {
  const st = map.structOps;
  if (!st) throw new BpfError(`map '${map.name}' is not a struct_ops map, so it cannot be ${what}`, { cmd: 'attach', map: map.name, errno: 22 });
  if (!st.kernel) {
    throw new StateError(`struct_ops map '${map.name}' ${st.autocreate ? 'is not loaded yet' : 'was not created (autocreate is off: SEC("?.struct_ops"))'}`, { cmd: 'attach', map: map.name });
  }
  return { st, kernel: st.kernel };
}

/** Turns the kernel's refusal of a struct_ops value into an error that says what the kernel checks. */
function explainUpdate(e: unknown, map: BpfMap, st: StructOps): unknown {
  // The syscall layer's generic advice says little here: the struct's own rules are the usual cause.
  if (!(e instanceof BpfError)) return e;
  // The syscall error's own text carries generic advice about map flags, which would mislead here.
  const what = `registering struct_ops map '${map.name}' (struct ${st.typeName}): the kernel refused its value (BPF_MAP_UPDATE_ELEM ${e.code ?? `errno ${e.errno}`})`;
  const opts = { errno: e.errno, syscall: e.syscall, cmd: 'BPF_MAP_UPDATE_ELEM', map: map.name, cause: e };
  switch (e.errno) {
    case 16:
      return new BpfError(what, { ...opts, advice: 'the map was registered before: a struct_ops map without BPF_F_LINK can be registered only once; use SEC(".struct_ops.link") to attach a map repeatedly' });
    case 17:
      return new BpfError(what, { ...opts, advice: `the kernel already has a struct ${st.typeName} by that name (e.g. a congestion control algorithm called the same); change the name member` });
    case 22:
      return new BpfError(what, { ...opts, advice: `the kernel's checks of struct ${st.typeName} refused the value: a member it requires may have no program (tcp_congestion_ops needs ssthresh, undo_cwnd and cong_avoid or cong_control), or a data member has a value it does not accept` });
    case 95: case 524:
      return new NotSupportedError(what, { ...opts, advice: `this kernel does not let struct ${st.typeName} be registered from BPF (bpf_dummy_ops, for one, exists only for BPF_PROG_TEST_RUN), or cannot build the BPF trampolines it needs` });
    default:
      return e;
  }
}

/**
 * libbpf's bpf_map__attach_struct_ops: writes the kernel value (program fds included) into the map.
 * Without BPF_F_LINK that registers it, and the returned Link unregisters it by deleting the element
 * (which survives the process otherwise, so it is also undone at exit). With BPF_F_LINK
 * (.struct_ops.link) the map is readied and a BPF link registers it for as long as the link lives;
 * a map already used by a link is reused as is (EBUSY is not an error then, as in libbpf).
 */
export function attachStructOps(map: BpfMap): Link {
  const { st, kernel } = structOpsOf(map, 'attached');
  const target = `struct_ops map '${map.name}' (struct ${st.typeName})`;
  try {
    mapUpdateElem(map.fd, KEY0, kernel.value, 0);
  } catch (e) {
    if (!(st.isLink && e instanceof BpfError && e.errno === 16)) throw explainUpdate(e, map, st);
  }
  if (!st.isLink) {
    // The map may be closed before the link: the element is deleted through a copy of its fd.
    const owned = map.fdOwner!.dup(`map ${map.name} (held by its struct_ops link)`);
    return new Link({
      kind: 'struct_ops', mechanism: 'map_update', target, owned: [owned], outlivesProcess: true,
      detach: () => {
        mapDeleteElem(owned.fd, KEY0);
      },
    });
  }
  const fd = linkCreate(map.fd, 0, BPF_ATTACH_TYPE.STRUCT_OPS, {}, `link ${target}`);
  return new Link({
    kind: 'struct_ops', mechanism: 'bpf_link', target, fd,
    updateMap: (next) => updateStructOpsLink(fd.fd, next as BpfMap),
  });
}

/** libbpf's bpf_link__update_map: the link switches to another struct_ops map of the same struct type. */
function updateStructOpsLink(linkFd: number, next: BpfMap): void {
  const { st, kernel } = structOpsOf(next, 'used to update a struct_ops link');
  if (!st.isLink) {
    throw new BpfError(`map '${next.name}' has no BPF_F_LINK, so a struct_ops link cannot switch to it`, { cmd: 'BPF_LINK_UPDATE', map: next.name, errno: 22, advice: 'declare it in SEC(".struct_ops.link")' });
  }
  try {
    mapUpdateElem(next.fd, KEY0, kernel.value, 0);
  } catch (e) {
    if (!(e instanceof BpfError && e.errno === 16)) throw explainUpdate(e, next, st);
  }
  // link_update's new_map_fd shares its place with new_prog_fd.
  try {
    linkUpdate(linkFd, next.fd);
  } catch (e) {
    if (!(e instanceof BpfError) || (e.errno !== 22 && e.errno !== 95)) throw e;
    throw new BpfError(`switching a struct_ops link to map '${next.name}' (struct ${st.typeName}): the kernel refused it (BPF_LINK_UPDATE ${e.code})`, {
      errno: e.errno, syscall: e.syscall, cmd: 'BPF_LINK_UPDATE', map: next.name, cause: e,
      advice: e.errno === 95
        ? `struct ${st.typeName} cannot be updated in place on this kernel: close the link and attach the new map`
        : `the new map must be of the same struct type as the linked one, and the struct's own rules apply (a tcp_congestion_ops must keep its name)`,
    });
  }
}
