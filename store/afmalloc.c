/* store/afmalloc.c - the afmalloc engine: power-of-2 chunks in slab pages
 * carved out of 2 MiB arenas.  See afmalloc.h for the design.
 *
 * Locks: each size class has a mutex guarding its pages' descriptors and
 * its partial list; the pool mutex guards the arena directory and each
 * arena's page accounting.  Order: compact_lock, class (ascending), then
 * pool; the store's order around them is in store/internal.h ("Locking").
 */
#include "afmalloc.h"
#include "asan.h"
#include "lock.h"
#include "reserve.h"
#include "shard.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SLAB_SHIFT 12
#define SLAB_SIZE (1u << SLAB_SHIFT)
#define ARENA_PAGES (UZ_ARENA_SIZE / SLAB_SIZE) /* 512 */
#define ARENA_PAGE_BITS 9
/* A reference is a 24-bit page number and an 8-bit chunk index (256
 * 16-byte chunks in a 4 KiB page), so 2^24 pages = 32768 arenas = 64 GiB. */
#define MAX_ARENAS AFM_MAX_ARENAS
_Static_assert(AFM_MAX_ARENAS == 1u << (24 - ARENA_PAGE_BITS), "24-bit page numbers");
#define MAX_CHUNKS 9 /* one per size class at most */

#define REF(gpage, idx) ((uint32_t)(gpage) << 8 | (uint32_t)(idx))
#define REF_PAGE(r) ((r) >> 8)
#define REF_IDX(r) ((r) & 0xffu)

/* PG_FREE pages are resident; PG_RELEASED ones were given back to the OS
 * (MADV_DONTNEED) and are not counted in mem_used_total.  PG_EVAC pages
 * are being emptied by a compaction: no chunk is allocated from them. */
enum page_state { PG_FREE = 0, PG_RELEASED, PG_PARTIAL, PG_FULL, PG_EVAC };

/* 16 bytes per 4 KiB page: 0.4 % of arena memory. */
struct afm_page {
	uint16_t inuse;
	uint16_t free_head; /* index + 1 of the first free chunk; 0: none */
	uint16_t carved; /* chunks at or above this index were never used */
	uint8_t cls;
	uint8_t state;
	uint32_t next; /* page number + 1: class partial list, or arena free list */
	uint32_t prev;
};

struct afm_arena {
	uint8_t *base;
	uint32_t id;
	uint16_t used_pages;
	uint16_t fresh; /* pages at or above this index were never used */
	uint16_t free_head; /* page index + 1 of a free page; 0: none */
	uint16_t released; /* free pages given back, the tail included */
	uint8_t kind;
	uint8_t tail_released; /* pages from fresh up were given back */
	uint8_t draining; /* a compaction is emptying it: no new pages */
	uint8_t split; /* THP given up (MADV_NOHUGEPAGE) after a release */
	struct afm_page pages[ARENA_PAGES];
};

/* Updated by every allocation and free, per shard (see shard.h). */
struct afm_counters {
	_Atomic int64_t objects;
	_Atomic int64_t object_bytes;
	_Atomic int64_t rounding_bytes;
	_Atomic int64_t ext_bytes;
} __attribute__((aligned(64)));

struct afm_class {
	struct uz_mutex lock;
	uint32_t partial; /* page number + 1 of the first page with free chunks */
	uint64_t used;
	uint64_t pages;
} __attribute__((aligned(64)));

struct afm {
	struct afm_class cls[AFM_NCLASS];
	struct uz_mutex pool_lock;
	struct afm_arena *_Atomic *dir; /* MAX_ARENAS slots, indexed by id */
	uint32_t id_end; /* ids at or above were never used */
	/* Per group (hugetlb arenas, the others): arenas of the group below
	 * this id are full, draining or absent. */
	uint32_t low_hint[2];
	bool compacting; /* between afm_compact_begin() and afm_compact_end() */
	uint64_t dir_touched; /* directory bytes that may be resident */
	uint64_t narenas;
	uint64_t kinds[4];
	struct afm_budget *budget; /* &own_budget, or shared with other engines */
	struct afm_budget own_budget;
	uint64_t reported; /* this engine's part of budget->used */
	uint32_t first_arena; /* tests: the lowest arena id used */
	uint64_t released_pages; /* sum of the arenas' released */
	uint64_t pages_compacted; /* pages emptied by compactions */
	struct uz_mutex compact_lock; /* one compaction at a time */
	enum uz_arena_kind kind;
	/* Arenas come from here, and go back here, when set: then nothing
	 * on the allocation and free paths maps or unmaps memory. */
	struct uz_reserve *reserve;
	unsigned reserve_wait_ms;
	bool keep_pages; /* afm_config */
	struct afm_counters cnt[UZ_SHARDS];
};

/* Free pages are taken from hugetlb arenas first (group 0): their free
 * pages count in mem_used_total whatever happens, while those of THP and
 * plain arenas (group 1) can be given back one by one. */
static inline unsigned group_of(const struct afm_arena *ar)
{
	return ar->kind == UZ_ARENA_HUGETLB ? 0 : 1;
}

/* Caller holds the pool lock. */
static inline void hint_lower(struct afm *a, const struct afm_arena *ar)
{
	uz_assert_held(&a->pool_lock);
	if (ar->id < a->low_hint[group_of(ar)])
		a->low_hint[group_of(ar)] = ar->id;
}

static inline uint32_t chunk_size(unsigned c)
{
	return 1u << (c + AFM_MIN_SHIFT);
}

static inline uint32_t chunks_per_page(unsigned c)
{
	return SLAB_SIZE >> (c + AFM_MIN_SHIFT);
}

static inline struct afm_arena *arena_of(struct afm *a, uint32_t gpage)
{
	return atomic_load_explicit(&a->dir[gpage >> ARENA_PAGE_BITS], memory_order_acquire);
}

static inline struct afm_page *page_of(struct afm *a, uint32_t gpage)
{
	return &arena_of(a, gpage)->pages[gpage & (ARENA_PAGES - 1)];
}

static inline uint8_t *page_addr(struct afm *a, uint32_t gpage)
{
	return arena_of(a, gpage)->base + (size_t)(gpage & (ARENA_PAGES - 1)) * SLAB_SIZE;
}

static inline uint8_t *chunk_addr(struct afm *a, uint32_t ref, unsigned c)
{
	return page_addr(a, REF_PAGE(ref)) + (size_t)REF_IDX(ref) * chunk_size(c);
}

/* Caller holds the pool lock. */
static uint64_t dir_bytes(const struct afm *a)
{
	return ((uint64_t)a->id_end * sizeof(void *) + 4095) & ~4095ull;
}

/* Caller holds the pool lock. */
static uint64_t mem_used_locked(const struct afm *a)
{
	uz_assert_held(&a->pool_lock);
	return a->narenas * (UZ_ARENA_SIZE + sizeof(struct afm_arena)) + dir_bytes(a) -
	       a->released_pages * SLAB_SIZE;
}

/* Brings the budget up to date with this engine's mem_used_total.
 * Caller holds the pool lock, and calls this wherever that changes. */
static void budget_sync(struct afm *a)
{
	struct afm_budget *b = a->budget;
	uint64_t now = mem_used_locked(a), total, max;

	if (now == a->reported)
		return;
	total = atomic_fetch_add(&b->used, now - a->reported) + (now - a->reported);
	a->reported = now;
	max = atomic_load(&b->used_max);
	while (total > max && !atomic_compare_exchange_weak(&b->used_max, &max, total))
		;
}

static inline void set_state(struct afm_page *p, enum page_state st)
{
	/* Read without the class lock by afm_needs_move(). */
	__atomic_store_n(&p->state, (uint8_t)st, __ATOMIC_RELAXED);
}

static inline enum page_state get_state(const struct afm_page *p)
{
	return (enum page_state)__atomic_load_n(&p->state, __ATOMIC_RELAXED);
}

/* The chunk classes of an object, largest first.  Returns their count. */
static unsigned split(uint32_t size, uint8_t cls[MAX_CHUNKS])
{
	uint32_t units = (size + (1u << AFM_MIN_SHIFT) - 1) >> AFM_MIN_SHIFT;
	unsigned k = 0;

	for (int c = AFM_NCLASS - 1; c >= 0; c--)
		if (units & (1u << c))
			cls[k++] = (uint8_t)c;
	return k;
}

/* Class of the extension chunk holding refs 2..k-1 of a k-chunk object. */
static inline unsigned ext_class(unsigned k)
{
	return (k - 2) * sizeof(uint32_t) <= chunk_size(0) ? 0 : 1;
}

size_t afm_arena_desc_size(void)
{
	return sizeof(struct afm_arena);
}

uint32_t afm_footprint(uint32_t size)
{
	uint8_t cls[MAX_CHUNKS];
	unsigned k;
	uint32_t bytes;

	if (size == 0 || size > AFM_MAX_OBJECT)
		return 0;
	k = split(size, cls);
	bytes = (size + 15) & ~15u;
	if (k > AFM_INLINE_REFS)
		bytes += chunk_size(ext_class(k));
	return bytes;
}

/* --- the page pool ---------------------------------------------------- */

/* The part of a memory limit kept for objects that replace others
 * (afm_alloc_over()): 1/32 of it, at least two arenas, at most 64 MiB,
 * and never more than a quarter of the limit. */
static uint64_t reserve_of(uint64_t limit)
{
	uint64_t r = limit / 32, two = 2 * (UZ_ARENA_SIZE + sizeof(struct afm_arena)) + 4096;

	if (r < two)
		r = two;
	if (r > (64ull << 20))
		r = 64ull << 20;
	return r < limit / 4 ? r : limit / 4;
}

/* Maps a new arena under the pool lock.  Returns 0 or a negative errno. */
static int arena_new(struct afm *a, struct afm_arena **out, bool over)
{
	struct afm_arena *ar;
	enum uz_arena_kind got;
	uint32_t id;
	uint64_t need, limit = atomic_load(&a->budget->limit);

	uz_assert_held(&a->pool_lock);
	for (id = a->first_arena; id < a->id_end; id++)
		if (!atomic_load_explicit(&a->dir[id], memory_order_relaxed))
			break;
	if (id >= MAX_ARENAS)
		return -ENOSPC; /* the engine's page space is full */
	/* The arenas counted whole, as if none of their pages had been given
	 * back, plus what the other engines of the budget use. */
	need = (a->narenas + 1) * (UZ_ARENA_SIZE + sizeof(struct afm_arena)) +
	       (((uint64_t)(id >= a->id_end ? id + 1 : a->id_end) * sizeof(void *) + 4095) & ~4095ull);
	if (limit && !over)
		limit -= reserve_of(limit);
	if (limit && need + (atomic_load(&a->budget->used) - a->reported) > limit)
		return -ENOSPC;
	if (a->reserve) {
		void *base, *desc;

		if (uz_reserve_take(a->reserve, a->reserve_wait_ms, &base, &got, &desc))
			return -ENOMEM;
		ar = desc;
		ar->base = base;
	} else {
		ar = calloc(1, sizeof(*ar));
		if (!ar)
			return -ENOMEM;
		/* What a compaction cannot fit in the hugetlb arenas it keeps
		 * is the tail of the data: it goes to an arena that can shrink
		 * page by page. */
		ar->base = uz_arena_map(a->compacting && a->kind == UZ_ARENA_HUGETLB ? UZ_ARENA_THP : a->kind, &got);
		if (!ar->base) {
			free(ar);
			return -ENOMEM;
		}
	}
	POISON(ar->base, UZ_ARENA_SIZE);
	ar->id = id;
	ar->kind = (uint8_t)got;
	if (id >= a->id_end)
		a->id_end = id + 1;
	if (dir_bytes(a) > a->dir_touched)
		a->dir_touched = dir_bytes(a);
	a->narenas++;
	a->kinds[got]++;
	atomic_store_explicit(&a->dir[id], ar, memory_order_release);
	hint_lower(a, ar);
	*out = ar;
	return 0;
}

/* Unmaps an arena and frees its descriptor, or gives both back to the
 * reserve. */
static void arena_free(struct afm *a, struct afm_arena *ar)
{
	if (a->reserve) {
		uz_reserve_give(a->reserve, ar->base, (enum uz_arena_kind)ar->kind, ar);
		return;
	}
	uz_arena_unmap(ar->base);
	free(ar);
}

/* After the highest arenas went away, gives back the directory pages
 * that named them.  Caller holds the pool lock. */
static void dir_shrink(struct afm *a)
{
	uz_assert_held(&a->pool_lock);
	while (a->id_end && !atomic_load_explicit(&a->dir[a->id_end - 1], memory_order_relaxed))
		a->id_end--;
	if (!a->reserve && dir_bytes(a) < a->dir_touched) {
		madvise((uint8_t *)a->dir + dir_bytes(a), a->dir_touched - dir_bytes(a), MADV_DONTNEED);
		a->dir_touched = dir_bytes(a);
	}
}

/* The lowest arena of group g with a free page, or NULL.  Caller holds
 * the pool lock. */
static struct afm_arena *arena_with_room(struct afm *a, unsigned g)
{
	uint32_t id;

	uz_assert_held(&a->pool_lock);
	for (id = a->low_hint[g]; id < a->id_end; id++) {
		struct afm_arena *ar = atomic_load_explicit(&a->dir[id], memory_order_relaxed);

		if (ar && group_of(ar) == g && ar->used_pages < ARENA_PAGES && !ar->draining) {
			a->low_hint[g] = id;
			return ar;
		}
	}
	a->low_hint[g] = id;
	return NULL;
}

/* Takes a free 4 KiB page: from a hugetlb arena if one has room, else
 * from another, the lowest first so that the higher ones drain.  Returns
 * 0 and the page number, or a negative errno. */
static int page_get(struct afm *a, uint32_t *gpage, bool over)
{
	struct afm_arena *ar = NULL;
	uint32_t pidx;
	int err = 0;

	uz_mutex_lock(&a->pool_lock);
	if (a->kinds[UZ_ARENA_HUGETLB])
		ar = arena_with_room(a, 0);
	if (!ar)
		ar = arena_with_room(a, 1);
	if (!ar) {
		err = arena_new(a, &ar, over);
		if (err)
			goto out;
	}
	if (ar->free_head) {
		pidx = ar->free_head - 1u;
		ar->free_head = (uint16_t)ar->pages[pidx].next;
		ar->pages[pidx].next = 0;
		if (get_state(&ar->pages[pidx]) == PG_RELEASED) {
			ar->released--;
			a->released_pages--;
		}
	} else {
		pidx = ar->fresh++;
		if (ar->tail_released) {
			ar->released--;
			a->released_pages--;
		}
	}
	ar->used_pages++;
	*gpage = ar->id << ARENA_PAGE_BITS | pidx;
	budget_sync(a);
out:
	uz_mutex_unlock(&a->pool_lock);
	return err;
}

/* Returns an empty page to its arena, and the arena to the OS when it
 * holds no page any more. */
static void page_put(struct afm *a, uint32_t gpage)
{
	uint32_t id = gpage >> ARENA_PAGE_BITS, pidx = gpage & (ARENA_PAGES - 1);
	struct afm_arena *ar;

	uz_mutex_lock(&a->pool_lock);
	ar = atomic_load_explicit(&a->dir[id], memory_order_relaxed);
	ar->pages[pidx].next = ar->free_head;
	ar->free_head = (uint16_t)(pidx + 1);
	ar->used_pages--;
	if (ar->used_pages == 0) {
		atomic_store_explicit(&a->dir[id], NULL, memory_order_release);
		a->released_pages -= ar->released;
		a->narenas--;
		a->kinds[ar->kind]--;
		UNPOISON(ar->base, UZ_ARENA_SIZE); /* the next mapping there starts clean */
		arena_free(a, ar);
		dir_shrink(a);
		budget_sync(a);
	} else if (!ar->draining) {
		hint_lower(a, ar);
	}
	uz_mutex_unlock(&a->pool_lock);
}

/* --- per-class chunk lists -------------------------------------------- */

/* Caller holds the class lock of the pages involved. */
static void list_push(struct afm *a, uint32_t *head, uint32_t gpage)
{
	struct afm_page *p = page_of(a, gpage);

	uz_assert_held(&a->cls[p->cls].lock);
	p->prev = 0;
	p->next = *head;
	if (*head)
		page_of(a, *head - 1)->prev = gpage + 1;
	*head = gpage + 1;
}

/* Caller holds the class lock of the pages involved. */
static void list_del(struct afm *a, uint32_t *head, uint32_t gpage)
{
	struct afm_page *p = page_of(a, gpage);

	uz_assert_held(&a->cls[p->cls].lock);
	if (p->prev)
		page_of(a, p->prev - 1)->next = p->next;
	else
		*head = p->next;
	if (p->next)
		page_of(a, p->next - 1)->prev = p->prev;
	p->next = p->prev = 0;
}

static int chunk_alloc(struct afm *a, unsigned c, uint32_t *ref, bool over)
{
	struct afm_class *k = &a->cls[c];
	struct afm_page *p;
	uint32_t gpage, idx;
	int err;

	uz_mutex_lock(&k->lock);
	if (!k->partial) {
		err = page_get(a, &gpage, over);
		if (err) {
			uz_mutex_unlock(&k->lock);
			return err;
		}
		p = page_of(a, gpage);
		p->cls = (uint8_t)c;
		p->inuse = 0;
		p->free_head = 0;
		p->carved = 0;
		set_state(p, PG_PARTIAL);
		list_push(a, &k->partial, gpage);
		k->pages++;
	}
	gpage = k->partial - 1;
	p = page_of(a, gpage);
	if (p->free_head) {
		idx = p->free_head - 1u;
		UNPOISON(page_addr(a, gpage) + (size_t)idx * chunk_size(c), chunk_size(c));
		memcpy(&p->free_head, page_addr(a, gpage) + (size_t)idx * chunk_size(c),
		       sizeof(p->free_head));
	} else {
		idx = p->carved++;
		UNPOISON(page_addr(a, gpage) + (size_t)idx * chunk_size(c), chunk_size(c));
	}
	p->inuse++;
	k->used++;
	if (p->inuse == chunks_per_page(c)) {
		list_del(a, &k->partial, gpage);
		set_state(p, PG_FULL);
	}
	uz_mutex_unlock(&k->lock);
	*ref = REF(gpage, idx);
	return 0;
}

static void chunk_free(struct afm *a, unsigned c, uint32_t ref)
{
	struct afm_class *k = &a->cls[c];
	uint32_t gpage = REF_PAGE(ref), idx = REF_IDX(ref);
	struct afm_page *p;
	bool release = false;

	uz_mutex_lock(&k->lock);
	p = page_of(a, gpage);
	memcpy(page_addr(a, gpage) + (size_t)idx * chunk_size(c), &p->free_head,
	       sizeof(p->free_head));
	POISON(page_addr(a, gpage) + (size_t)idx * chunk_size(c), chunk_size(c));
	p->free_head = (uint16_t)(idx + 1);
	p->inuse--;
	k->used--;
	if (get_state(p) == PG_FULL) {
		set_state(p, PG_PARTIAL);
		list_push(a, &k->partial, gpage);
	}
	if (p->inuse == 0) {
		if (get_state(p) == PG_PARTIAL)
			list_del(a, &k->partial, gpage);
		else
			__atomic_fetch_add(&a->pages_compacted, 1, __ATOMIC_RELAXED); /* PG_EVAC */
		set_state(p, PG_FREE);
		k->pages--;
		release = true;
	}
	uz_mutex_unlock(&k->lock);
	if (release)
		page_put(a, gpage);
}

/* --- objects ------------------------------------------------------------ */

/* The references of all chunks of an object, in split() order. */
static unsigned object_refs(struct afm *a, uint32_t size, const struct afm_handle *h,
			    uint8_t cls[MAX_CHUNKS], uint32_t refs[MAX_CHUNKS])
{
	unsigned k = split(size, cls);

	if (k <= AFM_INLINE_REFS) {
		memcpy(refs, h->ref, k * sizeof(uint32_t));
	} else {
		refs[0] = h->ref[0];
		refs[1] = h->ref[1];
		memcpy(refs + 2, chunk_addr(a, h->ref[2], ext_class(k)), (k - 2) * sizeof(uint32_t));
	}
	return k;
}

static int alloc(struct afm *a, uint32_t size, struct afm_handle *h, bool over)
{
	uint8_t cls[MAX_CHUNKS];
	uint32_t refs[MAX_CHUNKS], ext;
	unsigned k, i;
	int err;

	if (size == 0 || size > AFM_MAX_OBJECT)
		return -EINVAL;
	k = split(size, cls);
	for (i = 0; i < k; i++) {
		err = chunk_alloc(a, cls[i], &refs[i], over);
		if (err)
			goto undo;
	}
	memset(h, 0, sizeof(*h));
	if (k <= AFM_INLINE_REFS) {
		memcpy(h->ref, refs, k * sizeof(uint32_t));
	} else {
		err = chunk_alloc(a, ext_class(k), &ext, over);
		if (err)
			goto undo;
		memcpy(chunk_addr(a, ext, ext_class(k)), refs + 2, (k - 2) * sizeof(uint32_t));
		h->ref[0] = refs[0];
		h->ref[1] = refs[1];
		h->ref[2] = ext;
		UZ_SHARD_ADD(a->cnt, ext_bytes, chunk_size(ext_class(k)));
	}
	UZ_SHARD_ADD(a->cnt, objects, 1);
	UZ_SHARD_ADD(a->cnt, object_bytes, size);
	UZ_SHARD_ADD(a->cnt, rounding_bytes, ((size + 15) & ~15u) - size);
	return 0;
undo:
	while (i-- > 0)
		chunk_free(a, cls[i], refs[i]);
	return err;
}

int afm_alloc(struct afm *a, uint32_t size, struct afm_handle *h)
{
	return alloc(a, size, h, false);
}

int afm_alloc_over(struct afm *a, uint32_t size, struct afm_handle *h)
{
	return alloc(a, size, h, true);
}

void afm_free(struct afm *a, uint32_t size, const struct afm_handle *h)
{
	uint8_t cls[MAX_CHUNKS];
	uint32_t refs[MAX_CHUNKS];
	unsigned k = object_refs(a, size, h, cls, refs);

	for (unsigned i = 0; i < k; i++)
		chunk_free(a, cls[i], refs[i]);
	if (k > AFM_INLINE_REFS) {
		chunk_free(a, ext_class(k), h->ref[2]);
		UZ_SHARD_ADD(a->cnt, ext_bytes, -(int64_t)chunk_size(ext_class(k)));
	}
	UZ_SHARD_ADD(a->cnt, objects, -1);
	UZ_SHARD_ADD(a->cnt, object_bytes, -(int64_t)size);
	UZ_SHARD_ADD(a->cnt, rounding_bytes, -(int64_t)(((size + 15) & ~15u) - size));
}

void afm_store(struct afm *a, uint32_t size, const struct afm_handle *h, const void *src)
{
	uint8_t cls[MAX_CHUNKS];
	uint32_t refs[MAX_CHUNKS];
	unsigned k = object_refs(a, size, h, cls, refs);
	const uint8_t *s = src;

	for (unsigned i = 0; i < k && size; i++) {
		uint32_t n = chunk_size(cls[i]) < size ? chunk_size(cls[i]) : size;

		memcpy(chunk_addr(a, refs[i], cls[i]), s, n);
		s += n;
		size -= n;
	}
}

void afm_load(struct afm *a, uint32_t size, const struct afm_handle *h, void *dst)
{
	uint8_t cls[MAX_CHUNKS];
	uint32_t refs[MAX_CHUNKS];
	const uint8_t *src[MAX_CHUNKS];
	unsigned k = object_refs(a, size, h, cls, refs);
	uint32_t left = size;
	uint8_t *d = dst;

	/* An object's chunks lie in different pages, usually cold: ask for
	 * all their cache lines first so that the misses overlap instead of
	 * following one another (reads: half the time in this copy before;
	 * see tests/bench/io.sh, 1M read). */
	for (unsigned i = 0; i < k; i++) {
		uint32_t n = chunk_size(cls[i]) < left ? chunk_size(cls[i]) : left;

		src[i] = chunk_addr(a, refs[i], cls[i]);
		for (uint32_t o = 0; o < n; o += 64)
			__builtin_prefetch(src[i] + o, 0, 0);
		left -= n;
	}
	for (unsigned i = 0; i < k && size; i++) {
		uint32_t n = chunk_size(cls[i]) < size ? chunk_size(cls[i]) : size;

		memcpy(d, src[i], n);
		d += n;
		size -= n;
	}
}

/* --- compaction --------------------------------------------------------- */

struct victim {
	uint32_t gpage;
	uint32_t inuse;
};

/* An in-place heapsort: compaction sorts under the engine's locks, where
 * qsort(3) could allocate (glibc's merge sort takes a buffer from malloc),
 * and so wait for the kernel to find memory while I/O waits on the locks.
 * The orders below are total, so the result is qsort's. */
static void swap_elems(uint8_t *x, uint8_t *y, size_t size)
{
	while (size--) {
		uint8_t t = *x;

		*x++ = *y;
		*y++ = t;
	}
}

static void sift_down(uint8_t *base, size_t root, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	for (;;) {
		size_t child = 2 * root + 1;

		if (child >= n)
			return;
		if (child + 1 < n && cmp(base + child * size, base + (child + 1) * size) < 0)
			child++;
		if (cmp(base + root * size, base + child * size) >= 0)
			return;
		swap_elems(base + root * size, base + child * size, size);
		root = child;
	}
}

static void sort_inplace(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	uint8_t *base = v;

	for (size_t i = n / 2; i-- > 0;)
		sift_down(base, i, n, size, cmp);
	for (size_t end = n; end > 1; end--) {
		swap_elems(base, base + (end - 1) * size, size);
		sift_down(base, 0, end - 1, size, cmp);
	}
}

static int by_inuse(const void *x, const void *y)
{
	const struct victim *a = x, *b = y;

	if (a->inuse != b->inuse)
		return a->inuse < b->inuse ? -1 : 1;
	return a->gpage > b->gpage ? -1 : a->gpage < b->gpage; /* higher arenas first */
}

/* Hugetlb arenas first, then the others; in each, densest first, then
 * the lowest id (so that the higher ones drain). */
static int by_group_density(const void *x, const void *y)
{
	const struct afm_arena *a = *(struct afm_arena *const *)x, *b = *(struct afm_arena *const *)y;

	if (group_of(a) != group_of(b))
		return group_of(a) < group_of(b) ? -1 : 1;
	if (a->used_pages != b->used_pages)
		return a->used_pages > b->used_pages ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* Caller holds the page's class lock. */
static void evacuate(struct afm *a, uint32_t gpage, struct afm_page *p)
{
	uz_assert_held(&a->cls[p->cls].lock);
	if (get_state(p) == PG_PARTIAL)
		list_del(a, &a->cls[p->cls].partial, gpage);
	set_state(p, PG_EVAC);
}

/* Marks every page of an arena for evacuation.  Returns their number. */
static uint64_t drain(struct afm *a, struct afm_arena *ar)
{
	uint64_t marked = 0;

	ar->draining = 1;
	for (uint32_t pidx = 0; pidx < ar->fresh; pidx++) {
		struct afm_page *p = &ar->pages[pidx];
		enum page_state st = get_state(p);

		if (st == PG_PARTIAL || st == PG_FULL) {
			evacuate(a, ar->id << ARENA_PAGE_BITS | pidx, p);
			marked++;
		}
	}
	return marked;
}

/* Marks the arenas to empty, so that they go back to the OS whole.  The
 * chunks in use need sum(ceil(used_c / per_c)) pages.
 *
 * Hugetlb arenas are kept only as many as that data fills whole, the
 * densest: their free pages can never be given back, so the tail of the
 * data must live elsewhere.  The other arenas (THP, plain; in hugetlb mode
 * the tail, mapped as THP during a compaction) are kept, densest first,
 * as many as the rest needs with a page per class of slack, twice; their
 * free pages are given back one by one.  If what moves would not fill the
 * kept hugetlb arenas' free pages (when they are worth it: the slack or
 * more), the sparsest kept other arenas are drained too, into them.
 * Every arena not kept is drained: its objects move into the kept ones
 * (hugetlb first, see page_get()).  Densest first means the least data
 * moves. */
static uint64_t pick_arenas(struct afm *a, struct afm_arena **v, uint64_t cap)
{
	uint64_t n = 0, nh = 0, need = 0, slack = 2 * AFM_NCLASS, keep_h, keep_o, room = 0, moving = 0;
	uint64_t marked = 0;

	if (a->narenas > cap)
		return 0; /* grew since the arrays were made: next time */
	for (unsigned c = 0; c < AFM_NCLASS; c++)
		need += (a->cls[c].used + chunks_per_page(c) - 1) / chunks_per_page(c);
	for (uint32_t id = 0; id < a->id_end; id++) {
		struct afm_arena *ar = atomic_load_explicit(&a->dir[id], memory_order_relaxed);

		if (ar)
			v[n++] = ar;
	}
	/* hugetlb arenas first, then the others; densest first in each */
	sort_inplace(v, n, sizeof(*v), by_group_density);
	while (nh < n && group_of(v[nh]) == 0)
		nh++;
	keep_h = need / ARENA_PAGES < nh ? need / ARENA_PAGES : nh;
	keep_o = (need + slack - keep_h * ARENA_PAGES + ARENA_PAGES - 1) / ARENA_PAGES;
	if (keep_o > n - nh)
		keep_o = n - nh;
	for (uint64_t i = 0; i < keep_h; i++)
		room += ARENA_PAGES - v[i]->used_pages;
	for (uint64_t i = keep_h; i < n; i++)
		if (i >= nh + keep_o || i < nh)
			moving += v[i]->used_pages;
	while (room >= slack && moving < room + slack && keep_o > 0) {
		keep_o--;
		moving += v[nh + keep_o]->used_pages;
	}
	for (uint64_t i = 0; i < n; i++)
		if ((i >= keep_h && i < nh) || i >= nh + keep_o)
			marked += drain(a, v[i]);
	return marked;
}

/* Marks, per class, the sparsest pages beyond the number the class's
 * chunks need: their chunks fit in the free chunks of the other pages. */
static uint64_t pick_pages(struct afm *a, struct victim *v, uint64_t cap)
{
	uint64_t marked = 0;

	if (a->narenas > cap)
		return 0;
	for (unsigned c = 0; c < AFM_NCLASS; c++) {
		uint64_t n = 0, need, per = chunks_per_page(c);

		for (uint32_t id = 0; id < a->id_end; id++) {
			struct afm_arena *ar = atomic_load_explicit(&a->dir[id], memory_order_relaxed);

			if (!ar)
				continue;
			for (uint32_t pidx = 0; pidx < ar->fresh; pidx++) {
				struct afm_page *p = &ar->pages[pidx];
				enum page_state st = get_state(p);

				if ((st == PG_PARTIAL || st == PG_FULL) && p->cls == c)
					v[n++] = (struct victim){ ar->id << ARENA_PAGE_BITS | pidx, p->inuse };
			}
		}
		need = (a->cls[c].used + per - 1) / per;
		if (n <= need)
			continue;
		sort_inplace(v, n, sizeof(*v), by_inuse);
		for (uint64_t i = 0; i < n - need; i++) {
			if (v[i].inuse == per)
				break; /* a full page frees nothing */
			evacuate(a, v[i].gpage, page_of(a, v[i].gpage));
			marked++;
		}
	}
	return marked;
}

int afm_compact_begin(struct afm *a, uint64_t *victim_pages)
{
	uint64_t marked = 0, cap;
	struct afm_arena **va;
	struct victim *vp;

	uz_mutex_lock(&a->compact_lock);
	/* The working arrays are made, and touched, before any lock that
	 * I/O takes is held: this may wait for the kernel to find memory,
	 * and a thread serving a request must never wait behind that.  A
	 * few arenas of slack cover those made meanwhile. */
	uz_mutex_lock(&a->pool_lock);
	cap = a->narenas + 8;
	uz_mutex_unlock(&a->pool_lock);
	va = calloc(cap, sizeof(*va));
	vp = calloc(cap * ARENA_PAGES, sizeof(*vp));
	if (va && vp) {
		uz_touch(va, cap * sizeof(*va));
		uz_touch(vp, cap * ARENA_PAGES * sizeof(*vp));
	}
	for (unsigned c = 0; c < AFM_NCLASS; c++)
		uz_mutex_lock(&a->cls[c].lock);
	uz_mutex_lock(&a->pool_lock);
	a->compacting = true;
	if (va && vp) {
		marked = pick_arenas(a, va, cap);
		marked += pick_pages(a, vp, cap);
	}
	uz_mutex_unlock(&a->pool_lock);
	for (unsigned c = AFM_NCLASS; c-- > 0;)
		uz_mutex_unlock(&a->cls[c].lock);
	free(va);
	free(vp);
	if (victim_pages)
		*victim_pages = marked;
	return 0;
}

bool afm_needs_move(struct afm *a, uint32_t size, const struct afm_handle *h)
{
	uint8_t cls[MAX_CHUNKS];
	uint32_t refs[MAX_CHUNKS];
	unsigned k = object_refs(a, size, h, cls, refs);

	for (unsigned i = 0; i < k; i++)
		if (get_state(page_of(a, REF_PAGE(refs[i]))) == PG_EVAC)
			return true;
	return k > AFM_INLINE_REFS && get_state(page_of(a, REF_PAGE(h->ref[2]))) == PG_EVAC;
}

int afm_move(struct afm *a, uint32_t size, struct afm_handle *h)
{
	uint8_t buf[AFM_MAX_OBJECT];
	struct afm_handle nh;
	int err = afm_alloc_over(a, size, &nh); /* the old chunks are freed below */

	if (err)
		return err;
	afm_load(a, size, h, buf);
	afm_store(a, size, &nh, buf);
	afm_free(a, size, h);
	*h = nh;
	return 0;
}

/* Gives the free pages of THP and plain arenas back to the OS.  Caller
 * holds the pool lock. */
static void trim_locked(struct afm *a)
{
	uz_assert_held(&a->pool_lock);
	if (a->keep_pages)
		return; /* every page stays resident: see afm_config */
	for (uint32_t id = 0; id < a->id_end; id++) {
		struct afm_arena *ar = atomic_load_explicit(&a->dir[id], memory_order_relaxed);

		if (!ar || ar->kind == UZ_ARENA_HUGETLB)
			continue;
		if (!ar->split && (ar->free_head || (!ar->tail_released && ar->fresh < ARENA_PAGES))) {
			/* Else khugepaged would fill the holes again. */
			madvise(ar->base, UZ_ARENA_SIZE, MADV_NOHUGEPAGE);
			ar->split = 1;
		}
		for (uint32_t i = ar->free_head; i; i = ar->pages[i - 1].next) {
			struct afm_page *p = &ar->pages[i - 1];

			if (get_state(p) != PG_FREE)
				continue;
			/* A page that could not be released stays free and
			 * counted in mem_used_total; the next trim retries. */
			if (uz_arena_release(ar->base + (size_t)(i - 1) * SLAB_SIZE, SLAB_SIZE))
				continue;
			set_state(p, PG_RELEASED);
			ar->released++;
			a->released_pages++;
		}
		if (!ar->tail_released && ar->fresh < ARENA_PAGES &&
		    uz_arena_release(ar->base + (size_t)ar->fresh * SLAB_SIZE,
				     (size_t)(ARENA_PAGES - ar->fresh) * SLAB_SIZE) == 0) {
			ar->tail_released = 1;
			ar->released += ARENA_PAGES - ar->fresh;
			a->released_pages += ARENA_PAGES - ar->fresh;
		}
	}
	budget_sync(a);
}

void afm_trim(struct afm *a)
{
	uz_mutex_lock(&a->pool_lock);
	trim_locked(a);
	uz_mutex_unlock(&a->pool_lock);
}

void afm_compact_end(struct afm *a)
{
	for (unsigned c = 0; c < AFM_NCLASS; c++)
		uz_mutex_lock(&a->cls[c].lock);
	uz_mutex_lock(&a->pool_lock);
	for (uint32_t id = 0; id < a->id_end; id++) {
		struct afm_arena *ar = atomic_load_explicit(&a->dir[id], memory_order_relaxed);

		if (!ar)
			continue;
		ar->draining = 0;
		hint_lower(a, ar);
		for (uint32_t pidx = 0; pidx < ar->fresh; pidx++) {
			struct afm_page *p = &ar->pages[pidx];

			if (get_state(p) != PG_EVAC)
				continue;
			if (p->inuse == chunks_per_page(p->cls)) {
				set_state(p, PG_FULL);
			} else {
				set_state(p, PG_PARTIAL);
				list_push(a, &a->cls[p->cls].partial, id << ARENA_PAGE_BITS | pidx);
			}
		}
	}
	a->compacting = false;
	trim_locked(a);
	uz_mutex_unlock(&a->pool_lock);
	for (unsigned c = AFM_NCLASS; c-- > 0;)
		uz_mutex_unlock(&a->cls[c].lock);
	uz_mutex_unlock(&a->compact_lock);
}

/* --- life cycle and statistics --------------------------------------- */

struct afm *afm_create(const struct afm_config *cfg)
{
	struct afm *a;

	if (cfg->arena > UZ_ARENA_PLAIN || cfg->first_arena >= MAX_ARENAS) {
		errno = EINVAL;
		return NULL;
	}
	if (posix_memalign((void **)&a, 64, sizeof(*a))) {
		errno = ENOMEM;
		return NULL;
	}
	memset(a, 0, sizeof(*a));
	/* The directory is reserved whole but only touched 4 KiB (512
	 * arenas, 1 GiB of arena memory) at a time. */
	a->dir = mmap(NULL, MAX_ARENAS * sizeof(void *), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a->dir == MAP_FAILED) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned c = 0; c < AFM_NCLASS; c++)
		uz_mutex_init(&a->cls[c].lock, UZ_LOCK_CLASS);
	uz_mutex_init(&a->pool_lock, UZ_LOCK_POOL);
	uz_mutex_init(&a->compact_lock, UZ_LOCK_AFM_COMPACT);
	a->kind = cfg->arena == UZ_ARENA_AUTO ? uz_arena_probe() : cfg->arena;
	a->budget = cfg->budget ? cfg->budget : &a->own_budget;
	if (!cfg->budget)
		atomic_store(&a->own_budget.limit, cfg->mem_limit);
	a->first_arena = cfg->first_arena;
	a->low_hint[0] = a->low_hint[1] = cfg->first_arena;
	a->reserve = cfg->reserve;
	a->reserve_wait_ms = cfg->reserve_wait_ms;
	a->keep_pages = cfg->keep_pages;
	if (a->reserve) {
		/* The whole directory, touched now (256 KiB). */
		memset(a->dir, 0, MAX_ARENAS * sizeof(void *));
		a->dir_touched = MAX_ARENAS * sizeof(void *);
	}
	return a;
}

void afm_destroy(struct afm *a)
{
	if (!a)
		return;
	for (uint32_t id = 0; id < a->id_end; id++) {
		struct afm_arena *ar = atomic_load(&a->dir[id]);

		if (ar) {
			UNPOISON(ar->base, UZ_ARENA_SIZE);
			arena_free(a, ar);
		}
	}
	atomic_fetch_sub(&a->budget->used, a->reported);
	munmap(a->dir, MAX_ARENAS * sizeof(void *));
	for (unsigned c = 0; c < AFM_NCLASS; c++)
		uz_mutex_destroy(&a->cls[c].lock);
	uz_mutex_destroy(&a->pool_lock);
	uz_mutex_destroy(&a->compact_lock);
	free(a);
}

void afm_set_limit(struct afm *a, uint64_t mem_limit)
{
	atomic_store(&a->budget->limit, mem_limit);
}

void afm_stats(struct afm *a, struct afm_stats *st)
{
	uint64_t pages = 0;

	memset(st, 0, sizeof(*st));
	for (unsigned c = 0; c < AFM_NCLASS; c++) {
		struct afm_class *k = &a->cls[c];

		uz_mutex_lock(&k->lock);
		st->cls[c].chunk_size = chunk_size(c);
		st->cls[c].used = k->used;
		st->cls[c].pages = k->pages;
		st->cls[c].free = k->pages * chunks_per_page(c) - k->used;
		uz_mutex_unlock(&k->lock);
		st->free_chunk_bytes += st->cls[c].free * chunk_size(c);
		pages += st->cls[c].pages;
	}
	uz_mutex_lock(&a->pool_lock);
	st->kind = a->kind;
	st->arenas = a->narenas;
	memcpy(st->arenas_by_kind, a->kinds, sizeof(st->arenas_by_kind));
	st->arena_bytes = a->narenas * UZ_ARENA_SIZE;
	st->mem_used_total = mem_used_locked(a);
	st->mem_used_max = atomic_load(&a->budget->used_max);
	st->mem_limit = atomic_load(&a->budget->limit);
	st->metadata_bytes = a->narenas * sizeof(struct afm_arena) + dir_bytes(a);
	st->released_bytes = a->released_pages * SLAB_SIZE;
	st->pages_compacted = __atomic_load_n(&a->pages_compacted, __ATOMIC_RELAXED);
	uz_mutex_unlock(&a->pool_lock);
	/* Pages are counted without the pool lock: clamp the difference. */
	pages += st->released_bytes / SLAB_SIZE;
	st->free_page_bytes = st->arena_bytes > pages * SLAB_SIZE ? st->arena_bytes - pages * SLAB_SIZE : 0;
	st->stranded_bytes = st->free_page_bytes + st->free_chunk_bytes;
	st->objects = (uint64_t)UZ_SHARD_SUM(a->cnt, objects);
	st->object_bytes = (uint64_t)UZ_SHARD_SUM(a->cnt, object_bytes);
	st->rounding_bytes = (uint64_t)UZ_SHARD_SUM(a->cnt, rounding_bytes);
	st->ext_bytes = (uint64_t)UZ_SHARD_SUM(a->cnt, ext_bytes);
	st->metadata_bytes += st->ext_bytes;
}

void afm_stats_add(struct afm_stats *sum, const struct afm_stats *one)
{
	sum->kind = one->kind;
	sum->mem_used_max = one->mem_used_max;
	sum->mem_limit = one->mem_limit;
	sum->arenas += one->arenas;
	for (unsigned k = 0; k < 4; k++)
		sum->arenas_by_kind[k] += one->arenas_by_kind[k];
	sum->arena_bytes += one->arena_bytes;
	sum->mem_used_total += one->mem_used_total;
	sum->objects += one->objects;
	sum->object_bytes += one->object_bytes;
	sum->rounding_bytes += one->rounding_bytes;
	sum->metadata_bytes += one->metadata_bytes;
	sum->ext_bytes += one->ext_bytes;
	sum->free_page_bytes += one->free_page_bytes;
	sum->free_chunk_bytes += one->free_chunk_bytes;
	sum->stranded_bytes += one->stranded_bytes;
	sum->released_bytes += one->released_bytes;
	sum->pages_compacted += one->pages_compacted;
	for (unsigned c = 0; c < AFM_NCLASS; c++) {
		sum->cls[c].chunk_size = one->cls[c].chunk_size;
		sum->cls[c].used += one->cls[c].used;
		sum->cls[c].free += one->cls[c].free;
		sum->cls[c].pages += one->cls[c].pages;
	}
}

#define FAIL(...)                                        \
	do {                                             \
		snprintf(err, errlen, __VA_ARGS__);      \
		ret = -EUCLEAN;                          \
		goto out;                                \
	} while (0)

int afm_check(struct afm *a, char *err, size_t errlen)
{
	uint64_t used[AFM_NCLASS] = { 0 }, pages[AFM_NCLASS] = { 0 }, partial[AFM_NCLASS] = { 0 };
	uint64_t narenas = 0, chunk_bytes = 0, total_released = 0;
	uint8_t seen[256 / 8];
	bool in_compaction = !uz_mutex_trylock(&a->compact_lock);
	int ret = 0;

	for (unsigned c = 0; c < AFM_NCLASS; c++)
		uz_mutex_lock(&a->cls[c].lock);
	uz_mutex_lock(&a->pool_lock);
	for (uint32_t id = 0; id < a->id_end; id++) {
		struct afm_arena *ar = atomic_load(&a->dir[id]);
		uint32_t inuse_pages = 0, free_list = 0, nreleased = 0;

		if (!ar)
			continue;
		narenas++;
		if (ar->id != id)
			FAIL("arena %u: records id %u", id, ar->id);
		if (ar->used_pages == 0)
			FAIL("arena %u: mapped but holds no page", id);
		if (ar->fresh > ARENA_PAGES)
			FAIL("arena %u: fresh %u beyond %u", id, ar->fresh, (unsigned)ARENA_PAGES);
		for (uint32_t i = ar->free_head; i; i = ar->pages[i - 1].next) {
			if (i - 1 >= ar->fresh ||
			    (ar->pages[i - 1].state != PG_FREE && ar->pages[i - 1].state != PG_RELEASED))
				FAIL("arena %u: page %u on the free list is not a free used page", id, i - 1);
			if (++free_list > ARENA_PAGES)
				FAIL("arena %u: free page list loops", id);
		}
		for (uint32_t pidx = 0; pidx < ar->fresh; pidx++) {
			struct afm_page *p = &ar->pages[pidx];
			uint32_t per, nfree = 0;

			if (p->state == PG_FREE || p->state == PG_RELEASED) {
				nreleased += p->state == PG_RELEASED;
				continue;
			}
			inuse_pages++;
			if (p->cls >= AFM_NCLASS)
				FAIL("page %u.%u: class %u", id, pidx, p->cls);
			per = chunks_per_page(p->cls);
			if (p->inuse == 0 || p->inuse > per || p->carved > per || p->carved < p->inuse)
				FAIL("page %u.%u: inuse %u carved %u of %u", id, pidx, p->inuse, p->carved, per);
			if (p->state == PG_EVAC && !in_compaction)
				FAIL("page %u.%u: left in evacuation", id, pidx);
			if (p->state != PG_EVAC && (p->state == PG_FULL) != (p->inuse == per))
				FAIL("page %u.%u: state %u with %u of %u in use", id, pidx, p->state, p->inuse, per);
			memset(seen, 0, sizeof(seen));
			for (uint32_t i = p->free_head; i;) {
				uint16_t next;
				uint8_t *link;

				if (i - 1 >= p->carved)
					FAIL("page %u.%u: free chunk %u not carved", id, pidx, i - 1);
				if (seen[(i - 1) / 8] & (1u << ((i - 1) % 8)))
					FAIL("page %u.%u: free list loops at %u", id, pidx, i - 1);
				seen[(i - 1) / 8] |= (uint8_t)(1u << ((i - 1) % 8));
				nfree++;
				link = ar->base + (size_t)pidx * SLAB_SIZE + (size_t)(i - 1) * chunk_size(p->cls);
				UNPOISON(link, sizeof(next));
				memcpy(&next, link, sizeof(next));
				POISON(link, sizeof(next));
				i = next;
			}
			if (nfree != (uint32_t)(p->carved - p->inuse))
				FAIL("page %u.%u: %u free chunks listed, %u expected", id, pidx, nfree,
				     p->carved - p->inuse);
			used[p->cls] += p->inuse;
			pages[p->cls]++;
			if (p->state == PG_PARTIAL)
				partial[p->cls]++;
		}
		if (inuse_pages != ar->used_pages)
			FAIL("arena %u: %u pages in use, %u recorded", id, inuse_pages, ar->used_pages);
		if (ar->tail_released)
			nreleased += (uint32_t)(ARENA_PAGES - ar->fresh);
		if (nreleased != ar->released)
			FAIL("arena %u: %u pages released, %u recorded", id, nreleased, ar->released);
		total_released += ar->released;
		if (ar->draining && !in_compaction)
			FAIL("arena %u: left draining", id);
		if (free_list != (uint32_t)(ar->fresh - ar->used_pages))
			FAIL("arena %u: %u pages on the free list, %u expected", id, free_list,
			     ar->fresh - ar->used_pages);
	}
	if (a->reported != mem_used_locked(a))
		FAIL("%llu bytes used, %llu told to the budget", (unsigned long long)mem_used_locked(a),
		     (unsigned long long)a->reported);
	if (total_released != a->released_pages)
		FAIL("%llu pages released in arenas, %llu recorded", (unsigned long long)total_released,
		     (unsigned long long)a->released_pages);
	if (narenas != a->narenas)
		FAIL("%llu arenas mapped, %llu recorded", (unsigned long long)narenas,
		     (unsigned long long)a->narenas);
	for (unsigned c = 0; c < AFM_NCLASS; c++) {
		uint64_t n = 0;

		if (used[c] != a->cls[c].used || pages[c] != a->cls[c].pages)
			FAIL("class %u: %llu chunks in %llu pages found, %llu in %llu recorded", c,
			     (unsigned long long)used[c], (unsigned long long)pages[c],
			     (unsigned long long)a->cls[c].used, (unsigned long long)a->cls[c].pages);
		for (uint32_t g = a->cls[c].partial, prev = 0; g; prev = g, g = page_of(a, g - 1)->next) {
			struct afm_arena *ar = arena_of(a, g - 1);
			struct afm_page *p;

			if (!ar)
				FAIL("class %u: partial list names a page of an unmapped arena", c);
			p = page_of(a, g - 1);
			if (p->state != PG_PARTIAL || p->cls != c || p->prev != prev)
				FAIL("class %u: page %u on the partial list is state %u class %u", c, g - 1,
				     p->state, p->cls);
			if (++n > partial[c])
				FAIL("class %u: partial list longer than %llu pages", c, (unsigned long long)partial[c]);
		}
		if (n != partial[c])
			FAIL("class %u: %llu partial pages listed, %llu found", c, (unsigned long long)n,
			     (unsigned long long)partial[c]);
		chunk_bytes += used[c] * chunk_size(c);
	}
	if (chunk_bytes != (uint64_t)(UZ_SHARD_SUM(a->cnt, object_bytes) + UZ_SHARD_SUM(a->cnt, rounding_bytes) +
				      UZ_SHARD_SUM(a->cnt, ext_bytes)))
		FAIL("chunks hold %llu bytes; objects %lld + rounding %lld + metadata %lld",
		     (unsigned long long)chunk_bytes, (long long)UZ_SHARD_SUM(a->cnt, object_bytes),
		     (long long)UZ_SHARD_SUM(a->cnt, rounding_bytes), (long long)UZ_SHARD_SUM(a->cnt, ext_bytes));
out:
	uz_mutex_unlock(&a->pool_lock);
	for (unsigned c = AFM_NCLASS; c-- > 0;)
		uz_mutex_unlock(&a->cls[c].lock);
	if (!in_compaction)
		uz_mutex_unlock(&a->compact_lock);
	return ret;
}
