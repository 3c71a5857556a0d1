/* t_conf: durations, a good config, every bad fixture in tests/conf/ (exact
 * stderr, all errors in order), command-line flags, the directive table
 * against docs/config.md, what a reload keeps, and examples/halfpipe.conf.
 * Run from the repo root. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <unistd.h>

#include "conf.h"
#include "route.h"
#include "test.h"

#define FD_SCAN	256

/* Replace each "{gai:HOST}" in want by gai_strerror() for HOST as found here:
 * the resolver's wording differs between systems. */
static char *
expand_gai(const char *want)
{
	char *out, host[256];
	const char *s, *e, *msg;
	size_t len = 0;
	struct addrinfo hints, *res;
	int rc;

	if ((out = malloc(strlen(want) * 4 + 1)) == NULL)
		return NULL;
	for (s = want; *s != '\0';) {
		if (strncmp(s, "{gai:", 5) == 0 && (e = strchr(s, '}')) != NULL &&
		    (size_t)(e - s - 5) < sizeof(host)) {
			memcpy(host, s + 5, (size_t)(e - s - 5));
			host[e - s - 5] = '\0';
			memset(&hints, 0, sizeof(hints));
			hints.ai_socktype = SOCK_STREAM;
			hints.ai_flags = AI_NUMERICSERV;
			rc = getaddrinfo(host, "443", &hints, &res);
			if (rc == 0) {
				freeaddrinfo(res);
				msg = "(resolved!)";
			} else
				msg = gai_strerror(rc);
			memcpy(out + len, msg, strlen(msg));
			len += strlen(msg);
			s = e + 1;
		} else
			out[len++] = *s++;
	}
	out[len] = '\0';
	return out;
}

static int
lines_in(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static uint16_t
port_of(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

static const struct route *
lookup(const struct listener_conf *l, const char *sni, const char *alpn_wire, size_t alpn_len)
{
	return route_lookup(l->table, (const uint8_t *)sni, strlen(sni),
	    (const uint8_t *)alpn_wire, alpn_len);
}

static void
test_durations(void)
{
	static const struct { const char *s; uint32_t ms; } good[] = {
		{ "500ms", 500 }, { "3s", 3000 }, { "10m", 600000 }, { "1h", 3600000 },
		{ "7", 7000 }, { "0", 0 }, { "1ms", 1 }, { "24h", 86400000 },
		{ "0042s", 42000 }, { "4294967295ms", 4294967295u }, { "4294967s", 4294967000u },
		{ "1193h", 4294800000u }, { "71582m", 4294920000u },
	};
	static const char *bad[] = {
		"", "s", "ms", "5x", "-1", "+1", "1.5s", " 5s", "5s ", "5 s", "5S", "5sec",
		"1h30m", "4294967296ms", "4294968s", "71583m", "1194h", "99999999999", "0x10",
	};
	uint32_t ms;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ms = 12345;
		CHECK_INT(conf_parse_duration(good[i].s, &ms), 0, "duration \"%s\" parses", good[i].s);
		CHECK_INT(ms, good[i].ms, "duration \"%s\" is %u ms", good[i].s, good[i].ms);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ms = 12345;
		CHECK_INT(conf_parse_duration(bad[i], &ms), -1, "duration \"%s\" is refused", bad[i]);
		CHECK_INT(ms, 12345, "duration \"%s\" leaves the value alone", bad[i]);
	}
}

static void
test_defaults(void)
{
	struct conf *c = conf_new();

	CHECK(c != NULL, "conf_new");
	if (c == NULL)
		return;
	CHECK_INT(c->hello_timeout_ms, 5000, "default hello-timeout 5s");
	CHECK_INT(c->connect_timeout_ms, 5000, "default connect-timeout 5s");
	CHECK_INT(c->idle_timeout_ms, 300000, "default idle-timeout 5m");
	CHECK_INT(c->half_closed_timeout_ms, 30000, "default half-closed-timeout 30s");
	CHECK_INT(c->drain_timeout_ms, 30000, "default drain-timeout 30s");
	CHECK_INT(c->drain_delay_ms, 0, "default drain-delay 0: listeners close at the signal");
	CHECK_INT(c->hello_max, 32768, "default hello-max 32768");
	CHECK_STR(c->access_log, "-", "default access-log -");
	CHECK_INT(c->nlisteners, 0, "no listener by default");
	CHECK_INT(c->nbackends, 0, "no backend by default");
	conf_free(c);
	conf_free(NULL);
}

static void
test_good(void)
{
	struct conf *c = conf_new();
	struct listener_conf *l;
	const struct route *r;
	FILE *errs;
	char *out = NULL;
	size_t outlen = 0, i;
	int n;

	errs = open_memstream(&out, &outlen);
	n = conf_load_file(c, "tests/conf/good.conf", errs);
	n += conf_finish(c, errs);
	fclose(errs);
	CHECK_INT(n, 0, "good.conf: no error");
	CHECK_STR(out, "", "good.conf: nothing printed");
	free(out);
	out = NULL;

	CHECK_INT(c->hello_timeout_ms, 500, "hello-timeout 500ms");
	CHECK_INT(c->connect_timeout_ms, 3000, "connect-timeout 3 (bare: seconds)");
	CHECK_INT(c->idle_timeout_ms, 600000, "idle-timeout 10m");
	CHECK_INT(c->half_closed_timeout_ms, 3600000, "half-closed-timeout 1h");
	CHECK_INT(c->drain_timeout_ms, 86400000, "drain-timeout 24h (the maximum)");
	CHECK_INT(c->drain_delay_ms, 3600000, "drain-delay 1h (the maximum)");
	CHECK_INT(c->hello_max, 512, "hello-max 512 (the minimum)");
	CHECK_STR(c->access_log, "/tmp/halfpipe-access.log", "access-log FILE");
	CHECK_INT(c->nlisteners, 2, "two listener blocks");
	if (c->nlisteners != 2)
		goto done;

	l = &c->listeners[0];
	CHECK_INT(l->naddr, 2, "listener 0: two addresses");
	CHECK_STR(l->addrname[0], "127.0.0.1:0", "listener 0: first address as written");
	CHECK_STR(l->addrname[1], "[::1]:0", "listener 0: second address as written");
	CHECK_INT(l->addr[0].ss_family, AF_INET, "listener 0: IPv4");
	CHECK_INT(l->addrlen[0], sizeof(struct sockaddr_in), "listener 0: IPv4 length");
	CHECK_INT(l->addr[1].ss_family, AF_INET6, "listener 0: IPv6");
	CHECK_INT(l->addrlen[1], sizeof(struct sockaddr_in6), "listener 0: IPv6 length");
	CHECK_INT(l->nroutes, 6, "listener 0: six routes");
	if (l->nroutes == 6) {
		CHECK_STR(l->routes[0].name, "a.example.test", "route 0 name");
		CHECK_STR(l->routes[0].be->name, "127.0.0.1:9001", "route 0 backend");
		CHECK_INT(port_of(&l->routes[0].be->addr), 9001, "route 0 port");
		CHECK_STR(l->routes[0].file, "tests/conf/good.conf", "route 0 file");
		CHECK_INT(l->routes[0].line, 11, "route 0 line");
		CHECK_STR(l->routes[1].name, "b.example.test", "lower case, trailing dot dropped");
		CHECK_STR(l->routes[2].name, "*.example.org", "wildcard name kept");
		CHECK(l->routes[1].be == l->routes[2].be, "same backend text, same struct backend");
		CHECK_STR(l->routes[3].alpn, "acme-tls/1", "route alpn=");
		CHECK(l->routes[4].alpn == NULL, "route without alpn=");
		CHECK_INT(l->routes[4].be->addr.ss_family, AF_INET6, "[::1] backend");
		CHECK_INT(port_of(&l->routes[4].be->addr), 9004, "[::1] backend port");
		CHECK(l->routes[5].be->addr.ss_family == AF_INET ||
		    l->routes[5].be->addr.ss_family == AF_INET6, "localhost resolved");
		CHECK_INT(port_of(&l->routes[5].be->addr), 9005, "resolved backend port");
	}
	CHECK(l->on_no_route.be != NULL && strcmp(l->on_no_route.be->name, "127.0.0.1:9009") == 0,
	    "default sets on-no-route");
	CHECK(l->on_no_sni.be == l->on_no_route.be, "default sets on-no-sni");
	CHECK(l->on_not_tls.be != NULL && strcmp(l->on_not_tls.be->name, "127.0.0.1:9010") == 0,
	    "on-not-tls HOST:PORT");
	CHECK(l->on_malformed.be == NULL, "on-malformed reject");
	CHECK(l->table != NULL, "conf_finish built the table");

	r = lookup(l, "A.Example.Test.", NULL, 0);
	CHECK(r == &l->routes[0], "lookup through the built table");
	r = lookup(l, "acme.example.test", "\x0a" "acme-tls/1", 11);
	CHECK(r == &l->routes[3], "alpn route through the built table");
	r = lookup(l, "x.y.example.org", NULL, 0);
	CHECK(r == &l->routes[2], "wildcard through the built table");

	l = &c->listeners[1];
	CHECK_INT(l->naddr, 1, "listener 1: one address");
	CHECK_INT(l->nroutes, 1, "listener 1: one route");
	CHECK(l->nroutes == 1 && l->routes[0].be == c->listeners[0].routes[0].be,
	    "backends shared across listeners");
	CHECK(l->on_no_sni.be != NULL && strcmp(l->on_no_sni.be->name, "127.0.0.1:9011") == 0,
	    "on-no-sni HOST:PORT");
	CHECK(l->on_no_route.be == NULL, "on-no-route reject");
	CHECK(l->on_not_tls.be == NULL, "on-not-tls defaults to reject");
	CHECK(l->on_malformed.be == NULL, "on-malformed defaults to reject");

	/* 9001 9002 9003 [::1]:9004 localhost:9005 9009 9010 9011 */
	CHECK_INT(c->nbackends, 8, "eight distinct backends");
	for (i = 0; i < c->nbackends; i++)
		CHECK(c->backends[i]->addrlen > 0, "backend %s resolved", c->backends[i]->name);
done:
	conf_free(c);
}

/* Load a fixture with conf_load_file + conf_finish; compare with its .err. */
static void
test_bad(const char *name)
{
	char conf[256], errp[256], *want, *want_raw, *out = NULL;
	size_t outlen = 0;
	struct conf *c = conf_new();
	FILE *errs;
	int n;

	snprintf(conf, sizeof(conf), "tests/conf/%s.conf", name);
	snprintf(errp, sizeof(errp), "tests/conf/%s.err", name);
	want_raw = slurp(errp);
	CHECK(want_raw != NULL, "%s exists", errp);
	if (want_raw == NULL) {
		conf_free(c);
		return;
	}
	want = expand_gai(want_raw);
	errs = open_memstream(&out, &outlen);
	n = conf_load_file(c, conf, errs);
	n += conf_finish(c, errs);
	fclose(errs);
	CHECK_STR(out, want, "%s: stderr is exactly %s", conf, errp);
	CHECK_INT(n, lines_in(want), "%s: error count is the number of lines", conf);
	CHECK(n > 0, "%s: refused", conf);
	free(out);
	free(want);
	free(want_raw);
	conf_free(c);
}

static void
test_open_error(void)
{
	struct conf *c = conf_new();
	char *out = NULL;
	size_t outlen = 0;
	FILE *errs = open_memstream(&out, &outlen);
	int n;

	n = conf_load_file(c, "tests/conf/no-such-file.conf", errs);
	fclose(errs);
	CHECK_INT(n, 1, "missing file: one error");
	CHECK_STR(out, "tests/conf/no-such-file.conf: cannot open: No such file or directory\n",
	    "missing file: message");
	free(out);
	conf_free(c);
}

/* Apply one flag; returns what was printed (caller frees), *n the count. */
static char *
flag(struct conf *c, const char *name, const char *value, int *n)
{
	char *out = NULL;
	size_t outlen = 0;
	FILE *errs = open_memstream(&out, &outlen);

	*n = conf_apply_flag(c, name, value, errs);
	fclose(errs);
	return out;
}

#define FLAG_OK(c, name, value) do {                                       \
	int n_;                                                            \
	char *o_ = flag((c), (name), (value), &n_);                        \
	CHECK(n_ == 0 && strcmp(o_, "") == 0, "--%s %s", (name), (value)); \
	if (n_ != 0)                                                       \
		printf("#   printed: %s", o_);                             \
	free(o_);                                                          \
} while (0)

#define FLAG_ERR(c, name, value, want) do {                                \
	int n_;                                                            \
	char *o_ = flag((c), (name), (value), &n_);                        \
	CHECK_STR(o_, (want), "--%s %s: error", (name), (value) ? (value) : "(null)"); \
	CHECK_INT(n_, 1, "--%s: one error", (name));                       \
	free(o_);                                                          \
} while (0)

/* A configuration from text (conf_load_stream, conf_finish); the error
 * count into *nerr, the errors printed to stdout as TAP comments. */
static struct conf *
load_text(const char *text, int *nerr)
{
	struct conf *c = conf_new();
	FILE *in = fmemopen((void *)text, strlen(text), "r");

	*nerr = conf_load_stream(c, in, "t.conf", stdout);
	*nerr += conf_finish(c, stdout);
	fclose(in);
	return c;
}

/* allow/deny, route allow=/deny=, max-lifetime, keepalive, user timeouts,
 * idle-timeout off: what the parser keeps. */
static void
test_access_and_tcp(void)
{
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	struct sockaddr_storage ss;
	const struct listener_conf *l;
	const struct route *r;
	struct conf *c;
	int n;

	c = load_text("client-keepalive 30s,5s,3\nserver-keepalive 1m\n"
	    "client-user-timeout 20s\nserver-user-timeout 1500ms\nidle-timeout off\n"
	    "listen 127.0.0.1:0\ndeny 198.18.0.66\nallow 198.18.0.0/15 ::1\n"
	    "max-lifetime 1h\n"
	    "route a.example.test 127.0.0.1:9001 allow=10.0.0.0/8,192.0.2.1 deny=0.0.0.0/0 "
	    "max-lifetime=off\n"
	    "route b.example.test 127.0.0.1:9001 max-lifetime=90s\n"
	    "route c.example.test 127.0.0.1:9001\n", &n);
	CHECK_INT(n, 0, "access control, keepalive, lifetime: no error");
	CHECK_INT(c->keepalive[0].idle_s, 30, "client keepalive idle");
	CHECK_INT(c->keepalive[0].intvl_s, 5, "client keepalive interval");
	CHECK_INT(c->keepalive[0].count, 3, "client keepalive count");
	CHECK(c->keepalive[1].idle_s == 60 && c->keepalive[1].intvl_s == 0 &&
	    c->keepalive[1].count == 0, "server keepalive: IDLE alone, the rest the kernel's");
	CHECK_INT(c->user_timeout_ms[0], 20000, "client user timeout");
	CHECK_INT(c->user_timeout_ms[1], 1500, "server user timeout");
	CHECK_INT(c->idle_timeout_ms, 0, "idle-timeout off with all four set");
	l = &c->listeners[0];
	CHECK_INT(l->acl.n, 3, "listener: three rules");
	CHECK(l->acl.n == 3 && l->acl.rule[0].allow == 0 && l->acl.rule[1].allow == 1 &&
	    l->acl.rule[2].allow == 1 && l->acl.rule[2].net.family == AF_INET6,
	    "listener: deny, allow, allow (IPv6), in order");
	CHECK_INT(l->max_lifetime_ms, 3600000, "listener max-lifetime");
	r = &l->routes[0];
	CHECK(r->acl.n == 3 && r->acl.rule[0].allow && r->acl.rule[1].allow &&
	    !r->acl.rule[2].allow, "route a: allow, allow, deny, in order");
	a4.sin_addr.s_addr = htonl(0x0a010203);		/* 10.1.2.3 */
	memcpy(&ss, &a4, sizeof(a4));
	CHECK_INT(acl_allows(&r->acl, &ss), 1, "route a admits 10.1.2.3");
	a4.sin_addr.s_addr = htonl(0xc0000202);		/* 192.0.2.2 */
	memcpy(&ss, &a4, sizeof(a4));
	CHECK_INT(acl_allows(&r->acl, &ss), 0, "route a denies 192.0.2.2");
	CHECK(r->lifetime_set && r->max_lifetime_ms == 0, "route a: max-lifetime=off wins");
	CHECK(l->routes[1].lifetime_set && l->routes[1].max_lifetime_ms == 90000,
	    "route b: max-lifetime=90s");
	CHECK(!l->routes[2].lifetime_set && l->routes[2].acl.n == 0,
	    "route c: the listener's lifetime, no rules of its own");
	conf_free(c);

	c = load_text("listen 127.0.0.1:0\n", &n);
	CHECK(n == 0 && c->keepalive[0].idle_s == 0 && c->keepalive[1].idle_s == 0 &&
	    c->user_timeout_ms[0] == 0 && c->user_timeout_ms[1] == 0 &&
	    c->listeners[0].max_lifetime_ms == 0 && c->listeners[0].acl.n == 0 &&
	    c->idle_timeout_ms == 300000, "defaults: all off, no rules, idle-timeout 5m");
	FLAG_OK(c, "listen", "127.0.0.1:0");
	FLAG_OK(c, "allow", "192.0.2.0/24");
	FLAG_OK(c, "deny", "2001:db8::/32");
	FLAG_OK(c, "max-lifetime", "10m");
	FLAG_ERR(c, "deny", "10.0.0.0/99",
	    "--deny: bad network \"10.0.0.0/99\" (want a.b.c.d[/N] or IPv6[/N])\n");
	FLAG_OK(c, "route", "d.example.test=127.0.0.1:9001,deny=192.0.2.7,198.18.0.0/15,max-lifetime=5s");
	FLAG_OK(c, "client-keepalive", "10s,2s,4");
	l = &c->listeners[c->nlisteners - 1];
	CHECK(l->acl.n == 2 && l->acl.rule[0].allow && !l->acl.rule[1].allow &&
	    l->max_lifetime_ms == 600000, "--allow, --deny, --max-lifetime fill the last --listen");
	CHECK(l->nroutes == 1 && l->routes[0].acl.n == 2 && l->routes[0].max_lifetime_ms == 5000,
	    "--route ...,deny=A,B,max-lifetime=5s");
	CHECK(c->keepalive[0].idle_s == 10 && c->keepalive[0].intvl_s == 2 &&
	    c->keepalive[0].count == 4, "--client-keepalive 10s,2s,4");
	FLAG_ERR(c, "allow", "10.0.0.0/8",
	    "--allow: after the block's routes: put allow and deny before them (a route's own rules are its allow= and deny= options)\n");
	conf_free(c);
}

static void
test_flags(void)
{
	struct conf *c = conf_new();
	struct listener_conf *l;
	const struct route *r;
	char *out = NULL;
	size_t outlen = 0;
	FILE *errs;
	int n;

	/* Flags that need a listener, before any --listen. */
	FLAG_ERR(c, "route", "a.example.test=127.0.0.1:9001",
	    "--route: needs a --listen before it\n");
	FLAG_ERR(c, "default", "reject", "--default: needs a --listen before it\n");
	FLAG_ERR(c, "idle_timeout", "5m", "--idle_timeout: unknown flag (did you mean \"--idle-timeout\"?)\n");
	FLAG_ERR(c, "bogus", "1", "--bogus: unknown flag\n");
	FLAG_ERR(c, "hello-timeout", "5x",
	    "--hello-timeout: bad duration \"5x\" (want e.g. 500ms, 3s, 10m, 1h)\n");
	FLAG_ERR(c, "idle-timeout", "0",
	    "--idle-timeout: 0 is not allowed (1ms..24h, or off)\n");
	FLAG_ERR(c, "hello-max", "2000000", "--hello-max: 2000000 is out of range (512..1048576)\n");
	FLAG_ERR(c, "hello-timeout", NULL,
	    "--hello-timeout: wrong number of arguments: 0 (usage: --hello-timeout DURATION)\n");

	/* The file's listeners go away at the first --listen. */
	errs = open_memstream(&out, &outlen);
	n = conf_load_file(c, "tests/conf/good.conf", errs);
	fclose(errs);
	free(out);
	out = NULL;
	CHECK_INT(n, 0, "good.conf loads before the flags");
	CHECK_INT(c->nlisteners, 2, "two listeners from the file");

	FLAG_OK(c, "hello-timeout", "7s");
	FLAG_OK(c, "connect-timeout", "250ms");
	FLAG_OK(c, "idle-timeout", "2m");
	FLAG_OK(c, "half-closed-timeout", "10");
	FLAG_OK(c, "drain-timeout", "1h");
	FLAG_OK(c, "hello-max", "1048576");
	FLAG_OK(c, "access-log", "off");
	CHECK_INT(c->hello_timeout_ms, 7000, "--hello-timeout overrides the file");
	CHECK_INT(c->connect_timeout_ms, 250, "--connect-timeout");
	CHECK_INT(c->idle_timeout_ms, 120000, "--idle-timeout");
	CHECK_INT(c->half_closed_timeout_ms, 10000, "--half-closed-timeout");
	CHECK_INT(c->drain_timeout_ms, 3600000, "--drain-timeout");
	CHECK_INT(c->hello_max, 1048576, "--hello-max");
	CHECK_STR(c->access_log, "off", "--access-log");

	FLAG_OK(c, "listen", "127.0.0.1:0");
	CHECK_INT(c->nlisteners, 1, "--listen replaced the file's listeners");
	FLAG_OK(c, "route", "a.example.test=127.0.0.1:9001");
	FLAG_OK(c, "route", "acme.example.test=127.0.0.1:9003,alpn=acme-tls/1");
	FLAG_OK(c, "route", "*.example.org=[::1]:9002");
	FLAG_OK(c, "default", "127.0.0.1:9009");
	FLAG_ERR(c, "route", "a.example.test=127.0.0.1:9002",
	    "--route: duplicate route \"a.example.test\" (first at command line)\n");
	FLAG_ERR(c, "route", "a.example.test",
	    "--route: bad value \"a.example.test\" (want NAME=HOST:PORT[/OPT...][,HOST:PORT[/OPT...]...][,balance=rr|leastconn|source][,alpn=PROTO][,proxy=v1|v2][,source=ADDR[,ADDR...]|off][,check=tcp|tls][,allow=NET[,NET...]][,deny=NET[,NET...]][,max-lifetime=DURATION|off])\n");
	FLAG_ERR(c, "route", "x.example.test=127.0.0.1:1,proto=h2",
	    "--route: bad option \"proto=h2\" (want balance=rr|leastconn|source, alpn=PROTO, proxy=v1|v2, source=ADDR[,ADDR...], check=tcp|tls, allow=NET[,NET...], deny=NET[,NET...] or max-lifetime=DURATION|off)\n");
	FLAG_OK(c, "route", "pp.example.test=127.0.0.1:9001,proxy=v2,alpn=h2");
	{
		const struct listener_conf *pl = &c->listeners[c->nlisteners - 1];
		const struct route *pr = &pl->routes[pl->nroutes - 1];

		CHECK(pr->proxy == 2 && pr->alpn && strcmp(pr->alpn, "h2") == 0,
		    "--route ...,proxy=v2,alpn=h2: both options, in any order");
	}
	FLAG_ERR(c, "route", "pq.example.test=127.0.0.1:1,proxy=v3",
	    "--route: bad PROXY protocol version \"v3\" (want proxy=v1 or proxy=v2)\n");
	FLAG_OK(c, "accept-proxy", "10.0.0.0/8");
	FLAG_OK(c, "accept-proxy", "2001:db8::/32");
	CHECK_INT(c->listeners[c->nlisteners - 1].naccept_proxy, 2,
	    "--accept-proxy twice: two networks");
	FLAG_ERR(c, "accept-proxy", "10.0.0.0/33",
	    "--accept-proxy: bad network \"10.0.0.0/33\" (want a.b.c.d[/N] or IPv6[/N])\n");
	FLAG_ERR(c, "route", "a.*.test=127.0.0.1:1",
	    "--route: bad name \"a.*.test\": '*' is only allowed as the whole first label, as in \"*.example.com\"\n");
	FLAG_ERR(c, "default", "nowhere",
	    "--default: bad backend \"nowhere\" (want HOST:PORT, HOST a name, a.b.c.d or [IPv6])\n");
	FLAG_ERR(c, "listen", "localhost:80",
	    "--listen: bad address \"localhost:80\" (want a.b.c.d:PORT or [IPv6]:PORT)\n");
	FLAG_OK(c, "listen", "[::1]:0");
	CHECK_INT(c->nlisteners, 3, "a later --listen adds a listener (the bad one opened too)");
	FLAG_OK(c, "on-no-sni", "127.0.0.1:9011");
	FLAG_OK(c, "on-no-route", "reject");
	FLAG_OK(c, "on-not-tls", "127.0.0.1:9012");
	FLAG_OK(c, "on-malformed", "127.0.0.1:9012");

	errs = open_memstream(&out, &outlen);
	n = conf_finish(c, errs);
	fclose(errs);
	CHECK_INT(n, 0, "conf_finish after flags");
	free(out);
	out = NULL;
	if (c->nlisteners == 3) {
		l = &c->listeners[0];
		CHECK_INT(l->nroutes, 4, "flag listener: four routes");
		CHECK_STR(l->addrname[0], "127.0.0.1:0", "flag listener address");
		CHECK(l->on_no_route.be != NULL && l->on_no_route.be == l->on_no_sni.be,
		    "--default sets both");
		r = lookup(l, "acme.example.test", "\x02h2\x0a" "acme-tls/1", 14);
		CHECK(r != NULL && r->alpn != NULL && strcmp(r->alpn, "acme-tls/1") == 0,
		    "--route with alpn");
		CHECK(r != NULL && strcmp(r->file, "command line") == 0 && r->line == 0,
		    "flag routes come from the command line");
		r = lookup(l, "deep.sub.example.org", NULL, 0);
		CHECK(r != NULL && r->be->addr.ss_family == AF_INET6, "--route wildcard to [::1]");
		l = &c->listeners[2];
		CHECK_INT(l->addr[0].ss_family, AF_INET6, "second --listen is IPv6");
		CHECK(l->on_no_sni.be != NULL && l->on_no_route.be == NULL &&
		    l->on_not_tls.be != NULL && l->on_not_tls.be == l->on_malformed.be,
		    "on-* flags fill the last --listen");
	}
	conf_free(c);

	/* No listener anywhere. */
	c = conf_new();
	errs = open_memstream(&out, &outlen);
	n = conf_finish(c, errs);
	fclose(errs);
	CHECK_INT(n, 1, "no listener: one error");
	CHECK_STR(out, "no listener: add a 'listen' line or --listen\n", "no listener: message");
	free(out);
	out = NULL;
	conf_free(c);

	/* no_resolve: names are refused without asking DNS, numbers are fine. */
	c = conf_new();
	c->no_resolve = 1;
	FLAG_OK(c, "listen", "127.0.0.1:0");
	FLAG_OK(c, "route", "a.example.test=127.0.0.1:1");
	FLAG_ERR(c, "route", "b.example.test=localhost:1",
	    "--route: cannot resolve \"localhost\": name resolution is off\n");
	conf_free(c);
}

/* A table row "| `name` | args | `default` | range | scope | doc |" split into
 * trimmed cells, "\\|" unescaped to "|"; the number of cells. */
static int
md_cells(char *line, char **cell, int max)
{
	int n = 0;
	char *s, *w, *start;

	if (line[0] != '|')
		return 0;
	s = line + 1;
	while (n < max) {
		while (*s == ' ')
			s++;
		start = w = s;
		while (*s != '\0' && *s != '|') {
			if (s[0] == '\\' && s[1] == '|') {
				*w++ = '|';
				s += 2;
			} else
				*w++ = *s++;
		}
		if (*s == '\0')
			break;
		s++;
		while (w > start && w[-1] == ' ')
			w--;
		*w = '\0';
		cell[n++] = start;
	}
	return n;
}

static void
test_docs(void)
{
	const struct conf_directive *d;
	char *doc, *copy, *line, *save, *cell[8], want[256], bounds[64];
	size_t nd, i;
	int found, nc, heading;

	d = conf_directives(&nd);
	CHECK(nd >= 14, "directive table has every directive (%zu)", nd);
	doc = slurp("docs/config.md");
	CHECK(doc != NULL, "docs/config.md readable");
	if (doc == NULL)
		return;
	for (i = 0; i < nd; i++) {
		found = 0;
		heading = 0;
		copy = strdup(doc);
		for (line = strtok_r(copy, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			if (line[0] == '#') {
				snprintf(want, sizeof(want), "`%s`", d[i].name);
				if (strstr(line, want) != NULL)
					heading = 1;
				continue;
			}
			nc = md_cells(line, cell, 8);
			snprintf(want, sizeof(want), "`%s`", d[i].name);
			if (nc < 6 || strcmp(cell[0], want) != 0)
				continue;
			found = 1;
			snprintf(want, sizeof(want), "`%s`", d[i].def ? d[i].def : "none");
			if (d[i].def == NULL)
				snprintf(want, sizeof(want), "none");
			CHECK_STR(cell[2], want, "docs: %s default matches the table", d[i].name);
			conf_bounds_text(&d[i], bounds, sizeof(bounds));
			CHECK_STR(cell[3], bounds[0] ? bounds : "-",
			    "docs: %s range matches the table", d[i].name);
			CHECK_STR(cell[4], d[i].scope == CONF_GLOBAL ? "global" : "listener",
			    "docs: %s scope matches the table", d[i].name);
			snprintf(want, sizeof(want), "`%s`", d[i].args);
			CHECK_STR(cell[1], want, "docs: %s arguments match the table", d[i].name);
		}
		free(copy);
		CHECK(found, "docs/config.md has a table row for %s", d[i].name);
		CHECK(heading, "docs/config.md has a heading for %s", d[i].name);
	}
	free(doc);
}

static void
test_print_directives(void)
{
	const struct conf_directive *d;
	char *out = NULL, want[64];
	size_t outlen = 0, nd, i;
	FILE *f = open_memstream(&out, &outlen);

	conf_print_directives(f);
	fclose(f);
	d = conf_directives(&nd);
	CHECK_INT(lines_in(out), nd + 1, "--directives: a header and one line per directive");
	for (i = 0; i < nd; i++) {
		snprintf(want, sizeof(want), "\n%s ", d[i].name);
		CHECK(strstr(out, want) != NULL, "--directives lists %s", d[i].name);
	}
	CHECK(strstr(out, "idle-timeout         DURATION") != NULL &&
	    strstr(out, "5m        1ms..24h") != NULL, "--directives shows default and range");
	free(out);
}

/* The row named name, or NULL. */
static const struct conf_directive *
row(const char *name)
{
	const struct conf_directive *d;
	size_t nd, i;

	d = conf_directives(&nd);
	for (i = 0; i < nd; i++)
		if (strcmp(d[i].name, name) == 0)
			return &d[i];
	return NULL;
}

/* What a reload keeps: the rows marked CONF_RESTART, exactly these, each with
 * a keeper; conf_keep() gives the new conf the running value and says
 * whether it differed; a CONF_APPLIES row is left alone. */
static void
test_keep(void)
{
	static const char *restart[] = {
		"workers", "splice-pipes", "seccomp", "max-conns", "max-conns-per-source",
		"user", "group", "access-log", "access-log-format", "admin-socket", "metrics",
		"resolvers",
	};
	const struct conf_directive *d;
	struct conf *old = conf_new(), *c = conf_new();
	size_t nd, i, nrestart = 0;
	int n;

	d = conf_directives(&nd);
	for (i = 0; i < nd; i++) {
		CHECK(d[i].set != NULL, "%s has a setter", d[i].name);
		if (d[i].reload != CONF_RESTART)
			continue;
		nrestart++;
		CHECK(d[i].keep != NULL && d[i].scope == CONF_GLOBAL,
		    "%s (restart) is global and has a keeper", d[i].name);
	}
	CHECK_INT(nrestart, sizeof(restart) / sizeof(restart[0]), "restart rows");
	for (i = 0; i < sizeof(restart) / sizeof(restart[0]); i++)
		CHECK(row(restart[i]) != NULL && row(restart[i])->reload == CONF_RESTART,
		    "%s takes effect on restart", restart[i]);

	old->no_resolve = c->no_resolve = 1;
	n = conf_apply_flag(old, "workers", "4", stderr);
	n += conf_apply_flag(old, "access-log", "/tmp/halfpipe-old.log", stderr);
	n += conf_apply_flag(old, "metrics", "127.0.0.1:9100", stderr);
	n += conf_apply_flag(old, "user", "nobody", stderr);
	n += conf_apply_flag(c, "workers", "2", stderr);
	n += conf_apply_flag(c, "hello-timeout", "7s", stderr);
	n += conf_apply_flag(c, "user", "root", stderr);
	CHECK_INT(n, 0, "keep: the flags apply");
	CHECK_INT(conf_keep(c, old, row("workers")), 1, "workers: another value");
	CHECK_INT(c->workers, 4, "workers: the running value kept");
	CHECK_INT(conf_keep(c, old, row("workers")), 0, "workers: now the same");
	CHECK_INT(conf_keep(c, old, row("access-log")), 1, "access-log: another value");
	CHECK_STR(c->access_log, "/tmp/halfpipe-old.log", "access-log kept");
	CHECK(c->access_log != old->access_log, "access-log: a copy");
	CHECK_INT(conf_keep(c, old, row("admin-socket")), 0, "admin-socket: the same");
	CHECK_INT(conf_keep(c, old, row("metrics")), 1, "metrics: another value");
	CHECK(c->metrics_addrlen == old->metrics_addrlen &&
	    strcmp(c->metrics_name, "127.0.0.1:9100") == 0, "metrics kept");
	CHECK_INT(conf_keep(c, old, row("user")), 1, "user: another name");
	CHECK_STR(c->user.name, "nobody", "user kept");
	CHECK_INT(conf_keep(c, old, row("group")), 0, "group: none in both");
	CHECK(c->group.name == NULL, "group still none");
	CHECK_INT(conf_keep(c, old, row("seccomp")), 0, "seccomp: the same");
	CHECK_INT(conf_keep(c, old, row("hello-timeout")), 0, "hello-timeout applies: nothing kept");
	CHECK_INT(c->hello_timeout_ms, 7000, "hello-timeout: the new value stays");
	conf_free(old);
	conf_free(c);
}

static void
test_example(void)
{
	struct conf *c = conf_new();
	char *out = NULL;
	size_t outlen = 0;
	FILE *errs = open_memstream(&out, &outlen);
	struct listener_conf *l;
	int n;

	n = conf_load_file(c, "examples/halfpipe.conf", errs);
	n += conf_finish(c, errs);
	fclose(errs);
	CHECK_INT(n, 0, "examples/halfpipe.conf parses");
	CHECK_STR(out, "", "examples/halfpipe.conf: nothing printed");
	free(out);
	CHECK_INT(c->nlisteners, 1, "example: one listener");
	if (c->nlisteners == 1) {
		l = &c->listeners[0];
		CHECK_STR(l->addrname[0], "127.0.0.1:8443", "example: listens on 127.0.0.1:8443");
		CHECK(lookup(l, "a.example.test", NULL, 0) != NULL &&
		    strcmp(lookup(l, "a.example.test", NULL, 0)->be->name, "127.0.0.1:9001") == 0,
		    "example: a.example.test -> 127.0.0.1:9001");
		CHECK(lookup(l, "b.example.test", NULL, 0) != NULL &&
		    strcmp(lookup(l, "b.example.test", NULL, 0)->be->name, "127.0.0.1:9002") == 0,
		    "example: b.example.test -> 127.0.0.1:9002");
		CHECK(lookup(l, "c.example.test", NULL, 0) == NULL && l->on_no_route.be == NULL &&
		    l->on_no_sni.be == NULL, "example: default reject");
	}
	CHECK_STR(c->access_log, "-", "example: access-log -");
	conf_free(c);
}

/* listen-quic right after listen joins its block; elsewhere it opens one;
 * the QUIC directives' defaults. */
static void
test_quic_blocks(void)
{
	static const char text[] =
	    "listen 127.0.0.1:0\n"
	    "listen-quic 127.0.0.1:0 [::1]:0\n"
	    "route a.example.test 127.0.0.1:9001\n"
	    "listen-quic 127.0.0.1:1\n"
	    "listen 127.0.0.1:2\n"
	    "route b.example.test 127.0.0.1:9002\n"
	    "listen-quic 127.0.0.1:3\n";
	struct conf *c = conf_new();
	FILE *in = fmemopen((void *)text, sizeof(text) - 1, "r");
	int n;

	CHECK_INT(c->quic_idle_timeout_ms, 30000, "quic-idle-timeout default 30s");
	CHECK_INT(c->quic_hello_timeout_ms, 5000, "quic-hello-timeout default 5s");
	CHECK_INT(c->quic_max_flows, 10000, "quic-max-flows default 10000");
	n = conf_load_stream(c, in, "quic.conf", stderr);
	fclose(in);
	CHECK_INT(n, 0, "quic.conf loads");
	CHECK_INT(c->nlisteners, 4, "quic.conf: 4 blocks");
	if (c->nlisteners == 4) {
		CHECK(c->listeners[0].naddr == 1 && c->listeners[0].nqaddr == 2 &&
		    strcmp(c->listeners[0].qaddrname[1], "[::1]:0") == 0,
		    "listen-quic after listen joins its block");
		CHECK(c->listeners[1].naddr == 0 && c->listeners[1].nqaddr == 1,
		    "listen-quic after a route opens a block");
		CHECK(c->listeners[2].nqaddr == 0 && c->listeners[3].nqaddr == 1 &&
		    c->listeners[3].naddr == 0, "listen-quic after a route opens a block (2)");
	}
	conf_free(c);
	c = conf_new();
	n = conf_apply_flag(c, "listen", "127.0.0.1:0", stderr);
	n += conf_apply_flag(c, "listen-quic", "127.0.0.1:0", stderr);
	CHECK(n == 0 && c->nlisteners == 1 && c->listeners[0].nqaddr == 1,
	    "--listen-quic after --listen joins its block");
	conf_free(c);
}

int
main(void)
{
	char open_before[FD_SCAN];
	glob_t bad;
	size_t i;
	int fd, leaked = 0;

	for (fd = 0; fd < FD_SCAN; fd++)
		open_before[fd] = fcntl(fd, F_GETFD) != -1;

	test_durations();
	test_defaults();
	test_good();
	/* every tests/conf/bad-*.conf, none left out by a hand-kept list */
	CHECK(glob("tests/conf/bad-*.conf", 0, NULL, &bad) == 0 && bad.gl_pathc >= 15,
	    "tests/conf/bad-*.conf found (%zu)", bad.gl_pathc);
	for (i = 0; i < bad.gl_pathc; i++) {
		char name[128];
		const char *base = strrchr(bad.gl_pathv[i], '/') + 1;

		snprintf(name, sizeof(name), "%.*s", (int)(strlen(base) - strlen(".conf")), base);
		test_bad(name);
	}
	globfree(&bad);
	test_open_error();
	test_flags();
	test_access_and_tcp();
	test_docs();
	test_print_directives();
	test_keep();
	test_example();
	test_quic_blocks();

	for (fd = 0; fd < FD_SCAN; fd++)
		if (!open_before[fd] && fcntl(fd, F_GETFD) != -1)
			leaked++;
	CHECK_INT(leaked, 0, "no fd left open");
	return test_done();
}
