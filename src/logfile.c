#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "accesslog.h"
#include "log.h"
#include "logfile.h"

FILE *logfile_open(const char *path)
{
	/* glibc's setvbuf() ignores the size unless given the buffer; one
	 * stream for the whole run (a reopen keeps it), so one buffer */
	static char buf[ACCESS_BUF];
	FILE *f;
	int fd;

	if (path == NULL || strcmp(path, "-") == 0) {
		if (!isatty(STDOUT_FILENO))	/* a terminal keeps its lines */
			(void)setvbuf(stdout, buf, _IOFBF, sizeof(buf));
		return stdout;
	}
	if (strcmp(path, "off") == 0)
		return NULL;
	if ((fd = open(path, LOGFILE_FLAGS, LOGFILE_MODE)) == -1)
		fatal("access-log %s", path);
	if ((f = fdopen(fd, "a")) == NULL)
		fatal("access-log %s", path);
	/* lines reach the file when this fills or ACCESS_FLUSH_MS after one
	 * was written, whichever comes first: one write() per many lines */
	(void)setvbuf(f, buf, _IOFBF, sizeof(buf));
	return f;
}

int logfile_reopen(FILE *f, const char *path)
{
	int fd, rc = 0, err;

	if (f == NULL) {
		log_info("SIGUSR1: the access log is off: nothing to reopen");
		return 0;
	}
	if (f == stdout) {
		log_info("SIGUSR1: the access log is standard output: nothing to reopen");
		return 0;
	}
	if ((fd = open(path, LOGFILE_FLAGS, LOGFILE_MODE)) == -1) {
		err = errno;
		log_warnx("SIGUSR1: access-log %s: cannot reopen: %s (errno %d); still "
		    "writing to the file it had open", path, strerror(err), err);
		return -1;
	}
	/* Every worker's write takes the stream's lock: between this flush
	 * and dup3() nothing can be added to the buffer. */
	flockfile(f);
	if (fflush(f) == EOF)
		log_warn("SIGUSR1: access-log %s: flushing to the old file", path);
	if (dup3(fd, fileno(f), O_CLOEXEC) == -1) {
		err = errno;
		rc = -1;
	}
	funlockfile(f);
	close(fd);
	if (rc == -1)
		log_warnx("SIGUSR1: access-log %s: cannot reopen: dup3: %s (errno %d); still "
		    "writing to the file it had open", path, strerror(err), err);
	else
		log_info("SIGUSR1: reopened the access log %s", path);
	return rc;
}

void logfile_close(FILE *f)
{
	if (f == NULL)
		return;
	if (f == stdout)
		fflush(f);
	else
		fclose(f);
}
