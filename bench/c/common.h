/* Shared pieces of the C benchmark programs: clocks, loopback sockets,
 * statistics, and the result line the driver parses:
 *   RESULT impl=<name> workload=<name> <metric>=<value> ...            */
#ifndef PONYNET_BENCH_COMMON_H
#define PONYNET_BENCH_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define CHUNK (64 * 1024)

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void die(const char* what) {
  perror(what);
  exit(2);
}

static inline void set_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) die("fcntl");
}

static inline void set_nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* A listening socket on 127.0.0.1:0 (blocking); its port in *port. */
static inline int listen_loopback(uint16_t* port) {
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0) die("socket");
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr*)&a, sizeof a) < 0) die("bind");
  if (listen(l, 4096) < 0) die("listen");
  socklen_t len = sizeof a;
  getsockname(l, (struct sockaddr*)&a, &len);
  *port = ntohs(a.sin_port);
  return l;
}

/* A blocking connect to 127.0.0.1:port. */
static inline int connect_loopback(uint16_t port) {
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0) die("socket");
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(c, (struct sockaddr*)&a, sizeof a) < 0) die("connect");
  return c;
}

/* A connected pair (client, server), both non-blocking, TCP_NODELAY. */
static inline void tcp_pair(int* client, int* server) {
  uint16_t port;
  int l = listen_loopback(&port);
  *client = connect_loopback(port);
  *server = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (*server < 0) die("accept");
  close(l);
  set_nonblock(*client);
  set_nonblock(*server);
  set_nodelay(*client);
  set_nodelay(*server);
}

static int cmp_u64(const void* a, const void* b) {
  uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
  return x < y ? -1 : x > y;
}

/* Prints mean/p50/p99 of n round-trip samples (ns) in µs. */
static inline void report_latency(const char* impl, uint64_t* samples, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) sum += samples[i];
  qsort(samples, n, sizeof *samples, cmp_u64);
  printf("RESULT impl=%s workload=pingpong mean_us=%.3f p50_us=%.3f p99_us=%.3f\n", impl, sum / 1000.0 / n,
         samples[n / 2] / 1000.0, samples[(n * 99) / 100] / 1000.0);
}

static inline long rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

static inline void raise_nofile(rlim_t want) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

#endif
