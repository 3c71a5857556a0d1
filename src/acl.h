/*
 * Access control: an ordered list of allow and deny rules, each a network
 * (ADDR or ADDR/BITS, IPv4 or IPv6), with nginx's allow/deny semantics: the
 * rules are tried in order and the first whose network holds the client
 * decides; when none does, the opposite of the last rule applies (only
 * allow rules: everyone else is denied; only deny rules: everyone else is
 * allowed); no rule at all allows everyone. An IPv4-mapped IPv6 client
 * (::ffff:a.b.c.d) is matched as the IPv4 address. Pure: no fd, no clock;
 * the only allocation is the rule array, which acl_clear() hands back.
 */
#ifndef HP_ACL_H
#define HP_ACL_H

#include <stddef.h>
#include <sys/socket.h>

#include "addr.h"

struct acl_rule {
	struct addr_net		 net;
	int			 allow;		/* 1 allow, 0 deny */
};

struct acl {
	struct acl_rule		*rule;		/* in the order written */
	size_t			 n;
};

/* acl_add()'s answers besides 0. */
#define ACL_EBAD	-1	/* not a.b.c.d[/N] or IPv6[/N] */
#define ACL_ENOMEM	-2

/** Whether ss (AF_INET or AF_INET6; IPv4-mapped IPv6 counts as IPv4) lies
 *  inside n. Another family: 0. */
int acl_net_match(const struct addr_net *n, const struct sockaddr_storage *ss);

/** Append the rule "allow NET" (allow 1) or "deny NET" (allow 0) to a; NET
 *  as addr_net_parse() reads it. 0, ACL_EBAD (a unchanged) or ACL_ENOMEM. */
int acl_add(struct acl *a, const char *net, int allow);

/** Whether a lets ss in: 1 allowed, 0 denied (the semantics above). */
int acl_allows(const struct acl *a, const struct sockaddr_storage *ss);

/** Free a's rules; a is then empty (allows everyone). */
void acl_clear(struct acl *a);

#endif
