/*
 * name.h - channel names: dot-separated tokens of [A-Za-z0-9_-], 1 to
 * SHMQ_NAME_MAX bytes, no empty token ("orders.eu.created"). Pure functions.
 */
#ifndef SHM_NAME_H
#define SHM_NAME_H

#include <stddef.h>

/* Longest name plus its NUL (SHMQ_NAME_MAX + 1 in shmq.h). */
#define NAME_BYTES 201

/* 0 if name is valid, else -SHMQ_ENAME. name may be NULL (invalid). */
int name_check(const char *name);

/* Copy a NUL-terminated string from a fixed array that a peer filled;
 * -SHMQ_ENAME if it is not terminated within len or invalid. */
int name_from_wire(const char *wire, size_t len, char *out, size_t out_len);

#endif
