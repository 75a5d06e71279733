// SPDX-License-Identifier: GPL-2.0
/* A CO-RE read of a field the running kernel does not have, reached unconditionally: the loader
 * poisons the instruction and the verifier rejects it (test/diagnostics.test.ts).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

struct task_struct___diag {
	int tsbpf_diag_missing;
} __attribute__((preserve_access_index));

SEC("?raw_tp")
int read_missing_field(void *ctx)
{
	struct task_struct___diag *t = (void *)bpf_get_current_task();
	int v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), &t->tsbpf_diag_missing); /* DIAG: core */
	return v;
}
