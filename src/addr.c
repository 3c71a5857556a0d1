/*
 * addr.c: socket addresses to and from text (addr.h). inet_pton() and
 * inet_ntop() do the numbers; the shapes around them (brackets, ports,
 * prefixes) are checked here, strictly: no blank, sign or suffix anywhere.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

static int is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

int addr_name_char(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    is_digit(ch) || ch == '-' || ch == '_' || ch == '.';
}

/*
 * Split "host:port" or "[v6]:port" in place: *host without the brackets,
 * *v6 whether it had them. 0, or -1 for another shape (a bare IPv6 address
 * has more than one ':').
 */
static int split_hostport(char *s, char **host, char **port, int *v6)
{
	char *colon;

	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (colon == NULL || colon[1] != ':')
			return -1;
		*colon = '\0';
		*host = s + 1;
		*port = colon + 2;
		*v6 = 1;
		return 0;
	}
	colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return -1;
	*colon = '\0';
	if (strchr(s, ':') != NULL || strchr(s, '[') != NULL || strchr(s, ']') != NULL)
		return -1;
	*host = s;
	*port = colon + 1;
	*v6 = 0;
	return 0;
}

/* 1 to 5 digits, 0..65535 (1.. unless allow0), into *port. 0, or -1. */
static int parse_port(const char *s, int allow0, unsigned *port)
{
	unsigned v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 5)
		return -1;
	for (i = 0; i < n; i++) {
		if (!is_digit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535 || (v == 0 && !allow0))
		return -1;
	*port = v;
	return 0;
}

int addr_ip_parse(int family, const char *s, size_t n, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char buf[INET6_ADDRSTRLEN];
	socklen_t l;

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (family != AF_INET6 && inet_pton(AF_INET, buf, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		l = sizeof(*sin);
	} else if (family != AF_INET && inet_pton(AF_INET6, buf, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		l = sizeof(*sin6);
	} else
		return -1;
	if (len != NULL)
		*len = l;
	return 0;
}

int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[ADDR_TEXT_MAX], *host, *port;
	unsigned pn;
	int v6;

	if (strlen(s) >= sizeof(buf) || split_hostport(strcpy(buf, s), &host, &port, &v6) == -1)
		return ADDR_ESHAPE;
	if (parse_port(port, 1, &pn) == -1)
		return ADDR_EPORT;
	if (addr_ip_parse(v6 ? AF_INET6 : AF_INET, host, strlen(host), ss, len) == -1)
		return ADDR_ENUMERIC;
	addr_set_port(ss, pn);
	return ADDR_OK;
}

int addr_resolve(const char *s, int no_resolve, struct sockaddr_storage *ss, socklen_t *len,
    const char **why)
{
	char buf[ADDR_TEXT_MAX], *host, *port;
	struct addrinfo hints, *res;
	const char *h;
	int v6, rc, numeric = 1;
	unsigned pn;

	if (strlen(s) >= sizeof(buf) ||
	    split_hostport(strcpy(buf, s), &host, &port, &v6) == -1 || *host == '\0')
		return ADDR_ESHAPE;
	if (parse_port(port, 0, &pn) == -1)
		return ADDR_EPORT;
	for (h = host; !v6 && *h != '\0'; h++) {
		if (!addr_name_char((unsigned char)*h))
			return ADDR_EHOST;
		if (!is_digit((unsigned char)*h) && *h != '.')
			numeric = 0;
	}
	if (v6 || numeric) {
		if (addr_ip_parse(v6 ? AF_INET6 : AF_INET, host, strlen(host), ss, len) == -1)
			return ADDR_ENUMERIC;
		addr_set_port(ss, pn);
		return ADDR_OK;
	}
	if (no_resolve)
		return ADDR_EOFF;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
		*why = rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
		return ADDR_ERESOLVE;
	}
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		*why = "address too long";
		return ADDR_ERESOLVE;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return ADDR_OK;
}

int addr_net_parse(const char *s, struct addr_net *out)
{
	struct sockaddr_storage ss;
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s), i;
	unsigned bits = 0, max;

	memset(out, 0, sizeof(*out));
	if (addr_ip_parse(AF_UNSPEC, s, alen, &ss, NULL) == -1)
		return -1;
	out->family = ss.ss_family;
	if (ss.ss_family == AF_INET)
		memcpy(out->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
	else
		memcpy(out->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
	max = out->family == AF_INET ? 32 : 128;
	if (slash == NULL) {
		bits = max;
	} else {
		if (slash[1] == '\0' || strlen(slash + 1) > 3 ||
		    (slash[1] == '0' && slash[2] != '\0'))
			return -1;
		for (i = 1; slash[i] != '\0'; i++) {
			if (!is_digit((unsigned char)slash[i]))
				return -1;
			bits = bits * 10 + (unsigned)(slash[i] - '0');
		}
		if (bits > max)
			return -1;
	}
	out->bits = bits;
	for (i = 0; i < 16; i++) {	/* clear the host bits */
		unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * (unsigned)i : 0;

		out->addr[i] &= (uint8_t)(0xff00u >> keep);
	}
	return 0;
}

const char *addr_ip_str(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	const void *a = NULL;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (a == NULL || inet_ntop(ss->ss_family, a, out, (socklen_t)outlen) == NULL)
		snprintf(out, outlen, "-");
	return out;
}

const char *sockaddr_str(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET)
		snprintf(out, outlen, "%s:%u", addr_ip_str(ss, ip, sizeof(ip)), addr_port(ss));
	else if (ss->ss_family == AF_INET6)
		snprintf(out, outlen, "[%s]:%u", addr_ip_str(ss, ip, sizeof(ip)), addr_port(ss));
	else
		snprintf(out, outlen, "-");
	return out;
}

unsigned addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	return 0;
}

void addr_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

int addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr && a4->sin_port == b4->sin_port;
	if (a->ss_family == AF_INET6)
		return memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0 &&
		    a6->sin6_port == b6->sin6_port && a6->sin6_scope_id == b6->sin6_scope_id;
	return memcmp(a, b, sizeof(*a)) == 0;
}
