/* tests/check_snapshot.c - the snapshot file format (store/snapshot.c).
 *
 * tests/data/snapshot-v1.bin is a snapshot, in format version 1, of the
 * small store sample_store() makes: every kind of page a record can hold.
 * The tests restore it and check every page, check that a snapshot of
 * the same store is the same bytes (but for its clock fields), and that
 * a restore refuses what it cannot read.  So a change of the format is a
 * deliberate one: a new version, and a new sample beside the old.
 *
 * The sample was made once, by `build/tests/check_snapshot --write-sample
 * FILE`, from the code of its time; do not remake it for a change of the
 * format.  (A new LZ4 whose output differs for the same pages would fail
 * the byte comparison but not the restore.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "../compress/page.h"
#include "../store/backing.h"
#include "../store/store.h"
#include "check_util.h"

#define MiB (1ull << 20)
#define SAMPLE SRCDIR "/tests/data/snapshot-v1.bin"
#define SAMPLE_DISK (32 * MiB) /* two slot-table leaves */
#define BLOCK (1u << 20)

/* The sample's pages, by slot. */
enum {
	P_TEXT = 0, /* LZ4 */
	P_SAME = 1, /* one 8-byte word repeated */
	P_NOISE = 2, /* incompressible: stored raw */
	P_ZEROED = 3, /* written, then a zero range: empty, but allocated */
	P_ZERO = 5, /* all zeros: same-filled, word 0 */
	P_WB = 4100, /* LZ4, written back: in the second leaf */
	P_LAST = 8191, /* the device's last page */
};

/* The content of sample page idx (all zeros for the others). */
static void sample_page(uint64_t idx, uint8_t *p)
{
	uint32_t x = 2463534242u;
	size_t n = 0;

	memset(p, 0, UZ_PAGE_SIZE);
	switch (idx) {
	case P_TEXT:
	case P_WB:
	case P_LAST:
		for (unsigned line = 0; n < UZ_PAGE_SIZE; line++)
			n += (size_t)snprintf((char *)p + n, UZ_PAGE_SIZE - n,
					      "page %llu, line %u: the snapshot keeps its bytes\n",
					      (unsigned long long)idx, line);
		break;
	case P_SAME:
		for (n = 0; n < UZ_PAGE_SIZE; n += 8)
			memcpy(p + n, "uzram-v1", 8);
		break;
	case P_NOISE:
		for (n = 0; n < UZ_PAGE_SIZE; n++) { /* xorshift32 */
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			p[n] = (uint8_t)(x >> 24);
		}
		break;
	}
}

/* A temp folder with a backing file in it: the path of each. */
struct sample_files {
	char dir[64], backing[96], snap[96];
};

static void files_make(struct sample_files *f)
{
	snprintf(f->dir, sizeof(f->dir), "/tmp/uzram-snapfmt.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->backing, sizeof(f->backing), "%s/backing", f->dir);
	snprintf(f->snap, sizeof(f->snap), "%s/snap", f->dir);
}

static void files_gone(struct sample_files *f)
{
	char tmp[128];

	snprintf(tmp, sizeof(tmp), "%s.tmp", f->snap);
	unlink(tmp);
	unlink(f->snap);
	unlink(f->backing);
	rmdir(f->dir);
}

/* The sample store, with a backing file at backing. */
static struct uz_store *sample_store(const char *backing)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	static const uint64_t order[] = { P_TEXT, P_SAME, P_NOISE, P_ZEROED, P_ZERO, P_LAST };
	struct uz_writeback_result wr;
	uint8_t page[UZ_PAGE_SIZE];
	char err[256];
	struct uz_store *st;

	cfg.backing = uz_backing_open(backing, 16 * MiB, 0, err, sizeof(err));
	ck_assert_msg(cfg.backing != NULL, "backing: %s", err);
	st = uz_store_create(SAMPLE_DISK, &cfg);
	ck_assert_ptr_nonnull(st);
	/* P_WB alone first, and written back: the only page then */
	sample_page(P_WB, page);
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), P_WB * UZ_PAGE_SIZE), 0);
	ck_assert_int_eq(uz_store_writeback(st, UZ_WB_ALL, 0, &wr), 0);
	ck_assert_uint_eq(wr.pages, 1);
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		sample_page(order[i], page);
		if (order[i] == P_ZEROED)
			page[100] = 1;
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), order[i] * UZ_PAGE_SIZE), 0);
	}
	ck_assert_int_eq(uz_store_zero(st, P_ZEROED * UZ_PAGE_SIZE, UZ_PAGE_SIZE), 0);
	return st;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	ck_assert_int_gt(n, 0);
	buf = malloc((size_t)n);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Seals block b of a snapshot in buf again: its checksum (XXH3-64 of
 * the block, the sum field at offset 24 taken as 0). */
static void reseal(uint8_t *buf, unsigned b)
{
	uint8_t *blk = buf + (size_t)b * BLOCK;

	put_le(blk + 24, 0, 8);
	put_le(blk + 24, XXH3_64bits(blk, BLOCK), 8);
}

/* The sample, restored: every page as written, the counters to match,
 * the written-back page back in memory (this store has no backing
 * store) and marked idle. */
START_TEST(sample_restores)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	uint8_t page[UZ_PAGE_SIZE], want[UZ_PAGE_SIZE];
	struct uz_snapshot_info ri;
	struct uz_store_stats s;
	char err[512] = "";
	struct uz_store *st = uz_store_create(SAMPLE_DISK, &cfg);

	ck_assert_ptr_nonnull(st);
	ck_assert_msg(uz_store_restore(st, SAMPLE, &ri, err, sizeof(err)) == 0, "restore: %s", err);
	ck_assert_uint_eq(ri.pages, 7); /* the zeroed page has a record too */
	ck_assert_uint_eq(ri.written_back, 1);
	ck_assert_uint_eq(ri.file_bytes, 3 * BLOCK);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.same_pages, 2);
	ck_assert_uint_eq(s.huge_pages, 1);
	ck_assert_uint_eq(s.orig_data_size, 6 * UZ_PAGE_SIZE);
	ck_assert_uint_eq(s.wb_pages, 0);
	ck_assert_uint_eq(s.idle_pages, 1); /* until read */
	for (uint64_t i = 0; i < SAMPLE_DISK / UZ_PAGE_SIZE; i++) {
		sample_page(i, want);
		ck_assert_int_eq(uz_store_read(st, page, sizeof(page), i * UZ_PAGE_SIZE), 0);
		if (memcmp(page, want, sizeof(page)))
			ck_abort_msg("page %llu differs", (unsigned long long)i);
	}
	ck_assert_msg(uz_store_check(st, err, sizeof(err)) == 0, "%s", err);
	uz_store_destroy(st);
}
END_TEST

/* A snapshot of the sample store is the sample, byte for byte, but for
 * the time it was made (the header's created, the trailer's write_ns)
 * and the two checksums that cover them. */
START_TEST(snapshot_writes_the_sample)
{
	/* offsets in the file: block 0 is the header, block 2 the trailer */
	static const struct {
		size_t at, len;
	} clock_fields[] = {
		{ 24, 8 }, /* block 0's checksum */
		{ 32 + 16, 8 }, /* created */
		{ 2 * BLOCK + 24, 8 }, /* the trailer's checksum */
		{ 2 * BLOCK + 32 + 32, 8 }, /* write_ns */
	};
	struct sample_files f;
	struct uz_snapshot_info si;
	uint8_t *want, *got;
	size_t wlen, glen;
	char err[512] = "";
	struct uz_store *st;

	files_make(&f);
	st = sample_store(f.backing);
	ck_assert_msg(uz_store_snapshot(st, f.snap, &si, err, sizeof(err)) == 0, "snapshot: %s", err);
	uz_store_destroy(st);
	want = read_file(SAMPLE, &wlen);
	got = read_file(f.snap, &glen);
	ck_assert_uint_eq(glen, wlen);
	for (unsigned i = 0; i < sizeof(clock_fields) / sizeof(clock_fields[0]); i++) {
		memset(want + clock_fields[i].at, 0, clock_fields[i].len);
		memset(got + clock_fields[i].at, 0, clock_fields[i].len);
	}
	for (size_t i = 0; i < wlen; i++)
		if (got[i] != want[i])
			ck_abort_msg("byte %zu (block %zu, offset %zu): %#x, the sample has %#x", i, i / BLOCK,
				     i % BLOCK, got[i], want[i]);
	free(want);
	free(got);
	files_gone(&f);
}
END_TEST

/* What the decoder refuses, before loading anything or with a clear
 * message: another version, a record with a bit no version defines. */
START_TEST(sample_refusals)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	struct sample_files f;
	struct uz_snapshot_info ri;
	struct uz_store_stats s;
	char err[512] = "";
	struct uz_store *st;
	uint8_t *buf;
	size_t len;

	files_make(&f);
	buf = read_file(SAMPLE, &len);
	put_le(buf + 32, 3, 4); /* the header's version */
	reseal(buf, 0);
	write_file(f.snap, buf, len);
	st = uz_store_create(SAMPLE_DISK, &cfg);
	ck_assert_ptr_nonnull(st);
	ck_assert_int_eq(uz_store_restore(st, f.snap, &ri, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "format version 3; this uzramd reads versions 1 to 2") != NULL, "%s", err);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.orig_data_size, 0);
	uz_store_destroy(st);
	free(buf);

	/* the first record's meta word (block 1: header, then idx, meta)
	 * with bit 28 set, which version 1 leaves 0 */
	buf = read_file(SAMPLE, &len);
	buf[BLOCK + 32 + 8 + 3] |= 0x10;
	reseal(buf, 1);
	write_file(f.snap, buf, len);
	st = uz_store_create(SAMPLE_DISK, &cfg);
	ck_assert_int_eq(uz_store_restore(st, f.snap, &ri, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "block 1: a malformed page record") != NULL, "%s", err);
	uz_store_destroy(st);

	/* a record's length that is not its size */
	free(buf);
	buf = read_file(SAMPLE, &len);
	buf[BLOCK + 32 + 12] ^= 1;
	reseal(buf, 1);
	write_file(f.snap, buf, len);
	st = uz_store_create(SAMPLE_DISK, &cfg);
	ck_assert_int_eq(uz_store_restore(st, f.snap, &ri, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "a malformed page record") != NULL, "%s", err);
	uz_store_destroy(st);
	free(buf);
	files_gone(&f);
}
END_TEST

/* --write-sample FILE: makes the sample (see the top of this file). */
static const char *sample_out;

START_TEST(write_sample)
{
	struct sample_files f;
	struct uz_snapshot_info si;
	char err[512] = "";
	struct uz_store *st;

	files_make(&f);
	st = sample_store(f.backing);
	ck_assert_msg(uz_store_snapshot(st, sample_out, &si, err, sizeof(err)) == 0, "%s", err);
	uz_store_destroy(st);
	files_gone(&f);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("format");

	if (argc == 3 && !strcmp(argv[1], "--write-sample")) {
		sample_out = argv[2];
		tcase_add_test(tc, write_sample);
	} else {
		tcase_add_test(tc, sample_restores);
		tcase_add_test(tc, snapshot_writes_the_sample);
		tcase_add_test(tc, sample_refusals);
	}
	suite_add_tcase(s, tc);
	return uz_run_suite(s);
}
