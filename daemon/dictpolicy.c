/* daemon/dictpolicy.c - trained dictionaries for zstd recompression: the
 * training the train command asks for, the one the housekeeping thread
 * does by itself (dictionary = auto), and the estimate of what each
 * dictionary saves that the stats report. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "uzramd.h"

/* Pages the cached estimate samples: about 3 ms of zstd per dictionary
 * held, on the housekeeping thread. */
#define DICT_ESTIMATE_PAGES 256
/* How often the housekeeping thread refreshes it while a dictionary is
 * held, in ticks (5 s each): a minute. */
#define DICT_ESTIMATE_TICKS 12
/* Retrain once recompression has tried this many times dictionary-sample
 * pages since the last training... */
#define DICT_RETRAIN_FACTOR 4
/* ...and the current dictionary saves at least this much less (in
 * thousandths of the compressed size without one) than it did right after
 * its training, which is what a fresh one is taken to save again. */
#define DICT_RETRAIN_LOSS_PERMILLE 30
/* After a refusal, the next automatic try waits this many ticks (1 min),
 * twice as long after each refusal in a row, up to an hour: data that
 * holds too little in common is not trained on every minute. */
#define DICT_RETRY_TICKS 12
#define DICT_RETRY_MAX_TICKS 720

/* The fraction of the compressed size the current dictionary saves in e
 * (0 without one). */
static double current_gain(const struct uz_store_dict_estimate *e, const struct uz_store_stats *s)
{
	for (int k = 0; k < UZ_STORE_DICTS; k++)
		if (s->dicts[k].current && e->ids[k] == s->dicts[k].id && e->plain_bytes)
			return 1.0 - (double)e->dict_bytes[k] / (double)e->plain_bytes;
	return 0;
}

/* Refreshes the cached estimate.  Returns the store's 0 or -ENOMEM. */
static int refresh_estimate(struct daemon *d)
{
	struct uz_store_dict_estimate e;
	int r = uz_store_dict_estimate(d->st, DICT_ESTIMATE_PAGES, &e);

	if (r)
		return r;
	pthread_mutex_lock(&d->dict.lock);
	d->dict.est = e;
	pthread_mutex_unlock(&d->dict.lock);
	return 0;
}

/* A training runs in a thread of its own at the lowest priority (nice
 * 19): seconds of CPU that must not take a core from the threads that
 * serve I/O (make bench-train measures the reads beside it).  Its own
 * thread, because a thread may lower its priority but, without
 * CAP_SYS_NICE, not raise it again. */
struct train_job {
	struct uz_store *st;
	uint64_t sample, size;
	bool must_pay;
	char *err;
	size_t errlen;
	int ret;
};

static void *train_thread(void *arg)
{
	struct train_job *j = arg;

	/* (if refused, it trains at the caller's priority) */
	setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	j->ret = j->must_pay ? uz_store_train_dict_paying(j->st, j->sample, j->size, j->err, j->errlen) :
			       uz_store_train_dict(j->st, j->sample, j->size, j->err, j->errlen);
	return NULL;
}

/* Trains in train_thread and waits for it; its result, or -ENOMEM (err
 * set) when no thread can be made. */
static int train_niced(struct uz_store *st, uint64_t sample, uint64_t size, bool must_pay, char *err,
		       size_t errlen)
{
	struct train_job j = { .st = st, .sample = sample, .size = size, .must_pay = must_pay, .err = err,
			       .errlen = errlen };
	pthread_t t;
	int e = pthread_create(&t, NULL, train_thread, &j);

	if (e) {
		snprintf(err, errlen, "no thread to train in: %s", strerror(e));
		return -ENOMEM;
	}
	pthread_join(t, NULL);
	return j.ret;
}

int dict_train(struct daemon *d, uint64_t sample, uint64_t size, bool must_pay, const char *why,
	       struct dict_trained *t, char *err, size_t errlen)
{
	struct uz_store_stats s;
	struct timespec t0, t1;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	atomic_fetch_add(&d->dict.training, 1);
	r = train_niced(d->st, sample, size, must_pay, err, errlen);
	/* The trainer's scratch memory (the sample and zstd's suffix arrays,
	 * several times the sample) is freed by now: give back what malloc
	 * kept of it, so that a training does not leave the daemon bigger. */
	malloc_trim(0);
	atomic_fetch_sub(&d->dict.training, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r)
		return r;
	uz_store_stats(d->st, &s);
	memset(t, 0, sizeof(*t));
	t->seconds = seconds_between(&t0, &t1);
	for (int k = 0; k < UZ_STORE_DICTS; k++)
		if (s.dicts[k].current) {
			t->id = s.dicts[k].id;
			t->size = s.dicts[k].size;
			t->mem = s.dicts[k].mem;
		}
	refresh_estimate(d); /* (without memory, the next tick tries again) */
	pthread_mutex_lock(&d->dict.lock);
	d->dict.tried_at_train = s.recomp_tried;
	d->dict.fresh_gain = current_gain(&d->dict.est, &s);
	t->gain = d->dict.fresh_gain;
	d->dict.last_error = 0;
	pthread_mutex_unlock(&d->dict.lock);
	uz_log(LOG_INFO, "dictionary %llu trained (%s): %llu bytes (%llu in memory), sample of %llu pages, %.2f s; "
	       "it saves %.1f %% of zstd's size on a sample", (unsigned long long)t->id, why,
	       (unsigned long long)t->size, (unsigned long long)t->mem, (unsigned long long)sample, t->seconds,
	       t->gain * 100);
	return 0;
}

/* One automatic training; a refusal is logged once (until a training
 * succeeds or the reason changes), and the next try waits. */
static void auto_train(struct daemon *d, uint64_t sample, uint64_t size, const char *why)
{
	struct dict_trained t;
	char err[256];
	int r = dict_train(d, sample, size, true, why, &t, err, sizeof(err)), was;

	if (!r) {
		d->dict.retry_ticks = 0;
		return;
	}
	d->dict.retry_ticks = d->dict.retry_ticks ? d->dict.retry_ticks * 2 : DICT_RETRY_TICKS;
	if (d->dict.retry_ticks > DICT_RETRY_MAX_TICKS)
		d->dict.retry_ticks = DICT_RETRY_MAX_TICKS;
	d->dict.wait_ticks = d->dict.retry_ticks;
	pthread_mutex_lock(&d->dict.lock);
	was = d->dict.last_error;
	d->dict.last_error = r;
	pthread_mutex_unlock(&d->dict.lock);
	if (r != was)
		uz_log(r == -EBUSY || r == -EINVAL ? LOG_INFO : LOG_WARNING,
		       "dictionary = auto: no training now (%s): %s; trying again later", why, err);
}

/* The compressed pages in memory, roughly: what a training samples. */
static uint64_t pages_in_memory(const struct uz_store_stats *s)
{
	uint64_t n = s->orig_data_size / UZ_PAGE_SIZE;

	return n > s->same_pages + s->huge_pages ? n - s->same_pages - s->huge_pages : 0;
}

/* Whether s has a current dictionary. */
static bool has_current(const struct uz_store_stats *s)
{
	for (int k = 0; k < UZ_STORE_DICTS; k++)
		if (s->dicts[k].current)
			return true;
	return false;
}

void dict_before_recompress(struct daemon *d)
{
	struct uz_store_stats s;
	struct dict_trained t;
	uint64_t sample, size;
	bool automatic;
	char err[256];

	pthread_mutex_lock(&d->reload_lock);
	automatic = d->cfg.dictionary && d->cfg.recomp.algo == UZ_ALGO_ZSTD;
	sample = d->cfg.dict_sample;
	size = d->cfg.dict_size;
	pthread_mutex_unlock(&d->reload_lock);
	if (!automatic)
		return;
	uz_store_stats(d->st, &s);
	if (has_current(&s) || pages_in_memory(&s) < sample)
		return;
	if (dict_train(d, sample, size, true, "before a recompression", &t, err, sizeof(err)))
		uz_log(LOG_INFO, "dictionary = auto: no training before the recompression: %s", err);
}

void dict_housekeeping(struct daemon *d)
{
	struct uz_store_stats s;
	uint64_t sample, size, in_memory, since;
	bool automatic, lz4;
	double gain, fresh;

	pthread_mutex_lock(&d->reload_lock);
	automatic = d->cfg.dictionary && d->cfg.recomp.algo == UZ_ALGO_ZSTD;
	sample = d->cfg.dict_sample;
	size = d->cfg.dict_size;
	lz4 = d->cfg.dictionary_lz4;
	pthread_mutex_unlock(&d->reload_lock);
	uz_store_stats(d->st, &s);
	if (s.dict_bytes && ++d->dict.est_ticks >= DICT_ESTIMATE_TICKS) {
		d->dict.est_ticks = 0;
		refresh_estimate(d);
	}
	if (!automatic || (d->dict.wait_ticks && d->dict.wait_ticks--))
		return;
	in_memory = pages_in_memory(&s);
	if (!has_current(&s)) {
		/* Only once something would use it: recompression has begun
		 * (its first batch goes without), or new writes would. */
		if (in_memory >= sample && (s.recomp_tried || lz4))
			auto_train(d, sample, size, "none yet");
		return;
	}
	pthread_mutex_lock(&d->dict.lock);
	since = s.recomp_tried - d->dict.tried_at_train;
	pthread_mutex_unlock(&d->dict.lock);
	if (since < DICT_RETRAIN_FACTOR * sample || in_memory < sample)
		return;
	if (refresh_estimate(d))
		return;
	pthread_mutex_lock(&d->dict.lock);
	gain = current_gain(&d->dict.est, &s);
	fresh = d->dict.fresh_gain;
	d->dict.tried_at_train = s.recomp_tried; /* the next look after as many pages again */
	pthread_mutex_unlock(&d->dict.lock);
	if ((fresh - gain) * 1000 > DICT_RETRAIN_LOSS_PERMILLE) {
		char why[96];

		snprintf(why, sizeof(why), "the data moved on: it saves %.1f %%, %.1f %% when trained", gain * 100,
			 fresh * 100);
		auto_train(d, sample, size, why);
	}
}

void dict_estimate_get(struct daemon *d, struct uz_store_dict_estimate *e)
{
	pthread_mutex_lock(&d->dict.lock);
	*e = d->dict.est;
	pthread_mutex_unlock(&d->dict.lock);
}
