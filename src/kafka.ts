// `nestjs-planout/kafka`: the Kafka log sink (requires the `kafkajs` package).
export {
  createKafkaLogSink,
  kafkaMessageOf,
  KafkaSink,
  type KafkaLogSinkOptions,
  type KafkaSinkOptions,
} from './nest/sinks/kafka.sink.js';
