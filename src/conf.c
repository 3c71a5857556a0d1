/*
 * conf.c: the directive table, the line-oriented config parser and the
 * command-line flags. One table (directives[] below) drives parsing, the
 * defaults conf_new() fills in, the bounds, --directives and docs/config.md.
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

static const struct conf_directive directives[] = {
	{ "hello-timeout", CONF_GLOBAL, CONF_DURATION, "DURATION", "5s",
	  1, 24 * MS_H, 1, 1, G(hello_timeout_ms), 0,
	  "time a client has to send its whole ClientHello" },
	{ "connect-timeout", CONF_GLOBAL, CONF_DURATION, "DURATION", "5s",
	  1, 24 * MS_H, 1, 1, G(connect_timeout_ms), 0,
	  "time a backend connect has to complete" },
	{ "idle-timeout", CONF_GLOBAL, CONF_DURATION, "DURATION", "5m",
	  1, 24 * MS_H, 1, 1, G(idle_timeout_ms), 0,
	  "with both directions open, a session with no byte moving either way for this long is reset" },
	{ "half-closed-timeout", CONF_GLOBAL, CONF_DURATION, "DURATION", "30s",
	  1, 24 * MS_H, 1, 1, G(half_closed_timeout_ms), 0,
	  "once one direction has finished (FIN passed on), a session with no byte moving for this long is reset" },
	{ "drain-timeout", CONF_GLOBAL, CONF_DURATION, "DURATION", "30s",
	  1, 24 * MS_H, 1, 1, G(drain_timeout_ms), 0,
	  "after SIGTERM/SIGINT, time live sessions have to finish before they are reset" },
	{ "hello-max", CONF_GLOBAL, CONF_BYTES, "BYTES", "32768",
	  512, 1048576, 1, 1, G(hello_max), 0,
	  "cap on the ClientHello body, bytes" },
	{ "access-log", CONF_GLOBAL, CONF_STRING, "FILE|-|off", "-",
	  0, 0, 1, 1, G(access_log), 0,
	  "one line per session: '-' is stdout, FILE is appended to, 'off' disables" },
	{ "admin-socket", CONF_GLOBAL, CONF_STRING, "PATH|off", "off",
	  0, 0, 1, 1, G(admin_socket), 0,
	  "serve the live connection table (halfpipe -s PATH conns) and kill ID on this unix socket, mode 0600, owned by the starting user; off: none" },
	{ "workers", CONF_GLOBAL, CONF_COUNT, "N|auto", "auto",
	  1, 64, 1, 1, G(workers), 0,
	  "event-loop threads sharing the listeners (SO_REUSEPORT); auto: one per CPU" },
	{ "splice-pipes", CONF_GLOBAL, CONF_COUNT, "N", "1000",
	  0, 100000, 1, 1, G(splice_pipes), 0,
	  "kernel pipes per worker for zero-copy relay (2 fds each, held only while bytes are in flight); 0: copy only" },
	{ "user", CONF_GLOBAL, CONF_USER, "NAME", NULL,
	  0, 0, 1, 1, G(user), 0,
	  "after binding, switch to this user (and its group unless 'group' is given); none: stay as started" },
	{ "group", CONF_GLOBAL, CONF_GROUP, "NAME", NULL,
	  0, 0, 1, 1, G(group), 0,
	  "after binding, switch to this group, the only supplementary group too; none: the user's group" },
	{ "seccomp", CONF_GLOBAL, CONF_SWITCH, "on|off", "on",
	  0, 0, 1, 1, G(seccomp), 0,
	  "after binding, allow only the system calls the relay needs; any other kills the process" },
	{ "max-conns", CONF_GLOBAL, CONF_COUNT, "N", "0",
	  0, 10000000, 1, 1, G(max_conns), 0,
	  "connections at once, all listeners; more are reset at accept; 0: no limit but the fd budget" },
	{ "max-conns-per-source", CONF_GLOBAL, CONF_COUNT, "N", "0",
	  0, 10000000, 1, 1, G(max_conns_per_source), 0,
	  "connections at once from one client address (IPv4 /32, IPv6 /64); more are reset at accept; 0: no limit" },
	{ "backend-fails", CONF_GLOBAL, CONF_COUNT, "N", "3",
	  1, 1000, 1, 1, G(backend_fails), 0,
	  "a pool server whose connects fail N times in a row is passed over for backend-cooldown" },
	{ "backend-cooldown", CONF_GLOBAL, CONF_DURATION, "DURATION", "10s",
	  1, 24 * MS_H, 1, 1, G(backend_cooldown_ms), 0,
	  "how long a failing pool server is passed over; a failed connect after it starts another" },
	{ "metrics", CONF_GLOBAL, CONF_ADDR, "ADDR:PORT|off", "off",
	  0, 0, 1, 1, 0, 0,
	  "serve Prometheus metrics over HTTP (GET /metrics) on this address, a.b.c.d:PORT or [IPv6]:PORT; off: none" },
	{ "listen", CONF_LISTENER, CONF_ADDRS, "ADDR:PORT...", NULL,
	  0, 0, 1, 8, 0, 0,
	  "open a listener block on 1..8 addresses, a.b.c.d:PORT or [IPv6]:PORT (port 0: any)" },
	{ "route", CONF_LISTENER, CONF_ROUTE,
	  "NAME HOST:PORT[,HOST:PORT...] [balance=rr|leastconn] [alpn=PROTO] [proxy=v1|v2]", NULL,
	  0, 0, 2, 5, 0, 0,
	  "send SNI NAME (exact or *.suffix), if alpn= is given only when the client offers PROTO, to HOST:PORT, or to one of a pool of up to 32 servers (balance=: round robin, the default, or least connections; a failed connect tries the next one); proxy= puts a PROXY protocol header first" },
	{ "accept-proxy", CONF_LISTENER, CONF_NETS, "NET...", NULL,
	  0, 0, 1, 8, 0, 0,
	  "require a PROXY protocol header (v1 or v2) before the ClientHello, from these source networks only (ADDR or ADDR/BITS); refuse every other source" },
	{ "listener-max-conns", CONF_LISTENER, CONF_COUNT, "N", "0",
	  0, 10000000, 1, 1, L(max_conns), 0,
	  "connections at once on this listener (all its addresses); more are reset at accept; 0: no limit" },
	{ "default", CONF_LISTENER, CONF_ACTION, "HOST:PORT|reject", "reject",
	  0, 0, 1, 1, L(on_no_route), L(on_no_sni),
	  "sets both on-no-route and on-no-sni" },
	{ "on-no-sni", CONF_LISTENER, CONF_ACTION, "HOST:PORT|reject", "reject",
	  0, 0, 1, 1, L(on_no_sni), 0,
	  "what to do with a ClientHello that has no server_name" },
	{ "on-no-route", CONF_LISTENER, CONF_ACTION, "HOST:PORT|reject", "reject",
	  0, 0, 1, 1, L(on_no_route), 0,
	  "what to do with an SNI no route matches" },
	{ "on-not-tls", CONF_LISTENER, CONF_ACTION, "HOST:PORT|reject", "reject",
	  0, 0, 1, 1, L(on_not_tls), 0,
	  "what to do when the first bytes are not a TLS handshake record" },
	{ "on-malformed", CONF_LISTENER, CONF_ACTION, "HOST:PORT|reject", "reject",
	  0, 0, 1, 1, L(on_malformed), 0,
	  "what to do with a TLS handshake whose ClientHello cannot be parsed" },
};
#define NDIRECTIVES	(sizeof(directives) / sizeof(directives[0]))

/* Where we are, for messages. */
struct pctx {
	struct conf			*c;
	FILE				*errs;
	const char			*file;	/* NULL: a command-line flag */
	int				 line;
	const char			*flag;	/* the flag's name as given */
	const struct conf_directive	*d;	/* the directive at hand, or NULL */
	int				 nerr;
};

static void perr(struct pctx *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Print "FILE:LINE: NAME: msg" (file) or "--NAME: msg" (flag); count it. */
static void perr(struct pctx *p, const char *fmt, ...)
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
	else if (d->type == CONF_DURATION)
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

/* One listen (or metrics) address, numeric, into ss; 0, or -1 after perr(). */
static int parse_listen_addr(struct pctx *p, const char *word, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	int rc = strlen(word) < CONF_ADDRNAME_MAX ? addr_parse(word, ss, sslen) : ADDR_ESHAPE;

	if (rc == ADDR_EPORT)
		perr(p, "bad port in \"%s\" (want 0..65535)", word);
	else if (rc != ADDR_OK)
		perr(p, "bad address \"%.80s\" (want a.b.c.d:PORT or [IPv6]:PORT)", word);
	return rc == ADDR_OK ? 0 : -1;
}

/* The backend written as word, shared if seen before; NULL after an error. */
static struct backend *backend_get(struct pctx *p, const char *word)
{
	struct conf *c = p->c;
	struct backend *be, **bes;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const char *why = "", *colon = strrchr(word, ':');
	int hostlen = colon != NULL ? (int)(colon - word) : 0;	/* a name's */
	size_t i;

	for (i = 0; i < c->nbackends; i++)
		if (strcmp(c->backends[i]->name, word) == 0)
			return c->backends[i];
	if (strlen(word) >= sizeof(be->name)) {
		perr(p, "backend \"%.64s...\" is too long", word);
		return NULL;
	}
	switch (addr_resolve(word, c->no_resolve, &ss, &sslen, &why)) {
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
	    (bes = grow(c->backends, c->nbackends, sizeof(*bes))) == NULL) {
		free(be);
		perr(p, "out of memory");
		return NULL;
	}
	be->addr = ss;
	be->addrlen = sslen;
	strcpy(be->name, word);
	be->index = c->nbackends;
	c->backends = bes;
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

static int apply(struct pctx *p, const struct conf_directive *d,
    struct listener_conf *l, char **av, int ac);

/* Resolve a user (CONF_USER) or group name into *id; 0, or -1 after perr(). */
static int account_set(struct pctx *p, const struct conf_directive *d, struct conf_id *id,
    const char *name)
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
		if (d->type == CONF_USER)
			rc = getpwnam_r(name, &pw, buf, len, &pwp);
		else
			rc = getgrnam_r(name, &gr, buf, len, &grp);
	}
	if (rc != 0) {
		perr(p, "cannot look up \"%.300s\": %s", name, strerror(rc));
		goto fail;
	}
	if (pwp == NULL && grp == NULL && !p->c->no_resolve) {
		perr(p, "no such %s \"%.300s\"", d->type == CONF_USER ? "user" : "group", name);
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

/* A new listener block with the table's default actions; NULL after an error. */
static struct listener_conf *listener_add(struct pctx *p)
{
	struct conf *c = p->c;
	struct listener_conf *ls, *l;
	const struct conf_directive *d, *saved = p->d;
	char buf[300], *av[1];
	size_t i;

	if ((ls = grow(c->listeners, c->nlisteners, sizeof(*ls))) == NULL) {
		perr(p, "out of memory");
		return NULL;
	}
	c->listeners = ls;
	l = &c->listeners[c->nlisteners++];
	memset(l, 0, sizeof(*l));
	c->cur = c->nlisteners;
	for (i = 0; i < NDIRECTIVES; i++) {
		d = &directives[i];
		if ((d->type != CONF_ACTION && d->type != CONF_COUNT) ||
		    d->scope != CONF_LISTENER || d->def == NULL)
			continue;
		snprintf(buf, sizeof(buf), "%s", d->def);
		av[0] = buf;
		apply(p, d, l, av, 1);
	}
	p->d = saved;
	return l;
}

static void listener_clear(struct listener_conf *l)
{
	size_t i;

	for (i = 0; i < l->nroutes; i++) {
		free(l->routes[i].name);
		free(l->routes[i].alpn);
		if (l->routes[i].pool != NULL)
			free(l->routes[i].pool->srv);
		free(l->routes[i].pool);
	}
	free(l->routes);
	l->routes = NULL;
	l->nroutes = 0;
	free(l->accept_proxy);
	l->accept_proxy = NULL;
	l->naccept_proxy = 0;
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
	c->cur = 0;
}

static int do_listen(struct pctx *p, char **av, int ac)
{
	struct listener_conf *l;
	int i, rc = 0;

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

static int do_route(struct pctx *p, struct listener_conf *l, const char *file, int line,
    char **av, int ac)
{
	char name[CONF_NAME_MAX + 1];
	const char *why, *alpn = NULL, *s;
	struct backend *srv[POOL_MAX];
	struct route *r, *rs;
	struct pool *pool = NULL;
	size_t i, nsrv = 0;
	int proxy = 0, balance = -1;
	char *list, *word, *next;

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
			else {
				perr(p, "bad balance \"%.300s\" (want balance=rr or balance=leastconn)",
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
		if (strncmp(av[i], "alpn=", 5) != 0) {
			perr(p, "bad option \"%.300s\" (want balance=rr|leastconn, alpn=PROTO or proxy=v1|v2)",
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
	/* HOST:PORT[,HOST:PORT...]: each server once, up to POOL_MAX. */
	for (list = av[1]; list != NULL; list = next) {
		if ((next = strchr(list, ',')) != NULL)
			*next++ = '\0';
		word = list;
		if (nsrv == POOL_MAX) {
			perr(p, "more than %d servers in one route", POOL_MAX);
			return -1;
		}
		if ((srv[nsrv] = backend_get(p, word)) == NULL)
			return -1;
		for (i = 0; i < nsrv; i++)
			if (srv[i] == srv[nsrv]) {
				perr(p, "server \"%.300s\" given twice", word);
				return -1;
			}
		nsrv++;
	}
	if ((pool = calloc(1, sizeof(*pool))) == NULL ||
	    (pool->srv = calloc(nsrv, sizeof(pool->srv[0]))) == NULL) {
		free(pool);
		pool = NULL;
		goto oom;
	}
	memcpy(pool->srv, srv, nsrv * sizeof(srv[0]));
	pool->n = (uint32_t)nsrv;
	pool->balance = balance == BAL_LEASTCONN ? BAL_LEASTCONN : BAL_RR;
	if ((rs = grow(l->routes, l->nroutes, sizeof(*rs))) == NULL)
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
	r->proxy = proxy;
	r->file = file;
	r->line = line;
	l->nroutes++;
	return 0;
oom:
	if (pool != NULL)
		free(pool->srv);
	free(pool);
	pool = NULL;
	perr(p, "out of memory");
	return -1;
}

/* accept-proxy NET...: added to the listener's trusted networks. */
static int do_nets(struct pctx *p, struct listener_conf *l, char **av, int ac)
{
	struct addr_net n, *ns;
	int i, rc = 0;

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

/* Intern a file name so routes can point at it for as long as c lives. */
static const char *file_intern(struct conf *c, const char *name)
{
	char **fs, *s;

	if ((s = strdup(name)) == NULL)
		return NULL;
	if ((fs = grow(c->files, c->nfiles, sizeof(*fs))) == NULL) {
		free(s);
		return NULL;
	}
	c->files = fs;
	c->files[c->nfiles++] = s;
	return s;
}

/*
 * Apply directive d with arguments av[0..ac) to c. The scope has been
 * checked; l is the listener block for listener directives.
 */
static int apply(struct pctx *p, const struct conf_directive *d, struct listener_conf *l,
    char **av, int ac)
{
	struct conf *c = p->c;
	char b1[64];
	uint32_t v;
	char *s, **sp, *base;
	struct backend *be = NULL;

	p->d = d;
	if (ac < d->minargs || ac > d->maxargs) {
		if (d->type == CONF_ADDRS && ac > d->maxargs)
			perr(p, "%d addresses: at most %d", ac, d->maxargs);
		else if (p->file == NULL && d->type == CONF_ROUTE)
			perr(p, "wrong number of arguments (usage: --route NAME=HOST:PORT[,HOST:PORT...][,balance=rr|leastconn][,alpn=PROTO][,proxy=v1|v2])");
		else
			perr(p, "wrong number of arguments: %d (usage: %s%s %s)", ac,
			    p->file ? "" : "--", d->name, d->args);
		/* Still open the block, so its lines are not "outside" one. */
		if (d->type == CONF_ADDRS)
			listener_add(p);
		return -1;
	}
	switch (d->type) {
	case CONF_DURATION:
		if (conf_parse_duration(av[0], &v) == -1) {
			perr(p, "bad duration \"%s\" (want e.g. 500ms, 3s, 10m, 1h)", av[0]);
			return -1;
		}
		if (v == 0) {
			perr(p, "%s is not allowed: every phase needs a deadline (%s)",
			    av[0], conf_bounds_text(d, b1, sizeof(b1)));
			return -1;
		}
		if (v < d->min || v > d->max) {
			perr(p, "%s is out of range (%s)", av[0],
			    conf_bounds_text(d, b1, sizeof(b1)));
			return -1;
		}
		*(uint32_t *)((char *)c + d->off) = v;
		return 0;
	case CONF_BYTES:
		if (parse_u32(av[0], &v) == -1) {
			perr(p, "bad size \"%s\" (want a number of bytes)", av[0]);
			return -1;
		}
		if (v < d->min || v > d->max) {
			perr(p, "%s is out of range (%s)", av[0],
			    conf_bounds_text(d, b1, sizeof(b1)));
			return -1;
		}
		*(uint32_t *)((char *)c + d->off) = v;
		return 0;
	case CONF_COUNT:
		base = d->scope == CONF_LISTENER ? (char *)l : (char *)c;
		if (d->def != NULL && strcmp(d->def, "auto") == 0 &&
		    strcmp(av[0], "auto") == 0) {
			*(uint32_t *)(base + d->off) = 0;
			return 0;
		}
		if (parse_u32(av[0], &v) == -1) {
			perr(p, "bad number \"%s\"", av[0]);
			return -1;
		}
		if (v < d->min || v > d->max) {
			perr(p, "%s is out of range (%s)", av[0],
			    conf_bounds_text(d, b1, sizeof(b1)));
			return -1;
		}
		*(uint32_t *)(base + d->off) = v;
		return 0;
	case CONF_STRING:
		if ((s = strdup(av[0])) == NULL) {
			perr(p, "out of memory");
			return -1;
		}
		sp = (char **)((char *)c + d->off);
		free(*sp);
		*sp = s;
		return 0;
	case CONF_USER:
	case CONF_GROUP:
		return account_set(p, d, (struct conf_id *)((char *)c + d->off), av[0]);
	case CONF_SWITCH:
		if (strcmp(av[0], "on") != 0 && strcmp(av[0], "off") != 0) {
			perr(p, "bad value \"%s\" (want on or off)", av[0]);
			return -1;
		}
		*(uint32_t *)((char *)c + d->off) = strcmp(av[0], "on") == 0;
		return 0;
	case CONF_ADDRS:
		return do_listen(p, av, ac);
	case CONF_NETS:
		return do_nets(p, l, av, ac);
	case CONF_ADDR:
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
	case CONF_ROUTE:
		return do_route(p, l, p->file ? p->file : "command line", p->line, av, ac);
	case CONF_ACTION:
		if (strcmp(av[0], "reject") != 0 && (be = backend_get(p, av[0])) == NULL)
			return -1;
		((struct action *)((char *)l + d->off))->be = be;
		if (d->off2 != 0)
			((struct action *)((char *)l + d->off2))->be = be;
		return 0;
	}
	return -1;
}

struct conf *conf_new(void)
{
	struct conf *c;
	struct pctx p;
	const struct conf_directive *d;
	char buf[64], *av[1];
	size_t i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
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
		if (apply(&p, d, NULL, av, 1) == -1)
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
	for (i = 0; i < c->nbackends; i++)
		free(c->backends[i]);
	free(c->backends);
	for (i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c->access_log);
	free(c->admin_socket);
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
static void parse_line(struct pctx *p, char *buf)
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
	if (d->scope == CONF_LISTENER && d->type != CONF_ADDRS && c->cur == 0) {
		perr(p, "%s outside a listener block: put a 'listen' line first", d->name);
		return;
	}
	apply(p, d, c->cur ? &c->listeners[c->cur - 1] : NULL, av + 1, ac - 1);
}

int conf_load_stream(struct conf *c, FILE *in, const char *name, FILE *errs)
{
	char buf[CONF_LINE_MAX + 1];
	struct pctx p;
	int bad, badch = 0;

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.errs = errs;
	if ((p.file = file_intern(c, name)) == NULL) {
		if (errs != NULL)
			fprintf(errs, "%s: out of memory\n", name);
		return 1;
	}
	c->cur = 0;
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
	c->cur = 0;
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

/* "NAME=HOST:PORT[,OPTION]..." into av[0..max) in buf; the count (more
 * than max: an argument-count error later), -1 bad. */
static int split_route_flag(char *buf, char **av, int max)
{
	char *eq, *comma, *end;
	int n = 2, opts = 0;

	if ((eq = strchr(buf, '=')) == NULL || eq == buf || eq[1] == '\0')
		return -1;
	*eq = '\0';
	av[0] = buf;
	av[1] = eq + 1;
	for (comma = strchr(av[1], ','); comma != NULL; comma = strchr(comma + 1, ',')) {
		/* Servers (no '=') stay one comma-separated word until an option. */
		if (!opts) {
			end = strchrnul(comma + 1, ',');
			if (memchr(comma + 1, '=', (size_t)(end - comma - 1)) == NULL)
				continue;
			opts = 1;
		}
		*comma = '\0';
		if (n < max)
			av[n] = comma + 1;
		n++;
	}
	return n;
}

int conf_apply_flag(struct conf *c, const char *name, const char *value, FILE *errs)
{
	struct pctx p;
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
	if (d->type == CONF_ROUTE) {
		if ((ac = split_route_flag(buf, av, 8)) == -1) {
			perr(&p, "bad value \"%s\" (want NAME=HOST:PORT[,HOST:PORT...][,balance=rr|leastconn][,alpn=PROTO][,proxy=v1|v2])", value);
			goto done;
		}
		if (ac > 8)
			ac = 8;
	} else {
		ac = *buf != '\0';
		av[0] = buf;
	}
	if (d->type == CONF_ADDRS) {
		if (!c->flag_listen)
			listeners_free(c);	/* --listen replaces the file's listeners */
		c->flag_listen = 1;
	} else if (d->scope == CONF_LISTENER && (!c->flag_listen || c->cur == 0)) {
		perr(&p, "needs a --listen before it");
		goto done;
	}
	apply(&p, d, c->cur ? &c->listeners[c->cur - 1] : NULL, av, ac);
done:
	free(buf);
	buf = NULL;
	return p.nerr;
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

	fprintf(out, "%-20s %-28s %-8s %-9s %-13s %s\n", "# DIRECTIVE", "ARGUMENTS",
	    "SCOPE", "DEFAULT", "RANGE", "DESCRIPTION");
	for (i = 0; i < NDIRECTIVES; i++) {
		d = &directives[i];
		conf_bounds_text(d, b, sizeof(b));
		fprintf(out, "%-20s %-28s %-8s %-9s %-13s %s\n", d->name, d->args,
		    d->scope == CONF_GLOBAL ? "global" : "listener",
		    d->def != NULL ? d->def : "none", b[0] != '\0' ? b : "-", d->doc);
	}
}
