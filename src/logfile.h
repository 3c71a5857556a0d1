/*
 * The access log's file: opened at start-up (as the starting user, before
 * the privileges are dropped and the filter installed) and reopened on
 * SIGUSR1 (logrotate's postrotate) in the main thread, under the filter and
 * as the user halfpipe now runs as.
 *
 * A reopen never closes the stream the workers write to: it opens the new
 * file, then, holding the stream's lock (every fprintf()/fwrite()/fflush()
 * of a worker takes it), flushes what is buffered to the old file and
 * dup3()s the new descriptor onto the stream's own. A line written before
 * goes to the old file, every line after to the new one, none is lost,
 * doubled or split, and no worker is asked anything (docs/design.md, "The
 * access log").
 */
#ifndef HP_LOGFILE_H
#define HP_LOGFILE_H

#include <fcntl.h>
#include <stdio.h>

/* How the file is opened, at start and by a reopen (sandbox.c allows
 * exactly these for the reopen): appended to, made if missing, this mode
 * before the umask. */
#define LOGFILE_FLAGS	(O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC)
#define LOGFILE_MODE	0640

/** The access log for path: "-" or NULL is stdout (fully buffered unless a
 *  terminal), "off" NULL, else the file, opened with LOGFILE_FLAGS and
 *  buffered (ACCESS_BUF). A file that cannot be opened is fatal. */
FILE *logfile_open(const char *path);

/** SIGUSR1: reopen path onto f, as above; said on stderr either way. f
 *  NULL (off) or stdout: logged and ignored. 0, or -1 when the new file
 *  cannot be opened (permissions, ...): logged with the path and the
 *  reason, f still writes to the old file. */
int logfile_reopen(FILE *f, const char *path);

/** Flush and close f (NULL and stdout: flushed only). */
void logfile_close(FILE *f);

#endif
