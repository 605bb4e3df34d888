/* This process's memory as /proc reports it, for the tests that bound resident memory
 * (test_block_models.c, test_memory.c). */
#ifndef QKV_TEST_PROC_MEM_H
#define QKV_TEST_PROC_MEM_H

/* Resident KiB of the mappings of files whose path ends in `tail` (/proc/self/smaps). */
long proc_mapping_rss_kb(const char *tail);

/* From /proc/self/maps: the bytes mapped from files whose path ends in `tail` (into
 * *mapped), and the resident KiB of the readable anonymous mappings (returned; -1 when
 * mincore refuses one). Unlike smaps and RssAnon, both stay true under qemu-user. */
long proc_anon_resident_kb(const char *tail, unsigned long long *mapped);

/* A "Key:" line of /proc/self/status in KiB ("RssAnon:"), or -1 when there is none. */
long proc_status_kb(const char *key);

#endif
