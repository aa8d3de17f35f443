/* store/slot.h - the slot table: one 16-byte slot per 4 KiB page.
 *
 * The table is two-level and lazy: a directory of pointers to leaves of
 * 4096 slots (64 KiB, covering 16 MiB of the device), a leaf being mapped
 * on the first write into its range.  A sparse 1 TiB device costs its
 * 512 KiB directory, reserved but only touched where used.
 *
 * Each slot carries its own lock bit, so that different pages never wait
 * on each other.
 */
#ifndef UZ_STORE_SLOT_H
#define UZ_STORE_SLOT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lock.h"

/* meta: bit 31 lock, bits 29-30 type, bit 28 idle (zram's idle mark),
 * bit 27 written back (a COMP or RAW page whose object is in the backing
 * store: w[0..1] hold its byte offset there, not an afmalloc handle),
 * bits 25-26 the codec's low two bits (COMP and RAW pages: enum
 * slot_codec) or, for an EMPTY page, bit 25 zeroed (a page that a zero
 * range left allocated), bits 13-24 the access time (see store.c:
 * 30-second ticks, modulo 4096), bit 12 the codec's third bit (COMP
 * pages only: their objects are always < 4096 bytes), bits 0-11 a COMP
 * page's object size (a RAW page's is always 4096, not recorded). */
#define SLOT_LOCK (1u << 31)
#define SLOT_TYPE_SHIFT 29
#define SLOT_TYPE_MASK (3u << SLOT_TYPE_SHIFT)
#define SLOT_IDLE (1u << 28)
#define SLOT_WB (1u << 27)
#define SLOT_CODEC_SHIFT 25
#define SLOT_CODEC_HI (1u << 12) /* the codec's third bit */
#define SLOT_CODEC_MASK (3u << SLOT_CODEC_SHIFT | SLOT_CODEC_HI)
#define SLOT_ZEROED (1u << 25) /* EMPTY pages only */

/* How a COMP page's object is encoded; the first three are enum uz_algo
 * (compress/codec.h).  RAW pages are SLOT_LZ4 or SLOT_LZ4_TRIED.  The
 * last four name one of the store's two trained dictionaries (slot 0 or
 * 1: see internal.h), against which the object was compressed. */
enum slot_codec {
	SLOT_LZ4 = 0,
	SLOT_ZSTD = 1,
	SLOT_LZ4HC = 2,
	/* LZ4 (or raw), and recompression did not make it smaller: not tried
	 * again until the page is rewritten (zram's incompressible mark). */
	SLOT_LZ4_TRIED = 3,
	SLOT_LZ4_DICT0 = 4,
	SLOT_LZ4_DICT1 = 5,
	SLOT_ZSTD_DICT0 = 6,
	SLOT_ZSTD_DICT1 = 7,
};

/* The store's dictionary slots. */
#define SLOT_DICTS 2

#define SLOT_ATIME_SHIFT 13
#define SLOT_ATIME_BITS 12
#define SLOT_ATIME_MASK (((1u << SLOT_ATIME_BITS) - 1) << SLOT_ATIME_SHIFT)
#define SLOT_SIZE_MASK 0xfffu

enum slot_type {
	SLOT_EMPTY = 0, /* never written, or discarded: reads as zeros */
	SLOT_SAME = 1, /* one 8-byte word repeated: w[0..1] hold it */
	SLOT_COMP = 2, /* LZ4 data: w[0..2] are the afmalloc handle */
	SLOT_RAW = 3, /* incompressible page stored as is: w[0..2] handle */
};

struct uz_slot {
	_Atomic uint32_t meta;
	uint32_t w[3];
};

_Static_assert(sizeof(struct uz_slot) == 16, "a slot is 16 bytes");

struct uz_slots;

/* Creates a table for nslots pages.  Returns NULL with errno set. */
struct uz_slots *uz_slots_create(uint64_t nslots);

/* Frees the table (not what the slots reference).  NULL is accepted. */
void uz_slots_destroy(struct uz_slots *t);

/* Returns slot idx (< nslots).  When its leaf does not exist yet: with
 * create, maps it (NULL with errno ENOMEM if that fails); without, returns
 * NULL, meaning the slot is empty. */
struct uz_slot *uz_slots_get(struct uz_slots *t, uint64_t idx, bool create);

/* The walk over the table: the first slot at index *idx or after, and
 * below end (at most the table's count), whose leaf exists.  Sets *idx to
 * its index and returns it; returns NULL when there is none, *idx then
 * moved up to end (or to the count, if smaller).  The slots of absent
 * leaves are empty and skipped whole, without the caller knowing the
 * leaf size; a leaf mapped during a walk may or may not be seen.  Takes
 * no lock.  A walk is resumable: call again from any index. */
struct uz_slot *uz_slots_next(struct uz_slots *t, uint64_t *idx, uint64_t end);

/* for every slot s at index i in [first, end) whose leaf exists, in
 * order: see uz_slots_next(). */
#define uz_slots_for_each(t, i, s, first, end) \
	for ((i) = (first); ((s) = uz_slots_next((t), &(i), (end))) != NULL; (i)++)

/* Makes every leaf now, each page of it written once (resident), so that
 * no later uz_slots_get() maps one.  Returns 0 or -ENOMEM (the leaves
 * made so far stay). */
int uz_slots_populate(struct uz_slots *t);

/* Bytes the table holds: the directory plus every leaf mapped. */
uint64_t uz_slots_bytes(const struct uz_slots *t);

/* Number of slots. */
uint64_t uz_slots_count(const struct uz_slots *t);

/* Locks a slot (spinning, then yielding) and returns its meta word
 * without the lock bit.  Rank UZ_LOCK_SLOT (lock.h); where names the
 * caller for the lock checks. */
uint32_t uz_slot_lock_at(struct uz_slot *s, const char *where);

/* Publishes meta (which must not have the lock bit) and unlocks.  The
 * caller must hold the lock (checked in UZ_LOCK_DEBUG builds). */
void uz_slot_unlock_at(struct uz_slot *s, uint32_t meta, const char *where);

#define uz_slot_lock(s) uz_slot_lock_at((s), UZ_LOCK_HERE)
#define uz_slot_unlock(s, meta) uz_slot_unlock_at((s), (meta), UZ_LOCK_HERE)

/* Aborts (UZ_LOCK_DEBUG builds) unless this thread holds slot s's lock. */
#define uz_slot_assert_held(s) uz_lockdep_assert_held((s), UZ_LOCK_SLOT, UZ_LOCK_HERE)

static inline enum slot_type slot_type(uint32_t meta)
{
	return (enum slot_type)((meta & SLOT_TYPE_MASK) >> SLOT_TYPE_SHIFT);
}

/* The object's size: 4096 for a RAW page, 0 for SAME and EMPTY ones. */
static inline uint32_t slot_size(uint32_t meta)
{
	return slot_type(meta) == SLOT_RAW ? 4096u : meta & SLOT_SIZE_MASK;
}

/* The meta of a page of type with an object of size bytes (COMP: < 4096;
 * RAW: 4096, implied), codec SLOT_LZ4. */
static inline uint32_t slot_meta(enum slot_type type, uint32_t size)
{
	return (uint32_t)type << SLOT_TYPE_SHIFT | (type == SLOT_RAW ? 0 : size & SLOT_SIZE_MASK);
}

/* The codec of a COMP or RAW page. */
static inline enum slot_codec slot_codec(uint32_t meta)
{
	return (enum slot_codec)((meta >> SLOT_CODEC_SHIFT & 3u) | (meta & SLOT_CODEC_HI ? 4u : 0u));
}

/* meta with its codec set to c. */
static inline uint32_t slot_with_codec(uint32_t meta, enum slot_codec c)
{
	return (meta & ~SLOT_CODEC_MASK) | ((uint32_t)c & 3u) << SLOT_CODEC_SHIFT | ((uint32_t)c & 4u ? SLOT_CODEC_HI : 0);
}

/* The dictionary slot a COMP page's codec names (0 or 1), or -1 for
 * none. */
static inline int slot_dict(uint32_t meta)
{
	enum slot_codec c = slot_codec(meta);

	return slot_type(meta) == SLOT_COMP && c >= SLOT_LZ4_DICT0 ? (int)(c & 1u) : -1;
}

/* The codec of a page compressed with algorithm a (0: LZ4, 1: zstd)
 * against dictionary slot k. */
static inline enum slot_codec slot_dict_codec(int a, int k)
{
	return (enum slot_codec)(a ? SLOT_ZSTD_DICT0 + k : SLOT_LZ4_DICT0 + k);
}

/* The access time recorded in meta, in ticks modulo 2^SLOT_ATIME_BITS. */
static inline uint32_t slot_atime(uint32_t meta)
{
	return (meta & SLOT_ATIME_MASK) >> SLOT_ATIME_SHIFT;
}

/* meta with the access time set to now (ticks) and the idle mark cleared:
 * what every read and write does. */
static inline uint32_t slot_touch(uint32_t meta, uint32_t now)
{
	return (meta & ~(SLOT_IDLE | SLOT_ATIME_MASK)) |
	       ((now << SLOT_ATIME_SHIFT) & SLOT_ATIME_MASK);
}

#endif
