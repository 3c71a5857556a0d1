/*
 * bench-nullcall: what one system call costs on this core, entry and exit
 * only (getppid(2), which does no work), as the proxy core pays it. bench/run.py
 * runs it pinned to the proxy core and prints the figure under the table:
 * system calls per connection times this is the share of a short
 * connection's CPU that fewer kernel crossings (io_uring's batching, say)
 * could save at most.
 *
 * usage: bench-nullcall [N]     prints {"ns_per_call": X, "calls": N}
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000, i, best = 0;
	double best_ns = 0;
	int round;

	if (n < 1000 || n > 100000000) {
		fprintf(stderr, "usage: bench-nullcall [N: 1000..100000000]\n");
		return 2;
	}
	/* the fastest of three rounds: the cost, not the interruptions */
	for (round = 0; round < 3; round++) {
		struct timespec a, b;
		double ns;

		clock_gettime(CLOCK_MONOTONIC, &a);
		for (i = 0; i < n; i++)
			(void)syscall(SYS_getppid);
		clock_gettime(CLOCK_MONOTONIC, &b);
		ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (double)n;
		if (best == 0 || ns < best_ns) {
			best_ns = ns;
			best = n;
		}
	}
	printf("{\"ns_per_call\": %.1f, \"calls\": %ld}\n", best_ns, best);
	return 0;
}
