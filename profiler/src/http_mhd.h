/* http_mhd.h — the libmicrohttpd functions the endpoint calls, resolved by
 * prt_mhd_load (http_mhd.c) from a dlopen'd library.  The header gives
 * the types; nothing links against the library. */
#ifndef PROFCORE_PROFILER_HTTP_MHD_H
#define PROFCORE_PROFILER_HTTP_MHD_H

#include <stddef.h>
#include <sys/socket.h>
#include <microhttpd.h>

#define PRT_MHD_SONAME "libmicrohttpd.so.12"

typedef struct prt_mhd_api {
    __typeof__(&MHD_start_daemon) start_daemon;
    __typeof__(&MHD_stop_daemon) stop_daemon;
    __typeof__(&MHD_lookup_connection_value) lookup_connection_value;
    __typeof__(&MHD_get_connection_info) get_connection_info;
    __typeof__(&MHD_create_response_from_buffer) create_response_from_buffer;
    __typeof__(&MHD_add_response_header) add_response_header;
    __typeof__(&MHD_queue_response) queue_response;
    __typeof__(&MHD_destroy_response) destroy_response;
} prt_mhd_api;

/* Filled by prt_mhd_load; valid (and never changed) once it returned 0. */
extern prt_mhd_api prt_mhd __attribute__((visibility("hidden")));
/* Loads the library once; PCP_OK, or PCP_E_SYSTEM with a line in err. */
int prt_mhd_load(char *err, size_t errlen) __attribute__((visibility("hidden")));

#endif
