/*
 * test_proctree.c: the tokens a build's makes hold, read from /proc
 * (jobserver/proctree.h), on a real tree of processes: a process named
 * make with children below the root counts, one outside it does not.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../jobserver/proctree.h"
#include "tap.h"

/* A child named make with `kids` sleeping children of its own, or a
 * process named make below a non-make parent when `nested`.  Returns
 * its pid; writes a byte to ready when all are up. */
static pid_t
make_tree(int kids, int nested, int ready)
{
	pid_t pid = fork();

	if (pid != 0) {
		setpgid(pid, pid);
		return pid;
	}
	setpgid(0, 0); /* one kill(-pid) ends the whole tree */
	if (nested && fork() != 0) {
		/* the intermediate, a shell say: waits */
		pause();
		_exit(0);
	}
	prctl(PR_SET_NAME, "make");
	for (int i = 0; i < kids; i++)
		if (fork() == 0) {
			prctl(PR_SET_NAME, "cc1");
			pause();
			_exit(0);
		}
	(void)!write(ready, "r", 1);
	pause();
	_exit(0);
}

static void
wait_ready(int fd, int n)
{
	char c;

	while (n-- > 0)
		(void)!read(fd, &c, 1);
	usleep(100000); /* the children's names are set before the byte */
}

TEST(proctree_counts_the_makes_below_root)
{
	int p[2];
	unsigned held = 0, held2 = 0;
	uint64_t sig, sig2;
	pid_t a, b;

	ASSERT_OK(pipe(p));
	/* Below us: make with 3 children (2 tokens), and a make with 2
	 * children under an intermediate process (1 token). */
	a = make_tree(3, 0, p[1]);
	b = make_tree(2, 1, p[1]);
	wait_ready(p[0], 2);
	ASSERT_OK(proctree_tokens_held(getpid(), &held, &sig));
	ASSERT_EQ_INT(held, 3);
	/* A make outside root's tree counts for nothing. */
	ASSERT_OK(proctree_tokens_held(a, &held2, &sig2));
	ASSERT_EQ_INT(held2, 2);
	ASSERT_OK(proctree_tokens_held(getppid(), &held2, &sig2));
	ASSERT_GE_INT(held2, 3);
	/* The same state reads the same signature. */
	ASSERT_OK(proctree_tokens_held(getpid(), &held2, &sig2));
	ASSERT_EQ_INT(held2, held);
	ASSERT_TRUE(sig2 == sig);
	kill(-a, SIGKILL);
	kill(-b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	close(p[0]);
	close(p[1]);
}
