/*
 * bench-loadgen: the client end of the halfpipe benchmark (bench/run.py).
 *
 * One thread, one level-triggered epoll loop, non-blocking sockets, IPv4
 * loopback targets only. Every connection sends a captured TLS ClientHello
 * (read from a file) first, as a real client would, then:
 *
 *   cps       C connections at a time; each reads a reply of R bytes, closes,
 *             and is replaced at once, for D seconds. Per-connection latency
 *             (connect() issued to the last reply byte) goes into a
 *             log-linear histogram (1/64 relative precision).
 *             Backend mode: reply.
 *   download  S streams at once, each reads B bytes and then the backend's
 *             FIN; fewer bytes, more bytes or a reset is an error.
 *             Backend mode: source B.
 *   upload    S streams at once, each sends B bytes after the hello, then
 *             reads the backend's 8-byte acknowledgement (the byte count,
 *             big-endian), which must say B. Backend mode: sink B.
 *   hold      open N connections (at most P connecting at once), each waits
 *             for the backend's one-byte answer to its hello; then print a
 *             "ready" JSON line and hold them all, idle, until a line or EOF
 *             on stdin, SIGTERM/SIGINT, or the time limit; a held connection
 *             that the far end closes or resets is counted as dropped.
 *             Backend mode: hold.
 *
 * Results are JSON lines on stdout. Errors are counted by kind: connect
 * (refused, no address, SO_ERROR), reset, short (EOF before the expected
 * bytes), bad (unexpected bytes), timeout (a connection that made no
 * progress within -T seconds).
 *
 * usage: bench-loadgen MODE -a 127.0.0.1:PORT -f HELLO.bin [options]
 *   -c C       cps: concurrent connections (64)
 *   -d D       cps: seconds to run (5)
 *   -r R       cps: reply bytes expected (1024)
 *   -s S       download/upload: streams (1)
 *   -b B       download/upload: bytes per stream (268435456)
 *   -n N       hold: connections (5000)
 *   -p P       hold: connections being set up at once (128)
 *   -T SECONDS per-connection progress timeout (10)
 *   -L SECONDS hard limit for the whole run (120); when it passes, whatever
 *              is unfinished is an error (timeout) and the process exits
 *
 * Every loop is bounded: epoll_wait waits at most 50 ms, read and write
 * loops stop after a fixed number of rounds, runs stop at their duration and
 * at the hard limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS     20000
#define HELLO_MAX   (64 * 1024)
#define IOBUF_LEN   (256 * 1024)
#define IO_ROUNDS   64

#include "bench.h"
#include "hist.h"

/* ---- connections ---- */

enum mode { M_CPS, M_DOWNLOAD, M_UPLOAD, M_HOLD };
enum cstate { C_CONNECTING, C_SENDING, C_READING, C_HELD };

struct conn {
	int             used;
	enum cstate     state;
	double          t_start;     /* connect() issued */
	double          t_progress;  /* last byte moved */
	uint64_t        sent;        /* bytes sent (hello included) */
	uint64_t        to_send;     /* hello + payload */
	uint64_t        got;         /* bytes received */
	uint8_t         ack[8];
};

static struct conn conns[MAX_FDS];
static uint8_t iobuf[IOBUF_LEN];
static int epfd = -1;
static struct sockaddr_in target;

static uint8_t hello[HELLO_MAX];
static size_t hello_len;

static enum mode mode;
static uint64_t opt_bytes = 268435456, opt_reply = 1024;
static int opt_conc = 64, opt_streams = 1, opt_n = 5000, opt_par = 128;
static double opt_dur = 5, opt_timeout = 10, opt_limit = 120;

static struct {
	uint64_t done, started, live;
	uint64_t e_connect, e_reset, e_short, e_bad, e_timeout;
	uint64_t bytes;            /* payload bytes moved by finished streams */
	uint64_t held, dropped;
	double first_start, last_end;
} st;

static uint64_t errors_total(void)
{
	return st.e_connect + st.e_reset + st.e_short + st.e_bad + st.e_timeout;
}

static void conn_free(int fd, int abort)
{
	if (abort) {
		struct linger l = { 1, 0 };
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	}
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	memset(&conns[fd], 0, sizeof conns[fd]);
	st.live--;
}

static int want(int fd, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.fd = fd };
	return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
}

/* Start one connection. 0 on success or a counted error, -1 if out of fds. */
static int conn_start(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		st.e_connect++;
		return -1;
	}
	if (fd >= MAX_FDS) {
		close(fd);
		st.e_connect++;
		return -1;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct conn *c = &conns[fd];
	memset(c, 0, sizeof *c);
	c->used = 1;
	c->t_start = c->t_progress = now_s();
	if (st.started == 0)
		st.first_start = c->t_start;
	st.started++;
	st.live++;
	c->to_send = hello_len + (mode == M_UPLOAD ? opt_bytes : 0);
	c->state = C_CONNECTING;
	struct epoll_event e = { .events = EPOLLOUT, .data.fd = fd };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) == -1) {
		close(fd);
		memset(c, 0, sizeof *c);
		st.live--;
		st.e_connect++;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&target, sizeof target) == -1 && errno != EINPROGRESS) {
		st.e_connect++;
		conn_free(fd, 1);
		return 0;
	}
	return 0;
}

static void conn_fail(int fd, uint64_t *counter)
{
	(*counter)++;
	conn_free(fd, 1);
}

/* A connection finished as it should. */
static void conn_done(int fd)
{
	struct conn *c = &conns[fd];
	double t = now_s();
	if (mode == M_CPS)
		h_record((uint64_t)((t - c->t_start) * 1e6 + 0.5));
	if (mode == M_DOWNLOAD || mode == M_UPLOAD)
		st.bytes += opt_bytes;
	st.done++;
	st.last_end = t;
	conn_free(fd, 0);
}

static void on_writable(int fd)
{
	struct conn *c = &conns[fd];
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err != 0) {
			/* a reset that came in right after the handshake (the proxy
			 * accepted and aborted) is a reset, not a failed connect */
			conn_fail(fd, err == ECONNRESET || err == EPIPE ? &st.e_reset : &st.e_connect);
			return;
		}
		c->state = C_SENDING;
	}
	for (int i = 0; i < IO_ROUNDS && c->sent < c->to_send; i++) {
		const uint8_t *p;
		size_t n;
		if (c->sent < hello_len) {
			p = hello + c->sent;
			n = hello_len - (size_t)c->sent;
		} else {
			uint64_t left = c->to_send - c->sent;
			p = iobuf;
			n = left < IOBUF_LEN ? (size_t)left : IOBUF_LEN;
		}
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c->sent += (uint64_t)w;
			c->t_progress = now_s();
			continue;
		}
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w == -1 && errno == EINTR)
			continue;
		conn_fail(fd, &st.e_reset);
		return;
	}
	if (c->sent < c->to_send)
		return;
	c->state = C_READING;
	if (want(fd, EPOLLIN | EPOLLRDHUP) == -1)
		conn_fail(fd, &st.e_connect);
}

static void on_readable(int fd)
{
	struct conn *c = &conns[fd];
	for (int i = 0; i < IO_ROUNDS; i++) {
		ssize_t r;
		if (mode == M_DOWNLOAD)
			r = recv(fd, NULL, IOBUF_LEN, MSG_TRUNC | MSG_DONTWAIT);
		else if (mode == M_UPLOAD)
			r = recv(fd, c->ack + (c->got < 8 ? c->got : 0), c->got < 8 ? 8 - c->got : 8, MSG_DONTWAIT);
		else
			r = recv(fd, iobuf, IOBUF_LEN, MSG_DONTWAIT);
		if (r > 0) {
			c->got += (uint64_t)r;
			c->t_progress = now_s();
			switch (mode) {
			case M_CPS:
				if (c->got > opt_reply) {
					conn_fail(fd, &st.e_bad);
					return;
				}
				if (c->got == opt_reply) {
					conn_done(fd);
					return;
				}
				break;
			case M_DOWNLOAD:
				if (c->got > opt_bytes) {
					conn_fail(fd, &st.e_bad);
					return;
				}
				break; /* done at EOF */
			case M_UPLOAD:
				if (c->got == 8) {
					uint64_t v = 0;
					for (int k = 0; k < 8; k++)
						v = (v << 8) | c->ack[k];
					if (v != opt_bytes) {
						fprintf(stderr, "bench-loadgen: upload acknowledged %" PRIu64
							" bytes of %" PRIu64 "\n", v, opt_bytes);
						conn_fail(fd, &st.e_bad);
					} else {
						conn_done(fd);
					}
					return;
				}
				if (c->got > 8) {
					conn_fail(fd, &st.e_bad);
					return;
				}
				break;
			case M_HOLD:
				if (c->state == C_HELD) {
					/* nothing should come while held */
					st.dropped++;
					st.held--;
					conn_fail(fd, &st.e_bad);
					return;
				}
				if (c->got > 1) {
					conn_fail(fd, &st.e_bad);
					return;
				}
				c->state = C_HELD;
				st.held++;
				st.done++;
				st.last_end = now_s();
				return;
			}
			continue;
		}
		if (r == 0) {
			if (mode == M_DOWNLOAD && c->got == opt_bytes) {
				conn_done(fd);
				return;
			}
			if (mode == M_HOLD && c->state == C_HELD) {
				st.dropped++;
				st.held--;
			}
			conn_fail(fd, &st.e_short);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		if (mode == M_HOLD && c->state == C_HELD) {
			st.dropped++;
			st.held--;
		}
		conn_fail(fd, &st.e_reset);
		return;
	}
}

static void on_event(int fd, uint32_t ev)
{
	struct conn *c = &conns[fd];
	if (!c->used)
		return;
	if (c->state == C_CONNECTING || c->state == C_SENDING) {
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			on_writable(fd);
		return;
	}
	if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
		on_readable(fd);
}

/* Connections that made no progress for opt_timeout are errors. */
static void check_timeouts(double t)
{
	for (int fd = 0; fd < MAX_FDS; fd++) {
		struct conn *c = &conns[fd];
		if (c->used && c->state != C_HELD && t - c->t_progress > opt_timeout)
			conn_fail(fd, &st.e_timeout);
	}
}

static int load_hello(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		return -1;
	}
	hello_len = fread(hello, 1, sizeof hello, f);
	int bad = ferror(f) || hello_len == 0 || !feof(f);
	fclose(f);
	if (bad) {
		fprintf(stderr, "bench-loadgen: %s: empty, unreadable or over %d bytes\n", path, HELLO_MAX);
		return -1;
	}
	return 0;
}

static void print_errors(void)
{
	printf("\"errors\":%" PRIu64 ",\"err_connect\":%" PRIu64 ",\"err_reset\":%" PRIu64
	       ",\"err_short\":%" PRIu64 ",\"err_bad\":%" PRIu64 ",\"err_timeout\":%" PRIu64,
	       errors_total(), st.e_connect, st.e_reset, st.e_short, st.e_bad, st.e_timeout);
}

static void close_all(int abort)
{
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (conns[fd].used)
			conn_free(fd, abort);
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *hello_path = NULL;
	if (argc < 2)
		goto usage;
	if (strcmp(argv[1], "cps") == 0)
		mode = M_CPS;
	else if (strcmp(argv[1], "download") == 0)
		mode = M_DOWNLOAD;
	else if (strcmp(argv[1], "upload") == 0)
		mode = M_UPLOAD;
	else if (strcmp(argv[1], "hold") == 0)
		mode = M_HOLD;
	else
		goto usage;
	optind = 2;
	int opt;
	while ((opt = getopt(argc, argv, "a:f:c:d:r:s:b:n:p:T:L:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'f': hello_path = optarg; break;
		case 'c': opt_conc = atoi(optarg); break;
		case 'd': opt_dur = atof(optarg); break;
		case 'r': opt_reply = strtoull(optarg, NULL, 10); break;
		case 's': opt_streams = atoi(optarg); break;
		case 'b': opt_bytes = strtoull(optarg, NULL, 10); break;
		case 'n': opt_n = atoi(optarg); break;
		case 'p': opt_par = atoi(optarg); break;
		case 'T': opt_timeout = atof(optarg); break;
		case 'L': opt_limit = atof(optarg); break;
		default: goto usage;
		}
	}
	if (addr == NULL || hello_path == NULL || optind != argc)
		goto usage;
	if (bench_target(addr, &target) == -1) {
		fprintf(stderr, "bench-loadgen: -a must be 127.x.y.z:PORT\n");
		return 2;
	}
	if (opt_conc < 1 || opt_conc > 4096 || opt_streams < 1 || opt_streams > 1024 ||
	    opt_n < 1 || opt_n > MAX_FDS - 100 || opt_par < 1 || opt_dur <= 0 ||
	    opt_timeout <= 0 || opt_limit <= 0 || opt_bytes == 0 || opt_reply == 0 ||
	    opt_reply > IOBUF_LEN)
		goto usage;
	if (load_hello(hello_path) == -1)
		return 2;
	for (size_t i = 0; i < sizeof iobuf; i++)
		iobuf[i] = (uint8_t)(i * 131 + 7);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd == -1 || epfd == -1) {
		perror("bench-loadgen: epoll/signalfd");
		return 1;
	}
	struct epoll_event e = { .events = EPOLLIN, .data.fd = sfd };
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &e);

	double t0 = now_s();
	double hard_end = t0 + opt_limit;
	double run_end = mode == M_CPS ? t0 + opt_dur : hard_end;
	uint64_t total = mode == M_CPS ? UINT64_MAX :
			 mode == M_HOLD ? (uint64_t)opt_n : (uint64_t)opt_streams;
	uint64_t par = mode == M_CPS ? (uint64_t)opt_conc :
		       mode == M_HOLD ? (uint64_t)opt_par : (uint64_t)opt_streams;
	int stopped_by_signal = 0;
	double last_check = t0;
	struct epoll_event evs[256];

	/* the run: keep `par` connections in progress until `total` were started */
	for (;;) {
		double t = now_s();
		if (t >= run_end || t >= hard_end)
			break;
		uint64_t in_progress = st.live - (mode == M_HOLD ? st.held : 0);
		while (st.started < total && in_progress < par) {
			if (conn_start() == -1)
				break;
			in_progress++;
		}
		if (st.started >= total && st.live == (mode == M_HOLD ? st.held : 0))
			break; /* every connection finished (or, hold: is held) */
		int n = epoll_wait(epfd, evs, 256, 50);
		if (n == -1 && errno != EINTR) {
			perror("bench-loadgen: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.fd == sfd) {
				stopped_by_signal = 1;
				goto run_over;
			}
			on_event(evs[i].data.fd, evs[i].events);
		}
		t = now_s();
		if (t - last_check > 0.1) {
			check_timeouts(t);
			last_check = t;
		}
	}
run_over:;
	double t_end = now_s();
	if (mode == M_CPS) {
		/* connections still running at the end are not counted either way */
		close_all(1);
		double secs = t_end - t0;
		printf("{\"mode\":\"cps\",\"hello_bytes\":%zu,\"concurrency\":%d,\"seconds\":%.3f,"
		       "\"conns\":%" PRIu64 ",\"cps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
		       "\"p99_us\":%.1f,\"max_us\":%" PRIu64 ",",
		       hello_len, opt_conc, secs, st.done, (double)st.done / secs,
		       h_percentile(0.50), h_percentile(0.90), h_percentile(0.99), hist_max);
		print_errors();
		printf(",\"signal\":%s}\n", stopped_by_signal ? "true" : "false");
		return 0;
	}
	if (mode == M_DOWNLOAD || mode == M_UPLOAD) {
		uint64_t unfinished = st.live;
		st.e_timeout += unfinished; /* ran out of the hard limit */
		close_all(1);
		double secs = st.done > 0 ? st.last_end - st.first_start : t_end - t0;
		if (secs <= 0)
			secs = 1e-9;
		printf("{\"mode\":\"%s\",\"hello_bytes\":%zu,\"streams\":%d,\"bytes_per_stream\":%" PRIu64
		       ",\"finished\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.3f,\"mbps\":%.1f,",
		       mode == M_DOWNLOAD ? "download" : "upload", hello_len, opt_streams, opt_bytes,
		       st.done, st.bytes, secs, (double)st.bytes / secs / 1e6);
		print_errors();
		printf(",\"signal\":%s}\n", stopped_by_signal ? "true" : "false");
		return 0;
	}

	/* hold: report, then wait for stdin / a signal / the hard limit */
	uint64_t unfinished = st.live - st.held;
	if (unfinished > 0) {
		for (int fd = 0; fd < MAX_FDS; fd++)
			if (conns[fd].used && conns[fd].state != C_HELD)
				conn_fail(fd, &st.e_timeout);
	}
	printf("{\"mode\":\"hold\",\"event\":\"ready\",\"hello_bytes\":%zu,\"wanted\":%d,\"held\":%" PRIu64
	       ",\"seconds\":%.3f,", hello_len, opt_n, st.held, t_end - t0);
	print_errors();
	printf("}\n");
	fflush(stdout);
	if (!stopped_by_signal) {
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		e.events = EPOLLIN;
		e.data.fd = 0;
		int watch_stdin = epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e) == 0;
		uint64_t rounds = 0;
		while (now_s() < hard_end && rounds++ < 100000000) {
			int n = epoll_wait(epfd, evs, 256, 200);
			if (n == -1 && errno != EINTR)
				break;
			int stop = 0;
			for (int i = 0; i < n; i++) {
				int fd = evs[i].data.fd;
				if (fd == sfd) {
					stop = 1;
				} else if (watch_stdin && fd == 0) {
					char buf[256];
					ssize_t r = read(0, buf, sizeof buf);
					if (r == 0 || (r > 0 && memchr(buf, '\n', (size_t)r)) ||
					    (r == -1 && errno != EAGAIN && errno != EINTR))
						stop = 1;
				} else {
					on_event(fd, evs[i].events);
				}
			}
			if (stop)
				break;
		}
	}
	uint64_t held_at_end = st.held;
	close_all(0);
	printf("{\"mode\":\"hold\",\"event\":\"done\",\"held\":%" PRIu64 ",\"dropped\":%" PRIu64 ",",
	       held_at_end, st.dropped);
	print_errors();
	printf("}\n");
	return 0;
usage:
	fprintf(stderr,
		"usage: bench-loadgen cps|download|upload|hold -a 127.0.0.1:PORT -f HELLO.bin\n"
		"       [-c CONC] [-d SECONDS] [-r REPLY_BYTES] [-s STREAMS] [-b BYTES_PER_STREAM]\n"
		"       [-n HOLD_CONNS] [-p SETUP_PARALLEL] [-T CONN_TIMEOUT] [-L HARD_LIMIT]\n");
	return 2;
}
