/* tests/check_store.c - the slot table and the page store (store/slot.c,
 * store/store.c), a test case per feature. */
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "../compress/page.h"
#include "../store/backing.h"
#include "../store/reserve.h"
#include "../store/slot.h"
#include "../store/store.h"
#include "check_util.h"

START_TEST(slot_table_is_lazy)
{
	struct uz_slots *t = uz_slots_create(1ull << 28); /* 1 TiB of pages */
	struct uz_slot *s;

	ck_assert_ptr_nonnull(t);
	/* Directory only: 64 Ki leaves x 8 bytes. */
	ck_assert_uint_eq(uz_slots_bytes(t), 512 * 1024);
	ck_assert_ptr_null(uz_slots_get(t, 123456789, false));
	s = uz_slots_get(t, 123456789, true);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(atomic_load(&s->meta), 0);
	ck_assert_ptr_eq(uz_slots_get(t, 123456789, false), s);
	ck_assert_uint_eq(uz_slots_bytes(t), 512 * 1024 + 4096 * 16);
	/* A neighbour in the same leaf costs nothing more. */
	ck_assert_ptr_nonnull(uz_slots_get(t, 123456790, true));
	ck_assert_uint_eq(uz_slots_bytes(t), 512 * 1024 + 4096 * 16);
	uz_slots_destroy(t);
}
END_TEST

START_TEST(slot_lock_keeps_meta)
{
	struct uz_slots *t = uz_slots_create(8);
	struct uz_slot *s = uz_slots_get(t, 3, true);
	uint32_t m;

	m = uz_slot_lock(s);
	ck_assert_uint_eq(m, 0);
	ck_assert(atomic_load(&s->meta) & SLOT_LOCK);
	uz_slot_unlock(s, slot_meta(SLOT_COMP, 1234));
	m = uz_slot_lock(s);
	ck_assert_int_eq(slot_type(m), SLOT_COMP);
	ck_assert_uint_eq(slot_size(m), 1234);
	uz_slot_unlock(s, m);
	ck_assert_uint_eq(atomic_load(&s->meta), slot_meta(SLOT_COMP, 1234));
	uz_slots_destroy(t);
}
END_TEST

START_TEST(bad_sizes)
{
	struct uz_store_config cfg = { 0 };

	ck_assert_ptr_null(uz_store_create(0, &cfg));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(uz_store_create(4097, &cfg));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(pages_of_every_kind)
{
	struct uz_store *st = uz_test_store(16 * MiB, 0);
	static uint8_t in[4 * UZ_PAGE_SIZE], out[4 * UZ_PAGE_SIZE];
	struct uz_store_stats s;

	uz_test_text(in, UZ_PAGE_SIZE, 1); /* compressible */
	memset(in + UZ_PAGE_SIZE, 0, UZ_PAGE_SIZE); /* zero */
	uz_page_fill(in + 2 * UZ_PAGE_SIZE, 0xdeadbeefcafef00dull); /* same-filled */
	uz_test_noise(in + 3 * UZ_PAGE_SIZE, UZ_PAGE_SIZE, 7); /* incompressible */
	ck_assert_int_eq(uz_store_write(st, in, sizeof(in), 8 * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_read(st, out, sizeof(out), 8 * UZ_PAGE_SIZE), 0);
	ck_assert_mem_eq(in, out, sizeof(in));
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.orig_data_size, 4 * UZ_PAGE_SIZE);
	ck_assert_uint_eq(s.same_pages, 2);
	ck_assert_uint_eq(s.huge_pages, 1);
	ck_assert_uint_eq(s.huge_pages_since, 1);
	ck_assert_uint_gt(s.compr_data_size, UZ_PAGE_SIZE);
	ck_assert_uint_lt(s.compr_data_size, 2 * UZ_PAGE_SIZE);
	ck_assert_uint_ge(s.mem_used_total, s.compr_data_size);
	/* Never-written pages read as zeros, also in a leaf never mapped. */
	ck_assert_int_eq(uz_store_read(st, out, UZ_PAGE_SIZE, 15 * MiB), 0);
	ck_assert_mem_eq(in + UZ_PAGE_SIZE, out, UZ_PAGE_SIZE);
	uz_test_store_ok(st);
	/* Overwriting the huge page with text: huge_pages falls, _since stays. */
	uz_test_text(in, UZ_PAGE_SIZE, 2);
	ck_assert_int_eq(uz_store_write(st, in, UZ_PAGE_SIZE, 11 * UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.huge_pages, 0);
	ck_assert_uint_eq(s.huge_pages_since, 1);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

START_TEST(unaligned_io_against_reference)
{
	enum { SIZE = 2 * 1024 * 1024 };
	struct uz_store *st = uz_test_store(SIZE, 0);
	uint8_t *ref = calloc(1, SIZE), *buf = malloc(3 * UZ_PAGE_SIZE), *got = malloc(3 * UZ_PAGE_SIZE);
	unsigned r = 42;

	for (int op = 0; op < uz_test_rounds(20000); op++) {
		size_t len = 1 + uz_test_rnd(&r) % (3 * UZ_PAGE_SIZE);
		uint64_t off = uz_test_rnd(&r) % (SIZE - len);

		if (uz_test_rnd(&r) % 2) {
			if (uz_test_rnd(&r) % 2)
				uz_test_text(buf, len, r);
			else
				uz_test_noise(buf, len, r);
			ck_assert_int_eq(uz_store_write(st, buf, len, off), 0);
			memcpy(ref + off, buf, len);
		} else {
			ck_assert_int_eq(uz_store_read(st, got, len, off), 0);
			ck_assert_msg(memcmp(got, ref + off, len) == 0, "op %d: %zu bytes at %llu differ", op, len,
				      (unsigned long long)off);
		}
	}
	uz_test_store_ok(st);
	for (uint64_t off = 0; off < SIZE; off += UZ_PAGE_SIZE) {
		ck_assert_int_eq(uz_store_read(st, got, UZ_PAGE_SIZE, off), 0);
		ck_assert_mem_eq(got, ref + off, UZ_PAGE_SIZE);
	}
	free(ref);
	free(buf);
	free(got);
	uz_store_destroy(st);
}
END_TEST

START_TEST(out_of_range_is_invalid_io)
{
	struct uz_store *st = uz_test_store(MiB, 0);
	struct uz_store_stats s;
	uint8_t b[8192] = { 0 };

	ck_assert_int_eq(uz_store_write(st, b, 4096, MiB), -EINVAL);
	ck_assert_int_eq(uz_store_write(st, b, 8192, MiB - 4096), -EINVAL);
	ck_assert_int_eq(uz_store_read(st, b, 1, MiB), -EINVAL);
	ck_assert_int_eq(uz_store_discard(st, MiB - 4096, 8192), -EINVAL);
	ck_assert_int_eq(uz_store_read(st, b, 4096, MiB - 4096), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.invalid_io, 4);
	uz_store_destroy(st);
}
END_TEST

START_TEST(discard_frees_pages)
{
	struct uz_store *st = uz_test_store(8 * MiB, 0);
	static uint8_t buf[MiB], got[MiB];
	struct uz_store_stats s;

	uz_test_text(buf, sizeof(buf), 3);
	ck_assert_int_eq(uz_store_write(st, buf, sizeof(buf), MiB), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.orig_data_size, MiB);
	ck_assert_uint_gt(s.afm.objects, 0);
	/* Unaligned: the edge pages are zeroed in part, the inner ones freed. */
	ck_assert_int_eq(uz_store_discard(st, MiB + 1000, MiB - 2000), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.notify_free, 256 - 2);
	ck_assert_uint_eq(s.orig_data_size, 2 * UZ_PAGE_SIZE);
	ck_assert_int_eq(uz_store_read(st, got, sizeof(got), MiB), 0);
	ck_assert_mem_eq(got, buf, 1000);
	ck_assert_mem_eq(got + MiB - 1000, buf + MiB - 1000, 1000);
	for (size_t i = 1000; i < MiB - 1000; i++)
		ck_assert_msg(got[i] == 0, "byte %zu not zero after discard", i);
	ck_assert_int_eq(uz_store_discard(st, 0, 8 * MiB), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.orig_data_size, 0);
	ck_assert_uint_eq(s.afm.objects, 0);
	ck_assert_uint_eq(s.afm.arenas, 0);
	ck_assert_uint_eq(s.mem_used_total, 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

START_TEST(memory_limit_loses_nothing)
{
	enum { SIZE = 64 * 1024 * 1024 };
	struct uz_store *st = uz_test_store(SIZE, 4 * MiB);
	static uint8_t page[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];
	struct uz_store_stats s;
	uint64_t off;
	int err = 0;

	for (off = 0; off < SIZE; off += UZ_PAGE_SIZE) {
		uz_test_noise(page, sizeof(page), (unsigned)off);
		err = uz_store_write(st, page, sizeof(page), off);
		if (err)
			break;
	}
	ck_assert_int_eq(err, -ENOSPC);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.failed_writes, 1);
	ck_assert_uint_le(s.mem_used_total, 4 * MiB);
	for (uint64_t o = 0; o < off; o += UZ_PAGE_SIZE) {
		uz_test_noise(page, sizeof(page), (unsigned)o);
		ck_assert_int_eq(uz_store_read(st, got, sizeof(got), o), 0);
		ck_assert_msg(memcmp(page, got, sizeof(got)) == 0, "page at %llu lost", (unsigned long long)o);
	}
	/* The failed page kept its old contents (zeros). */
	ck_assert_int_eq(uz_store_read(st, got, sizeof(got), off), 0);
	memset(page, 0, sizeof(page));
	ck_assert_mem_eq(page, got, sizeof(got));
	/* Room again after a discard. */
	ck_assert_int_eq(uz_store_discard(st, 0, MiB), 0);
	uz_test_noise(page, sizeof(page), 1);
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), off), 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

struct writer {
	struct uz_store *st;
	int id, nthreads, bad;
};

/* Threads write interleaved pages and sub-pages; every thread re-reads
 * its own and also hammers one shared page, which must always hold one
 * of the whole patterns written to it. */
static void *writer_run(void *arg)
{
	struct writer *w = arg;
	uint8_t page[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE], want[UZ_PAGE_SIZE];
	unsigned r = (unsigned)w->id * 7 + 1;

	for (int round = 0; round < uz_test_rounds(300); round++) {
		for (int i = 0; i < 32; i++) {
			uint64_t off = ((uint64_t)i * (uint64_t)w->nthreads + (uint64_t)w->id) * UZ_PAGE_SIZE;

			uz_test_text(page, sizeof(page), (unsigned)(round + i));
			if (uz_store_write(w->st, page, sizeof(page), off))
				w->bad++;
			/* a sub-page write in the middle */
			uz_test_text(page + 100, 700, (unsigned)round);
			if (uz_store_write(w->st, page + 100, 700, off + 100))
				w->bad++;
		}
		for (int i = 0; i < 32; i++) {
			uint64_t off = ((uint64_t)i * (uint64_t)w->nthreads + (uint64_t)w->id) * UZ_PAGE_SIZE;

			uz_test_text(want, sizeof(want), (unsigned)(round + i));
			uz_test_text(want + 100, 700, (unsigned)round);
			if (uz_store_read(w->st, got, sizeof(got), off) || memcmp(got, want, sizeof(got)))
				w->bad++;
		}
		/* the shared page: full-page writes of a same-filled word */
		uz_page_fill(page, 0x0101010101010101ull * (uint64_t)(1 + uz_test_rnd(&r) % 200));
		if (uz_store_write(w->st, page, sizeof(page), 1024 * UZ_PAGE_SIZE))
			w->bad++;
		if (uz_store_read(w->st, got, sizeof(got), 1024 * UZ_PAGE_SIZE)) {
			w->bad++;
		} else {
			uint64_t word;

			w->bad += !uz_page_same_filled(got, &word);
		}
	}
	return NULL;
}

START_TEST(threads_never_tear_pages)
{
	struct uz_store *st = uz_test_store(8 * MiB, 0);
	struct writer w[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){ .st = st, .id = i, .nthreads = 4 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, writer_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].bad, 0);
	}
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

/* Pages written, 80 % discarded at random, then compacted: memory falls,
 * arenas go back, every remaining page reads back the same. */
START_TEST(compact_after_discards)
{
	enum { PAGES = 16384 };
	struct uz_store *st = uz_test_store((uint64_t)PAGES * UZ_PAGE_SIZE, 0);
	static uint8_t page[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];
	static bool live[PAGES];
	struct uz_store_stats a, b;
	struct uz_compact_result res;
	unsigned r = 5;

	uz_store_set_compaction(st, 0); /* only when asked, here */
	for (int i = 0; i < PAGES; i++) {
		uz_test_text(page, sizeof(page), (unsigned)i * 7);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
		live[i] = true;
	}
	for (int i = 0; i < PAGES; i++) {
		if (uz_test_rnd(&r) % 100 < 80) {
			ck_assert_int_eq(uz_store_discard(st, (uint64_t)i * UZ_PAGE_SIZE, UZ_PAGE_SIZE), 0);
			live[i] = false;
		}
	}
	uz_store_stats(st, &a);
	ck_assert_int_eq(uz_store_compact(st, &res), 0);
	uz_test_store_ok(st);
	uz_store_stats(st, &b);
	ck_assert_uint_gt(res.objects_moved, 0);
	ck_assert_uint_eq(res.objects_unmoved, 0);
	ck_assert_uint_gt(res.bytes_freed, 0);
	ck_assert_uint_eq(res.bytes_freed, a.mem_used_total - b.mem_used_total);
	ck_assert_uint_gt(b.pages_compacted, 0);
	ck_assert_uint_le(b.afm.arenas, a.afm.arenas);
	ck_assert_uint_eq(b.compactions, 1);
	ck_assert_msg(b.afm.stranded_bytes <= 2 * AFM_NCLASS * 4096, "stranded %llu",
		      (unsigned long long)b.afm.stranded_bytes);
	for (int i = 0; i < PAGES; i++) {
		ck_assert_int_eq(uz_store_read(st, got, sizeof(got), (uint64_t)i * UZ_PAGE_SIZE), 0);
		if (live[i]) {
			uz_test_text(page, sizeof(page), (unsigned)i * 7);
			ck_assert_msg(memcmp(page, got, sizeof(got)) == 0, "page %d changed by compaction", i);
		} else {
			ck_assert_uint_eq(got[0] | got[UZ_PAGE_SIZE - 1], 0);
		}
	}
	uz_store_destroy(st);
}
END_TEST

struct churner {
	struct uz_store *st;
	int id, bad;
	_Atomic bool *stop;
};

/* Each thread owns pages id, id+4, ...: writes, rewrites, discards and
 * re-reads them while compactions run. */
static void *churn_run(void *arg)
{
	enum { PAGES = 2048 };
	struct churner *c = arg;
	static __thread uint8_t page[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];
	unsigned gen[PAGES / 4] = { 0 };
	unsigned r = (unsigned)c->id + 11;

	while (!atomic_load(c->stop)) {
		unsigned j = uz_test_rnd(&r) % (PAGES / 4);
		uint64_t off = ((uint64_t)j * 4 + (uint64_t)c->id) * UZ_PAGE_SIZE;
		unsigned op = uz_test_rnd(&r) % 10;

		if (op < 4) {
			gen[j] = uz_test_rnd(&r) | 1;
			uz_test_text(page, sizeof(page), gen[j]);
			c->bad += uz_store_write(c->st, page, sizeof(page), off) != 0;
		} else if (op < 5) {
			gen[j] = 0;
			c->bad += uz_store_discard(c->st, off, UZ_PAGE_SIZE) != 0;
		} else {
			if (uz_store_read(c->st, got, sizeof(got), off)) {
				c->bad++;
				continue;
			}
			if (gen[j])
				uz_test_text(page, sizeof(page), gen[j]);
			else
				memset(page, 0, sizeof(page));
			c->bad += memcmp(page, got, sizeof(got)) != 0;
		}
	}
	return NULL;
}

START_TEST(compaction_races_readers_and_writers)
{
	struct uz_store *st = uz_test_store(2048 * UZ_PAGE_SIZE, 0);
	struct churner c[4];
	pthread_t t[4];
	_Atomic bool stop = false;
	struct uz_compact_result res;
	uint64_t moved = 0;

	uz_store_set_compaction(st, 0); /* all moves are counted here */
	for (int i = 0; i < 4; i++) {
		c[i] = (struct churner){ .st = st, .id = i, .stop = &stop };
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn_run, &c[i]), 0);
	}
	/* Compact again and again for a while, the churn going on; under
	 * valgrind, which runs one thread at a time, go on (up to the full
	 * count) until a compaction has had something to move. */
	for (int n = 0; n < uz_test_rounds(300) || (moved == 0 && n < 300); n++) {
		usleep(5000);
		ck_assert_int_eq(uz_store_compact(st, &res), 0);
		moved += res.objects_moved;
	}
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(c[i].bad, 0);
	}
	ck_assert_uint_gt(moved, 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

START_TEST(sparse_terabyte_is_cheap)
{
	struct uz_store *st = uz_test_store(1ull << 40, 0);
	struct uz_store_stats s;
	uint8_t page[UZ_PAGE_SIZE];

	uz_store_stats(st, &s);
	ck_assert_uint_le(s.table_bytes, 1 * MiB);
	uz_test_text(page, sizeof(page), 5);
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (1ull << 40) - UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_le(s.table_bytes, 1 * MiB + 64 * 1024);
	uz_store_destroy(st);
}
END_TEST

/* zram's idle marks: by age or all, never on same-filled pages, cleared
 * by any access; ages past the 12-bit access time's range stay right. */
START_TEST(idle_marks_and_ages)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	struct uz_store *st = uz_store_create(64 * MiB, &cfg);
	struct uz_store_stats s;
	static uint8_t page[UZ_PAGE_SIZE], zero[UZ_PAGE_SIZE];

	ck_assert_ptr_nonnull(st);
	for (unsigned i = 0; i < 200; i++) {
		if (i == 100)
			uz_store_clock_advance(st, 10 * 60);
		uz_test_text(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
	}
	ck_assert_int_eq(uz_store_write(st, zero, sizeof(zero), 200 * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_mark_idle(st, 5 * 60), 100); /* the first hundred */
	ck_assert_int_eq(uz_store_mark_idle(st, 5 * 60), 0); /* already marked */
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.idle_pages, 100);
	uz_test_store_ok(st);
	ck_assert_int_eq(uz_store_read(st, page, 100, 5 * UZ_PAGE_SIZE + 7), 0); /* a read clears */
	ck_assert_int_eq(uz_store_write(st, page, 100, 6 * UZ_PAGE_SIZE + 7), 0); /* a write clears */
	ck_assert_int_eq(uz_store_discard(st, 7 * UZ_PAGE_SIZE, UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.idle_pages, 97);
	uz_test_store_ok(st);
	ck_assert_int_eq(uz_store_mark_idle(st, 0), 102); /* every page left but the same-filled one */
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.idle_pages, 199);
	/* A page read back is not idle any more, whatever its age. */
	for (unsigned i = 0; i < 200; i++)
		ck_assert_int_eq(uz_store_read(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.idle_pages, 0);
	/* 40 hours later (past the 34 h the access time can count), a fresh
	 * page: the old ones are still the old ones. */
	uz_store_clock_advance(st, 40 * 3600);
	uz_test_text(page, sizeof(page), 999);
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), 300 * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_mark_idle(st, 29 * 3600), 199);
	ck_assert_int_eq(uz_store_mark_idle(st, UZ_IDLE_MAX_AGE_S + 1), -EINVAL);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

static uint64_t allocated(const char *path)
{
	struct stat sb;

	ck_assert_int_eq(stat(path, &sb), 0);
	return (uint64_t)sb.st_blocks * 512;
}

/* Writeback by type, dense in the file, read back, freed and punched out
 * as pages are rewritten or discarded. */
START_TEST(writeback_round_trip)
{
	enum { TEXT = 2000, RAW = 100 };
	char path[256];
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	struct uz_store *st;
	struct uz_store_stats s;
	struct uz_writeback_result r;
	static uint8_t page[UZ_PAGE_SIZE], back[UZ_PAGE_SIZE];
	uint64_t compr;

	cfg.backing = uz_test_backing(path, sizeof(path), 64 * MiB);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_ptr_nonnull(st);
	for (unsigned i = 0; i < TEXT + RAW; i++) {
		if (i < TEXT)
			uz_test_text(page, sizeof(page), i * 7);
		else
			uz_test_noise(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
	}
	memset(page, 0, sizeof(page));
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)(TEXT + RAW) * UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &s);
	compr = s.compr_data_size;
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_HUGE, 0, &r), 0);
	ck_assert_uint_eq(r.pages, RAW);
	ck_assert_uint_eq(r.bytes, RAW * UZ_PAGE_SIZE);
	uz_test_store_ok(st);
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_IDLE, 0, &r), 0);
	ck_assert_uint_eq(r.pages, 0); /* nothing idle yet */
	ck_assert_int_eq(uz_store_mark_idle(st, 0), TEXT); /* written-back pages are not marked */
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_IDLE, 0, &r), 0);
	ck_assert_uint_eq(r.pages, TEXT);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.wb_pages, TEXT + RAW);
	ck_assert_uint_eq(s.backing_objects, TEXT + RAW);
	ck_assert_uint_eq(s.bd_count * UZ_BACKING_BLOCK, s.backing_bytes);
	ck_assert_uint_eq(s.bd_writes, s.bd_count); /* each block written once */
	ck_assert_uint_eq(s.writeback_bytes, compr);
	ck_assert_uint_eq(s.compr_data_size, 0);
	ck_assert_uint_eq(s.same_pages, 1);
	ck_assert_uint_eq(s.idle_pages, 0);
	ck_assert_uint_eq(s.afm.arenas, 0); /* all memory given back */
	/* dense: the file holds about the compressed bytes, not 4 KiB a page */
	ck_assert_uint_le(allocated(path), compr + compr / 10);
	ck_assert_uint_le(s.backing_bytes, compr + compr / 10);
	uz_test_store_ok(st);
	for (unsigned i = 0; i < TEXT + RAW; i++) {
		if (i < TEXT)
			uz_test_text(page, sizeof(page), i * 7);
		else
			uz_test_noise(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_read(st, back, sizeof(back), (uint64_t)i * UZ_PAGE_SIZE), 0);
		ck_assert_msg(memcmp(page, back, sizeof(page)) == 0, "page %u read back from the backing file", i);
	}
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.wb_reads, TEXT + RAW);
	/* the same in large requests: pages written side by side come in one
	 * read each span */
	{
		static uint8_t big[256 * UZ_PAGE_SIZE];

		for (unsigned i = 0; i < TEXT + RAW; i += 256) {
			unsigned k = TEXT + RAW - i < 256 ? TEXT + RAW - i : 256;

			ck_assert_int_eq(uz_store_read(st, big, (size_t)k * UZ_PAGE_SIZE, (uint64_t)i * UZ_PAGE_SIZE), 0);
			for (unsigned j = 0; j < k; j++) {
				if (i + j < TEXT)
					uz_test_text(page, sizeof(page), (i + j) * 7);
				else
					uz_test_noise(page, sizeof(page), i + j);
				ck_assert_msg(memcmp(page, big + (size_t)j * UZ_PAGE_SIZE, sizeof(page)) == 0,
					      "page %u in a large read from the backing file", i + j);
			}
		}
		uz_store_stats(st, &s);
		ck_assert_uint_eq(s.wb_reads, 2 * (TEXT + RAW));
		ck_assert_uint_lt(s.bd_reads, 2 * (TEXT + RAW)); /* fewer blocks than one by one */
	}
	ck_assert_uint_ge(s.bd_reads, TEXT + RAW); /* one or two blocks each */
	ck_assert_uint_eq(s.wb_pages, TEXT + RAW); /* a page read back stays there, as in zram */
	/* a partial write of a written-back page: read, modified, in memory */
	ck_assert_int_eq(uz_store_write(st, "x", 1, 5 * UZ_PAGE_SIZE + 9), 0);
	ck_assert_int_eq(uz_store_read(st, back, sizeof(back), 5 * UZ_PAGE_SIZE), 0);
	uz_test_text(page, sizeof(page), 5 * 7);
	page[9] = 'x';
	ck_assert_mem_eq(page, back, sizeof(page));
	/* discarding everything frees the file's blocks: holes punched */
	ck_assert_int_eq(uz_store_discard(st, 0, 64 * MiB), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.bd_count, 0);
	ck_assert_uint_eq(s.wb_pages, 0);
	ck_assert_uint_eq(s.backing_objects, 0);
	ck_assert_uint_eq(s.backing_bytes, 0);
	ck_assert_uint_eq(allocated(path), 0);
	uz_test_store_ok(st);
	/* the space is reused, and a limit is kept to */
	for (unsigned i = 0; i < TEXT; i++) {
		uz_test_text(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
	}
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_ALL, 100000, &r), 0);
	ck_assert_uint_ge(r.bytes, 100000);
	ck_assert_uint_lt(r.bytes, 100000 + UZ_PAGE_SIZE); /* the last page passes it */
	uz_test_store_ok(st);
	uz_store_destroy(st);
	uz_test_tmp_gone(path);
}
END_TEST

static _Atomic int policy_runs;

static void count_policy_run(void *ctx, const struct uz_writeback_result *r)
{
	(void)ctx;
	(void)r;
	policy_runs++;
}

/* Waits (at most 10 s) until the housekeeping thread has written back at
 * least want pages; returns how many it has. */
static uint64_t wait_written_back(struct uz_store *st, uint64_t want)
{
	struct uz_store_stats s;

	for (int i = 0; i < 100; i++) {
		uz_store_stats(st, &s);
		if (s.wb_pages >= want)
			break;
		usleep(100000);
	}
	return s.wb_pages;
}

/* writeback-after: the housekeeping thread writes back pages idle that
 * long by itself, within the day's budget, and says so. */
START_TEST(writeback_after_policy)
{
	char path[256];
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .writeback_after_s = 3600,
				       .writeback_limit = 200000, .on_writeback = count_policy_run };
	struct uz_store *st;
	struct uz_store_stats s;
	static uint8_t page[UZ_PAGE_SIZE];

	cfg.backing = uz_test_backing(path, sizeof(path), 64 * MiB);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_ptr_nonnull(st);
	for (unsigned i = 0; i < 200; i++) {
		uz_test_noise(page, sizeof(page), i); /* 4 KiB each: the budget is 48 of them */
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
	}
	sleep(2);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.wb_pages, 0); /* not idle long enough */
	uz_store_clock_advance(st, 2 * 3600);
	ck_assert_uint_ge(wait_written_back(st, 48), 48);
	sleep(2); /* the budget is spent: no more today */
	uz_store_stats(st, &s);
	ck_assert_uint_le(s.writeback_bytes, 200000 + UZ_PAGE_SIZE);
	ck_assert_uint_lt(s.wb_pages, 200);
	ck_assert_int_gt(policy_runs, 0);
	/* a day later, a new budget */
	uz_store_clock_advance(st, 24 * 3600);
	ck_assert_uint_ge(wait_written_back(st, 96), 96);
	uz_test_store_ok(st);
	uz_store_destroy(st);
	uz_test_tmp_gone(path);
}
END_TEST

/* With a backing file, a write that would pass the memory limit writes
 * the coldest pages back first: everything fits, nothing is lost, the
 * limit holds. */
START_TEST(spill_at_the_limit)
{
	const uint64_t limit = 8 * MiB;
	char path[256];
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .mem_limit = limit };
	struct uz_store *st;
	struct uz_store_stats s;
	static uint8_t page[UZ_PAGE_SIZE], back[UZ_PAGE_SIZE];
	/* (a third under valgrind, still three times the limit) */
	const unsigned n = (RUNNING_ON_VALGRIND ? 24 : 48) * MiB / UZ_PAGE_SIZE;

	cfg.backing = uz_test_backing(path, sizeof(path), 64 * MiB);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_ptr_nonnull(st);
	for (unsigned i = 0; i < n; i++) {
		if (i % 3)
			uz_test_text(page, sizeof(page), i);
		else
			uz_test_noise(page, sizeof(page), i);
		ck_assert_msg(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE) == 0, "page %u", i);
	}
	uz_store_stats(st, &s);
	ck_assert_uint_le(s.mem_used_max, limit);
	ck_assert_uint_gt(s.spills, 0);
	ck_assert_uint_gt(s.wb_pages, 0);
	ck_assert_uint_eq(s.failed_writes, 0);
	uz_test_store_ok(st);
	for (unsigned i = 0; i < n; i++) {
		if (i % 3)
			uz_test_text(page, sizeof(page), i);
		else
			uz_test_noise(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_read(st, back, sizeof(back), (uint64_t)i * UZ_PAGE_SIZE), 0);
		ck_assert_msg(memcmp(page, back, sizeof(page)) == 0, "page %u after spills", i);
	}
	uz_store_destroy(st);
	uz_test_tmp_gone(path);
}
END_TEST

/* Compressed data far beyond what one 24-bit page space (64 GiB) holds:
 * a 1.25 TiB device has 40 engines, each with its own page space.  Every
 * engine starts its arena ids at the top of its space (the test hook), so
 * that the references used are the highest there are, without mapping
 * 64 GiB per engine.  Data in all 40 reads back; the engines' spaces add
 * up to 40 x 64 GiB = 2.5 TiB of addressable chunks; one engine running
 * out of its space does not touch the others, nor is anything lost. */
START_TEST(references_beyond_64_gib)
{
	enum { ENGINES = 40, PER = 64 };
	const uint64_t size = ENGINES * UZ_ENGINE_SPAN;
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .first_arena = AFM_MAX_ARENAS - 1 };
	struct uz_store *st = uz_store_create(size, &cfg);
	struct uz_store_stats s;
	static uint8_t page[UZ_PAGE_SIZE], back[UZ_PAGE_SIZE];
	uint64_t off;
	int n = 0, err;

	ck_assert_ptr_nonnull(st);
	ck_assert_uint_gt(size, 1ull << 40);
	/* incompressible pages: one 4 KiB chunk, one arena page each */
	for (unsigned e = 0; e < ENGINES; e++) {
		for (unsigned k = 0; k < PER; k++) {
			off = e * UZ_ENGINE_SPAN + (uint64_t)k * 509 * MiB + (e % 7) * UZ_PAGE_SIZE;
			uz_test_noise(page, sizeof(page), e * 1000 + k);
			ck_assert_int_eq(uz_store_write(st, page, sizeof(page), off), 0);
		}
	}
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.afm.arenas, ENGINES);
	ck_assert_uint_eq(s.afm.objects, ENGINES * PER);
	ck_assert_uint_eq(s.compr_data_size, (uint64_t)ENGINES * PER * UZ_PAGE_SIZE);
	uz_test_store_ok(st);
	for (unsigned e = 0; e < ENGINES; e++) {
		for (unsigned k = 0; k < PER; k++) {
			off = e * UZ_ENGINE_SPAN + (uint64_t)k * 509 * MiB + (e % 7) * UZ_PAGE_SIZE;
			uz_test_noise(page, sizeof(page), e * 1000 + k);
			ck_assert_int_eq(uz_store_read(st, back, sizeof(back), off), 0);
			ck_assert_msg(memcmp(page, back, sizeof(page)) == 0, "engine %u page %u", e, k);
		}
	}
	/* Engine 3's space has one arena (512 pages) from its top id: 448
	 * more pages fit, the next is refused and the old data stays. */
	do {
		uz_test_noise(page, sizeof(page), 777 + n);
		err = uz_store_write(st, page, sizeof(page), 3 * UZ_ENGINE_SPAN + 100 * MiB + (uint64_t)n * UZ_PAGE_SIZE);
	} while (err == 0 && ++n < 1000);
	ck_assert_int_eq(err, -ENOSPC);
	ck_assert_int_eq(n, 512 - PER);
	uz_test_noise(page, sizeof(page), 4 * 1000 + 5);
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), 4 * UZ_ENGINE_SPAN + 12345 * UZ_PAGE_SIZE), 0);
	uz_test_noise(page, sizeof(page), 3 * 1000);
	ck_assert_int_eq(uz_store_read(st, back, sizeof(back), 3 * UZ_ENGINE_SPAN + 3 * UZ_PAGE_SIZE), 0);
	ck_assert_mem_eq(page, back, sizeof(page));
	uz_test_store_ok(st);
	/* Compaction walks every engine; discarding all gives everything back. */
	ck_assert_int_eq(uz_store_discard(st, 0, size / 2), 0);
	{
		struct uz_compact_result res;

		ck_assert_int_eq(uz_store_compact(st, &res), 0);
	}
	uz_test_store_ok(st);
	ck_assert_int_eq(uz_store_discard(st, size / 2, size / 2), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.afm.arenas, 0);
	ck_assert_uint_eq(s.mem_used_total, 0);
	ck_assert_uint_eq(s.afm.objects, 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

/* At the memory limit, pages already stored can still be overwritten
 * (ext4's journal, its bitmaps): only writes that add data fail. */
START_TEST(overwrites_succeed_at_the_limit)
{
	const uint64_t limit = 8 * MiB;
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .mem_limit = limit };
	struct uz_store *st = uz_store_create(64 * MiB, &cfg);
	struct uz_store_stats s;
	static uint8_t page[UZ_PAGE_SIZE], back[UZ_PAGE_SIZE];
	int n = 0, err;

	ck_assert_ptr_nonnull(st);
	do {
		uz_test_noise(page, sizeof(page), (unsigned)n);
		err = uz_store_write(st, page, sizeof(page), (uint64_t)n * UZ_PAGE_SIZE);
	} while (err == 0 && ++n < 16384);
	ck_assert_int_eq(err, -ENOSPC);
	/* every stored page, rewritten twice with new incompressible data,
	 * then once with text, and partly */
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < n; i++) {
			uz_test_noise(page, sizeof(page), (unsigned)(100000 * (round + 1) + i));
			ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
		}
	}
	for (int i = 0; i < n; i++) {
		uz_test_text(page, sizeof(page), (unsigned)i);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
		ck_assert_int_eq(uz_store_write(st, page, 1000, (uint64_t)i * UZ_PAGE_SIZE + 100), 0);
	}
	/* new data still does not fit beyond what the text freed... */
	uz_store_stats(st, &s);
	ck_assert_uint_le(s.mem_used_total, limit);
	ck_assert_uint_le(s.mem_used_max, limit);
	for (int i = 0; i < n; i++) {
		uz_test_text(page, sizeof(page), (unsigned)i);
		memcpy(back, page, sizeof(back));
		ck_assert_int_eq(uz_store_read(st, back, sizeof(back), (uint64_t)i * UZ_PAGE_SIZE), 0);
		ck_assert_msg(memcmp(page, back, 100) == 0 && memcmp(page + 1100, back + 1100, 2996) == 0,
			      "page %d after overwrites at the limit", i);
	}
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

/* The memory limit holds for all engines together. */
START_TEST(memory_limit_spans_engines)
{
	const uint64_t limit = 3 * UZ_ARENA_SIZE + 64 * 1024;
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .mem_limit = limit };
	struct uz_store *st = uz_store_create(2 * UZ_ENGINE_SPAN, &cfg);
	struct uz_store_stats s;
	static uint8_t page[UZ_PAGE_SIZE];
	int n = 0, err;

	ck_assert_ptr_nonnull(st);
	/* alternate between the two engines until the limit says no */
	do {
		uz_test_noise(page, sizeof(page), (unsigned)n);
		err = uz_store_write(st, page, sizeof(page), (n % 2) * UZ_ENGINE_SPAN + (uint64_t)(n / 2) * UZ_PAGE_SIZE);
	} while (err == 0 && ++n < 100000);
	ck_assert_int_eq(err, -ENOSPC);
	uz_store_stats(st, &s);
	ck_assert_uint_le(s.mem_used_total, limit);
	ck_assert_uint_eq(s.mem_limit, limit);
	ck_assert_uint_eq(s.afm.arenas, 2); /* the third is the reserve for overwrites */
	ck_assert_uint_ge(s.mem_used_max, s.mem_used_total);
	ck_assert_int_gt(n, 512);
	uz_store_set_mem_limit(st, 0);
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), UZ_ENGINE_SPAN + (uint64_t)(n / 2) * UZ_PAGE_SIZE), 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

/* A page that LZ4 cannot shrink (stored raw) but an entropy coder can:
 * noise in 16 values. */
static void nibbles(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(uz_test_rnd(&seed) >> 27);
}

static void expect_pages(struct uz_store *st, unsigned n, void (*fill)(uint8_t *, size_t, unsigned), uint64_t first)
{
	static uint8_t want[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];

	for (unsigned i = 0; i < n; i++) {
		fill(want, sizeof(want), i);
		ck_assert_int_eq(uz_store_read(st, got, sizeof(got), (first + i) * UZ_PAGE_SIZE), 0);
		ck_assert_msg(memcmp(want, got, sizeof(got)) == 0, "page %llu", (unsigned long long)(first + i));
	}
}

static void write_pages(struct uz_store *st, unsigned n, void (*fill)(uint8_t *, size_t, unsigned), uint64_t first)
{
	static uint8_t page[UZ_PAGE_SIZE];

	for (unsigned i = 0; i < n; i++) {
		fill(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (first + i) * UZ_PAGE_SIZE), 0);
	}
}

static void text_a(uint8_t *p, size_t n, unsigned seed)
{
	uz_test_text(p, n, seed);
	p[seed % n] ^= (uint8_t)seed; /* no two pages alike */
}

/* recompress idle: the idle LZ4 pages take zstd's form when it is
 * smaller, read back exactly, keep their idle mark; the counters and the
 * invariants agree; a page read stays zstd, a page rewritten is LZ4. */
START_TEST(recompress_idle_pages)
{
	enum { TEXT = 600, RAW = 40, HOT = 100 };
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 0 } };
	struct uz_recompress_result r;
	struct uz_store_stats a, b;
	struct uz_store *st = uz_store_create(64 * MiB, &cfg);
	static uint8_t page[UZ_PAGE_SIZE];

	ck_assert_ptr_nonnull(st);
	write_pages(st, TEXT, text_a, 0);
	write_pages(st, RAW, nibbles, 1000);
	ck_assert_int_eq(uz_store_mark_idle(st, 0), TEXT + RAW);
	write_pages(st, HOT, uz_test_noise, 2000); /* not idle */
	uz_store_stats(st, &a);
	ck_assert_uint_eq(a.algo_pages[UZ_ALGO_LZ4], TEXT);
	ck_assert_uint_eq(a.huge_pages, RAW + HOT);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_IDLE, 0, &r), 0);
	ck_assert_uint_eq(r.tried, TEXT + RAW);
	ck_assert_uint_eq(r.kept, TEXT + RAW);
	ck_assert_uint_eq(r.orig_bytes, (uint64_t)(TEXT + RAW) * UZ_PAGE_SIZE);
	uz_store_stats(st, &b);
	ck_assert_uint_eq(b.recomp_pages, TEXT + RAW);
	ck_assert_uint_eq(b.algo_pages[UZ_ALGO_ZSTD], TEXT + RAW);
	ck_assert_uint_eq(b.algo_pages[UZ_ALGO_LZ4], 0);
	ck_assert_uint_eq(b.huge_pages, HOT); /* the nibble pages are compressed now */
	ck_assert_uint_eq(b.idle_pages, TEXT + RAW); /* marks kept */
	ck_assert_uint_eq(a.compr_data_size - b.compr_data_size, r.bytes_saved);
	ck_assert_uint_eq(b.recomp_saved_bytes, r.bytes_saved);
	ck_assert_uint_lt(b.mem_used_total, a.mem_used_total);
	ck_assert_uint_eq(r.bytes_freed, a.mem_used_total - b.mem_used_total);
	uz_test_store_ok(st);
	expect_pages(st, TEXT, text_a, 0);
	expect_pages(st, RAW, nibbles, 1000);
	expect_pages(st, HOT, uz_test_noise, 2000);
	/* read: stays zstd, no longer idle; nothing left to do */
	uz_store_stats(st, &b);
	ck_assert_uint_eq(b.algo_pages[UZ_ALGO_ZSTD], TEXT + RAW);
	ck_assert_uint_eq(b.idle_pages, 0);
	ck_assert_int_eq(uz_store_mark_idle(st, 0), TEXT + RAW + HOT);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_IDLE, 0, &r), 0);
	ck_assert_uint_eq(r.tried, HOT); /* noise: tried, not kept */
	ck_assert_uint_eq(r.kept, 0);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_uint_eq(r.tried, 0); /* marked: not tried again */
	/* rewritten: LZ4 again, and tried again */
	uz_test_text(page, sizeof(page), 5);
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), 5 * UZ_PAGE_SIZE), 0);
	uz_test_noise(page, sizeof(page), 0);
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), 2000 * UZ_PAGE_SIZE), 0);
	uz_store_stats(st, &b);
	ck_assert_uint_eq(b.algo_pages[UZ_ALGO_ZSTD], TEXT + RAW - 1);
	ck_assert_uint_eq(b.algo_pages[UZ_ALGO_LZ4], 1);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_uint_eq(r.tried, 2);
	ck_assert_uint_eq(r.kept, 1);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

/* Pages in zstd and in LZ4HC side by side, and LZ4: each decodes with
 * its own algorithm (a wrong one would fail or differ); huge and
 * threshold pick what they say; off is an error. */
START_TEST(recompress_types_and_algorithms)
{
	enum { N = 300 };
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	const struct uz_codec hc = { UZ_ALGO_LZ4HC, 12 }, zstd = { UZ_ALGO_ZSTD, 1 };
	struct uz_recompress_result r;
	struct uz_store_stats s;
	struct uz_store *st = uz_store_create(64 * MiB, &cfg);

	ck_assert_ptr_nonnull(st);
	write_pages(st, N, text_a, 0);
	write_pages(st, N, nibbles, 1000);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), -ENODEV); /* off */
	ck_assert_int_eq(r.error, -ENODEV);
	uz_store_set_recompress(st, &zstd, 0);
	ck_assert_int_eq(uz_store_recompress(st, (enum uz_writeback_type)UZ_WB_AGED, 0, &r), -EINVAL);
	/* huge: the raw pages only */
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_HUGE, 0, &r), 0);
	ck_assert_uint_eq(r.tried, N);
	ck_assert_uint_eq(r.kept, N);
	/* huge_idle: none idle */
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_HUGE_IDLE, 0, &r), 0);
	ck_assert_uint_eq(r.tried, 0);
	/* the first half of the text in LZ4HC: a threshold above every
	 * object first (nothing), then all of them */
	uz_store_set_recompress(st, &hc, 0);
	uz_store_stats(st, &s);
	ck_assert_int_eq(s.recomp.algo, UZ_ALGO_LZ4HC);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 4000, &r), 0);
	ck_assert_uint_eq(r.tried, 0);
	ck_assert_int_eq(uz_store_mark_idle(st, 0), 2 * N);
	{
		static uint8_t p[UZ_PAGE_SIZE];

		for (unsigned i = N / 2; i < N; i++) /* a read clears the mark */
			ck_assert_int_eq(uz_store_read(st, p, sizeof(p), (uint64_t)i * UZ_PAGE_SIZE), 0);
	}
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_IDLE, 0, &r), 0);
	ck_assert_uint_eq(r.tried, N / 2);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.algo_pages[UZ_ALGO_LZ4HC], r.kept);
	ck_assert_uint_gt(r.kept, 0);
	ck_assert_uint_eq(s.algo_pages[UZ_ALGO_ZSTD], N);
	ck_assert_uint_eq(s.algo_pages[UZ_ALGO_LZ4], N - r.kept);
	ck_assert_uint_eq(s.recomp_pages, N + r.kept);
	uz_test_store_ok(st);
	expect_pages(st, N, text_a, 0);
	expect_pages(st, N, nibbles, 1000);
	/* a compaction moves recompressed objects like any other */
	write_pages(st, N, uz_test_noise, 3000);
	ck_assert_int_eq(uz_store_discard(st, 3000 * UZ_PAGE_SIZE, N * UZ_PAGE_SIZE), 0);
	{
		struct uz_compact_result c;

		ck_assert_int_eq(uz_store_compact(st, &c), 0);
	}
	uz_test_store_ok(st);
	expect_pages(st, N, text_a, 0);
	expect_pages(st, N, nibbles, 1000);
	uz_store_destroy(st);
}
END_TEST

/* Written back, a recompressed page keeps its algorithm, and reads back
 * from the backing store (one by one and in spans). */
START_TEST(recompressed_pages_write_back)
{
	enum { N = 400 };
	char path[256];
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 0 } };
	struct uz_recompress_result r;
	struct uz_writeback_result w;
	struct uz_store_stats a, b;
	struct uz_store *st;
	static uint8_t big[64 * UZ_PAGE_SIZE], want[UZ_PAGE_SIZE];

	cfg.backing = uz_test_backing(path, sizeof(path), 64 * MiB);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_ptr_nonnull(st);
	write_pages(st, N, text_a, 0);
	ck_assert_int_eq(uz_store_mark_idle(st, 0), N);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_IDLE, 0, &r), 0);
	ck_assert_uint_eq(r.kept, N);
	uz_store_stats(st, &a);
	/* the idle marks stayed: writeback of idle pages takes the small form */
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_IDLE, 0, &w), 0);
	ck_assert_uint_eq(w.pages, N);
	ck_assert_uint_eq(w.bytes, a.algo_bytes[UZ_ALGO_ZSTD]);
	uz_store_stats(st, &b);
	ck_assert_uint_eq(b.algo_pages[UZ_ALGO_ZSTD], N);
	ck_assert_uint_eq(b.recomp_pages, N);
	ck_assert_uint_eq(b.wb_pages, N);
	uz_test_store_ok(st);
	/* spans */
	ck_assert_int_eq(uz_store_read(st, big, sizeof(big), 0), 0);
	for (unsigned i = 0; i < 64; i++) {
		text_a(want, sizeof(want), i);
		ck_assert_msg(memcmp(want, big + (size_t)i * UZ_PAGE_SIZE, UZ_PAGE_SIZE) == 0, "page %u", i);
	}
	expect_pages(st, N, text_a, 0);
	/* written-back pages are not recompressed (they are not in memory) */
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_uint_eq(r.tried, 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
	uz_test_tmp_gone(path);
}
END_TEST

static _Atomic int rc_runs;

static void count_rc_run(void *ctx, const struct uz_recompress_result *r)
{
	(void)ctx;
	if (r->kept)
		rc_runs++;
}

/* recompress-after: the housekeeping thread recompresses pages idle that
 * long by itself, and says so; younger pages stay LZ4. */
START_TEST(recompress_after_policy)
{
	enum { N = 5000 }; /* more than one batch */
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 1 },
				       .recompress_after_s = 3600, .on_recompress = count_rc_run };
	struct uz_store_stats s;
	struct uz_store *st = uz_store_create(64 * MiB, &cfg);

	ck_assert_ptr_nonnull(st);
	write_pages(st, N, text_a, 0);
	sleep(2);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.recomp_pages, 0); /* not idle long enough */
	uz_store_clock_advance(st, 2 * 3600);
	write_pages(st, 10, text_a, N); /* young */
	for (int i = 0; i < 100; i++) {
		uz_store_stats(st, &s);
		if (s.recomp_pages >= N)
			break;
		usleep(100000);
	}
	ck_assert_uint_eq(s.recomp_pages, N);
	ck_assert_uint_eq(s.algo_pages[UZ_ALGO_LZ4], 10);
	for (int i = 0; i < 50 && !rc_runs; i++)
		usleep(100000);
	ck_assert_int_gt(rc_runs, 0);
	uz_test_store_ok(st);
	expect_pages(st, N, text_a, 0);
	expect_pages(st, 10, text_a, N);
	uz_store_destroy(st);
}
END_TEST

/* Recompression while other threads rewrite, read and discard the same
 * pages: nobody sees a torn or stale page, the counters stay true. */
struct rc_race {
	struct uz_store *st;
	_Atomic bool stop;
	_Atomic long bad;
};

static void *rc_writer(void *arg)
{
	struct rc_race *r = arg;
	static __thread uint8_t p[UZ_PAGE_SIZE], q[UZ_PAGE_SIZE];
	unsigned seed = 1;

	while (!r->stop) {
		unsigned i = uz_test_rnd(&seed) % 512;

		/* page i holds text_a(i) or is discarded */
		if (uz_test_rnd(&seed) % 4 == 0) {
			uz_store_discard(r->st, (uint64_t)i * UZ_PAGE_SIZE, UZ_PAGE_SIZE);
		} else if (uz_test_rnd(&seed) % 2) {
			text_a(p, sizeof(p), i);
			uz_store_write(r->st, p, sizeof(p), (uint64_t)i * UZ_PAGE_SIZE);
		} else {
			text_a(p, sizeof(p), i);
			uz_store_read(r->st, q, sizeof(q), (uint64_t)i * UZ_PAGE_SIZE);
			if (memcmp(p, q, sizeof(q)) && (q[0] || memcmp(q, q + 1, sizeof(q) - 1)))
				r->bad++;
		}
	}
	return NULL;
}

START_TEST(recompression_races_io)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 1 } };
	struct rc_race r = { .st = uz_store_create(16 * MiB, &cfg) };
	struct uz_recompress_result res;
	pthread_t t;
	uint64_t kept = 0;

	ck_assert_ptr_nonnull(r.st);
	write_pages(r.st, 512, text_a, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, rc_writer, &r), 0);
	for (int round = 0; round < 40; round++) {
		uz_store_mark_idle(r.st, 0);
		ck_assert_int_eq(uz_store_recompress(r.st, UZ_WB_IDLE, 0, &res), 0);
		kept += res.kept;
	}
	r.stop = true;
	pthread_join(t, NULL);
	ck_assert_int_eq(r.bad, 0);
	ck_assert_uint_gt(kept, 0);
	uz_test_store_ok(r.st);
	uz_store_destroy(r.st);
}
END_TEST

/* A large device is recompressed by one thread per CPU, each over its
 * share of the slots: every page is done once, all read back. */
START_TEST(recompression_shares_the_slots)
{
	enum { N = 3000 };
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 1 } };
	struct uz_store *st = uz_store_create(1ull << 30, &cfg);
	struct uz_recompress_result r;
	struct uz_store_stats s;
	static uint8_t page[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];

	ck_assert_ptr_nonnull(st);
	for (unsigned i = 0; i < N; i++) { /* spread over the whole device */
		text_a(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * 87 * UZ_PAGE_SIZE), 0);
	}
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &r), 0);
	ck_assert_uint_eq(r.tried, N);
	ck_assert_uint_eq(r.kept, N);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.recomp_pages, N);
	ck_assert_uint_eq(s.recomp_tried, N);
	uz_test_store_ok(st);
	for (unsigned i = 0; i < N; i++) {
		text_a(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_read(st, got, sizeof(got), (uint64_t)i * 87 * UZ_PAGE_SIZE), 0);
		ck_assert_msg(memcmp(page, got, sizeof(got)) == 0, "page %u", i);
	}
	uz_store_destroy(st);
}
END_TEST

/* Every kind of page, in memory and in the backing store, in LZ4 and
 * zstd, survives a snapshot and a restore into a new store: the same
 * bytes, the same counters, sound invariants; the written-back pages go
 * back to the new store's backing file. */
START_TEST(snapshot_round_trip)
{
	enum { N = 700 };
	char path[256], bpath[256], err[512] = "";
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 0 } };
	struct uz_snapshot_info si, ri;
	struct uz_recompress_result rr;
	struct uz_writeback_result wr;
	struct uz_store_stats a, b;
	struct uz_store *st, *st2;
	static uint8_t page[UZ_PAGE_SIZE];

	uz_test_tmp(path, sizeof(path), "snap");
	cfg.backing = uz_test_backing(bpath, sizeof(bpath), 64 * MiB);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_ptr_nonnull(st);
	write_pages(st, N / 2, text_a, 0);
	write_pages(st, 50, nibbles, 1500);
	ck_assert_int_eq(uz_store_mark_idle(st, 0), N / 2 + 50);
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_IDLE, 0, &rr), 0); /* zstd */
	ck_assert_uint_eq(rr.kept, N / 2 + 50);
	write_pages(st, N / 2, uz_test_text, N / 2); /* LZ4 */
	write_pages(st, 50, uz_test_noise, 1000); /* raw */
	memset(page, 0x5a, sizeof(page)); /* same-filled */
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), 2000 * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_zero(st, 3000 * UZ_PAGE_SIZE, 8 * UZ_PAGE_SIZE), 0); /* kept allocated */
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_HUGE, 0, &wr), 0); /* raw pages to the file */
	ck_assert_uint_eq(wr.pages, 50);
	uz_store_stats(st, &a);
	ck_assert_int_eq(uz_store_snapshot(st, path, &si, err, sizeof(err)), 0);
	ck_assert_uint_eq(si.pages, N + 50 + 50 + 1 + 8);
	ck_assert_uint_eq(si.written_back, 50);
	ck_assert_uint_eq(si.file_bytes % (1u << 20), 0);
	ck_assert(access(path, F_OK) == 0);
	uz_store_destroy(st);
	uz_test_tmp_gone(bpath);

	cfg.backing = uz_test_backing(bpath, sizeof(bpath), 64 * MiB);
	st2 = uz_store_create(64 * MiB, &cfg);
	ck_assert_ptr_nonnull(st2);
	ck_assert_msg(uz_store_restore(st2, path, &ri, err, sizeof(err)) == 0, "restore: %s", err);
	ck_assert_uint_eq(ri.pages, si.pages);
	ck_assert_uint_eq(ri.object_bytes, si.object_bytes);
	ck_assert_int_eq(ri.created, si.created);
	uz_store_stats(st2, &b);
	ck_assert_uint_eq(b.orig_data_size + b.wb_pages * UZ_PAGE_SIZE, a.orig_data_size + a.wb_pages * UZ_PAGE_SIZE);
	ck_assert_uint_eq(b.wb_pages, 50); /* back in the backing store */
	ck_assert_uint_eq(b.algo_pages[UZ_ALGO_ZSTD], a.algo_pages[UZ_ALGO_ZSTD]);
	ck_assert_uint_eq(b.compr_data_size, a.compr_data_size);
	ck_assert_uint_eq(b.same_pages, 1);
	ck_assert_uint_eq(b.idle_pages, 0);
	uz_test_store_ok(st2);
	expect_pages(st2, N / 2, text_a, 0);
	expect_pages(st2, N / 2, uz_test_text, N / 2);
	expect_pages(st2, 50, nibbles, 1500);
	expect_pages(st2, 50, uz_test_noise, 1000);
	{
		static uint8_t got[UZ_PAGE_SIZE];

		ck_assert_int_eq(uz_store_read(st2, got, sizeof(got), 2000 * UZ_PAGE_SIZE), 0);
		ck_assert_mem_eq(got, page, sizeof(got));
	}
	/* a store that holds data refuses a restore */
	ck_assert_int_eq(uz_store_restore(st2, path, &ri, err, sizeof(err)), -EBUSY);
	uz_store_destroy(st2);
	uz_test_tmp_gone(bpath);
	uz_test_tmp_gone(path);
}
END_TEST

/* Rewrites block 0's format version and its checksum, as a newer uzramd
 * would have written it. */
static void snap_set_version(const char *path, uint32_t version)
{
	static uint8_t blk[1u << 20];
	FILE *f = fopen(path, "r+b");
	uint64_t sum = 0;

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fread(blk, 1, sizeof(blk), f), sizeof(blk));
	memcpy(blk + 32, &version, sizeof(version)); /* the header's first field */
	memcpy(blk + 24, &sum, sizeof(sum));
	sum = XXH3_64bits(blk, sizeof(blk));
	memcpy(blk + 24, &sum, sizeof(sum));
	rewind(f);
	ck_assert_uint_eq(fwrite(blk, 1, sizeof(blk), f), sizeof(blk));
	fclose(f);
}

/* What a restore refuses, and how it says so: no file, another device
 * size, an unknown version (before loading anything), a flipped byte, a
 * truncated file, a memory limit too small. */
START_TEST(snapshot_refusals)
{
	char path[256], bad[300], err[512] = "", cmd[1200];
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	struct uz_snapshot_info si, ri;
	struct uz_store_stats s;
	struct uz_store *st;

	uz_test_tmp(path, sizeof(path), "snap");
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(uz_store_restore(st, path, &ri, err, sizeof(err)), -ENOENT);
	write_pages(st, 3000, uz_test_noise, 0); /* 12 MiB: several blocks */
	ck_assert_int_eq(uz_store_snapshot(st, path, &si, err, sizeof(err)), 0);
	uz_store_destroy(st);

	st = uz_store_create(128 * MiB, &cfg); /* another size */
	ck_assert_int_eq(uz_store_restore(st, path, &ri, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "67108864-byte device; this one is 134217728 bytes") != NULL, "%s", err);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.orig_data_size, 0); /* nothing loaded */
	uz_store_destroy(st);

	snprintf(bad, sizeof(bad), "%s.v2", path);
	snprintf(cmd, sizeof(cmd), "cp %s %s", path, bad);
	ck_assert_int_eq(system(cmd), 0);
	snap_set_version(bad, 3);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_int_eq(uz_store_restore(st, bad, &ri, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "format version 3; this uzramd reads versions 1 to 2") != NULL, "%s", err);
	uz_store_destroy(st);

	/* one byte flipped in the middle of a data block */
	snprintf(cmd, sizeof(cmd), "cp %s %s", path, bad);
	ck_assert_int_eq(system(cmd), 0);
	{
		FILE *f = fopen(bad, "r+b");
		int c;

		ck_assert_ptr_nonnull(f);
		fseek(f, 5000000, SEEK_SET);
		c = fgetc(f);
		fseek(f, 5000000, SEEK_SET);
		fputc(c ^ 1, f);
		fclose(f);
	}
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_int_eq(uz_store_restore(st, bad, &ri, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "block 4 of") && strstr(err, "checksum mismatch") && strstr(err, bad), "%s", err);
	uz_store_destroy(st);

	/* cut after a data block: no trailer */
	snprintf(cmd, sizeof(cmd), "cp %s %s && truncate -s 8M %s", path, bad, bad);
	ck_assert_int_eq(system(cmd), 0);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_int_eq(uz_store_restore(st, bad, &ri, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "truncated") != NULL, "%s", err);
	uz_store_destroy(st);
	/* cut in the middle of a block */
	snprintf(cmd, sizeof(cmd), "cp %s %s && truncate -s 5000000 %s", path, bad, bad);
	ck_assert_int_eq(system(cmd), 0);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_int_eq(uz_store_restore(st, bad, &ri, err, sizeof(err)), -EBADMSG);
	uz_store_destroy(st);
	/* not a snapshot at all */
	snprintf(cmd, sizeof(cmd), "head -c 2M /dev/zero >%s", bad);
	ck_assert_int_eq(system(cmd), 0);
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_int_eq(uz_store_restore(st, bad, &ri, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "not a uzram snapshot") != NULL, "%s", err);
	uz_store_destroy(st);
	unlink(bad);

	/* a memory limit smaller than the data */
	cfg.mem_limit = 4 * MiB;
	st = uz_store_create(64 * MiB, &cfg);
	ck_assert_int_eq(uz_store_restore(st, path, &ri, err, sizeof(err)), -ENOSPC);
	ck_assert_msg(strstr(err, "the memory limit is reached") != NULL, "%s", err);
	uz_store_destroy(st);
	uz_test_tmp_gone(path);
}
END_TEST

/* Progress: each long run says it starts (done 0), then how far it is,
 * never past the total, and (but for the threads of a recompression)
 * never backwards. */
struct progress_log {
	pthread_mutex_t lock;
	uint64_t calls[4], starts[4], last[4], total[4];
	bool backwards;
};

static void record_progress(void *ctx, enum uz_progress_what what, uint64_t done, uint64_t total)
{
	struct progress_log *p = ctx;

	pthread_mutex_lock(&p->lock);
	p->calls[what]++;
	if (done == 0)
		p->starts[what]++;
	else if ((done < p->last[what] && what != UZ_PROGRESS_RECOMPRESS) || done > total)
		p->backwards = true; /* (recompression's shares report as they go: any order) */
	p->last[what] = done;
	p->total[what] = total;
	pthread_mutex_unlock(&p->lock);
}

START_TEST(long_runs_report_progress)
{
	static struct progress_log p = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char path[256], bpath[256], err[512];
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 1 },
				       .progress = record_progress, .progress_ctx = &p };
	struct uz_recompress_result rr;
	struct uz_writeback_result wr;
	struct uz_snapshot_info si;
	struct uz_store *st;

	uz_test_tmp(path, sizeof(path), "snap");
	cfg.backing = uz_test_backing(bpath, sizeof(bpath), 64 * MiB);
	st = uz_store_create(2ull << 30, &cfg); /* 524288 slots: several reports */
	ck_assert_ptr_nonnull(st);
	for (unsigned i = 0; i < 64; i++) {
		static uint8_t page[UZ_PAGE_SIZE];

		text_a(page, sizeof(page), i);
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)i * 8191 * UZ_PAGE_SIZE), 0);
	}
	ck_assert_int_eq(uz_store_recompress(st, UZ_WB_ALL, 0, &rr), 0);
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_ALL, 0, &wr), 0);
	ck_assert_int_eq(uz_store_snapshot(st, path, &si, err, sizeof(err)), 0);
	uz_store_destroy(st);
	cfg.backing = NULL;
	st = uz_store_create(2ull << 30, &cfg);
	ck_assert_msg(uz_store_restore(st, path, &si, err, sizeof(err)) == 0, "%s", err);
	for (int w = UZ_PROGRESS_WRITEBACK; w <= UZ_PROGRESS_SNAPSHOT; w++) {
		ck_assert_msg(p.starts[w] == 1 && p.calls[w] >= 4, "what %d: %llu starts, %llu calls", w,
			      (unsigned long long)p.starts[w], (unsigned long long)p.calls[w]);
		ck_assert_uint_eq(p.total[w], 2ull << 30);
	}
	ck_assert_uint_eq(p.starts[UZ_PROGRESS_RESTORE], 1);
	ck_assert(!p.backwards);
	uz_store_destroy(st);
	uz_test_tmp_gone(bpath);
	uz_test_tmp_gone(path);
}
END_TEST

/* The reserve: arenas made ahead by its own thread; a take that finds it
 * empty fails at once (counted) or waits as asked; arenas given back
 * beyond twice the target are unmapped down to it. */
START_TEST(reserve_takes_gives_and_misses)
{
	struct uz_reserve *r = uz_reserve_create(2 * UZ_ARENA_SIZE, UZ_ARENA_PLAIN, 256);
	struct uz_reserve_stats rs;
	void *base[8], *desc[8];
	enum uz_arena_kind kind;

	ck_assert_ptr_nonnull(r);
	ck_assert_int_eq(uz_reserve_fill(r, 10000), 0);
	uz_reserve_stats(r, &rs);
	ck_assert_uint_eq(rs.bytes, 2 * UZ_ARENA_SIZE);
	ck_assert_uint_eq(rs.target, 2 * UZ_ARENA_SIZE);
	/* Taken without waiting: resident, zeroed descriptor. */
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(uz_reserve_take(r, 0, &base[i], &kind, &desc[i]), 0);
		ck_assert_int_eq(kind, UZ_ARENA_PLAIN);
		for (int b = 0; b < 256; b++)
			ck_assert_uint_eq(((unsigned char *)desc[i])[b], 0);
		memset(base[i], 0xa5, UZ_ARENA_SIZE);
	}
	/* Taking faster than the thread refills may miss; waiting gets one. */
	ck_assert_int_eq(uz_reserve_take(r, 10000, &base[2], &kind, &desc[2]), 0);
	/* Given back beyond the target: unmapped down to it. */
	for (int i = 0; i < 3; i++)
		uz_reserve_give(r, base[i], kind, desc[i]);
	for (int i = 0; i < 500; i++) {
		uz_reserve_stats(r, &rs);
		if (rs.bytes == 2 * UZ_ARENA_SIZE)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(rs.bytes, 2 * UZ_ARENA_SIZE);
	/* A target of 0 rounds up to one arena; a miss is counted. */
	uz_reserve_set_target(r, 0);
	uz_reserve_stats(r, &rs);
	ck_assert_uint_eq(rs.target, UZ_ARENA_SIZE);
	for (int i = 0; i < 8; i++)
		if (uz_reserve_take(r, 0, &base[i], &kind, &desc[i])) {
			uz_reserve_stats(r, &rs);
			ck_assert_uint_ge(rs.misses, 1);
			for (int j = 0; j < i; j++)
				uz_reserve_give(r, base[j], kind, desc[j]);
			break;
		}
	uz_reserve_destroy(r);
	uz_reserve_destroy(NULL);
	errno = 0;
	ck_assert_ptr_null(uz_reserve_create(UZ_ARENA_SIZE, UZ_ARENA_AUTO, 256));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* A swap device's store: the whole table at start, every arena from the
 * reserve, writes that find it empty fail at once with -ENOMEM and lose
 * nothing, free pages kept resident. */
START_TEST(store_with_a_reserve)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .reserve = 2 * UZ_ARENA_SIZE, .preallocate = true };
	struct uz_store *st = uz_store_create(16 << 20, &cfg);
	static uint8_t page[UZ_PAGE_SIZE], back[UZ_PAGE_SIZE];
	struct uz_store_stats s;
	uint64_t ok = 0, failed = 0;

	ck_assert_ptr_nonnull(st);
	uz_store_stats(st, &s);
	ck_assert(s.reserve);
	ck_assert_uint_eq(s.reserve_bytes, 2 * UZ_ARENA_SIZE);
	ck_assert_uint_ge(s.table_bytes, (16u << 20) / UZ_PAGE_SIZE * 16);
	/* Incompressible pages, faster than one arena a page can be made:
	 * each write succeeds or fails whole. */
	for (uint64_t i = 0; i < (16u << 20) / UZ_PAGE_SIZE; i++) {
		for (size_t b = 0; b < sizeof(page); b++)
			page[b] = (uint8_t)((i * 2654435761u) >> (b % 24)) ^ (uint8_t)b;
		if (uz_store_write(st, page, sizeof(page), i * UZ_PAGE_SIZE) == 0) {
			ok++;
			ck_assert_int_eq(uz_store_read(st, back, sizeof(back), i * UZ_PAGE_SIZE), 0);
			ck_assert_mem_eq(back, page, sizeof(page));
		} else {
			failed++;
			ck_assert_int_eq(uz_store_read(st, back, sizeof(back), i * UZ_PAGE_SIZE), 0);
			for (size_t b = 0; b < sizeof(back); b++)
				ck_assert_uint_eq(back[b], 0);
		}
	}
	uz_store_stats(st, &s);
	ck_assert_uint_gt(ok, 0);
	ck_assert_uint_eq(s.failed_writes, failed);
	ck_assert_uint_eq(s.reserve_misses, failed);
	ck_assert_int_eq(uz_store_set_reserve(st, 4 * UZ_ARENA_SIZE), 0);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.reserve_target, 4 * UZ_ARENA_SIZE);
	uz_store_destroy(st);
	/* Without a reserve there is nothing to resize. */
	cfg = (struct uz_store_config){ .arena = UZ_ARENA_PLAIN };
	st = uz_store_create(1 << 20, &cfg);
	ck_assert_int_eq(uz_store_set_reserve(st, UZ_ARENA_SIZE), -ENODEV);
	uz_store_destroy(st);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");

	uz_tcase(s, "slots", 120, UZ_TESTS(slot_table_is_lazy, slot_lock_keeps_meta));
	uz_tcase(s, "pages", 120,
		 UZ_TESTS(bad_sizes, pages_of_every_kind, unaligned_io_against_reference, out_of_range_is_invalid_io,
			  discard_frees_pages, sparse_terabyte_is_cheap, references_beyond_64_gib));
	uz_tcase(s, "threads", 120, UZ_TESTS(threads_never_tear_pages));
	uz_tcase(s, "limits", 120,
		 UZ_TESTS(memory_limit_loses_nothing, memory_limit_spans_engines, overwrites_succeed_at_the_limit));
	uz_tcase(s, "compaction", 120, UZ_TESTS(compact_after_discards, compaction_races_readers_and_writers));
	uz_tcase(s, "idle", 120, UZ_TESTS(idle_marks_and_ages));
	uz_tcase(s, "writeback", 120, UZ_TESTS(writeback_round_trip, spill_at_the_limit, writeback_after_policy));
	uz_tcase(s, "recompression", 120,
		 UZ_TESTS(recompress_idle_pages, recompress_types_and_algorithms, recompressed_pages_write_back,
			  recompress_after_policy, recompression_races_io, recompression_shares_the_slots));
	uz_tcase(s, "snapshot", 120, UZ_TESTS(snapshot_round_trip, snapshot_refusals));
	uz_tcase(s, "progress", 120, UZ_TESTS(long_runs_report_progress));
	uz_tcase(s, "reserve", 120, UZ_TESTS(reserve_takes_gives_and_misses, store_with_a_reserve));
	return uz_run_suite(s);
}
