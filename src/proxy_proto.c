/*
 * proxy_proto.c: the PROXY protocol header, read (pp_parse) and written
 * (pp_write). The wire format is drawn in proxy_proto.h.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"
#include "proxy_proto.h"
#include "wire.h"

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[6] = "PROXY ";

#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_FAM_UNSPEC	0x00
#define V2_FAM_TCP4	0x11
#define V2_FAM_TCP6	0x21
#define V2_STREAM	0x1	/* the family byte's low nibble: TCP */
#define V2_DGRAM	0x2	/* UDP */

static int fail(struct pp_info *out, const char *why)
{
	out->reason = why;
	return PP_ERR;
}

/* Does p[0..len) start like sig[0..n)? */
static int prefix_of(const uint8_t *p, size_t len, const void *sig, size_t n)
{
	return memcmp(p, sig, len < n ? len : n) == 0;
}

/* ---- v1 ----------------------------------------------------------------- */

/* The next word of the line [*p, end): up to a blank or end. */
static size_t word(const char **p, const char *end, const char **w)
{
	const char *q = *p;

	*w = q;
	while (q < end && *q != ' ')
		q++;
	*p = q < end ? q + 1 : q;	/* past the blank */
	return (size_t)(q - *w);
}

/* 0..65535, decimal, no leading zero (but "0"). */
static int v1_port(const char *w, size_t n, struct sockaddr_storage *ss)
{
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && w[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (w[i] < '0' || w[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(w[i] - '0');
	}
	if (v > 65535)
		return -1;
	addr_set_port(ss, v);
	return 0;
}

static int parse_v1(const uint8_t *p, size_t len, struct pp_info *out)
{
	const char *line = (const char *)p, *end, *q, *w;
	size_t i, n, lim = len < PP_V1_MAX ? len : PP_V1_MAX;
	int fam;

	for (i = 0; i < lim && p[i] != '\n'; i++)
		;
	if (i == lim)
		return len < PP_V1_MAX ? PP_NEED_MORE : fail(out, "v1 line longer than 107 bytes");
	if (i == 0 || p[i - 1] != '\r')
		return fail(out, "v1 line not ended by CRLF");
	end = line + i - 1;		/* the CR */
	out->version = 1;
	q = line + sizeof(v1_sig);
	n = word(&q, end, &w);
	if (n == 7 && memcmp(w, "UNKNOWN", 7) == 0)
		return (int)(i + 1);	/* the rest of the line is ignored */
	if (n == 4 && memcmp(w, "TCP4", 4) == 0)
		fam = AF_INET;
	else if (n == 4 && memcmp(w, "TCP6", 4) == 0)
		fam = AF_INET6;
	else
		return fail(out, "v1 protocol not TCP4, TCP6 or UNKNOWN");
	n = word(&q, end, &w);
	if (addr_ip_parse(fam, w, n, &out->src, NULL) == -1)
		return fail(out, "v1 bad source address");
	n = word(&q, end, &w);
	if (addr_ip_parse(fam, w, n, &out->dst, NULL) == -1)
		return fail(out, "v1 bad destination address");
	n = word(&q, end, &w);
	if (v1_port(w, n, &out->src) == -1)
		return fail(out, "v1 bad source port");
	n = word(&q, end, &w);
	if (v1_port(w, n, &out->dst) == -1 || w + n != end)
		return fail(out, "v1 bad destination port");
	out->has_addr = 1;
	return (int)(i + 1);
}

/* ---- v2 ----------------------------------------------------------------- */

static void v2_addr(int fam, const uint8_t *a, const uint8_t *port,
    struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)fam;
	if (fam == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		memcpy(&s4->sin_addr, a, 4);
		memcpy(&s4->sin_port, port, 2);		/* both big-endian */
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		memcpy(&s6->sin6_addr, a, 16);
		memcpy(&s6->sin6_port, port, 2);
	}
}

static int parse_v2(const uint8_t *p, size_t len, struct pp_info *out)
{
	const uint8_t *q = p + sizeof(v2_sig), *end = p + len, *bend, *a, *b, *pa, *pb, *v;
	uint8_t vc, fam, type;
	uint16_t n;
	int alen;

	if (len < 16)
		return PP_NEED_MORE;
	if (rd_u8(&q, end, &vc) == -1 || rd_u8(&q, end, &fam) == -1 ||
	    rd_u16(&q, end, &n) == -1)
		return PP_NEED_MORE;
	if ((vc >> 4) != 2)
		return fail(out, "v2 version not 2");
	if ((vc & 0xf) != V2_CMD_LOCAL && (vc & 0xf) != V2_CMD_PROXY)
		return fail(out, "v2 command not LOCAL or PROXY");
	if (16 + (size_t)n > PP_V2_MAX)
		return fail(out, "v2 header longer than 4096 bytes");
	if (rd_left(q, end) < n)
		return PP_NEED_MORE;
	bend = q + n;
	out->version = 2;
	out->local = (vc & 0xf) == V2_CMD_LOCAL;
	switch (fam) {
	case V2_FAM_TCP4:
		alen = 4;
		break;
	case V2_FAM_TCP6:
		alen = 16;
		break;
	case V2_FAM_UNSPEC:
		alen = 0;
		break;
	default:	/* UDP, UNIX: no address we can use, TLVs unknown */
		return 16 + n;
	}
	if (alen > 0) {
		if (rd_bytes(&q, bend, (size_t)alen, &a) == -1 ||
		    rd_bytes(&q, bend, (size_t)alen, &b) == -1 ||
		    rd_bytes(&q, bend, 2, &pa) == -1 || rd_bytes(&q, bend, 2, &pb) == -1)
			return fail(out, "v2 address block shorter than its family");
		if (!out->local) {	/* LOCAL: the addresses are ignored */
			v2_addr(alen == 4 ? AF_INET : AF_INET6, a, pa, &out->src);
			v2_addr(alen == 4 ? AF_INET : AF_INET6, b, pb, &out->dst);
			out->has_addr = 1;
		}
	}
	while (q < bend) {	/* TLVs: framing checked, contents skipped */
		if (rd_u8(&q, bend, &type) == -1 || rd_u16(&q, bend, &n) == -1 ||
		    rd_bytes(&q, bend, n, &v) == -1)
			return fail(out, "v2 TLV runs past the header");
	}
	return (int)(bend - p);
}

int pp_parse(const uint8_t *p, size_t len, struct pp_info *out)
{
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return PP_NEED_MORE;
	if (prefix_of(p, len, v1_sig, sizeof(v1_sig)))
		return len < sizeof(v1_sig) ? PP_NEED_MORE : parse_v1(p, len, out);
	if (prefix_of(p, len, v2_sig, sizeof(v2_sig)))
		return len < sizeof(v2_sig) ? PP_NEED_MORE : parse_v2(p, len, out);
	return fail(out, "no PROXY protocol signature");
}

/* ---- writing ------------------------------------------------------------ */

static int pair_family(const struct sockaddr_storage *src, const struct sockaddr_storage *dst)
{
	if (src == NULL || dst == NULL || src->ss_family != dst->ss_family)
		return AF_UNSPEC;
	if (src->ss_family != AF_INET && src->ss_family != AF_INET6)
		return AF_UNSPEC;
	return src->ss_family;
}

static size_t write_v1(int fam, const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, uint8_t *out, size_t cap)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], line[PP_V1_MAX + 1];
	int n;

	if (fam == AF_UNSPEC)
		n = snprintf(line, sizeof(line), "PROXY UNKNOWN\r\n");
	else
		n = snprintf(line, sizeof(line), "PROXY %s %s %s %u %u\r\n",
		    fam == AF_INET ? "TCP4" : "TCP6", addr_ip_str(src, s, sizeof(s)),
		    addr_ip_str(dst, d, sizeof(d)), addr_port(src), addr_port(dst));
	if (n < 0 || (size_t)n >= sizeof(line) || (size_t)n > cap)
		return 0;
	memcpy(out, line, (size_t)n);
	return (size_t)n;
}

/* A v2 header, transport V2_STREAM or V2_DGRAM (the low nibble of its
 * family byte); the authority TLV when alen > 0. */
static size_t write_v2(int fam, uint8_t transport, const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, const char *authority, size_t alen,
    uint8_t *out, size_t cap)
{
	size_t n, body;
	uint8_t *o;

	if (alen > 255)
		alen = 0;
	body = (fam == AF_INET ? 12 : fam == AF_INET6 ? 36 : 0) + (alen ? 3 + alen : 0);
	n = 16 + body;
	if (n > cap)
		return 0;
	o = out;
	memcpy(o, v2_sig, sizeof(v2_sig));
	o += sizeof(v2_sig);
	*o++ = fam == AF_UNSPEC ? 0x20 : 0x21;
	*o++ = fam == AF_INET ? (uint8_t)(0x10 | transport) :
	    fam == AF_INET6 ? (uint8_t)(0x20 | transport) : V2_FAM_UNSPEC;
	*o++ = (uint8_t)(body >> 8);
	*o++ = (uint8_t)body;
	if (fam == AF_INET) {
		const struct sockaddr_in *a = (const void *)src, *b = (const void *)dst;

		memcpy(o, &a->sin_addr, 4);
		memcpy(o + 4, &b->sin_addr, 4);
		memcpy(o + 8, &a->sin_port, 2);
		memcpy(o + 10, &b->sin_port, 2);
		o += 12;
	} else if (fam == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)src, *b = (const void *)dst;

		memcpy(o, &a->sin6_addr, 16);
		memcpy(o + 16, &b->sin6_addr, 16);
		memcpy(o + 32, &a->sin6_port, 2);
		memcpy(o + 34, &b->sin6_port, 2);
		o += 36;
	}
	if (alen) {
		*o++ = PP2_TYPE_AUTHORITY;
		*o++ = 0;
		*o++ = (uint8_t)alen;
		memcpy(o, authority, alen);
		o += alen;
	}
	return (size_t)(o - out);
}

size_t pp_write(int version, const struct sockaddr_storage *src,
    const struct sockaddr_storage *dst, const char *authority, size_t alen,
    uint8_t *out, size_t cap)
{
	int fam = pair_family(src, dst);

	if (version == 1)
		return write_v1(fam, src, dst, out, cap);
	return write_v2(fam, V2_STREAM, src, dst, authority, alen, out, cap);
}

size_t pp_write_dgram(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
    uint8_t *out, size_t cap)
{
	return write_v2(pair_family(src, dst), V2_DGRAM, src, dst, NULL, 0, out, cap);
}

/* ---- trusted source networks ------------------------------------------- */

int pp_net_match(const struct addr_net *nets, size_t n, const struct sockaddr_storage *ss)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (acl_net_match(&nets[i], ss))
			return 1;
	return 0;
}
