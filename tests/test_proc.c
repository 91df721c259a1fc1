/*
** Process identity for run locks: a live process has a start time that a
** later process with the same pid would not; an ended one (reaped or a
** zombie) has none.
*/
#include "proc.h"

#include "test.h"

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_alive_and_ended(void) {
    long long self = (long long)getpid(), start = proc_start_time(self);
    CHECK(start > 0);
    CHECK(proc_alive(self, start));
    CHECK(!proc_alive(self, start + 1)); /* the pid, reused by another process */
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0);
    /* Until it is reaped the child is a zombie: ended all the same. */
    for (int i = 0; i < 1000 && proc_start_time(child) > 0; i++)
        usleep(1000);
    CHECK_EQ_INT((int)proc_start_time(child), 0);
    waitpid(child, NULL, 0);
    CHECK_EQ_INT((int)proc_start_time(child), 0);
    CHECK_EQ_INT((int)proc_start_time(-1), 0);
    char host[PROC_HOST_LEN];
    proc_host(host);
    CHECK(host[0] != 0 && strlen(host) < PROC_HOST_LEN);
}

int main(void) {
    RUN(test_alive_and_ended);
    return TEST_SUMMARY();
}
