// Fixture for BTF tests: exercises every BTF kind clang emits for BPF.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user __attribute__((btf_type_tag("user")))

struct fwd_only;
union fwd_union;

enum small_enum { SE_A = 0, SE_B = 5, SE_C = 0xffffffffu };
enum signed_enum { SN_NEG = -3, SN_POS = 7 };
enum big_enum { BE_SMALL = 1, BE_BIG = 0x123456789abcdefULL, BE_MAX = 0xffffffffffffffffULL };
enum big_signed { BS_NEG = -0x100000000LL, BS_POS = 0x100000000LL };

struct bits {
	unsigned int a : 3;
	int b : 5;
	unsigned long long c : 40;
	char d;
	_Bool e : 1;
	short f;
} __tag("bits_struct");

union u {
	int i;
	float f;
	double d;
	struct { char lo, hi; } pair;
	unsigned char raw[8];
};

typedef int (*callback_t)(void *ctx, const char *msg, int n);

struct kitchen {
	struct bits b;
	union u un;
	volatile int vol;
	const long cst;
	char *restrict rp;
	int __user *uptr;
	struct fwd_only *fwd;
	union fwd_union *fwdu;
	int matrix[3][4];
	callback_t cb;
	enum small_enum se;
	enum signed_enum sn;
	enum big_enum be;
	enum big_signed bs;
	long double ld;
	int tagged __tag("member_tag");
	struct { int x; } anon_s;
	union { int y; long z; };
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct kitchen);
} kitchen_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, int);
	__type(value, __u64);
} counters SEC(".maps");

int data_var = 42;
long data_var2 = 7;
int bss_var;
char bss_buf[64];
const volatile int ro_var = 3;
const volatile char ro_str[] = "hello";
int custom_data SEC(".data.custom") = 9;
const volatile int custom_ro SEC(".rodata.custom") = 11;
__attribute__((visibility("hidden"))) int hidden_var = 1;
static int static_var = 5;
float float_var = 1.5f;
double double_var = 2.5;
struct kitchen kitchen_var;

extern int CONFIG_HZ __kconfig;
extern unsigned long CONFIG_NR_CPUS __kconfig __weak;
extern const void bpf_prog_active __ksym __weak;
extern int bpf_fake_kfunc(int x) __ksym __weak;

static __attribute__((noinline)) int helper(int a __tag("param_tag"), struct kitchen *k)
{
	return a + k->vol + static_var;
}

__attribute__((noinline)) int global_func(int x) __tag("func_tag")
{
	return x * 2 + hidden_var;
}

SEC("tp/syscalls/sys_enter_write")
int handle(void *ctx)
{
	struct kitchen *k;
	__u32 key = 0;

	k = bpf_map_lookup_elem(&kitchen_map, &key);
	if (!k)
		return 0;
	bss_var = helper(data_var, k) + global_func(ro_var) + custom_data + custom_ro + CONFIG_HZ;
	bss_buf[0] = ro_str[0];
	if (bpf_fake_kfunc)
		bss_var += bpf_fake_kfunc(1);
	if (CONFIG_NR_CPUS)
		bss_var++;
	data_var2 = (long)&bpf_prog_active;
	bss_var += *(volatile int *)&float_var + *(volatile int *)&double_var;
	kitchen_var.se = SE_B;
	static_var++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
