/* daemon/ctl.h - the statistics and control socket.
 *
 * Protocol: a client sends one line (at most UZ_CTL_MAX_REQUEST bytes,
 * printable ASCII, words separated by blanks, ended by '\n' or by closing
 * its write side); the daemon answers "ok\n" followed by the reply, or one
 * line "error: WHY\n", and closes the connection.
 */
#ifndef UZ_DAEMON_CTL_H
#define UZ_DAEMON_CTL_H

#include <stddef.h>

#define UZ_CTL_MAX_REQUEST 256
#define UZ_CTL_MAX_REPLY 16384
#define UZ_CTL_MAX_ARGS 8
#define UZ_CTL_MAX_CLIENTS 64
#define UZ_CTL_TIMEOUT_MS 5000

struct uz_ctl;

/* Writes the whole reply for a parsed request into out (NUL-terminated,
 * at most outlen bytes including the NUL).  Called on the socket thread. */
typedef void (*uz_ctl_handler)(void *ctx, int argc, char **argv, char *out, size_t outlen);

/* Splits a request line in place.  Returns the number of words (>= 1), or
 * -EINVAL with *why set for an empty, over-long or non-printable request
 * or one of more than maxargs words. */
int uz_ctl_parse(char *line, size_t len, char **argv, int maxargs, const char **why);

/* Binds the socket at path (mode 0600, replacing a stale socket, refusing
 * one that a live daemon answers on) and starts serving it on a thread of
 * its own.  Returns NULL with the reason in err. */
struct uz_ctl *uz_ctl_start(const char *path, uz_ctl_handler handler, void *ctx, char *err,
			    size_t errlen);

/* Stops serving, closes every connection and removes the socket.  NULL is
 * accepted. */
void uz_ctl_stop(struct uz_ctl *c);

#endif
