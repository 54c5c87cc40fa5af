/*
 * stamp: print "stamp NAME NANOSECONDS" (CLOCK_MONOTONIC) on stderr, then exec or exit.
 *
 *   stamp --exec PROGRAM ARGS...   stamp, then become PROGRAM (the launcher's start)
 *   dockerd ARGS...                stamp, then exit 0 (a link to this file, given to the
 *                                  launcher as DOCKER_BINARY: its exec is the end)
 *
 * Static, so that its own start costs microseconds and needs nothing from the image.
 * CLOCK_MONOTONIC is one clock for the whole machine (containers share it), so stamps
 * from the two ends subtract directly.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    const char *name = strrchr(argv[0], '/');
    name = name ? name + 1 : argv[0];
    dprintf(2, "stamp %s %lld\n", name, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    if (argc > 2 && strcmp(argv[1], "--exec") == 0) {
        execv(argv[2], argv + 2);
        dprintf(2, "stamp: cannot exec %s\n", argv[2]);
        return 127;
    }
    return 0;
}
