// SPDX-License-Identifier: GPL-2.0
/* Ring buffer producers for test/ringbuf.test.ts. raw_tp programs are run with BPF_PROG_TEST_RUN
 * (their ctx is the u64 args array), on_sys_enter is attached to the sys_enter raw tracepoint.
 *
 * Variable-size records (emit_var, bpf_ringbuf_output): u32 seq, u32 size, then byte i = (seq + i) & 0xff
 * for i in [8, size). Fixed records (emit_fixed, reserve + submit/discard): struct fixed_rec; every
 * `discard_every`-th sequence number is reserved and then discarded, so the consumer must never see it.
 * Failed reservations/outputs are counted in `dropped`: the only records allowed to go missing.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_VAR 512

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16384);
} rb_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} rb_big SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, MAX_VAR);
} scratch SEC(".maps");

/* Not a ring buffer: for the wrong-map-type test. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} not_a_ring SEC(".maps");

struct fixed_rec {
	__u64 seq;
	__u64 ring;
	__u64 marker;
};

__u64 dropped;
__u64 emitted;
__u32 target_pid;

struct var_ctx {
	__u64 which;
	__u64 size;
	__u64 seq0;
};

static __always_inline void *ring_of(__u64 which)
{
	if (which == 1)
		return &rb_b;
	if (which == 2)
		return &rb_big;
	return &rb_a;
}

static long var_one(__u32 i, struct var_ctx *c)
{
	__u32 key = 0;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &key);
	__u32 seq = c->seq0 + i;
	__u32 size = c->size ? c->size : 8 + (seq * 37) % 300;
	long err;

	if (!buf)
		return 1;
	if (size > MAX_VAR)
		size = MAX_VAR;
	if (size < 8)
		size = 8;
	*(__u32 *)buf = seq;
	*(__u32 *)(buf + 4) = size;
	for (__u32 j = 8; j < MAX_VAR; j++) {
		if (j >= size)
			break;
		buf[j] = (seq + j) & 0xff;
	}
	if (c->which == 1)
		err = bpf_ringbuf_output(&rb_b, buf, size, 0);
	else if (c->which == 2)
		err = bpf_ringbuf_output(&rb_big, buf, size, 0);
	else
		err = bpf_ringbuf_output(&rb_a, buf, size, 0);
	if (err)
		__sync_fetch_and_add(&dropped, 1);
	else
		__sync_fetch_and_add(&emitted, 1);
	return 0;
}

/* args: [0] ring (0 rb_a, 1 rb_b, 2 rb_big), [1] count, [2] size (0: varies with seq), [3] first seq */
SEC("raw_tp")
int emit_var(struct bpf_raw_tracepoint_args *ctx)
{
	struct var_ctx c = { .which = ctx->args[0], .size = ctx->args[2], .seq0 = ctx->args[3] };

	bpf_loop(ctx->args[1], var_one, &c, 0);
	return 0;
}

struct fixed_ctx {
	__u64 which;
	__u64 discard_every;
	__u64 seq0;
};

static __always_inline struct fixed_rec *reserve_fixed(__u64 which)
{
	if (which == 1)
		return bpf_ringbuf_reserve(&rb_b, sizeof(struct fixed_rec), 0);
	if (which == 2)
		return bpf_ringbuf_reserve(&rb_big, sizeof(struct fixed_rec), 0);
	return bpf_ringbuf_reserve(&rb_a, sizeof(struct fixed_rec), 0);
}

static long fixed_one(__u32 i, struct fixed_ctx *c)
{
	__u64 seq = c->seq0 + i;
	struct fixed_rec *r = reserve_fixed(c->which);

	if (!r) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	r->seq = seq;
	r->ring = c->which;
	r->marker = 0x5a5a5a5a5a5a5a5aULL;
	if (c->discard_every && seq % c->discard_every == 0) {
		bpf_ringbuf_discard(r, 0);
	} else {
		bpf_ringbuf_submit(r, 0);
		__sync_fetch_and_add(&emitted, 1);
	}
	return 0;
}

/* args: [0] ring, [1] count, [2] discard every n-th seq (0: none), [3] first seq */
SEC("raw_tp")
int emit_fixed(struct bpf_raw_tracepoint_args *ctx)
{
	struct fixed_ctx c = { .which = ctx->args[0], .discard_every = ctx->args[2], .seq0 = ctx->args[3] };

	bpf_loop(ctx->args[1], fixed_one, &c, 0);
	return 0;
}

/* Real events: one record per system call entered by target_pid. */
SEC("raw_tp/sys_enter")
int on_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct fixed_rec *r;

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	r = bpf_ringbuf_reserve(&rb_a, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	r->seq = ctx->args[1]; /* the system call number */
	r->ring = target_pid;
	r->marker = 0x5a5a5a5a5a5a5a5aULL;
	bpf_ringbuf_submit(r, 0);
	return 0;
}
