/* How a connection ended: a fixed set with stable short codes, written as
 * term=CODE in the access log; what each means is said once, in
 * docs/logging.md and README.md (t_reason checks both list every code).
 * Never renumber or rename. */
#ifndef HP_REASON_H
#define HP_REASON_H

#define HP_REASONS(X)                                                          \
	X(CR_NONE, "-")                                                        \
	X(CR_CLIENT_FIN, "client-fin")                                         \
	X(CR_SERVER_FIN, "server-fin")                                         \
	X(CR_CLIENT_RST, "client-rst")                                         \
	X(CR_SERVER_RST, "server-rst")                                         \
	X(CR_HELLO_TIMEOUT, "hello-timeout")                                   \
	X(CR_CONNECT_TIMEOUT, "connect-timeout")                               \
	X(CR_IDLE_TIMEOUT, "idle-timeout")                                     \
	X(CR_HALF_CLOSED_TIMEOUT, "half-closed-timeout")                       \
	X(CR_DRAIN_TIMEOUT, "drain-timeout")                                   \
	X(CR_HELLO_ABORT, "hello-abort")                                       \
	X(CR_NO_SNI, "no-sni")                                                 \
	X(CR_NO_ROUTE, "no-route")                                             \
	X(CR_NOT_TLS, "not-tls")                                               \
	X(CR_MALFORMED, "malformed")                                           \
	X(CR_CONNECT_REFUSED, "connect-refused")                               \
	X(CR_CONNECT_ERROR, "connect-error")                                   \
	X(CR_RESOURCE, "resource")                                             \
	X(CR_PROXY_REFUSED, "proxy-refused")                                   \
	X(CR_BAD_PROXY, "bad-proxy")                                           \
	X(CR_KILLED, "killed")                                                 \
	X(CR_NO_SERVER, "no-server")                                           \
	X(CR_DENIED, "denied")                                                 \
	X(CR_MAX_LIFETIME, "max-lifetime")                                     \
	X(CR_QUIC_IDLE_TIMEOUT, "quic-idle-timeout")                           \
	X(CR_QUIC_HELLO_TIMEOUT, "quic-hello-timeout")                         \
	X(CR_QUIC_VERSION, "quic-version")                                     \
	X(CR_QUIC_NOT_INITIAL, "quic-not-initial")                             \
	X(CR_DRAIN, "drain")

#define HP_REASON_ENUM(e, code) e,
enum close_reason { HP_REASONS(HP_REASON_ENUM) CR_COUNT };
#undef HP_REASON_ENUM

/** The stable short code, e.g. "half-closed-timeout". */
const char *reason_code(enum close_reason r);

#endif
