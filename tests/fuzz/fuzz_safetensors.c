/* libFuzzer harness: the safetensors loader (engine/io/checkpoint.c) on
 * arbitrary bytes, and on what it accepts, the readers of the optimizer's
 * part (engine/optim/io.c) and of the RNG state. They must refuse bad
 * input with a message and never crash, leak or read out of bounds; what
 * the loader accepts must save again and load to the same tensors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/checkpoint.h"
#include "optim/optim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 when the last input was refused, by the loader or by the optimizer's
 * or the RNG's reader (read by the replay driver). */
int ol_fuzz_refused;

static char path[64];

static void cleanup(void) { unlink(path); }

/* What was accepted saves and loads back to the same names, shapes, bytes
 * and metadata (the writer against the reader). */
static void round_trip(const ol_checkpoint *ck) {
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/ol_fuzz_st_%ld", (long)getpid());
        atexit(cleanup);
    }
    ol_checkpoint back;
    ol_error err;
    if (ol_ck_save(ck, path, &err) != 0) {
        /* Names or metadata that are not valid UTF-8 cannot be written
         * back, nor a file at the limits once checksums are added;
         * anything else is a bug. */
        if (!strstr(err.msg, "UTF-8") && !strstr(err.msg, "limit")) abort();
        return;
    }
    if (ol_ck_load(path, &back, &err) != 0 || !back.verified) abort();
    if (back.ntensors != ck->ntensors || back.nmeta != ck->nmeta) abort();
    for (int i = 0; i < ck->ntensors; i++) {
        const ol_tensor *a = &ck->tensors[i].t, *b = ol_ck_find(&back, ck->tensors[i].name);
        if (!b || a->dtype != b->dtype || a->ndim != b->ndim) abort();
        for (int d = 0; d < a->ndim; d++)
            if (a->shape[d] != b->shape[d]) abort();
        size_t nb = (size_t)ol_tensor_numel(a) * ol_dtype_size(a->dtype);
        if (nb && memcmp(ol_tensor_data(a), ol_tensor_data(b), nb) != 0) abort();
    }
    for (int i = 0; i < ck->nmeta; i++) {
        const char *v = ol_ck_get_meta(&back, ck->meta[i].key);
        if (!v || strcmp(v, ck->meta[i].value) != 0) abort();
    }
    ol_ck_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ol_checkpoint ck;
    ol_error err;
    ol_fuzz_refused = 1;
    err.msg[0] = 0;
    if (ol_ck_parse(data, size, "fuzz", &ck, &err) != 0) {
        if (!err.msg[0]) abort(); /* a failure always says why */
        return 0;
    }
    /* The optimizer's part and the RNG state, as ol.load reads them. */
    ol_optim_saved saved;
    ol_rng_state rs;
    err.msg[0] = 0;
    int orc = ol_optim_read(&ck, &saved, &err);
    if (orc < 0 && !err.msg[0]) abort();
    if (orc == 0) ol_optim_saved_free(&saved);
    err.msg[0] = 0;
    int rrc = ol_ck_get_rng(&ck, &rs, &err);
    if (rrc < 0 && !err.msg[0]) abort();
    if (rrc == 0 && (rs.s[0] | rs.s[1] | rs.s[2] | rs.s[3]) == 0) abort();
    ol_fuzz_refused = orc < 0 || rrc < 0;
    for (int i = 0; i < ck.ntensors; i++) {
        const ol_tensor *t = &ck.tensors[i].t;
        if (ol_ck_find(&ck, ck.tensors[i].name) != t) abort(); /* names are unique */
        /* Touch every byte: all must be readable (ASan checks). */
        size_t nb = (size_t)ol_tensor_numel(t) * ol_dtype_size(t->dtype);
        const unsigned char *p = ol_tensor_data(t);
        unsigned x = 0;
        for (size_t k = 0; k < nb; k++) x += p[k];
        if (x == 0xFFFFFFFFu) abort(); /* keeps the loop; never true for small inputs */
    }
    round_trip(&ck);
    ol_ck_free(&ck);
    return 0;
}
