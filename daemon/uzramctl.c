/* daemon/uzramctl.c - query uzram daemons over their control sockets. */
#include <errno.h>
#include <getopt.h>
#include <glob.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "stats.h"

#define MAX_KEYS 192

struct kv {
	int n;
	char *key[MAX_KEYS];
	char *val[MAX_KEYS];
	char buf[UZ_CTL_MAX_REPLY + 1];
};

/* Sends one request and reads the whole reply.  Returns 0, or -1 with a
 * message in err. */
static int request(const char *path, const char *req, char *reply, size_t cap, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	/* Commands that work through the whole store take as long as it is
	 * large: no time limit for their answer. */
	bool long_cmd = strncmp(req, "writeback ", 10) == 0 || strncmp(req, "recompress ", 11) == 0 ||
			strcmp(req, "compact\n") == 0;
	struct timeval tv = { .tv_sec = long_cmd ? 0 : 10 };
	size_t len = 0;
	ssize_t n;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "%s: socket path too long", path);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		snprintf(err, errlen, "cannot connect to %s: %s%s", path, strerror(errno),
			 errno == ENOENT || errno == ECONNREFUSED ? " (is uzramd running?)" : "");
		goto fail;
	}
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		snprintf(err, errlen, "%s: sending the request: %s", path, strerror(errno));
		goto fail;
	}
	while (len < cap - 1 && (n = recv(fd, reply + len, cap - 1 - len, 0)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: reading the reply: %s", path,
				 errno == EAGAIN ? "no answer in 10 s" : strerror(errno));
			goto fail;
		}
		len += (size_t)n;
	}
	reply[len] = '\0';
	close(fd);
	if (strncmp(reply, "ok\n", 3) != 0) {
		char *nl = strchr(reply, '\n');

		if (nl)
			*nl = '\0';
		snprintf(err, errlen, "%s: %.512s", path, len ? reply : "no reply");
		return -1;
	}
	return 0;
fail:
	close(fd);
	return -1;
}

static int load(const char *path, struct kv *kv, char *err, size_t errlen)
{
	char *line, *save = NULL;

	if (request(path, "stats\n", kv->buf, sizeof(kv->buf), err, errlen))
		return -1;
	kv->n = 0;
	for (line = strtok_r(kv->buf + 3, "\n", &save); line && kv->n < MAX_KEYS;
	     line = strtok_r(NULL, "\n", &save)) {
		char *sp = strchr(line, ' ');

		if (!sp)
			continue;
		*sp = '\0';
		kv->key[kv->n] = line;
		kv->val[kv->n++] = sp + 1;
	}
	return 0;
}

static const char *get(const struct kv *kv, const char *key)
{
	for (int i = 0; i < kv->n; i++)
		if (strcmp(kv->key[i], key) == 0)
			return kv->val[i];
	return "-";
}

static void human(const char *val, bool bytes, char *out, size_t cap)
{
	static const char units[] = "BKMGTPE";
	unsigned long long v;
	double d;
	int u = 0;
	char *end;

	v = strtoull(val, &end, 10);
	if (bytes || *end || end == val) {
		snprintf(out, cap, "%s", val);
		return;
	}
	d = (double)v;
	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(out, cap, "%lluB", v);
	else if ((unsigned long long)(d * 10 + 0.5) % 10 == 0)
		snprintf(out, cap, "%.0f%c", d, units[u]);
	else
		snprintf(out, cap, "%.1f%c", d, units[u]);
}

static bool is_number(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json(const struct kv *kv)
{
	printf("{");
	for (int i = 0; i < kv->n; i++) {
		printf("%s\n  ", i ? "," : "");
		print_json_string(kv->key[i]);
		printf(": ");
		if (is_number(kv->val[i]))
			printf("%s", kv->val[i]);
		else
			print_json_string(kv->val[i]);
	}
	printf("\n}\n");
}

/* The table's columns: zramctl's, then uzram's own. */
enum col_kind { COL_TEXT, COL_SIZE, COL_NUM, COL_RATIO, COL_MOUNT };

static const struct column {
	const char *name;
	const char *key; /* in the stats reply */
	enum col_kind kind;
	const char *help;
} columns[] = {
	{ "NAME", "name", COL_TEXT, "device name" },
	{ "DISKSIZE", "disksize", COL_SIZE, "limit on the uncompressed amount of data" },
	{ "DATA", "orig_data_size", COL_SIZE, "uncompressed size of stored data" },
	{ "COMPR", "compr_data_size", COL_SIZE, "compressed size of stored data" },
	{ "ALGORITHM", "algorithm", COL_TEXT, "the compression algorithm" },
	{ "STREAMS", "streams", COL_NUM, "requests served at once: FUSE worker threads, or io_uring queues" },
	{ "ZERO-PAGES", "same_pages", COL_NUM, "same-filled pages, with no allocated memory" },
	{ "TOTAL", "mem_used_total", COL_SIZE, "all memory including allocator fragmentation and metadata" },
	{ "MEM-LIMIT", "mem_limit", COL_SIZE, "memory limit used to store compressed data" },
	{ "MEM-USED", "mem_used_max", COL_SIZE, "the most memory the device has used" },
	{ "MIGRATED", "pages_compacted", COL_NUM, "pages emptied by compaction" },
	{ "COMP-RATIO", NULL, COL_RATIO, "compression ratio: DATA / TOTAL" },
	{ "MOUNTPOINT", "path", COL_MOUNT, "where the device is mounted: its block file, or [SWAP]" },
	{ "ARENA", "arena_kind", COL_TEXT, "where arenas come from: hugetlb, thp or plain" },
	{ "IDLE", "idle_pages", COL_NUM, "pages marked idle" },
	{ "BACKING", "backing_file", COL_TEXT, "the backing file or device" },
	{ "RECOMP", "recomp_pages", COL_NUM, "pages held recompressed (zstd, lz4hc)" },
	{ "TRANSPORT", "transport", COL_TEXT, "how FUSE requests arrive: io_uring or dev" },
};

#define NCOLUMNS (int)(sizeof(columns) / sizeof(columns[0]))
/* The table without -o: NAME DISKSIZE DATA COMPR TOTAL ALGORITHM MOUNTPOINT. */
static const int default_columns[] = { 0, 1, 2, 3, 7, 4, 12 };

/* Parses -o LIST (a leading '+' adds to the defaults) into sel.
 * Returns the number of columns, or -1 after saying which name is
 * unknown and which are valid. */
static int parse_columns(const char *list, int *sel, int cap)
{
	char buf[512], *tok, *save = NULL;
	int n = 0;

	if (*list == '+') {
		for (; n < (int)(sizeof(default_columns) / sizeof(default_columns[0])); n++)
			sel[n] = default_columns[n];
		list++;
	}
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int c;

		for (c = 0; c < NCOLUMNS && strcasecmp(tok, columns[c].name); c++)
			;
		if (c == NCOLUMNS) {
			fprintf(stderr, "uzramctl: unknown column '%s'; valid columns:", tok);
			for (c = 0; c < NCOLUMNS; c++)
				fprintf(stderr, "%s %s", c ? "," : "", columns[c].name);
			fprintf(stderr, "\n");
			return -1;
		}
		if (n == cap) {
			fprintf(stderr, "uzramctl: more than %d columns\n", cap);
			return -1;
		}
		sel[n++] = c;
	}
	if (n == 0) {
		fprintf(stderr, "uzramctl: -o needs a list of columns, such as NAME,DATA,COMPR\n");
		return -1;
	}
	return n;
}

/* One cell: sizes human-readable unless bytes, "" for what the device
 * does not have (no backing file, for one). */
static void cell_text(const struct kv *kv, const struct column *col, bool bytes, char *out, size_t cap)
{
	const char *v = col->key ? get(kv, col->key) : NULL;

	if (col->kind == COL_RATIO) {
		double data = strtod(get(kv, "orig_data_size"), NULL), total = strtod(get(kv, "mem_used_total"), NULL);

		/* zramctl's figure and format */
		snprintf(out, cap, "%.4f", total > 0 ? data / total : 0.0);
	} else if (col->kind == COL_MOUNT && strcmp(get(kv, "fs_type"), "swap") == 0) {
		snprintf(out, cap, "%s", "[SWAP]"); /* as zramctl */
	} else if (strcmp(v, "-") == 0) {
		snprintf(out, cap, "%s", "");
	} else if (col->kind == COL_SIZE) {
		human(v, bytes, out, cap);
	} else {
		snprintf(out, cap, "%s", v);
	}
}

/* Raw output, as libsmartcols writes it: blanks and backslashes escaped. */
static void print_raw_cell(const char *s)
{
	for (; *s; s++) {
		if (*s == ' ' || *s == '\\' || (unsigned char)*s < 0x20)
			printf("\\x%02x", (unsigned char)*s);
		else
			putchar(*s);
	}
}

static void print_table(struct kv **devs, int n, bool bytes, const int *sel, int ncol, bool headings, bool raw)
{
	static char cell[64][NCOLUMNS][256];
	int width[NCOLUMNS];

	if (n > 64)
		n = 64;
	for (int c = 0; c < ncol; c++)
		width[c] = (int)strlen(columns[sel[c]].name);
	for (int r = 0; r < n; r++)
		for (int c = 0; c < ncol; c++) {
			cell_text(devs[r], &columns[sel[c]], bytes, cell[r][c], sizeof(cell[r][c]));
			if ((int)strlen(cell[r][c]) > width[c])
				width[c] = (int)strlen(cell[r][c]);
		}
	for (int r = headings ? -1 : 0; r < n; r++) {
		for (int c = 0; c < ncol; c++) {
			const struct column *col = &columns[sel[c]];
			const char *v = r < 0 ? col->name : cell[r][c];
			bool right = col->kind != COL_TEXT;

			if (raw) {
				if (c)
					putchar(' ');
				print_raw_cell(v);
			} else if (c == ncol - 1 && !right) {
				printf("%s", v);
			} else {
				printf(right ? "%*s" : "%-*s", width[c], v);
				if (c < ncol - 1)
					putchar(' ');
			}
		}
		putchar('\n');
	}
}

/* --- metrics: the Prometheus text exposition format ------------------- */

/* Keys whose metric is not the plain rule (see metric_of()): counters
 * (_total), sizes that do not say bytes, times. */
static const struct metric_rule {
	const char *key;
	const char *name; /* without the uzram_ prefix */
	bool counter;
	const char *help;
} metric_rules[] = {
	{ "disksize", "disksize_bytes", false, "size of the device" },
	{ "orig_data_size", "orig_data_size_bytes", false, "uncompressed size of the data stored (zram's mm_stat)" },
	{ "compr_data_size", "compr_data_size_bytes", false, "compressed size of the data stored" },
	{ "mem_used_total", "mem_used_total_bytes", false, "memory used to store the data, overhead included" },
	{ "mem_limit", "mem_limit_bytes", false, "memory limit (0: none)" },
	{ "mem_used_max", "mem_used_max_bytes", false, "the most memory used" },
	{ "same_pages", "same_pages", false, "same-filled pages (no memory)" },
	{ "pages_compacted", "pages_compacted_total", true, "4 KiB pages emptied by compaction" },
	{ "huge_pages", "huge_pages", false, "incompressible pages, stored raw" },
	{ "huge_pages_since", "huge_pages_since_total", true, "incompressible pages stored since the start" },
	{ "failed_reads", "failed_reads_total", true, "reads that failed" },
	{ "failed_writes", "failed_writes_total", true, "writes that failed" },
	{ "invalid_io", "invalid_io_total", true, "requests outside the device" },
	{ "notify_free", "notify_free_total", true, "pages freed by discards" },
	{ "bd_count", "bd_count_blocks", false, "4 KiB blocks the backing store holds (zram's bd_stat)" },
	{ "bd_reads", "bd_reads_blocks_total", true, "4 KiB blocks read from the backing store" },
	{ "bd_writes", "bd_writes_blocks_total", true, "4 KiB blocks written to the backing store" },
	{ "writeback_reads", "writeback_reads_total", true, "pages read back from the backing store" },
	{ "writeback_bytes", "writeback_bytes_total", true, "compressed bytes written back" },
	{ "failed_writeback", "failed_writeback_total", true, "pages a failed backing write left in memory" },
	{ "spills", "spills_total", true, "writebacks a full memory limit caused" },
	{ "backing_capacity", "backing_capacity_bytes", false, "most the backing store may hold" },
	{ "compactions", "compactions_total", true, "compaction runs" },
	{ "released_bytes", "released_bytes_total", true, "memory compaction and emptied arenas gave back" },
	{ "recomp_saved_bytes", "recomp_saved_bytes_total", true, "compressed bytes recompression saved" },
	{ "recomp_tried", "recomp_tried_total", true, "pages recompressed, kept or not" },
	{ "recompress_after", "recompress_after_seconds", false, "recompress-after (0: off)" },
	{ "restored_bytes", "restored_bytes", false, "compressed bytes restored from the snapshot at start" },
	{ "last_snapshot_time", "last_snapshot_timestamp_seconds", false, "when the snapshot restored was written" },
	{ "ring_bytes", "ring_bytes", false, "io_uring buffers and rings" },
	{ "buffer_bytes", "buffer_bytes", false, "request buffers made and touched at start (ring_bytes included)" },
	{ "reserve_bytes", "reserve_bytes", false, "arena memory made ready ahead of writes" },
	{ "reserve_target", "reserve_target_bytes", false, "what the reserve is refilled to (reserve)" },
	{ "reserve_misses", "reserve_misses_total", true, "writes that found the reserve empty and failed" },
	{ "reserve_waits", "reserve_waits_total", true, "writes that waited for the reserve (file systems)" },
};

/* Labels of uzram_info, not metrics. */
static bool info_key(const char *key, const char *val)
{
	return strcmp(key, "pid") == 0 || !*val || strspn(val, "0123456789.-") != strlen(val);
}

/* The metric for key: name (with the prefix) and type; help in *help. */
static void metric_of(const char *key, char *name, size_t cap, bool *counter, const char **help)
{
	for (size_t i = 0; i < sizeof(metric_rules) / sizeof(metric_rules[0]); i++)
		if (strcmp(metric_rules[i].key, key) == 0) {
			snprintf(name, cap, "uzram_%s", metric_rules[i].name);
			*counter = metric_rules[i].counter;
			*help = metric_rules[i].help;
			return;
		}
	*counter = false;
	*help = "see uzramctl(8), --json";
	/* The rest say their unit already (_bytes, _pages, _seconds), or
	 * are counts of things held now. */
	snprintf(name, cap, "uzram_%s", key);
}

static void print_label_value(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
	putchar('"');
}

/* chunks_SIZE_STATE: one family per state, the size as a label. */
static bool chunk_key(const char *key, unsigned *size, const char **state)
{
	int at = 0;

	if (sscanf(key, "chunks_%u_%n", size, &at) != 1 || !at)
		return false;
	*state = key + at;
	return strcmp(*state, "used") == 0 || strcmp(*state, "free") == 0 || strcmp(*state, "pages") == 0;
}

/* Every counter of every device, grouped by metric as the format asks. */
static void print_metrics(struct kv **devs, int n)
{
	static const char *const states[] = { "used", "free", "pages" };
	static const char *const state_help[] = { "chunks in use, by chunk size", "free chunks, by chunk size",
						  "4 KiB slab pages, by chunk size" };

	printf("# HELP uzram_info the device's settings, as labels\n# TYPE uzram_info gauge\n");
	for (int d = 0; d < n; d++) {
		printf("uzram_info{device=");
		print_label_value(get(devs[d], "name"));
		for (int k = 0; k < devs[d]->n; k++)
			if (strcmp(devs[d]->key[k], "name") && info_key(devs[d]->key[k], devs[d]->val[k])) {
				printf(",%s=", devs[d]->key[k]);
				print_label_value(devs[d]->val[k]);
			}
		printf("} 1\n");
	}
	/* the keys of the first device, then those only others have */
	for (int d = 0; d < n; d++)
		for (int k = 0; k < devs[d]->n; k++) {
			const char *key = devs[d]->key[k], *help, *state;
			char name[128];
			bool counter, seen = false;
			unsigned size;

			if (info_key(key, devs[d]->val[k]) || chunk_key(key, &size, &state))
				continue;
			for (int e = 0; e < d && !seen; e++)
				seen = strcmp(get(devs[e], key), "-") != 0;
			if (seen)
				continue;
			metric_of(key, name, sizeof(name), &counter, &help);
			printf("# HELP %s %s: %s\n# TYPE %s %s\n", name, key, help, name, counter ? "counter" : "gauge");
			for (int e = d; e < n; e++) {
				const char *v = get(devs[e], key);

				if (strcmp(v, "-") == 0)
					continue;
				printf("%s{device=", name);
				print_label_value(get(devs[e], "name"));
				printf("} %s\n", v);
			}
		}
	for (int s = 0; s < 3; s++) {
		printf("# HELP uzram_chunks_%s chunks_SIZE_%s: %s\n# TYPE uzram_chunks_%s gauge\n", states[s], states[s],
		       state_help[s], states[s]);
		for (int d = 0; d < n; d++)
			for (int k = 0; k < devs[d]->n; k++) {
				const char *state;
				unsigned size;

				if (chunk_key(devs[d]->key[k], &size, &state) && strcmp(state, states[s]) == 0) {
					printf("uzram_chunks_%s{device=", states[s]);
					print_label_value(get(devs[d], "name"));
					printf(",size=\"%u\"} %s\n", size, devs[d]->val[k]);
				}
			}
	}
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: uzramctl [--socket PATH] [-b] [-o LIST|--output-all] [-n] [-r] [--json] [COMMAND]\n"
		"Show the state of uzram devices.\n\n"
		"Commands:\n"
		"  (none)     a table, one row per device: NAME DISKSIZE DATA COMPR TOTAL\n"
		"             ALGORITHM MOUNTPOINT, or the columns -o names\n"
		"  mm_stat    zram's mm_stat line: orig_data_size compr_data_size mem_used_total\n"
		"             mem_limit mem_used_max same_pages pages_compacted huge_pages\n"
		"             huge_pages_since\n"
		"  io_stat    zram's io_stat line: failed_reads failed_writes invalid_io notify_free\n"
		"  bd_stat    zram's bd_stat line, in 4 KiB units: bd_count bd_reads bd_writes\n"
		"  metrics    every counter in Prometheus's text format (uzram_ prefix, a device\n"
		"             label), for every device, or the one --socket names\n"
		"  compact    compact the store now; prints the bytes freed\n"
		"  reload     re-read the config file: mem-limit and compaction apply at once;\n"
		"             prints what was applied and what needs a restart\n"
		"  mem-limit SIZE  set the memory limit now (K, M, G, T suffixes; 0: none),\n"
		"             until the next reload or restart\n"
		"  idle all|AGE  mark every stored page idle, or those not read or written for\n"
		"             AGE (90s, 30min, 2h; at most 30h); a read or write clears the mark\n"
		"  writeback idle|huge|huge_idle|all [limit=SIZE]  write those pages (huge: stored\n"
		"             raw) to the backing store, packed; prints what was written\n"
		"  recompress idle|huge|huge_idle|all [threshold=BYTES]  recompress those LZ4\n"
		"             pages (of at least BYTES compressed) with recomp-algorithm; a page\n"
		"             keeps the new form only if it takes less memory; prints what it did\n\n"
		"compact, reload, mem-limit, idle, writeback and recompress change state: root or\n"
		"the daemon's admin-group only.\n\n"
		"Options:\n"
		"  -S, --socket PATH  the device's socket (default: every %s/*.sock)\n"
		"  -b, --bytes        sizes in bytes in the table\n"
		"  -o, --output LIST  the table's columns, comma-separated (+LIST: added to the\n"
		"                     default ones)\n"
		"      --output-all   every column\n"
		"  -n, --noheadings   no heading line\n"
		"  -r, --raw          raw output: one space between columns, no alignment\n"
		"  -j, --json         every counter as one JSON object\n"
		"  -h, --help         show this help\n",
		UZ_RUN_DIR);
	fprintf(out, "\nColumns:\n");
	for (int c = 0; c < NCOLUMNS; c++)
		fprintf(out, "  %10s  %s\n", columns[c].name, columns[c].help);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "bytes", no_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "output-all", no_argument, NULL, 'A' },
		{ "noheadings", no_argument, NULL, 'n' },
		{ "raw", no_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *socket = NULL, *cmd = NULL, *arg = NULL;
	bool bytes = false, json = false, headings = true, raw = false;
	int sel[64], nsel = (int)(sizeof(default_columns) / sizeof(default_columns[0]));
	char err[PATH_MAX + 512];
	glob_t g = { 0 };
	char *one[2] = { NULL, NULL };
	struct kv **devs = NULL;
	int c, ndev = 0, res = 0;

	memcpy(sel, default_columns, sizeof(default_columns));
	while ((c = getopt_long(argc, argv, "S:bjo:nrh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			nsel = parse_columns(optarg, sel, (int)(sizeof(sel) / sizeof(sel[0])));
			if (nsel < 0)
				return 2;
			break;
		case 'A':
			for (nsel = 0; nsel < NCOLUMNS; nsel++)
				sel[nsel] = nsel;
			break;
		case 'n':
			headings = false;
			break;
		case 'r':
			raw = true;
			break;
		case 'S':
			socket = optarg;
			break;
		case 'b':
			bytes = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'uzramctl --help'.\n");
			return 2;
		}
	}
	if (optind < argc)
		cmd = argv[optind++];
	if (cmd && (strcmp(cmd, "mem-limit") == 0 || strcmp(cmd, "idle") == 0)) {
		bool idle = strcmp(cmd, "idle") == 0;

		if (optind == argc) {
			fprintf(stderr, idle ? "uzramctl: idle needs 'all' or an AGE (such as 90s, 30min, 2h)\n"
					     : "uzramctl: mem-limit needs a SIZE (such as 512M, or 0 for none)\n");
			return 2;
		}
		arg = argv[optind++];
		if (strlen(arg) > 64 || strpbrk(arg, " \t\r\n")) {
			fprintf(stderr, "uzramctl: %s: '%.64s' is not %s\n", cmd, arg, idle ? "an age" : "a size");
			return 2;
		}
	}
	if (cmd && (strcmp(cmd, "writeback") == 0 || strcmp(cmd, "recompress") == 0)) {
		static char both[160];
		const char *opt = cmd[0] == 'w' ? "limit=" : "threshold=";

		if (optind == argc) {
			fprintf(stderr, "uzramctl: %s needs a type: idle, huge, huge_idle or all (and optionally %s%s)\n",
				cmd, opt, cmd[0] == 'w' ? "SIZE" : "BYTES");
			return 2;
		}
		arg = argv[optind++];
		if (optind < argc && strncmp(argv[optind], opt, strlen(opt)) == 0) {
			snprintf(both, sizeof(both), "%.64s %.64s", arg, argv[optind++]);
			arg = both;
		}
		if (strlen(arg) > 140 || strpbrk(arg, "\t\r\n")) {
			fprintf(stderr, "uzramctl: %s: '%.64s' is not a type\n", cmd, arg);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "uzramctl: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (cmd && strcmp(cmd, "mm_stat") && strcmp(cmd, "io_stat") && strcmp(cmd, "compact") &&
	    strcmp(cmd, "reload") && strcmp(cmd, "mem-limit") && strcmp(cmd, "idle") && strcmp(cmd, "writeback") &&
	    strcmp(cmd, "recompress") && strcmp(cmd, "bd_stat") && strcmp(cmd, "metrics")) {
		fprintf(stderr,
			"uzramctl: unknown command '%s' (mm_stat, io_stat, bd_stat, metrics, compact, reload, mem-limit, "
			"idle, writeback, recompress, or none)\n",
			cmd);
		return 2;
	}
	if (socket) {
		g.gl_pathc = 1;
		one[0] = (char *)socket;
		g.gl_pathv = one;
	} else if ((glob(UZ_RUN_DIR "/*.sock", 0, NULL, &g) || g.gl_pathc == 0) && cmd && strcmp(cmd, "metrics") == 0) {
		/* For a collector: no device, no samples (not an error). */
		fprintf(stderr, "uzramctl: no uzram device running (nothing in %s)\n", UZ_RUN_DIR);
		globfree(&g);
		return 0;
	} else if (g.gl_pathc == 0) {
		fprintf(stderr, "uzramctl: no uzram device found in %s (is uzramd running? or give --socket)\n",
			UZ_RUN_DIR);
		return 1;
	}
	if ((cmd || json) && g.gl_pathc > 1 && strcmp(cmd ? cmd : "", "metrics") != 0) {
		fprintf(stderr, "uzramctl: %zu devices are running; name one with --socket\n", g.gl_pathc);
		res = 1;
		goto out;
	}
	if (cmd && strcmp(cmd, "compact") == 0) {
		static char reply[UZ_CTL_MAX_REPLY + 1];
		unsigned long long freed = 0, pages = 0, moved = 0;
		char *p;

		if (request(g.gl_pathv[0], "compact\n", reply, sizeof(reply), err, sizeof(err))) {
			fprintf(stderr, "uzramctl: %s\n", err);
			res = 1;
			goto out;
		}
		if ((p = strstr(reply, "\nbytes_freed ")))
			freed = strtoull(p + 13, NULL, 10);
		if ((p = strstr(reply, "\npages_compacted ")))
			pages = strtoull(p + 17, NULL, 10);
		if ((p = strstr(reply, "\nobjects_moved ")))
			moved = strtoull(p + 15, NULL, 10);
		printf("%llu bytes freed (%llu pages emptied, %llu objects moved)\n", freed, pages, moved);
		goto out;
	}
	if (cmd && (strcmp(cmd, "reload") == 0 || strcmp(cmd, "mem-limit") == 0 || strcmp(cmd, "idle") == 0 ||
		    strcmp(cmd, "writeback") == 0 || strcmp(cmd, "recompress") == 0)) {
		static char reply[UZ_CTL_MAX_REPLY + 1];
		char req[192];

		snprintf(req, sizeof(req), "%s%s%s\n", cmd, arg ? " " : "", arg ? arg : "");
		if (request(g.gl_pathv[0], req, reply, sizeof(reply), err, sizeof(err))) {
			fprintf(stderr, "uzramctl: %s\n", err);
			res = 1;
			goto out;
		}
		/* reload: "applied KEYS", "needs_restart KEYS"; mem-limit: "mem_limit BYTES" */
		if (strcmp(cmd, "idle") == 0 && strncmp(reply, "ok\nmarked ", 10) == 0) {
			printf("%llu pages marked idle\n", strtoull(reply + 10, NULL, 10));
		} else if (strcmp(cmd, "writeback") == 0) {
			unsigned long long v[4] = { 0 };
			const char *keys[4] = { "\npages ", "\nbytes ", "\nbytes_freed ", "\nfailed " };
			char *p, *e = strstr(reply, "\nerror ");

			for (int k = 0; k < 4; k++)
				if ((p = strstr(reply, keys[k])))
					v[k] = strtoull(p + strlen(keys[k]), NULL, 10);
			printf("%llu pages written back (%llu compressed bytes), %llu bytes of memory freed\n", v[0], v[1],
			       v[2]);
			if (e && strncmp(e + 7, "none", 4)) {
				fprintf(stderr, "uzramctl: the backing store failed: %.*s (%llu pages left in memory)\n",
					(int)strcspn(e + 7, "\n"), e + 7, v[3]);
				res = 1;
			}
		} else if (strcmp(cmd, "recompress") == 0) {
			unsigned long long v[5] = { 0 };
			const char *keys[5] = { "\ntried ", "\nkept ", "\nbytes_saved ", "\nbytes_freed ", "\norig_bytes " };
			char *p, *e = strstr(reply, "\nerror "), *a = strstr(reply, "\nalgorithm ");
			double secs = (p = strstr(reply, "\nseconds ")) ? strtod(p + 9, NULL) : 0;

			for (int k = 0; k < 5; k++)
				if ((p = strstr(reply, keys[k])))
					v[k] = strtoull(p + strlen(keys[k]), NULL, 10);
			printf("%llu pages tried, %llu kept in %.*s: %llu compressed bytes saved, %llu bytes of memory "
			       "freed (%.1f s, %.0f MB/s)\n", v[0], v[1], a ? (int)strcspn(a + 11, "\n") : 0, a ? a + 11 : "",
			       v[2], v[3], secs, secs > 0 ? v[4] / secs / 1e6 : 0.0);
			if (e && strncmp(e + 7, "none", 4)) {
				fprintf(stderr, "uzramctl: recompression stopped early: %.*s (the pages not done keep their "
					"form)\n", (int)strcspn(e + 7, "\n"), e + 7);
				res = 1;
			}
		} else
			fputs(reply + 3, stdout);
		goto out;
	}
	devs = calloc(g.gl_pathc, sizeof(*devs));
	if (!devs) {
		fprintf(stderr, "uzramctl: out of memory\n");
		res = 1;
		goto out;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct kv *kv = malloc(sizeof(*kv));

		if (!kv || load(g.gl_pathv[i], kv, err, sizeof(err))) {
			fprintf(stderr, "uzramctl: %s\n", kv ? err : "out of memory");
			free(kv);
			res = 1;
			continue;
		}
		devs[ndev++] = kv;
	}
	if (ndev == 0)
		goto out;
	if (cmd && strcmp(cmd, "metrics") == 0) {
		print_metrics(devs, ndev);
	} else if (json) {
		print_json(devs[0]);
	} else if (cmd) {
		const char *const *keys = strcmp(cmd, "mm_stat") == 0 ? uz_mm_stat_keys
					  : strcmp(cmd, "bd_stat") == 0 ? uz_bd_stat_keys
									: uz_io_stat_keys;
		int nk = strcmp(cmd, "mm_stat") == 0 ? 9 : strcmp(cmd, "bd_stat") == 0 ? 3 : 4;

		if (keys == uz_bd_stat_keys && strcmp(get(devs[0], "bd_count"), "-") == 0) {
			fprintf(stderr, "uzramctl: this device has no backing store (backing-file)\n");
			res = 1;
			goto out;
		}
		for (int i = 0; i < nk; i++)
			printf("%s%s", i ? " " : "", get(devs[0], keys[i]));
		printf("\n");
	} else {
		print_table(devs, ndev, bytes, sel, nsel, headings, raw);
	}
out:
	for (int i = 0; i < ndev; i++)
		free(devs[i]);
	free(devs);
	if (!socket)
		globfree(&g);
	return res;
}
