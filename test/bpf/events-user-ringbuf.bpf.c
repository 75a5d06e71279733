// SPDX-License-Identifier: GPL-2.0
/* User ring buffer consumer for test/ringbuf-user.test.ts: `drain` (a syscall program, run with
 * BPF_PROG_TEST_RUN) drains up to `limit` samples with bpf_user_ringbuf_drain. Samples start with
 * struct sample; the program counts them, sums `value`, checks `size` against the dynptr's size and
 * remembers the order of the first 64 values.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 8192);
} urb SEC(".maps");

struct sample {
	__u64 value;
	__u32 size; /* what user space reserved: the whole sample's size */
	__u32 tag;
};

__u64 drained;
__u64 sum;
__u64 size_mismatch;
__u64 read_errors;
__s64 last_ret;
__u64 order[64];

static long on_sample(struct bpf_dynptr *dynptr, void *ctx)
{
	struct sample s;
	__u64 n;

	if (bpf_dynptr_read(&s, sizeof(s), dynptr, 0, 0)) {
		__sync_fetch_and_add(&read_errors, 1);
		return 0;
	}
	n = drained;
	if (n < 64)
		order[n] = s.value;
	drained = n + 1;
	sum += s.value;
	/* The last byte of the sample is its tag's low byte: proves the whole sample arrived. */
	if (s.size >= sizeof(s)) {
		__u8 last = 0;

		if (s.size > 4096 || bpf_dynptr_read(&last, 1, dynptr, s.size - 1, 0) || last != (__u8)s.tag)
			__sync_fetch_and_add(&size_mismatch, 1);
	}
	return 0;
}

SEC("syscall")
int drain(void *ctx)
{
	last_ret = bpf_user_ringbuf_drain(&urb, on_sample, (void *)0, 0);
	return 0;
}
