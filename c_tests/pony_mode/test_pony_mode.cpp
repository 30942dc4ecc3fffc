/* Pony-runtime mode against a fake runtime (PONY_MODE.md). This program is
 * its own process: the mode is per process and entered by ponyint_asio_init. */
#include "fake_runtime.h"
#include "harness.h"
#include "ponynet.h"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000

static fake_type notify_type = [] {
  fake_type t{};
  t.event_notify = 77;
  return t;
}();
static fake_type mute_type = [] {
  fake_type t{};
  t.event_notify = 0xFFFFFFFFu;
  return t;
}();

static ponynet_owner_t* as_owner(fake_actor* a) { return reinterpret_cast<ponynet_owner_t*>(a); }

static void dispose(fake_actor* a, pony_asio_event_t* ev) {
  size_t before = a->disposables();
  pony_asio_event_unsubscribe(ev);
  CHECK(WAIT_UNTIL(a->disposables() == before + 1, WAIT_MS));
  pony_asio_event_destroy(ev);
}

TEST(hooks_enter_pony_mode) {
  CHECK(ponyint_os_sockets_init());
  struct sigaction sa;
  sigaction(SIGPIPE, nullptr, &sa);
  CHECK(sa.sa_handler == SIG_IGN);
  signal(SIGUSR2, SIG_DFL);
  ponyint_asio_init(0xFFFFFFFFu);
  sigaction(SIGUSR2, nullptr, &sa);
  CHECK(sa.sa_handler != SIG_DFL); /* schedulers' wake-up signal no longer kills */
  CHECK(ponyint_asio_start());
  CHECK(ponyint_asio_stoppable());
}

TEST(notification_is_a_32_byte_message_with_the_type_s_id) {
  fake_actor a;
  a.type = &notify_type;
  int gc_before = fake.traceknown;
  pony_asio_event_t* ev = pony_asio_event_create(as_owner(&a), -1, ASIO_TIMER, 1000, false);
  CHECK(ev != nullptr);
  CHECK_EQ_INT(fake.traceknown - gc_before, 1);
  CHECK_EQ_INT(fake.gc_send, fake.send_done);
  CHECK(WAIT_UNTIL(a.count(ASIO_TIMER) == 1, WAIT_MS));
  fake_msg m = a.at(0);
  CHECK_EQ_INT(m.id, 77);
  CHECK_EQ_INT(m.index, 0);
  CHECK(m.event == ev);
  CHECK_EQ_INT(m.flags, ASIO_TIMER);
  CHECK_EQ_INT(m.arg, 0);
  CHECK(fake.wakeups > 0);
  int recv_before = fake.traceunknown;
  dispose(&a, ev);
  CHECK_EQ_INT(fake.traceunknown - recv_before, 1);
  CHECK_EQ_INT(fake.gc_recv, fake.recv_done);
  CHECK_EQ_INT(a.at(a.size() - 1).flags, ASIO_DISPOSABLE); /* last */
  CHECK_EQ_INT(fake.bad_trace_mode, 0);
  CHECK(fake.registered >= 1);
  CHECK_EQ_INT(fake.unregistered_ctx_calls, 0);
}

TEST(an_actor_without_event_notify_gets_no_event) {
  fake_actor a;
  a.type = &mute_type;
  int gc_before = fake.gc_send;
  CHECK(pony_asio_event_create(as_owner(&a), -1, ASIO_TIMER, 1000, true) == nullptr);
  CHECK_EQ_INT(fake.gc_send - gc_before, 0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
}

TEST(noisy_hooks_on_zero_to_one_and_back) {
  fake_actor a;
  a.type = &notify_type;
  int noisy = fake.noisy, unnoisy = fake.unnoisy, wakeups = fake.wakeups;
  pony_asio_event_t* one = pony_asio_event_create(as_owner(&a), -1, ASIO_TIMER, 1000000000, true);
  pony_asio_event_t* two = pony_asio_event_create(as_owner(&a), -1, ASIO_TIMER, 1000000000, true);
  CHECK_EQ_INT(fake.noisy - noisy, 1);
  CHECK(!ponyint_asio_stoppable());
  CHECK(!ponyint_asio_stop());
  pony_asio_event_unsubscribe(one);
  CHECK_EQ_INT(fake.unnoisy - unnoisy, 0);
  int wake_before_last = fake.wakeups;
  pony_asio_event_unsubscribe(two);
  CHECK_EQ_INT(fake.unnoisy - unnoisy, 1);
  CHECK(fake.wakeups > wake_before_last); /* the wake-up after unnoisy */
  CHECK(wake_before_last >= wakeups);
  CHECK(ponyint_asio_stoppable());
  CHECK(WAIT_UNTIL(a.disposables() == 2, WAIT_MS));
  pony_asio_event_destroy(one);
  pony_asio_event_destroy(two);
}

TEST(stop_joins_the_registered_io_thread) {
  fake_actor a;
  a.type = &notify_type;
  pony_asio_event_t* ev = pony_asio_event_create(as_owner(&a), -1, ASIO_TIMER, 1000, false);
  CHECK(WAIT_UNTIL(a.count(ASIO_TIMER) == 1, WAIT_MS));
  int unregistered = fake.unregistered;
  dispose(&a, ev);
  CHECK(ponyint_asio_stop());
  CHECK_EQ_INT(fake.unregistered - unregistered, 1); /* joined: it unregistered before we returned */
  CHECK_EQ_INT(fake.registered, fake.unregistered);
}

TEST(refused_subscription_carries_the_interest_bits) {
  fake_actor a;
  a.type = &notify_type;
  int p[2];
  CHECK(pipe2(p, O_CLOEXEC) == 0);
  close(p[0]);
  close(p[1]);
  pony_asio_event_t* ev = pony_asio_event_create(as_owner(&a), p[0], ASIO_READ | ASIO_WRITE | ASIO_ONESHOT, 0, true);
  CHECK(WAIT_UNTIL(a.size() == 1, WAIT_MS));
  fake_msg m = a.at(0);
  CHECK_EQ_INT(m.flags, ASIO_ERROR | ASIO_READ | ASIO_WRITE);
  CHECK_EQ_INT(m.arg, EBADF);
  CHECK(pony_asio_event_get_readable(ev) && pony_asio_event_get_writeable(ev));
  dispose(&a, ev);
}

/* A connected TCP pair on loopback, through plain sockets. */
static void tcp_pair(int* client, int* server) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  CHECK(bind(l, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  CHECK(listen(l, 1) == 0);
  getsockname(l, reinterpret_cast<sockaddr*>(&sa), &len);
  *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  CHECK(connect(*client, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  *server = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
  close(l);
}

/* Calls a partial function that must fail; returns errno as read after the
 * Pony-style catch, or -1 if it did not raise. */
template <typename F>
static int errno_after_raise(F call) {
  int before = fake.errors;
  try {
    call();
  } catch (const pony_error_exception&) {
    int e = pony_os_errno();
    return fake.errors == before + 1 ? e : -2;
  }
  return -1;
}

TEST(partial_functions_raise_with_errno_intact) {
  fake_actor a;
  a.type = &notify_type;
  int c, s;
  tcp_pair(&c, &s);
  struct linger lg = {1, 0};
  setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(s); /* a reset for the client */
  pony_asio_event_t* ev = pony_asio_event_create(as_owner(&a), c, ASIO_READ, 0, false);
  char buf[16];
  CHECK(WAIT_UNTIL(a.count(ASIO_READ) >= 1, WAIT_MS));
  CHECK_EQ_INT(errno_after_raise([&] { pony_os_recv(ev, buf, sizeof buf); }), ECONNRESET);
  struct iovec iov = {buf, sizeof buf};
  CHECK_EQ_INT(errno_after_raise([&] { pony_os_writev(ev, &iov, 0); }), EINVAL);
  pony_ipaddress_t to{};
  to.addr.ss_family = AF_UNIX; /* not an IP family */
  int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int sendto_errno = errno_after_raise([&] { pony_os_sendto(u, buf, 1, &to); });
  CHECK(sendto_errno > 0);
  pony_asio_event_t* uev = pony_asio_event_create(as_owner(&a), u, ASIO_READ, 0, false);
  close(u); /* recvfrom on a closed fd fails with EBADF */
  pony_ipaddress_t from{};
  CHECK_EQ_INT(errno_after_raise([&] { pony_os_recvfrom(uev, buf, sizeof buf, &from); }), EBADF);
  dispose(&a, uev);
  dispose(&a, ev);
  close(c);
}

TEST(orderly_shutdown_raises_too) {
  fake_actor a;
  a.type = &notify_type;
  int c, s;
  tcp_pair(&c, &s);
  pony_asio_event_t* ev = pony_asio_event_create(as_owner(&a), c, ASIO_READ, 0, false);
  shutdown(s, SHUT_WR);
  CHECK(WAIT_UNTIL(a.count(ASIO_READ) >= 1, WAIT_MS));
  char buf[8];
  CHECK(errno_after_raise([&] { pony_os_recv(ev, buf, sizeof buf); }) != -1);
  dispose(&a, ev);
  close(c);
  close(s);
}

TEST(returned_strings_come_from_pony_alloc) {
  pony_ipaddress_t ip{};
  sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(&ip.addr);
  sin->sin_family = AF_INET;
  sin->sin_port = htons(4242);
  sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char* host = nullptr;
  char* serv = nullptr;
  CHECK(pony_os_nameinfo(&ip, &host, &serv, false, false));
  CHECK(host != nullptr && std::strcmp(host, "127.0.0.1") == 0);
  CHECK(serv != nullptr && std::strcmp(serv, "4242") == 0);
  CHECK(fake_from_pony_alloc(host) && fake_from_pony_alloc(serv));
  unsigned char raw[4] = {10, 1, 2, 3};
  char* text = pony_os_ip_string(raw, 4);
  CHECK(text != nullptr && std::strcmp(text, "10.1.2.3") == 0);
  CHECK(fake_from_pony_alloc(text));
  /* The runtime's GC would collect them; the fake frees them here. */
  fake_free(host);
  fake_free(serv);
  fake_free(text);
}

/* Pony's TCPListener._accept: a -1 is retried at once, a 0 ends the round.
 * Returns the fd accepted, 0 for "none pending", or -1 if it spun (the
 * bound stands in for a listener that never stops retrying). */
static int pony_listener_accept(pony_asio_event_t* ev) {
  for (int tries = 0; tries < 1000; tries++) {
    int fd = pony_os_accept(ev);
    if (fd != -1) return fd;
  }
  return -1;
}

static int lowest_free_fd() {
  int fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
  close(fd);
  return fd;
}

/* A listener out of fds answers "none pending" instead of failing (Pony
 * would spin), and the re-offer tells the actor again once fds are free. */
TEST(a_listener_out_of_fds_does_not_spin_and_is_offered_again) {
  fake_actor a;
  a.type = &notify_type;
  pony_asio_event_t* lev = pony_os_listen_tcp4(as_owner(&a), "127.0.0.1", "0");
  CHECK(lev != nullptr);
  sockaddr_in in{};
  socklen_t len = sizeof in;
  CHECK(getsockname(pony_asio_event_fd(lev), reinterpret_cast<sockaddr*>(&in), &len) == 0);
  const int clients_n = 8;
  int clients[clients_n];
  for (int i = 0; i < clients_n; i++) {
    clients[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(connect(clients[i], reinterpret_cast<sockaddr*>(&in), sizeof in) == 0);
  }
  CHECK(WAIT_UNTIL(a.count(ASIO_READ) >= 1, WAIT_MS));
  rlimit saved, low;
  getrlimit(RLIMIT_NOFILE, &saved);
  low = saved;
  low.rlim_cur = static_cast<rlim_t>(lowest_free_fd());
  CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
  size_t reads = a.count(ASIO_READ);
  CHECK_EQ_INT(pony_listener_accept(lev), 0);
  CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(WAIT_UNTIL(a.count(ASIO_READ) > reads, WAIT_MS)); /* offered again */
  int fd = pony_listener_accept(lev);
  CHECK(fd > 2);
  if (fd > 0) close(fd);
  int rest;
  while ((rest = pony_os_accept(lev)) > 0) close(rest);
  int lfd = pony_asio_event_fd(lev);
  dispose(&a, lev);
  close(lfd);
  for (int c : clients) close(c);
}

int main() {
  RUN(hooks_enter_pony_mode);
  RUN(notification_is_a_32_byte_message_with_the_type_s_id);
  RUN(an_actor_without_event_notify_gets_no_event);
  RUN(noisy_hooks_on_zero_to_one_and_back);
  RUN(stop_joins_the_registered_io_thread);
  RUN(refused_subscription_carries_the_interest_bits);
  RUN(partial_functions_raise_with_errno_intact);
  RUN(orderly_shutdown_raises_too);
  RUN(returned_strings_come_from_pony_alloc);
  RUN(a_listener_out_of_fds_does_not_spin_and_is_offered_again);
  CHECK(ponyint_asio_stop());
  ponyint_os_sockets_final();
  return harness_summary();
}
