/*
 * registry.c - channel lifecycle in the daemon (see registry.h).
 * Segments are sealed memfds (no name in any namespace): created and sized
 * here, memory allocated up front, then sealed against shrinking and
 * growing, so that no client holding a descriptor can truncate a segment
 * under the others (SIGBUS). Clients receive descriptors over the control
 * socket; pure subscribers a read-only one. Main thread.
 */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "logmsg.h"
#include "map.h"
#include "shmq_types.h"
#include "numa_place.h"
#include "wait.h"

#define SEG_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/* A new calibration from the baseline to now, when a second has passed. */
static bool cal_update(struct tsc_cal *c, bool force)
{
	uint64_t t, n;

	if (!c->usable)
		return false;
	wait_tsc_sample(&t, &n);
	if (!force && n - c->n_base < 1000000000ull)
		return false;
	c->t_base = t;
	c->n_base = n;
	if (t <= c->t0 || n <= c->n0) {
		/* the wall clock stepped back: start the baseline again, and let
		 * publishers read the clock until the next second's estimate */
		c->t0 = t;
		c->n0 = n;
		c->mult = 0;
		return true;
	}
	c->mult = (uint64_t)(((unsigned __int128)(n - c->n0) << 32) / (t - c->t0));
	return true;
}

/* The counter is the kernel's clocksource: invariant, synchronised across CPUs. */
static bool tsc_usable(void)
{
	char cs[32] = "";
	FILE *f;

	if (!wait_tsc())
		return false;
	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "re");
	if (!f)
		return false;
	if (!fgets(cs, sizeof(cs), f))
		cs[0] = 0;
	fclose(f);
	return !strcmp(cs, "tsc\n");
}

/* The first calibration: a 5 ms baseline, refined every second after. */
static void cal_init(struct tsc_cal *c)
{
	struct timespec ts = {0, 5000000};

	*c = (struct tsc_cal){.usable = tsc_usable()};
	if (!c->usable)
		return;
	wait_tsc_sample(&c->t0, &c->n0);
	nanosleep(&ts, NULL);
	cal_update(c, true);
	log_msg(LOG_INFO, "registry", "timestamps from the TSC mult=%llu",
		(unsigned long long)c->mult);
}

static void cal_publish(const struct registry *r, struct channel *ch)
{
	log_cal_store(&ch->v, r->cal.t_base, r->cal.n_base, r->cal.mult);
}

int registry_init(struct registry *r, const struct config *cfg)
{
	memset(r, 0, sizeof(*r));
	r->max_channels = cfg->max_channels;
	r->stuck_ns = cfg->stuck_ms * 1000000ull;
	r->next_id = 1;
	cal_init(&r->cal);
	return 0;
}

static int err_from_errno(int e)
{
	switch (e) {
	case EEXIST:
		return -SHMQ_EEXIST;
	case ENOMEM:
	case ENOSPC:
		return -SHMQ_ENOMEM;
	case EMFILE:
	case ENFILE:
		return -SHMQ_ELIMIT;
	case EACCES:
	case EPERM:
		return -SHMQ_EPERM;
	default:
		return -SHMQ_ESYS;
	}
}

/*
 * Memory a new segment may take now: MemAvailable + SwapFree, else (no
 * /proc) free RAM + free swap. fallocate() of more would not fail: it
 * would allocate until the OOM killer chose someone.
 */
static uint64_t mem_room_bytes(void)
{
	unsigned long long kb, room = 0;
	struct sysinfo si;
	char line[128];
	int found = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1 ||
		    sscanf(line, "SwapFree: %llu kB", &kb) == 1) {
			room += kb << 10;
			found++;
		}
	}
	if (f)
		fclose(f);
	if (found == 2 || sysinfo(&si))
		return room;
	return ((uint64_t)si.freeram + si.freeswap) * si.mem_unit;
}

static struct log_rate nomem_rate;

static int seg_no_memory(const char *name, uint64_t bytes, uint64_t room)
{
	unsigned n;

	if (log_rate_allow(&nomem_rate, &n))
		log_msg(LOG_WARN, "registry",
			"no memory for segment=%s bytes=%llu available=%llu suppressed=%u", name,
			(unsigned long long)bytes, (unsigned long long)room, n);
	return -SHMQ_ENOMEM;
}

/*
 * Create a sealed memfd of bytes, its memory allocated now (a full
 * memory gives -SHMQ_ENOMEM here, not SIGBUS at first touch), and map it.
 * With node >= 0 the memfd is bound to that NUMA node between ftruncate()
 * and fallocate(), through a mapping made for it, so that every page is
 * allocated there; the bind is strict, so a node without room is
 * -SHMQ_ENOMEM, never pages on another node. *fd_out and *base are set
 * as soon as they exist: the caller releases them on error too.
 */
static int seg_create(const char *name, uint64_t bytes, int node, int *fd_out, void **base,
		      uint64_t *mapped)
{
	uint64_t node_room, room = mem_room_bytes();
	int fd, err;

	node_room = node >= 0 ? numa_node_room_bytes(node) : UINT64_MAX;
	if (node_room < room)
		room = node_room;
	if (bytes > room)
		return seg_no_memory(name, bytes, room);
	fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return err_from_errno(errno);
	*fd_out = fd;
	/* 0600: nobody but the daemon's uid may reopen it via /proc */
	if (fchmod(fd, 0600) || ftruncate(fd, (off_t)bytes))
		return err_from_errno(errno);
	/* the policy must be set before fallocate() allocates the pages */
	if (node >= 0) {
		err = numa_bind_fd(fd, bytes, node);
		if (err)
			return err;
	}
	if (fallocate(fd, 0, 0, (off_t)bytes)) {
		if (errno == ENOSPC || errno == ENOMEM)
			return seg_no_memory(name, bytes, room);
		return err_from_errno(errno);
	}
	if (fcntl(fd, F_ADD_SEALS, SEG_SEALS))
		return err_from_errno(errno);
	return map_fd(fd, true, base, mapped);
}

/* A read-only descriptor of the same memfd, for pure subscribers. */
static int seg_open_ro(int fd, int *ro_out)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	*ro_out = open(path, O_RDONLY | O_CLOEXEC);
	return *ro_out < 0 ? err_from_errno(errno) : 0;
}

static void channel_free(struct channel *ch)
{
	for (unsigned i = 0; i < MAX_READERS; i++)
		if (ch->efds[i] >= 0)
			close(ch->efds[i]);
	map_release(ch->data, ch->g.data_bytes);
	map_release(ch->ctl, ch->g.ctl_bytes);
	if (ch->data_fd >= 0)
		close(ch->data_fd);
	if (ch->data_ro_fd >= 0)
		close(ch->data_ro_fd);
	if (ch->ctl_fd >= 0)
		close(ch->ctl_fd);
	free(ch);
}

static int make_efds(struct channel *ch)
{
	for (unsigned i = 0; i < MAX_READERS; i++) {
		ch->efds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (ch->efds[i] < 0)
			return err_from_errno(errno);
	}
	return 0;
}

/* A random commit-word key; the clock if the kernel has no entropy call. */
static uint64_t channel_key(void)
{
	uint64_t k = 0;

	if (getrandom(&k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k))
		k = wait_now_ns() * 0x9e3779b97f4a7c15ull;
	return k;
}

/*
 * Create, map, format and attach both segments. Each resource is stored in
 * ch as soon as it exists; on error nothing is undone here: the caller's
 * channel_free() releases whatever ch holds, once.
 */
static int channel_map(struct channel *ch)
{
	char name[256];
	/* both segments on the resolved node; a channel that asked for none
	 * is never bound, whatever numa_node holds */
	int node = ch->numa_wire == SHMQ_NUMA_NONE ? -1 : ch->numa_node;
	int err;

	snprintf(name, sizeof(name), "shmq.%s.d", ch->name);
	err = seg_create(name, ch->g.data_bytes, node, &ch->data_fd, &ch->data, &ch->g.data_bytes);
	if (err)
		return err;
	snprintf(name, sizeof(name), "shmq.%s.c", ch->name);
	err = seg_create(name, ch->g.ctl_bytes, node, &ch->ctl_fd, &ch->ctl, &ch->g.ctl_bytes);
	if (!err)
		err = seg_open_ro(ch->data_fd, &ch->data_ro_fd);
	if (!err)
		err = log_format(ch->data, ch->ctl, &ch->g, ch->name, ch->id, 0, channel_key());
	if (!err)
		err = log_attach(&ch->v, ch->data, ch->g.data_bytes, ch->ctl, ch->g.ctl_bytes,
				 NULL);
	return err;
}

static int registry_grow(struct registry *r)
{
	struct channel **n;
	uint32_t cap = r->cap ? r->cap * 2 : 16;

	if (r->n < r->cap)
		return 0;
	n = realloc(r->ch, cap * sizeof(*n));
	if (!n)
		return -SHMQ_ENOMEM;
	r->ch = n;
	r->cap = cap;
	return 0;
}

static int channel_new(struct registry *r, const struct channel_spec *spec, uint32_t owner_uid,
		       struct channel **out)
{
	struct channel *ch;
	int err;

	if (registry_find(r, spec->name))
		return -SHMQ_EEXIST;
	/* deleted channels still open hold memory too: they count */
	if (r->n >= r->max_channels)
		return -SHMQ_ELIMIT;
	err = registry_grow(r);
	if (err)
		return err;
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -SHMQ_ENOMEM;
	for (unsigned i = 0; i < MAX_READERS; i++)
		ch->efds[i] = -1;
	ch->data_fd = ch->data_ro_fd = ch->ctl_fd = -1;
	strcpy(ch->name, spec->name);
	ch->owner_uid = owner_uid;
	ch->publish = spec->publish;
	ch->subscribe = spec->subscribe;
	ch->numa_wire = spec->numa_node;
	ch->numa_node = spec->numa_resolved;
	ch->id = r->next_id++ | ((uint64_t)getpid() << 32);
	err = log_geometry_make(spec->capacity_bytes, spec->max_message_bytes, spec->policy,
				spec->publishers,
				spec->flags & SHMQ_CHAN_NO_TIMESTAMP ? DATA_F_NO_TIMESTAMP : 0, &ch->g);
	if (!err)
		err = channel_map(ch);
	if (!err)
		err = make_efds(ch);
	if (err) {
		channel_free(ch);
		return err;
	}
	cal_publish(r, ch);
	r->ch[r->n++] = ch;
	*out = ch;
	return 0;
}

int registry_create(struct registry *r, const struct channel_spec *spec, uint32_t owner_uid,
		    struct channel **out)
{
	int err = channel_new(r, spec, owner_uid, out);

	if (!err)
		log_msg(LOG_INFO, "registry",
			"created channel=%s ring_bytes=%llu max_message=%u policy=%s publishers=%s",
			spec->name, (unsigned long long)(*out)->v.ring_bytes,
			(*out)->v.max_message_bytes, (*out)->v.policy ? "block" : "drop",
			(*out)->v.pub_mode ? "one" : "many");
	return err;
}

struct channel *registry_find(struct registry *r, const char *name)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (!r->ch[i]->deleted && !strcmp(r->ch[i]->name, name))
			return r->ch[i];
	return NULL;
}

struct channel *registry_by_id(struct registry *r, uint64_t id)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->ch[i]->id == id)
			return r->ch[i];
	return NULL;
}

static void registry_drop(struct registry *r, struct channel *ch)
{
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->ch[i] == ch) {
			r->ch[i] = r->ch[--r->n];
			break;
		}
	}
	channel_free(ch);
}

void registry_delete(struct registry *r, struct channel *ch)
{
	ch->deleted = true;
	log_msg(LOG_INFO, "registry", "deleted channel=%s handles=%u", ch->name, ch->handles);
	if (!ch->handles)
		registry_drop(r, ch);
}

void registry_handle_put(struct registry *r, struct channel *ch)
{
	if (ch->handles)
		ch->handles--;
	if (ch->deleted && !ch->handles)
		registry_drop(r, ch);
}

/*
 * Where a reader asked to start: a record boundary and, for an offset past
 * it, the first offset to deliver (the reader skips up to it).
 */
static int start_cursor(const struct channel *ch, uint32_t start, uint64_t offset,
			struct log_cursor *cur, uint64_t *skip_below)
{
	struct log_cursor tail;

	*skip_below = 0;
	log_tail_cursor(&ch->v, &tail);
	switch (start) {
	case SHMQ_START_LATEST:
		*cur = tail;
		return 0;
	case SHMQ_START_EARLIEST:
		log_oldest(&ch->v, cur);
		return 0;
	case SHMQ_START_OFFSET:
		if (offset > tail.pos)
			return -SHMQ_EINVAL;
		log_oldest(&ch->v, cur);
		if (offset > cur->pos)
			*skip_below = offset;
		return 0;
	default:
		return -SHMQ_EINVAL;
	}
}

/* Keep ctl->readers_hi at 1 + the highest assigned entry: log_wake() scans no further. */
static void set_readers_hi(struct channel *ch)
{
	uint32_t hi = MAX_READERS;

	while (hi > 0 && !ch->reader_client[hi - 1])
		hi--;
	/* release; pairs with the acquire in log_wake(). */
	atomic_store_explicit(&ch->v.ctl->readers_hi, hi, memory_order_release);
}

/*
 * The cursor of the slowest active reader, each read once from shared
 * memory and kept only if it lies between the oldest record and the tail;
 * false if there is no such reader.
 */
static bool slowest_reader(const struct channel *ch, struct log_cursor *low)
{
	struct log_cursor tail, oldest, c;
	bool any = false;

	log_tail_cursor(&ch->v, &tail);
	log_oldest(&ch->v, &oldest);
	*low = tail;
	for (unsigned i = 0; i < MAX_READERS; i++) {
		if (!ch->reader_client[i] || !log_cursor_load(&ch->v.readers[i], &c))
			continue;
		if (c.bytes < oldest.bytes || c.bytes > tail.bytes || c.pos > tail.pos ||
		    c.bytes % REC_ALIGN)
			continue; /* not a cursor an honest reader holds */
		if (c.bytes < low->bytes)
			*low = c;
		any = true;
	}
	return any;
}

/*
 * Where a new reader starts. On a block channel publishers cache a limit
 * from the slowest reader (its bytes + ring): a new reader below it would
 * be overwritten, so it starts no lower than the slowest active reader.
 */
static int reader_start(const struct channel *ch, uint32_t start, uint64_t offset,
			struct log_cursor *cur, uint64_t *skip_below)
{
	struct log_cursor low;
	int err = start_cursor(ch, start, offset, cur, skip_below);

	if (!err && ch->v.policy == SHMQ_POLICY_BLOCK && slowest_reader(ch, &low) &&
	    cur->bytes < low.bytes)
		*cur = low;
	if (*skip_below <= cur->pos)
		*skip_below = 0;
	return err;
}

int registry_reader_add(struct channel *ch, uint64_t client_id, uint32_t pid, uint32_t start,
			uint64_t offset, uint32_t wait_mode, uint32_t *idx, struct log_cursor *cur,
			uint64_t *skip_below)
{
	struct reader_entry *e;
	unsigned i;
	int err = reader_start(ch, start, offset, cur, skip_below);

	if (err)
		return err;
	for (i = 0; i < MAX_READERS && ch->reader_client[i]; i++)
		;
	if (i == MAX_READERS)
		return -SHMQ_ELIMIT;
	e = &ch->v.readers[i];
	/* the entry is free: the release store of state below publishes all
	 * of it (pairs with log_reader_limit()'s loads) */
	log_cursor_store(e, cur, false);
	atomic_store_explicit(&e->received, 0, memory_order_relaxed);
	atomic_store_explicit(&e->lost, 0, memory_order_relaxed);
	atomic_store_explicit(&e->armed, MARK_NONE, memory_order_relaxed);
	atomic_store_explicit(&e->owner_pid, pid, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->gen, 1, memory_order_relaxed);
	e->wait_mode = wait_mode;
	/* release: the fields above are visible to whoever sees ACTIVE. */
	atomic_store_explicit(&e->state, READER_ACTIVE, memory_order_release);
	/* release, after ACTIVE: a publisher that sees the new generation
	 * (acquire) and rescans sees this entry active with its cursor. */
	atomic_fetch_add_explicit(&ch->v.ctl->readers_gen, 1, memory_order_release);
	ch->reader_client[i] = client_id;
	set_readers_hi(ch);
	wait_efd_drain(ch->efds[i]);
	*idx = i;
	return 0;
}

static void wake_publishers(struct channel *ch)
{
	/* release: publish the new sequence before the wake (pairs with
	 * wait_space() in libclient/pub.c). */
	atomic_fetch_add_explicit(&ch->v.ctl->space_seq, 1, memory_order_release);
	wait_wake(&ch->v.ctl->space_seq, INT32_MAX);
}

void registry_reader_remove(struct channel *ch, uint32_t idx)
{
	struct reader_entry *e;

	if (idx >= MAX_READERS || !ch->reader_client[idx])
		return;
	e = &ch->v.readers[idx];
	ch->reader_client[idx] = 0;
	set_readers_hi(ch);
	/* release: a publisher that no longer sees the reader may overwrite
	 * what it was reading; it closed or died, so nobody reads it now. */
	atomic_store_explicit(&e->state, READER_FREE, memory_order_release);
	log_reader_unmark(&ch->v, e, MARK_EFD);
	log_reader_unmark(&ch->v, e, MARK_FUTEX);
	/* release, after FREE; pairs with the publishers' acquire, as above. */
	atomic_fetch_add_explicit(&ch->v.ctl->readers_gen, 1, memory_order_release);
	wake_publishers(ch);
}

uint32_t channel_readers(const struct channel *ch)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < MAX_READERS; i++)
		n += ch->reader_client[i] != 0;
	return n;
}

uint32_t channel_publishers(const struct channel *ch)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < MAX_PUBS; i++)
		n += ch->pub_client[i] != 0;
	return n;
}

int registry_pub_add(struct channel *ch, uint64_t client_id, uint32_t pid, uint32_t *idx)
{
	struct pub_entry *e;
	unsigned i;

	if (ch->v.pub_mode == SHMQ_PUBLISHERS_ONE && channel_publishers(ch))
		return -SHMQ_EBUSY;
	for (i = 0; i < MAX_PUBS && ch->pub_client[i]; i++)
		;
	if (i == MAX_PUBS)
		return -SHMQ_ELIMIT;
	e = &ch->v.pubs[i];
	/* relaxed: the release store of state below publishes the entry. */
	atomic_store_explicit(&e->claim_state, PUB_IDLE, memory_order_relaxed);
	atomic_store_explicit(&e->published, 0, memory_order_relaxed);
	atomic_store_explicit(&e->published_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&e->cut_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&e->owner_pid, pid, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->gen, 1, memory_order_relaxed);
	/* release; pairs with the acquire in log_claims_limit(). */
	atomic_store_explicit(&e->state, 1, memory_order_release);
	ch->pub_client[i] = client_id;
	ch->pub_pid[i] = pid;
	ch->stall_killed[i] = 0;
	log_repair_forget(&ch->rep, i);
	*idx = i;
	return 0;
}

static bool pid_alive(uint32_t pid, void *arg)
{
	(void)arg;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static void wake_all(struct channel *ch)
{
	log_wake(&ch->v, ch->efds, &ch->have_efds, NULL, NULL);
	wake_publishers(ch);
}

void registry_pub_remove(struct channel *ch, uint32_t idx)
{
	struct pub_entry *e;
	uint32_t pid;
	bool gave_up;

	if (idx >= MAX_PUBS || !ch->pub_client[idx])
		return;
	/* a claim it left open is given up now, as if it had died: the
	 * library never closes with one, so only a dead or rogue one does */
	pid = ch->pub_pid[idx];
	gave_up = log_repair_gone(&ch->v, &ch->rep, ch->pub_pid, idx);
	e = &ch->v.pubs[idx];
	/* relaxed + release below: publishers that see the entry free
	 * (acquire) no longer wait for its claim. */
	atomic_store_explicit(&e->claim_state, PUB_IDLE, memory_order_relaxed);
	atomic_store_explicit(&e->state, 0, memory_order_release);
	ch->pub_client[idx] = 0;
	ch->pub_pid[idx] = 0;
	log_repair_forget(&ch->rep, idx);
	if (gave_up)
		log_msg(LOG_WARN, "registry", "gave up the claim of a closed publisher channel=%s pid=%u",
			ch->name, pid);
	wake_all(ch);
}

/* A live publisher whose abandoned claim will soon hold the others back:
 * stop it, the only way to keep it from writing into space reused later. */
static void stall_stop(struct channel *ch, uint32_t pid)
{
	for (unsigned i = 0; i < MAX_PUBS; i++) {
		if (ch->pub_pid[i] != pid || ch->stall_killed[i] == pid)
			continue;
		ch->stall_killed[i] = pid;
		log_msg(LOG_WARN, "registry",
			"stopping stalled publisher channel=%s pid=%u (SIGKILL): its claim blocks the ring",
			ch->name, pid);
		kill((pid_t)pid, SIGKILL);
	}
}

void registry_tick(struct registry *r, uint64_t now_ns)
{
	struct log_repair_out out;
	bool cal = cal_update(&r->cal, false);

	for (uint32_t i = 0; i < r->n; i++) {
		struct channel *ch = r->ch[i];

		if (cal)
			cal_publish(r, ch);

		log_repair_step(&ch->v, &ch->rep, ch->pub_pid, now_ns, r->stuck_ns, pid_alive,
				NULL, &out);
		for (unsigned k = 0; k < out.nstall; k++)
			stall_stop(ch, out.stall_pid[k]);
		if (!out.abandoned)
			continue;
		log_msg(LOG_WARN, "registry", "abandoned stuck claims channel=%s count=%u",
			ch->name, out.abandoned);
		wake_all(ch);
	}
}

void registry_fini(struct registry *r)
{
	for (uint32_t i = 0; i < r->n; i++)
		channel_free(r->ch[i]);
	free(r->ch);
	r->ch = NULL;
	r->n = r->cap = 0;
}
