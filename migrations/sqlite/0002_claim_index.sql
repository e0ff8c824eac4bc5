-- Claims read the due jobs in (next_attempt_at, delivery_seq) order. With delivery_seq
-- in the index the first rows of the index are the answer: a claim of 8 reads 8 index
-- entries, instead of every job due in the same millisecond and a sort.
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (status, next_attempt_at, delivery_seq);

-- The unique key (delivery_id, rule_id, generation) already serves lookups by
-- delivery; a second index on delivery_id only cost every insert and status change.
DROP INDEX jobs_delivery;
