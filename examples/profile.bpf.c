// SPDX-License-Identifier: GPL-2.0
/* profile: CPU samples with stack traces.
 *
 * User space opens a cpu-clock perf event on every CPU and attaches profile_sample to each. At
 * every sample the program sends the running task, its kernel stack and its user stack (raw
 * addresses, symbolized in user space) through a ring buffer. targ_pid (.rodata) limits the
 * samples to one process; the idle task (pid 0) is skipped.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "profile.h"

const volatile pid_t targ_pid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 512 * 1024);
} samples SEC(".maps");

SEC("perf_event")
int profile_sample(struct bpf_perf_event_data *ctx)
{
	struct profile_sample *s;
	pid_t pid = bpf_get_current_pid_tgid() >> 32;

	if (!pid)
		return 0;
	if (targ_pid && pid != targ_pid)
		return 0;
	s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s)
		return 0;
	s->pid = pid;
	s->cpu = bpf_get_smp_processor_id();
	bpf_get_current_comm(&s->comm, sizeof(s->comm));
	s->kstack_size = bpf_get_stack(ctx, s->kstack, sizeof(s->kstack), 0);
	s->ustack_size = bpf_get_stack(ctx, s->ustack, sizeof(s->ustack), BPF_F_USER_STACK);
	bpf_ringbuf_submit(s, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
