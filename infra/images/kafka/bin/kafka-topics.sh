#!/usr/bin/env bash
# Create, list, describe, alter, delete topics (org.apache.kafka.tools.TopicCommand).
exec "$(dirname "$0")/kafka-run-class.sh" org.apache.kafka.tools.TopicCommand "$@"
