/*
 * fuzz_config.c - libFuzzer target: shmqd's configuration parser
 * (config_parse(), daemon/config.c) on the whole input as a file's text,
 * and the size syntax (shmq_size_parse(), the library's front of
 * shm/size.c) on each of its lines. A parse that succeeds must give a
 * configuration within the limits config.h states; an error must say
 * something.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "shmq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const struct config *cfg)
{
	if (cfg->nchannels > CONFIG_MAX_CHANNELS || cfg->create.n > CONFIG_MAX_UIDS)
		abort();
	for (uint32_t i = 0; i < cfg->nchannels; i++) {
		const struct channel_spec *s = &cfg->channels[i];

		if (!memchr(s->name, 0, sizeof(s->name)) || s->publish.n > CONFIG_MAX_UIDS ||
		    s->subscribe.n > CONFIG_MAX_UIDS)
			abort();
	}
}

static void sizes(const char *text)
{
	char line[128];

	while (*text) {
		size_t n = strcspn(text, "\n");
		uint64_t v;

		if (n < sizeof(line)) {
			memcpy(line, text, n);
			line[n] = 0;
			shmq_size_parse(line, &v);
		}
		text += n + (text[n] == '\n');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg;
	char err[512];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	config_defaults(&cfg);
	err[0] = 0;
	if (config_parse(&cfg, text, "fuzz.conf", err, sizeof(err)) == 0)
		check_config(&cfg);
	else if (!err[0])
		abort(); /* an error the user is not told */
	sizes(text);
	free(text);
	return 0;
}
