/* store/reserve.c - arenas mapped and faulted in ahead of need; see
 * reserve.h. */
#include "reserve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lock.h"

/* While an arena waits in the reserve, its descriptor's first bytes link
 * it into the list. */
struct pooled {
	struct pooled *next;
	void *base;
	enum uz_arena_kind kind;
};

struct uz_reserve {
	struct uz_mutex lock; /* everything below; never held across a system call */
	pthread_cond_t wake; /* the thread: below target, or stopping */
	pthread_cond_t avail; /* takers waiting: an arena came in */
	struct pooled *head;
	uint64_t count; /* arenas held */
	uint64_t target; /* arenas */
	unsigned waiting; /* takers waiting on avail */
	bool idle; /* the thread waits on wake */
	bool stopping;
	enum uz_arena_kind kind;
	size_t desc_size;
	uint64_t misses, waits, wait_ns_max, refills, map_failures;
	pthread_t thread;
};

static uint64_t arenas_for(uint64_t bytes)
{
	uint64_t n = (bytes + UZ_ARENA_SIZE - 1) / UZ_ARENA_SIZE;

	return n ? n : 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timespec deadline_in(uint64_t ns)
{
	uint64_t t = now_ns() + ns;

	return (struct timespec){ .tv_sec = (time_t)(t / 1000000000u), .tv_nsec = (long)(t % 1000000000u) };
}

/* Maps and touches one arena and its descriptor.  Runs without the lock:
 * this is where the reserve's thread may wait for the kernel. */
static struct pooled *make_one(struct uz_reserve *r)
{
	enum uz_arena_kind got;
	void *base = uz_arena_map(r->kind, &got);
	struct pooled *p;

	if (!base)
		return NULL;
	p = aligned_alloc(64, (r->desc_size + 63) & ~(size_t)63);
	if (!p) {
		uz_arena_unmap(base);
		return NULL;
	}
	/* Every page written: resident from now on (and locked under
	 * mlockall), so that the taker never faults on it. */
	memset(p, 0, r->desc_size);
	uz_touch(base, UZ_ARENA_SIZE);
	uz_touch(p, r->desc_size);
	p->base = base;
	p->kind = got;
	return p;
}

static void push_locked(struct uz_reserve *r, struct pooled *p)
{
	uz_assert_held(&r->lock);
	p->next = r->head;
	r->head = p;
	r->count++;
	if (r->waiting)
		pthread_cond_broadcast(&r->avail);
}

static void *refill_main(void *arg)
{
	struct uz_reserve *r = arg;
	sigset_t all;

	/* The process's signals are for its main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	uz_mutex_lock(&r->lock);
	while (!r->stopping) {
		if (r->count < r->target) {
			struct pooled *p;

			uz_mutex_unlock(&r->lock);
			p = make_one(r);
			uz_mutex_lock(&r->lock);
			if (p) {
				r->refills++;
				push_locked(r, p);
			} else {
				/* Out of memory or address space: try again soon. */
				struct timespec until = deadline_in(100000000u);

				r->map_failures++;
				r->idle = true;
				pthread_cond_timedwait(&r->wake, uz_mutex_raw(&r->lock), &until);
				r->idle = false;
			}
			continue;
		}
		/* Arenas that engines gave back beyond the target. */
		if (r->count > r->target) {
			struct pooled *p = r->head;

			r->head = p->next;
			r->count--;
			uz_mutex_unlock(&r->lock);
			uz_arena_unmap(p->base);
			free(p);
			uz_mutex_lock(&r->lock);
			continue;
		}
		r->idle = true;
		pthread_cond_wait(&r->wake, uz_mutex_raw(&r->lock));
		r->idle = false;
	}
	uz_mutex_unlock(&r->lock);
	return NULL;
}

struct uz_reserve *uz_reserve_create(uint64_t target, enum uz_arena_kind kind, size_t desc_size)
{
	struct uz_reserve *r;
	pthread_condattr_t ca;
	int err;

	if (kind == UZ_ARENA_AUTO || kind > UZ_ARENA_PLAIN || desc_size < sizeof(struct pooled)) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->kind = kind;
	r->desc_size = desc_size;
	r->target = arenas_for(target);
	uz_mutex_init(&r->lock, UZ_LOCK_RESERVE);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->wake, &ca);
	pthread_cond_init(&r->avail, &ca);
	pthread_condattr_destroy(&ca);
	err = pthread_create(&r->thread, NULL, refill_main, r);
	if (err) {
		pthread_cond_destroy(&r->wake);
		pthread_cond_destroy(&r->avail);
		uz_mutex_destroy(&r->lock);
		free(r);
		errno = err;
		return NULL;
	}
	return r;
}

int uz_reserve_fill(struct uz_reserve *r, unsigned timeout_ms)
{
	struct timespec until = deadline_in((uint64_t)timeout_ms * 1000000u);
	int err = 0;

	uz_mutex_lock(&r->lock);
	r->waiting++;
	while (r->count < r->target && err != ETIMEDOUT)
		err = pthread_cond_timedwait(&r->avail, uz_mutex_raw(&r->lock), &until);
	r->waiting--;
	err = r->count < r->target ? -ETIMEDOUT : 0;
	uz_mutex_unlock(&r->lock);
	return err;
}

void uz_reserve_destroy(struct uz_reserve *r)
{
	if (!r)
		return;
	uz_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_signal(&r->wake);
	uz_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	while (r->head) {
		struct pooled *p = r->head;

		r->head = p->next;
		uz_arena_unmap(p->base);
		free(p);
	}
	pthread_cond_destroy(&r->wake);
	pthread_cond_destroy(&r->avail);
	uz_mutex_destroy(&r->lock);
	free(r);
}

int uz_reserve_take(struct uz_reserve *r, unsigned wait_ms, void **base, enum uz_arena_kind *kind, void **desc)
{
	struct pooled *p;

	uz_mutex_lock(&r->lock);
	if (!r->head && wait_ms) {
		uint64_t t0 = now_ns(), waited;
		struct timespec until = deadline_in((uint64_t)wait_ms * 1000000u);
		int err = 0;

		r->waits++;
		r->waiting++;
		if (r->idle)
			pthread_cond_signal(&r->wake);
		while (!r->head && err != ETIMEDOUT)
			err = pthread_cond_timedwait(&r->avail, uz_mutex_raw(&r->lock), &until);
		r->waiting--;
		waited = now_ns() - t0;
		if (waited > r->wait_ns_max)
			r->wait_ns_max = waited;
	}
	p = r->head;
	if (!p) {
		r->misses++;
		if (r->idle)
			pthread_cond_signal(&r->wake);
		uz_mutex_unlock(&r->lock);
		return -ENOMEM;
	}
	r->head = p->next;
	r->count--;
	if (r->count < r->target && r->idle)
		pthread_cond_signal(&r->wake);
	uz_mutex_unlock(&r->lock);
	*base = p->base;
	*kind = p->kind;
	*desc = p;
	memset(p, 0, sizeof(*p)); /* the rest was zeroed when it was made or given back */
	return 0;
}

void uz_reserve_give(struct uz_reserve *r, void *base, enum uz_arena_kind kind, void *desc)
{
	struct pooled *p = desc;

	memset(desc, 0, r->desc_size);
	p->base = base;
	p->kind = kind;
	uz_mutex_lock(&r->lock);
	push_locked(r, p);
	if (r->count > r->target && r->idle)
		pthread_cond_signal(&r->wake);
	uz_mutex_unlock(&r->lock);
}

void uz_reserve_set_target(struct uz_reserve *r, uint64_t target)
{
	uz_mutex_lock(&r->lock);
	r->target = arenas_for(target);
	if (r->idle)
		pthread_cond_signal(&r->wake);
	uz_mutex_unlock(&r->lock);
}

void uz_reserve_stats(struct uz_reserve *r, struct uz_reserve_stats *s)
{
	uz_mutex_lock(&r->lock);
	*s = (struct uz_reserve_stats){
		.bytes = r->count * UZ_ARENA_SIZE,
		.target = r->target * UZ_ARENA_SIZE,
		.misses = r->misses,
		.waits = r->waits,
		.wait_ns_max = r->wait_ns_max,
		.refills = r->refills,
		.map_failures = r->map_failures,
	};
	uz_mutex_unlock(&r->lock);
}
