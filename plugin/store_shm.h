/*
 * store_shm.h - the client side of the same-host control carrier
 * (docs/protocol.md, "The same-host carrier"): maps the server's segment
 * and moves the store client's frames over its rings. store_client.c uses
 * it as a carrier like TCP and the in-process link; the frames and their
 * checks are the same.
 */
#ifndef KVP_STORE_SHM_H
#define KVP_STORE_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "shidx.h"

struct store_shm;

/* Opens /proc/<pid>/fd/<fd> of the SHM_ATTACH_R reply, maps it and checks
 * it is the segment the server described (size, magic, cookie). -1 with
 * *why (static text) when it is not reachable from here: another host,
 * another user, a pid namespace, /proc not mounted. */
int store_shm_attach(const struct proto_msg *rep, struct store_shm **sh_p,
                     const char **why);
/* The server's shared index, mapped at attach when the server named one
 * and it could be opened and checked; NULL otherwise (gets then take the
 * round trip). Lives as long as sh. */
const struct shidx *store_shm_index(const struct store_shm *sh);
/* Wakes the server if it sleeps on the ring (close the socket first, so
 * it sees why), then unmaps. */
void store_shm_close(struct store_shm *sh);

/* The carrier. tcp_fd is the connection's socket: the server closing it
 * ends a wait (KVP_ERR_DISCONNECTED); timeout_ms bounds each call
 * (KVP_ERR_TIMEOUT). KVP_ERR_TRANSPORT: a broken ring or a malformed
 * reply header (*why says which). */
int32_t store_shm_send(struct store_shm *sh, const uint8_t *frame, size_t len,
                       int tcp_fd, uint32_t timeout_ms);
int32_t store_shm_recv(struct store_shm *sh, int tcp_fd, uint32_t timeout_ms,
                       struct proto_hdr *h, struct proto_buf *body,
                       const char **why);

#endif /* KVP_STORE_SHM_H */
