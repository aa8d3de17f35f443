/* store/recompress.c - recompressing cold pages with a stronger algorithm
 * (zram's recomp_algorithm and recompress): by hand, and by the
 * housekeeping thread's policy in small batches.
 *
 * A page's object is copied out under its slot's lock, decoded and
 * recompressed without it (readers and writers of the page never wait on
 * the compressor), and swapped in under the lock only if the page did not
 * change meanwhile; otherwise the new object is dropped.
 *
 * With a current trained dictionary (dicts.c) and zstd as the algorithm,
 * pages are compressed against it; pages on a retired dictionary are
 * recompressed too, onto the current one (or plainly), whatever their
 * new size, so that the retired dictionary can be freed.  Pages written
 * with LZ4 against the current dictionary (dictionary_lz4) are
 * candidates as plain LZ4 ones are, kept only if smaller. */
#include <errno.h>
#include <stdlib.h>
#include <sys/sysinfo.h>

#include "internal.h"

/* Per-thread scratch: the object, the page, the new object. */
static __thread uint8_t tls_obj[UZ_PAGE_SIZE] __attribute__((aligned(64)));
static __thread uint8_t tls_page[UZ_PAGE_SIZE] __attribute__((aligned(64)));
static __thread uint8_t tls_out[UZ_PAGE_SIZE] __attribute__((aligned(64)));

/* The policy's batch: 4096 pages (16 MiB) per housekeeping round (every
 * UZ_COMPACT_INTERVAL_MS), about 40 ms of one core with zstd level 3
 * (tests/bench/io.sh prints the rate): at most a tenth of a core, so that
 * the I/O path keeps its CPU; and a new pass over the slots at most every
 * RC_PASS_TICKS. */
#define RC_BATCH_PAGES 4096
#define RC_PASS_TICKS 2

struct rc_filter {
	enum uz_writeback_type type;
	uint32_t threshold; /* bytes */
	uint32_t min_age, now; /* UZ_WB_AGED: ticks */
	/* the dictionary to compress against (NULL: none) and its slot;
	 * the dictionary slots whose pages move (retired ones) */
	const struct uz_dict *dict;
	int dict_slot;
	bool retiring[SLOT_DICTS];
};

/* Fills f's dictionaries for a run with c.  Caller holds rc_lock (they
 * stay as they are until it is released). */
static void rc_filter_dicts(struct uz_store *st, const struct uz_codec *c, struct rc_filter *f)
{
	f->dict = c->algo == UZ_ALGO_ZSTD ? store_dict_current(st, &f->dict_slot) : NULL;
	if (!f->dict)
		f->dict_slot = -1;
	for (int k = 0; k < SLOT_DICTS; k++)
		f->retiring[k] = atomic_load(&st->dicts[k].d) && k != st->dict_cur;
}

static bool rc_wanted(const struct rc_filter *f, uint32_t meta)
{
	uint32_t size = slot_size(meta);
	int k = slot_dict(meta);

	/* In memory, and LZ4 now (plain, not found incompressible before,
	 * or against a dictionary), or on a retired dictionary. */
	if (!store_page_of_type(f->type, meta, f->min_age, f->now) ||
	    (slot_codec(meta) != SLOT_LZ4 && (k < 0 || (algo_of(meta) != UZ_ALGO_LZ4 && !f->retiring[k]))))
		return false;
	return size >= f->threshold;
}

/* Pages that come out of the dictionary larger than this are compressed
 * plainly too, and keep the smaller form: a dictionary never makes a page
 * larger than zstd alone would (about a third of the Linux tree's pages
 * pass it: an extra zstd:3 compression, 20 us against 53 for the frame
 * against the dictionary). */
#define RC_DICT_CHECK_BYTES ((int)UZ_PAGE_SIZE / 4)

/* Recompresses slot idx if f wants it.  Returns 0, or the negative errno
 * of a failed allocation (the page is left as it was). */
static int recompress_one(struct uz_store *st, const struct uz_codec *c, const struct rc_filter *f, uint64_t idx,
			  struct uz_slot *s, struct uz_recompress_result *res)
{
	struct afm *e = engine_of(st, idx);
	struct slot_val v, cur, nv;
	struct afm_handle h, nh;
	uint32_t size, old_fp;
	const uint8_t *src;
	bool keep, moving, on_dict;
	int clen, err;

	slot_read(s, uz_slot_lock(s), &v);
	if (!rc_wanted(f, v.meta)) {
		uz_slot_unlock(s, v.meta);
		return 0;
	}
	size = slot_size(v.meta);
	handle_of(&v, &h);
	afm_load(e, size, &h, tls_obj);
	uz_slot_unlock(s, v.meta);

	if (slot_type(v.meta) == SLOT_RAW) {
		src = tls_obj;
		old_fp = UZ_PAGE_SIZE;
	} else {
		/* A corrupt object is left for reads to report.  (A retired
		 * dictionary is not freed while this run holds rc_lock.) */
		if (store_decompress(st, v.meta, tls_obj, (int)size, tls_page))
			return 0;
		src = tls_page;
		old_fp = afm_footprint(size);
	}
	on_dict = f->dict != NULL;
	if (on_dict)
		clen = uz_dict_compress(f->dict, c, src, tls_out, (int)UZ_PAGE_SIZE - 1);
	else
		clen = uz_codec_compress(c, src, tls_out, (int)UZ_PAGE_SIZE - 1);
	if (clen < 0)
		return clen;
	if (on_dict && (clen == 0 || clen > RC_DICT_CHECK_BYTES)) {
		/* A page the dictionary did little for (frames against one keep
		 * their literals raw: compress/dict.c) may be smaller plain. */
		uint8_t plain[UZ_PAGE_SIZE];
		int plen = uz_codec_compress(c, src, plain, (int)UZ_PAGE_SIZE - 1);

		if (plen < 0)
			return plen;
		if (plen > 0 && (clen == 0 || plen < clen)) {
			memcpy(tls_out, plain, (size_t)plen);
			clen = plen;
			on_dict = false;
		}
	}
	res->tried++;
	res->orig_bytes += UZ_PAGE_SIZE;
	atomic_fetch_add_explicit(&st->rc_tried, 1, memory_order_relaxed);
	/* Kept only if it takes less memory after afmalloc's rounding; a
	 * page leaving a retired dictionary moves if it fits at all. */
	moving = slot_dict(v.meta) >= 0 && f->retiring[slot_dict(v.meta)];
	keep = clen > 0 && afm_footprint((uint32_t)clen) < (moving ? UZ_PAGE_SIZE : old_fp);
	if (keep) {
		/* It frees more than it takes: the limit's reserve may serve. */
		err = afm_alloc_over(e, (uint32_t)clen, &nh);
		if (err)
			return err;
		afm_store(e, (uint32_t)clen, &nh, tls_out);
	}

	slot_read(s, uz_slot_lock(s), &cur);
	if (!slot_same_object(&cur, &v)) {
		/* rewritten, discarded, moved or written back meanwhile */
		uz_slot_unlock(s, cur.meta);
		if (keep)
			afm_free(e, (uint32_t)clen, &nh);
		return 0;
	}
	if (!keep) {
		/* (a page on a retired dictionary is tried again next time;
		 * so is one with LZ4 against the current one: its codec has
		 * no "tried" form) */
		uz_slot_unlock(s, slot_dict(cur.meta) >= 0 ? cur.meta : slot_with_codec(cur.meta, SLOT_LZ4_TRIED));
		return 0;
	}
	/* The idle mark and the access time stay: the page was not used. */
	nv.meta = slot_with_codec((cur.meta & (SLOT_IDLE | SLOT_ATIME_MASK)) | slot_meta(SLOT_COMP, (uint32_t)clen),
				  on_dict ? slot_dict_codec(1, f->dict_slot) : (enum slot_codec)c->algo);
	memcpy(nv.w, nh.ref, sizeof(nh.ref));
	slot_write(s, &nv);
	uz_slot_unlock(s, nv.meta);
	store_account(st, &cur, -1);
	store_account(st, &nv, +1);
	store_release(st, e, &cur);
	res->kept++;
	if (on_dict) {
		res->dict_kept++;
		atomic_fetch_add_explicit(&st->rc_dict_pages, 1, memory_order_relaxed);
	}
	if ((uint32_t)clen < size) { /* (a page that moved may have grown) */
		res->bytes_saved += size - (uint32_t)clen;
		atomic_fetch_add_explicit(&st->rc_saved, size - (uint32_t)clen, memory_order_relaxed);
	}
	return 0;
}

/* Recompresses the pages f wants in slots [first, end), until max pages
 * were tried; *next gets the slot to go on from.  Caller holds rc_lock,
 * or (scanned set: a share of a run by hand, in a thread of its own) the
 * thread that started the run holds it.  Returns 0 or the negative errno
 * that stopped it. */
static int rc_range(struct uz_store *st, const struct uz_codec *c, const struct rc_filter *f, uint64_t first,
		    uint64_t end, uint64_t max, struct uz_recompress_result *res, uint64_t *next,
		    _Atomic uint64_t *scanned)
{
	uint64_t i, report = first + PROGRESS_SLOTS;
	struct uz_slot *s;
	int err = 0;

	if (!scanned) /* the policy: this thread */
		uz_assert_held(&st->rc_lock);
	for (i = first; res->tried < max && !err && (s = uz_slots_next(st->slots, &i, end)); i++) {
		if (scanned && i >= report) { /* by hand: tell how far all shares are */
			uint64_t done = atomic_fetch_add(scanned, i - (report - PROGRESS_SLOTS)) + i -
					(report - PROGRESS_SLOTS);

			store_progress(st, UZ_PROGRESS_RECOMPRESS, done * UZ_PAGE_SIZE,
				       uz_slots_count(st->slots) * UZ_PAGE_SIZE);
			report = i + PROGRESS_SLOTS;
		}
		if (rc_wanted(f, atomic_load_explicit(&s->meta, memory_order_relaxed)))
			err = recompress_one(st, c, f, i, s, res);
	}
	*next = i < end ? i : end;
	return err;
}

/* The housekeeping thread's policy: its age (under the store's
 * rc_cfg_lock), and its pass over the slots (only that thread's). */
struct rc_policy {
	uint64_t after_s; /* 0: off */
	uint64_t cursor; /* next slot the policy looks at */
	uint32_t pass_start; /* ticks when the pass began */
	struct uz_recompress_result pass; /* what the pass did so far */
	void (*on_recompress)(void *ctx, const struct uz_recompress_result *r);
	void *on_recompress_ctx;
};

struct rc_policy *store_rc_policy_new(const struct uz_store_config *cfg)
{
	struct rc_policy *p = calloc(1, sizeof(*p));

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->after_s = cfg->recompress_after_s;
	p->on_recompress = cfg->on_recompress;
	p->on_recompress_ctx = cfg->on_recompress_ctx;
	return p;
}

void store_rc_policy_free(struct rc_policy *p)
{
	free(p);
}

struct uz_codec store_rc_settings(struct uz_store *st, uint64_t *after_s)
{
	struct uz_codec c;

	uz_mutex_lock(&st->rc_cfg_lock);
	c = st->recomp;
	if (after_s)
		*after_s = st->rc_policy->after_s;
	uz_mutex_unlock(&st->rc_cfg_lock);
	return c;
}

/* One share of a recompression asked for by hand. */
struct rc_worker {
	struct uz_store *st;
	const struct uz_codec *c;
	const struct rc_filter *f;
	uint64_t first, end;
	_Atomic uint64_t *scanned; /* slots scanned by every share */
	struct uz_recompress_result res;
	pthread_t thread;
	bool started;
};

static void *rc_worker_run(void *arg)
{
	struct rc_worker *w = arg;
	uint64_t next;

	uz_store_thread_warm(); /* it holds slot locks: no faults under them */
	w->res.error = rc_range(w->st, w->c, w->f, w->first, w->end, UINT64_MAX, &w->res, &next, w->scanned);
	return NULL;
}

/* Devices smaller than this many slots are recompressed by one thread. */
#define RC_PARALLEL_MIN_SLOTS (1u << 16)
#define RC_MAX_THREADS 8

int uz_store_recompress(struct uz_store *st, enum uz_writeback_type type, uint32_t threshold,
			struct uz_recompress_result *res)
{
	struct rc_filter f = { .type = type, .threshold = threshold };
	struct uz_codec c = store_rc_settings(st, NULL);
	struct rc_worker w[RC_MAX_THREADS];
	uint64_t used, nslots = uz_slots_count(st->slots);
	_Atomic uint64_t scanned = 0;
	int n = get_nprocs();

	memset(res, 0, sizeof(*res));
	if (type > UZ_WB_ALL)
		return res->error = -EINVAL;
	if (c.algo == UZ_ALGO_LZ4)
		return res->error = -ENODEV;
	/* By hand, someone is waiting for it: one share of the slots per
	 * CPU (each page is locked only to copy it out and to swap it in,
	 * so I/O goes on meanwhile).  The policy uses one thread. */
	if (n > RC_MAX_THREADS)
		n = RC_MAX_THREADS;
	if (n < 1 || nslots < RC_PARALLEL_MIN_SLOTS)
		n = 1;
	uz_mutex_lock(&st->rc_lock);
	rc_filter_dicts(st, &c, &f);
	used = store_mem_used(st);
	store_progress(st, UZ_PROGRESS_RECOMPRESS, 0, nslots * UZ_PAGE_SIZE);
	for (int i = 0; i < n; i++) {
		w[i] = (struct rc_worker){ .st = st, .c = &c, .f = &f, .first = nslots * (uint64_t)i / (uint64_t)n,
					   .end = nslots * (uint64_t)(i + 1) / (uint64_t)n, .scanned = &scanned };
		/* The last share, or any a thread cannot be made for, runs here. */
		w[i].started = i < n - 1 && pthread_create(&w[i].thread, NULL, rc_worker_run, &w[i]) == 0;
	}
	for (int i = 0; i < n; i++)
		if (!w[i].started)
			rc_worker_run(&w[i]);
	for (int i = 0; i < n; i++) {
		if (w[i].started)
			pthread_join(w[i].thread, NULL);
		res->tried += w[i].res.tried;
		res->kept += w[i].res.kept;
		res->dict_kept += w[i].res.dict_kept;
		res->orig_bytes += w[i].res.orig_bytes;
		res->bytes_saved += w[i].res.bytes_saved;
		if (!res->error)
			res->error = w[i].res.error;
	}
	store_dicts_reap(st); /* the retired dictionary, if its last page moved */
	store_dicts_drop_tables(st);
	uz_mutex_unlock(&st->rc_lock);
	store_compact_after(st, res->kept, used, &res->bytes_freed);
	return res->error;
}

void uz_store_set_recompress(struct uz_store *st, const struct uz_codec *c, uint64_t after_s)
{
	uz_mutex_lock(&st->rc_cfg_lock);
	st->recomp = *c;
	st->rc_policy->after_s = after_s;
	uz_mutex_unlock(&st->rc_cfg_lock);
}

void store_rc_policy(struct uz_store *st)
{
	struct rc_policy *p = st->rc_policy;
	uint64_t after_s, nslots = uz_slots_count(st->slots), next;
	struct uz_codec c = store_rc_settings(st, &after_s);
	struct uz_recompress_result batch = { 0 };
	struct rc_filter f = { .type = UZ_WB_AGED };
	struct uz_recompress_result *pass = &p->pass;
	int err;

	if (c.algo == UZ_ALGO_LZ4 || !after_s)
		return;
	f.now = clock_now(st);
	f.min_age = (uint32_t)(after_s / UZ_IDLE_TICK_S);
	if (p->cursor == 0) {
		if (f.now - p->pass_start < RC_PASS_TICKS)
			return;
		p->pass_start = f.now;
		memset(pass, 0, sizeof(*pass));
	}
	uz_mutex_lock(&st->rc_lock);
	rc_filter_dicts(st, &c, &f);
	err = rc_range(st, &c, &f, p->cursor, nslots, RC_BATCH_PAGES, &batch, &next, NULL);
	store_dicts_reap(st);
	store_dicts_drop_tables(st);
	uz_mutex_unlock(&st->rc_lock);
	pass->tried += batch.tried;
	pass->kept += batch.kept;
	pass->dict_kept += batch.dict_kept;
	pass->orig_bytes += batch.orig_bytes;
	pass->bytes_saved += batch.bytes_saved;
	p->cursor = next;
	if (err) { /* out of memory for new objects: end the pass here */
		pass->error = err;
		p->cursor = nslots;
	}
	if (p->cursor < nslots)
		return;
	p->cursor = 0;
	/* The pass is over: give back what it freed, and say what it did. */
	store_compact_after(st, pass->kept, store_mem_used(st), &pass->bytes_freed);
	if ((pass->tried || pass->error) && p->on_recompress)
		p->on_recompress(p->on_recompress_ctx, pass);
}
