/* The kit's bridge from Lua closures to the engine's ol_closure
 * (engine/optim/second.h), shared by the optimizers' closure step
 * (l_optim.c) and the curvature tools (l_second.c): a Lua function
 * f() / f(w) -> loss, grad, or a model with a batch, as C callbacks. The
 * callbacks use lua_pcall so that a Lua error unwinds through no engine
 * frame: it is kept in the error slot, the engine returns -1, and
 * ol_l_cb_raise raises it again. Buffers are Lua userdata, so an error
 * anywhere leaks nothing. */
#include <stdlib.h>
#include <string.h>

#include "l_common.h"
#include "nn/nn.h"

void ol_l_write_vec(ol_tensor *t, const double *w) {
    const int64_t n = ol_tensor_numel(t);
    if (t->dtype == OL_F64) {
        memcpy(ol_tensor_data(t), w, (size_t)n * sizeof *w);
    } else {
        float *p = ol_tensor_data(t);
        for (int64_t i = 0; i < n; i++) p[i] = (float)w[i];
    }
}

/* n values of any tensor as doubles. */
void ol_l_read_vec(const ol_tensor *t, double *out) {
    const int64_t n = ol_tensor_numel(t);
    if (ol_tensor_is_contiguous(t)) {
        if (t->dtype == OL_F64) memcpy(out, ol_tensor_data(t), (size_t)n * sizeof *out);
        else
            for (int64_t i = 0; i < n; i++) out[i] = ((const float *)ol_tensor_data(t))[i];
        return;
    }
    int64_t idx[OL_MAXDIM] = {0};
    for (int64_t k = 0; k < n; k++) {
        out[k] = ol_tensor_get(t, idx);
        for (int d = t->ndim - 1; d >= 0; d--) {
            if (++idx[d] < t->shape[d]) break;
            idx[d] = 0;
        }
    }
}

static int cb_fail(ol_l_cb *c, ol_error *err) {
    lua_replace(c->L, c->errslot); /* the error object */
    c->failed = 1;
    return ol_fail(err, "the closure raised an error");
}

int ol_l_cb_fg(void *ud, const double *w, double *loss, double *g, ol_error *err) {
    ol_l_cb *c = ud;
    lua_State *L = c->L;
    ol_l_write_vec(c->w, w);
    lua_pushvalue(L, c->fn);
    if (c->pass_w) lua_pushvalue(L, c->errslot + 1); /* the w tensor's userdata */
    if (lua_pcall(L, c->pass_w, 2, 0) != LUA_OK) return cb_fail(c, err);
    const ol_tensor *gt = ol_l_totensor(L, -1);
    if (lua_type(L, -2) != LUA_TNUMBER || !gt) {
        lua_pushfstring(L, "%s must return loss (a number), grad (a tensor); got %s, %s", c->what,
                        luaL_typename(L, -2), luaL_typename(L, -1));
        return cb_fail(c, err);
    }
    if (ol_tensor_numel(gt) != ol_tensor_numel(c->w)) {
        lua_pushfstring(L, "%s returned a gradient of %I elements for %I parameters", c->what,
                        (lua_Integer)ol_tensor_numel(gt), (lua_Integer)ol_tensor_numel(c->w));
        return cb_fail(c, err);
    }
    *loss = lua_tonumber(L, -2);
    ol_l_read_vec(gt, g);
    lua_pop(L, 2);
    return 0;
}

int ol_l_cb_bv(void *ud, const double *w, const double *v, double *out, int gn, ol_error *err) {
    ol_l_cb *c = ud;
    ol_l_write_vec(c->w, w);
    return ol_model_curvature(c->model, c->b.x, c->b.n, &c->b.loss, c->b.ids, c->b.dense, v, out, gn,
                              NULL, NULL, err);
}

/* Raises the kept Lua error, or the engine's message for argument arg. */
int ol_l_cb_raise(lua_State *L, const ol_l_cb *c, int arg, const ol_error *err) {
    if (c->failed) {
        lua_pushvalue(L, c->errslot);
        return lua_error(L);
    }
    return ol_l_error(L, arg, err);
}

double *ol_l_new_doubles(lua_State *L, int64_t n) {
    return lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof(double), 0);
}

/* ---- batches for models ---- */

ol_l_batch ol_l_get_batch(lua_State *L, int net, int xi, int ti, int ki, const char *fname) {
    ol_model *m = ol_l_tomodel(L, net);
    ol_l_batch b = {0};
    b.loss = *OL_LOSS_PLAIN(ol_l_check_loss(L, ki, fname));
    ol_error err;
    const ol_tensor *x = ol_l_checktensor(L, xi);
    if (ol_model_input_rows(m, x, &b.n, &err) != 0) ol_arg_error(L, xi, fname, "%s", err.msg);
    const int64_t in = ol_model_in_features(m), c = ol_model_out_features(m);
    double *xd = ol_l_new_doubles(L, b.n * in);
    ol_l_read_vec(x, xd);
    b.x = xd;
    /* The target by the target rule (nn.h): class ids (1-based in Lua) or
     * values shaped like the output. */
    ol_target_form form;
    const int list = lua_istable(L, ti);
    const ol_tensor *y = list ? NULL : ol_l_checktensor(L, ti);
    if (ol_target_of_given(b.loss.kind, b.n, c, y, list ? (int64_t)luaL_len(L, ti) : 0, &form, &err))
        ol_arg_error(L, ti, fname, "%s", err.msg);
    double *yd = list ? NULL : ol_l_new_doubles(L, ol_tensor_numel(y));
    if (yd) ol_l_read_vec(y, yd);
    if (form == OL_TARGET_DENSE) {
        b.dense = yd;
        return b;
    }
    int32_t *ids = lua_newuserdatauv(L, (size_t)b.n * sizeof *ids, 0);
    for (int64_t r = 0; r < b.n; r++) {
        double v = list ? 0 : yd[r];
        if (list) {
            lua_geti(L, ti, r + 1);
            v = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        if (ol_target_class_id(v, r, c, &ids[r], &err)) ol_arg_error(L, ti, fname, "%s", err.msg);
    }
    b.ids = ids;
    return b;
}

