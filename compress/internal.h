/* compress/internal.h - what codec.c and dict.c share: each thread's
 * contexts, made on first use and freed when the thread exits.  Not for
 * use outside compress/. */
#ifndef UZ_COMPRESS_INTERNAL_H
#define UZ_COMPRESS_INTERNAL_H

#include <zstd.h>

struct lz4_prefix; /* dict.c's */

struct uz_thread_ctx {
	ZSTD_CCtx *zc; /* plain zstd pages */
	ZSTD_CCtx *zc_dict; /* pages against a dictionary: frame options of their own */
	ZSTD_DCtx *zd; /* both */
	void *hc; /* LZ4HC's state, LZ4_sizeofStateHC() bytes */
	struct lz4_prefix *lz4; /* LZ4 against a dictionary (one malloc'd block) */
};

/* The calling thread's contexts (each member NULL until its user makes
 * it), or NULL when there is no memory for them. */
struct uz_thread_ctx *uz_thread_ctx(void);

#endif
