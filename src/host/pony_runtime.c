/* Weak imports of the Pony runtime (PONY_MODE.md §4).
 *
 * These functions exist only inside a Pony executable. libponynet.so is
 * linked with immediate binding, so strong undefined references would stop
 * every plain C program from loading it; declared weak, they resolve to NULL
 * there. Stable Rust cannot declare weak symbols, hence this file: it hands
 * Rust a table of the addresses, NULL where absent. Nothing here is exported
 * (the cdylib's version script keeps it local). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEAK __attribute__((weak))

WEAK void* pony_ctx(void);
WEAK void* pony_alloc(void* ctx, size_t size);
WEAK void* pony_alloc_msg(uint32_t index, uint32_t id);
WEAK void pony_sendv(void* ctx, void* to, void* first, void* last, bool has_app_msg);
WEAK void pony_error(void);
WEAK void pony_register_thread(void);
WEAK void pony_unregister_thread(void);
WEAK void pony_gc_send(void* ctx);
WEAK void pony_traceknown(void* ctx, void* p, const void* type, int mode);
WEAK void pony_send_done(void* ctx);
WEAK void pony_gc_recv(void* ctx);
WEAK void pony_traceunknown(void* ctx, void* p, int mode);
WEAK void pony_recv_done(void* ctx);
WEAK void ponyint_sched_noisy_asio(int32_t from);
WEAK void ponyint_sched_unnoisy_asio(int32_t from);
WEAK void ponyint_sched_maybe_wakeup_if_all_asleep(int32_t current_scheduler_id);
WEAK void ponyint_cpu_affinity(uint32_t cpu);

/* Field order is mirrored by `PonyRuntime` in src/host/pony.rs. */
struct ponynet_pony_runtime {
  void* (*ctx)(void);
  void* (*alloc)(void*, size_t);
  void* (*alloc_msg)(uint32_t, uint32_t);
  void (*sendv)(void*, void*, void*, void*, bool);
  void (*error)(void);
  void (*register_thread)(void);
  void (*unregister_thread)(void);
  void (*gc_send)(void*);
  void (*traceknown)(void*, void*, const void*, int);
  void (*send_done)(void*);
  void (*gc_recv)(void*);
  void (*traceunknown)(void*, void*, int);
  void (*recv_done)(void*);
  void (*sched_noisy)(int32_t);
  void (*sched_unnoisy)(int32_t);
  void (*sched_wakeup)(int32_t);
  void (*cpu_affinity)(uint32_t); /* optional */
};

void ponynet_pony_runtime_table(struct ponynet_pony_runtime* out) {
  out->ctx = pony_ctx;
  out->alloc = pony_alloc;
  out->alloc_msg = pony_alloc_msg;
  out->sendv = pony_sendv;
  out->error = pony_error;
  out->register_thread = pony_register_thread;
  out->unregister_thread = pony_unregister_thread;
  out->gc_send = pony_gc_send;
  out->traceknown = pony_traceknown;
  out->send_done = pony_send_done;
  out->gc_recv = pony_gc_recv;
  out->traceunknown = pony_traceunknown;
  out->recv_done = pony_recv_done;
  out->sched_noisy = ponyint_sched_noisy_asio;
  out->sched_unnoisy = ponyint_sched_unnoisy_asio;
  out->sched_wakeup = ponyint_sched_maybe_wakeup_if_all_asleep;
  out->cpu_affinity = ponyint_cpu_affinity;
}
