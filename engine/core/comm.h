/* The world of data-parallel training as the loader and the training loop
 * see it: this process's rank among `size` processes and the collectives
 * the loop needs, behind a small table of functions, so that the layers
 * that use a world do not link the library that implements it.
 *
 * engine/dist implements a world over MPI (dist/dist.h). A NULL world is a
 * world of one process: rank 0 of 1, where every collective leaves the
 * buffers as they are. Ranks are 0 .. size-1; rank 0 is the root that
 * prints and writes. The functions below take a world or NULL and check
 * what every world shares (root is a rank, tensors are contiguous); a
 * world's own functions may assume valid arguments.
 *
 * A world can live in a shared object loaded on demand (ol_comm_load), so
 * that a program that never trains in parallel never loads MPI. */
#ifndef OL_CORE_COMM_H
#define OL_CORE_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef enum ol_comm_op {
    OL_COMM_SUM,
    OL_COMM_MEAN, /* sum, then divided by the world size */
    OL_COMM_MAX
} ol_comm_op;

typedef struct ol_comm {
    const char *backend; /* what carries the messages: "mpi", or "none" */
    int (*rank)(void);
    int (*size)(void);
    /* 1 once the processes were started together (MPI initialised by a
     * launcher), even as a world of one. */
    int (*started)(void);
    /* In place on n elements of dt at buf, op OL_COMM_SUM or OL_COMM_MAX
     * (ol_comm_allreduce makes the mean from the sum); identical on every
     * rank afterwards. */
    int (*allreduce)(void *buf, int64_t n, ol_dtype dt, ol_comm_op op, ol_error *err);
    /* nbytes from rank root (a rank) to every rank. */
    int (*broadcast)(void *buf, size_t nbytes, int root, ol_error *err);
    int (*barrier)(ol_error *err);
    /* nbytes from every rank into recv, rank r's at recv + r * nbytes. */
    int (*allgather)(const void *send, void *recv, size_t nbytes, ol_error *err);
    /* A barrier that waits at most `seconds` (polled, not blocking): 0
     * when every rank arrived, 1 when the time ran out (the world is then
     * unusable: the caller fails), -1 on an error. */
    int (*barrier_within)(double seconds, ol_error *err);
} ol_comm;

/* Rank and size of world (0 and 1 for NULL). */
int ol_comm_rank(const ol_comm *world);
int ol_comm_size(const ol_comm *world);

int ol_comm_allreduce(const ol_comm *world, void *buf, int64_t n, ol_dtype dt, ol_comm_op op,
                      ol_error *err);
/* Raw bytes from root: both ends share the machine format. */
int ol_comm_broadcast(const ol_comm *world, void *buf, size_t nbytes, int root, ol_error *err);
int ol_comm_barrier(const ol_comm *world, ol_error *err);
/* nbytes from every rank into recv (size * nbytes; a world of one copies). */
int ol_comm_allgather(const ol_comm *world, const void *send, void *recv, size_t nbytes, ol_error *err);
/* 0 when every rank reached it within `seconds` (> 0), 1 when not (the
 * world is then unusable: fail), -1 on an error. */
int ol_comm_barrier_within(const ol_comm *world, double seconds, ol_error *err);
/* The same on a contiguous tensor (an error otherwise). */
int ol_comm_allreduce_tensor(const ol_comm *world, ol_tensor *t, ol_comm_op op, ol_error *err);
int ol_comm_broadcast_tensor(const ol_comm *world, ol_tensor *t, int root, ol_error *err);

/* A shared object's entry point: starts its world if not done yet and
 * points *world at it; -1 with err filled when the world cannot start. */
typedef int (*ol_comm_entry)(const ol_comm **world, ol_error *err);

/* Loads the shared object named `file` from the directory of the file
 * that holds this code (the program, optlua.so, or whatever links the
 * engine), symlinks resolved, and finds its entry point `symbol`. `file`
 * may list several relative paths separated by ':', tried in order (an
 * installed program finds the object in the C module directory). The
 * object stays loaded for the life of the process, its symbols visible to
 * the libraries it loads in turn (MPI loads plugins that need them). On
 * failure: "cannot load PATH: REASON", PATH the first one tried. */
int ol_comm_load(const char *file, const char *symbol, ol_comm_entry *entry, ol_error *err);

#endif
