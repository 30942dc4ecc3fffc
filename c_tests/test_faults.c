/* Faults, through the header only: connects over a rate-limited link and
 * to a black-holed route (network namespaces and veth links made here),
 * Happy Eyeballs with one family dead, resets in the middle of a transfer,
 * a half-closed peer, EMFILE on connect, and a signal storm during I/O.
 *
 * Tests that need namespaces run only as root with `ip netns`; elsewhere
 * they print why and pass without running. Their addresses (198.18.0.0/15,
 * 2001:db8::/32) exist only inside the namespaces they create, which are
 * named after the process and deleted at the end of each test — and, should
 * the process die first, by a watchdog child that waits for its death. */
#include "harness.h"
#include "owner.h"
#include "ponynet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 5000
#define RW_ONESHOT (ASIO_READ | ASIO_WRITE | ASIO_ONESHOT)
#define MIB (1024u * 1024u)

static char self_path[PATH_MAX];

/* ---- helpers ---------------------------------------------------------- */

static unsigned char pattern(size_t i) { return (unsigned char)(i * 7u + i / 251u); }

static unsigned char* patterned(size_t n) {
  unsigned char* p = malloc(n);
  for (size_t i = 0; i < n; i++) p[i] = pattern(i);
  return p;
}

static bool is_pattern(const unsigned char* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != pattern(i)) return false;
  return true;
}

static rec_owner_t* owner_new(void) {
  rec_owner_t* o = malloc(sizeof *o);
  rec_init(o);
  return o;
}

static void owner_free(rec_owner_t* o) {
  rec_fini(o);
  free(o);
}

/* Unsubscribes, waits for the final notification, destroys, closes the fd. */
static void close_event(rec_owner_t* o, pony_asio_event_t* ev) {
  int fd = pony_asio_event_fd(ev);
  pony_asio_event_unsubscribe(ev);
  CHECK(WAIT_UNTIL(rec_count(o, ev, 0) == 1, WAIT_MS));
  pony_asio_event_destroy(ev);
  pony_os_socket_close(fd);
}

static int port_of(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr*)&ss, &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in*)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6*)&ss)->sin6_port);
  return -1;
}

static int family_of_peer(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  return getpeername(fd, (struct sockaddr*)&ss, &len) == 0 ? ss.ss_family : -1;
}

static int tcp_state(int fd) {
  struct tcp_info ti;
  socklen_t len = sizeof ti;
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 ? ti.tcpi_state : -1;
}

/* The i-th distinct event (0-based) of `o` whose notification had `mask`. */
static pony_asio_event_t* nth_event(rec_owner_t* o, uint32_t mask, int nth) {
  pony_asio_event_t* seen[16];
  int n = 0, total = rec_total(o);
  for (int i = 0; i < total && n < 16; i++) {
    rec_note_t r = rec_note(o, i);
    if ((r.flags & mask) != mask || r.flags == ASIO_DISPOSABLE) continue;
    bool dup = false;
    for (int j = 0; j < n; j++) dup |= seen[j] == r.ev;
    if (dup) continue;
    if (n == nth) return r.ev;
    seen[n++] = r.ev;
  }
  return NULL;
}

static int accept_one(pony_asio_event_t* lev) {
  int fd = 0;
  WAIT_UNTIL((fd = pony_os_accept(lev)) != 0, WAIT_MS);
  return fd;
}

/* A connected pair over 127.0.0.1: the client's event (owner co) and the
 * accepted fd (plain, non-blocking). */
static bool make_pair(rec_owner_t* co, pony_asio_event_t* lev, pony_asio_event_t** cev, int* sfd) {
  char port[16];
  snprintf(port, sizeof port, "%d", port_of(pony_asio_event_fd(lev)));
  *cev = NULL;
  *sfd = -1;
  if (!CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", port, NULL, RW_ONESHOT), 1)) return false;
  if (!CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, 0) != NULL, WAIT_MS))) return false;
  *cev = nth_event(co, ASIO_WRITE, 0);
  CHECK(pony_os_connected(pony_asio_event_fd(*cev)));
  *sfd = accept_one(lev);
  return CHECK(*sfd > 0);
}

/* A reader owner, as Pony's TCPConnection reads: on READ, pony_os_recv
 * until it returns 0, then clear readable and re-arm. Counts what it got
 * into `buf` (up to `cap`) and how the stream ended. */
typedef struct {
  ponynet_owner_t base;
  pony_asio_event_t* ev;
  unsigned char* buf;
  size_t cap;
  size_t got;    /* atomic */
  int end;       /* atomic: 0 open, PONYNET_ERR_EOF, or an errno */
  int disposed;  /* atomic */
} sink_t;

static void sink_notify(ponynet_owner_t* base, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  sink_t* s = (sink_t*)base;
  if (flags == ASIO_DISPOSABLE) {
    __atomic_store_n(&s->disposed, 1, __ATOMIC_RELEASE);
    return;
  }
  if (!(flags & ASIO_READ) || __atomic_load_n(&s->end, __ATOMIC_ACQUIRE) != 0) return;
  size_t got = __atomic_load_n(&s->got, __ATOMIC_ACQUIRE);
  for (;;) {
    size_t room = s->cap - got;
    size_t n = pony_os_recv(ev, (char*)s->buf + got, room < 65536 ? room : 65536);
    if (n == 0) {
      int err = ponynet_take_error();
      if (err != 0) __atomic_store_n(&s->end, err, __ATOMIC_RELEASE);
      break;
    }
    got += n;
    __atomic_store_n(&s->got, got, __ATOMIC_RELEASE);
  }
  if (__atomic_load_n(&s->end, __ATOMIC_ACQUIRE) == 0) {
    pony_asio_event_set_readable(ev, false);
    pony_asio_event_resubscribe_read(ev);
  }
}

/* A sink reading `fd` into a buffer of `cap` bytes (one more than the
 * stream should carry, so that extra bytes show). */
static sink_t* sink_new(int fd, size_t cap) {
  sink_t* s = calloc(1, sizeof *s);
  s->base.notify = sink_notify;
  s->buf = malloc(cap);
  s->cap = cap;
  s->ev = pony_asio_event_create(&s->base, fd, ASIO_READ | ASIO_ONESHOT, 0, true);
  CHECK(s->ev != NULL);
  return s;
}

static size_t sink_got(sink_t* s) { return __atomic_load_n(&s->got, __ATOMIC_ACQUIRE); }
static int sink_end(sink_t* s) { return __atomic_load_n(&s->end, __ATOMIC_ACQUIRE); }

/* Unsubscribes, waits for the final notification, destroys; closes the fd. */
static void sink_free(sink_t* s) {
  int fd = pony_asio_event_fd(s->ev);
  pony_asio_event_unsubscribe(s->ev);
  CHECK(WAIT_UNTIL(__atomic_load_n(&s->disposed, __ATOMIC_ACQUIRE), WAIT_MS));
  pony_asio_event_destroy(s->ev);
  pony_os_socket_close(fd);
  free(s->buf);
  free(s);
}

/* A writer as Pony's TCPConnection writes: send until the socket is full,
 * then clear writeable, re-arm, and wait for the WRITE notification. */
typedef struct {
  rec_owner_t* owner;
  pony_asio_event_t* ev;
  const unsigned char* data;
  size_t total, sent;
  int err;
  int would_block; /* times the socket was full */
} writer_t;

/* Sends everything, waiting for WRITE whenever the socket is full; stops
 * at the first failure (in w->err). */
static void writer_run(writer_t* w) {
  while (w->sent < w->total && w->err == 0) {
    size_t left = w->total - w->sent;
    size_t n = pony_os_send(w->ev, (const char*)w->data + w->sent, left < 262144 ? left : 262144);
    if (n > 0) {
      w->sent += n;
      continue;
    }
    w->err = ponynet_take_error();
    if (w->err != 0) return;
    w->would_block++;
    int writes = rec_count(w->owner, w->ev, ASIO_WRITE);
    pony_asio_event_set_writeable(w->ev, false);
    pony_asio_event_resubscribe_write(w->ev);
    /* A writer that never hears WRITE again would hang here: bounded. */
    if (!CHECK(WAIT_UNTIL(rec_count(w->owner, w->ev, ASIO_WRITE) > writes, WAIT_MS))) {
      w->err = ETIMEDOUT;
      return;
    }
  }
}

/* ---- network namespaces ----------------------------------------------- */

static int home_ns = -1; /* this thread's namespace at start */

/* Runs a shell command; on failure prints it with its output. */
static bool run(const char* fmt, ...) {
  char cmd[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  char full[600];
  snprintf(full, sizeof full, "%s 2>&1", cmd);
  FILE* p = popen(full, "r");
  if (p == NULL) return false;
  char out[1024];
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  bool ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) printf("  command failed: %s\n    %s", cmd, n ? out : "(no output)\n");
  return ok;
}

typedef struct {
  char name[48];
  int fd;       /* /run/netns/<name> */
  pid_t reaper; /* deletes the namespace once `guard` closes */
  int guard;
} netns_t;

/* A child that waits until the write end of its pipe closes — when the
 * test deletes the namespace, or when this process dies however it dies —
 * then deletes the namespace (quietly: it may be gone already). */
static pid_t spawn_reaper(const char* name, int* guard) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[0], 0);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    syscall(SYS_close_range, 3u, ~0u, 0u);
    char c;
    while (read(0, &c, 1) != 0 && errno == EINTR) {
    }
    execlp("ip", "ip", "netns", "delete", name, (char*)NULL);
    _exit(127);
  }
  close(p[0]);
  *guard = p[1];
  if (pid < 0) close(p[1]);
  return pid;
}

static bool netns_add(netns_t* ns, const char* tag) {
  snprintf(ns->name, sizeof ns->name, "ponynet-%d-%s", (int)getpid(), tag);
  ns->fd = -1;
  ns->reaper = spawn_reaper(ns->name, &ns->guard);
  if (ns->reaper < 0) return false;
  if (!run("ip netns add %s", ns->name)) return false;
  char path[96];
  snprintf(path, sizeof path, "/run/netns/%s", ns->name);
  ns->fd = open(path, O_RDONLY | O_CLOEXEC);
  return ns->fd >= 0;
}

static void netns_del(netns_t* ns) {
  if (ns->reaper <= 0) return;
  if (ns->fd >= 0) close(ns->fd);
  run("ip netns delete %s", ns->name);
  close(ns->guard);
  waitpid(ns->reaper, NULL, 0);
  ns->reaper = 0;
}

/* Moves this thread (and the sockets it makes from now on) into `ns`. */
static bool enter(netns_t* ns) { return CHECK(setns(ns->fd, CLONE_NEWNET) == 0); }

static void leave(void) { CHECK(setns(home_ns, CLONE_NEWNET) == 0); }

/* Why namespace tests cannot run here, or NULL. */
static const char* netns_unavailable(void) {
  static bool asked;
  static const char* why;
  if (asked) return why;
  asked = true;
  if (geteuid() != 0) return why = "not root";
  if (home_ns < 0) return why = "no /proc/thread-self/ns/net";
  netns_t probe;
  bool ok = netns_add(&probe, "probe");
  netns_del(&probe);
  if (!ok) why = "`ip netns add` failed";
  return why;
}

static bool skipped(void) {
  const char* why = netns_unavailable();
  if (why != NULL) printf("  skipped: %s (needs root and `ip netns`)\n", why);
  return why != NULL;
}

/* Two namespaces, S (server side) and C (client side), joined by a veth
 * pair: S has 198.18.0.1/24 and 2001:db8::1/64 on vs, C has .2 and ::2 on
 * vc. S also routes (into nothing) 198.18.9.0/24 and 2001:db8:9::/64, which
 * C sends to S: packets there vanish without an answer. In C itself,
 * 198.18.8.0/24 and 2001:db8:8::/64 are blackhole routes. */
typedef struct {
  netns_t s, c;
} link_t;

static bool link_make(link_t* l) {
  memset(l, 0, sizeof *l);
  if (!netns_add(&l->s, "s") || !netns_add(&l->c, "c")) return false;
  const char* S = l->s.name;
  const char* C = l->c.name;
  return run("ip -n %s link add vs type veth peer name vc netns %s", S, C) &&
         run("ip -n %s addr add 198.18.0.1/24 dev vs", S) &&
         run("ip -n %s addr add 2001:db8::1/64 dev vs nodad", S) &&
         run("ip -n %s addr add 198.18.0.2/24 dev vc", C) &&
         run("ip -n %s addr add 2001:db8::2/64 dev vc nodad", C) &&
         run("ip -n %s link set lo up && ip -n %s link set vs up", S, S) &&
         run("ip -n %s link set lo up && ip -n %s link set vc up", C, C) &&
         run("ip netns exec %s sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1", S) &&
         run("ip -n %s route add blackhole 198.18.9.0/24", S) &&
         run("ip -n %s -6 route add blackhole 2001:db8:9::/64", S) &&
         run("ip -n %s route add 198.18.9.0/24 via 198.18.0.1", C) &&
         run("ip -n %s -6 route add 2001:db8:9::/64 via 2001:db8::1", C) &&
         run("ip -n %s route add blackhole 198.18.8.0/24", C) &&
         run("ip -n %s -6 route add blackhole 2001:db8:8::/64", C);
}

static void link_free(link_t* l) {
  netns_del(&l->c);
  netns_del(&l->s);
}

/* A plain listener on `addr` (in the current namespace); its port in `port`. */
static int plain_listener(int family, const char* addr, char port[16]) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in* in = (struct sockaddr_in*)&ss;
    in->sin_family = AF_INET;
    inet_pton(AF_INET, addr, &in->sin_addr);
    len = sizeof *in;
  } else {
    struct sockaddr_in6* in6 = (struct sockaddr_in6*)&ss;
    in6->sin6_family = AF_INET6;
    inet_pton(AF_INET6, addr, &in6->sin6_addr);
    len = sizeof *in6;
  }
  CHECK(bind(fd, (struct sockaddr*)&ss, len) == 0);
  CHECK(listen(fd, SOMAXCONN) == 0);
  snprintf(port, 16, "%d", port_of(fd));
  return fd;
}

/* Sockets in the current namespace in `state` (hex, as /proc/net/tcp
 * prints it, e.g. "02" SYN_SENT) whose remote port is `port`. */
static int sockets_to(int port, const char* state) {
  char needle[16];
  snprintf(needle, sizeof needle, ":%04X %s", port, state);
  int n = 0;
  const char* files[] = {"/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"};
  for (int i = 0; i < 2; i++) {
    FILE* f = fopen(files[i], "r");
    if (f == NULL) continue;
    char line[512];
    while (fgets(line, sizeof line, f) != NULL) n += strstr(line, needle) != NULL;
    fclose(f);
  }
  return n;
}

/* ---- a connect storm over a rate-limited link -------------------------- */

#define STORM 100

/* One connect attempt through the library, and what it reported. */
typedef struct {
  ponynet_owner_t base;
  pony_asio_event_t* ev;
  int reports;     /* notifications other than the final one */
  uint32_t flags;  /* of the first */
  int state;       /* TCP state (tcp_info) when it reported */
  bool connected;  /* pony_os_connected */
  int err;         /* ponynet_take_error() when not connected */
  uint64_t at_ms;
  int disposed;    /* atomic */
} attempt_t;

static uint64_t storm_t0;

static void attempt_notify(ponynet_owner_t* base, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  attempt_t* a = (attempt_t*)base;
  if (flags == ASIO_DISPOSABLE) {
    __atomic_store_n(&a->disposed, 1, __ATOMIC_RELEASE);
    return;
  }
  if (a->reports++ > 0) return;
  int fd = pony_asio_event_fd(ev);
  a->ev = ev;
  a->flags = flags;
  a->at_ms = harness_now_ms() - storm_t0;
  a->state = tcp_state(fd);
  a->connected = pony_os_connected(fd);
  a->err = a->connected ? 0 : ponynet_take_error();
  pony_asio_event_unsubscribe(ev);
}

typedef struct {
  int connected, timed_out, other;
  uint64_t first_fail_ms, last_fail_ms;
} tally_t;

static void tally_add(tally_t* t, int err, uint64_t at_ms) {
  if (err == 0) {
    t->connected++;
    return;
  }
  if (err == ETIMEDOUT) t->timed_out++;
  else t->other++;
  if (t->timed_out + t->other == 1 || at_ms < t->first_fail_ms) t->first_fail_ms = at_ms;
  if (at_ms > t->last_fail_ms) t->last_fail_ms = at_ms;
}

static void tally_print(const char* who, const tally_t* t) {
  printf("  %-22s %3d connected, %3d ETIMEDOUT, %d other", who, t->connected, t->timed_out, t->other);
  if (t->timed_out + t->other > 0)
    printf("; failures after %.2f-%.2f s", t->first_fail_ms / 1000.0, t->last_fail_ms / 1000.0);
  printf("\n");
}

/* STORM plain non-blocking connects at once, waited for with poll(2). */
static tally_t plain_storm(const char* port) {
  tally_t t;
  memset(&t, 0, sizeof t);
  struct sockaddr_in to;
  memset(&to, 0, sizeof to);
  to.sin_family = AF_INET;
  to.sin_port = htons((uint16_t)atoi(port));
  inet_pton(AF_INET, "198.18.0.1", &to.sin_addr);
  struct pollfd p[STORM];
  int left = 0;
  storm_t0 = harness_now_ms();
  for (int i = 0; i < STORM; i++) {
    p[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    p[i].events = POLLOUT;
    if (connect(p[i].fd, (struct sockaddr*)&to, sizeof to) == 0 || errno == EINPROGRESS) left++;
    else {
      tally_add(&t, errno, 0);
      close(p[i].fd);
      p[i].fd = -1;
    }
  }
  uint64_t deadline = storm_t0 + 30000;
  while (left > 0 && harness_now_ms() < deadline) {
    if (poll(p, STORM, 100) <= 0) continue;
    for (int i = 0; i < STORM; i++) {
      if (p[i].fd < 0 || p[i].revents == 0) continue;
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(p[i].fd, SOL_SOCKET, SO_ERROR, &err, &len);
      tally_add(&t, err, harness_now_ms() - storm_t0);
      close(p[i].fd);
      p[i].fd = -1;
      left--;
    }
  }
  CHECK_EQ_INT(left, 0);
  for (int i = 0; i < STORM; i++)
    if (p[i].fd >= 0) close(p[i].fd);
  return t;
}

/* The same through pony_os_connect_tcp4, one owner per connection. */
static tally_t library_storm(const char* port) {
  tally_t t;
  memset(&t, 0, sizeof t);
  attempt_t* a = calloc(STORM, sizeof *a);
  int started = 0;
  storm_t0 = harness_now_ms();
  for (int i = 0; i < STORM; i++) {
    a[i].base.notify = attempt_notify;
    started += pony_os_connect_tcp4(&a[i].base, "198.18.0.1", port, NULL, RW_ONESHOT);
  }
  CHECK_EQ_INT(started, STORM);
  int disposed = 0;
  WAIT_UNTIL(({
               disposed = 0;
               for (int i = 0; i < STORM; i++) disposed += __atomic_load_n(&a[i].disposed, __ATOMIC_ACQUIRE);
               disposed == started;
             }),
             30000);
  CHECK_EQ_INT(disposed, started);
  for (int i = 0; i < STORM; i++) {
    if (!__atomic_load_n(&a[i].disposed, __ATOMIC_ACQUIRE)) continue;
    CHECK_EQ_INT(a[i].reports, 1);
    CHECK(a[i].flags & ASIO_WRITE);
    /* The library's verdict is the kernel's: connected exactly when the
     * socket is established; a failure carries the kernel's errno. */
    CHECK_EQ_INT(a[i].connected, a[i].state == TCP_ESTABLISHED);
    CHECK(a[i].connected || a[i].err == ETIMEDOUT);
    tally_add(&t, a[i].err, a[i].at_ms);
    int fd = pony_asio_event_fd(a[i].ev);
    pony_asio_event_destroy(a[i].ev);
    pony_os_socket_close(fd);
  }
  free(a);
  return t;
}

/* Many connects at once over a link whose own qdisc (a tbf with a small
 * queue) drops SYNs: a quarter to a half fail with ETIMEDOUT within seconds,
 * far sooner than the SYN retries would take. The kernel decides it, not the
 * library: a SYN retransmission that the local qdisc drops still counts as
 * one of tcp_syn_retries (+ tcp_syn_linear_timeouts), and the next one comes
 * 0.5 s later instead of after the backed-off RTO, so SYN_SENT gives up
 * after about 1 + 0.5 * retries seconds. A plain client fails the same way.
 * Here C allows 2 retries (failures after about 2 s); the library must
 * report every attempt once, with the kernel's verdict and errno. */
TEST(a_connect_storm_over_a_rate_limited_link_fails_as_the_kernel_decides) {
  if (skipped()) return;
  int fds = harness_open_fds();
  link_t l;
  if (CHECK(link_make(&l)) && CHECK(run("ip netns exec %s sysctl -qw net.ipv4.tcp_syn_retries=2", l.c.name)) &&
      CHECK(run("ip netns exec %s tc qdisc add dev vc root tbf rate 1mbit burst 500 limit 100", l.c.name))) {
    run("ip netns exec %s sysctl -qw net.ipv4.tcp_syn_linear_timeouts=0", l.c.name); /* 6.8+ only */
    char port[16];
    enter(&l.s);
    int lfd = plain_listener(AF_INET, "198.18.0.1", port);
    enter(&l.c);
    tally_t plain = plain_storm(port);
    tally_t lib = library_storm(port);
    leave();
    tally_print("plain client:", &plain);
    tally_print("libponynet client:", &lib);
    CHECK_EQ_INT(plain.other, 0);
    CHECK_EQ_INT(lib.other, 0);
    CHECK_EQ_INT(lib.connected + lib.timed_out, STORM);
    close(lfd);
    CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  }
  link_free(&l);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* ---- a transfer over a rate-limited link ------------------------------- */

/* 1 MiB from C to S through an 8 Mbit/s tbf with a small queue: the writer
 * meets a full socket again and again, the reader gets every byte in order. */
TEST(a_transfer_over_a_rate_limited_link_arrives_intact) {
  if (skipped()) return;
  int fds = harness_open_fds();
  link_t l;
  if (CHECK(link_make(&l)) &&
      CHECK(run("ip netns exec %s tc qdisc add dev vc root tbf rate 8mbit burst 16kb limit 32kb", l.c.name))) {
    rec_owner_t* so = owner_new();
    rec_owner_t* co = owner_new();
    enter(&l.s);
    pony_asio_event_t* lev = pony_os_listen_tcp4(&so->base, "198.18.0.1", "0");
    CHECK(lev != NULL);
    char port[16];
    snprintf(port, sizeof port, "%d", lev ? port_of(pony_asio_event_fd(lev)) : 0);
    enter(&l.c);
    int count = pony_os_connect_tcp4(&co->base, "198.18.0.1", port, NULL, RW_ONESHOT);
    leave();
    CHECK_EQ_INT(count, 1);
    pony_asio_event_t* cev = NULL;
    int sfd = -1;
    if (CHECK(WAIT_UNTIL((cev = nth_event(co, ASIO_WRITE, 0)) != NULL, WAIT_MS)) &&
        CHECK(pony_os_connected(pony_asio_event_fd(cev))) && CHECK((sfd = accept_one(lev)) > 0)) {
      size_t total = MIB;
      int small = 32768; /* the socket fills long before the link drains */
      setsockopt(pony_asio_event_fd(cev), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      sink_t* s = sink_new(sfd, total + 1);
      unsigned char* data = patterned(total);
      writer_t w = {co, cev, data, total, 0, 0, 0};
      uint64_t t0 = harness_now_ms();
      writer_run(&w);
      CHECK_EQ_INT(w.err, 0);
      CHECK_EQ_INT(w.sent, total);
      CHECK(WAIT_UNTIL(sink_got(s) == total, 20000));
      printf("  1 MiB in %.2f s; the socket was full %d times\n", (harness_now_ms() - t0) / 1000.0, w.would_block);
      CHECK(w.would_block > 0);
      CHECK(is_pattern(s->buf, sink_got(s)));
      pony_os_socket_shutdown(pony_asio_event_fd(cev));
      CHECK(WAIT_UNTIL(sink_end(s) == PONYNET_ERR_EOF, WAIT_MS));
      CHECK_EQ_INT(sink_got(s), total);
      sink_free(s);
      free(data);
    }
    if (cev != NULL) close_event(co, cev);
    if (lev != NULL) close_event(so, lev);
    owner_free(co);
    owner_free(so);
    CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  }
  link_free(&l);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* ---- black-holed routes ----------------------------------------------- */

/* A blackhole route on the client's own host: the kernel refuses the
 * connect at once (EINVAL); nothing is in flight, nothing leaks. Behind a
 * router that drops into a blackhole, the SYN vanishes: the attempt sits in
 * SYN_SENT for as long as the kernel retries (minutes; the ABI has no
 * connect timeout), and the owner cancels it: unsubscribe, the final
 * notification, close. */
TEST(black_holed_routes_fail_at_once_or_hang_until_cancelled) {
  if (skipped()) return;
  int fds = harness_open_fds();
  link_t l;
  if (CHECK(link_make(&l))) {
    rec_owner_t* o = owner_new();
    enter(&l.c);
    uint64_t t0 = harness_now_ms();
    CHECK_EQ_INT(pony_os_connect_tcp4(&o->base, "198.18.8.1", "80", NULL, RW_ONESHOT), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK_EQ_INT(pony_os_connect_tcp6(&o->base, "2001:db8:8::1", "80", NULL, RW_ONESHOT), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK(harness_now_ms() - t0 < 1000);
    CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);

    pony_asio_event_t* evs[2] = {NULL, NULL};
    CHECK_EQ_INT(ponynet_os_connect_tcp_events(&o->base, "198.18.9.1", "80", "", RW_ONESHOT, 1, evs, 1), 1);
    CHECK_EQ_INT(ponynet_os_connect_tcp_events(&o->base, "2001:db8:9::1", "80", "", RW_ONESHOT, 2, evs + 1, 1), 1);
    CHECK_EQ_INT(ponynet_asio_noisy_count(), 2);
    /* In flight, and silent: no notification within 1.5 s. */
    CHECK(!WAIT_UNTIL(rec_total(o) > 0, 1500));
    CHECK(WAIT_UNTIL(sockets_to(80, "02") == 2, WAIT_MS));
    for (int i = 0; i < 2; i++)
      if (CHECK(evs[i] != NULL)) CHECK_EQ_INT(tcp_state(pony_asio_event_fd(evs[i])), TCP_SYN_SENT);
    /* Cancelled: each gets its final notification and nothing else. */
    for (int i = 0; i < 2; i++)
      if (evs[i] != NULL) close_event(o, evs[i]);
    CHECK_EQ_INT(rec_total(o), 2);
    CHECK_EQ_INT(sockets_to(80, "02"), 0);
    leave();
    CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
    owner_free(o);
  }
  link_free(&l);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* ---- Happy Eyeballs with one family dead ------------------------------- */

/* "" resolves to ::1 and 127.0.0.1. A listener on one of them only: the
 * other family's attempt is refused (reported, ECONNREFUSED), the working
 * one connects. */
static void one_family_refuses(const char* listen_on, int works) {
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  pony_asio_event_t* lev = works == AF_INET ? pony_os_listen_tcp4(&so->base, listen_on, "0")
                                            : pony_os_listen_tcp6(&so->base, listen_on, "0");
  if (!CHECK(lev != NULL)) return;
  char port[16];
  snprintf(port, sizeof port, "%d", port_of(pony_asio_event_fd(lev)));
  CHECK_EQ_INT(pony_os_connect_tcp(&co->base, "", port, NULL, RW_ONESHOT), 2);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, 1) != NULL, WAIT_MS));
  int connected = 0, refused = 0;
  for (int i = 0; i < 2; i++) {
    pony_asio_event_t* ev = nth_event(co, ASIO_WRITE, i);
    if (ev == NULL) continue;
    int fd = pony_asio_event_fd(ev);
    if (pony_os_connected(fd)) {
      connected++;
      CHECK_EQ_INT(family_of_peer(fd), works);
    } else {
      refused += ponynet_take_error() == ECONNREFUSED;
    }
    close_event(co, ev);
  }
  CHECK_EQ_INT(connected, 1);
  CHECK_EQ_INT(refused, 1);
  int s = accept_one(lev);
  CHECK(s > 0);
  if (s > 0) pony_os_socket_close(s);
  close_event(so, lev);
  owner_free(co);
  owner_free(so);
}

TEST(happy_eyeballs_through_the_family_that_does_not_refuse) {
  int fds = harness_open_fds();
  struct addrinfo* six = pony_os_addrinfo(2, "::1", "1");
  bool has6 = six != NULL;
  freeaddrinfo(six);
  if (!has6) {
    printf("  skipped: no IPv6 loopback\n");
    return;
  }
  one_family_refuses("127.0.0.1", AF_INET);
  one_family_refuses("::1", AF_INET6);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* A host name for both families, one of them behind the black hole: the
 * name comes from a private /etc/hosts, bound over the real one in a mount
 * namespace of a child process, which then runs this program again in
 * `--he-child` mode (a process that has not started the library yet). */
static int he_child(const char* host, const char* port, int works) {
  int failed = 0;
#define CHILD_CHECK(c) \
  do { if (!(c)) { failed++; printf("  child check failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); } } while (0)
  rec_owner_t* o = owner_new();
  /* The poller first, so that the fd count below is the test's own. */
  pony_asio_event_t* warm = pony_os_listen_tcp4(&o->base, "127.0.0.1", "0");
  CHILD_CHECK(warm != NULL);
  int warm_fd = pony_asio_event_fd(warm);
  pony_asio_event_unsubscribe(warm);
  CHILD_CHECK(WAIT_UNTIL(rec_count(o, warm, 0) == 1, WAIT_MS));
  pony_asio_event_destroy(warm);
  pony_os_socket_close(warm_fd);
  o->count = 0;
  int fds = harness_open_fds();
  pony_asio_event_t* evs[2] = {NULL, NULL};
  int count = ponynet_os_connect_tcp_events(&o->base, host, port, "", RW_ONESHOT, 0, evs, 2);
  CHILD_CHECK(count == 2);
  /* The working family connects; the other is still in flight. */
  CHILD_CHECK(WAIT_UNTIL(nth_event(o, ASIO_WRITE, 0) != NULL, WAIT_MS));
  pony_asio_event_t* won = nth_event(o, ASIO_WRITE, 0);
  CHILD_CHECK(won != NULL && pony_os_connected(pony_asio_event_fd(won)));
  CHILD_CHECK(won != NULL && family_of_peer(pony_asio_event_fd(won)) == works);
  CHILD_CHECK(!WAIT_UNTIL(nth_event(o, ASIO_WRITE, 1) != NULL, 1000));
  for (int i = 0; i < count && i < 2; i++) {
    if (evs[i] != won) CHILD_CHECK(tcp_state(pony_asio_event_fd(evs[i])) == TCP_SYN_SENT);
    /* The loser is cancelled, as a TCPConnection does once one connected. */
    int fd = pony_asio_event_fd(evs[i]);
    pony_asio_event_unsubscribe(evs[i]);
    CHILD_CHECK(WAIT_UNTIL(rec_count(o, evs[i], 0) == 1, WAIT_MS));
    pony_asio_event_destroy(evs[i]);
    pony_os_socket_close(fd);
  }
  CHILD_CHECK(rec_total(o) == 3); /* one WRITE, two final notifications */
  CHILD_CHECK(ponynet_asio_noisy_count() == 0);
  CHILD_CHECK(harness_open_fds() == fds);
  owner_free(o);
  CHILD_CHECK(ponynet_asio_stop());
  return failed == 0 ? 0 : 1;
#undef CHILD_CHECK
}

/* Runs he_child for `host` in namespace `ns` with `hosts_file` as /etc/hosts. */
static void run_he_child(netns_t* ns, const char* hosts_file, const char* host, const char* port, int works) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    bool ok = unshare(CLONE_NEWNS) == 0 && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0 &&
              mount(hosts_file, "/etc/hosts", "none", MS_BIND, NULL) == 0 && setns(ns->fd, CLONE_NEWNET) == 0;
    if (!ok) {
      printf("  child setup failed: %s\n", strerror(errno));
      _exit(2);
    }
    char family[8];
    snprintf(family, sizeof family, "%d", works);
    execl(self_path, self_path, "--he-child", host, port, family, (char*)NULL);
    _exit(3);
  }
  if (!CHECK(pid > 0)) return;
  int status = -1;
  bool done = WAIT_UNTIL(waitpid(pid, &status, WNOHANG) == pid, 15000);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CHECK(done);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(happy_eyeballs_through_the_family_that_is_not_black_holed) {
  if (skipped()) return;
  int fds = harness_open_fds();
  link_t l;
  char hosts[] = "/tmp/ponynet-hosts-XXXXXX";
  int hfd = mkstemp(hosts);
  CHECK(hfd >= 0);
  const char* text = "198.18.0.1 v6-dead.ponynet.test\n2001:db8:9::1 v6-dead.ponynet.test\n"
                     "198.18.9.1 v4-dead.ponynet.test\n2001:db8::1 v4-dead.ponynet.test\n";
  CHECK(write(hfd, text, strlen(text)) == (ssize_t)strlen(text));
  close(hfd);
  if (CHECK(link_make(&l))) {
    char port4[16], port6[16];
    enter(&l.s);
    int l4 = plain_listener(AF_INET, "198.18.0.1", port4);
    int l6 = plain_listener(AF_INET6, "2001:db8::1", port6);
    leave();
    run_he_child(&l.c, hosts, "v6-dead.ponynet.test", port4, AF_INET);
    run_he_child(&l.c, hosts, "v4-dead.ponynet.test", port6, AF_INET6);
    close(l4);
    close(l6);
  }
  unlink(hosts);
  link_free(&l);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* ---- resets in the middle of a transfer -------------------------------- */

/* Sets SIGPIPE to its default (a SIGPIPE would kill the test) and back. */
static struct sigaction saved_pipe;

static void sigpipe_kills(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, &saved_pipe);
}

static void sigpipe_restore(void) { sigaction(SIGPIPE, &saved_pipe, NULL); }

static void reset(int fd) {
  struct linger lg = {1, 0};
  CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
  close(fd);
}

/* The peer resets while the library's side is writing 64 MiB: the writer,
 * waiting for WRITE on a full socket, hears of it and its next send fails
 * with ECONNRESET or EPIPE. The peer reads a little first, so the reset
 * comes mid-stream with data queued on both sides. */
TEST(a_reset_while_writing_fails_the_write) {
  int fds = harness_open_fds();
  sigpipe_kills();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  pony_asio_event_t* lev = pony_os_listen_tcp4(&so->base, "127.0.0.1", "0");
  pony_asio_event_t* cev;
  int sfd;
  if (CHECK(lev != NULL) && make_pair(co, lev, &cev, &sfd)) {
    size_t total = 64 * MIB;
    unsigned char* data = patterned(total);
    writer_t w = {co, cev, data, total, 0, 0, 0};
    /* Fill the socket, read a little on the peer, then reset it. */
    size_t put;
    while ((put = pony_os_send(cev, (const char*)data + w.sent, 65536)) > 0) w.sent += put;
    CHECK_EQ_INT(ponynet_take_error(), 0);
    unsigned char buf[65536];
    size_t peer_got = 0;
    ssize_t n;
    while (peer_got < 200000 && (n = recv(sfd, buf, sizeof buf, MSG_DONTWAIT)) > 0) peer_got += (size_t)n;
    CHECK(peer_got > 0);
    reset(sfd);
    uint64_t t0 = harness_now_ms();
    writer_run(&w);
    CHECK(w.err == ECONNRESET || w.err == EPIPE);
    CHECK(w.sent < total);
    CHECK(harness_now_ms() - t0 < WAIT_MS);
    /* Later writes fail too, at once. */
    CHECK_EQ_INT(pony_os_send(cev, "x", 1), 0);
    int err = ponynet_take_error();
    CHECK(err == EPIPE || err == ECONNRESET);
    free(data);
    close_event(co, cev);
  }
  if (lev != NULL) close_event(so, lev);
  owner_free(co);
  owner_free(so);
  sigpipe_restore();
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* The peer resets after writing part of a stream: the library's reader
 * gets a prefix of it (never more, never out of order) and then ECONNRESET,
 * not an orderly end. */
TEST(a_reset_while_reading_ends_the_stream_with_econnreset) {
  int fds = harness_open_fds();
  sigpipe_kills();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  pony_asio_event_t* lev = pony_os_listen_tcp4(&so->base, "127.0.0.1", "0");
  pony_asio_event_t* cev;
  int sfd;
  if (CHECK(lev != NULL) && make_pair(co, lev, &cev, &sfd)) {
    /* The library reads on the accepted side; the plain client writes. */
    int cfd = pony_asio_event_fd(cev);
    size_t total = 8 * MIB;
    sink_t* s = sink_new(sfd, total + 1);
    unsigned char* data = patterned(total);
    size_t sent = 0;
    ssize_t n;
    /* Write until the reader has some and the rest is queued, then reset. */
    uint64_t deadline = harness_now_ms() + WAIT_MS;
    while (sent < total && (sink_got(s) == 0 || sent < 4 * MIB) && harness_now_ms() < deadline) {
      n = send(cfd, data + sent, total - sent < 65536 ? total - sent : 65536, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) sent += (size_t)n;
      else harness_pause();
    }
    CHECK(sink_got(s) > 0);
    pony_asio_event_unsubscribe(cev); /* the plain socket is ours from here */
    CHECK(WAIT_UNTIL(rec_count(co, cev, 0) == 1, WAIT_MS));
    pony_asio_event_destroy(cev);
    reset(cfd);
    CHECK(WAIT_UNTIL(sink_end(s) != 0, WAIT_MS));
    CHECK_EQ_INT(sink_end(s), ECONNRESET);
    CHECK(sink_got(s) <= sent);
    CHECK(is_pattern(s->buf, sink_got(s)));
    sink_free(s);
    free(data);
  }
  if (lev != NULL) close_event(so, lev);
  owner_free(co);
  owner_free(so);
  sigpipe_restore();
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* ---- half-close with a large transfer after it ------------------------- */

typedef struct {
  int fd;
  size_t total;
  size_t got;
  bool intact;
} plain_peer_t;

/* Reads `fd` (blocking) to its end, checking the pattern. */
static void* plain_read_all(void* arg) {
  plain_peer_t* p = arg;
  unsigned char* buf = malloc(65536);
  int fl = fcntl(p->fd, F_GETFL);
  fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK);
  p->intact = true;
  ssize_t n;
  while ((n = recv(p->fd, buf, 65536, 0)) > 0) {
    for (ssize_t i = 0; i < n; i++) p->intact &= buf[i] == pattern(p->got + (size_t)i);
    p->got += (size_t)n;
  }
  free(buf);
  return NULL;
}

/* Writes the pattern to `fd` (blocking), then shuts down its side. */
static void* plain_write_all(void* arg) {
  plain_peer_t* p = arg;
  unsigned char* data = patterned(p->total);
  int fl = fcntl(p->fd, F_GETFL);
  fcntl(p->fd, F_SETFL, fl & ~O_NONBLOCK);
  while (p->got < p->total) {
    ssize_t n = send(p->fd, data + p->got, p->total - p->got, MSG_NOSIGNAL);
    if (n <= 0) break;
    p->got += (size_t)n;
  }
  shutdown(p->fd, SHUT_WR);
  free(data);
  return NULL;
}

/* The peer sends a request and shuts down its sending side; the library's
 * side reads the request and the orderly end, then writes an 8 MiB reply,
 * all of which arrives. Then the other way round: the library's side shuts
 * down its sending side and still reads 8 MiB from the peer. */
TEST(a_half_closed_peer_still_gets_and_sends_8_mib) {
  int fds = harness_open_fds();
  sigpipe_kills();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  pony_asio_event_t* lev = pony_os_listen_tcp4(&so->base, "127.0.0.1", "0");
  pony_asio_event_t* cev;
  int sfd;
  size_t total = 8 * MIB;
  if (CHECK(lev != NULL) && make_pair(co, lev, &cev, &sfd)) {
    CHECK(send(sfd, "request", 7, 0) == 7);
    CHECK(shutdown(sfd, SHUT_WR) == 0);
    char req[16];
    size_t n = 0;
    CHECK(WAIT_UNTIL((n = pony_os_recv(cev, req, sizeof req)) != 0, WAIT_MS));
    CHECK_EQ_INT(n, 7);
    CHECK_EQ_INT(pony_os_recv(cev, req, sizeof req), 0);
    CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_EOF);
    plain_peer_t peer = {sfd, total, 0, false};
    pthread_t t;
    pthread_create(&t, NULL, plain_read_all, &peer);
    unsigned char* data = patterned(total);
    writer_t w = {co, cev, data, total, 0, 0, 0};
    writer_run(&w);
    CHECK_EQ_INT(w.err, 0);
    CHECK_EQ_INT(w.sent, total);
    pony_os_socket_shutdown(pony_asio_event_fd(cev));
    pthread_join(t, NULL); /* ends at our shutdown */
    CHECK_EQ_INT(peer.got, total);
    CHECK(peer.intact);
    free(data);
    close_event(co, cev);
    close(sfd);
  }
  co->count = 0;
  if (lev != NULL && make_pair(co, lev, &cev, &sfd)) {
    /* The library's side is now the accepted one, read by a sink. */
    int cfd = pony_asio_event_fd(cev);
    pony_asio_event_unsubscribe(cev);
    CHECK(WAIT_UNTIL(rec_count(co, cev, 0) == 1, WAIT_MS));
    pony_asio_event_destroy(cev);
    sink_t* s = sink_new(sfd, total + 1);
    pony_os_socket_shutdown(sfd);
    char c;
    CHECK(WAIT_UNTIL(recv(cfd, &c, 1, MSG_DONTWAIT) == 0, WAIT_MS)); /* the peer sees our end */
    plain_peer_t peer = {cfd, total, 0, false};
    pthread_t t;
    pthread_create(&t, NULL, plain_write_all, &peer);
    CHECK(WAIT_UNTIL(sink_end(s) != 0, 20000));
    pthread_join(t, NULL);
    CHECK_EQ_INT(peer.got, total);
    CHECK_EQ_INT(sink_end(s), PONYNET_ERR_EOF);
    CHECK_EQ_INT(sink_got(s), total);
    CHECK(is_pattern(s->buf, sink_got(s)));
    sink_free(s);
    close(cfd);
  }
  if (lev != NULL) close_event(so, lev);
  owner_free(co);
  owner_free(so);
  sigpipe_restore();
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* ---- EMFILE on connect ------------------------------------------------- */

static int lowest_free_fd(void) {
  int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
  close(fd);
  return fd;
}

/* With no fd left, a connect fails at once with EMFILE: no attempt, no
 * notification, nothing leaked. With one fd left, Happy Eyeballs starts the
 * one attempt it can. Once fds are free again, connects work. */
TEST(emfile_on_connect_fails_cleanly_and_recovers) {
  int fds = harness_open_fds();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  /* "::" takes IPv4 too (dual stack): every attempt to "" can connect. */
  pony_asio_event_t* lev = pony_os_listen_tcp6(&so->base, "::", "0");
  if (lev == NULL) lev = pony_os_listen_tcp4(&so->base, "0.0.0.0", "0");
  if (!CHECK(lev != NULL)) return;
  char port[16];
  snprintf(port, sizeof port, "%d", port_of(pony_asio_event_fd(lev)));
  struct addrinfo* six = pony_os_addrinfo(2, "::1", "1");
  bool both = six != NULL;
  freeaddrinfo(six);
  int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
  struct rlimit saved, low;
  getrlimit(RLIMIT_NOFILE, &saved);
  low = saved;
  low.rlim_cur = (rlim_t)lowest_free_fd();
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);

  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", port, NULL, RW_ONESHOT), 0);
  CHECK_EQ_INT(ponynet_take_error(), EMFILE);
  CHECK_EQ_INT(pony_os_connect_tcp(&co->base, "", port, NULL, RW_ONESHOT), 0);
  CHECK_EQ_INT(ponynet_take_error(), EMFILE);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 1);

  /* One fd free: one attempt of two. */
  close(spare);
  int count = pony_os_connect_tcp(&co->base, "", port, NULL, RW_ONESHOT);
  CHECK_EQ_INT(count, 1);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, 0) != NULL, WAIT_MS));
  pony_asio_event_t* first = nth_event(co, ASIO_WRITE, 0);
  if (first != NULL) {
    CHECK(pony_os_connected(pony_asio_event_fd(first)));
    close_event(co, first); /* frees its fd */
  }
  CHECK(!WAIT_UNTIL(rec_total(co) > 2, 200)); /* no other attempt reported */

  int accepts = first != NULL;
  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  co->count = 0; /* a new event may reuse a destroyed one's address */
  count = pony_os_connect_tcp(&co->base, "", port, NULL, RW_ONESHOT);
  CHECK_EQ_INT(count, both ? 2 : 1);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, count - 1) != NULL, WAIT_MS));
  for (int i = 0; i < count; i++) {
    pony_asio_event_t* ev = nth_event(co, ASIO_WRITE, i);
    if (ev == NULL) continue;
    accepts += pony_os_connected(pony_asio_event_fd(ev));
    close_event(co, ev);
  }
  CHECK_EQ_INT(accepts, 1 + count);
  for (int i = 0; i < accepts; i++) {
    int s = accept_one(lev);
    if (CHECK(s > 0)) pony_os_socket_close(s);
  }
  close_event(so, lev);
  owner_free(co);
  owner_free(so);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* ---- a signal storm during I/O ---------------------------------------- */

typedef struct {
  int stop; /* atomic */
  long sent; /* atomic */
} storm_t;

/* Bounded: it stops when told, or after a million signals. */
static void* signal_storm(void* arg) {
  storm_t* st = arg;
  while (!__atomic_load_n(&st->stop, __ATOMIC_ACQUIRE) && __atomic_load_n(&st->sent, __ATOMIC_RELAXED) < 1000000) {
    kill(getpid(), SIGUSR1);
    __atomic_add_fetch(&st->sent, 1, __ATOMIC_RELEASE);
  }
  return NULL;
}

/* Counts an ASIO_SIGNAL event's deliveries (the sum of their args). */
typedef struct {
  ponynet_owner_t base;
  uint64_t counted;    /* atomic */
  int notifications;   /* atomic */
  int disposed;        /* atomic */
} signal_counter_t;

static void signal_counter_notify(ponynet_owner_t* base, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)ev;
  signal_counter_t* c = (signal_counter_t*)base;
  if (flags == ASIO_DISPOSABLE) {
    __atomic_store_n(&c->disposed, 1, __ATOMIC_RELEASE);
  } else if (flags & ASIO_SIGNAL) {
    __atomic_add_fetch(&c->counted, arg, __ATOMIC_ACQ_REL);
    __atomic_add_fetch(&c->notifications, 1, __ATOMIC_ACQ_REL);
  }
}

static uint64_t counted(signal_counter_t* c) { return __atomic_load_n(&c->counted, __ATOMIC_ACQUIRE); }

/* Whether the count stays the same for 100 ms (no delivery left in flight). */
static bool count_settles(signal_counter_t* c) {
  uint64_t before = counted(c);
  usleep(100000);
  return counted(c) == before;
}

/* SIGUSR1 sent to the process in a tight loop while 8 MiB go through the
 * library (the writer on this thread, the reader on the I/O thread), with an
 * ASIO_SIGNAL event watching SIGUSR1: every byte arrives in order, no call
 * fails (EINTR is the library's to retry), and the counts add up: at most
 * one per signal sent (the kernel merges a pending signal with the next),
 * and one more raise adds exactly one. */
TEST(a_signal_storm_during_a_transfer_loses_nothing) {
  int fds = harness_open_fds();
  struct sigaction ign, before;
  memset(&ign, 0, sizeof ign);
  ign.sa_handler = SIG_IGN;
  sigaction(SIGUSR1, &ign, &before); /* what comes back: stragglers are ignored */
  signal_counter_t sc;
  memset(&sc, 0, sizeof sc);
  sc.base.notify = signal_counter_notify;
  pony_asio_event_t* sev = pony_asio_event_create(&sc.base, -1, ASIO_SIGNAL, SIGUSR1, false);
  CHECK(sev != NULL);
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  pony_asio_event_t* lev = pony_os_listen_tcp4(&so->base, "127.0.0.1", "0");
  pony_asio_event_t* cev;
  int sfd;
  if (CHECK(lev != NULL) && make_pair(co, lev, &cev, &sfd)) {
    size_t total = 8 * MIB;
    int small = 65536; /* many full-socket rounds, each a WRITE to wait for */
    setsockopt(pony_asio_event_fd(cev), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    sink_t* s = sink_new(sfd, total + 1);
    unsigned char* data = patterned(total);
    storm_t st = {0, 0};
    pthread_t t;
    pthread_create(&t, NULL, signal_storm, &st);
    CHECK(WAIT_UNTIL(counted(&sc) > 0, WAIT_MS)); /* the storm is on */
    writer_t w = {co, cev, data, total, 0, 0, 0};
    writer_run(&w);
    CHECK(WAIT_UNTIL(sink_got(s) == total, WAIT_MS));
    long during = __atomic_load_n(&st.sent, __ATOMIC_ACQUIRE);
    __atomic_store_n(&st.stop, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK_EQ_INT(w.err, 0);
    CHECK_EQ_INT(w.sent, total);
    CHECK_EQ_INT(sink_end(s), 0);
    CHECK(is_pattern(s->buf, sink_got(s)));
    CHECK(WAIT_UNTIL(count_settles(&sc), WAIT_MS));
    uint64_t settled = counted(&sc);
    printf("  %ld signals sent (%ld during the transfer), %llu counted in %d notifications\n", st.sent, during,
           (unsigned long long)settled, __atomic_load_n(&sc.notifications, __ATOMIC_ACQUIRE));
    CHECK(settled >= 1);
    CHECK(settled <= (uint64_t)st.sent);
    raise(SIGUSR1);
    CHECK(WAIT_UNTIL(counted(&sc) == settled + 1, WAIT_MS));
    CHECK(!WAIT_UNTIL(counted(&sc) > settled + 1, 200));
    sink_free(s);
    free(data);
    close_event(co, cev);
  }
  if (lev != NULL) close_event(so, lev);
  pony_asio_event_unsubscribe(sev);
  CHECK(WAIT_UNTIL(__atomic_load_n(&sc.disposed, __ATOMIC_ACQUIRE), WAIT_MS));
  pony_asio_event_destroy(sev);
  struct sigaction now;
  sigaction(SIGUSR1, NULL, &now);
  CHECK(now.sa_handler == SIG_IGN); /* the previous disposition is back */
  sigaction(SIGUSR1, &before, NULL);
  owner_free(co);
  owner_free(so);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(stop_at_the_end) {
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK(ponynet_asio_stop());
}

int main(int argc, char** argv) {
  if (realpath(argv[0], self_path) == NULL) snprintf(self_path, sizeof self_path, "%s", argv[0]);
  if (argc == 5 && strcmp(argv[1], "--he-child") == 0) return he_child(argv[2], argv[3], atoi(argv[4]));
  home_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

  /* Create the poller first, so that each test's fd count is its own. */
  rec_owner_t* warm = owner_new();
  close_event(warm, pony_os_listen_tcp4(&warm->base, "127.0.0.1", "0"));
  owner_free(warm);

  RUN(a_connect_storm_over_a_rate_limited_link_fails_as_the_kernel_decides);
  RUN(a_transfer_over_a_rate_limited_link_arrives_intact);
  RUN(black_holed_routes_fail_at_once_or_hang_until_cancelled);
  RUN(happy_eyeballs_through_the_family_that_does_not_refuse);
  RUN(happy_eyeballs_through_the_family_that_is_not_black_holed);
  RUN(a_reset_while_writing_fails_the_write);
  RUN(a_reset_while_reading_ends_the_stream_with_econnreset);
  RUN(a_half_closed_peer_still_gets_and_sends_8_mib);
  RUN(emfile_on_connect_fails_cleanly_and_recovers);
  RUN(a_signal_storm_during_a_transfer_loses_nothing);
  RUN(stop_at_the_end);
  return harness_summary();
}
