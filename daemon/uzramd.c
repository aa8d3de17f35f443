/* daemon/uzramd.c - the uzram daemon: settings, life cycle, signals, and
 * the answers of the control socket.  Wires fuse/ to store/. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <mntent.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../compress/page.h"
#include "../fuse/uzfuse.h"
#include "../store/backing.h"
#include "../store/store.h"
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "stats.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

#define UZ_MAX_CLI 64

struct daemon {
	struct uz_config cfg;
	char config_file[PATH_MAX]; /* "": none */
	const char *cli_key[UZ_MAX_CLI]; /* command-line settings, re-applied on reload */
	const char *cli_val[UZ_MAX_CLI];
	int ncli;
	pthread_mutex_t reload_lock;
	sem_t hk_wake;
	pthread_t hk_thread;
	bool hk_running;
	/* Shared between threads (and a signal handler): atomics, which are
	 * lock-free here and so safe in a handler too (TSan found the race
	 * that volatile left). */
	_Atomic int reload_asked;
	_Atomic bool hk_stop;
	_Atomic bool ready;
	char path[PATH_MAX];
	char name[NAME_MAX + 1];
	char socket[PATH_MAX];
	bool foreground;
	bool created_path;
	int ready_fd;
	struct uz_store *st;
	struct uz_fuse *_Atomic fuse; /* set once mounted; the socket thread may ask before */
	struct uz_ctl *ctl;
	struct uz_snapshot_info restored; /* persist: what was restored at start */
	bool have_restored;
	/* PR_SET_IO_FLUSHER in the serving threads: 1 in force, 0 refused
	 * (the first refusal's errno in io_flusher_errno), -1 not tried yet. */
	_Atomic int io_flusher;
	_Atomic int io_flusher_errno;
};

static int reload(struct daemon *d, char *out, size_t outlen);
static void notify_status(struct daemon *d);

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: uzramd [OPTION]... [PATH]\n"
		"Serve a compressed RAM block file at PATH (created if missing) through FUSE.\n\n"
		"  -i, --instance NAME    device NAME: config /etc/uzram/NAME.conf, socket\n"
		"                         /run/uzram/NAME.sock, PATH from the config or /run/uzram/NAME\n"
		"  -s, --size SIZE        device size, a multiple of 4096 (K, M, G, T suffixes)\n"
		"  -S, --socket PATH      control socket (default /run/uzram/NAME.sock)\n"
		"  -c, --config FILE      settings file (default /etc/uzram/NAME.conf if present)\n"
		"  -m, --mem-limit SIZE   most memory the store may use (0: no limit)\n"
		"  -a, --arena KIND       hugetlb, thp, plain or auto\n"
		"  -t, --threads N        FUSE worker threads (/dev/fuse)\n"
		"  -U, --io-uring MODE    FUSE over io_uring: auto, yes or no\n"
		"      --io-uring-depth N entries per CPU queue with io_uring\n"
		"  -C, --compaction PCT   compact when stranded space passes PCT%% of the data, or off\n"
		"  -L, --lock-memory Y/N  lock the daemon's memory in RAM as it is touched (default yes)\n"
		"  -f, --foreground       stay in the foreground and log to stderr\n"
		"  -h, --help             show this help\n\n"
		"Without --foreground, uzramd returns once PATH is ready to use.\n"
		"SIGTERM or SIGINT unmounts PATH and stops the daemon; SIGHUP re-reads the config\n"
		"and applies mem-limit and compaction (so does 'uzramctl reload').\n");
}

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

/* The first thing each serving thread does (uz_fuse_params): the I/O
 * flusher flag, its stack, its buffers and codec contexts, and its
 * malloc arena, all before it serves; mlockall keeps them. */
static void on_serving_thread(void *arg)
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

/* The memory limit of the cgroup this process is in (v1's memory
 * controller, or v2's memory.max), or 0 when there is none. */
static uint64_t own_memcg_limit(void)
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

/* The socket thread runs compaction, writeback and recompression by
 * hand: it takes the store's locks too. */
static void ctl_thread_start(void)
{
	uz_store_thread_warm();
}

static void cmd_stats(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	struct uz_fuse_transport t;
	struct uz_store_stats s;

	(void)arg;
	uz_store_stats(d->st, &s);
	uz_fuse_get_transport(d->fuse, &t);
	uz_stats_format(&s, &(struct uz_stats_info){ .name = d->name,
						    .path = d->path,
						    .algorithm = d->cfg.algorithm,
						    .config = d->config_file,
						    .mount_point = d->cfg.mount_point,
						    .fs_type = d->cfg.fs_type,
						    .mount_options = d->cfg.options,
						    .pid = getpid(),
						    .transport = t.io_uring ? "io_uring" : "dev",
						    .io_uring_queues = t.queues,
						    .io_uring_depth = t.depth,
						    .streams = t.io_uring ? t.queues : d->cfg.threads,
						    .ring_bytes = t.ring_bytes,
						    .buffer_bytes = t.buffer_bytes,
						    .backing_file = d->cfg.backing_file,
						    .persist = d->cfg.persist,
						    .io_flusher = atomic_load(&d->io_flusher) == 1,
						    .swap = uz_config_is_swap(&d->cfg),
						    .swap_priority = d->cfg.swap_priority,
						    .swap_discard = uz_config_swap_discard(&d->cfg),
						    .restored = d->have_restored ? &d->restored : NULL },
			out, outlen);
}

static void cmd_compact(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	struct uz_compact_result r;

	(void)arg;
	uz_store_compact(d->st, &r);
	uz_log(LOG_INFO, "compaction asked for: %llu bytes freed, %llu pages emptied, %llu objects moved",
	       (unsigned long long)r.bytes_freed, (unsigned long long)r.pages_compacted,
	       (unsigned long long)r.objects_moved);
	snprintf(out, outlen, "ok\nbytes_freed %llu\npages_compacted %llu\nobjects_moved %llu\nobjects_unmoved %llu\n",
		 (unsigned long long)r.bytes_freed, (unsigned long long)r.pages_compacted,
		 (unsigned long long)r.objects_moved, (unsigned long long)r.objects_unmoved);
}

static void cmd_reload(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	(void)arg;
	reload(d, out, outlen);
}

/* mem-limit SIZE: until the next reload or restart, like zram's mem_limit. */
static void cmd_mem_limit(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	uint64_t v;

	if (uz_parse_size(arg, &v)) {
		snprintf(out, outlen, "error: mem-limit: '%.64s' is not a size (digits with K, M, G or T; 0 for none)\n",
			 arg);
		return;
	}
	uz_store_set_mem_limit(d->st, v);
	uz_log(LOG_INFO, "mem-limit set over the socket: %llu bytes", (unsigned long long)v);
	snprintf(out, outlen, "ok\nmem_limit %llu\n", (unsigned long long)v);
}

/* idle all | AGE: zram's idle file. */
static void cmd_idle(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	uint64_t age = 0;
	int64_t n;

	if (strcmp(arg, "all") != 0 && (uz_parse_age(arg, &age) || age == 0 || age > UZ_IDLE_MAX_AGE_S)) {
		snprintf(out, outlen, "error: idle: '%.64s' is neither 'all' nor an age from 1s to %uh (such as 90s, "
			 "30min, 2h)\n", arg, UZ_IDLE_MAX_AGE_S / 3600);
		return;
	}
	n = uz_store_mark_idle(d->st, age);
	uz_log(LOG_INFO, "idle %s: %lld pages marked", arg, (long long)n);
	snprintf(out, outlen, "ok\nmarked %lld\n", (long long)n);
}

static double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static const char *const wb_types[] = { "idle", "huge", "huge_idle", "all" };

/* Parses "TYPE [NAME=VALUE]" (writeback's and recompress's arguments):
 * the page type into *type, VALUE (a size from lo to hi) into *value if
 * given.  Returns 0, or -1 with an error reply in out (cmd names the
 * command, hint says what VALUE may be). */
static int parse_type_option(const char *cmd, const char *arg, const char *name, uint64_t lo, uint64_t hi,
			     const char *hint, enum uz_writeback_type *type, uint64_t *value, char *out, size_t outlen)
{
	const char *opt = strchr(arg, ' ');
	size_t tlen = opt ? (size_t)(opt - arg) : strlen(arg), nlen = strlen(name);
	int t;

	for (t = 0; t < 4 && (strlen(wb_types[t]) != tlen || strncmp(arg, wb_types[t], tlen)); t++)
		;
	if (t == 4) {
		snprintf(out, outlen, "error: %s: '%.*s' is not idle, huge, huge_idle or all\n", cmd,
			 (int)(tlen < 31 ? tlen : 31), arg);
		return -1;
	}
	if (opt && (strncmp(opt + 1, name, nlen) || opt[1 + nlen] != '=' || uz_parse_size(opt + 2 + nlen, value) ||
		    *value < lo || *value > hi)) {
		snprintf(out, outlen, "error: %s: '%.64s' is not %s=%s\n", cmd, opt + 1, name, hint);
		return -1;
	}
	*type = (enum uz_writeback_type)t;
	return 0;
}

/* writeback TYPE [limit=SIZE]: zram's writeback file. */
static void cmd_writeback(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	struct uz_writeback_result r;
	enum uz_writeback_type t;
	uint64_t limit = 0;

	if (parse_type_option("writeback", arg, "limit", 1, UINT64_MAX, "SIZE (such as limit=64M)", &t, &limit, out,
			      outlen))
		return;
	if (!d->cfg.backing_file[0]) {
		snprintf(out, outlen, "error: writeback: no backing store (set backing-file in the config)\n");
		return;
	}
	uz_store_writeback(d->st, t, limit, &r);
	uz_log(r.error && !r.pages ? LOG_ERR : LOG_INFO,
	       "writeback %s: %llu pages, %llu bytes written, %llu bytes of memory freed%s%s", arg,
	       (unsigned long long)r.pages, (unsigned long long)r.bytes, (unsigned long long)r.bytes_freed,
	       r.error ? "; the backing store: " : "", r.error ? strerror(-r.error) : "");
	if (r.error && !r.pages) {
		snprintf(out, outlen, "error: writeback: the backing store: %s (nothing written; the pages stay in "
			 "memory)\n", strerror(-r.error));
		return;
	}
	snprintf(out, outlen, "ok\npages %llu\nbytes %llu\nbytes_freed %llu\nfailed %llu\nerror %s\n",
		 (unsigned long long)r.pages, (unsigned long long)r.bytes, (unsigned long long)r.bytes_freed,
		 (unsigned long long)r.failed, r.error ? strerror(-r.error) : "none");
}

static void on_writeback(void *ctx, const struct uz_writeback_result *r)
{
	struct daemon *d = ctx;

	uz_log(r->error && !r->pages ? LOG_ERR : LOG_INFO,
	       "writeback-after %llus: %llu pages, %llu bytes written, %llu bytes of memory freed%s%s",
	       (unsigned long long)d->cfg.writeback_after, (unsigned long long)r->pages,
	       (unsigned long long)r->bytes, (unsigned long long)r->bytes_freed,
	       r->error ? "; the backing store: " : "", r->error ? strerror(-r->error) : "");
}

/* recompress TYPE [threshold=BYTES]: zram's recompress file. */
static void cmd_recompress(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	struct uz_recompress_result r;
	struct timespec t0, t1;
	enum uz_writeback_type t;
	uint64_t threshold = 0;
	char algo[32];
	double secs;

	if (parse_type_option("recompress", arg, "threshold", 0, UZ_PAGE_SIZE,
			      "BYTES (0 to 4096, such as threshold=1024)", &t, &threshold, out, outlen))
		return;
	if (d->cfg.recomp.algo == UZ_ALGO_LZ4) {
		snprintf(out, outlen, "error: recompress: recompression is off (set recomp-algorithm, such as zstd, "
			 "in the config)\n");
		return;
	}
	uz_codec_format(&d->cfg.recomp, algo, sizeof(algo));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uz_store_recompress(d->st, t, (uint32_t)threshold, &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = seconds_between(&t0, &t1);
	uz_log(r.error ? LOG_ERR : LOG_INFO,
	       "recompress %s with %s: %llu pages tried, %llu kept, %llu bytes saved, %llu bytes of memory freed, "
	       "%.1f s (%.0f MB/s)%s%s", arg, algo, (unsigned long long)r.tried, (unsigned long long)r.kept,
	       (unsigned long long)r.bytes_saved, (unsigned long long)r.bytes_freed, secs,
	       secs > 0 ? r.orig_bytes / secs / 1e6 : 0.0, r.error ? "; stopped: " : "",
	       r.error ? strerror(-r.error) : "");
	snprintf(out, outlen,
		 "ok\nalgorithm %s\ntried %llu\nkept %llu\nbytes_saved %llu\nbytes_freed %llu\norig_bytes %llu\n"
		 "seconds %.3f\nerror %s\n",
		 algo, (unsigned long long)r.tried, (unsigned long long)r.kept, (unsigned long long)r.bytes_saved,
		 (unsigned long long)r.bytes_freed, (unsigned long long)r.orig_bytes, secs,
		 r.error ? strerror(-r.error) : "none");
}

static void on_recompress(void *ctx, const struct uz_recompress_result *r)
{
	struct daemon *d = ctx;

	uz_log(r->error ? LOG_ERR : LOG_INFO,
	       "recompress-after %llus: %llu pages tried, %llu kept, %llu bytes saved, %llu bytes of memory freed%s%s",
	       (unsigned long long)d->cfg.recompress_after, (unsigned long long)r->tried,
	       (unsigned long long)r->kept, (unsigned long long)r->bytes_saved, (unsigned long long)r->bytes_freed,
	       r->error ? "; stopped: " : "", r->error ? strerror(-r->error) : "");
}

/* Long runs (writeback, recompression, snapshot, restore): once one has
 * taken PROGRESS_AFTER_S, a line every PROGRESS_EVERY_S with how far it
 * is, its rate and what is left. */
#define PROGRESS_AFTER_S 5.0
#define PROGRESS_EVERY_S 5.0

static struct {
	pthread_mutex_t lock;
	struct timespec start[4], last[4];
} progress = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void on_progress(void *ctx, enum uz_progress_what what, uint64_t done, uint64_t total)
{
	static const char *const name[] = { "writeback", "recompression", "snapshot", "restore" };
	static const char *const of[] = { "of the device scanned", "of the device scanned", "of the device scanned",
					  "of the snapshot read" };
	struct timespec now;
	double el, rate;

	(void)ctx;
	if ((unsigned)what > UZ_PROGRESS_RESTORE)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&progress.lock);
	if (done == 0) {
		progress.start[what] = progress.last[what] = now;
		pthread_mutex_unlock(&progress.lock);
		return;
	}
	el = seconds_between(&progress.start[what], &now);
	if (el < PROGRESS_AFTER_S || seconds_between(&progress.last[what], &now) < PROGRESS_EVERY_S) {
		pthread_mutex_unlock(&progress.lock);
		return;
	}
	progress.last[what] = now;
	pthread_mutex_unlock(&progress.lock);
	rate = (double)done / el;
	uz_log(LOG_INFO, "%s: %.0f %% (%.1f of %.1f GiB %s) in %.0f s, %.0f MB/s, about %.0f s left", name[what],
	       total ? 100.0 * (double)done / (double)total : 0.0, (double)done / 1073741824.0,
	       (double)total / 1073741824.0, of[what], el, rate / 1e6,
	       rate > 0 && total > done ? (double)(total - done) / rate : 0.0);
}

static void cmd_help(struct daemon *d, const char *arg, char *out, size_t outlen);

/* The control socket's commands.  Those marked admin change state: root
 * or the admin group only (SO_PEERCRED).  Every later command that
 * changes anything must be marked so. */
static const struct {
	const char *name;
	void (*run)(struct daemon *d, const char *arg, char *out, size_t outlen);
	bool admin;
	bool takes_arg;
	const char *help;
	bool takes_option; /* a second, optional argument (writeback's limit=SIZE) */
} commands[] = {
	{ "stats", cmd_stats, false, false, "every counter, one 'key value' per line", false },
	{ "help", cmd_help, false, false, "this list", false },
	{ "compact", cmd_compact, true, false, "compact now; answers the bytes freed", false },
	{ "reload", cmd_reload, true, false, "re-read the config file; apply mem-limit and compaction", false },
	{ "mem-limit", cmd_mem_limit, true, true, "SIZE: set the memory limit now (0: none)", false },
	{ "idle", cmd_idle, true, true, "all|AGE: mark every stored page, or those untouched for AGE, idle", false },
	{ "writeback", cmd_writeback, true, true,
	  "idle|huge|huge_idle|all [limit=SIZE]: write those pages to the backing store", true },
	{ "recompress", cmd_recompress, true, true,
	  "idle|huge|huge_idle|all [threshold=BYTES]: recompress those LZ4 pages with recomp-algorithm", true },
};

static void cmd_help(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	size_t len = (size_t)snprintf(out, outlen, "ok\n");

	(void)d;
	(void)arg;
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]) && len < outlen; i++)
		len += (size_t)snprintf(out + len, outlen - len, "%s: %s%s\n", commands[i].name, commands[i].help,
					commands[i].admin ? " (admin)" : "");
}

static void ctl_handler(void *ctx, const struct uz_ctl_peer *peer, int argc, char **argv, char *out,
			size_t outlen)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[0], commands[i].name) != 0)
			continue;
		if (commands[i].admin && !peer->admin) {
			uz_log(LOG_WARNING, "control socket: refused '%s' from uid %u gid %u (pid %d): not an admin",
			       argv[0], (unsigned)peer->uid, (unsigned)peer->gid, (int)peer->pid);
			snprintf(out, outlen, "error: permission denied: '%s' changes state (root or the admin-group "
				 "only)\n", argv[0]);
		} else if (argc != 1 + commands[i].takes_arg && !(commands[i].takes_option && argc == 3)) {
			snprintf(out, outlen, commands[i].takes_option ? "error: '%s' takes one or two arguments\n"
				 : commands[i].takes_arg ? "error: '%s' takes one argument\n"
				 : "error: '%s' takes no argument\n", argv[0]);
		} else if (argc == 3) {
			char both[160];

			snprintf(both, sizeof(both), "%.64s %.64s", argv[1], argv[2]);
			commands[i].run(ctx, both, out, outlen);
		} else {
			commands[i].run(ctx, argc > 1 ? argv[1] : NULL, out, outlen);
		}
		return;
	}
	snprintf(out, outlen, "error: unknown command '%.64s' (try 'help')\n", argv[0]);
}

static void on_ready(void *arg)
{
	struct daemon *d = arg;
	struct uz_fuse_transport t;
	int fd;

	uz_fuse_get_transport(d->fuse, &t);
	if (t.param_turned_on)
		uz_log(LOG_NOTICE, "io-uring = yes: turned on %s (system-wide: every FUSE mount made from now on "
		       "may use io_uring)", UZ_FUSE_URING_PARAM);
	uz_log(LOG_INFO, "%s ready: %llu bytes, socket %s, transport %s", d->path, (unsigned long long)d->cfg.size,
	       d->socket, t.why);
	d->ready = true;
	sd_notify(0, "READY=1");
	notify_status(d);
	if (d->ready_fd < 0)
		return;
	(void)!write(d->ready_fd, "1", 1);
	close(d->ready_fd);
	d->ready_fd = -1;
	/* Detach from the terminal of whoever started us. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		uz_log_to_syslog();
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
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

/* Makes PATH a regular file we may mount over.  Returns 0 or -1 (logged). */
static int prepare_path(struct daemon *d, const char *arg)
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

/* Builds a configuration: defaults, then the file (if any), then the
 * command-line settings.  Returns 0, or -1 with the reason in err. */
static int build_config(const struct daemon *d, struct uz_config *cfg, char *err, size_t errlen)
{
	char why[PATH_MAX + 256];

	uz_config_defaults(cfg);
	if (d->config_file[0] && uz_config_load(d->config_file, cfg, err, errlen))
		return -1;
	for (int i = 0; i < d->ncli; i++) {
		if (uz_config_set(cfg, d->cli_key[i], d->cli_val[i], why, sizeof(why))) {
			snprintf(err, errlen, "--%s: %s", d->cli_key[i], why);
			return -1;
		}
	}
	if (uz_config_finish(cfg, why, 512)) {
		int n = snprintf(err, errlen, "%s%s", d->config_file, d->config_file[0] ? ": " : "");

		if (n >= 0 && (size_t)n < errlen)
			snprintf(err + n, errlen - (size_t)n, "%.511s", why);
		return -1;
	}
	return 0;
}

static int parse_args(struct daemon *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'c' },
		{ "instance", required_argument, NULL, 'i' },
		{ "mem-limit", required_argument, NULL, 'm' },
		{ "arena", required_argument, NULL, 'a' },
		{ "threads", required_argument, NULL, 't' },
		{ "compaction", required_argument, NULL, 'C' },
		{ "lock-memory", required_argument, NULL, 'L' },
		{ "io-uring", required_argument, NULL, 'U' },
		{ "io-uring-depth", required_argument, NULL, 'D' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = NULL, *instance = NULL, *path = NULL;
	char err[PATH_MAX + 512], tmp[PATH_MAX], name[NAME_MAX + 1] = "";
	struct stat st;
	int c;

	while ((c = getopt_long(argc, argv, "s:S:c:i:m:a:t:C:L:U:fh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'S':
		case 'm':
		case 'a':
		case 't':
		case 'C':
		case 'L':
		case 'U':
		case 'D':
			if (d->ncli == UZ_MAX_CLI) {
				uz_log(LOG_ERR, "too many options");
				return -1;
			}
			for (const struct option *o = opts; o->name; o++)
				if (o->val == c)
					d->cli_key[d->ncli] = o->name;
			d->cli_val[d->ncli++] = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'i':
			instance = optarg;
			break;
		case 'f':
			d->foreground = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'uzramd --help'.\n");
			return -1;
		}
	}
	if (argc - optind > 1) {
		uz_log(LOG_ERR, "one PATH only, got '%s' too", argv[argc - 1]);
		fprintf(stderr, "Try 'uzramd --help'.\n");
		return -1;
	}
	if (optind < argc)
		path = argv[optind];
	if (instance) {
		if (!instance[0] || strlen(instance) > NAME_MAX || strchr(instance, '/') || instance[0] == '.') {
			uz_log(LOG_ERR, "--instance '%s': not a device name", instance);
			return -1;
		}
		snprintf(name, sizeof(name), "%s", instance);
	} else if (path) {
		snprintf(tmp, sizeof(tmp), "%s", path);
		snprintf(name, sizeof(name), "%s", basename(tmp));
	}
	/* The file: --config, else /etc/uzram/NAME.conf when it exists. */
	if (config) {
		snprintf(d->config_file, sizeof(d->config_file), "%s", config);
	} else if (name[0]) {
		snprintf(d->config_file, sizeof(d->config_file), "%s/%s.conf", UZ_CONF_DIR, name);
		if (stat(d->config_file, &st) != 0)
			d->config_file[0] = '\0';
	}
	if (build_config(d, &d->cfg, err, sizeof(err))) {
		uz_log(LOG_ERR, "%s", err);
		return -1;
	}
	if (!path && d->cfg.path[0])
		path = d->cfg.path;
	if (!path && instance) {
		snprintf(tmp, sizeof(tmp), "%s/%s", UZ_RUN_DIR, instance);
		path = tmp;
	}
	if (!path) {
		uz_log(LOG_ERR, "missing PATH (the block file to serve): give it, or --instance, or 'path' in the config");
		fprintf(stderr, "Try 'uzramd --help'.\n");
		return -1;
	}
	if (argc > optind && d->cfg.path[0] && strcmp(d->cfg.path, path) != 0)
		uz_log(LOG_WARNING, "config path %s ignored: serving %s as asked", d->cfg.path, path);
	if (prepare_path(d, path))
		return -1;
	if (name[0])
		snprintf(d->name, sizeof(d->name), "%s", name);
	if (d->cfg.socket[0])
		snprintf(d->socket, sizeof(d->socket), "%s", d->cfg.socket);
	else if (snprintf(d->socket, sizeof(d->socket), "%s/%s.sock", UZ_RUN_DIR, d->name) >=
		 (int)sizeof(d->socket))
		return -1;
	return 0;
}

/* What a running daemon can change: mem-limit and the compaction
 * threshold.  Re-reads the file (and re-applies the command line), applies
 * those, and says what else changed but needs a restart.  Writes a reply
 * for the control socket into out.  Returns 0, or -1 when the file has an
 * error (nothing is changed then). */
static int reload(struct daemon *d, char *out, size_t outlen)
{
	struct uz_config n;
	char err[PATH_MAX + 512], applied[128] = "", pending[384] = "";
	int ret = 0;

	pthread_mutex_lock(&d->reload_lock);
	sd_notify(0, "RELOADING=1");
	if (build_config(d, &n, err, sizeof(err))) {
		uz_log(LOG_ERR, "reload: %s; keeping the settings in use", err);
		snprintf(out, outlen, "error: %s; nothing changed\n", err);
		ret = -1;
		goto out;
	}
	if (n.mem_limit != d->cfg.mem_limit) {
		uz_store_set_mem_limit(d->st, n.mem_limit);
		uz_log(LOG_INFO, "reload: mem-limit %llu -> %llu", (unsigned long long)d->cfg.mem_limit,
		       (unsigned long long)n.mem_limit);
		d->cfg.mem_limit = n.mem_limit;
		strcat(applied, " mem-limit");
	}
	if (memcmp(&n.recomp, &d->cfg.recomp, sizeof(n.recomp)) || n.recompress_after != d->cfg.recompress_after) {
		char was[32], now[32];

		uz_store_set_recompress(d->st, &n.recomp, n.recompress_after);
		uz_codec_format(&d->cfg.recomp, was, sizeof(was));
		uz_codec_format(&n.recomp, now, sizeof(now));
		uz_log(LOG_INFO, "reload: recomp-algorithm %s -> %s, recompress-after %llus -> %llus",
		       d->cfg.recomp.algo == UZ_ALGO_LZ4 ? "off" : was, n.recomp.algo == UZ_ALGO_LZ4 ? "off" : now,
		       (unsigned long long)d->cfg.recompress_after, (unsigned long long)n.recompress_after);
		d->cfg.recomp = n.recomp;
		d->cfg.recompress_after = n.recompress_after;
		strcat(applied, " recompression");
	}
	if (n.reserve != d->cfg.reserve && n.reserve && d->cfg.reserve) {
		uz_store_set_reserve(d->st, n.reserve);
		uz_log(LOG_INFO, "reload: reserve %llu -> %llu", (unsigned long long)d->cfg.reserve,
		       (unsigned long long)n.reserve);
		d->cfg.reserve = n.reserve;
		strcat(applied, " reserve");
	}
	if (n.compact_ppm != d->cfg.compact_ppm) {
		uz_store_set_compaction(d->st, n.compact_ppm);
		uz_log(LOG_INFO, "reload: compaction %u ppm -> %u ppm", d->cfg.compact_ppm, n.compact_ppm);
		d->cfg.compact_ppm = n.compact_ppm;
		strcat(applied, " compaction");
	}
#define PENDING(cond, key)                     \
	do {                                   \
		if (cond)                      \
			strcat(pending, " " key); \
	} while (0)
	PENDING(n.size != d->cfg.size, "size");
	PENDING(n.arena != d->cfg.arena, "arena");
	PENDING(n.threads != d->cfg.threads, "threads");
	PENDING(n.io_uring != d->cfg.io_uring, "io-uring");
	PENDING(n.io_uring_depth != d->cfg.io_uring_depth, "io-uring-depth");
	PENDING(n.lock_memory != d->cfg.lock_memory, "lock-memory");
	PENDING(n.allow_other != d->cfg.allow_other, "allow-other");
	PENDING(n.socket_mode != d->cfg.socket_mode, "socket-mode");
	PENDING(n.socket_group != d->cfg.socket_group, "socket-group");
	PENDING(n.admin_group != d->cfg.admin_group, "admin-group");
	PENDING(strcmp(n.algorithm, d->cfg.algorithm), "compression-algorithm");
	PENDING(strcmp(n.socket, d->cfg.socket), "socket");
	PENDING(strcmp(n.path, d->cfg.path), "path");
	PENDING(strcmp(n.fs_type, d->cfg.fs_type), "fs-type");
	PENDING(strcmp(n.mount_point, d->cfg.mount_point), "mount-point");
	PENDING(strcmp(n.options, d->cfg.options), "options");
	PENDING(strcmp(n.backing_file, d->cfg.backing_file), "backing-file");
	PENDING(strcmp(n.persist, d->cfg.persist), "persist");
	PENDING(n.persist_discard != d->cfg.persist_discard, "persist-mismatch");
	PENDING(n.backing_size != d->cfg.backing_size, "backing-size");
	PENDING(n.writeback_after != d->cfg.writeback_after, "writeback-after");
	PENDING(n.writeback_limit != d->cfg.writeback_limit, "writeback-limit");
	PENDING(n.swap_priority != d->cfg.swap_priority, "swap-priority");
	/* made or not at start: its size alone changes while running */
	PENDING(n.reserve != d->cfg.reserve && (!n.reserve || !d->cfg.reserve), "reserve");
#undef PENDING
	if (pending[0])
		uz_log(LOG_WARNING, "reload: cannot change%s while running: restart the service to apply", pending);
	uz_log(LOG_INFO, "reload of %s: %s%s", d->config_file[0] ? d->config_file : "(no config file)",
	       applied[0] ? "applied" : "nothing to apply", applied);
	snprintf(out, outlen, "ok\napplied%s\nneeds_restart%s\n", applied, pending);
out:
	sd_notify(0, "READY=1");
	pthread_mutex_unlock(&d->reload_lock);
	return ret;
}

/* Housekeeping: reloads on SIGHUP, and keeps systemd's STATUS= current. */
static struct daemon *hk_daemon;

static void on_sighup(int sig)
{
	(void)sig;
	if (hk_daemon) {
		hk_daemon->reload_asked = 1;
		sem_post(&hk_daemon->hk_wake);
	}
}

static void notify_status(struct daemon *d)
{
	struct uz_store_stats s;

	uz_store_stats(d->st, &s);
	sd_notifyf(0, "STATUS=DATA %.1f MiB COMPR %.1f MiB TOTAL %.1f MiB", s.orig_data_size / 1048576.0,
		   s.compr_data_size / 1048576.0, s.mem_used_total / 1048576.0);
}

static void *housekeeping(void *arg)
{
	struct daemon *d = arg;
	char out[1024];
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	uz_store_thread_warm(); /* its policies take the store's locks */
	while (!d->hk_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		sem_timedwait(&d->hk_wake, &ts);
		if (d->hk_stop)
			break;
		if (d->reload_asked) {
			d->reload_asked = 0;
			reload(d, out, sizeof(out));
		}
		if (d->ready)
			notify_status(d);
	}
	return NULL;
}

/* Forks; the parent waits until the child says the file is ready (exit 0)
 * or dies (exit 1: the child has printed why).  Returns in the child. */
static void daemonize(struct daemon *d)
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

/* The block file's contents: the store. */
static int store_file_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	return uz_store_read(ctx, buf, len, off);
}

static int store_file_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	return uz_store_write(ctx, buf, len, off);
}

static int store_file_discard(void *ctx, uint64_t off, uint64_t len)
{
	return uz_store_discard(ctx, off, len);
}

static int store_file_zero(void *ctx, uint64_t off, uint64_t len)
{
	return uz_store_zero(ctx, off, len);
}

static uint64_t store_file_stored(void *ctx)
{
	return uz_store_stored(ctx);
}

static const struct uz_file_ops store_file_ops = {
	.read = store_file_read,
	.write = store_file_write,
	.discard = store_file_discard,
	.zero = store_file_zero,
	.stored = store_file_stored,
};

static void remove_created(struct daemon *d)
{
	if (d->created_path)
		unlink(d->path);
}

/* persist: loads the snapshot before anything is served.  Returns 0 (also
 * when there is none yet, or it was discarded), -1 when the daemon must
 * not start. */
static int restore(struct daemon *d)
{
	char err[PATH_MAX + 256] = "";
	struct uz_snapshot_info ri;
	int r;

	sd_notifyf(0, "STATUS=restoring %s", d->cfg.persist);
	r = uz_store_restore(d->st, d->cfg.persist, &ri, err, sizeof(err));
	if (r == 0) {
		uz_log(LOG_INFO, "persist: restored %llu pages (%llu bytes stored, %llu written back before) from %s, "
		       "written %llds ago, in %.2f s (%.0f MB/s)", (unsigned long long)ri.pages,
		       (unsigned long long)ri.object_bytes, (unsigned long long)ri.written_back, d->cfg.persist,
		       (long long)(time(NULL) - ri.created), ri.seconds,
		       ri.seconds > 0 ? ri.file_bytes / ri.seconds / 1e6 : 0.0);
		d->restored = ri;
		d->have_restored = true;
		return 0;
	}
	if (r == -ENOENT) {
		uz_log(LOG_INFO, "persist: no snapshot at %s yet: starting empty", d->cfg.persist);
		return 0;
	}
	if (r == -EINVAL && d->cfg.persist_discard) {
		uz_log(LOG_WARNING, "persist: %s; persist-mismatch = discard: starting empty (the snapshot is "
		       "replaced at the next clean stop)", err);
		return 0;
	}
	uz_log(LOG_ERR, "persist: %s; not starting%s", err,
	       r == -EINVAL ? " (persist-mismatch = discard would start empty)" : "");
	return -1;
}

/* persist: writes the snapshot at a clean stop.  Returns 0 or -1. */
static int snapshot(struct daemon *d)
{
	char err[PATH_MAX + 256] = "";
	struct uz_snapshot_info si;

	sd_notifyf(0, "STATUS=writing a snapshot to %s", d->cfg.persist);
	uz_log(LOG_INFO, "persist: writing a snapshot to %s", d->cfg.persist);
	if (uz_store_snapshot(d->st, d->cfg.persist, &si, err, sizeof(err))) {
		uz_log(LOG_ERR, "persist: the snapshot failed: %s (the previous snapshot, if any, is kept)", err);
		return -1;
	}
	uz_log(LOG_INFO, "persist: snapshot of %llu pages (%llu bytes stored) written to %s: %llu bytes in %.2f s "
	       "(%.0f MB/s)", (unsigned long long)si.pages, (unsigned long long)si.object_bytes, d->cfg.persist,
	       (unsigned long long)si.file_bytes, si.seconds, si.seconds > 0 ? si.file_bytes / si.seconds / 1e6 : 0.0);
	return 0;
}

int main(int argc, char **argv)
{
	struct daemon d = { .ready_fd = -1, .reload_lock = PTHREAD_MUTEX_INITIALIZER };
	struct uz_store_config scfg;
	struct uz_fuse_params fp;
	struct uz_store_stats s;
	char err[PATH_MAX + 256], fsname[NAME_MAX + 8];
	int res = 1;

	sem_init(&d.hk_wake, 0, 0);
	if (parse_args(&d, argc, argv)) {
		remove_created(&d);
		return 1;
	}
	if (!d.foreground)
		daemonize(&d);
	d.io_flusher = -1;
	io_flusher_try(&d);
	if (d.io_flusher == 1)
		uz_log(LOG_INFO, "PR_SET_IO_FLUSHER: in force in every thread that serves requests (their "
		       "reclaim does no I/O)");
	else
		uz_log(LOG_WARNING, "PR_SET_IO_FLUSHER: %s%s; serving threads rely on memory made ready "
		       "ahead (buffers touched at start, the arena reserve) instead", strerror(d.io_flusher_errno),
		       d.io_flusher_errno == EPERM ? " (no CAP_SYS_RESOURCE)" : "");
	/* Locked on fault: what is touched stays in RAM (a swapped-out
	 * daemon behind a loop device can deadlock reclaim), what is not
	 * touched costs nothing.  Everything a request touches is touched
	 * before serving (on_serving_thread, the reserve), so that no
	 * request waits for a page.  glibc must not give the heap's top
	 * back either, or a request's small allocations would fault it in
	 * again. */
	if (d.cfg.lock_memory) {
		mallopt(M_TRIM_THRESHOLD, 256 << 20);
		if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) {
			if (uz_config_is_swap(&d.cfg)) {
				uz_log(LOG_ERR, "mlockall: %s: a swap device must not be served by a daemon whose "
				       "pages can be swapped out (needs CAP_IPC_LOCK or RLIMIT_MEMLOCK)",
				       strerror(errno));
				goto out;
			}
			uz_log(LOG_WARNING, "mlockall: %s (the daemon's memory may be swapped out; lock-memory "
			       "= no silences this)", strerror(errno));
		}
	}
	scfg = (struct uz_store_config){ .arena = d.cfg.arena,
					 .mem_limit = d.cfg.mem_limit,
					 .compact_ppm = d.cfg.compact_ppm,
					 .writeback_after_s = d.cfg.writeback_after,
					 .writeback_limit = d.cfg.writeback_limit,
					 .on_writeback = on_writeback,
					 .on_writeback_ctx = &d,
					 .recomp = d.cfg.recomp,
					 .recompress_after_s = d.cfg.recomp.algo == UZ_ALGO_LZ4 ? 0 : d.cfg.recompress_after,
					 .on_recompress = on_recompress,
					 .on_recompress_ctx = &d,
					 .progress = on_progress,
					 .progress_ctx = &d,
					 .reserve = d.cfg.reserve,
					 /* a swap write that cannot be stored at once
					  * fails: the kernel keeps the page */
					 .reserve_wait_ms = uz_config_is_swap(&d.cfg) ? 0 : UZ_RESERVE_WAIT_FS_MS,
					 .preallocate = uz_config_is_swap(&d.cfg) };
	if (d.cfg.backing_file[0]) {
		struct uz_backing_stats bs;

		scfg.backing = uz_backing_open(d.cfg.backing_file, d.cfg.backing_size, d.cfg.size, err, sizeof(err));
		if (!scfg.backing) {
			uz_log(LOG_ERR, "backing-file: %s", err);
			goto out;
		}
		uz_backing_stats(scfg.backing, &bs);
		uz_log(LOG_INFO, "backing store: %s, %llu bytes%s", d.cfg.backing_file,
		       (unsigned long long)bs.capacity,
		       d.cfg.writeback_after ? "; pages idle for writeback-after are written back by themselves" : "");
	}
	d.st = uz_store_create(d.cfg.size, &scfg);
	if (!d.st && scfg.backing)
		uz_backing_close(scfg.backing);
	if (!d.st) {
		uz_log(LOG_ERR, "cannot create a store of %llu bytes: %s", (unsigned long long)d.cfg.size,
		       strerror(errno));
		goto out;
	}
	if (d.cfg.persist[0] && restore(&d))
		goto out;
	uz_store_stats(d.st, &s);
	if (uz_config_is_swap(&d.cfg) && s.afm.kind != UZ_ARENA_HUGETLB && own_memcg_limit())
		uz_log(LOG_WARNING, "swap device inside a memory cgroup limited to %llu bytes, with %s arenas: "
		       "what it stores is charged to that cgroup, so a workload there that fills it can leave "
		       "swap-out no memory to go to; hugetlb arenas (reserved with vm.nr_hugepages) are not "
		       "charged to it", (unsigned long long)own_memcg_limit(), uz_arena_kind_name(s.afm.kind));
	uz_log(LOG_INFO, "arenas: %s%s", uz_arena_kind_name(s.afm.kind),
	       s.afm.kind == UZ_ARENA_HUGETLB ? " (reserved huge pages)"
	       : s.afm.kind == UZ_ARENA_THP   ? " (no hugetlb pages reserved: transparent huge pages)"
					      : "");
	if (strncmp(d.socket, UZ_RUN_DIR "/", sizeof(UZ_RUN_DIR)) == 0 && mkdir(UZ_RUN_DIR, 0755) &&
	    errno != EEXIST) {
		uz_log(LOG_ERR, "%s: %s", UZ_RUN_DIR, strerror(errno));
		goto out;
	}
	d.ctl = uz_ctl_start(&(struct uz_ctl_params){ .path = d.socket,
						      .mode = d.cfg.socket_mode,
						      .group = d.cfg.socket_group,
						      .admin_group = d.cfg.admin_group,
						      .thread_start = ctl_thread_start },
			     ctl_handler, &d, err, sizeof(err));
	if (!d.ctl) {
		uz_log(LOG_ERR, "%s", err);
		goto out;
	}
	snprintf(fsname, sizeof(fsname), "uzram:%s", d.name);
	fp = (struct uz_fuse_params){ .mountpoint = d.path,
				      .fsname = fsname,
				      .subtype = "uzram",
				      .ops = &store_file_ops,
				      .ctx = d.st,
				      .uring = d.cfg.io_uring,
				      .uring_depth = d.cfg.io_uring_depth,
				      .threads = d.cfg.threads,
				      .disksize = d.cfg.size,
				      .allow_other = d.cfg.allow_other,
				      .ready = on_ready,
				      .ready_arg = &d,
				      .thread_start = on_serving_thread,
				      .thread_arg = &d };
	d.fuse = uz_fuse_mount(&fp, err, sizeof(err));
	if (!d.fuse) {
		uz_log(LOG_ERR, "%s", err);
		goto out;
	}
	if (uz_fuse_signals(d.fuse)) {
		uz_log(LOG_ERR, "cannot install signal handlers");
		goto out;
	}
	hk_daemon = &d;
	if (sigaction(SIGHUP, &(struct sigaction){ .sa_handler = on_sighup }, NULL) ||
	    pthread_create(&d.hk_thread, NULL, housekeeping, &d)) {
		uz_log(LOG_ERR, "cannot start the housekeeping thread");
		goto out;
	}
	d.hk_running = true;
	res = uz_fuse_run(d.fuse);
	sd_notify(0, "STOPPING=1");
	if (res == -EPROTO) {
		struct uz_fuse_transport t;

		uz_fuse_get_transport(d.fuse, &t);
		uz_log(LOG_ERR, "%s", t.why);
	} else if (res) {
		uz_log(LOG_ERR, "FUSE loop failed: %s", strerror(-res));
	}
	else
		uz_log(LOG_INFO, "%s: stopping", d.path);
	res = res ? 1 : 0;
	/* The last request has been answered: nothing changes the data now. */
	if (!res && d.cfg.persist[0] && snapshot(&d))
		res = 1;
out:
	if (d.hk_running) {
		d.hk_stop = true;
		sem_post(&d.hk_wake);
		pthread_join(d.hk_thread, NULL);
	}
	signal(SIGHUP, SIG_IGN);
	uz_ctl_stop(d.ctl);
	uz_fuse_unmount(d.fuse);
	uz_store_destroy(d.st);
	remove_created(&d);
	return res;
}
