/* t_sandbox: the user/group/seccomp directives, and the filter itself, tried
 * in forked children: allowed calls go through, forbidden ones (or allowed
 * ones with forbidden arguments) kill the child with SIGSYS. Also checks that
 * docs/design.md names every allowed call. Run from the repo root. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "logfile.h"
#include "sandbox.h"
#include "test.h"

/* Load text as a config; the errors printed go to out (caller frees). */
static int
load(struct conf *c, const char *text, char **out)
{
	size_t outlen = 0;
	FILE *in = fmemopen((void *)text, strlen(text), "r");
	FILE *errs = open_memstream(out, &outlen);
	int n = conf_load_stream(c, in, "t.conf", errs);

	fclose(in);
	fclose(errs);
	return n;
}

static void
test_directives(void)
{
	struct conf *c = conf_new();
	char *out = NULL;
	int n;

	CHECK(c->user.name == NULL && c->group.name == NULL, "default: no user, no group");
	CHECK_INT(c->seccomp, 1, "default: seccomp on");
	n = load(c, "user root\ngroup nogroup\nseccomp off\n", &out);
	CHECK_INT(n, 0, "user root, group nogroup, seccomp off parse");
	CHECK_STR(out, "", "nothing printed");
	free(out);
	CHECK_STR(c->user.name, "root", "user name kept");
	CHECK_INT(c->user.id, 0, "root is uid 0");
	CHECK_INT(c->user.gid, 0, "root's group is gid 0");
	CHECK_STR(c->group.name, "nogroup", "group name kept");
	CHECK_INT(c->group.id, 65534, "nogroup is gid 65534");
	CHECK_INT(c->seccomp, 0, "seccomp off");
	n = load(c, "user nobody\n\nuser no-such-user-hp\ngroup no-such-group-hp\n"
	    "seccomp maybe\nseccomp\n", &out);
	CHECK_INT(n, 4, "four errors");
	CHECK_STR(out,
	    "t.conf:3: user: no such user \"no-such-user-hp\"\n"
	    "t.conf:4: group: no such group \"no-such-group-hp\"\n"
	    "t.conf:5: seccomp: bad value \"maybe\" (want on or off)\n"
	    "t.conf:6: seccomp: wrong number of arguments: 0 (usage: seccomp on|off)\n",
	    "errors name file, line, directive and value");
	free(out);
	CHECK_STR(c->user.name, "nobody", "a bad line keeps the last good value");
	CHECK_INT(c->user.id, 65534, "nobody is uid 65534");
	CHECK_INT(c->user.gid, 65534, "nobody's group is 65534");
	conf_free(c);

	c = conf_new();
	out = NULL;
	{
		size_t len = 0;
		FILE *errs = open_memstream(&out, &len);

		n = conf_apply_flag(c, "user", "nobody", errs);
		n += conf_apply_flag(c, "seccomp", "off", errs);
		n += conf_apply_flag(c, "group", "no-such-group-hp", errs);
		fclose(errs);
	}
	CHECK_INT(n, 1, "flags: one error");
	CHECK_STR(out, "--group: no such group \"no-such-group-hp\"\n", "flag error");
	free(out);
	CHECK(c->user.name != NULL && c->user.id == 65534 && c->seccomp == 0,
	    "--user nobody --seccomp off");
	conf_free(c);
}

enum { DO_ALLOWED, DO_EXECVE, DO_UNIX_SOCKET, DO_OPEN_WRITE, DO_FORK, DO_OFF_EXECVE,
	DO_STOPPED_POLL,
	/* with an access-log descriptor (sandbox_reopen_fd(), here p[1]) */
	DO_REOPEN, DO_REOPEN_TRUNC, DO_REOPEN_MODE, DO_REOPEN_WRITE, DO_REOPEN_DUP_OTHER };

/* Fork; the child installs the filter (unless DO_OFF_*), then does what.
 * Returns the wait status. */
static int
in_child(int what)
{
	struct conf *c = conf_new();
	char *argv[] = { "/bin/true", NULL }, *envp[] = { NULL };
	int st = -1, p[2], fd;
	pid_t pid;

	if (c == NULL || pipe(p) == -1)
		return -1;
	fflush(stdout);
	if ((pid = fork()) == 0) {
		c->seccomp = what != DO_OFF_EXECVE;
		sandbox_reopen_fd(what >= DO_REOPEN ? p[1] : -1);
		if (sandbox_seccomp(c) == -1)
			_exit(90);
		switch (what) {
		case DO_ALLOWED:
			/* what serving does: sockets, pipes, memory, time */
			fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd == -1 || close(fd) == -1)
				_exit(91);
			if (write(p[1], "x", 1) != 1)
				_exit(92);
			free(malloc(1 << 20));
			if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
				_exit(93);
			close(fd);
			_exit(0);
		case DO_EXECVE:
		case DO_OFF_EXECVE:
			execve(argv[0], argv, envp);
			_exit(94);
		case DO_UNIX_SOCKET:
			socket(AF_UNIX, SOCK_STREAM, 0);
			_exit(95);
		case DO_OPEN_WRITE:
			open("/dev/null", O_WRONLY | O_CLOEXEC);
			_exit(96);
		case DO_STOPPED_POLL:
			/* stopped and continued in the middle: the kernel
			 * resumes it with restart_syscall */
			if (write(p[1], "x", 1) != 1)
				_exit(99);
			poll(NULL, 0, 600);
			_exit(0);
		case DO_REOPEN:		/* SIGUSR1's reopen (logfile.c) */
			if ((fd = open("/dev/null", LOGFILE_FLAGS, LOGFILE_MODE)) == -1 ||
			    dup3(fd, p[1], O_CLOEXEC) == -1)
				_exit(80);
			_exit(0);
		case DO_REOPEN_TRUNC:
			open("/dev/null", LOGFILE_FLAGS | O_TRUNC, LOGFILE_MODE);
			_exit(81);
		case DO_REOPEN_MODE:
			open("/dev/null", LOGFILE_FLAGS, 0666);
			_exit(82);
		case DO_REOPEN_WRITE:
			open("/dev/null", O_WRONLY | O_CLOEXEC);
			_exit(83);
		case DO_REOPEN_DUP_OTHER:
			if ((fd = open("/dev/null", LOGFILE_FLAGS, LOGFILE_MODE)) == -1)
				_exit(84);
			dup3(fd, p[0], O_CLOEXEC);
			_exit(85);
		case DO_FORK:
			if (fork() == 0)
				_exit(0);
			_exit(97);
		}
		_exit(98);
	}
	if (pid > 0 && what == DO_STOPPED_POLL) {
		char ch;
		struct timespec ts = { 0, 150 * 1000 * 1000 };

		if (read(p[0], &ch, 1) == 1) {
			nanosleep(&ts, NULL);
			kill(pid, SIGSTOP);
			nanosleep(&ts, NULL);
			kill(pid, SIGCONT);
		}
	}
	close(p[0]);
	close(p[1]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	conf_free(c);
	return st;
}

static void
test_filter(void)
{
	static const struct {
		int		 what;
		int		 killed;	/* 1: by SIGSYS; 0: exits 0 */
		const char	*desc;
	} cases[] = {
		{ DO_ALLOWED, 0, "allowed calls go through" },
		{ DO_EXECVE, 1, "execve kills with SIGSYS" },
		{ DO_OFF_EXECVE, 0, "seccomp off: execve(/bin/true) runs it" },
		{ DO_STOPPED_POLL, 0, "a timed poll stopped and continued is resumed" },
		{ DO_UNIX_SOCKET, 1, "socket(AF_UNIX) kills: only TCP/IP" },
		{ DO_OPEN_WRITE, 1, "open for writing kills" },
		{ DO_REOPEN, 0, "with a log fd: open append-only 0640, dup3 onto it: fine" },
		{ DO_REOPEN_TRUNC, 1, "with a log fd: O_TRUNC kills" },
		{ DO_REOPEN_MODE, 1, "with a log fd: another mode kills" },
		{ DO_REOPEN_WRITE, 1, "with a log fd: writing without O_APPEND kills" },
		{ DO_REOPEN_DUP_OTHER, 1, "with a log fd: dup3 onto another fd kills" },
#ifndef HP_SANITIZER	/* LeakSanitizer needs clone() without CLONE_THREAD */
		{ DO_FORK, 1, "fork (clone without CLONE_THREAD) kills" },
#endif
	};
	size_t i;
	int st, ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		st = in_child(cases[i].what);
		ok = cases[i].killed ? WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS :
		    WIFEXITED(st) && WEXITSTATUS(st) == 0;
		CHECK(ok, "%s (status 0x%x)", cases[i].desc, st);
	}
}

static void
test_docs(void)
{
	const char *const *names = sandbox_allowed();
	char *doc = slurp("docs/design.md"), want[64];
	const char *sec;
	size_t i;

	CHECK(doc != NULL, "docs/design.md readable");
	if (doc == NULL)
		return;
	sec = strstr(doc, "## Least privilege");
	CHECK(sec != NULL, "docs/design.md has a Least privilege section");
	for (i = 0; sec != NULL && names[i] != NULL; i++) {
		snprintf(want, sizeof(want), "`%s`", names[i]);
		CHECK(strstr(sec, want) != NULL, "design.md, Least privilege, names %s", names[i]);
	}
	CHECK(i > 20, "the list has %zu calls", i);
	free(doc);
}

int
main(void)
{
	test_directives();
	test_filter();
	test_docs();
	return test_done();
}
