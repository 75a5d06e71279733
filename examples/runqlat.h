/* Shared by runqlat.bpf.c and runqlat.ts: one log2 histogram of run-queue latency. */
#ifndef RUNQLAT_H
#define RUNQLAT_H

#define TASK_COMM_LEN 16
#define MAX_SLOTS 26

struct hist {
	__u32 slots[MAX_SLOTS];
	char comm[TASK_COMM_LEN];
};

#endif
