/*
 * fault.h - fault injection into a real shmqd: libshmq_fault.so (fault.c),
 * LD_PRELOADed into shmqd by a test build's test, makes the Nth call of
 * malloc/calloc/realloc, memfd_create or mmap fail (ENOMEM) when the test
 * says so through a struct fault_ctl in a file both map (the path in
 * $SHMQ_FAULT_CTL). Only the daemon acts on it, not its keeper. The test
 * process writes the controls at any time; shmqd reads them on every call.
 */
#ifndef TEST_SYSTEM_FAULT_H
#define TEST_SYSTEM_FAULT_H

#include <stdatomic.h>
#include <stdint.h>

enum fault_kind { FAULT_MALLOC, FAULT_MEMFD, FAULT_MMAP, FAULT_KINDS };

struct fault_ctl {
	/* calls of the kind still let through before failing; -1: none fail */
	_Atomic int64_t after[FAULT_KINDS];
	/* then this many fail in a row (after goes back to -1) */
	_Atomic int64_t times[FAULT_KINDS];
	/* failures injected so far */
	_Atomic uint64_t injected[FAULT_KINDS];
	/* calls seen so far */
	_Atomic uint64_t calls[FAULT_KINDS];
};

#endif
