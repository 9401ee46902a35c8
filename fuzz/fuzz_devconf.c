/*
 * The device's own parsers: device.conf, resync schedules, Resync_At and DNS
 * server lists.  Invariants: an accepted device.conf renders and parses back
 * to the same identity and parameters; an accepted schedule has positive
 * delays within bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device/conf.h"
#include "device/dns.h"
#include "device/sched.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_slice in = sp_slice_mk((const char *)data, size);
	sp_identity id, id2;
	sp_params ps, ps2;
	sp_sched sc;
	sp_buf out, dns;
	int minute;

	sp_params_init(&ps);
	sp_params_init(&ps2);
	sp_buf_init(&out, 2 * SP_DEVCONF_MAX);
	sp_buf_init(&dns, SP_DNS_SERVERS_MAX);
	if (sp_ok(sp_devconf_parse(in, &id, &ps))) {
		if (sp_failed(sp_devconf_render(&id, &ps, &out)) ||
		    sp_failed(sp_devconf_parse(sp_slice_mk(out.p, out.len), &id2, &ps2)) ||
		    !sp_mac_eq(&id.mac, &id2.mac) || strcmp(id.serial, id2.serial) != 0 ||
		    strcmp(id.product, id2.product) != 0 || strcmp(id.series, id2.series) != 0 ||
		    !sp_params_equal(&ps, &ps2))
			abort();
	}
	if (sp_ok(sp_sched_parse(in, &sc))) {
		for (size_t i = 0; i < sc.n; i++)
			if (sc.v[i].base <= 0 || sc.v[i].base > SP_SCHED_SECONDS_MAX ||
			    sc.v[i].rand < 0 || sc.v[i].rand > SP_SCHED_SECONDS_MAX)
				abort();
	} else if (sc.n != 0) {
		abort();
	}
	if (sp_ok(sp_resync_at_parse(in, &minute)) && (minute < -1 || minute >= 24 * 60))
		abort();
	if (sp_ok(sp_dns_server_add(&dns, in)) && dns.len == 0)
		abort();
	sp_params_free(&ps);
	sp_params_free(&ps2);
	sp_buf_free(&out);
	sp_buf_free(&dns);
	return 0;
}
