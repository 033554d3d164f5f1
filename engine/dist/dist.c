/* The process world over MPI, or a world of one (see dist.h for the rules:
 * lazy start only under an MPI launcher, finalise on a clean exit only).
 * The collectives are called through core/comm.h, which checks their
 * arguments and calls them only with someone to talk to. MPI's counts are
 * ints, so long buffers go in chunks of 2^30 elements. */
#define _GNU_SOURCE /* on_exit, dladdr (glibc): see finalize_on_exit, pin_this_object */
#include "dist/dist.h"

#include <stdlib.h>
#include <time.h>
#ifdef __GLIBC__
#include <dlfcn.h>
#endif

#ifdef OL_HAVE_MPI
#include <mpi.h>
#endif

/* The world: 0 not looked at yet, 1 a world of one (no MPI), 2 MPI running,
 * 3 MPI finalised, 4 MPI failed to start (every call fails with `failure`:
 * carrying on as a world of one would train N separate models).
 * Process-wide by nature, as MPI is. */
static struct {
    int state;
    int rank, size;
    ol_error failure;
} world = {0, 0, 1, {{0}}};

static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE", "PMI_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

#ifdef OL_HAVE_MPI
#define CHUNK ((int64_t)1 << 30)

#ifdef __GLIBC__
/* When this code lives in a shared object that is unloaded before the
 * exit handlers run, the handler registered below would point into
 * unmapped memory: keep the object loaded for good. */
static void pin_this_object(void) {
    Dl_info info;
    if (dladdr((void *)pin_this_object, &info) && info.dli_fname)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static void finalize_on_exit(int status, void *arg) {
    (void)arg;
    /* After a failure, leave MPI alone: finalising would wait for ranks
     * that may be blocked in a collective; the launcher ends them. */
    if (status == 0) ol_dist_finalize();
    else world.state = 3;
}
#else
static void finalize_at_exit(void) { ol_dist_finalize(); }
#endif

static int mpi_fail(ol_error *err, const char *what, int code) {
    char msg[MPI_MAX_ERROR_STRING + 1];
    int len = 0;
    if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) len = 0;
    msg[len] = 0;
    return ol_fail(err, "%s failed: %s", what, len ? msg : "unknown MPI error");
}

static MPI_Datatype mpi_type(ol_dtype dt) { return dt == OL_F32 ? MPI_FLOAT : MPI_DOUBLE; }
#endif

static int start(ol_error *err) {
    if (world.state == 4) return ol_fail(err, "%s", world.failure.msg);
    if (world.state != 0) return 0;
#ifdef OL_HAVE_MPI
    if (launched_by_mpi()) {
        int inited = 0, provided;
        MPI_Initialized(&inited);
        if (!inited) {
            int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
            if (rc != MPI_SUCCESS) {
                world.state = 4;
                mpi_fail(&world.failure, "MPI_Init_thread", rc);
                return ol_fail(err, "%s", world.failure.msg);
            }
#ifdef __GLIBC__
            pin_this_object();
            on_exit(finalize_on_exit, NULL);
#else
            atexit(finalize_at_exit);
#endif
        }
        /* Errors come back as codes, so a failed collective is an error
         * value like any other rather than an abort of the job. */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_Comm_rank(MPI_COMM_WORLD, &world.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &world.size);
        world.state = 2;
        return 0;
    }
#else
    /* N copies of a world of one would each train alone and silently
     * write N answers: refuse instead (on every call). */
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (!n) n = getenv("PMI_SIZE");
    if (launched_by_mpi() && n && atoi(n) > 1)
        return ol_fail(err, "started by an MPI launcher as one of %s processes, but optlua was built "
                            "without MPI (install libopenmpi-dev and rebuild)", n);
#endif
    world.state = 1;
    return 0;
}

static int rank(void) { return world.rank; }

static int size(void) { return world.size; }

static int started(void) { return world.state == 2; }

static int allreduce(void *buf, int64_t n, ol_dtype dt, ol_comm_op op, ol_error *err) {
#ifdef OL_HAVE_MPI
    size_t es = ol_dtype_size(dt);
    MPI_Op mop = op == OL_COMM_MAX ? MPI_MAX : MPI_SUM;
    for (int64_t done = 0; done < n; done += CHUNK) {
        int count = (int)(n - done < CHUNK ? n - done : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)done * es, count, mpi_type(dt),
                               mop, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Allreduce", rc);
    }
#else
    (void)buf, (void)n, (void)dt, (void)op, (void)err;
#endif
    return 0;
}

static int broadcast(void *buf, size_t nbytes, int root, ol_error *err) {
#ifdef OL_HAVE_MPI
    for (size_t done = 0; done < nbytes; done += (size_t)CHUNK) {
        int count = (int)(nbytes - done < (size_t)CHUNK ? nbytes - done : (size_t)CHUNK);
        int rc = MPI_Bcast((char *)buf + done, count, MPI_BYTE, root, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Bcast", rc);
    }
#else
    (void)buf, (void)nbytes, (void)root, (void)err;
#endif
    return 0;
}

static int barrier(ol_error *err) {
#ifdef OL_HAVE_MPI
    int rc = MPI_Barrier(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Barrier", rc);
#else
    (void)err;
#endif
    return 0;
}

static int allgather(const void *send, void *recv, size_t nbytes, ol_error *err) {
#ifdef OL_HAVE_MPI
    if (nbytes > (size_t)CHUNK) return ol_fail(err, "MPI_Allgather: %zu bytes is too many", nbytes);
    int rc = MPI_Allgather(send, (int)nbytes, MPI_BYTE, recv, (int)nbytes, MPI_BYTE, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Allgather", rc);
#else
    (void)send, (void)recv, (void)nbytes, (void)err;
#endif
    return 0;
}

#ifdef OL_HAVE_MPI
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

/* A non-blocking barrier tested every millisecond until the deadline. On
 * a timeout the request stays pending (a collective cannot be cancelled):
 * the caller fails and the process ends. */
static int barrier_within(double seconds, ol_error *err) {
#ifdef OL_HAVE_MPI
    MPI_Request req;
    int rc = MPI_Ibarrier(MPI_COMM_WORLD, &req);
    if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Ibarrier", rc);
    const double deadline = now() + seconds;
    const struct timespec ms = {0, 1000000};
    for (;;) {
        int done = 0;
        rc = MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Test", rc);
        if (done) return 0;
        if (now() >= deadline) return 1;
        nanosleep(&ms, NULL);
    }
#else
    (void)seconds, (void)err;
    return 0;
#endif
}

static const ol_comm this_world = {
#ifdef OL_HAVE_MPI
    .backend = "mpi",
#else
    .backend = "none",
#endif
    .rank = rank,
    .size = size,
    .started = started,
    .allreduce = allreduce,
    .broadcast = broadcast,
    .barrier = barrier,
    .allgather = allgather,
    .barrier_within = barrier_within,
};

int ol_dist_world(const ol_comm **w, ol_error *err) {
    if (start(err)) return -1;
    *w = &this_world;
    return 0;
}

void ol_dist_finalize(void) {
#ifdef OL_HAVE_MPI
    if (world.state == 2) {
        int done = 0;
        MPI_Finalized(&done);
        if (!done) MPI_Finalize();
    }
#endif
    if (world.state == 1 || world.state == 2) world.state = 3;
    world.rank = 0;
    world.size = 1;
}
