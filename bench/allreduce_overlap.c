/* Does a non-blocking allreduce progress while the rank computes? The
 * question behind overlapping the gradient allreduce with the backward
 * pass. Each rank times, for a buffer the size of the Fashion-MNIST MLP's
 * gradient (235146 floats):
 *   blocking   MPI_Allreduce alone;
 *   compute    a CPU-bound loop of about the same length, no MPI calls;
 *   overlap    MPI_Iallreduce, the same loop, MPI_Wait: if MPI moved the
 *              data during the loop, this is close to max(compute,
 *              blocking); if it only moves it inside MPI calls, close to
 *              compute + blocking (no overlap).
 * Built and run by bench/dist.sh (mpicc; not part of the CMake build). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define N 235146
#define REPS 50

static volatile double sink;

static void compute(long iters) { /* a dependent chain: no memory traffic */
    double x = 1.0;
    for (long i = 0; i < iters; i++) x = x * 1.0000001 + 1e-9;
    sink = x;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    float *g = calloc(N, sizeof *g);
    double t, blocking = 0, comp = 0, overlap = 0;
    for (int k = 0; k < 5; k++) MPI_Allreduce(MPI_IN_PLACE, g, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    t = MPI_Wtime();
    for (int k = 0; k < REPS; k++) MPI_Allreduce(MPI_IN_PLACE, g, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    blocking = (MPI_Wtime() - t) / REPS;
    /* calibrate the loop to about the blocking time, at least 1 ms */
    long iters = 1000000;
    t = MPI_Wtime();
    compute(iters);
    double per = (MPI_Wtime() - t) / (double)iters;
    iters = (long)((blocking > 1e-3 ? blocking : 1e-3) / per);
    MPI_Bcast(&iters, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    t = MPI_Wtime();
    for (int k = 0; k < REPS; k++) compute(iters);
    comp = (MPI_Wtime() - t) / REPS;
    MPI_Barrier(MPI_COMM_WORLD);
    t = MPI_Wtime();
    for (int k = 0; k < REPS; k++) {
        MPI_Request req;
        MPI_Iallreduce(MPI_IN_PLACE, g, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
        compute(iters);
        MPI_Wait(&req, MPI_STATUS_IGNORE);
    }
    overlap = (MPI_Wtime() - t) / REPS;
    if (rank == 0)
        printf("overlap test: allreduce %.3f ms, compute %.3f ms, Iallreduce+compute+Wait %.3f ms "
               "(no overlap: %.3f, full overlap: %.3f)\n",
               1e3 * blocking, 1e3 * comp, 1e3 * overlap, 1e3 * (blocking + comp),
               1e3 * (blocking > comp ? blocking : comp));
    free(g);
    MPI_Finalize();
    return 0;
}
