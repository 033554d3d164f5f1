/* The process world for data-parallel training: rank, size and the
 * collectives the training loop needs (allreduce, broadcast, barrier), over
 * MPI (MPI-3.1 standard, https://www.mpi-forum.org/docs/) when the build
 * found it (OL_HAVE_MPI), else a world of one where every call is a no-op
 * that leaves the buffers as they are. Scripts run unchanged either way.
 *
 * Initialisation is lazy and cheap when not launched by MPI: the first
 * call looks for the variables an MPI launcher sets (Open MPI's
 * OMPI_COMM_WORLD_SIZE, PMIx's PMIX_RANK, MPICH/Slurm's PMI_SIZE); without
 * them the world is one process and MPI is never started, so plain
 * `optlua` pays nothing and prints nothing. With them, MPI_Init_thread
 * (MPI_THREAD_FUNNELED: only the main thread calls MPI; BLAS threads
 * never do) runs once, and MPI_Finalize is registered to run at exit.
 *
 * Exit: MPI_Finalize waits for every rank, so a rank that fails while the
 * others wait in a collective would hang the job if it finalised. On glibc
 * the exit handler sees the exit status (on_exit) and finalises only on a
 * clean exit; after a failure it exits without finalising, and the
 * launcher (mpirun) then terminates the other ranks.
 *
 * Ranks are MPI's, 0 .. size-1: rank 0 is the root that prints and writes.
 * The world is process-wide state (like the RNG and the thread setting). */
#ifndef OL_DIST_H
#define OL_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/tensor.h"

typedef enum ol_dist_op {
    OL_DIST_SUM,
    OL_DIST_MEAN, /* sum, then divided by the world size */
    OL_DIST_MAX
} ol_dist_op;

/* Starts the world if not done yet (see above). Every function below calls
 * it first; calling it directly only moves the start-up cost. */
int ol_dist_init(ol_error *err);
/* 1 once MPI itself was started (a launched world, even of size 1). */
int ol_dist_is_initialized(void);
/* "mpi" when built with MPI, else "none". */
const char *ol_dist_backend(void);
/* Rank (0-based) and size; 0 and 1 when the world could not start. */
int ol_dist_rank(void);
int ol_dist_size(void);

/* In place on n elements of dtype dt at buf, identical on every rank
 * afterwards. */
int ol_dist_allreduce(void *buf, int64_t n, ol_dtype dt, ol_dist_op op, ol_error *err);
/* n elements from rank root to every rank. */
int ol_dist_broadcast(void *buf, int64_t n, ol_dtype dt, int root, ol_error *err);
/* Raw bytes from root (index arrays, RNG state). */
int ol_dist_broadcast_bytes(void *buf, size_t nbytes, int root, ol_error *err);
/* The same on a contiguous tensor (an error otherwise). */
int ol_dist_allreduce_tensor(ol_tensor *t, ol_dist_op op, ol_error *err);
int ol_dist_broadcast_tensor(ol_tensor *t, int root, ol_error *err);
int ol_dist_barrier(ol_error *err);

/* Finalises now (normally left to the exit handler); the world is one
 * process afterwards and MPI cannot be restarted. */
void ol_dist_finalize(void);

#endif
