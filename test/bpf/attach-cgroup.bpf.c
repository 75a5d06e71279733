// SPDX-License-Identifier: GPL-2.0
/* cgroup programs for the attach tests; each counts what it sees in .bss and allows everything. */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

__u64 egress_hits;
__u64 egress2_hits;
__u64 ingress_hits;
__u64 sock_hits;

SEC("cgroup_skb/egress")
int skb_egress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&egress_hits, 1);
	return 1;
}

SEC("cgroup_skb/egress")
int skb_egress2(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&egress2_hits, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int skb_ingress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&ingress_hits, 1);
	return 1;
}

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *sk)
{
	__sync_fetch_and_add(&sock_hits, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
