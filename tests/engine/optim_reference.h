/* The first-order optimizers as published, in plain double arithmetic,
 * written from the rule (torch's documented algorithms for the torch
 * optimizers, the papers' pseudo-code for the others) and not from
 * engine/optim: ref_NAME(o, traj) runs STEPS steps of the 3-element problem
 * of optim_trajectory.h from W0 with the options of schedule o (the
 * published defaults for the others, optim_options.h) and stores w after
 * step t in traj[t-1]. The family tests compare the engine with them over
 * many option schedules, the registry test at the defaults.
 *
 * Textbook forms where torch's code differs in form only: bias-corrected
 * m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t); the NAdam products Π μ_i recomputed
 * from scratch every step.
 *
 * Include after optim_trajectory.h. */
#ifndef OL_TEST_OPTIM_REFERENCE_H
#define OL_TEST_OPTIM_REFERENCE_H

#include <math.h>
#include <string.h>

static inline double ref_sign(double x) { return (x > 0) - (x < 0); }

/* torch.optim.SGD */
static inline void ref_sgd(const kv *o, double traj[STEPS][N]) {
    double w[N], buf[N] = {0}, g[N];
    int started = 0;
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = pget(o, "sgd", "lr", t), mom = pget(o, "sgd", "momentum", t);
        double damp = pget(o, "sgd", "dampening", t), wd = pget(o, "sgd", "weight_decay", t);
        int nest = pget(o, "sgd", "nesterov", t) != 0, maxi = pget(o, "sgd", "maximize", t) != 0;
        grad_at(w, t, g);
        int first = !started;
        if (mom != 0) started = 1;
        for (int i = 0; i < N; i++) {
            double d = maxi ? -g[i] : g[i];
            if (wd != 0) d = d + wd * w[i];
            if (mom != 0) {
                if (first) buf[i] = d;
                else buf[i] = mom * buf[i] + (1 - damp) * d;
                if (nest) d = d + mom * buf[i];
                else d = buf[i];
            }
            w[i] = w[i] - lr * d;
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* nag: the lookahead form of Sutskever et al. 2013, eq. (3)-(4); the
 * engine's closure form. */
static inline void ref_nag(const kv *o, double traj[STEPS][N]) {
    double w[N], p[N] = {0}, look[N], g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = pget(o, "nag", "lr", t), mu = pget(o, "nag", "momentum", t);
        for (int i = 0; i < N; i++) look[i] = w[i] - mu * p[i];
        grad_at(look, t, g);
        for (int i = 0; i < N; i++) {
            p[i] = mu * p[i] + lr * g[i];
            w[i] = w[i] - p[i];
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* nag without a closure keeps the lookahead point v = w − mu·p: the same
 * run as ref_nag, recording its lookahead points. */
static inline void ref_nag_lookahead(const kv *o, double traj[STEPS][N]) {
    double w[N], p[N] = {0}, look[N], g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = pget(o, "nag", "lr", t), mu = pget(o, "nag", "momentum", t);
        for (int i = 0; i < N; i++) look[i] = w[i] - mu * p[i];
        grad_at(look, t, g);
        for (int i = 0; i < N; i++) {
            p[i] = mu * p[i] + lr * g[i];
            w[i] = w[i] - p[i];
            traj[t - 1][i] = w[i] - mu * p[i];
        }
    }
}

/* Jacobs 1988 / Hinton lecture 6d, as README states it. */
static inline void ref_gains(const kv *o, double traj[STEPS][N]) {
    double w[N], gain[N] = {1, 1, 1}, prev[N] = {0}, v[N] = {0}, g[N];
    const char *nm = "adaptive_gains";
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = pget(o, nm, "lr", t), up = pget(o, nm, "gain_up", t);
        double down = pget(o, nm, "gain_down", t), lo = pget(o, nm, "gain_min", t);
        double hi = pget(o, nm, "gain_max", t), mu = pget(o, nm, "momentum", t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            if (g[i] * prev[i] > 0) gain[i] += up;
            else if (g[i] * prev[i] < 0) gain[i] *= down;
            if (gain[i] < lo) gain[i] = lo;
            if (gain[i] > hi) gain[i] = hi;
            prev[i] = g[i];
            v[i] = mu * v[i] - lr * gain[i] * g[i];
            w[i] += v[i];
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Rprop variants after Igel & Hüsken 2000 (fig. 1-4); irprop- as torch.
 * ref_backtracks counts weight reversals, so tests can insist they
 * happened; irprop+ without the loss (ref_knows_loss = 0) must act as
 * irprop-. */
static int ref_backtracks;
static int ref_knows_loss;
static inline void ref_rprop(const kv *o, double traj[STEPS][N]) {
    double w[N], prev[N] = {0}, dw[N] = {0}, g[N], D[N], prev_loss = NAN;
    /* 0 irprop-, 1 rprop-, 2 rprop+, 3 irprop+ */
    int variant = (int)pget(o, "rprop", "variant", 1);
    if (variant == 3 && !ref_knows_loss) variant = 0;
    memcpy(w, W0, sizeof w);
    for (int i = 0; i < N; i++) D[i] = pget(o, "rprop", "lr", 1);
    for (int t = 1; t <= STEPS; t++) {
        double em = pget2(o, "rprop", "etas", t, 0), ep = pget2(o, "rprop", "etas", t, 1);
        double dmin = pget2(o, "rprop", "step_sizes", t, 0);
        double dmax = pget2(o, "rprop", "step_sizes", t, 1);
        grad_at(w, t, g);
        double E = loss_at(w);
        for (int i = 0; i < N; i++) {
            double s = g[i] * prev[i];
            if (s > 0) D[i] = fmin(D[i] * ep, dmax);
            else if (s < 0) D[i] = fmax(D[i] * em, dmin);
            D[i] = fmin(fmax(D[i], dmin), dmax);
            if (s < 0 && variant == 2) { /* rprop+ */
                w[i] -= dw[i];
                dw[i] = -dw[i];
                prev[i] = 0;
                ref_backtracks++;
            } else if (s < 0 && variant == 3) { /* irprop+ */
                if (E > prev_loss) {
                    w[i] -= dw[i];
                    dw[i] = -dw[i];
                    ref_backtracks++;
                } else {
                    dw[i] = 0;
                }
                prev[i] = 0;
            } else if (s < 0 && variant == 0) { /* irprop- */
                dw[i] = 0;
                prev[i] = 0;
            } else {
                dw[i] = -ref_sign(g[i]) * D[i];
                w[i] += dw[i];
                prev[i] = g[i];
            }
        }
        prev_loss = E;
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* torch.optim.RMSprop, plus nesterov on the buffer as README documents and
 * the gains of API.md §13: adaptive_gains' rule on the decayed gradient,
 * the step lr·gain·g/r (with momentum b <- μb + gain·g/r). ref_gain_moves
 * counts the gains that rose, fell and were clipped, so tests can insist
 * each happened. */
static int ref_gain_moves[3]; /* up, down, clipped */
static inline void ref_rmsprop(const kv *o, double traj[STEPS][N]) {
    double w[N], sq[N] = {0}, ga[N] = {0}, buf[N] = {0}, g[N];
    double gain[N] = {1, 1, 1}, prev[N] = {0};
    const char *nm = "rmsprop";
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = pget(o, nm, "lr", t), alpha = pget(o, nm, "alpha", t);
        double eps = pget(o, nm, "eps", t), mom = pget(o, nm, "momentum", t);
        double wd = pget(o, nm, "weight_decay", t);
        int centered = pget(o, nm, "centered", t) != 0;
        int nest = pget(o, nm, "nesterov", t) != 0;
        int gains = pget(o, nm, "gains", t) != 0;
        double up = pget(o, nm, "gain_up", t), down = pget(o, nm, "gain_down", t);
        double lo = pget(o, nm, "gain_min", t), hi = pget(o, nm, "gain_max", t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + wd * w[i];
            sq[i] = alpha * sq[i] + (1 - alpha) * gi * gi;
            double avg;
            if (centered) {
                ga[i] = alpha * ga[i] + (1 - alpha) * gi;
                avg = sqrt(sq[i] - ga[i] * ga[i]) + eps;
            } else {
                avg = sqrt(sq[i]) + eps;
            }
            double k = 1;
            if (gains) {
                if (ref_sign(gi) * ref_sign(prev[i]) > 0) {
                    gain[i] += up;
                    ref_gain_moves[0]++;
                } else if (ref_sign(gi) * ref_sign(prev[i]) < 0) {
                    gain[i] *= down;
                    ref_gain_moves[1]++;
                }
                if (gain[i] < lo || gain[i] > hi) ref_gain_moves[2]++;
                gain[i] = fmin(fmax(gain[i], lo), hi);
                prev[i] = gi;
                k = gain[i];
            }
            if (mom > 0) {
                buf[i] = mom * buf[i] + k * gi / avg;
                w[i] -= lr * (nest ? k * gi / avg + mom * buf[i] : buf[i]);
            } else {
                w[i] -= lr * k * gi / avg;
            }
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* torch.optim.Adagrad */
static inline void ref_adagrad(const kv *o, double traj[STEPS][N]) {
    double w[N], sum[N], g[N];
    memcpy(w, W0, sizeof w);
    for (int i = 0; i < N; i++) sum[i] = pget(o, "adagrad", "initial_accumulator_value", 1);
    for (int t = 1; t <= STEPS; t++) {
        double lr = pget(o, "adagrad", "lr", t), decay = pget(o, "adagrad", "lr_decay", t);
        double wd = pget(o, "adagrad", "weight_decay", t), eps = pget(o, "adagrad", "eps", t);
        grad_at(w, t, g);
        double clr = lr / (1 + (t - 1) * decay);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + wd * w[i];
            sum[i] += gi * gi;
            w[i] -= clr * gi / (sqrt(sum[i]) + eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Zeiler 2012, Algorithm 1, times torch's lr. */
static inline void ref_adadelta(const kv *o, double traj[STEPS][N]) {
    double w[N], Eg[N] = {0}, Ex[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        double lr = pget(o, "adadelta", "lr", t), rho = pget(o, "adadelta", "rho", t);
        double eps = pget(o, "adadelta", "eps", t), wd = pget(o, "adadelta", "weight_decay", t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + wd * w[i];
            Eg[i] = rho * Eg[i] + (1 - rho) * gi * gi;
            double dx = sqrt(Ex[i] + eps) / sqrt(Eg[i] + eps) * gi;
            Ex[i] = rho * Ex[i] + (1 - rho) * dx * dx;
            w[i] -= lr * dx;
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* ---- the Adam family and Lion ---- */

/* The options the references of the Adam family read; 0 for an option the
 * optimizer does not have. */
typedef struct hp {
    double lr, b1, b2, eps, wd, psi;
    int amsgrad, maximize, decoupled;
} hp;
static inline double pget_or0(const kv *o, const char *optim, const char *k, int t, int which) {
    return pub_option_of(optim, k) ? pget2(o, optim, k, t, which) : 0;
}
static inline hp hp_at(const kv *o, const char *optim, int t) {
    hp h;
    h.lr = pget_or0(o, optim, "lr", t, 0);
    h.b1 = pget_or0(o, optim, "betas", t, 0);
    h.b2 = pget_or0(o, optim, "betas", t, 1);
    h.eps = pget_or0(o, optim, "eps", t, 0);
    h.wd = pget_or0(o, optim, "weight_decay", t, 0);
    h.psi = pget_or0(o, optim, "momentum_decay", t, 0);
    h.amsgrad = pget_or0(o, optim, "amsgrad", t, 0) != 0;
    h.maximize = pget_or0(o, optim, "maximize", t, 0) != 0;
    h.decoupled = pget_or0(o, optim, "decoupled_weight_decay", t, 0) != 0;
    return h;
}

/* torch.optim.Adam / AdamW documentation (decoupled = AdamW); without
 * bias_correction (API.md §13) m̂ = m and v̂ = v. */
static inline void ref_adam_gen(const kv *o, const char *optim, int decoupled,
                                double traj[STEPS][N]) {
    double w[N], m[N] = {0}, v[N] = {0}, vmax[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, optim, t);
        const int bc = pget(o, optim, "bias_correction", t) != 0;
        const double bc1 = bc ? 1 - pow(h.b1, t) : 1, bc2 = bc ? 1 - pow(h.b2, t) : 1;
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            if (decoupled) w[i] = w[i] - h.lr * h.wd * w[i];
            else gi = gi + h.wd * w[i];
            m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
            v[i] = h.b2 * v[i] + (1 - h.b2) * gi * gi;
            double mhat = m[i] / bc1, vhat;
            if (h.amsgrad) {
                vmax[i] = fmax(vmax[i], v[i]);
                vhat = vmax[i] / bc2;
            } else {
                vhat = v[i] / bc2;
            }
            w[i] = w[i] - h.lr * mhat / (sqrt(vhat) + h.eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}
static inline void ref_adam(const kv *o, double traj[STEPS][N]) {
    ref_adam_gen(o, "adam", 0, traj);
}
static inline void ref_adamw(const kv *o, double traj[STEPS][N]) {
    ref_adam_gen(o, "adamw", 1, traj);
}

/* torch.optim.NAdam documentation; the products of μ_i are recomputed from
 * i = 1 every step with the options in force now (the engine keeps a
 * running product, which agrees as long as betas and ψ stay fixed). */
static inline double nadam_mu(hp h, int t) { return h.b1 * (1 - 0.5 * pow(0.96, t * h.psi)); }
static inline void ref_nadam(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, v[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, "nadam", t);
        grad_at(w, t, g);
        double prod_t = 1, prod_t1;
        for (int i = 1; i <= t; i++) prod_t *= nadam_mu(h, i);
        prod_t1 = prod_t * nadam_mu(h, t + 1);
        double mu_t = nadam_mu(h, t), mu_t1 = nadam_mu(h, t + 1);
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            if (h.wd != 0) {
                if (h.decoupled) w[i] = w[i] - h.lr * h.wd * w[i];
                else gi = gi + h.wd * w[i];
            }
            m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
            v[i] = h.b2 * v[i] + (1 - h.b2) * gi * gi;
            double mhat = mu_t1 * m[i] / (1 - prod_t1) + (1 - mu_t) * gi / (1 - prod_t);
            double vhat = v[i] / (1 - pow(h.b2, t));
            w[i] = w[i] - h.lr * mhat / (sqrt(vhat) + h.eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* torch.optim.RAdam documentation; counts the steps taken in each branch. */
static int radam_rectified, radam_plain;
static inline void ref_radam(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, v[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, "radam", t);
        grad_at(w, t, g);
        double rho_inf = 2 / (1 - h.b2) - 1;
        double rho_t = rho_inf - 2 * t * pow(h.b2, t) / (1 - pow(h.b2, t));
        if (rho_t > 5) radam_rectified++;
        else radam_plain++;
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            if (h.wd != 0) {
                if (h.decoupled) w[i] = w[i] - h.lr * h.wd * w[i];
                else gi = gi + h.wd * w[i];
            }
            m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
            v[i] = h.b2 * v[i] + (1 - h.b2) * gi * gi;
            double mhat = m[i] / (1 - pow(h.b1, t));
            if (rho_t > 5) {
                double l = sqrt(1 - pow(h.b2, t)) / (sqrt(v[i]) + h.eps);
                double r = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf /
                                ((rho_inf - 4) * (rho_inf - 2) * rho_t));
                w[i] = w[i] - h.lr * mhat * r * l;
            } else {
                w[i] = w[i] - h.lr * mhat;
            }
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* torch.optim.Adamax documentation. */
static inline void ref_adamax(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, u[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, "adamax", t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            gi = gi + h.wd * w[i];
            m[i] = h.b1 * m[i] + (1 - h.b1) * gi;
            u[i] = fmax(h.b2 * u[i], fabs(gi) + h.eps);
            w[i] = w[i] - h.lr * m[i] / ((1 - pow(h.b1, t)) * u[i]);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* AdaBelief as API.md §13 states it (Zhuang et al. 2020, Algorithm 2,
 * without rectification, decoupled weight decay). */
static inline void ref_adabelief(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, s[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, "adabelief", t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            w[i] = w[i] * (1 - h.lr * h.wd);
            m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
            s[i] = h.b2 * s[i] + (1 - h.b2) * (g[i] - m[i]) * (g[i] - m[i]) + h.eps;
            double mhat = m[i] / (1 - pow(h.b1, t)), shat = s[i] / (1 - pow(h.b2, t));
            w[i] = w[i] - h.lr * mhat / (sqrt(shat) + h.eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Yogi as API.md §13 states it (Zaheer et al. 2018, Algorithm 2, no bias
 * correction; m from 0, v from initial_accumulator_value, read at step 1).
 * ref_yogi_moves counts the second moments that grew and shrank. */
static int ref_yogi_moves[2]; /* grew, shrank */
static inline void ref_yogi(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, v[N], g[N];
    memcpy(w, W0, sizeof w);
    for (int i = 0; i < N; i++) v[i] = pget(o, "yogi", "initial_accumulator_value", 1);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, "yogi", t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double g2 = g[i] * g[i];
            m[i] = h.b1 * m[i] + (1 - h.b1) * g[i];
            if (v[i] > g2) ref_yogi_moves[1]++;
            else if (v[i] < g2) ref_yogi_moves[0]++;
            v[i] = v[i] - (1 - h.b2) * ref_sign(v[i] - g2) * g2;
            w[i] = w[i] - h.lr * m[i] / (sqrt(v[i]) + h.eps);
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Chen et al. 2023, Algorithm 2 (decoupled weight decay). */
static inline void ref_lion(const kv *o, double traj[STEPS][N]) {
    double w[N], m[N] = {0}, g[N];
    memcpy(w, W0, sizeof w);
    for (int t = 1; t <= STEPS; t++) {
        hp h = hp_at(o, "lion", t);
        grad_at(w, t, g);
        for (int i = 0; i < N; i++) {
            double gi = h.maximize ? -g[i] : g[i];
            double c = h.b1 * m[i] + (1 - h.b1) * gi;
            w[i] = w[i] - h.lr * (ref_sign(c) + h.wd * w[i]);
            m[i] = h.b2 * m[i] + (1 - h.b2) * gi;
        }
        memcpy(traj[t - 1], w, sizeof w);
    }
}

/* Schedule-free AdamW and SGD as README's table (API §13) states the
 * authors' v1.2 rule, the parameters holding y: s = min(1, t/warmup_steps);
 * lrₜ = lr·s·√(1 − β2ᵗ) (adam) or lr·s; lr_max = max(lr_max, lrₜ);
 * weight = tʳ·lr_max^weight_lr_power; c = weight/Σweight (0 while the sum
 * is 0); z = w before step 1; u = g/(√v + eps) + wd·y (adam, v ← β2v +
 * (1−β2)g²) or g + wd·y; y ← (1 − c)·y + c·z; y ← y + lrₜ(β(1 − c) − 1)·u;
 * z ← z − lrₜ·u, with β = betas[1] or momentum. zt (may be NULL) receives
 * z after each step, for the average x = y + (1 − 1/β)(z − y). */
static inline void ref_sf_run(const kv *o, const char *optim, double traj[STEPS][N],
                              double zt[STEPS][N]) {
    const int adam = strcmp(optim, "sf_adamw") == 0;
    double y[N], z[N], v[N] = {0}, g[N], lr_max = 0, weight_sum = 0;
    memcpy(y, W0, sizeof y);
    for (int t = 1; t <= STEPS; t++) {
        const double lr = pget(o, optim, "lr", t), wd = pget(o, optim, "weight_decay", t);
        const double ws = pget(o, optim, "warmup_steps", t), r = pget(o, optim, "r", t);
        const double p = pget(o, optim, "weight_lr_power", t);
        const double beta = adam ? pget2(o, optim, "betas", t, 0) : pget(o, optim, "momentum", t);
        const double b2 = adam ? pget2(o, optim, "betas", t, 1) : 0;
        const double eps = adam ? pget(o, optim, "eps", t) : 0;
        const double s = ws == 0 ? 1 : fmin(1, t / ws);
        const double lrt = lr * s * (adam ? sqrt(1 - pow(b2, t)) : 1);
        lr_max = fmax(lr_max, lrt);
        const double weight = pow(t, r) * pow(lr_max, p);
        weight_sum += weight;
        const double c = weight_sum == 0 ? 0 : weight / weight_sum;
        if (t == 1) memcpy(z, y, sizeof z);
        grad_at(y, t, g);
        for (int i = 0; i < N; i++) {
            double u = g[i];
            if (adam) {
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                u = g[i] / (sqrt(v[i]) + eps);
            }
            u += wd * y[i];
            y[i] = (1 - c) * y[i] + c * z[i];
            y[i] = y[i] + lrt * (beta * (1 - c) - 1) * u;
            z[i] = z[i] - lrt * u;
        }
        memcpy(traj[t - 1], y, sizeof y);
        if (zt) memcpy(zt[t - 1], z, sizeof z);
    }
}
static inline void ref_sf_adamw(const kv *o, double traj[STEPS][N]) {
    ref_sf_run(o, "sf_adamw", traj, NULL);
}
static inline void ref_sf_sgd(const kv *o, double traj[STEPS][N]) {
    ref_sf_run(o, "sf_sgd", traj, NULL);
}

#endif
