// SPDX-License-Identifier: GPL-2.0
/* Six programs whose verification dominates their load: each walks a 3000-iteration bounded loop
 * with a map lookup, which the verifier explores step by step (tens of ms each). bench/core.ts
 * loads it to compare verification that runs one program at a time (libbpf, loadSync()) with
 * tsbpf's load(), which verifies the programs concurrently on the libuv threadpool; and
 * test/errors.test.ts, under a sampling profiler whose SIGPROF interrupts verification that long.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

#define HEAVY(N)							\
SEC("socket")								\
int heavy##N(struct __sk_buff *skb)					\
{									\
	__u64 acc = 0;							\
	for (int i = 0; i < 3000; i++) {				\
		__u32 k = (i * 7 + N) & 63;				\
		__u64 *v = bpf_map_lookup_elem(&arr, &k);		\
		if (v)							\
			acc += *v ^ i;					\
		if (acc > 1000000 + N)					\
			break;						\
	}								\
	return acc & 1;							\
}

HEAVY(1)
HEAVY(2)
HEAVY(3)
HEAVY(4)
HEAVY(5)
HEAVY(6)

char LICENSE[] SEC("license") = "GPL";
