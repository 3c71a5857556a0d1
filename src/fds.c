#include <fcntl.h>
#include <sys/resource.h>

#include "fds.h"

static long used;	/* fds open: counted at init, then taken and given */
static long limit;	/* RLIMIT_NOFILE soft limit; 0 until fds_init() */

void fds_refresh(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		__atomic_store_n(&limit, rl.rlim_cur > 0x7fffffff ? 0x7fffffffL :
		    (long)rl.rlim_cur, __ATOMIC_RELAXED);
}

void fds_init(void)
{
	long n = 0;
	int fd;

	/* What is open at start-up sits at low numbers; no /proc needed. */
	for (fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	__atomic_store_n(&used, n, __ATOMIC_RELAXED);
	fds_refresh();
}

int fds_take(int n)
{
	long lim = __atomic_load_n(&limit, __ATOMIC_RELAXED);
	long now = __atomic_add_fetch(&used, n, __ATOMIC_RELAXED);

	if (lim == 0 || now <= lim - FDS_RESERVE)
		return 1;
	__atomic_sub_fetch(&used, n, __ATOMIC_RELAXED);
	return 0;
}

void fds_give(int n)
{
	__atomic_sub_fetch(&used, n, __ATOMIC_RELAXED);
}

