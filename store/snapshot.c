/* store/snapshot.c - the store's contents to a file and back (persist).
 *
 * Blocks are written and read through io_uring, SNAP_DEPTH of them in
 * flight, with O_DIRECT where the file system allows it: the snapshot
 * streams at the disk's speed and leaves no page cache behind.
 *
 * The file format, versions 1 and 2: a snapshot is written in version 1
 * when the store has no trained dictionary, in version 2 when it has one
 * or two; a restore reads both.  Every integer is little-endian, at the
 * offset given (bytes), with no padding but where said; it is written and
 * read field by field (the enc_ and dec_ functions below), never as an
 * in-memory struct, so that it changes only with SNAP_VERSION.
 *
 * The file is a sequence of 1 MiB blocks (SNAP_BLOCK), block n at offset
 * n * 1 MiB: block 0 the header, then (version 2) the dictionary blocks,
 * then data blocks, then the trailer, the last block.  A flipped byte
 * fails its block's checksum; a truncated file has no trailer, or the
 * wrong count.
 *
 * Every block starts with a 32-byte block header, its payload after it,
 * zeros after the payload to the end of the block:
 *     0  8  magic "UZRAMSNP"
 *     8  8  seq: the block's number in the file
 *    16  4  kind: 1 header, 2 data, 3 trailer, 4 dictionary (version 2)
 *    20  4  used: payload bytes after the block header
 *    24  8  sum: XXH3-64 (seed 0) of the whole block, this field as 0
 *
 * The header's payload, 24 bytes in version 1 (used = 24), 28 in
 * version 2 (used = 28):
 *     0  4  version: 1 or 2; a restore refuses any other
 *     4  4  page size: 4096
 *     8  8  the device's size in bytes; a restore needs the same
 *    16  8  created: seconds since 1970 (signed)
 *    24  4  (version 2) dictionary blocks: how many blocks, right after
 *           the header (blocks 1 to this number), carry the dictionaries
 *
 * A dictionary block's payload (version 2): a part of one of the store's
 * trained dictionaries, after a 24-byte part header:
 *     0  4  slot: the store's dictionary slot, 0 or 1
 *     4  4  flags: bit 0 current (what recompression compresses
 *           against); every other bit 0
 *     8  8  id: the store's number for the dictionary (1, 2, ...; never 0)
 *    16  4  len: the dictionary's raw content, bytes (1 KiB .. 1 MiB)
 *    20  4  at: where in the content this block's part starts
 *    24     the part: content bytes [at, at + used - 24)
 * A dictionary's content is cut into as many blocks as it needs, one
 * after the other, at 0 first, every part but the last filling its block;
 * the dictionaries in ascending slot order, each slot at most once.  The
 * block's checksum covers its part (so each part is checked); slot, flags,
 * id and len are the same in every block of a dictionary.
 *
 * A data block's payload: records, one per page that holds data (or is
 * zeroed), in ascending slot order over the whole file, none split
 * between blocks:
 *     0  8  idx: the page's number on the device
 *     8  4  meta (below)
 *    12  4  len: the object's bytes
 *    16     the object, len bytes, then zeros to a multiple of 8
 * meta, the page's kind (every bit not named here is 0):
 *     bits 0-12   the object's size (COMP: == len; RAW: 4096; else 0)
 *     bit 24      (version 2) the codec's third bit, COMP pages only
 *     bits 25-26  the codec of a COMP or RAW page, bit 24 its bit 2:
 *                 0 LZ4, 1 zstd, 2 LZ4HC, 3 LZ4 found incompressible by
 *                 recompression (RAW pages only 0 or 3); version 2 only,
 *                 COMP pages compressed against a dictionary the file
 *                 carries (a restore refuses a page naming a slot it does
 *                 not carry): 4 LZ4 against slot 0's, 5 LZ4 against slot
 *                 1's, 6 zstd against slot 0's, 7 zstd against slot 1's;
 *                 an EMPTY page: bit 25 set (zeroed: allocated, reads as
 *                 zeros), bit 26 clear
 *     bit 27      written back: the page was in the backing store
 *                 (its object is in the record all the same)
 *     bits 29-30  type: 0 EMPTY (len 0, always zeroed), 1 SAME (len 8:
 *                 the page's first 8 bytes, repeated over the page),
 *                 2 COMP (the compressed object, as the codec made it),
 *                 3 RAW (the page itself, len 4096)
 * (Version 1's bits are the ones uzram's slots used when it was made;
 * bit 24 is version 2's own.  The slots may change, the records do not.)
 *
 * The trailer's payload, 40 bytes (used = 40):
 *     0  8  blocks in the file, the trailer included
 *     8  8  records in the file
 *    16  8  object bytes: the sum of len over COMP and RAW records
 *    24  8  records with the written-back bit
 *    32  8  nanoseconds from the start of the snapshot to its trailer
 */
#include <errno.h>
#include <fcntl.h>
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
#define SNAP_VERSION 2 /* the newest format at the top of this file */
#define SNAP_VERSION_NODICT 1 /* what a store without dictionaries writes */
static const char snap_magic[8] = { 'U', 'Z', 'R', 'A', 'M', 'S', 'N', 'P' };

enum { BLK_HEADER = 1, BLK_DATA = 2, BLK_TRAILER = 3, BLK_DICT = 4 };

/* The parts of the file, decoded (see the top of the file). */
struct blk_hdr {
	char magic[8];
	uint64_t seq;
	uint32_t kind;
	uint32_t used;
	uint64_t sum;
};

struct snap_header {
	uint32_t version;
	uint32_t page_size;
	uint64_t disksize;
	int64_t created;
	uint32_t dict_blocks; /* version 2 */
};

struct snap_dict_part {
	uint32_t slot;
	uint32_t flags;
	uint64_t id;
	uint32_t len;
	uint32_t at;
};

struct snap_trailer {
	uint64_t blocks;
	uint64_t records;
	uint64_t object_bytes;
	uint64_t written_back;
	uint64_t write_ns;
};

struct snap_rec {
	uint64_t idx;
	uint32_t meta; /* the record's meta, not a slot's */
	uint32_t len;
};

/* Encoded sizes. */
#define BLK_HDR_BYTES 32u
#define BLK_SUM_AT 24u
#define HEADER_BYTES 24u /* version 1; version 2 adds 4 */
#define HEADER_BYTES_V2 28u
#define DICT_PART_BYTES 24u
#define DICT_CURRENT 1u
_Static_assert(SLOT_DICTS == 2, "the format names dictionary slots 0 and 1");
#define TRAILER_BYTES 40u
#define REC_BYTES 16u

/* A record's meta word (see the top of the file). */
#define REC_SIZE_MASK 0x1fffu
#define REC_CODEC_HI (1u << 24) /* version 2 */
#define REC_CODEC_SHIFT 25
#define REC_CODEC_MASK (3u << REC_CODEC_SHIFT)
#define REC_ZEROED (1u << 25)
#define REC_WB (1u << 27)
#define REC_TYPE_SHIFT 29
#define REC_TYPE_MASK (3u << REC_TYPE_SHIFT)
#define REC_META_MASK (REC_TYPE_MASK | REC_CODEC_MASK | REC_SIZE_MASK | REC_WB)
enum { REC_EMPTY = 0, REC_SAME = 1, REC_COMP = 2, REC_RAW = 3 };
enum { REC_LZ4 = 0, REC_ZSTD = 1, REC_LZ4HC = 2, REC_LZ4_TRIED = 3 };
enum { REC_LZ4_DICT0 = 4, REC_LZ4_DICT1 = 5, REC_ZSTD_DICT0 = 6, REC_ZSTD_DICT1 = 7 }; /* version 2 */

#define PAYLOAD (SNAP_BLOCK - BLK_HDR_BYTES)
#define PAD8(n) (((n) + 7u) & ~7u)

/* --- encoding ----------------------------------------------------------- */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void enc_blk_hdr(uint8_t *p, const struct blk_hdr *h)
{
	memcpy(p, h->magic, sizeof(h->magic));
	put64(p + 8, h->seq);
	put32(p + 16, h->kind);
	put32(p + 20, h->used);
	put64(p + BLK_SUM_AT, h->sum);
}

static void dec_blk_hdr(const uint8_t *p, struct blk_hdr *h)
{
	memcpy(h->magic, p, sizeof(h->magic));
	h->seq = get64(p + 8);
	h->kind = get32(p + 16);
	h->used = get32(p + 20);
	h->sum = get64(p + BLK_SUM_AT);
}

static void enc_header(uint8_t *p, const struct snap_header *h)
{
	put32(p, h->version);
	put32(p + 4, h->page_size);
	put64(p + 8, h->disksize);
	put64(p + 16, (uint64_t)h->created);
	if (h->version >= 2)
		put32(p + 24, h->dict_blocks);
}

static void dec_header(const uint8_t *p, struct snap_header *h)
{
	h->version = get32(p);
	h->page_size = get32(p + 4);
	h->disksize = get64(p + 8);
	h->created = (int64_t)get64(p + 16);
	h->dict_blocks = h->version >= 2 ? get32(p + 24) : 0;
}

static uint32_t header_bytes(uint32_t version)
{
	return version >= 2 ? HEADER_BYTES_V2 : HEADER_BYTES;
}

static void enc_dict_part(uint8_t *p, const struct snap_dict_part *d)
{
	put32(p, d->slot);
	put32(p + 4, d->flags);
	put64(p + 8, d->id);
	put32(p + 16, d->len);
	put32(p + 20, d->at);
}

static void dec_dict_part(const uint8_t *p, struct snap_dict_part *d)
{
	d->slot = get32(p);
	d->flags = get32(p + 4);
	d->id = get64(p + 8);
	d->len = get32(p + 16);
	d->at = get32(p + 20);
}

static void enc_trailer(uint8_t *p, const struct snap_trailer *t)
{
	put64(p, t->blocks);
	put64(p + 8, t->records);
	put64(p + 16, t->object_bytes);
	put64(p + 24, t->written_back);
	put64(p + 32, t->write_ns);
}

static void dec_trailer(const uint8_t *p, struct snap_trailer *t)
{
	t->blocks = get64(p);
	t->records = get64(p + 8);
	t->object_bytes = get64(p + 16);
	t->written_back = get64(p + 24);
	t->write_ns = get64(p + 32);
}

static void enc_rec(uint8_t *p, const struct snap_rec *r)
{
	put64(p, r->idx);
	put32(p + 8, r->meta);
	put32(p + 12, r->len);
}

static void dec_rec(const uint8_t *p, struct snap_rec *r)
{
	r->idx = get64(p);
	r->meta = get32(p + 8);
	r->len = get32(p + 12);
}

/* A record's codec: bits 25-26, and bit 24 as its bit 2. */
static uint32_t rec_codec(uint32_t r)
{
	return (r & REC_CODEC_MASK) >> REC_CODEC_SHIFT | (r & REC_CODEC_HI ? 4u : 0u);
}

/* A slot's meta as a record's: its type, codec (or zeroed mark), size
 * and written-back bit; not its lock, idle mark or access time. */
static uint32_t rec_meta_of(uint32_t meta)
{
	static const uint32_t type[] = { [SLOT_EMPTY] = REC_EMPTY, [SLOT_SAME] = REC_SAME,
					 [SLOT_COMP] = REC_COMP, [SLOT_RAW] = REC_RAW };
	static const uint32_t codec[] = { [SLOT_LZ4] = REC_LZ4, [SLOT_ZSTD] = REC_ZSTD,
					  [SLOT_LZ4HC] = REC_LZ4HC, [SLOT_LZ4_TRIED] = REC_LZ4_TRIED,
					  [SLOT_LZ4_DICT0] = REC_LZ4_DICT0, [SLOT_LZ4_DICT1] = REC_LZ4_DICT1,
					  [SLOT_ZSTD_DICT0] = REC_ZSTD_DICT0, [SLOT_ZSTD_DICT1] = REC_ZSTD_DICT1 };
	uint32_t r = type[slot_type(meta)] << REC_TYPE_SHIFT | (slot_size(meta) & REC_SIZE_MASK), c;

	if (slot_type(meta) == SLOT_EMPTY) {
		r |= meta & SLOT_ZEROED ? REC_ZEROED : 0;
	} else if (slot_type(meta) != SLOT_SAME) {
		c = codec[slot_codec(meta)];
		r |= (c & 3u) << REC_CODEC_SHIFT | (c & 4u ? REC_CODEC_HI : 0);
	}
	return r | (meta & SLOT_WB ? REC_WB : 0);
}

/* A record's meta (checked by rec_valid()) as a slot's, without the
 * written-back bit: what store_restore_page() takes. */
static uint32_t slot_meta_of(uint32_t r)
{
	static const enum slot_type type[] = { [REC_EMPTY] = SLOT_EMPTY, [REC_SAME] = SLOT_SAME,
					       [REC_COMP] = SLOT_COMP, [REC_RAW] = SLOT_RAW };
	static const enum slot_codec codec[] = { [REC_LZ4] = SLOT_LZ4, [REC_ZSTD] = SLOT_ZSTD,
						 [REC_LZ4HC] = SLOT_LZ4HC, [REC_LZ4_TRIED] = SLOT_LZ4_TRIED,
						 [REC_LZ4_DICT0] = SLOT_LZ4_DICT0, [REC_LZ4_DICT1] = SLOT_LZ4_DICT1,
						 [REC_ZSTD_DICT0] = SLOT_ZSTD_DICT0, [REC_ZSTD_DICT1] = SLOT_ZSTD_DICT1 };
	uint32_t t = (r & REC_TYPE_MASK) >> REC_TYPE_SHIFT, c = rec_codec(r);
	uint32_t m = slot_meta(type[t], r & REC_SIZE_MASK);

	if (t == REC_EMPTY)
		m |= r & REC_ZEROED ? SLOT_ZEROED : 0;
	else if (t != REC_SAME)
		m = slot_with_codec(m, codec[c]);
	return m;
}

/* The checksum of a block: XXH3-64 of the whole block, its sum field
 * taken as zero (the padding after the payload is zeros and checked
 * too: any flipped byte is found). */
static uint64_t block_sum(uint8_t *blk)
{
	uint8_t saved[8];
	uint64_t sum;

	memcpy(saved, blk + BLK_SUM_AT, sizeof(saved));
	memset(blk + BLK_SUM_AT, 0, sizeof(saved));
	sum = XXH3_64bits(blk, SNAP_BLOCK);
	memcpy(blk + BLK_SUM_AT, saved, sizeof(saved));
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
	memset(blk + BLK_HDR_BYTES + w->used, 0, PAYLOAD - w->used);
	enc_blk_hdr(blk, &h);
	h.sum = block_sum(blk);
	enc_blk_hdr(blk, &h);
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
	int e = w_room(w, REC_BYTES + PAD8(len));

	if (e)
		return e;
	p = w->io.buf[w->cur] + BLK_HDR_BYTES + w->used;
	enc_rec(p, &r);
	memcpy(p + REC_BYTES, data, len);
	memset(p + REC_BYTES + len, 0, PAD8(len) - len);
	w->used += REC_BYTES + PAD8(len);
	w->records++;
	return 0;
}

/* Per-thread scratch for an object on its way out. */
static __thread uint8_t tls_obj[UZ_PAGE_SIZE] __attribute__((aligned(64)));

/* The span of the backing store read last: pages written back side by
 * side are read UZ_BACKING_SPAN at a time, not one by one.  Valid while
 * no writeback runs (see store_wb_pause()). */
struct wb_cache {
	uint64_t lo, hi; /* hi 0: empty */
	uint64_t capacity;
	const uint8_t *data;
};

/* Copies a written-back page's object into dst.  Caller holds the slot's
 * lock.  Returns 0 or -EIO. */
static int wb_object(struct uz_store *st, struct wb_cache *c, const struct slot_val *v, uint32_t size, void *dst)
{
	uint64_t off = wb_off(v);

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
	uint64_t nslots = uz_slots_count(st->slots), report = 0, i;
	struct uz_slot *s;

	uz_slots_for_each(st->slots, i, s, 0, nslots) {
		struct slot_val v;
		uint32_t meta, len = 0;
		int e = 0;

		if (i >= report) {
			store_progress(st, UZ_PROGRESS_SNAPSHOT, i * UZ_PAGE_SIZE, nslots * UZ_PAGE_SIZE);
			report = i + PROGRESS_SLOTS;
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
		e = w_record(w, i, rec_meta_of(v.meta), tls_obj, len);
		if (e)
			return e;
		w->object_bytes += slot_type(v.meta) == SLOT_SAME ? 0 : len;
		w->written_back += !!(v.meta & SLOT_WB);
	}
	return 0;
}

/* The blocks the dictionaries of di take (see the top of the file). */
static uint32_t dict_blocks(const struct store_dict_info di[SLOT_DICTS])
{
	const size_t part = PAYLOAD - DICT_PART_BYTES;
	uint32_t n = 0;

	for (int k = 0; k < SLOT_DICTS; k++)
		if (di[k].id)
			n += (uint32_t)((di[k].len + part - 1) / part);
	return n;
}

/* Writes the dictionaries of di, each in as many blocks as it takes.
 * Caller holds rc_lock (their contents stay).  Returns 0 or a negative
 * errno. */
static int w_dicts(struct snap_writer *w, const struct store_dict_info di[SLOT_DICTS])
{
	for (int k = 0; k < SLOT_DICTS; k++) {
		struct snap_dict_part d = { .slot = (uint32_t)k, .flags = di[k].current ? DICT_CURRENT : 0,
					    .id = di[k].id, .len = (uint32_t)di[k].len };

		while (di[k].id && d.at < d.len) {
			uint32_t part = d.len - d.at < PAYLOAD - DICT_PART_BYTES ? d.len - d.at
										  : PAYLOAD - DICT_PART_BYTES;
			uint8_t *p = w->io.buf[w->cur] + BLK_HDR_BYTES;
			int e;

			enc_dict_part(p, &d);
			memcpy(p + DICT_PART_BYTES, (const uint8_t *)di[k].raw + d.at, part);
			w->used = DICT_PART_BYTES + part;
			e = w_flush(w, BLK_DICT);
			if (e)
				return e;
			d.at += part;
		}
	}
	return 0;
}

/* Writes the header and the dictionaries, holding rc_lock: no dictionary
 * is made or freed meanwhile.  Their ids into ids.  Returns 0 or a
 * negative errno. */
static int w_head(struct uz_store *st, struct snap_writer *w, struct snap_header *hdr, uint64_t ids[SLOT_DICTS])
{
	struct store_dict_info di[SLOT_DICTS];
	int e;

	uz_mutex_lock(&st->rc_lock);
	store_dicts_snapshot(st, di);
	hdr->dict_blocks = dict_blocks(di);
	hdr->version = hdr->dict_blocks ? SNAP_VERSION : SNAP_VERSION_NODICT;
	enc_header(w->io.buf[w->cur] + BLK_HDR_BYTES, hdr);
	w->used = header_bytes(hdr->version);
	e = w_flush(w, BLK_HEADER);
	if (!e)
		e = w_dicts(w, di);
	uz_mutex_unlock(&st->rc_lock);
	for (int k = 0; k < SLOT_DICTS; k++)
		ids[k] = di[k].id;
	return e;
}

/* Whether a dictionary was made since w_head() took ids: a page may then
 * name a dictionary the file does not carry (one freed meanwhile does no
 * harm: the file has it all the same). */
static bool dicts_changed(struct uz_store *st, const uint64_t ids[SLOT_DICTS])
{
	struct store_dict_info di[SLOT_DICTS];
	bool changed = false;

	uz_mutex_lock(&st->rc_lock);
	store_dicts_snapshot(st, di);
	uz_mutex_unlock(&st->rc_lock);
	for (int k = 0; k < SLOT_DICTS; k++)
		changed |= di[k].id && di[k].id != ids[k];
	return changed;
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
	struct snap_header hdr = { .page_size = UZ_PAGE_SIZE, .disksize = st->disksize, .created = (int64_t)time(NULL) };
	struct snap_trailer tr;
	char tmp[4200], dir[4200], *slash;
	uint64_t ids[SLOT_DICTS];
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
	e = w_head(st, &w, &hdr, ids);
	if (!e) {
		store_wb_pause(st); /* no writeback run meanwhile */
		e = w_slots(st, &w, err, errlen);
		store_wb_resume(st);
	}
	if (!e && w.used)
		e = w_flush(&w, BLK_DATA);
	if (!e && dicts_changed(st, ids)) {
		snprintf(err, errlen, "a dictionary was trained during the snapshot: its pages cannot be carried");
		e = -EAGAIN;
	}
	if (!e) {
		tr = (struct snap_trailer){ .blocks = w.io.seq + 1, .records = w.records,
					    .object_bytes = w.object_bytes, .written_back = w.written_back,
					    .write_ns = (uint64_t)(since(&t0) * 1e9) };
		enc_trailer(w.io.buf[w.cur] + BLK_HDR_BYTES, &tr);
		w.used = TRAILER_BYTES;
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

/* Checks a record's meta and length against what a slot may hold in a
 * file of version. */
static bool rec_valid(const struct snap_rec *r, uint64_t nslots, uint32_t version)
{
	uint32_t m = r->meta, size = m & REC_SIZE_MASK, c = rec_codec(m);
	uint32_t defined = REC_META_MASK | (version >= 2 ? REC_CODEC_HI : 0);

	if ((m & ~defined) || r->idx >= nslots)
		return false;
	switch ((m & REC_TYPE_MASK) >> REC_TYPE_SHIFT) {
	case REC_EMPTY:
		return (m & ~REC_TYPE_MASK) == REC_ZEROED && r->len == 0;
	case REC_SAME:
		return (m & ~REC_TYPE_MASK) == 0 && r->len == 8;
	case REC_COMP:
		return size && afm_footprint(size) < UZ_PAGE_SIZE && r->len == size;
	case REC_RAW:
		return size == UZ_PAGE_SIZE && r->len == size && (c == REC_LZ4 || c == REC_LZ4_TRIED);
	}
	return false;
}

/* Puts one page into its slot.  Pages that were in the backing store
 * come back marked idle (restored pages have no other idle marks), to be
 * written back at the end.  Returns 0 or a negative errno. */
static int restore_page(struct uz_store *st, const struct snap_rec *r, const uint8_t *data)
{
	return store_restore_page(st, r->idx, slot_meta_of(r->meta), data, r->meta & REC_WB);
}

/* The dictionary slot a record names (0 or 1), or -1. */
static int rec_dict(const struct snap_rec *r)
{
	return slot_dict(slot_meta_of(r->meta));
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
	dec_blk_hdr(*blk, h);
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

/* A dictionary being read from its blocks. */
struct dict_in {
	struct snap_dict_part d; /* as its first block says */
	uint8_t *raw;
	uint32_t got;
};

/* Adds dictionary block seq (its part header p, used bytes) to in[].
 * Returns 0, or -EINVAL with err. */
static int r_dict_part(struct snap_reader *r, uint64_t seq, const uint8_t *p, uint32_t used, struct dict_in in[SLOT_DICTS],
		       int *cur, char *err, size_t errlen)
{
	struct snap_dict_part d;
	struct dict_in *di;

	dec_dict_part(p, &d);
	if (d.slot >= SLOT_DICTS || (d.flags & ~DICT_CURRENT) || !d.id || d.len < UZ_DICT_MIN_SIZE ||
	    d.len > UZ_DICT_MAX_SIZE) {
		snprintf(err, errlen, "%s: block %llu: a malformed dictionary (slot %u, flags %#x, id %llu, %u bytes)",
			 r->path, (unsigned long long)seq, d.slot, d.flags, (unsigned long long)d.id, d.len);
		return -EINVAL;
	}
	di = &in[d.slot];
	if (d.at == 0) { /* a dictionary starts */
		if (*cur >= 0 && in[*cur].got < in[*cur].d.len) {
			snprintf(err, errlen, "%s: the dictionary in slot %d is truncated: %u of its %u bytes", r->path,
				 *cur, in[*cur].got, in[*cur].d.len);
			return -EINVAL;
		}
		if (di->raw) {
			snprintf(err, errlen, "%s: block %llu: a second dictionary for slot %u", r->path,
				 (unsigned long long)seq, d.slot);
			return -EINVAL;
		}
		di->raw = malloc(d.len);
		if (!di->raw) {
			snprintf(err, errlen, "%s: no memory for a dictionary of %u bytes", r->path, d.len);
			return -ENOMEM;
		}
		di->d = d;
		*cur = (int)d.slot;
	} else if ((int)d.slot != *cur || d.id != di->d.id || d.len != di->d.len || d.flags != di->d.flags ||
		   d.at != di->got) {
		snprintf(err, errlen, "%s: block %llu: a part of dictionary %llu (slot %u, at %u) out of place",
			 r->path, (unsigned long long)seq, (unsigned long long)d.id, d.slot, d.at);
		return -EINVAL;
	}
	if (used - DICT_PART_BYTES > d.len - d.at) {
		snprintf(err, errlen, "%s: block %llu: dictionary %llu is longer than its %u bytes", r->path,
			 (unsigned long long)seq, (unsigned long long)d.id, d.len);
		return -EINVAL;
	}
	memcpy(di->raw + d.at, p + DICT_PART_BYTES, used - DICT_PART_BYTES);
	di->got += used - DICT_PART_BYTES;
	return 0;
}

/* Reads the n dictionary blocks after the header and puts their
 * dictionaries into the store's slots, *carried[k] set for each slot
 * one is in.  Everything is read and checked before a dictionary is
 * made; on an error none of them is left in the store.  Returns 0, -EINVAL
 * (corrupt, missing, truncated or refused by uz_dict_load(), with err),
 * -EBUSY (the store has dictionaries), -ENOMEM or an I/O errno. */
static int r_dicts(struct uz_store *st, struct snap_reader *r, uint32_t n, bool carried[SLOT_DICTS], char *err,
		   size_t errlen)
{
	struct dict_in in[SLOT_DICTS] = { 0 };
	struct blk_hdr h;
	uint8_t *blk;
	int cur = -1, e = 0;

	for (uint64_t seq = 1; seq <= n && !e; seq++) {
		if (seq + 1 >= r->nblocks) {
			snprintf(err, errlen, "%s: the header says %u dictionary blocks; the file ends at block %llu",
				 r->path, n, (unsigned long long)r->nblocks);
			e = -EINVAL;
			break;
		}
		e = r_block(r, seq, &blk, &h, err, errlen);
		if (e == -EBADMSG) { /* r_block said why */
			size_t at = strlen(err);

			snprintf(err + at, errlen - at, ", a dictionary block");
			e = -EINVAL;
		} else if (!e && (h.kind != BLK_DICT || h.used < DICT_PART_BYTES)) {
			snprintf(err, errlen, "%s: block %llu is not a dictionary block; the header says %u of them",
				 r->path, (unsigned long long)seq, n);
			e = -EINVAL;
		} else if (!e) {
			e = r_dict_part(r, seq, blk + BLK_HDR_BYTES, h.used, in, &cur, err, errlen);
		}
	}
	if (!e && cur >= 0 && in[cur].got < in[cur].d.len) {
		snprintf(err, errlen, "%s: the dictionary in slot %d is truncated: %u of its %u bytes", r->path, cur,
			 in[cur].got, in[cur].d.len);
		e = -EINVAL;
	}
	if (!e && in[0].raw && in[1].raw && (in[0].d.flags & in[1].d.flags & DICT_CURRENT)) {
		snprintf(err, errlen, "%s: both dictionaries are marked current", r->path);
		e = -EINVAL;
	}
	for (int k = 0; k < SLOT_DICTS && !e; k++) {
		if (!in[k].raw)
			continue;
		e = store_dict_restore(st, k, in[k].d.id, in[k].d.flags & DICT_CURRENT, in[k].raw, in[k].d.len);
		if (e == -EINVAL)
			snprintf(err, errlen, "%s: dictionary %llu (slot %d, %u bytes) is refused: not a dictionary "
				 "zstd takes", r->path, (unsigned long long)in[k].d.id, k, in[k].d.len);
		else if (e == -EBUSY)
			snprintf(err, errlen, "%s: the store is not empty: it has a trained dictionary", r->path);
		else if (e)
			snprintf(err, errlen, "%s: dictionary %llu: %s", r->path, (unsigned long long)in[k].d.id,
				 strerror(-e));
		carried[k] = !e;
	}
	for (int k = 0; k < SLOT_DICTS && e; k++)
		if (carried[k])
			store_dict_unload(st, k);
	for (int k = 0; k < SLOT_DICTS; k++)
		free(in[k].raw);
	return e;
}

/* Undoes a restore that was refused after it began: the store as empty
 * as it was, without the dictionaries of carried. */
static void r_undo(struct uz_store *st, const bool carried[SLOT_DICTS])
{
	uz_store_discard(st, 0, st->disksize);
	for (int k = 0; k < SLOT_DICTS; k++)
		if (carried[k])
			store_dict_unload(st, k);
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
	bool any = false, carried[SLOT_DICTS] = { false };
	int e;

	memset(info, 0, sizeof(*info));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!store_is_empty(st)) {
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
	dec_header(blk + BLK_HDR_BYTES, &hdr);
	if (h.kind != BLK_HEADER || h.used < HEADER_BYTES) {
		snprintf(err, errlen, "%s: block 0 is not a snapshot header", path);
		e = -EBADMSG;
		goto out;
	}
	if (hdr.version < SNAP_VERSION_NODICT || hdr.version > SNAP_VERSION) {
		snprintf(err, errlen, "%s: format version %u; this uzramd reads versions %u to %u", path,
			 hdr.version, SNAP_VERSION_NODICT, SNAP_VERSION);
		e = -EINVAL;
		goto out;
	}
	if (h.used != header_bytes(hdr.version)) {
		snprintf(err, errlen, "%s: block 0 is not a snapshot header", path);
		e = -EBADMSG;
		goto out;
	}
	if (hdr.page_size != UZ_PAGE_SIZE || hdr.disksize != st->disksize) {
		snprintf(err, errlen, "%s: a snapshot of a %llu-byte device; this one is %llu bytes", path,
			 (unsigned long long)hdr.disksize, (unsigned long long)st->disksize);
		e = -EINVAL;
		goto out;
	}
	store_progress(st, UZ_PROGRESS_RESTORE, 0, r.nblocks * SNAP_BLOCK);
	e = r_dicts(st, &r, hdr.dict_blocks, carried, err, errlen);
	if (e)
		goto out;
	for (uint64_t seq = 1 + hdr.dict_blocks;; seq++) {
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
			dec_trailer(blk + BLK_HDR_BYTES, &tr);
			if (h.used != TRAILER_BYTES || tr.blocks != seq + 1 || tr.records != records ||
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

			const uint8_t *p = blk + BLK_HDR_BYTES + at;

			if (h.used - at < REC_BYTES) {
				e = -EBADMSG;
				break;
			}
			dec_rec(p, &rec);
			if (!rec_valid(&rec, uz_slots_count(st->slots), hdr.version) || (any && rec.idx <= last_idx) ||
			    h.used - at - REC_BYTES < PAD8(rec.len)) {
				e = -EBADMSG;
				break;
			}
			if (rec_dict(&rec) >= 0 && !carried[rec_dict(&rec)]) {
				snprintf(err, errlen, "%s: page %llu names dictionary slot %d, which the snapshot does not "
					 "carry", path, (unsigned long long)rec.idx, rec_dict(&rec));
				r_undo(st, carried);
				e = -EINVAL;
				goto out;
			}
			e = restore_page(st, &rec, p + REC_BYTES);
			if (e == -ENOSPC && st->backing) {
				/* At the limit: what was written back goes there again now. */
				struct uz_writeback_result wr;

				uz_store_writeback(st, UZ_WB_IDLE, 0, &wr);
				e = restore_page(st, &rec, p + REC_BYTES);
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
			object_bytes += (rec.meta & REC_TYPE_MASK) >> REC_TYPE_SHIFT == REC_SAME ? 0 : rec.len;
			wb += !!(rec.meta & REC_WB);
			at += REC_BYTES + PAD8(rec.len);
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
