/* labels.c — the label table: label strings by index, the index carried in
 * each sample's tag (PCPROF_TAG_LABEL).  Strings live until exit, so a
 * copy of the pointer array stays valid without the lock. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static pthread_mutex_t prt_label_mu = PTHREAD_MUTEX_INITIALIZER;
static char **prt_labels; /* [0] unused; strings live until exit */
static size_t prt_nlabels = 1, prt_labels_cap;

PCP_EXPORT int pcp_set_label(const char *label) {
    if (label == NULL) {
        prt_tls_label = 0;
        return PCP_OK;
    }
    pthread_mutex_lock(&prt_label_mu);
    size_t i;
    for (i = 1; i < prt_nlabels; i++)
        if (strcmp(prt_labels[i], label) == 0) break;
    int rc = PCP_OK;
    if (i == prt_nlabels) {
        if (prt_nlabels > 0xffff) rc = PCP_E_INVAL;
        if (rc == PCP_OK && prt_nlabels >= prt_labels_cap) {
            size_t nc = prt_labels_cap ? prt_labels_cap * 2 : 16;
            char **nl = realloc(prt_labels, nc * sizeof *nl);
            if (nl == NULL) rc = PCP_E_SYSTEM;
            else {
                prt_labels = nl;
                prt_labels[0] = NULL;
                prt_labels_cap = nc;
            }
        }
        char *copy = rc == PCP_OK ? strdup(label) : NULL;
        if (rc == PCP_OK && copy == NULL) rc = PCP_E_SYSTEM;
        if (rc == PCP_OK) prt_labels[prt_nlabels++] = copy;
    }
    pthread_mutex_unlock(&prt_label_mu);
    if (rc == PCP_OK) prt_tls_label = (uint32_t)i;
    return rc;
}

/* A copy of the label pointer array (the strings are never freed). */
const char **prt_labels_copy(size_t *n) {
    pthread_mutex_lock(&prt_label_mu);
    const char **copy = calloc(prt_nlabels, sizeof *copy);
    size_t count = copy ? prt_nlabels : 0;
    for (size_t i = 1; i < count; i++) copy[i] = prt_labels[i];
    pthread_mutex_unlock(&prt_label_mu);
    *n = count;
    return copy;
}

void prt_labels_lock(void) { pthread_mutex_lock(&prt_label_mu); }
void prt_labels_unlock(void) { pthread_mutex_unlock(&prt_label_mu); }
/* The lock's owner may not exist in the child; the table itself is a
 * consistent copy (prepare held the lock) and stays. */
void prt_labels_fork_child(void) { pthread_mutex_init(&prt_label_mu, NULL); }
