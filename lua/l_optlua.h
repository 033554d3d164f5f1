/* Entry point of the optlua library, shared by the program and optlua.so. */
#ifndef OL_L_OPTLUA_H
#define OL_L_OPTLUA_H

#include <lua.h>

/* Pushes the optlua table (the same table on every call in one state). */
int ol_luaopen(lua_State *L);

/* Openers of the areas added after the tensor one; each is declared in
 * l_common.h and adds its functions to the table on top of the stack.
 * (Add one line per area.) */
#define OL_AREA_OPENERS(L) \
    do {                   \
        (void)(L);         \
        ol_open_pca(L);    \
        ol_open_optim(L);  \
        ol_open_nn(L);     \
        ol_open_data(L);   \
        ol_open_train(L);  \
        ol_open_second(L); \
        ol_open_checkpoint(L); \
        ol_open_dist(L);   \
        ol_open_average(L); \
        ol_open_landscape(L); \
        ol_open_args(L);   \
    } while (0)

#endif
