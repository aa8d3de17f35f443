/* compress/codec.h - the page compressors behind one small interface.
 *
 * LZ4 is the primary algorithm: every page is written with it (page.h).
 * zstd and LZ4HC are the secondary ones, which recompress pages that went
 * cold.  Each thread keeps its own contexts, made on its first use of an
 * algorithm and freed when it exits: no allocation per page.
 *
 * Knows nothing of the store.
 */
#ifndef UZ_COMPRESS_CODEC_H
#define UZ_COMPRESS_CODEC_H

#include <stddef.h>

#include "page.h"

/* The values are what a slot records (store/slot.h): keep them. */
enum uz_algo {
	UZ_ALGO_LZ4 = 0,
	UZ_ALGO_ZSTD = 1,
	UZ_ALGO_LZ4HC = 2,
	UZ_ALGO_COUNT
};

/* An algorithm and its level (0: the algorithm's default). */
struct uz_codec {
	enum uz_algo algo;
	int level;
};

/* zstd's own default, as zram and zram-generator use it. */
#define UZ_ZSTD_DEFAULT_LEVEL 3
#define UZ_LZ4HC_DEFAULT_LEVEL 9

/* The algorithm's name as zram spells it ("lz4", "zstd", "lz4hc"), or
 * NULL for a value out of range. */
const char *uz_algo_name(enum uz_algo a);

/* Parses "NAME", "NAME:LEVEL" or zram-generator's "NAME(level=LEVEL)",
 * NAME one of lz4, zstd, lz4hc.  Returns 0, or -EINVAL (unknown name,
 * malformed or out-of-range level; *c unchanged). */
int uz_codec_parse(const char *s, struct uz_codec *c);

/* Writes "NAME:LEVEL" (the level resolved) into buf. */
void uz_codec_format(const struct uz_codec *c, char *buf, size_t len);

/* The level actually used: c->level, or the algorithm's default. */
int uz_codec_level(const struct uz_codec *c);

/* Compresses one page into dst (capacity cap).  Returns the compressed
 * length (> 0), 0 when the output does not fit in cap, or -ENOMEM when
 * this thread's context cannot be made. */
int uz_codec_compress(const struct uz_codec *c, const void *page, void *dst, int cap);

/* Decompresses len bytes of src, written by algorithm a, into one page.
 * Returns 0, -EIO when the input is corrupt or does not decode to exactly
 * one page, or -ENOMEM when this thread's context cannot be made. */
int uz_codec_decompress(enum uz_algo a, const void *src, int len, void *page);

/* Makes the calling thread's decompression contexts now and runs each
 * once, so that reading a page of any algorithm later neither allocates
 * nor touches memory for the first time.  Returns 0 or -ENOMEM. */
int uz_codec_thread_warm(void);

#endif
