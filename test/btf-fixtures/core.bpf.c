// Fixture for .BTF.ext tests: CO-RE relocations of several kinds, subprograms, multiple sections.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_like {
	int pid;
	int tgid;
	struct task_like *parent;
	char comm[16];
	unsigned int flags : 4;
	unsigned int state : 12;
} __attribute__((preserve_access_index));

enum state_like { ST_RUNNING = 0, ST_SLEEPING = 1 };

int out_pid, out_exists, out_size, out_flags;
long out_enum;

static __attribute__((noinline)) int sub(struct task_like *t)
{
	return BPF_CORE_READ(t, parent, tgid);
}

SEC("kprobe/do_nanosleep")
int probe_one(struct pt_regs *ctx)
{
	struct task_like *t = (void *)bpf_get_current_task();

	out_pid = BPF_CORE_READ(t, pid);
	out_exists = bpf_core_field_exists(t->comm);
	out_size = bpf_core_field_size(t->comm);
	out_flags = BPF_CORE_READ_BITFIELD_PROBED(t, state);
	out_enum = bpf_core_enum_value(enum state_like, ST_SLEEPING);
	return sub(t);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int probe_two(void *ctx)
{
	struct task_like *t = (void *)bpf_get_current_task();

	out_exists = bpf_core_type_exists(struct task_like);
	out_size = bpf_core_type_size(struct task_like);
	return sub(t) + BPF_CORE_READ(t, parent, parent, pid);
}

char LICENSE[] SEC("license") = "GPL";
