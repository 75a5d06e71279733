// SPDX-License-Identifier: GPL-2.0
/* freplace programs: replace decide() of attach-freplace-target.bpf.c. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 replaced;

SEC("freplace/decide")
int new_decide(struct xdp_md *ctx)
{
	replaced++;
	return XDP_DROP;
}

SEC("freplace")
int tx_decide(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
