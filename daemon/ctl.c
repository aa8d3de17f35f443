/* daemon/ctl.c - a poll() loop serving the control socket: many clients
 * at once, none able to stall another or the daemon. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

struct client {
	int fd;
	bool replying;
	uint64_t seq; /* order of arrival */
	struct uz_ctl_peer peer;
	size_t inlen;
	size_t outlen, outoff;
	int64_t deadline_ms;
	char in[UZ_CTL_MAX_REQUEST + 1];
	char out[UZ_CTL_MAX_REPLY];
};

struct uz_ctl {
	int listen_fd;
	int wake[2];
	pthread_t thread;
	uz_ctl_handler handler;
	void *ctx;
	gid_t admin_group;
	void (*thread_start)(void);
	uint64_t accepted;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct client *clients[UZ_CTL_MAX_CLIENTS];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int uz_ctl_parse(char *line, size_t len, char **argv, int maxargs, const char **why)
{
	int argc = 0;
	char *p;

	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len > UZ_CTL_MAX_REQUEST) {
		*why = "request too long";
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == '\t') {
			line[i] = ' ';
		} else if (ch < 0x20 || ch > 0x7e) {
			*why = "malformed request (not printable text)";
			return -EINVAL;
		}
	}
	line[len] = '\0';
	for (p = strtok(line, " "); p; p = strtok(NULL, " ")) {
		if (argc == maxargs) {
			*why = "too many words in request";
			return -EINVAL;
		}
		argv[argc++] = p;
	}
	if (argc == 0) {
		*why = "empty request";
		return -EINVAL;
	}
	return argc;
}

static void client_close(struct uz_ctl *c, int i)
{
	close(c->clients[i]->fd);
	free(c->clients[i]);
	c->clients[i] = NULL;
}

static void client_reply(struct uz_ctl *c, struct client *cl)
{
	char *argv[UZ_CTL_MAX_ARGS];
	const char *why = NULL;
	int argc = uz_ctl_parse(cl->in, cl->inlen, argv, UZ_CTL_MAX_ARGS, &why);

	if (argc < 0)
		snprintf(cl->out, sizeof(cl->out), "error: %s\n", why);
	else
		c->handler(c->ctx, &cl->peer, argc, argv, cl->out, sizeof(cl->out));
	cl->outlen = strlen(cl->out);
	cl->outoff = 0;
	cl->replying = true;
	shutdown(cl->fd, SHUT_RD);
}

/* Returns false when the client is done with (closed or to be closed). */
static bool client_io(struct uz_ctl *c, struct client *cl, short revents)
{
	ssize_t n;

	if (!cl->replying && (revents & (POLLIN | POLLHUP | POLLERR))) {
		n = recv(cl->fd, cl->in + cl->inlen, sizeof(cl->in) - 1 - cl->inlen, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (n < 0)
			return false;
		if (n == 0 && cl->inlen == 0)
			return false; /* connected and left without a word */
		cl->inlen += (size_t)n;
		if (n == 0 || memchr(cl->in + cl->inlen - (size_t)n, '\n', (size_t)n)) {
			char *nl = memchr(cl->in, '\n', cl->inlen);

			if (nl)
				cl->inlen = (size_t)(nl - cl->in) + 1;
			client_reply(c, cl);
		} else if (cl->inlen == sizeof(cl->in) - 1) {
			snprintf(cl->out, sizeof(cl->out), "error: request too long (at most %d bytes)\n",
				 UZ_CTL_MAX_REQUEST);
			cl->outlen = strlen(cl->out);
			cl->outoff = 0;
			cl->replying = true;
			shutdown(cl->fd, SHUT_RD);
		}
	}
	if (cl->replying) {
		n = send(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return true;
		if (n < 0)
			return false;
		cl->outoff += (size_t)n;
		if (cl->outoff == cl->outlen)
			return false;
	}
	return true;
}

/* Fills in who is on the other end of fd.  Returns 0 or a negative errno. */
static int peer_of(struct uz_ctl *c, int fd, struct uz_ctl_peer *peer)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return -errno;
	peer->pid = cred.pid;
	peer->uid = cred.uid;
	peer->gid = cred.gid;
	peer->admin = cred.uid == 0;
	if (peer->admin || c->admin_group == UZ_CTL_NO_GROUP)
		return 0;
	if (cred.gid == c->admin_group) {
		peer->admin = true;
		return 0;
	}
	/* Supplementary groups.  A peer in more than 256 (ERANGE: nothing
	 * copied) is judged on its primary group alone. */
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return 0;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == c->admin_group)
			peer->admin = true;
	return 0;
}

/* A free client slot; when there is none, the one of the client that has
 * been silent longest, which is dropped with a word of why.  Clients being
 * answered are never dropped.  Returns -1 when every client is being
 * answered. */
static int free_slot(struct uz_ctl *c)
{
	static const char busy[] = "error: too many clients; dropped while silent\n";
	int victim = -1;

	for (int i = 0; i < UZ_CTL_MAX_CLIENTS; i++) {
		struct client *cl = c->clients[i];

		if (!cl)
			return i;
		if (!cl->replying && (victim < 0 || cl->seq < c->clients[victim]->seq))
			victim = i;
	}
	if (victim >= 0) {
		(void)!send(c->clients[victim]->fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		client_close(c, victim);
	}
	return victim;
}

static void accept_clients(struct uz_ctl *c)
{
	for (;;) {
		int fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int i;

		if (fd < 0)
			return;
		i = free_slot(c);
		if (i < 0) {
			static const char busy[] = "error: too many clients, try again\n";

			(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		c->clients[i] = calloc(1, sizeof(struct client));
		if (!c->clients[i] || peer_of(c, fd, &c->clients[i]->peer)) {
			free(c->clients[i]);
			c->clients[i] = NULL;
			close(fd);
			continue;
		}
		c->clients[i]->fd = fd;
		c->clients[i]->seq = c->accepted++;
		c->clients[i]->deadline_ms = now_ms() + UZ_CTL_TIMEOUT_MS;
		/* Most clients have sent their line already: answer at once,
		 * so that a burst of quick clients never fills the table. */
		if (!client_io(c, c->clients[i], POLLIN))
			client_close(c, i);
	}
}

static void *serve(void *arg)
{
	struct uz_ctl *c = arg;
	struct pollfd pfd[UZ_CTL_MAX_CLIENTS + 2];
	int map[UZ_CTL_MAX_CLIENTS + 2];
	sigset_t all;

	/* Signals are for the FUSE loop's thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	if (c->thread_start)
		c->thread_start();
	for (;;) {
		int n = 0, timeout = -1;
		int64_t now = now_ms();

		pfd[n].fd = c->wake[0];
		pfd[n++].events = POLLIN;
		pfd[n].fd = c->listen_fd;
		pfd[n++].events = POLLIN;
		for (int i = 0; i < UZ_CTL_MAX_CLIENTS; i++) {
			struct client *cl = c->clients[i];
			int64_t left;

			if (!cl)
				continue;
			left = cl->deadline_ms - now;
			if (left <= 0 && !cl->replying) {
				/* One last word to a client that never finished. */
				snprintf(cl->out, sizeof(cl->out), "error: no complete request within %d s\n",
					 UZ_CTL_TIMEOUT_MS / 1000);
				(void)!send(cl->fd, cl->out, strlen(cl->out), MSG_NOSIGNAL | MSG_DONTWAIT);
			}
			if (left <= 0) {
				client_close(c, i);
				continue;
			}
			if (timeout < 0 || left < timeout)
				timeout = (int)left;
			map[n] = i;
			pfd[n].fd = cl->fd;
			pfd[n++].events = cl->replying ? POLLOUT : POLLIN;
		}
		if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) {
			uz_log(LOG_ERR, "control socket: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			break;
		for (int j = 2; j < n; j++)
			if (pfd[j].revents && !client_io(c, c->clients[map[j]], pfd[j].revents))
				client_close(c, map[j]);
		if (pfd[1].revents & POLLIN)
			accept_clients(c);
	}
	for (int i = 0; i < UZ_CTL_MAX_CLIENTS; i++)
		if (c->clients[i])
			client_close(c, i);
	return NULL;
}

/* Returns true when a live daemon accepts connections on path. */
static bool socket_alive(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0;
	close(fd);
	return alive;
}

struct uz_ctl *uz_ctl_start(const struct uz_ctl_params *p, uz_ctl_handler handler, void *ctx, char *err,
			    size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = p->path;
	struct uz_ctl *c;
	struct stat st;
	mode_t old;
	int e;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "socket %s: path longer than %zu bytes", path, sizeof(addr.sun_path) - 1);
		return NULL;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "socket %s: exists and is not a socket", path);
			return NULL;
		}
		if (socket_alive(&addr)) {
			snprintf(err, errlen, "socket %s: in use by another running uzramd", path);
			return NULL;
		}
		unlink(path);
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "socket %s: out of memory", path);
		return NULL;
	}
	c->handler = handler;
	c->ctx = ctx;
	c->admin_group = p->admin_group;
	c->thread_start = p->thread_start;
	c->wake[0] = c->wake[1] = -1;
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0)
		goto fail;
	old = umask(0177); /* the socket is born 0600, opened up once its group is right */
	e = bind(c->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (e || (p->group != UZ_CTL_NO_GROUP && chown(path, (uid_t)-1, p->group)) ||
	    chmod(path, (mode_t)(p->mode & 0777)) || listen(c->listen_fd, 128) || pipe2(c->wake, O_CLOEXEC))
		goto fail;
	e = pthread_create(&c->thread, NULL, serve, c);
	if (e) {
		errno = e;
		goto fail;
	}
	return c;
fail:
	snprintf(err, errlen, "socket %s: %s", path, strerror(errno));
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(path);
	}
	if (c->wake[0] >= 0) {
		close(c->wake[0]);
		close(c->wake[1]);
	}
	free(c);
	return NULL;
}

void uz_ctl_stop(struct uz_ctl *c)
{
	if (!c)
		return;
	(void)!write(c->wake[1], "x", 1);
	pthread_join(c->thread, NULL);
	close(c->listen_fd);
	unlink(c->path);
	close(c->wake[0]);
	close(c->wake[1]);
	free(c);
}
