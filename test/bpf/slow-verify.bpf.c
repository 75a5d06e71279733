// SPDX-License-Identifier: GPL-2.0
/* One program whose verification takes tens of milliseconds: a 3000-iteration bounded loop with a
 * map lookup, which the verifier walks step by step. test/errors.test.ts loads it under a sampling
 * profiler, whose SIGPROF every 50 µs interrupts any verification that long (EAGAIN).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

SEC("socket")
int slow_verify(struct __sk_buff *skb)
{
	__u64 acc = 0;

	for (int i = 0; i < 3000; i++) {
		__u32 k = (i * 7) & 63;
		__u64 *v = bpf_map_lookup_elem(&arr, &k);

		if (v)
			acc += *v ^ i;
		if (acc > 1000000)
			break;
	}
	return acc & 1;
}

char LICENSE[] SEC("license") = "GPL";
