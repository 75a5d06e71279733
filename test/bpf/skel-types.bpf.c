// SPDX-License-Identifier: GPL-2.0
/* Skeleton test object: global variables of every layout a skeleton exposes (integers of each size,
 * bool, enums, char arrays, arrays, multi-dimensional arrays, nested and anonymous structs and unions,
 * bitfields, pointers), in .data, .rodata, .bss, .data.foo, .rodata.bar and .kconfig, plus typed maps.
 * Also a BTF layout fixture for `btf dump format c` (packed, padding, bitfields, function pointers).
 *
 * Input: a 64-byte packet that starts with struct test_input {key, aux, val}; key selects the operation.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "test_input.h"

enum mode { MODE_OFF = 0, MODE_ON = 1, MODE_AUTO = 7 };
enum __attribute__((packed)) tiny { TINY_A = 1, TINY_B = 200 };
enum wide { WIDE_BIG = 0x123456789ULL };

struct inner {
	__u16 a;
	__u8 b;
	__s32 c;
};

struct stats {
	__u64 packets;
	__u64 bytes;
	char comm[16];
};

struct kitchen {
	__u8 u8v;
	__s8 s8v;
	__u16 u16v;
	__s16 s16v;
	__u32 u32v;
	__s32 s32v;
	__u64 u64v;
	__s64 s64v;
	_Bool flag;
	enum mode mode;
	enum tiny tiny;
	char name[12];
	__u32 arr[3];
	__s16 grid[2][3];
	struct inner in;
	struct inner ins[2];
	union {
		__u32 as_u32;
		__u8 as_bytes[4];
	};
	struct {
		__u8 x;
		__u8 y;
	} pt;
	unsigned int bf_a : 3;
	int bf_b : 5;
	unsigned long long bf_c : 40;
	void *ptr;
	int (*fn)(int, void *);
	float f;
	double d;
};

/* A packed struct and padding cases for the C dumper. */
struct packed_s {
	__u8 a;
	__u32 b;
	__u16 c;
} __attribute__((packed));

struct padded {
	__u8 a;
	long : 0;
	__u8 b;
	__u64 c __attribute__((aligned(16)));
};

struct empty {};

typedef int (*cb_t)(const char *restrict fmt, ...);
typedef const volatile __u32 *const cvp_t;

struct layouts {
	struct packed_s p;
	struct padded q;
	struct empty e;
	cb_t cb;
	cvp_t cvp;
	int (*arr_of_fn[2])(void);
	char *(*fn_ret_ptr)(int);
};

/* .rodata: set before load, then frozen. */
const volatile __u32 cfg_mult = 3;
const volatile __u64 cfg_big = 0x1122334455667788ULL;
const volatile char cfg_name[16] = "default";
const volatile __u16 cfg_table[4] = { 1, 2, 3, 4 };
const volatile enum mode cfg_mode = MODE_ON;
const volatile enum tiny cfg_tiny = TINY_B;
const volatile _Bool cfg_flag = 1;
const volatile enum wide cfg_wide = WIDE_BIG;

/* .data */
__u64 counter = 1000;
__s32 data_arr[4] = { -1, 2, -3, 4 };
struct inner data_inner = { .a = 1, .b = 2, .c = -3 };

/* .bss */
struct kitchen k;
__u64 out_mult;
__u64 out_big;
char out_name[16];
__u16 out_table[4];
__u32 out_mode;
__u32 out_tiny;
__u32 out_flag;
__u64 out_data;
__u64 out_kver;
__u32 out_syscall;
struct layouts layouts_sink;

/* .data.foo / .rodata.bar */
__u32 foo_val SEC(".data.foo") = 0xf00;
const volatile __u64 bar_val SEC(".rodata.bar") = 0xba5;

/* .kconfig */
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern _Bool CONFIG_BPF_SYSCALL __kconfig;

/* Not exposed: static and hidden. */
static __u64 static_calls;
__hidden __u32 hidden_total = 50;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct stats);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct inner);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__type(value, __u32);
} q SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

/*
 * key 0: copy the configuration (.rodata, .kconfig) into .bss;
 * key 1: counter += val, return counter's low 32 bits; also k.u32v += 1 and k.in.c = -val;
 * key 2: counts[aux] = {packets+1, bytes+val, "bpf"}; arr[aux & 3] = val * cfg_mult;
 * key 3: push val into q; return data_arr[val & 3] + foo_val.
 */
SEC("tc")
int handle(struct __sk_buff *skb)
{
	struct test_input *in = tc_input(skb);

	if (!in)
		return -1;
	static_calls++;
	hidden_total++;
	switch (in->key) {
	case 0: {
		out_mult = cfg_mult;
		out_big = cfg_big;
		for (int i = 0; i < 16; i++)
			out_name[i] = cfg_name[i];
		for (int i = 0; i < 4; i++)
			out_table[i] = cfg_table[i];
		out_mode = cfg_mode;
		out_tiny = cfg_tiny;
		out_flag = cfg_flag;
		out_data = bar_val;
		out_kver = LINUX_KERNEL_VERSION;
		out_syscall = CONFIG_BPF_SYSCALL;
		return 0;
	}
	case 1:
		counter += in->val;
		k.u32v += 1;
		k.in.c = -(__s32)in->val;
		k.bf_b = -3;
		k.grid[1][2] = 77;
		return (int)counter;
	case 2: {
		__u32 key = in->aux;
		struct stats *s = bpf_map_lookup_elem(&counts, &key);
		struct stats init = { .comm = "bpf" };
		__u32 idx = in->aux & 3;
		__u64 v = in->val * cfg_mult;

		if (!s) {
			bpf_map_update_elem(&counts, &key, &init, BPF_ANY);
			s = bpf_map_lookup_elem(&counts, &key);
			if (!s)
				return -2;
		}
		s->packets++;
		s->bytes += in->val;
		bpf_map_update_elem(&arr, &idx, &v, BPF_ANY);
		return 0;
	}
	case 3: {
		__u32 v = (__u32)in->val;

		bpf_map_push_elem(&q, &v, 0);
		return data_arr[in->val & 3] + (int)foo_val;
	}
	}
	return -1;
}

/* Auto-attachable (tracepoint): only loaded when a test turns autoload on. */
SEC("?tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 zero = 0;
	struct inner *p = bpf_map_lookup_elem(&pcpu, &zero);

	if (p)
		p->c++;
	return 0;
}

char _license[] SEC("license") = "GPL";
