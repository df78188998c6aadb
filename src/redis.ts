// `nestjs-planout/redis`: the shared Redis exposure cache (requires cache-manager, keyv and @keyv/redis).
export { createRedisExposureCache, RedisExposureCache, type RedisExposureCacheOptions } from './nest/caches/redis-exposure.cache.js';
// Definitions in a Redis hash, reloaded on pub/sub.
export { RedisDefinitionSource, type RedisDefinitionSourceOptions } from './nest/definitions/redis-definition.source.js';
