/* store/reserve.h - arenas mapped and faulted in ahead of need.
 *
 * A thread that serves a request must never wait for the kernel to find
 * it a page: under memory pressure the kernel may be waiting for that very
 * request (swap on the device, or dirty pages of a file system on it), and
 * the two would wait on each other.  So the store's engines take their
 * 2 MiB arenas from a reserve instead of mmap(2): arenas already mapped,
 * every page written once (and so locked, when the daemon locked its
 * memory with mlockall), each with a zeroed descriptor of desc_size bytes,
 * touched as well.  Taking and giving back are a few pointer moves under
 * a mutex held by nobody who makes a system call.
 *
 * The reserve's own thread keeps it at its target: it maps and faults new
 * arenas when it holds fewer (it may block in reclaim; nobody waits for it
 * but the callers that chose to), and unmaps what engines gave back
 * beyond the target.
 *
 * Library code: reports what it did, never logs.
 */
#ifndef UZ_STORE_RESERVE_H
#define UZ_STORE_RESERVE_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"

struct uz_reserve;

struct uz_reserve_stats {
	uint64_t bytes; /* arena bytes held ready now */
	uint64_t target; /* bytes it is refilled to */
	uint64_t misses; /* takes that found it empty (after waiting, if asked to) */
	uint64_t waits; /* takes that had to wait for the refill */
	uint64_t wait_ns_max; /* the longest of those waits */
	uint64_t refills; /* arenas mapped by its thread */
	uint64_t map_failures; /* mmap(2) failures of its thread (it retries) */
};

/* Creates a reserve of target bytes (rounded up to whole arenas; at
 * least one) of arenas of the given kind (not AUTO), whose descriptors are
 * desc_size bytes, and starts its thread.  Returns at once: the first
 * arenas are being made.  Returns NULL with errno set (EINVAL, ENOMEM, or
 * pthread_create's error). */
struct uz_reserve *uz_reserve_create(uint64_t target, enum uz_arena_kind kind, size_t desc_size);

/* Waits until the reserve holds its target, at most timeout_ms.  Returns
 * 0, or -ETIMEDOUT (the arenas made so far stay). */
int uz_reserve_fill(struct uz_reserve *r, unsigned timeout_ms);

/* Stops the thread and unmaps every arena the reserve holds.  NULL is
 * accepted.  Arenas taken and not given back are the takers'. */
void uz_reserve_destroy(struct uz_reserve *r);

/* Takes an arena: *base (2 MiB, every page resident), *kind (what was
 * mapped: a hugetlb request may have got THP), *desc (desc_size bytes,
 * zeroed).  When the reserve is empty, waits at most wait_ms for its
 * thread (0: not at all).  Returns 0, or -ENOMEM (counted as a miss).
 * Never blocks but on the reserve's mutex (held only for pointer moves),
 * unless it waits. */
int uz_reserve_take(struct uz_reserve *r, unsigned wait_ms, void **base, enum uz_arena_kind *kind, void **desc);

/* Gives an arena taken from r back (its contents are left as they are),
 * with its descriptor.  Never blocks but on the reserve's mutex. */
void uz_reserve_give(struct uz_reserve *r, void *base, enum uz_arena_kind kind, void *desc);

/* Changes the target (rounded up to whole arenas; at least one). */
void uz_reserve_set_target(struct uz_reserve *r, uint64_t target);

void uz_reserve_stats(struct uz_reserve *r, struct uz_reserve_stats *s);

#endif
