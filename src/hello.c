#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "connect.h"
#include "hello.h"
#include "log.h"
#include "proxy_proto.h"
#include "route.h"
#include "session_int.h"

#define HBUF_FIRST 4096

/* TLS alerts sent to a rejected client: fatal unrecognized_name / decode_error. */
static const uint8_t alert_unrecognized_name[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 112 };
static const uint8_t alert_decode_error[] = { 0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 50 };

static void fmt_alpn(struct session *s, const struct hello_info *h)
{
	size_t pos = 0, o = 0, len, i;
	const uint8_t *name;

	s->alpn[0] = '\0';
	while (hello_alpn_next(h, &pos, &name, &len)) {
		if (o + len + 2 >= sizeof(s->alpn))
			break;
		if (o)
			s->alpn[o++] = ',';
		for (i = 0; i < len; i++)	/* keep the log line one token */
			s->alpn[o++] = name[i] > 0x20 && name[i] < 0x7f &&
			    name[i] != ',' && name[i] != '"' ? (char)name[i] : '?';
		s->alpn[o] = '\0';
	}
}

/* No backend for this client: the alert its verdict calls for, our FIN,
 * then REJECT (session.c) drops what it still sends until its FIN. */
static void reject(struct session *s, enum close_reason r)
{
	const struct conf *c = s->conf;
	const uint8_t *alert = NULL;

	if (r == CR_NO_ROUTE || r == CR_NO_SNI)
		alert = alert_unrecognized_name;
	else if (r == CR_MALFORMED)
		alert = alert_decode_error;
	if (alert != NULL)
		(void)send(s->c.fd, alert, sizeof(alert_decode_error),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
	if (shutdown(s->c.fd, SHUT_WR) == -1) {
		session_close(s, r);	/* abortive: r is no FIN */
		return;
	}
	s->pending = r;
	s->phase = PH_REJECT;
	s->phase_expire = tick_add(s->w->loop.now, c->half_closed_timeout_ms);
	free(s->hbuf);
	s->hbuf = NULL;
	session_update_timer(s);
	session_step(s);
}

/*
 * The reader has its answer (or, should hbuf ever fill first, none: that
 * counts as malformed). A message that spans records is gathered into a
 * scratch of its own size, allocated only then.
 */
static void hello_verdict(struct session *s)
{
	const struct listener_conf *lc = s->lc;
	struct hello_info info;
	const struct action *act;
	enum close_reason why;
	enum hello_verdict v;
	uint8_t *scratch = NULL;

	s->hello_bytes = s->hlen;
	if (s->rd.verdict == HELLO_COMPLETE && hello_rd_msg(&s->rd, s->hbuf) == NULL &&
	    (scratch = malloc(s->rd.need)) == NULL) {
		session_close(s, CR_RESOURCE);
		return;
	}
	v = hello_rd_parse(&s->rd, s->hbuf, scratch, s->rd.need, &info);
	if (s->rd.verdict == HELLO_COMPLETE)
		s->hello_bytes = s->rd.end;
	stats_observe(&s->w->stats, H_HELLO, s->hello_bytes);
	switch (v) {
	case HELLO_FOUND: {
		const struct route *rt;

		memcpy(s->sni, info.sni, info.sni_len);	/* <= 255, printable */
		s->sni[info.sni_len] = '\0';
		fmt_alpn(s, &info);
		rt = route_lookup(lc->table, info.sni, info.sni_len, info.alpn,
		    info.alpn_len);
		act = NULL;
		if (rt != NULL) {
			free(scratch);
			if (!acl_allows(&rt->acl, &s->peer)) {	/* after a trusted header */
				s->rt = rt;
				session_close(s, CR_DENIED);
				return;
			}
			if (rt->lifetime_set)	/* the route's wins */
				s->life_expire = tick_add(s->start, rt->max_lifetime_ms);
			connect_route(s, rt);
			return;
		}
		act = &lc->on_no_route;
		why = CR_NO_ROUTE;
		break;
	}
	case HELLO_NO_SNI:
		fmt_alpn(s, &info);
		act = &lc->on_no_sni;
		why = CR_NO_SNI;
		break;
	case HELLO_NOT_TLS:
		act = &lc->on_not_tls;
		why = CR_NOT_TLS;
		break;
	default:
		log_warnx("conn %llu: malformed ClientHello: %s",
		    (unsigned long long)s->id, info.reason ? info.reason : "?");
		act = &lc->on_malformed;
		why = CR_MALFORMED;
		break;
	}
	free(scratch);
	if (act->be != NULL)
		connect_backend(s, act->be);
	else
		reject(s, why);
}

/*
 * accept-proxy: the PROXY header comes first, inside the hello deadline.
 * Once whole it is cut from hbuf (the ClientHello reader sees only the
 * client's bytes) and its source becomes the client. Returns 1 if the hello
 * reader may look at hbuf now, 0 to wait for more, -1 if s was closed.
 */
static int proxy_header(struct session *s)
{
	struct pp_info pi;
	int n;

	if (s->lc->naccept_proxy == 0 || s->proxy_bytes != 0)
		return 1;
	n = pp_parse(s->hbuf, s->hlen, &pi);
	if (n == PP_NEED_MORE)
		return 0;
	if (n == PP_ERR) {
		log_warnx("conn %llu: bad PROXY protocol header: %s",
		    (unsigned long long)s->id, pi.reason);
		session_close(s, CR_BAD_PROXY);
		return -1;
	}
	if (pi.has_addr) {	/* LOCAL, UNKNOWN: the connection's own */
		s->peer = pi.src;
		s->peerlen = pi.src.ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		s->dst = pi.dst;
		s->has_dst = 1;
	}
	s->proxy_bytes = (size_t)n;
	s->hlen -= (size_t)n;
	memmove(s->hbuf, s->hbuf + n, s->hlen);
	if (!acl_allows(&s->lc->acl, &s->peer)) {	/* the client the header names */
		session_close(s, CR_DENIED);
		return -1;
	}
	return s->hlen > 0;
}

void hello_read(struct session *s)
{
	size_t limit = HELLO_RAW_MAX(s->conf->hello_max) +
	    (s->lc->naccept_proxy ? PP_V2_MAX : 0);

	while (s->c.can_read) {
		enum hello_verdict v;
		ssize_t n;
		int pr;

		if (s->hlen == s->hcap) {
			size_t cap = s->hcap ? s->hcap * 2 : HBUF_FIRST;
			uint8_t *nb;

			if (cap > limit)
				cap = limit;
			if (cap <= s->hlen) {	/* cannot happen: see tls_hello.h */
				hello_verdict(s);
				return;
			}
			if ((nb = realloc(s->hbuf, cap)) == NULL) {
				session_close(s, CR_RESOURCE);
				return;
			}
			s->hbuf = nb;
			s->hcap = cap;
		}
		n = recv(s->c.fd, s->hbuf + s->hlen, s->hcap - s->hlen, MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				side_drained(&s->c);
			} else if (errno != EINTR) {	/* a reset: s is gone */
				session_close(s, CR_HELLO_ABORT);
				return;
			}
			continue;
		}
		if (n == 0) {
			s->first_close = 'c';
			s->first_close_at = s->w->loop.now;
			session_close(s, CR_HELLO_ABORT);
			return;
		}
		side_read_short(&s->c, (size_t)n, s->hcap - s->hlen);
		s->hlen += (size_t)n;
		s->hello_reads++;
		if ((pr = proxy_header(s)) != 1) {
			if (pr == -1)
				return;
			continue;
		}
		v = hello_rd_feed(&s->rd, s->hbuf, s->hlen);
		if (v != HELLO_NEED_MORE) {
			hello_verdict(s);
			return;
		}
	}
}

/*
 * proxy=: put a PROXY header in front of the sniffed bytes, so that it is
 * the first thing the backend reads. Source: the client (or what a trusted
 * balancer's header said); destination: the address the client reached.
 */
int hello_proxy_prepend(struct session *s)
{
	uint8_t hdr[PP_WRITE_MAX];
	struct sockaddr_storage local;
	socklen_t llen = sizeof(local);
	const struct sockaddr_storage *dst = &s->dst;
	uint8_t *nb;
	size_t n;

	if (!s->has_dst) {
		if (getsockname(s->c.fd, (struct sockaddr *)&local, &llen) == -1)
			return -1;
		dst = &local;
	}
	n = pp_write(s->proxy_send, &s->peer, dst, s->sni, strlen(s->sni), hdr, sizeof(hdr));
	if (n == 0)
		return -1;
	if (s->hcap - s->hlen < n) {
		if ((nb = realloc(s->hbuf, s->hlen + n)) == NULL)
			return -1;
		s->hbuf = nb;
		s->hcap = s->hlen + n;
	}
	memmove(s->hbuf + n, s->hbuf, s->hlen);
	memcpy(s->hbuf, hdr, n);
	s->hlen += n;
	return 0;
}
