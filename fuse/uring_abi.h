/* fuse/uring_abi.h - the FUSE-over-io_uring ABI of protocol 7.42 (Linux
 * 6.14+, include/uapi/linux/fuse.h), which Debian 12's <linux/fuse.h>
 * (7.38) lacks, and the two pieces of fuse/uring.c that need no kernel:
 * the request decoder and the INIT reply's patch (unit-tested). */
#ifndef UZ_FUSE_URING_ABI_H
#define UZ_FUSE_URING_ABI_H

#include <linux/fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uz_fuse;

/* FUSE_OVER_IO_URING is bit 41 of the INIT flags: bit 9 of flags2, which the
 * kernel reads only when flags has FUSE_INIT_EXT. */
#define UZ_URING_INIT_FLAGS2 (1u << 9)

enum { UZ_URING_CMD_REGISTER = 1, UZ_URING_CMD_COMMIT_AND_FETCH = 2 };

struct uz_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* the request's unique */
	uint32_t payload_sz; /* bytes of the payload that belong to the request (or the reply) */
	uint32_t padding;
	uint64_t reserved;
};

struct uz_uring_req_header {
	uint8_t in_out[128]; /* fuse_in_header on arrival, fuse_out_header in the reply */
	uint8_t op_in[128]; /* the op's first argument (fuse_read_in, fuse_write_in, ...) */
	struct uz_uring_ent_in_out ring_ent_in_out;
};

struct uz_uring_cmd_req { /* in sqe->cmd */
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};

_Static_assert(sizeof(struct uz_uring_ent_in_out) == 32, "fuse_uring_ent_in_out is 32 bytes");
_Static_assert(sizeof(struct uz_uring_req_header) == 288, "fuse_uring_req_header is 288 bytes");
_Static_assert(offsetof(struct uz_uring_req_header, ring_ent_in_out) == 256, "ring_ent_in_out at 256");
_Static_assert(sizeof(struct uz_uring_cmd_req) == 24, "fuse_uring_cmd_req is 24 bytes");
_Static_assert(sizeof(struct fuse_in_header) <= 128 && sizeof(struct fuse_write_in) <= 128 &&
		       sizeof(struct fuse_setattr_in) <= 128,
	       "headers fit their 128-byte slots");

/* Answers the request hdr holds, in hdr and payload themselves (payload_cap
 * bytes): READ decompresses straight into the payload, WRITE compresses
 * straight from it.  Writes fuse_out_header into in_out and the reply's
 * size into ring_ent_in_out.payload_sz.  Every opcode the file does not
 * serve gets ENOSYS, as from libfuse. */
void uz_uring_answer(struct uz_fuse *f, struct uz_uring_req_header *hdr, void *payload, size_t payload_cap);

/* libfuse 3.14 builds the INIT reply and knows no FUSE_OVER_IO_URING (3.18
 * does): this is the one place that sets it, on the reply's way out
 * (msg: fuse_out_header + fuse_init_out, len bytes), when the kernel
 * offered it and the queues' payload buffers (payload bytes each) hold the
 * connection's largest request.  Returns NULL when it set the flag, else
 * why not (msg unchanged). */
const char *uz_uring_init_patch(void *msg, size_t len, bool offered, size_t payload);

#endif
