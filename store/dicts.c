/* store/dicts.c - the store's trained dictionaries: two slots, one
 * current (recompression, and writes with dictionary_lz4, compress
 * against it), the other free or
 * retiring (its pages are still decoded with it, and recompressed onto
 * the current one; freed once none is left).  A COMP page's codec names
 * its slot (slot.h).  How a dictionary is kept alive while pages or
 * readers use it: internal.h, "Locking". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void store_dicts_init(struct uz_store *st, const struct uz_store_config *cfg)
{
	uz_mutex_init(&st->dict_lock, UZ_LOCK_DICT);
	st->dict_cur = -1;
	st->use_dict = cfg->dictionary;
	st->lz4_dict = cfg->dictionary_lz4;
	atomic_init(&st->dict_wr, -1);
}

/* Sets dict_wr from dict_cur and lz4_dict.  Caller holds dict_lock. */
static void dict_wr_update(struct uz_store *st)
{
	uz_assert_held(&st->dict_lock);
	atomic_store(&st->dict_wr, st->lz4_dict ? st->dict_cur : -1);
}

void uz_store_set_dictionary_lz4(struct uz_store *st, bool on)
{
	uz_mutex_lock(&st->dict_lock);
	st->lz4_dict = on;
	dict_wr_update(st);
	uz_mutex_unlock(&st->dict_lock);
}

const struct uz_dict *store_dict_get(struct uz_store *st, int *k)
{
	int j = atomic_load_explicit(&st->dict_wr, memory_order_relaxed);

	*k = -1;
	if (j < 0)
		return NULL;
	/* The count first, then the check (internal.h, "Locking"): once
	 * dict_wr is seen naming j after the count was taken, j's
	 * dictionary is not freed until the count is taken back. */
	atomic_fetch_add(&st->dicts[j].pages, 1);
	if (atomic_load(&st->dict_wr) != j) {
		store_dict_put(st, j);
		UZ_SHARD_ADD(st->cnt, dict_lz4_missed, 1);
		return NULL;
	}
	*k = j;
	return atomic_load_explicit(&st->dicts[j].d, memory_order_acquire);
}

void store_dicts_destroy(struct uz_store *st)
{
	for (int k = 0; k < SLOT_DICTS; k++)
		uz_dict_free(atomic_load(&st->dicts[k].d));
	uz_mutex_destroy(&st->dict_lock);
}

int store_decompress(struct uz_store *st, uint32_t meta, const void *src, int len, void *page)
{
	int k = slot_dict(meta);
	const struct uz_dict *d;

	if (k < 0)
		return uz_codec_decompress(algo_of(meta), src, len, page);
	d = atomic_load_explicit(&st->dicts[k].d, memory_order_acquire);
	if (!d)
		return -EIO; /* a corrupt slot: no such dictionary */
	return uz_dict_decompress(d, algo_of(meta), src, len, page);
}

const struct uz_dict *store_dict_current(struct uz_store *st, int *k)
{
	uz_assert_held(&st->rc_lock);
	*k = st->use_dict ? st->dict_cur : -1;
	return *k < 0 ? NULL : atomic_load_explicit(&st->dicts[*k].d, memory_order_relaxed);
}

/* Whether slot k holds a dictionary that is not current and that no
 * page uses.  Caller holds dict_lock. */
static bool dict_unused(struct uz_store *st, int k)
{
	uz_assert_held(&st->dict_lock);
	return atomic_load(&st->dicts[k].d) && !st->dicts[k].current && atomic_load(&st->dicts[k].pages) == 0;
}

void store_dicts_reap(struct uz_store *st)
{
	uz_assert_held(&st->rc_lock);
	for (int k = 0; k < SLOT_DICTS; k++) {
		struct store_dict *sd = &st->dicts[k];
		struct uz_dict *d = NULL;

		uz_mutex_lock(&st->dict_lock);
		if (dict_unused(st, k)) {
			d = atomic_load(&sd->d);
			atomic_store(&sd->d, NULL);
			atomic_fetch_sub(&st->dict_bytes, sd->mem);
			sd->id = sd->size = sd->mem = 0;
		}
		uz_mutex_unlock(&st->dict_lock);
		uz_dict_free(d);
	}
}

void store_dicts_drop_tables(struct uz_store *st)
{
	uz_assert_held(&st->rc_lock);
	for (int k = 0; k < SLOT_DICTS; k++)
		uz_dict_drop_tables(atomic_load(&st->dicts[k].d));
}

void store_dicts_tidy(struct uz_store *st)
{
	bool any = false;

	uz_mutex_lock(&st->dict_lock);
	for (int k = 0; k < SLOT_DICTS; k++)
		any |= dict_unused(st, k);
	uz_mutex_unlock(&st->dict_lock);
	if (!any)
		return;
	uz_mutex_lock(&st->rc_lock);
	store_dicts_reap(st);
	uz_mutex_unlock(&st->rc_lock);
}

uint64_t store_dict_pages(struct uz_store *st)
{
	int64_t n = 0;

	for (int k = 0; k < SLOT_DICTS; k++)
		n += atomic_load(&st->dicts[k].pages);
	return n > 0 ? (uint64_t)n : 0;
}

void store_dicts_stats(struct uz_store *st, struct uz_store_stats *s)
{
	_Static_assert(UZ_STORE_DICTS == SLOT_DICTS, "a stats entry per dictionary slot");
	uz_mutex_lock(&st->dict_lock);
	for (int k = 0; k < SLOT_DICTS; k++) {
		const struct store_dict *sd = &st->dicts[k];
		int64_t pages = atomic_load(&sd->pages);

		s->dicts[k] = (struct uz_store_dict_stats){ .id = sd->id, .size = sd->size, .mem = sd->mem,
							    .pages = pages > 0 ? (uint64_t)pages : 0,
							    .current = sd->current };
		s->dict_pages += s->dicts[k].pages;
	}
	s->dict_bytes = atomic_load(&st->dict_bytes);
	uz_mutex_unlock(&st->dict_lock);
	s->recomp_dict_pages = atomic_load(&st->rc_dict_pages);
	s->dict_lz4_writes = (uint64_t)UZ_SHARD_SUM(st->cnt, dict_lz4_writes);
	s->dict_lz4_missed = (uint64_t)UZ_SHARD_SUM(st->cnt, dict_lz4_missed);
	s->dict_lz4_probes = (uint64_t)UZ_SHARD_SUM(st->cnt, dict_lz4_probes);
	s->dict_lz4_paying = atomic_load(&st->dict_wr) >= 0 && atomic_load(&st->lz4_pays);
}

int store_dicts_check(struct uz_store *st, const uint64_t pages[SLOT_DICTS], char *err, size_t errlen)
{
	uint64_t mem = 0;
	int ret = 0;

	uz_mutex_lock(&st->dict_lock);
	for (int k = 0; k < SLOT_DICTS && !ret; k++) {
		if (pages[k] && !atomic_load(&st->dicts[k].d)) {
			snprintf(err, errlen, "%llu pages name dictionary slot %d, which is empty",
				 (unsigned long long)pages[k], k);
			ret = -EUCLEAN;
		}
	}
	for (int k = 0; k < SLOT_DICTS && !ret; k++) {
		const struct store_dict *sd = &st->dicts[k];
		int64_t n = atomic_load(&sd->pages);

		if (n < 0 || (uint64_t)n != pages[k]) {
			snprintf(err, errlen, "%llu pages use dictionary slot %d; its count says %lld",
				 (unsigned long long)pages[k], k, (long long)n);
			ret = -EUCLEAN;
		} else if (sd->current && (k != st->dict_cur || !atomic_load(&sd->d))) {
			snprintf(err, errlen, "dictionary slot %d is marked current, the store's current is %d", k,
				 st->dict_cur);
			ret = -EUCLEAN;
		}
		mem += sd->mem;
	}
	if (!ret && mem != atomic_load(&st->dict_bytes)) {
		snprintf(err, errlen, "the dictionaries hold %llu bytes, dict_bytes says %llu", (unsigned long long)mem,
			 (unsigned long long)atomic_load(&st->dict_bytes));
		ret = -EUCLEAN;
	}
	uz_mutex_unlock(&st->dict_lock);
	return ret;
}

/* --- training ------------------------------------------------------------ */

/* Copies up to cap pages into buf, decoded, every step-th of the pages
 * in memory with an object (COMP or RAW), each under its slot's lock.
 * Returns the pages copied. */
static uint64_t sample(struct uz_store *st, uint8_t *buf, uint64_t cap, uint64_t step)
{
	uint64_t nslots = uz_slots_count(st->slots), seen = 0, got = 0, i;
	struct uz_slot *s;

	uz_slots_for_each(st->slots, i, s, 0, nslots) {
		uint32_t m = atomic_load_explicit(&s->meta, memory_order_relaxed);
		struct slot_val v;

		if (got == cap)
			break;
		if ((slot_type(m) != SLOT_COMP && slot_type(m) != SLOT_RAW) || (m & SLOT_WB))
			continue;
		if (seen++ % step)
			continue;
		slot_read(s, uz_slot_lock(s), &v);
		/* (changed meanwhile: whatever it holds now, if it is a page
		 * in memory; a page that does not decode is left out) */
		if ((slot_type(v.meta) == SLOT_COMP || slot_type(v.meta) == SLOT_RAW) && !(v.meta & SLOT_WB) &&
		    store_decode(st, engine_of(st, i), &v, buf + got * UZ_PAGE_SIZE) == 0)
			got++;
		uz_slot_unlock(s, v.meta);
	}
	return got;
}

/* A free dictionary slot, or -1.  Caller holds rc_lock (and reaped). */
static int free_slot(struct uz_store *st)
{
	uz_assert_held(&st->rc_lock);
	for (int k = 0; k < SLOT_DICTS; k++)
		if (!atomic_load(&st->dicts[k].d))
			return k;
	return -1;
}

/* Puts d into free slot k and makes it current; the current one
 * retires.  Caller holds rc_lock. */
static void install(struct uz_store *st, int k, struct uz_dict *d)
{
	struct store_dict *sd = &st->dicts[k];
	size_t len;

	uz_assert_held(&st->rc_lock);
	uz_dict_raw(d, &len);
	uz_mutex_lock(&st->dict_lock);
	for (int j = 0; j < SLOT_DICTS; j++)
		st->dicts[j].current = false;
	sd->id = ++st->dict_gen;
	sd->size = len;
	sd->mem = uz_dict_mem(d);
	sd->current = true;
	/* (its count is 0, but for writers passing: store_dict_get) */
	atomic_store_explicit(&sd->d, d, memory_order_release);
	st->dict_cur = k;
	/* a new dictionary is taken to pay until its probes say otherwise */
	atomic_store(&st->lz4_probe_n, 0);
	atomic_store(&st->lz4_probe_plain, 0);
	atomic_store(&st->lz4_probe_dict, 0);
	atomic_store(&st->lz4_pays, true);
	dict_wr_update(st);
	atomic_fetch_add(&st->dict_bytes, sd->mem);
	uz_mutex_unlock(&st->dict_lock);
}

/* Held-out pages a training that must pay tests its dictionary on: one
 * in DICT_HOLD_STRIDE of the sample, at most DICT_HOLD_MAX (about 10 ms
 * of zstd, twice a page). */
#define DICT_HOLD_STRIDE 8
#define DICT_HOLD_MAX 256
/* The least share of zstd's size a dictionary must save on them, in
 * thousandths: below 1 %, not worth the CPU of compressing against it. */
#define DICT_MIN_GAIN_PERMILLE 10

/* Moves every DICT_HOLD_STRIDE-th of the n pages in buf (up to
 * DICT_HOLD_MAX) into held, and the others together at buf's start.
 * Returns the pages held out (0 when that would leave fewer than
 * UZ_DICT_MIN_SAMPLES to train on). */
static uint64_t hold_out(uint8_t *buf, uint64_t n, uint8_t *held)
{
	uint64_t t = n / DICT_HOLD_STRIDE, stride, kept = 0;

	if (t > DICT_HOLD_MAX)
		t = DICT_HOLD_MAX;
	if (!t || n - t < UZ_DICT_MIN_SAMPLES)
		return 0;
	stride = n / t;
	for (uint64_t i = 0, j = 0; i < n; i++) {
		uint8_t *p = buf + i * UZ_PAGE_SIZE;

		if (j < t && i % stride == stride - 1)
			memcpy(held + j++ * UZ_PAGE_SIZE, p, UZ_PAGE_SIZE);
		else if (kept++ != i)
			memmove(buf + (kept - 1) * UZ_PAGE_SIZE, p, UZ_PAGE_SIZE);
	}
	return t;
}

/* Whether d pays for itself: on the t held-out pages it saves at least
 * DICT_MIN_GAIN_PERMILLE of zstd's size at level, and that saving,
 * spread over the stored pages in memory, is more than the memory d
 * holds.  Returns 0 (it pays), -EINVAL with the figures in err (it does
 * not), -ENOMEM. */
static int dict_pays(const struct uz_dict *d, int level, const uint8_t *held, uint64_t t,
		     uint64_t stored, char *err, size_t errlen)
{
	const struct uz_codec c = { .algo = UZ_ALGO_ZSTD, .level = level };
	uint8_t dst[UZ_COMPRESS_BOUND];
	uint64_t plain = 0, with = 0, saved, mem = uz_dict_mem(d);

	for (uint64_t j = 0; j < t; j++) {
		const uint8_t *p = held + j * UZ_PAGE_SIZE;
		int a = uz_codec_compress(&c, p, dst, (int)sizeof(dst));
		int b = uz_dict_compress(d, &c, p, dst, (int)sizeof(dst));

		if (a < 0 || b < 0)
			return a < 0 ? a : b;
		/* (0: did not fit, as good as stored raw; a page the
		 * dictionary makes larger is recompressed plainly) */
		a = a ? a : (int)UZ_PAGE_SIZE;
		b = b && b < a ? b : a;
		plain += (uint64_t)a;
		with += (uint64_t)b;
	}
	saved = plain > with ? (plain - with) * stored / t : 0;
	if (plain > with && (plain - with) * 1000 >= plain * DICT_MIN_GAIN_PERMILLE && saved > mem)
		return 0;
	snprintf(err, errlen, "the dictionary would save %.1f %% of zstd's size on %llu held-out pages, about %llu "
		 "KiB over the %llu pages stored, against the %llu KiB it holds: not kept",
		 plain ? ((double)plain - (double)with) * 100.0 / (double)plain : 0.0, (unsigned long long)t,
		 (unsigned long long)(saved >> 10), (unsigned long long)stored, (unsigned long long)(mem >> 10));
	return -EINVAL;
}

/* Trains and installs; caller holds rc_lock.  See uz_store_train_dict
 * (must_pay: uz_store_train_dict_paying). */
static int train_locked(struct uz_store *st, uint64_t sample_pages, size_t dict_size, int level, bool must_pay,
			char *err, size_t errlen)
{
	uint64_t n, cap, got, held_n = 0;
	struct uz_dict *d;
	uint8_t *buf, *held = NULL;
	int k, e;

	store_dicts_reap(st);
	k = free_slot(st);
	if (k < 0) {
		int old = st->dict_cur ? 0 : 1;

		snprintf(err, errlen, "both dictionary slots are in use: dictionary %llu (retired) still has %lld pages",
			 (unsigned long long)st->dicts[old].id, (long long)atomic_load(&st->dicts[old].pages));
		return -EBUSY;
	}
	/* the pages with an object in memory (the counters are exact enough
	 * to pick a stride) */
	n = (uint64_t)(UZ_SHARD_SUM(st->cnt, pages_stored) - UZ_SHARD_SUM(st->cnt, same_pages));
	if ((int64_t)n < (int64_t)UZ_DICT_MIN_SAMPLES) {
		snprintf(err, errlen, "%lld pages in memory to sample: training needs at least %u",
			 (long long)(int64_t)n, UZ_DICT_MIN_SAMPLES);
		return -EINVAL;
	}
	cap = sample_pages < n ? sample_pages : n;
	buf = malloc(cap * UZ_PAGE_SIZE);
	if (!buf) {
		snprintf(err, errlen, "no memory for a sample of %llu pages", (unsigned long long)cap);
		return -ENOMEM;
	}
	got = sample(st, buf, cap, n / cap);
	if (got < UZ_DICT_MIN_SAMPLES) {
		free(buf);
		snprintf(err, errlen, "%llu pages sampled: training needs at least %u", (unsigned long long)got,
			 UZ_DICT_MIN_SAMPLES);
		return -EINVAL;
	}
	if (must_pay) {
		held = malloc(DICT_HOLD_MAX * UZ_PAGE_SIZE);
		if (!held) {
			free(buf);
			snprintf(err, errlen, "no memory for the held-out pages");
			return -ENOMEM;
		}
		held_n = hold_out(buf, got, held);
	}
	d = uz_dict_train(buf, got - held_n, dict_size, level);
	e = d ? 0 : -errno;
	free(buf);
	if (e == -ENOMEM) {
		free(held);
		snprintf(err, errlen, "no memory to train a dictionary of %zu bytes", dict_size);
		return e;
	}
	if (e) {
		free(held);
		snprintf(err, errlen, "training on %llu pages failed: they hold too little in common",
			 (unsigned long long)(got - held_n));
		return -EINVAL;
	}
	if (held_n) {
		e = dict_pays(d, level, held, held_n, n, err, errlen);
		if (e == -ENOMEM)
			snprintf(err, errlen, "no memory to test the dictionary");
		uz_dict_drop_tables(d);
	}
	free(held);
	if (e) {
		uz_dict_free(d);
		return e;
	}
	install(st, k, d);
	store_dicts_reap(st); /* the one it replaces, if no page uses it */
	return 0;
}

static int train(struct uz_store *st, uint64_t sample_pages, size_t dict_size, bool must_pay, char *err,
		 size_t errlen)
{
	int level = store_dict_level(st);
	int ret;

	if (dict_size < UZ_DICT_MIN_SIZE || dict_size > UZ_DICT_MAX_SIZE) {
		snprintf(err, errlen, "dictionary size %zu: not within %u..%u", dict_size, UZ_DICT_MIN_SIZE,
			 UZ_DICT_MAX_SIZE);
		return -EINVAL;
	}
	if (sample_pages < UZ_DICT_MIN_SAMPLES || sample_pages > SIZE_MAX / UZ_PAGE_SIZE) {
		snprintf(err, errlen, "sample of %llu pages: training needs at least %u",
			 (unsigned long long)sample_pages, UZ_DICT_MIN_SAMPLES);
		return -EINVAL;
	}
	uz_mutex_lock(&st->rc_lock);
	ret = train_locked(st, sample_pages, dict_size, level, must_pay, err, errlen);
	uz_mutex_unlock(&st->rc_lock);
	return ret;
}

int uz_store_train_dict(struct uz_store *st, uint64_t sample_pages, size_t dict_size, char *err, size_t errlen)
{
	return train(st, sample_pages, dict_size, false, err, errlen);
}

int uz_store_train_dict_paying(struct uz_store *st, uint64_t sample_pages, size_t dict_size, char *err,
			       size_t errlen)
{
	return train(st, sample_pages, dict_size, true, err, errlen);
}

/* --- snapshots ------------------------------------------------------------ */

int store_dict_level(struct uz_store *st)
{
	struct uz_codec c = store_rc_settings(st, NULL);

	return c.algo == UZ_ALGO_ZSTD ? uz_codec_level(&c) : UZ_ZSTD_DEFAULT_LEVEL;
}

void store_dicts_snapshot(struct uz_store *st, struct store_dict_info out[SLOT_DICTS])
{
	uz_assert_held(&st->rc_lock);
	uz_mutex_lock(&st->dict_lock);
	for (int k = 0; k < SLOT_DICTS; k++) {
		const struct uz_dict *d = atomic_load(&st->dicts[k].d);

		out[k] = (struct store_dict_info){ .id = d ? st->dicts[k].id : 0, .current = st->dicts[k].current };
		out[k].raw = d ? uz_dict_raw(d, &out[k].len) : NULL;
	}
	uz_mutex_unlock(&st->dict_lock);
}

int store_dict_restore(struct uz_store *st, int k, uint64_t id, bool current, const void *raw, size_t len)
{
	struct store_dict *sd = &st->dicts[k];
	struct uz_dict *d;
	int ret = 0;

	uz_mutex_lock(&st->rc_lock);
	if (atomic_load(&sd->d) || (current && st->dict_cur >= 0)) {
		ret = -EBUSY;
		goto out;
	}
	d = uz_dict_load(raw, len, store_dict_level(st));
	if (!d) {
		ret = -errno;
		goto out;
	}
	uz_mutex_lock(&st->dict_lock);
	sd->id = id;
	sd->size = len;
	sd->mem = uz_dict_mem(d);
	sd->current = current;
	atomic_store_explicit(&sd->pages, 0, memory_order_relaxed);
	atomic_store_explicit(&sd->d, d, memory_order_release);
	if (current)
		st->dict_cur = k;
	if (id > st->dict_gen)
		st->dict_gen = id; /* the next one trained gets a new id */
	atomic_fetch_add(&st->dict_bytes, sd->mem);
	uz_mutex_unlock(&st->dict_lock);
out:
	uz_mutex_unlock(&st->rc_lock);
	return ret;
}

void store_dict_unload(struct uz_store *st, int k)
{
	uz_mutex_lock(&st->rc_lock);
	uz_mutex_lock(&st->dict_lock);
	if (st->dicts[k].current) {
		st->dicts[k].current = false;
		st->dict_cur = -1;
	}
	uz_mutex_unlock(&st->dict_lock);
	store_dicts_reap(st); /* it is not current now, and no page uses it */
	uz_mutex_unlock(&st->rc_lock);
}

/* --- the daemon's settings and estimates -------------------------------- */

void uz_store_set_dictionary(struct uz_store *st, bool on)
{
	uz_mutex_lock(&st->rc_lock);
	st->use_dict = on;
	uz_mutex_unlock(&st->rc_lock);
}

int uz_store_dict_estimate(struct uz_store *st, uint64_t pages, struct uz_store_dict_estimate *e)
{
	struct uz_codec c = store_rc_settings(st, NULL);
	uint8_t *buf, dst[UZ_PAGE_SIZE];
	uint64_t n, got;

	memset(e, 0, sizeof(*e));
	if (c.algo != UZ_ALGO_ZSTD)
		c = (struct uz_codec){ UZ_ALGO_ZSTD, 0 };
	uz_mutex_lock(&st->rc_lock);
	n = (uint64_t)(UZ_SHARD_SUM(st->cnt, pages_stored) - UZ_SHARD_SUM(st->cnt, same_pages));
	if ((int64_t)n <= 0 || pages == 0) {
		uz_mutex_unlock(&st->rc_lock);
		return 0;
	}
	if (pages > n)
		pages = n;
	buf = malloc(pages * UZ_PAGE_SIZE);
	if (!buf) {
		uz_mutex_unlock(&st->rc_lock);
		return -ENOMEM;
	}
	got = sample(st, buf, pages, n / pages);
	for (int k = 0; k < SLOT_DICTS; k++)
		e->ids[k] = atomic_load(&st->dicts[k].d) ? st->dicts[k].id : 0;
	for (uint64_t i = 0; i < got; i++) {
		const uint8_t *page = buf + i * UZ_PAGE_SIZE;
		int len = uz_codec_compress(&c, page, dst, sizeof(dst));

		/* a page that does not fit counts as stored raw; one that a
		 * dictionary makes larger, as recompressed plainly
		 * (recompress.c) */
		uint64_t plain = len > 0 ? (uint64_t)len : UZ_PAGE_SIZE;

		e->plain_bytes += plain;
		for (int k = 0; k < SLOT_DICTS; k++) {
			const struct uz_dict *d = atomic_load(&st->dicts[k].d);

			if (!d)
				continue;
			len = uz_dict_compress(d, &c, page, dst, sizeof(dst));
			e->dict_bytes[k] += len > 0 && (uint64_t)len < plain ? (uint64_t)len : plain;
		}
	}
	e->pages = got;
	store_dicts_drop_tables(st);
	uz_mutex_unlock(&st->rc_lock);
	free(buf);
	return 0;
}
