// SPDX-License-Identifier: GPL-2.0
/* minimal: one tracepoint and counters in .bss.
 *
 * Every write(2) system call bumps `total`; those made by the process `target_pid` (set in .rodata
 * before load; user space passes its own PID) also bump `mine`. User space reads both live through
 * the skeleton's .bss view, with no map lookups.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const volatile int target_pid = 0;

__u64 total = 0;
__u64 mine = 0;

SEC("tp/syscalls/sys_enter_write")
int minimal_write(void *ctx)
{
	int pid = bpf_get_current_pid_tgid() >> 32;

	__sync_fetch_and_add(&total, 1);
	if (pid == target_pid)
		__sync_fetch_and_add(&mine, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
