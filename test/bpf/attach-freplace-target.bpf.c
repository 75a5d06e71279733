// SPDX-License-Identifier: GPL-2.0
/* The target of the freplace tests: an XDP program whose verdict comes from a global subprogram. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 calls;

__attribute__((noinline)) int decide(struct xdp_md *ctx)
{
	calls++;
	return ctx ? XDP_PASS : XDP_ABORTED;
}

SEC("xdp")
int xdp_target(struct xdp_md *ctx)
{
	return decide(ctx);
}

char LICENSE[] SEC("license") = "GPL";
