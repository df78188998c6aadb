// `nestjs-planout/prometheus`: Prometheus metrics of the module (requires the `prom-client` package).
export { PLANOUT_PROMETHEUS_REGISTRY, PlanoutPrometheus } from './nest/observability/prometheus.js';
