// SPDX-License-Identifier: BSD-2-Clause
/*
 * The libbpf side of bench/core.ts (CO-RE and kernel BTF), and a libbpf reference for
 * test/core-tools.test.ts. Server mode (no arguments) answers one JSON line per command on stdin,
 * like bench-libbpf.c; every timing is in nanoseconds (CLOCK_MONOTONIC) of the operation alone.
 *
 *   vmlinux <iters>       btf__load_vmlinux_btf + one btf__find_by_name_kind (task_struct) + btf__free
 *                         (what every bpf_object__load of a CO-RE object does at least once)
 *       -> {"total":[ns...],"types":N}
 *   vmheap                 heap (mallinfo2 in-use bytes) and RSS growth of one btf__load_vmlinux_btf,
 *                          kept alive -> {"heap":B,"rss":B}
 *   load <obj> <iters>    open_file + load + close, <iters> times -> {"total":[ns...]}
 *   quit
 *
 * One-shot modes (one JSON line on stdout, then exit):
 *   bench-core --first <obj>          the process's first open+load(+close): {"total":[ns],"open":ns}
 *   bench-core --xlated <obj>         loads, then one {"prog":NAME,"tag":HEX,"xlated":HEX,"maps":{ID:NAME}}
 *                                     per loaded program; {"err":-errno} if the load fails
 *   bench-core --attach-kprobe <obj> <prog> <func>
 *                                     loads with only <prog> autoloaded, attaches it as a kprobe:
 *                                     {"load":0|-errno,"attach":0|-errno}
 *
 * Build: gcc -O2 -o bench-core bench-core.c -lbpf -lelf -lz
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
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

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level > LIBBPF_WARN || getenv("BENCH_CORE_QUIET"))
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

static long rss_bytes(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * sysconf(_SC_PAGESIZE);
}

static void cmd_vmlinux(int iters)
{
	uint64_t *total = calloc(iters, sizeof(*total));
	int types = 0;

	for (int i = 0; i < iters; i++) {
		uint64_t t0 = now_ns();
		struct btf *btf = btf__load_vmlinux_btf();

		if (!btf) {
			reply_error("btf__load_vmlinux_btf", -errno);
			free(total);
			return;
		}
		types = (int)btf__type_cnt(btf);
		if (btf__find_by_name_kind(btf, "task_struct", BTF_KIND_STRUCT) <= 0)
			types = -1;
		btf__free(btf);
		total[i] = now_ns() - t0;
	}
	printf("{");
	print_samples("total", total, iters);
	printf(",\"types\":%d}\n", types);
	fflush(stdout);
	free(total);
}

static void cmd_vmheap(void)
{
	static struct btf *kept;
	struct mallinfo2 before, after;
	long rss0;

	if (kept)
		btf__free(kept);
	kept = NULL;
	before = mallinfo2();
	rss0 = rss_bytes();
	kept = btf__load_vmlinux_btf();
	if (!kept) {
		reply_error("btf__load_vmlinux_btf", -errno);
		return;
	}
	/* libbpf's by-name lookups (CO-RE candidate search) walk all types; touch them as a load would. */
	btf__find_by_name_kind(kept, "task_struct", BTF_KIND_STRUCT);
	after = mallinfo2();
	printf("{\"heap\":%zu,\"rss\":%ld}\n", (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd), rss_bytes() - rss0);
	fflush(stdout);
}

static int load_once(const char *path, uint64_t *open_ns)
{
	uint64_t t0 = now_ns();
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	int err;

	if (!obj)
		return -errno;
	if (open_ns)
		*open_ns = now_ns() - t0;
	err = bpf_object__load(obj);
	bpf_object__close(obj);
	return err;
}

static void cmd_load(const char *path, int iters)
{
	uint64_t *total = calloc(iters, sizeof(*total));

	for (int i = 0; i < iters; i++) {
		uint64_t t0 = now_ns();
		int err = load_once(path, NULL);

		if (err) {
			reply_error("load", err);
			free(total);
			return;
		}
		total[i] = now_ns() - t0;
	}
	printf("{");
	print_samples("total", total, iters);
	printf("}\n");
	fflush(stdout);
	free(total);
}

static void put_hex(const void *p, size_t n)
{
	const unsigned char *b = p;

	putchar('"');
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	putchar('"');
}

static int one_xlated(const char *path)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *p;
	int err;

	if (!obj) {
		printf("{\"err\":%d}\n", -errno);
		return 0;
	}
	err = bpf_object__load(obj);
	if (err) {
		printf("{\"err\":%d}\n", err);
		bpf_object__close(obj);
		return 0;
	}
	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info), xlen;
		struct bpf_map *m;
		unsigned char *x;
		int fd = bpf_program__fd(p), first = 1;

		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len))
			continue;
		xlen = info.xlated_prog_len;
		x = calloc(1, xlen ? xlen : 1);
		memset(&info, 0, sizeof(info));
		info.xlated_prog_len = xlen;
		info.xlated_prog_insns = (__u64)(uintptr_t)x;
		len = sizeof(info);
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			free(x);
			continue;
		}
		printf("{\"prog\":\"%s\",\"tag\":", bpf_program__name(p));
		put_hex(info.tag, sizeof(info.tag));
		printf(",\"xlated\":");
		put_hex(x, xlen);
		printf(",\"maps\":{");
		bpf_object__for_each_map(m, obj) {
			struct bpf_map_info mi = {};
			__u32 ml = sizeof(mi);

			if (bpf_map__fd(m) < 0 || bpf_obj_get_info_by_fd(bpf_map__fd(m), &mi, &ml))
				continue;
			printf("%s\"%u\":\"%s\"", first ? "" : ",", mi.id, bpf_map__name(m));
			first = 0;
		}
		printf("}}\n");
		free(x);
	}
	bpf_object__close(obj);
	return 0;
}

static int one_attach_kprobe(const char *path, const char *prog, const char *func)
{
	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	struct bpf_program *p, *want = NULL;
	struct bpf_link *link;
	int err;

	if (!obj) {
		printf("{\"load\":%d}\n", -errno);
		return 0;
	}
	bpf_object__for_each_program(p, obj) {
		bool me = !strcmp(bpf_program__name(p), prog);
		bpf_program__set_autoload(p, me);
		if (me)
			want = p;
	}
	if (!want) {
		printf("{\"load\":%d}\n", -ENOENT);
		return 0;
	}
	err = bpf_object__load(obj);
	if (err) {
		printf("{\"load\":%d}\n", err);
		bpf_object__close(obj);
		return 0;
	}
	link = bpf_program__attach_kprobe(want, false, func);
	err = link ? 0 : -errno;
	printf("{\"load\":0,\"attach\":%d}\n", err);
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}

int main(int argc, char **argv)
{
	char line[4096], a[1024];
	unsigned int n1;

	libbpf_set_print(quiet);
	if (argc == 3 && !strcmp(argv[1], "--first")) {
		uint64_t open_ns = 0, t0 = now_ns();
		int err = load_once(argv[2], &open_ns);

		if (err) {
			reply_error("load", err);
			return 1;
		}
		printf("{\"total\":[%llu],\"open\":%llu}\n", (unsigned long long)(now_ns() - t0), (unsigned long long)open_ns);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "--xlated"))
		return one_xlated(argv[2]);
	if (argc == 5 && !strcmp(argv[1], "--attach-kprobe"))
		return one_attach_kprobe(argv[2], argv[3], argv[4]);
	if (argc != 1) {
		fprintf(stderr, "usage: bench-core [--first OBJ | --xlated OBJ | --attach-kprobe OBJ PROG FUNC]\n");
		return 2;
	}

	printf("{\"ready\":true,\"libbpf\":\"%u.%u\"}\n", libbpf_major_version(), libbpf_minor_version());
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "vmlinux %u", &n1) == 1)
			cmd_vmlinux((int)n1);
		else if (!strncmp(line, "vmheap", 6))
			cmd_vmheap();
		else if (sscanf(line, "load %1023s %u", a, &n1) == 2)
			cmd_load(a, (int)n1);
		else if (!strncmp(line, "quit", 4))
			break;
		else {
			printf("{\"error\":\"bad command\"}\n");
			fflush(stdout);
		}
	}
	return 0;
}
