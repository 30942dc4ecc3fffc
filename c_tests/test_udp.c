/* UDP (ABI.md §3, §4, §5) through the header only: listen, sendto, recvfrom,
 * broadcast and multicast options on IPv4 and IPv6 sockets. Loopback only. */
#include "harness.h"
#include "owner.h"
#include "ponynet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000

/* A UDP socket of the library with its owner. */
typedef struct udp_t {
  rec_owner_t owner;
  pony_asio_event_t* ev;
  int fd;
} udp_t;

static bool udp_open(udp_t* u, int family, const char* host) {
  rec_init(&u->owner);
  if (family == AF_INET)
    u->ev = pony_os_listen_udp4(&u->owner.base, host, "0");
  else if (family == AF_INET6)
    u->ev = pony_os_listen_udp6(&u->owner.base, host, "0");
  else
    u->ev = pony_os_listen_udp(&u->owner.base, host, "0");
  u->fd = pony_asio_event_fd(u->ev);
  return CHECK(u->ev != NULL) && CHECK(u->fd >= 0);
}

/* Unsubscribes, waits for the final notification, destroys, closes the fd
 * (the owner's job: the library never closes a socket's fd). */
static void udp_close(udp_t* u) {
  if (u->ev != NULL) {
    pony_asio_event_unsubscribe(u->ev);
    CHECK(WAIT_UNTIL(rec_count(&u->owner, u->ev, 0) == 1, WAIT_MS));
    pony_asio_event_destroy(u->ev);
  }
  if (u->fd >= 0) close(u->fd);
  rec_fini(&u->owner);
}

/* The socket's own address, with the loopback address of its family in
 * place of "any" (to send to it). */
static pony_ipaddress_t address_of(int fd) {
  pony_ipaddress_t a;
  memset(&a, 0, sizeof a);
  socklen_t len = sizeof a.addr;
  CHECK(getsockname(fd, (struct sockaddr*)&a.addr, &len) == 0);
  if (a.addr.ss_family == AF_INET) {
    struct sockaddr_in* in = (struct sockaddr_in*)&a.addr;
    if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (a.addr.ss_family == AF_INET6) {
    struct sockaddr_in6* in6 = (struct sockaddr_in6*)&a.addr;
    if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
  }
  return a;
}

static int port_of(const pony_ipaddress_t* a) {
  if (a->addr.ss_family == AF_INET) return ntohs(((const struct sockaddr_in*)&a->addr)->sin_port);
  return ntohs(((const struct sockaddr_in6*)&a->addr)->sin6_port);
}

/* The same address with another port (a group address keeps the socket's port). */
static pony_ipaddress_t group_address(int family, const char* group, int port) {
  pony_ipaddress_t a;
  memset(&a, 0, sizeof a);
  if (family == AF_INET) {
    struct sockaddr_in* in = (struct sockaddr_in*)&a.addr;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    CHECK(inet_pton(AF_INET, group, &in->sin_addr) == 1);
  } else {
    struct sockaddr_in6* in6 = (struct sockaddr_in6*)&a.addr;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    CHECK(inet_pton(AF_INET6, group, &in6->sin6_addr) == 1);
  }
  return a;
}

/* Readable right now (poll with no timeout). */
static bool readable_now(int fd) {
  struct pollfd p = {fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static int int_option(int fd, int level, int name) {
  int v = -12345;
  socklen_t len = sizeof v;
  CHECK(getsockopt(fd, level, name, &v, &len) == 0);
  return v;
}

/* The poller and I/O thread exist from the first event on: open them
 * before the tests count descriptors. */
static void warm_up(void) {
  udp_t u;
  if (udp_open(&u, AF_INET, "127.0.0.1")) udp_close(&u);
}

/* `listen_family` picks pony_os_listen_udp4/6/udp; `family` is what `host` is. */
static void round_trip(int listen_family, int family, const char* host) {
  int fds = harness_open_fds();
  uint64_t noisy = ponynet_asio_noisy_count();
  udp_t a, b;
  if (!udp_open(&a, listen_family, host) || !udp_open(&b, listen_family, host)) return;
  CHECK_EQ_INT(ponynet_asio_noisy_count(), noisy + 2);
  CHECK(fcntl(a.fd, F_GETFD) & FD_CLOEXEC);
  CHECK(fcntl(a.fd, F_GETFL) & O_NONBLOCK);
  CHECK_EQ_INT(int_option(a.fd, SOL_SOCKET, SO_TYPE), SOCK_DGRAM);

  pony_ipaddress_t to = address_of(a.fd), b_addr = address_of(b.fd);
  CHECK_EQ_INT(to.addr.ss_family, family);
  char buf[64];
  pony_ipaddress_t from;
  memset(&from, 0, sizeof from);

  /* Nothing queued: 0, and no failure. */
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, &from), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(from.addr.ss_family, 0);

  CHECK_EQ_INT(pony_os_sendto(b.fd, "hello", 5, &to), 5);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK(WAIT_UNTIL(rec_count(&a.owner, a.ev, ASIO_READ) >= 1, WAIT_MS));
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, &from), 5);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK(memcmp(buf, "hello", 5) == 0);
  CHECK_EQ_INT(from.addr.ss_family, family);
  CHECK_EQ_INT(port_of(&from), port_of(&b_addr));
  CHECK(pony_os_ipv4(&from) == (family == AF_INET));

  /* A datagram longer than the buffer is cut to it. */
  CHECK_EQ_INT(pony_os_sendto(b.fd, "0123456789", 10, &to), 10);
  CHECK(WAIT_UNTIL(readable_now(a.fd), WAIT_MS));
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, 4, &from), 4);
  CHECK(memcmp(buf, "0123", 4) == 0);
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, &from), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);

  udp_close(&a);
  udp_close(&b);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), noisy);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(round_trip_ipv4) { round_trip(AF_INET, AF_INET, "127.0.0.1"); }

TEST(round_trip_ipv6) { round_trip(AF_INET6, AF_INET6, "::1"); }

TEST(round_trip_any_family) {
  round_trip(AF_UNSPEC, AF_INET, "127.0.0.1");
  round_trip(AF_UNSPEC, AF_INET6, "::1");
}

TEST(empty_host_binds_any) {
  int fds = harness_open_fds();
  udp_t u4, u6;
  if (!udp_open(&u4, AF_INET, "") || !udp_open(&u6, AF_INET6, "")) return;
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  CHECK(getsockname(u4.fd, (struct sockaddr*)&ss, &len) == 0);
  CHECK_EQ_INT(ss.ss_family, AF_INET);
  CHECK(((struct sockaddr_in*)&ss)->sin_addr.s_addr == htonl(INADDR_ANY));
  len = sizeof ss;
  CHECK(getsockname(u6.fd, (struct sockaddr*)&ss, &len) == 0);
  CHECK_EQ_INT(ss.ss_family, AF_INET6);
  CHECK(IN6_IS_ADDR_UNSPECIFIED(&((struct sockaddr_in6*)&ss)->sin6_addr));
  udp_close(&u4);
  udp_close(&u6);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* UDP has no end of stream: an empty datagram is neither EOF nor an error.
 * It is dropped; the next datagram is returned, or 0 if none is queued. */
TEST(empty_datagram_is_not_eof) {
  int fds = harness_open_fds();
  udp_t a, b;
  if (!udp_open(&a, AF_INET, "127.0.0.1") || !udp_open(&b, AF_INET, "127.0.0.1")) return;
  pony_ipaddress_t to = address_of(a.fd);
  char buf[16];
  pony_ipaddress_t from;

  CHECK_EQ_INT(pony_os_sendto(b.fd, buf, 0, &to), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK(WAIT_UNTIL(readable_now(a.fd), WAIT_MS));
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, &from), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0); /* not PONYNET_ERR_EOF */
  CHECK(!readable_now(a.fd));             /* consumed */

  /* Empty, then "x": the call returns "x". */
  CHECK_EQ_INT(pony_os_sendto(b.fd, buf, 0, &to), 0);
  CHECK_EQ_INT(pony_os_sendto(b.fd, "x", 1, &to), 1);
  CHECK(WAIT_UNTIL(readable_now(a.fd), WAIT_MS));
  CHECK(WAIT_UNTIL(pony_os_recvfrom(a.ev, buf, sizeof buf, &from) == 1, WAIT_MS));
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK(buf[0] == 'x');

  /* A 0-byte buffer reads nothing and leaves the datagram queued. */
  CHECK_EQ_INT(pony_os_sendto(b.fd, "abc", 3, &to), 3);
  CHECK(WAIT_UNTIL(readable_now(a.fd), WAIT_MS));
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, 0, &from), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, &from), 3);

  udp_close(&a);
  udp_close(&b);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* sendto and recvfrom never block, even on a blocking fd. */
TEST(never_blocks_on_a_blocking_fd) {
  udp_t a;
  if (!udp_open(&a, AF_INET, "127.0.0.1")) return;
  CHECK(fcntl(a.fd, F_SETFL, fcntl(a.fd, F_GETFL) & ~O_NONBLOCK) == 0);
  char buf[16];
  pony_ipaddress_t from;
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, &from), 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  pony_ipaddress_t self = address_of(a.fd);
  CHECK_EQ_INT(pony_os_sendto(a.fd, "me", 2, &self), 2);
  CHECK(WAIT_UNTIL(readable_now(a.fd), WAIT_MS));
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, &from), 2);
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, &from), 0);
  udp_close(&a);
}

TEST(sendto_failures_are_recorded) {
  udp_t a;
  if (!udp_open(&a, AF_INET, "127.0.0.1")) return;
  pony_ipaddress_t to = address_of(a.fd);

  pony_ipaddress_t odd;
  memset(&odd, 0, sizeof odd);
  odd.addr.ss_family = AF_UNIX;
  CHECK_EQ_INT(pony_os_sendto(a.fd, "x", 1, &odd), 0);
  CHECK_EQ_INT(ponynet_take_error(), EAFNOSUPPORT);
  odd.addr.ss_family = AF_UNSPEC;
  CHECK_EQ_INT(pony_os_sendto(a.fd, "x", 1, &odd), 0);
  CHECK_EQ_INT(ponynet_take_error(), EAFNOSUPPORT);

  /* An IPv6 destination from an IPv4 socket: the OS refuses. */
  pony_ipaddress_t six = group_address(AF_INET6, "::1", port_of(&to));
  CHECK_EQ_INT(pony_os_sendto(a.fd, "x", 1, &six), 0);
  CHECK(ponynet_take_error() > 0);

  CHECK_EQ_INT(pony_os_sendto(-1, "x", 1, &to), 0);
  CHECK_EQ_INT(ponynet_take_error(), EBADF);

  /* A failure is cleared by the next call that succeeds. */
  CHECK_EQ_INT(pony_os_sendto(a.fd, "x", 1, &odd), 0);
  CHECK_EQ_INT(pony_os_sendto(a.fd, "x", 1, &to), 1);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  udp_close(&a);
}

TEST(listen_failures_leak_nothing) {
  int fds = harness_open_fds();
  uint64_t noisy = ponynet_asio_noisy_count();
  rec_owner_t o;
  rec_init(&o);
  /* Not a service (looked up in the services database, not the network). */
  CHECK(pony_os_listen_udp4(&o.base, "127.0.0.1", "no-such-service-xyz") == NULL);
  CHECK(ponynet_take_error() != 0);
  /* Not an address of this host (TEST-NET-3): bind fails, no datagram is sent. */
  CHECK(pony_os_listen_udp4(&o.base, "203.0.113.77", "0") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), EADDRNOTAVAIL);
  /* An IPv4 literal for an IPv6-only listen. */
  CHECK(pony_os_listen_udp6(&o.base, "127.0.0.1", "0") == NULL);
  CHECK(ponynet_take_error() != 0);
  CHECK_EQ_INT(rec_total(&o), 0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), noisy);
  CHECK_EQ_INT(harness_open_fds(), fds);
  rec_fini(&o);
}

/* A port above 65535 (getaddrinfo alone would take it modulo 65536), a
 * signed one, or one with spaces is EINVAL; an empty service is port 0. */
TEST(out_of_range_and_malformed_ports_fail_with_einval) {
  int fds = harness_open_fds();
  uint64_t noisy = ponynet_asio_noisy_count();
  rec_owner_t o;
  rec_init(&o);
  const char* bad[] = {"99999", "4294967297", "65536", "-1", "+53", " 53"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(pony_os_listen_udp4(&o.base, "127.0.0.1", bad[i]) == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK(pony_os_listen_udp(&o.base, "localhost", bad[i]) == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK(pony_os_listen_udp6(&o.base, "", bad[i]) == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  }
  CHECK_EQ_INT(ponynet_asio_noisy_count(), noisy);
  CHECK_EQ_INT(rec_total(&o), 0);
  rec_fini(&o);
  const char* hosts[] = {"127.0.0.1", ""};
  for (int h = 0; h < 2; h++) {
    udp_t u;
    rec_init(&u.owner);
    u.ev = pony_os_listen_udp4(&u.owner.base, hosts[h], "");
    u.fd = pony_asio_event_fd(u.ev);
    if (CHECK(u.ev != NULL)) {
      pony_ipaddress_t a = address_of(u.fd);
      CHECK(ntohs(((struct sockaddr_in*)&a.addr)->sin_port) != 0);
    }
    udp_close(&u);
  }
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(null_arguments_fail) {
  int fds = harness_open_fds();
  udp_t a;
  if (!udp_open(&a, AF_INET, "127.0.0.1")) return;
  rec_owner_t o;
  rec_init(&o);
  pony_ipaddress_t to = address_of(a.fd);
  char buf[8];

  CHECK(pony_os_listen_udp(NULL, "127.0.0.1", "0") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK(pony_os_listen_udp4(&o.base, NULL, "0") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK(pony_os_listen_udp6(&o.base, "::1", NULL) == NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);

  CHECK_EQ_INT(pony_os_sendto(a.fd, NULL, 1, &to), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(pony_os_sendto(a.fd, "x", 1, NULL), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(pony_os_recvfrom(NULL, buf, sizeof buf, &to), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, NULL, sizeof buf, &to), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK_EQ_INT(pony_os_recvfrom(a.ev, buf, sizeof buf, NULL), 0);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);

  pony_os_multicast_interface(a.fd, NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  pony_os_multicast_join(a.fd, NULL, "127.0.0.1");
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  pony_os_multicast_join(a.fd, "239.255.42.1", NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  pony_os_multicast_leave(a.fd, NULL, "127.0.0.1");
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  pony_os_multicast_leave(a.fd, "239.255.42.1", NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);

  /* Options on something that is not a socket. */
  pony_os_broadcast(-1, true);
  CHECK_EQ_INT(ponynet_take_error(), EBADF);
  pony_os_multicast_loopback(-1, true);
  CHECK_EQ_INT(ponynet_take_error(), EBADF);
  pony_os_multicast_ttl(-1, 1);
  CHECK_EQ_INT(ponynet_take_error(), EBADF);

  CHECK_EQ_INT(rec_total(&o), 0);
  rec_fini(&o);
  udp_close(&a);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(broadcast_on_and_off) {
  udp_t a;
  if (!udp_open(&a, AF_INET, "127.0.0.1")) return;
  CHECK_EQ_INT(int_option(a.fd, SOL_SOCKET, SO_BROADCAST), 0);
  pony_os_broadcast(a.fd, true);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, SOL_SOCKET, SO_BROADCAST), 1);
  pony_os_broadcast(a.fd, false);
  CHECK_EQ_INT(int_option(a.fd, SOL_SOCKET, SO_BROADCAST), 0);
  udp_close(&a);
}

static struct in_addr multicast_if_v4(int fd) {
  struct in_addr a = {0};
  socklen_t len = sizeof a;
  CHECK(getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &a, &len) == 0);
  return a;
}

TEST(multicast_options_ipv4) {
  udp_t a;
  if (!udp_open(&a, AF_INET, "")) return;
  pony_os_multicast_loopback(a.fd, false);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IP, IP_MULTICAST_LOOP), 0);
  pony_os_multicast_loopback(a.fd, true);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IP, IP_MULTICAST_LOOP), 1);

  pony_os_multicast_ttl(a.fd, 7);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IP, IP_MULTICAST_TTL), 7);
  /* Every uint8_t is a TTL the kernel takes (it takes -1..255). */
  pony_os_multicast_ttl(a.fd, 255);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IP, IP_MULTICAST_TTL), 255);
  pony_os_multicast_ttl(a.fd, 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IP, IP_MULTICAST_TTL), 0);

  pony_os_multicast_interface(a.fd, "127.0.0.1");
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK(multicast_if_v4(a.fd).s_addr == htonl(INADDR_LOOPBACK));
  pony_os_multicast_interface(a.fd, "");
  CHECK(multicast_if_v4(a.fd).s_addr == htonl(INADDR_ANY));
  pony_os_multicast_interface(a.fd, "lo");
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK(multicast_if_v4(a.fd).s_addr == htonl(INADDR_LOOPBACK));
  /* Not an address of this host (TEST-NET-3): refused, setting kept. */
  pony_os_multicast_interface(a.fd, "203.0.113.77");
  CHECK(ponynet_take_error() != 0);
  CHECK(multicast_if_v4(a.fd).s_addr == htonl(INADDR_LOOPBACK));
  udp_close(&a);
}

TEST(multicast_options_ipv6) {
  udp_t a;
  if (!udp_open(&a, AF_INET6, "")) return;
  unsigned lo = if_nametoindex("lo");
  CHECK(lo != 0);
  pony_os_multicast_loopback(a.fd, false);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 0);
  pony_os_multicast_loopback(a.fd, true);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP), 1);

  pony_os_multicast_ttl(a.fd, 9);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 9);
  /* Every uint8_t is a hop limit the kernel takes (it takes -1..255). */
  pony_os_multicast_ttl(a.fd, 255);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 255);
  pony_os_multicast_ttl(a.fd, 0);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS), 0);

  pony_os_multicast_interface(a.fd, "::1");
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF), lo);
  pony_os_multicast_interface(a.fd, "");
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF), 0);
  pony_os_multicast_interface(a.fd, "lo");
  CHECK_EQ_INT(ponynet_take_error(), 0);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF), lo);
  pony_os_multicast_interface(a.fd, "2001:db8::77");
  CHECK_EQ_INT(ponynet_take_error(), ENODEV);
  CHECK_EQ_INT(int_option(a.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF), lo);
  udp_close(&a);
}

/* Joining takes effect (a second join is EADDRINUSE, a datagram sent to the
 * group arrives); leaving too (a second leave is EADDRNOTAVAIL). */
TEST(multicast_join_and_leave_ipv4) {
  int fds = harness_open_fds();
  udp_t r, s;
  if (!udp_open(&r, AF_INET, "") || !udp_open(&s, AF_INET, "127.0.0.1")) return;
  const char* group = "239.255.42.99";
  pony_os_multicast_join(r.fd, group, "127.0.0.1");
  CHECK_EQ_INT(ponynet_take_error(), 0);
  pony_os_multicast_join(r.fd, group, "127.0.0.1");
  CHECK_EQ_INT(ponynet_take_error(), EADDRINUSE);

  pony_os_multicast_interface(s.fd, "127.0.0.1");
  pony_os_multicast_loopback(s.fd, true);
  pony_os_multicast_ttl(s.fd, 1);
  CHECK_EQ_INT(ponynet_take_error(), 0);
  pony_ipaddress_t r_addr = address_of(r.fd);
  pony_ipaddress_t to = group_address(AF_INET, group, port_of(&r_addr));
  CHECK_EQ_INT(pony_os_sendto(s.fd, "mc", 2, &to), 2);
  CHECK(WAIT_UNTIL(rec_count(&r.owner, r.ev, ASIO_READ) >= 1, WAIT_MS));
  char buf[8];
  pony_ipaddress_t from;
  CHECK_EQ_INT(pony_os_recvfrom(r.ev, buf, sizeof buf, &from), 2);
  CHECK(memcmp(buf, "mc", 2) == 0);

  pony_os_multicast_leave(r.fd, group, "127.0.0.1");
  CHECK_EQ_INT(ponynet_take_error(), 0);
  pony_os_multicast_leave(r.fd, group, "127.0.0.1");
  CHECK_EQ_INT(ponynet_take_error(), EADDRNOTAVAIL);

  /* 224.0.0.x by interface name. */
  pony_os_multicast_join(r.fd, "224.0.0.251", "lo");
  CHECK_EQ_INT(ponynet_take_error(), 0);
  pony_os_multicast_leave(r.fd, "224.0.0.251", "lo");
  CHECK_EQ_INT(ponynet_take_error(), 0);
  pony_os_multicast_leave(r.fd, "224.0.0.251", "lo");
  CHECK_EQ_INT(ponynet_take_error(), EADDRNOTAVAIL);

  udp_close(&r);
  udp_close(&s);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(multicast_join_and_leave_ipv6) {
  int fds = harness_open_fds();
  udp_t r;
  if (!udp_open(&r, AF_INET6, "")) return;
  static const char* const groups[][2] = {{"ff02::1:3", "lo"}, {"ff01::4242", "::1"}, {"ff12::1234", "lo"}};
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
    const char* group = groups[i][0];
    const char* iface = groups[i][1];
    pony_os_multicast_join(r.fd, group, iface);
    if (!CHECK_EQ_INT(ponynet_take_error(), 0)) printf("  (join %s on %s)\n", group, iface);
    pony_os_multicast_join(r.fd, group, iface);
    CHECK_EQ_INT(ponynet_take_error(), EADDRINUSE);
    pony_os_multicast_leave(r.fd, group, iface);
    CHECK_EQ_INT(ponynet_take_error(), 0);
    pony_os_multicast_leave(r.fd, group, iface);
    CHECK_EQ_INT(ponynet_take_error(), EADDRNOTAVAIL);
  }
  /* A group that is not multicast. */
  pony_os_multicast_join(r.fd, "::1", "lo");
  CHECK(ponynet_take_error() != 0);
  udp_close(&r);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

int main(void) {
  warm_up();
  RUN(round_trip_ipv4);
  RUN(round_trip_ipv6);
  RUN(round_trip_any_family);
  RUN(empty_host_binds_any);
  RUN(empty_datagram_is_not_eof);
  RUN(never_blocks_on_a_blocking_fd);
  RUN(sendto_failures_are_recorded);
  RUN(listen_failures_leak_nothing);
  RUN(out_of_range_and_malformed_ports_fail_with_einval);
  RUN(null_arguments_fail);
  RUN(broadcast_on_and_off);
  RUN(multicast_options_ipv4);
  RUN(multicast_options_ipv6);
  RUN(multicast_join_and_leave_ipv4);
  RUN(multicast_join_and_leave_ipv6);
  ponynet_asio_stop();
  return harness_summary();
}
