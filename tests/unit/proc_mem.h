/* This process's memory as /proc reports it, for the tests that bound resident memory
 * (test_block_models.c, test_memory.c). */
#ifndef QKV_TEST_PROC_MEM_H
#define QKV_TEST_PROC_MEM_H

/* Resident KiB of the mappings of files whose path ends in `tail` (/proc/self/smaps). */
long proc_mapping_rss_kb(const char *tail);

/* A "Key:" line of /proc/self/status in KiB ("RssAnon:"), or -1 when there is none. */
long proc_status_kb(const char *key);

#endif
