// SPDX-License-Identifier: GPL-2.0
/* Perf event array producer for test/perfbuf.test.ts, run with BPF_PROG_TEST_RUN (optionally pinned
 * to a CPU with BPF_F_TEST_RUN_ON_CPU). Records: u32 seq, u32 size, u32 cpu, then byte i =
 * (seq + i) & 0xff for i in [12, size). Failed outputs (buffer full) are counted in `failed`; the
 * kernel reports the same samples as PERF_RECORD_LOST once there is room again.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define MAX_REC 1024

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, MAX_REC);
} scratch SEC(".maps");

__u64 failed;
__u64 sent;

struct emit_ctx {
	void *raw;
	__u64 size;
	__u64 seq0;
};

static long one(__u32 i, struct emit_ctx *c)
{
	__u32 key = 0;
	__u8 *buf = bpf_map_lookup_elem(&scratch, &key);
	__u32 seq = c->seq0 + i;
	__u32 size = c->size ? c->size : 12 + (seq * 53) % 700;

	if (!buf)
		return 1;
	if (size > MAX_REC)
		size = MAX_REC;
	if (size < 12)
		size = 12;
	*(__u32 *)buf = seq;
	*(__u32 *)(buf + 4) = size;
	*(__u32 *)(buf + 8) = bpf_get_smp_processor_id();
	for (__u32 j = 12; j < MAX_REC; j++) {
		if (j >= size)
			break;
		buf[j] = (seq + j) & 0xff;
	}
	if (bpf_perf_event_output(c->raw, &events, BPF_F_CURRENT_CPU, buf, size))
		__sync_fetch_and_add(&failed, 1);
	else
		__sync_fetch_and_add(&sent, 1);
	return 0;
}

/* args: [0] count, [1] size (0: varies with seq), [2] first seq */
SEC("raw_tp")
int perf_emit(struct bpf_raw_tracepoint_args *ctx)
{
	struct emit_ctx c = { .raw = ctx, .size = ctx->args[1], .seq0 = ctx->args[2] };

	bpf_loop(ctx->args[0], one, &c, 0);
	return 0;
}
