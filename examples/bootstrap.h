/* Shared by bootstrap.bpf.c and bootstrap.ts: one event per exec and per process exit. */
#ifndef BOOTSTRAP_H
#define BOOTSTRAP_H

#define TASK_COMM_LEN 16
#define MAX_FILENAME_LEN 127

struct bootstrap_event {
	__u32 pid;		/* offset 0 */
	__u32 ppid;		/* 4 */
	__u32 exit_code;	/* 8 */
	__u32 exit_event;	/* 12: 0 = exec, 1 = exit */
	__u64 duration_ns;	/* 16: exits only: time since the exec */
	char comm[TASK_COMM_LEN];		/* 24 */
	char filename[MAX_FILENAME_LEN + 1];	/* 40: execs only */
};

#endif
