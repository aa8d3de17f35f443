/* compress/dict.h - compression dictionaries trained from stored pages.
 *
 * A single 4 KiB page is too short for a compressor to learn its data; a
 * dictionary trained on a sample of the device's own pages gives it that
 * history.  One struct uz_dict serves both algorithms that take one:
 *   - zstd: the trained dictionary with prebuilt tables (ZSTD_CDict at one
 *     level, ZSTD_DDict, both referring to the one copy of the content),
 *     frames without checksum, content size or dictionary id (the caller
 *     records which dictionary it used), made quick to decode: literals
 *     raw, a lazy parse with matches of 5 bytes at least (dict.c says
 *     why; any zstd decoder reads them);
 *   - LZ4: the dictionary's last 64 KiB as the window that precedes the
 *     page: each thread copies the window once, right before room for a
 *     page, and hashes it once; each page is copied after it and the
 *     table copied fresh (16 KiB), so LZ4 runs in its prefix mode
 *     (liblz4 does not export LZ4_attach_dictionary).  Decoded with
 *     LZ4_decompress_safe_usingDict.
 * A dictionary is immutable once made and may be used by any number of
 * threads at once; each thread keeps its own contexts, made on its first
 * use and freed when it exits.
 *
 * Knows nothing of the store: which page uses which dictionary, and when
 * a dictionary may be freed, is the caller's to track.
 */
#ifndef UZ_COMPRESS_DICT_H
#define UZ_COMPRESS_DICT_H

#include <stddef.h>

#include "codec.h"

struct uz_dict;

/* Bounds of a dictionary's size, in bytes: zstd's trainer wants at least
 * 1 KiB; beyond 1 MiB a page gains nothing more and the tables grow. */
#define UZ_DICT_MIN_SIZE 1024u
#define UZ_DICT_MAX_SIZE (1024u * 1024)
/* The least sample worth training on: ZDICT wants about 10 samples per
 * KiB of dictionary at least; fewer pages than this always fail. */
#define UZ_DICT_MIN_SAMPLES 64u

/* Trains a dictionary of at most cap bytes (UZ_DICT_MIN_SIZE ..
 * UZ_DICT_MAX_SIZE) from n pages, contiguous in pages, and makes it ready
 * for zstd at level zstd_level (1..22) and for LZ4.  Returns the
 * dictionary, or NULL with errno set: EINVAL (cap or level out of range,
 * fewer than UZ_DICT_MIN_SAMPLES pages, or training failed: the sample
 * holds too little in common), ENOMEM. */
struct uz_dict *uz_dict_train(const void *pages, size_t n, size_t cap, int zstd_level);

/* Makes a dictionary from raw content (what uz_dict_raw returned, say
 * from a snapshot), ready as uz_dict_train's.  The content is copied.
 * Returns the dictionary, or NULL with errno set: EINVAL (len outside
 * UZ_DICT_MIN_SIZE .. UZ_DICT_MAX_SIZE, level out of range, or content
 * zstd refuses), ENOMEM. */
struct uz_dict *uz_dict_load(const void *raw, size_t len, int zstd_level);

/* Frees a dictionary; NULL is a no-op.  No thread may be using it. */
void uz_dict_free(struct uz_dict *d);

/* The dictionary's raw content and its length (into *len). */
const void *uz_dict_raw(const struct uz_dict *d, size_t *len);

/* Bytes of memory the dictionary holds for good: its content and zstd's
 * decoding tables (each thread that compresses LZ4 against it also keeps
 * 100 KiB of its own, reused for the next dictionary).  zstd's
 * compression tables come and go: uz_dict_tables_mem. */
size_t uz_dict_mem(const struct uz_dict *d);

/* Bytes of zstd's compression tables d holds now: made by the first zstd
 * compression against it (about 0.7 MB for 110 KiB at level 3 to 6),
 * until uz_dict_drop_tables(); 0 when it has none. */
size_t uz_dict_tables_mem(const struct uz_dict *d);

/* Frees zstd's compression tables of d, if made; the next zstd
 * compression against it makes them again.  No thread may be compressing
 * with zstd against d meanwhile.  NULL is a no-op. */
void uz_dict_drop_tables(struct uz_dict *d);

/* Compresses one page with algorithm c->algo against d, from any number
 * of threads.  zstd uses the dictionary's prebuilt tables (made on the
 * first such call: uz_dict_tables_mem) when c's level is the one d was made for,
 * and loads the dictionary at c's level otherwise (slower); levels below 6
 * search as level 6 does (dict.c).  Returns the
 * compressed length (> 0), 0 when the output does not fit in cap, -EINVAL
 * for LZ4HC (its 256 KiB state is too large to prepare per page: LZ4HC
 * pages take no dictionary), or -ENOMEM when this thread's contexts cannot
 * be made. */
int uz_dict_compress(const struct uz_dict *d, const struct uz_codec *c, const void *page, void *dst, int cap);

/* Decompresses len bytes of src, written by algorithm a against d, into
 * one page (a: UZ_ALGO_LZ4 or UZ_ALGO_ZSTD).  Returns 0, -EIO when a is
 * not one of them or the input is corrupt (or was made with another
 * dictionary and does not decode to exactly one page), or -ENOMEM when
 * this thread's context cannot be made. */
int uz_dict_decompress(const struct uz_dict *d, enum uz_algo a, const void *src, int len, void *page);

#endif
