// SPDX-License-Identifier: GPL-2.0
/* Tracing programs for the attach tests: each counts its hits in .bss so a test can trigger the
 * event and see that the program ran. No vmlinux.h and no CO-RE: the iterator reads task fields
 * at offsets the test takes from kernel BTF and writes into .bss before load.
 */
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct pt_regs;
struct seq_file;
struct task_struct;
/* The iterator context: fixed by the kernel ABI (pointers only). */
struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
};
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

volatile __u32 target_tgid;
volatile __u32 task_tgid_off;
volatile __u32 task_comm_off;

__u64 tp_exec_hits;
__u64 tp_enter_hits;
__u64 raw_tp_hits;
__u64 tp_btf_hits;
__u64 perf_hits;
__u64 probe_hits;
__u64 iter_tasks;
__u64 last_cookie;

static __always_inline int is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("tp/sched/sched_process_exec")
int on_exec(void *ctx)
{
	__sync_fetch_and_add(&tp_exec_hits, 1);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int on_enter_tp(void *ctx)
{
	if (is_target()) {
		__sync_fetch_and_add(&tp_enter_hits, 1);
		last_cookie = bpf_get_attach_cookie(ctx);
	}
	return 0;
}

SEC("raw_tp/sys_enter")
int on_enter_raw(struct bpf_raw_tracepoint_args *ctx)
{
	if (is_target())
		__sync_fetch_and_add(&raw_tp_hits, 1);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_enter_btf, struct pt_regs *regs, long id)
{
	if (is_target())
		__sync_fetch_and_add(&tp_btf_hits, 1);
	return 0;
}

SEC("perf_event")
int on_sample(void *ctx)
{
	__sync_fetch_and_add(&perf_hits, 1);
	return 0;
}

SEC("kprobe/do_nanosleep")
int on_kprobe(void *ctx)
{
	__sync_fetch_and_add(&probe_hits, 1);
	return 0;
}

SEC("kretprobe/do_nanosleep")
int on_kretprobe(void *ctx)
{
	__sync_fetch_and_add(&probe_hits, 1);
	return 0;
}

SEC("ksyscall/nanosleep")
int on_ksyscall(void *ctx)
{
	__sync_fetch_and_add(&probe_hits, 1);
	return 0;
}

SEC("kprobe.multi/do_nanosl*")
int on_kprobe_multi(void *ctx)
{
	__sync_fetch_and_add(&probe_hits, 1);
	return 0;
}

/* Loaded only when a test asks: this kernel refuses trampolines (EPERM). */
SEC("?fentry/do_nanosleep")
int BPF_PROG(on_fentry)
{
	__sync_fetch_and_add(&probe_hits, 1);
	return 0;
}

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	__u64 task = 0;
	__u32 tgid = 0;
	char comm[16] = {};

	/* Read the pointer as a plain number so the field reads below are probe reads at offsets. */
	bpf_probe_read_kernel(&task, sizeof(task), &ctx->task);
	if (!task)
		return 0;
	bpf_probe_read_kernel(&tgid, sizeof(tgid), (void *)(task + task_tgid_off));
	bpf_probe_read_kernel_str(comm, sizeof(comm), (void *)(task + task_comm_off));
	BPF_SEQ_PRINTF(seq, "%u %s\n", tgid, comm);
	__sync_fetch_and_add(&iter_tasks, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
