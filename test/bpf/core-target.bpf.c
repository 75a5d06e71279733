// SPDX-License-Identifier: GPL-2.0
/* Not a program: a stand-in "kernel" for CO-RE tests. Its BTF is given to libbpf and tsbpf as
 * btf_custom_path (an ELF file with a .BTF section) when relocating core-local.bpf.c, whose local
 * types differ from these on purpose. The globals only make clang emit the types.
 */
typedef unsigned int tsbpf_u32;
typedef int tsbpf_s32;

struct tsbpf_core_a {
	long extra;
	int y;
	int x;
	union {
		void *ptr;
		long other;
	};
	int arr[8];
	unsigned int len;
	unsigned long long ulen;
	int slen;
	unsigned int a: 3, : 10, b: 5;
	unsigned long long w: 7, c: 2;
	short sbits: 4;
	tsbpf_u32 tu;
};

struct tsbpf_pt {
	int z, y, x;
};

struct tsbpf_core_arr {
	struct tsbpf_pt pts[3];
	int n;
	int tail[];
};

/* Two candidates for a local tsbpf_core_b___l: only tsbpf_core_b has `g`. */
struct tsbpf_core_b {
	int g;
	int f;
};

struct tsbpf_core_b___v2 {
	int h;
	int pad;
	int f;
};

enum tsbpf_core_e {
	E_ZERO,
	E_ONE = 10,
	E_NEG = -5,
};

enum tsbpf_core_e64 {
	E64_SMALL = 1,
	E64_BIG = 0x123456789aULL,
};

struct tsbpf_core_a g_a;
struct tsbpf_core_arr g_arr;
struct tsbpf_core_b g_b;
struct tsbpf_core_b___v2 g_b2;
enum tsbpf_core_e g_e;
enum tsbpf_core_e64 g_e64;
tsbpf_u32 g_u32;
tsbpf_s32 g_s32;
