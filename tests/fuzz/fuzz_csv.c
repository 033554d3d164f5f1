/* libFuzzer harness: the CSV reader (engine/data/csv.c). The first input
 * byte picks the options (header mode, label column, delimiter, label
 * base, classes), the rest is the file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/readers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when the last input was refused (read by the replay driver). */
int ol_fuzz_refused;

static char path[64];

static void cleanup(void) { unlink(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/ol_fuzz_csv_%ld.csv", (long)getpid());
        atexit(cleanup);
    }
    if (size < 1) return 0;
    int o = data[0];
    data++;
    size--;
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    static const int header_mode[4] = {0, 1, -1, -1};
    static const int64_t label_index[4] = {0, -1, 1, 2};
    ol_csv_opts opts = {
        .header = header_mode[o & 3],
        .label_name = (o & 0x80) ? "label" : NULL,
        .label_index = label_index[(o >> 2) & 3],
        .delimiter = (o & 0x10) ? ';' : ',',
        .label_base = (o & 0x20) ? -1 : (o & 0x40) ? 1 : 0,
        .classes = (o & 0x40) && (o & 0x20) ? 3 : 0,
    };
    ol_error err;
    err.msg[0] = 0;
    ol_dataset *ds = ol_read_csv(path, &opts, &err);
    ol_fuzz_refused = !ds;
    if (ds) ol_dataset_free(ds);
    else if (!err.msg[0]) abort();
    return 0;
}
