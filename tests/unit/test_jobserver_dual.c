/*
 * test_jobserver_dual.c: the dual pool of lib/jobserver.c (a FIFO whose
 * ends are also passed as pipe descriptors, for make 4.3) is one pool
 * whichever way a client reaches it, and dm_pool_resync() puts back
 * tokens that a killed client took.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/buf.h"
#include "../../lib/err.h"
#include "../../lib/jobserver.h"
#include "tap.h"

TEST(jobserver_dual_is_one_pool)
{
	struct dm_pool *p;
	struct dm_pool_client *byfd, *bypath;
	struct dm_buf mf, fifo_only;
	char path[512], want[128];
	int rfd, wfd;

	snprintf(path, sizeof(path), "%s/jobserver", tap_tmpdir());
	ASSERT_OK(dm_pool_create(DM_POOL_DUAL, path, &p));
	ASSERT_OK(dm_pool_set_target(p, 2));
	dm_pool_child_fds(p, &rfd, &wfd);
	ASSERT_TRUE(rfd >= 0 && wfd >= 0);
	ASSERT_EQ_STR(dm_pool_fifo_path(p), path);
	ASSERT_EQ_INT(dm_pool_available(p), 2);

	dm_buf_init(&mf);
	ASSERT_OK(dm_pool_merge_makeflags(p, "-k -j8", &mf, NULL));
	snprintf(want, sizeof(want),
		 " --jobserver-fds=%d,%d --jobserver-auth=%d,%d", rfd, wfd,
		 rfd, wfd);
	/* The FIFO for make 4.4 and ninja 1.13, the descriptors last. */
	ASSERT_TRUE(strstr(dm_buf_cstr(&mf), "--jobserver-auth=fifo:") !=
		    NULL);
	ASSERT_TRUE(mf.len > strlen(want));
	ASSERT_EQ_STR(dm_buf_cstr(&mf) + mf.len - strlen(want), want);
	ASSERT_TRUE(strstr(dm_buf_cstr(&mf), "-j8") == NULL);

	/* A make 4.3 client (the descriptors) takes both tokens... */
	ASSERT_OK(dm_pool_client_open(dm_buf_cstr(&mf), &byfd));
	ASSERT_OK(dm_pool_client_acquire(byfd, 1000));
	ASSERT_OK(dm_pool_client_acquire(byfd, 1000));
	/* ...and a FIFO client finds none left: it is the same pool. */
	dm_buf_init(&fifo_only);
	dm_buf_appendf(&fifo_only, " -j --jobserver-auth=fifo:%s", path);
	ASSERT_OK(dm_pool_client_open(dm_buf_cstr(&fifo_only), &bypath));
	ASSERT_EQ_INT(dm_pool_client_acquire(bypath, 100), DM_ETIMEOUT);
	ASSERT_OK(dm_pool_client_release(byfd));
	ASSERT_OK(dm_pool_client_acquire(bypath, 1000));
	dm_pool_client_close(bypath);
	dm_pool_client_close(byfd);
	ASSERT_EQ_INT(dm_pool_available(p), 2);
	dm_buf_free(&fifo_only);
	dm_buf_free(&mf);
	dm_pool_destroy(p);
	ASSERT_TRUE(access(path, F_OK) != 0);
}

TEST(jobserver_resync_puts_back_lost_tokens)
{
	struct dm_pool *p;
	char path[512], b[2];
	int fd, delta = 0;

	snprintf(path, sizeof(path), "%s/jobserver", tap_tmpdir());
	ASSERT_OK(dm_pool_create(DM_POOL_FIFO, path, &p));
	ASSERT_OK(dm_pool_set_target(p, 3));
	/* A client takes two tokens and dies without giving them back. */
	fd = open(path, O_RDONLY | O_NONBLOCK);
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ_INT(read(fd, b, 2), 2);
	close(fd);
	ASSERT_EQ_INT(dm_pool_available(p), 1);
	ASSERT_OK(dm_pool_resync(p, &delta));
	ASSERT_EQ_INT(delta, 2);
	ASSERT_EQ_INT(dm_pool_available(p), 3);
	/* A client that wrote back more than it took: read back. */
	fd = open(path, O_WRONLY | O_NONBLOCK);
	ASSERT_EQ_INT(write(fd, "++", 2), 2);
	close(fd);
	ASSERT_OK(dm_pool_resync(p, &delta));
	ASSERT_EQ_INT(delta, -2);
	ASSERT_EQ_INT(dm_pool_available(p), 3);
	ASSERT_EQ_INT(dm_pool_target(p), 3);
	dm_pool_destroy(p);
}
