// SPDX-License-Identifier: BSD-2-Clause
/*
 * The libbpf side of bench/events.ts: ring buffer and perf buffer consumers measured with the same
 * producer programs (test/bpf/events-bench.bpf.c) and the same loop shapes as the tsbpf side. One
 * measurement per invocation; one JSON object on stdout. Times are CLOCK_MONOTONIC nanoseconds (the
 * clock bpf_ktime_get_ns() and Node's process.hrtime use).
 *
 *   events-libbpf <obj> rb-consume <n> <reps>                     fill the ring with n records, time one drain
 *   events-libbpf <obj> pb-consume <n> <reps> <pages>
 *   events-libbpf <obj> rb-e2e <total> <chunk> <until_full> <consumer_cpu> <producer_cpu> <wake_every>
 *   events-libbpf <obj> pb-e2e <total> <chunk> <until_full> <consumer_cpu> <producer_cpu> <wakeup_events> <pages>
 *   events-libbpf <obj> rb-prod <total> <chunk> <cpu> <pages> <wake_every>    the producer alone, pinned
 *   events-libbpf <obj> pb-prod <total> <chunk> <cpu> <pages> <wakeup_events>
 *   events-libbpf <obj> rb-latency <count> <gap_us>              one timestamped record every gap_us
 *   events-libbpf <obj> pb-latency <count> <gap_us> <pages>
 *
 * End to end: the producer thread is pinned to producer_cpu and runs the program there (test_run with
 * no CPU flag), the consumer (this main thread) is pinned to consumer_cpu; -1 leaves a thread unpinned.
 * until_full makes the producer wait for room instead of dropping; wake_every > 0 makes the ring buffer
 * producer wake the consumer every that many records instead of leaving it to the kernel (see
 * events-bench.bpf.c); wakeup_events is the perf events' (perf_buffer__new uses 1; more takes
 * perf_buffer__new_raw, whose callback gets the raw perf records).
 *
 * Build: gcc -O2 -o events-libbpf events-libbpf.c -lbpf -lelf -lz -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
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
#include <linux/perf_event.h>

struct rec {
	uint64_t seq;
	uint64_t ts;
	uint64_t pad[6];
};

static struct bpf_object *obj;
static int rb_prog, pb_prog;

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

/* Runs the producer for count records; returns how many it emitted (fewer only with until_full). */
static uint32_t produce(int prog, uint64_t count, uint64_t with_ts, uint64_t until_full, uint64_t wake_every, int cpu)
{
	uint64_t args[4] = { count, with_ts, until_full, wake_every };
	LIBBPF_OPTS(bpf_test_run_opts, o, .ctx_in = args, .ctx_size_in = sizeof(args));

	if (cpu >= 0) {
		o.flags = BPF_F_TEST_RUN_ON_CPU;
		o.cpu = cpu;
	}
	if (bpf_prog_test_run_opts(prog, &o))
		die("test_run: %s", strerror(errno));
	return o.retval;
}

/* Pins the calling thread to one CPU (-1: leaves it alone). */
static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		die("sched_setaffinity(%d): %s", cpu, strerror(errno));
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

/* perf_buffer__new_raw's callback: what perf_buffer__new's does before calling pb_cb / pb_lost_cb. */
static enum bpf_perf_event_ret pb_raw_cb(void *ctx, int cpu, struct perf_event_header *e)
{
	if (e->type == PERF_RECORD_SAMPLE) {
		struct { struct perf_event_header h; uint32_t size; char data[]; } *s = (void *)e;

		pb_cb(ctx, cpu, s->data, s->size);
	} else if (e->type == PERF_RECORD_LOST) {
		struct { struct perf_event_header h; uint64_t id, lost; } *l = (void *)e;

		pb_lost_cb(ctx, cpu, l->lost);
	}
	return LIBBPF_PERF_EVENT_CONT;
}

/* ---- producer thread ------------------------------------------------------------------------- */

struct prod_args {
	int prog, cpu;
	uint64_t total, chunk, gap_us, with_ts, until_full, wake_every;
	uint64_t t_start, t_end, waits;
	volatile int done;
};

/* The same loop as the tsbpf side's producer thread (bench/events.ts PRODUCER_JS). */
static void *producer(void *p)
{
	struct prod_args *a = p;

	pin(a->cpu);
	a->t_start = now_ns();
	for (uint64_t sent = 0; sent < a->total;) {
		uint64_t n = a->total - sent < a->chunk ? a->total - sent : a->chunk;
		uint32_t got = produce(a->prog, n, a->with_ts, a->until_full, a->wake_every, -1);

		/* fewer than n only when stopped at a full ring (until_full); free-running, the rest dropped */
		sent += a->until_full ? got : n;
		if (a->until_full && got < n) {
			a->waits++;
			sched_yield();
		}
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
	int e2e = strstr(mode, "e2e") != NULL;
	int prod_only = strstr(mode, "prod") != NULL;
	/* the e2e modes take until_full, consumer_cpu and producer_cpu before the page count */
	uint64_t until_full = e2e && argc > 5 ? strtoull(argv[5], NULL, 0) : 0;
	int cons_cpu = e2e && argc > 6 ? atoi(argv[6]) : -1;
	int prod_cpu = e2e && argc > 7 ? atoi(argv[7]) : -1;
	uint64_t wake = e2e && argc > 8 ? strtoull(argv[8], NULL, 0) : prod_only && argc > 7 ? strtoull(argv[7], NULL, 0) : 0;
	int pages_arg = e2e ? 9 : prod_only ? 6 : 5;
	uint64_t pages = argc > pages_arg ? strtoull(argv[pages_arg], NULL, 0) : 64;

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
	if (is_pb && wake > 1) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE, .config = PERF_COUNT_SW_BPF_OUTPUT, .sample_type = PERF_SAMPLE_RAW,
			.sample_period = 1, .wakeup_events = wake,
		};

		pb = perf_buffer__new_raw(pb_fd, pages, &attr, pb_raw_cb, NULL, NULL);
		if (!pb)
			die("perf_buffer__new_raw: %s", strerror(errno));
	} else if (is_pb) {
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
			produce(is_pb ? pb_prog : rb_prog, n, 0, 0, 0, 0);
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
	} else if (strcmp(mode, "rb-prod") == 0 || strcmp(mode, "pb-prod") == 0) {
		/* Only the test_run calls are timed; the rings are drained between them, untimed. */
		uint64_t ns = 0;

		pin(argc > 5 ? atoi(argv[5]) : -1);
		for (uint64_t sent = 0; sent < a1; sent += a2) {
			uint64_t n = a1 - sent < a2 ? a1 - sent : a2;
			uint64_t t0 = now_ns();

			produce(is_pb ? pb_prog : rb_prog, n, 0, 0, is_pb ? 0 : wake, -1);
			ns += now_ns() - t0;
			if (is_pb)
				perf_buffer__consume(pb);
			else
				ring_buffer__consume(rb);
		}
		printf("{\"total\":%llu,\"ns\":%llu,\"received\":%llu,\"drops\":%llu}\n", (unsigned long long)a1,
		       (unsigned long long)ns, (unsigned long long)received,
		       (unsigned long long)(is_pb ? bss_u64("pb_drops") : bss_u64("rb_drops")));
	} else if (strcmp(mode, "rb-e2e") == 0 || strcmp(mode, "pb-e2e") == 0) {
		struct prod_args pa = { .prog = is_pb ? pb_prog : rb_prog, .total = a1, .chunk = a2,
					.until_full = until_full, .wake_every = is_pb ? 0 : wake, .cpu = prod_cpu };
		pthread_t th;
		uint64_t t_last = 0, wakes = 0;

		pin(cons_cpu);
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
		uint64_t full = is_pb ? bss_u64("pb_full") : bss_u64("rb_full");
		printf("{\"total\":%llu,\"received\":%llu,\"drops\":%llu,\"full\":%llu,\"waits\":%llu,\"lost\":%llu,"
		       "\"bad\":%llu,\"wakes\":%llu,\"t_start\":%llu,\"t_prod_end\":%llu,\"t_last\":%llu}\n",
		       (unsigned long long)a1, (unsigned long long)received, (unsigned long long)drops,
		       (unsigned long long)full, (unsigned long long)pa.waits, (unsigned long long)lost,
		       (unsigned long long)bad, (unsigned long long)wakes, (unsigned long long)pa.t_start,
		       (unsigned long long)pa.t_end, (unsigned long long)t_last);
	} else if (strcmp(mode, "rb-latency") == 0 || strcmp(mode, "pb-latency") == 0) {
		struct prod_args pa = { .prog = is_pb ? pb_prog : rb_prog, .total = a1, .chunk = 1, .gap_us = a2, .with_ts = 1,
					.cpu = -1 };
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
