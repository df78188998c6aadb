// `nestjs-planout/opentelemetry`: exposures as `feature_flag.evaluation` span events (requires `@opentelemetry/api`).
export { FEATURE_FLAG_EVENT, exposureEventAttributes, PlanoutOpenTelemetry } from './nest/observability/opentelemetry.js';
