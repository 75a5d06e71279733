// Flag constants of include/uapi/linux/bpf.h that are #defines or anonymous enums (so they are
// not reliably present in kernel BTF and not generated). Values are UAPI and never change.

/** BPF_MAP_UPDATE_ELEM / LOOKUP flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

/** BPF_MAP_CREATE map_flags. */
export const MAP_FLAGS = {
  NO_PREALLOC: 1 << 0,
  NO_COMMON_LRU: 1 << 1,
  NUMA_NODE: 1 << 2,
  RDONLY: 1 << 3,
  WRONLY: 1 << 4,
  STACK_BUILD_ID: 1 << 5,
  ZERO_SEED: 1 << 6,
  RDONLY_PROG: 1 << 7,
  WRONLY_PROG: 1 << 8,
  CLONE: 1 << 9,
  MMAPABLE: 1 << 10,
  PRESERVE_ELEMS: 1 << 11,
  INNER_MAP: 1 << 12,
  LINK: 1 << 13,
  PATH_FD: 1 << 14,
  VTYPE_BTF_OBJ_FD: 1 << 15,
  TOKEN_FD: 1 << 16,
  SEGV_ON_FAULT: 1 << 17,
  NO_USER_CONV: 1 << 18,
} as const;

/** BPF_OBJ_GET file_flags / BPF_*_GET_FD_BY_ID open_flags. */
export const BPF_F_RDONLY = 1 << 3;
export const BPF_F_WRONLY = 1 << 4;

/** BPF_PROG_LOAD prog_flags. */
export const PROG_FLAGS = {
  STRICT_ALIGNMENT: 1 << 0,
  ANY_ALIGNMENT: 1 << 1,
  TEST_RND_HI32: 1 << 2,
  TEST_STATE_FREQ: 1 << 3,
  SLEEPABLE: 1 << 4,
  XDP_HAS_FRAGS: 1 << 5,
  XDP_DEV_BOUND_ONLY: 1 << 6,
  TEST_REG_INVARIANTS: 1 << 7,
} as const;

/** BPF_PROG_ATTACH / BPF_LINK_CREATE attach flags. */
export const ATTACH_FLAGS = {
  ALLOW_OVERRIDE: 1 << 0,
  ALLOW_MULTI: 1 << 1,
  REPLACE: 1 << 2,
  BEFORE: 1 << 3,
  AFTER: 1 << 4,
  ID: 1 << 5,
  PREORDER: 1 << 6,
} as const;

/** BPF_PROG_TEST_RUN flags. */
export const TEST_RUN_FLAGS = {
  ON_CPU: 1 << 0,
  XDP_LIVE_FRAMES: 1 << 1,
  SKB_CHECKSUM_COMPLETE: 1 << 2,
} as const;

/** Verifier log levels (log_level bits). */
export const BPF_LOG_LEVEL1 = 1;
export const BPF_LOG_LEVEL2 = 2;
export const BPF_LOG_STATS = 4;

export const BPF_OBJ_NAME_LEN = 16;
export const BPF_TAG_SIZE = 8;
/** Size of one struct bpf_insn. */
export const BPF_INSN_SIZE = 8;

/** BPF_F_KPROBE_MULTI_RETURN / BPF_F_UPROBE_MULTI_RETURN (link_create kprobe_multi/uprobe_multi flags). */
export const BPF_F_KPROBE_MULTI_RETURN = 1;
export const BPF_F_UPROBE_MULTI_RETURN = 1;
