#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "harness.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int passed, failed;
static bool current_failed;
static const char* current_name = "(none)";

static void on_alarm(int sig) {
  (void)sig;
  static const char msg[] = "TIMEOUT: test did not finish in time: ";
  ssize_t rc = write(2, msg, sizeof msg - 1);
  rc = write(2, current_name, strlen(current_name));
  rc = write(2, "\n", 1);
  (void)rc;
  _exit(124);
}

static unsigned test_seconds(void) {
  const char* s = getenv("HARNESS_TEST_SECONDS");
  unsigned v = s ? (unsigned)strtoul(s, NULL, 10) : 0;
  return v ? v : 20;
}

void harness_run(const char* name, void (*fn)(void)) {
  current_name = name;
  current_failed = false;
  signal(SIGALRM, on_alarm);
  alarm(test_seconds());
  fn();
  alarm(0);
  if (current_failed) {
    failed++;
    printf("FAIL %s\n", name);
  } else {
    passed++;
    printf("ok   %s\n", name);
  }
  fflush(stdout);
}

bool harness_check(bool ok, const char* what, const char* file, int line) {
  if (!ok) {
    current_failed = true;
    printf("  check failed: %s (%s:%d)\n", what, file, line);
  }
  return ok;
}

bool harness_check_int(long long a, long long b, const char* what, const char* file, int line) {
  if (a != b) {
    current_failed = true;
    printf("  check failed: %s: %lld != %lld (%s:%d)\n", what, a, b, file, line);
  }
  return a == b;
}

int harness_summary(void) {
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

uint64_t harness_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void harness_pause(void) {
  struct timespec ts = {0, 200000};
  nanosleep(&ts, NULL);
}

int harness_open_fds(void) {
  DIR* d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n - 1; /* the directory's own fd */
}
