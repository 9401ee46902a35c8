/*
 * Profile rules and macros: table-driven, including the digest's examples.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "profile/rule.h"

static void
fill(sp_macros *m)
{
	sp_macros_init(m);
	assert_true(sp_ok(sp_macros_set_cstr(m, "MA", "000e08aabbcc")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "MAU", "000E08AABBCC")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "MAC", "00:0e:08:aa:bb:cc")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "PN", "SPA2102")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "PSN", "2102")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "SN", "88012BA01234")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "SWVER", "2.0.3(0412s)")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "HWVER", "1.0.1")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "CCERT", "Installed")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "PRVST", "-1")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "A", "1")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "B", "hello")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "C", "10")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "SA", "s3cret")));
	assert_true(sp_ok(sp_macros_set_cstr(m, "ERR", "http_get failed")));
}

/* ---- macro expansion ---- */

static const struct {
	const char *in;
	int flags;
	const char *out;
} expand_cases[] = {
	{ "/spa$PSN.cfg", 0, "/spa2102.cfg" },
	{ "/profiles/$MA.xml", 0, "/profiles/000e08aabbcc.xml" },
	{ "$MAU", 0, "000E08AABBCC" },
	{ "$MAC", 0, "00:0e:08:aa:bb:cc" },
	{ "$(MA)", 0, "000e08aabbcc" },
	{ "$(MA:0:6)", 0, "000e08" },
	{ "$(MA:6)", 0, "aabbcc" },
	{ "$(MA:6:100)", 0, "aabbcc" },      /* q clamped */
	{ "$(MA:100)", 0, "" },              /* p clamped */
	{ "$(MA:100:2)", 0, "" },
	{ "$(MA:2:0)", 0, "" },
	{ "a$$b", 0, "a$b" },
	{ "$$MA", 0, "$MA" },                /* $$ then literal MA */
	{ "$$$MA", 0, "$000e08aabbcc" },
	{ "$FOO/x", 0, "$FOO/x" },           /* unknown kept */
	{ "$(FOO)", 0, "$(FOO)" },
	{ "$(FOO:1:2)", 0, "$(FOO:1:2)" },
	{ "$(MA", 0, "$(MA" },               /* malformed kept */
	{ "$(MA:x)", 0, "$(MA:x)" },
	{ "$(MA:1:2:3)", 0, "$(MA:1:2:3)" },
	{ "$", 0, "$" },
	{ "a$", 0, "a$" },
	{ "$ x", 0, "$ x" },
	{ "$ma", 0, "$ma" },                 /* names are upper case */
	{ "$MAabc", 0, "000e08aabbccabc" },  /* the name stops at lower case */
	{ "$PSNX", 0, "$PSNX" },             /* longest run: PSNX is unknown */
	{ "$(PSN)X", 0, "2102X" },
	{ "$SA", 0, "$SA" },                 /* secrets only for --key */
	{ "$(SA)", 0, "$(SA)" },
	{ "$SA", SP_MACRO_SECRET, "s3cret" },
	{ "$(SA:0:2)", SP_MACRO_SECRET, "s3" },
	{ "$SB", SP_MACRO_SECRET, "" },      /* known, unset: empty */
	{ "$IP", 0, "" },
	{ "[$A][$B]", 0, "[1][hello]" },
	{ "$PN $MAC -- Resync failed: $ERR", 0,
	  "SPA2102 00:0e:08:aa:bb:cc -- Resync failed: http_get failed" },
	{ "", 0, "" },
};

static void
test_expand_table(void **state)
{
	sp_macros m;

	fill(&m);
	for (size_t i = 0; i < SP_ARRAY_LEN(expand_cases); i++) {
		sp_buf out;
		sp_buf_init(&out, 1 << 16);
		sp_result r = sp_macro_expand(sp_slice_of(expand_cases[i].in), &m,
		    expand_cases[i].flags, &out);
		if (sp_failed(r))
			fail_msg("case %zu '%s': %s", i, expand_cases[i].in, sp_errmsg());
		if (strcmp(sp_buf_cstr(&out), expand_cases[i].out) != 0)
			fail_msg("case %zu '%s': got '%s' want '%s'", i, expand_cases[i].in,
			    sp_buf_cstr(&out), expand_cases[i].out);
		sp_buf_free(&out);
	}
	sp_macros_free(&m);
}

static void
test_expand_single_pass(void **state)
{
	sp_macros m;
	sp_buf out;

	fill(&m);
	/* A value that looks like a macro is not expanded again. */
	assert_true(sp_ok(sp_macros_set_cstr(&m, "D", "$MA$$")));
	sp_buf_init(&out, 1024);
	assert_true(sp_ok(sp_macro_expand(SP_SLICE_LIT("x$D"), &m, 0, &out)));
	assert_string_equal(sp_buf_cstr(&out), "x$MA$$");
	sp_buf_free(&out);
	sp_macros_free(&m);
}

static void
test_expand_limits(void **state)
{
	sp_macros m;
	sp_buf out;
	char big[SP_MACRO_VALUE_MAX + 2];
	char in[64];

	sp_macros_init(&m);
	memset(big, 'x', sizeof(big));
	big[SP_MACRO_VALUE_MAX] = '\0';
	assert_true(sp_ok(sp_macros_set_cstr(&m, "A", big)));
	big[SP_MACRO_VALUE_MAX] = 'x';
	big[SP_MACRO_VALUE_MAX + 1] = '\0';
	assert_int_equal(sp_macros_set_cstr(&m, "A", big).code, SP_E_LIMIT);
	assert_int_equal(sp_macros_set_cstr(&m, "NOPE", "1").code, SP_E_NOTFOUND);
	/* One value fits, two exceed SP_MACRO_OUT_MAX. */
	sp_buf_init(&out, 1 << 20);
	assert_true(sp_ok(sp_macro_expand(SP_SLICE_LIT("$A"), &m, 0, &out)));
	sp_buf_reset(&out);
	snprintf(in, sizeof(in), "$A$A");
	assert_int_equal(sp_macro_expand(sp_slice_of(in), &m, 0, &out).code, SP_E_LIMIT);
	/* The caller's own ceiling applies too. */
	sp_buf_free(&out);
	sp_buf_init(&out, 4);
	assert_int_equal(sp_macro_expand(SP_SLICE_LIT("$A"), &m, 0, &out).code, SP_E_LIMIT);
	sp_buf_free(&out);
	sp_macros_free(&m);
}

static void
test_load_gpp(void **state)
{
	sp_params ps;
	sp_macros m;

	sp_params_init(&ps);
	sp_macros_init(&m);
	assert_true(sp_ok(sp_params_set_cstr(&ps, "GPP_A", "alpha", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "GPP_P", "pee", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_params_set_cstr(&ps, "GPP_SB", "sekrit", SP_ACCESS_UNSET)));
	assert_true(sp_ok(sp_macros_load_gpp(&m, &ps)));
	assert_true(sp_slice_eq_cstr(sp_macros_get(&m, SP_M_A), "alpha"));
	assert_true(sp_slice_eq_cstr(sp_macros_get(&m, SP_M_P), "pee"));
	assert_true(sp_slice_eq_cstr(sp_macros_get(&m, SP_M_SB), "sekrit"));
	assert_true(sp_slice_eq_cstr(sp_macros_get(&m, SP_M_B), ""));
	assert_int_equal(sp_macro_lookup(SP_SLICE_LIT("REGTMR2")), SP_M_REGTMR2);
	assert_int_equal(sp_macro_lookup(SP_SLICE_LIT("ma")), -1);
	assert_true(sp_macro_is_secret(SP_M_SD));
	assert_false(sp_macro_is_secret(SP_M_P));
	sp_macros_free(&m);
	sp_params_free(&ps);
}

/* ---- rules ---- */

/*
 * Expected summary of a selection:
 *   "alt=N url=U scheme=S host=H port=P path=Q [key=K] [post=x] [alias=x]
 *    [uid=U] [pwd=P] [A=v ...]"
 * or "alt=-1" when nothing matched, or "alt=N nourl".
 */
static void
summarize(const sp_rule_choice *c, char *s, size_t n)
{
	int k = snprintf(s, n, "alt=%d", c->alt);

	if (c->alt < 0)
		return;
	if (c->has_url)
		k += snprintf(s + k, n - (size_t)k, " url=%s scheme=%s host=%s port=%u path=%s",
		    sp_buf_cstr(&c->url), sp_scheme_name(c->target.scheme), c->target.host,
		    (unsigned)c->target.port, c->target.path);
	else
		k += snprintf(s + k, n - (size_t)k, " nourl");
	if (c->has_key)
		k += snprintf(s + k, n - (size_t)k, " key=%s", sp_buf_cstr(&c->key));
	if (c->post)
		k += snprintf(s + k, n - (size_t)k, " post=%c", c->post);
	if (c->alias)
		k += snprintf(s + k, n - (size_t)k, " alias=%c", c->alias);
	if (c->has_uid)
		k += snprintf(s + k, n - (size_t)k, " uid=%s", sp_buf_cstr(&c->uid));
	if (c->has_pwd)
		k += snprintf(s + k, n - (size_t)k, " pwd=%s", sp_buf_cstr(&c->pwd));
	for (size_t i = 0; i < c->n_assign; i++)
		k += snprintf(s + k, n - (size_t)k, " %s=%s", c->assign[i].target >= 0 ?
		    sp_macro_name((sp_macro_id)c->assign[i].target) : c->assign[i].name,
		    sp_buf_cstr(&c->assign[i].value));
}

#define OK SP_E_OK
static const struct {
	const char *rule;
	sp_code parse;   /* expected from sp_rule_parse */
	sp_code select;  /* expected from sp_rule_select */
	const char *want;
} rule_cases[] = {
	/* The digest's examples. */
	{ "/spa$PSN.cfg", OK, OK,
	  "alt=0 url=/spa2102.cfg scheme=tftp host= port=69 path=/spa2102.cfg" },
	{ "[--key $SA] https://ps.example.com/$MA.cfg", OK, OK,
	  "alt=0 url=https://ps.example.com/000e08aabbcc.cfg scheme=https "
	  "host=ps.example.com port=443 path=/000e08aabbcc.cfg key=s3cret" },
	{ "( $PN = SPA962 )? https://a.example.com/962.xml | https://b.example.com/$PN.xml",
	  OK, OK, "alt=1 url=https://b.example.com/SPA2102.xml scheme=https "
	  "host=b.example.com port=443 path=/SPA2102.xml" },
	{ "( $PN = SPA2102 )? https://a.example.com/x | https://b.example.com/y",
	  OK, OK, "alt=0 url=https://a.example.com/x scheme=https host=a.example.com "
	  "port=443 path=/x" },
	{ "https://ps.example.com/$(MA:0:6)/$MA.xml", OK, OK,
	  "alt=0 url=https://ps.example.com/000e08/000e08aabbcc.xml scheme=https "
	  "host=ps.example.com port=443 path=/000e08/000e08aabbcc.xml" },
	{ "http://ps.example.com/a$$b", OK, OK,
	  "alt=0 url=http://ps.example.com/a$b scheme=http host=ps.example.com port=80 "
	  "path=/a$b" },
	{ "http://ps.example.com/$FOO.cfg", OK, OK,
	  "alt=0 url=http://ps.example.com/$FOO.cfg scheme=http host=ps.example.com "
	  "port=80 path=/$FOO.cfg" },
	{ "https://ps.example.com/x.xml # comment | ignored", OK, OK,
	  "alt=0 url=https://ps.example.com/x.xml scheme=https host=ps.example.com "
	  "port=443 path=/x.xml" },
	{ "# all commented", OK, OK, "alt=-1" },
	{ "", OK, OK, "alt=-1" },
	{ "   \t ", OK, OK, "alt=-1" },
	/* URL forms and default ports. */
	{ "tftp://10.0.0.1/spa.cfg", OK, OK,
	  "alt=0 url=tftp://10.0.0.1/spa.cfg scheme=tftp host=10.0.0.1 port=69 path=/spa.cfg" },
	{ "HTTPS://Ps.Example.com:8443/p?mac=$MA&sn=$SN", OK, OK,
	  "alt=0 url=HTTPS://Ps.Example.com:8443/p?mac=000e08aabbcc&sn=88012BA01234 "
	  "scheme=https host=Ps.Example.com port=8443 path=/p?mac=000e08aabbcc&sn=88012BA01234" },
	{ "ps.example.com/x.cfg", OK, OK,
	  "alt=0 url=ps.example.com/x.cfg scheme=tftp host=ps.example.com port=69 path=/x.cfg" },
	{ "ps.example.com:1069/x.cfg", OK, OK,
	  "alt=0 url=ps.example.com:1069/x.cfg scheme=tftp host=ps.example.com port=1069 "
	  "path=/x.cfg" },
	{ "https://[::1]:8443/x", OK, OK,
	  "alt=0 url=https://[::1]:8443/x scheme=https host=::1 port=8443 path=/x" },
	{ "https://ps.example.com", OK, OK,
	  "alt=0 url=https://ps.example.com scheme=https host=ps.example.com port=443 path=/" },
	{ "https://ps.example.com?x=1", OK, OK,
	  "alt=0 url=https://ps.example.com?x=1 scheme=https host=ps.example.com port=443 "
	  "path=/?x=1" },
	{ "ftp://ps.example.com/x", OK, SP_E_PARSE, NULL },
	{ "https://ps.example.com:0/x", OK, SP_E_PARSE, NULL },
	{ "https://ps.example.com:65536/x", OK, SP_E_PARSE, NULL },
	{ "https://ps.example.com:/x", OK, SP_E_PARSE, NULL },
	{ "https://user@ps.example.com/x", OK, SP_E_PARSE, NULL },
	{ "https://ps.example.com/$ERR", OK, SP_E_PARSE, NULL }, /* space after expansion */
	/* Conditions: integers, versions, strings, operators. */
	{ "( $A = 1 )? /one | /other", OK, OK, "alt=0 url=/one scheme=tftp host= port=69 path=/one" },
	{ "( $A == 01 )? /one | /other", OK, OK, "alt=0 url=/one scheme=tftp host= port=69 path=/one" },
	{ "( $A eq \"01\" )? /one | /other", OK, OK,
	  "alt=1 url=/other scheme=tftp host= port=69 path=/other" },
	{ "( $C > 9 )? /gt | /le", OK, OK, "alt=0 url=/gt scheme=tftp host= port=69 path=/gt" },
	{ "( \"$C\" > \"9\" )? /gt | /le", OK, OK,
	  "alt=1 url=/le scheme=tftp host= port=69 path=/le" }, /* strings: "10" < "9" */
	{ "( $PRVST lt 0 )? /req | /other", OK, OK,
	  "alt=0 url=/req scheme=tftp host= port=69 path=/req" },
	{ "( $SWVER ge 2.0.3(0412s) )? /new | /old", OK, OK,
	  "alt=0 url=/new scheme=tftp host= port=69 path=/new" },
	{ "( $SWVER lt 2.0.10 )? /old | /new", OK, OK,
	  "alt=0 url=/old scheme=tftp host= port=69 path=/old" },
	{ "( $SWVER > 2.0.3(0411s) and $SWVER < 2.0.3(0413) )? /mid | /no", OK, OK,
	  "alt=0 url=/mid scheme=tftp host= port=69 path=/mid" },
	{ "( $SWVER != 2.0.3(0412s) )? /x | /same", OK, OK,
	  "alt=1 url=/same scheme=tftp host= port=69 path=/same" },
	{ "( $HWVER <= 1.0 )? /x | /y", OK, OK, "alt=1 url=/y scheme=tftp host= port=69 path=/y" },
	{ "( $CCERT = \"Not Installed\" )? /generic | /unique", OK, OK,
	  "alt=1 url=/unique scheme=tftp host= port=69 path=/unique" },
	{ "( $B ne world AND $A = 1 )? /both | /no", OK, OK,
	  "alt=0 url=/both scheme=tftp host= port=69 path=/both" },
	{ "( $B = hello and $A = 2 )? /both | /no", OK, OK,
	  "alt=1 url=/no scheme=tftp host= port=69 path=/no" },
	{ "( $A = 2 )? /two | ( $A = 3 )? /three", OK, OK, "alt=-1" },
	{ "( $A=1 )? /tight", OK, OK, "alt=0 url=/tight scheme=tftp host= port=69 path=/tight" },
	{ "( $(MA:0:6) = 000e08 )? /vendor | /other", OK, OK,
	  "alt=0 url=/vendor scheme=tftp host= port=69 path=/vendor" },
	{ "( $IP = \"\" )? /noip", OK, OK, "alt=0 url=/noip scheme=tftp host= port=69 path=/noip" },
	{ "( $A = \"a|b#c\" )? /x | /y", OK, OK, "alt=1 url=/y scheme=tftp host= port=69 path=/y" },
	/* Assignments. */
	{ "( $A = 1 )? ( $B = world; GPP_D = \"x y\" )! /b$B | /z", OK, OK,
	  "alt=0 url=/bworld scheme=tftp host= port=69 path=/bworld B=world D=x y" },
	{ "( $E = $MA; $F = $E-2 )! https://ps.example.com/$F", OK, OK,
	  "alt=0 url=https://ps.example.com/000e08aabbcc-2 scheme=https host=ps.example.com "
	  "port=443 path=/000e08aabbcc-2 E=000e08aabbcc F=000e08aabbcc-2" },
	{ "( $G = $SA )!", OK, OK, "alt=0 nourl G=$SA" },  /* no secret leaks into a GPP */
	{ "( $(H) = 1; )!", OK, OK, "alt=0 nourl H=1" },
	/* Any parameter (the guide's User_ID_1_), and a..p for GPP_A..P. */
	{ "( User_ID_1_ = \"uid$B\" ; Line_Enable_1_ = Yes )! /x", OK, OK,
	  "alt=0 url=/x scheme=tftp host= port=69 path=/x User_ID_1_=uidhello "
	  "Line_Enable_1_=Yes" },
	{ "( a = 1; p = \"x y\"; GPP_Q = q )! /$A$P", OK, SP_E_PARSE, NULL }, /* space */
	{ "( a = 1; p = x; GPP_Q = q )! /$A$P", OK, OK,
	  "alt=0 url=/1x scheme=tftp host= port=69 path=/1x A=1 P=x GPP_Q=q" },
	{ "( GPP_SB = new )! [--key $SB] /x", OK, OK,
	  "alt=0 url=/x scheme=tftp host= port=69 path=/x key=new SB=new" },
	/* Short conditions compare the running version ($SWVER 2.0.3(0412s)). */
	{ "(<1.0)? /old | /cur", OK, OK, "alt=1 url=/cur scheme=tftp host= port=69 path=/cur" },
	{ "(! 1.0.2)? /up", OK, OK, "alt=0 url=/up scheme=tftp host= port=69 path=/up" },
	{ "(!1.0.2)? /up", OK, OK, "alt=0 url=/up scheme=tftp host= port=69 path=/up" },
	{ "(! 2.0.3(412s))? /up", OK, OK, "alt=-1" },
	{ "(!= 2.0.3(0412s))? /x | /y", OK, OK, "alt=1 url=/y scheme=tftp host= port=69 path=/y" },
	{ "(>= 2.0)? /new | /old", OK, OK, "alt=0 url=/new scheme=tftp host= port=69 path=/new" },
	{ "(> 2.0.3(0412s))? /x", OK, OK, "alt=-1" },
	{ "(<= 2.0.3(0412s))? /x", OK, OK, "alt=0 url=/x scheme=tftp host= port=69 path=/x" },
	{ "(= 2.0.3(0412s))? /x", OK, OK, "alt=0 url=/x scheme=tftp host= port=69 path=/x" },
	{ "(== 2.0.3)? /x | /y", OK, OK, "alt=1 url=/y scheme=tftp host= port=69 path=/y" },
	{ "( > 2.0 and < 3.0 )? /mid", OK, OK,
	  "alt=0 url=/mid scheme=tftp host= port=69 path=/mid" },
	{ "( < 3.0 and $A = 1 )? /mid", OK, OK,
	  "alt=0 url=/mid scheme=tftp host= port=69 path=/mid" },
	/* Options. */
	{ "[--post a] https://ps.example.com/report", OK, OK,
	  "alt=0 url=https://ps.example.com/report scheme=https host=ps.example.com port=443 "
	  "path=/report post=a" },
	{ "[ --key \"pass phrase\" --alias B --uid $MA --pwd $SA ] https://h.example/x", OK, OK,
	  "alt=0 url=https://h.example/x scheme=https host=h.example port=443 path=/x "
	  "key=pass phrase alias=b uid=000e08aabbcc pwd=$SA" },
	{ "[--key $SA$B] /x", OK, OK,
	  "alt=0 url=/x scheme=tftp host= port=69 path=/x key=s3crethello" },
	{ "[] /x", OK, OK, "alt=0 url=/x scheme=tftp host= port=69 path=/x" },
	/* Parse errors. */
	{ "/a | /b", SP_E_PARSE, OK, NULL },                 /* first alt has no condition */
	{ "( $A = 1 ) /x", SP_E_PARSE, OK, NULL },           /* no '?' or '!' */
	{ "( $A = 1 ? /x", SP_E_PARSE, OK, NULL },
	{ "( $A 1 )? /x", SP_E_PARSE, OK, NULL },
	{ "( $A = )? /x", SP_E_PARSE, OK, NULL },
	{ "( $A = 1 or $B = 2 )? /x", SP_E_PARSE, OK, NULL },
	{ "( $A ! 1 )? /x", SP_E_PARSE, OK, NULL },
	{ "( $A = \"1 )? /x", SP_E_PARSE, OK, NULL },
	{ "( $Q = 1 )! /x", SP_E_PARSE, OK, NULL },          /* Q is no GPP */
	{ "( $SA = 1 )! /x", SP_E_PARSE, OK, NULL },
	{ "( A = 1 )! /x", SP_E_PARSE, OK, NULL },           /* a, $A or GPP_A */
	{ "( q = 1 )! /x", SP_E_PARSE, OK, NULL },           /* q is no GPP */
	{ "( 1st = 1 )! /x", SP_E_PARSE, OK, NULL },
	{ "( Bad-Name = 1 )! /x", SP_E_PARSE, OK, NULL },
	{ "( $(SA) = 1 )! /x", SP_E_PARSE, OK, NULL },
	{ "(<)? /x", SP_E_PARSE, OK, NULL },
	{ "(! )? /x", SP_E_PARSE, OK, NULL },
	{ "(< 1.0 and)? /x", SP_E_PARSE, OK, NULL },
	{ "(< 1.0 1.1)? /x", SP_E_PARSE, OK, NULL },
	{ "( $A 1 )! /x", SP_E_PARSE, OK, NULL },
	{ "( ; )! /x", SP_E_PARSE, OK, NULL },
	{ "( $A = 1 )! ( $A = 1 )? /x", SP_E_PARSE, OK, NULL }, /* condition after assignment */
	{ "( $A = 1 )? ( $A = 2 )? /x", SP_E_PARSE, OK, NULL },
	{ "[--key] /x", SP_E_PARSE, OK, NULL },
	{ "[--key a --key b] /x", SP_E_PARSE, OK, NULL },
	{ "[--post q] /x", SP_E_PARSE, OK, NULL },
	{ "[--post ab] /x", SP_E_PARSE, OK, NULL },
	{ "[--frobnicate 1] /x", SP_E_PARSE, OK, NULL },
	{ "[--key a /x", SP_E_PARSE, OK, NULL },
	{ "/x /y", SP_E_PARSE, OK, NULL },
	{ "( $A = 1 )? /x |", SP_E_PARSE, OK, NULL },
	{ "( $A = 1 )? /x || /y", SP_E_PARSE, OK, NULL },
	{ "/x\x01", SP_E_PARSE, OK, NULL },
};

static void
test_rule_table(void **state)
{
	char got[2048];

	assert_true(SP_ARRAY_LEN(rule_cases) >= 40);
	for (size_t i = 0; i < SP_ARRAY_LEN(rule_cases); i++) {
		sp_rule *r = NULL;
		sp_rule_choice c;
		sp_macros m;
		sp_result res = sp_rule_parse(sp_slice_of(rule_cases[i].rule), &r);

		if (res.code != rule_cases[i].parse)
			fail_msg("case %zu '%s': parse gave %s (%s)", i, rule_cases[i].rule,
			    sp_code_name(res.code), sp_errmsg());
		if (sp_failed(res)) {
			assert_null(r);
			continue;
		}
		fill(&m);
		sp_rule_choice_init(&c);
		res = sp_rule_select(r, &m, &c);
		if (res.code != rule_cases[i].select)
			fail_msg("case %zu '%s': select gave %s (%s)", i, rule_cases[i].rule,
			    sp_code_name(res.code), sp_errmsg());
		if (sp_ok(res)) {
			summarize(&c, got, sizeof(got));
			if (strcmp(got, rule_cases[i].want) != 0)
				fail_msg("case %zu '%s':\n got  %s\n want %s", i,
				    rule_cases[i].rule, got, rule_cases[i].want);
		}
		sp_rule_choice_free(&c);
		sp_macros_free(&m);
		sp_rule_free(r);
	}
}

static void
test_parse_error_offset(void **state)
{
	sp_rule *r = NULL;

	assert_int_equal(sp_rule_parse(SP_SLICE_LIT("( $A = 1 )? /x | [--bogus 1] /y"),
	    &r).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "unknown option"));
	assert_non_null(strstr(sp_errmsg(), "offset 18"));
	assert_int_equal(sp_rule_parse(SP_SLICE_LIT("/a | /b"), &r).code, SP_E_PARSE);
	assert_non_null(strstr(sp_errmsg(), "needs a ( condition )?"));
}

static void
test_select_sets_url_macros(void **state)
{
	sp_rule *r = NULL;
	sp_rule_choice c;
	sp_macros m;
	sp_buf log;

	fill(&m);
	sp_rule_choice_init(&c);
	sp_buf_init(&log, 4096);
	assert_true(sp_ok(sp_rule_parse(
	    SP_SLICE_LIT("https://ps.example.com:8443/spa$PSN.cfg"), &r)));
	assert_true(sp_ok(sp_rule_select(r, &m, &c)));
	assert_true(sp_ok(sp_macros_set_cstr(&m, "SERVIP", "192.0.2.7")));
	assert_true(sp_ok(sp_macro_expand(
	    SP_SLICE_LIT("$PN $MAC -- Requesting resync $SCHEME://$SERVIP:$PORT$PATH"),
	    &m, 0, &log)));
	assert_string_equal(sp_buf_cstr(&log), "SPA2102 00:0e:08:aa:bb:cc -- Requesting "
	    "resync https://192.0.2.7:8443/spa2102.cfg");
	assert_true(sp_slice_eq_cstr(sp_macros_get(&m, SP_M_SERV), "ps.example.com"));
	/* Selecting again resets the choice. */
	assert_true(sp_ok(sp_rule_select(r, &m, &c)));
	assert_int_equal(c.alt, 0);
	assert_int_equal(c.n_assign, 0);
	sp_buf_free(&log);
	sp_rule_choice_free(&c);
	sp_macros_free(&m);
	sp_rule_free(r);
}

static void
test_assignment_persists(void **state)
{
	sp_rule *r = NULL;
	sp_rule_choice c;
	sp_macros m;

	/* First round assigns A=2, so the second round takes the other branch. */
	fill(&m);
	sp_rule_choice_init(&c);
	assert_true(sp_ok(sp_rule_parse(
	    SP_SLICE_LIT("( $A = 1 )? ( $A = 2 )! /first | /second"), &r)));
	assert_true(sp_ok(sp_rule_select(r, &m, &c)));
	assert_string_equal(c.target.path, "/first");
	assert_true(sp_slice_eq_cstr(sp_macros_get(&m, SP_M_A), "2"));
	assert_true(sp_ok(sp_rule_select(r, &m, &c)));
	assert_string_equal(c.target.path, "/second");
	assert_int_equal(c.n_tried, 2);
	sp_rule_choice_free(&c);
	sp_macros_free(&m);
	sp_rule_free(r);
}

static void
test_describe_hides_secrets(void **state)
{
	sp_rule *r = NULL;
	sp_rule_choice c;
	sp_macros m;
	sp_buf d;

	fill(&m);
	sp_rule_choice_init(&c);
	sp_buf_init(&d, 1 << 16);
	assert_true(sp_ok(sp_rule_parse(SP_SLICE_LIT(
	    "( $PN = SPA962 )? /962 | ( $SWVER ge 2.0 )? ( $B = x )! "
	    "[--key $SA --pwd $SA --uid u] https://ps.example.com/$MA.xml"), &r)));
	assert_int_equal(sp_rule_count(r), 2);
	assert_true(sp_ok(sp_rule_select(r, &m, &c)));
	assert_true(sp_ok(sp_rule_describe(r, &c, &m, &d)));
	const char *s = sp_buf_cstr(&d);
	assert_null(strstr(s, "s3cret"));
	assert_non_null(strstr(s, "alternatives: 2\n"));
	assert_non_null(strstr(s, "alternative 1: \"SPA2102\" = \"SPA962\" (string): false\n"));
	assert_non_null(strstr(s,
	    "alternative 2: \"2.0.3(0412s)\" >= \"2.0\" (version): true\n"));
	assert_non_null(strstr(s, "chosen: alternative 2\n"));
	assert_non_null(strstr(s, "assign: GPP_B = \"x\"\n"));
	assert_non_null(strstr(s, "option: --key $SA\n"));
	assert_non_null(strstr(s, "option: --pwd (hidden)\n"));
	assert_non_null(strstr(s, "url: https://ps.example.com/000e08aabbcc.xml\n"));
	assert_non_null(strstr(s, "port: 443 (default)\n"));
	assert_non_null(strstr(s, "path: /000e08aabbcc.xml\n"));
	/* The key itself is expanded for use. */
	assert_string_equal(sp_buf_cstr(&c.key), "s3cret");

	sp_buf_reset(&d);
	sp_rule_free(r);
	assert_true(sp_ok(sp_rule_parse(SP_SLICE_LIT("( $A = 9 )? /x"), &r)));
	assert_true(sp_ok(sp_rule_select(r, &m, &c)));
	assert_true(sp_ok(sp_rule_describe(r, &c, &m, &d)));
	assert_non_null(strstr(sp_buf_cstr(&d), "chosen: none"));
	sp_buf_free(&d);
	sp_rule_choice_free(&c);
	sp_macros_free(&m);
	sp_rule_free(r);
}

/* The assignments any parameter may take, as describe shows them. */
static void
test_describe_assignments(void **state)
{
	sp_rule *r = NULL;
	sp_rule_choice c;
	sp_macros m;
	sp_buf d;

	fill(&m);
	sp_rule_choice_init(&c);
	sp_buf_init(&d, 1 << 16);
	assert_true(sp_ok(sp_rule_parse(SP_SLICE_LIT(
	    "( User_ID_1_ = \"uid$B\"; b = 2; GPP_SC = topsecret )! /x"), &r)));
	assert_true(sp_ok(sp_rule_select(r, &m, &c)));
	assert_true(sp_ok(sp_rule_describe(r, &c, &m, &d)));
	const char *s = sp_buf_cstr(&d);
	assert_non_null(strstr(s, "assign: User_ID_1_ = \"uidhello\"\n"));
	assert_non_null(strstr(s, "assign: GPP_B = \"2\"\n"));
	assert_non_null(strstr(s, "assign: GPP_SC = (hidden)\n"));
	assert_null(strstr(s, "topsecret"));
	assert_string_equal(c.assign[2].name, "GPP_SC");
	assert_int_equal(c.assign[2].target, SP_M_SC);
	assert_int_equal(c.assign[0].target, -1);
	assert_true(sp_slice_eq_cstr(sp_macros_get(&m, SP_M_SC), "topsecret"));
	sp_buf_free(&d);
	sp_rule_choice_free(&c);
	sp_macros_free(&m);
	sp_rule_free(r);
}

/* The upgrade's "no loop" check: a condition evaluated alone. */
static void
test_alt_holds(void **state)
{
	sp_rule *r = NULL;
	sp_macros m;
	bool holds;

	fill(&m);
	assert_true(sp_ok(sp_rule_parse(SP_SLICE_LIT(
	    "(< 2.0.1)? /fw/2.0.1.sfw | ( $A = 1 )? /fw/3.0.sfw | /fw/any.sfw"), &r)));
	assert_true(sp_rule_alt_has_cond(r, 0));
	assert_true(sp_rule_alt_has_cond(r, 1));
	assert_false(sp_rule_alt_has_cond(r, 2));
	assert_false(sp_rule_alt_has_cond(r, 3));
	assert_false(sp_rule_alt_has_cond(r, -1));
	assert_true(sp_ok(sp_macros_set_cstr(&m, "SWVER", "1.9")));
	assert_true(sp_ok(sp_rule_alt_holds(r, 0, &m, &holds)));
	assert_true(holds);
	/* The new image's version: the condition no longer holds. */
	assert_true(sp_ok(sp_macros_set_cstr(&m, "SWVER", "2.0.1")));
	assert_true(sp_ok(sp_rule_alt_holds(r, 0, &m, &holds)));
	assert_false(holds);
	assert_true(sp_ok(sp_rule_alt_holds(r, 1, &m, &holds)));
	assert_true(holds);
	assert_true(sp_ok(sp_rule_alt_holds(r, 2, &m, &holds)));
	assert_true(holds);  /* no condition */
	assert_int_equal(sp_rule_alt_holds(r, 3, &m, &holds).code, SP_E_INTERNAL);
	sp_macros_free(&m);
	sp_rule_free(r);
}

static void
test_rule_limits(void **state)
{
	sp_rule *r = NULL;
	sp_buf b;

	sp_buf_init(&b, 1 << 20);
	/* Too many alternatives. */
	for (int i = 0; i < SP_RULE_ALTS_MAX; i++)
		assert_true(sp_ok(sp_buf_append_str(&b, "( $A = 1 )? /x | ")));
	assert_true(sp_ok(sp_buf_append_str(&b, "/last")));
	assert_int_equal(sp_rule_parse(sp_slice_mk(b.p, b.len), &r).code, SP_E_LIMIT);
	/* Too long. */
	sp_buf_reset(&b);
	for (int i = 0; i <= SP_RULE_MAX; i++)
		assert_true(sp_ok(sp_buf_append_byte(&b, 'x')));
	assert_int_equal(sp_rule_parse(sp_slice_mk(b.p, b.len), &r).code, SP_E_LIMIT);
	/* Too many comparisons. */
	sp_buf_reset(&b);
	assert_true(sp_ok(sp_buf_append_str(&b, "( $A = 1")));
	for (int i = 0; i < SP_RULE_COMPARES_MAX; i++)
		assert_true(sp_ok(sp_buf_append_str(&b, " and $A = 1")));
	assert_true(sp_ok(sp_buf_append_str(&b, " )? /x")));
	assert_int_equal(sp_rule_parse(sp_slice_mk(b.p, b.len), &r).code, SP_E_LIMIT);
	/* NUL inside the text. */
	assert_int_equal(sp_rule_parse(sp_slice_mk("/a\0b", 4), &r).code, SP_E_PARSE);
	sp_buf_free(&b);
}

static void
test_rule_prefixes(void **state)
{
	/* Every prefix of a valid rule parses or fails cleanly (no crash, no leak). */
	static const char full[] = "( $SWVER ge 2.0.3(0412s) and $A = \"1\" )? ( $B = x; "
	    "GPP_C = \"y z\" )! [--key $SA --post a] https://ps.example.com:8443/$MA.xml "
	    "| https://ps.example.com/$(MA:0:6)/x # done";
	sp_macros m;

	fill(&m);
	for (size_t n = 0; n <= sizeof(full) - 1; n++) {
		sp_rule *r = NULL;
		sp_rule_choice c;
		sp_rule_choice_init(&c);
		if (sp_ok(sp_rule_parse(sp_slice_mk(full, n), &r))) {
			sp_result sr = sp_rule_select(r, &m, &c);
			(void)sr;
			sp_rule_free(r);
		}
		sp_rule_choice_free(&c);
	}
	sp_macros_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_table),
		cmocka_unit_test(test_expand_single_pass),
		cmocka_unit_test(test_expand_limits),
		cmocka_unit_test(test_load_gpp),
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_parse_error_offset),
		cmocka_unit_test(test_select_sets_url_macros),
		cmocka_unit_test(test_assignment_persists),
		cmocka_unit_test(test_describe_hides_secrets),
		cmocka_unit_test(test_describe_assignments),
		cmocka_unit_test(test_alt_holds),
		cmocka_unit_test(test_rule_limits),
		cmocka_unit_test(test_rule_prefixes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
