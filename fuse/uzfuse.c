/* fuse/uzfuse.c - the file's operations, written once, and libfuse's
 * /dev/fuse transport for them.  The io_uring transport (uring.c) calls
 * the same uzf_* functions. */
#define FUSE_USE_VERSION 314
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UZF_PAGE 4096u

/* --- the operations, for both transports --- */

void uzf_attr(struct uz_fuse *f, struct stat *a)
{
	memset(a, 0, sizeof(*a));
	a->st_ino = FUSE_ROOT_ID;
	a->st_mode = S_IFREG | 0600;
	a->st_nlink = 1;
	a->st_uid = f->uid;
	a->st_gid = f->gid;
	a->st_size = (off_t)f->p.disksize;
	a->st_blksize = UZF_PAGE;
	a->st_blocks = (blkcnt_t)(f->p.ops->stored(f->p.ctx) / 512);
	a->st_atim = a->st_mtim = a->st_ctim = f->born;
}

/* The device's size, owner and mode are fixed: a block file. */
int uzf_setattr(struct uz_fuse *f, bool size_set, uint64_t size, bool others_set)
{
	if (size_set && size != f->p.disksize)
		return -EPERM;
	return others_set ? -EPERM : 0;
}

int uzf_read(struct uz_fuse *f, void *buf, size_t *len, int64_t off)
{
	size_t size = *len;

	*len = 0;
	if (off < 0)
		return -EINVAL;
	if ((uint64_t)off >= f->p.disksize)
		return 0; /* end of file */
	if (size > f->p.disksize - (uint64_t)off)
		size = (size_t)(f->p.disksize - (uint64_t)off);
	if (size > UZ_FUSE_MAX_WRITE)
		size = UZ_FUSE_MAX_WRITE;
	int err = f->p.ops->read(f->p.ctx, buf, size, (uint64_t)off);

	if (!err)
		*len = size;
	return err;
}

int uzf_write(struct uz_fuse *f, const void *buf, size_t *len, int64_t off)
{
	size_t size = *len;
	int err;

	*len = 0;
	if (off < 0)
		return -EINVAL;
	/* Like a block device: a write that starts at the end is out of
	 * space, one that crosses it is cut short. */
	if ((uint64_t)off < f->p.disksize && size > f->p.disksize - (uint64_t)off)
		size = (size_t)(f->p.disksize - (uint64_t)off);
	if ((uint64_t)off >= f->p.disksize && size)
		return -ENOSPC;
	err = f->p.ops->write(f->p.ctx, buf, size, (uint64_t)off);
	if (err == -EINVAL)
		err = -ENOSPC;
	if (!err)
		*len = size;
	return err;
}

int uzf_fallocate(struct uz_fuse *f, int mode, int64_t off, int64_t len)
{
	uint64_t end;

	if (off < 0 || len <= 0)
		return -EINVAL;
	end = (uint64_t)off + (uint64_t)len;
	if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) || mode == FALLOC_FL_ZERO_RANGE ||
	    mode == (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)) {
		if ((uint64_t)off >= f->p.disksize) /* beyond the end: nothing to free, the size stays */
			return (mode & FALLOC_FL_KEEP_SIZE) ? 0 : -EPERM;
		if (end > f->p.disksize) {
			if (!(mode & FALLOC_FL_KEEP_SIZE))
				return -EPERM;
			end = f->p.disksize;
		}
		if ((mode & FALLOC_FL_ZERO_RANGE) && f->p.ops->zero)
			return f->p.ops->zero(f->p.ctx, (uint64_t)off, end - (uint64_t)off);
		return f->p.ops->discard(f->p.ctx, (uint64_t)off, end - (uint64_t)off);
	}
	if (mode == 0 || mode == FALLOC_FL_KEEP_SIZE) /* the device is always fully "allocated" */
		return end <= f->p.disksize || (mode & FALLOC_FL_KEEP_SIZE) ? 0 : -EPERM;
	return -EOPNOTSUPP;
}

void uzf_statfs(struct uz_fuse *f, struct statvfs *v)
{
	memset(v, 0, sizeof(*v));
	v->f_bsize = UZF_PAGE;
	v->f_frsize = UZF_PAGE;
	v->f_blocks = f->p.disksize / UZF_PAGE;
	v->f_bfree = v->f_blocks - f->p.ops->stored(f->p.ctx) / UZF_PAGE;
	v->f_bavail = v->f_bfree;
	v->f_files = 1;
	v->f_namemax = 255;
}

void uzf_ready(struct uz_fuse *f)
{
	if (f->p.ready)
		f->p.ready(f->p.ready_arg);
}

void uzf_set_transport(struct uz_fuse *f, const struct uz_fuse_transport *t)
{
	pthread_mutex_lock(&f->tlock);
	bool turned = f->t.param_turned_on;

	f->t = *t;
	f->t.param_turned_on = turned;
	pthread_mutex_unlock(&f->tlock);
}

void uz_fuse_get_transport(struct uz_fuse *f, struct uz_fuse_transport *t)
{
	if (!f) {
		*t = (struct uz_fuse_transport){ .why = "not mounted yet" };
		return;
	}
	pthread_mutex_lock(&f->tlock);
	*t = f->t;
	pthread_mutex_unlock(&f->tlock);
	t->buffer_bytes = t->ring_bytes + atomic_load(&f->dev_buffer_bytes);
}

/* --- libfuse's callbacks: the /dev/fuse transport --- */

/* A 1 MiB read buffer per FUSE thread, freed when the thread ends. */
static void *thread_buf(struct uz_fuse *f)
{
	void *b = pthread_getspecific(f->buf_key);

	if (!b) {
		b = aligned_alloc(UZF_PAGE, UZ_FUSE_MAX_WRITE);
		if (b && pthread_setspecific(f->buf_key, b)) {
			free(b);
			b = NULL;
		}
	}
	return b;
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
	/* Requests land in the workers' own buffers, touched before they
	 * serve, never in pipes whose pages the kernel would allocate. */
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/* With the INIT hook in place, uring.c says ready once the reply is
	 * out and the queues are registered (or given up). */
	if (!f->hooked)
		uzf_ready(f);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat a;

	(void)fi;
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	uzf_attr(fuse_req_userdata(req), &a);
	fuse_reply_attr(req, &a, 1.0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct uz_fuse *f = fuse_req_userdata(req);
	struct stat a;
	int err;

	(void)ino;
	(void)fi;
	err = uzf_setattr(f, to_set & FUSE_SET_ATTR_SIZE, (uint64_t)attr->st_size, to_set & ~FUSE_SET_ATTR_SIZE);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	uzf_attr(f, &a);
	fuse_reply_attr(req, &a, 1.0);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, UZF_LOOKUP_ERR);
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
	void *buf = thread_buf(f);
	int err;

	(void)ino;
	(void)fi;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = uzf_read(f, buf, &size, off);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_buf(req, buf, size);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	int err;

	(void)ino;
	(void)fi;
	err = uzf_write(fuse_req_userdata(req), buf, &size, off);
	if (err)
		fuse_reply_err(req, -err);
	else
		fuse_reply_write(req, size);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, -uzf_fallocate(fuse_req_userdata(req), mode, off, len));
}

/* FLUSH, FSYNC, RELEASE: every write is in the store when answered. */
static void op_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)datasync;
	op_ok(req, ino, fi);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs v;

	(void)ino;
	uzf_statfs(fuse_req_userdata(req), &v);
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
	.flush = op_ok,
	.release = op_ok,
	.fsync = op_fsync,
	.statfs = op_statfs,
	.fallocate = op_fallocate,
};

static void set_why(struct uz_fuse *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_why(struct uz_fuse *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->t.why, sizeof(f->t.why), fmt, ap);
	va_end(ap);
}

/* Decides, before the mount, whether to build io_uring queues.  Returns 1
 * (build them), 0 (no: f->t.why says why), or -1 with the reason in err
 * when io-uring = yes cannot be had. */
static int plan_uring(struct uz_fuse *f, char *err, size_t errlen)
{
	int on;

	if (f->p.uring == UZ_URING_NO) {
		set_why(f, "/dev/fuse (io-uring = no)");
		return 0;
	}
	on = uz_uring_param();
	if (on < 0) {
		if (f->p.uring == UZ_URING_YES) {
			snprintf(err, errlen, "io-uring = yes: this kernel has no FUSE over io_uring (no %s)",
				 UZ_FUSE_URING_PARAM);
			return -1;
		}
		set_why(f, "/dev/fuse (io-uring = auto: this kernel has no FUSE over io_uring)");
		return 0;
	}
	if (!on && f->p.uring == UZ_URING_AUTO) {
		set_why(f, "/dev/fuse (io-uring = auto: %s is off; 'echo Y >' it, or io-uring = yes, to use io_uring)",
			UZ_FUSE_URING_PARAM);
		return 0;
	}
	if (!on) {
		int r = uz_uring_param_enable();

		if (r) {
			snprintf(err, errlen, "io-uring = yes: cannot turn on %s: %s%s", UZ_FUSE_URING_PARAM,
				 strerror(-r), r == -EACCES || r == -EPERM ? " (root only)" : "");
			return -1;
		}
		f->t.param_turned_on = true;
	}
	return 1;
}

/* Builds the queues once the session is mounted (they need its fd).
 * Returns 0 (built, or auto falling back with f->t.why saying why), or -1
 * with the reason in err when io-uring = yes cannot be had. */
static int build_uring(struct uz_fuse *f, char *err, size_t errlen)
{
	char why[160];

	f->uring = uz_uring_create(f, f->p.uring_depth, why, sizeof(why));
	if (f->uring)
		return 0;
	if (f->p.uring == UZ_URING_YES) {
		snprintf(err, errlen, "io-uring = yes: %s", why);
		return -1;
	}
	set_why(f, "/dev/fuse (io-uring = auto: %s)", why);
	return 0;
}

struct uz_fuse *uz_fuse_mount(const struct uz_fuse_params *p, char *err, size_t errlen)
{
	char opts[512];
	char *argv[] = { "uzramd", "-o", opts, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct uz_fuse *f = calloc(1, sizeof(*f));
	int want_uring;

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->p = *p;
	f->uid = getuid();
	f->gid = getgid();
	pthread_mutex_init(&f->tlock, NULL);
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
	snprintf(opts, sizeof(opts), "fsname=%s,subtype=%s,max_read=%u,default_permissions%s", p->fsname,
		 p->subtype, UZ_FUSE_MAX_WRITE, p->allow_other ? ",allow_other" : "");
	f->se = fuse_session_new(&args, &uz_ops, sizeof(uz_ops), f);
	fuse_opt_free_args(&args); /* libfuse may have grown a copy */
	if (!f->se) {
		snprintf(err, errlen, "cannot create the FUSE session (is /dev/fuse there?)");
		goto fail;
	}
	want_uring = plan_uring(f, err, errlen);
	if (want_uring < 0) {
		fuse_session_destroy(f->se);
		goto fail;
	}
	if (fuse_session_mount(f->se, f->mountpoint)) {
		snprintf(err, errlen, "cannot mount FUSE over %s (see the message above)", f->mountpoint);
		fuse_session_destroy(f->se);
		goto fail;
	}
	if (want_uring && build_uring(f, err, errlen)) {
		fuse_session_unmount(f->se);
		fuse_session_destroy(f->se);
		goto fail;
	}
	return f;
fail:
	pthread_key_delete(f->buf_key);
	pthread_mutex_destroy(&f->tlock);
	free(f->mountpoint);
	free(f);
	return NULL;
}

static struct fuse_session *signalled_session;

static struct uz_fuse *signalled_fuse;

static void on_stop_signal(int sig)
{
	int saved = errno;

	(void)sig;
	if (signalled_session)
		fuse_session_exit(signalled_session);
	/* Wakes uz_fuse_run's wait, whichever thread took the signal. */
	if (signalled_fuse && atomic_load(&signalled_fuse->dev_running))
		sem_post(&signalled_fuse->dev_done);
	errno = saved;
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
	 * blocks these signals in its worker threads; the io_uring queue
	 * threads block them too. */
	signalled_session = f->se;
	signalled_fuse = f;
	sigemptyset(&sa.sa_mask);
	for (unsigned i = 0; i < sizeof(stop) / sizeof(stop[0]); i++)
		if (sigaction(stop[i], &sa, NULL))
			return -errno;
	return sigaction(SIGPIPE, &ign, NULL) ? -errno : 0;
}

/* libfuse's receive buffer: FUSE_MAX_MAX_PAGES (256) pages of payload and
 * its header page, the most it reads in one go (se->bufsize). */
#define UZF_RECV_BUF (UZ_FUSE_MAX_WRITE + UZF_PAGE)

/* Writes every page of a buffer once: resident (and locked) before a
 * request lands in it.  Volatile: a memset() after malloc() may become
 * calloc()'s untouched pages. */
static void touch(void *p, size_t len)
{
	volatile unsigned char *b = p;

	for (size_t i = 0; i < len; i += UZF_PAGE)
		b[i] = 0;
}

/* A /dev/fuse worker.  libfuse fills fbuf.mem, made and touched before
 * the worker serves, without allocating; READ answers from the thread's
 * reply buffer (thread_buf), touched as well. */
struct dev_worker {
	struct uz_fuse *f;
	pthread_t thread;
	bool started;
	int error; /* why it stopped, if not an unmount or a signal */
	struct fuse_buf fbuf;
};

static void *dev_worker_main(void *arg)
{
	struct dev_worker *w = arg;
	struct uz_fuse *f = w->f;
	void *reply;
	sigset_t all;

	/* SIGTERM and SIGINT are for the main thread's wait. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (f->p.thread_start)
		f->p.thread_start(f->p.thread_arg);
	reply = thread_buf(f);
	if (reply)
		touch(reply, UZ_FUSE_MAX_WRITE);
	/* Cancelled only while waiting for a request, never in the middle
	 * of one (as libfuse's own loop). */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	while (!fuse_session_exited(f->se)) {
		int res;

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		res = fuse_session_receive_buf(f->se, &w->fbuf);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (res == -EINTR || res == -EAGAIN)
			continue;
		if (res <= 0) {
			/* 0: unmounted, or the connection was aborted */
			w->error = res;
			fuse_session_exit(f->se);
			break;
		}
		fuse_session_process_buf(f->se, &w->fbuf);
	}
	sem_post(&f->dev_done);
	return NULL;
}

int uz_fuse_run(struct uz_fuse *f)
{
	/* With io_uring the /dev/fuse loop still carries INIT, FORGET and
	 * INTERRUPT, and everything if the kernel falls back. */
	unsigned n = f->uring && f->p.threads > 2 ? 2 : f->p.threads, started = 0;
	struct dev_worker *w = calloc(n ? n : 1, sizeof(*w));
	int res = 0;

	if (!w || sem_init(&f->dev_done, 0, 0)) {
		free(w);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n; i++) {
		w[i].f = f;
		w[i].fbuf.mem = aligned_alloc(UZF_PAGE, UZF_RECV_BUF);
		if (!w[i].fbuf.mem) {
			res = -ENOMEM;
			break;
		}
		touch(w[i].fbuf.mem, UZF_RECV_BUF);
		w[i].fbuf.size = UZF_RECV_BUF;
		if (pthread_create(&w[i].thread, NULL, dev_worker_main, &w[i])) {
			res = -errno;
			break;
		}
		w[i].started = true;
		started++;
	}
	atomic_store(&f->dev_buffer_bytes, (uint64_t)started * (UZF_RECV_BUF + UZ_FUSE_MAX_WRITE));
	if (!started)
		fuse_session_exit(f->se);
	atomic_store(&f->dev_running, true);
	/* A stop signal (its handler posts dev_done too) or a worker that
	 * ended wakes this. */
	while (!fuse_session_exited(f->se))
		sem_wait(&f->dev_done);
	for (unsigned i = 0; i < n; i++)
		if (w[i].started)
			pthread_cancel(w[i].thread);
	for (unsigned i = 0; i < n; i++) {
		if (w[i].started) {
			pthread_join(w[i].thread, NULL);
			if (w[i].error < 0 && w[i].error != -ENODEV && !res)
				res = w[i].error;
		}
		free(w[i].fbuf.mem);
	}
	free(w);
	atomic_store(&f->dev_running, false);
	atomic_store(&f->dev_buffer_bytes, 0);
	sem_destroy(&f->dev_done);
	/* Each queue thread answers what it holds, then ends. */
	uz_uring_destroy(f->uring);
	f->uring = NULL;
	if (f->failed)
		return f->failed;
	return res;
}

void uz_fuse_unmount(struct uz_fuse *f)
{
	void *b;

	if (!f)
		return;
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signalled_session = NULL;
	signalled_fuse = NULL;
	uz_uring_destroy(f->uring);
	fuse_session_unmount(f->se);
	fuse_session_destroy(f->se);
	b = pthread_getspecific(f->buf_key);
	free(b);
	pthread_key_delete(f->buf_key);
	pthread_mutex_destroy(&f->tlock);
	free(f->mountpoint);
	free(f);
}
