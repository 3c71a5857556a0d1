#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "acl.h"

int acl_net_match(const struct addr_net *n, const struct sockaddr_storage *ss)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *a;
	int fam = ss->ss_family;
	unsigned full = n->bits / 8, rest = n->bits % 8;

	if (fam == AF_INET) {
		a = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
	} else if (fam == AF_INET6) {
		a = (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			a += 12;
			fam = AF_INET;
		}
	} else {
		return 0;
	}
	if (n->family != fam || memcmp(a, n->addr, full) != 0)
		return 0;
	return rest == 0 || (a[full] & (uint8_t)(0xff00u >> rest)) == n->addr[full];
}

int acl_add(struct acl *a, const char *net, int allow)
{
	struct addr_net n;
	struct acl_rule *r;

	if (addr_net_parse(net, &n) == -1)
		return ACL_EBAD;
	if ((r = realloc(a->rule, (a->n + 1) * sizeof(*r))) == NULL)
		return ACL_ENOMEM;
	a->rule = r;
	a->rule[a->n].net = n;
	a->rule[a->n].allow = allow != 0;
	a->n++;
	return 0;
}

int acl_allows(const struct acl *a, const struct sockaddr_storage *ss)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		if (acl_net_match(&a->rule[i].net, ss))
			return a->rule[i].allow;
	return a->n == 0 || !a->rule[a->n - 1].allow;
}

void acl_clear(struct acl *a)
{
	free(a->rule);
	a->rule = NULL;
	a->n = 0;
}
