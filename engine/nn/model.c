/* Sequential models: a list of linear layers and activations over one flat
 * parameter buffer and one flat gradient buffer (llm.c's layout), with
 * workspaces that grow to the largest batch seen and are then reused, so
 * that a training step allocates nothing.
 *
 * A linear layer followed by an activation is fused: y = f(z + b) is
 * computed on each part of the product z = x W^T as soon as that part is
 * made (the bias is never stored into z), and in backward dz = dy *
 * f'(z + b) and the bias gradient on each part of the product that makes
 * dy (the next layer's dx), so that neither pass reads memory the product
 * has left (engine/nn/linear.c cuts the products over the threads).
 * Backward skips dx for the first linear layer (nobody needs dL/dinput).
 *
 * A dropout layer (dropout.c) runs on its own: in training mode it draws
 * its key from the engine's RNG, writes its output and its mask (kept in
 * the workspace, a byte per element) in one pass, and backward multiplies
 * by the mask; in evaluation mode, or with p = 0, it copies.
 *
 * A norm layer (norm.c) also runs on its own, never fused: layer norm
 * needs a whole row, batch norm a whole column, before it writes anything.
 * Its statistics (a mean and a reciprocal standard deviation per row or
 * per feature) are kept in the workspace for backward; batch norm's
 * running estimates live in the model's buffer storage (nn.h), apart from
 * the parameters, so that optimizers never see them. */
#include <float.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "core/rng.h"
#include "nn/kernels.h"

typedef struct layer {
    ol_layer_spec spec;
    int64_t width;        /* output width */
    int64_t w_off, b_off; /* linear: offsets into the flat buffers */
    int fused;            /* linear: next layer is its activation; act: fused into the previous */
    int dropped;          /* dropout: the last forward applied its mask */
    int64_t buf_off;      /* batch_norm: running_mean's offset in the buffers (running_var follows) */
    int batch_stats;      /* batch_norm: the last forward used the batch's statistics */
} layer;

struct ol_model {
    ol_dtype dt;
    size_t es; /* element size */
    int nl;
    layer *L;
    int first_linear;
    int64_t in_features, out_features, nparams;
    ol_storage *params, *grads;
    int nt; /* parameter tensors */
    ol_param_info *pinfo;
    /* workspace: out[i] and gout[i] hold cap x width of layer i */
    int64_t cap, n;
    void *ws;
    void **out, **gout;
    void *row_groups; /* partial sums per group of rows: bias gradients, the loss (kernels.h) */
    const void *x;
    int state; /* 0: nothing, 1: forward done, 2: loss done */
    int grads_finite; /* see ol_model_grads_known_finite */
    void *curv;       /* the curvature products' workspace (rop.c), curv_size bytes */
    size_t curv_size;
    int training;     /* the mode (ol_model_set_training) */
    uint8_t **mask;   /* dropout layer i: cap x width bytes of the workspace, else NULL */
    double **stats;   /* norm layer i: its statistics in the workspace (norm.c), else NULL */
    double *norm_sums;   /* 2 x the widest norm's doubles: the sums over rows (norm.c) */
    ol_storage *buffers; /* batch_norm's running estimates, model dtype (nn.h) */
    int64_t nbuffer_values;
    int nb;              /* buffer tensors */
    int has_norm_params; /* an affine norm: ol_model_grads_known_finite cannot tell */
};

static int is_norm(ol_layer_kind k) { return k == OL_LAYER_LAYER_NORM || k == OL_LAYER_BATCH_NORM; }
static const char *norm_name(ol_layer_kind k) {
    return k == OL_LAYER_LAYER_NORM ? "layer_norm" : "batch_norm";
}

static void *P(const ol_model *m, int64_t off) { return (char *)m->params->data + off * (int64_t)m->es; }
static void *G(const ol_model *m, int64_t off) { return (char *)m->grads->data + off * (int64_t)m->es; }

ol_model *ol_model_new(const ol_layer_spec *specs, int nlayers, ol_dtype dt, ol_error *err) {
    if (dt != OL_F32 && dt != OL_F64) return ol_fail(err, "unknown dtype"), NULL;
    if (nlayers < 1) return ol_fail(err, "a model needs at least one layer"), NULL;
    int first_linear = -1;
    for (int i = 0; i < nlayers && first_linear < 0; i++)
        if (specs[i].kind == OL_LAYER_LINEAR) first_linear = i;
    if (first_linear < 0) return ol_fail(err, "a model needs at least one linear layer"), NULL;

    ol_model *m = calloc(1, sizeof *m);
    if (!m) return ol_fail(err, "out of memory"), NULL;
    m->dt = dt;
    m->es = ol_dtype_size(dt);
    m->nl = nlayers;
    m->first_linear = first_linear;
    m->L = calloc((size_t)nlayers, sizeof *m->L);
    m->out = calloc((size_t)nlayers, sizeof *m->out);
    m->gout = calloc((size_t)nlayers, sizeof *m->gout);
    m->mask = calloc((size_t)nlayers, sizeof *m->mask);
    m->stats = calloc((size_t)nlayers, sizeof *m->stats);
    m->training = 1;
    if (!m->L || !m->out || !m->gout || !m->mask || !m->stats) goto oom;

    int64_t width = specs[first_linear].in, off = 0, boff = 0;
    m->in_features = width;
    for (int i = 0; i < nlayers; i++) {
        layer *l = &m->L[i];
        l->spec = specs[i];
        if (specs[i].kind == OL_LAYER_LINEAR) {
            if (specs[i].in < 1 || specs[i].out < 1) {
                ol_fail(err, "layer %d: linear sizes must be positive (got %lld, %lld)", i + 1,
                        (long long)specs[i].in, (long long)specs[i].out);
                goto fail;
            }
            if (specs[i].in != width) {
                ol_fail(err, "layer %d: linear expects %lld inputs but the layer before gives %lld",
                        i + 1, (long long)specs[i].in, (long long)width);
                goto fail;
            }
            width = specs[i].out;
            l->w_off = off;
            off += specs[i].in * specs[i].out;
            l->b_off = off;
            off += specs[i].out;
            m->nt += 2;
            if (i + 1 < nlayers && specs[i + 1].kind == OL_LAYER_ACT) {
                l->fused = 1;
                m->L[i + 1].fused = 1;
            }
        } else if (specs[i].kind == OL_LAYER_DROPOUT) {
            if (!(specs[i].p >= 0 && specs[i].p < 1)) {
                ol_fail(err, "layer %d: dropout p must be in [0, 1) (got %g)", i + 1, specs[i].p);
                goto fail;
            }
        } else if (is_norm(specs[i].kind)) {
            const ol_layer_spec *s = &specs[i];
            const char *name = norm_name(s->kind);
            if (i < first_linear) {
                ol_fail(err, "layer %d: %s before the first linear layer is not supported (normalise the data instead)",
                        i + 1, name);
                goto fail;
            }
            if (s->in != width || s->out != width) {
                ol_fail(err, "layer %d: %s over %lld features, the input has %lld", i + 1, name,
                        (long long)s->in, (long long)width);
                goto fail;
            }
            if (!(s->eps > 0) || !isfinite(s->eps)) {
                ol_fail(err, "layer %d: %s eps must be positive (got %g)", i + 1, name, s->eps);
                goto fail;
            }
            if (s->kind == OL_LAYER_BATCH_NORM && !(s->momentum >= 0 && s->momentum <= 1)) {
                ol_fail(err, "layer %d: batch_norm momentum must be in [0, 1] (got %g)", i + 1,
                        s->momentum);
                goto fail;
            }
            if (s->affine) {
                l->w_off = off;
                off += width;
                l->b_off = off;
                off += width;
                m->nt += 2;
                m->has_norm_params = 1;
            }
            if (s->kind == OL_LAYER_BATCH_NORM) {
                l->buf_off = boff;
                boff += 2 * width;
                m->nb += 2;
            }
        } else if (specs[i].kind != OL_LAYER_ACT) {
            ol_fail(err, "layer %d: unknown layer kind", i + 1);
            goto fail;
        } else if ((unsigned)specs[i].act >= OL_ACT_COUNT) {
            ol_fail(err, "layer %d: unknown activation", i + 1);
            goto fail;
        }
        l->width = width;
    }
    m->out_features = width;
    m->nparams = off;
    m->params = ol_storage_new((size_t)off * m->es);
    m->grads = ol_storage_new((size_t)off * m->es);
    m->pinfo = calloc((size_t)m->nt + 1, sizeof *m->pinfo);
    m->nbuffer_values = boff;
    m->buffers = ol_storage_new((size_t)(boff ? boff : 1) * m->es);
    if (!m->params || !m->grads || !m->pinfo || !m->buffers) goto oom;
    memset(m->params->data, 0, (size_t)off * m->es);
    memset(m->grads->data, 0, (size_t)off * m->es);
    int k = 0;
    for (int i = 0; i < nlayers; i++) {
        const layer *l = &m->L[i];
        if (l->spec.kind == OL_LAYER_LINEAR) {
            m->pinfo[k++] = (ol_param_info){i, 0, 2, {l->spec.out, l->spec.in}, l->w_off,
                                            l->spec.out * l->spec.in};
            m->pinfo[k++] = (ol_param_info){i, 1, 1, {l->spec.out, 0}, l->b_off, l->spec.out};
        } else if (is_norm(l->spec.kind) && l->spec.affine) {
            m->pinfo[k++] = (ol_param_info){i, 0, 1, {l->width, 0}, l->w_off, l->width};
            for (int64_t c = 0; c < l->width; c++) { /* the weight starts at one */
                if (dt == OL_F32) ((float *)m->params->data)[l->w_off + c] = 1;
                else ((double *)m->params->data)[l->w_off + c] = 1;
            }
            m->pinfo[k++] = (ol_param_info){i, 1, 1, {l->width, 0}, l->b_off, l->width};
        }
        if (l->spec.kind == OL_LAYER_BATCH_NORM) /* running_mean 0, running_var 1 */
            for (int64_t c = 0; c < l->width; c++) {
                if (dt == OL_F32) {
                    ((float *)m->buffers->data)[l->buf_off + c] = 0;
                    ((float *)m->buffers->data)[l->buf_off + l->width + c] = 1;
                } else {
                    ((double *)m->buffers->data)[l->buf_off + c] = 0;
                    ((double *)m->buffers->data)[l->buf_off + l->width + c] = 1;
                }
            }
    }
    return m;
oom:
    ol_fail(err, "out of memory");
fail:
    ol_model_free(m);
    return NULL;
}

void ol_model_free(ol_model *m) {
    if (!m) return;
    ol_storage_release(m->params);
    ol_storage_release(m->grads);
    ol_storage_release(m->buffers);
    free(m->stats);
    free(m->ws);
    free(m->curv);
    free(m->out);
    free(m->gout);
    free(m->mask);
    free(m->pinfo);
    free(m->L);
    free(m);
}

ol_model *ol_model_clone(const ol_model *m, ol_dtype dt, ol_error *err) {
    ol_layer_spec *specs = malloc((size_t)m->nl * sizeof *specs);
    if (!specs) return ol_fail(err, "out of memory"), NULL;
    for (int i = 0; i < m->nl; i++) specs[i] = m->L[i].spec;
    ol_model *c = ol_model_new(specs, m->nl, dt, err);
    free(specs);
    if (!c) return NULL;
    c->training = m->training;
    for (int64_t i = 0; i < m->nparams; i++) {
        double v = m->dt == OL_F32 ? ((const float *)m->params->data)[i]
                                   : ((const double *)m->params->data)[i];
        if (dt == OL_F32) ((float *)c->params->data)[i] = (float)v;
        else ((double *)c->params->data)[i] = v;
    }
    for (int64_t i = 0; i < m->nbuffer_values; i++) {
        double v = m->dt == OL_F32 ? ((const float *)m->buffers->data)[i]
                                   : ((const double *)m->buffers->data)[i];
        if (dt == OL_F32) ((float *)c->buffers->data)[i] = (float)v;
        else ((double *)c->buffers->data)[i] = v;
    }
    return c;
}

ol_dtype ol_model_dtype(const ol_model *m) { return m->dt; }
int64_t ol_model_in_features(const ol_model *m) { return m->in_features; }
int64_t ol_model_out_features(const ol_model *m) { return m->out_features; }
int64_t ol_model_nparams(const ol_model *m) { return m->nparams; }
int ol_model_nlayers(const ol_model *m) { return m->nl; }
void ol_model_set_training(ol_model *m, int training) { m->training = training != 0; }
int ol_model_training(const ol_model *m) { return m->training; }
const ol_layer_spec *ol_model_layer(const ol_model *m, int i) { return &m->L[i].spec; }
int ol_model_nparam_tensors(const ol_model *m) { return m->nt; }
void ol_model_param_info(const ol_model *m, int k, ol_param_info *info) { *info = m->pinfo[k]; }

static void make_view(ol_storage *st, ol_dtype dt, int64_t offset, int ndim,
                      const int64_t *shape, ol_tensor *out) {
    memset(out, 0, sizeof *out);
    ol_storage_retain(st);
    out->st = st;
    out->offset = offset;
    out->dtype = dt;
    out->ndim = ndim;
    int64_t stride = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        out->shape[d] = shape[d];
        out->stride[d] = stride;
        stride *= shape[d];
    }
}

void ol_model_params(const ol_model *m, ol_tensor *out) {
    make_view(m->params, m->dt, 0, 1, &m->nparams, out);
}

void ol_model_grads(const ol_model *m, ol_tensor *out) {
    make_view(m->grads, m->dt, 0, 1, &m->nparams, out);
}

void ol_model_param_name(const ol_model *m, int k, char *buf, size_t size) {
    const ol_param_info *p = &m->pinfo[k];
    snprintf(buf, size, "%d.%s", p->layer + 1, p->is_bias ? "bias" : "weight");
}

void ol_model_param_view(const ol_model *m, int k, int grad, ol_tensor *out) {
    const ol_param_info *p = &m->pinfo[k];
    make_view(grad ? m->grads : m->params, m->dt, p->offset, p->ndim, p->shape, out);
}

int ol_model_nbuffers(const ol_model *m) { return m->nb; }

/* Buffer k's layer, and whether it is the running variance (else the mean). */
static const layer *buffer_layer(const ol_model *m, int k, int *is_var, int *index) {
    int b = 0;
    for (int i = 0; i < m->nl; i++) {
        if (m->L[i].spec.kind != OL_LAYER_BATCH_NORM) continue;
        if (k < b + 2) {
            *is_var = k - b;
            *index = i;
            return &m->L[i];
        }
        b += 2;
    }
    return NULL;
}

void ol_model_buffer_name(const ol_model *m, int k, char *buf, size_t size) {
    int is_var = 0, i = 0;
    buffer_layer(m, k, &is_var, &i);
    snprintf(buf, size, "%d.%s", i + 1, is_var ? "running_var" : "running_mean");
}

void ol_model_buffer_view(const ol_model *m, int k, ol_tensor *out) {
    int is_var = 0, i = 0;
    const layer *l = buffer_layer(m, k, &is_var, &i);
    make_view(m->buffers, m->dt, l->buf_off + (is_var ? l->width : 0), 1, &l->width, out);
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* A norm layer's statistics: one mean and rstd per row (layer norm, n
 * rows) or per feature (batch norm). */
static int64_t norm_stats_count(const layer *l, int64_t n) {
    return l->spec.kind == OL_LAYER_LAYER_NORM ? n : l->width;
}

static void *B(const ol_model *m, int64_t off) { return (char *)m->buffers->data + off * (int64_t)m->es; }

int ol_model_reserve(ol_model *m, int64_t n, ol_error *err) {
    if (n < 1) return ol_fail(err, "batch size must be positive (got %lld)", (long long)n);
    if (n <= m->cap) return 0;
    size_t total = 0;
    int64_t widest = 0, widest_norm = 0;
    for (int i = 0; i < m->nl; i++) {
        total += 2 * round64((size_t)(n * m->L[i].width) * m->es);
        if (m->L[i].spec.kind == OL_LAYER_DROPOUT) total += round64((size_t)(n * m->L[i].width));
        if (is_norm(m->L[i].spec.kind)) {
            total += round64(2 * (size_t)norm_stats_count(&m->L[i], n) * sizeof(double));
            if (m->L[i].width > widest_norm) widest_norm = m->L[i].width;
        }
        if (m->L[i].width > widest) widest = m->L[i].width;
    }
    const size_t sums_size = round64(2 * (size_t)widest_norm * sizeof(double));
    total += sums_size;
    /* per group of rows: a row of bias-gradient sums, or the loss's double */
    const size_t row_bytes = (size_t)widest * m->es;
    const size_t group_bytes = row_bytes > sizeof(double) ? row_bytes : sizeof(double);
    const size_t ngroups = (size_t)((n + OL_GROUP_ROWS - 1) / OL_GROUP_ROWS);
    const size_t groups_size = round64(ngroups * group_bytes);
    total += groups_size;
    void *ws = aligned_alloc(64, total);
    if (!ws) return ol_fail(err, "out of memory (workspace for batch %lld)", (long long)n);
    free(m->ws);
    m->ws = ws;
    m->cap = n;
    char *p = ws;
    for (int i = 0; i < m->nl; i++) {
        size_t sz = round64((size_t)(n * m->L[i].width) * m->es);
        m->out[i] = p;
        p += sz;
        m->gout[i] = p;
        p += sz;
        if (m->L[i].spec.kind == OL_LAYER_DROPOUT) {
            m->mask[i] = (uint8_t *)p;
            p += round64((size_t)(n * m->L[i].width));
        }
        if (is_norm(m->L[i].spec.kind)) {
            m->stats[i] = (double *)p;
            p += round64(2 * (size_t)norm_stats_count(&m->L[i], n) * sizeof(double));
        }
    }
    m->norm_sums = (double *)p;
    p += sums_size;
    m->row_groups = p;
    m->state = 0; /* the old buffers are gone */
    return 0;
}

static const void *input_of(const ol_model *m, int i) {
    return i == 0 ? m->x : m->out[i - 1];
}

/* What every forward pass does first: the batch's checks, the
 * workspaces, the input kept for backward. */
static int forward_begin(ol_model *m, const void *x, int64_t n, ol_error *err) {
    if (m->training && n == 1)
        for (int i = 0; i < m->nl; i++)
            if (m->L[i].spec.kind == OL_LAYER_BATCH_NORM)
                return ol_fail(err, "layer %d: batch_norm in training mode needs more than one row (got a batch of 1; torch: Expected more than 1 value per channel when training); use evaluation mode (net:eval()) for single rows",
                               i + 1);
    if (ol_model_reserve(m, n, err) != 0) return -1;
    m->x = x;
    m->n = n;
    m->grads_finite = 0;
    return 0;
}

/* Layers start.. of the forward pass over m->n rows. */
static void forward_layers(ol_model *m, int start) {
    const int64_t n = m->n;
    for (int i = start; i < m->nl; i++) {
        const layer *l = &m->L[i];
        const void *in = input_of(m, i);
        if (l->spec.kind == OL_LAYER_LINEAR) {
            if (l->fused) { /* the activation runs on each part of the product */
                const layer *a = &m->L[i + 1];
                OL_DT_CALL(m->dt, ol_linear_act_forward, n, l->spec.in, l->spec.out, in,
                           P(m, l->w_off), P(m, l->b_off), a->spec.act, a->spec.slope, m->out[i],
                           m->out[i + 1]);
                i++;
            } else {
                OL_DT_CALL(m->dt, ol_linear_forward, n, l->spec.in, l->spec.out, in,
                           P(m, l->w_off), m->out[i]);
                OL_DT_CALL(m->dt, ol_bias_forward, n, l->width, m->out[i], P(m, l->b_off));
            }
        } else if (l->spec.kind == OL_LAYER_DROPOUT) {
            m->L[i].dropped = m->training && l->spec.p > 0;
            if (m->L[i].dropped)
                OL_DT_CALL(m->dt, ol_dropout_forward, n * l->width, ol_rng_next(), l->spec.p, in,
                           m->mask[i], m->out[i]);
            else
                memcpy(m->out[i], in, (size_t)(n * l->width) * m->es);
        } else if (l->spec.kind == OL_LAYER_LAYER_NORM) {
            const int a = l->spec.affine;
            OL_DT_CALL(m->dt, ol_layer_norm_forward, n, l->width, l->spec.eps, in,
                       a ? P(m, l->w_off) : NULL, a ? P(m, l->b_off) : NULL, m->stats[i], m->out[i]);
        } else if (l->spec.kind == OL_LAYER_BATCH_NORM) {
            const int a = l->spec.affine;
            m->L[i].batch_stats = m->training;
            OL_DT_CALL(m->dt, ol_batch_norm_forward, n, l->width, l->spec.eps, l->spec.momentum,
                       m->training, in, a ? P(m, l->w_off) : NULL, a ? P(m, l->b_off) : NULL,
                       B(m, l->buf_off), B(m, l->buf_off + l->width), m->stats[i], m->out[i]);
        } else {
            OL_DT_CALL(m->dt, ol_act_forward, l->spec.act, l->spec.slope, n, l->width, in, NULL,
                       m->out[i]);
        }
    }
    m->state = 1;
}

int ol_model_forward(ol_model *m, const void *x, int64_t n, ol_error *err) {
    if (forward_begin(m, x, n, err) != 0) return -1;
    forward_layers(m, 0);
    return 0;
}

const uint8_t *ol_model_dropout_mask(const ol_model *m, int i) {
    if (i < 0 || i >= m->nl || m->L[i].spec.kind != OL_LAYER_DROPOUT || !m->state) return NULL;
    return m->L[i].dropped ? m->mask[i] : NULL;
}

const void *ol_model_output(const ol_model *m, int64_t *n) {
    if (n) *n = m->state ? m->n : 0;
    return m->state ? m->out[m->nl - 1] : NULL;
}

int ol_model_input_rows(const ol_model *m, const ol_tensor *x, int64_t *n, ol_error *err) {
    const int64_t in = m->in_features;
    if (x->dtype != m->dt)
        return ol_fail(err, "input is %s but the model is %s (convert with x:to(\"%s\") or net:to(\"%s\"))",
                       ol_dtype_name(x->dtype), ol_dtype_name(m->dt), ol_dtype_name(m->dt),
                       ol_dtype_name(x->dtype));
    *n = 0;
    if (x->ndim == 2 && x->shape[1] == in) *n = x->shape[0];
    else if (x->ndim == 1 && x->shape[0] == in) *n = 1;
    else {
        char buf[96];
        return ol_fail(err, "input width differs from in_features: input is %s, model takes N x %lld",
                       ol_shape_str(x, buf, sizeof buf), (long long)in);
    }
    if (*n < 1) return ol_fail(err, "input has no rows");
    return 0;
}

int ol_target_check(const ol_model *m, ol_loss_kind kind, const ol_target *t, int64_t n,
                    ol_error *err) {
    const int64_t c = m->out_features;
    if ((unsigned)kind >= OL_LOSS_COUNT) return ol_fail(err, "unknown loss");
    if (t->ids) {
        if (kind != OL_LOSS_CROSS_ENTROPY)
            return ol_fail(err, "class ids are targets for cross_entropy only; %s needs a %lldx%lld target",
                           ol_loss_name(kind), (long long)n, (long long)c);
        for (int64_t r = 0; r < n; r++)
            if (t->ids[r] < 0 || t->ids[r] >= c)
                return ol_fail(err, "class id %d out of range 0..%lld at row %lld", (int)t->ids[r],
                               (long long)(c - 1), (long long)r);
    } else if (!t->dense) {
        return ol_fail(err, "no target");
    }
    return 0;
}

int ol_model_loss(ol_model *m, const ol_loss_spec *loss, const ol_target *t, double *value,
                  ol_error *err) {
    if (!m->state) return ol_fail(err, "no forward pass to take the loss of");
    const int64_t n = m->n, c = m->out_features;
    if (ol_loss_check(loss, c, err) != 0) return -1;
    if (ol_target_check(m, loss->kind, t, n, err) != 0) return -1;
    const int nl = m->nl;
    *value = OL_DT_CALL(m->dt, ol_loss_cut, loss, n, c, m->out[nl - 1], t->ids, t->dense,
                        m->gout[nl - 1], m->row_groups);
    m->state = 2;
    return 0;
}

/* ---- the target rule (nn.h) ---- */

int ol_target_of_labels(ol_loss_kind kind, int64_t out, int32_t classes, ol_target_form *form,
                        ol_error *err) {
    if (classes <= 0) return ol_fail(err, "the data set has no class labels to train on");
    if (kind == OL_LOSS_CROSS_ENTROPY) {
        if (classes > out)
            return ol_fail(err, "the data have %d classes but the model has %lld outputs",
                           (int)classes, (long long)out);
        *form = OL_TARGET_IDS;
    } else if (kind == OL_LOSS_BCE && out == 1 && classes == 2) {
        *form = OL_TARGET_BINARY;
    } else if (out == classes) {
        *form = OL_TARGET_ONEHOT;
    } else {
        return ol_fail(err, "%s on class labels needs one output per class (%d), the model has %lld",
                       ol_loss_name(kind), (int)classes, (long long)out);
    }
    return 0;
}

int ol_target_of_given(ol_loss_kind kind, int64_t n, int64_t out, const ol_tensor *t, int64_t len,
                       ol_target_form *form, ol_error *err) {
    const int ce = kind == OL_LOSS_CROSS_ENTROPY;
    if (!t) {
        if (!ce)
            return ol_fail(err, "%s needs a %lldx%lld tensor target", ol_loss_name(kind),
                           (long long)n, (long long)out);
        if (len != n)
            return ol_fail(err, "wrong target shape: %lld class ids for a batch of %lld",
                           (long long)len, (long long)n);
        *form = OL_TARGET_IDS;
        return 0;
    }
    const int64_t *s = t->shape;
    const int ids = t->ndim == 1 ? s[0] == n : t->ndim == 2 && s[0] == n && s[1] == 1 && out > 1;
    const int dense = (t->ndim == 2 && s[0] == n && s[1] == out) ||
                      (t->ndim == 1 && out == 1 && s[0] == n);
    char buf[96];
    if (ce && ids) {
        *form = OL_TARGET_IDS;
    } else if (dense) {
        *form = OL_TARGET_DENSE;
    } else if (ce) {
        return ol_fail(err, "wrong target shape: %s; cross_entropy takes %lld class ids or a %lldx%lld one-hot matrix",
                       ol_shape_str(t, buf, sizeof buf), (long long)n, (long long)n, (long long)out);
    } else {
        return ol_fail(err, "wrong target shape: %s; %s takes a %lldx%lld target like the output",
                       ol_shape_str(t, buf, sizeof buf), ol_loss_name(kind), (long long)n,
                       (long long)out);
    }
    return 0;
}

int ol_target_class_id(double v, int64_t row, int64_t classes, int32_t *id, ol_error *err) {
    if (v != floor(v) || v < 1 || v > (double)classes)
        return ol_fail(err, "class id %g out of range 1..%lld (row %lld)", v, (long long)classes,
                       (long long)row + 1);
    *id = (int32_t)v - 1;
    return 0;
}

#define OL_GENERIC "nn/generic/model.h"
#include "core/generic.h"

/* At batch 1, dW = dz x^T and db = dz: every element is finite when x and
 * dz are and max|dz| * max|x| stays below the largest finite value. For
 * f32 the product of two floats is exact in double, and a rounded product
 * never exceeds an exact bound that is itself representable; for f64 half
 * of DBL_MAX leaves room for the rounding of the test's own product. */
static int outer_finite(const ol_model *m, const void *x, int64_t in, const void *dz, int64_t out) {
    double a = OL_DT_CALL(m->dt, max_abs, x, in), b = OL_DT_CALL(m->dt, max_abs, dz, out);
    return m->dt == OL_F32 ? a * b <= FLT_MAX : a * b <= 0.5 * DBL_MAX;
}

int ol_model_grads_known_finite(const ol_model *m) { return m->grads_finite; }

/* The backward products of linear layer li (its output's gradient dz in
 * gout[li]); dx = gout[li - 1] unless li is the first linear layer. When
 * its input out[li - 1] came out of a fused activation, each part of dx is
 * carried through that activation as soon as it is made (while in cache),
 * and the function returns 1: that activation's backward is done. */
static int linear_back(ol_model *m, int li, int acc) {
    const layer *lin = &m->L[li];
    const int64_t n = m->n;
    void *dx = li > m->first_linear ? m->gout[li - 1] : NULL;
    const layer *act = dx && li >= 2 ? &m->L[li - 1] : NULL;
    if (!act || act->spec.kind != OL_LAYER_ACT || !act->fused) {
        OL_DT_CALL(m->dt, ol_linear_backward, n, lin->spec.in, lin->spec.out, input_of(m, li),
                   P(m, lin->w_off), m->gout[li], dx, G(m, lin->w_off), acc);
        return 0;
    }
    OL_DT_CALL(m->dt, linear_back_act, m, li, acc, dx);
    return 1;
}

int ol_model_backward(ol_model *m, int acc, ol_error *err) {
    if (m->state != 2) return ol_fail(err, "no loss to differentiate (call loss after forward)");
    const int64_t n = m->n;
    int finite = n == 1 && !acc && !m->has_norm_params;
    int act_done = 0; /* the next fused activation was carried through by linear_back */
    for (int i = m->nl - 1; i >= m->first_linear;) {
        const layer *l = &m->L[i];
        if (l->spec.kind == OL_LAYER_ACT && l->fused) {
            const layer *lin = &m->L[i - 1];
            if (!act_done)
                OL_DT_CALL(m->dt, ol_act_backward, l->spec.act, l->spec.slope, n, l->width,
                           m->out[i - 1], P(m, lin->b_off), m->out[i], m->gout[i], m->gout[i - 1],
                           G(m, lin->b_off), acc);
            act_done = linear_back(m, i - 1, acc);
            finite = finite && outer_finite(m, input_of(m, i - 1), lin->spec.in, m->gout[i - 1],
                                            lin->spec.out);
            i -= 2;
        } else if (l->spec.kind == OL_LAYER_ACT) {
            OL_DT_CALL(m->dt, ol_act_backward, l->spec.act, l->spec.slope, n, l->width,
                       input_of(m, i), NULL, m->out[i], m->gout[i], m->gout[i - 1], NULL, 0);
            act_done = 0;
            i--;
        } else if (l->spec.kind == OL_LAYER_DROPOUT) { /* after the first linear layer */
            if (l->dropped)
                OL_DT_CALL(m->dt, ol_dropout_backward, n * l->width, l->spec.p, m->mask[i],
                           m->gout[i], m->gout[i - 1]);
            else
                memcpy(m->gout[i - 1], m->gout[i], (size_t)(n * l->width) * m->es);
            act_done = 0;
            i--;
        } else if (is_norm(l->spec.kind)) { /* after the first linear layer */
            const int a = l->spec.affine;
            if (l->spec.kind == OL_LAYER_LAYER_NORM)
                OL_DT_CALL(m->dt, ol_layer_norm_backward, n, l->width, input_of(m, i),
                           a ? P(m, l->w_off) : NULL, m->stats[i], m->gout[i], m->gout[i - 1],
                           a ? G(m, l->w_off) : NULL, a ? G(m, l->b_off) : NULL, acc, m->norm_sums);
            else
                OL_DT_CALL(m->dt, ol_batch_norm_backward, n, l->width, l->batch_stats,
                           input_of(m, i), a ? P(m, l->w_off) : NULL, m->stats[i], m->gout[i],
                           m->gout[i - 1], a ? G(m, l->w_off) : NULL, a ? G(m, l->b_off) : NULL,
                           acc, m->norm_sums);
            act_done = 0;
            i--;
        } else {
            OL_DT_CALL(m->dt, ol_bias_backward, n, l->width, m->gout[i], G(m, l->b_off), acc);
            act_done = linear_back(m, i, acc);
            finite = finite && outer_finite(m, input_of(m, i), l->spec.in, m->gout[i], l->spec.out);
            i--;
        }
    }
    m->grads_finite = finite;
    return 0;
}

int ol_model_evaluate(ol_model *m, const void *x, int64_t n, const ol_loss_spec *loss,
                      const ol_target *t, double *value, ol_error *err) {
    if (ol_model_forward(m, x, n, err) != 0) return -1;
    if (ol_model_loss(m, loss, t, value, err) != 0) return -1;
    return ol_model_backward(m, 0, err);
}

void ol_model_zero_grad(ol_model *m) {
    m->grads_finite = 0;
    memset(m->grads->data, 0, (size_t)m->nparams * m->es);
}

void *ol_model_curvature_scratch(ol_model *m, size_t bytes) {
    if (bytes <= m->curv_size) return m->curv;
    const size_t size = round64(bytes);
    void *p = aligned_alloc(64, size);
    if (!p) return NULL;
    free(m->curv);
    m->curv = p;
    m->curv_size = size;
    return p;
}

/* ---- points of a span (nn.h) ---- */

int ol_model_span_ok(const ol_model *m) { return m->first_linear == 0; }

int64_t ol_model_span_size(const ol_model *m, int64_t n) { return 3 * n * m->L[0].spec.out; }

int ol_model_span_products(ol_model *m, const void *x, int64_t n, const void *const v[3], void *q,
                           ol_error *err) {
    if (!ol_model_span_ok(m)) return ol_fail(err, "the model's first layer is not linear");
    if (n < 1) return ol_fail(err, "batch size must be positive (got %lld)", (long long)n);
    if (!v[0]) return ol_fail(err, "no parameter vector to span from");
    const layer *l = &m->L[0];
    const int64_t size = n * l->spec.out;
    for (int i = 0; i < 3; i++)
        if (v[i])
            OL_DT_CALL(m->dt, ol_linear_forward, n, l->spec.in, l->spec.out, x,
                       (const void *)((const char *)v[i] + l->w_off * (int64_t)m->es),
                       (void *)((char *)q + i * size * (int64_t)m->es));
    return 0;
}

int ol_model_span_forward(ol_model *m, const void *x, int64_t n, const void *const v[3],
                          const void *q, const double k[3], ol_error *err) {
    if (!ol_model_span_ok(m)) return ol_fail(err, "the model's first layer is not linear");
    if (!v[0]) return ol_fail(err, "no parameter vector to span from");
    if (forward_begin(m, x, n, err) != 0) return -1;
    const layer *l = &m->L[0];
    const int64_t first = l->w_off + l->spec.in * l->spec.out; /* past the first weight */
    OL_DT_CALL(m->dt, span_params, m, first, v, k);
    OL_DT_CALL(m->dt, span_first, m, q, v, k);
    forward_layers(m, l->fused ? 2 : 1);
    return 0;
}
