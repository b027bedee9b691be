/* Lambda Managed Instances send up to AWS_LAMBDA_MAX_CONCURRENCY invocations to one execution
 * environment at once. moonrun serves them with that many workers: POSIX threads that share
 * nothing but the process, each with its own Lua state, handler, Runtime API connection and
 * buffers, each polling /next and posting its own results. */
#ifndef MOONRUN_WORKERS_H
#define MOONRUN_WORKERS_H

#define WORKERS_MAX 1024

/* How many workers AWS_LAMBDA_MAX_CONCURRENCY asks for: 1 when it is unset, and 1 (logged)
 * when it is not a whole number from 1 up; a number above WORKERS_MAX gives WORKERS_MAX
 * (logged). */
int workers_from_env(void);

/* Starts count workers (runtime instances, runtime_instance.h) against the Runtime API at
 * api_address and returns the process exit code once they have all ended: 0 after a stop
 * (runtime_stop), 1 after an init error (posted once; os.exit's status instead when the module
 * called it while loading) or when a worker lost the Runtime API (the others are stopped then);
 * otherwise the highest status a worker ended with. */
int workers_run(const char *api_address, int count);

#endif
