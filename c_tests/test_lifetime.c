/* Event lifetimes across threads, the I/O thread's start and stop, and
 * defects a user must never meet: a final notification that frees an event
 * another thread is still unsubscribing, stops racing stops, a starved
 * listener that spins, a stale registration that reaches a freed event, a
 * fake final notification, fd numbers 0-2. Through the header only. */
#include "harness.h"
#include "owner.h"
#include "ponynet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <spawn.h>
#include <unistd.h>

#define WAIT_MS 5000
#define MARKER 0x4000u /* a flag no real notification carries: a barrier */

static bool barrier(rec_owner_t* o, pony_asio_event_t* ev) {
  int before = rec_count(o, ev, MARKER);
  pony_asio_event_send(ev, MARKER, 0);
  return WAIT_UNTIL(rec_count(o, ev, MARKER) > before, WAIT_MS);
}

static void dispose(rec_owner_t* o, pony_asio_event_t* ev) {
  pony_asio_event_unsubscribe(ev);
  CHECK(WAIT_UNTIL(rec_count(o, ev, 0) == 1, WAIT_MS));
  pony_asio_event_destroy(ev);
}

/* Threads of this process named "ponynet-io". */
static int io_threads(void) {
  DIR* d = opendir("/proc/self/task");
  if (d == NULL) return -1;
  int n = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[32] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE* f = fopen(path, "r");
    if (f == NULL) continue; /* the thread ended meanwhile */
    if (fgets(comm, sizeof comm, f) != NULL && strncmp(comm, "ponynet-io", 10) == 0) n++;
    fclose(f);
  }
  closedir(d);
  return n;
}

/* ---- 1. the final notification may free the event at once ------------- */

static void destroy_on_final(rec_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)o;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) pony_asio_event_destroy(ev);
}

/* README's pattern: one thread unsubscribes, the owner destroys the event in
 * its final notification on the I/O thread. Nothing may touch the event
 * after the final notification can run (valgrind and ASan see it if so). */
TEST(unsubscribe_elsewhere_while_the_final_notification_destroys) {
  rec_owner_t o;
  rec_init(&o);
  o.hook = destroy_on_final;
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  for (int i = 0; i < 200; i++) {
    pony_asio_event_t* ev = pony_asio_event_create(&o.base, sv[0], ASIO_READ, 0, i % 2 == 0);
    CHECK(ev != NULL);
    pony_asio_event_unsubscribe(ev);
    if (!CHECK(WAIT_UNTIL(rec_count(&o, NULL, 0) == i + 1, WAIT_MS))) break;
  }
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  close(sv[0]);
  close(sv[1]);
  rec_fini(&o);
}

/* ---- 2. start and stop of the I/O thread -------------------------------- */

static atomic_bool racing;
static atomic_int most_io_threads;

static void* stop_while_racing(void* arg) {
  (void)arg;
  while (atomic_load(&racing)) ponynet_asio_stop();
  return NULL;
}

/* Creates and unsubscribes quiet events; an owner with a hook destroys
 * them in their final notification, one without destroys them at once. */
static void* churn_quiet_events(void* arg) {
  rec_owner_t* o = arg;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return NULL;
  while (atomic_load(&racing)) {
    pony_asio_event_t* ev = pony_asio_event_create(&o->base, sv[0], ASIO_READ, 0, false);
    if (ev == NULL) continue;
    pony_asio_event_unsubscribe(ev);
    if (o->hook == NULL) pony_asio_event_destroy(ev); /* freed after its final notification */
  }
  close(sv[0]);
  close(sv[1]);
  return NULL;
}

static void* count_io_threads(void* arg) {
  (void)arg;
  while (atomic_load(&racing)) {
    int n = io_threads();
    if (n > atomic_load(&most_io_threads)) atomic_store(&most_io_threads, n);
  }
  return NULL;
}

/* Two threads stop in a loop while two others create and unsubscribe
 * quiet events: no call hangs (the harness alarm), never two I/O threads,
 * and every final notification arrives. */
TEST(stops_racing_stops_and_events_never_hang_nor_double_the_thread) {
  rec_owner_t a, b;
  rec_init(&a);
  rec_init(&b);
  a.hook = destroy_on_final;
  atomic_store(&racing, true);
  atomic_store(&most_io_threads, 0);
  pthread_t th[5];
  pthread_create(&th[0], NULL, stop_while_racing, NULL);
  pthread_create(&th[1], NULL, stop_while_racing, NULL);
  pthread_create(&th[2], NULL, churn_quiet_events, &a);
  pthread_create(&th[3], NULL, churn_quiet_events, &b);
  pthread_create(&th[4], NULL, count_io_threads, NULL);
  uint64_t end = harness_now_ms() + 3000;
  while (harness_now_ms() < end) harness_pause();
  atomic_store(&racing, false);
  for (int i = 0; i < 5; i++) pthread_join(th[i], NULL);
  CHECK(atomic_load(&most_io_threads) <= 1);
  CHECK(rec_total(&a) > 0 && rec_total(&b) > 0);
  /* Every event's final notification came (a restart delivers what waits). */
  rec_owner_t t;
  rec_init(&t);
  pony_asio_event_t* timer = pony_asio_event_create(&t.base, -1, ASIO_TIMER, 1000, false);
  CHECK(WAIT_UNTIL(rec_count(&t, timer, ASIO_TIMER) == 1, WAIT_MS));
  dispose(&t, timer);
  CHECK(ponynet_asio_stop());
  CHECK_EQ_INT(io_threads(), 0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  rec_fini(&t);
  rec_fini(&a);
  rec_fini(&b);
}

static pthread_barrier_t stop_gate;
static atomic_int stops_true, threads_after_true;

static void* stop_at_the_gate(void* arg) {
  (void)arg;
  pthread_barrier_wait(&stop_gate);
  if (ponynet_asio_stop()) {
    atomic_fetch_add(&stops_true, 1);
    /* True means stopped: no I/O thread is left at this moment. */
    atomic_fetch_add(&threads_after_true, io_threads());
  }
  return NULL;
}

/* Two stops at once: each answers whether the thread stopped, and once both
 * returned true no I/O thread is left. */
TEST(two_concurrent_stops_both_answer_truly) {
  rec_owner_t o;
  rec_init(&o);
  for (int round = 0; round < 50; round++) {
    pony_asio_event_t* timer = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 1000, false);
    CHECK(WAIT_UNTIL(rec_count(&o, timer, ASIO_TIMER) == 1, WAIT_MS));
    dispose(&o, timer);
    rec_init(&o); /* fresh counts; nothing of ours is subscribed */
    pthread_barrier_init(&stop_gate, NULL, 2);
    atomic_store(&stops_true, 0);
    atomic_store(&threads_after_true, 0);
    pthread_t th[2];
    pthread_create(&th[0], NULL, stop_at_the_gate, NULL);
    pthread_create(&th[1], NULL, stop_at_the_gate, NULL);
    pthread_join(th[0], NULL);
    pthread_join(th[1], NULL);
    pthread_barrier_destroy(&stop_gate);
    CHECK_EQ_INT(atomic_load(&stops_true), 2);
    if (!CHECK_EQ_INT(atomic_load(&threads_after_true), 0)) break;
  }
  rec_fini(&o);
}

/* ---- 3. a listener starved of fds does not spin ------------------------- */

#define CLIENTS 48

typedef struct {
  rec_owner_t rec; /* first: the library sees a ponynet_owner_t */
  pony_asio_event_t* lev;
  int accepted[CLIENTS];
  atomic_int naccepted, starved, accepts;
  atomic_bool paused;
} rearming_acceptor_t;

/* README's owner loop: accept until none is pending or a failure, then
 * clear readable and re-arm. */
static void rearming_accept(rec_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  rearming_acceptor_t* a = (rearming_acceptor_t*)o;
  if (!(flags & ASIO_READ) || atomic_load(&a->paused)) return; /* its only event: the listener */
  for (;;) {
    atomic_fetch_add(&a->accepts, 1);
    int fd = pony_os_accept(ev);
    if (fd > 0 && atomic_load(&a->naccepted) < CLIENTS) a->accepted[atomic_fetch_add(&a->naccepted, 1)] = fd;
    if (fd < 0 && errno == EMFILE) atomic_fetch_add(&a->starved, 1);
    if (fd <= 0) break;
  }
  pony_asio_event_set_readable(ev, false);
  pony_asio_event_resubscribe_read(ev);
}

static int lowest_free_fd(void) {
  int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
  close(fd);
  return fd;
}

static int port_of(int fd) {
  struct sockaddr_in in;
  socklen_t len = sizeof in;
  if (getsockname(fd, (struct sockaddr*)&in, &len) != 0) return -1;
  return ntohs(in.sin_port);
}

TEST(a_listener_starved_of_fds_does_not_spin_when_its_owner_rearms) {
  int fds = harness_open_fds();
  rearming_acceptor_t* a = calloc(1, sizeof *a);
  rec_init(&a->rec);
  a->rec.hook = rearming_accept;
  atomic_store(&a->paused, true);
  a->lev = pony_os_listen_tcp4(&a->rec.base, "127.0.0.1", "0");
  CHECK(a->lev != NULL);
  int lfd = pony_asio_event_fd(a->lev);
  struct sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in.sin_port = htons((uint16_t)port_of(lfd));
  int clients[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  for (int i = 0; i < CLIENTS - 1; i++) CHECK(connect(clients[i], (struct sockaddr*)&in, sizeof in) == 0);
  CHECK(WAIT_UNTIL(rec_count(&a->rec, a->lev, ASIO_READ) >= 1, WAIT_MS));
  struct rlimit saved, low;
  getrlimit(RLIMIT_NOFILE, &saved);
  low = saved;
  low.rlim_cur = (rlim_t)lowest_free_fd();
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);

  atomic_store(&a->paused, false);
  CHECK(connect(clients[CLIENTS - 1], (struct sockaddr*)&in, sizeof in) == 0); /* a READ edge */
  CHECK(WAIT_UNTIL(atomic_load(&a->starved) >= 1, WAIT_MS));
  int accepts = atomic_load(&a->accepts);
  /* Starved for half a second: a few backoff retries (10 ms doubling), not a spin. */
  uint64_t end = harness_now_ms() + 500;
  while (harness_now_ms() < end) harness_pause();
  CHECK(atomic_load(&a->accepts) - accepts <= 20);
  CHECK_EQ_INT(atomic_load(&a->naccepted), 0);

  /* Fds come back: the queued connections are served without a new client. */
  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(WAIT_UNTIL(atomic_load(&a->naccepted) >= 1, WAIT_MS));

  atomic_store(&a->paused, true);
  pony_asio_event_unsubscribe(a->lev);
  CHECK(WAIT_UNTIL(rec_count(&a->rec, a->lev, 0) == 1, WAIT_MS));
  for (int i = 0; i < atomic_load(&a->naccepted); i++) pony_os_socket_close(a->accepted[i]);
  int rest;
  while ((rest = pony_os_accept(a->lev)) > 0) pony_os_socket_close(rest);
  pony_asio_event_destroy(a->lev);
  pony_os_socket_close(lfd);
  for (int i = 0; i < CLIENTS; i++) close(clients[i]);
  rec_fini(&a->rec);
  free(a);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* ---- 4. a stale registration reaches no event --------------------------- */

/* The caller closes its fd before unsubscribing while the open file lives
 * on (a dup, or a forked child): epoll keeps the registration after the
 * event is freed. Its readiness must reach no event: not the freed one, and
 * not a new event that may occupy the same memory. */
TEST(a_stale_registration_reaches_no_event) {
  rec_owner_t old_owner, new_owner;
  rec_init(&old_owner);
  rec_init(&new_owner);
  int sv[2], p[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
  int keep = dup(sv[0]);
  pony_asio_event_t* old_ev = pony_asio_event_create(&old_owner.base, sv[0], ASIO_READ, 0, false);
  CHECK(old_ev != NULL);
  close(sv[0]); /* the misuse: closed while subscribed; `keep` holds the file open */
  dispose(&old_owner, old_ev);
  pony_asio_event_t* new_ev = pony_asio_event_create(&new_owner.base, p[0], ASIO_READ, 0, false);
  CHECK(new_ev != NULL);
  CHECK(write(sv[1], "x", 1) == 1); /* readiness on the stale registration */
  CHECK(barrier(&new_owner, new_ev));
  CHECK(barrier(&new_owner, new_ev)); /* a second turn: the edge has surely been polled */
  CHECK_EQ_INT(rec_count(&new_owner, new_ev, ASIO_READ), 0);
  CHECK_EQ_INT(rec_total(&old_owner), 1); /* only its final notification */
  dispose(&new_owner, new_ev);
  close(keep);
  close(sv[1]);
  close(p[0]);
  close(p[1]);
  rec_fini(&old_owner);
  rec_fini(&new_owner);
}

/* ---- 5. only unsubscribe makes the final notification ------------------- */

TEST(send_cannot_fake_the_final_notification) {
  rec_owner_t o;
  rec_init(&o);
  pony_asio_event_t* ev = pony_asio_event_create(&o.base, -1, ASIO_TIMER, 1000000000000ull, false);
  CHECK(ev != NULL);
  pony_asio_event_send(ev, ASIO_DISPOSABLE, 0);
  CHECK(barrier(&o, ev));
  CHECK_EQ_INT(rec_count(&o, ev, 0), 0);
  CHECK(!pony_asio_event_get_disposable(ev));
  dispose(&o, ev);
  CHECK_EQ_INT(rec_count(&o, ev, 0), 1);
  rec_fini(&o);
}

/* ---- 6. a daemon with fds 0-2 closed ------------------------------------ */

/* In a process with stdin, stdout and stderr closed: a connection accepted
 * on fd 0 is not mistaken for "none pending", and an event on fd 0 is
 * served. Reports one byte: 0 for success, else the failed step. */
static int fd_zero_child(void) {
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* takes fd 0 */
  rec_owner_t* o = calloc(1, sizeof *o);
  rec_init(o);
  pony_asio_event_t* lev = pony_os_listen_tcp4(&o->base, "127.0.0.1", "0");
  if (lev == NULL) return 1;
  char port[16];
  snprintf(port, sizeof port, "%d", port_of(pony_asio_event_fd(lev)));
  if (pony_os_connect_tcp4(&o->base, "127.0.0.1", port, "", ASIO_READ | ASIO_WRITE) != 1) return 2;
  if (!WAIT_UNTIL(rec_count(o, lev, ASIO_READ) >= 1, WAIT_MS)) return 3;
  close(null_fd); /* fd 0 is free: the accepted connection gets it */
  if (null_fd != 0) return 4;
  int fd = 0;
  for (uint64_t end = harness_now_ms() + WAIT_MS; fd == 0 && harness_now_ms() < end;) {
    fd = pony_os_accept(lev);
    if (fd == 0) harness_pause();
  }
  if (fd <= 2) return 5; /* lost as "none pending", or handed out on a standard fd */
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  if (getpeername(fd, (struct sockaddr*)&peer, &len) != 0) return 6;
  if (fcntl(0, F_GETFD) != -1) return 7; /* the kernel's fd 0 went back */
  /* An event on fd 0 is served like any other. */
  int p[2];
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0 || p[0] != 0) return 8;
  pony_asio_event_t* ev = pony_asio_event_create(&o->base, p[0], ASIO_READ, 0, false);
  if (ev == NULL || write(p[1], "x", 1) != 1) return 9;
  if (!WAIT_UNTIL(rec_count(o, ev, ASIO_READ) >= 1, WAIT_MS)) return 10;
  return 0;
}

#define REPORT_FD 9

/* Runs this program again with fds 0-2 closed (a fresh process: a forked
 * copy would inherit the library's state without its threads). */
TEST(a_daemon_with_standard_fds_closed_loses_nothing) {
  int report[2];
  CHECK(pipe2(report, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t acts;
  posix_spawn_file_actions_init(&acts);
  posix_spawn_file_actions_addclose(&acts, 0);
  posix_spawn_file_actions_addclose(&acts, 1);
  posix_spawn_file_actions_addclose(&acts, 2);
  posix_spawn_file_actions_adddup2(&acts, report[1], REPORT_FD);
  char self[256];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  CHECK(n > 0);
  self[n > 0 ? n : 0] = 0;
  char* argv[] = {self, "--fd-zero-child", NULL};
  extern char** environ;
  pid_t pid;
  CHECK(posix_spawn(&pid, self, &acts, NULL, argv, environ) == 0);
  posix_spawn_file_actions_destroy(&acts);
  close(report[1]);
  unsigned char code = 255;
  CHECK(read(report[0], &code, 1) == 1);
  CHECK_EQ_INT(code, 0);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  close(report[0]);
}

TEST(stop_at_the_end) {
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK(ponynet_asio_stop());
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--fd-zero-child") == 0) {
    unsigned char code = (unsigned char)fd_zero_child();
    return write(REPORT_FD, &code, 1) == 1 ? 0 : 1;
  }
  RUN(unsubscribe_elsewhere_while_the_final_notification_destroys);
  RUN(send_cannot_fake_the_final_notification);
  RUN(a_stale_registration_reaches_no_event);
  RUN(a_listener_starved_of_fds_does_not_spin_when_its_owner_rearms);
  RUN(a_daemon_with_standard_fds_closed_loses_nothing);
  RUN(two_concurrent_stops_both_answer_truly);
  RUN(stops_racing_stops_and_events_never_hang_nor_double_the_thread);
  RUN(stop_at_the_end);
  return harness_summary();
}
