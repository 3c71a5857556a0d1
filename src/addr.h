/*
 * Socket addresses and their text: the forms the configuration and a PROXY
 * protocol v1 header write (a.b.c.d:PORT, [IPv6]:PORT, HOST:PORT,
 * ADDR[/BITS]) parsed into a struct sockaddr_storage or a network, an
 * address formatted back, its port, and whether two are the same. IPv4 and
 * IPv6 only; no IPv6 scope ids in text. Pure but for addr_resolve(), which
 * asks the resolver about a name (getaddrinfo()) unless told not to.
 */
#ifndef HP_ADDR_H
#define HP_ADDR_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

/* The longest HOST:PORT text addr_parse() and addr_resolve() take, its '\0'
 * included; a longer one is ADDR_ESHAPE. */
#define ADDR_TEXT_MAX	320

/* Room for what sockaddr_str() writes: "[IPv6]:65535" and its '\0'. */
#define ADDR_STRLEN	(INET6_ADDRSTRLEN + 8)

/* Why a text is no address (addr_parse(), addr_resolve()). */
enum addr_err {
	ADDR_OK		=  0,
	ADDR_ESHAPE	= -1,	/* not HOST:PORT or [IPv6]:PORT, no host, too long */
	ADDR_EPORT	= -2,	/* the port is not 1..5 digits in range */
	ADDR_EHOST	= -3,	/* a character no host name has */
	ADDR_ENUMERIC	= -4,	/* a.b.c.d or [IPv6] that is no address */
	ADDR_EOFF	= -5,	/* a name, and name resolution is off */
	ADDR_ERESOLVE	= -6,	/* the resolver said no */
};

/* A network, as accept-proxy names its trusted sources. */
struct addr_net {
	int			 family;	/* AF_INET or AF_INET6 */
	uint8_t			 addr[16];	/* host bits cleared */
	unsigned		 bits;		/* prefix length */
};

/** Whether ch may be part of a host name (or an SNI): a letter, a digit,
 *  '-', '_' or '.'. */
int addr_name_char(int ch);

/**
 * The numeric IP address s[0..n) into *ss, port 0, *len its length (len may
 * be NULL). family: AF_INET (a.b.c.d), AF_INET6, or AF_UNSPEC for either.
 * 0, or -1 if it is none.
 */
int addr_ip_parse(int family, const char *s, size_t n, struct sockaddr_storage *ss,
    socklen_t *len);

/**
 * "a.b.c.d:PORT" or "[IPv6]:PORT", numeric only, port 0..65535, into *ss and
 * *len (len may be NULL). ADDR_OK, or ADDR_ESHAPE, ADDR_EPORT or
 * ADDR_ENUMERIC.
 */
int addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/**
 * "HOST:PORT" into *ss and *len: HOST a name (addr_name_char()), a.b.c.d or
 * [IPv6] (a HOST of digits and dots is taken as a.b.c.d), port 1..65535. A
 * name is resolved with getaddrinfo(), the first address kept; with
 * no_resolve nothing is asked and a name is ADDR_EOFF. ADDR_OK or an enum
 * addr_err; after ADDR_ERESOLVE *why is the resolver's reason.
 */
int addr_resolve(const char *s, int no_resolve, struct sockaddr_storage *ss, socklen_t *len,
    const char **why);

/** "a.b.c.d[/BITS]" or "IPv6[/BITS]" (no BITS: the one host) into *out, the
 *  host bits cleared. 0, or -1. */
int addr_net_parse(const char *s, struct addr_net *out);

/** The IP address of ss as text ("192.0.2.1", "::1"; "-" for a family but
 *  AF_INET and AF_INET6) into out; returns out. */
const char *addr_ip_str(const struct sockaddr_storage *ss, char *out, size_t outlen);

/** "192.0.2.1:80" or "[::1]:80" ("-" for a family but AF_INET and AF_INET6)
 *  into out; returns out. ADDR_STRLEN bytes are always enough. */
const char *sockaddr_str(const struct sockaddr_storage *ss, char *out, size_t outlen);

/** The port of ss (AF_INET, AF_INET6) in host order; 0 for another family. */
unsigned addr_port(const struct sockaddr_storage *ss);

/** Set the port of ss (AF_INET, AF_INET6; nothing for another family). */
void addr_set_port(struct sockaddr_storage *ss, unsigned port);

/** Whether a and b are the same address: family, IP, port (IPv6: and scope
 *  id). Of another family: whether every byte is the same. */
int addr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

#endif
