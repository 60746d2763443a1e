/* token.c - the shared-secret file reader (token.h). */
#include "token.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *kvp_token_read(const char *path, const char *what, int *loose_p,
                     char *err, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, cap, "%s: cannot open '%s': %s", what, path,
                 strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (loose_p != NULL)
        *loose_p = fstat(fd, &sb) == 0 && (sb.st_mode & 077) != 0;
    /* One byte more than the limit tells a too-long file apart. */
    char buf[KVP_TOKEN_MAX + 2];
    size_t n = 0;
    int rerr = 0;
    while (n < sizeof(buf) - 1) {
        ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            rerr = errno;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    /* Whatever follows the limit is more token, not trailing space. */
    int more = 0;
    if (n == sizeof(buf) - 1) {
        char c;
        more = read(fd, &c, 1) == 1;
    }
    close(fd);
    if (rerr != 0) {
        snprintf(err, cap, "%s: cannot read '%s': %s", what, path,
                 strerror(rerr));
        memset(buf, 0, sizeof(buf));
        return NULL;
    }
    while (!more && n > 0 && isspace((unsigned char)buf[n - 1]))
        n--;
    buf[n] = '\0';
    char *tok = NULL;
    if (n == 0 || memchr(buf, '\0', n) != NULL)
        snprintf(err, cap,
                 "%s: '%s' is empty or binary (the token must be 1..%d "
                 "bytes of text)",
                 what, path, KVP_TOKEN_MAX);
    else if (more || n > KVP_TOKEN_MAX)
        snprintf(err, cap, "%s: '%s' holds more than %d bytes", what, path,
                 KVP_TOKEN_MAX);
    else if ((tok = strdup(buf)) == NULL)
        snprintf(err, cap, "%s: out of memory", what);
    memset(buf, 0, sizeof(buf));
    return tok;
}
