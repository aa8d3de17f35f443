/* tests/io_verify.c - random pwrite/pread on a file, checked against a
 * reference copy in memory.  Offsets and lengths are random and cross page
 * boundaries; each thread owns its own region so that the reference is
 * exact.  Usage: io_verify FILE BYTES THREADS OPS [SEED]
 * Prints "io_verify: OPS ops, N bytes written, 0 mismatches" and exits 0
 * when every read matched. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct job {
	int fd;
	uint64_t base, len;
	long ops;
	unsigned seed;
	uint8_t *ref;
	long mismatches;
	uint64_t written;
	int err;
};

static unsigned rnd(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 1;
}

/* Text-like bytes (compressible), random bytes, or one repeated byte. */
static void make_data(uint8_t *p, size_t n, unsigned *s)
{
	unsigned kind = rnd(s) % 3;
	uint8_t b = (uint8_t)rnd(s);

	for (size_t i = 0; i < n; i++) {
		if (kind == 0)
			p[i] = (uint8_t)("uzram compresses text like this "[(i + b) % 32]);
		else if (kind == 1)
			p[i] = (uint8_t)rnd(s);
		else
			p[i] = b;
	}
}

static void *run(void *arg)
{
	struct job *j = arg;
	size_t cap = 3 * 4096 + 1000;
	uint8_t *buf = malloc(cap), *got = malloc(cap);

	if (!buf || !got) {
		j->err = ENOMEM;
		return NULL;
	}
	for (long op = 0; op < j->ops; op++) {
		uint64_t len = 1 + rnd(&j->seed) % cap;
		uint64_t off = rnd(&j->seed) % (j->len - len);

		if (rnd(&j->seed) % 2) {
			make_data(buf, len, &j->seed);
			if (pwrite(j->fd, buf, len, (off_t)(j->base + off)) != (ssize_t)len) {
				j->err = errno ? errno : EIO;
				break;
			}
			memcpy(j->ref + off, buf, len);
			j->written += len;
		} else {
			if (pread(j->fd, got, len, (off_t)(j->base + off)) != (ssize_t)len) {
				j->err = errno ? errno : EIO;
				break;
			}
			if (memcmp(got, j->ref + off, len)) {
				if (j->mismatches++ < 5)
					fprintf(stderr, "io_verify: mismatch at %llu+%llu\n",
						(unsigned long long)(j->base + off), (unsigned long long)len);
			}
		}
	}
	/* A final full pass over the region. */
	for (uint64_t off = 0; off < j->len && !j->err; off += cap) {
		uint64_t len = j->len - off < cap ? j->len - off : cap;

		if (pread(j->fd, got, len, (off_t)(j->base + off)) != (ssize_t)len)
			j->err = errno ? errno : EIO;
		else if (memcmp(got, j->ref + off, len) && j->mismatches++ < 5)
			fprintf(stderr, "io_verify: final mismatch at %llu\n", (unsigned long long)(j->base + off));
	}
	free(buf);
	free(got);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t bytes, written = 0;
	long ops, mism = 0;
	int fd, nt, err = 0;
	unsigned seed;

	if (argc < 5) {
		fprintf(stderr, "usage: io_verify FILE BYTES THREADS OPS [SEED]\n");
		return 2;
	}
	bytes = strtoull(argv[2], NULL, 0);
	nt = atoi(argv[3]);
	ops = atol(argv[4]);
	seed = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 0) : 1;
	if (nt < 1 || nt > 64 || bytes < (uint64_t)nt * 65536) {
		fprintf(stderr, "io_verify: need 1..64 threads and 64 KiB per thread\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	{
		struct job j[64];
		pthread_t t[64];
		uint64_t per = bytes / (uint64_t)nt;

		for (int i = 0; i < nt; i++) {
			j[i] = (struct job){ .fd = fd, .base = per * (uint64_t)i, .len = per, .ops = ops / nt,
					     .seed = seed * 7919u + (unsigned)i };
			j[i].ref = malloc(per);
			if (!j[i].ref || pread(fd, j[i].ref, per, (off_t)j[i].base) != (ssize_t)per) {
				fprintf(stderr, "io_verify: reading the initial contents failed\n");
				return 2;
			}
			pthread_create(&t[i], NULL, run, &j[i]);
		}
		for (int i = 0; i < nt; i++) {
			pthread_join(t[i], NULL);
			mism += j[i].mismatches;
			written += j[i].written;
			if (j[i].err)
				err = j[i].err;
			free(j[i].ref);
		}
	}
	close(fd);
	printf("io_verify: %ld ops, %llu bytes written, %ld mismatches%s%s\n", ops,
	       (unsigned long long)written, mism, err ? ", error: " : "", err ? strerror(err) : "");
	return mism || err ? 1 : 0;
}
