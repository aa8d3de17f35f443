/* tests/check_compress.c - compress/page.c and compress/codec.c */
#include "check_util.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../compress/codec.h"
#include "../compress/dict.h"
#include "../compress/page.h"

static uint8_t page[UZ_PAGE_SIZE], out[UZ_PAGE_SIZE], cbuf[UZ_COMPRESS_BOUND];

static void text_page(uint8_t *p)
{
	static const char words[] = "static int uz_store_write(struct uz_store *st) { return 0; }\n";

	for (size_t i = 0; i < UZ_PAGE_SIZE; i++)
		p[i] = (uint8_t)words[(i * 7 + i / 64) % (sizeof(words) - 1)];
}

START_TEST(roundtrip_text)
{
	int n;

	text_page(page);
	n = uz_page_compress(page, cbuf, sizeof(cbuf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_lt(n, (int)UZ_PAGE_SIZE / 2);
	ck_assert_int_eq(uz_page_decompress(cbuf, n, out), 0);
	ck_assert_mem_eq(page, out, UZ_PAGE_SIZE);
}
END_TEST

START_TEST(incompressible_is_bigger_than_a_page)
{
	unsigned s = 99;
	int n;

	for (size_t i = 0; i < UZ_PAGE_SIZE; i++) {
		s = s * 1103515245u + 12345u;
		page[i] = (uint8_t)(s >> 16);
	}
	n = uz_page_compress(page, cbuf, sizeof(cbuf));
	ck_assert_int_gt(n, (int)UZ_PAGE_SIZE);
	ck_assert_int_le(n, (int)UZ_COMPRESS_BOUND);
	ck_assert_int_eq(uz_page_decompress(cbuf, n, out), 0);
	ck_assert_mem_eq(page, out, UZ_PAGE_SIZE);
	/* A buffer too small for the output: reported as 0, not overrun. */
	ck_assert_int_eq(uz_page_compress(page, cbuf, 1000), 0);
}
END_TEST

START_TEST(corrupt_input_is_an_error)
{
	int n;

	text_page(page);
	n = uz_page_compress(page, cbuf, sizeof(cbuf));
	ck_assert_int_eq(uz_page_decompress(cbuf, n - 5, out), -EIO); /* truncated */
	memset(cbuf, 0xff, sizeof(cbuf));
	ck_assert_int_eq(uz_page_decompress(cbuf, 64, out), -EIO); /* garbage */
	ck_assert_int_eq(uz_page_decompress(cbuf, 0, out), -EIO);
}
END_TEST

START_TEST(same_filled)
{
	uint64_t w = 1, pat = 0x0123456789abcdefull;

	memset(page, 0, sizeof(page));
	ck_assert(uz_page_same_filled(page, &w));
	ck_assert_uint_eq(w, 0);
	uz_page_fill(out, pat);
	ck_assert(uz_page_same_filled(out, &w));
	ck_assert_uint_eq(w, pat);
	uz_page_fill(page, w);
	ck_assert_mem_eq(page, out, UZ_PAGE_SIZE);
	/* One differing byte anywhere breaks it: first word, middle, last. */
	for (size_t at = 0; at < UZ_PAGE_SIZE; at += 1021) {
		uz_page_fill(page, pat);
		page[at] ^= 1;
		ck_assert_msg(!uz_page_same_filled(page, &w), "byte %zu", at);
	}
	uz_page_fill(page, pat);
	page[UZ_PAGE_SIZE - 1] ^= 1;
	ck_assert(!uz_page_same_filled(page, &w));
	/* A repeated byte is a repeated word too. */
	memset(page, 0x5a, sizeof(page));
	ck_assert(uz_page_same_filled(page, &w));
	ck_assert_uint_eq(w, 0x5a5a5a5a5a5a5a5aull);
	uz_page_fill(out, 0);
	memset(page, 0, sizeof(page));
	ck_assert_mem_eq(page, out, UZ_PAGE_SIZE);
}
END_TEST

/* Every kind of page a device holds: zeros, a repeated word, text,
 * noise, 4-bit noise (which only an entropy coder shrinks), half noise
 * and half zeros, a few bytes in zeros, a short repeated pattern. */
enum { KINDS = 8 };

static void page_of_kind(uint8_t *p, int kind)
{
	unsigned s = 7u + (unsigned)kind;

	for (size_t i = 0; i < UZ_PAGE_SIZE; i++) {
		s = s * 1103515245u + 12345u;
		switch (kind) {
		case 0: p[i] = 0; break;
		case 1: p[i] = (uint8_t)(0xa5 ^ (i % 8)); break;
		case 2: p[i] = (uint8_t)"int main(void) { return uz_run(); }\n"[(i * 5 + i / 100) % 36]; break;
		case 3: p[i] = (uint8_t)(s >> 16); break;
		case 4: p[i] = (uint8_t)(s >> 28); break;
		case 5: p[i] = i < UZ_PAGE_SIZE / 2 ? (uint8_t)(s >> 16) : 0; break;
		case 6: p[i] = i % 997 == 0 ? (uint8_t)(s >> 16) : 0; break;
		default: p[i] = (uint8_t)"uzram!"[i % 6]; break;
		}
	}
}

static const struct uz_codec codecs[] = {
	{ UZ_ALGO_LZ4, 0 },   { UZ_ALGO_ZSTD, 0 }, { UZ_ALGO_ZSTD, 1 },  { UZ_ALGO_ZSTD, 19 },
	{ UZ_ALGO_LZ4HC, 0 }, { UZ_ALGO_LZ4HC, 3 }, { UZ_ALGO_LZ4HC, 12 },
};

/* Each algorithm, at several levels, round-trips every kind of page; a
 * page that does not fit the buffer given is reported as 0, not overrun. */
START_TEST(every_algorithm_round_trips_every_page)
{
	const struct uz_codec *c = &codecs[_i];

	for (int kind = 0; kind < KINDS; kind++) {
		int n;

		page_of_kind(page, kind);
		n = uz_codec_compress(c, page, cbuf, sizeof(cbuf));
		ck_assert_msg(n > 0, "%s level %d, kind %d: %d", uz_algo_name(c->algo), c->level, kind, n);
		memset(out, 0x33, sizeof(out));
		ck_assert_int_eq(uz_codec_decompress(c->algo, cbuf, n, out), 0);
		ck_assert_msg(memcmp(page, out, UZ_PAGE_SIZE) == 0, "%s, kind %d", uz_algo_name(c->algo), kind);
		if (n > 2)
			ck_assert_int_eq(uz_codec_compress(c, page, cbuf, n - 1 > 1 ? n - 2 : 1), 0);
		/* truncated input is an error */
		ck_assert_int_eq(uz_codec_decompress(c->algo, cbuf, n > 1 ? n - 1 : 0, out), -EIO);
	}
}
END_TEST

/* The secondary algorithms do what they are there for: smaller than LZ4
 * on text; zstd shrinks 4-bit noise that LZ4 cannot. */
START_TEST(secondary_algorithms_are_smaller)
{
	const struct uz_codec lz4 = { UZ_ALGO_LZ4, 0 }, zstd = { UZ_ALGO_ZSTD, 0 }, hc = { UZ_ALGO_LZ4HC, 0 };
	int a, b, c;

	page_of_kind(page, 2);
	a = uz_codec_compress(&lz4, page, cbuf, sizeof(cbuf));
	b = uz_codec_compress(&zstd, page, cbuf, sizeof(cbuf));
	c = uz_codec_compress(&hc, page, cbuf, sizeof(cbuf));
	ck_assert_int_lt(b, a);
	ck_assert_int_le(c, a);
	page_of_kind(page, 4);
	ck_assert_int_ge(uz_codec_compress(&lz4, page, cbuf, sizeof(cbuf)), (int)UZ_PAGE_SIZE); /* stored raw */
	ck_assert_int_lt(uz_codec_compress(&zstd, page, cbuf, sizeof(cbuf)), (int)UZ_PAGE_SIZE * 6 / 10);
}
END_TEST

/* Bytes written by one algorithm never decode as a page by the other:
 * zstd's output is no LZ4 block of 4096 bytes, LZ4's is no zstd frame. */
START_TEST(wrong_algorithm_is_an_error)
{
	const struct uz_codec lz4 = { UZ_ALGO_LZ4, 0 }, zstd = { UZ_ALGO_ZSTD, 0 };

	for (int kind = 1; kind < KINDS; kind++) {
		int n;

		page_of_kind(page, kind);
		n = uz_codec_compress(&zstd, page, cbuf, sizeof(cbuf));
		ck_assert_int_eq(uz_codec_decompress(UZ_ALGO_LZ4, cbuf, n, out), -EIO);
		n = uz_codec_compress(&lz4, page, cbuf, sizeof(cbuf));
		ck_assert_int_eq(uz_codec_decompress(UZ_ALGO_ZSTD, cbuf, n, out), -EIO);
	}
	memset(cbuf, 0xff, 64);
	ck_assert_int_eq(uz_codec_decompress(UZ_ALGO_ZSTD, cbuf, 64, out), -EIO);
	ck_assert_int_eq(uz_codec_decompress(UZ_ALGO_ZSTD, cbuf, 0, out), -EIO);
	ck_assert_int_eq(uz_codec_decompress((enum uz_algo)7, cbuf, 64, out), -EIO);
}
END_TEST

START_TEST(codec_names_and_levels)
{
	static const struct {
		const char *s;
		int ok;
		enum uz_algo algo;
		int level;
		const char *formatted;
	} cases[] = {
		{ "lz4", 1, UZ_ALGO_LZ4, 0, "lz4" },
		{ "zstd", 1, UZ_ALGO_ZSTD, 0, "zstd:3" },
		{ "zstd:1", 1, UZ_ALGO_ZSTD, 1, "zstd:1" },
		{ "zstd:22", 1, UZ_ALGO_ZSTD, 22, "zstd:22" },
		{ "zstd(level=5)", 1, UZ_ALGO_ZSTD, 5, "zstd:5" },
		{ "lz4hc", 1, UZ_ALGO_LZ4HC, 0, "lz4hc:9" },
		{ "lz4hc:12", 1, UZ_ALGO_LZ4HC, 12, "lz4hc:12" },
		{ "lz4hc(level=4)", 1, UZ_ALGO_LZ4HC, 4, "lz4hc:4" },
		{ "zstd:0", 0, UZ_ALGO_LZ4, 0, NULL }, { "zstd:23", 0, UZ_ALGO_LZ4, 0, NULL }, { "zstd:", 0, UZ_ALGO_LZ4, 0, NULL }, { "zstd:x", 0, UZ_ALGO_LZ4, 0, NULL }, { "zstd:-1", 0, UZ_ALGO_LZ4, 0, NULL },
		{ "zstd:003", 0, UZ_ALGO_LZ4, 0, NULL }, { "lz4:3", 0, UZ_ALGO_LZ4, 0, NULL }, { "lz4hc:2", 0, UZ_ALGO_LZ4, 0, NULL }, { "lz4hc:13", 0, UZ_ALGO_LZ4, 0, NULL }, { "gzip", 0, UZ_ALGO_LZ4, 0, NULL },
		{ "", 0, UZ_ALGO_LZ4, 0, NULL }, { "zstd(level=3", 0, UZ_ALGO_LZ4, 0, NULL }, { "zstd(level=)", 0, UZ_ALGO_LZ4, 0, NULL }, { "lz4hcx", 0, UZ_ALGO_LZ4, 0, NULL }, { "ZSTD", 0, UZ_ALGO_LZ4, 0, NULL },
		{ "zstd ", 0, UZ_ALGO_LZ4, 0, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct uz_codec c = { UZ_ALGO_LZ4HC, 11 };
		char buf[32];
		int r = uz_codec_parse(cases[i].s, &c);

		ck_assert_msg(cases[i].ok ? r == 0 : r == -EINVAL, "'%s': %d", cases[i].s, r);
		if (!cases[i].ok) {
			ck_assert_int_eq(c.algo, UZ_ALGO_LZ4HC); /* unchanged */
			ck_assert_int_eq(c.level, 11);
			continue;
		}
		ck_assert_int_eq(c.algo, cases[i].algo);
		ck_assert_int_eq(c.level, cases[i].level);
		uz_codec_format(&c, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].formatted);
	}
	ck_assert_str_eq(uz_algo_name(UZ_ALGO_ZSTD), "zstd");
	ck_assert_ptr_null(uz_algo_name(UZ_ALGO_COUNT));
}
END_TEST

/* Each thread its own contexts: threads compressing and decompressing at
 * once all get the right pages. */
static void *codec_thread(void *arg)
{
	static const struct uz_codec zstd = { UZ_ALGO_ZSTD, 0 }, hc = { UZ_ALGO_LZ4HC, 0 };
	uint8_t p[UZ_PAGE_SIZE], o[UZ_PAGE_SIZE], c[UZ_COMPRESS_BOUND];
	long bad = 0;

	for (int i = 0; i < 300; i++) {
		int kind = (int)((i + (intptr_t)arg) % KINDS), n;
		const struct uz_codec *k = i % 2 ? &zstd : &hc;

		page_of_kind(p, kind);
		n = uz_codec_compress(k, p, c, sizeof(c));
		if (n <= 0 || uz_codec_decompress(k->algo, c, n, o) || memcmp(p, o, sizeof(p)))
			bad++;
	}
	return (void *)bad;
}

START_TEST(contexts_are_per_thread)
{
	pthread_t t[4];
	void *bad;

	for (intptr_t i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, codec_thread, (void *)i), 0);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(t[i], &bad), 0);
		ck_assert_ptr_null(bad);
	}
}
END_TEST

/* Pages of one made-up code base: lines of tokens from one vocabulary,
 * in an order of their own per page (seed), so that pages share words
 * and phrases but no page repeats another. */
static void code_page(uint8_t *p, unsigned seed)
{
	static const char *const words[] = {
		"static ", "int ", "return ", "struct uz_store *st", "if (", ") {\n", "}\n", "for (size_t i = 0; ",
		"i < n; i++)", "pthread_mutex_lock(&st->lock);\n", "pthread_mutex_unlock(&st->lock);\n",
		"uint64_t ", "const void *page", " = ", ";\n", "\t", "/* the slot's object */\n", "-ENOMEM",
		"afm_alloc(a, len)", "memcpy(dst, src, len)", "errno", "goto out;\n", "NULL", "sizeof(*s)",
	};
	unsigned s = seed * 2654435761u + 1, n = sizeof(words) / sizeof(words[0]);
	size_t i = 0;

	while (i < UZ_PAGE_SIZE) {
		const char *w;

		s = s * 1103515245u + 12345u;
		w = words[(s >> 16) % n];
		for (; *w && i < UZ_PAGE_SIZE; w++)
			p[i++] = (uint8_t)*w;
		if ((s >> 8) % 7 == 0 && i < UZ_PAGE_SIZE)
			p[i++] = (uint8_t)('0' + (s >> 4) % 10); /* a number here and there */
	}
}

enum { DICT_SAMPLES = 256 };

static struct uz_dict *code_dict(unsigned base, size_t cap, int level)
{
	uint8_t *sample = malloc((size_t)DICT_SAMPLES * UZ_PAGE_SIZE);
	struct uz_dict *d;

	ck_assert_ptr_nonnull(sample);
	for (unsigned i = 0; i < DICT_SAMPLES; i++)
		code_page(sample + (size_t)i * UZ_PAGE_SIZE, base + i);
	d = uz_dict_train(sample, DICT_SAMPLES, cap, level);
	free(sample);
	ck_assert_msg(d != NULL, "training: %s", strerror(errno));
	return d;
}

/* With a dictionary, LZ4 and zstd round-trip every kind of page, report
 * a page that does not fit as 0, and refuse truncated input. */
START_TEST(dictionary_round_trips_every_page)
{
	const struct uz_codec cs[] = { { UZ_ALGO_LZ4, 0 }, { UZ_ALGO_ZSTD, 0 }, { UZ_ALGO_ZSTD, 1 }, { UZ_ALGO_ZSTD, 19 } };
	struct uz_dict *d = code_dict(1, 16384, UZ_ZSTD_DEFAULT_LEVEL);

	for (size_t k = 0; k < sizeof(cs) / sizeof(cs[0]); k++) {
		for (int kind = 0; kind <= KINDS; kind++) {
			int n;

			if (kind == KINDS)
				code_page(page, 100000); /* a page of the dictionary's kind */
			else
				page_of_kind(page, kind);
			n = uz_dict_compress(d, &cs[k], page, cbuf, sizeof(cbuf));
			ck_assert_msg(n > 0, "%s:%d kind %d: %d", uz_algo_name(cs[k].algo), cs[k].level, kind, n);
			memset(out, 0x33, sizeof(out));
			ck_assert_int_eq(uz_dict_decompress(d, cs[k].algo, cbuf, n, out), 0);
			ck_assert_msg(memcmp(page, out, UZ_PAGE_SIZE) == 0, "%s kind %d", uz_algo_name(cs[k].algo), kind);
			if (n > 2)
				ck_assert_int_eq(uz_dict_compress(d, &cs[k], page, cbuf, n - 2), 0);
			ck_assert_int_eq(uz_dict_decompress(d, cs[k].algo, cbuf, n > 1 ? n - 1 : 0, out), -EIO);
		}
	}
	uz_dict_free(d);
}
END_TEST

/* The dictionary is what it is there for: pages of its kind come out
 * smaller than without it, with both algorithms; and a dictionary made
 * again from its raw content decodes what the first one wrote. */
START_TEST(dictionary_makes_pages_smaller)
{
	const struct uz_codec cs[] = { { UZ_ALGO_LZ4, 0 }, { UZ_ALGO_ZSTD, 0 } };
	struct uz_dict *d = code_dict(1, 16384, UZ_ZSTD_DEFAULT_LEVEL), *again;
	size_t len;
	const void *raw = uz_dict_raw(d, &len);

	ck_assert_uint_ge(len, UZ_DICT_MIN_SIZE);
	ck_assert_uint_le(len, 16384);
	ck_assert_uint_gt(uz_dict_mem(d), len);
	again = uz_dict_load(raw, len, UZ_ZSTD_DEFAULT_LEVEL);
	ck_assert_ptr_nonnull(again);
	for (size_t k = 0; k < 2; k++) {
		uint64_t plain = 0, with = 0;

		for (unsigned i = 0; i < 32; i++) {
			int a, b;

			code_page(page, 200000 + i);
			a = uz_codec_compress(&cs[k], page, cbuf, sizeof(cbuf));
			b = uz_dict_compress(d, &cs[k], page, cbuf, sizeof(cbuf));
			ck_assert_int_gt(a, 0);
			ck_assert_int_gt(b, 0);
			plain += (uint64_t)a;
			with += (uint64_t)b;
			ck_assert_int_eq(uz_dict_decompress(again, cs[k].algo, cbuf, b, out), 0);
			ck_assert(memcmp(page, out, UZ_PAGE_SIZE) == 0);
		}
		ck_assert_msg(with * 10 < plain * 9, "%s: %llu bytes with the dictionary, %llu without",
			      uz_algo_name(cs[k].algo), (unsigned long long)with, (unsigned long long)plain);
	}
	/* zstd's compression tables: made by the first compression, held
	 * apart from uz_dict_mem, dropped, made again; the frames the same */
	{
		uint8_t first[UZ_COMPRESS_BOUND];
		size_t mem = uz_dict_mem(d);
		int a, b;

		code_page(page, 300000);
		ck_assert_uint_gt(uz_dict_tables_mem(d), 0);
		a = uz_dict_compress(d, &cs[1], page, first, sizeof(first));
		uz_dict_drop_tables(d);
		ck_assert_uint_eq(uz_dict_tables_mem(d), 0);
		ck_assert_uint_eq(uz_dict_mem(d), mem);
		b = uz_dict_compress(d, &cs[1], page, cbuf, sizeof(cbuf));
		ck_assert_uint_gt(uz_dict_tables_mem(d), 0);
		ck_assert_int_gt(a, 0);
		ck_assert_int_eq(a, b);
		ck_assert(memcmp(first, cbuf, (size_t)a) == 0);
		uz_dict_drop_tables(d);
		uz_dict_drop_tables(NULL);
	}
	uz_dict_free(again);
	uz_dict_free(d);
}
END_TEST

/* What cannot make a dictionary is refused with EINVAL, and LZ4HC takes
 * none; zstd input decoded with another dictionary is an error or at
 * least not the page. */
START_TEST(dictionary_bad_input)
{
	static uint8_t junk[UZ_DICT_MIN_SIZE];
	uint8_t *few = calloc(UZ_DICT_MIN_SAMPLES - 1, UZ_PAGE_SIZE);
	const struct uz_codec hc = { UZ_ALGO_LZ4HC, 0 }, z = { UZ_ALGO_ZSTD, 0 };
	struct uz_dict *d = code_dict(1, 8192, UZ_ZSTD_DEFAULT_LEVEL), *other = code_dict(5000, 8192, 3);
	size_t len;
	const void *raw = uz_dict_raw(d, &len);
	int n;

	ck_assert_ptr_nonnull(few);
	errno = 0;
	ck_assert_ptr_null(uz_dict_train(few, UZ_DICT_MIN_SAMPLES - 1, 8192, 3));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(uz_dict_train(few, UZ_DICT_MIN_SAMPLES - 1, UZ_DICT_MIN_SIZE - 1, 3));
	ck_assert_int_eq(errno, EINVAL);
	free(few);
	errno = 0;
	ck_assert_ptr_null(uz_dict_load(raw, UZ_DICT_MIN_SIZE - 1, 3));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(uz_dict_load(raw, len, 23));
	ck_assert_int_eq(errno, EINVAL);
	/* zstd's magic with corrupt tables after it */
	memcpy(junk, raw, 8);
	errno = 0;
	ck_assert_ptr_null(uz_dict_load(junk, sizeof(junk), 3));
	ck_assert_int_eq(errno, EINVAL);
	code_page(page, 300000);
	ck_assert_int_eq(uz_dict_compress(d, &hc, page, cbuf, sizeof(cbuf)), -EINVAL);
	n = uz_dict_compress(d, &z, page, cbuf, sizeof(cbuf));
	ck_assert_int_gt(n, 0);
	memset(out, 0, sizeof(out));
	ck_assert(uz_dict_decompress(other, UZ_ALGO_ZSTD, cbuf, n, out) != 0 || memcmp(out, page, UZ_PAGE_SIZE) != 0);
	ck_assert_int_eq(uz_dict_decompress(d, UZ_ALGO_LZ4HC, cbuf, n, out), -EIO);
	uz_dict_free(other);
	uz_dict_free(d);
	uz_dict_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("compress");
	TCase *tc = uz_tcase(s, "page", 0,
			     UZ_TESTS(roundtrip_text, incompressible_is_bigger_than_a_page, corrupt_input_is_an_error,
				      same_filled, secondary_algorithms_are_smaller, wrong_algorithm_is_an_error,
				      codec_names_and_levels, contexts_are_per_thread));

	tcase_add_loop_test(tc, every_algorithm_round_trips_every_page, 0, (int)(sizeof(codecs) / sizeof(codecs[0])));
	uz_tcase(s, "dictionary", 60,
		 UZ_TESTS(dictionary_round_trips_every_page, dictionary_makes_pages_smaller, dictionary_bad_input));
	return uz_run_suite(s);
}
