/* tests/check_slot.c - the slot table's walk (store/slot.c).
 *
 * The walk must yield exactly the slots uz_slots_get() finds without
 * creating, in order, whatever the table's shape: the tests compare it
 * with that slot-by-slot scan, so they hold for any leaf size. */
#include <stdlib.h>

#include "../store/slot.h"
#include "check_util.h"

/* The first slot in [from, to) that uz_slots_get() finds, or to.  (A
 * plain loop: check's asserts cost a system call each.) */
static uint64_t scan(struct uz_slots *t, uint64_t from, uint64_t to)
{
	while (from < to && !uz_slots_get(t, from, false))
		from++;
	return from;
}

/* Checks a walk of [first, end) against the scan, slot by slot. */
static void check_walk(struct uz_slots *t, uint64_t first, uint64_t end)
{
	uint64_t n = uz_slots_count(t), lim = end < n ? end : n, want = first, i, bad = UINT64_MAX;
	struct uz_slot *s;

	uz_slots_for_each(t, i, s, first, end) {
		/* what it skipped is absent, and it yields the slot itself */
		if (bad == UINT64_MAX && (i != scan(t, want, lim) || s != uz_slots_get(t, i, false)))
			bad = i;
		want = i + 1;
	}
	ck_assert_msg(bad == UINT64_MAX, "walk [%llu, %llu): slot %llu", (unsigned long long)first,
		      (unsigned long long)end, (unsigned long long)bad);
	ck_assert_uint_eq(scan(t, want, lim), lim);
	ck_assert_uint_eq(i, first < lim ? lim : first); /* where it stopped */
}

/* Slot indices of a table, sparse on purpose: both ends, pairs side by
 * side, gaps short and long. */
static const uint64_t marks[] = { 0, 1, 4095, 4096, 9000, 70000, 70001, 77924, 90000, 102400, 200000, 262143 };
#define NSLOTS 262144ull

START_TEST(walk_empty_table)
{
	struct uz_slots *t = uz_slots_create(NSLOTS);
	uint64_t i = 0;

	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(uz_slots_next(t, &i, NSLOTS));
	ck_assert_uint_eq(i, NSLOTS);
	i = 5;
	ck_assert_ptr_null(uz_slots_next(t, &i, 100));
	ck_assert_uint_eq(i, 100);
	i = 0;
	ck_assert_ptr_null(uz_slots_next(t, &i, UINT64_MAX)); /* end past the table: the table's end */
	ck_assert_uint_eq(i, NSLOTS);
	i = 7;
	ck_assert_ptr_null(uz_slots_next(t, &i, 3)); /* already past end: left alone */
	ck_assert_uint_eq(i, 7);
	check_walk(t, 0, NSLOTS);
	uz_slots_destroy(t);

	t = uz_slots_create(0); /* no slots at all */
	ck_assert_ptr_nonnull(t);
	i = 0;
	ck_assert_ptr_null(uz_slots_next(t, &i, 10));
	ck_assert_uint_eq(i, 0);
	uz_slots_destroy(t);
}
END_TEST

START_TEST(walk_sparse_table)
{
	struct uz_slots *t = uz_slots_create(NSLOTS);
	uint64_t i, n = 0;
	struct uz_slot *s;

	ck_assert_ptr_nonnull(t);
	for (unsigned k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
		s = uz_slots_get(t, marks[k], true);
		ck_assert_ptr_nonnull(s);
		atomic_store(&s->meta, slot_meta(SLOT_SAME, 0));
	}
	check_walk(t, 0, NSLOTS);
	/* every marked slot is met, the first and the last of the table too */
	uz_slots_for_each(t, i, s, 0, NSLOTS)
		if (slot_type(atomic_load(&s->meta)) == SLOT_SAME) {
			ck_assert_uint_eq(i, marks[n]);
			n++;
		}
	ck_assert_uint_eq(n, sizeof(marks) / sizeof(marks[0]));
	uz_slots_destroy(t);
}
END_TEST

/* A walk started, or bounded, anywhere: inside a leaf, in a gap, at the
 * marks and next to them. */
START_TEST(walk_resumes_anywhere)
{
	struct uz_slots *t = uz_slots_create(NSLOTS);
	uint64_t i;

	ck_assert_ptr_nonnull(t);
	for (unsigned k = 0; k < sizeof(marks) / sizeof(marks[0]); k++)
		ck_assert_ptr_nonnull(uz_slots_get(t, marks[k], true));
	for (unsigned k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
		for (int d = -1; d <= 1; d++) {
			uint64_t from = marks[k] + (uint64_t)d;

			if (from >= NSLOTS)
				continue;
			check_walk(t, from, NSLOTS);
			check_walk(t, 0, from);
			check_walk(t, from, from + 1);
			check_walk(t, from, from + 70000);
		}
	}
	/* stop after each slot and go on from the next: the same slots as
	 * one walk */
	uint64_t whole = 0, parts = 0;
	struct uz_slot *s;

	uz_slots_for_each(t, i, s, 0, NSLOTS)
		whole++;
	for (i = 0; uz_slots_next(t, &i, NSLOTS); i++)
		parts++;
	ck_assert_uint_eq(parts, whole);
	ck_assert_uint_gt(whole, 0);
	uz_slots_destroy(t);
}
END_TEST

/* A table whose size is no multiple of anything: the last slot, in a
 * short last leaf. */
START_TEST(walk_odd_size)
{
	const uint64_t n = 10007;
	struct uz_slots *t = uz_slots_create(n);
	uint64_t i = n - 1;
	struct uz_slot *s;

	ck_assert_ptr_nonnull(t);
	s = uz_slots_get(t, n - 1, true);
	ck_assert_ptr_nonnull(s);
	check_walk(t, 0, n);
	ck_assert_ptr_eq(uz_slots_next(t, &i, n), s);
	ck_assert_uint_eq(i, n - 1);
	i = 0;
	ck_assert_ptr_nonnull(uz_slots_next(t, &i, UINT64_MAX));
	ck_assert_uint_le(i, n - 1);
	i = n - 1;
	ck_assert_ptr_eq(uz_slots_next(t, &i, UINT64_MAX), s);
	i = n;
	ck_assert_ptr_null(uz_slots_next(t, &i, UINT64_MAX));
	ck_assert_uint_eq(i, n);
	uz_slots_destroy(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("slot");
	TCase *tc = tcase_create("walk");

	tcase_add_test(tc, walk_empty_table);
	tcase_add_test(tc, walk_sparse_table);
	tcase_add_test(tc, walk_resumes_anywhere);
	tcase_add_test(tc, walk_odd_size);
	suite_add_tcase(s, tc);
	return uz_run_suite(s);
}
