/* Diagnostics on stderr: "halfpipe: LEVEL: message". log_warn() appends
 * strerror(errno), log_warnx() does not; fatal()/fatalx() exit(1) (relayd). */
#ifndef HP_LOG_H
#define HP_LOG_H

#include <stdarg.h>

#define HP_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_info(const char *fmt, ...) HP_PRINTF(1, 2);
void log_warn(const char *fmt, ...) HP_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) HP_PRINTF(1, 2);
void fatal(const char *fmt, ...) HP_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) HP_PRINTF(1, 2) __attribute__((noreturn));

#endif
