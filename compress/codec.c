/* compress/codec.c - LZ4, zstd and LZ4HC per 4 KiB page; see codec.h. */
#include "codec.h"
#include "internal.h"

#include <errno.h>
#include <lz4.h>
#include <lz4hc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

static __thread struct uz_thread_ctx *tls;
static pthread_key_t tls_key; /* frees a thread's contexts when it exits */
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void contexts_free(void *p)
{
	struct uz_thread_ctx *c = p;

	ZSTD_freeCCtx(c->zc);
	ZSTD_freeCCtx(c->zc_dict);
	ZSTD_freeDCtx(c->zd);
	free(c->hc);
	free(c->lz4);
	free(c);
}

static void make_key(void)
{
	pthread_key_create(&tls_key, contexts_free);
}

struct uz_thread_ctx *uz_thread_ctx(void)
{
	if (tls)
		return tls;
	pthread_once(&tls_once, make_key);
	tls = calloc(1, sizeof(*tls));
	if (tls)
		pthread_setspecific(tls_key, tls);
	return tls;
}

static int lz4_compress(int level, const void *page, void *dst, int cap)
{
	(void)level;
	return uz_page_compress(page, dst, cap);
}

static int lz4_decompress(const void *src, int len, void *page)
{
	return uz_page_decompress(src, len, page);
}

static int zstd_compress(int level, const void *page, void *dst, int cap)
{
	struct uz_thread_ctx *c = uz_thread_ctx();
	size_t n;

	if (!c || (!c->zc && !(c->zc = ZSTD_createCCtx())))
		return -ENOMEM;
	n = ZSTD_compressCCtx(c->zc, dst, (size_t)cap, page, UZ_PAGE_SIZE, level);
	return ZSTD_isError(n) ? 0 : (int)n; /* the only error here: dst too small */
}

static int zstd_decompress(const void *src, int len, void *page)
{
	struct uz_thread_ctx *c = uz_thread_ctx();
	size_t n;

	if (!c || (!c->zd && !(c->zd = ZSTD_createDCtx())))
		return -ENOMEM;
	if (len <= 0)
		return -EIO;
	n = ZSTD_decompressDCtx(c->zd, page, UZ_PAGE_SIZE, src, (size_t)len);
	return !ZSTD_isError(n) && n == UZ_PAGE_SIZE ? 0 : -EIO;
}

static int lz4hc_compress(int level, const void *page, void *dst, int cap)
{
	struct uz_thread_ctx *c = uz_thread_ctx();

	if (!c || (!c->hc && !(c->hc = malloc((size_t)LZ4_sizeofStateHC()))))
		return -ENOMEM;
	return LZ4_compress_HC_extStateHC(c->hc, page, dst, (int)UZ_PAGE_SIZE, cap, level);
}

/* One algorithm, nbdkit-style: the table below is the whole registry. */
struct codec_ops {
	const char *name;
	int min_level, max_level, default_level; /* all 0: no levels */
	int (*compress)(int level, const void *page, void *dst, int cap);
	int (*decompress)(const void *src, int len, void *page);
};

static const struct codec_ops ops[UZ_ALGO_COUNT] = {
	[UZ_ALGO_LZ4] = { .name = "lz4", .compress = lz4_compress, .decompress = lz4_decompress },
	[UZ_ALGO_ZSTD] = { .name = "zstd",
			   .min_level = 1,
			   .max_level = 22, /* ZSTD_maxCLevel() */
			   .default_level = UZ_ZSTD_DEFAULT_LEVEL,
			   .compress = zstd_compress,
			   .decompress = zstd_decompress },
	/* LZ4HC writes LZ4's format: LZ4 decodes it. */
	[UZ_ALGO_LZ4HC] = { .name = "lz4hc",
			    .min_level = LZ4HC_CLEVEL_MIN,
			    .max_level = LZ4HC_CLEVEL_MAX,
			    .default_level = UZ_LZ4HC_DEFAULT_LEVEL,
			    .compress = lz4hc_compress,
			    .decompress = lz4_decompress },
};

const char *uz_algo_name(enum uz_algo a)
{
	return (unsigned)a < UZ_ALGO_COUNT ? ops[a].name : NULL;
}

/* Parses a level (digits only) within o's range into *level. */
static int parse_level(const struct codec_ops *o, const char *s, size_t len, int *level)
{
	int v = 0;

	if (!len || len > 2 || strspn(s, "0123456789") < len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		v = v * 10 + (s[i] - '0');
	if (v < o->min_level || v > o->max_level)
		return -EINVAL;
	*level = v;
	return 0;
}

int uz_codec_parse(const char *s, struct uz_codec *c)
{
	for (int a = 0; a < UZ_ALGO_COUNT; a++) {
		const struct codec_ops *o = &ops[a];
		size_t n = strlen(o->name), rest;
		int level = 0;

		if (strncmp(s, o->name, n) != 0)
			continue;
		s += n;
		rest = strlen(s);
		if (rest == 0) {
			/* NAME */
		} else if (s[0] == ':') {
			if (!o->max_level || parse_level(o, s + 1, rest - 1, &level))
				return -EINVAL;
		} else if (strncmp(s, "(level=", 7) == 0 && s[rest - 1] == ')') {
			if (!o->max_level || parse_level(o, s + 7, rest - 8, &level))
				return -EINVAL;
		} else {
			s -= n;
			continue; /* "lz4hc" begins with "lz4": try the next name */
		}
		c->algo = (enum uz_algo)a;
		c->level = level;
		return 0;
	}
	return -EINVAL;
}

int uz_codec_level(const struct uz_codec *c)
{
	return c->level ? c->level : ops[c->algo].default_level;
}

void uz_codec_format(const struct uz_codec *c, char *buf, size_t len)
{
	if (ops[c->algo].max_level)
		snprintf(buf, len, "%s:%d", ops[c->algo].name, uz_codec_level(c));
	else
		snprintf(buf, len, "%s", ops[c->algo].name);
}

int uz_codec_compress(const struct uz_codec *c, const void *page, void *dst, int cap)
{
	return ops[c->algo].compress(uz_codec_level(c), page, dst, cap);
}

int uz_codec_decompress(enum uz_algo a, const void *src, int len, void *page)
{
	if ((unsigned)a >= UZ_ALGO_COUNT)
		return -EIO;
	return ops[a].decompress(src, len, page);
}

int uz_codec_thread_warm(void)
{
	/* A page as the store holds one: text-like, compressible. */
	static const char line[] = "uzram warms its decoders before it serves a request.\n";
	uint8_t page[UZ_PAGE_SIZE], frame[UZ_PAGE_SIZE + 512], out[UZ_PAGE_SIZE];
	size_t n;

	for (size_t i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)line[i % (sizeof(line) - 1)] ^ (uint8_t)(i >> 9);
	/* zstd's decoder: its context is made on first use; ZSTD_compress()
	 * uses a context of its own, freed at once. */
	n = ZSTD_compress(frame, sizeof(frame), page, sizeof(page), UZ_ZSTD_DEFAULT_LEVEL);
	if (ZSTD_isError(n))
		return -ENOMEM;
	if (zstd_decompress(frame, (int)n, out) || memcmp(out, page, sizeof(page)))
		return -ENOMEM;
	return 0;
}
