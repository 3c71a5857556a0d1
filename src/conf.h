/*
 * Configuration: one directive table drives parsing, defaults, bounds, what
 * a reload keeps, the command-line flags and the documentation (halfpipe
 * --directives prints it; docs/config.md lists every entry, which a test
 * checks, and scripts/gen-docs.py writes the README's table from it).
 *
 * File format: one directive per line, words separated by blanks, '#' starts
 * a comment. A `listen` line (the row that opens a block) opens a listener
 * block; the lines of the other rows of CONF_LISTENER scope after it belong
 * to that listener. Lines of CONF_GLOBAL rows may come anywhere. Errors are
 * "FILE:LINE: what is wrong", all of them, not just the first. Every
 * directive is also a command-line flag (--NAME VALUE).
 */
#ifndef HP_CONF_H
#define HP_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "acl.h"
#include "addr.h"
#include "addrset.h"
#include "backend.h"
#include "pool.h"
#include "proxy_proto.h"
#include "source.h"

#define CONF_ADDRNAME_MAX 64	/* a listen or metrics address as written, its '\0' too */

struct backend {
	char			 name[280];	/* as written: host:port */
	struct sockaddr_storage	 addr;		/* resolved at load */
	socklen_t		 addrlen;
	/* Shared by the workers, relaxed atomics (pool.c); routes only. */
	uint32_t		 inflight;	/* connects and connections now */
	uint32_t		 fails;		/* connect failures in a row */
	uint64_t		 down_until;	/* tick: cooling down until then */
	size_t			 index;		/* in conf.backends[] (metrics) */
	struct addrset		*dns;		/* HOST a name: its addresses (addr is
						   the first at load), followed by
						   worker 0 (resolve.h); NULL: an IP */
	struct backend_health	 health;	/* checks, admin state (backend.h) */
};

/* What a listener does with a connection: reject it, or send it to a backend. */
struct action {
	struct backend		*be;		/* NULL: reject */
};

struct route {
	char			*name;		/* lower case, no trailing dot; "*.x.y" for a wildcard */
	char			*alpn;		/* NULL: any ALPN */
	struct backend		*be;		/* the first server (pool->srv[0]) */
	struct pool		*pool;		/* its servers, owned */
	const char		*file;		/* where it was defined (for messages) */
	int			 line;
	int			 proxy;		/* PROXY protocol version to send: 0 none, 1, 2 */
	struct source_set	*source;	/* source=, owned; NULL: the global one */
	struct acl		 acl;		/* allow=, deny=: checked once routed */
	uint32_t		 max_lifetime_ms;	/* max-lifetime=; 0: off */
	int			 lifetime_set;	/* max-lifetime= given: it wins over
						   the listener's */
	size_t			 mindex;	/* over every listener's routes (metrics);
						   set by conf_finish() */
};

struct listener_conf {
	struct sockaddr_storage	 addr[8];	/* addresses this listener binds */
	socklen_t		 addrlen[8];
	char			 addrname[8][CONF_ADDRNAME_MAX];	/* as written */
	size_t			 naddr;
	struct sockaddr_storage	 qaddr[8];	/* listen-quic: UDP addresses (quic.h) */
	socklen_t		 qaddrlen[8];
	char			 qaddrname[8][CONF_ADDRNAME_MAX];	/* as written */
	size_t			 nqaddr;
	struct route		*routes;
	size_t			 nroutes;
	struct route_table	*table;		/* built by conf_finish() */
	struct action		 on_no_sni;	/* default: reject */
	struct action		 on_no_route;	/* default: reject */
	struct action		 on_not_tls;	/* default: reject */
	struct action		 on_malformed;	/* default: reject */
	uint32_t		 max_conns;	/* listener-max-conns; 0: no limit */
	size_t			 index;		/* in conf.listeners (conf_finish()) */
	unsigned long		*live;		/* its live connections (limits_bind()) */
	struct addr_net		*accept_proxy;	/* trusted senders of a PROXY header; */
	size_t			 naccept_proxy;	/* none: no header is read */
	struct acl		 acl;		/* allow, deny: at accept, or on the
						   PROXY header's source */
	uint32_t		 max_lifetime_ms;	/* 0: off */
};

/* TCP keepalive on one side's sockets (client-keepalive, server-keepalive). */
struct conf_keepalive {
	uint32_t		 idle_s;	/* TCP_KEEPIDLE; 0: keepalive off */
	uint32_t		 intvl_s;	/* TCP_KEEPINTVL; 0: the kernel's */
	uint32_t		 count;		/* TCP_KEEPCNT; 0: the kernel's */
};

/* A user or group named in the configuration, resolved when it is loaded. */
struct conf_id {
	char			*name;		/* as written; NULL: not set */
	uint32_t		 id;		/* uid (user) or gid (group) */
	uint32_t		 gid;		/* user: its primary group */
};

struct conf {
	struct listener_conf	*listeners;
	size_t			 nlisteners;
	struct backend		**backends;	/* every backend, owned here */
	size_t			 nbackends;
	uint32_t		 hello_timeout_ms;
	uint32_t		 connect_timeout_ms;
	uint32_t		 idle_timeout_ms;
	uint32_t		 half_closed_timeout_ms;
	uint32_t		 drain_timeout_ms;
	uint32_t		 drain_delay_ms;	/* accept on after the first signal; 0: no */
	uint32_t		 hello_max;		/* cap on the ClientHello body, bytes */
	struct conf_keepalive	 keepalive[2];		/* client, server side */
	uint32_t		 user_timeout_ms[2];	/* TCP_USER_TIMEOUT, client, server;
							   0: off */
	uint32_t		 quic_idle_timeout_ms;	/* a QUIC flow with no datagram */
	uint32_t		 quic_hello_timeout_ms;	/* a flow's Initials must be in by */
	uint32_t		 quic_max_flows;	/* QUIC flows at once, per worker */
	char			*access_log;		/* "-" is stdout, "off" disables */
	uint32_t		 access_log_format;	/* enum access_format (accesslog.h) */
	uint32_t		 access_log_interval_ms;	/* progress lines; 0: off */
	char			*admin_socket;		/* unix socket path; "off": none */
	uint32_t		 workers;		/* event-loop threads; 0: one per CPU */
	uint32_t		 splice_pipes;		/* kernel pipes per worker; 0: no splice */
	struct conf_id		 user;			/* switch to it after binding */
	struct conf_id		 group;			/* default: the user's group */
	uint32_t		 seccomp;		/* 1: install the syscall filter */
	uint32_t		 max_conns;		/* process-wide; 0: no limit */
	uint32_t		 max_conns_per_source;	/* per client address; 0: no limit */
	uint32_t		 backend_fails;		/* failures in a row before a cool-down */
	uint32_t		 backend_cooldown_ms;
	struct source_set	 source;		/* backend connects bind these */
	uint32_t		 check_interval_ms;	/* active checks (check.h) */
	uint32_t		 check_timeout_ms;
	uint32_t		 check_rise, check_fall;
	struct sockaddr_storage	 metrics_addr;		/* the metrics endpoint; */
	socklen_t		 metrics_addrlen;	/* 0: off */
	char			 metrics_name[CONF_ADDRNAME_MAX];	/* as written */
	uint32_t		 resolve_interval_ms;	/* ask DNS about a name again */
	uint32_t		 resolve_prefer;	/* enum addr_prefer */
	char			*resolvers;		/* "ADDR:PORT,..." (c-ares' csv);
							   NULL: /etc/resolv.conf's */
	/* Set before conf_finish(): how a backend's name is resolved (the
	 * A and AAAA addresses of host, port 0, into out[0..max), *n their
	 * count; 0, or -1 with *why). NULL: getaddrinfo() while parsing,
	 * the first address. */
	int			(*resolve)(void *arg, const struct conf *c, const char *host,
				    struct sockaddr_storage *out, size_t max, size_t *n,
				    const char **why);
	void			*resolve_arg;
	size_t			 nroutes_all;		/* routes of every listener */
	int			 no_resolve;		/* set before loading: never ask the
							   system's resolver (getaddrinfo, the
							   name service): a host name is an
							   error unless c->resolve is set, user
							   and group names stay unlooked-up
							   (fuzzer; a reload under seccomp) */
	unsigned		 refs;			/* conf_ref()/conf_unref() */
	struct conf_priv	*priv;			/* conf.c's own: parser state, the
							   file names routes point at */
};

/* Where a directive applies: anywhere, or in the listener block of the last
 * `listen` line (or --listen flag). */
enum conf_scope { CONF_GLOBAL, CONF_LISTENER };

/* What a reload (SIGHUP) does with a directive's new value. */
enum conf_reload {
	CONF_APPLIES,	/* connections accepted after the reload follow it */
	CONF_RESTART,	/* set up once at start: a reload keeps the running value
			   (conf_keep()) and logs that it takes effect on restart */
};

struct conf_parse;	/* conf.c's: the file and line, or the flag, at hand */

/* One row of the directive table. */
struct conf_directive {
	const char		*name;
	enum conf_scope		 scope;
	enum conf_reload	 reload;
	/* Set it from the words av[0..ac), their count checked (minargs..
	 * maxargs): 0, or -1 after printing the error. */
	int			(*set)(struct conf_parse *p, const struct conf_directive *d,
				    char **av, int ac);
	/* Give c the value old has (a global value): 1 if c's was another,
	 * 0 if not, -1 out of memory. Every CONF_RESTART row has one. */
	int			(*keep)(struct conf *c, const struct conf *old,
				    const struct conf_directive *d);
	const char		*args;		/* synopsis, e.g. "DURATION" */
	const char		*flag_args;	/* the value of --NAME; NULL: args */
	/* The value of --NAME into words av[0..max): their count (more than
	 * max: an argument-count error), -1 bad. NULL: the value is one word. */
	int			(*split)(char *value, char **av, int max);
	const char		*def;		/* default as it would be written; NULL: none */
	uint32_t		 min, max;	/* bounds (ms for durations, bytes); 0, 0: none */
	int			 minargs, maxargs;
	const char		*many;		/* more than maxargs: "N MANY: at most
						   maxargs"; NULL: the usage */
	int			 opens;		/* 1: opens a listener block (listen) */
	size_t			 off;		/* of the value the shared setters and
						   the keepers use: into struct conf
						   (global) or struct listener_conf
						   (listener) */
	size_t			 off2;		/* a second action set too (default), 0: none */
	const char		*doc;		/* one line */
};

/** A conf holding every default and no listener. */
struct conf *conf_new(void);
/** Free c and everything it owns (NULL is fine). */
void conf_free(struct conf *c);
/** One more holder of c (a worker, a session: a reload must not free a
 *  configuration still in use); returns c. Thread-safe. */
struct conf *conf_ref(struct conf *c);
/** One holder less; the last frees c (conf_new() gives the first). NULL is
 *  fine. */
void conf_unref(struct conf *c);

/** Parse a file into c. Prints every error as "FILE:LINE: msg\n" to errs and
 *  returns how many there were (0: fine). */
int conf_load_file(struct conf *c, const char *path, FILE *errs);

/** Apply one command-line flag (name without the dashes, e.g. "idle-timeout",
 *  "listen", "route" with "NAME=HOST:PORT[,HOST:PORT...][,OPTION...]",
 *  "default" with "HOST:PORT" or "reject"). The first --listen flag replaces
 *  the file's listeners with a new one, each later one adds one; the flags of
 *  the other CONF_LISTENER rows fill the last. Errors are printed as
 *  "--NAME: msg\n"; returns the number of errors. */
int conf_apply_flag(struct conf *c, const char *name, const char *value, FILE *errs);

/** Final checks (at least one listener, ...), the backends' names resolved
 *  (with c->resolve set: FILE:LINE errors) and build the route tables.
 *  Returns the number of errors printed. */
int conf_finish(struct conf *c, FILE *errs);

/** Print the directive table (name, arguments, scope, default, bounds, what a
 *  reload does, one doc line). */
void conf_print_directives(FILE *out);

/** Like conf_load_file() on an open stream; name is used in messages. */
int conf_load_stream(struct conf *c, FILE *in, const char *name, FILE *errs);

/** The directive table; *n gets its length. */
const struct conf_directive *conf_directives(size_t *n);

/** The value of the flag --NAME of d, as a synopsis ("NAME=HOST:PORT[,...]"
 *  for route; most rows: d->args). */
const char *conf_flag_args(const struct conf_directive *d);

/** If a reload does not apply d (CONF_RESTART): give c, the new
 *  configuration, the value old, the running one, has. 1 if c's value was
 *  another (the change takes effect on restart), 0 if the same or d is
 *  CONF_APPLIES, -1 out of memory. */
int conf_keep(struct conf *c, const struct conf *old, const struct conf_directive *d);

/** The bounds of d as text into buf ("1ms..24h", "512..1048576"; "" for none). */
const char *conf_bounds_text(const struct conf_directive *d, char *buf, size_t len);

/** Parse "500ms", "3s", "10m", "1h" (bare number: seconds). 0 ok, -1 bad. */
int conf_parse_duration(const char *s, uint32_t *ms);

#endif
