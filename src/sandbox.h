/*
 * Least privilege: once every listener is bound (and the access log open),
 * drop to the configured user and group, then install a seccomp filter that
 * allows only the system calls halfpipe makes while serving; any other call
 * kills the whole process (SIGSYS). Both run in the main thread before the
 * worker threads are created, so every thread inherits the credentials and
 * the filter. docs/design.md, "Least privilege", lists the calls and why.
 */
#ifndef HP_SANDBOX_H
#define HP_SANDBOX_H

#include "conf.h"

/* HP_SANITIZER: an ASan build, whose runtime needs a few more calls. */
#if defined(__SANITIZE_ADDRESS__)
#define HP_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HP_SANITIZER 1
#endif
#endif

/** The test-only switch: with this environment variable set, halfpipe calls
 *  execve() right after sandbox_seccomp() (see sandbox_test_execve()). */
#define SANDBOX_TEST_ENV	"HALFPIPE_TEST_EXECVE_AFTER_SANDBOX"

/**
 * setgroups() to just the group, setgid(), then setuid(), as c->user and
 * c->group say (names resolved at load; no group: the user's own). Neither
 * set: nothing is done. A failing call is fatal: "user \"NAME\": CALL:
 * reason" and exit 1.
 */
void sandbox_drop(const struct conf *c);

/**
 * The access log's descriptor (-1, the default: none, or stdout), which
 * SIGUSR1's reopen replaces (logfile.h): the filter then also allows
 * openat() with exactly LOGFILE_FLAGS and LOGFILE_MODE, and dup3() onto
 * this descriptor only, with O_CLOEXEC. Call before sandbox_seccomp().
 */
void sandbox_reopen_fd(int fd);

/**
 * If c->seccomp, install the filter in the calling thread; threads created
 * afterwards inherit it. 0 (also when off), or -1 after logging why.
 */
int sandbox_seccomp(const struct conf *c);

/**
 * Test only: if the environment variable SANDBOX_TEST_ENV is set (read at
 * start-up, before the filter exists), log and execve() it: "1" runs
 * /bin/true, an absolute path runs that program. With the filter installed
 * the process dies by SIGSYS instead; if execve() fails, exit 1. Returns at
 * once when the variable is not set.
 */
void sandbox_test_execve(void);

/** The system calls the filter allows (in all builds), NULL-terminated. */
const char *const *sandbox_allowed(void);

#endif
