/* The physical-limit baseline: plain epoll, no library. One thread runs
 * both ends ("epoll-1t"); the two-thread variant puts the server on its own
 * thread ("epoll-2t"), so every message wakes the other thread.
 *   raw_epoll pingpong ROUNDS 1|2
 *   raw_epoll bulk BYTES 1|2
 *   raw_epoll connrate CONNS CHAINS
 *   raw_epoll many CONNS ROUNDS
 *   raw_epoll c10k CONNS
 *   raw_epoll dispatch COUNT                                                 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

static int ep_new(void) {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  return ep;
}

static void ep_add(int ep, int fd, uint32_t events, uint64_t data) {
  struct epoll_event e = {.events = events | EPOLLET, .data.u64 = data};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) < 0) die("epoll_ctl");
}

/* Reads what is there; returns bytes read, -1 on EOF/error. */
static ssize_t drain_fd(int fd, char* buf, size_t cap) {
  ssize_t total = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, cap, 0);
    if (n > 0) {
      total += n;
      continue;
    }
    if (n == 0) return total ? total : -1;
    if (errno == EAGAIN) return total;
    return -1;
  }
}

/* ---- pingpong ---------------------------------------------------------- */

struct echo_server {
  int fd;
  volatile int stop;
};

static void* echo_thread(void* arg) {
  struct echo_server* s = arg;
  int ep = ep_new();
  ep_add(ep, s->fd, EPOLLIN, 0);
  char buf[CHUNK];
  while (!s->stop) {
    struct epoll_event ev[4];
    int n = epoll_wait(ep, ev, 4, 100);
    for (int i = 0; i < n; i++) {
      ssize_t got = drain_fd(s->fd, buf, sizeof buf);
      if (got < 0) {
        s->stop = 1;
        break;
      }
      if (got > 0 && send(s->fd, buf, (size_t)got, MSG_NOSIGNAL) != got) die("echo send");
    }
  }
  close(ep);
  return NULL;
}

static void pingpong(long rounds, int threads) {
  int c, s;
  tcp_pair(&c, &s);
  uint64_t* samples = malloc(sizeof(uint64_t) * (size_t)rounds);
  char msg[MSG], buf[CHUNK];
  memset(msg, 'p', sizeof msg);
  pthread_t th;
  struct echo_server srv = {s, 0};
  int ep = ep_new();
  ep_add(ep, c, EPOLLIN, 1);
  if (threads == 2)
    pthread_create(&th, NULL, echo_thread, &srv);
  else
    ep_add(ep, s, EPOLLIN, 2);
  for (long r = 0; r < rounds; r++) {
    uint64_t t0 = now_ns();
    if (send(c, msg, MSG, MSG_NOSIGNAL) != MSG) die("send");
    size_t got = 0;
    while (got < MSG) {
      struct epoll_event ev[4];
      int n = epoll_wait(ep, ev, 4, -1);
      for (int i = 0; i < n; i++) {
        if (ev[i].data.u64 == 2) {
          ssize_t k = drain_fd(s, buf, sizeof buf);
          if (k > 0 && send(s, buf, (size_t)k, MSG_NOSIGNAL) != k) die("echo");
        } else {
          ssize_t k = drain_fd(c, buf, sizeof buf);
          if (k < 0) die("client eof");
          got += (size_t)k;
        }
      }
    }
    if (got != MSG) die("short echo");
    samples[r] = now_ns() - t0;
  }
  if (threads == 2) {
    srv.stop = 1;
    pthread_join(th, NULL);
  }
  report_latency(threads == 2 ? "epoll-2t" : "epoll-1t", samples, (size_t)rounds);
  free(samples);
  close(ep);
  close(c);
  close(s);
}

/* ---- bulk -------------------------------------------------------------- */

struct sink {
  int fd;
  long long received;
};

static void* sink_thread(void* arg) {
  struct sink* k = arg;
  int ep = ep_new();
  ep_add(ep, k->fd, EPOLLIN | EPOLLRDHUP, 0);
  char* buf = malloc(CHUNK);
  for (;;) {
    struct epoll_event ev[2];
    if (epoll_wait(ep, ev, 2, -1) <= 0) continue;
    ssize_t n;
    int eof = 0;
    for (;;) {
      n = recv(k->fd, buf, CHUNK, 0);
      if (n > 0) k->received += n;
      else {
        eof = n == 0 || errno != EAGAIN;
        break;
      }
    }
    if (eof) break;
  }
  free(buf);
  close(ep);
  return NULL;
}

static void bulk(long long bytes, int threads) {
  int c, s;
  tcp_pair(&c, &s);
  char* chunk = malloc(CHUNK);
  char* buf = malloc(CHUNK);
  memset(chunk, 'b', CHUNK);
  struct sink k = {s, 0};
  pthread_t th;
  int ep = ep_new();
  ep_add(ep, c, EPOLLOUT, 1);
  if (threads == 2)
    pthread_create(&th, NULL, sink_thread, &k);
  else
    ep_add(ep, s, EPOLLIN, 2);
  uint64_t t0 = now_ns();
  long long sent = 0;
  size_t off = 0;
  while (sent < bytes) {
    /* write until would-block, then wait */
    for (;;) {
      size_t want = CHUNK - off;
      if ((long long)want > bytes - sent) want = (size_t)(bytes - sent);
      ssize_t n = send(c, chunk + off, want, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        die("bulk send");
      }
      sent += n;
      off = (off + (size_t)n) % CHUNK;
      if (sent >= bytes) break;
    }
    if (sent >= bytes) break;
    struct epoll_event ev[4];
    int n = epoll_wait(ep, ev, 4, -1);
    for (int i = 0; i < n; i++)
      if (ev[i].data.u64 == 2)
        for (ssize_t r; (r = recv(s, buf, CHUNK, 0)) > 0;) k.received += r;
  }
  shutdown(c, SHUT_WR);
  if (threads == 2) {
    pthread_join(th, NULL);
  } else {
    while (k.received < bytes) {
      ssize_t r = recv(s, buf, CHUNK, 0);
      if (r > 0) k.received += r;
      else if (r == 0) break;
      else {
        struct epoll_event ev[4];
        epoll_wait(ep, ev, 4, -1);
      }
    }
  }
  uint64_t ns = now_ns() - t0;
  if (k.received != bytes) {
    fprintf(stderr, "bulk: received %lld of %lld\n", k.received, bytes);
    exit(1);
  }
  printf("RESULT impl=%s workload=bulk mib_s=%.1f bytes=%lld\n", threads == 2 ? "epoll-2t" : "epoll-1t",
         (double)bytes / (1024.0 * 1024.0) / ((double)ns / 1e9), bytes);
  free(chunk);
  free(buf);
  close(ep);
  close(c);
  close(s);
}

/* ---- connrate ---------------------------------------------------------- */

/* One chain: connect, shutdown(WR), server accepts, reads EOF, closes;
 * client reads EOF, closes; next. All chains in one epoll loop. */
enum { ROLE_LISTEN = 1, ROLE_CLIENT = 2, ROLE_SERVER = 3 };
#define TAG(role, idx) (((uint64_t)(role) << 32) | (uint32_t)(idx))

static void connrate(long conns, int chains) {
  uint16_t port;
  int l = listen_loopback(&port);
  set_nonblock(l);
  int ep = ep_new();
  ep_add(ep, l, EPOLLIN, TAG(ROLE_LISTEN, 0));
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  int* cfd = calloc((size_t)chains, sizeof(int));
  long started = 0, done = 0;
  char buf[256];
  uint64_t t0 = now_ns();
  for (int i = 0; i < chains && started < conns; i++, started++) {
    cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (connect(cfd[i], (struct sockaddr*)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect");
    ep_add(ep, cfd[i], EPOLLIN | EPOLLOUT | EPOLLRDHUP, TAG(ROLE_CLIENT, i));
  }
  int* shut_done = calloc((size_t)chains, sizeof(int));
  while (done < conns) {
    struct epoll_event ev[64];
    int n = epoll_wait(ep, ev, 64, -1);
    for (int i = 0; i < n; i++) {
      uint32_t role = (uint32_t)(ev[i].data.u64 >> 32), idx = (uint32_t)ev[i].data.u64;
      if (role == ROLE_LISTEN) {
        for (int s; (s = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;)
          ep_add(ep, s, EPOLLIN | EPOLLRDHUP, TAG(ROLE_SERVER, s));
      } else if (role == ROLE_SERVER) {
        int s = (int)idx;
        ssize_t r;
        while ((r = recv(s, buf, sizeof buf, 0)) > 0) {
        }
        if (r == 0 || (r < 0 && errno != EAGAIN)) close(s);
      } else {
        int c = cfd[idx];
        if (!shut_done[idx] && (ev[i].events & EPOLLOUT)) {
          shutdown(c, SHUT_WR);
          shut_done[idx] = 1;
        }
        if (ev[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
          ssize_t r;
          while ((r = recv(c, buf, sizeof buf, 0)) > 0) {
          }
          if (r == 0 || (r < 0 && errno != EAGAIN)) {
            close(c);
            done++;
            shut_done[idx] = 0;
            if (started < conns) {
              started++;
              cfd[idx] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
              if (connect(cfd[idx], (struct sockaddr*)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect");
              ep_add(ep, cfd[idx], EPOLLIN | EPOLLOUT | EPOLLRDHUP, TAG(ROLE_CLIENT, idx));
            }
          }
        }
      }
    }
  }
  uint64_t ns = now_ns() - t0;
  printf("RESULT impl=epoll-1t workload=connrate%s conns_s=%.0f conns=%ld\n", chains > 1 ? "-par" : "-seq",
         (double)conns / ((double)ns / 1e9), conns);
  free(cfd);
  free(shut_done);
  close(ep);
  close(l);
}

/* ---- many and c10k ----------------------------------------------------- */

/* `conns` pairs in one loop; each client does `rounds` sequential 64 B
 * ping-pongs. Returns elapsed ns. With rounds == 1 and idle set-up measured
 * separately, this is also c10k. */
static uint64_t many_pairs(long conns, long rounds, long* rss_per_conn_bytes) {
  raise_nofile((rlim_t)(conns * 2 + 64));
  uint16_t port;
  int l = listen_loopback(&port);
  int ep = ep_new();
  int* c = malloc(sizeof(int) * (size_t)conns);
  int* s = malloc(sizeof(int) * (size_t)conns);
  long* left = malloc(sizeof(long) * (size_t)conns);
  long rss0 = rss_kib();
  for (long i = 0; i < conns; i++) {
    c[i] = connect_loopback(port);
    s[i] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s[i] < 0) die("accept");
    set_nonblock(c[i]);
    set_nodelay(c[i]);
    set_nodelay(s[i]);
    ep_add(ep, c[i], EPOLLIN, TAG(ROLE_CLIENT, i));
    ep_add(ep, s[i], EPOLLIN, TAG(ROLE_SERVER, i));
    left[i] = rounds;
  }
  if (rss_per_conn_bytes) *rss_per_conn_bytes = (rss_kib() - rss0) * 1024 / conns;
  char msg[MSG], buf[4096];
  memset(msg, 'm', sizeof msg);
  uint64_t t0 = now_ns();
  for (long i = 0; i < conns; i++)
    if (send(c[i], msg, MSG, MSG_NOSIGNAL) != MSG) die("send");
  long active = conns;
  while (active > 0) {
    struct epoll_event ev[256];
    int n = epoll_wait(ep, ev, 256, -1);
    for (int k = 0; k < n; k++) {
      uint32_t role = (uint32_t)(ev[k].data.u64 >> 32), i = (uint32_t)ev[k].data.u64;
      if (role == ROLE_SERVER) {
        ssize_t got = drain_fd(s[i], buf, sizeof buf);
        if (got > 0 && send(s[i], buf, (size_t)got, MSG_NOSIGNAL) != got) die("echo");
      } else {
        ssize_t got = drain_fd(c[i], buf, sizeof buf);
        if (got <= 0) continue;
        if (--left[i] > 0) {
          if (send(c[i], msg, MSG, MSG_NOSIGNAL) != MSG) die("send");
        } else {
          active--;
        }
      }
    }
  }
  uint64_t ns = now_ns() - t0;
  for (long i = 0; i < conns; i++) {
    close(c[i]);
    close(s[i]);
  }
  free(c);
  free(s);
  free(left);
  close(ep);
  close(l);
  return ns;
}

/* ---- dispatch ---------------------------------------------------------- */

static void dispatch(long count) {
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  int ep = ep_new();
  ep_add(ep, efd, EPOLLIN, 0);
  uint64_t t0 = now_ns();
  long seen = 0;
  for (long i = 0; i < count; i++) {
    uint64_t one = 1;
    if (write(efd, &one, 8) != 8) die("eventfd write");
    struct epoll_event ev[1];
    if (epoll_wait(ep, ev, 1, -1) == 1) {
      uint64_t v;
      if (read(efd, &v, 8) == 8) seen++;
    }
  }
  uint64_t ns = now_ns() - t0;
  if (seen != count) die("dispatch count");
  printf("RESULT impl=epoll-1t workload=dispatch-fd per_s=%.0f\n", (double)count / ((double)ns / 1e9));
  close(ep);
  close(efd);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: raw_epoll WORKLOAD N [ARG]\n");
    return 2;
  }
  const char* w = argv[1];
  long n = atol(argv[2]);
  long arg = argc > 3 ? atol(argv[3]) : 1;
  if (!strcmp(w, "pingpong")) pingpong(n, (int)arg);
  else if (!strcmp(w, "bulk")) bulk(n, (int)arg);
  else if (!strcmp(w, "connrate")) connrate(n, (int)arg);
  else if (!strcmp(w, "many")) {
    uint64_t ns = many_pairs(n, arg, NULL);
    printf("RESULT impl=epoll-1t workload=many rt_s=%.0f\n", (double)(n * arg) / ((double)ns / 1e9));
  } else if (!strcmp(w, "c10k")) {
    long per = 0;
    uint64_t ns = many_pairs(n, 1, &per);
    printf("RESULT impl=epoll-1t workload=c10k bytes_per_conn=%ld drain_ms=%.2f\n", per, (double)ns / 1e6);
  } else if (!strcmp(w, "dispatch")) dispatch(n);
  else {
    fprintf(stderr, "unknown workload %s\n", w);
    return 2;
  }
  return 0;
}
