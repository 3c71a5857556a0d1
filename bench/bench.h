/*
 * bench/bench.h: what the benchmark's C programs share (bench-loadgen,
 * bench-backend, bench-quicload): the clock and the loopback-only target.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Monotonic seconds. */
static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "127.x.y.z:PORT" into *out; -1 for anything else (loopback only: this is a
 * benchmark for one machine). */
static inline int bench_target(const char *s, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if (colon == NULL || (size_t)(colon - s) >= sizeof host)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(out, 0, sizeof *out);
	out->sin_family = AF_INET;
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -1;
	if ((ntohl(out->sin_addr.s_addr) >> 24) != 127)
		return -1;
	long port = strtol(colon + 1, NULL, 10);
	if (port < 1 || port > 65535)
		return -1;
	out->sin_port = htons((uint16_t)port);
	return 0;
}

#endif
