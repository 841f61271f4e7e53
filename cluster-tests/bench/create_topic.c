/* create_topic: CreateTopics through librdkafka's admin API, for run.sh (no Python needed).
 * Usage: create_topic BOOTSTRAP TOPIC PARTITIONS
 * Exits 0 when the topic was created, 1 on any error (message on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <librdkafka/rdkafka.h>

int main(int argc, char **argv) {
        char errstr[512];
        if (argc != 4) {
                fprintf(stderr, "usage: %s BOOTSTRAP TOPIC PARTITIONS\n", argv[0]);
                return 1;
        }
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "rd_kafka_new: %s\n", errstr);
                return 1;
        }
        rd_kafka_NewTopic_t *topic =
            rd_kafka_NewTopic_new(argv[2], atoi(argv[3]), 1, errstr, sizeof(errstr));
        if (!topic) {
                fprintf(stderr, "NewTopic: %s\n", errstr);
                return 1;
        }
        rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
        rd_kafka_AdminOptions_t *options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        rd_kafka_AdminOptions_set_request_timeout(options, 30000, errstr, sizeof(errstr));
        rd_kafka_CreateTopics(rk, &topic, 1, options, queue);

        int rc = 1;
        rd_kafka_event_t *ev = rd_kafka_queue_poll(queue, 60000);
        if (!ev) {
                fprintf(stderr, "CreateTopics: no answer within 60 s\n");
        } else if (rd_kafka_event_error(ev)) {
                fprintf(stderr, "CreateTopics: %s\n", rd_kafka_event_error_string(ev));
        } else {
                const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
                size_t n = 0;
                const rd_kafka_topic_result_t **results = rd_kafka_CreateTopics_result_topics(res, &n);
                if (n == 1 && rd_kafka_topic_result_error(results[0]) == RD_KAFKA_RESP_ERR_NO_ERROR) {
                        rc = 0;
                } else if (n == 1) {
                        fprintf(stderr, "CreateTopics %s: %s\n", argv[2],
                                rd_kafka_topic_result_error_string(results[0]));
                } else {
                        fprintf(stderr, "CreateTopics: %zu results\n", n);
                }
        }
        if (ev)
                rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(options);
        rd_kafka_NewTopic_destroy(topic);
        rd_kafka_queue_destroy(queue);
        rd_kafka_destroy(rk);
        return rc;
}
