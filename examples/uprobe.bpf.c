// SPDX-License-Identifier: GPL-2.0
/* uprobe: user-space function tracing.
 *
 * uprobe_entry and uprobe_return go on the entry and the return of a function of a target binary
 * (user space picks it: by default a function of node itself that the example calls). They send
 * one ring-buffer event per call and return, with the first two arguments, the return value and
 * the time spent. uprobe_malloc goes on libc's malloc and only counts calls and bytes, in .bss.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* This libbpf has no BPF_UPROBE; BPF_KPROBE reads the same pt_regs arguments. */
#include "uprobe.h"

__u64 malloc_calls = 0;
__u64 malloc_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u64);
} entry_ts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} calls SEC(".maps");

static __always_inline void emit(__u32 is_return, __u64 a0, __u64 a1, __s64 ret, __u64 dur)
{
	struct uprobe_event *e;
	__u64 id = bpf_get_current_pid_tgid();

	e = bpf_ringbuf_reserve(&calls, sizeof(*e), 0);
	if (!e)
		return;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->is_return = is_return;
	e->pad = 0;
	e->arg0 = a0;
	e->arg1 = a1;
	e->ret = ret;
	e->duration_ns = dur;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

SEC("uprobe")
int BPF_KPROBE(uprobe_entry, __u64 a0, __u64 a1)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 ts = bpf_ktime_get_ns();

	bpf_map_update_elem(&entry_ts, &tid, &ts, BPF_ANY);
	emit(0, a0, a1, 0, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(uprobe_return, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *ts, dur = 0;

	ts = bpf_map_lookup_elem(&entry_ts, &tid);
	if (ts) {
		dur = bpf_ktime_get_ns() - *ts;
		bpf_map_delete_elem(&entry_ts, &tid);
	}
	emit(1, 0, 0, ret, dur);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(uprobe_malloc, size_t size)
{
	__sync_fetch_and_add(&malloc_calls, 1);
	__sync_fetch_and_add(&malloc_bytes, size);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
