/* notify.c: sd_notify(3) by hand: a datagram to $NOTIFY_SOCKET. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

int
notify_open(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (path == NULL || *path == '\0' || notify_fd != -1)
		return 0;
	n = strlen(path);
	/* A path needs room for its NUL; an abstract name ('@' becomes the
	 * leading NUL) is exactly its n bytes, no terminator. */
	if ((path[0] != '/' && path[0] != '@') ||
	    n >= sizeof(notify_addr.sun_path) + (path[0] == '@')) {
		log_warnx("NOTIFY_SOCKET \"%s\": not a unix socket path or @name", path);
		return -1;
	}
	memset(&notify_addr, 0, sizeof(notify_addr));
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0';
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (path[0] == '/'));
	if ((notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("NOTIFY_SOCKET: socket");
		return -1;
	}
	return 0;
}

void
notify_send(const char *state)
{
	if (notify_fd == -1)
		return;
	if (sendto(notify_fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_len) == -1)
		log_warn("NOTIFY_SOCKET: sending %s", state);
}

void
notify_close(void)
{
	if (notify_fd == -1)
		return;
	close(notify_fd);
	notify_fd = -1;
}
