/* tests/bench/lz4dictbench.c - what LZ4 against the current dictionary
 * (the store's dictionary_lz4) costs the write path, and what it saves.
 *
 * Usage: lz4dictbench FILE [MIB [THREADS [RUNS [spread|apart]]]]
 * Reads 2 x MIB MiB (default 256) of FILE (say the seed's kernel tar) in
 * two parts: spread (the default), 1 MiB chunks evenly across the file,
 * every second one in the first part, the others in the second (as make
 * bench-dict splits pages); apart, a run from a third of the way in and
 * one from half the way in (other parts of the tree).  The first part is
 * written into a fresh store and trained on (uz_store_train_dict: 8192
 * pages sampled, a 110 KiB dictionary, as make bench-dict); the second is
 * then written after it, in 1 MiB writes shared round-robin by THREADS
 * threads (default 2), and timed, in wall time and in the writers' CPU
 * time (steadier on a busy machine).  Alternates dictionary_lz4 off and
 * on, RUNS times each (default 3), each run on a store of its own, and
 * prints per run the second part's write throughput and the compressed
 * bytes it added (compr_data_size), then the medians' ratios, on / off.
 * Every page is read back and compared.
 * Figures, not a pass/fail test; exits 1 only when a page does not read
 * back or the input cannot be read.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../store/store.h"

#define MIB (1024 * 1024)

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct job {
	struct uz_store *st;
	const uint8_t *data;
	size_t mib;
	uint64_t base; /* device offset of data */
	unsigned t, threads;
	int err;
	double cpu; /* the thread's CPU seconds */
};

static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Writes the job's share of the 1 MiB chunks: every threads-th from t. */
static void *writer(void *p)
{
	struct job *j = p;
	double t0;

	uz_store_thread_warm();
	t0 = thread_cpu();
	for (size_t c = j->t; c < j->mib && !j->err; c += j->threads)
		j->err = uz_store_write(j->st, j->data + c * MIB, MIB, j->base + c * MIB);
	j->cpu = thread_cpu() - t0;
	return NULL;
}

/* Writes mib MiB of data at base from threads threads; returns the
 * seconds it took, or -1; *cpu (if not NULL) gets the writers' CPU
 * seconds. */
static double write_part(struct uz_store *st, const uint8_t *data, size_t mib, uint64_t base, unsigned threads,
			 double *cpu)
{
	pthread_t th[16];
	struct job j[16];
	double t0 = now();
	int err = 0;

	for (unsigned t = 0; t < threads; t++) {
		j[t] = (struct job){ .st = st, .data = data, .mib = mib, .base = base, .t = t, .threads = threads };
		if (pthread_create(&th[t], NULL, writer, &j[t]))
			return -1;
	}
	for (unsigned t = 0; t < threads; t++) {
		pthread_join(th[t], NULL);
		err = err ? err : j[t].err;
		if (cpu)
			*cpu += j[t].cpu;
	}
	return err ? -1 : now() - t0;
}

static int read_at(const char *path, off_t off, uint8_t *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	size_t got = 0;

	if (fd < 0)
		return -1;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return got == len ? 0 : -1;
}

/* Reads the two parts (see the top). */
static bool parts(const char *path, uint64_t size, bool apart, size_t mib, uint8_t *train, uint8_t *test)
{
	uint64_t stride = size / (2 * mib) & ~(uint64_t)(MIB - 1);

	if (apart)
		return !read_at(path, (off_t)(size / 3 & ~(uint64_t)4095), train, mib * MIB) &&
		       !read_at(path, (off_t)(size / 2 & ~(uint64_t)4095), test, mib * MIB);
	for (size_t c = 0; c < mib; c++)
		if (read_at(path, (off_t)(2 * c * stride), train + c * MIB, MIB) ||
		    read_at(path, (off_t)((2 * c + 1) * stride), test + c * MIB, MIB))
			return false;
	return true;
}

struct run {
	double mibs, cpu_mibs; /* per wall second, per CPU second */
	uint64_t bytes;
};

/* One run: a fresh store, the first part written and trained on, the
 * second written (timed) and checked.  Returns 0 or -1. */
static int one_run(bool on, const uint8_t *train, const uint8_t *test, size_t mib, unsigned threads, struct run *r)
{
	struct uz_store_config cfg = { .arena = UZ_ARENA_AUTO, .dictionary = true, .dictionary_lz4 = on };
	struct uz_store *st = uz_store_create(2 * mib * MIB, &cfg);
	struct uz_store_stats a, b;
	static uint8_t back[MIB];
	char err[256] = "";
	double s, cpu = 0;

	if (!st) {
		perror("uz_store_create");
		return -1;
	}
	if (write_part(st, train, mib, 0, threads, NULL) < 0 || uz_store_train_dict(st, 8192, 110 << 10, err, sizeof(err))) {
		fprintf(stderr, "priming or training failed: %s\n", err);
		uz_store_destroy(st);
		return -1;
	}
	uz_store_stats(st, &a);
	s = write_part(st, test, mib, mib * MIB, threads, &cpu);
	uz_store_stats(st, &b);
	for (size_t c = 0; c < mib && s > 0; c++)
		if (uz_store_read(st, back, MIB, (mib + c) * MIB) || memcmp(back, test + c * MIB, MIB))
			s = -1;
	if (s < 0) {
		fprintf(stderr, "a write failed or a page did not read back\n");
		uz_store_destroy(st);
		return -1;
	}
	r->mibs = (double)mib / s;
	r->cpu_mibs = (double)mib / cpu;
	r->bytes = b.compr_data_size - a.compr_data_size;
	printf("dictionary_lz4 %-3s  %7.1f MiB/s  %7.1f MiB/CPU-s  %10llu compressed bytes (%.3f of the data)  "
	       "lz4-dict writes %llu\n",
	       on ? "on" : "off", r->mibs, r->cpu_mibs, (unsigned long long)r->bytes,
	       (double)r->bytes / (double)(mib * MIB),
	       (unsigned long long)(b.dict_lz4_writes - a.dict_lz4_writes));
	fflush(stdout);
	uz_store_destroy(st);
	return 0;
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return (a > b) - (a < b);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
	unsigned threads = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 2;
	int runs = argc > 4 ? atoi(argv[4]) : 3;
	bool apart = argc > 5 && !strcmp(argv[5], "apart");
	double mibs[2][16], cpu[2][16], bytes[2][16];
	uint8_t *train, *test;
	struct stat sb;

	if (argc < 2 || !mib || !threads || threads > 16 || runs < 1 || runs > 16 ||
	    (argc > 5 && !apart && strcmp(argv[5], "spread"))) {
		fprintf(stderr, "usage: %s FILE [MIB [THREADS (1..16) [RUNS (1..16) [spread|apart]]]]\n", argv[0]);
		return 2;
	}
	train = malloc(mib * MIB);
	test = malloc(mib * MIB);
	if (!train || !test || stat(argv[1], &sb) || (uint64_t)sb.st_size < 4 * mib * MIB ||
	    !parts(argv[1], (uint64_t)sb.st_size, apart, mib, train, test)) {
		fprintf(stderr, "%s: cannot read 2 x %zu MiB from it\n", argv[1], mib);
		return 1;
	}
	printf("%zu MiB written by %u threads after a training on %zu MiB (%s); %d runs each, alternating\n", mib,
	       threads, mib, apart ? "apart" : "spread", runs);
	for (int i = 0; i < runs; i++)
		for (int on = 0; on < 2; on++) {
			struct run r;

			if (one_run(on, train, test, mib, threads, &r))
				return 1;
			mibs[on][i] = r.mibs;
			cpu[on][i] = r.cpu_mibs;
			bytes[on][i] = (double)r.bytes;
		}
	{
		double m0 = median(mibs[0], runs), m1 = median(mibs[1], runs);
		double b0 = median(bytes[0], runs), b1 = median(bytes[1], runs);
		double c0 = median(cpu[0], runs), c1 = median(cpu[1], runs);

		printf("median throughput: off %.1f MiB/s, on %.1f MiB/s: on/off %.3f (on by default only if >= 0.9)\n",
		       m0, m1, m1 / m0);
		printf("median per CPU second: off %.1f MiB, on %.1f MiB: on/off %.3f\n", c0, c1, c1 / c0);
		/* (median() sorted them: the last is the best) */
		printf("best throughput: off %.1f MiB/s, on %.1f MiB/s: on/off %.3f\n", mibs[0][runs - 1],
		       mibs[1][runs - 1], mibs[1][runs - 1] / mibs[0][runs - 1]);
		printf("median compressed bytes: off %.0f, on %.0f: on/off %.3f (target <= 0.92 of plain LZ4's)\n", b0,
		       b1, b1 / b0);
	}
	free(train);
	free(test);
	return 0;
}
