/* daemon/log.h - one line per event: to stderr (with syslog-style
 * priority prefixes when stderr is the journal), or to syslog once the
 * daemon has detached from its terminal. */
#ifndef UZ_DAEMON_LOG_H
#define UZ_DAEMON_LOG_H

#include <syslog.h>

/* Sends later messages to syslog instead of stderr. */
void uz_log_to_syslog(void);

void uz_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
