// SPDX-License-Identifier: GPL-2.0
/* Externs resolved by the loader: Kconfig values (.kconfig), typeless kernel symbols (.ksyms) and
 * kfunc calls, present and missing-but-weak. The programs copy what they see into .bss (struct
 * seen) so that a test can compare it with /proc/config.gz and /proc/kallsyms.
 *
 * Typed data ksyms (`extern const int cpu_number __ksym;`) are left out: the kernel resolves them
 * through kallsyms, which lists data symbols only with CONFIG_KALLSYMS_ALL (off on the test VM).
 */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

/* ---- Kconfig ------------------------------------------------------------------------------- */

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;               /* y -> true */
extern enum libbpf_tristate CONFIG_BPF_LSM __kconfig __weak;   /* y -> TRI_YES (1) */
extern unsigned int CONFIG_HZ __kconfig __weak;         /* an integer */
extern char CONFIG_DEFAULT_HOSTNAME[16] __kconfig __weak; /* a string */
extern int CONFIG_TSBPF_NO_SUCH_OPTION __kconfig __weak;  /* missing -> 0 */
extern bool CONFIG_TSBPF_NO_SUCH_BOOL __kconfig __weak;   /* missing -> false */

/* ---- kernel symbols ------------------------------------------------------------------------ */

/* Typeless: addresses from /proc/kallsyms (a function and a data symbol). */
extern const void bpf_prog_put __ksym;
extern const void __start_BTF __ksym;
extern const void tsbpf_no_such_symbol __ksym __weak;   /* missing -> 0 */

/* kfuncs. Their prototypes must match the kernel's BTF; a struct that is only pointed to needs a
 * definition (any members: they are not accessed), since a bare forward declaration is a different
 * BTF kind that libbpf 1.1 refuses to match against the kernel's struct. */
struct task_struct {
	int __unused;
};
extern struct task_struct *bpf_task_from_pid(int pid) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;
extern int tsbpf_no_such_kfunc(int x) __ksym __weak;   /* missing: its address is 0, the call is
							  * never reached (and poisoned) */

struct seen {
	__u32 kernel_version;
	__u32 bpf_syscall;
	__u32 bpf_lsm;
	__u32 hz;
	__s32 missing_int;
	__u32 missing_bool;
	char hostname[16];
	__u64 addr_prog_put;
	__u64 addr_start_btf;
	__u64 addr_missing;
	__s32 task_found;   /* bpf_task_from_pid(pid) != NULL */
	__u64 runs;
};

struct seen seen;

/* Copies every extern into `seen`; returns CONFIG_HZ. */
SEC("tc")
int read_externs(struct __sk_buff *skb)
{
	seen.kernel_version = LINUX_KERNEL_VERSION;
	seen.bpf_syscall = CONFIG_BPF_SYSCALL;
	seen.bpf_lsm = CONFIG_BPF_LSM;
	seen.hz = CONFIG_HZ;
	seen.missing_int = CONFIG_TSBPF_NO_SUCH_OPTION;
	seen.missing_bool = CONFIG_TSBPF_NO_SUCH_BOOL;
	__builtin_memcpy(seen.hostname, CONFIG_DEFAULT_HOSTNAME, sizeof(seen.hostname));
	seen.addr_prog_put = (__u64)&bpf_prog_put;
	seen.addr_start_btf = (__u64)&__start_BTF;
	seen.addr_missing = (__u64)&tsbpf_no_such_symbol;
	seen.runs += 1;
	return CONFIG_HZ;
}

struct pid_args {
	__s32 pid;
	__s32 found;
};

/* A syscall program (test_run with a context): found = bpf_task_from_pid(pid) != NULL. (On the
 * test VM pid 1 is not found; use a live pid such as the test's own.) */
SEC("syscall")
int find_task(struct pid_args *args)
{
	struct task_struct *t;

	bpf_rcu_read_lock();
	t = bpf_task_from_pid(args->pid);
	bpf_rcu_read_unlock();
	args->found = t != 0;
	seen.task_found = args->found;
	if (t)
		bpf_task_release(t);
	return args->found ? 1 : 0;
}

/* Calls a kfunc only if it exists: returns 77 when it doesn't. */
SEC("tc")
int weak_kfunc(struct __sk_buff *skb)
{
	if (&tsbpf_no_such_kfunc)
		return tsbpf_no_such_kfunc(1);
	return 77;
}

char LICENSE[] SEC("license") = "GPL";
