// SPDX-License-Identifier: GPL-2.0
/* tc: an ingress packet counter.
 *
 * Attached to an interface's ingress (tcx, or a clsact qdisc on older kernels), it counts packets
 * and bytes by EtherType class in a .bss array, and lets every packet through.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define TC_ACT_OK 0
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_ARP 0x0806

enum { PROTO_IPV4, PROTO_IPV6, PROTO_ARP, PROTO_OTHER, PROTO_MAX };

__u64 packets[PROTO_MAX] = {};
__u64 bytes[PROTO_MAX] = {};

SEC("tc")
int tc_count_ingress(struct __sk_buff *skb)
{
	__u32 i;

	switch (bpf_ntohs(skb->protocol)) {
	case ETH_P_IP: i = PROTO_IPV4; break;
	case ETH_P_IPV6: i = PROTO_IPV6; break;
	case ETH_P_ARP: i = PROTO_ARP; break;
	default: i = PROTO_OTHER;
	}
	__sync_fetch_and_add(&packets[i], 1);
	__sync_fetch_and_add(&bytes[i], skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
