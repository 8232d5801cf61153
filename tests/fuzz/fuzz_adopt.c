/*
 * fuzz_adopt.c - libFuzzer target: keeper records as a restarted daemon
 * adopts them (adopt_all(), daemon/adopt.c, over keeper_recv()). A first
 * registry makes real channels and slots, and keep.c sends their records
 * and segments, as it does to the keeper, into a socket pair the harness
 * reads. The input then decides what a second registry is handed in their
 * place: each genuine record with bytes of its body flipped, with its
 * descriptors as they were, missing, swapped or replaced by a memfd that
 * is not a segment; raw datagrams; bytes poked into the segments' headers;
 * the status of the closing KEEP_END. A dedupe channel's record carries a
 * fourth descriptor, its duplicate table, which the input may drop, swap
 * with the wake segment, replace or scribble on. Everything both
 * registries hold is freed after each input.
 *
 * Input: [setup u8] (bit 0 an event-fd reader, bit 1 a publisher, bit 2 a
 * second channel, bit 3 no-timestamp, bit 4 block, bit 5 a duplicate table
 * of 16 slots; the second channel takes bits 1-6), then steps [op u8]:
 *   0 record   [idx u8][fdsel u8][off u16][n u8] n bytes XORed into its body
 *   1 raw      [len u16] len bytes as one datagram
 *   2 data     [off u16][n u8] n bytes into channel 0's data header
 *   3 control  [off u16][n u8] n bytes into channel 0's control segment
 *   4 end      [status u8]: KEEP_END now, with that status
 *   5 table    [off u16][n u8] n bytes into channel 0's duplicate table
 *              (its header and first slots), if it has one
 */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adopt.h"
#include "fuzz_input.h"
#include "keeper.h"
#include "logmsg.h"
#include "numa_place.h"
#include "proto.h"
#include "registry.h"

#define MAX_KEPT 8
#define MAX_STEPS 32

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static struct registry src, dst;

struct kept {
	struct keep_msg m;
	int fds[KEEP_FDS_MAX];
	unsigned nfds;
};

static struct kept kept[MAX_KEPT];
static unsigned nkept;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_threshold = getenv("FUZZ_VERBOSE") ? LOG_DEBUG : LOG_ERROR + 1;
	signal(SIGPIPE, SIG_IGN);
	config_defaults(&cfg);
	registry_init(&src, &cfg);
	registry_init(&dst, &cfg);
	return 0;
}

/* Channel name with its slots, as a daemon made them; keep.c tells src.kfd. */
static void make_channel(const char *name, unsigned setup)
{
	struct channel_spec spec = {.capacity_bytes = 4096,
				    .max_message_bytes = 64,
				    .policy = setup & 16 ? SHMQ_POLICY_BLOCK : SHMQ_POLICY_DROP,
				    .publishers = SHMQ_PUBLISHERS_MANY,
				    .numa_node = SHMQ_NUMA_NONE,
				    .flags = setup & 8 ? SHMQ_CHAN_NO_TIMESTAMP : 0,
				    .dedupe_slots = setup & 32 ? 16 : 0};
	struct slot_owner who = {.client_id = 1, .pid = (uint32_t)getpid(), .uid = getuid()};
	struct log_cursor cur;
	struct channel *ch;
	uint64_t skip;
	uint32_t idx;

	strcpy(spec.name, name);
	if (numa_spec_resolve(&spec, 0) || registry_create(&src, &spec, getuid(), &ch))
		abort();
	registry_reader_add(ch, &who, SHMQ_START_EARLIEST, 0,
			    setup & 1 ? SHMQ_WAIT_EVENTFD : SHMQ_WAIT_SLEEP, &idx, &cur, &skip);
	if (setup & 2)
		registry_pub_add(ch, &who, &idx);
}

/* What keep.c sent, from the socket: up to MAX_KEPT messages. */
static void collect(int fd)
{
	nkept = 0;
	while (nkept < MAX_KEPT) {
		struct kept *k = &kept[nkept];

		if (keeper_recv(fd, &k->m, k->fds, &k->nfds, MSG_DONTWAIT))
			break;
		nkept++;
	}
}

static void poke(uint8_t *base, uint64_t span, struct in *in)
{
	uint64_t off = take(in, 2) % span;
	uint32_t n = (uint32_t)take(in, 1) % 17;

	for (uint32_t i = 0; i < n && in->n; i++)
		base[(off + i) % span] = (uint8_t)take(in, 1);
}

/* A memfd that is no segment of ours: unsealed, of the size a segment has. */
static int stranger(int like)
{
	struct stat st;
	int fd = memfd_create("stranger", MFD_CLOEXEC);

	if (fd >= 0 && fstat(like, &st) == 0 && ftruncate(fd, st.st_size) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Swap descriptors i and j of fds. */
static void fd_swap(int *fds, unsigned i, unsigned j)
{
	int t = fds[i];

	fds[i] = fds[j];
	fds[j] = t;
}

/*
 * fdsel: 0 as kept, 1 the last one missing (a dedupe channel's table), 2
 * the first two swapped, 3 the first replaced by a stranger, 4 none, 5 the
 * last replaced by a stranger, 6 the last two swapped.
 */
static void send_record(int fd, struct in *in)
{
	struct kept *k = &kept[take(in, 1) % nkept];
	unsigned sel = (unsigned)take(in, 1) % 7, nfds = k->nfds, which = 0;
	uint32_t off = (uint32_t)take(in, 2) % KEEP_BODY_MAX;
	uint32_t n = (uint32_t)take(in, 1) % 33;
	struct keep_msg m = k->m;
	int fds[KEEP_FDS_MAX] = {-1, -1, -1, -1}, extra = -1;

	for (uint32_t i = 0; i < n && in->n; i++)
		m.u.raw[(off + i) % KEEP_BODY_MAX] ^= (uint8_t)take(in, 1);
	memcpy(fds, k->fds, sizeof(int) * nfds);
	if (sel == 1 && nfds)
		nfds--;
	else if (sel == 2 && nfds > 1)
		fd_swap(fds, 0, 1);
	else if (sel == 6 && nfds > 1)
		fd_swap(fds, nfds - 2, nfds - 1);
	else if ((sel == 3 || sel == 5) && nfds) {
		which = sel == 3 ? 0 : nfds - 1;
		extra = fds[which] = stranger(k->fds[which]);
	} else if (sel == 4)
		nfds = 0;
	if ((sel == 3 || sel == 5) && extra < 0)
		nfds = 0; /* no memfd to send */
	keeper_send(fd, m.h.op, m.u.raw, m.h.body_bytes, fds, nfds);
	if (extra >= 0)
		close(extra);
}

static void send_raw(int fd, struct in *in)
{
	size_t len = (size_t)take(in, 2) % (sizeof(struct keep_msg) + 16);

	if (len > in->n)
		len = in->n;
	send(fd, in->p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	in->p += len;
	in->n -= len;
}

static void run_steps(int fd, struct in *in)
{
	struct channel *ch = src.n ? src.ch[0] : NULL;
	struct keep_end end = {KEEP_END_OK, 0};

	for (unsigned s = 0; s < MAX_STEPS && in->n; s++) {
		switch (take(in, 1) % 6) {
		case 0:
			send_record(fd, in);
			break;
		case 1:
			send_raw(fd, in);
			break;
		case 2:
			poke(ch->data, DATA_HDR_BYTES, in);
			break;
		case 3:
			poke(ch->ctl, CTL_SEG_BYTES, in);
			break;
		case 5: /* the header and the first slots of the table */
			if (ch->dd)
				poke(ch->dd, ch->dd_bytes < 4096 ? ch->dd_bytes : 4096, in);
			break;
		default:
			end.status = (uint32_t)take(in, 1) % 4;
			keeper_send(fd, KEEP_END, &end, sizeof(end), NULL, 0);
			return;
		}
	}
	keeper_send(fd, KEEP_END, &end, sizeof(end), NULL, 0);
}

static void drain(int fd)
{
	struct keep_msg m;
	int fds[KEEP_FDS_MAX];
	unsigned nfds;
	int got;

	while ((got = keeper_recv(fd, &m, fds, &nfds, MSG_DONTWAIT)) == 0 || got == -SHMQ_EPROTO)
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	unsigned setup = (unsigned)take(&in, 1);
	int a[2], b[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, b))
		abort();
	src.kfd = a[0];
	make_channel("fuzz.a", setup);
	if (setup & 4)
		make_channel("fuzz.b", setup >> 1);
	collect(a[1]);
	if (!nkept)
		abort(); /* keep.c sent nothing */
	run_steps(b[0], &in);
	dst.kfd = b[1];
	adopt_all(&dst);
	drain(b[0]);
	for (unsigned i = 0; i < nkept; i++)
		for (unsigned j = 0; j < kept[i].nfds; j++)
			close(kept[i].fds[j]);
	registry_fini(&dst);
	src.kfd = -1; /* no keep_drop() for what fini frees */
	registry_fini(&src);
	if (dst.kfd >= 0)
		close(dst.kfd);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	return 0;
}
