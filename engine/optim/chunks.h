/* The chunked passes of the per-tensor optimizers (lamb, lars, adafactor),
 * private to engine/optim.
 *
 * The engine calls a per-tensor kernel once per tensor, on one thread; the
 * kernel cuts its own elementwise passes among the threads. A pass over a
 * tensor of n elements runs as ol_parallel_for(n, OL_OPTIM_CHUNK, ...), so
 * that every part is whole chunks of OL_OPTIM_CHUNK elements (the last one
 * shorter), and a sum over the tensor (a norm) is summed chunk by chunk:
 * each chunk's sum goes to the scratch at its chunk's index, and the
 * chunks' sums are then added in chunk order (optim.h, OL_OPTIM_CHUNK).
 * Inside a chunk, OL_PT_LANES running sums take elements i ≡ l (mod
 * OL_PT_LANES): each run of OL_PT_RUN elements sums into lanes of the
 * parameters' type, which are then added to lanes of double, and the
 * chunk's lanes are added in a fixed order at the end (ol_pt_lanes). The
 * order of every addition depends on n alone, so a step is the same bit
 * for bit on any number of threads; the lanes let the compiler vectorise
 * the loop (one running sum would be one long chain of dependent adds),
 * and the runs keep f32 sums short without a conversion per element.
 *
 * The chunks' sums are doubles, kept in the optimizer's scratch (c->work),
 * which desc->workspace sizes in elements of the parameters' type:
 * ol_pt_work_elems converts. */
#ifndef OL_OPTIM_CHUNKS_H
#define OL_OPTIM_CHUNKS_H

#include "core/parallel.h"
#include "optim/optim.h"

#define OL_PT_LANES 8
/* Elements per run: OL_PT_RUN / OL_PT_LANES of them go into each lane's
 * running sum in the parameters' type before it is added to the lane's
 * double. */
#define OL_PT_RUN 256

/* Chunks in a tensor of n elements. */
static inline int64_t ol_pt_chunks(int64_t n) {
    return (n + OL_OPTIM_CHUNK - 1) / OL_OPTIM_CHUNK;
}

/* fn over [0, n) in parts of whole chunks, on the threads when n is at
 * least two chunks (ol_parallel_for runs a smaller loop on the caller). */
static inline void ol_pt_for(int64_t n, ol_range_fn fn, void *ctx) {
    ol_parallel_for(n, OL_OPTIM_CHUNK, OL_OPTIM_CHUNK, fn, ctx);
}

/* The lanes' total, in a fixed order. */
static inline double ol_pt_lanes(const double *a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* Sum number k of each chunk, stored at part[chunk * stride + k], added in
 * chunk order. */
static inline double ol_pt_total(const double *part, int64_t nchunks, int stride, int k) {
    double s = 0;
    for (int64_t c = 0; c < nchunks; c++) s += part[c * stride + k];
    return s;
}

/* Elements of dtype dt that hold nd doubles. */
static inline int64_t ol_pt_work_elems(ol_dtype dt, int64_t nd) {
    return dt == OL_F32 ? 2 * nd : nd;
}

/* The most chunks of any of opt's tensors. */
static inline int64_t ol_pt_max_chunks(const ol_optim *opt) {
    int64_t most = opt->nparams > 0 ? 0 : ol_pt_chunks(opt->n);
    for (int i = 0; i < opt->nparams; i++) {
        const int64_t c = ol_pt_chunks(opt->params[i].rows * opt->params[i].cols);
        if (c > most) most = c;
    }
    return most;
}

#endif
