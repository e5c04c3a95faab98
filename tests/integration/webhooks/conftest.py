from tests.integration.webhooks.receiver import receiver, receiver2

__all__ = ["receiver", "receiver2"]
