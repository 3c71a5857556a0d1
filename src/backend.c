/*
 * backend.c: a server's state, its one predicate, its log line, its rows
 * on the admin socket and the metrics page (see backend.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"
#include "addrset.h"
#include "backend.h"
#include "conf.h"
#include "log.h"
#include "metrics.h"

#define LD(p)		__atomic_load_n(p, __ATOMIC_RELAXED)
#define ST(p, v)	__atomic_store_n(p, v, __ATOMIC_RELAXED)
#define ADD(p, v)	__atomic_add_fetch(p, v, __ATOMIC_RELAXED)

static const uint32_t lat_le[BE_LAT_BUCKETS] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000 };
static const char *const state_names[BE_NSTATES] = {
	[BE_UP] = "up", [BE_COOLING] = "cooling", [BE_DOWN] = "down",
	[BE_DRAINING] = "draining", [BE_DISABLED] = "disabled",
};
static const char *const check_names[] = { [BC_NONE] = "-", [BC_TCP] = "tcp", [BC_TLS] = "tls" };

enum be_check backend_check_kind(const char *word)
{
	if (strcmp(word, "tcp") == 0)
		return BC_TCP;
	if (strcmp(word, "tls") == 0)
		return BC_TLS;
	return BC_NONE;
}

void backend_want_check(struct backend *be, enum be_check k, const char *route_name)
{
	struct backend_health *h = &be->health;

	if (k == BC_TLS && h->check != BC_TLS)
		h->sni = route_name;
	if (k > h->check)
		h->check = (uint8_t)k;
}

int backend_cooling(const struct backend *be, tick_t now)
{
	tick_t until = LD(&be->down_until);

	return until != TICK_NONE && !tick_is_expired(until, now);
}

enum be_state backend_state(const struct backend *be, tick_t now)
{
	switch (LD(&be->health.admin)) {
	case BA_DISABLE:
		return BE_DISABLED;
	case BA_DRAIN:
		return BE_DRAINING;
	default:
		break;
	}
	if (LD(&be->health.down))
		return BE_DOWN;
	return backend_cooling(be, now) ? BE_COOLING : BE_UP;
}

int backend_avail(const struct backend *be, tick_t now, int cooling_ok)
{
	if (LD(&be->health.admin) != BA_READY || LD(&be->health.down))
		return 0;
	return cooling_ok || !backend_cooling(be, now);
}

const char *backend_state_name(enum be_state s)
{
	return (unsigned)s < BE_NSTATES ? state_names[s] : "?";
}

int backend_check_result(struct backend *be, int pass, const char *why, uint32_t ms,
    tick_t now, uint32_t rise, uint32_t fall)
{
	struct backend_health *h = &be->health;
	uint32_t k;
	int down = LD(&h->down);

	for (k = 0; k < BE_LAT_BUCKETS && ms > lat_le[k]; k++)
		;
	ADD(&h->lat[k], 1);
	ADD(&h->lat_sum_ms, ms);
	ADD(pass ? &h->npass : &h->nfail, 1);
	ST(&h->last, pass ? BR_PASS : BR_FAIL);
	ST(&h->why, why);
	ST(&h->last_ms, ms);
	ST(&h->last_at, now);
	if (pass) {
		ST(&h->fails, 0);
		k = ADD(&h->passes, 1);
		if (down && k >= rise) {
			ST(&h->down, 0);
			return 1;
		}
		return 0;
	}
	ST(&h->passes, 0);
	k = ADD(&h->fails, 1);
	if (!down && k >= fall) {
		ST(&h->down, 1);
		return 1;
	}
	return 0;
}

void backend_set_admin(struct backend *be, enum be_admin a)
{
	ST(&be->health.admin, (uint8_t)a);
}

int backend_note(struct backend *be, tick_t now, const char *fmt, ...)
{
	uint8_t now_st = (uint8_t)backend_state(be, now), old = LD(&be->health.logged);
	char why[160];
	va_list ap;

	if (old == now_st ||
	    !__atomic_compare_exchange_n(&be->health.logged, &old, now_st, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return 0;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_info("server %s: %s -> %s: %s", be->name, backend_state_name(old),
	    backend_state_name(now_st), why);
	return 1;
}

struct backend *backend_find(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nbackends; i++)
		if (strcmp(c->backends[i]->name, name) == 0)
			return c->backends[i];
	return NULL;
}

void backend_carry(struct conf *nc, const struct conf *old)
{
	struct backend_health *h, *o;
	struct backend *ob;
	size_t i, k;

	for (i = 0; i < nc->nbackends; i++) {
		if ((ob = backend_find(old, nc->backends[i]->name)) == NULL)
			continue;
		h = &nc->backends[i]->health;
		o = &ob->health;
		ST(&h->admin, LD(&o->admin));
		ST(&h->down, LD(&o->down));
		ST(&h->logged, LD(&o->logged));
		ST(&h->last, LD(&o->last));
		ST(&h->why, LD(&o->why));
		ST(&h->passes, LD(&o->passes));
		ST(&h->fails, LD(&o->fails));
		ST(&h->last_ms, LD(&o->last_ms));
		ST(&h->last_at, LD(&o->last_at));
		ST(&h->npass, LD(&o->npass));
		ST(&h->nfail, LD(&o->nfail));
		for (k = 0; k <= BE_LAT_BUCKETS; k++)
			ST(&h->lat[k], LD(&o->lat[k]));
		ST(&h->lat_sum_ms, LD(&o->lat_sum_ms));
		ST(&nc->backends[i]->fails, LD(&ob->fails));
		ST(&nc->backends[i]->down_until, LD(&ob->down_until));
	}
}

/* The addresses be connects to, " "-separated: a name's from DNS as now
 * published, else the one it was given. */
static void addresses(struct mbuf *out, const struct backend *be)
{
	struct sockaddr_storage a[ADDRSET_MAX];
	char ip[ADDR_STRLEN];
	size_t i, n;

	if (be->dns == NULL || (n = addrset_copy(be->dns, a, ADDRSET_MAX)) == 0) {
		mbuf_printf(out, "%s", addr_ip_str(&be->addr, ip, sizeof(ip)));
		return;
	}
	for (i = 0; i < n; i++)
		mbuf_printf(out, "%s%s", i ? " " : "", addr_ip_str(&a[i], ip, sizeof(ip)));
}

void backend_table(struct mbuf *out, const struct conf *c, tick_t now)
{
	const struct backend_health *h;
	const struct backend *be;
	tick_t at;
	size_t i;

	mbuf_printf(out, "server\tstate\tinflight\tfails\tcheck\tlast_check\tlatency_ms\tago_ms\taddresses\n");
	for (i = 0; i < c->nbackends; i++) {
		be = c->backends[i];
		h = &be->health;
		at = LD(&h->last_at);
		mbuf_printf(out, "%s\t%s\t%u\t%u\t%s\t", be->name,
		    backend_state_name(backend_state(be, now)), LD(&be->inflight), LD(&be->fails),
		    check_names[h->check]);
		if (at == TICK_NONE)
			mbuf_printf(out, "-\t-\t-\t");
		else if (LD(&h->last) == BR_PASS)
			mbuf_printf(out, "pass\t%u\t%llu\t", LD(&h->last_ms),
			    (unsigned long long)(now > at ? now - at : 0));
		else
			mbuf_printf(out, "fail: %s\t%u\t%llu\t", LD(&h->why), LD(&h->last_ms),
			    (unsigned long long)(now > at ? now - at : 0));
		addresses(out, be);
		mbuf_printf(out, "\n");
	}
}

static void label(struct mbuf *out, const char *metric, const struct backend *be)
{
	mbuf_printf(out, "%s{server=\"", metric);
	mbuf_label(out, be->name);
	mbuf_printf(out, "\"");
}

static void head(struct mbuf *out, const char *name, const char *type, const char *help)
{
	mbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void backend_metrics(struct mbuf *out, const struct conf *c, tick_t now)
{
	const struct backend_health *h;
	const struct backend *be;
	uint64_t cum;
	size_t i, k;
	enum be_state st;

	head(out, "halfpipe_server_inflight", "gauge",
	    "Connects and connections to the server now (route pools).");
	for (i = 0; i < c->nbackends; i++) {
		label(out, "halfpipe_server_inflight", c->backends[i]);
		mbuf_printf(out, "} %u\n", LD(&c->backends[i]->inflight));
	}
	head(out, "halfpipe_server_up", "gauge",
	    "1 if a pool pick may choose the server now (state up), else 0.");
	for (i = 0; i < c->nbackends; i++) {
		be = c->backends[i];
		label(out, "halfpipe_server_up", be);
		mbuf_printf(out, "} %d\n", backend_state(be, now) == BE_UP);
	}
	head(out, "halfpipe_server_state", "gauge",
	    "1 for the server's state (up, cooling, down, draining, disabled), 0 for the others.");
	for (i = 0; i < c->nbackends; i++) {
		be = c->backends[i];
		st = backend_state(be, now);
		for (k = 0; k < BE_NSTATES; k++) {
			label(out, "halfpipe_server_state", be);
			mbuf_printf(out, ",state=\"%s\"} %d\n", state_names[k], st == (enum be_state)k);
		}
	}
	head(out, "halfpipe_server_checks_total", "counter",
	    "Active checks of the server by result (pass, fail).");
	for (i = 0; i < c->nbackends; i++) {
		be = c->backends[i];
		if (be->health.check == BC_NONE)
			continue;
		label(out, "halfpipe_server_checks_total", be);
		mbuf_printf(out, ",result=\"pass\"} %llu\n",
		    (unsigned long long)LD(&be->health.npass));
		label(out, "halfpipe_server_checks_total", be);
		mbuf_printf(out, ",result=\"fail\"} %llu\n",
		    (unsigned long long)LD(&be->health.nfail));
	}
	head(out, "halfpipe_server_check_seconds", "histogram",
	    "Time an active check took, pass or fail (a timeout counts its whole wait).");
	for (i = 0; i < c->nbackends; i++) {
		be = c->backends[i];
		h = &be->health;
		if (h->check == BC_NONE)
			continue;
		for (cum = 0, k = 0; k <= BE_LAT_BUCKETS; k++) {
			cum += LD(&h->lat[k]);
			label(out, "halfpipe_server_check_seconds_bucket", be);
			if (k == BE_LAT_BUCKETS)
				mbuf_printf(out, ",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
			else
				mbuf_printf(out, ",le=\"%u.%03u\"} %llu\n", lat_le[k] / 1000,
				    lat_le[k] % 1000, (unsigned long long)cum);
		}
		label(out, "halfpipe_server_check_seconds_sum", be);
		mbuf_printf(out, "} %llu.%03llu\n", (unsigned long long)(LD(&h->lat_sum_ms) / 1000),
		    (unsigned long long)(LD(&h->lat_sum_ms) % 1000));
		label(out, "halfpipe_server_check_seconds_count", be);
		mbuf_printf(out, "} %llu\n", (unsigned long long)cum);
	}
}
