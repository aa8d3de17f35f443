/* tests/check_util.h - what the libcheck suites share: test data, temp
 * files, test cases and main()'s run.  The store's own helpers follow for
 * the suites that include store/store.h before this. */
#ifndef UZ_TESTS_CHECK_UTIL_H
#define UZ_TESTS_CHECK_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#define MiB (1ull << 20)

/* Loop counts for the long tests: a tenth under valgrind (make valgrind),
 * which runs threads one at a time and is 50 times slower, so that every
 * code path still runs but the suite ends in minutes. */
static inline int uz_test_rounds(int n)
{
	return RUNNING_ON_VALGRIND ? (n + 9) / 10 : n;
}

/* The next number of the linear congruential sequence in *s (31 bits). */
static inline unsigned uz_test_rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 1;
}

/* n bytes of text that LZ4 shrinks to about a third, a different text for
 * each seed. */
static inline void uz_test_text(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)("the quick brown fox jumps over a lazy dog "[(i + seed) % 42] + (i / 512 + seed) % 3);
}

/* n bytes that no compressor shrinks, the same for the same seed. */
static inline void uz_test_noise(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(uz_test_rnd(&seed) >> 15);
}

/* A path NAME in a new temp folder, into path (len bytes); the folder
 * goes with uz_test_tmp_gone. */
static inline void uz_test_tmp(char *path, size_t len, const char *name)
{
	char dir[] = "/tmp/uzram-unit.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, len, "%s/%s", dir, name);
}

/* Removes a uz_test_tmp path, its PATH.tmp and their folder. */
static inline void uz_test_tmp_gone(const char *path)
{
	char p[300], dir[256];

	snprintf(p, sizeof(p), "%s.tmp", path);
	unlink(p);
	unlink(path);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

/* A NULL-ended list of tests for uz_tcase. */
#define UZ_TESTS(...) ((const TTest *const[]){ __VA_ARGS__, NULL })

/* Adds to s a test case NAME of these tests (UZ_TESTS), timeout seconds
 * each (0: libcheck's default); returns it, for fixtures. */
static inline TCase *uz_tcase(Suite *s, const char *name, double timeout, const TTest *const *tests)
{
	TCase *tc = tcase_create(name);

	if (timeout > 0)
		tcase_set_timeout(tc, timeout);
	for (; *tests; tests++)
		tcase_add_test(tc, *tests);
	suite_add_tcase(s, tc);
	return tc;
}

/* Runs the suite; returns the process exit status (1 if a test failed). */
static inline int uz_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#ifdef UZ_STORE_STORE_H
#include "../store/backing.h"

/* A store of size bytes (auto arenas) with that memory limit (0: none). */
static inline struct uz_store *uz_test_store(uint64_t size, uint64_t limit)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_AUTO, .mem_limit = limit };
	struct uz_store *st = uz_store_create(size, &cfg);

	ck_assert_ptr_nonnull(st);
	return st;
}

/* Fails the test, with the reason, when a store invariant does not hold. */
static inline void uz_test_store_ok(struct uz_store *st)
{
	char err[512] = "";

	ck_assert_msg(uz_store_check(st, err, sizeof(err)) == 0, "invariant: %s", err);
}

/* A backing file of capacity bytes in a new temp folder, its path into
 * path (len bytes); removed with uz_test_tmp_gone. */
static inline struct uz_backing *uz_test_backing(char *path, size_t len, uint64_t capacity)
{
	char err[256];
	struct uz_backing *b;

	uz_test_tmp(path, len, "backing");
	b = uz_backing_open(path, capacity, 0, err, sizeof(err));
	ck_assert_msg(b != NULL, "backing: %s", err);
	return b;
}
#endif

#endif
