#include <stdlib.h>
#include <string.h>

#include "admintab.h"

/* The word w[0..n) into a->word: 0, or -1 if empty, too long or blank. */
static int take_word(const char *w, size_t n, struct admin_arg *a)
{
	size_t i;

	if (n == 0 || n >= sizeof(a->word))
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)w[i] <= 0x20 || (unsigned char)w[i] >= 0x7f)
			return -1;
	memcpy(a->word, w, n);
	a->word[n] = '\0';
	return 0;
}

enum admin_cmd admin_parse(const char *req, size_t len, struct admin_arg *a)
{
	static const struct { const char *word; enum admin_cmd cmd; } ops[] = {
		{ "disable", ADMIN_DISABLE }, { "enable", ADMIN_ENABLE },
		{ "drain", ADMIN_DRAIN }, { "kill route=", ADMIN_KILL_ROUTE },
		{ "kill server=", ADMIN_KILL_SERVER },
	};
	const char *nl = memchr(req, '\n', len);
	size_t n, i, k;
	uint64_t v = 0;

	if (nl == NULL)
		return len >= ADMIN_REQ_MAX ? ADMIN_BAD : ADMIN_NEED_MORE;
	n = (size_t)(nl - req);
	if (n > 0 && req[n - 1] == '\r')
		n--;
	if (n == 5 && memcmp(req, "conns", 5) == 0)
		return ADMIN_CONNS;
	if (n == 7 && memcmp(req, "servers", 7) == 0)
		return ADMIN_SERVERS;
	if (n == 4 && memcmp(req, "help", 4) == 0)
		return ADMIN_HELP;
	if (n == 8 && memcmp(req, "handover", 8) == 0)
		return ADMIN_HANDOVER;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		k = strlen(ops[i].word);
		if (n <= k || memcmp(req, ops[i].word, k) != 0)
			continue;
		if (ops[i].word[k - 1] != '=') {	/* "drain SERVER": a blank */
			if (req[k] != ' ')
				continue;
			k++;
		}
		return take_word(req + k, n - k, a) == 0 ? ops[i].cmd : ADMIN_BAD;
	}
	if (n < 6 || memcmp(req, "kill ", 5) != 0)
		return ADMIN_BAD;
	for (req += 5, n -= 5; n > 0; req++, n--) {
		if (*req < '0' || *req > '9' ||
		    v > (UINT64_MAX - (uint64_t)(*req - '0')) / 10)
			return ADMIN_BAD;
		v = v * 10 + (uint64_t)(*req - '0');
	}
	if (v == 0)
		return ADMIN_BAD;
	a->id = v;
	return ADMIN_KILL;
}

static int by_id(const void *a, const void *b)
{
	uint64_t x = ((const struct admin_row *)a)->id, y = ((const struct admin_row *)b)->id;

	return x < y ? -1 : x > y;
}

static const char *dash(const char *s)
{
	return s == NULL || s[0] == '\0' ? "-" : s;
}

void admin_table(struct mbuf *out, struct admin_row *rows, size_t n)
{
	size_t i;

	if (n > 1)
		qsort(rows, n, sizeof(*rows), by_id);
	mbuf_printf(out, "id\tclient\tsni\tbackend\tphase\tage_ms\tidle_ms\t"
	    "c2s_bytes\ts2c_bytes\tclient_tcp\tserver_tcp\tproto\tc2s_datagrams\t"
	    "s2c_datagrams\n");
	for (i = 0; i < n; i++) {
		const struct admin_row *r = &rows[i];

		mbuf_printf(out, "%llu\t%s\t%s\t%s\t%s\t%llu\t%llu\t%llu\t%llu\t%s\t%s\t",
		    (unsigned long long)r->id, dash(r->client), dash(r->sni), dash(r->backend),
		    dash(r->phase), (unsigned long long)r->age_ms,
		    (unsigned long long)r->idle_ms, (unsigned long long)r->c2s,
		    (unsigned long long)r->s2c, dash(r->client_tcp), dash(r->server_tcp));
		if (r->proto == NULL)
			mbuf_printf(out, "tcp\t-\t-\n");
		else
			mbuf_printf(out, "%s\t%llu\t%llu\n", r->proto,
			    (unsigned long long)r->dgrams[0], (unsigned long long)r->dgrams[1]);
	}
}
