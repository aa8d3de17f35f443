/* daemon/uzramd.c - the uzram daemon: settings, life cycle, signals, and
 * the answers of the control socket.  Wires fuse/ to store/. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../compress/page.h"
#include "../fuse/uzfuse.h"
#include "../store/store.h"
#include "config.h"
#include "ctl.h"
#include "log.h"
#include "stats.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

struct daemon {
	struct uz_config cfg;
	char path[PATH_MAX];
	char name[NAME_MAX + 1];
	char socket[PATH_MAX];
	bool foreground;
	bool created_path;
	int ready_fd;
	struct uz_store *st;
	struct uz_fuse *fuse;
	struct uz_ctl *ctl;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: uzramd [OPTION]... PATH\n"
		"Serve a compressed RAM block file at PATH (created if missing) through FUSE.\n\n"
		"  -s, --size SIZE        device size, a multiple of 4096 (K, M, G, T suffixes)\n"
		"  -S, --socket PATH      control socket (default /run/uzram/NAME.sock)\n"
		"  -c, --config FILE      settings file (default /etc/uzram/NAME.conf if present)\n"
		"  -m, --mem-limit SIZE   most memory the store may use (0: no limit)\n"
		"  -a, --arena KIND       hugetlb, thp, plain or auto\n"
		"  -t, --threads N        FUSE worker threads\n"
		"  -C, --compaction PCT   compact when stranded space passes PCT%% of the data, or off\n"
		"  -f, --foreground       stay in the foreground and log to stderr\n"
		"  -h, --help             show this help\n\n"
		"Without --foreground, uzramd returns once PATH is ready to use.\n"
		"SIGTERM or SIGINT unmounts PATH and stops the daemon.\n");
}

static void ctl_handler(void *ctx, int argc, char **argv, char *out, size_t outlen)
{
	struct daemon *d = ctx;
	struct uz_store_stats s;

	if (strcmp(argv[0], "stats") == 0 && argc == 1) {
		uz_store_stats(d->st, &s);
		uz_stats_format(&s, &(struct uz_stats_info){ .name = d->name,
							    .path = d->path,
							    .algorithm = d->cfg.algorithm,
							    .pid = getpid() },
				out, outlen);
	} else if (strcmp(argv[0], "compact") == 0 && argc == 1) {
		struct uz_compact_result r;

		uz_store_compact(d->st, &r);
		uz_log(LOG_INFO, "compaction asked for: %llu bytes freed, %llu pages emptied, %llu objects moved",
		       (unsigned long long)r.bytes_freed, (unsigned long long)r.pages_compacted,
		       (unsigned long long)r.objects_moved);
		snprintf(out, outlen, "ok\nbytes_freed %llu\npages_compacted %llu\nobjects_moved %llu\n"
				      "objects_unmoved %llu\n",
			 (unsigned long long)r.bytes_freed, (unsigned long long)r.pages_compacted,
			 (unsigned long long)r.objects_moved, (unsigned long long)r.objects_unmoved);
	} else if (strcmp(argv[0], "help") == 0 && argc == 1) {
		snprintf(out, outlen, "ok\nstats: every counter, one 'key value' per line\n"
				      "compact: compact now; answers the bytes freed\n"
				      "help: this list\n");
	} else if (strcmp(argv[0], "stats") == 0 || strcmp(argv[0], "help") == 0 ||
		   strcmp(argv[0], "compact") == 0) {
		snprintf(out, outlen, "error: '%s' takes no argument\n", argv[0]);
	} else {
		snprintf(out, outlen, "error: unknown command '%.64s' (try 'help')\n", argv[0]);
	}
}

static void on_ready(void *arg)
{
	struct daemon *d = arg;
	int fd;

	uz_log(LOG_INFO, "%s ready: %llu bytes, socket %s, %u threads", d->path,
	       (unsigned long long)d->cfg.size, d->socket, d->cfg.threads);
	if (d->ready_fd < 0)
		return;
	(void)!write(d->ready_fd, "1", 1);
	close(d->ready_fd);
	d->ready_fd = -1;
	/* Detach from the terminal of whoever started us. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		uz_log_to_syslog();
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
}

/* Makes PATH a regular file we may mount over.  Returns 0 or -1 (logged). */
static int prepare_path(struct daemon *d, const char *arg)
{
	char dir[PATH_MAX], base[NAME_MAX + 1], real[PATH_MAX], tmp[PATH_MAX];
	struct stat st, pst;
	int fd;

	if (strlen(arg) >= sizeof(tmp)) {
		uz_log(LOG_ERR, "%.64s...: path too long", arg);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s", arg);
	snprintf(base, sizeof(base), "%s", basename(tmp));
	snprintf(tmp, sizeof(tmp), "%s", arg);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	if (!realpath(dir, real)) {
		uz_log(LOG_ERR, "%s: directory %s: %s", arg, dir, strerror(errno));
		return -1;
	}
	if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		uz_log(LOG_ERR, "%s: not a file name", arg);
		return -1;
	}
	if (snprintf(d->path, sizeof(d->path), "%s/%s", strcmp(real, "/") ? real : "", base) >=
	    (int)sizeof(d->path)) {
		uz_log(LOG_ERR, "%s: path too long", arg);
		return -1;
	}
	snprintf(d->name, sizeof(d->name), "%s", base);
	if (lstat(d->path, &st) == 0) {
		if (S_ISLNK(st.st_mode)) {
			uz_log(LOG_ERR, "%s: is a symbolic link; give the real path", d->path);
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			uz_log(LOG_ERR, "%s: exists and is not a regular file", d->path);
			return -1;
		}
		if (stat(real, &pst) == 0 && pst.st_dev != st.st_dev) {
			uz_log(LOG_ERR, "%s: already a mount point (another uzramd, or a stale mount: "
					"umount -l it)", d->path);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		uz_log(LOG_ERR, "%s: %s", d->path, strerror(errno));
		return -1;
	}
	fd = open(d->path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		uz_log(LOG_ERR, "%s: cannot create: %s", d->path, strerror(errno));
		return -1;
	}
	close(fd);
	d->created_path = true;
	return 0;
}

static int parse_args(struct daemon *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'c' },
		{ "mem-limit", required_argument, NULL, 'm' },
		{ "arena", required_argument, NULL, 'a' },
		{ "threads", required_argument, NULL, 't' },
		{ "compaction", required_argument, NULL, 'C' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	/* Command-line settings are applied after the config file. */
	const char *keys[64], *vals[64];
	const char *config = NULL;
	char err[PATH_MAX + 256], conf[PATH_MAX];
	struct stat st;
	int n = 0, c, r;

	while ((c = getopt_long(argc, argv, "s:S:c:m:a:t:C:fh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'S':
		case 'm':
		case 'a':
		case 't':
		case 'C':
			if (n == 64) {
				uz_log(LOG_ERR, "too many options");
				return -1;
			}
			for (const struct option *o = opts; o->name; o++)
				if (o->val == c)
					keys[n] = o->name;
			if (c == 'm')
				keys[n] = "mem-limit";
			vals[n++] = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'f':
			d->foreground = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'uzramd --help'.\n");
			return -1;
		}
	}
	if (optind != argc - 1) {
		uz_log(LOG_ERR, optind == argc ? "missing PATH (the block file to serve)"
					       : "one PATH only, got '%s' too", argv[argc - 1]);
		fprintf(stderr, "Try 'uzramd --help'.\n");
		return -1;
	}
	uz_config_defaults(&d->cfg);
	if (prepare_path(d, argv[optind]))
		return -1;
	if (!config) {
		snprintf(conf, sizeof(conf), "%s/%s.conf", UZ_CONF_DIR, d->name);
		if (stat(conf, &st) == 0)
			config = conf;
	}
	if (config) {
		r = uz_config_load(config, &d->cfg, err, sizeof(err));
		if (r) {
			uz_log(LOG_ERR, "%s", err);
			return -1;
		}
	}
	for (int i = 0; i < n; i++) {
		if (uz_config_set(&d->cfg, keys[i], vals[i], err, sizeof(err))) {
			uz_log(LOG_ERR, "--%s: %s", keys[i], err);
			return -1;
		}
	}
	if (d->cfg.path[0] && strcmp(d->cfg.path, d->path) != 0)
		uz_log(LOG_WARNING, "config path %s ignored: serving %s as asked", d->cfg.path, d->path);
	if (d->cfg.socket[0])
		snprintf(d->socket, sizeof(d->socket), "%s", d->cfg.socket);
	else if (snprintf(d->socket, sizeof(d->socket), "%s/%s.sock", UZ_RUN_DIR, d->name) >=
		 (int)sizeof(d->socket))
		return -1;
	return 0;
}

/* Forks; the parent waits until the child says the file is ready (exit 0)
 * or dies (exit 1: the child has printed why).  Returns in the child. */
static void daemonize(struct daemon *d)
{
	int p[2], status;
	char ch;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC)) {
		uz_log(LOG_ERR, "pipe: %s", strerror(errno));
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		uz_log(LOG_ERR, "fork: %s", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		close(p[1]);
		if (read(p[0], &ch, 1) == 1)
			exit(0);
		waitpid(pid, &status, 0);
		exit(1);
	}
	close(p[0]);
	d->ready_fd = p[1];
	setsid();
}

static void remove_created(struct daemon *d)
{
	if (d->created_path)
		unlink(d->path);
}

int main(int argc, char **argv)
{
	struct daemon d = { .ready_fd = -1 };
	struct uz_store_config scfg;
	struct uz_fuse_params fp;
	struct uz_store_stats s;
	char err[PATH_MAX + 256], fsname[NAME_MAX + 8];
	int res = 1;

	if (parse_args(&d, argc, argv)) {
		remove_created(&d);
		return 1;
	}
	if (!d.foreground)
		daemonize(&d);
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0))
		uz_log(LOG_WARNING, "PR_SET_IO_FLUSHER: %s (writes under memory pressure may stall)",
		       strerror(errno));
	scfg = (struct uz_store_config){ .arena = d.cfg.arena,
					 .mem_limit = d.cfg.mem_limit,
					 .compact_ppm = d.cfg.compact_ppm };
	d.st = uz_store_create(d.cfg.size, &scfg);
	if (!d.st) {
		uz_log(LOG_ERR, "cannot create a store of %llu bytes: %s", (unsigned long long)d.cfg.size,
		       strerror(errno));
		goto out;
	}
	uz_store_stats(d.st, &s);
	uz_log(LOG_INFO, "arenas: %s%s", uz_arena_kind_name(s.afm.kind),
	       s.afm.kind == UZ_ARENA_HUGETLB ? " (reserved huge pages)"
	       : s.afm.kind == UZ_ARENA_THP   ? " (no hugetlb pages reserved: transparent huge pages)"
					      : "");
	if (strncmp(d.socket, UZ_RUN_DIR "/", sizeof(UZ_RUN_DIR)) == 0 && mkdir(UZ_RUN_DIR, 0755) &&
	    errno != EEXIST) {
		uz_log(LOG_ERR, "%s: %s", UZ_RUN_DIR, strerror(errno));
		goto out;
	}
	d.ctl = uz_ctl_start(d.socket, ctl_handler, &d, err, sizeof(err));
	if (!d.ctl) {
		uz_log(LOG_ERR, "%s", err);
		goto out;
	}
	snprintf(fsname, sizeof(fsname), "uzram:%s", d.name);
	fp = (struct uz_fuse_params){ .mountpoint = d.path,
				      .fsname = fsname,
				      .threads = d.cfg.threads,
				      .disksize = d.cfg.size,
				      .ready = on_ready,
				      .ready_arg = &d };
	d.fuse = uz_fuse_mount(d.st, &fp, err, sizeof(err));
	if (!d.fuse) {
		uz_log(LOG_ERR, "%s", err);
		goto out;
	}
	if (uz_fuse_signals(d.fuse)) {
		uz_log(LOG_ERR, "cannot install signal handlers");
		goto out;
	}
	res = uz_fuse_run(d.fuse);
	if (res)
		uz_log(LOG_ERR, "FUSE loop failed: %s", strerror(-res));
	else
		uz_log(LOG_INFO, "%s: stopping", d.path);
	res = res ? 1 : 0;
out:
	uz_ctl_stop(d.ctl);
	uz_fuse_unmount(d.fuse);
	uz_store_destroy(d.st);
	remove_created(&d);
	return res;
}
