/* tests/check_fuse.c - fuse/: the io_uring transport's request decoder
 * (uz_uring_answer) over every opcode, against the file operations both
 * transports share, and the INIT reply's patch (uz_uring_init_patch).  No
 * kernel needed: requests are laid out as the kernel lays them out in an
 * entry's buffers (tests/integration/t_uring.sh runs the real thing). */
#include "check_util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fuse/internal.h"
#include "../fuse/uring_abi.h"

#define DISK (1u << 20) /* a 1 MiB file */
#define CAP (64u << 10) /* payload buffer of these tests */

static uint8_t ram[DISK];
static uint64_t discarded_off, discarded_len;

static int ram_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	ck_assert_uint_le(off + len, DISK);
	memcpy(buf, ram + off, len);
	return 0;
}

static int ram_write(void *ctx, const void *buf, size_t len, uint64_t off)
{
	(void)ctx;
	ck_assert_uint_le(off + len, DISK);
	memcpy(ram + off, buf, len);
	return 0;
}

static int ram_discard(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx;
	discarded_off = off;
	discarded_len = len;
	memset(ram + off, 0, len);
	return 0;
}

static uint64_t ram_stored(void *ctx)
{
	(void)ctx;
	return 40960; /* 80 sectors */
}

static const struct uz_file_ops ops = { .read = ram_read, .write = ram_write, .discard = ram_discard,
					.stored = ram_stored };

static struct uz_fuse f;
static struct uz_uring_req_header hdr;
static uint8_t payload[CAP];

static void setup(void)
{
	memset(&f, 0, sizeof(f));
	f.p.ops = &ops;
	f.p.disksize = DISK;
	f.uid = 1234;
	f.gid = 5678;
	memset(ram, 0, sizeof(ram));
	discarded_off = discarded_len = 0;
}

/* Lays out a request as the kernel does: fuse_in_header in in_out, the
 * op's first argument in op_in, the rest in the payload. */
static void request(uint32_t opcode, uint64_t nodeid, const void *op, size_t oplen, const void *data, uint32_t dlen)
{
	struct fuse_in_header in = { .len = (uint32_t)(sizeof(in) + oplen + dlen), .opcode = opcode,
				     .unique = 0x1234500 + opcode, .nodeid = nodeid };

	memset(&hdr, 0xa5, sizeof(hdr)); /* whatever the last reply left */
	memset(payload, 0x5a, sizeof(payload));
	memcpy(hdr.in_out, &in, sizeof(in));
	if (oplen)
		memcpy(hdr.op_in, op, oplen);
	if (dlen)
		memcpy(payload, data, dlen);
	hdr.ring_ent_in_out.commit_id = in.unique;
	hdr.ring_ent_in_out.payload_sz = dlen;
	uz_uring_answer(&f, &hdr, payload, CAP);
}

/* The reply's header: unique echoed, len = header + payload_sz; returns
 * error (0 or -errno). */
static int reply(uint32_t opcode, uint32_t payload_sz)
{
	struct fuse_out_header oh;

	memcpy(&oh, hdr.in_out, sizeof(oh));
	ck_assert_uint_eq(oh.unique, 0x1234500 + opcode);
	ck_assert_uint_eq(hdr.ring_ent_in_out.payload_sz, payload_sz);
	ck_assert_uint_eq(oh.len, sizeof(oh) + payload_sz);
	return oh.error;
}

START_TEST(getattr)
{
	struct fuse_getattr_in gi = { 0 };
	struct fuse_attr_out ao;

	request(FUSE_GETATTR, FUSE_ROOT_ID, &gi, sizeof(gi), NULL, 0);
	ck_assert_int_eq(reply(FUSE_GETATTR, sizeof(ao)), 0);
	memcpy(&ao, payload, sizeof(ao));
	ck_assert_uint_eq(ao.attr_valid, 1);
	ck_assert_uint_eq(ao.attr.ino, FUSE_ROOT_ID);
	ck_assert_uint_eq(ao.attr.size, DISK);
	ck_assert_uint_eq(ao.attr.blocks, 80);
	ck_assert_uint_eq(ao.attr.mode, S_IFREG | 0600);
	ck_assert_uint_eq(ao.attr.nlink, 1);
	ck_assert_uint_eq(ao.attr.uid, 1234);
	ck_assert_uint_eq(ao.attr.gid, 5678);
	ck_assert_uint_eq(ao.attr.blksize, 4096);
	request(FUSE_GETATTR, 7, &gi, sizeof(gi), NULL, 0);
	ck_assert_int_eq(reply(FUSE_GETATTR, 0), -ENOENT);
}
END_TEST

START_TEST(write_then_read)
{
	struct fuse_write_in wi = { .offset = 4096 + 100, .size = 3000 };
	struct fuse_read_in ri = { .offset = 4096, .size = 8192 };
	struct fuse_write_out wo;
	uint8_t data[3000];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	request(FUSE_WRITE, FUSE_ROOT_ID, &wi, sizeof(wi), data, sizeof(data));
	ck_assert_int_eq(reply(FUSE_WRITE, sizeof(wo)), 0);
	memcpy(&wo, payload, sizeof(wo));
	ck_assert_uint_eq(wo.size, 3000);
	ck_assert_mem_eq(ram + 4096 + 100, data, sizeof(data));
	request(FUSE_READ, FUSE_ROOT_ID, &ri, sizeof(ri), NULL, 0);
	ck_assert_int_eq(reply(FUSE_READ, 8192), 0);
	ck_assert_mem_eq(payload + 100, data, sizeof(data));
	ck_assert_uint_eq(payload[0], 0);
	ck_assert_uint_eq(payload[8191], 0);
}
END_TEST

START_TEST(the_end_of_the_file)
{
	struct fuse_write_in wi = { .offset = DISK - 10, .size = 100 };
	struct fuse_read_in ri = { .offset = DISK - 10, .size = 4096 };
	struct fuse_write_out wo;
	uint8_t data[100];

	memset(data, 0x77, sizeof(data));
	/* A write that crosses the end is cut short ... */
	request(FUSE_WRITE, FUSE_ROOT_ID, &wi, sizeof(wi), data, sizeof(data));
	ck_assert_int_eq(reply(FUSE_WRITE, sizeof(wo)), 0);
	memcpy(&wo, payload, sizeof(wo));
	ck_assert_uint_eq(wo.size, 10);
	/* ... one that starts there is out of space, as on a block device. */
	wi.offset = DISK;
	request(FUSE_WRITE, FUSE_ROOT_ID, &wi, sizeof(wi), data, sizeof(data));
	ck_assert_int_eq(reply(FUSE_WRITE, 0), -ENOSPC);
	/* Reads stop at the end, and past it read nothing. */
	request(FUSE_READ, FUSE_ROOT_ID, &ri, sizeof(ri), NULL, 0);
	ck_assert_int_eq(reply(FUSE_READ, 10), 0);
	ck_assert_uint_eq(payload[0], 0x77);
	ri.offset = DISK + 4096;
	request(FUSE_READ, FUSE_ROOT_ID, &ri, sizeof(ri), NULL, 0);
	ck_assert_int_eq(reply(FUSE_READ, 0), 0);
	/* A read larger than the payload buffer is cut to it. */
	ri.offset = 0;
	ri.size = CAP * 2;
	request(FUSE_READ, FUSE_ROOT_ID, &ri, sizeof(ri), NULL, 0);
	ck_assert_int_eq(reply(FUSE_READ, CAP), 0);
	/* A write claiming more data than the payload holds is refused. */
	wi.offset = 0;
	wi.size = 200;
	request(FUSE_WRITE, FUSE_ROOT_ID, &wi, sizeof(wi), data, sizeof(data));
	ck_assert_int_eq(reply(FUSE_WRITE, 0), -EINVAL);
}
END_TEST

START_TEST(setattr_open_statfs)
{
	struct fuse_setattr_in si = { .valid = FATTR_SIZE, .size = DISK };
	struct fuse_open_in oi = { .flags = O_RDWR | O_DIRECT };
	struct fuse_open_out oo;
	struct fuse_statfs_out so;

	request(FUSE_SETATTR, FUSE_ROOT_ID, &si, sizeof(si), NULL, 0);
	ck_assert_int_eq(reply(FUSE_SETATTR, sizeof(struct fuse_attr_out)), 0);
	si.size = DISK / 2; /* truncate */
	request(FUSE_SETATTR, FUSE_ROOT_ID, &si, sizeof(si), NULL, 0);
	ck_assert_int_eq(reply(FUSE_SETATTR, 0), -EPERM);
	si.valid = FATTR_MODE; /* chmod */
	request(FUSE_SETATTR, FUSE_ROOT_ID, &si, sizeof(si), NULL, 0);
	ck_assert_int_eq(reply(FUSE_SETATTR, 0), -EPERM);
	si.valid = FATTR_FH | FATTR_LOCKOWNER; /* not attributes: nothing to refuse */
	request(FUSE_SETATTR, FUSE_ROOT_ID, &si, sizeof(si), NULL, 0);
	ck_assert_int_eq(reply(FUSE_SETATTR, sizeof(struct fuse_attr_out)), 0);

	request(FUSE_OPEN, FUSE_ROOT_ID, &oi, sizeof(oi), NULL, 0);
	ck_assert_int_eq(reply(FUSE_OPEN, sizeof(oo)), 0);
	memcpy(&oo, payload, sizeof(oo));
	ck_assert_uint_eq(oo.open_flags, FOPEN_DIRECT_IO); /* no page cache copy */

	request(FUSE_STATFS, FUSE_ROOT_ID, NULL, 0, NULL, 0);
	ck_assert_int_eq(reply(FUSE_STATFS, sizeof(so)), 0);
	memcpy(&so, payload, sizeof(so));
	ck_assert_uint_eq(so.st.bsize, 4096);
	ck_assert_uint_eq(so.st.frsize, 4096);
	ck_assert_uint_eq(so.st.blocks, DISK / 4096);
	ck_assert_uint_eq(so.st.bfree, DISK / 4096 - 10);
	ck_assert_uint_eq(so.st.namelen, 255);
}
END_TEST

START_TEST(fallocate_modes)
{
	struct fuse_fallocate_in fa = { .offset = 8192, .length = 4096, .mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE };

	memset(ram, 0xee, sizeof(ram));
	request(FUSE_FALLOCATE, FUSE_ROOT_ID, &fa, sizeof(fa), NULL, 0);
	ck_assert_int_eq(reply(FUSE_FALLOCATE, 0), 0);
	ck_assert_uint_eq(discarded_off, 8192);
	ck_assert_uint_eq(discarded_len, 4096);
	ck_assert_uint_eq(ram[8192], 0);
	ck_assert_uint_eq(ram[8191], 0xee);
	/* Zero range past the end: cut at the end with KEEP_SIZE ... */
	fa = (struct fuse_fallocate_in){ .offset = DISK - 4096, .length = 65536,
					 .mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE };
	request(FUSE_FALLOCATE, FUSE_ROOT_ID, &fa, sizeof(fa), NULL, 0);
	ck_assert_int_eq(reply(FUSE_FALLOCATE, 0), 0);
	ck_assert_uint_eq(discarded_len, 4096);
	/* ... refused without (the size cannot grow). */
	fa.mode = FALLOC_FL_ZERO_RANGE;
	request(FUSE_FALLOCATE, FUSE_ROOT_ID, &fa, sizeof(fa), NULL, 0);
	ck_assert_int_eq(reply(FUSE_FALLOCATE, 0), -EPERM);
	/* Preallocation inside the file: nothing to do. */
	fa = (struct fuse_fallocate_in){ .offset = 0, .length = 4096, .mode = 0 };
	request(FUSE_FALLOCATE, FUSE_ROOT_ID, &fa, sizeof(fa), NULL, 0);
	ck_assert_int_eq(reply(FUSE_FALLOCATE, 0), 0);
	fa.mode = FALLOC_FL_COLLAPSE_RANGE;
	request(FUSE_FALLOCATE, FUSE_ROOT_ID, &fa, sizeof(fa), NULL, 0);
	ck_assert_int_eq(reply(FUSE_FALLOCATE, 0), -EOPNOTSUPP);
	fa = (struct fuse_fallocate_in){ .offset = 0, .length = 0, .mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE };
	request(FUSE_FALLOCATE, FUSE_ROOT_ID, &fa, sizeof(fa), NULL, 0);
	ck_assert_int_eq(reply(FUSE_FALLOCATE, 0), -EINVAL);
}
END_TEST

START_TEST(every_other_opcode)
{
	static const uint32_t ok[] = { FUSE_FLUSH, FUSE_FSYNC, FUSE_RELEASE };
	static const uint32_t nosys[] = { FUSE_MKDIR, FUSE_UNLINK, FUSE_SETXATTR, FUSE_GETXATTR, FUSE_ACCESS,
					  FUSE_CREATE, FUSE_IOCTL, FUSE_LSEEK, FUSE_COPY_FILE_RANGE, FUSE_READDIR,
					  FUSE_OPENDIR, 4242 };
	uint8_t arg[64] = { 0 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		request(ok[i], FUSE_ROOT_ID, arg, sizeof(arg), NULL, 0);
		ck_assert_int_eq(reply(ok[i], 0), 0);
	}
	for (size_t i = 0; i < sizeof(nosys) / sizeof(nosys[0]); i++) {
		request(nosys[i], FUSE_ROOT_ID, arg, sizeof(arg), NULL, 0);
		ck_assert_int_eq(reply(nosys[i], 0), -ENOSYS);
	}
	request(FUSE_LOOKUP, FUSE_ROOT_ID, NULL, 0, "name", 5);
	ck_assert_int_eq(reply(FUSE_LOOKUP, 0), -ENOTDIR); /* the root is a regular file */
}
END_TEST

/* An INIT reply as libfuse 3.14 builds it for a 1 MiB max_write. */
struct init_msg {
	struct fuse_out_header oh;
	struct fuse_init_out io;
};

static struct init_msg init_msg(void)
{
	return (struct init_msg){ .oh = { .len = sizeof(struct init_msg), .unique = 1 },
				  .io = { .major = 7, .minor = 38, .flags = FUSE_ASYNC_DIO | FUSE_MAX_PAGES,
					  .max_write = 1u << 20, .max_pages = 256 } };
}

START_TEST(init_patch)
{
	struct init_msg m = init_msg(), orig = m;

	/* Offered and the buffers are big enough: FUSE_INIT_EXT and bit 41. */
	ck_assert_ptr_null(uz_uring_init_patch(&m, sizeof(m), true, 1u << 20));
	ck_assert_uint_eq(m.io.flags, orig.io.flags | FUSE_INIT_EXT);
	ck_assert_uint_eq(m.io.flags2, 1u << 9);
	ck_assert_uint_eq(((uint64_t)m.io.flags2 << 32) & (1ull << 41), 1ull << 41);
	ck_assert_uint_eq(m.io.max_write, orig.io.max_write); /* nothing else changes */

	m = orig; /* not offered: untouched */
	ck_assert_str_eq(uz_uring_init_patch(&m, sizeof(m), false, 1u << 20), "the kernel did not offer io_uring in INIT");
	ck_assert_mem_eq(&m, &orig, sizeof(m));
	m = orig; /* payload buffers smaller than max_write */
	ck_assert_ptr_nonnull(uz_uring_init_patch(&m, sizeof(m), true, 512u << 10));
	ck_assert_mem_eq(&m, &orig, sizeof(m));
	m = orig; /* ... or than max_pages pages */
	m.io.max_write = 4096;
	m.io.max_pages = 512;
	ck_assert_ptr_nonnull(uz_uring_init_patch(&m, sizeof(m), true, 1u << 20));
	ck_assert_uint_eq(m.io.flags2, 0);
	m = orig; /* an error reply, or one too short for flags2 */
	m.oh.error = -EPROTO;
	ck_assert_ptr_nonnull(uz_uring_init_patch(&m, sizeof(m), true, 1u << 20));
	ck_assert_uint_eq(m.io.flags2, 0);
	m = orig;
	ck_assert_ptr_nonnull(uz_uring_init_patch(&m, sizeof(m.oh) + 24, true, 1u << 20));
	ck_assert_mem_eq(&m, &orig, sizeof(m));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fuse");
	TCase *tc = uz_tcase(s, "io_uring requests", 0,
			     UZ_TESTS(getattr, write_then_read, the_end_of_the_file, setattr_open_statfs, fallocate_modes,
				      every_other_opcode, init_patch));

	tcase_add_checked_fixture(tc, setup, NULL);
	return uz_run_suite(s);
}
