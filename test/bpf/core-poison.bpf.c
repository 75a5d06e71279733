// SPDX-License-Identifier: GPL-2.0
/* CO-RE relocations that can't be resolved and are reached: libbpf poisons the instructions
 * (call 0xbad2310; both halves of an ld_imm64) and the verifier rejects the program with
 * "invalid func unknown#195896080". Both programs start with autoload off; tests enable one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct___gone {
	int tsbpf_no_such_field;
} __attribute__((preserve_access_index));

enum bpf_func_id___gone {
	BPF_FUNC_tsbpf_gone___gone = 0x100000000ULL, /* 64-bit: read with an ld_imm64 */
};

int sink;

SEC("?raw_tp")
int read_gone_field(void *ctx)
{
	struct task_struct___gone *t = (void *)bpf_get_current_task();

	sink = 1;
	return BPF_CORE_READ(t, tsbpf_no_such_field);
}

SEC("?raw_tp")
int read_gone_enum(void *ctx)
{
	sink = 2;
	return bpf_core_enum_value(enum bpf_func_id___gone, BPF_FUNC_tsbpf_gone___gone) != 0;
}
