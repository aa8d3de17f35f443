/* daemon/log.c - see log.h. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static bool use_syslog;
static int journal = -1; /* unknown yet */

/* systemd sets JOURNAL_STREAM=DEV:INODE when stderr is the journal. */
static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(2, &st))
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void uz_log_to_syslog(void)
{
	openlog("uzramd", LOG_PID, LOG_DAEMON);
	use_syslog = true;
}

void uz_log(int prio, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (use_syslog) {
		syslog(prio, "%s", msg);
		return;
	}
	if (journal < 0)
		journal = stderr_is_journal();
	if (journal)
		fprintf(stderr, "<%d>%s\n", prio, msg);
	else
		fprintf(stderr, "uzramd: %s\n", msg);
}
