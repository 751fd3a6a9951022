"""The first answer to a request sent with an Idempotency-Key, kept for a retry of the same request."""

from datetime import timedelta

from django.db import models

# How long a key's answer is replayed; an older record is ignored (a new request with that key runs) and purged.
LIFETIME = timedelta(hours=24)


class IdempotencyRecord(models.Model):
    # Whose key it is: "api_key:<pk>" (billing), "account:<pk>" or "ip:<address>" (licensing).
    identity = models.CharField(max_length=100)
    key = models.CharField(max_length=255)
    # SHA-256 of the method, the path, the body as parsed (canonical JSON) and the headers the answer depends on.
    request_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(db_index=True)
    # Null while the first request runs; a committed record always has its answer.
    status = models.PositiveSmallIntegerField(null=True)
    headers = models.JSONField(default=dict)
    body = models.BinaryField(default=b"")

    class Meta:
        verbose_name = "idempotency record"
        constraints = [models.UniqueConstraint(fields=["identity", "key"], name="idempotency_identity_key_unique")]

    def __str__(self) -> str:
        return f"{self.identity} {self.key}"
