/* daemon/config.c - sizes, keys and config files (parsed by inih). */
#include "config.h"
#include "../store/store.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void uz_config_defaults(struct uz_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = UZ_DEFAULT_SIZE;
	cfg->mem_limit = 0;
	cfg->arena = UZ_ARENA_AUTO;
	cfg->threads = UZ_DEFAULT_THREADS;
	cfg->compact_ppm = UZ_DEFAULT_COMPACT_PPM;
	cfg->lock_memory = 1;
	cfg->io_uring = UZ_URING_AUTO;
	cfg->io_uring_depth = UZ_FUSE_URING_DEPTH;
	cfg->socket_mode = 0600;
	cfg->socket_group = (gid_t)-1;
	cfg->admin_group = (gid_t)-1;
	snprintf(cfg->algorithm, sizeof(cfg->algorithm), "lz4");
	cfg->recomp = (struct uz_codec){ UZ_ALGO_ZSTD, 0 };
	cfg->recompress_after = UZ_DEFAULT_RECOMPRESS_AFTER;
	snprintf(cfg->fs_type, sizeof(cfg->fs_type), "ext4");
	snprintf(cfg->options, sizeof(cfg->options), "discard");
	cfg->swap_priority = UZ_DEFAULT_SWAP_PRIORITY;
	cfg->reserve = UZ_DEFAULT_RESERVE;
}

bool uz_config_is_swap(const struct uz_config *cfg)
{
	return strcmp(cfg->fs_type, "swap") == 0;
}

/* Which discard policies a swap device's options name (1: once, 2:
 * pages), or -1 for a token that is not one. */
static int swap_discard_bits(const char *options)
{
	char buf[sizeof(((struct uz_config *)0)->options)], *tok, *save = NULL;
	int bits = 0;

	snprintf(buf, sizeof(buf), "%s", options);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "discard") == 0 || strcmp(tok, "discard=pages") == 0)
			bits |= 2;
		else if (strcmp(tok, "discard=once") == 0)
			bits |= 1;
		else if (strcmp(tok, "nodiscard") != 0)
			return -1;
	}
	return bits;
}

const char *uz_config_swap_discard(const struct uz_config *cfg)
{
	static const char *const names[] = { "", "once", "pages", "both" };
	int bits = swap_discard_bits(cfg->options);

	return bits < 0 ? "" : names[bits];
}

int uz_config_finish(struct uz_config *cfg, char *err, size_t errlen)
{
	/* The default reserve is at most a quarter of a memory limit (whole
	 * arenas, at least one). */
	if (!cfg->reserve_set && cfg->mem_limit && cfg->reserve > cfg->mem_limit / 4) {
		cfg->reserve = (cfg->mem_limit / 4) & ~((uint64_t)UZ_ARENA_SIZE - 1);
		if (cfg->reserve < UZ_ARENA_SIZE)
			cfg->reserve = UZ_ARENA_SIZE;
	}
	if (cfg->mem_limit && cfg->reserve > cfg->mem_limit) {
		snprintf(err, errlen, "reserve %llu is more than mem-limit %llu: it would hold more memory ready "
			 "than the device may use", (unsigned long long)cfg->reserve,
			 (unsigned long long)cfg->mem_limit);
		return -EINVAL;
	}
	if (!uz_config_is_swap(cfg))
		return 0;
	if (cfg->mount_point[0]) {
		snprintf(err, errlen, "fs-type = swap takes no mount-point (%s): a swap device is not mounted",
			 cfg->mount_point);
		return -EINVAL;
	}
	if (!cfg->lock_memory) {
		snprintf(err, errlen, "fs-type = swap needs lock-memory = yes: a daemon whose pages can be "
			 "swapped out to itself deadlocks");
		return -EINVAL;
	}
	if (!cfg->reserve) {
		snprintf(err, errlen, "fs-type = swap needs a reserve (reserve = 0): swap writes never wait "
			 "for memory");
		return -EINVAL;
	}
	if (cfg->persist[0]) {
		snprintf(err, errlen, "fs-type = swap takes no persist (%s): swapped pages die with the processes "
			 "that swapped them out", cfg->persist);
		return -EINVAL;
	}
	if (swap_discard_bits(cfg->options) < 0) {
		snprintf(err, errlen, "options '%s': a swap device takes discard, discard=once, discard=pages "
			 "or nodiscard", cfg->options);
		return -EINVAL;
	}
	return 0;
}

/* A recursive-descent evaluator for zram-generator's size expressions. */
struct expr {
	const char *p;
	double ram;
	const char *why;
};

static double expr_sum(struct expr *e);

static void skip_blanks(struct expr *e)
{
	while (*e->p == ' ' || *e->p == '\t')
		e->p++;
}

static double expr_atom(struct expr *e)
{
	double v = 0;

	skip_blanks(e);
	if (e->why)
		return 0;
	if (*e->p == '(') {
		e->p++;
		v = expr_sum(e);
		skip_blanks(e);
		if (*e->p != ')')
			e->why = "missing ')'";
		else
			e->p++;
		return v;
	}
	if (*e->p == '-') {
		e->p++;
		return -expr_atom(e);
	}
	if (strncmp(e->p, "ram", 3) == 0 && !isalnum((unsigned char)e->p[3])) {
		e->p += 3;
		return e->ram;
	}
	if (strncmp(e->p, "min", 3) == 0 || strncmp(e->p, "max", 3) == 0) {
		bool is_min = e->p[1] == 'i';
		double a, b;

		e->p += 3;
		skip_blanks(e);
		if (*e->p++ != '(') {
			e->why = "min and max take (a, b)";
			return 0;
		}
		a = expr_sum(e);
		skip_blanks(e);
		if (*e->p++ != ',') {
			e->why = "min and max take (a, b)";
			return 0;
		}
		b = expr_sum(e);
		skip_blanks(e);
		if (*e->p++ != ')') {
			e->why = "missing ')'";
			return 0;
		}
		return is_min ? (a < b ? a : b) : (a > b ? a : b);
	}
	if (isdigit((unsigned char)*e->p) || *e->p == '.') {
		char *end;

		v = strtod(e->p, &end);
		e->p = end;
		return v;
	}
	e->why = *e->p ? "unexpected character" : "unexpected end";
	return 0;
}

static double expr_product(struct expr *e)
{
	double v = expr_atom(e);

	for (;;) {
		skip_blanks(e);
		if (e->why || (*e->p != '*' && *e->p != '/'))
			return v;
		if (*e->p++ == '*') {
			v *= expr_atom(e);
		} else {
			double d = expr_atom(e);

			if (d == 0) {
				e->why = "division by zero";
				return 0;
			}
			v /= d;
		}
	}
}

static double expr_sum(struct expr *e)
{
	double v = expr_product(e);

	for (;;) {
		skip_blanks(e);
		if (e->why || (*e->p != '+' && *e->p != '-'))
			return v;
		if (*e->p++ == '+')
			v += expr_product(e);
		else
			v -= expr_product(e);
	}
}

int uz_eval_size_expr(const char *expr, double ram_mib, double *mib, char *err, size_t errlen)
{
	struct expr e = { .p = expr, .ram = ram_mib };
	double v = expr_sum(&e);

	skip_blanks(&e);
	if (!e.why && *e.p)
		e.why = "unexpected character";
	if (!e.why && !(v >= 0))
		e.why = "negative result";
	if (e.why) {
		snprintf(err, errlen, "'%s' is not a size expression: %s at '%.16s'", expr, e.why, e.p);
		return -EINVAL;
	}
	*mib = v;
	return 0;
}

static double ram_mib(void)
{
	return (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / 1048576.0;
}

/* The decimal number s starts with (it must start with a digit); *end
 * points past it.  Returns 0, -EINVAL, or -ERANGE beyond 64 bits. */
static int leading_number(const char *s, unsigned long long *v, char **end)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, end, 10);
	return errno == ERANGE ? -ERANGE : 0;
}

int uz_parse_age(const char *s, uint64_t *seconds)
{
	static const struct {
		const char *unit;
		uint64_t mult;
	} units[] = { { "", 1 }, { "s", 1 }, { "sec", 1 }, { "min", 60 }, { "h", 3600 }, { "d", 86400 } };
	unsigned long long v;
	char *end;
	int r = leading_number(s, &v, &end);

	if (r)
		return r;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) == 0) {
			if (v > (UINT32_MAX / units[i].mult))
				return -ERANGE;
			*seconds = v * units[i].mult;
			return 0;
		}
	}
	return -EINVAL;
}

int uz_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;
	int r = leading_number(s, &v, &end);

	if (r)
		return r;
	switch (toupper((unsigned char)*end)) {
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	}
	if (shift && (strcasecmp(end, "iB") == 0 || strcasecmp(end, "B") == 0))
		end += strlen(end);
	else if (!shift && strcasecmp(end, "B") == 0)
		end++;
	if (*end)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

int uz_parse_bool(const char *s)
{
	static const char *const yes[] = { "yes", "on", "true", "1" }, *const no[] = { "no", "off", "false", "0" };

	for (unsigned i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -EINVAL;
}

/* A whole unsigned number in base 8 or 10, nothing before or after it.
 * Returns false for anything else, or a number beyond unsigned long. */
static bool parse_number(const char *s, int base, unsigned long *n)
{
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	*n = strtoul(s, &end, base);
	return !*end && !errno;
}

/* A count from 1 to max (threads, io-uring-depth): sets *out, or returns
 * -EINVAL with "'VALUE' is not a WHAT (1 to MAX)" in err. */
static int parse_count(const char *value, unsigned max, const char *what, unsigned *out, char *err, size_t errlen)
{
	unsigned long n;

	if (!parse_number(value, 10, &n) || n < 1 || n > max) {
		snprintf(err, errlen, "'%s' is not a %s (1 to %u)", value, what, max);
		return -EINVAL;
	}
	*out = (unsigned)n;
	return 0;
}

int uz_parse_group(const char *s, gid_t *gid)
{
	struct group gr, *res = NULL;
	char *buf = NULL;
	unsigned long n;
	int e = ERANGE;

	if (isdigit((unsigned char)s[0])) {
		if (!parse_number(s, 10, &n) || n >= (gid_t)-1)
			return -EINVAL;
		*gid = (gid_t)n;
		return 0;
	}
	/* A group with many members needs a larger buffer: grow it. */
	for (size_t cap = 4096; e == ERANGE && cap <= (1u << 24); cap *= 4) {
		char *b = realloc(buf, cap);

		if (!b)
			break;
		buf = b;
		e = getgrnam_r(s, &gr, buf, cap, &res);
	}
	if (e == 0 && res)
		*gid = res->gr_gid;
	free(buf);
	return e == 0 && res ? 0 : -EINVAL;
}

int uz_parse_compaction(const char *s, uint32_t *ppm)
{
	uint64_t whole = 0, frac = 0, scale = 10000;
	const char *p = s;

	if (strcmp(s, "off") == 0) {
		*ppm = 0;
		return 0;
	}
	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	while (isdigit((unsigned char)*p) && whole <= 100)
		whole = whole * 10 + (uint64_t)(*p++ - '0');
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p)) {
			if (scale == 10)
				return -EINVAL; /* finer than 0.001 % */
			scale /= 10;
			frac += (uint64_t)(*p++ - '0') * scale;
		}
	}
	if (strcmp(p, "%") != 0 || whole * 10000 + frac > 1000000)
		return -EINVAL;
	*ppm = (uint32_t)(whole * 10000 + frac);
	return 0;
}

int uz_check_disksize(uint64_t size, char *err, size_t errlen)
{
	if (size == 0) {
		snprintf(err, errlen, "0: a device needs at least one 4096-byte page");
		return -EINVAL;
	}
	if (size % 4096) {
		snprintf(err, errlen, "%llu: not a multiple of 4096", (unsigned long long)size);
		return -EINVAL;
	}
	/* 2^40 pages: the slot table directory would not fit in memory. */
	if (size > (1ull << 52)) {
		snprintf(err, errlen, "%llu: larger than the 4 PiB uzram supports", (unsigned long long)size);
		return -EINVAL;
	}
	return 0;
}

int uz_parse_recomp(const char *s, struct uz_codec *c, char *err, size_t errlen)
{
	struct uz_codec v = { UZ_ALGO_ZSTD, 0 };
	int r;

	if (strcmp(s, "off") == 0) {
		*c = (struct uz_codec){ UZ_ALGO_LZ4, 0 };
		return 0;
	}
	r = uz_codec_parse(s, &v);
	if (r || v.algo == UZ_ALGO_LZ4) {
		snprintf(err, errlen, "'%.64s' is not a recompression algorithm (zstd, zstd:1..22, lz4hc, lz4hc:3..12, "
			 "or off)%s", s, r ? "" : ": lz4 is the primary one");
		return -EINVAL;
	}
	*c = v;
	return 0;
}

/* Parses an idle age for a policy: 30s to 30h, or off (0). */
static int parse_policy_age(const char *value, uint64_t *out, char *err, size_t errlen)
{
	uint64_t v;

	if (strcmp(value, "off") == 0) {
		*out = 0;
		return 0;
	}
	if (uz_parse_age(value, &v) || v < UZ_IDLE_TICK_S || v > UZ_IDLE_MAX_AGE_S) {
		snprintf(err, errlen, "'%s' is not an age from %us to %uh (such as 30min, 20h), or off", value,
			 UZ_IDLE_TICK_S, UZ_IDLE_MAX_AGE_S / 3600);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int set_path(char *dst, size_t cap, const char *value, char *err, size_t errlen)
{
	if (value[0] != '/') {
		snprintf(err, errlen, "'%s' is not an absolute path", value);
		return -EINVAL;
	}
	if (strlen(value) >= cap) {
		snprintf(err, errlen, "path longer than %zu bytes", cap - 1);
		return -EINVAL;
	}
	snprintf(dst, cap, "%s", value);
	return 0;
}

int uz_config_set(struct uz_config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	uint64_t v;
	int r;

	if (strcmp(key, "size") == 0) {
		r = uz_parse_size(value, &v);
		if (r) {
			snprintf(err, errlen, "'%s' is not a size%s", value,
				 r == -ERANGE ? " (too large)" : " (use digits with K, M, G or T)");
			return -EINVAL;
		}
		if (uz_check_disksize(v, err, errlen))
			return -EINVAL;
		cfg->size = v;
	} else if (strcmp(key, "zram-size") == 0 || strcmp(key, "zram-resident-limit") == 0) {
		double mib;

		if (uz_eval_size_expr(value, ram_mib(), &mib, err, errlen))
			return -EINVAL;
		/* 2^44 MiB = 2^64 bytes: found by tests/fuzz/fuzz_config.c. */
		if (!(mib < 17592186044416.0)) {
			snprintf(err, errlen, "'%s' is %g MiB: too large", value, mib);
			return -EINVAL;
		}
		/* MiB, as zram-generator; the size rounded down to whole pages. */
		v = (uint64_t)(mib * 1048576.0) & ~4095ull;
		if (key[5] == 's') {
			if (uz_check_disksize(v, err, errlen))
				return -EINVAL;
			cfg->size = v;
		} else {
			cfg->mem_limit = v;
		}
	} else if (strcmp(key, "fs-type") == 0) {
		if (strlen(value) >= sizeof(cfg->fs_type) || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(value)) {
			snprintf(err, errlen, "'%s' is not a file system type (such as ext4)", value);
			return -EINVAL;
		}
		snprintf(cfg->fs_type, sizeof(cfg->fs_type), "%s", value);
	} else if (strcmp(key, "swap-priority") == 0) {
		char *end;
		long p;

		errno = 0;
		p = strtol(value, &end, 10);
		if (errno || end == value || *end || p < -1 || p > 32767) {
			snprintf(err, errlen, "'%s' is not a swap priority (-1 to 32767)", value);
			return -EINVAL;
		}
		cfg->swap_priority = (int)p;
	} else if (strcmp(key, "reserve") == 0) {
		r = uz_parse_size(value, &v);
		if (r || v > (64ull << 30)) {
			snprintf(err, errlen, "'%s' is not a size up to 64G%s", value,
				 r == -EINVAL ? " (use digits with K, M or G; 0 for none)" : "");
			return -EINVAL;
		}
		cfg->reserve = v;
		cfg->reserve_set = true;
	} else if (strcmp(key, "mount-point") == 0) {
		return set_path(cfg->mount_point, sizeof(cfg->mount_point), value, err, errlen);
	} else if (strcmp(key, "options") == 0) {
		if (strlen(value) >= sizeof(cfg->options) || strpbrk(value, " \t'\"\\")) {
			snprintf(err, errlen, "'%s' is not a mount option list (comma-separated, no blanks)", value);
			return -EINVAL;
		}
		snprintf(cfg->options, sizeof(cfg->options), "%s", value);
	} else if (strcmp(key, "mem-limit") == 0) {
		r = uz_parse_size(value, &v);
		if (r) {
			snprintf(err, errlen, "'%s' is not a size%s", value,
				 r == -ERANGE ? " (too large)" : " (use digits with K, M, G or T; 0 for none)");
			return -EINVAL;
		}
		cfg->mem_limit = v;
	} else if (strcmp(key, "backing-file") == 0) {
		return set_path(cfg->backing_file, sizeof(cfg->backing_file), value, err, errlen);
	} else if (strcmp(key, "backing-size") == 0 || strcmp(key, "writeback-limit") == 0) {
		r = uz_parse_size(value, &v);
		if (r || (key[0] == 'b' && v && v < 4096)) {
			snprintf(err, errlen, "'%s' is not a size%s", value,
				 r == -ERANGE ? " (too large)" : r ? " (use digits with K, M, G or T; 0 for the default)"
								   : " (at least 4K)");
			return -EINVAL;
		}
		*(key[0] == 'b' ? &cfg->backing_size : &cfg->writeback_limit) = v;
	} else if (strcmp(key, "writeback-after") == 0) {
		return parse_policy_age(value, &cfg->writeback_after, err, errlen);
	} else if (strcmp(key, "recompress-after") == 0) {
		return parse_policy_age(value, &cfg->recompress_after, err, errlen);
	} else if (strcmp(key, "persist") == 0) {
		if (strcmp(value, "off") == 0) {
			cfg->persist[0] = '\0';
			return 0;
		}
		return set_path(cfg->persist, sizeof(cfg->persist) - 8, value, err, errlen); /* room for ".tmp" */
	} else if (strcmp(key, "persist-mismatch") == 0) {
		if (strcmp(value, "refuse") && strcmp(value, "discard")) {
			snprintf(err, errlen, "'%s' is not refuse or discard", value);
			return -EINVAL;
		}
		cfg->persist_discard = value[0] == 'd';
	} else if (strcmp(key, "recomp-algorithm") == 0) {
		return uz_parse_recomp(value, &cfg->recomp, err, errlen);
	} else if (strcmp(key, "arena") == 0) {
		if (uz_arena_kind_parse(value, &cfg->arena)) {
			snprintf(err, errlen, "'%s' is not an arena kind (hugetlb, thp, plain or auto)", value);
			return -EINVAL;
		}
	} else if (strcmp(key, "threads") == 0) {
		return parse_count(value, UZ_MAX_THREADS, "thread count", &cfg->threads, err, errlen);
	} else if (strcmp(key, "io-uring") == 0) {
		if (uz_uring_mode_parse(value, &cfg->io_uring)) {
			snprintf(err, errlen, "'%s' is not auto, yes or no", value);
			return -EINVAL;
		}
	} else if (strcmp(key, "io-uring-depth") == 0) {
		return parse_count(value, UZ_FUSE_URING_MAX_DEPTH, "queue depth", &cfg->io_uring_depth, err, errlen);
	} else if (strcmp(key, "compaction") == 0) {
		if (uz_parse_compaction(value, &cfg->compact_ppm)) {
			snprintf(err, errlen, "'%s' is not a threshold (a percentage such as 0.25%%, or off)", value);
			return -EINVAL;
		}
	} else if (strcmp(key, "lock-memory") == 0 || strcmp(key, "allow-other") == 0) {
		r = uz_parse_bool(value);
		if (r < 0) {
			snprintf(err, errlen, "'%s' is not yes or no", value);
			return -EINVAL;
		}
		*(key[0] == 'l' ? &cfg->lock_memory : &cfg->allow_other) = r;
	} else if (strcmp(key, "socket-mode") == 0) {
		unsigned long n;

		if (!parse_number(value, 8, &n) || n > 0777 || (n & 0111)) {
			snprintf(err, errlen, "'%s' is not a socket mode (octal, at most 0666, such as 0660)", value);
			return -EINVAL;
		}
		if (!(n & 0200)) {
			snprintf(err, errlen, "'%s' leaves the owner unable to connect (needs 0600 at least)", value);
			return -EINVAL;
		}
		cfg->socket_mode = (unsigned)n;
	} else if (strcmp(key, "socket-group") == 0 || strcmp(key, "admin-group") == 0) {
		gid_t g;

		if (uz_parse_group(value, &g)) {
			snprintf(err, errlen, "'%s' is not a group (a name in the group database, or a number)", value);
			return -EINVAL;
		}
		*(key[0] == 's' ? &cfg->socket_group : &cfg->admin_group) = g;
	} else if (strcmp(key, "compression-algorithm") == 0) {
		/* zram-generator's form: the primary algorithm, then an
		 * optional one for recompression ("lz4 zstd(level=3)"). */
		const char *second = strchr(value, ' ');
		size_t first = second ? (size_t)(second - value) : strlen(value);

		if (first != 3 || strncmp(value, "lz4", 3) != 0) {
			snprintf(err, errlen, "'%.*s' is not supported (only lz4; a second algorithm, such as "
				 "'lz4 zstd', recompresses idle pages)", (int)first, value);
			return -EINVAL;
		}
		if (second) {
			while (*second == ' ')
				second++;
			if (*second && uz_parse_recomp(second, &cfg->recomp, err, errlen))
				return -EINVAL;
		}
		snprintf(cfg->algorithm, sizeof(cfg->algorithm), "lz4");
	} else if (strcmp(key, "socket") == 0) {
		return set_path(cfg->socket, sizeof(cfg->socket), value, err, errlen);
	} else if (strcmp(key, "path") == 0) {
		return set_path(cfg->path, sizeof(cfg->path), value, err, errlen);
	} else {
		snprintf(err, errlen, "unknown key");
		return -EINVAL;
	}
	return 0;
}

/* inih calls the reader once per line, so counting here gives the line
 * number of the key the handler sees. */
struct reader {
	const char *origin;
	FILE *file; /* or text */
	const char *text;
	int line;
	struct uz_config *cfg;
	char *err;
	size_t errlen;
	bool failed;
};

static char *read_line(char *str, int num, void *stream)
{
	struct reader *r = stream;
	char *res;

	if (r->file) {
		res = fgets(str, num, r->file);
	} else {
		const char *nl;
		size_t n;

		if (!*r->text)
			return NULL;
		nl = strchr(r->text, '\n');
		n = nl ? (size_t)(nl - r->text) + 1 : strlen(r->text);
		if (n > (size_t)num - 1)
			n = (size_t)num - 1;
		memcpy(str, r->text, n);
		str[n] = '\0';
		r->text += n;
		res = str;
	}
	if (res)
		r->line++;
	return res;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct reader *r = user;
	char why[512];

	if (r->failed)
		return 0;
	if (section[0]) {
		snprintf(r->err, r->errlen, "%s:%d: sections are not used: one file per device", r->origin,
			 r->line);
		r->failed = true;
		return 0;
	}
	if (!value || !value[0]) {
		snprintf(r->err, r->errlen, "%s:%d: %s: no value", r->origin, r->line, name);
		r->failed = true;
		return 0;
	}
	if (uz_config_set(r->cfg, name, value, why, sizeof(why))) {
		snprintf(r->err, r->errlen, "%s:%d: %s: %s", r->origin, r->line, name, why);
		r->failed = true;
		return 0;
	}
	return 1;
}

static int parse(struct reader *r)
{
	int res;

	ini_allow_multiline = false;
	ini_allow_inline_comments = true;
	res = ini_parse_stream(read_line, r, on_key, r);
	if (r->failed)
		return -EINVAL;
	if (res > 0) {
		snprintf(r->err, r->errlen, "%s:%d: not a 'key = value' line", r->origin, res);
		return -EINVAL;
	}
	if (res < 0) {
		snprintf(r->err, r->errlen, "%s: cannot parse (out of memory)", r->origin);
		return -ENOMEM;
	}
	return 0;
}

int uz_config_load(const char *file, struct uz_config *cfg, char *err, size_t errlen)
{
	struct reader r = { .origin = file, .cfg = cfg, .err = err, .errlen = errlen };
	int res;

	r.file = fopen(file, "re");
	if (!r.file) {
		res = -errno;
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return res;
	}
	res = parse(&r);
	fclose(r.file);
	return res;
}

int uz_config_load_string(const char *text, const char *origin, struct uz_config *cfg, char *err,
			  size_t errlen)
{
	struct reader r = { .origin = origin, .text = text, .cfg = cfg, .err = err, .errlen = errlen };

	return parse(&r);
}
