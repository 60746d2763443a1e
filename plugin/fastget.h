/*
 * fastget.h - gets without a server round trip (docs/protocol.md, "Gets
 * without a round trip"): on a same-host connection that mapped the
 * server's shared index, a get is a lookup there, one copy out of the
 * pool and a check that the slot did not move during the copy. Anything
 * else (a miss, a busy slot, a failed check, a staged device buffer)
 * stays for the LOOKUP path, which is authoritative.
 */
#ifndef KVP_FASTGET_H
#define KVP_FASTGET_H

#include <stdint.h>

#include "engine.h"
#include "xfer.h"

/* Serves what it can of jobs[idx[0..cnt)] (all for server sv, which the
 * caller holds); the rest are moved to the front of idx, in order, and
 * their count returned. Off with local_fastget=0. */
uint32_t fastget_try(struct kvp_engine *e, struct eng_server *sv,
                     struct get_job *jobs, uint32_t *idx, uint32_t cnt);

#endif /* KVP_FASTGET_H */
