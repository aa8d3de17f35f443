/* store/lock.h - the store's locks with their ranks, and the checks of
 * lock order and of "caller holds X" (the kernel's lockdep_assert_held).
 *
 * The order and what each lock protects are written in internal.h
 * ("Locking").  Every mutex of store/ is a struct uz_mutex made with its
 * rank; the slot bit locks (slot.c) are ranked UZ_LOCK_SLOT.  Compiled
 * with -DUZ_LOCK_DEBUG (the sanitizer and fuzz builds, and the store
 * objects of tests/check_lock), each thread keeps a record of the locks it
 * holds, and the process aborts with a message on stderr when a thread
 * takes a lock whose rank is not above every lock it holds (before it
 * waits: a wrong order aborts instead of deadlocking one run in many),
 * takes a lock it holds, releases one it does not hold, or fails an
 * assertion that it holds one.  Without the define the wrappers are the
 * pthread calls and the assertions compile to nothing.
 */
#ifndef UZ_STORE_LOCK_H
#define UZ_STORE_LOCK_H

#include <pthread.h>
#include <stdbool.h>

/* Lower ranks are taken first.  A thread may hold several locks of one
 * rank only for UZ_LOCK_SLOT (in ascending slot order) and UZ_LOCK_CLASS
 * (one engine's classes, in ascending class order: checked). */
enum uz_lock_rank {
	UZ_LOCK_WB = 1, /* uz_store.wb_lock */
	UZ_LOCK_RC, /* uz_store.rc_lock */
	UZ_LOCK_SWEEP, /* uz_store.sweep_lock */
	UZ_LOCK_COMPACT, /* uz_store.compact_lock */
	UZ_LOCK_AFM_COMPACT, /* afm.compact_lock */
	UZ_LOCK_BACKING_WRITER, /* uz_backing.writer */
	UZ_LOCK_SLOT, /* a slot's bit lock (SLOT_LOCK) */
	UZ_LOCK_ENGINE, /* uz_store.engine_lock */
	UZ_LOCK_CLASS, /* afm_class.lock */
	UZ_LOCK_POOL, /* afm.pool_lock */
	UZ_LOCK_RESERVE, /* uz_reserve.lock */
	UZ_LOCK_BACKING, /* uz_backing.lock */
	UZ_LOCK_RC_CFG, /* uz_store.rc_cfg_lock */
	UZ_LOCK_DICT, /* uz_store.dict_lock */
	UZ_LOCK_STOP, /* uz_store.stop_lock */
	UZ_LOCK_RANKS
};

struct uz_mutex {
	pthread_mutex_t m;
#ifdef UZ_LOCK_DEBUG
	enum uz_lock_rank rank;
#endif
};

#define UZ_LOCK_STR_(x) #x
#define UZ_LOCK_STR(x) UZ_LOCK_STR_(x)
#define UZ_LOCK_HERE __FILE__ ":" UZ_LOCK_STR(__LINE__)

#ifdef UZ_LOCK_DEBUG
/* The checks (lock.c).  lock is the lock's address; where names the
 * caller's source line. */
void uz_lockdep_acquire(const void *lock, enum uz_lock_rank rank, const char *where);
void uz_lockdep_acquired(const void *lock, enum uz_lock_rank rank, const char *where);
void uz_lockdep_release(const void *lock, enum uz_lock_rank rank, const char *where);
void uz_lockdep_assert_held(const void *lock, enum uz_lock_rank rank, const char *where);
void uz_lockdep_assert_rank_held(enum uz_lock_rank rank, const char *where);
#else
static inline void uz_lockdep_acquire(const void *lock, enum uz_lock_rank rank, const char *where)
{
	(void)lock, (void)rank, (void)where;
}
static inline void uz_lockdep_acquired(const void *lock, enum uz_lock_rank rank, const char *where)
{
	(void)lock, (void)rank, (void)where;
}
static inline void uz_lockdep_release(const void *lock, enum uz_lock_rank rank, const char *where)
{
	(void)lock, (void)rank, (void)where;
}
static inline void uz_lockdep_assert_held(const void *lock, enum uz_lock_rank rank, const char *where)
{
	(void)lock, (void)rank, (void)where;
}
static inline void uz_lockdep_assert_rank_held(enum uz_lock_rank rank, const char *where)
{
	(void)rank, (void)where;
}
#endif

static inline enum uz_lock_rank uz_mutex_rank(const struct uz_mutex *l)
{
#ifdef UZ_LOCK_DEBUG
	return l->rank;
#else
	(void)l;
	return UZ_LOCK_RANKS;
#endif
}

/* Makes l, of rank rank (a default mutex). */
static inline void uz_mutex_init(struct uz_mutex *l, enum uz_lock_rank rank)
{
	pthread_mutex_init(&l->m, NULL);
#ifdef UZ_LOCK_DEBUG
	l->rank = rank;
#else
	(void)rank;
#endif
}

static inline void uz_mutex_destroy(struct uz_mutex *l)
{
	pthread_mutex_destroy(&l->m);
}

static inline void uz_mutex_lock_at(struct uz_mutex *l, const char *where)
{
	uz_lockdep_acquire(l, uz_mutex_rank(l), where);
	pthread_mutex_lock(&l->m);
}

/* Takes l if free (no order check: it cannot wait).  Returns true if
 * taken. */
static inline bool uz_mutex_trylock_at(struct uz_mutex *l, const char *where)
{
	if (pthread_mutex_trylock(&l->m))
		return false;
	uz_lockdep_acquired(l, uz_mutex_rank(l), where);
	return true;
}

static inline void uz_mutex_unlock_at(struct uz_mutex *l, const char *where)
{
	uz_lockdep_release(l, uz_mutex_rank(l), where);
	pthread_mutex_unlock(&l->m);
}

#define uz_mutex_lock(l) uz_mutex_lock_at((l), UZ_LOCK_HERE)
#define uz_mutex_trylock(l) uz_mutex_trylock_at((l), UZ_LOCK_HERE)
#define uz_mutex_unlock(l) uz_mutex_unlock_at((l), UZ_LOCK_HERE)

/* Aborts (debug builds) unless this thread holds l. */
#define uz_assert_held(l) uz_lockdep_assert_held((l), uz_mutex_rank(l), UZ_LOCK_HERE)

/* Aborts (debug builds) unless this thread holds a lock of rank r: for
 * "caller holds the slot's lock" where the slot is not at hand. */
#define uz_assert_rank_held(r) uz_lockdep_assert_rank_held((r), UZ_LOCK_HERE)

/* For pthread_cond_wait(): the mutex stays in the thread's record while
 * it waits (it is held again when the wait returns). */
static inline pthread_mutex_t *uz_mutex_raw(struct uz_mutex *l)
{
	return &l->m;
}

#endif
