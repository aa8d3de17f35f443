/* daemon/ctl_commands.h - the control socket's commands, one row each:
 * the table uzramd dispatches from (and answers 'help' with) and uzramctl
 * checks its command line against and prints its usage from.  A new
 * command is a row here, its handler in daemon/commands.c, and its entry
 * in uzramctl.8. */
#ifndef UZ_DAEMON_CTL_COMMANDS_H
#define UZ_DAEMON_CTL_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>

struct uz_ctl_command {
	const char *name;
	const char *args; /* their syntax ("SIZE", "all|AGE"); "": none */
	const char *help; /* one line */
	int min_args, max_args; /* words after the name, at most 3 */
	const char *option; /* the optional last word's NAME= ("limit"); NULL: none */
	const char *needs; /* what uzramctl says is missing without an argument */
	const char *what; /* what uzramctl says a bad argument is not ("a size") */
	bool admin; /* changes state: root or the admin group only */
	bool slow; /* works through the whole store: no time limit for the answer */
};

/* The table of every command (*n rows), in the order 'help' lists them. */
const struct uz_ctl_command *uz_ctl_commands(size_t *n);

/* The command called name, or NULL. */
const struct uz_ctl_command *uz_ctl_command(const char *name);

/* Writes the error reply for argc words (the name included) that c does
 * not take ("error: 'stats' takes no argument\n") into out, and returns
 * -EINVAL; returns 0 when c takes that many. */
int uz_ctl_command_check_argc(const struct uz_ctl_command *c, int argc, char *out, size_t outlen);

#endif
