/* A C user of the installed engine: compiled against the installed headers
 * and liboptlua-engine with `pkg-config --cflags --libs optlua-engine`, it
 * trains a 2-16-3 tanh MLP on three Gaussian blobs with Adam through
 * ol_train_run and prints each epoch's mean training loss, one per line
 * ("epoch E loss L"), for tests/install/test_install.py to check. */
#include <stdio.h>

#include "core/rng.h"
#include "data/loader.h"
#include "data/readers.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "train/train.h"

static int print_epoch(void *ctx, const ol_train_state *s) {
    (void)ctx;
    printf("epoch %lld loss %.6f\n", (long long)s->epoch, s->epoch_loss);
    return 0;
}

int main(void) {
    ol_error err = {{0}};
    ol_rng_seed(3);
    ol_dataset *ds = ol_synthetic(&(ol_synth_opts){.kind = OL_SYNTH_BLOBS, .n = 300, .classes = 3, .dim = 2,
                                                   .noise = -1},
                                  &err);
    if (!ds) goto fail;
    ol_layer_spec spec[] = {{.kind = OL_LAYER_LINEAR, .in = 2, .out = 16},
                            {.kind = OL_LAYER_ACT, .act = OL_ACT_TANH},
                            {.kind = OL_LAYER_LINEAR, .in = 16, .out = 3}};
    ol_model *m = ol_model_new(spec, 3, OL_F32, &err);
    if (!m || ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "tanh", &err)) goto fail;
    ol_loader l;
    if (ol_loader_init(&l, ds, &(ol_loader_opts){.batch_size = 32, .shuffle = 1}, &err)) goto fail;
    ol_optim opt;
    if (ol_optim_init(&opt, ol_optim_find("adam"), OL_F32, ol_model_nparams(m), &err)) goto fail;
    const double lr = 0.01;
    if (ol_optim_set(&opt, "lr", &lr, &err)) goto fail;
    ol_train_config c = {.model = m, .opt = &opt, .loader = &l,
                         .loss = *OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY), .epochs = 5, .every = 1,
                         .on_epoch = print_epoch};
    if (ol_train_run(&c, NULL, &err)) goto fail;
    ol_optim_free(&opt);
    ol_loader_free(&l);
    ol_model_free(m);
    ol_dataset_free(ds);
    return 0;
fail:
    fprintf(stderr, "train_mlp: %s\n", err.msg);
    return 1;
}
