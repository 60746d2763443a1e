/*
 * lease.h - read leases: while a lease is held, the leased object's memory
 * is not reused. Every lease expires timeout_ns after it was taken, so a
 * crashed client cannot pin memory forever. All leases share one timeout,
 * so creation order is expiry order: a FIFO list gives the oldest in O(1).
 * Not thread-safe; time is passed in (monotonic ns) so tests control it.
 */
#ifndef KVP_SERVER_LEASE_H
#define KVP_SERVER_LEASE_H

#include <stdint.h>

#include "idmap.h"

struct lease;

struct lease_table {
    struct idmap by_id;
    struct lease *oldest, *newest; /* FIFO by creation time */
    uint64_t timeout_ns;
    uint64_t next_id;
};

int lease_init(struct lease_table *lt, uint64_t timeout_ns);
void lease_fini(struct lease_table *lt); /* drops all leases silently */

/* New lease on obj for owner; returns its id (never 0), or 0 on no memory. */
uint64_t lease_add(struct lease_table *lt, void *obj, uint64_t owner,
                   uint64_t now_ns);
/* Removes the lease id if owner holds it; returns its obj, else NULL. */
void *lease_take(struct lease_table *lt, uint64_t id, uint64_t owner);
/* Removes the oldest lease if it expired at now_ns; returns its obj (and
 * *id_p), else NULL. Call until NULL. */
void *lease_expire_one(struct lease_table *lt, uint64_t now_ns, uint64_t *id_p);
/* Removes every lease of owner (its connection closed), calling fn on each
 * lease's obj. Returns how many were removed. */
uint64_t lease_drop_owner(struct lease_table *lt, uint64_t owner,
                          void (*fn)(void *obj, void *arg), void *arg);
uint64_t lease_count(const struct lease_table *lt);

#endif /* KVP_SERVER_LEASE_H */
