/* store/shard.h - counters that every I/O thread updates, kept as one copy
 * per cache line and group of threads, summed when read.
 *
 * A single atomic counter shared by all threads moves its cache line from
 * core to core on every update: a write of one page updated ten of them,
 * which cost more than the slab locks (perf, 1M writes, two cores).  With
 * shards, a thread updates its own line.  A shard may go below zero (a
 * page stored by one thread, freed by another): only the sum means
 * anything.  Sums are not a snapshot, as reading the counters one by one
 * was not either.
 */
#ifndef UZ_STORE_SHARD_H
#define UZ_STORE_SHARD_H

#include <stdatomic.h>
#include <stdint.h>

#define UZ_SHARDS 16

/* This thread's shard: threads take the next one as they first ask. */
static inline unsigned uz_shard(void)
{
	static __thread unsigned id; /* shard + 1; 0 until chosen */
	static _Atomic unsigned next;

	if (!id)
		id = atomic_fetch_add_explicit(&next, 1, memory_order_relaxed) % UZ_SHARDS + 1;
	return id - 1;
}

/* Adds v to field f of this thread's shard in the array arr. */
#define UZ_SHARD_ADD(arr, f, v) \
	atomic_fetch_add_explicit(&(arr)[uz_shard()].f, (int64_t)(v), memory_order_relaxed)

/* The sum of field f over the shards of arr, as an int64_t. */
#define UZ_SHARD_SUM(arr, f)                                                                   \
	({                                                                                     \
		int64_t sum_ = 0;                                                              \
		for (unsigned i_ = 0; i_ < UZ_SHARDS; i_++)                                    \
			sum_ += atomic_load_explicit(&(arr)[i_].f, memory_order_relaxed);      \
		sum_;                                                                          \
	})

#endif
