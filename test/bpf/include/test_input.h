/* Shared by the test programs: the input record that tests put at the start of a test_run packet. */
#ifndef TSBPF_TEST_INPUT_H
#define TSBPF_TEST_INPUT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* 16 bytes at offset 0 of the packet (the tests send 64-byte packets; tc/xdp need >= 14). */
struct test_input {
	__u32 key;
	__u32 aux;
	__u64 val;
};

/* The input record of a tc (SCHED_CLS) program's packet, or NULL if the packet is too short. */
static __always_inline struct test_input *tc_input(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct test_input *in = data;

	if ((void *)(in + 1) > end)
		return 0;
	return in;
}

/* The same for an XDP program. */
static __always_inline struct test_input *xdp_input(struct xdp_md *xdp)
{
	void *data = (void *)(long)xdp->data;
	void *end = (void *)(long)xdp->data_end;
	struct test_input *in = data;

	if ((void *)(in + 1) > end)
		return 0;
	return in;
}

#endif
