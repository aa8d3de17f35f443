/* tests/check_dict.c - the store's trained dictionaries (store/dicts.c):
 * training, recompression against them, retiring and freeing, reads of
 * every path (in memory, written back, in spans), corrupt slots, the
 * checker's counts, and snapshots carrying them. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../store/internal.h"
#include "../store/store.h"
#include "check_util.h"

/* Pages of prose: words of one vocabulary in an order of their own, as
 * the pages of one kind of file are.  A page alone gives a compressor
 * little history; a dictionary of the vocabulary gives it much. */
static void prose(uint8_t *p, size_t n, unsigned seed)
{
	static const char *const words[] = {
		"static", "struct", "return", "unsigned", "const", "uint64_t", "memory", "compressed", "page",
		"slot", "lock", "dictionary", "engine", "arena", "writeback", "recompression", "backing",
		"counter", "threshold", "allocation", "fragmentation", "compaction", "snapshot", "restore",
		"kernel", "userspace", "device", "request", "thread", "housekeeping", "invariant", "checker",
		"(void)", "{", "}", ";", "if", "else", "while", "for", "break;", "continue;", "NULL", "errno",
		"-ENOMEM", "-EINVAL", "-EBUSY", "sizeof", "atomic_load", "pthread_mutex_lock", "/*", "*/",
	};
	unsigned s = seed * 2654435761u + 7;
	size_t i = 0;

	while (i < n) {
		const char *w = words[uz_test_rnd(&s) % (sizeof(words) / sizeof(words[0]))];

		for (; *w && i < n; w++)
			p[i++] = (uint8_t)*w;
		if (i < n)
			p[i++] = uz_test_rnd(&s) % 8 ? ' ' : '\n';
	}
}

/* Pages [first, first + n) written with fill (seed: the page's number
 * plus salt), or checked to read back so. */
static void put_range(struct uz_store *st, uint64_t first, unsigned n, unsigned salt)
{
	static uint8_t page[UZ_PAGE_SIZE];

	for (unsigned i = 0; i < n; i++) {
		prose(page, sizeof(page), (unsigned)(first + i) + salt);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (first + i) * UZ_PAGE_SIZE), 0);
	}
}

static void check_range(struct uz_store *st, uint64_t first, unsigned n, unsigned salt)
{
	static uint8_t want[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];

	for (unsigned i = 0; i < n; i++) {
		prose(want, sizeof(want), (unsigned)(first + i) + salt);
		ck_assert_int_eq(uz_store_read(st, got, sizeof(got), (first + i) * UZ_PAGE_SIZE), 0);
		ck_assert_msg(memcmp(want, got, sizeof(got)) == 0, "page %llu", (unsigned long long)(first + i));
	}
}

enum { N = 1024, SAMPLE = 512, DICT = 16 << 10 };

static struct uz_store *dict_store(bool dictionary, struct uz_backing *b)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 0 },
				       .dictionary = dictionary, .backing = b };
	struct uz_store *st = uz_store_create(64 * MiB, &cfg);

	ck_assert_ptr_nonnull(st);
	return st;
}

static void train_ok(struct uz_store *st)
{
	char err[256] = "";

	ck_assert_msg(uz_store_train_dict(st, SAMPLE, DICT, err, sizeof(err)) == 0, "train: %s", err);
}

/* Recompresses the pages of a type; n of them must move onto the current
 * dictionary. */
static void onto_dict(struct uz_store *st, enum uz_writeback_type type, uint64_t n)
{
	struct uz_recompress_result r;

	ck_assert_int_eq(uz_store_recompress(st, type, 0, &r), 0);
	ck_assert_uint_eq(r.dict_kept, n);
	ck_assert_uint_eq(r.kept, n);
}

/* The slot of the current dictionary, from the stats; -1 if none. */
static int current_slot(const struct uz_store_stats *s)
{
	for (int k = 0; k < UZ_STORE_DICTS; k++)
		if (s->dicts[k].current)
			return k;
	return -1;
}

/* Recompressed against a trained dictionary, pages take less memory than
 * recompressed without one, read back exactly; the counters, the stats
 * and the checker agree; rewrites and discards take the count to 0. */
START_TEST(dictionary_pages_are_smaller)
{
	struct uz_store *st = dict_store(true, NULL), *plain = dict_store(false, NULL);
	struct uz_recompress_result r, rp;
	struct uz_store_stats s, sp;
	int k;

	put_range(st, 0, N, 0);
	put_range(plain, 0, N, 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dict_bytes, 0);
	ck_assert_int_eq(current_slot(&s), -1);
	train_ok(st);
	train_ok(plain); /* trained, but its config does not use it */
	uz_store_stats(st, &s);
	k = current_slot(&s);
	ck_assert_int_ge(k, 0);
	ck_assert_uint_eq(s.dicts[k].id, 1);
	ck_assert_uint_le(s.dicts[k].size, DICT);
	ck_assert_uint_gt(s.dicts[k].size, 0);
	ck_assert_uint_eq(s.dicts[k].pages, 0);
	ck_assert_uint_eq(s.dict_bytes, s.dicts[k].mem);
	ck_assert_uint_gt(s.dict_bytes, s.dicts[k].size);
	ck_assert_uint_eq(s.mem_used_total, s.afm.mem_used_total + s.dict_bytes);
	uz_test_store_ok(st);

	ck_assert_int_eq(uz_store_mark_idle(st, 0), N);
	ck_assert_int_eq(uz_store_mark_idle(plain, 0), N);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_IDLE, 0, &r), 0);
	ck_assert_int_eq(uz_store_recompress(plain, UZ_WB_IDLE, 0, &rp), 0);
	ck_assert_uint_eq(r.tried, N);
	ck_assert_uint_eq(r.kept, N);
	ck_assert_uint_eq(r.dict_kept, N);
	ck_assert_uint_eq(rp.kept, N);
	ck_assert_uint_eq(rp.dict_kept, 0);
	uz_store_stats(st, &s);
	uz_store_stats(plain, &sp);
	ck_assert_uint_eq(s.algo_pages[UZ_ALGO_ZSTD], N); /* counted as zstd */
	ck_assert_uint_eq(s.recomp_pages, N);
	ck_assert_uint_eq(s.dict_pages, N);
	ck_assert_uint_eq(s.dicts[k].pages, N);
	ck_assert_uint_eq(s.recomp_dict_pages, N);
	ck_assert_uint_eq(sp.dict_pages, 0);
	ck_assert_uint_eq(sp.recomp_dict_pages, 0);
	ck_assert_uint_eq(s.idle_pages, N);
	ck_assert_uint_eq(s.recomp_saved_bytes, r.bytes_saved);
	/* smaller by far more than the dictionary's own memory */
	ck_assert_msg(s.compr_data_size < sp.compr_data_size * 9 / 10, "%llu vs %llu bytes",
		      (unsigned long long)s.compr_data_size, (unsigned long long)sp.compr_data_size);
	ck_assert_msg(s.mem_used_total < sp.mem_used_total, "%llu vs %llu bytes of memory",
		      (unsigned long long)s.mem_used_total, (unsigned long long)sp.mem_used_total);
	uz_test_store_ok(st);
	uz_test_store_ok(plain);
	check_range(st, 0, N, 0);
	check_range(plain, 0, N, 0);
	/* read: no longer idle, still on the dictionary; nothing to do */
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dict_pages, N);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_uint_eq(r.tried, 0);
	/* a partial write decodes the page against its dictionary */
	ck_assert_int_eq(uz_store_write(st, "x", 1, 7 * UZ_PAGE_SIZE + 5), 0);
	{
		static uint8_t want[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];

		prose(want, sizeof(want), 7);
		want[5] = 'x';
		ck_assert_int_eq(uz_store_read(st, got, sizeof(got), 7 * UZ_PAGE_SIZE), 0);
		ck_assert_mem_eq(want, got, sizeof(got));
	}
	/* rewrites and discards: off the dictionary, which stays (current) */
	put_range(st, 0, N / 2, 1);
	ck_assert_int_eq(uz_store_discard(st, (uint64_t)N / 2 * UZ_PAGE_SIZE, (uint64_t)N / 2 * UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dict_pages, 0);
	ck_assert_uint_eq(s.dicts[k].pages, 0);
	ck_assert_uint_eq(s.algo_pages[UZ_ALGO_ZSTD], 0);
	ck_assert(s.dicts[k].current);
	ck_assert_uint_gt(s.dict_bytes, 0);
	uz_test_store_ok(st);
	check_range(st, 0, N / 2, 1);
	uz_store_destroy(st);
	uz_store_destroy(plain);
}
END_TEST

/* A second dictionary installs while the first still has pages; a third
 * training finds both slots in use; recompression moves the pages onto
 * the current one and frees the retired one; a retired dictionary whose
 * pages are rewritten is freed by the housekeeping thread. */
START_TEST(retrain_retires_and_frees)
{
	struct uz_store *st = dict_store(true, NULL);
	struct uz_recompress_result r;
	struct uz_store_stats s;
	char err[256] = "";
	uint64_t bytes_two;
	int k1, k2, k3;

	put_range(st, 0, N, 0);
	train_ok(st);
	onto_dict(st, UZ_WB_ALL, N);
	uz_store_stats(st, &s);
	k1 = current_slot(&s);
	ck_assert_uint_eq(s.dicts[k1].pages, N);
	train_ok(st);
	uz_store_stats(st, &s);
	k2 = current_slot(&s);
	ck_assert_int_eq(k2, 1 - k1);
	ck_assert_uint_eq(s.dicts[k2].id, 2);
	ck_assert_uint_eq(s.dicts[k1].id, 1);
	ck_assert(!s.dicts[k1].current);
	ck_assert_uint_eq(s.dicts[k1].pages, N);
	ck_assert_uint_eq(s.dicts[k2].pages, 0);
	ck_assert_uint_eq(s.dict_bytes, s.dicts[k1].mem + s.dicts[k2].mem);
	bytes_two = s.dict_bytes;
	uz_test_store_ok(st);
	/* the old pages read back with the old dictionary */
	check_range(st, 0, N, 0);
	/* a third: no room */
	ck_assert_int_eq(uz_store_train_dict(st, SAMPLE, DICT, err, sizeof(err)), -EBUSY);
	ck_assert_msg(strstr(err, "1024 pages"), "%s", err);
	/* recompression moves them, and frees the first */
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_uint_eq(r.tried, N);
	ck_assert_uint_eq(r.kept, N);
	ck_assert_uint_eq(r.dict_kept, N);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dicts[k2].pages, N);
	ck_assert_uint_eq(s.dicts[k1].id, 0);
	ck_assert_uint_eq(s.dicts[k1].pages, 0);
	ck_assert_uint_eq(s.dict_pages, N);
	ck_assert_uint_lt(s.dict_bytes, bytes_two);
	ck_assert_uint_eq(s.dict_bytes, s.dicts[k2].mem);
	uz_test_store_ok(st);
	check_range(st, 0, N, 0);
	/* a third now installs; ids are never reused */
	train_ok(st);
	uz_store_stats(st, &s);
	k3 = current_slot(&s);
	ck_assert_int_eq(k3, k1);
	ck_assert_uint_eq(s.dicts[k3].id, 3);
	ck_assert_uint_eq(s.dicts[k2].pages, N);
	/* its pages rewritten, the retired one goes in the background */
	put_range(st, 0, N, 5);
	for (int i = 0; i < 200; i++) {
		uz_store_stats(st, &s);
		if (!s.dicts[k2].id)
			break;
		usleep(50 * 1000);
	}
	ck_assert_uint_eq(s.dicts[k2].id, 0);
	ck_assert_uint_eq(s.dict_bytes, s.dicts[k3].mem);
	uz_test_store_ok(st);
	check_range(st, 0, N, 5);
	uz_store_destroy(st);
}
END_TEST

/* Dictionary pages written back keep their dictionary and read back one
 * by one and in spans; while written back they hold their dictionary. */
START_TEST(dictionary_pages_write_back)
{
	char path[256], err[256] = "";
	struct uz_store *st = dict_store(true, uz_test_backing(path, sizeof(path), 64 * MiB));
	struct uz_recompress_result r;
	struct uz_writeback_result w;
	struct uz_store_stats a, b;
	static uint8_t big[64 * UZ_PAGE_SIZE], want[UZ_PAGE_SIZE];
	int k;

	put_range(st, 0, N, 0);
	train_ok(st);
	ck_assert_int_eq(uz_store_mark_idle(st, 0), N);
	onto_dict(st, UZ_WB_IDLE, N); /* the idle marks stay */
	uz_store_stats(st, &a);
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_IDLE, 0, &w), 0);
	ck_assert_uint_eq(w.pages, N);
	ck_assert_uint_eq(w.bytes, a.algo_bytes[UZ_ALGO_ZSTD]);
	uz_store_stats(st, &b);
	k = current_slot(&b);
	ck_assert_uint_eq(b.wb_pages, N);
	ck_assert_uint_eq(b.dict_pages, N);
	ck_assert_uint_eq(b.dicts[k].pages, N);
	uz_test_store_ok(st);
	ck_assert_int_eq(uz_store_read(st, big, sizeof(big), 0), 0); /* a span */
	for (unsigned i = 0; i < 64; i++) {
		prose(want, sizeof(want), i);
		ck_assert_msg(memcmp(want, big + (size_t)i * UZ_PAGE_SIZE, UZ_PAGE_SIZE) == 0, "page %u", i);
	}
	check_range(st, 0, N, 0);
	uz_store_stats(st, &b);
	ck_assert_uint_gt(b.wb_reads, 0);
	/* written back, they are not recompressed (the pages in memory
	 * are), and hold the retired dictionary: no room for a third */
	put_range(st, N, 200, 0);
	train_ok(st);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_uint_eq(r.tried, 200);
	ck_assert_uint_eq(r.dict_kept, 200);
	ck_assert_int_eq(uz_store_train_dict(st, SAMPLE, DICT, err, sizeof(err)), -EBUSY);
	uz_store_stats(st, &b);
	ck_assert_uint_eq(b.dicts[k].pages, N);
	check_range(st, 0, N, 0);
	uz_test_store_ok(st);
	/* rewritten, the pages let it go: the next recompression frees it */
	put_range(st, 0, N, 3);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_HUGE, 0, &r), 0);
	uz_store_stats(st, &b);
	ck_assert_uint_eq(b.dicts[k].id, 0);
	ck_assert_uint_eq(b.dict_pages, 200);
	ck_assert_uint_eq(b.dicts[1 - k].pages, 200);
	ck_assert_uint_eq(b.wb_pages, 0);
	check_range(st, 0, N, 3);
	check_range(st, N, 200, 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
	uz_test_tmp_gone(path);
}
END_TEST

/* A slot naming an empty dictionary slot is a corrupt page: its read
 * fails with -EIO (counted), the checker says so; put right, it reads. */
START_TEST(empty_dictionary_slot_reads_eio)
{
	struct uz_store *st = dict_store(true, NULL);
	struct uz_recompress_result r;
	struct uz_store_stats s;
	static uint8_t got[2 * UZ_PAGE_SIZE];
	char err[256] = "";
	struct uz_slot *slot;
	uint32_t meta;
	int k;

	put_range(st, 0, N, 0);
	train_ok(st);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	uz_store_stats(st, &s);
	k = current_slot(&s);
	slot = uz_slots_get(st->slots, 9, false);
	ck_assert_ptr_nonnull(slot);
	meta = uz_slot_lock(slot);
	ck_assert_int_eq(slot_dict(meta), k);
	uz_slot_unlock(slot, slot_with_codec(meta, slot_dict_codec(1, 1 - k)));
	ck_assert_int_eq(uz_store_read(st, got, UZ_PAGE_SIZE, 9 * UZ_PAGE_SIZE), -EIO);
	ck_assert_int_eq(uz_store_read(st, got, 2 * UZ_PAGE_SIZE, 8 * UZ_PAGE_SIZE), -EIO);
	ck_assert_int_eq(uz_store_write(st, "y", 1, 9 * UZ_PAGE_SIZE + 1), -EIO); /* a partial write reads it */
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.failed_reads, 2);
	ck_assert_int_eq(uz_store_check(st, err, sizeof(err)), -EUCLEAN);
	ck_assert_msg(strstr(err, "empty"), "%s", err);
	/* the same slot naming LZ4 against a dictionary: does not decode */
	uz_slot_unlock(slot, slot_with_codec(uz_slot_lock(slot), slot_dict_codec(0, k)));
	ck_assert_int_eq(uz_store_read(st, got, UZ_PAGE_SIZE, 9 * UZ_PAGE_SIZE), -EIO);
	uz_slot_unlock(slot, slot_with_codec(uz_slot_lock(slot), slot_dict_codec(1, k)));
	uz_test_store_ok(st);
	check_range(st, 0, N, 0);
	uz_store_destroy(st);
}
END_TEST

/* A snapshot carries the dictionary its pages use (details:
 * check_snapshot.c); once they are rewritten it carries the dictionary
 * all the same, with no page on it. */
START_TEST(snapshot_carries_dictionary_pages)
{
	struct uz_store *st = dict_store(true, NULL), *back;
	struct uz_recompress_result r;
	struct uz_snapshot_info info;
	struct uz_store_stats s;
	char path[256], err[256] = "";

	uz_test_tmp(path, sizeof(path), "snap");
	put_range(st, 0, N, 0);
	train_ok(st);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_msg(uz_store_snapshot(st, path, &info, err, sizeof(err)) == 0, "snapshot: %s", err);
	back = dict_store(true, NULL);
	ck_assert_msg(uz_store_restore(back, path, &info, err, sizeof(err)) == 0, "restore: %s", err);
	check_range(back, 0, N, 0);
	uz_store_stats(back, &s);
	ck_assert_uint_eq(s.dict_pages, N);
	uz_test_store_ok(back);
	uz_store_destroy(back);
	put_range(st, 0, N, 0);
	ck_assert_msg(uz_store_snapshot(st, path, &info, err, sizeof(err)) == 0, "snapshot: %s", err);
	ck_assert_uint_eq(info.pages, N);
	back = dict_store(true, NULL);
	ck_assert_msg(uz_store_restore(back, path, &info, err, sizeof(err)) == 0, "restore: %s", err);
	check_range(back, 0, N, 0);
	uz_store_stats(back, &s);
	ck_assert_uint_eq(s.dict_pages, 0);
	ck_assert_uint_eq(s.dicts[current_slot(&s)].id, 1);
	uz_test_store_ok(back);
	uz_store_destroy(back);
	uz_store_destroy(st);
	uz_test_tmp_gone(path);
}
END_TEST

/* What training refuses, each with its reason. */
START_TEST(training_errors)
{
	struct uz_store *st = dict_store(true, NULL);
	struct uz_store_stats s;
	char err[256] = "";

	ck_assert_int_eq(uz_store_train_dict(st, SAMPLE, DICT, err, sizeof(err)), -EINVAL); /* empty */
	ck_assert_msg(strstr(err, "at least"), "%s", err);
	put_range(st, 0, 40, 0);
	ck_assert_int_eq(uz_store_train_dict(st, SAMPLE, DICT, err, sizeof(err)), -EINVAL); /* too few */
	put_range(st, 40, N - 40, 0);
	ck_assert_int_eq(uz_store_train_dict(st, SAMPLE, UZ_DICT_MIN_SIZE - 1, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "not within"), "%s", err);
	ck_assert_int_eq(uz_store_train_dict(st, SAMPLE, UZ_DICT_MAX_SIZE + 1, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_store_train_dict(st, UZ_DICT_MIN_SAMPLES - 1, DICT, err, sizeof(err)), -EINVAL);
	uz_store_stats(st, &s);
	ck_assert_int_eq(current_slot(&s), -1);
	ck_assert_uint_eq(s.dict_bytes, 0);
	/* none of those changed anything: the first training installs */
	train_ok(st);
	uz_store_stats(st, &s);
	ck_assert_int_ge(current_slot(&s), 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

/* A training that must pay keeps no dictionary where it cannot: on noise
 * (nothing in common), and on prose while too few pages are stored for
 * its saving to pass its memory; it keeps one once they are many, and
 * one that pays is refused nothing that the plain training would keep. */
START_TEST(auto_training_must_pay)
{
	enum { FEW = 240, MANY = 3072, BIG = 64 << 10 };
	struct uz_store *st = dict_store(true, NULL);
	static uint8_t page[UZ_PAGE_SIZE];
	struct uz_store_stats s;
	char err[256] = "";

	for (unsigned i = 0; i < FEW; i++) {
		uz_test_noise(page, sizeof(page), i + 1);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
	}
	ck_assert_int_eq(uz_store_train_dict_paying(st, FEW, DICT, err, sizeof(err)), -EINVAL);
	uz_store_stats(st, &s);
	ck_assert_int_eq(current_slot(&s), -1);
	ck_assert_uint_eq(s.dict_bytes, 0);
	/* prose over the noise: a large dictionary saves, but not its memory */
	put_range(st, 0, FEW, 0);
	err[0] = 0;
	ck_assert_int_eq(uz_store_train_dict_paying(st, FEW, BIG, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "not kept") && strstr(err, "240 pages stored"), "%s", err);
	uz_store_stats(st, &s);
	ck_assert_int_eq(current_slot(&s), -1);
	ck_assert_uint_eq(s.dict_bytes, 0);
	uz_test_store_ok(st);
	/* many pages of it: kept */
	put_range(st, FEW, MANY - FEW, 0);
	ck_assert_msg(uz_store_train_dict_paying(st, 2048, DICT, err, sizeof(err)) == 0, "train: %s", err);
	uz_store_stats(st, &s);
	ck_assert_int_ge(current_slot(&s), 0);
	ck_assert_uint_eq(s.dict_bytes, s.dicts[current_slot(&s)].mem);
	uz_test_store_ok(st);
	check_range(st, 0, MANY, 0);
	uz_store_destroy(st);
}
END_TEST

/* Readers of dictionary pages while training and recompression move the
 * pages between dictionaries and free the retired ones: every read is
 * exact (and, under a sanitizer, no dictionary is used after its free). */
struct reader_arg {
	struct uz_store *st;
	_Atomic bool stop;
	_Atomic unsigned reads;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	static __thread uint8_t want[UZ_PAGE_SIZE], got[4 * UZ_PAGE_SIZE];
	unsigned s = 1;

	uz_store_thread_warm();
	while (!atomic_load(&a->stop)) {
		unsigned i = uz_test_rnd(&s) % (N - 4);

		ck_assert_int_eq(uz_store_read(a->st, got, sizeof(got), (uint64_t)i * UZ_PAGE_SIZE), 0);
		for (unsigned j = 0; j < 4; j++) {
			prose(want, sizeof(want), i + j);
			ck_assert_msg(memcmp(want, got + j * UZ_PAGE_SIZE, UZ_PAGE_SIZE) == 0, "page %u", i + j);
		}
		a->reads++;
	}
	return NULL;
}

START_TEST(reads_race_retraining)
{
	struct reader_arg a = { .st = dict_store(true, NULL) };
	struct uz_recompress_result r;
	struct uz_store_stats s;
	pthread_t th[2];

	put_range(a.st, 0, N, 0);
	for (int t = 0; t < 2; t++)
		ck_assert_int_eq(pthread_create(&th[t], NULL, reader, &a), 0);
	for (int round = 0; round < uz_test_rounds(6); round++) {
		train_ok(a.st);
		ck_assert_int_eq(uz_store_recompress(a.st, UZ_WB_ALL, 0, &r), 0);
		ck_assert_uint_eq(r.dict_kept, N);
	}
	atomic_store(&a.stop, true);
	for (int t = 0; t < 2; t++)
		pthread_join(th[t], NULL);
	ck_assert_uint_gt(atomic_load(&a.reads), 0);
	uz_store_stats(a.st, &s);
	ck_assert_uint_eq(s.dict_pages, N);
	ck_assert_uint_eq(s.dicts[current_slot(&s)].pages, N);
	ck_assert_uint_eq(s.dicts[1 - current_slot(&s)].id, 0); /* each retired one freed */
	uz_test_store_ok(a.st);
	uz_store_destroy(a.st);
}
END_TEST

/* The housekeeping thread's recompression (recompress-after) puts cold
 * pages onto the dictionary, and, after a retraining, moves them onto
 * the next one and frees the first. */
START_TEST(policy_uses_the_dictionary)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 0 },
				       .recompress_after_s = 3600, .dictionary = true };
	struct uz_store *st = uz_store_create(64 * MiB, &cfg);
	struct uz_store_stats s;
	int k1 = -1;

	ck_assert_ptr_nonnull(st);
	put_range(st, 0, N, 0);
	train_ok(st);
	uz_store_clock_advance(st, 2 * 3600);
	for (int round = 0; round < 2; round++) {
		int i;

		for (i = 0; i < 200; i++) {
			uz_store_stats(st, &s);
			if (s.dicts[current_slot(&s)].pages == N && (k1 < 0 || !s.dicts[k1].id))
				break;
			usleep(50 * 1000);
		}
		ck_assert_msg(i < 200, "round %d: %llu pages on the current dictionary", round,
			      (unsigned long long)s.dicts[current_slot(&s)].pages);
		ck_assert_uint_eq(s.dict_pages, N);
		ck_assert_uint_eq(s.dict_bytes, s.dicts[current_slot(&s)].mem);
		k1 = current_slot(&s);
		if (!round) {
			train_ok(st);
			uz_store_clock_advance(st, 120); /* the policy's next pass */
		}
	}
	uz_test_store_ok(st);
	check_range(st, 0, N, 0);
	uz_store_destroy(st);
}
END_TEST

/* --- LZ4 against the current dictionary for writes (dictionary_lz4) ---- */

static struct uz_store *lz4_dict_store(bool on, struct uz_backing *b)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 0 },
				       .dictionary = true, .dictionary_lz4 = on, .backing = b };
	struct uz_store *st = uz_store_create(64 * MiB, &cfg);

	ck_assert_ptr_nonnull(st);
	return st;
}

/* With dictionary_lz4, writes after a training are LZ4 against the
 * dictionary, smaller in total than plain LZ4 on the same data, read back
 * exactly, and are counted on it; overwrites, discards and same-filled
 * pages take the count off; turned off, writes are plain again; the
 * pages are recompressed onto the dictionary with zstd. */
START_TEST(lz4_dict_writes_are_smaller)
{
	struct uz_store *st = lz4_dict_store(true, NULL), *plain = lz4_dict_store(false, NULL);
	static const uint8_t zero[UZ_PAGE_SIZE];
	struct uz_store_stats s, sp;
	struct uz_recompress_result r;
	int k;

	put_range(st, 0, N, 0);
	put_range(plain, 0, N, 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dict_lz4_writes, 0); /* no dictionary yet */
	train_ok(st);
	train_ok(plain);
	put_range(st, 0, N, 9);
	put_range(plain, 0, N, 9);
	uz_store_stats(st, &s);
	uz_store_stats(plain, &sp);
	k = current_slot(&s);
	ck_assert_int_ge(k, 0);
	ck_assert_uint_eq(s.dict_lz4_writes, N);
	ck_assert_uint_eq(s.dict_lz4_missed, 0);
	ck_assert_uint_eq(s.dicts[k].pages, N);
	ck_assert_uint_eq(s.dict_pages, N);
	ck_assert_uint_eq(s.algo_pages[UZ_ALGO_LZ4], N);
	ck_assert_uint_eq(sp.dict_pages, 0);
	ck_assert_uint_eq(sp.dict_lz4_writes, 0);
	ck_assert_msg(s.compr_data_size < sp.compr_data_size, "LZ4 against the dictionary: %llu bytes, plain %llu",
		      (unsigned long long)s.compr_data_size, (unsigned long long)sp.compr_data_size);
	uz_test_store_ok(st);
	check_range(st, 0, N, 9);
	/* a partial write decodes and encodes against it again */
	ck_assert_int_eq(uz_store_write(st, zero, 100, 5 * UZ_PAGE_SIZE + 17), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dicts[k].pages, N);
	/* overwritten with same-filled pages, discarded, zeroed: off it */
	for (unsigned i = 0; i < 100; i++)
		ck_assert_int_eq(uz_store_write(st, zero, sizeof(zero), (uint64_t)i * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_discard(st, 100 * UZ_PAGE_SIZE, 100 * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_zero(st, 200 * UZ_PAGE_SIZE, 100 * UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dicts[k].pages, N - 300);
	uz_test_store_ok(st);
	check_range(st, 300, N - 300, 9);
	/* turned off: plain LZ4 again */
	uz_store_set_dictionary_lz4(st, false);
	put_range(st, 300, 100, 4);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dicts[k].pages, N - 400);
	ck_assert_uint_eq(s.dict_lz4_writes, N + 1); /* (and the partial write) */
	uz_store_set_dictionary_lz4(st, true);
	put_range(st, 0, 300, 4);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dicts[k].pages, N - 100);
	/* recompressed: zstd against the dictionary, kept where smaller */
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_uint_eq(r.tried, N);
	ck_assert_uint_gt(r.dict_kept, N / 2);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dicts[k].pages, N);
	ck_assert_uint_eq(s.algo_pages[UZ_ALGO_ZSTD] + s.algo_pages[UZ_ALGO_LZ4], N);
	uz_test_store_ok(st);
	check_range(st, 0, 400, 4);
	check_range(st, 400, N - 400, 9);
	uz_store_destroy(st);
	uz_store_destroy(plain);
}
END_TEST

/* Writes probe whether LZ4 against the dictionary pays: on data it does
 * not help (1 KiB of noise, four times a page) they stop using it after
 * a window of probes, and only probes try it; on prose again it pays and
 * they use it again.  Every page reads back. */
START_TEST(lz4_dict_writes_follow_the_probes)
{
	enum { WINDOW = 32 * 64 }; /* pages a window of probes takes (store.c) */
	struct uz_store *st = lz4_dict_store(true, NULL);
	static uint8_t page[UZ_PAGE_SIZE];
	struct uz_store_stats s;
	uint64_t writes, probes;

	put_range(st, 0, N, 0);
	train_ok(st);
	uz_store_stats(st, &s);
	ck_assert(s.dict_lz4_paying); /* a new dictionary is taken to pay */
	/* noise: after at most two windows the dictionary is off */
	for (unsigned i = 0; i < 2 * WINDOW; i++) {
		for (unsigned j = 0; j < 4; j++)
			uz_test_noise(page + j * 1024, 1024, i + 1);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)(N + i) * UZ_PAGE_SIZE), 0);
	}
	uz_store_stats(st, &s);
	ck_assert(!s.dict_lz4_paying);
	ck_assert_uint_ge(s.dict_lz4_probes, 2 * WINDOW / 32 - 1);
	writes = s.dict_lz4_writes;
	probes = s.dict_lz4_probes;
	/* off: only probes compress against it (and keep the smaller form) */
	for (unsigned i = 0; i < WINDOW / 2; i++) {
		for (unsigned j = 0; j < 4; j++)
			uz_test_noise(page + j * 1024, 1024, i + 7777);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)(N + i) * UZ_PAGE_SIZE), 0);
	}
	uz_store_stats(st, &s);
	ck_assert_uint_le(s.dict_lz4_writes - writes, s.dict_lz4_probes - probes);
	ck_assert_uint_ge(s.dict_lz4_probes - probes, WINDOW / 2 / 32 - 1);
	/* prose again: within two windows it pays, and writes use it */
	put_range(st, 0, 2 * WINDOW, 3);
	uz_store_stats(st, &s);
	ck_assert(s.dict_lz4_paying);
	writes = s.dict_lz4_writes;
	put_range(st, 0, N, 5);
	uz_store_stats(st, &s);
	ck_assert_uint_gt(s.dict_lz4_writes - writes, N * 9 / 10);
	uz_test_store_ok(st);
	check_range(st, 0, N, 5);
	check_range(st, N, 2 * WINDOW - N, 3);
	uz_store_destroy(st);
}
END_TEST

/* LZ4-dictionary pages written back keep their dictionary, read back one
 * by one and in spans, and hold it while written back. */
START_TEST(lz4_dict_pages_write_back)
{
	char path[256];
	struct uz_store *st = lz4_dict_store(true, uz_test_backing(path, sizeof(path), 64 * MiB));
	static uint8_t big[64 * UZ_PAGE_SIZE], want[UZ_PAGE_SIZE];
	struct uz_writeback_result w;
	struct uz_store_stats s;
	int k;

	put_range(st, 0, N, 0);
	train_ok(st);
	put_range(st, 0, N, 2);
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_ALL, 0, &w), 0);
	ck_assert_uint_eq(w.pages, N);
	uz_store_stats(st, &s);
	k = current_slot(&s);
	ck_assert_uint_eq(s.wb_pages, N);
	ck_assert_uint_eq(s.dicts[k].pages, N);
	uz_test_store_ok(st);
	ck_assert_int_eq(uz_store_read(st, big, sizeof(big), 0), 0); /* a span */
	for (unsigned i = 0; i < 64; i++) {
		prose(want, sizeof(want), i + 2);
		ck_assert_msg(memcmp(want, big + (size_t)i * UZ_PAGE_SIZE, UZ_PAGE_SIZE) == 0, "page %u", i);
	}
	check_range(st, 0, N, 2);
	uz_store_stats(st, &s);
	ck_assert_uint_gt(s.wb_reads, 0);
	/* discarded, they let it go */
	ck_assert_int_eq(uz_store_discard(st, 0, (uint64_t)N * UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dict_pages, 0);
	ck_assert_uint_eq(s.wb_pages, 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
	uz_test_tmp_gone(path);
}
END_TEST

/* Writers on 4 threads, each owning a quarter of the pages, rewrite,
 * partly write and discard them while the main thread retrains (the
 * current dictionary retires under the writers), recompresses (moving
 * pages off the retired one, which is freed) and turns dictionary_lz4
 * off and on: every page reads back as its writer last wrote it, the
 * checker agrees with the counts, and the retired dictionaries are freed. */
enum { WRITERS = 4, OWN = N / WRITERS };

struct writer_arg {
	struct uz_store *st;
	unsigned t;
	_Atomic bool *stop;
	unsigned salt[OWN]; /* the page's last salt; ~0u: discarded */
	unsigned writes;
};

static void *writer(void *p)
{
	struct writer_arg *a = p;
	static __thread uint8_t page[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];
	unsigned s = a->t + 1;

	uz_store_thread_warm();
	while (!atomic_load(a->stop)) {
		unsigned i = uz_test_rnd(&s) % OWN, op = uz_test_rnd(&s) % 16;
		uint64_t idx = (uint64_t)a->t * OWN + i, off = idx * UZ_PAGE_SIZE;

		if (op == 0) {
			ck_assert_int_eq(uz_store_discard(a->st, off, UZ_PAGE_SIZE), 0);
			a->salt[i] = ~0u;
		} else if (op == 1 && a->salt[i] != ~0u) {
			/* a partial write of the page's own bytes: it stays the same */
			prose(page, sizeof(page), (unsigned)idx + a->salt[i]);
			ck_assert_int_eq(uz_store_write(a->st, page + 1000, 700, off + 1000), 0);
		} else {
			a->salt[i] = uz_test_rnd(&s) % 64;
			prose(page, sizeof(page), (unsigned)idx + a->salt[i]);
			ck_assert_int_eq(uz_store_write(a->st, page, sizeof(page), off), 0);
		}
		ck_assert_int_eq(uz_store_read(a->st, got, sizeof(got), off), 0);
		if (a->salt[i] == ~0u)
			memset(page, 0, sizeof(page));
		ck_assert_msg(memcmp(page, got, sizeof(got)) == 0, "page %llu", (unsigned long long)idx);
		a->writes++;
	}
	return NULL;
}

START_TEST(lz4_dict_writes_race_retraining)
{
	struct uz_store *st = lz4_dict_store(true, NULL);
	static struct writer_arg a[WRITERS];
	static uint8_t want[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];
	struct uz_recompress_result r;
	_Atomic bool stop = false;
	struct uz_store_stats s;
	pthread_t th[WRITERS];
	char err[256];
	int trained = 0, k;

	put_range(st, 0, N, 0);
	train_ok(st);
	for (unsigned t = 0; t < WRITERS; t++) {
		a[t] = (struct writer_arg){ .st = st, .t = t, .stop = &stop };
		ck_assert_int_eq(pthread_create(&th[t], NULL, writer, &a[t]), 0);
	}
	for (int tries = 0; trained < uz_test_rounds(12) && tries < 1000; tries++) {
		/* (-EBUSY: the retired dictionary still has a page that
		 * recompression found rewritten meanwhile, or a writer's
		 * passing count: try again after the next recompression) */
		int e = uz_store_train_dict(st, SAMPLE, DICT, err, sizeof(err));

		ck_assert_msg(e == 0 || e == -EBUSY, "train: %s", err);
		trained += e == 0;
		ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
		if (e)
			usleep(1000);
		else if (trained % 4 == 3)
			uz_store_set_dictionary_lz4(st, false);
		else if (trained % 4 == 0)
			uz_store_set_dictionary_lz4(st, true);
	}
	/* On again, and the writers go on until some write has used a
	 * dictionary (at most 30 s): the check below must not depend on how
	 * threads were scheduled (under valgrind, one at a time). */
	uz_store_set_dictionary_lz4(st, true);
	uz_store_stats(st, &s);
	for (int i = 0; i < 30000 && !s.dict_lz4_writes; i++) {
		usleep(1000);
		uz_store_stats(st, &s);
	}
	atomic_store(&stop, true);
	for (unsigned t = 0; t < WRITERS; t++) {
		pthread_join(th[t], NULL);
		ck_assert_uint_gt(a[t].writes, 0);
	}
	ck_assert_int_eq(trained, uz_test_rounds(12));
	/* quiet now: the counts are exact, and one more recompression moves
	 * the last pages off the retired dictionary and frees it */
	uz_test_store_ok(st);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	uz_store_stats(st, &s);
	k = current_slot(&s);
	ck_assert_int_ge(k, 0);
	ck_assert_uint_eq(s.dicts[1 - k].id, 0);
	ck_assert_uint_eq(s.dict_pages, s.dicts[k].pages);
	ck_assert_uint_gt(s.dict_lz4_writes, 0);
	uz_test_store_ok(st);
	for (unsigned t = 0; t < WRITERS; t++)
		for (unsigned i = 0; i < OWN; i++) {
			uint64_t idx = (uint64_t)t * OWN + i;

			if (a[t].salt[i] == ~0u)
				memset(want, 0, sizeof(want));
			else
				prose(want, sizeof(want), (unsigned)idx + a[t].salt[i]);
			ck_assert_int_eq(uz_store_read(st, got, sizeof(got), idx * UZ_PAGE_SIZE), 0);
			ck_assert_msg(memcmp(want, got, sizeof(got)) == 0, "page %llu", (unsigned long long)idx);
		}
	uz_store_destroy(st);
}
END_TEST

/* The tightest race: writers whose pages leave the dictionary at once
 * (each written with prose, then overwritten with noise, which LZ4
 * cannot shrink: a count taken and given back), so that the current
 * dictionary's count is 0 but for writers passing, and each training
 * frees the one it retires right after installing the new one: a writer
 * that read the current slot just before must not compress with it once
 * freed (AddressSanitizer would see it), nor leave its count behind. */
struct churn_arg {
	struct uz_store *st;
	unsigned t;
	_Atomic bool *stop;
	unsigned writes;
};

static void *churner(void *p)
{
	struct churn_arg *a = p;
	static __thread uint8_t page[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];
	uint64_t off = ((uint64_t)N + a->t) * UZ_PAGE_SIZE;
	unsigned s = a->t + 1;

	uz_store_thread_warm();
	while (!atomic_load(a->stop)) {
		unsigned seed = uz_test_rnd(&s);

		prose(page, sizeof(page), seed);
		ck_assert_int_eq(uz_store_write(a->st, page, sizeof(page), off), 0);
		ck_assert_int_eq(uz_store_read(a->st, got, sizeof(got), off), 0);
		ck_assert(memcmp(page, got, sizeof(got)) == 0);
		uz_test_noise(page, sizeof(page), seed);
		ck_assert_int_eq(uz_store_write(a->st, page, sizeof(page), off), 0);
		ck_assert_int_eq(uz_store_read(a->st, got, sizeof(got), off), 0);
		ck_assert(memcmp(page, got, sizeof(got)) == 0);
		a->writes++;
	}
	return NULL;
}

START_TEST(lz4_dict_writes_race_freeing)
{
	struct uz_store *st = lz4_dict_store(true, NULL);
	static struct churn_arg a[WRITERS];
	_Atomic bool stop = false;
	struct uz_store_stats s;
	pthread_t th[WRITERS];
	char err[256];
	int trained = 0;

	put_range(st, 0, N, 0); /* plain LZ4, before any dictionary: to sample */
	for (unsigned t = 0; t < WRITERS; t++) {
		a[t] = (struct churn_arg){ .st = st, .t = t, .stop = &stop };
		ck_assert_int_eq(pthread_create(&th[t], NULL, churner, &a[t]), 0);
	}
	for (int tries = 0; trained < uz_test_rounds(40) && tries < 4000; tries++) {
		int e = uz_store_train_dict(st, SAMPLE, DICT, err, sizeof(err));

		/* (-EBUSY: the retired one still has a page a writer is
		 * about to overwrite, or a writer's passing count) */
		ck_assert_msg(e == 0 || e == -EBUSY, "train: %s", err);
		trained += e == 0;
		if (e)
			usleep(1000);
	}
	/* The last dictionary stays current: the writers go on until some
	 * write has used one (at most 30 s), so that the check below does
	 * not depend on how threads were scheduled during the trainings
	 * (under valgrind, one thread at a time). */
	uz_store_stats(st, &s);
	for (int i = 0; i < 30000 && !s.dict_lz4_writes; i++) {
		usleep(1000);
		uz_store_stats(st, &s);
	}
	atomic_store(&stop, true);
	for (unsigned t = 0; t < WRITERS; t++) {
		pthread_join(th[t], NULL);
		ck_assert_uint_gt(a[t].writes, 0);
	}
	ck_assert_int_eq(trained, uz_test_rounds(40));
	uz_store_stats(st, &s);
	ck_assert_uint_gt(s.dict_lz4_writes, 0);
	ck_assert_uint_eq(s.dict_pages, 0); /* every writer's page ends as noise */
	uz_test_store_ok(st);
	check_range(st, 0, N, 0);
	uz_store_destroy(st);
}
END_TEST

static Suite *dict_suite(void)
{
	Suite *s = suite_create("dict");

	uz_tcase(s, "dictionaries", 240,
		 UZ_TESTS(dictionary_pages_are_smaller, retrain_retires_and_frees, dictionary_pages_write_back,
			  empty_dictionary_slot_reads_eio, snapshot_carries_dictionary_pages, training_errors,
			  auto_training_must_pay,
			  reads_race_retraining, policy_uses_the_dictionary, lz4_dict_writes_are_smaller,
			  lz4_dict_writes_follow_the_probes, lz4_dict_pages_write_back, lz4_dict_writes_race_retraining, lz4_dict_writes_race_freeing));
	return s;
}

int main(void)
{
	return uz_run_suite(dict_suite());
}
