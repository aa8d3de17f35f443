/* tests/check_snapshot.c - the snapshot file format (store/snapshot.c).
 *
 * tests/data/snapshot-v1.bin is a snapshot, in format version 1, of the
 * small store sample_store() makes: every kind of page a record can hold.
 * tests/data/snapshot-v2.bin, in version 2, is one of dict_sample_store():
 * a few pages compressed against one small trained dictionary.  The tests
 * restore each and check every page, check that a snapshot of the same
 * store is the same bytes (but for its clock fields), and that a restore
 * refuses what it cannot read.  So a change of the format is a deliberate
 * one: a new version, and a new sample beside the old.
 *
 * The samples were made once, by `build/tests/check_snapshot
 * --write-sample FILE` (version 1) and `--write-sample-v2 FILE`, from the
 * code of their time; do not remake them for a change of the format.  (A
 * new LZ4, zstd or zstd trainer whose output differs for the same pages
 * would fail the byte comparison but not the restore.)  That happened
 * once: compress/dict.c's zstd frames took raw literals and a lazy parse
 * (faster to decode; Huffman-coded literals again for pages of many
 * literals), so tests/data/snapshot-v2-rawlit.bin, the same
 * store written by that code (--write-sample-v2), is the one a snapshot
 * must equal; snapshot-v2.bin, with the older frames, must still restore.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "../compress/dict.h"
#include "../compress/page.h"
#include "../store/backing.h"
#include "../store/internal.h"
#include "../store/store.h"
#include "check_util.h"

#define MiB (1ull << 20)
#define SAMPLE SRCDIR "/tests/data/snapshot-v1.bin"
#define SAMPLE_V2 SRCDIR "/tests/data/snapshot-v2.bin"
/* The same store, its zstd frames as compress/dict.c writes them now. */
#define SAMPLE_V2_RAWLIT SRCDIR "/tests/data/snapshot-v2-rawlit.bin"
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

/* --- trained dictionaries (format version 2) ------------------------ */

/* A page of log lines, alike from page to page as a log's are: what a
 * trained dictionary helps with.  seed picks the page's numbers. */
static void log_page(uint8_t *p, unsigned seed)
{
	static const char *const what[] = { "moved to class", "written back at", "recompressed to",
					    "marked idle after", "read from the backing store at" };
	unsigned s = seed * 2654435761u + 1;
	size_t n = 0;

	while (n < UZ_PAGE_SIZE) {
		unsigned r = uz_test_rnd(&s);

		n += (size_t)snprintf((char *)p + n, UZ_PAGE_SIZE - n, "[%6u.%03u] uzramd: slot %u %s %u\n",
				      r % 100000, r % 1000, uz_test_rnd(&s) % 8192, what[r % 5], uz_test_rnd(&s) % 4096);
	}
}

static void put_logs(struct uz_store *st, uint64_t first, unsigned n)
{
	uint8_t page[UZ_PAGE_SIZE];

	for (unsigned i = 0; i < n; i++) {
		log_page(page, (unsigned)(first + i));
		ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (first + i) * UZ_PAGE_SIZE), 0);
	}
}

/* A store whose recompression is zstd against its trained dictionaries. */
static struct uz_store *dict_store(struct uz_backing *b)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = { UZ_ALGO_ZSTD, 0 },
				       .dictionary = true, .backing = b };
	struct uz_store *st = uz_store_create(SAMPLE_DISK, &cfg);

	ck_assert_ptr_nonnull(st);
	return st;
}

static void train(struct uz_store *st, uint64_t sample, size_t size)
{
	char err[256] = "";

	ck_assert_msg(uz_store_train_dict(st, sample, size, err, sizeof(err)) == 0, "train: %s", err);
}

/* Recompresses the pages of a type: n of them onto the current
 * dictionary. */
static void recompress(struct uz_store *st, enum uz_writeback_type type, uint64_t n)
{
	struct uz_recompress_result r;

	ck_assert_int_eq(uz_store_recompress(st, type, 0, &r), 0);
	ck_assert_uint_eq(r.dict_kept, n);
}

/* The slot of the current dictionary; -1 if none. */
static int current_of(const struct uz_store_stats *s)
{
	for (int k = 0; k < UZ_STORE_DICTS; k++)
		if (s->dicts[k].current)
			return k;
	return -1;
}

enum { DN = 256 }; /* the two-dictionary store's log pages */

/* The store of two dictionaries: DN log pages, the first half on the
 * retired dictionary (id 1), the second on the current one (id 2) and
 * written back (with backing b); a same-filled page and a plain LZ4
 * page after them. */
static struct uz_store *two_dict_store(struct uz_backing *b)
{
	struct uz_store *st = dict_store(b);
	struct uz_writeback_result wr;
	uint8_t page[UZ_PAGE_SIZE];
	struct uz_store_stats s;
	int k1;

	put_logs(st, 0, DN);
	train(st, DN, 4096);
	recompress(st, UZ_WB_ALL, DN);
	uz_store_stats(st, &s);
	k1 = current_of(&s);
	train(st, DN, 4096);
	/* the second half idle: only they move onto the second dictionary */
	ck_assert_int_ge(uz_store_mark_idle(st, 0), DN);
	for (unsigned i = 0; i < DN / 2; i++)
		ck_assert_int_eq(uz_store_read(st, page, sizeof(page), (uint64_t)i * UZ_PAGE_SIZE), 0);
	recompress(st, UZ_WB_IDLE, DN / 2);
	if (b) {
		ck_assert_int_eq(uz_store_writeback(st, UZ_WB_IDLE, 0, &wr), 0);
		ck_assert_uint_eq(wr.pages, DN / 2);
	}
	memset(page, 0x5a, sizeof(page));
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), (uint64_t)DN * UZ_PAGE_SIZE), 0);
	put_logs(st, DN + 1, 1);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dicts[k1].id, 1);
	ck_assert_uint_eq(s.dicts[k1].pages, DN / 2);
	ck_assert_uint_eq(s.dicts[1 - k1].id, 2);
	ck_assert_uint_eq(s.dicts[1 - k1].pages, DN / 2);
	ck_assert(s.dicts[1 - k1].current);
	uz_test_store_ok(st);
	return st;
}

/* Every page of st as two_dict_store() (or dict_sample_store(), its
 * first n log pages) wrote them. */
static void check_logs(struct uz_store *st, unsigned n, bool extra)
{
	uint8_t want[UZ_PAGE_SIZE], got[UZ_PAGE_SIZE];

	for (uint64_t i = 0; i < SAMPLE_DISK / UZ_PAGE_SIZE; i++) {
		memset(want, 0, sizeof(want));
		if (i < n || (extra && i == (uint64_t)n + 1))
			log_page(want, (unsigned)i);
		else if (extra && i == n)
			memset(want, 0x5a, sizeof(want));
		ck_assert_int_eq(uz_store_read(st, got, sizeof(got), i * UZ_PAGE_SIZE), 0);
		if (memcmp(got, want, sizeof(got)))
			ck_abort_msg("page %llu differs", (unsigned long long)i);
	}
}

/* Two dictionaries live, the pages of one of them written back: the
 * snapshot carries both, and the restore makes them again in the same
 * slots with the same ids, every page on its own, the counts rebuilt;
 * the next dictionary trained gets the next id. */
START_TEST(two_dictionaries_restore)
{
	char path[256], err[512] = "";
	struct uz_backing *b = uz_test_backing(path, sizeof(path), 16 * MiB);
	struct uz_store *st = two_dict_store(b), *back;
	struct uz_snapshot_info si, ri;
	struct uz_store_stats s, rs;
	char snap[300];

	snprintf(snap, sizeof(snap), "%s.snap", path);
	ck_assert_msg(uz_store_snapshot(st, snap, &si, err, sizeof(err)) == 0, "snapshot: %s", err);
	ck_assert_uint_eq(si.pages, DN + 2);
	ck_assert_uint_eq(si.written_back, DN / 2);
	ck_assert_uint_eq(si.file_bytes, 5 * BLOCK); /* header, two dictionaries, data, trailer */
	uz_store_stats(st, &s);
	back = dict_store(NULL);
	ck_assert_msg(uz_store_restore(back, snap, &ri, err, sizeof(err)) == 0, "restore: %s", err);
	ck_assert_uint_eq(ri.pages, DN + 2);
	uz_store_stats(back, &rs);
	for (int k = 0; k < UZ_STORE_DICTS; k++) {
		ck_assert_uint_eq(rs.dicts[k].id, s.dicts[k].id);
		ck_assert_uint_eq(rs.dicts[k].pages, s.dicts[k].pages);
		ck_assert_uint_eq(rs.dicts[k].size, s.dicts[k].size);
		ck_assert_int_eq(rs.dicts[k].current, s.dicts[k].current);
	}
	ck_assert_uint_eq(rs.dict_pages, DN);
	ck_assert_uint_eq(rs.dict_bytes, s.dict_bytes);
	uz_test_store_ok(back);
	check_logs(back, DN, true);
	uz_test_store_ok(back);
	/* the retired one's pages rewritten: it goes, and the next has id 3 */
	put_logs(back, 0, DN / 2);
	train(back, DN, 4096);
	uz_store_stats(back, &rs);
	ck_assert_uint_eq(rs.dicts[current_of(&rs)].id, 3);
	uz_test_store_ok(back);
	uz_store_destroy(back);
	uz_store_destroy(st);
	unlink(snap);
	uz_test_tmp_gone(path);
}
END_TEST

/* A dictionary of the largest size (1 MiB: more than a block holds) is
 * cut over two blocks and put together again.  (Made from raw content,
 * as a restore makes one: training one that large takes long.) */
START_TEST(large_dictionary_spans_blocks)
{
	struct uz_store *st = dict_store(NULL), *back;
	struct uz_snapshot_info si, ri;
	struct uz_store_stats s;
	struct sample_files f;
	char err[512] = "";
	uint8_t *raw = malloc(UZ_DICT_MAX_SIZE), *file;
	size_t len;

	ck_assert_ptr_nonnull(raw);
	for (unsigned i = 0; i < UZ_DICT_MAX_SIZE / UZ_PAGE_SIZE; i++)
		log_page(raw + (size_t)i * UZ_PAGE_SIZE, 1000 + i);
	ck_assert_int_eq(store_dict_restore(st, 1, 7, true, raw, UZ_DICT_MAX_SIZE), 0);
	free(raw);
	put_logs(st, 0, 16);
	recompress(st, UZ_WB_ALL, 16);
	files_make(&f);
	ck_assert_msg(uz_store_snapshot(st, f.snap, &si, err, sizeof(err)) == 0, "snapshot: %s", err);
	ck_assert_uint_eq(si.file_bytes, 5 * BLOCK); /* header, the dictionary in two, data, trailer */
	file = read_file(f.snap, &len);
	ck_assert_uint_eq(file[BLOCK + 16], 4);
	ck_assert_uint_eq(file[2 * BLOCK + 16], 4);
	free(file);
	back = dict_store(NULL);
	ck_assert_msg(uz_store_restore(back, f.snap, &ri, err, sizeof(err)) == 0, "restore: %s", err);
	uz_store_stats(back, &s);
	ck_assert_uint_eq(s.dicts[1].id, 7);
	ck_assert_uint_eq(s.dicts[1].size, UZ_DICT_MAX_SIZE);
	ck_assert_uint_eq(s.dicts[1].pages, 16);
	ck_assert(s.dicts[1].current);
	check_logs(back, 16, false);
	uz_test_store_ok(back);
	uz_store_destroy(back);
	uz_store_destroy(st);
	files_gone(&f);
}
END_TEST

/* Restores path into a new dictionary store and expects it refused with
 * -EINVAL and a message with want; the store is left empty. */
static void refused(const char *path, const char *want)
{
	struct uz_store *st = dict_store(NULL);
	struct uz_snapshot_info ri;
	struct uz_store_stats s;
	char err[512] = "";

	ck_assert_int_eq(uz_store_restore(st, path, &ri, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, want) != NULL, "%s (want \"%s\")", err, want);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.orig_data_size, 0);
	ck_assert_uint_eq(s.compr_data_size, 0);
	ck_assert_uint_eq(s.dict_pages, 0);
	ck_assert_uint_eq(s.dict_bytes, 0);
	for (int k = 0; k < UZ_STORE_DICTS; k++)
		ck_assert_uint_eq(s.dicts[k].id, 0);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}

/* Takes block b out of the snapshot in buf (len bytes), the blocks after
 * it moved up, numbered and sealed again, the trailer's count to match. */
static void drop_block(uint8_t *buf, size_t *len, unsigned b)
{
	size_t n = *len / BLOCK;

	memmove(buf + (size_t)b * BLOCK, buf + (size_t)(b + 1) * BLOCK, (n - b - 1) * BLOCK);
	*len -= BLOCK;
	n--;
	put_le(buf + (n - 1) * BLOCK + 32, n, 8); /* the trailer's blocks */
	for (unsigned i = b; i < n; i++) {
		put_le(buf + (size_t)i * BLOCK + 8, i, 8);
		reseal(buf, i);
	}
}

/* What a restore of dictionaries refuses, each with -EINVAL, its reason,
 * and nothing restored: a corrupt dictionary block, one whose content
 * zstd refuses, one cut short, one missing (by the header's count, or for
 * the pages that name it), a page naming a slot the file does not have. */
START_TEST(dictionary_refusals)
{
	struct uz_store *st = two_dict_store(NULL);
	struct sample_files f;
	struct uz_snapshot_info si;
	char err[512] = "";
	uint8_t *orig, *buf;
	size_t olen, len;

	files_make(&f);
	ck_assert_msg(uz_store_snapshot(st, f.snap, &si, err, sizeof(err)) == 0, "snapshot: %s", err);
	uz_store_destroy(st);
	orig = read_file(f.snap, &olen);
	ck_assert_uint_eq(olen, 5 * BLOCK);
	ck_assert_uint_eq(orig[BLOCK + 16], 4); /* blocks 1 and 2: dictionaries */
	ck_assert_uint_eq(orig[2 * BLOCK + 16], 4);
	buf = malloc(olen);
	ck_assert_ptr_nonnull(buf);

	/* a dictionary byte flipped */
	memcpy(buf, orig, olen);
	buf[2 * BLOCK + 32 + 24 + 1000] ^= 1;
	write_file(f.snap, buf, olen);
	refused(f.snap, "block 2 of 5 is corrupt (checksum mismatch), a dictionary block");

	/* a dictionary's tables corrupt, the block sealed again: zstd
	 * refuses it */
	memcpy(buf, orig, olen);
	memset(buf + BLOCK + 32 + 24 + 8, 0xff, 512);
	reseal(buf, 1);
	write_file(f.snap, buf, olen);
	refused(f.snap, "(slot 0, 4096 bytes) is refused: not a dictionary zstd takes");

	/* a dictionary block cut short */
	memcpy(buf, orig, olen);
	put_le(buf + 2 * BLOCK + 20, 32 + 24 + 4000 - 32, 4); /* used: 4000 bytes of its content */
	memset(buf + 2 * BLOCK + 32 + 24 + 4000, 0, 96);
	reseal(buf, 2);
	write_file(f.snap, buf, olen);
	refused(f.snap, "the dictionary in slot 1 is truncated: 4000 of its 4096 bytes");

	/* a dictionary block dropped, the header's count as it was */
	memcpy(buf, orig, olen);
	len = olen;
	drop_block(buf, &len, 2);
	write_file(f.snap, buf, len);
	refused(f.snap, "block 2 is not a dictionary block; the header says 2 of them");

	/* dropped, and the header's count with it: slot 1's pages name a
	 * dictionary the file does not carry (restored pages taken out) */
	put_le(buf + 32 + 24, 1, 4);
	reseal(buf, 0);
	write_file(f.snap, buf, len);
	refused(f.snap, "names dictionary slot 1, which the snapshot does not carry");
	free(buf);
	free(orig);
	files_gone(&f);
}
END_TEST

/* The version 2 sample's store: DICT_SAMPLE_PAGES log pages, on one
 * dictionary of 4 KiB trained from 64 of them (the least a training
 * takes), the others discarded; a same-filled and a plain page after. */
enum { DICT_SAMPLE_PAGES = 4 };

static struct uz_store *dict_sample_store(void)
{
	struct uz_store *st = dict_store(NULL);
	uint8_t page[UZ_PAGE_SIZE];

	put_logs(st, 0, UZ_DICT_MIN_SAMPLES);
	train(st, UZ_DICT_MIN_SAMPLES, 4096);
	recompress(st, UZ_WB_ALL, UZ_DICT_MIN_SAMPLES);
	ck_assert_int_eq(uz_store_discard(st, DICT_SAMPLE_PAGES * UZ_PAGE_SIZE,
					  (UZ_DICT_MIN_SAMPLES - DICT_SAMPLE_PAGES) * UZ_PAGE_SIZE), 0);
	memset(page, 0x5a, sizeof(page));
	ck_assert_int_eq(uz_store_write(st, page, sizeof(page), DICT_SAMPLE_PAGES * UZ_PAGE_SIZE), 0);
	put_logs(st, DICT_SAMPLE_PAGES + 1, 1);
	uz_test_store_ok(st);
	return st;
}

/* The version 2 samples (_i: the older frames, then the current ones),
 * restored: the dictionary in slot 0 (id 1, current) and every page as
 * written. */
START_TEST(sample_v2_restores)
{
	static const char *const samples[] = { SAMPLE_V2, SAMPLE_V2_RAWLIT };
	struct uz_store *st = dict_store(NULL);
	struct uz_snapshot_info ri;
	struct uz_store_stats s;
	char err[512] = "";

	ck_assert_msg(uz_store_restore(st, samples[_i], &ri, err, sizeof(err)) == 0, "restore %s: %s", samples[_i],
		      err);
	ck_assert_uint_eq(ri.pages, DICT_SAMPLE_PAGES + 2);
	ck_assert_uint_eq(ri.file_bytes, 4 * BLOCK);
	uz_store_stats(st, &s);
	ck_assert_uint_eq(s.dicts[0].id, 1);
	ck_assert(s.dicts[0].current);
	ck_assert_uint_eq(s.dicts[0].size, 4096);
	ck_assert_uint_eq(s.dicts[0].pages, DICT_SAMPLE_PAGES);
	ck_assert_uint_eq(s.dicts[1].id, 0);
	ck_assert_uint_eq(s.same_pages, 1);
	check_logs(st, DICT_SAMPLE_PAGES, true);
	uz_test_store_ok(st);
	uz_store_destroy(st);
}
END_TEST

/* A snapshot of the version 2 sample's store is the sample (with the
 * current zstd frames), byte for byte, but for its clock fields and the
 * checksums that cover them. */
START_TEST(snapshot_writes_the_v2_sample)
{
	/* block 0 the header, 1 the dictionary, 2 data, 3 the trailer */
	static const struct {
		size_t at, len;
	} clock_fields[] = {
		{ 24, 8 }, { 32 + 16, 8 }, { 3 * BLOCK + 24, 8 }, { 3 * BLOCK + 32 + 32, 8 },
	};
	struct sample_files f;
	struct uz_snapshot_info si;
	uint8_t *want, *got;
	size_t wlen, glen;
	char err[512] = "";
	struct uz_store *st;

	files_make(&f);
	st = dict_sample_store();
	ck_assert_msg(uz_store_snapshot(st, f.snap, &si, err, sizeof(err)) == 0, "snapshot: %s", err);
	uz_store_destroy(st);
	want = read_file(SAMPLE_V2_RAWLIT, &wlen);
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

/* What the version 2 sample must not hold: a page naming slot 1, which
 * it does not carry; and the dictionary codec's bit in a version 1 file. */
START_TEST(sample_v2_refusals)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN };
	struct sample_files f;
	struct uz_snapshot_info ri;
	char err[512] = "";
	struct uz_store *st;
	uint8_t *buf;
	size_t len;

	files_make(&f);
	buf = read_file(SAMPLE_V2, &len);
	ck_assert_uint_eq(buf[2 * BLOCK + 32 + 11] & 0x07, 0x05); /* page 0: zstd against slot 0 (6: bits 24, 26) */
	buf[2 * BLOCK + 32 + 11] |= 0x02; /* bit 25: slot 1 (7) */
	reseal(buf, 2);
	write_file(f.snap, buf, len);
	refused(f.snap, "page 0 names dictionary slot 1, which the snapshot does not carry");
	free(buf);

	buf = read_file(SAMPLE, &len);
	buf[BLOCK + 32 + 8 + 3] |= 0x01; /* bit 24 of the first record */
	reseal(buf, 1);
	write_file(f.snap, buf, len);
	st = uz_store_create(SAMPLE_DISK, &cfg);
	ck_assert_int_eq(uz_store_restore(st, f.snap, &ri, err, sizeof(err)), -EBADMSG);
	ck_assert_msg(strstr(err, "block 1: a malformed page record") != NULL, "%s", err);
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

/* --write-sample-v2 FILE: makes the version 2 sample. */
START_TEST(write_sample_v2)
{
	struct uz_snapshot_info si;
	char err[512] = "";
	struct uz_store *st = dict_sample_store();

	ck_assert_msg(uz_store_snapshot(st, sample_out, &si, err, sizeof(err)) == 0, "%s", err);
	uz_store_destroy(st);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("format");

	if (argc == 3 && !strcmp(argv[1], "--write-sample")) {
		sample_out = argv[2];
		tcase_add_test(tc, write_sample);
	} else if (argc == 3 && !strcmp(argv[1], "--write-sample-v2")) {
		sample_out = argv[2];
		tcase_add_test(tc, write_sample_v2);
	} else {
		tcase_add_test(tc, sample_restores);
		tcase_add_test(tc, snapshot_writes_the_sample);
		tcase_add_test(tc, sample_refusals);
		tcase_add_test(tc, two_dictionaries_restore);
		tcase_add_test(tc, dictionary_refusals);
		tcase_add_test(tc, large_dictionary_spans_blocks);
		tcase_add_loop_test(tc, sample_v2_restores, 0, 2);
		tcase_add_test(tc, snapshot_writes_the_v2_sample);
		tcase_add_test(tc, sample_v2_refusals);
	}
	suite_add_tcase(s, tc);
	return uz_run_suite(s);
}
