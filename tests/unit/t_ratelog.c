/* The rate-limited log line: at most one per interval, the rest counted and
 * summed up once the interval is over; a fake clock. */
#include "ratelog.h"
#include "test.h"

int main(void)
{
	struct ratelog r;
	const char *what = NULL;

	ratelog_init(&r, 1000);
	CHECK_INT(ratelog_next(&r), TICK_NONE, "nothing due at first");
	CHECK_INT(ratelog_take(&r, 5000, "a"), 1, "the first is said");
	CHECK_INT(ratelog_take(&r, 5100, "a"), 0, "the second, 100 ms later, is not");
	CHECK_INT(ratelog_take(&r, 5900, "b"), 0, "nor the third");
	CHECK_INT(ratelog_next(&r), 6000, "the summary is due a second after the first");
	CHECK_INT(ratelog_due(&r, 5999, &what), 0, "not before");
	CHECK_INT(ratelog_due(&r, 6000, &what), 2, "then: two kept quiet");
	CHECK_STR(what, "b", "tagged as the last one");
	CHECK_INT(ratelog_next(&r), TICK_NONE, "nothing due after the summary");
	CHECK_INT(ratelog_take(&r, 6500, "c"), 0, "the summary started a new second");
	CHECK_INT(ratelog_due(&r, 7000, &what), 1, "summed up in turn");
	CHECK_INT(ratelog_take(&r, 9000, "d"), 1, "after a quiet second: said at once");
	CHECK_INT(ratelog_due(&r, 20000, &what), 0, "nothing kept quiet: no summary");
	return test_done();
}
