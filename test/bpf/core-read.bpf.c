// SPDX-License-Identifier: GPL-2.0
/* CO-RE: every relocation kind against the running kernel's BTF, run with BPF_PROG_TEST_RUN.
 *
 * - read_task: BPF_CORE_READ chains through the current task (pid, tgid, real_parent->tgid, comm,
 *   signal->rlim[RLIMIT_NOFILE]), the same through a minimal local flavor `task_struct___min` whose
 *   offsets differ from the kernel's (so the relocations really move offsets), field existence with
 *   a `___old` flavor (a guarded, poisoned read), type/enum relocations, and a subprogram.
 * - read_skb: direct loads (LDX) and bitfields (BPF_CORE_READ_BITFIELD[_PROBED]) from a buffer in
 *   .bss laid out as the kernel's struct sk_buff (the test fills it), with fields inside anonymous
 *   unions, a load width adjusted from 2 to 4 bytes, and a load that must be poisoned (signed
 *   local field of a different size) behind a constant-false branch.
 *
 * Results go to `out` in .bss; the test finds its member offsets in the object's BTF.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define PAI __attribute__((preserve_access_index))

/* Local flavors: the CO-RE candidate search strips "___suffix". */
struct task_struct___min {
	int tgid;
	int pid;
	struct task_struct___min *real_parent;
	char comm[8];
} PAI;

struct task_struct___old {
	long state; /* renamed to __state in 5.14 */
} PAI;

struct rlimit___bad {
	int rlim_cur; /* the kernel's is an unsigned long: types don't "match" */
} PAI;

struct tsbpf_no_such_type {
	int x;
} PAI;

struct sk_buff___narrow {
	unsigned short len; /* kernel: unsigned int; an unsigned load can be widened */
} PAI;

struct sk_buff___signed {
	short len; /* signed: can't be widened, the load is poisoned */
} PAI;

enum bpf_func_id___x {
	BPF_FUNC_ktime_get_ns___x = 1,       /* kernel: 5 */
	BPF_FUNC_tsbpf_nonexistent___x = 7777,
};

enum perf_callchain_context___x {
	PERF_CONTEXT_KERNEL___x = 0x1234567890ULL, /* kernel: (u64)-128, an ld_imm64 */
};

struct results {
	int pid;
	int tgid;
	int parent_tgid;
	int min_pid;
	int min_tgid;
	int min_parent_tgid;
	char comm[16];
	char min_comm[8];
	char comm3;
	__u64 nofile_cur;
	__u64 nofile_max;
	int state_exists_old;
	int state_exists_new;
	__u64 state;
	__u32 pid_offset;
	__u32 tgid_offset_min;
	__u32 comm_size;
	__u32 min_comm_size;
	__u32 task_size;
	__u32 min_task_size;
	__u32 task_exists;
	__u32 no_such_exists;
	__u32 no_such_size;
	__u32 min_matches;
	__u32 rlimit_matches;
	__u32 rlimit_bad_matches;
	__u32 pid_t_matches;
	__u32 task_id_kernel;
	__u32 min_id_kernel;
	__u32 min_id_local;
	__u32 no_such_id_kernel;
	__u64 ktime_id;
	__u32 ktime_exists;
	__u32 nonexistent_exists;
	__u64 perf_ctx_kernel;
	__u32 rlim_array_offset;
	int sub_parent_pid;
	__u32 sub_off;
	/* read_skb */
	__u32 skb_len;
	__u32 skb_len_narrow;
	__s64 skb_len_signed;
	__u64 pkt_type;
	__u64 ip_summed;
	__u64 cloned;
	__u64 csum_level;
	__u64 pkt_type_probed;
	__u64 ip_summed_probed;
	__u64 nf_trace_probed;
	__u32 pkt_type_size;
	__u32 pkt_type_signed;
	__u16 protocol;
	__u32 mark;
	int sub_skb_len;
} out;

/* Filled by the test with a struct sk_buff image (bigger than any sk_buff). */
char skb_buf[1024];

static __noinline int sub_parent_pid(struct task_struct *t)
{
	out.sub_off = bpf_core_field_offset(struct task_struct, real_parent);
	return BPF_CORE_READ(t, real_parent, pid);
}

/* Relocations in a subprogram that is appended to both programs. */
static __noinline int sub_skb_len(struct sk_buff *skb)
{
	return skb->len + bpf_core_field_exists(skb->mark);
}

SEC("raw_tp")
int read_task(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct___min *min = (struct task_struct___min *)task;

	out.pid = BPF_CORE_READ(task, pid);
	out.tgid = BPF_CORE_READ(task, tgid);
	out.parent_tgid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&out.comm, task, comm);
	out.comm3 = BPF_CORE_READ(task, comm[3]);
	out.nofile_cur = BPF_CORE_READ(task, signal, rlim[7].rlim_cur);
	out.nofile_max = BPF_CORE_READ(task, signal, rlim[7].rlim_max);

	out.min_pid = BPF_CORE_READ(min, pid);
	out.min_tgid = BPF_CORE_READ(min, tgid);
	out.min_parent_tgid = BPF_CORE_READ(min, real_parent, tgid);
	bpf_core_read(&out.min_comm, sizeof(out.min_comm), &min->comm);

	out.state_exists_old = bpf_core_field_exists(((struct task_struct___old *)task)->state);
	out.state_exists_new = bpf_core_field_exists(task->__state);
	if (bpf_core_field_exists(((struct task_struct___old *)task)->state))
		out.state = BPF_CORE_READ((struct task_struct___old *)task, state);
	else
		out.state = BPF_CORE_READ(task, __state);

	out.pid_offset = bpf_core_field_offset(struct task_struct, pid);
	out.tgid_offset_min = bpf_core_field_offset(struct task_struct___min, tgid);
	out.comm_size = bpf_core_field_size(task->comm);
	out.min_comm_size = bpf_core_field_size(struct task_struct___min, comm);
	out.task_size = bpf_core_type_size(struct task_struct);
	out.min_task_size = bpf_core_type_size(struct task_struct___min);
	out.task_exists = bpf_core_type_exists(struct task_struct);
	out.no_such_exists = bpf_core_type_exists(struct tsbpf_no_such_type);
	out.no_such_size = bpf_core_type_size(struct tsbpf_no_such_type);
	out.min_matches = bpf_core_type_matches(struct task_struct___min);
	out.rlimit_matches = bpf_core_type_matches(struct rlimit);
	out.rlimit_bad_matches = bpf_core_type_matches(struct rlimit___bad);
	out.pid_t_matches = bpf_core_type_matches(pid_t);
	out.task_id_kernel = bpf_core_type_id_kernel(struct task_struct);
	out.min_id_kernel = bpf_core_type_id_kernel(struct task_struct___min);
	out.min_id_local = bpf_core_type_id_local(struct task_struct___min);
	out.no_such_id_kernel = bpf_core_type_id_kernel(struct tsbpf_no_such_type);
	out.ktime_id = bpf_core_enum_value(enum bpf_func_id___x, BPF_FUNC_ktime_get_ns___x);
	out.ktime_exists = bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_ktime_get_ns___x);
	out.nonexistent_exists = bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_tsbpf_nonexistent___x);
	out.perf_ctx_kernel = bpf_core_enum_value(enum perf_callchain_context___x, PERF_CONTEXT_KERNEL___x);
	out.rlim_array_offset = bpf_core_field_offset(struct signal_struct, rlim[7].rlim_max);

	out.sub_parent_pid = sub_parent_pid(task);
	return 0;
}

SEC("raw_tp")
int read_skb(void *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)skb_buf;

	out.skb_len = skb->len;
	out.skb_len_narrow = ((struct sk_buff___narrow *)skb)->len;
	if (bpf_core_field_size(((struct sk_buff___signed *)skb)->len) == 2)
		out.skb_len_signed = ((struct sk_buff___signed *)skb)->len;
	else
		out.skb_len_signed = -1;
	out.pkt_type = BPF_CORE_READ_BITFIELD(skb, pkt_type);
	out.ip_summed = BPF_CORE_READ_BITFIELD(skb, ip_summed);
	out.cloned = BPF_CORE_READ_BITFIELD(skb, cloned);
	out.csum_level = BPF_CORE_READ_BITFIELD(skb, csum_level);
	out.pkt_type_probed = BPF_CORE_READ_BITFIELD_PROBED(skb, pkt_type);
	out.ip_summed_probed = BPF_CORE_READ_BITFIELD_PROBED(skb, ip_summed);
	out.nf_trace_probed = BPF_CORE_READ_BITFIELD_PROBED(skb, nf_trace);
	out.pkt_type_size = bpf_core_field_size(skb->pkt_type);
	out.pkt_type_signed = __builtin_preserve_field_info(skb->pkt_type, BPF_FIELD_SIGNED);
	out.protocol = skb->protocol;
	out.mark = skb->mark;
	out.sub_skb_len = sub_skb_len(skb);
	return 0;
}

/* A second program in the same section that also uses sub_skb_len. */
SEC("raw_tp")
int skb_len_only(void *ctx)
{
	return sub_skb_len((struct sk_buff *)skb_buf);
}
