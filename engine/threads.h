/* Thread settings: how many threads OpenBLAS (and the engine's own parallel
 * loops, if any) may use. The engine's other piece of global state. */
#ifndef OL_THREADS_H
#define OL_THREADS_H

void ol_set_threads(int n); /* n < 1: all cores */
int ol_get_threads(void);
int ol_num_cores(void);

#endif
