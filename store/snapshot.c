/* store/snapshot.c - the store's contents to a file and back (persist).
 *
 * The file is a sequence of 1 MiB blocks, each starting with a 32-byte
 * header (magic, sequence number, kind, bytes used, XXH3-64 of the whole
 * block): block 0 holds the format version and the device
 * size, the data blocks hold one record per page with data (its slot
 * index, its meta word as the slot has it, and its object's bytes as they
 * are: nothing is recompressed), and the last block, the trailer, counts
 * the blocks and records.  A flipped byte fails its block's checksum; a
 * truncated file has no trailer, or the wrong count.
 *
 * Blocks are written and read through io_uring, SNAP_DEPTH of them in
 * flight, with O_DIRECT where the file system allows it: the snapshot
 * streams at the disk's speed and leaves no page cache behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "backing.h"
#include "internal.h"

/* The kernel fills read buffers through io_uring, which valgrind cannot
 * see: tell it (make valgrind runs the unit suites). */
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#define SNAP_BLOCK (1u << 20)
#define SNAP_DEPTH 4
#define SNAP_VERSION 1
static const char snap_magic[8] = { 'U', 'Z', 'R', 'A', 'M', 'S', 'N', 'P' };

enum { BLK_HEADER = 1, BLK_DATA = 2, BLK_TRAILER = 3 };

struct blk_hdr {
	char magic[8];
	uint64_t seq; /* the block's number in the file */
	uint32_t kind;
	uint32_t used; /* payload bytes after this header */
	uint64_t sum; /* XXH3-64 of the whole block, this field 0 */
};

struct snap_header {
	uint32_t version;
	uint32_t page_size;
	uint64_t disksize;
	int64_t created;
};

struct snap_trailer {
	uint64_t blocks; /* in the file, this one included */
	uint64_t records;
	uint64_t object_bytes;
	uint64_t written_back;
	uint64_t write_ns; /* how long writing the blocks before this one took */
};

/* One page: then len bytes, padded to 8. */
struct snap_rec {
	uint64_t idx;
	uint32_t meta; /* type, codec (or zeroed), size, written back */
	uint32_t len;
};

#define PAYLOAD (SNAP_BLOCK - sizeof(struct blk_hdr))
#define REC_META_MASK (SLOT_TYPE_MASK | SLOT_CODEC_MASK | SLOT_SIZE_MASK | SLOT_WB)
#define PAD8(n) (((n) + 7u) & ~7u)

_Static_assert(sizeof(struct blk_hdr) == 32, "block header layout");
_Static_assert(sizeof(struct snap_rec) == 16, "record layout");

/* The checksum of a block: XXH3-64 of the whole block, its sum field
 * taken as zero (the padding after the payload is zeros and checked
 * too: any flipped byte is found). */
static uint64_t block_sum(uint8_t *blk)
{
	uint64_t sum, saved, zero = 0;

	memcpy(&saved, blk + offsetof(struct blk_hdr, sum), sizeof(saved));
	memcpy(blk + offsetof(struct blk_hdr, sum), &zero, sizeof(zero));
	sum = XXH3_64bits(blk, SNAP_BLOCK);
	memcpy(blk + offsetof(struct blk_hdr, sum), &saved, sizeof(saved));
	return sum;
}

/* The file and its io_uring: SNAP_DEPTH block buffers, used in turn. */
struct snap_io {
	struct io_uring ring;
	bool ring_ok;
	int fd;
	uint8_t *buf[SNAP_DEPTH];
	bool busy[SNAP_DEPTH];
	uint64_t seq; /* next block */
	int err;
};

static void io_close(struct snap_io *io)
{
	if (io->ring_ok)
		io_uring_queue_exit(&io->ring);
	if (io->fd >= 0)
		close(io->fd);
	for (int i = 0; i < SNAP_DEPTH; i++)
		free(io->buf[i]);
}

/* Opens path with flags, O_DIRECT if the file system takes it.  Returns
 * 0 or a negative errno. */
static int io_open(struct snap_io *io, const char *path, int flags)
{
	int e;

	memset(io, 0, sizeof(*io));
	io->fd = open(path, flags | O_DIRECT | O_CLOEXEC, 0600);
	if (io->fd < 0 && errno == EINVAL) /* tmpfs and others: no O_DIRECT */
		io->fd = open(path, flags | O_CLOEXEC, 0600);
	if (io->fd < 0)
		return -errno;
	for (int i = 0; i < SNAP_DEPTH; i++)
		if (posix_memalign((void **)&io->buf[i], 4096, SNAP_BLOCK))
			return -ENOMEM;
	e = io_uring_queue_init(SNAP_DEPTH, &io->ring, 0);
	if (e)
		return e;
	io->ring_ok = true;
	return 0;
}

/* Waits for one completion; a block's I/O must be whole. */
static int io_reap(struct snap_io *io)
{
	struct io_uring_cqe *cqe;
	int e = io_uring_wait_cqe(&io->ring, &cqe);

	if (e)
		return e;
	io->busy[cqe->user_data] = false;
	if (cqe->res > 0)
		VALGRIND_MAKE_MEM_DEFINED(io->buf[cqe->user_data], (size_t)cqe->res);
	if (cqe->res < 0 && !io->err)
		io->err = cqe->res;
	else if (cqe->res != (int)SNAP_BLOCK && !io->err)
		io->err = -EIO; /* short: a full disk, or a file cut short */
	io_uring_cqe_seen(&io->ring, cqe);
	return 0;
}

/* Queues a read or write of block seq in buffer b. */
static int io_submit_block(struct snap_io *io, int b, uint64_t seq, bool write)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	int e;

	if (!sqe)
		return -EBUSY;
	if (write)
		io_uring_prep_write(sqe, io->fd, io->buf[b], SNAP_BLOCK, seq * SNAP_BLOCK);
	else
		io_uring_prep_read(sqe, io->fd, io->buf[b], SNAP_BLOCK, seq * SNAP_BLOCK);
	sqe->user_data = (uint64_t)b;
	io->busy[b] = true;
	e = io_uring_submit(&io->ring);
	if (e < 0) {
		io->busy[b] = false;
		return e;
	}
	return 0;
}

/* --- writing ----------------------------------------------------------- */

struct snap_writer {
	struct snap_io io;
	int cur; /* buffer being filled */
	uint32_t used;
	uint64_t records, object_bytes, written_back;
};

/* Seals the block being filled (kind), writes it, and takes the next
 * buffer (waiting for its last write).  Returns 0 or a negative errno. */
static int w_flush(struct snap_writer *w, uint32_t kind)
{
	struct blk_hdr h = { .seq = w->io.seq, .kind = kind, .used = w->used };
	uint8_t *blk = w->io.buf[w->cur];
	int e;

	memcpy(h.magic, snap_magic, sizeof(h.magic));
	memset(blk + sizeof(h) + w->used, 0, PAYLOAD - w->used);
	memcpy(blk, &h, sizeof(h));
	h.sum = block_sum(blk);
	memcpy(blk, &h, sizeof(h));
	e = io_submit_block(&w->io, w->cur, w->io.seq++, true);
	if (e)
		return e;
	w->cur = (w->cur + 1) % SNAP_DEPTH;
	while (w->io.busy[w->cur] && !(e = io_reap(&w->io)))
		;
	w->used = 0;
	return e ? e : w->io.err;
}

/* Room for n more payload bytes in the block being filled. */
static int w_room(struct snap_writer *w, uint32_t n)
{
	return w->used + n <= PAYLOAD ? 0 : w_flush(w, BLK_DATA);
}

static int w_record(struct snap_writer *w, uint64_t idx, uint32_t meta, const void *data, uint32_t len)
{
	struct snap_rec r = { .idx = idx, .meta = meta, .len = len };
	uint8_t *p;
	int e = w_room(w, (uint32_t)sizeof(r) + PAD8(len));

	if (e)
		return e;
	p = w->io.buf[w->cur] + sizeof(struct blk_hdr) + w->used;
	memcpy(p, &r, sizeof(r));
	memcpy(p + sizeof(r), data, len);
	memset(p + sizeof(r) + len, 0, PAD8(len) - len);
	w->used += (uint32_t)sizeof(r) + PAD8(len);
	w->records++;
	return 0;
}

/* Per-thread scratch for an object on its way out. */
static __thread uint8_t tls_obj[UZ_PAGE_SIZE] __attribute__((aligned(64)));

/* The span of the backing store read last: pages written back side by
 * side are read UZ_BACKING_SPAN at a time, not one by one.  Valid while
 * no writeback runs (the snapshot holds wb_lock). */
struct wb_cache {
	uint64_t lo, hi; /* hi 0: empty */
	uint64_t capacity;
	const uint8_t *data;
};

/* Copies a written-back page's object into dst.  Caller holds the slot's
 * lock.  Returns 0 or -EIO. */
static int wb_object(struct uz_store *st, struct wb_cache *c, const struct slot_val *v, uint32_t size, void *dst)
{
	uint64_t off = (uint64_t)v->w[1] << 32 | v->w[0];

	uz_assert_rank_held(UZ_LOCK_SLOT);
	if (!c->hi || off < c->lo || off + size > c->hi) {
		uint64_t lo = off & ~(uint64_t)(UZ_BACKING_BLOCK - 1), len = UZ_BACKING_SPAN;

		if (lo + len > c->capacity)
			len = c->capacity - lo;
		c->hi = 0;
		/* Past the end of what the file holds yet, a span read comes
		 * back short: read the object alone. */
		if (off + size > lo + len || uz_backing_read_span(st->backing, lo, (uint32_t)len, &c->data))
			return store_load_object(st, NULL, v, size, dst);
		c->lo = lo;
		c->hi = lo + len;
	}
	memcpy(dst, c->data + (off - c->lo), size);
	return 0;
}

/* Writes every slot with data.  Returns 0 or a negative errno. */
static int w_slots(struct uz_store *st, struct snap_writer *w, char *err, size_t errlen)
{
	struct wb_cache cache = { 0 };

	if (st->backing) {
		struct uz_backing_stats bs;

		uz_backing_stats(st->backing, &bs);
		cache.capacity = bs.capacity & ~(uint64_t)(UZ_BACKING_BLOCK - 1);
	}
	uint64_t nslots = uz_slots_count(st->slots), report = 0;

	for (uint64_t i = 0; i < nslots; i++) {
		struct uz_slot *s = uz_slots_get(st->slots, i, false);
		struct slot_val v;
		uint32_t meta, len = 0;
		int e = 0;

		if (i >= report) {
			store_progress(st, UZ_PROGRESS_SNAPSHOT, i * UZ_PAGE_SIZE, nslots * UZ_PAGE_SIZE);
			report = i + PROGRESS_SLOTS;
		}

		if (!s) {
			i |= 4095; /* the whole leaf is absent */
			continue;
		}
		meta = atomic_load_explicit(&s->meta, memory_order_relaxed);
		if (slot_type(meta) == SLOT_EMPTY && !(meta & SLOT_ZEROED))
			continue;
		slot_read(s, uz_slot_lock(s), &v);
		switch (slot_type(v.meta)) {
		case SLOT_EMPTY:
			break;
		case SLOT_SAME:
			memcpy(tls_obj, v.w, 8);
			len = 8;
			break;
		case SLOT_COMP:
		case SLOT_RAW:
			len = slot_size(v.meta);
			if (v.meta & SLOT_WB)
				e = wb_object(st, &cache, &v, len, tls_obj);
			else
				e = store_load_object(st, engine_of(st, i), &v, len, tls_obj);
			break;
		}
		uz_slot_unlock(s, v.meta);
		if (e) {
			snprintf(err, errlen, "page %llu: its object in the backing store cannot be read",
				 (unsigned long long)i);
			return e;
		}
		if (slot_type(v.meta) == SLOT_EMPTY && !(v.meta & SLOT_ZEROED))
			continue; /* discarded meanwhile */
		e = w_record(w, i, v.meta & REC_META_MASK, tls_obj, len);
		if (e)
			return e;
		w->object_bytes += slot_type(v.meta) == SLOT_SAME ? 0 : len;
		w->written_back += !!(v.meta & SLOT_WB);
	}
	return 0;
}

static double since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int uz_store_snapshot(struct uz_store *st, const char *path, struct uz_snapshot_info *info, char *err,
		      size_t errlen)
{
	struct snap_writer w = { .io.fd = -1 };
	struct snap_header hdr = { .version = SNAP_VERSION, .page_size = UZ_PAGE_SIZE, .disksize = st->disksize,
				   .created = (int64_t)time(NULL) };
	struct snap_trailer tr;
	char tmp[4200], dir[4200], *slash;
	struct timespec t0;
	int e, dfd;

	memset(info, 0, sizeof(*info));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	e = io_open(&w.io, tmp, O_WRONLY | O_CREAT | O_TRUNC);
	if (e) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(-e));
		io_close(&w.io);
		return e;
	}
	memcpy(w.io.buf[0] + sizeof(struct blk_hdr), &hdr, sizeof(hdr));
	w.used = sizeof(hdr);
	e = w_flush(&w, BLK_HEADER);
	if (!e) {
		uz_mutex_lock(&st->wb_lock); /* no writeback run meanwhile */
		e = w_slots(st, &w, err, errlen);
		uz_mutex_unlock(&st->wb_lock);
	}
	if (!e && w.used)
		e = w_flush(&w, BLK_DATA);
	if (!e) {
		tr = (struct snap_trailer){ .blocks = w.io.seq + 1, .records = w.records,
					    .object_bytes = w.object_bytes, .written_back = w.written_back,
					    .write_ns = (uint64_t)(since(&t0) * 1e9) };
		memcpy(w.io.buf[w.cur] + sizeof(struct blk_hdr), &tr, sizeof(tr));
		w.used = sizeof(tr);
		e = w_flush(&w, BLK_TRAILER);
	}
	for (int i = 0; i < SNAP_DEPTH; i++)
		while (w.io.busy[i] && io_reap(&w.io) == 0)
			;
	if (!e)
		e = w.io.err;
	if (!e && fsync(w.io.fd))
		e = -errno;
	if (e && !err[0])
		snprintf(err, errlen, "%s: %s", tmp, strerror(-e));
	io_close(&w.io);
	if (!e && rename(tmp, path)) {
		e = -errno;
		snprintf(err, errlen, "renaming %s to %s: %s", tmp, path, strerror(-e));
	}
	if (e) {
		unlink(tmp); /* the previous snapshot, if any, is untouched */
		return e;
	}
	/* The rename itself must reach the disk. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir ? 1 : 0] = '\0';
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	info->pages = w.records;
	info->object_bytes = w.object_bytes;
	info->written_back = w.written_back;
	info->file_bytes = (uint64_t)w.io.seq * SNAP_BLOCK;
	info->created = hdr.created;
	info->seconds = since(&t0);
	info->snapshot_seconds = info->seconds;
	return 0;
}

/* --- restoring ----------------------------------------------------------- */

/* Checks a record's meta and length against what a slot may hold. */
static bool rec_valid(const struct snap_rec *r, uint64_t nslots)
{
	uint32_t m = r->meta, size = slot_size(m);
	enum slot_codec c = slot_codec(m);

	if ((m & ~REC_META_MASK) || r->idx >= nslots)
		return false;
	switch (slot_type(m)) {
	case SLOT_EMPTY:
		return (m & ~SLOT_TYPE_MASK) == SLOT_ZEROED && r->len == 0;
	case SLOT_SAME:
		return (m & ~SLOT_TYPE_MASK) == 0 && r->len == 8;
	case SLOT_COMP:
		return size && afm_footprint(size) < UZ_PAGE_SIZE && r->len == size;
	case SLOT_RAW:
		return size == UZ_PAGE_SIZE && r->len == size && (c == SLOT_LZ4 || c == SLOT_LZ4_TRIED);
	}
	return false;
}

/* Puts one page into its slot.  Pages that were in the backing store
 * come back marked idle (restored pages have no other idle marks), to be
 * written back at the end.  Returns 0 or a negative errno. */
static int restore_page(struct uz_store *st, const struct snap_rec *r, const uint8_t *data)
{
	struct uz_slot *s = uz_slots_get(st->slots, r->idx, true);
	struct slot_val v = { .meta = r->meta & ~SLOT_WB };
	struct afm_handle h;
	struct afm *e;
	int err;

	if (!s)
		return -ENOMEM;
	if (slot_type(v.meta) == SLOT_SAME) {
		memcpy(v.w, data, 8);
	} else if (slot_type(v.meta) != SLOT_EMPTY) {
		e = store_engine_for_write(st, r->idx);
		if (!e)
			return -ENOMEM;
		err = afm_alloc(e, r->len, &h);
		if (err)
			return err;
		afm_store(e, r->len, &h, data);
		memcpy(v.w, h.ref, sizeof(h.ref));
	}
	if (slot_type(v.meta) != SLOT_EMPTY)
		v.meta = slot_touch(v.meta, clock_now(st)) | (r->meta & SLOT_WB ? SLOT_IDLE : 0);
	uz_slot_lock(s);
	slot_write(s, &v);
	uz_slot_unlock(s, v.meta);
	store_account(st, &v, +1);
	return 0;
}

struct snap_reader {
	struct snap_io io;
	uint64_t nblocks; /* from the file's size */
	uint64_t next_read;
	const char *path;
};

/* Queues reads ahead, up to block seq + SNAP_DEPTH - 1: the buffers of
 * the blocks before seq are done with, seq's is about to be used. */
static int r_fill(struct snap_reader *r, uint64_t seq)
{
	while (r->next_read < r->nblocks && r->next_read < seq + SNAP_DEPTH) {
		int slot = (int)(r->next_read % SNAP_DEPTH), e;

		if (r->io.busy[slot])
			break;
		e = io_submit_block(&r->io, slot, r->next_read, false);
		if (e)
			return e;
		r->next_read++;
	}
	return 0;
}

/* Block seq, read and checked: *blk points to it (until the next call),
 * *h holds its header.  Blocks are asked for in order.  Returns 0,
 * -EBADMSG (with err) or an I/O errno. */
static int r_block(struct snap_reader *r, uint64_t seq, uint8_t **blk, struct blk_hdr *h, char *err,
		   size_t errlen)
{
	int b = (int)(seq % SNAP_DEPTH), e;

	e = r_fill(r, seq);
	while (!e && r->io.busy[b])
		e = io_reap(&r->io);
	if (!e)
		e = r->io.err;
	if (e) {
		snprintf(err, errlen, "%s: reading block %llu: %s", r->path, (unsigned long long)seq, strerror(-e));
		return e;
	}
	*blk = r->io.buf[b];
	memcpy(h, *blk, sizeof(*h));
	if (memcmp(h->magic, snap_magic, sizeof(snap_magic)) || h->seq != seq || h->used > PAYLOAD ||
	    h->sum != block_sum(*blk)) {
		snprintf(err, errlen, "%s: block %llu of %llu is corrupt (%s)", r->path, (unsigned long long)seq,
			 (unsigned long long)r->nblocks,
			 memcmp(h->magic, snap_magic, sizeof(snap_magic)) ? "no block header"
			 : h->seq != seq				   ? "out of place"
									   : "checksum mismatch");
		return -EBADMSG;
	}
	return 0;
}

int uz_store_restore(struct uz_store *st, const char *path, struct uz_snapshot_info *info, char *err,
		     size_t errlen)
{
	struct snap_reader r = { .path = path };
	struct snap_header hdr;
	struct snap_trailer tr;
	struct blk_hdr h;
	uint8_t *blk;
	struct stat sb;
	struct timespec t0;
	uint64_t records = 0, object_bytes = 0, wb = 0, last_idx = 0;
	bool any = false;
	int e;

	memset(info, 0, sizeof(*info));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (UZ_SHARD_SUM(st->cnt, pages_stored) || UZ_SHARD_SUM(st->cnt, wb_pages)) {
		snprintf(err, errlen, "%s: the store is not empty", path);
		return -EBUSY;
	}
	e = io_open(&r.io, path, O_RDONLY);
	if (e) {
		if (e != -ENOENT)
			snprintf(err, errlen, "%s: %s", path, strerror(-e));
		else
			snprintf(err, errlen, "%s: no snapshot", path);
		io_close(&r.io);
		return e;
	}
	if (fstat(r.io.fd, &sb)) {
		e = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-e));
		goto out;
	}
	r.nblocks = (uint64_t)sb.st_size / SNAP_BLOCK;
	if (sb.st_size < (off_t)SNAP_BLOCK) {
		snprintf(err, errlen, "%s: %lld bytes: not a uzram snapshot, or truncated", path,
			 (long long)sb.st_size);
		e = -EBADMSG;
		goto out;
	}
	e = r_block(&r, 0, &blk, &h, err, errlen);
	if (e == -EBADMSG && memcmp(h.magic, snap_magic, sizeof(snap_magic)))
		snprintf(err, errlen, "%s: not a uzram snapshot", path);
	if (e)
		goto out;
	memcpy(&hdr, blk + sizeof(h), sizeof(hdr));
	if (h.kind != BLK_HEADER || h.used != sizeof(hdr)) {
		snprintf(err, errlen, "%s: block 0 is not a snapshot header", path);
		e = -EBADMSG;
		goto out;
	}
	if (hdr.version != SNAP_VERSION) {
		snprintf(err, errlen, "%s: format version %u; this uzramd reads version %u", path, hdr.version,
			 SNAP_VERSION);
		e = -EINVAL;
		goto out;
	}
	if (hdr.page_size != UZ_PAGE_SIZE || hdr.disksize != st->disksize) {
		snprintf(err, errlen, "%s: a snapshot of a %llu-byte device; this one is %llu bytes", path,
			 (unsigned long long)hdr.disksize, (unsigned long long)st->disksize);
		e = -EINVAL;
		goto out;
	}
	store_progress(st, UZ_PROGRESS_RESTORE, 0, r.nblocks * SNAP_BLOCK);
	for (uint64_t seq = 1;; seq++) {
		uint32_t at = 0;

		if (seq % 64 == 0)
			store_progress(st, UZ_PROGRESS_RESTORE, seq * SNAP_BLOCK, r.nblocks * SNAP_BLOCK);

		if (seq >= r.nblocks) {
			snprintf(err, errlen, "%s: truncated after %llu blocks (no trailer)", path,
				 (unsigned long long)r.nblocks);
			e = -EBADMSG;
			goto out;
		}
		e = r_block(&r, seq, &blk, &h, err, errlen);
		if (e)
			goto out;
		if (h.kind == BLK_TRAILER) {
			memcpy(&tr, blk + sizeof(h), sizeof(tr));
			if (h.used != sizeof(tr) || tr.blocks != seq + 1 || tr.records != records ||
			    tr.object_bytes != object_bytes) {
				snprintf(err, errlen, "%s: the trailer says %llu blocks, %llu pages; read %llu, %llu",
					 path, (unsigned long long)tr.blocks, (unsigned long long)tr.records,
					 (unsigned long long)seq + 1, (unsigned long long)records);
				e = -EBADMSG;
				goto out;
			}
			if (r.nblocks != seq + 1) {
				snprintf(err, errlen, "%s: %llu blocks after the trailer", path,
					 (unsigned long long)(r.nblocks - seq - 1));
				e = -EBADMSG;
				goto out;
			}
			break;
		}
		if (h.kind != BLK_DATA) {
			snprintf(err, errlen, "%s: block %llu: unknown kind %u", path, (unsigned long long)seq, h.kind);
			e = -EBADMSG;
			goto out;
		}
		while (at < h.used) {
			struct snap_rec rec;

			if (h.used - at < sizeof(rec)) {
				e = -EBADMSG;
				break;
			}
			memcpy(&rec, blk + sizeof(h) + at, sizeof(rec));
			if (!rec_valid(&rec, uz_slots_count(st->slots)) || (any && rec.idx <= last_idx) ||
			    h.used - at - sizeof(rec) < PAD8(rec.len)) {
				e = -EBADMSG;
				break;
			}
			e = restore_page(st, &rec, blk + sizeof(h) + at + sizeof(rec));
			if (e == -ENOSPC && st->backing) {
				/* At the limit: what was written back goes there again now. */
				struct uz_writeback_result wr;

				uz_store_writeback(st, UZ_WB_IDLE, 0, &wr);
				e = restore_page(st, &rec, blk + sizeof(h) + at + sizeof(rec));
			}
			if (e) {
				snprintf(err, errlen, "%s: page %llu: %s (after %llu pages, %llu bytes)", path,
					 (unsigned long long)rec.idx,
					 e == -ENOSPC ? "the memory limit is reached" : strerror(-e),
					 (unsigned long long)records, (unsigned long long)object_bytes);
				goto out;
			}
			any = true;
			last_idx = rec.idx;
			records++;
			object_bytes += slot_type(rec.meta) == SLOT_SAME ? 0 : rec.len;
			wb += !!(rec.meta & SLOT_WB);
			at += (uint32_t)sizeof(rec) + PAD8(rec.len);
		}
		if (e) {
			snprintf(err, errlen, "%s: block %llu: a malformed page record", path, (unsigned long long)seq);
			goto out;
		}
	}
	if (wb && st->backing) {
		struct uz_writeback_result wr;

		uz_store_writeback(st, UZ_WB_IDLE, 0, &wr);
	}
	info->pages = records;
	info->object_bytes = object_bytes;
	info->written_back = wb;
	info->file_bytes = (uint64_t)sb.st_size;
	info->created = hdr.created;
	info->seconds = since(&t0);
	info->snapshot_seconds = (double)tr.write_ns / 1e9;
out:
	for (int i = 0; i < SNAP_DEPTH; i++)
		while (r.io.busy[i] && io_reap(&r.io) == 0)
			;
	io_close(&r.io);
	return e;
}
