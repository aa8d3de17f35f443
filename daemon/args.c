/* daemon/args.c - uzramd's command line, and the settings it assembles
 * from the defaults, the config file and the options. */
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "uzramd.h"

static void usage(FILE *out)
{
	const struct uz_config_key *keys;
	size_t nkeys;

	fprintf(out,
		"Usage: uzramd [OPTION]... [PATH]\n"
		"Serve a compressed RAM block file at PATH (created if missing) through FUSE.\n\n"
		"  -i, --instance NAME    device NAME: config /etc/uzram/NAME.conf, socket\n"
		"                         /run/uzram/NAME.sock, PATH from the config or /run/uzram/NAME\n"
		"  -s, --size SIZE        device size, a multiple of 4096 (K, M, G, T suffixes)\n"
		"  -S, --socket PATH      control socket (default /run/uzram/NAME.sock)\n"
		"  -c, --config FILE      settings file (default /etc/uzram/NAME.conf if present)\n"
		"  -m, --mem-limit SIZE   most memory the store may use (0: no limit)\n"
		"  -a, --arena KIND       hugetlb, thp, plain or auto\n"
		"  -t, --threads N        FUSE worker threads (/dev/fuse)\n"
		"  -U, --io-uring MODE    FUSE over io_uring: auto, yes or no\n"
		"      --io-uring-depth N entries per CPU queue with io_uring\n"
		"  -C, --compaction PCT   compact when stranded space passes PCT%% of the data, or off\n"
		"  -L, --lock-memory Y/N  lock the daemon's memory in RAM as it is touched (default yes)\n"
		"  -f, --foreground       stay in the foreground and log to stderr\n"
		"  -V, --version          print the version and exit\n"
		"  -h, --help             show this help\n\n"
		"Without --foreground, uzramd returns once PATH is ready to use.\n"
		"SIGTERM or SIGINT unmounts PATH and stops the daemon; SIGHUP re-reads the config\n"
		"and applies mem-limit and compaction (so does 'uzramctl reload').\n");
	keys = uz_config_keys(&nkeys);
	fprintf(out, "\nConfig keys (KEY = VALUE in FILE; * applies on reload; see uzramd(8)):\n");
	for (size_t i = 0; i < nkeys; i++)
		fprintf(out, "  %-21s %c %s\n", keys[i].name, keys[i].reload == UZ_RELOAD_NEVER ? ' ' : '*',
			keys[i].help);
}

int build_config(const struct daemon *d, struct uz_config *cfg, char *err, size_t errlen)
{
	char why[PATH_MAX + 256];

	uz_config_defaults(cfg);
	if (d->config_file[0] && uz_config_load(d->config_file, cfg, err, errlen))
		return -1;
	for (int i = 0; i < d->ncli; i++) {
		if (uz_config_set(cfg, d->cli_key[i], d->cli_val[i], why, sizeof(why))) {
			snprintf(err, errlen, "--%s: %s", d->cli_key[i], why);
			return -1;
		}
	}
	if (uz_config_finish(cfg, why, 512)) {
		int n = snprintf(err, errlen, "%s%s", d->config_file, d->config_file[0] ? ": " : "");

		if (n >= 0 && (size_t)n < errlen)
			snprintf(err + n, errlen - (size_t)n, "%.511s", why);
		return -1;
	}
	return 0;
}

int parse_args(struct daemon *d, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "socket", required_argument, NULL, 'S' },
		{ "config", required_argument, NULL, 'c' },
		{ "instance", required_argument, NULL, 'i' },
		{ "mem-limit", required_argument, NULL, 'm' },
		{ "arena", required_argument, NULL, 'a' },
		{ "threads", required_argument, NULL, 't' },
		{ "compaction", required_argument, NULL, 'C' },
		{ "lock-memory", required_argument, NULL, 'L' },
		{ "io-uring", required_argument, NULL, 'U' },
		{ "io-uring-depth", required_argument, NULL, 'D' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *config = NULL, *instance = NULL, *path = NULL;
	char err[PATH_MAX + 512], tmp[PATH_MAX], name[NAME_MAX + 1] = "";
	struct stat st;
	int c;

	while ((c = getopt_long(argc, argv, "s:S:c:i:m:a:t:C:L:U:fVh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'S':
		case 'm':
		case 'a':
		case 't':
		case 'C':
		case 'L':
		case 'U':
		case 'D':
			if (d->ncli == UZ_MAX_CLI) {
				uz_log(LOG_ERR, "too many options");
				return -1;
			}
			for (const struct option *o = opts; o->name; o++)
				if (o->val == c)
					d->cli_key[d->ncli] = o->name;
			d->cli_val[d->ncli++] = optarg;
			break;
		case 'c':
			config = optarg;
			break;
		case 'i':
			instance = optarg;
			break;
		case 'f':
			d->foreground = true;
			break;
		case 'V':
			printf("uzramd %s\n", UZ_VERSION);
			exit(0);
		case 'h':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "Try 'uzramd --help'.\n");
			return -1;
		}
	}
	if (argc - optind > 1) {
		uz_log(LOG_ERR, "one PATH only, got '%s' too", argv[argc - 1]);
		fprintf(stderr, "Try 'uzramd --help'.\n");
		return -1;
	}
	if (optind < argc)
		path = argv[optind];
	if (instance) {
		if (!instance[0] || strlen(instance) > NAME_MAX || strchr(instance, '/') || instance[0] == '.') {
			uz_log(LOG_ERR, "--instance '%s': not a device name", instance);
			return -1;
		}
		snprintf(name, sizeof(name), "%s", instance);
	} else if (path) {
		snprintf(tmp, sizeof(tmp), "%s", path);
		snprintf(name, sizeof(name), "%s", basename(tmp));
	}
	/* The file: --config, else /etc/uzram/NAME.conf when it exists. */
	if (config) {
		snprintf(d->config_file, sizeof(d->config_file), "%s", config);
	} else if (name[0]) {
		snprintf(d->config_file, sizeof(d->config_file), "%s/%s.conf", UZ_CONF_DIR, name);
		if (stat(d->config_file, &st) != 0)
			d->config_file[0] = '\0';
	}
	if (build_config(d, &d->cfg, err, sizeof(err))) {
		uz_log(LOG_ERR, "%s", err);
		return -1;
	}
	if (!path && d->cfg.path[0])
		path = d->cfg.path;
	if (!path && instance) {
		snprintf(tmp, sizeof(tmp), "%s/%s", UZ_RUN_DIR, instance);
		path = tmp;
	}
	if (!path) {
		uz_log(LOG_ERR, "missing PATH (the block file to serve): give it, or --instance, or 'path' in the config");
		fprintf(stderr, "Try 'uzramd --help'.\n");
		return -1;
	}
	if (argc > optind && d->cfg.path[0] && strcmp(d->cfg.path, path) != 0)
		uz_log(LOG_WARNING, "config path %s ignored: serving %s as asked", d->cfg.path, path);
	if (prepare_path(d, path))
		return -1;
	if (name[0])
		snprintf(d->name, sizeof(d->name), "%s", name);
	if (d->cfg.socket[0])
		snprintf(d->socket, sizeof(d->socket), "%s", d->cfg.socket);
	else if (snprintf(d->socket, sizeof(d->socket), "%s/%s.sock", UZ_RUN_DIR, d->name) >=
		 (int)sizeof(d->socket))
		return -1;
	return 0;
}

