/* CSV reader: numeric columns, an optional header row, an optional label
 * column (integer class ids, stored 1-based). Splitting and quoting follow
 * RFC 4180 as implemented by libcsv (csv_parse with field and row
 * callbacks), rather than hand-written rules.
 *
 * Positions: the file is fed to the parser one line at a time, so the
 * callbacks run while the line that ends a field is current; that line and
 * the field's 1-based position in its row are what error messages report.
 * (A quoted field that spans lines is reported at the line where it ends.)
 * Blank lines are skipped by libcsv and counted here. */
#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/file.h"
#include "data/internal.h"
#include "data/readers.h"

typedef struct csv_state {
    const char *path;
    const ol_csv_opts *opts;
    ol_error *err;
    int failed;
    int64_t line;          /* line being fed, 1-based */
    int64_t field;         /* fields seen in the current row */
    int64_t rows;          /* data rows stored */
    int64_t ncols;         /* fields per row, from the first row (0: not yet) */
    int64_t first_line;    /* line of the first row */
    int64_t label_col;     /* 0-based, -1: none; known after the first row */
    int first_done;
    /* the first row, kept as text until we know whether it is a header */
    char **first;
    int64_t nfirst, capfirst;
    /* the current row's numbers */
    double *cur;
    int64_t capcur;
    /* the result: features (rows x (ncols - has label)) and raw labels */
    double *x;
    int64_t capx;
    double *lab;
    int64_t *lab_line;
    int64_t caplab;
} csv_state;

/* "PATH line L, column C: what" (no column when col is 0). */
static int fail_at(csv_state *s, int64_t col, const char *what) {
    if (col > 0)
        ol_fail(s->err, OL_PATH_FMT " line %lld, column %lld: %s", OL_PATH_ARG(s->path),
                (long long)s->line, (long long)col, what);
    else
        ol_fail(s->err, OL_PATH_FMT " line %lld: %s", OL_PATH_ARG(s->path), (long long)s->line,
                what);
    s->failed = 1;
    return -1;
}

static int grow(void **p, int64_t *cap, int64_t need, size_t es) {
    if (need <= *cap) return 0;
    int64_t nc = *cap ? *cap : 64;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * es);
    if (!q) return -1;
    *p = q;
    *cap = nc;
    return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Where the number ends when the whole text (n bytes) is one decimal
 * number, blanks around it allowed; 0 otherwise. A number: an optional
 * sign, digits with at most one point (a digit on at least one side of
 * it), an optional exponent (e or E, an optional sign, digits).
 * Hexadecimal, inf, nan and infinity, which strtod also reads, are not
 * numbers in a data file. */
static size_t decimal_end(const char *t, size_t n) {
    size_t i = 0, digits = 0;
    while (i < n && is_blank(t[i])) i++;
    if (i < n && (t[i] == '+' || t[i] == '-')) i++;
    for (; i < n && is_digit(t[i]); i++) digits++;
    if (i < n && t[i] == '.')
        for (i++; i < n && is_digit(t[i]); i++) digits++;
    if (digits == 0) return 0;
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        size_t e = 0;
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-')) i++;
        for (; i < n && is_digit(t[i]); i++) e++;
        if (e == 0) return 0;
    }
    const size_t end = i;
    while (i < n && is_blank(t[i])) i++;
    return i == n ? end : 0;
}

/* Field text t (n bytes, followed by a zero byte) as a number: 0; -1 when
 * it is not a decimal number; -2 when it is one beyond the range of a
 * double. Any length is read whole: strtod must end where the number
 * does (it would not under a locale whose decimal point is not '.'). */
static int parse_number(const char *t, size_t n, double *v) {
    const size_t end = decimal_end(t, n);
    char *stop;
    if (end == 0) return -1;
    *v = strtod(t, &stop);
    if ((size_t)(stop - t) != end) return -1;
    return isfinite(*v) ? 0 : -2;
}

/* "'TEXT' is not a number" (rc -1) or "... is beyond the range of a
 * double" (rc -2), the text cut to 40 bytes. */
static void number_error(char *buf, size_t size, const char *t, size_t n, int rc) {
    snprintf(buf, size, "'%.*s'%s %s", (int)(n < 40 ? n : 40), t, n > 40 ? "..." : "",
             rc == -2 ? "is beyond the range of a double" : "is not a number");
}

static void on_field(void *data, size_t len, void *ud) {
    csv_state *s = ud;
    if (s->failed) return;
    const char *text = data; /* libcsv adds a zero byte (CSV_APPEND_NULL) */
    if (memchr(text, '\0', len)) {
        fail_at(s, s->field + 1, "a zero byte in the field (not a text file?)");
        return;
    }
    if (!s->first_done) {
        if (grow((void **)&s->first, &s->capfirst, s->nfirst + 1, sizeof(char *)) != 0 ||
            !(s->first[s->nfirst] = malloc(len + 1))) {
            ol_fail(s->err, "out of memory");
            s->failed = 1;
            return;
        }
        memcpy(s->first[s->nfirst], data, len);
        s->first[s->nfirst][len] = '\0';
        s->nfirst++;
        s->field++;
        return;
    }
    int64_t col = s->field++;
    if (col >= s->ncols) return; /* a ragged row: reported at its end */
    double v;
    int rc = parse_number(text, len, &v);
    if (rc != 0) {
        char what[120];
        number_error(what, sizeof what, text, len, rc);
        fail_at(s, col + 1, what);
        return;
    }
    s->cur[col] = v;
}

static int store_row(csv_state *s, const double *v) {
    int64_t nf = s->ncols - (s->label_col >= 0);
    if (grow((void **)&s->x, &s->capx, (s->rows + 1) * (nf > 0 ? nf : 1), sizeof(double)) != 0 ||
        grow((void **)&s->lab, &s->caplab, s->rows + 1, sizeof(double)) != 0 ||
        !(s->lab_line = realloc(s->lab_line, (size_t)s->caplab * sizeof(int64_t)))) {
        ol_fail(s->err, "out of memory");
        s->failed = 1;
        return -1;
    }
    double *o = s->x + s->rows * nf;
    for (int64_t c = 0; c < s->ncols; c++)
        if (c != s->label_col) *o++ = v[c];
    if (s->label_col >= 0) {
        double l = v[s->label_col];
        const ol_csv_opts *op = s->opts;
        int64_t lo = op->label_base > 0 ? op->label_base : 0;
        if (l != floor(l) || l < (double)lo || l > 2e9 ||
            (op->classes > 0 && op->label_base >= 0 && l >= (double)(op->label_base + op->classes))) {
            char what[160];
            if (op->classes > 0 && op->label_base >= 0)
                snprintf(what, sizeof what, "label %g is out of range %lld..%lld", l, (long long)lo,
                         (long long)(op->label_base + op->classes - 1));
            else
                snprintf(what, sizeof what, "label %g is not a class id (an integer >= %lld)", l,
                         (long long)lo);
            return fail_at(s, s->label_col + 1, what);
        }
        s->lab[s->rows] = l;
        s->lab_line[s->rows] = s->line;
    }
    s->rows++;
    return 0;
}

/* After the first row: decide on the header, find the label column. */
static int finish_first_row(csv_state *s) {
    const ol_csv_opts *op = s->opts;
    s->first_done = 1;
    s->ncols = s->nfirst;
    s->first_line = s->line;
    if (grow((void **)&s->cur, &s->capcur, s->ncols, sizeof(double)) != 0) {
        ol_fail(s->err, "out of memory");
        s->failed = 1;
        return -1;
    }
    int64_t bad = -1; /* first non-numeric field */
    int bad_rc = 0;
    for (int64_t c = 0; c < s->nfirst && bad < 0; c++)
        if ((bad_rc = parse_number(s->first[c], strlen(s->first[c]), &s->cur[c])) != 0) bad = c;
    int header = op->header < 0 ? bad >= 0 : op->header;
    s->label_col = -1;
    if (op->label_name) {
        if (!header)
            return fail_at(s, 0, "a label column given by name needs a header row");
        for (int64_t c = 0; c < s->nfirst; c++)
            if (strcmp(s->first[c], op->label_name) == 0) s->label_col = c;
        if (s->label_col < 0) {
            char what[160];
            snprintf(what, sizeof what, "no column named '%.100s' in the header", op->label_name);
            return fail_at(s, 0, what);
        }
    } else if (op->label_index == -1) {
        s->label_col = s->ncols - 1;
    } else if (op->label_index > 0) {
        if (op->label_index > s->ncols) {
            char what[160];
            snprintf(what, sizeof what, "label column %lld requested, rows have %lld columns",
                     (long long)op->label_index, (long long)s->ncols);
            return fail_at(s, 0, what);
        }
        s->label_col = op->label_index - 1;
    }
    if (header) return 0;
    if (bad >= 0) {
        char what[120];
        number_error(what, sizeof what, s->first[bad], strlen(s->first[bad]), bad_rc);
        return fail_at(s, bad + 1, what);
    }
    return store_row(s, s->cur);
}

static void on_row(int c, void *ud) {
    (void)c;
    csv_state *s = ud;
    if (s->failed) return;
    int64_t nf = s->field;
    s->field = 0;
    if (!s->first_done) {
        finish_first_row(s);
        return;
    }
    if (nf != s->ncols) {
        char what[160];
        snprintf(what, sizeof what, "%lld fields, expected %lld as in line %lld", (long long)nf,
                 (long long)s->ncols, (long long)s->first_line);
        fail_at(s, 0, what);
        return;
    }
    store_row(s, s->cur);
}

static void free_state(csv_state *s) {
    for (int64_t i = 0; i < s->nfirst; i++) free(s->first[i]);
    free(s->first);
    free(s->cur);
    free(s->x);
    free(s->lab);
    free(s->lab_line);
}

ol_dataset *ol_read_csv(const char *path, const ol_csv_opts *opts, ol_error *err) {
    if (opts->classes < 0) {
        ol_fail(err, "classes must be >= 0 (0: from the labels), got %ld", (long)opts->classes);
        return NULL;
    }
    int fd = ol_data_open(path, NULL, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        ol_fail(err, OL_PATH_FMT ": cannot open (%s)", OL_PATH_ARG(path), strerror(errno));
        close(fd);
        return NULL;
    }
    struct csv_parser p;
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        fclose(f);
        ol_fail(err, "out of memory");
        return NULL;
    }
    csv_set_delim(&p, (unsigned char)(opts->delimiter ? opts->delimiter : ','));
    csv_state s = {.path = path, .opts = opts, .err = err};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while (!s.failed && (len = getline(&line, &cap, f)) > 0) {
        s.line++;
        char *text = line;
        /* A UTF-8 byte order mark is no part of the first field. */
        if (s.line == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) text += 3, len -= 3;
        if (csv_parse(&p, text, (size_t)len, on_field, on_row, &s) != (size_t)len && !s.failed) {
            char what[120];
            snprintf(what, sizeof what, "cannot parse (%s)", csv_strerror(csv_error(&p)));
            fail_at(&s, 0, what);
        }
    }
    if (!s.failed && ferror(f)) {
        ol_fail(err, OL_PATH_FMT ": read error (%s)", OL_PATH_ARG(path), strerror(errno));
        s.failed = 1;
    }
    if (!s.failed) {
        s.line = s.line > 0 ? s.line : 1;
        if (csv_fini(&p, on_field, on_row, &s) != 0 && !s.failed)
            fail_at(&s, 0, "unterminated quoted field at the end of the file");
    }
    free(line);
    csv_free(&p);
    fclose(f);
    if (!s.failed && !s.first_done) {
        ol_fail(err, OL_PATH_FMT ": no rows", OL_PATH_ARG(path));
        s.failed = 1;
    }
    if (s.failed) {
        free_state(&s);
        return NULL;
    }

    int32_t *y = NULL, classes = 0;
    if (s.label_col >= 0) {
        double base = opts->label_base;
        if (base < 0) {
            base = 1;
            for (int64_t i = 0; i < s.rows; i++)
                if (s.lab[i] == 0) base = 0;
        }
        y = malloc((size_t)(s.rows > 0 ? s.rows : 1) * sizeof *y);
        if (!y) {
            free_state(&s);
            ol_fail(err, "out of memory");
            return NULL;
        }
        for (int64_t i = 0; i < s.rows; i++) {
            int32_t id = (int32_t)(s.lab[i] - base) + 1;
            if (opts->classes > 0 && id > opts->classes) {
                s.line = s.lab_line[i];
                char what[160];
                snprintf(what, sizeof what, "label %g is out of range %g..%g", s.lab[i], base,
                         base + opts->classes - 1);
                fail_at(&s, s.label_col + 1, what);
                free(y);
                free_state(&s);
                return NULL;
            }
            y[i] = id;
            if (id > classes) classes = id;
        }
        if (opts->classes > 0) classes = opts->classes;
    }
    int64_t nf = s.ncols - (s.label_col >= 0);
    double *x = s.x;
    s.x = NULL;
    int64_t rows = s.rows;
    free_state(&s);
    return ol_dataset_new(OL_DS_F64, rows, nf, x, 1.0, y, classes, err);
}
