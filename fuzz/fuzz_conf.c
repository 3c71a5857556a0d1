/*
 * libFuzzer target: the input is a config file. conf_load_stream() and
 * conf_finish() must neither crash nor leak, whatever the bytes; no DNS is
 * asked (no_resolve: numeric hosts only). Every built route table is then
 * queried with the input itself as SNI and ALPN list.
 *
 *   make build/fuzz_conf && build/fuzz_conf fuzz/corpus/conf
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "conf.h"
#include "route.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((devnull = fopen("/dev/null", "w")) == NULL)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf *c;
	FILE *in;
	size_t i, n;

	if (size == 0)
		return 0;
	if ((c = conf_new()) == NULL)
		abort();
	c->no_resolve = 1;
	if ((in = fmemopen((void *)data, size, "r")) == NULL)
		abort();
	conf_load_stream(c, in, "fuzz.conf", devnull);
	fclose(in);
	conf_finish(c, devnull);
	n = size < 300 ? size : 300;
	for (i = 0; i < c->nlisteners; i++) {
		route_lookup(c->listeners[i].table, data, n, data, size);
		route_lookup(c->listeners[i].table, data + size - n, n, NULL, 0);
	}
	conf_free(c);
	return 0;
}
