/* Every termination code is unique and documented in docs/logging.md and README.md. */
#include <stdlib.h>

#include "reason.h"
#include "test.h"

int main(void)
{
	char *doc = slurp("docs/logging.md");
	char *readme = slurp("README.md");
	char needle[64];
	int r, q;

	CHECK(doc != NULL, "docs/logging.md is readable");
	for (r = 1; r < CR_COUNT; r++) {
		snprintf(needle, sizeof(needle), "| `%s` |", reason_code(r));
		CHECK(doc && strstr(doc, needle), "term code %s is in the table of docs/logging.md",
		    reason_code(r));
		CHECK(readme && strstr(readme, needle), "term code %s is in the table of README.md",
		    reason_code(r));
		for (q = 1; q < r; q++)
			if (strcmp(reason_code(q), reason_code(r)) == 0)
				break;
		CHECK(q == r, "term code %s is unique", reason_code(r));
	}
	CHECK_STR(reason_code(CR_HALF_CLOSED_TIMEOUT), "half-closed-timeout", "stable code");
	CHECK_STR(reason_code(CR_COUNT), "?", "out of range");
	free(doc);
	free(readme);
	return test_done();
}
