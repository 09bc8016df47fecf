/* Checks that the installed librdkafka (Debian 12: 2.0.2) gets along with the Kafka broker that
 * scripts/services/start.sh runs, using the protocol features the bus relies on: admin CreateTopics and
 * DescribeConfigs, a transactional (so idempotent) producer, a consumer group with manual commits and
 * read_committed, committed(), watermarks and list_groups.
 *
 * Usage: rdkafka-probe [bootstrap] [topic]; prints one line per check, exits 0 when all pass.
 * Run by tests/services/smoke.sh; not part of the meson build. */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N_MESSAGES 10
#define TIMEOUT_MS 30000

static int failures;

static void
check (const char *what, rd_kafka_resp_err_t err)
{
  printf ("%-28s %s\n", what, rd_kafka_err2str (err));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
    failures++;
}

static void
check_error (const char *what, rd_kafka_error_t *error)
{
  check (what, error != NULL ? rd_kafka_error_code (error) : RD_KAFKA_RESP_ERR_NO_ERROR);
  if (error != NULL)
    {
      printf ("  %s\n", rd_kafka_error_string (error));
      rd_kafka_error_destroy (error);
    }
}

static rd_kafka_conf_t *
new_conf (const char *bootstrap)
{
  rd_kafka_conf_t *conf = rd_kafka_conf_new ();
  char errstr[256];

  rd_kafka_conf_set (conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr);
  return conf;
}

static void
probe_admin (const char *bootstrap, const char *topic)
{
  char errstr[256];
  rd_kafka_t *rk = rd_kafka_new (RD_KAFKA_PRODUCER, new_conf (bootstrap), errstr, sizeof errstr);
  rd_kafka_queue_t *queue = rd_kafka_queue_new (rk);
  rd_kafka_NewTopic_t *new_topic = rd_kafka_NewTopic_new (topic, 4, 1, errstr, sizeof errstr);
  rd_kafka_ConfigResource_t *resource;
  rd_kafka_event_t *event;
  rd_kafka_resp_err_t err;

  rd_kafka_CreateTopics (rk, &new_topic, 1, NULL, queue);
  event = rd_kafka_queue_poll (queue, TIMEOUT_MS);
  err = event != NULL ? rd_kafka_event_error (event) : RD_KAFKA_RESP_ERR__TIMED_OUT;
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
    {
      size_t n = 0;
      const rd_kafka_topic_result_t **results =
        rd_kafka_CreateTopics_result_topics (rd_kafka_event_CreateTopics_result (event), &n);

      err = n == 1 ? rd_kafka_topic_result_error (results[0]) : RD_KAFKA_RESP_ERR__FAIL;
      if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        err = RD_KAFKA_RESP_ERR_NO_ERROR;
    }
  check ("admin CreateTopics", err);
  if (event != NULL)
    rd_kafka_event_destroy (event);
  rd_kafka_NewTopic_destroy (new_topic);

  resource = rd_kafka_ConfigResource_new (RD_KAFKA_RESOURCE_TOPIC, topic);
  rd_kafka_DescribeConfigs (rk, &resource, 1, NULL, queue);
  event = rd_kafka_queue_poll (queue, TIMEOUT_MS);
  check ("admin DescribeConfigs", event != NULL ? rd_kafka_event_error (event) : RD_KAFKA_RESP_ERR__TIMED_OUT);
  if (event != NULL)
    rd_kafka_event_destroy (event);
  rd_kafka_ConfigResource_destroy (resource);

  rd_kafka_queue_destroy (queue);
  rd_kafka_destroy (rk);
}

static void
probe_transaction (const char *bootstrap, const char *topic)
{
  char errstr[256], txid[64];
  rd_kafka_conf_t *conf = new_conf (bootstrap);
  rd_kafka_t *rk;

  snprintf (txid, sizeof txid, "probe-tx-%d", (int) getpid ());
  rd_kafka_conf_set (conf, "transactional.id", txid, errstr, sizeof errstr);
  rk = rd_kafka_new (RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);

  check_error ("init_transactions", rd_kafka_init_transactions (rk, TIMEOUT_MS));
  check_error ("begin_transaction", rd_kafka_begin_transaction (rk));
  for (int i = 0; i < N_MESSAGES; i++)
    {
      char key[16];

      snprintf (key, sizeof key, "k%d", i % 3);
      rd_kafka_producev (rk, RD_KAFKA_V_TOPIC (topic), RD_KAFKA_V_KEY (key, strlen (key)),
                         RD_KAFKA_V_VALUE ("v", 1), RD_KAFKA_V_END);
    }
  check_error ("commit_transaction", rd_kafka_commit_transaction (rk, TIMEOUT_MS));
  rd_kafka_destroy (rk);
}

static void
probe_group (const char *bootstrap, const char *topic)
{
  char errstr[256], group[64];
  rd_kafka_conf_t *conf = new_conf (bootstrap);
  rd_kafka_topic_partition_list_t *list;
  const struct rd_kafka_group_list *groups = NULL;
  int64_t low, high;
  int got = 0;
  rd_kafka_t *rk;

  snprintf (group, sizeof group, "probe-g-%d", (int) getpid ());
  rd_kafka_conf_set (conf, "group.id", group, errstr, sizeof errstr);
  rd_kafka_conf_set (conf, "enable.auto.commit", "false", errstr, sizeof errstr);
  rd_kafka_conf_set (conf, "auto.offset.reset", "earliest", errstr, sizeof errstr);
  rd_kafka_conf_set (conf, "isolation.level", "read_committed", errstr, sizeof errstr);
  rk = rd_kafka_new (RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  rd_kafka_poll_set_consumer (rk);

  list = rd_kafka_topic_partition_list_new (1);
  rd_kafka_topic_partition_list_add (list, topic, RD_KAFKA_PARTITION_UA);
  check ("subscribe", rd_kafka_subscribe (rk, list));
  rd_kafka_topic_partition_list_destroy (list);

  /* Bounded: at most 150 polls of 200 ms. */
  for (int i = 0; i < 150 && got < N_MESSAGES; i++)
    {
      rd_kafka_message_t *message = rd_kafka_consumer_poll (rk, 200);

      if (message == NULL)
        continue;
      if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR)
        {
          got++;
          rd_kafka_commit_message (rk, message, 0);
        }
      rd_kafka_message_destroy (message);
    }
  printf ("%-28s %d/%d\n", "consumed (read_committed)", got, N_MESSAGES);
  if (got != N_MESSAGES)
    failures++;

  list = NULL;
  rd_kafka_assignment (rk, &list);
  check ("committed()", rd_kafka_committed (rk, list, TIMEOUT_MS));
  rd_kafka_topic_partition_list_destroy (list);
  check ("query_watermark_offsets",
         rd_kafka_query_watermark_offsets (rk, topic, 0, &low, &high, TIMEOUT_MS));
  check ("list_groups", rd_kafka_list_groups (rk, group, &groups, TIMEOUT_MS));
  if (groups != NULL)
    {
      if (groups->group_cnt == 1)
        printf ("  group state %s, %d member(s)\n", groups->groups[0].state, groups->groups[0].member_cnt);
      rd_kafka_group_list_destroy (groups);
    }
  rd_kafka_consumer_close (rk);
  rd_kafka_destroy (rk);
}

int
main (int argc, char **argv)
{
  const char *bootstrap = argc > 1 ? argv[1] : "127.0.0.1:39092";
  const char *topic = argc > 2 ? argv[2] : "rdkafka-probe";

  printf ("librdkafka %s against %s\n", rd_kafka_version_str (), bootstrap);
  probe_admin (bootstrap, topic);
  probe_transaction (bootstrap, topic);
  probe_group (bootstrap, topic);
  printf ("%s\n", failures != 0 ? "probe FAILED" : "probe OK");
  return failures != 0 ? 1 : 0;
}
