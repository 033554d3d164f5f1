/* Placeholder until the tensor binding lands. */
#include "l_common.h"

void ol_open_tensor(lua_State *L) {
    (void)L;
}
