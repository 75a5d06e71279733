/* Shared by runqslower.bpf.c and the TypeScript side: one event per slow wake-up. */
#ifndef RUNQSLOWER_H
#define RUNQSLOWER_H

#define TASK_COMM_LEN 16

struct runq_event {
	char task[TASK_COMM_LEN];
	char prev_task[TASK_COMM_LEN];
	__u64 delta_us;
	__u32 pid;
	__u32 prev_pid;
};

#endif
