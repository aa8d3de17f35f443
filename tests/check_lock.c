/* tests/check_lock.c - the store's lock order and "caller holds" checks
 * (store/lock.h), and a store workload run with them on.  Built from
 * store objects compiled with -DUZ_LOCK_DEBUG (the Makefile's lockdep
 * objects). */
#include "check_util.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/backing.h"
#include "../store/internal.h"
#include "../store/lock.h"
#include "../store/slot.h"
#include "../store/store.h"

#ifndef UZ_LOCK_DEBUG
#error "tests/check_lock.c tests the checks: build it and the store with -DUZ_LOCK_DEBUG"
#endif

#define MiB (1ull << 20)

/* Locks of two ranks taken in order, released in any order: no abort. */
START_TEST(order_kept_passes)
{
	struct uz_mutex wb, pool, backing;
	struct uz_slots *t = uz_slots_create(16);
	struct uz_slot *s1 = uz_slots_get(t, 1, true), *s2 = uz_slots_get(t, 2, true);

	uz_mutex_init(&wb, UZ_LOCK_WB);
	uz_mutex_init(&pool, UZ_LOCK_POOL);
	uz_mutex_init(&backing, UZ_LOCK_BACKING);
	uz_mutex_lock(&wb);
	uz_slot_lock(s1);
	uz_slot_lock(s2); /* slot locks nest with each other */
	uz_mutex_lock(&pool);
	uz_assert_held(&wb);
	uz_assert_held(&pool);
	uz_slot_assert_held(s1);
	uz_assert_rank_held(UZ_LOCK_SLOT);
	uz_mutex_unlock(&wb); /* not the last taken: allowed */
	uz_slot_unlock(s1, 0);
	uz_mutex_unlock(&pool);
	uz_slot_unlock(s2, 0);
	/* nothing held now: any lock may be taken */
	uz_mutex_lock(&backing);
	uz_mutex_unlock(&backing);
	ck_assert(uz_mutex_trylock(&pool));
	uz_mutex_unlock(&pool);
	uz_mutex_destroy(&wb);
	uz_mutex_destroy(&pool);
	uz_mutex_destroy(&backing);
	uz_slots_destroy(t);
}
END_TEST

/* The pool lock, then a class lock: against the order. */
START_TEST(wrong_order_aborts)
{
	struct uz_mutex cls, pool;

	uz_mutex_init(&cls, UZ_LOCK_CLASS);
	uz_mutex_init(&pool, UZ_LOCK_POOL);
	uz_mutex_lock(&pool);
	uz_mutex_lock(&cls);
}
END_TEST

/* A slot lock under an engine's pool lock: against the order. */
START_TEST(slot_under_pool_aborts)
{
	struct uz_mutex pool;
	struct uz_slots *t = uz_slots_create(16);

	uz_mutex_init(&pool, UZ_LOCK_POOL);
	uz_mutex_lock(&pool);
	uz_slot_lock(uz_slots_get(t, 3, true));
}
END_TEST

/* compact_lock under wb_lock is the order; wb_lock under compact_lock
 * is not. */
START_TEST(wb_under_compact_aborts)
{
	struct uz_mutex wb, compact;

	uz_mutex_init(&wb, UZ_LOCK_WB);
	uz_mutex_init(&compact, UZ_LOCK_COMPACT);
	uz_mutex_lock(&compact);
	uz_mutex_lock(&wb);
}
END_TEST

/* Class locks nest only in ascending order (one engine's, by class). */
START_TEST(classes_descending_abort)
{
	struct uz_mutex cls[2];

	uz_mutex_init(&cls[0], UZ_LOCK_CLASS);
	uz_mutex_init(&cls[1], UZ_LOCK_CLASS);
	uz_mutex_lock(&cls[0]);
	uz_mutex_lock(&cls[1]);
	uz_mutex_unlock(&cls[1]);
	uz_mutex_unlock(&cls[0]);
	uz_mutex_lock(&cls[1]);
	uz_mutex_lock(&cls[0]);
}
END_TEST

/* Two ranks that never nest: the reserve's lock and the backing lock. */
START_TEST(two_of_one_rank_abort)
{
	struct uz_mutex a, b;

	uz_mutex_init(&a, UZ_LOCK_BACKING);
	uz_mutex_init(&b, UZ_LOCK_BACKING);
	uz_mutex_lock(&a);
	uz_mutex_lock(&b);
}
END_TEST

START_TEST(relock_aborts)
{
	struct uz_mutex m;

	uz_mutex_init(&m, UZ_LOCK_STOP);
	uz_mutex_lock(&m);
	uz_mutex_lock(&m);
}
END_TEST

START_TEST(unlock_not_held_aborts)
{
	struct uz_slots *t = uz_slots_create(16);

	uz_slot_unlock(uz_slots_get(t, 5, true), 0);
}
END_TEST

START_TEST(assert_held_aborts)
{
	struct uz_mutex m;

	uz_mutex_init(&m, UZ_LOCK_WB);
	uz_assert_held(&m);
}
END_TEST

/* store_load_object(): "caller holds the slot's lock". */
START_TEST(load_without_slot_lock_aborts)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	struct uz_store *st = uz_store_create(1 * MiB, &cfg);
	struct slot_val v = { .meta = slot_meta(SLOT_SAME, 0) };
	uint8_t page[UZ_PAGE_SIZE];

	ck_assert_ptr_nonnull(st);
	store_load_object(st, NULL, &v, 0, page);
}
END_TEST

/* A backing file in a fresh temp folder; its path in path. */
static struct uz_backing *backing_file(char *path, size_t len, uint64_t capacity)
{
	char dir[] = "/tmp/uzram-lock.XXXXXX", err[256];
	struct uz_backing *b;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, len, "%s/backing", dir);
	b = uz_backing_open(path, capacity, 0, err, sizeof(err));
	ck_assert_msg(b != NULL, "backing: %s", err);
	return b;
}

static void backing_gone(const char *path)
{
	char dir[256];

	unlink(path);
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
}

/* uz_backing_pack(): the caller holds the run (the writer lock), from
 * uz_backing_reserve() on. */
START_TEST(pack_without_reserve_aborts)
{
	char path[256];
	struct uz_backing *b = backing_file(path, sizeof(path), 1 * MiB);
	struct uz_backing_run r = { .len = UZ_BACKING_RUN, .buf = malloc(UZ_BACKING_RUN) };
	uint8_t obj[64] = { 1 };

	unlink(path); /* the child aborts: nothing left behind but the folder */
	uz_backing_pack(b, &r, obj, sizeof(obj));
}
END_TEST

static void fill(uint8_t *p, unsigned seed)
{
	for (size_t i = 0; i < UZ_PAGE_SIZE; i++)
		p[i] = (uint8_t)("lock order, written and checked "[(i + seed) % 32] + (i / 256 + seed) % 5);
	if (seed % 7 == 0) { /* some incompressible pages (xorshift32) */
		uint32_t x = seed * 2654435761u + 1;

		for (size_t i = 0; i < UZ_PAGE_SIZE; i++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			p[i] = (uint8_t)(x >> 24);
		}
	}
}

struct writer_arg {
	struct uz_store *st;
	unsigned first, n, rounds;
};

static void *writer(void *argp)
{
	struct writer_arg *a = argp;
	uint8_t page[UZ_PAGE_SIZE];

	uz_store_thread_warm();
	for (unsigned r = 0; r < a->rounds; r++)
		for (unsigned i = a->first; i < a->first + a->n; i++) {
			fill(page, i + r);
			ck_assert_int_eq(uz_store_write(a->st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
			ck_assert_int_eq(uz_store_read(a->st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
		}
	return NULL;
}

/* Every path of the store with the checks on: writes from two threads
 * while compaction runs, partial writes, discards, idle marks, writeback
 * to a file and reads back (span reads), recompression, a spill at the
 * memory limit, snapshot and check, training dictionaries and
 * recompression onto them. */
START_TEST(store_workload_passes)
{
	enum { PAGES = 2048 };
	char path[256], err[512] = "";
	struct uz_store_config cfg = {
		.arena = UZ_ARENA_PLAIN,
		.compact_ppm = 1,
		.recomp = { UZ_ALGO_ZSTD, 0 },
		.dictionary = true,
	};
	struct uz_store *st;
	struct writer_arg wa[2];
	pthread_t th[2];
	uint8_t page[UZ_PAGE_SIZE], want[UZ_PAGE_SIZE], *big = malloc(64 * UZ_PAGE_SIZE);
	struct uz_writeback_result wr;
	struct uz_recompress_result rr;
	struct uz_compact_result cr;
	struct uz_store_stats stats;

	cfg.backing = backing_file(path, sizeof(path), 64 * MiB);
	st = uz_store_create(4 * PAGES * UZ_PAGE_SIZE, &cfg);
	ck_assert_ptr_nonnull(st);
	uz_store_thread_warm();
	for (int t = 0; t < 2; t++) {
		wa[t] = (struct writer_arg){ st, (unsigned)t * PAGES / 2, PAGES / 2, 2 };
		ck_assert_int_eq(pthread_create(&th[t], NULL, writer, &wa[t]), 0);
	}
	for (int i = 0; i < 4; i++)
		uz_store_compact(st, &cr);
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	/* what the last round wrote: seed i + 1 */
	for (unsigned i = 0; i < PAGES; i += 97) {
		fill(want, i + 1);
		ck_assert_int_eq(uz_store_read(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
		ck_assert_mem_eq(page, want, sizeof(page));
	}
	ck_assert_int_eq(uz_store_write(st, "partial", 7, 3 * UZ_PAGE_SIZE + 100), 0);
	ck_assert_int_eq(uz_store_discard(st, 10 * UZ_PAGE_SIZE, 5 * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_zero(st, 20 * UZ_PAGE_SIZE, 3 * UZ_PAGE_SIZE + 17), 0);
	ck_assert_int_gt(uz_store_mark_idle(st, 0), 0);
	uz_store_clock_advance(st, 3600); /* the age sweep */
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_IDLE, 0, &rr), 0);
	ck_assert_uint_gt(rr.tried, 0);
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_IDLE, 0, &wr), 0);
	ck_assert_uint_gt(wr.pages, 0);
	ck_assert_int_eq(uz_store_check(st, err, sizeof(err)), 0);
	/* pages written back side by side come back with one read */
	ck_assert_int_eq(uz_store_read(st, big, 64 * UZ_PAGE_SIZE, 1024 * UZ_PAGE_SIZE), 0);
	fill(want, 1024 + 1);
	ck_assert_mem_eq(big, want, UZ_PAGE_SIZE);
	/* at a memory limit, writes spill the coldest pages */
	ck_assert_int_eq(uz_store_mark_idle(st, 0) >= 0, 1);
	uz_store_set_mem_limit(st, 8 * MiB);
	for (unsigned i = PAGES; i < 4 * PAGES; i++) {
		fill(page, i % 3 ? i : 7 * i); /* a third incompressible */
		ck_assert_msg(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE) == 0, "page %u", i);
	}
	uz_store_stats(st, &stats);
	ck_assert_uint_gt(stats.spills, 0);
	uz_store_compact(st, &cr);
	ck_assert_msg(uz_store_check(st, err, sizeof(err)) == 0, "invariant: %s", err);
	{
		char snap[300];
		struct uz_snapshot_info info;

		snprintf(snap, sizeof(snap), "%s.snap", path);
		ck_assert_msg(uz_store_snapshot(st, snap, &info, err, sizeof(err)) == 0, "snapshot: %s", err);
		unlink(snap);
	}
	/* trained dictionaries: pages recompressed onto one, then (trained
	 * again) moved onto the next, the first freed; reads in between */
	uz_store_set_mem_limit(st, 0);
	for (int round = 0; round < 2; round++) {
		ck_assert_msg(uz_store_train_dict(st, 256, 16 << 10, err, sizeof(err)) == 0, "train: %s", err);
		ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &rr), 0);
		ck_assert_uint_gt(rr.dict_kept, 0);
		for (unsigned i = 3 * PAGES; i < 4 * PAGES; i += 61) {
			fill(want, i % 3 ? i : 7 * i);
			ck_assert_int_eq(uz_store_read(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
			ck_assert_mem_eq(page, want, sizeof(page));
		}
		ck_assert_msg(uz_store_check(st, err, sizeof(err)) == 0, "invariant: %s", err);
	}
	uz_store_stats(st, &stats);
	ck_assert_uint_gt(stats.dict_pages, 0);
	ck_assert_uint_eq(stats.dicts[0].id && stats.dicts[1].id, 0); /* the first is freed */
	uz_store_destroy(st);
	backing_gone(path);
	free(big);
}
END_TEST

/* The figure uz_store_stored() gives, against uz_store_stats()'s; true
 * when both agree. */
static void stored_agrees(struct uz_store *st, uint64_t want)
{
	struct uz_store_stats s;
	struct uz_mutex top;
	uint64_t got;

	/* Under the highest-ranked lock: any store lock taken would abort. */
	uz_mutex_init(&top, UZ_LOCK_STOP);
	uz_mutex_lock(&top);
	got = uz_store_stored(st);
	uz_mutex_unlock(&top);
	uz_mutex_destroy(&top);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(got, s.orig_data_size);
	ck_assert_uint_eq(got, want);
}

/* uz_store_stored(): the stats' orig_data_size, without their locks,
 * through writes of every kind, discards, zeroes and writeback. */
START_TEST(stored_is_the_stats_figure)
{
	char path[256];
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	struct uz_writeback_result wr;
	uint8_t page[UZ_PAGE_SIZE];
	struct uz_store *st;

	cfg.backing = backing_file(path, sizeof(path), 16 * MiB);
	st = uz_store_create(4 * MiB, &cfg);
	ck_assert_ptr_nonnull(st);
	stored_agrees(st, 0);
	for (unsigned i = 0; i < 64; i++) {
		if (i % 4 == 3)
			memset(page, 0x5a, sizeof(page)); /* same-filled */
		else
			fill(page, i); /* compressible, or raw for i % 7 == 0 */
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
	}
	stored_agrees(st, 64 * UZ_PAGE_SIZE);
	ck_assert_int_eq(uz_store_write(st, "x", 1, 100 * UZ_PAGE_SIZE + 5), 0); /* a partial write */
	stored_agrees(st, 65 * UZ_PAGE_SIZE);
	ck_assert_int_eq(uz_store_discard(st, 0, 8 * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_zero(st, 8 * UZ_PAGE_SIZE, 4 * UZ_PAGE_SIZE), 0);
	stored_agrees(st, 53 * UZ_PAGE_SIZE);
	/* written back: out of memory, so out of the figure (as zram's) */
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_HUGE, 0, &wr), 0);
	ck_assert_uint_gt(wr.pages, 0);
	stored_agrees(st, (53 - wr.pages) * UZ_PAGE_SIZE);
	uz_store_destroy(st);
	backing_gone(path);
}
END_TEST

/* uz_store_stats() does take locks: under the highest-ranked one it
 * aborts (what stored_agrees() relies on to show that uz_store_stored()
 * takes none). */
START_TEST(stats_under_top_lock_aborts)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	struct uz_store *st = uz_store_create(1 * MiB, &cfg);
	struct uz_store_stats s;
	struct uz_mutex top;

	ck_assert_ptr_nonnull(st);
	uz_mutex_init(&top, UZ_LOCK_STOP);
	uz_mutex_lock(&top);
	uz_store_stats(st, &s);
}
END_TEST

/* uz_backing_open(), a constructor: NULL with errno set, and a message. */
START_TEST(backing_open_sets_errno)
{
	char dir[] = "/tmp/uzram-lock.XXXXXX", err[256] = "";

	ck_assert_ptr_nonnull(mkdtemp(dir));
	errno = 0;
	ck_assert_ptr_null(uz_backing_open(dir, 0, 1 * MiB, err, sizeof(err))); /* a folder */
	ck_assert_int_eq(errno, EISDIR);
	ck_assert_ptr_nonnull(strstr(err, dir));
	errno = 0;
	/* (a character device: open(2) refuses O_DIRECT, or it is neither a
	 * file nor a block device) */
	ck_assert_ptr_null(uz_backing_open("/dev/null", 0, 1 * MiB, err, sizeof(err)));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "/dev/null: "));
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("lock");
	TCase *tc = tcase_create("lock");
	/* The abort tests need a child per test: not under CK_FORK=no (make
	 * valgrind), where an abort would end the whole run. */
	const char *fork = getenv("CK_FORK");
	bool forks = !fork || strcmp(fork, "no");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, order_kept_passes);
	tcase_add_test(tc, store_workload_passes);
	tcase_add_test(tc, stored_is_the_stats_figure);
	tcase_add_test(tc, backing_open_sets_errno);
	if (forks) {
		tcase_add_test_raise_signal(tc, wrong_order_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, slot_under_pool_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, wb_under_compact_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, classes_descending_abort, SIGABRT);
		tcase_add_test_raise_signal(tc, two_of_one_rank_abort, SIGABRT);
		tcase_add_test_raise_signal(tc, relock_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, unlock_not_held_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, assert_held_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, load_without_slot_lock_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, pack_without_reserve_aborts, SIGABRT);
		tcase_add_test_raise_signal(tc, stats_under_top_lock_aborts, SIGABRT);
	}
	suite_add_tcase(s, tc);
	return uz_run_suite(s);
}
