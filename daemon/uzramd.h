/* daemon/uzramd.h - what the parts of uzramd share: the daemon's state,
 * and the functions each file offers the others.
 *
 *   uzramd.c    main, the store and the FUSE mount, reload, housekeeping
 *   args.c      the command line and the settings it assembles
 *   setup.c     the process and the block file, before serving
 *   commands.c  the control socket's commands
 *
 * Not installed, not for tests: only uzramd's own files include it. */
#ifndef UZ_DAEMON_UZRAMD_H
#define UZ_DAEMON_UZRAMD_H

#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "../fuse/uzfuse.h"
#include "../store/store.h"
#include "config.h"
#include "ctl.h"

#define UZ_MAX_CLI 64

/* Long runs (writeback, recompression, snapshot, restore): when each
 * started and last said how far it is (indexed by uz_progress_what). */
struct progress_log {
	pthread_mutex_t lock;
	struct timespec start[4], last[4];
};

/* Trained dictionaries (dictpolicy.c): lock guards what the train
 * command shares with the housekeeping thread; the ticks are the
 * housekeeping thread's own. */
struct dict_state {
	pthread_mutex_t lock;
	uint64_t tried_at_train; /* recomp_tried at the last training (or look) */
	double fresh_gain; /* what the current dictionary saved right after training */
	struct uz_store_dict_estimate est; /* the last estimate; est.pages 0: none */
	int last_error; /* the last automatic refusal (logged once); 0: none */
	_Atomic int training; /* a training runs now (its scratch memory is held) */
	unsigned est_ticks, wait_ticks, retry_ticks;
};

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
	struct progress_log progress;
	struct dict_state dict;
};

static inline double seconds_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* args.c */

/* Reads the command line into d: the settings (defaults, the config
 * file, then the options), the path (prepared with prepare_path) and the
 * socket.  Exits 0 after --help.  Returns 0, or -1 when the daemon must not
 * start (logged). */
int parse_args(struct daemon *d, int argc, char **argv);

/* Builds a configuration: defaults, then d's config file (if any), then
 * the command-line settings.  Returns 0, or -1 with the reason in err. */
int build_config(const struct daemon *d, struct uz_config *cfg, char *err, size_t errlen);

/* setup.c */

/* Makes PATH (arg) a regular file d may mount over, creating it if
 * missing (d->created_path) and clearing a dead uzram mount on it; sets
 * d->path and d->name.  Returns 0 or -1 (logged). */
int prepare_path(struct daemon *d, const char *arg);

/* Removes the block file if prepare_path created it. */
void remove_created(const struct daemon *d);

/* Forks; the parent waits until the child says the file is ready (exit
 * 0) or dies (exit 1: the child has printed why).  Returns in the child,
 * with d->ready_fd to write to once ready. */
void daemonize(struct daemon *d);

/* The memory limit of the cgroup this process is in (v1's memory
 * controller, or v2's memory.max), or 0 when there is none. */
uint64_t own_memcg_limit(void);

/* Sets PR_SET_IO_FLUSHER on the main thread and logs whether the serving
 * threads will have it. */
void io_flusher_start(struct daemon *d);

/* The first thing each serving thread does (uz_fuse_params.thread_start,
 * arg the daemon). */
void on_serving_thread(void *arg);

/* With lock-memory, locks the daemon's memory as it is touched.  Returns
 * 0 (a refusal only warns), or -1 (logged) for a swap device, which must
 * not run unlocked. */
int lock_memory(const struct daemon *d);

/* commands.c */

/* Answers one control-socket request (a uz_ctl_handler, ctx the daemon). */
void ctl_handler(void *ctx, const struct uz_ctl_peer *peer, int argc, char **argv, char *out, size_t outlen);

/* The socket thread's start (uz_ctl_params.thread_start). */
void ctl_thread_start(void);

/* dictpolicy.c */

/* What a training made. */
struct dict_trained {
	uint64_t id, size, mem;
	double seconds;
	double gain; /* of zstd's compressed size, the fraction it saves on a sample */
};

/* Trains a dictionary now of at most size bytes on up to sample pages
 * (in a thread of its own at nice 19; the caller, never a serving thread,
 * waits), logs it (why: what asked), and refreshes the estimate.  With
 * must_pay, keeps it only if it pays for itself
 * (uz_store_train_dict_paying).  Returns 0 with *t filled, or the store's
 * -EINVAL, -EBUSY, -ENOMEM with its reason in err. */
int dict_train(struct daemon *d, uint64_t sample, uint64_t size, bool must_pay, const char *why,
	       struct dict_trained *t, char *err, size_t errlen);

/* The housekeeping thread's turn, every tick: with dictionary = auto and
 * zstd recompression, trains when there is no current dictionary, at
 * least dictionary-sample compressed pages are stored and something would
 * use it (recompression has begun, or dictionary-lz4), and retrains once
 * recompression tried 4 x dictionary-sample pages since the last training
 * and the current dictionary has lost more than 3 % of what it saved;
 * after a refusal (logged once) waits a minute, twice as long after each
 * refusal in a row, up to an hour.  Refreshes the estimate every minute
 * while a dictionary is held. */
void dict_housekeeping(struct daemon *d);

/* Before a recompression by hand: with dictionary = auto and zstd
 * recompression, trains one (that must pay) if there is no current
 * dictionary and at least dictionary-sample compressed pages are stored;
 * a refusal is logged.  On the socket thread. */
void dict_before_recompress(struct daemon *d);

/* The last estimate (e->pages 0: none yet). */
void dict_estimate_get(struct daemon *d, struct uz_store_dict_estimate *e);

/* uzramd.c */

/* Re-reads the settings and applies what a running daemon can change;
 * writes the control socket's reply into out.  Returns 0, or -1 when the
 * file has an error (nothing is changed then).  Takes d->reload_lock. */
int reload(struct daemon *d, char *out, size_t outlen);

#endif
