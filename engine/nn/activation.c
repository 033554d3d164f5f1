/* Activations relu, leaky_relu, tanh, sigmoid, gelu (the exact erf form,
 * torch.nn.GELU's default approximate='none'), silu, elu (alpha 1,
 * torch.nn.ELU's default), softplus (beta 1, threshold 20, torch.nn.Softplus's
 * defaults) and identity: forward and
 * backward in generic/activation.h, instantiated for f32 and f64. The
 * forward takes an optional bias so that a linear layer's bias add and its
 * activation are one pass over memory after the GEMM. */
#include <string.h>

#include "nn/kernels.h"

static const char *const act_names[] = {"identity", "relu", "leaky_relu",
                                        "tanh", "sigmoid", "gelu",
                                        "silu", "elu", "softplus"};
_Static_assert(sizeof act_names / sizeof *act_names == OL_ACT_COUNT, "a name per activation");

const char *ol_act_name(ol_act a) {
    return (unsigned)a < sizeof act_names / sizeof *act_names ? act_names[a] : "?";
}

int ol_act_parse(const char *name, ol_act *a) {
    for (unsigned i = 0; i < sizeof act_names / sizeof *act_names; i++)
        if (strcmp(name, act_names[i]) == 0) {
            *a = (ol_act)i;
            return 0;
        }
    return -1;
}

/* softplus's threshold: above it softplus is the identity (torch's default). */
#define SOFTPLUS_THRESHOLD 20

#define OL_GENERIC "nn/generic/activation.h"
#include "core/generic.h"
