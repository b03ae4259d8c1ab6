-- Every PostgreSQL type docs/types.md lists, one row of values and one of NULLs.
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE types (
  id integer PRIMARY KEY,
  c_smallint smallint, c_integer integer, c_bigint bigint,
  c_numeric numeric(38,10), c_numeric_any numeric, c_real real, c_double double precision,
  c_bool boolean, c_text text, c_varchar varchar(20), c_char char(5),
  c_bytea bytea, c_date date, c_time time, c_timestamp timestamp, c_timestamptz timestamptz,
  c_interval interval, c_uuid uuid, c_json json, c_jsonb jsonb,
  c_int_array integer[], c_text_array text[], c_enum mood
);
-- No Arrow mapping: reading this table fails, naming the column.
CREATE TABLE bits (id integer, c_bit bit(4));
INSERT INTO bits VALUES (1, B'1010');
INSERT INTO types VALUES
 (1, -32768, 2147483647, -9223372036854775808, 123456789012345678.0123456789, 3.14159265358979323846, 1.5, 2.718281828459045,
  true, 'text ''q'' \ é', 'varchar', 'ab', '\xdeadbeef', '2024-02-29', '23:59:59.123456', '2024-03-10 02:30:00.5', '2024-03-10 07:30:00+00',
  '1 year 2 months 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '{"b": {"c": null}}',
  '{1,2,3}', '{"x","y z"}', 'happy'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
-- An array with a NULL element cannot be read yet (docs/types.md).
CREATE TABLE null_elements (id integer, c_int_array integer[]);
INSERT INTO null_elements VALUES (1, '{1,NULL,3}');
-- 38 significant digits: more than the wire encoder carries (docs/types.md).
CREATE TABLE wide_numeric (id integer, c_numeric numeric(38,10));
INSERT INTO wide_numeric VALUES (1, 1234567890123456789012345678.0123456789);
