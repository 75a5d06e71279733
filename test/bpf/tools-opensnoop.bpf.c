// SPDX-License-Identifier: GPL-2.0
/* An opensnoop-like tool (libbpf-tools/opensnoop.bpf.c shape): sys_enter/exit_open{,at}
 * tracepoints, per-pid/tgid/uid filters in rodata, a start hash and a perf event array, plus a
 * tp_btf program that reads the file name through CO-RE (struct filename, a flavored local type). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define NAME_MAX 255
#define TASK_COMM_LEN 16
#define INVALID_UID ((uid_t)-1)

const volatile pid_t targ_pid = 0;
const volatile pid_t targ_tgid = 0;
const volatile uid_t targ_uid = INVALID_UID;
const volatile bool targ_failed = false;

struct args_t {
	const char *fname;
	int flags;
};

struct event {
	u64 ts;
	pid_t pid;
	uid_t uid;
	int ret;
	int flags;
	u64 callers[2];
	char comm[TASK_COMM_LEN];
	char fname[NAME_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, struct args_t);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct event);
} heap SEC(".maps");

static __always_inline bool valid_uid(uid_t uid)
{
	return uid != INVALID_UID;
}

static __always_inline bool trace_allowed(u32 tgid, u32 pid)
{
	u32 uid;

	if (targ_tgid && targ_tgid != tgid)
		return false;
	if (targ_pid && targ_pid != pid)
		return false;
	if (valid_uid(targ_uid)) {
		uid = (u32)bpf_get_current_uid_gid();
		if (targ_uid != uid)
			return false;
	}
	return true;
}

SEC("tracepoint/syscalls/sys_enter_open")
int tracepoint__syscalls__sys_enter_open(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32;
	u32 pid = id;

	if (trace_allowed(tgid, pid)) {
		struct args_t args = {};
		args.fname = (const char *)ctx->args[0];
		args.flags = (int)ctx->args[1];
		bpf_map_update_elem(&start, &pid, &args, 0);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tracepoint__syscalls__sys_enter_openat(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tgid = id >> 32;
	u32 pid = id;

	if (trace_allowed(tgid, pid)) {
		struct args_t args = {};
		args.fname = (const char *)ctx->args[1];
		args.flags = (int)ctx->args[2];
		bpf_map_update_elem(&start, &pid, &args, 0);
	}
	return 0;
}

static __always_inline int trace_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct event *event;
	struct args_t *ap;
	uintptr_t stack[3];
	int ret;
	u32 pid = bpf_get_current_pid_tgid();
	u32 zero = 0;

	ap = bpf_map_lookup_elem(&start, &pid);
	if (!ap)
		return 0;
	ret = ctx->ret;
	if (targ_failed && ret >= 0)
		goto cleanup;
	event = bpf_map_lookup_elem(&heap, &zero);
	if (!event)
		goto cleanup;

	event->pid = bpf_get_current_pid_tgid() >> 32;
	event->uid = bpf_get_current_uid_gid();
	bpf_get_current_comm(&event->comm, sizeof(event->comm));
	bpf_probe_read_user_str(&event->fname, sizeof(event->fname), ap->fname);
	event->flags = ap->flags;
	event->ret = ret;
	event->ts = bpf_ktime_get_ns();
	bpf_get_stack(ctx, &stack, sizeof(stack), BPF_F_USER_STACK);
	event->callers[0] = stack[1];
	event->callers[1] = stack[2];
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, event, sizeof(*event));
cleanup:
	bpf_map_delete_elem(&start, &pid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int tracepoint__syscalls__sys_exit_open(struct trace_event_raw_sys_exit *ctx)
{
	return trace_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tracepoint__syscalls__sys_exit_openat(struct trace_event_raw_sys_exit *ctx)
{
	return trace_exit(ctx);
}

/* A local flavor with only the fields used: offsets come from the kernel. */
struct file___min {
	struct inode *f_inode;
	unsigned int f_flags;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} inodes SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter_btf, struct pt_regs *regs, long id)
{
	struct task_struct *task = bpf_get_current_task_btf();
	u32 tgid = task->tgid;
	if (!trace_allowed(tgid, task->pid))
		return 0;
	if (id != 257 /* openat */)
		return 0;
	/* The task's exe file: a chain of CO-RE reads through a local flavor. */
	struct file___min *f = (void *)BPF_CORE_READ(task, mm, exe_file);
	if (!f)
		return 0;
	u64 ino = BPF_CORE_READ(f, f_inode, i_ino);
	u64 flags = BPF_CORE_READ(f, f_flags);
	if (bpf_core_type_exists(struct filename) && bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_stack))
		bpf_map_update_elem(&inodes, &ino, &flags, BPF_ANY);
	return 0;
}
