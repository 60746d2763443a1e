/* log.c - formatting and level filtering in front of the host logger. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

const char *kvp_log_level_name(int32_t level)
{
    if (level < KVP_LOG_ERROR || level > KVP_LOG_DEBUG)
        return "?";
    return level_names[level];
}

int32_t kvp_log_level_parse(const char *name)
{
    if (name == NULL)
        return -1;
    for (int32_t i = KVP_LOG_ERROR; i <= KVP_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0)
            return i;
    }
    if (name[0] >= '0' && name[0] <= '3' && name[1] == '\0')
        return name[0] - '0';
    if (strcmp(name, "warning") == 0)
        return KVP_LOG_WARN;
    return -1;
}

void kvp_log_stderr(void *user, int32_t level, const char *msg)
{
    (void)user;
    /* local time to the millisecond, so lines of several processes can be
     * put side by side */
    struct timespec ts;
    struct tm tm;
    char when[40] = "";
    clock_gettime(CLOCK_REALTIME, &ts);
    if (localtime_r(&ts.tv_sec, &tm) != NULL) {
        size_t n = strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        snprintf(when + n, sizeof(when) - n, ".%03ld",
                 ts.tv_nsec / 1000000L);
    }
    fprintf(stderr, "%s kvplug %s: %s\n", when, kvp_log_level_name(level),
            msg);
}

void kvp_logger_init_stderr(struct kvp_logger *lg, int32_t level)
{
    lg->fn = kvp_log_stderr;
    lg->user = NULL;
    lg->level = level;
}

void kvp_logf(const struct kvp_logger *lg, int32_t level, const char *fmt,
              ...)
{
    int32_t max = lg != NULL ? lg->level : KVP_LOG_WARN;
    if (level > max)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    kvp_log_fn fn = (lg != NULL && lg->fn != NULL) ? lg->fn : kvp_log_stderr;
    fn(lg != NULL ? lg->user : NULL, level, line);
}
