/* tests/fuzz/fuzz_afm.c - libFuzzer target: the afmalloc engine driven by
 * random operation sequences (allocate, store, free, load, compact, trim,
 * change the memory limit), in the whole page space or its last arena, checked against a reference model: every live
 * object reads back exactly what was stored in it, the counters agree with
 * the model, and afm_check() finds the arenas, pages and free lists sound
 * after each compaction and at the end.  Built with ASan, a touch of a
 * freed chunk is caught too (the engine poisons them). */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "input.h"

#include "../../store/afmalloc.h"

#define NOBJ 64

struct obj {
	bool live;
	uint8_t seed;
	uint32_t size;
	struct afm_handle h;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fill(uint8_t *buf, uint32_t size, uint8_t seed)
{
	for (uint32_t i = 0; i < size; i++)
		buf[i] = (uint8_t)(seed + i * 31u + (i >> 8));
}

static void verify(struct afm *a, const struct obj *o)
{
	uint8_t want[AFM_MAX_OBJECT], got[AFM_MAX_OBJECT];

	fill(want, o->size, o->seed);
	afm_load(a, o->size, &o->h, got);
	assert(memcmp(want, got, o->size) == 0);
}

static void check(struct afm *a, const struct obj *objs)
{
	struct afm_stats st;
	uint64_t n = 0, bytes = 0;
	char err[256];

	for (int i = 0; i < NOBJ; i++)
		if (objs[i].live) {
			n++;
			bytes += objs[i].size;
		}
	afm_stats(a, &st);
	assert(st.objects == n && st.object_bytes == bytes);
	if (afm_check(a, err, sizeof(err))) {
		fprintf(stderr, "afm_check: %s\n", err);
		assert(0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The first byte's low bit: arena ids from 0, or only the last one
	 * of the 24-bit page space (references at its very top, and a full
	 * page space answering ENOSPC as a full limit does). */
	uint32_t first = size && (data[0] & 1) ? AFM_MAX_ARENAS - 1 : 0;
	struct afm *a = afm_create(&(struct afm_config){ .arena = UZ_ARENA_PLAIN, .first_arena = first });
	struct input in = { data, size };
	struct obj objs[NOBJ] = { 0 };
	uint8_t buf[AFM_MAX_OBJECT];
	uint64_t victims;

	assert(a);
	while (in.left) {
		unsigned op = next(&in) % 8, i = next(&in) % NOBJ;
		struct obj *o = &objs[i];
		uint32_t sz;
		int err;

		switch (op) {
		case 0:
		case 1:
		case 2: /* (re)place object i */
			sz = 1 + ((next(&in) << 8 | next(&in)) % AFM_MAX_OBJECT);
			if (o->live)
				afm_free(a, o->size, &o->h);
			o->live = false;
			err = afm_alloc(a, sz, &o->h);
			assert(err == 0 || err == -ENOSPC);
			if (err)
				break;
			o->live = true;
			o->size = sz;
			o->seed = (uint8_t)next(&in);
			fill(buf, sz, o->seed);
			afm_store(a, sz, &o->h, buf);
			break;
		case 3:
			if (o->live)
				afm_free(a, o->size, &o->h);
			o->live = false;
			break;
		case 4:
			if (o->live)
				verify(a, o);
			break;
		case 5: /* a compaction, as the store drives it */
			afm_compact_begin(a, &victims);
			for (int j = 0; j < NOBJ; j++)
				if (objs[j].live && afm_needs_move(a, objs[j].size, &objs[j].h)) {
					err = afm_move(a, objs[j].size, &objs[j].h);
					assert(err == 0 || err == -ENOSPC);
				}
			afm_compact_end(a);
			for (int j = 0; j < NOBJ; j++)
				if (objs[j].live)
					verify(a, &objs[j]);
			check(a, objs);
			break;
		case 6:
			afm_trim(a);
			break;
		case 7: /* a limit from 64 KiB to 4 MiB, or none */
			afm_set_limit(a, i < 8 ? 0 : (uint64_t)(i + 1) << 16);
			break;
		}
	}
	for (int j = 0; j < NOBJ; j++)
		if (objs[j].live)
			verify(a, &objs[j]);
	check(a, objs);
	for (int j = 0; j < NOBJ; j++)
		if (objs[j].live)
			afm_free(a, objs[j].size, &objs[j].h);
	afm_destroy(a);
	return 0;
}
