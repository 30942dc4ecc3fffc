/* The fixture of the generated hostile-input test (c_tests/gen_hostile.sh
 * turns c_tests/hostile_table.txt into build/test_hostile.c): the fds,
 * events, addresses and strings the table's calls name as `fx.*`, and the
 * per-case bracket (hostile_begin / hostile_end) that checks what every
 * case must keep: no crash or SIGPIPE (a handler names the case), no fd or
 * noisy subscription left behind, no call that takes long.
 *
 * Owners: `fx.keeper` owns the fixture's own events and only counts;
 * `fx.reaper` is the owner hostile calls get. It unsubscribes any event
 * that notifies it, and on the final notification closes the event's fd
 * (unless it is one of the fixture's) and destroys it, so events made by a
 * call that succeeded (listen, connect attempts) go away by themselves. */
#ifndef PONYNET_HOSTILE_FIXTURE_H
#define PONYNET_HOSTILE_FIXTURE_H

#include "harness.h"
#include "ponynet.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifndef IOV_MAX
#define IOV_MAX 1024
#endif

/* A string no resolver could take: 64 KiB of 'a'. */
#define FX_BIG_LEN (64 * 1024)
/* Bytes that are not UTF-8 (a lone continuation byte, 0xff, a truncated sequence). */
#define S_NONUTF8 "\xff\xfe\x80\xc3("
/* An fd number the fixture keeps closed (checked at setup). */
#define FX_CLOSED_FD 900
/* A byte pattern written around out-parameters to see they are untouched. */
#define FX_SENTINEL 0xA5

typedef struct hostile_owner_t {
  ponynet_owner_t base; /* first member: the library sees a ponynet_owner_t */
} hostile_owner_t;

typedef struct fixture_t {
  hostile_owner_t keeper;  /* owns the fixture's events; counts notifications */
  hostile_owner_t reaper;  /* owner for hostile calls; disposes what it gets */
  ponynet_owner_t silent;  /* an owner without a notify function */

  int closed;        /* FX_CLOSED_FD: a closed fd */
  int pipe[2];       /* a pipe: fds that are not sockets */
  int devnull;       /* /dev/null: an fd the poller refuses */
  int udp4;          /* UDP socket bound to 127.0.0.1 (no event) */
  int udp6;          /* UDP socket bound to ::1 (no event) */
  int tcp4;          /* TCP socket, neither bound nor connected */
  int sp[2];         /* a connected AF_UNIX stream pair; fx.stream_ev on sp[0] */
  int bp;            /* one end of a pair whose other end is closed */
  int lfd;           /* a listening TCP socket on 127.0.0.1 (no pending connection) */
  int refused;       /* a bound, non-listening TCP socket: its port refuses */
  char refused_port[16]; /* that port as text */
  int evpipe[2];     /* a pipe watched by fx.pipe_ev */
  int dead_sp[2];    /* the pair of fx.dead_ev */

  pony_asio_event_t* stream_ev; /* READ on sp[0] */
  pony_asio_event_t* broken_ev; /* READ on bp (peer closed) */
  pony_asio_event_t* pipe_ev;   /* READ on evpipe[0]: not a socket */
  pony_asio_event_t* udp_ev;    /* READ on a UDP socket bound to 127.0.0.1 */
  pony_asio_event_t* listen_ev; /* READ on lfd */
  pony_asio_event_t* ev_m1;     /* an event on fd -1 (the poller refused it) */
  pony_asio_event_t* ev_closed; /* an event on a closed fd (refused too) */
  pony_asio_event_t* dead_ev;   /* unsubscribed, final notification delivered, not destroyed */

  pony_ipaddress_t ip;          /* an out-parameter (filled with FX_SENTINEL per case) */
  pony_ipaddress_t to4;         /* the address of the UDP socket of fx.udp_ev */
  pony_ipaddress_t bad_ip;      /* family set per case by fx_family() */
  struct addrinfo* ai;          /* a lookup result of 127.0.0.1 */
  struct addrinfo bad_ai;       /* an entry with a hostile address, set by fx_bad_ai() */
  struct sockaddr_storage bad_sa;
  char* host_out;               /* out-parameters of pony_os_nameinfo */
  char* serv_out;
  pony_asio_event_t* evs[4];    /* out-parameter of ponynet_os_connect_tcp_events */
  unsigned char garbage[256];   /* not an event */
  char buf[256];                /* a small buffer */
  char* big;                    /* FX_BIG_LEN + 1 bytes: a 64 KiB string, and a 64 KiB datagram */
  int tmpfd;                    /* an fd made by a case's `before` */
  struct sigaction saved_pipe;  /* SIGPIPE's disposition, for cases that change it */
} fixture_t;

extern fixture_t fx;

/* Sets up every fd, event and address above; false (and a message) if it could not. */
bool fx_setup(void);
/* Disposes the fixture's events and closes its fds. */
void fx_teardown(void);

/* Opens and closes, around each case: see the comment at the top. */
void hostile_begin(const char* what);
/* Reports the expectation of the table's line `line`: a failure, or for a
 * `pending` tag a note only. `shown` is the returned value as text. */
void hostile_expect(bool ok, const char* expectation, const char* pending_tag, int line, const char* shown,
                    int err, int eno);
void hostile_end(uint64_t took_ms);
/* Prints, per `pending` tag, its cases and those still failing. */
void hostile_pending_summary(void);
/* Whether the case runs under valgrind (run.sh passes RUNNER). */
bool hostile_under_valgrind(void);

/* Formats a returned value for a failure message. */
const char* hostile_show_int(long long v);
const char* hostile_show_uint(unsigned long long v);
const char* hostile_show_ptr(const void* p);
const char* hostile_show_void(void);

/* Unsubscribes an event a call returned (unless the reaper already did)
 * and waits until it is gone. */
void hostile_dispose(pony_asio_event_t* ev);

/* fx.bad_ip with family `family` and garbage after it; returns &fx.bad_ip. */
pony_ipaddress_t* fx_family(int family);
/* Whether fx.ip still holds only FX_SENTINEL bytes. */
bool fx_ip_untouched(void);
/* fx.bad_ai with ai_addr `addr` (NULL, or fx.bad_sa with family `family`)
 * and ai_addrlen `len`; returns &fx.bad_ai. */
struct addrinfo* fx_bad_ai(bool null_addr, int family, socklen_t len);
/* ASIO_ERROR notifications the reaper has had. */
int fx_reaper_errors(void);
/* Bytes queued for reading on `fd` (FIONREAD); -1 on error. */
int fx_queued(int fd);
/* A fresh fd (the read end of a new pipe, the write end closed). */
int fx_fresh_fd(void);
/* The saved SIGPIPE disposition is put back. */
void fx_save_sigpipe(void);
void fx_restore_sigpipe(void);
/* Whether SIGPIPE is still handled by the fixture (the library left it alone). */
bool fx_sigpipe_untouched(void);

#endif
