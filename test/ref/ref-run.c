// ref-run: the libbpf reference for tsbpf's differential tests.
//
//   ref-run OBJ [--name NAME] COMMAND...
//
// Opens OBJ with the system libbpf (object name "" by default, so that libbpf names the global data
// maps after their ELF sections: ".data", ".rodata.str1.1", ...), runs the commands in order and
// prints one JSON object per line on stdout. libbpf's own messages (verifier log on a failed load
// included) go to stderr; REF_RUN_DEBUG=1 adds its debug messages.
//
// Before load:
//   set-init SEC OFFSET HEX   write bytes into a global data map's initial image (alias: set-rodata)
//   autoload PROG 0|1
//   max-entries MAP N
//   images                    -> one {"cmd":"image","name":..,"value":HEX} per global data map: the
//                                initial value libbpf will load (.kconfig is filled only at load)
// Load (implicit before the first command below that needs it):
//   load                      -> {"cmd":"load","err":0|-errno}
// After load:
//   progs                     -> one {"cmd":"prog",...} per program: type, autoload, tag, xlated_len, maps
//   run PROG [data=HEX] [ctx=HEX] [repeat=N]
//                             -> {"cmd":"run","prog":..,"err":..,"retval":..,"data":HEX,"ctx":HEX}
//   dump                      -> one {"cmd":"map",...} per map with its kernel attributes and contents
//                                (queues and stacks are drained by the dump)
//   lookup MAP KEYHEX | update MAP KEYHEX VALHEX [flags=N] | delete MAP KEYHEX
//   push MAP VALHEX | pop MAP | bloom MAP VALHEX
//   attach-struct-ops MAP     -> {"cmd":"attach-struct-ops","map":..,"err":..} (bpf_map__attach_struct_ops;
//                                the link is kept until detach-struct-ops or exit)
//   detach-struct-ops MAP     -> {"cmd":"detach-struct-ops","map":..,"err":..} (bpf_link__destroy)
//
// The exit status is 0 when every command succeeded, 1 otherwise, 2 for usage or open errors.

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct bpf_object *obj;
static bool loaded;
static bool load_failed;
static int status;
static int ncpus;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !getenv("REF_RUN_DEBUG"))
		return 0;
	return vfprintf(stderr, fmt, args);
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "ref-run: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* ---- small output helpers ------------------------------------------------------------------ */

static void put_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void put_hex(const void *p, size_t n)
{
	const unsigned char *b = p;
	putchar('"');
	for (size_t i = 0; i < n; i++)
		printf("%02x", b[i]);
	putchar('"');
}

static unsigned char *parse_hex(const char *s, size_t *len)
{
	size_t n = strlen(s);
	if (n % 2)
		die("odd-length hex: %s", s);
	unsigned char *out = calloc(n / 2 + 1, 1);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			die("bad hex: %s", s);
		out[i] = (unsigned char)v;
	}
	*len = n / 2;
	return out;
}

static void fail(const char *cmd, int err, const char *what)
{
	printf("{\"cmd\":");
	put_str(cmd);
	printf(",\"err\":%d,\"error\":", err);
	put_str(what);
	printf("}\n");
	status = 1;
}

/* ---- lookups ------------------------------------------------------------------------------- */

static struct bpf_map *find_map(const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
	if (!m)
		die("no map named %s", name);
	return m;
}

static struct bpf_program *find_prog(const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	if (!p)
		die("no program named %s", name);
	return p;
}

static bool is_percpu(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_ARRAY ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/* The object's map / program whose kernel id is `id`, or NULL. */
static const char *map_name_by_id(__u32 id)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		if (bpf_map__fd(m) >= 0 && !bpf_obj_get_info_by_fd(bpf_map__fd(m), &info, &len) && info.id == id)
			return bpf_map__name(m);
	}
	return NULL;
}

static const char *prog_name_by_id(__u32 id)
{
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		if (bpf_program__fd(p) >= 0 && !bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len) &&
		    info.id == id)
			return bpf_program__name(p);
	}
	return NULL;
}

/* "frozen" from /proc/self/fdinfo (bpf_map_info doesn't carry it). */
static int fdinfo_frozen(int fd)
{
	char path[64], line[256];
	int frozen = -1;
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "frozen: %d", &frozen) == 1)
			break;
	fclose(f);
	return frozen;
}

/* ---- commands ------------------------------------------------------------------------------ */

static void do_load(void)
{
	if (loaded || load_failed)
		return;
	int err = bpf_object__load(obj);
	printf("{\"cmd\":\"load\",\"err\":%d}\n", err);
	if (err) {
		load_failed = true;
		status = 1;
	} else {
		loaded = true;
	}
}

static bool need_loaded(const char *cmd)
{
	do_load();
	if (!loaded) {
		fail(cmd, -EINVAL, "object not loaded");
		return false;
	}
	return true;
}

static void cmd_progs(void)
{
	struct bpf_program *p;
	bpf_object__for_each_program(p, obj) {
		printf("{\"cmd\":\"prog\",\"name\":");
		put_str(bpf_program__name(p));
		printf(",\"section\":");
		put_str(bpf_program__section_name(p));
		printf(",\"type\":%d,\"expected_attach_type\":%d,\"autoload\":%s", bpf_program__type(p),
		       bpf_program__expected_attach_type(p), bpf_program__autoload(p) ? "true" : "false");
		int fd = bpf_program__fd(p);
		if (fd >= 0) {
			__u32 ids[64];
			struct bpf_prog_info info = {};
			__u32 len = sizeof(info);
			info.nr_map_ids = 64;
			info.map_ids = (__u64)(uintptr_t)ids;
			if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
				printf(",\"kernel_type\":%u,\"tag\":", info.type);
				put_hex(info.tag, sizeof(info.tag));
				printf(",\"xlated_len\":%u,\"maps\":[", info.xlated_prog_len);
				for (__u32 i = 0; i < info.nr_map_ids && i < 64; i++) {
					const char *n = map_name_by_id(ids[i]);
					if (i)
						putchar(',');
					if (n)
						put_str(n);
					else
						printf("\"map-id:%u\"", ids[i]);
				}
				printf("]");
			}
		}
		printf("}\n");
	}
}

static void cmd_run(const char *name, int argc, char **argv)
{
	if (!need_loaded("run"))
		return;
	struct bpf_program *p = find_prog(name);
	int fd = bpf_program__fd(p);
	enum bpf_prog_type type = bpf_program__type(p);
	size_t data_len = 0, ctx_len = 0;
	unsigned char *data = NULL, *ctx = NULL;
	int repeat = 0;
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "data=", 5))
			data = parse_hex(argv[i] + 5, &data_len);
		else if (!strncmp(argv[i], "ctx=", 4))
			ctx = parse_hex(argv[i] + 4, &ctx_len);
		else if (!strncmp(argv[i], "repeat=", 7))
			repeat = atoi(argv[i] + 7);
		else
			die("run: unknown argument %s", argv[i]);
	}
	size_t data_out_len = data ? data_len + 4096 : 0;
	unsigned char *data_out = data ? calloc(data_out_len, 1) : NULL;
	/* SYSCALL programs write the context back into ctx_in; RAW_TRACEPOINT has no ctx_out. */
	bool ctx_back_in = type == BPF_PROG_TYPE_SYSCALL;
	bool want_ctx_out = ctx && !ctx_back_in && type != BPF_PROG_TYPE_RAW_TRACEPOINT;
	size_t ctx_out_len = want_ctx_out ? ctx_len + 256 : 0;
	unsigned char *ctx_out = want_ctx_out ? calloc(ctx_out_len, 1) : NULL;

	LIBBPF_OPTS(bpf_test_run_opts, opts);
	opts.data_in = data;
	opts.data_size_in = data_len;
	opts.data_out = data_out;
	opts.data_size_out = data_out_len;
	opts.ctx_in = ctx;
	opts.ctx_size_in = ctx_len;
	opts.ctx_out = ctx_out;
	opts.ctx_size_out = ctx_out_len;
	opts.repeat = repeat;
	int err = bpf_prog_test_run_opts(fd, &opts);
	if (err) {
		err = -errno;
		printf("{\"cmd\":\"run\",\"prog\":");
		put_str(name);
		printf(",\"err\":%d}\n", err);
		status = 1;
	} else {
		printf("{\"cmd\":\"run\",\"prog\":");
		put_str(name);
		printf(",\"err\":0,\"retval\":%d", (int32_t)opts.retval);
		if (data_out) {
			printf(",\"data\":");
			put_hex(data_out, opts.data_size_out);
		}
		if (ctx_back_in) {
			printf(",\"ctx\":");
			put_hex(ctx, ctx_len);
		} else if (ctx_out) {
			printf(",\"ctx\":");
			put_hex(ctx_out, opts.ctx_size_out);
		}
		printf("}\n");
	}
	free(data);
	free(ctx);
	free(data_out);
	free(ctx_out);
}

/* Prints `"value":HEX` or `"values":[HEX per CPU]` for a lookup result, or an fd-map translation. */
static void put_value(enum bpf_map_type t, const unsigned char *val, __u32 vsz)
{
	if (t == BPF_MAP_TYPE_ARRAY_OF_MAPS || t == BPF_MAP_TYPE_HASH_OF_MAPS) {
		__u32 id = *(const __u32 *)val;
		const char *n = map_name_by_id(id);
		printf("\"value\":");
		if (n)
			printf("\"map:%s\"", n);
		else
			printf("\"map-id:%u\"", id);
	} else if (t == BPF_MAP_TYPE_PROG_ARRAY) {
		__u32 id = *(const __u32 *)val;
		const char *n = prog_name_by_id(id);
		printf("\"value\":");
		if (n)
			printf("\"prog:%s\"", n);
		else
			printf("\"prog-id:%u\"", id);
	} else if (is_percpu(t)) {
		size_t stride = (vsz + 7) / 8 * 8;
		printf("\"values\":[");
		for (int c = 0; c < ncpus; c++) {
			if (c)
				putchar(',');
			put_hex(val + c * stride, vsz);
		}
		printf("]");
	} else {
		printf("\"value\":");
		put_hex(val, vsz);
	}
}

static bool iterable(enum bpf_map_type t)
{
	switch (t) {
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_LPM_TRIE:
	case BPF_MAP_TYPE_ARRAY_OF_MAPS:
	case BPF_MAP_TYPE_HASH_OF_MAPS:
	case BPF_MAP_TYPE_PROG_ARRAY:
	case BPF_MAP_TYPE_DEVMAP:
	case BPF_MAP_TYPE_DEVMAP_HASH:
		return true;
	default:
		return false;
	}
}

static void dump_map(struct bpf_map *m)
{
	int fd = bpf_map__fd(m);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	printf("{\"cmd\":\"map\",\"name\":");
	put_str(bpf_map__name(m));
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		printf(",\"err\":%d}\n", fd < 0 ? fd : -errno);
		status = 1;
		return;
	}
	enum bpf_map_type t = info.type;
	printf(",\"internal\":%s,\"type\":%u,\"key_size\":%u,\"value_size\":%u,\"max_entries\":%u,"
	       "\"map_flags\":%u,\"map_extra\":%llu,\"btf_key\":%s,\"btf_value\":%s,\"frozen\":%s",
	       bpf_map__is_internal(m) ? "true" : "false", info.type, info.key_size, info.value_size,
	       info.max_entries, info.map_flags, (unsigned long long)info.map_extra,
	       info.btf_key_type_id ? "true" : "false", info.btf_value_type_id ? "true" : "false",
	       fdinfo_frozen(fd) == 1 ? "true" : "false");

	size_t vbuf = (size_t)((info.value_size + 7) / 8 * 8) * (is_percpu(t) ? ncpus : 1) + 8;
	unsigned char *val = calloc(vbuf, 1);
	unsigned char *key = calloc(info.key_size + 8, 1), *next = calloc(info.key_size + 8, 1);

	if (t == BPF_MAP_TYPE_QUEUE || t == BPF_MAP_TYPE_STACK) {
		printf(",\"entries\":[");
		for (int n = 0; n < 100000 && !bpf_map_lookup_and_delete_elem(fd, NULL, val); n++) {
			printf("%s{\"value\":", n ? "," : "");
			put_hex(val, info.value_size);
			putchar('}');
		}
		printf("]");
	} else if (iterable(t)) {
		printf(",\"entries\":[");
		bool first = true;
		void *prev = NULL;
		for (int n = 0; n < 100000 && !bpf_map_get_next_key(fd, prev, next); n++) {
			memcpy(key, next, info.key_size);
			prev = key;
			if (bpf_map_lookup_elem(fd, key, val)) {
				if (errno == ENOENT)
					continue;
				printf("%s{\"key\":", first ? "" : ",");
				put_hex(key, info.key_size);
				printf(",\"err\":%d}", -errno);
				first = false;
				continue;
			}
			printf("%s{\"key\":", first ? "" : ",");
			put_hex(key, info.key_size);
			putchar(',');
			put_value(t, val, info.value_size);
			putchar('}');
			first = false;
		}
		printf("]");
	} else {
		printf(",\"entries\":null");
	}
	printf("}\n");
	free(val);
	free(key);
	free(next);
}

static void cmd_lookup(const char *mname, const char *khex)
{
	if (!need_loaded("lookup"))
		return;
	struct bpf_map *m = find_map(mname);
	size_t klen;
	unsigned char *key = parse_hex(khex, &klen);
	enum bpf_map_type t = bpf_map__type(m);
	__u32 vsz = bpf_map__value_size(m);
	unsigned char *val = calloc((size_t)((vsz + 7) / 8 * 8) * (is_percpu(t) ? ncpus : 1) + 8, 1);
	int err = bpf_map_lookup_elem(bpf_map__fd(m), key, val) ? -errno : 0;
	printf("{\"cmd\":\"lookup\",\"map\":");
	put_str(mname);
	printf(",\"key\":");
	put_hex(key, klen);
	printf(",\"err\":%d", err);
	if (!err) {
		putchar(',');
		put_value(t, val, vsz);
	}
	printf("}\n");
	free(key);
	free(val);
}

static void cmd_update(const char *mname, const char *khex, const char *vhex, const char *flags)
{
	if (!need_loaded("update"))
		return;
	struct bpf_map *m = find_map(mname);
	size_t klen, vlen;
	unsigned char *key = parse_hex(khex, &klen), *val = parse_hex(vhex, &vlen);
	int err = bpf_map_update_elem(bpf_map__fd(m), key, val, flags ? strtoull(flags, NULL, 0) : 0) ? -errno : 0;
	printf("{\"cmd\":\"update\",\"map\":");
	put_str(mname);
	printf(",\"err\":%d}\n", err);
	if (err)
		status = 1;
	free(key);
	free(val);
}

static void cmd_delete(const char *mname, const char *khex)
{
	if (!need_loaded("delete"))
		return;
	size_t klen;
	unsigned char *key = parse_hex(khex, &klen);
	int err = bpf_map_delete_elem(bpf_map__fd(find_map(mname)), key) ? -errno : 0;
	printf("{\"cmd\":\"delete\",\"map\":");
	put_str(mname);
	printf(",\"err\":%d}\n", err);
	free(key);
}

static void cmd_push(const char *mname, const char *vhex)
{
	if (!need_loaded("push"))
		return;
	size_t vlen;
	unsigned char *val = parse_hex(vhex, &vlen);
	int err = bpf_map_update_elem(bpf_map__fd(find_map(mname)), NULL, val, 0) ? -errno : 0;
	printf("{\"cmd\":\"push\",\"map\":");
	put_str(mname);
	printf(",\"err\":%d}\n", err);
	if (err)
		status = 1;
	free(val);
}

static void cmd_pop(const char *mname)
{
	if (!need_loaded("pop"))
		return;
	struct bpf_map *m = find_map(mname);
	__u32 vsz = bpf_map__value_size(m);
	unsigned char *val = calloc(vsz + 8, 1);
	int err = bpf_map_lookup_and_delete_elem(bpf_map__fd(m), NULL, val) ? -errno : 0;
	printf("{\"cmd\":\"pop\",\"map\":");
	put_str(mname);
	printf(",\"err\":%d", err);
	if (!err) {
		printf(",\"value\":");
		put_hex(val, vsz);
	}
	printf("}\n");
	free(val);
}

static void cmd_bloom(const char *mname, const char *vhex)
{
	if (!need_loaded("bloom"))
		return;
	size_t vlen;
	unsigned char *val = parse_hex(vhex, &vlen);
	int err = bpf_map_lookup_elem(bpf_map__fd(find_map(mname)), NULL, val) ? -errno : 0;
	printf("{\"cmd\":\"bloom\",\"map\":");
	put_str(mname);
	printf(",\"err\":%d,\"present\":%s}\n", err, err == 0 ? "true" : "false");
	free(val);
}

/* struct_ops links made by attach-struct-ops, by map (a handful at most). */
static struct {
	struct bpf_map *map;
	struct bpf_link *link;
} st_links[16];

static void cmd_attach_struct_ops(const char *mname)
{
	if (!need_loaded("attach-struct-ops"))
		return;
	struct bpf_map *m = find_map(mname);
	struct bpf_link *l = bpf_map__attach_struct_ops(m);
	int err = l ? 0 : -errno;
	printf("{\"cmd\":\"attach-struct-ops\",\"map\":");
	put_str(mname);
	printf(",\"err\":%d}\n", err);
	if (err) {
		status = 1;
		return;
	}
	for (size_t i = 0; i < sizeof(st_links) / sizeof(st_links[0]); i++) {
		if (!st_links[i].link) {
			st_links[i].map = m;
			st_links[i].link = l;
			return;
		}
	}
	die("too many struct_ops links");
}

static void cmd_detach_struct_ops(const char *mname)
{
	struct bpf_map *m = find_map(mname);
	for (size_t i = 0; i < sizeof(st_links) / sizeof(st_links[0]); i++) {
		if (st_links[i].map == m && st_links[i].link) {
			int err = bpf_link__destroy(st_links[i].link);
			st_links[i].link = NULL;
			printf("{\"cmd\":\"detach-struct-ops\",\"map\":");
			put_str(mname);
			printf(",\"err\":%d}\n", err);
			return;
		}
	}
	die("detach-struct-ops %s: not attached", mname);
}

static void cmd_images(void)
{
	struct bpf_map *m;
	bpf_object__for_each_map(m, obj) {
		size_t sz = 0;
		const void *img;
		if (!bpf_map__is_internal(m))
			continue;
		img = bpf_map__initial_value(m, &sz);
		printf("{\"cmd\":\"image\",\"name\":");
		put_str(bpf_map__name(m));
		printf(",\"value\":");
		if (img)
			put_hex(img, sz);
		else
			printf("null");
		printf("}\n");
	}
}

static void cmd_set_init(const char *sec, const char *off_s, const char *hex)
{
	if (loaded || load_failed)
		die("set-init after load");
	struct bpf_map *m = find_map(sec);
	size_t sz, len;
	const void *cur = bpf_map__initial_value(m, &sz);
	unsigned long off = strtoul(off_s, NULL, 0);
	unsigned char *bytes = parse_hex(hex, &len);
	if (!cur || off + len > sz)
		die("set-init %s: offset %lu + %zu outside the %zu-byte image", sec, off, len, sz);
	/* The image is writable (libbpf mmaps it); go through set_initial_value to stay on the API. */
	unsigned char *img = malloc(sz);
	memcpy(img, cur, sz);
	memcpy(img + off, bytes, len);
	int err = bpf_map__set_initial_value(m, img, sz);
	if (err)
		die("set-init %s: %d", sec, err);
	free(img);
	free(bytes);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		die("usage: ref-run OBJ [--name NAME] COMMAND...");
	libbpf_set_print(print_fn);
	setvbuf(stdout, NULL, _IOLBF, 0);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		die("cannot count possible CPUs");

	int i = 2;
	const char *name = "";
	if (i + 1 < argc && !strcmp(argv[i], "--name")) {
		name = argv[i + 1];
		i += 2;
	}
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .object_name = name);
	obj = bpf_object__open_file(argv[1], &oopts);
	if (!obj) {
		printf("{\"cmd\":\"open\",\"err\":%d}\n", -errno);
		return 2;
	}
	{
		struct bpf_map *m;
		struct bpf_program *p;
		bool first = true;
		printf("{\"cmd\":\"open\",\"err\":0,\"ncpus\":%d,\"maps\":[", ncpus);
		bpf_object__for_each_map(m, obj) {
			if (!first)
				putchar(',');
			put_str(bpf_map__name(m));
			first = false;
		}
		printf("],\"progs\":[");
		first = true;
		bpf_object__for_each_program(p, obj) {
			if (!first)
				putchar(',');
			put_str(bpf_program__name(p));
			first = false;
		}
		printf("]}\n");
	}

#define ARG(k) (i + (k) < argc ? argv[i + (k)] : (die("%s: missing argument", argv[i]), ""))
	while (i < argc) {
		const char *c = argv[i];
		if (!strcmp(c, "set-init") || !strcmp(c, "set-rodata")) {
			cmd_set_init(ARG(1), ARG(2), ARG(3));
			i += 4;
		} else if (!strcmp(c, "autoload")) {
			bpf_program__set_autoload(find_prog(ARG(1)), atoi(ARG(2)) != 0);
			i += 3;
		} else if (!strcmp(c, "max-entries")) {
			bpf_map__set_max_entries(find_map(ARG(1)), (__u32)strtoul(ARG(2), NULL, 0));
			i += 3;
		} else if (!strcmp(c, "images")) {
			cmd_images();
			i += 1;
		} else if (!strcmp(c, "load")) {
			do_load();
			i += 1;
		} else if (!strcmp(c, "progs")) {
			do_load();
			cmd_progs();
			i += 1;
		} else if (!strcmp(c, "run")) {
			int j = i + 2;
			while (j < argc && strchr(argv[j], '='))
				j++;
			cmd_run(ARG(1), j - (i + 2), argv + i + 2);
			i = j;
		} else if (!strcmp(c, "dump")) {
			if (need_loaded("dump")) {
				struct bpf_map *m;
				bpf_object__for_each_map(m, obj) dump_map(m);
			}
			i += 1;
		} else if (!strcmp(c, "lookup")) {
			cmd_lookup(ARG(1), ARG(2));
			i += 3;
		} else if (!strcmp(c, "update")) {
			bool flags = i + 4 < argc && !strncmp(argv[i + 4], "flags=", 6);
			cmd_update(ARG(1), ARG(2), ARG(3), flags ? argv[i + 4] + 6 : NULL);
			i += flags ? 5 : 4;
		} else if (!strcmp(c, "delete")) {
			cmd_delete(ARG(1), ARG(2));
			i += 3;
		} else if (!strcmp(c, "push")) {
			cmd_push(ARG(1), ARG(2));
			i += 3;
		} else if (!strcmp(c, "pop")) {
			cmd_pop(ARG(1));
			i += 2;
		} else if (!strcmp(c, "bloom")) {
			cmd_bloom(ARG(1), ARG(2));
			i += 3;
		} else if (!strcmp(c, "attach-struct-ops")) {
			cmd_attach_struct_ops(ARG(1));
			i += 2;
		} else if (!strcmp(c, "detach-struct-ops")) {
			cmd_detach_struct_ops(ARG(1));
			i += 2;
		} else {
			die("unknown command %s", c);
		}
	}
	for (size_t k = 0; k < sizeof(st_links) / sizeof(st_links[0]); k++)
		bpf_link__destroy(st_links[k].link);
	bpf_object__close(obj);
	return status;
}
