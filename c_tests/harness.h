/* A tiny test framework for the C harness: plain C11, no dependencies.
 *
 *   TEST(name) { CHECK(x == 1); CHECK_EQ_INT(a, b); ... }
 *   int main(void) { RUN(name); ...; return harness_summary(); }
 *
 * Every test runs under an alarm (HARNESS_TEST_SECONDS, default 20): a hang
 * fails the whole program with the test's name instead of blocking CI.
 * WAIT_UNTIL(cond, ms) waits for a condition with a deadline and yields its
 * truth, so a test can assert on it. The summary line is "N passed, M failed".
 */
#ifndef PONYNET_HARNESS_H
#define PONYNET_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define TEST(name) static void name(void)
#define RUN(name) harness_run(#name, name)

#define CHECK(cond) harness_check((cond), #cond, __FILE__, __LINE__)
#define CHECK_EQ_INT(a, b) harness_check_int((long long)(a), (long long)(b), #a " == " #b, __FILE__, __LINE__)

/* Waits until `cond` holds or `ms` milliseconds pass; evaluates to the final truth of `cond`. */
#define WAIT_UNTIL(cond, ms) \
  __extension__({ uint64_t harness_deadline_ = harness_now_ms() + (uint64_t)(ms); \
     bool harness_ok_; \
     while (!(harness_ok_ = (cond)) && harness_now_ms() < harness_deadline_) harness_pause(); \
     harness_ok_; })

#ifdef __cplusplus
extern "C" {
#endif

void harness_run(const char* name, void (*fn)(void));
bool harness_check(bool ok, const char* what, const char* file, int line);
bool harness_check_int(long long a, long long b, const char* what, const char* file, int line);
int harness_summary(void);
uint64_t harness_now_ms(void);
/* Lets other threads run while WAIT_UNTIL polls (about 200 µs). */
void harness_pause(void);
/* Open file descriptors of this process (entries of /proc/self/fd). */
int harness_open_fds(void);

#ifdef __cplusplus
}
#endif

#endif
