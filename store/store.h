/* store/store.h - the compressed page store behind a uzram device.
 *
 * Byte-addressed reads, writes and discards over a device of disksize
 * bytes.  Every 4 KiB page is kept same-filled in its slot, LZ4-compressed
 * in afmalloc chunks, or raw when compression would not save memory; pages
 * that went cold may be recompressed with a stronger algorithm (zstd,
 * LZ4HC: recompress.c), or written back to a backing store (writeback.c).
 * Sub-page I/O is read-modify-write under that page's lock.
 *
 * Knows nothing of FUSE or sockets.  Every function may be called from
 * many threads at once.
 */
#ifndef UZ_STORE_STORE_H
#define UZ_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "../compress/codec.h"
#include "afmalloc.h"

struct uz_store;

/* Each span of 32 GiB of the device has its own afmalloc engine, whose
 * page space holds 64 GiB of chunks (see afmalloc.h): the store addresses
 * as much compressed data as the device holds, 1 TiB and beyond, with no
 * wider reference and no larger slot. */
#define UZ_ENGINE_SPAN_SHIFT 35
#define UZ_ENGINE_SPAN (1ull << UZ_ENGINE_SPAN_SHIFT)

struct uz_writeback_result;
struct uz_recompress_result;
struct uz_backing;

/* Runs that may take long report how far they are (uz_store_config's
 * progress): done and total in bytes (of the device scanned, or of the
 * snapshot file read); done 0 when a run starts. */
enum uz_progress_what {
	UZ_PROGRESS_WRITEBACK,
	UZ_PROGRESS_RECOMPRESS,
	UZ_PROGRESS_SNAPSHOT,
	UZ_PROGRESS_RESTORE,
};

struct uz_store_config {
	enum uz_arena_kind arena;
	uint64_t mem_limit; /* 0: none; for all engines together */
	/* Automatic compaction: when the stranded bytes (free chunks and
	 * free pages still counted in mem_used_total) pass this share of the
	 * stored compressed bytes, in parts per million (and at least
	 * UZ_COMPACT_MIN_BYTES), a background thread compacts.  0: off. */
	uint32_t compact_ppm;
	/* Tests only: every engine's arena ids start here (afm_config), so
	 * that references at the top of each page space are exercised. */
	uint32_t first_arena;
	/* The backing store (store/backing.h), taken over by the store and
	 * closed with it (if uz_store_create() fails, it stays the
	 * caller's); NULL: none.  With it, writes that hit the memory
	 * limit first write the coldest pages back (spill). */
	struct uz_backing *backing;
	/* The housekeeping thread's writeback: pages not touched for this
	 * long (0: off), at most writeback_limit bytes a day (0: no limit);
	 * on_writeback (if set) hears of each run that did something. */
	uint64_t writeback_after_s;
	uint64_t writeback_limit;
	void (*on_writeback)(void *ctx, const struct uz_writeback_result *r);
	void *on_writeback_ctx;
	/* Recompression: the secondary algorithm (UZ_ALGO_LZ4: off), and
	 * the housekeeping thread's policy: pages not touched for
	 * recompress_after_s (0: off) are recompressed, in small batches,
	 * before its writeback; on_recompress (if set) hears of each pass
	 * that did something. */
	struct uz_codec recomp;
	uint64_t recompress_after_s;
	void (*on_recompress)(void *ctx, const struct uz_recompress_result *r);
	void *on_recompress_ctx;
	/* Recompression with zstd compresses against the current trained
	 * dictionary, if there is one (uz_store_train_dict() makes them);
	 * false: never (pages go on as if none were trained). */
	bool dictionary;
	/* New writes compress with LZ4 against the current trained
	 * dictionary, if there is one (whatever dictionary says); such pages
	 * are recompressed like plain LZ4 ones.  uz_store_set_dictionary_lz4()
	 * changes it. */
	bool dictionary_lz4;
	/* Progress of writeback, recompression by hand, snapshot and
	 * restore (NULL: none); may be called from several threads at once. */
	void (*progress)(void *ctx, enum uz_progress_what what, uint64_t done, uint64_t total);
	void *progress_ctx;
	/* Arenas made ahead of need (store/reserve.h), in bytes; 0: none
	 * (engines map arenas as they need them, in the writing thread).
	 * With a reserve, a write that needs a new arena and finds the
	 * reserve empty waits at most reserve_wait_ms for its thread, then
	 * fails with -ENOMEM (counted in reserve_misses and failed_writes):
	 * 0 fails at once, as a swap device wants (the kernel keeps the page
	 * and picks another).  uz_store_create() waits (at most 10 s) until
	 * the reserve is full. */
	uint64_t reserve;
	unsigned reserve_wait_ms;
	/* Makes the whole slot table and every engine now, touched, rather
	 * than as writes reach them, and keeps every arena page resident
	 * (afm_config's keep_pages): no write then touches memory for the
	 * first time (16 bytes per 4 KiB page of the device for the table;
	 * free pages inside arenas are not given back until their arena
	 * empties, so compaction frees whole arenas only; a swap device). */
	bool preallocate;
};

#define UZ_COMPACT_MIN_BYTES (64u << 10)
#define UZ_COMPACT_INTERVAL_MS 500

/* Access times are kept in ticks of this many seconds; ages up to
 * UZ_IDLE_MAX_AGE_S are told apart, older pages all count as that old. */
#define UZ_IDLE_TICK_S 30
#define UZ_IDLE_MAX_AGE_S (30 * 3600)

/* zram's writeback types, and the policy's own (by age); recompression
 * picks its pages the same way. */
enum uz_writeback_type {
	UZ_WB_IDLE, /* pages marked idle */
	UZ_WB_HUGE, /* pages stored raw (incompressible) */
	UZ_WB_HUGE_IDLE,
	UZ_WB_ALL,
	UZ_WB_AGED, /* internal: not touched for an age */
};

struct uz_writeback_result {
	uint64_t pages; /* written back (their memory freed) */
	uint64_t bytes; /* compressed bytes written */
	uint64_t failed; /* pages a failed backing write left in memory */
	uint64_t bytes_freed; /* fall of mem_used_total (after a compaction) */
	int error; /* 0, or the backing store's negative errno */
};

struct uz_recompress_result {
	uint64_t tried; /* pages recompressed */
	uint64_t kept; /* pages kept in the new form: smaller after afmalloc's rounding */
	uint64_t dict_kept; /* of those, compressed against the current trained dictionary */
	uint64_t orig_bytes; /* bytes of the pages tried (4096 each): the work done */
	uint64_t bytes_saved; /* fall of compr_data_size */
	uint64_t bytes_freed; /* fall of mem_used_total (after a compaction) */
	int error; /* 0, or why it stopped early (-ENOMEM, -ENOSPC) */
};

struct uz_compact_result {
	uint64_t bytes_freed; /* fall of mem_used_total */
	uint64_t pages_compacted; /* 4 KiB pages emptied */
	uint64_t objects_moved;
	uint64_t objects_unmoved; /* no room to move them (memory limit) */
};

/* Dictionary slots: one current, one retiring. */
#define UZ_STORE_DICTS 2

/* zram's mm_stat and io_stat, plus what uzram adds. */
struct uz_store_stats {
	uint64_t disksize;
	uint64_t orig_data_size;
	uint64_t compr_data_size;
	uint64_t mem_used_total;
	uint64_t mem_limit;
	uint64_t mem_used_max;
	uint64_t same_pages;
	uint64_t pages_compacted;
	uint64_t huge_pages;
	uint64_t huge_pages_since;
	uint64_t failed_reads;
	uint64_t failed_writes;
	uint64_t invalid_io;
	uint64_t notify_free;
	uint64_t idle_pages; /* pages marked idle (uz_store_mark_idle) and not touched since */
	/* With a backing store (backing true): */
	bool backing;
	/* zram's bd_stat, in 4 KiB blocks: held now, read, written */
	uint64_t bd_count, bd_reads, bd_writes;
	uint64_t wb_pages; /* pages whose object is in the backing store now */
	uint64_t wb_reads; /* pages read back from it */
	uint64_t backing_bytes; /* space it uses now (blocks holding data) */
	uint64_t backing_objects;
	uint64_t backing_capacity;
	uint64_t writeback_bytes; /* compressed bytes written back, in total */
	uint64_t failed_writeback; /* pages a failed backing write left in memory */
	uint64_t spills; /* writebacks that a full memory limit caused */
	/* Per algorithm (enum uz_algo): the compressed pages each holds and
	 * their compressed bytes, in memory or written back. */
	uint64_t algo_pages[UZ_ALGO_COUNT];
	uint64_t algo_bytes[UZ_ALGO_COUNT];
	uint64_t recomp_pages; /* held in a secondary algorithm now */
	uint64_t recomp_saved_bytes; /* compressed bytes recompression saved, in total */
	uint64_t recomp_tried; /* pages recompressed, in total (kept or not) */
	struct uz_codec recomp; /* UZ_ALGO_LZ4: off */
	uint64_t recompress_after_s;
	/* Trained dictionaries (uz_store_train_dict()): the memory they hold
	 * (part of mem_used_total), the COMP pages compressed against one
	 * now (in memory or written back; counted in algo_pages too, as the
	 * algorithm they use), the pages recompression put on one in total,
	 * and each dictionary slot: id 0 when free. */
	uint64_t dict_bytes;
	uint64_t dict_pages;
	uint64_t recomp_dict_pages;
	/* writes that compressed with LZ4 against the current dictionary
	 * (dictionary_lz4), in total; and those that found it retired
	 * meanwhile and compressed plainly */
	uint64_t dict_lz4_writes;
	uint64_t dict_lz4_missed;
	/* pages compressed both ways to see whether LZ4 against the
	 * dictionary pays (one in 32 writes while there is one), in total;
	 * and whether it does now (writes use it only then) */
	uint64_t dict_lz4_probes;
	bool dict_lz4_paying;
	struct uz_store_dict_stats {
		uint64_t id; /* 1, 2, ... in the order they were trained */
		uint64_t size; /* its content, bytes */
		uint64_t mem; /* the memory it holds, tables included */
		uint64_t pages; /* pages that use it */
		bool current; /* what recompression uses now (else retired: freed once no page uses it) */
	} dicts[UZ_STORE_DICTS];
	uint64_t table_bytes;
	/* The reserve (reserve true): arena bytes ready now, its target,
	 * writes that found it empty, writes that waited for it and the
	 * longest wait. */
	bool reserve;
	uint64_t reserve_bytes, reserve_target, reserve_misses, reserve_waits, reserve_wait_max_ns;
	uint64_t compactions; /* runs, automatic or asked for */
	uint64_t engines; /* afmalloc engines made (one per UZ_ENGINE_SPAN written to) */
	/* The system's free huge pages (2 MiB each) when this store uses
	 * hugetlb arenas (its kind is hugetlb, or it holds some); else -1. */
	int64_t hugetlb_pool_free;
	uint32_t compact_ppm;
	struct afm_stats afm;
};

/* Creates a store for a device of disksize bytes (a non-zero multiple of
 * 4096).  Returns NULL with errno set: EINVAL for a bad size or config,
 * ENOMEM, or pthread_create()'s error for the housekeeping or reserve
 * thread; cfg's backing store then stays the caller's. */
struct uz_store *uz_store_create(uint64_t disksize, const struct uz_store_config *cfg);

/* Frees everything.  NULL is accepted. */
void uz_store_destroy(struct uz_store *st);

/* Reads len bytes at off into buf.  Returns 0, -EINVAL when the range is
 * not inside the device (counted as invalid_io), or -EIO when stored data
 * does not decompress or cannot be read back from the backing store,
 * whatever the backing store's own error (counted as failed_reads). */
int uz_store_read(struct uz_store *st, void *buf, size_t len, uint64_t off);

/* Writes len bytes at off.  Returns 0, -EINVAL (outside the device),
 * -ENOSPC (memory limit reached, or an engine's page space full), -ENOMEM
 * (no memory for an arena or a table leaf), -EIO (a partial page whose
 * stored data cannot be read, as uz_store_read()); on error the pages not
 * yet written keep their old data.
 * A page that holds data (or was zeroed by uz_store_zero()) is rewritten
 * within the whole memory limit; new pages stop short of it by the
 * limit's reserve (afm_alloc_over()), so that rewrites of stored data,
 * such as a file system's journal and metadata, go on when new data no
 * longer fits. */
int uz_store_write(struct uz_store *st, const void *buf, size_t len, uint64_t off);

/* Makes [off, off+len) read as zeros and frees the whole pages in it
 * (punch hole, zero range).  Returns 0 or -EINVAL; -ENOSPC/-ENOMEM/-EIO
 * only when a partial page at an edge must be rewritten and cannot be
 * (as uz_store_write()). */
int uz_store_discard(struct uz_store *st, uint64_t off, uint64_t len);

/* A zero range (fallocate FALLOC_FL_ZERO_RANGE, the block layer's write
 * zeroes without unmap): as uz_store_discard() (also -ENOMEM when no
 * table leaf can be made for a page to keep), except that whole pages
 * stay allocated, as a file system expects: they read as zeros and hold
 * no memory but their slot, and writing them later counts as rewriting
 * stored data (see uz_store_write(): the memory limit's reserve).  mkfs
 * zeroes ext4's journal so.  Ranges beyond UZ_ZERO_KEEP_MAX (wiping a
 * whole device) are discarded, so as not to build the slot table for
 * them. */
#define UZ_ZERO_KEEP_MAX (1ull << 30)
int uz_store_zero(struct uz_store *st, uint64_t off, uint64_t len);

/* Fills *s with the current counters.  Takes every engine's class and
 * pool locks (and, with hugetlb arenas, reads /proc/meminfo): not for a
 * hot path. */
void uz_store_stats(struct uz_store *st, struct uz_store_stats *s);

/* The bytes of data the store holds in memory: uz_store_stats()'s
 * orig_data_size (pages stored, same-filled ones included, 4096 bytes
 * each; pages written back not counted).  Sums per-thread counters only:
 * takes no lock and makes no system call, cheap enough for every stat of
 * the device file.  Exact when the store is idle; while writes run, as
 * every sum of counters, it may lag them by the pages in flight. */
uint64_t uz_store_stored(struct uz_store *st);

/* Changes the memory limit (0: none). */
void uz_store_set_mem_limit(struct uz_store *st, uint64_t mem_limit);

/* Changes the reserve's target (bytes, more than 0).  Returns 0, or
 * -ENODEV when the store was made without a reserve. */
int uz_store_set_reserve(struct uz_store *st, uint64_t bytes);

/* Makes the calling thread ready to serve without waiting for memory:
 * its stack (256 KiB deep), buffers and codec contexts made and touched
 * now.  Call once in each thread that serves requests or calls into the
 * store otherwise (it takes locks that I/O waits on), before it does.
 * The store's own threads call it. */
void uz_store_thread_warm(void);

/* Compacts now: moves objects out of sparse pages and arenas (each under
 * its slot's lock, so that readers and writers never see half a move),
 * then gives the emptied memory back to the OS.  Waits for a compaction
 * in progress.  Returns 0 and fills *res. */
int uz_store_compact(struct uz_store *st, struct uz_compact_result *res);

/* Marks stored pages idle, as zram's idle file: every one (age_s 0), or
 * those neither read nor written for age_s seconds (at most
 * UZ_IDLE_MAX_AGE_S; the resolution is UZ_IDLE_TICK_S).  Same-filled
 * pages are never marked.  Any read or write of a page clears its mark.
 * Returns the pages newly marked, or -EINVAL for an age beyond the most. */
int64_t uz_store_mark_idle(struct uz_store *st, uint64_t age_s);

/* Writes back the pages of a type (zram's writeback file), at most limit
 * compressed bytes of them (0: no limit), packed densely; their memory is
 * freed and compacted.  A page changed while it was being written stays
 * in memory.  Returns 0, -ENODEV without a backing store, -EINVAL for a
 * bad type, -ENOMEM (no memory for the run's records), or the backing
 * store's negative errno (-EIO, -ENOSPC when nothing fitted; the pages it
 * could not take stay in memory); res->error is the same.  *res says what
 * was done. */
int uz_store_writeback(struct uz_store *st, enum uz_writeback_type type, uint64_t limit,
		       struct uz_writeback_result *res);

/* Recompresses the pages of a type (zram's recompress file) whose object
 * is at least threshold bytes (raw pages count 4096), are LZ4 now, in
 * memory, and were not found incompressible before, with the secondary
 * algorithm (zstd against the current trained dictionary, if there is one
 * and the config's dictionary is set); a page keeps its new form only if
 * that takes less memory after afmalloc's rounding, else it is marked not
 * to be tried again until rewritten.  Pages of that type on a retired
 * dictionary are recompressed too and move whatever their new size (that
 * dictionary is freed once none is left).  Idle marks and access times stay as they are.  Then
 * compacts.  Returns 0, -ENODEV when recompression is off, -EINVAL for a
 * bad type, or -ENOMEM/-ENOSPC when memory for a new object ran out (the
 * pages not done keep their form).  *res says what was done. */
int uz_store_recompress(struct uz_store *st, enum uz_writeback_type type, uint32_t threshold,
			struct uz_recompress_result *res);

/* Changes the secondary algorithm (UZ_ALGO_LZ4: off) and the policy's
 * age (0: off).  Pages already recompressed keep their algorithm. */
void uz_store_set_recompress(struct uz_store *st, const struct uz_codec *c, uint64_t after_s);

/* Turns LZ4 against the current dictionary for new writes on or off
 * (uz_store_config's dictionary_lz4).  Pages already written keep their
 * form.  Takes the dictionaries' lock; any thread. */
void uz_store_set_dictionary_lz4(struct uz_store *st, bool on);

/* Trains a dictionary of at most dict_size bytes (UZ_DICT_MIN_SIZE ..
 * UZ_DICT_MAX_SIZE, compress/dict.h) on up to sample_pages (at least
 * UZ_DICT_MIN_SAMPLES) of the pages stored in memory (compressed or raw;
 * not same-filled or written back), picked evenly across the device, for
 * zstd at the recompression level (zstd's default if recompression is
 * not zstd), and makes it the current dictionary: recompression with
 * zstd (when the store's config has dictionary set), and writes with
 * dictionary_lz4, compress against it from then on.  The dictionary current before retires: its pages
 * stay readable and are recompressed onto the new one (whatever their
 * size: it is freed when no page uses it).  Each page is copied under its
 * slot's lock, one at a time, like a read (no access time changes);
 * training itself holds no slot lock; waits for a recompression in
 * progress, and holds off others until done.  Returns 0, or with the
 * reason in err: -EINVAL (a size or count out of range, fewer pages to
 * sample than UZ_DICT_MIN_SAMPLES, or training failed: the pages hold
 * too little in common), -EBUSY (both dictionary slots in use: the
 * retired dictionary still has pages; nothing was sampled), -ENOMEM. */
int uz_store_train_dict(struct uz_store *st, uint64_t sample_pages, size_t dict_size, char *err, size_t errlen);

/* As uz_store_train_dict, but keeps the dictionary only if it pays for
 * itself: one page in 8 of the sample (at most 256) is held out of the
 * training and compressed with zstd with and without it; the dictionary
 * must save at least 1 % of zstd's size there, and that saving, spread
 * over the pages stored in memory, must pass the memory the dictionary
 * holds (uz_dict_mem).  Otherwise it is freed and -EINVAL returned with
 * the figures in err; nothing changes.  What dictionary = auto trains
 * with: on data a dictionary does not help, none is kept. */
int uz_store_train_dict_paying(struct uz_store *st, uint64_t sample_pages, size_t dict_size, char *err,
			       size_t errlen);

/* Whether recompression with zstd compresses against the current
 * dictionary (the config's dictionary, changed at a reload); pages
 * already on a dictionary keep it.  Waits for a recompression in
 * progress. */
void uz_store_set_dictionary(struct uz_store *st, bool on);

/* How well the dictionaries do on the data stored now: up to pages of the
 * pages in memory (picked as uz_store_train_dict picks them), each
 * compressed with zstd at the recompression level (zstd's default if
 * recompression is not zstd) without a dictionary and against each
 * dictionary held.  A page that does not fit counts 4096 bytes.  Costs
 * about two zstd compressions a page per dictionary; waits for a
 * recompression in progress and holds off others until done.  Returns 0
 * (e->pages 0 when nothing is stored), or -ENOMEM. */
struct uz_store_dict_estimate {
	uint64_t pages; /* sampled */
	uint64_t plain_bytes; /* their compressed size without a dictionary */
	uint64_t ids[UZ_STORE_DICTS]; /* each slot's dictionary; 0: empty */
	uint64_t dict_bytes[UZ_STORE_DICTS]; /* their compressed size against it */
};
int uz_store_dict_estimate(struct uz_store *st, uint64_t pages, struct uz_store_dict_estimate *e);

/* What a snapshot holds or took (persist: store/snapshot.c). */
struct uz_snapshot_info {
	uint64_t pages; /* pages with data (same-filled ones included) */
	uint64_t object_bytes; /* compressed bytes of their objects */
	uint64_t file_bytes; /* the snapshot file's size */
	uint64_t written_back; /* pages that were in the backing store */
	int64_t created; /* when it was written (seconds since the epoch) */
	double seconds; /* how long writing (or restoring) it took */
	double snapshot_seconds; /* how long writing it took (restored: as its trailer says) */
};

/* Writes every page the store holds, as it is held (compressed objects
 * as they are, pages in the backing store read back), to path: to
 * path.tmp first, synced, then renamed over path and the directory
 * synced, so that a crash leaves the previous snapshot intact.  1 MiB
 * blocks through io_uring, each with its XXH3 checksum.  The store must
 * not be written meanwhile (the daemon snapshots after its last request).
 * The trained dictionaries go with the pages (the file is then format
 * version 2, else version 1).  Returns 0, or a negative errno with the
 * reason in err: -EAGAIN when a dictionary was trained meanwhile (nothing
 * is written, the previous snapshot stays). */
int uz_store_snapshot(struct uz_store *st, const char *path, struct uz_snapshot_info *info, char *err,
		      size_t errlen);

/* Loads the snapshot at path into the store, which must be empty.
 * Returns 0; -EBUSY when the store is not empty (nothing is loaded);
 * -ENOENT when there is none; -EINVAL when it is of another
 * device size or an unknown format version, or its dictionaries are
 * corrupt, truncated, refused, or missing for a page that names one (the
 * store is left empty: found before anything is loaded, or what was
 * loaded is taken out again); -EBUSY also when the store has a trained
 * dictionary and the snapshot carries one; -EBADMSG when it is corrupt or
 * truncated (a checksum, a record or the trailer wrong); -ENOSPC or
 * -ENOMEM when it does not fit; another negative errno for I/O.  err says
 * what, naming the file.  After an error other than -ENOENT and -EINVAL
 * the store holds part of the snapshot: destroy it, serve nothing.
 * Pages that were in the backing store are written back to the store's
 * backing store if it has one, else kept in memory. */
int uz_store_restore(struct uz_store *st, const char *path, struct uz_snapshot_info *info, char *err,
		     size_t errlen);

/* Tests: moves the store's clock forward by seconds. */
void uz_store_clock_advance(struct uz_store *st, uint64_t seconds);

/* Changes the automatic compaction threshold (ppm; 0: off). */
void uz_store_set_compaction(struct uz_store *st, uint32_t compact_ppm);

/* Checks the engines' invariants and that the slots agree with the
 * counters.  Returns 0 or -EUCLEAN with a description in err.  The store
 * must be idle.  Waits for a compaction in progress (compact_lock). */
int uz_store_check(struct uz_store *st, char *err, size_t errlen);

#endif
