/* tests/check_util.h - what every libcheck suite's main() does. */
#ifndef UZ_TESTS_CHECK_UTIL_H
#define UZ_TESTS_CHECK_UTIL_H

#include <check.h>

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
