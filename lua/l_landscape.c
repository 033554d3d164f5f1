/* The C side of ol.landscape (lua/optlua/landscape.lua, which checks the
 * user's arguments and is what users call):
 *
 *   ol._landscape.evaluate(fname, data_arg, opts_arg, net, data, v0, v1, v2, k,
 *                          loss, loss_options) -> losses, accuracies
 *
 * the mean loss and accuracy over the dataset at the points
 * k[3p-2] v0 + k[3p-1] v1 + k[3p] v2 (engine/train/landscape.h); v1, v2 may
 * be nil (zero); k is a flat list of 3 x points numbers. With k empty it
 * only checks the loss, its options and the data for the model (what a
 * caller does before it draws directions) and returns nothing. Errors
 * name fname and blame data_arg (the data) or opts_arg (the loss
 * options). */
#include <string.h>

#include "l_common.h"
#include "train/landscape.h"
#include "train/metrics.h"

/* The flat parameter vector at idx for model m: a contiguous tensor of
 * nparams values in the model's dtype. */
static const void *check_vector(lua_State *L, int idx, const ol_model *m, const char *fname,
                                const char *what) {
    const ol_tensor *t = ol_l_totensor(L, idx);
    if (!t) ol_arg_error(L, 0, fname, "%s: tensor expected", what);
    if (t->dtype != ol_model_dtype(m))
        ol_arg_error(L, 0, fname, "%s is %s but the model is %s", what, ol_dtype_name(t->dtype),
                     ol_dtype_name(ol_model_dtype(m)));
    if (ol_tensor_numel(t) != ol_model_nparams(m) || !ol_tensor_is_contiguous(t))
        ol_arg_error(L, 0, fname, "%s must be a contiguous tensor of the model's %lld parameters",
                     what, (long long)ol_model_nparams(m));
    return ol_tensor_data(t);
}

/* The loss (its name at 10, its options at 11) for model m on ds, pushing
 * the class weights (or nil), after the checks ol_landscape_evaluate
 * makes of the loss and data. */
static ol_loss_spec loss_spec(lua_State *L, const char *fname, int data_arg, int opts_arg,
                              const ol_model *m, const ol_dataset *ds) {
    ol_loss_kind kind;
    if (ol_loss_parse(luaL_optstring(L, 10, "cross_entropy"), &kind)) {
        /* an unknown name: raised blaming the options table that holds it
         * (the slot is free, as the error leaves this call) */
        lua_pushvalue(L, 10);
        lua_replace(L, opts_arg);
        ol_l_check_loss(L, opts_arg, fname);
    }
    const ol_loss_spec spec = ol_l_loss_options(L, 11, opts_arg, fname, kind, ol_model_out_features(m));
    ol_target_form form;
    ol_error err;
    if (ds->n == 0) ol_arg_error(L, data_arg, fname, "the data set is empty");
    if (ol_train_target(m, kind, ds->d, ds->classes, &form, &err))
        ol_arg_error(L, data_arg, fname, "%s", err.msg);
    return spec;
}

static int l_evaluate(lua_State *L) {
    const char *fname = luaL_checkstring(L, 1);
    const int data_arg = (int)luaL_checkinteger(L, 2), opts_arg = (int)luaL_checkinteger(L, 3);
    luaL_argcheck(L, opts_arg >= 1 && opts_arg <= 11, 3, "an argument number");
    ol_model *m = ol_l_tomodel(L, 4);
    if (!m) return ol_arg_expected(L, 1, fname, "model");
    const ol_dataset *ds = ol_l_todataset(L, 5);
    if (!ds) return ol_arg_expected(L, data_arg, fname, "dataset");
    const void *v[3] = {check_vector(L, 6, m, fname, "v0"), NULL, NULL};
    if (!lua_isnil(L, 7)) v[1] = check_vector(L, 7, m, fname, "v1");
    if (!lua_isnil(L, 8)) v[2] = check_vector(L, 8, m, fname, "v2");
    luaL_checktype(L, 9, LUA_TTABLE);
    const lua_Integer nk = (lua_Integer)lua_rawlen(L, 9);
    if (nk % 3) return ol_arg_error(L, 0, fname, "coefficients: 3 per point");
    const int64_t npoints = nk / 3;
    lua_settop(L, 11);
    const ol_loss_spec spec = loss_spec(L, fname, data_arg, opts_arg, m, ds); /* 12: the weights */
    if (npoints == 0) return 0;
    double *k = ol_l_new_doubles(L, nk); /* 13 */
    for (lua_Integer i = 0; i < nk; i++) {
        lua_rawgeti(L, 9, i + 1);
        k[i] = lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
    double *out = ol_l_new_doubles(L, 2 * npoints); /* 14 */
    ol_error err;
    if (ol_landscape_evaluate(m, ds, &spec, 1024, v, npoints, k, out, out + npoints, &err))
        return ol_arg_error(L, data_arg, fname, "%s", err.msg);
    for (int j = 0; j < 2; j++) {
        lua_createtable(L, (int)npoints, 0);
        for (int64_t p = 0; p < npoints; p++) {
            lua_pushnumber(L, out[j * npoints + p]);
            lua_rawseti(L, -2, (lua_Integer)p + 1);
        }
    }
    return 2;
}

void ol_open_landscape(lua_State *L) {
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, l_evaluate);
    lua_setfield(L, -2, "evaluate");
    lua_setfield(L, -2, "_landscape");
}
