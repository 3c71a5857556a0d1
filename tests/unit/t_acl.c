/* t_acl: parsing a NET, matching an address (IPv4, IPv6, IPv4-mapped), and
 * nginx's allow/deny order: first match wins, none: the last rule's
 * opposite, no rule: everyone. */
#include <arpa/inet.h>

#include "acl.h"
#include "test.h"

static struct sockaddr_storage ip(const char *s)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	return ss;
}

/* "allow 10.0.0.0/8 deny ::1 ...": rules from words, each a verb then nets. */
static int build(struct acl *a, const char *rules)
{
	char buf[512], *w, *save = NULL;
	int allow = 1, rc;

	snprintf(buf, sizeof(buf), "%s", rules);
	for (w = strtok_r(buf, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		if (strcmp(w, "allow") == 0 || strcmp(w, "deny") == 0) {
			allow = w[0] == 'a';
			continue;
		}
		if ((rc = acl_add(a, w, allow)) != 0)
			return rc;
	}
	return 0;
}

static int allows(const char *rules, const char *client)
{
	struct acl a = { NULL, 0 };
	struct sockaddr_storage ss = ip(client);
	int r;

	if (build(&a, rules) != 0) {
		acl_clear(&a);
		return -1;
	}
	r = acl_allows(&a, &ss);
	acl_clear(&a);
	return r;
}

static void parse(void)
{
	struct acl a = { NULL, 0 };

	CHECK_INT(acl_add(&a, "198.18.0.0/15", 1), 0, "a /15");
	CHECK_INT(acl_add(&a, "2001:db8::/32", 0), 0, "an IPv6 /32");
	CHECK_INT(acl_add(&a, "192.0.2.7", 1), 0, "one IPv4 host");
	CHECK_INT(acl_add(&a, "::1", 1), 0, "one IPv6 host");
	CHECK_INT(acl_add(&a, "10.0.0.0/33", 1), ACL_EBAD, "/33 on IPv4 refused");
	CHECK_INT(acl_add(&a, "::/129", 1), ACL_EBAD, "/129 refused");
	CHECK_INT(acl_add(&a, "10.0.0.0/08", 1), ACL_EBAD, "leading zero refused");
	CHECK_INT(acl_add(&a, "10.0.0/8", 1), ACL_EBAD, "short address refused");
	CHECK_INT(acl_add(&a, "host.example", 1), ACL_EBAD, "a name refused");
	CHECK_INT(acl_add(&a, "", 1), ACL_EBAD, "empty refused");
	CHECK_INT(acl_add(&a, "10.0.0.1:80", 1), ACL_EBAD, "a port refused");
	CHECK_INT(a.n, 4, "only the good ones kept");
	CHECK_INT(a.rule[0].allow, 1, "allow kept");
	CHECK_INT(a.rule[1].allow, 0, "deny kept");
	acl_clear(&a);
	CHECK(a.n == 0 && a.rule == NULL, "cleared");
}

static void match(void)
{
	struct addr_net n;
	struct sockaddr_storage ss;

	CHECK(addr_net_parse("198.18.1.128/25", &n) == 0, "parse a /25");
	ss = ip("198.18.1.200");
	CHECK_INT(acl_net_match(&n, &ss), 1, "inside the /25");
	ss = ip("198.18.1.127");
	CHECK_INT(acl_net_match(&n, &ss), 0, "just below it");
	ss = ip("::ffff:198.18.1.130");
	CHECK_INT(acl_net_match(&n, &ss), 1, "IPv4-mapped IPv6 matches the IPv4 net");
	ss = ip("::198.18.1.130");
	CHECK_INT(acl_net_match(&n, &ss), 0, "IPv4-compatible (not mapped) is IPv6");
	CHECK(addr_net_parse("::/0", &n) == 0, "parse ::/0");
	ss = ip("198.18.0.1");
	CHECK_INT(acl_net_match(&n, &ss), 0, "::/0 is not IPv4");
	ss = ip("::ffff:198.18.0.1");
	CHECK_INT(acl_net_match(&n, &ss), 0, "::/0 does not hold a mapped IPv4 client");
	ss = ip("2001:db8::5");
	CHECK_INT(acl_net_match(&n, &ss), 1, "::/0 holds IPv6");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	CHECK_INT(acl_net_match(&n, &ss), 0, "another family: no match");
}

static void order(void)
{
	CHECK_INT(allows("", "192.0.2.1"), 1, "no rule: allowed");
	CHECK_INT(allows("allow 198.18.0.0/15", "198.18.3.4"), 1, "only allow: inside allowed");
	CHECK_INT(allows("allow 198.18.0.0/15", "192.0.2.1"), 0, "only allow: others denied");
	CHECK_INT(allows("deny 198.18.0.0/15", "198.18.3.4"), 0, "only deny: inside denied");
	CHECK_INT(allows("deny 198.18.0.0/15", "192.0.2.1"), 1, "only deny: others allowed");
	CHECK_INT(allows("deny 198.18.0.1 allow 198.18.0.0/15", "198.18.0.1"), 0,
	    "the first match wins: denied host inside an allowed net");
	CHECK_INT(allows("deny 198.18.0.1 allow 198.18.0.0/15", "198.18.0.2"), 1,
	    "the net's other hosts allowed");
	CHECK_INT(allows("deny 198.18.0.1 allow 198.18.0.0/15", "192.0.2.1"), 0,
	    "none matches, the last rule is allow: denied");
	CHECK_INT(allows("allow 198.18.0.0/15 deny 198.18.0.1", "198.18.0.1"), 1,
	    "the order matters: the allow first wins");
	CHECK_INT(allows("allow 198.18.0.1 deny 198.18.0.0/15", "192.0.2.1"), 1,
	    "none matches, the last rule is deny: allowed");
	CHECK_INT(allows("allow 198.18.0.0/15", "::ffff:198.18.0.9"), 1,
	    "IPv4-mapped client allowed by an IPv4 net");
	CHECK_INT(allows("deny 198.18.0.0/15", "::ffff:198.18.0.9"), 0,
	    "IPv4-mapped client denied by an IPv4 net");
	CHECK_INT(allows("allow ::1", "127.0.0.1"), 0, "IPv6 rule, IPv4 client: no match");
	CHECK_INT(allows("allow ::1", "::1"), 1, "IPv6 host allowed");
	CHECK_INT(allows("allow 0.0.0.0/0 deny ::/0", "2001:db8::1"), 0,
	    "all IPv4 allowed, all IPv6 denied: IPv6 client");
	CHECK_INT(allows("allow 0.0.0.0/0 deny ::/0", "192.0.2.1"), 1,
	    "all IPv4 allowed, all IPv6 denied: IPv4 client");
}

int main(void)
{
	parse();
	match();
	order();
	return test_done();
}
