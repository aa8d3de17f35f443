/* fuse/uzfuse.c - the libfuse low-level operations of a uzram device. */
#define FUSE_USE_VERSION 314
#include "uzfuse.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../compress/page.h"

struct uz_fuse {
	struct uz_store *st;
	struct fuse_session *se;
	struct uz_fuse_params p;
	struct timespec born;
	uid_t uid;
	gid_t gid;
	pthread_key_t buf_key;
	char *mountpoint;
};

/* A 1 MiB read buffer per FUSE thread, freed when the thread ends. */
static void *thread_buf(struct uz_fuse *f)
{
	void *b = pthread_getspecific(f->buf_key);

	if (!b) {
		b = aligned_alloc(UZ_PAGE_SIZE, UZ_FUSE_MAX_WRITE);
		if (b && pthread_setspecific(f->buf_key, b)) {
			free(b);
			b = NULL;
		}
	}
	return b;
}

static void fill_attr(struct uz_fuse *f, struct stat *a)
{
	struct uz_store_stats s;

	uz_store_stats(f->st, &s);
	memset(a, 0, sizeof(*a));
	a->st_ino = FUSE_ROOT_ID;
	a->st_mode = S_IFREG | 0600;
	a->st_nlink = 1;
	a->st_uid = f->uid;
	a->st_gid = f->gid;
	a->st_size = (off_t)f->p.disksize;
	a->st_blksize = UZ_PAGE_SIZE;
	a->st_blocks = (blkcnt_t)(s.orig_data_size / 512);
	a->st_atim = a->st_mtim = a->st_ctim = f->born;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct uz_fuse *f = userdata;

	conn->max_write = UZ_FUSE_MAX_WRITE;
	conn->max_read = UZ_FUSE_MAX_WRITE;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
	conn->want &= ~(unsigned)FUSE_CAP_AUTO_INVAL_DATA;
	if (f->p.ready)
		f->p.ready(f->p.ready_arg);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct uz_fuse *f = fuse_req_userdata(req);
	struct stat a;

	(void)fi;
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(f, &a);
	fuse_reply_attr(req, &a, 1.0);
}

/* The device's size, owner and mode are fixed: a block file. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct uz_fuse *f = fuse_req_userdata(req);
	struct stat a;

	(void)ino;
	(void)fi;
	if ((to_set & FUSE_SET_ATTR_SIZE) && (uint64_t)attr->st_size != f->p.disksize) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (to_set & ~FUSE_SET_ATTR_SIZE) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fill_attr(f, &a);
	fuse_reply_attr(req, &a, 1.0);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, ENOTDIR);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	/* Data lives compressed only: no page cache copy in the kernel. */
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct uz_fuse *f = fuse_req_userdata(req);
	void *buf;
	int err;

	(void)ino;
	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= f->p.disksize) {
		fuse_reply_buf(req, NULL, 0); /* end of file */
		return;
	}
	if (size > f->p.disksize - (uint64_t)off)
		size = (size_t)(f->p.disksize - (uint64_t)off);
	if (size > UZ_FUSE_MAX_WRITE)
		size = UZ_FUSE_MAX_WRITE;
	buf = thread_buf(f);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = uz_store_read(f->st, buf, size, (uint64_t)off);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, buf, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct uz_fuse *f = fuse_req_userdata(req);
	int err;

	(void)ino;
	(void)fi;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* Like a block device: a write that starts at the end is out of
	 * space, one that crosses it is cut short. */
	if ((uint64_t)off < f->p.disksize && size > f->p.disksize - (uint64_t)off)
		size = (size_t)(f->p.disksize - (uint64_t)off);
	err = uz_store_write(f->st, buf, size, (uint64_t)off);
	if (err == -EINVAL)
		err = -ENOSPC;
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_write(req, size);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	struct uz_fuse *f = fuse_req_userdata(req);
	uint64_t end;
	int err;

	(void)ino;
	(void)fi;
	if (off < 0 || len <= 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	end = (uint64_t)off + (uint64_t)len;
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) || mode == FALLOC_FL_ZERO_RANGE ||
	    mode == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) {
		if ((uint64_t)off >= f->p.disksize) {
			/* Beyond the end: nothing to free, and the size stays. */
			fuse_reply_err(req, (mode & FALLOC_FL_KEEP_SIZE) ? 0 : EPERM);
			return;
		}
		if (end > f->p.disksize) {
			if (!(mode & FALLOC_FL_KEEP_SIZE)) {
				fuse_reply_err(req, EPERM);
				return;
			}
			end = f->p.disksize;
		}
		err = uz_store_discard(f->st, (uint64_t)off, end - (uint64_t)off);
		fuse_reply_err(req, -err);
		return;
	}
	if (mode == 0 || mode == FALLOC_FL_KEEP_SIZE) {
		/* Preallocation: the device is always fully "allocated". */
		fuse_reply_err(req, end <= f->p.disksize || (mode & FALLOC_FL_KEEP_SIZE) ? 0 : EPERM);
		return;
	}
	fuse_reply_err(req, EOPNOTSUPP);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0); /* every write is in the store when answered */
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct uz_fuse *f = fuse_req_userdata(req);
	struct uz_store_stats s;
	struct statvfs v;

	(void)ino;
	uz_store_stats(f->st, &s);
	memset(&v, 0, sizeof(v));
	v.f_bsize = UZ_PAGE_SIZE;
	v.f_frsize = UZ_PAGE_SIZE;
	v.f_blocks = f->p.disksize / UZ_PAGE_SIZE;
	v.f_bfree = v.f_blocks - s.orig_data_size / UZ_PAGE_SIZE;
	v.f_bavail = v.f_bfree;
	v.f_files = 1;
	v.f_namemax = 255;
	fuse_reply_statfs(req, &v);
}

static const struct fuse_lowlevel_ops uz_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.statfs = op_statfs,
	.fallocate = op_fallocate,
};

struct uz_fuse *uz_fuse_mount(struct uz_store *st, const struct uz_fuse_params *p, char *err,
			      size_t errlen)
{
	char opts[512];
	char *argv[] = { "uzramd", "-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct uz_fuse *f = calloc(1, sizeof(*f));

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->st = st;
	f->p = *p;
	f->uid = getuid();
	f->gid = getgid();
	clock_gettime(CLOCK_REALTIME, &f->born);
	f->mountpoint = strdup(p->mountpoint);
	if (!f->mountpoint || pthread_key_create(&f->buf_key, free)) {
		snprintf(err, errlen, "out of memory");
		free(f->mountpoint);
		free(f);
		return NULL;
	}
	/* default_permissions: the kernel checks the file's mode and owner
	 * (0600, the daemon's user), which matters once allow_other is on. */
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=uzram,max_read=%u,default_permissions%s", p->fsname,
		 UZ_FUSE_MAX_WRITE, p->allow_other ? ",allow_other" : "");
	f->se = fuse_session_new(&args, &uz_ops, sizeof(uz_ops), f);
	fuse_opt_free_args(&args); /* libfuse may have grown a copy */
	if (!f->se) {
		snprintf(err, errlen, "cannot create the FUSE session (is /dev/fuse there?)");
		goto fail;
	}
	if (fuse_session_mount(f->se, f->mountpoint)) {
		snprintf(err, errlen, "cannot mount FUSE over %s (see the message above)", f->mountpoint);
		fuse_session_destroy(f->se);
		goto fail;
	}
	return f;
fail:
	pthread_key_delete(f->buf_key);
	free(f->mountpoint);
	free(f);
	return NULL;
}

static struct fuse_session *signalled_session;

static void on_stop_signal(int sig)
{
	(void)sig;
	if (signalled_session)
		fuse_session_exit(signalled_session);
}

int uz_fuse_signals(struct uz_fuse *f)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };
	struct sigaction ign = { .sa_handler = SIG_IGN };
	static const int stop[] = { SIGTERM, SIGINT };

	/* Installed whatever the signals' inherited state: a shell starts
	 * background jobs with SIGINT ignored, and libfuse's own helper
	 * would leave it so.  No SA_RESTART: the signal must interrupt the
	 * main thread's wait so that the loop sees the exit flag.  libfuse
	 * blocks these signals in its worker threads. */
	signalled_session = f->se;
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
		if (sigaction(stop[i], &sa, NULL))
			return -errno;
	return sigaction(SIGPIPE, &ign, NULL) ? -errno : 0;
}

int uz_fuse_run(struct uz_fuse *f)
{
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	int res;

	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, f->p.threads);
	fuse_loop_cfg_set_idle_threads(cfg, f->p.threads);
	res = fuse_session_loop_mt(f->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return res < 0 ? res : 0;
}

void uz_fuse_unmount(struct uz_fuse *f)
{
	void *b;

	if (!f)
		return;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signalled_session = NULL;
	fuse_session_unmount(f->se);
	fuse_session_destroy(f->se);
	b = pthread_getspecific(f->buf_key);
	free(b);
	pthread_key_delete(f->buf_key);
	free(f->mountpoint);
	free(f);
}
