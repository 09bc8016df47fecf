/* fuzz-replay.c: runs the fuzz entry over the checked-in corpus and deterministic mutations of
 * it, so the hostile inputs are exercised by every build (gcc included), not only by libFuzzer. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MUTATIONS_PER_FILE 300

static GPtrArray *
load_corpus (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (FUZZ_CORPUS_DIR, 0, &error);
  GPtrArray *files = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  const char *name;

  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (FUZZ_CORPUS_DIR, name, NULL);
      char *contents = NULL;
      gsize len = 0;

      g_file_get_contents (path, &contents, &len, &error);
      g_assert_no_error (error);
      g_ptr_array_add (files, g_bytes_new_take (contents, len));
    }
  return files;
}

static void
test_corpus (void)
{
  g_autoptr(GPtrArray) files = load_corpus ();

  g_assert_cmpuint (files->len, >=, 10);
  for (guint i = 0; i < files->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (files->pdata[i], &len);

      LLVMFuzzerTestOneInput (data, len);
      /* The same bytes under other read sizes (the first byte picks the chunk size). */
      for (guint chunk = 0; chunk < 8 && len > 1; chunk++)
        {
          g_autofree guint8 *copy = g_memdup2 (data, len);
          copy[0] = (guint8) chunk;
          LLVMFuzzerTestOneInput (copy, len);
        }
    }
}

static void
test_mutations (void)
{
  g_autoptr(GPtrArray) files = load_corpus ();
  g_autoptr(GRand) rand = g_rand_new_with_seed (20240101);

  for (guint i = 0; i < files->len; i++)
    {
      gsize len;
      const guint8 *data = g_bytes_get_data (files->pdata[i], &len);

      for (int m = 0; m < MUTATIONS_PER_FILE && len > 0; m++)
        {
          g_autofree guint8 *copy = g_memdup2 (data, len);
          gsize copy_len = len;
          int flips = g_rand_int_range (rand, 1, 5);

          for (int f = 0; f < flips; f++)
            copy[g_rand_int_range (rand, 0, (gint32) len)] = (guint8) g_rand_int (rand);
          if (m % 5 == 0)
            copy_len = (gsize) g_rand_int_range (rand, 0, (gint32) len + 1); /* truncate */
          LLVMFuzzerTestOneInput (copy, copy_len);
        }
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fuzz/frame/corpus", test_corpus);
  g_test_add_func ("/fuzz/frame/mutations", test_mutations);
  return g_test_run ();
}
