#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "device/rsyslog.h"

static void
test_parse(void **state)
{
	static const struct {
		const char *in;
		int family;
		unsigned port; /* 0: refused */
	} t[] = {
		{ "127.0.0.1", AF_INET, 514 },
		{ "127.0.0.1:5140", AF_INET, 5140 },
		{ "::1", AF_INET6, 514 },
		{ "[::1]:6514", AF_INET6, 6514 },
		{ "[::1]", AF_INET6, 514 },
		{ "log.example.test", 0, 0 },
		{ "127.0.0.1:0", 0, 0 },
		{ "127.0.0.1:x", 0, 0 },
		{ "[::1", 0, 0 },
		{ "", 0, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sp_rsyslog s;
		sp_result r = sp_rsyslog_parse(sp_slice_of(t[i].in), &s);
		if (t[i].port == 0) {
			if (sp_ok(r))
				fail_msg("case %zu '%s' accepted", i, t[i].in);
			continue;
		}
		if (!sp_ok(r))
			fail_msg("case %zu '%s': %s", i, t[i].in, sp_errmsg());
		assert_int_equal(s.ip.family, t[i].family);
		assert_int_equal(s.port, t[i].port);
		assert_int_equal(s.fd, -1);
	}
}

static void
test_send(void **state)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	char addr[64], buf[2048];
	int rx = socket(AF_INET, SOCK_DGRAM, 0);
	sp_rsyslog s;
	ssize_t n;
	(void)state;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(rx, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(rx, (struct sockaddr *)&a, &al), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
	assert_true(sp_ok(sp_rsyslog_parse(sp_slice_of(addr), &s)));
	sp_rsyslog_send(&s, LOG_ERR, "SPA2102 -- Resync failed: x");
	n = recv(rx, buf, sizeof(buf) - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "<27>sprov-device["));
	assert_non_null(strstr(buf, "]: SPA2102 -- Resync failed: x"));
	/* A long message is cut at the datagram limit, never overflows. */
	char big[4000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sp_rsyslog_send(&s, LOG_INFO, big);
	n = recv(rx, buf, sizeof(buf), 0);
	assert_int_equal(n, SP_SYSLOG_MSG_MAX - 1);
	sp_rsyslog_close(&s);
	close(rx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_send),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
