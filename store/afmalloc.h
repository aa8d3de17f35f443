/* store/afmalloc.h - the anti-fragmentation allocator (afmalloc).
 *
 * After Joonsoo Kim's RFC (shared/seed/): an object of N bytes is held as a
 * short list of power-of-2 chunks (400 = 256 + 128 + 16, sizes rounded up
 * to 16 bytes).  Chunks come from per-size slabs whose 4 KiB pages are
 * carved out of 2 MiB arenas; an arena whose last page is released goes
 * back to the OS at once.
 *
 * Handles are compact: a chunk is referenced by 4 bytes (24-bit page
 * number, 8-bit index), and an object of up to three chunks keeps all its
 * references in the 12-byte handle itself, with no metadata at all.  An
 * object of more chunks keeps its two largest chunks in the handle and the
 * rest in one 16- or 32-byte extension chunk, which is the only per-object
 * metadata the engine has.  The handle does not record the object's size:
 * the caller keeps it (uzram's slot table has it anyway) and passes it back.
 *
 * A 24-bit page number addresses 2^24 pages of 4 KiB: one engine holds at
 * most 64 GiB of chunks (AFM_MAX_ARENAS arenas).  Larger stores run several
 * engines, each with its own page space, that share one memory limit
 * through a struct afm_budget (see store.c).
 *
 * Thread safety: every function may be called concurrently.  The caller
 * must not free, store to or load from the same handle concurrently.
 */
#ifndef UZ_STORE_AFMALLOC_H
#define UZ_STORE_AFMALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

#define AFM_MIN_SHIFT 4 /* 16-byte chunks: the smallest */
#define AFM_MAX_SHIFT 12 /* 4096-byte chunks: a whole slab page */
#define AFM_NCLASS (AFM_MAX_SHIFT - AFM_MIN_SHIFT + 1)
#define AFM_MAX_OBJECT (1u << AFM_MAX_SHIFT)
#define AFM_INLINE_REFS 3

/* A reference is a 24-bit page number and an 8-bit chunk index. */
#define AFM_MAX_ARENAS (1u << (24 - 9)) /* 2^24 pages / 512 pages per arena */

struct afm;

/* What several engines count together: the sum of their mem_used_total,
 * its peak, and the limit on it.  Engines that share one must share it
 * for their whole life; zero-initialise it (then set limit). */
struct afm_budget {
	_Atomic uint64_t used;
	_Atomic uint64_t used_max;
	_Atomic uint64_t limit; /* 0: none */
};

struct afm_handle {
	uint32_t ref[AFM_INLINE_REFS];
};

struct afm_config {
	enum uz_arena_kind arena; /* UZ_ARENA_AUTO picks the best available */
	uint64_t mem_limit; /* bytes of mem_used_total; 0 = no limit (own budget only) */
	/* Shared with other engines (its limit applies, not mem_limit), or
	 * NULL: the engine has its own.  Must outlive the engine. */
	struct afm_budget *budget;
	/* Tests only: arena ids start here instead of 0, so that references
	 * near the top of the page space are used without mapping it all. */
	uint32_t first_arena;
	/* Where arenas come from and go back to (store/reserve.h), or NULL:
	 * mmap(2) and munmap(2) as needed, and free pages given back to the
	 * OS one by one.  With one, allocations never make a system call: an
	 * engine that needs an arena and finds the reserve empty waits at
	 * most reserve_wait_ms for it, then fails with -ENOMEM.  Must outlive
	 * the engine, and be made with afm_arena_desc_size(). */
	struct uz_reserve *reserve;
	unsigned reserve_wait_ms;
	/* Never gives free pages back one by one (afm_trim() does nothing):
	 * every page of every arena stays resident, so that no allocation
	 * ever touches a page for the first time.  Emptied arenas still go
	 * back whole.  A swap device's store (with a reserve). */
	bool keep_pages;
};

struct afm_class_stats {
	uint64_t chunk_size;
	uint64_t used; /* chunks holding data or metadata */
	uint64_t free; /* free chunks in this class's pages */
	uint64_t pages; /* 4 KiB slab pages */
};

struct afm_stats {
	enum uz_arena_kind kind; /* what "auto" resolved to at creation */
	uint64_t arenas; /* mapped now */
	uint64_t arenas_by_kind[4]; /* indexed by enum uz_arena_kind */
	uint64_t arena_bytes;
	uint64_t mem_used_total; /* arena bytes + metadata outside arenas */
	uint64_t mem_used_max; /* of the budget: all engines sharing it */
	uint64_t mem_limit; /* of the budget */
	uint64_t objects;
	uint64_t object_bytes; /* sum of the sizes asked for */
	uint64_t rounding_bytes; /* chunk bytes beyond the sizes asked for */
	uint64_t metadata_bytes; /* extension chunks + arena descriptors + directory */
	uint64_t ext_bytes; /* extension chunks alone (inside arenas) */
	uint64_t free_page_bytes; /* arena pages holding no chunk, not given back */
	uint64_t free_chunk_bytes; /* free chunks inside slab pages */
	uint64_t stranded_bytes; /* both: counted in mem_used_total, holding nothing */
	uint64_t released_bytes; /* free arena pages given back to the OS */
	uint64_t pages_compacted; /* 4 KiB pages emptied by compactions */
	struct afm_class_stats cls[AFM_NCLASS];
};

/* Creates an engine.  No memory is mapped until the first allocation.
 * Returns NULL with errno set (ENOMEM, EINVAL) on failure. */
struct afm *afm_create(const struct afm_config *cfg);

/* Frees every arena and the engine.  NULL is accepted. */
void afm_destroy(struct afm *a);

/* The size of an arena's descriptor, for a reserve (afm_config). */
size_t afm_arena_desc_size(void);

/* Bytes an object of this size costs in arenas: its chunks plus its
 * extension chunk.  Returns 0 for a size out of 1..AFM_MAX_OBJECT. */
uint32_t afm_footprint(uint32_t size);

/* Allocates chunks for an object of size bytes (1..AFM_MAX_OBJECT).
 * Returns 0, -EINVAL for a bad size, -ENOSPC when the memory limit less
 * its reserve (see afm_alloc_over()) would be passed or the engine's page
 * space (AFM_MAX_ARENAS arenas) is full, or -ENOMEM when an arena could
 * not be mapped (or, with a reserve, none came in reserve_wait_ms). */
int afm_alloc(struct afm *a, uint32_t size, struct afm_handle *h);

/* As afm_alloc(), for an object that replaces one about to be freed (an
 * overwritten page, a move): it may use the part of the memory limit kept
 * back from other allocations (1/32 of the limit, at least two arenas, at
 * most 64 MiB, at most a quarter), so that overwrites of stored data go on
 * when new data no longer fits.  mem_used_total still never passes the
 * limit. */
int afm_alloc_over(struct afm *a, uint32_t size, struct afm_handle *h);

/* Frees an object; size must be the one it was allocated with. */
void afm_free(struct afm *a, uint32_t size, const struct afm_handle *h);

/* Copies size bytes from src into the object's chunks. */
void afm_store(struct afm *a, uint32_t size, const struct afm_handle *h, const void *src);

/* Copies the object's size bytes into dst. */
void afm_load(struct afm *a, uint32_t size, const struct afm_handle *h, void *dst);

/* Fills *st with a consistent snapshot of the counters. */
void afm_stats(struct afm *a, struct afm_stats *st);

/* Adds the counters of one engine's stats to sum (kind, mem_used_max and
 * mem_limit, which are not per engine, are copied). */
void afm_stats_add(struct afm_stats *sum, const struct afm_stats *one);

/* Changes the memory limit of the engine's budget (0 = none).  Memory
 * already used is kept. */
void afm_set_limit(struct afm *a, uint64_t mem_limit);

/* Compaction, driven by the owner of the handles:
 *   afm_compact_begin()   marks the pages worth emptying (the sparsest of
 *                         each class, and sparse arenas whole); no chunk
 *                         is allocated from them until afm_compact_end()
 *   afm_needs_move()      for each live object: does it use such a page?
 *   afm_move()            if so, under the owner's lock for that object
 *   afm_compact_end()     unmarks what could not be emptied and gives free
 *                         pages back to the OS (afm_trim())
 * Only one compaction runs at a time: afm_compact_begin() waits for the
 * one in progress.  Always returns 0; *victim_pages gets the number of
 * pages marked. */
int afm_compact_begin(struct afm *a, uint64_t *victim_pages);

/* Between begin and end: true when one of the object's chunks lies in a
 * page being emptied.  The caller holds the object's lock. */
bool afm_needs_move(struct afm *a, uint32_t size, const struct afm_handle *h);

/* Reallocates the object outside the pages being emptied, copies it and
 * frees the old chunks; *h is updated.  Returns 0 or afm_alloc()'s error
 * (the object is then left where it was).  The caller holds the object's
 * lock, so that nobody reads it half moved. */
int afm_move(struct afm *a, uint32_t size, struct afm_handle *h);

void afm_compact_end(struct afm *a);

/* Gives every free page of THP and plain arenas back to the OS
 * (MADV_DONTNEED); they stop counting in mem_used_total.  Hugetlb arenas
 * are only given back whole.  Does nothing with keep_pages. */
void afm_trim(struct afm *a);

/* Walks every arena, page and free list and checks them against the
 * counters.  Returns 0, or -EUCLEAN with a description in err.  Takes
 * every lock: use in tests and on demand, not on the I/O path. */
int afm_check(struct afm *a, char *err, size_t errlen);

#endif
