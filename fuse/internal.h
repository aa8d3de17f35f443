/* fuse/internal.h - shared by the two transports in fuse/: the session,
 * and the file's operations written once (uzfuse.c), which libfuse's
 * callbacks and the io_uring queues (uring.c) both call. */
#ifndef UZ_FUSE_INTERNAL_H
#define UZ_FUSE_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "uzfuse.h"

struct fuse_session;
struct uz_uring;

struct uz_fuse {
	struct fuse_session *se;
	struct uz_fuse_params p;
	struct timespec born;
	uid_t uid;
	gid_t gid;
	pthread_key_t buf_key;
	char *mountpoint;
	/* io_uring: the queues (NULL when not built), and what INIT said. */
	struct uz_uring *uring;
	_Atomic bool hooked; /* the INIT reply passes through uring.c's writev */
	_Atomic bool init_offered; /* the kernel's INIT offered FUSE_OVER_IO_URING */
	_Atomic uint64_t init_unique; /* the INIT request's id; 0 once answered */
	_Atomic int failed; /* io-uring = yes could not be had: uz_fuse_run returns it */
	sem_t dev_done; /* a /dev/fuse worker ended, or a stop signal came */
	_Atomic bool dev_running; /* uz_fuse_run is waiting on dev_done */
	_Atomic uint64_t dev_buffer_bytes; /* the /dev/fuse workers' buffers */
	pthread_mutex_t tlock; /* guards t */
	struct uz_fuse_transport t;
};

/* The error a LOOKUP gets: the root is a regular file. */
#define UZF_LOOKUP_ERR ENOTDIR

/* The file's attributes (a regular file of disksize bytes, 0600). */
void uzf_attr(struct uz_fuse *f, struct stat *a);

/* Whether a SETATTR may pass: only the size, set to what it is.  Returns 0
 * or -EPERM. */
int uzf_setattr(struct uz_fuse *f, bool size_set, uint64_t size, bool others_set);

/* Reads *len bytes at off into buf, cut at the end of the file (and to
 * UZ_FUSE_MAX_WRITE); *len becomes what was read (0 at or past the end).
 * Returns 0 or a negative errno. */
int uzf_read(struct uz_fuse *f, void *buf, size_t *len, int64_t off);

/* Writes *len bytes at off, cut at the end of the file (a write that
 * starts at the end fails with -ENOSPC, as on a block device).  *len
 * becomes what was written.  Returns 0 or a negative errno. */
int uzf_write(struct uz_fuse *f, const void *buf, size_t *len, int64_t off);

/* fallocate(2) on the file: punch hole and zero range discard, plain
 * preallocation succeeds.  Returns 0 or a negative errno. */
int uzf_fallocate(struct uz_fuse *f, int mode, int64_t off, int64_t len);

/* statfs(2) of the mount. */
void uzf_statfs(struct uz_fuse *f, struct statvfs *v);

/* Marks the file usable: calls p.ready once. */
void uzf_ready(struct uz_fuse *f);

/* Records which transport serves the file (keeps param_turned_on). */
void uzf_set_transport(struct uz_fuse *f, const struct uz_fuse_transport *t);

/* --- uring.c --- */

/* Whether enable_uring is on: 1, 0, or a negative errno (no such
 * parameter: the kernel lacks FUSE over io_uring). */
int uz_uring_param(void);

/* Turns enable_uring on.  Returns 0 or a negative errno (-EACCES: not
 * root). */
int uz_uring_param_enable(void);

/* Builds the queues for f (rings, buffers, threads waiting to register)
 * and routes the session's /dev/fuse I/O through the INIT hook.  Returns
 * NULL with the reason in err. */
struct uz_uring *uz_uring_create(struct uz_fuse *f, unsigned depth, char *err, size_t errlen);

/* Stops every queue thread (each finishes the requests it holds) and frees
 * the queues.  NULL is accepted. */
void uz_uring_destroy(struct uz_uring *u);

#endif
