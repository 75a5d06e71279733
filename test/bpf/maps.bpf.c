// SPDX-License-Identifier: GPL-2.0
/* BTF-defined maps of (almost) every kind, and small programs that use them, so that a test can see
 * through BPF_PROG_TEST_RUN results and map dumps that each map was created right.
 *
 * Input: a 64-byte packet that starts with struct test_input {key, aux, val}.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "test_input.h"

/* ---- plain key/value maps ------------------------------------------------------------------ */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} array_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} lru_percpu_hash SEC(".maps");

struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} lpm_trie SEC(".maps");

/* ---- keyless maps -------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u64);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 8);
	__type(value, __u64);
} stack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 32);
	__uint(map_extra, 3); /* number of hash functions */
	__type(value, __u64);
} bloom SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 4096);
} user_ringbuf SEC(".maps");

/* max_entries left out: the loader sets it to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 16 * sizeof(__u64));
} stack_traces SEC(".maps");

/* ---- maps of maps -------------------------------------------------------------------------- */

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_array SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_hash SEC(".maps") = {
	.values = { [3] = &inner_b },
};

/* An outer map whose inner map is only a template (no initial slots). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct {
		__uint(type, BPF_MAP_TYPE_HASH);
		__uint(max_entries, 2);
		__type(key, __u32);
		__type(value, __u32);
	});
} outer_template SEC(".maps");

/* ---- local storage, network maps (created, mostly not used) -------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} sk_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} task_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} inode_storage SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} devmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} devmap_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpumap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sockmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} sockhash SEC(".maps");

/* ---- programs ------------------------------------------------------------------------------ */

/* hash_map[key] += val (inserting it); returns the new value. */
SEC("tc")
int hash_add(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	__u64 *v;

	if (!in)
		return -1;
	__u32 key = in->key;
	__u64 val = in->val;
	v = bpf_map_lookup_elem(&hash_map, &key);
	if (v) {
		__sync_fetch_and_add(v, val);
		return (int)*v;
	}
	if (bpf_map_update_elem(&hash_map, &key, &val, BPF_NOEXIST))
		return -2;
	return (int)val;
}

/* array_map[key] = val; returns the old value (-1 if key is out of range). */
SEC("tc")
int array_swap(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	__u64 *v, old;

	if (!in)
		return -1;
	__u32 key = in->key;
	v = bpf_map_lookup_elem(&array_map, &key);
	if (!v)
		return -1;
	old = *v;
	*v = in->val;
	return (int)old;
}

/* percpu_hash[key] += val and percpu_array[key % 4] += val. */
SEC("tc")
int percpu_add(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	__u64 *v;

	if (!in)
		return -1;
	__u32 key = in->key;
	__u64 val = in->val;
	v = bpf_map_lookup_elem(&percpu_hash, &key);
	if (v)
		*v += val;
	else
		bpf_map_update_elem(&percpu_hash, &key, &val, BPF_NOEXIST);
	key &= 3;
	v = bpf_map_lookup_elem(&percpu_array, &key);
	if (!v)
		return -1;
	*v += val;
	return 0;
}

/* lru_hash[key] += val and lru_percpu_hash[key] += val; returns lru_hash's new value. */
SEC("tc")
int lru_add(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	__u64 *v, *pv, ret;

	if (!in)
		return -1;
	__u32 key = in->key;
	__u64 val = in->val;
	v = bpf_map_lookup_elem(&lru_hash, &key);
	if (v) {
		*v += val;
		ret = *v;
	} else {
		bpf_map_update_elem(&lru_hash, &key, &val, BPF_NOEXIST);
		ret = val;
	}
	pv = bpf_map_lookup_elem(&lru_percpu_hash, &key);
	if (pv)
		*pv += val;
	else
		bpf_map_update_elem(&lru_percpu_hash, &key, &val, BPF_NOEXIST);
	return (int)ret;
}

/* lpm_trie[aux-bit prefix of key's 4 bytes] = val. */
SEC("tc")
int lpm_insert(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	struct lpm_v4_key k = {};
	__u32 v;

	if (!in)
		return -1;
	k.prefixlen = in->aux;
	__builtin_memcpy(k.addr, &in->key, 4);
	v = (__u32)in->val;
	return bpf_map_update_elem(&lpm_trie, &k, &v, BPF_ANY);
}

/* Longest-prefix match of key's 4 bytes: the value, or -1. */
SEC("tc")
int lpm_match(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	struct lpm_v4_key k = { .prefixlen = 32 };
	__u32 *v;

	if (!in)
		return -1;
	__builtin_memcpy(k.addr, &in->key, 4);
	v = bpf_map_lookup_elem(&lpm_trie, &k);
	return v ? (int)*v : -1;
}

/* Pushes val onto both the queue and the stack; returns 0 or the first error. */
SEC("tc")
int push_both(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	int err;

	if (!in)
		return -1;
	__u64 val = in->val;
	err = bpf_map_push_elem(&queue, &val, 0);
	if (err)
		return err;
	return bpf_map_push_elem(&stack, &val, 0);
}

/* Pops from the queue (aux == 0) or the stack (aux != 0); returns the value, or -1 if empty. */
SEC("tc")
int pop_one(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	__u64 val = 0;
	int err;

	if (!in)
		return -1;
	if (in->aux)
		err = bpf_map_pop_elem(&stack, &val);
	else
		err = bpf_map_pop_elem(&queue, &val);
	return err ? -1 : (int)val;
}

/* aux == 0: add val to the bloom filter (returns 0); aux != 0: 1 if val may be in it, else 0. */
SEC("tc")
int bloom_op(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	__u64 val = in->val;
	if (!in->aux)
		return bpf_map_push_elem(&bloom, &val, 0);
	return bpf_map_peek_elem(&bloom, &val) == 0 ? 1 : 0;
}

/* Writes val to the ring buffer; returns the bytes waiting in it afterwards (16 per record). */
SEC("tc")
int ringbuf_out(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	int err;

	if (!in)
		return -1;
	__u64 val = in->val;
	err = bpf_ringbuf_output(&ringbuf, &val, sizeof(val), 0);
	if (err)
		return err;
	return (int)bpf_ringbuf_query(&ringbuf, BPF_RB_AVAIL_DATA);
}

static long drain_cb(struct bpf_dynptr *dynptr, void *ctx)
{
	return 0;
}

/* Drains the (empty) user ring buffer: returns the number of samples, 0. */
SEC("tc")
int user_ringbuf_drain(struct __sk_buff *skb)
{
	return bpf_user_ringbuf_drain(&user_ringbuf, drain_cb, 0, 0);
}

/* Outputs to the perf event array: no perf event is installed, so -ENOENT (-2). */
SEC("tc")
int perf_out(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	__u64 val = in->val;
	return bpf_perf_event_output(skb, &perf_events, BPF_F_CURRENT_CPU, &val, sizeof(val));
}

/* Inner map: outer_array[aux] (aux < 4) or outer_hash[aux - 4]; inner[key % 4] += val; returns the
 * new value, or -1 if there is no such inner map. */
SEC("tc")
int inner_add(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);
	void *inner;
	__u64 *v;

	if (!in)
		return -1;
	__u32 idx = in->aux;
	if (idx < 4) {
		inner = bpf_map_lookup_elem(&outer_array, &idx);
	} else {
		idx -= 4;
		inner = bpf_map_lookup_elem(&outer_hash, &idx);
	}
	if (!inner)
		return -1;
	__u32 key = in->key & 3;
	v = bpf_map_lookup_elem(inner, &key);
	if (!v)
		return -1;
	*v += in->val;
	return (int)*v;
}

/* Redirect through an empty devmap / cpumap slot: the fallback action XDP_PASS (2) comes back. */
SEC("xdp")
int redirect_empty(struct xdp_md *xdp)
{
	struct test_input *in = xdp_input(xdp);

	if (!in)
		return XDP_ABORTED;
	if (in->aux == 1)
		return bpf_redirect_map(&cpumap, in->key, XDP_PASS);
	if (in->aux == 2)
		return bpf_redirect_map(&devmap_hash, in->key, XDP_PASS);
	return bpf_redirect_map(&devmap, in->key, XDP_PASS);
}

/* Where the local-storage programs leave what they saw: [0] sk storage, [1] task storage. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} storage_seen SEC(".maps");

static __always_inline void note_seen(__u32 slot, __u64 v)
{
	__u64 *p = bpf_map_lookup_elem(&storage_seen, &slot);

	if (p)
		*p = v;
}

/* Bumps a counter in the socket's storage (test_run gives the skb a fresh dummy socket each run, so
 * the counter is always 1). cgroup_skb programs must return 0 or 1. */
SEC("cgroup_skb/ingress")
int sk_storage_bump(struct __sk_buff *skb)
{
	struct bpf_sock *sk = skb->sk;
	__u64 *v;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	v = bpf_sk_storage_get(&sk_storage, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!v)
		return 1;
	*v += 1;
	note_seen(0, *v);
	return 1;
}

/* Bumps a counter in the calling task's storage and returns it: 1, 2, 3... for one thread. */
SEC("raw_tp/sys_enter")
int task_storage_bump(void *ctx)
{
	__u64 *v = bpf_task_storage_get(&task_storage, bpf_get_current_task_btf(), 0,
					BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!v)
		return -1;
	*v += 1;
	note_seen(1, *v);
	return (int)*v;
}

char LICENSE[] SEC("license") = "GPL";
