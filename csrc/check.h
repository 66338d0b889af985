/* The C tests' one assertion, shared by tests_math.c and tests_io.c. No framework: CHECK counts,
 * a failure prints its file and line, and the program's last line says "N passed, N failed". */
#ifndef SCRATCHNET_CHECK_H
#define SCRATCHNET_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int passed, failed;

static int check(int ok, const char *file, int line, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* counts the check; prints where and why it failed; returns whether it held */
static int check(int ok, const char *file, int line, const char *format, ...) {
    if (ok) {
        passed++;
        return 1;
    }
    failed++;
    va_list args;
    va_start(args, format);
    fflush(stdout);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, format, args);
    fprintf(stderr, "\n");
    va_end(args);
    return 0;
}
#define CHECK(condition, ...) check((condition) != 0, __FILE__, __LINE__, __VA_ARGS__)

/* the closing line that test runners read, and the exit status */
static int summary(void) {
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}

#endif
