/* A recording owner for the C tests: remembers every notification it gets
 * (event, flags, arg) and whether two ever overlapped. Thread-safe: the
 * library calls it on its I/O thread while the test reads it. An optional
 * hook runs inside the notification (to re-arm, unsubscribe, destroy...). */
#ifndef PONYNET_TEST_OWNER_H
#define PONYNET_TEST_OWNER_H

#include "ponynet.h"
#include <pthread.h>
#include <stdbool.h>

#define REC_MAX 8192

typedef struct rec_note_t {
  pony_asio_event_t* ev;
  uint32_t flags;
  uint32_t arg;
} rec_note_t;

typedef struct rec_owner_t rec_owner_t;
typedef void (*rec_hook_t)(rec_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg);

struct rec_owner_t {
  ponynet_owner_t base; /* first member: the library sees a ponynet_owner_t */
  pthread_mutex_t lock;
  rec_note_t notes[REC_MAX];
  int count;       /* notes recorded (at most REC_MAX kept) */
  int in_notify;   /* notifications running right now */
  bool overlapped; /* two notifications ever ran at once */
  rec_hook_t hook;
  void* user;
};

void rec_init(rec_owner_t* o);
void rec_fini(rec_owner_t* o);
/* Notifications for `ev` (NULL: any event) whose flags contain every bit of
 * `mask`; a mask of 0 counts only ASIO_DISPOSABLE notifications. */
int rec_count(rec_owner_t* o, pony_asio_event_t* ev, uint32_t mask);
/* Total notifications so far. */
int rec_total(rec_owner_t* o);
/* The i-th notification (0-based), copied out. */
rec_note_t rec_note(rec_owner_t* o, int i);
/* Sum of `arg` over notifications for `ev` containing `mask`. */
uint64_t rec_arg_sum(rec_owner_t* o, pony_asio_event_t* ev, uint32_t mask);

#endif
