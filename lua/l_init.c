/* ol.init: torch.nn.init's initialisers on any tensor (in place; each
 * returns the tensor) and ol.init.gain = torch.nn.init.calculate_gain.
 * The rules and their sources are in engine/nn/init.c; draws use the
 * global RNG, so ol.seed makes them reproducible. */
#include <math.h>
#include <string.h>

#include "l_common.h"
#include "nn/nn.h"

static int done(lua_State *L, int rc, const ol_error *err) {
    if (rc != 0) ol_l_error(L, 1, err);
    lua_settop(L, 1);
    return 1;
}

static int with_gain(lua_State *L, int (*fn)(ol_tensor *, double, ol_error *)) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    double gain = luaL_optnumber(L, 2, 1.0);
    ol_error err;
    return done(L, fn(t, gain, &err), &err);
}

static int l_xavier_uniform(lua_State *L) { return with_gain(L, ol_init_xavier_uniform); }
static int l_xavier_normal(lua_State *L) { return with_gain(L, ol_init_xavier_normal); }
static int l_fan_in_uniform(lua_State *L) { return with_gain(L, ol_init_fan_in_uniform); }
static int l_orthogonal(lua_State *L) { return with_gain(L, ol_init_orthogonal); }

/* kaiming_*(t, a = 0, mode = "fan_in", nonlinearity = "leaky_relu") */
static int kaiming(lua_State *L, int (*fn)(ol_tensor *, double, int, const char *, ol_error *)) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    double a = luaL_optnumber(L, 2, 0);
    const char *mode = luaL_optstring(L, 3, "fan_in");
    const char *nl = luaL_optstring(L, 4, "leaky_relu");
    int fan_out = strcmp(mode, "fan_out") == 0;
    if (!fan_out && strcmp(mode, "fan_in") != 0)
        ol_arg_error(L, 3, NULL, "mode '%s' not supported (expected \"fan_in\" or \"fan_out\")", mode);
    ol_error err;
    int rc = fn(t, a, fan_out, nl, &err);
    if (rc != 0 && strstr(err.msg, "nonlinearity")) ol_l_error(L, 4, &err);
    return done(L, rc, &err);
}

static int l_kaiming_uniform(lua_State *L) { return kaiming(L, ol_init_kaiming_uniform); }
static int l_kaiming_normal(lua_State *L) { return kaiming(L, ol_init_kaiming_normal); }

/* normal(t, mean = 0, std = 1) */
static int l_normal(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    double mean = luaL_optnumber(L, 2, 0), std = luaL_optnumber(L, 3, 1);
    luaL_argcheck(L, std >= 0, 3, "std must be >= 0");
    ol_tensor_normal_(t, mean, std);
    lua_settop(L, 1);
    return 1;
}

/* uniform(t, a = 0, b = 1): U[a, b) */
static int l_uniform(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    double a = luaL_optnumber(L, 2, 0), b = luaL_optnumber(L, 3, 1);
    luaL_argcheck(L, a <= b, 3, "upper bound must be >= lower bound");
    ol_tensor_uniform_(t, a, b);
    lua_settop(L, 1);
    return 1;
}

static int l_constant(lua_State *L) {
    ol_tensor *t = ol_l_checktensor(L, 1);
    ol_fill_(t, luaL_checknumber(L, 2));
    lua_settop(L, 1);
    return 1;
}

static int l_zeros(lua_State *L) {
    ol_fill_(ol_l_checktensor(L, 1), 0);
    lua_settop(L, 1);
    return 1;
}

/* gain(nonlinearity [, param]): param is leaky_relu's slope (default 0.01) */
static int l_gain(lua_State *L) {
    const char *nl = luaL_checkstring(L, 1);
    double param = NAN;
    if (!lua_isnoneornil(L, 2)) {
        if (!lua_isnumber(L, 2) || lua_isboolean(L, 2))
            ol_arg_error(L, 2, "gain", "negative_slope %s not a valid number", luaL_typename(L, 2));
        param = lua_tonumber(L, 2);
    }
    double g;
    ol_error err;
    if (ol_init_gain(nl, param, &g, &err) != 0) ol_l_error(L, 1, &err);
    lua_pushnumber(L, g);
    return 1;
}

static const luaL_Reg init_funcs[] = {
    {"xavier_uniform", l_xavier_uniform}, {"xavier_normal", l_xavier_normal},
    {"fan_in_uniform", l_fan_in_uniform}, {"kaiming_uniform", l_kaiming_uniform},
    {"kaiming_normal", l_kaiming_normal}, {"orthogonal", l_orthogonal},
    {"normal", l_normal},                 {"uniform", l_uniform},
    {"constant", l_constant},             {"zeros", l_zeros},
    {"gain", l_gain},                     {NULL, NULL}};

void ol_open_init(lua_State *L) {
    luaL_newlib(L, init_funcs);
    lua_setfield(L, -2, "init");
}
