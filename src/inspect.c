/*
 * --inspect: read each file as what a client sent. A TCP byte stream is fed
 * to the record layer whole, then parsed; only its first HELLO_RAW_MAX(cap)
 * bytes are read: that always suffices for a verdict, and whatever follows
 * is not the reader's business. A file starting with a QUIC long header is
 * one UDP payload, and a text file whose first line is the hex of one holds
 * a datagram per line (as `tshark -T fields -e udp.payload` prints them):
 * each goes to the QUIC Initial reader in order, until its verdict.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "inspect.h"
#include "quic_initial.h"
#include "tls_hello.h"

#define UDP_PAYLOAD_MAX	65527		/* the most a UDP datagram carries (IPv4) */
#define INSPECT_HEX_MAX	(1024 * 1024)	/* a file of hex datagrams, at most */

/* What every file is read with, allocated once. */
struct inspect {
	size_t			 max_hello;
	uint8_t			*buf;		/* the file */
	size_t			 cap;
	uint8_t			*scratch;	/* the TCP reader's */
	struct quic_hello	*q;
	uint8_t			*dgram, *first;	/* a hex line's datagram; the first */
};

/* Read up to cap bytes of path into buf. Returns bytes read, or -1 with
 * errno set. */
static ssize_t inspect_read(const char *path, uint8_t *buf, size_t cap)
{
	FILE *fp;
	size_t len;
	int saved;

	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	len = fread(buf, 1, cap, fp);
	if (len < cap && ferror(fp)) {
		saved = errno ? errno : EIO;
		fclose(fp);
		errno = saved;
		return -1;
	}
	fclose(fp);
	return (ssize_t)len;
}

/* One protocol name, bytes that could break the line or the list escaped. */
static void inspect_put_name(FILE *out, const uint8_t *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (name[i] < 0x21 || name[i] > 0x7e || name[i] == ',' || name[i] == '\\')
			fprintf(out, "\\x%02x", name[i]);
		else
			fputc(name[i], out);
	}
}

/* SNI (if sni) and ALPN (if alpn) of h, "-" for an empty one, TAB apart. */
static void put_fields(FILE *out, int sni, int alpn, const struct hello_info *h)
{
	const uint8_t *name;
	size_t pos = 0, len;
	int n = 0;

	if (sni)
		fwrite(h->sni, 1, h->sni_len, out);	/* printable ASCII, checked */
	else
		fputc('-', out);
	fputc('\t', out);
	if (alpn) {
		while (hello_alpn_next(h, &pos, &name, &len)) {
			if (n++ > 0)
				fputc(',', out);
			inspect_put_name(out, name, len);
		}
	}
	if (n == 0)
		fputc('-', out);
}

static void inspect_put(FILE *out, const char *path, enum hello_verdict v,
    const struct hello_info *h)
{
	fprintf(out, "%s\t%s\t", path, hello_verdict_name(v));
	put_fields(out, v == HELLO_FOUND, v == HELLO_FOUND || v == HELLO_NO_SNI, h);
	fputc('\n', out);
}

/* A QUIC long header (form and fixed bit set): no TLS record, nor an SSLv2
 * hello shorter than 16 KiB, starts with such a byte. */
static int quic_start(const uint8_t *p, size_t len)
{
	return len >= 1 && (p[0] & 0xc0) == 0xc0;
}

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* The datagram of the hex line starting at *pos in p[0..len) into d (at most
 * UDP_PAYLOAD_MAX bytes); *pos moves past the line. Colons between bytes and
 * a CR before the newline are skipped. The datagram's length, or -1 with
 * *why set. */
static ssize_t hex_line(const uint8_t *p, size_t len, size_t *pos, uint8_t *d, const char **why)
{
	size_t i = *pos, n = 0;
	int hi, lo;

	for (; i < len && p[i] != '\n'; i++) {
		if (p[i] == ':' || p[i] == '\r' || p[i] == ' ' || p[i] == '\t')
			continue;
		if (i + 1 >= len || (hi = hexval(p[i])) == -1 || (lo = hexval(p[i + 1])) == -1) {
			*why = "not a hex byte";
			return -1;
		}
		if (n == UDP_PAYLOAD_MAX) {
			*why = "a datagram over 65527 bytes";
			return -1;
		}
		d[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	*pos = i < len ? i + 1 : i;
	return (ssize_t)n;
}

/* What the QUIC Initial reader finds: one line, the TCP line's four fields,
 * then quic, the version and DCID of the first datagram's first packet, and
 * the reader's reason ("-": none). */
static void quic_put(FILE *out, const char *path, enum quic_verdict v, const struct hello_info *h,
    const struct quic_hello *q, const uint8_t *first, size_t flen)
{
	const uint8_t *dcid = q->dcid;
	size_t dlen = q->dcid_len, i;

	fprintf(out, "%s\t%s\t", path, quic_verdict_name(v));
	put_fields(out, v == QUIC_FOUND, v == QUIC_FOUND || v == QUIC_NO_SNI, h);
	fprintf(out, "\tquic\t");
	if (flen >= 5)
		fprintf(out, "0x%02x%02x%02x%02x\t", first[1], first[2], first[3], first[4]);
	else
		fprintf(out, "-\t");
	if (dlen == 0 && !quic_dgram_dcid(first, flen, 0, &dcid, &dlen))
		dlen = 0;
	for (i = 0; i < dlen; i++)
		fprintf(out, "%02x", dcid[i]);
	fprintf(out, "%s\t%s\n", dlen == 0 ? "-" : "", q->reason != NULL ? q->reason : "-");
}

/* The file buf[0..len) as a client's datagrams: one raw (hex 0) or one per
 * line in hex. 0, or -1 after saying why on err. */
static int inspect_quic(struct inspect *x, const char *path, const uint8_t *buf, size_t len,
    int hex, FILE *out, FILE *err)
{
	struct hello_info h;
	enum quic_verdict v = QUIC_NEED_MORE;
	const char *why = NULL;
	size_t pos = 0, line = 0, flen = 0;
	ssize_t n;

	if (quic_crypto_init() == -1) {
		fprintf(err, "halfpipe: --inspect: %s: libcrypto lacks what QUIC Initials need\n",
		    path);
		return -1;
	}
	quic_hello_init(x->q, x->max_hello);
	memset(&h, 0, sizeof(h));
	if (!hex) {
		if (len > UDP_PAYLOAD_MAX) {
			fprintf(err, "halfpipe: --inspect: %s: %zu bytes, more than a UDP datagram "
			    "holds (65527)\n", path, len);
			return -1;
		}
		memcpy(x->first, buf, len);
		flen = len;
		v = quic_hello_feed(x->q, buf, len, &h);
	}
	while (hex && pos < len && v == QUIC_NEED_MORE) {
		line++;
		if ((n = hex_line(buf, len, &pos, x->dgram, &why)) == -1) {
			fprintf(err, "halfpipe: --inspect: %s:%zu: %s\n", path, line, why);
			return -1;
		}
		if (n == 0)
			continue;	/* a blank line */
		if (flen == 0) {
			memcpy(x->first, x->dgram, (size_t)n);
			flen = (size_t)n;
		}
		v = quic_hello_feed(x->q, x->dgram, (size_t)n, &h);
	}
	quic_put(out, path, v, &h, x->q, x->first, flen);
	return 0;
}

/* One file: QUIC datagrams (raw, or hex lines whose first starts a long
 * header), else the bytes of a TCP stream. 0, or -1 said on err. */
static int inspect_file(struct inspect *x, const char *path, FILE *out, FILE *err)
{
	struct hello_rd rd;
	struct hello_info h;
	const char *why;
	size_t pos = 0;
	ssize_t len, n;

	if ((len = inspect_read(path, x->buf, x->cap)) == -1) {
		fprintf(err, "halfpipe: --inspect: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (quic_start(x->buf, (size_t)len))
		return inspect_quic(x, path, x->buf, (size_t)len, 0, out, err);
	if (len > 0 && hexval(x->buf[0]) != -1 &&
	    (n = hex_line(x->buf, (size_t)len, &pos, x->dgram, &why)) > 0 &&
	    quic_start(x->dgram, (size_t)n)) {
		if ((size_t)len > INSPECT_HEX_MAX) {
			fprintf(err, "halfpipe: --inspect: %s: hex datagrams over %d bytes\n", path,
			    INSPECT_HEX_MAX);
			return -1;
		}
		return inspect_quic(x, path, x->buf, (size_t)len, 1, out, err);
	}
	hello_rd_init(&rd, x->max_hello);
	if ((size_t)len > HELLO_RAW_MAX(x->max_hello))
		len = (ssize_t)HELLO_RAW_MAX(x->max_hello);
	hello_rd_feed(&rd, x->buf, (size_t)len);
	inspect_put(out, path, hello_rd_parse(&rd, x->buf, x->scratch, 4 + x->max_hello, &h), &h);
	return 0;
}

int inspect_main(int nfiles, char **files, size_t max_hello, FILE *out, FILE *err)
{
	struct inspect x = { 0 };
	int i, rc = 0;

	if (max_hello == 0)
		max_hello = HELLO_MAX_DEFAULT;
	x.max_hello = max_hello;
	x.cap = HELLO_RAW_MAX(max_hello) > INSPECT_HEX_MAX + 1 ? HELLO_RAW_MAX(max_hello) :
	    INSPECT_HEX_MAX + 1;
	if ((x.buf = malloc(x.cap)) == NULL || (x.scratch = malloc(4 + max_hello)) == NULL ||
	    (x.q = malloc(sizeof(*x.q))) == NULL || (x.dgram = malloc(UDP_PAYLOAD_MAX)) == NULL ||
	    (x.first = malloc(UDP_PAYLOAD_MAX)) == NULL) {
		fprintf(err, "halfpipe: --inspect: %s\n", strerror(errno));
		rc = 1;
		goto done;
	}
	for (i = 0; i < nfiles; i++)
		if (inspect_file(&x, files[i], out, err) == -1)
			rc = 1;
	if (fflush(out) == EOF) {
		fprintf(err, "halfpipe: --inspect: write: %s\n", strerror(errno));
		rc = 1;
	}
done:
	free(x.buf);
	free(x.scratch);
	free(x.q);
	free(x.dgram);
	free(x.first);
	return rc;
}
