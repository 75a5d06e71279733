// SPDX-License-Identifier: GPL-2.0
/* A mix of sections for obj.attach(): some auto-attach, some cannot (and must say why). */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct pt_regs;
struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
};
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	void *task;
};

volatile __u32 target_tgid;
__u64 exec_hits;
__u64 raw_hits;
__u64 btf_hits;
__u64 iter_hits;

static __always_inline int is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("tp/sched/sched_process_exec")
int auto_tp(void *ctx)
{
	__sync_fetch_and_add(&exec_hits, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int auto_raw(void *ctx)
{
	if (is_target())
		__sync_fetch_and_add(&raw_hits, 1);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(auto_btf, struct pt_regs *regs, long id)
{
	if (is_target())
		__sync_fetch_and_add(&btf_hits, 1);
	return 0;
}

SEC("iter/task")
int auto_iter(struct bpf_iter__task *ctx)
{
	if (ctx->task)
		__sync_fetch_and_add(&iter_hits, 1);
	return 0;
}

/* No function named: libbpf skips it, and so do we (with the reason). */
SEC("kprobe")
int bare_kprobe(void *ctx)
{
	return 0;
}

SEC("raw_tp")
int bare_raw_tp(void *ctx)
{
	return 0;
}

SEC("xdp")
int needs_iface(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("socket")
int needs_socket(struct __sk_buff *skb)
{
	return 0;
}

SEC("?raw_tp/sys_exit")
int not_loaded(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
