/* An echo server and its client in one process, through libponynet's header
 * only. The server listens on 127.0.0.1 (port 0, learned with sockname),
 * accepts, and echoes whatever it reads; the client connects, sends a few
 * messages and prints what comes back. Then everything is unsubscribed,
 * destroyed and closed, and the I/O thread stopped. Exits 0 on success. */
#include "ponynet.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define READ_WRITE_ONESHOT (ASIO_READ | ASIO_WRITE | ASIO_ONESHOT)

/* Shared by both owners: what the main thread waits on. */
typedef struct shared {
  pthread_mutex_t lock;
  pthread_cond_t changed;
  int disposed;      /* final notifications seen */
  int connected;     /* the client's connect succeeded */
  char echoed[256];  /* what the client read back */
  size_t echoed_len;
} shared;

static shared st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {0}, 0};

/* Each owner is a ponynet_owner_t first, then its own state. */
typedef struct server {
  ponynet_owner_t base;
  pony_asio_event_t* listener;
  pony_asio_event_t* conn;
} server;

typedef struct client {
  ponynet_owner_t base;
  pony_asio_event_t* ev;
  int done; /* the connect attempt finished (read under st.lock) */
} client;

static void changed(void (*update)(void*), void* arg) {
  pthread_mutex_lock(&st.lock);
  if (update != NULL) update(arg);
  pthread_cond_broadcast(&st.changed);
  pthread_mutex_unlock(&st.lock);
}

static void count_disposed(void* unused) {
  (void)unused;
  st.disposed++;
}

/* Server notifications (on the I/O thread): accept on the listener; echo on
 * the connection, reading until it would block (edge-triggered). */
static void server_notify(ponynet_owner_t* base, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  server* s = (server*)base;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) {
    changed(count_disposed, NULL);
    return;
  }
  if (ev == s->listener && (flags & ASIO_READ)) {
    int fd;
    while ((fd = pony_os_accept(ev)) > 0) {
      if (s->conn != NULL) { /* one client is all this demo serves */
        pony_os_socket_close(fd);
        continue;
      }
      s->conn = pony_asio_event_create(base, fd, ASIO_READ, 0, true);
      printf("server: accepted a connection\n");
    }
  } else if (ev == s->conn && (flags & ASIO_READ)) {
    char buf[128];
    size_t n;
    while ((n = pony_os_recv(ev, buf, sizeof buf)) > 0) {
      printf("server: echoing \"%.*s\"\n", (int)n, buf);
      /* Tiny writes: a short one is not expected here; give up on 0 (would block or failed). */
      size_t off = 0, sent = 1;
      while (off < n && sent > 0) off += sent = pony_os_send(ev, buf + off, n - off);
    }
    if (ponynet_take_error() == PONYNET_ERR_EOF) printf("server: the client closed its side\n");
  }
}

static void append_echo(void* text) {
  const char* t = text;
  size_t n = strlen(t);
  if (st.echoed_len + n < sizeof st.echoed) {
    memcpy(st.echoed + st.echoed_len, t, n + 1);
    st.echoed_len += n;
  }
}

/* Client notifications: the first WRITE says the connect finished; READs
 * bring the echo (ONESHOT: read until 0, clear readable, re-arm). */
static void client_notify(ponynet_owner_t* base, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  client* c = (client*)base;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) {
    changed(count_disposed, NULL);
    return;
  }
  if ((flags & ASIO_WRITE) && !c->done) {
    /* The only attempt finished: kept, connected or not, to be cleaned up. */
    pthread_mutex_lock(&st.lock);
    c->ev = ev;
    c->done = 1;
    st.connected = pony_os_connected(pony_asio_event_fd(ev));
    pthread_cond_broadcast(&st.changed);
    pthread_mutex_unlock(&st.lock);
  }
  if ((flags & ASIO_READ) && ev == c->ev) {
    char buf[129];
    size_t n;
    while ((n = pony_os_recv(ev, buf, sizeof buf - 1)) > 0) {
      buf[n] = '\0';
      changed(append_echo, buf);
    }
    pony_asio_event_set_readable(ev, false);
    pony_asio_event_resubscribe_read(ev);
  }
}

/* Waits (5 s at most) until `*value >= want` or `st.echoed_len >= want`. */
static int wait_for(const int* value, size_t want) {
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 5;
  int ok = 1;
  pthread_mutex_lock(&st.lock);
  while (ok && (value ? (size_t)*value < want : st.echoed_len < want))
    ok = pthread_cond_timedwait(&st.changed, &st.lock, &deadline) == 0;
  ok = value ? (size_t)*value >= want : st.echoed_len >= want;
  pthread_mutex_unlock(&st.lock);
  return ok;
}

/* Unsubscribes, waits for the final notification, destroys, closes the fd. */
static int finish(pony_asio_event_t* ev, int disposed_before) {
  int fd = pony_asio_event_fd(ev);
  pony_asio_event_unsubscribe(ev);
  int ok = wait_for(&st.disposed, (size_t)disposed_before + 1);
  pony_asio_event_destroy(ev);
  pony_os_socket_close(fd);
  return ok;
}

int main(void) {
  printf("libponynet %s: echo over TCP on 127.0.0.1\n", ponynet_version());
  server srv = {{server_notify}, NULL, NULL};
  client cli = {{client_notify}, NULL, 0};

  srv.listener = pony_os_listen_tcp4(&srv.base, "127.0.0.1", "0");
  pony_ipaddress_t local;
  if (srv.listener == NULL || !pony_os_sockname(pony_asio_event_fd(srv.listener), &local)) {
    printf("echo: cannot listen\n");
    return 1;
  }
  char port[16];
  snprintf(port, sizeof port, "%u", ntohs(((struct sockaddr_in*)&local.addr)->sin_port));
  printf("server: listening on 127.0.0.1:%s\n", port);

  int attempts = pony_os_connect_tcp4(&cli.base, "127.0.0.1", port, NULL, READ_WRITE_ONESHOT);
  printf("client: %d connection attempt(s) in flight\n", attempts);
  int ok = attempts == 1 && wait_for(&cli.done, 1) && st.connected;
  if (ok) printf("client: connected\n");

  const char* messages[] = {"hello", "from the client", "over libponynet"};
  size_t expected = 0;
  for (size_t i = 0; ok && i < sizeof messages / sizeof messages[0]; i++) {
    size_t n = strlen(messages[i]);
    ok = pony_os_send(cli.ev, messages[i], n) == n;
    expected += n;
    ok = ok && wait_for(NULL, expected);
    if (ok) printf("client: got back \"%s\"\n", st.echoed + expected - n);
  }

  /* Clean up: client, then the server's connection, then the listener. */
  int disposed = 0;
  if (!st.connected) printf("echo: the connect failed\n");
  if (cli.ev != NULL) ok = finish(cli.ev, disposed++) && ok;
  if (srv.conn != NULL) ok = finish(srv.conn, disposed++) && ok;
  ok = finish(srv.listener, disposed++) && ok;
  printf("noisy subscriptions: %llu; I/O thread stopped: %s\n", (unsigned long long)ponynet_asio_noisy_count(),
         ponynet_asio_stop() ? "yes" : "no");
  printf("%s\n", ok ? "echo: ok" : "echo: FAILED");
  return ok ? 0 : 1;
}
