/*
 * The systemd readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram ("READY=1", "RELOADING=1", "STOPPING=1") to the unix socket $NOTIFY_SOCKET
 * names, a path or, starting with '@', an abstract name. Without
 * $NOTIFY_SOCKET (not started by systemd, or not Type=notify) every call
 * does nothing.
 */
#ifndef HP_NOTIFY_H
#define HP_NOTIFY_H

/**
 * Read $NOTIFY_SOCKET and open the datagram socket. Call it before the
 * seccomp filter, which allows no AF_UNIX socket() (notify_send() needs
 * only sendto()). 0, also when the variable is unset; -1 after logging
 * (the service then runs, but systemd will not hear that it is ready).
 */
int notify_open(void);

/** Send STATE, e.g. "READY=1"; a failure is logged, never fatal. */
void notify_send(const char *state);

/** Close the socket notify_open() opened, if any. */
void notify_close(void);

#endif
