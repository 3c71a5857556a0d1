/*
 * One direction of the relay over real loopback TCP sockets (one server side
 * an AF_UNIX pair, see fin_behind_held_case): bytes in order,
 * FIN forwarded only after the buffer drained, backpressure, the splice path
 * and its fallback, a reset reported on the right side. No epoll: readiness
 * flags are set by hand, as the event loop would on an edge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>	/* tcpi_segs_in */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "half.h"
#include "test.h"

/* A connected loopback TCP pair: *a is the "peer", *b halfpipe's end. */
static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int l, fl;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((l = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (bind(l, (struct sockaddr *)&sin, sizeof(sin)) == -1 || listen(l, 1) == -1 ||
	    getsockname(l, (struct sockaddr *)&sin, &len) == -1)
		goto fail;
	if ((*a = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		goto fail;
	if (connect(*a, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto fail;
	if ((*b = accept(l, NULL, NULL)) == -1)
		goto fail;
	fl = fcntl(*b, F_GETFL);
	fcntl(*b, F_SETFL, fl | O_NONBLOCK);
	close(l);
	return 0;
fail:
	close(l);
	return -1;
}

static void nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Room for all the client writes at once, at halfpipe's end (hf) too; the
 * client does not block. */
static void big_source(int client, int hf)
{
	int big = 8 << 20;

	setsockopt(client, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(hf, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	nonblock(client);
}

/* p from hf to hs, neither side marked ready, hup, err or urg. */
static void pipe_between(struct half *p, struct side *from, struct side *to, int hf, int hs)
{
	memset(from, 0, sizeof(*from));
	memset(to, 0, sizeof(*to));
	from->fd = hf;
	to->fd = hs;
	half_init(p, from, to);
}

/* The end of a case: give everything back, close the four sockets. */
static void case_end(struct half *p, struct bufpool *bp, struct kpipe_pool *pp,
    int client, int hf, int hs, int server)
{
	half_release(p, bp, pp);
	bufpool_drain(bp);
	kpipe_drain(pp);
	close(client);
	close(hf);
	close(hs);
	close(server);
}

/* Wait (bounded) until fd is readable. */
static int wait_readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 5000) == 1;
}

/* Pump until nothing moves, re-arming readiness as an edge would. */
static enum pump_result pump_all(struct half *p, struct bufpool *bp, struct kpipe_pool *pp,
    int *err)
{
	enum pump_result r = PUMP_OK;
	int i, moved = 1;

	for (i = 0; i < 10000 && moved; i++) {
		moved = 0;
		p->from->can_read = p->to->can_write = 1;
		r = half_pump(p, bp, pp, 1, &moved, err);
		if (r == PUMP_YIELD) {	/* the loop would step it again */
			moved = 1;
			r = PUMP_OK;
			continue;
		}
		if (r != PUMP_OK)
			break;
	}
	return r;
}

/* Read exactly n bytes (blocking, bounded by poll) and check the pattern. */
static int read_pattern(int fd, size_t n, size_t *got)
{
	static uint8_t chunk[65536];
	size_t off = 0;
	int ok = 1;

	while (off < n && wait_readable(fd)) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		ssize_t i;

		if (r <= 0)
			break;
		for (i = 0; i < r; i++)
			if (chunk[i] != (uint8_t)((off + (size_t)i) * 7))
				ok = 0;
		off += (size_t)r;
	}
	*got = off;
	return ok;
}

static void write_pattern(int fd, size_t n)
{
	static uint8_t chunk[65536];
	size_t off = 0;

	while (off < n) {
		size_t k = n - off < sizeof(chunk) ? n - off : sizeof(chunk), i;
		ssize_t w;

		for (i = 0; i < k; i++)
			chunk[i] = (uint8_t)((off + i) * 7);
		w = write(fd, chunk, k);
		if (w <= 0)
			return;
		off += (size_t)w;
	}
}

/* Relay n bytes then FIN from a client to a server through one pipe. */
static void relay_case(const char *name, size_t n, size_t max_pipes)
{
	struct bufpool bp = { .max_free = 4 };
	struct kpipe_pool pp = { .max = max_pipes };
	struct side from, to;
	struct half p;
	int client, hf, hs, server, err = 0;
	size_t got = 0, written = 0;
	int ok = 1, spliced = 0;
	char buf[1];

	if (tcp_pair(&client, &hf) == -1 || tcp_pair(&server, &hs) == -1) {
		CHECK(0, "%s: socket pairs", name);
		return;
	}
	from.fd = hf;
	to.fd = hs;
	half_init(&p, &from, &to);
	/* The sender writes in pieces; the relay runs between them. */
	while (written < n) {
		size_t k = n - written < 32768 ? n - written : 32768;
		size_t part;

		write_pattern(client, k);	/* pattern restarts: check per piece */
		written += k;
		wait_readable(hf);
		if (pump_all(&p, &bp, &pp, &err) != PUMP_OK)
			ok = 0;
		if (p.flags & HF_SPLICE)
			spliced = 1;
		ok &= read_pattern(server, k, &part);
		got += part;
		if (part != k)
			break;
	}
	shutdown(client, SHUT_WR);
	wait_readable(hf);
	if (pump_all(&p, &bp, &pp, &err) != PUMP_OK)
		ok = 0;
	CHECK(ok && got == n, "%s: %zu bytes arrive in order (got %zu)", name, n, got);
	CHECK(half_done(&p), "%s: FIN seen and forwarded", name);
	CHECK(wait_readable(server) && read(server, buf, 1) == 0,
	    "%s: the server reads a clean EOF", name);
	CHECK_INT(p.bytes, n, "%s: byte count", name);
	CHECK(p.buf == NULL && p.kp.rd == -1, "%s: nothing held once idle", name);
	if (max_pipes)
		CHECK(n < 16384 || spliced, "%s: bulk switched to splice", name);
	else
		CHECK(!spliced, "%s: no splice when the pool is empty", name);
	CHECK_INT(bp.in_use + pp.in_use, 0, "%s: every buffer and pipe returned", name);
	case_end(&p, &bp, &pp, client, hf, hs, server);
}

/* Segments the socket fd has received so far (TCP_INFO). */
static unsigned segs_in(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	(void)getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
	return ti.tcpi_segs_in;
}

/*
 * The client's bytes and its FIN are in before the relay runs (a reply and
 * a close): with the FIN announced (EPOLLRDHUP: hup), one pump reads on to
 * the EOF before writing, and the server receives the bytes and the FIN in
 * one segment; not announced, two (bytes, then the FIN): the measure sees
 * the difference.
 */
static void fin_with_data_case(int announced)
{
	struct bufpool bp = { .max_free = 4 };
	struct kpipe_pool pp = { .max = 0 };
	struct side from, to;
	struct half p;
	struct pollfd pf;
	int client, hf, hs, server, err = 0, moved = 0, i;
	unsigned before;
	size_t got = 0;
	char c;
	const char *name = announced ? "FIN announced" : "FIN not announced";

	if (tcp_pair(&client, &hf) == -1 || tcp_pair(&server, &hs) == -1) {
		CHECK(0, "%s: socket pairs", name);
		return;
	}
	pipe_between(&p, &from, &to, hf, hs);
	write_pattern(client, 1000);
	shutdown(client, SHUT_WR);
	pf.fd = hf;
	pf.events = POLLRDHUP;
	CHECK(poll(&pf, 1, 5000) == 1 && (pf.revents & POLLRDHUP), "%s: the FIN is in", name);
	before = segs_in(server);
	from.hup = (uint8_t)announced;
	for (i = 0; i < 4 && !half_done(&p); i++) {
		from.can_read = to.can_write = 1;
		if (half_pump(&p, &bp, &pp, 1, &moved, &err) != PUMP_OK)
			break;
	}
	CHECK(half_done(&p), "%s: bytes and FIN relayed", name);
	if (announced)
		CHECK_INT(i, 1, "%s: in one pump", name);
	CHECK(read_pattern(server, 1000, &got) && got == 1000, "%s: 1000 bytes in order (got %zu)",
	    name, got);
	CHECK(wait_readable(server) && read(server, &c, 1) == 0, "%s: then a clean EOF", name);
	CHECK_INT(segs_in(server) - before, announced ? 1 : 2,
	    "%s: segments the server received for the bytes and the FIN", name);
	case_end(&p, &bp, &pp, client, hf, hs, server);
}

/* The server does not read: the relay must stop reading the client. */
static void backpressure_case(void)
{
	struct bufpool bp = { .max_free = 4 };
	struct kpipe_pool pp = { .max = 0 };
	struct side from, to;
	struct half p;
	int client, hf, hs, server, err = 0, small = 4096, fl;
	size_t before;

	if (tcp_pair(&client, &hf) == -1 || tcp_pair(&server, &hs) == -1) {
		CHECK(0, "backpressure: socket pairs");
		return;
	}
	setsockopt(hs, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(server, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	fl = fcntl(client, F_GETFL);
	fcntl(client, F_SETFL, fl | O_NONBLOCK);
	from.fd = hf;
	to.fd = hs;
	half_init(&p, &from, &to);
	write_pattern(client, 4 << 20);		/* as much as the kernel takes */
	pump_all(&p, &bp, &pp, &err);
	before = p.bytes;
	CHECK(p.buf != NULL && buf_len(p.buf) > 0, "backpressure: bytes wait in the buffer");
	CHECK(!to.can_write, "backpressure: the writer would block");
	CHECK(buf_len(p.buf) <= BUF_SIZE, "backpressure: at most one buffer held (%zu)",
	    buf_len(p.buf));
	pump_all(&p, &bp, &pp, &err);
	CHECK_INT(p.bytes, before, "backpressure: nothing more moves while the server is full");
	case_end(&p, &bp, &pp, client, hf, hs, server);
}

/* A RST from the reading side is PUMP_FROM_ERR; one from the writing side
 * PUMP_TO_ERR. */
static void reset_case(int reader_resets)
{
	struct linger lg = { 1, 0 };
	struct bufpool bp = { .max_free = 4 };
	struct kpipe_pool pp = { .max = 4 };
	struct side from, to;
	struct half p;
	int client, hf, hs, server, err = 0;
	enum pump_result r;

	if (tcp_pair(&client, &hf) == -1 || tcp_pair(&server, &hs) == -1) {
		CHECK(0, "reset: socket pairs");
		return;
	}
	from.fd = hf;
	to.fd = hs;
	half_init(&p, &from, &to);
	if (reader_resets) {
		setsockopt(client, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(client);
		wait_readable(hf);
		r = pump_all(&p, &bp, &pp, &err);
		CHECK_INT(r, PUMP_FROM_ERR, "reset by the reading side is PUMP_FROM_ERR");
		CHECK_INT(err, ECONNRESET, "errno is ECONNRESET");
	} else {
		setsockopt(server, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(server);
		wait_readable(hs);	/* the RST has come in */
		write_pattern(client, 1000);
		wait_readable(hf);
		r = pump_all(&p, &bp, &pp, &err);
		CHECK_INT(r, PUMP_TO_ERR, "reset by the writing side is PUMP_TO_ERR");
		close(client);
	}
	half_release(&p, &bp, &pp);
	CHECK_INT(bp.in_use + pp.in_use, 0, "reset: buffers and pipes released");
	bufpool_drain(&bp);
	kpipe_drain(&pp);
	close(hf);
	close(hs);
	if (reader_resets)
		close(server);
}

/* Read what fd holds (bounded by poll) until EOF; returns the bytes read
 * and sets *eof. */
static size_t read_all(int fd, uint8_t *out, size_t cap, int *eof)
{
	size_t off = 0;
	ssize_t r = 1;

	*eof = 0;
	while (off < cap && wait_readable(fd) && (r = read(fd, out + off, cap - off)) > 0)
		off += (size_t)r;
	*eof = r == 0;
	return off;
}

/*
 * Issue 12, defect 3: an urgent byte (MSG_OOB). halfpipe's sockets have
 * SO_OOBINLINE (inherited from the listener, set on backend sockets), so
 * the byte stays in the stream; a read stops short at the mark and splice()
 * stops there for good (with the FIN behind it, it says 0). Every byte
 * after the mark must still arrive, and only then the FIN: copy path, the
 * splice path with the mark announced (EPOLLPRI: from.urg), and the splice
 * path that was not told (the 0 is asked again with recv()).
 */
static void urgent_case(const char *name, int splicing, int announced, int fin, int preset)
{
	static const uint8_t want[] = "aaaaUbbbb";
	struct bufpool bp = { .max_free = 4 };
	struct kpipe_pool pp = { .max = splicing ? 4 : 0 };
	struct side from, to;
	struct half p;
	int client, hf, hs, server, err = 0, one = 1, eof;
	uint8_t got[64];
	size_t n;

	if (tcp_pair(&client, &hf) == -1 || tcp_pair(&server, &hs) == -1) {
		CHECK(0, "urgent %s: socket pairs", name);
		return;
	}
	if (preset)	/* a client socket: inherited from the listener */
		setsockopt(hf, SOL_SOCKET, SO_OOBINLINE, &one, sizeof(one));
	pipe_between(&p, &from, &to, hf, hs);
	from.oobinline = preset;
	if (!preset && announced)
		side_inline(&from);	/* as on_event() does on EPOLLPRI */
	if (splicing)
		p.flags |= HF_SPLICE;	/* as after a full buffer */
	(void)!write(client, "aaaa", 4);
	(void)!send(client, "U", 1, MSG_OOB);
	(void)!write(client, "bbbb", 4);
	if (fin)
		shutdown(client, SHUT_WR);
	wait_readable(hf);
	from.hup = fin;		/* as EPOLLRDHUP would say */
	from.urg = announced;	/* as EPOLLPRI would say */
	pump_all(&p, &bp, &pp, &err);
	if (!fin)
		shutdown(hs, SHUT_WR);	/* end the server's read here */
	n = read_all(server, got, sizeof(got), &eof);
	CHECK(n == 9 && memcmp(got, want, 9) == 0, "urgent %s: every byte, the urgent one "
	    "inline (got %zu)", name, n);
	CHECK(eof, "urgent %s: then EOF", name);
	if (fin)
		CHECK(half_done(&p), "urgent %s: the FIN forwarded after the bytes", name);
	else
		CHECK(!(p.flags & HF_EOF), "urgent %s: no FIN made up", name);
	case_end(&p, &bp, &pp, client, hf, hs, server);
}

/*
 * The FIN comes in while bytes wait in the pipe: the client's bytes and its
 * FIN are all at halfpipe's socket, the server reads slowly (SLOW bytes at a
 * time) through a small send buffer, so the writer keeps blocking with bytes
 * held (in the buffer, or the kernel pipe when splicing), down to the state
 * where the source holds nothing but the FIN. shutdown(SHUT_WR) towards the
 * server must wait until every held byte is written: a FIN passed on early
 * ends the server's stream short (and the next write fails). The server
 * side is an AF_UNIX stream pair: over loopback TCP, buffers this small
 * crawl (a few bytes per delayed ACK); half.c treats both alike.
 */
static void fin_behind_held_case(const char *name, int splicing)
{
	enum { N = 1 << 20, SLOW = 1000 };
	static uint8_t chunk[SLOW];
	struct bufpool bp = { .max_free = 4 };
	struct kpipe_pool pp = { .max = splicing ? 4 : 0 };
	struct side from, to;
	struct half p;
	struct pollfd rdhup;
	int client, hf, hs, server, err = 0, small = 4096, queued = -1;
	int ok = 1, early = 0, fin_waited = 0, eof = 0, i, sv[2];
	size_t got = 0;
	enum pump_result r = PUMP_OK;

	if (tcp_pair(&client, &hf) == -1 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1) {
		CHECK(0, "FIN behind held bytes, %s: socket pairs", name);
		return;
	}
	hs = sv[0];
	server = sv[1];
	big_source(client, hf);
	setsockopt(hs, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	nonblock(hs);
	pipe_between(&p, &from, &to, hf, hs);
	if (splicing)
		p.flags |= HF_SPLICE;	/* as after a full buffer */
	write_pattern(client, N);
	shutdown(client, SHUT_WR);
	rdhup = (struct pollfd){ .fd = hf, .events = POLLRDHUP };
	if (poll(&rdhup, 1, 5000) == 1)
		ioctl(hf, FIONREAD, &queued);
	CHECK_INT(queued, N, "FIN behind held bytes, %s: every byte, then the FIN, at the "
	    "source before the relay runs", name);
	from.hup = 1;		/* as EPOLLRDHUP would say */
	for (i = 0; i < 100000 && !eof; i++) {
		ssize_t k;
		size_t j;

		r = pump_all(&p, &bp, &pp, &err);
		if (half_pending(&p) > 0) {
			if (half_done(&p))
				early = 1;
			if (ioctl(hf, FIONREAD, &queued) == 0 && queued == 0)
				fin_waited = 1;	/* nothing but the FIN left at the source */
		}
		if (r != PUMP_OK)
			break;
		if (!wait_readable(server))
			break;
		k = recv(server, chunk, sizeof(chunk), MSG_DONTWAIT);
		if (k == 0)
			eof = 1;
		if (k == -1 && errno != EAGAIN && errno != EINTR)
			break;
		for (j = 0; k > 0 && j < (size_t)k; j++)
			if (chunk[j] != (uint8_t)((got + j) * 7))
				ok = 0;
		if (k > 0)
			got += (size_t)k;
	}
	CHECK_INT(r, PUMP_OK, "FIN behind held bytes, %s: no error (errno %d)", name, err);
	CHECK(fin_waited, "FIN behind held bytes, %s: the FIN was at the source while bytes "
	    "were held", name);
	CHECK(!early, "FIN behind held bytes, %s: not forwarded while bytes were held", name);
	CHECK(ok && got == N, "FIN behind held bytes, %s: %d bytes arrive in order (got %zu)",
	    name, N, got);
	CHECK(eof, "FIN behind held bytes, %s: then the server reads EOF", name);
	CHECK(half_done(&p), "FIN behind held bytes, %s: FIN forwarded", name);
	CHECK_INT(p.bytes, N, "FIN behind held bytes, %s: byte count", name);
	CHECK(p.buf == NULL && p.kp.rd == -1, "FIN behind held bytes, %s: nothing held once "
	    "done", name);
	CHECK_INT(bp.in_use + pp.in_use, 0, "FIN behind held bytes, %s: every buffer and pipe "
	    "returned", name);
	case_end(&p, &bp, &pp, client, hf, hs, server);
}

/*
 * Issue 12, defect 7: one direction reads at most PUMP_BUDGET bytes per call
 * and says PUMP_YIELD while more waits, so that one fast flow cannot hold
 * the worker; the next call goes on where it stopped.
 */
static void budget_case(void)
{
	struct bufpool bp = { .max_free = 4 };
	struct kpipe_pool pp = { .max = 0 };
	struct side from, to;
	struct half p;
	int client, hf, hs, server, err = 0, moved = 0, big = 8 << 20;
	enum pump_result r;

	if (tcp_pair(&client, &hf) == -1 || tcp_pair(&server, &hs) == -1) {
		CHECK(0, "budget: socket pairs");
		return;
	}
	big_source(client, hf);
	setsockopt(hs, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(server, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	pipe_between(&p, &from, &to, hf, hs);
	write_pattern(client, 2 * PUMP_BUDGET + 1000);
	wait_readable(hf);
	from.can_read = to.can_write = 1;
	r = half_pump(&p, &bp, &pp, 1, &moved, &err);
	CHECK_INT(r, PUMP_YIELD, "budget: the first call gives way");
	CHECK_INT(p.bytes, PUMP_BUDGET, "budget: after PUMP_BUDGET bytes");
	CHECK(from.can_read, "budget: still marked readable (no edge will come)");
	r = half_pump(&p, &bp, &pp, 1, &moved, &err);
	CHECK_INT(r, PUMP_YIELD, "budget: the second call too");
	CHECK_INT(p.bytes, 2 * PUMP_BUDGET, "budget: where the first stopped");
	r = half_pump(&p, &bp, &pp, 1, &moved, &err);
	CHECK_INT(r, PUMP_OK, "budget: the rest in the third");
	CHECK_INT(p.bytes, 2 * PUMP_BUDGET + 1000, "budget: every byte");
	case_end(&p, &bp, &pp, client, hf, hs, server);
}

int main(void)
{
	char flags[64];

	/* as halfpipe does (main.c): a write to a shut socket is EPIPE */
	signal(SIGPIPE, SIG_IGN);
	relay_case("small copy", 1000, 0);
	relay_case("bulk copy", 3 << 20, 0);
	relay_case("bulk splice", 3 << 20, 4);
	backpressure_case();
	fin_with_data_case(1);
	fin_with_data_case(0);
	fin_behind_held_case("copy", 0);
	fin_behind_held_case("splice", 1);
	reset_case(1);
	reset_case(0);
	urgent_case("copy, FIN behind", 0, 0, 1, 1);
	urgent_case("copy, no FIN", 0, 1, 0, 1);
	urgent_case("splice, announced, FIN behind", 1, 1, 1, 1);
	urgent_case("splice, announced, no FIN", 1, 1, 0, 1);
	urgent_case("splice, not announced, FIN behind", 1, 0, 1, 1);
	/* a backend socket: SO_OOBINLINE only once a mark shows */
	urgent_case("backend, copy, announced", 0, 1, 1, 0);
	urgent_case("backend, splice, announced", 1, 1, 0, 0);
	urgent_case("backend, splice, not announced, FIN behind", 1, 0, 1, 0);
	budget_case();
	CHECK_STR(half_flags_str(HF_EOF | HF_SHUT_DONE, flags, sizeof(flags)), "EOF|SHUT_DONE",
	    "flag printer");
	CHECK_STR(half_flags_str(HF_SPLICE, flags, sizeof(flags)), "SPLICE", "flag printer, one flag");
	return test_done();
}
