/* tests/check_util.h - what every libcheck suite's main() does. */
#ifndef UZ_TESTS_CHECK_UTIL_H
#define UZ_TESTS_CHECK_UTIL_H

#include <check.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

/* Loop counts for the long tests: a tenth under valgrind (make valgrind),
 * which runs threads one at a time and is 50 times slower, so that every
 * code path still runs but the suite ends in minutes. */
static inline int uz_test_rounds(int n)
{
	return RUNNING_ON_VALGRIND ? (n + 9) / 10 : n;
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

#endif
