/* A stand-in for libponyrt, as far as libponynet sees it (PONY_MODE.md):
 * actors whose first word is a type descriptor with the _event_notify id at
 * offset 88, mailboxes that pony_sendv pushes to, pony_error that throws a
 * C++ exception (a foreign exception to Rust, as Pony's is), and counters for
 * every hook. The functions are exported from the test executable
 * (-rdynamic), where libponynet's weak imports find them. */
#ifndef PONYNET_FAKE_RUNTIME_H
#define PONYNET_FAKE_RUNTIME_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

struct fake_type {
  unsigned char before[88];
  uint32_t event_notify; /* offset 88 */
  uint32_t after;
};
static_assert(offsetof(fake_type, event_notify) == 88, "pony_type_t layout");

struct fake_msg {
  uint32_t index;
  uint32_t id;
  void* next;
  void* event; /* offset 16 */
  uint32_t flags; /* offset 24 */
  uint32_t arg;   /* offset 28 */
};
static_assert(sizeof(fake_msg) == 32 && offsetof(fake_msg, event) == 16 && offsetof(fake_msg, flags) == 24 &&
                  offsetof(fake_msg, arg) == 28,
              "asio message layout");

struct fake_actor {
  const fake_type* type; /* first word, as in pony_actor_t */
  std::mutex lock;
  std::vector<fake_msg> mailbox;
  size_t count(uint32_t flags_mask, bool exact = false);
  size_t disposables();
  fake_msg at(size_t i);
  size_t size();
};

/* Thrown by pony_error. */
struct pony_error_exception {};

struct fake_counters {
  std::atomic<int> gc_send{0}, traceknown{0}, send_done{0}, gc_recv{0}, traceunknown{0}, recv_done{0};
  std::atomic<int> noisy{0}, unnoisy{0}, wakeups{0}, registered{0}, unregistered{0}, errors{0};
  std::atomic<int> unregistered_ctx_calls{0}, bad_trace_mode{0};
  std::mutex alloc_lock;
  std::set<void*> allocations;
};

extern fake_counters fake;
bool fake_from_pony_alloc(const void* p);
/* Frees memory from pony_alloc (the GC's job in a real runtime). */
void fake_free(void* p);

#endif
