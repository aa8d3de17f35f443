/* daemon/ctl_commands.c - the control socket's commands (shared by uzramd
 * and uzramctl). */
#include "ctl_commands.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Every command that changes anything must be marked admin. */
static const struct uz_ctl_command commands[] = {
	{ "stats", "", "every counter, one 'key value' per line", .max_args = 0 },
	{ "help", "", "this list", .max_args = 0 },
	{ "compact", "", "compact now; answers the bytes freed", .max_args = 0, .admin = true, .slow = true },
	{ "reload", "", "re-read the config file; apply mem-limit and compaction", .max_args = 0, .admin = true },
	{ "mem-limit", "SIZE", "set the memory limit now (0: none)", .min_args = 1, .max_args = 1,
	  .needs = "a SIZE (such as 512M, or 0 for none)", .what = "a size", .admin = true },
	{ "idle", "all|AGE", "mark every stored page, or those untouched for AGE, idle", .min_args = 1,
	  .max_args = 1, .needs = "'all' or an AGE (such as 90s, 30min, 2h)", .what = "an age", .admin = true },
	{ "writeback", "idle|huge|huge_idle|all [limit=SIZE]", "write those pages to the backing store",
	  .min_args = 1, .max_args = 2, .option = "limit",
	  .needs = "a type: idle, huge, huge_idle or all (and optionally limit=SIZE)", .what = "a type",
	  .admin = true, .slow = true },
	{ "recompress", "idle|huge|huge_idle|all [threshold=BYTES]",
	  "recompress those LZ4 pages with recomp-algorithm", .min_args = 1, .max_args = 2, .option = "threshold",
	  .needs = "a type: idle, huge, huge_idle or all (and optionally threshold=BYTES)", .what = "a type",
	  .admin = true, .slow = true },
	{ "train", "[sample=PAGES] [size=BYTES]",
	  "train a dictionary for zstd recompression now (dictionary-sample, dictionary-size)", .max_args = 2,
	  .what = "sample=PAGES or size=BYTES", .admin = true, .slow = true },
};

const struct uz_ctl_command *uz_ctl_commands(size_t *n)
{
	*n = sizeof(commands) / sizeof(commands[0]);
	return commands;
}

const struct uz_ctl_command *uz_ctl_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int uz_ctl_command_check_argc(const struct uz_ctl_command *c, int argc, char *out, size_t outlen)
{
	static const char *const counts[] = { "no", "one", "two", "three" };

	if (argc - 1 >= c->min_args && argc - 1 <= c->max_args)
		return 0;
	if (c->min_args == c->max_args)
		snprintf(out, outlen, "error: '%s' takes %s argument%s\n", c->name, counts[c->max_args],
			 c->max_args >= 2 ? "s" : "");
	else
		snprintf(out, outlen, "error: '%s' takes %s or %s arguments\n", c->name, counts[c->min_args],
			 counts[c->max_args]);
	return -EINVAL;
}
