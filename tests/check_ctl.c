/* tests/check_ctl.c - the control socket (daemon/ctl.c): request parsing,
 * and a live server fed garbage, silence and crowds. */
#include "check_util.h"
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "../daemon/ctl.h"
#include "../daemon/ctl_commands.h"

static char sock_path[108];

START_TEST(parse_requests)
{
	char *argv[UZ_CTL_MAX_ARGS];
	const char *why = NULL;
	char line[600];

	strcpy(line, "stats\n");
	ck_assert_int_eq(uz_ctl_parse(line, strlen(line), argv, UZ_CTL_MAX_ARGS, &why), 1);
	ck_assert_str_eq(argv[0], "stats");
	strcpy(line, "  set\tmem-limit   1G \r\n");
	ck_assert_int_eq(uz_ctl_parse(line, strlen(line), argv, UZ_CTL_MAX_ARGS, &why), 3);
	ck_assert_str_eq(argv[1], "mem-limit");
	ck_assert_str_eq(argv[2], "1G");
	strcpy(line, "   \n");
	ck_assert_int_eq(uz_ctl_parse(line, strlen(line), argv, UZ_CTL_MAX_ARGS, &why), -EINVAL);
	ck_assert_str_eq(why, "empty request");
	memcpy(line, "sta\0ts\n", 7);
	ck_assert_int_eq(uz_ctl_parse(line, 7, argv, UZ_CTL_MAX_ARGS, &why), -EINVAL);
	strcpy(line, "stats \xff\n");
	ck_assert_int_eq(uz_ctl_parse(line, strlen(line), argv, UZ_CTL_MAX_ARGS, &why), -EINVAL);
	strcpy(line, "a b c d e f g h i\n");
	ck_assert_int_eq(uz_ctl_parse(line, strlen(line), argv, UZ_CTL_MAX_ARGS, &why), -EINVAL);
	ck_assert_str_eq(why, "too many words in request");
	memset(line, 'a', 300);
	line[300] = '\n';
	ck_assert_int_eq(uz_ctl_parse(line, 301, argv, UZ_CTL_MAX_ARGS, &why), -EINVAL);
	ck_assert_str_eq(why, "request too long");
}
END_TEST

static void handler(void *ctx, const struct uz_ctl_peer *peer, int argc, char **argv, char *out, size_t outlen)
{
	(void)ctx;
	if (strcmp(argv[0], "ping") == 0)
		snprintf(out, outlen, "ok\npong %d\n", argc);
	else if (strcmp(argv[0], "whoami") == 0)
		snprintf(out, outlen, "ok\n%u %u %d %d\n", (unsigned)peer->uid, (unsigned)peer->gid, peer->pid == getpid(),
			 peer->admin);
	else
		snprintf(out, outlen, "error: unknown command '%s'\n", argv[0]);
}

static int dial(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(a.sun_path, sock_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Sends req (len bytes), optionally ends it by closing the write side,
 * and returns the whole reply. */
static char *ask_how(const void *req, size_t len, int eof)
{
	static char reply[UZ_CTL_MAX_REPLY];
	size_t got = 0;
	ssize_t n;
	int fd = dial();

	ck_assert_int_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	if (eof)
		shutdown(fd, SHUT_WR);
	while ((n = recv(fd, reply + got, sizeof(reply) - 1 - got, 0)) > 0)
		got += (size_t)n;
	reply[got] = '\0';
	close(fd);
	return reply;
}

static char *ask(const void *req, size_t len)
{
	return ask_how(req, len, 0);
}

static struct uz_ctl *serve_with(unsigned mode, gid_t group)
{
	char err[256];
	struct uz_ctl *c;

	snprintf(sock_path, sizeof(sock_path), "/tmp/uzram-check-ctl-%d.sock", getpid());
	c = uz_ctl_start(&(struct uz_ctl_params){ .path = sock_path,
						  .mode = mode,
						  .group = group,
						  .admin_group = UZ_CTL_NO_GROUP },
			 handler, NULL, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

static struct uz_ctl *serve(void)
{
	return serve_with(0600, UZ_CTL_NO_GROUP);
}

START_TEST(answers_and_errors)
{
	struct uz_ctl *c = serve();
	char big[5000];

	ck_assert_str_eq(ask("ping\n", 5), "ok\npong 1\n");
	ck_assert_str_eq(ask_how("ping a b", 8, 1), "ok\npong 3\n"); /* ended by EOF */
	ck_assert_str_eq(ask("nope\n", 5), "error: unknown command 'nope'\n");
	ck_assert_str_eq(ask("\x01\x02\x03\n", 4), "error: malformed request (not printable text)\n");
	ck_assert_str_eq(ask("\n", 1), "error: empty request\n");
	memset(big, 'x', sizeof(big));
	ck_assert_str_eq(ask(big, sizeof(big)), "error: request too long (at most 256 bytes)\n");
	/* Still serving. */
	ck_assert_str_eq(ask("ping\n", 5), "ok\npong 1\n");
	uz_ctl_stop(c);
	ck_assert_int_ne(access(sock_path, F_OK), 0); /* socket removed */
}
END_TEST

/* Silent and half-finished clients do not block the others. */
START_TEST(silent_clients_do_not_block)
{
	struct uz_ctl *c = serve();
	int idle[20];

	for (int i = 0; i < 20; i++) {
		idle[i] = dial();
		if (i % 2)
			ck_assert_int_eq(send(idle[i], "pi", 2, 0), 2); /* partial, then silence */
	}
	for (int i = 0; i < 50; i++)
		ck_assert_str_eq(ask("ping\n", 5), "ok\npong 1\n");
	/* The half-finished ones are told why they are dropped. */
	for (int i = 0; i < 20; i++) {
		char buf[128] = "";
		struct pollfd p = { .fd = idle[i], .events = POLLIN };

		ck_assert_int_eq(poll(&p, 1, 7000), 1);
		if (i % 2) {
			ck_assert_int_gt(recv(idle[i], buf, sizeof(buf) - 1, 0), 0);
			ck_assert_str_eq(buf, "error: no complete request within 5 s\n");
		}
		close(idle[i]);
	}
	ck_assert_str_eq(ask("ping\n", 5), "ok\npong 1\n");
	uz_ctl_stop(c);
}
END_TEST

/* More silent connections than the server keeps: the longest silent
 * ones make room, and are told so; a client with a request is served at
 * once even then. */
START_TEST(crowd_makes_room_for_the_others)
{
	struct uz_ctl *c = serve();
	int fds[UZ_CTL_MAX_CLIENTS + 10], busy = 0;

	for (int i = 0; i < UZ_CTL_MAX_CLIENTS + 10; i++)
		fds[i] = dial();
	ck_assert_str_eq(ask("ping\n", 5), "ok\npong 1\n");
	usleep(200 * 1000); /* well before the 5 s timeout */
	for (int i = 0; i < UZ_CTL_MAX_CLIENTS + 10; i++) {
		struct pollfd p = { .fd = fds[i], .events = POLLIN };
		char buf[128];

		if (poll(&p, 1, 0) == 1) {
			ssize_t n = recv(fds[i], buf, sizeof(buf) - 1, 0);

			ck_assert_int_gt(n, 0);
			buf[n] = '\0';
			ck_assert_str_eq(buf, "error: too many clients; dropped while silent\n");
			ck_assert_int_le(i, 10); /* the oldest ones */
			busy++;
		}
	}
	ck_assert_int_eq(busy, 11);
	for (int i = 0; i < UZ_CTL_MAX_CLIENTS + 10; i++)
		close(fds[i]);
	/* Dropped connections are noticed; new clients are served again. */
	for (int i = 0; i < 5; i++)
		ck_assert_str_eq(ask("ping\n", 5), "ok\npong 1\n");
	uz_ctl_stop(c);
}
END_TEST

/* A client that hangs up before reading its reply. */
START_TEST(dropped_mid_reply)
{
	struct uz_ctl *c = serve();

	for (int i = 0; i < 100; i++) {
		int fd = dial();

		ck_assert_int_eq(send(fd, "ping\n", 5, 0), 5);
		close(fd);
	}
	ck_assert_str_eq(ask("ping\n", 5), "ok\npong 1\n");
	uz_ctl_stop(c);
}
END_TEST

START_TEST(live_socket_is_not_stolen)
{
	struct uz_ctl *c = serve(), *c2;
	char err[256];

	c2 = uz_ctl_start(&(struct uz_ctl_params){ .path = sock_path,
						   .mode = 0600,
						   .group = UZ_CTL_NO_GROUP,
						   .admin_group = UZ_CTL_NO_GROUP },
			  handler, NULL, err, sizeof(err));
	ck_assert_ptr_null(c2);
	ck_assert_ptr_nonnull(strstr(err, "in use by another running uzramd"));
	ck_assert_str_eq(ask("ping\n", 5), "ok\npong 1\n");
	uz_ctl_stop(c);
}
END_TEST

/* The handler learns who asks; the socket gets the mode and group asked
 * for: group 100 as root; else the caller's own (giving a file to another
 * group needs root: the package's build runs the suites as a user). */
START_TEST(peer_and_permissions)
{
	gid_t group = getuid() == 0 ? 100 : getgid();
	struct uz_ctl *c = serve_with(0660, group);
	struct stat st;
	char want[64];

	ck_assert_int_eq(stat(sock_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0660);
	ck_assert_uint_eq(st.st_gid, group);
	snprintf(want, sizeof(want), "ok\n%u %u 1 %d\n", (unsigned)getuid(), (unsigned)getgid(), getuid() == 0);
	ck_assert_str_eq(ask("whoami\n", 7), want);
	uz_ctl_stop(c);
}
END_TEST

/* The command table: sane rows, the argument-count replies, and every
 * command under a .TP heading of its own in uzramctl.8. */
START_TEST(command_table)
{
	const char *file = SRCDIR "/daemon/uzramctl.8";
	char line[512], out[128], heading[64][64];
	const struct uz_ctl_command *cmds;
	size_t n, nheadings = 0;
	bool tp = false;
	FILE *f = fopen(file, "re");

	ck_assert_msg(f != NULL, "%s: %s", file, strerror(errno));
	/* ".TP" then ".B NAME", ".BI NAME ARGS" or ".BR NAME ARGS" */
	while (fgets(line, sizeof(line), f) && nheadings < 64) {
		if (tp && line[0] == '.' && line[1] == 'B') {
			char *w = line + strcspn(line, " ") + strspn(line + strcspn(line, " "), " "), *o = heading[nheadings];

			for (; *w && !strchr(" \n", *w) && o < heading[nheadings] + 63; w++)
				if (!(w[0] == '\\' && w[1] == '-'))
					*o++ = *w;
			*o = '\0';
			nheadings++;
		}
		tp = strncmp(line, ".TP", 3) == 0;
	}
	fclose(f);
	cmds = uz_ctl_commands(&n);
	ck_assert_uint_ge(n, 8);
	for (size_t i = 0; i < n; i++) {
		bool documented = false;

		ck_assert_ptr_eq(uz_ctl_command(cmds[i].name), &cmds[i]);
		ck_assert_msg(cmds[i].help[0] && cmds[i].args, "%s: no help", cmds[i].name);
		ck_assert_int_le(cmds[i].min_args, cmds[i].max_args);
		ck_assert_int_le(cmds[i].max_args, 3);
		ck_assert_msg(!cmds[i].min_args || (cmds[i].needs && cmds[i].what), "%s: says nothing of its argument",
			      cmds[i].name);
		ck_assert_int_eq(uz_ctl_command_check_argc(&cmds[i], 1 + cmds[i].min_args, out, sizeof(out)), 0);
		ck_assert_int_eq(uz_ctl_command_check_argc(&cmds[i], 2 + cmds[i].max_args, out, sizeof(out)), -EINVAL);
		for (size_t h = 0; h < nheadings && !documented; h++)
			documented = strcmp(heading[h], cmds[i].name) == 0;
		ck_assert_msg(documented, "%s does not describe command %s under a .TP", file, cmds[i].name);
	}
	ck_assert_ptr_null(uz_ctl_command("frobnicate"));
	ck_assert_int_eq(uz_ctl_command_check_argc(uz_ctl_command("stats"), 2, out, sizeof(out)), -EINVAL);
	ck_assert_str_eq(out, "error: 'stats' takes no argument\n");
	ck_assert_int_eq(uz_ctl_command_check_argc(uz_ctl_command("idle"), 1, out, sizeof(out)), -EINVAL);
	ck_assert_str_eq(out, "error: 'idle' takes one argument\n");
	ck_assert_int_eq(uz_ctl_command_check_argc(uz_ctl_command("writeback"), 4, out, sizeof(out)), -EINVAL);
	ck_assert_str_eq(out, "error: 'writeback' takes one or two arguments\n");
	ck_assert_int_eq(uz_ctl_command_check_argc(uz_ctl_command("writeback"), 3, out, sizeof(out)), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctl");

	uz_tcase(s, "ctl", 30,
		 UZ_TESTS(parse_requests, command_table, answers_and_errors, silent_clients_do_not_block,
			  crowd_makes_room_for_the_others, peer_and_permissions, dropped_mid_reply, live_socket_is_not_stolen));
	return uz_run_suite(s);
}
