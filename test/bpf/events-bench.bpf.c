// SPDX-License-Identifier: GPL-2.0
/* Producers for bench/events.ts (and the event-stream tests' burst cases): raw_tp programs run with
 * BPF_PROG_TEST_RUN that emit args[0] records of 64 bytes with bpf_loop, into a ring buffer or a perf
 * event array. Records carry a sequence number (so the consumer can check order and loss) and, when
 * args[1] is non-zero, bpf_ktime_get_ns() (CLOCK_MONOTONIC, the clock process.hrtime reads) for
 * wake-up latency measurements. Failed reservations/outputs are counted in .bss: those are the drops
 * the kernel reports; any other missing record is a consumer bug.
 *
 * With args[2] non-zero the producer waits for room instead of dropping: it stops at the first record
 * that does not fit (counted in *_full, not in *_drops) and returns how many it emitted, so that the
 * caller can run it again for the rest. That is the end-to-end benchmark's no-drop mode: every record
 * is delivered on both sides, so their rates compare like with like.
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
__u64 rb_full;
__u64 pb_full;

struct loop_ctx {
	void *raw_ctx;
	__u64 with_ts;
	__u64 until_full;
	__u64 wake_every;
	__u32 count;
	__u32 sent;
};

static long rb_one(__u32 i, struct loop_ctx *lc)
{
	struct rec *r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	__u64 flags;

	if (!r) {
		if (lc->until_full) {
			__sync_fetch_and_add(&rb_full, 1);
			return 1;
		}
		__sync_fetch_and_add(&rb_drops, 1);
		return 0;
	}
	r->seq = rb_seq++;
	r->ts = lc->with_ts ? bpf_ktime_get_ns() : 0;
	flags = 0;
	if (lc->wake_every)
		flags = r->seq % lc->wake_every == lc->wake_every - 1 || i == lc->count - 1 ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(r, flags);
	lc->sent++;
	return 0;
}

/* args[0]: record count, args[1]: non-zero to timestamp each record, args[2]: non-zero to stop when
 * the ring is full, args[3]: 0 for the kernel's wake-up policy (a consumer that has caught up is woken
 * by the next record), or N to wake the consumer every N records and at the end of the call only (the
 * batched notification high-rate producers use). Returns the number of records emitted.
 */
SEC("raw_tp")
int rb_produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct loop_ctx lc = {
		.raw_ctx = ctx, .with_ts = ctx->args[1], .until_full = ctx->args[2], .wake_every = ctx->args[3],
		.count = ctx->args[0],
	};

	bpf_loop(ctx->args[0], rb_one, &lc, 0);
	return lc.sent;
}

static long pb_one(__u32 i, struct loop_ctx *lc)
{
	struct rec r = {};

	r.seq = pb_seq;
	r.ts = lc->with_ts ? bpf_ktime_get_ns() : 0;
	if (bpf_perf_event_output(lc->raw_ctx, &pb, BPF_F_CURRENT_CPU, &r, sizeof(r))) {
		/* The kernel counts the failure as lost either way and reports it in a PERF_RECORD_LOST:
		 * with until_full the record is sent again later, so those reports are not losses. */
		if (lc->until_full) {
			__sync_fetch_and_add(&pb_full, 1);
			return 1;
		}
		__sync_fetch_and_add(&pb_drops, 1);
	} else {
		lc->sent++;
	}
	pb_seq++;
	return 0;
}

SEC("raw_tp")
int pb_produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct loop_ctx lc = { .raw_ctx = ctx, .with_ts = ctx->args[1], .until_full = ctx->args[2] };

	bpf_loop(ctx->args[0], pb_one, &lc, 0);
	return lc.sent;
}
