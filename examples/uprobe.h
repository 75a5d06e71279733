/* Shared by uprobe.bpf.c and uprobe.ts: calls of the probed function, and libc malloc totals. */
#ifndef UPROBE_H
#define UPROBE_H

#define TASK_COMM_LEN 16

struct uprobe_event {
	__u32 pid;		/* 0 */
	__u32 tid;		/* 4 */
	__u32 is_return;	/* 8 */
	__u32 pad;		/* 12 */
	__u64 arg0;		/* 16: entry: first two arguments */
	__u64 arg1;		/* 24 */
	__s64 ret;		/* 32: return: the return value */
	__u64 duration_ns;	/* 40: return: time since the entry */
	char comm[TASK_COMM_LEN];	/* 48 */
};

#endif
