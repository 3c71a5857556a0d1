#include <fcntl.h>
#include <stdint.h>
#include <sys/resource.h>

#include "fds.h"
#include "log.h"

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


static unsigned long long shed_total;	/* all workers: the count in the log */

unsigned long long fds_shed_total(void)
{
	return __atomic_load_n(&shed_total, __ATOMIC_RELAXED);
}

void fds_shed(struct lognote *ln, const char *where)
{
	unsigned long long all = __atomic_add_fetch(&shed_total, 1, __ATOMIC_RELAXED);

	if (lognote_take(ln, where))
		log_warnx("%s: out of file descriptors: dropping new connections "
		    "(%llu so far)", where, all);
}

static void shed_summary(struct lognote *ln, unsigned long long n, const char *where)
{
	log_warnx("%s: out of file descriptors: %llu more dropped by worker %d in the "
	    "last second (%llu so far)", where, n, (int)(intptr_t)ln->arg, fds_shed_total());
}

void fds_note_init(struct lognote *ln, struct loop *l, int index)
{
	lognote_init(ln, l, 1000, shed_summary, (void *)(intptr_t)index);
}
