/* http_mhd.c — libmicrohttpd, loaded with dlopen the first time an
 * endpoint starts.  A program profiled without the endpoint never loads
 * it (libprofcore.so has no NEEDED entry for it: the suite http-endpoint
 * checks with readelf), so it gains no dependency and no thread.  Only the
 * header is used at build time, for the types and constants.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "http_mhd.h"
#include "internal.h"

prt_mhd_api prt_mhd;

static pthread_mutex_t prt_mhd_mu = PTHREAD_MUTEX_INITIALIZER;
static void *prt_mhd_handle;

/* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define PRT_MHD_RESOLVE(field, name)                                                               \
    do {                                                                                           \
        *(void **)(&api.field) = dlsym(h, name);                                                   \
        if (api.field == NULL) missing = name;                                                     \
    } while (0)

int prt_mhd_load(char *err, size_t errlen) {
    pthread_mutex_lock(&prt_mhd_mu);
    if (prt_mhd_handle != NULL) {
        pthread_mutex_unlock(&prt_mhd_mu);
        return PCP_OK;
    }
    /* RTLD_LOCAL: its symbols are ours only, never the program's. */
    void *h = dlopen(PRT_MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        prt_set_error(err, errlen, "profcore: the pprof endpoint needs %s (Debian: libmicrohttpd12): %s",
                      PRT_MHD_SONAME, dlerror());
        pthread_mutex_unlock(&prt_mhd_mu);
        return PCP_E_SYSTEM;
    }
    prt_mhd_api api;
    const char *missing = NULL;
    PRT_MHD_RESOLVE(start_daemon, "MHD_start_daemon");
    PRT_MHD_RESOLVE(stop_daemon, "MHD_stop_daemon");
    PRT_MHD_RESOLVE(lookup_connection_value, "MHD_lookup_connection_value");
    PRT_MHD_RESOLVE(get_connection_info, "MHD_get_connection_info");
    PRT_MHD_RESOLVE(create_response_from_buffer, "MHD_create_response_from_buffer");
    PRT_MHD_RESOLVE(add_response_header, "MHD_add_response_header");
    PRT_MHD_RESOLVE(queue_response, "MHD_queue_response");
    PRT_MHD_RESOLVE(destroy_response, "MHD_destroy_response");
    if (missing != NULL) {
        prt_set_error(err, errlen, "profcore: %s has no %s (too old?)", PRT_MHD_SONAME, missing);
        dlclose(h);
        pthread_mutex_unlock(&prt_mhd_mu);
        return PCP_E_SYSTEM;
    }
    prt_mhd = api;
    prt_mhd_handle = h; /* never closed: its threads may be the last to leave its code */
    pthread_mutex_unlock(&prt_mhd_mu);
    return PCP_OK;
}
