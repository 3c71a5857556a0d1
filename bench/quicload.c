/*
 * bench-quicload: the QUIC client end of the halfpipe benchmark (bench/run.py,
 * the QUIC rows; issue 17).
 *
 * A flow opens as a real QUIC client's does: with one 1,200-byte datagram
 * holding a client Initial (QUIC v1) whose CRYPTO frame carries a TLS 1.3
 * ClientHello with the server name of -n and ALPN h3, protected with the
 * Initial keys of its Destination Connection ID. The Initials are built by
 * the test builder (tests/unit/quic_build.h), POOL of them with as many
 * DCIDs, before the run, and each is read back at start by halfpipe's own
 * reader (src/quic_initial.c), which must find the name: a proxy that reads
 * Initials gets real ones. The far end is bench-backend -u ("udp echo":
 * every datagram comes back as it went), straight or through the proxy.
 *
 *   flows  C flows at a time, each a client address and port not used
 *          before in the run: one wildcard-bound socket sends each flow's
 *          Initial from its own source address (IP_PKTINFO), flow k from
 *          127.64.0.0 + (k + START) mod 2^22, so a proxy sees a new client
 *          per flow without the load paying a socket per flow. A flow is
 *          answered when a datagram comes back to its address (its latency:
 *          send to answer), lost when none has after -T seconds; a new one
 *          starts in its place. For D seconds; reports answered flows per
 *          second.
 *   bulk   one flow from a connected socket: its Initial (resent every
 *          250 ms, at most 4 times, until answered), then for D seconds
 *          1,200-byte datagrams (a short-header first byte, then a
 *          sequence number), each echoed back. -w W: at most W not yet
 *          echoed at a time, a window (when none comes back for 50 ms the
 *          ones out are counted lost and the window opens again); -w 0: no
 *          window, sent as fast as the socket takes them (a blast), what
 *          comes back counted. Reports the bytes echoed per second (each
 *          way) and the share lost.
 *
 * Results: one JSON line on stdout. Every loop is bounded: poll waits at
 * most 5 ms, batches are at most BATCH datagrams and a few batches a turn,
 * the run stops at its duration and the process at the -L limit.
 *
 * usage: bench-quicload flows|bulk -a 127.0.0.1:PORT [options]
 *   -n SNI     server name of the ClientHello (a.example.test)
 *   -c C       flows: flows in flight at once (64)
 *   -d D       seconds to run (5)
 *   -w W       bulk: window, datagrams (64; 0: none)
 *   -k START   flows: the first source address's index (0); a run on the
 *              same proxy right after another gives its end, so no address
 *              is used twice while the proxy still remembers it
 *   -T SECONDS flows: an unanswered flow is lost after this (1); bulk: the
 *              first answer's wait (1)
 *   -L SECONDS hard limit for the whole run (120)
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "hist.h"
#include "../tests/unit/quic_build.h"

#define DGRAM       1200                /* every datagram, Initials included */
#define POOL        64                  /* Initials built, sent in turn */
#define BATCH       64                  /* datagrams per sendmmsg/recvmmsg */
#define ROUNDS      8                   /* receive batches per turn */
#define RING        (1u << 16)          /* flows remembered by address */
#define ADDR_BASE   0x7f400000u         /* 127.64.0.0 */
#define ADDR_N      (1u << 22)          /* ... to 127.127.255.255 */
#define STALL_S     0.05                /* bulk: no echo this long: the window's out are lost */
#define SOCKBUF     (8 * 1024 * 1024)

static uint8_t pool[POOL][DGRAM];
static struct sockaddr_in target;
static int opt_conc = 64, opt_window = 64;
static double opt_dur = 5, opt_timeout = 1, opt_limit = 120;
static uint64_t opt_start;

/* ---- the Initials ---- */

static uint8_t *put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

/* The ClientHello's extensions between server_name and key_share's key. */
static const uint8_t fixed_ext[] = {
	0, 10, 0, 4, 0, 2, 0x00, 0x1d,                  /* supported_groups: x25519 */
	0, 13, 0, 8, 0, 6, 4, 3, 8, 4, 4, 1,            /* signature_algorithms */
	0, 43, 0, 3, 2, 3, 4,                           /* supported_versions: TLS 1.3 */
	0, 16, 0, 5, 0, 3, 2, 'h', '3',                 /* ALPN: h3 */
	0, 51, 0, 38, 0, 36, 0, 0x1d, 0, 32,            /* key_share: x25519, then its key */
};

/* A TLS 1.3 ClientHello handshake message for sni into out; its size. The
 * extensions a QUIC client sends: server_name, supported_groups,
 * signature_algorithms, supported_versions, ALPN h3, an X25519 key_share
 * and quic_transport_parameters (initial_source_connection_id = scid). */
static size_t client_hello(uint8_t *out, const char *sni, const uint8_t *scid, size_t scid_len)
{
	size_t n = strlen(sni);
	uint8_t *p = out + 4, *ext;

	p = put16(p, 0x0303);
	for (int i = 0; i < 32; i++)
		*p++ = (uint8_t)(i * 7 + 1);                    /* random */
	*p++ = 0;                                               /* legacy_session_id */
	p = put16(p, 6);
	p = put16(p, 0x1301);
	p = put16(p, 0x1302);
	p = put16(p, 0x1303);
	*p++ = 1;                                               /* compression: null */
	*p++ = 0;
	ext = p;
	p += 2;
	p = put16(p, 0);                                        /* server_name */
	p = put16(p, (unsigned)n + 5);
	p = put16(p, (unsigned)n + 3);
	*p++ = 0;
	p = put16(p, (unsigned)n);
	memcpy(p, sni, n);
	p += n;
	memcpy(p, fixed_ext, sizeof fixed_ext);
	p += sizeof fixed_ext;
	for (int i = 0; i < 32; i++)
		*p++ = (uint8_t)(i * 13 + 5);
	p = put16(p, 57);                                       /* quic_transport_parameters */
	p = put16(p, (unsigned)scid_len + 2);
	*p++ = 0x0f;                                            /* initial_source_connection_id */
	*p++ = (uint8_t)scid_len;
	memcpy(p, scid, scid_len);
	p += scid_len;
	put16(ext, (unsigned)(p - ext - 2));
	size_t body = (size_t)(p - out) - 4;
	out[0] = 1;                                             /* client_hello */
	out[1] = (uint8_t)(body >> 16);
	out[2] = (uint8_t)(body >> 8);
	out[3] = (uint8_t)body;
	return body + 4;
}

/* POOL Initials, DCID i for the i-th, each read back by halfpipe's reader:
 * it must say found, with the name. 0, or -1 said. */
static int build_pool(const char *sni)
{
	static struct quic_hello q;     /* 32 KiB */
	uint8_t hello[512], frame[600];
	uint8_t scid[8] = { 's', 'c', 'i', 'd', 0, 0, 0, 1 };
	struct hello_info info;

	if (strlen(sni) == 0 || strlen(sni) > 255) {
		fprintf(stderr, "bench-quicload: -n: 1 to 255 characters\n");
		return -1;
	}
	if (quic_crypto_init() == -1) {
		fprintf(stderr, "bench-quicload: libcrypto lacks what QUIC Initials need\n");
		return -1;
	}
	size_t hl = client_hello(hello, sni, scid, sizeof scid);
	size_t fl = qb_crypto(frame, 0, hello, hl);
	for (unsigned i = 0; i < POOL; i++) {
		uint8_t dcid[8] = { 0xbe, 0x4c, 0x40, 0xad, 0, 0, (uint8_t)(i >> 8), (uint8_t)i };
		if (qb_initial(pool[i], QB_V1, dcid, sizeof dcid, scid, sizeof scid, 0, frame, fl,
		    DGRAM) != DGRAM) {
			fprintf(stderr, "bench-quicload: building Initial %u failed\n", i);
			return -1;
		}
		quic_hello_init(&q, 0);
		if (quic_hello_feed(&q, pool[i], DGRAM, &info) != QUIC_FOUND ||
		    info.sni_len != strlen(sni) || memcmp(info.sni, sni, info.sni_len) != 0) {
			fprintf(stderr, "bench-quicload: Initial %u does not read back (%s)\n", i,
			    quic_verdict_name(q.verdict));
			return -1;
		}
	}
	return 0;
}

static void bufs(int fd)
{
	int sz = SOCKBUF;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
}

static void wait_in(int fd, short ev, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = ev };
	(void)poll(&pfd, 1, ms);
}

/* Receive buffers for one batch: data, and for flows each datagram's
 * destination address (IP_PKTINFO). */
static uint8_t rbuf[BATCH][2048];
static union {
	struct cmsghdr align;
	uint8_t b[CMSG_SPACE(sizeof(struct in_pktinfo))];
} rctl[BATCH];
static struct iovec riov[BATCH];
static struct mmsghdr rmsg[BATCH];

/* recvmmsg one batch; the count, or 0 when nothing is there. */
static int recv_batch(int fd, int pktinfo)
{
	for (int i = 0; i < BATCH; i++) {
		riov[i].iov_base = rbuf[i];
		riov[i].iov_len = sizeof rbuf[i];
		memset(&rmsg[i].msg_hdr, 0, sizeof rmsg[i].msg_hdr);
		rmsg[i].msg_hdr.msg_iov = &riov[i];
		rmsg[i].msg_hdr.msg_iovlen = 1;
		if (pktinfo) {
			rmsg[i].msg_hdr.msg_control = rctl[i].b;
			rmsg[i].msg_hdr.msg_controllen = sizeof rctl[i].b;
		}
	}
	int n = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
	return n == -1 ? 0 : n;
}

/* ---- flows ---- */

enum { F_FREE, F_OUT, F_ANSWERED, F_LOST };

static struct slot {
	uint64_t k;             /* flow number (from 0 in this run) */
	double t0;              /* its Initial sent */
	uint8_t state;
} ring[RING];

static uint32_t flow_addr(uint64_t k)
{
	return ADDR_BASE + (uint32_t)((k + opt_start) % ADDR_N);
}

/* Flow k's slot: by its address (RING divides ADDR_N), as an answer finds it. */
static struct slot *slot_of(uint64_t k)
{
	return &ring[(flow_addr(k) - ADDR_BASE) % RING];
}

static int run_flows(void)
{
	struct {
		uint64_t started, answered, lost, late, stray, send_errors;
	} st = { 0 };
	static union {
		struct cmsghdr align;
		uint8_t b[CMSG_SPACE(sizeof(struct in_pktinfo))];
	} sctl[BATCH];
	static struct iovec siov[BATCH];
	static struct mmsghdr smsg[BATCH];
	int one = 1, fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in any = { .sin_family = AF_INET };

	if (opt_conc > (int)(RING / 2)) {
		fprintf(stderr, "bench-quicload: -c at most %u\n", RING / 2);
		return 2;
	}
	if (fd == -1 || setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one) == -1 ||
	    bind(fd, (struct sockaddr *)&any, sizeof any) == -1) {
		perror("bench-quicload: flows socket");
		return 1;
	}
	bufs(fd);
	double t0 = now_s(), end = t0 + opt_dur, hard = t0 + opt_limit, t = t0;
	uint64_t next = 0, tail = 0;

	while ((t = now_s()) < end && t < hard) {
		/* start flows up to C out, a batch at a time */
		uint64_t out = st.started - st.answered - st.lost;
		int m = 0;
		while (out + (uint64_t)m < (uint64_t)opt_conc && m < BATCH) {
			uint64_t k = next + (uint64_t)m;
			struct slot *s = slot_of(k);
			if (s->state == F_OUT) {        /* out for RING flows: lost */
				s->state = F_LOST;
				st.lost++;
				out--;
			}
			struct in_pktinfo pi = { .ipi_spec_dst.s_addr = htonl(flow_addr(k)) };
			struct cmsghdr *cm = (struct cmsghdr *)sctl[m].b;
			cm->cmsg_level = IPPROTO_IP;
			cm->cmsg_type = IP_PKTINFO;
			cm->cmsg_len = CMSG_LEN(sizeof pi);
			memcpy(CMSG_DATA(cm), &pi, sizeof pi);
			siov[m].iov_base = pool[k % POOL];
			siov[m].iov_len = DGRAM;
			memset(&smsg[m].msg_hdr, 0, sizeof smsg[m].msg_hdr);
			smsg[m].msg_hdr.msg_name = &target;
			smsg[m].msg_hdr.msg_namelen = sizeof target;
			smsg[m].msg_hdr.msg_iov = &siov[m];
			smsg[m].msg_hdr.msg_iovlen = 1;
			smsg[m].msg_hdr.msg_control = sctl[m].b;
			smsg[m].msg_hdr.msg_controllen = sizeof sctl[m].b;
			m++;
		}
		int w = m > 0 ? sendmmsg(fd, smsg, (unsigned)m, MSG_DONTWAIT) : 0;
		if (w == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				st.send_errors++;
			w = 0;
		}
		for (int i = 0; i < w; i++) {
			struct slot *s = slot_of(next + (uint64_t)i);
			s->k = next + (uint64_t)i;
			s->t0 = t;
			s->state = F_OUT;
		}
		next += (uint64_t)w;
		st.started += (uint64_t)w;

		wait_in(fd, POLLIN, 5);
		for (int r = 0; r < ROUNDS; r++) {
			int n = recv_batch(fd, 1);
			double tr = now_s();
			for (int i = 0; i < n; i++) {
				struct cmsghdr *cm = CMSG_FIRSTHDR(&rmsg[i].msg_hdr);
				struct in_pktinfo pi;
				if (cm == NULL || cm->cmsg_level != IPPROTO_IP || cm->cmsg_type != IP_PKTINFO) {
					st.stray++;
					continue;
				}
				memcpy(&pi, CMSG_DATA(cm), sizeof pi);
				uint32_t idx = ntohl(pi.ipi_addr.s_addr) - ADDR_BASE;
				struct slot *s = &ring[idx % RING];
				if (idx >= ADDR_N || s->state == F_FREE || flow_addr(s->k) != idx + ADDR_BASE ||
				    s->state == F_ANSWERED) {
					st.stray++;
				} else if (s->state == F_LOST) {
					st.late++;
				} else {
					s->state = F_ANSWERED;
					st.answered++;
					h_record((uint64_t)((tr - s->t0) * 1e6 + 0.5));
				}
			}
			if (n < BATCH)
				break;
		}
		/* the oldest flows out past -T: lost */
		t = now_s();
		for (int i = 0; i < 4 * BATCH && tail < next; i++) {
			struct slot *s = slot_of(tail);
			if (s->k == tail && s->state == F_OUT) {
				if (t - s->t0 <= opt_timeout)
					break;
				s->state = F_LOST;
				st.lost++;
			}
			tail++;
		}
	}
	double secs = t - t0;
	uint64_t unfinished = st.started - st.answered - st.lost;
	printf("{\"mode\":\"flows\",\"seconds\":%.3f,\"conc\":%d,\"started\":%" PRIu64
	       ",\"answered\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"late\":%" PRIu64
	       ",\"stray\":%" PRIu64 ",\"unfinished\":%" PRIu64 ",\"send_errors\":%" PRIu64
	       ",\"next_start\":%" PRIu64 ",\"flows_per_s\":%.1f,\"p50_us\":%.0f,\"p99_us\":%.0f"
	       ",\"errors\":%" PRIu64 "}\n",
	       secs, opt_conc, st.started, st.answered, st.lost, st.late, st.stray, unfinished,
	       st.send_errors, (opt_start + next) % ADDR_N,
	       secs > 0 ? (double)st.answered / secs : 0.0, h_percentile(0.50), h_percentile(0.99),
	       st.lost + st.send_errors);
	close(fd);
	return 0;
}

/* ---- bulk ---- */

/* The first answer on fd, the Initial resent every 250 ms, at most 4 times.
 * 0, or -1 if none came within -T. */
static int open_flow(int fd)
{
	double t0 = now_s(), last = 0;
	for (int sent = 0; now_s() - t0 < opt_timeout;) {
		if (sent < 4 && now_s() - last >= 0.25) {
			if (send(fd, pool[0], DGRAM, MSG_DONTWAIT) == DGRAM)
				sent++;
			last = now_s();
		}
		wait_in(fd, POLLIN, 5);
		if (recv_batch(fd, 0) > 0)
			return 0;
	}
	return -1;
}

static int run_bulk(void)
{
	struct {
		uint64_t sent, echoed, lost, late, stray, stalls;
	} st = { 0 };
	static uint8_t sbuf[BATCH][DGRAM];
	static struct iovec siov[BATCH];
	static struct mmsghdr smsg[BATCH];
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd == -1 || connect(fd, (struct sockaddr *)&target, sizeof target) == -1) {
		perror("bench-quicload: bulk socket");
		return 1;
	}
	bufs(fd);
	if (open_flow(fd) == -1) {
		printf("{\"mode\":\"bulk\",\"window\":%d,\"error\":\"no answer to the Initial in %gs\","
		       "\"errors\":1}\n", opt_window, opt_timeout);
		close(fd);
		return 0;
	}
	for (int i = 0; i < BATCH; i++) {
		sbuf[i][0] = 0x40;                      /* a short header's first byte */
		for (int j = 9; j < DGRAM; j++)
			sbuf[i][j] = (uint8_t)(j * 131 + 7);
		siov[i].iov_base = sbuf[i];
		siov[i].iov_len = DGRAM;
		memset(&smsg[i].msg_hdr, 0, sizeof smsg[i].msg_hdr);
		smsg[i].msg_hdr.msg_iov = &siov[i];
		smsg[i].msg_hdr.msg_iovlen = 1;
	}
	/* echoes of resent Initials may still come: not counted */
	double t0 = now_s(), end = t0 + opt_dur, hard = t0 + opt_limit, t = t0, last_echo = t0;
	uint64_t seq = 0, cut = 0, out = 0;
	int draining = 0;

	for (;;) {
		t = now_s();
		if (!draining && (t >= end || t >= hard)) {
			draining = 1;
			end = t;
		}
		if (draining && (out == 0 || t - end > 0.2 || t >= hard))
			break;
		int m = 0;
		while (!draining && m < BATCH && (opt_window == 0 || out + (uint64_t)m < (uint64_t)opt_window)) {
			uint64_t s = seq + (uint64_t)m;
			for (int b = 0; b < 8; b++)
				sbuf[m][1 + b] = (uint8_t)(s >> (56 - 8 * b));
			m++;
		}
		int w = m > 0 ? sendmmsg(fd, smsg, (unsigned)m, MSG_DONTWAIT) : 0;
		if (w == -1)
			w = 0;  /* full: the next turn; a refusal shows as no echo */
		seq += (uint64_t)w;
		st.sent += (uint64_t)w;
		out += (uint64_t)w;
		if (opt_window > 0 || w == 0)
			wait_in(fd, POLLIN, opt_window > 0 ? 5 : 1);
		for (int r = 0; r < ROUNDS; r++) {
			int n = recv_batch(fd, 0);
			for (int i = 0; i < n; i++) {
				uint64_t s = 0;
				if (rmsg[i].msg_len != DGRAM || rbuf[i][0] != 0x40) {
					st.stray++;
					continue;
				}
				for (int b = 0; b < 8; b++)
					s = s << 8 | rbuf[i][1 + b];
				if (s < cut || s >= seq) {
					st.late++;
					continue;
				}
				st.echoed++;
				out--;
			}
			if (n > 0)
				last_echo = now_s();
			if (n < BATCH)
				break;
		}
		if (opt_window > 0 && out > 0 && now_s() - last_echo > STALL_S) {
			st.lost += out;                 /* the window's out: lost; open it again */
			st.stalls++;
			out = 0;
			cut = seq;
			last_echo = now_s();
		}
	}
	st.lost += out;
	double secs = end - t0;
	printf("{\"mode\":\"bulk\",\"window\":%d,\"seconds\":%.3f,\"sent\":%" PRIu64
	       ",\"echoed\":%" PRIu64 ",\"lost\":%" PRIu64 ",\"late\":%" PRIu64 ",\"stray\":%" PRIu64
	       ",\"stalls\":%" PRIu64 ",\"dgrams_per_s\":%.1f,\"mbps\":%.2f,\"loss\":%.5f,\"errors\":0}\n",
	       opt_window, secs, st.sent, st.echoed, st.lost, st.late, st.stray, st.stalls,
	       secs > 0 ? (double)st.echoed / secs : 0.0,
	       secs > 0 ? (double)st.echoed * DGRAM / secs / 1e6 : 0.0,
	       st.sent ? (double)(st.sent - st.echoed) / (double)st.sent : 0.0);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *sni = "a.example.test";
	int flows;

	if (argc < 2 || (strcmp(argv[1], "flows") != 0 && strcmp(argv[1], "bulk") != 0))
		goto usage;
	flows = strcmp(argv[1], "flows") == 0;
	optind = 2;
	int opt;
	while ((opt = getopt(argc, argv, "a:n:c:d:w:k:T:L:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'n': sni = optarg; break;
		case 'c': opt_conc = atoi(optarg); break;
		case 'd': opt_dur = atof(optarg); break;
		case 'w': opt_window = atoi(optarg); break;
		case 'k': opt_start = strtoull(optarg, NULL, 10); break;
		case 'T': opt_timeout = atof(optarg); break;
		case 'L': opt_limit = atof(optarg); break;
		default: goto usage;
		}
	}
	if (addr == NULL || optind != argc || opt_conc < 1 || opt_window < 0 || opt_dur <= 0 ||
	    opt_timeout <= 0 || opt_limit <= 0)
		goto usage;
	if (bench_target(addr, &target) == -1) {
		fprintf(stderr, "bench-quicload: -a must be 127.x.y.z:PORT\n");
		return 2;
	}
	if (build_pool(sni) == -1)
		return 2;
	return flows ? run_flows() : run_bulk();
usage:
	fprintf(stderr, "usage: bench-quicload flows|bulk -a 127.x.y.z:PORT [-n SNI] [-c C] [-d D] "
	    "[-w W] [-k START] [-T SECONDS] [-L SECONDS]\n");
	return 2;
}
