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
#include "ctl_commands.h"
#include "stats.h"

#define MAX_KEYS 192

struct kv {
	int n;
	char *key[MAX_KEYS];
	char *val[MAX_KEYS];
	char buf[UZ_CTL_MAX_REPLY + 1];
};

/* Sends one request (slow: a command that may take long to answer) and
 * reads the whole reply.  Returns 0, or -1 with a
 * message in err. */
static int request(const char *path, const char *req, bool slow, char *reply, size_t cap, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	/* Commands that work through the whole store take as long as it is
	 * large: no time limit for their answer. */
	struct timeval tv = { .tv_sec = slow ? 0 : 10 };
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

	if (request(path, "stats\n", false, kv->buf, sizeof(kv->buf), err, errlen))
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

/* dictionary_ID_FIELD (the stats of one trained dictionary): the id, and
 * the field (size, mem, pages, current, saved_bytes) in *field. */
static bool dict_key(const char *key, unsigned long long *id, const char **field)
{
	int at = 0;

	if (sscanf(key, "dictionary_%llu_%n", id, &at) != 1 || !at)
		return false;
	*field = key + at;
	return true;
}

/* A dictionary's value: a number, negative too (saved_bytes). */
static void print_json_value(const char *v)
{
	if (is_number(v) || (v[0] == '-' && is_number(v + 1)))
		printf("%s", v);
	else
		print_json_string(v);
}

/* Every key as a member, but the dictionaries' as the array
 * "dictionaries" of one object each ({"id": ID, "size": ...}). */
static void print_json(const struct kv *kv)
{
	unsigned long long id, last = 0;
	const char *field;
	bool any = false;
	int m = 0;

	printf("{");
	for (int i = 0; i < kv->n; i++) {
		if (dict_key(kv->key[i], &id, &field))
			continue;
		printf("%s\n  ", m++ ? "," : "");
		print_json_string(kv->key[i]);
		printf(": ");
		if (is_number(kv->val[i]) && strcmp(kv->key[i], "version") != 0)
			printf("%s", kv->val[i]);
		else
			print_json_string(kv->val[i]);
	}
	printf("%s\n  \"dictionaries\": [", m ? "," : "");
	for (int i = 0; i < kv->n; i++) {
		if (!dict_key(kv->key[i], &id, &field))
			continue;
		if (!any || id != last)
			printf("%s\n    { \"id\": %llu", any ? " }," : "", id);
		printf(", ");
		print_json_string(field);
		printf(": ");
		print_json_value(kv->val[i]);
		any = true;
		last = id;
	}
	printf("%s]\n}\n", any ? " }\n  " : "");
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
	{ "recomp_dict_pages", "recomp_dict_pages_total", true, "pages recompression put on a dictionary" },
	{ "dict_training", "dict_training", false, "1 while a dictionary training runs" },
	{ "dict_lz4_writes", "dict_lz4_writes_total", true, "writes compressed with LZ4 against a dictionary" },
	{ "dict_lz4_probes", "dict_lz4_probes_total", true, "writes compressed both ways to see whether LZ4 against the dictionary pays" },
	{ "dict_lz4_paying", "dict_lz4_paying", false, "1 while writes use LZ4 against the dictionary (dictionary-lz4, and it pays)" },
	{ "dict_bytes", "dict_bytes", false, "memory the trained dictionaries hold (in mem_used_total)" },
	{ "dict_pages", "dict_pages", false, "pages compressed against a trained dictionary now" },
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
	return strcmp(key, "pid") == 0 || strcmp(key, "version") == 0 || !*val || strspn(val, "0123456789.-") != strlen(val);
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

/* dictionary_ID_FIELD: one family per field, the id as a label. */
static void print_dict_metrics(struct kv **devs, int n)
{
	static const struct {
		const char *field, *name, *help;
	} fields[] = {
		{ "size", "dictionary_size_bytes", "a trained dictionary's content, by id" },
		{ "mem", "dictionary_mem_bytes", "memory a trained dictionary holds, tables included, by id" },
		{ "pages", "dictionary_pages", "pages compressed against a trained dictionary, by id" },
		{ "current", "dictionary_current", "1 for the dictionary recompression uses now, 0 for a retired one" },
		{ "saved_bytes", "dictionary_saved_bytes",
		  "bytes a dictionary saves against zstd without one, estimated from a sample" },
	};

	for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
		printf("# HELP uzram_%s dictionary_ID_%s: %s\n# TYPE uzram_%s gauge\n", fields[f].name, fields[f].field,
		       fields[f].help, fields[f].name);
		for (int d = 0; d < n; d++)
			for (int k = 0; k < devs[d]->n; k++) {
				unsigned long long id;
				const char *field;

				if (dict_key(devs[d]->key[k], &id, &field) && strcmp(field, fields[f].field) == 0) {
					printf("uzram_%s{device=", fields[f].name);
					print_label_value(get(devs[d], "name"));
					printf(",id=\"%llu\"} %s\n", id, devs[d]->val[k]);
				}
			}
	}
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

			unsigned long long id;

			if (info_key(key, devs[d]->val[k]) || chunk_key(key, &size, &state) || dict_key(key, &id, &state))
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
	print_dict_metrics(devs, n);
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

/* What uzramctl makes of the stats reply besides the table: zram's
 * lines, and every counter for Prometheus. */
static const struct view {
	const char *name;
	const char *help; /* lines after the first indented to the help column */
	const char *const *keys; /* the line's fields; NULL: the metrics */
	int nkeys;
} views[] = {
	{ "mm_stat", "zram's mm_stat line: orig_data_size compr_data_size mem_used_total\n"
		     "mem_limit mem_used_max same_pages pages_compacted huge_pages\nhuge_pages_since",
	  uz_mm_stat_keys, 9 },
	{ "io_stat", "zram's io_stat line: failed_reads failed_writes invalid_io notify_free", uz_io_stat_keys, 4 },
	{ "bd_stat", "zram's bd_stat line, in 4 KiB units: bd_count bd_reads bd_writes", uz_bd_stat_keys, 3 },
	{ "metrics", "every counter in Prometheus's text format (uzram_ prefix, a device\n"
		     "label), for every device, or the one --socket names", NULL, 0 },
};

#define NVIEWS (sizeof(views) / sizeof(views[0]))
#define HELP_INDENT "             "

/* One command's line of usage: NAME [ARGS], then its help in the
 * column after, or on lines of its own when NAME ARGS is wider. */
static void usage_command(FILE *out, const char *name, const char *args, const char *help)
{
	int w = fprintf(out, "  %s%s%s", name, args[0] ? " " : "", args) - 2;

	fprintf(out, "%*s", w < 11 ? 11 - w : 0, "");
	if (w >= 11)
		fprintf(out, "\n" HELP_INDENT);
	for (const char *p = help; *p; p++)
		fprintf(out, *p == '\n' ? "\n" HELP_INDENT : "%c", *p);
	fprintf(out, "\n");
}

static void usage(FILE *out)
{
	const struct uz_ctl_command *cmds;
	size_t ncmds, nadmin = 0;

	fprintf(out,
		"Usage: uzramctl [--socket PATH] [-b] [-o LIST|--output-all] [-n] [-r] [--json] [COMMAND]\n"
		"Show the state of uzram devices.\n\n"
		"Commands:\n");
	usage_command(out, "(none)", "", "a table, one row per device: NAME DISKSIZE DATA COMPR TOTAL\n"
			  "ALGORITHM MOUNTPOINT, or the columns -o names");
	for (size_t v = 0; v < NVIEWS; v++)
		usage_command(out, views[v].name, "", views[v].help);
	fprintf(out, "\nCommands the daemon answers (see uzramctl(8)):\n");
	cmds = uz_ctl_commands(&ncmds);
	for (size_t i = 0; i < ncmds; i++)
		usage_command(out, cmds[i].name, cmds[i].args, cmds[i].help);
	fprintf(out, "\n");
	for (size_t i = 0; i < ncmds; i++)
		if (cmds[i].admin)
			fprintf(out, "%s%s", nadmin++ ? ", " : "", cmds[i].name);
	fprintf(out,
		" change state: root or\nthe daemon's admin-group only.\n\n"
		"Options:\n"
		"  -S, --socket PATH  the device's socket (default: every %s/*.sock)\n"
		"  -b, --bytes        sizes in bytes in the table\n"
		"  -o, --output LIST  the table's columns, comma-separated (+LIST: added to the\n"
		"                     default ones)\n"
		"      --output-all   every column\n"
		"  -n, --noheadings   no heading line\n"
		"  -r, --raw          raw output: one space between columns, no alignment\n"
		"  -j, --json         every counter as one JSON object\n"
		"  -V, --version      print the version and exit\n"
		"  -h, --help         show this help\n",
		UZ_RUN_DIR);
	fprintf(out, "\nColumns:\n");
	for (int c = 0; c < NCOLUMNS; c++)
		fprintf(out, "  %10s  %s\n", columns[c].name, columns[c].help);
}

/* The command line. */
struct invocation {
	const char *socket; /* NULL: every device */
	bool bytes, json, headings, raw;
	int sel[64], nsel; /* the table's columns */
	const struct view *view; /* a view of the stats, or */
	const struct uz_ctl_command *cmd; /* a socket command, with */
	char request[UZ_CTL_MAX_REQUEST]; /* its request line */
};

/* Reads the options into inv.  Returns 0, 1 to exit 0 (--help, --version), or -1
 * after saying what is wrong. */
static int parse_options(int argc, char **argv, struct invocation *inv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "bytes", no_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "output-all", no_argument, NULL, 'A' },
		{ "noheadings", no_argument, NULL, 'n' },
		{ "raw", no_argument, NULL, 'r' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	inv->headings = true;
	inv->nsel = (int)(sizeof(default_columns) / sizeof(default_columns[0]));
	memcpy(inv->sel, default_columns, sizeof(default_columns));
	while ((c = getopt_long(argc, argv, "S:bjo:nrVh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			inv->nsel = parse_columns(optarg, inv->sel, (int)(sizeof(inv->sel) / sizeof(inv->sel[0])));
			if (inv->nsel < 0)
				return -1;
			break;
		case 'A':
			for (inv->nsel = 0; inv->nsel < NCOLUMNS; inv->nsel++)
				inv->sel[inv->nsel] = inv->nsel;
			break;
		case 'n':
			inv->headings = false;
			break;
		case 'r':
			inv->raw = true;
			break;
		case 'S':
			inv->socket = optarg;
			break;
		case 'b':
			inv->bytes = true;
			break;
		case 'j':
			inv->json = true;
			break;
		case 'V':
			printf("uzramctl %s\n", UZ_VERSION);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			fprintf(stderr, "Try 'uzramctl --help'.\n");
			return -1;
		}
	}
	return 0;
}

static void unknown_command(const char *name)
{
	const struct uz_ctl_command *cmds;
	size_t ncmds;

	fprintf(stderr, "uzramctl: unknown command '%s' (", name);
	for (size_t v = 0; v < NVIEWS; v++)
		fprintf(stderr, "%s, ", views[v].name);
	cmds = uz_ctl_commands(&ncmds);
	for (size_t i = 0; i < ncmds; i++)
		fprintf(stderr, "%s, ", cmds[i].name);
	fprintf(stderr, "or none)\n");
}

/* Reads the command and its arguments (argv[first..]) into inv, checked
 * against the command's row: a socket command's words become its request
 * line.  Returns 0, or -1 after saying what is wrong. */
static int parse_command(int argc, char **argv, int first, struct invocation *inv)
{
	const struct uz_ctl_command *c;
	int i = first + 1, len;

	if (first == argc)
		return 0;
	for (size_t v = 0; v < NVIEWS && !inv->view; v++)
		if (strcmp(argv[first], views[v].name) == 0)
			inv->view = &views[v];
	c = inv->view ? NULL : uz_ctl_command(argv[first]);
	if (!inv->view && !c) {
		unknown_command(argv[first]);
		return -1;
	}
	inv->cmd = c;
	if (c && argc - i < c->min_args) {
		fprintf(stderr, "uzramctl: %s needs %s\n", c->name, c->needs);
		return -1;
	}
	len = c ? snprintf(inv->request, sizeof(inv->request), "%s", c->name) : 0;
	/* the optional word only when it is NAME=VALUE, as the option says */
	for (; c && i < argc && i - first <= c->max_args; i++) {
		if (i - first > c->min_args && c->option &&
		    (strncmp(argv[i], c->option, strlen(c->option)) || argv[i][strlen(c->option)] != '='))
			break;
		if (strlen(argv[i]) > 64 || strpbrk(argv[i], " \t\r\n")) {
			fprintf(stderr, "uzramctl: %s: '%.64s' is not %s\n", c->name, argv[i], c->what);
			return -1;
		}
		len += snprintf(inv->request + len, sizeof(inv->request) - (size_t)len, " %s", argv[i]);
	}
	if (i < argc) {
		fprintf(stderr, "uzramctl: unexpected argument '%s'\n", argv[i]);
		return -1;
	}
	if (c)
		snprintf(inv->request + len, sizeof(inv->request) - (size_t)len, "\n");
	return 0;
}

/* The value of "\nKEY " in a reply, 0 when it has none. */
static unsigned long long reply_number(const char *reply, const char *key)
{
	const char *p = strstr(reply, key);

	return p ? strtoull(p + strlen(key), NULL, 10) : 0;
}

/* Prints a reply: each returns the exit status. */
static int print_compact(const char *reply)
{
	printf("%llu bytes freed (%llu pages emptied, %llu objects moved)\n", reply_number(reply, "\nbytes_freed "),
	       reply_number(reply, "\npages_compacted "), reply_number(reply, "\nobjects_moved "));
	return 0;
}

static int print_idle(const char *reply)
{
	if (strncmp(reply, "ok\nmarked ", 10) != 0) {
		fputs(reply + 3, stdout);
		return 0;
	}
	printf("%llu pages marked idle\n", strtoull(reply + 10, NULL, 10));
	return 0;
}

static int print_writeback(const char *reply)
{
	const char *e = strstr(reply, "\nerror ");

	printf("%llu pages written back (%llu compressed bytes), %llu bytes of memory freed\n",
	       reply_number(reply, "\npages "), reply_number(reply, "\nbytes "), reply_number(reply, "\nbytes_freed "));
	if (e && strncmp(e + 7, "none", 4)) {
		fprintf(stderr, "uzramctl: the backing store failed: %.*s (%llu pages left in memory)\n",
			(int)strcspn(e + 7, "\n"), e + 7, reply_number(reply, "\nfailed "));
		return 1;
	}
	return 0;
}

static int print_recompress(const char *reply)
{
	const char *p, *e = strstr(reply, "\nerror "), *a = strstr(reply, "\nalgorithm ");
	double secs = (p = strstr(reply, "\nseconds ")) ? strtod(p + 9, NULL) : 0;

	printf("%llu pages tried, %llu kept in %.*s: %llu compressed bytes saved, %llu bytes of memory freed "
	       "(%.1f s, %.0f MB/s)\n", reply_number(reply, "\ntried "), reply_number(reply, "\nkept "),
	       a ? (int)strcspn(a + 11, "\n") : 0, a ? a + 11 : "", reply_number(reply, "\nbytes_saved "),
	       reply_number(reply, "\nbytes_freed "),
	       secs, secs > 0 ? reply_number(reply, "\norig_bytes ") / secs / 1e6 : 0.0);
	if (e && strncmp(e + 7, "none", 4)) {
		fprintf(stderr, "uzramctl: recompression stopped early: %.*s (the pages not done keep their form)\n",
			(int)strcspn(e + 7, "\n"), e + 7);
		return 1;
	}
	return 0;
}

static int print_train(const char *reply)
{
	const char *p = strstr(reply, "\nseconds "), *q = strstr(reply, "\nsaved_percent ");

	printf("dictionary %llu trained: %llu bytes (%llu in memory), sample of %llu pages, %.2f s; it saves %.1f %% "
	       "of zstd's size on a sample\n", reply_number(reply, "\nid "), reply_number(reply, "\nsize "),
	       reply_number(reply, "\nmem "), reply_number(reply, "\nsample "), p ? strtod(p + 9, NULL) : 0,
	       q ? strtod(q + 15, NULL) : 0);
	return 0;
}

/* How a command's reply is shown; the others' replies as they are
 * (reload: "applied KEYS", "needs_restart KEYS"; mem-limit: "mem_limit
 * BYTES"). */
static const struct {
	const char *name;
	int (*print)(const char *reply);
} printers[] = {
	{ "compact", print_compact },
	{ "idle", print_idle },
	{ "writeback", print_writeback },
	{ "recompress", print_recompress },
	{ "train", print_train },
};

/* Sends inv's socket command to the daemon at path and prints the reply.
 * Returns the exit status. */
static int run_command(const char *path, const struct invocation *inv)
{
	static char reply[UZ_CTL_MAX_REPLY + 1];
	char err[PATH_MAX + 512];

	if (request(path, inv->request, inv->cmd->slow, reply, sizeof(reply), err, sizeof(err))) {
		fprintf(stderr, "uzramctl: %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < sizeof(printers) / sizeof(printers[0]); i++)
		if (strcmp(printers[i].name, inv->cmd->name) == 0)
			return printers[i].print(reply);
	fputs(reply + 3, stdout);
	return 0;
}

/* Reads every device's stats and shows them as inv asks: a view, JSON or
 * the table.  Returns the exit status. */
static int show(const glob_t *g, const struct invocation *inv)
{
	char err[PATH_MAX + 512];
	struct kv **devs = calloc(g->gl_pathc, sizeof(*devs));
	int ndev = 0, res = 0;

	if (!devs) {
		fprintf(stderr, "uzramctl: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < g->gl_pathc; i++) {
		struct kv *kv = malloc(sizeof(*kv));

		if (!kv || load(g->gl_pathv[i], kv, err, sizeof(err))) {
			fprintf(stderr, "uzramctl: %s\n", kv ? err : "out of memory");
			free(kv);
			res = 1;
			continue;
		}
		devs[ndev++] = kv;
	}
	if (ndev > 0 && inv->view && !inv->view->keys) {
		print_metrics(devs, ndev);
	} else if (ndev > 0 && inv->json) {
		print_json(devs[0]);
	} else if (ndev > 0 && inv->view) {
		if (inv->view->keys == uz_bd_stat_keys && strcmp(get(devs[0], "bd_count"), "-") == 0) {
			fprintf(stderr, "uzramctl: this device has no backing store (backing-file)\n");
			res = 1;
		} else {
			for (int i = 0; i < inv->view->nkeys; i++)
				printf("%s%s", i ? " " : "", get(devs[0], inv->view->keys[i]));
			printf("\n");
		}
	} else if (ndev > 0) {
		print_table(devs, ndev, inv->bytes, inv->sel, inv->nsel, inv->headings, inv->raw);
	}
	for (int i = 0; i < ndev; i++)
		free(devs[i]);
	free(devs);
	return res;
}

int main(int argc, char **argv)
{
	struct invocation inv = { 0 };
	bool metrics;
	glob_t g = { 0 };
	char *one[2] = { NULL, NULL };
	int res;

	res = parse_options(argc, argv, &inv);
	if (res)
		return res > 0 ? 0 : 2;
	if (parse_command(argc, argv, optind, &inv))
		return 2;
	metrics = inv.view && !inv.view->keys;
	if (inv.socket) {
		g.gl_pathc = 1;
		one[0] = (char *)inv.socket;
		g.gl_pathv = one;
	} else if ((glob(UZ_RUN_DIR "/*.sock", 0, NULL, &g) || g.gl_pathc == 0) && metrics) {
		/* For a collector: no device, no samples (not an error). */
		fprintf(stderr, "uzramctl: no uzram device running (nothing in %s)\n", UZ_RUN_DIR);
		globfree(&g);
		return 0;
	} else if (g.gl_pathc == 0) {
		fprintf(stderr, "uzramctl: no uzram device found in %s (is uzramd running? or give --socket)\n",
			UZ_RUN_DIR);
		return 1;
	}
	if ((inv.view || inv.cmd || inv.json) && g.gl_pathc > 1 && !metrics) {
		fprintf(stderr, "uzramctl: %zu devices are running; name one with --socket\n", g.gl_pathc);
		res = 1;
	} else {
		res = inv.cmd ? run_command(g.gl_pathv[0], &inv) : show(&g, &inv);
	}
	if (!inv.socket)
		globfree(&g);
	return res;
}
