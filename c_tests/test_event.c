/* The event ABI (ABI.md §2, §6) through the header only. */
#include "harness.h"
#include "owner.h"
#include "ponynet.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000
#define MARKER 0x4000u /* a flag no real notification carries: a barrier */

static void write_byte(int fd) {
  char c = 'x';
  ssize_t rc = write(fd, &c, 1);
  CHECK(rc == 1);
}

static void drain(int fd) {
  char buf[256];
  while (read(fd, buf, sizeof buf) > 0) {
  }
}

/* Sends a marker through the event and waits for it: every notification
 * that was due before it has been delivered once this returns true. */
static bool barrier(rec_owner_t* o, pony_asio_event_t* ev) {
  int before = rec_count(o, ev, MARKER);
  pony_asio_event_send(ev, MARKER, 0);
  return WAIT_UNTIL(rec_count(o, ev, MARKER) > before, WAIT_MS);
}

/* Unsubscribes, waits for the final notification, destroys. */
static void dispose(rec_owner_t* o, pony_asio_event_t* ev) {
  pony_asio_event_unsubscribe(ev);
  CHECK(WAIT_UNTIL(rec_count(o, ev, 0) == 1, WAIT_MS));
  pony_asio_event_destroy(ev);
}

static void make_pipe(int p[2]) {
  int rc = pipe2(p, O_NONBLOCK | O_CLOEXEC);
  CHECK(rc == 0);
}

TEST(null_arguments_return_neutral_values) {
  rec_owner_t o;
  rec_init(&o);
  CHECK(pony_asio_event_create(NULL, 0, ASIO_READ, 0, false) == NULL);
  CHECK(pony_asio_event_create(&o.base, 0, ASIO_DISPOSABLE, 0, false) == NULL);
  CHECK(pony_asio_event_create(&o.base, 0, ASIO_DESTROYED, 0, false) == NULL);
  ponynet_owner_t silent = {NULL};
  CHECK(pony_asio_event_create(&silent, 0, ASIO_READ, 0, false) == NULL);
  pony_asio_event_subscribe(NULL);
  pony_asio_event_unsubscribe(NULL);
  pony_asio_event_destroy(NULL);
  pony_asio_event_resubscribe(NULL);
  pony_asio_event_resubscribe_read(NULL);
  pony_asio_event_resubscribe_write(NULL);
  pony_asio_event_set_readable(NULL, true);
  pony_asio_event_set_writeable(NULL, true);
  pony_asio_event_setnsec(NULL, 5);
  pony_asio_event_send(NULL, ASIO_READ, 0);
  CHECK(!pony_asio_event_get_readable(NULL));
  CHECK(!pony_asio_event_get_writeable(NULL));
  CHECK(!pony_asio_event_get_disposable(NULL));
  CHECK_EQ_INT(pony_asio_event_fd(NULL), -1);
  CHECK_EQ_INT(pony_asio_event_nsec(NULL), 0);
  CHECK_EQ_INT(rec_total(&o), 0);
  rec_fini(&o);
}

/* libponynet imports the Pony runtime's functions weakly: a plain C program,
 * which has none of them, loads it and gets C-mode delivery. */
TEST(a_plain_c_program_needs_no_pony_runtime) {
  CHECK(dlsym(RTLD_DEFAULT, "pony_ctx") == NULL);
  CHECK(dlsym(RTLD_DEFAULT, "pony_sendv") == NULL);
  CHECK(dlsym(RTLD_DEFAULT, "ponyint_asio_init") != NULL); /* the hooks are exported */
  CHECK(ponyint_asio_stoppable() == (ponynet_asio_noisy_count() == 0));
  rec_owner_t o;
  rec_init(&o);
  pony_asio_event_t* t = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 1000, false);
  CHECK(WAIT_UNTIL(rec_count(&o, t, ASIO_TIMER) == 1, WAIT_MS)); /* owner->notify was called */
  pony_asio_event_unsubscribe(t);
  CHECK(WAIT_UNTIL(rec_count(&o, t, 0) == 1, WAIT_MS));
  pony_asio_event_destroy(t);
  rec_fini(&o);
}

TEST(version_is_the_crate_version) {
  const char* v = ponynet_version();
  CHECK(v != NULL && strchr(v, '.') != NULL);
}

TEST(edge_triggered_read_notifies_each_change) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, false);
  CHECK(ev != NULL);
  CHECK_EQ_INT(pony_asio_event_fd(ev), p[0]);
  write_byte(p[1]);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 1, WAIT_MS));
  CHECK(pony_asio_event_get_readable(ev));
  write_byte(p[1]); /* new data is a new edge, even unread */
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 2, WAIT_MS));
  dispose(&o, ev);
  CHECK(fcntl(p[0], F_GETFD) != -1); /* the caller's fd stays open */
  CHECK(!o.overlapped);
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

TEST(oneshot_reports_once_until_flag_cleared) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, p[0], ASIO_READ | ASIO_ONESHOT, 0, false);
  write_byte(p[1]);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 1, WAIT_MS));
  write_byte(p[1]);
  CHECK(barrier(&o, ev));
  CHECK_EQ_INT(rec_count(&o, ev, ASIO_READ), 1); /* readable still true: no repeat */
  /* The owner's loop: read to would-block, clear the flag, resubscribe. */
  drain(p[0]);
  pony_asio_event_set_readable(ev, false);
  pony_asio_event_resubscribe_read(ev);
  write_byte(p[1]);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 2, WAIT_MS));
  dispose(&o, ev);
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

TEST(resubscribe_when_already_ready_notifies) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, p[0], ASIO_READ | ASIO_ONESHOT, 0, false);
  write_byte(p[1]);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 1, WAIT_MS));
  /* Data is still queued: clearing the flag and re-arming must not lose it. */
  pony_asio_event_set_readable(ev, false);
  pony_asio_event_resubscribe(ev);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 2, WAIT_MS));
  /* Re-arming twice yields one notification. */
  pony_asio_event_set_readable(ev, false);
  pony_asio_event_resubscribe(ev);
  pony_asio_event_resubscribe(ev);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 3, WAIT_MS));
  CHECK(barrier(&o, ev));
  CHECK_EQ_INT(rec_count(&o, ev, ASIO_READ), 3);
  /* Edge-triggered events get the fresh edge too (epoll takes one
   * registration per fd: a second event needs its own descriptor). */
  int again = dup(p[0]);
  pony_asio_event_t* et = pony_asio_event_create(&o.base, again, ASIO_READ, 0, false);
  CHECK(WAIT_UNTIL(rec_count(&o, et, ASIO_READ) == 1, WAIT_MS));
  dispose(&o, ev);
  pony_asio_event_set_readable(et, false);
  pony_asio_event_resubscribe_read(et);
  CHECK(WAIT_UNTIL(rec_count(&o, et, ASIO_READ) == 2, WAIT_MS));
  dispose(&o, et);
  close(again);
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

TEST(read_and_write_ready_come_as_one_notification) {
  rec_owner_t o;
  rec_init(&o);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  write_byte(sv[1]);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, sv[0], ASIO_READ | ASIO_WRITE | ASIO_ONESHOT, 0, false);
  CHECK(WAIT_UNTIL(rec_total(&o) >= 1, WAIT_MS));
  rec_note_t first = rec_note(&o, 0);
  CHECK_EQ_INT(first.flags, ASIO_READ | ASIO_WRITE);
  CHECK(pony_asio_event_get_readable(ev) && pony_asio_event_get_writeable(ev));
  dispose(&o, ev);
  close(sv[0]);
  close(sv[1]);
  rec_fini(&o);
}

TEST(unsubscribe_delivers_one_disposable_last) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, false);
  for (uint32_t i = 1; i <= 50; i++) pony_asio_event_send(ev, ASIO_READ, i);
  pony_asio_event_unsubscribe(ev);
  pony_asio_event_unsubscribe(ev); /* no-op */
  CHECK(pony_asio_event_get_disposable(ev));
  pony_asio_event_send(ev, ASIO_READ, 99); /* dropped: already disposable */
  pony_asio_event_set_readable(ev, true);  /* silent no-op */
  CHECK(!pony_asio_event_get_readable(ev));
  pony_asio_event_resubscribe(ev);         /* silent no-op */
  CHECK(WAIT_UNTIL(rec_count(&o, ev, 0) == 1, WAIT_MS));
  int total = rec_total(&o);
  CHECK_EQ_INT(total, 51);
  CHECK_EQ_INT(rec_note(&o, total - 1).flags, ASIO_DISPOSABLE);
  for (int i = 0; i < 50; i++) CHECK_EQ_INT(rec_note(&o, i).arg, i + 1);
  pony_asio_event_destroy(ev);
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

TEST(destroy_is_refused_unless_disposable) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, false);
  pony_asio_event_destroy(ev); /* refused: still subscribed */
  write_byte(p[1]);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 1, WAIT_MS)); /* still alive */
  int foreign = 42;
  pony_asio_event_destroy((pony_asio_event_t*)&foreign); /* refused, untouched */
  CHECK_EQ_INT(foreign, 42);
  dispose(&o, ev);
  pony_asio_event_destroy(ev); /* second destroy: refused, no corruption */
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

TEST(destroy_before_disposable_delivered_still_delivers_it) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  for (int round = 0; round < 200; round++) {
    pony_asio_event_t* ev = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, false);
    pony_asio_event_unsubscribe(ev);
    pony_asio_event_destroy(ev); /* legal: freed after the final notification */
    CHECK(WAIT_UNTIL(rec_count(&o, NULL, 0) == round + 1, WAIT_MS));
  }
  CHECK_EQ_INT(rec_total(&o), 200);
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

static void destroy_in_notify(rec_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)o;
  (void)arg;
  if (flags == ASIO_READ) pony_asio_event_unsubscribe(ev);
  if (flags == ASIO_DISPOSABLE) pony_asio_event_destroy(ev);
}

TEST(unsubscribe_and_destroy_from_inside_notifications) {
  rec_owner_t o;
  rec_init(&o);
  o.hook = destroy_in_notify;
  int p[2];
  make_pipe(p);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, false);
  write_byte(p[1]);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, 0) == 1, WAIT_MS));
  CHECK_EQ_INT(rec_count(&o, ev, ASIO_READ), 1);
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

TEST(error_when_the_os_refuses_the_subscription) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  /* A closed fd number far above the lowest free one: nothing opened
   * meanwhile (the I/O thread's own fds on a restart) can take it. */
  int closed_fd = fcntl(p[0], F_DUPFD_CLOEXEC, 900);
  CHECK(closed_fd >= 900);
  close(closed_fd);
  close(p[0]);
  close(p[1]);
  pony_asio_event_t* bad = pony_asio_event_create(&o.base, closed_fd, ASIO_READ, 0, false);
  CHECK(bad != NULL);
  CHECK(WAIT_UNTIL(rec_count(&o, bad, ASIO_ERROR) == 1, WAIT_MS));
  CHECK_EQ_INT(rec_note(&o, 0).arg, EBADF);
  dispose(&o, bad);

  char path[] = "/tmp/ponynet-regular-XXXXXX";
  int file = mkstemp(path);
  CHECK(file >= 0);
  unlink(path);
  pony_asio_event_t* reg = pony_asio_event_create(&o.base, file, ASIO_READ, 0, false);
  CHECK(WAIT_UNTIL(rec_count(&o, reg, ASIO_ERROR) == 1, WAIT_MS));
  dispose(&o, reg);
  close(file);
  rec_fini(&o);
}

static void rearm_timer(rec_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  if ((flags & ASIO_TIMER) && rec_count(o, ev, ASIO_TIMER) < 4) pony_asio_event_setnsec(ev, 1000000);
}

TEST(timer_fires_once_and_rearms_from_its_notification) {
  rec_owner_t o;
  rec_init(&o);
  pony_asio_event_t* once = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 2000000, false);
  CHECK(once != NULL);
  CHECK_EQ_INT(pony_asio_event_nsec(once), 2000000);
  int tfd = pony_asio_event_fd(once);
  CHECK(tfd >= 0);
  CHECK(fcntl(tfd, F_GETFD) & FD_CLOEXEC);
  CHECK(WAIT_UNTIL(rec_count(&o, once, ASIO_TIMER) == 1, WAIT_MS));
  CHECK(barrier(&o, once));
  CHECK_EQ_INT(rec_count(&o, once, ASIO_TIMER), 1); /* once, not periodic */
  pony_asio_event_setnsec(once, 1000);
  CHECK(WAIT_UNTIL(rec_count(&o, once, ASIO_TIMER) == 2, WAIT_MS));
  CHECK_EQ_INT(pony_asio_event_nsec(once), 1000);
  pony_asio_event_unsubscribe(once);
  CHECK_EQ_INT(pony_asio_event_fd(once), -1);
  CHECK(fcntl(tfd, F_GETFD) == -1 && errno == EBADF); /* the library closed its fd */
  CHECK(WAIT_UNTIL(rec_count(&o, once, 0) == 1, WAIT_MS));
  pony_asio_event_destroy(once);

  rec_owner_t r;
  rec_init(&r);
  r.hook = rearm_timer;
  pony_asio_event_t* again = pony_asio_event_create(&r.base, -1, ASIO_TIMER, 0, false);
  CHECK(WAIT_UNTIL(rec_count(&r, again, ASIO_TIMER) == 4, WAIT_MS));
  dispose(&r, again);
  rec_fini(&r);
  rec_fini(&o);
}

TEST(timer_unsubscribed_before_it_fires_never_fires) {
  rec_owner_t o;
  rec_init(&o);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 50000000, false);
  pony_asio_event_unsubscribe(ev);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, 0) == 1, WAIT_MS));
  pony_asio_event_t* later = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 100000000, false);
  CHECK(WAIT_UNTIL(rec_count(&o, later, ASIO_TIMER) == 1, WAIT_MS)); /* 50 ms after the first was due */
  CHECK_EQ_INT(rec_count(&o, ev, ASIO_TIMER), 0);
  dispose(&o, later);
  rec_fini(&o);
}

TEST(two_signal_subscribers_each_get_the_count) {
  rec_owner_t a, b;
  rec_init(&a);
  rec_init(&b);
  int sig = SIGRTMIN + 3;
  struct sigaction ign, now;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(sig, &ign, NULL); /* the disposition to restore at the end */
  pony_asio_event_t* ea = pony_asio_event_create(&a.base, -1, ASIO_SIGNAL, (uint64_t)sig, false);
  pony_asio_event_t* eb = pony_asio_event_create(&b.base, -1, ASIO_SIGNAL, (uint64_t)sig, false);
  CHECK(ea != NULL && eb != NULL);
  CHECK(pony_asio_event_fd(ea) >= 0 && pony_asio_event_fd(ea) != pony_asio_event_fd(eb));
  CHECK(fcntl(pony_asio_event_fd(ea), F_GETFD) & FD_CLOEXEC);
  sigaction(sig, NULL, &now);
  CHECK(now.sa_handler != SIG_IGN && now.sa_handler != SIG_DFL);
  raise(sig);
  raise(sig);
  raise(sig);
  CHECK(WAIT_UNTIL(rec_arg_sum(&a, ea, ASIO_SIGNAL) == 3, WAIT_MS));
  CHECK(WAIT_UNTIL(rec_arg_sum(&b, eb, ASIO_SIGNAL) == 3, WAIT_MS));
  dispose(&a, ea);
  raise(sig); /* b still watches */
  CHECK(WAIT_UNTIL(rec_arg_sum(&b, eb, ASIO_SIGNAL) == 4, WAIT_MS));
  sigaction(sig, NULL, &now);
  CHECK(now.sa_handler != SIG_IGN); /* still installed for b */
  dispose(&b, eb);
  sigaction(sig, NULL, &now);
  CHECK(now.sa_handler == SIG_IGN); /* the previous disposition is back */
  CHECK_EQ_INT(rec_arg_sum(&a, ea, ASIO_SIGNAL), 3);
  signal(sig, SIG_DFL);
  rec_fini(&a);
  rec_fini(&b);
}

TEST(signal_number_out_of_range_is_an_error) {
  rec_owner_t o;
  rec_init(&o);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, -1, ASIO_SIGNAL, 1000, false);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_ERROR) == 1, WAIT_MS));
  pony_asio_event_t* kill = pony_asio_event_create(&o.base, -1, ASIO_SIGNAL, SIGKILL, false);
  CHECK(WAIT_UNTIL(rec_count(&o, kill, ASIO_ERROR) == 1, WAIT_MS));
  dispose(&o, ev);
  dispose(&o, kill);
  rec_fini(&o);
}

TEST(noisy_count_follows_create_and_unsubscribe) {
  rec_owner_t o;
  rec_init(&o);
  uint64_t base = ponynet_asio_noisy_count();
  int p[2];
  make_pipe(p);
  pony_asio_event_t* loud = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, true);
  pony_asio_event_t* quiet = pony_asio_event_create(&o.base, p[1], ASIO_WRITE, 0, false);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), base + 1);
  pony_asio_event_subscribe(loud); /* re-subscribing does not count twice */
  CHECK_EQ_INT(ponynet_asio_noisy_count(), base + 1);
  CHECK(!ponynet_asio_stop()); /* noisy: refused */
  pony_asio_event_unsubscribe(loud);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), base);
  pony_asio_event_unsubscribe(loud);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), base);
  CHECK(WAIT_UNTIL(rec_count(&o, loud, 0) == 1, WAIT_MS));
  pony_asio_event_destroy(loud);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), base);
  dispose(&o, quiet);
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

TEST(stop_delivers_what_is_due_then_restarts_on_demand) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  pony_asio_event_t* quiet = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, false);
  pony_asio_event_t* gone = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 1000000000, true);
  pony_asio_event_unsubscribe(gone);
  CHECK(ponynet_asio_stop());
  CHECK_EQ_INT(rec_count(&o, gone, 0), 1); /* the due DISPOSABLE came before the stop */
  pony_asio_event_destroy(gone);
  CHECK(ponynet_asio_stop()); /* already stopped */
  /* A new event restarts the thread; the quiet event is served again. */
  write_byte(p[1]);
  rec_owner_t t;
  rec_init(&t);
  pony_asio_event_t* timer = pony_asio_event_create(&t.base, -1, ASIO_TIMER, 1000, false);
  CHECK(WAIT_UNTIL(rec_count(&t, timer, ASIO_TIMER) == 1, WAIT_MS));
  CHECK(WAIT_UNTIL(rec_count(&o, quiet, ASIO_READ) >= 1, WAIT_MS));
  dispose(&t, timer);
  dispose(&o, quiet);
  CHECK(ponynet_asio_stop());
  close(p[0]);
  close(p[1]);
  rec_fini(&t);
  rec_fini(&o);
}

static void* stop_repeatedly(void* arg) {
  (void)arg;
  for (int i = 0; i < 200; i++) ponynet_asio_stop();
  return NULL;
}

TEST(calls_racing_stop_neither_crash_nor_hang) {
  rec_owner_t o;
  rec_init(&o);
  pthread_t th;
  pthread_create(&th, NULL, stop_repeatedly, NULL);
  int noisy_timers = 0;
  for (int i = 0; i < 200; i++) {
    /* A noisy event keeps the thread (stop is refused while it lives); a
     * quiet one may legitimately wait for a restart, but its unsubscribe
     * restarts the thread to deliver the final notification. */
    bool noisy = i % 2 == 0;
    pony_asio_event_t* ev = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 1000, noisy);
    if (noisy) CHECK(WAIT_UNTIL(rec_count(&o, NULL, ASIO_TIMER) > noisy_timers, WAIT_MS));
    noisy_timers = rec_count(&o, NULL, ASIO_TIMER);
    pony_asio_event_unsubscribe(ev);
    CHECK(WAIT_UNTIL(rec_count(&o, NULL, 0) == i + 1, WAIT_MS));
    pony_asio_event_destroy(ev);
  }
  pthread_join(th, NULL);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  rec_fini(&o);
}

struct sender {
  pony_asio_event_t* ev;
  uint32_t tag;
};

static void* send_many(void* arg) {
  struct sender* s = arg;
  for (uint32_t i = 0; i < 3000; i++) pony_asio_event_send(s->ev, s->tag, i);
  return NULL;
}

TEST(notifications_of_one_event_are_ordered_and_never_concurrent) {
  rec_owner_t o;
  rec_init(&o);
  int p[2];
  make_pipe(p);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, p[0], ASIO_READ, 0, false);
  struct sender s1 = {ev, ASIO_WRITE}, s2 = {ev, ASIO_TIMER};
  pthread_t t1, t2;
  pthread_create(&t1, NULL, send_many, &s1);
  pthread_create(&t2, NULL, send_many, &s2);
  for (int i = 0; i < 200; i++) write_byte(p[1]); /* readiness interleaves */
  pthread_join(t1, NULL);
  pthread_join(t2, NULL);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_WRITE) == 3000 && rec_count(&o, ev, ASIO_TIMER) == 3000, WAIT_MS));
  CHECK(!o.overlapped);
  uint32_t next_w = 0, next_t = 0;
  bool ordered = true;
  for (int i = 0; i < rec_total(&o) && i < REC_MAX; i++) {
    rec_note_t n = rec_note(&o, i);
    if (n.flags == ASIO_WRITE) ordered &= n.arg == next_w++;
    if (n.flags == ASIO_TIMER) ordered &= n.arg == next_t++;
  }
  CHECK(ordered);
  dispose(&o, ev);
  close(p[0]);
  close(p[1]);
  rec_fini(&o);
}

TEST(a_thousand_pipes_at_once) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  struct rlimit saved = rl;
  if (rl.rlim_cur < 2200 && rl.rlim_max >= 2200) {
    rl.rlim_cur = 2200;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  enum { N = 1000 };
  static int fds[N][2];
  static pony_asio_event_t* evs[N];
  rec_owner_t* o = malloc(sizeof *o);
  rec_init(o);
  int fds_before = harness_open_fds();
  for (int i = 0; i < N; i++) {
    make_pipe(fds[i]);
    evs[i] = pony_asio_event_create(&o->base, fds[i][0], ASIO_READ | ASIO_ONESHOT, 0, true);
  }
  CHECK_EQ_INT(ponynet_asio_noisy_count(), N);
  for (int i = 0; i < N; i++) write_byte(fds[i][1]);
  CHECK(WAIT_UNTIL(rec_count(o, NULL, ASIO_READ) == N, WAIT_MS));
  bool each_once = true;
  for (int i = 0; i < N; i++) each_once &= rec_count(o, evs[i], ASIO_READ) == 1;
  CHECK(each_once);
  for (int i = 0; i < N; i++) pony_asio_event_unsubscribe(evs[i]);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK(WAIT_UNTIL(rec_count(o, NULL, 0) == N, WAIT_MS));
  for (int i = 0; i < N; i++) {
    pony_asio_event_destroy(evs[i]);
    close(fds[i][0]);
    close(fds[i][1]);
  }
  CHECK_EQ_INT(harness_open_fds(), fds_before);
  rec_fini(o);
  free(o);
  setrlimit(RLIMIT_NOFILE, &saved);
}

TEST(write_interest_on_a_socket) {
  rec_owner_t o;
  rec_init(&o);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, sv[0], ASIO_WRITE | ASIO_ONESHOT, 0, false);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_WRITE) == 1, WAIT_MS));
  CHECK(pony_asio_event_get_writeable(ev));
  pony_asio_event_set_writeable(ev, false);
  CHECK(!pony_asio_event_get_writeable(ev));
  pony_asio_event_resubscribe_write(ev);
  CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_WRITE) == 2, WAIT_MS));
  dispose(&o, ev);
  close(sv[0]);
  close(sv[1]);
  rec_fini(&o);
}

/* The seed's loop: read to would-block, clear the flag, re-arm. A re-arm
 * after a read that would block costs no system call, so these check that no
 * wake-up is lost either way: data that came before the flag was cleared (an
 * edge the ONESHOT filter swallowed) and data that comes after the re-arm. */
TEST(rearm_after_would_block_loses_no_wakeup) {
  rec_owner_t o;
  rec_init(&o);
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, sv[0], ASIO_READ | ASIO_ONESHOT, 0, false);
  char buf[64];
  for (int round = 1; round <= 50; round++) {
    write_byte(sv[1]);
    CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 2 * round - 1, WAIT_MS));
    while (pony_os_recv(ev, buf, sizeof buf) > 0) {
    }
    CHECK_EQ_INT(ponynet_take_error(), 0);
    /* Data after the would-block but before the flag is cleared. */
    write_byte(sv[1]);
    CHECK(barrier(&o, ev)); /* its edge was seen (and swallowed: readable was true) */
    pony_asio_event_set_readable(ev, false);
    pony_asio_event_resubscribe_read(ev);
    CHECK(WAIT_UNTIL(rec_count(&o, ev, ASIO_READ) == 2 * round, WAIT_MS));
    while (pony_os_recv(ev, buf, sizeof buf) > 0) {
    }
    /* Nothing pending now: the re-arm is free, and the next byte still wakes us. */
    pony_asio_event_set_readable(ev, false);
    pony_asio_event_resubscribe_read(ev);
  }
  dispose(&o, ev);
  close(sv[0]);
  close(sv[1]);
  rec_fini(&o);
}

static int fds_at_start;
static bool open_at_start[1024];

TEST(stop_at_the_end_leaves_no_fd_but_the_pollers) {
  CHECK(ponynet_asio_stop());
  /* The poller (epoll fd, its registry handle, the waker) lives as long as
   * the process; nothing else may stay open. */
  int extra = harness_open_fds() - fds_at_start;
  CHECK(extra >= 0 && extra <= 3);
  /* Every fd the library created (the poller's) is close-on-exec. */
  for (int fd = 3; fd < 1024; fd++) {
    if (open_at_start[fd]) continue; /* inherited from whoever started us */
    int fl = fcntl(fd, F_GETFD);
    if (fl != -1 && !CHECK(fl & FD_CLOEXEC)) {
      char path[64], target[256] = "";
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      ssize_t n = readlink(path, target, sizeof target - 1);
      if (n > 0) target[n] = 0;
      printf("  fd %d (%s) is not close-on-exec\n", fd, target);
    }
  }
}

int main(void) {
  fds_at_start = harness_open_fds();
  for (int fd = 0; fd < 1024; fd++) open_at_start[fd] = fcntl(fd, F_GETFD) != -1;
  RUN(null_arguments_return_neutral_values);
  RUN(version_is_the_crate_version);
  RUN(a_plain_c_program_needs_no_pony_runtime);
  RUN(edge_triggered_read_notifies_each_change);
  RUN(oneshot_reports_once_until_flag_cleared);
  RUN(resubscribe_when_already_ready_notifies);
  RUN(read_and_write_ready_come_as_one_notification);
  RUN(unsubscribe_delivers_one_disposable_last);
  RUN(destroy_is_refused_unless_disposable);
  RUN(destroy_before_disposable_delivered_still_delivers_it);
  RUN(unsubscribe_and_destroy_from_inside_notifications);
  RUN(error_when_the_os_refuses_the_subscription);
  RUN(timer_fires_once_and_rearms_from_its_notification);
  RUN(timer_unsubscribed_before_it_fires_never_fires);
  RUN(two_signal_subscribers_each_get_the_count);
  RUN(signal_number_out_of_range_is_an_error);
  RUN(noisy_count_follows_create_and_unsubscribe);
  RUN(stop_delivers_what_is_due_then_restarts_on_demand);
  RUN(calls_racing_stop_neither_crash_nor_hang);
  RUN(notifications_of_one_event_are_ordered_and_never_concurrent);
  RUN(a_thousand_pipes_at_once);
  RUN(write_interest_on_a_socket);
  RUN(rearm_after_would_block_loses_no_wakeup);
  RUN(stop_at_the_end_leaves_no_fd_but_the_pollers);
  return harness_summary();
}
