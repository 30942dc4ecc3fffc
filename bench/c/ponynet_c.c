/* libponynet through its C ABI, as a C user writes it: owners whose notify
 * callback does the (non-blocking) work on the library's I/O thread, with
 * the seed's read loop (read until would-block, clear the flag, re-arm).
 *   ponynet_c pingpong ROUNDS
 *   ponynet_c bulk BYTES
 *   ponynet_c connrate CONNS CHAINS
 *   ponynet_c many CONNS ROUNDS
 *   ponynet_c c10k CONNS
 *   ponynet_c dispatch COUNT OWNERS
 *   ponynet_c dispatch-fd COUNT                                              */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"
#include "ponynet.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#define FLAGS (ASIO_READ | ASIO_WRITE | ASIO_ONESHOT)

/* ---- completion: the main thread waits for the I/O thread ------------- */

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static atomic_long remaining;

static void finish_one(void) {
  if (atomic_fetch_sub(&remaining, 1) == 1) {
    pthread_mutex_lock(&done_lock);
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
  }
}

static void wait_all(void) {
  pthread_mutex_lock(&done_lock);
  while (atomic_load(&remaining) > 0) pthread_cond_wait(&done_cond, &done_lock);
  pthread_mutex_unlock(&done_lock);
}

/* ---- a connection owner ------------------------------------------------ */

typedef struct conn conn;
struct conn {
  ponynet_owner_t base;
  pony_asio_event_t* ev;
  int fd;
  int role;            /* 0 client, 1 server (echo), 2 sink */
  long rounds_left;
  size_t got;
  uint64_t t0;
  uint64_t* samples;
  long nsamples;
  long long received;
  int finished;
  int worker; /* many: the worker thread that handles this owner */
};

static char msg[MSG];
static __thread char rbuf[CHUNK]; /* per thread: many's workers read at once */

static void send_all(conn* c, const char* p, size_t n) {
  while (n > 0) {
    size_t k = pony_os_send(c->ev, p, n);
    if (k == 0 && ponynet_take_error() != 0) die("pony_os_send");
    p += k;
    n -= k;
  }
}

/* Reads until would-block or a short read (on TCP the library then
 * re-arms without a system call unless something may be left behind);
 * returns bytes, -1 on EOF or error. */
static long read_some(conn* c) {
  long total = 0;
  for (;;) {
    size_t n = pony_os_recv(c->ev, rbuf, sizeof rbuf);
    if (n > 0) {
      total += (long)n;
      if (c->role == 1) send_all(c, rbuf, n);
      if (c->role == 2) __atomic_add_fetch(&c->received, (long long)n, __ATOMIC_RELEASE);
      if (n == sizeof rbuf) continue;
      pony_asio_event_set_readable(c->ev, false);
      pony_asio_event_resubscribe_read(c->ev);
      return total;
    }
    if (ponynet_take_error() != 0) return -1;
    pony_asio_event_set_readable(c->ev, false);
    pony_asio_event_resubscribe_read(c->ev);
    return total;
  }
}

/* What an owner does when READ comes: read, then echo, count or reply. */
static void conn_handle(conn* c) {
  long got = read_some(c);
  if (c->role == 2 && (got < 0 || c->received >= c->rounds_left)) {
    /* The sink is done: all bytes, or EOF/error (bulk checks the count). */
    __atomic_store_n(&c->finished, 1, __ATOMIC_RELEASE);
    finish_one();
    return;
  }
  if (got < 0) {
    __atomic_store_n(&c->finished, 1, __ATOMIC_RELEASE);
    return;
  }
  if (c->role == 2) return;
  if (c->role != 0 || got == 0) return;
  c->got += (size_t)got;
  if (c->got < MSG) return;
  c->got -= MSG;
  if (c->samples) c->samples[c->nsamples++] = now_ns() - c->t0;
  if (--c->rounds_left > 0) {
    c->t0 = now_ns();
    send_all(c, msg, MSG);
  } else {
    __atomic_store_n(&c->finished, 1, __ATOMIC_RELEASE);
    finish_one();
  }
}

static void conn_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  conn* c = (conn*)o;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    return;
  }
  if (!(flags & ASIO_READ) || c->finished) return;
  conn_handle(c);
}

/* ---- worker threads (many) ---------------------------------------------
 * A server of many connections spreads its owners over worker threads, one
 * per core, as a C user would: the notify callback (on the library's I/O
 * thread) only hands the owner to its worker's queue; the worker reads,
 * replies and re-arms. Both ends of a pair share a worker. A ONESHOT owner
 * is in at most one queue at a time, so a ring of every owner never fills. */
typedef struct work_queue {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  conn** ring;
  size_t head, count, cap;
  int idle, stop;
  pthread_t thread;
} work_queue;

static work_queue* queues;
/* Set once the workload is done: late notifications are ignored. */
static int pool_stopping;

static void queue_push(work_queue* q, conn* c) {
  pthread_mutex_lock(&q->lock);
  if (q->count == q->cap) die("work queue overflow");
  q->ring[(q->head + q->count++) % q->cap] = c;
  if (q->idle) pthread_cond_signal(&q->cond);
  pthread_mutex_unlock(&q->lock);
}

static void* queue_worker(void* arg) {
  work_queue* q = arg;
  conn** batch = malloc(sizeof(conn*) * q->cap);
  for (;;) {
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->stop) {
      q->idle = 1;
      pthread_cond_wait(&q->cond, &q->lock);
      q->idle = 0;
    }
    if (q->count == 0) {
      pthread_mutex_unlock(&q->lock);
      break;
    }
    size_t n = q->count;
    for (size_t i = 0; i < n; i++) batch[i] = q->ring[(q->head + i) % q->cap];
    q->head = (q->head + n) % q->cap;
    q->count = 0;
    pthread_mutex_unlock(&q->lock);
    for (size_t i = 0; i < n; i++)
      if (!__atomic_load_n(&pool_stopping, __ATOMIC_ACQUIRE)) conn_handle(batch[i]);
  }
  free(batch);
  return NULL;
}

static void pooled_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  conn* c = (conn*)o;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    return;
  }
  if ((flags & ASIO_READ) && !__atomic_load_n(&c->finished, __ATOMIC_ACQUIRE) &&
      !__atomic_load_n(&pool_stopping, __ATOMIC_ACQUIRE))
    queue_push(&queues[c->worker], c);
}

static void pool_start(int workers, size_t cap) {
  pool_stopping = 0;
  queues = calloc((size_t)workers, sizeof *queues);
  for (int i = 0; i < workers; i++) {
    pthread_mutex_init(&queues[i].lock, NULL);
    pthread_cond_init(&queues[i].cond, NULL);
    queues[i].cap = cap;
    queues[i].ring = malloc(sizeof(conn*) * cap);
    pthread_create(&queues[i].thread, NULL, queue_worker, &queues[i]);
  }
}

static void pool_stop_threads(int workers) {
  for (int i = 0; i < workers; i++) {
    pthread_mutex_lock(&queues[i].lock);
    queues[i].stop = 1;
    pthread_cond_signal(&queues[i].cond);
    pthread_mutex_unlock(&queues[i].lock);
    pthread_join(queues[i].thread, NULL);
  }
}

static void pool_free(int workers) {
  for (int i = 0; i < workers; i++) free(queues[i].ring);
  free(queues);
  queues = NULL;
}

static void conn_open_with(conn* c, int fd, int role, ponynet_notify_fn notify, int worker) {
  memset(c, 0, sizeof *c);
  c->base.notify = notify;
  c->fd = fd;
  c->role = role;
  c->worker = worker;
  c->ev = pony_asio_event_create(&c->base, fd, FLAGS, 0, true);
  if (c->ev == NULL) die("pony_asio_event_create");
}

static void conn_open(conn* c, int fd, int role) { conn_open_with(c, fd, role, conn_notify, 0); }

static void conn_close(conn* c) {
  pony_asio_event_unsubscribe(c->ev);
  pony_os_socket_close(c->fd);
}

/* ---- workloads --------------------------------------------------------- */

static void pingpong(long rounds) {
  int cfd, sfd;
  tcp_pair(&cfd, &sfd);
  conn c, s;
  conn_open(&s, sfd, 1);
  conn_open(&c, cfd, 0);
  c.samples = malloc(sizeof(uint64_t) * (size_t)rounds);
  c.rounds_left = rounds;
  atomic_store(&remaining, 1);
  c.t0 = now_ns();
  send_all(&c, msg, MSG);
  wait_all();
  report_latency("c-abi", c.samples, (size_t)c.nsamples);
  free(c.samples);
  conn_close(&c);
  conn_close(&s);
}

/* The writer is an owner too: on WRITE it writes until the socket would
 * block, then waits for the next WRITE. Writer and sink share the I/O
 * thread, as the raw one-thread loop's do. */
typedef struct writer {
  ponynet_owner_t base;
  pony_asio_event_t* ev;
  int fd;
  const char* chunk;
  long long bytes;
  long long sent;
} writer;

static void writer_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  writer* w = (writer*)o;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    return;
  }
  if (!(flags & ASIO_WRITE) || w->sent >= w->bytes) return;
  while (w->sent < w->bytes) {
    size_t off = (size_t)(w->sent % CHUNK);
    size_t want = CHUNK - off;
    if ((long long)want > w->bytes - w->sent) want = (size_t)(w->bytes - w->sent);
    struct iovec iov = {(void*)(w->chunk + off), want};
    size_t n = pony_os_writev(ev, &iov, 1);
    if (n == 0) {
      if (ponynet_take_error() != 0) die("pony_os_writev");
      pony_asio_event_set_writeable(ev, false);
      pony_asio_event_resubscribe_write(ev);
      return;
    }
    w->sent += (long long)n;
  }
  pony_os_socket_shutdown(w->fd);
}

static void bulk(long long bytes) {
  int cfd, sfd;
  tcp_pair(&cfd, &sfd);
  conn s;
  conn_open(&s, sfd, 2);
  s.rounds_left = bytes; /* the sink reports once it has this many bytes */
  char* chunk = malloc(CHUNK);
  memset(chunk, 'b', CHUNK);
  writer w = {.base.notify = writer_notify, .fd = cfd, .chunk = chunk, .bytes = bytes};
  atomic_store(&remaining, 1);
  uint64_t t0 = now_ns();
  w.ev = pony_asio_event_create(&w.base, cfd, ASIO_WRITE | ASIO_ONESHOT, 0, true);
  if (w.ev == NULL) die("pony_asio_event_create");
  wait_all();
  uint64_t ns = now_ns() - t0;
  if (s.received != bytes) {
    fprintf(stderr, "bulk: received %lld of %lld\n", s.received, bytes);
    exit(1);
  }
  printf("RESULT impl=c-abi workload=bulk mib_s=%.1f bytes=%lld\n",
         (double)bytes / (1024.0 * 1024.0) / ((double)ns / 1e9), bytes);
  pony_asio_event_unsubscribe(w.ev);
  conn_close(&s);
  close(cfd);
  free(chunk);
}

/* connrate: connect through pony_os_connect_tcp4, shutdown(WR) on connect,
 * the listener accepts with pony_os_accept, reads EOF, closes; the client
 * reads EOF, closes and starts the next connection of its chain. */
typedef struct chain {
  ponynet_owner_t base;
  int connected_fd;
  pony_asio_event_t* ev;
} chain;

typedef struct server_conn {
  ponynet_owner_t base;
  int fd;
} server_conn;

static atomic_long conns_left;
static const char* port_text;

static void chain_start(chain* ch);

static void server_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  server_conn* s = (server_conn*)o;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    free(s);
    return;
  }
  if (!(flags & ASIO_READ)) return;
  for (;;) {
    size_t n = pony_os_recv(ev, rbuf, sizeof rbuf);
    if (n > 0) continue;
    if (ponynet_take_error() != 0) {
      pony_asio_event_unsubscribe(ev);
      pony_os_socket_close(s->fd);
    } else {
      pony_asio_event_set_readable(ev, false);
      pony_asio_event_resubscribe_read(ev);
    }
    return;
  }
}

static void listener_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)o;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    return;
  }
  for (int fd; (fd = pony_os_accept(ev)) > 0;) {
    server_conn* s = malloc(sizeof *s);
    s->base.notify = server_notify;
    s->fd = fd;
    pony_asio_event_create(&s->base, fd, FLAGS, 0, true);
  }
}

static void chain_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  chain* ch = (chain*)o;
  int fd = pony_asio_event_fd(ev);
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    if (ch->ev == ev) {
      ch->ev = NULL;
      pony_os_socket_close(fd);
      finish_one();
      if (atomic_fetch_sub(&conns_left, 1) > 0) chain_start(ch);
    }
    return;
  }
  if (ch->ev == NULL && (flags & ASIO_WRITE)) {
    if (!pony_os_connected(fd)) die("connect failed");
    ch->ev = ev;
    pony_os_socket_shutdown(fd);
  }
  if (ch->ev == ev && (flags & ASIO_READ)) {
    for (;;) {
      size_t n = pony_os_recv(ev, rbuf, sizeof rbuf);
      if (n > 0) continue;
      if (ponynet_take_error() != 0) {
        pony_asio_event_unsubscribe(ev);
      } else {
        pony_asio_event_set_readable(ev, false);
        pony_asio_event_resubscribe_read(ev);
      }
      return;
    }
  }
}

static void chain_start(chain* ch) {
  ch->ev = NULL;
  if (pony_os_connect_tcp4(&ch->base, "127.0.0.1", port_text, "", FLAGS) != 1) die("pony_os_connect_tcp4");
}

static void connrate(long conns, int chains) {
  ponynet_owner_t lowner = {listener_notify};
  pony_asio_event_t* lev = pony_os_listen_tcp4(&lowner, "127.0.0.1", "0");
  if (lev == NULL) die("listen");
  pony_ipaddress_t addr;
  pony_os_sockname(pony_asio_event_fd(lev), &addr);
  static char port[16];
  snprintf(port, sizeof port, "%u", ntohs(((struct sockaddr_in*)&addr.addr)->sin_port));
  port_text = port;
  chain* ch = calloc((size_t)chains, sizeof(chain));
  atomic_store(&remaining, conns);
  atomic_store(&conns_left, conns - chains);
  uint64_t t0 = now_ns();
  for (int i = 0; i < chains; i++) {
    ch[i].base.notify = chain_notify;
    chain_start(&ch[i]);
  }
  wait_all();
  uint64_t ns = now_ns() - t0;
  printf("RESULT impl=c-abi workload=connrate%s conns_s=%.0f conns=%ld\n", chains > 1 ? "-par" : "-seq",
         (double)conns / ((double)ns / 1e9), conns);
  pony_os_socket_close(pony_asio_event_fd(lev));
  pony_asio_event_unsubscribe(lev);
  free(ch);
}

/* `workers` 0: owners work in the callback; else on that many threads. */
static uint64_t many_pairs(long conns, long rounds, long* rss_per_conn, int workers) {
  raise_nofile((rlim_t)(conns * 2 + 64));
  uint16_t port;
  int l = listen_loopback(&port);
  conn* c = calloc((size_t)conns, sizeof(conn));
  conn* s = calloc((size_t)conns, sizeof(conn));
  long rss0 = rss_kib();
  if (workers > 0) pool_start(workers, (size_t)conns * 2);
  for (long i = 0; i < conns; i++) {
    int cfd = connect_loopback(port);
    int sfd = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    set_nonblock(cfd);
    set_nodelay(cfd);
    set_nodelay(sfd);
    ponynet_notify_fn notify = workers > 0 ? pooled_notify : conn_notify;
    int worker = workers > 0 ? (int)(i % workers) : 0;
    conn_open_with(&s[i], sfd, 1, notify, worker);
    conn_open_with(&c[i], cfd, 0, notify, worker);
    c[i].rounds_left = rounds;
  }

  if (rss_per_conn) *rss_per_conn = (rss_kib() - rss0) * 1024 / conns;
  atomic_store(&remaining, conns);
  uint64_t t0 = now_ns();
  for (long i = 0; i < conns; i++) send_all(&c[i], msg, MSG);
  wait_all();
  uint64_t ns = now_ns() - t0;
  __atomic_store_n(&pool_stopping, 1, __ATOMIC_RELEASE);
  if (workers > 0) pool_stop_threads(workers);
  for (long i = 0; i < conns; i++) {
    conn_close(&c[i]);
    conn_close(&s[i]);
  }
  /* The events' final notifications reference the owners (and a late one
   * may still be pushing to a queue): stop, which joins the I/O thread,
   * before freeing. */
  while (!ponynet_asio_stop()) sched_yield();
  if (workers > 0) pool_free(workers);
  free(c);
  free(s);
  close(l);
  return ns;
}

/* dispatch: notifications per second to `owners` owners, through
 * pony_asio_event_send, counted in the notify callback. */
typedef struct counter {
  ponynet_owner_t base;
} counter;

static void counter_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)o;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    return;
  }
  finish_one();
}

static void dispatch(long count, int owners) {
  counter* cs = calloc((size_t)owners, sizeof(counter));
  pony_asio_event_t** evs = calloc((size_t)owners, sizeof *evs);
  for (int i = 0; i < owners; i++) {
    cs[i].base.notify = counter_notify;
    evs[i] = pony_asio_event_create(&cs[i].base, -1, ASIO_TIMER, 3600ull * 1000000000ull, false);
  }
  atomic_store(&remaining, count);
  uint64_t t0 = now_ns();
  for (long i = 0; i < count; i++) pony_asio_event_send(evs[i % owners], ASIO_READ, 0);
  wait_all();
  uint64_t ns = now_ns() - t0;
  printf("RESULT impl=c-abi workload=dispatch-send-%d per_s=%.0f\n", owners, (double)count / ((double)ns / 1e9));
  for (int i = 0; i < owners; i++) pony_asio_event_unsubscribe(evs[i]);
  while (!ponynet_asio_stop()) sched_yield();
  free(cs);
  free(evs);
}

/* dispatch-fd: eventfd readiness → notification → read, one at a time. */
typedef struct fd_counter {
  ponynet_owner_t base;
  int efd;
} fd_counter;

static void fd_counter_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  (void)arg;
  fd_counter* f = (fd_counter*)o;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    return;
  }
  uint64_t v, one = 1;
  if (read(f->efd, &v, 8) != 8) return;
  /* The next write comes from here, so the loop stays on one thread, as the
   * raw epoll loop's does. */
  if (atomic_load(&remaining) > 1 && write(f->efd, &one, 8) != 8) die("eventfd write");
  finish_one();
}

static void dispatch_fd(long count) {
  fd_counter f = {{fd_counter_notify}, eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  pony_asio_event_t* ev = pony_asio_event_create(&f.base, f.efd, ASIO_READ, 0, false);
  atomic_store(&remaining, count);
  uint64_t t0 = now_ns();
  uint64_t one = 1;
  if (write(f.efd, &one, 8) != 8) die("eventfd write");
  wait_all();
  uint64_t ns = now_ns() - t0;
  printf("RESULT impl=c-abi workload=dispatch-fd per_s=%.0f\n", (double)count / ((double)ns / 1e9));
  pony_asio_event_unsubscribe(ev);
  while (!ponynet_asio_stop()) sched_yield();
  close(f.efd);
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: ponynet_c WORKLOAD N [ARG]\n");
    return 2;
  }
  memset(msg, 'p', sizeof msg);
  const char* w = argv[1];
  long n = atol(argv[2]);
  long arg = argc > 3 ? atol(argv[3]) : 1;
  if (!strcmp(w, "pingpong")) pingpong(n);
  else if (!strcmp(w, "bulk")) bulk(n);
  else if (!strcmp(w, "connrate")) connrate(n, (int)arg);
  else if (!strcmp(w, "many")) {
    uint64_t ns = many_pairs(n, arg, NULL, (int)sysconf(_SC_NPROCESSORS_ONLN));
    printf("RESULT impl=c-abi workload=many rt_s=%.0f\n", (double)(n * arg) / ((double)ns / 1e9));
  } else if (!strcmp(w, "c10k")) {
    long per = 0;
    uint64_t ns = many_pairs(n, 1, &per, 0);
    printf("RESULT impl=c-abi workload=c10k bytes_per_conn=%ld drain_ms=%.2f\n", per, (double)ns / 1e6);
  } else if (!strcmp(w, "dispatch")) dispatch(n, (int)arg);
  else if (!strcmp(w, "dispatch-fd")) dispatch_fd(n);
  else {
    fprintf(stderr, "unknown workload %s\n", w);
    return 2;
  }
  ponynet_asio_stop();
  return 0;
}
