/* daemon/uzramd.c - the uzram daemon: main, the store and the FUSE mount
 * it serves, reload, housekeeping and systemd's notifications.  Wires
 * fuse/ to store/; the command line is in args.c, the setup before
 * serving in setup.c, the control socket's commands in commands.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "../store/backing.h"
#include "log.h"
#include "uzramd.h"

static void notify_status(struct daemon *d);

static void on_writeback(void *ctx, const struct uz_writeback_result *r)
{
	struct daemon *d = ctx;

	uz_log(r->error && !r->pages ? LOG_ERR : LOG_INFO,
	       "writeback-after %llus: %llu pages, %llu bytes written, %llu bytes of memory freed%s%s",
	       (unsigned long long)d->cfg.writeback_after, (unsigned long long)r->pages,
	       (unsigned long long)r->bytes, (unsigned long long)r->bytes_freed,
	       r->error ? "; the backing store: " : "", r->error ? strerror(-r->error) : "");
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

static void on_progress(void *ctx, enum uz_progress_what what, uint64_t done, uint64_t total)
{
	static const char *const name[] = { "writeback", "recompression", "snapshot", "restore" };
	static const char *const of[] = { "of the device scanned", "of the device scanned", "of the device scanned",
					  "of the snapshot read" };
	struct progress_log *progress = &((struct daemon *)ctx)->progress;
	struct timespec now;
	double el, rate;

	if ((unsigned)what > UZ_PROGRESS_RESTORE)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&progress->lock);
	if (done == 0) {
		progress->start[what] = progress->last[what] = now;
		pthread_mutex_unlock(&progress->lock);
		return;
	}
	el = seconds_between(&progress->start[what], &now);
	if (el < PROGRESS_AFTER_S || seconds_between(&progress->last[what], &now) < PROGRESS_EVERY_S) {
		pthread_mutex_unlock(&progress->lock);
		return;
	}
	progress->last[what] = now;
	pthread_mutex_unlock(&progress->lock);
	rate = (double)done / el;
	uz_log(LOG_INFO, "%s: %.0f %% (%.1f of %.1f GiB %s) in %.0f s, %.0f MB/s, about %.0f s left", name[what],
	       total ? 100.0 * (double)done / (double)total : 0.0, (double)done / 1073741824.0,
	       (double)total / 1073741824.0, of[what], el, rate / 1e6,
	       rate > 0 && total > done ? (double)(total - done) / rate : 0.0);
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

/* Re-reads the file (and re-applies the command line), applies what a
 * running daemon can change (the keys the config table marks so), and
 * says what else changed but needs a restart. */
int reload(struct daemon *d, char *out, size_t outlen)
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
	if (uz_config_compare(uz_config_key("mem-limit"), &d->cfg, &n) == UZ_CONFIG_APPLY) {
		uz_store_set_mem_limit(d->st, n.mem_limit);
		uz_log(LOG_INFO, "reload: mem-limit %llu -> %llu", (unsigned long long)d->cfg.mem_limit,
		       (unsigned long long)n.mem_limit);
		d->cfg.mem_limit = n.mem_limit;
		strcat(applied, " mem-limit");
	}
	if (uz_config_compare(uz_config_key("recomp-algorithm"), &d->cfg, &n) == UZ_CONFIG_APPLY ||
	    uz_config_compare(uz_config_key("recompress-after"), &d->cfg, &n) == UZ_CONFIG_APPLY) {
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
	if (uz_config_compare(uz_config_key("dictionary"), &d->cfg, &n) == UZ_CONFIG_APPLY) {
		uz_store_set_dictionary(d->st, n.dictionary);
		uz_log(LOG_INFO, "reload: dictionary %s -> %s%s", d->cfg.dictionary ? "auto" : "off",
		       n.dictionary ? "auto" : "off",
		       n.dictionary ? "" : " (pages on a dictionary keep it; new recompressions use none)");
		d->cfg.dictionary = n.dictionary;
		strcat(applied, " dictionary");
	}
	if (uz_config_compare(uz_config_key("dictionary-size"), &d->cfg, &n) == UZ_CONFIG_APPLY ||
	    uz_config_compare(uz_config_key("dictionary-sample"), &d->cfg, &n) == UZ_CONFIG_APPLY) {
		uz_log(LOG_INFO, "reload: dictionary-size %llu -> %llu, dictionary-sample %u -> %u (from the next "
		       "training)", (unsigned long long)d->cfg.dict_size, (unsigned long long)n.dict_size,
		       d->cfg.dict_sample, n.dict_sample);
		d->cfg.dict_size = n.dict_size;
		d->cfg.dict_sample = n.dict_sample;
		strcat(applied, " dictionary-training");
	}
	if (uz_config_compare(uz_config_key("reserve"), &d->cfg, &n) == UZ_CONFIG_APPLY) {
		uz_store_set_reserve(d->st, n.reserve);
		uz_log(LOG_INFO, "reload: reserve %llu -> %llu", (unsigned long long)d->cfg.reserve,
		       (unsigned long long)n.reserve);
		d->cfg.reserve = n.reserve;
		strcat(applied, " reserve");
	}
	if (uz_config_compare(uz_config_key("compaction"), &d->cfg, &n) == UZ_CONFIG_APPLY) {
		uz_store_set_compaction(d->st, n.compact_ppm);
		uz_log(LOG_INFO, "reload: compaction %u ppm -> %u ppm", d->cfg.compact_ppm, n.compact_ppm);
		d->cfg.compact_ppm = n.compact_ppm;
		strcat(applied, " compaction");
	}
	if (uz_config_compare(uz_config_key("dictionary-lz4"), &d->cfg, &n) == UZ_CONFIG_APPLY) {
		uz_store_set_dictionary_lz4(d->st, n.dictionary_lz4);
		uz_log(LOG_INFO, "reload: dictionary-lz4 %s -> %s", d->cfg.dictionary_lz4 ? "yes" : "no",
		       n.dictionary_lz4 ? "yes" : "no");
		d->cfg.dictionary_lz4 = n.dictionary_lz4;
		strcat(applied, " dictionary-lz4");
	}
	/* what changed but only a restart applies */
	uz_config_diff(&d->cfg, &n, UZ_CONFIG_RESTART, pending, sizeof(pending));
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
		if (d->ready) {
			dict_housekeeping(d);
			notify_status(d);
		}
	}
	return NULL;
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
	int e, tries = 0;

	sd_notifyf(0, "STATUS=writing a snapshot to %s", d->cfg.persist);
	uz_log(LOG_INFO, "persist: writing a snapshot to %s", d->cfg.persist);
	/* -EAGAIN: a dictionary was trained (uzramctl train) while the pages
	 * were written; the housekeeping thread, which trains by itself, has
	 * stopped already.  Again, a few times. */
	while ((e = uz_store_snapshot(d->st, d->cfg.persist, &si, err, sizeof(err))) == -EAGAIN && ++tries < 5)
		uz_log(LOG_INFO, "persist: %s: writing it again", err);
	if (e) {
		uz_log(LOG_ERR, "persist: the snapshot failed: %s (the previous snapshot, if any, is kept)", err);
		return -1;
	}
	uz_log(LOG_INFO, "persist: snapshot of %llu pages (%llu bytes stored) written to %s: %llu bytes in %.2f s "
	       "(%.0f MB/s)", (unsigned long long)si.pages, (unsigned long long)si.object_bytes, d->cfg.persist,
	       (unsigned long long)si.file_bytes, si.seconds, si.seconds > 0 ? si.file_bytes / si.seconds / 1e6 : 0.0);
	return 0;
}

/* The store, its backing file, and the snapshot restored into it (with
 * persist).  Returns 0 or -1 (logged). */
static int open_store(struct daemon *d)
{
	struct uz_store_config scfg;
	struct uz_store_stats s;
	char err[PATH_MAX + 256];

	scfg = (struct uz_store_config){ .arena = d->cfg.arena,
					 .mem_limit = d->cfg.mem_limit,
					 .compact_ppm = d->cfg.compact_ppm,
					 .writeback_after_s = d->cfg.writeback_after,
					 .writeback_limit = d->cfg.writeback_limit,
					 .on_writeback = on_writeback,
					 .on_writeback_ctx = d,
					 .recomp = d->cfg.recomp,
					 .recompress_after_s = d->cfg.recomp.algo == UZ_ALGO_LZ4 ? 0 : d->cfg.recompress_after,
					 .dictionary = d->cfg.dictionary,
					 .on_recompress = on_recompress,
					 .on_recompress_ctx = d,
					 .dictionary_lz4 = d->cfg.dictionary_lz4,
					 .progress = on_progress,
					 .progress_ctx = d,
					 .reserve = d->cfg.reserve,
					 /* a swap write that cannot be stored at once
					  * fails: the kernel keeps the page */
					 .reserve_wait_ms = uz_config_is_swap(&d->cfg) ? 0 : UZ_RESERVE_WAIT_FS_MS,
					 .preallocate = uz_config_is_swap(&d->cfg) };
	if (d->cfg.backing_file[0]) {
		struct uz_backing_stats bs;

		scfg.backing = uz_backing_open(d->cfg.backing_file, d->cfg.backing_size, d->cfg.size, err, sizeof(err));
		if (!scfg.backing) {
			uz_log(LOG_ERR, "backing-file: %s", err);
			return -1;
		}
		uz_backing_stats(scfg.backing, &bs);
		uz_log(LOG_INFO, "backing store: %s, %llu bytes%s", d->cfg.backing_file,
		       (unsigned long long)bs.capacity,
		       d->cfg.writeback_after ? "; pages idle for writeback-after are written back by themselves" : "");
	}
	d->st = uz_store_create(d->cfg.size, &scfg);
	if (!d->st && scfg.backing)
		uz_backing_close(scfg.backing);
	if (!d->st) {
		uz_log(LOG_ERR, "cannot create a store of %llu bytes: %s", (unsigned long long)d->cfg.size,
		       strerror(errno));
		return -1;
	}
	if (d->cfg.persist[0] && restore(d))
		return -1;
	uz_store_stats(d->st, &s);
	if (uz_config_is_swap(&d->cfg) && s.afm.kind != UZ_ARENA_HUGETLB && own_memcg_limit())
		uz_log(LOG_WARNING, "swap device inside a memory cgroup limited to %llu bytes, with %s arenas: "
		       "what it stores is charged to that cgroup, so a workload there that fills it can leave "
		       "swap-out no memory to go to; hugetlb arenas (reserved with vm.nr_hugepages) are not "
		       "charged to it", (unsigned long long)own_memcg_limit(), uz_arena_kind_name(s.afm.kind));
	uz_log(LOG_INFO, "arenas: %s%s", uz_arena_kind_name(s.afm.kind),
	       s.afm.kind == UZ_ARENA_HUGETLB ? " (reserved huge pages)"
	       : s.afm.kind == UZ_ARENA_THP   ? " (no hugetlb pages reserved: transparent huge pages)"
					      : "");
	return 0;
}

/* The control socket (and /run/uzram for it).  Returns 0 or -1 (logged). */
static int start_socket(struct daemon *d)
{
	char err[PATH_MAX + 256];

	if (strncmp(d->socket, UZ_RUN_DIR "/", sizeof(UZ_RUN_DIR)) == 0 && mkdir(UZ_RUN_DIR, 0755) &&
	    errno != EEXIST) {
		uz_log(LOG_ERR, "%s: %s", UZ_RUN_DIR, strerror(errno));
		return -1;
	}
	d->ctl = uz_ctl_start(&(struct uz_ctl_params){ .path = d->socket,
						       .mode = d->cfg.socket_mode,
						       .group = d->cfg.socket_group,
						       .admin_group = d->cfg.admin_group,
						       .thread_start = ctl_thread_start },
			      ctl_handler, d, err, sizeof(err));
	if (!d->ctl) {
		uz_log(LOG_ERR, "%s", err);
		return -1;
	}
	return 0;
}

/* Mounts the block file over d->path, served from the store; on_ready
 * runs once the kernel has it.  Returns 0 or -1 (logged). */
static int mount_file(struct daemon *d)
{
	char err[PATH_MAX + 256], fsname[NAME_MAX + 8];
	struct uz_fuse_params fp;

	snprintf(fsname, sizeof(fsname), "uzram:%s", d->name);
	fp = (struct uz_fuse_params){ .mountpoint = d->path,
				      .fsname = fsname,
				      .subtype = "uzram",
				      .ops = &store_file_ops,
				      .ctx = d->st,
				      .uring = d->cfg.io_uring,
				      .uring_depth = d->cfg.io_uring_depth,
				      .threads = d->cfg.threads,
				      .disksize = d->cfg.size,
				      .allow_other = d->cfg.allow_other,
				      .ready = on_ready,
				      .ready_arg = d,
				      .thread_start = on_serving_thread,
				      .thread_arg = d };
	d->fuse = uz_fuse_mount(&fp, err, sizeof(err));
	if (!d->fuse) {
		uz_log(LOG_ERR, "%s", err);
		return -1;
	}
	if (uz_fuse_signals(d->fuse)) {
		uz_log(LOG_ERR, "cannot install signal handlers");
		return -1;
	}
	return 0;
}

/* SIGHUP and the housekeeping thread.  Returns 0 or -1 (logged). */
static int start_housekeeping(struct daemon *d)
{
	hk_daemon = d;
	if (sigaction(SIGHUP, &(struct sigaction){ .sa_handler = on_sighup }, NULL) ||
	    pthread_create(&d->hk_thread, NULL, housekeeping, d)) {
		uz_log(LOG_ERR, "cannot start the housekeeping thread");
		return -1;
	}
	d->hk_running = true;
	return 0;
}

static void stop_housekeeping(struct daemon *d)
{
	if (d->hk_running) {
		d->hk_stop = true;
		sem_post(&d->hk_wake);
		pthread_join(d->hk_thread, NULL);
		d->hk_running = false;
	}
	signal(SIGHUP, SIG_IGN);
}

/* Serves until SIGTERM or SIGINT, then writes the snapshot (with
 * persist).  Returns the exit status: 0, or 1 when serving or the
 * snapshot failed. */
static int serve(struct daemon *d)
{
	int res = uz_fuse_run(d->fuse);

	sd_notify(0, "STOPPING=1");
	if (res == -EPROTO) {
		struct uz_fuse_transport t;

		uz_fuse_get_transport(d->fuse, &t);
		uz_log(LOG_ERR, "%s", t.why);
	} else if (res) {
		uz_log(LOG_ERR, "FUSE loop failed: %s", strerror(-res));
	} else {
		uz_log(LOG_INFO, "%s: stopping", d->path);
	}
	if (res)
		return 1;
	/* The last request has been answered: nothing changes the data now,
	 * and with housekeeping stopped no policy (recompression, writeback,
	 * a dictionary's training) runs while the snapshot is written. */
	stop_housekeeping(d);
	return d->cfg.persist[0] && snapshot(d) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct daemon d = { .ready_fd = -1,
			    .reload_lock = PTHREAD_MUTEX_INITIALIZER,
			    .progress.lock = PTHREAD_MUTEX_INITIALIZER,
			    .dict.lock = PTHREAD_MUTEX_INITIALIZER };
	int res = 1;

	/* Large blocks (a dictionary training's scratch memory, tens of MiB)
	 * straight from mmap and back to the system when freed: a fixed
	 * threshold stops glibc from raising it after the first such free,
	 * which would leave later ones in the heap, resident for good. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	sem_init(&d.hk_wake, 0, 0);
	if (parse_args(&d, argc, argv)) {
		remove_created(&d);
		return 1;
	}
	if (!d.foreground)
		daemonize(&d);
	io_flusher_start(&d);
	if (!lock_memory(&d) && !open_store(&d) && !start_socket(&d) && !mount_file(&d) && !start_housekeeping(&d))
		res = serve(&d);
	stop_housekeeping(&d);
	uz_ctl_stop(d.ctl);
	uz_fuse_unmount(d.fuse);
	uz_store_destroy(d.st);
	remove_created(&d);
	return res;
}
