/* Memory for a backend's large, long-lived copy of the weights (packed panels).
 *
 * The kernels stream these copies again and again (once per call at T = 1, once per row
 * block at large T). On 4 KiB pages a 25 MB Llama-3-8B layer spans 6,000 pages, more than
 * the second-level TLB holds, so the stream pays a page walk every 4 KiB. From
 * QKV_BIG_ALLOC_MIN bytes on, qkv_big_alloc maps the copy on its own, aligned to 2 MiB,
 * and asks Linux for transparent huge pages (madvise MADV_HUGEPAGE: Debian's default THP
 * mode is `madvise`, so nothing gets them unasked). The mapping is exactly the copy's
 * pages, so no byte past it becomes resident, and the part of the last 2 MiB it does not
 * fill keeps small pages. Where THP is off or absent the advice fails quietly and the
 * memory is ordinary. Below QKV_BIG_ALLOC_MIN: 64-byte-aligned heap memory. Measured:
 * backends/int8/README.md, "Huge pages".
 *
 * The memory is zero-filled only from QKV_BIG_ALLOC_MIN on; callers write all of it.
 * Release with qkv_big_free and the same byte count (NULL is accepted). */
#ifndef QKV_BACKENDS_BIG_ALLOC_H
#define QKV_BACKENDS_BIG_ALLOC_H

#include <stddef.h>

#define QKV_BIG_ALLOC_MIN ((size_t)4 << 20) /* below: heap memory, no advice */

void *qkv_big_alloc(size_t bytes);
void qkv_big_free(void *p, size_t bytes);

#endif
