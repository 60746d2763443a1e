/*
 * shm_chan.h - the server side of the same-host control carrier
 * (docs/protocol.md, "The same-host carrier"): per connection, a sealed
 * memfd segment with the request/reply rings of proto/shm_ring.h, handed
 * to an authenticated client on this host, and the loop that serves the
 * connection's frames from it.
 */
#ifndef KVP_SERVER_SHM_CHAN_H
#define KVP_SERVER_SHM_CHAN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "proto.h"
#include "shidx.h"

struct shm_chan;

/* 1 when the TCP peer of fd is on this host (its address is the one the
 * connection arrived on): only then is the carrier offered. */
int shm_chan_offerable(int fd);

/* A fresh segment: memfd, sized, sealed against shrink/grow, mapped, its
 * header written with a random cookie. Fills the SHM_ATTACH_R fields of r
 * (pid, fd, pipe capacity, cookie). KVP_OK or a kvplug status. */
/* idx (may be NULL): the shared index, named in the segment's header at
 * SHIDX_DESC_OFF (proto/shidx.h) for the client to map, with a reader
 * word of its own that shm_chan_destroy gives back. */
struct shm_index;
int32_t shm_chan_create(struct shm_chan **ch_p, struct proto_msg *r,
                        struct shm_index *idx);
/* The client has its own mapping now: the server's fd can go. */
void shm_chan_attached(struct shm_chan *ch);
void shm_chan_destroy(struct shm_chan *ch);

/* One whole frame in (header + body), its encoded reply out (len 0: no
 * reply). A non-OK return ends the connection once the reply is sent. */
typedef int32_t (*shm_chan_call_fn)(void *conn, const uint8_t *frame,
                                    size_t len, struct proto_buf *reply);

/* Serves frames from the rings until the client closes its TCP socket
 * (or sends anything on it), *stopping becomes non-zero, the peer breaks
 * the ring, or call fails. Logs why it ended (conn_id names it). */
void shm_chan_serve(struct shm_chan *ch, int tcp_fd, atomic_int *stopping,
                    shm_chan_call_fn call, void *conn, uint64_t conn_id,
                    const struct kvp_logger *log);

#endif /* KVP_SERVER_SHM_CHAN_H */
