/* tests/check_compress.c - compress/page.c */
#include "check_util.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	Suite *s = suite_create("compress");
	TCase *tc = tcase_create("page");

	tcase_add_test(tc, roundtrip_text);
	tcase_add_test(tc, incompressible_is_bigger_than_a_page);
	tcase_add_test(tc, corrupt_input_is_an_error);
	tcase_add_test(tc, same_filled);
	suite_add_tcase(s, tc);
	return uz_run_suite(s);
}
