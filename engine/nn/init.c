/* Initialisers, following torch.nn.init (PyTorch 2.x, torch/nn/init.py):
 *   calculate_gain: linear, conv and sigmoid 1, tanh 5/3, relu sqrt 2,
 *     leaky_relu sqrt(2 / (1 + slope^2)) (slope 0.01 by default), selu 3/4;
 *   fans: fan_in = size(1) * r, fan_out = size(0) * r, r = product of the
 *     remaining sizes (the receptive field);
 *   xavier_uniform: U(-a, a), a = gain sqrt(6 / (fan_in + fan_out))
 *   xavier_normal:  N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out))
 *     (Glorot and Bengio, AISTATS 2010);
 *   fan_in_uniform: U(-1, 1) gain / sqrt(fan_in) (the older scheme of
 *     LeCun et al. 1998 and Torch7's nn.Linear reset);
 *   kaiming_uniform: U(-b, b), b = sqrt 3 gain / sqrt(fan) and
 *   kaiming_normal: std = gain / sqrt(fan), gain = calculate_gain(
 *     nonlinearity, a), fan by mode (He et al., ICCV 2015);
 *   orthogonal: Q of the QR of a rows x (numel/rows) standard normal matrix
 *     (transposed when rows < cols), columns times sign(diag R) so that the
 *     result is uniform over orthogonal matrices (Saxe et al. 2014;
 *     Mezzadri 2007), times gain.
 * Every draw comes from the global RNG (core/rng.h), in row-major order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "core/rng.h"
#include "linalg/lapack.h"

static const char *const scheme_names[] = {"xavier_uniform", "xavier_normal", "fan_in_uniform",
                                           "kaiming_uniform", "kaiming_normal", "orthogonal"};

int ol_init_scheme_parse(const char *name, ol_init_scheme *s) {
    for (unsigned i = 0; i < sizeof scheme_names / sizeof *scheme_names; i++)
        if (strcmp(name, scheme_names[i]) == 0) {
            *s = (ol_init_scheme)i;
            return 0;
        }
    return -1;
}

int ol_init_gain(const char *nl, double param, double *gain, ol_error *err) {
    static const char *const unit[] = {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                                       "conv_transpose2d", "conv_transpose3d", "sigmoid"};
    for (unsigned i = 0; i < sizeof unit / sizeof *unit; i++)
        if (strcmp(nl, unit[i]) == 0) return *gain = 1.0, 0;
    if (strcmp(nl, "tanh") == 0) return *gain = 5.0 / 3.0, 0;
    if (strcmp(nl, "relu") == 0) return *gain = sqrt(2.0), 0;
    if (strcmp(nl, "selu") == 0) return *gain = 3.0 / 4.0, 0;
    if (strcmp(nl, "leaky_relu") == 0) {
        double slope = isnan(param) ? 0.01 : param;
        return *gain = sqrt(2.0 / (1.0 + slope * slope)), 0;
    }
    if (!strcmp(nl, "gelu") || !strcmp(nl, "silu") || !strcmp(nl, "elu") || !strcmp(nl, "softplus"))
        return ol_fail(err, "unsupported nonlinearity '%s' (torch.nn.init.calculate_gain has no gain "
                       "for it; ol.nn.mlp's kaiming init uses relu's; pass a gain)", nl);
    return ol_fail(err, "unsupported nonlinearity '%s'", nl);
}

int ol_init_fans(const ol_tensor *t, double *fan_in, double *fan_out, ol_error *err) {
    if (t->ndim < 2)
        return ol_fail(err, "fan in and fan out need a tensor of 2 or more dimensions (got %d)", t->ndim);
    double r = 1;
    for (int d = 2; d < t->ndim; d++) r *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * r;
    *fan_out = (double)t->shape[0] * r;
    if (*fan_in == 0 || *fan_out == 0) return ol_fail(err, "cannot initialise an empty tensor");
    return 0;
}

int ol_init_xavier_uniform(ol_tensor *t, double gain, ol_error *err) {
    double fi, fo;
    if (ol_init_fans(t, &fi, &fo, err) != 0) return -1;
    double a = gain * sqrt(6.0 / (fi + fo));
    ol_tensor_uniform_(t, -a, a);
    return 0;
}

int ol_init_xavier_normal(ol_tensor *t, double gain, ol_error *err) {
    double fi, fo;
    if (ol_init_fans(t, &fi, &fo, err) != 0) return -1;
    ol_tensor_normal_(t, 0, gain * sqrt(2.0 / (fi + fo)));
    return 0;
}

int ol_init_fan_in_uniform(ol_tensor *t, double gain, ol_error *err) {
    double fi, fo;
    if (ol_init_fans(t, &fi, &fo, err) != 0) return -1;
    double a = gain / sqrt(fi);
    ol_tensor_uniform_(t, -a, a);
    return 0;
}

static int kaiming_std(const ol_tensor *t, double a, int fan_out, const char *nl, double *std,
                       ol_error *err) {
    double fi, fo, gain;
    if (ol_init_fans(t, &fi, &fo, err) != 0) return -1;
    if (ol_init_gain(nl, a, &gain, err) != 0) return -1;
    *std = gain / sqrt(fan_out ? fo : fi);
    return 0;
}

int ol_init_kaiming_uniform(ol_tensor *t, double a, int fan_out, const char *nl, ol_error *err) {
    double std;
    if (kaiming_std(t, a, fan_out, nl, &std, err) != 0) return -1;
    ol_tensor_uniform_(t, -sqrt(3.0) * std, sqrt(3.0) * std);
    return 0;
}

int ol_init_kaiming_normal(ol_tensor *t, double a, int fan_out, const char *nl, ol_error *err) {
    double std;
    if (kaiming_std(t, a, fan_out, nl, &std, err) != 0) return -1;
    ol_tensor_normal_(t, 0, std);
    return 0;
}

/* Element k (row-major) of t, whatever its strides. */
static void set_flat(ol_tensor *t, int64_t k, double v) {
    int64_t idx[OL_MAXDIM];
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = k % t->shape[d];
        k /= t->shape[d];
    }
    ol_tensor_set(t, idx, v);
}

int ol_init_orthogonal(ol_tensor *t, double gain, ol_error *err) {
    if (t->ndim < 2)
        return ol_fail(err, "orthogonal needs a tensor of 2 or more dimensions (got %d)", t->ndim);
    const int64_t rows = t->shape[0], numel = ol_tensor_numel(t);
    if (numel == 0) return ol_fail(err, "cannot initialise an empty tensor");
    const int64_t cols = numel / rows;
    const int trans = rows < cols;
    const int64_t m = trans ? cols : rows, n = trans ? rows : cols; /* m >= n */
    double *a = malloc((size_t)(m * n) * sizeof *a), *sign = malloc((size_t)n * sizeof *sign);
    if (!a || !sign) {
        free(a);
        free(sign);
        return ol_fail(err, "out of memory");
    }
    /* Draw the rows x cols matrix in row-major order, stored as m x n. */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            double z = ol_rng_normal();
            if (trans) a[c * n + r] = z;
            else a[r * n + c] = z;
        }
    /* a = Q R: a becomes Q, sign receives R's diagonal, then its signs. */
    const int info = ol_lapack_qr((int)m, (int)n, a, sign);
    if (info == 0) {
        for (int64_t j = 0; j < n; j++) {
            double d = sign[j];
            sign[j] = (d > 0) - (d < 0);
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) {
                double q = a[i * n + j] * sign[j] * gain;
                set_flat(t, trans ? j * cols + i : i * cols + j, q);
            }
    }
    free(a);
    free(sign);
    if (info != 0) return ol_fail(err, "orthogonal: QR failed (LAPACK info %d)", info);
    return 0;
}

int ol_model_init(ol_model *m, ol_init_scheme scheme, double gain, double a,
                  const char *nonlinearity, ol_error *err) {
    int rc = 0;
    for (int k = 0; k < ol_model_nparam_tensors(m) && rc == 0; k++) {
        ol_param_info info;
        ol_tensor v;
        ol_model_param_info(m, k, &info);
        ol_model_param_view(m, k, 0, &v);
        const ol_layer_kind kind = ol_model_layer(m, info.layer)->kind;
        if (info.is_bias) {
            ol_fill_(&v, 0); /* biases start at zero */
        } else if (kind != OL_LAYER_LINEAR) {
            ol_fill_(&v, 1); /* a norm's weight starts at one (torch's reset_parameters) */
        } else {
            switch (scheme) {
            case OL_INIT_XAVIER_UNIFORM: rc = ol_init_xavier_uniform(&v, gain, err); break;
            case OL_INIT_XAVIER_NORMAL: rc = ol_init_xavier_normal(&v, gain, err); break;
            case OL_INIT_FAN_IN_UNIFORM: rc = ol_init_fan_in_uniform(&v, gain, err); break;
            case OL_INIT_KAIMING_UNIFORM: rc = ol_init_kaiming_uniform(&v, a, 0, nonlinearity, err); break;
            case OL_INIT_KAIMING_NORMAL: rc = ol_init_kaiming_normal(&v, a, 0, nonlinearity, err); break;
            case OL_INIT_ORTHOGONAL: rc = ol_init_orthogonal(&v, gain, err); break;
            default: rc = ol_fail(err, "unknown init scheme");
            }
        }
        ol_tensor_release(&v);
    }
    return rc;
}
