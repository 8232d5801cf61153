/*
 * adopt.h - after a restart, take back every channel and open handle the
 * keeper kept from an earlier daemon, let their clients resume their
 * slots, and free the slots whose process died before it resumed. Main
 * thread only.
 */
#ifndef DAEMON_ADOPT_H
#define DAEMON_ADOPT_H

#include <stdbool.h>
#include <stdint.h>

#include "registry.h"

/*
 * Take every channel the keeper at r->kfd kept from an earlier daemon,
 * checking each descriptor (owner, mode, seals, size) and header; slots
 * that were open wait for their client as long as its process lives.
 * Logs what it refuses. Returns the number adopted.
 */
unsigned adopt_all(struct registry *r);

/*
 * A client resumes slot idx of role (enum proto_role: pub or sub) with
 * generation gen after a restart: 0 if the slot waits for exactly that
 * generation and who's process (pid, uid and, when the record has it,
 * start mark), -SHMQ_ESTATE if not.
 */
int adopt_resume(struct channel *ch, uint32_t role, uint32_t idx, uint32_t gen,
		 const struct slot_owner *who);

/*
 * Adopted slots of ch whose process is gone before it resumed them: freed
 * as if their client had died. True if the channel went with them (the
 * table r->ch changed).
 */
bool adopt_expire(struct registry *r, struct channel *ch);

#endif
