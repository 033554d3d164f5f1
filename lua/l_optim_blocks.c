/* Two additions to ol.optim for optimizers built from parts (muon): the
 * places of the 2-D weights inside the flat parameter buffer, and options
 * passed as a sub-table ({fallback = {lr = 3e-4}} for fallback_lr).
 *
 * Both go through Lua method calls and the engine's public headers, like
 * l_optim.c, so nothing here knows a model's internals: a model is anything
 * whose :parameters() lists {name =, tensor =} views into :params(). */
#include <limits.h>
#include <string.h>

#include "l_common.h"
#include "optim/optim.h"

/* Replaces the options table at idx by a copy in which every table-valued
 * key K that is not itself an option, while options named K_... exist, is
 * spread into those: {fallback = {lr = 1}} -> {fallback_lr = 1}. */
void ol_l_optim_suboptions(lua_State *L, const ol_optim_desc *d, int idx) {
    idx = lua_absindex(L, idx);
    lua_newtable(L);
    const int out = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int spread = 0;
        if (k && lua_istable(L, -1) && !ol_optim_find_option(d, k)) {
            const size_t len = strlen(k);
            for (int i = 0; i < d->noptions && !spread; i++)
                spread = strncmp(d->options[i].name, k, len) == 0 && d->options[i].name[len] == '_';
        }
        if (!spread) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_settable(L, out); /* out[k] = v, pops both; the key stays */
            continue;
        }
        const int sub = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, sub)) {
            if (lua_type(L, -2) != LUA_TSTRING)
                ol_arg_error(L, 2, d->name, "option names in '%s' must be strings", k);
            lua_pushfstring(L, "%s_%s", k, lua_tostring(L, -2));
            lua_insert(L, -2);
            lua_settable(L, out);
        }
        lua_pop(L, 1); /* the sub-table */
    }
    lua_replace(L, idx);
}

/* Where the 2-D weights lie in w, set once at construction. params (at
 * idx) is a model, whose :parameters() gives the views, or a tensor: one
 * matrix if it is 2-D, none otherwise (then every element goes to the
 * optimizer's fallback). */
void ol_l_optim_blocks(lua_State *L, ol_optim *opt, int idx, const ol_tensor *w,
                       const char *fname) {
    ol_optim_block *b;
    int nb = 0;
    ol_error err;
    idx = lua_absindex(L, idx);
    const int top = lua_gettop(L);
    ol_tensor *t = ol_l_totensor(L, idx);
    if (t) {
        b = lua_newuserdatauv(L, sizeof *b, 0);
        if (t->ndim == 2) b[nb++] = (ol_optim_block){0, t->shape[0], t->shape[1]};
    } else {
        if (lua_getfield(L, idx, "parameters") == LUA_TNIL)
            ol_arg_error(L, 1, fname, "model has no parameters() method");
        lua_pushvalue(L, idx);
        lua_call(L, 1, 1);
        if (!lua_istable(L, -1))
            ol_arg_error(L, 1, fname, "model:parameters() did not return a table");
        const lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
        if (n > INT_MAX / (lua_Integer)sizeof *b)
            ol_arg_error(L, 1, fname, "too many parameters");
        b = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *b, 0);
        lua_insert(L, -2); /* the block array under the list */
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_istable(L, -1)) lua_getfield(L, -1, "tensor");
            else lua_pushnil(L);
            ol_tensor *p = ol_l_totensor(L, -1);
            if (p && p->ndim == 2) {
                if (p->st != w->st || !ol_tensor_is_contiguous(p))
                    ol_arg_error(L, 1, fname, "parameter %d is not a view into params()", (int)i);
                b[nb++] = (ol_optim_block){p->offset - w->offset, p->shape[0], p->shape[1]};
            }
            lua_pop(L, 2);
        }
    }
    if (ol_optim_set_blocks(opt, b, nb, &err))
        ol_arg_error(L, 1, fname, "%s", err.msg);
    lua_settop(L, top);
}
