/*
 * numa_place.c - NUMA placement of channel segments (see numa_place.h).
 * A segment is a memfd, so its pages belong to a shmem object, and mbind()
 * on a MAP_SHARED mapping of it sets the object's shared policy rather
 * than the mapping's: every later allocation (fallocate(), or a fault in
 * any process) follows it, and it outlives the mapping that set it. The
 * registry therefore binds a segment after ftruncate() and before
 * fallocate(). MPOL_BIND is strict: a node without room fails the
 * allocation (-SHMQ_ENOMEM) instead of spilling to another node.
 * Without libnuma (HAVE_LIBNUMA unset) only SHMQ_NUMA_NONE is accepted.
 * Main thread only (numa_usable() caches its answer unlocked).
 */
#include "numa_place.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef HAVE_LIBNUMA
#include <numa.h>
#include <numaif.h>
#endif

#include "shmq_err.h"

#define NUMA_SAMPLES 64u     /* pages numa_pages_node() asks about */
#define NUMA_MASK_BITS 1024u /* nodes a bind mask can name */

int numa_spec_resolve(struct channel_spec *spec, uint32_t creator_pid)
{
	int node, err = numa_resolve(spec->numa_node, creator_pid, &node);

	if (err)
		return err;
	spec->numa_resolved = node;
	return 0;
}

int numa_bind_fd(int fd, uint64_t len, int node)
{
	void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED, fd, 0);
	int err;

	if (p == MAP_FAILED)
		return errno == ENOMEM ? -SHMQ_ENOMEM : -SHMQ_ESYS;
	err = numa_bind_range(p, len, node);
	munmap(p, (size_t)len);
	return err;
}

/* The /sys/.../nodeN/meminfo lines numa_node_room_bytes() adds up. */
static const char *const room_keys[] = {"MemFree", "FilePages", "Shmem", "KReclaimable"};

uint64_t numa_node_room_bytes(int node)
{
	unsigned long long kb, v[4] = {0};
	char path[64], line[128], key[32];
	unsigned found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", node);
	f = fopen(path, "re");
	if (!f)
		return UINT64_MAX;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Node %*d %31[^:]: %llu kB", key, &kb) != 2)
			continue;
		for (unsigned i = 0; i < 4; i++)
			if (!strcmp(key, room_keys[i]))
				v[i] = kb, found |= 1u << i;
	}
	fclose(f);
	if (!(found & 1))
		return UINT64_MAX;
	/* shmem pages count as file pages but cannot be dropped */
	if (v[2] > v[1])
		v[2] = v[1];
	return (uint64_t)(v[0] + (v[1] - v[2]) / 2 + v[3] / 2) << 10;
}

#ifdef HAVE_LIBNUMA

/* numa_available() once: < 0 on a kernel without NUMA (or with it forbidden). */
static bool numa_usable(void)
{
	static int avail = -2;

	if (avail == -2)
		avail = numa_available();
	return avail >= 0;
}

static bool node_has_memory(int node)
{
	return node >= 0 && node <= numa_max_node() && node < (int)NUMA_MASK_BITS &&
	       numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)node);
}

/*
 * The CPU pid last ran on: field 39 ("processor") of /proc/PID/stat,
 * counted from the last ')' since field 2, the command, may hold spaces
 * and parentheses. pid 0 is the caller itself.
 */
static int cpu_of_pid(uint32_t pid, int *cpu)
{
	char path[64], buf[2048], *p;
	size_t n;
	FILE *f;

	if (!pid) {
		*cpu = sched_getcpu();
		return *cpu < 0 ? -SHMQ_ESYS : 0;
	}
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -SHMQ_ESYS;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	/* p ends field 2; each step moves to the space before the next field */
	for (int field = 2; p && field < 39; field++)
		p = strchr(p + 1, ' ');
	if (!p || sscanf(p, " %d", cpu) != 1 || *cpu < 0)
		return -SHMQ_ESYS;
	return 0;
}

int numa_resolve(int32_t wire_node, uint32_t pid, int *node_out)
{
	int cpu, node, err;

	*node_out = -1;
	if (wire_node == SHMQ_NUMA_NONE)
		return 0;
	if (wire_node < SHMQ_NUMA_LOCAL || !numa_usable())
		return -SHMQ_EINVAL;
	if (wire_node == SHMQ_NUMA_LOCAL) {
		err = cpu_of_pid(pid, &cpu);
		if (err)
			return err;
		node = numa_node_of_cpu(cpu);
	} else {
		node = wire_node - 1;
	}
	/* a CPU-only node (no memory of its own) cannot hold a segment either */
	if (!node_has_memory(node))
		return -SHMQ_EINVAL;
	*node_out = node;
	return 0;
}

int numa_bind_range(void *addr, uint64_t len, int node)
{
	unsigned long mask[NUMA_MASK_BITS / (8 * sizeof(unsigned long))] = {0};
	const unsigned bits = 8 * sizeof(unsigned long);

	if (!numa_usable() || !node_has_memory(node))
		return -SHMQ_EINVAL;
	mask[(unsigned)node / bits] = 1ul << ((unsigned)node % bits);
	/* maxnode is one more than the mask's bits: the kernel drops the last */
	if (!mbind(addr, len, MPOL_BIND, mask, NUMA_MASK_BITS + 1, MPOL_MF_STRICT))
		return 0;
	switch (errno) {
	case EINVAL:
		return -SHMQ_EINVAL;
	case ENOMEM:
		return -SHMQ_ENOMEM;
	default:
		return -SHMQ_ESYS;
	}
}

int numa_pages_node(const void *addr, uint64_t len)
{
	void *pages[NUMA_SAMPLES];
	int status[NUMA_SAMPLES];
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), npages = (len + page - 1) / page;
	unsigned n = npages < NUMA_SAMPLES ? (unsigned)npages : NUMA_SAMPLES;

	if (!addr || !n || !numa_usable())
		return -1;
	for (unsigned i = 0; i < n; i++) {
		pages[i] = (char *)addr + (npages * i / n) * page;
		/* a mapping not pre-faulted has no page table entry to ask about:
		 * a read maps the (already allocated) page without moving it */
		(void)*(volatile const char *)pages[i];
	}
	if (move_pages(0, n, pages, NULL, status, 0))
		return -1;
	for (unsigned i = 0; i < n; i++)
		if (status[i] < 0 || status[i] != status[0])
			return -1;
	return status[0];
}

#else /* no libnuma: no binding, and nothing known about placement */

int numa_resolve(int32_t wire_node, uint32_t pid, int *node_out)
{
	(void)pid;
	*node_out = -1;
	return wire_node == SHMQ_NUMA_NONE ? 0 : -SHMQ_EINVAL;
}

int numa_bind_range(void *addr, uint64_t len, int node)
{
	(void)addr, (void)len, (void)node;
	return -SHMQ_EINVAL;
}

int numa_pages_node(const void *addr, uint64_t len)
{
	(void)addr, (void)len;
	return -1;
}

#endif
