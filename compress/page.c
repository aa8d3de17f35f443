/* compress/page.c - LZ4 per 4 KiB page, and same-filled detection. */
#include "page.h"

#include <errno.h>
#include <lz4.h>
#include <string.h>

_Static_assert(UZ_COMPRESS_BOUND >= LZ4_COMPRESSBOUND(UZ_PAGE_SIZE),
	       "UZ_COMPRESS_BOUND must cover LZ4's worst case");

/* Pages come from FUSE buffers at any alignment: words are read and
 * written with memcpy, which compiles to plain moves. */
static inline uint64_t word_at(const uint8_t *p, size_t i)
{
	uint64_t w;

	memcpy(&w, p + i * 8, sizeof(w));
	return w;
}

bool uz_page_same_filled(const void *page, uint64_t *word)
{
	const uint8_t *p = page;
	uint64_t first = word_at(p, 0);

	/* Check the last word first: most pages that are not same-filled
	 * differ there already, as zram's page_same_filled() notes. */
	if (word_at(p, UZ_PAGE_SIZE / 8 - 1) != first)
		return false;
	for (size_t i = 1; i < UZ_PAGE_SIZE / 8 - 1; i++)
		if (word_at(p, i) != first)
			return false;
	*word = first;
	return true;
}

void uz_page_fill(void *page, uint64_t word)
{
	uint8_t *p = page;

	if (word == 0) {
		memset(page, 0, UZ_PAGE_SIZE);
		return;
	}
	for (size_t i = 0; i < UZ_PAGE_SIZE / 8; i++)
		memcpy(p + i * 8, &word, sizeof(word));
}

int uz_page_compress(const void *page, void *dst, int cap)
{
	return LZ4_compress_default(page, dst, (int)UZ_PAGE_SIZE, cap);
}

int uz_page_decompress(const void *src, int len, void *page)
{
	int n = LZ4_decompress_safe(src, page, len, (int)UZ_PAGE_SIZE);

	return n == (int)UZ_PAGE_SIZE ? 0 : -EIO;
}

const char *uz_compress_algorithm(void)
{
	return "lz4";
}
