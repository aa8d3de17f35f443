/* store/arena.c - mapping and unmapping 2 MiB arenas. */
#include "arena.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static long meminfo_value(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long val = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			val = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

static int thp_allowed(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return strstr(buf, "[never]") == NULL && buf[0] != '\0';
}

enum uz_arena_kind uz_arena_probe(void)
{
	if (uz_arena_hugetlb_free() > 0)
		return UZ_ARENA_HUGETLB;
	if (thp_allowed())
		return UZ_ARENA_THP;
	return UZ_ARENA_PLAIN;
}

long uz_arena_hugetlb_free(void)
{
	if (meminfo_value("Hugepagesize") != (long)(UZ_ARENA_SIZE >> 10))
		return -1;
	return meminfo_value("HugePages_Free");
}

static void *map_hugetlb(void)
{
	void *p = mmap(NULL, UZ_ARENA_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* An anonymous mapping aligned to 2 MiB, so that the kernel can back it
 * with one transparent huge page when asked to. */
static void *map_aligned(int advise_huge)
{
	size_t len = 2 * UZ_ARENA_SIZE;
	uint8_t *raw = mmap(NULL, len, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t start, end;

	if (raw == MAP_FAILED)
		return NULL;
	start = ((uintptr_t)raw + UZ_ARENA_SIZE - 1) & ~(uintptr_t)(UZ_ARENA_SIZE - 1);
	end = start + UZ_ARENA_SIZE;
	if (start > (uintptr_t)raw)
		munmap(raw, start - (uintptr_t)raw);
	if ((uintptr_t)raw + len > end)
		munmap((void *)end, (uintptr_t)raw + len - end);
	if (advise_huge)
		madvise((void *)start, UZ_ARENA_SIZE, MADV_HUGEPAGE);
	return (void *)start;
}

void *uz_arena_map(enum uz_arena_kind want, enum uz_arena_kind *got)
{
	void *p = NULL;

	switch (want) {
	case UZ_ARENA_AUTO:
	case UZ_ARENA_HUGETLB:
		p = map_hugetlb();
		if (p) {
			*got = UZ_ARENA_HUGETLB;
			return p;
		}
		/* no reserved huge page left */
		__attribute__((fallthrough));
	case UZ_ARENA_THP:
		p = map_aligned(1);
		*got = UZ_ARENA_THP;
		break;
	case UZ_ARENA_PLAIN:
		p = map_aligned(0);
		*got = UZ_ARENA_PLAIN;
		break;
	}
	if (!p)
		errno = ENOMEM;
	return p;
}

int uz_arena_release(void *addr, size_t len)
{
	int err;

	if (madvise(addr, len, MADV_DONTNEED) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* Locked pages cannot be dropped (EINVAL): unlock them first. */
	if (munlock(addr, len))
		return -errno;
	err = madvise(addr, len, MADV_DONTNEED) ? -errno : 0;
	if (mlock2(addr, len, MLOCK_ONFAULT) && !err)
		err = -errno;
	return err;
}

void uz_arena_unmap(void *base)
{
	if (base)
		munmap(base, UZ_ARENA_SIZE);
}

static const char *const kind_names[] = {
	[UZ_ARENA_AUTO] = "auto",
	[UZ_ARENA_HUGETLB] = "hugetlb",
	[UZ_ARENA_THP] = "thp",
	[UZ_ARENA_PLAIN] = "plain",
};

const char *uz_arena_kind_name(enum uz_arena_kind kind)
{
	if ((unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]))
		return kind_names[kind];
	return "unknown";
}

int uz_arena_kind_parse(const char *name, enum uz_arena_kind *kind)
{
	for (unsigned i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*kind = (enum uz_arena_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}
