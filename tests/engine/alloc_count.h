/* The allocation counter of the engine tests named test_*_alloc.c: they are
 * linked with -Wl,--wrap=malloc,... (tests/CMakeLists.txt), so every call
 * to the C allocator from the engine's code (not from inside shared
 * libraries) lands here and is counted. Include it in one file of a test
 * program. The counter is atomic: the pool's workers run engine code too. */
#ifndef OL_TEST_ALLOC_COUNT_H
#define OL_TEST_ALLOC_COUNT_H

#include <stdatomic.h>
#include <stddef.h>

static atomic_long allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t a, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void __real_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t a, size_t n);
int __wrap_posix_memalign(void **p, size_t a, size_t n);
void __wrap_free(void *p);

static void counted(void) { atomic_fetch_add_explicit(&allocs, 1, memory_order_relaxed); }
void *__wrap_malloc(size_t n) { counted(); return __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { counted(); return __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { counted(); return __real_realloc(p, n); }
void *__wrap_aligned_alloc(size_t a, size_t n) { counted(); return __real_aligned_alloc(a, n); }
int __wrap_posix_memalign(void **p, size_t a, size_t n) {
    counted();
    return __real_posix_memalign(p, a, n);
}
void __wrap_free(void *p) { __real_free(p); }

#endif
