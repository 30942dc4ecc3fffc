#include "fake_runtime.h"

#include <cstdlib>
#include <cstring>

fake_counters fake;
static thread_local bool thread_registered = false;
static std::thread::id main_thread = std::this_thread::get_id();
static int the_ctx;

size_t fake_actor::count(uint32_t mask, bool exact) {
  std::lock_guard<std::mutex> g(lock);
  size_t n = 0;
  for (auto& m : mailbox) n += exact ? m.flags == mask : (m.flags & mask) == mask && mask != 0;
  return n;
}
size_t fake_actor::disposables() { return count(0, true); }
fake_msg fake_actor::at(size_t i) {
  std::lock_guard<std::mutex> g(lock);
  return i < mailbox.size() ? mailbox[i] : fake_msg{};
}
size_t fake_actor::size() {
  std::lock_guard<std::mutex> g(lock);
  return mailbox.size();
}

bool fake_from_pony_alloc(const void* p) {
  std::lock_guard<std::mutex> g(fake.alloc_lock);
  return fake.allocations.count(const_cast<void*>(p)) != 0;
}

void fake_free(void* p) {
  std::lock_guard<std::mutex> g(fake.alloc_lock);
  if (fake.allocations.erase(p)) std::free(p);
}

extern "C" {

void* pony_ctx(void) {
  /* The real pony_ctx crashes on a thread that is neither a scheduler nor
   * registered; here the main thread plays the scheduler. */
  if (!thread_registered && std::this_thread::get_id() != main_thread) fake.unregistered_ctx_calls++;
  return &the_ctx;
}

void* pony_alloc(void* ctx, size_t size) {
  (void)ctx;
  void* p = std::malloc(size);
  std::lock_guard<std::mutex> g(fake.alloc_lock);
  fake.allocations.insert(p);
  return p;
}

void* pony_alloc_msg(uint32_t index, uint32_t id) {
  fake_msg* m = static_cast<fake_msg*>(std::calloc(1, sizeof(fake_msg)));
  m->index = index;
  m->id = id;
  return m;
}

void pony_sendv(void* ctx, void* to, void* first, void* last, bool has_app_msg) {
  (void)ctx;
  (void)last;
  (void)has_app_msg;
  fake_actor* a = static_cast<fake_actor*>(to);
  fake_msg* m = static_cast<fake_msg*>(first);
  {
    std::lock_guard<std::mutex> g(a->lock);
    a->mailbox.push_back(*m);
  }
  std::free(m);
}

void pony_error(void) {
  fake.errors++;
  throw pony_error_exception{};
}

void pony_register_thread(void) {
  thread_registered = true;
  fake.registered++;
}
void pony_unregister_thread(void) {
  thread_registered = false;
  fake.unregistered++;
}
void pony_gc_send(void* ctx) { (void)ctx; fake.gc_send++; }
void pony_traceknown(void* ctx, void* p, const void* type, int mode) {
  (void)ctx;
  if (mode != 2 || static_cast<fake_actor*>(p)->type != type) fake.bad_trace_mode++;
  fake.traceknown++;
}
void pony_send_done(void* ctx) { (void)ctx; fake.send_done++; }
void pony_gc_recv(void* ctx) { (void)ctx; fake.gc_recv++; }
void pony_traceunknown(void* ctx, void* p, int mode) {
  (void)ctx;
  (void)p;
  if (mode != 2) fake.bad_trace_mode++;
  fake.traceunknown++;
}
void pony_recv_done(void* ctx) { (void)ctx; fake.recv_done++; }
void ponyint_sched_noisy_asio(int32_t from) { if (from == -12) fake.noisy++; }
void ponyint_sched_unnoisy_asio(int32_t from) { if (from == -12) fake.unnoisy++; }
void ponyint_sched_maybe_wakeup_if_all_asleep(int32_t current) { if (current == -1) fake.wakeups++; }
}
