/*
 * help.c - the shmq command's help: an overview (shmq --help, shmq help)
 * and one text a command (shmq help CMD, shmq CMD --help). docs/CLI.md
 * and man/shmq.1 say the same at length; change them together.
 */
#include <string.h>

#include "cli.h"

static const char overview[] =
    "usage: shmq [--socket PATH] COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Commands (and the other names they answer to):\n"
    "  ls [--json]            list channels (list)\n"
    "  create NAME            create a channel\n"
    "  rm NAME                delete a channel (remove, delete)\n"
    "  info NAME [--json]     show a channel's settings and offsets\n"
    "  repair NAME            cut readers stuck at a bad record forward\n"
    "  pub NAME [MESSAGE...]  publish the arguments, or stdin (publish)\n"
    "  sub NAME               print messages, from the earliest retained one (subscribe)\n"
    "  groups NAME            show the channel's consumer groups\n"
    "  group rm NAME GROUP    delete a consumer group no member is in\n"
    "  request NAME MESSAGE   publish a request and print its reply\n"
    "  reply NAME             answer requests: --echo, or --exec CMD\n"
    "  journal NAME           a durable channel's journal: state, written, durable\n"
    "  journal verify DIR     check a durable channel's files, offline\n"
    "  help [COMMAND]         this text, or one command's\n"
    "\n"
    "Options for every command:\n"
    "  -s, --socket PATH      shmqd's socket (else $SHMQ_SOCKET, else\n"
    "                         $XDG_RUNTIME_DIR/shmq/shmqd.sock, /run/shmq/shmqd.sock for root)\n"
    "  -h, --help             help (shmq CMD --help: that command's)\n"
    "  -V, --version          print the version\n"
    "\n"
    "pub and sub never create a channel unless given --create. Values such as\n"
    "block or Latest may be written in any case; options that choose the same\n"
    "thing (--json and --raw) conflict.\n"
    "Exit status: 0 success, 1 a failed operation (stderr names the SHMQ_E... code),\n"
    "2 a usage error, 3 --timeout ran out. See shmq(1) and docs/CLI.md.\n";

static const char channel_opts[] =
    "Channel settings (create; pub and sub check them against an existing channel\n"
    "and exit 1 naming any that differ, and create with them under --create):\n"
    "  --capacity SIZE        ring bytes, 4K..1T, rounded up to a power of two\n"
    "                         (default 4M); SIZE is N[K|M|G|T][B|iB], binary units\n"
    "  --max-message SIZE     largest payload, 1..16M (default 4K)\n"
    "  --policy block|drop    a full ring makes publishers wait, or overwrites (default drop)\n"
    "  --publishers one|many  one exclusive publisher, or many lock-free (default many)\n"
    "  --numa none|local|N    NUMA node of the ring's memory (default none)\n"
    "  --no-timestamps        messages carry no publish time\n"
    "  --dedupe-slots N       refuse a --msg-id published in the last 2 minutes: a table\n"
    "                         of N slots (a power of two, 16..16M; 32 bytes each)\n"
    "  --durable os|batch|always  shmqd writes the messages to files (it needs a\n"
    "                         data_dir): os never fsyncs, batch every 1 MiB or 1 ms,\n"
    "                         always at once\n";

static const char help_create[] = "usage: shmq create NAME [CHANNEL SETTINGS]\n"
				  "Create channel NAME. Exit 1 with SHMQ_EEXIST if it exists.\n\n";

static const char help_pub[] =
    "usage: shmq pub NAME [OPTIONS] [MESSAGE...]\n"
    "Publish each MESSAGE argument, else each --file, else stdin: one message a\n"
    "line (the newline dropped), or as -0 / --length-prefixed / --json say.\n"
    "  -c, --create           create NAME if missing (with the channel settings)\n"
    "  -0, --null             stdin holds NUL-terminated messages\n"
    "  -L, --length-prefixed  stdin holds frames: 4-byte big-endian length, payload\n"
    "                         (what shmq sub --length-prefixed writes)\n"
    "  -j, --json             stdin holds JSON lines as shmq sub --json writes them,\n"
    "                         each message with its own fields; a bad line stops it\n"
    "                         (exit 1, naming the line); no header options with it\n"
    "  -F, --file PATH        publish the whole file as one message (repeatable)\n"
    "  -n, --count N          publish N messages: arguments and files are repeated\n"
    "                         in turn; stdin stops after N\n"
    "  --rate N               publish N messages a second (N may be a fraction)\n"
    "  -k, --key KEY          the messages' key\n"
    "  -H, --header NAME=VALUE  a user header (repeatable, at most 16)\n"
    "  --msg-id N             message id of the first message; each next one counts up\n"
    "  --corr-id N            correlation id\n"
    "  --content-type TYPE    content type, such as application/json\n"
    "  --reply-to CHANNEL     the channel replies go to\n"
    "  --ttl TIME             each message expires TIME after it is published:\n"
    "                         readers skip it after that (500ms, 1.5s, 2m)\n"
    "  --confirm              durable channels: exit once every message is on disk\n"
    "                         (exit 1 with SHMQ_EIO if the journal failed)\n\n";

static const char help_sub[] =
    "usage: shmq sub NAME|PATTERN [OPTIONS]\n"
    "Print NAME's messages, from the earliest one the ring still holds (the C\n"
    "library's default is the latest). Losses go to stderr. SIGINT and SIGTERM\n"
    "flush what was received and exit 0. A PATTERN ('orders.*.created': * is one\n"
    "token; 'orders.>': > is one or more trailing tokens) reads every matching\n"
    "channel this uid may subscribe to, and those created later.\n"
    "  -c, --create           create NAME if missing (with the channel settings)\n"
    "  -w, --wait-channel     wait for NAME to be created (until --timeout)\n"
    "  --from WHERE           earliest (default), latest, last (the last message),\n"
    "                         -N (the last N messages), or an OFFSET\n"
    "  --last N               start at the last N messages (--from -N)\n"
    "  -n, --count N          exit 0 after N messages\n"
    "  -t, --timeout TIME     exit 3 if still running after TIME: seconds (a fraction\n"
    "                         is fine), or with a unit: 500ms, 1.5s, 2m, 1h\n"
    "  -e, --exit-at-end      exit 0 once no further message is ready\n"
    "  --wait MODE            how to wait for messages: spin-sleep (default), spin,\n"
    "                         sleep or event (an eventfd in poll()); shmq-stat shows it\n"
    "  --group G              take messages as a member of consumer group G (made,\n"
    "                         starting at --from, if missing): each message goes to\n"
    "                         one member of G and is acked once it is written out\n"
    "  --ack MODE             --group: auto (default: ack after the output is\n"
    "                         flushed) or none (acked as taken)\n"
    "Filters (all must hold; what fails is passed over, never printed):\n"
    "  -k, --key KEY          messages whose key is KEY\n"
    "  --key-prefix PREFIX    messages whose key starts with PREFIX\n"
    "  -H, --header NAME=VALUE  messages with that header (repeatable)\n"
    "  --content-type TYPE    messages of that content type\n"
    "  --expired              print messages whose expiry passed too (skipped else)\n"
    "Output (default: each payload on a line; on a terminal control bytes,\n"
    "backslashes and invalid UTF-8 are escaped as \\n \\r \\t \\\\ \\xNN):\n"
    "  -f, --format FMT       %o offset, %t timestamp (ns since 1970, 0: none),\n"
    "                         %T the same as ISO 8601 UTC, %l length, %s payload,\n"
    "                         %k key, %h headers (name=value,...), %m msg id,\n"
    "                         %c corr id, %y content type, %r reply-to, %L lost\n"
    "                         before it, %n its channel, %% a %; escapes\n"
    "                         \\n \\t \\r \\0 \\\\\n"
    "  -j, --json             one JSON object a line (schema shmq-sub, version 2):\n"
    "                         offset, timestamp_ns, time, lost, length, header\n"
    "                         fields, payload and its encoding (utf8 or base64);\n"
    "                         for a PATTERN also channel\n"
    "  -r, --raw              payload bytes only, nothing between messages\n"
    "  -L, --length-prefixed  each message as a 4-byte big-endian length and payload\n"
    "Losses go to stderr as \"shmq: sub NAME: lost N message(s) before offset M\".\n\n";

static const char help_ls[] =
    "usage: shmq ls [PATTERN] [--json]\n"
    "One line a channel (with PATTERN, those it matches, as sub's): name, policy,\n"
    "ring bytes, max_message, readers,\n"
    "publishers, NUMA, timestamps, oldest and tail offsets. Channels this uid\n"
    "may neither publish to nor subscribe to are not shown; stderr counts them.\n"
    "  -j, --json             one JSON object (schema shmq-ls, version 1)\n";
static const char help_rm[] =
    "usage: shmq rm NAME\n"
    "Delete channel NAME; open handles keep their mapping until closed.\n";
static const char help_info[] = "usage: shmq info NAME [--json]\n"
				"NAME's line of shmq ls.\n"
				"  -j, --json             one JSON object (schema shmq-info, "
				"version 1)\n";
static const char help_repair[] =
    "usage: shmq repair NAME\n"
    "Move every reader of NAME that shmqd's watchdog finds stuck at a record it\n"
    "cannot parse (a publisher forged it) to the next record boundary it can\n"
    "trust; block publishers waiting for it go on, and the reader counts the\n"
    "messages passed as lost. For root, shmqd's uid and the channel's owner.\n";
static const char help_groups[] =
    "usage: shmq groups NAME\n"
    "NAME's consumer groups, a line each: live members, the floor (every message\n"
    "below is acked or dead), the dispatch offset, messages pending (dispatched,\n"
    "not yet acked or dead), deliveries, redeliveries, dead and lost messages.\n";
static const char help_group[] =
    "usage: shmq group rm NAME GROUP\n"
    "Delete consumer group GROUP of NAME: its reader slot goes, so it holds block\n"
    "publishers no more. Refused while members are in it (SHMQ_EBUSY). For root,\n"
    "shmqd's uid and the channel's owner.\n";
static const char help_request[] =
    "usage: shmq request NAME MESSAGE [--timeout TIME]\n"
    "Publish MESSAGE to NAME as a request (with an inbox of its own to reply to)\n"
    "and print the first reply. Exit 1 with SHMQ_ENOREADER if nobody reads NAME.\n"
    "  -t, --timeout TIME     exit 3 without a reply after TIME (500ms, 1.5s, 2m)\n";
static const char help_reply[] =
    "usage: shmq reply NAME (--echo | --exec CMD) [--count N]\n"
    "Answer each request published to NAME from now on, into its inbox.\n"
    "  --echo                 reply with the request's payload\n"
    "  --exec CMD             reply with what the shell command CMD prints, given the\n"
    "                         request's payload on its stdin\n"
    "  -n, --count N          exit 0 after N requests\n";
static const char help_journal[] =
    "usage: shmq journal NAME\n"
    "       shmq journal verify DIR\n"
    "NAME: the durable channel's journal as shmqd reports it: durability, state\n"
    "(ok, nospace, failed and why: exit 1), the offsets written and durable, and\n"
    "the segment being written.\n"
    "verify: read a durable channel's segment files (DIR: DATA_DIR/NAME/ID, or a\n"
    "directory above) as shmqd's recovery would, without shmqd: each segment's\n"
    "offsets, messages, losses and end (clean, sealed, a torn tail recovery\n"
    "cuts). Exit 1 if a segment is corrupt below a checkpoint or unreadable.\n";

static const char help_help[] = "usage: shmq help [COMMAND]\n";

/* Other names of the commands: the words people try first. */
static const struct {
	const char *alias;
	const char *cmd;
} aliases[] = {
    {"list", "ls"}, {"subscribe", "sub"}, {"publish", "pub"}, {"remove", "rm"}, {"delete", "rm"}};

const char *help_command_name(const char *cmd)
{
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcmp(cmd, aliases[i].alias))
			return aliases[i].cmd;
	return cmd;
}

void help_overview(FILE *f)
{
	fputs(overview, f);
}

int help_command(FILE *f, const char *cmd)
{
	static const struct {
		const char *cmd;
		const char *text;
		int channel_opts;
	} texts[] = {
	    {"ls", help_ls, 0},		  {"create", help_create, 1}, {"rm", help_rm, 0},
	    {"info", help_info, 0},	  {"repair", help_repair, 0}, {"pub", help_pub, 1},
	    {"sub", help_sub, 1},	  {"groups", help_groups, 0}, {"group", help_group, 0},
	    {"request", help_request, 0}, {"reply", help_reply, 0},   {"help", help_help, 0},
	    {"journal", help_journal, 0}};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (strcmp(cmd, texts[i].cmd))
			continue;
		fputs(texts[i].text, f);
		if (texts[i].channel_opts)
			fputs(channel_opts, f);
		return 0;
	}
	return -1;
}
