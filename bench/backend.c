/*
 * bench-backend: the server end of the halfpipe benchmark (bench/run.py).
 *
 * One thread, one epoll loop, non-blocking sockets. Listens on 127.0.0.1,
 * port 0 (the kernel picks), and prints the port on stdout as the first line.
 * Every connection first reads a TLS ClientHello (walking record headers until
 * the first handshake message is covered), then behaves according to the mode
 * that was current when it was accepted:
 *
 *   reply        send a 1 KiB reply, then read until the client's FIN, close
 *   sink [N]     read and discard everything; with N, after N bytes past the
 *                hello send the 8-byte big-endian count as an acknowledgement,
 *                then read to EOF; without N, read to EOF and close
 *   source N     send N bytes, then close (FIN)
 *   hold         send one byte (so the client knows the whole path is up),
 *                then keep the connection open and idle until the peer closes
 *
 * With -u it also answers UDP (the QUIC rows, bench/quicload.c) on a socket of
 * its own, 127.0.0.1 port 0, whose port is the second line on stdout. Each
 * datagram is read (recvmmsg, a batch at a time) and, in the UDP mode:
 *
 *   udp echo     sent back to its source as it came (sendmmsg): a QUIC
 *                server's answer to an Initial, of the same size
 *   udp sink     counted only
 *
 * usage: bench-backend [-t SECONDS] [-s] [-u] MODE [N]
 *   -t SECONDS   exit after this long whatever happens (default 600)
 *   -s           control on stdin: each line is a new mode for connections
 *                accepted from then on ("reply", "sink N", "source N",
 *                "hold"), a UDP mode ("udp echo", "udp sink") or "stats",
 *                which prints a JSON line of counters; every command is
 *                answered with one line on stdout; EOF on stdin ends the
 *                process
 *   -u           the UDP socket too
 * SIGTERM or SIGINT ends it too; it prints a last JSON line of counters.
 *
 * Every loop is bounded: epoll_wait waits at most 200 ms, accept, read and
 * write loops stop after a fixed number of rounds (epoll is level-triggered,
 * so what is left is reported again), and the whole process stops at the
 * time limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
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

#include "bench.h"

#define MAX_FDS         20000
#define HELLO_CAP       (16 * 1024 + 64) /* enough for any real ClientHello */
#define REPLY_LEN       1024
#define IOBUF_LEN       (256 * 1024)
#define ACCEPT_ROUNDS   512
#define IO_ROUNDS       64
#define UDP_BATCH       64
#define UDP_DGRAM_MAX   2048
#define UDP_BUF         (8 * 1024 * 1024) /* socket buffers: a blast is not lost here */

enum mode { M_REPLY, M_SINK, M_SOURCE, M_HOLD };
enum phase { PH_HELLO, PH_SEND, PH_DRAIN };

struct conn {
	int             used;
	enum mode       mode;
	enum phase      phase;
	uint64_t        n;          /* sink: bytes to ack after (0: none); source: bytes to send */
	uint64_t        count;      /* payload bytes received (sink) or sent (source) */
	uint32_t        hlen;       /* hello bytes gathered */
	uint8_t        *hello;      /* HELLO_CAP bytes while in PH_HELLO */
	uint8_t         out[8];     /* small pending message (ack) */
	uint32_t        outlen, outoff;
	uint64_t        sendlen, sendoff; /* bytes of the bulk/reply send */
};

static struct conn conns[MAX_FDS];
static uint8_t iobuf[IOBUF_LEN];
static int epfd = -1;

static enum mode cur_mode = M_REPLY;
static uint64_t cur_n;
static int udp_echo = 1;	/* "udp echo" (1) or "udp sink" (0) */

static struct {
	uint64_t accepted, closed, hello_ok, hello_bad, resets, errors;
	uint64_t bytes_in, bytes_out, acks, sources_done, live, live_max;
	uint64_t udp_in, udp_bytes_in, udp_out, udp_bytes_out, udp_errors;
} st;

static const char *mode_name(enum mode m)
{
	switch (m) {
	case M_REPLY: return "reply";
	case M_SINK: return "sink";
	case M_SOURCE: return "source";
	case M_HOLD: return "hold";
	}
	return "?";
}

static void print_stats(const char *what)
{
	printf("{\"event\":\"%s\",\"mode\":\"%s\",\"n\":%" PRIu64 ",\"accepted\":%" PRIu64
	       ",\"closed\":%" PRIu64 ",\"live\":%" PRIu64 ",\"live_max\":%" PRIu64
	       ",\"hello_ok\":%" PRIu64 ",\"hello_bad\":%" PRIu64 ",\"resets\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
	       ",\"acks\":%" PRIu64 ",\"sources_done\":%" PRIu64 ",\"udp\":\"%s\""
	       ",\"udp_in\":%" PRIu64 ",\"udp_bytes_in\":%" PRIu64 ",\"udp_out\":%" PRIu64
	       ",\"udp_bytes_out\":%" PRIu64 ",\"udp_errors\":%" PRIu64 "}\n",
	       what, mode_name(cur_mode), cur_n, st.accepted, st.closed, st.live, st.live_max,
	       st.hello_ok, st.hello_bad, st.resets, st.errors, st.bytes_in, st.bytes_out,
	       st.acks, st.sources_done, udp_echo ? "echo" : "sink", st.udp_in, st.udp_bytes_in,
	       st.udp_out, st.udp_bytes_out, st.udp_errors);
	fflush(stdout);
}

/* Parse "reply" | "sink [N]" | "source N" | "hold". 0 on success, -1 otherwise. */
static int parse_mode(const char *name, const char *arg, enum mode *m, uint64_t *n)
{
	char *end;
	*n = 0;
	if (arg != NULL && *arg != '\0') {
		errno = 0;
		unsigned long long v = strtoull(arg, &end, 10);
		if (errno != 0 || *end != '\0')
			return -1;
		*n = v;
	}
	if (strcmp(name, "reply") == 0)
		*m = M_REPLY;
	else if (strcmp(name, "sink") == 0)
		*m = M_SINK;
	else if (strcmp(name, "source") == 0 && *n > 0)
		*m = M_SOURCE;
	else if (strcmp(name, "hold") == 0)
		*m = M_HOLD;
	else
		return -1;
	return 0;
}

static void conn_close(int fd, int abort)
{
	struct conn *c = &conns[fd];
	if (abort) {
		struct linger l = { 1, 0 };
		(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	}
	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	free(c->hello);
	memset(c, 0, sizeof *c);
	st.closed++;
	st.live--;
}

/*
 * Is the ClientHello in c->hello complete? Walks the TLS records: each has a
 * 5-byte header (type 22, version, 16-bit length); the handshake message
 * header (type 1, 24-bit length) starts the payload of the first record and
 * the message may continue over further records. Returns the number of bytes
 * the records that complete it take, 0 if more bytes are needed, -1 if this is
 * not a TLS handshake.
 */
static long hello_complete(const uint8_t *p, uint32_t len)
{
	uint32_t pos = 0, hs_have = 0, hs_need = 0;
	uint8_t hs_hdr[4];
	uint32_t hdr_have = 0;
	int rounds = 0;

	while (pos + 5 <= len && rounds++ < 4096) {
		if (p[pos] != 22 || p[pos + 1] != 3)
			return -1;
		uint32_t rlen = ((uint32_t)p[pos + 3] << 8) | p[pos + 4];
		if (rlen == 0)
			return -1;
		if (pos + 5 + rlen > len)
			return 0;
		for (uint32_t i = 0; i < rlen && hdr_have < 4; i++)
			hs_hdr[hdr_have++] = p[pos + 5 + i];
		hs_have += rlen;
		pos += 5 + rlen;
		if (hdr_have == 4) {
			if (hs_hdr[0] != 1)
				return -1;
			hs_need = 4 + (((uint32_t)hs_hdr[1] << 16) | ((uint32_t)hs_hdr[2] << 8) | hs_hdr[3]);
			if (hs_have >= hs_need)
				return (long)pos;
		}
	}
	if (len >= HELLO_CAP)
		return -1;
	return 0;
}

static int want(int fd, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.fd = fd };
	return epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &e);
}

/* Read to EOF, discarding (MSG_TRUNC: the kernel drops the bytes, no copy). */
static void drain_read(int fd)
{
	struct conn *c = &conns[fd];
	for (int i = 0; i < IO_ROUNDS; i++) {
		ssize_t r = recv(fd, NULL, IOBUF_LEN, MSG_TRUNC | MSG_DONTWAIT);
		if (r > 0) {
			st.bytes_in += (uint64_t)r;
			if (c->mode == M_SINK) {
				c->count += (uint64_t)r;
				if (c->n > 0 && c->outlen == 0 && c->count >= c->n) {
					for (int k = 0; k < 8; k++)
						c->out[k] = (uint8_t)(c->count >> (56 - 8 * k));
					c->outlen = 8;
					c->outoff = 0;
					ssize_t w = send(fd, c->out, 8, MSG_NOSIGNAL | MSG_DONTWAIT);
					if (w == 8) {
						c->outoff = 8;
						st.acks++;
					} else {
						/* 8 bytes into an idle socket always fit; treat as error */
						st.errors++;
						conn_close(fd, 1);
						return;
					}
				}
			}
			continue;
		}
		if (r == 0) {
			conn_close(fd, 0);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			st.resets++;
		else
			st.errors++;
		conn_close(fd, 1);
		return;
	}
}

/* Send what is pending of the reply or the source stream. */
static void pump_send(int fd)
{
	struct conn *c = &conns[fd];
	for (int i = 0; i < IO_ROUNDS && c->sendoff < c->sendlen; i++) {
		uint64_t left = c->sendlen - c->sendoff;
		size_t n = left < IOBUF_LEN ? (size_t)left : IOBUF_LEN;
		ssize_t w = send(fd, iobuf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			c->sendoff += (uint64_t)w;
			st.bytes_out += (uint64_t)w;
			continue;
		}
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return; /* EPOLLOUT (edge) will call again */
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == ECONNRESET || errno == EPIPE))
			st.resets++;
		else
			st.errors++;
		conn_close(fd, 1);
		return;
	}
	if (c->sendoff < c->sendlen)
		return; /* round bound reached: level-triggered EPOLLOUT calls again */
	if (c->mode == M_SOURCE) {
		st.sources_done++;
		/* FIN, then wait for the client's FIN (or reset) before closing */
		if (shutdown(fd, SHUT_WR) == -1) {
			st.errors++;
			conn_close(fd, 1);
			return;
		}
	}
	c->phase = PH_DRAIN;
	if (want(fd, EPOLLIN | EPOLLRDHUP) == -1) {
		st.errors++;
		conn_close(fd, 1);
		return;
	}
	drain_read(fd);
}

static void after_hello(int fd, const uint8_t *extra, uint32_t nextra)
{
	struct conn *c = &conns[fd];
	free(c->hello);
	c->hello = NULL;
	st.hello_ok++;
	switch (c->mode) {
	case M_REPLY:
		c->sendlen = REPLY_LEN;
		goto send;
	case M_SOURCE:
		c->sendlen = c->n;
		goto send;
	case M_HOLD: {
		ssize_t w = send(fd, "h", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w != 1) {
			st.errors++;
			conn_close(fd, 1);
			return;
		}
		st.bytes_out++;
		c->phase = PH_DRAIN;
		drain_read(fd);
		return;
	}
	case M_SINK:
		c->phase = PH_DRAIN;
		c->count = nextra;
		st.bytes_in += nextra;
		(void)extra;
		if (c->n > 0 && c->count >= c->n) {
			for (int k = 0; k < 8; k++)
				c->out[k] = (uint8_t)(c->count >> (56 - 8 * k));
			c->outlen = 8;
			if (send(fd, c->out, 8, MSG_NOSIGNAL | MSG_DONTWAIT) != 8) {
				st.errors++;
				conn_close(fd, 1);
				return;
			}
			st.acks++;
		}
		drain_read(fd);
		return;
	}
	return;
send:
	c->phase = PH_SEND;
	if (want(fd, EPOLLOUT) == -1) {
		st.errors++;
		conn_close(fd, 1);
		return;
	}
	pump_send(fd);
}

static void on_hello_readable(int fd)
{
	struct conn *c = &conns[fd];
	for (int i = 0; i < IO_ROUNDS; i++) {
		ssize_t r = recv(fd, c->hello + c->hlen, HELLO_CAP - c->hlen, MSG_DONTWAIT);
		if (r > 0) {
			c->hlen += (uint32_t)r;
			st.bytes_in += (uint64_t)r;
			long done = hello_complete(c->hello, c->hlen);
			if (done < 0) {
				st.hello_bad++;
				conn_close(fd, 1);
				return;
			}
			if (done > 0) {
				st.bytes_in -= (uint64_t)(c->hlen - (uint32_t)done); /* recounted as payload */
				after_hello(fd, c->hello + done, c->hlen - (uint32_t)done);
				return;
			}
			continue;
		}
		if (r == 0) {
			st.hello_bad++;
			conn_close(fd, 0);
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			st.resets++;
		else
			st.errors++;
		conn_close(fd, 1);
		return;
	}
}

static void on_event(int fd, uint32_t ev)
{
	struct conn *c = &conns[fd];
	if (!c->used)
		return;
	if (c->phase == PH_HELLO) {
		if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR))
			on_hello_readable(fd);
		return;
	}
	if (c->phase == PH_SEND) {
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			pump_send(fd);
		/* still sending: a reset shows up as a send error; ignore input */
		return;
	}
	if (ev & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
		drain_read(fd);
}

static void on_accept(int lfd)
{
	for (int i = 0; i < ACCEPT_ROUNDS; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			st.errors++;
			return; /* EMFILE etc.: the next wakeup retries */
		}
		if (fd >= MAX_FDS) {
			st.errors++;
			close(fd);
			continue;
		}
		struct conn *c = &conns[fd];
		memset(c, 0, sizeof *c);
		c->hello = malloc(HELLO_CAP);
		if (c->hello == NULL) {
			st.errors++;
			close(fd);
			continue;
		}
		c->used = 1;
		c->mode = cur_mode;
		c->n = cur_n;
		c->phase = PH_HELLO;
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) == -1) {
			st.errors++;
			free(c->hello);
			memset(c, 0, sizeof *c);
			close(fd);
			continue;
		}
		st.accepted++;
		st.live++;
		if (st.live > st.live_max)
			st.live_max = st.live;
		on_hello_readable(fd);
	}
}

/* UDP datagrams, a few batches per wakeup (level-triggered: what is left
 * comes next turn); in echo mode each goes back to its source. */
static void on_udp(int ufd)
{
	static uint8_t bufs[UDP_BATCH][UDP_DGRAM_MAX];
	static struct sockaddr_in from[UDP_BATCH];
	static struct iovec iov[UDP_BATCH];
	static struct mmsghdr msg[UDP_BATCH];

	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < UDP_BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = UDP_DGRAM_MAX;
			memset(&msg[i].msg_hdr, 0, sizeof msg[i].msg_hdr);
			msg[i].msg_hdr.msg_name = &from[i];
			msg[i].msg_hdr.msg_namelen = sizeof from[i];
			msg[i].msg_hdr.msg_iov = &iov[i];
			msg[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(ufd, msg, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				st.udp_errors++;	/* an ICMP error for an earlier echo */
			return;
		}
		for (int i = 0; i < n; i++) {
			st.udp_in++;
			st.udp_bytes_in += msg[i].msg_len;
			iov[i].iov_len = msg[i].msg_len;	/* the echo: as it came */
		}
		for (int off = 0; udp_echo && off < n;) {
			int w = sendmmsg(ufd, msg + off, (unsigned)(n - off), MSG_DONTWAIT);
			if (w == -1) {
				st.udp_errors += (uint64_t)(n - off);	/* full or refused: lost */
				break;
			}
			for (int i = off; i < off + w; i++) {
				st.udp_out++;
				st.udp_bytes_out += iov[i].iov_len;
			}
			off += w;
		}
		if (n < UDP_BATCH)
			return;
	}
}

/* stdin control: returns -1 on EOF (the caller exits). */
static int on_stdin(char *line, size_t *linelen)
{
	for (int i = 0; i < 16; i++) {
		ssize_t r = read(0, line + *linelen, 255 - *linelen);
		if (r == 0)
			return -1;
		if (r == -1)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		*linelen += (size_t)r;
		char *nl;
		while ((nl = memchr(line, '\n', *linelen)) != NULL) {
			*nl = '\0';
			char *name = strtok(line, " \t\r");
			char *arg = name ? strtok(NULL, " \t\r") : NULL;
			enum mode m;
			uint64_t n;
			if (name == NULL) {
				printf("{\"event\":\"error\",\"what\":\"empty command\"}\n");
				fflush(stdout);
			} else if (strcmp(name, "stats") == 0) {
				print_stats("stats");
			} else if (strcmp(name, "udp") == 0 && arg != NULL &&
				   (strcmp(arg, "echo") == 0 || strcmp(arg, "sink") == 0)) {
				udp_echo = strcmp(arg, "echo") == 0;
				print_stats("mode");
			} else if (parse_mode(name, arg, &m, &n) == 0) {
				cur_mode = m;
				cur_n = n;
				print_stats("mode");
			} else {
				printf("{\"event\":\"error\",\"what\":\"bad command\"}\n");
				fflush(stdout);
			}
			size_t used = (size_t)(nl - line) + 1;
			memmove(line, line + used, *linelen - used);
			*linelen -= used;
		}
		if (*linelen >= 255)
			*linelen = 0; /* overlong line: drop it */
	}
	return 0;
}

int main(int argc, char **argv)
{
	double limit = 600;
	int control = 0, udp = 0;
	int opt;
	while ((opt = getopt(argc, argv, "t:su")) != -1) {
		switch (opt) {
		case 't': limit = atof(optarg); break;
		case 's': control = 1; break;
		case 'u': udp = 1; break;
		default: goto usage;
		}
	}
	if (optind >= argc || argc - optind > 2 || limit <= 0)
		goto usage;
	if (parse_mode(argv[optind], optind + 1 < argc ? argv[optind + 1] : NULL, &cur_mode, &cur_n) == -1)
		goto usage;

	for (size_t i = 0; i < sizeof iobuf; i++)
		iobuf[i] = (uint8_t)(i * 131 + 7);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd == -1 || sfd == -1) {
		perror("bench-backend: socket");
		return 1;
	}
	int one = 1;
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0 };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t salen = sizeof sa;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) == -1 || listen(lfd, 4096) == -1 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) == -1) {
		perror("bench-backend: bind/listen");
		return 1;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd == -1) {
		perror("bench-backend: epoll_create1");
		return 1;
	}
	struct epoll_event e = { .events = EPOLLIN, .data.fd = lfd };
	epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &e);
	e.data.fd = sfd;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &e);
	if (control) {
		fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
		e.data.fd = 0;
		e.events = EPOLLIN;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e) == -1) {
			perror("bench-backend: -s needs stdin to be a pipe or a terminal");
			return 1;
		}
	}
	int ufd = -1;
	if (udp) {
		struct sockaddr_in ua = { .sin_family = AF_INET, .sin_port = 0 };
		ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t ualen = sizeof ua;
		int sz = UDP_BUF;
		ufd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (ufd == -1 || bind(ufd, (struct sockaddr *)&ua, sizeof ua) == -1 ||
		    getsockname(ufd, (struct sockaddr *)&ua, &ualen) == -1) {
			perror("bench-backend: udp socket");
			return 1;
		}
		/* root: past net.core.rmem_max; else what the limit allows */
		if (setsockopt(ufd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) == -1)
			(void)setsockopt(ufd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
		if (setsockopt(ufd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) == -1)
			(void)setsockopt(ufd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
		e.data.fd = ufd;
		e.events = EPOLLIN;
		epoll_ctl(epfd, EPOLL_CTL_ADD, ufd, &e);
		printf("%u %u\n", ntohs(sa.sin_port), ntohs(ua.sin_port));
	} else {
		printf("%u\n", ntohs(sa.sin_port));
	}
	fflush(stdout);

	char line[256];
	size_t linelen = 0;
	double deadline = now_s() + limit;
	const char *why = "time-limit";
	struct epoll_event evs[256];
	while (now_s() < deadline) {
		int n = epoll_wait(epfd, evs, 256, 200);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			perror("bench-backend: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				on_accept(lfd);
			} else if (fd == ufd) {
				on_udp(ufd);
			} else if (fd == sfd) {
				why = "signal";
				goto out;
			} else if (control && fd == 0) {
				if (on_stdin(line, &linelen) == -1) {
					why = "stdin-eof";
					goto out;
				}
			} else {
				on_event(fd, evs[i].events);
			}
		}
	}
out:
	for (int fd = 0; fd < MAX_FDS; fd++)
		if (conns[fd].used)
			conn_close(fd, 1);
	print_stats(why);
	return 0;
usage:
	fprintf(stderr, "usage: bench-backend [-t SECONDS] [-s] [-u] reply|sink [N]|source N|hold\n");
	return 2;
}
