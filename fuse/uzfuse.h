/* fuse/uzfuse.h - the device file as a FUSE file system whose root is one
 * regular file.  The only part of uzram that knows FUSE. */
#ifndef UZ_FUSE_UZFUSE_H
#define UZ_FUSE_UZFUSE_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "../store/store.h"

#define UZ_FUSE_MAX_WRITE (1u << 20) /* 1 MiB requests */

struct uz_fuse;

struct uz_fuse_params {
	const char *mountpoint; /* absolute path of an existing regular file */
	const char *fsname; /* shown in /proc/mounts */
	unsigned threads;
	uint64_t disksize;
	bool allow_other; /* let other users than the daemon's open the file (its mode still applies) */
	/* Called once, from a FUSE thread, when the kernel's INIT has been
	 * answered: the file is usable from then on. */
	void (*ready)(void *arg);
	void *ready_arg;
};

/* Creates the session and mounts it over p->mountpoint.  Returns NULL
 * with the reason in err. */
struct uz_fuse *uz_fuse_mount(struct uz_store *st, const struct uz_fuse_params *p, char *err,
			      size_t errlen);

/* Installs handlers so that SIGTERM and SIGINT end uz_fuse_run(). */
int uz_fuse_signals(struct uz_fuse *f);

/* Serves requests on p->threads threads until a signal or an unmount.
 * Requests in flight are finished before it returns.  Returns 0 or a
 * negative errno. */
int uz_fuse_run(struct uz_fuse *f);

/* Unmounts and frees.  NULL is accepted. */
void uz_fuse_unmount(struct uz_fuse *f);

#endif
