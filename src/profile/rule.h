/*
 * Profile rules and macros (Profile_Rule, _B.._D, Report_Rule, Upgrade_Rule,
 * Log_Resync_* templates).  See docs/PROFILE.md for the exact grammar.
 *
 *   rule        := alternative ( '|' alternative )*   ['#' comment]
 *   alternative := [ '(' condition ')?' ] [ '(' assignments ')!' ] [ options ] [ URL ]
 *   condition   := compare ( 'and' compare )*
 *   compare     := operand op operand      op: = == eq != ne < lt <= le > gt >= ge
 *                | sop operand             sop: = == != ! < <= > >=; the left
 *                                          operand is the running version $SWVER
 *                                          ("(<1.0)?", "(! 1.0.2)?": not 1.0.2)
 *   operand     := "quoted string" | bare-word          (macros expanded first)
 *   assignments := assign ( ';' assign )* [';']
 *   assign      := target '=' ( "quoted" | bare-word )
 *   target      := '$'X | '$('X')' | 'GPP_'X | x | NAME   X in A..P, x in a..p
 *                  (GPP_X), NAME any parameter name (User_ID_1_, GPP_SA)
 *   options     := '[' ( --key K | --post x | --alias x | --uid U | --pwd P )* ']'
 *   URL         := [scheme://][server[:port]]/path[?query]   (after expansion; url.h)
 *
 * Every alternative but the last must have a condition.  A comparison is
 * integer when both (expanded, unquoted) operands are integers, version
 * (2.0.3(0412s)) when both are versions, else a byte-wise string compare.
 *
 * Pure code: no I/O, no global state.  Everything is bounded by the
 * SP_RULE_* / SP_MACRO_* limits below; macro expansion is single-pass
 * (expanded values are never re-expanded).
 */
#ifndef SPROV_PROFILE_RULE_H
#define SPROV_PROFILE_RULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/result.h"
#include "profile/param.h"
#include "profile/url.h"

#define SP_RULE_MAX 8192          /* rule text, bytes */
#define SP_RULE_ALTS_MAX 32       /* alternatives per rule */
#define SP_RULE_COMPARES_MAX 16   /* comparisons joined by 'and' */
#define SP_RULE_ASSIGNS_MAX 16    /* assignments per alternative */
#define SP_MACRO_OUT_MAX 8192     /* one expansion's output, bytes */
#define SP_MACRO_VALUE_MAX SP_PARAM_VALUE_MAX /* one macro value */

/* ---- macros ----------------------------------------------------------- */

typedef enum sp_macro_id {
	SP_M_MA, SP_M_MAU, SP_M_MAC, SP_M_PN, SP_M_PSN, SP_M_SN, SP_M_CCERT,
	SP_M_IP, SP_M_EXTIP, SP_M_SWVER, SP_M_HWVER, SP_M_PRVST, SP_M_UPGST,
	SP_M_UPGERR, SP_M_PRVTMR, SP_M_UPGTMR, SP_M_REGTMR1, SP_M_REGTMR2,
	SP_M_SCHEME, SP_M_SERV, SP_M_SERVIP, SP_M_PORT, SP_M_PATH, SP_M_ERR,
	SP_M_UID1, SP_M_UID2,
	SP_M_A, SP_M_B, SP_M_C, SP_M_D, SP_M_E, SP_M_F, SP_M_G, SP_M_H,
	SP_M_I, SP_M_J, SP_M_K, SP_M_L, SP_M_M, SP_M_N, SP_M_O, SP_M_P,
	SP_M_SA, SP_M_SB, SP_M_SC, SP_M_SD,  /* secret: see SP_MACRO_SECRET */
	SP_MACRO_COUNT
} sp_macro_id;

/*
 * The macro context: one value per known macro.  A value that was never set
 * expands to the empty string (the name is known); names that are not in the
 * list above are left in the text as written.  Values are wiped on free.
 * Initialise with sp_macros_init, release with sp_macros_free.
 */
typedef struct sp_macros {
	char *v[SP_MACRO_COUNT];     /* NULL = unset */
	size_t len[SP_MACRO_COUNT];
} sp_macros;

void sp_macros_init(sp_macros *m);
void sp_macros_free(sp_macros *m);
/* Name ("MA", "SA", ...) to id; -1 if not a known macro. */
int sp_macro_lookup(sp_slice name);
const char *sp_macro_name(sp_macro_id id);
bool sp_macro_is_secret(sp_macro_id id);
/* Fails with SP_E_LIMIT past SP_MACRO_VALUE_MAX. */
SP_MUST_CHECK sp_result sp_macros_set(sp_macros *m, sp_macro_id id, sp_slice value);
SP_MUST_CHECK sp_result sp_macros_set_cstr(sp_macros *m, const char *name,
    const char *value); /* SP_E_NOTFOUND for an unknown name */
/* The value ("" when unset). */
sp_slice sp_macros_get(const sp_macros *m, sp_macro_id id);
/*
 * Load A..P from GPP_A..GPP_P and SA..SD from GPP_SA..GPP_SD of a device's
 * parameters (absent parameters leave the macro unchanged).
 */
SP_MUST_CHECK sp_result sp_macros_load_gpp(sp_macros *m, const sp_params *ps);

/* Flags for sp_macro_expand. */
enum {
	/*
	 * The text is a --key argument: the secret macros SA..SD expand.
	 * Without it they are left as written ("$SA"), so they never reach a
	 * URL, a log line or a description.
	 */
	SP_MACRO_SECRET = 1,
};

/*
 * Expand macros in `in`, appending to `out` (whose own ceiling still
 * applies; the expansion alone is capped at SP_MACRO_OUT_MAX, SP_E_LIMIT).
 *   $NAME      NAME = the longest run of [A-Z0-9] after '$'
 *   $(NAME)    explicit delimiting
 *   $(NAME:p)  substring from byte offset p (0-based) to the end
 *   $(NAME:p:q) q bytes from offset p; p and q are clamped to the value
 *   $$         a literal '$'
 * Unknown names and malformed $( ... ) forms are copied unchanged.
 */
SP_MUST_CHECK sp_result sp_macro_expand(sp_slice in, const sp_macros *m, int flags,
    sp_buf *out);

/* ---- rules ------------------------------------------------------------ */

typedef struct sp_rule sp_rule;  /* opaque, immutable after parsing */

/* Parse a rule (SP_E_PARSE with the byte offset on error; SP_E_LIMIT). */
SP_MUST_CHECK sp_result sp_rule_parse(sp_slice text, sp_rule **out);
void sp_rule_free(sp_rule *r);
/* Number of alternatives (0 for an empty or all-comment rule). */
size_t sp_rule_count(const sp_rule *r);

typedef struct sp_rule_assign {
	char name[SP_PARAM_NAME_MAX + 1]; /* the parameter: GPP_A for $A, a, GPP_A */
	int target;          /* the macro it sets too (SP_M_A..SP_M_P, SP_M_SA..SP_M_SD), or -1 */
	sp_buf value;        /* expanded; a secret GPP_SA..SD value is never shown */
} sp_rule_assign;

typedef struct sp_rule_choice {
	int alt;                 /* 0-based chosen alternative; -1: none matched */
	size_t n_tried;          /* alternatives whose condition was evaluated */
	bool has_url;            /* false: the alternative has no URL */
	sp_buf url;              /* expanded URL as written (no defaults added) */
	sp_url target;           /* url, parsed once: what the device fetches */
	bool has_key;
	sp_buf key;              /* expanded with SP_MACRO_SECRET: never log */
	char post;               /* 0 or 'a'..'p' (--post) */
	char alias;              /* 0 or 'a'..'p' (--alias) */
	bool has_uid, has_pwd;
	sp_buf uid;
	sp_buf pwd;              /* never log */
	size_t n_assign;
	sp_rule_assign assign[SP_RULE_ASSIGNS_MAX];
	sp_buf trace;            /* one line per alternative tried (describe) */
} sp_rule_choice;

void sp_rule_choice_init(sp_rule_choice *c);
/* Wipes key and pwd. */
void sp_rule_choice_free(sp_rule_choice *c);

/*
 * Evaluate the conditions left to right and take the first alternative
 * whose condition holds (or that has none).  Its assignments are applied to
 * `m` (when they name a GPP) and listed in out->assign, so the caller can
 * store them in their parameters; then the options and URL are expanded (with the new values) and the
 * URL is parsed into out->target (url.h).  SCHEME, SERV, PORT and PATH in
 * `m` are set from it (sp_macros_set_url).  No alternative matching is not an
 * error: out->alt = -1.  `out` must be initialised; it is reset first.
 * Errors: SP_E_PARSE for a URL that is malformed after expansion (bad
 * scheme, port), SP_E_LIMIT.
 */
SP_MUST_CHECK sp_result sp_rule_select(const sp_rule *r, sp_macros *m,
    sp_rule_choice *out);

/* Whether alternative n (0-based) has a ( condition )?. */
bool sp_rule_alt_has_cond(const sp_rule *r, int n);

/*
 * Evaluate alternative n's condition alone against m (true when it has
 * none).  Upgrades use it for the "no loop" check: the condition that chose
 * an image must no longer hold with $SWVER set to the image's version.
 */
SP_MUST_CHECK sp_result sp_rule_alt_holds(const sp_rule *r, int n, const sp_macros *m,
    bool *holds);

/* Set SCHEME, SERV, PORT and PATH from u (SERVIP is the caller's, after DNS). */
SP_MUST_CHECK sp_result sp_macros_set_url(sp_macros *m, const sp_url *u);

/*
 * Human-readable account of a selection for `sprov device rule`: each
 * alternative tried and its outcome, the chosen one, assignments, options
 * (the key shown expanded without secrets, the password hidden) and the
 * URL with its parts.  Appends lines to out.
 */
SP_MUST_CHECK sp_result sp_rule_describe(const sp_rule *r, const sp_rule_choice *c,
    const sp_macros *m, sp_buf *out);

#endif
