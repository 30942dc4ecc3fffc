/* TCP sockets (ABI.md §3, §4, §5) through the header only: listen, Happy
 * Eyeballs connect, accept, recv/send/writev and their failures, options,
 * close-on-exec, never blocking, never SIGPIPE, the EMFILE re-offer, and no
 * fd leak. Talks to 127.0.0.1 and ::1 only. */
#include "harness.h"
#include "owner.h"
#include "ponynet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000
#define RW_ONESHOT (ASIO_READ | ASIO_WRITE | ASIO_ONESHOT)

/* ---- helpers ---------------------------------------------------------- */

static rec_owner_t* owner_new(void) {
  rec_owner_t* o = malloc(sizeof *o);
  rec_init(o);
  return o;
}

static void owner_free(rec_owner_t* o) {
  rec_fini(o);
  free(o);
}

/* Unsubscribes, waits for the final notification, destroys. */
static void dispose(rec_owner_t* o, pony_asio_event_t* ev) {
  pony_asio_event_unsubscribe(ev);
  CHECK(WAIT_UNTIL(rec_count(o, ev, 0) == 1, WAIT_MS));
  pony_asio_event_destroy(ev);
}

/* Disposes of the event and closes its socket, as an owner does. */
static void close_event(rec_owner_t* o, pony_asio_event_t* ev) {
  int fd = pony_asio_event_fd(ev);
  dispose(o, ev);
  pony_os_socket_close(fd);
}

static int port_of(int fd) {
  pony_ipaddress_t a;
  memset(&a, 0, sizeof a);
  if (!pony_os_sockname(fd, &a)) return -1;
  if (a.addr.ss_family == AF_INET) return ntohs(((struct sockaddr_in*)&a.addr)->sin_port);
  if (a.addr.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6*)&a.addr)->sin6_port);
  return -1;
}

/* A listener on 127.0.0.1, port 0; its port as text in `port`. */
static pony_asio_event_t* listen4(rec_owner_t* o, char port[16]) {
  pony_asio_event_t* ev = pony_os_listen_tcp4(&o->base, "127.0.0.1", "0");
  CHECK(ev != NULL);
  snprintf(port, 16, "%d", ev ? port_of(pony_asio_event_fd(ev)) : -1);
  return ev;
}

/* The i-th distinct event (0-based) of `o` that got a notification with `mask`. */
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

/* A connected pair: the client's event (owner co, read/write/oneshot, as
 * Pony's TCPConnection asks) and the server's accepted fd. */
static bool make_pair(rec_owner_t* co, pony_asio_event_t* lev, const char* port, pony_asio_event_t** cev, int* sfd) {
  *cev = NULL;
  *sfd = -1;
  if (!CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", port, NULL, RW_ONESHOT), 1)) return false;
  if (!CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, 0) != NULL, WAIT_MS))) return false;
  *cev = nth_event(co, ASIO_WRITE, 0);
  CHECK(pony_os_connected(pony_asio_event_fd(*cev)));
  *sfd = accept_one(lev);
  return CHECK(*sfd > 0);
}

/* A local socket pair of `type` whose first end `o` watches with `flags`. */
static pony_asio_event_t* watched_pair(rec_owner_t* o, int type, uint32_t flags, int sv[2]) {
  CHECK(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0);
  return pony_asio_event_create(&o->base, sv[0], flags, 0, false);
}

static bool cloexec_nonblock(int fd) {
  return (fcntl(fd, F_GETFD) & FD_CLOEXEC) && (fcntl(fd, F_GETFL) & O_NONBLOCK);
}

/* A port that nobody listens on (a listener's, just closed). */
static void dead_port(int family, char port[16]) {
  int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  if (family == AF_INET) {
    struct sockaddr_in* in = (struct sockaddr_in*)&ss;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof *in;
  } else {
    struct sockaddr_in6* in6 = (struct sockaddr_in6*)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_loopback;
    len = sizeof *in6;
  }
  CHECK(bind(s, (struct sockaddr*)&ss, len) == 0);
  snprintf(port, 16, "%d", port_of(s));
  close(s);
}

/* Connects to a closed port: refused either at once (count 0, ECONNREFUSED
 * recorded) or later (one attempt whose WRITE shows it not connected). */
static void expect_refused(int count, rec_owner_t* co) {
  if (count == 0) {
    CHECK_EQ_INT(ponynet_take_error(), ECONNREFUSED);
    return;
  }
  CHECK_EQ_INT(count, 1);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, 0) != NULL, WAIT_MS));
  pony_asio_event_t* ev = nth_event(co, ASIO_WRITE, 0);
  CHECK(!pony_os_connected(pony_asio_event_fd(ev)));
  CHECK_EQ_INT(ponynet_take_error(), ECONNREFUSED); /* the kernel's verdict, from SO_ERROR */
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 1);
  close_event(co, ev);
}

/* ---- tests ------------------------------------------------------------ */

TEST(listen_on_port_0_then_learn_the_port) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  char port[16];
  pony_asio_event_t* ev = listen4(o, port);
  CHECK(atoi(port) > 0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 1);
  int fd = pony_asio_event_fd(ev);
  CHECK(cloexec_nonblock(fd));
  pony_ipaddress_t a;
  CHECK(pony_os_sockname(fd, &a));
  CHECK(pony_os_ipv4(&a) && !pony_os_ipv6(&a));
  CHECK_EQ_INT(((struct sockaddr_in*)&a.addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  CHECK(!pony_os_peername(fd, &a)); /* a listener has no peer */
  close_event(o, ev);

  /* Empty host = any (NULL fails, as every NULL argument does); sockname reports loopback. */
  CHECK(pony_os_listen_tcp4(&o->base, NULL, "0") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  pony_asio_event_t* any = pony_os_listen_tcp(&o->base, "", "0");
  CHECK(any != NULL);
  CHECK(pony_os_sockname(pony_asio_event_fd(any), &a));
  if (pony_os_ipv4(&a)) CHECK_EQ_INT(((struct sockaddr_in*)&a.addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  else CHECK(memcmp(&((struct sockaddr_in6*)&a.addr)->sin6_addr, &in6addr_loopback, 16) == 0);
  pony_asio_event_t* any4 = pony_os_listen_tcp4(&o->base, "", "0");
  CHECK(any4 != NULL);
  CHECK(pony_os_sockname(pony_asio_event_fd(any4), &a) && pony_os_ipv4(&a));
  CHECK_EQ_INT(((struct sockaddr_in*)&a.addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  pony_asio_event_t* six = pony_os_listen_tcp6(&o->base, "::1", "0");
  CHECK(six != NULL);
  CHECK(pony_os_sockname(pony_asio_event_fd(six), &a) && pony_os_ipv6(&a));
  CHECK(cloexec_nonblock(pony_asio_event_fd(six)));
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 3);
  close_event(o, any);
  close_event(o, any4);
  close_event(o, six);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  owner_free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(listen_failures_return_null_and_leak_nothing) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  char port[16];
  pony_asio_event_t* ev = listen4(o, port);
  /* The port is taken (SO_REUSEADDR does not allow two listeners). */
  CHECK(pony_os_listen_tcp4(&o->base, "127.0.0.1", port) == NULL);
  CHECK(ponynet_take_error() == EADDRINUSE);
  CHECK(pony_os_listen_tcp4(&o->base, "::1", "0") == NULL); /* wrong family */
  CHECK(pony_os_listen_tcp6(&o->base, "127.0.0.1", "0") == NULL);
  CHECK(pony_os_listen_tcp(&o->base, "127.0.0.1", "no-such-service-xyz") == NULL);
  CHECK(pony_os_listen_tcp(NULL, "127.0.0.1", "0") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK(pony_os_listen_tcp(&o->base, "127.0.0.1", NULL) == NULL);
  CHECK(pony_os_listen_tcp4(NULL, NULL, NULL) == NULL);
  CHECK(pony_os_listen_tcp6(NULL, NULL, NULL) == NULL);
  close_event(o, ev);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK_EQ_INT(rec_total(o), 1); /* only ev's final notification */
  owner_free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* A service above 65535 (getaddrinfo alone would take it modulo 65536:
 * "99999" is port 34463, "65536" a free port), a signed one, or one with
 * spaces is EINVAL for listen and connect, literal host or name. */
TEST(out_of_range_and_malformed_ports_fail_with_einval) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  const char* bad[] = {"99999", "4294967297", "65536", "18446744073709551697", "-1", "+80", " 80", "80 "};
  pony_asio_event_t* evs[4];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const char* hosts[] = {"127.0.0.1", "localhost"};
    for (int h = 0; h < 2; h++) {
      pony_asio_event_t* ev = pony_os_listen_tcp4(&o->base, hosts[h], bad[i]);
      if (!CHECK(ev == NULL)) printf("  listen(%s, \"%s\") on port %d\n", hosts[h], bad[i], port_of(pony_asio_event_fd(ev)));
      CHECK_EQ_INT(ponynet_take_error(), EINVAL);
      CHECK_EQ_INT(pony_os_connect_tcp4(&o->base, hosts[h], bad[i], NULL, RW_ONESHOT), 0);
      CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    }
    CHECK(pony_os_listen_tcp(&o->base, "", bad[i]) == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK(pony_os_listen_tcp6(&o->base, "::1", bad[i]) == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK_EQ_INT(pony_os_connect_tcp(&o->base, "::1", bad[i], NULL, RW_ONESHOT), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK_EQ_INT(ponynet_os_connect_tcp_events(&o->base, "127.0.0.1", bad[i], "", RW_ONESHOT, 0, evs, 4), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  }
  /* Port 0 (or no port) is nothing to connect to. */
  const char* zero[] = {"0", "00", ""};
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(pony_os_connect_tcp4(&o->base, "127.0.0.1", zero[i], NULL, RW_ONESHOT), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK_EQ_INT(pony_os_connect_tcp(&o->base, "localhost", zero[i], NULL, RW_ONESHOT), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  }
  CHECK_EQ_INT(rec_total(o), 0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  /* To listen, an empty service is port 0: a free port, with any host. */
  const char* listen_hosts[] = {"127.0.0.1", "localhost", ""};
  for (int h = 0; h < 3; h++) {
    pony_asio_event_t* ev = pony_os_listen_tcp4(&o->base, listen_hosts[h], "");
    if (!CHECK(ev != NULL)) continue;
    CHECK(port_of(pony_asio_event_fd(ev)) > 0);
    close_event(o, ev);
  }
  /* Leading zeros are decimal, as getaddrinfo reads them. */
  char port[16], padded[24];
  pony_asio_event_t* lev = listen4(o, port);
  snprintf(padded, sizeof padded, "000%s", port);
  rec_owner_t* co = owner_new();
  pony_asio_event_t* cev;
  int sfd;
  if (make_pair(co, lev, port, &cev, &sfd)) {
    close_event(co, cev);
    close(sfd);
  }
  rec_fini(co);
  rec_init(co);
  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", padded, NULL, RW_ONESHOT), 1);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, 0) != NULL, WAIT_MS));
  cev = nth_event(co, ASIO_WRITE, 0);
  if (CHECK(cev != NULL)) {
    CHECK(pony_os_connected(pony_asio_event_fd(cev)));
    close_event(co, cev);
  }
  sfd = accept_one(lev);
  if (CHECK(sfd > 0)) close(sfd);
  close_event(o, lev);
  owner_free(co);
  owner_free(o);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(hostile_host_strings_fail_fast) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  size_t big = 100000;
  char* longname = malloc(big + 1);
  memset(longname, 'a', big);
  longname[big] = '\0';
  const char* bad[] = {longname, "\xff\xfe\xfd", "caf\xc3\xa9.local", "a b", "x;rm -rf /", "\t", "a/b", "127.0.0.1\n"};
  uint64_t t0 = harness_now_ms();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(pony_os_listen_tcp(&o->base, bad[i], "0") == NULL);
    CHECK_EQ_INT(pony_os_connect_tcp(&o->base, bad[i], "80", NULL, RW_ONESHOT), 0);
    CHECK_EQ_INT(pony_os_connect_tcp4(&o->base, "127.0.0.1", bad[i], NULL, RW_ONESHOT), 0);
    CHECK_EQ_INT(pony_os_connect_tcp4(&o->base, "127.0.0.1", "1", bad[i], RW_ONESHOT), 0);
    CHECK(pony_os_addrinfo(0, bad[i], "80") == NULL);
    CHECK(!pony_os_host_ip4(bad[i]) && !pony_os_host_ip6(bad[i]));
  }
  CHECK(harness_now_ms() - t0 < 2000); /* no DNS round trips for garbage */
  free(longname);
  CHECK_EQ_INT(rec_total(o), 0);
  owner_free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(connect_accept_send_recv_and_names) {
  int fds = harness_open_fds();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  char port[16];
  pony_asio_event_t* lev = listen4(so, port);
  CHECK_EQ_INT(pony_os_accept(lev), 0); /* none pending */
  pony_asio_event_t* cev;
  int sfd;
  if (make_pair(co, lev, port, &cev, &sfd)) {
    CHECK(WAIT_UNTIL(rec_count(so, lev, ASIO_READ) >= 1, WAIT_MS));
    int cfd = pony_asio_event_fd(cev);
    CHECK(cloexec_nonblock(cfd));
    CHECK(cloexec_nonblock(sfd));
    CHECK_EQ_INT(pony_os_accept(lev), 0);
    /* Names: each side's peer is the other's local address. */
    pony_ipaddress_t cl, cp, sl, sp;
    CHECK(pony_os_sockname(cfd, &cl) && pony_os_peername(cfd, &cp));
    CHECK(pony_os_sockname(sfd, &sl) && pony_os_peername(sfd, &sp));
    CHECK(memcmp(&cl.addr, &sp.addr, sizeof(struct sockaddr_in)) == 0);
    CHECK(memcmp(&cp.addr, &sl.addr, sizeof(struct sockaddr_in)) == 0);
    CHECK_EQ_INT(port_of(sfd), atoi(port));
    /* Data both ways. */
    CHECK_EQ_INT(pony_os_send(cev, "hello", 5), 5);
    CHECK_EQ_INT(ponynet_take_error(), 0);
    char buf[16] = {0};
    CHECK(WAIT_UNTIL(recv(sfd, buf, sizeof buf, MSG_DONTWAIT) == 5, WAIT_MS));
    CHECK(memcmp(buf, "hello", 5) == 0);
    CHECK(write(sfd, "world!", 6) == 6);
    size_t n = 0;
    CHECK(WAIT_UNTIL(rec_count(co, cev, ASIO_READ) >= 1, WAIT_MS));
    CHECK(WAIT_UNTIL((n = pony_os_recv(cev, buf, sizeof buf)) != 0, WAIT_MS));
    CHECK_EQ_INT(n, 6);
    CHECK(memcmp(buf, "world!", 6) == 0);
    CHECK_EQ_INT(pony_os_recv(cev, buf, sizeof buf), 0); /* would block */
    CHECK_EQ_INT(ponynet_take_error(), 0);
    /* The owner's loop: read to 0, clear readable, resubscribe; new data notifies again. */
    pony_asio_event_set_readable(cev, false);
    pony_asio_event_resubscribe_read(cev);
    int reads = rec_count(co, cev, ASIO_READ);
    CHECK(write(sfd, "!", 1) == 1);
    CHECK(WAIT_UNTIL(rec_count(co, cev, ASIO_READ) > reads, WAIT_MS));
    CHECK_EQ_INT(pony_os_recv(cev, buf, sizeof buf), 1);
    /* Options and errno. */
    CHECK(pony_os_connected(cfd));
    CHECK(!pony_os_connected(-1));
    CHECK_EQ_INT(ponynet_take_error(), EBADF);
    errno = EAGAIN;
    CHECK_EQ_INT(pony_os_errno(), EAGAIN);
    close_event(co, cev);
    pony_os_socket_close(sfd);
  }
  close_event(so, lev);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  owner_free(co);
  owner_free(so);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(connect_from_a_local_address_and_to_any) {
  int fds = harness_open_fds();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  char port[16];
  pony_asio_event_t* lev = listen4(so, port);
  /* Bound to a chosen local address first. */
  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", port, "127.0.0.1", RW_ONESHOT), 1);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, 0) != NULL, WAIT_MS));
  pony_asio_event_t* a = nth_event(co, ASIO_WRITE, 0);
  CHECK(pony_os_connected(pony_asio_event_fd(a)));
  int s1 = accept_one(lev);
  CHECK(s1 > 0);
  /* "Any" as destination means loopback. */
  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "0.0.0.0", port, "", RW_ONESHOT), 1);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, 1) != NULL, WAIT_MS));
  pony_asio_event_t* b = nth_event(co, ASIO_WRITE, 1);
  CHECK(pony_os_connected(pony_asio_event_fd(b)));
  pony_ipaddress_t peer;
  CHECK(pony_os_peername(pony_asio_event_fd(b), &peer));
  CHECK_EQ_INT(((struct sockaddr_in*)&peer.addr)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  int s2 = accept_one(lev);
  CHECK(s2 > 0);
  /* A `from` that does not resolve in the family drops the attempt, leaking nothing. */
  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", port, "::1", RW_ONESHOT), 0);
  CHECK(ponynet_take_error() != 0);
  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", port, "bad from!", RW_ONESHOT), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  /* Flags create cannot use: nothing in flight, nothing leaked. */
  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", port, NULL, ASIO_DISPOSABLE), 0);
  close_event(co, a);
  close_event(co, b);
  pony_os_socket_close(s1);
  pony_os_socket_close(s2);
  /* The refused attempt above may have reached the listener before it was dropped. */
  int extra;
  while ((extra = pony_os_accept(lev)) > 0) pony_os_socket_close(extra);
  close_event(so, lev);
  owner_free(co);
  owner_free(so);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(connect_refused_ipv4_and_ipv6) {
  int fds = harness_open_fds();
  char port[16];
  rec_owner_t* co = owner_new();
  dead_port(AF_INET, port);
  expect_refused(pony_os_connect_tcp4(&co->base, "127.0.0.1", port, NULL, RW_ONESHOT), co);
  owner_free(co);
  co = owner_new();
  dead_port(AF_INET6, port);
  expect_refused(pony_os_connect_tcp6(&co->base, "::1", port, NULL, RW_ONESHOT), co);
  owner_free(co);
  co = owner_new();
  dead_port(AF_INET, port);
  expect_refused(pony_os_connect_tcp(&co->base, "127.0.0.1", port, NULL, RW_ONESHOT), co);
  /* Wrong family for the literal: nothing to try. */
  CHECK_EQ_INT(pony_os_connect_tcp6(&co->base, "127.0.0.1", port, NULL, RW_ONESHOT), 0);
  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "::1", port, NULL, RW_ONESHOT), 0);
  /* NULL arguments. */
  CHECK_EQ_INT(pony_os_connect_tcp(NULL, "127.0.0.1", port, NULL, RW_ONESHOT), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(pony_os_connect_tcp(&co->base, NULL, port, NULL, RW_ONESHOT), 0);
  CHECK_EQ_INT(pony_os_connect_tcp4(&co->base, "127.0.0.1", NULL, NULL, RW_ONESHOT), 0);
  CHECK_EQ_INT(pony_os_connect_tcp6(NULL, NULL, NULL, NULL, 0), 0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  owner_free(co);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* The addition to ABI.md: connect that hands back each attempt's event,
 * so an owner can cancel attempts before they report. */
TEST(connect_events_can_be_cancelled_before_they_report) {
  int fds = harness_open_fds();
  rec_owner_t* co = owner_new();
  char port[16];
  dead_port(AF_INET, port);
  pony_asio_event_t* evs[4] = {NULL, NULL, NULL, NULL};
  int n = ponynet_os_connect_tcp_events(&co->base, "127.0.0.1", port, "", RW_ONESHOT, 1, evs, 4);
  CHECK_EQ_INT(n, 1);
  CHECK(evs[0] != NULL && evs[1] == NULL);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 1);
  int fd = pony_asio_event_fd(evs[0]);
  CHECK(cloexec_nonblock(fd));
  /* Cancel at once: unsubscribe, then close after the final notification. */
  close_event(co, evs[0]);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  /* At most max_events attempts start ("" resolves to both loopbacks). */
  pony_asio_event_t* one[1] = {NULL};
  n = ponynet_os_connect_tcp_events(&co->base, "", port, "", RW_ONESHOT, 0, one, 1);
  CHECK_EQ_INT(n, 1);
  if (n == 1) close_event(co, one[0]);
  /* Bad arguments. */
  CHECK_EQ_INT(ponynet_os_connect_tcp_events(&co->base, "127.0.0.1", port, "", RW_ONESHOT, 1, NULL, 4), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(ponynet_os_connect_tcp_events(&co->base, "127.0.0.1", port, "", RW_ONESHOT, 1, evs, 0), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(ponynet_os_connect_tcp_events(&co->base, "127.0.0.1", port, "", RW_ONESHOT, 7, evs, 4), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(ponynet_os_connect_tcp_events(NULL, "127.0.0.1", port, "", RW_ONESHOT, 1, evs, 4), 0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  owner_free(co);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* Stream addresses "localhost" resolves to. */
static int stream_addresses(const char* host, const char* port) {
  struct addrinfo* list = pony_os_addrinfo(0, host, port);
  int n = 0;
  for (struct addrinfo* p = list; p != NULL; p = pony_os_nextaddr(p)) n += p->ai_socktype == SOCK_STREAM;
  freeaddrinfo(list);
  return n;
}

TEST(happy_eyeballs_to_localhost) {
  int fds = harness_open_fds();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  /* "::" takes IPv4 too (dual stack), so every attempt can succeed. */
  pony_asio_event_t* lev = pony_os_listen_tcp6(&so->base, "::", "0");
  if (lev == NULL) lev = pony_os_listen_tcp4(&so->base, "0.0.0.0", "0");
  CHECK(lev != NULL);
  char port[16];
  snprintf(port, sizeof port, "%d", port_of(pony_asio_event_fd(lev)));
  int expected = stream_addresses("localhost", port);
  CHECK(expected >= 1);
  bool both = expected >= 2;
  int count = pony_os_connect_tcp(&co->base, "localhost", port, NULL, RW_ONESHOT);
  CHECK_EQ_INT(count, expected);
  if (both) CHECK_EQ_INT(count, 2); /* ::1 and 127.0.0.1 in flight at once */
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 1 + count);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, count - 1) != NULL, WAIT_MS));
  int connected = 0;
  for (int i = 0; i < count; i++) {
    pony_asio_event_t* ev = nth_event(co, ASIO_WRITE, i);
    int fd = pony_asio_event_fd(ev);
    CHECK(cloexec_nonblock(fd));
    connected += pony_os_connected(fd);
    close_event(co, ev);
  }
  CHECK(connected >= 1);
  for (int i = 0; i < connected; i++) {
    int s = accept_one(lev);
    CHECK(s > 0);
    if (s > 0) pony_os_socket_close(s);
  }
  /* No host: getaddrinfo gives the loopback address of each family, so
   * both families are in flight at once wherever both exist. */
  struct addrinfo* six = pony_os_addrinfo(2, "::1", port);
  bool has6 = six != NULL;
  freeaddrinfo(six);
  co->count = 0;
  count = pony_os_connect_tcp(&co->base, "", port, NULL, RW_ONESHOT);
  CHECK_EQ_INT(count, has6 ? 2 : 1);
  CHECK(WAIT_UNTIL(nth_event(co, ASIO_WRITE, count - 1) != NULL, WAIT_MS));
  int families = 0;
  for (int i = 0; i < count; i++) {
    pony_asio_event_t* ev = nth_event(co, ASIO_WRITE, i);
    int fd = pony_asio_event_fd(ev);
    CHECK(pony_os_connected(fd));
    pony_ipaddress_t peer;
    CHECK(pony_os_peername(fd, &peer));
    families |= pony_os_ipv4(&peer) ? 1 : pony_os_ipv6(&peer) ? 2 : 0;
    close_event(co, ev);
    int s = accept_one(lev);
    CHECK(s > 0);
    if (s > 0) pony_os_socket_close(s);
  }
  CHECK_EQ_INT(families, has6 ? 3 : 1);
  close_event(so, lev);
  owner_free(co);
  owner_free(so);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* Pattern byte i of the writev test. */
static unsigned char pattern(size_t i) { return (unsigned char)(i * 7u + i / 251u); }

#define NIOV 64
#define CHUNK 65536

typedef struct {
  pony_asio_event_t* cev;
  int sfd;
  const unsigned char* data;
  unsigned char* got;
  size_t total, sent, recvd;
  bool saw_short, saw_zero, failed;
} flow_t;

/* One writev of everything not yet sent (iovecs rebuilt from the offset). */
static size_t flow_write(flow_t* f) {
  struct iovec iov[NIOV];
  int cnt = 0;
  for (size_t off = f->sent; off < f->total && cnt < NIOV; cnt++) {
    size_t end = (off / CHUNK + 1) * CHUNK;
    iov[cnt].iov_base = (void*)(f->data + off);
    iov[cnt].iov_len = end - off;
    off = end;
  }
  if (cnt == 0) return 0;
  size_t remaining = f->total - f->sent;
  size_t n = pony_os_writev(f->cev, iov, cnt);
  if (ponynet_take_error() != 0) f->failed = true;
  if (n == 0) f->saw_zero = true;
  else if (n < remaining) f->saw_short = true;
  f->sent += n;
  return n;
}

/* One step: drain what the server can read, then write more. */
static bool flow_step(flow_t* f) {
  ssize_t n;
  while (f->recvd < f->total && (n = recv(f->sfd, f->got + f->recvd, f->total - f->recvd, MSG_DONTWAIT)) > 0)
    f->recvd += (size_t)n;
  if (f->sent < f->total) flow_write(f);
  return f->failed || f->recvd == f->total;
}

TEST(writev_many_iovecs_under_backpressure) {
  int fds = harness_open_fds();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  char port[16];
  pony_asio_event_t* lev = listen4(so, port);
  flow_t f;
  memset(&f, 0, sizeof f);
  if (make_pair(co, lev, port, &f.cev, &f.sfd)) {
    int small = 16384;
    setsockopt(pony_asio_event_fd(f.cev), SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(f.sfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    f.total = (size_t)NIOV * CHUNK;
    unsigned char* data = malloc(f.total);
    for (size_t i = 0; i < f.total; i++) data[i] = pattern(i);
    f.data = data;
    f.got = malloc(f.total);
    /* Fill the socket until writev says it would block. */
    while (!f.saw_zero && !f.failed && f.sent < f.total) flow_write(&f);
    CHECK(f.saw_zero);
    CHECK(f.sent < f.total);
    CHECK(!f.failed);
    /* Drain and finish. */
    CHECK(WAIT_UNTIL(flow_step(&f), 20000));
    CHECK(!f.failed);
    CHECK(f.saw_short);
    CHECK_EQ_INT(f.sent, f.total);
    CHECK_EQ_INT(f.recvd, f.total);
    CHECK(memcmp(f.got, data, f.total) == 0);

    /* Bad iovec counts and a NULL iov fail with EINVAL. */
    struct iovec one = {(void*)"x", 1};
    int max = pony_os_writev_max();
    CHECK_EQ_INT(max, sysconf(_SC_IOV_MAX));
    CHECK_EQ_INT(pony_os_writev(f.cev, &one, 0), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK_EQ_INT(pony_os_writev(f.cev, &one, -1), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK_EQ_INT(pony_os_writev(f.cev, NULL, 1), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    struct iovec* many = calloc((size_t)max + 1, sizeof *many);
    for (int i = 0; i <= max; i++) many[i] = one;
    CHECK_EQ_INT(pony_os_writev(f.cev, many, max + 1), 0);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK_EQ_INT(pony_os_writev(f.cev, many, max), (size_t)max); /* exactly the max is fine */
    CHECK_EQ_INT(ponynet_take_error(), 0);
    free(many);
    free(data);
    free(f.got);
    close_event(co, f.cev);
    pony_os_socket_close(f.sfd);
  }
  close_event(so, lev);
  owner_free(co);
  owner_free(so);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* Reads until something other than "would block": the byte count, with the
 * failure (if any) in *err. */
static size_t recv_until_not_0(pony_asio_event_t* ev, int* err) {
  char buf[64];
  size_t n = 0;
  *err = 0;
  WAIT_UNTIL((n = pony_os_recv(ev, buf, sizeof buf)) != 0 || (*err = ponynet_take_error()) != 0, WAIT_MS);
  return n;
}

TEST(orderly_shutdown_is_eof_and_a_reset_is_econnreset) {
  int fds = harness_open_fds();
  struct sigaction before, after, dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, NULL, &before);
  sigaction(SIGPIPE, &dfl, NULL); /* a SIGPIPE would now kill the test */
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  char port[16];
  pony_asio_event_t* lev = listen4(so, port);
  pony_asio_event_t* cev;
  int sfd, err;
  if (make_pair(co, lev, port, &cev, &sfd)) {
    CHECK(write(sfd, "ab", 2) == 2);
    pony_os_socket_shutdown(sfd);
    CHECK_EQ_INT(recv_until_not_0(cev, &err), 2);
    CHECK_EQ_INT(recv_until_not_0(cev, &err), 0);
    CHECK_EQ_INT(err, PONYNET_ERR_EOF);
    CHECK_EQ_INT(ponynet_take_error(), 0); /* reading clears it */
    /* A half-closed peer still reads what we send. */
    CHECK_EQ_INT(pony_os_send(cev, "c", 1), 1);
    char c = 0;
    CHECK(WAIT_UNTIL(recv(sfd, &c, 1, MSG_DONTWAIT) == 1, WAIT_MS) && c == 'c');
    close_event(co, cev);
    pony_os_socket_close(sfd);
  }
  co->count = 0;
  if (make_pair(co, lev, port, &cev, &sfd)) {
    struct linger lg = {1, 0};
    CHECK(setsockopt(sfd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0);
    pony_os_socket_close(sfd); /* RST */
    CHECK_EQ_INT(recv_until_not_0(cev, &err), 0);
    CHECK_EQ_INT(err, ECONNRESET);
    /* Writing to the reset peer fails; the process lives on. */
    size_t n = pony_os_send(cev, "x", 1);
    err = ponynet_take_error();
    CHECK_EQ_INT(n, 0);
    CHECK(err == EPIPE || err == ECONNRESET);
    struct iovec iov = {(void*)"yz", 2};
    CHECK_EQ_INT(pony_os_writev(cev, &iov, 1), 0);
    err = ponynet_take_error();
    CHECK(err == EPIPE || err == ECONNRESET);
    close_event(co, cev);
  }
  sigaction(SIGPIPE, NULL, &after);
  CHECK(after.sa_handler == SIG_DFL); /* the library did not touch it */
  sigaction(SIGPIPE, &before, NULL);
  close_event(so, lev);
  owner_free(co);
  owner_free(so);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* Empty and NULL buffers in pony_os_writev: nothing is sent for them and
 * the library never reads through them. */
TEST(writev_of_empty_or_null_buffers) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  int sv[2];
  pony_asio_event_t* ev = watched_pair(o, SOCK_STREAM, ASIO_READ, sv);
  struct iovec null_empty = {NULL, 0};
  ponynet_take_error();
  CHECK_EQ_INT(pony_os_writev(ev, &null_empty, 1), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  struct iovec empty = {(void*)"", 0};
  CHECK_EQ_INT(pony_os_writev(ev, &empty, 1), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  struct iovec two[2] = {{NULL, 0}, {(void*)"ab", 2}};
  CHECK_EQ_INT(pony_os_writev(ev, two, 2), 2);
  char got[4] = {0};
  CHECK_EQ_INT(recv(sv[1], got, sizeof got, MSG_DONTWAIT), 2);
  CHECK(got[0] == 'a' && got[1] == 'b');
  dispose(o, ev);
  close(sv[0]);
  close(sv[1]);
  owner_free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(zero_length_recv_makes_no_call_and_does_not_fail) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  int sv[2];
  pony_asio_event_t* ev = watched_pair(o, SOCK_STREAM, ASIO_READ, sv);
  /* The peer has closed: a real read would report EOF. */
  close(sv[1]);
  char buf[4];
  ponynet_take_error();
  CHECK_EQ_INT(pony_os_recv(ev, buf, 0), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(pony_os_recv(ev, NULL, 0), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(pony_os_recv(ev, buf, sizeof buf), 0);
  CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_EOF);
  /* NULL buffers and events fail with EINVAL. */
  CHECK_EQ_INT(pony_os_recv(ev, NULL, 4), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(pony_os_recv(NULL, buf, 4), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(pony_os_send(NULL, "x", 1), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(pony_os_send(ev, NULL, 1), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  struct iovec iov = {(void*)"x", 1};
  CHECK_EQ_INT(pony_os_writev(NULL, &iov, 1), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  dispose(o, ev);
  close(sv[0]);
  owner_free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(never_blocks_on_blocking_fds) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  int sv[2];
  pony_asio_event_t* ev = watched_pair(o, SOCK_STREAM, ASIO_READ, sv); /* blocking */
  char buf[4096];
  memset(buf, 'q', sizeof buf);
  CHECK_EQ_INT(pony_os_recv(ev, buf, sizeof buf), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  size_t n, total = 0;
  int rounds = 0;
  while ((n = pony_os_send(ev, buf, sizeof buf)) > 0 && rounds++ < 100000) total += n;
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK(total > 0);
  struct iovec iov[2] = {{buf, sizeof buf}, {buf, sizeof buf}};
  CHECK_EQ_INT(pony_os_writev(ev, iov, 2), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);

  /* A blocking listener: accept returns 0 at once, then the client. */
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CHECK(bind(lfd, (struct sockaddr*)&in, sizeof in) == 0 && listen(lfd, 4) == 0);
  socklen_t len = sizeof in;
  getsockname(lfd, (struct sockaddr*)&in, &len);
  pony_asio_event_t* lev = pony_asio_event_create(&o->base, lfd, ASIO_READ, 0, false);
  CHECK_EQ_INT(pony_os_accept(lev), 0);
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(connect(c, (struct sockaddr*)&in, sizeof in) == 0);
  int s = accept_one(lev);
  CHECK(s > 0);
  CHECK(cloexec_nonblock(s));
  CHECK_EQ_INT(pony_os_accept(lev), 0);
  close(s);
  close(c);
  dispose(o, lev);
  close(lfd);
  dispose(o, ev);
  close(sv[0]);
  close(sv[1]);
  owner_free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(accept_errors_set_errno) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  errno = 0;
  CHECK_EQ_INT(pony_os_accept(NULL), -1);
  CHECK_EQ_INT(errno, EINVAL);
  int sv[2];
  pony_asio_event_t* ev = watched_pair(o, SOCK_STREAM | SOCK_NONBLOCK, ASIO_READ, sv);
  errno = 0;
  CHECK_EQ_INT(pony_os_accept(ev), -1); /* not a listener */
  CHECK_EQ_INT(errno, EINVAL);
  dispose(o, ev);
  close(sv[0]);
  close(sv[1]);
  owner_free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* Holds the poller: a notification hook that waits until released, so
 * that what happens meanwhile is all in its next report. */
static int poller_held, poller_released;

static void hold_poller(rec_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)o;
  (void)ev;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) return;
  __atomic_store_n(&poller_held, 1, __ATOMIC_RELEASE);
  WAIT_UNTIL(__atomic_load_n(&poller_released, __ATOMIC_ACQUIRE), WAIT_MS);
}

/* An owner that re-arms after a read shorter than asked for (not at
 * would-block) still hears of more data, of an EOF that came in the same
 * report as the data it read, and of data queued behind urgent data (where
 * TCP stops a read short with more queued). */
TEST(a_rearm_after_a_short_read_loses_neither_data_nor_eof) {
  int fds = harness_open_fds();
  rec_owner_t* so = owner_new();
  rec_owner_t* co = owner_new();
  rec_owner_t* holder = owner_new();
  holder->hook = hold_poller;
  pony_asio_event_t* hev = pony_asio_event_create(&holder->base, -1, ASIO_TIMER, 3600000000000ull, false);
  char port[16];
  pony_asio_event_t* lev = listen4(so, port);
  pony_asio_event_t* cev;
  int sfd;
  char buf[64];
  if (make_pair(co, lev, port, &cev, &sfd)) {
    /* More data after a short read. */
    int reads = rec_count(co, cev, ASIO_READ);
    CHECK(write(sfd, "abc", 3) == 3);
    CHECK(WAIT_UNTIL(rec_count(co, cev, ASIO_READ) > reads, WAIT_MS));
    CHECK_EQ_INT(pony_os_recv(cev, buf, sizeof buf), 3);
    pony_asio_event_set_readable(cev, false);
    pony_asio_event_resubscribe_read(cev);
    reads = rec_count(co, cev, ASIO_READ);
    CHECK(write(sfd, "de", 2) == 2);
    CHECK(WAIT_UNTIL(rec_count(co, cev, ASIO_READ) > reads, WAIT_MS));
    CHECK_EQ_INT(pony_os_recv(cev, buf, sizeof buf), 2);
    pony_asio_event_set_readable(cev, false);
    pony_asio_event_resubscribe_read(cev);

    /* Data, urgent data, data: all in one report; the read stops at the
     * urgent mark with the rest queued behind it. */
    __atomic_store_n(&poller_released, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&poller_held, 0, __ATOMIC_RELEASE);
    pony_asio_event_send(hev, ASIO_READ, 0);
    CHECK(WAIT_UNTIL(__atomic_load_n(&poller_held, __ATOMIC_ACQUIRE), WAIT_MS));
    reads = rec_count(co, cev, ASIO_READ);
    CHECK(send(sfd, "ghi", 3, 0) == 3);
    CHECK(send(sfd, "!", 1, MSG_OOB) == 1);
    CHECK(send(sfd, "jkl", 3, 0) == 3);
    __atomic_store_n(&poller_released, 1, __ATOMIC_RELEASE);
    CHECK(WAIT_UNTIL(rec_count(co, cev, ASIO_READ) > reads, WAIT_MS));
    CHECK_EQ_INT(pony_os_recv(cev, buf, sizeof buf), 3);
    pony_asio_event_set_readable(cev, false);
    pony_asio_event_resubscribe_read(cev);
    reads = rec_count(co, cev, ASIO_READ);
    CHECK(WAIT_UNTIL(rec_count(co, cev, ASIO_READ) > reads, WAIT_MS));
    CHECK_EQ_INT(pony_os_recv(cev, buf, sizeof buf), 3);
    pony_asio_event_set_readable(cev, false);
    pony_asio_event_resubscribe_read(cev);

    /* Data and the EOF behind it, both in one report of the poller. */
    __atomic_store_n(&poller_released, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&poller_held, 0, __ATOMIC_RELEASE);
    pony_asio_event_send(hev, ASIO_READ, 0);
    CHECK(WAIT_UNTIL(__atomic_load_n(&poller_held, __ATOMIC_ACQUIRE), WAIT_MS));
    reads = rec_count(co, cev, ASIO_READ);
    CHECK(write(sfd, "fg", 2) == 2);
    pony_os_socket_shutdown(sfd);
    __atomic_store_n(&poller_released, 1, __ATOMIC_RELEASE);
    CHECK(WAIT_UNTIL(rec_count(co, cev, ASIO_READ) > reads, WAIT_MS));
    CHECK_EQ_INT(pony_os_recv(cev, buf, sizeof buf), 2);
    pony_asio_event_set_readable(cev, false);
    pony_asio_event_resubscribe_read(cev);
    /* The EOF is reported although its edge came with the data. */
    reads = rec_count(co, cev, ASIO_READ);
    CHECK(WAIT_UNTIL(rec_count(co, cev, ASIO_READ) > reads, WAIT_MS));
    CHECK_EQ_INT(pony_os_recv(cev, buf, sizeof buf), 0);
    CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_EOF);
    close_event(co, cev);
    pony_os_socket_close(sfd);
  }
  dispose(holder, hev);
  close_event(so, lev);
  owner_free(holder);
  owner_free(co);
  owner_free(so);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* On a socket that is not TCP a short read does not mean empty: a
 * SOCK_SEQPACKET read returns one record with the next queued behind it.
 * The re-arm after it must report the next record. */
TEST(a_rearm_after_a_short_read_of_a_record_reports_the_next) {
  int fds = harness_open_fds();
  rec_owner_t* o = owner_new();
  int sv[2];
  CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
  CHECK(send(sv[1], "one", 3, 0) == 3);
  CHECK(send(sv[1], "two", 3, 0) == 3);
  pony_asio_event_t* ev = pony_asio_event_create(&o->base, sv[0], RW_ONESHOT, 0, false);
  CHECK(WAIT_UNTIL(rec_count(o, ev, ASIO_READ) == 1, WAIT_MS));
  char buf[64];
  CHECK_EQ_INT(pony_os_recv(ev, buf, sizeof buf), 3);
  pony_asio_event_set_readable(ev, false);
  pony_asio_event_resubscribe_read(ev);
  CHECK(WAIT_UNTIL(rec_count(o, ev, ASIO_READ) == 2, WAIT_MS));
  CHECK_EQ_INT(pony_os_recv(ev, buf, sizeof buf), 3);
  CHECK(memcmp(buf, "two", 3) == 0);
  dispose(o, ev);
  close(sv[0]);
  close(sv[1]);
  owner_free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(keepalive_and_nodelay) {
  int fds = harness_open_fds();
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int v;
  socklen_t l = sizeof v;
  pony_os_keepalive(s, 10);
  getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &l);
  CHECK_EQ_INT(v, 1);
  getsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, &l);
  CHECK_EQ_INT(v, 5);
  getsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &v, &l);
  CHECK_EQ_INT(v, 5);
  getsockopt(s, IPPROTO_TCP, TCP_KEEPINTVL, &v, &l);
  CHECK_EQ_INT(v, 1);
  pony_os_keepalive(s, 1); /* 1/2 == 0 would be refused: at least 1 */
  getsockopt(s, IPPROTO_TCP, TCP_KEEPIDLE, &v, &l);
  CHECK_EQ_INT(v, 1);
  getsockopt(s, IPPROTO_TCP, TCP_KEEPCNT, &v, &l);
  CHECK_EQ_INT(v, 1);
  pony_os_keepalive(s, 0);
  getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &l);
  CHECK_EQ_INT(v, 0);
  pony_os_keepalive(s, -5);
  getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &l);
  CHECK_EQ_INT(v, 0);
  pony_os_nodelay(s, true);
  getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &l);
  CHECK(v != 0);
  pony_os_nodelay(s, false);
  getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &l);
  CHECK_EQ_INT(v, 0);
  close(s);
  /* Bad fds: no crash, the failure is recorded. */
  pony_os_keepalive(-1, 10);
  CHECK_EQ_INT(ponynet_take_error(), EBADF);
  pony_os_nodelay(-1, true);
  pony_os_socket_shutdown(-1);
  CHECK_EQ_INT(ponynet_take_error(), EBADF);
  pony_os_socket_close(-1);
  CHECK_EQ_INT(ponynet_take_error(), EBADF);
  pony_ipaddress_t a;
  CHECK(!pony_os_sockname(-1, &a));
  CHECK(!pony_os_peername(-1, &a));
  CHECK(!pony_os_sockname(0, NULL));
  CHECK(!pony_os_peername(0, NULL));
  CHECK_EQ_INT(harness_open_fds(), fds);
}

static int int_option(int fd, int level, int option) {
  int v = -1;
  socklen_t l = sizeof v;
  if (getsockopt(fd, level, option, &v, &l) != 0) return -1;
  return v;
}

/* Every secs is taken: a half beyond the kernel's limit (TCP_KEEPIDLE
 * <= 32767 s, TCP_KEEPCNT <= 127) is clamped to it, not refused with the
 * old value left in place. */
TEST(keepalive_clamps_to_the_kernels_limits) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct { int secs, idle, count; } cases[] = {
    {10, 5, 5}, {300, 150, 127}, {254, 127, 127}, {256, 128, 127}, {65534, 32767, 127}, {65536, 32767, 127},
    {10, 5, 5}, {INT_MAX, 32767, 127}, {3, 1, 1}, {INT_MAX - 1, 32767, 127},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ponynet_take_error();
    pony_os_keepalive(s, cases[i].secs);
    if (!CHECK_EQ_INT(ponynet_take_error(), 0)) printf("  keepalive(%d)\n", cases[i].secs);
    CHECK_EQ_INT(int_option(s, SOL_SOCKET, SO_KEEPALIVE), 1);
    CHECK_EQ_INT(int_option(s, IPPROTO_TCP, TCP_KEEPIDLE), cases[i].idle);
    CHECK_EQ_INT(int_option(s, IPPROTO_TCP, TCP_KEEPCNT), cases[i].count);
    CHECK_EQ_INT(int_option(s, IPPROTO_TCP, TCP_KEEPINTVL), 1);
  }
  pony_os_keepalive(s, INT_MIN);
  CHECK_EQ_INT(int_option(s, SOL_SOCKET, SO_KEEPALIVE), 0);
  close(s);
}

/* ---- EMFILE: queued connections are offered again ---------------------- */

#define CLIENTS 48

typedef struct {
  rec_owner_t rec; /* first: the library sees a ponynet_owner_t */
  pony_asio_event_t* lev;
  int accepted[CLIENTS];
  int naccepted, starved;
  bool paused; /* ignore READs (a busy owner) */
} acceptor_t;

/* As Pony's TCPListener: on READ, accept until none is pending (0); a -1
 * (here EMFILE) ends the round too. */
static void acceptor_hook(rec_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  acceptor_t* a = (acceptor_t*)o;
  if (!(flags & ASIO_READ)) return; /* its only event: the listener */
  pthread_mutex_lock(&o->lock);
  bool paused = a->paused;
  pthread_mutex_unlock(&o->lock);
  if (paused) return;
  for (;;) {
    int fd = pony_os_accept(ev);
    if (fd == 0) return;
    pthread_mutex_lock(&o->lock);
    if (fd > 0) a->accepted[a->naccepted++] = fd;
    else a->starved += errno == EMFILE;
    pthread_mutex_unlock(&o->lock);
    if (fd < 0) return;
  }
}

static int acceptor_get(acceptor_t* a, int* field) {
  pthread_mutex_lock(&a->rec.lock);
  int v = *field;
  pthread_mutex_unlock(&a->rec.lock);
  return v;
}

/* The lowest fd number free now. */
static int lowest_free_fd(void) {
  int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
  close(fd);
  return fd;
}

/* Valgrind applies a lowered RLIMIT_NOFILE itself: the kernel accepts, and
 * valgrind closes the new fd and reports EMFILE. Each EMFILE then costs one
 * queued connection, so many clients are queued first (while the owner
 * ignores READs: one EMFILE per connect would eat them all), and every check
 * below holds with or without valgrind. */
TEST(emfile_on_accept_then_the_queued_connection_is_offered_again) {
  int fds = harness_open_fds();
  acceptor_t* a = calloc(1, sizeof *a);
  rec_init(&a->rec);
  a->rec.hook = acceptor_hook;
  a->paused = true;
  a->lev = pony_os_listen_tcp4(&a->rec.base, "127.0.0.1", "0");
  CHECK(a->lev != NULL);
  int lfd = pony_asio_event_fd(a->lev);
  struct sockaddr_in in;
  memset(&in, 0, sizeof in);
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  in.sin_port = htons((uint16_t)port_of(lfd));
  /* Everything the test needs is opened before the limit drops. */
  int clients[CLIENTS];
  for (int i = 0; i < CLIENTS; i++) clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int spare1 = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int spare2 = open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (int i = 0; i < CLIENTS - 1; i++) CHECK(connect(clients[i], (struct sockaddr*)&in, sizeof in) == 0);
  CHECK(WAIT_UNTIL(rec_count(&a->rec, a->lev, ASIO_READ) >= 1, WAIT_MS));
  struct rlimit saved, low;
  getrlimit(RLIMIT_NOFILE, &saved);
  low = saved;
  low.rlim_cur = (rlim_t)lowest_free_fd();
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);

  /* 1. Clients are queued; no fd to accept them: EMFILE, and no spin while starved. */
  pthread_mutex_lock(&a->rec.lock);
  a->paused = false;
  pthread_mutex_unlock(&a->rec.lock);
  CHECK(connect(clients[CLIENTS - 1], (struct sockaddr*)&in, sizeof in) == 0); /* a READ edge */
  CHECK(WAIT_UNTIL(acceptor_get(a, &a->starved) >= 1, WAIT_MS));
  int reads = rec_count(&a->rec, a->lev, ASIO_READ);
  CHECK(!WAIT_UNTIL(rec_count(&a->rec, a->lev, ASIO_READ) > reads + 10, 500));
  CHECK_EQ_INT(acceptor_get(a, &a->naccepted), 0);

  /* 2. An fd freed behind the library's back (plain close): the backoff
   * retry offers the queued connections again, without a new client. */
  close(spare1);
  CHECK(WAIT_UNTIL(acceptor_get(a, &a->naccepted) == 1, WAIT_MS));

  /* 3. Starved again (the next accept had no fd); an fd freed through
   * pony_os_socket_close re-offers them at once. */
  CHECK(WAIT_UNTIL(acceptor_get(a, &a->starved) >= 2, WAIT_MS));
  pony_os_socket_close(spare2);
  WAIT_UNTIL(acceptor_get(a, &a->naccepted) == 2, WAIT_MS);
  CHECK_EQ_INT(acceptor_get(a, &a->naccepted), 2);

  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  pony_asio_event_unsubscribe(a->lev);
  CHECK(WAIT_UNTIL(rec_count(&a->rec, a->lev, 0) == 1, WAIT_MS)); /* the hook runs no more */
  for (int i = 0; i < a->naccepted; i++) {
    CHECK(cloexec_nonblock(a->accepted[i]));
    pony_os_socket_close(a->accepted[i]);
  }
  int rest;
  while ((rest = pony_os_accept(a->lev)) > 0) pony_os_socket_close(rest);
  pony_asio_event_destroy(a->lev);
  pony_os_socket_close(lfd);
  for (int i = 0; i < CLIENTS; i++) close(clients[i]);
  rec_fini(&a->rec);
  free(a);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(stop_at_the_end) {
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK(ponynet_asio_stop());
}

int main(void) {
  /* Create the poller first, so that each test's fd count is its own. */
  rec_owner_t* warm = owner_new();
  char port[16];
  close_event(warm, listen4(warm, port));
  owner_free(warm);

  RUN(listen_on_port_0_then_learn_the_port);
  RUN(listen_failures_return_null_and_leak_nothing);
  RUN(hostile_host_strings_fail_fast);
  RUN(out_of_range_and_malformed_ports_fail_with_einval);
  RUN(connect_accept_send_recv_and_names);
  RUN(connect_from_a_local_address_and_to_any);
  RUN(connect_refused_ipv4_and_ipv6);
  RUN(happy_eyeballs_to_localhost);
  RUN(connect_events_can_be_cancelled_before_they_report);
  RUN(writev_many_iovecs_under_backpressure);
  RUN(orderly_shutdown_is_eof_and_a_reset_is_econnreset);
  RUN(a_rearm_after_a_short_read_loses_neither_data_nor_eof);
  RUN(a_rearm_after_a_short_read_of_a_record_reports_the_next);
  RUN(zero_length_recv_makes_no_call_and_does_not_fail);
  RUN(writev_of_empty_or_null_buffers);
  RUN(never_blocks_on_blocking_fds);
  RUN(accept_errors_set_errno);
  RUN(keepalive_and_nodelay);
  RUN(keepalive_clamps_to_the_kernels_limits);
  RUN(emfile_on_accept_then_the_queued_connection_is_offered_again);
  RUN(stop_at_the_end);
  return harness_summary();
}
