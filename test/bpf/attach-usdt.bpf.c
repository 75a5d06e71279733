// SPDX-License-Identifier: GPL-2.0
/* USDT programs for the attach tests: arguments read through <bpf/usdt.bpf.h> (BPF_USDT), in
 * registers, in memory and constants, a probe with two sites of different layouts, a probe
 * guarded by a semaphore, and the cookie. The target binary's path comes from -DTARGET_BIN.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <linux/types.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#ifndef TARGET_BIN
#define TARGET_BIN "/nonexistent"
#endif

volatile __u32 target_tgid;

__u64 args_hits;
__s64 a_int;
__s64 a_long;
__s64 a_char;
__s64 a_short;
char a_str[16];
__u64 a_u64;
__u64 args_cookie;
__s64 args_cnt;

__u64 consts_hits;
__s64 c0, c1, c2;

__u64 twice_hits;
__s64 twice_sum;

__u64 guarded_hits;
__s64 g0, g1;

static __always_inline int is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("usdt/" TARGET_BIN ":tsbpf:args")
int BPF_USDT(on_args, int i, long l, signed char c, short s, const char *str, unsigned long long u)
{
	if (!is_target())
		return 0;
	a_int = i;
	a_long = l;
	a_char = c;
	a_short = s;
	bpf_probe_read_user_str(a_str, sizeof(a_str), str);
	a_u64 = u;
	args_cookie = bpf_usdt_cookie(ctx);
	args_cnt = bpf_usdt_arg_cnt(ctx);
	__sync_fetch_and_add(&args_hits, 1);
	return 0;
}

SEC("usdt/" TARGET_BIN ":tsbpf:consts")
int BPF_USDT(on_consts, int a, int b, int c)
{
	if (!is_target())
		return 0;
	c0 = a;
	c1 = b;
	c2 = c;
	__sync_fetch_and_add(&consts_hits, 1);
	return 0;
}

SEC("usdt")
int BPF_USDT(on_twice, int x)
{
	if (!is_target())
		return 0;
	__sync_fetch_and_add(&twice_sum, x);
	__sync_fetch_and_add(&twice_hits, 1);
	return 0;
}

SEC("usdt/" TARGET_BIN ":tsbpf:guarded")
int BPF_USDT(on_guarded, int a, int b)
{
	if (!is_target())
		return 0;
	g0 = a;
	g1 = b;
	__sync_fetch_and_add(&guarded_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
