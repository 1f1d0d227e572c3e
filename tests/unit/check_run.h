/* check_run.h — the one way every unit-test program runs its suite. */
#ifndef NETPOLLD_CHECK_RUN_H
#define NETPOLLD_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

/* Runs S (forking per test unless CK_FORK=no) and maps failures to the
 * exit status make sees. */
static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
