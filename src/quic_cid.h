/*
 * QUIC connection IDs for following a client that changes address (NAT
 * rebinding, issue 17): the Source Connection IDs the server puts in its
 * long-header packets (Initial, Handshake, Retry), which are the
 * Destination CIDs the client puts in its packets afterwards, indexed
 * per worker, CID -> owner (a flow). Pure: no I/O, no logging, no
 * allocation but the index's bucket array.
 *
 * Each owner records its CIDs in its own struct cid_set, at most
 * QUIC_CIDS_PER_FLOW of them (a further one replaces the oldest); the
 * entries live in the set, so the index holds at most QUIC_CIDS_PER_FLOW
 * entries per owner and nothing of an owner once cid_forget() ran. A CID
 * another owner holds already is not taken (the first keeps it).
 * Zero-length CIDs are never recorded (nothing to match on).
 *
 * A client's short-header packet does not say how long its DCID is; the
 * index counts its entries per length, and cid_match() tries each length
 * it holds (usually one: a server gives all its CIDs one length).
 */
#ifndef HP_QUIC_CID_H
#define HP_QUIC_CID_H

#include <stddef.h>
#include <stdint.h>

#include "quic_initial.h"

#define QUIC_CIDS_PER_FLOW	4
#define QUIC_MOVE_DGRAMS	2	/* datagrams in a row from a new address that move a flow */

struct cid_ent {
	struct cid_ent	*next;			/* hash chain */
	void		*owner;
	uint64_t	 hash;
	uint8_t		 len;			/* 0: slot unused */
	uint8_t		 id[QUIC_CID_MAX];
};

/** An owner's CIDs (zeroed: empty). */
struct cid_set {
	struct cid_ent	 e[QUIC_CIDS_PER_FLOW];
	unsigned	 next;			/* the slot the next new CID takes */
};

struct cid_index {
	struct cid_ent	**bucket;
	size_t		 nbucket;		/* a power of two */
	size_t		 n;			/* entries */
	uint32_t	 nlen[QUIC_CID_MAX + 1];	/* entries per CID length */
	uint64_t	 key;			/* hash key (random: no chain to flood) */
};

/** An empty index of about nbucket chains (rounded up to a power of two,
 *  at least 16), hashed with key. 0, or -1 out of memory. */
int cid_index_init(struct cid_index *x, size_t nbucket, uint64_t key);

/** Free the bucket array (the entries belong to their sets). */
void cid_index_fini(struct cid_index *x);

/** Record cid (len 1..QUIC_CID_MAX) in owner's set s and the index. 1: new
 *  (the set's oldest replaced if full), 0: known already (in s, or another
 *  owner's: left to it), -1: bad length. */
int cid_learn(struct cid_index *x, struct cid_set *s, void *owner, const uint8_t *cid,
    size_t len);

/** Take every CID of s out of the index and empty s. */
void cid_forget(struct cid_index *x, struct cid_set *s);

/** The owner of cid, or NULL. */
void *cid_find(const struct cid_index *x, const uint8_t *cid, size_t len);

/** The owner of the CID a client's datagram is sent to: its first packet's
 *  DCID (long header), or its first 1..20 bytes after the first byte, for
 *  each CID length the index holds (short header). NULL: none. */
void *cid_match(const struct cid_index *x, const uint8_t *dgram, size_t len);

/** From a server's datagram: the Source CID of its first packet if that
 *  has a long header of a version (not Version Negotiation), 1..20 bytes
 *  within the datagram. 1 and *scid, *slen set, or 0. */
int quic_server_scid(const uint8_t *dgram, size_t len, const uint8_t **scid, size_t *slen);

#endif
