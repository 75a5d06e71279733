// SPDX-License-Identifier: GPL-2.0
/* struct_ops maps and programs (test/struct-ops.test.ts): tcp_congestion_ops with and without
 * programs, a .struct_ops.link pair for link updates, a map that is not created by default, and
 * bpf_dummy_ops (which the kernel does not let BPF register).
 * -DREF_ONLY keeps only the .struct_ops maps, which libbpf 1.1 (the reference harness) understands.
 * -DUNREFERENCED adds a struct_ops program no map points to. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char _license[] SEC("license") = "GPL";

#define TCP_CONG_NON_RESTRICTED 0x1

SEC("struct_ops/so_ssthresh")
__u32 BPF_PROG(so_ssthresh, struct sock *sk)
{
	return 2;
}

SEC("struct_ops/so_undo_cwnd")
__u32 BPF_PROG(so_undo_cwnd, struct sock *sk)
{
	return 10;
}

SEC("struct_ops/so_cong_avoid")
void BPF_PROG(so_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
}

SEC(".struct_ops")
struct tcp_congestion_ops cc_full = {
	.ssthresh = (void *)so_ssthresh,
	.undo_cwnd = (void *)so_undo_cwnd,
	.cong_avoid = (void *)so_cong_avoid,
	.flags = TCP_CONG_NON_RESTRICTED,
	.name = "tsbpf_so_full",
};

/* No programs: the kernel's validation refuses it at registration (ssthresh is required). */
SEC(".struct_ops")
struct tcp_congestion_ops cc_noprog = {
	.flags = TCP_CONG_NON_RESTRICTED,
	.name = "tsbpf_so_noprog",
};

SEC(".struct_ops")
struct bpf_dummy_ops dummy = {};

#ifndef REF_ONLY
SEC("struct_ops.s/so_sleepable_undo")
__u32 BPF_PROG(so_undo_cwnd2, struct sock *sk)
{
	return 20;
}

SEC("struct_ops/so_off_only")
__u32 BPF_PROG(so_off_only, struct sock *sk)
{
	return 3;
}

SEC(".struct_ops.link")
struct tcp_congestion_ops cc_link = {
	.ssthresh = (void *)so_ssthresh,
	.undo_cwnd = (void *)so_undo_cwnd,
	.cong_avoid = (void *)so_cong_avoid,
	.name = "tsbpf_so_link",
};

/* The kernel replaces a tcp_congestion_ops only by one of the same name. */
SEC(".struct_ops.link")
struct tcp_congestion_ops cc_link2 = {
	.ssthresh = (void *)so_ssthresh,
	.undo_cwnd = (void *)so_undo_cwnd2,
	.cong_avoid = (void *)so_cong_avoid,
	.name = "tsbpf_so_link",
};

/* Another name: the kernel refuses to switch a link from cc_link to it. */
SEC(".struct_ops.link")
struct tcp_congestion_ops cc_link3 = {
	.ssthresh = (void *)so_ssthresh,
	.undo_cwnd = (void *)so_undo_cwnd,
	.cong_avoid = (void *)so_cong_avoid,
	.name = "tsbpf_so_other",
};

SEC(".struct_ops.link")
struct bpf_dummy_ops dummy2 = {};

/* Not created unless asked: so_off_only, used only here, is not loaded either. */
SEC("?.struct_ops")
struct tcp_congestion_ops cc_off = {
	.ssthresh = (void *)so_off_only,
	.undo_cwnd = (void *)so_undo_cwnd,
	.cong_avoid = (void *)so_cong_avoid,
	.name = "tsbpf_so_off",
};
#endif

#ifdef UNREFERENCED
SEC("struct_ops/so_unused")
__u32 BPF_PROG(so_unused, struct sock *sk)
{
	return 1;
}
#endif

#ifdef BAD_PROG
SEC("xdp")
int not_struct_ops(struct xdp_md *ctx)
{
	return 2;
}

SEC(".struct_ops")
struct tcp_congestion_ops cc_bad = {
	.ssthresh = (void *)not_struct_ops,
	.name = "tsbpf_so_bad",
};
#endif
