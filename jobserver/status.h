/* status.h: `dmake status [--json]`, read from the scheduler. */
#ifndef STATUS_H
#define STATUS_H

/* argv[0] is "status". Returns the process exit code. */
int status_main(int argc, char **argv);

#endif
