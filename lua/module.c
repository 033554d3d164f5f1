/* optlua.so: the library as a Lua C module, `require "optlua"` from any
 * Lua 5.4 interpreter with LUA_CPATH pointing at it. */
#include <lua.h>

#include "l_optlua.h"

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_optlua(lua_State *L) {
    return ol_luaopen(L);
}
