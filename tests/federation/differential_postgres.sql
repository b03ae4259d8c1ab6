-- Differential queries on PostgreSQL's own types (types_postgres.sql),
-- pushed ({s} = pg) and local ({s} = pg_local). Same rules as differential.sql.
SELECT * FROM {s}.types;
SELECT id FROM {s}.types WHERE c_uuid = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
SELECT id FROM {s}.types WHERE c_bytea IS NOT NULL;
SELECT id, c_bytea FROM {s}.types WHERE c_bytea = '\xdeadbeef'::bytea;
SELECT id FROM {s}.types WHERE c_interval > INTERVAL '1 day';
SELECT id FROM {s}.types WHERE c_jsonb IS NULL;
SELECT id, c_json FROM {s}.types WHERE c_json IS NOT NULL;
SELECT id, c_int_array FROM {s}.types WHERE c_int_array IS NOT NULL;
SELECT id FROM {s}.types WHERE c_enum = 'happy';
SELECT id FROM {s}.types WHERE c_real > 1.25 AND c_double < 3;
SELECT id FROM {s}.types WHERE c_numeric > 123456789012345678;
SELECT id FROM {s}.types WHERE c_numeric_any BETWEEN 3.14 AND 3.15;
SELECT id FROM {s}.types WHERE c_bigint < -9223372036854775807;
SELECT id FROM {s}.types WHERE c_time > TIME '12:00:00';
SELECT id FROM {s}.types WHERE c_timestamptz = TIMESTAMPTZ '2024-03-10 08:30:00+01';
SELECT id FROM {s}.types WHERE c_char = 'ab';
SELECT id FROM {s}.types WHERE c_bool IS NOT TRUE;
SELECT count(c_text), max(c_date), min(c_timestamp) FROM {s}.types;
