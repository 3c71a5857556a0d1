/*
 * libFuzzer target for the PROXY protocol reader. The input is the raw byte
 * stream a balancer sends. Checks, aborting on any failure:
 *  - pp_parse() returns a length within the input, PP_NEED_MORE or PP_ERR
 *    (with a reason);
 *  - every strict prefix of a whole header is PP_NEED_MORE, and the header
 *    alone parses to the same length and addresses (bytes after it do not
 *    matter);
 *  - an error on a prefix stays an error on the whole input;
 *  - what pp_write() makes of the parsed addresses reads back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy_proto.h"

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_info a, b;
	uint8_t out[PP_WRITE_MAX];
	int n = pp_parse(data, size, &a), m;
	size_t i, w;

	check(n == PP_NEED_MORE || n == PP_ERR || (n > 0 && (size_t)n <= size));
	if (n == PP_ERR) {
		check(a.reason != NULL);
		return 0;
	}
	if (n == PP_NEED_MORE)
		return 0;
	check(a.version == 1 || a.version == 2);
	for (i = 0; i < (size_t)n; i++)
		check(pp_parse(data, i, &b) == PP_NEED_MORE);
	m = pp_parse(data, (size_t)n, &b);
	check(m == n && b.has_addr == a.has_addr && b.local == a.local);
	if (a.has_addr) {
		check(memcmp(&a.src, &b.src, sizeof(a.src)) == 0);
		check(memcmp(&a.dst, &b.dst, sizeof(a.dst)) == 0);
		for (int v = 1; v <= 2; v++) {
			w = pp_write(v, &a.src, &a.dst, "x.example", 9, out, sizeof(out));
			check(w > 0);
			m = pp_parse(out, w, &b);
			check(m == (int)w && b.has_addr);
			check(memcmp(&a.src, &b.src, sizeof(a.src)) == 0);
		}
	}
	return 0;
}
