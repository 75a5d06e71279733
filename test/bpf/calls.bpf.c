// SPDX-License-Identifier: GPL-2.0
/* Calls: bpf-to-bpf subprograms (static and global __noinline functions in .text, nested, shared by
 * entry programs in different sections), callbacks (bpf_loop, bpf_for_each_map_elem), and tail
 * calls through a prog_array initialised with `.values`. Several programs share the "tc" section.
 *
 * Input: a 64-byte packet that starts with struct test_input {key, aux, val}.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "test_input.h"

/* ---- subprograms ------------------------------------------------------------------------ */

static __noinline __u32 square(__u32 x)
{
	return x * x;
}

/* A global function: verified on its own, so it only takes scalars. */
__noinline int weighted_sum(int a, int b)
{
	return 3 * a + b;
}

/* Nested: calls a static and a global subprogram. */
static __noinline __u32 square_plus(__u32 x)
{
	return square(x) + (__u32)weighted_sum((int)x, 1);
}

/* A hidden global function: global linkage in the object, static for the verifier. */
__hidden __noinline int triple(int x)
{
	return x * 3;
}

/* ---- callbacks ---------------------------------------------------------------------------- */

struct loop_ctx {
	__u32 limit;
	__u64 sum;
};

static int loop_step(__u32 i, void *data)
{
	struct loop_ctx *c = data;

	if (i >= c->limit)
		return 1; /* stop */
	c->sum += square(i);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} numbers SEC(".maps");

struct walk_ctx {
	__u64 sum;
	__u32 visited;
};

static __u64 visit(struct bpf_map *map, __u32 *key, __u64 *val, struct walk_ctx *c)
{
	c->sum += *val * (*key + 1);
	c->visited += 1;
	return 0;
}

/* ---- tail calls ---------------------------------------------------------------------------- */

int tail_seen; /* .bss: the last tail program that ran */

SEC("tc")
int tail_zero(struct __sk_buff *skb)
{
	tail_seen = 100;
	return 100;
}

SEC("tc")
int tail_two(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	tail_seen = 102;
	return in ? 200 + (int)square(in->val & 0xff) : -1;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int(struct __sk_buff *));
} jump_table SEC(".maps") = {
	.values = { [0] = (void *)&tail_zero, [2] = (void *)&tail_two },
};

/* ---- entry programs --------------------------------------------------------------------- */

/* square_plus(val) */
SEC("tc")
int calc_nested(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	return (int)square_plus((__u32)in->val);
}

/* square(val) + 1, in the same section as calc_nested */
SEC("tc")
int calc_square(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	return (int)square((__u32)in->val) + 1;
}

/* weighted_sum(key, val) + triple(aux), from an XDP program: the result goes in the packet. */
SEC("xdp")
int calc_xdp(struct xdp_md *xdp)
{
	struct test_input *in = xdp_input(xdp);

	if (!in)
		return XDP_ABORTED;
	in->val = (__u64)(weighted_sum((int)in->key, (int)in->val) + triple((int)in->aux));
	return XDP_PASS;
}

/* The same subprograms from a socket filter (another program type). */
SEC("socket")
int calc_socket(struct __sk_buff *skb)
{
	return (int)square_plus(skb->len);
}

/* Sum of i*i for i < val (at most 64), through bpf_loop. */
SEC("tc")
int loop_squares(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	struct loop_ctx c = {};

	if (!in)
		return -1;
	c.limit = (__u32)in->val;
	bpf_loop(64, loop_step, &c, 0);
	return (int)c.sum;
}

/* numbers[i] = i * 10 + key for every i, then walks the map with bpf_for_each_map_elem and returns
 * visited * 10000 + sum(numbers[i] * (i + 1)) (aux != 0: only the walk, no writes). */
SEC("tc")
int walk_numbers(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	struct walk_ctx c = {};

	if (!in)
		return -1;
	if (!in->aux) {
		for (__u32 i = 0; i < 8; i++) {
			__u32 k = i;
			__u64 *v = bpf_map_lookup_elem(&numbers, &k);

			if (v)
				*v = i * 10 + in->key;
		}
	}
	bpf_for_each_map_elem(&numbers, visit, &c, 0);
	/* no branch on the counters: precise values would keep the verifier from converging */
	return (int)(c.visited * 10000 + c.sum);
}

/* Tail call to jump_table[key]; -7 when the slot is empty. */
SEC("tc")
int tail_entry(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	tail_seen = -1;
	bpf_tail_call(skb, &jump_table, in->key);
	return -7;
}

char LICENSE[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x060c00;
