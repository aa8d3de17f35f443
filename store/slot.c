/* store/slot.c - the lazy two-level slot table and per-slot bit locks. */
#include "slot.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mman.h>

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

#define LEAF_SHIFT 12
#define LEAF_SLOTS (1ull << LEAF_SHIFT)
#define LEAF_BYTES (LEAF_SLOTS * sizeof(struct uz_slot))

struct uz_slots {
	uint64_t nslots;
	uint64_t nleaves;
	struct uz_slot *_Atomic *dir;
	_Atomic uint64_t leaves;
};

struct uz_slots *uz_slots_create(uint64_t nslots)
{
	struct uz_slots *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nslots = nslots;
	t->nleaves = (nslots + LEAF_SLOTS - 1) >> LEAF_SHIFT;
	t->dir = mmap(NULL, t->nleaves * sizeof(void *) ?: 1, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (t->dir == MAP_FAILED) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void uz_slots_destroy(struct uz_slots *t)
{
	if (!t)
		return;
	for (uint64_t i = 0; i < t->nleaves; i++) {
		struct uz_slot *leaf = atomic_load(&t->dir[i]);

		if (leaf)
			munmap(leaf, LEAF_BYTES);
	}
	munmap(t->dir, t->nleaves * sizeof(void *) ?: 1);
	free(t);
}

struct uz_slot *uz_slots_get(struct uz_slots *t, uint64_t idx, bool create)
{
	struct uz_slot *_Atomic *ent = &t->dir[idx >> LEAF_SHIFT];
	struct uz_slot *leaf = atomic_load_explicit(ent, memory_order_acquire), *expect = NULL;

	if (!leaf) {
		if (!create)
			return NULL;
		leaf = mmap(NULL, LEAF_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (leaf == MAP_FAILED) {
			errno = ENOMEM;
			return NULL;
		}
		if (atomic_compare_exchange_strong_explicit(ent, &expect, leaf, memory_order_acq_rel,
							    memory_order_acquire)) {
			atomic_fetch_add(&t->leaves, 1);
		} else {
			munmap(leaf, LEAF_BYTES);
			leaf = expect;
		}
	}
	return &leaf[idx & (LEAF_SLOTS - 1)];
}

struct uz_slot *uz_slots_next(struct uz_slots *t, uint64_t *idx, uint64_t end)
{
	uint64_t i = *idx;

	if (end > t->nslots)
		end = t->nslots;
	while (i < end) {
		struct uz_slot *leaf = atomic_load_explicit(&t->dir[i >> LEAF_SHIFT], memory_order_acquire);

		if (leaf) {
			*idx = i;
			return &leaf[i & (LEAF_SLOTS - 1)];
		}
		i = ((i >> LEAF_SHIFT) + 1) << LEAF_SHIFT;
	}
	if (*idx < end)
		*idx = end;
	return NULL;
}

int uz_slots_populate(struct uz_slots *t)
{
	for (uint64_t i = 0; i < t->nleaves; i++) {
		struct uz_slot *s = uz_slots_get(t, i << LEAF_SHIFT, true);

		if (!s)
			return -ENOMEM;
		/* A fresh anonymous page reads as the shared zero page until
		 * written: write it. */
		for (uint64_t b = 0; b < LEAF_BYTES; b += 4096)
			atomic_fetch_or_explicit(&s[b / sizeof(*s)].meta, 0, memory_order_relaxed);
	}
	return 0;
}

uint64_t uz_slots_bytes(const struct uz_slots *t)
{
	uint64_t dir = (t->nleaves * sizeof(void *) + 4095) & ~4095ull;

	return dir + atomic_load(&((struct uz_slots *)t)->leaves) * LEAF_BYTES;
}

uint64_t uz_slots_count(const struct uz_slots *t)
{
	return t->nslots;
}

uint32_t uz_slot_lock_at(struct uz_slot *s, const char *where)
{
	unsigned spins = 0;

	uz_lockdep_acquire(s, UZ_LOCK_SLOT, where);

	for (;;) {
		uint32_t m = atomic_load_explicit(&s->meta, memory_order_relaxed);

		if (!(m & SLOT_LOCK) &&
		    atomic_compare_exchange_weak_explicit(&s->meta, &m, m | SLOT_LOCK, memory_order_acquire,
							  memory_order_relaxed))
			return m;
		/* Holders copy at most one page: spin briefly, then let the
		 * holder run (two cores only on the reference machine). */
		if (++spins < 64)
			cpu_relax();
		else
			sched_yield();
	}
}

void uz_slot_unlock_at(struct uz_slot *s, uint32_t meta, const char *where)
{
	uz_lockdep_release(s, UZ_LOCK_SLOT, where);
	atomic_store_explicit(&s->meta, meta & ~SLOT_LOCK, memory_order_release);
}
