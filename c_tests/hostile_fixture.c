/* The fixture and per-case bracket of the generated hostile-input test: see
 * hostile_fixture.h. */
#include "hostile_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* How long a case may take, and how long its leftovers may take to go. */
#define CALL_MS 2000
#define SETTLE_MS 5000
/* Events a case can hand to the reaper: plenty for a few connect attempts. */
#define REAPED_MAX 64

fixture_t fx;

/* ---- owners ---- */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int keeper_notes;      /* notifications of the fixture's events */
static _Atomic int keeper_disposed;    /* final notifications of the fixture's events */
static int reaper_errors;       /* ASIO_ERROR notifications */
/* Events of the current case that were unsubscribed, and those freed since:
 * compared by address only, never dereferenced. */
static pony_asio_event_t* unsubscribed[REAPED_MAX];
static int n_unsubscribed;
static pony_asio_event_t* freed[REAPED_MAX];
static int n_freed;

static bool listed(pony_asio_event_t* const* list, int n, pony_asio_event_t* ev) {
  for (int i = 0; i < n && i < REAPED_MAX; i++)
    if (list[i] == ev) return true;
  return false;
}

static void push(pony_asio_event_t** list, int* n, pony_asio_event_t* ev) {
  if (*n < REAPED_MAX) list[*n] = ev;
  (*n)++;
}

static bool fixture_fd(int fd) {
  return fd == fx.closed || fd == fx.pipe[0] || fd == fx.pipe[1] || fd == fx.devnull || fd == fx.udp4 ||
         fd == fx.udp6 || fd == fx.tcp4 || fd == fx.sp[0] || fd == fx.sp[1] || fd == fx.bp || fd == fx.lfd ||
         fd == fx.refused || fd == fx.evpipe[0] || fd == fx.evpipe[1] || fd == fx.dead_sp[0] ||
         fd == fx.dead_sp[1] || fd == fx.tmpfd || fd < 0;
}

static void keeper_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)o, (void)ev, (void)arg;
  pthread_mutex_lock(&lock);
  keeper_notes++;
  if (flags == ASIO_DISPOSABLE) keeper_disposed++;
  pthread_mutex_unlock(&lock);
}

/* Runs on the I/O thread. The lock is held across unsubscribe and destroy,
 * so hostile_dispose never touches an event this has freed. */
static void reaper_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)o, (void)arg;
  pthread_mutex_lock(&lock);
  if (flags == ASIO_DISPOSABLE) {
    int fd = pony_asio_event_fd(ev);
    /* A socket a listen or connect made: the caller (we) closes it. */
    if (!fixture_fd(fd)) close(fd);
    push(freed, &n_freed, ev);
    pony_asio_event_destroy(ev);
  } else {
    if (flags & ASIO_ERROR) reaper_errors++;
    if (!listed(unsubscribed, n_unsubscribed, ev)) {
      push(unsubscribed, &n_unsubscribed, ev);
      pony_asio_event_unsubscribe(ev);
    }
  }
  pthread_mutex_unlock(&lock);
}

int fx_reaper_errors(void) {
  pthread_mutex_lock(&lock);
  int n = reaper_errors;
  pthread_mutex_unlock(&lock);
  return n;
}

static int reaper_pending(void) {
  pthread_mutex_lock(&lock);
  int n = n_unsubscribed - n_freed;
  pthread_mutex_unlock(&lock);
  return n;
}

void hostile_dispose(pony_asio_event_t* ev) {
  pthread_mutex_lock(&lock);
  if (!listed(freed, n_freed, ev) && !listed(unsubscribed, n_unsubscribed, ev)) {
    push(unsubscribed, &n_unsubscribed, ev);
    pony_asio_event_unsubscribe(ev);
  }
  pthread_mutex_unlock(&lock);
}

/* ---- crash reporting ---- */

static const char* current_case = "(setup)";

static void on_crash(int sig) {
  static const char msg[] = "CRASH: signal ";
  char num[4] = {(char)('0' + sig / 10 % 10), (char)('0' + sig % 10), ' ', 0};
  ssize_t rc = write(2, msg, sizeof msg - 1);
  rc = write(2, num, 3);
  rc = write(2, "in case: ", 9);
  rc = write(2, current_case, strlen(current_case));
  rc = write(2, "\n", 1);
  (void)rc;
  _exit(70);
}

static void watch_crashes(void) {
  int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGPIPE};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sigaction(sigs[i], &sa, NULL);
  }
}

void fx_save_sigpipe(void) { sigaction(SIGPIPE, NULL, &fx.saved_pipe); }
void fx_restore_sigpipe(void) { sigaction(SIGPIPE, &fx.saved_pipe, NULL); }

bool fx_sigpipe_untouched(void) {
  struct sigaction sa;
  return sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == on_crash;
}

/* ---- the per-case bracket ---- */

static int fds0;
static uint64_t noisy0;
static int keeper_notes0;

void hostile_begin(const char* what) {
  current_case = what;
  pthread_mutex_lock(&lock);
  n_unsubscribed = n_freed = 0;
  keeper_notes0 = keeper_notes;
  pthread_mutex_unlock(&lock);
  memset(&fx.ip, FX_SENTINEL, sizeof fx.ip);
  memset(fx.evs, FX_SENTINEL, sizeof fx.evs);
  fx.host_out = fx.serv_out = (char*)&fx.garbage;
  fx.tmpfd = -1;
  /* What an earlier case sent through fx.stream_ev is gone. */
  while (read(fx.sp[1], fx.buf, sizeof fx.buf) > 0) {
  }
  fds0 = harness_open_fds();
  noisy0 = ponynet_asio_noisy_count();
  (void)ponynet_take_error();
}

/* Cases of a `pending` tag, and those of them whose expectation failed. */
#define PENDING_MAX 256
static const char* pending_tags[PENDING_MAX];
static const char* pending_failed[PENDING_MAX];
static int n_pending, n_pending_failed;

void hostile_expect(bool ok, const char* expectation, const char* pending_tag, int line, const char* shown,
                    int err, int eno) {
  if (pending_tag == NULL) {
    if (!ok) {
      printf("  got %s, err %d, errno %d\n", shown, err, eno);
      harness_check(false, expectation, "c_tests/hostile_table.txt", line);
    }
    return;
  }
  if (n_pending < PENDING_MAX) pending_tags[n_pending++] = pending_tag;
  if (ok) return;
  if (n_pending_failed < PENDING_MAX) pending_failed[n_pending_failed++] = current_case;
  printf("  pending (%s; not counted as a failure): expected %s (c_tests/hostile_table.txt:%d); got %s, err %d\n",
         pending_tag, expectation, line, shown, err);
}

void hostile_pending_summary(void) {
  for (int i = 0; i < n_pending; i++) {
    bool first = true;
    for (int j = 0; j < i; j++) first = first && strcmp(pending_tags[j], pending_tags[i]) != 0;
    if (!first) continue;
    int total = 0;
    for (int j = 0; j < n_pending; j++) total += strcmp(pending_tags[j], pending_tags[i]) == 0;
    printf("pending %s: %d cases\n", pending_tags[i], total);
  }
  for (int i = 0; i < n_pending_failed; i++) printf("  still failing: %s\n", pending_failed[i]);
  if (n_pending > 0 && n_pending_failed == 0)
    printf("every pending case passes: delete its `pending` line in c_tests/hostile_table.txt\n");
}

void hostile_end(uint64_t took_ms) {
  CHECK(took_ms <= CALL_MS); /* returns at once: never blocks nor hangs */
  bool settled = WAIT_UNTIL(reaper_pending() == 0 && harness_open_fds() == fds0 &&
                                ponynet_asio_noisy_count() == noisy0, SETTLE_MS);
  if (!settled) {
    CHECK_EQ_INT(reaper_pending(), 0);
    CHECK_EQ_INT(harness_open_fds(), fds0);
    CHECK_EQ_INT(ponynet_asio_noisy_count(), noisy0);
  }
  CHECK(fx_sigpipe_untouched());
  /* No hostile call reaches the fixture's events: the keeper heard nothing
   * new, except what a case sent it on purpose (none does). */
  pthread_mutex_lock(&lock);
  int notes = keeper_notes - keeper_notes0;
  pthread_mutex_unlock(&lock);
  CHECK_EQ_INT(notes, 0);
  current_case = "(between cases)";
}

bool hostile_under_valgrind(void) {
  const char* r = getenv("RUNNER");
  return r != NULL && strstr(r, "valgrind") != NULL;
}

static char shown[64];

const char* hostile_show_int(long long v) {
  snprintf(shown, sizeof shown, "%lld", v);
  return shown;
}

const char* hostile_show_uint(unsigned long long v) {
  snprintf(shown, sizeof shown, "%llu", v);
  return shown;
}

const char* hostile_show_ptr(const void* p) {
  snprintf(shown, sizeof shown, "%p", p);
  return shown;
}

const char* hostile_show_void(void) { return "(void)"; }

/* ---- addresses ---- */

pony_ipaddress_t* fx_family(int family) {
  memset(&fx.bad_ip, FX_SENTINEL, sizeof fx.bad_ip);
  fx.bad_ip.type = NULL;
  fx.bad_ip.addr.ss_family = (sa_family_t)family;
  return &fx.bad_ip;
}

bool fx_ip_untouched(void) {
  const unsigned char* p = (const unsigned char*)&fx.ip;
  for (size_t i = 0; i < sizeof fx.ip; i++)
    if (p[i] != FX_SENTINEL) return false;
  return true;
}

struct addrinfo* fx_bad_ai(bool null_addr, int family, socklen_t len) {
  memset(&fx.bad_ai, 0, sizeof fx.bad_ai);
  memset(&fx.bad_sa, FX_SENTINEL, sizeof fx.bad_sa);
  fx.bad_sa.ss_family = (sa_family_t)family;
  fx.bad_ai.ai_family = family;
  fx.bad_ai.ai_addr = null_addr ? NULL : (struct sockaddr*)&fx.bad_sa;
  fx.bad_ai.ai_addrlen = len;
  return &fx.bad_ai;
}

int fx_queued(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

int fx_fresh_fd(void) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  close(p[1]);
  fx.tmpfd = p[0];
  return p[0];
}

/* ---- setup ---- */

static bool fail(const char* what) {
  printf("  fixture: %s: %s\n", what, strerror(errno));
  return false;
}

static int port_of(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr*)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in*)&ss)->sin_port);
  return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
}

static int bound_socket(int family, int type, const char* host) {
  int fd = socket(family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in* in = (struct sockaddr_in*)&ss;
    in->sin_family = AF_INET;
    inet_pton(AF_INET, host, &in->sin_addr);
    len = sizeof *in;
  } else {
    struct sockaddr_in6* in6 = (struct sockaddr_in6*)&ss;
    in6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, host, &in6->sin6_addr);
    len = sizeof *in6;
  }
  if (bind(fd, (struct sockaddr*)&ss, len) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static pony_asio_event_t* keep(int fd) {
  return pony_asio_event_create(&fx.keeper.base, fd, ASIO_READ, 0, false);
}

bool fx_setup(void) {
  memset(&fx, 0, sizeof fx);
  fx.keeper.base.notify = keeper_notify;
  fx.reaper.base.notify = reaper_notify;
  fx.silent.notify = NULL;
  fx.tmpfd = fx.udp6 = -1;
  fx.closed = FX_CLOSED_FD;
  watch_crashes();
  if (fcntl(fx.closed, F_GETFD) != -1) return fail("fd 900 is open");
  if (pipe2(fx.pipe, O_CLOEXEC | O_NONBLOCK) != 0) return fail("pipe");
  if (pipe2(fx.evpipe, O_CLOEXEC | O_NONBLOCK) != 0) return fail("pipe");
  if ((fx.devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) return fail("/dev/null");
  if ((fx.udp4 = bound_socket(AF_INET, SOCK_DGRAM, "127.0.0.1")) < 0) return fail("udp4");
  if ((fx.udp6 = bound_socket(AF_INET6, SOCK_DGRAM, "::1")) < 0) return fail("udp6 on ::1");
  if ((fx.tcp4 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) return fail("tcp4");
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fx.sp) != 0) return fail("socketpair");
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, fx.dead_sp) != 0)
    return fail("socketpair");
  int bp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, bp) != 0) return fail("socketpair");
  fx.bp = bp[0];
  close(bp[1]);
  if ((fx.lfd = bound_socket(AF_INET, SOCK_STREAM, "127.0.0.1")) < 0 || listen(fx.lfd, 16) != 0)
    return fail("listener");
  if ((fx.refused = bound_socket(AF_INET, SOCK_STREAM, "127.0.0.1")) < 0) return fail("refused port");
  snprintf(fx.refused_port, sizeof fx.refused_port, "%d", port_of(fx.refused));

  int udp = bound_socket(AF_INET, SOCK_DGRAM, "127.0.0.1");
  if (udp < 0) return fail("udp");
  memset(&fx.to4, 0, sizeof fx.to4);
  struct sockaddr_in* to = (struct sockaddr_in*)&fx.to4.addr;
  to->sin_family = AF_INET;
  to->sin_port = htons((uint16_t)port_of(udp));
  inet_pton(AF_INET, "127.0.0.1", &to->sin_addr);

  fx.big = malloc(FX_BIG_LEN + 1);
  if (fx.big == NULL) return fail("malloc");
  memset(fx.big, 'a', FX_BIG_LEN);
  fx.big[FX_BIG_LEN] = '\0';
  memset(fx.garbage, 0xAA, sizeof fx.garbage);

  fx.stream_ev = keep(fx.sp[0]);
  fx.broken_ev = keep(fx.bp);
  fx.pipe_ev = keep(fx.evpipe[0]);
  fx.udp_ev = keep(udp);
  fx.listen_ev = keep(fx.lfd);
  fx.ev_m1 = keep(-1);
  fx.ev_closed = keep(fx.closed);
  fx.dead_ev = keep(fx.dead_sp[0]);
  if (!fx.stream_ev || !fx.broken_ev || !fx.pipe_ev || !fx.udp_ev || !fx.listen_ev || !fx.ev_m1 ||
      !fx.ev_closed || !fx.dead_ev)
    return fail("event");
  pony_asio_event_unsubscribe(fx.dead_ev);
  /* The peer-closed pair is readable (EOF), and fd -1 and the closed fd
   * are refused: those notifications and dead_ev's final one are the
   * fixture's, before any case. */
  if (!WAIT_UNTIL(keeper_disposed == 1 && keeper_notes >= 4, SETTLE_MS)) {
    printf("  fixture: the fixture's own notifications did not come (%d)\n", keeper_notes);
    return false;
  }
  fx.ai = NULL;
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  if (getaddrinfo("127.0.0.1", "80", &hints, &fx.ai) != 0) return fail("getaddrinfo");
  return true;
}

static void dispose_kept(pony_asio_event_t* ev) {
  pthread_mutex_lock(&lock);
  int before = keeper_disposed;
  pthread_mutex_unlock(&lock);
  pony_asio_event_unsubscribe(ev);
  CHECK(WAIT_UNTIL(keeper_disposed == before + 1, SETTLE_MS));
  pony_asio_event_destroy(ev);
}

void fx_teardown(void) {
  int udp = pony_asio_event_fd(fx.udp_ev);
  pony_asio_event_t* evs[] = {fx.stream_ev, fx.broken_ev, fx.pipe_ev, fx.udp_ev, fx.listen_ev, fx.ev_m1, fx.ev_closed};
  for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) dispose_kept(evs[i]);
  pony_asio_event_destroy(fx.dead_ev);
  int fds[] = {fx.pipe[0], fx.pipe[1], fx.evpipe[0], fx.evpipe[1], fx.devnull, fx.udp4, fx.udp6, fx.tcp4,
               fx.sp[0], fx.sp[1], fx.dead_sp[0], fx.dead_sp[1], fx.bp, fx.lfd, fx.refused, udp};
  for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
    if (fds[i] >= 0) close(fds[i]);
  freeaddrinfo(fx.ai);
  free(fx.big);
}
