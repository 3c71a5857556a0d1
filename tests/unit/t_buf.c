/* The buffer pool gives back what stayed idle for a whole trim interval
 * (bufpool_trim()), keeping a floor and never a buffer taken meanwhile. */
#include "buf.h"
#include "test.h"

int main(void)
{
	struct bufpool p;
	struct buf *b[32];
	int i;

	bufpool_init(&p, 1024);
	for (i = 0; i < 20; i++)
		b[i] = buf_get(&p);
	CHECK_INT(p.in_use, 20, "20 handed out");
	for (i = 0; i < 20; i++)
		buf_put(&p, b[i]);
	CHECK_INT(p.nfree, 20, "20 back in the pool");
	CHECK_INT(bufpool_trim(&p, 8), 0, "the pool ran dry in this interval: nothing was idle");
	CHECK_INT(bufpool_trim(&p, 8), 12, "a whole interval idle: freed down to the floor");
	CHECK_INT(p.nfree, 8, "the floor stays");
	CHECK_INT(bufpool_trim(&p, 8), 0, "nothing under the floor goes");

	for (i = 0; i < 12; i++)	/* 8 from the pool, 4 new */
		b[i] = buf_get(&p);
	for (i = 0; i < 12; i++)
		buf_put(&p, b[i]);
	bufpool_trim(&p, 0);	/* the interval of that burst: it ran dry */
	CHECK_INT(p.nfree, 12, "after a dry interval nothing is freed");
	for (i = 0; i < 5; i++)
		b[i] = buf_get(&p);
	for (i = 0; i < 5; i++)
		buf_put(&p, b[i]);
	CHECK_INT(bufpool_trim(&p, 0), 7, "the 5 taken meanwhile stay, the 7 idle go");
	CHECK_INT(bufpool_trim(&p, 0), 5, "then they go too, a whole interval later");
	CHECK_INT(p.nfree, 0, "empty");
	bufpool_drain(&p);
	return test_done();
}
