/* The activations silu, elu and softplus and the loss options
 * (cross_entropy's label_smoothing and class weight, huber's delta)
 * against values made elsewhere:
 *  - f, f' and f'' of each activation at points from -40 to 40, f32 and
 *    f64, with and without a bias, against mpmath's values (50 digits,
 *    numeric differentiation of torch's definitions: silu x sigmoid(x), elu
 *    with alpha 1, softplus with beta 1 and threshold 20);
 *  - the losses against numbers worked out by hand in mpmath (torch's
 *    formulas term by term) and against a double-precision loop written
 *    here, f32 and f64; their gradients against central differences of the
 *    loss; the options refused with messages naming them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nn/kernels.h"
#include "nn/nn.h"
#include "core/rng.h"

/* ---- activations ---- */

typedef struct act_ref {
    double x, f, d1, d2;
} act_ref;

/* By mpmath at 50 digits (mp.diff of the definitions), rounded to 17. */
static const act_ref SILU_REF[] = {
    {-40.0, -1.6993417021166356e-16, -1.6568581595637197e-16, -1.6143746170108038e-16},
    {-30.0, -2.8072868906517897e-12, -2.713710660963134e-12, -2.6201344312742331e-12},
    {-5.0, -3.3464254621424278e-2, -2.6547432429665919e-2, -1.9499225490032505e-2},
    {-1.0, -2.6894142136999512e-1, 7.2329488128513268e-2, 3.023661188100153e-1},
    {-0.25, -1.0945587477855047e-1, 3.7628997842980231e-1, 4.84616287468517e-1},
    {0.0, 0, 5.0e-1, 5.0e-1},
    {0.5, 3.1122966560092728e-1, 7.3996118730265181e-1, 4.4122902697702861e-1},
    {1.0, 7.3105857863000488e-1, 9.2767051187148673e-1, 3.023661188100153e-1},
    {5.0, 4.9665357453785757, 1.0265474324296659, -1.9499225490032505e-2},
    {25.0, 2.4999999999652801e+1, 1.0000000003333107, -3.1942270887565648e-10},
    {40.0, 4.0e+1, 1.0000000000000002, -1.6143746170108038e-16},
};
static const act_ref ELU_REF[] = {
    {-40.0, -1.0, 4.248354255291589e-18, 4.248354255291589e-18},
    {-30.0, -9.9999999999990642e-1, 9.3576229688401746e-14, 9.3576229688401746e-14},
    {-5.0, -9.9326205300091453e-1, 6.7379469990854671e-3, 6.7379469990854671e-3},
    {-1.0, -6.3212055882855768e-1, 3.6787944117144232e-1, 3.6787944117144232e-1},
    {-0.25, -2.2119921692859513e-1, 7.7880078307140487e-1, 7.7880078307140487e-1},
    {0.5, 5.0e-1, 1.0, 0},
    {1.0, 1.0, 1.0, 0},
    {5.0, 5.0, 1.0, 0},
    {25.0, 2.5e+1, 1.0, 0},
};
static const act_ref SOFTPLUS_REF[] = {
    {-40.0, 4.248354255291589e-18, 4.248354255291589e-18, 4.248354255291589e-18},
    {-30.0, 9.3576229688397368e-14, 9.357622968839299e-14, 9.3576229688384233e-14},
    {-5.0, 6.7153484891180686e-3, 6.6928509242848556e-3, 6.6480566707901549e-3},
    {-1.0, 3.1326168751822283e-1, 2.6894142136999512e-1, 1.9661193324148185e-1},
    {-0.25, 5.7593941987884356e-1, 4.378234991142019e-1, 2.4613408273759835e-1},
    {0.0, 6.9314718055994531e-1, 5.0e-1, 2.5e-1},
    {0.5, 9.7407698418010668e-1, 6.2245933120185456e-1, 2.3500371220159449e-1},
    {5.0, 5.0067153484891181, 9.9330714907571514e-1, 6.6480566707901549e-3},
    {19.5, 1.9500000003398268e+1, 9.9999999660173219e-1, 3.398267796398623e-9},
    {25.0, 2.5e+1, 1.0, 0},
    {40.0, 4.0e+1, 1.0, 0},
};

enum { MAXP = 16 };

/* |got - want| within rel of |want| (or abs, for want = 0). */
static void near(double got, double want, double rel, double abs, const char *what, ol_act a,
                 double x, const char *dt) {
    if (!(fabs(got - want) <= rel * fabs(want) + abs))
        fail_msg("%s %s at %g (%s): got %.17g, want %.17g", ol_act_name(a), what, x, dt, got, want);
}

/* f, f' (dy = 1) and f'' (dy = ru = 1, dx from 0) at the points of ref,
 * u = pre + bias with bias b per column (NULL: u = pre). */
static void check_act_f64(ol_act a, const act_ref *ref, int k, int with_bias) {
    double pre[MAXP], bias[MAXP], y[MAXP], one[MAXP], d1[MAXP], d2[MAXP];
    for (int i = 0; i < k; i++) {
        bias[i] = with_bias ? 0.5 : 0;
        pre[i] = ref[i].x - bias[i]; /* exact */
        one[i] = 1;
        d2[i] = 0;
    }
    const double *b = with_bias ? bias : NULL;
    ol_act_forward_f64(a, 0, 1, k, pre, b, y);
    ol_act_backward_f64(a, 0, 1, k, pre, b, y, one, d1, NULL, 0);
    ol_act_backward2_f64(a, 0, 1, k, pre, b, y, one, one, d2);
    for (int i = 0; i < k; i++) {
        near(y[i], ref[i].f, 1e-14, 1e-300, "f", a, ref[i].x, "f64");
        near(d1[i], ref[i].d1, 1e-14, 1e-300, "f'", a, ref[i].x, "f64");
        near(d2[i], ref[i].d2, 1e-12, 1e-300, "f''", a, ref[i].x, "f64");
    }
}

static void check_act_f32(ol_act a, const act_ref *ref, int k, int with_bias) {
    float pre[MAXP], bias[MAXP], y[MAXP], one[MAXP], d1[MAXP], d2[MAXP];
    for (int i = 0; i < k; i++) {
        bias[i] = with_bias ? 0.5f : 0;
        pre[i] = (float)ref[i].x - bias[i]; /* exact */
        one[i] = 1;
        d2[i] = 0;
    }
    const float *b = with_bias ? bias : NULL;
    ol_act_forward_f32(a, 0, 1, k, pre, b, y);
    ol_act_backward_f32(a, 0, 1, k, pre, b, y, one, d1, NULL, 0);
    ol_act_backward2_f32(a, 0, 1, k, pre, b, y, one, one, d2);
    for (int i = 0; i < k; i++) {
        near(y[i], ref[i].f, 1e-6, 1e-40, "f", a, ref[i].x, "f32");
        near(d1[i], ref[i].d1, 1e-6, 1e-40, "f'", a, ref[i].x, "f32");
        near(d2[i], ref[i].d2, 1e-5, 1e-40, "f''", a, ref[i].x, "f32");
    }
}

static void test_activation_values(void **state) {
    (void)state;
    const struct {
        ol_act a;
        const act_ref *ref;
        int k;
        const char *name;
    } acts[] = {
        {OL_ACT_SILU, SILU_REF, sizeof SILU_REF / sizeof *SILU_REF, "silu"},
        {OL_ACT_ELU, ELU_REF, sizeof ELU_REF / sizeof *ELU_REF, "elu"},
        {OL_ACT_SOFTPLUS, SOFTPLUS_REF, sizeof SOFTPLUS_REF / sizeof *SOFTPLUS_REF, "softplus"},
    };
    for (size_t j = 0; j < sizeof acts / sizeof *acts; j++) {
        /* the names are the engine's, both ways */
        assert_string_equal(ol_act_name(acts[j].a), acts[j].name);
        ol_act parsed;
        assert_int_equal(ol_act_parse(acts[j].name, &parsed), 0);
        assert_int_equal(parsed, acts[j].a);
        assert_true(acts[j].k <= MAXP);
        for (int b = 0; b < 2; b++) {
            check_act_f64(acts[j].a, acts[j].ref, acts[j].k, b);
            check_act_f32(acts[j].a, acts[j].ref, acts[j].k, b);
        }
    }
}

/* ---- losses ---- */

enum { N = 3, C = 3 };
static const double Y[N * C] = {1.0, 2.0, 0.5, 0.3, -1.2, 2.2, -0.5, 0.0, 0.5};
static const int32_t IDS[N] = {1, 2, 0};
static const double P[N * C] = {0.2, 0.7, 0.1, 0.0, 0.0, 1.0, 0.5, 0.25, 0.25};
static const double W[C] = {1, 2, 0.5};

static ol_loss_spec ce(double eps, const double *w) {
    ol_loss_spec l = *OL_LOSS_PLAIN(OL_LOSS_CROSS_ENTROPY);
    l.label_smoothing = eps;
    l.weight = w;
    l.nweight = w ? C : 0;
    return l;
}

static ol_loss_spec huber(double delta) {
    ol_loss_spec l = *OL_LOSS_PLAIN(OL_LOSS_HUBER);
    l.delta = delta;
    return l;
}

/* torch's CrossEntropyLoss written out here in double, term by term: with
 * class ids (1 - eps) sum_i w_k nll_i / D + (eps / c) sum_i sum_j w_j
 * (-log p_ij) / D, D = sum_i w_k; with probabilities t
 * sum_i sum_j w_j ((1 - eps) t_ij + eps / c) (-log p_ij) / n. */
static double ce_reference(int64_t n, int64_t c, const double *y, const int32_t *ids,
                           const double *t, double eps, const double *w) {
    double nll = 0, smooth = 0, d = 0, prob = 0;
    for (int64_t i = 0; i < n; i++) {
        double m = y[i * c];
        for (int64_t j = 1; j < c; j++) m = fmax(m, y[i * c + j]);
        double s = 0;
        for (int64_t j = 0; j < c; j++) s += exp(y[i * c + j] - m);
        for (int64_t j = 0; j < c; j++) {
            const double nlp = -(y[i * c + j] - m - log(s)), wj = w ? w[j] : 1;
            smooth += wj * nlp;
            if (t) prob += wj * ((1 - eps) * t[i * c + j] + eps / (double)c) * nlp;
            else if (j == ids[i]) nll += wj * nlp, d += wj;
        }
    }
    if (t) return prob / (double)n;
    return (1 - eps) * nll / d + eps / (double)c * smooth / d;
}

/* torch's HuberLoss: mean of x^2 / 2 (|x| < delta) or delta (|x| - delta / 2). */
static double huber_reference(int64_t count, const double *y, const double *t, double delta) {
    double s = 0;
    for (int64_t i = 0; i < count; i++) {
        const double x = fabs(y[i] - t[i]);
        s += x < delta ? x * x / 2 : delta * (x - delta / 2);
    }
    return s / (double)count;
}

static void test_losses_by_hand(void **state) {
    (void)state;
    double dy[N * C];
    /* mpmath, torch's formulas term by term (see the file's top) */
    ol_loss_spec l = ce(0.1, W);
    assert_true(fabs(ol_loss_f64(&l, N, C, Y, IDS, NULL, dy) - 0.85481434189066009) < 1e-14);
    l = ce(0.1, NULL);
    assert_true(fabs(ol_loss_f64(&l, N, C, Y, IDS, NULL, dy) - 0.84088097232321817) < 1e-14);
    l = ce(0, W);
    assert_true(fabs(ol_loss_f64(&l, N, C, Y, IDS, NULL, dy) - 0.76943127713360337) < 1e-14);
    l = ce(0.1, W);
    assert_true(fabs(ol_loss_f64(&l, N, C, Y, NULL, P, dy) - 0.98153478919016761) < 1e-14);
    /* huber around |x| = delta: x = -1.5, -1, -0.999, 0.3, 1, 2.5 */
    const double hy[6] = {0, 1, 2, 3, 4, 5}, ht[6] = {1.5, 2, 2.999, 2.7, 3, 2.5};
    l = huber(1);
    assert_true(fabs(ol_loss_f64(&l, 1, 6, hy, NULL, ht, dy) - 0.75733341666666667) < 1e-14);
    const double hdy[6] = {-1.0 / 6, -1.0 / 6, -0.1665, 0.05, 1.0 / 6, 1.0 / 6};
    for (int i = 0; i < 6; i++) assert_true(fabs(dy[i] - hdy[i]) < 1e-14);
    l = huber(0.5);
    assert_true(fabs(ol_loss_f64(&l, 2, 3, hy, NULL, ht, dy) - 0.48658333333333333) < 1e-14);
    /* label_smoothing 1: every class alike, whatever the target */
    l = ce(1, NULL);
    double u = ol_loss_f64(&l, N, C, Y, IDS, NULL, dy);
    const int32_t other[N] = {0, 0, 0};
    assert_true(fabs(ol_loss_f64(&l, N, C, Y, other, NULL, dy) - u) < 1e-15);
}

/* Every option set, both targets, random logits: the loss against the
 * reference loop, dy against central differences of the loss, the f32
 * instance against the f64 one, and the pool's cut against the serial sum. */
static void test_losses_against_reference(void **state) {
    (void)state;
    enum { NR = 37, NCL = 4 };
    const double w4[NCL] = {0.5, 0, 3, 1.25};
    ol_rng_seed(3);
    double y[NR * NCL], t[NR * NCL], dy[NR * NCL], d2[NR * NCL], yp[NR * NCL], groups[4];
    float yf[NR * NCL], tf[NR * NCL], dyf[NR * NCL];
    int32_t ids[NR];
    for (int i = 0; i < NR * NCL; i++) y[i] = 3 * ol_rng_normal();
    for (int i = 0; i < NR; i++) {
        ids[i] = (int32_t)ol_rng_below(NCL);
        double s = 0;
        for (int j = 0; j < NCL; j++) s += t[i * NCL + j] = ol_rng_uniform();
        for (int j = 0; j < NCL; j++) t[i * NCL + j] /= s;
    }
    for (int i = 0; i < NR * NCL; i++) yf[i] = (float)y[i], tf[i] = (float)t[i];
    const ol_loss_spec specs[] = {
        {OL_LOSS_CROSS_ENTROPY, 0.1, NULL, 0, 1}, {OL_LOSS_CROSS_ENTROPY, 0, w4, NCL, 1},
        {OL_LOSS_CROSS_ENTROPY, 0.3, w4, NCL, 1}, {OL_LOSS_CROSS_ENTROPY, 1, w4, NCL, 1},
        {OL_LOSS_HUBER, 0, NULL, 0, 1},           {OL_LOSS_HUBER, 0, NULL, 0, 0.25},
        {OL_LOSS_HUBER, 0, NULL, 0, 40},
    };
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        const ol_loss_spec *l = &specs[k];
        const int ce_ = l->kind == OL_LOSS_CROSS_ENTROPY;
        for (int form = 0; form < (ce_ ? 2 : 1); form++) {
            const int32_t *pid = ce_ && form == 0 ? ids : NULL;
            const double *pt = pid ? NULL : t;
            const double got = ol_loss_f64(l, NR, NCL, y, pid, pt, dy);
            const double want =
                ce_ ? ce_reference(NR, NCL, y, pid, pt, l->label_smoothing, l->weight)
                    : huber_reference(NR * NCL, y, t, l->delta);
            if (!(fabs(got - want) <= 1e-13 * fmax(1, fabs(want))))
                fail_msg("case %zu form %d: loss %.17g, reference %.17g", k, form, got, want);
            /* dy against central differences of the loss */
            const double h = 1e-6;
            for (int i = 0; i < NR * NCL; i++) {
                memcpy(yp, y, sizeof yp);
                yp[i] = y[i] + h;
                const double lp = ol_loss_f64(l, NR, NCL, yp, pid, pt, d2);
                yp[i] = y[i] - h;
                const double lm = ol_loss_f64(l, NR, NCL, yp, pid, pt, d2);
                const double fd = (lp - lm) / (2 * h);
                if (!(fabs(dy[i] - fd) <= 1e-8))
                    fail_msg("case %zu form %d: dy[%d] %.12g, differences %.12g", k, form, i, dy[i], fd);
            }
            /* f32 */
            const double gotf = ol_loss_f32(l, NR, NCL, yf, pid, pid ? NULL : tf, dyf);
            assert_true(fabs(gotf - want) <= 1e-5 * fmax(1, fabs(want)));
            for (int i = 0; i < NR * NCL; i++) assert_true(fabs(dyf[i] - dy[i]) <= 1e-6);
            /* the cut over the pool: the same bits as the serial sum */
            const double cut = ol_loss_cut_f64(l, NR, NCL, y, pid, pt, d2, groups);
            assert_memory_equal(&cut, &got, sizeof got);
            assert_memory_equal(d2, dy, sizeof dy);
        }
    }
}

/* Through a model: ol_model_loss takes the options, and refuses bad ones
 * with messages naming them. */
static void test_model_loss_options(void **state) {
    (void)state;
    ol_error err;
    ol_layer_spec s[] = {{.kind = OL_LAYER_LINEAR, .in = 2, .out = 4},
                         {.kind = OL_LAYER_ACT, .act = OL_ACT_SILU},
                         {.kind = OL_LAYER_LINEAR, .in = 4, .out = C}};
    ol_model *m = ol_model_new(s, 3, OL_F64, &err);
    assert_non_null(m);
    assert_int_equal(ol_model_init(m, OL_INIT_XAVIER_UNIFORM, 1, 0, "linear", &err), 0);
    const double x[N * 2] = {0.5, -1, 2, 0.25, -0.75, 1.5};
    assert_int_equal(ol_model_forward(m, x, N, &err), 0);
    double out[N * C];
    memcpy(out, ol_model_output(m, NULL), sizeof out);
    const ol_target tid = {IDS, NULL};
    double loss;
    ol_loss_spec l = ce(0.1, W);
    assert_int_equal(ol_model_loss(m, &l, &tid, &loss, &err), 0);
    assert_true(fabs(loss - ce_reference(N, C, out, IDS, NULL, 0.1, W)) < 1e-14);
    const double short_w[2] = {1, 1}, inf_w[C] = {1, 1, INFINITY};
    const struct {
        ol_loss_spec l;
        const char *msg;
    } bad[] = {
        {{OL_LOSS_CROSS_ENTROPY, 1.01, NULL, 0, 1}, "cross_entropy: label_smoothing must be in [0, 1], got 1.01"},
        {{OL_LOSS_CROSS_ENTROPY, NAN, NULL, 0, 1}, "cross_entropy: label_smoothing must be in [0, 1], got nan"},
        {{OL_LOSS_CROSS_ENTROPY, 0, short_w, 2, 1}, "cross_entropy: weight has 2 values but the model has 3 classes (outputs)"},
        {{OL_LOSS_CROSS_ENTROPY, 0, inf_w, C, 1}, "cross_entropy: weight[3] must be a finite number >= 0, got inf"},
        {{OL_LOSS_HUBER, 0, NULL, 0, INFINITY}, "huber: delta must be a finite number > 0, got inf"},
        {{OL_LOSS_HUBER, 0, W, C, 1}, "huber takes no class weight (cross_entropy does)"},
        {{(ol_loss_kind)OL_LOSS_COUNT, 0, NULL, 0, 1}, "unknown loss"},
    };
    const ol_target tdense = {NULL, P};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        const ol_target *t = bad[k].l.kind == OL_LOSS_CROSS_ENTROPY ? &tid : &tdense;
        assert_int_equal(ol_model_loss(m, &bad[k].l, t, &loss, &err), -1);
        if (strcmp(err.msg, bad[k].msg) != 0) fail_msg("case %zu: '%s'", k, err.msg);
    }
    /* names: huber is the engine's */
    ol_loss_kind kind;
    assert_int_equal(ol_loss_parse("huber", &kind), 0);
    assert_int_equal(kind, OL_LOSS_HUBER);
    assert_string_equal(ol_loss_name(OL_LOSS_HUBER), "huber");
    ol_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_values),
        cmocka_unit_test(test_losses_by_hand),
        cmocka_unit_test(test_losses_against_reference),
        cmocka_unit_test(test_model_loss_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
