// SPDX-License-Identifier: GPL-2.0
/* Instruction variety for the disassembler tests (test/disasm.test.ts), compiled with -mcpu=v3:
 * atomics with and without fetch, xchg/cmpxchg, 32-bit ALU and jumps, byte swaps, signed shifts,
 * a bpf-to-bpf call, a callback address, map and global-data references, bpftool metadata. Loads as a
 * socket filter.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} slots SEC(".maps");

__u64 counter;
__u32 small;

/* bpftool shows bpf_metadata_* variables of a program's .rodata as its metadata. */
const volatile char bpf_metadata_owner[] = "tsbpf";
const volatile int bpf_metadata_level = 3;

static __noinline __u32 mix(__u32 a, __u32 b)
{
	return (a ^ (b << 7)) + (a >> 3);
}

static long visit(struct bpf_map *map, __u32 *key, __u64 *val, void *ctx)
{
	__sync_fetch_and_add(val, *key);
	return 0;
}

SEC("socket")
int isa_mix(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&slots, &key);
	__s32 s = (__s32)skb->len - 100;
	__u32 w = skb->len;
	__u64 r = 0;

	if (!v)
		return 0;
	__sync_fetch_and_add(v, 1);
	__sync_fetch_and_or(v, 2);
	__sync_fetch_and_and(v, ~4ULL);
	__sync_fetch_and_xor(v, 8);
	r += __sync_fetch_and_add(&counter, 3);
	r += __sync_lock_test_and_set(&counter, 5);
	r += __sync_val_compare_and_swap(&counter, 5, 6);
	__sync_fetch_and_add(&small, 1);
	r += __sync_fetch_and_or(&small, 2);
	if (w > 7 && (s >> 2) < -3)
		r += bpf_htonl(w) + bpf_htons((__u16)w) + bpf_be64_to_cpu(r);
	r += mix(w, (__u32)s);
	bpf_for_each_map_elem(&slots, visit, 0, 0);
	return (int)(r & 0x7fffffff) + bpf_metadata_level + bpf_metadata_owner[0];
}

char LICENSE[] SEC("license") = "GPL";
