/* The metrics text (metrics.c): every family has HELP and TYPE lines before
 * its samples, sums over workers, cumulative histogram buckets with +Inf ==
 * count, times in seconds, escaped label values; the request check; and every
 * metric is documented in docs/metrics.md. Run from the repo root. */
#include <netinet/in.h>
#include <stdlib.h>

#include "conf.h"
#include "metrics.h"
#include "quic_initial.h"
#include "stats.h"
#include "test.h"

static int has(const struct mbuf *b, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	return b->p != NULL && strstr(b->p, want) != NULL;
}

static void test_render(void)
{
	struct conf *c = conf_new();
	struct wstats w[2];
	struct wstats *ws[2] = { &w[0], &w[1] };
	uint64_t rb[2][4], bb[2][4];
	struct mbuf b = { 0 };
	const char *fams[] = { "halfpipe_connections", "halfpipe_connections_total",
	    "halfpipe_route_bytes_total", "halfpipe_backend_bytes_total",
	    "halfpipe_backend_connect_seconds", "halfpipe_hello_size_bytes",
	    "halfpipe_connection_duration_seconds", "halfpipe_tcp_sockets",
	    "halfpipe_tcp_oldest_seconds", "halfpipe_quic_flows", "halfpipe_quic_flows_total",
	    "halfpipe_quic_datagrams_total", "halfpipe_quic_bytes_total",
	    "halfpipe_quic_dropped_total", "halfpipe_quic_hellos_total" };
	char want[256], *doc;
	size_t i;
	int nerr;

	nerr = conf_apply_flag(c, "listen", "127.0.0.1:0", stderr);
	nerr += conf_apply_flag(c, "route", "a.example=10.0.0.1:443", stderr);
	nerr += conf_apply_flag(c, "route", "b.example=10.0.0.2:443,alpn=h2", stderr);
	nerr += conf_finish(c, stderr);
	CHECK_INT(nerr, 0, "config with two routes, two backends");
	CHECK_INT(c->nroutes_all, 2, "two routes counted");
	CHECK_INT(c->backends[1]->index, 1, "backend index");
	CHECK_INT(c->listeners[0].routes[1].mindex, 1, "route metrics index");

	memset(w, 0, sizeof(w));
	memset(rb, 0, sizeof(rb));
	memset(bb, 0, sizeof(bb));
	for (i = 0; i < 2; i++) {
		w[i].route_bytes = rb[i];
		w[i].backend_bytes = bb[i];
		w[i].nroute_slots = w[i].nbackend_slots = 2;
	}
	stats_phase(&w[0], MP_NONE, MP_HELLO);
	stats_phase(&w[0], MP_HELLO, MP_HALF_C2S);
	stats_phase(&w[1], MP_NONE, MP_HALF_C2S);
	stats_phase(&w[1], MP_NONE, MP_OPEN);
	stats_phase(&w[1], MP_OPEN, MP_NONE);
	stat_add(&w[0].closed[CR_HALF_CLOSED_TIMEOUT], 3);
	stat_add(&w[1].closed[CR_HALF_CLOSED_TIMEOUT], 4);
	rb[0][2] = 100;		/* route 1, c2s */
	rb[1][2] = 11;
	bb[1][3] = 7;		/* backend 1, s2c */
	stats_observe(&w[0], H_CONNECT, 1);	/* le 0.001 */
	stats_observe(&w[1], H_CONNECT, 3);	/* le 0.005 */
	stats_observe(&w[1], H_CONNECT, 99999);	/* +Inf */
	stats_observe(&w[0], H_HELLO, 517);
	stat_set(&w[0].tcp[TS_FIN_WAIT2], 5);
	stat_set(&w[1].tcp[TS_FIN_WAIT2], 6);
	stat_set(&w[0].tcp_oldest_ms[TS_FIN_WAIT2], 1500);
	stat_set(&w[1].tcp_oldest_ms[TS_FIN_WAIT2], 20);
	stats_qstate(&w[0], QS_NONE, QS_PENDING);
	stats_qstate(&w[0], QS_PENDING, QS_RELAY);
	stats_qstate(&w[1], QS_NONE, QS_PENDING);
	stats_qstate(&w[1], QS_PENDING, QS_REFUSED);
	stats_qstate(&w[1], QS_REFUSED, QS_NONE);
	stat_add(&w[1].quic.closed[CR_QUIC_VERSION], 1);
	stat_add(&w[0].quic.dgrams[1], 2);
	stat_add(&w[1].quic.dgrams[1], 3);
	stat_add(&w[0].quic.bytes[0], 1200);
	stat_add(&w[0].quic.dropped[QD_TABLE_FULL], 4);
	stat_add(&w[1].quic.dropped[QD_TABLE_FULL], 5);
	stat_add(&w[1].quic.hello[QUIC_VERSION], 1);

	CHECK_INT(metrics_render(&b, c, ws, 2), 0, "render");
	CHECK(b.p != NULL && b.len == strlen(b.p), "text is NUL-terminated, len right");
	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		char *help, *type, *sample;

		snprintf(want, sizeof(want), "# HELP %s ", fams[i]);
		help = b.p ? strstr(b.p, want) : NULL;
		snprintf(want, sizeof(want), "# TYPE %s ", fams[i]);
		type = b.p ? strstr(b.p, want) : NULL;
		snprintf(want, sizeof(want), "\n%s", fams[i]);
		sample = b.p ? strstr(b.p, want) : NULL;
		CHECK(help && type && sample && help < type && type < sample,
		    "%s: HELP, TYPE, then samples", fams[i]);
	}
	CHECK(has(&b, "halfpipe_connections{phase=\"half-closed-c2s\"} 2"), "phase gauge summed");
	CHECK(has(&b, "halfpipe_connections{phase=\"hello\"} 0"), "phase left");
	CHECK(has(&b, "halfpipe_connections{phase=\"open\"} 0"), "phase entered and left");
	CHECK(has(&b, "halfpipe_connections_total{term=\"half-closed-timeout\"} 7"), "term total");
	CHECK(has(&b, "halfpipe_connections_total{term=\"client-fin\"} 0"), "every term listed");
	CHECK(b.p && !strstr(b.p, "term=\"-\""), "no sample for still-open");
	CHECK(has(&b, "halfpipe_route_bytes_total{listener=\"127.0.0.1:0\",route=\"b.example\","
	    "alpn=\"h2\",backend=\"10.0.0.2:443\",direction=\"c2s\"} 111"), "route bytes");
	CHECK(has(&b, "halfpipe_backend_bytes_total{backend=\"10.0.0.2:443\",direction=\"s2c\"} 7"),
	    "backend bytes");
	CHECK(has(&b, "halfpipe_backend_connect_seconds_bucket{le=\"0.001\"} 1"), "bucket 1 ms");
	CHECK(has(&b, "halfpipe_backend_connect_seconds_bucket{le=\"0.002\"} 1"), "cumulative");
	CHECK(has(&b, "halfpipe_backend_connect_seconds_bucket{le=\"0.005\"} 2"), "bucket 5 ms");
	CHECK(has(&b, "halfpipe_backend_connect_seconds_bucket{le=\"0.01\"} 2"), "0.01, no zero");
	CHECK(has(&b, "halfpipe_backend_connect_seconds_bucket{le=\"2.5\"} 2"), "2.5 s");
	CHECK(has(&b, "halfpipe_backend_connect_seconds_bucket{le=\"+Inf\"} 3"), "+Inf");
	CHECK(has(&b, "halfpipe_backend_connect_seconds_count 3"), "count");
	CHECK(has(&b, "halfpipe_backend_connect_seconds_sum 100.003"), "sum in seconds");
	CHECK(has(&b, "halfpipe_hello_size_bytes_bucket{le=\"1024\"} 1"), "hello bucket");
	CHECK(has(&b, "halfpipe_hello_size_bytes_sum 517"), "hello sum in bytes");
	CHECK(has(&b, "halfpipe_tcp_sockets{state=\"FIN_WAIT_2\"} 11"), "tcp count summed");
	CHECK(has(&b, "halfpipe_tcp_oldest_seconds{state=\"FIN_WAIT_2\"} 1.5"), "oldest: max");
	CHECK(has(&b, "halfpipe_tcp_oldest_seconds{state=\"CLOSE_WAIT\"} 0"), "oldest: none");
	CHECK(has(&b, "halfpipe_quic_flows{state=\"relay\"} 1"), "quic state gauge");
	CHECK(has(&b, "halfpipe_quic_flows{state=\"pending\"} 0"), "quic state left");
	CHECK(has(&b, "halfpipe_quic_flows{state=\"refused\"} 0"), "quic state entered, left");
	CHECK(has(&b, "halfpipe_quic_flows_total{term=\"quic-version\"} 1"), "quic term");
	CHECK(has(&b, "halfpipe_quic_flows_total{term=\"drain\"} 0"), "every quic term listed");
	CHECK(has(&b, "halfpipe_quic_datagrams_total{direction=\"s2c\"} 5"), "datagrams summed");
	CHECK(has(&b, "halfpipe_quic_bytes_total{direction=\"c2s\"} 1200"), "quic bytes");
	CHECK(has(&b, "halfpipe_quic_dropped_total{reason=\"table-full\"} 9"), "drops summed");
	CHECK(has(&b, "halfpipe_quic_dropped_total{reason=\"send-failed\"} 0"),
	    "every drop reason listed");
	CHECK(has(&b, "halfpipe_quic_hellos_total{verdict=\"version\"} 1"), "hello verdict");
	CHECK(has(&b, "halfpipe_quic_hellos_total{verdict=\"incomplete\"} 0"),
	    "every verdict listed");

	doc = slurp("docs/metrics.md");
	CHECK(doc != NULL, "docs/metrics.md is readable");
	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		snprintf(want, sizeof(want), "`%s`", fams[i]);
		CHECK(doc && strstr(doc, want), "%s is in docs/metrics.md", fams[i]);
	}
	for (i = 0; i < MP_COUNT; i++) {
		snprintf(want, sizeof(want), "`%s`", stats_phase_name((enum mphase)i));
		CHECK(doc && strstr(doc, want), "phase %s is in docs/metrics.md", want);
	}
	for (i = 0; i < QS_COUNT; i++) {
		snprintf(want, sizeof(want), "`%s`", stats_qstate_name((enum qstate)i));
		CHECK(doc && strstr(doc, want), "quic state %s is in docs/metrics.md", want);
	}
	for (i = 0; i < QD_COUNT; i++) {
		snprintf(want, sizeof(want), "`%s`", stats_qdrop_name((enum qdrop)i));
		CHECK(doc && strstr(doc, want), "drop reason %s is in docs/metrics.md", want);
	}
	for (i = 0; i <= QUIC_MALFORMED; i++) {
		snprintf(want, sizeof(want), "`%s`", quic_verdict_name((enum quic_verdict)i));
		CHECK(doc && strstr(doc, want), "verdict %s is in docs/metrics.md", want);
	}
	free(doc);
	mbuf_free(&b);
	conf_free(c);
}

static void test_conf(void)
{
	struct conf *c = conf_new();
	char errs[512] = "";
	FILE *f = fmemopen(errs, sizeof(errs), "w");

	CHECK_INT(c->metrics_addrlen, 0, "metrics off by default");
	CHECK_INT(conf_apply_flag(c, "metrics", "127.0.0.1:9101", f), 0, "metrics v4");
	CHECK(c->metrics_addrlen == sizeof(struct sockaddr_in), "metrics v4 address");
	CHECK_STR(c->metrics_name, "127.0.0.1:9101", "as written");
	CHECK_INT(conf_apply_flag(c, "metrics", "[::1]:0", f), 0, "metrics v6, port 0");
	CHECK(c->metrics_addr.ss_family == AF_INET6, "metrics v6 address");
	CHECK_INT(conf_apply_flag(c, "metrics", "off", f), 0, "metrics off");
	CHECK_INT(c->metrics_addrlen, 0, "off again");
	CHECK_INT(conf_apply_flag(c, "metrics", "localhost:9101", f), 1, "a name is refused");
	fflush(f);
	CHECK(strstr(errs, "--metrics: bad address \"localhost:9101\"") != NULL,
	    "the message names the flag and the address");
	CHECK_INT(c->metrics_addrlen, 0, "still off after the error");
	fclose(f);
	conf_free(c);
}

static void test_escape(void)
{
	struct mbuf b = { 0 };

	mbuf_label(&b, "a\"b\\c\nd");
	CHECK_STR(b.p, "a\\\"b\\\\c\\nd", "label value escaped");
	mbuf_free(&b);
}

static void test_request(void)
{
	static const struct {
		const char *req;
		int want;
	} cases[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200 },
		{ "GET /metrics HTTP/1.0\n\n", 200 },
		{ "GET /metrics?x=1 HTTP/1.1\r\n\r\n", 200 },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", METRICS_NEED_MORE },
		{ "GET /metr", METRICS_NEED_MORE },
		{ "", METRICS_NEED_MORE },
		{ "GET / HTTP/1.1\r\n\r\n", 404 },
		{ "GET /metricsx HTTP/1.1\r\n\r\n", 404 },
		{ "GET /metrics/ HTTP/1.1\r\n\r\n", 404 },
		{ "POST /metrics HTTP/1.1\r\n\r\n", 405 },
		{ "HEAD /metrics HTTP/1.1\r\n\r\n", 405 },
		{ "GET /metrics\r\n\r\n", 400 },
		{ "GET  HTTP/1.1\r\n\r\n", 400 },
		{ "GET /metrics SPDY/3\r\n\r\n", 400 },
		{ " /metrics HTTP/1.1\r\n\r\n", 400 },
		{ "\r\n\r\n", 400 },
	};
	char big[64];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_INT(metrics_request(cases[i].req, strlen(cases[i].req), 4096),
		    cases[i].want, "request %zu", i);
	memset(big, 'a', sizeof(big));
	CHECK_INT(metrics_request(big, sizeof(big), sizeof(big)), 431,
	    "a full buffer without a header end: 431");
	CHECK_INT(metrics_request(big, sizeof(big) - 1, sizeof(big)), METRICS_NEED_MORE,
	    "one byte short of full: more");
	/* every prefix of a good request wants more, the whole is 200 */
	{
		const char *r = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
		int bad = 0;

		for (i = 0; i < strlen(r); i++)
			if (metrics_request(r, i, 4096) != METRICS_NEED_MORE)
				bad++;
		CHECK_INT(bad, 0, "every prefix: need more");
	}
}

int main(void)
{
	test_render();
	test_conf();
	test_escape();
	test_request();
	return test_done();
}
