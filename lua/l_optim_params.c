/* What an optimizer steps, read from its constructor's arguments: the flat
 * parameter buffer, the parameter tensors in it, and the groups with their
 * options (API.md, "Parameter groups").
 *
 *   ol.optim.NAME(tensor, options)   one tensor: a matrix if 2-D, else a vector
 *   ol.optim.NAME(model, options)    model:params(), a tensor per entry of
 *                                    model:parameters()
 *   ol.optim.NAME({{params = ..., <overrides>}, ...}, options)
 *                                    groups; params lists entries of
 *                                    net:parameters() / net:select() (or
 *                                    tensors that are views of one buffer)
 *
 * A group's options: the descriptor's defaults, then the second argument's,
 * then the group's own. muon is the one optimizer with two rules: its
 * groups with use = "adamw" start from adamw's defaults and the second
 * argument's `fallback` table instead, and without groups the model's
 * matrices form one group (use = "muon") and its other tensors another
 * (use = "adamw").
 *
 * Everything goes through Lua method calls and the engine's public
 * headers, so nothing here knows a model's internals: a model is anything
 * with :params() and :parameters(). */
#include <limits.h>
#include <string.h>

#include "l_common.h"
#include "optim/optim.h"

/* The stack slots ol_l_optim_build works with. */
typedef struct build {
    const ol_optim_desc *d;
    const char *fname;
    int groups;  /* 1: the first argument is an array of groups */
    int muon;    /* the descriptor has the option use = "muon" | "adamw" */
    int w;       /* stack index of the flat buffer */
    int model;   /* stack index of the model, 0: none */
    int names;   /* stack index of {group -> {names}} */
} build;

static int option_names(const ol_optim_desc *d, const char **names, int max) {
    int n = 0;
    for (int i = 0; i < d->noptions && n < max; i++) names[n++] = d->options[i].name;
    return n;
}

/* Options from the table at idx over o; `skip` is a key that is not an
 * option (params, fallback) or NULL. what: "" or "group 2: ". */
static void read_options(lua_State *L, const build *b, int idx, double *o, const char *skip,
                         const char *what) {
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            ol_arg_error(L, *what ? 1 : 2, b->fname, "%soption names must be strings, got %s",
                         what, luaL_typename(L, -2));
        const char *name = lua_tostring(L, -2);
        if (skip && strcmp(name, skip) == 0) {
            lua_pop(L, 1);
            continue;
        }
        const ol_optim_option *op = ol_optim_find_option(b->d, name);
        if (!op) {
            const char *names[64];
            const char *close = ol_arg_closest(name, names, option_names(b->d, names, 64));
            ol_arg_error(L, *what ? 1 : 2, b->fname, "%sunknown option '%s'%s%s%s", what, name,
                         close ? "; did you mean '" : "", close ? close : "", close ? "'?" : "");
        }
        ol_error err;
        double v[2] = {0, 0};
        if (ol_l_optim_check_option(L, -1, op, 0, v, &err) || ol_optim_check_option(op, v, &err))
            ol_arg_error(L, *what ? 1 : 2, b->fname, "%s%s", what, err.msg);
        memcpy(o + op->slot, v, sizeof(double) * (size_t)ol_optim_option_size(op));
        lua_pop(L, 1);
    }
}

/* The values a group starts from: the descriptor's defaults and the second
 * argument's options, or for a muon group with use = "adamw" adamw's
 * defaults and the second argument's `fallback`. */
static void base_values(lua_State *L, const build *b, int adamw, double *o) {
    ol_optim_defaults(b->d, o);
    if (adamw) {
        const ol_optim_desc *a = ol_optim_find("adamw");
        for (int i = 0; i < a->noptions; i++) {
            const ol_optim_option *op = ol_optim_find_option(b->d, a->options[i].name);
            if (op) memcpy(o + op->slot, a->options[i].def, sizeof(double) * (size_t)ol_optim_option_size(op));
        }
        o[ol_optim_find_option(b->d, "use")->slot] = ol_optim_enum_index(ol_optim_find_option(b->d, "use"), "adamw");
        if (lua_istable(L, 2)) {
            if (lua_getfield(L, 2, "fallback") != LUA_TNIL) {
                if (!lua_istable(L, -1))
                    ol_arg_error(L, 2, b->fname, "option 'fallback' must be a table of adamw options");
                if (lua_getfield(L, -1, "use") != LUA_TNIL)
                    ol_arg_error(L, 2, b->fname, "option 'fallback' holds the options of the adamw "
                                 "group; 'use' is not one of them");
                lua_pop(L, 1);
                read_options(L, b, -1, o, NULL, "");
            }
            lua_pop(L, 1);
        }
        return;
    }
    if (lua_istable(L, 2)) read_options(L, b, 2, o, "fallback", "");
}

/* The parameter tensor t (a view into the buffer at b->w) as the engine's. */
static ol_optim_param param_of(lua_State *L, const build *b, const ol_tensor *t, const char *name,
                               int group) {
    const ol_tensor *w = ol_l_totensor(L, b->w);
    if (t->st != w->st || t->dtype != w->dtype || !ol_tensor_is_contiguous(t) ||
        t->offset < w->offset || t->offset + ol_tensor_numel(t) > w->offset + ol_tensor_numel(w))
        ol_arg_error(L, 1, b->fname, "parameter '%s' is not a contiguous view into the parameters "
                     "of the other groups", name);
    ol_optim_param p = {.offset = t->offset - w->offset, .group = group};
    if (t->ndim == 2) {
        p.rows = t->shape[0];
        p.cols = t->shape[1];
        p.matrix = 1;
    } else {
        p.rows = 1;
        p.cols = ol_tensor_numel(t);
    }
    return p;
}

/* The flat tensor returned by obj:method(), pushed, or a Lua error. */
static ol_tensor *call_method_tensor(lua_State *L, int obj, const char *method, const char *fname) {
    obj = lua_absindex(L, obj);
    if (lua_getfield(L, obj, method) == LUA_TNIL)
        ol_arg_error(L, 1, fname, "model has no %s() method", method);
    lua_pushvalue(L, obj);
    lua_call(L, 1, 1);
    ol_tensor *t = ol_l_totensor(L, -1);
    if (!t) ol_arg_error(L, 1, fname, "model:%s() did not return a tensor", method);
    return t;
}

/* Pushes model:parameters(), checked to be a list. */
static lua_Integer push_parameters(lua_State *L, int model, const char *fname) {
    if (lua_getfield(L, model, "parameters") == LUA_TNIL)
        ol_arg_error(L, 1, fname, "model has no parameters() method");
    lua_pushvalue(L, model);
    lua_call(L, 1, 1);
    if (!lua_istable(L, -1)) ol_arg_error(L, 1, fname, "model:parameters() did not return a table");
    return (lua_Integer)lua_rawlen(L, -1);
}

/* Entry e of a params list at the top: its tensor and name pushed (2
 * values); name is "tensor K" for a bare tensor. */
static ol_tensor *push_entry(lua_State *L, int list, lua_Integer k, const char *fname,
                             const char *what) {
    lua_rawgeti(L, list, k);
    ol_tensor *t = ol_l_totensor(L, -1);
    if (t) {
        lua_pushfstring(L, "tensor %I", (lua_Integer)k);
        return t;
    }
    if (!lua_istable(L, -1))
        ol_arg_error(L, 1, fname, "%sparams[%lld] is %s, not a parameter (an entry of "
                     "net:parameters()) or a tensor", what, (long long)k, luaL_typename(L, -1));
    lua_getfield(L, -1, "tensor");
    t = ol_l_totensor(L, -1);
    if (!t)
        ol_arg_error(L, 1, fname, "%sparams[%lld] has no tensor (expected an entry of "
                     "net:parameters())", what, (long long)k);
    if (lua_getfield(L, -2, "name") != LUA_TSTRING) {
        lua_pop(L, 1);
        lua_pushfstring(L, "params[%I]", (lua_Integer)k);
    }
    lua_remove(L, -3); /* the entry: its tensor and name stay */
    return t;
}

/* ---- one tensor or a model ---- */

static void single(lua_State *L, build *b, ol_optim *opt) {
    ol_error err;
    const ol_tensor *w = ol_l_totensor(L, b->w);
    lua_newtable(L);
    lua_rawseti(L, b->names, 1);
    int np = 0;
    ol_optim_param *p;
    if (!b->model) {
        p = lua_newuserdatauv(L, sizeof *p, 0);
        p[0] = param_of(L, b, w, "params", 0);
        np = ol_tensor_numel(w) > 0;
        lua_rawgeti(L, b->names, 1);
        lua_pushstring(L, "params");
        lua_rawseti(L, -2, 1);
        lua_pop(L, 1);
    } else if (lua_getfield(L, b->model, "parameters") == LUA_TNIL) {
        /* a model without parameters(): its buffer as one vector */
        lua_pop(L, 1);
        p = lua_newuserdatauv(L, sizeof *p, 0);
        p[0] = (ol_optim_param){.rows = 1, .cols = ol_tensor_numel(w)};
        np = ol_tensor_numel(w) > 0;
        b->model = 0; /* no names to read */
    } else {
        lua_pop(L, 1);
        const lua_Integer n = push_parameters(L, b->model, b->fname);
        if (n > INT_MAX / (lua_Integer)sizeof *p) ol_arg_error(L, 1, b->fname, "too many parameters");
        p = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *p, 0);
        lua_insert(L, -2); /* under the list */
        const int list = lua_gettop(L);
        for (lua_Integer k = 1; k <= n; k++) {
            const ol_tensor *t = push_entry(L, list, k, b->fname, "");
            p[np++] = param_of(L, b, t, lua_tostring(L, -1), 0);
            lua_pop(L, 2);
        }
        lua_pop(L, 1); /* the list */
    }
    /* muon: matrices in group 1 (use = "muon"), the rest in group 2
     * (use = "adamw"); a group with no tensor is not made. */
    int nmat = 0;
    for (int i = 0; i < np; i++) nmat += p[i].matrix;
    const int split = b->muon && nmat > 0 && nmat < np;
    const int all_adamw = b->muon && nmat == 0;
    for (int i = 0; i < np; i++) p[i].group = split && !p[i].matrix;
    const int ngroups = 1 + split;
    opt->defer_check = 1; /* each group's options are set next, and checked then */
    if (ol_optim_set_params(opt, p, np, ngroups, &err)) ol_arg_error(L, 1, b->fname, "%s", err.msg);
    for (int g = 0; g < ngroups; g++) {
        double o[OL_OPTIM_MAXSLOTS] = {0};
        base_values(L, b, all_adamw || g == 1, o);
        if (ol_optim_set_group_values(opt, g, o, &err)) ol_arg_error(L, 2, b->fname, "%s", err.msg);
    }
    /* the names by group */
    if (b->model) {
        const lua_Integer n = push_parameters(L, b->model, b->fname);
        const int list = lua_gettop(L);
        if (split) {
            lua_newtable(L);
            lua_rawseti(L, b->names, 2);
        }
        int at[2] = {0, 0};
        for (lua_Integer k = 1; k <= n; k++) {
            push_entry(L, list, k, b->fname, "");
            const int g = split && p[k - 1].group;
            lua_rawgeti(L, b->names, g + 1);
            lua_pushvalue(L, -2);
            lua_rawseti(L, -2, ++at[g]);
            lua_pop(L, 3);
        }
        lua_pop(L, 1);
    }
}

/* ---- groups ---- */

/* The model the groups' tensors come from, pushed (nil when none): the
 * first entry that names its model (net:parameters() entries do). */
static void push_groups_model(lua_State *L) {
    const int top = lua_gettop(L);
    const lua_Integer ng = (lua_Integer)lua_rawlen(L, 1);
    for (lua_Integer g = 1; g <= ng; g++) {
        lua_settop(L, top);
        if (lua_rawgeti(L, 1, g) != LUA_TTABLE) continue;
        if (lua_getfield(L, top + 1, "params") != LUA_TTABLE) continue;
        const lua_Integer n = (lua_Integer)lua_rawlen(L, top + 2);
        for (lua_Integer k = 1; k <= n; k++) {
            lua_settop(L, top + 2);
            if (lua_rawgeti(L, top + 2, k) != LUA_TTABLE) continue;
            if (lua_getfield(L, top + 3, "model") != LUA_TNIL) {
                lua_replace(L, top + 1);
                lua_settop(L, top + 1);
                return;
            }
        }
    }
    lua_settop(L, top);
    lua_pushnil(L);
}

/* The groups at 1 into the engine: every tensor (a parameter in two
 * groups is an error naming it), then each group's options. */
static void grouped(lua_State *L, build *b, ol_optim *opt) {
    ol_error err;
    const lua_Integer ng = (lua_Integer)lua_rawlen(L, 1);
    if (ng == 0) ol_arg_error(L, 1, b->fname, "an empty list of groups");
    lua_Integer total = 0;
    for (lua_Integer g = 1; g <= ng; g++) {
        if (lua_rawgeti(L, 1, g) != LUA_TTABLE)
            ol_arg_error(L, 1, b->fname, "group %lld is %s, not a table {params = ..., options...}",
                         (long long)g, luaL_typename(L, -1));
        if (lua_getfield(L, -1, "params") != LUA_TTABLE)
            ol_arg_error(L, 1, b->fname, "group %lld has no params list (params = net:select(...))",
                         (long long)g);
        /* one entry of net:parameters() is a table too, of length 0 */
        if (lua_getfield(L, -1, "tensor") != LUA_TNIL)
            ol_arg_error(L, 1, b->fname, "group %lld: params is one parameter, not a list of them "
                         "(params = {p} or net:select(...))", (long long)g);
        lua_pop(L, 1);
        total += (lua_Integer)lua_rawlen(L, -1);
        lua_pop(L, 2);
    }
    if (ng > 65536 || total > INT_MAX / (lua_Integer)sizeof(ol_optim_param))
        ol_arg_error(L, 1, b->fname, "too many groups or parameters");
    ol_optim_param *p = lua_newuserdatauv(L, (size_t)(total > 0 ? total : 1) * sizeof *p, 0);
    lua_newtable(L); /* offset -> "group g", for a tensor in two groups */
    const int seen = lua_gettop(L);
    int np = 0;
    for (lua_Integer g = 1; g <= ng; g++) {
        char what[32];
        snprintf(what, sizeof what, "group %d: ", (int)g);
        lua_rawgeti(L, 1, g);
        lua_getfield(L, -1, "params");
        const int list = lua_gettop(L);
        const lua_Integer n = (lua_Integer)lua_rawlen(L, list);
        lua_createtable(L, (int)n, 0);
        const int gnames = lua_gettop(L);
        for (lua_Integer k = 1; k <= n; k++) {
            const ol_tensor *t = push_entry(L, list, k, b->fname, what);
            const char *name = lua_tostring(L, -1);
            p[np] = param_of(L, b, t, name, (int)g - 1);
            lua_rawgeti(L, seen, (lua_Integer)p[np].offset + 1);
            if (!lua_isnil(L, -1))
                ol_arg_error(L, 1, b->fname, "parameter '%s' is in %s and in group %lld: a "
                             "parameter belongs to one group", name, lua_tostring(L, -1), (long long)g);
            lua_pop(L, 1);
            lua_pushfstring(L, "group %I", g);
            lua_rawseti(L, seen, (lua_Integer)p[np].offset + 1);
            lua_pushvalue(L, -1);
            lua_rawseti(L, gnames, k);
            np++;
            lua_pop(L, 2);
        }
        lua_rawseti(L, b->names, g);
        lua_pop(L, 2);
    }
    lua_pop(L, 1); /* seen */
    opt->defer_check = 1; /* each group's options are set next, and checked then */
    if (ol_optim_set_params(opt, p, np, (int)ng, &err)) ol_arg_error(L, 1, b->fname, "%s", err.msg);
    const ol_optim_option *use = b->muon ? ol_optim_find_option(b->d, "use") : NULL;
    for (lua_Integer g = 1; g <= ng; g++) {
        char what[32];
        snprintf(what, sizeof what, "group %d: ", (int)g);
        lua_rawgeti(L, 1, g);
        const int gt = lua_gettop(L);
        int adamw = 0;
        if (use) {
            if (lua_getfield(L, gt, "use") != LUA_TNIL) {
                double v[2];
                if (ol_l_optim_check_option(L, -1, use, 0, v, &err))
                    ol_arg_error(L, 1, b->fname, "%s%s", what, err.msg);
                adamw = v[0] == ol_optim_enum_index(use, "adamw");
            }
            lua_pop(L, 1);
        }
        double o[OL_OPTIM_MAXSLOTS] = {0};
        base_values(L, b, adamw, o);
        read_options(L, b, gt, o, "params", what);
        /* A tensor the group's rule cannot take (a vector in a muon group),
         * named as the user knows it; the engine knows only its offset. */
        lua_rawgeti(L, b->names, g);
        for (int i = 0, k = 0; b->d->check_param && i < np; i++) {
            if (p[i].group != (int)g - 1) continue;
            k++;
            if (b->d->check_param(&p[i], o, &err)) {
                lua_rawgeti(L, -1, k);
                ol_arg_error(L, 1, b->fname, "%sparameter '%s': %s", what, lua_tostring(L, -1),
                             err.msg);
            }
        }
        lua_pop(L, 1);
        if (ol_optim_set_group_values(opt, (int)g - 1, o, &err))
            ol_arg_error(L, 1, b->fname, "%s%s", what, err.msg);
        lua_settop(L, gt - 1);
    }
}

/* Is the value at idx an array of groups: a table whose first element is
 * a table with a params field. */
static int is_groups(lua_State *L, int idx) {
    if (!lua_istable(L, idx)) return 0;
    int r = 0;
    if (lua_rawgeti(L, idx, 1) == LUA_TTABLE) {
        r = lua_getfield(L, -1, "params") != LUA_TNIL;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return r;
}

/* Reads the constructor's arguments (1: tensor, model or groups; 2:
 * options; 3: the optimizer's userdata, which owns opt) into opt:
 * ol_optim_init (then *live = 1), the tensors and groups, every group's
 * options. Leaves 4: the flat buffer, 5: the model or nil, 6: {group ->
 * {tensor names}}. Errors are Lua errors naming the constructor and the
 * group. */
void ol_l_optim_build(lua_State *L, const ol_optim_desc *d, ol_optim *opt, int *live) {
    ol_error err;
    build b = {.d = d, .fname = d->name};
    const ol_optim_option *use = ol_optim_find_option(d, "use");
    b.muon = use && ol_optim_enum_index(use, "adamw") >= 0;
    lua_settop(L, 3);
    if (!lua_isnil(L, 2) && !lua_istable(L, 2))
        ol_arg_error(L, 2, b.fname, "options table expected, got %s", luaL_typename(L, 2));
    /* The options alone first, so that a misspelt one is named before any
     * work. */
    if (lua_istable(L, 2)) {
        double o[OL_OPTIM_MAXSLOTS] = {0};
        if (!b.muon && lua_getfield(L, 2, "fallback") != LUA_TNIL)
            ol_arg_error(L, 2, b.fname, "unknown option 'fallback' (only muon has a fallback)");
        lua_settop(L, 3);
        read_options(L, &b, 2, o, "fallback", "");
    }
    b.groups = !ol_l_totensor(L, 1) && is_groups(L, 1);
    ol_tensor *w = ol_l_totensor(L, 1);
    if (w) {
        lua_pushvalue(L, 1); /* 4: the buffer */
        lua_pushnil(L);      /* 5: no model */
    } else if (b.groups) {
        for (lua_Integer g = 1; g <= (lua_Integer)lua_rawlen(L, 1); g++) {
            if (lua_rawgeti(L, 1, g) == LUA_TTABLE && lua_getfield(L, -1, "params") == LUA_TTABLE &&
                lua_rawlen(L, -1) == 0 && lua_getfield(L, -1, "tensor") == LUA_TNIL)
                ol_arg_error(L, 1, b.fname, "group %lld: params is empty (did net:select match "
                             "nothing?)", (long long)g);
            lua_settop(L, 3);
        }
        push_groups_model(L); /* 4 */
        if (!lua_isnil(L, 4)) {
            w = call_method_tensor(L, 4, "params", b.fname);
            lua_insert(L, 4); /* 4: the buffer, 5: the model */
        } else {
            lua_rawgeti(L, 1, 1);
            lua_getfield(L, -1, "params");
            lua_rawgeti(L, -1, 1);
            ol_tensor *t = ol_l_totensor(L, -1);
            if (!t && lua_istable(L, -1)) {
                lua_getfield(L, -1, "tensor");
                t = ol_l_totensor(L, -1);
            }
            if (!t) ol_arg_error(L, 1, b.fname, "group 1: params[1] is not a parameter or a tensor");
            ol_tensor whole;
            ol_tensor_share(t, &whole); /* the whole storage of the first tensor, as a vector */
            whole.offset = 0;
            whole.ndim = 1;
            whole.shape[0] = (int64_t)(t->st->nbytes / ol_dtype_size(t->dtype));
            whole.stride[0] = 1;
            ol_l_pushtensor(L, &whole, 0);
            lua_replace(L, 4); /* 4: the buffer */
            lua_settop(L, 4);
            lua_pushnil(L); /* 5: no model */
            w = ol_l_totensor(L, 4);
        }
    } else {
        const int tt = lua_type(L, 1);
        if (tt != LUA_TTABLE && tt != LUA_TUSERDATA)
            ol_arg_expected(L, 1, b.fname, "tensor, model or list of groups");
        w = call_method_tensor(L, 1, "params", b.fname); /* 4 */
        lua_pushvalue(L, 1);                               /* 5 */
    }
    if (!ol_tensor_is_contiguous(w)) ol_arg_error(L, 1, b.fname, "params must be contiguous");
    b.w = 4;
    b.model = lua_isnil(L, 5) ? 0 : 5;
    if (ol_optim_init(opt, d, w->dtype, ol_tensor_numel(w), &err))
        ol_arg_error(L, 1, b.fname, "%s", err.msg);
    *live = 1;
    lua_newtable(L); /* 6: the tensors' names by group */
    b.names = 6;
    if (b.groups) grouped(L, &b, opt);
    else single(L, &b, opt);
    lua_settop(L, 6);
}
