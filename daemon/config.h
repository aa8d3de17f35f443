/* daemon/config.h - uzramd settings: built-in defaults, the config file,
 * then the command line, each overriding the one before. */
#ifndef UZ_DAEMON_CONFIG_H
#define UZ_DAEMON_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../compress/codec.h"
#include "../fuse/uzfuse.h"
#include "../store/arena.h"

#define UZ_DEFAULT_SIZE (4ull << 30)
#define UZ_DEFAULT_THREADS 8
/* Compact when stranded space passes 0.25 % of the stored data: keeps the
 * seed benchmark's overhead under 2 % (tests/bench/seed.sh). */
#define UZ_DEFAULT_COMPACT_PPM 2500
#define UZ_MAX_THREADS 256
/* Pages untouched for an hour are recompressed (zstd): ChromeOS's
 * shortest idle age.  A zstd page costs a few microseconds more to read
 * than an LZ4 one, well inside a FUSE request's time (tests/bench/io.sh
 * measures both), and a page rewritten within the hour was never worth
 * recompressing. */
#define UZ_DEFAULT_RECOMPRESS_AFTER 3600
/* Trained dictionaries for zstd recompression: 110 KiB, the size that
 * saved the most on the kernel tree net of the dictionary's own memory
 * (make bench-dict), trained on 8192 pages (32 MiB of data).  Off by
 * default until snapshots carry dictionaries (persist). */
#define UZ_DEFAULT_DICTIONARY 1
#define UZ_DEFAULT_DICT_SIZE 112640
#define UZ_DEFAULT_DICT_SAMPLE 8192
#define UZ_DICT_SAMPLE_MAX (1u << 20)
/* Arenas kept mapped and faulted in ahead of need (store/reserve.h):
 * 16 arenas.  At the highest swap-out rate measured here (make bench-swap,
 * about 400 MiB/s of pages, 0.7 of it stored) 32 MiB last some 100 ms,
 * while the reserve's thread makes an arena in well under a millisecond:
 * the serving threads find it empty only when the kernel cannot give the
 * daemon memory at all for that long. */
#define UZ_DEFAULT_RESERVE (32ull << 20)
/* How long a write to a file-system device waits for the reserve when
 * it finds it empty, before it fails with ENOMEM (a swap device does not
 * wait).  Long enough that a refill slowed by reclaim is waited for; short
 * enough that a write the kernel's reclaim is itself waiting on (dirty
 * pages of the file system) fails and unblocks it instead of hanging. */
#define UZ_RESERVE_WAIT_FS_MS 2000
/* zram-generator's swap-priority. */
#define UZ_DEFAULT_SWAP_PRIORITY 100
#define UZ_RUN_DIR "/run/uzram"
#define UZ_CONF_DIR "/etc/uzram"

struct uz_config {
	uint64_t size; /* bytes, a multiple of 4096 */
	uint64_t mem_limit; /* bytes; 0: none */
	enum uz_arena_kind arena;
	unsigned threads; /* FUSE worker threads (/dev/fuse) */
	enum uz_uring_mode io_uring; /* FUSE over io_uring: no, auto, yes */
	unsigned io_uring_depth; /* entries per CPU queue */
	uint32_t compact_ppm; /* automatic compaction threshold; 0: off */
	int lock_memory; /* mlockall(MCL_ONFAULT) at start: never swapped, never waiting on reclaim */
	int allow_other; /* FUSE allow_other: users other than the daemon's may open the file */
	unsigned socket_mode; /* permission bits of the control socket */
	gid_t socket_group; /* (gid_t)-1: the daemon's group */
	gid_t admin_group; /* may change state over the socket besides root; (gid_t)-1: none */
	char algorithm[16];
	char fs_type[32]; /* file system made on a new device, or "swap" */
	int swap_priority; /* swapon -p; -1..32767 */
	uint64_t reserve; /* bytes of arenas made ahead (UZ_DEFAULT_RESERVE); 0: none */
	bool reserve_set; /* set by the file or the command line, not the default */
	char mount_point[PATH_MAX]; /* "": none */
	char options[256]; /* mount options */
	char socket[PATH_MAX]; /* "": /run/uzram/NAME.sock */
	char backing_file[PATH_MAX]; /* "": none */
	uint64_t backing_size; /* bytes a backing file may use; 0: the device's size */
	uint64_t writeback_after; /* seconds idle before the daemon writes a page back; 0: off */
	uint64_t writeback_limit; /* bytes a day the daemon writes back by itself; 0: no limit */
	struct uz_codec recomp; /* the secondary algorithm; UZ_ALGO_LZ4: off */
	uint64_t recompress_after; /* seconds idle before the daemon recompresses a page; 0: off */
	int dictionary; /* auto (1): the daemon trains dictionaries, zstd recompression uses them; off (0) */
	uint64_t dict_size; /* bytes of a dictionary trained, UZ_DICT_MIN_SIZE .. UZ_DICT_MAX_SIZE */
	unsigned dict_sample; /* pages a training samples, UZ_DICT_MIN_SAMPLES .. UZ_DICT_SAMPLE_MAX */
	int dictionary_lz4; /* new writes: LZ4 against the current trained dictionary */
	char persist[PATH_MAX]; /* snapshot file; "": off */
	int persist_discard; /* persist-mismatch = discard: start empty on a size or version mismatch */
	char path[PATH_MAX]; /* block file; "": given on the command line */
};

/* Sets the built-in defaults, the same values conf/uzram.conf ships. */
void uz_config_defaults(struct uz_config *cfg);

/* Parses a size: digits with an optional K, M, G or T suffix (powers of
 * 1024; "KiB", "MB" and "B" spellings accepted).  Returns 0, -EINVAL for a
 * malformed string, -ERANGE when it does not fit in 64 bits. */
int uz_parse_size(const char *s, uint64_t *out);

/* Parses an age: digits with a unit, s (or sec), min, h or d; bare
 * digits are seconds ("90s", "30min", "2h", "90").  Returns 0, -EINVAL
 * for a malformed string, -ERANGE beyond 2^32 seconds. */
int uz_parse_age(const char *s, uint64_t *seconds);

/* Evaluates a zram-generator size expression: numbers, `ram` (the
 * machine's memory in MiB, passed in), + - * /, parentheses, min(a, b)
 * and max(a, b), e.g. "min(ram / 2, 4096)".  The result is in MiB, as in
 * zram-generator.  Returns 0, or -EINVAL (with the reason in err) for a
 * malformed expression, division by zero or a negative result. */
int uz_eval_size_expr(const char *expr, double ram_mib, double *mib, char *err, size_t errlen);

/* Parses a compaction threshold: a percentage of the stored data
 * ("0.25%", at most 3 decimals, up to 100%) or "off".  Returns 0 with
 * *ppm set (0 for off), or -EINVAL. */
int uz_parse_compaction(const char *s, uint32_t *ppm);

/* Parses a secondary algorithm: zstd, zstd:LEVEL, zstd(level=LEVEL),
 * lz4hc, lz4hc:LEVEL, lz4hc(level=LEVEL), or off (*c's algo
 * UZ_ALGO_LZ4).  Returns 0, or -EINVAL with the reason in err. */
int uz_parse_recomp(const char *s, struct uz_codec *c, char *err, size_t errlen);

/* Parses a yes/no value: yes, no, on, off, true, false, 1, 0.  Returns 1,
 * 0, or -EINVAL. */
int uz_parse_bool(const char *s);

/* Parses a group: a name from the group database, or a number.  Returns
 * 0, or -EINVAL for an unknown name or a malformed number. */
int uz_parse_group(const char *s, gid_t *gid);

/* Checks that a device size is usable.  Returns 0, or -EINVAL with the
 * reason in err ("4097: not a multiple of 4096"). */
int uz_check_disksize(uint64_t size, char *err, size_t errlen);

struct uz_config_key;

/* Reads value into field (cfg's member that key k sets), leaving it as it
 * was on failure.  Returns 0, or -EINVAL with the reason in err. */
typedef int uz_config_parser(const struct uz_config_key *k, struct uz_config *cfg, void *field, const char *value,
			     char *err, size_t errlen);

/* Whether a running daemon can take a new value of a key (reload). */
enum uz_config_reload {
	UZ_RELOAD_NEVER, /* only at start */
	UZ_RELOAD_ALWAYS,
	UZ_RELOAD_NONZERO, /* from one non-zero value to another, not to or from 0 */
};

/* One config key: the one row that a new key needs (and its docs in
 * conf/uzram.conf and uzramd.8, which tests/check_config.c holds to the
 * table). */
struct uz_config_key {
	const char *name;
	uz_config_parser *parse;
	size_t offset; /* of its field in struct uz_config */
	size_t size; /* of that field: a string's capacity, the bytes reload compares */
	bool text; /* the field is a string: compared up to its NUL */
	enum uz_config_reload reload;
	int64_t lo, hi; /* an integer's bounds; a size's least non-zero value, or its most */
	const char *hint; /* a size's spelling, an integer's noun, for errors */
	const char *help; /* one line for uzramd --help */
};

/* The table of every key (*n rows), in the order reload reports them. */
const struct uz_config_key *uz_config_keys(size_t *n);

/* The key called name, or NULL. */
const struct uz_config_key *uz_config_key(const char *name);

/* What a reload would do with a key's new value. */
enum uz_config_change {
	UZ_CONFIG_SAME,
	UZ_CONFIG_APPLY, /* changed, and a running daemon can take it */
	UZ_CONFIG_RESTART, /* changed, but only a restart applies it */
};

/* Compares key k's field in was (the settings in use) and now (those
 * just read). */
enum uz_config_change uz_config_compare(const struct uz_config_key *k, const struct uz_config *was,
					const struct uz_config *now);

/* Lists the keys whose comparison of was and now is which, as " KEY KEY"
 * in names (at most cap bytes with the NUL; "" for none), in table order;
 * a field that two keys set (size, zram-size) is listed under the first.
 * Returns how many keys that is. */
size_t uz_config_diff(const struct uz_config *was, const struct uz_config *now, enum uz_config_change which,
		      char *names, size_t cap);

/* Applies one setting (a config key or the matching long option) to cfg.
 * Returns 0, or -EINVAL with the reason in err: "'12Q' is not a size",
 * "unknown key". */
int uz_config_set(struct uz_config *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Whether cfg makes a swap device (fs-type = swap). */
bool uz_config_is_swap(const struct uz_config *cfg);

/* The discard policy swapon gets for a swap device's options: "pages"
 * (options = discard, the default, or discard=pages), "once", "both"
 * (discard=once and discard=pages), or "" (nodiscard). */
const char *uz_config_swap_discard(const struct uz_config *cfg);

/* Completes cfg once every setting is in: the default reserve shrinks to
 * a quarter of a mem-limit.  Then checks what no single key can: a swap
 * device with a mount-point, with lock-memory = no, without a reserve, or
 * with options that are not discard policies; a reserve set larger than
 * mem-limit.  Returns 0, or -EINVAL with the reason in err, naming the
 * keys. */
int uz_config_finish(struct uz_config *cfg, char *err, size_t errlen);

/* Reads a config file into cfg.  Returns 0; -ENOENT (or another negative
 * errno) when the file cannot be read; -EINVAL on the first bad line, with
 * "FILE:LINE: KEY: reason" in err. */
int uz_config_load(const char *file, struct uz_config *cfg, char *err, size_t errlen);

/* Parses config text held in memory, naming it origin in errors.  Same
 * returns as uz_config_load. */
int uz_config_load_string(const char *text, const char *origin, struct uz_config *cfg, char *err,
			  size_t errlen);

#endif
