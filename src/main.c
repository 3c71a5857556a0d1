/* halfpipe: command line, start-up, signals and the event loop. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "conf.h"
#include "inspect.h"
#include "listener.h"
#include "log.h"
#include "session.h"

#define HALFPIPE_VERSION "0.1.0"

static const char usage_text[] =
"usage: halfpipe -c FILE            run in the foreground, logs to stderr\n"
"       halfpipe -t -c FILE         check the config: exit 0, or 1 with every error\n"
"       halfpipe -V | -h            version | usage\n"
"       halfpipe --listen ADDR:PORT --route NAME=HOST:PORT [--route ...]\n"
"                [--default HOST:PORT|reject] [--hello-timeout D]\n"
"                [--connect-timeout D] [--idle-timeout D]\n"
"                [--half-closed-timeout D] [--drain-timeout D]\n"
"                [--access-log FILE|-] [--hello-max BYTES]\n"
"                                   one listener without a file (flags override the file)\n"
"       halfpipe --inspect FILE...  classify captured client bytes:\n"
"                                   FILE<TAB>VERDICT<TAB>SNI<TAB>ALPN\n"
"       halfpipe --directives       list every configuration directive\n";

enum { OPT_INSPECT = 256, OPT_DIRECTIVES, OPT_FLAG };

/* Configuration flags share their names with the file's directives. */
static const struct option longopts[] = {
	{ "inspect",		no_argument,		NULL, OPT_INSPECT },
	{ "directives",		no_argument,		NULL, OPT_DIRECTIVES },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "listen",		required_argument,	NULL, OPT_FLAG },
	{ "route",		required_argument,	NULL, OPT_FLAG },
	{ "default",		required_argument,	NULL, OPT_FLAG },
	{ "hello-timeout",	required_argument,	NULL, OPT_FLAG },
	{ "connect-timeout",	required_argument,	NULL, OPT_FLAG },
	{ "idle-timeout",	required_argument,	NULL, OPT_FLAG },
	{ "half-closed-timeout", required_argument,	NULL, OPT_FLAG },
	{ "drain-timeout",	required_argument,	NULL, OPT_FLAG },
	{ "access-log",		required_argument,	NULL, OPT_FLAG },
	{ "hello-max",		required_argument,	NULL, OPT_FLAG },
	{ NULL, 0, NULL, 0 }
};

struct flag {
	const char	*name, *value;
};

static struct conf *load_conf(const char *file, const struct flag *flags, int nflags)
{
	struct conf *c = conf_new();
	int i, errs = 0;

	if (c == NULL)
		fatalx("out of memory");
	if (file != NULL)
		errs += conf_load_file(c, file, stderr);
	for (i = 0; i < nflags; i++)
		errs += conf_apply_flag(c, flags[i].name, flags[i].value, stderr);
	if (errs == 0)
		errs += conf_finish(c, stderr);
	if (errs != 0) {
		fprintf(stderr, "halfpipe: %d error%s in the configuration\n", errs,
		    errs == 1 ? "" : "s");
		conf_free(c);
		return NULL;
	}
	return c;
}

static FILE *open_access_log(const char *path)
{
	FILE *f;

	if (path == NULL || strcmp(path, "-") == 0)
		return stdout;
	if (strcmp(path, "off") == 0)
		return NULL;
	if ((f = fopen(path, "a")) == NULL)
		fatal("access-log %s", path);
	return f;
}

struct sigev {
	struct ev	 ev;
	int		 fd;
	struct worker	*w;
	struct listener	*ls;
	size_t		 nls;
};

static void on_signal(struct ev *ev, uint32_t events)
{
	struct sigev *se = (struct sigev *)ev;
	struct signalfd_siginfo si;
	struct worker *w = se->w;
	size_t i;

	(void)events;
	while (read(se->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo != SIGTERM && si.ssi_signo != SIGINT)
			continue;
		if (w->draining) {
			log_info("second signal: ending %llu connections now",
			    (unsigned long long)w->nlive);
			w->drain_expire = w->now;
			continue;
		}
		w->draining = 1;
		w->drain_expire = tick_add(w->now, w->conf->drain_timeout_ms);
		for (i = 0; i < se->nls; i++)
			listener_close(&se->ls[i]);
		log_info("signal %u: draining %llu connections for up to %u ms",
		    si.ssi_signo, (unsigned long long)w->nlive, w->conf->drain_timeout_ms);
	}
}

static int run(const struct conf *c)
{
	struct worker w;
	struct listener *ls;
	struct sigev se;
	sigset_t mask;
	size_t i, j, nls = 0;

	memset(&w, 0, sizeof(w));
	w.conf = c;
	w.pool.max_free = 1024;
	w.now = tick_now();
	if (loop_init(&w.loop) == -1)
		fatal("epoll_create1");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	memset(&se, 0, sizeof(se));
	se.ev.fn = on_signal;
	se.w = &w;
	if ((se.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	if (loop_add(&w.loop, se.fd, EPOLLIN, &se.ev) == -1)
		fatal("epoll_ctl");

	for (i = 0; i < c->nlisteners; i++)
		nls += c->listeners[i].naddr;
	if ((ls = calloc(nls ? nls : 1, sizeof(*ls))) == NULL)
		fatalx("out of memory");
	for (i = 0, nls = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].naddr; j++)
			if (listener_open(&ls[nls++], &w, &c->listeners[i], (int)j) == -1)
				fatalx("cannot listen on %s", c->listeners[i].addrname[j]);
	se.ls = ls;
	se.nls = nls;
	w.access = open_access_log(c->access_log);

	for (;;) {
		tick_t next = timer_next(&w.timers);

		if (w.draining)
			next = tick_first(next, w.drain_expire);
		if (loop_run_once(&w.loop, tick_remain(next, w.now)) == -1)
			fatal("epoll_wait");
		w.now = tick_now();
		session_run_timers(&w);
		if (w.draining && tick_is_expired(w.drain_expire, w.now))
			session_drain_deadline(&w);
		session_reap(&w);
		if (w.access != NULL)
			fflush(w.access);
		if (w.draining && w.nlive == 0)
			break;
	}
	log_info("drained: exiting");
	for (i = 0; i < nls; i++)
		listener_close(&ls[i]);
	free(ls);
	if (w.access != NULL && w.access != stdout)
		fclose(w.access);
	close(se.fd);
	loop_close(&w.loop);
	timer_heap_free(&w.timers);
	bufpool_drain(&w.pool);
	return 0;
}

int main(int argc, char **argv)
{
	const char *file = NULL;
	struct flag *flags;
	struct conf *c;
	int ch, nflags = 0, check = 0, inspect = 0, idx, rc;

	if ((flags = calloc((size_t)argc, sizeof(*flags))) == NULL)
		fatalx("out of memory");
	while ((ch = getopt_long(argc, argv, "c:thV", longopts, &idx)) != -1) {
		switch (ch) {
		case 'c':
			file = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			printf("halfpipe %s\n", HALFPIPE_VERSION);
			free(flags);
			return 0;
		case 'h':
			fputs(usage_text, stdout);
			free(flags);
			return 0;
		case OPT_INSPECT:
			inspect = 1;
			break;
		case OPT_DIRECTIVES:
			conf_print_directives(stdout);
			free(flags);
			return 0;
		case OPT_FLAG:
			flags[nflags].name = longopts[idx].name;
			flags[nflags].value = optarg;
			nflags++;
			break;
		default:
			fputs(usage_text, stderr);
			free(flags);
			return 2;
		}
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
		fprintf(stderr, "halfpipe: unexpected argument \"%s\"\n%s", argv[optind],
		    usage_text);
		free(flags);
		return 2;
	}
	if (file == NULL && nflags == 0) {
		fputs(usage_text, stderr);
		free(flags);
		return 2;
	}
	c = load_conf(file, flags, nflags);
	free(flags);
	if (c == NULL)
		return 1;
	if (check) {
		printf("halfpipe: configuration OK\n");
		conf_free(c);
		return 0;
	}
	rc = run(c);
	conf_free(c);
	return rc;
}
