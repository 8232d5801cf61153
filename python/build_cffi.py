"""build_cffi.py - the cffi builder of the shmq package's C module,
shmq._shmq_cffi, in API mode: cffi checks every declaration below
against shmq.h when the module is compiled, and the module calls
libshmq; nothing of the protocol is written again here.

Two ways to build it:
  python3 python/build_cffi.py --emit-c OUT.c
      write the module's C source only; meson compiles and links it
      against the build tree's libshmq (python/shmq/meson.build);
  python3 python/build_cffi.py [--inplace]
      compile it against the installed libshmq (pkg-config shmq) into
      python/shmq/, with cffi's own compiler driver (setuptools).
"""
import os
import subprocess
import sys

import cffi

CDEF = """
#define SHMQ_NAME_MAX ...
#define SHMQ_BATCH_MAX ...
#define SHMQ_MESSAGE_MAX ...
#define SHMQ_CAPACITY_MIN ...
#define SHMQ_MSG_FIELDS ...
#define SHMQ_MSG_BATCH ...
#define SHMQ_F_MSG_ID ...
#define SHMQ_F_CORR_ID ...
#define SHMQ_F_DELIVER_AT ...
#define SHMQ_F_EXPIRY ...
#define SHMQ_F_KEY ...
#define SHMQ_F_REPLY_TO ...
#define SHMQ_F_CONTENT_TYPE ...
#define SHMQ_F_HEADERS ...
#define SHMQ_CHAN_NO_TIMESTAMP ...
#define SHMQ_CHAN_INBOX ...
#define SHMQ_GROUP_CREATE ...
#define SHMQ_GROUP_NOACK ...
#define SHMQ_GROUP_DLQ ...
#define SHMQ_FILTER_ALL ...
#define SHMQ_FILTER_ANY ...
#define SHMQ_FILTER_MAX_TERMS ...
#define SHMQ_VERSION_MAJOR ...
#define SHMQ_VERSION_MINOR ...

enum shmq_err { SHMQ_OK, SHMQ_EINVAL, SHMQ_ENAME, SHMQ_ENOENT, SHMQ_EEXIST, SHMQ_ETOOBIG,
	SHMQ_EFULL, SHMQ_EAGAIN, SHMQ_ETIMEDOUT, SHMQ_ENODAEMON, SHMQ_EVERSION, SHMQ_EPROTO,
	SHMQ_EPERM, SHMQ_ECORRUPT, SHMQ_ENOMEM, SHMQ_ESYS, SHMQ_EABANDONED, SHMQ_EOVERRUN,
	SHMQ_ECLOSED, SHMQ_ELIMIT, SHMQ_EMISMATCH, SHMQ_ESTATE, SHMQ_EBUSY, SHMQ_EDELETED,
	SHMQ_ECHANQUOTA, SHMQ_ECONNQUOTA, SHMQ_EHANDLEQUOTA, SHMQ_ENOTHELD, SHMQ_ENOREADER,
	SHMQ_EDUPLICATE, SHMQ_EPATTERN, SHMQ_EFILTER, SHMQ_EIO, SHMQ_ERR_COUNT, ... };
enum shmq_policy { SHMQ_POLICY_DROP, SHMQ_POLICY_BLOCK, ... };
enum shmq_start { SHMQ_START_LATEST, SHMQ_START_EARLIEST, SHMQ_START_OFFSET, ... };
enum shmq_wait { SHMQ_WAIT_SPIN_SLEEP, SHMQ_WAIT_SPIN, SHMQ_WAIT_SLEEP, SHMQ_WAIT_EVENTFD, ... };
enum shmq_publishers { SHMQ_PUBLISHERS_MANY, SHMQ_PUBLISHERS_ONE, ... };
enum shmq_filter_kind { SHMQ_FILTER_KEY_EQ, SHMQ_FILTER_KEY_PREFIX, SHMQ_FILTER_KEY_HASH,
	SHMQ_FILTER_HEADER_EQ, SHMQ_FILTER_HEADER_HAS, SHMQ_FILTER_CONTENT_TYPE, ... };

struct shmq_client;
struct shmq_pub;
struct shmq_sub;
struct shmq_member;
struct shmq_requester;

struct shmq_channel_opts {
	uint64_t capacity_bytes;
	uint32_t max_message_bytes;
	uint32_t policy;
	uint32_t publishers;
	int32_t numa_node;
	uint32_t flags;
	...;
};
struct shmq_channel_info {
	char name[...];
	uint32_t policy;
	uint64_t capacity_bytes;
	uint32_t max_message_bytes;
	uint32_t readers;
	uint64_t oldest;
	uint64_t tail;
	uint32_t publishers;
	uint32_t publishers_open;
	int32_t numa_node;
	int32_t numa_pages_node;
	uint32_t flags;
	...;
};
struct shmq_pub_opts {
	int create;
	struct shmq_channel_opts channel;
	...;
};
struct shmq_sub_opts {
	uint32_t start;
	uint32_t wait;
	uint64_t offset;
	uint64_t spin_ns;
	int create;
	struct shmq_channel_opts channel;
	...;
};
struct shmq_msg {
	const void *data;
	uint32_t len;
	uint32_t flags;
	uint64_t offset;
	uint64_t timestamp_ns;
	uint64_t lost;
	uint32_t deliveries;
	uint32_t channel;
	...;
};
struct shmq_header {
	const char *name;
	uint32_t name_len;
	const void *value;
	uint32_t value_len;
	...;
};
struct shmq_msg_opts {
	uint32_t fields;
	uint64_t msg_id;
	uint64_t corr_id;
	uint64_t deliver_at_ns;
	uint64_t expiry_ns;
	const void *key;
	uint32_t key_len;
	uint32_t nheaders;
	const char *reply_to;
	const char *content_type;
	const struct shmq_header *headers;
	...;
};
struct shmq_msg_fields {
	uint32_t fields;
	uint32_t key_hash;
	uint64_t msg_id;
	uint64_t corr_id;
	uint64_t deliver_at_ns;
	uint64_t expiry_ns;
	const void *key;
	uint32_t key_len;
	uint32_t reply_to_len;
	const char *reply_to;
	const char *content_type;
	uint32_t content_type_len;
	uint32_t nheaders;
	...;
};
struct shmq_claim {
	void *data;
	uint32_t capacity;
	uint64_t offset;
	...;
};
struct shmq_buf {
	const void *data;
	uint32_t len;
	...;
};
struct shmq_sub_stats {
	uint64_t received;
	uint64_t lost_overrun;
	uint64_t lost_abandoned;
	uint64_t expired;
	...;
};
struct shmq_sub_counts {
	uint64_t received;
	uint64_t lost_overrun;
	uint64_t lost_abandoned;
	uint64_t filtered;
	uint64_t unopened;
	uint64_t expired;
	...;
};
struct shmq_sub_channel {
	const char *name;
	uint32_t ended;
	struct shmq_sub_counts st;
	...;
};
struct shmq_filter_term {
	uint32_t kind;
	uint32_t value_len;
	const void *value;
	const char *name;
	uint32_t buckets;
	uint32_t lo, hi;
	...;
};
struct shmq_filter {
	const struct shmq_filter_term *terms;
	uint32_t nterms;
	uint32_t match;
	...;
};
struct shmq_group_opts {
	uint64_t ack_wait_ns;
	uint64_t offset;
	uint32_t max_deliver;
	uint32_t max_pending;
	uint32_t start;
	uint32_t wait;
	uint32_t flags;
	...;
};
struct shmq_group_info {
	char name[...];
	uint32_t members;
	uint32_t max_pending;
	uint64_t floor;
	uint64_t dispatch;
	uint64_t delivered;
	uint64_t redelivered;
	uint64_t acked;
	uint64_t dead;
	uint64_t lost;
	...;
};

int shmq_connect(const char *socket_path, struct shmq_client **out);
int shmq_connect_timeout(const char *socket_path, int64_t timeout_ns, struct shmq_client **out);
void shmq_disconnect(struct shmq_client *client);
int shmq_client_connected(struct shmq_client *client);
int shmq_socket_path(const char *socket_path, char *buf, size_t len);

int shmq_channel_create(struct shmq_client *client, const char *name,
			const struct shmq_channel_opts *opts);
int shmq_channel_delete(struct shmq_client *client, const char *name);
int shmq_channel_list(struct shmq_client *client, struct shmq_channel_info *out, size_t max);
int shmq_channel_info(struct shmq_client *client, const char *name,
		      struct shmq_channel_info *out);

int shmq_pub_open(struct shmq_client *client, const char *name,
		  const struct shmq_pub_opts *opts, struct shmq_pub **out);
void shmq_pub_close(struct shmq_pub *pub);
uint32_t shmq_pub_max_message(const struct shmq_pub *pub);
int shmq_pub_claim(struct shmq_pub *pub, uint32_t len, struct shmq_claim *claim,
		   int64_t timeout_ns);
int shmq_pub_claim_opts(struct shmq_pub *pub, uint32_t len, const struct shmq_msg_opts *opts,
			struct shmq_claim *claim, int64_t timeout_ns);
int shmq_pub_commit(struct shmq_pub *pub, struct shmq_claim *claim, uint32_t len);
int shmq_pub_abort(struct shmq_pub *pub, struct shmq_claim *claim);
int shmq_publish(struct shmq_pub *pub, const void *data, uint32_t len, int64_t timeout_ns,
		 uint64_t *offset);
int shmq_publish_opts(struct shmq_pub *pub, const void *data, uint32_t len,
		      const struct shmq_msg_opts *opts, int64_t timeout_ns, uint64_t *offset);
int shmq_publishv(struct shmq_pub *pub, const struct shmq_buf *msgs, unsigned n,
		  int64_t timeout_ns, uint64_t *first_offset);

int shmq_sub_open(struct shmq_client *client, const char *name,
		  const struct shmq_sub_opts *opts, struct shmq_sub **out);
void shmq_sub_close(struct shmq_sub *sub);
int shmq_recv(struct shmq_sub *sub, struct shmq_msg *msg, int64_t timeout_ns);
int shmq_msg_verify(const struct shmq_sub *sub, const struct shmq_msg *msg);
int shmq_msg_fields(const struct shmq_msg *msg, struct shmq_msg_fields *out);
int shmq_msg_header(const struct shmq_msg *msg, uint32_t i, struct shmq_header *out);
uint32_t shmq_key_hash(const void *key, uint32_t len);
int shmq_sub_fd(const struct shmq_sub *sub);
void shmq_sub_stats(const struct shmq_sub *sub, struct shmq_sub_stats *out);
uint64_t shmq_sub_position(const struct shmq_sub *sub);
int shmq_sub_skip(struct shmq_sub *sub, uint64_t *lost);
void shmq_sub_counts(const struct shmq_sub *sub, struct shmq_sub_counts *out);
int shmq_sub_deliver_expired(struct shmq_sub *sub, int on);

int shmq_sub_open_pattern(struct shmq_client *client, const char *pattern,
			  const struct shmq_sub_opts *opts, struct shmq_sub **out);
int shmq_sub_channel(const struct shmq_sub *sub, uint32_t index, struct shmq_sub_channel *out);
uint32_t shmq_sub_channels(const struct shmq_sub *sub);
int shmq_channel_match(struct shmq_client *client, const char *pattern,
		       struct shmq_channel_info *out, size_t max);
int shmq_pattern_check(const char *pattern);
int shmq_sub_set_filter(struct shmq_sub *sub, const struct shmq_filter *filter);

int shmq_group_open(struct shmq_client *client, const char *channel, const char *group,
		    const struct shmq_group_opts *opts, struct shmq_member **out);
void shmq_group_close(struct shmq_member *m);
int shmq_group_recv(struct shmq_member *m, struct shmq_msg *msg, int64_t timeout_ns);
int shmq_ack(struct shmq_member *m, uint64_t offset);
int shmq_ackv(struct shmq_member *m, const uint64_t *offsets, unsigned n);
int shmq_nack(struct shmq_member *m, uint64_t offset, int64_t delay_ns);
int shmq_term(struct shmq_member *m, uint64_t offset);
int shmq_touch(struct shmq_member *m, uint64_t offset);
int shmq_group_info(struct shmq_client *client, const char *channel, const char *group,
		    struct shmq_group_info *rows, unsigned max);
int shmq_group_delete(struct shmq_client *client, const char *channel, const char *group);

int shmq_requester_open(struct shmq_client *client, const char *channel,
			const struct shmq_pub_opts *opts, struct shmq_requester **out);
void shmq_requester_close(struct shmq_requester *r);
int shmq_request(struct shmq_requester *r, const void *data, uint32_t len,
		 const struct shmq_msg_opts *opts, void *buf, size_t buf_len, struct shmq_msg *msg,
		 int64_t timeout_ns);
int shmq_request_send(struct shmq_requester *r, const void *data, uint32_t len,
		      const struct shmq_msg_opts *opts, uint64_t *corr_id);
int shmq_reply_recv(struct shmq_requester *r, struct shmq_msg *msg, int64_t timeout_ns);
int shmq_reply_verify(const struct shmq_requester *r, const struct shmq_msg *msg);
uint64_t shmq_requester_dropped(const struct shmq_requester *r);
const char *shmq_requester_inbox(const struct shmq_requester *r);
int shmq_reply(struct shmq_client *client, const struct shmq_msg *request, const void *data,
	       uint32_t len, const struct shmq_msg_opts *opts);

const char *shmq_strerror(int err);
const char *shmq_errname(int err);
int shmq_size_parse(const char *s, uint64_t *out);
"""

MODULE = "shmq._shmq_cffi"
SOURCE = '#include "shmq.h"\n'


def make_builder(**kwargs):
    """A cffi FFI builder for shmq._shmq_cffi; kwargs go to set_source()."""
    ffibuilder = cffi.FFI()
    ffibuilder.cdef(CDEF)
    ffibuilder.set_source(MODULE, SOURCE, **kwargs)
    return ffibuilder


def pkg_config(*args):
    out = subprocess.run(["pkg-config", *args, "shmq"], check=True, capture_output=True, text=True)
    return out.stdout.split()


def build_installed():
    """Compile against the installed libshmq (pkg-config shmq) into python/shmq/."""
    cflags = pkg_config("--cflags-only-I")
    libdirs = [f[2:] for f in pkg_config("--libs-only-L")]
    ffibuilder = make_builder(
        include_dirs=[f[2:] for f in cflags],
        library_dirs=libdirs,
        runtime_library_dirs=libdirs,
        libraries=["shmq"],
    )
    here = os.path.dirname(os.path.abspath(__file__))
    return ffibuilder.compile(tmpdir=here, verbose=True)


def main(argv):
    if len(argv) == 3 and argv[1] == "--emit-c":
        make_builder().emit_c_code(argv[2])
        return 0
    if len(argv) == 1 or argv[1:] == ["--inplace"]:
        print(build_installed())
        return 0
    print("usage: build_cffi.py [--emit-c OUT.c | --inplace]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
