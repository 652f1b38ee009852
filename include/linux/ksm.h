/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __LINUX_KSM_H
#define __LINUX_KSM_H
/*
 * Memory merging support.
 *
 * This code enables dynamic sharing of identical pages found in different
 * memory areas, even if they are not shared by fork().
 */

#include <linux/bitops.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>

/*
 * pte_mkksm_zero - mark @pte, a PTE of the zero page, as placed by KSM
 *
 * The mark is what pte_dirty() tests (the dirty bit; on x86 the SavedDirty
 * bit of a read-only PTE), which no other zero page PTE has: see
 * is_ksm_zero_pte(). On x86, powerpc and s390, pte_mkdirty() also sets the
 * soft-dirty bit, which pte_dirty() does not test: it is put back as @pte
 * had it, since a merge is not a write, and soft-dirty users (CRIU's
 * incremental dumps) must not see one. The caller gives @pte the soft-dirty
 * and uffd-wp bits of the entry that it replaces.
 *
 * Outside #ifdef CONFIG_KSM: mm/huge_memory.c and mm/userfaultfd.c keep
 * the mark where the kernel moves or splits a KSM zero page.
 */
static inline pte_t pte_mkksm_zero(pte_t pte)
{
	bool soft_dirty = pte_soft_dirty(pte);

	pte = pte_mkdirty(pte);
	return soft_dirty ? pte : pte_clear_soft_dirty(pte);
}

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
/* pmd_mkksm_zero - mark @pmd, a huge zero PMD, as placed by KSM: as above */
static inline pmd_t pmd_mkksm_zero(pmd_t pmd)
{
	bool soft_dirty = pmd_soft_dirty(pmd);

	pmd = pmd_mkdirty(pmd);
	return soft_dirty ? pmd : pmd_clear_soft_dirty(pmd);
}
#endif

#ifdef CONFIG_KSM
int ksm_madvise(struct vm_area_struct *vma, unsigned long start,
		unsigned long end, int advice, unsigned long *vm_flags);

void ksm_add_vma(struct vm_area_struct *vma);
int ksm_enable_merge_any(struct mm_struct *mm);
int ksm_disable_merge_any(struct mm_struct *mm);
int ksm_disable(struct mm_struct *mm);

int __ksm_enter(struct mm_struct *mm);
void __ksm_fork(struct mm_struct *mm);
void __ksm_exit(struct mm_struct *mm);
/*
 * To identify zeropages that were mapped by KSM, we reuse the dirty bit
 * in the PTE. If the PTE is dirty, the zeropage was mapped by KSM when
 * deduplicating memory.
 */
#define is_ksm_zero_pte(pte)	(is_zero_pfn(pte_pfn(pte)) && pte_dirty(pte))

/*
 * The same holds for the huge zero page that KSM maps in place of a
 * zero-filled THP. It counts as HPAGE_PMD_NR KSM zero pages, and splitting
 * its PMD makes each of its PTEs a KSM zero page.
 */
static inline bool is_ksm_zero_pmd(pmd_t pmd)
{
	return is_huge_zero_pmd(pmd) && pmd_dirty(pmd);
}

extern atomic_long_t ksm_zero_pages;

static inline void ksm_map_zero_pages(struct mm_struct *mm, long nr)
{
	atomic_long_add(nr, &ksm_zero_pages);
	atomic_long_add(nr, &mm->ksm_zero_pages);
}

static inline void ksm_map_zero_page(struct mm_struct *mm)
{
	ksm_map_zero_pages(mm, 1);
}

static inline void ksm_might_unmap_zero_page(struct mm_struct *mm, pte_t pte)
{
	if (is_ksm_zero_pte(pte)) {
		atomic_long_dec(&ksm_zero_pages);
		atomic_long_dec(&mm->ksm_zero_pages);
	}
}

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
static inline void ksm_might_unmap_zero_pmd(struct mm_struct *mm, pmd_t pmd)
{
	if (is_ksm_zero_pmd(pmd)) {
		atomic_long_sub(HPAGE_PMD_NR, &ksm_zero_pages);
		atomic_long_sub(HPAGE_PMD_NR, &mm->ksm_zero_pages);
	}
}
#endif

/*
 * ksm_might_copy_zero_page - fork copies @pte into @mm, the child's
 *
 * A KSM zero page that the child gets is counted where its PTE (or, below,
 * its PMD) is copied: the child's count is then what it maps, whatever
 * VM_DONTCOPY and VM_WIPEONFORK vmas left out and wherever a failed
 * dup_mmap() stopped, and zapping it on exit gives back just that.
 */
static inline void ksm_might_copy_zero_page(struct mm_struct *mm, pte_t pte)
{
	if (is_ksm_zero_pte(pte))
		ksm_map_zero_page(mm);
}

#ifdef CONFIG_TRANSPARENT_HUGEPAGE
static inline void ksm_might_copy_zero_pmd(struct mm_struct *mm, pmd_t pmd)
{
	if (is_ksm_zero_pmd(pmd))
		ksm_map_zero_pages(mm, HPAGE_PMD_NR);
}
#endif

/*
 * ksm_mm_init - a new mm has no KSM state of its own yet
 *
 * dup_mm() copied the parent's mm_struct, counters included: the child
 * starts from zero, and fork counts what it copies into it.
 */
static inline void ksm_mm_init(struct mm_struct *mm)
{
	atomic_long_set(&mm->ksm_zero_pages, 0);
	mm->ksm_merging_pages = 0;
	mm->ksm_rmap_items = 0;
}

static inline long mm_ksm_zero_pages(struct mm_struct *mm)
{
	return atomic_long_read(&mm->ksm_zero_pages);
}

static inline void ksm_fork(struct mm_struct *mm, struct mm_struct *oldmm)
{
	/* Adding mm to ksm is best effort on fork. */
	if (test_bit(MMF_VM_MERGEABLE, &oldmm->flags))
		__ksm_fork(mm);
}

static inline int ksm_execve(struct mm_struct *mm)
{
	if (test_bit(MMF_VM_MERGE_ANY, &mm->flags))
		return __ksm_enter(mm);

	return 0;
}

static inline void ksm_exit(struct mm_struct *mm)
{
	if (test_bit(MMF_VM_MERGEABLE, &mm->flags))
		__ksm_exit(mm);
}

/*
 * When do_swap_page() first faults in from swap what used to be a KSM page,
 * no problem, it will be assigned to this vma's anon_vma; but thereafter,
 * it might be faulted into a different anon_vma (or perhaps to a different
 * offset in the same anon_vma).  do_swap_page() cannot do all the locking
 * needed to reconstitute a cross-anon_vma KSM page: for now it has to make
 * a copy, and leave remerging the pages to a later pass of ksmd.
 *
 * We'd like to make this conditional on vma->vm_flags & VM_MERGEABLE,
 * but what if the vma was unmerged while the page was swapped out?
 */
struct folio *ksm_might_need_to_copy(struct folio *folio,
			struct vm_area_struct *vma, unsigned long addr);

void rmap_walk_ksm(struct folio *folio, struct rmap_walk_control *rwc);
void folio_migrate_ksm(struct folio *newfolio, struct folio *folio);
void collect_procs_ksm(struct folio *folio, struct page *page,
		struct list_head *to_kill, int force_early);
long ksm_process_profit(struct mm_struct *);

#else  /* !CONFIG_KSM */

static inline void ksm_add_vma(struct vm_area_struct *vma)
{
}

static inline int ksm_disable(struct mm_struct *mm)
{
	return 0;
}

static inline void ksm_fork(struct mm_struct *mm, struct mm_struct *oldmm)
{
}

static inline int ksm_execve(struct mm_struct *mm)
{
	return 0;
}

static inline void ksm_exit(struct mm_struct *mm)
{
}

static inline void ksm_might_unmap_zero_page(struct mm_struct *mm, pte_t pte)
{
}

static inline void ksm_might_copy_zero_page(struct mm_struct *mm, pte_t pte)
{
}

static inline void ksm_might_copy_zero_pmd(struct mm_struct *mm, pmd_t pmd)
{
}

static inline void ksm_mm_init(struct mm_struct *mm)
{
}

static inline bool is_ksm_zero_pte(pte_t pte)
{
	return false;
}

static inline bool is_ksm_zero_pmd(pmd_t pmd)
{
	return false;
}

static inline void ksm_might_unmap_zero_pmd(struct mm_struct *mm, pmd_t pmd)
{
}

static inline void collect_procs_ksm(struct folio *folio, struct page *page,
				     struct list_head *to_kill, int force_early)
{
}

#ifdef CONFIG_MMU
static inline int ksm_madvise(struct vm_area_struct *vma, unsigned long start,
		unsigned long end, int advice, unsigned long *vm_flags)
{
	return 0;
}

static inline struct folio *ksm_might_need_to_copy(struct folio *folio,
			struct vm_area_struct *vma, unsigned long addr)
{
	return folio;
}

static inline void rmap_walk_ksm(struct folio *folio,
			struct rmap_walk_control *rwc)
{
}

static inline void folio_migrate_ksm(struct folio *newfolio, struct folio *old)
{
}
#endif /* CONFIG_MMU */
#endif /* !CONFIG_KSM */

#endif /* __LINUX_KSM_H */
