/* tests/swapfill.c - fills anonymous memory with pages of known content and
 * checks every page afterwards: the workload of the swap tests and of
 * tests/bench/swap.sh.  Inside a memory cgroup smaller than MIB the pages
 * go to swap on the way and come back for the checks.
 * Usage: swapfill [--order seq|random] [--passes N] [--seed S] [--hold SECS] MIB
 * MIB MiB are mapped (private, anonymous, not populated) and each 4 KiB page
 * is written, in ascending order, with bytes derived from (seed, index).
 * Then each page is regenerated and compared in full, N times (default 2):
 * seq checks forward on odd passes and backward on even ones; random in a
 * scattered order (a permutation of the indices), so that page faults come
 * one at a time.  --hold keeps the pages mapped SECS seconds after the last
 * pass (SIGUSR1 ends it sooner), after a line "holding": the swap device's
 * memory can be read while it still holds the data.
 * Output, one line per phase on stdout:
 *   fill 1200 MiB 3.21 s 373.8 MiB/s, pswpout 250000 pswpin 0
 *   verify seq pass 1: 1200 MiB 2.10 s 571.4 MiB/s, 0 bad pages, pswpout 12 pswpin 240000
 *   swapfill: OK 307200 pages verified 2 times     (or: swapfill: FAILED N bad pages)
 * pswpout and pswpin are the system-wide /proc/vmstat counters' growth over
 * the phase (pages), read here so that they match the phase exactly.
 * Exit status: 0 every page verified, 1 bad pages, 2 usage error or no
 * memory for the mapping.
 *
 * Page content: 64-byte blocks, one in three a run of one byte (which
 * block comes first varies by page), the others pseudo-random.
 * LZ4_compress_default (liblz4 1.9.4) stores such a page in 2882 bytes on
 * average: ratio 0.704, min 2839, max 2904, over the 307200 pages of 1200
 * MiB with seeds 1 and 7 (about 30 % compressible, as the anchors' swap
 * program).  Kernel zram's compr_data_size agrees (make bench-swap).  The
 * program itself uses only libc. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096
#define BLOCK 64
#define GOLDEN 0x9e3779b97f4a7c15ull

/* splitmix64's finalizer. */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void make_page(uint8_t *p, uint64_t seed, uint64_t idx)
{
	uint64_t s = mix(seed ^ mix(idx + GOLDEN)), v;
	size_t phase = (size_t)(s % 3);

	for (size_t off = 0; off < PAGE; off += BLOCK) {
		if ((off / BLOCK + phase) % 3 == 0) {
			memset(p + off, (int)(mix(s += GOLDEN) & 0xff), BLOCK);
			continue;
		}
		for (size_t i = 0; i < BLOCK; i += 8) {
			v = mix(s += GOLDEN);
			memcpy(p + off + i, &v, 8);
		}
	}
}

/* A bijection of [0, n): an invertible scramble of [0, 2^bits) (multiply
 * by an odd number, xor-shift, multiply), applied again until the value
 * falls below n (cycle walking). */
static uint64_t scatter(uint64_t i, uint64_t n, unsigned bits)
{
	uint64_t mask = (1ull << bits) - 1;

	do {
		i = (i * 0x9e3779b97f4a7c15ull) & mask;
		i ^= i >> (bits / 2 + 1);
		i = (i * 0xd6e8feb86659fd93ull) & mask;
	} while (i >= n);
	return i;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Swap pages written (out) and read (in) so far, system-wide; 0 when
 * /proc/vmstat cannot be read. */
static void swap_counts(unsigned long long *out, unsigned long long *in)
{
	char name[64];
	unsigned long long v;
	FILE *f = fopen("/proc/vmstat", "r");

	*out = *in = 0;
	if (!f)
		return;
	while (fscanf(f, "%63s %llu", name, &v) == 2) {
		if (strcmp(name, "pswpout") == 0)
			*out = v;
		else if (strcmp(name, "pswpin") == 0)
			*in = v;
	}
	fclose(f);
}

static void report(const char *what, unsigned long long mib, double t0, unsigned long long o0,
		   unsigned long long i0, const char *extra)
{
	double t = now() - t0;
	unsigned long long o, i;

	swap_counts(&o, &i);
	printf("%s %llu MiB %.2f s %.1f MiB/s%s, pswpout %llu pswpin %llu\n", what, mib, t,
	       t > 0 ? mib / t : 0.0, extra, o - o0, i - i0);
	fflush(stdout);
}

static int number(const char *s, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return *s >= '0' && *s <= '9' && !*end && !errno ? 0 : -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: swapfill [--order seq|random] [--passes N] [--seed S] [--hold SECS] MIB\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "order", required_argument, NULL, 'o' }, { "passes", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },  { "hold", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long mib, passes = 2, seed = 1, hold = 0, n, bad_total = 0, o0, i0;
	int c, random_order = 0;
	unsigned bits = 0;
	uint8_t page[PAGE], *mem, *bad;
	sigset_t usr1;
	double t0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *what = c == 'p' ? "a number of passes" : c == 's' ? "a seed" : "a number of seconds";
		unsigned long long *dst = c == 'p' ? &passes : c == 's' ? &seed : &hold;

		if (c == 'o' && (strcmp(optarg, "seq") == 0 || strcmp(optarg, "random") == 0)) {
			random_order = optarg[0] == 'r';
		} else if (c == 'o') {
			fprintf(stderr, "swapfill: order '%s' is not seq or random\n", optarg);
			return 2;
		} else if (c == '?') {
			return usage();
		} else if (number(optarg, dst)) {
			fprintf(stderr, "swapfill: '%s' is not %s\n", optarg, what);
			return 2;
		}
	}
	if (optind != argc - 1)
		return usage();
	if (number(argv[optind], &mib) || mib == 0 || mib > (1ull << 30)) {
		fprintf(stderr, "swapfill: '%s' is not a size in MiB\n", argv[optind]);
		return 2;
	}
	/* SIGUSR1 stays pending until --hold collects it. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	n = mib << 8;
	while ((1ull << bits) < n)
		bits++;
	mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bad = calloc(n / 8 + 1, 1);
	if (mem == MAP_FAILED || !bad) {
		fprintf(stderr, "swapfill: cannot map %llu MiB: %s\n", mib, strerror(errno));
		return 2;
	}

	swap_counts(&o0, &i0);
	t0 = now();
	for (uint64_t i = 0; i < n; i++)
		make_page(mem + i * PAGE, seed, i);
	report("fill", mib, t0, o0, i0, "");

	for (unsigned long long pass = 1; pass <= passes; pass++) {
		unsigned long long bad_now = 0;
		char what[64], extra[64];

		swap_counts(&o0, &i0);
		t0 = now();
		for (uint64_t k = 0; k < n; k++) {
			uint64_t i = random_order ? scatter(k, n, bits) : pass % 2 ? k : n - 1 - k;

			make_page(page, seed, i);
			if (memcmp(page, mem + i * PAGE, PAGE) == 0)
				continue;
			if (bad_now++ < 10)
				fprintf(stderr, "swapfill: pass %llu: page %llu differs\n", pass, (unsigned long long)i);
			if (!(bad[i / 8] & (1u << (i % 8))))
				bad_total++;
			bad[i / 8] |= (uint8_t)(1u << (i % 8));
		}
		snprintf(what, sizeof(what), "verify %s pass %llu:", random_order ? "random" : "seq", pass);
		snprintf(extra, sizeof(extra), ", %llu bad pages", bad_now);
		report(what, mib, t0, o0, i0, extra);
	}

	if (bad_total)
		printf("swapfill: FAILED %llu bad pages\n", bad_total);
	else
		printf("swapfill: OK %llu pages verified %llu times\n", n, passes);
	if (hold) {
		struct timespec ts = { .tv_sec = (time_t)hold };

		printf("holding %llu s\n", hold);
		fflush(stdout);
		sigtimedwait(&usr1, NULL, &ts);
	}
	munmap(mem, mib << 20);
	free(bad);
	return bad_total ? 1 : 0;
}
