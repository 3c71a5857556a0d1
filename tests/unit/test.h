/* Tiny TAP test helpers: each check prints "ok N - what" or "not ok N - what".
 * A unit test binary ends with test_done(), which prints the plan and returns
 * the exit status (non-zero if any check failed). */
#ifndef HP_TEST_H
#define HP_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_n, test_failed;

/* cond is evaluated once (it may have side effects). */
#define CHECK(cond, ...) do {                                              \
	int ok_ = (cond) ? 1 : 0;                                          \
	test_n++;                                                          \
	if (ok_) {                                                         \
		printf("ok %d - ", test_n);                                \
	} else {                                                           \
		test_failed++;                                             \
		printf("not ok %d - ", test_n);                            \
	}                                                                  \
	printf(__VA_ARGS__);                                               \
	printf("\n");                                                      \
	if (!ok_)                                                          \
		printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
} while (0)

#define CHECK_INT(got, want, ...) do {                                     \
	long long g_ = (long long)(got), w_ = (long long)(want);           \
	CHECK(g_ == w_, __VA_ARGS__);                                      \
	if (g_ != w_)                                                      \
		printf("#   got %lld, want %lld\n", g_, w_);               \
} while (0)

#define CHECK_STR(got, want, ...) do {                                     \
	const char *g_ = (got), *w_ = (want);                              \
	int eq_ = (g_ && w_) ? strcmp(g_, w_) == 0 : g_ == w_;             \
	CHECK(eq_, __VA_ARGS__);                                           \
	if (!eq_)                                                          \
		printf("#   got \"%s\", want \"%s\"\n", g_ ? g_ : "(null)", \
		    w_ ? w_ : "(null)");                                   \
} while (0)

/** A whole file, NUL-terminated, to free(); NULL if it cannot be read.
 *  Paths are relative to the repository root, where the tests run. */
static inline char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == -1 || (n = ftell(f)) < 0) {
		fclose(f);
		return NULL;
	}
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static inline int test_done(void)
{
	printf("1..%d\n", test_n);
	if (test_failed)
		printf("# %d of %d checks failed\n", test_failed, test_n);
	return test_failed ? 1 : 0;
}

#endif
