// The object spec: the deterministic result of parsing a BPF ELF object. Nothing here depends on the
// running kernel; kernel-dependent work (feature probes, externs, CO-RE, fds) happens at load time.

import type { Btf, BtfExt } from '../../btf/index.js';
import type { ElfFile } from '../../elf/index.js';
import type { SectionDef } from '../section-defs.js';

/** How an instruction refers to something outside itself, recorded at open and applied at load. */
export type RelocDesc =
  /** ld_imm64 of a BTF-defined map: becomes BPF_PSEUDO_MAP_FD. */
  | { kind: 'map'; insnIdx: number; mapIndex: number }
  /** ld_imm64 of a global variable: becomes BPF_PSEUDO_MAP_VALUE with the offset in insn[1].imm. */
  | { kind: 'data'; insnIdx: number; mapIndex: number; symOff: number }
  /** bpf-to-bpf call into .text. */
  | { kind: 'call'; insnIdx: number; symOff: number }
  /** ld_imm64 of a .text function address (callbacks): becomes BPF_PSEUDO_FUNC. */
  | { kind: 'subprogAddr'; insnIdx: number; symOff: number }
  /** ld_imm64 of an extern variable (.kconfig or .ksyms). */
  | { kind: 'externLd64'; insnIdx: number; externIndex: number }
  /** call of an extern function (kfunc). */
  | { kind: 'externCall'; insnIdx: number; externIndex: number };

export interface ProgramSpec {
  /** The C function name. */
  readonly name: string;
  /** The ELF section name as written (a leading '?' included). */
  readonly sectionName: string;
  readonly sectionIndex: number;
  /** Position of the first instruction within its section, in instructions. */
  readonly secInsnOff: number;
  /** The original instructions; never modified (several entry programs may append the same subprogram). */
  readonly insns: Uint8Array;
  /** Functions in .text are subprograms, appended to the entry programs that call them. */
  readonly isSubprog: boolean;
  /** A global function with hidden visibility: its BTF FUNC is marked static, as libbpf does. */
  readonly markBtfStatic: boolean;
  /** The SEC() definition matched, undefined for subprograms and unknown sections. */
  readonly sectionDef: SectionDef | undefined;
  /** Relocations sorted by insnIdx (relative to this program's first instruction). */
  readonly relocs: RelocDesc[];
  /** Kernel enum name of the program type, e.g. 'BPF_PROG_TYPE_XDP'. */
  progType: string | undefined;
  expectedAttachType: string | undefined;
  /** Program flags (BPF_F_SLEEPABLE, BPF_F_XDP_HAS_FRAGS) implied by the section. */
  progFlags: number;
  autoload: boolean;
}

/** libbpf's notion of which section a map comes from. */
export type MapOrigin = 'user' | 'data' | 'rodata' | 'bss' | 'kconfig' | 'struct_ops';

/**
 * A struct_ops map: a global variable in SEC(".struct_ops") or SEC(".struct_ops.link") whose type is a
 * kernel ops struct (tcp_congestion_ops, ...). Its function pointers name struct_ops programs.
 */
export interface StructOpsSpec {
  /** The struct in the object's BTF: its id (typedefs and modifiers skipped) and name ('tcp_congestion_ops'). */
  readonly typeId: number;
  readonly typeName: string;
  /** The ELF section, as written ('.struct_ops', '.struct_ops.link', '?.struct_ops', '?.struct_ops.link'). */
  readonly sectionName: string;
  /** From '.struct_ops.link': the map is created with BPF_F_LINK and attached through a BPF link. */
  readonly isLink: boolean;
  /** False for the '?'-prefixed sections: the map is not created unless asked (libbpf's autocreate). */
  readonly autocreate: boolean;
  /** The variable's bytes as compiled (function pointers are zeros: relocations fill them). */
  readonly data: Uint8Array;
  /** By member index of the struct: the program a function pointer member points to. */
  readonly programs: (string | undefined)[];
}

export interface MapSpec {
  /** User maps: the variable name. Global data maps: the ELF section name ('.bss', '.rodata.str1.1', '.kconfig'). */
  readonly name: string;
  /** The name given to the kernel (libbpf's internal_map_name for global data). */
  kernelName: string;
  readonly origin: MapOrigin;
  readonly sectionIndex: number;
  /** Byte offset of the map definition within .maps (0 for global data). */
  readonly sectionOffset: number;
  /** Index of the map's VAR within the .maps DATASEC (-1 for global data). */
  readonly btfVarIndex: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  numaNode: number;
  mapExtra: bigint;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  /** 0 = none, 1 = by name (LIBBPF_PIN_BY_NAME). */
  pinning: number;
  /** Inner map template of a map-in-map. */
  inner: MapSpec | undefined;
  /** Initial slots from `values`: names of maps (map-in-map) or programs (prog arrays), by index. */
  initSlots: (string | undefined)[];
  /** Initial contents of a global data map; undefined for .bss and .kconfig (zeros; kconfig is filled at load). */
  readonly initialData: Uint8Array | undefined;
  /** Struct_ops maps only (origin 'struct_ops'). */
  readonly structOps?: StructOpsSpec;
}

export type KconfigType = 'bool' | 'char' | 'int' | 'tristate' | 'char_array';

export interface ExternSpec {
  readonly name: string;
  /** The name without a `___flavor` suffix. */
  readonly essentialName: string;
  readonly symIndex: number;
  readonly isWeak: boolean;
  readonly btfId: number;
  readonly kind: 'kconfig' | 'ksym';
  /** kconfig externs: their layout inside the .kconfig map. */
  readonly kconfig?: { size: number; align: number; type: KconfigType; isSigned: boolean; dataOff: number };
  /** ksym externs: the local BTF type (0 for typeless `extern const void x __ksym`), and whether it's a function. */
  readonly ksym?: { typeId: number; isFunc: boolean };
}

export interface ObjectSpec {
  readonly name: string;
  readonly elf: ElfFile;
  readonly license: string;
  /** From the 'version' section, 0 when absent (the running kernel's version is used then). */
  readonly kernVersion: number;
  readonly programs: ProgramSpec[];
  readonly maps: MapSpec[];
  readonly externs: ExternSpec[];
  readonly btf: Btf | undefined;
  readonly btfExt: BtfExt | undefined;
  readonly textSectionIndex: number;
}
