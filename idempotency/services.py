"""Claiming an Idempotency-Key, storing its answer, and purging expired ones."""

from django.utils import timezone

from devices import sql
from idempotency.models import LIFETIME, IdempotencyRecord


def record_claim(*, identity: str, key: str, request_hash: str) -> tuple[IdempotencyRecord, bool]:
    """The record of (identity, key), and whether this request owns it and must run.

    Call inside the request's transaction. Inserts the record with ON CONFLICT
    DO NOTHING (devices.sql.insert_unless_taken, one statement): while another
    transaction holds an uncommitted record of the same key, PostgreSQL makes
    the insert wait on the unique index until that transaction ends. Committed,
    the other's record (with its answer: a committed record always has one) is
    read and replayed; rolled back, this insert goes through and this request
    runs.
    An expired record is taken over by a conditional UPDATE, which waits the
    same way on a concurrent taker's row lock and then matches nothing.
    """
    now = timezone.now()
    record = IdempotencyRecord(identity=identity, key=key, request_hash=request_hash, created_at=now)
    record.pk = sql.insert_unless_taken(record, unique=("identity", "key"))
    if record.pk is not None:
        return record, True
    while True:
        record = IdempotencyRecord.objects.get(identity=identity, key=key)
        if record.created_at >= now - LIFETIME:
            return record, False
        taken = IdempotencyRecord.objects.filter(pk=record.pk, created_at__lt=now - LIFETIME).update(
            request_hash=request_hash, created_at=now, status=None, headers={}, body=b""
        )
        if taken:
            record.request_hash, record.created_at, record.status, record.headers, record.body = (
                request_hash,
                now,
                None,
                {},
                b"",
            )
            return record, True
        # A concurrent request took it over and committed: read its answer.


def record_store(*, record: IdempotencyRecord, status: int, headers: dict[str, str], body: bytes) -> None:
    """Keep the answer of the request that owns `record` (committed with the request's own changes)."""
    record.status, record.headers, record.body = status, headers, body
    sql.update_fields_by_pk(record, ("status", "headers", "body"))


def records_purge(*, batch_size: int = 10_000) -> int:
    """Delete the records older than their lifetime, in batches; return how many."""
    cutoff = timezone.now() - LIFETIME
    deleted = 0
    while True:
        pks = list(IdempotencyRecord.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch_size])
        if not pks:
            return deleted
        deleted += IdempotencyRecord.objects.filter(pk__in=pks, created_at__lt=cutoff).delete()[0]
