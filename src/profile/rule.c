/*
 * Profile_Rule parsing and selection (grammar in rule.h and docs/PROFILE.md).
 *
 * Parsing keeps slices into a private copy of the text; nothing is expanded
 * until sp_rule_select, because macro values (GPP_x, $SWVER...) change
 * between resyncs while the rule does not.
 */
#include "profile/rule.h"
#include "profile/version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>


#define SP_RULE_TRACE_MAX 16384  /* describe text of one selection */

typedef enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE } cmp_op;

static const char *const op_names[] = { "=", "!=", "<", "<=", ">", ">=" };

typedef struct compare {
	sp_slice a, b;      /* quoted operands without their quotes */
	bool aq, bq;        /* quoted */
	cmp_op op;
} compare;

typedef struct assign {
	int target;         /* macro id of a GPP, or -1 */
	sp_slice name;      /* the parameter name when target is -1 */
	sp_slice value;
} assign;

typedef struct alt {
	sp_slice raw;
	bool has_cond;
	sp_slice cond_raw;
	size_t n_cmp;
	compare cmp[SP_RULE_COMPARES_MAX];
	size_t n_asg;
	assign asg[SP_RULE_ASSIGNS_MAX];
	bool has_key, has_uid, has_pwd;
	sp_slice key, uid, pwd;
	char post, alias;
	bool has_url;
	sp_slice url;
} alt;

struct sp_rule {
	char *text;
	size_t len;
	size_t n;
	alt a[SP_RULE_ALTS_MAX];
};

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static sp_slice
trim(sp_slice s)
{
	while (s.len && is_ws(s.p[0])) {
		s.p++;
		s.len--;
	}
	while (s.len && is_ws(s.p[s.len - 1]))
		s.len--;
	return s;
}

/* Error with the byte offset of `at` in the rule text. */
static sp_result
perr(const sp_rule *r, const char *at, const char *what)
{
	return sp_error(SP_E_PARSE, "profile rule: %s at offset %zu", what,
	    (size_t)(at - r->text));
}

/*
 * Index of the ')' matching the '(' at s.p[0], skipping quoted strings;
 * s.len if none.
 */
static size_t
match_paren(sp_slice s)
{
	int depth = 0;
	bool q = false;

	for (size_t i = 0; i < s.len; i++) {
		char c = s.p[i];
		if (q) {
			if (c == '"')
				q = false;
			continue;
		}
		if (c == '"')
			q = true;
		else if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0)
			return i;
	}
	return s.len;
}

/* ---- tokens of conditions and options ---- */

typedef enum { TK_END, TK_WORD, TK_QUOTED, TK_OP, TK_AND } tk_kind;

typedef struct token {
	tk_kind kind;
	sp_slice s;    /* word / quoted content */
	cmp_op op;
} token;

static bool
word_is(sp_slice w, const char *kw)
{
	return sp_slice_eq_nocase(w, sp_slice_of(kw));
}

/* Next token of a condition body; *pos advances.  Fails on bad quoting. */
static sp_result
cond_token(const sp_rule *r, sp_slice body, size_t *pos, token *t)
{
	size_t i = *pos;

	while (i < body.len && is_ws(body.p[i]))
		i++;
	t->s = sp_slice_mk(body.p + i, 0);
	if (i == body.len) {
		t->kind = TK_END;
		*pos = i;
		return SP_OK;
	}
	char c = body.p[i];
	if (c == '"') {
		size_t e = sp_slice_find(sp_slice_mk(body.p + i + 1, body.len - i - 1), '"');
		if (i + 1 + e == body.len)
			return perr(r, body.p + i, "unterminated quoted string");
		t->kind = TK_QUOTED;
		t->s = sp_slice_mk(body.p + i + 1, e);
		*pos = i + e + 2;
		return SP_OK;
	}
	if (c == '=' || c == '!' || c == '<' || c == '>') {
		bool eq2 = i + 1 < body.len && body.p[i + 1] == '=';
		t->kind = TK_OP;
		switch (c) {
		case '=': t->op = OP_EQ; break;
		case '!':
			if (!eq2)
				return perr(r, body.p + i, "'!' must be '!='");
			t->op = OP_NE;
			break;
		case '<': t->op = eq2 ? OP_LE : OP_LT; break;
		default: t->op = eq2 ? OP_GE : OP_GT; break;
		}
		*pos = i + (eq2 ? 2 : 1);
		return SP_OK;
	}
	size_t j = i;
	while (j < body.len && !is_ws(body.p[j]) && body.p[j] != '"' &&
	    body.p[j] != '=' && body.p[j] != '!' && body.p[j] != '<' && body.p[j] != '>')
		j++;
	t->s = sp_slice_mk(body.p + i, j - i);
	*pos = j;
	t->kind = TK_WORD;
	static const struct { const char *w; cmp_op op; } kws[] = {
		{ "eq", OP_EQ }, { "ne", OP_NE }, { "lt", OP_LT },
		{ "le", OP_LE }, { "gt", OP_GT }, { "ge", OP_GE },
	};
	for (size_t k = 0; k < sizeof(kws) / sizeof(kws[0]); k++) {
		if (word_is(t->s, kws[k].w)) {
			t->kind = TK_OP;
			t->op = kws[k].op;
		}
	}
	if (word_is(t->s, "and"))
		t->kind = TK_AND;
	return SP_OK;
}

/*
 * A symbolic operator where an operand should be: the short form "(<1.0)?",
 * in which a lone '!' means "!=".  *pos advances past it when found.
 */
static bool
short_op(sp_slice body, size_t *pos, cmp_op *op)
{
	size_t i = *pos;

	while (i < body.len && is_ws(body.p[i]))
		i++;
	if (i == body.len)
		return false;
	char c = body.p[i];
	bool eq2 = i + 1 < body.len && body.p[i + 1] == '=';
	switch (c) {
	case '=': *op = OP_EQ; break;
	case '!': *op = OP_NE; break;
	case '<': *op = eq2 ? OP_LE : OP_LT; break;
	case '>': *op = eq2 ? OP_GE : OP_GT; break;
	default: return false;
	}
	*pos = i + (eq2 ? 2 : 1);
	return true;
}

static sp_result
parse_condition(sp_rule *r, alt *a, sp_slice body)
{
	sp_result res = SP_OK;
	size_t pos = 0;
	token t;

	for (;;) {
		compare *c;
		ENSURE(a->n_cmp < SP_RULE_COMPARES_MAX, SP_E_LIMIT,
		    "profile rule: more than %d comparisons in one condition",
		    SP_RULE_COMPARES_MAX);
		c = &a->cmp[a->n_cmp];
		if (short_op(body, &pos, &c->op)) {
			/* The guide's short form compares the running version. */
			c->a = SP_SLICE_LIT("$SWVER");
			c->aq = false;
			goto operand_b;
		}
		TRY(cond_token(r, body, &pos, &t));
		if (t.kind != TK_WORD && t.kind != TK_QUOTED) {
			res = perr(r, t.s.p, "expected an operand in the condition");
			goto out;
		}
		c->a = t.s;
		c->aq = t.kind == TK_QUOTED;
		TRY(cond_token(r, body, &pos, &t));
		if (t.kind != TK_OP) {
			res = perr(r, t.s.p, "expected a comparison operator "
			    "(= eq != ne < lt <= le > gt >= ge)");
			goto out;
		}
		c->op = t.op;
operand_b:
		TRY(cond_token(r, body, &pos, &t));
		if (t.kind != TK_WORD && t.kind != TK_QUOTED) {
			res = perr(r, t.s.p, "expected an operand after the operator");
			goto out;
		}
		c->b = t.s;
		c->bq = t.kind == TK_QUOTED;
		a->n_cmp++;
		TRY(cond_token(r, body, &pos, &t));
		if (t.kind == TK_END)
			break;
		if (t.kind != TK_AND) {
			res = perr(r, t.s.p, "expected 'and' between comparisons");
			goto out;
		}
	}
out:
	return res;
}

static bool
param_name_ok(sp_slice s)
{
	/* "A = 1" or "q = 1" is a slip for a..p, $A or GPP_A, never a parameter. */
	if (s.len == 1)
		return false;
	if (sp_ok(sp_param_name_check(s)))
		return true;
	sp_error_clear();
	return false;
}

/*
 * An assignment's target: "$A", "$(A)", "GPP_A" or "a" (A..P) and GPP_SA..SD
 * set a macro too (*target); any other parameter name only the parameter
 * (*target = -1).  False when s is neither.
 */
static bool
assign_target(sp_slice s, int *target)
{
	sp_slice n;

	*target = -1;
	if (s.len == 1 && s.p[0] >= 'a' && s.p[0] <= 'p') {
		*target = SP_M_A + (s.p[0] - 'a');
		return true;
	}
	if (s.len >= 2 && s.p[0] == '$' && s.p[1] == '(' && s.p[s.len - 1] == ')')
		n = sp_slice_mk(s.p + 2, s.len - 3);
	else if (s.len >= 1 && s.p[0] == '$')
		n = sp_slice_mk(s.p + 1, s.len - 1);
	else if (s.len >= 4 && memcmp(s.p, "GPP_", 4) == 0) {
		n = sp_slice_mk(s.p + 4, s.len - 4);
		if (n.len == 2 && n.p[0] == 'S' && n.p[1] >= 'A' && n.p[1] <= 'D') {
			*target = SP_M_SA + (n.p[1] - 'A');
			return true;
		}
		if (!(n.len == 1 && n.p[0] >= 'A' && n.p[0] <= 'P'))
			return param_name_ok(s);  /* GPP_X1 and the like: a parameter */
	} else
		return param_name_ok(s);
	if (n.len == 1 && n.p[0] >= 'A' && n.p[0] <= 'P') {
		*target = SP_M_A + (n.p[0] - 'A');
		return true;
	}
	return false;
}

static sp_result
parse_assignments(sp_rule *r, alt *a, sp_slice body)
{
	sp_result res = SP_OK;
	size_t i = 0;

	while (i <= body.len) {
		/* One segment up to ';' outside quotes. */
		size_t j = i;
		bool q = false;
		while (j < body.len && (q || body.p[j] != ';')) {
			if (body.p[j] == '"')
				q = !q;
			j++;
		}
		ENSURE(!q, SP_E_PARSE, "profile rule: unterminated quoted string at offset %zu",
		    (size_t)(body.p + i - r->text));
		sp_slice seg = trim(sp_slice_mk(body.p + i, j - i));
		i = j + 1;
		if (seg.len == 0)
			continue;
		ENSURE(a->n_asg < SP_RULE_ASSIGNS_MAX, SP_E_LIMIT,
		    "profile rule: more than %d assignments in one alternative",
		    SP_RULE_ASSIGNS_MAX);
		size_t eq = sp_slice_find(seg, '=');
		if (eq == seg.len) {
			res = perr(r, seg.p, "assignment without '='");
			goto out;
		}
		int target;
		sp_slice name = trim(sp_slice_mk(seg.p, eq));
		if (!assign_target(name, &target)) {
			res = perr(r, seg.p, "assignment target must be a parameter name, "
			    "a..p, $A..$P or GPP_A..GPP_P");
			goto out;
		}
		sp_slice v = trim(sp_slice_mk(seg.p + eq + 1, seg.len - eq - 1));
		if (v.len && v.p[0] == '"') {
			if (v.len < 2 || v.p[v.len - 1] != '"' ||
			    sp_slice_find(sp_slice_mk(v.p + 1, v.len - 2), '"') != v.len - 2) {
				res = perr(r, v.p, "bad quoted value in assignment");
				goto out;
			}
			v = sp_slice_mk(v.p + 1, v.len - 2);
		} else if (sp_slice_find(v, '"') != v.len) {
			res = perr(r, v.p, "stray '\"' in assignment value");
			goto out;
		}
		a->asg[a->n_asg].target = target;
		a->asg[a->n_asg].name = name;
		a->asg[a->n_asg].value = v;
		a->n_asg++;
	}
	ENSURE(a->n_asg > 0, SP_E_PARSE, "profile rule: empty assignment list at offset %zu",
	    (size_t)(body.p - r->text));
out:
	return res;
}

/* Next whitespace-separated option word (quotes group and are removed). */
static sp_result
opt_token(const sp_rule *r, sp_slice body, size_t *pos, sp_slice *w, bool *got)
{
	size_t i = *pos;

	while (i < body.len && is_ws(body.p[i]))
		i++;
	*got = i < body.len;
	if (!*got) {
		*pos = i;
		return SP_OK;
	}
	if (body.p[i] == '"') {
		size_t e = sp_slice_find(sp_slice_mk(body.p + i + 1, body.len - i - 1), '"');
		if (i + 1 + e == body.len)
			return perr(r, body.p + i, "unterminated quoted string");
		*w = sp_slice_mk(body.p + i + 1, e);
		*pos = i + e + 2;
		return SP_OK;
	}
	size_t j = i;
	while (j < body.len && !is_ws(body.p[j]))
		j++;
	*w = sp_slice_mk(body.p + i, j - i);
	*pos = j;
	return SP_OK;
}

static sp_result
parse_options(sp_rule *r, alt *a, sp_slice body)
{
	sp_result res = SP_OK;
	size_t pos = 0;
	sp_slice w, v;
	bool got;

	for (;;) {
		TRY(opt_token(r, body, &pos, &w, &got));
		if (!got)
			break;
		const char *at = w.p;
		bool *flag = NULL;
		sp_slice *dst = NULL;
		char *letter = NULL;
		if (sp_slice_eq_cstr(w, "--key")) {
			flag = &a->has_key;
			dst = &a->key;
		} else if (sp_slice_eq_cstr(w, "--uid")) {
			flag = &a->has_uid;
			dst = &a->uid;
		} else if (sp_slice_eq_cstr(w, "--pwd")) {
			flag = &a->has_pwd;
			dst = &a->pwd;
		} else if (sp_slice_eq_cstr(w, "--post")) {
			letter = &a->post;
		} else if (sp_slice_eq_cstr(w, "--alias")) {
			letter = &a->alias;
		} else {
			res = perr(r, at, "unknown option (expected --key, --post, "
			    "--alias, --uid or --pwd)");
			goto out;
		}
		if ((flag && *flag) || (letter && *letter)) {
			res = perr(r, at, "option given twice");
			goto out;
		}
		TRY(opt_token(r, body, &pos, &v, &got));
		if (!got) {
			res = perr(r, at, "option needs an argument");
			goto out;
		}
		if (letter) {
			char c = v.len == 1 ? v.p[0] : 0;
			if (c >= 'A' && c <= 'P')
				c = (char)(c - 'A' + 'a');
			if (!(c >= 'a' && c <= 'p')) {
				res = perr(r, v.p, "--post and --alias take one letter a..p");
				goto out;
			}
			*letter = c;
		} else {
			*flag = true;
			*dst = v;
		}
	}
out:
	return res;
}

static sp_result
parse_alt(sp_rule *r, alt *a, sp_slice s)
{
	sp_result res = SP_OK;
	bool had_asg = false;

	a->raw = s;
	for (;;) {
		s = trim(s);
		if (s.len == 0 || s.p[0] != '(')
			break;
		size_t close = match_paren(s);
		if (close == s.len) {
			res = perr(r, s.p, "unbalanced '('");
			goto out;
		}
		sp_slice body = sp_slice_mk(s.p + 1, close - 1);
		sp_slice after = trim(sp_slice_mk(s.p + close + 1, s.len - close - 1));
		if (after.len == 0 || (after.p[0] != '?' && after.p[0] != '!')) {
			res = perr(r, s.p + close, "')' must be followed by '?' (condition) "
			    "or '!' (assignments)");
			goto out;
		}
		if (after.p[0] == '?') {
			if (a->has_cond || had_asg) {
				res = perr(r, s.p, "a condition must come first and only once");
				goto out;
			}
			a->has_cond = true;
			a->cond_raw = trim(body);
			TRY(parse_condition(r, a, body));
		} else {
			if (had_asg) {
				res = perr(r, s.p, "only one assignment group per alternative");
				goto out;
			}
			had_asg = true;
			TRY(parse_assignments(r, a, body));
		}
		s = sp_slice_mk(after.p + 1, after.len - 1);
	}
	if (s.len && s.p[0] == '[') {
		size_t i = 1;
		bool q = false;
		while (i < s.len && (q || s.p[i] != ']')) {
			if (s.p[i] == '"')
				q = !q;
			i++;
		}
		if (i == s.len) {
			res = perr(r, s.p, "unterminated '[' options");
			goto out;
		}
		TRY(parse_options(r, a, sp_slice_mk(s.p + 1, i - 1)));
		s = trim(sp_slice_mk(s.p + i + 1, s.len - i - 1));
	}
	if (s.len) {
		for (size_t i = 0; i < s.len; i++) {
			if (is_ws(s.p[i]) || s.p[i] == '"') {
				res = perr(r, s.p + i, "unexpected text after the URL");
				goto out;
			}
		}
		a->has_url = true;
		a->url = s;
	}
out:
	return res;
}

sp_result
sp_rule_parse(sp_slice text, sp_rule **out)
{
	sp_result res = SP_OK;
	sp_rule *r = NULL;
	bool q = false;
	size_t i, start;

	*out = NULL;
	ENSURE(text.len <= SP_RULE_MAX, SP_E_LIMIT, "profile rule longer than %d bytes",
	    SP_RULE_MAX);
	for (i = 0; i < text.len; i++) {
		unsigned char c = (unsigned char)text.p[i];
		ENSURE(!((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f),
		    SP_E_PARSE, "profile rule: control byte 0x%02x at offset %zu", c, i);
	}
	TRY_ALLOC(r, calloc(1, sizeof(*r)));
	TRY_ALLOC(r->text, malloc(text.len + 1));
	if (text.len)
		memcpy(r->text, text.p, text.len);
	r->text[text.len] = '\0';
	r->len = text.len;
	/* '#' outside quotes comments out the rest. */
	for (i = 0; i < r->len; i++) {
		if (r->text[i] == '"')
			q = !q;
		else if (r->text[i] == '#' && !q)
			break;
	}
	size_t end = i;
	if (trim(sp_slice_mk(r->text, end)).len == 0)
		goto done;
	q = false;
	for (i = start = 0; i <= end; i++) {
		if (i < end && r->text[i] == '"')
			q = !q;
		if (i < end && (q || r->text[i] != '|'))
			continue;
		ENSURE(!q, SP_E_PARSE, "profile rule: unterminated quoted string");
		sp_slice s = trim(sp_slice_mk(r->text + start, i - start));
		if (s.len == 0) {
			res = perr(r, r->text + start, "empty alternative");
			goto out;
		}
		ENSURE(r->n < SP_RULE_ALTS_MAX, SP_E_LIMIT,
		    "profile rule: more than %d alternatives", SP_RULE_ALTS_MAX);
		TRY(parse_alt(r, &r->a[r->n], s));
		r->n++;
		start = i + 1;
	}
	for (i = 0; i + 1 < r->n; i++) {
		if (!r->a[i].has_cond) {
			res = perr(r, r->a[i].raw.p, "every alternative but the last "
			    "needs a ( condition )?");
			goto out;
		}
	}
done:
	*out = r;
	r = NULL;
out:
	sp_rule_free(r);
	return res;
}

void
sp_rule_free(sp_rule *r)
{
	if (r == NULL)
		return;
	OPENSSL_cleanse(r->text, r->len);
	free(r->text);
	free(r);
}

size_t
sp_rule_count(const sp_rule *r)
{
	return r ? r->n : 0;
}

/* ---- selection ---- */

static void
choice_bufs_init(sp_rule_choice *c)
{
	sp_buf_init(&c->url, SP_MACRO_OUT_MAX);
	sp_buf_init(&c->key, SP_MACRO_OUT_MAX);
	sp_buf_init(&c->uid, SP_MACRO_OUT_MAX);
	sp_buf_init(&c->pwd, SP_MACRO_OUT_MAX);
	sp_buf_init(&c->trace, SP_RULE_TRACE_MAX);
	for (size_t i = 0; i < SP_RULE_ASSIGNS_MAX; i++)
		sp_buf_init(&c->assign[i].value, SP_MACRO_OUT_MAX);
}

void
sp_rule_choice_init(sp_rule_choice *c)
{
	memset(c, 0, sizeof(*c));
	c->alt = -1;
	choice_bufs_init(c);
}

void
sp_rule_choice_free(sp_rule_choice *c)
{
	sp_buf_free(&c->url);
	sp_buf_free_secret(&c->key);
	sp_buf_free(&c->uid);
	sp_buf_free_secret(&c->pwd);
	sp_buf_free(&c->trace);
	for (size_t i = 0; i < SP_RULE_ASSIGNS_MAX; i++)
		sp_buf_free(&c->assign[i].value);
	sp_rule_choice_init(c);
}

/* Optional '-' then digits; the digits without leading zeros. */
static bool
as_int(sp_slice s, bool *neg, sp_slice *digits)
{
	size_t i = 0;

	*neg = false;
	if (s.len && s.p[0] == '-') {
		*neg = true;
		i = 1;
	}
	if (i == s.len)
		return false;
	for (size_t j = i; j < s.len; j++)
		if (s.p[j] < '0' || s.p[j] > '9')
			return false;
	while (i + 1 < s.len && s.p[i] == '0')
		i++;
	*digits = sp_slice_mk(s.p + i, s.len - i);
	if (digits->len == 1 && digits->p[0] == '0')
		*neg = false;  /* -0 == 0 */
	return true;
}

typedef enum { CMP_STRING, CMP_INT, CMP_VERSION } cmp_kind;
static const char *const kind_names[] = { "string", "integer", "version" };

static int
compare_values(sp_slice a, bool aq, sp_slice b, bool bq, cmp_kind *kind)
{
	bool na, nb;
	sp_slice da, db;

	*kind = CMP_STRING;
	if (aq || bq)
		return sp_bytes_cmp(a, b);
	if (as_int(a, &na, &da) && as_int(b, &nb, &db)) {
		*kind = CMP_INT;
		if (na != nb)
			return na ? -1 : 1;
		int c = sp_digits_cmp(da, db);
		return na ? -c : c;
	}
	if (sp_version_ok(a) && sp_version_ok(b)) {
		*kind = CMP_VERSION;
		return sp_version_cmp(a, b);
	}
	return sp_bytes_cmp(a, b);
}

static bool
op_holds(cmp_op op, int c)
{
	switch (op) {
	case OP_EQ: return c == 0;
	case OP_NE: return c != 0;
	case OP_LT: return c < 0;
	case OP_LE: return c <= 0;
	case OP_GT: return c > 0;
	default: return c >= 0;
	}
}

/* Trace lines are best effort: a full trace is cut, never an error. */
static void
trace_put(sp_rule_choice *c, const char *p, size_t n)
{
	if (c->trace.len + n > c->trace.max)
		return;
	if (sp_failed(sp_buf_append(&c->trace, p, n)))
		sp_error_clear();
}

static void
trace_str(sp_rule_choice *c, const char *s)
{
	trace_put(c, s, strlen(s));
}

static sp_result
eval_condition(const alt *a, size_t idx, const sp_macros *m, sp_rule_choice *c,
    bool *holds)
{
	sp_result res = SP_OK;
	sp_buf ea, eb;
	char line[64];

	sp_buf_init(&ea, SP_MACRO_OUT_MAX);
	sp_buf_init(&eb, SP_MACRO_OUT_MAX);
	*holds = true;
	for (size_t i = 0; i < a->n_cmp && *holds; i++) {
		const compare *k = &a->cmp[i];
		cmp_kind kind;
		sp_buf_reset(&ea);
		sp_buf_reset(&eb);
		TRY(sp_macro_expand(k->a, m, 0, &ea));
		TRY(sp_macro_expand(k->b, m, 0, &eb));
		int r = compare_values(sp_slice_mk(ea.p, ea.len), k->aq,
		    sp_slice_mk(eb.p, eb.len), k->bq, &kind);
		*holds = op_holds(k->op, r);
		snprintf(line, sizeof(line), "alternative %zu: \"", idx + 1);
		trace_str(c, line);
		trace_put(c, sp_buf_cstr(&ea), ea.len);
		snprintf(line, sizeof(line), "\" %s \"", op_names[k->op]);
		trace_str(c, line);
		trace_put(c, sp_buf_cstr(&eb), eb.len);
		snprintf(line, sizeof(line), "\" (%s): %s\n", kind_names[kind],
		    *holds ? "true" : "false");
		trace_str(c, line);
	}
out:
	sp_buf_free(&ea);
	sp_buf_free(&eb);
	return res;
}

bool
sp_rule_alt_has_cond(const sp_rule *r, int n)
{
	return n >= 0 && (size_t)n < r->n && r->a[n].has_cond;
}

sp_result
sp_rule_alt_holds(const sp_rule *r, int n, const sp_macros *m, bool *holds)
{
	sp_result res = SP_OK;
	sp_rule_choice scratch;

	sp_rule_choice_init(&scratch);
	*holds = true;
	ENSURE(n >= 0 && (size_t)n < r->n, SP_E_INTERNAL,
	    "profile rule: no alternative %d", n + 1);
	if (r->a[n].has_cond)
		TRY(eval_condition(&r->a[n], (size_t)n, m, &scratch, holds));
out:
	sp_rule_choice_free(&scratch);
	return res;
}

sp_result
sp_macros_set_url(sp_macros *m, const sp_url *u)
{
	sp_result res = SP_OK;
	char port[8];

	snprintf(port, sizeof(port), "%u", (unsigned)u->port);
	TRY(sp_macros_set(m, SP_M_SCHEME, sp_slice_of(sp_scheme_name(u->scheme))));
	TRY(sp_macros_set(m, SP_M_SERV, sp_slice_of(u->host)));
	TRY(sp_macros_set(m, SP_M_PORT, sp_slice_of(port)));
	TRY(sp_macros_set(m, SP_M_PATH, sp_slice_of(u->path)));
out:
	return res;
}

sp_result
sp_rule_select(const sp_rule *r, sp_macros *m, sp_rule_choice *out)
{
	sp_result res = SP_OK;
	const alt *a = NULL;

	sp_rule_choice_free(out);
	for (size_t i = 0; i < r->n; i++) {
		bool holds = true;
		out->n_tried = i + 1;
		if (r->a[i].has_cond)
			TRY(eval_condition(&r->a[i], i, m, out, &holds));
		else {
			char line[48];
			snprintf(line, sizeof(line), "alternative %zu: no condition\n", i + 1);
			trace_str(out, line);
		}
		if (holds) {
			out->alt = (int)i;
			a = &r->a[i];
			break;
		}
	}
	if (a == NULL)
		goto out;
	for (size_t i = 0; i < a->n_asg; i++) {
		sp_rule_assign *as = &out->assign[i];
		const assign *g = &a->asg[i];
		as->target = g->target;
		if (g->target >= 0)
			snprintf(as->name, sizeof(as->name), "GPP_%s",
			    sp_macro_name((sp_macro_id)g->target));
		else
			snprintf(as->name, sizeof(as->name), "%.*s", (int)g->name.len, g->name.p);
		TRY(sp_macro_expand(g->value, m, 0, &as->value));
		out->n_assign = i + 1;
		/* Sequential: later assignments and the URL see this value. */
		if (g->target >= 0)
			TRY(sp_macros_set(m, (sp_macro_id)g->target,
			    sp_slice_mk(as->value.p, as->value.len)));
	}
	if (a->has_key) {
		out->has_key = true;
		TRY(sp_macro_expand(a->key, m, SP_MACRO_SECRET, &out->key));
	}
	if (a->has_uid) {
		out->has_uid = true;
		TRY(sp_macro_expand(a->uid, m, 0, &out->uid));
	}
	if (a->has_pwd) {
		out->has_pwd = true;
		TRY(sp_macro_expand(a->pwd, m, 0, &out->pwd));
	}
	out->post = a->post;
	out->alias = a->alias;
	if (a->has_url) {
		out->has_url = true;
		TRY(sp_macro_expand(a->url, m, 0, &out->url));
		TRY(sp_url_parse(sp_slice_mk(sp_buf_cstr(&out->url), out->url.len), &out->target));
		TRY(sp_macros_set_url(m, &out->target));
	}
out:
	return res;
}

sp_result
sp_rule_describe(const sp_rule *r, const sp_rule_choice *c, const sp_macros *m,
    sp_buf *out)
{
	sp_result res = SP_OK;
	sp_buf key;
	const alt *a;

	sp_buf_init(&key, SP_MACRO_OUT_MAX);
	TRY(sp_buf_printf(out, "alternatives: %zu\n", r->n));
	if (c->trace.len)
		TRY(sp_buf_append(out, c->trace.p, c->trace.len));
	if (c->alt < 0 || (size_t)c->alt >= r->n) {
		TRY(sp_buf_append_str(out, "chosen: none (no condition holds): nothing to fetch\n"));
		goto out;
	}
	a = &r->a[c->alt];
	TRY(sp_buf_printf(out, "chosen: alternative %d\n", c->alt + 1));
	for (size_t i = 0; i < c->n_assign; i++) {
		const sp_rule_assign *as = &c->assign[i];
		if (as->target >= 0 && sp_macro_is_secret((sp_macro_id)as->target))
			TRY(sp_buf_printf(out, "assign: %s = (hidden)\n", as->name));
		else
			TRY(sp_buf_printf(out, "assign: %s = \"%.*s\"\n", as->name,
			    (int)as->value.len, sp_buf_cstr(&as->value)));
	}
	if (a->has_key) {
		/* Expanded without SP_MACRO_SECRET: $SA..$SD stay as written. */
		TRY(sp_macro_expand(a->key, m, 0, &key));
		TRY(sp_buf_printf(out, "option: --key %.*s\n", (int)key.len, sp_buf_cstr(&key)));
	}
	if (c->post)
		TRY(sp_buf_printf(out, "option: --post %c\n", c->post));
	if (c->alias)
		TRY(sp_buf_printf(out, "option: --alias %c\n", c->alias));
	if (c->has_uid)
		TRY(sp_buf_printf(out, "option: --uid %.*s\n", (int)c->uid.len,
		    sp_buf_cstr(&c->uid)));
	if (c->has_pwd)
		TRY(sp_buf_append_str(out, "option: --pwd (hidden)\n"));
	if (!c->has_url) {
		TRY(sp_buf_append_str(out, "url: none\n"));
		goto out;
	}
	TRY(sp_buf_printf(out, "url: %.*s\nscheme: %s\nhost: %s\nport: %u%s\npath: %s\n",
	    (int)c->url.len, sp_buf_cstr(&c->url), sp_scheme_name(c->target.scheme),
	    c->target.host, (unsigned)c->target.port,
	    c->target.port_explicit ? "" : " (default)", c->target.path));
out:
	sp_buf_free(&key);
	return res;
}
