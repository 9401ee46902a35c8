/*
 * The operator console (docs/CONSOLE.md): the JSON API and the embedded
 * dashboard on the admin listener of `sprov serve`.  The server includes
 * no console header: cmd_serve.c registers the console as the serving
 * process' extension (server.h sp_serve_ext), whose init hooks the admin
 * listener (sp_serve_admin_route).  The console reaches the server only
 * through server.h's sp_serve_* calls (server/ext.c), never its internals.
 *
 * Requests run on the main thread (the admin listener's); each one that
 * needs the store blocks that thread for its queries, on the console's own
 * store handle, opened on first use.
 */
#ifndef SPROV_CONSOLE_CONSOLE_H
#define SPROV_CONSOLE_CONSOLE_H

#include "server/server.h"

/* The extension to hand to sp_serve_set_ext. */
void sp_console_ext(sp_serve_ext *out);

#endif
