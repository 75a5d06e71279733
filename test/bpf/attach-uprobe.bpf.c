// SPDX-License-Identifier: GPL-2.0
/* uprobe programs for the attach tests. The target binary's path comes from -DTARGET_BIN (a C
 * string) so that the auto-attach sections can name it.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#ifndef TARGET_BIN
#define TARGET_BIN "/nonexistent"
#endif

volatile __u32 target_tgid;

__u64 entry_hits;
__u64 return_hits;
__u64 libc_hits;
__u64 multi_hits;
__u64 any_hits;
__u64 last_arg;
__u64 last_ret;

static __always_inline int is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("uprobe/" TARGET_BIN ":tsbpf_target")
int BPF_KPROBE(on_target, int x)
{
	if (is_target()) {
		__sync_fetch_and_add(&entry_hits, 1);
		last_arg = x;
	}
	return 0;
}

SEC("uretprobe/" TARGET_BIN ":tsbpf_target")
int BPF_KRETPROBE(on_target_ret, int ret)
{
	if (is_target()) {
		__sync_fetch_and_add(&return_hits, 1);
		last_ret = ret;
	}
	return 0;
}

SEC("uprobe/libc.so.6:getppid")
int on_libc(struct pt_regs *ctx)
{
	if (is_target())
		__sync_fetch_and_add(&libc_hits, 1);
	return 0;
}

SEC("uprobe.multi/" TARGET_BIN ":tsbpf_*")
int on_multi(struct pt_regs *ctx)
{
	if (is_target())
		__sync_fetch_and_add(&multi_hits, 1);
	return 0;
}

/* Explicit attach only (no binary in the section); counts every process, for the pid filter test. */
SEC("uprobe")
int on_any(struct pt_regs *ctx)
{
	__sync_fetch_and_add(&any_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
