/* fuse/uring.c - FUSE over io_uring (kernel protocol 7.42), spoken with
 * liburing: one queue per possible CPU, each a ring of SQE128 entries
 * served by a thread pinned to that CPU.  A request arrives as a
 * completion whose buffers already hold it; the reply is written into the
 * same buffers and committed by one command that also fetches the next
 * request.  INIT, FORGET and INTERRUPT stay on /dev/fuse (libfuse's loop).
 * The layouts and the sequence: Documentation/filesystems/fuse-io-uring.rst,
 * include/uapi/linux/fuse.h and fs/fuse/dev_uring.c of Linux 6.14+. */
#define FUSE_USE_VERSION 314
#include "internal.h"
#include "uring_abi.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* --- the queues --- */

#define TAG_STOP UINT64_MAX /* the eventfd read that stops a queue's thread */

enum phase { PHASE_WAIT, PHASE_REGISTER, PHASE_STOP };

struct entry {
	struct uz_uring_req_header *hdr;
	void *payload;
	struct iovec iov[2];
};

struct queue {
	struct uz_uring *u;
	unsigned qid;
	struct io_uring ring;
	bool ring_ok;
	int efd;
	uint64_t efd_val;
	pthread_t thread;
	bool thread_ok;
	struct entry *ents;
};

struct uz_uring {
	struct uz_fuse *f;
	unsigned nq, depth;
	size_t payload;
	struct queue *q;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum phase phase;
	unsigned reported; /* queues that have tried to register */
	int reg_err; /* the first registration error the kernel gave */
	int local_err; /* the first registration that never reached it */
	void *hdr_mem, *payload_mem;
	size_t hdr_len, payload_len;
	uint64_t bytes;
};

int uz_uring_param(void)
{
	char c = 0;
	int fd = open(UZ_FUSE_URING_PARAM, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (read(fd, &c, 1) != 1)
		c = 0;
	close(fd);
	return c == 'Y' || c == 'y' || c == '1';
}

int uz_uring_param_enable(void)
{
	int fd = open(UZ_FUSE_URING_PARAM, O_WRONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "Y", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

static void prep_cmd(struct io_uring_sqe *sqe, unsigned qid, uint32_t op, uint64_t commit_id)
{
	/* SQE128: the command area runs past struct io_uring_sqe's 64 bytes,
	 * which the compiler cannot know (hence the pointer laundering). */
	unsigned char *raw = (unsigned char *)sqe;
	struct uz_uring_cmd_req *req;

	__asm__("" : "+r"(raw));
	memset(raw, 0, 128);
	req = (struct uz_uring_cmd_req *)(raw + offsetof(struct io_uring_sqe, cmd));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = 0; /* fixed file 0: /dev/fuse */
	sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = op;
	req->qid = (uint16_t)qid;
	req->commit_id = commit_id;
}

static uint32_t put_attr(struct uz_fuse *f, void *out)
{
	struct fuse_attr_out *ao = out;
	struct stat a;

	uzf_attr(f, &a);
	memset(ao, 0, sizeof(*ao));
	ao->attr_valid = 1; /* seconds, as the /dev/fuse path's fuse_reply_attr(req, a, 1.0) */
	ao->attr.ino = a.st_ino;
	ao->attr.size = (uint64_t)a.st_size;
	ao->attr.blocks = (uint64_t)a.st_blocks;
	ao->attr.atime = (uint64_t)a.st_atim.tv_sec;
	ao->attr.mtime = (uint64_t)a.st_mtim.tv_sec;
	ao->attr.ctime = (uint64_t)a.st_ctim.tv_sec;
	ao->attr.atimensec = (uint32_t)a.st_atim.tv_nsec;
	ao->attr.mtimensec = (uint32_t)a.st_mtim.tv_nsec;
	ao->attr.ctimensec = (uint32_t)a.st_ctim.tv_nsec;
	ao->attr.mode = a.st_mode;
	ao->attr.nlink = (uint32_t)a.st_nlink;
	ao->attr.uid = a.st_uid;
	ao->attr.gid = a.st_gid;
	ao->attr.blksize = (uint32_t)a.st_blksize;
	return sizeof(*ao);
}

void uz_uring_answer(struct uz_fuse *f, struct uz_uring_req_header *hdr, void *payload, size_t payload_cap)
{
	const struct fuse_in_header *in = (const void *)hdr->in_out;
	const void *op = hdr->op_in;
	uint32_t in_sz = hdr->ring_ent_in_out.payload_sz;
	uint64_t unique = in->unique;
	uint32_t out = 0;
	int err = 0;

	switch (in->opcode) {
	case FUSE_READ: {
		const struct fuse_read_in *r = op;
		size_t n = r->size < payload_cap ? r->size : payload_cap;

		err = uzf_read(f, payload, &n, (int64_t)r->offset);
		out = (uint32_t)n;
		break;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *w = op;
		struct fuse_write_out wo = { 0 };
		size_t n = w->size;

		if (n > in_sz || n > payload_cap) {
			err = -EINVAL;
			break;
		}
		err = uzf_write(f, payload, &n, (int64_t)w->offset);
		wo.size = (uint32_t)n;
		memcpy(payload, &wo, sizeof(wo));
		out = sizeof(wo);
		break;
	}
	case FUSE_GETATTR:
		if (in->nodeid != FUSE_ROOT_ID)
			err = -ENOENT;
		else
			out = put_attr(f, payload);
		break;
	case FUSE_SETATTR: {
		const struct fuse_setattr_in *s = op;
		/* The attributes libfuse passes on as to_set. */
		uint32_t others = s->valid & (FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_ATIME | FATTR_MTIME |
					      FATTR_ATIME_NOW | FATTR_MTIME_NOW | FATTR_CTIME);

		err = uzf_setattr(f, s->valid & FATTR_SIZE, s->size, others);
		if (!err)
			out = put_attr(f, payload);
		break;
	}
	case FUSE_OPEN: {
		/* Data lives compressed only: no page cache copy in the kernel. */
		struct fuse_open_out oo = { .open_flags = FOPEN_DIRECT_IO };

		memcpy(payload, &oo, sizeof(oo));
		out = sizeof(oo);
		break;
	}
	case FUSE_FALLOCATE: {
		const struct fuse_fallocate_in *a = op;

		err = uzf_fallocate(f, (int)a->mode, (int64_t)a->offset, (int64_t)a->length);
		break;
	}
	case FUSE_FLUSH:
	case FUSE_FSYNC:
	case FUSE_RELEASE:
		break; /* every write is in the store when answered */
	case FUSE_STATFS: {
		struct fuse_statfs_out so = { 0 };
		struct statvfs v;

		uzf_statfs(f, &v);
		so.st.blocks = v.f_blocks;
		so.st.bfree = v.f_bfree;
		so.st.bavail = v.f_bavail;
		so.st.files = v.f_files;
		so.st.ffree = v.f_ffree;
		so.st.bsize = (uint32_t)v.f_bsize;
		so.st.namelen = (uint32_t)v.f_namemax;
		so.st.frsize = (uint32_t)v.f_frsize;
		memcpy(payload, &so, sizeof(so));
		out = sizeof(so);
		break;
	}
	case FUSE_LOOKUP:
		err = -UZF_LOOKUP_ERR;
		break;
	default:
		err = -ENOSYS;
	}
	if (err)
		out = 0;
	struct fuse_out_header *oh = (void *)hdr->in_out;

	oh->len = (uint32_t)sizeof(*oh) + out;
	oh->error = err;
	oh->unique = unique;
	hdr->ring_ent_in_out.payload_sz = out;
}

/* Registers every entry of q and arms its stop eventfd.  A REGISTER that
 * fails completes at once, before io_uring_submit returns; one that
 * succeeds stays in the kernel until a request comes.  Returns 0, the
 * first error the kernel gave (it then falls back to /dev/fuse), or
 * -EREMOTEIO with *local set to the errno when the commands could not be
 * submitted at all (the kernel then waits for them). */
static int queue_register(struct queue *q, int *local)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
	struct io_uring_cqe *cqe;
	unsigned head;
	int ret, err = 0;

	io_uring_prep_read(sqe, q->efd, &q->efd_val, sizeof(q->efd_val), 0);
	sqe->user_data = TAG_STOP;
	for (unsigned i = 0; i < q->u->depth; i++) {
		sqe = io_uring_get_sqe(&q->ring);
		prep_cmd(sqe, q->qid, UZ_URING_CMD_REGISTER, 0);
		sqe->addr = (uintptr_t)q->ents[i].iov;
		sqe->len = 2;
		sqe->user_data = i;
	}
	ret = io_uring_submit(&q->ring);
	if (ret < 0) {
		*local = ret;
		return -EREMOTEIO;
	}
	io_uring_for_each_cqe(&q->ring, head, cqe) {
		if (cqe->user_data != TAG_STOP && cqe->res < 0 && !err)
			err = cqe->res;
	}
	return err;
}

/* The queue's loop: one io_uring_enter both commits the replies of the
 * last batch and waits for the next requests.  Ends on the stop eventfd,
 * after committing what it answered, or when every entry has been
 * completed with an error (the connection is gone: -ENOTCONN on unmount
 * or abort, -ECANCELED when the ring is torn down). */
static void serve(struct queue *q)
{
	unsigned live = q->u->depth;
	bool stop = false;

	while (!stop && live) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		int ret = io_uring_submit_and_wait(&q->ring, 1);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			break;
		io_uring_for_each_cqe(&q->ring, head, cqe) {
			n++;
			if (cqe->user_data == TAG_STOP) {
				stop = true;
				continue;
			}
			if (cqe->res < 0) {
				live--; /* this entry is out of the kernel for good */
				continue;
			}
			struct entry *e = &q->ents[cqe->user_data];
			uint64_t id = e->hdr->ring_ent_in_out.commit_id;

			uz_uring_answer(q->u->f, e->hdr, e->payload, q->u->payload);
			struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);

			prep_cmd(sqe, q->qid, UZ_URING_CMD_COMMIT_AND_FETCH, id);
			sqe->user_data = cqe->user_data;
		}
		io_uring_cq_advance(&q->ring, n);
	}
	io_uring_submit(&q->ring); /* the last replies */
}

static void *queue_main(void *arg)
{
	struct queue *q = arg;
	struct uz_uring *u = q->u;
	enum phase phase;
	cpu_set_t set;
	sigset_t all;
	int r, local = 0;

	/* SIGTERM and SIGINT are for the main thread's loop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* Requests are routed to the queue of the CPU their task runs on: serve
	 * them there.  A CPU outside our affinity mask (a cpuset) leaves the
	 * thread unpinned, which only costs locality.  Measured on 2 cores,
	 * 4K random reads at iodepth 1, three alternating runs: pinned here
	 * 31-35k IOPS, pinned to the other CPU 22-23k, unpinned 16k; at
	 * iodepth 16 the three are within the noise (257-308k). */
	CPU_ZERO(&set);
	CPU_SET(q->qid, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (u->f->p.thread_start)
		u->f->p.thread_start(u->f->p.thread_arg);
	pthread_mutex_lock(&u->lock);
	while (u->phase == PHASE_WAIT)
		pthread_cond_wait(&u->cond, &u->lock);
	phase = u->phase;
	pthread_mutex_unlock(&u->lock);
	if (phase == PHASE_STOP)
		return NULL;
	/* liburing 2.3 declares io_uring_enable_rings() but does not export it. */
	if ((q->ring.flags & IORING_SETUP_R_DISABLED) &&
	    syscall(__NR_io_uring_register, q->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0))
		local = -errno;
	r = local ? -EREMOTEIO : queue_register(q, &local);
	pthread_mutex_lock(&u->lock);
	if (r == -EREMOTEIO && !u->local_err)
		u->local_err = local;
	else if (r && !u->reg_err)
		u->reg_err = r;
	u->reported++;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	serve(q);
	return NULL;
}

/* Lets every queue thread register, and waits until all have tried.
 * Returns 0, the first error the kernel gave, or -EREMOTEIO with *local
 * set when a queue could not even submit its registrations. */
static int uring_start(struct uz_uring *u, int *local)
{
	int err;

	pthread_mutex_lock(&u->lock);
	u->phase = PHASE_REGISTER;
	pthread_cond_broadcast(&u->cond);
	while (u->reported < u->nq)
		pthread_cond_wait(&u->cond, &u->lock);
	*local = u->local_err;
	err = u->local_err ? -EREMOTEIO : u->reg_err;
	pthread_mutex_unlock(&u->lock);
	return err;
}

void uz_uring_destroy(struct uz_uring *u)
{
	uint64_t one = 1;

	if (!u)
		return;
	pthread_mutex_lock(&u->lock);
	u->phase = PHASE_STOP;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	for (unsigned i = 0; i < u->nq; i++) {
		struct queue *q = &u->q[i];

		if (q->thread_ok) {
			if (write(q->efd, &one, sizeof(one)) != sizeof(one))
				abort(); /* an eventfd write of 1 cannot fail */
			pthread_join(q->thread, NULL);
		}
		/* Closing the ring cancels the entries still waiting in the
		 * kernel (they complete with -ENOTCONN). */
		if (q->ring_ok)
			io_uring_queue_exit(&q->ring);
		if (q->efd >= 0)
			close(q->efd);
		free(q->ents);
	}
	if (u->payload_mem)
		munmap(u->payload_mem, u->payload_len);
	if (u->hdr_mem)
		munmap(u->hdr_mem, u->hdr_len);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u->q);
	free(u);
}

/* --- the INIT hook: libfuse's /dev/fuse I/O passes through here --- */

/* Notes whether the kernel's INIT request offers FUSE_OVER_IO_URING. */
static ssize_t hook_read(int fd, void *buf, size_t len, void *userdata)
{
	struct uz_fuse *f = userdata;
	ssize_t res = read(fd, buf, len);
	const struct fuse_in_header *in = buf;

	if (res >= (ssize_t)(sizeof(*in) + offsetof(struct fuse_init_in, unused)) && in->opcode == FUSE_INIT) {
		const struct fuse_init_in *ii = (const void *)(in + 1);

		f->init_offered = (ii->flags & FUSE_INIT_EXT) && (ii->flags2 & UZ_URING_INIT_FLAGS2);
		f->init_unique = in->unique;
	}
	return res;
}

/* After the INIT reply: registers the queues if the kernel took io_uring,
 * and says which transport serves the file. */
static void after_init(struct uz_fuse *f, bool accepted, const char *refused)
{
	struct uz_uring *u = f->uring;
	struct uz_fuse_transport t = { 0 };
	char reason[128];
	int err = 0, local = 0;

	if (accepted) {
		err = uring_start(u, &local);
		if (err == -EREMOTEIO) {
			/* The kernel took io_uring and waits for every queue; it
			 * falls back only when it refuses a registration itself.
			 * Requests would hang: stop, whatever io-uring says. */
			snprintf(t.why, sizeof(t.why), "cannot submit the io_uring queue registrations (%s): stopping, "
				 "since the kernel waits for them", strerror(-local));
			uzf_set_transport(f, &t);
			f->failed = -EPROTO;
			fuse_session_exit(f->se);
			return;
		}
		if (!err) {
			t.io_uring = true;
			t.queues = u->nq;
			t.depth = u->depth;
			t.ring_bytes = u->bytes;
			snprintf(t.why, sizeof(t.why), "io_uring (%u queues of %u entries, one per CPU; %.1f MiB of buffers)",
				 u->nq, u->depth, u->bytes / 1048576.0);
			uzf_set_transport(f, &t);
			uzf_ready(f);
			return;
		}
		snprintf(reason, sizeof(reason), "registering the io_uring queues failed (%s): the kernel fell back",
			 strerror(-err));
	} else {
		snprintf(reason, sizeof(reason), "%s", refused);
	}
	/* Queues that registered stay idle: the kernel switches only when all
	 * did.  Their threads end now. */
	pthread_mutex_lock(&u->lock);
	u->phase = PHASE_STOP;
	pthread_cond_broadcast(&u->cond);
	pthread_mutex_unlock(&u->lock);
	if (f->p.uring == UZ_URING_YES) {
		snprintf(t.why, sizeof(t.why), "io-uring = yes: %s", reason);
		uzf_set_transport(f, &t);
		f->failed = -EPROTO;
		fuse_session_exit(f->se);
		return;
	}
	snprintf(t.why, sizeof(t.why), "/dev/fuse (io-uring = auto: %s)", reason);
	uzf_set_transport(f, &t);
	uzf_ready(f);
}

const char *uz_uring_init_patch(void *msg, size_t len, bool offered, size_t payload)
{
	struct fuse_out_header *oh = msg;
	struct fuse_init_out *io = (void *)(oh + 1);

	if (!offered)
		return "the kernel did not offer io_uring in INIT";
	if (len < sizeof(*oh) + offsetof(struct fuse_init_out, unused) || oh->error)
		return "the INIT reply has no room for the io_uring flag";
	if (io->max_write > payload || (size_t)io->max_pages * 4096 > payload)
		return "the queues' payload buffers are smaller than the largest request";
	io->flags |= FUSE_INIT_EXT;
	io->flags2 |= UZ_URING_INIT_FLAGS2;
	return NULL;
}

/* The INIT reply on its way out: gathered, patched (uz_uring_init_patch),
 * written; then the queues register. */
static ssize_t init_reply(struct uz_fuse *f, int fd, const struct iovec *iov, int count)
{
	unsigned char msg[sizeof(struct fuse_out_header) + sizeof(struct fuse_init_out)] = { 0 };
	const char *refused;
	size_t len = 0;
	ssize_t res;
	int saved;

	for (int i = 0; i < count; i++) {
		if (iov[i].iov_len > sizeof(msg) - len)
			return writev(fd, iov, count); /* not an INIT reply we know: pass it on as it is */
		memcpy(msg + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	refused = uz_uring_init_patch(msg, len, f->init_offered, f->uring->payload);
	res = write(fd, msg, len);
	saved = errno;
	f->init_unique = 0;
	if (res == (ssize_t)len)
		after_init(f, !refused, refused);
	errno = saved;
	return res;
}

static ssize_t hook_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct uz_fuse *f = userdata;
	uint64_t init = f->init_unique;

	if (init && count > 0 && iov[0].iov_len >= sizeof(struct fuse_out_header) &&
	    ((const struct fuse_out_header *)iov[0].iov_base)->unique == init)
		return init_reply(f, fd, iov, count);
	return writev(fd, iov, count);
}

/* Sets up one queue's ring, eventfd and entries.  Returns 0 or a negative
 * errno. */
static int queue_init(struct uz_uring *u, struct queue *q, unsigned qid, int fd)
{
	int r;

	q->u = u;
	q->qid = qid;
	q->efd = eventfd(0, EFD_CLOEXEC);
	if (q->efd < 0)
		return -errno;
	q->ents = calloc(u->depth, sizeof(*q->ents));
	if (!q->ents)
		return -ENOMEM;
	for (unsigned i = 0; i < u->depth; i++) {
		struct entry *e = &q->ents[i];
		size_t k = (size_t)qid * u->depth + i;

		e->hdr = (struct uz_uring_req_header *)((char *)u->hdr_mem + k * sizeof(*e->hdr));
		e->payload = (char *)u->payload_mem + k * u->payload;
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ e->payload, u->payload };
	}
	/* One SQE per entry (each has at most one command in flight) and the
	 * eventfd read. */
	/* The queue's thread is its only submitter, and it runs the kernel's
	 * task work (copying requests in) only when it waits for completions:
	 * SINGLE_ISSUER and DEFER_TASKRUN.  4K random reads at iodepth 1 went
	 * from ~22k to ~30k IOPS with them, the rest unchanged (side by side,
	 * tests/bench/io.sh).  The ring starts disabled so that the thread that
	 * enables it becomes its issuer.  Kernels before 6.1 lack them. */
	r = io_uring_queue_init(u->depth + 1, &q->ring,
				IORING_SETUP_SQE128 | IORING_SETUP_R_DISABLED | IORING_SETUP_SINGLE_ISSUER |
					IORING_SETUP_DEFER_TASKRUN);
	if (r == -EINVAL)
		r = io_uring_queue_init(u->depth + 1, &q->ring, IORING_SETUP_SQE128);
	if (r)
		return r;
	q->ring_ok = true;
	r = io_uring_register_files(&q->ring, &fd, 1);
	if (r)
		return r;
	u->bytes += q->ring.sq.ring_sz + q->ring.cq.ring_sz + (uint64_t)q->ring.sq.ring_entries * 128;
	r = pthread_create(&q->thread, NULL, queue_main, q);
	if (r)
		return -r;
	q->thread_ok = true;
	return 0;
}

/* The kernel makes one queue per possible CPU (num_possible_cpus()) and
 * waits for all of them: count them as it does, from the possible mask
 * ("0-63", "0,2-5"), which may name more CPUs than are present (hotplug
 * slots of a VM).  Falls back to the configured CPUs. */
static unsigned possible_cpus(void)
{
	char buf[256];
	unsigned max = 0;
	bool any = false;
	ssize_t n;
	int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = '\0';
			for (char *p = buf; *p;) {
				char *end;
				unsigned long v = strtoul(p, &end, 10);

				if (end == p)
					break;
				any = true;
				if (v + 1 > max)
					max = (unsigned)v + 1;
				p = end;
				while (*p == '-' || *p == ',' || *p == '\n')
					p++;
			}
		}
	}
	if (!any) {
		int c = get_nprocs_conf();

		max = c > 0 ? (unsigned)c : 1;
	}
	return max;
}

struct uz_uring *uz_uring_create(struct uz_fuse *f, unsigned depth, char *err, size_t errlen)
{
	static const struct fuse_custom_io io = { .read = hook_read, .writev = hook_writev };
	struct uz_uring *u = calloc(1, sizeof(*u));
	int fd = fuse_session_fd(f->se), r = 0;

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->f = f;
	u->nq = possible_cpus();
	u->depth = depth;
	/* The kernel wants at least max(max_write, max_pages pages, 8 KiB). */
	u->payload = UZ_FUSE_MAX_WRITE;
	u->hdr_len = ((size_t)u->nq * depth * sizeof(struct uz_uring_req_header) + 4095) & ~(size_t)4095;
	u->payload_len = (size_t)u->nq * depth * u->payload;
	u->q = calloc(u->nq, sizeof(*u->q));
	for (unsigned i = 0; u->q && i < u->nq; i++)
		u->q[i].efd = -1;
	/* Written once here, before any request lands in them, so that the
	 * kernel never faults a page in while it copies a request (which,
	 * under memory pressure, could wait for this very daemon); the
	 * daemon's mlockall keeps them resident. */
	u->hdr_mem = mmap(NULL, u->hdr_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	u->payload_mem = mmap(NULL, u->payload_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			      -1, 0);
	if (u->hdr_mem == MAP_FAILED)
		u->hdr_mem = NULL;
	if (u->payload_mem == MAP_FAILED)
		u->payload_mem = NULL;
	if (!u->q || !u->hdr_mem || !u->payload_mem) {
		snprintf(err, errlen, "cannot map %zu MiB of io_uring buffers: %s", u->payload_len >> 20, strerror(errno));
		goto fail;
	}
	memset(u->hdr_mem, 0, u->hdr_len);
	memset(u->payload_mem, 0, u->payload_len);
	u->bytes = u->hdr_len + u->payload_len;
	for (unsigned i = 0; i < u->nq; i++) {
		r = queue_init(u, &u->q[i], i, fd);
		if (r) {
			snprintf(err, errlen, "cannot set up io_uring queue %u: %s", i, strerror(-r));
			goto fail;
		}
	}
	r = fuse_session_custom_io(f->se, &io, fd);
	if (r) {
		snprintf(err, errlen, "cannot hook the FUSE INIT reply: %s", strerror(-r));
		goto fail;
	}
	f->hooked = true;
	return u;
fail:
	uz_uring_destroy(u);
	return NULL;
}
