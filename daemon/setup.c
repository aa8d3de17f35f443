/* daemon/setup.c - the process and the block file, before anything is
 * served: daemonizing, memory locking, the I/O flusher flag, the path
 * (and a dead mount left on it). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "uzramd.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

/* PR_SET_IO_FLUSHER on the calling thread (1: set, never 0, which
 * clears it); records the outcome. */
static void io_flusher_try(struct daemon *d)
{
	int expect = -1;

	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) == 0) {
		atomic_compare_exchange_strong(&d->io_flusher, &expect, 1);
		return;
	}
	expect = atomic_load(&d->io_flusher);
	if (expect != 0) {
		atomic_store(&d->io_flusher_errno, errno);
		atomic_store(&d->io_flusher, 0);
	}
}

/* The I/O flusher flag, the thread's stack, its buffers and codec
 * contexts, and its malloc arena, all before it serves; mlockall keeps
 * them. */
void on_serving_thread(void *arg)
{
	struct daemon *d = arg;
	void *warm[64];

	io_flusher_try(d);
	uz_store_thread_warm();
	/* libfuse allocates a small request struct per request: this
	 * thread's malloc arena is made and grown now. */
	for (int i = 0; i < 64; i++) {
		warm[i] = malloc(1024);
		if (warm[i])
			((volatile char *)warm[i])[0] = ((volatile char *)warm[i])[1023] = 0;
	}
	for (int i = 0; i < 64; i++)
		free(warm[i]);
}

uint64_t own_memcg_limit(void)
{
	char line[PATH_MAX], file[PATH_MAX + 64] = "";
	unsigned long long v = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f && fgets(line, sizeof(line), f)) {
		char *path = strrchr(line, ':');

		if (!path)
			continue;
		path[strcspn(path, "\n")] = '\0';
		if (strstr(line, ":memory:"))
			snprintf(file, sizeof(file), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", path + 1);
		else if (strncmp(line, "0::", 3) == 0 && !file[0])
			snprintf(file, sizeof(file), "/sys/fs/cgroup%s/memory.max", path + 1);
	}
	if (f)
		fclose(f);
	f = file[0] ? fopen(file, "re") : NULL;
	if (f && fscanf(f, "%llu", &v) != 1)
		v = 0; /* "max" */
	if (f)
		fclose(f);
	return v >= (1ull << 60) ? 0 : v; /* v1's "no limit" is near 2^63 */
}

/* PATH answers ENOTCONN: a FUSE mount whose daemon is gone (killed with
 * SIGKILL, say).  When it was a uzram device, nothing can be saved from it
 * and it only blocks a restart: unmount it lazily.  Returns 0 when PATH is
 * free again, -1 (logged) otherwise. */
static int clear_dead_mount(const char *path)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	bool ours = false;

	while (f && (m = getmntent(f)))
		if (strcmp(m->mnt_dir, path) == 0)
			ours = strcmp(m->mnt_type, "fuse.uzram") == 0;
	if (f)
		endmntent(f);
	if (!ours) {
		uz_log(LOG_ERR, "%s: a dead FUSE mount of another program (Transport endpoint is not connected): "
		       "umount -l it", path);
		return -1;
	}
	if (umount2(path, MNT_DETACH)) {
		uz_log(LOG_ERR, "%s: stale mount of a uzramd that died: cannot unmount it: %s", path, strerror(errno));
		return -1;
	}
	uz_log(LOG_WARNING, "%s: stale mount of a uzramd that died (its data was lost with it): unmounted", path);
	return 0;
}

int prepare_path(struct daemon *d, const char *arg)
{
	char dir[PATH_MAX], base[NAME_MAX + 1], real[PATH_MAX], tmp[PATH_MAX];
	struct stat st, pst;
	int fd;

	if (strlen(arg) >= sizeof(tmp)) {
		uz_log(LOG_ERR, "%.64s...: path too long", arg);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s", arg);
	snprintf(base, sizeof(base), "%s", basename(tmp));
	snprintf(tmp, sizeof(tmp), "%s", arg);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	if (!realpath(dir, real)) {
		uz_log(LOG_ERR, "%s: directory %s: %s", arg, dir, strerror(errno));
		return -1;
	}
	if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		uz_log(LOG_ERR, "%s: not a file name", arg);
		return -1;
	}
	if (snprintf(d->path, sizeof(d->path), "%s/%s", strcmp(real, "/") ? real : "", base) >=
	    (int)sizeof(d->path)) {
		uz_log(LOG_ERR, "%s: path too long", arg);
		return -1;
	}
	snprintf(d->name, sizeof(d->name), "%s", base);
	/* ECONNABORTED: the same, caught while the kernel still tears the
	 * connection down (with io_uring that outlives the process briefly). */
	if (lstat(d->path, &st) && (errno == ENOTCONN || errno == ECONNABORTED) && clear_dead_mount(d->path))
		return -1;
	if (lstat(d->path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			uz_log(LOG_ERR, "%s: is a symbolic link; give the real path", d->path);
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			uz_log(LOG_ERR, "%s: exists and is not a regular file", d->path);
			return -1;
		}
		if (stat(real, &pst) == 0 && pst.st_dev != st.st_dev) {
			uz_log(LOG_ERR, "%s: already a mount point (another uzramd, or a stale mount: "
					"umount -l it)", d->path);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		uz_log(LOG_ERR, "%s: %s", d->path, strerror(errno));
		return -1;
	}
	fd = open(d->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		uz_log(LOG_ERR, "%s: cannot create: %s", d->path, strerror(errno));
		return -1;
	}
	close(fd);
	d->created_path = true;
	return 0;
}

void daemonize(struct daemon *d)
{
	int p[2], status;
	char ch;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC)) {
		uz_log(LOG_ERR, "pipe: %s", strerror(errno));
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		uz_log(LOG_ERR, "fork: %s", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &ch, 1) == 1)
			exit(0);
		waitpid(pid, &status, 0);
		exit(1);
	}
	close(p[0]);
	d->ready_fd = p[1];
	setsid();
}

void remove_created(const struct daemon *d)
{
	if (d->created_path)
		unlink(d->path);
}

void io_flusher_start(struct daemon *d)
{
	d->io_flusher = -1;
	io_flusher_try(d);
	if (d->io_flusher == 1)
		uz_log(LOG_INFO, "PR_SET_IO_FLUSHER: in force in every thread that serves requests (their "
		       "reclaim does no I/O)");
	else
		uz_log(LOG_WARNING, "PR_SET_IO_FLUSHER: %s%s; serving threads rely on memory made ready "
		       "ahead (buffers touched at start, the arena reserve) instead", strerror(d->io_flusher_errno),
		       d->io_flusher_errno == EPERM ? " (no CAP_SYS_RESOURCE)" : "");
}

/* Locked on fault: what is touched stays in RAM (a swapped-out daemon
 * behind a loop device can deadlock reclaim), what is not touched costs
 * nothing.  Everything a request touches is touched before serving
 * (on_serving_thread, the reserve), so that no request waits for a page.
 * glibc must not give the heap's top back either, or a request's small
 * allocations would fault it in again. */
int lock_memory(const struct daemon *d)
{
	if (!d->cfg.lock_memory)
		return 0;
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0)
		return 0;
	if (uz_config_is_swap(&d->cfg)) {
		uz_log(LOG_ERR, "mlockall: %s: a swap device must not be served by a daemon whose pages can be "
		       "swapped out (needs CAP_IPC_LOCK or RLIMIT_MEMLOCK)", strerror(errno));
		return -1;
	}
	uz_log(LOG_WARNING, "mlockall: %s (the daemon's memory may be swapped out; lock-memory = no silences "
	       "this)", strerror(errno));
	return 0;
}
