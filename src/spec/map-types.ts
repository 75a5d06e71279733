// The UAPI constants the loader's own logic branches on (the complete kernel enums are generated in
// syscalls/generated/bpf-enums.ts). Values are fixed by the kernel ABI.

export const MAP_TYPE = {
  UNSPEC: 0, HASH: 1, ARRAY: 2, PROG_ARRAY: 3, PERF_EVENT_ARRAY: 4, PERCPU_HASH: 5, PERCPU_ARRAY: 6, STACK_TRACE: 7,
  CGROUP_ARRAY: 8, LRU_HASH: 9, LRU_PERCPU_HASH: 10, LPM_TRIE: 11, ARRAY_OF_MAPS: 12, HASH_OF_MAPS: 13, DEVMAP: 14,
  SOCKMAP: 15, CPUMAP: 16, XSKMAP: 17, SOCKHASH: 18, CGROUP_STORAGE: 19, REUSEPORT_SOCKARRAY: 20,
  PERCPU_CGROUP_STORAGE: 21, QUEUE: 22, STACK: 23, SK_STORAGE: 24, DEVMAP_HASH: 25, STRUCT_OPS: 26, RINGBUF: 27,
  INODE_STORAGE: 28, TASK_STORAGE: 29, BLOOM_FILTER: 30, USER_RINGBUF: 31, CGRP_STORAGE: 32, ARENA: 33,
} as const;

export const MAP_FLAG = {
  NO_PREALLOC: 1 << 0, RDONLY: 1 << 3, WRONLY: 1 << 4, RDONLY_PROG: 1 << 7, MMAPABLE: 1 << 10, INNER_MAP: 1 << 12,
} as const;

export const PROG_FLAG = { SLEEPABLE: 1 << 4, XDP_HAS_FRAGS: 1 << 5 } as const;

/** Map types whose values are per possible CPU, each rounded up to 8 bytes (libbpf's bpf_map__is_percpu). */
export function isPerCpuMapType(type: number): boolean {
  return type === MAP_TYPE.PERCPU_HASH || type === MAP_TYPE.PERCPU_ARRAY || type === MAP_TYPE.LRU_PERCPU_HASH
    || type === MAP_TYPE.PERCPU_CGROUP_STORAGE;
}

/** Map types created without BTF key/value type ids (the kernel rejects or ignores them), as in libbpf. */
export function mapTypeTakesNoBtf(type: number): boolean {
  switch (type) {
    case MAP_TYPE.PERF_EVENT_ARRAY: case MAP_TYPE.CGROUP_ARRAY: case MAP_TYPE.STACK_TRACE: case MAP_TYPE.ARRAY_OF_MAPS:
    case MAP_TYPE.HASH_OF_MAPS: case MAP_TYPE.DEVMAP: case MAP_TYPE.DEVMAP_HASH: case MAP_TYPE.CPUMAP: case MAP_TYPE.XSKMAP:
    case MAP_TYPE.SOCKMAP: case MAP_TYPE.SOCKHASH: case MAP_TYPE.QUEUE: case MAP_TYPE.STACK: case MAP_TYPE.ARENA:
      return true;
    default:
      return false;
  }
}

/** Maps that hold no keys (push/pop semantics). */
export function isKeylessMapType(type: number): boolean {
  return type === MAP_TYPE.QUEUE || type === MAP_TYPE.STACK || type === MAP_TYPE.BLOOM_FILTER;
}
