/* imp-auth.c: token issue/check/revoke over a secret file, the cache and the store. */
#include "core/imp-auth.h"
#include "imp-error.h"
#include "imp-time.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

struct _ImpAuth {
  /* Owned */
  guint8    secret[IMP_TOKEN_SECRET_LEN];
  gint64    ttl_s;
  /* Borrowed */
  ImpStore *store;
  ImpCache *cache;
};

static gboolean
write_all (int fd, const guint8 *buf, gsize len)
{
  while (len > 0)
    {
      ssize_t n = write (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      buf += n;
      len -= (gsize) n;
    }
  return TRUE;
}

static gboolean
read_all (int fd, guint8 *buf, gsize len)
{
  while (len > 0)
    {
      ssize_t n = read (fd, buf, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      buf += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* O_EXCL: two processes starting at once cannot both write a secret; the loser reads it. */
static int
create_secret (const char *path, guint8 secret[IMP_TOKEN_SECRET_LEN], GError **error)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    {
      int saved = errno;
      if (saved != EEXIST)
        g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "cannot create token secret %s: %s",
                     path, g_strerror (saved));
      return saved == EEXIST ? 0 : -1;
    }
  randombytes_buf (secret, IMP_TOKEN_SECRET_LEN);
  gboolean ok = write_all (fd, secret, IMP_TOKEN_SECRET_LEN) && fsync (fd) == 0;
  int saved = errno;
  close (fd);
  if (!ok)
    {
      g_unlink (path);
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "cannot write token secret %s: %s",
                   path, g_strerror (saved));
      return -1;
    }
  g_message ("created token secret %s", path);
  return 1;
}

static gboolean
read_secret (const char *path, guint8 secret[IMP_TOKEN_SECRET_LEN], GError **error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "cannot open token secret %s: %s",
                   path, g_strerror (saved));
      return FALSE;
    }
  struct stat st;
  gboolean ok = FALSE;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "token secret %s is not a regular file",
                 path);
  else if ((st.st_mode & 077) != 0)
    g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL,
                 "token secret %s is readable by others (mode %03o): chmod 600 it",
                 path, (unsigned) (st.st_mode & 0777));
  else if (st.st_size != IMP_TOKEN_SECRET_LEN)
    g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL,
                 "token secret %s has %" G_GINT64_FORMAT " bytes, not %d", path,
                 (gint64) st.st_size, IMP_TOKEN_SECRET_LEN);
  else if (!read_all (fd, secret, IMP_TOKEN_SECRET_LEN))
    g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "cannot read token secret %s", path);
  else
    ok = TRUE;
  close (fd);
  return ok;
}

ImpAuth *
imp_auth_new (const char *secret_file, gint64 token_ttl_s, ImpStore *store, ImpCache *cache,
              GError **error)
{
  g_return_val_if_fail (secret_file != NULL, NULL);
  g_return_val_if_fail (store != NULL && cache != NULL, NULL);

  if (sodium_init () < 0)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_INTERNAL, "libsodium failed to initialise");
      return NULL;
    }

  g_autofree ImpAuth *self = g_new0 (ImpAuth, 1);
  self->ttl_s = token_ttl_s;
  self->store = store;
  self->cache = cache;

  int created = create_secret (secret_file, self->secret, error);
  if (created < 0)
    return NULL;
  if (created == 0 && !read_secret (secret_file, self->secret, error))
    return NULL;
  return g_steal_pointer (&self);
}

void
imp_auth_free (ImpAuth *self)
{
  if (self == NULL)
    return;
  sodium_memzero (self->secret, sizeof self->secret);
  g_free (self);
}

char *
imp_auth_issue (ImpAuth *self, gint64 user_id, ImpTokenClaims *out_claims)
{
  return imp_token_issue (self->secret, user_id, imp_now_s (), self->ttl_s, out_claims);
}

gboolean
imp_auth_check (ImpAuth *self, const char *token, ImpTokenClaims *out_claims, GError **error)
{
  ImpTokenClaims claims = { 0 };

  if (token == NULL)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_NOT_AUTHENTICATED, "no token");
      return FALSE;
    }
  if (!imp_token_verify (self->secret, token, imp_now_s (), &claims, error))
    return FALSE;

  /* The cache only answers "revoked" with certainty; a miss may be a lost cache, so the
   * store (the truth) decides, and a revocation found there is copied back to the cache. */
  gboolean revoked = imp_cache_token_is_revoked (self->cache, claims.token_id) == 1;
  if (!revoked)
    {
      if (!imp_store_token_is_revoked (self->store, claims.token_id, &revoked, error))
        return FALSE;
      if (revoked)
        imp_cache_token_revoke (self->cache, claims.token_id, claims.expires_at);
    }
  if (revoked)
    {
      g_set_error (error, IMP_ERROR, IMP_ERROR_TOKEN_REVOKED, "token revoked");
      return FALSE;
    }
  if (out_claims != NULL)
    *out_claims = claims;
  return TRUE;
}

gboolean
imp_auth_revoke (ImpAuth *self, const ImpTokenClaims *claims, GError **error)
{
  if (!imp_store_token_revoke (self->store, claims->token_id, claims->user_id,
                               claims->expires_at, error))
    return FALSE;
  imp_cache_token_revoke (self->cache, claims->token_id, claims->expires_at);
  return TRUE;
}
