/* fuse/uzfuse.h - a block file served as a FUSE file system whose root is
 * one regular file, over either of two transports: libfuse's /dev/fuse
 * loop, or the kernel's FUSE-over-io_uring queues.  The only part of uzram
 * that knows FUSE.  What the file holds comes from a small ops struct: the
 * daemon plugs in the store, the FUSE-ceiling benchmark plain RAM. */
#ifndef UZ_FUSE_UZFUSE_H
#define UZ_FUSE_UZFUSE_H

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define UZ_FUSE_MAX_WRITE (1u << 20) /* 1 MiB requests */
/* io_uring entries per CPU queue.  Each holds a 1 MiB payload buffer,
 * touched only as far as requests fill it: 8 per CPU is 16 MiB at most on
 * 2 CPUs, inside the RSS slack of 32 MiB even under 1 MiB writes.  Measured
 * on 2 cores, fio iodepth 16 x 2 jobs, two runs each (4K randread IOPS):
 * depth 2 206-230k, 4 267-269k, 8 271-279k, 16 305-308k; 1M writes equal.
 * 16 would fill the whole slack with buffers for +10 %. */
#define UZ_FUSE_URING_DEPTH 8
#define UZ_FUSE_URING_MAX_DEPTH 256

struct uz_fuse;

/* What the served file is made of.  Each returns 0 or a negative errno. */
struct uz_file_ops {
	/* Fills buf with len bytes at off (inside the file). */
	int (*read)(void *ctx, void *buf, size_t len, uint64_t off);
	/* Stores len bytes at off (inside the file). */
	int (*write)(void *ctx, const void *buf, size_t len, uint64_t off);
	/* Forgets [off, off + len): reads give zeros. */
	int (*discard)(void *ctx, uint64_t off, uint64_t len);
	/* A zero range that stays allocated (FALLOC_FL_ZERO_RANGE); NULL:
	 * discard serves it too. */
	int (*zero)(void *ctx, uint64_t off, uint64_t len);
	/* Bytes of data held (uncompressed), for st_blocks and statfs. */
	uint64_t (*stored)(void *ctx);
};

enum uz_uring_mode {
	UZ_URING_NO, /* /dev/fuse only */
	UZ_URING_AUTO, /* io_uring when the kernel offers it in INIT */
	UZ_URING_YES, /* io_uring or fail; turns enable_uring on (root) */
};

/* Parses "no", "auto" or "yes".  Returns 0, or -EINVAL for anything else.
 * Inline so that the config parser needs no FUSE code linked in. */
static inline int uz_uring_mode_parse(const char *s, enum uz_uring_mode *mode)
{
	static const char *const names[] = { [UZ_URING_NO] = "no", [UZ_URING_AUTO] = "auto", [UZ_URING_YES] = "yes" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*mode = (enum uz_uring_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

struct uz_fuse_params {
	const char *mountpoint; /* absolute path of an existing regular file */
	const char *fsname; /* shown in /proc/mounts */
	const char *subtype; /* "uzram": fuse.uzram in /proc/mounts */
	const struct uz_file_ops *ops;
	void *ctx; /* passed to ops */
	unsigned threads; /* /dev/fuse worker threads */
	uint64_t disksize;
	bool allow_other; /* let other users than the daemon's open the file (its mode still applies) */
	enum uz_uring_mode uring;
	unsigned uring_depth; /* entries per CPU queue, 1..UZ_FUSE_URING_MAX_DEPTH */
	/* Called once, from a FUSE thread, when the kernel's INIT has been
	 * answered and the transport is running: the file is usable from
	 * then on.  Not called when io-uring = yes cannot be had. */
	void (*ready)(void *arg);
	void *ready_arg;
	/* Called first in every thread that serves requests (the /dev/fuse
	 * workers, the io_uring queue threads), before it serves: the place
	 * to make the thread ready to serve without waiting for memory.
	 * Each thread's own buffers are made and touched here before it
	 * serves too.  NULL: nothing. */
	void (*thread_start)(void *arg);
	void *thread_arg;
};

/* Which transport serves the file, and why. */
struct uz_fuse_transport {
	bool io_uring; /* false: /dev/fuse */
	unsigned queues; /* io_uring: one per possible CPU */
	unsigned depth; /* io_uring: entries per queue */
	uint64_t ring_bytes; /* io_uring: header and payload buffers, rings */
	uint64_t buffer_bytes; /* every serving buffer, made and touched at start: ring_bytes and the /dev/fuse workers' */
	bool param_turned_on; /* io-uring = yes turned enable_uring on (system-wide) */
	char why[192]; /* one line for the journal */
};

/* The module parameter that lets FUSE connections use io_uring. */
#define UZ_FUSE_URING_PARAM "/sys/module/fuse/parameters/enable_uring"

/* Creates the session and mounts it over p->mountpoint.  For io_uring
 * (auto with the parameter on, or yes) it also builds the queues: one
 * ring and its buffers per possible CPU, threads pinned to each.  Returns
 * NULL with the reason in err. */
struct uz_fuse *uz_fuse_mount(const struct uz_fuse_params *p, char *err, size_t errlen);

/* Installs handlers so that SIGTERM and SIGINT end uz_fuse_run(). */
int uz_fuse_signals(struct uz_fuse *f);

/* Serves requests until a signal or an unmount, with threads made at
 * once (p->threads of them for /dev/fuse, two when io_uring queues carry
 * the I/O), each with its buffers made and touched before it serves:
 * no request waits for a thread or a buffer to be made.  Requests in
 * flight are finished before it returns.  Returns 0 or a negative errno; -EPROTO
 * when io-uring = yes could not be had, or when the kernel took io_uring
 * but the queues could not submit their registrations (it would wait for
 * them forever); uz_fuse_get_transport's why says why. */
int uz_fuse_run(struct uz_fuse *f);

/* The transport in use (meaningful once ready has been called).  f may be
 * NULL (not mounted yet: /dev/fuse, no queues). */
void uz_fuse_get_transport(struct uz_fuse *f, struct uz_fuse_transport *t);

/* Unmounts and frees.  NULL is accepted. */
void uz_fuse_unmount(struct uz_fuse *f);

#endif
