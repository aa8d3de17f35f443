/* daemon/config.c - sizes, keys and config files (parsed by inih). */
#include "config.h"
#include "../compress/dict.h"
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
	cfg->dictionary = UZ_DEFAULT_DICTIONARY;
	cfg->dict_size = UZ_DEFAULT_DICT_SIZE;
	cfg->dict_sample = UZ_DEFAULT_DICT_SAMPLE;
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

/* A size; k->hint says how to write one, k->lo is the least non-zero
 * size (0: any).  Returns 0, or -EINVAL with the reason in err. */
static int size_value(const struct uz_config_key *k, const char *value, uint64_t *v, char *err, size_t errlen)
{
	int r = uz_parse_size(value, v);

	if (r == -ERANGE)
		snprintf(err, errlen, "'%s' is not a size (too large)", value);
	else if (r)
		snprintf(err, errlen, "'%s' is not a size (%s)", value, k->hint);
	else if (k->lo && *v && *v < (uint64_t)k->lo)
		snprintf(err, errlen, "'%s' is not a size (at least %lldK)", value, (long long)k->lo / 1024);
	else
		return 0;
	return -EINVAL;
}

static int parse_size(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
		      char *err, size_t errlen)
{
	uint64_t v;

	(void)cfg;
	if (size_value(k, value, &v, err, errlen))
		return -EINVAL;
	*(uint64_t *)field = v;
	return 0;
}

/* A size from k->lo to k->hi, both required. */
static int parse_bounded_size(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			      char *err, size_t errlen)
{
	uint64_t v;

	(void)cfg;
	if (size_value(k, value, &v, err, errlen))
		return -EINVAL;
	if (v < (uint64_t)k->lo || v > (uint64_t)k->hi) {
		snprintf(err, errlen, "'%s' is not a size from %lldK to %lldK", value, (long long)k->lo / 1024,
			 (long long)k->hi / 1024);
		return -EINVAL;
	}
	*(uint64_t *)field = v;
	return 0;
}

static int parse_disksize(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			  char *err, size_t errlen)
{
	uint64_t v;

	(void)cfg;
	if (size_value(k, value, &v, err, errlen) || uz_check_disksize(v, err, errlen))
		return -EINVAL;
	*(uint64_t *)field = v;
	return 0;
}

/* A zram-generator size expression, in MiB, rounded down to whole pages. */
static int expr_value(const char *value, uint64_t *v, char *err, size_t errlen)
{
	double mib;

	if (uz_eval_size_expr(value, ram_mib(), &mib, err, errlen))
		return -EINVAL;
	/* 2^44 MiB = 2^64 bytes: found by tests/fuzz/fuzz_config.c. */
	if (!(mib < 17592186044416.0)) {
		snprintf(err, errlen, "'%s' is %g MiB: too large", value, mib);
		return -EINVAL;
	}
	*v = (uint64_t)(mib * 1048576.0) & ~4095ull;
	return 0;
}

static int parse_expr(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
		      char *err, size_t errlen)
{
	uint64_t v;

	(void)k;
	(void)cfg;
	if (expr_value(value, &v, err, errlen))
		return -EINVAL;
	*(uint64_t *)field = v;
	return 0;
}

static int parse_expr_disksize(const struct uz_config_key *k, struct uz_config *cfg, void *field,
			       const char *value, char *err, size_t errlen)
{
	uint64_t v;

	(void)k;
	(void)cfg;
	if (expr_value(value, &v, err, errlen) || uz_check_disksize(v, err, errlen))
		return -EINVAL;
	*(uint64_t *)field = v;
	return 0;
}

static int parse_reserve(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			 char *err, size_t errlen)
{
	uint64_t v;
	int r = uz_parse_size(value, &v);

	if (r || v > (uint64_t)k->hi) {
		snprintf(err, errlen, "'%s' is not a size up to 64G%s", value,
			 r == -EINVAL ? " (use digits with K, M or G; 0 for none)" : "");
		return -EINVAL;
	}
	*(uint64_t *)field = v;
	cfg->reserve_set = true;
	return 0;
}

/* An integer from k->lo to k->hi into an int or unsigned field: digits
 * only when it cannot be negative, a sign allowed otherwise. */
static int parse_int(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
		     char *err, size_t errlen)
{
	char *end;
	long n;

	(void)cfg;
	errno = 0;
	n = strtol(value, &end, 10);
	if ((k->lo >= 0 && !isdigit((unsigned char)value[0])) || errno || end == value || *end || n < k->lo ||
	    n > k->hi) {
		snprintf(err, errlen, "'%s' is not a %s (%lld to %lld)", value, k->hint, (long long)k->lo,
			 (long long)k->hi);
		return -EINVAL;
	}
	*(int *)field = (int)n; /* int and unsigned may alias */
	return 0;
}

static int parse_bool(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
		      char *err, size_t errlen)
{
	int r = uz_parse_bool(value);

	(void)k;
	(void)cfg;
	if (r < 0) {
		snprintf(err, errlen, "'%s' is not yes or no", value);
		return -EINVAL;
	}
	*(int *)field = r;
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

static int parse_path(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
		      char *err, size_t errlen)
{
	(void)cfg;
	return set_path(field, k->size, value, err, errlen);
}

/* A path, or off (""). */
static int parse_persist(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			 char *err, size_t errlen)
{
	(void)cfg;
	if (strcmp(value, "off") == 0) {
		*(char *)field = '\0';
		return 0;
	}
	return set_path(field, k->size - 8, value, err, errlen); /* room for ".tmp" */
}

/* An idle age for a policy: 30s to 30h, or off (0). */
static int parse_policy_age(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			    char *err, size_t errlen)
{
	uint64_t v;

	(void)k;
	(void)cfg;
	if (strcmp(value, "off") == 0) {
		*(uint64_t *)field = 0;
		return 0;
	}
	if (uz_parse_age(value, &v) || v < UZ_IDLE_TICK_S || v > UZ_IDLE_MAX_AGE_S) {
		snprintf(err, errlen, "'%s' is not an age from %us to %uh (such as 30min, 20h), or off", value,
			 UZ_IDLE_TICK_S, UZ_IDLE_MAX_AGE_S / 3600);
		return -EINVAL;
	}
	*(uint64_t *)field = v;
	return 0;
}

static int parse_group(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
		       char *err, size_t errlen)
{
	(void)k;
	(void)cfg;
	if (uz_parse_group(value, field)) {
		snprintf(err, errlen, "'%s' is not a group (a name in the group database, or a number)", value);
		return -EINVAL;
	}
	return 0;
}

static int parse_arena(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
		       char *err, size_t errlen)
{
	(void)k;
	(void)cfg;
	if (uz_arena_kind_parse(value, field)) {
		snprintf(err, errlen, "'%s' is not an arena kind (hugetlb, thp, plain or auto)", value);
		return -EINVAL;
	}
	return 0;
}

static int parse_io_uring(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			  char *err, size_t errlen)
{
	(void)k;
	(void)cfg;
	if (uz_uring_mode_parse(value, field)) {
		snprintf(err, errlen, "'%s' is not auto, yes or no", value);
		return -EINVAL;
	}
	return 0;
}

/* dictionary: auto (1) or off (0). */
static int parse_dictionary(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			    char *err, size_t errlen)
{
	(void)k;
	(void)cfg;
	if (strcmp(value, "auto") && strcmp(value, "off")) {
		snprintf(err, errlen, "'%s' is not auto or off", value);
		return -EINVAL;
	}
	*(int *)field = value[0] == 'a';
	return 0;
}

/* persist-mismatch: refuse (0) or discard (1). */
static int parse_mismatch(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			  char *err, size_t errlen)
{
	(void)k;
	(void)cfg;
	if (strcmp(value, "refuse") && strcmp(value, "discard")) {
		snprintf(err, errlen, "'%s' is not refuse or discard", value);
		return -EINVAL;
	}
	*(int *)field = value[0] == 'd';
	return 0;
}

static int parse_compaction(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			    char *err, size_t errlen)
{
	(void)k;
	(void)cfg;
	if (uz_parse_compaction(value, field)) {
		snprintf(err, errlen, "'%s' is not a threshold (a percentage such as 0.25%%, or off)", value);
		return -EINVAL;
	}
	return 0;
}

static int parse_recomp(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			char *err, size_t errlen)
{
	(void)k;
	(void)cfg;
	return uz_parse_recomp(value, field, err, errlen);
}

/* zram-generator's form: the primary algorithm, then an optional one
 * for recompression ("lz4 zstd(level=3)"). */
static int parse_algorithm(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			   char *err, size_t errlen)
{
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
	snprintf(field, k->size, "lz4");
	return 0;
}

static int parse_fs_type(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			 char *err, size_t errlen)
{
	(void)cfg;
	if (strlen(value) >= k->size || strspn(value, "abcdefghijklmnopqrstuvwxyz0123456789") != strlen(value)) {
		snprintf(err, errlen, "'%s' is not a file system type (such as ext4)", value);
		return -EINVAL;
	}
	snprintf(field, k->size, "%s", value);
	return 0;
}

static int parse_options(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			 char *err, size_t errlen)
{
	(void)cfg;
	if (strlen(value) >= k->size || strpbrk(value, " \t'\"\\")) {
		snprintf(err, errlen, "'%s' is not a mount option list (comma-separated, no blanks)", value);
		return -EINVAL;
	}
	snprintf(field, k->size, "%s", value);
	return 0;
}

static int parse_socket_mode(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			     char *err, size_t errlen)
{
	unsigned long n;

	(void)k;
	(void)cfg;
	if (!parse_number(value, 8, &n) || n > 0777 || (n & 0111)) {
		snprintf(err, errlen, "'%s' is not a socket mode (octal, at most 0666, such as 0660)", value);
		return -EINVAL;
	}
	if (!(n & 0200)) {
		snprintf(err, errlen, "'%s' leaves the owner unable to connect (needs 0600 at least)", value);
		return -EINVAL;
	}
	*(unsigned *)field = (unsigned)n;
	return 0;
}

#define FIELD(f) .offset = offsetof(struct uz_config, f), .size = sizeof(((struct uz_config *)0)->f)
#define TEXT(f) FIELD(f), .text = true

/* Every key.  Reload reports changes in this order, so the keys it can
 * apply come first; reload() in daemon/uzramd.c applies each of those.  A
 * key that sets another's field (zram-size sets size) comes after it:
 * reload compares that field once, under the first key's name.  A row's
 * parser must match its field's type: parse_int and parse_bool an int or
 * unsigned, parse_size and parse_policy_age a uint64_t. */
static const struct uz_config_key keys[] = {
	{ "mem-limit", parse_size, FIELD(mem_limit), .reload = UZ_RELOAD_ALWAYS,
	  .hint = "use digits with K, M, G or T; 0 for none", .help = "most memory the store may use (0: no limit)" },
	{ "recomp-algorithm", parse_recomp, FIELD(recomp), .reload = UZ_RELOAD_ALWAYS,
	  .help = "recompresses idle pages: zstd, zstd:LEVEL, lz4hc, lz4hc:LEVEL, or off" },
	{ "recompress-after", parse_policy_age, FIELD(recompress_after), .reload = UZ_RELOAD_ALWAYS,
	  .help = "recompress pages idle this long by itself (30s to 30h, or off)" },
	{ "dictionary", parse_dictionary, FIELD(dictionary), .reload = UZ_RELOAD_ALWAYS,
	  .help = "auto: train a dictionary that zstd recompression uses; or off" },
	{ "dictionary-size", parse_bounded_size, FIELD(dict_size), .reload = UZ_RELOAD_ALWAYS,
	  .lo = UZ_DICT_MIN_SIZE, .hi = UZ_DICT_MAX_SIZE, .hint = "use digits with K or M",
	  .help = "bytes of a trained dictionary (1K to 1M)" },
	{ "dictionary-sample", parse_int, FIELD(dict_sample), .reload = UZ_RELOAD_ALWAYS,
	  .lo = UZ_DICT_MIN_SAMPLES, .hi = UZ_DICT_SAMPLE_MAX, .hint = "page count",
	  .help = "stored pages a training samples (64 to 1048576)" },
	{ "reserve", parse_reserve, FIELD(reserve), .reload = UZ_RELOAD_NONZERO, .hi = 64ll << 30,
	  .help = "arena memory made ready ahead of writes (up to 64G; 0: none)" },
	{ "compaction", parse_compaction, FIELD(compact_ppm), .reload = UZ_RELOAD_ALWAYS,
	  .help = "compact when stranded space passes this % of the data, or off" },
	{ "dictionary-lz4", parse_bool, FIELD(dictionary_lz4), .reload = UZ_RELOAD_ALWAYS,
	  .help = "new writes compress with LZ4 against the current trained dictionary" },
	{ "size", parse_disksize, FIELD(size), .hint = "use digits with K, M, G or T",
	  .help = "device size, a multiple of 4096 (K, M, G, T suffixes)" },
	{ "arena", parse_arena, FIELD(arena), .help = "where arenas come from: hugetlb, thp, plain or auto" },
	{ "threads", parse_int, FIELD(threads), .lo = 1, .hi = UZ_MAX_THREADS, .hint = "thread count",
	  .help = "FUSE worker threads (/dev/fuse)" },
	{ "io-uring", parse_io_uring, FIELD(io_uring), .help = "FUSE over io_uring: auto, yes or no" },
	{ "io-uring-depth", parse_int, FIELD(io_uring_depth), .lo = 1, .hi = UZ_FUSE_URING_MAX_DEPTH,
	  .hint = "queue depth", .help = "entries per CPU queue with io_uring" },
	{ "lock-memory", parse_bool, FIELD(lock_memory), .help = "lock the daemon's memory in RAM as it is touched" },
	{ "allow-other", parse_bool, FIELD(allow_other), .help = "users other than the daemon's may open the file" },
	{ "socket-mode", parse_socket_mode, FIELD(socket_mode), .help = "permission bits of the control socket (octal)" },
	{ "socket-group", parse_group, FIELD(socket_group), .help = "group of the control socket" },
	{ "admin-group", parse_group, FIELD(admin_group),
	  .help = "may change state over the socket besides root" },
	{ "compression-algorithm", parse_algorithm, TEXT(algorithm),
	  .help = "lz4, optionally then a recompression algorithm (lz4 zstd)" },
	{ "socket", parse_path, TEXT(socket), .help = "control socket (default /run/uzram/NAME.sock)" },
	{ "path", parse_path, TEXT(path), .help = "the block file, when not given on the command line" },
	{ "fs-type", parse_fs_type, TEXT(fs_type), .help = "file system made on a new device (ext4), or swap" },
	{ "mount-point", parse_path, TEXT(mount_point), .help = "where uzram@.service mounts it" },
	{ "options", parse_options, TEXT(options), .help = "mount options, or swap's discard policy (discard)" },
	{ "backing-file", parse_path, TEXT(backing_file), .help = "file or block device pages are written back to" },
	{ "persist", parse_persist, TEXT(persist), .help = "snapshot file written at a clean stop, loaded at start" },
	{ "persist-mismatch", parse_mismatch, FIELD(persist_discard),
	  .help = "a snapshot of another size or version: refuse or discard" },
	{ "backing-size", parse_size, FIELD(backing_size), .lo = 4096,
	  .hint = "use digits with K, M, G or T; 0 for the default",
	  .help = "bytes the backing file may use (0: the device's size)" },
	{ "writeback-after", parse_policy_age, FIELD(writeback_after),
	  .help = "write back pages idle this long by itself (30s to 30h, or off)" },
	{ "writeback-limit", parse_size, FIELD(writeback_limit), .hint = "use digits with K, M, G or T; 0 for the default",
	  .help = "bytes a day written back by itself (0: no limit)" },
	{ "swap-priority", parse_int, FIELD(swap_priority), .lo = -1, .hi = 32767, .hint = "swap priority",
	  .help = "swapon's priority for a swap device" },
	{ "zram-size", parse_expr_disksize, FIELD(size),
	  .help = "size as zram-generator writes it, in MiB (min(ram / 2, 4096))" },
	{ "zram-resident-limit", parse_expr, FIELD(mem_limit),
	  .help = "mem-limit as zram-generator writes it, in MiB" },
};

#undef TEXT
#undef FIELD

const struct uz_config_key *uz_config_keys(size_t *n)
{
	*n = sizeof(keys) / sizeof(keys[0]);
	return keys;
}

const struct uz_config_key *uz_config_key(const char *name)
{
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

int uz_config_set(struct uz_config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	const struct uz_config_key *k = uz_config_key(key);

	if (!k) {
		snprintf(err, errlen, "unknown key");
		return -EINVAL;
	}
	return k->parse(k, cfg, (char *)cfg + k->offset, value, err, errlen);
}

enum uz_config_change uz_config_compare(const struct uz_config_key *k, const struct uz_config *was,
					const struct uz_config *now)
{
	const char *a = (const char *)was + k->offset, *b = (const char *)now + k->offset;
	bool zero_a = true, zero_b = true;

	if (k->text ? strcmp(a, b) == 0 : memcmp(a, b, k->size) == 0)
		return UZ_CONFIG_SAME;
	if (k->reload == UZ_RELOAD_ALWAYS)
		return UZ_CONFIG_APPLY;
	if (k->reload == UZ_RELOAD_NEVER)
		return UZ_CONFIG_RESTART;
	for (size_t i = 0; i < k->size; i++) {
		zero_a = zero_a && !a[i];
		zero_b = zero_b && !b[i];
	}
	return zero_a || zero_b ? UZ_CONFIG_RESTART : UZ_CONFIG_APPLY;
}

size_t uz_config_diff(const struct uz_config *was, const struct uz_config *now, enum uz_config_change which,
		      char *names, size_t cap)
{
	size_t n = 0, len = 0, nkeys = sizeof(keys) / sizeof(keys[0]);

	names[0] = '\0';
	for (size_t i = 0; i < nkeys; i++) {
		size_t j;

		for (j = 0; j < i && keys[j].offset != keys[i].offset; j++)
			;
		if (j < i || uz_config_compare(&keys[i], was, now) != which)
			continue;
		n++;
		if (len < cap)
			len += (size_t)snprintf(names + len, cap - len, " %s", keys[i].name);
	}
	return n;
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
