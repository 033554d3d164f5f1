/* The model's steps that take its element type (model.c), written once
 * for T (core/generic.h). */

/* Largest |v[i]| over n values, or INFINITY when one is not finite
 * (NaN compares false, so it is looked for on its own). */
static double S(max_abs)(const T *v, int64_t n) {
    double mx = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = fabs((double)v[i]);
        if (!(a <= DBL_MAX)) return INFINITY;
        if (a > mx) mx = a;
    }
    return mx;
}

/* The backward products of linear layer li whose input came out of the
 * activation li - 1 fused into linear layer li - 2 (linear_back): dx, the
 * gradient of that input, is carried through the activation part by part,
 * which writes the gradients of layer li - 2's output and bias. */
static void S(linear_back_act)(ol_model *m, int li, int acc, T *dx) {
    const layer *lin = &m->L[li], *act = &m->L[li - 1], *plin = &m->L[li - 2];
    const S(ol_act_grad) g = {act->spec.act, act->spec.slope, m->out[li - 2], P(m, plin->b_off),
                              m->out[li - 1], m->gout[li - 2], G(m, plin->b_off), acc,
                              m->row_groups};
    S(ol_linear_backward_act)(m->n, lin->spec.in, lin->spec.out, input_of(m, li),
                              P(m, lin->w_off), m->gout[li], dx, G(m, lin->w_off), acc, &g);
}
