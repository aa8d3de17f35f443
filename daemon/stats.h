/* daemon/stats.h - the "stats" reply of the control socket: "ok", then
 * one "key value" line per counter.  uzramctl reads it back. */
#ifndef UZ_DAEMON_STATS_H
#define UZ_DAEMON_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "../store/store.h"

struct uz_stats_info {
	const char *name;
	const char *path;
	const char *algorithm;
	const char *config; /* "" if none */
	const char *mount_point; /* "" if none */
	const char *fs_type;
	const char *mount_options;
	pid_t pid;
	const char *transport; /* "io_uring" or "dev" */
	unsigned io_uring_queues, io_uring_depth; /* 0 over /dev/fuse */
	unsigned streams; /* requests served at once: worker threads, or io_uring queues */
	unsigned long long ring_bytes; /* io_uring buffers and rings */
	unsigned long long buffer_bytes; /* all serving buffers, touched at start (ring_bytes included) */
	const char *backing_file; /* NULL: none */
	const char *persist; /* NULL or "": off */
	const struct uz_snapshot_info *restored; /* NULL: nothing restored */
	bool io_flusher; /* PR_SET_IO_FLUSHER in force in the serving threads */
	bool swap; /* fs-type = swap: */
	int swap_priority;
	const char *swap_discard; /* swapon's --discard policy, "" for none */
	bool dictionary; /* dictionary = auto */
	bool dict_training; /* a training runs now */
	/* the last estimate of what the dictionaries save (NULL or
	 * pages 0: none; daemon/dictpolicy.c makes it) */
	const struct uz_store_dict_estimate *dict_estimate;
};

/* The keys of zram's bd_stat, in zram's order. */
extern const char *const uz_bd_stat_keys[3];

/* The keys of zram's mm_stat and io_stat, in zram's order. */
extern const char *const uz_mm_stat_keys[9];
extern const char *const uz_io_stat_keys[4];

/* Writes the whole reply into out (NUL-terminated). */
void uz_stats_format(const struct uz_store_stats *s, const struct uz_stats_info *info, char *out,
		     size_t outlen);

#endif
