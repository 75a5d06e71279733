// SPDX-License-Identifier: GPL-2.0
/* Global variables in every kind of global data section: .data, .rodata (const volatile, set by the
 * loader's user before load), .bss, .data.custom, .rodata.custom, .rodata.str1.1 (string literals),
 * arrays and structs, and static / hidden variables.
 *
 * Input: a 64-byte packet that starts with struct test_input {key, aux, val}.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "test_input.h"

struct point {
	__u32 x;
	__u16 y;
	__u8 tag;
	__u64 weight;
};

/* .rodata: configuration; tests overwrite these before load. */
const volatile __u32 cfg_mult = 3;
const volatile __u64 cfg_add = 100;
const volatile __u8 cfg_table[8] = { 1, 2, 3, 5, 8, 13, 21, 34 };
const volatile struct point cfg_origin = { .x = 7, .y = 8, .tag = 9, .weight = 10 };

/* .data */
__u64 counter = 1000;
__u32 data_arr[4] = { 10, 20, 30, 40 };
struct point data_point = { .x = 1, .y = 2, .tag = 3, .weight = 4 };

/* .bss */
__u64 last_input;
struct point bss_point;
__u8 bss_buf[32];

/* .data.custom / .rodata.custom */
__u32 custom_data SEC(".data.custom") = 0xc0ffee;
__u64 custom_data2 SEC(".data.custom") = 5;
const volatile __u32 custom_ro SEC(".rodata.custom") = 42;

/* Static (local symbol) and hidden (__hidden, global but not exported) variables. */
static __u64 static_calls;
__hidden __u32 hidden_total = 50;

/* y = x * cfg_mult + cfg_add; remembers x, bumps counters and data_arr[x % 4]; returns y. */
SEC("tc")
int compute(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	__u64 x = in->val;
	last_input = x;
	counter += 1;
	static_calls += 1;
	hidden_total += (__u32)x;
	data_arr[x & 3] += (__u32)x;
	return (int)(x * cfg_mult + cfg_add);
}

/* Copies the first 32 packet bytes into bss_buf and data_point into bss_point (with tag + 1). */
SEC("tc")
int copy_in(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (data + sizeof(bss_buf) > end)
		return -1;
	__builtin_memcpy(bss_buf, data, sizeof(bss_buf));
	bss_point = data_point;
	bss_point.tag += 1;
	return (int)sizeof(bss_buf);
}

/* Returns cfg_table[key % 8] + cfg_origin.x + cfg_origin.weight + custom_ro. */
SEC("tc")
int read_config(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	return cfg_table[in->key & 7] + cfg_origin.x + (int)cfg_origin.weight + custom_ro;
}

/* custom_data ^= key, custom_data2 += val; returns custom_data + custom_data2 (low 32 bits). */
SEC("tc")
int touch_custom(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	custom_data ^= in->key;
	custom_data2 += in->val;
	return (int)(custom_data + custom_data2);
}

/* Returns character key % 32 of a string literal (which lives in .rodata.str1.1). */
SEC("tc")
int string_char(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	const char *s = "tsbpf: strings in .rodata.str1.1";

	if (!in)
		return -1;
	return s[in->key & 31];
}

/* XDP: writes {counter, static_calls, hidden_total, cfg_mult} over the packet start. */
SEC("xdp")
int report(struct xdp_md *xdp)
{
	void *data = (void *)(long)xdp->data;
	void *end = (void *)(long)xdp->data_end;
	__u64 *out = data;

	if ((void *)(out + 4) > end)
		return XDP_ABORTED;
	out[0] = counter;
	out[1] = static_calls;
	out[2] = hidden_total;
	out[3] = cfg_mult;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
