/* tests/fuzz/fuzz_store.c - libFuzzer target: the store engine (slots,
 * afmalloc, the codecs) driven by random operation sequences: page writes
 * of every kind, partial writes, discards, zero ranges, idle marks,
 * recompression of each type with zstd and LZ4HC at several levels,
 * compaction and a changing memory limit, trained dictionaries (the
 * device filled, a dictionary trained on it and installed, or refused
 * when it must pay and does not, recompression onto it, retraining that
 * retires it, the switches for recompression and LZ4 writes against
 * it: dictionary, dictionary_lz4, and the latter's probes), checked against a reference
 * copy of the device: every read returns what the model holds (so no
 * page ever decodes with the wrong algorithm), and uz_store_check() finds
 * the slots, codecs and counters in agreement after each recompression
 * and at the end. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "input.h"

#include "../../compress/codec.h"
#include "../../store/store.h"

#define PAGES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Pages of several kinds: text, noise, noise in 16 values (raw for LZ4,
 * not for zstd), a repeated word, sparse bytes. */
static void fill(uint8_t *p, size_t n, unsigned kind, unsigned seed)
{
	unsigned s = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		s = s * 1103515245u + 12345u;
		switch (kind % 5) {
		case 0: p[i] = (uint8_t)"static int x = 42; /* uzram */\n"[(i + seed) % 31]; break;
		case 1: p[i] = (uint8_t)(s >> 16); break;
		case 2: p[i] = (uint8_t)(s >> 28); break;
		case 3: p[i] = (uint8_t)(seed + i % 8); break;
		default: p[i] = i % 251 == seed % 251 ? (uint8_t)(s >> 16) : 0; break;
		}
	}
}

/* Words of one small vocabulary in an order of the seed's: pages with
 * enough in common, and enough apart, to train a dictionary on. */
static void words(uint8_t *p, size_t n, unsigned seed)
{
	static const char *const w[] = { "page ", "slot ", "lock ", "zstd ", "dictionary ", "engine ", "arena ",
					 "return 0;\n", "struct ", "static ", "unsigned ", "if (err)\n" };
	unsigned s = seed * 2654435761u + 1;
	size_t i = 0;

	while (i < n) {
		s = s * 1103515245u + 12345u;
		for (const char *c = w[(s >> 16) % 12]; *c && i < n; c++)
			p[i++] = (uint8_t)*c;
	}
}

static void check(struct uz_store *st)
{
	char err[512];

	if (uz_store_check(st, err, sizeof(err))) {
		fprintf(stderr, "uz_store_check: %s\n", err);
		assert(0);
	}
}

static void verify(struct uz_store *st, const uint8_t *model, unsigned page)
{
	static uint8_t got[UZ_PAGE_SIZE];

	assert(uz_store_read(st, got, sizeof(got), (uint64_t)page * UZ_PAGE_SIZE) == 0);
	assert(memcmp(got, model + (size_t)page * UZ_PAGE_SIZE, UZ_PAGE_SIZE) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t model[PAGES * UZ_PAGE_SIZE], buf[UZ_PAGE_SIZE];
	static const struct uz_codec codecs[] = {
		{ UZ_ALGO_ZSTD, 0 }, { UZ_ALGO_ZSTD, 1 }, { UZ_ALGO_ZSTD, 9 }, { UZ_ALGO_LZ4HC, 0 }, { UZ_ALGO_LZ4HC, 12 },
	};
	struct uz_store_config cfg = { .arena = UZ_ARENA_PLAIN, .recomp = codecs[0], .dictionary = true };
	struct uz_store *st = uz_store_create(PAGES * UZ_PAGE_SIZE, &cfg);
	struct input in = { data, size };
	struct uz_recompress_result rr;
	struct uz_compact_result cr;

	assert(st);
	memset(model, 0, sizeof(model));
	while (in.left) {
		unsigned op = next(&in) % 12, pg = next(&in) % PAGES, arg = next(&in);
		uint8_t *m = model + (size_t)pg * UZ_PAGE_SIZE;
		int err;

		switch (op) {
		case 0:
		case 1: /* a whole page */
			fill(buf, UZ_PAGE_SIZE, arg, next(&in));
			err = uz_store_write(st, buf, UZ_PAGE_SIZE, (uint64_t)pg * UZ_PAGE_SIZE);
			assert(err == 0 || err == -ENOSPC);
			if (!err)
				memcpy(m, buf, UZ_PAGE_SIZE);
			break;
		case 2: { /* part of a page: read-modify-write of whatever codec holds it */
			unsigned off = (arg * 61) % UZ_PAGE_SIZE, len = 1 + next(&in) * 16 % (UZ_PAGE_SIZE - off);

			fill(buf, len, arg, next(&in));
			err = uz_store_write(st, buf, len, (uint64_t)pg * UZ_PAGE_SIZE + off);
			assert(err == 0 || err == -ENOSPC);
			if (!err)
				memcpy(m + off, buf, len);
			break;
		}
		case 3: /* discard or zero a few pages */
			arg = 1 + arg % 4;
			if (pg + arg > PAGES)
				arg = PAGES - pg;
			err = (arg & 1 ? uz_store_discard : uz_store_zero)(st, (uint64_t)pg * UZ_PAGE_SIZE,
									     (uint64_t)arg * UZ_PAGE_SIZE);
			assert(err == 0);
			memset(m, 0, (size_t)arg * UZ_PAGE_SIZE);
			break;
		case 4:
			verify(st, model, pg);
			break;
		case 5:
			assert(uz_store_mark_idle(st, 0) >= 0);
			break;
		case 6: /* recompress a type, with a threshold now and then */
			err = uz_store_recompress(st, (enum uz_writeback_type)(arg % 4), arg & 4 ? (pg * 64) : 0, &rr);
			assert(err == 0 || err == -ENOSPC);
			assert(rr.kept <= rr.tried);
			check(st);
			break;
		case 7:
			uz_store_set_recompress(st, &codecs[arg % 5], 0);
			break;
		case 8:
			assert(uz_store_compact(st, &cr) == 0);
			break;
		case 9: /* a limit from 64 KiB to 1 MiB, or none */
			uz_store_set_mem_limit(st, arg < 32 ? 0 : (uint64_t)(arg % 16 + 1) << 16);
			break;
		case 10: { /* (arg odd) every page words or sparse; a dictionary trained on the pages */
			char why[256];

			for (unsigned i = 0; arg & 1 && i < PAGES; i++) {
				if ((arg >> (i % 8)) & 1)
					words(buf, UZ_PAGE_SIZE, pg + i);
				else
					fill(buf, UZ_PAGE_SIZE, 4, pg + i);
				err = uz_store_write(st, buf, UZ_PAGE_SIZE, (uint64_t)i * UZ_PAGE_SIZE);
				assert(err == 0 || err == -ENOSPC);
				if (!err)
					memcpy(model + (size_t)i * UZ_PAGE_SIZE, buf, UZ_PAGE_SIZE);
			}
			/* (arg & 2: a training that must pay, as dictionary = auto's) */
			err = arg & 2 ? uz_store_train_dict_paying(st, PAGES, 1024u << (arg % 4), why, sizeof(why)) :
					uz_store_train_dict(st, PAGES, 1024u << (arg % 4), why, sizeof(why));
			assert(err == 0 || err == -EINVAL || err == -EBUSY || err == -ENOMEM);
			check(st);
			break;
		}
		case 11: /* the dictionary switches: recompression onto one, LZ4 writes against it */
			uz_store_set_dictionary(st, arg & 1);
			uz_store_set_dictionary_lz4(st, arg & 2);
			break;
		}
	}
	for (unsigned pg = 0; pg < PAGES; pg++)
		verify(st, model, pg);
	check(st);
	uz_store_destroy(st);
	return 0;
}
