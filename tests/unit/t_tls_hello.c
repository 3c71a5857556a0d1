/*
 * ClientHello reader: every shared vector, whole, every prefix, every split,
 * byte by byte and as captured, each input ending right before a PROT_NONE
 * page; then hand-written cases.
 *
 * Vectors: $HP_VECTORS, else tests/vectors/clienthello (tests run from the
 * repository root). expected.tsv columns: file, expected, alpn, bytes,
 * records, segments.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"
#include "tls_hello.h"

#define POISON	0xee	/* bytes the reader must not look at again */
#define DESC_MAX 4096

/* A region whose last usable byte sits right before a PROT_NONE page. */
struct guard {
	uint8_t	*map;
	size_t	 maplen;
	uint8_t	*end;		/* first byte of the PROT_NONE page */
	size_t	 cap;		/* usable bytes before end */
};

static int guard_init(struct guard *g, size_t cap)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t body = (cap + page - 1) / page * page;

	if (body == 0)
		body = page;
	g->maplen = body + page;
	g->map = mmap(NULL, g->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED) {
		g->map = NULL;
		return -1;
	}
	g->end = g->map + body;
	g->cap = body;
	if (mprotect(g->end, page, PROT_NONE) == -1) {
		munmap(g->map, g->maplen);
		g->map = NULL;
		return -1;
	}
	return 0;
}

static void guard_free(struct guard *g)
{
	if (g->map != NULL)
		munmap(g->map, g->maplen);
	g->map = NULL;
}

/* Copy src[0..n) so that its last byte is the last byte before the guard. */
static uint8_t *guard_place(struct guard *g, const uint8_t *src, size_t n)
{
	uint8_t *dst = g->end - n;

	if (n > 0)
		memcpy(dst, src, n);
	return dst;
}

static int in_range(const uint8_t *p, size_t len, const uint8_t *lo, size_t n)
{
	return p >= lo && p + len <= lo + n;
}

/*
 * "VERDICT<TAB>SNI<TAB>ALPN" as in expected.tsv, plus a complaint when a
 * pointer lies outside both the input and scratch, or the reason does not
 * match the verdict.
 */
static const char *describe(enum hello_verdict v, const struct hello_info *h,
    const uint8_t *raw, size_t n, const uint8_t *scratch, size_t scap, char *buf)
{
	const uint8_t *name;
	size_t pos = 0, len, o;
	int names = 0;

	o = (size_t)snprintf(buf, DESC_MAX, "%s\t", hello_verdict_name(v));
	if (v == HELLO_FOUND && h->sni_len < 1024)
		o += (size_t)snprintf(buf + o, DESC_MAX - o, "%.*s", (int)h->sni_len, (const char *)h->sni);
	else
		o += (size_t)snprintf(buf + o, DESC_MAX - o, "-");
	o += (size_t)snprintf(buf + o, DESC_MAX - o, "\t");
	if (v == HELLO_FOUND || v == HELLO_NO_SNI) {
		while (hello_alpn_next(h, &pos, &name, &len) && o + len + 2 < DESC_MAX) {
			o += (size_t)snprintf(buf + o, DESC_MAX - o, "%s%.*s", names++ ? "," : "",
			    (int)len, (const char *)name);
		}
	}
	if (names == 0)
		o += (size_t)snprintf(buf + o, DESC_MAX - o, "-");
	if ((h->sni != NULL && !in_range(h->sni, h->sni_len, raw, n) &&
	    !in_range(h->sni, h->sni_len, scratch, scap)) ||
	    (h->alpn != NULL && !in_range(h->alpn, h->alpn_len, raw, n) &&
	    !in_range(h->alpn, h->alpn_len, scratch, scap)))
		o += (size_t)snprintf(buf + o, DESC_MAX - o, " (pointer outside the buffers)");
	if ((v == HELLO_MALFORMED || v == HELLO_NOT_TLS) != (h->reason != NULL))
		snprintf(buf + o, DESC_MAX - o, " (reason %s)", h->reason ? h->reason : "missing");
	return buf;
}

static uint8_t *read_file(const char *path, size_t *lenp)
{
	FILE *fp;
	uint8_t *buf = NULL, *nb;
	size_t len = 0, cap = 0, n;

	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			if ((nb = realloc(buf, cap + 1)) == NULL)
				goto fail;
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(fp))
		goto fail;
	fclose(fp);
	buf[len] = '\0';
	*lenp = len;
	return buf;
fail:
	fclose(fp);
	free(buf);
	buf = NULL;
	return NULL;
}

struct vec {
	char	*file, *expected, *alpn, *bytes, *records, *segments;
};

/* Split expected.tsv in place; returns the number of rows, -1 on error. */
static int parse_tsv(char *text, struct vec *v, int max)
{
	char *line, *next, **col[6];
	int n = 0, c;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (line == text)
			continue;		/* header */
		if (n == max)
			return -1;
		col[0] = &v[n].file;
		col[1] = &v[n].expected;
		col[2] = &v[n].alpn;
		col[3] = &v[n].bytes;
		col[4] = &v[n].records;
		col[5] = &v[n].segments;
		for (c = 0; c < 6; c++) {
			*col[c] = line;
			line = strchr(line, '\t');
			if ((line == NULL) != (c == 5))
				return -1;
			if (line != NULL)
				*line++ = '\0';
		}
		n++;
	}
	return n;
}

/* "found:NAME" -> "found<TAB>NAME<TAB>ALPN", others "KIND<TAB>-<TAB>-". */
static void expected_desc(const struct vec *v, char *buf)
{
	if (strncmp(v->expected, "found:", 6) == 0)
		snprintf(buf, DESC_MAX, "found\t%s\t%s", v->expected + 6, v->alpn);
	else if (strcmp(v->expected, "no-sni") == 0)
		snprintf(buf, DESC_MAX, "no-sni\t-\t%s", v->alpn);
	else
		snprintf(buf, DESC_MAX, "%s\t-\t-", v->expected);
}

static int count_bins(const char *dir, const char *sub)
{
	char path[4096];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if ((d = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);

		if (l > 4 && strcmp(de->d_name + l - 4, ".bin") == 0)
			n++;
	}
	closedir(d);
	return n;
}

static int open_fds(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

static struct guard g_in, g_a, g_b, g_scratch;
#define SCRATCH_CAP	(4 + HELLO_MAX_DEFAULT)

/* Scratch, its first n bytes poisoned so a stale gather cannot pass. */
static uint8_t *scratch_n(size_t n)
{
	uint8_t *s = g_scratch.end - SCRATCH_CAP;

	memset(s, POISON, n < SCRATCH_CAP ? n : SCRATCH_CAP);
	return s;
}

static uint8_t *scratch(void)
{
	return g_scratch.end - SCRATCH_CAP;
}

/*
 * Where the record that completes the handshake message ends in a
 * well-formed input: a second, simple-minded walk to check rd.end against.
 */
static size_t hello_end_of(const uint8_t *raw, size_t n)
{
	size_t off = 0, got = 0, len, i;
	uint8_t hs[4];

	while (off + 5 <= n) {
		len = (size_t)raw[off + 3] << 8 | raw[off + 4];
		if (raw[off] != 0x16 || off + 5 + len > n)
			return 0;
		for (i = 0; i < len; i++, got++)
			if (got < 4)
				hs[got] = raw[off + 5 + i];
		off += 5 + len;
		if (got >= 4 && got == 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]))
			return off;
	}
	return 0;
}

/* Why each rejected vector is rejected (hello_info.reason). */
static const struct {
	const char *file, *reason;
} reasons[] = {
	{ "crafted/record-length-16385.bin",
	    "record longer than 16384" },
	{ "crafted/record-length-65535-header-only.bin",
	    "record longer than 16384" },
	{ "crafted/sni-two-host-names.bin",
	    "server_name list holds more than one name" },
	{ "crafted/sni-name-type-1.bin",
	    "server_name name_type is not host_name" },
	{ "crafted/sni-empty-host-name.bin",
	    "host_name is empty" },
	{ "crafted/sni-extension-empty.bin",
	    "server_name extension too short" },
	{ "crafted/sni-list-empty.bin",
	    "server_name list is empty" },
	{ "crafted/sni-length-256.bin",
	    "host_name longer than 255" },
	{ "crafted/sni-length-1000.bin",
	    "host_name longer than 255" },
	{ "crafted/sni-bad-byte-nul-inside.bin",
	    "host_name byte not printable ASCII" },
	{ "crafted/sni-bad-byte-nul-terminated.bin",
	    "host_name byte not printable ASCII" },
	{ "crafted/sni-bad-byte-newline.bin",
	    "host_name byte not printable ASCII" },
	{ "crafted/sni-bad-byte-space.bin",
	    "host_name byte not printable ASCII" },
	{ "crafted/sni-bad-byte-utf8-raw.bin",
	    "host_name byte not printable ASCII" },
	{ "crafted/sni-bad-byte-del-byte.bin",
	    "host_name byte not printable ASCII" },
	{ "crafted/sni-duplicate-extension.bin",
	    "duplicate extension" },
	{ "crafted/sni-host-name-length-overflow.bin",
	    "host_name overruns the server_name list" },
	{ "crafted/sni-list-length-overflow.bin",
	    "server_name list overruns the extension" },
	{ "crafted/sni-list-length-short.bin",
	    "bytes after the server_name list" },
	{ "crafted/alpn-empty-protocol-name.bin",
	    "ALPN protocol name is empty" },
	{ "crafted/alpn-list-length-overflow.bin",
	    "ALPN list overruns the extension" },
	{ "crafted/record-length-zero.bin",
	    "zero-length record" },
	{ "crafted/record-length-zero-between.bin",
	    "zero-length record" },
	{ "crafted/handshake-length-16MiB.bin",
	    "ClientHello longer than the cap" },
	{ "crafted/handshake-length-zero.bin",
	    "ClientHello ends inside legacy_version or random" },
	{ "crafted/handshake-body-too-short.bin",
	    "ClientHello ends inside legacy_version or random" },
	{ "crafted/handshake-type-server-hello.bin",
	    "handshake type is not client_hello" },
	{ "crafted/hello-not-record-aligned.bin",
	    "hello does not end at a record boundary" },
	{ "crafted/session-id-length-33.bin",
	    "legacy_session_id longer than 32" },
	{ "crafted/session-id-length-overflow.bin",
	    "legacy_session_id overruns the hello" },
	{ "crafted/cipher-suites-odd-length.bin",
	    "cipher_suites length odd or zero" },
	{ "crafted/cipher-suites-empty.bin",
	    "cipher_suites length odd or zero" },
	{ "crafted/cipher-suites-length-overflow.bin",
	    "cipher_suites overrun the hello" },
	{ "crafted/compression-methods-empty.bin",
	    "no compression method" },
	{ "crafted/extensions-length-overflow.bin",
	    "extensions block length mismatch" },
	{ "crafted/extensions-length-short.bin",
	    "extensions block length mismatch" },
	{ "crafted/extension-length-overflow.bin",
	    "extension overruns the block" },
	{ "crafted/extension-header-truncated.bin",
	    "extension header truncated" },
	{ "crafted/extensions-length-one-byte.bin",
	    "extensions length truncated" },
	{ "crafted/interleaved-alert-record.bin",
	    "alert or other non-handshake record inside the hello" },
	{ "crafted/interleaved-ccs-record.bin",
	    "alert or other non-handshake record inside the hello" },
	{ "crafted/second-record-major-version-4.bin",
	    "record major version is not 3 inside the hello" },
	{ "crafted/not-tls-http-get.bin",
	    "first byte is not a TLS handshake record" },
	{ "crafted/not-tls-one-byte-G.bin",
	    "first byte is not a TLS handshake record" },
	{ "crafted/not-tls-http2-preface.bin",
	    "first byte is not a TLS handshake record" },
	{ "crafted/not-tls-ssh-banner.bin",
	    "first byte is not a TLS handshake record" },
	{ "crafted/sslv2-compat-client-hello.bin",
	    "first byte is not a TLS handshake record" },
	{ "crafted/not-tls-alert-record.bin",
	    "first byte is not a TLS handshake record" },
	{ "crafted/not-tls-application-data-record.bin",
	    "first byte is not a TLS handshake record" },
	{ "crafted/not-tls-record-major-version-2.bin",
	    "record major version is not 3" },};

static const char *reason_for(const char *file)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reasons[i].file, file) == 0)
			return reasons[i].reason;
	return NULL;
}

static void test_vector(const char *dir, const struct vec *v)
{
	char path[4096], want[DESC_MAX], got[DESC_MAX], whole[DESC_MAX], first_bad[DESC_MAX];
	enum hello_verdict wv, pv, fv;
	struct hello_info h;
	struct hello_rd rd;
	uint8_t *raw, *full, *a, *b;
	size_t n, k, bad_at, hello_end;
	int final_only, bad;

	snprintf(path, sizeof(path), "%s/%s", dir, v->file);
	if ((raw = read_file(path, &n)) == NULL) {
		CHECK(0, "%s: read: %s", v->file, strerror(errno));
		return;
	}
	if (n > g_in.cap || (size_t)strtoul(v->bytes, NULL, 10) != n) {
		CHECK(0, "%s: %zu bytes, expected.tsv says %s", v->file, n, v->bytes);
		goto done;
	}
	expected_desc(v, want);

	/* (a) the whole input, ending at the guard page. */
	full = guard_place(&g_in, raw, n);
	wv = hello_classify(full, n, 0, scratch_n(n), SCRATCH_CAP, &h);
	describe(wv, &h, full, n, scratch(), SCRATCH_CAP, whole);
	CHECK_STR(whole, want, "%s: whole input", v->file);
	if (wv == HELLO_MALFORMED || wv == HELLO_NOT_TLS)
		CHECK_STR(h.reason, reason_for(v->file), "%s: rejected because: %s", v->file,
		    reason_for(v->file) ? reason_for(v->file) : "(not in the table)");

	/*
	 * (b) every strict prefix: before the hello's last record ends,
	 * incomplete (or, for a malformed / not-tls input, already the final
	 * verdict); from there on (bytes after the hello), the whole result.
	 */
	final_only = wv == HELLO_MALFORMED || wv == HELLO_NOT_TLS;
	hello_end = n;
	if (wv == HELLO_FOUND || wv == HELLO_NO_SNI) {
		hello_end = hello_end_of(raw, n);
		hello_rd_init(&rd, 0);
		hello_rd_feed(&rd, full, n);
		CHECK(hello_end > 0 && rd.end == hello_end, "%s: the hello ends at byte %zu", v->file, hello_end);
		if (rd.end != hello_end)
			printf("#   hello_rd says %zu\n", rd.end);
	}
	bad = 0;
	bad_at = 0;
	for (k = 0; k < n; k++) {
		a = guard_place(&g_a, raw, k);
		pv = hello_classify(a, k, 0, k < hello_end ? scratch() : scratch_n(k),
		    SCRATCH_CAP, &h);
		describe(pv, &h, a, k, scratch(), SCRATCH_CAP, got);
		if (k < hello_end ? pv == HELLO_NEED_MORE || (final_only && pv == wv) :
		    strcmp(got, whole) == 0)
			continue;
		if (bad++ == 0) {
			bad_at = k;
			strcpy(first_bad, got);
		}
	}
	CHECK(bad == 0, "%s: every strict prefix (%zu) is incomplete%s", v->file, n,
	    final_only ? " or the final verdict" :
	    hello_end < n ? " up to the hello's end, then the whole result" : "");
	if (bad)
		printf("#   %d prefixes wrong, first at %zu bytes: %s\n", bad, bad_at, first_bad);

	/*
	 * (c) every split: raw[0..k) then raw[0..n). The second call gets a
	 * buffer at another address whose first k bytes are poison: the reader
	 * keeps offsets only and never looks at a byte twice.
	 */
	bad = 0;
	for (k = 0; k <= n; k++) {
		hello_rd_init(&rd, 0);
		a = guard_place(&g_a, raw, k);
		hello_rd_feed(&rd, a, k);
		b = g_b.end - n;
		memset(b, POISON, k);
		memcpy(b + k, raw + k, n - k);
		hello_rd_feed(&rd, b, n);
		fv = hello_rd_parse(&rd, full, scratch_n(n), SCRATCH_CAP, &h);
		describe(fv, &h, full, n, scratch(), SCRATCH_CAP, got);
		if (strcmp(got, whole) != 0 && bad++ == 0) {
			bad_at = k;
			printf("#   split at %zu: %s\n", k, got);
		}
	}
	CHECK(bad == 0, "%s: every split point (%zu) gives the whole-input result", v->file, n + 1);

	/*
	 * Byte by byte: call k sees a k-byte buffer ending at the guard page in
	 * which only the newest byte is real, the rest poison.
	 */
	memset(g_b.end - n, POISON, n);
	hello_rd_init(&rd, 0);
	bad = 0;
	pv = hello_rd_feed(&rd, g_b.end, 0);
	for (k = 1; k <= n; k++) {
		g_b.end[-1] = raw[k - 1];
		fv = hello_rd_feed(&rd, g_b.end - k, k);
		if (pv != HELLO_NEED_MORE && fv != pv && bad++ == 0)
			printf("#   verdict changed from %s to %s at byte %zu\n",
			    hello_verdict_name(pv), hello_verdict_name(fv), k);
		pv = fv;
	}
	fv = hello_rd_parse(&rd, full, scratch_n(n), SCRATCH_CAP, &h);
	describe(fv, &h, full, n, scratch(), SCRATCH_CAP, got);
	if (strcmp(got, whole) != 0 && bad++ == 0)
		printf("#   byte by byte: %s\n", got);
	CHECK(bad == 0, "%s: byte by byte, each byte seen once, gives the whole-input result", v->file);

	/* As captured: one feed per TCP segment. */
	if (strcmp(v->segments, "-") != 0) {
		const char *s = v->segments;
		char *e;

		hello_rd_init(&rd, 0);
		k = 0;
		while (*s != '\0') {
			k += strtoul(s, &e, 10);
			if (k > n)
				break;
			hello_rd_feed(&rd, full, k);
			s = *e == ',' ? e + 1 : e;
		}
		fv = hello_rd_parse(&rd, full, scratch_n(n), SCRATCH_CAP, &h);
		describe(fv, &h, full, n, scratch(), SCRATCH_CAP, got);
		CHECK(k == n && strcmp(got, whole) == 0, "%s: fed as captured (%s)", v->file, v->segments);
		if (k != n || strcmp(got, whole) != 0)
			printf("#   %zu of %zu bytes: %s\n", k, n, got);
	}
done:
	free(raw);
	raw = NULL;
}

static void test_vectors(void)
{
	const char *dir = getenv("HP_VECTORS");
	char path[4096], *tsv;
	struct vec *v;
	size_t len;
	int n, i;

	if (dir == NULL || *dir == '\0')
		dir = "tests/vectors/clienthello";
	snprintf(path, sizeof(path), "%s/expected.tsv", dir);
	if ((tsv = (char *)read_file(path, &len)) == NULL) {
		CHECK(0, "read %s: %s (set HP_VECTORS)", path, strerror(errno));
		return;
	}
	if ((v = calloc(1024, sizeof(*v))) == NULL) {
		CHECK(0, "calloc");
		goto done;
	}
	n = parse_tsv(tsv, v, 1024);
	CHECK(n > 0, "%s parses (%d rows)", path, n);
	CHECK_INT(n, count_bins(dir, "real") + count_bins(dir, "crafted"),
	    "expected.tsv lists every real/ and crafted/ file");
	for (i = 0; i < n; i++)
		test_vector(dir, &v[i]);
done:
	free(v);
	v = NULL;
	free(tsv);
	tsv = NULL;
}

/* ---- hand-written cases ---- */

/* TLS 1.3-style hello, SNI "a.b", ALPN "h2", in one record. */
static const uint8_t hello_min[] = {
	0x16,			/* record type: handshake */
	0x03, 0x01,		/* legacy_record_version: TLS 1.0 */
	0x00, 0x44,		/* record length: 68 */
	0x01,			/* handshake type: client_hello */
	0x00, 0x00, 0x40,	/* handshake length: 64 */
	0x03, 0x03,		/* legacy_version: TLS 1.2 */
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,	/* random (32 bytes) */
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
	0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
	0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
	0x00,			/* legacy_session_id: empty */
	0x00, 0x02,		/* cipher_suites length: 2 */
	0x13, 0x01,		/* TLS_AES_128_GCM_SHA256 */
	0x01,			/* compression_methods length: 1 */
	0x00,			/* null */
	0x00, 0x15,		/* extensions length: 21 */
	0x00, 0x00,		/* extension: server_name */
	0x00, 0x08,		/* extension length: 8 */
	0x00, 0x06,		/* server_name_list length: 6 */
	0x00,			/* name_type: host_name */
	0x00, 0x03,		/* host_name length: 3 */
	'a', '.', 'b',
	0x00, 0x10,		/* extension: ALPN */
	0x00, 0x05,		/* extension length: 5 */
	0x00, 0x03,		/* protocol_name_list length: 3 */
	0x02, 'h', '2',		/* "h2" */
};

/* The same message over three records: 2 + 1 + 65 handshake bytes. */
static uint8_t hello_3rec[sizeof(hello_min) + 10];

static void build_3rec(void)
{
	const uint8_t *msg = hello_min + 5;
	uint8_t *p = hello_3rec;
	static const size_t sizes[] = { 2, 1, 65 };
	size_t i;

	for (i = 0; i < 3; i++) {
		*p++ = 0x16;
		*p++ = 0x03;
		*p++ = (uint8_t)(i + 1);		/* minor versions differ: ignored */
		*p++ = 0x00;
		*p++ = (uint8_t)sizes[i];
		memcpy(p, msg, sizes[i]);
		p += sizes[i];
		msg += sizes[i];
	}
}

static enum hello_verdict classify(const uint8_t *raw, size_t len, size_t cap, struct hello_info *h)
{
	uint8_t *g = guard_place(&g_a, raw, len);

	return hello_classify(g, len, cap, scratch(), SCRATCH_CAP, h);
}

static void test_min(void)
{
	struct hello_info h;
	struct hello_rd rd;
	const uint8_t *name;
	size_t pos = 0, len;
	uint8_t msg[68];

	CHECK_INT(classify(hello_min, sizeof(hello_min), 0, &h), HELLO_FOUND, "minimal hello: found");
	CHECK(h.sni_len == 3 && memcmp(h.sni, "a.b", 3) == 0, "minimal hello: SNI a.b");
	CHECK(hello_alpn_next(&h, &pos, &name, &len) == 1 && len == 2 && memcmp(name, "h2", 2) == 0,
	    "minimal hello: ALPN h2");
	CHECK_INT(hello_alpn_next(&h, &pos, &name, &len), 0, "minimal hello: one ALPN name");
	CHECK(h.reason == NULL && h.ech == 0, "minimal hello: no reason, no ECH");

	hello_rd_init(&rd, 0);
	CHECK_INT(hello_rd_feed(&rd, hello_min, sizeof(hello_min)), HELLO_COMPLETE, "record layer: complete");
	CHECK(hello_rd_msg(&rd, hello_min) == hello_min + 5 && rd.need == 68 && rd.end == sizeof(hello_min) &&
	    rd.records == 1, "record layer: one record, message in place");

	/* The message layer alone. */
	CHECK_INT(tls_hello_parse(hello_min + 5, 68, &h), HELLO_FOUND, "tls_hello_parse: found");
	CHECK(h.sni == hello_min + 5 + 4 + 2 + 32 + 1 + 4 + 2 + 2 + 4 + 2 + 1 + 2,
	    "tls_hello_parse: SNI points into the message");
	CHECK_INT(tls_hello_parse(hello_min + 5, 67, &h), HELLO_MALFORMED, "tls_hello_parse: short by one");
	CHECK_STR(h.reason, "handshake length does not match the message", "tls_hello_parse: reason");
	memcpy(msg, hello_min + 5, sizeof(msg));
	msg[4 + 2 + 32 + 1 + 4 + 2 + 2 + 4 + 2 + 1 + 2] = ' ';	/* "a.b" -> " .b" */
	CHECK_INT(tls_hello_parse(msg, sizeof(msg), &h), HELLO_MALFORMED, "space in host_name: malformed");
	CHECK_STR(h.reason, "host_name byte not printable ASCII", "space in host_name: reason");
	CHECK(h.sni == NULL && h.alpn == NULL, "malformed: no SNI or ALPN returned");

	/* Three records: the message is gathered into scratch. */
	build_3rec();
	hello_rd_init(&rd, 0);
	CHECK_INT(hello_rd_feed(&rd, hello_3rec, sizeof(hello_3rec)), HELLO_COMPLETE, "3 records: complete");
	CHECK(hello_rd_msg(&rd, hello_3rec) == NULL && rd.records == 3, "3 records: not in place");
	memset(msg, 0, sizeof(msg));
	hello_rd_gather(&rd, hello_3rec, msg);
	CHECK(memcmp(msg, hello_min + 5, sizeof(msg)) == 0, "3 records: gathered message");
	CHECK_INT(hello_rd_parse(&rd, hello_3rec, msg, sizeof(msg) - 1, &h), HELLO_MALFORMED,
	    "3 records: scratch one byte short refused");
	CHECK_STR(h.reason, "scratch buffer smaller than the hello", "3 records: scratch reason");
	CHECK_INT(hello_rd_parse(&rd, hello_3rec, msg, sizeof(msg), &h), HELLO_FOUND, "3 records: found");
	CHECK(h.sni >= msg && h.sni + h.sni_len <= msg + sizeof(msg), "3 records: SNI points into scratch");
}

#define ZERO8	0, 0, 0, 0, 0, 0, 0, 0
#define RANDOM32 ZERO8, ZERO8, ZERO8, ZERO8

/* Message layer cases not among the vectors. */
static void test_messages(void)
{
	static const uint8_t ext_type_only[] = {
		0x01,			/* client_hello */
		0x00, 0x00, 0x2d,	/* length 45 */
		0x03, 0x03,		/* legacy_version */
		RANDOM32,
		0x00,			/* legacy_session_id: empty */
		0x00, 0x02, 0x13, 0x01,	/* cipher_suites: one */
		0x01, 0x00,		/* compression_methods: null */
		0x00, 0x02,		/* extensions length: 2 */
		0x00, 0x2b,		/* supported_versions type, no length */
	};
	static const uint8_t dup_unknown[] = {
		0x01,			/* client_hello */
		0x00, 0x00, 0x33,	/* length 51 */
		0x03, 0x03,		/* legacy_version */
		RANDOM32,
		0x00,			/* legacy_session_id: empty */
		0x00, 0x02, 0x13, 0x01,	/* cipher_suites: one */
		0x01, 0x00,		/* compression_methods: null */
		0x00, 0x08,		/* extensions length: 8 */
		0xfe, 0x0d, 0x00, 0x00,	/* encrypted_client_hello, empty */
		0xfe, 0x0d, 0x00, 0x00,	/* the same type again */
	};
	static const uint8_t ech_alpn_bad_byte[] = {
		0x01,			/* client_hello */
		0x00, 0x00, 0x36,	/* length 54 */
		0x03, 0x03,		/* legacy_version */
		RANDOM32,
		0x00,			/* legacy_session_id: empty */
		0x00, 0x02, 0x13, 0x01,	/* cipher_suites: one */
		0x01, 0x00,		/* compression_methods: null */
		0x00, 0x0b,		/* extensions length: 11 */
		0xfe, 0x0d, 0x00, 0x00,	/* encrypted_client_hello, empty */
		0x00, 0x10, 0x00, 0x03,	/* ALPN, 3 bytes */
		0x00, 0x01,		/* protocol_name_list length: 1 */
		0x00,			/* a zero-length name */
	};
	static const uint8_t ech_only[] = {
		0x01,			/* client_hello */
		0x00, 0x00, 0x2f,	/* length 47 */
		0x03, 0x03,		/* legacy_version */
		RANDOM32,
		0x00,			/* legacy_session_id: empty */
		0x00, 0x02, 0x13, 0x01,	/* cipher_suites: one */
		0x01, 0x00,		/* compression_methods: null */
		0x00, 0x04,		/* extensions length: 4 */
		0xfe, 0x0d, 0x00, 0x00,	/* encrypted_client_hello, empty */
	};
	struct hello_info h;

	CHECK_INT(tls_hello_parse(ext_type_only, sizeof(ext_type_only), &h), HELLO_MALFORMED,
	    "extension type without its length: malformed");
	CHECK_STR(h.reason, "extension header truncated", "extension type without its length: reason");
	CHECK_INT(tls_hello_parse(dup_unknown, sizeof(dup_unknown), &h), HELLO_MALFORMED,
	    "the same extension type twice: malformed");
	CHECK_STR(h.reason, "duplicate extension", "the same extension type twice: reason");
	CHECK_INT(tls_hello_parse(ech_alpn_bad_byte, sizeof(ech_alpn_bad_byte), &h), HELLO_MALFORMED,
	    "empty ALPN name: malformed");
	CHECK_STR(h.reason, "ALPN protocol name is empty", "empty ALPN name: reason");
	CHECK(h.ech == 0 && h.alpn == NULL, "malformed: the whole info is cleared");
	CHECK_INT(tls_hello_parse(ech_only, sizeof(ech_only), &h), HELLO_NO_SNI, "ECH alone: no-sni");
	CHECK(h.ech == 1 && h.alpn == NULL && h.alpn_len == 0, "ECH alone: ech set, no ALPN");
}

static void test_early(void)
{
	static const uint8_t get[] = { 'G', 'E', 'T', ' ' };
	static const uint8_t sslv2[] = {
		0x80, 0x2e,		/* SSLv2 record: 2-byte header, high bit set */
		0x01,			/* CLIENT-HELLO */
	};
	static const uint8_t major2[] = {
		0x16,			/* handshake */
		0x02, 0x00,		/* record version 2.0 */
	};
	static const uint8_t rec_65535[] = {
		0x16, 0x03, 0x01,	/* handshake, TLS 1.0 */
		0xff, 0xff,		/* record length 65535 > 16384 */
	};
	static const uint8_t rec_zero[] = {
		0x16, 0x03, 0x01,	/* handshake, TLS 1.0 */
		0x00, 0x00,		/* record length 0 */
	};
	static const uint8_t server_hello[] = {
		0x16, 0x03, 0x03, 0x00, 0x40,	/* handshake record, 64 bytes */
		0x02,				/* handshake type: server_hello */
	};
	static const uint8_t huge[] = {
		0x16, 0x03, 0x01, 0x00, 0x40,	/* handshake record, 64 bytes */
		0x01,				/* client_hello */
		0xff, 0xff, 0xff,		/* length 16 MiB - 1 */
	};
	static const uint8_t overlong[] = {
		0x16, 0x03, 0x01, 0x00, 0x40,	/* handshake record, 64 bytes */
		0x01,				/* client_hello */
		0x00, 0x00, 0x3b,		/* length 59: the record holds 64 - 4 = 60 */
	};
	static const uint8_t alert_between[] = {
		0x16, 0x03, 0x01, 0x00, 0x02,	/* handshake record, 2 bytes */
		0x01, 0x00,			/* client_hello, first length byte */
		0x15,				/* alert record inside the hello */
	};
	static const uint8_t major4_between[] = {
		0x16, 0x03, 0x01, 0x00, 0x02,	/* handshake record, 2 bytes */
		0x01, 0x00,			/* client_hello, first length byte */
		0x16, 0x04,			/* record version 4.x inside the hello */
	};
	struct hello_info h;

	CHECK_INT(classify(get, 1, 0, &h), HELLO_NOT_TLS, "'G': not-tls from one byte");
	CHECK_STR(h.reason, "first byte is not a TLS handshake record", "'G': reason");
	CHECK_INT(classify(sslv2, 1, 0, &h), HELLO_NOT_TLS, "SSLv2 hello: not-tls from one byte");
	CHECK_INT(classify(major2, 1, 0, &h), HELLO_NEED_MORE, "0x16: incomplete");
	CHECK_INT(classify(major2, 2, 0, &h), HELLO_NOT_TLS, "0x16 0x02: not-tls from two bytes");
	CHECK_STR(h.reason, "record major version is not 3", "0x16 0x02: reason");
	CHECK_INT(classify(rec_65535, 4, 0, &h), HELLO_NEED_MORE, "record length 0xff..: incomplete");
	CHECK_INT(classify(rec_65535, 5, 0, &h), HELLO_MALFORMED, "record length 65535: malformed from the header");
	CHECK_STR(h.reason, "record longer than 16384", "record length 65535: reason");
	CHECK_INT(classify(rec_zero, 5, 0, &h), HELLO_MALFORMED, "record length 0: malformed");
	CHECK_STR(h.reason, "zero-length record", "record length 0: reason");
	CHECK_INT(classify(server_hello, 5, 0, &h), HELLO_NEED_MORE, "record header alone: incomplete");
	CHECK_INT(classify(server_hello, 6, 0, &h), HELLO_MALFORMED, "server_hello: malformed from its first byte");
	CHECK_STR(h.reason, "handshake type is not client_hello", "server_hello: reason");
	CHECK_INT(classify(huge, 8, 0, &h), HELLO_NEED_MORE, "length 0xffff..: incomplete");
	CHECK_INT(classify(huge, 9, 0, &h), HELLO_MALFORMED, "length 16 MiB: malformed from the header");
	CHECK_STR(h.reason, "ClientHello longer than the cap", "length 16 MiB: reason");
	CHECK_INT(classify(overlong, 9, 0, &h), HELLO_MALFORMED, "record longer than the hello: malformed early");
	CHECK_STR(h.reason, "hello does not end at a record boundary", "record longer than the hello: reason");
	CHECK_INT(classify(alert_between, 7, 0, &h), HELLO_NEED_MORE, "first fragment: incomplete");
	CHECK_INT(classify(alert_between, 8, 0, &h), HELLO_MALFORMED, "alert record inside the hello: malformed");
	CHECK_STR(h.reason, "alert or other non-handshake record inside the hello", "alert inside: reason");
	CHECK_INT(classify(major4_between, 9, 0, &h), HELLO_MALFORMED, "record version 4 inside the hello: malformed");
	CHECK_STR(h.reason, "record major version is not 3 inside the hello", "version 4 inside: reason");
	CHECK_INT(classify(get, 0, 0, &h), HELLO_NEED_MORE, "no bytes: incomplete");
	CHECK(h.reason == NULL, "incomplete: no reason");
}

/* cap 1000 rejects a 2 KB hello from its handshake header. */
static void test_cap(const char *dir)
{
	char path[4096];
	struct hello_info h;
	uint8_t *raw;
	size_t n;

	snprintf(path, sizeof(path), "%s/real/chromium-pq.bin", dir);
	if ((raw = read_file(path, &n)) == NULL) {
		CHECK(0, "read %s", path);
		return;
	}
	CHECK_INT(n, 1986, "chromium-pq.bin is 1986 bytes (body 1977)");
	CHECK_INT(classify(raw, 8, 1000, &h), HELLO_NEED_MORE, "cap 1000: 8 bytes, incomplete");
	CHECK_INT(classify(raw, 9, 1000, &h), HELLO_MALFORMED, "cap 1000: rejected from the 9-byte header");
	CHECK_STR(h.reason, "ClientHello longer than the cap", "cap 1000: reason");
	CHECK_INT(classify(raw, n, 1000, &h), HELLO_MALFORMED, "cap 1000: whole hello rejected");
	CHECK_INT(classify(raw, 9, 0, &h), HELLO_NEED_MORE, "default cap: 9 bytes, incomplete");
	CHECK_INT(classify(raw, n, 1976, &h), HELLO_MALFORMED, "cap 1976: one under the body, rejected");
	CHECK_INT(classify(raw, n, 1977, &h), HELLO_FOUND, "cap 1977: exactly the body, found");
	free(raw);
	raw = NULL;

	/*
	 * The memory bound is tight: 1 handshake byte per record puts 6 raw
	 * bytes behind each message byte, and HELLO_RAW_MAX(cap) covers it.
	 */
	snprintf(path, sizeof(path), "%s/crafted/frag-1-byte-per-record.bin", dir);
	if ((raw = read_file(path, &n)) == NULL) {
		CHECK(0, "read %s", path);
		return;
	}
	CHECK_INT(classify(raw, n, 221, &h), HELLO_FOUND, "225 records of 1 byte: found with cap 221");
	CHECK(n == 6 * (4 + 221) && n <= HELLO_RAW_MAX(221), "225 records: %zu raw bytes = 6 x (4 + cap)", n);
	CHECK_INT(classify(raw, n, 220, &h), HELLO_MALFORMED, "225 records: cap 220 rejects it");
	free(raw);
	raw = NULL;
}

static void test_alpn_next(const char *dir)
{
	static const char *want[] = { "h2", "h2-16", "h2-14", "http/1.1" };
	char path[4096];
	struct hello_info h;
	const uint8_t *name;
	uint8_t *raw;
	size_t n, pos = 0, len;
	int i = 0, ok = 1;

	snprintf(path, sizeof(path), "%s/real/h2load.bin", dir);
	if ((raw = read_file(path, &n)) == NULL) {
		CHECK(0, "read %s", path);
		return;
	}
	CHECK_INT(classify(raw, n, 0, &h), HELLO_FOUND, "h2load: found");
	while (hello_alpn_next(&h, &pos, &name, &len)) {
		if (i >= 4 || len != strlen(want[i]) || memcmp(name, want[i], len) != 0)
			ok = 0;
		i++;
	}
	CHECK(ok && i == 4, "hello_alpn_next: h2, h2-16, h2-14, http/1.1 in order");
	CHECK_INT(hello_alpn_next(&h, &pos, &name, &len), 0, "hello_alpn_next: stays at the end");
	free(raw);
	raw = NULL;

	memset(&h, 0, sizeof(h));
	pos = 0;
	CHECK_INT(hello_alpn_next(&h, &pos, &name, &len), 0, "hello_alpn_next: no ALPN extension");
}

static void test_sticky(void)
{
	static const uint8_t bad_then_more[] = {
		0x16, 0x03, 0x01, 0x00, 0x00,	/* zero-length record */
		0x16, 0x03, 0x01, 0x00, 0x44,	/* then a good header */
	};
	uint8_t buf[sizeof(hello_min) + 16];
	struct hello_rd rd;
	size_t end;

	hello_rd_init(&rd, 0);
	CHECK_INT(hello_rd_feed(&rd, bad_then_more, 5), HELLO_MALFORMED, "sticky: malformed");
	CHECK_INT(hello_rd_feed(&rd, bad_then_more, sizeof(bad_then_more)), HELLO_MALFORMED,
	    "sticky: still malformed after more bytes");
	CHECK_INT(hello_rd_feed(&rd, bad_then_more, 3), HELLO_MALFORMED, "sticky: still malformed on a shorter call");

	/* Complete, then bytes after the hello: ignored. */
	memcpy(buf, hello_min, sizeof(hello_min));
	memset(buf + sizeof(hello_min), 0x15, 16);	/* e.g. an alert after the hello */
	hello_rd_init(&rd, 0);
	CHECK_INT(hello_rd_feed(&rd, buf, sizeof(hello_min) - 1), HELLO_NEED_MORE, "sticky: one byte short");
	CHECK_INT(hello_rd_feed(&rd, buf, sizeof(hello_min) + 3), HELLO_COMPLETE, "sticky: complete");
	end = rd.end;
	CHECK_INT(hello_rd_feed(&rd, buf, sizeof(buf)), HELLO_COMPLETE, "sticky: still complete after more");
	CHECK(end == sizeof(hello_min) && rd.end == end, "sticky: end stays at the hello's last record");

	hello_rd_init(&rd, 0);
	CHECK_INT(hello_rd_feed(&rd, (const uint8_t *)"G", 1), HELLO_NOT_TLS, "sticky: not-tls");
	CHECK_INT(hello_rd_feed(&rd, hello_min, sizeof(hello_min)), HELLO_NOT_TLS, "sticky: still not-tls");
}

static void test_names(void)
{
	CHECK_STR(hello_verdict_name(HELLO_FOUND), "found", "name: found");
	CHECK_STR(hello_verdict_name(HELLO_NO_SNI), "no-sni", "name: no-sni");
	CHECK_STR(hello_verdict_name(HELLO_NEED_MORE), "incomplete", "name: incomplete");
	CHECK_STR(hello_verdict_name(HELLO_MALFORMED), "malformed", "name: malformed");
	CHECK_STR(hello_verdict_name(HELLO_NOT_TLS), "not-tls", "name: not-tls");
	CHECK_INT(HELLO_MAX_DEFAULT, 32768, "default cap 32768");
}

int main(void)
{
	const char *dir = getenv("HP_VECTORS");
	int fds = open_fds();

	if (dir == NULL || *dir == '\0')
		dir = "tests/vectors/clienthello";
	/* 20000: larger than any vector (18010 bytes). */
	if (guard_init(&g_in, 20000) == -1 || guard_init(&g_a, 20000) == -1 ||
	    guard_init(&g_b, 20000) == -1 || guard_init(&g_scratch, SCRATCH_CAP) == -1) {
		CHECK(0, "mmap guard pages: %s", strerror(errno));
		return test_done();
	}
	test_min();
	test_messages();
	test_early();
	test_cap(dir);
	test_alpn_next(dir);
	test_sticky();
	test_names();
	test_vectors();
	guard_free(&g_in);
	guard_free(&g_a);
	guard_free(&g_b);
	guard_free(&g_scratch);
	CHECK_INT(open_fds(), fds, "no fd left open");
	return test_done();
}
