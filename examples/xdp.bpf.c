// SPDX-License-Identifier: GPL-2.0
/* xdp: packets and bytes per source address.
 *
 * Parses Ethernet, then IPv4 or IPv6, and counts each packet under its source address (IPv4 as
 * an IPv4-mapped IPv6 address, ::ffff:a.b.c.d) in an LRU hash. Every packet passes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

struct src_key {
	__u8 addr[16];
};

struct src_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct src_key);
	__type(value, struct src_stats);
} sources SEC(".maps");

SEC("xdp")
int xdp_count_src(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct src_key key = {};
	struct src_stats *st, init = { 1, 0 };
	__u64 len = data_end - data;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &ip->saddr, 4);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		__builtin_memcpy(&key.addr, &ip6->saddr, 16);
	} else {
		return XDP_PASS;
	}

	st = bpf_map_lookup_elem(&sources, &key);
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, len);
	} else {
		init.bytes = len;
		bpf_map_update_elem(&sources, &key, &init, BPF_NOEXIST);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
