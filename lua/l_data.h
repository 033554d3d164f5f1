/* The data binding's userdata, for other bindings (the training loop) that
 * take a dataset or a loader from Lua and drive it from C. */
#ifndef OL_L_DATA_H
#define OL_L_DATA_H

#include <lua.h>

#include "data/loader.h"

#define OL_DATASET_MT "optlua.dataset"
#define OL_LOADER_MT "optlua.loader"
#define OL_STANDARDIZER_MT "optlua.standardizer"

typedef struct ol_l_dataset {
    ol_dataset *ds;
    ol_dtype dtype;   /* of ds.x, ds.y and (by default) its loaders' batches */
} ol_l_dataset;

/* The loader keeps its dataset's userdata alive (user value 1). */
typedef struct ol_l_loader {
    ol_loader l;
    ol_dtype dtype;   /* of the batches */
} ol_l_loader;

ol_l_dataset *ol_l_checkdataset(lua_State *L, int idx);
ol_l_loader *ol_l_checkloader(lua_State *L, int idx);

#endif
