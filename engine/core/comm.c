/* The world's shared checks and the world of one (see comm.h), and the
 * loader of a world kept in a shared object. */
#define _GNU_SOURCE /* dladdr1, struct link_map (glibc): see own_file */
#include "core/comm.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <link.h>
#endif

int ol_comm_rank(const ol_comm *world) { return world ? world->rank() : 0; }

int ol_comm_size(const ol_comm *world) { return world ? world->size() : 1; }

static void scale(void *buf, int64_t n, ol_dtype dt, double s) {
    if (dt == OL_F32) {
        float *p = buf, f = (float)s;
        for (int64_t i = 0; i < n; i++) p[i] *= f;
    } else {
        double *p = buf;
        for (int64_t i = 0; i < n; i++) p[i] *= s;
    }
}

/* A world of one (or a finalised world) has no one to talk to: the
 * collectives below leave the buffers as they are. */
int ol_comm_allreduce(const ol_comm *world, void *buf, int64_t n, ol_dtype dt, ol_comm_op op,
                      ol_error *err) {
    const int size = ol_comm_size(world);
    if (size < 2) return 0;
    if (world->allreduce(buf, n, dt, op == OL_COMM_MAX ? OL_COMM_MAX : OL_COMM_SUM, err)) return -1;
    if (op == OL_COMM_MEAN) scale(buf, n, dt, 1.0 / size);
    return 0;
}

int ol_comm_broadcast(const ol_comm *world, void *buf, size_t nbytes, int root, ol_error *err) {
    const int size = ol_comm_size(world);
    if (root < 0 || root >= size) return ol_fail(err, "root %d is not a rank (0..%d)", root, size - 1);
    return size < 2 ? 0 : world->broadcast(buf, nbytes, root, err);
}

int ol_comm_barrier(const ol_comm *world, ol_error *err) {
    return ol_comm_size(world) < 2 ? 0 : world->barrier(err);
}

int ol_comm_allgather(const ol_comm *world, const void *send, void *recv, size_t nbytes, ol_error *err) {
    if (ol_comm_size(world) < 2) {
        memmove(recv, send, nbytes);
        return 0;
    }
    return world->allgather(send, recv, nbytes, err);
}

int ol_comm_barrier_within(const ol_comm *world, double seconds, ol_error *err) {
    if (!(seconds > 0)) return ol_fail(err, "the time to wait must be > 0 seconds, got %g", seconds);
    return ol_comm_size(world) < 2 ? 0 : world->barrier_within(seconds, err);
}

static int check_contiguous(const ol_tensor *t, ol_error *err) {
    char shape[96];
    if (!ol_tensor_is_contiguous(t))
        return ol_fail(err, "contiguous tensor expected, got a strided %s view (use :contiguous())",
                       ol_shape_str(t, shape, sizeof shape));
    return 0;
}

int ol_comm_allreduce_tensor(const ol_comm *world, ol_tensor *t, ol_comm_op op, ol_error *err) {
    if (check_contiguous(t, err)) return -1;
    return ol_comm_allreduce(world, ol_tensor_data(t), ol_tensor_numel(t), t->dtype, op, err);
}

int ol_comm_broadcast_tensor(const ol_comm *world, ol_tensor *t, int root, ol_error *err) {
    if (check_contiguous(t, err)) return -1;
    return ol_comm_broadcast(world, ol_tensor_data(t), (size_t)ol_tensor_numel(t) * ol_dtype_size(t->dtype),
                             root, err);
}

/* ---- a world in a shared object ---- */

/* The file that holds this code, symlinks resolved (malloc'd, NULL on
 * failure): the shared object that contains it (optlua.so), else the
 * program, named by /proc/self/exe because the loader knows the program
 * only by its argv[0]. */
static char *own_file(void) {
    const char *name = NULL;
    Dl_info info;
#ifdef __GLIBC__
    struct link_map *map = NULL;
    if (dladdr1((void *)own_file, &info, (void **)&map, RTLD_DL_LINKMAP) && map && map->l_name[0])
        name = map->l_name;
#else
    if (dladdr((void *)own_file, &info) && info.dli_fname && strchr(info.dli_fname, '/'))
        name = info.dli_fname;
#endif
    return realpath(name ? name : "/proc/self/exe", NULL);
}

/* Opens the first `dir` bytes of `self` followed by the `len` bytes of
 * `name`, and writes that path to `path`; on failure NULL, with `why` (a
 * dlerror message or "out of memory") filled. */
static void *open_beside(const char *self, size_t dir, const char *name, size_t len, char *path,
                         size_t pathlen, char *why, size_t whylen) {
    char *full = malloc(dir + len + 1);
    if (!full) {
        snprintf(why, whylen, "out of memory");
        snprintf(path, pathlen, "%.*s", (int)len, name);
        return NULL;
    }
    memcpy(full, self, dir);
    memcpy(full + dir, name, len);
    full[dir + len] = '\0';
    snprintf(path, pathlen, "%s", full);
    /* RTLD_GLOBAL: MPI's plugins, which it loads itself, look up MPI's
     * symbols in the global scope. */
    void *handle = dlopen(full, RTLD_NOW | RTLD_GLOBAL);
    if (!handle) {
        const char *e = dlerror();
        snprintf(why, whylen, "%s", e ? e : "unknown error");
    }
    free(full);
    return handle;
}

int ol_comm_load(const char *file, const char *symbol, ol_comm_entry *entry, ol_error *err) {
    char *self = own_file();
    if (!self) return ol_fail(err, "cannot load %s: cannot locate the file of the running program", file);
    char *slash = strrchr(self, '/');
    const size_t dir = slash ? (size_t)(slash - self) + 1 : 0;
    char first[512] = "", first_why[256] = "", path[512], why[256];
    void *handle = NULL;
    /* The names in `file`, in order, until one opens (never closed); when
     * none does, the error reports the first one's failure. */
    for (const char *name = file; !handle && *name;) {
        const char *colon = strchr(name, ':');
        const size_t len = colon ? (size_t)(colon - name) : strlen(name);
        handle = open_beside(self, dir, name, len, path, sizeof path, why, sizeof why);
        if (!handle && !first[0]) {
            memcpy(first, path, sizeof first);
            memcpy(first_why, why, sizeof first_why);
        }
        name += len + (colon ? 1 : 0);
    }
    free(self);
    if (!handle) return ol_fail(err, "cannot load %s: %s", first[0] ? first : file, first_why);
    void *fn = dlsym(handle, symbol);
    if (!fn) {
        const char *e = dlerror();
        return ol_fail(err, "cannot load %s: %s", path, e ? e : "unknown error");
    }
    /* POSIX guarantees that dlsym's object pointer converts to a function
     * pointer; memcpy says so without a cast ISO C lacks. */
    memcpy(entry, &fn, sizeof fn);
    return 0;
}
