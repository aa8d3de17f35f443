/* tests/check_config.c - sizes, keys and config files (daemon/config.c). */
#include "check_util.h"
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/config.h"

START_TEST(sizes)
{
	uint64_t v;

	ck_assert_int_eq(uz_parse_size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(uz_parse_size("4K", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(uz_parse_size("512m", &v), 0);
	ck_assert_uint_eq(v, 512ull << 20);
	ck_assert_int_eq(uz_parse_size("4G", &v), 0);
	ck_assert_uint_eq(v, 4ull << 30);
	ck_assert_int_eq(uz_parse_size("1T", &v), 0);
	ck_assert_uint_eq(v, 1ull << 40);
	ck_assert_int_eq(uz_parse_size("2GiB", &v), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(uz_parse_size("3MB", &v), 0);
	ck_assert_uint_eq(v, 3ull << 20);
	ck_assert_int_eq(uz_parse_size("100B", &v), 0);
	ck_assert_uint_eq(v, 100);
	ck_assert_int_eq(uz_parse_size("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(uz_parse_size("", &v), -EINVAL);
	ck_assert_int_eq(uz_parse_size("G", &v), -EINVAL);
	ck_assert_int_eq(uz_parse_size("-4G", &v), -EINVAL);
	ck_assert_int_eq(uz_parse_size(" 4G", &v), -EINVAL);
	ck_assert_int_eq(uz_parse_size("4G ", &v), -EINVAL);
	ck_assert_int_eq(uz_parse_size("12Q", &v), -EINVAL);
	ck_assert_int_eq(uz_parse_size("4.5G", &v), -EINVAL);
	ck_assert_int_eq(uz_parse_size("4GG", &v), -EINVAL);
	ck_assert_int_eq(uz_parse_size("99999999999999999999", &v), -ERANGE);
	ck_assert_int_eq(uz_parse_size("16777216T", &v), -ERANGE);
}
END_TEST

START_TEST(compaction_thresholds)
{
	uint32_t ppm = 7;

	ck_assert_int_eq(uz_parse_compaction("0.25%", &ppm), 0);
	ck_assert_uint_eq(ppm, 2500);
	ck_assert_int_eq(uz_parse_compaction("1%", &ppm), 0);
	ck_assert_uint_eq(ppm, 10000);
	ck_assert_int_eq(uz_parse_compaction("0.001%", &ppm), 0);
	ck_assert_uint_eq(ppm, 10);
	ck_assert_int_eq(uz_parse_compaction("100%", &ppm), 0);
	ck_assert_uint_eq(ppm, 1000000);
	ck_assert_int_eq(uz_parse_compaction("off", &ppm), 0);
	ck_assert_uint_eq(ppm, 0);
	ck_assert_int_eq(uz_parse_compaction("0.25", &ppm), -EINVAL);
	ck_assert_int_eq(uz_parse_compaction("101%", &ppm), -EINVAL);
	ck_assert_int_eq(uz_parse_compaction("0.0001%", &ppm), -EINVAL);
	ck_assert_int_eq(uz_parse_compaction(".5%", &ppm), -EINVAL);
	ck_assert_int_eq(uz_parse_bool("yes"), 1);
	ck_assert_int_eq(uz_parse_bool("Off"), 0);
	ck_assert_int_eq(uz_parse_bool("0"), 0);
	ck_assert_int_eq(uz_parse_bool("maybe"), -EINVAL);
	{
		gid_t g = 7;

		ck_assert_int_eq(uz_parse_group("root", &g), 0);
		ck_assert_uint_eq(g, 0);
		ck_assert_int_eq(uz_parse_group("100", &g), 0);
		ck_assert_uint_eq(g, 100);
		ck_assert_int_eq(uz_parse_group("no-such-group-here", &g), -EINVAL);
		ck_assert_int_eq(uz_parse_group("12a", &g), -EINVAL);
	}
	ck_assert_int_eq(uz_parse_bool(""), -EINVAL);
	ck_assert_int_eq(uz_parse_compaction("1.%", &ppm), -EINVAL);
	ck_assert_int_eq(uz_parse_compaction("-1%", &ppm), -EINVAL);
	ck_assert_int_eq(uz_parse_compaction("on", &ppm), -EINVAL);
	ck_assert_int_eq(uz_parse_compaction("99999999999999%", &ppm), -EINVAL);
}
END_TEST

START_TEST(zram_generator_expressions)
{
	char err[256];
	double v;

	ck_assert_int_eq(uz_eval_size_expr("min(ram / 2, 4096)", 24000, &v, err, sizeof(err)), 0);
	ck_assert(v == 4096);
	ck_assert_int_eq(uz_eval_size_expr("min(ram / 2, 4096)", 6000, &v, err, sizeof(err)), 0);
	ck_assert(v == 3000);
	ck_assert_int_eq(uz_eval_size_expr("max(ram * 0.25, 512) + 1", 1000, &v, err, sizeof(err)), 0);
	ck_assert(v == 513);
	ck_assert_int_eq(uz_eval_size_expr("(ram - 1000) / 2", 3000, &v, err, sizeof(err)), 0);
	ck_assert(v == 1000);
	ck_assert_int_eq(uz_eval_size_expr("2 + 3 * 4", 0, &v, err, sizeof(err)), 0);
	ck_assert(v == 14);
	ck_assert_int_eq(uz_eval_size_expr("ram / 0", 100, &v, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "division by zero"));
	ck_assert_int_eq(uz_eval_size_expr("min(ram, )", 100, &v, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_eval_size_expr("ram +", 100, &v, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_eval_size_expr("(ram", 100, &v, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_eval_size_expr("rams", 100, &v, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_eval_size_expr("100 - ram", 1000, &v, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "negative result"));
	ck_assert_int_eq(uz_eval_size_expr("", 100, &v, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(disk_sizes)
{
	char err[256];

	ck_assert_int_eq(uz_check_disksize(4096, err, sizeof(err)), 0);
	ck_assert_int_eq(uz_check_disksize(1ull << 40, err, sizeof(err)), 0);
	ck_assert_int_eq(uz_check_disksize(4097, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "4097: not a multiple of 4096");
	ck_assert_int_eq(uz_check_disksize(0, err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_check_disksize(1ull << 53, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(keys)
{
	struct uz_config c;
	char err[512];

	uz_config_defaults(&c);
	ck_assert_int_eq(uz_config_set(&c, "socket-mode", "0660", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.socket_mode, 0660);
	ck_assert_int_eq(uz_config_set(&c, "socket-mode", "0755", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'0755' is not a socket mode (octal, at most 0666, such as 0660)");
	ck_assert_int_eq(uz_config_set(&c, "socket-mode", "0400", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'0400' leaves the owner unable to connect (needs 0600 at least)");
	ck_assert_int_eq(uz_config_set(&c, "socket-mode", "rw", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "admin-group", "root", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.admin_group, 0);
	ck_assert_int_eq(uz_config_set(&c, "socket-group", "nope-nope", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'nope-nope' is not a group (a name in the group database, or a number)");
	ck_assert_int_eq(uz_config_set(&c, "allow-other", "yes", err, sizeof(err)), 0);
	ck_assert_int_eq(c.allow_other, 1);
	ck_assert_int_eq(uz_config_set(&c, "size", "1G", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.size, 1ull << 30);
	ck_assert_int_eq(uz_config_set(&c, "mem-limit", "256M", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.mem_limit, 256ull << 20);
	ck_assert_int_eq(uz_config_set(&c, "arena", "plain", err, sizeof(err)), 0);
	ck_assert_int_eq(c.arena, UZ_ARENA_PLAIN);
	ck_assert_int_eq(uz_config_set(&c, "threads", "3", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.threads, 3);
	ck_assert_int_eq(c.io_uring, UZ_URING_AUTO);
	ck_assert_int_eq(uz_config_set(&c, "io-uring", "yes", err, sizeof(err)), 0);
	ck_assert_int_eq(c.io_uring, UZ_URING_YES);
	ck_assert_int_eq(uz_config_set(&c, "io-uring", "no", err, sizeof(err)), 0);
	ck_assert_int_eq(c.io_uring, UZ_URING_NO);
	ck_assert_int_eq(uz_config_set(&c, "io-uring", "maybe", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'maybe' is not auto, yes or no");
	ck_assert_int_eq(c.io_uring, UZ_URING_NO);
	ck_assert_int_eq(uz_config_set(&c, "io-uring", "auto", err, sizeof(err)), 0);
	ck_assert_int_eq(c.io_uring, UZ_URING_AUTO);
	ck_assert_int_eq(uz_config_set(&c, "io-uring-depth", "16", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.io_uring_depth, 16);
	ck_assert_int_eq(uz_config_set(&c, "io-uring-depth", "0", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'0' is not a queue depth (1 to 256)");
	ck_assert_int_eq(uz_config_set(&c, "io-uring-depth", "257", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "io-uring-depth", "8k", err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(c.io_uring_depth, 16);
	ck_assert_int_eq(c.dictionary, 1); /* auto by default */
	ck_assert_int_eq(uz_config_set(&c, "dictionary", "off", err, sizeof(err)), 0);
	ck_assert_int_eq(c.dictionary, 0);
	ck_assert_int_eq(uz_config_set(&c, "dictionary", "yes", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'yes' is not auto or off");
	ck_assert_int_eq(uz_config_set(&c, "dictionary", "auto", err, sizeof(err)), 0);
	ck_assert_int_eq(c.dictionary, 1);
	ck_assert_int_eq(uz_config_set(&c, "dictionary", "off", err, sizeof(err)), 0);
	ck_assert_int_eq(c.dictionary, 0);
	ck_assert_uint_eq(c.dict_size, 110 << 10);
	ck_assert_int_eq(uz_config_set(&c, "dictionary-size", "64K", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.dict_size, 64 << 10);
	ck_assert_int_eq(uz_config_set(&c, "dictionary-size", "1023", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'1023' is not a size (at least 1K)");
	ck_assert_int_eq(uz_config_set(&c, "dictionary-size", "2M", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'2M' is not a size from 1K to 1024K");
	ck_assert_int_eq(uz_config_set(&c, "dictionary-size", "0", err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(c.dict_size, 64 << 10);
	ck_assert_uint_eq(c.dict_sample, 8192);
	ck_assert_int_eq(uz_config_set(&c, "dictionary-sample", "64", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.dict_sample, 64);
	ck_assert_int_eq(uz_config_set(&c, "dictionary-sample", "63", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'63' is not a page count (64 to 1048576)");
	ck_assert_int_eq(uz_config_set(&c, "dictionary-sample", "1048577", err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(c.dict_sample, 64);
	ck_assert_int_eq(uz_config_set(&c, "socket", "/tmp/x.sock", err, sizeof(err)), 0);
	ck_assert_str_eq(c.socket, "/tmp/x.sock");
	ck_assert_int_eq(uz_config_set(&c, "zram-size", "16", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.size, 16ull << 20);
	ck_assert_int_eq(uz_config_set(&c, "zram-size", "min(ram / 2, 4096)", err, sizeof(err)), 0);
	ck_assert_uint_le(c.size, 4096ull << 20);
	ck_assert_uint_eq(c.size % 4096, 0);
	ck_assert_int_eq(uz_config_set(&c, "zram-resident-limit", "100", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.mem_limit, 100ull << 20);
	ck_assert_int_eq(uz_config_set(&c, "zram-size", "0", err, sizeof(err)), -EINVAL);
	/* Found by fuzz_config: beyond 2^64 bytes the conversion was undefined. */
	ck_assert_int_eq(uz_config_set(&c, "zram-resident-limit", "555555555555555", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'555555555555555' is 5.55556e+14 MiB: too large");
	ck_assert_int_eq(uz_config_set(&c, "fs-type", "xfs", err, sizeof(err)), 0);
	ck_assert_str_eq(c.fs_type, "xfs");
	ck_assert_int_eq(uz_config_set(&c, "fs-type", "ext4; rm -rf /", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "mount-point", "/mnt/z", err, sizeof(err)), 0);
	ck_assert_str_eq(c.mount_point, "/mnt/z");
	ck_assert_int_eq(uz_config_set(&c, "mount-point", "mnt", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "options", "discard,noatime", err, sizeof(err)), 0);
	ck_assert_str_eq(c.options, "discard,noatime");
	ck_assert_int_eq(uz_config_set(&c, "options", "discard noatime", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "size", "1G", err, sizeof(err)), 0);
	ck_assert_int_eq(uz_config_set(&c, "mem-limit", "256M", err, sizeof(err)), 0);
	ck_assert_int_eq(uz_config_set(&c, "threads", "3", err, sizeof(err)), 0);

	ck_assert_int_eq(uz_config_set(&c, "size", "4097", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "4097: not a multiple of 4096");
	ck_assert_int_eq(uz_config_set(&c, "mem-limit", "12Q", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "'12Q' is not a size"));
	ck_assert_int_eq(uz_config_set(&c, "arena", "huge", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "threads", "0", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "threads", "9999", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "threads", "4x", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "compression-algorithm", "zstd", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "socket", "relative.sock", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "colour", "blue", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "unknown key");
	/* Failed settings changed nothing. */
	ck_assert_uint_eq(c.size, 1ull << 30);
	ck_assert_uint_eq(c.mem_limit, 256ull << 20);
	ck_assert_uint_eq(c.threads, 3);
}
END_TEST

START_TEST(good_file)
{
	struct uz_config c;
	char err[512];

	uz_config_defaults(&c);
	ck_assert_int_eq(uz_config_load_string("# comment\n"
					       "; another\n"
					       "\n"
					       "size = 2G\n"
					       "mem-limit=1G ; inline comment\n"
					       "  arena = thp\n"
					       "threads = 4\n"
					       "backing-file = /var/lib/uzram/d.backing\n"
					       "backing-size = 8G\n"
					       "writeback-after = 20h\n"
					       "writeback-limit = 1G\n"
					       "recomp-algorithm = lz4hc:12\n"
					       "recompress-after = 2h\n",
					       "t.conf", &c, err, sizeof(err)),
			 0);
	ck_assert_int_eq(c.recomp.algo, UZ_ALGO_LZ4HC);
	ck_assert_int_eq(c.recomp.level, 12);
	ck_assert_str_eq(c.persist, "");
	ck_assert_int_eq(uz_config_load_string("persist = /var/lib/uzram/d.snap\npersist-mismatch = discard\n", "t.conf",
					       &c, err, sizeof(err)), 0);
	ck_assert_str_eq(c.persist, "/var/lib/uzram/d.snap");
	ck_assert_int_eq(c.persist_discard, 1);
	ck_assert_uint_eq(c.recompress_after, 2 * 3600);
	/* zram-generator's form: the second algorithm recompresses */
	ck_assert_int_eq(uz_config_load_string("compression-algorithm = lz4 zstd(level=7)\n", "t.conf", &c, err,
					       sizeof(err)), 0);
	ck_assert_int_eq(c.recomp.algo, UZ_ALGO_ZSTD);
	ck_assert_int_eq(c.recomp.level, 7);
	ck_assert_int_eq(uz_config_load_string("recomp-algorithm = off\nrecompress-after = off\n", "t.conf", &c, err,
					       sizeof(err)), 0);
	ck_assert_int_eq(c.recomp.algo, UZ_ALGO_LZ4);
	ck_assert_uint_eq(c.recompress_after, 0);
	ck_assert_str_eq(c.backing_file, "/var/lib/uzram/d.backing");
	ck_assert_uint_eq(c.backing_size, 8ull << 30);
	ck_assert_uint_eq(c.writeback_after, 20 * 3600);
	ck_assert_uint_eq(c.writeback_limit, 1ull << 30);
	ck_assert_uint_eq(c.size, 2ull << 30);
	ck_assert_uint_eq(c.mem_limit, 1ull << 30);
	ck_assert_int_eq(c.arena, UZ_ARENA_THP);
	ck_assert_uint_eq(c.threads, 4);
}
END_TEST

static void bad(const char *text, const char *want)
{
	struct uz_config c;
	char err[512] = "";

	uz_config_defaults(&c);
	ck_assert_int_eq(uz_config_load_string(text, "/etc/uzram/disk0.conf", &c, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strcmp(err, want) == 0, "got \"%s\", want \"%s\"", err, want);
}

START_TEST(bad_files_name_file_line_key)
{
	bad("size = 1G\n\n# x\n\n\n\nmem-limit = 12Q\n",
	    "/etc/uzram/disk0.conf:7: mem-limit: '12Q' is not a size (use digits with K, M, G or T; 0 for none)");
	bad("size = 4097\n", "/etc/uzram/disk0.conf:1: size: 4097: not a multiple of 4096");
	bad("\nfoo = 1\n", "/etc/uzram/disk0.conf:2: foo: unknown key");
	bad("size =\n", "/etc/uzram/disk0.conf:1: size: no value");
	bad("size = 1G\nthis line has no equals sign\n", "/etc/uzram/disk0.conf:2: not a 'key = value' line");
	bad("[zram0]\nsize = 1G\n", "/etc/uzram/disk0.conf:2: sections are not used: one file per device");
	bad("arena = giant\n",
	    "/etc/uzram/disk0.conf:1: arena: 'giant' is not an arena kind (hugetlb, thp, plain or auto)");
	bad("threads = -1\n", "/etc/uzram/disk0.conf:1: threads: '-1' is not a thread count (1 to 256)");
	bad("backing-file = disk.img\n", "/etc/uzram/disk0.conf:1: backing-file: 'disk.img' is not an absolute path");
	bad("backing-size = 100\n", "/etc/uzram/disk0.conf:1: backing-size: '100' is not a size (at least 4K)");
	bad("writeback-after = 31h\n", "/etc/uzram/disk0.conf:1: writeback-after: '31h' is not an age from 30s to 30h "
	    "(such as 30min, 20h), or off");
	bad("writeback-after = soon\n", "/etc/uzram/disk0.conf:1: writeback-after: 'soon' is not an age from 30s to "
	    "30h (such as 30min, 20h), or off");
	bad("writeback-limit = lots\n", "/etc/uzram/disk0.conf:1: writeback-limit: 'lots' is not a size (use digits "
	    "with K, M, G or T; 0 for the default)");
	bad("persist = snap\n", "/etc/uzram/disk0.conf:1: persist: 'snap' is not an absolute path");
	bad("persist-mismatch = ignore\n", "/etc/uzram/disk0.conf:1: persist-mismatch: 'ignore' is not refuse or discard");
	bad("recomp-algorithm = gzip\n", "/etc/uzram/disk0.conf:1: recomp-algorithm: 'gzip' is not a recompression "
	    "algorithm (zstd, zstd:1..22, lz4hc, lz4hc:3..12, or off)");
	bad("recomp-algorithm = lz4\n", "/etc/uzram/disk0.conf:1: recomp-algorithm: 'lz4' is not a recompression "
	    "algorithm (zstd, zstd:1..22, lz4hc, lz4hc:3..12, or off): lz4 is the primary one");
	bad("recomp-algorithm = zstd:23\n", "/etc/uzram/disk0.conf:1: recomp-algorithm: 'zstd:23' is not a "
	    "recompression algorithm (zstd, zstd:1..22, lz4hc, lz4hc:3..12, or off)");
	bad("recompress-after = 10s\n", "/etc/uzram/disk0.conf:1: recompress-after: '10s' is not an age from 30s to "
	    "30h (such as 30min, 20h), or off");
	bad("compression-algorithm = zstd\n", "/etc/uzram/disk0.conf:1: compression-algorithm: 'zstd' is not "
	    "supported (only lz4; a second algorithm, such as 'lz4 zstd', recompresses idle pages)");
	bad("compression-algorithm = lz4 lz4hc:99\n", "/etc/uzram/disk0.conf:1: compression-algorithm: 'lz4hc:99' is "
	    "not a recompression algorithm (zstd, zstd:1..22, lz4hc, lz4hc:3..12, or off)");
	bad("compaction = sometimes\n",
	    "/etc/uzram/disk0.conf:1: compaction: 'sometimes' is not a threshold (a percentage such as 0.25%, or off)");
}
END_TEST

START_TEST(missing_file)
{
	struct uz_config c;
	char err[512];

	uz_config_defaults(&c);
	ck_assert_int_eq(uz_config_load("/nonexistent/uzram.conf", &c, err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "/nonexistent/uzram.conf: No such file or directory");
}
END_TEST

/* conf/uzram.conf documents the defaults: loading it changes nothing. */
START_TEST(shipped_config_is_the_defaults)
{
	struct uz_config c, d;
	char err[512];

	uz_config_defaults(&d);
	uz_config_defaults(&c);
	c.size = 1; /* so that the file must set it */
	c.threads = 1;
	c.arena = UZ_ARENA_PLAIN;
	c.mem_limit = 1;
	c.compact_ppm = 1;
	c.lock_memory = 0;
	c.socket_mode = 0666;
	c.allow_other = 1;
	c.io_uring = UZ_URING_YES;
	c.io_uring_depth = 1;
	c.reserve = 1;
	ck_assert_msg(uz_config_load(SRCDIR "/conf/uzram.conf", &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert(c.reserve_set); /* the file sets the default reserve... */
	c.reserve_set = false; /* ...which then counts as set: not a value */
	ck_assert_mem_eq(&c, &d, sizeof(c));
}
END_TEST

/* conf/swap.conf: a swap device that passes every check. */
START_TEST(shipped_swap_config)
{
	struct uz_config c;
	char err[512];

	uz_config_defaults(&c);
	ck_assert_msg(uz_config_load(SRCDIR "/conf/swap.conf", &c, err, sizeof(err)) == 0, "%s", err);
	ck_assert(uz_config_is_swap(&c));
	ck_assert_int_eq(c.swap_priority, 100);
	ck_assert_str_eq(uz_config_swap_discard(&c), "pages");
	ck_assert_msg(uz_config_finish(&c, err, sizeof(err)) == 0, "%s", err);
}
END_TEST

/* What no single key can say wrong. */
START_TEST(config_finish_checks)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "fs-type = swap\nmount-point = /mnt/x\n", "fs-type = swap takes no mount-point (/mnt/x)" },
		{ "fs-type = swap\nlock-memory = no\n", "fs-type = swap needs lock-memory = yes" },
		{ "fs-type = swap\nreserve = 0\n", "fs-type = swap needs a reserve" },
		{ "fs-type = swap\npersist = /var/lib/uzram/s.snap\n", "fs-type = swap takes no persist" },
		{ "fs-type = swap\noptions = discard,often\n", "options 'discard,often': a swap device takes" },
		{ "mem-limit = 32M\nreserve = 64M\n", "reserve 67108864 is more than mem-limit 33554432" },
	};
	struct uz_config c;
	char err[512];

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uz_config_defaults(&c);
		ck_assert_int_eq(uz_config_load_string(bad[i].text, "t", &c, err, sizeof(err)), 0);
		ck_assert_int_eq(uz_config_finish(&c, err, sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].why), "'%s' gave '%s'", bad[i].text, err);
	}
	/* The default reserve follows a small mem-limit: a quarter, whole arenas. */
	uz_config_defaults(&c);
	ck_assert_int_eq(uz_config_load_string("mem-limit = 24M\n", "t", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(uz_config_finish(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.reserve, 6u << 20);
	uz_config_defaults(&c);
	ck_assert_int_eq(uz_config_load_string("mem-limit = 4M\n", "t", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(uz_config_finish(&c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.reserve, 2u << 20);
	/* discard policies */
	ck_assert_int_eq(uz_config_load_string("options = discard=once,discard=pages\n", "t", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(uz_config_swap_discard(&c), "both");
	ck_assert_int_eq(uz_config_load_string("options = nodiscard\n", "t", &c, err, sizeof(err)), 0);
	ck_assert_str_eq(uz_config_swap_discard(&c), "");
	/* swap-priority and reserve, one key at a time */
	ck_assert_int_eq(uz_config_set(&c, "swap-priority", "32768", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "'32768' is not a swap priority (-1 to 32767)");
	ck_assert_int_eq(uz_config_set(&c, "swap-priority", "-1", err, sizeof(err)), 0);
	ck_assert_int_eq(uz_config_set(&c, "reserve", "lots", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(uz_config_set(&c, "reserve", "65G", err, sizeof(err)), -EINVAL);
}
END_TEST

/* The whole of file, NUL-terminated (free it). */
static char *slurp(const char *file)
{
	FILE *f = fopen(file, "re");
	char *buf;
	long n;

	ck_assert_msg(f != NULL, "%s: %s", file, strerror(errno));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The key a config line sets or shows commented out ("key = value" or
 * "#key = value"; "# text" is prose), copied into key; false for others. */
static bool setting_line(const char *line, char *key, size_t cap)
{
	size_t n;

	if (*line == '#')
		line++;
	n = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789-");
	if (n == 0 || n >= cap || line[strspn(line + n, " ") + n] != '=')
		return false;
	memcpy(key, line, n);
	key[n] = '\0';
	return true;
}

/* Whether a man page names key in bold: "\fBio\-uring\fR" (or a space
 * after it) inline, or ".B io\-uring" / ".BR io\-uring ..." as a line. */
static bool man_names(const char *man, const char *key)
{
	char esc[96], *m = esc;
	static const char *const forms[][2] = { { "\\fB", "\\fR" }, { "\n.B ", "\n" }, { "\n.BR ", "\n" } };

	for (; *key && m < esc + sizeof(esc) - 3; key++)
		m += snprintf(m, (size_t)(esc + sizeof(esc) - m), *key == '-' ? "\\-" : "%c", *key);
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		char pat[128];
		size_t n = (size_t)snprintf(pat, sizeof(pat), "%s%s", forms[f][0], esc);

		for (const char *p = strstr(man, pat); p; p = strstr(p + 1, pat))
			if (p[n] == ' ' || strncmp(p + n, forms[f][1], strlen(forms[f][1])) == 0)
				return true;
	}
	return false;
}

/* Every key of the table is in conf/uzram.conf (set, or commented out
 * with its default or an example) and in both man pages, uzramd.8 and
 * uzram.conf.5 (in bold), and has its line of help. */
START_TEST(every_key_documented)
{
	static const char *const mans[] = { SRCDIR "/daemon/uzramd.8", SRCDIR "/daemon/uzram.conf.5" };
	char *conf = slurp(SRCDIR "/conf/uzram.conf"), *man[2] = { slurp(mans[0]), slurp(mans[1]) };
	size_t nkeys;
	const struct uz_config_key *table = uz_config_keys(&nkeys);

	ck_assert_uint_ge(nkeys, 30);
	for (size_t i = 0; i < nkeys; i++) {
		char key[64], *p;
		bool in_conf = false;

		for (p = conf; p && *p && !in_conf; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
			in_conf = setting_line(p, key, sizeof(key)) && strcmp(key, table[i].name) == 0;
		ck_assert_msg(in_conf, "conf/uzram.conf does not show key %s", table[i].name);
		for (size_t f = 0; f < 2; f++)
			ck_assert_msg(man_names(man[f], table[i].name), "%s does not name key %s in bold", mans[f],
				      table[i].name);
		ck_assert_msg(table[i].help && table[i].help[0], "key %s has no help", table[i].name);
	}
	free(conf);
	free(man[0]);
	free(man[1]);
}
END_TEST

/* The shipped files name no key that does not exist, not even in a line
 * commented out. */
START_TEST(shipped_files_name_known_keys)
{
	static const char *const files[] = { SRCDIR "/conf/uzram.conf", SRCDIR "/conf/swap.conf" };

	for (size_t f = 0; f < 2; f++) {
		char *text = slurp(files[f]), key[64];
		int line = 1, settings = 0;

		for (char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL, line++) {
			if (!setting_line(p, key, sizeof(key)))
				continue;
			settings++;
			ck_assert_msg(uz_config_key(key) != NULL, "%s:%d: unknown key %s", files[f], line, key);
		}
		ck_assert_int_ge(settings, 5);
		free(text);
	}
}
END_TEST

/* Reload's comparison, key by key from the table. */
START_TEST(reload_diff)
{
	struct uz_config was, now;
	char names[512];

	uz_config_defaults(&was);
	uz_config_defaults(&now);
	ck_assert_uint_eq(uz_config_diff(&was, &now, UZ_CONFIG_RESTART, names, sizeof(names)), 0);
	ck_assert_str_eq(names, "");
	/* a path set long, then short, leaves bytes after its NUL: unchanged */
	snprintf(was.socket, sizeof(was.socket), "/run/x.sock");
	snprintf(now.socket, sizeof(now.socket), "/run/a-longer-name.sock");
	snprintf(now.socket, sizeof(now.socket), "/run/x.sock");
	ck_assert_int_eq(uz_config_compare(uz_config_key("socket"), &was, &now), UZ_CONFIG_SAME);
	now.threads = 3;
	now.mem_limit = 1 << 30;
	now.size = 1 << 30; /* zram-size's field too: listed once, as size */
	now.compact_ppm = 0;
	ck_assert_uint_eq(uz_config_diff(&was, &now, UZ_CONFIG_RESTART, names, sizeof(names)), 2);
	ck_assert_str_eq(names, " size threads");
	ck_assert_uint_eq(uz_config_diff(&was, &now, UZ_CONFIG_APPLY, names, sizeof(names)), 2);
	ck_assert_str_eq(names, " mem-limit compaction");
	/* the dictionary's keys apply at once */
	now.dictionary = !was.dictionary;
	now.dict_sample = 1024;
	ck_assert_uint_eq(uz_config_diff(&was, &now, UZ_CONFIG_APPLY, names, sizeof(names)), 4);
	ck_assert_str_eq(names, " mem-limit dictionary dictionary-sample compaction");
	now.dictionary = was.dictionary;
	now.dict_sample = was.dict_sample;
	/* reserve: its size changes while running, not whether there is one */
	now.reserve = was.reserve * 2;
	ck_assert_int_eq(uz_config_compare(uz_config_key("reserve"), &was, &now), UZ_CONFIG_APPLY);
	now.reserve = 0;
	ck_assert_int_eq(uz_config_compare(uz_config_key("reserve"), &was, &now), UZ_CONFIG_RESTART);
	ck_assert_uint_eq(uz_config_diff(&now, &was, UZ_CONFIG_RESTART, names, sizeof(names)), 3);
	ck_assert_str_eq(names, " reserve size threads");
	/* a short buffer still counts every key */
	ck_assert_uint_eq(uz_config_diff(&now, &was, UZ_CONFIG_RESTART, names, 8), 3);
	ck_assert_str_eq(names, " reserv");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");

	uz_tcase(s, "config", 0,
		 UZ_TESTS(sizes, disk_sizes, zram_generator_expressions, compaction_thresholds, keys, good_file,
			  bad_files_name_file_line_key, missing_file, shipped_config_is_the_defaults, shipped_swap_config,
			  config_finish_checks, every_key_documented, shipped_files_name_known_keys, reload_diff));
	return uz_run_suite(s);
}
