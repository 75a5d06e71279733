// SPDX-License-Identifier: BSD-2-Clause
/*
 * The libbpf side of `npm run bench`. A small command server: bench/run.ts starts it once, writes one
 * command per line on stdin and reads one JSON object per line from stdout, so libbpf and tsbpf runs
 * can be interleaved without paying a process start per sample. Every timing is in nanoseconds
 * (CLOCK_MONOTONIC) and covers only the measured operation.
 *
 *   load <obj> <iters>                     open_file + load + close, <iters> times
 *       -> {"total":[ns...],"open":[ns...]}
 *   btf <iters> <lookups 0|1>              btf__parse("/sys/kernel/btf/vmlinux") (+ name lookups) + btf__free
 *       -> {"total":[ns...],"types":N}
 *   mapsetup <obj> <max_entries>           opens and loads the map-benchmark object (kept loaded)
 *       -> {"ok":true}
 *   mapop <hash|array> <op> <n> <batch> <reps>
 *       op: update | lookup | update_batch | lookup_batch; each rep does <n> element operations on
 *       keys 0..n-1 (batched ops in chunks of <batch>)
 *       -> {"total":[ns per rep...],"checksum":X}
 *   nullsys <getpid|getuid> <n> <reps>    <n> bare syscall(SYS_getpid / SYS_getuid): the syscall floor
 *       -> {"total":[ns per rep...]}
 *   quit
 *
 * Build: gcc -O2 -o bench-libbpf bench-libbpf.c -lbpf -lelf -lz
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#define VALUE_SIZE 32 /* struct value32 in bench/bpf/mapbench.bpf.c */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level > LIBBPF_WARN)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void print_samples(const char *name, const uint64_t *s, int n)
{
	printf("\"%s\":[", name);
	for (int i = 0; i < n; i++)
		printf("%s%llu", i ? "," : "", (unsigned long long)s[i]);
	printf("]");
}

static void reply_error(const char *what, int err)
{
	printf("{\"error\":\"%s: %s (%d)\"}\n", what, strerror(err < 0 ? -err : err), err);
	fflush(stdout);
}

/* ---- load ---------------------------------------------------------------------------------------- */

static void cmd_load(const char *path, int iters)
{
	uint64_t *total = calloc(iters, sizeof(*total)), *open = calloc(iters, sizeof(*open));

	for (int i = 0; i < iters; i++) {
		uint64_t t0 = now_ns(), t1;
		struct bpf_object *obj = bpf_object__open_file(path, NULL);
		int err;

		if (!obj) {
			reply_error("bpf_object__open_file", errno);
			goto out;
		}
		t1 = now_ns();
		err = bpf_object__load(obj);
		if (err) {
			bpf_object__close(obj);
			reply_error("bpf_object__load", err);
			goto out;
		}
		bpf_object__close(obj);
		total[i] = now_ns() - t0;
		open[i] = t1 - t0;
	}
	printf("{");
	print_samples("total", total, iters);
	printf(",");
	print_samples("open", open, iters);
	printf("}\n");
	fflush(stdout);
out:
	free(total);
	free(open);
}

/* ---- vmlinux BTF --------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	int kind;
} lookups[] = {
	{ "task_struct", BTF_KIND_STRUCT },
	{ "sk_buff", BTF_KIND_STRUCT },
	{ "bpf_prog", BTF_KIND_STRUCT },
	{ "xdp_md", BTF_KIND_STRUCT },
	{ "tcp_sendmsg", BTF_KIND_FUNC },
};

static void cmd_btf(int iters, int with_lookups)
{
	uint64_t *total = calloc(iters, sizeof(*total));
	long long checksum = 0;
	unsigned int types = 0;

	for (int i = 0; i < iters; i++) {
		uint64_t t0 = now_ns();
		struct btf *btf = btf__parse("/sys/kernel/btf/vmlinux", NULL);

		if (!btf) {
			reply_error("btf__parse", errno);
			free(total);
			return;
		}
		if (with_lookups) {
			for (size_t j = 0; j < sizeof(lookups) / sizeof(lookups[0]); j++) {
				int id = btf__find_by_name_kind(btf, lookups[j].name, lookups[j].kind);

				checksum += id;
			}
		}
		types = btf__type_cnt(btf);
		btf__free(btf);
		total[i] = now_ns() - t0;
	}
	printf("{");
	print_samples("total", total, iters);
	printf(",\"types\":%u,\"checksum\":%lld}\n", types, checksum);
	fflush(stdout);
	free(total);
}

/* ---- maps ---------------------------------------------------------------------------------------- */

static struct bpf_object *map_obj;
static int hash_fd = -1, array_fd = -1;

static void cmd_mapsetup(const char *path, unsigned int max_entries)
{
	struct bpf_map *m;
	int err;

	if (map_obj)
		bpf_object__close(map_obj);
	map_obj = bpf_object__open_file(path, NULL);
	if (!map_obj) {
		reply_error("bpf_object__open_file", errno);
		return;
	}
	bpf_object__for_each_map(m, map_obj) {
		const char *name = bpf_map__name(m);

		if (!strcmp(name, "bench_hash") || !strcmp(name, "bench_array"))
			bpf_map__set_max_entries(m, max_entries);
	}
	err = bpf_object__load(map_obj);
	if (err) {
		reply_error("bpf_object__load", err);
		return;
	}
	hash_fd = bpf_object__find_map_fd_by_name(map_obj, "bench_hash");
	array_fd = bpf_object__find_map_fd_by_name(map_obj, "bench_array");
	printf("{\"ok\":true,\"hash_fd\":%d,\"array_fd\":%d}\n", hash_fd, array_fd);
	fflush(stdout);
}

static void cmd_mapop(const char *which, const char *op, uint32_t n, uint32_t batch, int reps)
{
	int fd = !strcmp(which, "hash") ? hash_fd : array_fd;
	uint64_t *total = calloc(reps, sizeof(*total));
	uint32_t *keys = calloc(n, sizeof(uint32_t));
	uint8_t *values = calloc(n, VALUE_SIZE);
	uint32_t *out_keys = calloc(batch, sizeof(uint32_t));
	uint8_t *out_values = calloc(batch, VALUE_SIZE);
	uint8_t value[VALUE_SIZE] = {};
	uint64_t checksum = 0;
	uint32_t key;
	int err = 0;

	for (uint32_t i = 0; i < n; i++) {
		keys[i] = i;
		memcpy(values + (size_t)i * VALUE_SIZE, &i, sizeof(i));
	}
	for (int r = 0; r < reps; r++) {
		uint64_t t0 = now_ns();

		if (!strcmp(op, "update")) {
			for (uint32_t i = 0; i < n; i++) {
				key = i;
				memcpy(value, &i, sizeof(i));
				err = bpf_map_update_elem(fd, &key, value, BPF_ANY);
				if (err)
					break;
			}
		} else if (!strcmp(op, "lookup")) {
			for (uint32_t i = 0; i < n; i++) {
				key = i;
				err = bpf_map_lookup_elem(fd, &key, value);
				if (err)
					break;
				checksum += value[0];
			}
		} else if (!strcmp(op, "update_batch")) {
			for (uint32_t off = 0; off < n; off += batch) {
				uint32_t count = n - off < batch ? n - off : batch;

				err = bpf_map_update_batch(fd, keys + off, values + (size_t)off * VALUE_SIZE, &count, NULL);
				if (err)
					break;
			}
		} else if (!strcmp(op, "lookup_batch")) {
			uint32_t in_batch = 0, out_batch = 0, seen = 0;
			int first = 1;

			for (;;) {
				uint32_t count = batch;

				err = bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, out_keys, out_values,
							   &count, NULL);
				if (err && errno != ENOENT)
					break;
				seen += count;
				if (count)
					checksum += out_values[0];
				if (err) { /* ENOENT: done */
					err = 0;
					break;
				}
				in_batch = out_batch;
				first = 0;
			}
			if (!err && seen != n) {
				printf("{\"error\":\"lookup_batch saw %u entries, expected %u\"}\n", seen, n);
				fflush(stdout);
				goto out;
			}
		} else {
			printf("{\"error\":\"unknown map op %s\"}\n", op);
			fflush(stdout);
			goto out;
		}
		total[r] = now_ns() - t0;
		if (err) {
			reply_error(op, errno);
			goto out;
		}
	}
	printf("{");
	print_samples("total", total, reps);
	printf(",\"checksum\":%llu}\n", (unsigned long long)checksum);
	fflush(stdout);
out:
	free(total);
	free(keys);
	free(values);
	free(out_keys);
	free(out_values);
}

/* ---- floor --------------------------------------------------------------------------------------- */

static void cmd_nullsys(const char *which, uint32_t n, int reps)
{
	long nr = !strcmp(which, "getuid") ? SYS_getuid : SYS_getpid;
	uint64_t *total = calloc(reps, sizeof(*total));
	long sum = 0;

	for (int r = 0; r < reps; r++) {
		uint64_t t0 = now_ns();

		for (uint32_t i = 0; i < n; i++)
			sum += syscall(nr);
		total[r] = now_ns() - t0;
	}
	printf("{");
	print_samples("total", total, reps);
	printf(",\"checksum\":%ld}\n", sum);
	fflush(stdout);
	free(total);
}

/* ---- main loop ----------------------------------------------------------------------------------- */

int main(void)
{
	char line[4096], a[1024], b[64];
	unsigned int n1, n2, n3;

	libbpf_set_print(print_warnings);
	printf("{\"ready\":true,\"libbpf\":\"%u.%u\"}\n", libbpf_major_version(), libbpf_minor_version());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "load %1023s %u", a, &n1) == 2)
			cmd_load(a, (int)n1);
		else if (sscanf(line, "btf %u %u", &n1, &n2) == 2)
			cmd_btf((int)n1, (int)n2);
		else if (sscanf(line, "mapsetup %1023s %u", a, &n1) == 2)
			cmd_mapsetup(a, n1);
		else if (sscanf(line, "mapop %63s %63s %u %u %u", a, b, &n1, &n2, &n3) == 5)
			cmd_mapop(a, b, n1, n2, (int)n3);
		else if (sscanf(line, "nullsys %63s %u %u", b, &n1, &n2) == 3)
			cmd_nullsys(b, n1, (int)n2);
		else if (!strncmp(line, "quit", 4))
			break;
		else {
			printf("{\"error\":\"bad command\"}\n");
			fflush(stdout);
		}
	}
	if (map_obj)
		bpf_object__close(map_obj);
	return 0;
}
