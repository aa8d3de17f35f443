/* daemon/ctl.h - the statistics and control socket.
 *
 * Protocol: a client sends one line (at most UZ_CTL_MAX_REQUEST bytes,
 * printable ASCII, words separated by blanks, ended by '\n' or by closing
 * its write side); the daemon answers "ok\n" followed by the reply, or one
 * line "error: WHY\n", and closes the connection.
 */
#ifndef UZ_DAEMON_CTL_H
#define UZ_DAEMON_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define UZ_CTL_MAX_REQUEST 256
#define UZ_CTL_MAX_REPLY 16384
#define UZ_CTL_MAX_ARGS 8
#define UZ_CTL_MAX_CLIENTS 64
#define UZ_CTL_TIMEOUT_MS 5000

struct uz_ctl;

/* Who is asking, from SO_PEERCRED and SO_PEERGROUPS when it connected. */
struct uz_ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool admin; /* root, or a member of the admin group */
};

/* How the socket is made and who may change state through it. */
struct uz_ctl_params {
	const char *path;
	unsigned mode; /* permission bits of the socket file, e.g. 0600 */
	gid_t group; /* group of the socket file; (gid_t)-1: the daemon's */
	gid_t admin_group; /* whose members are admins besides root; (gid_t)-1: none */
	void (*thread_start)(void); /* called first in the socket thread; NULL: nothing */
};

#define UZ_CTL_NO_GROUP ((gid_t)-1)

/* Writes the whole reply for a parsed request into out (NUL-terminated,
 * at most outlen bytes including the NUL).  Called on the socket thread. */
typedef void (*uz_ctl_handler)(void *ctx, const struct uz_ctl_peer *peer, int argc, char **argv, char *out,
			       size_t outlen);

/* Splits a request line in place.  Returns the number of words (>= 1), or
 * -EINVAL with *why set for an empty, over-long or non-printable request
 * or one of more than maxargs words. */
int uz_ctl_parse(char *line, size_t len, char **argv, int maxargs, const char **why);

/* Binds the socket at p->path with p->mode and p->group (replacing a
 * stale socket, refusing one that a live daemon answers on) and starts
 * serving it on a thread of its own.  When every client slot is taken, the
 * client that has been silent longest is dropped for a new one.  Returns
 * NULL with the reason in err. */
struct uz_ctl *uz_ctl_start(const struct uz_ctl_params *p, uz_ctl_handler handler, void *ctx, char *err,
			    size_t errlen);

/* Stops serving, closes every connection and removes the socket.  NULL is
 * accepted. */
void uz_ctl_stop(struct uz_ctl *c);

#endif
