/*
 * sandbox.c: drop to the configured user/group, then a seccomp allow-list
 * (libseccomp). The list is what `strace -f` shows halfpipe calling after
 * start-up in the integration suite, plain and ASan builds; the reasons are
 * in docs/design.md, "Least privilege".
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sockios.h>
#include <sched.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "logfile.h"
#include "sandbox.h"

void sandbox_drop(const struct conf *c)
{
	const char *what = c->user.name != NULL ? "user" : "group";
	const char *name = c->user.name != NULL ? c->user.name : c->group.name;
	gid_t gid;

	if (c->user.name == NULL && c->group.name == NULL)
		return;
	gid = (gid_t)(c->group.name != NULL ? c->group.id : c->user.gid);
	/* Groups first: once the uid is not 0 they can no longer change. */
	if (setgroups(1, &gid) == -1)
		fatal("%s \"%s\": setgroups(%u)", what, name, (unsigned)gid);
	if (setgid(gid) == -1)
		fatal("%s \"%s\": setgid(%u)", what, name, (unsigned)gid);
	if (c->user.name != NULL && setuid((uid_t)c->user.id) == -1)
		fatal("%s \"%s\": setuid(%u)", what, name, (unsigned)c->user.id);
}

/* Development aid: build with -DHP_SECCOMP_LOG and a call outside the list
 * is allowed but logged by the kernel (dmesg, audit type 1326), which finds
 * what a change added. Never in a real build. */
#ifdef HP_SECCOMP_LOG
#define SANDBOX_DEFAULT	SCMP_ACT_LOG
#else
#define SANDBOX_DEFAULT	SCMP_ACT_KILL_PROCESS
#endif

/* One allowed call: by name (for messages and docs), and its rule. */
struct rule {
	const char	*name;
	int		 nr;		/* SCMP_SYS(): negative if not on this arch */
	unsigned	 nargs;		/* conditions, all must hold (0: any call) */
	struct scmp_arg_cmp args[2];
};

/* Argument conditions, every field written out (libseccomp's SCMP_A0()
 * leaves one to the compiler, which clang -Wextra refuses). */
#define EQ(i, v)		{ (i), SCMP_CMP_EQ, (scmp_datum_t)(v), 0 }
#define MASKED(i, m, v)		{ (i), SCMP_CMP_MASKED_EQ, (scmp_datum_t)(m), (scmp_datum_t)(v) }
#define ANY(n)			{ #n, SCMP_SYS(n), 0, { { 0, 0, 0, 0 } } }
#define IF1(n, a)		{ #n, SCMP_SYS(n), 1, { a } }
#define IF2(n, a, b)		{ #n, SCMP_SYS(n), 2, { a, b } }

/*
 * What the relay does after start-up. Grouped as in docs/design.md; a call
 * listed twice has one rule per allowed argument shape.
 */
static const struct rule rules[] = {
	/* the event loops (epoll) and the main thread's wait (poll) */
	ANY(epoll_wait), ANY(epoll_pwait), ANY(epoll_ctl), ANY(poll), ANY(ppoll),
	/* accepting; connecting to backends: TCP over IPv4 or IPv6, nothing else */
	ANY(accept4),
	IF2(socket, EQ(0, AF_INET), MASKED(1, 0xf, SOCK_STREAM)),
	IF2(socket, EQ(0, AF_INET6), MASKED(1, 0xf, SOCK_STREAM)),
	/* c-ares asking the name servers about backend names (resolve.c):
	 * UDP over IPv4 or IPv6 (TCP is the rule above), writev() on TCP */
	IF2(socket, EQ(0, AF_INET), MASKED(1, 0xf, SOCK_DGRAM)),
	IF2(socket, EQ(0, AF_INET6), MASKED(1, 0xf, SOCK_DGRAM)),
	ANY(writev),
	ANY(connect), ANY(getsockopt), ANY(setsockopt), ANY(shutdown), ANY(close),
	/* the address a client reached, for a PROXY protocol header (proxy=);
	 * a reload listening on a new address (see the socket rules above) */
	ANY(getsockname), ANY(bind), ANY(listen),
	/* moving bytes; eventfd and signalfd reads and writes; logs */
	ANY(read), ANY(recvfrom), ANY(write), ANY(sendto), ANY(splice), ANY(pipe2),
	/* the hand-over (admin.c "handover"): the listening sockets go to the
	 * new halfpipe over the admin socket, SCM_RIGHTS */
	ANY(sendmsg),
	/* QUIC flows (quic.c): datagrams read and sent toward the client in
	 * batches */
	ANY(recvmmsg), ANY(sendmmsg),
	/* bytes still unsent before a close (SIOCOUTQ); stdio's isatty() (TCGETS) */
	IF1(ioctl, EQ(1, SIOCOUTQ)),
	IF1(ioctl, EQ(1, TCGETS)),
	/* the EMFILE spare, open("/dev/null", O_RDONLY | O_CLOEXEC), and the
	 * C library reading /etc/localtime: read-only opens, nothing else */
	IF1(openat, EQ(2, O_RDONLY | O_CLOEXEC)),
	/* c-ares reading /etc/hosts before it asks DNS: fopen(path, "r") */
	IF1(openat, EQ(2, O_RDONLY)),
	ANY(newfstatat), ANY(lseek), ANY(sched_yield),
	/* descriptor accounting: fcntl(F_GETFD) probes, reading (never
	 * setting) this process's RLIMIT_NOFILE */
	ANY(fcntl), ANY(getrlimit),
	IF2(prlimit64, EQ(0, 0), EQ(2, 0)),
	/* memory (malloc, thread stacks), never executable */
	IF1(mmap, MASKED(2, PROT_EXEC, 0)),
	IF1(mprotect, MASKED(2, PROT_EXEC, 0)),
	ANY(munmap), ANY(mremap), ANY(brk), ANY(madvise),
	/* time, where the vDSO cannot answer; sleeping */
	ANY(clock_gettime), ANY(nanosleep), ANY(clock_nanosleep),
	/* threads: created (clone with CLONE_THREAD only), synchronised, ended */
	IF1(clone, MASKED(0, CLONE_THREAD, CLONE_THREAD)),
	ANY(set_robust_list), ANY(rseq), ANY(futex), ANY(exit), ANY(exit_group),
	/* signals: masks and handlers (glibc's thread set-up), returns, and
	 * abort(): getpid() then tgkill() to this process only (added below) */
	ANY(rt_sigprocmask), ANY(rt_sigaction), ANY(rt_sigreturn), ANY(getpid),
	/* the kernel resuming a timed poll, sleep or futex wait after the
	 * process was stopped (SIGSTOP/SIGCONT, a debugger attaching) */
	ANY(restart_syscall),
};

#ifdef HP_SANITIZER
/*
 * ASan+UBSan builds only: what the sanitizer runtime needs on top, mostly
 * LeakSanitizer at exit (it stops the world: a helper task made with
 * clone() without CLONE_THREAD ptrace()s every thread, reading
 * /proc/self/{maps,task}) and the report path (symbolizing).
 */
static const struct rule sanitizer_rules[] = {
	ANY(clone), ANY(ptrace), ANY(wait4), ANY(prctl), ANY(getppid),
	IF1(open, MASKED(1, O_ACCMODE, O_RDONLY)),
	IF1(openat, MASKED(2, O_ACCMODE, O_RDONLY)),
	ANY(getdents), ANY(getdents64), ANY(readlink),
	ANY(sigaltstack), ANY(sched_getaffinity), ANY(gettid), ANY(tgkill), ANY(kill),
};
#endif

const char *const *sandbox_allowed(void)
{
	static const char *names[sizeof(rules) / sizeof(rules[0]) + 3];
	size_t i, n = 0, j;

	if (names[0] != NULL)
		return names;
	for (i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		for (j = 0; j < n; j++)
			if (strcmp(names[j], rules[i].name) == 0)
				break;
		if (j == n)
			names[n++] = rules[i].name;
	}
	names[n++] = "tgkill";		/* its rule needs getpid(): sandbox_seccomp() */
	names[n++] = "dup3";		/* its rule needs the log's fd: sandbox_seccomp() */
	names[n] = NULL;
	return names;
}

static int add_rules(scmp_filter_ctx ctx, const struct rule *r, size_t n)
{
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		if (r[i].nr < 0)
			continue;	/* no such call on this architecture */
		rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, r[i].nr, r[i].nargs,
		    r[i].args);
		if (rc < 0) {
			errno = -rc;
			log_warn("seccomp: rule for %s", r[i].name);
			return -1;
		}
	}
	return 0;
}

static int reopen_fd = -1;

void sandbox_reopen_fd(int fd)
{
	reopen_fd = fd;
}

int sandbox_seccomp(const struct conf *c)
{
	struct scmp_arg_cmp self;
	scmp_filter_ctx ctx;
	int rc;

	if (!c->seccomp)
		return 0;
	if ((ctx = seccomp_init(SANDBOX_DEFAULT)) == NULL) {
		log_warnx("seccomp: cannot set up a filter");
		return -1;
	}
	if (add_rules(ctx, rules, sizeof(rules) / sizeof(rules[0])) == -1)
		goto fail;
#ifdef HP_SANITIZER
	if (add_rules(ctx, sanitizer_rules,
	    sizeof(sanitizer_rules) / sizeof(sanitizer_rules[0])) == -1)
		goto fail;
#endif
	/* abort(): raise() signals a thread of this process, no other. */
	self = (struct scmp_arg_cmp)EQ(0, getpid());
	if ((rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &self)) < 0) {
		errno = -rc;
		log_warn("seccomp: rule for tgkill");
		goto fail;
	}
	/* SIGUSR1 reopening the access log (logfile.c): the new file opened
	 * append-only, made if missing, mode 0640, then put on the log's
	 * descriptor; dup3() onto any other descriptor stays refused. */
	if (reopen_fd != -1) {
		const struct rule reopen[] = {
			IF2(openat, EQ(2, LOGFILE_FLAGS), EQ(3, LOGFILE_MODE)),
			IF2(dup3, EQ(1, reopen_fd), EQ(2, O_CLOEXEC)),
		};

		if (add_rules(ctx, reopen, sizeof(reopen) / sizeof(reopen[0])) == -1)
			goto fail;
	}
	/* glibc tries clone3() first, whose flags a filter cannot see, and
	 * falls back to clone() on ENOSYS. */
	if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) < 0) {
		errno = -rc;
		log_warn("seccomp: rule for clone3");
		goto fail;
	}
	if ((rc = seccomp_load(ctx)) < 0) {
		errno = -rc;
		log_warn("seccomp: cannot install the filter ('seccomp off' runs without)");
		goto fail;
	}
	seccomp_release(ctx);
	return 0;
fail:
	seccomp_release(ctx);
	return -1;
}

void sandbox_test_execve(void)
{
	const char *v = getenv(SANDBOX_TEST_ENV);
	char *argv[2], *envp[1] = { NULL };

	if (v == NULL || *v == '\0')
		return;
	argv[0] = (char *)(strcmp(v, "1") == 0 ? "/bin/true" : v);
	argv[1] = NULL;
	log_info("test: %s is set: execve(\"%s\")", SANDBOX_TEST_ENV, argv[0]);
	execve(argv[0], argv, envp);
	fatal("test: execve %s", argv[0]);
}
