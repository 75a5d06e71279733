// SPDX-License-Identifier: GPL-2.0
/* Producers for bench/events.ts (and the event-stream tests' burst cases): raw_tp programs run with
 * BPF_PROG_TEST_RUN that emit args[0] records of 64 bytes with bpf_loop, into a ring buffer or a perf
 * event array. Records carry a sequence number (so the consumer can check order and loss) and, when
 * args[1] is non-zero, bpf_ktime_get_ns() (CLOCK_MONOTONIC, the clock process.hrtime reads) for
 * wake-up latency measurements. Failed reservations/outputs are counted in .bss: those are the drops
 * the kernel reports; any other missing record is a consumer bug.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pb SEC(".maps");

struct rec {
	__u64 seq;
	__u64 ts;
	__u64 pad[6];
};

__u64 rb_seq;
__u64 rb_drops;
__u64 pb_seq;
__u64 pb_drops;

struct loop_ctx {
	void *raw_ctx;
	__u64 with_ts;
};

static long rb_one(__u32 i, struct loop_ctx *lc)
{
	struct rec *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);

	if (!r) {
		__sync_fetch_and_add(&rb_drops, 1);
		return 0;
	}
	r->seq = rb_seq++;
	r->ts = lc->with_ts ? bpf_ktime_get_ns() : 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

/* args[0]: record count, args[1]: non-zero to timestamp each record. */
SEC("raw_tp")
int rb_produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct loop_ctx lc = { .raw_ctx = ctx, .with_ts = ctx->args[1] };

	bpf_loop(ctx->args[0], rb_one, &lc, 0);
	return 0;
}

static long pb_one(__u32 i, struct loop_ctx *lc)
{
	struct rec r = {};

	r.seq = pb_seq;
	r.ts = lc->with_ts ? bpf_ktime_get_ns() : 0;
	if (bpf_perf_event_output(lc->raw_ctx, &pb, BPF_F_CURRENT_CPU, &r, sizeof(r)))
		__sync_fetch_and_add(&pb_drops, 1);
	pb_seq++;
	return 0;
}

SEC("raw_tp")
int pb_produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct loop_ctx lc = { .raw_ctx = ctx, .with_ts = ctx->args[1] };

	bpf_loop(ctx->args[0], pb_one, &lc, 0);
	return 0;
}
