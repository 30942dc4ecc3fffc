/* Soak through the C ABI: many loopback connections, each sending many
 * messages of random sizes (1 B .. 64 KiB, from a seeded PRNG) to an echo
 * server, every owner a C struct notified on the library's I/O thread.
 *
 * A message is a 16-byte header (magic, connection, sequence, length) and
 * a payload that is a pure function of (seed, connection, sequence, byte
 * offset): both sides regenerate what they expect and compare every byte,
 * so anything lost, duplicated or reordered is a mismatch. The server
 * checks the sequence numbers and payloads of what it receives, echoes it,
 * and stops reading while it cannot write (backpressure); the client keeps
 * a window of messages in flight and checks the echo against what it sent.
 * Both sides also stop reading at random for a while (no re-arm; a timer
 * event re-arms). Most connections send every message and shut down their
 * side; some stop midway and shut down (close), some stop in the middle of
 * a message and drop the connection with unread data (hard close): their
 * bytes are accounted for (the server got a prefix of what was sent, the
 * client a prefix of what was echoed), not counted as lost.
 *
 * At the end: every byte accounted for, no fd left, no noisy subscription
 * left, and RSS at the end within RSS_BOUND_KIB of RSS after the warm-up
 * (the first tenth of the messages).
 *
 * Size: SOAK_CONNS connections x SOAK_MSGS messages (default 50 x 200, a
 * few seconds; under valgrind 8 x 16); SOAK_SEED seeds the PRNG; make soak
 * runs 500 x 2000 and SOAK_SECONDS bounds the run. */
#include "harness.h"
#include "ponynet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define HDR 16
#define MAX_PAYLOAD 65536
#define MAGIC 0x504f4e59u
#define WINDOW 4              /* messages a client has in flight */
#define FLAGS (ASIO_READ | ASIO_WRITE | ASIO_ONESHOT)
#define MUTE_ONE_IN 32        /* a read turn mutes reading with this odds */
#define RSS_BOUND_KIB (16 * 1024)

enum kind { FULL, CLOSE_MIDWAY, HARD_MIDWAY };

static uint64_t seed = 0x50a4;
static uint32_t n_conns = 50, n_msgs = 200;
static char port[16];

/* ---- messages: a pure function of (seed, connection, sequence, offset) ---- */

static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

static uint64_t key(uint32_t conn, uint32_t seq) { return mix(seed ^ ((uint64_t)conn << 32) ^ seq); }

static uint32_t msg_len(uint32_t conn, uint32_t seq) { return 1 + (uint32_t)(mix(key(conn, seq)) % MAX_PAYLOAD); }

/* Bytes [from, from + n) of message `seq` of `conn` (header included) into `out`. */
static void fill(uint32_t conn, uint32_t seq, uint32_t len, size_t from, uint8_t* out, size_t n) {
  uint8_t hdr[HDR];
  uint32_t words[4] = {MAGIC, conn, seq, len};
  memcpy(hdr, words, HDR);
  size_t i = 0;
  for (; i < n && from + i < HDR; i++) out[i] = hdr[from + i];
  uint64_t k = key(conn, seq);
  while (i < n) {
    size_t p = from + i - HDR; /* payload offset */
    uint64_t w = mix(k + p / 8);
    size_t b = p % 8;
    if (b == 0 && n - i >= 8) {
      memcpy(out + i, &w, 8);
      i += 8;
    } else {
      out[i++] = (uint8_t)(w >> (8 * b));
    }
  }
}

/* Whether `data` is bytes [from, from + n) of that message. */
static bool matches(uint32_t conn, uint32_t seq, uint32_t len, size_t from, const uint8_t* data, size_t n) {
  uint8_t want[4096];
  while (n > 0) {
    size_t c = n < sizeof want ? n : sizeof want;
    fill(conn, seq, len, from, want, c);
    if (memcmp(want, data, c) != 0) return false;
    data += c, from += c, n -= c;
  }
  return true;
}

/* ---- shared state (the I/O thread writes, the main thread reads) ---- */

static atomic_int live_events;   /* connection and timer events not yet disposed */
static atomic_int clients_done;  /* clients whose connection is gone */
static atomic_int servers_open;  /* accepted connections not yet disposed */
static atomic_int failures;      /* verification failures and unexpected errors */
static atomic_ullong echoed_msgs; /* messages a client got back whole */
static atomic_int mutes;         /* read pauses started (a timer re-arms) */
static atomic_int write_stalls;  /* sends that would block (a WRITE re-arms) */
static char first_failure[256];

/* One buffer for every read and write: owners run on the I/O thread only. */
static uint8_t scratch[HDR + MAX_PAYLOAD];

static void fail(const char* what, uint32_t conn, int err) {
  if (atomic_fetch_add(&failures, 1) == 0)
    snprintf(first_failure, sizeof first_failure, "%s (connection %u, err %d)", what, conn, err);
}

static uint64_t rng_next(uint64_t* s) {
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return *s * 0x2545f4914f6cdd1dull;
}

/* A timer that re-arms reading of a muted owner after 20 us .. 1 ms. */
static pony_asio_event_t* mute_timer(ponynet_owner_t* o, uint64_t* rng) {
  atomic_fetch_add(&live_events, 1);
  atomic_fetch_add(&mutes, 1);
  pony_asio_event_t* t = pony_asio_event_create(o, -1, ASIO_TIMER, 20000 + rng_next(rng) % 980000, false);
  if (t == NULL) atomic_fetch_sub(&live_events, 1);
  return t;
}

static void rearm_read(pony_asio_event_t* ev) {
  pony_asio_event_set_readable(ev, false);
  pony_asio_event_resubscribe(ev);
}

static void rearm_write(pony_asio_event_t* ev) {
  atomic_fetch_add(&write_stalls, 1);
  pony_asio_event_set_writeable(ev, false);
  pony_asio_event_resubscribe(ev);
}

/* ---- the client ---- */

typedef struct client {
  ponynet_owner_t base;
  pony_asio_event_t* ev;
  pony_asio_event_t* timer;
  int fd;
  uint32_t id;
  enum kind kind;
  uint32_t stop_after;   /* messages sent in full (then shutdown, or the hard close) */
  uint32_t cut;          /* HARD_MIDWAY: bytes of message stop_after sent before the close */
  uint32_t send_seq, recv_seq;
  uint32_t send_off, recv_off;
  uint64_t sent, received;
  uint64_t rng;
  bool shut, closing, eof, finished;
} client;

static client* clients;

/* Server-side record of each connection, by the id in its headers. */
typedef struct server_rec {
  uint64_t received, echoed;
  uint32_t msgs;   /* messages received whole */
  bool at_boundary; /* the stream ended between two messages */
  bool ended;
} server_rec;

static server_rec* records;

static void client_close(client* c) {
  if (c->closing) return;
  c->closing = true;
  if (c->timer != NULL) pony_asio_event_unsubscribe(c->timer);
  pony_asio_event_unsubscribe(c->ev);
}

static void client_send(client* c) {
  while (!c->closing && c->send_seq < c->stop_after + (c->kind == HARD_MIDWAY) && c->send_seq < c->recv_seq + WINDOW) {
    uint32_t len = msg_len(c->id, c->send_seq);
    size_t total = HDR + len;
    if (c->kind == HARD_MIDWAY && c->send_seq == c->stop_after) total = c->cut;
    size_t n = total - c->send_off;
    fill(c->id, c->send_seq, len, c->send_off, scratch, n);
    size_t sent = pony_os_send(c->ev, (const char*)scratch, n);
    if (sent == 0) {
      int err = ponynet_take_error();
      if (err != 0)
        fail("client send", c->id, err);
      else
        rearm_write(c->ev); /* would block: WRITE comes when there is room */
      return;
    }
    c->send_off += (uint32_t)sent;
    c->sent += sent;
    if (c->send_off == total) {
      c->send_off = 0;
      c->send_seq++;
    }
  }
  if (c->kind == HARD_MIDWAY && c->send_seq > c->stop_after) {
    client_close(c); /* unread echoes and all */
    return;
  }
  if (c->kind != HARD_MIDWAY && c->send_seq == c->stop_after && !c->shut) {
    c->shut = true;
    pony_os_socket_shutdown(c->fd);
  }
}

/* Checks what came back, message by message. */
static bool client_check(client* c, const uint8_t* data, size_t n) {
  while (n > 0) {
    if (c->recv_seq >= c->send_seq + (c->send_off > 0)) return fail("client: more came back than was sent", c->id, 0), false;
    uint32_t len = msg_len(c->id, c->recv_seq);
    size_t take = HDR + len - c->recv_off;
    if (take > n) take = n;
    if (!matches(c->id, c->recv_seq, len, c->recv_off, data, take))
      return fail("client: the echo differs from what was sent", c->id, (int)c->recv_seq), false;
    c->recv_off += (uint32_t)take;
    data += take, n -= take;
    if (c->recv_off == HDR + len) {
      c->recv_off = 0;
      c->recv_seq++;
      atomic_fetch_add(&echoed_msgs, 1);
    }
  }
  return true;
}

static void client_read(client* c) {
  for (;;) {
    size_t n = pony_os_recv(c->ev, (char*)scratch, sizeof scratch);
    if (n == 0) {
      int err = ponynet_take_error();
      if (err == PONYNET_ERR_EOF) {
        c->eof = true;
        if (c->received != c->sent) fail("client: EOF before every echo came", c->id, 0);
      } else if (err != 0) {
        fail("client recv", c->id, err);
      } else {
        break; /* would block */
      }
      client_close(c);
      return;
    }
    c->received += n;
    if (!client_check(c, scratch, n)) {
      client_close(c);
      return;
    }
    if (n < sizeof scratch) break; /* a short read emptied the socket */
  }
  if (rng_next(&c->rng) % MUTE_ONE_IN == 0 && c->timer == NULL && (c->timer = mute_timer(&c->base, &c->rng)))
    ; /* muted: the timer re-arms reading */
  else
    rearm_read(c->ev);
  client_send(c); /* the window may have opened */
}

static void client_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  client* c = (client*)o;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    atomic_fetch_sub(&live_events, 1);
    if (ev == c->timer) {
      c->timer = NULL;
    } else {
      pony_os_socket_close(c->fd);
      c->finished = true;
      atomic_fetch_add(&clients_done, 1);
    }
    return;
  }
  if (c->closing) return;
  if (ev == c->timer) { /* unmute */
    pony_asio_event_unsubscribe(ev);
    rearm_read(c->ev);
    return;
  }
  if (c->ev == NULL) { /* the connect finished */
    c->ev = ev;
    c->fd = pony_asio_event_fd(ev);
    if (!pony_os_connected(c->fd)) {
      fail("connect", c->id, 0);
      client_close(c);
      return;
    }
  }
  if (flags & ASIO_READ) client_read(c);
  if ((flags & ASIO_WRITE) && !c->closing) client_send(c);
}

/* ---- the server ---- */

typedef struct sconn {
  ponynet_owner_t base;
  pony_asio_event_t* ev;
  pony_asio_event_t* timer;
  int fd;
  uint8_t hdr[HDR];
  uint32_t hdr_have, id, seq, len, pay_off;
  bool id_known, broken, eof, closing, muted;
  uint8_t* pend; /* echo not yet written */
  size_t pend_len, pend_off;
  uint64_t received, echoed, rng;
  uint32_t msgs;
} sconn;

static void server_record(sconn* s) {
  if (!s->id_known) return;
  server_rec* r = &records[s->id];
  r->received = s->received;
  r->echoed = s->echoed;
  r->msgs = s->msgs;
  r->at_boundary = s->hdr_have == 0;
  r->ended = true;
}

static void server_close(sconn* s) {
  if (s->closing) return;
  s->closing = true;
  server_record(s);
  if (s->timer != NULL) pony_asio_event_unsubscribe(s->timer);
  pony_asio_event_unsubscribe(s->ev);
}

/* Checks the incoming stream: headers in sequence, payloads as generated. */
static void server_check(sconn* s, const uint8_t* data, size_t n) {
  while (n > 0 && !s->broken) {
    if (s->hdr_have < HDR) {
      size_t take = HDR - s->hdr_have < n ? HDR - s->hdr_have : n;
      memcpy(s->hdr + s->hdr_have, data, take);
      s->hdr_have += (uint32_t)take, data += take, n -= take;
      if (s->hdr_have < HDR) return;
      uint32_t w[4];
      memcpy(w, s->hdr, HDR);
      if (!s->id_known && w[1] < n_conns) s->id = w[1], s->id_known = true;
      if (w[0] != MAGIC || w[1] != s->id || w[2] != s->seq || w[3] != msg_len(s->id, s->seq)) {
        s->broken = true;
        fail("server: a header out of sequence", s->id, (int)s->seq);
        return;
      }
      s->len = w[3];
      s->pay_off = 0;
    }
    size_t take = s->len - s->pay_off < n ? s->len - s->pay_off : n;
    if (!matches(s->id, s->seq, s->len, HDR + s->pay_off, data, take)) {
      s->broken = true;
      fail("server: a payload differs from what was sent", s->id, (int)s->seq);
      return;
    }
    s->pay_off += (uint32_t)take, data += take, n -= take;
    if (s->pay_off == s->len) {
      s->hdr_have = 0;
      s->seq++;
      s->msgs++;
    }
  }
}

/* Writes what is pending; true when nothing is. */
static bool server_flush(sconn* s) {
  while (s->pend_off < s->pend_len) {
    size_t n = pony_os_send(s->ev, (const char*)s->pend + s->pend_off, s->pend_len - s->pend_off);
    if (n == 0) {
      int err = ponynet_take_error();
      if (err != 0) { /* the client is gone (hard close) */
        server_close(s);
        return false;
      }
      rearm_write(s->ev);
      return false;
    }
    s->pend_off += n;
    s->echoed += n;
  }
  s->pend_off = s->pend_len = 0;
  return true;
}

static void server_finish_eof(sconn* s) {
  pony_os_socket_shutdown(s->fd);
  server_close(s);
}

static void server_read(sconn* s) {
  for (;;) {
    size_t n = pony_os_recv(s->ev, (char*)scratch, sizeof scratch);
    if (n == 0) {
      int err = ponynet_take_error();
      if (err == PONYNET_ERR_EOF) {
        s->eof = true;
        server_finish_eof(s);
      } else if (err != 0) {
        server_close(s); /* reset by a hard close */
      } else {
        break;
      }
      return;
    }
    s->received += n;
    server_check(s, scratch, n);
    /* Echo: what the socket does not take waits, and reading stops until it is written. */
    size_t sent = pony_os_send(s->ev, (const char*)scratch, n);
    if (sent == 0 && ponynet_take_error() != 0) {
      server_close(s);
      return;
    }
    s->echoed += sent;
    if (sent < n) {
      if (s->pend == NULL) s->pend = malloc(sizeof scratch);
      memcpy(s->pend, scratch + sent, n - sent);
      s->pend_len = n - sent, s->pend_off = 0;
      rearm_write(s->ev);
      return; /* readable stays set: no READ until the WRITE re-arms it */
    }
    if (n < sizeof scratch) break;
  }
  if (rng_next(&s->rng) % (2 * MUTE_ONE_IN) == 0 && s->timer == NULL && (s->timer = mute_timer(&s->base, &s->rng)))
    s->muted = true;
  else
    rearm_read(s->ev);
}

static void server_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  sconn* s = (sconn*)o;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) {
    pony_asio_event_destroy(ev);
    atomic_fetch_sub(&live_events, 1);
    if (ev == s->timer) {
      s->timer = NULL;
      if (s->closing && s->ev == NULL) free(s);
      return;
    }
    pony_os_socket_close(s->fd);
    free(s->pend);
    s->ev = NULL;
    atomic_fetch_sub(&servers_open, 1);
    if (s->timer == NULL) free(s);
    return;
  }
  if (s->closing) return;
  if (ev == s->timer) {
    pony_asio_event_unsubscribe(ev);
    s->muted = false;
    if (s->pend_len == 0) rearm_read(s->ev);
    return;
  }
  if ((flags & ASIO_WRITE) && s->pend_len > 0) {
    if (!server_flush(s)) return;
    if (!s->muted) rearm_read(s->ev);
  }
  if ((flags & ASIO_READ) && s->pend_len == 0) server_read(s);
}

typedef struct listener {
  ponynet_owner_t base;
  pony_asio_event_t* ev;
  uint64_t rng;
  atomic_bool disposed; /* set on the I/O thread, read by the test */
} listener;

static void listener_notify(ponynet_owner_t* o, pony_asio_event_t* ev, uint32_t flags, uint32_t arg) {
  listener* l = (listener*)o;
  (void)arg;
  if (flags == ASIO_DISPOSABLE) {
    l->disposed = true;
    return;
  }
  if (!(flags & ASIO_READ)) return;
  int fd;
  while ((fd = pony_os_accept(ev)) > 0) {
    /* A small send buffer: echoes often wait for the client to read. */
    int sndbuf = 32 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    sconn* s = calloc(1, sizeof *s);
    s->base.notify = server_notify;
    s->fd = fd;
    s->rng = rng_next(&l->rng) | 1;
    atomic_fetch_add(&servers_open, 1);
    atomic_fetch_add(&live_events, 1);
    s->ev = pony_asio_event_create(&s->base, fd, FLAGS, 0, true);
  }
  if (fd < 0) fail("accept", 0, errno);
}

/* ---- the run ---- */

static long rss_kib(void) {
  FILE* f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f != NULL) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = getenv(name);
  return v != NULL && *v ? strtoull(v, NULL, 0) : fallback;
}

static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

TEST(echo_soak_through_the_c_abi) {
  uint64_t t0 = harness_now_ms();
  uint64_t limit_ms = 1000 * env_or("SOAK_SECONDS", 15);
  long rss_start = rss_kib();

  listener l;
  memset(&l, 0, sizeof l);
  l.base.notify = listener_notify;
  l.rng = seed | 1;
  l.ev = pony_os_listen_tcp4(&l.base, "127.0.0.1", "0");
  if (!CHECK(l.ev != NULL)) return;
  pony_ipaddress_t addr;
  CHECK(pony_os_sockname(pony_asio_event_fd(l.ev), &addr));
  snprintf(port, sizeof port, "%u", ntohs(((struct sockaddr_in*)&addr.addr)->sin_port));
  int lfd = pony_asio_event_fd(l.ev);
  int fds0 = harness_open_fds();

  clients = calloc(n_conns, sizeof *clients);
  records = calloc(n_conns, sizeof *records);
  uint64_t rng = seed ^ 0xc1;
  for (uint32_t i = 0; i < n_conns; i++) {
    client* c = &clients[i];
    c->base.notify = client_notify;
    c->id = i;
    c->rng = rng_next(&rng) | 1;
    uint64_t r = rng_next(&rng) % 10;
    c->kind = r < 8 ? FULL : r == 8 ? CLOSE_MIDWAY : HARD_MIDWAY;
    /* A hard close comes after the first header at least: the server knows whose stream it was. */
    c->stop_after = c->kind == FULL ? n_msgs : (uint32_t)(rng_next(&rng) % n_msgs);
    if (c->kind == HARD_MIDWAY && c->stop_after == 0) c->stop_after = 1;
    c->cut = 1 + (uint32_t)(rng_next(&rng) % (HDR + msg_len(i, c->stop_after) - 1));
    atomic_fetch_add(&live_events, 1);
    if (!CHECK_EQ_INT(pony_os_connect_tcp4(&c->base, "127.0.0.1", port, "", FLAGS), 1)) {
      atomic_fetch_sub(&live_events, 1);
      atomic_fetch_add(&clients_done, 1);
    }
  }
  uint64_t planned = 0;
  for (uint32_t i = 0; i < n_conns; i++) planned += clients[i].stop_after;

  /* Warm-up: the first tenth of the messages; then RSS is taken. */
  CHECK(WAIT_UNTIL(atomic_load(&echoed_msgs) >= planned / 10 || atomic_load(&failures) > 0 ||
                       atomic_load(&clients_done) == (int)n_conns, limit_ms));
  long rss_warm = rss_kib();
  bool done = WAIT_UNTIL(atomic_load(&clients_done) == (int)n_conns && atomic_load(&servers_open) == 0 &&
                             atomic_load(&live_events) == 0, limit_ms - (harness_now_ms() - t0));
  if (!CHECK(done))
    printf("  after %llu s: %d of %u clients done, %d server connections open, %d events live\n",
           (unsigned long long)(harness_now_ms() - t0) / 1000, atomic_load(&clients_done), n_conns,
           atomic_load(&servers_open), atomic_load(&live_events));
  CHECK_EQ_INT(atomic_load(&failures), 0);
  if (atomic_load(&failures) > 0) printf("  first failure: %s\n", first_failure);
  double secs = (double)(harness_now_ms() - t0) / 1000.0;
  long rss_end = rss_kib();

  /* Every byte accounted for. */
  uint64_t sent = 0, echoed = 0, msgs = 0, full = 0, closed = 0, hard = 0, abandoned = 0;
  int mismatched = 0;
  for (uint32_t i = 0; done && i < n_conns; i++) {
    client* c = &clients[i];
    server_rec* r = &records[i];
    sent += c->sent, echoed += c->received, msgs += c->recv_seq;
    bool ok;
    if (c->kind == HARD_MIDWAY) {
      hard++;
      abandoned += c->sent - c->received;
      /* The server got a prefix of what was sent, the client a prefix of the echo. */
      ok = r->received <= c->sent && c->received <= r->echoed && r->echoed <= r->received;
    } else {
      c->kind == FULL ? full++ : closed++;
      /* (A connection that sent nothing never told the server its id.) */
      ok = c->eof && c->recv_seq == c->stop_after && c->received == c->sent &&
           (c->sent == 0 || (r->ended && r->at_boundary && r->received == c->sent && r->echoed == c->sent &&
                             r->msgs == c->stop_after));
    }
    if (!ok && mismatched++ < 5)
      printf("  connection %u (kind %d): client sent %llu got %llu (%u messages), server got %llu echoed %llu\n", i,
             c->kind, (unsigned long long)c->sent, (unsigned long long)c->received, c->recv_seq,
             (unsigned long long)r->received, (unsigned long long)r->echoed);
  }
  CHECK_EQ_INT(mismatched, 0);

  CHECK_EQ_INT(harness_open_fds(), fds0);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 1); /* the listener */
  pony_asio_event_unsubscribe(l.ev);
  CHECK(WAIT_UNTIL(l.disposed, 5000));
  pony_asio_event_destroy(l.ev);
  pony_os_socket_close(lfd);
  CHECK_EQ_INT(harness_open_fds(), fds0 - 1);
  CHECK_EQ_INT(ponynet_asio_noisy_count(), 0);
  CHECK(rss_end <= rss_warm + RSS_BOUND_KIB);
  /* A run of some size pauses reading at random and fills send buffers. */
  if (planned >= 1000) CHECK(atomic_load(&mutes) > 0 && atomic_load(&write_stalls) > 0);

  printf("soak (C ABI): %u connections (%llu all messages, %llu closed midway, %llu hard-closed midway), "
         "%llu messages echoed, %llu bytes sent and %llu echoed back (%llu abandoned by hard closes), "
         "%d read pauses, %d write stalls, %.1f s, RSS start %ld KiB, after warm-up %ld KiB, end %ld KiB "
         "(bound: warm-up + %d KiB)\n",
         n_conns, (unsigned long long)full, (unsigned long long)closed, (unsigned long long)hard,
         (unsigned long long)msgs, (unsigned long long)sent, (unsigned long long)echoed,
         (unsigned long long)abandoned, atomic_load(&mutes), atomic_load(&write_stalls), secs, rss_start, rss_warm,
         rss_end, RSS_BOUND_KIB);
  free(clients);
  free(records);
}

int main(void) {
  bool valgrind = getenv("RUNNER") != NULL && strstr(getenv("RUNNER"), "valgrind") != NULL;
  n_conns = (uint32_t)env_or("SOAK_CONNS", valgrind ? 8 : 50);
  n_msgs = (uint32_t)env_or("SOAK_MSGS", valgrind ? 16 : 200);
  seed = env_or("SOAK_SEED", seed);
  if (n_conns == 0 || n_msgs == 0) return printf("SOAK_CONNS and SOAK_MSGS must be positive\n"), 2;
  raise_fd_limit();
  RUN(echo_soak_through_the_c_abi);
  CHECK(ponynet_asio_stop());
  return harness_summary();
}
