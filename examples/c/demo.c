/* A first look at libponynet through its header: a timer and a pipe watched
 * for READ, on the library's I/O thread. Prints what it saw and exits 0. */
#include "ponynet.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

typedef struct demo_owner {
  ponynet_owner_t base; /* first member: the library sees a ponynet_owner_t */
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int pipe_rd;
  int timers, reads, disposed;
} demo_owner;

static void on_notify(ponynet_owner_t* base, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  demo_owner* o = (demo_owner*)base;
  (void)arg;
  pthread_mutex_lock(&o->lock);
  if (flags & ASIO_TIMER) {
    printf("timer fired (interval %llu ns)\n", (unsigned long long)pony_asio_event_nsec(ev));
    o->timers++;
  }
  if (flags & ASIO_READ) {
    char buf[64];
    ssize_t n;
    while ((n = read(o->pipe_rd, buf, sizeof buf - 1)) > 0) {
      buf[n] = '\0';
      printf("pipe readable: \"%s\"\n", buf);
    }
    o->reads++;
  }
  if (flags == ASIO_DISPOSABLE) o->disposed++;
  pthread_cond_signal(&o->changed);
  pthread_mutex_unlock(&o->lock);
}

static int wait_for(demo_owner* o, int* counter, int value) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 5;
  int ok = 1;
  pthread_mutex_lock(&o->lock);
  while (*counter < value && ok) ok = pthread_cond_timedwait(&o->changed, &o->lock, &deadline) == 0;
  ok = *counter >= value;
  pthread_mutex_unlock(&o->lock);
  return ok;
}

int main(void) {
  printf("libponynet %s\n", ponynet_version());
  demo_owner o = {.base = {on_notify}, .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER};
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return 1;
  o.pipe_rd = p[0];

  pony_asio_event_t* timer = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 20 * 1000 * 1000, true);
  pony_asio_event_t* reader = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, true);
  printf("noisy subscriptions: %llu\n", (unsigned long long)ponynet_asio_noisy_count());

  if (write(p[1], "hello, pipe", 11) != 11) return 1;
  int ok = wait_for(&o, &o.reads, 1) && wait_for(&o, &o.timers, 1);

  pony_asio_event_unsubscribe(timer);
  pony_asio_event_unsubscribe(reader);
  ok = ok && wait_for(&o, &o.disposed, 2);
  pony_asio_event_destroy(timer);
  pony_asio_event_destroy(reader);
  close(p[0]);
  close(p[1]);
  printf("noisy subscriptions: %llu; I/O thread stopped: %s\n",
         (unsigned long long)ponynet_asio_noisy_count(), ponynet_asio_stop() ? "yes" : "no");
  printf("%s\n", ok ? "demo: ok" : "demo: FAILED");
  return ok ? 0 : 1;
}
