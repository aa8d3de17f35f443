/* daemon/commands.c - the control socket's commands: what uzramd answers
 * on it. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../compress/dict.h"
#include "../compress/page.h"
#include "ctl_commands.h"
#include "log.h"
#include "stats.h"
#include "uzramd.h"

/* It runs compaction, writeback and recompression by hand: it takes the
 * store's locks too. */
void ctl_thread_start(void)
{
	uz_store_thread_warm();
}

static void cmd_stats(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	struct uz_store_dict_estimate est;
	struct uz_fuse_transport t;
	struct uz_store_stats s;

	(void)arg;
	uz_store_stats(d->st, &s);
	dict_estimate_get(d, &est);
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
						    .dictionary = d->cfg.dictionary,
						    .dict_training = atomic_load(&d->dict.training) > 0,
						    .dict_estimate = &est,
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

	if (parse_type_option("writeback", arg, uz_ctl_command("writeback")->option, 1, UINT64_MAX,
			      "SIZE (such as limit=64M)", &t, &limit, out, outlen))
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

/* recompress TYPE [threshold=BYTES]: zram's recompress file. */
static void cmd_recompress(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	struct uz_recompress_result r;
	struct timespec t0, t1;
	enum uz_writeback_type t;
	uint64_t threshold = 0;
	char algo[32];
	double secs;

	if (parse_type_option("recompress", arg, uz_ctl_command("recompress")->option, 0, UZ_PAGE_SIZE,
			      "BYTES (0 to 4096, such as threshold=1024)", &t, &threshold, out, outlen))
		return;
	if (d->cfg.recomp.algo == UZ_ALGO_LZ4) {
		snprintf(out, outlen, "error: recompress: recompression is off (set recomp-algorithm, such as zstd, "
			 "in the config)\n");
		return;
	}
	uz_codec_format(&d->cfg.recomp, algo, sizeof(algo));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	dict_before_recompress(d);
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

/* train [sample=PAGES] [size=BYTES]: a dictionary, now. */
static void cmd_train(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	uint64_t sample, size;
	struct dict_trained t;
	char err[256];
	const char *w = arg;
	int r;

	pthread_mutex_lock(&d->reload_lock);
	sample = d->cfg.dict_sample;
	size = d->cfg.dict_size;
	pthread_mutex_unlock(&d->reload_lock);
	while (w && *w) {
		size_t len = strcspn(w, " ");
		char word[80];
		uint64_t v;

		snprintf(word, sizeof(word), "%.*s", (int)(len < 64 ? len : 64), w);
		if (strncmp(word, "sample=", 7) == 0 && uz_parse_size(word + 7, &v) == 0 &&
		    v >= UZ_DICT_MIN_SAMPLES && v <= UZ_DICT_SAMPLE_MAX) {
			sample = v;
		} else if (strncmp(word, "size=", 5) == 0 && uz_parse_size(word + 5, &v) == 0 &&
			   v >= UZ_DICT_MIN_SIZE && v <= UZ_DICT_MAX_SIZE) {
			size = v;
		} else {
			snprintf(out, outlen, "error: train: '%s' is not sample=PAGES (%u to %u) or size=BYTES (1K to "
				 "1M, such as size=110K)\n", word, UZ_DICT_MIN_SAMPLES, UZ_DICT_SAMPLE_MAX);
			return;
		}
		w += len;
		w += strspn(w, " ");
	}
	r = dict_train(d, sample, size, false, "asked for", &t, err, sizeof(err));
	if (r) {
		uz_log(LOG_INFO, "train: refused: %s", err);
		snprintf(out, outlen, "error: train: %s\n", err);
		return;
	}
	snprintf(out, outlen, "ok\nid %llu\nsize %llu\nmem %llu\nsample %llu\nseconds %.3f\nsaved_percent %.1f\n",
		 (unsigned long long)t.id, (unsigned long long)t.size, (unsigned long long)t.mem,
		 (unsigned long long)sample, t.seconds, t.gain * 100);
}

static void cmd_help(struct daemon *d, const char *arg, char *out, size_t outlen)
{
	size_t n, len = (size_t)snprintf(out, outlen, "ok\n");
	const struct uz_ctl_command *c = uz_ctl_commands(&n);

	(void)d;
	(void)arg;
	for (size_t i = 0; i < n && len < outlen; i++)
		len += (size_t)snprintf(out + len, outlen - len, "%s: %s%s%s%s\n", c[i].name, c[i].args,
					c[i].args[0] ? ": " : "", c[i].help, c[i].admin ? " (admin)" : "");
}

/* What runs each command of the table in ctl_commands.c.  arg: the
 * argument, or both joined by a blank, or NULL. */
static const struct {
	const char *name;
	void (*run)(struct daemon *d, const char *arg, char *out, size_t outlen);
} handlers[] = {
	{ "stats", cmd_stats },
	{ "help", cmd_help },
	{ "compact", cmd_compact },
	{ "reload", cmd_reload },
	{ "mem-limit", cmd_mem_limit },
	{ "idle", cmd_idle },
	{ "writeback", cmd_writeback },
	{ "recompress", cmd_recompress },
	{ "train", cmd_train },
};

void ctl_handler(void *ctx, const struct uz_ctl_peer *peer, int argc, char **argv, char *out, size_t outlen)
{
	const struct uz_ctl_command *c = uz_ctl_command(argv[0]);
	size_t h = 0;
	char both[160];

	while (c && h < sizeof(handlers) / sizeof(handlers[0]) && strcmp(handlers[h].name, c->name))
		h++;
	if (!c || h == sizeof(handlers) / sizeof(handlers[0])) {
		snprintf(out, outlen, "error: unknown command '%.64s' (try 'help')\n", argv[0]);
	} else if (c->admin && !peer->admin) {
		uz_log(LOG_WARNING, "control socket: refused '%s' from uid %u gid %u (pid %d): not an admin", argv[0],
		       (unsigned)peer->uid, (unsigned)peer->gid, (int)peer->pid);
		snprintf(out, outlen, "error: permission denied: '%s' changes state (root or the admin-group only)\n",
			 argv[0]);
	} else if (uz_ctl_command_check_argc(c, argc, out, outlen) == 0) {
		if (argc == 3)
			snprintf(both, sizeof(both), "%.64s %.64s", argv[1], argv[2]);
		handlers[h].run(ctx, argc == 3 ? both : argc == 2 ? argv[1] : NULL, out, outlen);
	}
}
