// SPDX-License-Identifier: GPL-2.0
/* Programs that this kernel refuses, one per quirk; the test loads one at a time (autoload) with
 * libbpf and with tsbpf and compares the errors.
 * - data_ksym: a typed data ksym (runqueues) read through bpf_per_cpu_ptr: kernel BTF has the VAR,
 *   but /proc/kallsyms has no data symbols, so the verifier can't find its address;
 * - on_fentry: BPF trampolines are refused (EPERM);
 * - on_kprobe: loads, but attaching needs CONFIG_KPROBES. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

extern const struct rq runqueues __ksym;

u64 seen;

SEC("?tp_btf/sched_switch")
int BPF_PROG(data_ksym, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct rq *rq = bpf_per_cpu_ptr(&runqueues, 0);
	if (rq)
		seen = rq->nr_switches;
	return 0;
}

SEC("?fentry/do_nanosleep")
int BPF_PROG(on_fentry)
{
	seen++;
	return 0;
}

SEC("?kprobe/do_nanosleep")
int BPF_KPROBE(on_kprobe)
{
	seen++;
	return 0;
}
