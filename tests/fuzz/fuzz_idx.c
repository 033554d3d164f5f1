/* libFuzzer harness: the IDX reader (engine/data/idx.c), raw and gzip. The
 * first input byte picks the entry point: even: ol_idx_read; odd:
 * ol_read_idx as images, with the rest split in two (images and labels)
 * when bit 1 is set. The reader takes paths, so the bytes go through
 * files in /tmp, rewritten for every input. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when the last input was refused (read by the replay driver). */
int ol_fuzz_refused;

static char paths[2][64];

static void cleanup(void) {
    unlink(paths[0]);
    unlink(paths[1]);
}

static void put(const char *path, const uint8_t *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(d, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!paths[0][0]) {
        snprintf(paths[0], sizeof paths[0], "/tmp/ol_fuzz_idx_%ld_a", (long)getpid());
        snprintf(paths[1], sizeof paths[1], "/tmp/ol_fuzz_idx_%ld_b", (long)getpid());
        atexit(cleanup);
    }
    if (size < 1) return 0;
    int mode = data[0];
    data++;
    size--;
    ol_error err;
    err.msg[0] = 0;
    if (!(mode & 1)) {
        ol_idx idx;
        put(paths[0], data, size);
        ol_fuzz_refused = ol_idx_read(paths[0], &idx, &err) != 0;
        if (!ol_fuzz_refused) ol_idx_free(&idx);
        else if (!err.msg[0]) abort();
        return 0;
    }
    const char *labels = NULL;
    size_t first = size;
    if (mode & 2) {
        first = size / 2;
        put(paths[1], data + first, size - first);
        labels = paths[1];
    }
    put(paths[0], data, first);
    ol_dataset *ds = ol_read_idx(paths[0], labels, (mode >> 2) & 15, &err);
    ol_fuzz_refused = !ds;
    if (ds) ol_dataset_free(ds);
    else if (!err.msg[0]) abort();
    return 0;
}
