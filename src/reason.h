/* How a connection ended: a fixed set with stable short codes, written as
 * term=CODE in the access log (docs/logging.md). Never renumber or rename. */
#ifndef HP_REASON_H
#define HP_REASON_H

#define HP_REASONS(X)                                                          \
	X(CR_NONE,		"-",			"still open")                  \
	X(CR_CLIENT_FIN,	"client-fin",		"ended cleanly, client closed first") \
	X(CR_SERVER_FIN,	"server-fin",		"ended cleanly, server closed first") \
	X(CR_CLIENT_RST,	"client-rst",		"client reset or failed; server side reset") \
	X(CR_SERVER_RST,	"server-rst",		"server reset or failed; client side reset") \
	X(CR_HELLO_TIMEOUT,	"hello-timeout",	"no complete ClientHello within hello-timeout") \
	X(CR_CONNECT_TIMEOUT,	"connect-timeout",	"backend connect did not complete within connect-timeout") \
	X(CR_IDLE_TIMEOUT,	"idle-timeout",		"both directions open, no byte for idle-timeout") \
	X(CR_HALF_CLOSED_TIMEOUT, "half-closed-timeout", "one direction finished, no byte for half-closed-timeout") \
	X(CR_DRAIN_TIMEOUT,	"drain-timeout",	"still open when drain-timeout ran out after SIGTERM") \
	X(CR_HELLO_ABORT,	"hello-abort",		"client closed or reset before its ClientHello was complete") \
	X(CR_NO_SNI,		"no-sni",		"rejected: ClientHello without server_name") \
	X(CR_NO_ROUTE,		"no-route",		"rejected: no route for the server name") \
	X(CR_NOT_TLS,		"not-tls",		"rejected: the client did not speak TLS") \
	X(CR_MALFORMED,		"malformed",		"rejected: malformed ClientHello") \
	X(CR_CONNECT_REFUSED,	"connect-refused",	"backend refused the connection") \
	X(CR_CONNECT_ERROR,	"connect-error",	"backend connect failed (unreachable, no fds, ...)") \
	X(CR_RESOURCE,		"resource",		"halfpipe ran out of memory or file descriptors") \
	X(CR_PROXY_REFUSED,	"proxy-refused",	"refused: accept-proxy listener, source not a trusted network") \
	X(CR_BAD_PROXY,		"bad-proxy",		"refused: missing or malformed PROXY protocol header") \
	X(CR_KILLED,		"killed",		"ended by \"kill ID\" on the admin socket; both sides reset")

#define HP_REASON_ENUM(e, code, doc) e,
enum close_reason { HP_REASONS(HP_REASON_ENUM) CR_COUNT };
#undef HP_REASON_ENUM

/** The stable short code, e.g. "half-closed-timeout". */
const char *reason_code(enum close_reason r);
/** One line of documentation. */
const char *reason_doc(enum close_reason r);

#endif
