/* Stand-in for librdkafka's internal src/rd.h, which rdkafka_performance.c includes but
 * Debian's librdkafka-dev does not ship. Only what the example uses: rd_ts_t, rd_clock(),
 * rd_snprintf, RD_MIN/RD_MAX. run.sh copies this to <cache>/src/rd.h. */
#ifndef RIFFLE_BENCH_RD_SHIM_H
#define RIFFLE_BENCH_RD_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int64_t rd_ts_t;
#define rd_snprintf snprintf
#define RD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RD_MIN(a, b) ((a) < (b) ? (a) : (b))

/* Monotonic clock in microseconds, as librdkafka's rd_clock(). */
static inline rd_ts_t rd_clock(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ((rd_ts_t)ts.tv_sec * 1000000) + ((rd_ts_t)ts.tv_nsec / 1000);
}
#endif
