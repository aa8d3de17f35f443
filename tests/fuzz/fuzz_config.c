/* tests/fuzz/fuzz_config.c - libFuzzer target: the config file parser
 * (inih plus every key's value parser, size expressions included) on any
 * text.  Accepted text must leave a usable configuration; refused text
 * must name where and why ("fuzz:LINE: KEY: why"). */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../daemon/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct uz_config cfg;
	char err[1024] = "", *text = malloc(size + 1);
	int r;

	assert(text);
	memcpy(text, data, size);
	text[size] = '\0';
	uz_config_defaults(&cfg);
	r = uz_config_load_string(text, "fuzz", &cfg, err, sizeof(err));
	if (r == 0) {
		assert(cfg.threads >= 1 && cfg.threads <= UZ_MAX_THREADS);
		assert(cfg.compact_ppm <= 1000000);
		assert(cfg.socket_mode <= 0777 && (cfg.socket_mode & 0200));
		assert(cfg.lock_memory == 0 || cfg.lock_memory == 1);
		assert(cfg.allow_other == 0 || cfg.allow_other == 1);
		assert(memchr(cfg.path, '\0', sizeof(cfg.path)) && memchr(cfg.socket, '\0', sizeof(cfg.socket)));
		assert(!cfg.path[0] || cfg.path[0] == '/');
	} else {
		assert(r == -EINVAL);
		assert(strncmp(err, "fuzz:", 5) == 0);
	}
	free(text);
	return 0;
}
