#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void vlog(const char *level, int with_errno, const char *fmt, va_list ap)
{
	char msg[1024];
	int saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno)
		fprintf(stderr, "halfpipe: %s: %s: %s\n", level, msg, strerror(saved));
	else
		fprintf(stderr, "halfpipe: %s: %s\n", level, msg);
	errno = saved;
}

#define LOGFN(name, level, with_errno)			\
void name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog(level, with_errno, fmt, ap);		\
	va_end(ap);					\
}

LOGFN(log_info, "info", 0)
LOGFN(log_warn, "warn", 1)
LOGFN(log_warnx, "warn", 0)

void fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("error", 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog("error", 0, fmt, ap);
	va_end(ap);
	exit(1);
}
