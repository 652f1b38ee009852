// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memory merging support.
 *
 * This code enables dynamic sharing of identical pages found in different
 * memory areas, even if they are not shared by fork()
 *
 * Copyright (C) 2008-2009 Red Hat, Inc.
 * Authors:
 *	Izik Eidus
 *	Andrea Arcangeli
 *	Chris Wright
 *	Hugh Dickins
 */

#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/mm_inline.h>
#include <linux/fs.h>
#include <linux/mman.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/coredump.h>
#include <linux/sched/cputime.h>
#include <linux/rwsem.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/rmap.h>
#include <linux/spinlock.h>
#include <linux/xxhash.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/wait.h>
#include <linux/slab.h>
#include <linux/rbtree.h>
#include <linux/memory.h>
#include <linux/mmu_notifier.h>
#include <linux/swap.h>
#include <linux/ksm.h>
#include <linux/hashtable.h>
#include <linux/hugetlb.h>		/* hstate_vma(), in x86 flush_tlb_range() */
#include <linux/freezer.h>
#include <linux/oom.h>
#include <linux/numa.h>
#include <linux/pagewalk.h>
#include <linux/userfaultfd_k.h>

#include <asm/tlbflush.h>
#include "internal.h"
#include "mm_slot.h"

#define CREATE_TRACE_POINTS
#include <trace/events/ksm.h>

#ifdef CONFIG_NUMA
#define NUMA(x)		(x)
#define DO_NUMA(x)	do { (x); } while (0)
#else
#define NUMA(x)		(0)
#define DO_NUMA(x)	do { } while (0)
#endif

typedef u8 rmap_age_t;

/**
 * DOC: Overview
 *
 * A few notes about the KSM scanning process,
 * to make it easier to understand the data structures below:
 *
 * In order to reduce excessive scanning, KSM sorts the memory pages by their
 * contents into a data structure that holds pointers to the pages' locations.
 *
 * Since the contents of the pages may change at any moment, KSM cannot just
 * insert the pages into a normal sorted tree and expect it to find anything.
 * Therefore KSM uses two data structures - the stable and the unstable tree.
 *
 * The stable tree holds pointers to all the merged pages (ksm pages), sorted
 * by their contents.  Because each such page is write-protected, searching on
 * this tree is fully assured to be working (except when pages are unmapped),
 * and therefore this tree is called the stable tree.
 *
 * The stable tree node includes information required for reverse
 * mapping from a KSM page to virtual addresses that map this page.
 *
 * In order to avoid large latencies of the rmap walks on KSM pages,
 * KSM maintains two types of nodes in the stable tree:
 *
 * * the regular nodes that keep the reverse mapping structures in a
 *   linked list
 * * the "chains" that link nodes ("dups") that represent the same
 *   write protected memory content, but each "dup" corresponds to a
 *   different KSM page copy of that content
 *
 * Internally, the regular nodes, "dups" and "chains" are represented
 * using the same struct ksm_stable_node structure.
 *
 * In addition to the stable tree, KSM uses a second data structure called the
 * unstable tree: this tree holds pointers to pages which have been found to
 * be "unchanged for a period of time".  The unstable tree sorts these pages
 * by their contents, but since they are not write-protected, KSM cannot rely
 * upon the unstable tree to work correctly - the unstable tree is liable to
 * be corrupted as its contents are modified, and so it is called unstable.
 *
 * KSM solves this problem by several techniques:
 *
 * 1) The unstable tree is flushed every time KSM completes scanning all
 *    memory areas, and then the tree is rebuilt again from the beginning.
 * 2) KSM will only insert into the unstable tree, pages whose hash value
 *    has not changed since the previous scan of all memory areas.
 * 3) The unstable tree is a RedBlack Tree - so its balancing is based on the
 *    colors of the nodes and not on their contents, assuring that even when
 *    the tree gets "corrupted" it won't get out of balance, so scanning time
 *    remains the same (also, searching and inserting nodes in an rbtree uses
 *    the same algorithm, so we have no overhead when we flush and rebuild).
 * 4) KSM never flushes the stable tree, which means that even if it were to
 *    take 10 attempts to find a page in the unstable tree, once it is found,
 *    it is secured in the stable tree.  (When we scan a new page, we first
 *    compare it against the stable tree, and then against the unstable tree.)
 *
 * If the merge_across_nodes tunable is unset, then KSM maintains multiple
 * stable trees and multiple unstable trees: one of each for each NUMA node.
 */

/**
 * struct ksm_mm_slot - ksm information per mm that is being scanned
 * @slot: hash lookup from mm to mm_slot
 * @rmap_list: head for this mm_slot's singly-linked list of rmap_items
 */
struct ksm_mm_slot {
	struct mm_slot slot;
	struct ksm_rmap_item *rmap_list;
};

/**
 * struct ksm_scan - cursor for scanning
 * @mm_slot: the current mm_slot we are scanning
 * @address: the next address inside that to be scanned
 * @rmap_list: link to the next rmap to be scanned in the rmap_list
 * @seqnr: count of completed full scans (needed when removing unstable node)
 *
 * There is only the one ksm_scan instance of this cursor structure.
 */
struct ksm_scan {
	struct ksm_mm_slot *mm_slot;
	unsigned long address;
	struct ksm_rmap_item **rmap_list;
	unsigned long seqnr;
};

/**
 * struct ksm_stable_node - node of the stable rbtree
 * @node: rb node of this ksm page in the stable tree
 * @head: (overlaying parent) &migrate_nodes indicates temporarily on that list
 * @hlist_dup: linked into the stable_node->hlist with a stable_node chain
 * @list: linked into migrate_nodes, pending placement in the proper node tree
 * @hlist: hlist head of rmap_items using this ksm page
 * @kpfn: page frame number of this ksm page (perhaps temporarily on wrong nid)
 * @chain_prune_time: time of the last full garbage collection
 * @rmap_hlist_len: number of rmap_item entries in hlist or STABLE_NODE_CHAIN
 * @nid: NUMA node id of stable tree in which linked (may not match kpfn)
 */
struct ksm_stable_node {
	union {
		struct rb_node node;	/* when node of stable tree */
		struct {		/* when listed for migration */
			struct list_head *head;
			struct {
				struct hlist_node hlist_dup;
				struct list_head list;
			};
		};
	};
	struct hlist_head hlist;
	union {
		unsigned long kpfn;
		unsigned long chain_prune_time;
	};
	/*
	 * STABLE_NODE_CHAIN can be any negative number in
	 * rmap_hlist_len negative range, but better not -1 to be able
	 * to reliably detect underflows.
	 */
#define STABLE_NODE_CHAIN -1024
	int rmap_hlist_len;
#ifdef CONFIG_NUMA
	int nid;
#endif
};

/**
 * struct ksm_rmap_item - reverse mapping item for virtual addresses
 * @rmap_list: next rmap_item in mm_slot's singly-linked rmap_list
 * @anon_vma: pointer to anon_vma for this mm,address, when in stable tree
 * @nid: NUMA node id of unstable tree in which linked (may not match page)
 * @mm: the memory structure this rmap_item is pointing into
 * @address: the virtual address this rmap_item tracks (+ flags in low bits)
 * @oldchecksum: previous checksum of the page at that virtual address
 * @node: rb node of this rmap_item in the unstable tree
 * @head: pointer to stable_node heading this list in the stable tree
 * @hlist: link into hlist of rmap_items hanging off that stable_node
 * @age: number of scan iterations since creation
 * @remaining_skips: how many scans to skip
 * @zero_age: number of consecutive scans that found the page zero-filled
 */
struct ksm_rmap_item {
	struct ksm_rmap_item *rmap_list;
	union {
		struct anon_vma *anon_vma;	/* when stable */
#ifdef CONFIG_NUMA
		int nid;		/* when node of unstable tree */
#endif
	};
	struct mm_struct *mm;
	unsigned long address;		/* + low bits used for flags below */
	unsigned int oldchecksum;	/* when unstable */
	rmap_age_t age;
	rmap_age_t remaining_skips;
	rmap_age_t zero_age;
	union {
		struct rb_node node;	/* when node of unstable tree */
		struct {		/* when listed from stable tree */
			struct ksm_stable_node *head;
			struct hlist_node hlist;
		};
	};
};

#define SEQNR_MASK	0x0ff	/* low bits of unstable tree seqnr */
#define UNSTABLE_FLAG	0x100	/* is a node of the unstable tree */
#define STABLE_FLAG	0x200	/* is listed from the stable tree */

/* The stable and unstable tree heads */
static struct rb_root one_stable_tree[1] = { RB_ROOT };
static struct rb_root one_unstable_tree[1] = { RB_ROOT };
static struct rb_root *root_stable_tree = one_stable_tree;
static struct rb_root *root_unstable_tree = one_unstable_tree;

/* Recently migrated nodes of stable tree, pending proper placement */
static LIST_HEAD(migrate_nodes);
#define STABLE_NODE_DUP_HEAD ((struct list_head *)&migrate_nodes.prev)

#define MM_SLOTS_HASH_BITS 10
static DEFINE_HASHTABLE(mm_slots_hash, MM_SLOTS_HASH_BITS);

static struct ksm_mm_slot ksm_mm_head = {
	.slot.mm_node = LIST_HEAD_INIT(ksm_mm_head.slot.mm_node),
};
static struct ksm_scan ksm_scan = {
	.mm_slot = &ksm_mm_head,
};

static struct kmem_cache *rmap_item_cache;
static struct kmem_cache *stable_node_cache;
static struct kmem_cache *mm_slot_cache;

/* Default number of pages to scan per batch */
#define DEFAULT_PAGES_TO_SCAN 100

/* The number of pages scanned: written by ksmd, read by sysfs without a lock */
static unsigned long ksm_pages_scanned;

/* The number of nodes in the stable tree */
static unsigned long ksm_pages_shared;

/* The number of page slots additionally sharing those nodes */
static unsigned long ksm_pages_sharing;

/* The number of nodes in the unstable tree */
static unsigned long ksm_pages_unshared;

/* The number of rmap_items in use: to calculate pages_volatile */
static unsigned long ksm_rmap_items;

/* The number of stable_node chains */
static unsigned long ksm_stable_node_chains;

/* The number of stable_node dups linked to the stable_node chains */
static unsigned long ksm_stable_node_dups;

/* Delay in pruning stale stable_node_dups in the stable_node_chains */
static unsigned int ksm_stable_node_chains_prune_millisecs = 2000;

/* Maximum number of page slots sharing a stable node */
static int ksm_max_page_sharing = 256;

/* Number of pages ksmd should scan in one batch */
static unsigned int ksm_thread_pages_to_scan = DEFAULT_PAGES_TO_SCAN;

/* Milliseconds ksmd should sleep between batches */
static unsigned int ksm_thread_sleep_millisecs = 20;

/* Checksum of an empty (zeroed) page */
static unsigned int zero_checksum __read_mostly;

/* Whether to merge empty (zeroed) pages with actual zero pages */
static bool ksm_use_zero_pages __read_mostly;

/*
 * Number of earlier scans in which a page must already have been seen
 * zero-filled before it is merged with the zero page: 0 merges at first
 * sight, 1 is the behaviour before this knob existed.
 */
static unsigned int ksm_zero_pages_min_age __read_mostly;

/*
 * The number of pages replaced by the zero page since boot: only ksmd
 * merges, under ksm_thread_mutex, and sysfs reads without a lock, hence
 * WRITE_ONCE() and READ_ONCE().
 */
static unsigned long ksm_zero_pages_merged;

static void ksm_count_zero_merged(unsigned long nr)
{
	WRITE_ONCE(ksm_zero_pages_merged, ksm_zero_pages_merged + nr);
}

#ifdef CONFIG_KSM_ZERO_PAGES_ALL
/*
 * Whether ksmd also maps zero pages into memory never registered with it
 * (zero_pages_scope "all"); see "Zero pages in memory not registered".
 */
static bool ksm_zero_pages_all __read_mostly;

static bool ksm_zero_scope_all(void)
{
	return READ_ONCE(ksm_zero_pages_all);
}
#else
static bool ksm_zero_scope_all(void)
{
	return false;
}
#endif

/*
 * Milliseconds in which the refresh pass re-checks the whole unstable tree
 * once, 0 when it is off (see "Refreshing the unstable tree").
 */
static unsigned int ksm_unstable_refresh_millisecs;
#define UNSTABLE_REFRESH_MIN_MSECS	100
#define UNSTABLE_REFRESH_MAX_MSECS	3600000

/*
 * Unstable tree items re-checked, and dropped because their page changed
 * or went away, since boot: updated by ksmd under ksm_thread_mutex.
 */
static unsigned long ksm_unstable_refreshed;
static unsigned long ksm_unstable_refresh_dropped;

/* Skip pages that couldn't be de-duplicated previously */
/* Default to true at least temporarily, for testing */
static bool ksm_smart_scan = true;

/* The number of zero pages which is placed by KSM */
atomic_long_t ksm_zero_pages = ATOMIC_LONG_INIT(0);

/* The number of pages that have been skipped due to "smart scanning" */
static unsigned long ksm_pages_skipped;

/* Don't scan more than max pages per batch. */
static unsigned long ksm_advisor_max_pages_to_scan = 30000;

/* Min CPU for scanning pages per scan */
#define KSM_ADVISOR_MIN_CPU 10

/* Max CPU for scanning pages per scan */
static unsigned int ksm_advisor_max_cpu =  70;

/* Target scan time in seconds to analyze all KSM candidate pages. */
static unsigned long ksm_advisor_target_scan_time = 200;

/* Exponentially weighted moving average. */
#define EWMA_WEIGHT 30

/**
 * struct advisor_ctx - metadata for KSM advisor
 * @start_scan: start time of the current scan
 * @scan_time: scan time of previous scan
 * @change: change in percent to pages_to_scan parameter
 * @cpu_time: cpu time consumed by the ksmd thread in the previous scan
 */
struct advisor_ctx {
	ktime_t start_scan;
	unsigned long scan_time;
	unsigned long change;
	unsigned long long cpu_time;
};
static struct advisor_ctx advisor_ctx;

/* Define different advisor's */
enum ksm_advisor_type {
	KSM_ADVISOR_NONE,
	KSM_ADVISOR_SCAN_TIME,
};
static enum ksm_advisor_type ksm_advisor;

#ifdef CONFIG_SYSFS
/*
 * Only called through the sysfs control interface:
 */

/* At least scan this many pages per batch. */
static unsigned long ksm_advisor_min_pages_to_scan = 500;

static void set_advisor_defaults(void)
{
	if (ksm_advisor == KSM_ADVISOR_NONE) {
		ksm_thread_pages_to_scan = DEFAULT_PAGES_TO_SCAN;
	} else if (ksm_advisor == KSM_ADVISOR_SCAN_TIME) {
		advisor_ctx = (const struct advisor_ctx){ 0 };
		ksm_thread_pages_to_scan = ksm_advisor_min_pages_to_scan;
	}
}
#endif /* CONFIG_SYSFS */

static inline void advisor_start_scan(void)
{
	if (ksm_advisor == KSM_ADVISOR_SCAN_TIME)
		advisor_ctx.start_scan = ktime_get();
}

/*
 * Use previous scan time if available, otherwise use current scan time as an
 * approximation for the previous scan time.
 */
static inline unsigned long prev_scan_time(struct advisor_ctx *ctx,
					   unsigned long scan_time)
{
	return ctx->scan_time ? ctx->scan_time : scan_time;
}

/* Calculate exponential weighted moving average */
static unsigned long ewma(unsigned long prev, unsigned long curr)
{
	return ((100 - EWMA_WEIGHT) * prev + EWMA_WEIGHT * curr) / 100;
}

/*
 * The scan time advisor is based on the current scan rate and the target
 * scan rate.
 *
 *      new_pages_to_scan = pages_to_scan * (scan_time / target_scan_time)
 *
 * To avoid perturbations it calculates a change factor of previous changes.
 * A new change factor is calculated for each iteration and it uses an
 * exponentially weighted moving average. The new pages_to_scan value is
 * multiplied with that change factor:
 *
 *      new_pages_to_scan *= change facor
 *
 * The new_pages_to_scan value is limited by the cpu min and max values. It
 * calculates the cpu percent for the last scan and calculates the new
 * estimated cpu percent cost for the next scan. That value is capped by the
 * cpu min and max setting.
 *
 * In addition the new pages_to_scan value is capped by the max and min
 * limits.
 */
static void scan_time_advisor(void)
{
	unsigned int cpu_percent;
	unsigned long cpu_time;
	unsigned long cpu_time_diff;
	unsigned long cpu_time_diff_ms;
	unsigned long pages;
	unsigned long per_page_cost;
	unsigned long factor;
	unsigned long change;
	unsigned long last_scan_time;
	unsigned long scan_time;

	/* Convert scan time to seconds */
	scan_time = div_s64(ktime_ms_delta(ktime_get(), advisor_ctx.start_scan),
			    MSEC_PER_SEC);
	scan_time = scan_time ? scan_time : 1;

	/* Calculate CPU consumption of ksmd background thread */
	cpu_time = task_sched_runtime(current);
	cpu_time_diff = cpu_time - advisor_ctx.cpu_time;
	cpu_time_diff_ms = cpu_time_diff / 1000 / 1000;

	cpu_percent = (cpu_time_diff_ms * 100) / (scan_time * 1000);
	cpu_percent = cpu_percent ? cpu_percent : 1;
	last_scan_time = prev_scan_time(&advisor_ctx, scan_time);

	/* Calculate scan time as percentage of target scan time */
	factor = ksm_advisor_target_scan_time * 100 / scan_time;
	factor = factor ? factor : 1;

	/*
	 * Calculate scan time as percentage of last scan time and use
	 * exponentially weighted average to smooth it
	 */
	change = scan_time * 100 / last_scan_time;
	change = change ? change : 1;
	change = ewma(advisor_ctx.change, change);

	/* Calculate new scan rate based on target scan rate. */
	pages = ksm_thread_pages_to_scan * 100 / factor;
	/* Update pages_to_scan by weighted change percentage. */
	pages = pages * change / 100;

	/* Cap new pages_to_scan value */
	per_page_cost = ksm_thread_pages_to_scan / cpu_percent;
	per_page_cost = per_page_cost ? per_page_cost : 1;

	pages = min(pages, per_page_cost * ksm_advisor_max_cpu);
	pages = max(pages, per_page_cost * KSM_ADVISOR_MIN_CPU);
	pages = min(pages, ksm_advisor_max_pages_to_scan);

	/* Update advisor context */
	advisor_ctx.change = change;
	advisor_ctx.scan_time = scan_time;
	advisor_ctx.cpu_time = cpu_time;

	ksm_thread_pages_to_scan = pages;
	trace_ksm_advisor(scan_time, pages, cpu_percent);
}

static void advisor_stop_scan(void)
{
	if (ksm_advisor == KSM_ADVISOR_SCAN_TIME)
		scan_time_advisor();
}

#ifdef CONFIG_NUMA
/* Zeroed when merging across nodes is not allowed */
static unsigned int ksm_merge_across_nodes = 1;
/* Number of allocated stable and unstable tree roots. */
static int ksm_nr_node_ids = 1;
#else
#define ksm_merge_across_nodes	1U
#define ksm_nr_node_ids		1
#endif

#define KSM_RUN_STOP	0
#define KSM_RUN_MERGE	1
#define KSM_RUN_UNMERGE	2
#define KSM_RUN_OFFLINE	4
static unsigned long ksm_run = KSM_RUN_STOP;
static void wait_while_offlining(void);

static DECLARE_WAIT_QUEUE_HEAD(ksm_thread_wait);
static DECLARE_WAIT_QUEUE_HEAD(ksm_iter_wait);
static DEFINE_MUTEX(ksm_thread_mutex);
static DEFINE_SPINLOCK(ksm_mmlist_lock);

static int __init ksm_slab_init(void)
{
	rmap_item_cache = KMEM_CACHE(ksm_rmap_item, 0);
	if (!rmap_item_cache)
		goto out;

	stable_node_cache = KMEM_CACHE(ksm_stable_node, 0);
	if (!stable_node_cache)
		goto out_free1;

	mm_slot_cache = KMEM_CACHE(ksm_mm_slot, 0);
	if (!mm_slot_cache)
		goto out_free2;

	return 0;

out_free2:
	kmem_cache_destroy(stable_node_cache);
out_free1:
	kmem_cache_destroy(rmap_item_cache);
out:
	return -ENOMEM;
}

static void __init ksm_slab_free(void)
{
	kmem_cache_destroy(mm_slot_cache);
	kmem_cache_destroy(stable_node_cache);
	kmem_cache_destroy(rmap_item_cache);
	mm_slot_cache = NULL;
}

static __always_inline bool is_stable_node_chain(struct ksm_stable_node *chain)
{
	return chain->rmap_hlist_len == STABLE_NODE_CHAIN;
}

static __always_inline bool is_stable_node_dup(struct ksm_stable_node *dup)
{
	return dup->head == STABLE_NODE_DUP_HEAD;
}

static inline void stable_node_chain_add_dup(struct ksm_stable_node *dup,
					     struct ksm_stable_node *chain)
{
	VM_BUG_ON(is_stable_node_dup(dup));
	dup->head = STABLE_NODE_DUP_HEAD;
	VM_BUG_ON(!is_stable_node_chain(chain));
	hlist_add_head(&dup->hlist_dup, &chain->hlist);
	ksm_stable_node_dups++;
}

static inline void __stable_node_dup_del(struct ksm_stable_node *dup)
{
	VM_BUG_ON(!is_stable_node_dup(dup));
	hlist_del(&dup->hlist_dup);
	ksm_stable_node_dups--;
}

static inline void stable_node_dup_del(struct ksm_stable_node *dup)
{
	VM_BUG_ON(is_stable_node_chain(dup));
	if (is_stable_node_dup(dup))
		__stable_node_dup_del(dup);
	else
		rb_erase(&dup->node, root_stable_tree + NUMA(dup->nid));
#ifdef CONFIG_DEBUG_VM
	dup->head = NULL;
#endif
}

static inline struct ksm_rmap_item *alloc_rmap_item(void)
{
	struct ksm_rmap_item *rmap_item;

	rmap_item = kmem_cache_zalloc(rmap_item_cache, GFP_KERNEL |
						__GFP_NORETRY | __GFP_NOWARN);
	if (rmap_item)
		ksm_rmap_items++;
	return rmap_item;
}

static inline void free_rmap_item(struct ksm_rmap_item *rmap_item)
{
	ksm_rmap_items--;
	rmap_item->mm->ksm_rmap_items--;
	rmap_item->mm = NULL;	/* debug safety */
	kmem_cache_free(rmap_item_cache, rmap_item);
}

static inline struct ksm_stable_node *alloc_stable_node(void)
{
	/*
	 * The allocation can take too long with GFP_KERNEL when memory is under
	 * pressure, which may lead to hung task warnings.  Adding __GFP_HIGH
	 * grants access to memory reserves, helping to avoid this problem.
	 */
	return kmem_cache_alloc(stable_node_cache, GFP_KERNEL | __GFP_HIGH);
}

static inline void free_stable_node(struct ksm_stable_node *stable_node)
{
	VM_BUG_ON(stable_node->rmap_hlist_len &&
		  !is_stable_node_chain(stable_node));
	kmem_cache_free(stable_node_cache, stable_node);
}

/*
 * ksmd, and unmerge_and_remove_all_rmap_items(), must not touch an mm's
 * page tables after it has passed through ksm_exit() - which, if necessary,
 * takes mmap_lock briefly to serialize against them.  ksm_exit() does not set
 * a special flag: they can just back out as soon as mm_users goes to zero.
 * ksm_test_exit() is used throughout to make this test for exit: in some
 * places for correctness, in some places just to avoid unnecessary work.
 */
static inline bool ksm_test_exit(struct mm_struct *mm)
{
	return atomic_read(&mm->mm_users) == 0;
}

/*
 * We use break_ksm to break COW on a ksm page by triggering unsharing,
 * such that the ksm page will get replaced by an exclusive anonymous page.
 *
 * We take great care only to touch a ksm page, in a VM_MERGEABLE vma,
 * in case the application has unmapped and remapped mm,addr meanwhile.
 * Could a ksm page appear anywhere else?  Actually yes, in a VM_PFNMAP
 * mmap of /dev/mem, where we would not want to touch it.
 *
 * FAULT_FLAG_REMOTE/FOLL_REMOTE are because we do this outside the context
 * of the process that owns 'vma'.  We also do not want to enforce
 * protection keys here anyway.
 */
static int break_ksm(struct vm_area_struct *vma, unsigned long addr, bool lock_vma)
{
	vm_fault_t ret = 0;

	if (lock_vma)
		vma_start_write(vma);

	do {
		bool ksm_page = false;
		struct folio_walk fw;
		struct folio *folio;

		cond_resched();
		folio = folio_walk_start(&fw, vma, addr,
					 FW_MIGRATION | FW_ZEROPAGE);
		if (folio) {
			/* Small folio implies FW_LEVEL_PTE. */
			if (!folio_test_large(folio) &&
			    (folio_test_ksm(folio) || is_ksm_zero_pte(fw.pte)))
				ksm_page = true;
			/*
			 * The unshare fault splits KSM's huge zero page into
			 * KSM zero pages, and unshares the one at @addr.
			 */
			else if (fw.level == FW_LEVEL_PMD &&
				 is_ksm_zero_pmd(fw.pmd))
				ksm_page = true;
			folio_walk_end(&fw, vma);
		}

		if (!ksm_page)
			return 0;
		ret = handle_mm_fault(vma, addr,
				      FAULT_FLAG_UNSHARE | FAULT_FLAG_REMOTE,
				      NULL);
	} while (!(ret & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_OOM |
			  VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE)));
	/*
	 * We must loop until we no longer find a KSM page because
	 * handle_mm_fault() may back out if there's any difficulty e.g. if
	 * pte accessed bit gets updated concurrently.
	 *
	 * VM_FAULT_SIGBUS could occur if we race with truncation of the
	 * backing file, which also invalidates anonymous pages: that's
	 * okay, that truncation will have unmapped the PageKsm for us.
	 *
	 * VM_FAULT_HWPOISON: the KSM page has a memory error, and the copy of
	 * the unshare fault cannot read it; trying again would loop for as
	 * long as the page stays mapped. memory_failure() unmaps it.
	 *
	 * VM_FAULT_OOM: at the time of writing (late July 2009), setting
	 * aside mem_cgroup limits, VM_FAULT_OOM would only be set if the
	 * current task has TIF_MEMDIE set, and will be OOM killed on return
	 * to user; and ksmd, having no mm, would never be chosen for that.
	 *
	 * But if the mm is in a limited mem_cgroup, then the fault may fail
	 * with VM_FAULT_OOM even if the current task is not TIF_MEMDIE; and
	 * even ksmd can fail in this way - though it's usually breaking ksm
	 * just to undo a merge it made a moment before, so unlikely to oom.
	 *
	 * That's a pity: we might therefore have more kernel pages allocated
	 * than we're counting as nodes in the stable tree; but ksm_do_scan
	 * will retry to break_cow on each pass, so should recover the page
	 * in due course.  The important thing is to not let VM_MERGEABLE
	 * be cleared while any such pages might remain in the area.
	 */
	return (ret & VM_FAULT_OOM) ? -ENOMEM : 0;
}

static bool vma_ksm_compatible(struct vm_area_struct *vma)
{
	if (vma->vm_flags & (VM_SHARED  | VM_MAYSHARE   | VM_PFNMAP  |
			     VM_IO      | VM_DONTEXPAND | VM_HUGETLB |
			     VM_MIXEDMAP| VM_DROPPABLE))
		return false;		/* just ignore the advice */

	if (vma_is_dax(vma))
		return false;

#ifdef VM_SAO
	if (vma->vm_flags & VM_SAO)
		return false;
#endif
#ifdef VM_SPARC_ADI
	if (vma->vm_flags & VM_SPARC_ADI)
		return false;
#endif

	return true;
}

static struct vm_area_struct *find_mergeable_vma(struct mm_struct *mm,
		unsigned long addr)
{
	struct vm_area_struct *vma;
	if (ksm_test_exit(mm))
		return NULL;
	vma = vma_lookup(mm, addr);
	if (!vma || !(vma->vm_flags & VM_MERGEABLE) || !vma->anon_vma)
		return NULL;
	return vma;
}

static void break_cow(struct ksm_rmap_item *rmap_item)
{
	struct mm_struct *mm = rmap_item->mm;
	unsigned long addr = rmap_item->address;
	struct vm_area_struct *vma;

	/*
	 * It is not an accident that whenever we want to break COW
	 * to undo, we also need to drop a reference to the anon_vma.
	 */
	put_anon_vma(rmap_item->anon_vma);

	mmap_read_lock(mm);
	vma = find_mergeable_vma(mm, addr);
	if (vma)
		break_ksm(vma, addr, false);
	mmap_read_unlock(mm);
}

/*
 * ksm_page_poisoned - @page, or the large @folio that holds it, has a memory
 * error
 *
 * memory_failure() unmaps a poisoned page where it can; where it cannot (a
 * page it could not isolate, a THP it could not split), the page stays
 * mapped, and reading it in kernel mode is a machine check. The paths of
 * KSM that read a page they found mapped ask first (the scan, the zero
 * paths, the unstable tree): zero_pages_scope "all" would otherwise read
 * the pages of every process. A page that is already a KSM page is not
 * read by the scan: it keeps its place in the stable tree.
 */
static bool ksm_page_poisoned(struct folio *folio, struct page *page)
{
	return PageHWPoison(page) || folio_contain_hwpoisoned_page(folio);
}

/* get_mergeable_page() for a caller that holds the mmap_lock of the mm */
static struct page *__get_mergeable_page(struct ksm_rmap_item *rmap_item)
{
	struct mm_struct *mm = rmap_item->mm;
	unsigned long addr = rmap_item->address;
	struct vm_area_struct *vma;
	struct page *page = NULL;
	struct folio_walk fw;
	struct folio *folio;

	vma = find_mergeable_vma(mm, addr);
	if (!vma)
		goto out;

	folio = folio_walk_start(&fw, vma, addr, 0);
	if (folio) {
		if (!folio_is_zone_device(folio) &&
		    folio_test_anon(folio) &&
		    !ksm_page_poisoned(folio, fw.page)) {
			folio_get(folio);
			page = fw.page;
		}
		folio_walk_end(&fw, vma);
	}
out:
	if (page) {
		flush_anon_page(vma, page, addr);
		flush_dcache_page(page);
	}
	return page;
}

static struct page *get_mergeable_page(struct ksm_rmap_item *rmap_item)
{
	struct mm_struct *mm = rmap_item->mm;
	struct page *page;

	mmap_read_lock(mm);
	page = __get_mergeable_page(rmap_item);
	mmap_read_unlock(mm);
	return page;
}

/*
 * This helper is used for getting right index into array of tree roots.
 * When merge_across_nodes knob is set to 1, there are only two rb-trees for
 * stable and unstable pages from all nodes with roots in index 0. Otherwise,
 * every node has its own stable and unstable tree.
 */
static inline int get_kpfn_nid(unsigned long kpfn)
{
	return ksm_merge_across_nodes ? 0 : NUMA(pfn_to_nid(kpfn));
}

static struct ksm_stable_node *alloc_stable_node_chain(struct ksm_stable_node *dup,
						   struct rb_root *root)
{
	struct ksm_stable_node *chain = alloc_stable_node();
	VM_BUG_ON(is_stable_node_chain(dup));
	if (likely(chain)) {
		INIT_HLIST_HEAD(&chain->hlist);
		chain->chain_prune_time = jiffies;
		chain->rmap_hlist_len = STABLE_NODE_CHAIN;
#if defined (CONFIG_DEBUG_VM) && defined(CONFIG_NUMA)
		chain->nid = NUMA_NO_NODE; /* debug */
#endif
		ksm_stable_node_chains++;

		/*
		 * Put the stable node chain in the first dimension of
		 * the stable tree and at the same time remove the old
		 * stable node.
		 */
		rb_replace_node(&dup->node, &chain->node, root);

		/*
		 * Move the old stable node to the second dimension
		 * queued in the hlist_dup. The invariant is that all
		 * dup stable_nodes in the chain->hlist point to pages
		 * that are write protected and have the exact same
		 * content.
		 */
		stable_node_chain_add_dup(dup, chain);
	}
	return chain;
}

static inline void free_stable_node_chain(struct ksm_stable_node *chain,
					  struct rb_root *root)
{
	rb_erase(&chain->node, root);
	free_stable_node(chain);
	ksm_stable_node_chains--;
}

static void remove_node_from_stable_tree(struct ksm_stable_node *stable_node)
{
	struct ksm_rmap_item *rmap_item;

	/* check it's not STABLE_NODE_CHAIN or negative */
	BUG_ON(stable_node->rmap_hlist_len < 0);

	hlist_for_each_entry(rmap_item, &stable_node->hlist, hlist) {
		if (rmap_item->hlist.next) {
			ksm_pages_sharing--;
			trace_ksm_remove_rmap_item(stable_node->kpfn, rmap_item, rmap_item->mm);
		} else {
			ksm_pages_shared--;
		}

		rmap_item->mm->ksm_merging_pages--;

		VM_BUG_ON(stable_node->rmap_hlist_len <= 0);
		stable_node->rmap_hlist_len--;
		put_anon_vma(rmap_item->anon_vma);
		rmap_item->address &= PAGE_MASK;
		cond_resched();
	}

	/*
	 * We need the second aligned pointer of the migrate_nodes
	 * list_head to stay clear from the rb_parent_color union
	 * (aligned and different than any node) and also different
	 * from &migrate_nodes. This will verify that future list.h changes
	 * don't break STABLE_NODE_DUP_HEAD. Only recent gcc can handle it.
	 */
	BUILD_BUG_ON(STABLE_NODE_DUP_HEAD <= &migrate_nodes);
	BUILD_BUG_ON(STABLE_NODE_DUP_HEAD >= &migrate_nodes + 1);

	trace_ksm_remove_ksm_page(stable_node->kpfn);
	if (stable_node->head == &migrate_nodes)
		list_del(&stable_node->list);
	else
		stable_node_dup_del(stable_node);
	free_stable_node(stable_node);
}

enum ksm_get_folio_flags {
	KSM_GET_FOLIO_NOLOCK,
	KSM_GET_FOLIO_LOCK,
	KSM_GET_FOLIO_TRYLOCK
};

/*
 * ksm_get_folio: checks if the page indicated by the stable node
 * is still its ksm page, despite having held no reference to it.
 * In which case we can trust the content of the page, and it
 * returns the gotten page; but if the page has now been zapped,
 * remove the stale node from the stable tree and return NULL.
 * But beware, the stable node's page might be being migrated.
 *
 * You would expect the stable_node to hold a reference to the ksm page.
 * But if it increments the page's count, swapping out has to wait for
 * ksmd to come around again before it can free the page, which may take
 * seconds or even minutes: much too unresponsive.  So instead we use a
 * "keyhole reference": access to the ksm page from the stable node peeps
 * out through its keyhole to see if that page still holds the right key,
 * pointing back to this stable node.  This relies on freeing a PageAnon
 * page to reset its page->mapping to NULL, and relies on no other use of
 * a page to put something that might look like our key in page->mapping.
 * is on its way to being freed; but it is an anomaly to bear in mind.
 */
static struct folio *ksm_get_folio(struct ksm_stable_node *stable_node,
				 enum ksm_get_folio_flags flags)
{
	struct folio *folio;
	void *expected_mapping;
	unsigned long kpfn;

	expected_mapping = (void *)((unsigned long)stable_node |
					PAGE_MAPPING_KSM);
again:
	kpfn = READ_ONCE(stable_node->kpfn); /* Address dependency. */
	folio = pfn_folio(kpfn);
	if (READ_ONCE(folio->mapping) != expected_mapping)
		goto stale;

	/*
	 * We cannot do anything with the page while its refcount is 0.
	 * Usually 0 means free, or tail of a higher-order page: in which
	 * case this node is no longer referenced, and should be freed;
	 * however, it might mean that the page is under page_ref_freeze().
	 * The __remove_mapping() case is easy, again the node is now stale;
	 * the same is in reuse_ksm_page() case; but if page is swapcache
	 * in folio_migrate_mapping(), it might still be our page,
	 * in which case it's essential to keep the node.
	 */
	while (!folio_try_get(folio)) {
		/*
		 * Another check for folio->mapping != expected_mapping
		 * would work here too.  We have chosen to test the
		 * swapcache flag to optimize the common case, when the
		 * folio is or is about to be freed: the swapcache flag
		 * is cleared (under spin_lock_irq) in the ref_freeze
		 * section of __remove_mapping(); but anon folio->mapping
		 * is reset to NULL later, in free_pages_prepare().
		 */
		if (!folio_test_swapcache(folio))
			goto stale;
		cpu_relax();
	}

	if (READ_ONCE(folio->mapping) != expected_mapping) {
		folio_put(folio);
		goto stale;
	}

	if (flags == KSM_GET_FOLIO_TRYLOCK) {
		if (!folio_trylock(folio)) {
			folio_put(folio);
			return ERR_PTR(-EBUSY);
		}
	} else if (flags == KSM_GET_FOLIO_LOCK)
		folio_lock(folio);

	if (flags != KSM_GET_FOLIO_NOLOCK) {
		if (READ_ONCE(folio->mapping) != expected_mapping) {
			folio_unlock(folio);
			folio_put(folio);
			goto stale;
		}
	}
	return folio;

stale:
	/*
	 * We come here from above when folio->mapping or the swapcache flag
	 * suggests that the node is stale; but it might be under migration.
	 * We need smp_rmb(), matching the smp_wmb() in folio_migrate_ksm(),
	 * before checking whether node->kpfn has been changed.
	 */
	smp_rmb();
	if (READ_ONCE(stable_node->kpfn) != kpfn)
		goto again;
	remove_node_from_stable_tree(stable_node);
	return NULL;
}

/*
 * The state of the refresh pass (see "Refreshing the unstable tree"): its
 * cursor, the unstable tree item it checks next and the NUMA node whose
 * tree that is, its budget, and the number of items in the unstable trees
 * of the current scan, which the budget is made of (pages_unshared also
 * counts the items of the previous scan not yet visited again). ksmd and
 * unmerge_and_remove_all_rmap_items() use it under ksm_thread_mutex only.
 */
static struct {
	struct rb_node *next;	/* NULL: from the first item of tree nid */
	int nid;
	bool end;		/* tree nid is done: go on with the next */
	u64 credit;		/* item-microseconds not yet spent */
	u64 last_ns;		/* time of the last round, 0: none yet */
	unsigned long items;	/* in the unstable trees of this scan */
} ksm_refresh;

/*
 * Start the next refresh cycle at the beginning of the unstable trees:
 * whenever the trees change generation, since the cursor is valid in one
 * generation only.
 */
static void refresh_cursor_reset(void)
{
	ksm_refresh.next = NULL;
	ksm_refresh.nid = 0;
	ksm_refresh.end = false;
}

/* @rmap_item leaves the unstable tree: move the cursor off it first. */
static void refresh_cursor_skip(struct ksm_rmap_item *rmap_item)
{
	if (ksm_refresh.next == &rmap_item->node) {
		ksm_refresh.next = rb_next(&rmap_item->node);
		ksm_refresh.end = !ksm_refresh.next;
	}
	VM_WARN_ON_ONCE(!ksm_refresh.items);
	ksm_refresh.items--;
}

/*
 * Removing rmap_item from stable or unstable tree.
 * This function will clean the information from the stable/unstable tree.
 */
static void remove_rmap_item_from_tree(struct ksm_rmap_item *rmap_item)
{
	if (rmap_item->address & STABLE_FLAG) {
		struct ksm_stable_node *stable_node;
		struct folio *folio;

		stable_node = rmap_item->head;
		folio = ksm_get_folio(stable_node, KSM_GET_FOLIO_LOCK);
		if (!folio)
			goto out;

		hlist_del(&rmap_item->hlist);
		folio_unlock(folio);
		folio_put(folio);

		if (!hlist_empty(&stable_node->hlist))
			ksm_pages_sharing--;
		else
			ksm_pages_shared--;

		rmap_item->mm->ksm_merging_pages--;

		VM_BUG_ON(stable_node->rmap_hlist_len <= 0);
		stable_node->rmap_hlist_len--;

		put_anon_vma(rmap_item->anon_vma);
		rmap_item->head = NULL;
		rmap_item->address &= PAGE_MASK;

	} else if (rmap_item->address & UNSTABLE_FLAG) {
		unsigned char age;
		/*
		 * Usually ksmd can and must skip the rb_erase, because
		 * root_unstable_tree was already reset to RB_ROOT.
		 * But be careful when an mm is exiting: do the rb_erase
		 * if this rmap_item was inserted by this scan, rather
		 * than left over from before.
		 */
		age = (unsigned char)(ksm_scan.seqnr - rmap_item->address);
		BUG_ON(age > 1);
		if (!age) {
			refresh_cursor_skip(rmap_item);
			rb_erase(&rmap_item->node,
				 root_unstable_tree + NUMA(rmap_item->nid));
		}
		ksm_pages_unshared--;
		rmap_item->address &= PAGE_MASK;
	}
out:
	cond_resched();		/* we're called from many long loops */
}

static void remove_trailing_rmap_items(struct ksm_rmap_item **rmap_list)
{
	while (*rmap_list) {
		struct ksm_rmap_item *rmap_item = *rmap_list;
		*rmap_list = rmap_item->rmap_list;
		remove_rmap_item_from_tree(rmap_item);
		free_rmap_item(rmap_item);
	}
}

/*
 * Though it's very tempting to unmerge rmap_items from stable tree rather
 * than check every pte of a given vma, the locking doesn't quite work for
 * that - an rmap_item is assigned to the stable tree after inserting ksm
 * page and upping mmap_lock.  Nor does it fit with the way we skip dup'ing
 * rmap_items from parent to child at fork time (so as not to waste time
 * if exit comes before the next scan reaches it).
 *
 * Similarly, although we'd like to remove rmap_items (so updating counts
 * and freeing memory) when unmerging an area, it's easier to leave that
 * to the next pass of ksmd - consider, for example, how ksmd might be
 * in cmp_and_merge_page on one of the rmap_items we would be removing.
 */
static int unmerge_ksm_pages(struct vm_area_struct *vma,
			     unsigned long start, unsigned long end, bool lock_vma)
{
	unsigned long addr;
	int err = 0;

	for (addr = start; addr < end && !err; addr += PAGE_SIZE) {
		if (ksm_test_exit(vma->vm_mm))
			break;
		if (signal_pending(current))
			err = -ERESTARTSYS;
		else
			err = break_ksm(vma, addr, lock_vma);
	}
	return err;
}

#ifdef CONFIG_KSM_ZERO_PAGES_ALL
/* Find the first KSM zero page of a range, without a lock where none is. */
static int ksm_zero_pmd_entry(pmd_t *pmdp, unsigned long addr,
			      unsigned long end, struct mm_walk *walk)
{
	unsigned long *found = walk->private;
	pte_t *start_ptep, *ptep;
	spinlock_t *ptl;	/* the page table lock of the range */
	pmd_t pmd = pmdp_get_lockless(pmdp);

	/*
	 * A large vma without KSM zero pages takes long: we may sleep, and
	 * the caller may be interrupted (run=2 of a machine, MADV_UNMERGEABLE).
	 */
	cond_resched();
	if (signal_pending(current))
		return -ERESTARTSYS;
	if (!pmd_present(pmd))
		return 0;
	if (pmd_leaf(pmd)) {
		/* break_ksm() looks again under the lock. */
		*found = addr;
		return is_ksm_zero_pmd(pmd);
	}
	start_ptep = pte_offset_map_lock(walk->mm, pmdp, addr, &ptl);
	if (!start_ptep) {
		/* The page table went away under us: look again. */
		walk->action = ACTION_AGAIN;
		return 0;
	}
	for (ptep = start_ptep; addr < end; ptep++, addr += PAGE_SIZE) {
		pte_t pte = ptep_get(ptep);

		if (pte_present(pte) && is_ksm_zero_pte(pte))
			break;
	}
	pte_unmap_unlock(start_ptep, ptl);
	*found = addr;
	return addr < end;
}

static const struct mm_walk_ops ksm_zero_walk_ops = {
	.pmd_entry = ksm_zero_pmd_entry,
	.walk_lock = PGWALK_RDLOCK,
};

/*
 * unmerge_zero_only_range - unshare the KSM zero pages of [@start, @end) in
 * @vma, which is not VM_MERGEABLE, where zero_pages_scope "all" may have
 * placed them
 *
 * Such a vma may be large and sparse: a page walk goes from one KSM zero
 * page to the next, and stops when the mm has none left.
 */
static int unmerge_zero_only_range(struct vm_area_struct *vma,
				   unsigned long start, unsigned long end,
				   bool lock_vma)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned long addr = start, found;
	int err;

	if (!vma_is_anonymous(vma) || !vma->anon_vma)
		return 0;
	while (addr < end && mm_ksm_zero_pages(mm) > 0) {
		if (ksm_test_exit(mm))
			return 0;
		if (signal_pending(current))
			return -ERESTARTSYS;
		err = walk_page_range_vma(vma, addr, end, &ksm_zero_walk_ops,
					  &found);
		if (err <= 0)
			return err;
		err = break_ksm(vma, found, lock_vma);
		if (err)
			return err;
		addr = found + PAGE_SIZE;
	}
	return 0;
}
#else
static inline int unmerge_zero_only_range(struct vm_area_struct *vma,
					  unsigned long start,
					  unsigned long end, bool lock_vma)
{
	return 0;
}
#endif

static inline struct ksm_stable_node *folio_stable_node(struct folio *folio)
{
	return folio_test_ksm(folio) ? folio_raw_mapping(folio) : NULL;
}

static inline struct ksm_stable_node *page_stable_node(struct page *page)
{
	return folio_stable_node(page_folio(page));
}

static inline void folio_set_stable_node(struct folio *folio,
					 struct ksm_stable_node *stable_node)
{
	VM_WARN_ON_FOLIO(folio_test_anon(folio) && PageAnonExclusive(&folio->page), folio);
	folio->mapping = (void *)((unsigned long)stable_node | PAGE_MAPPING_KSM);
}

#ifdef CONFIG_SYSFS
/*
 * Only called through the sysfs control interface:
 */
static int remove_stable_node(struct ksm_stable_node *stable_node)
{
	struct folio *folio;
	int err;

	folio = ksm_get_folio(stable_node, KSM_GET_FOLIO_LOCK);
	if (!folio) {
		/*
		 * ksm_get_folio did remove_node_from_stable_tree itself.
		 */
		return 0;
	}

	/*
	 * Page could be still mapped if this races with __mmput() running in
	 * between ksm_exit() and exit_mmap(). Just refuse to let
	 * merge_across_nodes/max_page_sharing be switched.
	 */
	err = -EBUSY;
	if (!folio_mapped(folio)) {
		/*
		 * The stable node did not yet appear stale to ksm_get_folio(),
		 * since that allows for an unmapped ksm folio to be recognized
		 * right up until it is freed; but the node is safe to remove.
		 * This folio might be in an LRU cache waiting to be freed,
		 * or it might be in the swapcache (perhaps under writeback),
		 * or it might have been removed from swapcache a moment ago.
		 */
		folio_set_stable_node(folio, NULL);
		remove_node_from_stable_tree(stable_node);
		err = 0;
	}

	folio_unlock(folio);
	folio_put(folio);
	return err;
}

static int remove_stable_node_chain(struct ksm_stable_node *stable_node,
				    struct rb_root *root)
{
	struct ksm_stable_node *dup;
	struct hlist_node *hlist_safe;

	if (!is_stable_node_chain(stable_node)) {
		VM_BUG_ON(is_stable_node_dup(stable_node));
		if (remove_stable_node(stable_node))
			return true;
		else
			return false;
	}

	hlist_for_each_entry_safe(dup, hlist_safe,
				  &stable_node->hlist, hlist_dup) {
		VM_BUG_ON(!is_stable_node_dup(dup));
		if (remove_stable_node(dup))
			return true;
	}
	BUG_ON(!hlist_empty(&stable_node->hlist));
	free_stable_node_chain(stable_node, root);
	return false;
}

static int remove_all_stable_nodes(void)
{
	struct ksm_stable_node *stable_node, *next;
	int nid;
	int err = 0;

	for (nid = 0; nid < ksm_nr_node_ids; nid++) {
		while (root_stable_tree[nid].rb_node) {
			stable_node = rb_entry(root_stable_tree[nid].rb_node,
						struct ksm_stable_node, node);
			if (remove_stable_node_chain(stable_node,
						     root_stable_tree + nid)) {
				err = -EBUSY;
				break;	/* proceed to next nid */
			}
			cond_resched();
		}
	}
	list_for_each_entry_safe(stable_node, next, &migrate_nodes, list) {
		if (remove_stable_node(stable_node))
			err = -EBUSY;
		cond_resched();
	}
	return err;
}

static int unmerge_and_remove_all_rmap_items(void)
{
	/* Do the unstable trees hold items of the current seqnr? */
	bool scanning = ksm_scan.mm_slot != &ksm_mm_head;
	struct ksm_mm_slot *mm_slot;
	struct mm_slot *slot;
	struct mm_struct *mm;
	struct vm_area_struct *vma;
	int err = 0;

	spin_lock(&ksm_mmlist_lock);
	slot = list_entry(ksm_mm_head.slot.mm_node.next,
			  struct mm_slot, mm_node);
	ksm_scan.mm_slot = mm_slot_entry(slot, struct ksm_mm_slot, slot);
	spin_unlock(&ksm_mmlist_lock);

	for (mm_slot = ksm_scan.mm_slot; mm_slot != &ksm_mm_head;
	     mm_slot = ksm_scan.mm_slot) {
		VMA_ITERATOR(vmi, mm_slot->slot.mm, 0);

		mm = mm_slot->slot.mm;
		mmap_read_lock(mm);

		/*
		 * Exit right away if mm is exiting to avoid lockdep issue in
		 * the maple tree
		 */
		if (ksm_test_exit(mm))
			goto mm_exiting;

		for_each_vma(vmi, vma) {
			if (!vma->anon_vma)
				continue;
			/* Zero pages of zero_pages_scope "all" may be there. */
			if (!(vma->vm_flags & VM_MERGEABLE))
				err = unmerge_zero_only_range(vma, vma->vm_start,
							      vma->vm_end, false);
			else
				err = unmerge_ksm_pages(vma, vma->vm_start,
							vma->vm_end, false);
			if (err)
				goto error;
		}

mm_exiting:
		remove_trailing_rmap_items(&mm_slot->rmap_list);
		mmap_read_unlock(mm);

		spin_lock(&ksm_mmlist_lock);
		slot = list_entry(mm_slot->slot.mm_node.next,
				  struct mm_slot, mm_node);
		ksm_scan.mm_slot = mm_slot_entry(slot, struct ksm_mm_slot, slot);
		if (ksm_test_exit(mm)) {
			hash_del(&mm_slot->slot.hash);
			list_del(&mm_slot->slot.mm_node);
			spin_unlock(&ksm_mmlist_lock);

			mm_slot_free(mm_slot_cache, mm_slot);
			clear_bit(MMF_VM_MERGEABLE, &mm->flags);
			clear_bit(MMF_VM_MERGE_ANY, &mm->flags);
			mmdrop(mm);
		} else
			spin_unlock(&ksm_mmlist_lock);
	}

	/* Clean up stable nodes, but don't worry if some are still busy */
	remove_all_stable_nodes();
	ksm_scan.seqnr = 0;
	refresh_cursor_reset();
	VM_WARN_ON_ONCE(ksm_refresh.items);
	return 0;

error:
	mmap_read_unlock(mm);
	if (scanning) {
		/*
		 * Stopped in the middle of a full scan: the rmap_items of
		 * this mm and of those after it are still in the unstable
		 * trees of the current seqnr, those before it are gone.
		 * Resume the scan at this mm. Restarting it would reset the
		 * trees under items of the current seqnr, which
		 * remove_rmap_item_from_tree() would then rb_erase() from
		 * trees that do not hold them.
		 */
		ksm_scan.address = 0;
		ksm_scan.rmap_list = &mm_slot->rmap_list;
	} else {
		/*
		 * Stopped between two full scans: the trees hold the previous
		 * generation, items of the mms before this one were freed
		 * without an rb_erase(), and the next scan must start anew,
		 * resetting the trees.
		 */
		spin_lock(&ksm_mmlist_lock);
		ksm_scan.mm_slot = &ksm_mm_head;
		spin_unlock(&ksm_mmlist_lock);
	}
	refresh_cursor_reset();
	return err;
}
#endif /* CONFIG_SYSFS */

static u32 calc_checksum(struct page *page)
{
	u32 checksum;
	void *addr = kmap_local_page(page);
	checksum = xxhash(addr, PAGE_SIZE, 0);
	kunmap_local(addr);
	return checksum;
}

/*
 * vma_zero_mergeable - may KSM map the zero page into @vma?
 *
 * Not in mlocked memory: its owner asked for pages that stay resident and
 * are written without a fault, and a write to the zero page faults and
 * allocates a page. The kernel's other path that maps zero-filled anonymous
 * pages to the zero page, the remap after a THP split, skips mlocked pages
 * for the same reason. mm_forbids_zeropage() covers the architectures that
 * cannot map the zero page at all. Pages of such a vma still merge with
 * other pages through the stable and unstable trees, but for the
 * zero-filled pages of a large folio: they stay out of the trees, where
 * they could only merge by splitting it (see "Zero-filled large folios").
 */
static bool vma_zero_mergeable(struct vm_area_struct *vma)
{
	return !(vma->vm_flags & VM_LOCKED) && !mm_forbids_zeropage(vma->vm_mm);
}

/**
 * DOC: Zero pages in memory not registered
 *
 * Most zero-filled memory sits in processes that never registered with
 * KSM: calloc()ed and cleared buffers, freed heaps, guest RAM that the
 * guest zeroed. Reclaim does not help with pages that are read but never
 * written. With zero_pages_scope set to "all" (and use_zero_pages), ksmd
 * enrols the mm of every user process (ksm_zero_scope_enrol()), and also
 * visits the private anonymous vmas that are not VM_MERGEABLE,
 * for zero-filled pages only: there it merges nothing else, puts nothing
 * into the trees, and keeps no rmap_item. scan_get_next_rmap_item() hands
 * such a page to ksm_do_scan() with ksm_zero_only_item, a stand-in that is
 * never linked anywhere, and merge_zero_only_page() tests it by reading it.
 * A page whose sample of a few words (page_maybe_zero()) is not all zero
 * is passed over in the page table walk itself, under the page table lock
 * that the walk holds anyway, and counts against the batch as a page
 * scanned: such a page costs a few loads, with no reference, no folio
 * lock, no TLB flush and no mmu notifier call (a THP mapped by a PMD is
 * looked at as before), and ksmd's work per batch stays bounded by
 * pages_to_scan. The memory KSM spends on "all" is an mm_slot per
 * process. Without per-page state, zero_pages_min_age does not apply
 * there: zero-filled pages are merged when first seen, and the scan
 * cannot skip pages that smart_scan would skip.
 *
 * The vmas visited this way are those where a page fault could have mapped
 * the zero page and where nobody expects a page to stay put: private
 * anonymous memory, but not mlocked (vma_zero_mergeable()), not armed for
 * userfaultfd, and none of the vmas that vma_ksm_compatible() refuses. Large
 * folios there are never split: a THP may get the huge zero page, and a
 * large folio mapped by PTEs may be given back whole.
 *
 * The owner's "no" wins over the operator's "all": MADV_UNMERGEABLE marks
 * a private anonymous vma VM_UNMERGEABLE, whether it was registered or not,
 * and PR_SET_MEMORY_MERGE 0 marks the mm MMF_VM_UNMERGEABLE, inherited over
 * fork and exec; both unshare the zero pages that the scope placed, and the
 * scope stays out until MADV_MERGEABLE, or PR_SET_MEMORY_MERGE 1. A process
 * that pre-faults its memory on purpose (a JVM with AlwaysPreTouch, a
 * database, a real-time or DPDK process) keeps it that way with one call,
 * or its service manager makes it for it (systemd's MemoryKSM=no).
 *
 * Switching back to "mergeable" stops the visits. An mm that no longer has
 * a VM_MERGEABLE vma leaves the list once it has no KSM zero page either,
 * so that run=2 still finds every zero page that KSM placed, and unmerges
 * those of vmas that are not VM_MERGEABLE too.
 */
static bool ksm_zero_scope_on(void)
{
	return ksm_zero_scope_all() && READ_ONCE(ksm_use_zero_pages);
}

/* Has the owner of @mm opted out (PR_SET_MEMORY_MERGE 0)? */
static bool mm_zero_scope_refused(struct mm_struct *mm)
{
	return test_bit(MMF_VM_UNMERGEABLE, &mm->flags);
}

static bool vma_zero_only_scannable(struct vm_area_struct *vma)
{
	return ksm_zero_scope_on() && vma_is_anonymous(vma) &&
	       !(vma->vm_flags & VM_UNMERGEABLE) &&
	       !mm_zero_scope_refused(vma->vm_mm) &&
	       vma_ksm_compatible(vma) && vma_zero_mergeable(vma) &&
	       !userfaultfd_armed(vma);
}

/* ksmd alone uses it, under ksm_thread_mutex: mm and address only. */
static struct ksm_rmap_item ksm_zero_only_item;

static inline bool is_zero_only_item(struct ksm_rmap_item *rmap_item)
{
	return IS_ENABLED(CONFIG_KSM_ZERO_PAGES_ALL) &&
	       rmap_item == &ksm_zero_only_item;
}

/* The vma at @addr, if ksmd may merge the zero page there for @rmap_item. */
static struct vm_area_struct *find_zero_mergeable_vma(struct ksm_rmap_item *rmap_item,
						      unsigned long addr)
{
	struct mm_struct *mm = rmap_item->mm;
	struct vm_area_struct *vma;

	if (!is_zero_only_item(rmap_item))
		return find_mergeable_vma(mm, addr);
	if (ksm_test_exit(mm))
		return NULL;
	vma = vma_lookup(mm, addr);
	if (!vma || !vma->anon_vma ||
	    (!(vma->vm_flags & VM_MERGEABLE) && !vma_zero_only_scannable(vma)))
		return NULL;
	return vma;
}

/*
 * folio_refs_explained - is @folio held by its mappings alone?
 * @extra: references the caller holds on @folio
 *
 * Any other reference is a GUP pin (DMA, O_DIRECT, io_uring or vmsplice
 * buffers) or the page is isolated: its page must not be replaced, or the
 * holder of the reference would go on using the old page. Under the folio
 * lock and once the PTE is cleared and the TLB flushed, nobody can take a
 * new reference through the page table, and the answer is exact; without
 * them it is a cheap test that keeps a pinned page from being unmapped in
 * vain.
 */
static bool folio_refs_explained(struct folio *folio, int extra)
{
	/* A folio in the swap cache holds one reference a page. */
	long swapcache = folio_test_swapcache(folio) ? folio_nr_pages(folio) : 0;

	return folio_ref_count(folio) ==
	       folio_mapcount(folio) + swapcache + extra;
}

/*
 * ksm_zero_pte - the PTE of a zero page that KSM maps at @addr in place of
 * the page that @old mapped
 *
 * It is special, and dirty to tell it from a zero page mapped by a read
 * fault: is_ksm_zero_pte() finds the KSM-placed zero pages by that mark.
 * It keeps the soft-dirty and uffd-wp bits of @old, as replace_page() does:
 * a merge is not a write.
 */
static pte_t ksm_zero_pte(struct vm_area_struct *vma, unsigned long addr,
			  pte_t old)
{
	pte_t pte = pte_mkspecial(pfn_pte(my_zero_pfn(addr), vma->vm_page_prot));

	if (pte_soft_dirty(old))
		pte = pte_mksoft_dirty(pte);
	if (pte_uffd_wp(old))
		pte = pte_mkuffd_wp(pte);
	return pte_mkksm_zero(pte);
}

/*
 * ksm_account_zero_page - count a page replaced by the zero page in @mm
 *
 * The zero page is not anonymous: the mm's anonymous page counter must go
 * down, or /proc shows wrong values and the teardown of the mm complains.
 */
static void ksm_account_zero_page(struct mm_struct *mm)
{
	ksm_map_zero_page(mm);
	dec_mm_counter(mm, MM_ANONPAGES);
	ksm_count_zero_merged(1);
}

/*
 * ksm_unmap_replaced_page - drop the mapping of @page in @vma, whose PTE was
 * just replaced; @folio is locked. The caller puts the reference that the
 * mapping held.
 */
static void ksm_unmap_replaced_page(struct folio *folio, struct page *page,
				    struct vm_area_struct *vma)
{
	folio_remove_rmap_pte(folio, page, vma);
	if (!folio_mapped(folio))
		folio_free_swap(folio);
}

static int write_protect_page(struct vm_area_struct *vma, struct folio *folio,
			      pte_t *orig_pte)
{
	struct mm_struct *mm = vma->vm_mm;
	DEFINE_FOLIO_VMA_WALK(pvmw, folio, vma, 0, 0);
	int err = -EFAULT;
	struct mmu_notifier_range range;
	bool anon_exclusive;
	pte_t entry;

	if (WARN_ON_ONCE(folio_test_large(folio)))
		return err;

	pvmw.address = page_address_in_vma(&folio->page, vma);
	if (pvmw.address == -EFAULT)
		goto out;

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, pvmw.address,
				pvmw.address + PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);

	if (!page_vma_mapped_walk(&pvmw))
		goto out_mn;
	if (WARN_ONCE(!pvmw.pte, "Unexpected PMD mapping?"))
		goto out_unlock;

	anon_exclusive = PageAnonExclusive(&folio->page);
	entry = ptep_get(pvmw.pte);
	if (pte_write(entry) || pte_dirty(entry) ||
	    anon_exclusive || mm_tlb_flush_pending(mm)) {
		flush_cache_page(vma, pvmw.address, folio_pfn(folio));
		/*
		 * Ok this is tricky, when get_user_pages_fast() run it doesn't
		 * take any lock, therefore the check that we are going to make
		 * with the pagecount against the mapcount is racy and
		 * O_DIRECT can happen right after the check.
		 * So we clear the pte and flush the tlb before the check
		 * this assure us that no O_DIRECT can happen after the check
		 * or in the middle of the check.
		 *
		 * No need to notify as we are downgrading page table to read
		 * only not changing it to point to a new page.
		 *
		 * See Documentation/mm/mmu_notifier.rst
		 */
		entry = ptep_clear_flush(vma, pvmw.address, pvmw.pte);
		/*
		 * Check that no O_DIRECT or similar I/O is in progress on the
		 * page
		 */
		if (!folio_refs_explained(folio, 1)) {
			set_pte_at(mm, pvmw.address, pvmw.pte, entry);
			goto out_unlock;
		}

		/* See folio_try_share_anon_rmap_pte(): clear PTE first. */
		if (anon_exclusive &&
		    folio_try_share_anon_rmap_pte(folio, &folio->page)) {
			set_pte_at(mm, pvmw.address, pvmw.pte, entry);
			goto out_unlock;
		}

		if (pte_dirty(entry))
			folio_mark_dirty(folio);
		entry = pte_mkclean(entry);

		if (pte_write(entry))
			entry = pte_wrprotect(entry);

		set_pte_at(mm, pvmw.address, pvmw.pte, entry);
	}
	*orig_pte = entry;
	err = 0;

out_unlock:
	page_vma_mapped_walk_done(&pvmw);
out_mn:
	mmu_notifier_invalidate_range_end(&range);
out:
	return err;
}

/**
 * replace_page - replace page in vma by new ksm page
 * @vma:      vma that holds the pte pointing to page
 * @page:     the page we are replacing by kpage
 * @kpage:    the ksm page we replace page by
 * @orig_pte: the original value of the pte
 *
 * Returns 0 on success, -EFAULT on failure.
 */
static int replace_page(struct vm_area_struct *vma, struct page *page,
			struct page *kpage, pte_t orig_pte)
{
	struct folio *kfolio = page_folio(kpage);
	struct mm_struct *mm = vma->vm_mm;
	struct folio *folio;
	pmd_t *pmd;
	pmd_t pmde;
	pte_t *ptep;
	pte_t newpte;
	spinlock_t *ptl;
	unsigned long addr;
	int err = -EFAULT;
	struct mmu_notifier_range range;

	addr = page_address_in_vma(page, vma);
	if (addr == -EFAULT)
		goto out;

	pmd = mm_find_pmd(mm, addr);
	if (!pmd)
		goto out;
	/*
	 * Some THP functions use the sequence pmdp_huge_clear_flush(), set_pmd_at()
	 * without holding anon_vma lock for write.  So when looking for a
	 * genuine pmde (in which to find pte), test present and !THP together.
	 */
	pmde = pmdp_get_lockless(pmd);
	if (!pmd_present(pmde) || pmd_trans_huge(pmde))
		goto out;

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, addr,
				addr + PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);

	ptep = pte_offset_map_lock(mm, pmd, addr, &ptl);
	if (!ptep)
		goto out_mn;
	if (!pte_same(ptep_get(ptep), orig_pte)) {
		pte_unmap_unlock(ptep, ptl);
		goto out_mn;
	}
	VM_BUG_ON_PAGE(PageAnonExclusive(page), page);
	VM_BUG_ON_FOLIO(folio_test_anon(kfolio) && PageAnonExclusive(kpage),
			kfolio);

	/* The zero page is merged by merge_zero_run(), never here. */
	folio_get(kfolio);
	folio_add_anon_rmap_pte(kfolio, kpage, vma, addr, RMAP_NONE);
	newpte = mk_pte(kpage, vma->vm_page_prot);
	/*
	 * Keep the uffd-wp bit: a write to the merged page must still be
	 * reported to the userfaultfd monitor.
	 */
	if (pte_uffd_wp(orig_pte))
		newpte = pte_mkuffd_wp(newpte);

	/* Preserve soft-dirty when replacing the page. */
	if (pte_soft_dirty(orig_pte))
		newpte = pte_mksoft_dirty(newpte);

	flush_cache_page(vma, addr, pte_pfn(ptep_get(ptep)));
	/*
	 * No need to notify as we are replacing a read only page with another
	 * read only page with the same content.
	 *
	 * See Documentation/mm/mmu_notifier.rst
	 */
	ptep_clear_flush(vma, addr, ptep);
	set_pte_at(mm, addr, ptep, newpte);

	folio = page_folio(page);
	ksm_unmap_replaced_page(folio, page, vma);
	folio_put(folio);

	pte_unmap_unlock(ptep, ptl);
	err = 0;
out_mn:
	mmu_notifier_invalidate_range_end(&range);
out:
	return err;
}

/*
 * try_to_merge_one_page - take two pages and merge them into one
 * @vma: the vma that holds the pte pointing to page
 * @page: the PageAnon page that we want to replace with kpage
 * @kpage: the PageKsm page that we want to map instead of page,
 *         or NULL the first time when we want to use page as kpage.
 *
 * This function returns 0 if the pages were merged, -EFAULT otherwise.
 */
static int try_to_merge_one_page(struct vm_area_struct *vma,
				 struct page *page, struct page *kpage)
{
	pte_t orig_pte = __pte(0);
	int err = -EFAULT;

	if (page == kpage)			/* ksm page forked */
		return 0;

	if (!PageAnon(page))
		goto out;

	/*
	 * We need the folio lock to read a stable swapcache flag in
	 * write_protect_page().  We use trylock_page() instead of
	 * lock_page() because we don't want to wait here - we
	 * prefer to continue scanning and merging different pages,
	 * then come back to this page when it is unlocked.
	 */
	if (!trylock_page(page))
		goto out;

	/*
	 * Look again right before reading: memory_failure() may have marked
	 * either page since the scan looked. That narrows the window and
	 * cannot close it; while memory_failure() runs, the reference it
	 * takes fails write_protect_page().
	 */
	if (ksm_page_poisoned(page_folio(page), page) ||
	    (kpage && PageHWPoison(kpage)))
		goto out_unlock;

	if (PageTransCompound(page)) {
		if (split_huge_page(page))
			goto out_unlock;
	}

	/*
	 * If this anonymous page is mapped only here, its pte may need
	 * to be write-protected.  If it's mapped elsewhere, all of its
	 * ptes are necessarily already write-protected.  But in either
	 * case, we need to lock and check page_count is not raised.
	 */
	if (write_protect_page(vma, page_folio(page), &orig_pte) == 0) {
		if (!kpage) {
			/*
			 * While we hold page lock, upgrade page from
			 * PageAnon+anon_vma to PageKsm+NULL stable_node:
			 * stable_tree_insert() will update stable_node.
			 */
			folio_set_stable_node(page_folio(page), NULL);
			mark_page_accessed(page);
			/*
			 * Page reclaim just frees a clean page with no dirty
			 * ptes: make sure that the ksm page would be swapped.
			 */
			if (!PageDirty(page))
				SetPageDirty(page);
			err = 0;
		} else if (pages_identical(page, kpage))
			err = replace_page(vma, page, kpage, orig_pte);
	}

out_unlock:
	unlock_page(page);
out:
	return err;
}

/**
 * DOC: Merging zero-filled pages
 *
 * With use_zero_pages set, a page whose checksum is that of the zero page is
 * replaced by the zero page once it has been seen zero-filled in
 * zero_pages_min_age earlier scans: at its first visit by default, with no
 * checksum gate and no unstable tree round trip. The zero test is the
 * checksum that every page not yet merged gets anyway, so that pages that
 * are not zero pay nothing for it.
 *
 * Zero-filled pages come in runs: heaps touched but never written, guest
 * memory freed with init_on_free, buffers cleared and left. When
 * zero_pages_min_age is 0, merge_zero_run() therefore merges the pages that
 * follow a zero-filled page, under the same page table and in the same vma,
 * together with it: up to ZERO_RUN_MAX pages and the budget of the batch,
 * with one mmu notifier range, one page table lock hold and one TLB flush,
 * and without an rmap_item for the pages after the first. The run ends at
 * the first page that is not a small anonymous folio, that something but
 * its mappings holds (folio_refs_explained()), whose folio lock is taken, or
 * that does not look zero-filled: page_maybe_zero() samples a few words of
 * it, since the full check follows anyway.
 *
 * The safety is that of try_to_merge_one_page(): a page is replaced only if,
 * once its PTE has been cleared and the TLB flushed, so that nobody can
 * write it or take a new reference on it through the page table, it still
 * equals the zero page (page_zero_mergeable(), where the architecture may
 * also refuse a page, as arm64 does with MTE-tagged ones) and nothing but
 * its mappings holds it. A page that fails gets its PTE back, and is
 * scanned like any other page when the scan comes back to it. The check
 * reads the page alone (memchr_inv()), not the zero page too, unless the
 * architecture may refuse a page (page_zero_mergeable()): a page after
 * the first of a run is read once in full, and a few words of it before.
 *
 * What a failed attempt costs matters, since it may repeat on every scan,
 * and every TLB flush and mmu notifier range makes a KVM host zap and
 * refault the guest's mappings. A pinned page is refused before its PTE is
 * cleared, and the notifier range and the flush cover the pages cleared
 * only. A page that the sample takes for zero but is not costs one flush:
 * it then goes through cmp_and_merge_page(), whose checksum keeps runs from
 * starting at it, and a run can only reach it again from a page zeroed
 * since, that is, at most once for every run that merges something.
 *
 * ksmd alone merges, under ksm_thread_mutex, which also protects ksm_zero_run.
 */
/*
 * At most 128 KiB are read under the page table lock of a run: 32 pages of
 * 4 KiB, 2 pages of 64 KiB.
 */
#define ZERO_RUN_MAX	MAX_T(unsigned int, SZ_128K / PAGE_SIZE, 1)

static struct {
	struct folio *folio[ZERO_RUN_MAX];	/* locked, PTE not yet cleared */
	pte_t pte[ZERO_RUN_MAX];		/* the cleared PTE */
} ksm_zero_run;

/* The small anonymous folio that @pte maps, if it may join a zero run. */
static struct folio *zero_run_folio(struct vm_area_struct *vma,
				    unsigned long addr, pte_t pte)
{
	struct folio *folio;
	struct page *page;

	if (!pte_present(pte))
		return NULL;
	page = vm_normal_page(vma, addr, pte);
	if (!page)
		return NULL;
	folio = page_folio(page);
	if (folio_test_large(folio) || !folio_test_anon(folio) ||
	    folio_test_ksm(folio) || folio_is_zone_device(folio) ||
	    ksm_page_poisoned(folio, page))
		return NULL;
	return folio;
}

/*
 * page_zero_filled - @page holds zeroes only
 *
 * memchr_inv() reads words, and stops at the first that is not zero. Unlike
 * pages_identical(), it does not let the architecture refuse the page (arm64
 * refuses MTE-tagged pages): see page_zero_mergeable().
 */
static bool page_zero_filled(struct page *page)
{
	void *addr = kmap_local_page(page);
	bool zero = !memchr_inv(addr, 0, PAGE_SIZE);

	kunmap_local(addr);
	return zero;
}

/*
 * zero_page_may_refuse - may the architecture refuse to merge a page with
 * the zero page although it reads as zeroes?
 *
 * Only arm64 has its own memcmp_pages(), which refuses pages with MTE tags.
 * Which pages have tags is arm64's to say (page_mte_tagged()): KVM tags
 * every page of an MTE guest's memory, a vma that allows tags but does not
 * use them, and a tagged page can be moved into a vma that does not allow
 * them (UFFDIO_MOVE). So a kernel built with MTE support asks
 * memcmp_pages() about every page, as before.
 */
static bool zero_page_may_refuse(void)
{
	return IS_ENABLED(CONFIG_ARM64_MTE);
}

/*
 * page_zero_mergeable - @page, mapped at @addr, may be replaced by the zero
 * page: it equals it, and the architecture does not refuse it
 *
 * pages_identical() reads the zero page too, word for word with @page:
 * twice the loads of page_zero_filled() for a page that is zero-filled,
 * which is what the check finds nearly always (make bench, "limit"). It is
 * used only where the architecture may refuse the page.
 */
static bool page_zero_mergeable(struct page *page, unsigned long addr)
{
	if (zero_page_may_refuse())
		return pages_identical(page, ZERO_PAGE(addr));
	return page_zero_filled(page);
}

/*
 * page_sample_zero - the first @head bytes of @page and a few words spread
 * over it are zero
 * @head: a multiple of sizeof(long), at least one word
 */
static bool page_sample_zero(struct vm_area_struct *vma, struct page *page,
			     unsigned long addr, unsigned int head)
{
	const unsigned long *w;
	const unsigned int n = PAGE_SIZE / sizeof(*w);
	bool zero;

	/* A poisoned page is not read, nor taken for zero-filled. */
	if (PageHWPoison(page))
		return false;
	flush_anon_page(vma, page, addr);
	flush_dcache_page(page);
	w = kmap_local_page(page);
	zero = !w[0] && !w[n / 4] && !w[n / 2] && !w[3 * n / 4] && !w[n - 1] &&
	       (head <= sizeof(*w) || !memchr_inv(w, 0, head));
	kunmap_local(w);
	return zero;
}

/*
 * page_maybe_zero - a few words of @page, spread over it, are zero
 *
 * Enough to pick the pages of a zero run: each is compared with the zero
 * page in full once it can no longer be written.
 */
static bool page_maybe_zero(struct vm_area_struct *vma, struct page *page,
			    unsigned long addr)
{
	return page_sample_zero(vma, page, addr, sizeof(unsigned long));
}

/*
 * zero_run_take - lock the folios of the pages from @addr on that may be
 * merged with the zero page, and return how many there are
 * @held: folio of the first page, found zero-filled by the caller, which
 *        holds a reference on it
 *
 * The folios are left in ksm_zero_run.folio[] locked and with a reference held
 * (the caller's own on @held), their PTEs untouched.
 */
static unsigned int zero_run_take(struct vm_area_struct *vma, pmd_t *pmd,
				  unsigned long addr, unsigned int max,
				  struct folio *held)
{
	struct mm_struct *mm = vma->vm_mm;
	pte_t *start_ptep, *ptep;
	unsigned int nr;
	spinlock_t *ptl;	/* the page table lock of the run */

	start_ptep = pte_offset_map_lock(mm, pmd, addr, &ptl);
	if (!start_ptep)
		return 0;
	for (nr = 0, ptep = start_ptep; nr < max;
	     nr++, ptep++, addr += PAGE_SIZE) {
		struct folio *folio = zero_run_folio(vma, addr, ptep_get(ptep));

		if (!folio || (!nr && folio != held) ||
		    !folio_refs_explained(folio, folio == held) ||
		    !folio_trylock(folio))
			break;
		if (nr && !page_maybe_zero(vma, &folio->page, addr)) {
			folio_unlock(folio);
			break;
		}
		if (nr)
			folio_get(folio);
		ksm_zero_run.folio[nr] = folio;
	}
	pte_unmap_unlock(start_ptep, ptl);
	return nr;
}

/*
 * merge_zero_run - replace zero-filled pages from @addr on by the zero page
 * @vma: the vma of the pages, mmap_lock held for read
 * @addr: address of the first page
 * @max: most pages to merge, all under one page table and in @vma
 * @held: folio of the first page, zero-filled by its checksum; the caller
 *        holds a reference on it
 * @rmap_item: the rmap_item of the first page, for the tracepoint (the
 *             pages after it are traced without one)
 * @merged: the number of pages merged
 *
 * Returns how many pages from @addr on were merged before the first that
 * was not.
 */
static unsigned int merge_zero_run(struct vm_area_struct *vma,
				   unsigned long addr, unsigned int max,
				   struct folio *held,
				   struct ksm_rmap_item *rmap_item,
				   unsigned int *merged)
{
	struct mm_struct *mm = vma->vm_mm;
	struct mmu_notifier_range range;
	unsigned int i, nr, cleared = 0, leading = 0;
	struct folio_batch freed;	/* the pages after the first */
	pte_t *start_ptep, *ptep;
	spinlock_t *ptl;	/* the page table lock of the run */
	pmd_t *pmd;

	BUILD_BUG_ON(ZERO_RUN_MAX - 1 > PAGEVEC_SIZE);
	lockdep_assert_held(&ksm_thread_mutex);
	folio_batch_init(&freed);
	pmd = mm_find_pmd(mm, addr);
	if (!pmd)
		return 0;
	nr = zero_run_take(vma, pmd, addr, max, held);
	if (!nr)
		return 0;

	/* The notifier may sleep: the PTEs are cleared under a new hold. */
	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, addr,
				addr + nr * PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);

	start_ptep = pte_offset_map_lock(mm, pmd, addr, &ptl);
	for (i = 0, ptep = start_ptep; i < nr; i++) {
		unsigned long a = addr + i * PAGE_SIZE;
		struct folio *folio = ksm_zero_run.folio[i];

		/* Zapped or remapped while the lock was dropped? */
		if (!ptep || zero_run_folio(vma, a, ptep_get(ptep)) != folio) {
			ksm_zero_run.folio[i] = NULL;
			folio_unlock(folio);
			if (folio != held)
				folio_put(folio);
		} else {
			flush_cache_page(vma, a, folio_pfn(folio));
			ksm_zero_run.pte[i] = ptep_get_and_clear(mm, a, ptep);
			cleared++;
		}
		if (ptep)
			ptep++;
	}
	if (!cleared)
		goto out_unlock;
	/*
	 * From here on nobody can write the pages, nor take a new reference
	 * on them through the page table (see write_protect_page()).
	 */
	flush_tlb_range(vma, addr, addr + nr * PAGE_SIZE);

	for (i = 0, ptep = start_ptep; i < nr; i++, ptep++) {
		unsigned long a = addr + i * PAGE_SIZE;
		struct folio *folio = ksm_zero_run.folio[i];
		bool ok;

		if (!folio)
			continue;
		/*
		 * The page is unmapped here as zap_present_pte() unmaps it:
		 * a PageAnonExclusive left on it is cleared when it is freed.
		 * A page poisoned since zero_run_take() looked is not read
		 * (see try_to_merge_one_page()).
		 */
		ok = !PageHWPoison(&folio->page) &&
		     folio_refs_explained(folio, 1) &&
		     page_zero_mergeable(&folio->page, a);
		if (ok) {
			set_pte_at(mm, a, ptep,
				   ksm_zero_pte(vma, a, ksm_zero_run.pte[i]));
			ksm_account_zero_page(mm);
			ksm_unmap_replaced_page(folio, &folio->page, vma);
		} else {
			set_pte_at(mm, a, ptep, ksm_zero_run.pte[i]);
		}
		folio_unlock(folio);
		if (ok)
			folio_put(folio);	/* the reference of the PTE */
		/*
		 * zero_run_take()'s, the last one of a folio given back: freed
		 * together at the end, as zap_pte_range() frees, with one hold
		 * of the LRU lock and one memcg uncharge for the batch.
		 */
		if (folio != held) {
			if (ok)
				folio_batch_add(&freed, folio);
			else
				folio_put(folio);
		}
		if (ok && leading == i)
			leading++;
		*merged += ok;
		trace_ksm_merge_one_page(my_zero_pfn(a), i ? NULL : rmap_item,
					 mm, ok ? 0 : -EFAULT);
	}
out_unlock:
	if (start_ptep)
		pte_unmap_unlock(start_ptep, ptl);
	mmu_notifier_invalidate_range_end(&range);
	folios_put(&freed);
	return leading;
}

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
/**
 * DOC: Zero-filled large folios
 *
 * Most anonymous memory of a machine with transparent huge pages enabled
 * sits in PMD-mapped THPs, and so does most of its zero-filled memory:
 * guest RAM that the guest cleared, heaps touched and left. Merging their
 * pages one at a time, as KSM did, split each THP on its first zero-filled
 * page, even where nothing was to be gained, and left a page table of 512
 * zero PTEs where one PMD does.
 *
 * When the scan meets a zero-filled page of a large folio (old enough by
 * zero_pages_min_age, as any page), it looks at the whole folio once
 * (zero_large_folio_sample()). A PMD-mapped THP that is zero-filled
 * throughout is replaced by the huge zero page (merge_huge_zero_page()),
 * with the rules of the small pages: its PMD is write-protected and
 * flushed (and the THP marked possibly shared where only that makes a
 * write fault, see zero_check_must_share()) before it is read in full, and
 * cleared and flushed before the folio's references are counted, nothing
 * but the mapping may hold the folio, and the vma must be one where a read
 * fault could have placed the huge zero page. The PMD
 * is marked dirty to tell it from a huge zero page mapped by a read fault
 * (is_ksm_zero_pmd()); it counts as HPAGE_PMD_NR KSM zero pages, and when
 * it is split, by a write or to unmerge it, its PTEs become KSM zero
 * pages.
 *
 * A large folio mapped by PTEs (an mTHP, or a THP whose PMD was split by a
 * partial mprotect(), mremap() or munmap()) that is zero-filled throughout,
 * mapped in full by the PTEs of one vma under one PMD and nowhere else, is
 * given back whole (merge_zero_pte_folio()): every PTE becomes a KSM zero
 * page in one step, with one page table lock hold, one TLB flush and one
 * mmu notifier range, and the folio is freed without split_folio(), which
 * would lock it, walk its rmap and remap it page by page. The rules are
 * those of a zero run, for the whole folio: its PTEs are cleared and
 * flushed before its references are counted and it is compared with the
 * zero page, and nothing but its mappings may hold it. A folio of more
 * than ZERO_RUN_MAX pages is not read under the page table lock: its PTEs
 * are write-protected and flushed (its pages marked possibly shared where
 * zero_check_must_share()), as the PMD of a THP is, it is read, and its
 * PTEs are then cleared and flushed again: two flushes. Such folios count
 * in zero_pages_mthp_merged, their pages as KSM zero pages; a folio that
 * fails but is zero-filled is kept, not split, since the next scan may not
 * meet the failure again. For a PMD THP as for such a folio, the sample
 * (large_folio_page_maybe_zero()) stands in for a first read: a folio that
 * fools it costs a write protection, a flush and a write fault of its owner
 * where it writes (one per PTE of an mTHP), once, and is read in full
 * first from then on (ksm_zero_fooled), as is a folio that the
 * architecture refused (arm64: MTE tags). Where zero_check_reads_first(),
 * a folio is read first anyway.
 *
 * Any other large folio is split only if at least zero_pages_thp_split_min
 * of its pages are zero-filled, a number meant for HPAGE_PMD_NR pages and
 * scaled to the folio's size. Splitting costs the huge mapping of the pages
 * that are not zero-filled, and khugepaged collapses a range again when no
 * more than khugepaged/max_ptes_none of its PTEs are empty or map the zero
 * page (511 by default): the split of a THP that is not zero-filled
 * throughout is undone on khugepaged's next pass, and done again by ksmd,
 * which scans faster, so that the process keeps the memory given back but
 * loses its huge mappings, and both threads copy and split the THP over
 * and over (make bench, "khugepaged"). The default,
 * HPAGE_PMD_NR, therefore splits only folios that are zero-filled
 * throughout and can neither get the huge zero page nor be given back
 * whole (mapped in part, or also by another process after fork(), or a
 * THP in a vma where the huge zero page may not be used, or when the
 * huge zero page, which its first use allocates, cannot be had: 512 MiB
 * of unmovable memory with 64 KiB pages). A
 * user who lowers max_ptes_none may lower zero_pages_thp_split_min to one
 * more than it. The split itself maps the zero-filled pages to the zero
 * page, in one step, as every split of an anonymous THP does; KSM then
 * marks those that it found zero-filled before the split as its own
 * (ksm_claim_split_zero_pages()), so that they are counted and unmerged
 * like any page that KSM merged.
 *
 * The last large folio left whole is remembered until the next full scan,
 * so that the zero-filled pages after the first are skipped without
 * another look; its other pages go on to the trees as before. A large
 * folio found not zero-filled leaves a hint, a word of it that was not
 * zero, which is read first when the scan comes back to it (in this scan
 * or a later one) and only a folio zero-filled throughout could be merged
 * or split (by default): reading a whole folio on every scan, or
 * write-protecting it, to find the same word again would cost more than
 * the zero pages it could give back. One found not zero-filled once its
 * PTEs were cleared, or once it was write-protected, is marked, and read
 * in full before any clear or write protection later.
 * Large folios of mlocked vmas and of vmas armed for userfaultfd write
 * protection, folios with a poisoned page and folios that something but
 * their mappings holds are left whole.
 */

/*
 * How many of HPAGE_PMD_NR pages must be zero-filled for a split: written
 * by sysfs, read by ksmd, both with READ_ONCE()/WRITE_ONCE().
 */
static unsigned int ksm_zero_pages_thp_split_min __read_mostly;

/* Huge zero pages that KSM placed: ksmd adds under ksm_thread_mutex. */
static unsigned long ksm_zero_pages_thp_merged;

/*
 * Large folios mapped by PTEs that KSM gave back whole: ksmd adds under
 * ksm_thread_mutex.
 */
static unsigned long ksm_zero_pages_mthp_merged;

/*
 * The large folio being looked at, and the last one left whole. ksmd alone
 * uses it, under ksm_thread_mutex.
 */
static struct {
	struct folio *kept;	/* never dereferenced: it may be freed */
	unsigned long lo;	/* address of its page first */
	unsigned int first, end; /* its pages mapped in the PMD and vma */
	DECLARE_BITMAP(zero, MAX_PTRS_PER_PTE);	/* those that look zero */
} ksm_zero_thp;

/*
 * Large folios found not zero-filled, each with the index of a word of it
 * that was not zero, looked at first when the folio comes back, in later
 * scans too: a folio that is zero but for a few words then costs one word
 * a scan, not a read of the whole folio. A hint needs no lifetime: it is
 * only a place to look, and a word that is not zero shows that the folio
 * which holds it now is not zero-filled, whatever that folio is. ksmd uses
 * them, and run=2 clears them (zero_large_folios_reset()), under
 * ksm_thread_mutex.
 */
#define ZERO_HINT_BITS	8
static struct zero_hint {
	unsigned long pfn;	/* of the folio's first page */
	unsigned long word;	/* in the folio, of sizeof(long) bytes */
} ksm_zero_hints[1 << ZERO_HINT_BITS];

/*
 * Marks, by a hash of the first pfn, of large folios that a sample took
 * for zero-filled but that were not, as found once their PTEs had been
 * cleared, or their PTEs or PMD write-protected, and flushed, and of those
 * that the architecture refused though they read as zeroes (arm64: MTE
 * tags). The hints above are few and are replaced; a mark stays until a
 * folio that bears it is given back, or until run=2, and makes
 * merge_zero_pte_folio() and merge_huge_zero_page() read such a folio in
 * full, asking the architecture, before they clear or write-protect
 * anything, so that such a folio costs one TLB flush and one mmu notifier
 * range (KVM zaps its mappings), not one on every scan. A mark that
 * another folio shares costs it a read in full before each try, nothing
 * else. ksmd uses them, and run=2 clears them, under ksm_thread_mutex.
 */
#define ZERO_FOOLED_BITS	15
static DECLARE_BITMAP(ksm_zero_fooled, 1 << ZERO_FOOLED_BITS);

static unsigned long zero_fooled_bit(struct folio *folio)
{
	return hash_long(folio_pfn(folio), ZERO_FOOLED_BITS);
}

#define WORDS_PER_PAGE	(PAGE_SIZE / sizeof(unsigned long))

static struct zero_hint *zero_hint_of(struct folio *folio)
{
	return &ksm_zero_hints[hash_long(folio_pfn(folio), ZERO_HINT_BITS)];
}

static void zero_hint_set(struct folio *folio, unsigned long word)
{
	struct zero_hint *hint = zero_hint_of(folio);

	hint->pfn = folio_pfn(folio);
	hint->word = word;
}

/* Is the word of @folio that its hint names still not zero? */
static bool zero_hint_holds(struct folio *folio)
{
	struct zero_hint *hint = zero_hint_of(folio);
	unsigned long *w, word = hint->word;
	struct page *page;
	bool nonzero;

	if (hint->pfn != folio_pfn(folio) ||
	    word >= folio_nr_pages(folio) * WORDS_PER_PAGE)
		return false;
	page = folio_page(folio, word / WORDS_PER_PAGE);
	/* A poisoned page is not read: the folio is left as it is. */
	if (PageHWPoison(page))
		return true;
	w = kmap_local_page(page);
	nonzero = w[word % WORDS_PER_PAGE];
	kunmap_local(w);
	return nonzero;
}

/*
 * page_first_nonzero_word - the index of the first word of @page that is
 * not zero, WORDS_PER_PAGE if there is none
 */
static unsigned long page_first_nonzero_word(struct page *page)
{
	void *addr = kmap_local_page(page);
	void *nonzero = memchr_inv(addr, 0, PAGE_SIZE);

	kunmap_local(addr);
	return nonzero ? (nonzero - addr) / sizeof(unsigned long) :
			 WORDS_PER_PAGE;
}

/*
 * folio_page_zero_filled - page @i of @folio holds zeroes only; if not, and
 * @hint, the word that is not becomes the folio's hint. A page poisoned
 * since the folio was looked at is not read, and not zero-filled.
 */
static bool folio_page_zero_filled(struct folio *folio, unsigned long i,
				   bool hint)
{
	unsigned long word;

	if (PageHWPoison(folio_page(folio, i)))
		return false;
	word = page_first_nonzero_word(folio_page(folio, i));
	if (word == WORDS_PER_PAGE)
		return true;
	if (hint)
		zero_hint_set(folio, i * WORDS_PER_PAGE + word);
	return false;
}

/*
 * The first bytes of each page that the sample of a large folio reads, as
 * well as page_maybe_zero()'s words. A large folio that the sample takes
 * for zero-filled is write-protected, or its PTEs cleared, before it is
 * read in full (merge_huge_zero_page(), merge_zero_pte_folio()), unless it
 * is marked or zero_check_reads_first(). Data laid out one structure to a
 * page, a lock and then a counter say (the pages of uffd-unit-tests: a
 * pthread mutex, all zero, then a counter), is zero at page_maybe_zero()'s
 * words but not in its first bytes: such a folio would be write-protected
 * and held by ksmd for nothing, and a split that UFFDIO_MOVE needs would
 * fail meanwhile. A folio that fools this sample too costs that once, then
 * it is read first (ksm_zero_fooled).
 */
#define ZERO_SAMPLE_HEAD	64

/* page_maybe_zero(), and the first ZERO_SAMPLE_HEAD bytes of @page too */
static bool large_folio_page_maybe_zero(struct vm_area_struct *vma,
					struct page *page, unsigned long addr)
{
	BUILD_BUG_ON(ZERO_SAMPLE_HEAD % sizeof(unsigned long));
	return page_sample_zero(vma, page, addr, ZERO_SAMPLE_HEAD);
}

/*
 * zero_large_folio_sample - find the pages of @folio that the PMD @pmd of
 * @vma maps where they would be if @folio were mapped in one piece with
 * @page at @addr, and those of them that look zero-filled
 *
 * Returns how many look zero-filled, in ksm_zero_thp.zero; *@pmd_mapped
 * tells if @pmd maps @folio itself.
 */
static unsigned int zero_large_folio_sample(struct vm_area_struct *vma,
					    struct folio *folio,
					    struct page *page,
					    unsigned long addr, pmd_t *pmd,
					    bool *pmd_mapped)
{
	unsigned long idx = folio_page_idx(folio, page), before, after;
	unsigned int i, nr = 0;
	pte_t *start_ptep;
	spinlock_t *ptl;	/* the page table lock of the folio */

	/* In pages, not addresses: a folio may be mapped below its size. */
	before = min(idx, (addr - max(vma->vm_start, addr & PMD_MASK)) >>
			  PAGE_SHIFT);
	after = min(folio_nr_pages(folio) - idx,
		    (pmd_addr_end(addr, vma->vm_end) - addr) >> PAGE_SHIFT);
	ksm_zero_thp.first = idx - before;
	ksm_zero_thp.end = idx + after;
	ksm_zero_thp.lo = addr - before * PAGE_SIZE;
	bitmap_zero(ksm_zero_thp.zero, folio_nr_pages(folio));
	*pmd_mapped = false;

	if (pmd_trans_huge(pmdp_get_lockless(pmd))) {
		ptl = pmd_lock(vma->vm_mm, pmd);
		*pmd_mapped = pmd_trans_huge(*pmd) &&
			      pmd_folio(*pmd) == folio &&
			      idx == (addr & ~PMD_MASK) >> PAGE_SHIFT;
		spin_unlock(ptl);
		if (!*pmd_mapped)
			return 0;
		for (i = 0; i < folio_nr_pages(folio); i++) {
			unsigned long a = ksm_zero_thp.lo + i * PAGE_SIZE;
			struct page *p = folio_page(folio, i);

			if (large_folio_page_maybe_zero(vma, p, a)) {
				__set_bit(i, ksm_zero_thp.zero);
				nr++;
			}
		}
		return nr;
	}

	start_ptep = pte_offset_map_lock(vma->vm_mm, pmd, ksm_zero_thp.lo,
					 &ptl);
	if (!start_ptep)
		return 0;
	for (i = ksm_zero_thp.first; i < ksm_zero_thp.end; i++) {
		unsigned long a = ksm_zero_thp.lo +
				  (i - ksm_zero_thp.first) * PAGE_SIZE;
		pte_t pte = ptep_get(start_ptep + i - ksm_zero_thp.first);
		struct page *p = folio_page(folio, i);

		if (pte_present(pte) && pte_pfn(pte) == page_to_pfn(p) &&
		    large_folio_page_maybe_zero(vma, p, a)) {
			__set_bit(i, ksm_zero_thp.zero);
			nr++;
		}
	}
	pte_unmap_unlock(start_ptep, ptl);
	return nr;
}

/* May a read fault have mapped the huge zero page in @vma? */
static bool vma_huge_zero_mergeable(struct vm_area_struct *vma)
{
	return vma_is_anonymous(vma) && transparent_hugepage_use_zero_page() &&
	       thp_vma_allowable_order(vma, vma->vm_flags, TVA_ENFORCE_SYSFS,
				       PMD_ORDER);
}

/*
 * folio_zero_filled - @folio holds zeroes only
 *
 * The caller holds a reference on @folio, which keeps it from being split
 * (can_split_folio()) and so its pages from being freed: no lock is needed
 * to read them, and none is held here, for a PMD maps up to 512 MiB.
 */
static bool folio_zero_filled(struct folio *folio)
{
	unsigned long i;

	for (i = 0; i < folio_nr_pages(folio); i++) {
		if (!folio_page_zero_filled(folio, i, true))
			return false;
		cond_resched();
	}
	return true;
}

/*
 * folio_identical_to_zero - the index of the first page of @folio, mapped
 * at @lo, that may not be replaced by the zero page, folio_nr_pages() if
 * all may: page_zero_mergeable(), where the architecture may refuse a page
 * (arm64 refuses MTE-tagged ones). A poisoned page is not read. With
 * @may_sleep, ksmd yields between pages.
 */
static unsigned int folio_identical_to_zero(struct folio *folio,
					    unsigned long lo, bool may_sleep)
{
	unsigned int i;

	for (i = 0; i < folio_nr_pages(folio); i++) {
		struct page *page = folio_page(folio, i);

		if (PageHWPoison(page) ||
		    !page_zero_mergeable(page, lo + i * PAGE_SIZE))
			break;
		if (may_sleep)
			cond_resched();
	}
	return i;
}

/*
 * folio_zero_mergeable - every page of @folio, mapped from @lo on, may be
 * replaced by the zero page: folio_zero_filled(), which leaves a hint in a
 * folio that is not, or where the architecture may refuse a page that
 * reads as zeroes (arm64: MTE tags, which KVM sets on the memory of an MTE
 * guest), folio_identical_to_zero(), and a hint too if the page it stopped
 * at is not zero-filled.
 */
static bool folio_zero_mergeable(struct folio *folio, unsigned long lo)
{
	unsigned int i;

	if (!zero_page_may_refuse())
		return folio_zero_filled(folio);
	i = folio_identical_to_zero(folio, lo, true);
	if (i == folio_nr_pages(folio))
		return true;
	/* A word that is not zero, if that is why, becomes the hint. */
	folio_page_zero_filled(folio, i, true);
	return false;
}

/*
 * zero_check_must_share - whether a large folio of @vma that is
 * write-protected for the check that it is zero-filled must also be marked
 * possibly shared
 *
 * ksmd reads the folio without a lock once its PTEs (or PMD) are
 * read-only, clean and flushed, and takes them still read-only and clean,
 * mapping the same folio, for proof that it was not written since. In a
 * writable vma a write faults and leaves its entry writable and dirty, and
 * a folio that reclaim unmaps comes back writable at its next fault. As
 * long as the folio's pages are exclusive, two things break the proof:
 * GUP with FOLL_FORCE (ptrace, /proc/<pid>/mem) writes through a read-only
 * entry without a fault in a vma that may be written but is not writable
 * (can_follow_write_pte(), can_follow_write_pmd()), and where soft-dirty
 * is tracked a read fault maps a folio back from the swap cache read-only
 * and clean (do_swap_page()). There the pages are marked shared, as
 * write_protect_page() leaves a small page: a shared page is only written
 * after a fault that copies it while ksmd holds its reference, which
 * changes the entry. Elsewhere they stay exclusive, so that a write after
 * a failed try reuses the folio rather than copying pages or splitting it.
 */
static bool zero_check_must_share(struct vm_area_struct *vma)
{
	return !(vma->vm_flags & VM_WRITE) || vma_soft_dirty_enabled(vma);
}

/*
 * zero_check_reads_first - whether a large folio of @vma that the sample
 * took for zero-filled is read in full before its entries are
 * write-protected, not only after
 *
 * Where write protection also marks its pages possibly shared
 * (zero_check_must_share()), which a folio that is not zero-filled would
 * keep; and where its pages may carry MTE tags (arm64 with MTE: every
 * anonymous vma, and an MTE guest's memory under KVM), which the
 * architecture refuses, so that such memory is not write-protected, and
 * zapped from the guest's stage 2, once per folio for nothing.
 */
static bool zero_check_reads_first(struct vm_area_struct *vma)
{
	return zero_check_must_share(vma) || (vma->vm_flags & VM_MTE_ALLOWED);
}

/*
 * write_protect_huge_pmd - make the PMD that maps @folio at @haddr read-only
 * and clean, so that a write to @folio faults and its content can be checked
 * without the PMD lock; the PMD is left in *@orig
 *
 * As write_protect_page() does for a PTE, always with a flush, so that no
 * GUP-fast can pin @folio once it is counted, and with the THP marked
 * possibly shared where zero_check_must_share(): a write fault reuses it
 * then once ksmd has dropped its reference; before, it splits the PMD and
 * copies the page it writes. Returns false if
 * @folio is no longer mapped there, or is held by something but its
 * mappings: under the folio lock, held by the caller, the count is exact;
 * merge_huge_zero_page() counts again before it replaces the PMD.
 */
static bool write_protect_huge_pmd(struct vm_area_struct *vma,
				   unsigned long haddr, pmd_t *pmd,
				   struct folio *folio, pmd_t *orig)
{
	struct mm_struct *mm = vma->vm_mm;
	struct mmu_notifier_range range;
	spinlock_t *ptl;	/* the lock of the PMD */
	pmd_t entry;
	bool ok = false;

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, haddr,
				haddr + HPAGE_PMD_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	ptl = pmd_lock(mm, pmd);
	if (!pmd_trans_huge(*pmd) || pmd_folio(*pmd) != folio)
		goto unlock;
	flush_cache_range(vma, haddr, haddr + HPAGE_PMD_SIZE);
	/*
	 * Invalidate, not clear: zap_pmd_range() reads the PMD without its
	 * lock and would skip a none PMD, so that a racing MADV_DONTNEED
	 * would leave the THP mapped (see change_huge_pmd()).
	 */
	entry = pmdp_invalidate(vma, haddr, pmd);
	if (!folio_refs_explained(folio, 1) ||
	    (zero_check_must_share(vma) && PageAnonExclusive(&folio->page) &&
	     folio_try_share_anon_rmap_pmd(folio, &folio->page))) {
		set_pmd_at(mm, haddr, pmd, entry);
		goto unlock;
	}
	if (pmd_dirty(entry))
		folio_mark_dirty(folio);
	entry = pmd_mkclean(pmd_wrprotect(entry));
	set_pmd_at(mm, haddr, pmd, entry);
	*orig = entry;
	ok = true;
unlock:
	spin_unlock(ptl);
	mmu_notifier_invalidate_range_end(&range);
	return ok;
}

/*
 * merge_huge_zero_page - replace the PMD-mapped THP @folio at @haddr by the
 * huge zero page @zero_folio, which the caller got for the mm with
 * mm_get_huge_zero_folio(); the caller holds a reference on @folio, not
 * its lock, and found each of its pages zero-filled by a sample
 * (large_folio_page_maybe_zero())
 *
 * The PMD is write-protected and flushed, the folio read in full, and the
 * PMD replaced if it has not changed since but for its accessed bit: the
 * folio is read once. The sample looks at the first ZERO_SAMPLE_HEAD bytes
 * of each page and a few words more. A folio that it took for zero-filled
 * but is not costs an mmu notifier range (KVM zaps its mapping of the
 * 2 MiB), a TLB flush, a write fault of its owner and ksmd's reference
 * held meanwhile (a split, which UFFDIO_MOVE and MADV_PAGEOUT need, fails
 * on it), once: the read leaves a hint (the word that is not zero), which
 * later scans look at before the sample while only a folio zero-filled
 * throughout may be merged or split (the default zero_pages_thp_split_min),
 * and a mark in ksm_zero_fooled, which has the folio read in full before
 * it is write-protected from then on, as has a folio that the architecture
 * refused (folio_zero_mergeable(); arm64: MTE tags). Where
 * zero_check_reads_first(), the folio is read first anyway. As for small
 * pages (write_protect_page(), replace_page()), each step has its own mmu
 * notifier range, so that no secondary MMU waits for a read. The folio
 * lock keeps the swap cache state of the folio still while its references
 * are counted, as in write_protect_page(), and freeing its swap space
 * needs it; it is not held for the read, which takes up to a PMD (512 MiB
 * with 64 KiB pages), since reclaim, migration and a fault that cannot
 * reuse the folio wait for it.
 */
static bool merge_huge_zero_page(struct vm_area_struct *vma,
				 unsigned long haddr, pmd_t *pmd,
				 struct folio *folio, struct folio *zero_folio)
{
	unsigned long fooled_bit = zero_fooled_bit(folio);
	struct mm_struct *mm = vma->vm_mm;
	struct mmu_notifier_range range;
	pmd_t orig, old, entry;
	spinlock_t *ptl;	/* the lock of the PMD */
	bool ok = false, protected, fooled;

	lockdep_assert_held(&ksm_thread_mutex);
	fooled = test_bit(fooled_bit, ksm_zero_fooled);
	/* A THP that fooled the sample, or see zero_check_reads_first(). */
	if ((fooled || zero_check_reads_first(vma)) &&
	    !folio_zero_mergeable(folio, haddr))
		return false;
	if (!folio_trylock(folio))
		return false;
	protected = write_protect_huge_pmd(vma, haddr, pmd, folio, &orig);
	folio_unlock(folio);
	if (!protected)
		return false;
	if (!folio_zero_mergeable(folio, haddr)) {
		__set_bit(fooled_bit, ksm_zero_fooled);
		return false;
	}
	if (!folio_trylock(folio))
		return false;
	/*
	 * Poisoned since it was read? A page whose folio memory_failure()
	 * has not flagged yet still fails the reference count below.
	 */
	if (folio_contain_hwpoisoned_page(folio)) {
		folio_unlock(folio);
		return false;
	}

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, haddr,
				haddr + HPAGE_PMD_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	ptl = pmd_lock(mm, pmd);
	if (!pmd_same(pmd_mkold(*pmd), pmd_mkold(orig)))
		goto unlock;
	old = pmdp_invalidate(vma, haddr, pmd);	/* as in write_protect_huge_pmd() */
	if (!folio_refs_explained(folio, 1)) {
		set_pmd_at(mm, haddr, pmd, old);
		goto unlock;
	}
	/*
	 * The deposited page table stays, as for a huge zero page. A merge is
	 * not a write: soft-dirty and uffd-wp stay as they were.
	 */
	entry = pmd_mkhuge(mk_pmd(&zero_folio->page, vma->vm_page_prot));
	if (pmd_soft_dirty(old))
		entry = pmd_mksoft_dirty(entry);
	if (pmd_uffd_wp(old))
		entry = pmd_mkuffd_wp(entry);
	set_pmd_at(mm, haddr, pmd, pmd_mkksm_zero(entry));
	folio_remove_rmap_pmd(folio, &folio->page, vma);
	if (!folio_mapped(folio))
		folio_free_swap(folio);
	/* Whatever folio left the mark, this one was zero: no longer needed. */
	if (fooled)
		__clear_bit(fooled_bit, ksm_zero_fooled);
	add_mm_counter(mm, MM_ANONPAGES, -HPAGE_PMD_NR);
	ksm_map_zero_pages(mm, HPAGE_PMD_NR);
	ksm_count_zero_merged(HPAGE_PMD_NR);
	WRITE_ONCE(ksm_zero_pages_thp_merged, ksm_zero_pages_thp_merged + 1);
	folio_put(folio);	/* the reference of the PMD */
	ok = true;
unlock:
	spin_unlock(ptl);
	folio_unlock(folio);
	mmu_notifier_invalidate_range_end(&range);
	return ok;
}

/* A page of @folio is poisoned: its flags only, nothing is read. */
static bool folio_any_page_hwpoison(struct folio *folio)
{
	unsigned long i;

	for (i = 0; i < folio_nr_pages(folio); i++)
		if (PageHWPoison(folio_page(folio, i)))
			return true;
	return false;
}

/*
 * large_folio_ptes_clear - clear the PTEs that map the large folio @folio at
 * @lo, from its first page on, into @old[], and flush the TLB
 * @ptep: the PTE of @lo, its page table lock held; @folio is locked
 * @wrprotected: the PTEs were made read-only and clean by
 *               large_folio_wrprotect_ptes(), and must still be
 *
 * Returns false, with the PTEs as they were, if one no longer maps its page
 * of @folio (or was made writable or dirty again: the page may have been
 * written since it was read), if a page of @folio is poisoned, if @folio
 * is mapped anywhere else, or if something but its mappings holds it: a
 * pinned folio is refused before its PTEs are cleared, and once they are
 * cleared and flushed the count is exact (see folio_refs_explained()).
 *
 * On arm64, each PTE of a contiguous range is cleared on its own, which
 * unfolds the range first (a TLB invalidation for each 64 KiB range with
 * 4 KiB pages), and the PTEs set again after are folded back at the last
 * of each range (another). x86 flushes the whole mm for a range of more
 * than 33 pages (tlb_single_page_flush_ceiling).
 */
static bool large_folio_ptes_clear(struct vm_area_struct *vma, pte_t *ptep,
				   unsigned long lo, struct folio *folio,
				   bool wrprotected, pte_t *old)
{
	unsigned int i, nr = folio_nr_pages(folio);
	struct mm_struct *mm = vma->vm_mm;

	for (i = 0; i < nr; i++) {
		pte_t pte = ptep_get(ptep + i);

		if (!pte_present(pte) || pte_pfn(pte) != folio_pfn(folio) + i ||
		    (wrprotected && (pte_write(pte) || pte_dirty(pte))) ||
		    PageHWPoison(folio_page(folio, i)))
			return false;
	}
	if (folio_mapcount(folio) != nr || !folio_refs_explained(folio, 1))
		return false;
	flush_cache_range(vma, lo, lo + nr * PAGE_SIZE);
	for (i = 0; i < nr; i++)
		old[i] = ptep_get_and_clear(mm, lo + i * PAGE_SIZE, ptep + i);
	flush_tlb_range(vma, lo, lo + nr * PAGE_SIZE);
	if (folio_refs_explained(folio, 1))
		return true;
	for (i = 0; i < nr; i++)
		set_pte_at(mm, lo + i * PAGE_SIZE, ptep + i, old[i]);
	return false;
}

/*
 * large_folio_wrprotect_ptes - make the PTEs that map the large folio @folio
 * at @lo read-only and clean, and its pages possibly shared where
 * zero_check_must_share(), as write_protect_huge_pmd() does for a PMD, so
 * that its content can be checked without the page table lock. @folio is
 * locked; @old is room for its PTEs.
 *
 * If the merge fails after this (a write, a pin, a folio lock or a
 * reference that reclaim, compaction or GUP-fast held for a moment, a
 * racing MADV_DONTNEED), the PTEs stay read-only: a write faults, and
 * reuses its page, or copies it where the pages were marked shared.
 */
static bool large_folio_wrprotect_ptes(struct vm_area_struct *vma,
				       pmd_t *pmd, unsigned long lo,
				       struct folio *folio, pte_t *old)
{
	unsigned int i, nr = folio_nr_pages(folio);
	struct mm_struct *mm = vma->vm_mm;
	struct mmu_notifier_range range;
	pte_t *ptep;
	spinlock_t *ptl;	/* the page table lock of the folio */
	bool ok = false, share;

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, lo,
				lo + nr * PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	ptep = pte_offset_map_lock(mm, pmd, lo, &ptl);
	if (!ptep)
		goto out;
	if (!large_folio_ptes_clear(vma, ptep, lo, folio, false, old))
		goto unlock;
	ok = true;
	share = zero_check_must_share(vma);
	for (i = 0; i < nr; i++) {
		struct page *page = folio_page(folio, i);
		pte_t pte = old[i];

		/*
		 * Fails only against a GUP-fast that read a PTE before the
		 * clear, which backs off: the pages are left as they are,
		 * shared or not, read-only either way.
		 */
		if (ok && share && PageAnonExclusive(page) &&
		    folio_try_share_anon_rmap_pte(folio, page))
			ok = false;
		if (pte_dirty(pte))
			folio_mark_dirty(folio);
		pte = pte_mkclean(pte);
		if (pte_write(pte))
			pte = pte_wrprotect(pte);
		set_pte_at(mm, lo + i * PAGE_SIZE, ptep + i, pte);
	}
unlock:
	pte_unmap_unlock(ptep, ptl);
out:
	mmu_notifier_invalidate_range_end(&range);
	return ok;
}

enum zero_folio_result {
	ZERO_FOLIO_MERGED,	/* given back whole */
	ZERO_FOLIO_KEPT,	/* kept whole, for a reason that may pass */
	ZERO_FOLIO_NOT_ZERO,	/* not zero-filled after all */
};

/*
 * merge_zero_pte_folio - give back whole the large folio @folio, which
 * the PTEs of @vma under @pmd map from @lo on, all of its pages and nothing
 * else, by mapping a KSM zero page in place of each page; the caller holds
 * a reference on @folio, not its lock, and has found it zero-filled by a
 * sample of words
 * @read_first: read the folio in full before anything else
 *
 * See "Zero-filled large folios". A folio of up to ZERO_RUN_MAX pages, as
 * the pages of a zero run, is read once, after its PTEs are cleared and
 * flushed, under the page table lock: one lock hold, one flush and one mmu
 * notifier range. A folio that the sample took for zero but is not then
 * costs one flush, leaves a hint that keeps the next scans from trying
 * again where only a folio zero-filled throughout may be merged or split,
 * and a mark in ksm_zero_fooled that has it read in full first from then
 * on. A larger folio is not read under a spinlock: its PTEs are made
 * read-only and clean and flushed, it is read without the lock, and its
 * PTEs are then replaced if they are still read-only and clean, with a
 * second flush; one that the sample took for zero but is not costs those
 * PTEs their write access, once, as a PMD THP does
 * (merge_huge_zero_page()).
 */
static enum zero_folio_result merge_zero_pte_folio(struct vm_area_struct *vma,
						   pmd_t *pmd, unsigned long lo,
						   struct folio *folio,
						   bool read_first)
{
	unsigned int i, differs, nr = folio_nr_pages(folio);
	struct mm_struct *mm = vma->vm_mm;
	bool small = nr <= ZERO_RUN_MAX, ok = false, fooled;
	enum zero_folio_result ret = ZERO_FOLIO_KEPT;
	struct mmu_notifier_range range;
	pte_t *old, *ptep;
	spinlock_t *ptl;	/* the page table lock of the folio */

	lockdep_assert_held(&ksm_thread_mutex);
	fooled = test_bit(zero_fooled_bit(folio), ksm_zero_fooled);
	/* A folio that fooled the sample, or see zero_check_reads_first(). */
	if (fooled || (!small && zero_check_reads_first(vma)))
		read_first = true;
	if (read_first) {
		if (!folio_zero_filled(folio))
			return ZERO_FOLIO_NOT_ZERO;
		/* Zero-filled, but refused (arm64: MTE tags)? Kept. */
		if (zero_page_may_refuse() &&
		    folio_identical_to_zero(folio, lo, true) < nr)
			return ZERO_FOLIO_KEPT;
	}
	/* ksm_zero_run is ksmd's, under ksm_thread_mutex: free here. */
	old = small ? ksm_zero_run.pte :
		      kvmalloc_array(nr, sizeof(*old), GFP_KERNEL |
				     __GFP_NORETRY | __GFP_NOWARN);
	if (!old)
		return ZERO_FOLIO_KEPT;
	if (!folio_trylock(folio))
		goto out_free;
	if (!small) {
		bool protected = large_folio_wrprotect_ptes(vma, pmd, lo,
							    folio, old);

		folio_unlock(folio);
		if (!protected)
			goto out_free;
		differs = folio_identical_to_zero(folio, lo, true);
		if (differs < nr) {
			/* As under the lock below. */
			if (!PageHWPoison(folio_page(folio, differs))) {
				__set_bit(zero_fooled_bit(folio),
					  ksm_zero_fooled);
				if (!folio_page_zero_filled(folio, differs, true))
					ret = ZERO_FOLIO_NOT_ZERO;
			}
			goto out_free;
		}
		if (!folio_trylock(folio))
			goto out_free;
	}

	mmu_notifier_range_init(&range, MMU_NOTIFY_CLEAR, 0, mm, lo,
				lo + nr * PAGE_SIZE);
	mmu_notifier_invalidate_range_start(&range);
	ptep = pte_offset_map_lock(mm, pmd, lo, &ptl);
	if (!ptep)
		goto out_mn;
	if (!large_folio_ptes_clear(vma, ptep, lo, folio, !small, old))
		goto out_unlock;
	/*
	 * Poisoned since it was looked at? memory_failure() flags the page
	 * before the folio.
	 */
	differs = small ? folio_identical_to_zero(folio, lo, false) : nr;
	ok = !folio_contain_hwpoisoned_page(folio) && differs == nr &&
	     (small || !folio_any_page_hwpoison(folio));
	for (i = 0; i < nr; i++) {
		unsigned long a = lo + i * PAGE_SIZE;

		set_pte_at(mm, a, ptep + i,
			   ok ? ksm_zero_pte(vma, a, old[i]) : old[i]);
	}
	if (!ok) {
		/*
		 * Not zero, or only refused (arm64: MTE tags)? Either way it is
		 * read first from now on; a word that is not zero sets a hint.
		 */
		if (differs < nr &&
		    !PageHWPoison(folio_page(folio, differs))) {
			__set_bit(zero_fooled_bit(folio), ksm_zero_fooled);
			if (!folio_page_zero_filled(folio, differs, true))
				ret = ZERO_FOLIO_NOT_ZERO;
		}
		goto out_unlock;
	}
	/* Whatever folio left the mark, this one was zero: no longer needed. */
	if (fooled)
		__clear_bit(zero_fooled_bit(folio), ksm_zero_fooled);
	folio_remove_rmap_ptes(folio, &folio->page, nr, vma);
	if (!folio_mapped(folio))
		folio_free_swap(folio);
	add_mm_counter(mm, MM_ANONPAGES, -(long)nr);
	ksm_map_zero_pages(mm, nr);
	ksm_count_zero_merged(nr);
	WRITE_ONCE(ksm_zero_pages_mthp_merged, ksm_zero_pages_mthp_merged + 1);
	folio_put_refs(folio, nr);	/* the references of the PTEs */
	ret = ZERO_FOLIO_MERGED;
out_unlock:
	pte_unmap_unlock(ptep, ptl);
out_mn:
	mmu_notifier_invalidate_range_end(&range);
	folio_unlock(folio);
out_free:
	if (!small)
		kvfree(old);
	return ret;
}

/*
 * zero_large_folio_verify - keep in ksm_zero_thp.zero the pages that are
 * zero-filled in full; false as soon as fewer than @min can be
 *
 * Read without a lock, as in folio_zero_filled(): the split that follows
 * maps a page to the zero page only if it is zero-filled when it splits.
 */
static bool zero_large_folio_verify(struct folio *folio, unsigned int nr,
				    unsigned int min)
{
	unsigned int i;

	for_each_set_bit(i, ksm_zero_thp.zero, folio_nr_pages(folio)) {
		cond_resched();
		if (folio_page_zero_filled(folio, i,
					   min >= folio_nr_pages(folio)))
			continue;
		__clear_bit(i, ksm_zero_thp.zero);
		if (--nr < min)
			return false;
	}
	return true;
}

/*
 * ksm_claim_split_zero_pages - make KSM's the zero pages that the split of
 * a large folio just mapped in place of its pages that were zero-filled
 * @idx: index in the folio of the page whose merge the caller asks about
 * @claimed: out, whether that page was merged
 *
 * Only KSM's mark on the PTEs changes (soft-dirty stays as the split left
 * it), not what they map, nor that they are write-protected: no TLB flush
 * and no mmu notifier are needed, as for the split of a huge zero PMD. A
 * zero page that a read fault mapped after a MADV_DONTNEED racing with the
 * split may be taken for one that the split mapped: it is then counted and
 * unmerged as KSM's, which it might have been.
 *
 * Returns how many pages it marked.
 */
static unsigned int ksm_claim_split_zero_pages(struct vm_area_struct *vma,
					       pmd_t *pmd, unsigned long idx,
					       bool *claimed)
{
	unsigned int i = ksm_zero_thp.first, nr = 0;
	struct mm_struct *mm = vma->vm_mm;
	pte_t *start_ptep;
	spinlock_t *ptl;	/* the page table lock of the folio */

	*claimed = false;
	start_ptep = pte_offset_map_lock(mm, pmd, ksm_zero_thp.lo, &ptl);
	if (!start_ptep)
		return 0;
	for_each_set_bit_from(i, ksm_zero_thp.zero, ksm_zero_thp.end) {
		pte_t *ptep = start_ptep + i - ksm_zero_thp.first;
		unsigned long a = ksm_zero_thp.lo +
				  (i - ksm_zero_thp.first) * PAGE_SIZE;
		pte_t pte = ptep_get(ptep);

		if (!pte_present(pte) || !is_zero_pfn(pte_pfn(pte)) ||
		    pte_dirty(pte))
			continue;
		pte = ptep_modify_prot_start(vma, a, ptep);
		ptep_modify_prot_commit(vma, a, ptep, pte, pte_mkksm_zero(pte));
		ksm_map_zero_page(mm);
		ksm_count_zero_merged(1);
		nr++;
		if (i == idx)
			*claimed = true;
	}
	pte_unmap_unlock(start_ptep, ptl);
	return nr;
}

/*
 * Is @folio mapped by PTEs only, and not each of its pages once: mapped in
 * part, or also by another process after fork()? Such a folio cannot be
 * given back whole, only split: where that is not allowed, it is not
 * sampled on every scan.
 */
static bool pte_folio_not_whole(struct folio *folio)
{
	return !folio_entire_mapcount(folio) &&
	       folio_mapcount(folio) != folio_nr_pages(folio);
}

/*
 * merge_zero_large_folio - the zero-page step for a page of a large folio
 * @page: a zero-filled page of a large folio, mapped at @addr in @vma; the
 *        caller holds a reference on it and mmap_lock for read
 * @nr: out, how many pages from @page on were merged without a gap
 * @merged: out, how many pages were merged
 * @may_split: whether the folio may be split
 *
 * See "Zero-filled large folios". A page of a large folio never goes on to
 * the trees from here: where the folio is not merged or split, it is left
 * whole, and the pages split from it are scanned as small pages next time.
 */
static void merge_zero_large_folio(struct vm_area_struct *vma,
				   unsigned long addr, struct page *page,
				   unsigned int *nr, unsigned int *merged,
				   bool may_split)
{
	struct folio *folio = page_folio(page), *zero_folio;
	unsigned long idx = folio_page_idx(folio, page);
	unsigned int nr_zero, min;
	bool pmd_mapped, claimed, whole_only;
	pmd_t *pmd;

	if (folio == ksm_zero_thp.kept)
		return;
	/* A folio locked by someone else is looked at from its next page. */
	if (folio_test_locked(folio))
		return;
	min = DIV_ROUND_UP(READ_ONCE(ksm_zero_pages_thp_split_min) *
			   folio_nr_pages(folio), HPAGE_PMD_NR);
	/* Then a word that is not zero rules out anything but keeping it. */
	whole_only = !may_split || min >= folio_nr_pages(folio);
	/*
	 * MTE-tagged memory is left whole: a vma that uses tags without a
	 * look, elsewhere by the checks that decide, which let the
	 * architecture refuse a page (folio_zero_mergeable(),
	 * folio_identical_to_zero(); a split maps the zero page only where
	 * pages_identical() agrees).
	 */
	if (WARN_ON_ONCE(folio_nr_pages(folio) > MAX_PTRS_PER_PTE) ||
	    userfaultfd_wp(vma) || (vma->vm_flags & VM_MTE) ||
	    ksm_page_poisoned(folio, page) ||
	    !folio_refs_explained(folio, 1) ||
	    (whole_only && zero_hint_holds(folio)) ||
	    (!may_split && pte_folio_not_whole(folio))) {
		ksm_zero_thp.kept = folio;
		return;
	}
	pmd = mm_find_pmd(vma->vm_mm, addr);
	if (!pmd)
		return;
	nr_zero = zero_large_folio_sample(vma, folio, page, addr, pmd,
					  &pmd_mapped);
	/*
	 * The huge zero folio, which the first use allocates: a PMD's size
	 * of unmovable memory (512 MiB with 64 KiB pages), which may not be
	 * had. A THP that cannot get it follows zero_pages_thp_split_min,
	 * as in a vma where the huge zero page may not be used.
	 */
	zero_folio = NULL;
	if (pmd_mapped && nr_zero == HPAGE_PMD_NR &&
	    vma_huge_zero_mergeable(vma))
		zero_folio = mm_get_huge_zero_folio(vma->vm_mm);
	if (zero_folio) {
		if (merge_huge_zero_page(vma, ksm_zero_thp.lo, pmd, folio,
					 zero_folio)) {
			*nr = HPAGE_PMD_NR - idx;
			*merged = HPAGE_PMD_NR;
			return;
		}
		/*
		 * Not again from each of its pages, and not split for a
		 * failure that the next scan may not meet.
		 */
		ksm_zero_thp.kept = folio;
		return;
	}
	/*
	 * Mapped by PTEs, all of them here and nowhere else, and all
	 * zero-filled: given back whole, without a split, or kept. One that
	 * the sample took for zero but is not follows the split rule.
	 */
	if (!pmd_mapped && nr_zero == folio_nr_pages(folio) &&
	    folio_mapcount(folio) == nr_zero) {
		switch (merge_zero_pte_folio(vma, pmd, ksm_zero_thp.lo, folio,
					     !whole_only)) {
		case ZERO_FOLIO_MERGED:
			*nr = nr_zero - idx;
			*merged = nr_zero;
			return;
		case ZERO_FOLIO_KEPT:
			ksm_zero_thp.kept = folio;
			return;
		case ZERO_FOLIO_NOT_ZERO:
			break;
		}
	}

	if (!may_split || nr_zero < min ||
	    !zero_large_folio_verify(folio, nr_zero, min)) {
		ksm_zero_thp.kept = folio;
		return;
	}
	if (!folio_trylock(folio)) {
		ksm_zero_thp.kept = folio;
		return;
	}
	if (split_huge_page(page)) {
		folio_unlock(folio);
		ksm_zero_thp.kept = folio;
		return;
	}
	/* @page is still locked, and the reference is on it now. */
	unlock_page(page);
	*merged = ksm_claim_split_zero_pages(vma, pmd, idx, &claimed);
	*nr = claimed;
}

/* A new scan looks at every large folio again. */
static void zero_large_folios_forget(void)
{
	ksm_zero_thp.kept = NULL;
}

/*
 * run=2 starts afresh: the hints and marks go too, so that a folio is
 * judged by its own content again, not by what a folio at a pfn of the
 * same hash was (a mark has a folio read twice). The caller holds
 * ksm_thread_mutex.
 */
static void zero_large_folios_reset(void)
{
	zero_large_folios_forget();
	memset(ksm_zero_hints, 0, sizeof(ksm_zero_hints));
	bitmap_zero(ksm_zero_fooled, 1 << ZERO_FOOLED_BITS);
}

/* The last large folio left whole, to be compared only. */
static inline struct folio *zero_large_folio_kept(void)
{
	return ksm_zero_thp.kept;
}
#else
static inline void merge_zero_large_folio(struct vm_area_struct *vma,
					  unsigned long addr, struct page *page,
					  unsigned int *nr, unsigned int *merged,
					  bool may_split)
{
}

static inline void zero_large_folios_forget(void)
{
}

static inline void zero_large_folios_reset(void)
{
}

static inline struct folio *zero_large_folio_kept(void)
{
	return NULL;
}
#endif /* CONFIG_TRANSPARENT_HUGEPAGE */

/*
 * try_to_merge_with_zero_page - replace @page, and the zero-filled pages
 * after it, by the zero page
 * @nr: in, the most pages to merge from @page on; out, how many were
 *      merged from @page on without a gap
 * @merged: out, how many were merged in all
 *
 * Returns 0 if @page was merged, is no longer a merging candidate (its vma
 * went away) or is a page of a large folio (merge_zero_large_folio() deals
 * with those), -EFAULT otherwise, also when the vma may not map the zero
 * page (vma_zero_mergeable()).
 */
static int try_to_merge_with_zero_page(struct ksm_rmap_item *rmap_item,
				       struct page *page, unsigned int *nr,
				       unsigned int *merged)
{
	unsigned long addr = rmap_item->address & PAGE_MASK;
	struct mm_struct *mm = rmap_item->mm;
	struct folio *folio = page_folio(page);
	struct vm_area_struct *vma;
	unsigned int max = *nr;
	int err = -EFAULT;

	*nr = 0;
	*merged = 0;
	/*
	 * A pinned page is not worth a lock, a read, a TLB flush and an mmu
	 * notifier call on every scan: merge_zero_run() checks again.
	 */
	if (!folio_test_large(folio) && !folio_refs_explained(folio, 1))
		return -EFAULT;
	mmap_read_lock(mm);
	vma = find_zero_mergeable_vma(rmap_item, addr);
	if (!vma) {
		/*
		 * If the vma is out of date, we do not need to
		 * continue.
		 */
		err = 0;
	} else if (!vma_zero_mergeable(vma)) {
		/* Go on to the trees, but for a large folio: keep it whole. */
		if (folio_test_large(folio))
			err = 0;
	} else if (folio_test_large(folio)) {
		/* A THP that its owner did not register is never split. */
		merge_zero_large_folio(vma, addr, page, nr, merged,
				       vma->vm_flags & VM_MERGEABLE);
		err = 0;
		if (*merged)
			trace_ksm_merge_one_page(my_zero_pfn(addr), rmap_item,
						 mm, 0);
	} else if ((is_zero_only_item(rmap_item) && !zero_page_may_refuse()) ||
		   page_zero_mergeable(page, addr)) {
		/*
		 * Checked before the PTEs are cleared, so that a page whose
		 * checksum only equals the zero page's (a page made for it
		 * can) or that the architecture refuses although it reads as
		 * zeroes (arm64 with MTE tags) costs a read on every scan,
		 * not a TLB flush and an mmu notifier range (KVM zaps its
		 * mapping). For zero_pages_scope "all" the caller has just
		 * found the page zero-filled, with the same read.
		 */
		max = min(max, ZERO_RUN_MAX);
		max = min_t(unsigned long, max,
			    (pmd_addr_end(addr, vma->vm_end) - addr) >> PAGE_SHIFT);
		*nr = merge_zero_run(vma, addr, max, folio, rmap_item, merged);
		if (*nr)
			err = 0;
	}
	mmap_read_unlock(mm);

	return err;
}

/*
 * zero_merge_done - account for a zero merge from the page of @rmap_item on
 * @nr: pages merged from that page on without a gap
 * @merged: pages merged in all
 * @budget: pages the batch may still scan
 */
static void zero_merge_done(struct ksm_rmap_item *rmap_item, unsigned int nr,
			    unsigned int merged, unsigned int *budget)
{
	/* The pages merged besides the page itself count as scanned. */
	unsigned int others = merged - !!nr;

	*budget -= min(others, *budget);
	WRITE_ONCE(ksm_pages_scanned, ksm_pages_scanned + others);
	/*
	 * They get no rmap_item: the scan goes on after the first gap. Their
	 * old rmap_items, if any, are freed as stale when the scan passes.
	 */
	if (nr > 1)
		ksm_scan.address = max(ksm_scan.address,
				       (rmap_item->address & PAGE_MASK) +
				       nr * PAGE_SIZE);
}

/*
 * merge_zero_filled_page - the zero-page step of cmp_and_merge_page()
 * @page: a page with the checksum of the zero page
 * @rmap_item: the reverse mapping item of @page
 * @budget: pages the batch may still scan after @page; a zero run merged
 *          with @page takes its pages from it
 *
 * Once it has been seen zero-filled in zero_pages_min_age earlier scans,
 * @page is merged with the zero page, at first sight by default, together
 * with the zero-filled pages that follow it (see "Merging zero-filled
 * pages"). Returns true when @page is done with for this scan (merged, or
 * not old enough yet), false when it should go on to the trees like any
 * other page, which is also what happens when the merge fails.
 */
static bool merge_zero_filled_page(struct page *page,
				   struct ksm_rmap_item *rmap_item,
				   unsigned int *budget)
{
	unsigned int min_age = READ_ONCE(ksm_zero_pages_min_age);
	unsigned int nr, merged;
	int err;

	if (rmap_item->zero_age < min_age) {
		rmap_item->zero_age++;
		rmap_item->oldchecksum = zero_checksum;
		return true;
	}
	/* Only pages that were old enough themselves join @page. */
	nr = min_age ? 1 : 1 + *budget;
	err = try_to_merge_with_zero_page(rmap_item, page, &nr, &merged);
	zero_merge_done(rmap_item, nr, merged, budget);
	return !err;
}

#ifdef CONFIG_KSM_ZERO_PAGES_ALL
/*
 * merge_zero_only_page - what ksmd does with a page of a vma that its owner
 * did not register (see "Zero pages in memory not registered")
 * @budget: pages the batch may still scan after @page
 */
static void merge_zero_only_page(struct page *page, unsigned int *budget)
{
	unsigned int nr = 1 + *budget, merged;
	struct folio *folio = page_folio(page);

	/*
	 * A large folio here is mapped by a PMD, which the scan moves past,
	 * or by PTEs and found at its first page, whose other pages the walk
	 * skips (ksm_next_page_pmd_entry()): it is looked at once.
	 */
	if (folio_test_large(folio) && folio == zero_large_folio_kept())
		return;
	if (ksm_page_poisoned(folio, page) || !page_zero_filled(page))
		return;
	try_to_merge_with_zero_page(&ksm_zero_only_item, page, &nr, &merged);
	zero_merge_done(&ksm_zero_only_item, nr, merged, budget);
}
#else
static inline void merge_zero_only_page(struct page *page,
					unsigned int *budget)
{
}
#endif

/*
 * try_to_merge_with_ksm_page - like try_to_merge_two_pages,
 * but no new kernel page is allocated: kpage must already be a ksm page.
 *
 * This function returns 0 if the pages were merged, -EFAULT otherwise.
 */
static int try_to_merge_with_ksm_page(struct ksm_rmap_item *rmap_item,
				      struct page *page, struct page *kpage)
{
	struct mm_struct *mm = rmap_item->mm;
	struct vm_area_struct *vma;
	int err = -EFAULT;

	mmap_read_lock(mm);
	vma = find_mergeable_vma(mm, rmap_item->address);
	if (!vma)
		goto out;

	err = try_to_merge_one_page(vma, page, kpage);
	if (err)
		goto out;

	/* Unstable nid is in union with stable anon_vma: remove first */
	remove_rmap_item_from_tree(rmap_item);

	/* Must get reference to anon_vma while still holding mmap_lock */
	rmap_item->anon_vma = vma->anon_vma;
	get_anon_vma(vma->anon_vma);
out:
	mmap_read_unlock(mm);
	trace_ksm_merge_with_ksm_page(kpage, page_to_pfn(kpage ? kpage : page),
				rmap_item, mm, err);
	return err;
}

/*
 * try_to_merge_two_pages - take two identical pages and prepare them
 * to be merged into one page.
 *
 * This function returns the kpage if we successfully merged two identical
 * pages into one ksm page, NULL otherwise.
 *
 * Note that this function upgrades page to ksm page: if one of the pages
 * is already a ksm page, try_to_merge_with_ksm_page should be used.
 */
static struct page *try_to_merge_two_pages(struct ksm_rmap_item *rmap_item,
					   struct page *page,
					   struct ksm_rmap_item *tree_rmap_item,
					   struct page *tree_page)
{
	int err;

	err = try_to_merge_with_ksm_page(rmap_item, page, NULL);
	if (!err) {
		err = try_to_merge_with_ksm_page(tree_rmap_item,
							tree_page, page);
		/*
		 * If that fails, we have a ksm page with only one pte
		 * pointing to it: so break it.
		 */
		if (err)
			break_cow(rmap_item);
	}
	return err ? NULL : page;
}

static __always_inline
bool __is_page_sharing_candidate(struct ksm_stable_node *stable_node, int offset)
{
	VM_BUG_ON(stable_node->rmap_hlist_len < 0);
	/*
	 * Check that at least one mapping still exists, otherwise
	 * there's no much point to merge and share with this
	 * stable_node, as the underlying tree_page of the other
	 * sharer is going to be freed soon.
	 */
	return stable_node->rmap_hlist_len &&
		stable_node->rmap_hlist_len + offset < ksm_max_page_sharing;
}

static __always_inline
bool is_page_sharing_candidate(struct ksm_stable_node *stable_node)
{
	return __is_page_sharing_candidate(stable_node, 0);
}

static struct folio *stable_node_dup(struct ksm_stable_node **_stable_node_dup,
				     struct ksm_stable_node **_stable_node,
				     struct rb_root *root,
				     bool prune_stale_stable_nodes)
{
	struct ksm_stable_node *dup, *found = NULL, *stable_node = *_stable_node;
	struct hlist_node *hlist_safe;
	struct folio *folio, *tree_folio = NULL;
	int found_rmap_hlist_len;

	if (!prune_stale_stable_nodes ||
	    time_before(jiffies, stable_node->chain_prune_time +
			msecs_to_jiffies(
				ksm_stable_node_chains_prune_millisecs)))
		prune_stale_stable_nodes = false;
	else
		stable_node->chain_prune_time = jiffies;

	hlist_for_each_entry_safe(dup, hlist_safe,
				  &stable_node->hlist, hlist_dup) {
		cond_resched();
		/*
		 * We must walk all stable_node_dup to prune the stale
		 * stable nodes during lookup.
		 *
		 * ksm_get_folio can drop the nodes from the
		 * stable_node->hlist if they point to freed pages
		 * (that's why we do a _safe walk). The "dup"
		 * stable_node parameter itself will be freed from
		 * under us if it returns NULL.
		 */
		folio = ksm_get_folio(dup, KSM_GET_FOLIO_NOLOCK);
		if (!folio)
			continue;
		/* Pick the best candidate if possible. */
		if (!found || (is_page_sharing_candidate(dup) &&
		    (!is_page_sharing_candidate(found) ||
		     dup->rmap_hlist_len > found_rmap_hlist_len))) {
			if (found)
				folio_put(tree_folio);
			found = dup;
			found_rmap_hlist_len = found->rmap_hlist_len;
			tree_folio = folio;
			/* skip put_page for found candidate */
			if (!prune_stale_stable_nodes &&
			    is_page_sharing_candidate(found))
				break;
			continue;
		}
		folio_put(folio);
	}

	if (found) {
		if (hlist_is_singular_node(&found->hlist_dup, &stable_node->hlist)) {
			/*
			 * If there's not just one entry it would
			 * corrupt memory, better BUG_ON. In KSM
			 * context with no lock held it's not even
			 * fatal.
			 */
			BUG_ON(stable_node->hlist.first->next);

			/*
			 * There's just one entry and it is below the
			 * deduplication limit so drop the chain.
			 */
			rb_replace_node(&stable_node->node, &found->node,
					root);
			free_stable_node(stable_node);
			ksm_stable_node_chains--;
			ksm_stable_node_dups--;
			/*
			 * NOTE: the caller depends on the stable_node
			 * to be equal to stable_node_dup if the chain
			 * was collapsed.
			 */
			*_stable_node = found;
			/*
			 * Just for robustness, as stable_node is
			 * otherwise left as a stable pointer, the
			 * compiler shall optimize it away at build
			 * time.
			 */
			stable_node = NULL;
		} else if (stable_node->hlist.first != &found->hlist_dup &&
			   __is_page_sharing_candidate(found, 1)) {
			/*
			 * If the found stable_node dup can accept one
			 * more future merge (in addition to the one
			 * that is underway) and is not at the head of
			 * the chain, put it there so next search will
			 * be quicker in the !prune_stale_stable_nodes
			 * case.
			 *
			 * NOTE: it would be inaccurate to use nr > 1
			 * instead of checking the hlist.first pointer
			 * directly, because in the
			 * prune_stale_stable_nodes case "nr" isn't
			 * the position of the found dup in the chain,
			 * but the total number of dups in the chain.
			 */
			hlist_del(&found->hlist_dup);
			hlist_add_head(&found->hlist_dup,
				       &stable_node->hlist);
		}
	} else {
		/* Its hlist must be empty if no one found. */
		free_stable_node_chain(stable_node, root);
	}

	*_stable_node_dup = found;
	return tree_folio;
}

/*
 * Like for ksm_get_folio, this function can free the *_stable_node and
 * *_stable_node_dup if the returned tree_page is NULL.
 *
 * It can also free and overwrite *_stable_node with the found
 * stable_node_dup if the chain is collapsed (in which case
 * *_stable_node will be equal to *_stable_node_dup like if the chain
 * never existed). It's up to the caller to verify tree_page is not
 * NULL before dereferencing *_stable_node or *_stable_node_dup.
 *
 * *_stable_node_dup is really a second output parameter of this
 * function and will be overwritten in all cases, the caller doesn't
 * need to initialize it.
 */
static struct folio *__stable_node_chain(struct ksm_stable_node **_stable_node_dup,
					 struct ksm_stable_node **_stable_node,
					 struct rb_root *root,
					 bool prune_stale_stable_nodes)
{
	struct ksm_stable_node *stable_node = *_stable_node;

	if (!is_stable_node_chain(stable_node)) {
		*_stable_node_dup = stable_node;
		return ksm_get_folio(stable_node, KSM_GET_FOLIO_NOLOCK);
	}
	return stable_node_dup(_stable_node_dup, _stable_node, root,
			       prune_stale_stable_nodes);
}

static __always_inline struct folio *chain_prune(struct ksm_stable_node **s_n_d,
						 struct ksm_stable_node **s_n,
						 struct rb_root *root)
{
	return __stable_node_chain(s_n_d, s_n, root, true);
}

static __always_inline struct folio *chain(struct ksm_stable_node **s_n_d,
					   struct ksm_stable_node **s_n,
					   struct rb_root *root)
{
	return __stable_node_chain(s_n_d, s_n, root, false);
}

/*
 * stable_tree_search - search for page inside the stable tree
 *
 * This function checks if there is a page inside the stable tree
 * with identical content to the page that we are scanning right now.
 *
 * This function returns the stable tree node of identical content if found,
 * NULL otherwise.
 */
static struct page *stable_tree_search(struct page *page)
{
	int nid;
	struct rb_root *root;
	struct rb_node **new;
	struct rb_node *parent;
	struct ksm_stable_node *stable_node, *stable_node_dup;
	struct ksm_stable_node *page_node;
	struct folio *folio;

	folio = page_folio(page);
	page_node = folio_stable_node(folio);
	if (page_node && page_node->head != &migrate_nodes) {
		/* ksm page forked */
		folio_get(folio);
		return &folio->page;
	}

	nid = get_kpfn_nid(folio_pfn(folio));
	root = root_stable_tree + nid;
again:
	new = &root->rb_node;
	parent = NULL;

	while (*new) {
		struct folio *tree_folio;
		int ret;

		cond_resched();
		stable_node = rb_entry(*new, struct ksm_stable_node, node);
		tree_folio = chain_prune(&stable_node_dup, &stable_node, root);
		if (!tree_folio) {
			/*
			 * If we walked over a stale stable_node,
			 * ksm_get_folio() will call rb_erase() and it
			 * may rebalance the tree from under us. So
			 * restart the search from scratch. Returning
			 * NULL would be safe too, but we'd generate
			 * false negative insertions just because some
			 * stable_node was stale.
			 */
			goto again;
		}

		ret = memcmp_pages(page, &tree_folio->page);
		folio_put(tree_folio);

		parent = *new;
		if (ret < 0)
			new = &parent->rb_left;
		else if (ret > 0)
			new = &parent->rb_right;
		else {
			if (page_node) {
				VM_BUG_ON(page_node->head != &migrate_nodes);
				/*
				 * If the mapcount of our migrated KSM folio is
				 * at most 1, we can merge it with another
				 * KSM folio where we know that we have space
				 * for one more mapping without exceeding the
				 * ksm_max_page_sharing limit: see
				 * chain_prune(). This way, we can avoid adding
				 * this stable node to the chain.
				 */
				if (folio_mapcount(folio) > 1)
					goto chain_append;
			}

			if (!is_page_sharing_candidate(stable_node_dup)) {
				/*
				 * If the stable_node is a chain and
				 * we got a payload match in memcmp
				 * but we cannot merge the scanned
				 * page in any of the existing
				 * stable_node dups because they're
				 * all full, we need to wait the
				 * scanned page to find itself a match
				 * in the unstable tree to create a
				 * brand new KSM page to add later to
				 * the dups of this stable_node.
				 */
				return NULL;
			}

			/*
			 * Lock and unlock the stable_node's page (which
			 * might already have been migrated) so that page
			 * migration is sure to notice its raised count.
			 * It would be more elegant to return stable_node
			 * than kpage, but that involves more changes.
			 */
			tree_folio = ksm_get_folio(stable_node_dup,
						   KSM_GET_FOLIO_TRYLOCK);

			if (PTR_ERR(tree_folio) == -EBUSY)
				return ERR_PTR(-EBUSY);

			if (unlikely(!tree_folio))
				/*
				 * The tree may have been rebalanced,
				 * so re-evaluate parent and new.
				 */
				goto again;
			folio_unlock(tree_folio);

			if (get_kpfn_nid(stable_node_dup->kpfn) !=
			    NUMA(stable_node_dup->nid)) {
				folio_put(tree_folio);
				goto replace;
			}
			return &tree_folio->page;
		}
	}

	if (!page_node)
		return NULL;

	list_del(&page_node->list);
	DO_NUMA(page_node->nid = nid);
	rb_link_node(&page_node->node, parent, new);
	rb_insert_color(&page_node->node, root);
out:
	if (is_page_sharing_candidate(page_node)) {
		folio_get(folio);
		return &folio->page;
	} else
		return NULL;

replace:
	/*
	 * If stable_node was a chain and chain_prune collapsed it,
	 * stable_node has been updated to be the new regular
	 * stable_node. A collapse of the chain is indistinguishable
	 * from the case there was no chain in the stable
	 * rbtree. Otherwise stable_node is the chain and
	 * stable_node_dup is the dup to replace.
	 */
	if (stable_node_dup == stable_node) {
		VM_BUG_ON(is_stable_node_chain(stable_node_dup));
		VM_BUG_ON(is_stable_node_dup(stable_node_dup));
		/* there is no chain */
		if (page_node) {
			VM_BUG_ON(page_node->head != &migrate_nodes);
			list_del(&page_node->list);
			DO_NUMA(page_node->nid = nid);
			rb_replace_node(&stable_node_dup->node,
					&page_node->node,
					root);
			if (is_page_sharing_candidate(page_node))
				folio_get(folio);
			else
				folio = NULL;
		} else {
			rb_erase(&stable_node_dup->node, root);
			folio = NULL;
		}
	} else {
		VM_BUG_ON(!is_stable_node_chain(stable_node));
		__stable_node_dup_del(stable_node_dup);
		if (page_node) {
			VM_BUG_ON(page_node->head != &migrate_nodes);
			list_del(&page_node->list);
			DO_NUMA(page_node->nid = nid);
			stable_node_chain_add_dup(page_node, stable_node);
			if (is_page_sharing_candidate(page_node))
				folio_get(folio);
			else
				folio = NULL;
		} else {
			folio = NULL;
		}
	}
	stable_node_dup->head = &migrate_nodes;
	list_add(&stable_node_dup->list, stable_node_dup->head);
	return &folio->page;

chain_append:
	/*
	 * If stable_node was a chain and chain_prune collapsed it,
	 * stable_node has been updated to be the new regular
	 * stable_node. A collapse of the chain is indistinguishable
	 * from the case there was no chain in the stable
	 * rbtree. Otherwise stable_node is the chain and
	 * stable_node_dup is the dup to replace.
	 */
	if (stable_node_dup == stable_node) {
		VM_BUG_ON(is_stable_node_dup(stable_node_dup));
		/* chain is missing so create it */
		stable_node = alloc_stable_node_chain(stable_node_dup,
						      root);
		if (!stable_node)
			return NULL;
	}
	/*
	 * Add this stable_node dup that was
	 * migrated to the stable_node chain
	 * of the current nid for this page
	 * content.
	 */
	VM_BUG_ON(!is_stable_node_dup(stable_node_dup));
	VM_BUG_ON(page_node->head != &migrate_nodes);
	list_del(&page_node->list);
	DO_NUMA(page_node->nid = nid);
	stable_node_chain_add_dup(page_node, stable_node);
	goto out;
}

/*
 * stable_tree_insert - insert stable tree node pointing to new ksm page
 * into the stable tree.
 *
 * This function returns the stable tree node just allocated on success,
 * NULL otherwise.
 */
static struct ksm_stable_node *stable_tree_insert(struct folio *kfolio)
{
	int nid;
	unsigned long kpfn;
	struct rb_root *root;
	struct rb_node **new;
	struct rb_node *parent;
	struct ksm_stable_node *stable_node, *stable_node_dup;
	bool need_chain = false;

	kpfn = folio_pfn(kfolio);
	nid = get_kpfn_nid(kpfn);
	root = root_stable_tree + nid;
again:
	parent = NULL;
	new = &root->rb_node;

	while (*new) {
		struct folio *tree_folio;
		int ret;

		cond_resched();
		stable_node = rb_entry(*new, struct ksm_stable_node, node);
		tree_folio = chain(&stable_node_dup, &stable_node, root);
		if (!tree_folio) {
			/*
			 * If we walked over a stale stable_node,
			 * ksm_get_folio() will call rb_erase() and it
			 * may rebalance the tree from under us. So
			 * restart the search from scratch. Returning
			 * NULL would be safe too, but we'd generate
			 * false negative insertions just because some
			 * stable_node was stale.
			 */
			goto again;
		}

		ret = memcmp_pages(&kfolio->page, &tree_folio->page);
		folio_put(tree_folio);

		parent = *new;
		if (ret < 0)
			new = &parent->rb_left;
		else if (ret > 0)
			new = &parent->rb_right;
		else {
			need_chain = true;
			break;
		}
	}

	stable_node_dup = alloc_stable_node();
	if (!stable_node_dup)
		return NULL;

	INIT_HLIST_HEAD(&stable_node_dup->hlist);
	stable_node_dup->kpfn = kpfn;
	stable_node_dup->rmap_hlist_len = 0;
	DO_NUMA(stable_node_dup->nid = nid);
	if (!need_chain) {
		rb_link_node(&stable_node_dup->node, parent, new);
		rb_insert_color(&stable_node_dup->node, root);
	} else {
		if (!is_stable_node_chain(stable_node)) {
			struct ksm_stable_node *orig = stable_node;
			/* chain is missing so create it */
			stable_node = alloc_stable_node_chain(orig, root);
			if (!stable_node) {
				free_stable_node(stable_node_dup);
				return NULL;
			}
		}
		stable_node_chain_add_dup(stable_node_dup, stable_node);
	}

	folio_set_stable_node(kfolio, stable_node_dup);

	return stable_node_dup;
}

/*
 * unstable_tree_search_insert - search for identical page,
 * else insert rmap_item into the unstable tree.
 *
 * This function searches for a page in the unstable tree identical to the
 * page currently being scanned; and if no identical page is found in the
 * tree, we insert rmap_item as a new object into the unstable tree.
 *
 * This function returns pointer to rmap_item found to be identical
 * to the currently scanned page, NULL otherwise.
 *
 * This function does both searching and inserting, because they share
 * the same walking algorithm in an rbtree.
 */
static
struct ksm_rmap_item *unstable_tree_search_insert(struct ksm_rmap_item *rmap_item,
					      struct page *page,
					      struct page **tree_pagep)
{
	struct rb_node **new;
	struct rb_root *root;
	struct rb_node *parent = NULL;
	int nid;

	nid = get_kpfn_nid(page_to_pfn(page));
	root = root_unstable_tree + nid;
	new = &root->rb_node;

	while (*new) {
		struct ksm_rmap_item *tree_rmap_item;
		struct page *tree_page;
		int ret;

		cond_resched();
		tree_rmap_item = rb_entry(*new, struct ksm_rmap_item, node);
		tree_page = get_mergeable_page(tree_rmap_item);
		if (!tree_page)
			return NULL;

		/*
		 * Don't substitute a ksm page for a forked page.
		 */
		if (page == tree_page) {
			put_page(tree_page);
			return NULL;
		}

		ret = memcmp_pages(page, tree_page);

		parent = *new;
		if (ret < 0) {
			put_page(tree_page);
			new = &parent->rb_left;
		} else if (ret > 0) {
			put_page(tree_page);
			new = &parent->rb_right;
		} else if (!ksm_merge_across_nodes &&
			   page_to_nid(tree_page) != nid) {
			/*
			 * If tree_page has been migrated to another NUMA node,
			 * it will be flushed out and put in the right unstable
			 * tree next time: only merge with it when across_nodes.
			 */
			put_page(tree_page);
			return NULL;
		} else {
			*tree_pagep = tree_page;
			return tree_rmap_item;
		}
	}

	rmap_item->address |= UNSTABLE_FLAG;
	rmap_item->address |= (ksm_scan.seqnr & SEQNR_MASK);
	DO_NUMA(rmap_item->nid = nid);
	rb_link_node(&rmap_item->node, parent, new);
	rb_insert_color(&rmap_item->node, root);

	ksm_pages_unshared++;
	ksm_refresh.items++;
	return NULL;
}

/*
 * stable_tree_append - add another rmap_item to the linked list of
 * rmap_items hanging off a given node of the stable tree, all sharing
 * the same ksm page.
 */
static void stable_tree_append(struct ksm_rmap_item *rmap_item,
			       struct ksm_stable_node *stable_node,
			       bool max_page_sharing_bypass)
{
	/*
	 * rmap won't find this mapping if we don't insert the
	 * rmap_item in the right stable_node
	 * duplicate. page_migration could break later if rmap breaks,
	 * so we can as well crash here. We really need to check for
	 * rmap_hlist_len == STABLE_NODE_CHAIN, but we can as well check
	 * for other negative values as an underflow if detected here
	 * for the first time (and not when decreasing rmap_hlist_len)
	 * would be sign of memory corruption in the stable_node.
	 */
	BUG_ON(stable_node->rmap_hlist_len < 0);

	stable_node->rmap_hlist_len++;
	if (!max_page_sharing_bypass)
		/* possibly non fatal but unexpected overflow, only warn */
		WARN_ON_ONCE(stable_node->rmap_hlist_len >
			     ksm_max_page_sharing);

	rmap_item->head = stable_node;
	rmap_item->address |= STABLE_FLAG;
	hlist_add_head(&rmap_item->hlist, &stable_node->hlist);

	if (rmap_item->hlist.next)
		ksm_pages_sharing++;
	else
		ksm_pages_shared++;

	rmap_item->mm->ksm_merging_pages++;
}

/*
 * cmp_and_merge_page - first see if page can be merged into the stable tree;
 * if not, compare checksum to previous and if it's the same, see if page can
 * be inserted into the unstable tree, or merged with a page already there and
 * both transferred to the stable tree.
 *
 * @page: the page that we are searching identical page to.
 * @rmap_item: the reverse mapping into the virtual address of this page
 * @budget: pages the batch may still scan; a run of zero-filled pages merged
 *          together with @page takes from it
 */
static void cmp_and_merge_page(struct page *page, struct ksm_rmap_item *rmap_item,
			       unsigned int *budget)
{
	struct ksm_rmap_item *tree_rmap_item;
	struct page *tree_page = NULL;
	struct ksm_stable_node *stable_node;
	struct page *kpage;
	unsigned int checksum;
	int err;
	bool max_page_sharing_bypass = false;

	stable_node = page_stable_node(page);
	if (stable_node) {
		if (stable_node->head != &migrate_nodes &&
		    get_kpfn_nid(READ_ONCE(stable_node->kpfn)) !=
		    NUMA(stable_node->nid)) {
			stable_node_dup_del(stable_node);
			stable_node->head = &migrate_nodes;
			list_add(&stable_node->list, stable_node->head);
		}
		if (stable_node->head != &migrate_nodes &&
		    rmap_item->head == stable_node)
			return;
		/*
		 * If it's a KSM fork, allow it to go over the sharing limit
		 * without warnings.
		 */
		if (!is_page_sharing_candidate(stable_node))
			max_page_sharing_bypass = true;
	} else {
		remove_rmap_item_from_tree(rmap_item);

		/* Poisoned since the scan found it? Then it is not read. */
		if (ksm_page_poisoned(page_folio(page), page))
			return;

		/*
		 * A zero-filled page is merged with the zero page before the
		 * checksum gate, if the user enabled this via sysfs. If that
		 * fails, it goes on like any other page.
		 */
		checksum = calc_checksum(page);
		if (ksm_use_zero_pages && checksum == zero_checksum) {
			if (merge_zero_filled_page(page, rmap_item, budget))
				return;
		} else {
			rmap_item->zero_age = 0;
		}

		/*
		 * If the hash value of the page has changed from the last time
		 * we calculated it, this page is changing frequently: therefore we
		 * don't want to insert it in the unstable tree, and we don't want
		 * to waste our time searching for something identical to it there.
		 */
		if (rmap_item->oldchecksum != checksum) {
			rmap_item->oldchecksum = checksum;
			return;
		}
	}

	/*
	 * Poisoned since the scan found it? The trees' memcmp_pages() would
	 * read it, a KSM page too (the scan lets those through).
	 */
	if (ksm_page_poisoned(page_folio(page), page))
		return;

	/* We first start with searching the page inside the stable tree */
	kpage = stable_tree_search(page);
	if (kpage == page && rmap_item->head == stable_node) {
		put_page(kpage);
		return;
	}

	remove_rmap_item_from_tree(rmap_item);

	if (kpage) {
		if (PTR_ERR(kpage) == -EBUSY)
			return;

		err = try_to_merge_with_ksm_page(rmap_item, page, kpage);
		if (!err) {
			/*
			 * The page was successfully merged:
			 * add its rmap_item to the stable tree.
			 */
			lock_page(kpage);
			stable_tree_append(rmap_item, page_stable_node(kpage),
					   max_page_sharing_bypass);
			unlock_page(kpage);
		}
		put_page(kpage);
		return;
	}

	tree_rmap_item =
		unstable_tree_search_insert(rmap_item, page, &tree_page);
	if (tree_rmap_item) {
		bool split;

		kpage = try_to_merge_two_pages(rmap_item, page,
						tree_rmap_item, tree_page);
		/*
		 * If both pages we tried to merge belong to the same compound
		 * page, then we actually ended up increasing the reference
		 * count of the same compound page twice, and split_huge_page
		 * failed.
		 * Here we set a flag if that happened, and we use it later to
		 * try split_huge_page again. Since we call put_page right
		 * afterwards, the reference count will be correct and
		 * split_huge_page should succeed.
		 */
		split = PageTransCompound(page)
			&& compound_head(page) == compound_head(tree_page);
		put_page(tree_page);
		if (kpage) {
			/*
			 * The pages were successfully merged: insert new
			 * node in the stable tree and add both rmap_items.
			 */
			lock_page(kpage);
			stable_node = stable_tree_insert(page_folio(kpage));
			if (stable_node) {
				stable_tree_append(tree_rmap_item, stable_node,
						   false);
				stable_tree_append(rmap_item, stable_node,
						   false);
			}
			unlock_page(kpage);

			/*
			 * If we fail to insert the page into the stable tree,
			 * we will have 2 virtual addresses that are pointing
			 * to a ksm page left outside the stable tree,
			 * in which case we need to break_cow on both.
			 */
			if (!stable_node) {
				break_cow(tree_rmap_item);
				break_cow(rmap_item);
			}
		} else if (split) {
			/*
			 * We are here if we tried to merge two pages and
			 * failed because they both belonged to the same
			 * compound page. We will split the page now, but no
			 * merging will take place.
			 * We do not want to add the cost of a full lock; if
			 * the page is locked, it is better to skip it and
			 * perhaps try again later.
			 */
			if (!trylock_page(page))
				return;
			split_huge_page(page);
			unlock_page(page);
		}
	}
}

static struct ksm_rmap_item *get_next_rmap_item(struct ksm_mm_slot *mm_slot,
					    struct ksm_rmap_item **rmap_list,
					    unsigned long addr)
{
	struct ksm_rmap_item *rmap_item;

	while (*rmap_list) {
		rmap_item = *rmap_list;
		if ((rmap_item->address & PAGE_MASK) == addr)
			return rmap_item;
		if (rmap_item->address > addr)
			break;
		*rmap_list = rmap_item->rmap_list;
		remove_rmap_item_from_tree(rmap_item);
		free_rmap_item(rmap_item);
	}

	rmap_item = alloc_rmap_item();
	if (rmap_item) {
		/* It has already been zeroed */
		rmap_item->mm = mm_slot->slot.mm;
		rmap_item->mm->ksm_rmap_items++;
		rmap_item->address = addr;
		rmap_item->rmap_list = *rmap_list;
		*rmap_list = rmap_item;
	}
	return rmap_item;
}

/*
 * Calculate skip age for the ksm page age. The age determines how often
 * de-duplicating has already been tried unsuccessfully. If the age is
 * smaller, the scanning of this page is skipped for less scans.
 *
 * @age: rmap_item age of page
 */
static unsigned int skip_age(rmap_age_t age)
{
	if (age <= 3)
		return 1;
	if (age <= 5)
		return 2;
	if (age <= 8)
		return 4;

	return 8;
}

/*
 * Determines if a page should be skipped for the current scan.
 *
 * @page: page to check
 * @rmap_item: associated rmap_item of page
 */
static bool should_skip_rmap_item(struct page *page,
				  struct ksm_rmap_item *rmap_item)
{
	rmap_age_t age;

	if (!ksm_smart_scan)
		return false;

	/*
	 * Never skip pages that are already KSM; pages cmp_and_merge_page()
	 * will essentially ignore them, but we still have to process them
	 * properly.
	 */
	if (PageKsm(page))
		return false;

	age = rmap_item->age;
	if (age != U8_MAX)
		rmap_item->age++;

	/*
	 * Smaller ages are not skipped, they need to get a chance to go
	 * through the different phases of the KSM merging.
	 */
	if (age < 3)
		return false;

	/*
	 * Are we still allowed to skip? If not, then don't skip it
	 * and determine how much more often we are allowed to skip next.
	 */
	if (!rmap_item->remaining_skips) {
		rmap_item->remaining_skips = skip_age(age);
		return false;
	}

	/* Skip this page */
	ksm_pages_skipped++;
	rmap_item->remaining_skips--;
	remove_rmap_item_from_tree(rmap_item);
	return true;
}

struct ksm_next_page_arg {
	struct folio *folio;
	struct page *page;
	unsigned long addr;	/* out: address of the page found, or where to resume */
	unsigned int may_pass;	/* in: how many pages may be passed over */
	unsigned int passed;	/* out: pages passed over, not zero-filled */
	bool zero_only;		/* in: a vma that its owner did not register */
	bool pmd_mapped;	/* out: the folio found is mapped by the PMD */
};

/* What ksm_next_page_pmd_entry() returns, besides 0 (no page up to the end) */
enum {
	KSM_NEXT_PAGE_FOUND = 1,	/* a page to scan, with a reference */
	KSM_NEXT_PAGE_PAUSED,		/* may_pass spent, or need_resched() */
};

/*
 * The pages that one walk of a vma that its owner did not register may pass
 * over, under one hold of mmap_lock, and at most that many under one page
 * table lock: a few words of each are read, and with 64K pages a page
 * table maps 8192 of them.
 */
#define ZERO_ONLY_PASS_MAX	64U

/*
 * zero_only_may_pass - the walk may pass over @page, mapped at @addr in a
 * vma that its owner did not register: it does not look zero-filled
 *
 * There it could only be merged with the zero page, which
 * merge_zero_only_page() would refuse as soon as it read the page: the few
 * words that show the page is not zero-filled are read here, under the page
 * table lock already held, not after a reference is taken, the locks
 * dropped and the page handed to ksm_do_scan(), which was most of ksmd's
 * time on such memory. @page is a small folio or the first page of a large
 * one, which merge_zero_only_page() would refuse the same way.
 */
static bool zero_only_may_pass(struct ksm_next_page_arg *private,
			       struct vm_area_struct *vma, struct page *page,
			       unsigned long addr)
{
	return private->zero_only && !page_maybe_zero(vma, page, addr);
}

static int ksm_next_page_pmd_entry(pmd_t *pmdp, unsigned long addr, unsigned long end,
		struct mm_walk *walk)
{
	struct ksm_next_page_arg *private = walk->private;
	struct vm_area_struct *vma = walk->vma;
	pte_t *start_ptep = NULL, *ptep, pte;
	struct mm_struct *mm = walk->mm;
	struct folio *folio;
	struct page *page;
	spinlock_t *ptl;
	pmd_t pmd;

	if (ksm_test_exit(mm))
		return 0;

	cond_resched();

	pmd = pmdp_get_lockless(pmdp);
	if (!pmd_present(pmd))
		return 0;

	if (IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE) && pmd_leaf(pmd)) {
		ptl = pmd_lock(mm, pmdp);
		pmd = pmdp_get(pmdp);

		if (!pmd_present(pmd)) {
			goto not_found_unlock;
		} else if (pmd_leaf(pmd)) {
			page = vm_normal_page_pmd(vma, addr, pmd);
			if (!page)
				goto not_found_unlock;
			folio = page_folio(page);

			if (folio_is_zone_device(folio) || !folio_test_anon(folio))
				goto not_found_unlock;

			page += ((addr & (PMD_SIZE - 1)) >> PAGE_SHIFT);
			if (!folio_test_ksm(folio) &&
			    ksm_page_poisoned(folio, page))
				goto not_found_unlock;
			private->pmd_mapped = true;
			goto found_unlock;
		}
		spin_unlock(ptl);
	}

	start_ptep = pte_offset_map_lock(mm, pmdp, addr, &ptl);
	if (!start_ptep)
		return 0;

	for (ptep = start_ptep; addr < end; ptep++, addr += PAGE_SIZE) {
		pte = ptep_get(ptep);

		if (!pte_present(pte))
			continue;

		page = vm_normal_page(vma, addr, pte);
		if (!page)
			continue;
		folio = page_folio(page);

		if (folio_is_zone_device(folio) || !folio_test_anon(folio) ||
		    (!folio_test_ksm(folio) && ksm_page_poisoned(folio, page)))
			continue;
		/*
		 * A large folio in a vma that its owner did not register is
		 * never split: it can only be given back whole, which
		 * merge_zero_only_page() tries from its first page. No
		 * reference on its other pages: a split, a migration or
		 * MADV_PAGEOUT of it would fail while ksmd held one.
		 */
		if (private->zero_only && folio_test_large(folio) &&
		    page != folio_page(folio, 0))
			continue;
		if (zero_only_may_pass(private, vma, page, addr)) {
			/* Counted against the batch, as a page scanned. */
			if (++private->passed >= private->may_pass ||
			    need_resched()) {
				private->addr = addr + PAGE_SIZE;
				spin_unlock(ptl);
				pte_unmap(start_ptep);
				return KSM_NEXT_PAGE_PAUSED;
			}
			continue;
		}
		goto found_unlock;
	}

not_found_unlock:
	spin_unlock(ptl);
	if (start_ptep)
		pte_unmap(start_ptep);
	return 0;
found_unlock:
	folio_get(folio);
	spin_unlock(ptl);
	if (start_ptep)
		pte_unmap(start_ptep);
	private->page = page;
	private->folio = folio;
	private->addr = addr;
	return KSM_NEXT_PAGE_FOUND;
}

static struct mm_walk_ops ksm_next_page_ops = {
	.pmd_entry = ksm_next_page_pmd_entry,
	.walk_lock = PGWALK_RDLOCK,
};

/*
 * scan_get_next_rmap_item - find the next page to scan
 * @page: the page found, with a reference held
 * @budget: the pages the batch has left, at least 1; those passed over in
 *          a vma that its owner did not register are taken from it
 *
 * Returns the rmap_item of @page; NULL when there is nothing to scan: no
 * mm is registered, the last one is exiting, or the full scan is over
 * (ksm_scan.seqnr was advanced, and the next call starts a new one);
 * ERR_PTR(-EAGAIN) when the walk paused after passing over pages, with
 * mmap_lock dropped: the next call goes on from there.
 */
static struct ksm_rmap_item *scan_get_next_rmap_item(struct page **page,
						     unsigned int *budget)
{
	struct mm_struct *mm;
	struct ksm_mm_slot *mm_slot;
	struct mm_slot *slot;
	struct vm_area_struct *vma;
	struct ksm_rmap_item *rmap_item;
	struct vma_iterator vmi;
	int nid;

	VM_WARN_ON_ONCE(!*budget);
	if (list_empty(&ksm_mm_head.slot.mm_node))
		return NULL;

	mm_slot = ksm_scan.mm_slot;
	if (mm_slot == &ksm_mm_head) {
		advisor_start_scan();
		trace_ksm_start_scan(ksm_scan.seqnr, ksm_rmap_items);

		/*
		 * A number of pages can hang around indefinitely in per-cpu
		 * LRU cache, raised page count preventing write_protect_page
		 * from merging them.  Though it doesn't really matter much,
		 * it is puzzling to see some stuck in pages_volatile until
		 * other activity jostles them out, and they also prevented
		 * LTP's KSM test from succeeding deterministically; so drain
		 * them here (here rather than on entry to ksm_do_scan(),
		 * so we don't IPI too often when pages_to_scan is set low).
		 */
		lru_add_drain_all();

		/*
		 * Whereas stale stable_nodes on the stable_tree itself
		 * get pruned in the regular course of stable_tree_search(),
		 * those moved out to the migrate_nodes list can accumulate:
		 * so prune them once before each full scan.
		 */
		if (!ksm_merge_across_nodes) {
			struct ksm_stable_node *stable_node, *next;
			struct folio *folio;

			list_for_each_entry_safe(stable_node, next,
						 &migrate_nodes, list) {
				folio = ksm_get_folio(stable_node,
						      KSM_GET_FOLIO_NOLOCK);
				if (folio)
					folio_put(folio);
				cond_resched();
			}
		}

		for (nid = 0; nid < ksm_nr_node_ids; nid++)
			root_unstable_tree[nid] = RB_ROOT;
		refresh_cursor_reset();
		ksm_refresh.items = 0;
		zero_large_folios_forget();

		spin_lock(&ksm_mmlist_lock);
		slot = list_entry(mm_slot->slot.mm_node.next,
				  struct mm_slot, mm_node);
		mm_slot = mm_slot_entry(slot, struct ksm_mm_slot, slot);
		ksm_scan.mm_slot = mm_slot;
		spin_unlock(&ksm_mmlist_lock);
		/*
		 * Although we tested list_empty() above, a racing __ksm_exit
		 * of the last mm on the list may have removed it since then.
		 */
		if (mm_slot == &ksm_mm_head)
			return NULL;
next_mm:
		ksm_scan.address = 0;
		ksm_scan.rmap_list = &mm_slot->rmap_list;
	}

	slot = &mm_slot->slot;
	mm = slot->mm;
	vma_iter_init(&vmi, mm, ksm_scan.address);

	mmap_read_lock(mm);
	if (ksm_test_exit(mm))
		goto no_vmas;

	for_each_vma(vmi, vma) {
		/* Only zero pages, without rmap_items, if not registered. */
		bool zero_only = !(vma->vm_flags & VM_MERGEABLE);

		if (zero_only && !vma_zero_only_scannable(vma))
			continue;
		if (ksm_scan.address < vma->vm_start)
			ksm_scan.address = vma->vm_start;
		if (!vma->anon_vma)
			ksm_scan.address = vma->vm_end;

		while (ksm_scan.address < vma->vm_end) {
			struct ksm_next_page_arg ksm_next_page_arg = {
				.zero_only = zero_only,
				.may_pass = clamp(*budget, 1U, ZERO_ONLY_PASS_MAX),
			};
			struct page *tmp_page = NULL;
			struct folio *folio;

			if (ksm_test_exit(mm))
				break;

			int found;

			found = walk_page_range_vma(vma, ksm_scan.address,
						    vma->vm_end,
						    &ksm_next_page_ops,
						    &ksm_next_page_arg);

			if (ksm_next_page_arg.passed) {
				*budget -= min(ksm_next_page_arg.passed, *budget);
				WRITE_ONCE(ksm_pages_scanned, ksm_pages_scanned +
					   ksm_next_page_arg.passed);
			}
			if (found == KSM_NEXT_PAGE_PAUSED) {
				ksm_scan.address = ksm_next_page_arg.addr;
				mmap_read_unlock(mm);
				return ERR_PTR(-EAGAIN);
			}
			if (found == KSM_NEXT_PAGE_FOUND) {
				folio = ksm_next_page_arg.folio;
				tmp_page = ksm_next_page_arg.page;
				ksm_scan.address = ksm_next_page_arg.addr;
			} else {
				VM_WARN_ON_ONCE(found < 0);
				ksm_scan.address = vma->vm_end - PAGE_SIZE;
			}

			if (tmp_page) {
				flush_anon_page(vma, tmp_page, ksm_scan.address);
				flush_dcache_page(tmp_page);
				if (zero_only) {
					rmap_item = &ksm_zero_only_item;
					rmap_item->mm = mm;
					rmap_item->address = ksm_scan.address;
					ksm_scan.address += PAGE_SIZE;
					/*
					 * A THP is looked at once, from the
					 * page found: the scan moves past its
					 * PMD, which lies in the vma.
					 */
					if (ksm_next_page_arg.pmd_mapped)
						ksm_scan.address =
							(rmap_item->address & PMD_MASK) +
							PMD_SIZE;
					*page = tmp_page;
					mmap_read_unlock(mm);
					return rmap_item;
				}
				rmap_item = get_next_rmap_item(mm_slot,
					ksm_scan.rmap_list, ksm_scan.address);
				if (rmap_item) {
					ksm_scan.rmap_list =
							&rmap_item->rmap_list;

					if (should_skip_rmap_item(tmp_page, rmap_item)) {
						folio_put(folio);
						goto next_page;
					}

					ksm_scan.address += PAGE_SIZE;
					*page = tmp_page;
				} else {
					folio_put(folio);
				}
				mmap_read_unlock(mm);
				return rmap_item;
			}
next_page:
			ksm_scan.address += PAGE_SIZE;
			cond_resched();
		}
	}

	if (ksm_test_exit(mm)) {
no_vmas:
		ksm_scan.address = 0;
		ksm_scan.rmap_list = &mm_slot->rmap_list;
	}
	/*
	 * Nuke all the rmap_items that are above this current rmap:
	 * because there were no VM_MERGEABLE vmas with such addresses.
	 */
	remove_trailing_rmap_items(ksm_scan.rmap_list);

	spin_lock(&ksm_mmlist_lock);
	slot = list_entry(mm_slot->slot.mm_node.next,
			  struct mm_slot, mm_node);
	ksm_scan.mm_slot = mm_slot_entry(slot, struct ksm_mm_slot, slot);
	/*
	 * With zero_pages_scope "all" every user mm stays on the list, but
	 * one left without a vma (by a failed exec, which only mmdrop()s it)
	 * and one whose owner refused the scope. An mm with KSM zero pages
	 * stays for run=2 to find them.
	 */
	if (ksm_scan.address == 0 &&
	    (ksm_test_exit(mm) || !IS_ENABLED(CONFIG_KSM_ZERO_PAGES_ALL) ||
	     ((!ksm_zero_scope_all() || !mm->map_count ||
	       mm_zero_scope_refused(mm)) &&
	      mm_ksm_zero_pages(mm) <= 0))) {
		/*
		 * We've completed a full scan of all vmas, holding mmap_lock
		 * throughout, and found no VM_MERGEABLE (nor, for the zero
		 * pages of zero_pages_scope "all", a KSM zero page or a scope
		 * that keeps every mm): so do the same as
		 * __ksm_exit does to remove this mm from all our lists now.
		 * This applies either when cleaning up after __ksm_exit
		 * (but beware: we can reach here even before __ksm_exit),
		 * or when all VM_MERGEABLE areas have been unmapped (and
		 * mmap_lock then protects against race with MADV_MERGEABLE).
		 */
		hash_del(&mm_slot->slot.hash);
		list_del(&mm_slot->slot.mm_node);
		spin_unlock(&ksm_mmlist_lock);

		mm_slot_free(mm_slot_cache, mm_slot);
		/*
		 * Only clear MMF_VM_MERGEABLE. We must not clear
		 * MMF_VM_MERGE_ANY, because for those MMF_VM_MERGE_ANY process,
		 * perhaps their mm_struct has just been added to ksm_mm_slot
		 * list, and its process has not yet officially started running
		 * or has not yet performed mmap/brk to allocate anonymous VMAS.
		 */
		clear_bit(MMF_VM_MERGEABLE, &mm->flags);
		mmap_read_unlock(mm);
		mmdrop(mm);
	} else {
		mmap_read_unlock(mm);
		/*
		 * mmap_read_unlock(mm) first because after
		 * spin_unlock(&ksm_mmlist_lock) run, the "mm" may
		 * already have been freed under us by __ksm_exit()
		 * because the "mm_slot" is still hashed and
		 * ksm_scan.mm_slot doesn't point to it anymore.
		 */
		spin_unlock(&ksm_mmlist_lock);
	}

	/* Repeat until we've completed scanning the whole list */
	mm_slot = ksm_scan.mm_slot;
	if (mm_slot != &ksm_mm_head)
		goto next_mm;

	advisor_stop_scan();

	trace_ksm_stop_scan(ksm_scan.seqnr, ksm_rmap_items);
	ksm_scan.seqnr++;
	/* The items in the trees are of an older generation now. */
	refresh_cursor_reset();
	ksm_refresh.items = 0;
	return NULL;
}

/**
 * ksm_do_scan  - the ksm scanner main worker function.
 * @scan_npages:  number of pages we want to scan before we return.
 */
static void ksm_do_scan(unsigned int scan_npages)
{
	struct ksm_rmap_item *rmap_item;
	struct page *page;

	while (scan_npages && likely(!freezing(current))) {
		cond_resched();
		rmap_item = scan_get_next_rmap_item(&page, &scan_npages);
		if (!rmap_item)
			return;
		/* Pages passed over, taken from scan_npages. */
		if (IS_ERR(rmap_item))
			continue;
		scan_npages--;
		if (is_zero_only_item(rmap_item))
			merge_zero_only_page(page, &scan_npages);
		else
			cmp_and_merge_page(page, rmap_item, &scan_npages);
		put_page(page);
		WRITE_ONCE(ksm_pages_scanned, ksm_pages_scanned + 1);
	}
}

/**
 * DOC: Refreshing the unstable tree
 *
 * The unstable tree sorts pages by content without write-protecting them.
 * A page that changes after its insertion breaks the order: later searches
 * go down wrong branches, miss partners and waste memcmp() and page table
 * walks, until the tree is thrown away at the start of the next full scan,
 * which on a large machine is minutes away. With unstable_refresh_millisecs
 * set, ksmd re-checks the checksum of unstable tree items after each batch
 * and drops those whose page changed or went away. An item keeps the new
 * checksum, so that its next regular visit sees whether the page settled.
 *
 * The items are taken in tree order from a cursor that moves on from round
 * to round, so that each item is re-checked once in a cycle, including the
 * items inserted ahead of the cursor during the cycle. The cursor is valid
 * for one generation of the trees only: it is reset where ksm_scan.seqnr
 * advances, where the trees are reset at the start of a full scan, and when
 * all rmap_items are freed (run=2), and it steps off an item that leaves the
 * tree (refresh_cursor_skip()). Between the end of a full scan and the start
 * of the next one the trees hold the old generation only, some of whose
 * items may already be freed: no round may run then, and none does (it
 * would find nothing to do anyway). An mm that is exiting or busy is not
 * waited for (mmap_read_trylock()).
 *
 * The budget makes a cycle take unstable_refresh_millisecs: a round earns
 * as many items as the trees of the current scan hold, for the time since
 * the last round, whatever sleep_millisecs is, and spends at most
 * pages_to_scan of them, so that it at most doubles the work of a batch.
 */

enum refresh_result { REFRESH_SKIPPED, REFRESH_SAME, REFRESH_DROPPED };

/* The next unstable tree item for the refresh pass, NULL if there is none. */
static struct ksm_rmap_item *refresh_take(void)
{
	struct rb_node *node;
	int tries;

	lockdep_assert_held(&ksm_thread_mutex);
	for (tries = 0; tries <= ksm_nr_node_ids; tries++) {
		if (ksm_refresh.end || ksm_refresh.nid >= ksm_nr_node_ids) {
			ksm_refresh.next = NULL;
			ksm_refresh.end = false;
			if (++ksm_refresh.nid >= ksm_nr_node_ids)
				ksm_refresh.nid = 0;
		}
		node = ksm_refresh.next;
		if (!node)
			node = rb_first(root_unstable_tree + ksm_refresh.nid);
		if (node) {
			ksm_refresh.next = rb_next(node);
			ksm_refresh.end = !ksm_refresh.next;
			return rb_entry(node, struct ksm_rmap_item, node);
		}
		ksm_refresh.end = true;
	}
	return NULL;
}

/* Re-check one unstable tree item; drop it if its page changed. */
static enum refresh_result refresh_unstable_item(struct ksm_rmap_item *rmap_item)
{
	struct mm_struct *mm = rmap_item->mm;
	struct page *page;
	u32 checksum = 0;

	/* The cursor is reset whenever the generation changes. */
	if ((rmap_item->address & SEQNR_MASK) != (ksm_scan.seqnr & SEQNR_MASK)) {
		VM_WARN_ON_ONCE(1);
		return REFRESH_SKIPPED;
	}
	if (ksm_test_exit(mm) || !mmap_read_trylock(mm))
		return REFRESH_SKIPPED;
	page = __get_mergeable_page(rmap_item);
	mmap_read_unlock(mm);

	if (page) {
		checksum = calc_checksum(page);
		put_page(page);
		if (checksum == rmap_item->oldchecksum)
			return REFRESH_SAME;
	}
	remove_rmap_item_from_tree(rmap_item);
	rmap_item->oldchecksum = checksum;
	return REFRESH_DROPPED;
}

/* One round of the refresh pass, after a batch of ksm_do_scan(). */
static void refresh_unstable_tree(void)
{
	unsigned int period_ms = READ_ONCE(ksm_unstable_refresh_millisecs);
	unsigned long size = ksm_refresh.items, checked = 0, dropped = 0;
	u64 now, period_us, elapsed_us, budget;
	struct ksm_rmap_item *rmap_item;

	if (!period_ms) {
		ksm_refresh.last_ns = 0;
		ksm_refresh.credit = 0;
		return;
	}
	/* Between two full scans: the trees may hold freed items. */
	if (ksm_scan.mm_slot == &ksm_mm_head)
		return;
	now = ktime_get_ns();
	period_us = (u64)period_ms * USEC_PER_MSEC;
	elapsed_us = period_us;
	if (ksm_refresh.last_ns)
		elapsed_us = min(div_u64(now - ksm_refresh.last_ns, NSEC_PER_USEC),
				 period_us);
	ksm_refresh.last_ns = now;

	ksm_refresh.credit += size * elapsed_us;
	budget = div64_u64(ksm_refresh.credit, period_us);
	ksm_refresh.credit -= budget * period_us;
	budget = min3(budget, (u64)size, (u64)ksm_thread_pages_to_scan);

	while (budget-- && likely(!freezing(current)) &&
	       (rmap_item = refresh_take())) {
		cond_resched();
		switch (refresh_unstable_item(rmap_item)) {
		case REFRESH_DROPPED:
			dropped++;
			fallthrough;
		case REFRESH_SAME:
			checked++;
			break;
		case REFRESH_SKIPPED:
			break;
		}
	}
	if (!checked)
		return;
	WRITE_ONCE(ksm_unstable_refreshed, ksm_unstable_refreshed + checked);
	WRITE_ONCE(ksm_unstable_refresh_dropped,
		   ksm_unstable_refresh_dropped + dropped);
	trace_ksm_refresh_unstable(checked, dropped, size);
}

#ifdef CONFIG_KSM_ZERO_PAGES_ALL
/*
 * Set by a write of "all" to zero_pages_scope, so that ksmd enrols after
 * its current batch without waiting out ksm_zero_scope_enrolled.
 */
static bool ksm_zero_scope_enrol_due;
/* When ksmd last enrolled, in jiffies: only ksmd uses it. */
static unsigned long ksm_zero_scope_enrolled;

/*
 * ksm_enrol_all_mms - put the mm of every user process on ksmd's list
 *
 * The processes are walked in the order of their pids, a batch at a time
 * under RCU; each mm is entered outside it, with a reference on mm_users
 * and without its mmap_lock: __ksm_enter() enters it unless it is there,
 * and the mm cannot exit meanwhile. No mmap_lock is waited for, so a
 * process that holds its own for long (GUP on FUSE or NFS, a long read of
 * /proc/PID/smaps) holds nobody else up; nor ksm_thread_mutex, so that
 * writers of the knobs and memory hotplug do not wait for the walk.
 * Skipped: kernel threads, the mms already on the list and those whose
 * owner refused the scope. Out of memory, it stops: the next walk goes on.
 */
static void ksm_enrol_all_mms(void)
{
	struct mm_struct *mms[32];
	unsigned int i, n, seen;
	int next = 1, err = 0;
	bool done;

	do {
		struct pid *pid = NULL;

		/* A batch: 32 mms to enter, or 256 pids looked at. */
		n = 0;
		seen = 0;
		rcu_read_lock();
		while (n < ARRAY_SIZE(mms) && seen++ < 256 &&
		       (pid = find_ge_pid(next, &init_pid_ns))) {
			struct task_struct *p, *t;
			struct mm_struct *mm;

			next = pid_nr(pid) + 1;
			p = pid_task(pid, PIDTYPE_TGID);
			if (!p || (p->flags & PF_KTHREAD))
				continue;
			t = find_lock_task_mm(p);
			if (!t)
				continue;
			mm = t->mm;
			if (!test_bit(MMF_VM_MERGEABLE, &mm->flags) &&
			    !mm_zero_scope_refused(mm) && mmget_not_zero(mm))
				mms[n++] = mm;
			task_unlock(t);
		}
		done = seen <= 256 && !pid;
		rcu_read_unlock();

		for (i = 0; i < n; i++) {
			if (!err)
				err = __ksm_enter(mms[i]);
			/* ksmd must not run exit_mmap() of the last user. */
			mmput_async(mms[i]);
		}
		cond_resched();
	} while (!done && !err && !kthread_should_stop() &&
		 !freezing(current));
}

/*
 * ksm_zero_scope_enrol - with zero_pages_scope "all", enrol the mms that
 * have appeared since the last time
 *
 * Called by ksmd between its batches, at most once a second but at once
 * after a write of "all": the mms forked or exec()ed meanwhile get their
 * first visit in the next full scan, as they would if fork or exec had
 * entered them (__ksm_enter() puts them behind the cursor). So exec and a
 * fork whose child inherits nothing for KSM (see __ksm_fork()) pay nothing
 * for the scope, and a process that lives between two enrolments never
 * costs an mm_slot.
 */
static void ksm_zero_scope_enrol(void)
{
	if (!ksm_zero_scope_on() || !(READ_ONCE(ksm_run) & KSM_RUN_MERGE))
		return;
	if (!READ_ONCE(ksm_zero_scope_enrol_due) &&
	    time_before(jiffies, ksm_zero_scope_enrolled + HZ))
		return;
	WRITE_ONCE(ksm_zero_scope_enrol_due, false);
	ksm_zero_scope_enrolled = jiffies;
	ksm_enrol_all_mms();
}
#else
static inline void ksm_zero_scope_enrol(void)
{
}
#endif

static int ksmd_should_run(void)
{
	/* With zero_pages_scope "all", ksmd fills its list itself. */
	return (ksm_run & KSM_RUN_MERGE) &&
	       (!list_empty(&ksm_mm_head.slot.mm_node) || ksm_zero_scope_on());
}

static int ksm_scan_thread(void *nothing)
{
	unsigned int sleep_ms;

	set_freezable();
	set_user_nice(current, 5);

	while (!kthread_should_stop()) {
		ksm_zero_scope_enrol();
		mutex_lock(&ksm_thread_mutex);
		wait_while_offlining();
		if (ksmd_should_run()) {
			ksm_do_scan(ksm_thread_pages_to_scan);
			refresh_unstable_tree();
		}
		mutex_unlock(&ksm_thread_mutex);

		if (ksmd_should_run()) {
			long timeout;

			sleep_ms = READ_ONCE(ksm_thread_sleep_millisecs);
			timeout = msecs_to_jiffies(sleep_ms);
			/* Nothing to scan before the next enrolment. */
			if (list_empty(&ksm_mm_head.slot.mm_node))
				timeout = max(timeout, (long)HZ);
			wait_event_freezable_timeout(ksm_iter_wait,
				sleep_ms != READ_ONCE(ksm_thread_sleep_millisecs),
				timeout);
		} else {
			wait_event_freezable(ksm_thread_wait,
				ksmd_should_run() || kthread_should_stop());
		}
	}
	return 0;
}

static void __ksm_add_vma(struct vm_area_struct *vma)
{
	unsigned long vm_flags = vma->vm_flags;

	if (vm_flags & VM_MERGEABLE)
		return;

	if (vma_ksm_compatible(vma))
		vm_flags_mod(vma, VM_MERGEABLE, VM_UNMERGEABLE);
}

static int __ksm_del_vma(struct vm_area_struct *vma)
{
	int err;

	if (!(vma->vm_flags & VM_MERGEABLE))
		return 0;

	if (vma->anon_vma) {
		err = unmerge_ksm_pages(vma, vma->vm_start, vma->vm_end, true);
		if (err)
			return err;
	}

	vm_flags_clear(vma, VM_MERGEABLE);
	return 0;
}
/**
 * ksm_add_vma - Mark vma as mergeable if compatible
 *
 * @vma:  Pointer to vma
 */
void ksm_add_vma(struct vm_area_struct *vma)
{
	struct mm_struct *mm = vma->vm_mm;

	if (test_bit(MMF_VM_MERGE_ANY, &mm->flags)) {
		__ksm_add_vma(vma);
		/*
		 * Generally, the flags here always include MMF_VM_MERGEABLE.
		 * However, in rare cases, this flag may be cleared by ksmd who
		 * scans a cycle without finding any mergeable vma.
		 */
		if (unlikely(!test_bit(MMF_VM_MERGEABLE, &mm->flags)))
			__ksm_enter(mm);
	}
}

static void ksm_add_vmas(struct mm_struct *mm)
{
	struct vm_area_struct *vma;

	VMA_ITERATOR(vmi, mm, 0);
	for_each_vma(vmi, vma)
		__ksm_add_vma(vma);
}

/* Unshare the zero pages that zero_pages_scope "all" placed in @mm. */
static int unmerge_zero_only_vmas(struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	int err;

	VMA_ITERATOR(vmi, mm, 0);
	for_each_vma(vmi, vma) {
		if (mm_ksm_zero_pages(mm) <= 0)
			break;
		if (vma->vm_flags & VM_MERGEABLE)
			continue;
		err = unmerge_zero_only_range(vma, vma->vm_start, vma->vm_end,
					      true);
		if (err)
			return err;
	}
	return 0;
}

static int ksm_del_vmas(struct mm_struct *mm)
{
	struct vm_area_struct *vma;
	int err;

	VMA_ITERATOR(vmi, mm, 0);
	for_each_vma(vmi, vma) {
		err = __ksm_del_vma(vma);
		if (err)
			return err;
	}
	return 0;
}

/**
 * ksm_enable_merge_any - Add mm to mm ksm list and enable merging on all
 *                        compatible VMA's
 *
 * @mm:  Pointer to mm
 *
 * Returns 0 on success, otherwise error code
 */
int ksm_enable_merge_any(struct mm_struct *mm)
{
	int err;

	if (test_bit(MMF_VM_MERGE_ANY, &mm->flags))
		goto out;

	if (!test_bit(MMF_VM_MERGEABLE, &mm->flags)) {
		err = __ksm_enter(mm);
		if (err)
			return err;
	}

	set_bit(MMF_VM_MERGE_ANY, &mm->flags);
	ksm_add_vmas(mm);
out:
	/* Merging everything takes back an earlier "no" to the zero scope. */
	clear_bit(MMF_VM_UNMERGEABLE, &mm->flags);

	return 0;
}

/* Undo ksm_enable_merge_any(), for prctl() and for ksm_disable(). */
static int __ksm_disable_merge_any(struct mm_struct *mm)
{
	int err;

	if (!test_bit(MMF_VM_MERGE_ANY, &mm->flags))
		return 0;

	err = ksm_del_vmas(mm);
	if (err) {
		ksm_add_vmas(mm);
		return err;
	}

	clear_bit(MMF_VM_MERGE_ANY, &mm->flags);
	return 0;
}

/**
 * ksm_disable_merge_any - PR_SET_MEMORY_MERGE 0: disable merging on all
 *			   compatible VMA's of the mm, and keep
 *			   zero_pages_scope "all" out of it
 *
 * Disabling merging implies unmerging any merged pages, like setting
 * MADV_UNMERGEABLE would. If unmerging fails, the whole operation fails and
 * merging on all compatible VMA's remains enabled.
 *
 * It is also the owner's "no" to zero_pages_scope "all", said even if
 * merging was not enabled: the zero pages that the scope placed are
 * unshared, and the scope leaves the process, and those it forks and
 * execs, alone (MMF_VM_UNMERGEABLE), until PR_SET_MEMORY_MERGE 1.
 *
 * @mm: Pointer to mm, its mmap_lock held for write
 *
 * Returns 0 on success, otherwise error code
 */
int ksm_disable_merge_any(struct mm_struct *mm)
{
	bool refused = false;
	int err;

	mmap_assert_write_locked(mm);
	if (IS_ENABLED(CONFIG_KSM_ZERO_PAGES_ALL) &&
	    !test_and_set_bit(MMF_VM_UNMERGEABLE, &mm->flags)) {
		refused = true;
		err = unmerge_zero_only_vmas(mm);
		if (err)
			goto fail;
	}
	err = __ksm_disable_merge_any(mm);
	if (!err)
		return 0;
fail:
	if (refused)
		clear_bit(MMF_VM_UNMERGEABLE, &mm->flags);
	return err;
}

int ksm_disable(struct mm_struct *mm)
{
	mmap_assert_write_locked(mm);

	if (!test_bit(MMF_VM_MERGEABLE, &mm->flags))
		return 0;
	if (test_bit(MMF_VM_MERGE_ANY, &mm->flags))
		return __ksm_disable_merge_any(mm);
	return ksm_del_vmas(mm);
}

/*
 * vma_refusable - may the owner of @vma keep zero_pages_scope "all" out of
 * it with MADV_UNMERGEABLE?
 *
 * Where the scope can go, private anonymous memory, and only if the scope
 * is built: elsewhere the advice stays the no-op it was, and splits no vma.
 */
static bool vma_refusable(struct vm_area_struct *vma)
{
	/* CONFIG_KSM_ZERO_PAGES_ALL needs 64BIT, where VM_UNMERGEABLE is. */
	return IS_ENABLED(CONFIG_KSM_ZERO_PAGES_ALL) &&
	       vma_is_anonymous(vma) && vma_ksm_compatible(vma);
}

/* MADV_UNMERGEABLE on a vma that is not VM_MERGEABLE: keep the scope out. */
static int madvise_zero_scope_refused(struct vm_area_struct *vma,
				      unsigned long start, unsigned long end,
				      unsigned long *vm_flags)
{
	int err;

	if (!vma_refusable(vma))
		return 0;		/* just ignore the advice */
	err = unmerge_zero_only_range(vma, start, end, true);
	if (err)
		return err;
	*vm_flags |= VM_UNMERGEABLE;
	return 0;
}

int ksm_madvise(struct vm_area_struct *vma, unsigned long start,
		unsigned long end, int advice, unsigned long *vm_flags)
{
	struct mm_struct *mm = vma->vm_mm;
	int err;

	switch (advice) {
	case MADV_MERGEABLE:
		*vm_flags &= ~VM_UNMERGEABLE;
		if (vma->vm_flags & VM_MERGEABLE)
			return 0;
		if (!vma_ksm_compatible(vma))
			return 0;

		if (!test_bit(MMF_VM_MERGEABLE, &mm->flags)) {
			err = __ksm_enter(mm);
			if (err)
				return err;
		}

		*vm_flags |= VM_MERGEABLE;
		break;

	case MADV_UNMERGEABLE:
		if (!(*vm_flags & VM_MERGEABLE))
			return madvise_zero_scope_refused(vma, start, end,
							  vm_flags);

		if (vma->anon_vma) {
			err = unmerge_ksm_pages(vma, start, end, true);
			if (err)
				return err;
		}

		*vm_flags &= ~VM_MERGEABLE;
		if (vma_refusable(vma))
			*vm_flags |= VM_UNMERGEABLE;
		break;
	}

	return 0;
}
EXPORT_SYMBOL_GPL(ksm_madvise);

/*
 * __ksm_enter - put @mm on ksmd's list, unless it is there already
 *
 * madvise() and prctl() call it under @mm's mmap_lock held for write, fork
 * and exec for an mm nobody else sees yet; ksmd, enrolling mms for
 * zero_pages_scope "all", holds no mmap_lock but a reference on mm_users.
 * The lookup under ksm_mmlist_lock keeps those from entering @mm twice.
 */
int __ksm_enter(struct mm_struct *mm)
{
	struct ksm_mm_slot *mm_slot;
	struct mm_slot *slot;
	int needs_wakeup;

	mm_slot = mm_slot_alloc(mm_slot_cache);
	if (!mm_slot)
		return -ENOMEM;

	slot = &mm_slot->slot;

	/* Check ksm_run too?  Would need tighter locking */
	needs_wakeup = list_empty(&ksm_mm_head.slot.mm_node);

	spin_lock(&ksm_mmlist_lock);
	if (mm_slot_lookup(mm_slots_hash, mm)) {
		spin_unlock(&ksm_mmlist_lock);
		mm_slot_free(mm_slot_cache, mm_slot);
		return 0;
	}
	mm_slot_insert(mm_slots_hash, mm, slot);
	/*
	 * When KSM_RUN_MERGE (or KSM_RUN_STOP),
	 * insert just behind the scanning cursor, to let the area settle
	 * down a little; when fork is followed by immediate exec, we don't
	 * want ksmd to waste time setting up and tearing down an rmap_list.
	 *
	 * But when KSM_RUN_UNMERGE, it's important to insert ahead of its
	 * scanning cursor, otherwise KSM pages in newly forked mms will be
	 * missed: then we might as well insert at the end of the list.
	 */
	if (ksm_run & KSM_RUN_UNMERGE)
		list_add_tail(&slot->mm_node, &ksm_mm_head.slot.mm_node);
	else
		list_add_tail(&slot->mm_node, &ksm_scan.mm_slot->slot.mm_node);
	set_bit(MMF_VM_MERGEABLE, &mm->flags);
	mmgrab(mm);
	spin_unlock(&ksm_mmlist_lock);

	if (needs_wakeup)
		wake_up_interruptible(&ksm_thread_wait);

	trace_ksm_enter(mm);
	return 0;
}

/*
 * __ksm_fork - enter @mm, a child whose parent is on ksmd's list
 *
 * The parent may be there for zero_pages_scope "all" only: then the child
 * is entered if it has something for KSM, MMF_VM_MERGE_ANY, a VM_MERGEABLE
 * vma or a KSM zero page (which run=2 must find), and else left to ksmd's
 * next enrolment, which a child that execs or exits soon never costs.
 * Called with @mm write-locked, before anyone else sees it.
 */
void __ksm_fork(struct mm_struct *mm)
{
	struct vm_area_struct *vma;

	VMA_ITERATOR(vmi, mm, 0);
	if (!IS_ENABLED(CONFIG_KSM_ZERO_PAGES_ALL) ||
	    test_bit(MMF_VM_MERGE_ANY, &mm->flags) || mm_ksm_zero_pages(mm) > 0)
		goto enter;
	for_each_vma(vmi, vma) {
		if (vma->vm_flags & VM_MERGEABLE)
			goto enter;
	}
	return;
enter:
	__ksm_enter(mm);
}

void __ksm_exit(struct mm_struct *mm)
{
	struct ksm_mm_slot *mm_slot;
	struct mm_slot *slot;
	int easy_to_free = 0;

	/*
	 * This process is exiting: if it's straightforward (as is the
	 * case when ksmd was never running), free mm_slot immediately.
	 * But if it's at the cursor or has rmap_items linked to it, use
	 * mmap_lock to synchronize with any break_cows before pagetables
	 * are freed, and leave the mm_slot on the list for ksmd to free.
	 * Beware: ksm may already have noticed it exiting and freed the slot.
	 */

	spin_lock(&ksm_mmlist_lock);
	slot = mm_slot_lookup(mm_slots_hash, mm);
	mm_slot = mm_slot_entry(slot, struct ksm_mm_slot, slot);
	if (mm_slot && ksm_scan.mm_slot != mm_slot) {
		if (!mm_slot->rmap_list) {
			hash_del(&slot->hash);
			list_del(&slot->mm_node);
			easy_to_free = 1;
		} else {
			list_move(&slot->mm_node,
				  &ksm_scan.mm_slot->slot.mm_node);
		}
	}
	spin_unlock(&ksm_mmlist_lock);

	if (easy_to_free) {
		mm_slot_free(mm_slot_cache, mm_slot);
		clear_bit(MMF_VM_MERGE_ANY, &mm->flags);
		clear_bit(MMF_VM_MERGEABLE, &mm->flags);
		mmdrop(mm);
	} else if (mm_slot) {
		mmap_write_lock(mm);
		mmap_write_unlock(mm);
	}

	trace_ksm_exit(mm);
}

struct folio *ksm_might_need_to_copy(struct folio *folio,
			struct vm_area_struct *vma, unsigned long addr)
{
	struct page *page = folio_page(folio, 0);
	struct anon_vma *anon_vma = folio_anon_vma(folio);
	struct folio *new_folio;

	if (folio_test_large(folio))
		return folio;

	if (folio_test_ksm(folio)) {
		if (folio_stable_node(folio) &&
		    !(ksm_run & KSM_RUN_UNMERGE))
			return folio;	/* no need to copy it */
	} else if (!anon_vma) {
		return folio;		/* no need to copy it */
	} else if (folio->index == linear_page_index(vma, addr) &&
			anon_vma->root == vma->anon_vma->root) {
		return folio;		/* still no need to copy it */
	}
	if (PageHWPoison(page))
		return ERR_PTR(-EHWPOISON);
	if (!folio_test_uptodate(folio))
		return folio;		/* let do_swap_page report the error */

	new_folio = vma_alloc_folio(GFP_HIGHUSER_MOVABLE, 0, vma, addr, false);
	if (new_folio &&
	    mem_cgroup_charge(new_folio, vma->vm_mm, GFP_KERNEL)) {
		folio_put(new_folio);
		new_folio = NULL;
	}
	if (new_folio) {
		if (copy_mc_user_highpage(folio_page(new_folio, 0), page,
								addr, vma)) {
			folio_put(new_folio);
			return ERR_PTR(-EHWPOISON);
		}
		folio_set_dirty(new_folio);
		__folio_mark_uptodate(new_folio);
		__folio_set_locked(new_folio);
#ifdef CONFIG_SWAP
		count_vm_event(KSM_SWPIN_COPY);
#endif
	}

	return new_folio;
}

void rmap_walk_ksm(struct folio *folio, struct rmap_walk_control *rwc)
{
	struct ksm_stable_node *stable_node;
	struct ksm_rmap_item *rmap_item;
	int search_new_forks = 0;

	VM_BUG_ON_FOLIO(!folio_test_ksm(folio), folio);

	/*
	 * Rely on the page lock to protect against concurrent modifications
	 * to that page's node of the stable tree.
	 */
	VM_BUG_ON_FOLIO(!folio_test_locked(folio), folio);

	stable_node = folio_stable_node(folio);
	if (!stable_node)
		return;
again:
	hlist_for_each_entry(rmap_item, &stable_node->hlist, hlist) {
		struct anon_vma *anon_vma = rmap_item->anon_vma;
		struct anon_vma_chain *vmac;
		struct vm_area_struct *vma;

		cond_resched();
		if (!anon_vma_trylock_read(anon_vma)) {
			if (rwc->try_lock) {
				rwc->contended = true;
				return;
			}
			anon_vma_lock_read(anon_vma);
		}
		anon_vma_interval_tree_foreach(vmac, &anon_vma->rb_root,
					       0, ULONG_MAX) {
			unsigned long addr;

			cond_resched();
			vma = vmac->vma;

			/* Ignore the stable/unstable/sqnr flags */
			addr = rmap_item->address & PAGE_MASK;

			if (addr < vma->vm_start || addr >= vma->vm_end)
				continue;
			/*
			 * Initially we examine only the vma which covers this
			 * rmap_item; but later, if there is still work to do,
			 * we examine covering vmas in other mms: in case they
			 * were forked from the original since ksmd passed.
			 */
			if ((rmap_item->mm == vma->vm_mm) == search_new_forks)
				continue;

			if (rwc->invalid_vma && rwc->invalid_vma(vma, rwc->arg))
				continue;

			if (!rwc->rmap_one(folio, vma, addr, rwc->arg)) {
				anon_vma_unlock_read(anon_vma);
				return;
			}
			if (rwc->done && rwc->done(folio)) {
				anon_vma_unlock_read(anon_vma);
				return;
			}
		}
		anon_vma_unlock_read(anon_vma);
	}
	if (!search_new_forks++)
		goto again;
}

#ifdef CONFIG_MEMORY_FAILURE
/*
 * Collect processes when the error hit an ksm page.
 */
void collect_procs_ksm(struct folio *folio, struct page *page,
		struct list_head *to_kill, int force_early)
{
	struct ksm_stable_node *stable_node;
	struct ksm_rmap_item *rmap_item;
	struct vm_area_struct *vma;
	struct task_struct *tsk;

	stable_node = folio_stable_node(folio);
	if (!stable_node)
		return;
	hlist_for_each_entry(rmap_item, &stable_node->hlist, hlist) {
		struct anon_vma *av = rmap_item->anon_vma;

		anon_vma_lock_read(av);
		rcu_read_lock();
		for_each_process(tsk) {
			struct anon_vma_chain *vmac;
			unsigned long addr;
			struct task_struct *t =
				task_early_kill(tsk, force_early);
			if (!t)
				continue;
			anon_vma_interval_tree_foreach(vmac, &av->rb_root, 0,
						       ULONG_MAX)
			{
				vma = vmac->vma;
				if (vma->vm_mm == t->mm) {
					addr = rmap_item->address & PAGE_MASK;
					add_to_kill_ksm(t, page, vma, to_kill,
							addr);
				}
			}
		}
		rcu_read_unlock();
		anon_vma_unlock_read(av);
	}
}
#endif

#ifdef CONFIG_MIGRATION
void folio_migrate_ksm(struct folio *newfolio, struct folio *folio)
{
	struct ksm_stable_node *stable_node;

	VM_BUG_ON_FOLIO(!folio_test_locked(folio), folio);
	VM_BUG_ON_FOLIO(!folio_test_locked(newfolio), newfolio);
	VM_BUG_ON_FOLIO(newfolio->mapping != folio->mapping, newfolio);

	stable_node = folio_stable_node(folio);
	if (stable_node) {
		VM_BUG_ON_FOLIO(stable_node->kpfn != folio_pfn(folio), folio);
		stable_node->kpfn = folio_pfn(newfolio);
		/*
		 * newfolio->mapping was set in advance; now we need smp_wmb()
		 * to make sure that the new stable_node->kpfn is visible
		 * to ksm_get_folio() before it can see that folio->mapping
		 * has gone stale (or that the swapcache flag has been cleared).
		 */
		smp_wmb();
		folio_set_stable_node(folio, NULL);
	}
}
#endif /* CONFIG_MIGRATION */

#ifdef CONFIG_MEMORY_HOTREMOVE
static void wait_while_offlining(void)
{
	while (ksm_run & KSM_RUN_OFFLINE) {
		mutex_unlock(&ksm_thread_mutex);
		wait_on_bit(&ksm_run, ilog2(KSM_RUN_OFFLINE),
			    TASK_UNINTERRUPTIBLE);
		mutex_lock(&ksm_thread_mutex);
	}
}

static bool stable_node_dup_remove_range(struct ksm_stable_node *stable_node,
					 unsigned long start_pfn,
					 unsigned long end_pfn)
{
	if (stable_node->kpfn >= start_pfn &&
	    stable_node->kpfn < end_pfn) {
		/*
		 * Don't ksm_get_folio, page has already gone:
		 * which is why we keep kpfn instead of page*
		 */
		remove_node_from_stable_tree(stable_node);
		return true;
	}
	return false;
}

static bool stable_node_chain_remove_range(struct ksm_stable_node *stable_node,
					   unsigned long start_pfn,
					   unsigned long end_pfn,
					   struct rb_root *root)
{
	struct ksm_stable_node *dup;
	struct hlist_node *hlist_safe;

	if (!is_stable_node_chain(stable_node)) {
		VM_BUG_ON(is_stable_node_dup(stable_node));
		return stable_node_dup_remove_range(stable_node, start_pfn,
						    end_pfn);
	}

	hlist_for_each_entry_safe(dup, hlist_safe,
				  &stable_node->hlist, hlist_dup) {
		VM_BUG_ON(!is_stable_node_dup(dup));
		stable_node_dup_remove_range(dup, start_pfn, end_pfn);
	}
	if (hlist_empty(&stable_node->hlist)) {
		free_stable_node_chain(stable_node, root);
		return true; /* notify caller that tree was rebalanced */
	} else
		return false;
}

static void ksm_check_stable_tree(unsigned long start_pfn,
				  unsigned long end_pfn)
{
	struct ksm_stable_node *stable_node, *next;
	struct rb_node *node;
	int nid;

	for (nid = 0; nid < ksm_nr_node_ids; nid++) {
		node = rb_first(root_stable_tree + nid);
		while (node) {
			stable_node = rb_entry(node, struct ksm_stable_node, node);
			if (stable_node_chain_remove_range(stable_node,
							   start_pfn, end_pfn,
							   root_stable_tree +
							   nid))
				node = rb_first(root_stable_tree + nid);
			else
				node = rb_next(node);
			cond_resched();
		}
	}
	list_for_each_entry_safe(stable_node, next, &migrate_nodes, list) {
		if (stable_node->kpfn >= start_pfn &&
		    stable_node->kpfn < end_pfn)
			remove_node_from_stable_tree(stable_node);
		cond_resched();
	}
}

static int ksm_memory_callback(struct notifier_block *self,
			       unsigned long action, void *arg)
{
	struct memory_notify *mn = arg;

	switch (action) {
	case MEM_GOING_OFFLINE:
		/*
		 * Prevent ksm_do_scan(), unmerge_and_remove_all_rmap_items()
		 * and remove_all_stable_nodes() while memory is going offline:
		 * it is unsafe for them to touch the stable tree at this time.
		 * But unmerge_ksm_pages(), rmap lookups and other entry points
		 * which do not need the ksm_thread_mutex are all safe.
		 */
		mutex_lock(&ksm_thread_mutex);
		ksm_run |= KSM_RUN_OFFLINE;
		mutex_unlock(&ksm_thread_mutex);
		break;

	case MEM_OFFLINE:
		/*
		 * Most of the work is done by page migration; but there might
		 * be a few stable_nodes left over, still pointing to struct
		 * pages which have been offlined: prune those from the tree,
		 * otherwise ksm_get_folio() might later try to access a
		 * non-existent struct page.
		 */
		ksm_check_stable_tree(mn->start_pfn,
				      mn->start_pfn + mn->nr_pages);
		fallthrough;
	case MEM_CANCEL_OFFLINE:
		mutex_lock(&ksm_thread_mutex);
		ksm_run &= ~KSM_RUN_OFFLINE;
		mutex_unlock(&ksm_thread_mutex);

		smp_mb();	/* wake_up_bit advises this */
		wake_up_bit(&ksm_run, ilog2(KSM_RUN_OFFLINE));
		break;
	}
	return NOTIFY_OK;
}
#else
static void wait_while_offlining(void)
{
}
#endif /* CONFIG_MEMORY_HOTREMOVE */

#ifdef CONFIG_PROC_FS
long ksm_process_profit(struct mm_struct *mm)
{
	return (long)(mm->ksm_merging_pages + mm_ksm_zero_pages(mm)) * PAGE_SIZE -
		mm->ksm_rmap_items * sizeof(struct ksm_rmap_item);
}
#endif /* CONFIG_PROC_FS */

#ifdef CONFIG_SYSFS
/*
 * This all compiles without CONFIG_SYSFS, but is a waste of space.
 */

#define KSM_ATTR_RO(_name) \
	static struct kobj_attribute _name##_attr = __ATTR_RO(_name)
#define KSM_ATTR(_name) \
	static struct kobj_attribute _name##_attr = __ATTR_RW(_name)

static ssize_t sleep_millisecs_show(struct kobject *kobj,
				    struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", ksm_thread_sleep_millisecs);
}

static ssize_t sleep_millisecs_store(struct kobject *kobj,
				     struct kobj_attribute *attr,
				     const char *buf, size_t count)
{
	unsigned int msecs;
	int err;

	err = kstrtouint(buf, 10, &msecs);
	if (err)
		return -EINVAL;

	ksm_thread_sleep_millisecs = msecs;
	wake_up_interruptible(&ksm_iter_wait);

	return count;
}
KSM_ATTR(sleep_millisecs);

static ssize_t pages_to_scan_show(struct kobject *kobj,
				  struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", ksm_thread_pages_to_scan);
}

static ssize_t pages_to_scan_store(struct kobject *kobj,
				   struct kobj_attribute *attr,
				   const char *buf, size_t count)
{
	unsigned int nr_pages;
	int err;

	if (ksm_advisor != KSM_ADVISOR_NONE)
		return -EINVAL;

	err = kstrtouint(buf, 10, &nr_pages);
	if (err)
		return -EINVAL;

	ksm_thread_pages_to_scan = nr_pages;

	return count;
}
KSM_ATTR(pages_to_scan);

static ssize_t run_show(struct kobject *kobj, struct kobj_attribute *attr,
			char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_run);
}

static ssize_t run_store(struct kobject *kobj, struct kobj_attribute *attr,
			 const char *buf, size_t count)
{
	unsigned int flags;
	int err;

	err = kstrtouint(buf, 10, &flags);
	if (err)
		return -EINVAL;
	if (flags > KSM_RUN_UNMERGE)
		return -EINVAL;

	/*
	 * KSM_RUN_MERGE sets ksmd running, and 0 stops it running.
	 * KSM_RUN_UNMERGE stops it running and unmerges all rmap_items,
	 * breaking COW to free the pages_shared (but leaves mm_slots
	 * on the list for when ksmd may be set running again).
	 */

	mutex_lock(&ksm_thread_mutex);
	wait_while_offlining();
	if (ksm_run != flags) {
		ksm_run = flags;
		if (flags & KSM_RUN_UNMERGE) {
			zero_large_folios_reset();
			set_current_oom_origin();
			err = unmerge_and_remove_all_rmap_items();
			clear_current_oom_origin();
			if (err) {
				ksm_run = KSM_RUN_STOP;
				count = err;
			}
		}
	}
	mutex_unlock(&ksm_thread_mutex);

	if (flags & KSM_RUN_MERGE)
		wake_up_interruptible(&ksm_thread_wait);

	return count;
}
KSM_ATTR(run);

#ifdef CONFIG_NUMA
static ssize_t merge_across_nodes_show(struct kobject *kobj,
				       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", ksm_merge_across_nodes);
}

static ssize_t merge_across_nodes_store(struct kobject *kobj,
				   struct kobj_attribute *attr,
				   const char *buf, size_t count)
{
	int err;
	unsigned long knob;

	err = kstrtoul(buf, 10, &knob);
	if (err)
		return err;
	if (knob > 1)
		return -EINVAL;

	mutex_lock(&ksm_thread_mutex);
	wait_while_offlining();
	if (ksm_merge_across_nodes != knob) {
		/*
		 * Start the refresh round again in the new layout of the
		 * trees. Not needed for safety: an item stays in the tree
		 * of its rmap_item->nid, and a failed switch only restarts
		 * the round.
		 */
		refresh_cursor_reset();
		if (ksm_pages_shared || remove_all_stable_nodes())
			err = -EBUSY;
		else if (root_stable_tree == one_stable_tree) {
			struct rb_root *buf;
			/*
			 * This is the first time that we switch away from the
			 * default of merging across nodes: must now allocate
			 * a buffer to hold as many roots as may be needed.
			 * Allocate stable and unstable together:
			 * MAXSMP NODES_SHIFT 10 will use 16kB.
			 */
			buf = kcalloc(nr_node_ids + nr_node_ids, sizeof(*buf),
				      GFP_KERNEL);
			/* Let us assume that RB_ROOT is NULL is zero */
			if (!buf)
				err = -ENOMEM;
			else {
				root_stable_tree = buf;
				root_unstable_tree = buf + nr_node_ids;
				ksm_nr_node_ids = nr_node_ids;
				/* Stable tree is empty but not the unstable */
				root_unstable_tree[0] = one_unstable_tree[0];
			}
		}
		if (!err)
			ksm_merge_across_nodes = knob;
	}
	mutex_unlock(&ksm_thread_mutex);

	return err ? err : count;
}
KSM_ATTR(merge_across_nodes);
#endif

static ssize_t use_zero_pages_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", ksm_use_zero_pages);
}
static ssize_t use_zero_pages_store(struct kobject *kobj,
				   struct kobj_attribute *attr,
				   const char *buf, size_t count)
{
	int err;
	bool value;

	err = kstrtobool(buf, &value);
	if (err)
		return -EINVAL;

	ksm_use_zero_pages = value;
	/* With zero_pages_scope "all", ksmd has work now. */
	if (value)
		wake_up_interruptible(&ksm_thread_wait);

	return count;
}
KSM_ATTR(use_zero_pages);

static ssize_t zero_pages_min_age_show(struct kobject *kobj,
				       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(ksm_zero_pages_min_age));
}

static ssize_t zero_pages_min_age_store(struct kobject *kobj,
					struct kobj_attribute *attr,
					const char *buf, size_t count)
{
	unsigned int value;
	int err;

	err = kstrtouint(buf, 10, &value);
	if (err || value > U8_MAX)	/* rmap_item->zero_age is a u8 */
		return -EINVAL;

	WRITE_ONCE(ksm_zero_pages_min_age, value);

	return count;
}
KSM_ATTR(zero_pages_min_age);

static ssize_t zero_pages_merged_show(struct kobject *kobj,
				      struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(ksm_zero_pages_merged));
}
KSM_ATTR_RO(zero_pages_merged);

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
static ssize_t zero_pages_thp_split_min_show(struct kobject *kobj,
					     struct kobj_attribute *attr,
					     char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(ksm_zero_pages_thp_split_min));
}

static ssize_t zero_pages_thp_split_min_store(struct kobject *kobj,
					      struct kobj_attribute *attr,
					      const char *buf, size_t count)
{
	unsigned int value;
	int err;

	err = kstrtouint(buf, 10, &value);
	if (err || !value || value > HPAGE_PMD_NR)
		return -EINVAL;

	WRITE_ONCE(ksm_zero_pages_thp_split_min, value);

	return count;
}
KSM_ATTR(zero_pages_thp_split_min);

static ssize_t zero_pages_thp_merged_show(struct kobject *kobj,
					  struct kobj_attribute *attr,
					  char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(ksm_zero_pages_thp_merged));
}
KSM_ATTR_RO(zero_pages_thp_merged);

static ssize_t zero_pages_mthp_merged_show(struct kobject *kobj,
					   struct kobj_attribute *attr,
					   char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(ksm_zero_pages_mthp_merged));
}
KSM_ATTR_RO(zero_pages_mthp_merged);
#endif /* CONFIG_TRANSPARENT_HUGEPAGE */

static ssize_t unstable_refresh_millisecs_show(struct kobject *kobj,
					       struct kobj_attribute *attr,
					       char *buf)
{
	return sysfs_emit(buf, "%u\n", READ_ONCE(ksm_unstable_refresh_millisecs));
}

static ssize_t unstable_refresh_millisecs_store(struct kobject *kobj,
						struct kobj_attribute *attr,
						const char *buf, size_t count)
{
	unsigned int msecs;
	int err;

	err = kstrtouint(buf, 10, &msecs);
	if (err)
		return -EINVAL;
	if (msecs && (msecs < UNSTABLE_REFRESH_MIN_MSECS ||
		      msecs > UNSTABLE_REFRESH_MAX_MSECS))
		return -EINVAL;

	WRITE_ONCE(ksm_unstable_refresh_millisecs, msecs);

	return count;
}
KSM_ATTR(unstable_refresh_millisecs);

static ssize_t unstable_refreshed_show(struct kobject *kobj,
				       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(ksm_unstable_refreshed));
}
KSM_ATTR_RO(unstable_refreshed);

static ssize_t unstable_refresh_dropped_show(struct kobject *kobj,
					     struct kobj_attribute *attr,
					     char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(ksm_unstable_refresh_dropped));
}
KSM_ATTR_RO(unstable_refresh_dropped);

static ssize_t max_page_sharing_show(struct kobject *kobj,
				     struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", ksm_max_page_sharing);
}

static ssize_t max_page_sharing_store(struct kobject *kobj,
				      struct kobj_attribute *attr,
				      const char *buf, size_t count)
{
	int err;
	int knob;

	err = kstrtoint(buf, 10, &knob);
	if (err)
		return err;
	/*
	 * When a KSM page is created it is shared by 2 mappings. This
	 * being a signed comparison, it implicitly verifies it's not
	 * negative.
	 */
	if (knob < 2)
		return -EINVAL;

	if (READ_ONCE(ksm_max_page_sharing) == knob)
		return count;

	mutex_lock(&ksm_thread_mutex);
	wait_while_offlining();
	if (ksm_max_page_sharing != knob) {
		if (ksm_pages_shared || remove_all_stable_nodes())
			err = -EBUSY;
		else
			ksm_max_page_sharing = knob;
	}
	mutex_unlock(&ksm_thread_mutex);

	return err ? err : count;
}
KSM_ATTR(max_page_sharing);

static ssize_t pages_scanned_show(struct kobject *kobj,
				  struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", READ_ONCE(ksm_pages_scanned));
}
KSM_ATTR_RO(pages_scanned);

static ssize_t pages_shared_show(struct kobject *kobj,
				 struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_pages_shared);
}
KSM_ATTR_RO(pages_shared);

static ssize_t pages_sharing_show(struct kobject *kobj,
				  struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_pages_sharing);
}
KSM_ATTR_RO(pages_sharing);

static ssize_t pages_unshared_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_pages_unshared);
}
KSM_ATTR_RO(pages_unshared);

static ssize_t pages_volatile_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	long ksm_pages_volatile;

	ksm_pages_volatile = ksm_rmap_items - ksm_pages_shared
				- ksm_pages_sharing - ksm_pages_unshared;
	/*
	 * It was not worth any locking to calculate that statistic,
	 * but it might therefore sometimes be negative: conceal that.
	 */
	if (ksm_pages_volatile < 0)
		ksm_pages_volatile = 0;
	return sysfs_emit(buf, "%ld\n", ksm_pages_volatile);
}
KSM_ATTR_RO(pages_volatile);

static ssize_t pages_skipped_show(struct kobject *kobj,
				  struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_pages_skipped);
}
KSM_ATTR_RO(pages_skipped);

static ssize_t ksm_zero_pages_show(struct kobject *kobj,
				struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%ld\n", atomic_long_read(&ksm_zero_pages));
}
KSM_ATTR_RO(ksm_zero_pages);

static ssize_t general_profit_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	long general_profit;

	general_profit = (ksm_pages_sharing + atomic_long_read(&ksm_zero_pages)) * PAGE_SIZE -
				ksm_rmap_items * sizeof(struct ksm_rmap_item);

	return sysfs_emit(buf, "%ld\n", general_profit);
}
KSM_ATTR_RO(general_profit);

static ssize_t stable_node_dups_show(struct kobject *kobj,
				     struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_stable_node_dups);
}
KSM_ATTR_RO(stable_node_dups);

static ssize_t stable_node_chains_show(struct kobject *kobj,
				       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_stable_node_chains);
}
KSM_ATTR_RO(stable_node_chains);

static ssize_t
stable_node_chains_prune_millisecs_show(struct kobject *kobj,
					struct kobj_attribute *attr,
					char *buf)
{
	return sysfs_emit(buf, "%u\n", ksm_stable_node_chains_prune_millisecs);
}

static ssize_t
stable_node_chains_prune_millisecs_store(struct kobject *kobj,
					 struct kobj_attribute *attr,
					 const char *buf, size_t count)
{
	unsigned int msecs;
	int err;

	err = kstrtouint(buf, 10, &msecs);
	if (err)
		return -EINVAL;

	ksm_stable_node_chains_prune_millisecs = msecs;

	return count;
}
KSM_ATTR(stable_node_chains_prune_millisecs);

static ssize_t full_scans_show(struct kobject *kobj,
			       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_scan.seqnr);
}
KSM_ATTR_RO(full_scans);

static ssize_t smart_scan_show(struct kobject *kobj,
			       struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", ksm_smart_scan);
}

static ssize_t smart_scan_store(struct kobject *kobj,
				struct kobj_attribute *attr,
				const char *buf, size_t count)
{
	int err;
	bool value;

	err = kstrtobool(buf, &value);
	if (err)
		return -EINVAL;

	ksm_smart_scan = value;
	return count;
}
KSM_ATTR(smart_scan);

static ssize_t zero_pages_scope_show(struct kobject *kobj,
				     struct kobj_attribute *attr, char *buf)
{
	if (!IS_ENABLED(CONFIG_KSM_ZERO_PAGES_ALL))
		return sysfs_emit(buf, "[mergeable]\n");
	return sysfs_emit(buf, ksm_zero_scope_all() ? "mergeable [all]\n" :
						      "[mergeable] all\n");
}

static ssize_t zero_pages_scope_store(struct kobject *kobj,
				      struct kobj_attribute *attr,
				      const char *buf, size_t count)
{
	if (sysfs_streq(buf, "mergeable")) {
#ifdef CONFIG_KSM_ZERO_PAGES_ALL
		WRITE_ONCE(ksm_zero_pages_all, false);
#endif
		return count;
	}
#ifdef CONFIG_KSM_ZERO_PAGES_ALL
	if (sysfs_streq(buf, "all")) {
		/* ksmd enrols the mms, at the start of its next full scan. */
		WRITE_ONCE(ksm_zero_scope_enrol_due, true);
		WRITE_ONCE(ksm_zero_pages_all, true);
		wake_up_interruptible(&ksm_thread_wait);
		return count;
	}
#endif
	return -EINVAL;
}
KSM_ATTR(zero_pages_scope);

static ssize_t advisor_mode_show(struct kobject *kobj,
				 struct kobj_attribute *attr, char *buf)
{
	const char *output;

	if (ksm_advisor == KSM_ADVISOR_SCAN_TIME)
		output = "none [scan-time]";
	else
		output = "[none] scan-time";

	return sysfs_emit(buf, "%s\n", output);
}

static ssize_t advisor_mode_store(struct kobject *kobj,
				  struct kobj_attribute *attr, const char *buf,
				  size_t count)
{
	enum ksm_advisor_type curr_advisor = ksm_advisor;

	if (sysfs_streq("scan-time", buf))
		ksm_advisor = KSM_ADVISOR_SCAN_TIME;
	else if (sysfs_streq("none", buf))
		ksm_advisor = KSM_ADVISOR_NONE;
	else
		return -EINVAL;

	/* Set advisor default values */
	if (curr_advisor != ksm_advisor)
		set_advisor_defaults();

	return count;
}
KSM_ATTR(advisor_mode);

static ssize_t advisor_max_cpu_show(struct kobject *kobj,
				    struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", ksm_advisor_max_cpu);
}

static ssize_t advisor_max_cpu_store(struct kobject *kobj,
				     struct kobj_attribute *attr,
				     const char *buf, size_t count)
{
	int err;
	unsigned long value;

	err = kstrtoul(buf, 10, &value);
	if (err)
		return -EINVAL;

	ksm_advisor_max_cpu = value;
	return count;
}
KSM_ATTR(advisor_max_cpu);

static ssize_t advisor_min_pages_to_scan_show(struct kobject *kobj,
					struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_advisor_min_pages_to_scan);
}

static ssize_t advisor_min_pages_to_scan_store(struct kobject *kobj,
					struct kobj_attribute *attr,
					const char *buf, size_t count)
{
	int err;
	unsigned long value;

	err = kstrtoul(buf, 10, &value);
	if (err)
		return -EINVAL;

	ksm_advisor_min_pages_to_scan = value;
	return count;
}
KSM_ATTR(advisor_min_pages_to_scan);

static ssize_t advisor_max_pages_to_scan_show(struct kobject *kobj,
					struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_advisor_max_pages_to_scan);
}

static ssize_t advisor_max_pages_to_scan_store(struct kobject *kobj,
					struct kobj_attribute *attr,
					const char *buf, size_t count)
{
	int err;
	unsigned long value;

	err = kstrtoul(buf, 10, &value);
	if (err)
		return -EINVAL;

	ksm_advisor_max_pages_to_scan = value;
	return count;
}
KSM_ATTR(advisor_max_pages_to_scan);

static ssize_t advisor_target_scan_time_show(struct kobject *kobj,
					     struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%lu\n", ksm_advisor_target_scan_time);
}

static ssize_t advisor_target_scan_time_store(struct kobject *kobj,
					      struct kobj_attribute *attr,
					      const char *buf, size_t count)
{
	int err;
	unsigned long value;

	err = kstrtoul(buf, 10, &value);
	if (err)
		return -EINVAL;
	if (value < 1)
		return -EINVAL;

	ksm_advisor_target_scan_time = value;
	return count;
}
KSM_ATTR(advisor_target_scan_time);

static struct attribute *ksm_attrs[] = {
	&sleep_millisecs_attr.attr,
	&pages_to_scan_attr.attr,
	&run_attr.attr,
	&pages_scanned_attr.attr,
	&pages_shared_attr.attr,
	&pages_sharing_attr.attr,
	&pages_unshared_attr.attr,
	&pages_volatile_attr.attr,
	&pages_skipped_attr.attr,
	&ksm_zero_pages_attr.attr,
	&full_scans_attr.attr,
#ifdef CONFIG_NUMA
	&merge_across_nodes_attr.attr,
#endif
	&max_page_sharing_attr.attr,
	&stable_node_chains_attr.attr,
	&stable_node_dups_attr.attr,
	&stable_node_chains_prune_millisecs_attr.attr,
	&use_zero_pages_attr.attr,
	&zero_pages_min_age_attr.attr,
	&zero_pages_merged_attr.attr,
	&zero_pages_scope_attr.attr,
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	&zero_pages_thp_split_min_attr.attr,
	&zero_pages_thp_merged_attr.attr,
	&zero_pages_mthp_merged_attr.attr,
#endif
	&unstable_refresh_millisecs_attr.attr,
	&unstable_refreshed_attr.attr,
	&unstable_refresh_dropped_attr.attr,
	&general_profit_attr.attr,
	&smart_scan_attr.attr,
	&advisor_mode_attr.attr,
	&advisor_max_cpu_attr.attr,
	&advisor_min_pages_to_scan_attr.attr,
	&advisor_max_pages_to_scan_attr.attr,
	&advisor_target_scan_time_attr.attr,
	NULL,
};

static const struct attribute_group ksm_attr_group = {
	.attrs = ksm_attrs,
	.name = "ksm",
};
#endif /* CONFIG_SYSFS */

static int __init ksm_init(void)
{
	struct task_struct *ksm_thread;
	int err;

	/* VM_UNMERGEABLE takes a bit that 6.12 leaves free: keep it so. */
	BUILD_BUG_ON(VM_UNMERGEABLE & (VM_UFFD_MINOR | VM_ALLOW_ANY_UNCACHED |
				       VM_DROPPABLE | VM_SHADOW_STACK |
				       VM_MTE | VM_MTE_ALLOWED | VM_MERGEABLE));

	/* The correct value depends on page size and endianness */
	zero_checksum = calc_checksum(ZERO_PAGE(0));
	/* Default to false for backwards compatibility */
	ksm_use_zero_pages = false;
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	/* Split no THP: see "Zero-filled large folios". */
	ksm_zero_pages_thp_split_min = HPAGE_PMD_NR;
#endif

	err = ksm_slab_init();
	if (err)
		goto out;

	ksm_thread = kthread_run(ksm_scan_thread, NULL, "ksmd");
	if (IS_ERR(ksm_thread)) {
		pr_err("ksm: creating kthread failed\n");
		err = PTR_ERR(ksm_thread);
		goto out_free;
	}

#ifdef CONFIG_SYSFS
	err = sysfs_create_group(mm_kobj, &ksm_attr_group);
	if (err) {
		pr_err("ksm: register sysfs failed\n");
		kthread_stop(ksm_thread);
		goto out_free;
	}
#else
	ksm_run = KSM_RUN_MERGE;	/* no way for user to start it */

#endif /* CONFIG_SYSFS */

#ifdef CONFIG_MEMORY_HOTREMOVE
	/* There is no significance to this priority 100 */
	hotplug_memory_notifier(ksm_memory_callback, KSM_CALLBACK_PRI);
#endif
	return 0;

out_free:
	ksm_slab_free();
out:
	return err;
}
subsys_initcall(ksm_init);
