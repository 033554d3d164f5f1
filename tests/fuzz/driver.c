/* Runs a libFuzzer harness over files, without libFuzzer: the regression
 * test of the normal (and sanitizer) build replays the seed corpus and
 * the inputs kept in tests/fuzz/regressions/. An input whose file name
 * starts with "refused_" must be refused by the reader (each harness
 * sets ol_fuzz_refused).
 *   driver FILE_OR_DIR...   exit 0 when every input went through */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
extern int ol_fuzz_refused;

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "driver: cannot open %s\n", path);
        return 1;
    }
    size_t cap = 1 << 16, n = 0, got;
    uint8_t *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (!buf) return 1;
    /* An exact-size copy, so that reads past the end trip AddressSanitizer. */
    uint8_t *exact = malloc(n ? n : 1);
    if (n) memcpy(exact, buf, n);
    free(buf);
    ol_fuzz_refused = 0;
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    const char *slash = strrchr(path, '/');
    if (strncmp(slash ? slash + 1 : path, "refused_", 8) == 0 && !ol_fuzz_refused) {
        fprintf(stderr, "driver: %s was accepted, it must be refused\n", path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    int failed = 0, count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "driver: no such file or directory: %s\n", argv[i]);
            failed = 1;
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            failed |= run_file(argv[i]);
            count++;
            continue;
        }
        DIR *d = opendir(argv[i]);
        struct dirent *e;
        char p[4096];
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0) continue;
            snprintf(p, sizeof p, "%s/%s", argv[i], e->d_name);
            failed |= run_file(p);
            count++;
        }
        if (d) closedir(d);
    }
    printf("driver: %d inputs\n", count);
    return failed;
}
