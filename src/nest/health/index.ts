// `nestjs-planout/health`: the @nestjs/terminus indicator, apart from the root entry so
// that @nestjs/terminus stays an optional dependency.
export { PlanoutHealthIndicator, type PlanoutHealthData, type PlanoutHealthOptions } from '../planout.health.js';
