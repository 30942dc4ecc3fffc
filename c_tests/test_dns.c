/* Addresses and names (ABI.md §3) through the header only: literal tests,
 * family tests and lengths, lookups and their walk, nameinfo, ip_string,
 * hostile strings, NULL arguments, and lookups on a host whose only
 * interface is loopback (a private network namespace, when allowed). */
#include "harness.h"
#include "owner.h"
#include "ponynet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 5000

static pony_ipaddress_t ip4(const char* text, uint16_t port) {
  pony_ipaddress_t a;
  memset(&a, 0, sizeof a);
  struct sockaddr_in* in = (struct sockaddr_in*)&a.addr;
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  inet_pton(AF_INET, text, &in->sin_addr);
  return a;
}

static pony_ipaddress_t ip6(const char* text, uint16_t port) {
  pony_ipaddress_t a;
  memset(&a, 0, sizeof a);
  struct sockaddr_in6* in6 = (struct sockaddr_in6*)&a.addr;
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  inet_pton(AF_INET6, text, &in6->sin6_addr);
  return a;
}

static uint16_t port_of(const pony_ipaddress_t* a) {
  if (a->addr.ss_family == AF_INET) return ntohs(((const struct sockaddr_in*)&a->addr)->sin_port);
  return ntohs(((const struct sockaddr_in6*)&a->addr)->sin6_port);
}

static bool is_loopback(const pony_ipaddress_t* a) {
  if (a->addr.ss_family == AF_INET)
    return ((const struct sockaddr_in*)&a->addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
  return memcmp(&((const struct sockaddr_in6*)&a->addr)->sin6_addr, &in6addr_loopback, 16) == 0;
}

TEST(literal_addresses) {
  CHECK(pony_os_host_ip4("127.0.0.1"));
  CHECK(pony_os_host_ip4("255.255.255.255"));
  CHECK(!pony_os_host_ip4("256.0.0.1"));
  CHECK(!pony_os_host_ip4("1.2.3"));
  CHECK(!pony_os_host_ip4("::1"));
  CHECK(!pony_os_host_ip4("localhost"));
  CHECK(!pony_os_host_ip4(""));
  CHECK(!pony_os_host_ip4(NULL));
  CHECK(pony_os_host_ip6("::1"));
  CHECK(pony_os_host_ip6("fe80::1:2:3"));
  CHECK(pony_os_host_ip6("::ffff:10.0.0.1"));
  CHECK(!pony_os_host_ip6("127.0.0.1"));
  CHECK(!pony_os_host_ip6(":::"));
  CHECK(!pony_os_host_ip6(""));
  CHECK(!pony_os_host_ip6(NULL));
}

TEST(families_and_lengths) {
  pony_ipaddress_t a4 = ip4("10.1.2.3", 1), a6 = ip6("::1", 1), other;
  memset(&other, 0, sizeof other);
  other.addr.ss_family = AF_UNIX;
  CHECK(pony_os_ipv4(&a4) && !pony_os_ipv6(&a4));
  CHECK(pony_os_ipv6(&a6) && !pony_os_ipv4(&a6));
  CHECK(!pony_os_ipv4(&other) && !pony_os_ipv6(&other));
  CHECK_EQ_INT(ponyint_address_length(&a4), sizeof(struct sockaddr_in));
  CHECK_EQ_INT(ponyint_address_length(&a6), sizeof(struct sockaddr_in6));
  CHECK_EQ_INT(ponyint_address_length(&other), 0xFFFFFFFFu);
  CHECK(!pony_os_ipv4(NULL) && !pony_os_ipv6(NULL));
  CHECK_EQ_INT(ponyint_address_length(NULL), 0xFFFFFFFFu);
}

/* Entries of a lookup with this socket type and family. */
static int count_entries(struct addrinfo* list, int socktype, int family) {
  int n = 0;
  for (struct addrinfo* p = list; p != NULL; p = pony_os_nextaddr(p))
    n += p->ai_socktype == socktype && p->ai_family == family;
  return n;
}

TEST(addrinfo_by_family_and_walk) {
  int fds = harness_open_fds();
  struct addrinfo* list = pony_os_addrinfo(0, "127.0.0.1", "80");
  CHECK(list != NULL);
  CHECK(count_entries(list, SOCK_STREAM, AF_INET) == 1);
  pony_ipaddress_t a;
  memset(&a, 0xAA, sizeof a);
  pony_os_getaddr(list, &a);
  CHECK(pony_os_ipv4(&a) && is_loopback(&a));
  CHECK_EQ_INT(port_of(&a), 80);
  freeaddrinfo(list);

  CHECK(pony_os_addrinfo(1, "::1", "80") == NULL);
  CHECK(pony_os_addrinfo(2, "127.0.0.1", "80") == NULL);
  list = pony_os_addrinfo(2, "::1", "8080");
  CHECK(list != NULL && count_entries(list, SOCK_STREAM, AF_INET6) == 1);
  pony_os_getaddr(list, &a);
  CHECK(pony_os_ipv6(&a) && is_loopback(&a) && port_of(&a) == 8080);
  freeaddrinfo(list);

  /* Unknown families. */
  CHECK(pony_os_addrinfo(3, "127.0.0.1", "80") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), EAFNOSUPPORT);
  CHECK(pony_os_addrinfo(-1, "127.0.0.1", "80") == NULL);

  /* Passive: no host (NULL or empty) is "any", which getaddr reports as loopback. */
  const char* anys[] = {NULL, ""};
  for (int i = 0; i < 2; i++) {
    list = pony_os_addrinfo(1, anys[i], "80");
    CHECK(list != NULL);
    if (list == NULL) continue;
    CHECK(((struct sockaddr_in*)list->ai_addr)->sin_addr.s_addr == htonl(INADDR_ANY));
    pony_os_getaddr(list, &a);
    CHECK(pony_os_ipv4(&a) && is_loopback(&a) && port_of(&a) == 80);
    freeaddrinfo(list);
  }
  list = pony_os_addrinfo(2, NULL, "80");
  CHECK(list != NULL);
  if (list != NULL) {
    pony_os_getaddr(list, &a);
    CHECK(pony_os_ipv6(&a) && is_loopback(&a));
    freeaddrinfo(list);
  }

  /* "localhost" and no service; a service name. */
  list = pony_os_addrinfo(0, "localhost", NULL);
  CHECK(list != NULL);
  int n = 0;
  for (struct addrinfo* p = list; p != NULL; p = pony_os_nextaddr(p)) {
    pony_os_getaddr(p, &a);
    CHECK(is_loopback(&a) && port_of(&a) == 0);
    n++;
  }
  CHECK(n >= 1);
  freeaddrinfo(list);
  list = pony_os_addrinfo(1, "127.0.0.1", "http");
  CHECK(list != NULL);
  if (list != NULL) {
    pony_os_getaddr(list, &a);
    CHECK_EQ_INT(port_of(&a), 80);
    freeaddrinfo(list);
  }

  /* Nothing to look up, NULL walk arguments. */
  CHECK(pony_os_addrinfo(0, NULL, NULL) == NULL);
  CHECK(pony_os_addrinfo(0, "", "") == NULL);
  CHECK(pony_os_nextaddr(NULL) == NULL);
  pony_os_getaddr(NULL, &a);
  pony_os_getaddr(NULL, NULL);
  list = pony_os_addrinfo(0, "127.0.0.1", "1");
  pony_os_getaddr(list, NULL);
  freeaddrinfo(list);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

/* A port above 65535 (getaddrinfo alone would take it modulo 65536:
 * "99999" is port 34463), a signed one or one with spaces is EINVAL; leading
 * zeros are decimal; names still go to the services database. */
TEST(addrinfo_ports_in_range_only) {
  const char* bad[] = {"99999", "4294967297", "65536", "-1", "+80", " 80", "8 0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct addrinfo* list = pony_os_addrinfo(0, "127.0.0.1", bad[i]);
    pony_ipaddress_t a;
    if (list != NULL) {
      pony_os_getaddr(list, &a);
      printf("  \"%s\" gave port %d\n", bad[i], port_of(&a));
      freeaddrinfo(list);
    }
    CHECK(list == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK(pony_os_addrinfo(1, "localhost", bad[i]) == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK(pony_os_addrinfo(2, NULL, bad[i]) == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  }
  struct { const char* service; int port; } good[] = {{"65535", 65535}, {"080", 80}, {"0", 0}, {"", 0}, {"http", 80}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    struct addrinfo* list = pony_os_addrinfo(1, "127.0.0.1", good[i].service);
    if (!CHECK(list != NULL)) continue;
    pony_ipaddress_t a;
    pony_os_getaddr(list, &a);
    CHECK_EQ_INT(port_of(&a), good[i].port);
    freeaddrinfo(list);
  }
}

/* A name that does not resolve has its own code, not an errno (glibc
 * answers these without a name server: an empty label, a scope of no
 * interface, a literal of the other family, an unknown service). */
TEST(names_that_do_not_exist_are_name_not_found) {
  int fds = harness_open_fds();
  rec_owner_t* o = malloc(sizeof *o);
  rec_init(o);
  const char* hosts[] = {"a..b", "::1%no-such-if"};
  for (int i = 0; i < 2; i++) {
    CHECK(pony_os_addrinfo(0, hosts[i], "80") == NULL);
    CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_NAME_NOT_FOUND);
    CHECK(pony_os_listen_tcp(&o->base, hosts[i], "0") == NULL);
    CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_NAME_NOT_FOUND);
    CHECK(pony_os_listen_udp(&o->base, hosts[i], "0") == NULL);
    CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_NAME_NOT_FOUND);
    CHECK_EQ_INT(pony_os_connect_tcp(&o->base, hosts[i], "80", NULL, ASIO_READ | ASIO_WRITE), 0);
    CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_NAME_NOT_FOUND);
  }
  CHECK(pony_os_addrinfo(1, "::1", "80") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_NAME_NOT_FOUND);
  CHECK(pony_os_listen_tcp6(&o->base, "127.0.0.1", "0") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_NAME_NOT_FOUND);
  CHECK(pony_os_addrinfo(0, "127.0.0.1", "no-such-service-xyz") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_NAME_NOT_FOUND);
  CHECK(pony_os_listen_tcp(&o->base, "127.0.0.1", "no-such-service-xyz") == NULL);
  CHECK_EQ_INT(ponynet_take_error(), PONYNET_ERR_NAME_NOT_FOUND);
  /* The codes are the library's own: no errno, no other library code. */
  int codes[] = {PONYNET_ERR_NAME_NOT_FOUND, PONYNET_ERR_NAME_TRY_AGAIN, PONYNET_ERR_NAME_FAILED};
  for (int i = 0; i < 3; i++) {
    CHECK(codes[i] < 0 && codes[i] != PONYNET_ERR_EOF && codes[i] != PONYNET_ERR_PANIC);
    for (int j = 0; j < i; j++) CHECK(codes[i] != codes[j]);
  }
  CHECK_EQ_INT(rec_total(o), 0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  rec_fini(o);
  free(o);
  CHECK_EQ_INT(harness_open_fds(), fds);
}

TEST(hostile_strings_fail_fast) {
  size_t big = 1 << 20;
  char* longname = malloc(big + 1);
  memset(longname, 'x', big);
  longname[big] = '\0';
  char ctl[32];
  for (int i = 0; i < 31; i++) ctl[i] = (char)(i + 1);
  ctl[31] = '\0';
  const char* bad[] = {longname, ctl, "\xc3\xa9\xc3\xa9", "\xff", "host name", "a\"b", "x$(id)", "[::1]", "a,b"};
  uint64_t t0 = harness_now_ms();
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(pony_os_addrinfo(0, bad[i], "80") == NULL);
    CHECK_EQ_INT(ponynet_take_error(), EINVAL);
    CHECK(pony_os_addrinfo(0, "127.0.0.1", bad[i]) == NULL);
    CHECK(!pony_os_host_ip4(bad[i]) && !pony_os_host_ip6(bad[i]));
  }
  CHECK(harness_now_ms() - t0 < 2000);
  free(longname);
}

static bool nameinfo_is(pony_ipaddress_t* a, bool rdns, bool sname, const char* host, const char* serv) {
  char *h = NULL, *s = NULL;
  bool ok = pony_os_nameinfo(a, &h, &s, rdns, sname);
  bool same = ok && h != NULL && s != NULL && (host == NULL || strcmp(h, host) == 0) && strcmp(s, serv) == 0;
  if (!same) printf("  nameinfo gave %s: host=%s serv=%s\n", ok ? "true" : "false", h ? h : "(null)", s ? s : "(null)");
  free(h);
  free(s);
  return same;
}

TEST(nameinfo_numeric_and_names) {
  pony_ipaddress_t a4 = ip4("127.0.0.1", 80), a6 = ip6("::1", 8080), hi = ip4("10.9.8.7", 65000);
  CHECK(nameinfo_is(&a4, false, false, "127.0.0.1", "80"));
  CHECK(nameinfo_is(&a4, false, true, "127.0.0.1", "http"));
  CHECK(nameinfo_is(&a6, false, false, "::1", "8080"));
  CHECK(nameinfo_is(&hi, false, true, "10.9.8.7", "65000"));
  /* Reverse lookup of loopback comes from the hosts file: some name, not the number. */
  char *h = NULL, *s = NULL;
  CHECK(pony_os_nameinfo(&a4, &h, &s, true, false));
  CHECK(h != NULL && strlen(h) > 0);
  CHECK(s != NULL && strcmp(s, "80") == 0);
  free(h);
  free(s);
  /* Failures: unknown family, NULL anywhere; nothing is allocated. */
  pony_ipaddress_t other;
  memset(&other, 0, sizeof other);
  other.addr.ss_family = AF_UNIX;
  h = s = NULL;
  CHECK(!pony_os_nameinfo(&other, &h, &s, false, false));
  CHECK(h == NULL && s == NULL);
  CHECK(!pony_os_nameinfo(NULL, &h, &s, false, false));
  CHECK(!pony_os_nameinfo(&a4, NULL, &s, false, false));
  CHECK(!pony_os_nameinfo(&a4, &h, NULL, false, false));
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
  CHECK(h == NULL && s == NULL);
}

static bool ip_string_is(const void* src, int len, const char* want) {
  char* got = pony_os_ip_string(src, len);
  bool ok = got != NULL && strcmp(got, want) == 0;
  if (!ok) printf("  ip_string gave %s, wanted %s\n", got ? got : "(null)", want);
  free(got);
  return ok;
}

TEST(ip_string_of_raw_addresses) {
  unsigned char v4[4] = {192, 168, 0, 1};
  struct in6_addr v6;
  inet_pton(AF_INET6, "2001:db8::1", &v6);
  CHECK(ip_string_is(v4, 4, "192.168.0.1"));
  CHECK(ip_string_is(&in6addr_loopback, 16, "::1"));
  CHECK(ip_string_is(&v6, 16, "2001:db8::1"));
  inet_pton(AF_INET6, "::ffff:1.2.3.4", &v6);
  CHECK(ip_string_is(&v6, 16, "::ffff:1.2.3.4"));
  int bad[] = {0, 1, 3, 5, 15, 17, -1, -16};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) CHECK(pony_os_ip_string(&v6, bad[i]) == NULL);
  CHECK(pony_os_ip_string(NULL, 4) == NULL);
  CHECK(pony_os_ip_string(NULL, 16) == NULL);
  CHECK_EQ_INT(ponynet_take_error(), EINVAL);
}

/* ---- a host whose only interface is loopback ---------------------------- */

static void wait_disposed(rec_owner_t* o, pony_asio_event_t* ev, int* fails) {
  pony_asio_event_unsubscribe(ev);
  if (!WAIT_UNTIL(rec_count(o, ev, 0) == 1, WAIT_MS)) (*fails)++;
  pony_asio_event_destroy(ev);
}

/* Runs in a child in its own network namespace: only "lo", and down at
 * first. Returns the number of failed checks. */
static int loopback_only_child(void) {
  int fails = 0;
  /* Lookups need no interface at all (no AI_ADDRCONFIG). */
  const char* hosts[] = {"localhost", "127.0.0.1", "::1", NULL};
  int families[] = {0, 1, 2};
  for (int h = 0; h < 4; h++)
    for (int f = 0; f < 3; f++) {
      /* Skip lookups that cannot succeed (and "localhost" in IPv6: not every hosts file has it). */
      if ((h == 1 && f == 2) || (h == 2 && f == 1) || (h == 0 && f == 2)) continue;
      struct addrinfo* list = pony_os_addrinfo(families[f], hosts[h], "80");
      if (list == NULL) fails++;
      else freeaddrinfo(list);
    }
  /* With lo up: listen on "localhost", connect to it. */
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) return fails + 100;
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) return fails + 100;
  close(s);
  rec_owner_t* o = malloc(sizeof *o);
  rec_init(o);
  pony_asio_event_t* lev = pony_os_listen_tcp4(&o->base, "localhost", "0");
  if (lev == NULL) return fails + 1000;
  pony_ipaddress_t a;
  if (!pony_os_sockname(pony_asio_event_fd(lev), &a)) fails++;
  char port[16];
  snprintf(port, sizeof port, "%d", port_of(&a));
  int count = pony_os_connect_tcp4(&o->base, "localhost", port, NULL, ASIO_READ | ASIO_WRITE | ASIO_ONESHOT);
  if (count != 1) fails++;
  pony_asio_event_t* cev = NULL;
  if (count == 1 && WAIT_UNTIL(rec_count(o, NULL, ASIO_WRITE) > 0, WAIT_MS))
    for (int i = 0; i < rec_total(o) && cev == NULL; i++)
      if (rec_note(o, i).flags & ASIO_WRITE) cev = rec_note(o, i).ev;
  if (cev == NULL || !pony_os_connected(pony_asio_event_fd(cev))) fails++;
  int sfd = 0;
  WAIT_UNTIL((sfd = pony_os_accept(lev)) != 0, WAIT_MS);
  if (sfd <= 0) fails++;
  else pony_os_socket_close(sfd);
  if (cev != NULL) {
    int fd = pony_asio_event_fd(cev);
    wait_disposed(o, cev, &fails);
    pony_os_socket_close(fd);
  }
  int lfd = pony_asio_event_fd(lev);
  wait_disposed(o, lev, &fails);
  pony_os_socket_close(lfd);
  if (!ponynet_asio_stop()) fails++;
  rec_fini(o);
  free(o);
  return fails;
}

/* In a child in a network namespace of its own, with no interface up: no
 * name server can be reached, and every lookup of a name fails with
 * PONYNET_ERR_NAME_TRY_AGAIN (not EAGAIN, not ENOENT). Returns the number
 * of failed checks. */
static int unreachable_resolver_child(void) {
  int fails = 0;
  rec_owner_t* o = malloc(sizeof *o);
  rec_init(o);
  const char* name = "no-such-host.invalid";
  if (pony_os_addrinfo(0, name, "80") != NULL) fails++;
  if (ponynet_take_error() != PONYNET_ERR_NAME_TRY_AGAIN) fails++;
  if (pony_os_listen_tcp(&o->base, name, "0") != NULL) fails++;
  if (ponynet_take_error() != PONYNET_ERR_NAME_TRY_AGAIN) fails++;
  if (pony_os_connect_tcp(&o->base, name, "80", NULL, ASIO_READ | ASIO_WRITE) != 0) fails++;
  int code = ponynet_take_error();
  if (code != PONYNET_ERR_NAME_TRY_AGAIN) {
    printf("  connect to %s: ponynet_take_error() = %d\n", name, code);
    fails++;
  }
  if (pony_os_listen_udp(&o->base, name, "0") != NULL) fails++;
  if (ponynet_take_error() != PONYNET_ERR_NAME_TRY_AGAIN) fails++;
  rec_fini(o);
  free(o);
  fflush(stdout); /* the child leaves with _exit */
  return fails;
}

TEST(an_unreachable_name_server_is_name_try_again) {
  pid_t pid = fork();
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) _exit(77); /* not allowed here: skip */
    _exit(unreachable_resolver_child() == 0 ? 0 : 1);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) printf("  (skipped: no network namespace for this user)\n");
  else CHECK_EQ_INT(WEXITSTATUS(status), 0);
}

TEST(lookups_work_with_only_loopback) {
  pid_t pid = fork();
  if (pid == 0) {
    if (unshare(CLONE_NEWNET) != 0) _exit(77); /* not allowed here: skip */
    _exit(loopback_only_child() == 0 ? 0 : 1);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) printf("  (skipped: no network namespace for this user)\n");
  else CHECK_EQ_INT(WEXITSTATUS(status), 0);
}

TEST(stop_at_the_end) {
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK(ponynet_asio_stop());
}

int main(void) {
  /* First, while this process has no thread but main: it forks. */
  RUN(lookups_work_with_only_loopback);
  RUN(an_unreachable_name_server_is_name_try_again);
  RUN(literal_addresses);
  RUN(families_and_lengths);
  RUN(addrinfo_by_family_and_walk);
  RUN(addrinfo_ports_in_range_only);
  RUN(names_that_do_not_exist_are_name_not_found);
  RUN(hostile_strings_fail_fast);
  RUN(nameinfo_numeric_and_names);
  RUN(ip_string_of_raw_addresses);
  RUN(stop_at_the_end);
  return harness_summary();
}
