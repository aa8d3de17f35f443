/* tests/bench/fuseram.c - the FUSE ceiling for make bench-io: one regular
 * file served from plain RAM (no compression, no allocator) by the same
 * fuse/ code as uzramd, over either transport: the same operations,
 * direct_io, loop settings, threads and io_uring queues.  Anything uzram
 * does beyond this is its own cost.
 * Usage: fuseram SIZE_BYTES THREADS PATH [auto|yes|no]
 *   (foreground; SIGTERM stops it; the last argument is io-uring, default no)
 *
 * It also stands in for a failing disk in the backing-store tests: with
 * FUSERAM_FAULTS=DIR in the environment, a write fails with EIO while
 * DIR/write-eio exists, with ENOSPC while DIR/write-enospc exists, and a
 * read with EIO while DIR/read-eio exists. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../fuse/uzfuse.h"

struct ram {
	uint8_t *mem;
	uint64_t size;
	const char *faults; /* FUSERAM_FAULTS, or NULL */
};

/* True while the fault file DIR/name exists. */
static int fault(const struct ram *r, const char *name)
{
	char path[PATH_MAX];

	if (!r->faults)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", r->faults, name);
	return access(path, F_OK) == 0;
}

static int ram_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	struct ram *r = ctx;

	if (fault(r, "read-eio"))
		return -EIO;
	memcpy(buf, r->mem + off, len);
	return 0;
}

static int ram_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct ram *r = ctx;

	if (fault(r, "write-eio"))
		return -EIO;
	if (fault(r, "write-enospc"))
		return -ENOSPC;
	memcpy(r->mem + off, buf, len);
	return 0;
}

static int ram_discard(void *ctx, uint64_t off, uint64_t len)
{
	struct ram *r = ctx;
	uint64_t end = off + len, a = (off + 4095) & ~4095ull, b = end & ~4095ull;

	if (b <= a) {
		memset(r->mem + off, 0, len);
		return 0;
	}
	memset(r->mem + off, 0, a - off);
	madvise(r->mem + a, b - a, MADV_DONTNEED);
	memset(r->mem + b, 0, end - b);
	return 0;
}

static uint64_t ram_stored(void *ctx)
{
	(void)ctx;
	return 0;
}

static const struct uz_file_ops ram_ops = {
	.read = ram_read,
	.write = ram_write,
	.discard = ram_discard,
	.stored = ram_stored,
};

static struct uz_fuse *served;

static void on_ready(void *arg)
{
	struct uz_fuse_transport t;

	(void)arg;
	uz_fuse_get_transport(served, &t);
	fprintf(stderr, "fuseram: ready, transport %s\n", t.why);
}

int main(int argc, char **argv)
{
	struct ram r;
	struct uz_fuse_params p = { .fsname = "fuseram", .subtype = "fuseram", .ops = &ram_ops, .ctx = &r,
				    .uring = UZ_URING_NO, .uring_depth = UZ_FUSE_URING_DEPTH,
				    .ready = on_ready };
	struct uz_fuse *f;
	char err[256];
	int res;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: fuseram SIZE_BYTES THREADS PATH [auto|yes|no]\n");
		return 2;
	}
	r.size = strtoull(argv[1], NULL, 0);
	r.faults = getenv("FUSERAM_FAULTS");
	p.disksize = r.size;
	p.threads = (unsigned)atoi(argv[2]);
	p.mountpoint = argv[3];
	if (argc == 5 && uz_uring_mode_parse(argv[4], &p.uring)) {
		fprintf(stderr, "fuseram: '%s' is not auto, yes or no\n", argv[4]);
		return 2;
	}
	r.mem = mmap(NULL, r.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r.mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	f = uz_fuse_mount(&p, err, sizeof(err));
	if (!f) {
		fprintf(stderr, "fuseram: %s\n", err);
		return 1;
	}
	served = f; /* before the loop: INIT, and so ready, come only in it */
	if (uz_fuse_signals(f)) {
		fprintf(stderr, "fuseram: cannot install signal handlers\n");
		uz_fuse_unmount(f);
		return 1;
	}
	res = uz_fuse_run(f);
	if (res) {
		struct uz_fuse_transport t;

		uz_fuse_get_transport(f, &t);
		fprintf(stderr, "fuseram: %s\n", res == -EPROTO ? t.why : strerror(-res));
	}
	uz_fuse_unmount(f);
	return res ? 1 : 0;
}
