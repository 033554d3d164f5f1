/* Placeholder until the program lands. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>

#include "l_optlua.h"

int main(int argc, char **argv) {
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    ol_luaopen(L);
    lua_setglobal(L, "optlua");
    int rc = 0;
    if (argc > 1 && luaL_dofile(L, argv[1]) != LUA_OK) {
        fprintf(stderr, "%s\n", lua_tostring(L, -1));
        rc = 1;
    }
    lua_close(L);
    return rc;
}
