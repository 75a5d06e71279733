/* Shared by profile.bpf.c and profile.ts: one CPU sample with its kernel and user stacks. */
#ifndef PROFILE_H
#define PROFILE_H

#define TASK_COMM_LEN 16
#define MAX_STACK_DEPTH 64

struct profile_sample {
	__u32 pid;		/* 0 */
	__u32 cpu;		/* 4 */
	__s32 kstack_size;	/* 8: bytes of kstack used, or a negative error */
	__s32 ustack_size;	/* 12 */
	char comm[TASK_COMM_LEN];	/* 16 */
	__u64 kstack[MAX_STACK_DEPTH];	/* 32 */
	__u64 ustack[MAX_STACK_DEPTH];	/* 32 + 8 * MAX_STACK_DEPTH */
};

#endif
