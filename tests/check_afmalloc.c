/* tests/check_afmalloc.c - the afmalloc engine alone (store/afmalloc.c). */
#include "check_util.h"
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../store/afmalloc.h"
#include "../store/asan.h"

static struct afm *make(uint64_t limit)
{
	struct afm_config cfg = { .arena = UZ_ARENA_AUTO, .mem_limit = limit };
	struct afm *a = afm_create(&cfg);

	ck_assert_ptr_nonnull(a);
	return a;
}

static void check_ok(struct afm *a)
{
	char err[512] = "";

	ck_assert_msg(afm_check(a, err, sizeof(err)) == 0, "invariant: %s", err);
}

START_TEST(roundtrip_every_size)
{
	static struct afm_handle h[AFM_MAX_OBJECT + 1];
	static uint8_t in[AFM_MAX_OBJECT], out[AFM_MAX_OBJECT];
	struct afm *a = make(0);
	struct afm_stats st;
	uint64_t bytes = 0;

	for (uint32_t n = 1; n <= AFM_MAX_OBJECT; n++) {
		ck_assert_int_eq(afm_alloc(a, n, &h[n]), 0);
		uz_test_noise(in, n, n);
		afm_store(a, n, &h[n], in);
		bytes += n;
	}
	check_ok(a);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.objects, AFM_MAX_OBJECT);
	ck_assert_uint_eq(st.object_bytes, bytes);
	ck_assert_uint_ge(st.mem_used_total, bytes);
	for (uint32_t n = 1; n <= AFM_MAX_OBJECT; n++) {
		uz_test_noise(in, n, n);
		memset(out, 0xa5, sizeof(out));
		afm_load(a, n, &h[n], out);
		ck_assert_msg(memcmp(in, out, n) == 0, "size %u differs after load", n);
		ck_assert_uint_eq(out[n < AFM_MAX_OBJECT ? n : 0], n < AFM_MAX_OBJECT ? 0xa5 : out[0]);
	}
	for (uint32_t n = 1; n <= AFM_MAX_OBJECT; n++)
		afm_free(a, n, &h[n]);
	check_ok(a);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(st.arenas, 0);
	ck_assert_uint_eq(st.mem_used_total, 0);
	afm_destroy(a);
}
END_TEST

START_TEST(footprint_is_chunks_plus_metadata)
{
	/* 400 = 256 + 128 + 16: three chunks, all in the handle. */
	ck_assert_uint_eq(afm_footprint(400), 400);
	/* 1516 rounds to 1520 = 1024+256+128+64+32+16: six chunks, four of
	 * them listed in one 16-byte extension chunk. */
	ck_assert_uint_eq(afm_footprint(1516), 1520 + 16);
	/* 4080 = eight chunks: six extra references need 32 bytes. */
	ck_assert_uint_eq(afm_footprint(4080), 4080 + 32);
	ck_assert_uint_eq(afm_footprint(4096), 4096);
	ck_assert_uint_eq(afm_footprint(1), 16);
	ck_assert_uint_eq(afm_footprint(0), 0);
	ck_assert_uint_eq(afm_footprint(4097), 0);
}
END_TEST

START_TEST(bad_sizes_rejected)
{
	struct afm *a = make(0);
	struct afm_handle h;

	ck_assert_int_eq(afm_alloc(a, 0, &h), -EINVAL);
	ck_assert_int_eq(afm_alloc(a, AFM_MAX_OBJECT + 1, &h), -EINVAL);
	check_ok(a);
	afm_destroy(a);
}
END_TEST

/* Random allocations and frees, every object checked against a copy. */
START_TEST(churn_against_reference)
{
	enum { N = 6000, OPS = 60000 };
	static struct afm_handle h[N];
	static uint32_t size[N], seed[N];
	static uint8_t buf[AFM_MAX_OBJECT], ref[AFM_MAX_OBJECT];
	struct afm *a = make(0);
	struct afm_stats st;
	unsigned r = 12345;

	memset(size, 0, sizeof(size));
	for (int op = 0; op < OPS; op++) {
		int i;

		r = r * 1664525u + 1013904223u;
		i = (int)((r >> 8) % N);
		if (size[i]) {
			uz_test_noise(ref, size[i], seed[i]);
			afm_load(a, size[i], &h[i], buf);
			ck_assert_msg(memcmp(ref, buf, size[i]) == 0, "object %d (%u bytes) corrupted", i, size[i]);
			afm_free(a, size[i], &h[i]);
			size[i] = 0;
		} else {
			r = r * 1664525u + 1013904223u;
			/* Mostly compressed-page sizes, some tiny, some whole pages. */
			size[i] = (r >> 4) % 10 == 0 ? AFM_MAX_OBJECT : 1 + (r >> 12) % 3000;
			seed[i] = r;
			ck_assert_int_eq(afm_alloc(a, size[i], &h[i]), 0);
			uz_test_noise(ref, size[i], seed[i]);
			afm_store(a, size[i], &h[i], ref);
		}
		if (op % 15000 == 0)
			check_ok(a);
	}
	check_ok(a);
	for (int i = 0; i < N; i++) {
		if (!size[i])
			continue;
		uz_test_noise(ref, size[i], seed[i]);
		afm_load(a, size[i], &h[i], buf);
		ck_assert_msg(memcmp(ref, buf, size[i]) == 0, "object %d corrupted at the end", i);
		afm_free(a, size[i], &h[i]);
	}
	check_ok(a);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 0);
	ck_assert_uint_eq(st.objects, 0);
	ck_assert_uint_eq(st.object_bytes + st.rounding_bytes + st.ext_bytes, 0);
	afm_destroy(a);
}
END_TEST

/* Arenas go back as soon as their last page is empty, not at the end. */
START_TEST(arenas_released_when_empty)
{
	enum { N = 2048 }; /* 2048 whole-page objects: four 2 MiB arenas */
	static struct afm_handle h[N];
	struct afm *a = make(0);
	struct afm_stats st;

	for (int i = 0; i < N; i++)
		ck_assert_int_eq(afm_alloc(a, AFM_MAX_OBJECT, &h[i]), 0);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 4);
	ck_assert_uint_eq(st.mem_used_max, st.mem_used_total);
	/* Free the second arena's objects: the first 512 pages are arena 0. */
	for (int i = 512; i < 1024; i++)
		afm_free(a, AFM_MAX_OBJECT, &h[i]);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 3);
	check_ok(a);
	/* New objects fill the lowest arena with room first. */
	for (int i = 512; i < 1024; i++)
		ck_assert_int_eq(afm_alloc(a, AFM_MAX_OBJECT, &h[i]), 0);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 4);
	for (int i = 0; i < N; i++)
		afm_free(a, AFM_MAX_OBJECT, &h[i]);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 0);
	ck_assert_uint_eq(st.mem_used_total, 0);
	ck_assert_uint_gt(st.mem_used_max, 4 * UZ_ARENA_SIZE);
	check_ok(a);
	afm_destroy(a);
}
END_TEST

START_TEST(memory_limit)
{
	enum { N = 8192 };
	static struct afm_handle h[N];
	static uint8_t buf[1000], ref[1000];
	/* Room for two arenas and their descriptors, not three. */
	struct afm *a = make(2 * UZ_ARENA_SIZE + 64 * 1024);
	struct afm_stats st;
	int n = 0, err = 0;

	while (n < N && (err = afm_alloc(a, 1000, &h[n])) == 0) {
		uz_test_noise(ref, 1000, (uint32_t)n);
		afm_store(a, 1000, &h[n], ref);
		n++;
	}
	ck_assert_int_eq(err, -ENOSPC);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 1); /* the second is the reserve's */
	/* Objects that replace others may use the reserve, up to the limit. */
	while (n < N && (err = afm_alloc_over(a, 1000, &h[n])) == 0) {
		uz_test_noise(ref, 1000, (uint32_t)n);
		afm_store(a, 1000, &h[n], ref);
		n++;
	}
	ck_assert_int_eq(err, -ENOSPC);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 2);
	ck_assert_uint_le(st.mem_used_total, st.mem_limit);
	check_ok(a);
	for (int i = 0; i < n; i++) {
		uz_test_noise(ref, 1000, (uint32_t)i);
		afm_load(a, 1000, &h[i], buf);
		ck_assert_msg(memcmp(ref, buf, 1000) == 0, "object %d lost when the limit was hit", i);
	}
	afm_free(a, 1000, &h[0]);
	ck_assert_int_eq(afm_alloc(a, 1000, &h[0]), 0);
	afm_set_limit(a, 0);
	ck_assert_int_eq(afm_alloc(a, 1000, &h[n]), 0);
	afm_free(a, 1000, &h[n]);
	for (int i = 0; i < n; i++)
		afm_free(a, 1000, &h[i]);
	check_ok(a);
	afm_destroy(a);
}
END_TEST

struct worker {
	struct afm *a;
	unsigned seed;
	int bad;
};

static void *worker_run(void *arg)
{
	enum { N = 1500, OPS = 40000 };
	struct worker *w = arg;
	struct afm_handle *h = calloc(N, sizeof(*h));
	uint32_t *size = calloc(N, sizeof(*size));
	uint8_t buf[AFM_MAX_OBJECT], ref[AFM_MAX_OBJECT];
	unsigned r = w->seed;

	for (int op = 0; op < OPS; op++) {
		int i;

		r = r * 1664525u + 1013904223u;
		i = (int)((r >> 8) % N);
		if (size[i]) {
			uz_test_noise(ref, size[i], (uint32_t)i ^ w->seed);
			afm_load(w->a, size[i], &h[i], buf);
			w->bad += memcmp(ref, buf, size[i]) != 0;
			afm_free(w->a, size[i], &h[i]);
			size[i] = 0;
		} else {
			size[i] = 1 + (r >> 12) % AFM_MAX_OBJECT;
			if (afm_alloc(w->a, size[i], &h[i])) {
				w->bad++;
				size[i] = 0;
				continue;
			}
			uz_test_noise(ref, size[i], (uint32_t)i ^ w->seed);
			afm_store(w->a, size[i], &h[i], ref);
		}
	}
	for (int i = 0; i < N; i++)
		if (size[i])
			afm_free(w->a, size[i], &h[i]);
	free(h);
	free(size);
	return NULL;
}

START_TEST(threads_share_the_engine)
{
	struct afm *a = make(0);
	struct worker w[4];
	pthread_t t[4];
	struct afm_stats st;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .a = a, .seed = 77u + (unsigned)i * 1000 };
		ck_assert_int_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].bad, 0);
	}
	check_ok(a);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 0);
	afm_destroy(a);
}
END_TEST

/* Fill, free a random 80 %, compact: arenas go back, the stranded space
 * shrinks to about a page per class, and every survivor is intact. */
START_TEST(compaction_after_fragmentation)
{
	enum { N = 40000 };
	static struct afm_handle h[N];
	static uint32_t size[N];
	static uint8_t ref[AFM_MAX_OBJECT], buf[AFM_MAX_OBJECT];
	struct afm *a = make(0);
	struct afm_stats before, after;
	uint64_t victims = 0, moved = 0;
	unsigned r = 2024;

	for (int i = 0; i < N; i++) {
		r = r * 1664525u + 1013904223u;
		size[i] = 100 + (r >> 8) % 3000;
		ck_assert_int_eq(afm_alloc(a, size[i], &h[i]), 0);
		uz_test_noise(ref, size[i], (uint32_t)i);
		afm_store(a, size[i], &h[i], ref);
	}
	for (int i = 0; i < N; i++) {
		r = r * 1664525u + 1013904223u;
		if ((r >> 8) % 100 < 80) {
			afm_free(a, size[i], &h[i]);
			size[i] = 0;
		}
	}
	check_ok(a);
	afm_trim(a);
	afm_stats(a, &before);
	ck_assert_int_eq(afm_compact_begin(a, &victims), 0);
	ck_assert_uint_gt(victims, 0);
	check_ok(a); /* pages in evacuation are allowed while it runs */
	for (int i = 0; i < N; i++) {
		if (size[i] && afm_needs_move(a, size[i], &h[i])) {
			ck_assert_int_eq(afm_move(a, size[i], &h[i]), 0);
			ck_assert(!afm_needs_move(a, size[i], &h[i]));
			moved++;
		}
	}
	afm_compact_end(a);
	check_ok(a);
	afm_stats(a, &after);
	for (int i = 0; i < N; i++) {
		if (!size[i])
			continue;
		uz_test_noise(ref, size[i], (uint32_t)i);
		afm_load(a, size[i], &h[i], buf);
		ck_assert_msg(memcmp(ref, buf, size[i]) == 0, "object %d changed by compaction", i);
	}
	ck_assert_uint_gt(moved, 0);
	ck_assert_uint_eq(after.objects, before.objects);
	ck_assert_uint_lt(after.arenas, before.arenas);
	ck_assert_uint_lt(after.mem_used_total, before.mem_used_total);
	ck_assert_uint_gt(after.pages_compacted, 0);
	/* What is left stranded: at most a page per class, twice over. */
	ck_assert_msg(after.stranded_bytes <= 2 * AFM_NCLASS * 4096, "stranded %llu bytes after compaction",
		      (unsigned long long)after.stranded_bytes);
	ck_assert_uint_le(after.mem_used_total, after.object_bytes + after.rounding_bytes + after.metadata_bytes +
							 after.stranded_bytes + 4096);
	for (int i = 0; i < N; i++)
		if (size[i])
			afm_free(a, size[i], &h[i]);
	afm_stats(a, &after);
	ck_assert_uint_eq(after.arenas, 0);
	ck_assert_uint_eq(after.mem_used_total, 0);
	check_ok(a);
	afm_destroy(a);
}
END_TEST

START_TEST(arena_kinds)
{
	static const enum uz_arena_kind kinds[] = { UZ_ARENA_THP, UZ_ARENA_PLAIN, UZ_ARENA_HUGETLB };

	for (unsigned k = 0; k < 3; k++) {
		struct afm_config cfg = { .arena = kinds[k] };
		struct afm *a = afm_create(&cfg);
		struct afm_handle h;
		struct afm_stats st;
		uint8_t in[100] = "arena", out[100];

		ck_assert_ptr_nonnull(a);
		ck_assert_int_eq(afm_alloc(a, sizeof(in), &h), 0);
		afm_store(a, sizeof(in), &h, in);
		afm_load(a, sizeof(in), &h, out);
		ck_assert_mem_eq(in, out, sizeof(in));
		afm_stats(a, &st);
		ck_assert_uint_eq(st.arenas, 1);
		/* hugetlb falls back to THP when no huge page is reserved */
		if (kinds[k] != UZ_ARENA_HUGETLB)
			ck_assert_uint_eq(st.arenas_by_kind[kinds[k]], 1);
		afm_free(a, sizeof(in), &h);
		afm_destroy(a);
	}
}
END_TEST

/* An engine whose arena ids start two below the end of its 24-bit page
 * space: references to the last 1024 pages work, and the next page is
 * refused with ENOSPC instead of wrapping around onto page 0. */
START_TEST(top_of_page_space)
{
	enum { N = 2 * 512 };
	static struct afm_handle h[N + 1];
	static uint8_t ref[AFM_MAX_OBJECT], buf[AFM_MAX_OBJECT];
	struct afm_config cfg = { .arena = UZ_ARENA_PLAIN, .first_arena = AFM_MAX_ARENAS - 2 };
	struct afm *a = afm_create(&cfg);
	struct afm_stats st;

	ck_assert_ptr_nonnull(a);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(afm_alloc(a, AFM_MAX_OBJECT, &h[i]), 0);
		/* the chunk's page number is the reference's top 24 bits */
		ck_assert_uint_ge(h[i].ref[0] >> 8, (AFM_MAX_ARENAS - 2) * 512u);
		uz_test_noise(ref, AFM_MAX_OBJECT, (uint32_t)i);
		afm_store(a, AFM_MAX_OBJECT, &h[i], ref);
	}
	ck_assert_int_eq(afm_alloc(a, AFM_MAX_OBJECT, &h[N]), -ENOSPC);
	ck_assert_int_eq(afm_alloc(a, 16, &h[N]), -ENOSPC);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 2);
	check_ok(a);
	for (int i = 0; i < N; i++) {
		uz_test_noise(ref, AFM_MAX_OBJECT, (uint32_t)i);
		afm_load(a, AFM_MAX_OBJECT, &h[i], buf);
		ck_assert_msg(memcmp(ref, buf, AFM_MAX_OBJECT) == 0, "object %d at the top of the page space", i);
	}
	afm_free(a, AFM_MAX_OBJECT, &h[7]);
	ck_assert_int_eq(afm_alloc(a, 16, &h[7]), 0); /* room again */
	afm_free(a, 16, &h[7]);
	afm_free(a, AFM_MAX_OBJECT, &h[0]);
	for (int i = 1; i < N; i++)
		if (i != 7)
			afm_free(a, AFM_MAX_OBJECT, &h[i]);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 0);
	ck_assert_uint_eq(st.mem_used_total, 0);
	check_ok(a);
	afm_destroy(a);
	cfg.first_arena = AFM_MAX_ARENAS;
	ck_assert_ptr_null(afm_create(&cfg));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* Two engines under one budget: the limit is on their sum. */
START_TEST(engines_share_a_budget)
{
	enum { N = 4096 };
	static struct afm_handle h[N];
	struct afm_budget budget = { 0 };
	struct afm_config cfg = { .arena = UZ_ARENA_PLAIN, .budget = &budget };
	struct afm *a, *b;
	struct afm_stats sa, sb;
	struct afm_handle hb;
	int n = 0, err;

	atomic_store(&budget.limit, 3 * UZ_ARENA_SIZE + 64 * 1024); /* three arenas, not four */
	a = afm_create(&cfg);
	b = afm_create(&cfg);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(afm_alloc(b, AFM_MAX_OBJECT, &hb), 0); /* b: one arena */
	while (n < N && (err = afm_alloc(a, AFM_MAX_OBJECT, &h[n])) == 0)
		n++;
	ck_assert_int_eq(err, -ENOSPC);
	ck_assert_int_eq(n, 512); /* a got one arena; the last is the reserve */
	while (n < N && (err = afm_alloc_over(a, AFM_MAX_OBJECT, &h[n])) == 0)
		n++;
	ck_assert_int_eq(err, -ENOSPC);
	ck_assert_int_eq(n, 2 * 512);
	afm_stats(a, &sa);
	afm_stats(b, &sb);
	ck_assert_uint_eq(sa.arenas + sb.arenas, 3);
	ck_assert_uint_eq(atomic_load(&budget.used), sa.mem_used_total + sb.mem_used_total);
	ck_assert_uint_le(atomic_load(&budget.used), atomic_load(&budget.limit));
	ck_assert_uint_eq(sa.mem_limit, atomic_load(&budget.limit));
	ck_assert_uint_eq(sb.mem_used_max, atomic_load(&budget.used));
	for (int i = 0; i < 512; i++)
		afm_free(a, AFM_MAX_OBJECT, &h[--n]);
	/* the arena a freed went back to the budget: a can map one again */
	ck_assert_int_eq(afm_alloc_over(a, AFM_MAX_OBJECT, &h[n]), 0);
	n++;
	check_ok(a);
	check_ok(b);
	afm_free(b, AFM_MAX_OBJECT, &hb);
	afm_destroy(b);
	afm_stats(a, &sa);
	ck_assert_uint_eq(atomic_load(&budget.used), sa.mem_used_total);
	while (n > 0)
		afm_free(a, AFM_MAX_OBJECT, &h[--n]);
	afm_destroy(a);
	ck_assert_uint_eq(atomic_load(&budget.used), 0);
}
END_TEST

/* Hugetlb arenas (the fixture reserves huge pages): after a compaction
 * only the arenas the data fills whole stay hugetlb, full; the tail goes
 * to a THP arena whose free pages go back to the OS; growth maps hugetlb
 * arenas again. */
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
static long hp_saved = -1;

static long hp_read(const char *path, const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f))
		if (!key || (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':'))
			v = strtol(key ? line + strlen(key) + 1 : line, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static void hp_write(long n)
{
	FILE *f = fopen(NR_HUGEPAGES, "we");

	if (f) {
		fprintf(f, "%ld\n", n);
		fclose(f);
	}
}

static void hugepages_up(void)
{
	hp_saved = hp_read(NR_HUGEPAGES, NULL);
	if (hp_saved >= 0)
		hp_write(hp_saved + 16);
}

static void hugepages_down(void)
{
	if (hp_saved >= 0)
		hp_write(hp_saved);
}

START_TEST(hugetlb_tail_in_thp)
{
	enum { N = 10 * 512 };
	static struct afm_handle h[N + 768];
	static uint8_t ref[AFM_MAX_OBJECT], buf[AFM_MAX_OBJECT];
	struct afm_config cfg = { .arena = UZ_ARENA_HUGETLB };
	struct afm *a;
	struct afm_stats st;
	uint64_t victims;
	int kept = 0;

	if (hp_read("/proc/meminfo", "HugePages_Free") < 14) {
		fprintf(stderr, "hugetlb_tail_in_thp: no huge pages could be reserved here; skipped\n");
		return;
	}
	a = afm_create(&cfg);
	ck_assert_ptr_nonnull(a);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(afm_alloc(a, AFM_MAX_OBJECT, &h[i]), 0);
		uz_test_noise(ref, AFM_MAX_OBJECT, (uint32_t)i);
		afm_store(a, AFM_MAX_OBJECT, &h[i], ref);
	}
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas_by_kind[UZ_ARENA_HUGETLB], 10);
	/* Keep one page in four, in every arena: 2.5 arenas of data. */
	for (int i = 0; i < N; i++)
		if (i % 4)
			afm_free(a, AFM_MAX_OBJECT, &h[i]);
	ck_assert_int_eq(afm_compact_begin(a, &victims), 0);
	for (int i = 0; i < N; i += 4)
		if (afm_needs_move(a, AFM_MAX_OBJECT, &h[i]))
			ck_assert_int_eq(afm_move(a, AFM_MAX_OBJECT, &h[i]), 0);
	afm_compact_end(a);
	check_ok(a);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas_by_kind[UZ_ARENA_HUGETLB], 2); /* 1280 pages fill two whole */
	ck_assert_uint_eq(st.arenas_by_kind[UZ_ARENA_THP], 1);
	ck_assert_msg(st.free_page_bytes == 0, "%llu bytes of free pages left counted",
		      (unsigned long long)st.free_page_bytes);
	ck_assert_uint_eq(st.mem_used_total, st.object_bytes + st.metadata_bytes);
	for (int i = 0; i < N; i += 4) {
		uz_test_noise(ref, AFM_MAX_OBJECT, (uint32_t)i);
		afm_load(a, AFM_MAX_OBJECT, &h[i], buf);
		ck_assert_msg(memcmp(ref, buf, AFM_MAX_OBJECT) == 0, "object %d moved wrong", i);
		kept++;
	}
	ck_assert_int_eq(kept, 1280);
	/* Growth: the THP tail's 256 free pages first, then a new hugetlb arena. */
	for (int i = N; i < N + 768; i++)
		ck_assert_int_eq(afm_alloc(a, AFM_MAX_OBJECT, &h[i]), 0);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas_by_kind[UZ_ARENA_THP], 1);
	ck_assert_uint_eq(st.arenas_by_kind[UZ_ARENA_HUGETLB], 3);
	for (int i = N; i < N + 768; i++)
		afm_free(a, AFM_MAX_OBJECT, &h[i]);
	for (int i = 0; i < N; i += 4)
		afm_free(a, AFM_MAX_OBJECT, &h[i]);
	afm_stats(a, &st);
	ck_assert_uint_eq(st.arenas, 0);
	check_ok(a);
	afm_destroy(a);
}
END_TEST

#ifdef UZ_ASAN
/* The engine poisons freed chunks: reading an object after freeing it is
 * an ASan error, which ends this (forked) test with status 1. */
START_TEST(freed_chunk_use_is_caught)
{
	struct afm *a = afm_create(&(struct afm_config){ .arena = UZ_ARENA_PLAIN });
	struct afm_handle h, h2;
	uint8_t buf[700] = { 1 };

	ck_assert_int_eq(afm_alloc(a, sizeof(buf), &h), 0);
	ck_assert_int_eq(afm_alloc(a, sizeof(buf), &h2), 0); /* keeps the page */
	afm_store(a, sizeof(buf), &h, buf);
	afm_free(a, sizeof(buf), &h);
	afm_load(a, sizeof(buf), &h, buf);
}
END_TEST
#endif

int main(void)
{
	Suite *s = suite_create("afmalloc");
	TCase *tc = uz_tcase(s, "engine", 120,
			     UZ_TESTS(roundtrip_every_size, footprint_is_chunks_plus_metadata, bad_sizes_rejected,
				      churn_against_reference, arenas_released_when_empty, memory_limit,
				      threads_share_the_engine, arena_kinds, compaction_after_fragmentation,
				      top_of_page_space, engines_share_a_budget));

#ifdef UZ_ASAN
	tcase_add_exit_test(tc, freed_chunk_use_is_caught, 1);
#endif
	tc = uz_tcase(s, "hugetlb", 120, UZ_TESTS(hugetlb_tail_in_thp));
	tcase_add_unchecked_fixture(tc, hugepages_up, hugepages_down);
	return uz_run_suite(s);
}
