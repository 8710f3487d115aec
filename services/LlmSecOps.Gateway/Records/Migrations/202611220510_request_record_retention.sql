-- Retention (Records/RecordRetentionService.cs) deletes request records by age, oldest first: an index on ts alone.
CREATE INDEX request_records_ts ON request_records (ts);

-- Tenant erasure tombstones (DELETE /admin/tenants/{id}/records). A record of an erased tenant can still be in a
-- replica's in-memory queue or on its on-disk journal (Postgres was down) when the erasure runs; the record sink drops
-- every row whose ts is not after its tenant's last erasure, so such a record never lands afterwards.
CREATE TABLE request_record_erasures (
    tenant_id  text PRIMARY KEY,
    erased_at  timestamptz NOT NULL
);
