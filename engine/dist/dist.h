/* The process world of data-parallel training over MPI (MPI-3.1 standard,
 * https://www.mpi-forum.org/docs/) when the build found it (OL_HAVE_MPI),
 * else a world of one: a world as core/comm.h defines it, whose
 * collectives go through ol_comm_allreduce and the other functions there.
 * Scripts run unchanged either way.
 *
 * This layer alone links MPI. The optlua program and optlua.so do not
 * link it: the build makes it a shared object of its own, which the Lua
 * bindings load at the first use of ol.dist or ol.train{distributed =
 * true} (ol_comm_load with OL_DIST_ENTRY); a C program may link it.
 *
 * The world starts on the first ol_dist_world, cheaply when not launched
 * by MPI: it looks for the variables an MPI launcher sets (Open MPI's
 * OMPI_COMM_WORLD_SIZE, PMIx's PMIX_RANK, MPICH/Slurm's PMI_SIZE); without
 * them the world is one process and MPI is never started, so a plain
 * `optlua` pays nothing and prints nothing. With them, MPI_Init_thread
 * (MPI_THREAD_FUNNELED: only the main thread calls MPI; BLAS threads never
 * do) runs once, and MPI_Finalize is registered to run at exit.
 *
 * Exit: MPI_Finalize waits for every rank, so a rank that fails while the
 * others wait in a collective would hang the job if it finalised. On glibc
 * the exit handler sees the exit status (on_exit) and finalises only on a
 * clean exit; after a failure it exits without finalising, and the
 * launcher (mpirun) then terminates the other ranks.
 *
 * Ranks are MPI's, 0 .. size-1. The world is process-wide state (like the
 * RNG and the thread setting), as MPI is. */
#ifndef OL_DIST_H
#define OL_DIST_H

#include "core/comm.h"
#include "core/error.h"

/* Starts the world if not done yet and points *world at it (its backend
 * "mpi" when built with MPI, else "none"). Fails, at every call, when MPI
 * failed to start, and when started by a launcher among several processes
 * without MPI (N copies of a world of one would each train alone). This
 * is the shared object's entry point, an ol_comm_entry. */
int ol_dist_world(const ol_comm **world, ol_error *err);
#define OL_DIST_ENTRY "ol_dist_world"

/* Finalises now (normally left to the exit handler); the world is one
 * process afterwards and MPI cannot be restarted. */
void ol_dist_finalize(void);

#endif
