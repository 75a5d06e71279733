// SPDX-License-Identifier: GPL-2.0
/* CO-RE against a controlled target (core-target.bpf.c's BTF as btf_custom_path): local flavors of
 * its types with moved, missing and resized fields, fields moved into an anonymous union, arrays
 * of structs, a flexible array, bitfields (one signed), enums (32-bit, negative, 64-bit), typedefs,
 * and a kernel type with two flavors where candidate pruning decides (prune_g must come first).
 * Not meant to run: tests compare the relocations with libbpf's.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define PAI __attribute__((preserve_access_index))

typedef unsigned int tsbpf_u32;
typedef unsigned int tsbpf_s32___l; /* target: int; "matches" fails on signedness */

struct tsbpf_core_a___l {
	int x;
	int y;
	void *ptr;
	int gone;
	int arr[4];
	unsigned short len;   /* target: unsigned int: widened */
	unsigned int ulen;    /* target: unsigned long long: widened */
	short slen;           /* target: int: signed, poisoned */
	unsigned int a: 3, b: 5;
	unsigned long long c: 2;
	short sbits: 4;
	tsbpf_u32 tu;
} PAI;

struct tsbpf_pt___l {
	int x, y;
} PAI;

struct tsbpf_core_arr___l {
	int n;
	struct tsbpf_pt___l pts[4];
	int tail[];
} PAI;

struct tsbpf_core_b___l {
	int f;
	int g;
} PAI;

struct tsbpf_no_such___l {
	int x;
} PAI;

enum tsbpf_core_e___l {
	E_ONE___l = 1,
	E_NEG___l = 2,
	E_GONE___l = 3,
};

enum tsbpf_core_e64___l {
	E64_BIG___l = 1,
};

struct {
	__u64 v[64];
} out;

char buf[512];

#define OUT(i, x) (out.v[i] = (__u64)(x))

static __noinline int sub(struct tsbpf_core_a___l *p)
{
	return p->y + bpf_core_field_size(p->arr);
}

SEC("socket")
int fields(void *ctx)
{
	struct tsbpf_core_a___l *p = (void *)buf;

	OUT(0, bpf_core_field_offset(struct tsbpf_core_a___l, x));
	OUT(1, bpf_core_field_offset(struct tsbpf_core_a___l, y));
	OUT(2, bpf_core_field_offset(struct tsbpf_core_a___l, ptr));
	OUT(3, bpf_core_field_offset(struct tsbpf_core_a___l, arr[2]));
	OUT(4, bpf_core_field_exists(struct tsbpf_core_a___l, gone));
	if (bpf_core_field_exists(p->gone))
		OUT(5, p->gone);
	OUT(6, p->x);
	OUT(7, p->len);
	OUT(8, p->ulen);
	if (bpf_core_field_size(p->slen) == 2)
		OUT(9, p->slen);
	OUT(10, bpf_core_field_size(p->arr));
	OUT(11, bpf_core_field_size(p->ptr));
	OUT(12, bpf_core_field_exists(p->arr[3]));
	OUT(13, p->tu);
	OUT(14, sub(p));
	return 0;
}

SEC("socket")
int bitfields(void *ctx)
{
	struct tsbpf_core_a___l *ap = (void *)buf;

	OUT(20, BPF_CORE_READ_BITFIELD(ap, a));
	OUT(21, BPF_CORE_READ_BITFIELD(ap, b));
	OUT(22, BPF_CORE_READ_BITFIELD(ap, c));
	OUT(23, BPF_CORE_READ_BITFIELD(ap, sbits));
	OUT(24, BPF_CORE_READ_BITFIELD_PROBED(ap, b));
	OUT(25, BPF_CORE_READ_BITFIELD_PROBED(ap, sbits));
	return 0;
}

SEC("socket")
int arrays(void *ctx)
{
	struct tsbpf_core_arr___l *q = (void *)buf;

	OUT(30, bpf_core_field_offset(q->pts[2].x));
	OUT(31, bpf_core_field_exists(q->pts[3].y));
	if (bpf_core_field_exists(q->pts[3].y))
		OUT(32, q->pts[3].y);
	OUT(33, bpf_core_field_offset(q->tail[5]));
	OUT(34, q->pts[1].y);
	OUT(35, bpf_core_field_size(q->pts));
	return 0;
}

SEC("socket")
int types(void *ctx)
{
	OUT(40, bpf_core_type_exists(struct tsbpf_core_a___l));
	OUT(41, bpf_core_type_exists(struct tsbpf_no_such___l));
	OUT(42, bpf_core_type_size(struct tsbpf_core_a___l));
	OUT(43, bpf_core_type_size(struct tsbpf_no_such___l));
	OUT(44, bpf_core_type_id_kernel(struct tsbpf_core_a___l));
	OUT(45, bpf_core_type_id_local(struct tsbpf_core_a___l));
	OUT(46, bpf_core_type_matches(tsbpf_u32));
	OUT(47, bpf_core_type_matches(tsbpf_s32___l));
	OUT(48, bpf_core_type_matches(struct tsbpf_pt___l));
	OUT(49, bpf_core_type_exists(tsbpf_u32));
	OUT(50, bpf_core_enum_value(enum tsbpf_core_e___l, E_ONE___l));
	OUT(51, bpf_core_enum_value(enum tsbpf_core_e___l, E_NEG___l));
	OUT(52, bpf_core_enum_value_exists(enum tsbpf_core_e___l, E_GONE___l));
	OUT(53, bpf_core_enum_value(enum tsbpf_core_e64___l, E64_BIG___l));
	OUT(54, bpf_core_type_size(enum tsbpf_core_e64___l));
	return 0;
}

/* Pruning: g matches only tsbpf_core_b, so afterwards f is unambiguous. */
SEC("socket")
int prune_g(void *ctx)
{
	OUT(60, bpf_core_field_offset(struct tsbpf_core_b___l, g));
	return 0;
}

SEC("socket")
int prune_f(void *ctx)
{
	OUT(61, bpf_core_field_offset(struct tsbpf_core_b___l, f));
	return 0;
}
