/*
 * Name resolution for the device, through c-ares and the device's own DNS
 * servers (never curl's resolver): A and AAAA answers for one name.
 */
#ifndef SPROV_DEVICE_DNS_H
#define SPROV_DEVICE_DNS_H

#include "common/buf.h"
#include "common/result.h"
#include "device/addr.h"

#define SP_DNS_TIMEOUT_MS 2000  /* per try */
#define SP_DNS_TRIES 2
#define SP_DNS_SERVERS_MAX 256  /* the servers list, bytes */

/*
 * Check one server "IP[:PORT]" ("[v6]:port" for IPv6 with a port) and append
 * it to a c-ares CSV list in out.
 */
SP_MUST_CHECK sp_result sp_dns_server_add(sp_buf *out, sp_slice server);

/*
 * Resolve name (A and AAAA).  servers: a CSV list built by sp_dns_server_add,
 * or NULL/"" for the system configuration (/etc/resolv.conf, /etc/hosts).
 * No answer at all is an SP_E_NET error naming the name.
 */
SP_MUST_CHECK sp_result sp_dns_resolve(const char *servers, const char *name,
    sp_addrlist *out);

#endif
