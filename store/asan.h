/* store/asan.h - telling AddressSanitizer about memory a custom allocator
 * hands out and takes back.
 *
 * ASan cannot see inside afmalloc unless told: arenas are poisoned when
 * mapped, a chunk is unpoisoned while allocated and poisoned again when
 * freed, so a touch of a freed chunk or of never-used arena space is
 * reported (as mimalloc's track.h does).  UZ_ASAN is defined in ASan
 * builds (gcc and clang); elsewhere the macros cost nothing.
 */
#ifndef UZ_STORE_ASAN_H
#define UZ_STORE_ASAN_H

#if defined(__SANITIZE_ADDRESS__)
#define UZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UZ_ASAN 1
#endif
#endif

#ifdef UZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#endif
