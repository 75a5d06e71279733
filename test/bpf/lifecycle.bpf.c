// SPDX-License-Identifier: GPL-2.0
/* Object lifecycle: a map pinned by name (LIBBPF_PIN_BY_NAME), a resizable array, global data, and a
 * program the verifier refuses once autoload is switched on (after the maps were created).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sized SEC(".maps");

__u64 runs;

/* Counts runs in .bss and in the pinned map's key 1; returns the map's new count. */
SEC("socket")
int count_run(struct __sk_buff *skb)
{
	__u32 key = 1;
	__u64 one = 1, *v;

	runs++;
	v = bpf_map_lookup_elem(&shared_counts, &key);
	if (!v) {
		bpf_map_update_elem(&shared_counts, &key, &one, BPF_ANY);
		return 1;
	}
	__sync_fetch_and_add(v, 1);
	return *v;
}

/* Rejected by the verifier: an unchecked lookup result. */
SEC("?socket")
int refused(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&shared_counts, &key);

	return *v;
}

char LICENSE[] SEC("license") = "GPL";
