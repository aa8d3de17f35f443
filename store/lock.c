/* store/lock.c - the lock order checks of debug builds; see lock.h.
 * Without UZ_LOCK_DEBUG this file is empty. */
#include "lock.h"

#ifdef UZ_LOCK_DEBUG
#include <stdio.h>
#include <stdlib.h>

static const char *const rank_name[UZ_LOCK_RANKS] = {
	[UZ_LOCK_WB] = "wb_lock",
	[UZ_LOCK_RC] = "rc_lock",
	[UZ_LOCK_SWEEP] = "sweep_lock",
	[UZ_LOCK_COMPACT] = "compact_lock",
	[UZ_LOCK_AFM_COMPACT] = "afm compact_lock",
	[UZ_LOCK_BACKING_WRITER] = "backing writer",
	[UZ_LOCK_SLOT] = "slot lock",
	[UZ_LOCK_ENGINE] = "engine_lock",
	[UZ_LOCK_CLASS] = "afm class lock",
	[UZ_LOCK_POOL] = "afm pool_lock",
	[UZ_LOCK_RESERVE] = "reserve lock",
	[UZ_LOCK_BACKING] = "backing lock",
	[UZ_LOCK_RC_CFG] = "rc_cfg_lock",
	[UZ_LOCK_DICT] = "dict_lock",
	[UZ_LOCK_STOP] = "stop_lock",
};

/* The deepest nesting: every class lock of an engine (compaction), or
 * a span of slot locks (read_wb_span(): 64), plus a few. */
#define MAX_HELD 96

struct held {
	const void *lock;
	enum uz_lock_rank rank;
	const char *where;
};

static __thread struct held held[MAX_HELD];
static __thread unsigned nheld;

static const char *name_of(enum uz_lock_rank rank)
{
	return rank > 0 && rank < UZ_LOCK_RANKS && rank_name[rank] ? rank_name[rank] : "unranked lock";
}

static void dump_held(void)
{
	for (unsigned i = nheld; i-- > 0;)
		fprintf(stderr, "  holds %s %p (rank %d), taken at %s\n", name_of(held[i].rank), held[i].lock,
			held[i].rank, held[i].where);
}

static __attribute__((noreturn)) void die(void)
{
	fflush(stderr);
	abort();
}

static void check_order(const void *lock, enum uz_lock_rank rank, const char *where)
{
	if (rank <= 0 || rank >= UZ_LOCK_RANKS) {
		fprintf(stderr, "uzram lock check: %s: taking lock %p of no rank (%d)\n", where, lock, rank);
		die();
	}
	for (unsigned i = 0; i < nheld; i++) {
		const struct held *h = &held[i];
		bool nests = h->rank == rank &&
			     (rank == UZ_LOCK_SLOT || (rank == UZ_LOCK_CLASS && (const char *)h->lock < (const char *)lock));

		if (h->lock == lock) {
			fprintf(stderr, "uzram lock check: %s: taking %s %p, already held (taken at %s)\n", where,
				name_of(rank), lock, h->where);
			dump_held();
			die();
		}
		if (h->rank >= rank && !nests) {
			fprintf(stderr, "uzram lock check: %s: taking %s (rank %d) while holding %s (rank %d): "
				"out of order (see store/internal.h, Locking)\n",
				where, name_of(rank), rank, name_of(h->rank), h->rank);
			dump_held();
			die();
		}
	}
}

void uz_lockdep_acquired(const void *lock, enum uz_lock_rank rank, const char *where)
{
	if (nheld == MAX_HELD) {
		fprintf(stderr, "uzram lock check: %s: more than %d locks held\n", where, MAX_HELD);
		dump_held();
		die();
	}
	held[nheld++] = (struct held){ lock, rank, where };
}

void uz_lockdep_acquire(const void *lock, enum uz_lock_rank rank, const char *where)
{
	check_order(lock, rank, where);
	uz_lockdep_acquired(lock, rank, where);
}

void uz_lockdep_release(const void *lock, enum uz_lock_rank rank, const char *where)
{
	for (unsigned i = nheld; i-- > 0;) {
		if (held[i].lock != lock)
			continue;
		for (; i + 1 < nheld; i++)
			held[i] = held[i + 1];
		nheld--;
		return;
	}
	fprintf(stderr, "uzram lock check: %s: releasing %s %p, not held by this thread\n", where, name_of(rank), lock);
	dump_held();
	die();
}

void uz_lockdep_assert_held(const void *lock, enum uz_lock_rank rank, const char *where)
{
	for (unsigned i = 0; i < nheld; i++)
		if (held[i].lock == lock)
			return;
	fprintf(stderr, "uzram lock check: %s: the caller must hold %s %p\n", where, name_of(rank), lock);
	dump_held();
	die();
}

void uz_lockdep_assert_rank_held(enum uz_lock_rank rank, const char *where)
{
	for (unsigned i = 0; i < nheld; i++)
		if (held[i].rank == rank)
			return;
	fprintf(stderr, "uzram lock check: %s: the caller must hold a %s\n", where, name_of(rank));
	dump_held();
	die();
}
#endif
