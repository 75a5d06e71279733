// SPDX-License-Identifier: GPL-2.0
/* Programs the verifier refuses. They are in "?socket" sections, so they are not loaded unless a
 * test turns autoload on; the object's one good program loads either way.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

/* Accepted: returns the packet length (a socket filter sees the packet without its 14-byte
 * Ethernet header). */
SEC("socket")
int good_len(struct __sk_buff *skb)
{
	return skb->len;
}

/* Rejected: the lookup result may be NULL and is used unchecked
 * ("invalid mem access 'map_value_or_null'"). */
SEC("?socket")
int unchecked_lookup(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	return *v;
}

/* Rejected: a loop whose state never changes ("infinite loop detected"). */
SEC("?socket")
int endless_loop(struct __sk_buff *skb)
{
	volatile __u32 spin = 1;

	while (spin)
		;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
