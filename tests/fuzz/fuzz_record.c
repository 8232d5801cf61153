/*
 * fuzz_record.c - libFuzzer target: what a hostile publisher can put in a
 * ring, read back by the real reader. A channel (4 KiB ring, drop policy)
 * lives in heap memory, so that AddressSanitizer catches a read past a
 * segment; each input is a script of publisher steps, honest (log_claim()
 * + ext_write() + log_commit(), or log_abort()) and not (raw bytes poked
 * into the ring or the data header, the tail pair set), after which a
 * reader walks the ring from the oldest record with log_read(),
 * log_verify() and log_skip(), and decodes every record's header fields
 * with shmq_msg_fields(), shmq_msg_header() and shmq_msg_header_find(),
 * and the expiry check every subscriber makes (expiry_skip()).
 *
 * Input: a start byte (where the reader begins: oldest, 0, tail minus a
 * ring), then steps [op u8][args]:
 *   0 publish  [len u8][fields u8][key_len u8][nheaders u8] payload from input
 *   1 poke     [off u16][n u8] n bytes into the ring at off
 *   2 tail     [pos u64][bytes u64] into the data header's tail pair
 *   3 header   [off u16][n u8] n bytes into the data header (below its name)
 *   4 abort    a claim of [len u8] given up
 * Once a step wrote the data header (2, 3), honest publisher steps are
 * skipped: this target is the reader's. (log_claim() refuses a tail off
 * the record grid, corpus/fuzz_record/regress-claim-misaligned-tail, but
 * the writer's checks of a hostile header are not this target's subject.)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "expiry.h"
#include "ext.h"
#include "fuzz_input.h"
#include "log.h"
#include "shmq.h"

#define KEY 0x0123456789abcdefull
#define MAX_STEPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct chan {
	struct log_geometry g;
	uint8_t *data;
	uint8_t *ctl;
	uint8_t *wake;
	struct log_view v;
	struct log_peers peers;
	struct log_pub pub;
};

static int chan_make(struct chan *c)
{
	struct log_segs segs;

	memset(c, 0, sizeof(*c));
	if (log_geometry_make(4096, 256, SHMQ_POLICY_DROP, SHMQ_PUBLISHERS_MANY, 0, &c->g))
		return -1;
	/* sizes are multiples of 64 (aligned_alloc() wants whole alignments) */
	c->data = aligned_alloc(64, c->g.data_bytes);
	c->ctl = aligned_alloc(64, c->g.ctl_bytes);
	c->wake = aligned_alloc(64, WAKE_SEG_BYTES);
	if (!c->data || !c->ctl || !c->wake)
		return -1;
	memset(c->data, 0, c->g.data_bytes);
	memset(c->ctl, 0, c->g.ctl_bytes);
	memset(c->wake, 0, WAKE_SEG_BYTES);
	if (log_format(c->data, c->ctl, &c->g, "fuzz", 1, 0, KEY))
		return -1;
	segs = (struct log_segs){c->data,	 c->g.data_bytes, c->ctl,
				 c->g.ctl_bytes, c->wake,	  WAKE_SEG_BYTES};
	if (log_attach(&c->v, &segs, NULL))
		return -1;
	log_pub_init(&c->v, &c->pub, 0, NULL, &c->peers, false);
	return 0;
}

static void chan_free(struct chan *c)
{
	free(c->data);
	free(c->ctl);
	free(c->wake);
}

/* Header fields of one message, their bytes from the input. */
static int fields_make(struct in *in, struct ext_in *e, struct ext_kv *kv)
{
	uint32_t fields = (uint32_t)take(in, 1);
	uint32_t key_len = (uint32_t)take(in, 1) + 1;
	uint32_t nh = (uint32_t)take(in, 1) % 4 + 1;
	const char *text = in->n ? (const char *)in->p : "x";
	uint32_t avail = in->n ? (uint32_t)(in->n < 255 ? in->n : 255) : 1;

	memset(e, 0, sizeof(*e));
	e->present = fields;
	e->msg_id = 7;
	e->corr_id = 8;
	e->deliver_at_ns = 9;
	e->expiry_ns = 10;
	e->key = text;
	e->key_len = key_len < avail ? key_len : avail;
	e->reply_to = "reply";
	e->reply_to_len = 5;
	e->content_type = text;
	e->content_type_len = avail;
	for (uint32_t i = 0; i < nh; i++)
		kv[i] = (struct ext_kv){"a", 1, text, avail > i ? avail - i : 0};
	e->headers = kv;
	e->nheaders = nh;
	return 0;
}

static void step_publish(struct chan *c, struct in *in)
{
	uint32_t len = (uint32_t)take(in, 1), ext = 0;
	struct ext_kv kv[4];
	struct ext_in e;
	struct log_claim cl;

	fields_make(in, &e, kv);
	if (e.present && ext_size(&e, &ext))
		return;
	if (log_claim(&c->v, &c->pub, len, ext, &cl))
		return;
	if (ext)
		ext_write(log_payload(&c->v, cl.at.bytes, 0), &e, ext);
	for (uint32_t i = 0; i < len; i++)
		log_payload(&c->v, cl.at.bytes, ext)[i] = in->n ? in->p[i % in->n] : (uint8_t)i;
	log_commit(&c->v, &c->pub, &cl, len, ext, 1);
}

static void step_poke(uint8_t *base, uint64_t span, struct in *in)
{
	uint64_t off = take(in, 2) % span;
	uint32_t n = (uint32_t)take(in, 1) % 33;

	for (uint32_t i = 0; i < n && in->n; i++)
		base[(off + i) % span] = (uint8_t)take(in, 1);
}

static void step_abort(struct chan *c, struct in *in)
{
	struct log_claim cl;

	if (!log_claim(&c->v, &c->pub, (uint32_t)take(in, 1), 0, &cl))
		log_abort(&c->v, &c->pub, &cl);
}

static void run_steps(struct chan *c, struct in *in)
{
	struct data_hdr *d = (struct data_hdr *)c->data;
	bool hostile = false; /* the data header was written by a stranger */

	for (unsigned s = 0; s < MAX_STEPS && in->n; s++) {
		switch (take(in, 1) % 5) {
		case 0:
			if (!hostile)
				step_publish(c, in);
			break;
		case 1:
			step_poke(c->v.ring, c->v.ring_bytes, in);
			break;
		case 2:
			atomic_store(&d->tail_pos, take(in, 8));
			atomic_store(&d->tail_bytes, take(in, 8));
			hostile = true;
			break;
		case 3: /* the tail words and the chunk index: what publishers write */
			step_poke(c->data + 128, offsetof(struct data_hdr, name) - 128, in);
			hostile = true;
			break;
		default:
			if (!hostile)
				step_abort(c, in);
		}
	}
}

/* Everything a subscriber does with a record: its bytes and its header fields. */
static unsigned consume(const struct log_rec *rec)
{
	struct shmq_msg m = {
	    .data = rec->data, .len = rec->len, .ext = rec->ext, .ext_bytes = rec->ext_bytes};
	struct shmq_msg_fields mf;
	struct shmq_header h;
	unsigned sum = 0;

	for (uint32_t i = 0; i < rec->len; i++)
		sum += rec->data[i];
	if (shmq_msg_fields(&m, &mf))
		return sum;
	for (uint32_t i = 0; i < mf.key_len; i++)
		sum += ((const uint8_t *)mf.key)[i];
	for (uint32_t i = 0; i < mf.nheaders + 1; i++)
		if (!shmq_msg_header(&m, i, &h))
			sum += h.name_len + h.value_len +
			       (h.value_len ? ((const uint8_t *)h.value)[0] : 0u);
	shmq_msg_header_find(&m, "a", &h);
	return sum;
}

static void read_all(struct chan *c, unsigned start)
{
	struct log_cursor cur, next;
	struct log_rec rec;
	struct expiry x = {0};
	volatile unsigned sink = 0;

	if (start % 3 == 0)
		log_oldest(&c->v, &cur);
	else if (start % 3 == 1)
		cur = (struct log_cursor){0, 0};
	else
		log_tail_cursor(&c->v, &cur);
	for (unsigned i = 0; i < 2 * c->v.ring_bytes / REC_ALIGN; i++) {
		int r = log_read(&c->v, &cur, &rec);

		if (r == 1) {
			sink += consume(&rec) + expiry_skip(&x, &c->v, &rec, 0);
			if (!log_verify(&c->v, &rec))
				sink++;
			log_advance(&cur, &rec);
		} else if (r == -SHMQ_ECORRUPT && log_skip(&c->v, &cur, &next) == 0) {
			cur = next;
		} else {
			break;
		}
	}
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	struct chan c;
	unsigned start = (unsigned)take(&in, 1);

	if (chan_make(&c))
		abort();
	run_steps(&c, &in);
	read_all(&c, start);
	log_recheck(&c.v, c.g.data_bytes, c.g.ctl_bytes);
	chan_free(&c);
	return 0;
}
