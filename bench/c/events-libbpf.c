// SPDX-License-Identifier: BSD-2-Clause
/*
 * The libbpf side of bench/events.ts: ring buffer and perf buffer consumers measured with the same
 * producer programs (test/bpf/events-bench.bpf.c) and the same loop shapes as the tsbpf side. One
 * measurement per invocation; one JSON object on stdout. Times are CLOCK_MONOTONIC nanoseconds (the
 * clock bpf_ktime_get_ns() and Node's process.hrtime use).
 *
 *   events-libbpf <obj> rb-consume <n> <reps>            fill the ring with n records, time one drain
 *   events-libbpf <obj> rb-e2e <total> <chunk>           producer thread vs ring_buffer__poll loop
 *   events-libbpf <obj> rb-latency <count> <gap_us>      one timestamped record every gap_us
 *   events-libbpf <obj> pb-consume <n> <reps> <pages>
 *   events-libbpf <obj> pb-e2e <total> <chunk> <pages>
 *   events-libbpf <obj> pb-latency <count> <gap_us> <pages>
 *
 * Build: gcc -O2 -o events-libbpf events-libbpf.c -lbpf -lelf -lz -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

struct rec {
	uint64_t seq;
	uint64_t ts;
	uint64_t pad[6];
};

static struct bpf_object *obj;
static int rb_prog, pb_prog;
static volatile int producer_cpu = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level > LIBBPF_WARN ? 0 : vfprintf(stderr, fmt, args);
}

/* A u64 global in .bss, found through the object's BTF, read from the kernel map. */
static uint64_t bss_u64(const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, ".bss");
	const struct btf *btf = bpf_object__btf(obj);
	int id = btf__find_by_name_kind(btf, ".bss", BTF_KIND_DATASEC);
	const struct btf_type *ds = btf__type_by_id(btf, id);
	const struct btf_var_secinfo *v = btf_var_secinfos(ds);
	static char img[4096];
	int zero = 0;

	if (bpf_map__value_size(m) > sizeof(img) || bpf_map_lookup_elem(bpf_map__fd(m), &zero, img))
		die("lookup .bss: %s", strerror(errno));
	for (int i = 0; i < btf_vlen(ds); i++, v++) {
		const struct btf_type *t = btf__type_by_id(btf, v->type);

		if (strcmp(btf__name_by_offset(btf, t->name_off), name) == 0)
			return *(uint64_t *)(img + v->offset);
	}
	die("no %s in .bss", name);
	return 0;
}

static void produce(int prog, uint64_t count, uint64_t with_ts, int cpu)
{
	uint64_t args[2] = { count, with_ts };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));

	if (cpu >= 0) {
		o.flags = BPF_F_TEST_RUN_ON_CPU;
		o.cpu = cpu;
	}
	if (bpf_prog_test_run_opts(prog, &o))
		die("test_run: %s", strerror(errno));
}

/* ---- consumers ------------------------------------------------------------------------------- */

static uint64_t expected, bad, received, lost;
static uint64_t *lat;
static uint64_t lat_n, lat_cap;

static int rb_cb(void *ctx, void *data, size_t size)
{
	const struct rec *r = data;

	if (r->seq != expected)
		bad++;
	expected = r->seq + 1;
	received++;
	return 0;
}

static int rb_lat_cb(void *ctx, void *data, size_t size)
{
	const struct rec *r = data;
	uint64_t t = now_ns();

	if (lat_n < lat_cap)
		lat[lat_n++] = t - r->ts;
	received++;
	return 0;
}

static void pb_cb(void *ctx, int cpu, void *data, __u32 size)
{
	const struct rec *r = data;

	if (r->seq != expected)
		bad++;
	expected = r->seq + 1;
	received++;
}

static void pb_lat_cb(void *ctx, int cpu, void *data, __u32 size)
{
	const struct rec *r = data;
	uint64_t t = now_ns();

	if (lat_n < lat_cap)
		lat[lat_n++] = t - r->ts;
	received++;
}

static void pb_lost_cb(void *ctx, int cpu, __u64 cnt)
{
	lost += cnt;
}

/* ---- producer thread ------------------------------------------------------------------------- */

struct prod_args {
	int prog;
	uint64_t total, chunk, gap_us, with_ts;
	uint64_t t_start, t_end;
	volatile int done;
};

static void *producer(void *p)
{
	struct prod_args *a = p;

	a->t_start = now_ns();
	for (uint64_t sent = 0; sent < a->total; sent += a->chunk) {
		uint64_t n = a->total - sent < a->chunk ? a->total - sent : a->chunk;

		produce(a->prog, n, a->with_ts, producer_cpu);
		if (a->gap_us)
			usleep(a->gap_us);
	}
	a->t_end = now_ns();
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void print_array(const char *name, const uint64_t *v, uint64_t n)
{
	printf("\"%s\":[", name);
	for (uint64_t i = 0; i < n; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)v[i]);
	printf("]");
}

int main(int argc, char **argv)
{
	if (argc < 4)
		die("usage: %s <obj> <mode> <args...>", argv[0]);
	libbpf_set_print(quiet);
	const char *mode = argv[2];
	int is_pb = strncmp(mode, "pb-", 3) == 0;
	uint64_t a1 = strtoull(argv[3], NULL, 0);
	uint64_t a2 = argc > 4 ? strtoull(argv[4], NULL, 0) : 0;
	uint64_t pages = argc > 5 ? strtoull(argv[5], NULL, 0) : 64;

	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj))
		die("load %s: %s", argv[1], strerror(errno));
	rb_prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "rb_produce"));
	pb_prog = bpf_program__fd(bpf_object__find_program_by_name(obj, "pb_produce"));
	int rb_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "rb"));
	int pb_fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "pb"));
	int latency = strstr(mode, "latency") != NULL;

	struct ring_buffer *rb = NULL;
	struct perf_buffer *pb = NULL;
	if (is_pb) {
		pb = perf_buffer__new(pb_fd, pages, latency ? pb_lat_cb : pb_cb, pb_lost_cb, NULL, NULL);
		if (!pb)
			die("perf_buffer__new: %s", strerror(errno));
	} else {
		rb = ring_buffer__new(rb_fd, latency ? rb_lat_cb : rb_cb, NULL, NULL);
		if (!rb)
			die("ring_buffer__new: %s", strerror(errno));
	}

	if (strcmp(mode, "rb-consume") == 0 || strcmp(mode, "pb-consume") == 0) {
		uint64_t n = a1, reps = a2;
		uint64_t *ns = calloc(reps, sizeof(*ns));
		uint64_t drops0 = 0;

		for (uint64_t r = 0; r < reps; r++) {
			received = 0;
			expected = is_pb ? bss_u64("pb_seq") : bss_u64("rb_seq");
			/* perf: everything on CPU 0, so one buffer holds the burst */
			produce(is_pb ? pb_prog : rb_prog, n, 0, 0);
			uint64_t t0 = now_ns();
			int got = is_pb ? perf_buffer__consume(pb) : ring_buffer__consume(rb);
			uint64_t t1 = now_ns();
			if (got < 0)
				die("consume: %d", got);
			ns[r] = t1 - t0;
			if (received != n)
				bad++;
		}
		drops0 = is_pb ? bss_u64("pb_drops") : bss_u64("rb_drops");
		printf("{\"n\":%llu,", (unsigned long long)n);
		print_array("ns", ns, reps);
		printf(",\"bad\":%llu,\"drops\":%llu}\n", (unsigned long long)bad, (unsigned long long)drops0);
	} else if (strcmp(mode, "rb-e2e") == 0 || strcmp(mode, "pb-e2e") == 0) {
		struct prod_args pa = { .prog = is_pb ? pb_prog : rb_prog, .total = a1, .chunk = a2 };
		pthread_t th;
		uint64_t t_last = 0, wakes = 0;

		producer_cpu = is_pb ? 1 : -1;
		expected = 0;
		if (pthread_create(&th, NULL, producer, &pa))
			die("pthread_create");
		for (;;) {
			int done = __atomic_load_n(&pa.done, __ATOMIC_ACQUIRE);
			uint64_t before = received;
			int err = is_pb ? perf_buffer__poll(pb, 100) : ring_buffer__poll(rb, 100);

			if (err < 0 && err != -EINTR)
				die("poll: %d", err);
			if (received != before) {
				t_last = now_ns();
				wakes++;
			}
			if (done) {
				before = received;
				if (is_pb)
					perf_buffer__consume(pb);
				else
					ring_buffer__consume(rb);
				if (received != before)
					t_last = now_ns();
				break;
			}
		}
		pthread_join(th, NULL);
		uint64_t drops = is_pb ? bss_u64("pb_drops") : bss_u64("rb_drops");
		printf("{\"total\":%llu,\"received\":%llu,\"drops\":%llu,\"lost\":%llu,\"bad\":%llu,\"wakes\":%llu,"
		       "\"t_start\":%llu,\"t_prod_end\":%llu,\"t_last\":%llu}\n",
		       (unsigned long long)a1, (unsigned long long)received, (unsigned long long)drops,
		       (unsigned long long)lost, (unsigned long long)bad, (unsigned long long)wakes, (unsigned long long)pa.t_start,
		       (unsigned long long)pa.t_end, (unsigned long long)t_last);
	} else if (strcmp(mode, "rb-latency") == 0 || strcmp(mode, "pb-latency") == 0) {
		struct prod_args pa = { .prog = is_pb ? pb_prog : rb_prog, .total = a1, .chunk = 1, .gap_us = a2, .with_ts = 1 };
		pthread_t th;

		lat_cap = a1;
		lat = calloc(lat_cap, sizeof(*lat));
		if (pthread_create(&th, NULL, producer, &pa))
			die("pthread_create");
		while (received < a1) {
			int err = is_pb ? perf_buffer__poll(pb, 1000) : ring_buffer__poll(rb, 1000);

			if (err < 0 && err != -EINTR)
				die("poll: %d", err);
			if (__atomic_load_n(&pa.done, __ATOMIC_ACQUIRE) && err == 0)
				break;
		}
		pthread_join(th, NULL);
		printf("{");
		print_array("lat", lat, lat_n);
		printf(",\"received\":%llu}\n", (unsigned long long)received);
	} else {
		die("unknown mode %s", mode);
	}
	ring_buffer__free(rb);
	perf_buffer__free(pb);
	bpf_object__close(obj);
	return 0;
}
