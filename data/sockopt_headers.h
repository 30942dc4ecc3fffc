/* The system headers whose constants pony_os_sockopt_level() and
 * pony_os_sockopt_option() report (numbering: sockopt_numbers.tsv).
 *
 * Included by the probe build/sockopt.rs compiles to make the table, and by
 * c_tests/test_sockopt.c to check it, so that both see the same definitions.
 * Optional headers are tested with __has_include: a header this system lacks
 * only makes its constants -1.
 */
#ifndef PONYNET_SOCKOPT_HEADERS_H
#define PONYNET_SOCKOPT_HEADERS_H

#ifndef __has_include
#define __has_include(header) 0
#endif

/* POSIX first: later kernel headers rely on the guards these set. */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h> /* libc's, also on Linux: it has SOL_UDP, and its struct udphdr
                            collides with <linux/udp.h> (which adds nothing numbered) */
#include <arpa/inet.h>
#include <netdb.h>
#include <net/if.h>

#if defined(__linux__)
/* libc's compatibility headers for the old protocol families (glibc ships them). */
#if __has_include(<netatalk/at.h>)
#include <netatalk/at.h>
#endif
#if __has_include(<netax25/ax25.h>)
#include <netax25/ax25.h>
#endif
#if __has_include(<netipx/ipx.h>)
#include <netipx/ipx.h>
#endif
#if __has_include(<netrom/netrom.h>)
#include <netrom/netrom.h>
#endif
#if __has_include(<netrose/rose.h>)
#include <netrose/rose.h>
#endif
/* Kernel UAPI headers, after libc's <netinet/in.h> so that <linux/libc-compat.h>
 * keeps them from redefining its types. */
#if __has_include(<asm-generic/socket.h>)
#include <asm-generic/socket.h>
#endif
#if __has_include(<linux/in6.h>)
#include <linux/in6.h>
#endif
#if __has_include(<linux/atm.h>)
#include <linux/atm.h>
#endif
#if __has_include(<linux/dccp.h>)
#include <linux/dccp.h>
#endif
#if __has_include(<linux/icmp.h>)
#include <linux/icmp.h>
#endif
#if __has_include(<linux/mroute.h>)
#include <linux/mroute.h>
#endif
#if __has_include(<linux/netfilter_ipv4.h>)
#include <linux/netfilter_ipv4.h>
#endif
#if __has_include(<linux/netlink.h>)
#include <linux/netlink.h>
#endif
#if __has_include(<linux/rds.h>)
#include <linux/rds.h>
#endif
#if __has_include(<linux/sctp.h>)
#include <linux/sctp.h>
#endif
#if __has_include(<linux/tipc.h>)
#include <linux/tipc.h>
#endif

#else /* macOS and the BSDs */
#if __has_include(<netinet/sctp.h>)
#include <netinet/sctp.h>
#endif
#if __has_include(<netinet/ip_mroute.h>)
#include <netinet/ip_mroute.h>
#endif
#if __has_include(<net/ndrv.h>)
#include <net/ndrv.h>
#endif
#endif

#endif
