// SPDX-License-Identifier: GPL-2.0
/* An ambiguous CO-RE relocation: the kernel has both `struct nf_conn` and `struct nf_conn___init`,
 * and both are candidates for a local `struct nf_conn` (the candidate search ignores `___flavor`).
 * Their type ids differ, so bpf_core_type_id_kernel() has no single answer and the load fails.
 * The field offset of `status` is unambiguous: only nf_conn has it.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

__u32 status_off;

SEC("?raw_tp")
int status_offset(void *ctx)
{
	status_off = bpf_core_field_offset(struct nf_conn, status);
	return 0;
}

SEC("?raw_tp")
int nf_conn_id(void *ctx)
{
	return bpf_core_type_id_kernel(struct nf_conn);
}
