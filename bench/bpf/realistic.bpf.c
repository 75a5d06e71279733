// SPDX-License-Identifier: GPL-2.0
/* A "realistic" BPF object for the open+load benchmark: the shape of a small packet/observability
 * tool. 9 maps of several kinds (hash, array, percpu_array, lru_hash, percpu_hash, lpm_trie, ringbuf,
 * prog_array), .data/.rodata/.bss globals, 7 entry programs in socket/xdp/tc/raw_tp sections and
 * static and global bpf-to-bpf subprograms. No CO-RE, no externs: it loads the same on any kernel
 * with BTF and ringbuf support (5.8+).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* ---- types ----------------------------------------------------------------------------------- */

struct flow_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u32 flags;
	__u32 ifindex;
};

struct lpm_v4_key {
	__u32 prefixlen;
	__u32 addr;
};

struct event {
	__u64 ts_ns;
	__u32 pid;
	__u32 kind;
	__u64 arg0;
	__u64 arg1;
	char comm[16];
};

enum counter_idx {
	CNT_RX = 0,
	CNT_TX,
	CNT_DROP,
	CNT_PASS,
	CNT_SYSCALL,
	CNT_SCHED,
	CNT_MAX = 16,
};

/* ---- maps ------------------------------------------------------------------------------------ */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u64);
} conn_track SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} syscall_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} jump_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u32);
	__type(value, struct event);
} last_event SEC(".maps");

/* ---- global data ----------------------------------------------------------------------------- */

/* .rodata: set before load, constant for the verifier */
const volatile __u32 sample_rate = 1;
const volatile __u32 target_pid = 0;
const volatile __u16 watched_port = 443;
const volatile char tool_name[16] = "realistic";

/* .data */
__u64 drop_threshold = 1000000;
__u32 verbose = 1;

/* .bss */
__u64 total_packets;
__u64 total_bytes;
__u64 events_lost;
__u32 last_cpu;

char LICENSE[] SEC("license") = "GPL";

/* ---- subprograms ----------------------------------------------------------------------------- */

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);

	if (v)
		*v += 1;
}

/* A global function: verified on its own, scalars only. */
__noinline int flow_hash(__u32 a, __u32 b, __u32 ports)
{
	__u32 h = a * 2654435761u;

	h ^= b + 0x9e3779b9u + (h << 6) + (h >> 2);
	h ^= ports + 0x9e3779b9u + (h << 6) + (h >> 2);
	return (int)(h & 0x7fffffff);
}

static __noinline int is_blocked(__u32 addr)
{
	struct lpm_v4_key k = { .prefixlen = 32, .addr = addr };

	return bpf_map_lookup_elem(&blocklist, &k) != NULL;
}

static __noinline int account_flow(struct flow_key *key, __u32 len, __u32 ifindex)
{
	struct flow_stats *st, init = {};
	__u64 now = bpf_ktime_get_ns();

	st = bpf_map_lookup_elem(&flows, key);
	if (st) {
		__sync_fetch_and_add(&st->packets, 1);
		__sync_fetch_and_add(&st->bytes, len);
		st->last_seen_ns = now;
		return 0;
	}
	init.packets = 1;
	init.bytes = len;
	init.first_seen_ns = now;
	init.last_seen_ns = now;
	init.ifindex = ifindex;
	init.flags = (key->dport == watched_port) ? 1 : 0;
	bpf_map_update_elem(&flows, key, &init, BPF_NOEXIST);
	return 1;
}

static __noinline int emit_event(__u32 kind, __u64 arg0, __u64 arg1)
{
	struct event *e;

	if (sample_rate > 1 && (bpf_get_prandom_u32() % sample_rate) != 0)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&events_lost, 1);
		return -1;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->kind = kind;
	e->arg0 = arg0;
	e->arg1 = arg1;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Parses Ethernet/IPv4/TCP|UDP between data and data_end; returns the L4 offset or -1. */
static __always_inline int parse_ipv4(void *data, void *data_end, struct flow_key *key)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end)
		return -1;
	ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return -1;
	key->saddr = ip->saddr;
	key->daddr = ip->daddr;
	key->proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)ip + ihl;

		if ((void *)(tcp + 1) > data_end)
			return -1;
		key->sport = tcp->source;
		key->dport = tcp->dest;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)ip + ihl;

		if ((void *)(udp + 1) > data_end)
			return -1;
		key->sport = udp->source;
		key->dport = udp->dest;
	}
	return 0;
}

/* ---- XDP ------------------------------------------------------------------------------------- */

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct flow_key key = {};
	__u32 len = data_end - data;

	count(CNT_RX);
	__sync_fetch_and_add(&total_packets, 1);
	__sync_fetch_and_add(&total_bytes, len);
	last_cpu = bpf_get_smp_processor_id();
	if (parse_ipv4(data, data_end, &key) < 0)
		return XDP_PASS;
	if (is_blocked(key.saddr)) {
		count(CNT_DROP);
		return XDP_DROP;
	}
	account_flow(&key, len, ctx->ingress_ifindex);
	bpf_tail_call(ctx, &jump_table, flow_hash(key.saddr, key.daddr, key.sport) & 7);
	count(CNT_PASS);
	return XDP_PASS;
}

SEC("xdp")
int xdp_stage_sample(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (verbose)
		emit_event(1, data_end - data, ctx->rx_queue_index);
	return XDP_PASS;
}

/* ---- tc -------------------------------------------------------------------------------------- */

SEC("tc")
int tc_egress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct flow_key key = {};
	__u32 h, *cfg_key;
	__u64 *seen, one = 1;

	count(CNT_TX);
	if (parse_ipv4(data, data_end, &key) < 0)
		return TC_ACT_OK;
	h = flow_hash(key.saddr, key.daddr, ((__u32)key.sport << 16) | key.dport);
	seen = bpf_map_lookup_elem(&conn_track, &h);
	if (seen)
		__sync_fetch_and_add(seen, 1);
	else
		bpf_map_update_elem(&conn_track, &h, &one, BPF_ANY);
	account_flow(&key, skb->len, skb->ifindex);
	cfg_key = &h;
	*cfg_key = 0;
	seen = bpf_map_lookup_elem(&config, cfg_key);
	if (seen && *seen && skb->len > *seen)
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tc")
int tc_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct flow_key key = {};

	count(CNT_RX);
	if (parse_ipv4(data, data_end, &key) < 0)
		return TC_ACT_OK;
	if (is_blocked(key.daddr)) {
		count(CNT_DROP);
		emit_event(2, key.saddr, key.daddr);
		return TC_ACT_SHOT;
	}
	if (total_packets > drop_threshold)
		emit_event(3, total_packets, skb->len);
	return TC_ACT_OK;
}

/* ---- socket filter --------------------------------------------------------------------------- */

SEC("socket")
int sock_filter(struct __sk_buff *skb)
{
	__u8 proto = 0;
	__u16 dport = 0;
	__u32 key = 0;
	__u64 *cnt;

	if (bpf_skb_load_bytes(skb, ETH_HLEN + offsetof(struct iphdr, protocol), &proto, 1) < 0)
		return 0;
	if (proto == IPPROTO_TCP &&
	    bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(struct iphdr) + offsetof(struct tcphdr, dest), &dport, 2) < 0)
		return 0;
	key = proto;
	cnt = bpf_map_lookup_elem(&config, &key);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	if (dport == bpf_htons(watched_port)) {
		emit_event(4, proto, bpf_ntohs(dport));
		return skb->len;
	}
	return target_pid ? 0 : skb->len;
}

/* ---- raw tracepoints ------------------------------------------------------------------------- */

SEC("raw_tp/sys_enter")
int trace_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u32 nr = (__u32)ctx->args[1];
	__u64 *v, one = 1;
	struct event ev = {};

	if (target_pid && pid != target_pid)
		return 0;
	count(CNT_SYSCALL);
	v = bpf_map_lookup_elem(&syscall_counts, &nr);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&syscall_counts, &nr, &one, BPF_ANY);
	if (nr == 59 /* execve */) {
		ev.ts_ns = bpf_ktime_get_ns();
		ev.pid = pid;
		ev.kind = 5;
		ev.arg0 = nr;
		bpf_get_current_comm(ev.comm, sizeof(ev.comm));
		bpf_map_update_elem(&last_event, &pid, &ev, BPF_ANY);
		emit_event(5, nr, flow_hash(pid, nr, 0));
	}
	return 0;
}

SEC("raw_tp/sched_switch")
int trace_sched_switch(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct event *last;

	count(CNT_SCHED);
	last_cpu = cpu;
	last = bpf_map_lookup_elem(&last_event, &cpu);
	if (last && verbose > 1)
		emit_event(6, last->pid, ctx->args[0]);
	return 0;
}
