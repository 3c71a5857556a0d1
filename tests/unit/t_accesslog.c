/* t_accesslog: the JSON string escaping (accesslog_json_string()) and one
 * session's line in both formats: the same keys, in order, and the same
 * values, none written "-" in logfmt and null in JSON. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "session.h"
#include "test.h"

static const char *esc(const char *s, size_t len, char *out, size_t cap, int *rc)
{
	*rc = accesslog_json_string(out, cap, s, len);
	return out;
}

static void test_escape(void)
{
	static const struct {
		const char	*in;
		size_t		 len;
		const char	*want;
	} cases[] = {
		{ "a.example.test", 14, "\"a.example.test\"" },
		{ "", 0, "\"\"" },
		{ "a\"b", 3, "\"a\\\"b\"" },
		{ "a\\b", 3, "\"a\\\\b\"" },
		{ "\\\"", 2, "\"\\\\\\\"\"" },
		{ "a\nb\r\t", 5, "\"a\\u000ab\\u000d\\u0009\"" },
		{ "a\0b", 3, "\"a\\u0000b\"" },		/* a NUL inside is a byte like any */
		{ "\x1f\x20\x7e\x7f", 4, "\"\\u001f ~\\u007f\"" },
		{ "b\xc3\xbc" "cher", 7, "\"b\\u00c3\\u00bccher\"" },	/* valid UTF-8: bytes */
		{ "\xff\xfe\x80", 3, "\"\\u00ff\\u00fe\\u0080\"" },	/* invalid UTF-8 */
		{ "/<>'{}[]:,=", 11, "\"/<>'{}[]:,=\"" },
	};
	char out[64];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_STR(esc(cases[i].in, cases[i].len, out, sizeof(out), &rc), cases[i].want,
		    "escape case %zu", i);
		CHECK_INT(rc, strlen(cases[i].want), "its length, case %zu", i);
	}
	/* the bound: 6 * len + 3 always fits; a byte less may not */
	CHECK_INT(accesslog_json_string(out, 6 * 3 + 3, "\x01\x02\x03", 3), 20,
	    "6 * len + 3 bytes are enough");
	CHECK_STR(out, "\"\\u0001\\u0002\\u0003\"", "three escapes");
	CHECK_INT(accesslog_json_string(out, 20, "\x01\x02\x03", 3), -1,
	    "one byte short: -1");
	CHECK_STR(out, "", "and out is empty");
	CHECK_INT(accesslog_json_string(out, 2, "", 0), -1, "cap 2 cannot hold \"\"");
	CHECK_INT(accesslog_json_string(out, 3, "", 0), 2, "cap 3 holds \"\"");
	CHECK_INT(accesslog_json_string(out, 0, "a", 1), -1, "cap 0");
	CHECK_INT(accesslog_json_string(out, 6, "abc", 3), 5, "\"abc\" in exactly 6 bytes");
	CHECK_INT(accesslog_json_string(out, 5, "abc", 3), -1, "not in 5");
}

/* The line of s in fmt, into buf. */
static const char *line(struct session *s, enum access_format fmt, char *buf, size_t cap)
{
	FILE *f = fmemopen(buf, cap, "w");

	memset(buf, 0, cap);
	accesslog_write(f, s, 1500, fmt, NULL);
	fclose(f);
	return buf;
}

static void test_line(void)
{
	struct session *s = calloc(1, sizeof(*s));
	struct sockaddr_in *sin = (struct sockaddr_in *)&s->peer;
	struct backend be;
	char lf[4096], js[4096];
	const char *p;

	s->id = 42;
	s->lname = "127.0.0.1:443";
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5555);
	inet_pton(AF_INET, "198.18.1.1", &sin->sin_addr);
	snprintf(s->sni, sizeof(s->sni), "%s", "q\"\\.example.test");
	s->hello_bytes = 517;
	s->hello_reads = 1;
	s->start = 1000;
	s->reason = CR_NO_ROUTE;
	snprintf(s->tcp_state[0], sizeof(s->tcp_state[0]), "%s", "CLOSED");
	snprintf(s->tcp_state[1], sizeof(s->tcp_state[1]), "%s", "-");
	line(s, ACCESS_LOGFMT, lf, sizeof(lf));
	line(s, ACCESS_JSON, js, sizeof(js));
	p = strchr(lf, ' ');
	CHECK(strncmp(lf, "ts=", 3) == 0 && p != NULL, "logfmt starts with ts=");
	CHECK_STR(p, " id=42 listener=127.0.0.1:443 client=198.18.1.1:5555 "
	    "sni=q\"\\.example.test alpn=- backend=- hello_bytes=517 hello_reads=1 "
	    "c2s_bytes=0 s2c_bytes=0 connect_ms=- duration_ms=500 first_close=- "
	    "close_lag_ms=- client_tcp=CLOSED server_tcp=- term=no-route attempts=0\n",
	    "the logfmt line");
	p = strchr(js, ',');
	CHECK(strncmp(js, "{\"ts\":\"", 7) == 0 && p != NULL, "json starts with ts");
	CHECK_STR(p, ",\"id\":42,\"listener\":\"127.0.0.1:443\",\"client\":\"198.18.1.1:5555\","
	    "\"sni\":\"q\\\"\\\\.example.test\",\"alpn\":null,\"backend\":null,"
	    "\"hello_bytes\":517,\"hello_reads\":1,\"c2s_bytes\":0,\"s2c_bytes\":0,"
	    "\"connect_ms\":null,\"duration_ms\":500,\"first_close\":null,"
	    "\"close_lag_ms\":null,\"client_tcp\":\"CLOSED\",\"server_tcp\":null,"
	    "\"term\":\"no-route\",\"attempts\":0}\n", "the json line");
	CHECK(lf[3 + 10] == 'T' && lf[3 + 19] == '.' && lf[3 + 23] == 'Z' && lf[3 + 24] == ' ',
	    "logfmt ts: YYYY-MM-DDTHH:MM:SS.mmmZ");
	CHECK(js[7 + 10] == 'T' && js[7 + 19] == '.' && js[7 + 23] == 'Z' && js[7 + 24] == '"',
	    "json ts: the same shape, a string");

	/* a relayed one: backend, ALPN, connect time, the close order */
	memset(&be, 0, sizeof(be));
	snprintf(be.name, sizeof(be.name), "%s", "198.18.2.1:8443");
	s->be = &be;
	snprintf(s->alpn, sizeof(s->alpn), "%s", "h2,http/1.1");
	s->connect_start = 1001;
	s->connect_done = 1004;
	s->first_close = 's';
	s->first_close_at = 1200;
	s->second_close_at = 1210;
	s->attempts = 1;
	s->c2s.bytes = 1234;
	s->s2c.bytes = 99999999999ull;
	s->reason = CR_SERVER_FIN;
	line(s, ACCESS_JSON, js, sizeof(js));
	CHECK(strstr(js, "\"alpn\":\"h2,http/1.1\",\"backend\":\"198.18.2.1:8443\"") != NULL,
	    "alpn and backend: %s", js);
	CHECK(strstr(js, "\"c2s_bytes\":1234,\"s2c_bytes\":99999999999,\"connect_ms\":3,") != NULL,
	    "bytes and connect_ms as numbers");
	CHECK(strstr(js, "\"first_close\":\"server\",\"close_lag_ms\":10,") != NULL,
	    "first_close and close_lag_ms");
	CHECK(strstr(js, "\"term\":\"server-fin\",\"attempts\":1}\n") != NULL, "term, attempts");
	line(s, ACCESS_LOGFMT, lf, sizeof(lf));
	CHECK(strstr(lf, " backend=198.18.2.1:8443 ") != NULL &&
	    strstr(lf, " connect_ms=3 ") != NULL && strstr(lf, " first_close=server "
	    "close_lag_ms=10 ") != NULL, "the same values in logfmt");
	free(s);
}

int main(void)
{
	test_escape();
	test_line();
	return test_done();
}
