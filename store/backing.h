/* store/backing.h - the backing store: compressed objects written back
 * out of memory, packed densely into a file or a block device.
 *
 * Objects are packed back to back (16-byte aligned, across 4 KiB block
 * boundaries) into runs of free blocks, each run written with one O_DIRECT
 * write through io_uring; an object is found again by its byte offset.
 * Each 4 KiB block counts the live bytes in it: when that falls to zero
 * (the pages it held were overwritten or discarded), the block is free for
 * the next run and, in a regular file, punched out (FALLOC_FL_PUNCH_HOLE),
 * so the file's allocated size follows what it holds.  An object touches at
 * most two blocks: the space used is at most the live bytes plus one block
 * per live object, and usually little more than the live bytes.
 *
 * Library code: it reports what it did and never logs.  Thread safety:
 * every function may be called concurrently; uz_backing_reserve() and
 * uz_backing_commit() are meant for one writer at a time.
 */
#ifndef UZ_STORE_BACKING_H
#define UZ_STORE_BACKING_H

#include <stddef.h>
#include <stdint.h>

#define UZ_BACKING_BLOCK 4096u
/* The most a run holds: one write of up to this many bytes. */
#define UZ_BACKING_RUN (256u << 10)

struct uz_backing;

struct uz_backing_stats {
	uint64_t capacity; /* bytes the store may use */
	uint64_t live_bytes; /* bytes of objects held now */
	uint64_t objects; /* objects held now */
	uint64_t blocks_used; /* 4 KiB blocks holding a live byte */
	uint64_t bytes_written; /* object bytes written, in total */
	uint64_t blocks_written; /* 4 KiB blocks written, in total */
	uint64_t blocks_read; /* 4 KiB blocks read, in total */
	uint64_t write_errors;
	uint64_t read_errors;
};

/* Opens (creating a missing regular file, mode 0600) the backing store at
 * path with O_DIRECT.  capacity: the bytes it may use; 0: a block
 * device's size, or file_default for a file.  Returns NULL with errno set
 * (open(2)'s or fstat(2)'s error, EINVAL for neither a file nor a block
 * device or less than one block, ENOMEM, io_uring's error) and a message
 * in err naming the path and what is wrong. */
struct uz_backing *uz_backing_open(const char *path, uint64_t capacity, uint64_t file_default, char *err,
				   size_t errlen);

void uz_backing_close(struct uz_backing *b);

/* A run being filled: the writer packs objects into buf (aligned for
 * O_DIRECT), then commits it. */
struct uz_backing_run {
	uint64_t start; /* byte offset of buf[0] in the store */
	uint32_t len; /* bytes of the run (whole blocks) */
	uint32_t used; /* bytes packed so far */
	uint32_t objects; /* objects packed so far */
	uint8_t *buf;
};

/* Finds the next run of free blocks (up to UZ_BACKING_RUN bytes) and sets
 * up r for it (r->buf is owned by the backing store).  Returns 0, or
 * -ENOSPC when no block is free. */
int uz_backing_reserve(struct uz_backing *b, struct uz_backing_run *r);

/* Packs an object of size bytes into the run; returns its byte offset in
 * the store, or UINT64_MAX when it does not fit in what is left. */
uint64_t uz_backing_pack(struct uz_backing *b, struct uz_backing_run *r, const void *obj, uint32_t size);

/* Writes the run's blocks (through io_uring, one write).  Returns 0 (its
 * objects are now live) or a negative errno (they are not, and the run's
 * blocks are free again). */
int uz_backing_commit(struct uz_backing *b, struct uz_backing_run *r);

/* Releases the reservation of blocks of a run not committed. */
void uz_backing_abandon(struct uz_backing *b, struct uz_backing_run *r);

/* Reads an object (through this thread's io_uring).  Returns 0, or a
 * negative errno (-EIO for a short read, -ENOMEM when this thread's ring
 * cannot be made, -EINVAL for a range outside the store). */
int uz_backing_read(struct uz_backing *b, uint64_t off, uint32_t size, void *dst);

/* The most uz_backing_read_span() reads at once. */
#define UZ_BACKING_SPAN (256u << 10)

/* Reads the whole blocks [start, start + len) (start block-aligned, len a
 * multiple of 4 KiB up to UZ_BACKING_SPAN) with one read through this
 * thread's io_uring, into this thread's span buffer; *data points to it
 * until the thread's next read.  For the objects of several pages written
 * back side by side.  Returns 0 or a negative errno. */
int uz_backing_read_span(struct uz_backing *b, uint64_t start, uint32_t len, const uint8_t **data);

/* Forgets an object (its page was overwritten or discarded). */
void uz_backing_free(struct uz_backing *b, uint64_t off, uint32_t size);

void uz_backing_stats(struct uz_backing *b, struct uz_backing_stats *st);

#endif
