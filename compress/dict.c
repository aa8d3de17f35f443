/* compress/dict.c - dictionaries for zstd and LZ4 pages; see dict.h. */
/* ZSTD_createCDict_advanced2, ZSTD_createDDict_byReference and
 * ZSTD_c_literalCompressionMode: libzstd's experimental API, which its
 * shared library exports (Debian's 1.5.4 does): no static linking. */
#define ZSTD_STATIC_LINKING_ONLY
#include "dict.h"
#include "internal.h"

#include <endian.h>
#include <errno.h>
#include <stdatomic.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

/* LZ4 looks back 64 KiB at most: only the dictionary's tail is a window. */
#define LZ4_WINDOW (64u * 1024)

struct uz_dict {
	uint64_t serial; /* tells dictionaries apart in threads' caches */
	void *raw;
	size_t len;
	int level; /* the level cdict is made for */
	/* zstd's compression tables (~0.7 MB for 110 KiB at level 6): made
	 * on the first zstd compression against the dictionary, freed by
	 * uz_dict_drop_tables(), so that between recompressions the
	 * dictionary holds only its content and decoding tables. */
	ZSTD_CDict *_Atomic cdict;
	ZSTD_DDict *ddict;
	/* LZ4: the window, the tail of raw (each thread keeps a copy of it
	 * with its table: struct lz4_prefix). */
	const char *window;
	int window_len;
};

/* LZ4 against a dictionary, per thread (struct uz_thread_ctx's lz4): the
 * window of dictionary serial copied right before room for one page, so
 * that LZ4 sees it as the page's own prefix (its fastest mode), with the
 * table LZ4_loadDict made of that copy; the table is copied into work for
 * each page. */
struct lz4_prefix {
	uint64_t serial; /* 0: none yet */
	int window_len;
	LZ4_stream_t table, work;
	char buf[LZ4_WINDOW + UZ_PAGE_SIZE];
};

static _Atomic uint64_t serials;

/* zstd pages against a dictionary are the cold pages, decoded on each
 * read: their frames are made cheaper to decode at no cost in size.
 * Decoding such a frame is its sequences (~240 a page on the Linux tree,
 * ~120 instructions each) and its Huffman-coded literals; the entropy
 * tables are the dictionary's own (98 % of frames at zstd:3), so table
 * building costs nothing.  Huffman literals are a quarter of the time
 * though they are a tenth of the instructions: under 1 KiB, with the
 * dictionary's table, zstd writes them as one stream, decoded one symbol
 * after another.  So:
 *   - literals stay raw (copied when decoded), which alone makes pages
 *     10 % larger (a page of many literals, whose raw frame is larger
 *     than a quarter page, is made again with Huffman-coded ones, kept
 *     where they save a tenth: DICT_HUF_CHECK_BYTES);
 *   - that is paid back with a lazy parse (level 6's parameters at
 *     least) with matches of 5 bytes at least (fewer, longer sequences).
 * On the Linux tree at zstd:3: 0.222 of the size instead of 0.227, decode
 * 0.75-0.8x the time, compression ~2.7x the time; the CDict's tables
 * grow by 390 KB (tests/bench/dictbench.c; docs/benchmarks.md,
 * "Dictionaries, in the codec alone"). */
#define DICT_ZSTD_MIN_LEVEL 6
#define DICT_ZSTD_MIN_MATCH 5

static int dict_zstd_level(int level)
{
	return level < DICT_ZSTD_MIN_LEVEL ? DICT_ZSTD_MIN_LEVEL : level;
}

/* Frames carry nothing the store already knows: no checksum (slots are
 * not checked either), no content size (always one page), no dictionary
 * id (the slot records the dictionary).  Literals and matches as above
 * (a CDict brings its own match parameters; these serve the pages whose
 * level is not the CDict's). */
static int zstd_frame_params(ZSTD_CCtx *zc)
{
	if (ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_checksumFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_contentSizeFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_dictIDFlag, 0)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_literalCompressionMode, ZSTD_ps_disable)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_minMatch, DICT_ZSTD_MIN_MATCH)))
		return -ENOMEM;
	return 0;
}

/* The CDict for level, referring to raw: its tables made for the
 * parameters above. */
static ZSTD_CDict *make_cdict(const void *raw, size_t len, int level)
{
	ZSTD_CCtx_params *p = ZSTD_createCCtxParams();
	ZSTD_CDict *cd = NULL;

	if (!p)
		return NULL;
	if (!ZSTD_isError(ZSTD_CCtxParams_init(p, dict_zstd_level(level))) &&
	    !ZSTD_isError(ZSTD_CCtxParams_setParameter(p, ZSTD_c_minMatch, DICT_ZSTD_MIN_MATCH)) &&
	    !ZSTD_isError(ZSTD_CCtxParams_setParameter(p, ZSTD_c_literalCompressionMode, ZSTD_ps_disable)))
		cd = ZSTD_createCDict_advanced2(raw, len, ZSTD_dlm_byRef, ZSTD_dct_auto, p, ZSTD_defaultCMem);
	ZSTD_freeCCtxParams(p);
	return cd;
}

struct uz_dict *uz_dict_load(const void *raw, size_t len, int zstd_level)
{
	struct uz_dict *d;

	if (len < UZ_DICT_MIN_SIZE || len > UZ_DICT_MAX_SIZE || zstd_level < 1 || zstd_level > ZSTD_maxCLevel()) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d || !(d->raw = malloc(len)))
		goto nomem;
	memcpy(d->raw, raw, len);
	d->serial = ++serials;
	d->len = len;
	d->level = zstd_level;
	/* It refers to raw (freed after it) instead of keeping a copy; its
	 * making reads the entropy tables of a zstd dictionary's content,
	 * and refuses corrupt ones. */
	d->ddict = ZSTD_createDDict_byReference(d->raw, len);
	if (!d->ddict) {
		/* zstd takes any content as a raw dictionary, except content
		 * with a zstd dictionary's magic whose tables are corrupt. */
		uint32_t magic = 0;

		memcpy(&magic, raw, sizeof(magic));
		uz_dict_free(d);
		errno = le32toh(magic) == ZSTD_MAGIC_DICTIONARY ? EINVAL : ENOMEM;
		return NULL;
	}
	d->window_len = (int)(len < LZ4_WINDOW ? len : LZ4_WINDOW);
	d->window = (const char *)d->raw + (len - (size_t)d->window_len);
	return d;
nomem:
	uz_dict_free(d);
	errno = ENOMEM;
	return NULL;
}

struct uz_dict *uz_dict_train(const void *pages, size_t n, size_t cap, int zstd_level)
{
	size_t *sizes, got;
	void *buf;
	struct uz_dict *d;

	if (cap < UZ_DICT_MIN_SIZE || cap > UZ_DICT_MAX_SIZE || n < UZ_DICT_MIN_SAMPLES || n > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	sizes = malloc(n * sizeof(*sizes));
	buf = malloc(cap);
	if (!sizes || !buf) {
		free(sizes);
		free(buf);
		errno = ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		sizes[i] = UZ_PAGE_SIZE;
	got = ZDICT_trainFromBuffer(buf, cap, pages, sizes, (unsigned)n);
	free(sizes);
	if (ZDICT_isError(got) || got < UZ_DICT_MIN_SIZE) {
		free(buf);
		errno = EINVAL;
		return NULL;
	}
	d = uz_dict_load(buf, got, zstd_level);
	free(buf);
	return d;
}

void uz_dict_free(struct uz_dict *d)
{
	if (!d)
		return;
	ZSTD_freeCDict(atomic_load(&d->cdict));
	ZSTD_freeDDict(d->ddict);
	free(d->raw);
	free(d);
}

const void *uz_dict_raw(const struct uz_dict *d, size_t *len)
{
	*len = d->len;
	return d->raw;
}

size_t uz_dict_mem(const struct uz_dict *d)
{
	return sizeof(*d) + d->len + ZSTD_sizeof_DDict(d->ddict);
}

size_t uz_dict_tables_mem(const struct uz_dict *d)
{
	return ZSTD_sizeof_CDict(atomic_load(&((struct uz_dict *)d)->cdict));
}

void uz_dict_drop_tables(struct uz_dict *d)
{
	if (d)
		ZSTD_freeCDict(atomic_exchange(&d->cdict, NULL));
}

/* d's CDict, made now if it has none (threads racing keep the first);
 * NULL without memory.  d is const to its users: the CDict is a cache. */
static ZSTD_CDict *get_cdict(const struct uz_dict *cd)
{
	struct uz_dict *d = (struct uz_dict *)cd;
	ZSTD_CDict *c = atomic_load(&d->cdict), *none = NULL;

	if (c)
		return c;
	c = make_cdict(d->raw, d->len, d->level);
	if (c && !atomic_compare_exchange_strong(&d->cdict, &none, c)) {
		ZSTD_freeCDict(c);
		c = none;
	}
	return c;
}

/* Raw literals suit pages whose literals are few (most of the Linux
 * tree's); a page with many (numbers, binaries) can come out larger than
 * plain zstd.  A frame larger than this is made again with Huffman-coded
 * literals, kept if it is a tenth smaller at least (its decoder builds
 * no more tables than a stock frame's, but decodes the literals one by
 * one: make bench-io IO_ARGS=--recompress-only). */
#define DICT_HUF_CHECK_BYTES ((int)UZ_PAGE_SIZE / 4)

/* The frame of page with Huffman-coded literals, from zc as it is set up
 * (its dictionary referenced), into dst if smaller than the n bytes
 * already there (0: none fitted).  Returns the length kept, 0 if none
 * fits, -ENOMEM. */
static int huf_retry(ZSTD_CCtx *zc, const void *page, void *dst, int cap, int n)
{
	uint8_t alt[UZ_PAGE_SIZE];
	size_t m;

	if (ZSTD_isError(ZSTD_CCtx_reset(zc, ZSTD_reset_session_only)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_literalCompressionMode, ZSTD_ps_enable)))
		return -ENOMEM;
	m = ZSTD_compress2(zc, alt, (size_t)cap < sizeof(alt) ? (size_t)cap : sizeof(alt), page, UZ_PAGE_SIZE);
	if (ZSTD_isError(ZSTD_CCtx_reset(zc, ZSTD_reset_session_only)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(zc, ZSTD_c_literalCompressionMode, ZSTD_ps_disable)))
		return -ENOMEM;
	/* Huffman-coded literals cost decode time: kept where they save a
	 * tenth at least (or the raw frame did not fit) */
	if (ZSTD_isError(m) || (n > 0 && m * 10 > (size_t)n * 9))
		return n;
	memcpy(dst, alt, m);
	return (int)m;
}

static int zstd_compress(const struct uz_dict *d, int level, const void *page, void *dst, int cap)
{
	struct uz_thread_ctx *c = uz_thread_ctx();
	size_t n;

	if (!c)
		return -ENOMEM;
	if (!c->zc_dict) {
		if (!(c->zc_dict = ZSTD_createCCtx()))
			return -ENOMEM;
		if (zstd_frame_params(c->zc_dict)) {
			ZSTD_freeCCtx(c->zc_dict);
			c->zc_dict = NULL;
			return -ENOMEM;
		}
	}
	/* A frame that did not fit leaves the session open: end it. */
	n = ZSTD_CCtx_reset(c->zc_dict, ZSTD_reset_session_only);
	if (ZSTD_isError(n))
		return -ENOMEM;
	if (level == d->level) {
		ZSTD_CDict *cd = get_cdict(d);

		if (!cd)
			return -ENOMEM;
		n = ZSTD_CCtx_refCDict(c->zc_dict, cd);
	} else {
		n = ZSTD_CCtx_setParameter(c->zc_dict, ZSTD_c_compressionLevel, dict_zstd_level(level));
		if (!ZSTD_isError(n))
			n = ZSTD_CCtx_loadDictionary(c->zc_dict, d->raw, d->len);
	}
	if (ZSTD_isError(n))
		return -ENOMEM;
	n = ZSTD_compress2(c->zc_dict, dst, (size_t)cap, page, UZ_PAGE_SIZE);
	if (!ZSTD_isError(n) && n <= (size_t)DICT_HUF_CHECK_BYTES)
		return (int)n;
	if (ZSTD_isError(n) && cap <= DICT_HUF_CHECK_BYTES)
		return 0; /* (what would fit is not worth a second try) */
	return huf_retry(c->zc_dict, page, dst, cap, ZSTD_isError(n) ? 0 : (int)n);
}

static int lz4_compress(const struct uz_dict *d, const void *page, void *dst, int cap)
{
	struct uz_thread_ctx *c = uz_thread_ctx();
	struct lz4_prefix *p;
	char *at;

	if (!c)
		return -ENOMEM;
	if (!c->lz4) {
		/* aligned_alloc wants a multiple of the alignment */
		if (!(c->lz4 = aligned_alloc(64, (sizeof(*c->lz4) + 63) & ~(size_t)63)))
			return -ENOMEM;
		c->lz4->serial = 0; /* no window yet (serials start at 1) */
	}
	p = c->lz4;
	if (p->serial != d->serial) {
		/* Once per thread and dictionary: 64 KiB copied and hashed. */
		p->window_len = d->window_len;
		memcpy(p->buf + LZ4_WINDOW - d->window_len, d->window, (size_t)d->window_len);
		LZ4_initStream(&p->table, sizeof(p->table));
		LZ4_loadDict(&p->table, p->buf + LZ4_WINDOW - d->window_len, d->window_len);
		p->serial = d->serial;
	}
	at = p->buf + LZ4_WINDOW;
	memcpy(at, page, UZ_PAGE_SIZE);
	memcpy(&p->work, &p->table, sizeof(p->work));
	return LZ4_compress_fast_continue(&p->work, at, dst, (int)UZ_PAGE_SIZE, cap, 1);
}

int uz_dict_compress(const struct uz_dict *d, const struct uz_codec *c, const void *page, void *dst, int cap)
{
	switch (c->algo) {
	case UZ_ALGO_LZ4:
		return lz4_compress(d, page, dst, cap);
	case UZ_ALGO_ZSTD:
		return zstd_compress(d, uz_codec_level(c), page, dst, cap);
	default:
		return -EINVAL;
	}
}

int uz_dict_decompress(const struct uz_dict *d, enum uz_algo a, const void *src, int len, void *page)
{
	struct uz_thread_ctx *c;
	size_t n;
	int r;

	if (len <= 0)
		return -EIO;
	switch (a) {
	case UZ_ALGO_LZ4:
		r = LZ4_decompress_safe_usingDict(src, page, len, (int)UZ_PAGE_SIZE, d->window, d->window_len);
		return r == (int)UZ_PAGE_SIZE ? 0 : -EIO;
	case UZ_ALGO_ZSTD:
		c = uz_thread_ctx();
		if (!c || (!c->zd && !(c->zd = ZSTD_createDCtx())))
			return -ENOMEM;
		n = ZSTD_decompress_usingDDict(c->zd, page, UZ_PAGE_SIZE, src, (size_t)len, d->ddict);
		return !ZSTD_isError(n) && n == UZ_PAGE_SIZE ? 0 : -EIO;
	default:
		return -EIO;
	}
}
