// Reference oracle for test/section-defs.test.ts: prints what the system libbpf's
// libbpf_prog_type_by_name() returns for each section name given on the command line, one line
// per name: "<prog_type> <expected_attach_type>" or "none".
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level; (void)fmt; (void)args;
	return 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(quiet);
	for (int i = 1; i < argc; i++) {
		enum bpf_prog_type prog_type;
		enum bpf_attach_type attach_type;
		if (libbpf_prog_type_by_name(argv[i], &prog_type, &attach_type) == 0)
			printf("%d %d\n", (int)prog_type, (int)attach_type);
		else
			printf("none\n");
	}
	return 0;
}
