// SPDX-License-Identifier: GPL-2.0
/* Networking programs for the attach tests; each counts what it sees in .bss. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

__u64 xdp_hits;
__u64 xdp2_hits;
__u64 tcx_hits;
__u64 tcx2_hits;
__u64 tc_hits;
__u64 sock_hits;
__u64 lookup_hits;
__u64 flow_hits;
__u64 nf_hits;
__u64 msg_hits;
/* The order two tcx programs ran in: the first one writes 1, the second 2, the next packet resets. */
__u64 order_first;
__u64 order_second;

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&xdp_hits, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_count2(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&xdp2_hits, 1);
	return XDP_PASS;
}

/* TCX_NEXT (-1): let the next program (or the stack) decide. */
SEC("tcx/ingress")
int tcx_count(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&tcx_hits, 1);
	if (!order_first)
		order_first = 1;
	else if (!order_second)
		order_second = 1;
	return -1;
}

SEC("tcx/ingress")
int tcx_count2(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&tcx2_hits, 1);
	if (!order_first)
		order_first = 2;
	else if (!order_second)
		order_second = 2;
	return -1;
}

SEC("tc")
int tc_count(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&tc_hits, 1);
	return TC_ACT_OK;
}

SEC("socket")
int sock_count(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&sock_hits, 1);
	return skb->len;
}

SEC("socket")
int sock_drop(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&sock_hits, 1);
	return 0;
}

SEC("sk_lookup")
int lookup_count(struct bpf_sk_lookup *ctx)
{
	__sync_fetch_and_add(&lookup_hits, 1);
	return SK_PASS;
}

SEC("flow_dissector")
int flow_dissect(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&flow_hits, 1);
	return BPF_FLOW_DISSECTOR_CONTINUE;
}

SEC("netfilter")
int nf_count(void *ctx)
{
	__sync_fetch_and_add(&nf_hits, 1);
	return 1; /* NF_ACCEPT */
}

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

SEC("sk_msg")
int msg_count(struct sk_msg_md *msg)
{
	__sync_fetch_and_add(&msg_hits, 1);
	return SK_PASS;
}

SEC("sk_skb/stream_verdict")
int skb_verdict(struct __sk_buff *skb)
{
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
