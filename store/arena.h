/* store/arena.h - 2 MiB arenas: hugetlb, transparent huge pages, or plain.
 *
 * The afmalloc engine carves its slab pages out of these.  Library code:
 * it reports what it did and never logs.
 */
#ifndef UZ_STORE_ARENA_H
#define UZ_STORE_ARENA_H

#include <stddef.h>

#define UZ_ARENA_SHIFT 21
#define UZ_ARENA_SIZE ((size_t)1 << UZ_ARENA_SHIFT) /* 2 MiB: the x86-64 huge page */

enum uz_arena_kind {
	UZ_ARENA_AUTO = 0, /* hugetlb if reserved, else THP, else plain */
	UZ_ARENA_HUGETLB,
	UZ_ARENA_THP,
	UZ_ARENA_PLAIN,
};

/* Returns the kind "auto" resolves to on this system now: hugetlb when
 * /proc/meminfo shows free reserved huge pages, THP when the kernel allows
 * madvise(MADV_HUGEPAGE), else plain. */
enum uz_arena_kind uz_arena_probe(void);

/* Huge pages free in the system's hugetlb pool (HugePages_Free, of 2 MiB
 * pages), or -1 when there is no such pool. */
long uz_arena_hugetlb_free(void);

/* Maps one 2 MiB-aligned arena of the wanted kind (not AUTO).  A hugetlb
 * request that the system cannot satisfy falls back to THP, then plain;
 * *got says what was mapped.  Returns NULL with errno set on failure. */
void *uz_arena_map(enum uz_arena_kind want, enum uz_arena_kind *got);

/* Gives the pages of [addr, addr + len) back to the OS, keeping the
 * mapping (MADV_DONTNEED: they read as zeros next time).  Works in a
 * process that locked its memory (mlockall), where madvise alone fails:
 * the range is unlocked, released, and locked on fault again.  addr and
 * len are page-aligned.  Returns 0 or a negative errno. */
int uz_arena_release(void *addr, size_t len);

/* Writes every 4 KiB page of [p, p + len) once, so that it is resident
 * (and locked, under mlockall) before anyone needs it.  Through a volatile
 * pointer: a memset() after malloc() or calloc() may be optimised into
 * calloc()'s fresh, untouched pages. */
static inline void uz_touch(void *p, size_t len)
{
	volatile unsigned char *b = p;

	for (size_t i = 0; i < len; i += 4096)
		b[i] = 0;
	if (len)
		b[len - 1] = 0;
}

/* Gives an arena back to the OS.  NULL is accepted. */
void uz_arena_unmap(void *base);

/* "hugetlb", "thp", "plain" or "auto". */
const char *uz_arena_kind_name(enum uz_arena_kind kind);

/* Parses a kind name; returns 0, or -EINVAL for an unknown name. */
int uz_arena_kind_parse(const char *name, enum uz_arena_kind *kind);

#endif
