/* tests/bench/dictbench.c - what a trained dictionary buys per page.
 *
 * Usage: dictbench FILE [PAGES [DICT_BYTES]]
 * Samples PAGES pages (default 40000) evenly across FILE (say the seed's
 * kernel tar), skips same-filled ones, trains a dictionary of DICT_BYTES
 * (default 112640) on every second page and compresses the others, each
 * page on its own as the store does, with and without the dictionary:
 * LZ4 (the write path) and zstd at level 1 and 3 (recompression).  Prints
 * the compressed size as a share of the original, and microseconds per
 * page to compress and to decompress (best of 5 passes over the test
 * pages, one thread).  Every decoded page is compared with its original.
 * The row "zstd:3 stock" is libzstd's own level 3 against the same
 * dictionary (Huffman literals, level 3's parse: what compress/dict.c
 * wrote before it tuned its frames for decoding), for comparison.
 * Figures, not a pass/fail test; exits 1 only when a page does not
 * round-trip or the input cannot be read.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#include "../../compress/codec.h"
#include "../../compress/dict.h"

/* "zstd:3 stock": libzstd's level 3 with the frame options dict.c uses. */
static ZSTD_CCtx *stock_cctx;
static ZSTD_DCtx *stock_dctx;
static ZSTD_CDict *stock_cdict;
static ZSTD_DDict *stock_ddict;

static int stock_compress(const void *page, void *dst, int cap)
{
	size_t n;

	ZSTD_CCtx_reset(stock_cctx, ZSTD_reset_session_only);
	ZSTD_CCtx_refCDict(stock_cctx, stock_cdict);
	n = ZSTD_compress2(stock_cctx, dst, (size_t)cap, page, UZ_PAGE_SIZE);
	return ZSTD_isError(n) ? 0 : (int)n;
}

static int stock_decompress(const void *src, int len, void *page)
{
	size_t n = ZSTD_decompress_usingDDict(stock_dctx, page, UZ_PAGE_SIZE, src, (size_t)len, stock_ddict);

	return !ZSTD_isError(n) && n == UZ_PAGE_SIZE ? 0 : -1;
}

static int stock_init(const void *raw, size_t len)
{
	stock_cctx = ZSTD_createCCtx();
	stock_dctx = ZSTD_createDCtx();
	stock_cdict = ZSTD_createCDict(raw, len, 3);
	stock_ddict = ZSTD_createDDict(raw, len);
	if (!stock_cctx || !stock_dctx || !stock_cdict || !stock_ddict ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(stock_cctx, ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(stock_cctx, ZSTD_c_contentSizeFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(stock_cctx, ZSTD_c_dictIDFlag, 0)))
		return -1;
	return 0;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Passes over the test pages; each figure is the best (the machine is
 * shared and noisy). */
#define PASSES 5

struct result {
	double ratio, comp_us, decomp_us;
};

/* Compresses and decompresses every test page with c (against d, if not
 * NULL; "stock" rows: with stock_*() when d is not NULL).  Returns 0, or
 * -1 when a page does not round-trip. */
static int measure(const uint8_t *pages, size_t n, const struct uz_codec *c, const struct uz_dict *d, bool stock,
		   struct result *r)
{
	static uint8_t dst[UZ_COMPRESS_BOUND + 1024], out[UZ_PAGE_SIZE];
	double best_c = 1e30, best_d = 1e30;
	uint64_t bytes = 0;
	int *lens = malloc(n * sizeof(*lens));
	uint8_t *frames = malloc(n * sizeof(dst));

	if (!lens || !frames)
		return -1;
	/* All compression passes first, then all decompression passes: a
	 * compression pass in between (zstd's larger match tables) made the
	 * next decompression pass slower and noisier here. */
	for (int pass = 0; pass < PASSES; pass++) {
		double t0 = now();

		bytes = 0;
		for (size_t i = 0; i < n; i++) {
			const uint8_t *p = pages + i * UZ_PAGE_SIZE;
			uint8_t *f = frames + i * sizeof(dst);
			int len = d && stock ? stock_compress(p, f, (int)sizeof(dst))
				  : d	     ? uz_dict_compress(d, c, p, f, (int)sizeof(dst))
					     : uz_codec_compress(c, p, f, (int)sizeof(dst));

			if (len <= 0)
				return -1;
			lens[i] = len;
			bytes += (uint64_t)(len < (int)UZ_PAGE_SIZE ? len : (int)UZ_PAGE_SIZE);
		}
		if (now() - t0 < best_c)
			best_c = now() - t0;
	}
	for (int pass = 0; pass < PASSES; pass++) {
		double t0 = now();

		for (size_t i = 0; i < n; i++) {
			const uint8_t *f = frames + i * sizeof(dst);
			int e = d && stock ? stock_decompress(f, lens[i], out)
				: d	   ? uz_dict_decompress(d, c->algo, f, lens[i], out)
					   : uz_codec_decompress(c->algo, f, lens[i], out);

			if (e || memcmp(out, pages + i * UZ_PAGE_SIZE, UZ_PAGE_SIZE)) {
				fprintf(stderr, "page %zu does not round-trip\n", i);
				return -1;
			}
		}
		if (now() - t0 < best_d)
			best_d = now() - t0;
	}
	r->ratio = (double)bytes / ((double)n * UZ_PAGE_SIZE);
	r->comp_us = best_c * 1e6 / (double)n;
	r->decomp_us = best_d * 1e6 / (double)n;
	free(lens);
	free(frames);
	return 0;
}

int main(int argc, char **argv)
{
	size_t want = argc > 2 ? strtoul(argv[2], NULL, 10) : 40000;
	size_t cap = argc > 3 ? strtoul(argv[3], NULL, 10) : 112640;
	struct stat st;
	int fd;

	if (argc < 2 || want < 2 * UZ_DICT_MIN_SAMPLES) {
		fprintf(stderr, "usage: %s FILE [PAGES (>= %u) [DICT_BYTES]]\n", argv[0], 2 * UZ_DICT_MIN_SAMPLES);
		return 2;
	}
	fd = open(argv[1], O_RDONLY);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	size_t total = (size_t)st.st_size / UZ_PAGE_SIZE, n = 0;
	uint8_t *train = malloc((want / 2 + 1) * UZ_PAGE_SIZE), *test = malloc((want / 2 + 1) * UZ_PAGE_SIZE);
	size_t ntrain = 0, ntest = 0;

	if (!train || !test || total < want) {
		fprintf(stderr, "%s: fewer than %zu pages, or no memory\n", argv[1], want);
		return 1;
	}
	for (size_t i = 0; i < want; i++) {
		uint8_t page[UZ_PAGE_SIZE];
		uint64_t w;

		if (pread(fd, page, UZ_PAGE_SIZE, (off_t)((i * (total / want)) * UZ_PAGE_SIZE)) != UZ_PAGE_SIZE) {
			fprintf(stderr, "%s: short read\n", argv[1]);
			return 1;
		}
		if (uz_page_same_filled(page, &w))
			continue; /* the store keeps those without compressing */
		if (n++ % 2 == 0)
			memcpy(train + ntrain++ * UZ_PAGE_SIZE, page, UZ_PAGE_SIZE);
		else
			memcpy(test + ntest++ * UZ_PAGE_SIZE, page, UZ_PAGE_SIZE);
	}
	close(fd);
	double t0 = now();
	struct uz_dict *d = uz_dict_train(train, ntrain, cap, UZ_ZSTD_DEFAULT_LEVEL);
	double t_train = now() - t0;
	struct uz_dict *d1;
	size_t dlen;

	if (!d) {
		fprintf(stderr, "training failed: %s\n", strerror(errno));
		return 1;
	}
	const void *raw = uz_dict_raw(d, &dlen);

	if (stock_init(raw, dlen)) {
		fprintf(stderr, "libzstd's own level 3: no memory\n");
		return 1;
	}

	d1 = uz_dict_load(raw, dlen, 1);
	if (!d1) {
		fprintf(stderr, "loading at level 1 failed: %s\n", strerror(errno));
		return 1;
	}
	printf("%s: %zu pages sampled evenly (%zu same-filled skipped); trained on %zu, tested on %zu\n", argv[1],
	       want, want - n, ntrain, ntest);
	printf("dictionary: %zu bytes (asked %zu), %zu bytes of memory with its tables; trained in %.2f s\n", dlen,
	       cap, uz_dict_mem(d), t_train);
	printf("\n| codec        | size, no dict | size, dict | dict / none | compress us/page none / dict | decompress us/page none / dict |\n");
	printf("|--------------|---------------|------------|-------------|------------------------------|--------------------------------|\n");
	const struct {
		const char *name;
		struct uz_codec c;
		const struct uz_dict *d;
		bool stock;
	} rows[] = {
		{ "lz4", { UZ_ALGO_LZ4, 0 }, d, false },
		{ "zstd:1", { UZ_ALGO_ZSTD, 1 }, d1, false },
		{ "zstd:3", { UZ_ALGO_ZSTD, 3 }, d, false },
		{ "zstd:3 stock", { UZ_ALGO_ZSTD, 3 }, d, true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct result a, b;

		if (measure(test, ntest, &rows[i].c, NULL, false, &a) ||
		    measure(test, ntest, &rows[i].c, rows[i].d, rows[i].stock, &b))
			return 1;
		printf("| %-12s | %13.3f | %10.3f | %11.3f | %13.2f / %-12.2f | %15.2f / %-12.2f |\n", rows[i].name,
		       a.ratio, b.ratio, b.ratio / a.ratio, a.comp_us, b.comp_us, a.decomp_us, b.decomp_us);
	}
	printf("\nsize: compressed bytes / original bytes (a page that does not shrink counts 4096)\n");
	ZSTD_freeCCtx(stock_cctx);
	ZSTD_freeDCtx(stock_dctx);
	ZSTD_freeCDict(stock_cdict);
	ZSTD_freeDDict(stock_ddict);
	uz_dict_free(d);
	uz_dict_free(d1);
	free(train);
	free(test);
	return 0;
}
