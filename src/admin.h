/*
 * The admin socket (`admin-socket PATH`, docs/admin.md): a unix stream
 * socket, mode 0600, served by the first worker as a control connection
 * (ctl.h: one request line, one answer, all within 5 s, at most 8 clients
 * at once, more are reset). The commands are the rows of admin.c's table:
 * "conns", "kill ID", "servers", "disable|enable|drain SERVER", "kill
 * route=NAME|server=ADDR", "handover" (every listening socket to the
 * asker over SCM_RIGHTS, then the drain: halfpipe --take-over,
 * docs/upgrade.md), "help"; a new command is a new row.
 *
 * Only a session's own worker may look at it, so a request is put on a list
 * shared under one mutex, with a bit per worker still to answer, and every
 * worker is woken on its admin eventfd; each runs the command's part for
 * its sessions and clears its bit; the last wakes the first worker, which
 * sends the answer.
 */
#ifndef HP_ADMIN_H
#define HP_ADMIN_H

struct worker;

/** From worker_init(), every worker, admin socket configured: its admin
 *  eventfd in its loop; worker 0 also unlinks a stale PATH, binds it with
 *  mode 0600 and listens (before the sandbox). 0, or -1 after logging
 *  (admin_close() cleans up). */
int admin_open(struct worker *w);

/** Close what admin_open() opened (safe when it did nothing). */
void admin_close(struct worker *w);

#endif
