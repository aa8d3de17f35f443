/* store/store.c - pages in, compressed objects out. */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../compress/page.h"
#include "backing.h"
#include "internal.h"
#include "reserve.h"
#include "shard.h"
#include "slot.h"

/* Per-thread scratch: no allocation on the I/O path. */
static __thread uint8_t tls_cbuf[UZ_COMPRESS_BOUND] __attribute__((aligned(64)));
static __thread uint8_t tls_page[UZ_PAGE_SIZE] __attribute__((aligned(64)));

static const uint8_t zero_page[UZ_PAGE_SIZE];

void store_account(struct uz_store *st, const struct slot_val *v, int sign)
{
	uint64_t bytes = 0;

	if (slot_type(v->meta) == SLOT_COMP) {
		UZ_SHARD_ADD(st->cnt, algo_pages[algo_of(v->meta)], sign);
		UZ_SHARD_ADD(st->cnt, algo_bytes[algo_of(v->meta)], (int64_t)sign * slot_size(v->meta));
		store_dict_account(st, v->meta, sign);
	}
	if (v->meta & SLOT_WB) { /* counted out of memory when written back */
		UZ_SHARD_ADD(st->cnt, wb_pages, sign);
		return;
	}
	if (v->meta & SLOT_IDLE)
		UZ_SHARD_ADD(st->cnt, idle_pages, sign);
	switch (slot_type(v->meta)) {
	case SLOT_EMPTY:
		return;
	case SLOT_SAME:
		UZ_SHARD_ADD(st->cnt, same_pages, sign);
		break;
	case SLOT_COMP:
		bytes = slot_size(v->meta);
		break;
	case SLOT_RAW:
		bytes = UZ_PAGE_SIZE;
		UZ_SHARD_ADD(st->cnt, huge_pages, sign);
		if (sign > 0)
			UZ_SHARD_ADD(st->cnt, huge_pages_since, 1);
		break;
	}
	UZ_SHARD_ADD(st->cnt, pages_stored, sign);
	UZ_SHARD_ADD(st->cnt, compr_bytes, (int64_t)sign * (int64_t)bytes);
}

/* The engine for a write into slot idx, made if needed.  Returns NULL
 * when it cannot be made (out of memory). */
struct afm *store_engine_for_write(struct uz_store *st, uint64_t idx)
{
	struct afm *e = engine_of(st, idx);

	if (e)
		return e;
	uz_mutex_lock(&st->engine_lock);
	e = engine_of(st, idx);
	if (!e) {
		e = afm_create(&st->acfg);
		if (e)
			atomic_store_explicit(&st->engines[idx >> ENGINE_SLOT_SHIFT], e, memory_order_release);
	}
	uz_mutex_unlock(&st->engine_lock);
	return e;
}

void store_release(struct uz_store *st, struct afm *e, const struct slot_val *v)
{
	struct afm_handle h;

	if (v->meta & SLOT_WB) {
		uz_backing_free(st->backing, wb_off(v), slot_size(v->meta));
		return;
	}
	if (slot_type(v->meta) == SLOT_COMP || slot_type(v->meta) == SLOT_RAW) {
		handle_of(v, &h);
		afm_free(e, slot_size(v->meta), &h);
	}
}

/* LZ4 against the dictionary costs writes time (0.95x plain LZ4's
 * throughput where it matches the data, 0.75x where it does not:
 * tests/bench/lz4dictbench.c), so writes use it only while it pays: one
 * page in LZ4_PROBE_EVERY that a thread writes is compressed both ways,
 * and over each LZ4_PROBE_WINDOW such probes (8 MiB of writes) the
 * dictionary must save LZ4_MIN_GAIN_PERMILLE of plain LZ4's bytes. */
#define LZ4_PROBE_EVERY 32
#define LZ4_PROBE_WINDOW 64
#define LZ4_MIN_GAIN_PERMILLE 30

/* Counts a probe's two sizes; the probe that ends a window decides. */
static void lz4_probe_note(struct uz_store *st, int plain, int dict)
{
	uint64_t p = atomic_fetch_add(&st->lz4_probe_plain, (uint64_t)plain) + (uint64_t)plain;
	uint64_t d = atomic_fetch_add(&st->lz4_probe_dict, (uint64_t)dict) + (uint64_t)dict;

	UZ_SHARD_ADD(st->cnt, dict_lz4_probes, 1);
	if (atomic_fetch_add(&st->lz4_probe_n, 1) + 1 < LZ4_PROBE_WINDOW)
		return;
	atomic_store(&st->lz4_pays, d * 1000 <= p * (1000 - LZ4_MIN_GAIN_PERMILLE));
	atomic_store(&st->lz4_probe_n, 0);
	atomic_store(&st->lz4_probe_plain, 0);
	atomic_store(&st->lz4_probe_dict, 0);
}

/* Compresses a page into tls_cbuf: with LZ4 against the dictionary
 * writes use, if there is one and it pays or this page probes it (*k its
 * slot, with the page counted on it: store_dict_get), else plainly (*k
 * -1).  Returns the length, or 0 when it does not fit. */
static int compress_page(struct uz_store *st, const void *page, int *k)
{
	static const struct uz_codec lz4 = { UZ_ALGO_LZ4, 0 };
	static __thread unsigned probe_seq;
	uint8_t plain[UZ_COMPRESS_BOUND];
	const struct uz_dict *d;
	bool probe;
	int clen, plen;

	*k = -1;
	if (atomic_load_explicit(&st->dict_wr, memory_order_relaxed) < 0)
		return uz_page_compress(page, tls_cbuf, (int)sizeof(tls_cbuf));
	probe = ++probe_seq % LZ4_PROBE_EVERY == 0;
	if (!probe && !atomic_load_explicit(&st->lz4_pays, memory_order_relaxed))
		return uz_page_compress(page, tls_cbuf, (int)sizeof(tls_cbuf));
	d = store_dict_get(st, k);
	if (!d)
		return uz_page_compress(page, tls_cbuf, (int)sizeof(tls_cbuf));
	clen = uz_dict_compress(d, &lz4, page, tls_cbuf, (int)sizeof(tls_cbuf));
	if (clen <= 0) {
		store_dict_put(st, *k); /* (no memory for this thread's window, or no fit) */
		*k = -1;
		return uz_page_compress(page, tls_cbuf, (int)sizeof(tls_cbuf));
	}
	if (!probe)
		return clen;
	plen = uz_page_compress(page, plain, (int)sizeof(plain));
	lz4_probe_note(st, plen > 0 ? plen : (int)UZ_PAGE_SIZE, clen);
	if (plen <= 0 || plen > clen)
		return clen;
	/* the page itself keeps the smaller form */
	store_dict_put(st, *k);
	*k = -1;
	memcpy(tls_cbuf, plain, (size_t)plen);
	return plen;
}

/* Turns a page into a slot value, allocating and filling its chunks.
 * Uses tls_cbuf.  A page against a dictionary is counted on it already
 * (store_account must not count it again: encoded_account).  Returns 0
 * or the engine's negative errno. */
static int encode(struct uz_store *st, struct afm *e, const void *page, struct slot_val *v, bool over)
{
	struct afm_handle h;
	uint64_t word;
	int clen, err, k;

	memset(v, 0, sizeof(*v));
	if (uz_page_same_filled(page, &word)) {
		v->meta = slot_meta(SLOT_SAME, 0);
		memcpy(v->w, &word, sizeof(word));
		return 0;
	}
	clen = compress_page(st, page, &k);
	/* afm_footprint() is 0 for sizes beyond a page: test the size first. */
	if (clen > 0 && clen < (int)UZ_PAGE_SIZE && afm_footprint((uint32_t)clen) < UZ_PAGE_SIZE) {
		err = over ? afm_alloc_over(e, (uint32_t)clen, &h) : afm_alloc(e, (uint32_t)clen, &h);
		if (err)
			goto out;
		afm_store(e, (uint32_t)clen, &h, tls_cbuf);
		v->meta = slot_meta(SLOT_COMP, (uint32_t)clen);
		if (k >= 0) {
			v->meta = slot_with_codec(v->meta, slot_dict_codec(0, k));
			UZ_SHARD_ADD(st->cnt, dict_lz4_writes, 1);
			k = -1; /* the count is the page's */
		}
	} else {
		/* Compressed, it would cost as much as the page itself. */
		err = over ? afm_alloc_over(e, UZ_PAGE_SIZE, &h) : afm_alloc(e, UZ_PAGE_SIZE, &h);
		if (err)
			goto out;
		afm_store(e, UZ_PAGE_SIZE, &h, page);
		v->meta = slot_meta(SLOT_RAW, UZ_PAGE_SIZE);
	}
	memcpy(v->w, h.ref, sizeof(h.ref));
out:
	if (k >= 0)
		store_dict_put(st, k);
	return err;
}

/* store_account(+1) for what encode() made: its dictionary count, if
 * any, was taken by encode. */
static void encoded_account(struct uz_store *st, const struct slot_val *v)
{
	struct slot_val plain = *v;

	if (slot_dict(v->meta) >= 0)
		plain.meta = slot_with_codec(v->meta, SLOT_LZ4); /* the same algorithm for the counters */
	store_account(st, &plain, +1);
}

/* Copies a page's object into dst: see internal.h. */
int store_load_object(struct uz_store *st, struct afm *e, const struct slot_val *v, uint32_t size, void *dst)
{
	struct afm_handle h;

	uz_assert_rank_held(UZ_LOCK_SLOT);
	if (v->meta & SLOT_WB) {
		UZ_SHARD_ADD(st->cnt, wb_reads, 1);
		return uz_backing_read(st->backing, wb_off(v), size, dst) ? -EIO : 0;
	}
	handle_of(v, &h);
	afm_load(e, size, &h, dst);
	return 0;
}

/* Restore: see internal.h. */
int store_restore_page(struct uz_store *st, uint64_t idx, uint32_t meta, const void *obj, bool idle)
{
	struct uz_slot *s = uz_slots_get(st->slots, idx, true);
	struct slot_val v = { .meta = meta };
	struct afm_handle h;
	struct afm *e;
	int err;

	if (!s)
		return -ENOMEM;
	if (slot_type(meta) == SLOT_SAME) {
		memcpy(v.w, obj, 8);
	} else if (slot_type(meta) != SLOT_EMPTY) {
		e = store_engine_for_write(st, idx);
		if (!e)
			return -ENOMEM;
		err = afm_alloc(e, slot_size(meta), &h);
		if (err)
			return err;
		afm_store(e, slot_size(meta), &h, obj);
		memcpy(v.w, h.ref, sizeof(h.ref));
	}
	if (slot_type(meta) != SLOT_EMPTY)
		v.meta = slot_touch(v.meta, clock_now(st)) | (idle ? SLOT_IDLE : 0);
	uz_slot_lock(s);
	slot_write(s, &v);
	uz_slot_unlock(s, v.meta);
	store_account(st, &v, +1);
	return 0;
}

bool store_is_empty(struct uz_store *st)
{
	return !UZ_SHARD_SUM(st->cnt, pages_stored) && !UZ_SHARD_SUM(st->cnt, wb_pages);
}

void store_wb_pause(struct uz_store *st)
{
	uz_mutex_lock(&st->wb_lock);
}

void store_wb_resume(struct uz_store *st)
{
	uz_mutex_unlock(&st->wb_lock);
}

/* Decode: see internal.h (uses tls_cbuf). */
int store_decode(struct uz_store *st, struct afm *e, const struct slot_val *v, void *page)
{
	uint64_t word;

	uz_assert_rank_held(UZ_LOCK_SLOT);
	switch (slot_type(v->meta)) {
	case SLOT_EMPTY:
		memset(page, 0, UZ_PAGE_SIZE);
		return 0;
	case SLOT_SAME:
		memcpy(&word, v->w, sizeof(word));
		uz_page_fill(page, word);
		return 0;
	case SLOT_RAW:
		return store_load_object(st, e, v, UZ_PAGE_SIZE, page);
	case SLOT_COMP:
		break;
	}
	if (store_load_object(st, e, v, slot_size(v->meta), tls_cbuf))
		return -EIO;
	return store_decompress(st, v->meta, tls_cbuf, (int)slot_size(v->meta), page);
}

/* The meta a read leaves: touched now, no longer idle. */
static inline uint32_t read_touch(struct uz_store *st, uint32_t meta)
{
	if (meta & SLOT_IDLE)
		UZ_SHARD_ADD(st->cnt, idle_pages, -1);
	return slot_touch(meta, clock_now(st));
}

static int read_page(struct uz_store *st, uint64_t idx, void *dst)
{
	struct uz_slot *s = uz_slots_get(st->slots, idx, false);
	struct slot_val v;
	struct afm_handle h;
	int err;

	if (!s) {
		memset(dst, 0, UZ_PAGE_SIZE);
		return 0;
	}
	slot_read(s, uz_slot_lock(s), &v);
	if (slot_type(v.meta) != SLOT_COMP || (v.meta & SLOT_WB) || slot_dict(v.meta) >= 0) {
		/* (a written-back page is read under its lock: its blocks
		 * cannot be freed and reused meanwhile; so is a page against
		 * a dictionary, which is not freed while a slot names it) */
		err = store_decode(st, engine_of(st, idx), &v, dst);
		uz_slot_unlock(s, slot_type(v.meta) == SLOT_EMPTY ? v.meta : read_touch(st, v.meta));
		return err;
	}
	/* Copy the compressed bytes out, decompress without the lock. */
	handle_of(&v, &h);
	afm_load(engine_of(st, idx), slot_size(v.meta), &h, tls_cbuf);
	uz_slot_unlock(s, read_touch(st, v.meta));
	return uz_codec_decompress(algo_of(v.meta), tls_cbuf, (int)slot_size(v.meta), dst);
}

/* Whether a page's write replaces data rather than adds it (the page
 * holds some, or a zero range left it allocated): it may then use the
 * memory limit's reserve (afm_alloc_over()). */
static inline bool holds_data(uint32_t meta)
{
	return slot_type(meta) != SLOT_EMPTY || (meta & SLOT_ZEROED);
}

/* Writes part of a page (or all of it: off 0, len 4096). */
static int write_page(struct uz_store *st, uint64_t idx, const void *src, uint32_t off, uint32_t len)
{
	struct uz_slot *s = uz_slots_get(st->slots, idx, true);
	struct afm *e = store_engine_for_write(st, idx);
	struct slot_val old, new;
	int err;

	if (!s || !e)
		return -ENOMEM;
	if (len == UZ_PAGE_SIZE) {
		/* Compress outside the lock: pages being written at once by
		 * different threads do not wait on each other.  A page that
		 * holds data is replaced, not added: it may use the memory
		 * limit's reserve (a racing discard only makes that wrong
		 * for one page). */
		err = encode(st, e, src, &new, holds_data(atomic_load_explicit(&s->meta, memory_order_relaxed)));
		if (err)
			return err;
		slot_read(s, uz_slot_lock(s), &old);
	} else {
		slot_read(s, uz_slot_lock(s), &old);
		err = store_decode(st, e, &old, tls_page);
		if (!err) {
			memcpy(tls_page + off, src, len);
			err = encode(st, e, tls_page, &new, holds_data(old.meta));
		}
		if (err) {
			uz_slot_unlock(s, old.meta);
			return err;
		}
	}
	new.meta = slot_touch(new.meta, clock_now(st));
	slot_write(s, &new);
	uz_slot_unlock(s, new.meta);
	store_account(st, &old, -1);
	encoded_account(st, &new);
	store_release(st, e, &old);
	return 0;
}

/* The part of [off, off+len) that lies in off's page: returns its length
 * and sets *poff to its offset in the page. */
static inline uint32_t page_span(uint64_t off, uint64_t len, uint32_t *poff)
{
	*poff = (uint32_t)(off & (UZ_PAGE_SIZE - 1));
	return UZ_PAGE_SIZE - *poff < len ? UZ_PAGE_SIZE - *poff : (uint32_t)len;
}

static bool in_range(struct uz_store *st, uint64_t len, uint64_t off)
{
	if (off > st->disksize || len > st->disksize - off) {
		atomic_fetch_add_explicit(&st->invalid_io, 1, memory_order_relaxed);
		return false;
	}
	return true;
}

#define SPAN_PAGES 64

/* Reads the whole pages from idx on (at most max, and SPAN_PAGES) whose
 * objects are in the backing store within one span of it, as writeback
 * leaves pages written side by side: their slots are locked in ascending
 * order (so that two such readers never wait on each other in a circle),
 * their blocks read with one read, their pages decoded into d.  Returns
 * the pages read, 0 when fewer than two pages qualify (read them one by
 * one), or -EIO. */
static int read_wb_span(struct uz_store *st, uint64_t idx, uint64_t max, uint8_t *d)
{
	struct uz_slot *slot[SPAN_PAGES];
	struct slot_val v[SPAN_PAGES];
	uint64_t first = 0, end = 0;
	const uint8_t *data = NULL;
	unsigned n = 0;
	int err;

	while (n < max && n < SPAN_PAGES) {
		struct uz_slot *s = uz_slots_get(st->slots, idx + n, false);
		uint64_t o, lo, hi;
		uint32_t size;

		if (!s || !(atomic_load_explicit(&s->meta, memory_order_relaxed) & SLOT_WB))
			break;
		slot_read(s, uz_slot_lock(s), &v[n]);
		size = slot_size(v[n].meta);
		o = wb_off(&v[n]);
		lo = o & ~(uint64_t)(UZ_BACKING_BLOCK - 1);
		hi = (o + size + UZ_BACKING_BLOCK - 1) & ~(uint64_t)(UZ_BACKING_BLOCK - 1);
		if (n && (lo < first ? lo : first) + UZ_BACKING_SPAN < (hi > end ? hi : end))
			lo = UINT64_MAX; /* too far from the others: not in this span */
		if (!(v[n].meta & SLOT_WB) || lo == UINT64_MAX) {
			uz_slot_unlock(s, v[n].meta);
			break;
		}
		first = n && first < lo ? first : lo;
		end = n && end > hi ? end : hi;
		slot[n++] = s;
	}
	if (n < 2) {
		if (n)
			uz_slot_unlock(slot[0], v[0].meta);
		return 0;
	}
	err = uz_backing_read_span(st->backing, first, (uint32_t)(end - first), &data) ? -EIO : 0;
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *obj = data + (wb_off(&v[i]) - first);

		if (!err && slot_type(v[i].meta) == SLOT_RAW)
			memcpy(d + (size_t)i * UZ_PAGE_SIZE, obj, UZ_PAGE_SIZE);
		else if (!err)
			err = store_decompress(st, v[i].meta, obj, (int)slot_size(v[i].meta),
					       d + (size_t)i * UZ_PAGE_SIZE);
		UZ_SHARD_ADD(st->cnt, wb_reads, 1);
		uz_slot_unlock(slot[i], err ? v[i].meta : read_touch(st, v[i].meta));
	}
	return err ? err : (int)n;
}

int uz_store_read(struct uz_store *st, void *buf, size_t len, uint64_t off)
{
	uint8_t *d = buf;
	int err;

	if (!in_range(st, len, off))
		return -EINVAL;
	while (len) {
		uint64_t idx = off >> UZ_PAGE_SHIFT;
		uint32_t poff, n = page_span(off, len, &poff);

		err = 0;
		if (n == UZ_PAGE_SIZE && st->backing && len >= 2 * UZ_PAGE_SIZE) {
			/* pages written back side by side: one read for all */
			err = read_wb_span(st, idx, len / UZ_PAGE_SIZE, d);
			if (err > 0) {
				d += (size_t)err * UZ_PAGE_SIZE;
				off += (uint64_t)err * UZ_PAGE_SIZE;
				len -= (size_t)err * UZ_PAGE_SIZE;
				continue;
			}
		}
		if (err) {
			/* the span's read failed */
		} else if (n == UZ_PAGE_SIZE) {
			err = read_page(st, idx, d);
		} else {
			err = read_page(st, idx, tls_page);
			memcpy(d, tls_page + poff, n);
		}
		if (err) {
			atomic_fetch_add_explicit(&st->failed_reads, 1, memory_order_relaxed);
			return err;
		}
		d += n;
		off += n;
		len -= n;
	}
	return 0;
}

int uz_store_write(struct uz_store *st, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *s = buf;
	int err, tries = 0;

	if (!in_range(st, len, off))
		return -EINVAL;
	while (len) {
		uint64_t idx = off >> UZ_PAGE_SHIFT;
		uint32_t poff, n = page_span(off, len, &poff);

		err = write_page(st, idx, s, poff, n);
		/* At the memory limit with a backing store: write the coldest
		 * pages back and try again (a few times: others may take the
		 * room first). */
		if (err == -ENOSPC && st->backing && tries < 4 && store_spill(st)) {
			tries++;
			continue;
		}
		if (err) {
			atomic_fetch_add_explicit(&st->failed_writes, 1, memory_order_relaxed);
			return err;
		}
		tries = 0;
		s += n;
		off += n;
		len -= n;
	}
	return 0;
}

/* Empties a page; keep: marks it SLOT_ZEROED (a zero range, which
 * stays allocated), creating its leaf if needed.  Returns 0 or -ENOMEM
 * (no leaf for the mark: the page is left as it was). */
static int discard_page(struct uz_store *st, uint64_t idx, bool keep)
{
	struct uz_slot *s = uz_slots_get(st->slots, idx, keep);
	struct slot_val old;

	if (!s)
		return keep ? -ENOMEM : 0;
	slot_read(s, uz_slot_lock(s), &old);
	uz_slot_unlock(s, slot_meta(SLOT_EMPTY, 0) | (keep ? SLOT_ZEROED : 0));
	if (slot_type(old.meta) == SLOT_EMPTY)
		return 0;
	store_account(st, &old, -1);
	store_release(st, engine_of(st, idx), &old);
	UZ_SHARD_ADD(st->cnt, notify_free, 1);
	return 0;
}

static int discard_range(struct uz_store *st, uint64_t off, uint64_t len, bool keep)
{
	int err;

	if (!in_range(st, len, off))
		return -EINVAL;
	while (len) {
		uint64_t idx = off >> UZ_PAGE_SHIFT;
		uint32_t poff, n = page_span(off, len, &poff);

		if (n == UZ_PAGE_SIZE) {
			err = discard_page(st, idx, keep);
			if (err)
				return err;
		} else if (uz_slots_get(st->slots, idx, false)) {
			err = write_page(st, idx, zero_page, poff, n);
			if (err)
				return err;
		}
		off += n;
		len -= n;
	}
	return 0;
}

int uz_store_discard(struct uz_store *st, uint64_t off, uint64_t len)
{
	return discard_range(st, off, len, false);
}

int uz_store_zero(struct uz_store *st, uint64_t off, uint64_t len)
{
	return discard_range(st, off, len, len <= UZ_ZERO_KEEP_MAX);
}

/* The sum of the engines' counters; *engines (if not NULL) gets their
 * number added. */
void store_engines_stats(struct uz_store *st, struct afm_stats *sum, uint64_t *engines)
{
	struct afm_stats one;

	memset(sum, 0, sizeof(*sum));
	for (uint64_t i = 0; i < st->nengines; i++) {
		struct afm *e = atomic_load_explicit(&st->engines[i], memory_order_acquire);

		if (e) {
			afm_stats(e, &one);
			afm_stats_add(sum, &one);
			if (engines)
				(*engines)++;
		}
	}
	sum->kind = st->acfg.arena;
	sum->mem_used_max = atomic_load(&st->budget.used_max);
	sum->mem_limit = atomic_load(&st->budget.limit);
}

/* Compacts engine e, whose objects are in slots [first, end).  Caller
 * holds compact_lock. */
static void compact_engine(struct uz_store *st, struct afm *e, uint64_t first, uint64_t end,
			   struct uz_compact_result *res)
{
	uint64_t victims = 0;
	struct uz_slot *s;

	uz_assert_held(&st->compact_lock);
	afm_compact_begin(e, &victims);
	for (uint64_t i = first; victims && (s = uz_slots_next(st->slots, &i, end)); i++) {
		struct afm_handle h;
		struct slot_val v;
		enum slot_type t;

		t = slot_type(atomic_load_explicit(&s->meta, memory_order_relaxed));
		if (t != SLOT_COMP && t != SLOT_RAW)
			continue;
		slot_read(s, uz_slot_lock(s), &v);
		t = slot_type(v.meta);
		if ((t == SLOT_COMP || t == SLOT_RAW) && !(v.meta & SLOT_WB)) {
			handle_of(&v, &h);
			if (afm_needs_move(e, slot_size(v.meta), &h)) {
				if (afm_move(e, slot_size(v.meta), &h) == 0) {
					memcpy(v.w, h.ref, sizeof(h.ref));
					slot_write(s, &v);
					res->objects_moved++;
				} else {
					res->objects_unmoved++;
				}
			}
		}
		uz_slot_unlock(s, v.meta);
	}
	afm_compact_end(e);
}

int uz_store_compact(struct uz_store *st, struct uz_compact_result *res)
{
	struct afm_stats before, after;
	uint64_t nslots = uz_slots_count(st->slots);

	memset(res, 0, sizeof(*res));
	uz_mutex_lock(&st->compact_lock);
	store_engines_stats(st, &before, NULL);
	for (uint64_t i = 0; i < st->nengines; i++) {
		struct afm *e = atomic_load_explicit(&st->engines[i], memory_order_acquire);
		uint64_t first = i << ENGINE_SLOT_SHIFT, end = (i + 1) << ENGINE_SLOT_SHIFT;

		if (e)
			compact_engine(st, e, first, end < nslots ? end : nslots, res);
	}
	store_engines_stats(st, &after, NULL);
	atomic_fetch_add(&st->compactions, 1);
	res->bytes_freed = before.mem_used_total > after.mem_used_total ? before.mem_used_total - after.mem_used_total : 0;
	res->pages_compacted = after.pages_compacted - before.pages_compacted;
	uz_mutex_unlock(&st->compact_lock);
	return 0;
}

/* --- access times and idle marks ---------------------------------------- */

/* Sets the clock from the monotonic time since the store was made. */
static void clock_update(struct uz_store *st)
{
	struct timespec ts;
	uint64_t s;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	s = (uint64_t)(ts.tv_sec - st->born.tv_sec) + atomic_load(&st->clock_skew_s);
	atomic_store(&st->ticks, (uint32_t)(s / UZ_IDLE_TICK_S));
}

/* Calls fn on every slot that may hold a page, with its lock held; fn
 * returns the meta to unlock with.  Leaves never written are skipped. */
void store_for_each_slot(struct uz_store *st, uint32_t (*fn)(struct uz_store *, struct uz_slot *, uint32_t, void *),
			  void *arg)
{
	struct uz_slot *s;
	uint64_t i;

	uz_slots_for_each(st->slots, i, s, 0, uz_slots_count(st->slots)) {
		if (slot_type(atomic_load_explicit(&s->meta, memory_order_relaxed)) == SLOT_EMPTY)
			continue;
		uz_slot_unlock(s, fn(st, s, uz_slot_lock(s), arg));
	}
}

/* Holds ages beyond MAX_AGE_TICKS at it (see MAX_AGE_TICKS). */
static uint32_t sweep_one(struct uz_store *st, struct uz_slot *s, uint32_t meta, void *arg)
{
	uint32_t now = *(uint32_t *)arg, idle = meta & SLOT_IDLE;

	(void)st;
	uz_slot_assert_held(s);
	if (slot_type(meta) == SLOT_EMPTY || age_of(meta, now) <= MAX_AGE_TICKS)
		return meta;
	return slot_touch(meta, now - MAX_AGE_TICKS) | idle;
}

/* Runs the age sweep if SWEEP_TICKS passed since the last one. */
static void age_sweep(struct uz_store *st)
{
	uint32_t now;

	uz_mutex_lock(&st->sweep_lock);
	now = clock_now(st);
	if (now - st->swept >= SWEEP_TICKS) {
		store_for_each_slot(st, sweep_one, &now);
		st->swept = now;
	}
	uz_mutex_unlock(&st->sweep_lock);
}

struct mark_arg {
	uint32_t now;
	uint32_t min_age; /* ticks; 0: every page */
	int64_t marked;
};

static uint32_t mark_one(struct uz_store *st, struct uz_slot *s, uint32_t meta, void *argp)
{
	struct mark_arg *arg = argp;
	enum slot_type t = slot_type(meta);

	(void)st;
	uz_slot_assert_held(s);
	/* As zram: same-filled and written-back pages are never idle. */
	if ((t != SLOT_COMP && t != SLOT_RAW) || (meta & (SLOT_IDLE | SLOT_WB)) || age_of(meta, arg->now) < arg->min_age)
		return meta;
	arg->marked++;
	return meta | SLOT_IDLE;
}

int64_t uz_store_mark_idle(struct uz_store *st, uint64_t age_s)
{
	struct mark_arg arg = { 0 };

	if (age_s > UZ_IDLE_MAX_AGE_S)
		return -EINVAL;
	clock_update(st);
	arg.now = clock_now(st);
	/* A page touched within the last tick is younger than any age asked
	 * for: round up. */
	arg.min_age = (uint32_t)((age_s + UZ_IDLE_TICK_S - 1) / UZ_IDLE_TICK_S);
	store_for_each_slot(st, mark_one, &arg);
	UZ_SHARD_ADD(st->cnt, idle_pages, arg.marked);
	return arg.marked;
}

void uz_store_clock_advance(struct uz_store *st, uint64_t seconds)
{
	/* In steps the age sweep keeps up with. */
	while (seconds) {
		uint64_t step = seconds < SWEEP_TICKS * UZ_IDLE_TICK_S ? seconds : SWEEP_TICKS * UZ_IDLE_TICK_S;

		atomic_fetch_add(&st->clock_skew_s, step);
		clock_update(st);
		age_sweep(st);
		seconds -= step;
	}
}

uint64_t store_mem_used(struct uz_store *st)
{
	struct afm_stats a;

	store_engines_stats(st, &a, NULL);
	return a.mem_used_total + atomic_load(&st->dict_bytes);
}

/* The memory that writeback or recompression freed is scattered over slab
 * pages: compact to give it back. */
void store_compact_after(struct uz_store *st, uint64_t pages, uint64_t used_before, uint64_t *bytes_freed)
{
	struct uz_compact_result c;
	uint64_t used;

	if (pages)
		uz_store_compact(st, &c);
	used = store_mem_used(st);
	*bytes_freed = used_before > used ? used_before - used : 0;
}

void uz_store_set_compaction(struct uz_store *st, uint32_t compact_ppm)
{
	atomic_store(&st->compact_ppm, compact_ppm);
}

/* True when the stranded space has passed the threshold. */
static bool worth_compacting(struct uz_store *st)
{
	uint32_t ppm = atomic_load(&st->compact_ppm);
	struct afm_stats s;
	uint64_t limit;

	if (!ppm)
		return false;
	store_engines_stats(st, &s, NULL);
	limit = (uint64_t)UZ_SHARD_SUM(st->cnt, compr_bytes) / 1000000 * ppm;
	if (limit < UZ_COMPACT_MIN_BYTES)
		limit = UZ_COMPACT_MIN_BYTES;
	return s.stranded_bytes > limit;
}

static void *compactor(void *arg)
{
	struct uz_store *st = arg;
	struct uz_compact_result res;
	struct timespec ts;

	/* It takes the locks that I/O takes: nothing it touches under them
	 * may wait for the kernel to find a page. */
	uz_store_thread_warm();
	uz_mutex_lock(&st->stop_lock);
	while (!st->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += UZ_COMPACT_INTERVAL_MS * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&st->stop_cond, uz_mutex_raw(&st->stop_lock), &ts);
		if (st->stopping)
			break;
		uz_mutex_unlock(&st->stop_lock);
		clock_update(st);
		age_sweep(st);
		store_rc_policy(st); /* first, so that what is written back is the smaller form */
		store_dicts_tidy(st);
		store_wb_policy(st);
		if (worth_compacting(st))
			uz_store_compact(st, &res);
		uz_mutex_lock(&st->stop_lock);
	}
	uz_mutex_unlock(&st->stop_lock);
	return NULL;
}

struct uz_store *uz_store_create(uint64_t disksize, const struct uz_store_config *cfg)
{
	struct uz_store *st;
	struct afm *e0 = NULL;

	if (disksize == 0 || disksize % UZ_PAGE_SIZE || cfg->arena > UZ_ARENA_PLAIN ||
	    cfg->first_arena >= AFM_MAX_ARENAS) {
		errno = EINVAL;
		return NULL;
	}
	/* Cache-line aligned: the counter shards each own a line. */
	if (posix_memalign((void **)&st, 64, sizeof(*st))) {
		errno = ENOMEM;
		return NULL;
	}
	memset(st, 0, sizeof(*st));
	st->disksize = disksize;
	st->compact_ppm = cfg->compact_ppm;
	atomic_store(&st->budget.limit, cfg->mem_limit);
	/* "auto" is resolved once, so that every engine maps the same kind. */
	st->acfg.arena = cfg->arena == UZ_ARENA_AUTO ? uz_arena_probe() : cfg->arena;
	st->acfg.budget = &st->budget;
	st->acfg.first_arena = cfg->first_arena;
	st->backing = cfg->backing;
	uz_mutex_init(&st->wb_lock, UZ_LOCK_WB);
	uz_mutex_init(&st->rc_lock, UZ_LOCK_RC);
	uz_mutex_init(&st->rc_cfg_lock, UZ_LOCK_RC_CFG);
	st->recomp = cfg->recomp;
	store_dicts_init(st, cfg);
	st->progress = cfg->progress;
	st->progress_ctx = cfg->progress_ctx;
	st->nengines = ((disksize - 1) >> UZ_ENGINE_SPAN_SHIFT) + 1;
	if (cfg->reserve) {
		st->reserve = uz_reserve_create(cfg->reserve, st->acfg.arena, afm_arena_desc_size());
		if (!st->reserve) {
			free(st);
			return NULL;
		}
		st->acfg.reserve = st->reserve;
		st->acfg.reserve_wait_ms = cfg->reserve_wait_ms;
		st->acfg.keep_pages = cfg->preallocate;
	}
	uz_mutex_init(&st->engine_lock, UZ_LOCK_ENGINE);
	uz_mutex_init(&st->sweep_lock, UZ_LOCK_SWEEP);
	clock_gettime(CLOCK_MONOTONIC, &st->born);
	uz_mutex_init(&st->stop_lock, UZ_LOCK_STOP);
	uz_mutex_init(&st->compact_lock, UZ_LOCK_COMPACT);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&st->stop_cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	st->wb_policy = store_wb_policy_new(cfg);
	st->rc_policy = st->wb_policy ? store_rc_policy_new(cfg) : NULL;
	st->slots = st->rc_policy ? uz_slots_create(disksize >> UZ_PAGE_SHIFT) : NULL;
	st->engines = st->slots ? calloc(st->nengines, sizeof(*st->engines)) : NULL;
	if (st->slots && !st->engines)
		errno = ENOMEM;
	e0 = st->engines ? store_engine_for_write(st, 0) : NULL;
	if (e0 && cfg->preallocate) {
		for (uint64_t i = 1; e0 && i < st->nengines; i++)
			if (!store_engine_for_write(st, i << ENGINE_SLOT_SHIFT))
				e0 = NULL;
		if (e0 && uz_slots_populate(st->slots)) {
			errno = ENOMEM;
			e0 = NULL;
		}
	}
	if (e0) {
		int e = pthread_create(&st->compactor, NULL, compactor, st);

		st->compactor_running = e == 0;
		if (e)
			errno = e;
	}
	if (!e0 || !st->compactor_running) {
		int e = errno;

		st->backing = NULL; /* the caller's again */
		uz_store_destroy(st);
		errno = e;
		return NULL;
	}
	if (st->reserve)
		uz_reserve_fill(st->reserve, 10000);
	return st;
}

void uz_store_destroy(struct uz_store *st)
{
	if (!st)
		return;
	if (st->compactor_running) {
		uz_mutex_lock(&st->stop_lock);
		st->stopping = true;
		pthread_cond_signal(&st->stop_cond);
		uz_mutex_unlock(&st->stop_lock);
		pthread_join(st->compactor, NULL);
	}
	uz_mutex_destroy(&st->stop_lock);
	uz_mutex_destroy(&st->compact_lock);
	pthread_cond_destroy(&st->stop_cond);
	uz_mutex_destroy(&st->engine_lock);
	uz_mutex_destroy(&st->sweep_lock);
	uz_mutex_destroy(&st->wb_lock);
	uz_mutex_destroy(&st->rc_lock);
	uz_mutex_destroy(&st->rc_cfg_lock);
	store_dicts_destroy(st);
	uz_backing_close(st->backing);
	for (uint64_t i = 0; st->engines && i < st->nengines; i++)
		afm_destroy(atomic_load(&st->engines[i]));
	free(st->engines);
	uz_slots_destroy(st->slots);
	store_wb_policy_free(st->wb_policy);
	store_rc_policy_free(st->rc_policy);
	uz_reserve_destroy(st->reserve); /* after the engines: they give their arenas back */
	free(st);
}

uint64_t uz_store_stored(struct uz_store *st)
{
	return (uint64_t)UZ_SHARD_SUM(st->cnt, pages_stored) * UZ_PAGE_SIZE;
}

void uz_store_stats(struct uz_store *st, struct uz_store_stats *s)
{
	memset(s, 0, sizeof(*s));
	store_engines_stats(st, &s->afm, &s->engines);
	s->hugetlb_pool_free = -1;
	if (s->afm.kind == UZ_ARENA_HUGETLB || s->afm.arenas_by_kind[UZ_ARENA_HUGETLB])
		s->hugetlb_pool_free = uz_arena_hugetlb_free();
	s->disksize = st->disksize;
	s->orig_data_size = uz_store_stored(st);
	s->compr_data_size = (uint64_t)UZ_SHARD_SUM(st->cnt, compr_bytes);
	store_dicts_stats(st, s);
	s->mem_used_total = s->afm.mem_used_total + s->dict_bytes;
	s->mem_limit = s->afm.mem_limit;
	s->mem_used_max = s->afm.mem_used_max;
	s->same_pages = (uint64_t)UZ_SHARD_SUM(st->cnt, same_pages);
	s->pages_compacted = s->afm.pages_compacted;
	s->compactions = atomic_load(&st->compactions);
	s->compact_ppm = atomic_load(&st->compact_ppm);
	s->huge_pages = (uint64_t)UZ_SHARD_SUM(st->cnt, huge_pages);
	s->huge_pages_since = (uint64_t)UZ_SHARD_SUM(st->cnt, huge_pages_since);
	s->failed_reads = atomic_load(&st->failed_reads);
	s->failed_writes = atomic_load(&st->failed_writes);
	s->invalid_io = atomic_load(&st->invalid_io);
	s->notify_free = (uint64_t)UZ_SHARD_SUM(st->cnt, notify_free);
	s->idle_pages = (uint64_t)UZ_SHARD_SUM(st->cnt, idle_pages);
	for (int a = 0; a < UZ_ALGO_COUNT; a++) {
		s->algo_pages[a] = (uint64_t)UZ_SHARD_SUM(st->cnt, algo_pages[a]);
		s->algo_bytes[a] = (uint64_t)UZ_SHARD_SUM(st->cnt, algo_bytes[a]);
		if (a != UZ_ALGO_LZ4)
			s->recomp_pages += s->algo_pages[a];
	}
	s->recomp_saved_bytes = atomic_load(&st->rc_saved);
	s->recomp_tried = atomic_load(&st->rc_tried);
	s->recomp = store_rc_settings(st, &s->recompress_after_s);
	if (st->backing) {
		struct uz_backing_stats b;

		uz_backing_stats(st->backing, &b);
		s->backing = true;
		s->wb_pages = (uint64_t)UZ_SHARD_SUM(st->cnt, wb_pages);
		s->wb_reads = (uint64_t)UZ_SHARD_SUM(st->cnt, wb_reads);
		s->bd_count = b.blocks_used;
		s->bd_reads = b.blocks_read;
		s->bd_writes = b.blocks_written;
		s->backing_bytes = b.blocks_used * UZ_BACKING_BLOCK;
		s->backing_objects = b.objects;
		s->backing_capacity = b.capacity;
		s->writeback_bytes = atomic_load(&st->wb_bytes);
		s->failed_writeback = atomic_load(&st->wb_failed);
		s->spills = atomic_load(&st->spills);
	}
	s->table_bytes = uz_slots_bytes(st->slots);
	if (st->reserve) {
		struct uz_reserve_stats r;

		uz_reserve_stats(st->reserve, &r);
		s->reserve = true;
		s->reserve_bytes = r.bytes;
		s->reserve_target = r.target;
		s->reserve_misses = r.misses;
		s->reserve_waits = r.waits;
		s->reserve_wait_max_ns = r.wait_ns_max;
	}
}

int uz_store_set_reserve(struct uz_store *st, uint64_t bytes)
{
	if (!st->reserve)
		return -ENODEV;
	uz_reserve_set_target(st->reserve, bytes);
	return 0;
}

/* Writes the stack 256 KiB deep, so that the thread never faults a stack
 * page in later, perhaps holding a lock that I/O waits on: the deepest
 * paths (zstd's decoder, LZ4's 16 KiB state, a 4 KiB move buffer,
 * libfuse's reply) use a fraction of that. */
static __attribute__((noinline)) void stack_prefault(void)
{
	volatile uint8_t deep[256 << 10];

	for (size_t i = 0; i < sizeof(deep); i += 4096)
		deep[i] = 0;
	deep[sizeof(deep) - 1] = 0;
}

void uz_store_thread_warm(void)
{
	stack_prefault();
	memset(tls_cbuf, 0, sizeof(tls_cbuf));
	memset(tls_page, 0, sizeof(tls_page));
	uz_codec_thread_warm();
}

void uz_store_set_mem_limit(struct uz_store *st, uint64_t mem_limit)
{
	atomic_store(&st->budget.limit, mem_limit);
}

static int check_locked(struct uz_store *st, char *err, size_t errlen);

int uz_store_check(struct uz_store *st, char *err, size_t errlen)
{
	int ret;

	uz_mutex_lock(&st->compact_lock); /* not in the middle of a move */
	ret = check_locked(st, err, errlen);
	uz_mutex_unlock(&st->compact_lock);
	return ret;
}

/* Caller holds compact_lock. */
static int check_locked(struct uz_store *st, char *err, size_t errlen)
{
	uint64_t stored = 0, same = 0, huge = 0, bytes = 0, objects = 0, idle = 0, wb = 0;
	uint64_t algo_pages[UZ_ALGO_COUNT] = { 0 }, algo_bytes[UZ_ALGO_COUNT] = { 0 };
	uint64_t dict_pages[SLOT_DICTS] = { 0 };
	uint64_t c_stored, c_same, c_huge, c_bytes;
	struct afm_stats as;
	uint64_t engines_used = 0;

	uz_assert_held(&st->compact_lock);
	for (uint64_t i = 0; i < st->nengines; i++) {
		struct afm *e = atomic_load(&st->engines[i]);
		int ret = e ? afm_check(e, err, errlen) : 0;

		if (ret)
			return ret;
	}
	struct uz_slot *s;
	uint64_t i;

	uz_slots_for_each(st->slots, i, s, 0, uz_slots_count(st->slots)) {
		uint32_t meta = atomic_load(&s->meta);

		if (meta & SLOT_LOCK) {
			snprintf(err, errlen, "slot %llu is locked", (unsigned long long)i);
			return -EUCLEAN;
		}
		if ((slot_type(meta) == SLOT_COMP || slot_type(meta) == SLOT_RAW) && !engine_of(st, i)) {
			snprintf(err, errlen, "slot %llu holds an object, its span has no engine", (unsigned long long)i);
			return -EUCLEAN;
		}
		if (slot_type(meta) == SLOT_COMP) {
			algo_pages[algo_of(meta)]++;
			algo_bytes[algo_of(meta)] += slot_size(meta);
			if (slot_dict(meta) >= 0)
				dict_pages[slot_dict(meta)]++;
		}
		/* The codec field: any codec on COMP pages (those against a
		 * dictionary checked below, by count); raw pages are only
		 * LZ4 or found incompressible; same-filled pages none; empty
		 * pages only the zeroed mark. */
		if ((slot_type(meta) == SLOT_RAW && slot_codec(meta) != SLOT_LZ4 && slot_codec(meta) != SLOT_LZ4_TRIED) ||
		    (slot_type(meta) == SLOT_SAME && slot_codec(meta) != SLOT_LZ4) ||
		    (slot_type(meta) == SLOT_EMPTY && (meta & SLOT_CODEC_MASK & ~SLOT_ZEROED))) {
			snprintf(err, errlen, "slot %llu: codec %d on a page of type %d", (unsigned long long)i,
				 slot_codec(meta), slot_type(meta));
			return -EUCLEAN;
		}
		if (meta & SLOT_WB) {
			if ((slot_type(meta) != SLOT_COMP && slot_type(meta) != SLOT_RAW) || !st->backing ||
			    (meta & SLOT_IDLE)) {
				snprintf(err, errlen, "slot %llu: written-back mark on meta %#x", (unsigned long long)i,
					 meta);
				return -EUCLEAN;
			}
			wb++;
			continue;
		}
		if (meta & SLOT_IDLE) {
			if (slot_type(meta) != SLOT_COMP && slot_type(meta) != SLOT_RAW) {
				snprintf(err, errlen, "slot %llu: idle mark on a page of type %d", (unsigned long long)i,
					 slot_type(meta));
				return -EUCLEAN;
			}
			idle++;
		}
		switch (slot_type(meta)) {
		case SLOT_EMPTY:
			continue;
		case SLOT_SAME:
			same++;
			break;
		case SLOT_COMP:
			if (slot_size(meta) == 0 || afm_footprint(slot_size(meta)) >= UZ_PAGE_SIZE) {
				snprintf(err, errlen, "slot %llu: compressed size %u",
					 (unsigned long long)i, slot_size(meta));
				return -EUCLEAN;
			}
			bytes += slot_size(meta);
			objects++;
			break;
		case SLOT_RAW:
			huge++;
			bytes += UZ_PAGE_SIZE;
			objects++;
			break;
		}
		stored++;
	}
	store_engines_stats(st, &as, NULL);
	if (st->backing) {
		struct uz_backing_stats b;

		uz_backing_stats(st->backing, &b);
		if (wb != (uint64_t)UZ_SHARD_SUM(st->cnt, wb_pages) || wb != b.objects) {
			snprintf(err, errlen, "%llu slots written back; wb_pages says %lld, the backing store %llu",
				 (unsigned long long)wb, (long long)UZ_SHARD_SUM(st->cnt, wb_pages),
				 (unsigned long long)b.objects);
			return -EUCLEAN;
		}
	}
	if (idle != (uint64_t)UZ_SHARD_SUM(st->cnt, idle_pages)) {
		snprintf(err, errlen, "%llu slots marked idle, idle_pages says %lld", (unsigned long long)idle,
			 (long long)UZ_SHARD_SUM(st->cnt, idle_pages));
		return -EUCLEAN;
	}
	if (store_dicts_check(st, dict_pages, err, errlen))
		return -EUCLEAN;
	for (int a = 0; a < UZ_ALGO_COUNT; a++) {
		if (algo_pages[a] != (uint64_t)UZ_SHARD_SUM(st->cnt, algo_pages[a]) ||
		    algo_bytes[a] != (uint64_t)UZ_SHARD_SUM(st->cnt, algo_bytes[a])) {
			snprintf(err, errlen, "%llu %s pages of %llu bytes; the counters say %lld of %lld",
				 (unsigned long long)algo_pages[a], uz_algo_name((enum uz_algo)a),
				 (unsigned long long)algo_bytes[a], (long long)UZ_SHARD_SUM(st->cnt, algo_pages[a]),
				 (long long)UZ_SHARD_SUM(st->cnt, algo_bytes[a]));
			return -EUCLEAN;
		}
	}
	engines_used = as.mem_used_total;
	if (engines_used != atomic_load(&st->budget.used)) {
		snprintf(err, errlen, "the engines use %llu bytes, their budget says %llu",
			 (unsigned long long)engines_used, (unsigned long long)atomic_load(&st->budget.used));
		return -EUCLEAN;
	}
	c_stored = (uint64_t)UZ_SHARD_SUM(st->cnt, pages_stored);
	c_same = (uint64_t)UZ_SHARD_SUM(st->cnt, same_pages);
	c_huge = (uint64_t)UZ_SHARD_SUM(st->cnt, huge_pages);
	c_bytes = (uint64_t)UZ_SHARD_SUM(st->cnt, compr_bytes);
	if (stored != c_stored || same != c_same || huge != c_huge || bytes != c_bytes || objects != as.objects ||
	    bytes != as.object_bytes) {
		snprintf(err, errlen,
			 "slots hold %llu pages (%llu same, %llu huge, %llu objects, %llu bytes); "
			 "counters say %llu (%llu same, %llu huge, %llu objects, %llu bytes)",
			 (unsigned long long)stored, (unsigned long long)same, (unsigned long long)huge,
			 (unsigned long long)objects, (unsigned long long)bytes,
			 (unsigned long long)c_stored, (unsigned long long)c_same, (unsigned long long)c_huge,
			 (unsigned long long)as.objects, (unsigned long long)c_bytes);
		return -EUCLEAN;
	}
	return 0;
}
