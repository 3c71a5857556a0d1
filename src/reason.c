#include "reason.h"

#define HP_REASON_CODE(e, code) [e] = code,
static const char *const codes[CR_COUNT] = { HP_REASONS(HP_REASON_CODE) };

const char *reason_code(enum close_reason r)
{
	return (unsigned)r < CR_COUNT ? codes[r] : "?";
}
