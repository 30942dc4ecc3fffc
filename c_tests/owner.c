#include "owner.h"
#include <string.h>
#include <sched.h>

static void rec_notify(ponynet_owner_t* base, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  rec_owner_t* o = (rec_owner_t*)base;
  pthread_mutex_lock(&o->lock);
  if (o->in_notify++ > 0) o->overlapped = true;
  pthread_mutex_unlock(&o->lock);
  sched_yield(); /* widen the window in which an overlapping call would show */
  if (o->hook) o->hook(o, ev, flags, arg);
  pthread_mutex_lock(&o->lock);
  if (o->count < REC_MAX) {
    o->notes[o->count].ev = ev;
    o->notes[o->count].flags = flags;
    o->notes[o->count].arg = arg;
  }
  o->count++;
  o->in_notify--;
  pthread_mutex_unlock(&o->lock);
}

void rec_init(rec_owner_t* o) {
  memset(o, 0, sizeof *o);
  o->base.notify = rec_notify;
  pthread_mutex_init(&o->lock, NULL);
}

void rec_fini(rec_owner_t* o) { pthread_mutex_destroy(&o->lock); }

int rec_count(rec_owner_t* o, pony_asio_event_t* ev, uint32_t mask) {
  pthread_mutex_lock(&o->lock);
  int n = 0, kept = o->count < REC_MAX ? o->count : REC_MAX;
  for (int i = 0; i < kept; i++) {
    rec_note_t* r = &o->notes[i];
    if (ev != NULL && r->ev != ev) continue;
    if (mask == 0 ? r->flags == ASIO_DISPOSABLE : (r->flags & mask) == mask) n++;
  }
  pthread_mutex_unlock(&o->lock);
  return n;
}

int rec_total(rec_owner_t* o) {
  pthread_mutex_lock(&o->lock);
  int n = o->count;
  pthread_mutex_unlock(&o->lock);
  return n;
}

rec_note_t rec_note(rec_owner_t* o, int i) {
  rec_note_t r = {NULL, 0, 0};
  pthread_mutex_lock(&o->lock);
  if (i >= 0 && i < o->count && i < REC_MAX) r = o->notes[i];
  pthread_mutex_unlock(&o->lock);
  return r;
}

uint64_t rec_arg_sum(rec_owner_t* o, pony_asio_event_t* ev, uint32_t mask) {
  pthread_mutex_lock(&o->lock);
  uint64_t sum = 0;
  int kept = o->count < REC_MAX ? o->count : REC_MAX;
  for (int i = 0; i < kept; i++)
    if ((ev == NULL || o->notes[i].ev == ev) && (o->notes[i].flags & mask) == mask) sum += o->notes[i].arg;
  pthread_mutex_unlock(&o->lock);
  return sum;
}
