#include "reason.h"

#define HP_REASON_CODE(e, code, doc) [e] = code,
#define HP_REASON_DOC(e, code, doc) [e] = doc,
static const char *const codes[CR_COUNT] = { HP_REASONS(HP_REASON_CODE) };
static const char *const docs[CR_COUNT] = { HP_REASONS(HP_REASON_DOC) };

const char *reason_code(enum close_reason r)
{
	return (unsigned)r < CR_COUNT ? codes[r] : "?";
}

const char *reason_doc(enum close_reason r)
{
	return (unsigned)r < CR_COUNT ? docs[r] : "?";
}
