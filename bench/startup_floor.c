/* The floor of bench/startup.sh: a program that links OpenBLAS alone and
 * calls it once. Its start-up is what any program on OpenBLAS pays: the
 * dynamic loader, OpenBLAS's own start (its choice of kernels for the CPU,
 * its thread pool) and the process itself. */
#include <cblas.h>

int main(void) {
    const double x[2] = {3, 4};
    return cblas_dnrm2(2, x, 1) == 5 ? 0 : 1;
}
