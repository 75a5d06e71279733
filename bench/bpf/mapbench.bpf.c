// SPDX-License-Identifier: GPL-2.0
/* The maps of the map-operation benchmark: a preallocated hash and an array with the same key and
 * value sizes (u32 key, 32-byte value), sized for the benchmark's element count. The loader may
 * change max_entries before load; both sides (tsbpf and libbpf) load their own copy.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct value32 {
	__u64 a, b, c, d;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 100000);
	__type(key, __u32);
	__type(value, struct value32);
} bench_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 100000);
	__type(key, __u32);
	__type(value, struct value32);
} bench_array SEC(".maps");

/* A trivial program so that the object has one (some loaders dislike map-only objects). */
SEC("socket")
int touch(struct __sk_buff *skb)
{
	__u32 k = 0;
	struct value32 *v = bpf_map_lookup_elem(&bench_array, &k);

	if (v)
		__sync_fetch_and_add(&v->a, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
