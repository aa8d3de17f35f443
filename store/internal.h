/* store/internal.h - what the store's rooms share: store.c (pages in and
 * out, compaction, idle marks), writeback.c and recompress.c.  Not for use
 * outside store/.
 *
 * Locking
 * =======
 *
 * Lock order, first taken first (enum uz_lock_rank in lock.h, checked in
 * UZ_LOCK_DEBUG builds):
 *
 *   wb_lock, rc_lock, sweep_lock (never two of them at once)
 *     -> compact_lock
 *       -> afm compact_lock (a compaction) | backing writer (a writeback
 *          run; never both)
 *         -> slot bit locks (several only in ascending slot order)
 *           -> engine_lock
 *             -> afm class locks (several only in ascending class order)
 *               -> afm pool_lock
 *                 -> reserve lock
 *   backing lock, rc_cfg_lock, dict_lock, stop_lock: leaves (nothing is
 *   taken under them; the backing lock is taken under the writer, or
 *   alone; dict_lock under rc_lock, or alone)
 *
 * What each protects:
 *
 *   wb_lock       one writeback at a time (by hand, spill, policy, and a
 *                 snapshot's pass, which must not see objects move out)
 *   rc_lock       one recompression at a time (by hand or the policy)
 *   sweep_lock    the age sweep's pass and st->swept
 *   compact_lock  one compaction or check at a time; a writeback holds it
 *                 so that no object moves between its copy and the commit
 *   afm compact_lock  held from afm_compact_begin() to afm_compact_end():
 *                 the engine's evacuation marks (afmalloc.c)
 *   backing writer  the run being filled, from uz_backing_reserve() to
 *                 uz_backing_commit() or uz_backing_abandon() (backing.c)
 *   slot bit      a slot's meta and words (SLOT_LOCK, slot.h); an object's
 *                 chunks are read, moved or freed only with it held, or
 *                 after the slot no longer points at them
 *   engine_lock   making an engine (st->engines, written once each)
 *   afm class     a class's partial list and its pages' descriptors
 *   afm pool_lock the arena directory and the arenas' page accounting
 *   reserve lock  the reserve's list of arenas and its counters (reserve.c)
 *   backing lock  the blocks' live counts, the cursor, the run's place
 *   rc_cfg_lock   st->recomp and the recompression policy's after_s
 *   dict_lock     the dictionary slots' records (id, sizes, current),
 *                 lz4_dict and dict_wr's changes, and the dictionary
 *                 pointers' changes (dicts.c); a
 *                 dictionary is installed and freed only under rc_lock too
 *   stop_lock     st->stopping (the housekeeping thread's wait)
 *
 * Counters (the shards, the _Atomic fields) take no lock.  I/O takes
 * slot bits, engine_lock (the first write into a span, holding nothing),
 * and what allocation and the backing store take under them; never
 * wb_lock, rc_lock, sweep_lock or compact_lock, except for a spill (a
 * write at the memory limit), which takes wb_lock holding nothing.  A lock taken in one thread is released
 * in that thread; a recompression by hand holds rc_lock in the thread
 * that started it while its shares run in threads of their own.
 *
 * Dictionaries (dicts.c): a page is put onto a dictionary by a
 * recompression (under rc_lock, onto the current one), or by a write
 * with LZ4 (dictionary_lz4: holding no store lock, onto dict_wr), and a
 * dictionary is freed only under rc_lock, once it is not current and its
 * count of pages (in memory and written back) is 0.  A writer takes its
 * count first, then checks that dict_wr still names that slot (undoing
 * the count and compressing plainly if not: store_dict_get()); both are
 * sequentially consistent, as are the retirement's store of dict_wr and
 * the reaper's load of the count, so either the reaper sees the count or
 * the writer sees the slot retired; a count taken on a slot that was
 * free or retired meanwhile is undone at once, so a free slot's count is
 * 0 but for such passing counts (a new dictionary starts from it, not
 * from 0).  A page's count is taken off only after its slot no longer
 * names the dictionary (a writeback adds the new form before it takes
 * off the old), and pages against a dictionary are decoded under their
 * slot's lock (never with the lock dropped, as plain LZ4 pages are):
 * whoever changed the slot waited for that lock, so when the count reads
 * 0 no reader can still be decoding with the dictionary.  Recompression decodes and compresses with
 * dictionaries holding rc_lock, which keeps them alive. */
#ifndef UZ_STORE_INTERNAL_H
#define UZ_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../compress/codec.h"
#include "../compress/dict.h"
#include "afmalloc.h"
#include "lock.h"
#include "shard.h"
#include "slot.h"
#include "store.h"

/* What every write updates, per shard (see shard.h). */
struct store_counters {
	_Atomic int64_t pages_stored;
	_Atomic int64_t compr_bytes;
	_Atomic int64_t same_pages;
	_Atomic int64_t huge_pages;
	_Atomic int64_t huge_pages_since;
	_Atomic int64_t notify_free;
	_Atomic int64_t idle_pages;
	_Atomic int64_t wb_pages; /* pages whose object is in the backing store */
	_Atomic int64_t wb_reads; /* pages read back from it */
	/* COMP pages (in memory or written back) by algorithm */
	_Atomic int64_t algo_pages[UZ_ALGO_COUNT];
	_Atomic int64_t algo_bytes[UZ_ALGO_COUNT];
	_Atomic int64_t dict_lz4_writes, dict_lz4_missed, dict_lz4_probes; /* see uz_store_stats */
} __attribute__((aligned(64)));

/* A dictionary slot (dicts.c). */
struct store_dict {
	struct uz_dict *_Atomic d; /* NULL: free */
	_Atomic int64_t pages; /* COMP pages naming this slot, in memory or written back */
	/* under dict_lock: */
	uint64_t id; /* 1, 2, ...: never reused; 0 when free */
	uint64_t size; /* the dictionary's content, bytes */
	uint64_t mem; /* uz_dict_mem() */
	bool current; /* what recompression compresses against now */
};

/* The engine of a slot: one per UZ_ENGINE_SPAN bytes of the device. */
#define ENGINE_SLOT_SHIFT (UZ_ENGINE_SPAN_SHIFT - UZ_PAGE_SHIFT)

struct uz_store {
	uint64_t disksize;
	struct uz_slots *slots;
	/* One afmalloc engine per span of the device, each with its own page
	 * space (64 GiB of chunks: twice its span, room for fragmentation);
	 * engine 0 is made with the store, the others on the first write
	 * into their span.  They share one memory limit through budget. */
	struct afm *_Atomic *engines;
	uint64_t nengines;
	struct uz_mutex engine_lock; /* making an engine */
	struct afm_config acfg; /* every engine's; the arena kind resolved once */
	struct afm_budget budget;
	struct uz_reserve *reserve; /* NULL: none (acfg.reserve too) */
	struct store_counters cnt[UZ_SHARDS];
	_Atomic uint64_t failed_reads;
	_Atomic uint64_t failed_writes;
	_Atomic uint64_t invalid_io;
	_Atomic uint64_t compactions;
	_Atomic uint32_t compact_ppm;
	pthread_t compactor;
	bool compactor_running;
	bool stopping; /* under stop_lock */
	struct uz_mutex stop_lock;
	pthread_cond_t stop_cond;
	struct uz_mutex compact_lock; /* a compaction, or a check, runs */
	/* The clock of access times: UZ_IDLE_TICK_S-second ticks since the
	 * store was made (plus what tests add), updated by the housekeeping
	 * thread; slots keep its low SLOT_ATIME_BITS bits. */
	_Atomic uint32_t ticks;
	_Atomic uint64_t clock_skew_s; /* tests: seconds added */
	struct timespec born;
	uint32_t swept; /* ticks at the last age sweep (housekeeping thread) */
	struct uz_mutex sweep_lock;
	/* Writeback: the backing store (NULL: none), one writeback at a
	 * time, and what it did in total. */
	struct uz_backing *backing;
	struct uz_mutex wb_lock;
	_Atomic uint64_t wb_bytes; /* compressed bytes written back */
	_Atomic uint64_t wb_failed; /* pages a failed backing write left in memory */
	_Atomic uint64_t spills; /* writebacks a full memory limit caused */
	struct wb_policy *wb_policy; /* writeback.c's: the housekeeping thread's */
	/* Recompression: one run at a time (rc_lock), the algorithm (under
	 * rc_cfg_lock, read once per run), what all runs did, and the
	 * policy (recompress.c's; its age under rc_cfg_lock too). */
	struct uz_mutex rc_lock, rc_cfg_lock;
	struct uz_codec recomp; /* UZ_ALGO_LZ4: off */
	_Atomic uint64_t rc_saved, rc_tried;
	struct rc_policy *rc_policy;
	/* Trained dictionaries (dicts.c): the slots, the generation of
	 * ids, the current slot (-1: none; changed under rc_lock and
	 * dict_lock), their memory, whether recompression uses them. */
	struct store_dict dicts[SLOT_DICTS];
	struct uz_mutex dict_lock;
	uint64_t dict_gen; /* under dict_lock */
	int dict_cur;
	_Atomic uint64_t dict_bytes;
	_Atomic uint64_t rc_dict_pages; /* pages recompression put on a dictionary, in total */
	bool use_dict;
	/* LZ4 against a dictionary for writes: whether (under dict_lock),
	 * and the slot writes use, -1: none (dict_cur if lz4_dict is set;
	 * changed under dict_lock, read by writers holding nothing). */
	bool lz4_dict;
	_Atomic int dict_wr;
	/* Whether LZ4 against dict_wr's dictionary pays, from probes
	 * (store.c, compress_page): the compressed bytes of the window's
	 * probe pages each way, and how many.  Set true at each install
	 * (dicts.c); racy updates only blur a window. */
	_Atomic bool lz4_pays;
	_Atomic uint64_t lz4_probe_plain, lz4_probe_dict;
	_Atomic uint32_t lz4_probe_n;
	void (*progress)(void *ctx, enum uz_progress_what what, uint64_t done, uint64_t total);
	void *progress_ctx;
};

/* How often long runs report progress: every this many slots. */
#define PROGRESS_SLOTS (1u << 16)

/* Reports progress, if anyone listens. */
static inline void store_progress(struct uz_store *st, enum uz_progress_what what, uint64_t done, uint64_t total)
{
	if (st->progress)
		st->progress(st->progress_ctx, what, done, total);
}

/* Ages beyond this many ticks are held at it by the age sweep, so that
 * ages never wrap around the slots' 12-bit access time. */
#define MAX_AGE_TICKS (UZ_IDLE_MAX_AGE_S / UZ_IDLE_TICK_S)
#define SWEEP_TICKS 60 /* 30 minutes */
_Static_assert(MAX_AGE_TICKS + 2 * SWEEP_TICKS < (1u << SLOT_ATIME_BITS), "ages fit the access time");

/* What a slot holds, copied out under its lock. */
struct slot_val {
	uint32_t meta;
	uint32_t w[3];
};

static inline void handle_of(const struct slot_val *v, struct afm_handle *h)
{
	memcpy(h->ref, v->w, sizeof(h->ref));
}

/* The engine holding slot idx's object; NULL if none was made yet, and
 * then the slot holds no object. */
static inline struct afm *engine_of(struct uz_store *st, uint64_t idx)
{
	return atomic_load_explicit(&st->engines[idx >> ENGINE_SLOT_SHIFT], memory_order_acquire);
}

static inline uint64_t wb_off(const struct slot_val *v)
{
	return (uint64_t)v->w[1] << 32 | v->w[0];
}

static inline void slot_read(struct uz_slot *s, uint32_t meta, struct slot_val *v)
{
	v->meta = meta;
	memcpy(v->w, s->w, sizeof(v->w));
}

static inline void slot_write(struct uz_slot *s, const struct slot_val *v)
{
	memcpy(s->w, v->w, sizeof(v->w));
}

static inline uint32_t clock_now(struct uz_store *st)
{
	return atomic_load_explicit(&st->ticks, memory_order_relaxed);
}

static inline uint32_t age_of(uint32_t meta, uint32_t now)
{
	return (now - slot_atime(meta)) & ((1u << SLOT_ATIME_BITS) - 1);
}

/* Whether meta is a page in memory (COMP or RAW, not written back) of
 * a type (UZ_WB_AGED: not touched for min_age ticks at now). */
static inline bool store_page_of_type(enum uz_writeback_type type, uint32_t meta, uint32_t min_age, uint32_t now)
{
	enum slot_type t = slot_type(meta);

	if ((t != SLOT_COMP && t != SLOT_RAW) || (meta & SLOT_WB))
		return false;
	switch (type) {
	case UZ_WB_IDLE:
		return meta & SLOT_IDLE;
	case UZ_WB_HUGE:
		return t == SLOT_RAW;
	case UZ_WB_HUGE_IDLE:
		return t == SLOT_RAW && (meta & SLOT_IDLE);
	case UZ_WB_ALL:
		return true;
	case UZ_WB_AGED:
		return age_of(meta, now) >= min_age;
	}
	return false;
}

/* Whether two copies of a slot hold the same object: neither rewritten,
 * discarded nor moved between them (reads may have touched it). */
static inline bool slot_same_object(const struct slot_val *a, const struct slot_val *b)
{
	const uint32_t mask = ~(SLOT_IDLE | SLOT_ATIME_MASK);

	return (a->meta & mask) == (b->meta & mask) && !memcmp(a->w, b->w, sizeof(a->w));
}

/* The engine for a write into slot idx, made if needed.  Returns NULL
 * when it cannot be made (out of memory). */
struct afm *store_engine_for_write(struct uz_store *st, uint64_t idx);

/* Adds (sign +1) or removes (-1) a slot value's page to the counters. */
void store_account(struct uz_store *st, const struct slot_val *v, int sign);

/* Frees what a slot value references (chunks in e, or blocks of the
 * backing store).  Call after the slot no longer points at it. */
void store_release(struct uz_store *st, struct afm *e, const struct slot_val *v);

/* Copies a page's object (size bytes) into dst, from memory or from the
 * backing store.  Caller holds the slot's lock.  Returns 0 or -EIO: any
 * failure of the backing store's read (its errno is not kept: to the
 * reader of the device, a page that cannot be read back is an I/O
 * error, as in zram). */
int store_load_object(struct uz_store *st, struct afm *e, const struct slot_val *v, uint32_t size, void *dst);

/* Puts a page back into slot idx, empty until now (a restore): meta
 * gives its type, codec (or zeroed mark) and object size, as a slot
 * holds them (no lock, idle, written-back bit or access time); obj is
 * its object as stored (COMP, RAW: size bytes; SAME: the 8-byte word;
 * EMPTY: unused).  A page with data gets the access time now, and the
 * idle mark if idle.  Updates the counters.  Returns 0, -ENOMEM, or the
 * engine's negative errno (-ENOSPC at the memory limit); the slot then
 * stays empty. */
int store_restore_page(struct uz_store *st, uint64_t idx, uint32_t meta, const void *obj, bool idle);

/* Whether the store holds no page, in memory or written back. */
bool store_is_empty(struct uz_store *st);

/* Holds off every writeback (by hand, the policy's, a spill) until
 * store_wb_resume(): the written-back objects stay where they are.
 * Takes wb_lock; do not call from inside a writeback. */
void store_wb_pause(struct uz_store *st);

/* Ends store_wb_pause(). */
void store_wb_resume(struct uz_store *st);

/* The sum of the engines' counters; *engines (if not NULL) gets their
 * number added. */
void store_engines_stats(struct uz_store *st, struct afm_stats *sum, uint64_t *engines);

/* Calls fn on every slot that may hold a page, with its lock held; fn
 * returns the meta to unlock with.  Leaves never written are skipped. */
void store_for_each_slot(struct uz_store *st, uint32_t (*fn)(struct uz_store *, struct uz_slot *, uint32_t, void *),
			 void *arg);

/* writeback.c: makes room under the memory limit by writing back the
 * coldest pages; true if it wrote any. */
bool store_spill(struct uz_store *st);

/* writeback.c: the writeback policy's state, made from cfg's
 * writeback_after_s, writeback_limit and on_writeback.  Returns NULL with
 * errno ENOMEM. */
struct wb_policy *store_wb_policy_new(const struct uz_store_config *cfg);

/* writeback.c: frees it; NULL is accepted. */
void store_wb_policy_free(struct wb_policy *p);

/* writeback.c: the housekeeping thread's writeback policy run. */
void store_wb_policy(struct uz_store *st);

/* recompress.c: the recompression policy's state, made from cfg's
 * recompress_after_s and on_recompress.  Returns NULL with errno ENOMEM. */
struct rc_policy *store_rc_policy_new(const struct uz_store_config *cfg);

/* recompress.c: frees it; NULL is accepted. */
void store_rc_policy_free(struct rc_policy *p);

/* recompress.c: the secondary algorithm, and in *after_s (if not NULL)
 * the policy's age, read together under rc_cfg_lock. */
struct uz_codec store_rc_settings(struct uz_store *st, uint64_t *after_s);

/* recompress.c: the housekeeping thread's recompression policy: one
 * batch of its pass over the slots. */
void store_rc_policy(struct uz_store *st);

/* The algorithm that decodes a COMP page's object (against its
 * dictionary, if slot_dict() names one). */
static inline enum uz_algo algo_of(uint32_t meta)
{
	enum slot_codec c = slot_codec(meta);

	if (c >= SLOT_LZ4_DICT0)
		return c >= SLOT_ZSTD_DICT0 ? UZ_ALGO_ZSTD : UZ_ALGO_LZ4;
	return c == SLOT_LZ4_TRIED ? UZ_ALGO_LZ4 : (enum uz_algo)c;
}

/* dicts.c: decompresses len bytes of a COMP page's object (meta) into
 * page, against its dictionary if it names one.  Caller holds the slot's
 * lock, or rc_lock (the dictionary cannot be freed meanwhile).  Returns
 * 0, -EIO (corrupt; or a dictionary slot that is empty), -ENOMEM. */
int store_decompress(struct uz_store *st, uint32_t meta, const void *src, int len, void *page);

/* Turns a slot value back into a page; e is the slot's engine.  Caller
 * holds the slot's lock.  Uses store.c's scratch.  Returns 0 or -EIO. */
int store_decode(struct uz_store *st, struct afm *e, const struct slot_val *v, void *page);

/* dicts.c: counts a page onto (sign +1) or off (-1) its dictionary, if
 * its meta names one (store_account()). */
static inline void store_dict_account(struct uz_store *st, uint32_t meta, int sign)
{
	int k = slot_dict(meta);

	if (k >= 0)
		atomic_fetch_add(&st->dicts[k].pages, sign);
}

/* dicts.c: the dictionary a write compresses with LZ4 against (NULL
 * when none is current or dictionary_lz4 is off), its slot into *k,
 * with a page counted on it already: the write's slot must name it, or
 * store_dict_put() undo the count.  Holds nothing; lock-free. */
const struct uz_dict *store_dict_get(struct uz_store *st, int *k);

/* dicts.c: takes back a count store_dict_get() took on slot k. */
static inline void store_dict_put(struct uz_store *st, int k)
{
	atomic_fetch_sub(&st->dicts[k].pages, 1);
}

/* dicts.c: sets up the slots (none in use; cfg's dictionary options). */
void store_dicts_init(struct uz_store *st, const struct uz_store_config *cfg);

/* dicts.c: frees every dictionary.  The store is being destroyed. */
void store_dicts_destroy(struct uz_store *st);

/* dicts.c: the dictionary recompression compresses against, its slot
 * into *k; NULL (k -1) when none is current or the store does not use
 * them.  Caller holds rc_lock (the result stays valid while it does). */
const struct uz_dict *store_dict_current(struct uz_store *st, int *k);

/* dicts.c: frees the dictionaries that are not current and that no page
 * uses any more.  Caller holds rc_lock. */
void store_dicts_reap(struct uz_store *st);

/* dicts.c: frees zstd's compression tables of every dictionary (made
 * again by the next compression against one: uz_dict_drop_tables), at
 * the end of what compressed with them.  Caller holds rc_lock (all zstd
 * compression against dictionaries happens under it). */
void store_dicts_drop_tables(struct uz_store *st);

/* dicts.c: store_dicts_reap(), taking rc_lock, if a retired dictionary
 * has no pages left (the housekeeping thread; holds nothing). */
void store_dicts_tidy(struct uz_store *st);

/* dicts.c: pages that use a dictionary, in memory or written back. */
uint64_t store_dict_pages(struct uz_store *st);

/* dicts.c: the dictionaries' part of uz_store_stats(). */
void store_dicts_stats(struct uz_store *st, struct uz_store_stats *s);

/* dicts.c: checks the slots' counts of dictionary pages against pages
 * (what the slots hold, per dictionary slot).  Returns 0 or -EUCLEAN with
 * the reason in err. */
int store_dicts_check(struct uz_store *st, const uint64_t pages[SLOT_DICTS], char *err, size_t errlen);

/* dicts.c: the zstd level dictionaries are made for: the recompression
 * algorithm's level if it is zstd, else zstd's default. */
int store_dict_level(struct uz_store *st);

/* What a snapshot carries of a dictionary slot: id 0 when it is free. */
struct store_dict_info {
	uint64_t id;
	bool current;
	const void *raw; /* the content, len bytes: valid while rc_lock is held */
	size_t len;
};

/* dicts.c: the dictionary slots as they are now, into out.  Caller holds
 * rc_lock (no dictionary is installed or freed meanwhile). */
void store_dicts_snapshot(struct uz_store *st, struct store_dict_info out[SLOT_DICTS]);

/* dicts.c: makes a dictionary from raw (len bytes, a snapshot's) with
 * uz_dict_load() at store_dict_level(), and puts it into slot k with id,
 * current or not, no page counted on it yet (restoring the pages counts
 * them); the next dictionary trained gets an id above id.  Takes rc_lock.
 * Returns 0, -EBUSY (slot k is in use, or current and another slot is
 * current), -EINVAL (uz_dict_load() refuses the content), -ENOMEM. */
int store_dict_restore(struct uz_store *st, int k, uint64_t id, bool current, const void *raw, size_t len);

/* dicts.c: frees slot k's dictionary, current or not (a failed
 * restore's undoing): no page may use it.  Takes rc_lock. */
void store_dict_unload(struct uz_store *st, int k);

/* mem_used_total now. */
uint64_t store_mem_used(struct uz_store *st);

/* Compacts if pages were taken out of memory, and sets *bytes_freed to
 * the fall of mem_used_total since used_before. */
void store_compact_after(struct uz_store *st, uint64_t pages, uint64_t used_before, uint64_t *bytes_freed);

#endif
