"""Storage: the asyncpg pool, migrations under an advisory lock, the Redis connection, and the blob store."""

from libs.storage.blobs import BlobInfo, BlobStore, BlobStoreFailed, TooLarge
from libs.storage.postgres import PG_POOL, create_pool, discover, migrate, pg_pool_ctx
from libs.storage.redis import REDIS, connect_redis, redis_ctx

__all__ = ["PG_POOL", "REDIS", "BlobInfo", "BlobStore", "BlobStoreFailed", "TooLarge", "connect_redis", "create_pool",
           "discover", "migrate", "pg_pool_ctx", "redis_ctx"]
