#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "tcpopt.h"

int tcpopt_wanted(const struct conf_keepalive *ka, uint32_t user_timeout_ms)
{
	return ka->idle_s != 0 || user_timeout_ms != 0;
}

static int set_int(int fd, int level, int name, int v, const char *label, const char **what)
{
	if (setsockopt(fd, level, name, &v, sizeof(v)) == 0)
		return 0;
	*what = label;
	return -1;
}

int tcpopt_apply(int fd, const struct conf_keepalive *ka, uint32_t user_timeout_ms,
    const char **what)
{
	if (set_int(fd, SOL_SOCKET, SO_KEEPALIVE, ka->idle_s != 0, "SO_KEEPALIVE", what) == -1)
		return -1;
	if (ka->idle_s != 0 &&
	    (set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, (int)ka->idle_s, "TCP_KEEPIDLE", what) == -1 ||
	    (ka->intvl_s != 0 &&
	    set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, (int)ka->intvl_s, "TCP_KEEPINTVL", what) == -1) ||
	    (ka->count != 0 &&
	    set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, (int)ka->count, "TCP_KEEPCNT", what) == -1)))
		return -1;
	return set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)user_timeout_ms, "TCP_USER_TIMEOUT",
	    what);
}
