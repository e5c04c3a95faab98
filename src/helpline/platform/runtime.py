"""The Platform: every outside-world seam, built once from the settings at start-up."""

from __future__ import annotations

from dataclasses import dataclass, field

from helpline.platform.cache import Cache, MemoryCache, RedisCache
from helpline.platform.db import Database
from helpline.platform.mail import ConsoleMail, MailTransport, SmtpMail
from helpline.platform.pubsub import MemoryPubSub, PubSub, RedisPubSub
from helpline.platform.storage import LocalStorage, Storage
from helpline.settings import Settings


@dataclass
class Platform:
    settings: Settings
    db: Database
    cache: Cache
    pubsub: PubSub
    storage: Storage
    mail: MailTransport
    extras: dict[str, object] = field(default_factory=dict)

    async def close(self) -> None:
        await self.cache.close()
        await self.pubsub.close()
        await self.db.dispose()


def build_platform(settings: Settings) -> Platform:
    settings.ensure_secret_key()
    db = Database(settings.effective_database_url, pool_size=settings.db_pool_size)
    cache: Cache
    pubsub: PubSub
    if settings.redis_url:
        cache = RedisCache(settings.redis_url, prefix=settings.redis_prefix)
        pubsub = RedisPubSub(settings.redis_url, prefix=settings.redis_prefix)
    else:
        cache, pubsub = MemoryCache(), MemoryPubSub()
    mail: MailTransport
    if settings.mail_transport == "smtp":
        mail = SmtpMail(
            settings.smtp_host,
            settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            ca_file=settings.email_ca_file,
        )
    else:
        mail = ConsoleMail()
    return Platform(
        settings=settings,
        db=db,
        cache=cache,
        pubsub=pubsub,
        storage=LocalStorage(settings.effective_files_dir),
        mail=mail,
    )
