// core-ref: libbpf's side of tsbpf's CO-RE tests.
//
//   core-ref OBJ [--btf PATH] [--autoload PROG]... [--no-load]
//       Opens OBJ (btf_custom_path = PATH), turns autoload on for the given programs and loads it,
//       with libbpf's debug messages on stderr (they list every CO-RE patch). Prints one JSON line:
//       {"cmd":"load","err":0|-errno,"ms":<bpf_object__load time>}, then after a successful load one
//       {"cmd":"prog","name":...,"tag":HEX} per loaded program.
//   core-ref --time-vmlinux
//       Prints {"cmd":"vmlinux","ms":<btf__load_vmlinux_btf time>,"types":<count>}.
//
// The exit status is 0 unless the arguments are wrong (2).

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <bpf/libbpf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !getenv("CORE_REF_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, args);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	const char *btf_path = NULL;
	const char *autoload[64];
	int nautoload = 0, no_load = 0;
	struct bpf_object *obj;
	double t0, t1;
	int i, err;

	libbpf_set_print(print_fn);
	if (argc == 2 && !strcmp(argv[1], "--time-vmlinux")) {
		struct btf *btf;

		t0 = now_ms();
		btf = btf__load_vmlinux_btf();
		t1 = now_ms();
		if (!btf)
			return 1;
		printf("{\"cmd\":\"vmlinux\",\"ms\":%.3f,\"types\":%u}\n", t1 - t0, btf__type_cnt(btf));
		btf__free(btf);
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: core-ref OBJ [--btf PATH] [--autoload PROG]... [--no-load] | --time-vmlinux\n");
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--btf") && i + 1 < argc)
			btf_path = argv[++i];
		else if (!strcmp(argv[i], "--autoload") && i + 1 < argc && nautoload < 64)
			autoload[nautoload++] = argv[++i];
		else if (!strcmp(argv[i], "--no-load"))
			no_load = 1;
		else {
			fprintf(stderr, "core-ref: bad argument %s\n", argv[i]);
			return 2;
		}
	}

	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path, .object_name = "");
	obj = bpf_object__open_file(argv[1], &opts);
	if (!obj) {
		printf("{\"cmd\":\"open\",\"err\":%d}\n", -errno);
		return 0;
	}
	for (i = 0; i < nautoload; i++) {
		struct bpf_program *p = bpf_object__find_program_by_name(obj, autoload[i]);

		if (!p) {
			fprintf(stderr, "core-ref: no program %s\n", autoload[i]);
			return 2;
		}
		bpf_program__set_autoload(p, true);
	}
	if (!no_load) {
		t0 = now_ms();
		err = bpf_object__load(obj);
		t1 = now_ms();
		printf("{\"cmd\":\"load\",\"err\":%d,\"ms\":%.3f}\n", err, t1 - t0);
		if (!err) {
			struct bpf_program *p;

			bpf_object__for_each_program(p, obj) {
				struct bpf_prog_info info = {};
				__u32 len = sizeof(info);
				int j;

				if (bpf_program__fd(p) < 0 || bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len))
					continue;
				printf("{\"cmd\":\"prog\",\"name\":\"%s\",\"tag\":\"", bpf_program__name(p));
				for (j = 0; j < 8; j++)
					printf("%02x", info.tag[j]);
				printf("\"}\n");
			}
		}
	}
	bpf_object__close(obj);
	return 0;
}
