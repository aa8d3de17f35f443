/* store/writeback.c - writing pages back to the backing store (zram's
 * writeback), by hand, by the housekeeping thread's policy, and when a
 * write finds the memory limit reached (spill). */
#include <errno.h>
#include <stdlib.h>

#include "backing.h"
#include "internal.h"

/* The housekeeping thread's policy (only it touches this): pages not
 * touched for after_s, at most day_limit bytes a day. */
struct wb_policy {
	uint64_t after_s, day_limit; /* 0: off, no limit */
	uint64_t day_left; /* bytes left of today's budget */
	uint32_t day_start, last_run; /* ticks */
	void (*on_writeback)(void *ctx, const struct uz_writeback_result *r);
	void *on_writeback_ctx;
};

struct wb_policy *store_wb_policy_new(const struct uz_store_config *cfg)
{
	struct wb_policy *p = calloc(1, sizeof(*p));

	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	p->after_s = cfg->writeback_after_s;
	p->day_limit = p->day_left = cfg->writeback_limit;
	p->on_writeback = cfg->on_writeback;
	p->on_writeback_ctx = cfg->on_writeback_ctx;
	return p;
}

void store_wb_policy_free(struct wb_policy *p)
{
	free(p);
}

/* Per-thread scratch for an object on its way out. */
static __thread uint8_t tls_obj[UZ_COMPRESS_BOUND] __attribute__((aligned(64)));

/* Which pages a writeback takes. */
struct wb_filter {
	enum uz_writeback_type type;
	uint32_t min_age; /* UZ_WB_AGED: ticks */
	uint32_t now;
};

static bool wb_wanted(const struct wb_filter *f, uint32_t meta)
{
	return store_page_of_type(f->type, meta, f->min_age, f->now);
}

/* A page copied into the run being filled. */
struct wb_rec {
	uint64_t idx;
	uint64_t off;
	struct slot_val v;
};

/* Writes the run, then points each page whose copy is in it there (if
 * the page did not change meanwhile) and frees its memory.  Returns 0 or
 * the backing store's negative errno (the pages stay in memory). */
static int wb_flush(struct uz_store *st, struct uz_backing_run *run, struct wb_rec *rec, unsigned n,
		    struct uz_writeback_result *res)
{
	int err;

	uz_assert_held(&st->compact_lock);
	err = uz_backing_commit(st->backing, run);
	if (err) {
		atomic_fetch_add(&st->wb_failed, n);
		res->failed += n;
		return err;
	}
	for (unsigned i = 0; i < n; i++) {
		struct uz_slot *s = uz_slots_get(st->slots, rec[i].idx, false);
		struct slot_val cur, wb = rec[i].v;
		uint32_t size = slot_size(rec[i].v.meta);

		slot_read(s, uz_slot_lock(s), &cur);
		if (!slot_same_object(&cur, &rec[i].v)) {
			/* rewritten, discarded or moved meanwhile: the copy is stale */
			uz_slot_unlock(s, cur.meta);
			uz_backing_free(st->backing, rec[i].off, size);
			continue;
		}
		wb.meta = (cur.meta & ~SLOT_IDLE) | SLOT_WB;
		wb.w[0] = (uint32_t)rec[i].off;
		wb.w[1] = (uint32_t)(rec[i].off >> 32);
		wb.w[2] = 0;
		slot_write(s, &wb);
		uz_slot_unlock(s, wb.meta);
		/* the new form counted first: a dictionary's count of pages
		 * never falls to 0 while this page still uses it */
		store_account(st, &wb, +1);
		store_account(st, &cur, -1);
		store_release(st, engine_of(st, rec[i].idx), &cur);
		atomic_fetch_add(&st->wb_bytes, size);
		res->pages++;
		res->bytes += size;
	}
	return 0;
}

static int writeback_runs(struct uz_store *st, const struct wb_filter *f, uint64_t limit,
			  struct uz_writeback_result *res);

/* Writes back the pages f wants, up to limit compressed bytes (0: no
 * limit), in runs.  Caller holds wb_lock.  No compaction runs meanwhile:
 * a page whose object moved between its copy and the run's commit would
 * look rewritten (its handle changed) and stay in memory. */
static int writeback_locked(struct uz_store *st, const struct wb_filter *f, uint64_t limit,
			    struct uz_writeback_result *res)
{
	int err;

	uz_assert_held(&st->wb_lock);
	uz_mutex_lock(&st->compact_lock);
	err = writeback_runs(st, f, limit, res);
	uz_mutex_unlock(&st->compact_lock);
	return err;
}

static int writeback_runs(struct uz_store *st, const struct wb_filter *f, uint64_t limit,
			  struct uz_writeback_result *res)
{
	struct wb_rec *rec = malloc(UZ_BACKING_RUN / 16 * sizeof(*rec));
	struct uz_backing_run run;
	bool open = false;
	unsigned n = 0;
	uint64_t pending = 0; /* compressed bytes in the open run */
	int err = 0;

	uz_assert_held(&st->compact_lock);
	if (!rec)
		return -ENOMEM;
	uint64_t nslots = uz_slots_count(st->slots), report = 0;
	struct uz_slot *s;

	for (uint64_t i = 0; !err && (s = uz_slots_next(st->slots, &i, nslots)); i++) {
		struct slot_val v;
		uint32_t size;
		uint64_t off;

		if (i >= report) {
			store_progress(st, UZ_PROGRESS_WRITEBACK, i * UZ_PAGE_SIZE, nslots * UZ_PAGE_SIZE);
			report = i + PROGRESS_SLOTS;
		}
		if (limit && res->bytes + pending >= limit)
			break;
		if (!wb_wanted(f, atomic_load_explicit(&s->meta, memory_order_relaxed)))
			continue;
		if (!open) {
			err = uz_backing_reserve(st->backing, &run);
			if (err)
				break;
			open = true;
		}
		slot_read(s, uz_slot_lock(s), &v);
		if (!wb_wanted(f, v.meta)) {
			uz_slot_unlock(s, v.meta);
			continue;
		}
		size = slot_size(v.meta);
		store_load_object(st, engine_of(st, i), &v, size, tls_obj);
		off = uz_backing_pack(st->backing, &run, tls_obj, size);
		uz_slot_unlock(s, v.meta);
		if (off == UINT64_MAX) { /* the run is full: write it, go on in a new one */
			err = wb_flush(st, &run, rec, n, res);
			open = false;
			n = 0;
			pending = 0;
			i--; /* this page again */
			continue;
		}
		rec[n++] = (struct wb_rec){ i, off, v };
		pending += size;
	}
	if (open)
		err = wb_flush(st, &run, rec, n, res) ?: err;
	free(rec);
	if (err == -ENOSPC && res->pages)
		err = 0; /* the backing store is full: what fitted is written */
	res->error = err;
	return err;
}

int uz_store_writeback(struct uz_store *st, enum uz_writeback_type type, uint64_t limit,
		       struct uz_writeback_result *res)
{
	struct wb_filter f = { .type = type };
	uint64_t used;

	memset(res, 0, sizeof(*res));
	if (!st->backing)
		return res->error = -ENODEV;
	if (type > UZ_WB_ALL)
		return res->error = -EINVAL;
	uz_mutex_lock(&st->wb_lock);
	used = store_mem_used(st);
	writeback_locked(st, &f, limit, res);
	uz_mutex_unlock(&st->wb_lock);
	store_compact_after(st, res->pages, used, &res->bytes_freed);
	return res->error;
}

/* The pages not touched for the longest time, about target compressed
 * bytes of them: the youngest age a writeback of them takes. */
static uint32_t cold_cutoff(struct uz_store *st, uint64_t target, uint32_t now)
{
	uint64_t *bytes = calloc(1u << SLOT_ATIME_BITS, sizeof(*bytes)), sum = 0;
	uint32_t age;

	if (!bytes)
		return 0;
	struct uz_slot *s;
	uint64_t i;

	uz_slots_for_each(st->slots, i, s, 0, uz_slots_count(st->slots)) {
		uint32_t m = atomic_load_explicit(&s->meta, memory_order_relaxed);

		if ((slot_type(m) == SLOT_COMP || slot_type(m) == SLOT_RAW) && !(m & SLOT_WB))
			bytes[age_of(m, now)] += slot_size(m);
	}
	for (age = (1u << SLOT_ATIME_BITS) - 1; age > 0; age--) {
		sum += bytes[age];
		if (sum >= target)
			break;
	}
	free(bytes);
	return age;
}

/* Spill: see internal.h. */
bool store_spill(struct uz_store *st)
{
	struct uz_writeback_result res = { 0 };
	uint64_t limit = atomic_load(&st->budget.limit), target = limit / 16, used;
	struct wb_filter f = { .type = UZ_WB_AGED };

	if (!st->backing || !limit)
		return false;
	if (target < (4u << 20))
		target = 4u << 20;
	uz_mutex_lock(&st->wb_lock);
	used = store_mem_used(st);
	f.now = clock_now(st);
	f.min_age = cold_cutoff(st, target, f.now);
	writeback_locked(st, &f, target, &res);
	if (!res.pages && f.min_age) { /* all as young: take any */
		f.min_age = 0;
		writeback_locked(st, &f, target, &res);
	}
	uz_mutex_unlock(&st->wb_lock);
	store_compact_after(st, res.pages, used, &res.bytes_freed);
	atomic_fetch_add(&st->spills, 1);
	return res.pages > 0;
}

/* The policy's run (housekeeping thread): pages idle for after_s,
 * within what is left of the day's budget. */
void store_wb_policy(struct uz_store *st)
{
	struct wb_policy *p = st->wb_policy;
	struct uz_writeback_result res = { 0 };
	struct wb_filter f = { .type = UZ_WB_AGED };
	uint32_t now = clock_now(st);
	uint64_t used;

	if (!st->backing || !p->after_s || now - p->last_run < 60 / UZ_IDLE_TICK_S)
		return;
	p->last_run = now;
	if (now - p->day_start >= 86400 / UZ_IDLE_TICK_S) {
		p->day_start = now;
		p->day_left = p->day_limit;
	}
	if (p->day_limit && !p->day_left)
		return;
	f.now = now;
	f.min_age = (uint32_t)(p->after_s / UZ_IDLE_TICK_S);
	uz_mutex_lock(&st->wb_lock);
	used = store_mem_used(st);
	writeback_locked(st, &f, p->day_limit ? p->day_left : 0, &res);
	uz_mutex_unlock(&st->wb_lock);
	store_compact_after(st, res.pages, used, &res.bytes_freed);
	if (p->day_limit)
		p->day_left -= res.bytes < p->day_left ? res.bytes : p->day_left;
	if ((res.pages || res.error) && p->on_writeback)
		p->on_writeback(p->on_writeback_ctx, &res);
}
