/*
 * --inspect: read each file as the bytes a client sent, feed them to the
 * record layer as they are read (as the proxy does after each read()), stop
 * at the first verdict, then parse. Reads at most HELLO_RAW_MAX(cap) bytes:
 * that always suffices for a verdict, and whatever follows is not the
 * reader's business.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "inspect.h"
#include "tls_hello.h"

/* Read path into buf (cap bytes) until the reader has a verdict, EOF or
 * the buffer is full. Returns bytes read, or -1 with errno set. */
static ssize_t inspect_read(const char *path, uint8_t *buf, size_t cap, struct hello_rd *rd)
{
	FILE *fp;
	size_t len = 0, n;
	int saved;

	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	while (len < cap) {
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
		if (hello_rd_feed(rd, buf, len) != HELLO_NEED_MORE)
			break;
		if (n == 0) {
			if (ferror(fp)) {
				saved = errno ? errno : EIO;
				fclose(fp);
				errno = saved;
				return -1;
			}
			break;
		}
	}
	fclose(fp);
	return (ssize_t)len;
}

/* One protocol name, bytes that could break the line or the list escaped. */
static void inspect_put_name(FILE *out, const uint8_t *name, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (name[i] < 0x21 || name[i] > 0x7e || name[i] == ',' || name[i] == '\\')
			fprintf(out, "\\x%02x", name[i]);
		else
			fputc(name[i], out);
	}
}

static void inspect_put(FILE *out, const char *path, enum hello_verdict v,
    const struct hello_info *h)
{
	const uint8_t *name;
	size_t pos = 0, len;
	int n = 0;

	fprintf(out, "%s\t%s\t", path, hello_verdict_name(v));
	if (v == HELLO_FOUND)
		fwrite(h->sni, 1, h->sni_len, out);	/* printable ASCII, checked */
	else
		fputc('-', out);
	fputc('\t', out);
	if (v == HELLO_FOUND || v == HELLO_NO_SNI) {
		while (hello_alpn_next(h, &pos, &name, &len)) {
			if (n++ > 0)
				fputc(',', out);
			inspect_put_name(out, name, len);
		}
	}
	if (n == 0)
		fputc('-', out);
	fputc('\n', out);
}

int inspect_main(int nfiles, char **files, size_t max_hello, FILE *out, FILE *err)
{
	struct hello_rd rd;
	struct hello_info h;
	enum hello_verdict v;
	uint8_t *buf = NULL, *scratch = NULL;
	size_t cap;
	ssize_t len;
	int i, rc = 0;

	if (max_hello == 0)
		max_hello = HELLO_MAX_DEFAULT;
	cap = HELLO_RAW_MAX(max_hello);
	if ((buf = malloc(cap)) == NULL || (scratch = malloc(4 + max_hello)) == NULL) {
		fprintf(err, "halfpipe: --inspect: %s\n", strerror(errno));
		rc = 1;
		goto done;
	}
	for (i = 0; i < nfiles; i++) {
		hello_rd_init(&rd, max_hello);
		if ((len = inspect_read(files[i], buf, cap, &rd)) == -1) {
			fprintf(err, "halfpipe: --inspect: %s: %s\n", files[i], strerror(errno));
			rc = 1;
			continue;
		}
		v = hello_rd_parse(&rd, buf, scratch, 4 + max_hello, &h);
		inspect_put(out, files[i], v, &h);
	}
	if (fflush(out) == EOF) {
		fprintf(err, "halfpipe: --inspect: write: %s\n", strerror(errno));
		rc = 1;
	}
done:
	free(buf);
	buf = NULL;
	free(scratch);
	scratch = NULL;
	return rc;
}
