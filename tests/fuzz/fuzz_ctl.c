/* tests/fuzz/fuzz_ctl.c - libFuzzer target: the control socket's request
 * parser, uz_ctl_parse(), on any bytes a client could send.  A request it
 * accepts must split into 1..UZ_CTL_MAX_ARGS non-empty words of printable
 * ASCII without blanks, all inside the input; one it refuses must say why. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[UZ_CTL_MAX_ARGS];
	const char *why = NULL;
	char *line;
	int argc;

	/* The server hands over at most its buffer, request plus one byte. */
	if (size > UZ_CTL_MAX_REQUEST + 1)
		size = UZ_CTL_MAX_REQUEST + 1;
	line = malloc(size + 1); /* the parser may write a NUL at line[size] */
	assert(line);
	memcpy(line, data, size);
	argc = uz_ctl_parse(line, size, argv, UZ_CTL_MAX_ARGS, &why);
	if (argc < 0) {
		assert(why && why[0]);
	} else {
		assert(argc >= 1 && argc <= UZ_CTL_MAX_ARGS);
		for (int i = 0; i < argc; i++) {
			size_t n = strlen(argv[i]);

			assert(n > 0);
			assert(argv[i] >= line && argv[i] + n <= line + size);
			for (size_t j = 0; j < n; j++)
				assert(argv[i][j] > 0x20 && argv[i][j] < 0x7f);
		}
	}
	free(line);
	return 0;
}
