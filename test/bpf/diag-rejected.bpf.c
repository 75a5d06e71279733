// SPDX-License-Identifier: GPL-2.0
/* Programs the verifier refuses, for the source-level diagnostics tests (test/diagnostics.test.ts).
 * All are in "?" sections (not loaded unless a test turns autoload on), except one good program.
 * The lines the verifier stops at carry a "DIAG:" marker that the tests look up.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("socket")
int good(struct __sk_buff *skb)
{
	return skb->len;
}

/* Rejected in the entry program: the lookup may return NULL. */
SEC("?socket")
int unchecked_lookup(struct __sk_buff *skb)
{
	__u32 key = skb->len & 3;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);

	return *v; /* DIAG: unchecked_lookup */
}

static __noinline __u64 twice(__u64 x)
{
	return x * 2;
}

/* The same mistake in a subprogram that is appended after another one. */
static __noinline __u64 read_count(__u32 key)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &key);

	return *v + 1; /* DIAG: read_count */
}

SEC("?socket")
int unchecked_in_subprog(struct __sk_buff *skb)
{
	return twice(skb->len) + read_count(skb->len & 3);
}

/* Rejected: reads byte 20 of a packet only checked to hold 14 bytes. */
SEC("?xdp")
int packet_oob(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;
	unsigned char *end = (void *)(long)ctx->data_end;

	if (data + 14 > end)
		return XDP_PASS;
	return data[20] == 0x45 ? XDP_DROP : XDP_PASS; /* DIAG: packet_oob */
}

/* Rejected: a loop whose state never changes ("infinite loop detected"). */
SEC("?socket")
int endless_loop(struct __sk_buff *skb)
{
	volatile __u32 spin = 1;

	while (spin) /* DIAG: endless_loop */
		;
	return 0;
}

/* Rejected: a loop bounded only by packet data, which the verifier cannot bound. */
SEC("?socket")
int unbounded_loop(struct __sk_buff *skb)
{
	__u64 sum = 0;

	for (__u32 i = 0; i < skb->len; i++) /* DIAG: unbounded_loop */
		sum += i * skb->protocol;
	return sum & 1;
}

char LICENSE[] SEC("license") = "GPL";
