/* store/backing.c - see backing.h. */
#include "backing.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lock.h"

/* The kernel fills read buffers through io_uring, which valgrind cannot
 * see: tell it (make valgrind runs the unit suites). */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#define ALIGN16(x) (((x) + 15u) & ~15u)

struct uz_backing {
	int fd;
	bool is_file; /* else a block device: no hole punching */
	uint64_t capacity;
	uint64_t nblocks;
	/* Under lock: live bytes per block (objects rounded to 16 bytes), the
	 * next block to look at, and the run being filled (skipped by
	 * frees' hole punching and by the next search). */
	struct uz_mutex lock;
	uint16_t *live;
	uint64_t cursor;
	uint64_t run_start, run_len; /* bytes; run_len 0: none */
	/* The one writer's: its run buffer and ring. */
	struct uz_mutex writer;
	uint8_t *runbuf;
	struct io_uring ring;
	pthread_key_t reader; /* each reading thread's ring and buffer */
	_Atomic uint64_t live_bytes, objects, blocks_used;
	_Atomic uint64_t bytes_written, blocks_written, blocks_read, write_errors, read_errors;
};

/* A reading thread's own ring and O_DIRECT buffer (two blocks: an object
 * of up to 4 KiB spans at most two). */
struct reader {
	struct io_uring ring;
	uint8_t *buf;
	uint8_t *span; /* UZ_BACKING_SPAN bytes, on the first span read */
};

static void reader_free(void *p)
{
	struct reader *r = p;

	io_uring_queue_exit(&r->ring);
	free(r->buf);
	free(r->span);
	free(r);
}

struct uz_backing *uz_backing_open(const char *path, uint64_t capacity, uint64_t file_default, char *err,
				   size_t errlen)
{
	struct uz_backing *b = calloc(1, sizeof(*b));
	struct stat sb;
	int e;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	b->fd = -1;
	b->fd = open(path, O_RDWR | O_DIRECT | O_CLOEXEC | O_CREAT, 0600);
	if (b->fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(e),
			 e == EINVAL ? " (its file system does not take O_DIRECT)" : "");
		goto fail;
	}
	if (fstat(b->fd, &sb)) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		goto fail;
	}
	if (S_ISBLK(sb.st_mode)) {
		uint64_t dev = 0;

		if (ioctl(b->fd, BLKGETSIZE64, &dev)) {
			e = errno;
			snprintf(err, errlen, "%s: cannot read its size: %s", path, strerror(e));
			goto fail;
		}
		if (!capacity || capacity > dev)
			capacity = dev;
	} else if (S_ISREG(sb.st_mode)) {
		b->is_file = true;
		if (!capacity)
			capacity = file_default;
	} else {
		e = EINVAL;
		snprintf(err, errlen, "%s: neither a regular file nor a block device", path);
		goto fail;
	}
	b->capacity = capacity & ~(uint64_t)(UZ_BACKING_BLOCK - 1);
	b->nblocks = b->capacity / UZ_BACKING_BLOCK;
	if (!b->nblocks) {
		e = EINVAL;
		snprintf(err, errlen, "%s: smaller than one 4 KiB block", path);
		goto fail;
	}
	/* Reserved whole, touched as blocks are used: 2 bytes per 4 KiB. */
	b->live = mmap(NULL, b->nblocks * sizeof(*b->live), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->live == MAP_FAILED) {
		b->live = NULL;
		e = ENOMEM;
		snprintf(err, errlen, "%s: no memory for the block map", path);
		goto fail;
	}
	if (posix_memalign((void **)&b->runbuf, UZ_BACKING_BLOCK, UZ_BACKING_RUN)) {
		b->runbuf = NULL;
		e = ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	e = -io_uring_queue_init(8, &b->ring, 0);
	if (e) {
		snprintf(err, errlen, "io_uring: %s", strerror(e));
		goto fail;
	}
	pthread_key_create(&b->reader, reader_free);
	uz_mutex_init(&b->lock, UZ_LOCK_BACKING);
	uz_mutex_init(&b->writer, UZ_LOCK_BACKING_WRITER);
	return b;
fail:
	if (b->fd >= 0)
		close(b->fd);
	if (b->live)
		munmap(b->live, b->nblocks * sizeof(*b->live));
	free(b->runbuf);
	free(b);
	errno = e;
	return NULL;
}

void uz_backing_close(struct uz_backing *b)
{
	struct reader *r;

	if (!b)
		return;
	r = pthread_getspecific(b->reader);
	if (r) {
		pthread_setspecific(b->reader, NULL);
		reader_free(r);
	}
	pthread_key_delete(b->reader);
	io_uring_queue_exit(&b->ring);
	munmap(b->live, b->nblocks * sizeof(*b->live));
	free(b->runbuf);
	close(b->fd);
	uz_mutex_destroy(&b->lock);
	uz_mutex_destroy(&b->writer);
	free(b);
}

int uz_backing_reserve(struct uz_backing *b, struct uz_backing_run *r)
{
	uint64_t max = UZ_BACKING_RUN / UZ_BACKING_BLOCK, i, n = 0;

	uz_mutex_lock(&b->writer);
	uz_mutex_lock(&b->lock);
	/* The first free block from the cursor on (once around), then as
	 * many free blocks after it as a run holds. */
	for (i = 0; i < b->nblocks; i++) {
		uint64_t blk = (b->cursor + i) % b->nblocks;

		if (!b->live[blk]) {
			i = blk;
			break;
		}
	}
	if (i < b->nblocks && !b->live[i]) {
		while (n < max && i + n < b->nblocks && !b->live[i + n])
			n++;
	}
	if (!n) {
		uz_mutex_unlock(&b->lock);
		uz_mutex_unlock(&b->writer);
		return -ENOSPC;
	}
	b->run_start = i * UZ_BACKING_BLOCK;
	b->run_len = n * UZ_BACKING_BLOCK;
	b->cursor = (i + n) % b->nblocks;
	uz_mutex_unlock(&b->lock);
	r->start = b->run_start;
	r->len = (uint32_t)b->run_len;
	r->used = 0;
	r->objects = 0;
	r->buf = b->runbuf;
	return 0; /* the writer lock is held until commit or abandon */
}

uint64_t uz_backing_pack(struct uz_backing *b, struct uz_backing_run *r, const void *obj, uint32_t size)
{
	uint64_t off;

	uz_assert_held(&b->writer);
	if (!size || (uint64_t)r->used + ALIGN16(size) > r->len)
		return UINT64_MAX;
	memcpy(r->buf + r->used, obj, size);
	memset(r->buf + r->used + size, 0, ALIGN16(size) - size);
	off = r->start + r->used;
	r->used += ALIGN16(size);
	r->objects++;
	return off;
}

/* Adds (sign 1) or takes (sign -1) the bytes [off, off + len) to or from
 * the blocks' live counts; punches out of the file the blocks that empty.
 * Caller holds lock. */
static void count_range(struct uz_backing *b, uint64_t off, uint64_t len, int sign)
{
	uz_assert_held(&b->lock);
	while (len) {
		uint64_t blk = off / UZ_BACKING_BLOCK;
		uint64_t in = UZ_BACKING_BLOCK - off % UZ_BACKING_BLOCK;
		uint32_t n = (uint32_t)(in < len ? in : len);

		if (sign > 0) {
			if (!b->live[blk])
				atomic_fetch_add(&b->blocks_used, 1);
			b->live[blk] = (uint16_t)(b->live[blk] + n);
		} else {
			b->live[blk] = (uint16_t)(b->live[blk] - n);
			if (!b->live[blk]) {
				atomic_fetch_sub(&b->blocks_used, 1);
				/* Under the lock: no run can take the block
				 * and be written before the hole is punched. */
				if (b->is_file)
					fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						  (off_t)(blk * UZ_BACKING_BLOCK), UZ_BACKING_BLOCK);
			}
		}
		off += n;
		len -= n;
	}
}

static void run_end(struct uz_backing *b)
{
	uz_mutex_lock(&b->lock);
	b->run_len = 0;
	uz_mutex_unlock(&b->lock);
	uz_mutex_unlock(&b->writer);
}

void uz_backing_abandon(struct uz_backing *b, struct uz_backing_run *r)
{
	(void)r;
	uz_assert_held(&b->writer);
	run_end(b);
}

/* Submits the one request prepared in ring and waits for it.  Returns 0,
 * its negative errno, or -EIO when it moved fewer than len bytes (a full
 * or failing device or file system). */
static int run_one(struct io_uring *ring, uint32_t len)
{
	struct io_uring_cqe *cqe;
	int res = io_uring_submit_and_wait(ring, 1);

	if (res >= 0) {
		res = io_uring_wait_cqe(ring, &cqe);
		if (!res) {
			res = cqe->res;
			io_uring_cqe_seen(ring, cqe);
		}
	}
	if (res >= 0)
		res = (uint32_t)res == len ? 0 : -EIO;
	return res;
}

int uz_backing_commit(struct uz_backing *b, struct uz_backing_run *r)
{
	uint32_t len = (r->used + UZ_BACKING_BLOCK - 1) & ~(UZ_BACKING_BLOCK - 1);
	int res;

	uz_assert_held(&b->writer);
	if (!r->used) {
		run_end(b);
		return 0;
	}
	memset(r->buf + r->used, 0, len - r->used);
	io_uring_prep_write(io_uring_get_sqe(&b->ring), b->fd, r->buf, len, r->start);
	res = run_one(&b->ring, len);
	if (res < 0) {
		atomic_fetch_add(&b->write_errors, 1);
		run_end(b);
		return res;
	}
	uz_mutex_lock(&b->lock);
	count_range(b, r->start, r->used, 1);
	b->run_len = 0;
	uz_mutex_unlock(&b->lock);
	uz_mutex_unlock(&b->writer);
	atomic_fetch_add(&b->bytes_written, r->used);
	atomic_fetch_add(&b->blocks_written, len / UZ_BACKING_BLOCK);
	atomic_fetch_add(&b->live_bytes, r->used);
	atomic_fetch_add(&b->objects, r->objects);
	return 0;
}

static struct reader *reader_of(struct uz_backing *b)
{
	struct reader *r = pthread_getspecific(b->reader);

	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (posix_memalign((void **)&r->buf, UZ_BACKING_BLOCK, 2 * UZ_BACKING_BLOCK)) {
		free(r);
		return NULL;
	}
	if (io_uring_queue_init(2, &r->ring, 0)) {
		free(r->buf);
		free(r);
		return NULL;
	}
	pthread_setspecific(b->reader, r);
	return r;
}

/* One read of len bytes at start into buf through r's ring.  Returns 0 or
 * a negative errno (-EIO for a short read). */
static int read_blocks(struct uz_backing *b, struct reader *r, uint8_t *buf, uint64_t start, uint32_t len)
{
	int res;

	io_uring_prep_read(io_uring_get_sqe(&r->ring), b->fd, buf, len, start);
	res = run_one(&r->ring, len);
	if (res < 0) {
		atomic_fetch_add(&b->read_errors, 1);
		return res;
	}
	atomic_fetch_add(&b->blocks_read, len / UZ_BACKING_BLOCK);
	VALGRIND_MAKE_MEM_DEFINED(buf, len);
	return 0;
}

int uz_backing_read(struct uz_backing *b, uint64_t off, uint32_t size, void *dst)
{
	struct reader *r = reader_of(b);
	uint64_t start = off & ~(uint64_t)(UZ_BACKING_BLOCK - 1);
	uint32_t len = (uint32_t)(((off + size + UZ_BACKING_BLOCK - 1) & ~(uint64_t)(UZ_BACKING_BLOCK - 1)) - start);
	int res;

	if (!r)
		return -ENOMEM;
	if (len > 2 * UZ_BACKING_BLOCK || off + size > b->capacity)
		return -EINVAL;
	res = read_blocks(b, r, r->buf, start, len);
	if (!res)
		memcpy(dst, r->buf + (off - start), size);
	return res;
}

int uz_backing_read_span(struct uz_backing *b, uint64_t start, uint32_t len, const uint8_t **data)
{
	struct reader *r = reader_of(b);
	int res;

	if (!r)
		return -ENOMEM;
	if (start % UZ_BACKING_BLOCK || len % UZ_BACKING_BLOCK || !len || len > UZ_BACKING_SPAN ||
	    start + len > b->capacity)
		return -EINVAL;
	if (!r->span && posix_memalign((void **)&r->span, UZ_BACKING_BLOCK, UZ_BACKING_SPAN)) {
		r->span = NULL;
		return -ENOMEM;
	}
	res = read_blocks(b, r, r->span, start, len);
	*data = r->span;
	return res;
}

void uz_backing_free(struct uz_backing *b, uint64_t off, uint32_t size)
{
	uz_mutex_lock(&b->lock);
	count_range(b, off, ALIGN16(size), -1);
	uz_mutex_unlock(&b->lock);
	atomic_fetch_sub(&b->live_bytes, ALIGN16(size));
	atomic_fetch_sub(&b->objects, 1);
}

void uz_backing_stats(struct uz_backing *b, struct uz_backing_stats *st)
{
	st->capacity = b->capacity;
	st->live_bytes = atomic_load(&b->live_bytes);
	st->objects = atomic_load(&b->objects);
	st->blocks_used = atomic_load(&b->blocks_used);
	st->bytes_written = atomic_load(&b->bytes_written);
	st->blocks_written = atomic_load(&b->blocks_written);
	st->blocks_read = atomic_load(&b->blocks_read);
	st->write_errors = atomic_load(&b->write_errors);
	st->read_errors = atomic_load(&b->read_errors);
}
