// Numeric constants from the ELF64 gABI and the BPF psABI. Only values that tsbpf reads or that
// callers compare against are listed; unknown values pass through as plain numbers.

/** Section header types (sh_type). */
export const SHT = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  HASH: 5,
  DYNAMIC: 6,
  NOTE: 7,
  NOBITS: 8,
  REL: 9,
  SHLIB: 10,
  DYNSYM: 11,
  INIT_ARRAY: 14,
  FINI_ARRAY: 15,
  PREINIT_ARRAY: 16,
  GROUP: 17,
  SYMTAB_SHNDX: 18,
  RELR: 19,
  LLVM_ADDRSIG: 0x6fff4c03,
  GNU_ATTRIBUTES: 0x6ffffff5,
  GNU_HASH: 0x6ffffff6,
  GNU_VERDEF: 0x6ffffffd,
  GNU_VERNEED: 0x6ffffffe,
  GNU_VERSYM: 0x6fffffff,
} as const;

/** Section flags (sh_flags). */
export const SHF = {
  WRITE: 0x1,
  ALLOC: 0x2,
  EXECINSTR: 0x4,
  MERGE: 0x10,
  STRINGS: 0x20,
  INFO_LINK: 0x40,
  LINK_ORDER: 0x80,
  GROUP: 0x200,
  TLS: 0x400,
  COMPRESSED: 0x800,
  EXCLUDE: 0x80000000,
} as const;

/** Symbol types (low nibble of st_info). */
export const STT = {
  NOTYPE: 0,
  OBJECT: 1,
  FUNC: 2,
  SECTION: 3,
  FILE: 4,
  COMMON: 5,
  TLS: 6,
  GNU_IFUNC: 10,
} as const;

/** Symbol bindings (high nibble of st_info). */
export const STB = {
  LOCAL: 0,
  GLOBAL: 1,
  WEAK: 2,
  GNU_UNIQUE: 10,
} as const;

/** Symbol visibilities (low two bits of st_other). */
export const STV = {
  DEFAULT: 0,
  INTERNAL: 1,
  HIDDEN: 2,
  PROTECTED: 3,
} as const;

/** Special section indices. */
export const SHN_UNDEF = 0;
export const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
/** The real index lives in SHT_SYMTAB_SHNDX (symbols) or in section 0 (e_shstrndx). */
export const SHN_XINDEX = 0xffff;

/** e_phnum value meaning "the real count is in section 0's sh_info". */
export const PN_XNUM = 0xffff;

/** Object file types (e_type). */
export const ET = {
  NONE: 0,
  REL: 1,
  EXEC: 2,
  DYN: 3,
  CORE: 4,
} as const;

/** Machines (e_machine) tsbpf cares about. */
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
export const EM_BPF = 247;

/** Program header types (p_type). */
export const PT = {
  NULL: 0,
  LOAD: 1,
  DYNAMIC: 2,
  INTERP: 3,
  NOTE: 4,
  SHLIB: 5,
  PHDR: 6,
  TLS: 7,
  GNU_EH_FRAME: 0x6474e550,
  GNU_STACK: 0x6474e551,
  GNU_RELRO: 0x6474e552,
  GNU_PROPERTY: 0x6474e553,
} as const;

/** Program header flags (p_flags). */
export const PF = {
  X: 0x1,
  W: 0x2,
  R: 0x4,
} as const;

/** BPF relocation types (r_info low 32 bits) from the BPF psABI. */
export const R_BPF_NONE = 0;
/** ldimm64 against a map or a global: imm of both halves of the 16-byte instruction. */
export const R_BPF_64_64 = 1;
export const R_BPF_64_ABS64 = 2;
export const R_BPF_64_ABS32 = 3;
/** Like ABS32, but only for DWARF/BTF sections: the runtime dynamic loader must skip it. */
export const R_BPF_64_NODYLD32 = 4;
/** bpf-to-bpf calls: imm is (target - pc - 8) / 8. */
export const R_BPF_64_32 = 10;

/** Sizes of the fixed ELF64 records. */
export const EHDR_SIZE = 64;
export const SHDR_SIZE = 64;
export const PHDR_SIZE = 56;
export const SYM_SIZE = 24;
export const REL_SIZE = 16;
export const RELA_SIZE = 24;
