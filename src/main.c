/* halfpipe: command line, start-up, signals and reload: the main thread,
 * which only waits; the event loops are the workers' (worker.c). */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "admintab.h"
#include "conf.h"
#include "inherit.h"
#include "inspect.h"
#include "limits.h"
#include "listener.h"
#include "log.h"
#include "logfile.h"
#include "notify.h"
#include "quic.h"
#include "quic_initial.h"
#include "resolve.h"
#include "sandbox.h"
#include "session.h"
#include "worker.h"

#define HALFPIPE_VERSION "0.1.0"

static const char usage_text[] =
"usage: halfpipe -c FILE            run in the foreground, logs to stderr\n"
"       halfpipe -t -c FILE         check the config: exit 0, or 1 with every error\n"
"       halfpipe -c FILE --take-over SOCKET\n"
"                                   take the listening sockets over from the halfpipe\n"
"                                   whose admin-socket is SOCKET, which then drains\n"
"       halfpipe -V | -h            version | usage\n"
"       halfpipe -s SOCKET conns    list the live connections (admin-socket)\n"
"       halfpipe -s SOCKET kill ID  end connection ID, both sides reset\n"
"       halfpipe -s SOCKET servers  the servers and their states (drain, disable, ...: help)\n"
"       halfpipe -s SOCKET help     list the admin commands\n"
"       halfpipe --listen ADDR:PORT --route NAME=HOST:PORT [FLAG...]\n"
"                                   one listener without a file (flags override the file)\n"
"       halfpipe --inspect FILE...  classify captured client bytes (a TCP stream, or\n"
"                                   QUIC datagrams: raw, or hex lines; see halfpipe(8)):\n"
"                                   FILE<TAB>VERDICT<TAB>SNI<TAB>ALPN[<TAB>quic...]\n"
"       halfpipe --directives       list every configuration directive\n"
"flags, one per directive (listener ones fill the last --listen):\n";

#define USAGE_WIDTH	79	/* the flag list wraps here */
#define USAGE_INDENT	7

/* The usage: usage_text, then a flag for every directive, the listener
 * ones first, wrapped. */
static void usage(FILE *f)
{
	const struct conf_directive *d;
	size_t nd, i, col = 0, len;
	int scope;

	fputs(usage_text, f);
	d = conf_directives(&nd);
	for (scope = CONF_LISTENER; scope >= CONF_GLOBAL; scope--)
		for (i = 0; i < nd; i++) {
			if ((int)d[i].scope != scope)
				continue;
			len = strlen(d[i].name) + strlen(conf_flag_args(&d[i])) + 3;
			if (col > 0 && col + 2 + len > USAGE_WIDTH) {
				fputc('\n', f);
				col = 0;
			}
			col += (size_t)fprintf(f, "%*s--%s %s", col ? 2 : USAGE_INDENT, "",
			    d[i].name, conf_flag_args(&d[i]));
		}
	fputc('\n', f);
}

enum { OPT_INSPECT = 256, OPT_DIRECTIVES, OPT_FLAG, OPT_TAKEOVER };

/* The long options: the few of our own, then one per directive (a flag
 * shares its name with the file's directive), NULL-terminated. */
static struct option *make_longopts(void)
{
	static const struct option own[] = {
		{ "inspect",	no_argument,	NULL, OPT_INSPECT },
		{ "directives",	no_argument,	NULL, OPT_DIRECTIVES },
		{ "take-over",	required_argument, NULL, OPT_TAKEOVER },
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
	};
	const size_t nown = sizeof(own) / sizeof(own[0]);
	const struct conf_directive *d;
	struct option *o;
	size_t nd, i;

	d = conf_directives(&nd);
	if ((o = calloc(nown + nd + 1, sizeof(*o))) == NULL)
		fatalx("out of memory");
	memcpy(o, own, sizeof(own));
	for (i = 0; i < nd; i++)
		o[nown + i] = (struct option){ d[i].name, required_argument, NULL, OPT_FLAG };
	return o;
}

struct flag {
	const char	*name, *value;
};

/* The main thread's resolver: backend names at load and on a reload, with
 * the name servers of the start's configuration (resolvers is set once).
 * Made before the seccomp filter (its channel reads /etc/resolv.conf). */
static struct resolver *main_res;

/* c->resolve: through main_res, made at the first name (the start's load). */
static int main_resolve(void *arg, const struct conf *c, const char *host,
    struct sockaddr_storage *out, size_t max, size_t *n, const char **why)
{
	(void)arg;
	if (main_res == NULL) {
		if ((main_res = resolver_new(NULL, c->resolvers)) == NULL) {
			*why = "cannot set up the resolver";
			return -1;
		}
		resolve_deadline(main_res, RESOLVE_RELOAD_MS);
	}
	return resolve_now(main_res, host, out, max, n, why);
}

/* The file, then the flags over it, then the checks that need it whole:
 * the number of errors, each already printed as FILE:LINE or --NAME. */
static int read_conf(struct conf *c, const char *file, const struct flag *flags, int nflags)
{
	int i, errs = 0;

	/* names are resolved by conf_finish(), all within RESOLVE_RELOAD_MS */
	c->resolve = main_resolve;
	if (main_res != NULL)
		resolve_deadline(main_res, RESOLVE_RELOAD_MS);
	if (file != NULL)
		errs += conf_load_file(c, file, stderr);
	for (i = 0; i < nflags; i++)
		errs += conf_apply_flag(c, flags[i].name, flags[i].value, stderr);
	if (errs == 0)
		errs += conf_finish(c, stderr);
	return errs;
}

static struct conf *load_conf(const char *file, const struct flag *flags, int nflags)
{
	struct conf *c = conf_new();
	int errs;

	if (c == NULL)
		fatalx("out of memory");
	if ((errs = read_conf(c, file, flags, nflags)) != 0) {
		fprintf(stderr, "halfpipe: %d error%s in the configuration\n", errs,
		    errs == 1 ? "" : "s");
		conf_free(c);
		return NULL;
	}
	return c;
}

/* The listen addresses of a and b: the same, in the same order? Then a
 * reload only points the sockets at the new listener blocks. */
static int same_listeners(const struct conf *a, const struct conf *b)
{
	size_t i, j;

	if (a->nlisteners != b->nlisteners)
		return 0;
	for (i = 0; i < a->nlisteners; i++) {
		const struct listener_conf *x = &a->listeners[i], *y = &b->listeners[i];

		if (x->naddr != y->naddr)
			return 0;
		for (j = 0; j < x->naddr; j++)
			if (!addr_same(&x->addr[j], &y->addr[j]))
				return 0;
	}
	return 1;
}

static size_t naddrs(const struct conf *c)
{
	size_t i, n = 0;

	for (i = 0; i < c->nlisteners; i++)
		n += c->listeners[i].naddr;
	return n;
}

/*
 * A reload that adds or removes listen addresses: src[k] is the index of
 * the old address (as written, in the old conf's order) that c's k-th one
 * keeps, or -1 for a new one, and fds[w][k] the socket bound here for
 * worker w (SO_REUSEPORT, one each) before any worker sees c, so that a
 * failure refuses the whole reload instead of half-applying it. A socket
 * whose address stays is never closed (its accept queue would be lost).
 * Port 0 is refused for a new address: the workers' sockets must share one
 * port. 0, or -1 (logged, nothing left open).
 */
static int relisten_plan(const struct conf *old, const struct conf *c, int nw,
    int **srcp, int **fds)
{
	size_t nold = naddrs(old), nnew = naddrs(c), i, j, k, m, n;
	char *used = calloc(nold ? nold : 1, 1);
	int *src = calloc(nnew ? nnew : 1, sizeof(*src));
	const char *what;
	int w;

	if (used == NULL || src == NULL)
		goto nomem;
	for (w = 0; w < nw; w++) {
		if ((fds[w] = malloc((nnew ? nnew : 1) * sizeof(int))) == NULL)
			goto nomem;
		for (k = 0; k < nnew; k++)
			fds[w][k] = -1;
	}
	for (i = 0, k = 0; i < c->nlisteners; i++) {
		const struct listener_conf *y = &c->listeners[i];

		for (j = 0; j < y->naddr; j++, k++) {
			src[k] = -1;
			for (m = 0, n = 0; m < old->nlisteners && src[k] < 0; m++) {
				const struct listener_conf *x = &old->listeners[m];
				size_t jj;

				for (jj = 0; jj < x->naddr; jj++, n++)
					if (!used[n] && addr_same(&x->addr[jj], &y->addr[j])) {
						used[n] = 1;
						src[k] = (int)n;
						break;
					}
			}
			if (src[k] >= 0)
				continue;
			if (addr_port(&y->addr[j]) == 0) {
				log_warnx("reload refused: listen %s: port 0 is for the start only "
				    "(give a port); still serving the previous configuration",
				    y->addrname[j]);
				goto fail;
			}
			for (w = 0; w < nw; w++)
				if ((fds[w][k] = listener_bind(&y->addr[j], y->addrlen[j],
				    &what)) == -1) {
					log_warnx("reload refused: listen %s: %s: %s; still serving "
					    "the previous configuration", y->addrname[j], what,
					    strerror(errno));
					goto fail;
				}
		}
	}
	free(used);
	*srcp = src;
	return 0;
nomem:
	log_warnx("reload refused: out of memory");
fail:
	for (w = 0; w < nw; w++) {
		for (k = 0; fds[w] != NULL && k < nnew; k++)
			if (fds[w][k] != -1)
				close(fds[w][k]);
		free(fds[w]);
		fds[w] = NULL;
	}
	free(used);
	free(src);
	return -1;
}

/*
 * SIGHUP: read the configuration again (the same file and flags) into a
 * new conf, or NULL after logging why the running one stays. What is set
 * up once at start (the rows a reload does not apply, CONF_RESTART: threads,
 * privileges, the filter, the access log, the process-wide limits, the
 * metrics endpoint, the admin socket) keeps its old value, said once per
 * reload for each one the file changed.
 */
static struct conf *reload_conf(const struct conf *old, const char *file,
    const struct flag *flags, int nflags)
{
	struct conf *c = conf_new();
	const struct conf_directive *d;
	size_t i, nd;
	int errs, rc;

	if (c == NULL) {
		log_warnx("reload refused: out of memory");
		return NULL;
	}
	/* Backend names go through c-ares (main_resolve(), which the filter
	 * allows); user and group names would ask the name service (nscd over
	 * AF_UNIX), which it does not: they are kept, not looked up. */
	c->no_resolve = old->seccomp;
	if ((errs = read_conf(c, file, flags, nflags)) != 0) {
		log_warnx("reload refused: %d error%s in the configuration; still serving "
		    "the previous one", errs, errs == 1 ? "" : "s");
		conf_unref(c);
		return NULL;
	}
	d = conf_directives(&nd);
	for (i = 0; i < nd; i++) {
		if ((rc = conf_keep(c, old, &d[i])) == -1) {
			log_warnx("reload refused: out of memory; still serving the previous "
			    "configuration");
			conf_unref(c);
			return NULL;
		}
		if (rc == 1)
			log_warnx("reload: %s takes effect on restart", d[i].name);
	}
	return c;
}

/* The CPUs this process may run on (taskset, a cpuset, systemd's
 * CPUAffinity=), not all the machine's: workers beyond them would only take
 * turns on the same cores, each paying the other's latency. */
static long usable_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	return sysconf(_SC_NPROCESSORS_ONLN);
}

/* Sockets from before us (inherit.h): systemd's, then, with --take-over,
 * the old halfpipe's; matched to c's addresses for n workers. Before any
 * worker binds, before the sandbox. */
static void inherit_sockets(const struct conf *c, const char *takeover, int n)
{
	inherit_systemd();
	if (takeover != NULL)
		inherit_takeover(takeover);
	inherit_match(c, n);
}

static int run(struct conf *c, const char *file, const struct flag *flags, int nflags,
    const char *takeover)
{
	struct conf *cur = conf_ref(c), *nc;
	struct sockaddr_storage *bound;
	struct worker *ws;
	int *src = NULL, **fds;
	struct signalfd_siginfo si;
	sigset_t mask;
	FILE *access;
	size_t i, nls = 0;
	long ncpu;
	uint64_t exited, count, acked;
	int n = (int)c->workers, sfd, done_fd, ack_fd, signals = 0;

	if (n == 0) {
		ncpu = usable_cpus();
		n = ncpu < 1 ? 1 : ncpu > 64 ? 64 : (int)ncpu;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Block the signals before any thread starts, so that they all inherit
	 * the mask and only the main thread's signalfd sees them. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);	/* reload the configuration, see below */
	sigaddset(&mask, SIGUSR1);	/* reopen the access log (logfile.h) */
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	if ((done_fd = eventfd(0, EFD_CLOEXEC)) == -1 ||
	    (ack_fd = eventfd(0, EFD_CLOEXEC)) == -1)
		fatal("eventfd");
	for (i = 0; i < c->nlisteners; i++)
		nls += c->listeners[i].naddr;
	bound = calloc(nls ? nls : 1, sizeof(*bound));
	ws = calloc((size_t)n, sizeof(*ws));
	fds = calloc((size_t)n, sizeof(*fds));
	if (bound == NULL || ws == NULL || fds == NULL)
		fatalx("out of memory");
	access = logfile_open(c->access_log);
	/* the filter lets SIGUSR1's reopen put a new file on this descriptor */
	sandbox_reopen_fd(access != NULL && access != stdout ? fileno(access) : -1);
	if (limits_init(c) == -1)	/* getrandom(): before the filter */
		fatalx("out of memory");
	/* a reload's names: the channel reads /etc/resolv.conf before the filter */
	if (main_res == NULL && (main_res = resolver_new(NULL, c->resolvers)) == NULL)
		fatalx("cannot set up the resolver");
	inherit_sockets(c, takeover, n);
	for (i = 0; i < (size_t)n; i++)
		if (worker_init(&ws[i], (int)i, c, access, done_fd, ack_fd, bound,
		    i == 0) == -1)
			fatalx("cannot start worker %zu", i);
	inherit_done();		/* each worker holds its own dups now */
	/* Every listener is bound and the access log open: drop privileges
	 * and install the filter before any worker thread exists, so that
	 * they all inherit both. */
	notify_open();		/* systemd's socket: before the filter forbids it */
	/* libcrypto's ciphers for the QUIC Initials, loaded before the filter */
	if (quic_naddrs(c) > 0 && quic_crypto_init() == -1)
		fatalx("listen-quic: libcrypto lacks HKDF, AES-128-ECB or AES-128-GCM");
	sandbox_drop(c);
	log_info("running as uid %u gid %u, seccomp %s", (unsigned)getuid(),
	    (unsigned)getgid(), c->seccomp ? "on" : "off");
	if (sandbox_seccomp(c) == -1)
		fatalx("cannot install the seccomp filter");
	sandbox_test_execve();
	for (i = 0; i < (size_t)n; i++)
		if (worker_start(&ws[i]) == -1)
			fatalx("cannot start worker %zu", i);
	log_info("%d worker%s, splice-pipes %u, max-conns %u, max-conns-per-source %u", n,
	    n == 1 ? "" : "s", c->splice_pipes, c->max_conns, c->max_conns_per_source);
	notify_send("READY=1");

	/* The main thread only waits: for signals, which it passes on to every
	 * worker (the first starts the drain, the next ends everything), and
	 * for the workers, each of which counts itself out on done_fd once it
	 * has drained. */
	for (exited = 0; exited < (uint64_t)n;) {
		struct pollfd pfd[2] = { { sfd, POLLIN, 0 }, { done_fd, POLLIN, 0 } };

		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			fatal("poll");
		}
		if (!(pfd[0].revents & POLLIN) ||
		    read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
			;
		} else if (si.ssi_signo == SIGUSR1) {
			/* the start's path (access-log is set once at start) */
			(void)logfile_reopen(access, c->access_log);
		} else if (si.ssi_signo == SIGHUP && signals > 0) {
			log_warnx("SIGHUP: draining, no reload");
		} else if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: reloading %s", file != NULL ? file : "the flags");
			notify_send("RELOADING=1");
			if ((nc = reload_conf(cur, file, flags, nflags)) != NULL &&
			    limits_bind(nc) == -1) {
				log_warnx("reload refused: out of memory; still serving "
				    "the previous configuration");
				conf_unref(nc);
				nc = NULL;
			}
			if (nc != NULL && !same_listeners(cur, nc) &&
			    relisten_plan(cur, nc, n, &src, fds) == -1) {
				conf_unref(nc);
				nc = NULL;
			}
			if (nc != NULL) {
				backend_carry(nc, cur);	/* servers keep their state */
				/* Each worker takes it between two event
				 * batches and says so: then every new
				 * connection follows it. Live ones keep the
				 * old. With new or removed addresses each
				 * gets its own copy of src (it frees both). */
				for (i = 0; i < (size_t)n; i++) {
					int *s = NULL;

					if (src != NULL) {
						size_t sz = (naddrs(nc) ? naddrs(nc) : 1) * sizeof(int);

						if ((s = malloc(sz)) == NULL)
							fatalx("out of memory");
						memcpy(s, src, sz);
					}
					worker_reload(&ws[i], conf_ref(nc), s, src ? fds[i] : NULL);
					fds[i] = NULL;
				}
				free(src);
				src = NULL;
				for (count = 0; count < (uint64_t)n; count += acked)
					if (read(ack_fd, &acked, sizeof(acked)) !=
					    (ssize_t)sizeof(acked))
						fatal("eventfd");
				conf_unref(cur);
				cur = nc;
				log_info("reloaded: %zu listener%s, %zu route%s", cur->nlisteners,
				    cur->nlisteners == 1 ? "" : "s", cur->nroutes_all,
				    cur->nroutes_all == 1 ? "" : "s");
			}
			notify_send("READY=1");	/* reloaded, or still the old one */
		} else {
			log_info("signal %u%s", si.ssi_signo,
			    signals++ ? ": ending every connection now" : "");
			if (signals == 1) {
				notify_send("STOPPING=1");	/* the drain starts */
				workers_stopping();		/* /ready: 503 */
			}
			for (i = 0; i < (size_t)n; i++)
				worker_signal(&ws[i]);
		}
		if ((pfd[1].revents & POLLIN) &&
		    read(done_fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
			exited += count;
	}
	for (i = 0; i < (size_t)n; i++)
		worker_join(&ws[i]);
	close(done_fd);
	close(ack_fd);
	conf_unref(cur);
	log_info("drained: exiting");
	logfile_close(access);
	close(sfd);
	notify_close();
	limits_free();
	resolver_free(main_res);
	main_res = NULL;
	free(ws);
	free(fds);
	free(bound);
	return 0;
}

/* halfpipe -s SOCKET COMMAND [ARG]: one request, the answer printed. */
static int admin_client(const char *path, int ac, char **av)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char req[ADMIN_REQ_MAX], buf[8192];
	struct mbuf out = { 0 };
	struct admin_arg arg;
	ssize_t n;
	int fd, rc = 0;

	if ((ac == 1 || ac == 2) && strlen(av[0]) + (ac == 2 ? strlen(av[1]) : 0) <
	    ADMIN_REQ_MAX - 3 && (snprintf(req, sizeof(req), "%s%s%s\n", av[0],
	    ac == 2 ? " " : "", ac == 2 ? av[1] : ""),
	    admin_parse(req, strlen(req), &arg) > ADMIN_BAD) &&
	    strcmp(av[0], "handover") != 0)	/* that is --take-over's */
		;
	else {
		fprintf(stderr, "halfpipe: -s SOCKET wants a command: conns, servers, "
		    "kill ID|route=NAME|server=HOST:PORT, disable|enable|drain HOST:PORT, help\n");
		usage(stderr);
		return 2;
	}
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "halfpipe: %s: socket path too long\n", path);
		return 1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "halfpipe: admin socket %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return 1;
	}
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req) ||
	    shutdown(fd, SHUT_WR) == -1) {
		fprintf(stderr, "halfpipe: admin socket %s: %s\n", path, strerror(errno));
		close(fd);
		return 1;
	}
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		mbuf_append(&out, buf, (size_t)n);
	close(fd);
	if (n == -1 || out.oom || out.len == 0) {
		fprintf(stderr, "halfpipe: admin socket %s: %s\n", path,
		    n == -1 ? strerror(errno) : out.oom ? "out of memory" : "no answer");
		rc = 1;
	} else if (out.len >= 7 && memcmp(out.p, "error: ", 7) == 0) {
		fprintf(stderr, "halfpipe: %.*s", (int)(out.len - 7), out.p + 7);
		rc = 1;
	} else
		fwrite(out.p, 1, out.len, stdout);
	mbuf_free(&out);
	return rc;
}

/* SIGHUP and SIGUSR1 ask a running halfpipe for something; before run()
 * reads them (its signalfd), their default action would end it. Blocked
 * from the first instruction on, one that comes while the configuration
 * loads (names resolved, up to 5 s) waits and is acted on once serving: a
 * reload then reads the file again, which may have changed meanwhile. */
static void block_early_signals(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	(void)sigprocmask(SIG_BLOCK, &mask, NULL);
}

int main(int argc, char **argv)
{
	const char *file = NULL, *admin = NULL, *takeover = NULL;
	struct option *longopts = make_longopts();
	struct flag *flags;
	struct conf *c;
	int ch, nflags = 0, check = 0, inspect = 0, idx, rc, done = -1;

	if ((flags = calloc((size_t)argc, sizeof(*flags))) == NULL)
		fatalx("out of memory");
	block_early_signals();
	if (resolve_init() == -1)	/* c-ares, before any thread */
		return 1;
	/* done: the exit status of an option that ends the program there */
	while (done < 0 && (ch = getopt_long(argc, argv, "c:thVs:", longopts, &idx)) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 's':
			admin = optarg;
			break;
		case 'V':
			printf("halfpipe %s\n", HALFPIPE_VERSION);
			done = 0;
			break;
		case 'h':
			usage(stdout);
			done = 0;
			break;
		case OPT_INSPECT:
			inspect = 1;
			break;
		case OPT_DIRECTIVES:
			conf_print_directives(stdout);
			done = 0;
			break;
		case OPT_TAKEOVER:
			takeover = optarg;
			break;
		case OPT_FLAG:
			flags[nflags].name = longopts[idx].name;	/* the table's */
			flags[nflags].value = optarg;
			nflags++;
			break;
		default:
			usage(stderr);
			done = 2;
			break;
		}
	}
	free(longopts);
	if (done >= 0) {
		free(flags);
		return done;
	}
	if (admin != NULL) {
		free(flags);
		return admin_client(admin, argc - optind, argv + optind);
	}
	if (inspect) {
		uint32_t max = HELLO_MAX_DEFAULT;

		for (idx = 0; idx < nflags; idx++)
			if (strcmp(flags[idx].name, "hello-max") == 0)
				max = (uint32_t)strtoul(flags[idx].value, NULL, 10);
		free(flags);
		if (optind >= argc) {
			fputs("halfpipe: --inspect needs at least one FILE\n", stderr);
			return 2;
		}
		return inspect_main(argc - optind, argv + optind, max, stdout, stderr);
	}
	if (optind < argc) {
		fprintf(stderr, "halfpipe: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		free(flags);
		return 2;
	}
	if (file == NULL && nflags == 0) {
		usage(stderr);
		free(flags);
		return 2;
	}
	c = load_conf(file, flags, nflags);
	if (c == NULL || check) {
		resolver_free(main_res);
		main_res = NULL;
	}
	if (c == NULL) {
		free(flags);
		return 1;
	}
	if (check) {
		printf("halfpipe: configuration OK\n");
		conf_unref(c);
		free(flags);
		return 0;
	}
	rc = run(c, file, flags, nflags, takeover);	/* SIGHUP reads file and flags again */
	conf_unref(c);
	free(flags);
	return rc;
}
