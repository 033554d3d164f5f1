/* ol.save / ol.load (l_checkpoint.c), for other bindings that save:
 * ol.train's periodic and Ctrl-C checkpoints. */
#ifndef OL_L_CHECKPOINT_H
#define OL_L_CHECKPOINT_H

#include <lua.h>

/* ol.save(path, {model = net, optimizer = opt, meta = {...}, tensors = {...}})
 * as a lua_CFunction (raises on error; call it through lua_pcall). */
int ol_l_save(lua_State *L);

#endif
