/* daemon/stats.c - see stats.h. */
#include "stats.h"

#include <stdarg.h>
#include <stdio.h>

#include "../store/arena.h"

const char *const uz_mm_stat_keys[9] = {
	"orig_data_size", "compr_data_size", "mem_used_total", "mem_limit", "mem_used_max",
	"same_pages", "pages_compacted", "huge_pages", "huge_pages_since",
};

const char *const uz_bd_stat_keys[3] = { "bd_count", "bd_reads", "bd_writes" };

const char *const uz_io_stat_keys[4] = { "failed_reads", "failed_writes", "invalid_io", "notify_free" };

struct out {
	char *p;
	size_t left;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->p, o->left, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= o->left)
		n = (int)(o->left ? o->left - 1 : 0);
	o->p += n;
	o->left -= (size_t)n;
}

/* dictionary_ID_KEY lines for one slot (none when it is free); its
 * saved bytes extrapolated from the estimate's sample to its pages. */
static void put_dictionary(struct out *o, const struct uz_store_dict_stats *ds,
			   const struct uz_store_dict_estimate *e)
{
	unsigned long long id = (unsigned long long)ds->id;
	long long saved = 0;

	if (!ds->id)
		return;
	for (int k = 0; e && e->pages && k < UZ_STORE_DICTS; k++)
		if (e->ids[k] == ds->id)
			saved = (long long)(((double)e->plain_bytes - (double)e->dict_bytes[k]) / (double)e->pages *
					    (double)ds->pages);
	put(o, "dictionary_%llu_size %llu\n", id, (unsigned long long)ds->size);
	put(o, "dictionary_%llu_mem %llu\n", id, (unsigned long long)ds->mem);
	put(o, "dictionary_%llu_pages %llu\n", id, (unsigned long long)ds->pages);
	put(o, "dictionary_%llu_current %d\n", id, ds->current ? 1 : 0);
	put(o, "dictionary_%llu_saved_bytes %lld\n", id, saved);
}

void uz_stats_format(const struct uz_store_stats *s, const struct uz_stats_info *info, char *out,
		     size_t outlen)
{
	struct out o = { out, outlen };
	const unsigned long long mm[9] = {
		s->orig_data_size, s->compr_data_size, s->mem_used_total,
		s->mem_limit,      s->mem_used_max,    s->same_pages,
		s->pages_compacted, s->huge_pages,     s->huge_pages_since,
	};
	const unsigned long long io[4] = { s->failed_reads, s->failed_writes, s->invalid_io, s->notify_free };

	put(&o, "ok\n");
	put(&o, "name %s\n", info->name);
	put(&o, "version %s\n", UZ_VERSION); /* the running daemon's: uzramctl's may be newer */
	put(&o, "path %s\n", info->path);
	put(&o, "pid %d\n", (int)info->pid);
	put(&o, "algorithm %s\n", info->algorithm);
	put(&o, "config %s\n", info->config ? info->config : "");
	put(&o, "mount_point %s\n", info->mount_point ? info->mount_point : "");
	put(&o, "fs_type %s\n", info->fs_type ? info->fs_type : "");
	put(&o, "mount_options %s\n", info->mount_options ? info->mount_options : "");
	put(&o, "disksize %llu\n", (unsigned long long)s->disksize);
	put(&o, "transport %s\n", info->transport ? info->transport : "dev");
	put(&o, "io_uring_queues %u\n", info->io_uring_queues);
	put(&o, "io_uring_depth %u\n", info->io_uring_depth);
	put(&o, "streams %u\n", info->streams);
	put(&o, "ring_bytes %llu\n", info->ring_bytes);
	put(&o, "buffer_bytes %llu\n", info->buffer_bytes);
	for (int i = 0; i < 9; i++)
		put(&o, "%s %llu\n", uz_mm_stat_keys[i], mm[i]);
	for (int i = 0; i < 4; i++)
		put(&o, "%s %llu\n", uz_io_stat_keys[i], io[i]);
	put(&o, "idle_pages %llu\n", (unsigned long long)s->idle_pages);
	if (s->reserve) {
		put(&o, "reserve_bytes %llu\n", (unsigned long long)s->reserve_bytes);
		put(&o, "reserve_target %llu\n", (unsigned long long)s->reserve_target);
		put(&o, "reserve_misses %llu\n", (unsigned long long)s->reserve_misses);
		put(&o, "reserve_waits %llu\n", (unsigned long long)s->reserve_waits);
		put(&o, "reserve_wait_max_seconds %.6f\n", s->reserve_wait_max_ns / 1e9);
	}
	put(&o, "io_flusher %s\n", info->io_flusher ? "yes" : "no");
	if (info->swap) {
		put(&o, "swap_priority %d\n", info->swap_priority);
		put(&o, "swap_discard %s\n", info->swap_discard && info->swap_discard[0] ? info->swap_discard : "off");
	}
	if (s->recomp.algo == UZ_ALGO_LZ4) {
		put(&o, "recomp_algorithm off\n");
	} else {
		char algo[32];

		uz_codec_format(&s->recomp, algo, sizeof(algo));
		put(&o, "recomp_algorithm %s\n", algo);
	}
	put(&o, "recompress_after %llu\n", (unsigned long long)s->recompress_after_s);
	put(&o, "recomp_pages %llu\n", (unsigned long long)s->recomp_pages);
	put(&o, "recomp_saved_bytes %llu\n", (unsigned long long)s->recomp_saved_bytes);
	put(&o, "recomp_tried %llu\n", (unsigned long long)s->recomp_tried);
	put(&o, "dictionary %s\n", info->dictionary ? "auto" : "off");
	put(&o, "dict_training %d\n", info->dict_training ? 1 : 0);
	put(&o, "dict_bytes %llu\n", (unsigned long long)s->dict_bytes);
	put(&o, "dict_pages %llu\n", (unsigned long long)s->dict_pages);
	put(&o, "recomp_dict_pages %llu\n", (unsigned long long)s->recomp_dict_pages);
	put(&o, "dict_lz4_writes %llu\n", (unsigned long long)s->dict_lz4_writes);
	put(&o, "dict_lz4_probes %llu\n", (unsigned long long)s->dict_lz4_probes);
	put(&o, "dict_lz4_paying %d\n", s->dict_lz4_paying ? 1 : 0);
	for (int k = 0; k < UZ_STORE_DICTS; k++)
		put_dictionary(&o, &s->dicts[k], info->dict_estimate);
	for (int a = 0; a < UZ_ALGO_COUNT; a++) {
		put(&o, "%s_pages %llu\n", uz_algo_name((enum uz_algo)a), (unsigned long long)s->algo_pages[a]);
		put(&o, "%s_bytes %llu\n", uz_algo_name((enum uz_algo)a), (unsigned long long)s->algo_bytes[a]);
	}
	if (s->backing) {
		put(&o, "backing_file %s\n", info->backing_file ? info->backing_file : "");
		put(&o, "bd_count %llu\n", (unsigned long long)s->bd_count);
		put(&o, "bd_reads %llu\n", (unsigned long long)s->bd_reads);
		put(&o, "bd_writes %llu\n", (unsigned long long)s->bd_writes);
		put(&o, "writeback_pages %llu\n", (unsigned long long)s->wb_pages);
		put(&o, "writeback_reads %llu\n", (unsigned long long)s->wb_reads);
		put(&o, "backing_bytes %llu\n", (unsigned long long)s->backing_bytes);
		put(&o, "backing_objects %llu\n", (unsigned long long)s->backing_objects);
		put(&o, "backing_capacity %llu\n", (unsigned long long)s->backing_capacity);
		put(&o, "writeback_bytes %llu\n", (unsigned long long)s->writeback_bytes);
		put(&o, "failed_writeback %llu\n", (unsigned long long)s->failed_writeback);
		put(&o, "spills %llu\n", (unsigned long long)s->spills);
	}
	put(&o, "persist %s\n", info->persist ? info->persist : "");
	if (info->restored) {
		put(&o, "restored_pages %llu\n", (unsigned long long)info->restored->pages);
		put(&o, "restored_bytes %llu\n", (unsigned long long)info->restored->object_bytes);
		put(&o, "restore_seconds %.3f\n", info->restored->seconds);
		/* the snapshot restored is the last one written */
		put(&o, "last_snapshot_time %lld\n", (long long)info->restored->created);
		put(&o, "last_snapshot_bytes %llu\n", (unsigned long long)info->restored->file_bytes);
		put(&o, "last_snapshot_seconds %.3f\n", info->restored->snapshot_seconds);
	}
	put(&o, "arena_kind %s\n", uz_arena_kind_name(s->afm.kind));
	put(&o, "arenas %llu\n", (unsigned long long)s->afm.arenas);
	put(&o, "arenas_hugetlb %llu\n", (unsigned long long)s->afm.arenas_by_kind[UZ_ARENA_HUGETLB]);
	put(&o, "arenas_thp %llu\n", (unsigned long long)s->afm.arenas_by_kind[UZ_ARENA_THP]);
	put(&o, "arenas_plain %llu\n", (unsigned long long)s->afm.arenas_by_kind[UZ_ARENA_PLAIN]);
	if (s->hugetlb_pool_free >= 0)
		put(&o, "hugetlb_pool_free %lld\n", (long long)s->hugetlb_pool_free);
	put(&o, "engines %llu\n", (unsigned long long)s->engines);
	put(&o, "table_bytes %llu\n", (unsigned long long)s->table_bytes);
	put(&o, "metadata_bytes %llu\n", (unsigned long long)s->afm.metadata_bytes);
	put(&o, "objects %llu\n", (unsigned long long)s->afm.objects);
	put(&o, "rounding_bytes %llu\n", (unsigned long long)s->afm.rounding_bytes);
	put(&o, "free_chunk_bytes %llu\n", (unsigned long long)s->afm.free_chunk_bytes);
	put(&o, "free_page_bytes %llu\n", (unsigned long long)s->afm.free_page_bytes);
	put(&o, "stranded_bytes %llu\n", (unsigned long long)s->afm.stranded_bytes);
	put(&o, "released_bytes %llu\n", (unsigned long long)s->afm.released_bytes);
	put(&o, "ext_bytes %llu\n", (unsigned long long)s->afm.ext_bytes);
	put(&o, "compactions %llu\n", (unsigned long long)s->compactions);
	put(&o, "compaction_threshold_ppm %u\n", s->compact_ppm);
	for (int c = 0; c < AFM_NCLASS; c++) {
		const struct afm_class_stats *k = &s->afm.cls[c];

		put(&o, "chunks_%llu_used %llu\n", (unsigned long long)k->chunk_size, (unsigned long long)k->used);
		put(&o, "chunks_%llu_free %llu\n", (unsigned long long)k->chunk_size, (unsigned long long)k->free);
		put(&o, "chunks_%llu_pages %llu\n", (unsigned long long)k->chunk_size, (unsigned long long)k->pages);
	}
}
