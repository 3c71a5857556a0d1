/*
 * The connection-ID index (quic_cid.h): chained hash of entries that live
 * in their owners' sets.
 *
 * A server's long header (RFC 9000 17.2):
 *
 *   first byte      1 (header form) . 1 (fixed) . type (2) . 4 bits
 *   version         32 bits (0: Version Negotiation, whose SCID is the
 *                   client's DCID echoed: not the server's)
 *   DCID length     8 bits, then the DCID (the client's CID)
 *   SCID length     8 bits, then the SCID (the server's CID)   <- recorded
 *   ...             type-specific, protected: not read
 */
#include <stdlib.h>
#include <string.h>

#include "mix.h"
#include "quic_cid.h"
#include "wire.h"

static uint64_t cid_hash(const struct cid_index *x, const uint8_t *cid, size_t len)
{
	uint64_t h = mix64(x->key ^ len), w;
	size_t i, k;

	for (i = 0; i < len; i += 8) {
		for (w = 0, k = i; k < i + 8 && k < len; k++)
			w = w << 8 | cid[k];
		h = mix64(h ^ w);
	}
	return h;
}

static struct cid_ent **cid_chain(const struct cid_index *x, uint64_t h)
{
	return &x->bucket[h & (x->nbucket - 1)];
}

int cid_index_init(struct cid_index *x, size_t nbucket, uint64_t key)
{
	memset(x, 0, sizeof(*x));
	for (x->nbucket = 16; x->nbucket < nbucket && x->nbucket < 65536;)
		x->nbucket *= 2;
	x->key = key;
	if ((x->bucket = calloc(x->nbucket, sizeof(*x->bucket))) == NULL)
		return -1;
	return 0;
}

void cid_index_fini(struct cid_index *x)
{
	free(x->bucket);
	x->bucket = NULL;
	x->nbucket = 0;
}

static struct cid_ent *cid_lookup(const struct cid_index *x, const uint8_t *cid, size_t len,
    uint64_t h)
{
	struct cid_ent *e;

	for (e = *cid_chain(x, h); e != NULL; e = e->next)
		if (e->hash == h && e->len == len && memcmp(e->id, cid, len) == 0)
			return e;
	return NULL;
}

static void cid_unlink(struct cid_index *x, struct cid_ent *e)
{
	struct cid_ent **pp;

	for (pp = cid_chain(x, e->hash); *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			x->n--;
			x->nlen[e->len]--;
			break;
		}
	memset(e, 0, sizeof(*e));
}

int cid_learn(struct cid_index *x, struct cid_set *s, void *owner, const uint8_t *cid,
    size_t len)
{
	struct cid_ent *e, **head;
	uint64_t h;

	if (len == 0 || len > QUIC_CID_MAX)
		return -1;
	h = cid_hash(x, cid, len);
	if (cid_lookup(x, cid, len, h) != NULL)
		return 0;
	e = &s->e[s->next];
	s->next = (s->next + 1) % QUIC_CIDS_PER_FLOW;
	if (e->len != 0)
		cid_unlink(x, e);
	e->owner = owner;
	e->hash = h;
	e->len = (uint8_t)len;
	memcpy(e->id, cid, len);
	head = cid_chain(x, h);
	e->next = *head;
	*head = e;
	x->n++;
	x->nlen[len]++;
	return 1;
}

void cid_forget(struct cid_index *x, struct cid_set *s)
{
	unsigned i;

	for (i = 0; i < QUIC_CIDS_PER_FLOW; i++)
		if (s->e[i].len != 0)
			cid_unlink(x, &s->e[i]);
	s->next = 0;
}

void *cid_find(const struct cid_index *x, const uint8_t *cid, size_t len)
{
	struct cid_ent *e;

	if (len == 0 || len > QUIC_CID_MAX || x->nlen[len] == 0)
		return NULL;
	e = cid_lookup(x, cid, len, cid_hash(x, cid, len));
	return e != NULL ? e->owner : NULL;
}

void *cid_match(const struct cid_index *x, const uint8_t *dgram, size_t len)
{
	const uint8_t *dcid;
	size_t dlen, l;
	void *o;

	if (x->n == 0 || len == 0)
		return NULL;
	if (dgram[0] & 0x80)
		return quic_dgram_dcid(dgram, len, 0, &dcid, &dlen) ? cid_find(x, dcid, dlen) : NULL;
	for (l = 1; l <= QUIC_CID_MAX; l++)
		if (x->nlen[l] != 0 && quic_dgram_dcid(dgram, len, l, &dcid, &dlen) &&
		    (o = cid_find(x, dcid, dlen)) != NULL)
			return o;
	return NULL;
}

int quic_server_scid(const uint8_t *dgram, size_t len, const uint8_t **scid, size_t *slen)
{
	const uint8_t *p = dgram, *end = dgram + len, *v;
	uint8_t first, n;

	if (rd_u8(&p, end, &first) == -1 || !(first & 0x80) ||
	    rd_bytes(&p, end, 4, &v) == -1 || (v[0] | v[1] | v[2] | v[3]) == 0 ||
	    rd_u8(&p, end, &n) == -1 || n > QUIC_CID_MAX || rd_skip(&p, end, n) == -1 ||
	    rd_u8(&p, end, &n) == -1 || n == 0 || n > QUIC_CID_MAX ||
	    rd_bytes(&p, end, n, scid) == -1)
		return 0;
	*slen = n;
	return 1;
}
