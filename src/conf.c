/*
 * conf.c: the directive table, the line-oriented config parser and the
 * command-line flags. One table (directives[] below) drives parsing, the
 * defaults conf_new() fills in, the bounds, what a reload keeps, the flags,
 * --directives and the documentation. Each row carries its setter: shared
 * ones for the common kinds of value (duration, bytes, count, string,
 * switch) write at the row's offset; the others are the directive's own.
 *
 * Errors never stop the parse: each line is parsed on its own, every error is
 * printed as "FILE:LINE: ..." and counted.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "addr.h"
#include "conf.h"
#include "route.h"

#define CONF_LINE_MAX	4095		/* characters in a line, without '\n' */
#define CONF_WORDS_MAX	16		/* words kept per line (more: arg error) */
#define CONF_NAME_MAX	253		/* a DNS name */
#define CONF_ALPN_MAX	255
#define CONF_NETS_MAX	256		/* accept-proxy networks per listener */

#define MS_S		1000u
#define MS_M		(60u * MS_S)
#define MS_H		(60u * MS_M)

#define G(field)	offsetof(struct conf, field)
#define L(field)	offsetof(struct listener_conf, field)
#define ONE		.minargs = 1, .maxargs = 1	/* one word */
#define DAY		.min = 1, .max = 24 * MS_H	/* a timeout's bounds */

/* conf.c's part of a struct conf: what the parser keeps between lines and
 * flags, and the file names routes point at. */
struct conf_priv {
	char				**files;	/* owned, for route.file */
	size_t				 nfiles;
	size_t				 cur;		/* 1 + index of the block being
							   filled, 0: none */
	int				 flag_listen;	/* a --listen flag was seen */
	int				 after_listen;	/* the last directive was listen:
							   a listen-quic joins its block */
	struct conf_name		*names;		/* backends given by name, */
	size_t				 nnames;	/* resolved by conf_finish() */
};

/* A backend given by name, left for conf_finish() to resolve (c->resolve
 * set), and where it was first written, for the message. */
struct conf_name {
	struct backend			*be;
	const char			*file;		/* NULL: a flag */
	int				 line;
	const char			*dname;		/* the directive's name */
};

/* Where we are, for messages, and what is being filled. */
struct conf_parse {
	struct conf			*c;
	FILE				*errs;
	const char			*file;	/* NULL: a command-line flag */
	int				 line;
	const char			*flag;	/* the flag's name as given */
	const struct conf_directive	*d;	/* the directive at hand, or NULL */
	int				 nerr;
};

/* The setters (struct conf_directive.set): shared ones for the common kinds
 * of value, at the row's offset, and the directives' own. */
#define SETTER(name) \
	static int name(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
SETTER(set_duration);
SETTER(set_keepalive);
SETTER(set_acl);
SETTER(set_bytes);
SETTER(set_count);
SETTER(set_string);
SETTER(set_switch);
SETTER(set_user);
SETTER(set_group);
SETTER(set_metrics);
SETTER(set_listen);
SETTER(set_listen_quic);
SETTER(set_route);
SETTER(set_nets);
SETTER(set_action);
SETTER(set_prefer);
SETTER(set_log_format);
SETTER(set_resolvers);
SETTER(set_source);
#undef SETTER

/* The keepers (struct conf_directive.keep), for global values. */
#define KEEPER(name) \
	static int name(struct conf *c, const struct conf *old, const struct conf_directive *d)
KEEPER(keep_u32);
KEEPER(keep_string);
KEEPER(keep_id);
KEEPER(keep_metrics);
#undef KEEPER

static int split_route_flag(char *buf, char **av, int max);

static const struct conf_directive directives[] = {
	{ .name = "hello-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "5s", DAY,
	  .off = G(hello_timeout_ms),
	  .doc = "time a client has to send its whole ClientHello" },
	{ .name = "connect-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "5s", DAY,
	  .off = G(connect_timeout_ms),
	  .doc = "time a backend connect has to complete" },
	{ .name = "idle-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION|off", .def = "5m", DAY,
	  .off = G(idle_timeout_ms),
	  .doc = "with both directions open, a session with no byte moving either way for this long is reset; off only with keepalive and a user timeout on both sides" },
	{ .name = "half-closed-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "30s", DAY,
	  .off = G(half_closed_timeout_ms),
	  .doc = "once one direction has finished (FIN passed on), a session with no byte moving for this long is reset" },
	{ .name = "drain-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "30s", DAY,
	  .off = G(drain_timeout_ms),
	  .doc = "after SIGTERM/SIGINT, time live sessions have to finish before they are reset" },
	{ .name = "drain-delay", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "0", .min = 0, .max = MS_H,
	  .off = G(drain_delay_ms),
	  .doc = "after the first SIGTERM/SIGINT, keep accepting for this long while GET /ready answers 503 (a balancer takes the instance out), then close the listeners and drain; a second signal ends it at once; 0: close them at the first signal" },
	{ .name = "client-keepalive", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_keepalive, ONE, .args = "IDLE[,INTVL[,COUNT]]|off", .def = "off",
	  .off = G(keepalive[0]),
	  .doc = "TCP keepalive on client sockets (set on the listening sockets, which accepted ones inherit): the first probe after IDLE quiet, then every INTVL, the peer given up after COUNT unanswered (whole seconds; INTVL, COUNT omitted: the kernel's)" },
	{ .name = "server-keepalive", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_keepalive, ONE, .args = "IDLE[,INTVL[,COUNT]]|off", .def = "off",
	  .off = G(keepalive[1]),
	  .doc = "TCP keepalive on backend sockets, as client-keepalive" },
	{ .name = "client-user-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION|off", .def = "off", DAY,
	  .off = G(user_timeout_ms[0]),
	  .doc = "TCP_USER_TIMEOUT on client sockets: data the client leaves unacknowledged this long (or keepalive probes unanswered) ends the connection" },
	{ .name = "server-user-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION|off", .def = "off", DAY,
	  .off = G(user_timeout_ms[1]),
	  .doc = "TCP_USER_TIMEOUT on backend sockets, as client-user-timeout" },
	{ .name = "quic-idle-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "30s", DAY,
	  .off = G(quic_idle_timeout_ms),
	  .doc = "a routed QUIC flow with no datagram either way for this long ends (its backend socket closed)" },
	{ .name = "quic-hello-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "5s", DAY,
	  .off = G(quic_hello_timeout_ms),
	  .doc = "time a new QUIC client has to complete its ClientHello; a refused client's datagrams are dropped for this long" },
	{ .name = "quic-max-flows", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_count, ONE, .args = "N", .def = "10000",
	  .min = 1, .max = 1000000, .off = G(quic_max_flows),
	  .doc = "QUIC flows at once per worker (each routed one holds an fd); a new client past it is dropped, counted" },
	{ .name = "hello-max", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_bytes, ONE, .args = "BYTES", .def = "32768",
	  .min = 512, .max = 1048576, .off = G(hello_max),
	  .doc = "cap on the ClientHello body, bytes" },
	{ .name = "access-log", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_string, .keep = keep_string, ONE, .args = "FILE|-|off", .def = "-",
	  .off = G(access_log),
	  .doc = "one line per session: '-' is stdout, FILE is appended to (SIGUSR1 reopens it), 'off' disables" },
	{ .name = "access-log-format", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_log_format, .keep = keep_u32, ONE, .args = "logfmt|json", .def = "logfmt",
	  .off = G(access_log_format),
	  .doc = "the access log's lines: logfmt (key=value pairs) or json (one object per line, the same keys, numbers as numbers, none as null)" },
	{ .name = "access-log-interval", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION|off", .def = "off",
	  .min = 100, .max = 24 * MS_H, .off = G(access_log_interval_ms),
	  .doc = "also log a line (event=connect) when a session's relay starts and one (event=progress, the bytes so far) every DURATION while it lasts; off: only the line at its end" },
	{ .name = "admin-socket", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_string, .keep = keep_string, ONE, .args = "PATH|off", .def = "off",
	  .off = G(admin_socket),
	  .doc = "serve the live connection table (halfpipe -s PATH conns) and kill ID on this unix socket, mode 0600, owned by the starting user; off: none" },
	{ .name = "workers", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_count, .keep = keep_u32, ONE, .args = "N|auto", .def = "auto",
	  .min = 1, .max = 64, .off = G(workers),
	  .doc = "event-loop threads sharing the listeners (SO_REUSEPORT); auto: one per CPU halfpipe may run on (its affinity)" },
	{ .name = "splice-pipes", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_count, .keep = keep_u32, ONE, .args = "N", .def = "1000",
	  .min = 0, .max = 100000, .off = G(splice_pipes),
	  .doc = "kernel pipes per worker for zero-copy relay (2 fds each, held only while bytes are in flight); 0: copy only" },
	{ .name = "user", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_user, .keep = keep_id, ONE, .args = "NAME", .off = G(user),
	  .doc = "after binding, switch to this user (and its group unless 'group' is given); none: stay as started" },
	{ .name = "group", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_group, .keep = keep_id, ONE, .args = "NAME", .off = G(group),
	  .doc = "after binding, switch to this group, the only supplementary group too; none: the user's group" },
	{ .name = "seccomp", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_switch, .keep = keep_u32, ONE, .args = "on|off", .def = "on",
	  .off = G(seccomp),
	  .doc = "after binding, allow only the system calls the relay needs; any other kills the process" },
	{ .name = "max-conns", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_count, .keep = keep_u32, ONE, .args = "N", .def = "0",
	  .min = 0, .max = 10000000, .off = G(max_conns),
	  .doc = "connections at once, all listeners; more are reset at accept; 0: no limit but the fd budget" },
	{ .name = "max-conns-per-source", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_count, .keep = keep_u32, ONE, .args = "N", .def = "0",
	  .min = 0, .max = 10000000, .off = G(max_conns_per_source),
	  .doc = "connections at once from one client address (IPv4 /32, IPv6 /64); more are reset at accept; 0: no limit" },
	{ .name = "backend-fails", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_count, ONE, .args = "N", .def = "3",
	  .min = 1, .max = 1000, .off = G(backend_fails),
	  .doc = "a pool server whose connects fail N times in a row is passed over for backend-cooldown" },
	{ .name = "backend-cooldown", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "10s", DAY,
	  .off = G(backend_cooldown_ms),
	  .doc = "how long a failing pool server is passed over; a failed connect after it starts another" },
	{ .name = "source", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_source, ONE, .args = "ADDR[,ADDR...]|off", .def = "off",
	  .off = G(source),
	  .doc = "backend connects bind one of these local addresses first (round robin, the backend's family only; the port chosen at connect); off: the kernel chooses" },
	{ .name = "check-interval", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "2s", DAY,
	  .off = G(check_interval_ms),
	  .doc = "a server that a route checks (check=) is checked this often, the first time at a random point of the first interval" },
	{ .name = "check-timeout", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "1s", DAY,
	  .off = G(check_timeout_ms),
	  .doc = "time a check has to pass (connect, and for tls the reply); at most check-interval" },
	{ .name = "check-rise", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_count, ONE, .args = "N", .def = "2",
	  .min = 1, .max = 1000, .off = G(check_rise),
	  .doc = "checks passed in a row that bring a server that is down up again" },
	{ .name = "check-fall", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_count, ONE, .args = "N", .def = "3",
	  .min = 1, .max = 1000, .off = G(check_fall),
	  .doc = "checks failed in a row that take a server down: no connection is sent to it" },
	{ .name = "metrics", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_metrics, .keep = keep_metrics, ONE, .args = "ADDR:PORT|off", .def = "off",
	  .doc = "serve Prometheus metrics over HTTP (GET /metrics) and readiness (GET /ready, for a balancer) on this address, a.b.c.d:PORT or [IPv6]:PORT; off: none" },
	{ .name = "resolve-interval", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION", .def = "10s",
	  .min = MS_S, .max = 24 * MS_H, .off = G(resolve_interval_ms),
	  .doc = "how often a backend given by name is asked of DNS again (sooner when its records' TTL is shorter, never under 1s); a failed answer keeps the last addresses" },
	{ .name = "resolve-prefer", .scope = CONF_GLOBAL, .reload = CONF_APPLIES,
	  .set = set_prefer, ONE, .args = "any|ipv4|ipv6", .def = "any",
	  .off = G(resolve_prefer),
	  .doc = "which addresses of a backend name are its servers: any (every A and AAAA, IPv6 first), ipv4 or ipv6 (that family only, the other if it has none)" },
	{ .name = "resolvers", .scope = CONF_GLOBAL, .reload = CONF_RESTART,
	  .set = set_resolvers, .keep = keep_string, .minargs = 1, .maxargs = 8,
	  .many = "name servers", .args = "ADDR[:PORT]...", .flag_args = "ADDR[:PORT]",
	  .off = G(resolvers),
	  .doc = "the DNS servers backend names are asked of (a.b.c.d, a.b.c.d:PORT, IPv6 or [IPv6]:PORT; port 53 by default); none: /etc/resolv.conf's" },
	{ .name = "listen", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_listen, .minargs = 1, .maxargs = 8, .many = "addresses", .opens = 1,
	  .args = "ADDR:PORT...", .flag_args = "ADDR:PORT",
	  .doc = "open a listener block on 1..8 addresses, a.b.c.d:PORT or [IPv6]:PORT (port 0: any)" },
	{ .name = "listen-quic", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_listen_quic, .minargs = 1, .maxargs = 8, .many = "addresses", .opens = 1,
	  .args = "ADDR:PORT...", .flag_args = "ADDR:PORT",
	  .doc = "QUIC (UDP) on 1..8 addresses, routed by the SNI of the client's Initial packets with the block's routes; right after a listen line it joins that block, otherwise it opens one; the addresses are bound at start (a reload keeps the sockets)" },
	{ .name = "route", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_route, .minargs = 2, .maxargs = CONF_WORDS_MAX - 1, .split = split_route_flag,
	  .args = "NAME HOST:PORT[/OPT...][,HOST:PORT[/OPT...]...] [balance=rr|leastconn|source] [alpn=PROTO] [proxy=v1|v2] [source=ADDR[,ADDR...]|off] [check=tcp|tls] [allow=NET[,NET...]] [deny=NET[,NET...]] [max-lifetime=DURATION|off]",
	  .flag_args = "NAME=HOST:PORT[/OPT...][,HOST:PORT[/OPT...]...][,balance=rr|leastconn|source][,alpn=PROTO][,proxy=v1|v2][,source=ADDR[,ADDR...]|off][,check=tcp|tls][,allow=NET[,NET...]][,deny=NET[,NET...]][,max-lifetime=DURATION|off]",
	  .doc = "send SNI NAME (exact or *.suffix), if alpn= is given only when the client offers PROTO, to HOST:PORT, or to one of a pool of up to 32 servers (each with /weight=N, /backup; balance=: round robin, the default, least connections or the client's address; a failed connect tries the next one); proxy= puts a PROXY protocol header first; source= binds these local addresses (instead of the global source); check= checks each server actively (a TCP connect, or a TLS ClientHello for NAME answered by a TLS record); allow=/deny= admit clients to this route only, as allow and deny do, after the listener's; max-lifetime= replaces the listener's" },
	{ .name = "accept-proxy", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_nets, .minargs = 1, .maxargs = 8, .args = "NET...", .flag_args = "NET",
	  .doc = "require a PROXY protocol header (v1 or v2) before the ClientHello, from these source networks only (ADDR or ADDR/BITS); refuse every other source" },
	{ .name = "allow", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_acl, .minargs = 1, .maxargs = 8, .many = "networks",
	  .args = "NET...", .flag_args = "NET",
	  .doc = "admit clients from these networks (ADDR or ADDR/BITS); with deny, in order, the first that holds the client decides, none: the opposite of the last; before the routes; checked at accept, or on a trusted PROXY header's source" },
	{ .name = "deny", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_acl, .minargs = 1, .maxargs = 8, .many = "networks",
	  .args = "NET...", .flag_args = "NET",
	  .doc = "reset clients from these networks (ADDR or ADDR/BITS), term=denied; see allow" },
	{ .name = "max-lifetime", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_duration, ONE, .args = "DURATION|off", .def = "off",
	  .min = 1, .max = 30 * 24 * MS_H, .off = L(max_lifetime_ms),
	  .doc = "a connection this old is reset both ways (term=max-lifetime), whatever it is doing; off: no limit" },
	{ .name = "listener-max-conns", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_count, ONE, .args = "N", .def = "0",
	  .min = 0, .max = 10000000, .off = L(max_conns),
	  .doc = "connections at once on this listener (all its addresses); more are reset at accept; 0: no limit" },
	{ .name = "default", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_action, ONE, .args = "HOST:PORT|reject", .def = "reject",
	  .off = L(on_no_route), .off2 = L(on_no_sni),
	  .doc = "sets both on-no-route and on-no-sni" },
	{ .name = "on-no-sni", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_action, ONE, .args = "HOST:PORT|reject", .def = "reject",
	  .off = L(on_no_sni),
	  .doc = "what to do with a ClientHello that has no server_name" },
	{ .name = "on-no-route", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_action, ONE, .args = "HOST:PORT|reject", .def = "reject",
	  .off = L(on_no_route),
	  .doc = "what to do with an SNI no route matches" },
	{ .name = "on-not-tls", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_action, ONE, .args = "HOST:PORT|reject", .def = "reject",
	  .off = L(on_not_tls),
	  .doc = "what to do when the first bytes are not a TLS handshake record" },
	{ .name = "on-malformed", .scope = CONF_LISTENER, .reload = CONF_APPLIES,
	  .set = set_action, ONE, .args = "HOST:PORT|reject", .def = "reject",
	  .off = L(on_malformed),
	  .doc = "what to do with a TLS handshake whose ClientHello cannot be parsed" },
};
#define NDIRECTIVES	(sizeof(directives) / sizeof(directives[0]))

static void perr(struct conf_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "FILE:LINE: NAME: msg" (file) or "--NAME: msg" (flag); count it. */
static void perr(struct conf_parse *p, const char *fmt, ...)
{
	va_list ap;

	p->nerr++;
	if (p->errs == NULL)
		return;
	if (p->file != NULL) {
		fprintf(p->errs, "%s:%d: ", p->file, p->line);
		if (p->d != NULL)
			fprintf(p->errs, "%s: ", p->d->name);
	} else
		fprintf(p->errs, "--%s: ", p->d != NULL ? p->d->name : p->flag);
	va_start(ap, fmt);
	vfprintf(p->errs, fmt, ap);
	va_end(ap);
	fputc('\n', p->errs);
}

/*
 * Make room for element n of array p (elements of size bytes), which holds
 * n: the array, maybe moved, or NULL when out of memory (p is still valid).
 * The capacity is implicit: the array doubles when n is 0 or a power of two,
 * so appending stays linear.
 */
static void *grow(void *p, size_t n, size_t size)
{
	size_t cap = n ? 2 * n : 1;

	if (n != 0 && (n & (n - 1)) != 0)
		return p;
	if (cap > SIZE_MAX / size)
		return NULL;
	return realloc(p, cap * size);
}

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static int lower(int ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch;
}

const struct conf_directive *conf_directives(size_t *n)
{
	*n = NDIRECTIVES;
	return directives;
}

static const struct conf_directive *directive_find(const char *name)
{
	size_t i;

	for (i = 0; i < NDIRECTIVES; i++)
		if (strcmp(directives[i].name, name) == 0)
			return &directives[i];
	return NULL;
}

/* Levenshtein distance, case-insensitive; large for long words. */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int row[33], prev, tmp, best;

	if (la > 32 || lb > 32)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = (int)i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			best = prev + (lower((unsigned char)a[i - 1]) !=
			    lower((unsigned char)b[j - 1]));
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* The directive name closest to word, if within distance 2. */
static const char *directive_suggest(const char *word)
{
	const char *best = NULL;
	int d, bestd = 3;
	size_t i;

	for (i = 0; i < NDIRECTIVES; i++) {
		d = edit_distance(word, directives[i].name);
		if (d < bestd) {
			bestd = d;
			best = directives[i].name;
		}
	}
	return best;
}

int conf_parse_duration(const char *s, uint32_t *ms)
{
	uint64_t v = 0, mult;

	if (!is_digit((unsigned char)*s))
		return -1;
	for (; is_digit((unsigned char)*s); s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (*s == '\0' || strcmp(s, "s") == 0)
		mult = MS_S;
	else if (strcmp(s, "ms") == 0)
		mult = 1;
	else if (strcmp(s, "m") == 0)
		mult = MS_M;
	else if (strcmp(s, "h") == 0)
		mult = MS_H;
	else
		return -1;
	v *= mult;
	if (v > UINT32_MAX)
		return -1;
	*ms = (uint32_t)v;
	return 0;
}

/* ms in the largest unit that divides it: "24h", "5m", "1ms". */
static const char *fmt_duration(uint32_t ms, char *buf, size_t len)
{
	if (ms != 0 && ms % MS_H == 0)
		snprintf(buf, len, "%uh", ms / MS_H);
	else if (ms != 0 && ms % MS_M == 0)
		snprintf(buf, len, "%um", ms / MS_M);
	else if (ms != 0 && ms % MS_S == 0)
		snprintf(buf, len, "%us", ms / MS_S);
	else
		snprintf(buf, len, "%ums", ms);
	return buf;
}

const char *conf_bounds_text(const struct conf_directive *d, char *buf, size_t len)
{
	char lo[32], hi[32];

	if (d->min == 0 && d->max == 0)
		snprintf(buf, len, "%s", "");
	else if (d->set == set_duration)
		snprintf(buf, len, "%s..%s", fmt_duration(d->min, lo, sizeof(lo)),
		    fmt_duration(d->max, hi, sizeof(hi)));
	else
		snprintf(buf, len, "%u..%u", d->min, d->max);
	return buf;
}

/* Digits only, into *v; 0 ok, -1 bad or above UINT32_MAX. */
static int parse_u32(const char *s, uint32_t *v)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!is_digit((unsigned char)*s))
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
		if (n > UINT32_MAX)
			return -1;
	}
	*v = (uint32_t)n;
	return 0;
}

/* The listener block being filled (listener rows only). */
static struct listener_conf *block(struct conf_parse *p)
{
	return &p->c->listeners[p->c->priv->cur - 1];
}

/* Where the value at off of d's scope is: in the conf or in the block. */
static void *field(struct conf_parse *p, const struct conf_directive *d, size_t off)
{
	return (d->scope == CONF_LISTENER ? (char *)block(p) : (char *)p->c) + off;
}

/* Store v (word, as written) at d's offset if within d's bounds. */
static int set_u32(struct conf_parse *p, const struct conf_directive *d, const char *word,
    uint32_t v)
{
	char b[64];

	if (v < d->min || v > d->max) {
		perr(p, "%s is out of range (%s)", word, conf_bounds_text(d, b, sizeof(b)));
		return -1;
	}
	*(uint32_t *)field(p, d, d->off) = v;
	return 0;
}

/*
 * DURATION, in ms, with the row saying the rest: "off" (stored as 0) where
 * its synopsis offers it, 0 itself only where its bounds start at 0 (a wait,
 * not a phase's deadline).
 */
static int set_duration(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	int off = strstr(d->args, "|off") != NULL;
	char b[64];
	uint32_t v;

	(void)ac;
	if (off && strcmp(av[0], "off") == 0) {
		*(uint32_t *)field(p, d, d->off) = 0;
		return 0;
	}
	if (conf_parse_duration(av[0], &v) == -1) {
		perr(p, "bad duration \"%s\" (want e.g. %s500ms, 3s, 10m%s)", av[0],
		    d->min == 0 ? "0, " : "", d->min == 0 ? "" : ", 1h");
		return -1;
	}
	if (v == 0 && d->min > 0) {
		perr(p, "%s is not allowed%s (%s%s)", av[0],
		    off ? "" : ": every phase needs a deadline",
		    conf_bounds_text(d, b, sizeof(b)), off ? ", or off" : "");
		return -1;
	}
	return set_u32(p, d, av[0], v);
}

/* IDLE[,INTVL[,COUNT]] or off, whole seconds, into a struct conf_keepalive. */
static int set_keepalive(struct conf_parse *p, const struct conf_directive *d, char **av,
    int ac)
{
	struct conf_keepalive *ka = field(p, d, d->off), v = { 0, 0, 0 };
	char *part[3], *s = av[0];
	uint32_t ms[2];
	int n = 0, i;

	(void)ac;
	if (strcmp(av[0], "off") == 0) {
		*ka = v;
		return 0;
	}
	while (n < 3 && s != NULL) {
		part[n++] = s;
		if ((s = strchr(s, ',')) != NULL)
			*s++ = '\0';
	}
	if (s != NULL) {
		perr(p, "too many values after \"%.300s\" (want IDLE[,INTVL[,COUNT]] or off)",
		    part[2]);
		return -1;
	}
	for (i = 0; i < n && i < 2; i++)
		if (conf_parse_duration(part[i], &ms[i]) == -1 || ms[i] == 0 ||
		    ms[i] % MS_S != 0 || ms[i] > 24 * MS_H) {
			perr(p, "bad %s \"%.300s\" (want whole seconds, 1s..24h, or off)",
			    i == 0 ? "idle time" : "interval", part[i]);
			return -1;
		}
	if (n == 3 && (parse_u32(part[2], &v.count) == -1 || v.count < 1 || v.count > 127)) {
		perr(p, "bad probe count \"%.300s\" (want 1..127)", part[2]);
		return -1;
	}
	v.idle_s = ms[0] / MS_S;
	v.intvl_s = n >= 2 ? ms[1] / MS_S : 0;
	*ka = v;
	return 0;
}

/* BYTES: a plain number. */
static int set_bytes(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	uint32_t v;

	(void)ac;
	if (parse_u32(av[0], &v) == -1) {
		perr(p, "bad size \"%s\" (want a number of bytes)", av[0]);
		return -1;
	}
	return set_u32(p, d, av[0], v);
}

/* N, or "auto" (stored as 0) where that is the default. */
static int set_count(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	uint32_t v;

	(void)ac;
	if (d->def != NULL && strcmp(d->def, "auto") == 0 && strcmp(av[0], "auto") == 0) {
		*(uint32_t *)field(p, d, d->off) = 0;
		return 0;
	}
	if (parse_u32(av[0], &v) == -1) {
		perr(p, "bad number \"%s\"", av[0]);
		return -1;
	}
	return set_u32(p, d, av[0], v);
}

/* A word, copied. */
static int set_string(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	char *s, **sp = field(p, d, d->off);

	(void)ac;
	if ((s = strdup(av[0])) == NULL) {
		perr(p, "out of memory");
		return -1;
	}
	free(*sp);
	*sp = s;
	return 0;
}

/* on or off, stored as 1 or 0. */
static int set_switch(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	(void)ac;
	if (strcmp(av[0], "on") != 0 && strcmp(av[0], "off") != 0) {
		perr(p, "bad value \"%s\" (want on or off)", av[0]);
		return -1;
	}
	*(uint32_t *)field(p, d, d->off) = strcmp(av[0], "on") == 0;
	return 0;
}

/* Resolve a user (user) or group name into *id; 0, or -1 after perr(). */
static int account_set(struct conf_parse *p, int user, struct conf_id *id, const char *name)
{
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	char *buf = NULL, *nbuf, *s;
	size_t len;
	int rc = ERANGE;

	/* no_resolve (the fuzzer; a reload under seccomp, where the name
	 * service's sockets are forbidden): keep the name, look nothing up. */
	if (p->c->no_resolve)
		rc = 0;
	/* A group with many members needs a large buffer: grow it on ERANGE. */
	for (len = 4096; rc == ERANGE && len <= (1u << 20); len *= 4) {
		if ((nbuf = realloc(buf, len)) == NULL) {
			rc = ENOMEM;
			break;
		}
		buf = nbuf;
		if (user)
			rc = getpwnam_r(name, &pw, buf, len, &pwp);
		else
			rc = getgrnam_r(name, &gr, buf, len, &grp);
	}
	if (rc != 0) {
		perr(p, "cannot look up \"%.300s\": %s", name, strerror(rc));
		goto fail;
	}
	if (pwp == NULL && grp == NULL && !p->c->no_resolve) {
		perr(p, "no such %s \"%.300s\"", user ? "user" : "group", name);
		goto fail;
	}
	if ((s = strdup(name)) == NULL) {
		perr(p, "out of memory");
		goto fail;
	}
	free(id->name);
	id->name = s;
	id->id = pwp != NULL ? (uint32_t)pwp->pw_uid : grp != NULL ? (uint32_t)grp->gr_gid : 0;
	id->gid = pwp != NULL ? (uint32_t)pwp->pw_gid : grp != NULL ? (uint32_t)grp->gr_gid : 0;
	free(buf);
	buf = NULL;
	return 0;
fail:
	free(buf);
	buf = NULL;
	return -1;
}

static int set_user(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	(void)ac;
	return account_set(p, 1, field(p, d, d->off), av[0]);
}

static int set_group(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	(void)ac;
	return account_set(p, 0, field(p, d, d->off), av[0]);
}

/* One listen (or metrics) address, numeric, into ss; 0, or -1 after perr(). */
static int parse_listen_addr(struct conf_parse *p, const char *word, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	int rc = strlen(word) < CONF_ADDRNAME_MAX ? addr_parse(word, ss, sslen) : ADDR_ESHAPE;

	if (rc == ADDR_EPORT)
		perr(p, "bad port in \"%s\" (want 0..65535)", word);
	else if (rc != ADDR_OK)
		perr(p, "bad address \"%.80s\" (want a.b.c.d:PORT or [IPv6]:PORT)", word);
	return rc == ADDR_OK ? 0 : -1;
}

/* metrics ADDR:PORT|off. */
static int set_metrics(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	struct conf *c = p->c;

	(void)d;
	(void)ac;
	if (strcmp(av[0], "off") == 0) {
		c->metrics_addrlen = 0;
		c->metrics_name[0] = '\0';
		return 0;
	}
	if (parse_listen_addr(p, av[0], &c->metrics_addr, &c->metrics_addrlen) == -1) {
		c->metrics_addrlen = 0;
		return -1;
	}
	snprintf(c->metrics_name, sizeof(c->metrics_name), "%s", av[0]);
	return 0;
}

/* resolve-prefer any|ipv4|ipv6. */
static int set_prefer(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	static const enum addr_prefer all[] = { PREFER_ANY, PREFER_IPV4, PREFER_IPV6 };
	size_t i;

	(void)ac;
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(av[0], addrset_prefer_name(all[i])) == 0) {
			*(uint32_t *)field(p, d, d->off) = (uint32_t)all[i];
			return 0;
		}
	perr(p, "bad value \"%.300s\" (want any, ipv4 or ipv6)", av[0]);
	return -1;
}

/* access-log-format logfmt|json. */
static int set_log_format(struct conf_parse *p, const struct conf_directive *d, char **av,
    int ac)
{
	static const char *const names[] = { [ACCESS_LOGFMT] = "logfmt", [ACCESS_JSON] = "json" };
	size_t i;

	(void)ac;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(av[0], names[i]) == 0) {
			*(uint32_t *)field(p, d, d->off) = (uint32_t)i;
			return 0;
		}
	perr(p, "bad value \"%.300s\" (want logfmt or json)", av[0]);
	return -1;
}

/* resolvers ADDR[:PORT]...: numeric, into c-ares' "ADDR:PORT,[IPv6]:PORT"
 * (a bare address gets port 53). */
static int set_resolvers(struct conf_parse *p, const struct conf_directive *d, char **av,
    int ac)
{
	char buf[8 * (ADDR_STRLEN + 1)], one[ADDR_STRLEN];
	struct sockaddr_storage ss;
	size_t at = 0;
	int i, rc = 0;

	for (i = 0; i < ac; i++) {
		if (strlen(av[i]) >= ADDR_TEXT_MAX ||
		    (addr_parse(av[i], &ss, NULL) != ADDR_OK &&
		    addr_ip_parse(AF_UNSPEC, av[i], strlen(av[i]), &ss, NULL) == -1)) {
			perr(p, "bad name server \"%.80s\" (want a.b.c.d[:PORT], IPv6 or [IPv6]:PORT)",
			    av[i]);
			rc = -1;
			continue;
		}
		if (addr_port(&ss) == 0)
			addr_set_port(&ss, 53);
		at += (size_t)snprintf(buf + at, sizeof(buf) - at, "%s%s", at ? "," : "",
		    sockaddr_str(&ss, one, sizeof(one)));
	}
	if (rc == -1)
		return -1;
	av[0] = buf;
	return set_string(p, d, av, 1);
}

/* Remember that be, just made, is a name for conf_finish() to resolve. */
static int name_defer(struct conf_parse *p, struct backend *be)
{
	struct conf_priv *pv = p->c->priv;
	struct conf_name *ns;

	if ((ns = grow(pv->names, pv->nnames, sizeof(*ns))) == NULL)
		return -1;
	pv->names = ns;
	ns[pv->nnames++] = (struct conf_name){ be, p->file, p->line, p->d ? p->d->name : "" };
	return 0;
}

/* The backend written as word, shared if seen before; NULL after an error. */
static struct backend *backend_get(struct conf_parse *p, const char *word)
{
	struct conf *c = p->c;
	struct backend *be, **bes;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *why = "", *colon = strrchr(word, ':');
	int hostlen = colon != NULL ? (int)(colon - word) : 0;	/* a name's */
	int rc, named;
	size_t i;

	for (i = 0; i < c->nbackends; i++)
		if (strcmp(c->backends[i]->name, word) == 0)
			return c->backends[i];
	if (strlen(word) >= sizeof(be->name)) {
		perr(p, "backend \"%.64s...\" is too long", word);
		return NULL;
	}
	/* A name is resolved here (getaddrinfo(), the first address) or, with
	 * c->resolve set, by conf_finish(), every address, through c-ares. */
	rc = addr_resolve(word, 1, &ss, &sslen, &why);
	named = rc == ADDR_EOFF && (c->resolve != NULL || !c->no_resolve);
	if (named)
		rc = c->resolve != NULL ? ADDR_OK : addr_resolve(word, 0, &ss, &sslen, &why);
	switch (rc) {
	case ADDR_OK:
		break;
	case ADDR_EPORT:
		perr(p, "bad port in \"%s\" (want 1..65535)", word);
		return NULL;
	case ADDR_EHOST:
		perr(p, "bad host name in \"%s\"", word);
		return NULL;
	case ADDR_ENUMERIC:
		perr(p, "bad %s address in \"%s\"", word[0] == '[' ? "IPv6" : "IPv4", word);
		return NULL;
	case ADDR_EOFF:
		perr(p, "cannot resolve \"%.*s\": name resolution is off", hostlen, word);
		return NULL;
	case ADDR_ERESOLVE:
		perr(p, "cannot resolve \"%.*s\": %s", hostlen, word, why);
		return NULL;
	default:
		perr(p, "bad backend \"%s\" (want HOST:PORT, HOST a name, a.b.c.d or [IPv6])",
		    word);
		return NULL;
	}
	if ((be = calloc(1, sizeof(*be))) == NULL ||
	    (named && (be->dns = calloc(1, sizeof(*be->dns))) == NULL) ||
	    (bes = grow(c->backends, c->nbackends, sizeof(*bes))) == NULL) {
		if (be != NULL)
			free(be->dns);
		free(be);
		perr(p, "out of memory");
		return NULL;
	}
	c->backends = bes;
	if (named && c->resolve != NULL && name_defer(p, be) == -1) {
		free(be->dns);
		free(be);
		perr(p, "out of memory");
		return NULL;
	}
	be->addr = ss;
	be->addrlen = sslen;
	if (named && c->resolve == NULL)
		addrset_publish(be->dns, &ss, 1);
	strcpy(be->name, word);
	be->index = c->nbackends;
	c->backends[c->nbackends++] = be;
	return be;
}

/*
 * Normalise and check a route name into out[CONF_NAME_MAX + 1]: lower case,
 * one trailing dot dropped, LDH/underscore labels, "*." only in front.
 * NULL ok, else why it is bad.
 */
static const char *route_name(const char *in, char *out)
{
	size_t len = strlen(in), i, last;
	const char *s;
	int alldigits;

	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0)
		return "empty name";
	if (len > CONF_NAME_MAX)
		return "longer than 253 characters";
	for (i = 0; i < len; i++)
		out[i] = (char)lower((unsigned char)in[i]);
	out[len] = '\0';
	if (strcmp(out, "*") == 0)
		return "'*' alone matches everything: use 'default' instead";
	s = strncmp(out, "*.", 2) == 0 ? out + 2 : out;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '*')
			return "'*' is only allowed as the whole first label, as in \"*.example.com\"";
		if (!addr_name_char((unsigned char)s[i]))
			return "only letters, digits, '-', '_' and '.' are allowed";
	}
	if (s[0] == '\0' || s[0] == '.' || strstr(s, "..") != NULL || s[strlen(s) - 1] == '.')
		return "empty label";
	last = 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '.')
			last = i + 1;
		else if (i - last >= 63)
			return "a label is longer than 63 characters";
	}
	alldigits = 1;
	for (i = last; s[i] != '\0'; i++)
		if (!is_digit((unsigned char)s[i]))
			alldigits = 0;
	if (alldigits)
		return "numeric last label: an IP address never comes as SNI";
	return NULL;
}

static int run_directive(struct conf_parse *p, const struct conf_directive *d, char **av,
    int ac);

/* A new listener block with the rows' listener defaults; NULL after an error. */
static struct listener_conf *listener_add(struct conf_parse *p)
{
	struct conf *c = p->c;
	struct listener_conf *ls;
	const struct conf_directive *d, *saved = p->d;
	char buf[300], *av[1];
	size_t i;

	if ((ls = grow(c->listeners, c->nlisteners, sizeof(*ls))) == NULL) {
		perr(p, "out of memory");
		return NULL;
	}
	c->listeners = ls;
	memset(&c->listeners[c->nlisteners++], 0, sizeof(*ls));
	c->priv->cur = c->nlisteners;
	for (i = 0; i < NDIRECTIVES; i++) {
		d = &directives[i];
		if (d->scope != CONF_LISTENER || d->opens || d->def == NULL)
			continue;
		snprintf(buf, sizeof(buf), "%s", d->def);
		av[0] = buf;
		run_directive(p, d, av, 1);
	}
	p->d = saved;
	return block(p);
}

static void listener_clear(struct listener_conf *l)
{
	size_t i;

	for (i = 0; i < l->nroutes; i++) {
		free(l->routes[i].name);
		free(l->routes[i].alpn);
		pool_free(l->routes[i].pool);
		free(l->routes[i].source);
		acl_clear(&l->routes[i].acl);
	}
	free(l->routes);
	l->routes = NULL;
	l->nroutes = 0;
	free(l->accept_proxy);
	l->accept_proxy = NULL;
	l->naccept_proxy = 0;
	acl_clear(&l->acl);
	route_table_free(l->table);
	l->table = NULL;
}

static void listeners_free(struct conf *c)
{
	size_t i;

	for (i = 0; i < c->nlisteners; i++)
		listener_clear(&c->listeners[i]);
	free(c->listeners);
	c->listeners = NULL;
	c->nlisteners = 0;
	c->priv->cur = 0;
}

/* listen ADDR:PORT...: a new block, even when an address is bad. */
static int set_listen(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	struct listener_conf *l;
	int i, rc = 0;

	(void)d;
	if ((l = listener_add(p)) == NULL)
		return -1;
	for (i = 0; i < ac; i++) {
		if (parse_listen_addr(p, av[i], &l->addr[l->naddr], &l->addrlen[l->naddr]) == -1) {
			rc = -1;
			continue;
		}
		snprintf(l->addrname[l->naddr], sizeof(l->addrname[0]), "%s", av[i]);
		l->naddr++;
	}
	return rc;
}

/* listen-quic ADDR:PORT...: into the block of the listen line just before,
 * else a new block, even when an address is bad. */
static int set_listen_quic(struct conf_parse *p, const struct conf_directive *d, char **av,
    int ac)
{
	struct listener_conf *l;
	int i, rc = 0;

	(void)d;
	if (p->c->priv->cur != 0 && p->c->priv->after_listen)
		l = block(p);
	else if ((l = listener_add(p)) == NULL)
		return -1;
	for (i = 0; i < ac; i++) {
		if (parse_listen_addr(p, av[i], &l->qaddr[l->nqaddr], &l->qaddrlen[l->nqaddr]) == -1) {
			rc = -1;
			continue;
		}
		snprintf(l->qaddrname[l->nqaddr], sizeof(l->qaddrname[0]), "%s", av[i]);
		l->nqaddr++;
	}
	return rc;
}

/* A server's /OPT...: weight=N and backup into pool entry i; 0, or -1 after
 * perr(). opts is the text after the server's first '/', word the server. */
static int server_opts(struct conf_parse *p, struct pool *pool, size_t i, char *opts,
    const char *word)
{
	char *opt, *next;
	uint32_t w;
	int weighted = 0;

	pool->weight[i] = 1;
	for (opt = opts; opt != NULL; opt = next) {
		if ((next = strchr(opt, '/')) != NULL)
			*next++ = '\0';
		if (strcmp(opt, "backup") == 0) {
			if (pool->backup & (1u << i)) {
				perr(p, "backup given twice for server \"%.300s\"", word);
				return -1;
			}
			pool->backup |= 1u << i;
		} else if (strncmp(opt, "weight=", 7) == 0) {
			if (weighted++) {
				perr(p, "weight= given twice for server \"%.300s\"", word);
				return -1;
			}
			if (parse_u32(opt + 7, &w) == -1 || w < 1 || w > POOL_WEIGHT_MAX) {
				perr(p, "bad weight \"%.300s\" for server \"%.300s\" (want weight=1..%d)",
				    opt + 7, word, POOL_WEIGHT_MAX);
				return -1;
			}
			pool->weight[i] = (uint16_t)w;
		} else {
			perr(p, "unknown server option \"%.300s\" for server \"%.300s\" (want weight=N or backup)",
			    opt, word);
			return -1;
		}
	}
	return 0;
}

/* source=ADDR[,ADDR...]|off of a route, or the global source: into *out;
 * 0, or -1 after perr(). */
static int source_set_parse(struct conf_parse *p, const char *list, struct source_set *out)
{
	const char *why;
	char bad[64];

	if (source_parse(list, out, &why, bad, sizeof(bad)) == 0)
		return 0;
	perr(p, "%s \"%s\" (want a.b.c.d or an IPv6 address, no port, comma-separated, or off)",
	    why, bad);
	return -1;
}

/* source ADDR[,ADDR...]|off. */
static int set_source(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	(void)ac;
	return source_set_parse(p, av[0], field(p, d, d->off));
}

/* A route's allow=NET[,NET...] and deny=NET[,NET...] options among
 * av[0..ac), in the order written, into *out; 0, or -1 after perr(). */
static int route_acl(struct conf_parse *p, char **av, int ac, struct acl *out)
{
	char net[ADDR_TEXT_MAX];
	const char *list, *end;
	int i, allow, e;
	size_t len;

	for (i = 0; i < ac; i++) {
		allow = strncmp(av[i], "allow=", 6) == 0;
		if (!allow && strncmp(av[i], "deny=", 5) != 0)
			continue;
		for (list = av[i] + (allow ? 6 : 5);; list = end + 1) {
			end = strchrnul(list, ',');
			len = (size_t)(end - list);
			snprintf(net, sizeof(net), "%.*s", (int)(len < sizeof(net) ? len : 0), list);
			if ((e = acl_add(out, net, allow)) == ACL_ENOMEM) {
				perr(p, "out of memory");
				return -1;
			}
			if (e == ACL_EBAD) {
				perr(p, "bad network \"%.*s\" in %s= (want a.b.c.d[/N] or IPv6[/N])",
				    (int)(len < 300 ? len : 300), list, allow ? "allow" : "deny");
				return -1;
			}
			if (*end == '\0')
				break;
		}
	}
	return 0;
}

/* route NAME HOST:PORT[/OPT...][,HOST:PORT[/OPT...]...] [OPTION...]. */
static int set_route(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	struct listener_conf *l = block(p);
	char name[CONF_NAME_MAX + 1];
	const char *why, *alpn = NULL, *s, *source = NULL;
	struct backend *srv[POOL_MAX];
	struct route *r, *rs;
	struct pool *pool = NULL;
	struct source_set *ss = NULL;
	struct acl acl = { NULL, 0 };
	size_t i, nsrv = 0;
	uint32_t lifetime = 0;
	int proxy = 0, balance = -1, lifetime_set = 0;
	enum be_check check = BC_NONE;
	char *list, *word, *next, *opts;

	(void)d;
	if ((why = route_name(av[0], name)) != NULL) {
		perr(p, "bad name \"%.300s\": %s", av[0], why);
		return -1;
	}
	for (i = 2; i < (size_t)ac; i++) {
		if (strncmp(av[i], "balance=", 8) == 0) {
			if (balance != -1) {
				perr(p, "balance= given twice");
				return -1;
			}
			if (strcmp(av[i] + 8, "rr") == 0)
				balance = BAL_RR;
			else if (strcmp(av[i] + 8, "leastconn") == 0)
				balance = BAL_LEASTCONN;
			else if (strcmp(av[i] + 8, "source") == 0)
				balance = BAL_SOURCE;
			else {
				perr(p, "bad balance \"%.300s\" (want balance=rr, balance=leastconn or balance=source)",
				    av[i] + 8);
				return -1;
			}
			continue;
		}
		if (strncmp(av[i], "proxy=", 6) == 0) {
			if (proxy != 0) {
				perr(p, "proxy= given twice");
				return -1;
			}
			if (strcmp(av[i] + 6, "v1") == 0)
				proxy = 1;
			else if (strcmp(av[i] + 6, "v2") == 0)
				proxy = 2;
			else {
				perr(p, "bad PROXY protocol version \"%.300s\" (want proxy=v1 or proxy=v2)",
				    av[i] + 6);
				return -1;
			}
			continue;
		}
		if (strncmp(av[i], "source=", 7) == 0) {
			if (source != NULL) {
				perr(p, "source= given twice");
				return -1;
			}
			source = av[i] + 7;
			continue;
		}
		if (strncmp(av[i], "check=", 6) == 0) {
			if (check != BC_NONE) {
				perr(p, "check= given twice");
				return -1;
			}
			if ((check = backend_check_kind(av[i] + 6)) == BC_NONE) {
				perr(p, "bad check \"%.300s\" (want check=tcp or check=tls)", av[i] + 6);
				return -1;
			}
			continue;
		}
		if (strncmp(av[i], "allow=", 6) == 0 || strncmp(av[i], "deny=", 5) == 0)
			continue;	/* route_acl(), in order */
		if (strncmp(av[i], "max-lifetime=", 13) == 0) {
			if (lifetime_set++) {
				perr(p, "max-lifetime= given twice");
				return -1;
			}
			if (strcmp(av[i] + 13, "off") != 0 &&
			    (conf_parse_duration(av[i] + 13, &lifetime) == -1 || lifetime == 0 ||
			    lifetime > 30 * 24 * MS_H)) {
				perr(p, "bad max-lifetime \"%.300s\" (want max-lifetime=DURATION, 1ms..720h, or off)",
				    av[i] + 13);
				return -1;
			}
			continue;
		}
		if (strncmp(av[i], "alpn=", 5) != 0) {
			perr(p, "bad option \"%.300s\" (want balance=rr|leastconn|source, alpn=PROTO, proxy=v1|v2, source=ADDR[,ADDR...], check=tcp|tls, allow=NET[,NET...], deny=NET[,NET...] or max-lifetime=DURATION|off)",
			    av[i]);
			return -1;
		}
		if (alpn != NULL) {
			perr(p, "alpn= given twice");
			return -1;
		}
		alpn = av[i] + 5;
		for (s = alpn; *s != '\0'; s++)
			if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
				break;
		if (*alpn == '\0' || *s != '\0' || strlen(alpn) > CONF_ALPN_MAX) {
			perr(p, "bad ALPN protocol \"%.300s\" (1..255 printable characters)", alpn);
			return -1;
		}
	}
	if (proxy == 1 && l->nqaddr > 0) {	/* listen-quic comes before the routes */
		perr(p, "proxy=v1 on a route of a listen-quic block: PROXY v1 has no UDP (want proxy=v2)");
		return -1;
	}
	for (i = 0; i < l->nroutes; i++) {
		r = &l->routes[i];
		if (strcmp(r->name, name) != 0)
			continue;
		if ((r->alpn == NULL) != (alpn == NULL) ||
		    (alpn != NULL && strcmp(r->alpn, alpn) != 0))
			continue;
		if (r->line > 0)
			perr(p, "duplicate route \"%s\"%s%s (first at %s:%d)", name,
			    alpn ? " alpn=" : "", alpn ? alpn : "", r->file, r->line);
		else
			perr(p, "duplicate route \"%s\"%s%s (first at %s)", name,
			    alpn ? " alpn=" : "", alpn ? alpn : "", r->file);
		return -1;
	}
	if (route_acl(p, av + 2, ac - 2, &acl) == -1)
		goto fail;
	if (source != NULL) {
		if ((ss = malloc(sizeof(*ss))) == NULL)
			goto oom;
		if (source_set_parse(p, source, ss) == -1)
			goto fail;
	}
	if ((pool = calloc(1, sizeof(*pool))) == NULL)
		goto oom;
	/* HOST:PORT[/OPT...][,...]: each server once, up to POOL_MAX. */
	for (list = av[1]; list != NULL; list = next) {
		if ((next = strchr(list, ',')) != NULL)
			*next++ = '\0';
		word = list;
		if (nsrv == POOL_MAX) {
			perr(p, "more than %d servers in one route", POOL_MAX);
			goto fail;
		}
		if ((opts = strchr(word, '/')) != NULL) {
			*opts++ = '\0';
			if (server_opts(p, pool, nsrv, opts, word) == -1)
				goto fail;
		} else
			pool->weight[nsrv] = 1;
		if ((srv[nsrv] = backend_get(p, word)) == NULL)
			goto fail;
		for (i = 0; i < nsrv; i++)
			if (srv[i] == srv[nsrv]) {
				perr(p, "server \"%.300s\" given twice", word);
				goto fail;
			}
		nsrv++;
	}
	if (pool->backup == (nsrv >= 32 ? 0xffffffffu : (1u << nsrv) - 1)) {
		perr(p, "no primary server: every server is a backup");
		goto fail;
	}
	if ((pool->srv = calloc(nsrv, sizeof(pool->srv[0]))) == NULL)
		goto oom;
	memcpy(pool->srv, srv, nsrv * sizeof(srv[0]));
	pool->n = (uint32_t)nsrv;
	pool->balance = balance == -1 ? BAL_RR : (enum balance)balance;
	if (pool_build(pool) == -1 ||
	    (rs = grow(l->routes, l->nroutes, sizeof(*rs))) == NULL)
		goto oom;
	l->routes = rs;
	r = &l->routes[l->nroutes];
	memset(r, 0, sizeof(*r));
	if ((r->name = strdup(name)) == NULL)
		goto oom;
	if (alpn != NULL && (r->alpn = strdup(alpn)) == NULL) {
		free(r->name);
		r->name = NULL;
		goto oom;
	}
	r->be = srv[0];
	r->pool = pool;
	pool = NULL;
	r->source = ss;
	ss = NULL;
	r->proxy = proxy;
	r->acl = acl;
	r->max_lifetime_ms = lifetime;
	r->lifetime_set = lifetime_set;
	for (i = 0; i < nsrv; i++)
		backend_want_check(srv[i], check, r->name);
	r->file = p->file ? p->file : "command line";
	r->line = p->line;
	l->nroutes++;
	return 0;
oom:
	perr(p, "out of memory");
fail:
	pool_free(pool);
	pool = NULL;
	free(ss);
	ss = NULL;
	acl_clear(&acl);
	return -1;
}

/* accept-proxy NET...: added to the listener's trusted networks. */
static int set_nets(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	struct listener_conf *l = block(p);
	struct addr_net n, *ns;
	int i, rc = 0;

	(void)d;
	for (i = 0; i < ac; i++) {
		if (addr_net_parse(av[i], &n) == -1) {
			perr(p, "bad network \"%.300s\" (want a.b.c.d[/N] or IPv6[/N])", av[i]);
			rc = -1;
			continue;
		}
		if (l->naccept_proxy >= CONF_NETS_MAX) {
			perr(p, "more than %d networks in one listener", CONF_NETS_MAX);
			return -1;
		}
		if ((ns = grow(l->accept_proxy, l->naccept_proxy, sizeof(*ns))) == NULL) {
			perr(p, "out of memory");
			return -1;
		}
		l->accept_proxy = ns;
		l->accept_proxy[l->naccept_proxy++] = n;
	}
	return rc;
}

/* allow NET..., deny NET...: appended to the listener's rules, before its
 * routes. */
static int set_acl(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	struct listener_conf *l = block(p);
	int i, rc = 0, e;

	if (l->nroutes > 0) {
		perr(p, "after the block's routes: put allow and deny before them (a route's own rules are its allow= and deny= options)");
		return -1;
	}
	for (i = 0; i < ac; i++) {
		if (l->acl.n >= CONF_NETS_MAX) {
			perr(p, "more than %d allow and deny networks in one listener",
			    CONF_NETS_MAX);
			return -1;
		}
		if ((e = acl_add(&l->acl, av[i], strcmp(d->name, "allow") == 0)) == ACL_ENOMEM) {
			perr(p, "out of memory");
			return -1;
		}
		if (e == ACL_EBAD) {
			perr(p, "bad network \"%.300s\" (want a.b.c.d[/N] or IPv6[/N])", av[i]);
			rc = -1;
		}
	}
	return rc;
}

/* default, on-*: HOST:PORT or reject, into the action at off (and off2). */
static int set_action(struct conf_parse *p, const struct conf_directive *d, char **av, int ac)
{
	struct backend *be = NULL;

	(void)ac;
	if (strcmp(av[0], "reject") != 0 && (be = backend_get(p, av[0])) == NULL)
		return -1;
	((struct action *)field(p, d, d->off))->be = be;
	if (d->off2 != 0)
		((struct action *)field(p, d, d->off2))->be = be;
	return 0;
}

/* Intern a file name so routes can point at it for as long as c lives. */
static const char *file_intern(struct conf *c, const char *name)
{
	struct conf_priv *pv = c->priv;
	char **fs, *s;

	if ((s = strdup(name)) == NULL)
		return NULL;
	if ((fs = grow(pv->files, pv->nfiles, sizeof(*fs))) == NULL) {
		free(s);
		return NULL;
	}
	pv->files = fs;
	pv->files[pv->nfiles++] = s;
	return s;
}

/*
 * Apply directive d with the words av[0..ac): the count checked against the
 * row, then its setter. The scope has been checked.
 */
static int run_directive(struct conf_parse *p, const struct conf_directive *d, char **av,
    int ac)
{
	p->d = d;
	if (!d->opens)	/* listen-quic joins a block only right after its listen */
		p->c->priv->after_listen = 0;
	if (ac >= d->minargs && ac <= d->maxargs) {
		int rc = d->set(p, d, av, ac);

		if (d->opens)
			p->c->priv->after_listen = d->set == set_listen;
		return rc;
	}
	p->c->priv->after_listen = 0;
	if (d->many != NULL && ac > d->maxargs)
		perr(p, "%d %s: at most %d", ac, d->many, d->maxargs);
	else if (p->file == NULL && d->split != NULL)
		perr(p, "wrong number of arguments (usage: --%s %s)", d->name, conf_flag_args(d));
	else
		perr(p, "wrong number of arguments: %d (usage: %s%s %s)", ac,
		    p->file ? "" : "--", d->name, d->args);
	/* Still open the block, so its lines are not "outside" one. */
	if (d->opens)
		listener_add(p);
	return -1;
}

const char *conf_flag_args(const struct conf_directive *d)
{
	return d->flag_args != NULL ? d->flag_args : d->args;
}

static int str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* *to = a copy of from (NULL too); 0, or -1 out of memory (*to kept). */
static int str_copy(char **to, const char *from)
{
	char *s = NULL;

	if (from != NULL && (s = strdup(from)) == NULL)
		return -1;
	free(*to);
	*to = s;
	return 0;
}

static int keep_u32(struct conf *c, const struct conf *old, const struct conf_directive *d)
{
	uint32_t *v = (uint32_t *)((char *)c + d->off);
	uint32_t was = *(const uint32_t *)((const char *)old + d->off);
	int differ = *v != was;

	*v = was;
	return differ;
}

static int keep_string(struct conf *c, const struct conf *old, const struct conf_directive *d)
{
	char **v = (char **)((char *)c + d->off);
	const char *was = *(char *const *)((const char *)old + d->off);

	if (!str_differ(*v, was))
		return 0;
	return str_copy(v, was) == -1 ? -1 : 1;
}

/* A user or group: told apart by name. */
static int keep_id(struct conf *c, const struct conf *old, const struct conf_directive *d)
{
	struct conf_id *v = (struct conf_id *)((char *)c + d->off);
	const struct conf_id *was = (const struct conf_id *)((const char *)old + d->off);

	if (!str_differ(v->name, was->name))
		return 0;
	if (str_copy(&v->name, was->name) == -1)
		return -1;
	v->id = was->id;
	v->gid = was->gid;
	return 1;
}

static int keep_metrics(struct conf *c, const struct conf *old, const struct conf_directive *d)
{
	int differ = c->metrics_addrlen != old->metrics_addrlen ||
	    (old->metrics_addrlen != 0 && !addr_same(&c->metrics_addr, &old->metrics_addr));

	(void)d;
	c->metrics_addr = old->metrics_addr;
	c->metrics_addrlen = old->metrics_addrlen;
	memcpy(c->metrics_name, old->metrics_name, sizeof(c->metrics_name));
	return differ;
}

int conf_keep(struct conf *c, const struct conf *old, const struct conf_directive *d)
{
	if (d->reload != CONF_RESTART || d->keep == NULL)
		return 0;
	return d->keep(c, old, d);
}

struct conf *conf_new(void)
{
	struct conf *c;
	struct conf_parse p;
	const struct conf_directive *d;
	char buf[64], *av[1];
	size_t i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->priv = calloc(1, sizeof(*c->priv))) == NULL) {
		free(c);
		return NULL;
	}
	c->refs = 1;
	memset(&p, 0, sizeof(p));
	p.c = c;
	p.errs = stderr;
	p.file = "(defaults)";
	for (i = 0; i < NDIRECTIVES; i++) {
		d = &directives[i];
		if (d->scope != CONF_GLOBAL || d->def == NULL)
			continue;
		snprintf(buf, sizeof(buf), "%s", d->def);
		av[0] = buf;
		if (run_directive(&p, d, av, 1) == -1)
			goto fail;
	}
	return c;
fail:
	conf_free(c);
	return NULL;
}

void conf_free(struct conf *c)
{
	size_t i;

	if (c == NULL)
		return;
	listeners_free(c);
	for (i = 0; i < c->nbackends; i++) {
		free(c->backends[i]->dns);
		free(c->backends[i]);
	}
	free(c->backends);
	free(c->priv->names);
	for (i = 0; i < c->priv->nfiles; i++)
		free(c->priv->files[i]);
	free(c->priv->files);
	free(c->priv);
	free(c->access_log);
	free(c->admin_socket);
	free(c->resolvers);
	free(c->user.name);
	free(c->group.name);
	free(c);
}

struct conf *conf_ref(struct conf *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

void conf_unref(struct conf *c)
{
	if (c != NULL && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
		conf_free(c);
}

/* Split s in place at blanks; '#' starts a comment. Returns the word count
 * (only the first max are stored in av). */
static int split_words(char *s, char **av, int max)
{
	int n = 0;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\r')
			s++;
		if (*s == '\0' || *s == '#')
			return n;
		if (n < max)
			av[n] = s;
		n++;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r' && *s != '#')
			s++;
		if (*s == '#') {
			*s = '\0';
			return n;
		}
		if (*s != '\0')
			*s++ = '\0';
	}
}

/*
 * Read one line (without its '\n') into buf[size]. Returns 0 at EOF, else 1
 * with *bad: 0 fine, 1 too long (the rest was skipped), 2 control byte *ch.
 */
static int read_line(FILE *in, char *buf, size_t size, int *bad, int *badch)
{
	size_t n = 0;
	int ch, got = 0;

	*bad = 0;
	while ((ch = getc_unlocked(in)) != EOF) {
		got = 1;
		if (ch == '\n')
			break;
		if (n + 1 >= size) {
			*bad = 1;
			continue;
		}
		if (((ch < 0x20 && ch != '\t' && ch != '\r') || ch == 0x7f) && *bad == 0) {
			*bad = 2;
			*badch = ch;
		}
		buf[n++] = (char)ch;
	}
	buf[n] = '\0';
	return got;
}

/* One line of a file. */
static void parse_line(struct conf_parse *p, char *buf)
{
	struct conf *c = p->c;
	char *av[CONF_WORDS_MAX];
	const struct conf_directive *d;
	const char *hint;
	int ac;

	p->d = NULL;
	ac = split_words(buf, av, CONF_WORDS_MAX);
	if (ac == 0)
		return;
	if ((d = directive_find(av[0])) == NULL) {
		if ((hint = directive_suggest(av[0])) != NULL)
			perr(p, "unknown directive \"%s\" (did you mean \"%s\"?)", av[0], hint);
		else
			perr(p, "unknown directive \"%s\"", av[0]);
		return;
	}
	if (d->scope == CONF_LISTENER && !d->opens && c->priv->cur == 0) {
		perr(p, "%s outside a listener block: put a 'listen' line first", d->name);
		return;
	}
	run_directive(p, d, av + 1, ac - 1);
}

int conf_load_stream(struct conf *c, FILE *in, const char *name, FILE *errs)
{
	char buf[CONF_LINE_MAX + 1];
	struct conf_parse p;
	int bad, badch = 0;

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.errs = errs;
	if ((p.file = file_intern(c, name)) == NULL) {
		if (errs != NULL)
			fprintf(errs, "%s: out of memory\n", name);
		return 1;
	}
	c->priv->cur = 0;
	while (read_line(in, buf, sizeof(buf), &bad, &badch)) {
		p.line++;
		p.d = NULL;
		if (bad == 1)
			perr(&p, "line too long (more than %d characters)", CONF_LINE_MAX);
		else if (bad == 2)
			perr(&p, "control character 0x%02x in line", badch);
		else
			parse_line(&p, buf);
	}
	if (ferror(in)) {
		p.nerr++;
		if (errs != NULL)
			fprintf(errs, "%s: read error: %s\n", name, strerror(errno));
	}
	c->priv->cur = 0;
	return p.nerr;
}

int conf_load_file(struct conf *c, const char *path, FILE *errs)
{
	FILE *in;
	int n;

	if ((in = fopen(path, "re")) == NULL) {
		if (errs != NULL)
			fprintf(errs, "%s: cannot open: %s\n", path, strerror(errno));
		return 1;
	}
	n = conf_load_stream(c, in, path, errs);
	fclose(in);
	return n;
}

/* Is the segment s[0..n) of a --route value an option (NAME=VALUE), not a
 * server (HOST:PORT[/OPT...], where an '=' comes only after the '/')? */
static int route_flag_option(const char *s, size_t n)
{
	size_t k = strcspn(s, "=/");

	return k < n && s[k] == '=';
}

/* "NAME=HOST:PORT[/OPT...][,...][,OPTION]..." into av[0..max) in buf; the
 * count (more than max: an argument-count error later), -1 bad. */
static int split_route_flag(char *buf, char **av, int max)
{
	char *eq, *comma, *end;
	int n = 2;

	if ((eq = strchr(buf, '=')) == NULL || eq == buf || eq[1] == '\0')
		return -1;
	*eq = '\0';
	av[0] = buf;
	av[1] = eq + 1;
	for (comma = strchr(av[1], ','); comma != NULL; comma = strchr(comma + 1, ',')) {
		/* Servers stay one comma-separated word until an option; after
		 * it, what is no option belongs to it (source=A,B). */
		end = strchrnul(comma + 1, ',');
		if (!route_flag_option(comma + 1, (size_t)(end - comma - 1)))
			continue;
		*comma = '\0';
		if (n < max)
			av[n] = comma + 1;
		n++;
	}
	return n;
}

int conf_apply_flag(struct conf *c, const char *name, const char *value, FILE *errs)
{
	struct conf_parse p;
	const struct conf_directive *d;
	const char *hint;
	char *buf = NULL, *av[8];
	int ac;

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.errs = errs;
	p.flag = name;
	if ((d = directive_find(name)) == NULL) {
		if ((hint = directive_suggest(name)) != NULL)
			perr(&p, "unknown flag (did you mean \"--%s\"?)", hint);
		else
			perr(&p, "unknown flag");
		return p.nerr;
	}
	p.d = d;
	if (value == NULL)
		value = "";
	if ((buf = strdup(value)) == NULL) {
		perr(&p, "out of memory");
		return p.nerr;
	}
	if (d->split != NULL) {
		if ((ac = d->split(buf, av, 8)) == -1) {
			perr(&p, "bad value \"%s\" (want %s)", value, conf_flag_args(d));
			goto done;
		}
		if (ac > 8)
			ac = 8;
	} else {
		ac = *buf != '\0';
		av[0] = buf;
	}
	if (d->opens) {
		if (!c->priv->flag_listen)
			listeners_free(c);	/* --listen replaces the file's listeners */
		c->priv->flag_listen = 1;
	} else if (d->scope == CONF_LISTENER && (!c->priv->flag_listen || c->priv->cur == 0)) {
		perr(&p, "needs a --listen before it");
		goto done;
	}
	run_directive(&p, d, av, ac);
done:
	free(buf);
	buf = NULL;
	return p.nerr;
}

/*
 * The backends given by name, through c->resolve: every address, filtered
 * and ordered by resolve-prefer, published into the backend's set; the
 * first is its addr. The number of errors, each as FILE:LINE: DIRECTIVE:.
 */
static int names_resolve(struct conf *c, FILE *errs)
{
	struct sockaddr_storage all[2 * ADDRSET_MAX], use[ADDRSET_MAX];
	char host[ADDR_TEXT_MAX];
	const struct conf_name *nm;
	const char *why, *colon;
	size_t i, k, got = 0, m;
	unsigned port;
	int n = 0;

	for (i = 0; i < c->priv->nnames; i++) {
		nm = &c->priv->names[i];
		colon = strrchr(nm->be->name, ':');
		snprintf(host, sizeof(host), "%.*s", (int)(colon - nm->be->name), nm->be->name);
		port = (unsigned)strtoul(colon + 1, NULL, 10);	/* checked by backend_get() */
		why = "no address";
		m = 0;
		if (c->resolve(c->resolve_arg, c, host, all, 2 * ADDRSET_MAX, &got, &why) == 0)
			m = addrset_prefer(all, got, (enum addr_prefer)c->resolve_prefer, use);
		if (m == 0) {
			n++;
			if (errs == NULL)
				continue;
			if (nm->file != NULL)
				fprintf(errs, "%s:%d: %s: ", nm->file, nm->line, nm->dname);
			else
				fprintf(errs, "--%s: ", nm->dname);
			fprintf(errs, "cannot resolve \"%s\": %s\n", host, why);
			continue;
		}
		for (k = 0; k < m; k++)
			addr_set_port(&use[k], port);
		nm->be->addr = use[0];
		nm->be->addrlen = use[0].ss_family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6);
		addrset_publish(nm->be->dns, use, m);
	}
	c->priv->nnames = 0;
	return n;
}

int conf_finish(struct conf *c, FILE *errs)
{
	struct listener_conf *l;
	size_t i, j;
	int n = 0;

	if (c->nlisteners == 0) {
		if (errs != NULL)
			fprintf(errs, "no listener: add a 'listen' line or --listen\n");
		n++;
	}
	if (c->check_timeout_ms > c->check_interval_ms) {
		if (errs != NULL)
			fprintf(errs, "check-timeout %u ms is longer than check-interval %u ms "
			    "(one check in flight per server at most)\n", c->check_timeout_ms,
			    c->check_interval_ms);
		n++;
	}
	if (c->idle_timeout_ms == 0 &&
	    (c->keepalive[0].idle_s == 0 || c->keepalive[1].idle_s == 0 ||
	    c->user_timeout_ms[0] == 0 || c->user_timeout_ms[1] == 0)) {
		if (errs != NULL)
			fprintf(errs, "idle-timeout off needs client-keepalive, server-keepalive, "
			    "client-user-timeout and server-user-timeout all set: without them "
			    "nothing would end a quiet connection whose peer vanished\n");
		n++;
	}
	n += names_resolve(c, errs);
	c->nroutes_all = 0;
	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		l->index = i;
		for (j = 0; j < l->nroutes; j++)
			l->routes[j].mindex = c->nroutes_all++;
		route_table_free(l->table);
		if ((l->table = route_table_new(l->routes, l->nroutes)) == NULL) {
			if (errs != NULL)
				fprintf(errs, "out of memory\n");
			n++;
		}
	}
	return n;
}

void conf_print_directives(FILE *out)
{
	const struct conf_directive *d;
	char b[64];
	size_t i;

	fprintf(out, "%-20s %-28s %-8s %-9s %-13s %-7s %s\n", "# DIRECTIVE", "ARGUMENTS",
	    "SCOPE", "DEFAULT", "RANGE", "RELOAD", "DESCRIPTION");
	for (i = 0; i < NDIRECTIVES; i++) {
		d = &directives[i];
		conf_bounds_text(d, b, sizeof(b));
		fprintf(out, "%-20s %-28s %-8s %-9s %-13s %-7s %s\n", d->name, d->args,
		    d->scope == CONF_GLOBAL ? "global" : "listener",
		    d->def != NULL ? d->def : "none", b[0] != '\0' ? b : "-",
		    d->reload == CONF_RESTART ? "restart" : "applies", d->doc);
	}
}
