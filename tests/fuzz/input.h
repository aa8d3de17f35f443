/* tests/fuzz/input.h - a fuzz input read one byte at a time (zeros once
 * it is used up), shared by the operation-sequence targets. */
#ifndef UZ_FUZZ_INPUT_H
#define UZ_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct input {
	const uint8_t *p;
	size_t left;
};

static inline unsigned next(struct input *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

#endif
