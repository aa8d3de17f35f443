/* tests/bench/fuseram.c - the FUSE ceiling for make bench-io: one regular
 * file served from plain RAM (no compression, no allocator), direct_io,
 * the same loop settings and thread count as uzramd.  Anything uzram does
 * beyond this is its own cost.
 * Usage: fuseram SIZE_BYTES THREADS PATH   (foreground; SIGTERM stops it) */
#define FUSE_USE_VERSION 314
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint8_t *ram;
static uint64_t size;

static void op_init(void *u, struct fuse_conn_info *conn)
{
	(void)u;
	conn->max_write = 1u << 20;
	conn->max_read = 1u << 20;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat a = { .st_ino = ino, .st_mode = S_IFREG | 0600, .st_nlink = 1, .st_size = (off_t)size,
			  .st_blksize = 4096 };

	(void)fi;
	fuse_reply_attr(req, &a, 1.0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	fi->direct_io = 1;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t n, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if ((uint64_t)off >= size)
		n = 0;
	else if (n > size - (uint64_t)off)
		n = size - (uint64_t)off;
	fuse_reply_buf(req, (const char *)ram + off, n);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t n, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if ((uint64_t)off >= size) {
		fuse_reply_err(req, ENOSPC);
		return;
	}
	if (n > size - (uint64_t)off)
		n = size - (uint64_t)off;
	memcpy(ram + off, buf, n);
	fuse_reply_write(req, n);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
			 struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	if ((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) && (uint64_t)off < size) {
		uint64_t end = (uint64_t)off + (uint64_t)len > size ? size : (uint64_t)off + (uint64_t)len;
		uint64_t a = ((uint64_t)off + 4095) & ~4095ull, b = end & ~4095ull;

		memset(ram + off, 0, (a < end ? a : end) - (uint64_t)off);
		if (b > a) {
			madvise(ram + a, b - a, MADV_DONTNEED);
			memset(ram + b, 0, end - b);
		}
	}
	fuse_reply_err(req, 0);
}

static void op_ok(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int d, struct fuse_file_info *fi)
{
	(void)d;
	op_ok(req, ino, fi);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs v = { .f_bsize = 4096, .f_frsize = 4096, .f_blocks = size / 4096, .f_namemax = 255 };

	(void)ino;
	fuse_reply_statfs(req, &v);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.getattr = op_getattr,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_ok,
	.release = op_ok,
	.fsync = op_fsync,
	.statfs = op_statfs,
	.fallocate = op_fallocate,
};

int main(int argc, char **argv)
{
	char *fargv[] = { "fuseram", "-o", "fsname=fuseram,subtype=fuseram,max_read=1048576", NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
	struct fuse_loop_config *cfg;
	struct fuse_session *se;
	int res;

	if (argc != 4) {
		fprintf(stderr, "usage: fuseram SIZE_BYTES THREADS PATH\n");
		return 2;
	}
	size = strtoull(argv[1], NULL, 0);
	ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	fuse_opt_free_args(&args);
	if (!se || fuse_set_signal_handlers(se) || fuse_session_mount(se, argv[3])) {
		fprintf(stderr, "fuseram: cannot mount %s\n", argv[3]);
		return 1;
	}
	signal(SIGINT, SIG_DFL); /* a background job: SIGTERM only */
	cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	fuse_loop_cfg_set_max_threads(cfg, (unsigned)atoi(argv[2]));
	fuse_loop_cfg_set_idle_threads(cfg, (unsigned)atoi(argv[2]));
	res = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return res ? 1 : 0;
}
