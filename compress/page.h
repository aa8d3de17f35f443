/* compress/page.h - per-page compression for uzram.
 *
 * Knows nothing of the store: it turns one 4 KiB page into a compressed
 * byte string (LZ4) and back, and recognises same-filled pages.
 */
#ifndef UZ_COMPRESS_PAGE_H
#define UZ_COMPRESS_PAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UZ_PAGE_SIZE 4096u
#define UZ_PAGE_SHIFT 12

/* Worst-case LZ4 output for one page (LZ4_COMPRESSBOUND(4096)). */
#define UZ_COMPRESS_BOUND (UZ_PAGE_SIZE + UZ_PAGE_SIZE / 255 + 16)

/* Returns true when the page is one 8-byte word repeated (zero included)
 * and stores that word in *word. */
bool uz_page_same_filled(const void *page, uint64_t *word);

/* Fills a page with the repeated 8-byte word. */
void uz_page_fill(void *page, uint64_t word);

/* Compresses one page into dst (capacity cap, at least UZ_COMPRESS_BOUND
 * for a guaranteed result).  Returns the compressed length (> 0), or 0 when
 * the output does not fit in cap. */
int uz_page_compress(const void *page, void *dst, int cap);

/* Decompresses len bytes of src into one page.  Returns 0, or -EIO when the
 * input is corrupt or does not decode to exactly one page. */
int uz_page_decompress(const void *src, int len, void *page);

/* Name of the algorithm, as zram reports it ("lz4"). */
const char *uz_compress_algorithm(void);

#endif
